/*
 * event_test.c: unit tests for lib/event (CloudEvents input decoding).
 *
 * JSON in these tests is written with single quotes for readability; J()
 * turns them into double quotes (no test value needs a real apostrophe).
 * The fixtures under tests/unit/data/events/ are shared with the JSON
 * Schemas in schemas/events/: good/<type>[--note].json must decode,
 * bad/<reject_code>--<note>.json must be rejected with that code.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* opendir */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/event.h"

#ifndef LY_SOURCE_DIR
#define LY_SOURCE_DIR "."
#endif

#define FIXTURES LY_SOURCE_DIR "/tests/unit/data/events"
/* 2026-11-22T10:00:00Z */
#define T0_US INT64_C(1795341600000000)

typedef struct tctx {
	ly_arena_t *arena;
	ly_event_t ev;
	ly_reject_t why;
	char err[512];
	int rc;
} tctx_t;

static int setup(void **state)
{
	tctx_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->arena = ly_arena_new(64 * 1024);
	if (!t->arena) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	tctx_t *t = *state;
	ly_arena_destroy(t->arena);
	free(t);
	return 0;
}

/* Single-quoted JSON to real JSON, in the arena. */
static char *J(tctx_t *t, const char *sq)
{
	char *s = ly_arena_strdup(t->arena, sq);
	assert_non_null(s);
	for (char *p = s; *p; p++) {
		if (*p == '\'')
			*p = '"';
	}
	return s;
}

