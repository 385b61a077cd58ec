#!/usr/bin/env bash
# The outbound contracts are checkable and the checks can fail: the AsyncAPI
# document passes `asyncapi validate` (and a broken copy does not), every
# JSON Schema compiles with Ajv in strict mode, the events `loyaltyctl
# produce` sends are valid against schemas/events, a message of every
# outbound type passes validate-messages.js, and each broken variant (a
# missing field, a wrong type, an unknown dlq.error.code, ...) is rejected
# with its reason. No servers needed.
source "$(dirname "$0")/lib.sh"
CASE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ly-contracts.XXXXXX")
trap teardown_case EXIT
C=$LY_SOURCE_DIR/tests/contracts
[ -x "$C/node_modules/.bin/asyncapi" ] && [ -d "$C/node_modules/ajv" ] ||
	fail "the contract tools are not installed: run make contracts-deps"

# The AsyncAPI CLI, with its usage analytics off (no network, nothing
# written to $HOME).
asyncapi_validate() {
	echo '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"test"}' \
		>"$CASE_DIR/asyncapi-analytics"
	ASYNCAPI_METRICS_CONFIG_PATH="$CASE_DIR/asyncapi-analytics" CI=true \
		"$C/node_modules/.bin/asyncapi" validate "$1" --fail-severity error 2>&1
}
asyncapi_validate "$LY_SOURCE_DIR/schemas/asyncapi.yaml" >"$CASE_DIR/asyncapi.out" || {
	cat "$CASE_DIR/asyncapi.out" >&2
	fail "asyncapi validate schemas/asyncapi.yaml"
}
grep -q "is valid" "$CASE_DIR/asyncapi.out" || { cat "$CASE_DIR/asyncapi.out" >&2; fail "asyncapi validate said no 'is valid'"; }
# Every channel of SPEC section 3 at its default address.
for t in shop.customers shop.orders shop.reviews shop.social loyalty.requests loyalty.offers loyalty.activity loyalty.dlq; do
	grep -q "^    address: $t\$" "$LY_SOURCE_DIR/schemas/asyncapi.yaml" || fail "asyncapi.yaml has no channel $t"
done
log "asyncapi validate: schemas/asyncapi.yaml is valid"

# A broken copy must fail: a v2 action word, then a payload that is not there.
cp -r "$LY_SOURCE_DIR/schemas" "$CASE_DIR/bad"
sed -i '0,/action: send/s//action: publish/' "$CASE_DIR/bad/asyncapi.yaml"
asyncapi_validate "$CASE_DIR/bad/asyncapi.yaml" >"$CASE_DIR/bad1.out" &&
	fail "asyncapi validate accepted an operation with action: publish"
grep -q 'error .*"action" property must be equal to one of the allowed values' "$CASE_DIR/bad1.out" ||
	{ cat "$CASE_DIR/bad1.out" >&2; fail "asyncapi validate refused action: publish for another reason"; }
cp "$LY_SOURCE_DIR/schemas/asyncapi.yaml" "$CASE_DIR/bad/asyncapi.yaml"
sed -i 's#./outbound/loyalty.tier.changed.json#./outbound/loyalty.tier.chnged.json#' "$CASE_DIR/bad/asyncapi.yaml"
asyncapi_validate "$CASE_DIR/bad/asyncapi.yaml" >"$CASE_DIR/bad2.out" &&
	fail "asyncapi validate accepted a payload \$ref to a missing file"
grep -q 'error .*invalid-ref .*loyalty.tier.chnged.json' "$CASE_DIR/bad2.out" ||
	{ cat "$CASE_DIR/bad2.out" >&2; fail "asyncapi validate refused the missing file for another reason"; }
log "asyncapi validate: both broken copies refused"

# Every schema compiles; the producer's input events are valid (with
# --requests, which redeems the test program's rewards once a customer
# has the points: few customers, so that some do).
LOYALTY_PROGRAM=$TEST_PROGRAM "$LOYALTYCTL" produce --count 500 --seed 5 --customers 50 \
	--requests --stdout 2>/dev/null | cut -f3 >"$CASE_DIR/inputs.jsonl" ||
	fail "loyaltyctl produce --stdout"
node "$C/check-schemas.js" --inputs "$CASE_DIR/inputs.jsonl" >"$CASE_DIR/schemas.out" ||
	fail "check-schemas.js"
