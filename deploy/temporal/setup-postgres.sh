#!/bin/sh
# One-shot (compose service `temporal-schema`, image temporalio/admin-tools): creates Temporal's two
# PostgreSQL databases and brings their schemas to the version this admin-tools image ships.
# Idempotent: on later starts `create` finds the database and `update-schema` has nothing to do.
# The password comes from SQL_PASSWORD in the environment (never from this file).
set -eu
: "${SQL_PASSWORD:?SQL_PASSWORD must be set}"
DB_HOST="${POSTGRES_SEEDS:-postgresql}"
DB_PORT="${DB_PORT:-5432}"
DB_USER="${POSTGRES_USER:-temporal}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$DB_HOST" -p "$DB_PORT" -u "$DB_USER" "$@"
}

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versioned="$SCHEMA_DIR/temporal/versioned" ;;
    *) versioned="$SCHEMA_DIR/visibility/versioned" ;;
  esac
  sql_tool --db "$db" create || echo "database $db exists"
  sql_tool --db "$db" setup-schema -v 0.0 || echo "schema of $db already set up"
  sql_tool --db "$db" update-schema -d "$versioned"
done
echo "PostgreSQL schemas ready"
