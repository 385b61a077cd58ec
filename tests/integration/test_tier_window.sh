#!/usr/bin/env bash
# The tier window's spend when the orders inside every event's window come
# summed (docs/design.md): at the batch's edges the orders count one by one,
# and a held refund whose time lies before the batch's events makes the
# batch run again with the customer's every order.
source "$(dirname "$0")/lib.sh"
TEST_PROGRAM=$LY_SOURCE_DIR/tests/integration/tier_window/program.yaml
setup_case tier_window
trap 'status=$?; kill_worker; teardown_case $status' EXIT

ce() { # ce CUSTOMER ID TYPE TIME DATA: a structured-mode CloudEvent
	printf '%s\t{"specversion":"1.0","id":"%s","source":"urn:test:window","type":"%s","time":"%s","data":%s}\n' \
		"$1" "$2" "$3" "$4" "$5"
}
paid() { # paid CUSTOMER ORDER TIME TOTAL
	ce "$1" "$2-paid" order.paid "$3" \
		"{\"customer_id\":\"$1\",\"order_id\":\"$2\",\"total\":$4,\"currency\":\"TRY\",\"items\":[{\"sku\":\"s\",\"category\":\"home\",\"quantity\":1,\"unit_price\":$4}]}"
}
produce() { kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_ORDERS" -K $'\t' || fail "kcat -P"; }

# The first batch: history, and a refund held for an order still to come.
{
	paid w-1 o0 2025-12-01T10:00:00Z 100000
	ce w-1 r-early order.refunded 2026-03-01T10:00:00Z '{"customer_id":"w-1","order_id":"o-late","amount":10000}'
	paid w-1 o1 2026-03-03T10:00:00Z 200000
	paid w-2 p0 2025-06-01T10:00:00Z 100000
	paid w-2 p1 2025-12-01T10:00:00Z 200000
} | produce
start_worker
wait_consumed 5
[ "$(sql "SELECT count(*) FROM held_refunds")" = 1 ] || fail "the refund is not held"

# The second batch, in one poll.
{
	paid w-1 o-late 2026-03-05T10:00:00Z 50000
	paid w-2 p2 2026-05-15T10:00:00Z 30000
	paid w-2 p3 2026-07-01T10:00:00Z 50000
} | produce
wait_consumed 8

# w-2, p2 (2026-05-15): p0 (the window's edge, loaded) + p1 (summed) =
# 300000; p3 (2026-07-01): p0 has left: p1 + p2 = 230000.
# w-1, o-late (2026-03-05): o0 + o1 = 300000. The refund held since
# 2026-03-01 sees o0 only; summing the batch's window (o0 + o1) would have
# said 300000, so the batch ran again with every order of w-1.
got=$(sql "SELECT customer_id, event_id, rule_id, delta_available FROM ledger
           WHERE rule_id LIKE 'seen-%' AND delta_available > 0
           ORDER BY customer_id, event_time" | tr '\t' ' ')
want="w-1 r-early seen-refund 1000
w-1 o1-paid seen-order 1000
w-1 o-late-paid seen-order 3000
w-2 p1-paid seen-order 1000
w-2 p2-paid seen-order 3000
w-2 p3-paid seen-order 2300"
[ "$got" = "$want" ] || fail "ledger:
$got
want:
$want"
[ "$(sql "SELECT count(*) FROM held_refunds")" = 0 ] || fail "the refund is still held"
grep -q 'customer w-1: an event outside the tier window loaded; loading it whole' \
	"$CASE_DIR/loyaltyd.log" || fail "the batch did not run again for w-1"
[ "$(sql "SELECT tier FROM customers WHERE customer_id = 'w-2'")" = silver ] ||
	fail "w-2's tier: $(sql "SELECT tier FROM customers WHERE customer_id = 'w-2'")"
check_verify
stop_worker

# A refund of a customer with a tier, with no rule reading the window: the
# window is summed newest first until it reaches the tier's min_spend. k-1
# keeps gold at exactly its min_spend (k2 + k1 = 600000 once k3 is
# refunded); f-1 falls below it and is made due at the refund's time.
TEST_PROGRAM=$LY_SOURCE_DIR/tests/integration/tier_window/tiers.yaml
setup_case tier_window_tiers
trap 'status=$?; kill_worker; teardown_case $status' EXIT
{
	paid k-1 k1 2026-01-05T10:00:00Z 300000
	paid k-1 k2 2026-01-10T10:00:00Z 300000
	paid k-1 k3 2026-01-15T10:00:00Z 300000
	paid f-1 f1 2026-01-05T10:00:00Z 350000
	paid f-1 f2 2026-01-10T10:00:00Z 300000
} | produce
start_worker
wait_consumed 5
{
	ce k-1 k3-refund order.refunded 2026-03-01T10:00:00Z '{"customer_id":"k-1","order_id":"k3"}'
	ce f-1 f2-refund order.refunded 2026-03-01T10:00:00Z '{"customer_id":"f-1","order_id":"f2","amount":100000}'
} | produce
wait_consumed 7
got=$(sql "SELECT customer_id, tier, to_char(tier_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')
           FROM customers ORDER BY customer_id" | tr '\t' ' ')
want="f-1 gold 2026-03-01 10:00
k-1 gold 2027-01-05 10:00"
[ "$got" = "$want" ] || fail "tiers and their due times after the refunds:
$got
want:
$want"
stop_worker
"$LOYALTYCTL" tick --now 2026-03-02T00:00:00Z >/dev/null || fail "tick"
got=$(sql "SELECT customer_id, tier FROM customers ORDER BY customer_id" | tr '\t' ' ')
[ "$got" = "f-1 silver
k-1 gold" ] || fail "tiers after the tick: $got"
check_verify
log "test_tier_window: ok"
