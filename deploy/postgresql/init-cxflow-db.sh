#!/usr/bin/env bash
# Creates cxflow's own role and database beside Temporal's on a fresh PostgreSQL
# volume. The postgres image runs this from /docker-entrypoint-initdb.d on the
# first start only (an empty data directory); it is idempotent all the same.
#
# Names and password come from the postgresql service's environment
# (CXFLOW_DB_NAME, CXFLOW_DB_USER, CXFLOW_DB_PASSWORD); psql quotes them, so any
# value is safe. Changing them later means changing the role by hand, as with
# POSTGRES_PASSWORD.
set -Eeuo pipefail

: "${CXFLOW_DB_NAME:?CXFLOW_DB_NAME must be set}"
: "${CXFLOW_DB_USER:?CXFLOW_DB_USER must be set}"
: "${CXFLOW_DB_PASSWORD:?CXFLOW_DB_PASSWORD must be set}"

psql --no-psqlrc -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
    -v cxflow_db="$CXFLOW_DB_NAME" \
    -v cxflow_user="$CXFLOW_DB_USER" \
    -v cxflow_password="$CXFLOW_DB_PASSWORD" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'cxflow_user', :'cxflow_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'cxflow_user')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'cxflow_db', :'cxflow_user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'cxflow_db')
\gexec
-- Only cxflow's role (and superusers) may connect to cxflow's database.
REVOKE ALL ON DATABASE :"cxflow_db" FROM PUBLIC;
GRANT ALL ON DATABASE :"cxflow_db" TO :"cxflow_user";
EOSQL

echo "cxflow database '$CXFLOW_DB_NAME' owned by role '$CXFLOW_DB_USER' is ready"
