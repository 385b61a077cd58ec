#!/usr/bin/env bash
# loyaltyctl liability, erase and adjust, and verify's lot invariants
# (docs/lifecycle.md, "Lots" and "Liability and erasure"), on rows written
# straight into PostgreSQL so every expected number is known:
#
# - liability sums the ledger lines before the end of a day in the
#   program's zone (Europe/Istanbul, UTC+3: a line at 20:59:59Z is still
#   1 March, one at 21:00:00Z is 2 March), text and --json, and counts the
#   customers holding a non-zero amount;
# - verify passes on consistent state, a negative balance included, and
#   prints exactly one line per broken invariant;
# - erase removes first name and birth date once, keeps everything else,
#   is idempotent, and refuses an unknown customer without creating it;
# - adjust publishes exactly one CloudEvent to the requests topic, the one
#   the workers decode as a points.adjust;
# - bad arguments exit 2 with the usage and publish or change nothing.
source "$(dirname "$0")/lib.sh"
setup_case lifecycle_cli

expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$CASE_DIR/out" 2>"$CASE_DIR/err" || got=$?
	[ "$got" = "$want" ] || { cat "$CASE_DIR/out" "$CASE_DIR/err" >&2; fail "'$*' exited $got, want $want"; }
}

# expect_out FILE: stdout of the last command is exactly FILE's text.
expect_out() {
	diff -u "$1" "$CASE_DIR/out" >&2 || fail "unexpected output of the last command"
}

# ---- the state: four customers, every amount chosen ----
#
#   lc-a  +100 available 02-10; +300 pending 03-01T20:59:59Z (still 1 March
#         in Istanbul); +40 available 03-01T21:00:00Z (2 March); the 300
#         released 03-15                          -> 440 available
#   lc-b  +50 on 01-05, redeemed 02-20            -> 0
#   lc-c  +20 on 03-10, a refund takes 70 on 03-12 -> -50 available
#   lc-d  +500 pending 03-20                      -> 500 pending
sql "
INSERT INTO customers (customer_id, first_name, birth_date, locale) VALUES
  ('lc-a', 'Ayşe', '1990-04-12', 'tr'), ('lc-b', 'Burak', '1985-11-02', 'tr'),
  ('lc-c', 'Cem', NULL, 'tr'), ('lc-d', 'Deniz', '2000-02-29', 'en');
INSERT INTO ledger (customer_id, event_source, event_id, event_type, event_time, rule_id,
                    program_version, delta_available, delta_pending, available_at, reason) VALUES
  ('lc-a', '/shops/test', 'a-review', 'review.submitted', '2026-02-10T10:00:00Z', 'review', 'v1', 100, 0, NULL, '100'),
  ('lc-a', '/shops/test', 'a-order', 'order.paid', '2026-03-01T20:59:59Z', 'base-earn', 'v1', 0, 300,
   '2026-03-15T20:59:59Z', 'floor(30000/100)*1'),
  ('lc-a', '/shops/test', 'a-social', 'social.interaction', '2026-03-01T21:00:00Z', 'social', 'v1', 40, 0, NULL, '40'),
  ('lc-a', '/shops/test', 'a-order', 'points.released', '2026-03-15T20:59:59Z', 'base-earn', 'v1', 300, -300, NULL, 'release'),
  ('lc-b', '/shops/test', 'b-review', 'review.submitted', '2026-01-05T12:00:00Z', 'review', 'v1', 50, 0, NULL, '50'),
  ('lc-b', '/shops/test', 'b-redeem', 'points.redeem', '2026-02-20T12:00:00Z', NULL, 'v1', -50, 0, NULL, 'redeem'),
  ('lc-c', '/shops/test', 'c-review', 'review.submitted', '2026-03-10T08:00:00Z', 'review', 'v1', 20, 0, NULL, '20'),
  ('lc-c', '/shops/test', 'c-refund', 'order.refunded', '2026-03-12T08:00:00Z', 'base-earn', 'v1', -70, 0, NULL, 'refund'),
  ('lc-d', '/shops/test', 'd-order', 'order.paid', '2026-03-20T10:00:00Z', 'base-earn', 'v1', 0, 500,
   '2026-04-03T10:00:00Z', 'floor(50000/100)*1');
