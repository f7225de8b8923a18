-- 0007_api_keys: the API keys of every daemon on this database (auth/, src/api/README.md).
--
-- Only the SHA-256 of a key's token is kept: the token itself is shown once, when
-- the key is created. A revoked key keeps its row (revoked_ms set) so its id is
-- never reused; each daemon reloads the live keys every few seconds, so a key
-- created or revoked on one daemon reaches the others within that time.

CREATE TABLE api_keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  namespace text NOT NULL,
  role text NOT NULL,
  sha256 text NOT NULL UNIQUE,   -- hex SHA-256 of the whole token
  created_ms bigint NOT NULL,
  expires_ms bigint NOT NULL,    -- 0: never
  revoked_ms bigint              -- NULL: live
);
