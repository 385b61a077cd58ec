#!/usr/bin/env bash
# The pipeline run with kill -9 of loyaltyd three times at random moments
# and a restart each time: final balances equal the independent
# computation (the clean run's), no event is applied twice, verify passes,
# and every loyalty.points.changed id is on the topic.
source "$(dirname "$0")/lib.sh"
setup_case crash
# Enough that three kills up to 1.5 s into a round, at several thousand
# events a second, still come before the end.
N=60000
export LOYALTY_BATCH_MAX_EVENTS=100

"$LOYALTYCTL" produce --count $N --seed 12 --customers 2000 2>/dev/null || fail "produce"
# A short session timeout, so the group gives a killed member's partitions
# to its successor in seconds rather than after the default 45 s.
export LOYALTY_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=500"
for round in 1 2 3; do
	before=$(consumed)
	start_worker
	# Wait until this worker is making progress, then kill it a random
	# moment later: mid-batch, mid-commit or mid-publish, wherever it is.
	for _ in $(seq 600); do
		[ "$(consumed)" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(consumed)" -gt "$before" ] || fail "round $round: no progress within 60 s"
	sleep "$(python3 -c "import random; print(round(random.uniform(0.0, 1.5), 2))")"
	kill_worker
	log "round $round: killed at $(consumed) consumed"
done
[ "$(consumed)" -lt $N ] || fail "the kills came after the work was done; nothing was tested"
start_worker
wait_consumed $N 600
stop_worker

check_balances --budget-crossed
check_verify
check_no_double_apply
check_activity_published
echo "crash: ok"
