#!/bin/sh
# PostgreSQL entrypoint for Debian's postgresql package: initialise the cluster on first
# boot (superuser password from the db_password secret, database "notes"), then run the
# server in the foreground as the postgres user.
set -eu

PGDATA=/var/lib/postgresql/data
PGBIN=/usr/lib/postgresql/15/bin
export PGDATA

# The volume arrives root-owned; the socket directory is not in the image.
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    echo "entrypoint.postgres.sh: initialising a new cluster in $PGDATA"
    runuser -u postgres -- "$PGBIN/initdb" \
        --pgdata="$PGDATA" \
        --username=postgres \
        --pwfile=/run/secrets/db_password \
        --encoding=UTF8 \
        --locale=C.UTF-8 \
        --auth-local=trust \
        --auth-host=scram-sha-256
    {
        echo "listen_addresses = '*'"
        echo "password_encryption = 'scram-sha-256'"
    } >> "$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE notes;" \
        | runuser -u postgres -- "$PGBIN/postgres" --single -D "$PGDATA" postgres > /dev/null
    echo "entrypoint.postgres.sh: cluster initialised"
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups "$PGBIN/postgres" -D "$PGDATA"
