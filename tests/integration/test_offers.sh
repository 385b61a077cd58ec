#!/usr/bin/env bash
# Offers (SPEC sections 4, 5 and 7; docs/offers.md) through the real
# worker, broker and PostgreSQL, under tests/integration/offers/program.yaml
# (Europe/Istanbul = UTC+3, locale tr; at most 2 offers a channel a week,
# Monday to Sunday; SMS quiet 21:00-09:00). Every offer expected below is
# written by hand from that file; offers.py names what the topic holds by
# the input event, rule and channel whose id (docs/offers.md's formula,
# computed with hashlib) each message carries.
#
#   m-*  the consent matrix: e-mail and SMS each given, withdrawn or never
#        (m-GIVEN/WITHDRAWN/NEVER as g/w/n), and m-unreg, never registered;
#        a welcome when registering, a review's gift after the updates
#   l-*  locale: en at registration; none (the program's tr), then en by an
#        update; en, then tr; an update without a locale keeps it
#   q-*  quiet hours: orders at 20:59:59, 21:00:00, 08:59:59, 09:00:00,
#        23:59:59 and 00:30 Istanbul time: the SMS's send_after (or none),
#        the e-mail never delayed
#   k-*  caps: k-1's third order of a week suppressed, Sunday 23:59:59 still
#        that week, Monday 00:00:00 the next; k-2 gives SMS consent midweek:
#        the SMS offers refused for no consent do not count, e-mail's do
#   b-1  every field of an order's offers (one with a discount code and
#        the rule's own vars) and of a review's gift-card offer, the e-mail
#        of the review capped by the order's two
#   w-*  a withdrawal stops what is not yet published: the relay's lock of
#        w-1 and w-2 held while their orders are made and SMS consent is
#        withdrawn (w-2 gives it again and orders once more)
#   d-1  a registration with contact details, dead-lettered (locale "de")
#
# Then: the offers table row by row, the topic per customer in order,
# loyaltyctl history (text and --json), the contracts of the offers,
# activity and DLQ topics, and no e-mail address or phone number of the
# input on the offers or activity topics, in loyaltyd's log or in
# PostgreSQL. Every difference is reported; the test fails at the end.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/offers/common.sh"
offers_setup offers
start_worker
locks_open
BOTH='"consents":{"email":true,"sms":true}'

# ---- registrations: Monday 2 March, 12:00 in Istanbul (week 1) -------------
T0=2026-03-02T09:00:00Z
for c in m-gg m-gw m-wg m-ww q-1 q-2 q-3 q-4 q-5 q-6 k-1 w-1 w-2; do
	register $c $T0 "$BOTH"
done
register m-gn $T0 '"consents":{"email":true}'
register m-wn $T0 '"consents":{"email":true,"sms":false}'
register m-ng $T0 '"consents":{"email":false}'
register m-nw $T0 '"consents":{"sms":true}'
register m-nn $T0 '"first_name":"Nermin"'
register l-1 $T0 "\"first_name\":\"Lale\",\"locale\":\"en\",$BOTH"
register l-2 $T0 '"consents":{"email":true}'
register l-3 $T0 '"locale":"en","consents":{"sms":true}'
register b-1 $T0 "\"first_name\":\"Ayşe\",\"birth_date\":\"1990-05-17\",$BOTH"
register k-2 2026-03-16T07:00:00Z '"consents":{"email":true}' # Monday 10:00, week 3
contact d-1
ev customers reg-d-1 customer.registered $T0 d-1 "$CONTACT,\"locale\":\"de\",$BOTH"
flush
wait_published # the welcomes are out before any consent is withdrawn

