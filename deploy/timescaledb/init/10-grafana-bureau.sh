#!/bin/sh
# First start of the database container: the bureau's Grafana login. It reads every table
# (pg_read_all_data) and is not confined by the park row-level security (BYPASSRLS); it cannot
# write. Park managers' logins come from `greenmon grafana-role create --park P`.
set -eu
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" \
     -v pw="$GRAFANA_BUREAU_PASSWORD" <<'SQL'
CREATE ROLE grafana_bureau LOGIN BYPASSRLS PASSWORD :'pw' IN ROLE pg_read_all_data;
SQL
