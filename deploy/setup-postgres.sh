#!/bin/sh
# One-shot schema job for compose: Temporal's databases and the control plane's.
set -eu
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" -p "$DB_PORT" "$@"; }

for db in temporal temporal_visibility; do
  tool --db "$db" create || true
done
tool --db temporal setup-schema -v 0.0 || true
tool --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
tool --db temporal_visibility setup-schema -v 0.0 || true
tool --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned

# The control plane's own database (the worker creates its tables).
tool --db "$T2T_DATABASE" create || true
echo "schemas ready"
