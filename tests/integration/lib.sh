# tests/integration/lib.sh: what the integration tests share. Sourced, not run.
#
# Each test gets its own PostgreSQL schema, its own topics and its own
# consumer group, so tests never see each other's data. The servers are the
# ones `make test` starts (deploy/local): LY_TEST_PG and LY_TEST_KAFKA
# override where they are.
set -euo pipefail

LY_SOURCE_DIR=${LY_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LY_BIN_DIR=${LY_BIN_DIR:-$LY_SOURCE_DIR/build}
LY_TEST_PG=${LY_TEST_PG:-postgresql://postgres@127.0.0.1:55432/loyalty}
LY_TEST_KAFKA=${LY_TEST_KAFKA:-127.0.0.1:59092}
LOYALTYD=$LY_BIN_DIR/loyaltyd
LOYALTYCTL=$LY_BIN_DIR/loyaltyctl
TEST_PROGRAM=$LY_SOURCE_DIR/tests/integration/program.yaml

WORKER_PID=""
CASE_DIR=""
CASE_IDS=() # every case setup_case made in this test

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
fail() {
	echo "FAIL: $*" >&2
	if [ -n "$CASE_DIR" ] && [ -f "$CASE_DIR/loyaltyd.log" ]; then
		echo "--- last lines of loyaltyd.log" >&2
		tail -n 30 "$CASE_DIR/loyaltyd.log" >&2
	fi
	exit 1
}

# export_topics ID: the LOYALTY_TOPICS_* variables of case ID.
export_topics() {
	local t
	for t in customers orders reviews social requests offers activity dlq; do
		export "LOYALTY_TOPICS_${t^^}=$1.$t"
	done
}

# setup_case NAME: a fresh schema, topics and group; the LOYALTY_* variables
# every loyaltyd/loyaltyctl of this test reads.
setup_case() {
	local name=$1 id
	id="${name}_$(date +%s)_$$_$RANDOM"
	CASE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ly-$name.XXXXXX")
	export LOYALTY_KAFKA_BROKERS=$LY_TEST_KAFKA
	export LOYALTY_KAFKA_GROUP_ID="g-$id"
	export LOYALTY_POSTGRES_CONNINFO=$LY_TEST_PG
	export LOYALTY_POSTGRES_SCHEMA="t_$id"
	export LOYALTY_PROGRAM=$TEST_PROGRAM
	export LOYALTY_BATCH_MAX_EVENTS=${LOYALTY_BATCH_MAX_EVENTS:-1000}
	export LOYALTY_BATCH_MAX_WAIT_MS=${LOYALTY_BATCH_MAX_WAIT_MS:-100}
	export LOYALTY_LOG_LEVEL=${LOYALTY_LOG_LEVEL:-info}
	# The tests compare what the outbox held with what the topics hold, so
	# published rows are kept (as shipped they are deleted once published;
	# test_outbox_prune covers that).
	export LOYALTY_OUTBOX_KEEP_PUBLISHED_S=${LOYALTY_OUTBOX_KEEP_PUBLISHED_S:-86400}
	# Time moves by `loyaltyctl tick --now` in the tests, never by the
	# wall clock: the workers run no scheduler passes of their own.
	export LOYALTY_SCHEDULER_INTERVAL_MS=${LOYALTY_SCHEDULER_INTERVAL_MS:-0}
	# The test program issues gift cards, which need the codes' key.
	export LOYALTY_CODES_SECRET=${LOYALTY_CODES_SECRET:-integration-test-secret-$id}
	export_topics "$id"
	CASE_IDS+=("$id")
	"$LOYALTYCTL" migrate >/dev/null || fail "migrate"
	"$LOYALTYCTL" topics --partitions "${PARTITIONS:-6}" >/dev/null || fail "topics"
	trap teardown_case EXIT
}

# teardown_case [STATUS]: the worker killed; the case's files, and once the
# test passed (STATUS, else $?, is 0) its schemas and topics, gone unless
# KEEP_CASE=1. A failed test's data stays to be looked at; a passed one's
# would only fill the disk, run after run.
teardown_case() {
	local status=${1:-$?} id
	if [ -n "$WORKER_PID" ] && kill -0 "$WORKER_PID" 2>/dev/null; then
		kill -9 "$WORKER_PID" 2>/dev/null || true
	fi
	[ "${KEEP_CASE:-0}" != 1 ] || return 0
	if [ -n "$CASE_DIR" ]; then
		rm -rf "$CASE_DIR"
	fi
	[ "$status" = 0 ] || return 0
	for id in "${CASE_IDS[@]}"; do
		psql "$LY_TEST_PG" -X -q -c "SET client_min_messages TO warning" \
			-c "DROP SCHEMA IF EXISTS t_$id CASCADE" >/dev/null 2>&1 || true
		(
			export_topics "$id"
			"$LY_BIN_DIR/loadgen" --delete-topics >/dev/null 2>&1 || true
		)
	done
	CASE_IDS=()
}

# sql QUERY: one value or rows, tab-separated, from the test's schema.
sql() {
	psql "$LY_TEST_PG" -X -q -A -t -F $'\t' -v ON_ERROR_STOP=1 \
		-c "SET search_path TO $LOYALTY_POSTGRES_SCHEMA" -c "$1"
}

start_worker() {
	"$LOYALTYD" >>"$CASE_DIR/loyaltyd.log" 2>&1 &
	WORKER_PID=$!
}

# stop_worker: SIGTERM, which must finish the batch, commit and exit 0
# within 10 s.
stop_worker() {
	local status=0 waited=0
	kill -TERM "$WORKER_PID"
	while kill -0 "$WORKER_PID" 2>/dev/null && [ $waited -lt 100 ]; do
		sleep 0.1
		waited=$((waited + 1))
	done
	kill -0 "$WORKER_PID" 2>/dev/null && fail "loyaltyd did not exit within 10 s of SIGTERM"
	wait "$WORKER_PID" || status=$?
	WORKER_PID=""
	[ $status -eq 0 ] || fail "loyaltyd exited $status after SIGTERM"
}

kill_worker() {
	kill -9 "$WORKER_PID" 2>/dev/null || true
	wait "$WORKER_PID" 2>/dev/null || true
	WORKER_PID=""
}

# consumed: the sum of the next offsets PostgreSQL holds for the group.
consumed() {
	sql "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = '$LOYALTY_KAFKA_GROUP_ID'"
}

# wait_consumed N [TIMEOUT_S]: until the group has consumed N input messages.
wait_consumed() {
	local want=$1 timeout=${2:-300} start now got
	start=$(date +%s)
	while :; do
		got=$(consumed)
		[ "$got" -ge "$want" ] && return 0
		now=$(date +%s)
		if [ $((now - start)) -ge "$timeout" ]; then
			fail "consumed $got of $want input messages after ${timeout}s"
		fi
		if [ -n "$WORKER_PID" ] && ! kill -0 "$WORKER_PID" 2>/dev/null; then
			fail "loyaltyd died (consumed $got of $want)"
		fi
		sleep 0.2
	done
}

# topic_dump TOPIC FORMAT: every message on a topic, as kcat formats it.
topic_dump() {
	kcat -C -b "$LY_TEST_KAFKA" -t "$1" -o beginning -e -q -f "$2"
}

# topic_dump_json TOPIC: every message on a topic as `kcat -J` lines (topic,
# partition, offset, headers, key, payload), the format the contract
# validator reads.
topic_dump_json() {
	kcat -C -b "$LY_TEST_KAFKA" -t "$1" -o beginning -e -q -J -X fetch.message.max.bytes=4194304
}

# check_contracts FILE...: every message of these kcat -J dumps of outbound
# topics keeps its contract (tests/contracts/validate-messages.js: the
# schemas/outbound JSON Schemas, key == customer, the CloudEvents SDK
# parses it; the DLQ's headers). `make contracts-deps` installs the
# validator. LY_CONTRACTS_ARGS: extra validator options (none by default:
# every message must carry the structured-mode content-type header).
LY_CONTRACTS_ARGS=${LY_CONTRACTS_ARGS:-}
check_contracts() {
	local dir=$LY_SOURCE_DIR/tests/contracts
	[ -d "$dir/node_modules/ajv" ] && [ -d "$dir/node_modules/cloudevents" ] ||
		fail "the contract validator is not installed: run make contracts-deps"
	# shellcheck disable=SC2086
	node "$dir/validate-messages.js" $LY_CONTRACTS_ARGS "$@" >"$CASE_DIR/contracts.out" || {
		cat "$CASE_DIR/contracts.out" >&2
		fail "a published message breaks its contract (schemas/outbound)"
	}
	log "contracts: $(tr '\n' ' ' <"$CASE_DIR/contracts.out")"
}

input_topics() {
	echo "$LOYALTY_TOPICS_CUSTOMERS $LOYALTY_TOPICS_ORDERS $LOYALTY_TOPICS_REVIEWS $LOYALTY_TOPICS_SOCIAL $LOYALTY_TOPICS_REQUESTS"
}

# db_facts: the tables expect.py checks against its own computation, as
# tab-separated files in $CASE_DIR.
db_facts() {
	local utc="'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"
	sql "SELECT customer_id, event_source, event_id, event_type, coalesce(rule_id, ''),
	            delta_available, delta_pending FROM ledger" >"$CASE_DIR/ledger.tsv"
	sql "SELECT customer_id, rule_id, period, count FROM rule_limits" >"$CASE_DIR/limits.tsv"
	sql "SELECT rule_id, spent FROM rule_budgets" >"$CASE_DIR/budgets.tsv"
	sql "SELECT customer_id, code, kind, amount, percent, min_order,
	            to_char(valid_until AT TIME ZONE 'UTC', $utc), event_source, event_id,
	            rule_id, status FROM codes" >"$CASE_DIR/codes.tsv"
	sql "SELECT customer_id, event_source, event_id, coalesce(rule_id, ''), points, remaining,
	            released FROM lots" >"$CASE_DIR/lots.tsv"
	sql "SELECT customer_id, code, event_source, event_id, outcome FROM code_uses" \
		>"$CASE_DIR/code_uses.tsv"
}

# expect_state [ARGS]: input events (JSON lines) on stdin; checks the ledger,
# limit counts, budget, codes, code uses and lots (remaining per lot where
# the interleaving of topics cannot change it, per customer sums always)
# against the independent computation (tests/integration/expect.py, ARGS
# passed on) and prints the balances it expects.
expect_state() {
	db_facts || return 1
	python3 "$LY_SOURCE_DIR/tests/integration/expect.py" \
		--ledger "$CASE_DIR/ledger.tsv" --limits "$CASE_DIR/limits.tsv" \
		--budget "$CASE_DIR/budgets.tsv" --codes "$CASE_DIR/codes.tsv" \
		--lots "$CASE_DIR/lots.tsv" --code-uses "$CASE_DIR/code_uses.tsv" "$@"
}

# expected_balances [ARGS]: read every input message back from Kafka and
# compute the balances the test program gives, independently of loyaltyd.
expected_balances() {
	local t
	for t in $(input_topics); do
		topic_dump "$t" '%s\n'
	done | expect_state "$@"
}

actual_balances() {
	sql "SELECT customer_id, available, pending FROM balances
	     WHERE available <> 0 OR pending <> 0" | LC_ALL=C sort
}

# check_balances [ARGS]: PostgreSQL's ledger, limit counts, budget, codes,
# lots and balances agree with the independent computation (ARGS: for expect.py,
# e.g. --budget-crossed).
check_balances() {
	expected_balances "$@" >"$CASE_DIR/expected.tsv" ||
		fail "the state differs from the independent computation"
	actual_balances >"$CASE_DIR/actual.tsv"
	[ -s "$CASE_DIR/expected.tsv" ] || fail "no expected balances computed"
	if ! diff -u "$CASE_DIR/expected.tsv" "$CASE_DIR/actual.tsv" >"$CASE_DIR/balances.diff"; then
		head -n 40 "$CASE_DIR/balances.diff" >&2
		fail "balances differ from the independent computation"
	fi
	log "balances of $(wc -l <"$CASE_DIR/expected.tsv") customers match"
}

check_verify() {
	"$LOYALTYCTL" verify >"$CASE_DIR/verify.out" || {
		cat "$CASE_DIR/verify.out" >&2
		fail "loyaltyctl verify"
	}
}

# check_no_double_apply: no event earned twice from the same rule.
check_no_double_apply() {
	local doubles
	doubles=$(sql "SELECT count(*) FROM (SELECT event_source, event_id, rule_id
	               FROM ledger GROUP BY 1, 2, 3 HAVING count(*) > 1) d")
	[ "$doubles" = 0 ] || fail "$doubles (event, rule) pairs in the ledger twice"
}

# check_activity_published: every activity message the outbox holds
# (loyalty.points.changed, loyalty.redemption.completed|rejected: the test
# program has no tiers) is on the activity topic (duplicates allowed,
# losses not), nothing else is there, and every message there keeps its
# contract.
check_activity_published() {
	local missing
	sql "SELECT message_id FROM outbox WHERE topic = '$LOYALTY_TOPICS_ACTIVITY'" |
		LC_ALL=C sort -u >"$CASE_DIR/outbox-ids"
	topic_dump_json "$LOYALTY_TOPICS_ACTIVITY" >"$CASE_DIR/activity.jsonl" ||
		fail "kcat $LOYALTY_TOPICS_ACTIVITY"
	check_contracts "$CASE_DIR/activity.jsonl"
	python3 -c 'import json,sys
types = ("loyalty.points.changed", "loyalty.redemption.completed",
         "loyalty.redemption.rejected")
for line in sys.stdin:
    e = json.loads(json.loads(line)["payload"])
    assert e["type"] in types, e
    print(e["id"])' <"$CASE_DIR/activity.jsonl" | LC_ALL=C sort -u >"$CASE_DIR/topic-ids"
	missing=$(LC_ALL=C comm -23 "$CASE_DIR/outbox-ids" "$CASE_DIR/topic-ids" | wc -l)
	[ -s "$CASE_DIR/outbox-ids" ] || fail "the outbox holds no activity"
	[ "$missing" = 0 ] || fail "$missing activity ids missing from $LOYALTY_TOPICS_ACTIVITY"
	log "$(wc -l <"$CASE_DIR/outbox-ids") activity ids all on the topic"
}
