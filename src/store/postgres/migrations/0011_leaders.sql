-- 0011_leaders: leader election for the cluster's singleton jobs (history retention, audit
-- retention; store/leader_election.h). One row per job is its lease: the holder (an instance
-- id), the fencing term and the expiry, always judged by this database's clock, never a
-- daemon's. With Redis the term comes from Redis (INCR) and is written here when the winner
-- takes the lease; without Redis (or while it is away) the daemons contend here directly. Either
-- way this row is what a singleton write checks, inside its own transaction (rf_leader_fence), so
-- a deposed leader (a newer term exists, or its lease expired) writes nothing.

CREATE TABLE leader_leases (
  job text PRIMARY KEY,
  holder text NOT NULL DEFAULT '',
  term bigint NOT NULL DEFAULT 0,
  expires_at timestamptz NOT NULL DEFAULT '-infinity'
);

-- Takes the lease of `p_job` for `p_holder` when it is free, expired or already the holder's.
-- p_term 0: the next term; > 0: exactly that term (one Redis gave), which must exceed the
-- current one. Returns (won, term): the new term, or the current one when refused.
CREATE FUNCTION rf_leader_acquire(p_job text, p_holder text, p_term bigint, p_ttl_ms bigint)
RETURNS TABLE (won boolean, term bigint) LANGUAGE plpgsql AS $$
DECLARE
  cur leader_leases%ROWTYPE;
  next bigint;
BEGIN
  INSERT INTO leader_leases (job) VALUES (p_job) ON CONFLICT (job) DO NOTHING;
  SELECT * INTO cur FROM leader_leases l WHERE l.job = p_job FOR UPDATE;
  IF cur.expires_at > now() AND cur.holder <> p_holder THEN
    RETURN QUERY SELECT false, cur.term;
    RETURN;
  END IF;
  next := CASE WHEN p_term > 0 THEN p_term ELSE cur.term + 1 END;
  IF next <= cur.term THEN
    RETURN QUERY SELECT false, cur.term;
    RETURN;
  END IF;
  UPDATE leader_leases l SET holder = p_holder, term = next,
         expires_at = now() + p_ttl_ms * interval '1 millisecond'
   WHERE l.job = p_job;
  RETURN QUERY SELECT true, next;
END
$$;

-- Extends the lease while `p_holder` still holds it at `p_term` and it has not expired.
CREATE FUNCTION rf_leader_renew(p_job text, p_holder text, p_term bigint, p_ttl_ms bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE leader_leases SET expires_at = now() + p_ttl_ms * interval '1 millisecond'
   WHERE job = p_job AND holder = p_holder AND term = p_term AND expires_at > now();
  RETURN FOUND;
END
$$;

-- Ends the lease at once (a clean stop): the next contender takes it without waiting.
CREATE FUNCTION rf_leader_release(p_job text, p_holder text, p_term bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE leader_leases SET expires_at = '-infinity'
   WHERE job = p_job AND holder = p_holder AND term = p_term;
  RETURN FOUND;
END
$$;

-- The fence of a singleton write: raises (aborting the caller's transaction) unless `p_term` is
-- the current term of `p_job` and its lease has not expired by this database's clock.
CREATE FUNCTION rf_leader_fence(p_job text, p_term bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM leader_leases
                  WHERE job = p_job AND term = p_term AND expires_at > now()) THEN
    RAISE EXCEPTION 'ringflow: term % of job % is not the current leader''s', p_term, p_job
      USING ERRCODE = 'RF002';
  END IF;
END
$$;

-- Audit retention as one fenced transaction: at most `p_limit` entries older than `p_before_ms`.
CREATE FUNCTION rf_audit_trim(p_job text, p_term bigint, p_before_ms bigint, p_limit bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
BEGIN
  PERFORM rf_leader_fence(p_job, p_term);
  DELETE FROM audit_log WHERE id IN
    (SELECT id FROM audit_log WHERE at_ms < p_before_ms ORDER BY at_ms LIMIT p_limit);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
