#!/bin/sh
# Registers the namespace cxflow runs in (CXFLOW_NAMESPACE), once: an existing
# namespace is left as it is. Custom search attributes would be added here too
# (`temporal operator search-attribute create`); cxflow needs none yet.
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${NAMESPACE:=default}"
: "${NAMESPACE_RETENTION:=72h}"

host=${TEMPORAL_ADDRESS%:*}
port=${TEMPORAL_ADDRESS##*:}

# The server binds IPv4 (BIND_ON_IP=0.0.0.0); use the IPv4 address so the CLI
# never tries an IPv6 one first.
ip=$(getent ahosts "$host" | awk '$1 ~ /^[0-9.]+$/ && /STREAM/ { print $1; exit }')
address="${ip:-$host}:$port"

echo "Waiting for the Temporal frontend at $TEMPORAL_ADDRESS ($address)..."
tries=0
until temporal operator cluster health --address "$address" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        echo "Temporal at $TEMPORAL_ADDRESS did not become healthy" >&2
        exit 1
    fi
    sleep 2
done

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" >/dev/null 2>&1; then
    echo "Namespace '$NAMESPACE' already exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" \
        --retention "$NAMESPACE_RETENTION" --address "$address"
    echo "Namespace '$NAMESPACE' created (retention $NAMESPACE_RETENTION)"
fi
