-- 0001_init: the first schema, covering DESIGN.md's data model.
--
-- Portable SQL for SQLite and PostgreSQL. @ID@ is an auto-assigned BIGINT primary key and
-- @BLOB@ a byte string; the backend expands both. Times are BIGINT seconds since the epoch (UTC),
-- money BIGINT fen, booleans INTEGER 0/1. PII (phone, real name, address) is stored encrypted
-- (*_enc, libsodium secretbox) with a keyed hash beside the phone for exact look-up; the key is
-- never in the database.

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    bit         INTEGER NOT NULL UNIQUE,
    pii_access  INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL
);
INSERT INTO roles (name, bit, pii_access, description) VALUES
    ('admin',     1,  1, '管理员 administrator: everything, including users and tokens'),
    ('manager',   2,  1, '店长 shop owner / manager: dashboards and all customer data'),
    ('operator',  4,  0, '运营 operator: segments, campaigns, coupons, points'),
    ('agent',     8,  0, '客服 customer-service agent: tickets, chats, knowledge base'),
    ('associate', 16, 0, '导购 sales associate: own customers, tasks, KPIs');

CREATE TABLE users (
    id             @ID@,
    login          TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL DEFAULT '',
    role           TEXT NOT NULL REFERENCES roles(name),
    password_hash  TEXT NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    last_login_at  BIGINT
);