/* n copies of c, NUL-terminated, in the arena. */
static char *rep(tctx_t *t, char c, size_t n)
{
	char *s = ly_arena_alloc(t->arena, n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* n copies of item separated by commas, in the arena. */
static const char *join(tctx_t *t, const char *item, int n)
{
	ly_buf_t b = {0};
	char *s;

	for (int i = 0; i < n; i++)
		assert_int_equal(ly_buf_printf(&b, "%s%s", i ? "," : "", item), 0);
	s = ly_arena_strndup(t->arena, b.data, b.len);
	ly_buf_free(&b);
	assert_non_null(s);
	return s;
}

static int decode_n(tctx_t *t, const void *v, size_t n, const ly_header_t *h,
		    size_t hn)
{
	t->rc = ly_event_decode(&t->ev, &t->why, t->err, sizeof(t->err), v, n,
				h, hn, t->arena);
	return t->rc;
}

static int decode(tctx_t *t, const char *json)
{
	return decode_n(t, json, strlen(json), NULL, 0);
}

/* A structured event of `type` around single-quoted data. */
static const char *ev_json(tctx_t *t, const char *type, const char *data_sq)
{
	char *s = ly_arena_printf(
		t->arena,
		"{'specversion':'1.0','id':'evt-1','source':'/shops/acme','type':'%s','time':'2026-11-22T10:00:00Z','data':%s}",
		type, data_sq);
	assert_non_null(s);
	return J(t, s);
}

#define assert_ok(t)                                                    \
	do {                                                            \
		if ((t)->rc != 0)                                       \
			fail_msg("decode failed (%d): %s: %s", (t)->rc, \
				 ly_reject_code((t)->why), (t)->err);   \
	} while (0)

#define assert_rejected(t, code, substr)                                     \
	do {                                                                 \
		if ((t)->rc != LY_EINVAL || (t)->why != (code))              \
			fail_msg("want %s, got rc %d %s: %s",                \
				 ly_reject_code(code), (t)->rc,              \
				 ly_reject_code((t)->why), (t)->err);        \
		if (!strstr((t)->err, (substr)))                             \
			fail_msg("errstr \"%s\" lacks \"%s\"", (t)->err,     \
				 (substr));                                  \
	} while (0)

/* Decodes a structured event and expects a rejection. */
static void reject_ev(tctx_t *t, const char *type, const char *data_sq,
		      ly_reject_t code, const char *substr)
{
	decode(t, ev_json(t, type, data_sq));
	assert_rejected(t, code, substr);
}

static void reject_raw(tctx_t *t, const char *json_sq, ly_reject_t code,
		       const char *substr)
{
	decode(t, J(t, json_sq));
	assert_rejected(t, code, substr);
}

#define PAID_DATA                                                            \
	"{'customer_id':'c-1','order_id':'o-1','total':125000,'currency':'TRY'," \
	"'items':[{'sku':'A','category':'outdoor','quantity':1,'unit_price':100000}," \
	"{'sku':'B','category':'kitchen','quantity':2,'unit_price':12500}]}"

#define REVIEW_DATA                                                           \
	"{'customer_id':'c-1','review_id':'r-1','product_id':'p-1','rating':5," \
	"'verified_purchase':true,'has_photo':false,'text_length':240}"

/* ---- names and codes ---- */

static void test_type_names(void **state)
{
	static const char *const names[] = {
		"customer.registered", "customer.updated",   "order.paid",
		"order.refunded",      "order.cancelled",    "review.submitted",
		"social.interaction",  "survey.completed",   "points.redeem",
		"points.adjust"};
	ly_event_type_t type;

	(void)state;
	assert_int_equal(LY_ARRAY_LEN(names), LY_EV__COUNT);
	for (int i = 0; i < LY_EV__COUNT; i++) {
		assert_string_equal(ly_event_type_name((ly_event_type_t)i),
				    names[i]);
		assert_int_equal(ly_event_type_parse(names[i], &type), 0);
		assert_int_equal(type, i);
	}
	assert_null(ly_event_type_name(LY_EV__COUNT));
	assert_int_equal(ly_event_type_parse("order.shipped", &type),
			 LY_ENOTFOUND);
	assert_int_equal(ly_event_type_parse("Order.Paid", &type),
			 LY_ENOTFOUND);
	assert_int_equal(ly_event_type_parse(NULL, &type), LY_ENOTFOUND);
}

static void test_reject_codes(void **state)
{
	(void)state;
	assert_string_equal(ly_reject_code(LY_REJECT_NONE), "none");
	assert_string_equal(ly_reject_code(LY_REJECT_TOO_LARGE),
			    "message_too_large");
	assert_string_equal(ly_reject_code(LY_REJECT_NOT_UTF8), "invalid_utf8");
	assert_string_equal(ly_reject_code(LY_REJECT_BAD_JSON), "invalid_json");
	assert_string_equal(ly_reject_code(LY_REJECT_MISSING_FIELD),
			    "missing_field");
	assert_string_equal(ly_reject_code(LY_REJECT_WRONG_TYPE), "wrong_type");
	assert_string_equal(ly_reject_code(LY_REJECT_BAD_VALUE),
			    "invalid_value");
	assert_string_equal(ly_reject_code(LY_REJECT_STRING_TOO_LONG),
			    "string_too_long");
	assert_string_equal(ly_reject_code(LY_REJECT_ARRAY_TOO_LONG),
			    "array_too_long");
	assert_string_equal(ly_reject_code(LY_REJECT_UNKNOWN_TYPE),
			    "unknown_type");
	assert_string_equal(ly_reject_code(LY_REJECT_BAD_SPECVERSION),
			    "unsupported_specversion");
	assert_string_equal(ly_reject_code(LY_REJECT__COUNT), "unknown");
}

/* ---- decoding, structured mode ---- */

static void test_customer_registered(void **state)
{
	tctx_t *t = *state;
	const ly_customer_data_t *c = &t->ev.u.customer;

	decode(t, ev_json(t, "customer.registered",
			  "{'customer_id':'c-1001','first_name':'Ay\xc5\x9f" "e',"
			  "'locale':'tr','birth_date':'1990-05-17',"
			  "'email':'ayse@example.com','phone':'+905551112233',"
			  "'consents':{'email':true,'sms':false},'referred_by':'c-0007'}"));
	assert_ok(t);
	assert_string_equal(t->ev.id, "evt-1");
	assert_string_equal(t->ev.source, "/shops/acme");
	assert_int_equal(t->ev.type, LY_EV_CUSTOMER_REGISTERED);
	assert_int_equal(t->ev.time_us, T0_US);
	assert_string_equal(t->ev.customer_id, "c-1001");
	assert_string_equal(c->first_name, "Ay\xc5\x9f" "e");
	assert_string_equal(c->locale, "tr");
	assert_string_equal(c->birth_date, "1990-05-17");
	assert_string_equal(c->email, "ayse@example.com");
	assert_string_equal(c->phone, "+905551112233");
	assert_int_equal(c->consent_email, LY_TRUE);
	assert_int_equal(c->consent_sms, LY_FALSE);
	assert_string_equal(c->referred_by, "c-0007");
}

static void test_customer_updated_partial(void **state)
{
	tctx_t *t = *state;
	const ly_customer_data_t *c = &t->ev.u.customer;

	/* Absent and null optional fields are both "not carried". */
	decode(t, ev_json(t, "customer.updated",
			  "{'customer_id':'c-1001','locale':'en','phone':null,"
			  "'first_name':null,'consents':{'sms':true,'email':null}}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_CUSTOMER_UPDATED);
	assert_string_equal(t->ev.customer_id, "c-1001");
	assert_string_equal(c->locale, "en");
	assert_null(c->first_name);
	assert_null(c->birth_date);
	assert_null(c->email);
	assert_null(c->phone);
	assert_null(c->referred_by);
	assert_int_equal(c->consent_email, LY_UNSET);
	assert_int_equal(c->consent_sms, LY_TRUE);

	decode(t, ev_json(t, "customer.updated", "{'customer_id':'c-2'}"));
	assert_ok(t);
	assert_null(c->locale);
	assert_int_equal(c->consent_email, LY_UNSET);
	assert_int_equal(c->consent_sms, LY_UNSET);
}

static void test_order_paid(void **state)
{
	tctx_t *t = *state;
	const ly_order_paid_t *op = &t->ev.u.order_paid;

	decode(t, ev_json(t, "order.paid",
			  "{'customer_id':'c-1','order_id':'o-5001','total':125000,"
			  "'currency':'TRY','items':["
			  "{'sku':'TENT-2P','category':'outdoor','quantity':1,'unit_price':100000},"
			  "{'sku':'MUG','category':'kitchen','quantity':2,'unit_price':12500}],"
			  "'coupon_codes':['WELCOME10','LY-ABCDEFGHJK']}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_ORDER_PAID);
	assert_string_equal(t->ev.customer_id, "c-1");
	assert_string_equal(op->order_id, "o-5001");
	assert_int_equal(op->total, 125000);
	assert_string_equal(op->currency, "TRY");
	assert_int_equal(op->items_len, 2);
	assert_string_equal(op->items[0].sku, "TENT-2P");
	assert_string_equal(op->items[0].category, "outdoor");
	assert_int_equal(op->items[0].quantity, 1);
	assert_int_equal(op->items[0].unit_price, 100000);
	assert_string_equal(op->items[1].sku, "MUG");
	assert_string_equal(op->items[1].category, "kitchen");
	assert_int_equal(op->items[1].quantity, 2);
	assert_int_equal(op->items[1].unit_price, 12500);
	assert_int_equal(op->coupon_codes_len, 2);
	assert_string_equal(op->coupon_codes[0], "WELCOME10");
	assert_string_equal(op->coupon_codes[1], "LY-ABCDEFGHJK");
}

static void test_order_paid_optional(void **state)
{
	tctx_t *t = *state;
	const ly_order_paid_t *op = &t->ev.u.order_paid;

	/* Empty items are allowed (the key is required); coupons absent. */
	decode(t, ev_json(t, "order.paid",
			  "{'customer_id':'c-1','order_id':'o-1','total':0,"
			  "'currency':'EUR','items':[]}"));
	assert_ok(t);
	assert_int_equal(op->total, 0);
	assert_string_equal(op->currency, "EUR");
	assert_int_equal(op->items_len, 0);
	assert_null(op->coupon_codes);
	assert_int_equal(op->coupon_codes_len, 0);

	decode(t, ev_json(t, "order.paid",
			  "{'customer_id':'c-1','order_id':'o-1','total':0,"
			  "'currency':'TRY','items':[],'coupon_codes':null}"));
	assert_ok(t);
	assert_null(op->coupon_codes);

	/* Present but empty: not NULL, no codes. */
	decode(t, ev_json(t, "order.paid",
			  "{'customer_id':'c-1','order_id':'o-1','total':0,"
			  "'currency':'TRY','items':[],'coupon_codes':[]}"));
	assert_ok(t);
	assert_non_null(op->coupon_codes);
	assert_int_equal(op->coupon_codes_len, 0);

	/* 1.0 and 1e2 are integers in JSON. */
	decode(t, ev_json(t, "order.paid",
			  "{'customer_id':'c-1','order_id':'o-1','total':1e2,"
			  "'currency':'TRY','items':[{'sku':'A','category':'c',"
			  "'quantity':1.0,'unit_price':-0}]}"));
	assert_ok(t);
	assert_int_equal(op->total, 100);
	assert_int_equal(op->items[0].quantity, 1);
	assert_int_equal(op->items[0].unit_price, 0);
}

static void test_order_refunded(void **state)
{
	tctx_t *t = *state;
	const ly_order_refund_t *r = &t->ev.u.refund;

	decode(t, ev_json(t, "order.refunded",
			  "{'customer_id':'c-1','order_id':'o-1','amount':25000}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_ORDER_REFUNDED);
	assert_string_equal(r->order_id, "o-1");
	assert_int_equal(r->has_amount, 1);
	assert_int_equal(r->amount, 25000);

	decode(t, ev_json(t, "order.refunded",
			  "{'customer_id':'c-1','order_id':'o-2'}"));
	assert_ok(t);
	assert_string_equal(r->order_id, "o-2");
	assert_int_equal(r->has_amount, 0);

	decode(t, ev_json(t, "order.refunded",
			  "{'customer_id':'c-1','order_id':'o-3','amount':null}"));
	assert_ok(t);
	assert_int_equal(r->has_amount, 0);
}

static void test_order_cancelled(void **state)
{
	tctx_t *t = *state;

	/* An amount on a cancellation is an unknown field: ignored. */
	decode(t, ev_json(t, "order.cancelled",
			  "{'customer_id':'c-9','order_id':'o-7','amount':5}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_ORDER_CANCELLED);
	assert_string_equal(t->ev.customer_id, "c-9");
	assert_string_equal(t->ev.u.refund.order_id, "o-7");
	assert_int_equal(t->ev.u.refund.has_amount, 0);
}

static void test_review_submitted(void **state)
{
	tctx_t *t = *state;
	const ly_review_t *r = &t->ev.u.review;

	decode(t, ev_json(t, "review.submitted", REVIEW_DATA));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_REVIEW_SUBMITTED);
	assert_string_equal(r->review_id, "r-1");
	assert_string_equal(r->product_id, "p-1");
	assert_int_equal(r->rating, 5);
	assert_int_equal(r->verified_purchase, 1);
	assert_int_equal(r->has_photo, 0);
	assert_int_equal(r->text_length, 240);
}

static void test_social_interaction(void **state)
{
	tctx_t *t = *state;
	const ly_social_t *s = &t->ev.u.social;

	decode(t, ev_json(t, "social.interaction",
			  "{'customer_id':'c-1','interaction_id':'s-1','platform':'instagram',"
			  "'action':'mention','url':'https://instagram.com/p/abc'}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_SOCIAL_INTERACTION);
	assert_string_equal(s->interaction_id, "s-1");
	assert_string_equal(s->platform, "instagram");
	assert_string_equal(s->action, "mention");
	assert_string_equal(s->url, "https://instagram.com/p/abc");

	decode(t, ev_json(t, "social.interaction",
			  "{'customer_id':'c-1','interaction_id':'s-2','platform':'x',"
			  "'action':'ugc'}"));
	assert_ok(t);
	assert_string_equal(s->platform, "x");
	assert_string_equal(s->action, "ugc");
	assert_null(s->url);
}

static void test_survey_completed(void **state)
{
	tctx_t *t = *state;
	const ly_survey_t *s = &t->ev.u.survey;

	decode(t, ev_json(t, "survey.completed",
			  "{'customer_id':'c-1','survey_id':'sv-1','nps':0,'csat':5}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_SURVEY_COMPLETED);
	assert_string_equal(s->survey_id, "sv-1");
	assert_int_equal(s->nps, 0);
	assert_int_equal(s->csat, 5);

	decode(t, ev_json(t, "survey.completed",
			  "{'customer_id':'c-1','survey_id':'sv-2','nps':10}"));
	assert_ok(t);
	assert_int_equal(s->nps, 10);
	assert_int_equal(s->csat, -1);

	decode(t, ev_json(t, "survey.completed",
			  "{'customer_id':'c-1','survey_id':'sv-3','nps':null}"));
	assert_ok(t);
	assert_int_equal(s->nps, -1);
	assert_int_equal(s->csat, -1);
}

static void test_points_redeem(void **state)
{
	tctx_t *t = *state;

	decode(t, ev_json(t, "points.redeem",
			  "{'customer_id':'c-1','request_id':'rq-1','reward':'tl50'}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_POINTS_REDEEM);
	assert_string_equal(t->ev.u.redeem.request_id, "rq-1");
	assert_string_equal(t->ev.u.redeem.reward, "tl50");
}

static void test_points_adjust(void **state)
{
	tctx_t *t = *state;

	decode(t, ev_json(t, "points.adjust",
			  "{'customer_id':'c-1','request_id':'rq-2','points':-250,"
			  "'reason':'goodwill correction'}"));
	assert_ok(t);
	assert_int_equal(t->ev.type, LY_EV_POINTS_ADJUST);
	assert_string_equal(t->ev.u.adjust.request_id, "rq-2");
	assert_int_equal(t->ev.u.adjust.points, -250);
	assert_string_equal(t->ev.u.adjust.reason, "goodwill correction");
}

static void test_envelope_variants(void **state)
{
	tctx_t *t = *state;

	/* Offset and fraction; unknown attributes; datacontenttype. */
	decode(t, J(t, "{'data':{'customer_id':'c-1','request_id':'r','reward':'w'},"
		       "'time':'2026-11-22T13:00:00.5+03:00','type':'points.redeem',"
		       "'subject':'x','traceparent':'00-ab-cd-01','dataschema':null,"
		       "'datacontenttype':'application/json; charset=utf-8',"
		       "'source':'s','id':'i','specversion':'1.0','extra':[1,2,{'a':[]}]}"));
	assert_ok(t);
	assert_int_equal(t->ev.time_us, T0_US + 500000);
	assert_string_equal(t->ev.id, "i");
	assert_string_equal(t->ev.source, "s");

	/* Whitespace around the value is fine. */
	decode(t, ev_json(t, "points.redeem",
			  " \r\n\t{'customer_id':'c-1','request_id':'r','reward':'w'}\n "));
	assert_ok(t);
	decode(t, J(t, "\n{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		       "'time':'2026-11-22T10:00:00Z','datacontenttype':null,"
		       "'data':{'customer_id':'c','request_id':'r','reward':'w'}}\n"));
	assert_ok(t);
	assert_int_equal(t->ev.time_us, T0_US);
}

static void test_unicode_escapes(void **state)
{
	tctx_t *t = *state;

	/* A surrogate pair is one code point; \/ and \" decode. */
	decode(t, ev_json(t, "customer.updated",
			  "{'customer_id':'c-1','first_name':'\\ud83d\\ude00 \\u00e7\\/\\\"'}"));
	assert_ok(t);
	assert_string_equal(t->ev.u.customer.first_name,
			    "\xf0\x9f\x98\x80 \xc3\xa7/\"");
}

static void test_strings_owned_by_arena(void **state)
{
	tctx_t *t = *state;
	const char *src = ev_json(t, "order.paid", PAID_DATA);
	size_t n = strlen(src);
	char *buf = malloc(n);

	assert_non_null(buf);
	memcpy(buf, src, n); /* not NUL-terminated, as Kafka gives it */
	decode_n(t, buf, n, NULL, 0);
	memset(buf, 'x', n);
	free(buf);
	assert_ok(t);
	assert_string_equal(t->ev.id, "evt-1");
	assert_string_equal(t->ev.customer_id, "c-1");
	assert_string_equal(t->ev.u.order_paid.currency, "TRY");
	assert_string_equal(t->ev.u.order_paid.items[1].sku, "B");
}

/* ---- binary mode ---- */

static void test_binary_order_paid(void **state)
{
	tctx_t *t = *state;
	/* Header values are byte strings: only value_len bytes count. */
	const ly_header_t h[] = {
		{"traceparent", "00-ab-cd-01", 11},
		{"ce_specversion", "1.0XX", 3},
		{"ce_id", "evt-bin-1|junk", 9},
		{"ce_source", "/shops/acme", 11},
		{"ce_type", "order.paid", 10},
		{"ce_time", "2026-11-22T10:00:00Z", 20},
		{"Content-Type", "application/json; charset=utf-8", 31},
		{"ce_subject", NULL, 0},
	};
	const char *data = J(t, PAID_DATA);
	const ly_order_paid_t *op = &t->ev.u.order_paid;

	decode_n(t, data, strlen(data), h, LY_ARRAY_LEN(h));
	assert_ok(t);
	assert_string_equal(t->ev.id, "evt-bin-1");
	assert_string_equal(t->ev.source, "/shops/acme");
	assert_int_equal(t->ev.type, LY_EV_ORDER_PAID);
	assert_int_equal(t->ev.time_us, T0_US);
	assert_string_equal(t->ev.customer_id, "c-1");
	assert_string_equal(op->order_id, "o-1");
	assert_int_equal(op->total, 125000);
	assert_string_equal(op->currency, "TRY");
	assert_int_equal(op->items_len, 2);
	assert_string_equal(op->items[1].sku, "B");
	assert_int_equal(op->items[1].quantity, 2);
	assert_int_equal(op->items[1].unit_price, 12500);
	assert_null(op->coupon_codes);
}

static void test_binary_customer_updated(void **state)
{
	tctx_t *t = *state;
	const ly_header_t h[] = {
		{"ce_specversion", "1.0", 3},
		{"ce_id", "evt-bin-2", 9},
		{"ce_source", "shop", 4},
		{"ce_type", "customer.updated", 16},
		{"ce_time", "2026-11-22T10:00:00.500Z", 24},
	};
	const char *data = J(t, "{'customer_id':'c-7','first_name':'Zeynep',"
			     "'consents':{'email':false}}");
	const ly_customer_data_t *c = &t->ev.u.customer;

	decode_n(t, data, strlen(data), h, LY_ARRAY_LEN(h));
	assert_ok(t);
	assert_string_equal(t->ev.id, "evt-bin-2");
	assert_string_equal(t->ev.source, "shop");
	assert_int_equal(t->ev.type, LY_EV_CUSTOMER_UPDATED);
	assert_int_equal(t->ev.time_us, T0_US + 500000);
	assert_string_equal(t->ev.customer_id, "c-7");
	assert_string_equal(c->first_name, "Zeynep");
	assert_null(c->locale);
	assert_int_equal(c->consent_email, LY_FALSE);
	assert_int_equal(c->consent_sms, LY_UNSET);
}

static void test_binary_rejects(void **state)
{
	tctx_t *t = *state;
	const char *data = J(t, "{'customer_id':'c-1','request_id':'r','reward':'w'}");
	size_t n = strlen(data);
	char *id129 = rep(t, 'i', 129);
	ly_header_t h[] = {
		{"ce_specversion", "1.0", 3},
		{"ce_id", "evt-1", 5},
		{"ce_source", "shop", 4},
		{"ce_type", "points.redeem", 13},
		{"ce_time", "2026-11-22T10:00:00Z", 20},
		{"content-type", "application/json", 16},
	};
	const size_t hn = LY_ARRAY_LEN(h);
	ly_header_t saved;

	decode_n(t, data, n, h, hn);
	assert_ok(t);

	saved = h[1];
	h[1].key = "x_id"; /* no ce_id */
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_MISSING_FIELD, "ce_id: missing");
	h[1].key = "ce_id";
	h[1].value = NULL; /* a null header counts as absent */
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_MISSING_FIELD, "ce_id: missing");
	h[1].value = "evt-\xff";
	h[1].value_len = 5;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_NOT_UTF8, "ce_id");
	h[1].value = "evt\0x";
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "ce_id: header contains a NUL");
	h[1].value = id129;
	h[1].value_len = 129;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_STRING_TOO_LONG,
			"ce_id: must be at most 128 bytes, got 129");
	h[1].value = "";
	h[1].value_len = 0;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "ce_id: must not be empty");
	h[1] = saved;

	h[4].key = "ce_id"; /* ce_id twice, no ce_time */
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "ce_id: header appears more than once");
	h[4].key = "ce_time";

	h[3].value = "order.shipped";
	h[3].value_len = 13;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_UNKNOWN_TYPE,
			"ce_type: unknown event type \"order.shipped\"");
	h[3].value = "points.redeem";

	h[0].value = "0.3";
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_SPECVERSION, "ce_specversion");
	h[0].value = "1.0";

	h[4].value = "yesterday";
	h[4].value_len = 9;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE,
			"ce_time: invalid RFC 3339 timestamp \"yesterday\"");
	h[4].value = "2026-11-22T10:00:00Z";
	h[4].value_len = 20;

	h[5].value = "text/plain";
	h[5].value_len = 10;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "content-type");
	h[5].value = "application/jsonx";
	h[5].value_len = 17;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "content-type");
	h[5].value = "application/cloudevents+json";
	h[5].value_len = 28;
	decode_n(t, data, n, h, hn);
	assert_rejected(t, LY_REJECT_BAD_VALUE, "content-type");
	h[5].value = "application/json";
	h[5].value_len = 16;

	/* The value is the data object itself. */
	decode_n(t, "[]", 2, h, hn);
	assert_rejected(t, LY_REJECT_BAD_JSON, "must be a JSON object");
	decode_n(t, "", 0, h, hn);
	assert_rejected(t, LY_REJECT_BAD_JSON, "empty");
	data = J(t, "{'request_id':'r','reward':'w'}");
	decode_n(t, data, strlen(data), h, hn);
	assert_rejected(t, LY_REJECT_MISSING_FIELD, "data.customer_id: missing");
	data = J(t, "{'customer_id':'c','request_id':'r','reward':'w','x':[[1,2,'");
	data = ly_arena_printf(t->arena, "%s%s\"]]}", data, rep(t, 'a', 4097));
	decode_n(t, data, strlen(data), h, hn);
	assert_rejected(t, LY_REJECT_STRING_TOO_LONG, "data.x[0][2]: string is 4097 bytes");
}

/* ---- rejections ---- */

static void test_reject_too_large(void **state)
{
	tctx_t *t = *state;
	size_t n = LY_EVENT_MESSAGE_MAX_BYTES + 1;
	/* Valid JSON padded with spaces: only the size is wrong. */
	const char *ev = ev_json(t, "order.paid", PAID_DATA);
	char *buf = rep(t, ' ', n);

	memcpy(buf, ev, strlen(ev));
	decode_n(t, buf, n, NULL, 0);
	assert_rejected(t, LY_REJECT_TOO_LARGE, "1048577 bytes");
	/* Size comes before UTF-8. */
	buf[n - 1] = '\xff';
	decode_n(t, buf, n, NULL, 0);
	assert_rejected(t, LY_REJECT_TOO_LARGE, "over the limit of 1048576");
}

static void test_accept_exactly_1mib(void **state)
{
	tctx_t *t = *state;
	size_t n = LY_EVENT_MESSAGE_MAX_BYTES;
	char *s4096 = rep(t, 's', 4096);
	char *buf = rep(t, ' ', n);
	size_t len = 0;
	int k;

	k = snprintf(buf, n,
		     "{\"specversion\":\"1.0\",\"id\":\"big\",\"source\":\"s\","
		     "\"type\":\"points.redeem\",\"time\":\"2026-11-22T10:00:00Z\","
		     "\"data\":{\"customer_id\":\"c\",\"request_id\":\"r\","
		     "\"reward\":\"w\"},\"pad\":[");
	len = (size_t)k;
	for (int i = 0; i < 250; i++) {
		k = snprintf(buf + len, n - len, "%s\"%s\"", i ? "," : "", s4096);
		len += (size_t)k;
	}
	memcpy(buf + len, "]}", 2); /* the rest stays spaces */
	len += 2;
	assert_true(len > 1000 * 1000 && len < n);
	decode_n(t, buf, n, NULL, 0);
	assert_ok(t);
	assert_string_equal(t->ev.id, "big");
}

static void test_reject_invalid_utf8(void **state)
{
	tctx_t *t = *state;

	/* Raw bytes. */
	reject_ev(t, "customer.updated", "{'customer_id':'c-\xff'}",
		  LY_REJECT_NOT_UTF8, "not valid UTF-8");
	reject_ev(t, "customer.updated", "{'customer_id':'c','first_name':'\xc0\xaf'}",
		  LY_REJECT_NOT_UTF8, "not valid UTF-8");
	reject_ev(t, "customer.updated", "{'customer_id':'c','first_name':'\xed\xa0\x80'}",
		  LY_REJECT_NOT_UTF8, "not valid UTF-8");
	reject_raw(t, "{'a':'\xe2\x82'}", LY_REJECT_NOT_UTF8, "UTF-8");
	/* Through escapes: cJSON decodes them, so they are checked here. */
	reject_ev(t, "customer.updated", "{'customer_id':'c','first_name':'A\\ud800'}",
		  LY_REJECT_NOT_UTF8, "\\ud800 is a lone UTF-16 surrogate");
	reject_ev(t, "customer.updated", "{'customer_id':'c','first_name':'\\udc00x'}",
		  LY_REJECT_NOT_UTF8, "\\udc00 is a lone UTF-16 surrogate");
	reject_ev(t, "customer.updated", "{'customer_id':'c','first_name':'\\uD800\\u0041'}",
		  LY_REJECT_NOT_UTF8, "lone UTF-16 surrogate");
	/* In a key of an unknown field, too. */
	reject_ev(t, "customer.updated", "{'customer_id':'c','\\ud800':1}",
		  LY_REJECT_NOT_UTF8, "surrogate");
}

static void test_reject_nul(void **state)
{
	tctx_t *t = *state;
	const char *ev = ev_json(t, "points.redeem",
				 "{'customer_id':'c','request_id':'r','reward':'w'}");
	size_t n = strlen(ev);
	char *buf = ly_arena_alloc(t->arena, n + 2);

	/* An escaped NUL would cut the C string short. */
	reject_ev(t, "customer.updated", "{'customer_id':'c\\u0000d'}",
		  LY_REJECT_BAD_VALUE, "\\u0000 is not allowed");
	/* A raw NUL byte after the value is not whitespace. */
	memcpy(buf, ev, n);
	buf[n] = '\0';
	buf[n + 1] = '}';
	decode_n(t, buf, n + 2, NULL, 0);
	assert_rejected(t, LY_REJECT_BAD_JSON, "unexpected byte 0x00");
	decode_n(t, buf, n + 1, NULL, 0);
	assert_rejected(t, LY_REJECT_BAD_JSON, "invalid JSON");
}

static void test_reject_invalid_json(void **state)
{
	tctx_t *t = *state;
	const char *good = ev_json(t, "order.paid", PAID_DATA);

	reject_raw(t, "not json", LY_REJECT_BAD_JSON, "invalid JSON at byte 0");
	decode_n(t, "", 0, NULL, 0);
	assert_rejected(t, LY_REJECT_BAD_JSON, "message value is empty");
	reject_raw(t, "   ", LY_REJECT_BAD_JSON, "invalid JSON");
	reject_raw(t, ly_arena_printf(t->arena, "%s x", good), LY_REJECT_BAD_JSON,
		   "unexpected character 'x'");
	reject_raw(t, ly_arena_printf(t->arena, "%s%s", good, good),
		   LY_REJECT_BAD_JSON, "data after the end of the value");
	reject_raw(t, ly_arena_printf(t->arena, "[%s]", good), LY_REJECT_BAD_JSON,
		   "message must be a JSON object, got array");
	reject_raw(t, "'order.paid'", LY_REJECT_BAD_JSON,
		   "must be a JSON object, got string");
	reject_raw(t, "{'a':1,}", LY_REJECT_BAD_JSON, "invalid JSON at byte 7");
	reject_raw(t, "{'a':1", LY_REJECT_BAD_JSON, "invalid JSON");
	reject_raw(t, "{'a':'abc}", LY_REJECT_BAD_JSON, "unterminated string");
	reject_raw(t, "{'a':'abc\\", LY_REJECT_BAD_JSON, "unterminated string");
	reject_raw(t, "{'a':'\\u00", LY_REJECT_BAD_JSON, "invalid escape");
	reject_raw(t, "{'a':'\\ud800", LY_REJECT_NOT_UTF8, "surrogate");
	reject_raw(t, "{'a':'\\x'}", LY_REJECT_BAD_JSON, "invalid escape");
	reject_raw(t, "{'a':'\\u12'}", LY_REJECT_BAD_JSON, "invalid escape");
	reject_raw(t, "{'a':'tab\there'}", LY_REJECT_BAD_JSON,
		   "unescaped control character 0x09");
	reject_raw(t, "{'a':01}", LY_REJECT_BAD_JSON, "malformed number");
	reject_raw(t, "{'a':1.}", LY_REJECT_BAD_JSON, "malformed number");
	reject_raw(t, "{'a':-}", LY_REJECT_BAD_JSON, "malformed number");
	reject_raw(t, "{'a':+1}", LY_REJECT_BAD_JSON, "unexpected character '+'");
	reject_raw(t, "{'a':1e}", LY_REJECT_BAD_JSON, "malformed number");
	reject_raw(t, "{'a':NaN}", LY_REJECT_BAD_JSON, "unexpected character 'N'");
	reject_raw(t, "{'a':truex}", LY_REJECT_BAD_JSON, "unexpected character 't'");
	reject_raw(t, "{'a':\x01 1}", LY_REJECT_BAD_JSON, "unexpected byte 0x01");
	reject_raw(t, "}", LY_REJECT_BAD_JSON, "unexpected '}'");
	/* Parsers disagree on which of two equal keys wins. */
	reject_ev(t, "order.paid",
		  "{'customer_id':'c-1','order_id':'o-1','total':1,'total':2,"
		  "'currency':'TRY','items':[]}",
		  LY_REJECT_BAD_JSON, "data.total: duplicate key");
}

static void test_nesting_limit(void **state)
{
	tctx_t *t = *state;
	/* The root object is level 1; 999 arrays reach level 1000. */
	char *open = rep(t, '[', 999), *close = rep(t, ']', 999);
	const char *data = "{'customer_id':'c','request_id':'r','reward':'w'}";

	decode(t, J(t, ly_arena_printf(
			       t->arena,
			       "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
			       "'time':'2026-11-22T10:00:00Z','data':%s,'deep':%s%s}",
			       data, open, close)));
	assert_ok(t);
	open = rep(t, '[', 1000);
	close = rep(t, ']', 1000);
	reject_raw(t, ly_arena_printf(t->arena,
				      "{'specversion':'1.0','deep':%s%s}", open,
				      close),
		   LY_REJECT_BAD_JSON, "nested deeper than 1000 levels");
}

static void test_reject_missing_field(void **state)
{
	tctx_t *t = *state;

	reject_ev(t, "order.paid",
		  "{'order_id':'o-1','total':1,'currency':'TRY','items':[]}",
		  LY_REJECT_MISSING_FIELD, "data.customer_id: missing");
	reject_ev(t, "order.paid",
		  "{'customer_id':null,'order_id':'o-1','total':1,'currency':'TRY','items':[]}",
		  LY_REJECT_MISSING_FIELD, "data.customer_id: missing (null)");
	reject_raw(t, "{'specversion':'1.0','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_MISSING_FIELD, "id: missing");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'data':{'customer_id':'c','request_id':'r','reward':'w'}}",
		   LY_REJECT_MISSING_FIELD, "time: missing");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z'}",
		   LY_REJECT_MISSING_FIELD, "data: missing");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':null}",
		   LY_REJECT_MISSING_FIELD, "data: missing (null)");
	reject_raw(t, "{'id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_MISSING_FIELD, "specversion: missing");
	reject_raw(t, "{'specversion':'1.0','id':'i','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_MISSING_FIELD, "source: missing");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_MISSING_FIELD, "type: missing");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY',"
		  "'items':[{'sku':'A','category':'c','quantity':1,'unit_price':1},"
		  "{'sku':'B','category':'c','unit_price':1}]}",
		  LY_REJECT_MISSING_FIELD, "data.items[1].quantity: missing");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY'}",
		  LY_REJECT_MISSING_FIELD, "data.items: missing");
	reject_ev(t, "order.refunded", "{'customer_id':'c'}",
		  LY_REJECT_MISSING_FIELD, "data.order_id: missing");
	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':5,"
		  "'verified_purchase':true,'text_length':0}",
		  LY_REJECT_MISSING_FIELD, "data.has_photo: missing");
	reject_ev(t, "social.interaction",
		  "{'customer_id':'c','interaction_id':'s','platform':'x'}",
		  LY_REJECT_MISSING_FIELD, "data.action: missing");
	reject_ev(t, "survey.completed", "{'customer_id':'c'}",
		  LY_REJECT_MISSING_FIELD, "data.survey_id: missing");
	reject_ev(t, "points.redeem", "{'customer_id':'c','request_id':'r'}",
		  LY_REJECT_MISSING_FIELD, "data.reward: missing");
	reject_ev(t, "points.adjust", "{'customer_id':'c','request_id':'r','points':5}",
		  LY_REJECT_MISSING_FIELD, "data.reason: missing");
}

