#!/bin/sh
# One-shot job (compose service `temporal-schema`, image temporalio/admin-tools),
# and the same on a plain machine (`npm run test:cluster` runs it with the
# project's own temporal-sql-tool): creates Temporal's persistence and visibility
# databases on PostgreSQL and brings both schemas up to the version the schema
# files describe. Safe to run again: an existing database is kept, and
# update-schema applies only what is missing.
# temporal-sql-tool (on PATH) reads SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER,
# SQL_PASSWORD; the schema files are the image's /etc/temporal/schema, or
# TEMPORAL_SCHEMA_DIR. Needs nothing but a POSIX sh and the tool.
set -eu
: "${SQL_HOST:?SQL_HOST must name the PostgreSQL server}"
: "${SQL_USER:?SQL_USER must be set}"
export SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
export SQL_PORT="${SQL_PORT:-5432}"
schemas="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}/postgresql/v12"
attempts="${T2T_SETUP_ATTEMPTS:-60}"

# create <database>: creates it, or finds it there (the tool takes an existing
# database as success; older tools said "already exists"). Until PostgreSQL answers (a
# container starting beside this job) it tries again: the schema tool is the
# probe, so no `nc` is needed. Any other error (a wrong password) stops the job.
create() {
  i=1
  until out=$(temporal-sql-tool --db "$1" create 2>&1); do
    case "$out" in
      *"already exists"*) break ;;
      *"connection refused"* | *"no such host"* | *"starting up"* | *"i/o timeout"* | *"connection reset"*) ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
    if [ "$i" -ge "$attempts" ]; then
      echo "PostgreSQL at $SQL_HOST:$SQL_PORT did not answer:" >&2
      echo "$out" >&2
      exit 1
    fi
    i=$((i + 1))
    sleep 2
  done
  echo "database $1 ready"
}

# setup <database> <schema folder>
setup() {
  create "$1"
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$schemas/$2/versioned"
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
echo "Temporal schemas ready"
