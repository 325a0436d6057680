#!/bin/sh
# Creates Temporal's two databases and brings their schemas to the version this
# admin-tools image ships. Safe to run on every `docker compose up`:
# `create` ignores a database that exists, `setup-schema -v 0.0` leaves a newer
# schema alone, and `update-schema` applies only the missing versions (which is
# also how a TEMPORAL_VERSION upgrade migrates the schema).
set -eu

: "${POSTGRES_SEEDS:=postgresql}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_PWD:?POSTGRES_PWD must be set}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

# temporal-sql-tool reads the password from SQL_PASSWORD (kept off the command line).
SQL_PASSWORD="$POSTGRES_PWD"
export SQL_PASSWORD

sql_tool() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" \
        -u "$POSTGRES_USER" "$@"
}

echo "Waiting for PostgreSQL at $POSTGRES_SEEDS:$DB_PORT..."
tries=0
until nc -z -w 5 "$POSTGRES_SEEDS" "$DB_PORT"; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT is not reachable" >&2
        exit 1
    fi
    sleep 2
done

setup_database() {
    database=$1
    versioned_dir=$2
    echo "Setting up database '$database' from $versioned_dir"
    sql_tool --db "$database" create
    sql_tool --db "$database" setup-schema -v 0.0
    sql_tool --db "$database" update-schema -d "$versioned_dir"
}

setup_database "$DBNAME" "$SCHEMA_DIR/temporal/versioned"
setup_database "$VISIBILITY_DBNAME" "$SCHEMA_DIR/visibility/versioned"

echo "Temporal schemas in '$DBNAME' and '$VISIBILITY_DBNAME' are up to date"
