#!/bin/sh
# The official postgres image's start-up, in short: initialise an empty PGDATA as the postgres user with
# POSTGRES_USER/POSTGRES_PASSWORD (scram-sha-256 for connections from other hosts), create POSTGRES_DB, run the
# scripts in /docker-entrypoint-initdb.d once, then run the server listening on every address.
set -e
if [ "$1" = "postgres" ] && [ "$(id -u)" = "0" ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi
if [ "$1" = "postgres" ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user="${POSTGRES_USER:-postgres}"
    db="${POSTGRES_DB:-$user}"
    pwfile=$(mktemp)
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    printf "host all all all scram-sha-256\n" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
    if [ "$db" != "postgres" ]; then
        psql -h /var/run/postgresql -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
            -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sql) echo "initdb.d: running $f"; psql -h /var/run/postgresql -U "$user" -d "$db" -v ON_ERROR_STOP=1 -q -f "$f" ;;
            *.sh)  echo "initdb.d: sourcing $f"; . "$f" ;;
            *) ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "PostgreSQL init process complete; ready for start up."
fi
if [ "$1" = "postgres" ]; then
    shift
    exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
fi
exec "$@"
