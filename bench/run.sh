#!/usr/bin/env bash
# bench/run.sh: the whole-path benchmark (`make bench`): loyaltyd between the
# real broker and the real PostgreSQL, on this machine. A command that
# prints figures, never a test: goals are reported, nothing is asserted.
#
#   LY_BIN_DIR=build bash bench/run.sh
#
# Stages, each with its own schema, consumer group and output topics:
#   backlog   bench/loadgen writes BENCH_EVENTS events (default 2,000,000)
#             to BENCH_PARTITIONS partitions (12) of fresh input topics,
#             then one loyaltyd (batch.max_events 1000, as shipped)
#             drains them: events/s between its first and last commit
#             (PostgreSQL's own transaction stamps), its CPU seconds per
#             1,000 events (/proc/PID/stat) and its peak RSS (VmHWM just
#             before SIGTERM).
#   ceiling   the backlog's schema dropped, a second loyaltyd drains the
#             same topics into another, keeping the outbox rows it
#             publishes (outbox.keep_published_s a year): its events/s is
#             printed too. bench/ceiling loads the rows that drain wrote,
#             in the same transactions, with COPY into a fresh schema: the
#             database's own events/s, which the backlog's is a percentage
#             of; then again with only the ledger, lots, balances,
#             processed events, offsets and outbox, for comparison.
#   batches   the throughput by batch size (BENCH_BATCHES, default 1 10 100
#             1000 5000): a fresh loyaltyd with that batch.max_events reads
#             the backlog's topics from the start and is stopped once it has
#             applied its share (the counts are printed); 1000 is the
#             backlog stage itself, and batch 1 is the floor.
#   latency   a fresh loyaltyd (batch 1000, as shipped) takes BENCH_RATE
#             events/s (5,000) for BENCH_WARMUP_S (10) and then BENCH_SECONDS
#             (60); bench/latency pairs each event with its
#             loyalty.points.changed and times those of the BENCH_SECONDS:
#             p50, p99, p99.9, max. The shop (BENCH_LATENCY_SHOP) is the
#             backlog stage's when it ran, or the ceiling's drain's ("known":
#             a shop in service, its 200,000 customers and a year of their
#             history known; first brought up to date: the published rows
#             the ceiling's drain kept deleted, as shipped, and
#             `loyaltyctl tick`), else a new one
#             ("new": every customer's first event).
# Then bench/results/<date>.json (every figure, the machine, the versions,
# the commit) and bench/results/<date>.png (gnuplot: throughput by batch
# size, the latency distribution), a table with each goal beside its
# figure, and (BENCH_DOCS=1) the same table and chart in
# docs/performance.md and docs/performance.png.
#
# Knobs (environment): BENCH_EVENTS, BENCH_BATCHES, BENCH_BATCH_EVENTS
# ("1:20000 10:100000 ...": events per batch-size run; default a share of
# BENCH_EVENTS), BENCH_RATE, BENCH_SECONDS, BENCH_WARMUP_S (0: none),
# BENCH_LATENCY_SHOP (known, new), BENCH_CUSTOMERS (200,000),
# BENCH_SEED (42), BENCH_PARTITIONS, BENCH_STAGES (default "backlog ceiling
# batches latency"; ceiling and batches need backlog), BENCH_RESULTS (the
# results directory), BENCH_DOCS (1: update docs/), BENCH_KEEP (1: keep the
# schemas and topics), BENCH_PG and BENCH_KAFKA (the servers of `make
# services-up`), BENCH_TIMEOUT_S (the longest a drain may take, 7200). A
# quick try: BENCH_EVENTS=100000 BENCH_SECONDS=10.
#
# Every loyaltyd runs as shipped, outbox rows deleted once published, but
# the ceiling stage's: the ceiling copies the rows a drain wrote, outbox
# included, and a row deleted once published could not be copied, so that
# drain keeps them (outbox.keep_published_s a year, no pruning). Marking a
# row published writes it again, payload and all, where deleting it only
# marks it dead: both drains' events/s are printed.
#
# The worker runs with scheduler.interval_ms 0 in the throughput stages:
# their events are spread over the past year, so a scheduler pass would
# release and expire a year of points in the middle of the drain, which is
# time-driven work and not the events'. The latency stage runs it as
# shipped.
set -euo pipefail