want=$(ls "$LY_SOURCE_DIR"/schemas/events/*.json "$LY_SOURCE_DIR"/schemas/outbound/*.json | wc -l)
grep -qx "schemas: $want compiled" "$CASE_DIR/schemas.out" || fail "not all $want schemas compiled"
for t in order.paid points.adjust points.redeem; do
	grep -q "^input $t: [1-9]" "$CASE_DIR/schemas.out" || fail "no $t checked"
done
log "ajv: $want schemas compile; $(grep -c '^input ' "$CASE_DIR/schemas.out") input types from produce valid"

# One message of every outbound type, and two dead letters: all valid.
V=$C/validate-messages.js
GOOD=$C/fixtures/valid.jsonl
node "$V" "$GOOD" >"$CASE_DIR/good.out" || fail "the valid fixtures were refused"
for t in loyalty.points.changed loyalty.tier.changed loyalty.redemption.completed \
	loyalty.redemption.rejected loyalty.offer dlq:missing_field dlq:evaluation_error; do
	grep -q "^$t: [1-9][0-9]* valid\$" "$CASE_DIR/good.out" || fail "no valid $t counted"
done
grep -qx "contracts: 9 messages valid" "$CASE_DIR/good.out" || fail "not 9 messages counted"

# mutate LINE JS: line LINE of the fixtures with JS applied to m (the kcat
# line) and e (its payload parsed; written back unless it is null).
mutate() {
	sed -n "$1p" "$GOOD" | node -e '
		const m = JSON.parse(require("fs").readFileSync(0, "utf8"));
		let e = null; try { e = JSON.parse(m.payload); } catch (_) {}
		'"$2"'
		if (e !== null) m.payload = JSON.stringify(e);
		console.log(JSON.stringify(m));' >"$CASE_DIR/bad.jsonl"
}
# refused WHY PATTERN [ARGS]: the validator exits 1 naming PATTERN.
refused() {
	local why=$1 pattern=$2 status=0
	shift 2
	node "$V" "$@" "$CASE_DIR/bad.jsonl" >/dev/null 2>"$CASE_DIR/bad.err" || status=$?
	[ $status = 1 ] || fail "$why: exit $status, want 1"
	grep -q -- "$pattern" "$CASE_DIR/bad.err" || { cat "$CASE_DIR/bad.err" >&2; fail "$why: no \"$pattern\" in the error"; }
	n_refused=$((n_refused + 1))
}
n_refused=0
mutate 1 'delete e.data.delta'
refused "missing field" "/data must have required property 'delta'"
mutate 1 'e.data.available = "300"'
refused "wrong type" "/data/available must be integer"
mutate 1 'e.data.delta = 12.5'
refused "fraction" "/data/delta must be integer"
mutate 1 'e.data.email = "a@b.c"'
refused "unknown data field" 'must NOT have additional properties: "email"'
mutate 1 'e.time = "02/11/2026"'
refused "bad time" '/time must match format "date-time"'
mutate 1 'e.specversion = "0.3"'
refused "specversion" "/specversion must be equal to constant"
mutate 1 'e.id = "x-1"'
refused "id format" "/id must match pattern"
mutate 1 'm.key = "c00099"'
refused "key is not the customer" 'key "c00099" is not data.customer_id'
mutate 1 'e.subject = "c00099"'
refused "subject is not the customer" "subject \"c00099\" is not data.customer_id"
mutate 1 'm.topic = "loyalty.offers"'
refused "type on the wrong topic" "does not belong on the offers topic"
mutate 1 'm.headers = null'
refused "no content-type header" "no content-type header"
mutate 1 'e = null; m.payload = "{not json"'
refused "not JSON" "payload is not JSON"
mutate 3 'e.data.perks = "free_shipping"'
refused "tier perks not a list" "/data/perks must be array"
mutate 4 'delete e.data.code'
refused "completed without code" "must have required property 'code'"
mutate 5 'e.data.code = "2K7RM9QXH4TB"'
refused "rejected with a code" 'must NOT have additional properties: "code"'
mutate 6 'e.data.channel = "push"'
refused "unknown channel" "/data/channel must be equal to one of the allowed values"
mutate 6 'e.data.vars.phone = "+905551112233"'
refused "contact detail in vars" "/data/vars"
mutate 7 'delete e.data.vars.tier'
refused "vars without tier" "/data/vars must have required property 'tier'"
mutate 8 'm.headers[1] = "bad_reason"'
refused "bad dlq.error.code" "/dlq.error.code must be equal to one of the allowed values"
mutate 8 'm.headers.splice(4, 2)'
refused "dlq without source topic" "must have required property 'dlq.source.topic'"
mutate 8 'm.headers[9] = "-1"'
refused "negative dlq.source.offset" "/dlq.source.offset must match pattern"
# The same content-type-less message passes only when allowed, and is counted.
mutate 1 'm.headers = null'
node "$V" --allow-missing-content-type "$CASE_DIR/bad.jsonl" >"$CASE_DIR/allowed.out" ||
	fail "--allow-missing-content-type refused a message without content-type"
grep -q "^warning: 1 of 1 events had no content-type header" "$CASE_DIR/allowed.out" ||
	fail "the missing content-type was not counted"
log "validate-messages: 9 valid fixtures pass, $n_refused broken variants refused"
echo "contracts: ok"
