#!/usr/bin/env bash
# Limits, budgets and codes with two replicas: 4,000 sample events applied
# by two loyaltyd in one group, in small batches, so both spend the one
# budget at once. The budget is crossed and never exceeded (the ledger's
# credits equal rule_budgets.spent), and the ledger, limit counts, codes and
# balances equal the independent computation. A gift card whose code was
# taken beforehand by another customer gets the secret's next draw, and
# the other customer's code is left alone.
source "$(dirname "$0")/lib.sh"
setup_case rules
N=4000
export LOYALTY_BATCH_MAX_EVENTS=25
W1="" W2=""
trap 'status=$?; for p in $W1 $W2; do kill -9 "$p" 2>/dev/null || true; done; teardown_case $status' EXIT

"$LOYALTYCTL" produce --count $N --seed 14 --customers 400 --stdout | cut -f3 >"$CASE_DIR/events.jsonl"
read -r source id customer < <(python3 - "$CASE_DIR/events.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["type"] == "order.paid" and e["data"]["total"] >= 300000:
        print(e["source"], e["id"], e["data"]["customer_id"])
        break
PY
)
[ -n "$id" ] || fail "the sample traffic has no order that earns a gift card"
codes_py() { python3 "$LY_SOURCE_DIR/tests/integration/codes.py" "$LOYALTY_CODES_SECRET" "$@"; }
taken=$(codes_py "$source" "$id" big-order-gift 0)
sql "INSERT INTO codes (customer_id, code, kind, amount, percent, min_order, valid_until,
                        event_source, event_id, rule_id, program_version)
     VALUES ('squatter', '$taken', 'discount', 500, 0, 0, '2027-01-01T00:00:00Z',
             'urn:test:rules', 'squat', 'manual', 'none')" >/dev/null

# Both replicas hold half the partitions (3 of each of the 5 input
# topics) before the traffic comes, so both work on it.
start_worker
W1=$WORKER_PID
start_worker
W2=$WORKER_PID
for _ in $(seq 600); do
	[ "$(grep -c '"msg":"partitions assigned: 15"' "$CASE_DIR/loyaltyd.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c '"msg":"partitions assigned: 15"' "$CASE_DIR/loyaltyd.log")" -ge 2 ] ||
	fail "the two replicas did not share the partitions within 60 s"
"$LOYALTYCTL" produce --count $N --seed 14 --customers 400 2>/dev/null || fail "produce"
wait_consumed $N
for WORKER_PID in $W1 $W2; do stop_worker; done

# The order's gift card is the next draw; the squatter keeps its code.
got=$(sql "SELECT code FROM codes WHERE event_id = '$id' AND rule_id = 'big-order-gift'
           AND customer_id = '$customer'")
[ "$got" = "$(codes_py "$source" "$id" big-order-gift 1)" ] ||
	fail "order $id: code $got, want the second draw (the first, $taken, was taken)"
[ "$(sql "SELECT customer_id || ' ' || event_id FROM codes WHERE code = '$taken'")" = "squatter squat" ] ||
	fail "the squatter's code $taken changed hands"
sql "DELETE FROM codes WHERE customer_id = 'squatter'" >/dev/null

check_balances --budget-crossed
check_verify
check_no_double_apply
applied=$(sql "SELECT count(*) FROM processed_events")
[ "$applied" = $N ] || fail "processed_events holds $applied events, want $N"
# Both replicas applied events (so both spent from the budget).
grep '"msg":"stopped: ' "$CASE_DIR/loyaltyd.log" | grep -q '"msg":"stopped: 0 batches' &&
	fail "one replica applied nothing: $(grep '"msg":"stopped: ' "$CASE_DIR/loyaltyd.log")"
retries=$(grep -c 'was spent by another worker meanwhile' "$CASE_DIR/loyaltyd.log" || true)
log "$retries batches ran again because the other replica spent the budget first"
echo "rules: ok"
