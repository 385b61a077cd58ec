#!/usr/bin/env bash
# The sample mailer (examples/mailer) on the loyalty.offer contract, on
# loyaltyd's own output, against the real broker and PostgreSQL:
#
# - --check-templates renders every shipped template in tr and en, and
#   refuses a set with a missing template, a syntax error or a long SMS;
# - bad arguments exit 2 with the usage;
# - loyaltyd runs examples/programs/anadolu-market.yaml (Europe/Istanbul =
#   UTC+3; SMS quiet 21:00-09:00, e-mail quiet 23:00-07:00; base-earn 1
#   point a TL, pending; first-order 500 available and the welcome offer by
#   e-mail and SMS; a 100 TL gift card for 2,500 TL or more; on the
#   birthday 1,000 points and a 50 TL discount from 200 TL for 14 days, by
#   e-mail and SMS) on events produced here:
#     ayse  tr, both consents, a birth date; her first order (1,250 TL) at
#           22:30 Istanbul time: the SMS waits until 09:00, the e-mail not;
#           her birthday at local midnight (`loyaltyctl tick`): both held,
#           the e-mail until 07:00 and the SMS until 09:00;
#     jane  en, e-mail consent only (SMS never given): a 5,400 TL first
#           order at 22:30 makes her gumus and brings a welcome and a gift
#           card by e-mail and nothing at all by SMS;
#     anon  no name, no locale (tr, the program's), both consents: a 300 TL
#           first order at 10:00, nothing held;
#   every offer on the topic is checked against values computed by hand
#   from the program (ids by docs/offers.md's formula, codes from
#   PostgreSQL), and against the contract;
# - a crash after publishing and before marking is simulated twice (the
#   offers' outbox rows unmarked, the relay publishes them again, byte for
#   byte): once before the mailer's first run, once between its runs;
# - hand-written offers for what loyaltyd cannot be made to emit (produce_offers:
#   an en-GB offer whose en template is missing, an expired one, one with a
#   template in no locale, one for a customer without a phone number; they
#   pass the contract validator), and three messages that are no offers;
# - a first run at 03:30Z (06:30 in Istanbul, inside both quiet hours)
#   sends what is due, drops the copies, holds both birthday offers, drops
#   the expired offer, falls back from en-GB to tr, and keeps two offers
#   failed; a second run at 06:30Z (09:30) drops the second copies, sends
#   the birthday's e-mail and SMS, and fails the two again;
# - the gateway's lines are exactly the ones written below, bodies
#   included; SQLite holds each offer's outcome; every log line is JSON,
#   names the right ids, and no contact detail appears in any of them.
source "$(dirname "$0")/lib.sh"
setup_case mailer
export LOYALTY_PROGRAM=$LY_SOURCE_DIR/examples/programs/anadolu-market.yaml

MAILER=$LY_SOURCE_DIR/examples/mailer/mailer.py
NOW1=2026-11-25T03:30:00Z # 06:30 in Istanbul: quiet for e-mail and SMS
NOW2=2026-11-25T06:30:00Z # 09:30: quiet for neither
CE_JSON='application/cloudevents+json; charset=UTF-8'

# A python3 with the Debian packages the mailer runs on: pyenv's may lack
# them where Debian's has them.
PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import confluent_kafka, jinja2' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || fail "no python3 with confluent_kafka and jinja2 (Debian: python3-confluent-kafka, python3-jinja2)"

expect_exit() {
	local want=$1 got=0
	shift
	"$@" >"$CASE_DIR/out" 2>"$CASE_DIR/err" || got=$?
	[ "$got" = "$want" ] || { cat "$CASE_DIR/out" "$CASE_DIR/err" >&2; fail "'$*' exited $got, want $want"; }
}

# ---- templates ----

expect_exit 0 "$PY" "$MAILER" --check-templates
grep -q '^12 templates in 2 locales (en, tr): 96 renders, longest SMS' "$CASE_DIR/out" ||
	fail "--check-templates: $(cat "$CASE_DIR/out")"

cp -r "$LY_SOURCE_DIR/examples/mailer/templates" "$CASE_DIR/broken"
rm "$CASE_DIR/broken/en/tier-up.j2"
sed -i 's/{% block sms %}/{% block sms %}{{ code }/' "$CASE_DIR/broken/en/winback.j2"
sed -i '/{% block sms %}/ s/{% endblock %}$/ Bu kampanya Anadolu Market mağazalarında değil, yalnızca internet sitemizde ve mobil uygulamamızda geçerlidir.{% endblock %}/' \
	"$CASE_DIR/broken/tr/sorry.j2"