# ---- updates: Tuesday 3 March ---------------------------------------------
T1=2026-03-03T09:00:00Z
contact m-gg
update upd-m-gg m-gg $T1 "$CONTACT,\"consents\":{\"email\":true}"
update upd-m-gw m-gw $T1 '"consents":{"sms":false}'
update upd-m-wg m-wg $T1 '"consents":{"email":false}'
update upd-m-ww m-ww $T1 '"consents":{"email":false,"sms":false}'
update upd-m-wn m-wn $T1 '"consents":{"email":false}'
update upd-m-ng m-ng $T1 '"consents":{"sms":true}'
update upd-m-nw m-nw $T1 '"consents":{"sms":false}'
contact m-nn
update upd-m-nn m-nn $T1 "$CONTACT"
update upd-l-1 l-1 $T1 '"first_name":"Lale Nur"'
update upd-l-2 l-2 $T1 '"locale":"en"'
update upd-l-3 l-3 $T1 '"locale":"tr"'
update upd-k-2 k-2 2026-03-17T07:00:00Z '"consents":{"sms":true}'
flush

# ---- orders and reviews ----------------------------------------------------
for c in m-gg m-gw m-gn m-wg m-ww m-wn m-ng m-nw m-nn m-unreg; do
	review rv-$c $c 2026-03-04T09:00:00Z 5 true
done
for c in l-1 l-2 l-3; do
	order o-$c $c 2026-03-05T09:00:00Z 20000
done
order o-q1 q-1 2026-03-10T17:59:59Z 20000 # Tuesday 20:59:59 in Istanbul
order o-q2 q-2 2026-03-10T18:00:00Z 20000 # Tuesday 21:00:00
order o-q3 q-3 2026-03-11T05:59:59Z 20000 # Wednesday 08:59:59
order o-q4 q-4 2026-03-11T06:00:00Z 20000 # Wednesday 09:00:00
order o-q5 q-5 2026-03-11T21:30:00Z 20000 # Thursday 00:30, Wednesday in UTC
order o-q6 q-6 2026-03-11T20:59:59Z 20000 # Wednesday 23:59:59
order o-k1a k-1 2026-03-17T10:00:00Z 10000 # week 3: Tuesday
order o-k1b k-1 2026-03-19T10:00:00Z 10000 # Thursday
order o-k1c k-1 2026-03-22T20:59:59Z 10000 # Sunday 23:59:59: the third that week
order o-k1d k-1 2026-03-22T21:00:00Z 10000 # Monday 00:00:00, still Sunday in UTC: week 4
order o-k1e k-1 2026-03-23T10:00:00Z 10000 # Monday
order o-k1f k-1 2026-03-24T10:00:00Z 10000 # Tuesday: the third of week 4
order o-k2a k-2 2026-03-18T07:00:00Z 10000
order o-k2b k-2 2026-03-19T07:00:00Z 10000
order o-k2c k-2 2026-03-20T07:00:00Z 10000
# Wednesday 11 March 00:00:00 in Istanbul: 3,000 TL outdoor and 2 x 250 TL
# home; silver after it
order o-b1 b-1 2026-03-10T21:00:00Z 350000 \
	'[{"sku":"tent","category":"outdoor","quantity":1,"unit_price":300000},{"sku":"mug","category":"home","quantity":2,"unit_price":25000}]'
flush
review rv-b1 b-1 2026-03-12T09:00:00Z 4 false # after the order (another topic)
flush
wait_published

# ---- a withdrawal stops the offers not yet published -----------------------
# Week 3. The relay cannot take w-1's or w-2's rows while the test holds
# their locks: their offers are committed, not published, when SMS consent
# is withdrawn.
hold w-1 w-2
order o-w1a w-1 2026-03-17T09:00:00Z 20000
order o-w1b w-1 2026-03-18T09:00:00Z 20000
order o-w2a w-2 2026-03-17T09:00:00Z 20000
flush
sleep 1.5 # more than the relay's idle poll
wait_published w-1 w-2
same "held: offers of w-1 and w-2 in the outbox, unpublished" \
	"$(sql "SELECT count(*) FROM outbox WHERE channel IS NOT NULL AND published_at IS NULL
	        AND customer_id IN ('w-1', 'w-2')")" 6
update upd-w-1 w-1 2026-03-18T10:00:00Z '"consents":{"sms":false}'
update upd-w-2a w-2 2026-03-17T10:00:00Z '"consents":{"sms":false}'
update upd-w-2b w-2 2026-03-17T11:00:00Z '"consents":{"sms":true}' # given again
flush
order o-w2b w-2 2026-03-18T09:00:00Z 20000 # after consent was given again
flush
sleep 1.5
same "held: the offers table before the relay had w-1 and w-2" \
	"$(offer_rows | only 'w-1|w-2' | grep -v ' reg-')" \
	"w-1 o-w1a order-thanks email sent - -
