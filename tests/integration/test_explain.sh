#!/usr/bin/env bash
# loyaltyctl explain: which rules fire on one event and why the others do
# not, with the exact lines a shop reads, diffed against
# data/explain/*.expected. Needs no server: explain reads two files and
# writes nothing, so this test does not call setup_case.
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

# A program with parts this engine does not evaluate: explain does not
# pretend, it says so and fails.
expect_exit 1 "$LOYALTYCTL" explain "$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml" "$DATA/order-big.json"
grep -q '^engine: not yet: .*anadolu-market.yaml:[0-9]*:[0-9]*: ' "$OUT/out" || fail "anadolu-market: $(cat "$OUT/out")"
[ "$(wc -l <"$OUT/out")" = 1 ] || fail "anadolu-market: more than the refusal: $(cat "$OUT/out")"

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
"$LOYALTYCTL" --help | grep -q '^  explain PROGRAM EVENT.json' || fail "explain missing from the usage"

echo "test_explain: ok"
