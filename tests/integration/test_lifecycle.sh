#!/usr/bin/env bash
# A year in the life of three customers (docs/lifecycle.md), through the real
# worker, the real broker and the real PostgreSQL, with `loyaltyctl tick
# --now` stepping the days. The year is tests/integration/lifecycle/script.txt
# under tests/integration/lifecycle/program.yaml (TRY, Europe/Istanbul = UTC+3,
# pending 14 days, expiry 180 days, reminders 30 days before, silver x1.5 from
# 3,000 TL, gold from 10,000 TL, at_risk 60 / lost 120 days):
#
#   ayse   orders, a review, a tl50 redeemed and its code used in her next
#          order, a referral bonus for burak, silver, a birthday, an order
#          refunded in two parts (first from its pending lot, then from
#          available), a gift300 redeemed, reminders and expiry, at_risk,
#          lost, a winback code used after it ran out (expired), back, gold.
#   burak  referred by ayse; tries ayse's used code (already_used), silver,
#          redeems gift300, cancels the big order after its release: -2050
#          available, gift card voided, silver -> bronze at the next tick;
#          the next release pays the debt back, an operator's claw-back
#          makes it -30; a later referrer ignored; at_risk, active, lost.
#   cem    names himself as referrer (ignored); a refund that overtakes its
#          order (held, applied with it); a redemption rejected for
#          insufficient points, one completed and retried (no effect); a
#          goodwill adjustment; a birth date given after this year's birthday
#          (none this year); at_risk, lost, back with his winback code (used)
#          and a shop coupon (unknown), at_risk and lost again.
#
# Run 1 applies the script one event at a time (LOYALTY_BATCH_MAX_EVENTS=1,
# waiting for each) and checks, with values computed by hand from
# docs/lifecycle.md and written below, every ledger line, lot, balance,
# order, tier and segment, code, code use, request and output event, and
# the balances after every tick (the script's `expect` lines); verify passes
# and nothing is dead-lettered. Run 2 replays the script in a fresh schema,
# topics and group with LOYALTY_BATCH_MAX_EVENTS=1000, each segment (the
# events between two ticks) produced at once but for its registrations and
# profile updates, which come after the rest (so a referral's first order
# comes before the registration naming the referrer), and the worker killed
# with -9 (and restarted) in two segments: every table and the set of
# output ids must equal run 1's, and so must the balances after every tick.
#
# Where docs/lifecycle.md leaves a choice, the values follow what loyaltyd
# does: no rule made a redemption's or an adjustment's ledger line (rule_id
# null); a release is published with delta 0 (available + pending do not
# change); a lot with nothing left is neither reminded nor expired; a
# refund's lines come in the order of the rules that earned; requests.outcome
# is `completed`, `applied` or `rejected` (the reason is on the published
# event). Both runs always go to the end; the differences of both are
# reported together.
source "$(dirname "$0")/lib.sh"

YEAR_DIR=$LY_SOURCE_DIR/tests/integration/lifecycle
TEST_PROGRAM=$YEAR_DIR/program.yaml # setup_case runs loyaltyd with it
export LOYALTY_CODES_SECRET=lifecycle-year-codes-secret # the same codes in both runs
export LOYALTY_SCHEDULER_INTERVAL_MS=0                  # only `tick` moves time
# a killed member's partitions move in seconds
export LOYALTY_KAFKA_PROPERTIES="session.timeout.ms=6000,heartbeat.interval.ms=500"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ly-lifecycle-work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT # setup_case's trap replaces it; set again below
EVENTS=35 # event lines in script.txt
LAST_TICK="(none)"
REPORT=""

# ---- the script ---------------------------------------------------------------

# script.txt as tab-separated steps: tick TIME | event TOPIC KEY JSON |
# expect CUSTOMER AVAILABLE PENDING TIER SEGMENT; refuses a malformed script.
python3 - "$YEAR_DIR/script.txt" >"$WORK/steps.tsv" <<'PY' || fail "script.txt"
import json, sys
topics = {"customers", "orders", "reviews", "social", "requests"}
ids, last_tick, prev = set(), "", ""
for n, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    where = f"script.txt:{n}"
    word = line.split(None, 1)[0]
    if word == "tick":
        _, t = line.split()
        assert t > last_tick, f"{where}: ticks must move forward"
        last_tick = t
        print(f"tick\t{t}")
    elif word == "event":
        _, topic, customer, eid, etype, time, data = line.split(None, 6)
        assert topic in topics, f"{where}: unknown topic {topic}"
        assert eid not in ids, f"{where}: id {eid} used twice"
        ids.add(eid)
        data = {"customer_id": customer, **json.loads(data)}
        event = {"specversion": "1.0", "id": eid, "source": "urn:test:year",
                 "type": etype, "time": time, "data": data}
        print(f"event\t{topic}\t{customer}\t{json.dumps(event, ensure_ascii=False, separators=(',', ':'))}")
    elif word == "expect":
        assert prev in ("tick", "expect"), f"{where}: an expect must follow a tick"
        f = line.split()
        assert len(f) == 6, f"{where}: expect CUSTOMER AVAILABLE PENDING TIER SEGMENT"
        print("\t".join(f))
    else:
        raise SystemExit(f"{where}: unknown step {word!r}")
    prev = word
PY
[ "$(grep -c '^event' "$WORK/steps.tsv")" = $EVENTS ] || fail "script.txt holds $(grep -c '^event' "$WORK/steps.tsv") events, want $EVENTS"

