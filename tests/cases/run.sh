#!/usr/bin/env bash
# `loyaltyctl test`: the example shop's cases and SPEC section 5's example pass; cases written wrong fail
# with the exact differences; bad files are refused with file:line:col;
# usage errors exit 2. No server is needed.
set -euo pipefail
CTL=$LY_BIN_DIR/loyaltyctl
HERE=$LY_SOURCE_DIR/tests/cases
EXAMPLE=$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ly-cases.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
fail() { echo "test_cases: FAIL: $*" >&2; exit 1; }

# run STATUS ARGS...: loyaltyctl test ARGS exits STATUS; output in $OUT.
run() {
	local want=$1 got=0
	shift
	"$CTL" test "$@" >"$OUT/out" 2>"$OUT/err" || got=$?
	[ "$got" = "$want" ] || { cat "$OUT/out" "$OUT/err" >&2; fail "test $* exited $got, want $want"; }
}

run 0 "$EXAMPLE" "$LY_SOURCE_DIR/examples/programs/anadolu-market.cases.yaml"
tail -n1 "$OUT/out" | grep -qx '13 passed, 0 failed' || fail "example: $(tail -n1 "$OUT/out")"
[ "$(grep -c '^PASS ' "$OUT/out")" = 13 ] || fail "example: not 13 PASS lines"

run 0 "$LY_SOURCE_DIR/tests/unit/data/program/spec-example.yaml" "$HERE/spec-example.cases.yaml"
tail -n1 "$OUT/out" | grep -qx '12 passed, 0 failed' || fail "SPEC example: $(tail -n1 "$OUT/out")"

run 1 "$EXAMPLE" "$HERE/failing.cases.yaml"
sed "s#CASES#$HERE/failing.cases.yaml#" "$HERE/failing.expected" >"$OUT/expected"
diff -u "$OUT/expected" "$OUT/out" >&2 || fail "failing cases: output differs"

run 1 "$EXAMPLE" "$HERE/bad-event.cases.yaml"
grep -qF "bad-event.cases.yaml:4:9: events[0]: rejected (missing_field): data.rating" "$OUT/err" ||
	fail "bad event: $(cat "$OUT/err")"
run 1 "$EXAMPLE" "$HERE/bad-key.cases.yaml"
grep -qF 'bad-key.cases.yaml:5:14: unknown key "points_avaliable"' "$OUT/err" ||
	fail "bad key: $(cat "$OUT/err")"
run 1 "$EXAMPLE" "$OUT/missing.yaml"
run 1 "$LY_SOURCE_DIR/tests/unit/data/program/unknown-key.yaml" "$HERE/bad-key.cases.yaml"
grep -qF 'unknown-key.yaml:9:5: unknown key "iff"' "$OUT/err" || fail "bad program: $(cat "$OUT/err")"

run 2
run 2 "$EXAMPLE"
run 2 "$EXAMPLE" a b
"$CTL" --help | grep -q '^  test PROGRAM CASES.yaml' || fail "test missing from the usage"
echo "test_cases: ok"
