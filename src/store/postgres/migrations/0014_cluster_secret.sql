-- 0014_cluster_secret: the secret the daemons sharing this database sign the requests they send
-- each other on nobody's behalf with (auth/peer_signature.h: a schedule's fire forwarded to the
-- daemon holding its key's partition), so that a daemon with --auth on admits them. One row,
-- made here from the server's strong random source (gen_random_uuid: pg_strong_random); read by
-- every daemon at start. Whoever can read this table can write every run already.

CREATE TABLE cluster_secret (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  secret text NOT NULL CHECK (length(secret) >= 32)
);

INSERT INTO cluster_secret (secret)
VALUES (encode(sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'));
