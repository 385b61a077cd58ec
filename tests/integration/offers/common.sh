# tests/integration/offers/common.sh: what test_offers.sh and
# test_offers_crash.sh share. Sourced after lib.sh.
#
# Events are queued per input topic (ev, register, update, order, review),
# written to $EVENTS as well (offers.py names each offer by the input
# event, rule and channel that made it), and produced together by flush,
# which waits until the worker has applied them. Between two flushes the
# order of events across topics is fixed; within one, only per topic.

OFFERS_DIR=$LY_SOURCE_DIR/tests/integration/offers
OFFERS_SOURCE=urn:test:offers
RELAY_LOCK=1819242596 # LY_STORE_RELAY_LOCK: the relay's advisory lock, per customer
PRODUCED=0
CONTACT_N=0
CONTACT=""
LOCKS_PID=""

# offers_setup NAME: setup_case under the offers program.
offers_setup() {
	setup_case "$1"
	export LOYALTY_PROGRAM=$OFFERS_DIR/program.yaml
	EVENTS=$CASE_DIR/events.jsonl
	REPORT=$CASE_DIR/report
	: >"$EVENTS"
	: >"$REPORT"
	trap 'status=$?; locks_close; kill_worker; teardown_case $status' EXIT
}

# ev TOPIC ID TYPE TIME CUSTOMER [FIELDS]: queue a structured-mode event
# whose data is customer_id and FIELDS (JSON members, without braces).
ev() {
	local json
	json=$(printf '{"specversion":"1.0","id":"%s","source":"%s","type":"%s","time":"%s","data":{"customer_id":"%s"%s}}' \
		"$2" "$OFFERS_SOURCE" "$3" "$4" "$5" "${6:+,$6}")
	printf '%s\t%s\n' "$5" "$json" >>"$CASE_DIR/queue.$1"
	printf '%s\n' "$json" >>"$EVENTS"
}

# contact CUSTOMER: into CONTACT, an e-mail address and a phone number as
# JSON members, new each time (none may leave the input but to the DLQ).
contact() {
	CONTACT_N=$((CONTACT_N + 1))
	CONTACT=$(printf '"email":"%s.%d@posta-ornek.com.tr","phone":"+90532%07d"' \
		"$1" $CONTACT_N $((4410000 + CONTACT_N)))
}

# register CUSTOMER TIME [FIELDS]: customer.registered reg-CUSTOMER, with
# contact details.
register() {
	contact "$1"
	ev customers "reg-$1" customer.registered "$2" "$1" "$CONTACT${3:+,$3}"
}

# update ID CUSTOMER TIME FIELDS: customer.updated.
update() {
	ev customers "$1" customer.updated "$3" "$2" "$4"
}

# order ID CUSTOMER TIME TOTAL [ITEMS]: order.paid ID (order id ID); one
# home item of TOTAL unless ITEMS (a JSON array) says otherwise.
order() {
	local items=${5:-"[{\"sku\":\"s-$1\",\"category\":\"home\",\"quantity\":1,\"unit_price\":$4}]"}
	ev orders "$1" order.paid "$3" "$2" "\"order_id\":\"$1\",\"total\":$4,\"currency\":\"TRY\",\"items\":$items"
}

# review ID CUSTOMER TIME RATING HAS_PHOTO: review.submitted.
review() {
	ev reviews "$1" review.submitted "$3" "$2" \
		"\"review_id\":\"$1\",\"product_id\":\"p-1\",\"rating\":$4,\"verified_purchase\":true,\"has_photo\":$5,\"text_length\":120"
}

