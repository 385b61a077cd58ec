#!/usr/bin/env bash
# The sample mailer (examples/mailer) on the loyalty.offer contract, against
# the real broker:
#
# - --check-templates renders every shipped template in tr and en, and
#   refuses a set with a missing template, a syntax error or a long SMS;
# - bad arguments exit 2 with the usage;
# - offers in the contract's exact shape (produce_offers: written by hand
#   for now, to be loyaltyd's own output once it publishes offers; they
#   pass the contract validator) and three messages that are no offers go
#   to the case's offers topic; a first run at 20:00Z sends what is due,
#   drops the duplicate, holds the SMS under quiet hours until 06:00Z,
#   drops the expired offer, falls back from en-GB past a missing en
#   template to tr, and keeps two offers failed (no template in any locale,
#   no phone number); a second run at 06:30Z sends the held SMS, drops a
#   copy re-delivered across the restart, reads nothing it committed
#   before, and fails the two again;
# - the gateway's lines are exactly the ones written below, bodies
#   included; SQLite holds each offer's outcome; every log line is JSON,
#   names the right ids, and no contact detail appears in any of them.
source "$(dirname "$0")/lib.sh"
setup_case mailer

MAILER=$LY_SOURCE_DIR/examples/mailer/mailer.py
NOW1=2026-11-24T20:00:00Z
NOW2=2026-11-25T06:30:00Z
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

cat >"$CASE_DIR/contacts.json" <<'EOF'
{"c-1": {"email": "ayse.yilmaz@example.com", "phone": "+905321112233"},
 "c-2": {"email": "jane.doe@example.org", "phone": "+447700900123"},
 "c-3": {"email": "emma.stone@example.net", "phone": "+905339998877"},
 "c-4": {"email": "mehmet.kaya@example.com", "phone": "+905551234567"},
 "c-5": {"email": "elif.demir@example.com", "phone": "+905467654321"},
 "c-6": {"email": "can.ozturk@example.com"}}
EOF
cp -r "$LY_SOURCE_DIR/examples/mailer/templates" "$CASE_DIR/templates"
rm "$CASE_DIR/templates/en/sorry-review.j2"

# ---- the offers ----

