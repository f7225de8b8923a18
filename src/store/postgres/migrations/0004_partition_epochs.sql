-- 0004_partition_epochs: partitions move between instances one at a time.
--
-- Until 0003 an instance took all of its shard's partitions at start, stealing
-- them from whoever held them, under one epoch per shard. Several daemons on one
-- database now share the partitions: a lease is taken only when it is free,
-- expired or already the taker's own (store/postgres/pg_store.cc), so each
-- partition a shard holds has an epoch of its own, and the fence a group commit
-- runs first checks every (partition, epoch) pair it writes for.
--
-- The runs table keeps the writer's epoch per row (runs.epoch) as before; a row
-- is now written with its own partition's epoch.

-- Fencing inside a commit: raises (aborting the whole transaction) unless `holder`
-- still holds each of `parts` with the matching element of `epochs`.
CREATE FUNCTION rf_fence_each(parts smallint[], holder text, epochs bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF cardinality(parts) <> cardinality(epochs) OR
     (SELECT count(*) FROM partition_leases l
        JOIN unnest(parts, epochs) AS h(p, e) ON l.partition = h.p AND l.epoch = h.e
       WHERE l.owner = holder) <> cardinality(parts) THEN
    RAISE EXCEPTION 'ringflow: partition leases lost' USING ERRCODE = 'RF001';
  END IF;
END
$$;

-- Takers compare expires_at with the database clock, never their own.
COMMENT ON TABLE partition_leases IS
  'Partition ownership: owner, fencing epoch and lease expiry per partition. A lease is taken '
  'only when free, expired or already the taker''s; renewals extend expires_at.';
