-- Park managers' Grafana roles read the time series through security-barrier views, on both
-- backends. Row-level security (migration 20261128000301) confines them on plain PostgreSQL, but
-- TimescaleDB refuses it on a compressed hypertable (`readings`) and on a continuous aggregate
-- (`readings_hourly`, and the view `readings_hourly_point` over it): there a park role saw no
-- readings at all.
--
-- The views live in schema greenmon_park under the names of the relations they serve, and each
-- park role's search_path (set per database by `greenmon grafana-role create`, and below for the
-- roles made before) puts that schema first: Grafana's unchanged dashboard queries (`FROM
-- readings_hourly`) reach the view, the bureau's reach the relation. A view reads with its
-- owner's rights (the service's role, which row-level security does not confine), and its
-- predicate keeps the login's own points; security_barrier makes PostgreSQL apply that predicate
-- before any function of the caller's query, so a leaky function in a WHERE clause cannot see
-- another park's rows. The predicate's function is the one of the policies, so both mechanisms
-- agree on what a park may see.
CREATE SCHEMA IF NOT EXISTS greenmon_park;
GRANT USAGE ON SCHEMA greenmon_park TO greenmon_park_reader;

CREATE VIEW greenmon_park.readings WITH (security_barrier) AS
    SELECT * FROM readings WHERE point_id = ANY (greenmon_reader_points());
CREATE VIEW greenmon_park.readings_hourly WITH (security_barrier) AS
    SELECT * FROM readings_hourly WHERE point_id = ANY (greenmon_reader_points());
CREATE VIEW greenmon_park.readings_hourly_point WITH (security_barrier) AS
    SELECT * FROM readings_hourly_point WHERE point_id = ANY (greenmon_reader_points());
GRANT SELECT ON ALL TABLES IN SCHEMA greenmon_park TO greenmon_park_reader;

-- The roles made before this migration: the same search_path as a new one gets.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT role_name FROM grafana_park_roles LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.role_name) THEN
            EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = greenmon_park, public',
                           r.role_name, current_database());
        END IF;
    END LOOP;
END
$$;