LY_SOURCE_DIR=${LY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
LY_BIN_DIR=${LY_BIN_DIR:-$LY_SOURCE_DIR/build}
BENCH_PG=${BENCH_PG:-postgresql://postgres@127.0.0.1:55432/loyalty}
BENCH_KAFKA=${BENCH_KAFKA:-127.0.0.1:59092}
BENCH_EVENTS=${BENCH_EVENTS:-2000000}
BENCH_BATCHES=${BENCH_BATCHES:-1 10 100 1000 5000}
BENCH_BATCH_EVENTS=${BENCH_BATCH_EVENTS:-}
BENCH_RATE=${BENCH_RATE:-5000}
BENCH_SECONDS=${BENCH_SECONDS:-60}
BENCH_WARMUP_S=${BENCH_WARMUP_S:-10}
BENCH_CUSTOMERS=${BENCH_CUSTOMERS:-200000}
BENCH_SEED=${BENCH_SEED:-42}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-12}
BENCH_STAGES=${BENCH_STAGES:-backlog ceiling batches latency}
BENCH_LATENCY_SHOP=${BENCH_LATENCY_SHOP:-}
BENCH_PROGRAM=${BENCH_PROGRAM:-$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml}
BENCH_RESULTS=${BENCH_RESULTS:-$LY_SOURCE_DIR/bench/results}
BENCH_DOCS=${BENCH_DOCS:-1}
BENCH_KEEP=${BENCH_KEEP:-0}
# Longest a drain or the latency stage's catching up may take.
BENCH_TIMEOUT_S=${BENCH_TIMEOUT_S:-7200}

# The full size the goals are stated for.
FULL_EVENTS=2000000 FULL_RATE=5000 FULL_SECONDS=60 FULL_CUSTOMERS=200000

LOYALTYD=$LY_BIN_DIR/loyaltyd
LOYALTYCTL=$LY_BIN_DIR/loyaltyctl
LOADGEN=$LY_BIN_DIR/loadgen
LATENCY=$LY_BIN_DIR/latency
CEILING=$LY_BIN_DIR/ceiling
RUN_ID="bench_$(date +%s)_$$"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ly-bench.XXXXXX")
WORKER_PID=""
CASES=()
SHOP=backlog # the drained shop the latency stage runs on (BENCH_LATENCY_SHOP known)
CLK_TCK=$(getconf CLK_TCK)

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
die() {
	echo "bench: $*" >&2
	exit 1
}

for b in "$LOYALTYD" "$LOYALTYCTL" "$LOADGEN" "$LATENCY" "$CEILING"; do
	[ -x "$b" ] || die "$b is missing: build first (make build, or LY_BIN_DIR=...)"
done
command -v gnuplot >/dev/null || die "gnuplot is missing (Debian: gnuplot-nox; make deps)"
command -v psql >/dev/null || die "psql is missing (Debian: postgresql-client-15)"
command -v python3 >/dev/null || die "python3 is missing"
has_stage() { [[ " $BENCH_STAGES " == *" $1 "* ]]; }
if { has_stage ceiling || has_stage batches; } && ! has_stage backlog; then
	die "BENCH_STAGES: ceiling and batches read the backlog stage's data"
fi
if [ -z "$BENCH_LATENCY_SHOP" ]; then
	BENCH_LATENCY_SHOP=new
	has_stage backlog && BENCH_LATENCY_SHOP=known
fi
case $BENCH_LATENCY_SHOP in
known) has_stage backlog || die "BENCH_LATENCY_SHOP=known: the shop is the backlog stage's" ;;
new) ;;
*) die "BENCH_LATENCY_SHOP: known or new, not \"$BENCH_LATENCY_SHOP\"" ;;
esac

# ---- cases: a schema, a group and topics each ----

# use_case NAME [INPUTS]: the LOYALTY_* variables of case NAME (its schema,
# group and output topics), reading the input topics of case INPUTS
# (default its own). Creates nothing.
use_case() {
	local name=$1 inputs=${2:-$1} t
	export LOYALTY_KAFKA_BROKERS=$BENCH_KAFKA
	export LOYALTY_KAFKA_GROUP_ID="g-$RUN_ID-$name"
	export LOYALTY_POSTGRES_CONNINFO=$BENCH_PG
	export LOYALTY_POSTGRES_SCHEMA="${RUN_ID}_$name"
	export LOYALTY_PROGRAM=$BENCH_PROGRAM
	export LOYALTY_CODES_SECRET="bench-codes-secret-$RUN_ID"
	export LOYALTY_LOG_LEVEL=info
	for t in customers orders reviews social requests; do
		export "LOYALTY_TOPICS_${t^^}=$RUN_ID.$inputs.$t"
	done
	for t in offers activity dlq; do
		export "LOYALTY_TOPICS_${t^^}=$RUN_ID.$name.$t"
	done
}

