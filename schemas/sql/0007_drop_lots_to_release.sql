-- 0007_drop_lots_to_release.sql: an index nothing reads.
--
-- lots_to_release (unreleased lots by available_at) served a scheduler
-- that looked for lots to release across all customers. The scheduler
-- has gone by customers.next_due_at (customers_due) since 0003, and no
-- statement filters lots by available_at alone, yet every new pending lot
-- and every release still paid for the index: an insert and, on release,
-- a non-HOT update.
DROP INDEX lots_to_release;
