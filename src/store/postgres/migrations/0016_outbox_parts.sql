-- 0016_outbox_parts: one outbox row per group commit again, naming every partition it holds
-- events of, instead of one row per partition (0006).
--
-- Why: a group commit of a shard writes runs of many partitions (256 partitions over the
-- shards: a batch of 9 runs touched 9 of them), so 0006's rule wrote about one outbox row per
-- run and commit, and the relay locked, read and deleted each. That was a third of the
-- database's time under W3 (2 cores, pg_stat_statements: the outbox's insert, take and delete
-- against the runs and run_records writes), and the relay fell behind the commits by
-- thousands of rows a second.
--
-- The rule stays "the holder relays": a relay takes a row whose `parts` it holds any of, hands
-- on the lines of runs in the partitions it holds, and writes the other lines back as rows of
-- one partition each (the 0006 form: partition set, parts NULL), which their holders take. A
-- commit's partitions are all its instance's when it commits, so the split happens only when
-- partitions moved between a commit and its relay.
--
-- Rolling upgrade: a relay of an older version reads a row with neither column as one from
-- before 0006 and delivers all of it (to its own streams and Redis), so until every daemon
-- runs this version a stream without Redis may miss the events of such a commit; reconnecting
-- with Last-Event-ID reads them from the history.
ALTER TABLE outbox ADD COLUMN parts smallint[];
COMMENT ON COLUMN outbox.parts IS
  'Partitions whose runs the row names (one row per group commit); NULL: see partition.';
