#!/usr/bin/env bash
# 20,000 sample events over 6 partitions, applied by one loyaltyd on the
# real broker and PostgreSQL: every ledger line, limit count (per Istanbul
# day), gift card and balance equals the independent computation, the
# budget is crossed and never exceeded, verify passes, every activity id is
# published, and SIGTERM ends the worker cleanly. Prints the run's events/s.
source "$(dirname "$0")/lib.sh"
setup_case pipeline
N=20000

"$LOYALTYCTL" produce --count $N --seed 11 --customers 2000 2>/dev/null || fail "produce"
start_ns=$(date +%s%N)
start_worker
wait_consumed $N 600
end_ns=$(date +%s%N)
stop_worker

check_balances --budget-crossed
check_verify
check_no_double_apply
check_activity_published
applied=$(sql "SELECT count(*) FROM processed_events")
[ "$applied" = $N ] || fail "processed_events holds $applied events, want $N"
ms=$(((end_ns - start_ns) / 1000000))
log "figure: $N events applied in $ms ms from start: $((N * 1000 / (ms > 0 ? ms : 1))) events/s"
echo "pipeline: ok"