# new_case NAME [INPUTS]: use_case, then a fresh schema and the topics.
new_case() {
	use_case "$@"
	CASES+=("$1")
	"$LOYALTYCTL" migrate >/dev/null || die "migrate $LOYALTY_POSTGRES_SCHEMA"
	"$LOYALTYCTL" topics --partitions "$BENCH_PARTITIONS" >/dev/null || die "topics"
}

# drop_schemas SCHEMA...: gone, unless BENCH_KEEP=1.
drop_schemas() {
	local args=() s
	[ "$BENCH_KEEP" != 1 ] || return 0
	for s in "$@"; do
		args+=(-c "DROP SCHEMA IF EXISTS \"$s\" CASCADE")
	done
	psql "$BENCH_PG" -X -q -c "SET client_min_messages TO warning" "${args[@]}" \
		>/dev/null 2>&1 || true
}

# drop_case NAME: case NAME's schemas and topics gone, unless BENCH_KEEP=1.
# A case is dropped once measured: a full run writes tens of GB, and the
# disk should hold only what is still to be read.
drop_case() {
	local name=$1
	[ "$BENCH_KEEP" != 1 ] || return 0
	(
		use_case "$name"
		"$LOADGEN" --delete-topics >/dev/null 2>&1 || true
	)
	drop_schemas "${RUN_ID}_$name" "${RUN_ID}_${name}_ceiling" "${RUN_ID}_${name}_ceiling_six"
}

cleanup() {
	local status=$? name
	if [ -n "$WORKER_PID" ] && kill -0 "$WORKER_PID" 2>/dev/null; then
		kill -9 "$WORKER_PID" 2>/dev/null || true
	fi
	if [ "$BENCH_KEEP" != 1 ]; then
		for name in "${CASES[@]}"; do
			drop_case "$name"
		done
		rm -rf "$WORK"
	else
		log "kept: schemas ${RUN_ID}_*, topics $RUN_ID.*, files in $WORK"
	fi
	exit $status
}
trap cleanup EXIT

# sql QUERY: rows of a query in the current case's schema, tab-separated.
sql() {
	psql "$BENCH_PG" -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 \
		-c "SET search_path TO $LOYALTY_POSTGRES_SCHEMA" -c "$1"
}

consumed() {
	sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets
	     WHERE group_id = '$LOYALTY_KAFKA_GROUP_ID'"
}

# dead_letters: the messages on the current case's DLQ topic (published:
# the outbox keeps none of them).
dead_letters() {
	timeout 120 kcat -b "$BENCH_KAFKA" -C -t "$LOYALTY_TOPICS_DLQ" -o beginning -e -q -f '.\n' \
		2>/dev/null | wc -l
}

# checkpoint: the dirty buffers an earlier stage left written out now, so
# that writing them out does not slow the next measurement's WAL flushes (a
# batch-1 run after the ceiling stage went at 369 events/s, and at 510 on
# its own).
checkpoint() {
	psql "$BENCH_PG" -X -q -c "CHECKPOINT" >/dev/null || die "CHECKPOINT"
}

# ---- the worker ----

# What the ceiling's drain adds: published outbox rows kept to be copied.
KEEP_ROWS="LOYALTY_OUTBOX_KEEP_PUBLISHED_S=31536000 LOYALTY_OUTBOX_PRUNE_INTERVAL_MS=0"

# start_worker BATCH [VAR=VALUE...]: one loyaltyd of the current case.
start_worker() {
	local batch=$1
	shift
	env LOYALTY_BATCH_MAX_EVENTS="$batch" "$@" "$LOYALTYD" \
		>>"$WORK/$LOYALTY_POSTGRES_SCHEMA.log" 2>&1 &
	WORKER_PID=$!
}

worker_alive() {
	kill -0 "$WORKER_PID" 2>/dev/null || {
		tail -n 20 "$WORK/$LOYALTY_POSTGRES_SCHEMA.log" >&2
		die "loyaltyd died"
	}
}

wait_assigned() {
	local waited=0
	until grep -q '"partitions assigned' "$WORK/$LOYALTY_POSTGRES_SCHEMA.log"; do
		worker_alive
		[ $waited -lt 600 ] || die "loyaltyd got no partitions within 60 s"
		sleep 0.1
		waited=$((waited + 1))
	done
}