expect_exit 1 "$PY" "$MAILER" --check-templates --templates "$CASE_DIR/broken"
for want in 'en/tier-up.j2: missing' "en/winback.j2:20: TemplateSyntaxError: unexpected '}'" \
	'tr/sorry.j2: the SMS has 247 characters, over 160'; do
	grep -qF "$want" "$CASE_DIR/err" || { cat "$CASE_DIR/err" >&2; fail "--check-templates did not say: $want"; }
done
[ "$(wc -l <"$CASE_DIR/err")" = 3 ] || { cat "$CASE_DIR/err" >&2; fail "--check-templates: not exactly 3 problems"; }

# ---- arguments ----

run_args="--brokers $LY_TEST_KAFKA --state $CASE_DIR/state.db --contacts $CASE_DIR/contacts.json --out $CASE_DIR/gateway.jsonl"
# shellcheck disable=SC2086
for bad in "--brokers $LY_TEST_KAFKA" "$run_args --now yesterday" "$run_args --until-idle -5" \
	"$run_args --default-locale Turkish" "$run_args --bcc boss@example.com"; do
	expect_exit 2 "$PY" "$MAILER" $bad
	grep -q '^usage: mailer.py' "$CASE_DIR/err" || fail "no usage for: $bad"
done
if [ -e "$CASE_DIR/state.db" ] || [ -e "$CASE_DIR/gateway.jsonl" ]; then
	fail "a bad command created files"
fi

# ---- the shop's side: contacts, and the copy without en/sorry-review ----

# jane has a phone number, but never gave SMS consent; can has none.
cat >"$CASE_DIR/contacts.json" <<'JSON'
{"ayse": {"email": "ayse.yilmaz@example.com", "phone": "+905321112233"},
 "jane": {"email": "jane.doe@example.org", "phone": "+447700900123"},
 "anon": {"email": "musteri4411@example.com", "phone": "+905301234411"},
 "emma": {"email": "emma.stone@example.net", "phone": "+905339998877"},
 "mehmet": {"email": "mehmet.kaya@example.com", "phone": "+905551234567"},
 "elif": {"email": "elif.demir@example.com", "phone": "+905467654321"},
 "can": {"email": "can.ozturk@example.com"}}
JSON
cp -r "$LY_SOURCE_DIR/examples/mailer/templates" "$CASE_DIR/templates"
rm "$CASE_DIR/templates/en/sorry-review.j2"

# ---- loyaltyd's offers ----

ce() { # ce ID TYPE TIME DATA: a structured-mode CloudEvent line keyed by its customer
	local re='"customer_id":"([^"]*)"'
	[[ $4 =~ $re ]] || fail "ce $1: no customer_id"
	printf '%s\t{"specversion":"1.0","id":"%s","source":"urn:test:mailer","type":"%s","time":"%s","data":%s}\n' \
		"${BASH_REMATCH[1]}" "$1" "$2" "$3" "$4"
}
produce() { # produce TOPIC < lines of ce
	kcat -P -b "$LY_TEST_KAFKA" -t "$1" -K $'\t' || fail "kcat -P $1"
}
# wait_published: every row the worker and the tick wrote is on Kafka.
wait_published() {
	local _
	for _ in $(seq 150); do
		[ "$(sql "SELECT count(*) FROM outbox WHERE published_at IS NULL")" = 0 ] && return 0
		sleep 0.2
	done
	fail "the outbox still holds unpublished rows after 30 s"
}
# offer_id SOURCE EVENT RULE CHANNEL: docs/offers.md's id of the offer.
offer_id() {
	local h
	h=$(printf '%s\0%s\0%s/%s' "$1" "$2" "$3" "$4" | sha256sum)
	echo "of-${h:0:32}"
}
# code CUSTOMER RULE: the one code loyaltyd issued to CUSTOMER from RULE.
code() {
	local c
	c=$(sql "SELECT code FROM codes WHERE customer_id = '$1' AND rule_id = '$2'")
	[ "$(grep -c . <<<"$c")" = 1 ] || fail "$1 holds $(grep -c . <<<"$c") codes of rule $2, want 1"
	echo "$c"
}

