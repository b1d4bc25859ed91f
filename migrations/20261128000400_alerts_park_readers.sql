-- Park managers' Grafana roles (migration 20261128000301) may read their own park's alerts and
-- their history; the notification outbox stays internal.
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON alerts FOR SELECT TO greenmon_park_reader
    USING (park_id = greenmon_reader_park());
GRANT SELECT ON alerts TO greenmon_park_reader;

-- The subquery on alerts is itself confined by the policy above.
ALTER TABLE alert_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON alert_events FOR SELECT TO greenmon_park_reader
    USING (alert_id IN (SELECT id FROM alerts));
GRANT SELECT ON alert_events TO greenmon_park_reader;
