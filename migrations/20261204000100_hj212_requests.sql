-- Requests greenmon sends to HJ 212 data loggers (docs/hj212.md, "Exchanges greenmon starts"):
-- history requests for missing hours (CN 2051/2061/2031 with BeginTime/EndTime), and clock
-- requests (CN 1011 read, 1012 set). One row per request, from queued to its outcome; a retry
-- after a timeout is the same row with attempts + 1.
CREATE TABLE hj212_requests (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    point_id     text NOT NULL REFERENCES monitoring_points (id) ON UPDATE CASCADE ON DELETE CASCADE,
    -- The logger asked (the point's MN when the request was made).
    mn           text NOT NULL,
    cn           text NOT NULL CONSTRAINT hj212_requests_cn CHECK (cn IN ('2051', '2061', '2031', '1011', '1012')),
    -- History: the periods asked for, [begin_time, end_time) (DataTime of the first period, and
    -- the end of the last one). NULL for clock requests.
    begin_time   timestamptz,
    end_time     timestamptz,
    -- CN 1012: the time greenmon set.
    system_time  timestamptz,
    -- scan (the periodic gap scan), reconnect (the scan after a logger connects), manual
    -- (`greenmon hj212 recover`), clock (the drift check).
    origin       text NOT NULL CONSTRAINT hj212_requests_origin CHECK (origin IN ('scan', 'reconnect', 'manual', 'clock')),
    status       text NOT NULL DEFAULT 'queued' CONSTRAINT hj212_requests_status CHECK (
        status IN ('queued', 'sent', 'recovered', 'no_data', 'rejected', 'failed', 'timed_out', 'done')),
    -- The QN of the last send: every answer repeats it.
    qn           text,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    finished_at  timestamptz,
    -- The logger's 9011 QnRtn and 9012 ExeRtn, when it sent them.
    qn_rtn       integer,
    exe_rtn      integer,
    -- Every answer, in order, as received ("9011 QnRtn=1", "9012 ExeRtn=1", "1011 SystemTime=…").
    answers      text[] NOT NULL DEFAULT '{}',
    -- History: readings of the range that were not stored before the request and are now.
    recovered    integer,
    CONSTRAINT hj212_requests_range CHECK (
        (cn IN ('2051', '2061', '2031')) = (begin_time IS NOT NULL AND end_time IS NOT NULL AND end_time > begin_time))
);

-- The scan skips periods already asked.
CREATE INDEX hj212_requests_point_idx ON hj212_requests (point_id, created_at);
-- Every second the requester reads which loggers have queued requests, and takes a logger's
-- oldest: a small index however long the history of requests grows.
CREATE INDEX hj212_requests_queued_idx ON hj212_requests (mn, id) WHERE status = 'queued';

-- Not granted to the park readers' Grafana role, as hj212_gaps is not: parks see their own
-- requests through the API (GET /api/v1/hj212/requests).
