#!/usr/bin/env bash
# The pipeline run with kill -9 of loyaltyd three times at random moments
# and a restart each time: final balances equal the independent
# computation (the clean run's), no event is applied twice, verify passes,
# and every loyalty.points.changed id is on the topic.
source "$(dirname "$0")/lib.sh"
setup_case crash
N=20000
export LOYALTY_BATCH_MAX_EVENTS=200

"$LOYALTYCTL" produce --count $N --seed 12 --customers 2000 2>/dev/null || fail "produce"
for round in 1 2 3; do
	start_worker
	# Kill somewhere in the first 0.5-3 s of work: mid-batch, mid-commit
	# or mid-publish, wherever the process happens to be.
	sleep "$(python3 -c "import random; print(round(random.uniform(0.5, 3.0), 2))")"
	before=$(consumed)
	kill_worker
	log "round $round: killed at $before consumed"
done
[ "$(consumed)" -lt $N ] || fail "the kills came after the work was done; nothing was tested"
start_worker
wait_consumed $N 600
stop_worker

check_balances
check_verify
check_no_double_apply
check_activity_published
echo "crash: ok"