# produce_offers: loyalty.offer events as loyaltyd publishes them (key: the
# customer; structured mode): of-…01 is sent twice.
produce_offers() {
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_OFFERS" -K $'\t' -H "content-type=$CE_JSON" <<'EOF'
c-1	{"specversion":"1.0","id":"of-00000000000000000000000000000001","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T18:30:00Z","datacontenttype":"application/json","subject":"c-1","data":{"customer_id":"c-1","offer_id":"of-00000000000000000000000000000001","channel":"email","template":"welcome","locale":"tr","vars":{"first_name":"Ayşe","points_available":500,"points_pending":1250,"points_earned":1750,"tier":"bronz","perks":[],"top_category":"home","currency":"TRY","locale":"tr","total":125000}}}
c-1	{"specversion":"1.0","id":"of-00000000000000000000000000000002","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T18:30:00Z","datacontenttype":"application/json","subject":"c-1","data":{"customer_id":"c-1","offer_id":"of-00000000000000000000000000000002","channel":"sms","template":"welcome","locale":"tr","send_after":"2026-11-25T06:00:00Z","vars":{"first_name":"Ayşe","points_available":500,"points_pending":1250,"points_earned":1750,"tier":"bronz","perks":[],"top_category":"home","currency":"TRY","locale":"tr","total":125000}}}
c-1	{"specversion":"1.0","id":"of-00000000000000000000000000000001","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T18:30:00Z","datacontenttype":"application/json","subject":"c-1","data":{"customer_id":"c-1","offer_id":"of-00000000000000000000000000000001","channel":"email","template":"welcome","locale":"tr","vars":{"first_name":"Ayşe","points_available":500,"points_pending":1250,"points_earned":1750,"tier":"bronz","perks":[],"top_category":"home","currency":"TRY","locale":"tr","total":125000}}}
c-2	{"specversion":"1.0","id":"of-00000000000000000000000000000003","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T07:00:00Z","datacontenttype":"application/json","subject":"c-2","data":{"customer_id":"c-2","offer_id":"of-00000000000000000000000000000003","channel":"email","template":"birthday","locale":"en","expires_at":"2026-12-08T21:00:00Z","code":"9XPQ4TB2K7RM","vars":{"points_available":2750,"points_pending":0,"points_earned":1000,"tier":"gumus","perks":["free_shipping"],"top_category":"kitchen","currency":"TRY","code_kind":"discount","code_amount":5000,"code_min_order":20000,"code_valid_until":"2026-12-08"}}}
c-2	{"specversion":"1.0","id":"of-00000000000000000000000000000004","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T07:00:00Z","datacontenttype":"application/json","subject":"c-2","data":{"customer_id":"c-2","offer_id":"of-00000000000000000000000000000004","channel":"sms","template":"birthday","locale":"en","expires_at":"2026-12-08T21:00:00Z","code":"9XPQ4TB2K7RM","vars":{"points_available":2750,"points_pending":0,"points_earned":1000,"tier":"gumus","perks":["free_shipping"],"top_category":"kitchen","currency":"TRY","code_kind":"discount","code_amount":5000,"code_min_order":20000,"code_valid_until":"2026-12-08"}}}
c-3	{"specversion":"1.0","id":"of-00000000000000000000000000000005","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T15:45:00Z","datacontenttype":"application/json","subject":"c-3","data":{"customer_id":"c-3","offer_id":"of-00000000000000000000000000000005","channel":"email","template":"sorry-review","locale":"en-GB","expires_at":"2026-12-24T21:00:00Z","code":"H4TC2K7RM9XQ","vars":{"first_name":"Emma","points_available":320,"points_pending":0,"tier":"bronz","perks":[],"top_category":"baby","currency":"TRY","code_kind":"discount","code_percent":10,"code_min_order":10000,"code_valid_until":"2026-12-24"}}}
c-4	{"specversion":"1.0","id":"of-00000000000000000000000000000006","source":"loyaltyd","type":"loyalty.offer","time":"2026-08-26T12:00:00Z","datacontenttype":"application/json","subject":"c-4","data":{"customer_id":"c-4","offer_id":"of-00000000000000000000000000000006","channel":"email","template":"gift-card","locale":"tr","expires_at":"2026-11-24T12:00:00Z","code":"2K7RM9XPQ4TB","vars":{"first_name":"Mehmet","points_available":4100,"points_pending":0,"tier":"gumus","perks":["free_shipping"],"top_category":"outdoor","currency":"TRY","code_kind":"gift_card","code_amount":10000,"code_valid_until":"2026-11-24"}}}
c-5	{"specversion":"1.0","id":"of-00000000000000000000000000000007","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T10:00:00Z","datacontenttype":"application/json","subject":"c-5","data":{"customer_id":"c-5","offer_id":"of-00000000000000000000000000000007","channel":"email","template":"summer-sale","locale":"en","vars":{"first_name":"Elif","points_available":90,"points_pending":0,"tier":"bronz","perks":[],"top_category":"outdoor","currency":"TRY"}}}
c-6	{"specversion":"1.0","id":"of-00000000000000000000000000000008","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T09:00:00Z","datacontenttype":"application/json","subject":"c-6","data":{"customer_id":"c-6","offer_id":"of-00000000000000000000000000000008","channel":"sms","template":"points-expiring","locale":"tr","vars":{"first_name":"Can","points_available":1200,"points_pending":0,"tier":"bronz","perks":[],"top_category":"home","currency":"TRY","points":750,"date":"2026-12-24"}}}
EOF
}

# produce_junk: what else can be on the topic: no JSON, another type, another
# CloudEvents version.
produce_junk() {
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_OFFERS" -K $'\t' -H "content-type=$CE_JSON" <<'EOF'
c-1	hello
c-1	{"specversion":"1.0","id":"pc-1","source":"loyaltyd","type":"loyalty.points.changed","time":"2026-11-24T18:30:00Z","datacontenttype":"application/json","subject":"c-1","data":{"customer_id":"c-1","delta":500}}
c-2	{"specversion":"0.3","id":"of-00000000000000000000000000000009","source":"loyaltyd","type":"loyalty.offer","time":"2026-11-24T18:30:00Z","subject":"c-2","data":{}}
EOF
}

produce_offers || fail "kcat: produce offers"
topic_dump_json "$LOYALTY_TOPICS_OFFERS" >"$CASE_DIR/offers.jsonl" || fail "kcat $LOYALTY_TOPICS_OFFERS"
check_contracts "$CASE_DIR/offers.jsonl"
produce_junk || fail "kcat: produce junk"

# run_mailer N NOW: one draining run of the mailer; its summary in runN.out,
# its log in runN.log.
run_mailer() {
	# shellcheck disable=SC2086
	"$PY" "$MAILER" $run_args --topic "$LOYALTY_TOPICS_OFFERS" --group "$LOYALTY_KAFKA_GROUP_ID" \
		--templates "$CASE_DIR/templates" --now "$2" --until-idle 3000 \
		>"$CASE_DIR/run$1.out" 2>"$CASE_DIR/run$1.log" || {
		cat "$CASE_DIR/run$1.log" >&2
		fail "mailer run $1 exited non-zero"
	}
}