w-1 o-w1a order-thanks sms sent - -
w-1 o-w1b order-thanks email sent - -
w-1 o-w1b order-thanks sms sent - -
w-2 o-w2a order-thanks email sent - -
w-2 o-w2a order-thanks sms sent - -
w-2 o-w2b order-thanks email sent - -
w-2 o-w2b order-thanks sms sent - -"
same "held: w-1's and w-2's offers on the topic before the release" \
	"$(topic_offers | only 'w-1|w-2')" \
	"w-1 reg-w-1 welcome email tr -
w-1 reg-w-1 welcome sms tr -
w-2 reg-w-2 welcome email tr -
w-2 reg-w-2 welcome sms tr -"
release w-1 w-2
wait_published
same "withdrawn: SMS offers of w-1 and w-2 the outbox keeps (the dropped ones go)" \
	"$(sql "SELECT o.customer_id, f.event_id FROM outbox o JOIN offers f USING (customer_id)
	        WHERE f.offer_id = o.message_id AND o.channel = 'sms' AND o.customer_id IN ('w-1', 'w-2')
	        ORDER BY o.outbox_id" | tr '\t' ' ')" \
	"w-1 reg-w-1
w-2 reg-w-2
w-2 o-w2b"

# ---- the offers table: every channel of every offer --------------------------
same "offers table" "$(offer_rows)" "$(LC_ALL=C sort <<'EOF'
m-gg reg-m-gg welcome email sent - -
m-gg reg-m-gg welcome sms sent - -
m-gg rv-m-gg review-thanks email sent - -
m-gg rv-m-gg review-thanks sms sent - -
m-gw reg-m-gw welcome email sent - -
m-gw reg-m-gw welcome sms sent - -
m-gw rv-m-gw review-thanks email sent - -
m-gw rv-m-gw review-thanks sms suppressed no_consent -
m-gn reg-m-gn welcome email sent - -
m-gn reg-m-gn welcome sms suppressed no_consent -
m-gn rv-m-gn review-thanks email sent - -
m-gn rv-m-gn review-thanks sms suppressed no_consent -
m-wg reg-m-wg welcome email sent - -
m-wg reg-m-wg welcome sms sent - -
m-wg rv-m-wg review-thanks email suppressed no_consent -
m-wg rv-m-wg review-thanks sms sent - -
m-ww reg-m-ww welcome email sent - -
m-ww reg-m-ww welcome sms sent - -
m-ww rv-m-ww review-thanks email suppressed no_consent -
m-ww rv-m-ww review-thanks sms suppressed no_consent -
m-wn reg-m-wn welcome email sent - -
m-wn reg-m-wn welcome sms suppressed no_consent -
m-wn rv-m-wn review-thanks email suppressed no_consent -
m-wn rv-m-wn review-thanks sms suppressed no_consent -
m-ng reg-m-ng welcome email suppressed no_consent -
m-ng reg-m-ng welcome sms suppressed no_consent -
m-ng rv-m-ng review-thanks email suppressed no_consent -
m-ng rv-m-ng review-thanks sms sent - -
m-nw reg-m-nw welcome email suppressed no_consent -
m-nw reg-m-nw welcome sms sent - -
m-nw rv-m-nw review-thanks email suppressed no_consent -
m-nw rv-m-nw review-thanks sms suppressed no_consent -
m-nn reg-m-nn welcome email suppressed no_consent -
m-nn reg-m-nn welcome sms suppressed no_consent -
m-nn rv-m-nn review-thanks email suppressed no_consent -
m-nn rv-m-nn review-thanks sms suppressed no_consent -
m-unreg rv-m-unreg review-thanks email suppressed no_consent -
m-unreg rv-m-unreg review-thanks sms suppressed no_consent -
l-1 reg-l-1 welcome email sent - -
l-1 reg-l-1 welcome sms sent - -
l-1 o-l-1 order-thanks sms sent - -
l-1 o-l-1 order-thanks email sent - -
l-2 reg-l-2 welcome email sent - -
l-2 reg-l-2 welcome sms suppressed no_consent -
l-2 o-l-2 order-thanks sms suppressed no_consent -
l-2 o-l-2 order-thanks email sent - -
l-3 reg-l-3 welcome email suppressed no_consent -
l-3 reg-l-3 welcome sms sent - -
l-3 o-l-3 order-thanks sms sent - -
l-3 o-l-3 order-thanks email suppressed no_consent -
q-1 reg-q-1 welcome email sent - -
q-1 reg-q-1 welcome sms sent - -
q-1 o-q1 order-thanks sms sent - -
q-1 o-q1 order-thanks email sent - -
q-2 reg-q-2 welcome email sent - -
q-2 reg-q-2 welcome sms sent - -
q-2 o-q2 order-thanks sms sent - 2026-03-11T06:00:00Z
q-2 o-q2 order-thanks email sent - -
q-3 reg-q-3 welcome email sent - -
q-3 reg-q-3 welcome sms sent - -
q-3 o-q3 order-thanks sms sent - 2026-03-11T06:00:00Z
q-3 o-q3 order-thanks email sent - -
q-4 reg-q-4 welcome email sent - -
q-4 reg-q-4 welcome sms sent - -
q-4 o-q4 order-thanks sms sent - -
q-4 o-q4 order-thanks email sent - -
q-5 reg-q-5 welcome email sent - -
q-5 reg-q-5 welcome sms sent - -
q-5 o-q5 order-thanks sms sent - 2026-03-12T06:00:00Z
q-5 o-q5 order-thanks email sent - -
q-6 reg-q-6 welcome email sent - -
q-6 reg-q-6 welcome sms sent - -
q-6 o-q6 order-thanks sms sent - 2026-03-12T06:00:00Z
q-6 o-q6 order-thanks email sent - -
k-1 reg-k-1 welcome email sent - -
k-1 reg-k-1 welcome sms sent - -
k-1 o-k1a order-thanks sms sent - -
k-1 o-k1a order-thanks email sent - -
k-1 o-k1b order-thanks sms sent - -
k-1 o-k1b order-thanks email sent - -
k-1 o-k1c order-thanks sms suppressed max_per_customer -
k-1 o-k1c order-thanks email suppressed max_per_customer -
k-1 o-k1d order-thanks sms sent - 2026-03-23T06:00:00Z
k-1 o-k1d order-thanks email sent - -
k-1 o-k1e order-thanks sms sent - -
k-1 o-k1e order-thanks email sent - -
k-1 o-k1f order-thanks sms suppressed max_per_customer -
k-1 o-k1f order-thanks email suppressed max_per_customer -
k-2 reg-k-2 welcome email sent - -
k-2 reg-k-2 welcome sms suppressed no_consent -
k-2 o-k2a order-thanks sms sent - -
k-2 o-k2a order-thanks email sent - -
k-2 o-k2b order-thanks sms sent - -
k-2 o-k2b order-thanks email suppressed max_per_customer -
k-2 o-k2c order-thanks sms suppressed max_per_customer -
k-2 o-k2c order-thanks email suppressed max_per_customer -
b-1 reg-b-1 welcome email sent - -
b-1 reg-b-1 welcome sms sent - -
b-1 o-b1 order-thanks sms sent - 2026-03-11T06:00:00Z
b-1 o-b1 order-thanks email sent - -
b-1 o-b1 big-basket email sent - -
b-1 rv-b1 review-thanks email suppressed max_per_customer -
b-1 rv-b1 review-thanks sms sent - -
w-1 reg-w-1 welcome email sent - -
w-1 reg-w-1 welcome sms sent - -
w-1 o-w1a order-thanks sms suppressed consent_withdrawn -
w-1 o-w1a order-thanks email sent - -
w-1 o-w1b order-thanks sms suppressed consent_withdrawn -
w-1 o-w1b order-thanks email sent - -
w-2 reg-w-2 welcome email sent - -
w-2 reg-w-2 welcome sms sent - -
w-2 o-w2a order-thanks sms suppressed consent_withdrawn -
w-2 o-w2a order-thanks email sent - -
w-2 o-w2b order-thanks sms sent - -
w-2 o-w2b order-thanks email sent - -
EOF
)"
check_offer_ids 115

