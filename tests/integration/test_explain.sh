#!/usr/bin/env bash
# loyaltyctl explain: which rules fire on one event and why the others do
# not, with the exact lines a shop reads, diffed against
# data/explain/*.expected. Needs no server: explain reads two files and
# writes nothing, so this test does not call setup_case (the --customer
# form, which reads PostgreSQL, is in test_cli.sh).
source "$(dirname "$0")/lib.sh"

DATA=$LY_SOURCE_DIR/tests/integration/data/explain
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ly-explain.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# expect_exit STATUS CMD...: runs CMD, stdout to $OUT/out, stderr to $OUT/err.
expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$OUT/out" 2>"$OUT/err" || got=$?
	[ "$got" = "$want" ] || { cat "$OUT/out" "$OUT/err" >&2; fail "'$*' exited $got, want $want"; }
}

# expect_output EXPECTED STATUS ARGS...: explain ARGS exits STATUS and
# prints exactly $DATA/EXPECTED.
expect_output() {
	local expected=$DATA/$1 want=$2
	shift 2
	expect_exit "$want" "$LOYALTYCTL" explain "$@"
	diff -u "$expected" "$OUT/out" >&2 || fail "explain $*: output differs from $expected"
}

# Every outcome: fired (pending, available, 0 points), not active, if
# false, skipped (other type), stopped.
expect_output order-big.expected 0 "$TEST_PROGRAM" "$DATA/order-big.json"
expect_output order-outdoor-day.expected 0 "$TEST_PROGRAM" "$DATA/order-outdoor-day.json"
expect_output order-day-after.expected 0 "$TEST_PROGRAM" "$DATA/order-day-after.json"
expect_output review-photo.expected 0 "$TEST_PROGRAM" "$DATA/review-photo.json"
# The customer state from the options; expressions and totals see it.
expect_output review-plain--available-300--pending-40.expected 0 \
	"$TEST_PROGRAM" "$DATA/review-plain.json" --available 300 --pending 40
expect_output review-plain--available-300--pending-40.expected 0 \
	--pending 40 "$TEST_PROGRAM" --available 300 "$DATA/review-plain.json"

# A bad event is rejected as the worker would reject it.
expect_output malformed.expected 1 "$TEST_PROGRAM" "$DATA/malformed.json"

# The example shop, which uses the whole language: a customer state from a
# file (tier multiplier, profile fields, a used-up limit), and a trigger
# (points, a code and an offer).
ANADOLU=$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml
expect_output anadolu-order-big--customer-state.expected 0 \
	"$ANADOLU" "$DATA/order-big.json" --customer-state "$DATA/state-gumus.yaml"
expect_output anadolu-review-photo--customer-state.expected 0 \
	"$ANADOLU" "$DATA/review-photo.json" --customer-state "$DATA/state-gumus.yaml"
expect_output anadolu-birthday.expected 0 "$ANADOLU" "$DATA/birthday.json"
# A state file about another customer, or with a rule the program lacks.
printf 'id: c-2\n' >"$OUT/other.yaml"
expect_exit 1 "$LOYALTYCTL" explain "$ANADOLU" "$DATA/order-big.json" --customer-state "$OUT/other.yaml"
grep -qF 'the state is about customer "c-2", the event about "c-1"' "$OUT/err" || fail "other customer: $(cat "$OUT/err")"
printf 'limits: [{rule: nope, period: ever, count: 1}]\n' >"$OUT/nope.yaml"
expect_exit 1 "$LOYALTYCTL" explain "$ANADOLU" "$DATA/order-big.json" --customer-state "$OUT/nope.yaml"
grep -qF 'nope.yaml:1:17: limits[].rule: the program has no rule "nope"' "$OUT/err" || fail "unknown rule: $(cat "$OUT/err")"

# Files that are not there or not a program.
expect_exit 1 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$OUT/missing.json"
expect_exit 1 "$LOYALTYCTL" explain "$LY_SOURCE_DIR/tests/unit/data/program/unknown-key.yaml" "$DATA/order-big.json"
grep -qF 'unknown-key.yaml:9:5: unknown key "iff"' "$OUT/err" || fail "bad program: $(cat "$OUT/err")"

# Usage errors: exit 2 with the usage on stderr.
expect_exit 2 "$LOYALTYCTL" explain
grep -q '^usage: loyaltyctl' "$OUT/err" || fail "no usage printed"
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM"
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" extra
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --available
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --available 12x
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --pending 99999999999999999999
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --bogus
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --customer-state
expect_exit 2 "$LOYALTYCTL" explain "$TEST_PROGRAM" "$DATA/order-big.json" --customer-state x --customer c-1
"$LOYALTYCTL" --help | grep -q '^  explain PROGRAM EVENT.json' || fail "explain missing from the usage"

echo "test_explain: ok"