INSERT INTO lots (customer_id, event_source, event_id, rule_id, points, remaining, available_at, released) VALUES
  ('lc-a', '/shops/test', 'a-review', 'review', 100, 100, '2026-02-10T10:00:00Z', true),
  ('lc-a', '/shops/test', 'a-order', 'base-earn', 300, 300, '2026-03-15T20:59:59Z', true),
  ('lc-a', '/shops/test', 'a-social', 'social', 40, 40, '2026-03-01T21:00:00Z', true),
  ('lc-b', '/shops/test', 'b-review', 'review', 50, 0, '2026-01-05T12:00:00Z', true),
  ('lc-c', '/shops/test', 'c-review', 'review', 20, 0, '2026-03-10T08:00:00Z', true),
  ('lc-d', '/shops/test', 'd-order', 'base-earn', 500, 500, '2026-04-03T10:00:00Z', false);
INSERT INTO balances (customer_id, available, pending) VALUES
  ('lc-a', 440, 0), ('lc-b', 0, 0), ('lc-c', -50, 0), ('lc-d', 0, 500);
INSERT INTO orders (customer_id, order_id, event_source, event_id, paid_at, total) VALUES
  ('lc-a', 'o-a', '/shops/test', 'a-order', '2026-03-01T20:59:59Z', 30000);
INSERT INTO codes (customer_id, code, kind, amount, percent, min_order, valid_until,
                   event_source, event_id, rule_id, program_version) VALUES
  ('lc-a', 'ABCDEFGHJKMN', 'gift_card', 10000, 0, 0, '2026-06-01T00:00:00Z',
   '/shops/test', 'a-order', 'big-order-gift', 'v1');
" >/dev/null

# ---- liability ----

# liability_is DATE AS_OF AVAILABLE PENDING CUSTOMERS: --json, then text.
liability_is() {
	local date=$1 as_of=$2 available=$3 pending=$4 customers=$5
	expect_exit 0 "$LOYALTYCTL" liability --as-of "$date" --json
	printf '{"as_of":"%s","available":%s,"pending":%s,"customers":%s}\n' \
		"$as_of" "$available" "$pending" "$customers" >"$CASE_DIR/want"
	expect_out "$CASE_DIR/want" || fail "liability --as-of $date --json"
	expect_exit 0 "$LOYALTYCTL" liability --as-of="$date"
	printf 'as of      %s (the end of %s, Europe/Istanbul)\navailable  %s\npending    %s\ncustomers  %s\n' \
		"$as_of" "$date" "$available" "$pending" "$customers" >"$CASE_DIR/want"
	expect_out "$CASE_DIR/want" || fail "liability --as-of $date"
}
liability_is 2025-12-31 2025-12-31T21:00:00Z 0 0 0
liability_is 2026-01-31 2026-01-31T21:00:00Z 50 0 1
liability_is 2026-02-28 2026-02-28T21:00:00Z 100 0 1
# The Istanbul day boundary: 20:59:59Z counts for 1 March, 21:00:00Z not.
liability_is 2026-03-01 2026-03-01T21:00:00Z 100 300 1
liability_is 2026-03-02 2026-03-02T21:00:00Z 140 300 1
# A negative balance counts against the outstanding points, and its
# holder is counted.
liability_is 2026-03-12 2026-03-12T21:00:00Z 90 300 2
liability_is 2026-03-15 2026-03-15T21:00:00Z 390 0 2
liability_is 2026-03-31 2026-03-31T21:00:00Z 390 500 3

# Without --as-of: now, every line.
before=$(date -u +%s)
expect_exit 0 "$LOYALTYCTL" liability --json
after=$(date -u +%s)
python3 - "$CASE_DIR/out" "$before" "$after" <<'PY' || fail "liability --json (now): $(cat "$CASE_DIR/out")"
import datetime, json, sys
l = json.load(open(sys.argv[1]))
assert list(l) == ["as_of", "available", "pending", "customers"], l
assert (l["available"], l["pending"], l["customers"]) == (390, 500, 3), l
t = datetime.datetime.fromisoformat(l["as_of"].replace("Z", "+00:00")).timestamp()
assert int(sys.argv[2]) <= t <= int(sys.argv[3]) + 1, (l["as_of"], sys.argv[2:])
PY
expect_exit 0 "$LOYALTYCTL" liability
grep -qE '^as of      [0-9T:.-]+Z \(now: every ledger line\)$' "$CASE_DIR/out" || fail "liability (now): $(cat "$CASE_DIR/out")"
tail -n 3 "$CASE_DIR/out" >"$CASE_DIR/got"
printf 'available  390\npending    500\ncustomers  3\n' | diff -u - "$CASE_DIR/got" >&2 || fail "liability (now)"