CREATE TABLE sessions (
    id            @ID@,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    revoked_at    BIGINT,
    ip            TEXT NOT NULL DEFAULT '',
    user_agent    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id            @ID@,
    user_id       BIGINT NOT NULL REFERENCES users(id),
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- Failed sign-ins, for throttling by account and by address (shared by all huike processes).
CREATE TABLE login_failures (
    id     @ID@,
    login  TEXT NOT NULL,
    ip     TEXT NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX login_failures_login ON login_failures(login, at);
CREATE INDEX login_failures_ip ON login_failures(ip, at);

CREATE TABLE audit_log (
    id          @ID@,
    at          BIGINT NOT NULL,
    actor_id    BIGINT,               -- users.id; NULL for the system or the CLI
    actor       TEXT NOT NULL,        -- login, 'cli' or 'system' (kept if the user is renamed)
    action      TEXT NOT NULL,        -- 'auth.login', 'auth.login_failed', 'user.create', ...
    target      TEXT NOT NULL DEFAULT '',
    ip          TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    details     TEXT NOT NULL DEFAULT '{}'  -- JSON, never secrets or PII
);
CREATE INDEX audit_log_at ON audit_log(at);

CREATE TABLE shops (
    id          @ID@,
    channel     TEXT NOT NULL,        -- taobao, tmall, jd, pdd, douyin, wechat, pos, other
    name        TEXT NOT NULL,
    timezone    TEXT NOT NULL DEFAULT 'Asia/Shanghai',
    created_at  BIGINT NOT NULL,
    UNIQUE (channel, name)
);

-- Foreign keys on the bulk tables (identities, orders, order_items, order_history): the
-- columns that point at customers, shops, identities, products and orders carry no FK
-- constraint. Every writer of these tables is store/ingest_repo.c, which takes the ids from
-- rows it inserted or read in the same transaction, and no parent row is ever deleted
-- (customers are merged, not deleted). On PostgreSQL the per-row FK triggers were about 45 %
-- of an import's time (docs/architecture.md, "Import and identity resolution"). Every other
-- table keeps its constraints.
CREATE TABLE customers (
    id             @ID@,
    nick           TEXT NOT NULL DEFAULT '',
    name_enc       @BLOB@,            -- real name, encrypted
    phone_enc      @BLOB@,            -- +86 form, encrypted
    phone_hash     TEXT,              -- keyed hash of the normalised phone, for exact look-up
    name_hash      TEXT,              -- keyed hash of the real name, for exact look-up
    phone_masked   TEXT,              -- 138****5678, safe to show every role
    email          TEXT,
    province       TEXT NOT NULL DEFAULT '',
    city           TEXT NOT NULL DEFAULT '',
    address_enc    @BLOB@,
    birthday       TEXT,              -- YYYY-MM-DD
    gender         TEXT NOT NULL DEFAULT '',  -- '', 'f', 'm'
    consent_sms    INTEGER NOT NULL DEFAULT 0,
    consent_email  INTEGER NOT NULL DEFAULT 0,
    consent_wechat INTEGER NOT NULL DEFAULT 0,
    custom         TEXT NOT NULL DEFAULT '{}', -- JSON object of custom fields
    merged_into    BIGINT REFERENCES customers(id),
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX customers_phone_hash ON customers(phone_hash);
CREATE INDEX customers_nick ON customers(nick);
CREATE INDEX customers_name_hash ON customers(name_hash) WHERE name_hash IS NOT NULL;
CREATE INDEX customers_merged_into ON customers(merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE identities (
    id           @ID@,
    customer_id  BIGINT NOT NULL,     -- customers(id); no FK constraint, see below
    channel      TEXT NOT NULL,       -- taobao, jd, pdd, douyin, wechat, pos; '*' for phone/email
    kind         TEXT NOT NULL,       -- buyer_id, nick, open_id, union_id, phone, email, device,
                                      -- recipient (weak: masked phone+name+address, hashed)
    value        TEXT NOT NULL,       -- phone/recipient: the keyed hash, never the clear value
    created_at   BIGINT NOT NULL,
    -- value first: look-ups of many values at once (value IN (...)) probe the index per value
    -- on both engines, also in PostgreSQL's generic plans
    UNIQUE (value, kind, channel)
);
CREATE INDEX identities_customer ON identities(customer_id);

CREATE TABLE products (
    id           @ID@,
    shop_id      BIGINT NOT NULL REFERENCES shops(id),
    external_id  TEXT NOT NULL,
    title        TEXT NOT NULL DEFAULT '',
    category     TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    UNIQUE (shop_id, external_id)
);

CREATE TABLE orders (
    id                @ID@,
    shop_id           BIGINT NOT NULL,  -- shops(id); no FK constraint, see below
    external_no       TEXT NOT NULL,
    customer_id       BIGINT NOT NULL,  -- customers(id)
    identity_id       BIGINT,           -- identities(id): the identity the order came with
    status            TEXT NOT NULL,  -- created, paid, shipped, completed, refunded, cancelled
    total_fen         BIGINT NOT NULL DEFAULT 0,  -- goods total before discounts (no postage)
    discount_fen      BIGINT NOT NULL DEFAULT 0,
    postage_fen       BIGINT NOT NULL DEFAULT 0,
    paid_fen          BIGINT NOT NULL DEFAULT 0,  -- what the buyer paid
    refund_fen        BIGINT NOT NULL DEFAULT 0,
    coupon_code       TEXT,
    created_at        BIGINT NOT NULL,
    paid_at           BIGINT,
    shipped_at        BIGINT,
    received_at       BIGINT,
    refunded_at       BIGINT,
    cancelled_at      BIGINT,
    buyer_note        TEXT NOT NULL DEFAULT '',
    seller_note       TEXT NOT NULL DEFAULT '',
    source            TEXT NOT NULL DEFAULT '',  -- import file format or 'api'
    updated_at        BIGINT NOT NULL,
    UNIQUE (external_no, shop_id)  -- number first: batched look-ups, search by order number
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX orders_paid_at ON orders(paid_at);

CREATE TABLE order_items (
    id            @ID@,
    order_id      BIGINT NOT NULL,    -- orders(id); no FK constraint, see below
    line_no       INTEGER NOT NULL,
    item_key      TEXT NOT NULL,      -- product id/sku/title/variant: matches re-imported lines
    placeholder   INTEGER NOT NULL DEFAULT 0, -- 1: made from an order-only export, replaced by details
    product_id    BIGINT,             -- products(id)
    title         TEXT NOT NULL DEFAULT '',
    sku           TEXT NOT NULL DEFAULT '',
    quantity      INTEGER NOT NULL DEFAULT 1,
    unit_price_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen      BIGINT NOT NULL DEFAULT 0,
    refund_fen    BIGINT NOT NULL DEFAULT 0,
    variant       TEXT NOT NULL DEFAULT '',
    category      TEXT NOT NULL DEFAULT '',
    UNIQUE (order_id, item_key)   -- line_no is assigned in order by the importer
);
CREATE INDEX order_items_product ON order_items(product_id);

-- Status changes and other revisions of an order (the order's history).
CREATE TABLE order_history (
    id           @ID@,
    order_id     BIGINT NOT NULL,     -- orders(id); no FK constraint, see below
    at           BIGINT NOT NULL,
    change       TEXT NOT NULL,       -- 'created', 'status', 'refund', 'amounts'
    old_value    TEXT NOT NULL DEFAULT '',
    new_value    TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX order_history_order ON order_history(order_id);

CREATE TABLE events (
    id           @ID@,
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    shop_id      BIGINT REFERENCES shops(id),
    type         TEXT NOT NULL,       -- browse, cart, favourite, coupon_claim, coupon_use, review, ...
    at           BIGINT NOT NULL,
    properties   TEXT NOT NULL DEFAULT '{}',  -- JSON
    external_id  TEXT,                -- the sender's id, for idempotent ingest
    identity_id  BIGINT REFERENCES identities(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX events_customer ON events(customer_id, at);
CREATE UNIQUE INDEX events_external ON events(type, external_id);

CREATE TABLE tags (
    id           @ID@,
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL DEFAULT 'manual',  -- manual, rule, model
    expression   TEXT,                -- for rule tags: a segment expression
    color        TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE customer_tags (
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    tag_id       BIGINT NOT NULL REFERENCES tags(id),
    source       TEXT NOT NULL DEFAULT 'manual',  -- manual, rule, model
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (customer_id, tag_id)
);
CREATE INDEX customer_tags_tag ON customer_tags(tag_id);

CREATE TABLE segments (
    id            @ID@,
    name          TEXT NOT NULL UNIQUE,
    expression    TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    cached_count  BIGINT,
    counted_at    BIGINT,
    created_by    BIGINT REFERENCES users(id),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

-- Line items that arrived (Taobao ExportOrderDetailList) before the order they belong to. Keyed
-- by channel, not shop: detail lists name no shop, and a channel's order numbers are unique.
CREATE TABLE staged_items (
    id             @ID@,
    channel        TEXT NOT NULL,
    order_no       TEXT NOT NULL,
    item_key       TEXT NOT NULL,
    product_ext_id TEXT NOT NULL DEFAULT '',
    sku            TEXT NOT NULL DEFAULT '',
    title          TEXT NOT NULL DEFAULT '',
    variant        TEXT NOT NULL DEFAULT '',
    category       TEXT NOT NULL DEFAULT '',
    quantity       INTEGER NOT NULL DEFAULT 1,
    unit_price_fen BIGINT NOT NULL DEFAULT 0,
    paid_fen       BIGINT NOT NULL DEFAULT 0,
    refund_fen     BIGINT NOT NULL DEFAULT 0,
    status         TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL,
    UNIQUE (channel, order_no, item_key)
);

-- Identity resolution: each merge of two customers, what it moved, and pairs never to merge.
CREATE TABLE customer_merges (
    id          @ID@,
    winner_id   BIGINT NOT NULL REFERENCES customers(id),
    loser_id    BIGINT NOT NULL REFERENCES customers(id),
    reason      TEXT NOT NULL,        -- e.g. 'phone', 'union_id', 'email', 'manual'
    at          BIGINT NOT NULL,
    undone_at   BIGINT,
    undone_by   TEXT
);
CREATE INDEX customer_merges_winner ON customer_merges(winner_id);
CREATE INDEX customer_merges_loser ON customer_merges(loser_id);

CREATE TABLE merge_moves (
    merge_id  BIGINT NOT NULL REFERENCES customer_merges(id),
    kind      TEXT NOT NULL,          -- identity, order, event, tag
    row_id    BIGINT NOT NULL,        -- identities.id, orders.id, events.id or tags.id (tag:
                                      -- the loser's customer_tags row with that tag_id moved)
    PRIMARY KEY (merge_id, kind, row_id)
);

CREATE TABLE never_merge (
    customer_a  BIGINT NOT NULL REFERENCES customers(id),  -- the smaller id
    customer_b  BIGINT NOT NULL REFERENCES customers(id),
    reason      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (customer_a, customer_b)
);

-- File imports run as background jobs (POST /api/v1/imports) or from the CLI.
CREATE TABLE imports (
    id                 @ID@,
    status             TEXT NOT NULL,     -- queued, running, done, failed
    format             TEXT NOT NULL DEFAULT 'auto',
    shop               TEXT NOT NULL DEFAULT '',
    files              TEXT NOT NULL DEFAULT '[]', -- JSON: [{name, path, size}]
    bytes_total        BIGINT NOT NULL DEFAULT 0,
    bytes_done         BIGINT NOT NULL DEFAULT 0,
    rows_total         BIGINT NOT NULL DEFAULT 0,
    orders_created     BIGINT NOT NULL DEFAULT 0,
    orders_updated     BIGINT NOT NULL DEFAULT 0,
    orders_unchanged   BIGINT NOT NULL DEFAULT 0,
    items_created      BIGINT NOT NULL DEFAULT 0,
    customers_created  BIGINT NOT NULL DEFAULT 0,
    rejected           BIGINT NOT NULL DEFAULT 0,
    errors             TEXT NOT NULL DEFAULT '[]', -- JSON: the first rejected rows
    message            TEXT NOT NULL DEFAULT '',   -- why it failed
    created_by         BIGINT REFERENCES users(id),
    created_at         BIGINT NOT NULL,
    started_at         BIGINT,
    finished_at        BIGINT
);