# resolve_codes LINE: LINE with each @code(CUSTOMER,RULE)@ replaced by the one
# code loyaltyd issued to CUSTOMER from RULE.
resolve_codes() {
	local line=$1 re='@code\(([a-z0-9_-]+),([a-z0-9:_-]+)\)@' code n
	while [[ $line =~ $re ]]; do
		code=$(sql "SELECT code FROM codes WHERE customer_id = '${BASH_REMATCH[1]}'
		            AND rule_id = '${BASH_REMATCH[2]}'")
		n=$(grep -c . <<<"$code" || true)
		[ "$n" = 1 ] || fail "${BASH_REMATCH[0]}: $n codes issued, want 1 (after tick $LAST_TICK)"
		line=${line//"${BASH_REMATCH[0]}"/$code}
	done
	printf '%s\n' "$line"
}

# produce TOPIC < "key<TAB>json" lines: onto the test's input topic TOPIC.
produce() {
	local var="LOYALTY_TOPICS_${1^^}"
	kcat -P -b "$LY_TEST_KAFKA" -t "${!var}" -K $'\t' || fail "kcat -P ${!var}"
}

mismatch() {
	echo "$*" >>"$REPORT"
}

# check_expect CUSTOMER AVAILABLE PENDING TIER SEGMENT
check_expect() {
	local got
	got=$("$LOYALTYCTL" balance "$1" --json 2>>"$CASE_DIR/ctl.log" | python3 -c '
import json, sys
b = json.load(sys.stdin)
print(b["customer_id"], b["available"], b["pending"], b["tier"], b["segment"])' 2>&1) ||
		got="(loyaltyctl balance $1 --json failed: $(tail -n 1 "$CASE_DIR/ctl.log"))"
	[ "$got" = "$*" ] || mismatch "after tick $LAST_TICK: balance $got, want $*"
}

# wait_published: every output the worker and the ticks wrote is on Kafka.
wait_published() {
	local _
	for _ in $(seq 300); do
		[ "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ] && return 0
		sleep 0.2
	done
	fail "the outbox still holds unpublished rows after 60 s"
}

# run_year step|segment ["SEGMENT..."]: the script through one loyaltyd.
# step: each event produced alone and waited for, in the script's order.
# segment: the events of a segment on requests, social, reviews and orders
# produced at once (so batches mix customers and topics), and only once
# they are applied the segment's registrations and profile updates: the
# customers topic comes last, so a referral meets its first order before
# the registration naming the referrer, the reverse of run 1 (SPEC section
# 8: the same result whichever arrives first). In each segment listed the
# worker is killed with -9 a moment after the first part is produced (in
# the middle of its batch, of publishing it, or just after), and restarted.
run_year() {
	local mode=$1 kill_at=${2:-} kind a b c d e n=0 seg=0 t kills=0
	start_worker
	while IFS=$'\t' read -r -u 3 kind a b c d e; do
		case $kind in
		event)
			if [ "$mode" = step ]; then
				resolve_codes "$b"$'\t'"$c" >"$CASE_DIR/produce.tsv"
				produce "$a" <"$CASE_DIR/produce.tsv"
				n=$((n + 1))
				wait_consumed $n 120
			else
				printf '%s\t%s\n' "$b" "$c" >>"$CASE_DIR/segment.$a"
			fi
			;;
		tick)
			if [ "$mode" = segment ]; then
				seg=$((seg + 1))
				for t in requests social reviews orders customers; do
					[ -s "$CASE_DIR/segment.$t" ] || continue
					if [ $t = customers ]; then
						wait_consumed $n 300
					fi
					: >"$CASE_DIR/produce.tsv"
					while IFS= read -r line; do
						resolve_codes "$line" >>"$CASE_DIR/produce.tsv"
					done <"$CASE_DIR/segment.$t"
					produce "$t" <"$CASE_DIR/produce.tsv"
					n=$((n + $(wc -l <"$CASE_DIR/produce.tsv")))
					rm -f "$CASE_DIR/segment.$t"
					if [ $t = orders ] && [[ " $kill_at " == *" $seg "* ]]; then
						sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
						kill_worker
						kills=$((kills + 1))
						log "killed loyaltyd -9 in segment $seg at $(consumed) of $n consumed"
						start_worker
					fi
				done
				wait_consumed $n 300
			fi
			"$LOYALTYCTL" tick --now "$a" >>"$CASE_DIR/tick.log" 2>&1 ||
				fail "loyaltyctl tick --now $a: $(tail -n 3 "$CASE_DIR/tick.log")"
			LAST_TICK=$a
			;;
		expect)
			check_expect "$a" "$b" "$c" "$d" "$e"
			;;
		esac
	done 3<"$WORK/steps.tsv"
	[ $n = $EVENTS ] || fail "produced $n events, want $EVENTS"
	[ $kills = "$(wc -w <<<"$kill_at")" ] || fail "$kills kills, want one in each of segments $kill_at (a segment with orders)"
	wait_published
	stop_worker
}

# dump_state DIR: every table the year writes, without the columns that
# name a row or a moment of processing, sorted; the output ids on the
# activity topic and in the outbox.
dump_table() {
	sql "SELECT (to_jsonb(x) $3)::text FROM $2 x" | LC_ALL=C sort >"$1/$2"
}
dump_state() {
	local d=$1
	mkdir -p "$d"
	dump_table "$d" ledger "- 'entry_id' - 'recorded_at'"
	dump_table "$d" lots "- 'lot_id'"
	dump_table "$d" balances "- 'updated_at'"
	dump_table "$d" customers "- 'updated_at'"
	dump_table "$d" orders ""
	dump_table "$d" codes "- 'created_at'"
	dump_table "$d" code_uses "- 'use_id'"
	dump_table "$d" requests "- 'recorded_at'"
	dump_table "$d" held_refunds "- 'held_at' - 'topic' - 'partition' - 'offset'"
	dump_table "$d" queued_triggers ""
	dump_table "$d" processed_events "- 'topic' - 'partition' - 'offset' - 'processed_at'"
	dump_table "$d" rule_limits ""
	dump_table "$d" rule_budgets "- 'updated_at'"
	sql "SELECT message_id FROM outbox WHERE topic = '$LOYALTY_TOPICS_ACTIVITY'" |
		LC_ALL=C sort -u >"$d/outbox-ids"
	topic_dump_json "$LOYALTY_TOPICS_ACTIVITY" >"$CASE_DIR/activity.jsonl" ||
		fail "kcat $LOYALTY_TOPICS_ACTIVITY"
	python3 -c 'import json, sys
for line in sys.stdin:
    print(json.loads(json.loads(line)["payload"])["id"])' <"$CASE_DIR/activity.jsonl" |
		LC_ALL=C sort -u >"$d/activity-ids"
	cmp -s "$d/outbox-ids" "$d/activity-ids" ||
		mismatch "the activity topic's ids differ from the outbox's: $(diff "$d/outbox-ids" "$d/activity-ids" | head -n 5 | tr '\n' ' ')"
}

# contracts: every message on the activity topic keeps its contract
# (lib.sh's check_contracts, its verdict reported rather than fatal).
contracts() {
	(check_contracts "$CASE_DIR/activity.jsonl") 2>"$CASE_DIR/contracts.err" || {
		echo "--- contracts: the first message that breaks schemas/outbound"
		grep -v '^{' "$CASE_DIR/contracts.err" | grep -v '^--- last lines' | head -n 5
	} >>"$REPORT"
}

# common_checks: verify passes, no dead letters, every event applied once.
common_checks() {
	local dead applied
	"$LOYALTYCTL" verify >"$CASE_DIR/verify.out" 2>&1 || {
		echo "--- loyaltyctl verify fails"
		head -n 20 "$CASE_DIR/verify.out"
	} >>"$REPORT"
	dead=$(topic_dump "$LOYALTY_TOPICS_DLQ" '%o\n' | wc -l)
	[ "$dead" = 0 ] || mismatch "$dead messages on the DLQ, want none: $(topic_dump "$LOYALTY_TOPICS_DLQ" '%h\n' | head -n 3 | tr '\n' ' ')"
	applied=$(sql "SELECT count(*) FROM processed_events")
	[ "$applied" = $EVENTS ] || mismatch "processed_events holds $applied events, want $EVENTS"
}

# ---- the literal checks ----------------------------------------------------------

UTC_FMT='YYYY-MM-DD"T"HH24:MI:SS"Z"'
utc() { echo "coalesce(to_char($1 AT TIME ZONE 'UTC', '$UTC_FMT'), '-')"; }

# actual NAME: the rows of NAME as the expectations below write them, one
# line each, fields separated by one space, '-' for none.
actual() {
	case $1 in
	ledger)
		sql "SELECT concat_ws(' ', customer_id, event_type, event_id, coalesce(rule_id, '-'),
		            delta_available, delta_pending, $(utc event_time)) FROM ledger" ;;
	lots)
		sql "SELECT concat_ws(' ', customer_id, event_id, coalesce(rule_id, '-'), points, remaining,
		            released, $(utc available_at), $(utc expires_at)) FROM lots" ;;
	customers)
		sql "SELECT concat_ws(' ', customer_id, tier, segment, order_count, lifetime_spend, clv,
		            $(utc first_order_at), $(utc last_order_at), coalesce(referred_by, '-'),
		            coalesce(birth_date::text, '-'), consent_email, consent_sms)
		     FROM customers" ;;
	orders)
		sql "SELECT concat_ws(' ', customer_id, order_id, event_id, $(utc paid_at), total, refunded)
		     FROM orders" ;;
	codes)
		sql "SELECT concat_ws(' ', customer_id, rule_id, kind, amount, percent, min_order,
		            $(utc valid_until), status, $(utc used_at), coalesce(used_by, '-'),
		            coalesce(used_event_id, '-')) FROM codes" ;;
	code_uses) # a code loyaltyd issued as issuer/rule/valid_until
		sql "SELECT concat_ws(' ', u.customer_id,
		            coalesce(c.customer_id || '/' || c.rule_id || '/' || $(utc c.valid_until), u.code),
		            u.event_id, $(utc u.event_time), u.outcome)
		     FROM code_uses u LEFT JOIN codes c ON c.code = u.code" ;;
	requests)
		sql "SELECT concat_ws(' ', customer_id, request_id, kind, event_id, outcome) FROM requests" ;;
	queued_triggers)
		sql "SELECT concat_ws(' ', customer_id, trigger_id, trigger_type, $(utc event_time), done)
		     FROM queued_triggers" ;;
	held_refunds)
		sql "SELECT concat_ws(' ', customer_id, event_id, order_id) FROM held_refunds" ;;
	outputs) # the activity topic, one line per output id
		sql "SELECT code, customer_id || '/' || rule_id || '/' || $(utc valid_until) FROM codes" \
			>"$CASE_DIR/code-labels"
		python3 - "$CASE_DIR/code-labels" "$REPORT" "$CASE_DIR/activity.jsonl" <<'PY'
