-- 0009_store_meta: facts about the database itself, one row per key.
--
-- `store_id` names this database for engine snapshots (docs/architecture.md, "Engine
-- snapshot"): a snapshot records the id of the store it was taken from and is used only
-- against that store, so a snapshot file left beside another database (or a copied one that
-- has since diverged: the change-log check catches that) is never loaded. The id is a random
-- value written by the first snapshot, not by this migration (the two backends have no
-- common random function); a row never changes once written.
CREATE TABLE store_meta (
    key        TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
