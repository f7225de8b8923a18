-- 0013_history_bytes: how many bytes of finished-run history each namespace keeps, for the
-- quota retained_history_bytes (quota/quota.h, README "Quotas").
--
-- runs.history_bytes is the size of the run's log as the engine frames it (store/run_log.h:
-- [u32 len][record] per record). The group commit writes it with every runs row it writes
-- (detail::UpsertRuns), and a run's last records always rewrite its row (the status changes),
-- so a finished run's row holds its whole log. No counter row: a per-namespace counter would
-- be one hot row every finishing run of the namespace updates, across shards and instances.
-- Instead every daemon sums the column over the finished rows every few seconds
-- (PgHistoryStore::RefreshBytes), by workflow through runs_finished_bytes (an index-only scan
-- of one partial index: only finished rows are in it), and adds the workflows up per namespace.
-- Retention drops whole partitions, so the sum falls with no extra write.
--
-- ADD COLUMN with a constant default rewrites nothing (PostgreSQL 11+). Rows that finished
-- before this migration get their size from their run_records rows: n records in one row are
-- n lines (n - 1 newlines) of `payload`, so the framed size is octet_length + 3n + 1.
-- That reads every finished run's records once: on a large history the migration takes as
-- long as that read (and rewrites the finished runs rows).

ALTER TABLE runs ADD COLUMN history_bytes bigint NOT NULL DEFAULT 0;

UPDATE runs u SET history_bytes = coalesce(
  (SELECT sum(octet_length(r.payload) + 3 * (r.last_seq - r.seq + 1) + 1)
     FROM run_records r WHERE r.run_id = u.run_id), 0)
WHERE finished_at IS NOT NULL;

CREATE INDEX runs_finished_bytes ON runs (workflow) INCLUDE (history_bytes)
  WHERE finished_at IS NOT NULL;