import json, sys
from datetime import datetime, timezone
labels = dict(l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip())
report = open(sys.argv[2], "a")
def utc(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
lines = {}  # output id -> the lines it names (one, unless ids collide)
for raw in open(sys.argv[3], encoding="utf-8"):
    m = json.loads(raw)
    e = json.loads(m["payload"])
    d, t = e["data"], e["type"]
    c = d["customer_id"]
    if not (m["key"] == e["subject"] == c and e["specversion"] == "1.0" and e["source"]):
        print(f"output {e['id']}: key {m['key']!r}, subject {e['subject']!r}, "
              f"customer_id {c!r}, specversion, source", file=report)
    head = f"{c} {t.removeprefix('loyalty.')} {utc(e['time'])}"
    if t == "loyalty.points.changed":
        s = (f"{head} {d['event_id']} {d.get('rule_id') or '-'} delta={d['delta']} "
             f"available={d['available']} pending={d['pending']}")
    elif t == "loyalty.tier.changed":
        s = f"{head} {d['from']}>{d['to']} perks={','.join(d['perks']) or '-'}"
    elif t == "loyalty.redemption.completed":
        s = f"{head} {d['request_id']} {d['reward']} code={labels.get(d['code'], d['code'])}"
    elif t == "loyalty.redemption.rejected":
        s = f"{head} {d['request_id']} {d['reward']} reason={d['reason']}"
    else:
        s = f"{head} {json.dumps(d, sort_keys=True)}"
    lines.setdefault(e["id"], set()).add(s)
for i, ss in lines.items():
    if len(ss) > 1:
        print(f"output id {i} names {len(ss)} different events: {' | '.join(sorted(ss))}", file=report)
    for s in ss:
        print(s)
PY
		;;
	esac
}