# flush: produce what is queued, topic by topic, and wait until the worker
# has consumed it (and so committed its effects).
flush() {
	local f topic var
	for f in "$CASE_DIR"/queue.*; do
		[ -e "$f" ] || continue
		topic=${f##*.}
		var="LOYALTY_TOPICS_${topic^^}"
		kcat -P -b "$LY_TEST_KAFKA" -t "${!var}" -K $'\t' <"$f" || fail "kcat -P ${!var}"
		PRODUCED=$((PRODUCED + $(wc -l <"$f")))
		rm -f "$f"
	done
	wait_consumed $PRODUCED 60
}

# unpublished [CUSTOMER...]: outbox rows not yet published, of these
# customers only, or of the customers not named after --except.
unpublished() {
	local where="published_at IS NULL" list
	if [ "${1:-}" = --except ]; then
		shift
		list=$(printf "'%s'," "$@")
		[ $# -gt 0 ] && where="$where AND customer_id NOT IN (${list%,})"
	elif [ $# -gt 0 ]; then
		list=$(printf "'%s'," "$@")
		where="$where AND customer_id IN (${list%,})"
	fi
	sql "SELECT count(*) FROM outbox WHERE $where"
}

# wait_published [CUSTOMER...]: until the outbox holds nothing unpublished
# but the rows of these customers (whose relay lock the test holds).
wait_published() {
	local _
	for _ in $(seq 150); do
		[ "$(unpublished --except "$@")" = 0 ] && return 0
		sleep 0.2
	done
	fail "$(unpublished --except "$@") outbox rows still unpublished after 30 s"
}

# ---- the relay's lock, held from a psql session of the test's own -------

locks_open() {
	coproc LOCKS { psql "$LY_TEST_PG" -X -q -A -t -v ON_ERROR_STOP=1 2>&1; }
}

# locks_say SQL WANT: one statement in the lock session, and its answer.
locks_say() {
	local line=""
	printf '%s\n' "$1" >&"${LOCKS[1]}"
	IFS= read -r -t 30 line <&"${LOCKS[0]}" || fail "the lock session did not answer $1"
	[ "$line" = "$2" ] || fail "the lock session answered $1 with: $line"
}

# hold CUSTOMER...: take the relay's lock of each customer, so their
# offers are committed but not published until release.
hold() {
	local c
	for c; do
		locks_say "SELECT 'held' FROM (SELECT pg_advisory_lock($RELAY_LOCK, hashtext('$c'))) l;" held
	done
}

release() {
	local c
	for c; do
		locks_say "SELECT CASE WHEN pg_advisory_unlock($RELAY_LOCK, hashtext('$c')) THEN 'released' END;" released
	done
}

# locks_close: end the lock session (which frees what it still holds).
locks_close() {
	local pid=${LOCKS_PID:-} _
	[ -n "$pid" ] || return 0
	local fd=${LOCKS[1]:-}
	if [ -n "$fd" ]; then
		{ printf '\\q\n' >&"$fd"; } 2>/dev/null || true
	fi
	for _ in $(seq 20); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	LOCKS_PID=""
}

# ---- reading back ---------------------------------------------------------

# oid EVENT_ID RULE CHANNEL: the offer's id, by docs/offers.md's formula.
oid() {
	python3 -c 'import hashlib, sys
s, e, r, c = sys.argv[1:]
print("of-" + hashlib.sha256(f"{s}\0{e}\0{r}/{c}".encode()).hexdigest()[:32])' \
		"$OFFERS_SOURCE" "$1" "$2" "$3"
}

# topic_offers: every offer on the offers topic, one line each
# (offers.py topic), into $CASE_DIR/offers.jsonl and .lines.
topic_offers() {
	topic_dump_json "$LOYALTY_TOPICS_OFFERS" >"$CASE_DIR/offers.jsonl" ||
		fail "kcat $LOYALTY_TOPICS_OFFERS"
	python3 "$OFFERS_DIR/offers.py" topic "$EVENTS" "$CASE_DIR/offers.jsonl" \
		>"$CASE_DIR/offers.lines" || fail "offers.py topic"
	cat "$CASE_DIR/offers.lines"
}

# offer_rows: the offers table, one line a channel: CUSTOMER EVENT RULE
# CHANNEL STATUS REASON|- SEND_AFTER|-, sorted.
offer_rows() {
	sql "SELECT customer_id, event_id, rule_id, channel, status, coalesce(reason, '-'),
	            coalesce(to_char(send_after AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')
	     FROM offers" | tr '\t' ' ' | LC_ALL=C sort
}

# check_offer_ids: every offers row's id and event time are the ones its
# input event, rule and channel give.
check_offer_ids() {
	local got
	sql "SELECT customer_id, offer_id, event_source, event_id,
	            to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
	            rule_id, channel FROM offers" >"$CASE_DIR/offer-ids.tsv"
	got=$(python3 "$OFFERS_DIR/offers.py" ids "$EVENTS" "$CASE_DIR/offer-ids.tsv")
	same "offers table: ids and event times" "$got" "$1 rows"
}

# ---- reporting: every difference is collected, the test fails at the end --

MISMATCHES=0
mismatch() {
	MISMATCHES=$((MISMATCHES + 1))
	printf '%s\n\n' "$*" >>"$REPORT"
	log "MISMATCH: ${1%%$'\n'*}"
}

# same WHAT GOT WANT: record a difference (a diff: - want, + got).
same() {
	[ "$2" = "$3" ] && return 0
	mismatch "$1 (- want, + got):
$(diff -U1 <(printf '%s\n' "$3") <(printf '%s\n' "$2") | tail -n +3)"
}

# only PATTERN: the lines of stdin that start with PATTERN followed by a space.
only() {
	grep -E "^($1) " || true
}

finish() {
	if [ -s "$REPORT" ]; then
		echo "--- differences" >&2
		cat "$REPORT" >&2
		fail "checks that differ from what they expect: $MISMATCHES (above)"
	fi
}
