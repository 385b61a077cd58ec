#!/usr/bin/env bash
# A late scheduler pass counts a trigger rule's limit in the calendar period
# of each trigger's own time, reading what earlier passes stored: three
# expiry reminders in November, two of them done by a pass in December, fire
# the once-a-month rule once.
source "$(dirname "$0")/lib.sh"
setup_case scheduler_limits
export LOYALTY_PROGRAM=$LY_SOURCE_DIR/tests/integration/data/scheduler-limits.yaml
trap 'status=$?; kill_worker; teardown_case $status' EXIT
review() { # review ID TIME
	printf 'c-1\t{"specversion":"1.0","id":"%s","source":"urn:test:limits","type":"review.submitted","time":"%s","data":{"customer_id":"c-1","review_id":"%s","product_id":"p","rating":5,"verified_purchase":true,"has_photo":false,"text_length":1}}\n' \
		"$1" "$2" "$1"
}
# lots expiring 25 Nov, 5 Dec and 10 Dec: reminders 15, 25 and 30 Nov
{ review r-1 2026-10-26T10:00:00Z; review r-2 2026-11-05T10:00:00Z; review r-3 2026-11-10T10:00:00Z; } |
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_REVIEWS" -K $'\t' || fail "kcat -P"
start_worker
wait_consumed 3
stop_worker
"$LOYALTYCTL" tick --now 2026-11-16T00:00:00Z >/dev/null || fail "tick"
[ "$(sql "SELECT count(*) FROM codes WHERE rule_id = 'nudge'")" = 1 ] || fail "the first reminder issued no code"
# December: the reminders of 25 and 30 November are November's, whose one
# firing an earlier pass stored; the 25 November lot expires.
"$LOYALTYCTL" tick --now 2026-12-02T00:00:00Z >/dev/null || fail "tick"
got=$(sql "SELECT count(*) FROM codes WHERE rule_id = 'nudge'")
[ "$got" = 1 ] || fail "the monthly limit let $got reminders through in November"
[ "$(sql "SELECT period || ' ' || count FROM rule_limits WHERE rule_id = 'nudge'")" = "2026-11 1" ] ||
	fail "limits: $(sql "SELECT * FROM rule_limits")"
[ "$(sql "SELECT count(*) FROM lots WHERE reminded")" = 3 ] || fail "not every lot was reminded"
[ "$(sql "SELECT available FROM balances WHERE customer_id = 'c-1'")" = 20 ] || fail "r-1 did not expire"
check_verify
log "scheduler limits: one firing per month across passes"
