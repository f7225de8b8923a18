-- 0012_queued_runs: the status 'queued' (a run held back by its workflow's concurrency limit,
-- engine/flow_control.h). It is live: recovery loads it (runs_live_by_partition) and it has no
-- finished_at.

ALTER TABLE runs DROP CONSTRAINT runs_status_known;
ALTER TABLE runs ADD CONSTRAINT runs_status_known CHECK (
  status IN ('queued', 'pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled'));

DROP INDEX runs_live_by_partition;
CREATE INDEX runs_live_by_partition ON runs (partition, run_id)
  WHERE status IN ('queued', 'pending', 'running', 'waiting');