static void test_reject_wrong_type(void **state)
{
	tctx_t *t = *state;

	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':'125000','currency':'TRY','items':[]}",
		  LY_REJECT_WRONG_TYPE, "data.total: must be an integer, got string");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY',"
		  "'items':[{'sku':'A','category':'c','quantity':1.5,'unit_price':1}]}",
		  LY_REJECT_WRONG_TYPE, "data.items[0].quantity: must be an integer, got 1.5");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY','items':['A']}",
		  LY_REJECT_WRONG_TYPE, "data.items[0]: must be an object, got string");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY','items':{}}",
		  LY_REJECT_WRONG_TYPE, "data.items: must be an array, got object");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY','items':[],"
		  "'coupon_codes':['A',1]}",
		  LY_REJECT_WRONG_TYPE, "data.coupon_codes[1]: must be a string, got number");
	reject_ev(t, "order.paid",
		  "{'customer_id':7,'order_id':'o','total':1,'currency':'TRY','items':[]}",
		  LY_REJECT_WRONG_TYPE, "data.customer_id: must be a string, got number");
	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':5,"
		  "'verified_purchase':'yes','has_photo':false,'text_length':0}",
		  LY_REJECT_WRONG_TYPE, "data.verified_purchase: must be a boolean, got string");
	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':true,"
		  "'verified_purchase':true,'has_photo':false,'text_length':0}",
		  LY_REJECT_WRONG_TYPE, "data.rating: must be an integer, got boolean");
	reject_ev(t, "customer.updated", "{'customer_id':'c','consents':[true]}",
		  LY_REJECT_WRONG_TYPE, "data.consents: must be an object, got array");
	reject_ev(t, "customer.updated", "{'customer_id':'c','consents':{'sms':1}}",
		  LY_REJECT_WRONG_TYPE, "data.consents.sms: must be a boolean, got number");
	reject_ev(t, "customer.updated", "{'customer_id':'c','email':{}}",
		  LY_REJECT_WRONG_TYPE, "data.email: must be a string, got object");
	reject_raw(t, "{'specversion':'1.0','id':1,'source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_WRONG_TYPE, "id: must be a string, got number");
	reject_raw(t, "{'specversion':1.0,'id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_WRONG_TYPE, "specversion: must be a string, got number");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':1795341600,'data':{}}",
		   LY_REJECT_WRONG_TYPE, "time: must be a string, got number");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':[]}",
		   LY_REJECT_WRONG_TYPE, "data: must be an object, got array");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','datacontenttype':5,'data':{}}",
		   LY_REJECT_WRONG_TYPE, "datacontenttype: must be a string");
}

