#!/usr/bin/env bash
# deploy/local/demo.sh BUILD_DIR: the demo `make demo` runs. Starts the
# throwaway PostgreSQL, runs loyaltyd on the embedded broker, produces a few
# hundred sample events, prints balances and the last activity events, then
# stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
CONFIG=deploy/local/demo.yaml
COUNT=${DEMO_EVENTS:-400}
DEMO_DIR=build/local/demo
PG=postgresql://postgres@127.0.0.1:55432/loyalty
mkdir -p "$DEMO_DIR"
rm -f "$DEMO_DIR/bootstrap"

worker=""
started_pg=0
cleanup() {
	if [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null; then
		kill -TERM "$worker" 2>/dev/null || true
		wait "$worker" 2>/dev/null || true
	fi
	[ $started_pg = 0 ] || deploy/local/pg.sh stop >/dev/null || true
}
trap cleanup EXIT

deploy/local/pg.sh status >/dev/null 2>&1 || started_pg=1
deploy/local/pg.sh start >/dev/null
PGOPTIONS="-c client_min_messages=warning" psql "$PG" -X -q -c "DROP SCHEMA IF EXISTS demo CASCADE" >/dev/null
"$BUILD/loyaltyctl" --config "$CONFIG" migrate

"$BUILD/loyaltyd" --config "$CONFIG" 2>"$DEMO_DIR/loyaltyd.log" &
worker=$!
for _ in $(seq 100); do
	[ -s "$DEMO_DIR/bootstrap" ] && break
	kill -0 "$worker" 2>/dev/null || { cat "$DEMO_DIR/loyaltyd.log" >&2; exit 1; }
	sleep 0.1
done
brokers=$(cat "$DEMO_DIR/bootstrap")
echo "loyaltyd is running on the embedded broker at $brokers"

"$BUILD/loyaltyctl" --config "$CONFIG" produce --brokers "$brokers" --count "$COUNT" \
	--seed 2026 --customers 40
consumed=0
for _ in $(seq 300); do
	consumed=$(psql "$PG" -X -A -t -c "SELECT coalesce(sum(next_offset), 0) FROM demo.consumer_offsets")
	[ "$consumed" -ge "$COUNT" ] && break
	sleep 0.2
done
echo "applied $consumed events"
"$BUILD/loyaltyctl" --config "$CONFIG" verify

echo
echo "Top balances (points; pending points wait out the 14-day return window):"
psql "$PG" -X -q -P footer=off -c "
	SELECT b.customer_id AS customer, b.available, b.pending,
	       (SELECT count(*) FROM demo.ledger l WHERE l.customer_id = b.customer_id) AS ledger_lines
	FROM demo.balances b ORDER BY b.available + b.pending DESC, 1 LIMIT 10"

echo "One customer's ledger, every line explained:"
top=$(psql "$PG" -X -A -t -c "SELECT customer_id FROM demo.balances ORDER BY available + pending DESC, 1 LIMIT 1")
"$BUILD/loyaltyctl" --config "$CONFIG" history "$top" | sed -n 1,8p
"$BUILD/loyaltyctl" --config "$CONFIG" balance "$top" --json

echo
echo "The last activity events on loyalty.activity:"
for _ in $(seq 50); do
	[ "$(psql "$PG" -X -A -t -c "SELECT count(*) FROM demo.outbox WHERE published_at IS NULL")" = 0 ] && break
	sleep 0.1
done
kcat -C -b "$brokers" -t loyalty.activity -o -2 -e -q -f '%k  %s\n' | tail -n 5

kill -TERM "$worker"
wait "$worker"
worker=""
echo
echo "demo: done (loyaltyd stopped cleanly)"