# ---- verify ----

expect_exit 0 "$LOYALTYCTL" verify
grep -qx 'verify: ok: every balance equals its ledger and lots' "$CASE_DIR/out" || fail "verify: $(cat "$CASE_DIR/out")"

# A balance off its ledger and lots; an unreleased lot over its points.
d_lot=$(sql "SELECT lot_id FROM lots WHERE customer_id = 'lc-d'")
sql "UPDATE balances SET available = 445 WHERE customer_id = 'lc-a';
     UPDATE lots SET remaining = 600 WHERE customer_id = 'lc-d'" >/dev/null
expect_exit 1 "$LOYALTYCTL" verify
cat >"$CASE_DIR/want" <<EOF
customer lc-a: balances available=445 pending=0, ledger available=440 pending=0
customer lc-a: balances available=445, released lots remaining=440
customer lc-d: balances pending=500, unreleased lots remaining=600
customer lc-d: lot $d_lot (event d-order) remaining=600, not within 0..500
verify: FAILED: balances differ from the ledger or the lots
EOF
expect_out "$CASE_DIR/want"
sql "UPDATE balances SET available = 440 WHERE customer_id = 'lc-a';
     UPDATE lots SET remaining = 500 WHERE customer_id = 'lc-d'" >/dev/null
expect_exit 0 "$LOYALTYCTL" verify

# A negative balance while a released lot still holds points; a lot below
# zero (its customer's sum then differs too).
b_lot=$(sql "SELECT lot_id FROM lots WHERE customer_id = 'lc-b'")
sql "UPDATE lots SET remaining = 5 WHERE customer_id = 'lc-c';
     UPDATE lots SET remaining = -3 WHERE customer_id = 'lc-b'" >/dev/null
expect_exit 1 "$LOYALTYCTL" verify
cat >"$CASE_DIR/want" <<EOF
customer lc-b: balances available=0, released lots remaining=-3
customer lc-c: balances available=-50 is negative, yet released lots hold remaining=5
customer lc-b: lot $b_lot (event b-review) remaining=-3, not within 0..50
verify: FAILED: balances differ from the ledger or the lots
EOF
expect_out "$CASE_DIR/want"
sql "UPDATE lots SET remaining = 0 WHERE customer_id IN ('lc-b', 'lc-c')" >/dev/null
expect_exit 0 "$LOYALTYCTL" verify

# ---- erase ----

state_of() { # everything erase must keep, as text
	sql "SELECT customer_id, entry_id, event_id, event_type, event_time, delta_available, delta_pending, reason
	     FROM ledger ORDER BY 1, 2"
	sql "SELECT customer_id, lot_id, points, remaining, released FROM lots ORDER BY 1, 2"
	sql "SELECT * FROM balances ORDER BY 1"
	sql "SELECT customer_id, order_id, total, refunded FROM orders ORDER BY 1, 2"
	sql "SELECT customer_id, code, status FROM codes ORDER BY 1, 2"
	sql "SELECT customer_id, locale, order_count, lifetime_spend, tier, segment FROM customers ORDER BY 1"
}
state_of >"$CASE_DIR/kept.before"
expect_exit 0 "$LOYALTYCTL" erase lc-a
erased_at=$(sql "SELECT to_char(erased_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM customers WHERE customer_id = 'lc-a'")
# ly_time_format_rfc3339 leaves out a zero fraction
erased_at_shown=$(python3 -c 'import sys; t = sys.argv[1]; print(t.replace(".000000Z", "Z"))' "$erased_at")
cat >"$CASE_DIR/want" <<EOF
erase: customer lc-a: removed first_name, birth_date
erase: customer lc-a: erased at $erased_at_shown
erase: customer lc-a: kept 4 ledger lines, 3 lots, 1 orders, 1 codes
EOF
expect_out "$CASE_DIR/want"
[ "$(sql "SELECT coalesce(first_name, 'NULL'), coalesce(birth_date::text, 'NULL'), erased_at IS NOT NULL
          FROM customers WHERE customer_id = 'lc-a'")" = $'NULL\tNULL\tt' ] || fail "erase left personal data"
[ "$(sql "SELECT string_agg(customer_id || ':' || coalesce(first_name, '-') || ':' || coalesce(birth_date::text, '-')
          || ':' || (erased_at IS NOT NULL), ' ' ORDER BY customer_id) FROM customers WHERE customer_id <> 'lc-a'")" = \
	"lc-b:Burak:1985-11-02:false lc-c:Cem:-:false lc-d:Deniz:2000-02-29:false" ] || fail "erase touched other customers"
