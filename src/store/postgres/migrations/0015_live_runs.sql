-- 0015_live_runs: which runs are live, in a narrow table of its own, for start-up and takeover
-- (detail::SelectLiveRecords, detail::SelectLiveTimers).
--
-- Why not the partial index runs_live_by_partition any more: a run's finishing update is not
-- HOT (status and finished_at are indexed), so every run that finished leaves a dead entry in
-- that index until the next vacuum of its day partition, and autovacuum reaches a day partition
-- of a million rows only every few hundred thousand updates. A start right after a burst (the
-- usual crash) walked all those entries and fetched each one's heap tuple to find it dead:
-- 1M runs retained with 10,000 live, 955 ms of a 1.6 s start. In live_runs a finished run
-- leaves a dead tuple of a few dozen bytes instead, and autovacuum's threshold follows the
-- live count (a few thousand rows), so the scan at start reads megabytes, not a run per entry.
--
-- Who keeps it: the daemon, in the group commit's upsert of runs (detail::UpsertRuns: one
-- statement, no trigger). Triggers keep it for every other writer: a daemon of an older
-- version still running during a rolling upgrade (its runs would otherwise be missing here
-- when a newer daemon takes its partitions over), or an operator's SQL. They are row triggers
-- whose WHEN skips the sessions that set rf.live_runs_kept = on (the daemon's, PgConn::Connect)
-- without calling any function: statement triggers with transition tables cost the group
-- commit 11 % of its throughput (W3 on 2 cores, three 20 s runs each way). The daemon deletes
-- only finished runs (ForgetRuns, retention). Moving rows between day partitions keeps run
-- ids and statuses, so the list must not change: rf_ensure_partitions (replaced below) moves
-- DEFAULT's rows into a day partition not yet attached (no trigger fires there, while the
-- delete from DEFAULT would fire one), so it sets rf.live_runs_kept for the move and puts
-- the caller's value back; rf_expire's carry-over inserts through runs, which lists a live
-- run that is listed already.
--
-- An older daemon's start-up reads runs with status filters and no partial index left to use:
-- it is slower, still right.

CREATE TABLE live_runs (
  run_id    uuid PRIMARY KEY,
  partition smallint NOT NULL
);
COMMENT ON TABLE live_runs IS
  'The runs that are not finished (status queued, pending, running or waiting): the daemon keeps it, triggers on runs for other writers.';

CREATE FUNCTION rf_live_runs_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM live_runs WHERE run_id = OLD.run_id;
  ELSIF NEW.status IN ('queued', 'pending', 'running', 'waiting') THEN
    INSERT INTO live_runs (run_id, partition) VALUES (NEW.run_id, NEW.partition)
    ON CONFLICT (run_id) DO NOTHING;
  ELSE
    DELETE FROM live_runs WHERE run_id = NEW.run_id;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER runs_live_written AFTER INSERT OR UPDATE ON runs FOR EACH ROW
  WHEN (current_setting('rf.live_runs_kept', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION rf_live_runs_row();
CREATE TRIGGER runs_live_deleted AFTER DELETE ON runs FOR EACH ROW
  WHEN (current_setting('rf.live_runs_kept', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION rf_live_runs_row();

-- 0003's function, with the move of DEFAULT's rows done as the daemon's sessions write.
CREATE OR REPLACE FUNCTION rf_ensure_partitions(first_day date, last_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  d date;
  t text;
  part text;
  lo uuid;
  hi uuid;
  made integer := 0;
  kept text := current_setting('rf.live_runs_kept', true);
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
      PERFORM set_config('rf.live_runs_kept', 'on', true);
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE run_id >= %L AND run_id < %L '
                     'RETURNING *) INSERT INTO %I SELECT * FROM moved',
                     t || '_default', lo, hi, part);
      PERFORM set_config('rf.live_runs_kept', coalesce(kept, ''), true);
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                     t, part, lo, hi);
      made := made + 1;
    END LOOP;
  END LOOP;
  RETURN made;
END
$$;

INSERT INTO live_runs (run_id, partition)
SELECT run_id, partition FROM runs WHERE status IN ('queued', 'pending', 'running', 'waiting');

DROP INDEX runs_live_by_partition;
