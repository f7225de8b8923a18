-- Types: JSON documents are `json`, not `jsonb`, and records are `text`: jsonb
-- rejects \u0000 (which run input and http step output may contain: one such
-- value would fail a whole group commit), reorders keys and keeps one of
-- duplicate keys. Nothing queries inside them.
-- Hot tables (run_records, events) have no foreign key to runs: it tripled the
-- cost of each insert; retention deletes a run's rows from every table in one
-- transaction instead.

-- 0001_init: the first schema of the PostgreSQL store.
--
-- Applied once by the migrator (`ringflow migrate up`) inside one transaction and recorded in
-- schema_migrations, which the migrator creates itself. So: no IF NOT EXISTS, no BEGIN/COMMIT,
-- nothing that cannot run in a transaction (no CREATE INDEX CONCURRENTLY).
--
-- How the store writes: a shard commits all mutations of one reactor tick as one transaction of
-- multi-row statements. Every state change of a run is a row of run_records, the event-sourced
-- truth (a run is rebuilt by applying its records in seq order, engine/record.h); runs, steps
-- and attempts hold the same state in columns for the API's queries and are written in the same
-- transaction, and so are the run's events (the outbox) and its timers.
--
-- Conventions.
-- * Times are timestamptz (the engine counts unix milliseconds).
-- * Run ids are uuid: UUIDv7-shaped and time-ordered (engine/run_id.h), and PostgreSQL compares
--   uuids bytewise, so ORDER BY run_id DESC is newest first and a run id is a listing cursor.
-- * Statuses are the engine's names (engine/run.h) as text with a CHECK: psql shows them as
--   the API does and a bad value is refused here too. Every CHECK is a backstop only: one
--   violation aborts the whole tick's transaction, so the store validates first.
-- * Every table below runs references runs ON DELETE CASCADE: retention removes a terminal run
--   and everything it owns with one DELETE on runs. A row of a child table therefore needs its
--   runs row first (the batch inserts runs before the other tables).
-- * runs deliberately has no foreign key to workflow_versions: each run insert would take a
--   KEY SHARE lock on the same version row, and thousands of concurrent lockers of one row per
--   second turn into MultiXact churn. The engine only starts runs of versions it registered.

