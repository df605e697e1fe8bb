-- 0010_history_changes_only: order_history records changes of an order (status, amounts,
-- refund), nothing else. Imports wrote a 'created' row for every new order too; it said only what
-- the order's own row says (created_at, status, source), was a sixth of the rows an import
-- writes, and nothing reads it (docs/architecture.md, "Speed"). Imports no longer write it, and
-- the rows stores already hold go, so every store's history means the same.
DELETE FROM order_history WHERE change = 'created';
