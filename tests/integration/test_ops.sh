#!/usr/bin/env bash
# Operations: /metrics as promtool and a real Prometheus server read it,
# /healthz and /readyz as PostgreSQL goes away and comes back, SIGHUP with a
# good and with a broken program, and logs that are JSON lines with ids
# only (no password from the conninfo).
source "$(dirname "$0")/lib.sh"
setup_case ops

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(free_port)
PROM_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
# a password libpq sends nowhere (trust auth) but that must never be logged
export LOYALTY_POSTGRES_CONNINFO="${LY_TEST_PG/postgres@/postgres:hunter2-conninfo@}"
export LOYALTY_HTTP_LISTEN=127.0.0.1:$HTTP_PORT
export LOYALTY_HTTP_STALL_TIMEOUT_MS=60000
# a copy of the program we may rewrite under the worker for SIGHUP
cp "$TEST_PROGRAM" "$CASE_DIR/program.yaml"
export LOYALTY_PROGRAM=$CASE_DIR/program.yaml

# status URL: the HTTP status of GET URL (000 when nothing answers)
status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1" || true; }
# wait_status WANT URL [SECONDS]
wait_status() {
	local want=$1 url=$2 limit=${3:-60} i=0
	while [ "$(status "$url")" != "$want" ]; do
		i=$((i + 1))
		[ $i -le $((limit * 5)) ] || fail "$url did not answer $want within ${limit}s (last $(status "$url"): $(curl -s "$url"))"
		sleep 0.2
	done
}
# metric NAME_WITH_LABELS: its value in a fresh scrape, or empty
metric() { curl -s "$URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# wait_metric NAME_WITH_LABELS VALUE: within 10 s
wait_metric() {
	local i
	for i in $(seq 1 50); do
		[ "$(metric "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	fail "$1 is '$(metric "$1")', want $2"
}

"$LOYALTYCTL" produce --count 3000 --seed 5 --customers 200 2>/dev/null || fail "produce"
start_worker
wait_status 200 "$URL/healthz"
wait_status 200 "$URL/readyz"
wait_consumed 3000

# ---- /metrics: the text format, checked by promtool ----
curl -sf "$URL/metrics" >"$CASE_DIR/scrape.txt" || fail "GET /metrics"
promtool check metrics <"$CASE_DIR/scrape.txt" >"$CASE_DIR/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$CASE_DIR/promtool.out")"
applied=$(sql "SELECT count(*) FROM processed_events")
got=$(awk '$1 ~ /^loyalty_events_applied_total\{/ { s += $2 } END { print s + 0 }' "$CASE_DIR/scrape.txt")
rejected=$(awk '$1 ~ /^loyalty_events_rejected_total\{/ { s += $2 } END { print s + 0 }' "$CASE_DIR/scrape.txt")
[ "$((got + rejected))" = "$applied" ] || fail "applied $got + rejected $rejected, processed_events $applied"
consumed_total=$(awk '$1 ~ /^loyalty_events_consumed_total\{/ { s += $2 } END { print s + 0 }' "$CASE_DIR/scrape.txt")
[ "$consumed_total" = 3000 ] || fail "loyalty_events_consumed_total $consumed_total, want 3000"
for m in 'loyalty_batch_duration_seconds_count' 'loyalty_batch_size_count' 'loyalty_partitions_assigned' \
	'loyalty_ready' 'process_resident_memory_bytes' 'process_cpu_seconds_total'; do
	v=$(awk -v m="$m" '$1 == m { print $2 }' "$CASE_DIR/scrape.txt")
	[ -n "$v" ] && [ "$v" != 0 ] || fail "$m is '$v' after 3000 events"
done
credited=$(sql "SELECT coalesce(sum(delta_available + delta_pending), 0) FROM ledger WHERE delta_available + delta_pending > 0")
[ "$(metric loyalty_points_credited_total)" = "$credited" ] || fail "points credited $(metric loyalty_points_credited_total), ledger $credited"
version=$(sql "SELECT DISTINCT program_version FROM ledger")
grep -q "^loyalty_program_info{name=\"test-shop\",version=\"$version\"} 1\$" "$CASE_DIR/scrape.txt" ||
	fail "program_info: $(grep program_info "$CASE_DIR/scrape.txt")"
# the consumer lag of each assigned partition arrives with librdkafka's statistics (every 5 s)
for _ in $(seq 1 60); do
	n=$(curl -s "$URL/metrics" | grep -c '^loyalty_consumer_lag{topic=' || true)
	[ "$n" -ge 6 ] && break
	sleep 0.5
done
[ "$n" -ge 6 ] || fail "consumer lag for $n partitions, want at least 6"

# ---- a real Prometheus server scrapes the worker ----
cat >"$CASE_DIR/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: loyaltyd
    static_configs: [{targets: ["127.0.0.1:$HTTP_PORT"]}]
YAML
prometheus --config.file="$CASE_DIR/prometheus.yml" --storage.tsdb.path="$CASE_DIR/tsdb" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$CASE_DIR/prometheus.log" 2>&1 &
PROM_PID=$!
trap 'status=$?; kill $PROM_PID 2>/dev/null || true; teardown_case $status' EXIT
answer=""
for _ in $(seq 1 120); do
	answer=$(curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query?query=sum(loyalty_events_applied_total)" || true)
	python3 -c 'import json,sys; r=json.loads(sys.argv[1])["data"]["result"]; sys.exit(0 if r and float(r[0]["value"][1]) == float(sys.argv[2]) else 1)' \
		"$answer" "$got" 2>/dev/null && break
	answer=""
	sleep 0.5
done
[ -n "$answer" ] || fail "Prometheus did not answer sum(loyalty_events_applied_total) = $got: $(tail -5 "$CASE_DIR/prometheus.log")"
kill "$PROM_PID"
wait "$PROM_PID" 2>/dev/null || true

# ---- /healthz and /readyz while PostgreSQL is away ----
"$LY_SOURCE_DIR/deploy/local/pg.sh" stop >/dev/null
wait_status 503 "$URL/readyz" 30
curl -s "$URL/readyz" | grep -q 'PostgreSQL cannot be reached' || fail "readyz reason: $(curl -s "$URL/readyz")"
[ "$(status "$URL/healthz")" = 200 ] || fail "healthz failed during the outage: the loop keeps going"
[ "$(metric loyalty_ready)" = 0 ] || fail "loyalty_ready $(metric loyalty_ready) during the outage"
"$LY_SOURCE_DIR/deploy/local/pg.sh" start >/dev/null
wait_status 200 "$URL/readyz" 60
kill -0 "$WORKER_PID" || fail "loyaltyd died during the PostgreSQL outage"

# ---- SIGHUP: a good program, then a broken one ----
sed 's/earn: {points: 50}$/earn: {points: 51}/' "$TEST_PROGRAM" >"$CASE_DIR/program.yaml"
cmp -s "$TEST_PROGRAM" "$CASE_DIR/program.yaml" && fail "the test program has no 'earn: {points: 50}' line to change"
kill -HUP "$WORKER_PID"
wait_metric 'loyalty_program_reloads_total{result="success"}' 1
new_version=$(curl -s "$URL/metrics" | sed -n 's/^loyalty_program_info{name="test-shop",version="\(.*\)"} 1$/\1/p')
[ -n "$new_version" ] && [ "$new_version" != "$version" ] || fail "program_info after reload: $new_version (was $version)"
printf 'version: 1\nprogram: {name: integration}\nrules:\n  - {id: x, on: order.paid, iff: true}\n' >"$CASE_DIR/program.yaml"
kill -HUP "$WORKER_PID"
wait_metric 'loyalty_program_reloads_total{result="failure"}' 1
grep -q 'reload refused, keeping program' "$CASE_DIR/loyaltyd.log" || fail "the refusal is not logged"
grep -q 'program.yaml:4:29: unknown key' "$CASE_DIR/loyaltyd.log" || fail "the refusal does not say where: $(grep reload "$CASE_DIR/loyaltyd.log")"
curl -s "$URL/metrics" | grep -q "^loyalty_program_info{name=\"test-shop\",version=\"$new_version\"} 1\$" ||
	fail "the reloaded program did not keep running"
# events after the reload run the new program
"$LOYALTYCTL" produce --count 500 --seed 6 --customers 200 2>/dev/null || fail "produce"
wait_consumed 3500
[ "$(sql "SELECT count(*) FROM ledger WHERE program_version = '$new_version'")" -gt 0 ] ||
	fail "no ledger line from the reloaded program"
stop_worker

# ---- logs: JSON lines, ids only ----
python3 - "$CASE_DIR/loyaltyd.log" <<'PY' || fail "a log line is not a JSON object"
import json, sys
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    o = json.loads(line)
    assert isinstance(o, dict) and {"level", "component", "msg"} <= set(o), (n, line)
PY
if grep -q 'hunter2' "$CASE_DIR/loyaltyd.log"; then fail "the conninfo's password was logged"; fi
check_verify
echo "test_ops: ok"