# expect_rows NAME <<EOF: NAME's rows are exactly these (comment lines and
# blank lines left out, runs of spaces read as one, any order).
expect_rows() {
	sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^#/d' -e '/^$/d' |
		tr -s ' ' | LC_ALL=C sort >"$CASE_DIR/want.$1"
	actual "$1" | LC_ALL=C sort >"$CASE_DIR/got.$1"
	if ! diff -u "$CASE_DIR/want.$1" "$CASE_DIR/got.$1" >"$CASE_DIR/diff.$1"; then
		{
			echo "--- $1: want (-) and got (+)"
			tail -n +3 "$CASE_DIR/diff.$1"
		} >>"$REPORT"
	fi
}

# finish_report: both runs' differences, if any, and the verdict.
finish_report() {
	local bad=0
	if [ -s "$WORK/report.1" ]; then
		echo "=== run 1 (one event at a time) against the values computed by hand" >&2
		cat "$WORK/report.1" >&2
		bad=1
	fi
	if [ -s "$WORK/report.2" ]; then
		echo "=== run 2 (segments at once, kill -9) against run 1" >&2
		cat "$WORK/report.2" >&2
		bad=1
	fi
	[ $bad = 0 ] || fail "the differences above"
}

# ---- run 1: one event at a time ----------------------------------------------------

setup_case lifecycle
RUN1_DIR=$CASE_DIR
trap 'teardown_case; rm -rf "$WORK"' EXIT
export LOYALTY_BATCH_MAX_EVENTS=1
REPORT=$WORK/report.1
: >"$REPORT"
run_year step
common_checks
dump_state "$WORK/run1"

