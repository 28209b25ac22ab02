#!/bin/sh
# One-shot job (compose service `temporal-schema`, image temporalio/admin-tools):
# creates Temporal's persistence and visibility databases on PostgreSQL and brings
# both schemas up to the version this admin-tools image ships. Safe to run again:
# an existing database is kept, and update-schema applies only what is missing.
# temporal-sql-tool reads SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD;
# the schema files are the image's (TEMPORAL_SCHEMA_DIR elsewhere).
set -eu
: "${SQL_HOST:?SQL_HOST must name the PostgreSQL server}"
: "${SQL_USER:?SQL_USER must be set}"
export SQL_PLUGIN="${SQL_PLUGIN:-postgres12}"
export SQL_PORT="${SQL_PORT:-5432}"
schemas="${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema}/postgresql/v12"
attempts="${T2T_SETUP_ATTEMPTS:-60}"

i=1
until nc -z -w 5 "$SQL_HOST" "$SQL_PORT"; do
  if [ "$i" -ge "$attempts" ]; then
    echo "PostgreSQL at $SQL_HOST:$SQL_PORT did not answer" >&2
    exit 1
  fi
  i=$((i + 1))
  sleep 2
done

# setup <database> <schema folder>
setup() {
  if out=$(temporal-sql-tool --db "$1" create 2>&1); then
    echo "database $1 created"
  else
    case "$out" in
      *"already exists"*) echo "database $1 exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
  temporal-sql-tool --db "$1" setup-schema -v 0.0
  temporal-sql-tool --db "$1" update-schema -d "$schemas/$2/versioned"
}

setup "${TEMPORAL_DB:-temporal}" temporal
setup "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}" visibility
echo "Temporal schemas ready"
