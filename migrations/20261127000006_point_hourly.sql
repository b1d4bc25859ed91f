-- Per-point hourly slot counts (all pollutants together): what the daily data rates read. The
-- bureau summary reads one row per point and hour instead of one per point, pollutant and hour.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        -- On TimescaleDB a view over the continuous aggregate: the same name and columns.
        CREATE VIEW readings_hourly_point AS
            SELECT point_id, hour, sum(count)::bigint AS count,
                   sum(valid_count)::bigint AS valid_count
            FROM readings_hourly GROUP BY point_id, hour;
    ELSE
        CREATE TABLE readings_hourly_point (
            point_id    text NOT NULL,
            hour        timestamptz NOT NULL,
            count       bigint NOT NULL,
            valid_count bigint NOT NULL,
            PRIMARY KEY (point_id, hour)
        );
        CREATE INDEX readings_hourly_point_by_hour_idx ON readings_hourly_point (hour);
        INSERT INTO readings_hourly_point
            SELECT point_id, hour, sum(count), sum(valid_count)
            FROM readings_hourly GROUP BY point_id, hour;
        -- The rollup trigger keeps both tables, in the transaction that inserts the readings.
        CREATE OR REPLACE FUNCTION readings_roll_up() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
            INSERT INTO readings_hourly_point AS p (point_id, hour, count, valid_count)
            SELECT point_id, date_trunc('hour', time, 'UTC'), count(*),
                   count(*) FILTER (WHERE flag = 'N')
            FROM new_rows
            WHERE kind <> 'day'
            GROUP BY 1, 2
            ORDER BY 1, 2
            ON CONFLICT (point_id, hour) DO UPDATE SET
                count = p.count + EXCLUDED.count,
                valid_count = p.valid_count + EXCLUDED.valid_count;
            RETURN NULL;
        END
        $fn$;
    END IF;
END
$$;