expect_rows ledger <<'EOF'
# customer event_type event_id rule_id delta_available delta_pending event_time
# -- ayse. Running balance (available/pending) after each line on the right.
ayse order.paid         a-o1-paid           base-earn      0     1200  2026-01-10T09:00:00Z
ayse order.paid         a-o1-paid           first-order    100   0     2026-01-10T09:00:00Z
#   100/1200
ayse points.released    a-o1-paid           base-earn      1200  -1200 2026-01-24T09:00:00Z
ayse review.submitted   a-r1-review         review         20    0     2026-01-28T10:00:00Z
ayse points.redeem      a-q1-redeem         -              -500  0     2026-02-01T09:00:00Z
#   1300 + 20 - 500 = 820
ayse referral.qualified referral:ayse:burak referral       300   0     2026-02-03T11:00:00Z
ayse order.paid         a-o2-paid           base-earn      0     2500  2026-02-10T12:00:00Z
ayse tier.changed       tier:ayse:a-o2-paid tier-up        50    0     2026-02-10T12:00:00Z
#   1170/2500
ayse points.released    a-o2-paid           base-earn      2500  -2500 2026-02-24T12:00:00Z
ayse customer.birthday  birthday:ayse:2026  birthday       200   0     2026-03-19T21:00:00Z
#   3870/0
ayse order.paid         a-o3-paid           base-earn      0     1851  2026-04-06T09:00:00Z
ayse order.refunded     a-o3-refund1        base-earn      0     -599  2026-04-12T10:00:00Z
ayse points.released    a-o3-paid           base-earn      1252  -1252 2026-04-20T09:00:00Z
#   1851 - 599 = 1252; 3870 + 1252 = 5122
ayse order.refunded     a-o3-refund2        base-earn      -375  0     2026-05-02T10:00:00Z
ayse points.redeem      a-q2-redeem         -              -3000 0     2026-05-05T09:00:00Z
ayse review.submitted   a-r2-review         review         20    0     2026-06-01T10:00:00Z
#   5122 - 375 - 3000 + 20 = 1767
ayse points.expired     a-o2-paid           base-earn      -295  0     2026-08-23T12:00:00Z
ayse order.paid         a-o4-paid           base-earn      0     900   2026-09-05T09:00:00Z
ayse points.expired     birthday:ayse:2026  birthday       -200  0     2026-09-15T21:00:00Z
ayse points.released    a-o4-paid           base-earn      900   -900  2026-09-19T09:00:00Z
ayse points.expired     a-o3-paid           base-earn      -1252 0     2026-10-17T09:00:00Z
ayse points.expired     a-r2-review         review         -20   0     2026-11-28T10:00:00Z
#   1767 - 295 - 200 + 900 - 1252 - 20 = 900
ayse order.paid         a-o5-paid           base-earn      0     9000  2026-12-05T10:00:00Z
ayse tier.changed       tier:ayse:a-o5-paid tier-up        50    0     2026-12-05T10:00:00Z
ayse points.released    a-o5-paid           base-earn      9000  -9000 2026-12-19T10:00:00Z
#   900 + 50 + 9000 = 9950
# -- burak
burak order.paid        b-o1-paid            base-earn      0     800   2026-02-03T11:00:00Z
burak order.paid        b-o1-paid            first-order    100   0     2026-02-03T11:00:00Z
burak points.released   b-o1-paid            base-earn      800   -800  2026-02-17T11:00:00Z
burak order.paid        b-o2-paid            base-earn      0     3200  2026-02-20T10:00:00Z
burak tier.changed      tier:burak:b-o2-paid tier-up        50    0     2026-02-20T10:00:00Z
burak points.released   b-o2-paid            base-earn      3200  -3200 2026-03-06T10:00:00Z
#   100 + 800 + 50 + 3200 = 4150
burak points.redeem     b-q1-redeem          -              -3000 0     2026-03-10T09:00:00Z
burak order.cancelled   b-o2-cancel          base-earn      -3200 0     2026-03-16T12:00:00Z
#   4150 - 3000 - 3200 = -2050
burak order.paid        b-o3-paid            base-earn      0     2100  2026-05-20T10:00:00Z
burak points.released   b-o3-paid            base-earn      2100  -2100 2026-06-03T10:00:00Z
burak review.submitted  b-r1-review          review         20    0     2026-06-15T10:00:00Z
burak points.adjust     b-j1-adjust          -              -100  0     2026-06-20T10:00:00Z
#   -2050 + 2100 + 20 - 100 = -30
# -- cem
cem order.paid          c-o1-paid            base-earn      0     1500  2026-01-25T12:00:00Z
cem order.paid          c-o1-paid            first-order    100   0     2026-01-25T12:00:00Z
cem order.refunded      c-o1-refund          base-earn      0     -333  2026-01-26T12:00:00Z
cem order.refunded      c-o1-refund          first-order    -22   0     2026-01-26T12:00:00Z
#   78/1167
cem points.released     c-o1-paid            base-earn      1167  -1167 2026-02-08T12:00:00Z
cem review.submitted    c-r1-review          review         20    0     2026-02-15T10:00:00Z
cem points.redeem       c-q2-redeem          -              -500  0     2026-02-16T09:00:00Z
cem points.adjust       c-j1-adjust          -              150   0     2026-03-01T10:00:00Z
#   78 + 1167 + 20 - 500 + 150 = 915
cem order.paid          c-o2-paid            base-earn      0     1000  2026-06-10T09:00:00Z
cem points.released     c-o2-paid            base-earn      1000  -1000 2026-06-24T09:00:00Z
cem points.expired      c-o1-paid            base-earn      -745  0     2026-08-07T12:00:00Z
cem points.expired      c-r1-review          review         -20   0     2026-08-14T10:00:00Z
cem points.expired      c-j1-adjust          -              -150  0     2026-08-28T10:00:00Z
cem points.expired      c-o2-paid            base-earn      -1000 0     2026-12-21T09:00:00Z
#   915 + 1000 - 745 - 20 - 150 - 1000 = 0
EOF

expect_rows lots <<'EOF'
# customer event_id rule_id points remaining released available_at expires_at
# (expires_at = available_at + 180 days; debits take the oldest available first)
# -- ayse. tl50 (500): first-order 100, a-o1 base 400 (-> 800); refund2 375
#    from a-o1 base (-> 425); gift300 (3000): a-o1 base 425, review 20,
#    referral 300, tier-up 50, a-o2 base 2205 (-> 295); then expiry.
ayse a-o1-paid           first-order 100  0    t 2026-01-10T09:00:00Z 2026-07-09T09:00:00Z
ayse a-o1-paid           base-earn   1200 0    t 2026-01-24T09:00:00Z 2026-07-23T09:00:00Z
ayse a-r1-review         review      20   0    t 2026-01-28T10:00:00Z 2026-07-27T10:00:00Z
ayse referral:ayse:burak referral    300  0    t 2026-02-03T11:00:00Z 2026-08-02T11:00:00Z
ayse tier:ayse:a-o2-paid tier-up     50   0    t 2026-02-10T12:00:00Z 2026-08-09T12:00:00Z
ayse a-o2-paid           base-earn   2500 0    t 2026-02-24T12:00:00Z 2026-08-23T12:00:00Z
ayse birthday:ayse:2026  birthday    200  0    t 2026-03-19T21:00:00Z 2026-09-15T21:00:00Z
ayse a-o3-paid           base-earn   1851 0    t 2026-04-20T09:00:00Z 2026-10-17T09:00:00Z
ayse a-r2-review         review      20   0    t 2026-06-01T10:00:00Z 2026-11-28T10:00:00Z
ayse a-o4-paid           base-earn   900  900  t 2026-09-19T09:00:00Z 2027-03-18T09:00:00Z
ayse tier:ayse:a-o5-paid tier-up     50   50   t 2026-12-05T10:00:00Z 2027-06-03T10:00:00Z
ayse a-o5-paid           base-earn   9000 9000 t 2026-12-19T10:00:00Z 2027-06-17T10:00:00Z
# -- burak. gift300: first-order 100, b-o1 base 800, tier-up 50, b-o2 base
#    2050 (-> 1150); the cancel takes 1150 and leaves -2050; b-o3 base 2100
#    pays it back (keeps 50); the claw-back takes 50 and the review's 20.
burak b-o1-paid            first-order 100  0 t 2026-02-03T11:00:00Z 2026-08-02T11:00:00Z
burak b-o1-paid            base-earn   800  0 t 2026-02-17T11:00:00Z 2026-08-16T11:00:00Z
burak tier:burak:b-o2-paid tier-up     50   0 t 2026-02-20T10:00:00Z 2026-08-19T10:00:00Z
burak b-o2-paid            base-earn   3200 0 t 2026-03-06T10:00:00Z 2026-09-02T10:00:00Z
burak b-o3-paid            base-earn   2100 0 t 2026-06-03T10:00:00Z 2026-11-30T10:00:00Z
burak b-r1-review          review      20   0 t 2026-06-15T10:00:00Z 2026-12-12T10:00:00Z
# -- cem. The refund: base 333 from pending, first-order 22 (-> 78); tl50:
#    first-order 78, c-o1 base 422 (1167 -> 745); then expiry.
cem c-o1-paid   first-order 100  0 t 2026-01-25T12:00:00Z 2026-07-24T12:00:00Z
cem c-o1-paid   base-earn   1500 0 t 2026-02-08T12:00:00Z 2026-08-07T12:00:00Z
cem c-r1-review review      20   0 t 2026-02-15T10:00:00Z 2026-08-14T10:00:00Z
cem c-j1-adjust -           150  0 t 2026-03-01T10:00:00Z 2026-08-28T10:00:00Z
cem c-o2-paid   base-earn   1000 0 t 2026-06-24T09:00:00Z 2026-12-21T09:00:00Z
EOF

