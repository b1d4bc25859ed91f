-- When a monitoring point owes data: its commissioning and, once it is taken out of service, its
-- retirement. The daily data rates (and so the park's monthly figures) count a point's expected
-- hours from monitored_since to retired_at, not from when greenmon learned of it: a point
-- registered today owes nothing for past months, and a point commissioned in 2018 can be loaded
-- with its 2018 history.
--
-- monitored_since: the commissioning instant (the registry's `monitored_since`; a date there
-- means local midnight of `ingest.timezone`). Existing points keep today's results: until now the
-- rates counted from registered_at, so that is their commissioning. New points without one in
-- the registry default to the moment they are registered, as before.
-- retired_at: the end of service (exclusive); NULL while in service.
ALTER TABLE monitoring_points
    ADD COLUMN monitored_since timestamptz,
    ADD COLUMN retired_at      timestamptz;

UPDATE monitoring_points SET monitored_since = registered_at;

ALTER TABLE monitoring_points
    ALTER COLUMN monitored_since SET NOT NULL,
    ALTER COLUMN monitored_since SET DEFAULT now(),
    -- A retirement at or before the commissioning would owe a negative span.
    ADD CONSTRAINT monitoring_points_retired_after_since
        CHECK (retired_at IS NULL OR retired_at > monitored_since);

-- Park managers read their points' service period (every column but the HJ 212 password, as in
-- 20261128000301).
GRANT SELECT (monitored_since, retired_at) ON monitoring_points TO greenmon_park_reader;