# Registered on Monday 16 November at 10:00 in Istanbul; the orders are
# produced once the registrations are applied, as a shop publishes them
# (docs/offers.md: across topics there is no order).
{
	ce reg-ayse customer.registered 2026-11-16T07:00:00Z \
		'{"customer_id":"ayse","first_name":"Ayşe","locale":"tr","birth_date":"1990-11-25","email":"ayse.yilmaz@example.com","phone":"+905321112233","consents":{"email":true,"sms":true}}'
	ce reg-jane customer.registered 2026-11-16T07:00:00Z \
		'{"customer_id":"jane","first_name":"Jane","locale":"en","email":"jane.doe@example.org","consents":{"email":true}}'
	ce reg-anon customer.registered 2026-11-16T07:00:00Z \
		'{"customer_id":"anon","consents":{"email":true,"sms":true}}'
} | produce "$LOYALTY_TOPICS_CUSTOMERS"
start_worker
wait_consumed 3 60
{
	# Wednesday 22:30 and Thursday 22:30 (SMS quiet, e-mail not), Friday 10:00
	ce o-ayse-1 order.paid 2026-11-18T19:30:00Z \
		'{"customer_id":"ayse","order_id":"o-ayse-1","total":125000,"currency":"TRY","items":[{"sku":"towel","category":"home","quantity":2,"unit_price":62500}]}'
	ce o-jane-1 order.paid 2026-11-19T19:30:00Z \
		'{"customer_id":"jane","order_id":"o-jane-1","total":540000,"currency":"TRY","items":[{"sku":"oven","category":"kitchen","quantity":1,"unit_price":400000},{"sku":"rug","category":"home","quantity":2,"unit_price":70000}]}'
	ce o-anon-1 order.paid 2026-11-20T07:00:00Z \
		'{"customer_id":"anon","order_id":"o-anon-1","total":30000,"currency":"TRY","items":[{"sku":"cup","category":"kitchen","quantity":1,"unit_price":30000}]}'
} | produce "$LOYALTY_TOPICS_ORDERS"
wait_consumed 6 60
# Ayşe's birthday: Wednesday 25 November, 00:00 in Istanbul
"$LOYALTYCTL" tick --now 2026-11-24T21:00:00Z >"$CASE_DIR/tick.out" 2>&1 || fail "tick: $(cat "$CASE_DIR/tick.out")"
wait_published

AYSE_WELCOME_EMAIL=$(offer_id urn:test:mailer o-ayse-1 first-order email)
AYSE_WELCOME_SMS=$(offer_id urn:test:mailer o-ayse-1 first-order sms)
AYSE_BIRTHDAY_EMAIL=$(offer_id loyaltyd birthday:ayse:2026 birthday email)
AYSE_BIRTHDAY_SMS=$(offer_id loyaltyd birthday:ayse:2026 birthday sms)
JANE_WELCOME_EMAIL=$(offer_id urn:test:mailer o-jane-1 first-order email)
JANE_GIFT_EMAIL=$(offer_id urn:test:mailer o-jane-1 big-basket-gift email)
ANON_WELCOME_EMAIL=$(offer_id urn:test:mailer o-anon-1 first-order email)
ANON_WELCOME_SMS=$(offer_id urn:test:mailer o-anon-1 first-order sms)
AYSE_BIRTHDAY_CODE=$(code ayse birthday)
JANE_GIFT_CODE=$(code jane big-basket-gift)
REAL_OFFERS=8

# real_offers DUMP: loyaltyd's offers in a kcat -J dump, one line each,
# by customer and in topic order: offer_id customer time channel template
# locale send_after expires_at code vars (sorted); fails unless the
# envelope's id, subject and key agree with the offer.
real_offers() {
	"$PY" - "$1" <<'PY' || fail "an offer on the topic is not as loyaltyd makes them"
import json, sys
rows = []
for line in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(line)
    e = json.loads(m["payload"])
    if e.get("source") != "loyaltyd":
        continue  # written by hand below
    d = e["data"]
    assert e["type"] == "loyalty.offer" and e["id"] == d["offer_id"], e
    assert e["subject"] == d["customer_id"] == m["key"], (e, m["key"])
    rows.append((d["customer_id"], " ".join([
        d["offer_id"], d["customer_id"], e["time"], d["channel"], d["template"], d["locale"],
        d.get("send_after", "-"), d.get("expires_at", "-"), d.get("code", "-"),
        json.dumps(d["vars"], ensure_ascii=False, sort_keys=True, separators=(",", ":"))])))
rows.sort(key=lambda r: r[0])  # stable: topic order within a customer
print("\n".join(r[1] for r in rows))
PY
}

# expect_file FILE: FILE holds exactly the text on stdin.
expect_file() {
	diff -u - "$1" >&2 || fail "$(basename "$1") is not as expected"
}

