-- 0003_history: finished runs are served from PostgreSQL (backends/pg_history.cc) instead of
-- being loaded at start, so the tables that hold them are partitioned by day and get the
-- indexes history listings need.
--
-- Partition key: the run id. Run ids are UUIDv7-shaped (engine/run_id.h): the first 48 bits
-- are the creation time in unix ms, and PostgreSQL compares uuids bytewise, so a range of ids
-- is a range of creation times and a UTC day is [rf_day_bound(d), rf_day_bound(d + 1)).
-- runs, run_records and timeouts are RANGE partitioned on run_id with the same day bounds
-- (runs_pYYYYMMDD, run_records_pYYYYMMDD, timeouts_pYYYYMMDD) plus one DEFAULT partition each
-- as a safety net for ids outside every day partition.
--   Why the run id and not the finish time: a run's rows are written while it runs, before
--   anyone knows when it will finish; partitioning by finished_at would move the runs row
--   (a DELETE plus an INSERT across partitions) at the last transition, and run_records rows
--   could not be placed at all. The run id is known at the first insert and never changes,
--   so the group commit is the same statements as before (tuple routing picks today's
--   partition; ON CONFLICT (run_id) still works, the primary keys contain the key), and all of
--   a run's rows are in the same day's partitions, so retention drops one day of runs, records
--   and timers together.
--   The cost of that choice: a partition holds runs created that day, and a few of them may
--   still be live (or have finished later) when the day falls out of retention. rf_expire
--   carries those few runs over to the DEFAULT partitions before it drops the day, and
--   deletes DEFAULT rows one by one when they expire.
--
-- Who creates partitions: rf_ensure_partitions(first, last) makes the missing day partitions
-- of a range of days, moving any rows the DEFAULT partitions took for those days into them.
-- The daemon's shard 0 calls it for today .. today + 2 when its store opens and hourly after
-- (backends/pg_store.cc), and every retention pass does (rf_expire), so tomorrow's partitions
-- exist a day ahead; rows of a day
-- without partitions (the daemon was down for days) land in DEFAULT and move to their day
-- partition when it is made. Both functions take the same advisory lock, so concurrent
-- callers (every shard at start) take turns.
--
-- Indexes (partitioned: one per partition). GET of a finished run uses the primary key; the
-- listings by workflow and by status (the dead-letter listing is status = 'failed') use
-- (workflow, run_id) and (status, run_id), newest first by scanning backwards. Both are
-- partial (finished runs only): a runs row gets one entry in each when it finishes, not one
-- per transition (the status change is not a HOT update already, runs_live_by_partition's
-- predicate reads status). The idempotency key index stays, but can no longer be UNIQUE (a
-- unique index of a partitioned table must contain the partition key): the coordinator
-- already refuses a second start with the same key (from memory for live runs, through
-- HistoryStore::FindKey for finished ones), so it was a backstop only.
--
-- timeouts loses its foreign key to runs (hot tables have none, see 0001): a day's timers go
-- with the day's partitions, and the store deletes a forgotten run's timers itself.
--
-- Carrying schema-2 data over: the old tables are renamed, the new partitioned ones are
-- created, every day that has runs gets its partitions, the rows are copied and the old tables
-- dropped. One transaction, so a large database takes as long as copying it.

-- The first uuid of UTC day `d`: 48 bits of unix ms, then zeros.
CREATE FUNCTION rf_day_bound(d date) RETURNS uuid
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT (lpad(to_hex((extract(epoch FROM d::timestamp) * 1000)::bigint), 12, '0') ||
          '00000000000000000000')::uuid
$$;

-- The UTC day a run id was made.
CREATE FUNCTION rf_id_day(id uuid) RETURNS date
LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT (to_timestamp(('x' || lpad(substr(replace(id::text, '-', ''), 1, 12), 16, '0'))::bit(64)
                       ::bigint / 1000.0) AT TIME ZONE 'UTC')::date