static void test_reject_invalid_value(void **state)
{
	tctx_t *t = *state;
	const char *paid_fmt =
		"{'customer_id':'c','order_id':'o','total':%s,'currency':'%s','items':[%s]}";
	const char *item = "{'sku':'A','category':'c','quantity':1,'unit_price':1}";

	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':6,"
		  "'verified_purchase':true,'has_photo':false,'text_length':0}",
		  LY_REJECT_BAD_VALUE, "data.rating: must be an integer between 1 and 5, got 6");
	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':0,"
		  "'verified_purchase':true,'has_photo':false,'text_length':0}",
		  LY_REJECT_BAD_VALUE, "data.rating: must be an integer between 1 and 5, got 0");
	reject_ev(t, "review.submitted",
		  "{'customer_id':'c','review_id':'r','product_id':'p','rating':3,"
		  "'verified_purchase':true,'has_photo':false,'text_length':-1}",
		  LY_REJECT_BAD_VALUE, "data.text_length: must be an integer >= 0, got -1");
	reject_ev(t, "order.paid", ly_arena_printf(t->arena, paid_fmt, "-1", "TRY", ""),
		  LY_REJECT_BAD_VALUE, "data.total: must be an integer >= 0, got -1");
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena, paid_fmt, "9007199254740992", "TRY", ""),
		  LY_REJECT_BAD_VALUE, "data.total: must be an integer >= 0, got 9.00719925474099e+15");
	reject_ev(t, "order.paid", ly_arena_printf(t->arena, paid_fmt, "1e400", "TRY", ""),
		  LY_REJECT_BAD_VALUE, "data.total: must be an integer >= 0, got inf");
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena, paid_fmt, "1", "TRY",
				  "{'sku':'A','category':'c','quantity':1,'unit_price':1},"
				  "{'sku':'B','category':'c','quantity':1,'unit_price':1},"
				  "{'sku':'C','category':'c','quantity':0,'unit_price':1}"),
		  LY_REJECT_BAD_VALUE, "data.items[2].quantity: must be an integer >= 1, got 0");
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena, paid_fmt, "1", "TRY",
				  "{'sku':'A','category':'c','quantity':1,'unit_price':-5}"),
		  LY_REJECT_BAD_VALUE, "data.items[0].unit_price: must be an integer >= 0, got -5");
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena, paid_fmt, "1", "TRY",
				  "{'sku':'','category':'c','quantity':1,'unit_price':1}"),
		  LY_REJECT_BAD_VALUE, "data.items[0].sku: must not be empty");
	/* Line totals must stay exact: 2^52 * 4 is over 2^53. */
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena, paid_fmt, "1", "TRY",
				  "{'sku':'A','category':'c','quantity':4503599627370496,'unit_price':4}"),
		  LY_REJECT_BAD_VALUE, "data.items[0]: quantity * unit_price");
	reject_ev(t, "order.paid", ly_arena_printf(t->arena, paid_fmt, "1", "try", item),
		  LY_REJECT_BAD_VALUE, "data.currency: must be a 3-letter uppercase code such as \"TRY\", got \"try\"");
	reject_ev(t, "order.paid", ly_arena_printf(t->arena, paid_fmt, "1", "TRYX", item),
		  LY_REJECT_BAD_VALUE, "got \"TRYX\"");
	reject_ev(t, "order.paid",
		  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY','items':[],"
		  "'coupon_codes':['']}",
		  LY_REJECT_BAD_VALUE, "data.coupon_codes[0]: must not be empty");
	reject_ev(t, "order.refunded", "{'customer_id':'c','order_id':'o','amount':0}",
		  LY_REJECT_BAD_VALUE, "data.amount: must be an integer > 0, got 0");
	reject_ev(t, "social.interaction",
		  "{'customer_id':'c','interaction_id':'s','platform':'myspace','action':'like'}",
		  LY_REJECT_BAD_VALUE,
		  "data.platform: must be one of instagram, tiktok, x, facebook, youtube, other, got \"myspace\"");
	reject_ev(t, "social.interaction",
		  "{'customer_id':'c','interaction_id':'s','platform':'x','action':'Like'}",
		  LY_REJECT_BAD_VALUE, "data.action: must be one of follow, share, like, comment, mention, ugc, got \"Like\"");
	reject_ev(t, "survey.completed", "{'customer_id':'c','survey_id':'s','nps':11}",
		  LY_REJECT_BAD_VALUE, "data.nps: must be an integer between 0 and 10, got 11");
	reject_ev(t, "survey.completed", "{'customer_id':'c','survey_id':'s','nps':-1}",
		  LY_REJECT_BAD_VALUE, "data.nps: must be an integer between 0 and 10, got -1");
	reject_ev(t, "survey.completed", "{'customer_id':'c','survey_id':'s','csat':0}",
		  LY_REJECT_BAD_VALUE, "data.csat: must be an integer between 1 and 5, got 0");
	reject_ev(t, "points.adjust",
		  "{'customer_id':'c','request_id':'r','points':0,'reason':'x'}",
		  LY_REJECT_BAD_VALUE, "data.points: must be a non-zero integer, got 0");
	reject_ev(t, "points.adjust",
		  "{'customer_id':'c','request_id':'r','points':10,'reason':''}",
		  LY_REJECT_BAD_VALUE, "data.reason: must not be empty");
	reject_ev(t, "points.redeem", "{'customer_id':'c','request_id':'r','reward':''}",
		  LY_REJECT_BAD_VALUE, "data.reward: must not be empty");
	reject_ev(t, "customer.registered", "{'customer_id':'c','locale':'de'}",
		  LY_REJECT_BAD_VALUE, "data.locale: must be one of tr, en, got \"de\"");
	reject_ev(t, "customer.registered", "{'customer_id':'c','birth_date':'1990-02-30'}",
		  LY_REJECT_BAD_VALUE, "data.birth_date: must be a date YYYY-MM-DD, got \"1990-02-30\"");
	reject_ev(t, "customer.registered", "{'customer_id':'c','birth_date':'17.05.1990'}",
		  LY_REJECT_BAD_VALUE, "data.birth_date");
	reject_ev(t, "customer.registered", "{'customer_id':'c','referred_by':''}",
		  LY_REJECT_BAD_VALUE, "data.referred_by: must not be empty");
	reject_ev(t, "customer.registered", "{'customer_id':'c\\nd'}",
		  LY_REJECT_BAD_VALUE, "data.customer_id: must not contain control characters");
	reject_ev(t, "order.paid",
		  "{'customer_id':'','order_id':'o','total':1,'currency':'TRY','items':[]}",
		  LY_REJECT_BAD_VALUE, "data.customer_id: must not be empty");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'yesterday','data':{}}",
		   LY_REJECT_BAD_VALUE, "time: invalid RFC 3339 timestamp \"yesterday\"");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-31T10:00:00Z','data':{}}",
		   LY_REJECT_BAD_VALUE, "time: invalid RFC 3339 timestamp");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22 10:00:00Z','data':{}}",
		   LY_REJECT_BAD_VALUE, "time: invalid RFC 3339 timestamp \"2026-11-22 10:00:00Z\"");
	reject_raw(t, "{'specversion':'1.0','id':'','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_BAD_VALUE, "id: must not be empty");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_BAD_VALUE, "source: must not be empty");
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','datacontenttype':'text/xml','data':{}}",
		   LY_REJECT_BAD_VALUE,
		   "datacontenttype: unsupported content type \"text/xml\"");
}

