#!/bin/sh
# One-shot job (compose service `control-plane-db`, image postgres): the control
# plane's own role and database on the PostgreSQL server Temporal uses, apart from
# Temporal's databases. Safe to run again: creates what is missing and sets the
# role's password to T2T_DB_PASSWORD. The worker creates the tables at start.
# psql reads PGHOST, PGPORT, PGUSER, PGPASSWORD (an account that may create roles
# and databases).
set -eu
: "${PGHOST:?PGHOST must name the PostgreSQL server}"
db="${T2T_DB_NAME:-t2t}"
role="${T2T_DB_USER:-t2t}"
: "${T2T_DB_PASSWORD:?T2T_DB_PASSWORD must be set}"
attempts="${T2T_SETUP_ATTEMPTS:-60}"

i=1
until pg_isready --quiet --dbname postgres; do
  if [ "$i" -ge "$attempts" ]; then
    echo "PostgreSQL at $PGHOST did not answer" >&2
    exit 1
  fi
  i=$((i + 1))
  sleep 2
done

psql --no-psqlrc --quiet --set ON_ERROR_STOP=1 --dbname postgres \
  --set db="$db" --set role="$role" --set password="$T2T_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'role', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT ALL ON DATABASE %I TO %I', :'db', :'role') \gexec
SQL
echo "control-plane database $db (owner $role) ready"