# wait_consumed N: until the case's group has applied N input messages.
wait_consumed() {
	local want=$1 start got last=0
	start=$(date +%s)
	while :; do
		got=$(consumed)
		[ "$got" -ge "$want" ] && return 0
		worker_alive
		[ $(($(date +%s) - start)) -lt "$BENCH_TIMEOUT_S" ] ||
			die "applied $got of $want events within $BENCH_TIMEOUT_S s"
		if [ $((got - last)) -ge $((want / 10 > 0 ? want / 10 : 1)) ]; then
			log "  $got of $want applied"
			last=$got
		fi
		sleep 1
	done
}

# wait_published: until the outbox has nothing left to publish.
wait_published() {
	local start
	start=$(date +%s)
	until [ "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ]; do
		worker_alive
		[ $(($(date +%s) - start)) -lt "$BENCH_TIMEOUT_S" ] ||
			die "the outbox was not published within $BENCH_TIMEOUT_S s"
		sleep 0.5
	done
}

# cpu_s PID: user + system CPU seconds of a process so far.
cpu_s() {
	awk -v tck="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / tck }' "/proc/$1/stat"
}

# hwm_kib PID: the peak resident set.
hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}

# stop_worker: SIGTERM; loyaltyd finishes its batch and exits.
stop_worker() {
	local waited=0
	kill -TERM "$WORKER_PID"
	while kill -0 "$WORKER_PID" 2>/dev/null && [ $waited -lt 300 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -0 "$WORKER_PID" 2>/dev/null && kill -9 "$WORKER_PID"
	wait "$WORKER_PID" 2>/dev/null || true
	WORKER_PID=""
}

# commit_rate: "batches events seconds events_per_s" of the current case.
# Every batch's rows carry its transaction's now() (processed_at): the
# events of all batches but the last, over the time from the first batch's
# start to the last's.
commit_rate() {
	sql "WITH b AS (SELECT processed_at AS at, count(*) AS n FROM processed_events
	                GROUP BY 1),
	          s AS (SELECT count(*) AS batches, sum(n) AS events,
	                       extract(epoch FROM max(at) - min(at)) AS seconds,
	                       (SELECT n FROM b ORDER BY at DESC LIMIT 1) AS last_n FROM b)
	     SELECT batches, events, round(seconds::numeric, 3),
	            CASE WHEN seconds > 0 THEN round((events - last_n) / seconds::numeric)
	                 ELSE 0 END FROM s" | tr '\t' ' '
}

# ---- stages ----

backlog_stage() {
	log "backlog: $BENCH_EVENTS events to $BENCH_PARTITIONS partitions"
	new_case backlog
	"$LOADGEN" --count "$BENCH_EVENTS" --seed "$BENCH_SEED" --customers "$BENCH_CUSTOMERS" \
		--json "$WORK/loadgen-backlog.json" | tee "$WORK/loadgen-backlog.txt" >&2
	log "backlog: one loyaltyd, batch.max_events 1000, drains it"
	drain backlog
	cp "$WORK/backlog.json" "$WORK/batch-1000.json"
	# The ceiling's drain makes the shop again, keeping the outbox: this
	# schema goes first, so that the next drain and the ceiling run with
	# one shop in the caches, as this drain did.
	if has_stage ceiling; then
		drop_schemas "$LOYALTY_POSTGRES_SCHEMA"
		SHOP=backlog_kept
	fi
}

# drain NAME [VAR=VALUE...]: one loyaltyd (batch 1000, no scheduler passes)
# drains the backlog into the current case; its figures to WORK/NAME.json.
drain() {
	local name=$1 cpu hwm batches events seconds rate dlq
	shift
	checkpoint
	start_worker 1000 LOYALTY_SCHEDULER_INTERVAL_MS=0 "$@"
	wait_consumed "$BENCH_EVENTS"
	wait_published
	cpu=$(cpu_s "$WORKER_PID")
	hwm=$(hwm_kib "$WORKER_PID")
	stop_worker
	read -r batches events seconds rate < <(commit_rate)
	dlq=$(dead_letters)
	printf '{"batch": 1000, "events": %s, "batches": %s, "seconds": %s, "events_per_s": %s, "cpu_s": %s, "cpu_s_per_1000": %s, "peak_rss_kib": %s, "dead_letters": %s}\n' \
		"$events" "$batches" "$seconds" "$rate" "$cpu" \
		"$(awk -v c="$cpu" -v n="$events" 'BEGIN { printf "%.3f", c * 1000 / n }')" \
		"$hwm" "$dlq" >"$WORK/$name.json"
	log "$name: $rate events/s ($events events, $batches batches, $seconds s), $cpu CPU s, peak RSS $((hwm / 1024)) MiB, $dlq dead letters"
}