state_of >"$CASE_DIR/kept.after"
diff -u "$CASE_DIR/kept.before" "$CASE_DIR/kept.after" >&2 || fail "erase changed the ledger, lots, balances, orders or codes"
updated_at=$(sql "SELECT updated_at FROM customers WHERE customer_id = 'lc-a'")

# Again: nothing left to remove, the first erasure's time, nothing written.
expect_exit 0 "$LOYALTYCTL" erase lc-a
cat >"$CASE_DIR/want" <<EOF
erase: customer lc-a: no personal data left to remove
erase: customer lc-a: already erased at $erased_at_shown
erase: customer lc-a: kept 4 ledger lines, 3 lots, 1 orders, 1 codes
EOF
expect_out "$CASE_DIR/want"
[ "$(sql "SELECT updated_at FROM customers WHERE customer_id = 'lc-a'")" = "$updated_at" ] || fail "a second erase wrote the row"
state_of >"$CASE_DIR/kept.after"
diff -u "$CASE_DIR/kept.before" "$CASE_DIR/kept.after" >&2 || fail "a second erase changed something"

# A customer with only one of the two.
expect_exit 0 "$LOYALTYCTL" erase lc-c
grep -qx 'erase: customer lc-c: removed first_name' "$CASE_DIR/out" || fail "erase lc-c: $(cat "$CASE_DIR/out")"
grep -q '^erase: customer lc-c: kept 2 ledger lines, 1 lots, 0 orders, 0 codes$' "$CASE_DIR/out" || fail "erase lc-c: $(cat "$CASE_DIR/out")"

# Unknown: exit 1, and no row created.
expect_exit 1 "$LOYALTYCTL" erase nobody-here
grep -qx 'loyaltyctl: unknown customer "nobody-here"' "$CASE_DIR/err" || fail "erase unknown: $(cat "$CASE_DIR/err")"
[ "$(sql "SELECT count(*) FROM customers WHERE customer_id = 'nobody-here'")" = 0 ] || fail "erase created a customer"
expect_exit 0 "$LOYALTYCTL" verify

# ---- adjust ----

# dump_requests: every message on the requests topic, as kcat -J lines.
dump_requests() {
	topic_dump_json "$LOYALTY_TOPICS_REQUESTS" >"$CASE_DIR/requests.jsonl" || fail "kcat $LOYALTY_TOPICS_REQUESTS"
}

before=$(date -u +%s)
expect_exit 0 "$LOYALTYCTL" adjust lc-a 75 --reason 'goodwill: late delivery "kargo"' --request-id req-1
echo req-1 >"$CASE_DIR/want"
expect_out "$CASE_DIR/want"
grep -qx "adjust: +75 points for customer lc-a published to $LOYALTY_TOPICS_REQUESTS (request req-1)" "$CASE_DIR/err" ||
	fail "adjust: $(cat "$CASE_DIR/err")"
