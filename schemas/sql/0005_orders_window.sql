-- 0005_orders_window.sql: the tier window read from an index alone.
--
-- A batch sums the net spend of a customer's orders inside the tier window
-- instead of loading them (docs/design.md, "The tier window"). With the
-- order id and the amounts in the index, the sum and the look-up of the
-- orders at the window's edges are index-only scans: a customer with
-- thousands of orders costs a walk down one index range, not a table read
-- per order.
DROP INDEX orders_paid_at;
CREATE INDEX orders_window ON orders (customer_id, paid_at) INCLUDE (order_id, total, refunded);