topic_dump_json "$LOYALTY_TOPICS_OFFERS" >"$CASE_DIR/real.jsonl" || fail "kcat $LOYALTY_TOPICS_OFFERS"
real_offers "$CASE_DIR/real.jsonl" >"$CASE_DIR/real.txt"
# Ayşe: 100 points for a complete profile at registration, then on the
# order 1,250 pending (base-earn) and 500 available (first-order); on her
# birthday 1,000 more available and a code valid 14 days from midnight.
# Jane: 5,400 pending (base-earn at bronz's x1, the tier before the order)
# and 500 available, offered in gumus (5,400 TL >= 5,000 TL), with its
# perk; the gift card valid 90 days from the order. Anon: 300 pending and
# 500 available, and the program's locale.
expect_file "$CASE_DIR/real.txt" <<EXPECT
$ANON_WELCOME_EMAIL anon 2026-11-20T07:00:00Z email welcome tr - - - {"currency":"TRY","locale":"tr","perks":[],"points_available":500,"points_earned":500,"points_pending":300,"tier":"bronz","top_category":"kitchen","total":30000}
$ANON_WELCOME_SMS anon 2026-11-20T07:00:00Z sms welcome tr - - - {"currency":"TRY","locale":"tr","perks":[],"points_available":500,"points_earned":500,"points_pending":300,"tier":"bronz","top_category":"kitchen","total":30000}
$AYSE_WELCOME_EMAIL ayse 2026-11-18T19:30:00Z email welcome tr - - - {"currency":"TRY","first_name":"Ayşe","locale":"tr","perks":[],"points_available":600,"points_earned":500,"points_pending":1250,"tier":"bronz","top_category":"home","total":125000}
$AYSE_WELCOME_SMS ayse 2026-11-18T19:30:00Z sms welcome tr 2026-11-19T06:00:00Z - - {"currency":"TRY","first_name":"Ayşe","locale":"tr","perks":[],"points_available":600,"points_earned":500,"points_pending":1250,"tier":"bronz","top_category":"home","total":125000}
$AYSE_BIRTHDAY_EMAIL ayse 2026-11-24T21:00:00Z email birthday tr 2026-11-25T04:00:00Z 2026-12-08T21:00:00Z $AYSE_BIRTHDAY_CODE {"code_amount":5000,"code_kind":"discount","code_min_order":20000,"code_valid_until":"2026-12-08","currency":"TRY","first_name":"Ayşe","perks":[],"points_available":1600,"points_earned":1000,"points_pending":1250,"tier":"bronz","top_category":"home"}
$AYSE_BIRTHDAY_SMS ayse 2026-11-24T21:00:00Z sms birthday tr 2026-11-25T06:00:00Z 2026-12-08T21:00:00Z $AYSE_BIRTHDAY_CODE {"code_amount":5000,"code_kind":"discount","code_min_order":20000,"code_valid_until":"2026-12-08","currency":"TRY","first_name":"Ayşe","perks":[],"points_available":1600,"points_earned":1000,"points_pending":1250,"tier":"bronz","top_category":"home"}
$JANE_WELCOME_EMAIL jane 2026-11-19T19:30:00Z email welcome en - - - {"currency":"TRY","first_name":"Jane","locale":"en","perks":["free_shipping"],"points_available":500,"points_earned":500,"points_pending":5400,"tier":"gumus","top_category":"kitchen","total":540000}
$JANE_GIFT_EMAIL jane 2026-11-19T19:30:00Z email gift-card en - 2027-02-17T19:30:00Z $JANE_GIFT_CODE {"code_amount":10000,"code_kind":"gift_card","code_valid_until":"2027-02-17","currency":"TRY","first_name":"Jane","perks":["free_shipping"],"points_available":500,"points_pending":5400,"tier":"gumus","top_category":"kitchen"}
EXPECT
[ "$(sql "SELECT status || ' ' || reason FROM offers WHERE customer_id = 'jane' AND channel = 'sms'")" = "suppressed no_consent" ] ||
	fail "jane's welcome SMS: $(sql "SELECT status, reason FROM offers WHERE customer_id = 'jane' AND channel = 'sms'")"

# crash_after_publish: the offers' outbox rows lose their mark, as after a
# crash between the broker's acknowledgement and the mark; the relay
# publishes them again.
crash_after_publish() {
	[ "$(sql "SELECT count(*) FROM outbox WHERE channel IS NOT NULL AND published_at IS NOT NULL")" = $REAL_OFFERS ] ||
		fail "the outbox holds $(sql "SELECT count(*) FROM outbox WHERE channel IS NOT NULL") published offers, want $REAL_OFFERS"
	sql "UPDATE outbox SET published_at = NULL WHERE channel IS NOT NULL"
	wait_published
}

