-- 0013_product_ids_utf8: product ids longer than products.external_id keeps (263 bytes) are cut
-- on a UTF-8 character boundary (src/ingest/import.c, product_ext). Before, the cut fell at the
-- 263rd byte, which can be the middle of a character of a Chinese sku ("sku:" and the 商家编码)
-- or product id: PostgreSQL refused such a value (the order's batch failed and the order was
-- rejected), SQLite stored text that is not UTF-8. This mends what SQLite stores kept, in
-- products.external_id and staged_items.product_ext_id (the product id of a waiting line, cut
-- the same way): a value that ends in an incomplete character loses those last 1-3 bytes, which
-- is exactly what the cut gives now, so the next import of the same long id finds its product
-- again. A value that ends in a whole character is valid already and is not touched; PostgreSQL
-- never stored a broken one, so it has nothing to do.
--
-- The tail is read from the last three bytes (hex, upper case, so comparing two digits as text
-- compares the byte): a last byte from C0 is a lead byte alone (1); a continuation byte after a
-- lead of a three- or four-byte character (E0 and up) is that character's first two bytes (2);
-- two continuation bytes after a four-byte lead (F0 and up) are three bytes of four (3).
--
-- Two stored ids can mend to one: "sku:" and the first 86 characters of two skus that differ
-- from the 87th on, in its first byte. The cut joins such ids into one product now (as it
-- always joined ids that share their first 263 bytes), so the migration does too: the product
-- already stored under the mended id, else the first of them, keeps it and takes the title and
-- category it lacks from the others (the first that has one, as an import fills them); the
-- others' order lines move to it and they are deleted. The engines read products by id and external id
-- (bought(product)), so when any product id is mended the change log asks every engine to
-- reload, as 0006 does.
-- @sqlite
CREATE TEMP TABLE cut_0013 (tbl TEXT NOT NULL, id BIGINT NOT NULL, d INTEGER NOT NULL);
INSERT INTO cut_0013 (tbl, id, d)
SELECT tbl, id, d FROM (
    SELECT tbl, id,
           CASE WHEN substr(h, 5, 2) >= 'C0' THEN 1
                WHEN substr(h, 5, 2) < '80' THEN 0
                WHEN substr(h, 3, 2) >= 'E0' THEN 2
                WHEN substr(h, 3, 2) >= '80' AND substr(h, 3, 2) < 'C0'
                     AND substr(h, 1, 2) >= 'F0' THEN 3
                ELSE 0 END AS d
    FROM (SELECT 'products' AS tbl, id, hex(substr(CAST(external_id AS BLOB), -3, 3)) AS h
          FROM products WHERE length(CAST(external_id AS BLOB)) >= 3
          UNION ALL
          SELECT 'staged_items', id, hex(substr(CAST(product_ext_id AS BLOB), -3, 3))
          FROM staged_items WHERE length(CAST(product_ext_id AS BLOB)) >= 3))
WHERE d > 0;
CREATE TEMP TABLE mend_0013 (id BIGINT PRIMARY KEY, shop_id BIGINT NOT NULL, ext TEXT NOT NULL,
                             keep BIGINT);
INSERT INTO mend_0013 (id, shop_id, ext)
SELECT p.id, p.shop_id,
       CAST(substr(CAST(p.external_id AS BLOB), 1, length(CAST(p.external_id AS BLOB)) - c.d)
            AS TEXT)
FROM products p JOIN cut_0013 c ON c.tbl = 'products' AND c.id = p.id;
UPDATE mend_0013
SET keep = COALESCE((SELECT q.id FROM products q
                     WHERE q.shop_id = mend_0013.shop_id AND q.external_id = mend_0013.ext),
                    (SELECT min(m.id) FROM mend_0013 m
                     WHERE m.shop_id = mend_0013.shop_id AND m.ext = mend_0013.ext));
INSERT INTO changes (customer_id, kind, at)
SELECT 0, 'all', COALESCE((SELECT MAX(at) FROM changes), 0)
WHERE EXISTS (SELECT 1 FROM mend_0013);
UPDATE products
SET title = CASE WHEN title <> '' THEN title
                 ELSE COALESCE((SELECT p.title FROM mend_0013 k JOIN products p ON p.id = k.id
                                WHERE k.keep = products.id AND k.keep <> k.id AND p.title <> ''
                                ORDER BY k.id LIMIT 1), '') END,
    category = CASE WHEN category <> '' THEN category
                    ELSE COALESCE((SELECT p.category FROM mend_0013 k JOIN products p ON p.id = k.id
                                   WHERE k.keep = products.id AND k.keep <> k.id
                                         AND p.category <> ''
                                   ORDER BY k.id LIMIT 1), '') END
WHERE id IN (SELECT keep FROM mend_0013 WHERE keep <> id);
UPDATE order_items SET product_id = (SELECT m.keep FROM mend_0013 m
                                     WHERE m.id = order_items.product_id)
WHERE product_id IN (SELECT id FROM mend_0013 WHERE keep <> id);
DELETE FROM products WHERE id IN (SELECT id FROM mend_0013 WHERE keep <> id);
UPDATE products SET external_id = (SELECT m.ext FROM mend_0013 m WHERE m.id = products.id)
WHERE id IN (SELECT id FROM mend_0013 WHERE keep = id);
UPDATE staged_items
SET product_ext_id = CAST(substr(CAST(product_ext_id AS BLOB), 1,
                                 length(CAST(product_ext_id AS BLOB))
                                     - (SELECT d FROM cut_0013 c
                                        WHERE c.tbl = 'staged_items' AND c.id = staged_items.id))
                          AS TEXT)
WHERE id IN (SELECT id FROM cut_0013 WHERE tbl = 'staged_items');
DROP TABLE mend_0013;
DROP TABLE cut_0013;
-- @both
