-- 0002_outbox_steps: the outbox the relay drains, and steps and attempts as views.

-- The transactional outbox. A group commit that produced events inserts one row here, in the
-- same transaction, naming them (the events themselves are in run_records, below). The
-- in-process relay (backends/pg_relay.cc) takes rows in id order with FOR UPDATE SKIP LOCKED,
-- reads the events they name (only while anyone subscribes), hands them to the SSE hubs and
-- deletes the rows in the same transaction: a crash in between delivers them again
-- (subscribers drop events by number). One small row per commit rather than marking every
-- events row: the relay writes one row per commit, not one per run and commit.
-- data: one line per run, "<run_id>\t<first event seq>\t<last event seq>\t<workflow>".
CREATE TABLE outbox (
  id          bigserial PRIMARY KEY,
  data        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE outbox IS 'Events committed but not yet relayed, one row per group commit.';
-- Events move into run_records: one row per run and commit held the commit's records and a
-- second row in events held the events those records produced, with the same run, commit and
-- time. One row holding both is half the tuples and index entries of every commit (the
-- largest part of its cost). `events` stays, as a view with the columns it had; its rows from
-- before this migration are carried over to the run_records row of the same run and commit.
-- Events are stored as text (read back only as SSE frames: no json parse on insert), and each
-- event object omits "run" (the row's run_id; the reader puts it back).
ALTER TABLE run_records
  ADD COLUMN ev_seq   integer CHECK (ev_seq >= 1),  -- the first event's number (SSE event id)
  ADD COLUMN ev_last  integer,
  ADD COLUMN events   text,                         -- JSON array of the events, in order
  ADD CONSTRAINT run_records_events_complete CHECK (
    (ev_seq IS NULL) = (events IS NULL) AND (ev_seq IS NULL) = (ev_last IS NULL) AND
    ev_last >= ev_seq);
UPDATE run_records r SET ev_seq = e.seq, ev_last = e.last_seq, events = e.data::text
  FROM events e WHERE e.run_id = r.run_id AND e.created_at = r.at;
DROP TABLE events;
CREATE VIEW events AS
  SELECT run_id, ev_seq AS seq, ev_last AS last_seq, events AS data, at AS created_at
  FROM run_records WHERE events IS NOT NULL;
COMMENT ON VIEW events IS
  'Every event of every run (the SSE history), from the run_records row of its commit.';

-- Steps and attempts are views over run_records, not tables: every attempt's start, end, error
-- and output is already a record there (the engine is event-sourced), and a second copy in
-- columns would add an UPDATE per transition to every group commit. The views give operators
-- the same rows with SQL. A record is EncodeRecord's compact JSON (engine/record.cc):
--   t: 1 run created, 2 step started, 3 step succeeded, 4 step failed (due: a retry follows),
--      5 step skipped, 6 step waiting, 7 run finished, 8 run resumed
--   step (index), sid (step id), at (unix ms), due (unix ms), text (error), data (output).

-- One row per record (run_records keeps one commit's records of a run in one row, one per line).
CREATE VIEW run_record_lines AS
SELECT r.run_id,
       r.seq + (l.n - 1)::integer AS seq,
       l.rec::json AS rec
FROM run_records r,
     LATERAL unnest(string_to_array(r.payload, E'\n')) WITH ORDINALITY AS l(rec, n);
COMMENT ON VIEW run_record_lines IS 'Every run record, one row each, in seq order per run.';

-- The step records of every run, with their fields in columns.
CREATE VIEW step_records AS
SELECT run_id, seq,
       (rec->>'t')::integer AS kind,
       (rec->>'step')::integer AS step_index,
       rec->>'sid' AS step_id,
       to_timestamp((rec->>'at')::bigint / 1000.0) AS at,
       to_timestamp((rec->>'due')::bigint / 1000.0) AS due_at,
       rec->>'text' AS error,
       rec->'data' AS output
FROM run_record_lines
WHERE (rec->>'t')::integer BETWEEN 2 AND 6;
COMMENT ON VIEW step_records IS 'The step records of every run (started, succeeded, failed, skipped, waiting).';

-- One row per attempt of a step: when it started and ended, and how.
CREATE VIEW step_attempts AS
SELECT run_id, step_index, max(step_id) AS step_id, attempt,
       min(at) FILTER (WHERE kind = 2) AS started_at,
       max(at) FILTER (WHERE kind IN (3, 4)) AS finished_at,
       CASE WHEN bool_or(kind = 3) THEN 'succeeded'
            WHEN bool_or(kind = 4) THEN 'failed'
            ELSE 'running' END AS outcome,
       max(error) FILTER (WHERE kind = 4) AS error,
       max(due_at) FILTER (WHERE kind = 4) AS retry_at,
       (array_agg(output) FILTER (WHERE kind = 3))[1] AS output
FROM (SELECT s.*, count(*) FILTER (WHERE kind = 2)
                    OVER (PARTITION BY run_id, step_index ORDER BY seq) AS attempt
      FROM step_records s) numbered
WHERE attempt > 0
GROUP BY run_id, step_index, attempt;
COMMENT ON VIEW step_attempts IS 'Every attempt of every step: start, end, outcome, error, output.';

-- One row per step that has a record: its current state and attempt count.
CREATE VIEW steps AS
SELECT DISTINCT ON (run_id, step_index)
       run_id, step_index, step_id,
       CASE kind WHEN 2 THEN 'running'
                 WHEN 3 THEN 'succeeded'
                 WHEN 4 THEN CASE WHEN due_at IS NULL THEN 'failed' ELSE 'retrying' END
                 WHEN 5 THEN 'skipped'
                 ELSE 'waiting' END AS status,
       count(*) FILTER (WHERE kind = 2) OVER (PARTITION BY run_id, step_index) AS attempts,
       at AS updated_at,
       due_at
FROM step_records
ORDER BY run_id, step_index, seq DESC;
COMMENT ON VIEW steps IS 'The current state of every step of every run, from its records.';
