#!/usr/bin/env bash
# Refunds that come before their orders (docs/lifecycle.md): one is held and
# applied when its order comes; one whose order never comes is dead-lettered
# by the scheduler once older than refunds.hold_days, byte for byte with the
# DLQ headers, and not before; two schedulers running at once do it once.
source "$(dirname "$0")/lib.sh"
setup_case held_refund
export LOYALTY_REFUNDS_HOLD_DAYS=30
trap 'status=$?; kill_worker; teardown_case $status' EXIT

ce() { # ce ID TYPE TIME DATA: a structured-mode CloudEvent for customer c-1
	printf '{"specversion":"1.0","id":"%s","source":"urn:test:held","type":"%s","time":"%s","data":%s}' \
		"$1" "$2" "$3" "$4"
}
{
	printf 'c-1\t%s\n' "$(ce r-1 order.refunded 2026-03-01T10:00:00Z '{"customer_id":"c-1","order_id":"o-late","amount":20000}')"
	printf 'c-1\t%s\n' "$(ce r-2 order.cancelled 2026-03-02T10:00:00Z '{"customer_id":"c-1","order_id":"o-never"}')"
	printf 'c-1\t%s\n' "$(ce p-1 order.paid 2026-03-05T10:00:00Z '{"customer_id":"c-1","order_id":"o-late","total":100000,"currency":"TRY","items":[{"sku":"s","category":"home","quantity":1,"unit_price":100000}]}')"
} | kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_ORDERS" -K $'\t' || fail "kcat -P"
start_worker
wait_consumed 3
# Held, then applied right after its order: base-earn floor(100000/100) =
# 1000 pending, order-bonus 25 and big-basket nothing; the refund of 20000
# reverses floor(1000*20000/100000) = 200 pending and floor(25*0.2) = 5.
got=$(sql "SELECT event_id, event_type, coalesce(rule_id, '-'), delta_available, delta_pending
           FROM ledger WHERE customer_id = 'c-1' ORDER BY entry_id" | tr '\t' ' ')
want="p-1 order.paid base-earn 0 1000
p-1 order.paid order-bonus 25 0
r-1 order.refunded base-earn 0 -200
r-1 order.refunded order-bonus -5 0"
[ "$got" = "$want" ] || fail "ledger:
$got
want:
$want"
[ "$(sql "SELECT event_id || ' ' || order_id FROM held_refunds")" = "r-2 o-never" ] ||
	fail "held: $(sql "SELECT event_id FROM held_refunds")"
[ "$(sql "SELECT refunded FROM orders WHERE order_id = 'o-late'")" = 20000 ] || fail "order not refunded"

# 30 days after the cancellation's time it is still held; then it goes.
"$LOYALTYCTL" tick --now 2026-04-01T10:00:00Z >/dev/null || fail "tick"
[ "$(sql "SELECT count(*) FROM held_refunds")" = 1 ] || fail "dead-lettered too early"
"$LOYALTYCTL" tick --now 2026-04-01T10:00:01Z >"$CASE_DIR/tick1" &
"$LOYALTYCTL" tick --now 2026-04-01T10:00:01Z >"$CASE_DIR/tick2" || fail "tick"
wait $! || fail "tick"
[ "$(sql "SELECT count(*) FROM held_refunds")" = 0 ] || fail "not dead-lettered"
# Once published, a dead letter leaves the outbox (it holds the input as it
# came); the topic then has it exactly once.
for _ in $(seq 100); do
	[ "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ] && break
	sleep 0.1
done
topic_dump_json "$LOYALTY_TOPICS_DLQ" >"$CASE_DIR/dlq.json"
python3 - "$CASE_DIR/dlq.json" "$LOYALTY_TOPICS_ORDERS" <<'PY' || fail "the dead letter"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(msgs) == 1, msgs
m = msgs[0]
h = {k: v for k, v in zip(m["headers"][0::2], m["headers"][1::2])}
assert m["key"] == "c-1", m
assert json.loads(m["payload"])["id"] == "r-2", m["payload"]
assert h["dlq.error.code"] == "order_not_found", h
assert h["dlq.error.message"] == "order o-never was not paid within 30 days", h
assert h["dlq.source.topic"] == sys.argv[2] and h["dlq.source.offset"] == "1", h
PY
check_verify
stop_worker

# loyaltyd's own scheduler (wall clock as now, long after 19 March 2026)
# releases the order's 800 pending points by itself.
LOYALTY_SCHEDULER_INTERVAL_MS=200 start_worker
for _ in $(seq 100); do
	[ "$(sql "SELECT pending FROM balances WHERE customer_id = 'c-1'")" = 0 ] && break
	sleep 0.1
done
[ "$(sql "SELECT pending FROM balances WHERE customer_id = 'c-1'")" = 0 ] ||
	fail "loyaltyd's scheduler released nothing"
[ "$(sql "SELECT count(*) FROM ledger WHERE event_type = 'points.released' AND event_id = 'p-1'
          AND delta_available = 800 AND event_time = '2026-03-19T10:00:00Z'")" = 1 ] ||
	fail "the release: $(sql "SELECT * FROM ledger WHERE event_type = 'points.released'")"
check_verify
stop_worker
log "held refunds: applied with their order, dead-lettered once after hold_days; loyaltyd's own scheduler releases"