$$;

ALTER TABLE runs RENAME TO runs_v2;
ALTER INDEX runs_pkey RENAME TO runs_v2_pkey;
ALTER INDEX runs_idempotency_key RENAME TO runs_v2_idempotency_key;
ALTER INDEX runs_live_by_partition RENAME TO runs_v2_live_by_partition;
ALTER TABLE run_records RENAME TO run_records_v2;
ALTER INDEX run_records_pkey RENAME TO run_records_v2_pkey;
ALTER TABLE timeouts RENAME TO timeouts_v2;
ALTER INDEX timeouts_pkey RENAME TO timeouts_v2_pkey;
ALTER INDEX timeouts_pending RENAME TO timeouts_v2_pending;

-- The columns and checks of 0001/0002, unchanged. fillfactor is set on each runs partition
-- (a partitioned table has no storage of its own).
CREATE TABLE runs (
  run_id           uuid NOT NULL,
  partition        smallint NOT NULL,
  workflow         text NOT NULL,
  version          integer NOT NULL,
  status           text NOT NULL,
  priority         smallint NOT NULL DEFAULT 1,
  idempotency_key  text,
  input            json,
  output           json,
  error            json,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  deadline_at      timestamptz,
  epoch            bigint NOT NULL,
  last_seq         integer NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id),
  CONSTRAINT runs_status_known CHECK (
    status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
  CONSTRAINT runs_finished_iff_terminal CHECK (
    (status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
  CONSTRAINT runs_priority_known CHECK (priority BETWEEN 0 AND 2),
  CONSTRAINT runs_partition_in_id CHECK (partition = get_byte(uuid_send(run_id), 7))
) PARTITION BY RANGE (run_id);
COMMENT ON TABLE runs IS
  'One row per run: the current state in columns. Partitioned by the day of its run id.';
CREATE INDEX runs_idempotency_key ON runs (workflow, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_live_by_partition ON runs (partition, run_id)
  WHERE status IN ('pending', 'running', 'waiting');
CREATE INDEX runs_finished_by_workflow ON runs (workflow, run_id) WHERE finished_at IS NOT NULL;
CREATE INDEX runs_finished_by_status ON runs (status, run_id) WHERE finished_at IS NOT NULL;

CREATE TABLE run_records (
  run_id    uuid NOT NULL,
  seq       integer NOT NULL CHECK (seq >= 1),
  last_seq  integer NOT NULL CHECK (last_seq >= seq),
  payload   text NOT NULL,
  at        timestamptz NOT NULL,
  ev_seq    integer CHECK (ev_seq >= 1),
  ev_last   integer,
  events    text,
  PRIMARY KEY (run_id, seq),
  CONSTRAINT run_records_events_complete CHECK (
    (ev_seq IS NULL) = (events IS NULL) AND (ev_seq IS NULL) = (ev_last IS NULL) AND
    ev_last >= ev_seq)
) PARTITION BY RANGE (run_id);
COMMENT ON TABLE run_records IS
  'Every state change of every run, in order. Partitioned by the day of its run id.';

CREATE TABLE timeouts (
  run_id      uuid NOT NULL,
  step_index  integer NOT NULL CHECK (step_index >= -1),
  expire_at   timestamptz NOT NULL,
  completed   boolean NOT NULL DEFAULT false,
  PRIMARY KEY (run_id, step_index)
) PARTITION BY RANGE (run_id);
COMMENT ON TABLE timeouts IS
  'Durable timers of runs and steps. Partitioned by the day of its run id.';
CREATE INDEX timeouts_pending ON timeouts (expire_at) WHERE NOT completed;

CREATE TABLE runs_default PARTITION OF runs DEFAULT WITH (fillfactor = 90);
CREATE TABLE run_records_default PARTITION OF run_records DEFAULT;
CREATE TABLE timeouts_default PARTITION OF timeouts DEFAULT;

-- Makes the day partitions of runs, run_records and timeouts for every UTC day from
-- first_day to last_day that has none; returns how many tables it made. Rows the DEFAULT
-- partitions hold for such a day move into the new partition. A partition is created apart
-- and then attached, which takes only a SHARE UPDATE EXCLUSIVE lock on the parent: commits
-- go on meanwhile.
CREATE FUNCTION rf_ensure_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  t text;
  part text;
  lo uuid;
  hi uuid;
  made integer := 0;
BEGIN
  PERFORM pg_advisory_xact_lock(7239811046582319444);
  FOR d IN SELECT g::date FROM generate_series(first_day, last_day, interval '1 day') AS g LOOP
    lo := rf_day_bound(d);
    hi := rf_day_bound(d + 1);
    FOREACH t IN ARRAY ARRAY['runs', 'run_records', 'timeouts'] LOOP
      part := t || '_p' || to_char(d, 'YYYYMMDD');
      CONTINUE WHEN to_regclass(part) IS NOT NULL;
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                     part, t);
      IF t = 'runs' THEN
        EXECUTE format('ALTER TABLE %I SET (fillfactor = 90)', part);
      END IF;
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE run_id >= %L AND run_id < %L '
                     'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                     t || '_default', lo, hi, part);
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     t, part, lo, hi);
      made := made + 1;
    END LOOP;
  END LOOP;
  RETURN made;
END
$$;

-- Retention: removes the runs that finished before `cutoff` and returns how many. First the
-- DEFAULT partitions' expired runs are deleted row by row (at most `max_runs`, oldest id
-- first). Then, oldest day first, a day partition whose day ended before the cutoff is dropped
-- whole (runs, run_records and timeouts of that day), after its runs that are still live or
-- finished after the cutoff are carried over to the DEFAULT partitions; this stops once
-- `max_runs` runs are gone (a partition is never split: one call may remove more than
-- `max_runs`). Finally today's and the next two days' partitions are made if missing.
--
-- Locks: the day's candidates are read without blocking anyone; the drop itself takes ACCESS
-- EXCLUSIVE locks on runs, run_records and timeouts (the group commit's order, so no
-- deadlock) for the short rest of the transaction: commits wait that long. lock_timeout
-- bounds how long commits queue behind a lock this function is still waiting for (a long
-- history query): it fails with 55P03 and retention tries again on its next pass.
CREATE FUNCTION rf_expire(cutoff timestamptz, max_runs bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  p record;
  removed bigint := 0;
  n bigint;
  keep uuid[];
  retried uuid[];
  today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  PERFORM pg_advisory_xact_lock(7239811046582319444);
  PERFORM set_config('lock_timeout', '1s', true);
  -- First the DEFAULT partitions' expired runs, before any lock that stops commits.
  WITH gone AS (
    DELETE FROM runs_default WHERE run_id IN (
      SELECT run_id FROM runs_default WHERE finished_at < cutoff ORDER BY run_id
      LIMIT max_runs)
    RETURNING run_id),
  r AS (DELETE FROM run_records_default WHERE run_id IN (SELECT run_id FROM gone)),
  t AS (DELETE FROM timeouts_default WHERE run_id IN (SELECT run_id FROM gone))
  SELECT count(*) INTO n FROM gone;
  removed := n;
  FOR p IN SELECT c.relname AS name, substr(c.relname, 7) AS suffix,
                  to_date(substr(c.relname, 7), 'YYYYMMDD') AS day
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'runs'::regclass AND c.relname ~ '^runs_p[0-9]{8}$'
            ORDER BY 3 LOOP
    EXIT WHEN removed >= max_runs OR (p.day + 1)::timestamp AT TIME ZONE 'UTC' > cutoff;
    -- Runs that stay: live now, or finished at or after the cutoff. A run finished before the
    -- cutoff can join them only by being retried (made live), which the check under the lock
    -- below sees.
    EXECUTE format('SELECT count(*) FILTER (WHERE finished_at < $1), '
                   'array_agg(run_id) FILTER (WHERE finished_at IS NULL OR finished_at >= $1) '
                   'FROM %I', p.name)
      INTO n, keep USING cutoff;
    LOCK TABLE runs, run_records, timeouts IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('SELECT array_agg(run_id) FROM %I WHERE status IN (''pending'', ''running'', '
                   '''waiting'') AND NOT run_id = ANY($1)', p.name)
      INTO retried USING coalesce(keep, '{}');
    keep := coalesce(keep, '{}') || coalesce(retried, '{}');
    n := n - coalesce(cardinality(retried), 0);
    EXECUTE format('ALTER TABLE runs DETACH PARTITION %I', 'runs_p' || p.suffix);
    EXECUTE format('ALTER TABLE run_records DETACH PARTITION %I', 'run_records_p' || p.suffix);
    EXECUTE format('ALTER TABLE timeouts DETACH PARTITION %I', 'timeouts_p' || p.suffix);
    IF cardinality(keep) > 0 THEN
      EXECUTE format('INSERT INTO runs SELECT * FROM %I WHERE run_id = ANY($1)',
                     'runs_p' || p.suffix) USING keep;
      EXECUTE format('INSERT INTO run_records SELECT * FROM %I WHERE run_id = ANY($1)',
                     'run_records_p' || p.suffix) USING keep;
      EXECUTE format('INSERT INTO timeouts SELECT * FROM %I WHERE run_id = ANY($1)',
                     'timeouts_p' || p.suffix) USING keep;
    END IF;
    EXECUTE format('DROP TABLE %I, %I, %I', 'runs_p' || p.suffix, 'run_records_p' || p.suffix,
                   'timeouts_p' || p.suffix);
    removed := removed + n;
  END LOOP;
  PERFORM rf_ensure_partitions(today, today + 2);
  RETURN removed;
END
$$;

-- Carry the schema-2 rows over: partitions for every day that has runs (and today and the
-- next two days), then the rows.
SELECT rf_ensure_partitions(d, d)
  FROM (SELECT rf_id_day(run_id) AS d FROM runs_v2
        UNION SELECT rf_id_day(run_id) FROM run_records_v2
        UNION SELECT rf_id_day(run_id) FROM timeouts_v2) AS days;
SELECT rf_ensure_partitions((now() AT TIME ZONE 'UTC')::date,
                            (now() AT TIME ZONE 'UTC')::date + 2);
INSERT INTO runs (run_id, partition, workflow, version, status, priority, idempotency_key, input,
                  output, error, created_at, updated_at, finished_at, deadline_at, epoch, last_seq)
  SELECT run_id, partition, workflow, version, status, priority, idempotency_key, input, output,
         error, created_at, updated_at, finished_at, deadline_at, epoch, last_seq
    FROM runs_v2;
INSERT INTO run_records (run_id, seq, last_seq, payload, at, ev_seq, ev_last, events)
  SELECT run_id, seq, last_seq, payload, at, ev_seq, ev_last, events FROM run_records_v2;
INSERT INTO timeouts (run_id, step_index, expire_at, completed)
  SELECT run_id, step_index, expire_at, completed FROM timeouts_v2;

-- The views of 0002 over run_records, now over the partitioned table (same text).
CREATE OR REPLACE VIEW events AS
  SELECT run_id, ev_seq AS seq, ev_last AS last_seq, events AS data, at AS created_at
  FROM run_records WHERE events IS NOT NULL;
CREATE OR REPLACE VIEW run_record_lines AS
SELECT r.run_id,
       r.seq + (l.n - 1)::integer AS seq,
       l.rec::json AS rec
FROM run_records r,
     LATERAL unnest(string_to_array(r.payload, E'\n')) WITH ORDINALITY AS l(rec, n);
DROP TABLE timeouts_v2, run_records_v2, runs_v2;