static void test_contacts_never_in_messages(void **state)
{
	tctx_t *t = *state;
	char *email = ly_arena_printf(t->arena, "secret%s@example.com",
				      rep(t, 'q', 4096));

	reject_ev(t, "customer.updated",
		  ly_arena_printf(t->arena, "{'customer_id':'c','email':'%s'}", email),
		  LY_REJECT_STRING_TOO_LONG, "data.email: string is 4114 bytes");
	assert_null(strstr(t->err, "secret"));
	reject_ev(t, "customer.updated", "{'customer_id':'c','phone':''}",
		  LY_REJECT_BAD_VALUE, "data.phone: must not be empty");
	reject_ev(t, "customer.updated", "{'customer_id':'c','phone':5551112233}",
		  LY_REJECT_WRONG_TYPE, "data.phone: must be a string, got number");
	assert_null(strstr(t->err, "555"));
}

static void test_reject_string_too_long(void **state)
{
	tctx_t *t = *state;
	char *s4097 = rep(t, 'a', 4097);
	char *s129 = rep(t, 'i', 129);

	reject_ev(t, "customer.updated",
		  ly_arena_printf(t->arena, "{'customer_id':'c','first_name':'%s'}", s4097),
		  LY_REJECT_STRING_TOO_LONG,
		  "data.first_name: string is 4097 bytes, over the limit of 4096");
	/* Anywhere, unknown fields included. */
	reject_ev(t, "customer.updated",
		  ly_arena_printf(t->arena,
				  "{'customer_id':'c','extra':{'deep':[1,'%s']}}", s4097),
		  LY_REJECT_STRING_TOO_LONG, "data.extra.deep[1]: string is 4097 bytes");
	reject_ev(t, "customer.updated",
		  ly_arena_printf(t->arena, "{'customer_id':'c','%s':1}", s4097),
		  LY_REJECT_STRING_TOO_LONG, "key is 4097 bytes");
	/* Multi-byte characters count in bytes: 2049 x 2 bytes. */
	{
		size_t n = 2049 * 2;
		char *s = rep(t, 'x', n);
		for (size_t i = 0; i < n; i += 2)
			memcpy(s + i, "\xc3\xa7", 2);
		reject_ev(t, "customer.updated",
			  ly_arena_printf(t->arena, "{'customer_id':'c','first_name':'%s'}", s),
			  LY_REJECT_STRING_TOO_LONG, "data.first_name: string is 4098 bytes");
	}
	reject_raw(t, ly_arena_printf(t->arena,
				      "{'specversion':'1.0','id':'%s','source':'s',"
				      "'type':'points.redeem','time':'2026-11-22T10:00:00Z','data':{}}",
				      s129),
		   LY_REJECT_STRING_TOO_LONG, "id: must be at most 128 bytes, got 129");
	reject_ev(t, "points.redeem",
		  ly_arena_printf(t->arena, "{'customer_id':'%s','request_id':'r','reward':'w'}",
				  s129),
		  LY_REJECT_STRING_TOO_LONG,
		  "data.customer_id: must be at most 128 bytes, got 129");
	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena,
				  "{'customer_id':'c','order_id':'%s','total':1,'currency':'TRY','items':[]}",
				  s129),
		  LY_REJECT_STRING_TOO_LONG, "data.order_id: must be at most 128 bytes");
}

