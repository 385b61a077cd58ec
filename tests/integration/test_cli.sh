#!/usr/bin/env bash
# loyaltyctl and loyaltyd as an operator meets them: usage errors exit 2,
# bad files are refused with file:line:col, a program that issues codes
# needs codes.secret, migrate is safe from several replicas at once,
# balance/history (the ledger, then the codes) print what they promise, and
# verify catches a balance that no longer matches its ledger.
source "$(dirname "$0")/lib.sh"
setup_case cli

expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$CASE_DIR/out" 2>"$CASE_DIR/err" || got=$?
	[ "$got" = "$want" ] || { cat "$CASE_DIR/out" "$CASE_DIR/err" >&2; fail "'$*' exited $got, want $want"; }
}

# Usage errors: exit 2 with the usage on stderr.
expect_exit 2 "$LOYALTYCTL"
grep -q '^usage: loyaltyctl' "$CASE_DIR/err" || fail "no usage printed"
expect_exit 2 "$LOYALTYCTL" frobnicate
expect_exit 2 "$LOYALTYCTL" --bogus migrate
expect_exit 2 "$LOYALTYCTL" balance
expect_exit 2 "$LOYALTYCTL" balance a b
expect_exit 2 "$LOYALTYCTL" produce --count -5
expect_exit 2 "$LOYALTYCTL" check
expect_exit 2 "$LOYALTYD" --bogus
expect_exit 2 "$LOYALTYD" extra-argument
expect_exit 0 "$LOYALTYCTL" --help

# Bad files: refused with their position.
expect_exit 1 "$LOYALTYCTL" check "$LY_SOURCE_DIR/tests/unit/data/program/unknown-key.yaml"
grep -qF 'unknown-key.yaml:9:5: unknown key "iff"' "$CASE_DIR/err" || fail "check: $(cat "$CASE_DIR/err")"
expect_exit 0 "$LOYALTYCTL" check "$TEST_PROGRAM"
grep -q 'on order.paid: 6' "$CASE_DIR/out" || fail "check summary: $(cat "$CASE_DIR/out")"
printf 'kafka:\n  group_id: x\n  brokerz: b:9092\n' >"$CASE_DIR/bad.yaml"
expect_exit 1 "$LOYALTYCTL" --config "$CASE_DIR/bad.yaml" migrate
grep -qF "bad.yaml:3:3: unknown setting \"kafka.brokerz\"" "$CASE_DIR/err" || fail "config: $(cat "$CASE_DIR/err")"
LOYALTY_BATCH_MAX_EVENTS=0 expect_exit 1 "$LOYALTYCTL" migrate
grep -q 'LOYALTY_BATCH_MAX_EVENTS' "$CASE_DIR/err" || fail "env bounds: $(cat "$CASE_DIR/err")"
LOYALTY_PROGRAM="$LY_SOURCE_DIR/tests/unit/data/program/unknown-key.yaml" expect_exit 1 "$LOYALTYD"
grep -qF 'unknown-key.yaml:9:5' "$CASE_DIR/err" || fail "loyaltyd with a bad program: $(cat "$CASE_DIR/err")"

# The whole language loads and check summarises it.
expect_exit 0 "$LOYALTYCTL" check "$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml"
grep -q '^rules     25' "$CASE_DIR/out" || fail "check summary: $(cat "$CASE_DIR/out")"

# Codes need their key: loyaltyd refuses a program that issues codes
# without one, and a short key anywhere; the key is never shown.
LOYALTY_CODES_SECRET= expect_exit 1 "$LOYALTYD"
grep -q 'rule \\"big-order-gift\\" issues codes but codes.secret is empty' "$CASE_DIR/err" ||
	fail "loyaltyd without codes.secret: $(cat "$CASE_DIR/err")"
LOYALTY_CODES_SECRET=hunter2 expect_exit 1 "$LOYALTYCTL" migrate
grep -qF 'LOYALTY_CODES_SECRET: must be empty or at least 16 bytes' "$CASE_DIR/err" ||
	fail "short codes.secret: $(cat "$CASE_DIR/err")"
if grep -q hunter2 "$CASE_DIR/err"; then fail "the codes' key was shown: $(cat "$CASE_DIR/err")"; fi

LOYALTY_HTTP_LISTEN=nowhere expect_exit 1 "$LOYALTYD"
grep -q 'http.listen: expected host:port' "$CASE_DIR/err" || fail "loyaltyd accepted a bad http.listen: $(cat "$CASE_DIR/err")"

# migrate from four replicas at once on a new schema: all succeed, once.
export LOYALTY_POSTGRES_SCHEMA="${LOYALTY_POSTGRES_SCHEMA}_m"
pids=()
for _ in 1 2 3 4; do
	"$LOYALTYCTL" migrate >/dev/null 2>"$CASE_DIR/migrate.err" &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "concurrent migrate: $(cat "$CASE_DIR/migrate.err")"; done
[ "$(sql "SELECT count(*) FROM schema_migrations")" = "$(ls "$LY_SOURCE_DIR"/schemas/sql/*.sql | wc -l)" ] ||
	fail "schema_migrations after concurrent migrate"
export LOYALTY_POSTGRES_SCHEMA="${LOYALTY_POSTGRES_SCHEMA%_m}"

