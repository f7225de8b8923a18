-- 0006_members: partitions are spread over the live instances.
--
-- Every instance beats its row in `instances` each second (shard 0), advertised
-- or not, and says how many shards it runs: the engine puts every live instance
-- (a beat within the lease time) on a consistent-hash ring with one point set
-- per shard (standbys only while no other instance lives), and each instance takes the partitions the ring gives it and hands
-- over the others (engine/engine.cc, Rebalance). A clean stop deletes its row;
-- rows of instances gone for a day are deleted by the others' hourly upkeep.

ALTER TABLE instances ADD COLUMN shards integer NOT NULL DEFAULT 1 CHECK (shards > 0);
-- --standby: on the ring only while no instance without it is alive.
ALTER TABLE instances ADD COLUMN standby boolean NOT NULL DEFAULT false;
CREATE INDEX instances_seen ON instances (seen_at);

-- The outbox row of a group commit now names its partition (one row per partition a commit
-- wrote events for), and each instance's relay drains the rows of the partitions it holds:
-- the events of a run reach the streams on its holder, not whichever relay came first.
-- Rows without a partition (written before this migration) are drained by any relay.
ALTER TABLE outbox ADD COLUMN partition smallint;