expect_rows customers <<'EOF'
# customer tier segment order_count lifetime_spend clv first_order last_order
#   referred_by birth_date (as the events gave it) consent_email consent_sms
# lifetime = paid - refunded; clv = lifetime * 3 years * 365 / max(365, days
# first to last order) = lifetime * 3, every customer's first year.
# ayse: 120000+250000+(123450-40000-25000)+60000+600000 = 1088450
ayse  gold   active 5 1088450 3265350 2026-01-10T09:00:00Z 2026-12-05T10:00:00Z -    1990-03-20 f t
# burak: 80000+(320000-320000)+210000 = 290000
burak bronze lost   3 290000  870000  2026-02-03T11:00:00Z 2026-05-20T10:00:00Z ayse -          f f
# cem: (150000-33333)+100000 = 216667
cem   bronze lost   2 216667  650001  2026-01-25T12:00:00Z 2026-06-10T09:00:00Z -    1985-02-10 t t
EOF

expect_rows orders <<'EOF'
# customer order_id event_id paid_at total refunded
ayse  a-o1 a-o1-paid 2026-01-10T09:00:00Z 120000 0
ayse  a-o2 a-o2-paid 2026-02-10T12:00:00Z 250000 0
ayse  a-o3 a-o3-paid 2026-04-06T09:00:00Z 123450 65000
ayse  a-o4 a-o4-paid 2026-09-05T09:00:00Z 60000  0
ayse  a-o5 a-o5-paid 2026-12-05T10:00:00Z 600000 0
burak b-o1 b-o1-paid 2026-02-03T11:00:00Z 80000  0
burak b-o2 b-o2-paid 2026-02-20T10:00:00Z 320000 320000
burak b-o3 b-o3-paid 2026-05-20T10:00:00Z 210000 0
cem   c-o1 c-o1-paid 2026-01-25T12:00:00Z 150000 33333
cem   c-o2 c-o2-paid 2026-06-10T09:00:00Z 100000 0
EOF

expect_rows codes <<'EOF'
# customer rule_id kind amount percent min_order valid_until status used_at
#   used_by used_event_id; valid_until = issuing time + valid_days
# tl50 at 02-01T09:00Z + 30d, used in a-o2
ayse  reward:tl50     discount  5000  0  25000 2026-03-03T09:00:00Z used   2026-02-10T12:00:00Z ayse a-o2-paid
# a-o2 at 02-10T12:00Z + 90d
ayse  big-basket-gift gift_card 10000 0  0     2026-05-11T12:00:00Z issued - - -
# gift300 at 05-05T09:00Z + 60d
ayse  reward:gift300  gift_card 30000 0  0     2026-07-04T09:00:00Z issued - - -
# reminders at expiry - 30d, + 30d: the expiry instant itself
ayse  expiry-nudge    discount  2000  0  10000 2026-08-23T12:00:00Z issued - - -
ayse  expiry-nudge    discount  2000  0  10000 2026-09-15T21:00:00Z issued - - -
ayse  expiry-nudge    discount  2000  0  10000 2026-10-17T09:00:00Z issued - - -
# lost at 08-03T21:00Z + 30d (tried on 09-05: expired)
ayse  winback         discount  0     20 0     2026-09-02T21:00:00Z issued - - -
# a-o5 at 12-05T10:00Z + 90d
ayse  big-basket-gift gift_card 10000 0  0     2027-03-05T10:00:00Z issued - - -
# b-o2 at 02-20T10:00Z + 90d, voided by the cancel
burak big-basket-gift gift_card 10000 0  0     2026-05-21T10:00:00Z voided - - -
# gift300 at 03-10T09:00Z + 60d
burak reward:gift300  gift_card 30000 0  0     2026-05-09T09:00:00Z issued - - -
# b-o3 at 05-20T10:00Z + 90d
burak big-basket-gift gift_card 10000 0  0     2026-08-18T10:00:00Z issued - - -
# lost at 09-16T21:00Z + 30d
burak winback         discount  0     20 0     2026-10-16T21:00:00Z issued - - -
# tl50 at 02-16T09:00Z + 30d
cem   reward:tl50     discount  5000  0  25000 2026-03-18T09:00:00Z issued - - -
# lost at 05-24T21:00Z + 30d, used in c-o2
cem   winback         discount  0     20 0     2026-06-23T21:00:00Z used   2026-06-10T09:00:00Z cem c-o2-paid
cem   expiry-nudge    discount  2000  0  10000 2026-08-07T12:00:00Z issued - - -
cem   expiry-nudge    discount  2000  0  10000 2026-08-28T10:00:00Z issued - - -
# lost at 10-07T21:00Z + 30d
cem   winback         discount  0     20 0     2026-11-06T21:00:00Z issued - - -
cem   expiry-nudge    discount  2000  0  10000 2026-12-21T09:00:00Z issued - - -
EOF

