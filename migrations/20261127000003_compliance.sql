-- Daily statistics (kind 'day', HJ 212 CN 2031) stay out of the hourly rollups: a daily value at
-- 00:00 says nothing about the first hour.
-- Compliance: registration times and allowed gaps of points, the last reading of each point, and
-- hourly rollups of readings (a TimescaleDB continuous aggregate, or a table kept by a trigger on
-- plain PostgreSQL: same name, and the same columns for every query).

-- When a point was registered: it owes data from then on (daily rates of a point added mid-day).
ALTER TABLE monitoring_points ADD COLUMN registered_at timestamptz NOT NULL DEFAULT now();
-- Seconds without a valid reading after which the point counts as offline; NULL = default
-- (3 × interval, at least 5 minutes).
ALTER TABLE monitoring_points ADD COLUMN allowed_gap_secs integer CHECK (allowed_gap_secs > 0);

-- Latest reading time and latest valid (flag N) reading time per point, kept by ingest in the
-- same transaction as the readings, so the status of every point is one indexed read.
CREATE TABLE point_last_seen (
    point_id     text PRIMARY KEY,
    last_reading timestamptz NOT NULL,
    last_valid   timestamptz
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- Continuous aggregate; late data is picked up through TimescaleDB's invalidation log
        -- by the refresh policy (start_offset covers a month of late uploads).
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous) AS
            SELECT point_id, pollutant, time_bucket(interval '1 hour', time) AS hour,
                   avg(value) AS avg, min(value) AS min, max(value) AS max,
                   count(*) AS count,
                   count(*) FILTER (WHERE flag = 'N') AS valid_count,
                   avg(value) FILTER (WHERE flag = 'N') AS valid_avg
            FROM readings
            WHERE kind <> 'day'
            GROUP BY point_id, pollutant, time_bucket(interval '1 hour', time)
            WITH NO DATA
        $cagg$;
        -- Real-time aggregation: hours not yet materialised are computed from raw readings.
        EXECUTE 'ALTER MATERIALIZED VIEW readings_hourly SET (timescaledb.materialized_only = false)';
        PERFORM add_continuous_aggregate_policy('readings_hourly',
            start_offset => interval '30 days', end_offset => interval '1 minute',
            schedule_interval => interval '1 minute');
    ELSE
        -- Plain PostgreSQL: a table kept current by a statement trigger on readings, in the
        -- transaction that inserts the rows (COPY or INSERT, late data included). Readings are
        -- append-only, so sums and counts accumulate exactly; avg and valid_avg derive from them.
        CREATE TABLE readings_hourly (
            point_id    text NOT NULL,
            pollutant   text NOT NULL,
            hour        timestamptz NOT NULL,
            sum         double precision NOT NULL,
            min         double precision NOT NULL,
            max         double precision NOT NULL,
            count       bigint NOT NULL,
            valid_count bigint NOT NULL,
            valid_sum   double precision NOT NULL,
            avg         double precision GENERATED ALWAYS AS (sum / count) STORED,
            -- NULL when no reading of the hour is valid
            valid_avg   double precision
                GENERATED ALWAYS AS (valid_sum / NULLIF(valid_count, 0)) STORED,
            PRIMARY KEY (point_id, pollutant, hour)
        );
        CREATE INDEX readings_hourly_hour_idx ON readings_hourly (hour);
        CREATE FUNCTION readings_roll_up() RETURNS trigger LANGUAGE plpgsql AS $fn$
        BEGIN
            -- new_rows holds only the rows actually inserted (not those ON CONFLICT skipped).
            INSERT INTO readings_hourly AS h
                (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
            SELECT point_id, pollutant, date_trunc('hour', time, 'UTC'),
                   sum(value), min(value), max(value), count(*),
                   count(*) FILTER (WHERE flag = 'N'),
                   coalesce(sum(value) FILTER (WHERE flag = 'N'), 0)
            FROM new_rows
            WHERE kind <> 'day'
            GROUP BY 1, 2, 3
            -- One lock order for every transaction: concurrent commits cannot deadlock here.
            ORDER BY 1, 2, 3
            ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
                sum = h.sum + EXCLUDED.sum,
                min = LEAST(h.min, EXCLUDED.min),
                max = GREATEST(h.max, EXCLUDED.max),
                count = h.count + EXCLUDED.count,
                valid_count = h.valid_count + EXCLUDED.valid_count,
                valid_sum = h.valid_sum + EXCLUDED.valid_sum;
            RETURN NULL;
        END
        $fn$;
        CREATE TRIGGER readings_roll_up AFTER INSERT ON readings
            REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
            EXECUTE FUNCTION readings_roll_up();
    END IF;
END
$$;
