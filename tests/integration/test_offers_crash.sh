#!/usr/bin/env bash
# Offers through a crash (SPEC section 8: outputs at least once, with
# stable ids; none lost if the process dies after commit), under
# tests/integration/offers/program.yaml. x-1 and x-2's relay locks are held
# while the worker commits their offers, so none of them is published when
# the worker is killed with -9; x-3's go out meanwhile. A new worker must
# publish every one, each customer's in the order they were made. Then what
# a crash after producing and before marking leaves (published_at NULL
# again on every offer row): the relay publishes them all again, the same
# ids with identical bytes, in the same order, so a mailer can drop them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/offers/common.sh"
# a killed member's partitions move in seconds
export LOYALTY_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=500"
offers_setup offers_crash
start_worker
locks_open
BOTH='"consents":{"email":true,"sms":true}'

for c in x-1 x-2 x-3; do
	register $c 2026-04-06T09:00:00Z "$BOTH" # Monday 6 April, 12:00 in Istanbul
done
flush
wait_published

# The next week. x-1's second order at 22:00 in Istanbul: its SMS waits
# until 09:00; its e-mails are two already when the big basket's comes.
hold x-1 x-2
order o-x1a x-1 2026-04-13T09:00:00Z 20000
order o-x1b x-1 2026-04-14T19:00:00Z 400000
order o-x2a x-2 2026-04-13T10:00:00Z 20000
order o-x2b x-2 2026-04-15T10:00:00Z 30000
order o-x3a x-3 2026-04-13T11:00:00Z 20000
flush
wait_published x-1 x-2
sleep 1.5 # more than the relay's idle poll
same "held: unpublished offers of x-1 and x-2 before the crash" \
	"$(sql "SELECT customer_id, count(*) FROM outbox WHERE channel IS NOT NULL
	        AND published_at IS NULL GROUP BY 1 ORDER BY 1" | tr '\t' ' ')" \
	"x-1 4
x-2 4"
same "held: the topic before the crash" "$(topic_offers)" \
	"x-1 reg-x-1 welcome email tr -
x-1 reg-x-1 welcome sms tr -
x-2 reg-x-2 welcome email tr -
x-2 reg-x-2 welcome sms tr -
x-3 reg-x-3 welcome email tr -
x-3 reg-x-3 welcome sms tr -
x-3 o-x3a order-thanks sms tr -
x-3 o-x3a order-thanks email tr -"
kill_worker
release x-1 x-2
log "killed loyaltyd -9 with 8 offers committed and unpublished; starting another"
start_worker
wait_published

ONCE="x-1 reg-x-1 welcome email tr -
x-1 reg-x-1 welcome sms tr -
x-1 o-x1a order-thanks sms tr -
x-1 o-x1a order-thanks email tr -
x-1 o-x1b order-thanks sms tr 2026-04-15T06:00:00Z
x-1 o-x1b order-thanks email tr -
x-2 reg-x-2 welcome email tr -
x-2 reg-x-2 welcome sms tr -
x-2 o-x2a order-thanks sms tr -
x-2 o-x2a order-thanks email tr -
x-2 o-x2b order-thanks sms tr -
x-2 o-x2b order-thanks email tr -
x-3 reg-x-3 welcome email tr -
x-3 reg-x-3 welcome sms tr -
x-3 o-x3a order-thanks sms tr -
x-3 o-x3a order-thanks email tr -"
same "after the crash: the topic" "$(topic_offers)" "$ONCE"
same "after the crash: the offers table" "$(offer_rows)" "$(LC_ALL=C sort <<'EOF'
x-1 reg-x-1 welcome email sent - -
x-1 reg-x-1 welcome sms sent - -
x-1 o-x1a order-thanks sms sent - -
x-1 o-x1a order-thanks email sent - -
x-1 o-x1b order-thanks sms sent - 2026-04-15T06:00:00Z
x-1 o-x1b order-thanks email sent - -
x-1 o-x1b big-basket email suppressed max_per_customer -
x-2 reg-x-2 welcome email sent - -
x-2 reg-x-2 welcome sms sent - -
x-2 o-x2a order-thanks sms sent - -
x-2 o-x2a order-thanks email sent - -
x-2 o-x2b order-thanks sms sent - -
x-2 o-x2b order-thanks email sent - -
x-3 reg-x-3 welcome email sent - -
x-3 reg-x-3 welcome sms sent - -
x-3 o-x3a order-thanks sms sent - -
x-3 o-x3a order-thanks email sent - -
EOF
)"
check_offer_ids 17
# x-1's and x-2's points and x-1's tier (silver) were held with their offers
topic_dump_json "$LOYALTY_TOPICS_ACTIVITY" >"$CASE_DIR/activity.jsonl" || fail "kcat activity"
same "after the crash: activity ids missing from the topic" "$(LC_ALL=C comm -23 \
	<(sql "SELECT message_id FROM outbox WHERE topic = '$LOYALTY_TOPICS_ACTIVITY'" | LC_ALL=C sort -u) \
	<(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    print(json.loads(json.loads(l)["payload"])["id"])' "$CASE_DIR/activity.jsonl" | LC_ALL=C sort -u))" ""
same "after the crash: activity of x-1 and x-2" \
	"$(sql "SELECT customer_id, count(*) FROM outbox WHERE topic = '$LOYALTY_TOPICS_ACTIVITY'
	        AND customer_id IN ('x-1', 'x-2') GROUP BY 1 ORDER BY 1" | tr '\t' ' ')" "x-1 4
x-2 3"

# A crash after producing and before marking: every offer goes again.
same "offer rows set unpublished" \
	"$(sql "UPDATE outbox SET published_at = NULL WHERE channel IS NOT NULL RETURNING 1" | wc -l)" 16
wait_published
same "after the replay: the topic holds each offer twice" "$(topic_offers)" \
	"$(for c in $(cut -d' ' -f1 <<<"$ONCE" | uniq); do
		only "$c" <<<"$ONCE"
		only "$c" <<<"$ONCE"
	done)"
same "after the replay: copies differ" "$(python3 -c 'import json, sys
seen = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    seen.setdefault(json.loads(m["payload"])["id"], []).append(
        (m["partition"], m["key"], m["payload"], m["headers"]))
for i, copies in sorted(seen.items()):
    if len(copies) != 2 or copies[0] != copies[1]:
        print(i, len(copies), "copies, not identical" if len(set(map(repr, copies))) > 1 else "copies")
print(len(seen), "offers")' "$CASE_DIR/offers.jsonl")" "16 offers"
same "after the replay: the offers table" "$(sql "SELECT status, count(*) FROM offers GROUP BY 1 ORDER BY 1" | tr '\t' ' ')" \
	"sent 16
suppressed 1"
check_contracts "$CASE_DIR/offers.jsonl" "$CASE_DIR/activity.jsonl"
check_verify
stop_worker
finish
log "offers through a crash: none lost, in order; republished with the same ids and bytes"