expect_rows code_uses <<'EOF'
# customer code event_id event_time outcome; a code loyaltyd issued is
# written issuer/rule/valid_until
ayse  ayse/reward:tl50/2026-03-03T09:00:00Z      a-o2-paid   2026-02-10T12:00:00Z used
burak ayse/reward:tl50/2026-03-03T09:00:00Z      b-o2-paid   2026-02-20T10:00:00Z already_used
burak burak/big-basket-gift/2026-05-21T10:00:00Z b-o2-cancel 2026-03-16T12:00:00Z voided_by_refund
cem   cem/winback/2026-06-23T21:00:00Z           c-o2-paid   2026-06-10T09:00:00Z used
cem   HOSGELDIN                                  c-o2-paid   2026-06-10T09:00:00Z unknown
ayse  ayse/winback/2026-09-02T21:00:00Z          a-o4-paid   2026-09-05T09:00:00Z expired
EOF

expect_rows requests <<'EOF'
# customer request_id kind event_id outcome (c-q2-redeem-again: no row of its own)
ayse  a-q1 redeem a-q1-redeem completed
ayse  a-q2 redeem a-q2-redeem completed
burak b-q1 redeem b-q1-redeem completed
burak b-j1 adjust b-j1-adjust applied
cem   c-q1 redeem c-q1-redeem rejected
cem   c-q2 redeem c-q2-redeem completed
cem   c-j1 adjust c-j1-adjust applied
EOF

expect_rows queued_triggers <<'EOF'
# burak's first paid order qualified the referral; cem (himself, then
# named by burak after burak's referrer was known) never
ayse referral:ayse:burak referral.qualified 2026-02-03T11:00:00Z t
EOF

# the held refund was applied with its order
expect_rows held_refunds </dev/null