# ---- the topic: each customer's offers, in the order they were made ---------
# CUSTOMER EVENT RULE CHANNEL LOCALE SEND_AFTER; customers sorted.
same "offers topic" "$(topic_offers)" "$(cat <<'EOF'
b-1 reg-b-1 welcome email tr -
b-1 reg-b-1 welcome sms tr -
b-1 o-b1 order-thanks sms tr 2026-03-11T06:00:00Z
b-1 o-b1 order-thanks email tr -
b-1 o-b1 big-basket email tr -
b-1 rv-b1 review-thanks sms tr -
k-1 reg-k-1 welcome email tr -
k-1 reg-k-1 welcome sms tr -
k-1 o-k1a order-thanks sms tr -
k-1 o-k1a order-thanks email tr -
k-1 o-k1b order-thanks sms tr -
k-1 o-k1b order-thanks email tr -
k-1 o-k1d order-thanks sms tr 2026-03-23T06:00:00Z
k-1 o-k1d order-thanks email tr -
k-1 o-k1e order-thanks sms tr -
k-1 o-k1e order-thanks email tr -
k-2 reg-k-2 welcome email tr -
k-2 o-k2a order-thanks sms tr -
k-2 o-k2a order-thanks email tr -
k-2 o-k2b order-thanks sms tr -
l-1 reg-l-1 welcome email en -
l-1 reg-l-1 welcome sms en -
l-1 o-l-1 order-thanks sms en -
l-1 o-l-1 order-thanks email en -
l-2 reg-l-2 welcome email tr -
l-2 o-l-2 order-thanks email en -
l-3 reg-l-3 welcome sms en -
l-3 o-l-3 order-thanks sms tr -
m-gg reg-m-gg welcome email tr -
m-gg reg-m-gg welcome sms tr -
m-gg rv-m-gg review-thanks email tr -
m-gg rv-m-gg review-thanks sms tr -
m-gn reg-m-gn welcome email tr -
m-gn rv-m-gn review-thanks email tr -
m-gw reg-m-gw welcome email tr -
m-gw reg-m-gw welcome sms tr -
m-gw rv-m-gw review-thanks email tr -
m-ng rv-m-ng review-thanks sms tr -
m-nw reg-m-nw welcome sms tr -
m-wg reg-m-wg welcome email tr -
m-wg reg-m-wg welcome sms tr -
m-wg rv-m-wg review-thanks sms tr -
m-wn reg-m-wn welcome email tr -
m-ww reg-m-ww welcome email tr -
m-ww reg-m-ww welcome sms tr -
q-1 reg-q-1 welcome email tr -
q-1 reg-q-1 welcome sms tr -
q-1 o-q1 order-thanks sms tr -
q-1 o-q1 order-thanks email tr -
q-2 reg-q-2 welcome email tr -
q-2 reg-q-2 welcome sms tr -
q-2 o-q2 order-thanks sms tr 2026-03-11T06:00:00Z
q-2 o-q2 order-thanks email tr -
q-3 reg-q-3 welcome email tr -
q-3 reg-q-3 welcome sms tr -
q-3 o-q3 order-thanks sms tr 2026-03-11T06:00:00Z
q-3 o-q3 order-thanks email tr -
q-4 reg-q-4 welcome email tr -
q-4 reg-q-4 welcome sms tr -
q-4 o-q4 order-thanks sms tr -
q-4 o-q4 order-thanks email tr -
q-5 reg-q-5 welcome email tr -
q-5 reg-q-5 welcome sms tr -
q-5 o-q5 order-thanks sms tr 2026-03-12T06:00:00Z
q-5 o-q5 order-thanks email tr -
q-6 reg-q-6 welcome email tr -
q-6 reg-q-6 welcome sms tr -
q-6 o-q6 order-thanks sms tr 2026-03-12T06:00:00Z
q-6 o-q6 order-thanks email tr -
w-1 reg-w-1 welcome email tr -
w-1 reg-w-1 welcome sms tr -
w-1 o-w1a order-thanks email tr -
w-1 o-w1b order-thanks email tr -
w-2 reg-w-2 welcome email tr -
w-2 reg-w-2 welcome sms tr -
w-2 o-w2a order-thanks email tr -
w-2 o-w2b order-thanks sms tr -
w-2 o-w2b order-thanks email tr -
EOF
)"

