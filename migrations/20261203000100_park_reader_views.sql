-- Park managers' Grafana roles read the time series through security-barrier views, on both
-- backends. Row-level security (migration 20261128000301) confines them on plain PostgreSQL, but
-- TimescaleDB refuses it on a compressed hypertable (`readings`) and on a continuous aggregate
-- (`readings_hourly`, and the view `readings_hourly_point` over it): there a park role saw no
-- readings at all.
--
-- The views live in a schema of their own, greenmon_park (for a deployment in a schema S other
-- than public: S_park, so that several deployments share a database), under the names of the
-- relations they serve, and each park role's search_path (set per database by `greenmon
-- grafana-role create`, and below for the roles made before) puts that schema first: Grafana's
-- unchanged dashboard queries (`FROM readings_hourly`) reach the view, the bureau's reach the
-- relation. A view reads with its owner's rights (the service's role, which row-level security
-- does not confine), and its predicate keeps the login's own points; security_barrier makes
-- PostgreSQL apply that predicate before any function of the caller's query, so a leaky function
-- in a WHERE clause cannot see another park's rows. The predicate's function is the one of the
-- policies, so both mechanisms agree on what a park may see.

-- The schema of the views for the deployment in the current schema.
CREATE FUNCTION greenmon_park_schema() RETURNS text
    LANGUAGE sql STABLE AS
$$ SELECT CASE current_schema() WHEN 'public' THEN 'greenmon_park'
                                ELSE current_schema() || '_park' END $$;

DO $$
DECLARE
    views text := greenmon_park_schema();
    data text := current_schema();
    t text;
    r record;
BEGIN
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', views);
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO greenmon_park_reader', views);
    FOREACH t IN ARRAY ARRAY['readings', 'readings_hourly', 'readings_hourly_point'] LOOP
        EXECUTE format('CREATE VIEW %I.%I WITH (security_barrier) AS
                        SELECT * FROM %I.%I WHERE point_id = ANY (%I.greenmon_reader_points())',
                       views, t, data, t, data);
        EXECUTE format('GRANT SELECT ON %I.%I TO greenmon_park_reader', views, t);
    END LOOP;
    -- The roles made before this migration: the same search_path as a new one gets.
    FOR r IN SELECT role_name FROM grafana_park_roles LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r.role_name) THEN
            EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = %I, %I',
                           r.role_name, current_database(), views, data);
        END IF;
    END LOOP;
END
$$;