# A little traffic, then the read side.
"$LOYALTYCTL" produce --count 200 --seed 31 --customers 20 2>/dev/null || fail "produce"
start_worker
wait_consumed 200
stop_worker
customer=$(sql "SELECT customer_id FROM balances WHERE pending > 0 ORDER BY 1 LIMIT 1")
read -r available pending < <(sql "SELECT available, pending FROM balances WHERE customer_id = '$customer'")
expect_exit 0 "$LOYALTYCTL" balance "$customer" --json
python3 - "$CASE_DIR/out" "$customer" "$available" "$pending" <<'PY' || fail "balance --json"
import json, sys
b = json.load(open(sys.argv[1]))
assert set(b) == {"customer_id", "available", "pending", "tier", "segment"}, b
assert b["customer_id"] == sys.argv[2] and b["available"] == int(sys.argv[3]) and b["pending"] == int(sys.argv[4]), b
PY
expect_exit 0 "$LOYALTYCTL" history "$customer" --json
lines=$(sql "SELECT count(*) FROM ledger WHERE customer_id = '$customer'")
python3 - "$CASE_DIR/out" "$lines" "$available" "$pending" "$customer" <<'PY' || fail "history --json"
import json, sys
h = json.load(open(sys.argv[1]))
assert set(h) == {"customer_id", "ledger", "codes", "offers"} and h["customer_id"] == sys.argv[5], h.keys()
assert h["offers"] == [], h["offers"]  # the test program makes none
ledger = h["ledger"]
assert len(ledger) == int(sys.argv[2]), (len(ledger), sys.argv[2])
assert sum(e["delta_available"] for e in ledger) == int(sys.argv[3])
assert sum(e["delta_pending"] for e in ledger) == int(sys.argv[4])
for e in ledger:
    assert e["reason"] and e["program_version"] and e["event_id"], e
    assert (e["available_at"] is not None) == (e["delta_pending"] > 0), e
PY
expect_exit 0 "$LOYALTYCTL" history "$customer"
grep -q 'floor(' "$CASE_DIR/out" || fail "history shows no reasons"

# history lists the customer's codes after the ledger.
holder=$(sql "SELECT customer_id FROM codes ORDER BY 1 LIMIT 1")
[ -n "$holder" ] || fail "the sample traffic issued no gift card"
sql "SELECT code, event_id, to_char(valid_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
     FROM codes WHERE customer_id = '$holder' ORDER BY code" >"$CASE_DIR/codes.tsv"
expect_exit 0 "$LOYALTYCTL" history "$holder" --json
python3 - "$CASE_DIR/out" "$CASE_DIR/codes.tsv" <<'PY' || fail "history --json codes"
import json, sys
h = json.load(open(sys.argv[1]))
want = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
got = sorted([c["code"], c["event_id"], c["valid_until"]] for c in h["codes"])
assert got == want, (got, want)
for c in h["codes"]:
    assert (c["kind"], c["amount"], c["percent"], c["min_order"], c["status"], c["rule_id"]) == \
        ("gift_card", 10000, 0, 0, "issued", "big-order-gift"), c
    assert c["program_version"] and c["event_source"], c
PY
expect_exit 0 "$LOYALTYCTL" history "$holder"
while IFS=$'\t' read -r code event until; do
	grep -qE "^$code +gift_card +10000 +0 +$until +issued +big-order-gift +$event\$" "$CASE_DIR/out" ||
		fail "history does not list code $code: $(cat "$CASE_DIR/out")"
done <"$CASE_DIR/codes.tsv"
# explain --customer reads the stored customer (read only): its balances,
# and a daily limit it has used up on the day of the event.
read -r lc lday < <(sql "SELECT customer_id, period FROM rule_limits WHERE rule_id = 'review-daily'
                         AND count = 2 ORDER BY 1, 2 LIMIT 1")
[ -n "$lc" ] || fail "the sample traffic used up no daily review limit"
read -r la lp < <(sql "SELECT available, pending FROM balances WHERE customer_id = '$lc'")
cat >"$CASE_DIR/review.json" <<JSON
{"specversion": "1.0", "id": "explain-1", "source": "/shops/test", "type": "review.submitted",
 "time": "${lday}T12:00:00+03:00",
 "data": {"customer_id": "$lc", "review_id": "rx", "product_id": "p", "rating": 5,
          "verified_purchase": false, "has_photo": false, "text_length": 0}}
JSON
ledger_before=$(sql "SELECT count(*) FROM ledger")
expect_exit 0 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$CASE_DIR/review.json" --customer "$lc"
grep -qx "review-daily: limit used up: 2 of 2 per day in $lday Europe/Istanbul" "$CASE_DIR/out" ||
	fail "explain --customer: limit: $(cat "$CASE_DIR/out")"
grep -q "balance after: available $((la + 50)), pending $lp\$" "$CASE_DIR/out" ||
	fail "explain --customer: balances $la/$lp: $(cat "$CASE_DIR/out")"
[ "$(sql "SELECT count(*) FROM ledger")" = "$ledger_before" ] || fail "explain wrote to the ledger"
expect_exit 1 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$CASE_DIR/review.json" --customer someone-else
grep -qF 'the event is about customer' "$CASE_DIR/err" || fail "explain --customer mismatch: $(cat "$CASE_DIR/err")"

expect_exit 1 "$LOYALTYCTL" balance nobody-here
grep -q 'not found' "$CASE_DIR/err" || fail "balance of an unknown customer"

# verify: passes, then catches a tampered balance and names the customer.
expect_exit 0 "$LOYALTYCTL" verify
sql "UPDATE balances SET available = available + 7 WHERE customer_id = '$customer'" >/dev/null
expect_exit 1 "$LOYALTYCTL" verify
grep -q "customer $customer: balances available=$((available + 7))" "$CASE_DIR/out" ||
	fail "verify output: $(cat "$CASE_DIR/out")"
# The ledger refuses changes.
if sql "DELETE FROM ledger" >/dev/null 2>&1; then fail "the ledger accepted a DELETE"; fi
echo "cli: ok"