# ---- four offers field by field ----------------------------------------------
# b-1: 100 welcome points; the order earns floor(350000/100) x 1 (bronze
# before it) = 3500 pending and makes b-1 silver; outdoor is its top
# category (the big basket's own vars add a "theme"). The
# discount's 30 days from Wednesday 00:00 end at Friday 10 April 00:00 in
# Istanbul, so 9 April is its last day. The review adds 50 points at once
# and a gift card for 14 days, until 26 March 12:00.
python3 - "$CASE_DIR/offers.jsonl" "$OFFERS_SOURCE" "$LOYALTY_CODES_SECRET" \
	"$LY_SOURCE_DIR/tests/integration" >"$CASE_DIR/content.out" <<'PY' || mismatch "offer content: $(cat "$CASE_DIR/content.out")"
import hashlib, json, sys
dump, source, secret, libdir = sys.argv[1:]
sys.path.insert(0, libdir)
from codes import derive_code

def oid(event, rule, channel):
    return "of-" + hashlib.sha256(f"{source}\0{event}\0{rule}/{channel}".encode()).hexdigest()[:32]

def offer(event, rule, channel, customer, time, data):
    i = oid(event, rule, channel)
    return i, {"specversion": "1.0", "id": i, "source": "loyaltyd", "type": "loyalty.offer",
               "time": time, "datacontenttype": "application/json", "subject": customer,
               "data": {"customer_id": customer, "offer_id": i, "channel": channel, **data}}

