-- The change log: one row per customer whose derived values (engine aggregates, RFM, segment
-- counts) a committed write may have changed, written in the same transaction as the write
-- (store.c at commit, from the ids the repositories touched). Every huike process follows it by
-- id (a cursor) to keep its in-memory engine current. customer_id 0 with kind 'all' means
-- "reload everything"; kind 'rfm' and 'segment' rows (customer_id 0) announce configuration
-- changes. `at` is wall-clock seconds, kept only to prune old rows.
CREATE TABLE changes (
    id           @ID@,
    customer_id  BIGINT NOT NULL,
    kind         TEXT NOT NULL DEFAULT 'customer',  -- customer, order, all, rfm, segment
    at           BIGINT NOT NULL
);

-- RFM scoring configuration per shop (shop_id 0 = the global default), as JSON text written
-- and read by the RFM service.
CREATE TABLE rfm_config (
    shop_id     BIGINT NOT NULL PRIMARY KEY,
    config      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  BIGINT
);
