-- 0005_import: fewer index entries per imported line (docs/architecture.md, "Import and identity
-- resolution"). Indexes only: no stored value changes.

-- No query looks order lines up by product (the engine answers "who bought X" in memory; the
-- profile reaches lines through their order), so the index cost every imported line an entry
-- for nothing.
DROP INDEX order_items_product;

-- Nick search matches lower(nick) LIKE lower(pattern), which neither engine can answer from an
-- index on nick itself; the index cost every new customer a random-key entry for nothing.
DROP INDEX customers_nick;

-- Phone look-ups are by equality (which implies NOT NULL), so customers without a clear phone
-- need no entry, as for name_hash.
DROP INDEX customers_phone_hash;
CREATE INDEX customers_phone_hash ON customers(phone_hash) WHERE phone_hash IS NOT NULL;