# copies DUMP N: each of loyaltyd's offers is N times on the topic, byte
# for byte the same (the junk below is left out).
copies() {
	"$PY" - "$1" "$2" <<'PY' || fail "the relay's copies differ"
import collections, json, sys
seen = collections.defaultdict(list)
for line in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(line)
    e = json.loads(m["payload"]) if m["payload"].startswith("{") else {}
    if e.get("source") == "loyaltyd" and e.get("specversion") == "1.0" and e["type"] == "loyalty.offer":
        seen[e["id"]].append((m["key"], m["payload"]))
assert len(seen) == 8, len(seen)
for id, copies in seen.items():
    assert len(copies) == int(sys.argv[2]) and len(set(copies)) == 1, (id, copies)
PY
}

crash_after_publish

# ---- the offers loyaltyd cannot be made to emit ----

# produce_offers: hand-written loyalty.offer events in the exact shape
# loyaltyd publishes (key: the customer; structured mode): an en-GB offer
# (loyaltyd knows tr and en only) whose en template is missing here, an
# offer past its expires_at, a template in no locale, and an SMS for a
# customer without a phone number.
produce_offers() {
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_OFFERS" -K $'\t' -H "content-type=$CE_JSON" <<'JSON'
emma	{"specversion":"1.0","id":"of-00000000000000000000000000000001","source":"urn:test:mailer","type":"loyalty.offer","time":"2026-11-24T15:45:00Z","datacontenttype":"application/json","subject":"emma","data":{"customer_id":"emma","offer_id":"of-00000000000000000000000000000001","channel":"email","template":"sorry-review","locale":"en-GB","expires_at":"2026-12-24T21:00:00Z","code":"H4TC2K7RM9XQ","vars":{"first_name":"Emma","points_available":320,"points_pending":0,"tier":"bronz","perks":[],"top_category":"baby","currency":"TRY","code_kind":"discount","code_percent":10,"code_min_order":10000,"code_valid_until":"2026-12-24"}}}
mehmet	{"specversion":"1.0","id":"of-00000000000000000000000000000002","source":"urn:test:mailer","type":"loyalty.offer","time":"2026-08-26T12:00:00Z","datacontenttype":"application/json","subject":"mehmet","data":{"customer_id":"mehmet","offer_id":"of-00000000000000000000000000000002","channel":"email","template":"gift-card","locale":"tr","expires_at":"2026-11-24T12:00:00Z","code":"2K7RM9XPQ4TB","vars":{"first_name":"Mehmet","points_available":4100,"points_pending":0,"tier":"gumus","perks":["free_shipping"],"top_category":"outdoor","currency":"TRY","code_kind":"gift_card","code_amount":10000,"code_valid_until":"2026-11-24"}}}
elif	{"specversion":"1.0","id":"of-00000000000000000000000000000003","source":"urn:test:mailer","type":"loyalty.offer","time":"2026-11-24T10:00:00Z","datacontenttype":"application/json","subject":"elif","data":{"customer_id":"elif","offer_id":"of-00000000000000000000000000000003","channel":"email","template":"summer-sale","locale":"en","vars":{"first_name":"Elif","points_available":90,"points_pending":0,"tier":"bronz","perks":[],"top_category":"outdoor","currency":"TRY"}}}
can	{"specversion":"1.0","id":"of-00000000000000000000000000000004","source":"urn:test:mailer","type":"loyalty.offer","time":"2026-11-24T09:00:00Z","datacontenttype":"application/json","subject":"can","data":{"customer_id":"can","offer_id":"of-00000000000000000000000000000004","channel":"sms","template":"points-expiring","locale":"tr","vars":{"first_name":"Can","points_available":1200,"points_pending":0,"tier":"bronz","perks":[],"top_category":"home","currency":"TRY","points":750,"date":"2026-12-24"}}}
JSON
}

# produce_junk: what else can be on the topic: no JSON, another type, another
# CloudEvents version.
produce_junk() {
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_OFFERS" -K $'\t' -H "content-type=$CE_JSON" <<'JSON'
ayse	hello
ayse	{"specversion":"1.0","id":"pc-1","source":"loyaltyd","type":"loyalty.points.changed","time":"2026-11-24T18:30:00Z","datacontenttype":"application/json","subject":"ayse","data":{"customer_id":"ayse","delta":500}}
jane	{"specversion":"0.3","id":"of-00000000000000000000000000000009","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T18:30:00Z","subject":"jane","data":{}}
JSON
}