-- Workflow names and their state. A DELETE of a workflow sets `deleted` (no new runs) and keeps
-- every version, because runs that already started still need theirs; a later PUT clears it.
CREATE TABLE workflows (
  name        text PRIMARY KEY,
  latest      integer NOT NULL CHECK (latest >= 1),  -- workflow_versions.version of the newest
  deleted     boolean NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE workflows IS
  'One row per workflow name: its latest version and whether it is deleted.';

-- Every registered version of every workflow, immutable once written: a run executes the
-- version it started with, and GET /v1/workflows/{name}?version=N returns it. The registry is
-- loaded from here at start.
CREATE TABLE workflow_versions (
  name        text NOT NULL REFERENCES workflows (name),
  version     integer NOT NULL CHECK (version >= 1),
  source      text NOT NULL,   -- the definition document exactly as registered
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
COMMENT ON TABLE workflow_versions IS 'Every version of every workflow definition; never updated.';

-- One row per run: its current state in columns, for GET /v1/runs?workflow=&status=, the
-- dead-letter listing, recovery and retention. The state itself is rebuilt from run_records;
-- this row is updated in the same transaction as every record that changes it.
CREATE TABLE runs (
  run_id           uuid PRIMARY KEY,
  partition        smallint NOT NULL,  -- the owner partition; also byte 7 of run_id
  workflow         text NOT NULL,
  version          integer NOT NULL,
  status           text NOT NULL,
  priority         smallint NOT NULL DEFAULT 1,  -- engine Priority: 0 critical, 1 default, 2 low
  idempotency_key  text,                         -- the start's Idempotency-Key header, if any
  input            json ,
  output           json ,
  error            json ,          -- why the run failed: message and failing step
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  finished_at      timestamptz,    -- set exactly while the status is terminal
  deadline_at      timestamptz,    -- the run timeout; NULL: none
  -- Fencing: the lease epoch (partition_leases) of the owner that wrote this row last. A
  -- transition's UPDATE checks it, so an owner that lost its lease cannot overwrite a newer one.
  epoch            bigint NOT NULL,
  last_seq         integer NOT NULL DEFAULT 0,  -- the last record reflected in this row
  CONSTRAINT runs_status_known CHECK (
    status IN ('pending', 'running', 'waiting', 'succeeded', 'failed', 'cancelled')),
  CONSTRAINT runs_finished_iff_terminal CHECK (
    (status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
  CONSTRAINT runs_priority_known CHECK (priority BETWEEN 0 AND 2),
  CONSTRAINT runs_partition_in_id CHECK (partition = get_byte(uuid_send(run_id), 7))
) WITH (fillfactor = 90);  -- room for HOT updates: most transitions change no indexed column
COMMENT ON TABLE runs IS
  'One row per run: the current state in columns, for listings, recovery and retention.';

-- A start with an Idempotency-Key creates one run per (workflow, key); a repeat finds it.
CREATE UNIQUE INDEX runs_idempotency_key ON runs (workflow, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
-- No indexes for listings (GET /v1/runs, /v1/dead-letter): while one instance owns every
-- partition, the owner shards answer them from memory, and each index here would be
-- rewritten by every status change of every run (most of a commit's cost). They come with
-- the multi-instance work, where listings must see other instances' runs.
-- Recovery: the owner of a partition loads its non-terminal runs at start or takeover. Small:
-- it holds only live runs.
CREATE INDEX runs_live_by_partition ON runs (partition, run_id)
  WHERE status IN ('pending', 'running', 'waiting');
-- Retention needs no index: the owner knows which runs expired and deletes them by run_id.

-- The event-sourced log: the state changes of a run (engine/record.h Record), numbered from 1
-- per run. Loading a run applies its records in seq order; nothing else is needed to rebuild
-- it. One row holds the records one commit made for one run (seq .. last_seq, one compact JSON
-- record per line): a 3-step run is 3 rows, not 8, which is most of what a commit costs.
-- Written once, never updated.
CREATE TABLE run_records (
  run_id    uuid NOT NULL,
  seq       integer NOT NULL CHECK (seq >= 1),       -- the first record's number
  last_seq  integer NOT NULL CHECK (last_seq >= seq),
  payload   text NOT NULL,                           -- EncodeRecord's JSON, one record per line
  at        timestamptz NOT NULL,                    -- when the last of them happened
  PRIMARY KEY (run_id, seq)
);
COMMENT ON TABLE run_records IS
  'Every state change of every run, in order: a run is rebuilt by applying them.';

-- Steps and attempts have no tables of their own: every attempt's start, end and
-- error is a record in run_records (the engine is event-sourced), so a second copy
-- in columns would double the writes of every transition for no query the API makes.


-- The transactional outbox, and the SSE history. Each event is inserted in the transaction of
-- the state change that produced it, so none is lost or published for a change that did not
-- commit. The relay drains undelivered events in id order in batches
--   SELECT ... WHERE relayed_at IS NULL ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED
-- hands them to the SSE hubs (later Redis) and sets relayed_at. The rows stay: GET
-- /v1/runs/{id}/events replays a run's history from here (seq > Last-Event-ID) until retention
-- deletes the run. ids are not in commit order (a sequence value is taken before commit), so
-- the relay must not keep a high-water mark of ids: it selects by relayed_at.
-- One row holds the events one commit produced for one run (seq .. last_seq), as a JSON
-- array of {"seq","type","run","at_ms","step"?,"data"?}: the SSE frames' data, in order.
CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  run_id      uuid NOT NULL,
  seq         integer NOT NULL CHECK (seq >= 1),  -- the first event's number (SSE event id)
  last_seq    integer NOT NULL CHECK (last_seq >= seq),
  workflow    text NOT NULL,
  data        json NOT NULL,
  created_at  timestamptz NOT NULL,               -- when the change happened (engine time)
  relayed_at  timestamptz                         -- NULL until the relay delivered it
);
COMMENT ON TABLE events IS
  'Transactional outbox and SSE history: every event of every run, written with its change.';
-- The relay's drain index (id WHERE relayed_at IS NULL) comes with the relay, in the
-- multi-instance work: until then every instance publishes its own events in-process.
-- SSE history and resume of one run; unique, so an event number is never given twice.
CREATE UNIQUE INDEX events_by_run ON events (run_id, seq);

-- Durable timers: retry backoffs, delays, approval and step timeouts, the run deadline. Loaded
-- at start (the live runs' rows, through runs_live_by_partition and this primary key), fired
-- on time, and set completed in the transaction of the transition the timer caused, so a timer
-- fires once even across a crash. One timer per step: re-arming updates the row.
CREATE TABLE timeouts (
  run_id      uuid NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
  step_index  integer NOT NULL CHECK (step_index >= -1),  -- -1: the run deadline
  expire_at   timestamptz NOT NULL,
  completed   boolean NOT NULL DEFAULT false,
  PRIMARY KEY (run_id, step_index)
);
COMMENT ON TABLE timeouts IS
  'Durable timers of runs and steps; completed with the transition they cause.';
-- The next timers due; holds only the pending ones.
CREATE INDEX timeouts_pending ON timeouts (expire_at) WHERE NOT completed;

-- Which instance owns which partition, with a fencing epoch. An instance takes or renews a
-- lease (owner, expires_at) by heartbeat; a takeover raises the epoch, and every transition
-- checks the writer's epoch (runs.epoch), so an instance that paused or lost its lease cannot
-- overwrite a newer owner's state. Rows are never deleted: an epoch only grows.
CREATE TABLE partition_leases (
  partition   smallint PRIMARY KEY CHECK (partition BETWEEN 0 AND 255),
  owner       text NOT NULL,  -- the holding instance's id
  epoch       bigint NOT NULL CHECK (epoch >= 1),
  expires_at  timestamptz NOT NULL
);
COMMENT ON TABLE partition_leases IS
  'Partition ownership: owner, fencing epoch and lease expiry per partition.';

-- Fencing inside a commit: raises (aborting the whole transaction) unless the caller still
-- holds every one of `parts` with its epoch. The first statement of every group commit.
CREATE FUNCTION rf_fence(parts smallint[], holder text, held_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT count(*) FROM partition_leases
       WHERE partition = ANY(parts) AND owner = holder AND epoch = held_epoch)
     <> cardinality(parts) THEN
    RAISE EXCEPTION 'ringflow: partition leases lost' USING ERRCODE = 'RF001';
  END IF;
END
$$;
