#!/bin/sh
# First start: a cluster whose superuser POSTGRES_USER (default postgres) has POSTGRES_PASSWORD
# and owns the database POSTGRES_DB (default: the user's name), reachable over the network with
# that password (scram-sha-256), as the official image sets itself up.
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
  initdb --pgdata="$PGDATA" --username="$user" --auth-local=trust --auth-host=scram-sha-256 \
    --pwfile="$pwfile" >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    echo "CREATE DATABASE \"$database\" OWNER \"$user\"" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec postgres -c listen_addresses='*' -c unix_socket_directories=/tmp
