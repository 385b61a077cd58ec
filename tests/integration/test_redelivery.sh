#!/usr/bin/env bash
# The same 1,000 events produced twice (same ids): the second copy changes
# nothing: no ledger line, no balance, no outbox row.
source "$(dirname "$0")/lib.sh"
setup_case redelivery
N=1000

"$LOYALTYCTL" produce --count $N --seed 13 --customers 300 2>/dev/null || fail "produce"
start_worker
wait_consumed $N
snapshot() {
	sql "SELECT (SELECT count(*) FROM ledger), (SELECT count(*) FROM outbox),
	            (SELECT count(*) FROM processed_events),
	            (SELECT coalesce(sum(available), 0) || '/' || coalesce(sum(pending), 0) FROM balances)"
}
first=$(snapshot)
actual_balances >"$CASE_DIR/first.tsv"
"$LOYALTYCTL" produce --count $N --seed 13 --customers 300 2>/dev/null || fail "produce again"
wait_consumed $((2 * N))
stop_worker
second=$(snapshot)
actual_balances >"$CASE_DIR/second.tsv"
[ "$first" = "$second" ] || fail "state changed on redelivery: before [$first] after [$second]"
diff -u "$CASE_DIR/first.tsv" "$CASE_DIR/second.tsv" >&2 || fail "balances changed on redelivery"
grep -q '"msg":"stopped: .* 1000 duplicates' "$CASE_DIR/loyaltyd.log" ||
	fail "loyaltyd did not count the 1000 duplicates"
check_balances
check_verify
echo "redelivery: ok ($first)"
