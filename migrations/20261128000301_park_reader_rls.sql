-- Row-level security for park managers who use Grafana: `greenmon grafana-role create --park P`
-- makes a login role that is a member of greenmon_park_reader and is mapped to its park here.
-- Policies confine the group to its park's rows; the service's own role owns the tables and is
-- not confined (RLS is not forced). Tables a park may not read (api_tokens, quarantine,
-- hj212_gaps, grafana_park_roles) are simply not granted.

-- Login role -> park. Read only through greenmon_reader_park() below.
CREATE TABLE grafana_park_roles (
    role_name  text PRIMARY KEY,
    park_id    text NOT NULL REFERENCES parks (id) ON UPDATE CASCADE ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Roles are cluster-wide: several databases (or instances migrating at once) may create it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'greenmon_park_reader') THEN
        CREATE ROLE greenmon_park_reader NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The park of the logged-in role (NULL for any other role). SECURITY DEFINER so readers need no
-- grant on the mapping table; search_path pinned as SECURITY DEFINER functions must. Inside such a
-- function current_user is its owner, so the login is session_user.
CREATE FUNCTION greenmon_reader_park() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT park_id FROM grafana_park_roles WHERE role_name = session_user $$;

-- The points of that park, evaluated once per statement (not once per row).
CREATE FUNCTION greenmon_reader_points() RETURNS text[]
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS
$$ SELECT coalesce(array_agg(id), '{}') FROM monitoring_points
   WHERE park_id = (SELECT park_id FROM grafana_park_roles WHERE role_name = session_user) $$;

REVOKE ALL ON FUNCTION greenmon_reader_park() FROM PUBLIC;
REVOKE ALL ON FUNCTION greenmon_reader_points() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION greenmon_reader_park(), greenmon_reader_points()
    TO greenmon_park_reader;

-- Every table a park may read, with the predicate that keeps it to its own rows. Only ordinary
-- tables that accept row-level security get a policy and a grant. On TimescaleDB,
-- readings_hourly is a continuous aggregate and readings_hourly_point a view over it, and
-- `readings` is a compressed hypertable, none of which row-level security can confine: park
-- roles are not granted them there (they read the registry, energy reports and last readings).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT * FROM (VALUES
            ('parks',                 'id = greenmon_reader_park()'),
            ('monitoring_points',     'park_id = greenmon_reader_park()'),
            ('energy_reports',        'park_id = greenmon_reader_park()'),
            ('discharge_limits',      'point_id = ANY (greenmon_reader_points())'),
            ('point_last_seen',       'point_id = ANY (greenmon_reader_points())'),
            ('readings',              'point_id = ANY (greenmon_reader_points())'),
            ('readings_hourly',       'point_id = ANY (greenmon_reader_points())'),
            ('readings_hourly_point', 'point_id = ANY (greenmon_reader_points())')
        ) AS v(name, predicate)
    LOOP
        IF EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = current_schema() AND c.relname = t.name
                     AND c.relkind IN ('r', 'p')) THEN
            BEGIN
                EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.name);
                EXECUTE format('CREATE POLICY park_reader ON %I FOR SELECT
                                TO greenmon_park_reader USING (%s)', t.name, t.predicate);
                EXECUTE format('GRANT SELECT ON %I TO greenmon_park_reader', t.name);
            EXCEPTION WHEN feature_not_supported THEN
                -- TimescaleDB refuses row-level security on a compressed hypertable
                -- (readings): it is then not granted at all.
                RAISE NOTICE 'park readers cannot read %: %', t.name, SQLERRM;
            END;
        END IF;
    END LOOP;
END
$$;

-- A park's managers need not see its loggers' HJ 212 passwords: every column but that one.
REVOKE SELECT ON monitoring_points FROM greenmon_park_reader;
GRANT SELECT (id, park_id, name, kind, mn, required, interval_secs, allowed_gap_secs,
              registered_at, hj212_crc_modes, updated_at)
    ON monitoring_points TO greenmon_park_reader;
