-- 0011_identities_key: the identities' unique key (value, kind, channel) becomes a named unique
-- index, identities_key, that an initial load into a store without identities can drop and build
-- again at its end, like its other load indexes (docs/architecture.md, "Identity key index"):
-- its values are keyed hashes and account ids in random order, and kept row by row it was what
-- made large loads slow (3M lines into SQLite: 20 % of the time). Every other writer builds it
-- again before it looks identities up or adds one (ingest_repo.h,
-- hk_irepo_identities_key_ensure), so no two rows ever share a key.
-- @sqlite
-- The inline UNIQUE of 0001 is an automatic index SQLite cannot drop: the table is made again
-- with the same rows and ids. events.identity_id refers to identities(id), and with foreign keys
-- on, DROP TABLE deletes row by row and checks each against events: the references are set
-- aside first (an index makes each check a probe, not a scan) and put back after.
CREATE TABLE identities_0011 (
    id           @ID@,
    customer_id  BIGINT NOT NULL,     -- customers(id); no FK constraint (0001)
    channel      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
INSERT INTO identities_0011 (id, customer_id, channel, kind, value, created_at)
    SELECT id, customer_id, channel, kind, value, created_at FROM identities ORDER BY id;
CREATE TABLE events_identity_0011 (event_id BIGINT PRIMARY KEY, identity_id BIGINT NOT NULL);
INSERT INTO events_identity_0011 (event_id, identity_id)
    SELECT id, identity_id FROM events WHERE identity_id IS NOT NULL;
CREATE INDEX events_identity_0011_ix ON events(identity_id);
UPDATE events SET identity_id = NULL WHERE identity_id IS NOT NULL;
DROP TABLE identities;
ALTER TABLE identities_0011 RENAME TO identities;
UPDATE events SET identity_id = (SELECT s.identity_id FROM events_identity_0011 s
                                 WHERE s.event_id = events.id)
    WHERE id IN (SELECT event_id FROM events_identity_0011);
DROP INDEX events_identity_0011_ix;
DROP TABLE events_identity_0011;
CREATE INDEX identities_customer ON identities(customer_id);
-- @postgres
-- 0001's UNIQUE is the constraint identities_value_kind_channel_key; found by what it is rather
-- than by that name, so no unique constraint is left beside the index.
DO $$
DECLARE c name;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'identities'::regclass AND contype = 'u' LOOP
        EXECUTE format('ALTER TABLE identities DROP CONSTRAINT %I', c);
    END LOOP;
END $$;
-- @both
-- value first: look-ups of many values at once (value IN (...)) probe the index per value on
-- both engines, also in PostgreSQL's generic plans
CREATE UNIQUE INDEX IF NOT EXISTS identities_key ON identities(value, kind, channel);