# expect_file FILE: FILE holds exactly the text on stdin.
expect_file() {
	diff -u - "$1" >&2 || fail "$(basename "$1") is not as expected"
}

# log_events RUN: the run's log as sorted "msg [offer_id] [detail]" lines,
# leaving out librdkafka's and the mailer's start and stop; fails unless
# every line is a JSON object in loyaltyd's shape.
log_events() {
	"$PY" - "$CASE_DIR/run$1.log" >"$CASE_DIR/run$1.events" <<'PY' || fail "run $1 logged a line that is not JSON"
import json, sys
events = []
for line in open(sys.argv[1], encoding="utf-8"):
    rec = json.loads(line)  # every line is one JSON object
    assert isinstance(rec, dict) and {"ts", "level", "component", "msg"} <= rec.keys(), line
    if rec["component"] != "mailer" or rec["msg"] in ("partitions assigned", "stopped"):
        continue
    detail = rec.get("reason") or rec.get("used") or rec.get("send_after") or rec.get("expires_at") or rec.get("count")
    events.append(" ".join(str(x) for x in (rec["msg"], rec.get("offer_id"), detail) if x is not None))
print("\n".join(sorted(events)))
PY
}

# state: "offer_id status [error]" for each offer in the mailer's SQLite file.
state() {
	"$PY" -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(
        "SELECT offer_id, status, error FROM offers ORDER BY offer_id"):
    print(" ".join(x for x in row if x))' "$CASE_DIR/state.db" >"$CASE_DIR/state.txt"
}

# ---- run 1: 20:00Z ----