want = dict([
    offer("reg-l-1", "welcome", "email", "l-1", "2026-03-02T09:00:00Z", {
        "template": "welcome-mail", "locale": "en",
        "vars": {"first_name": "Lale", "points_available": 100, "points_pending": 0,
                 "points_earned": 100, "tier": "bronze", "perks": [], "top_category": "",
                 "currency": "TRY"}}),
    offer("o-b1", "order-thanks", "sms", "b-1", "2026-03-10T21:00:00Z", {
        "template": "thanks", "locale": "tr", "send_after": "2026-03-11T06:00:00Z",
        "vars": {"first_name": "Ayşe", "points_available": 100, "points_pending": 3500,
                 "points_earned": 3500, "tier": "silver", "perks": ["free_shipping"],
                 "top_category": "outdoor", "currency": "TRY"}}),
    offer("o-b1", "big-basket", "email", "b-1", "2026-03-10T21:00:00Z", {
        "template": "next-order-15", "locale": "tr", "expires_at": "2026-04-09T21:00:00Z",
        "code": derive_code(secret.encode(), source, "o-b1", "big-basket", 0),
        "vars": {"first_name": "Ayşe", "points_available": 100, "points_pending": 3500,
                 "tier": "silver", "perks": ["free_shipping"], "top_category": "outdoor",
                 "currency": "TRY", "code_kind": "discount", "code_percent": 15,
                 "code_min_order": 50000, "code_valid_until": "2026-04-09",
                 "basket": 350000, "items": 2, "first_order": True, "campaign": "bahar",
                 "ends": "2026-06-01", "ordered_at": "2026-03-10T21:00:00Z",
                 "theme": "kamp"}}),
    offer("rv-b1", "review-thanks", "sms", "b-1", "2026-03-12T09:00:00Z", {
        "template": "review-gift", "locale": "tr", "expires_at": "2026-03-26T09:00:00Z",
        "code": derive_code(secret.encode(), source, "rv-b1", "review-thanks", 0),
        "vars": {"first_name": "Ayşe", "points_available": 150, "points_pending": 3500,
                 "points_earned": 50, "tier": "silver", "perks": ["free_shipping"],
                 "top_category": "outdoor", "currency": "TRY", "code_kind": "gift_card",
                 "code_amount": 5000, "code_valid_until": "2026-03-26",
                 "rating": 4, "photo": False}}),
])