static void test_reject_array_too_long(void **state)
{
	tctx_t *t = *state;
	const char *item = "{'sku':'A','category':'c','quantity':1,'unit_price':1}";
	const char *items1001 = join(t, item, 1001);
	const char *nums1001 = join(t, "7", 1001);

	reject_ev(t, "order.paid",
		  ly_arena_printf(t->arena,
				  "{'customer_id':'c','order_id':'o','total':1,'currency':'TRY','items':[%s]}",
				  items1001),
		  LY_REJECT_ARRAY_TOO_LONG, "data.items: array has more than 1000 items");
	reject_ev(t, "points.redeem",
		  ly_arena_printf(t->arena,
				  "{'customer_id':'c','request_id':'r','reward':'w','tags':{'n':[%s]}}",
				  nums1001),
		  LY_REJECT_ARRAY_TOO_LONG, "data.tags.n: array has more than 1000 items");
}

static void test_reject_unknown_type(void **state)
{
	tctx_t *t = *state;

	reject_ev(t, "order.shipped", PAID_DATA, LY_REJECT_UNKNOWN_TYPE,
		  "type: unknown event type \"order.shipped\"");
	reject_ev(t, "Order.Paid", PAID_DATA, LY_REJECT_UNKNOWN_TYPE,
		  "\"Order.Paid\"");
	/* Our own outputs are not inputs. */
	reject_ev(t, "loyalty.points.changed", "{'customer_id':'c'}",
		  LY_REJECT_UNKNOWN_TYPE, "\"loyalty.points.changed\"");
	/* Quoted values are escaped and cut. */
	reject_ev(t, ly_arena_printf(t->arena, "a\\\"b\\n%s", rep(t, 'z', 200)),
		  "{'customer_id':'c'}", LY_REJECT_UNKNOWN_TYPE,
		  "type: unknown event type \"a\\\"b\\x0azzz");
	assert_non_null(strstr(t->err, "z...\""));
	assert_true(strlen(t->err) < 128);
}

