-- Validity review: bureau staff mark a point, or one of its pollutants, over a time range as
-- maintenance, calibration, fault or invalid (docs/compliance.md, "Validity review").
-- A mark is never overwritten: its only change is a withdrawal (withdrawn_at/by/reason, set once),
-- and every creation and withdrawal is also appended to review_mark_events (who, when, why).

CREATE TABLE review_marks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id        text NOT NULL REFERENCES monitoring_points (id) ON UPDATE CASCADE,
    -- NULL: the whole point (every pollutant's series); otherwise one pollutant code (e.g. w01018).
    pollutant       text,
    -- [starts_at, ends_at): the hours the mark covers wholly are affected (rates.rs).
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    -- maintenance and calibration excuse hours (not owed); fault and invalid make data invalid.
    kind            text NOT NULL
        CONSTRAINT review_marks_kind CHECK (kind IN ('maintenance', 'calibration', 'fault', 'invalid')),
    reason          text NOT NULL CONSTRAINT review_marks_reason CHECK (btrim(reason) <> ''),
    created_by      text NOT NULL CONSTRAINT review_marks_created_by CHECK (btrim(created_by) <> ''),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- Set once, together, when the mark is withdrawn; a withdrawn mark has no effect.
    withdrawn_at    timestamptz,
    withdrawn_by    text,
    withdraw_reason text,
    CONSTRAINT review_marks_range CHECK (ends_at > starts_at),
    CONSTRAINT review_marks_withdrawal CHECK (
        (withdrawn_at IS NULL AND withdrawn_by IS NULL AND withdraw_reason IS NULL)
        OR (withdrawn_at IS NOT NULL AND withdrawn_by IS NOT NULL AND withdraw_reason IS NOT NULL))
);

-- The rates read the marks in force of a park's points over a range of days.
CREATE INDEX review_marks_point_idx ON review_marks (point_id, starts_at);

-- The audit trail: one row per change, append-only.
CREATE TABLE review_mark_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mark_id     bigint NOT NULL REFERENCES review_marks (id),
    event       text NOT NULL CONSTRAINT review_mark_events_event CHECK (event IN ('created', 'withdrawn')),
    at          timestamptz NOT NULL DEFAULT now(),
    by_whom     text NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX review_mark_events_mark_idx ON review_mark_events (mark_id);

-- Guards: a mark may only be withdrawn (once), never edited or deleted; events are never
-- changed. Enforced in the database so that psql cannot rewrite the record either.
CREATE FUNCTION review_marks_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'review marks are never deleted; withdraw them';
    END IF;
    IF OLD.withdrawn_at IS NOT NULL
       OR NEW.id IS DISTINCT FROM OLD.id
       OR NEW.point_id IS DISTINCT FROM OLD.point_id
       OR NEW.pollutant IS DISTINCT FROM OLD.pollutant
       OR NEW.starts_at IS DISTINCT FROM OLD.starts_at
       OR NEW.ends_at IS DISTINCT FROM OLD.ends_at
       OR NEW.kind IS DISTINCT FROM OLD.kind
       OR NEW.reason IS DISTINCT FROM OLD.reason
       OR NEW.created_by IS DISTINCT FROM OLD.created_by
       OR NEW.created_at IS DISTINCT FROM OLD.created_at THEN
        RAISE EXCEPTION 'review mark % can only be withdrawn, once', OLD.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER review_marks_guard BEFORE UPDATE OR DELETE ON review_marks
    FOR EACH ROW EXECUTE FUNCTION review_marks_guard();

CREATE FUNCTION review_mark_events_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'review mark events are append-only';
END $$;
CREATE TRIGGER review_mark_events_guard BEFORE UPDATE OR DELETE ON review_mark_events
    FOR EACH ROW EXECUTE FUNCTION review_mark_events_guard();

-- Park managers' Grafana roles (migration 20261128000301) may read their own park's marks and
-- their history, as with alerts (20261128000400).
ALTER TABLE review_marks ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON review_marks FOR SELECT TO greenmon_park_reader
    USING (point_id = ANY (greenmon_reader_points()));
GRANT SELECT ON review_marks TO greenmon_park_reader;

-- The subquery on review_marks is itself confined by the policy above.
ALTER TABLE review_mark_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY park_reader ON review_mark_events FOR SELECT TO greenmon_park_reader
    USING (mark_id IN (SELECT id FROM review_marks));
GRANT SELECT ON review_mark_events TO greenmon_park_reader;