def canon(v):  # types matter: 1 is not true, 100 is not 100.0
    return json.dumps(v, sort_keys=True, ensure_ascii=False)

got = {}
for line in open(dump, encoding="utf-8"):
    p = json.loads(json.loads(line)["payload"])
    if p["id"] in want:
        got.setdefault(p["id"], []).append(p)
bad = 0
for i, w in want.items():
    g = got.get(i, [])
    if len(g) != 1:
        print(f"{w['data']['template']} {w['subject']} {w['data']['channel']}: {len(g)} messages"); bad += 1
        continue
    g = g[0]
    for part, wv, gv in [("envelope", {k: v for k, v in w.items() if k != "data"},
                          {k: v for k, v in g.items() if k != "data"}),
                         ("data", {k: v for k, v in w["data"].items() if k != "vars"},
                          {k: v for k, v in g["data"].items() if k != "vars"}),
                         ("vars", w["data"]["vars"], g["data"].get("vars"))]:
        if canon(wv) != canon(gv):
            print(f"{i} ({w['subject']} {w['data']['template']} {w['data']['channel']}) {part}:\n"
                  f"  want {canon(wv)}\n  got  {canon(gv)}"); bad += 1
sys.exit(1 if bad else 0)
PY

# ---- loyaltyctl history: text and --json ---------------------------------------
# check_history CUSTOMER < TIME EVENT RULE TEMPLATE CHANNEL STATUS REASON SEND_AFTER
check_history() {
	local c=$1 want t e r tp ch st re sa
	want=$(cat)
	"$LOYALTYCTL" history "$c" >"$CASE_DIR/history.txt" 2>&1 || mismatch "loyaltyctl history $c: $(cat "$CASE_DIR/history.txt")"
	"$LOYALTYCTL" history "$c" --json >"$CASE_DIR/history.json" 2>&1 || mismatch "loyaltyctl history $c --json: $(cat "$CASE_DIR/history.json")"
	# the text: the table after the header "time rule template channel ..."
	same "loyaltyctl history $c (text)" \
		"$(awk '$1 == "time" && $2 == "rule" && $3 == "template" { on = 1; next } on && NF { $1 = $1; print }' \
			"$CASE_DIR/history.txt" | LC_ALL=C sort)" \
		"$(while read -r t e r tp ch st re sa; do
			echo "$t $r $tp $ch $st $re $sa $(oid "$e" "$r" "$ch")"
		done <<<"$want" | LC_ALL=C sort)"
	same "loyaltyctl history $c --json: offers" \
		"$(python3 -c 'import json, sys
keys = ["time", "rule_id", "template", "channel", "status", "reason", "send_after", "offer_id", "event_id"]
for o in json.load(open(sys.argv[1]))["offers"]:
    print(json.dumps([o.get(k, "(absent)") for k in keys]) if sorted(o) == sorted(keys) else "keys %s" % list(o))' \
			"$CASE_DIR/history.json" 2>&1 | LC_ALL=C sort)" \
		"$(while read -r t e r tp ch st re sa; do
			python3 -c 'import json, sys
