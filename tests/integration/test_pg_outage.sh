#!/usr/bin/env bash
# PostgreSQL away during a rebalance: the offsets live in PostgreSQL, so the
# worker that takes over partitions cannot know where to start. It must not
# exit or guess: it keeps polling with those partitions paused, /readyz
# says so (and /healthz does not fail), and when PostgreSQL is back it seeks
# them to the stored offsets and goes on. Nothing is lost or applied twice.
source "$(dirname "$0")/lib.sh"
setup_case pgout
export LOYALTY_BATCH_MAX_EVENTS=200
# a killed member's partitions move in seconds, not the default 45 s
export LOYALTY_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=500"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT

# wait_body URL TEXT SECONDS: until the body of GET URL contains TEXT
wait_body() {
	local i
	for i in $(seq 1 $(($3 * 5))); do
		curl -s --max-time 2 "$1" 2>/dev/null | grep -q "$2" && return 0
		sleep 0.2
	done
	fail "$1 never said '$2' within $3 s (last: $(curl -s --max-time 2 "$1"))"
}
metric() { curl -s --max-time 2 "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

"$LOYALTYCTL" produce --count 3000 --seed 21 --customers 500 2>/dev/null || fail "produce"
LOYALTY_HTTP_LISTEN=127.0.0.1:$PORT start_worker
A_PID=$WORKER_PID
"$LOYALTYD" >>"$CASE_DIR/second.log" 2>&1 &
B_PID=$!
trap 'status=$?; kill -9 $B_PID 2>/dev/null || true; teardown_case $status' EXIT
wait_consumed 3000
# both workers hold partitions before PostgreSQL goes
total=$(($(input_topics | wc -w) * ${PARTITIONS:-6}))
for _ in $(seq 1 150); do
	n=$(metric loyalty_partitions_assigned)
	[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt "$total" ] && break
	sleep 0.2
done
[ -n "$n" ] && [ "$n" -gt 0 ] && [ "$n" -lt "$total" ] || fail "the two workers do not share the $total partitions (the first holds '$n')"

"$LY_SOURCE_DIR/deploy/local/pg.sh" stop >/dev/null
kill -9 "$B_PID"
wait "$B_PID" 2>/dev/null || true
# the group gives the dead worker's partitions to the first, which cannot
# read their offsets now
wait_body "$URL/readyz" 'partitions paused waiting for their offsets' 60
[ "$(metric loyalty_partitions_assigned)" = "$total" ] || fail "partitions after the rebalance: $(metric loyalty_partitions_assigned), want $total"
"$LOYALTYCTL" produce --count 3000 --seed 22 --customers 500 2>/dev/null || fail "produce during the outage"
sleep 3
kill -0 "$A_PID" || fail "the worker exited while PostgreSQL was away: $(tail -5 "$CASE_DIR/loyaltyd.log")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "/healthz failed during the outage"

"$LY_SOURCE_DIR/deploy/local/pg.sh" start >/dev/null
wait_body "$URL/readyz" '^ready$' 60
grep -q "partitions resumed: $total" "$CASE_DIR/loyaltyd.log" || fail "no resume logged"
wait_consumed 6000 300
stop_worker

check_balances
check_verify
check_no_double_apply
check_activity_published
echo "pg_outage: ok"