produce_offers || fail "kcat: produce offers"
topic_dump_json "$LOYALTY_TOPICS_OFFERS" >"$CASE_DIR/offers.jsonl" || fail "kcat $LOYALTY_TOPICS_OFFERS"
copies "$CASE_DIR/offers.jsonl" 2
[ "$(wc -l <"$CASE_DIR/offers.jsonl")" = $((2 * REAL_OFFERS + 4)) ] || fail "the topic holds $(wc -l <"$CASE_DIR/offers.jsonl") messages, want $((2 * REAL_OFFERS + 4))"
check_contracts "$CASE_DIR/offers.jsonl"
produce_junk || fail "kcat: produce junk"

# run_mailer N NOW: one draining run of the mailer; its summary in runN.out,
# its log in runN.log.
run_mailer() {
	# shellcheck disable=SC2086
	"$PY" "$MAILER" $run_args --topic "$LOYALTY_TOPICS_OFFERS" --group "$LOYALTY_KAFKA_GROUP_ID-mailer" \
		--templates "$CASE_DIR/templates" --now "$2" --until-idle 3000 \
		>"$CASE_DIR/run$1.out" 2>"$CASE_DIR/run$1.log" || {
		cat "$CASE_DIR/run$1.log" >&2
		fail "mailer run $1 exited non-zero"
	}
}

# log_events RUN: the run's log as sorted "msg [offer_id] [detail]" lines,
# leaving out librdkafka's and the mailer's start and stop; fails unless
# every line is a JSON object in loyaltyd's shape.
log_events() {
	"$PY" - "$CASE_DIR/run$1.log" <<'PY' | LC_ALL=C sort >"$CASE_DIR/run$1.events" || fail "run $1 logged a line that is not JSON"
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)  # every line is one JSON object
    assert isinstance(rec, dict) and {"ts", "level", "component", "msg"} <= rec.keys(), line
    if rec["component"] != "mailer" or rec["msg"] in ("partitions assigned", "stopped"):
        continue
    detail = rec.get("reason") or rec.get("used") or rec.get("send_after") or rec.get("expires_at") or rec.get("count")
    print(" ".join(str(x) for x in (rec["msg"], rec.get("offer_id"), detail) if x is not None))
PY
}

# state: "offer_id status [error]" for each offer in the mailer's SQLite file.
state() {
	"$PY" -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(
        "SELECT offer_id, status, error FROM offers ORDER BY offer_id"):
    print(" ".join(x for x in row if x))' "$CASE_DIR/state.db" >"$CASE_DIR/state.txt"
}

# ---- run 1: 03:30Z, 06:30 in Istanbul ----

