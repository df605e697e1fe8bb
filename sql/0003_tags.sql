-- Tags (docs/segments.md, "Tags"): a description, and the preset a tag was made from.
-- Rule tags' memberships are not stored: every engine computes them from the expression
-- (docs/architecture.md, "Tags"); customer_tags holds manual (and, later, model) tags only.
ALTER TABLE tags ADD COLUMN description TEXT NOT NULL DEFAULT '';
-- 'high_aov', 'frequent', 'coupon', 'sleeping', 'new' or 'category:<name>'; NULL for tags
-- staff made.
ALTER TABLE tags ADD COLUMN preset TEXT;

-- Presets once created: a preset is made at most once, so deleting it is for good.
CREATE TABLE tag_presets (
    key         TEXT NOT NULL PRIMARY KEY,
    created_at  BIGINT NOT NULL
);