expect_rows outputs <<'EOF'
# the activity topic: customer type time, then for points.changed: event_id
# rule_id delta (available + pending change) and the balances after it
# -- ayse
ayse points.changed 2026-01-10T09:00:00Z a-o1-paid base-earn delta=1200 available=0 pending=1200
ayse points.changed 2026-01-10T09:00:00Z a-o1-paid first-order delta=100 available=100 pending=1200
ayse points.changed 2026-01-24T09:00:00Z a-o1-paid base-earn delta=0 available=1300 pending=0
ayse points.changed 2026-01-28T10:00:00Z a-r1-review review delta=20 available=1320 pending=0
ayse points.changed 2026-02-01T09:00:00Z a-q1-redeem - delta=-500 available=820 pending=0
ayse redemption.completed 2026-02-01T09:00:00Z a-q1 tl50 code=ayse/reward:tl50/2026-03-03T09:00:00Z
ayse points.changed 2026-02-03T11:00:00Z referral:ayse:burak referral delta=300 available=1120 pending=0
ayse points.changed 2026-02-10T12:00:00Z a-o2-paid base-earn delta=2500 available=1120 pending=2500
ayse tier.changed 2026-02-10T12:00:00Z bronze>silver perks=free_shipping
ayse points.changed 2026-02-10T12:00:00Z tier:ayse:a-o2-paid tier-up delta=50 available=1170 pending=2500
ayse points.changed 2026-02-24T12:00:00Z a-o2-paid base-earn delta=0 available=3670 pending=0
ayse points.changed 2026-03-19T21:00:00Z birthday:ayse:2026 birthday delta=200 available=3870 pending=0
ayse points.changed 2026-04-06T09:00:00Z a-o3-paid base-earn delta=1851 available=3870 pending=1851
ayse points.changed 2026-04-12T10:00:00Z a-o3-refund1 base-earn delta=-599 available=3870 pending=1252
ayse points.changed 2026-04-20T09:00:00Z a-o3-paid base-earn delta=0 available=5122 pending=0
ayse points.changed 2026-05-02T10:00:00Z a-o3-refund2 base-earn delta=-375 available=4747 pending=0
ayse points.changed 2026-05-05T09:00:00Z a-q2-redeem - delta=-3000 available=1747 pending=0
ayse redemption.completed 2026-05-05T09:00:00Z a-q2 gift300 code=ayse/reward:gift300/2026-07-04T09:00:00Z
ayse points.changed 2026-06-01T10:00:00Z a-r2-review review delta=20 available=1767 pending=0
ayse points.changed 2026-08-23T12:00:00Z a-o2-paid base-earn delta=-295 available=1472 pending=0
ayse points.changed 2026-09-05T09:00:00Z a-o4-paid base-earn delta=900 available=1472 pending=900
ayse points.changed 2026-09-15T21:00:00Z birthday:ayse:2026 birthday delta=-200 available=1272 pending=900
ayse points.changed 2026-09-19T09:00:00Z a-o4-paid base-earn delta=0 available=2172 pending=0
ayse points.changed 2026-10-17T09:00:00Z a-o3-paid base-earn delta=-1252 available=920 pending=0
ayse points.changed 2026-11-28T10:00:00Z a-r2-review review delta=-20 available=900 pending=0
ayse points.changed 2026-12-05T10:00:00Z a-o5-paid base-earn delta=9000 available=900 pending=9000
ayse tier.changed 2026-12-05T10:00:00Z silver>gold perks=free_shipping,free_returns
ayse points.changed 2026-12-05T10:00:00Z tier:ayse:a-o5-paid tier-up delta=50 available=950 pending=9000
ayse points.changed 2026-12-19T10:00:00Z a-o5-paid base-earn delta=0 available=9950 pending=0
# -- burak
burak points.changed 2026-02-03T11:00:00Z b-o1-paid base-earn delta=800 available=0 pending=800
burak points.changed 2026-02-03T11:00:00Z b-o1-paid first-order delta=100 available=100 pending=800
burak points.changed 2026-02-17T11:00:00Z b-o1-paid base-earn delta=0 available=900 pending=0
burak points.changed 2026-02-20T10:00:00Z b-o2-paid base-earn delta=3200 available=900 pending=3200
burak tier.changed 2026-02-20T10:00:00Z bronze>silver perks=free_shipping
burak points.changed 2026-02-20T10:00:00Z tier:burak:b-o2-paid tier-up delta=50 available=950 pending=3200
burak points.changed 2026-03-06T10:00:00Z b-o2-paid base-earn delta=0 available=4150 pending=0
burak points.changed 2026-03-10T09:00:00Z b-q1-redeem - delta=-3000 available=1150 pending=0
burak redemption.completed 2026-03-10T09:00:00Z b-q1 gift300 code=burak/reward:gift300/2026-05-09T09:00:00Z
burak points.changed 2026-03-16T12:00:00Z b-o2-cancel base-earn delta=-3200 available=-2050 pending=0
burak tier.changed 2026-03-16T12:00:00Z silver>bronze perks=-
burak points.changed 2026-05-20T10:00:00Z b-o3-paid base-earn delta=2100 available=-2050 pending=2100
burak points.changed 2026-06-03T10:00:00Z b-o3-paid base-earn delta=0 available=50 pending=0
burak points.changed 2026-06-15T10:00:00Z b-r1-review review delta=20 available=70 pending=0
burak points.changed 2026-06-20T10:00:00Z b-j1-adjust - delta=-100 available=-30 pending=0
# -- cem
cem points.changed 2026-01-25T12:00:00Z c-o1-paid base-earn delta=1500 available=0 pending=1500
cem points.changed 2026-01-25T12:00:00Z c-o1-paid first-order delta=100 available=100 pending=1500
cem points.changed 2026-01-26T12:00:00Z c-o1-refund base-earn delta=-333 available=100 pending=1167
cem points.changed 2026-01-26T12:00:00Z c-o1-refund first-order delta=-22 available=78 pending=1167
cem redemption.rejected 2026-02-03T15:00:00Z c-q1 tl50 reason=insufficient_points
cem points.changed 2026-02-08T12:00:00Z c-o1-paid base-earn delta=0 available=1245 pending=0
cem points.changed 2026-02-15T10:00:00Z c-r1-review review delta=20 available=1265 pending=0
cem points.changed 2026-02-16T09:00:00Z c-q2-redeem - delta=-500 available=765 pending=0
cem redemption.completed 2026-02-16T09:00:00Z c-q2 tl50 code=cem/reward:tl50/2026-03-18T09:00:00Z
cem points.changed 2026-03-01T10:00:00Z c-j1-adjust - delta=150 available=915 pending=0
cem points.changed 2026-06-10T09:00:00Z c-o2-paid base-earn delta=1000 available=915 pending=1000
cem points.changed 2026-06-24T09:00:00Z c-o2-paid base-earn delta=0 available=1915 pending=0
cem points.changed 2026-08-07T12:00:00Z c-o1-paid base-earn delta=-745 available=1170 pending=0
cem points.changed 2026-08-14T10:00:00Z c-r1-review review delta=-20 available=1150 pending=0
cem points.changed 2026-08-28T10:00:00Z c-j1-adjust - delta=-150 available=1000 pending=0
cem points.changed 2026-12-21T09:00:00Z c-o2-paid base-earn delta=-1000 available=0 pending=0
EOF

contracts
[ -s "$REPORT" ] || log "run 1: every value as computed by hand"
[ "${KEEP_CASE:-0}" = 1 ] || rm -rf "$RUN1_DIR"

# ---- run 2: whole segments, big batches, kill -9 ----------------------------------

setup_case lifecycle2
trap 'teardown_case; rm -rf "$WORK"' EXIT
export LOYALTY_BATCH_MAX_EVENTS=1000
# a batch waits 300 ms to fill, so a kill 0 to 0.4 s after the produce lands
# before the batch commits, while it commits, or after
export LOYALTY_BATCH_MAX_WAIT_MS=300
REPORT=$WORK/report.2
: >"$REPORT"
LAST_TICK="(none)"
# segment 2: ayse's review and tl50, burak's registration and first order
# (the referral), cem's rejected redemption; segment 9: ayse's second
# refund and gift300, burak's b-o3
run_year segment "2 9"
common_checks
dump_state "$WORK/run2"
contracts
for f in ledger lots balances customers orders codes code_uses requests held_refunds \
	queued_triggers processed_events rule_limits rule_budgets activity-ids; do
	diff -u "$WORK/run1/$f" "$WORK/run2/$f" >"$WORK/diff.$f" || {
		echo "--- $f: run 1 (-) and run 2 (+)"
		tail -n +3 "$WORK/diff.$f"
	} >>"$REPORT"
done
[ -s "$REPORT" ] || log "run 2: the same state as run 1"
finish_report
echo "lifecycle: ok"