run_mailer 1 $NOW1
expect_file "$CASE_DIR/run1.out" <<'EOF1'
{"recorded":12,"duplicates":8,"skipped":3,"sent":7,"expired":1,"failed":2,"held":2}
EOF1
LC_ALL=C sort "$CASE_DIR/gateway.jsonl" >"$CASE_DIR/gateway.sorted"
LC_ALL=C sort <<EXPECT | expect_file "$CASE_DIR/gateway.sorted"
{"offer_id":"$AYSE_WELCOME_EMAIL","customer_id":"ayse","channel":"email","to":"ayse.yilmaz@example.com","locale":"tr","template":"welcome","subject":"Anadolu Market'e hoş geldiniz!","body":"Merhaba Ayşe,\n\n1.250,00 TL tutarındaki ilk siparişinizi aldık, teşekkür ederiz. Aramıza hoş geldiniz!\n\nHoş geldiniz hediyesi olarak hesabınıza 500 puan ekledik. Şu an kullanabileceğiniz puan: 600. Siparişinizden kazandığınız 1.250 puan da iade süresi dolduğunda hesabınıza geçecek.\n\nPuanlarınızı hesabınızdaki Ödüller sayfasında indirim çekine çevirebilirsiniz; her siparişinizle puanınız da büyür.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"$NOW1"}
{"offer_id":"$AYSE_WELCOME_SMS","customer_id":"ayse","channel":"sms","to":"+905321112233","locale":"tr","template":"welcome","body":"Anadolu Market'e hoş geldiniz Ayşe! İlk siparişiniz için teşekkürler. Kullanabileceğiniz puan: 600.","sent_at":"$NOW1"}
{"offer_id":"$JANE_WELCOME_EMAIL","customer_id":"jane","channel":"email","to":"jane.doe@example.org","locale":"en","template":"welcome","subject":"Welcome to Anadolu Market!","body":"Hello Jane,\n\nWe have received your first order of TRY 5,400.00. Thank you, and welcome!\n\nAs a welcome gift, we have added 500 points to your account. You can use 500 points right now, and the 5,400 points this order earned will be added once the return period ends.\n\nTurn your points into a discount voucher on the Rewards page of your account; they grow with every order.\n\nWarm regards,\nThe Anadolu Market team","sent_at":"$NOW1"}
{"offer_id":"$JANE_GIFT_EMAIL","customer_id":"jane","channel":"email","to":"jane.doe@example.org","locale":"en","template":"gift-card","subject":"Your TRY 100.00 gift card is here","body":"Hello Jane,\n\nThank you for your big basket! Here is a TRY 100.00 gift card for your next order.\n\nYour gift card code: $JANE_GIFT_CODE\n\nJust enter it at checkout. Use it by 17 February 2027.\n\nWarm regards,\nThe Anadolu Market team","sent_at":"$NOW1"}
{"offer_id":"$ANON_WELCOME_EMAIL","customer_id":"anon","channel":"email","to":"musteri4411@example.com","locale":"tr","template":"welcome","subject":"Anadolu Market'e hoş geldiniz!","body":"Merhaba,\n\n300,00 TL tutarındaki ilk siparişinizi aldık, teşekkür ederiz. Aramıza hoş geldiniz!\n\nHoş geldiniz hediyesi olarak hesabınıza 500 puan ekledik. Şu an kullanabileceğiniz puan: 500. Siparişinizden kazandığınız 300 puan da iade süresi dolduğunda hesabınıza geçecek.\n\nPuanlarınızı hesabınızdaki Ödüller sayfasında indirim çekine çevirebilirsiniz; her siparişinizle puanınız da büyür.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"$NOW1"}
{"offer_id":"$ANON_WELCOME_SMS","customer_id":"anon","channel":"sms","to":"+905301234411","locale":"tr","template":"welcome","body":"Anadolu Market'e hoş geldiniz! İlk siparişiniz için teşekkürler. Kullanabileceğiniz puan: 500.","sent_at":"$NOW1"}
{"offer_id":"of-00000000000000000000000000000001","customer_id":"emma","channel":"email","to":"emma.stone@example.net","locale":"tr","template":"sorry-review","subject":"Yorumunuz için teşekkürler, telafi etmek istiyoruz","body":"Merhaba Emma,\n\nYorumunuzu okuduk ve beklentinizi karşılayamadığımız için çok üzgünüz. Müşteri hizmetlerimiz sorunu birlikte çözmek için en kısa sürede sizinle iletişime geçecek.\n\nBu arada bir sonraki siparişiniz için size %10 indirim tanımladık:\n\nH4TC2K7RM9XQ\n\n100,00 TL ve üzeri siparişlerde geçerlidir. Son kullanma tarihi: 24 Aralık 2026.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"$NOW1"}
EXPECT
log_events 1
LC_ALL=C sort <<EXPECT | expect_file "$CASE_DIR/run1.events"
duplicate offer dropped $AYSE_WELCOME_EMAIL
duplicate offer dropped $AYSE_WELCOME_SMS
duplicate offer dropped $AYSE_BIRTHDAY_EMAIL
duplicate offer dropped $AYSE_BIRTHDAY_SMS
duplicate offer dropped $JANE_WELCOME_EMAIL
duplicate offer dropped $JANE_GIFT_EMAIL
duplicate offer dropped $ANON_WELCOME_EMAIL
duplicate offer dropped $ANON_WELCOME_SMS
message skipped specversion "0.3" is not "1.0"
message skipped type "loyalty.points.changed" is not "loyalty.offer"
message skipped value is not JSON
offer expired of-00000000000000000000000000000002 2026-11-24T12:00:00Z
offer failed of-00000000000000000000000000000003 no template "summer-sale" in en, tr
offer failed of-00000000000000000000000000000004 the directory has no phone for the customer
offer held $AYSE_BIRTHDAY_EMAIL 2026-11-25T04:00:00Z
offer held $AYSE_BIRTHDAY_SMS 2026-11-25T06:00:00Z
offer recorded $AYSE_WELCOME_EMAIL
offer recorded $AYSE_WELCOME_SMS
offer recorded $JANE_WELCOME_EMAIL
offer recorded $JANE_GIFT_EMAIL
offer recorded $ANON_WELCOME_EMAIL
offer recorded $ANON_WELCOME_SMS
offer recorded of-00000000000000000000000000000001
offer recorded of-00000000000000000000000000000002
offer recorded of-00000000000000000000000000000003
offer recorded of-00000000000000000000000000000004
offer sent $AYSE_WELCOME_EMAIL
offer sent $AYSE_WELCOME_SMS
offer sent $JANE_WELCOME_EMAIL
offer sent $JANE_GIFT_EMAIL
offer sent $ANON_WELCOME_EMAIL
offer sent $ANON_WELCOME_SMS
offer sent of-00000000000000000000000000000001
template fallback of-00000000000000000000000000000001 tr
EXPECT

# ---- run 2: 06:30Z, 09:30 in Istanbul, after loyaltyd published its offers a third time ----

crash_after_publish
stop_worker
topic_dump_json "$LOYALTY_TOPICS_OFFERS" >"$CASE_DIR/offers3.jsonl" || fail "kcat $LOYALTY_TOPICS_OFFERS"
copies "$CASE_DIR/offers3.jsonl" 3
run_mailer 2 $NOW2
expect_file "$CASE_DIR/run2.out" <<'EOF2'
{"recorded":0,"duplicates":8,"skipped":0,"sent":2,"expired":0,"failed":2,"held":0}
EOF2
tail -n +8 "$CASE_DIR/gateway.jsonl" | LC_ALL=C sort >"$CASE_DIR/gateway.run2"
LC_ALL=C sort <<EXPECT | expect_file "$CASE_DIR/gateway.run2"
{"offer_id":"$AYSE_BIRTHDAY_EMAIL","customer_id":"ayse","channel":"email","to":"ayse.yilmaz@example.com","locale":"tr","template":"birthday","subject":"İyi ki doğdunuz Ayşe! Doğum günü hediyeniz sizi bekliyor","body":"Merhaba Ayşe,\n\nDoğum gününüzü kutlarız! Yeni yaşınızın size sağlık, mutluluk ve bolca güzel alışveriş getirmesini dileriz.\n\nDoğum gününüze özel 50,00 TL indirim sizi bekliyor:\n\n$AYSE_BIRTHDAY_CODE\n\n200,00 TL ve üzeri siparişlerde geçerlidir. Son kullanma tarihi: 8 Aralık 2026.\n\nAyrıca hesabınıza hediye olarak 1.000 puan ekledik; kullanabileceğiniz puan artık 1.600.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"$NOW2"}
{"offer_id":"$AYSE_BIRTHDAY_SMS","customer_id":"ayse","channel":"sms","to":"+905321112233","locale":"tr","template":"birthday","body":"İyi ki doğdunuz Ayşe! Anadolu Market'ten size 50,00 TL indirim: $AYSE_BIRTHDAY_CODE (200,00 TL ve üzeri, son gün 8 Aralık 2026)","sent_at":"$NOW2"}
EXPECT
[ "$(wc -l <"$CASE_DIR/gateway.jsonl")" = 9 ] || fail "the gateway has $(wc -l <"$CASE_DIR/gateway.jsonl") lines, want 9"
log_events 2
LC_ALL=C sort <<EXPECT | expect_file "$CASE_DIR/run2.events"
duplicate offer dropped $AYSE_WELCOME_EMAIL
duplicate offer dropped $AYSE_WELCOME_SMS
duplicate offer dropped $AYSE_BIRTHDAY_EMAIL
duplicate offer dropped $AYSE_BIRTHDAY_SMS
duplicate offer dropped $JANE_WELCOME_EMAIL
duplicate offer dropped $JANE_GIFT_EMAIL
duplicate offer dropped $ANON_WELCOME_EMAIL
duplicate offer dropped $ANON_WELCOME_SMS
offer failed of-00000000000000000000000000000003 no template "summer-sale" in en, tr
offer failed of-00000000000000000000000000000004 the directory has no phone for the customer
offer sent $AYSE_BIRTHDAY_EMAIL
offer sent $AYSE_BIRTHDAY_SMS
retrying failed offers 2
EXPECT
state
LC_ALL=C sort <<EXPECT | expect_file "$CASE_DIR/state.txt"
$AYSE_WELCOME_EMAIL sent
$AYSE_WELCOME_SMS sent
$AYSE_BIRTHDAY_EMAIL sent
$AYSE_BIRTHDAY_SMS sent
$JANE_WELCOME_EMAIL sent
$JANE_GIFT_EMAIL sent
$ANON_WELCOME_EMAIL sent
$ANON_WELCOME_SMS sent
of-00000000000000000000000000000001 sent
of-00000000000000000000000000000002 expired
of-00000000000000000000000000000003 failed no template "summer-sale" in en, tr
of-00000000000000000000000000000004 failed the directory has no phone for the customer
EXPECT

# No address or number in any log line, in any form the directory has it.
"$PY" -c 'import json, sys
for c in json.load(open(sys.argv[1])).values():
    print("\n".join(c.values()))' "$CASE_DIR/contacts.json" >"$CASE_DIR/contacts.txt"
if grep -F -f "$CASE_DIR/contacts.txt" "$CASE_DIR/run1.log" "$CASE_DIR/run2.log" >&2; then
	fail "a contact detail is in the mailer's log"
fi

echo "mailer: ok"
