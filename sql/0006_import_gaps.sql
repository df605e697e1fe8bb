-- 0006_import_gaps: what an import job reports, and provinces in one form (docs/import.md).

-- Detail lines an import kept for orders it has not seen yet (Taobao detail list before its
-- order list), as `huike import --json` prints them (items_waiting); GET /api/v1/imports/{id}
-- returns it in the job's result.
ALTER TABLE imports ADD COLUMN items_waiting BIGINT NOT NULL DEFAULT 0;

-- Customers stored before provinces were normalised (src/ingest/region.c) may hold the short
-- forms sellers and marketplaces write (广东, 上海, 内蒙古, 广西壮族, 香港特区 …); an import fills
-- empty profile fields but never overwrites one, so they would stay short and a filter on
-- province = 广东省 would miss them. Every spelling region.c reads as a province, surrounding
-- spaces included, becomes its official full name; full names and values that name no province
-- (海外, a city) are left as they are. Only customers hold a province (in clear: it is not PII
-- here); orders do not.
CREATE TABLE province_fix_0006 (short TEXT PRIMARY KEY, full_name TEXT NOT NULL);
INSERT INTO province_fix_0006 (short, full_name) VALUES
    ('北京', '北京市'), ('天津', '天津市'), ('上海', '上海市'), ('重庆', '重庆市'),
    ('河北', '河北省'), ('山西', '山西省'), ('辽宁', '辽宁省'), ('吉林', '吉林省'),
    ('黑龙江', '黑龙江省'), ('江苏', '江苏省'), ('浙江', '浙江省'), ('安徽', '安徽省'),
    ('福建', '福建省'), ('江西', '江西省'), ('山东', '山东省'), ('河南', '河南省'),
    ('湖北', '湖北省'), ('湖南', '湖南省'), ('广东', '广东省'), ('海南', '海南省'),
    ('四川', '四川省'), ('贵州', '贵州省'), ('云南', '云南省'), ('陕西', '陕西省'),
    ('甘肃', '甘肃省'), ('青海', '青海省'), ('台湾', '台湾省'),
    ('内蒙古', '内蒙古自治区'),
    ('广西', '广西壮族自治区'), ('广西壮族', '广西壮族自治区'), ('广西自治区', '广西壮族自治区'),
    ('西藏', '西藏自治区'),
    ('宁夏', '宁夏回族自治区'), ('宁夏回族', '宁夏回族自治区'), ('宁夏自治区', '宁夏回族自治区'),
    ('新疆', '新疆维吾尔自治区'), ('新疆维吾尔', '新疆维吾尔自治区'),
    ('新疆自治区', '新疆维吾尔自治区'),
    ('香港', '香港特别行政区'), ('香港特区', '香港特别行政区'),
    ('澳门', '澳门特别行政区'), ('澳门特区', '澳门特别行政区'),
    -- full names written with spaces around them
    ('北京市', '北京市'), ('天津市', '天津市'), ('上海市', '上海市'), ('重庆市', '重庆市'),
    ('河北省', '河北省'), ('山西省', '山西省'), ('辽宁省', '辽宁省'), ('吉林省', '吉林省'),
    ('黑龙江省', '黑龙江省'), ('江苏省', '江苏省'), ('浙江省', '浙江省'), ('安徽省', '安徽省'),
    ('福建省', '福建省'), ('江西省', '江西省'), ('山东省', '山东省'), ('河南省', '河南省'),
    ('湖北省', '湖北省'), ('湖南省', '湖南省'), ('广东省', '广东省'), ('海南省', '海南省'),
    ('四川省', '四川省'), ('贵州省', '贵州省'), ('云南省', '云南省'), ('陕西省', '陕西省'),
    ('甘肃省', '甘肃省'), ('青海省', '青海省'), ('台湾省', '台湾省'),
    ('内蒙古自治区', '内蒙古自治区'), ('广西壮族自治区', '广西壮族自治区'),
    ('西藏自治区', '西藏自治区'), ('宁夏回族自治区', '宁夏回族自治区'),
    ('新疆维吾尔自治区', '新疆维吾尔自治区'), ('香港特别行政区', '香港特别行政区'),
    ('澳门特别行政区', '澳门特别行政区');

-- The engines in memory (and a saved engine snapshot) hold the old values: one 'all' row in the
-- change log makes every follower reload, only when something is rewritten. `at` is only for
-- pruning; the newest time already logged keeps the row from looking older than its neighbours.
INSERT INTO changes (customer_id, kind, at)
SELECT 0, 'all', COALESCE((SELECT MAX(at) FROM changes), 0)
WHERE EXISTS (SELECT 1 FROM customers c JOIN province_fix_0006 f ON f.short = trim(c.province)
              WHERE c.province <> f.full_name);

UPDATE customers
SET province = (SELECT f.full_name FROM province_fix_0006 f WHERE f.short = trim(customers.province))
WHERE trim(province) IN (SELECT short FROM province_fix_0006)
  AND province NOT IN (SELECT full_name FROM province_fix_0006);

DROP TABLE province_fix_0006;