run_mailer 1 $NOW1
expect_file "$CASE_DIR/run1.out" <<'EOF'
{"recorded":8,"duplicates":1,"skipped":3,"sent":4,"expired":1,"failed":2,"held":1}
EOF
LC_ALL=C sort "$CASE_DIR/gateway.jsonl" >"$CASE_DIR/gateway.sorted"
expect_file "$CASE_DIR/gateway.sorted" <<'EOF'
{"offer_id":"of-00000000000000000000000000000001","customer_id":"c-1","channel":"email","to":"ayse.yilmaz@example.com","locale":"tr","template":"welcome","subject":"Anadolu Market'e hoş geldiniz!","body":"Merhaba Ayşe,\n\n1.250,00 TL tutarındaki ilk siparişinizi aldık, teşekkür ederiz. Aramıza hoş geldiniz!\n\nBu siparişle 1.750 puan kazandınız. Şu an kullanabileceğiniz puan: 500. İade süresi dolduğunda 1.250 puan daha hesabınıza geçecek.\n\nPuanlarınızı hesabınızdaki Ödüller sayfasında indirim çekine çevirebilirsiniz; her siparişinizle puanınız da büyür.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"2026-11-24T20:00:00Z"}
{"offer_id":"of-00000000000000000000000000000003","customer_id":"c-2","channel":"email","to":"jane.doe@example.org","locale":"en","template":"birthday","subject":"Happy birthday! A gift is waiting for you","body":"Hello,\n\nHappy birthday! We wish you health, happiness and plenty of good finds in the year ahead.\n\nTo celebrate, here is a TRY 50.00 discount:\n\n9XPQ4TB2K7RM\n\nValid on orders of TRY 200.00 or more. Use it by 8 December 2026. As a Silver member, your shipping is on us too.\n\nWe have also added 1,000 points to your account as a gift; you now have 2,750 points to use.\n\nWarm regards,\nThe Anadolu Market team","sent_at":"2026-11-24T20:00:00Z"}
{"offer_id":"of-00000000000000000000000000000004","customer_id":"c-2","channel":"sms","to":"+447700900123","locale":"en","template":"birthday","body":"Happy birthday! Anadolu Market has a TRY 50.00 discount for you: 9XPQ4TB2K7RM (orders of TRY 200.00+, until 8 December 2026)","sent_at":"2026-11-24T20:00:00Z"}
{"offer_id":"of-00000000000000000000000000000005","customer_id":"c-3","channel":"email","to":"emma.stone@example.net","locale":"tr","template":"sorry-review","subject":"Yorumunuz için teşekkürler, telafi etmek istiyoruz","body":"Merhaba Emma,\n\nYorumunuzu okuduk ve beklentinizi karşılayamadığımız için çok üzgünüz. Müşteri hizmetlerimiz sorunu birlikte çözmek için en kısa sürede sizinle iletişime geçecek.\n\nBu arada bir sonraki siparişiniz için size %10 indirim tanımladık:\n\nH4TC2K7RM9XQ\n\n100,00 TL ve üzeri siparişlerde geçerlidir. Son kullanma tarihi: 24 Aralık 2026.\n\nSevgiyle,\nAnadolu Market ekibi","sent_at":"2026-11-24T20:00:00Z"}
EOF
log_events 1
expect_file "$CASE_DIR/run1.events" <<'EOF'
duplicate offer dropped of-00000000000000000000000000000001
message skipped specversion "0.3" is not "1.0"
message skipped type "loyalty.points.changed" is not "loyalty.offer"
message skipped value is not JSON
offer expired of-00000000000000000000000000000006 2026-11-24T12:00:00Z
offer failed of-00000000000000000000000000000007 no template "summer-sale" in en, tr
offer failed of-00000000000000000000000000000008 the directory has no phone for the customer
offer held of-00000000000000000000000000000002 2026-11-25T06:00:00Z
offer recorded of-00000000000000000000000000000001
offer recorded of-00000000000000000000000000000003
offer recorded of-00000000000000000000000000000004
offer recorded of-00000000000000000000000000000005
offer recorded of-00000000000000000000000000000006
offer recorded of-00000000000000000000000000000007
offer recorded of-00000000000000000000000000000008
offer sent of-00000000000000000000000000000001
offer sent of-00000000000000000000000000000003
offer sent of-00000000000000000000000000000004
offer sent of-00000000000000000000000000000005
template fallback of-00000000000000000000000000000005 tr
EOF

# ---- run 2: 06:30Z, after a copy of of-…03 is delivered again ----

"$PY" -c 'import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    m = json.loads(line)
    if json.loads(m["payload"])["id"] == sys.argv[2]:
        print(m["key"] + "\t" + m["payload"])
        break' "$CASE_DIR/offers.jsonl" of-00000000000000000000000000000003 |
	kcat -P -b "$LY_TEST_KAFKA" -t "$LOYALTY_TOPICS_OFFERS" -K $'\t' -H "content-type=$CE_JSON" ||
	fail "kcat: produce the copy"
run_mailer 2 $NOW2
expect_file "$CASE_DIR/run2.out" <<'EOF'
{"recorded":0,"duplicates":1,"skipped":0,"sent":1,"expired":0,"failed":2,"held":0}
EOF
tail -n 1 "$CASE_DIR/gateway.jsonl" >"$CASE_DIR/gateway.last"
expect_file "$CASE_DIR/gateway.last" <<'EOF'
{"offer_id":"of-00000000000000000000000000000002","customer_id":"c-1","channel":"sms","to":"+905321112233","locale":"tr","template":"welcome","body":"Anadolu Market'e hoş geldiniz Ayşe! İlk siparişiniz için teşekkürler. Kullanabileceğiniz puan: 500.","sent_at":"2026-11-25T06:30:00Z"}
EOF
[ "$(wc -l <"$CASE_DIR/gateway.jsonl")" = 5 ] || fail "the gateway has $(wc -l <"$CASE_DIR/gateway.jsonl") lines, want 5"
log_events 2
expect_file "$CASE_DIR/run2.events" <<'EOF'
duplicate offer dropped of-00000000000000000000000000000003
offer failed of-00000000000000000000000000000007 no template "summer-sale" in en, tr
offer failed of-00000000000000000000000000000008 the directory has no phone for the customer
offer sent of-00000000000000000000000000000002
retrying failed offers 2
EOF
state
expect_file "$CASE_DIR/state.txt" <<'EOF'
of-00000000000000000000000000000001 sent
of-00000000000000000000000000000002 sent
of-00000000000000000000000000000003 sent
of-00000000000000000000000000000004 sent
of-00000000000000000000000000000005 sent
of-00000000000000000000000000000006 expired
of-00000000000000000000000000000007 failed no template "summer-sale" in en, tr
of-00000000000000000000000000000008 failed the directory has no phone for the customer
EOF

# No address or number in any log line, in any form the directory has it.
"$PY" -c 'import json, sys
for c in json.load(open(sys.argv[1])).values():
    print("\n".join(c.values()))' "$CASE_DIR/contacts.json" >"$CASE_DIR/contacts.txt"
if grep -F -f "$CASE_DIR/contacts.txt" "$CASE_DIR/run1.log" "$CASE_DIR/run2.log" >&2; then
	fail "a contact detail is in the mailer's log"
fi

echo "mailer: ok"