# The ceiling twice: every table the drain wrote (the figure compared
# with), then only the core of points and exactly-once (ledger, lots,
# balances, processed events, offsets, outbox), to show what the rest costs.
SIX_TABLES=ledger,lots,balances,processed_events,consumer_offsets,outbox
ceiling_stage() {
	log "ceiling: a loyaltyd that keeps the published outbox rows drains the backlog again"
	new_case backlog_kept backlog
	drain backlog-kept $KEEP_ROWS
	local from=$LOYALTY_POSTGRES_SCHEMA group=$LOYALTY_KAFKA_GROUP_ID to tables name
	for name in ceiling ceiling_six; do
		to="${from}_$name"
		tables=()
		[ $name = ceiling ] || tables=(--tables "$SIX_TABLES")
		log "$name: the backlog's rows, COPY into $to, the same transactions"
		LOYALTY_POSTGRES_SCHEMA=$to "$LOYALTYCTL" migrate >/dev/null || die "migrate $to"
		checkpoint
		"$CEILING" --from "$from" --to "$to" --group "$group" --dir "$WORK" \
			"${tables[@]}" --json "$WORK/$name.json" | tee "$WORK/$name.txt" >&2
		rm -f "$WORK"/*.copy
		drop_schemas "$to"
	done
	# the latency stage's shop, when it runs on a known one
	if ! has_stage latency || [ "$BENCH_LATENCY_SHOP" != known ]; then
		drop_case backlog_kept
	fi
}

# batch_events B: how many events the batch-size-B run applies.
batch_events() {
	local b=$1 pair n=""
	for pair in $BENCH_BATCH_EVENTS; do
		[ "${pair%%:*}" = "$b" ] && n=${pair#*:}
	done
	if [ -z "$n" ]; then
		case $b in
		1) n=$((BENCH_EVENTS / 100)) ;;
		10) n=$((BENCH_EVENTS / 20)) ;;
		100) n=$((BENCH_EVENTS / 5)) ;;
		*) n=$((BENCH_EVENTS / 2)) ;;
		esac
	fi
	[ "$n" -ge $((b * 10)) ] || n=$((b * 10))
	[ "$n" -le "$BENCH_EVENTS" ] || n=$BENCH_EVENTS
	echo "$n"
}

batches_stage() {
	local b n batches events seconds rate
	for b in $BENCH_BATCHES; do
		[ "$b" = 1000 ] && continue # the backlog stage
		n=$(batch_events "$b")
		log "batches: batch.max_events $b, the first $n events of the backlog"
		new_case "batch$b" backlog
		checkpoint
		start_worker "$b" LOYALTY_SCHEDULER_INTERVAL_MS=0
		wait_consumed "$n"
		wait_published
		stop_worker
		read -r batches events seconds rate < <(commit_rate)
		printf '{"batch": %s, "events": %s, "batches": %s, "seconds": %s, "events_per_s": %s, "dead_letters": %s}\n' \
			"$b" "$events" "$batches" "$seconds" "$rate" "$(dead_letters)" \
			>"$WORK/batch-$b.json"
		drop_case "batch$b"
		log "batches: batch $b: $rate events/s ($events events, $batches batches)"
	done
}

latency_stage() {
	local n=$((BENCH_RATE * (BENCH_WARMUP_S + BENCH_SECONDS))) first=0 since=0
	log "latency: $BENCH_RATE events/s for $BENCH_SECONDS s into a running loyaltyd ($BENCH_LATENCY_SHOP shop)"
	if [ "$BENCH_LATENCY_SHOP" = known ]; then
		use_case "$SHOP"
		log "latency: the backlog's shop ($SHOP) brought up to date: its outbox as shipped, its scheduler passes"
		sql "DELETE FROM outbox WHERE published_at IS NOT NULL" >/dev/null
		"$LOYALTYCTL" tick >&2 || die "tick"
		first=$BENCH_EVENTS
	fi
	new_case latency
	[ "$BENCH_LATENCY_SHOP" = known ] && export LOYALTY_POSTGRES_SCHEMA="${RUN_ID}_$SHOP"
	start_worker 1000
	wait_assigned
	wait_published
	# the tick's rows, published and deleted, and the rows the ceiling's
	# drain kept: the outbox vacuumed once, as autovacuum would have in a
	# shop in service (dead entries slow the relay's head query)
	[ "$BENCH_LATENCY_SHOP" = known ] && sql "VACUUM ANALYZE outbox" >/dev/null
	if [ "$BENCH_WARMUP_S" -gt 0 ]; then
		log "latency: $BENCH_WARMUP_S s of warm-up at the same rate, not timed"
		"$LOADGEN" --rate "$BENCH_RATE" --seconds "$BENCH_WARMUP_S" --seed "$BENCH_SEED" \
			--customers "$BENCH_CUSTOMERS" --first "$first" >"$WORK/loadgen-warmup.txt" ||
			die "loadgen (warm-up)"
		first=$((first + BENCH_RATE * BENCH_WARMUP_S))
		since=$(date +%s%3N)
	fi
	"$LOADGEN" --rate "$BENCH_RATE" --seconds "$BENCH_SECONDS" --seed "$BENCH_SEED" \
		--customers "$BENCH_CUSTOMERS" --first "$first" --json "$WORK/loadgen-rate.json" |
		tee "$WORK/loadgen-rate.txt" >&2
	wait_consumed "$n"
	wait_published
	local dlq cpu hwm
	dlq=$(dead_letters)
	cpu=$(cpu_s "$WORKER_PID")
	hwm=$(hwm_kib "$WORKER_PID")
	stop_worker
	"$LATENCY" --since-ms "$since" --cdf "$WORK/latency-cdf.txt" --json "$WORK/latency.json" |
		tee "$WORK/latency.txt" >&2
	printf '{"shop": "%s", "warmup_s": %s, "dead_letters": %s, "cpu_s": %s, "peak_rss_kib": %s}\n' \
		"$BENCH_LATENCY_SHOP" "$BENCH_WARMUP_S" "$dlq" "$cpu" "$hwm" >"$WORK/latency-worker.json"
}

# ---- the report ----

# report DATE: bench/report.py gathers the stages' figures and the machine's
# facts into the results JSON, prints the table (and puts it in
# docs/performance.md); gnuplot draws bench/chart.gp from its data files.
report() {
	local date=$1 png
	png=$BENCH_RESULTS/$date.png
	mkdir -p "$BENCH_RESULTS"
	local docs=()
	if [ "$BENCH_DOCS" = 1 ]; then
		docs=(--docs "$LY_SOURCE_DIR/docs/performance.md")
	fi
	python3 "$LY_SOURCE_DIR/bench/report.py" --work "$WORK" --date "$date" \
		--results "$BENCH_RESULTS" --source "$LY_SOURCE_DIR" --pg "$BENCH_PG" \
		--load "$LOAD_AT_START" --broker-partitions "$BROKER_PARTITIONS" --events "$BENCH_EVENTS" --rate "$BENCH_RATE" \
		--seconds "$BENCH_SECONDS" --customers "$BENCH_CUSTOMERS" --seed "$BENCH_SEED" \
		--partitions "$BENCH_PARTITIONS" --batches "$BENCH_BATCHES" \
		--full "$FULL_EVENTS $FULL_RATE $FULL_SECONDS $FULL_CUSTOMERS" "${docs[@]}"
	gnuplot -e "work='$WORK'; out='$png'" "$LY_SOURCE_DIR/bench/chart.gp"
	if [ "$BENCH_DOCS" = 1 ]; then
		cp "$png" "$LY_SOURCE_DIR/docs/performance.png"
	fi
	log "results: $BENCH_RESULTS/$date.json, $png"
}

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
# Every partition the broker holds costs it work while the bench runs
# (`make bench` starts it empty: deploy/local/kafka.sh reset).
BROKER_PARTITIONS=$(kcat -b "$BENCH_KAFKA" -L -m 10 2>/dev/null | grep -c '^ *partition ' || true)
log "bench $RUN_ID: stages \"$BENCH_STAGES\"; load average $LOAD_AT_START on $(nproc) cores; $BROKER_PARTITIONS partitions on the broker"
for stage in backlog ceiling batches latency; do
	if has_stage $stage; then
		"${stage}_stage"
	fi
done
report "$(date +%F)"
