-- 0010_schedules: schedules of every namespace (src/schedule/, src/api/README.md Schedules).
--
-- name is qualified (base/tenancy.h: "ns/name", or the plain name in default). A schedule
-- belongs to the partition of its name: the daemon holding that partition fires it. cursor_ms
-- is the last fire time dealt with (started, skipped or dropped) and only moves forward; each
-- fire's run carries the Idempotency-Key "schedule:<name>@<unix seconds>", so a fire repeated
-- after a crash meets the run it started.

CREATE TABLE schedules (
  name text PRIMARY KEY,
  partition integer NOT NULL,
  spec text NOT NULL,
  paused boolean NOT NULL,
  created_ms bigint NOT NULL,
  updated_ms bigint NOT NULL,
  cursor_ms bigint NOT NULL,
  last_run text NOT NULL
);
CREATE INDEX schedules_partition ON schedules (partition);
