-- 0012_short_hashes: the keyed look-up hashes of PII (core/pii.h, hk_pii_hash) are 32 hex digits
-- (16 bytes) instead of 64. They sit in customers.phone_hash and name_hash and are the value of
-- every phone and recipient identity, so they were a large part of the bytes a bulk import writes
-- and of the keys it sorts when it builds identities_key and customers_phone_hash
-- (docs/architecture.md, "Import and identity resolution"); 128 bits still make a collision
-- between two phones, names or recipients astronomically unlikely.
--
-- The new hash is the first 16 bytes of the same keyed 32-byte BLAKE2b, so a stored value
-- becomes the new one by keeping its first 32 digits: no key is needed here (it is never in the
-- database), and every look-up after this finds what it found before. Only values of 64 digits
-- are cut, so a store that already has short ones is left as it is. The other identity kinds
-- hold account ids, e-mails and device ids as sent, never a hash, and are not touched; no other
-- table holds a look-up hash (events, orders and merges refer to identities and customers by
-- id), and the engines read none, so no change-log row is needed.
--
-- identities_key (value, kind, channel) stays unique: two values that shared their first 32
-- digits would make this UPDATE fail, and the migration with it (one transaction: nothing
-- changes), rather than merge two buyers' keys silently. Where a killed initial load left the
-- index missing, its build after the migrations (hk_store_migrate) fails the same way.
UPDATE customers
SET phone_hash = CASE WHEN length(phone_hash) = 64 THEN substr(phone_hash, 1, 32)
                      ELSE phone_hash END,
    name_hash = CASE WHEN length(name_hash) = 64 THEN substr(name_hash, 1, 32)
                     ELSE name_hash END
WHERE length(phone_hash) = 64 OR length(name_hash) = 64;

UPDATE identities SET value = substr(value, 1, 32)
WHERE kind IN ('phone', 'recipient') AND length(value) = 64;
