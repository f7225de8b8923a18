-- 0008_secrets: the secrets of every namespace (auth/secret_service.h, src/api/README.md).
--
-- A value is kept sealed only: AES-256-GCM under the daemons' --secrets-key-file, with the
-- namespace and name as associated data (a sealed value copied to another row does not open).
-- key_id is the public fingerprint of the key that sealed it. Each daemon reloads the table
-- every few seconds, so a secret put or deleted on one daemon reaches the others within that.

CREATE TABLE secrets (
  namespace text NOT NULL,
  name text NOT NULL,
  sealed bytea NOT NULL,
  key_id text NOT NULL,
  created_ms bigint NOT NULL,
  updated_ms bigint NOT NULL,
  PRIMARY KEY (namespace, name)
);
