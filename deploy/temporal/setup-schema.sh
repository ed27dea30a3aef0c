#!/bin/sh
# Temporal's schema, with the admin-tools image's temporal-sql-tool: both databases created if
# missing, then each brought to the version this image ships. Run before the server starts, and
# again after moving the server and admin-tools images to a new release (update-schema applies
# only what is new; setup-schema leaves a database that already has a version alone).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12
export SQL_PASSWORD="$POSTGRES_PWD"
sql() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" -u "$POSTGRES_USER" "$@"
}
for pair in "${DBNAME:-temporal}:temporal" "${VISIBILITY_DBNAME:-temporal_visibility}:visibility"; do
  db=${pair%%:*}
  schema=${pair##*:}
  # `create` fails on a database that exists: that one is fine, any other failure is not.
  if ! out=$(sql --db "$db" create 2>&1); then
    case "$out" in
      *"already exists"*) echo "database $db exists" ;;
      *) echo "$out" >&2; exit 1 ;;
    esac
  fi
  sql --db "$db" setup-schema -v 0.0
  sql --db "$db" update-schema -d "$SCHEMA_DIR/$schema/versioned"
  echo "database $db: schema up to date"
done