static void test_reject_specversion(void **state)
{
	tctx_t *t = *state;

	reject_raw(t, "{'specversion':'0.3','id':'i','source':'s','type':'points.redeem',"
		      "'time':'2026-11-22T10:00:00Z','data':{}}",
		   LY_REJECT_BAD_SPECVERSION,
		   "specversion: unsupported version \"0.3\", expected \"1.0\"");
	/* Checked before anything else of the envelope. */
	reject_raw(t, "{'specversion':'1.0.0'}", LY_REJECT_BAD_SPECVERSION,
		   "\"1.0.0\"");
}

static void test_check_order(void **state)
{
	tctx_t *t = *state;

	/* UTF-8 of the raw bytes before JSON syntax. */
	reject_raw(t, "{\xff", LY_REJECT_NOT_UTF8, "UTF-8");
	/* Limits (the walk) before the envelope. */
	reject_raw(t, ly_arena_printf(t->arena, "{'specversion':'0.3','x':'%s'}",
				      rep(t, 'a', 4097)),
		   LY_REJECT_STRING_TOO_LONG, "x: string is 4097 bytes");
	/* Unknown type before the data. */
	reject_raw(t, "{'specversion':'1.0','id':'i','source':'s','type':'nope',"
		      "'time':'2026-11-22T10:00:00Z'}",
		   LY_REJECT_UNKNOWN_TYPE, "\"nope\"");
}

