-- 0009_audit: the audit log of every daemon on this database (auth/audit_log.h,
-- src/api/README.md): one row per mutation that reached a /v1 route, denied ones included.
-- Rows older than --audit-retention are deleted by a periodic job of each daemon.

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  at_ms bigint NOT NULL,
  subject text NOT NULL,
  namespace text NOT NULL,
  method text NOT NULL,
  route text NOT NULL,
  target jsonb NOT NULL,
  status integer NOT NULL,
  request_id text NOT NULL DEFAULT ''
);

-- GET /v1/audit: one namespace, newest first (by id), optionally bounded in time.
CREATE INDEX audit_log_namespace_id ON audit_log (namespace, id DESC);
-- Retention: a range delete by age.
CREATE INDEX audit_log_at_ms ON audit_log (at_ms);