v = [None if x == "-" else x for x in sys.argv[1:]]
print(json.dumps(v))' "$t" "$r" "$tp" "$ch" "$st" "$re" "$sa" "$(oid "$e" "$r" "$ch")" "$e"
		done <<<"$want" | LC_ALL=C sort)"
}
check_history k-1 <<'EOF'
2026-03-02T09:00:00Z reg-k-1 welcome welcome-mail email sent - -
2026-03-02T09:00:00Z reg-k-1 welcome welcome-mail sms sent - -
2026-03-17T10:00:00Z o-k1a order-thanks thanks sms sent - -
2026-03-17T10:00:00Z o-k1a order-thanks thanks email sent - -
2026-03-19T10:00:00Z o-k1b order-thanks thanks sms sent - -
2026-03-19T10:00:00Z o-k1b order-thanks thanks email sent - -
2026-03-22T20:59:59Z o-k1c order-thanks thanks sms suppressed max_per_customer -
2026-03-22T20:59:59Z o-k1c order-thanks thanks email suppressed max_per_customer -
2026-03-22T21:00:00Z o-k1d order-thanks thanks sms sent - 2026-03-23T06:00:00Z
2026-03-22T21:00:00Z o-k1d order-thanks thanks email sent - -
2026-03-23T10:00:00Z o-k1e order-thanks thanks sms sent - -
2026-03-23T10:00:00Z o-k1e order-thanks thanks email sent - -
2026-03-24T10:00:00Z o-k1f order-thanks thanks sms suppressed max_per_customer -
2026-03-24T10:00:00Z o-k1f order-thanks thanks email suppressed max_per_customer -
EOF
check_history w-2 <<'EOF'
2026-03-02T09:00:00Z reg-w-2 welcome welcome-mail email sent - -
2026-03-02T09:00:00Z reg-w-2 welcome welcome-mail sms sent - -
2026-03-17T09:00:00Z o-w2a order-thanks thanks sms suppressed consent_withdrawn -
2026-03-17T09:00:00Z o-w2a order-thanks thanks email sent - -
2026-03-18T09:00:00Z o-w2b order-thanks thanks sms sent - -
2026-03-18T09:00:00Z o-w2b order-thanks thanks email sent - -
EOF
check_history m-ng <<'EOF'
2026-03-02T09:00:00Z reg-m-ng welcome welcome-mail email suppressed no_consent -
2026-03-02T09:00:00Z reg-m-ng welcome welcome-mail sms suppressed no_consent -
2026-03-04T09:00:00Z rv-m-ng review-thanks review-gift email suppressed no_consent -
2026-03-04T09:00:00Z rv-m-ng review-thanks review-gift sms sent - -
EOF

# ---- contracts of every outbound topic ------------------------------------------
topic_dump_json "$LOYALTY_TOPICS_ACTIVITY" >"$CASE_DIR/activity.jsonl" || fail "kcat activity"
topic_dump_json "$LOYALTY_TOPICS_DLQ" >"$CASE_DIR/dlq.jsonl" || fail "kcat dlq"
same "the DLQ: the registration with locale de" \
	"$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    h = dict(zip(m["headers"][0::2], m["headers"][1::2]))
    print(m["key"], json.loads(m["payload"])["id"], h.get("dlq.error.code"))' "$CASE_DIR/dlq.jsonl")" \
	"d-1 reg-d-1 invalid_value"
check_contracts "$CASE_DIR/offers.jsonl" "$CASE_DIR/activity.jsonl" "$CASE_DIR/dlq.jsonl"

# ---- contact details: nowhere but the input (and the DLQ, which keeps it) ------
# Not in PostgreSQL either: d-1's registration, dead-lettered, must not
# leave them there (its outbox row) once it is on the DLQ topic.
pg_dump "$LY_TEST_PG" -n "$LOYALTY_POSTGRES_SCHEMA" >"$CASE_DIR/pg.sql" || fail "pg_dump"
python3 "$OFFERS_DIR/offers.py" contacts "$EVENTS" >"$CASE_DIR/contacts"
[ "$(wc -l <"$CASE_DIR/contacts")" -ge 40 ] || fail "only $(wc -l <"$CASE_DIR/contacts") contact details in the input"
leaks=""
while IFS= read -r contact; do
	hex=$(printf '%s' "$contact" | od -An -tx1 | tr -d ' \n')
	for f in offers.jsonl activity.jsonl loyaltyd.log pg.sql; do
		if grep -qiF -e "$contact" -e "${contact#+}" -e "$hex" "$CASE_DIR/$f"; then
			leaks+="$contact in $f"$'\n'
		fi
	done
done <"$CASE_DIR/contacts"
same "contact details outside the input" "${leaks%$'\n'}" ""
check_verify
stop_worker
finish
log "offers: consents, quiet hours, caps, locales, withdrawals, content, history, contracts, no contacts"
