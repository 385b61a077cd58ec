#!/usr/bin/env bash
# The outbox is a queue, not a history: loyaltyd deletes published rows
# once older than outbox.keep_published_s, counts them in
# loyalty_outbox_pruned_total, and never deletes a row not yet published
# (here: the rows of a customer whose relay lock a psql session holds, as
# another replica would while publishing them). Then, as shipped
# (outbox.keep_published_s 0, no pruning), the relay deletes each row once
# the broker has it.
source "$(dirname "$0")/lib.sh"
setup_case outbox_prune
export LOYALTY_OUTBOX_KEEP_PUBLISHED_S=2
export LOYALTY_OUTBOX_PRUNE_INTERVAL_MS=200
HTTP_PORT=$((20000 + RANDOM % 20000))
export LOYALTY_HTTP_LISTEN=127.0.0.1:$HTTP_PORT
LOCKER=""
# topics_total: the messages on the output topics
topics_total() {
	local n=0 t
	for t in "$LOYALTY_TOPICS_ACTIVITY" "$LOYALTY_TOPICS_OFFERS" "$LOYALTY_TOPICS_DLQ"; do
		n=$((n + $(topic_dump "$t" '%o\n' | wc -l)))
	done
	echo "$n"
}
trap 'status=$?; kill_worker; [ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null; teardown_case $status' EXIT

"$LOYALTYCTL" produce --count 300 --seed 7 --customers 40 2>/dev/null || fail "produce"
held=$("$LOYALTYCTL" produce --stdout --count 300 --seed 7 --customers 40 2>/dev/null |
	awk -F '\t' '$1 ~ /orders$/ && !k { k = $2 } END { print k }')
[ -n "$held" ] || fail "no customer with an order in the sample"

# Hold that customer's relay lock for the whole run, as a publishing
# replica would: its rows stay unpublished.
mkfifo "$CASE_DIR/lock.in"
psql "$LY_TEST_PG" -X -q -v ON_ERROR_STOP=1 <"$CASE_DIR/lock.in" >"$CASE_DIR/lock.out" 2>&1 &
LOCKER=$!
exec 7>"$CASE_DIR/lock.in"
echo "SELECT pg_advisory_lock(1819242596, hashtext('$held')); \\echo locked" >&7
for _ in $(seq 100); do grep -q locked "$CASE_DIR/lock.out" && break; sleep 0.1; done
grep -q locked "$CASE_DIR/lock.out" || fail "the lock session: $(cat "$CASE_DIR/lock.out")"

start_worker
wait_consumed 300
held_rows=$(sql "SELECT count(*) FROM outbox WHERE customer_id = '$held'")
[ "$held_rows" -gt 0 ] || fail "customer $held has no outbox rows"
# Every other row goes: published, then pruned once 2 s old.
for _ in $(seq 150); do
	[ "$(sql "SELECT count(*) FROM outbox WHERE customer_id <> '$held'")" = 0 ] && break
	sleep 0.2
done
left=$(sql "SELECT count(*) FROM outbox WHERE customer_id <> '$held'")
[ "$left" = 0 ] || fail "$left published rows of other customers not pruned"
[ "$(sql "SELECT count(*) FROM outbox WHERE customer_id = '$held' AND published_at IS NULL")" = "$held_rows" ] ||
	fail "rows of $held, unpublished, were published or pruned under its relay lock"
pruned=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics" | awk '$1 == "loyalty_outbox_pruned_total" { print $2 }')
# Without a crash every row was published once: as many as the topics hold.
total=$(topics_total)
[ "${pruned%.*}" = "$total" ] ||
	fail "loyalty_outbox_pruned_total ${pruned:-absent}, want the $total messages published"

# The lock released, the held rows go out and are pruned in their turn.
# (the session's end releases it: the worker inherited the FIFO's
# descriptor, so closing ours would not end psql's input)
kill "$LOCKER"
wait "$LOCKER" 2>/dev/null || true
LOCKER=""
for _ in $(seq 150); do
	[ "$(sql "SELECT count(*) FROM outbox")" = 0 ] && break
	sleep 0.2
done
[ "$(sql "SELECT count(*) FROM outbox")" = 0 ] || fail "the held rows were not published and pruned"
got=$(topic_dump "$LOYALTY_TOPICS_ACTIVITY" '%k\n' | grep -cx "$held")
[ "$got" -ge "$held_rows" ] || fail "$got of $held_rows messages of $held on the activity topic"
stop_worker

# As shipped: each row deleted as the broker acknowledges it, with the
# pruning pass off, so only the relay can have deleted them.
before=$(topics_total)
unset LOYALTY_OUTBOX_KEEP_PUBLISHED_S
export LOYALTY_OUTBOX_PRUNE_INTERVAL_MS=0
"$LOYALTYCTL" produce --count 300 --seed 8 --customers 40 2>/dev/null || fail "produce"
start_worker
wait_consumed 600
for _ in $(seq 150); do
	[ "$(sql "SELECT count(*) FROM outbox")" = 0 ] && break
	sleep 0.2
done
[ "$(sql "SELECT count(*) FROM outbox")" = 0 ] || fail "published rows left in the outbox with keep_published_s 0"
metrics=$(curl -s "http://127.0.0.1:$HTTP_PORT/metrics")
published=$(awk '$1 == "loyalty_outbox_published_total" { print $2 }' <<<"$metrics")
pruned=$(awk '$1 == "loyalty_outbox_pruned_total" { print $2 }' <<<"$metrics")
deleted=$(($(topics_total) - before))
[ "$deleted" -gt 0 ] || fail "the second run published nothing"
[ "${published%.*}" = "$deleted" ] ||
	fail "loyalty_outbox_published_total ${published:-absent}, want the $deleted messages published"
[ "${pruned%.*}" = 0 ] || fail "loyalty_outbox_pruned_total $pruned with pruning off"
stop_worker
check_verify
echo "outbox_prune: ok ($total rows pruned while $held_rows were held back, then those too; then $deleted deleted as published)"