static void test_boundaries(void **state)
{
	tctx_t *t = *state;
	char *s4096 = rep(t, 'a', 4096);
	char *s128 = rep(t, 'i', 128);
	const char *items =
		join(t, "{'sku':'A','category':'c','quantity':1,'unit_price':1}", 1000);
	const ly_order_paid_t *op = &t->ev.u.order_paid;

	decode(t, ev_json(t, "customer.updated",
			  ly_arena_printf(t->arena, "{'customer_id':'c','first_name':'%s',"
					  "'%s':'%s'}", s4096, s4096, s4096)));
	assert_ok(t);
	assert_int_equal(strlen(t->ev.u.customer.first_name), 4096);

	decode(t, ev_json(t, "order.paid",
			  ly_arena_printf(t->arena,
					  "{'customer_id':'%s','order_id':'%s','total':9007199254740991,"
					  "'currency':'TRY','items':[%s]}",
					  s128, s128, items)));
	assert_ok(t);
	assert_int_equal(op->items_len, 1000);
	assert_string_equal(op->items[999].sku, "A");
	assert_int_equal(op->total, INT64_C(9007199254740991));
	assert_int_equal(strlen(t->ev.customer_id), 128);
	assert_int_equal(strlen(op->order_id), 128);

	decode(t, J(t, ly_arena_printf(
			       t->arena,
			       "{'specversion':'1.0','id':'%s','source':'s','type':'points.adjust',"
			       "'time':'2026-11-22T10:00:00Z','data':{'customer_id':'c',"
			       "'request_id':'r','points':-9007199254740991,'reason':'x'}}",
			       s128)));
	assert_ok(t);
	assert_string_equal(t->ev.id, s128);
	assert_int_equal(t->ev.u.adjust.points, -INT64_C(9007199254740991));
}

static void test_errstr_and_out(void **state)
{
	tctx_t *t = *state;
	const char *bad = J(t, "{'specversion':'0.3'}");
	const char *good = ev_json(t, "points.redeem",
				   "{'customer_id':'c','request_id':'r','reward':'w'}");
	ly_event_t ev;
	ly_reject_t why = LY_REJECT_NONE;
	char small[8];

	/* errstr is optional. */
	assert_int_equal(ly_event_decode(&ev, &why, NULL, 0, bad, strlen(bad), NULL,
					 0, t->arena),
			 LY_EINVAL);
	assert_int_equal(why, LY_REJECT_BAD_SPECVERSION);
	/* A short errstr is cut and stays terminated. */
	memset(small, 'x', sizeof(small));
	assert_int_equal(ly_event_decode(&ev, &why, small, sizeof(small), bad,
					 strlen(bad), NULL, 0, t->arena),
			 LY_EINVAL);
	assert_int_equal(strlen(small), sizeof(small) - 1);
	/* Success clears why and errstr; failure leaves *out zeroed. */
	assert_int_equal(ly_event_decode(&ev, &why, small, sizeof(small), good,
					 strlen(good), NULL, 0, t->arena),
			 0);
	assert_int_equal(why, LY_REJECT_NONE);
	assert_string_equal(small, "");
	assert_non_null(ev.id);
	assert_int_equal(ly_event_decode(&ev, &why, small, sizeof(small), bad,
					 strlen(bad), NULL, 0, t->arena),
			 LY_EINVAL);
	assert_null(ev.id);
	assert_null(ev.customer_id);
	assert_int_equal(ev.time_us, 0);
}

/* ---- fixtures shared with schemas/events ---- */

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
	    fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)n + 1);
		if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else if (buf) {
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

/* Decodes every file of FIXTURES/<sub>; returns how many were checked. */
static int run_fixtures(tctx_t *t, const char *sub, int good)
{
	char dir[1024], path[2048], prefix[128];
	DIR *dp;
	struct dirent *de;
	int count = 0;

	snprintf(dir, sizeof(dir), "%s/%s", FIXTURES, sub);
	dp = opendir(dir);
	if (!dp)
		fail_msg("cannot open %s", dir);
	while ((de = readdir(dp))) {
		size_t nlen = strlen(de->d_name), len = 0, plen;
		const char *dash;
		char *buf;

		if (nlen < 6 || strcmp(de->d_name + nlen - 5, ".json") != 0)
			continue;
		dash = strstr(de->d_name, "--");
		plen = dash ? (size_t)(dash - de->d_name) : nlen - 5;
		assert_true(plen < sizeof(prefix));
		memcpy(prefix, de->d_name, plen);
		prefix[plen] = '\0';
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		buf = read_all(path, &len);
		if (!buf)
			fail_msg("cannot read %s", path);
		decode_n(t, buf, len, NULL, 0);
		free(buf);
		if (good) {
			if (t->rc != 0)
				fail_msg("%s: %s: %s", de->d_name,
					 ly_reject_code(t->why), t->err);
			assert_string_equal(ly_event_type_name(t->ev.type), prefix);
		} else if (t->rc != LY_EINVAL ||
			   strcmp(ly_reject_code(t->why), prefix) != 0) {
			fail_msg("%s: got rc %d %s: %s", de->d_name, t->rc,
				 ly_reject_code(t->why), t->err);
		}
		ly_arena_reset(t->arena);
		count++;
	}
	closedir(dp);
	return count;
}

static void test_fixtures(void **state)
{
	tctx_t *t = *state;

	assert_true(run_fixtures(t, "good", 1) >= 10);
	assert_true(run_fixtures(t, "bad", 0) >= 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_reject_codes),
		cmocka_unit_test_setup_teardown(test_customer_registered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_updated_partial, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_paid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_paid_optional, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_refunded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_cancelled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_review_submitted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_social_interaction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_survey_completed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_points_redeem, setup, teardown),
		cmocka_unit_test_setup_teardown(test_points_adjust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unicode_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings_owned_by_arena, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_order_paid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_customer_updated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_exactly_1mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_invalid_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_invalid_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nesting_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_missing_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_wrong_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_invalid_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contacts_never_in_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_string_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_array_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_unknown_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reject_specversion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_boundaries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errstr_and_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fixtures, setup, teardown),
	};

	return cmocka_run_group_tests_name("event", tests, NULL, NULL);
}