# A negative adjustment, with the request id made up.
expect_exit 0 "$LOYALTYCTL" adjust lc-b -30 --reason=claw-back
after=$(date -u +%s)
generated=$(cat "$CASE_DIR/out")
[[ $generated =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
	fail "adjust made up a request id that is no UUID: '$generated'"
dump_requests
python3 - "$CASE_DIR/requests.jsonl" "$before" "$after" "$generated" "$CASE_DIR" <<'PY' || fail "the published requests"
import datetime, json, sys
path, before, after, generated, case_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
msgs = [json.loads(line) for line in open(path) if line.strip()]
assert len(msgs) == 2, msgs
by_key = {m["key"]: m for m in msgs}
assert set(by_key) == {"lc-a", "lc-b"}, by_key.keys()
want = {
    "lc-a": ("req-1", 75, 'goodwill: late delivery "kargo"'),
    "lc-b": (generated, -30, "claw-back"),
}
for key, (request_id, points, reason) in want.items():
    m = by_key[key]
    h = m["headers"]
    headers = dict(zip(h[0::2], h[1::2]))
    assert headers == {"content-type": "application/cloudevents+json; charset=UTF-8"}, h
    e = json.loads(m["payload"])
    assert set(e) == {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}, e
    assert e["specversion"] == "1.0", e
    assert e["id"] == "adjust-" + request_id, e
    assert e["source"] == "loyaltyctl", e
    assert e["type"] == "points.adjust", e
    assert e["datacontenttype"] == "application/json", e
    t = datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
    assert t.tzinfo is not None and t.utcoffset().total_seconds() == 0, e["time"]
    assert before <= t.timestamp() <= after + 1, (e["time"], before, after)
    assert e["data"] == {"request_id": request_id, "customer_id": key, "points": points,
                         "reason": reason}, e["data"]
    assert type(e["data"]["points"]) is int, e["data"]
    open(f"{case_dir}/{key}.event.json", "w").write(m["payload"])
PY
# The workers' decoder and engine take it as the adjustment it is.
expect_exit 0 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$CASE_DIR/lc-a.event.json"
grep -q '^total: +75 available, +0 pending;' "$CASE_DIR/out" || fail "explain of the published event: $(cat "$CASE_DIR/out")"

# ---- bad arguments: exit 2 with the usage, nothing published or changed ----

usage_error() {
	expect_exit 2 "$LOYALTYCTL" "$@"
	grep -q '^usage: loyaltyctl' "$CASE_DIR/err" || fail "'$*': no usage printed"
	[ ! -s "$CASE_DIR/out" ] || fail "'$*' printed on stdout: $(cat "$CASE_DIR/out")"
}
usage_error liability --as-of
usage_error liability --as-of 2026-02-30
usage_error liability --as-of 1.3.2026
usage_error liability --as-of 2026-03-01T00:00:00Z
usage_error liability --json extra
usage_error liability --csv
usage_error erase
usage_error erase lc-a lc-b
usage_error erase --json
usage_error adjust
usage_error adjust lc-a
usage_error adjust lc-a 10
usage_error adjust lc-a 10 --reason
usage_error adjust lc-a 10 --reason ''
usage_error adjust lc-a 0 --reason x
usage_error adjust lc-a -0 --reason x
usage_error adjust lc-a 1.5 --reason x
usage_error adjust lc-a ten --reason x
usage_error adjust lc-a ' 10' --reason x
usage_error adjust lc-a 9007199254740992 --reason x
usage_error adjust lc-a 10 --reason x extra
usage_error adjust lc-a 10 --reason x --bogus
usage_error adjust lc-a 10 --reason x --request-id ''
usage_error adjust lc-a 10 --reason x --request-id "$(printf 'r%.0s' {1..122})"
usage_error adjust lc-a 10 --reason "$(printf 'x%.0s' {1..4097})"
usage_error adjust lc-a 10 --reason $'\xff\xfe'
grep -q '^loyaltyctl: adjust: --reason is not valid UTF-8$' "$CASE_DIR/err" || fail "adjust, not UTF-8: $(cat "$CASE_DIR/err")"
usage_error adjust "$(printf 'c%.0s' {1..129})" 10 --reason x
grep -q '^loyaltyctl: adjust: the workers would reject this request: data.customer_id: ' "$CASE_DIR/err" ||
	fail "adjust, a customer id too long: $(cat "$CASE_DIR/err")"
# The longest request id that fits the event id, and a negative POINTS
# after the options, are fine.
expect_exit 0 "$LOYALTYCTL" adjust --reason x --request-id "$(printf 'r%.0s' {1..121})" -- lc-d -5
dump_requests
[ "$(wc -l <"$CASE_DIR/requests.jsonl")" = 3 ] || fail "bad arguments published something: $(cat "$CASE_DIR/requests.jsonl")"
python3 - "$CASE_DIR/requests.jsonl" <<'PY' || fail "adjust -- lc-d -5"
import json, sys
e = [json.loads(json.loads(l)["payload"]) for l in open(sys.argv[1]) if json.loads(l)["key"] == "lc-d"]
assert len(e) == 1 and e[0]["id"] == "adjust-" + "r" * 121 and e[0]["data"]["points"] == -5, e
PY
state_of >"$CASE_DIR/kept.after"
diff -u "$CASE_DIR/kept.before" "$CASE_DIR/kept.after" >&2 || fail "the bad arguments changed the state"
expect_exit 0 "$LOYALTYCTL" --help
for c in 'liability \[--as-of DATE\] \[--json\]' 'erase CUSTOMER' 'adjust CUSTOMER POINTS --reason TEXT \[--request-id ID\]'; do
	grep -q "^  $c" "$CASE_DIR/out" || fail "--help does not list $c"
done
echo "lifecycle_cli: ok"
