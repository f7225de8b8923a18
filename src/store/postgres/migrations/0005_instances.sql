-- 0005_instances: where each instance answers, so any daemon accepts any API request.
--
-- A daemon that does not hold a run's partition forwards the request to the
-- instance that does (api/forward.cc): it finds the holder's id in
-- partition_leases and its address here. Shard 0 of each instance upserts its
-- row every second (its lease beat); a row whose instance stopped stays until
-- the id is used again, and is never read once that instance holds no lease.

CREATE TABLE instances (
  id text PRIMARY KEY,          -- PgOptions::instance, partition_leases.owner
  advertise text NOT NULL,      -- host:port its peers reach its HTTP API at (--advertise)
  seen_at timestamptz NOT NULL  -- the last beat
);
