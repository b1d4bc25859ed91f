-- TimescaleDB, when the server offers it: readings becomes a hypertable with compression and
-- retention. On plain PostgreSQL this migration does nothing and a BRIN index on time serves
-- range scans instead. Every statement is guarded, so both paths run the same later migrations.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        PERFORM create_hypertable('readings', 'time', chunk_time_interval => interval '7 days',
                                  migrate_data => true);
        EXECUTE 'ALTER TABLE readings SET (timescaledb.compress,
                 timescaledb.compress_segmentby = ''point_id, pollutant, kind'',
                 timescaledb.compress_orderby = ''time DESC'')';
        PERFORM add_compression_policy('readings', interval '30 days');
        PERFORM add_retention_policy('readings', interval '10 years');
    ELSE
        CREATE INDEX IF NOT EXISTS readings_time_brin ON readings USING brin (time);
    END IF;
END
$$;
