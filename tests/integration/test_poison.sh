#!/usr/bin/env bash
# 50 malformed messages (every rejection reason of SPEC section 4, in
# structured and binary mode) mixed into good traffic: each lands in the
# DLQ with its original key and value, the right dlq.error.code and the
# source coordinates, and the headers keep the DLQ contract
# (schemas/outbound/dlq-headers.json); every good event around them is
# applied.
source "$(dirname "$0")/lib.sh"
setup_case poison

python3 "$LY_SOURCE_DIR/tests/integration/poison.py" "$CASE_DIR"
kc() { kcat -b "$LY_TEST_KAFKA" -X message.max.bytes=4194304 "$@"; }

# Good traffic before and after the poison, also kept for the expectation.
"$LOYALTYCTL" produce --count 300 --seed 21 --customers 100 2>/dev/null || fail "produce"
"$LOYALTYCTL" produce --count 300 --seed 21 --customers 100 --stdout | cut -f3 >"$CASE_DIR/good.jsonl"
kc -P -t "$LOYALTY_TOPICS_ORDERS" -K '\x1f' -D '\x1e' <"$CASE_DIR/poison.bin" || fail "kcat poison"

# Binary mode: five with an unknown ce_type, one good order.
for i in 0 1 2 3 4; do
	printf '{"order_id":"b%d","customer_id":"b%03d","total":100,"currency":"TRY","items":[]}' "$i" "$i" |
		kc -P -t "$LOYALTY_TOPICS_ORDERS" -k "poison-bin-$i" \
			-H ce_specversion=1.0 -H "ce_id=bin-$i" -H ce_source=urn:test:poison \
			-H ce_type=order.teleported -H ce_time=2026-11-02T10:00:00Z ||
		fail "kcat binary"
done
good='{"order_id":"bg","customer_id":"bgood","total":45678,"currency":"TRY","items":[{"sku":"x","category":"home","quantity":1,"unit_price":45678}]}'
printf '%s' "$good" | kc -P -t "$LOYALTY_TOPICS_ORDERS" -k bgood \
	-H ce_specversion=1.0 -H ce_id=bin-good -H ce_source=urn:test:poison \
	-H ce_type=order.paid -H ce_time=2026-11-02T10:00:00Z -H content-type=application/json ||
	fail "kcat binary good"
printf '{"specversion":"1.0","id":"bin-good","source":"urn:test:poison","type":"order.paid","time":"2026-11-02T10:00:00Z","data":%s}\n' "$good" >>"$CASE_DIR/good.jsonl"

"$LOYALTYCTL" produce --count 300 --seed 22 --customers 100 2>/dev/null || fail "produce"
"$LOYALTYCTL" produce --count 300 --seed 22 --customers 100 --stdout | cut -f3 >>"$CASE_DIR/good.jsonl"

TOTAL=$((300 + 45 + 5 + 1 + 300))
start_worker
wait_consumed $TOTAL
stop_worker

# The DLQ: 50 messages, each with the reason expected for its key.
kcat -C -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_DLQ" -o beginning -e -q -J \
	-X fetch.message.max.bytes=4194304 >"$CASE_DIR/dlq.jsonl" || fail "kcat dlq"
check_contracts "$CASE_DIR/dlq.jsonl"
python3 - "$CASE_DIR" "$LOYALTY_TOPICS_ORDERS" <<'PY' || fail "DLQ contents"
import json, sys
case, topic = sys.argv[1], sys.argv[2]
expected = json.load(open(f"{case}/expected.json"))
for i in range(5):
    expected[f"poison-bin-{i}"] = "unknown_type"
sent = {}
raw = open(f"{case}/poison.bin", "rb").read().split(b"\x1e")
for rec in raw:
    if rec:
        key, value = rec.split(b"\x1f", 1)
        sent[key.decode()] = value
got = {}
for line in open(f"{case}/dlq.jsonl", encoding="utf-8", errors="surrogateescape"):
    m = json.loads(line)
    h = m["headers"] or []
    headers = dict(zip(h[0::2], h[1::2]))
    key = m["key"]
    assert key not in got, f"{key} dead-lettered twice"
    got[key] = headers
    assert headers["dlq.source.topic"] == topic, headers
    assert int(headers["dlq.source.partition"]) >= 0 and int(headers["dlq.source.offset"]) >= 0, headers
    assert headers["dlq.error.message"], headers
    if key.startswith("poison-bin-"):
        assert headers.get("ce_type") == "order.teleported", f"{key}: original headers lost: {headers}"
    elif expected.get(key) != "invalid_utf8":
        assert m["payload"].encode("utf-8", "surrogateescape") == sent[key], f"{key}: value changed"
missing = sorted(set(expected) - set(got))
extra = sorted(set(got) - set(expected))
wrong = sorted(k for k in expected if k in got and got[k]["dlq.error.code"] != expected[k])
assert not missing, f"not in the DLQ: {missing}"
assert not extra, f"unexpected in the DLQ: {extra}"
assert not wrong, "wrong reasons: " + ", ".join(f"{k}: got {got[k]['dlq.error.code']} want {expected[k]}" for k in wrong)
assert len(got) == 50, len(got)
print(f"dlq: {len(got)} messages, every reason as expected")
PY

# Every good event applied, and nothing from the poison.
expect_state <"$CASE_DIR/good.jsonl" >"$CASE_DIR/expected.tsv" ||
	fail "the state differs from the independent computation"
actual_balances >"$CASE_DIR/actual.tsv"
diff -u "$CASE_DIR/expected.tsv" "$CASE_DIR/actual.tsv" >&2 || fail "balances differ"
applied=$(sql "SELECT count(*) FROM processed_events")
[ "$applied" = 601 ] || fail "processed_events holds $applied, want 601"
check_verify
echo "poison: ok"
