/*
 * expr_test.c: the expression language (lib/expr, SPEC section 5).
 *
 * A schema like the program loader's (order.*, order.items records,
 * order.coupon_codes strings, optional survey.nps, ...) over one test
 * struct, T, reset before each test. Every expected value is worked out by
 * hand; every compile error is checked with its exact file:line:col.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loyalty/expr.h"
#include "loyalty/util.h"

/* 2026-11-22T10:00:00Z (`date -u -d 2026-11-22T10:00:00Z +%s` = 1795341600). */
#define T0_US   INT64_C(1795341600000000)
#define DAY_US  (INT64_C(86400) * 1000000)
#define HOUR_US (INT64_C(3600) * 1000000)
/* 2026-06-01: ly_days_from_civil(2026, 6, 1). */
#define D_2026_06_01 20605

enum {
	F_TOTAL = 1,
	F_CURRENCY,
	F_ITEMS,
	F_CODES,
	F_NPS,
	F_VERIFIED,
	F_PHOTO,
	F_CONSENT,
	F_TIER,
	F_ORDER_COUNT,
	F_TIME,
	F_DATE,
	F_SPAN,
	F_BIG,
	F_SMALL,
	F_HUGE,
	F_EMPTY,
	F_I_SKU,
	F_I_CATEGORY,
	F_I_QUANTITY,
	F_I_PRICE,
	F_I_DISCOUNT,
	F_I_TAGS,
	F__COUNT
};

typedef struct t_item {
	const char *sku, *category;
	int64_t quantity, unit_price;
	int has_discount;
	int64_t discount;
	const char *tags[4];
	size_t tags_len;
} t_item_t;

typedef struct t_ctx {
	int64_t total;
	const char *currency;
	t_item_t items[4];
	size_t items_len;
	const char *codes[4];
	size_t codes_len;
	int has_nps;
	int64_t nps;
	int verified, photo;
	int has_consent, consent;
	const char *tier;
	int64_t order_count;
	int64_t time_us, date_days, span_us, big, small;
	int total_missing; /* order.total (required) reported absent */
	int total_broken;  /* order.total read fails */
	int reads[F__COUNT];
	int items_fetched;
} t_ctx_t;

static t_ctx_t T;

static const ly_expr_field_t item_fields[] = {
    {"item.sku", LY_TYPE_STRING, 0, F_I_SKU},
    {"item.category", LY_TYPE_STRING, 0, F_I_CATEGORY},
    {"item.quantity", LY_TYPE_INT, 0, F_I_QUANTITY},
    {"item.unit_price", LY_TYPE_INT, 0, F_I_PRICE},
    {"item.discount", LY_TYPE_INT, 1, F_I_DISCOUNT},
    {"item.tags", LY_TYPE_LIST, 0, F_I_TAGS, LY_TYPE_STRING, NULL},
};
static const ly_expr_schema_t item_schema = {item_fields, LY_ARRAY_LEN(item_fields)};

static const ly_expr_field_t fields[] = {
    {"order.total", LY_TYPE_INT, 0, F_TOTAL},
    {"order.currency", LY_TYPE_STRING, 0, F_CURRENCY},
    {"order.items", LY_TYPE_LIST, 0, F_ITEMS, 0, &item_schema},
    {"order.coupon_codes", LY_TYPE_LIST, 1, F_CODES, LY_TYPE_STRING, NULL},
    {"survey.nps", LY_TYPE_INT, 1, F_NPS},
    {"review.verified_purchase", LY_TYPE_BOOL, 0, F_VERIFIED},
    {"review.has_photo", LY_TYPE_BOOL, 0, F_PHOTO},
    {"customer.consent_sms", LY_TYPE_BOOL, 1, F_CONSENT},
    {"customer.tier", LY_TYPE_STRING, 0, F_TIER},
    {"customer.order_count", LY_TYPE_INT, 0, F_ORDER_COUNT},
    {"event.time", LY_TYPE_TIME, 0, F_TIME},
    {"expiring.date", LY_TYPE_DATE, 0, F_DATE},
    {"test.span", LY_TYPE_DURATION, 0, F_SPAN},
    {"test.big", LY_TYPE_INT, 0, F_BIG},
    {"test.small", LY_TYPE_INT, 0, F_SMALL},
    {"test.huge", LY_TYPE_LIST, 0, F_HUGE, LY_TYPE_INT, NULL},
    {"test.empty", LY_TYPE_LIST, 0, F_EMPTY, LY_TYPE_INT, NULL},
};
static const ly_expr_schema_t schema = {fields, LY_ARRAY_LEN(fields)};

static void put_int(ly_value_t *out, ly_type_t type, int64_t i)
{
	out->type = type;
	out->u.i = i;
}

static void put_str(ly_value_t *out, const char *s)
{
	out->type = LY_TYPE_STRING;
	out->u.s.ptr = s;
	out->u.s.len = strlen(s);
}

static int get(void *ctx, int id, const void *item, ly_value_t *out)
{
	t_ctx_t *t = ctx;
	const t_item_t *it = item;

	assert_true(id > 0 && id < F__COUNT);
	t->reads[id]++;
	/* item is set exactly for the fields of an element */
	if (id >= F_I_SKU || id == F_CODES)
		assert_non_null(item);
	else
		assert_null(item);
	switch (id) {
	case F_TOTAL:
		if (t->total_missing)
			return LY_ENOTFOUND;
		if (t->total_broken)
			return LY_EIO;
		put_int(out, LY_TYPE_INT, t->total);
		return 0;
	case F_CURRENCY:
		put_str(out, t->currency);
		return 0;
	case F_CODES:
	case F_I_TAGS:
		put_str(out, *(const char *const *)item);
		return 0;
	case F_NPS:
		if (!t->has_nps)
			return LY_ENOTFOUND;
		put_int(out, LY_TYPE_INT, t->nps);
		return 0;
	case F_VERIFIED:
	case F_PHOTO:
		out->type = LY_TYPE_BOOL;
		out->u.b = id == F_VERIFIED ? t->verified : t->photo;
		return 0;
	case F_CONSENT:
		if (!t->has_consent)
			return LY_ENOTFOUND;
		out->type = LY_TYPE_BOOL;
		out->u.b = t->consent;
		return 0;
	case F_TIER:
		put_str(out, t->tier);
		return 0;
	case F_ORDER_COUNT:
		put_int(out, LY_TYPE_INT, t->order_count);
		return 0;
	case F_TIME:
		put_int(out, LY_TYPE_TIME, t->time_us);
		return 0;
	case F_DATE:
		put_int(out, LY_TYPE_DATE, t->date_days);
		return 0;
	case F_SPAN:
		put_int(out, LY_TYPE_DURATION, t->span_us);
		return 0;
	case F_BIG:
		put_int(out, LY_TYPE_INT, t->big);
		return 0;
	case F_SMALL:
		put_int(out, LY_TYPE_INT, t->small);
		return 0;
	case F_I_SKU:
		put_str(out, it->sku);
		return 0;
	case F_I_CATEGORY:
		put_str(out, it->category);
		return 0;
	case F_I_QUANTITY:
		put_int(out, LY_TYPE_INT, it->quantity);
		return 0;
	case F_I_PRICE:
		put_int(out, LY_TYPE_INT, it->unit_price);
		return 0;
	case F_I_DISCOUNT:
		if (!it->has_discount)
			return LY_ENOTFOUND;
		put_int(out, LY_TYPE_INT, it->discount);
		return 0;
	default:
		fail_msg("get of field %d", id);
		return LY_EINVAL;
	}
}

static size_t list_len(void *ctx, int id, const void *item)
{
	t_ctx_t *t = ctx;
	switch (id) {
	case F_ITEMS:
		assert_null(item);
		return t->items_len;
	case F_CODES:
		return t->codes_len;
	case F_I_TAGS:
		assert_non_null(item);
		return ((const t_item_t *)item)->tags_len;
	case F_HUGE:
		return 1001;
	case F_EMPTY:
		return 0;
	default:
		fail_msg("list_len of field %d", id);
		return 0;
	}
}

static const void *list_item(void *ctx, int id, size_t index, const void *item)
{
	t_ctx_t *t = ctx;
	switch (id) {
	case F_ITEMS:
		assert_true(index < t->items_len);
		t->items_fetched++;
		return &t->items[index];
	case F_CODES:
		assert_true(index < t->codes_len);
		return &t->codes[index];
	case F_I_TAGS:
		assert_true(index < ((const t_item_t *)item)->tags_len);
		return &((const t_item_t *)item)->tags[index];
	default:
		fail_msg("list_item of field %d", id);
		return NULL;
	}
}

static const ly_expr_env_t env = {&T, get, list_len, list_item};

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	T.total = 125000;
	T.currency = "TRY";
	T.items[0] =
	    (t_item_t){"tent-1", "outdoor", 2, 150000, 1, 5000, {"camping", "sale"}, 2};
	T.items[1] = (t_item_t){"mug-7", "kitchen", 1, 9000, 0, 0, {NULL}, 0};
	T.items[2] = (t_item_t){"boot-3", "outdoor", 1, 250000, 0, 0, {"winter"}, 1};
	T.items_len = 3;
	T.codes[0] = "SUMMER";
	T.codes[1] = "X";
	T.codes_len = 2;
	T.verified = 1;
	T.photo = 0;
	T.tier = "gold";
	T.order_count = 0;
	T.time_us = T0_US;
	T.date_days = D_2026_06_01;
	T.span_us = 36 * HOUR_US;
	T.big = INT64_MAX;
	T.small = INT64_MIN;
	return 0;
}

/* ---- helpers ---- */

static ly_expr_t *compile(const char *src, ly_type_t want)
{
	ly_expr_t *e = NULL;
	char err[512] = "";
	int rc = ly_expr_compile(&e, src, strlen(src), &schema, want, "rules.yaml", 1, 1,
				 err, sizeof(err));
	if (rc != 0)
		print_error("refused: %s\n  %s\n", src, err);
	assert_int_equal(rc, 0);
	assert_non_null(e);
	return e;
}

static ly_value_t eval_value(const char *src, ly_type_t want)
{
	ly_expr_t *e = compile(src, want);
	ly_value_t v;
	char err[512] = "";
	int rc = ly_expr_eval(e, &env, &v, err, sizeof(err));
	if (rc != 0)
		print_error("failed: %s\n  %s\n", src, err);
	assert_int_equal(rc, 0);
	if (want != LY_TYPE_ANY)
		assert_int_equal(v.type, want);
	assert_int_equal(v.type, ly_expr_type(e));
	if (v.type == LY_TYPE_STRING) {
		/* the string may be the expression's own: copy it out */
		static char copy[LY_EXPR_SOURCE_MAX_BYTES];
		assert_true(v.u.s.len <= sizeof(copy));
		memcpy(copy, v.u.s.ptr, v.u.s.len);
		v.u.s.ptr = copy;
	}
	ly_expr_destroy(e);
	return v;
}

static int64_t eval_int(const char *src)
{
	ly_value_t v = eval_value(src, LY_TYPE_INT);
	assert_int_equal(v.absent, 0);
	return v.u.i;
}

static int eval_bool(const char *src)
{
	ly_value_t v = eval_value(src, LY_TYPE_BOOL);
	assert_int_equal(v.absent, 0);
	assert_true(v.u.b == 0 || v.u.b == 1);
	return v.u.b;
}

#define assert_true_expr(src)                                                            \
	do {                                                                             \
		if (!eval_bool(src))                                                     \
			fail_msg("expected true: %s", src);                              \
	} while (0)
#define assert_false_expr(src)                                                           \
	do {                                                                             \
		if (eval_bool(src))                                                      \
			fail_msg("expected false: %s", src);                             \
	} while (0)

static void assert_eval_error(const char *src, const char *expected)
{
	ly_expr_t *e = compile(src, LY_TYPE_ANY);
	ly_value_t v;
	char err[512] = "";
	int rc = ly_expr_eval(e, &env, &v, err, sizeof(err));
	if (rc != LY_EINVAL || strcmp(err, expected) != 0)
		print_error("source: %s\n  got:  %d %s\n  want: %s\n", src, rc, err,
			    expected);
	assert_int_equal(rc, LY_EINVAL);
	assert_string_equal(err, expected);
	ly_expr_destroy(e);
}

/* Compiles at rules.yaml:line:col and expects exactly this error. */
static void assert_refused_at(const char *src, size_t len, ly_type_t want, int line,
			      int col, const char *expected)
{
	ly_expr_t *e = (ly_expr_t *)&T; /* must be reset to NULL */
	char err[512] = "";
	int rc = ly_expr_compile(&e, src, len, &schema, want, "rules.yaml", line, col,
				 err, sizeof(err));
	if (rc != LY_EINVAL || strcmp(err, expected) != 0)
		print_error("source: %.*s\n  got:  %d %s\n  want: %s\n", (int)len, src,
			    rc, err, expected);
	assert_int_equal(rc, LY_EINVAL);
	assert_null(e);
	assert_string_equal(err, expected);
}

static void assert_refused(const char *src, const char *expected)
{
	assert_refused_at(src, strlen(src), LY_TYPE_ANY, 1, 1, expected);
}

static void assert_explain(const char *src, const char *expected)
{
	ly_expr_t *e = compile(src, LY_TYPE_ANY);
	ly_buf_t b = {0};
	assert_int_equal(ly_expr_explain(e, &env, &b), 0);
	if (strcmp(b.data, expected) != 0)
		print_error("source: %s\n  got:  %s\n  want: %s\n", src, b.data,
			    expected);
	assert_string_equal(b.data, expected);
	ly_buf_free(&b);
	ly_expr_destroy(e);
}

/* ---- literals and arithmetic ---- */

static void test_literals(void **state)
{
	ly_value_t v;
	(void)state;

	assert_int_equal(eval_int("42"), 42);
	assert_int_equal(eval_int("0"), 0);
	assert_int_equal(eval_int("007"), 7);
	assert_int_equal(eval_int("9223372036854775807"), INT64_MAX);
	assert_int_equal(eval_int("-9223372036854775808"), INT64_MIN);
	assert_int_equal(eval_int("- 5"), -5);
	assert_true_expr("true");
	assert_false_expr("false");

	v = eval_value("\"outdoor\"", LY_TYPE_STRING);
	assert_int_equal(v.u.s.len, 7);
	assert_memory_equal(v.u.s.ptr, "outdoor", 7);
	v = eval_value("\"\"", LY_TYPE_STRING);
	assert_int_equal(v.u.s.len, 0);
	/* \" \\ \n \t and \u escapes, a surrogate pair among them */
	v = eval_value("\"a\\\"b\\\\c\\nd\\te\\u00e7\\u20AC\\ud83d\\ude00\"",
		       LY_TYPE_STRING);
	assert_int_equal(v.u.s.len, 9 + 2 + 3 + 4);
	assert_memory_equal(v.u.s.ptr,
			    "a\"b\\c\nd\te\xc3\xa7\xe2\x82\xac\xf0\x9f\x98\x80", 18);
	assert_true_expr("\"\\u0041\\u00e7\" == \"A\xc3\xa7\"");
	/* raw UTF-8 is kept as it is */
	v = eval_value("\"çay\"", LY_TYPE_STRING);
	assert_int_equal(v.u.s.len, 4);

	v = eval_value("2026-06-01", LY_TYPE_DATE);
	assert_int_equal(v.u.i, D_2026_06_01);
	v = eval_value("1970-01-01", LY_TYPE_DATE);
	assert_int_equal(v.u.i, 0);
	v = eval_value("2024-02-29", LY_TYPE_DATE);
	assert_int_equal(v.u.i, 19782);
	v = eval_value("30d", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, 30 * DAY_US);
	v = eval_value("0d", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, 0);
	v = eval_value("-7d", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, -7 * DAY_US);
}

static void test_arithmetic(void **state)
{
	(void)state;
	assert_int_equal(eval_int("1 + 2"), 3);
	assert_int_equal(eval_int("1 - 2"), -1);
	assert_int_equal(eval_int("6 * 7"), 42);
	assert_int_equal(eval_int("7 / 2"), 3);
	assert_int_equal(eval_int("7 % 2"), 1);
	/* truncation toward zero */
	assert_int_equal(eval_int("-7 / 2"), -3);
	assert_int_equal(eval_int("-7 % 2"), -1);
	assert_int_equal(eval_int("7 / -2"), -3);
	assert_int_equal(eval_int("7 % -2"), 1);
	assert_int_equal(eval_int("-7 / -2"), 3);
	assert_int_equal(eval_int("-7 % -2"), -1);
	assert_int_equal(eval_int("test.small % -1"), 0);
	assert_int_equal(eval_int("test.small / 1"), INT64_MIN);
	/* no spaces needed */
	assert_int_equal(eval_int("10-3"), 7);
	assert_int_equal(eval_int("2026 - 6 - 1"), 2019);
	/* fields */
	assert_int_equal(eval_int("order.total / 100 * 2"), 2500);
	assert_int_equal(eval_int("order.total - customer.order_count"), 125000);
	/* extremes that do not overflow */
	assert_int_equal(eval_int("test.big - 1 + 1"), INT64_MAX);
	assert_int_equal(eval_int("test.small + test.big"), -1);
	assert_int_equal(eval_int("-(test.small + 1)"), INT64_MAX);
}

static void test_precedence(void **state)
{
	(void)state;
	assert_int_equal(eval_int("1 + 2 * 3"), 7);
	assert_int_equal(eval_int("(1 + 2) * 3"), 9);
	assert_int_equal(eval_int("2 * 3 + 1"), 7);
	assert_int_equal(eval_int("10 - 4 - 3"), 3);   /* left to right */
	assert_int_equal(eval_int("100 / 10 / 5"), 2); /* left to right */
	assert_int_equal(eval_int("2 * 7 % 4"), 2);    /* (2*7)%4 */
	assert_int_equal(eval_int("2 + 7 % 4"), 5);    /* 2+(7%4) */
	assert_int_equal(eval_int("-2 * 3"), -6);
	assert_int_equal(eval_int("-(2 + 3) * 2"), -10);
	assert_int_equal(eval_int("--5"), 5);
	assert_int_equal(eval_int("- -5"), 5);
	assert_int_equal(eval_int("1 - -1"), 2);
	assert_int_equal(eval_int("((((7))))"), 7);
	assert_int_equal(eval_int("1 + 2 * 3 - 4 / 2 % 3"), 5);
	/* comparison binds looser than arithmetic */
	assert_true_expr("1 + 2 == 3");
	assert_true_expr("2 * 3 > 1 + 4");
	/* not binds looser than a comparison, tighter than and */
	assert_true_expr("not 1 == 2");
	assert_false_expr("not false and false"); /* (not false) and false */
	assert_true_expr("not (false and false)");
	assert_true_expr("not not true");
	/* and binds tighter than or */
	assert_true_expr("true or true and false");
	assert_true_expr("false and true or true");
	assert_false_expr("false and (true or true)");
	assert_true_expr("1 < 2 and 3 < 4 or 5 > 6");
	/* in binds like a comparison */
	assert_true_expr("1 + 1 in [2, 3]");
	assert_true_expr("not 1 in [2, 3]");
	assert_true_expr("1 in [1] and 2 in [2]");
}

/* ---- comparisons ---- */

static void test_compare_int(void **state)
{
	(void)state;
	assert_true_expr("1 == 1");
	assert_false_expr("1 == 2");
	assert_true_expr("1 != 2");
	assert_false_expr("1 != 1");
	assert_true_expr("1 < 2");
	assert_false_expr("2 < 2");
	assert_true_expr("2 <= 2");
	assert_false_expr("3 <= 2");
	assert_true_expr("3 > 2");
	assert_false_expr("2 > 2");
	assert_true_expr("2 >= 2");
	assert_false_expr("1 >= 2");
	assert_true_expr("-1 < 0");
	assert_true_expr("test.small < test.big");
	assert_true_expr("order.total >= 125000");
	assert_false_expr("order.total >= 250000");
	assert_true_expr("customer.order_count == 0");
}

static void test_compare_temporal(void **state)
{
	(void)state;
	/* dates */
	assert_true_expr("expiring.date == 2026-06-01");
	assert_true_expr("expiring.date != 2026-06-02");
	assert_true_expr("expiring.date < 2026-06-02");
	assert_true_expr("expiring.date <= 2026-06-01");
	assert_true_expr("expiring.date > 2026-05-31");
	assert_true_expr("expiring.date >= 2026-06-01");
	assert_false_expr("expiring.date > 2026-06-01");
	assert_true_expr("2025-12-31 < 2026-01-01");
	/* durations */
	assert_true_expr("30d > 29d");
	assert_true_expr("test.span > 1d and test.span < 2d");
	assert_true_expr("7d == 7d");
	assert_true_expr("-1d < 0d");
	/* times */
	assert_true_expr("event.time == event.time");
	assert_true_expr("event.time - 1d < event.time");
	assert_true_expr("event.time + test.span > event.time");
	assert_true_expr("event.time - (event.time - 7d) == 7d");
	assert_true_expr("event.time <= event.time and event.time >= event.time");
	assert_false_expr("event.time != event.time");
}

static void test_date_arithmetic(void **state)
{
	ly_value_t v;
	(void)state;
	v = eval_value("2026-06-01 + 30d", LY_TYPE_DATE);
	assert_int_equal(v.u.i, D_2026_06_01 + 30);
	v = eval_value("30d + 2026-06-01", LY_TYPE_DATE);
	assert_int_equal(v.u.i, D_2026_06_01 + 30);
	v = eval_value("2026-03-01 - 1d", LY_TYPE_DATE);
	assert_int_equal(v.u.i, D_2026_06_01 - 93); /* 2026-02-28: Mar+Apr+May = 92 */
	assert_true_expr("2026-03-01 - 1d == 2026-02-28");
	assert_true_expr("2024-03-01 - 1d == 2024-02-29");
	v = eval_value("2026-06-01 - 2026-01-01", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, 151 * DAY_US);
	v = eval_value("2026-01-01 - 2026-06-01", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, -151 * DAY_US);
	v = eval_value("event.time + 1d", LY_TYPE_TIME);
	assert_int_equal(v.u.i, T0_US + DAY_US);
	v = eval_value("1d + event.time", LY_TYPE_TIME);
	assert_int_equal(v.u.i, T0_US + DAY_US);
	v = eval_value("event.time - test.span", LY_TYPE_TIME);
	assert_int_equal(v.u.i, T0_US - 36 * HOUR_US);
	v = eval_value("event.time - (event.time - 2d)", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, 2 * DAY_US);
	v = eval_value("-test.span", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, -36 * HOUR_US);
	v = eval_value("test.span + test.span", LY_TYPE_DURATION);
	assert_int_equal(v.u.i, 72 * HOUR_US);
	/* a date moves by whole days only */
	assert_eval_error("expiring.date + test.span",
			  "rules.yaml:1:15: a date moves by whole days only");
	assert_eval_error("expiring.date - test.span",
			  "rules.yaml:1:15: a date moves by whole days only");
	assert_true_expr("expiring.date + (test.span + 12d - test.span) == 2026-06-13");
}

static void test_compare_strings_bools(void **state)
{
	(void)state;
	assert_true_expr("customer.tier == \"gold\"");
	assert_false_expr("customer.tier == \"Gold\""); /* bytewise */
	assert_false_expr("customer.tier == \"gold \"");
	assert_false_expr("customer.tier == \"gol\"");
	assert_true_expr("customer.tier != \"silver\"");
	assert_false_expr("customer.tier != \"gold\"");
	assert_true_expr("\"\" == \"\"");
	assert_false_expr("\"\" == \"a\"");
	assert_true_expr("\"\\u00e7\" == \"ç\"");
	assert_true_expr("order.currency == \"TRY\"");
	assert_true_expr("review.verified_purchase == true");
	assert_true_expr("review.has_photo == false");
	assert_true_expr("review.verified_purchase != review.has_photo");
	assert_false_expr("review.verified_purchase == review.has_photo");
	assert_true_expr("(1 < 2) == true");
	assert_true_expr("true != false");
}

static void test_in(void **state)
{
	char src[4096];
	size_t n;
	(void)state;
	assert_true_expr("customer.tier in [\"silver\", \"gold\"]");
	assert_false_expr("customer.tier in [\"silver\", \"bronze\"]");
	assert_true_expr("customer.tier in [\"gold\"]");
	assert_false_expr("customer.tier in [\"GOLD\", \"gol\", \"golden\"]");
	assert_true_expr("order.total in [1, 125000, 3]");
	assert_false_expr("order.total in [1, 2, 3]");
	assert_true_expr("-5 in [5, -5]");
	assert_true_expr("test.small in [-9223372036854775808]");
	assert_true_expr("expiring.date in [2026-06-01, 2026-06-02]");
	assert_true_expr("7d in [1d, 7d]");
	assert_false_expr("test.span in [1d, 2d]"); /* 36 hours */

	/* 256 items are allowed, the 257th is refused */
	n = (size_t)snprintf(src, sizeof(src), "255 in [");
	for (int i = 0; i < 256; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "%s%d", i ? "," : "", i);
	snprintf(src + n, sizeof(src) - n, "]");
	assert_true_expr(src);
	src[n] = '\0';
	n += (size_t)snprintf(src + n, sizeof(src) - n, ",256]");
	assert_refused(src, "rules.yaml:1:923: \"in\" list has more than 256 items");
}

/* ---- list functions ---- */

static void test_list_functions(void **state)
{
	(void)state;
	/* SPEC examples */
	assert_true_expr("any(order.items, item.category == \"outdoor\")");
	assert_int_equal(eval_int("sum(order.items, item.category == \"outdoor\", "
				  "item.unit_price * item.quantity)"),
			 150000 * 2 + 250000);
	assert_true_expr("any(order.coupon_codes, item == \"X\")");
	assert_false_expr("any(order.coupon_codes, item == \"x\")");

	assert_false_expr("any(order.items, item.category == \"garden\")");
	assert_true_expr("all(order.items, item.unit_price > 0)");
	assert_false_expr("all(order.items, item.category == \"outdoor\")");
	assert_int_equal(eval_int("count(order.items, item.category == \"outdoor\")"), 2);
	assert_int_equal(eval_int("count(order.items, true)"), 3);
	assert_int_equal(eval_int("count(order.items, item.quantity > 5)"), 0);
	assert_int_equal(eval_int("sum(order.items, true, item.quantity)"), 4);
	assert_int_equal(eval_int("sum(order.items, false, item.quantity)"), 0);
	assert_int_equal(eval_int("count(order.coupon_codes, item != \"\")"), 2);
	/* the result takes part in arithmetic and comparisons */
	assert_int_equal(eval_int("count(order.items, true) * 10 + 1"), 31);
	assert_true_expr("count(order.items, item.quantity == 1) == 2");
	assert_true_expr("sum(order.items, true, item.unit_price) > order.total");
	/* a top-level field inside the condition */
	assert_int_equal(eval_int("count(order.items, item.unit_price > order.total)"),
			 2);
	/* sum skips an absent value (only the tent has a discount) */
	assert_int_equal(eval_int("sum(order.items, true, item.discount)"), 5000);
	assert_int_equal(eval_int("sum(order.items, true, item.discount + 1)"), 5001);
	assert_int_equal(eval_int("count(order.items, item.discount > 0)"), 1);
	assert_int_equal(eval_int("count(order.items, not (item.discount > 0))"), 2);
	/* nested: the inner item is the tag */
	assert_true_expr("any(order.items, any(item.tags, item == \"sale\"))");
	assert_int_equal(
	    eval_int("count(order.items, any(item.tags, item == \"winter\"))"), 1);
	assert_int_equal(eval_int("sum(order.items, true, count(item.tags, true))"), 3);
	assert_int_equal(
	    eval_int("count(order.items, count(order.coupon_codes, true) == 2)"), 3);
	assert_true_expr("all(order.items, all(item.tags, item != \"\"))");
	/* two list functions side by side */
	assert_int_equal(
	    eval_int("count(order.items, true) + count(order.coupon_codes, true)"), 5);

	/* empty lists */
	assert_false_expr("any(test.empty, true)");
	assert_true_expr("all(test.empty, false)");
	assert_int_equal(eval_int("count(test.empty, true)"), 0);
	assert_int_equal(eval_int("sum(test.empty, true, item)"), 0);
	T.items_len = 0;
	T.codes_len = 0;
	assert_false_expr("any(order.items, true)");
	assert_true_expr("all(order.items, false)");
	assert_int_equal(eval_int("sum(order.items, true, item.quantity)"), 0);
	assert_false_expr("any(order.coupon_codes, item == \"X\")");
}

static void test_list_iteration_stops(void **state)
{
	(void)state;
	/* any stops at the first true, all at the first false */
	assert_true_expr("any(order.items, item.category == \"outdoor\")");
	assert_int_equal(T.reads[F_I_CATEGORY], 1);
	assert_int_equal(T.items_fetched, 1);
	memset(T.reads, 0, sizeof(T.reads));
	T.items_fetched = 0;
	assert_false_expr("all(order.items, item.category == \"outdoor\")");
	assert_int_equal(T.reads[F_I_CATEGORY], 2);
	assert_int_equal(T.items_fetched, 2);
	memset(T.reads, 0, sizeof(T.reads));
	/* sum evaluates the value only where the condition holds */
	assert_int_equal(
	    eval_int("sum(order.items, item.category == \"kitchen\", item.unit_price)"),
	    9000);
	assert_int_equal(T.reads[F_I_CATEGORY], 3);
	assert_int_equal(T.reads[F_I_PRICE], 1);
}

/* ---- absent optional fields ---- */

static void test_absent(void **state)
{
	ly_value_t v;
	(void)state;
	/* survey.nps absent: every comparison is false */
	assert_false_expr("survey.nps <= 6");
	assert_false_expr("survey.nps > 6");
	assert_false_expr("survey.nps == 5");
	assert_false_expr("survey.nps != 5");
	assert_false_expr("survey.nps < 100 or survey.nps >= 100");
	assert_false_expr("survey.nps == survey.nps");
	assert_true_expr("not (survey.nps <= 6)");
	assert_true_expr("not survey.nps <= 6");
	assert_false_expr("survey.nps + 1 > 0");
	assert_false_expr("survey.nps * 0 == 0");
	assert_false_expr("-survey.nps < 0 or -survey.nps >= 0");
	assert_false_expr("survey.nps in [1, 2, 3]");
	assert_false_expr("survey.nps / 0 == 1"); /* absent, not a division by zero */
	assert_true_expr("not (survey.nps in [1, 2, 3])");
	/* arithmetic on an absent value is absent */
	v = eval_value("survey.nps + 1", LY_TYPE_INT);
	assert_int_equal(v.absent, 1);
	assert_int_equal(v.u.i, 0);
	v = eval_value("survey.nps", LY_TYPE_ANY);
	assert_int_equal(v.type, LY_TYPE_INT);
	assert_int_equal(v.absent, 1);
	/* present */
	T.has_nps = 1;
	T.nps = 5;
	assert_true_expr("survey.nps <= 6");
	assert_false_expr("not (survey.nps <= 6)");
	assert_true_expr("survey.nps + 1 > 0");
	assert_true_expr("survey.nps in [4, 5]");
	assert_int_equal(eval_int("survey.nps * 2"), 10);

	/* an absent bool is false as a condition, never equal to anything */
	v = eval_value("customer.consent_sms", LY_TYPE_BOOL);
	assert_int_equal(v.absent, 1);
	assert_int_equal(v.u.b, 0);
	assert_false_expr("customer.consent_sms and true");
	assert_false_expr("true and customer.consent_sms");
	assert_true_expr("customer.consent_sms or true");
	assert_false_expr("false or customer.consent_sms");
	assert_true_expr("not customer.consent_sms");
	assert_false_expr("customer.consent_sms == false");
	assert_false_expr("customer.consent_sms != true");
	assert_true_expr("any(order.items, not customer.consent_sms)");
	assert_int_equal(eval_int("count(order.items, customer.consent_sms)"), 0);
	T.has_consent = 1;
	T.consent = 1;
	assert_true_expr("customer.consent_sms");
	assert_true_expr("true and customer.consent_sms");
	assert_true_expr("customer.consent_sms == true");
}

static void test_short_circuit(void **state)
{
	(void)state;
	assert_false_expr("false and 1 / 0 == 1");
	assert_true_expr("true or 1 / 0 == 1");
	assert_false_expr("customer.order_count == 1 and order.total > 0");
	assert_int_equal(T.reads[F_ORDER_COUNT], 1);
	assert_int_equal(T.reads[F_TOTAL], 0);
	assert_true_expr("customer.order_count == 0 or order.total > 0");
	assert_int_equal(T.reads[F_TOTAL], 0);
	assert_true_expr("customer.order_count == 0 and order.total > 0");
	assert_int_equal(T.reads[F_TOTAL], 1);
	assert_false_expr("false and any(order.items, true)");
	assert_int_equal(T.items_fetched, 0);
	assert_eval_error("true and 1 / 0 == 1", "rules.yaml:1:12: division by zero");
	assert_eval_error("false or 1 % 0 == 1", "rules.yaml:1:12: modulo by zero");
	/* a chain: the first false ends it */
	assert_false_expr("true and false and 1 / 0 == 1 and 1 / 0 == 1");
	assert_true_expr("false or true or 1 / 0 == 1 or 1 / 0 == 1");
}

/* ---- evaluation errors ---- */

static void test_eval_errors(void **state)
{
	(void)state;
	assert_eval_error("test.big + 1", "rules.yaml:1:10: integer overflow in \"+\"");
	assert_eval_error("test.small - 1", "rules.yaml:1:12: integer overflow in \"-\"");
	assert_eval_error("test.big * 2", "rules.yaml:1:10: integer overflow in \"*\"");
	assert_eval_error("test.small * -1",
			  "rules.yaml:1:12: integer overflow in \"*\"");
	assert_eval_error("-test.small", "rules.yaml:1:1: integer overflow in \"-\"");
	assert_eval_error("test.small / -1",
			  "rules.yaml:1:12: integer overflow in \"/\"");
	assert_eval_error("-9223372036854775808 / -1",
			  "rules.yaml:1:22: integer overflow in \"/\"");
	assert_eval_error("order.total / customer.order_count",
			  "rules.yaml:1:13: division by zero");
	assert_eval_error("order.total % (customer.order_count * 2)",
			  "rules.yaml:1:13: modulo by zero");
	assert_eval_error("sum(order.items, true, test.big)",
			  "rules.yaml:1:24: integer overflow in sum");
	assert_eval_error(
	    "any(test.huge, true)",
	    "rules.yaml:1:5: list \"test.huge\" has 1001 items, at most 1000");
}

static void test_eval_env_errors(void **state)
{
	(void)state;
	T.total_missing = 1;
	assert_eval_error("order.total > 1",
			  "rules.yaml:1:1: required field \"order.total\" is absent");
	T.total_missing = 0;
	T.total_broken = 1;
	assert_eval_error("1 + order.total",
			  "rules.yaml:1:5: field \"order.total\" could not be read");
}

/* The error of a multi-line source, with its offset into the file. */
static void test_eval_error_position(void **state)
{
	const char *src = "order.total > 0 and\n  1 / customer.order_count > 0";
	ly_expr_t *e = NULL;
	ly_value_t v;
	char err[512];
	(void)state;
	assert_int_equal(ly_expr_compile(&e, src, strlen(src), &schema, LY_TYPE_BOOL,
					 "rules.yaml", 14, 9, err, sizeof(err)),
			 0);
	assert_int_equal(ly_expr_eval(e, &env, &v, err, sizeof(err)), LY_EINVAL);
	assert_string_equal(err, "rules.yaml:15:13: division by zero");
	ly_expr_destroy(e);
}

/* ---- compile errors ---- */

static void test_errors_names(void **state)
{
	(void)state;
	assert_refused("order.totl > 5", "rules.yaml:1:1: unknown field \"order.totl\"");
	assert_refused_at("order.totl > 5", 14, LY_TYPE_BOOL, 14, 9,
			  "rules.yaml:14:9: unknown field \"order.totl\"");
	assert_refused_at("order.total > 5 and order.totl < 3", 34, LY_TYPE_BOOL, 14, 9,
			  "rules.yaml:14:29: unknown field \"order.totl\"");
	assert_refused("customer", "rules.yaml:1:1: unknown field \"customer\"");
	assert_refused("AND", "rules.yaml:1:1: unknown field \"AND\"");
	assert_refused("any", "rules.yaml:1:1: unknown field \"any\"");
	assert_refused("avg(order.items, item.quantity) > 1",
		       "rules.yaml:1:1: unknown function \"avg\"");
	assert_refused("1 + order.total(1)",
		       "rules.yaml:1:5: unknown function \"order.total\"");
	assert_refused(
	    "item.sku == \"x\"",
	    "rules.yaml:1:1: \"item\" is only defined inside any/all/count/sum");
	assert_refused(
	    "item == 1",
	    "rules.yaml:1:1: \"item\" is only defined inside any/all/count/sum");
	assert_refused(
	    "order.total > 0 and item.quantity > 1",
	    "rules.yaml:1:21: \"item\" is only defined inside any/all/count/sum");
	assert_refused(
	    "any(item.tags, true)",
	    "rules.yaml:1:5: \"item\" is only defined inside any/all/count/sum");
	assert_refused(
	    "any(order.items, item == \"x\")",
	    "rules.yaml:1:18: \"item\" is a record here, name one of its fields "
	    "(\"item.sku\")");
	assert_refused("any(order.coupon_codes, item.sku == \"x\")",
		       "rules.yaml:1:25: unknown field \"item.sku\"");
	assert_refused("any(order.items, item.colour == \"red\")",
		       "rules.yaml:1:18: unknown field \"item.colour\"");
	assert_refused("order.", "rules.yaml:1:1: invalid field name \"order.\"");
	assert_refused("order..total", "rules.yaml:1:1: invalid field name \"order.\"");
	assert_refused("order.1st", "rules.yaml:1:1: invalid field name \"order.\"");
}

static void test_errors_types(void **state)
{
	(void)state;
	assert_refused("customer.tier == 1",
		       "rules.yaml:1:15: type error: cannot compare string with int");
	assert_refused("order.total == \"5\"",
		       "rules.yaml:1:13: type error: cannot compare int with string");
	assert_refused("expiring.date < event.time",
		       "rules.yaml:1:15: type error: cannot compare date with time");
	assert_refused("order.total < 1d",
		       "rules.yaml:1:13: type error: cannot compare int with duration");
	assert_refused("review.has_photo == 1",
		       "rules.yaml:1:18: type error: cannot compare bool with int");
	assert_refused(
	    "order.currency + 1",
	    "rules.yaml:1:16: type error: \"+\" needs int operands, got string");
	assert_refused("1 + review.has_photo",
		       "rules.yaml:1:3: type error: \"+\" needs int operands, got bool");
	assert_refused(
	    "1 - \"a\"",
	    "rules.yaml:1:3: type error: \"-\" needs int operands, got string");
	assert_refused(
	    "order.total * 2d",
	    "rules.yaml:1:13: type error: \"*\" needs int operands, got duration");
	assert_refused("2026-01-01 / 2",
		       "rules.yaml:1:12: type error: \"/\" needs int operands, got date");
	assert_refused("5 % true",
		       "rules.yaml:1:3: type error: \"%\" needs int operands, got bool");
	assert_refused("expiring.date + 1",
		       "rules.yaml:1:15: type error: cannot apply \"+\" to date and int");
	assert_refused(
	    "event.time + event.time",
	    "rules.yaml:1:12: type error: cannot apply \"+\" to time and time");
	assert_refused(
	    "1d - event.time",
	    "rules.yaml:1:4: type error: cannot apply \"-\" to duration and time");
	assert_refused(
	    "\"a\" < \"b\"",
	    "rules.yaml:1:5: type error: \"<\" needs int, date, time or duration "
	    "operands, got string");
	assert_refused(
	    "true >= false",
	    "rules.yaml:1:6: type error: \">=\" needs int, date, time or duration "
	    "operands, got bool");
	assert_refused(
	    "-\"a\"",
	    "rules.yaml:1:1: type error: \"-\" needs an int operand, got string");
	assert_refused(
	    "-expiring.date",
	    "rules.yaml:1:1: type error: \"-\" needs an int operand, got date");
	assert_refused(
	    "not 1", "rules.yaml:1:1: type error: \"not\" needs a bool operand, got int");
	assert_refused(
	    "1 and true",
	    "rules.yaml:1:3: type error: \"and\" needs bool operands, got int");
	assert_refused(
	    "true or \"x\"",
	    "rules.yaml:1:6: type error: \"or\" needs bool operands, got string");
	assert_refused(
	    "review.has_photo in [true]",
	    "rules.yaml:1:18: type error: \"in\" needs an int, string, date or duration "
	    "on its left, got bool");
	assert_refused("order.total in [1, \"a\"]",
		       "rules.yaml:1:20: type error: cannot compare int with string");
	assert_refused("customer.tier in [\"a\", 2026-01-01]",
		       "rules.yaml:1:24: type error: cannot compare string with date");
	assert_refused("order.items == 1",
		       "rules.yaml:1:1: type error: \"order.items\" is a list, use it in "
		       "any/all/count/sum");
	assert_refused("any(order.items, item.tags == 1)",
		       "rules.yaml:1:18: type error: \"item.tags\" is a list, use it in "
		       "any/all/count/sum");
	/* functions */
	assert_refused("any(order.items, true, 1)",
		       "rules.yaml:1:1: \"any\" takes 2 arguments, got 3");
	assert_refused("sum(order.items, true)",
		       "rules.yaml:1:1: \"sum\" takes 3 arguments, got 2");
	assert_refused("count()", "rules.yaml:1:1: \"count\" takes 2 arguments, got 0");
	assert_refused("all(order.items, true, 1, 2, 3)",
		       "rules.yaml:1:1: \"all\" takes 2 arguments, got 5");
	assert_refused(
	    "any(order.total, true)",
	    "rules.yaml:1:5: type error: the first argument of \"any\" must be a list "
	    "field, got int");
	assert_refused(
	    "count(1 + 2, true)",
	    "rules.yaml:1:7: type error: the first argument of \"count\" must be a list "
	    "field, got int");
	assert_refused(
	    "any(order.items, item.quantity)",
	    "rules.yaml:1:18: type error: the condition of \"any\" must be a bool, got "
	    "int");
	assert_refused(
	    "sum(order.items, true, item.sku)",
	    "rules.yaml:1:24: type error: the value of \"sum\" must be an int, got "
	    "string");
	/* the result type the caller wants */
	assert_refused_at("order.total", 11, LY_TYPE_BOOL, 1, 1,
			  "rules.yaml:1:1: expression must be a bool, got int");
	assert_refused_at("order.total > 1", 15, LY_TYPE_INT, 1, 1,
			  "rules.yaml:1:1: expression must be an int, got bool");
	assert_refused_at("  (1 + 2)", 9, LY_TYPE_BOOL, 3, 5,
			  "rules.yaml:3:7: expression must be a bool, got int");
	assert_refused_at("customer.tier", 13, LY_TYPE_INT, 1, 1,
			  "rules.yaml:1:1: expression must be an int, got string");
}

static void test_errors_syntax(void **state)
{
	(void)state;
	assert_refused("", "rules.yaml:1:1: empty expression");
	assert_refused_at("   \n ", 5, LY_TYPE_BOOL, 2, 4,
			  "rules.yaml:2:4: empty expression");
	assert_refused_at(NULL, 0, LY_TYPE_BOOL, 1, 1,
			  "rules.yaml:1:1: empty expression");
	assert_refused("(order.total > 5", "rules.yaml:1:17: expected \")\"");
	assert_refused("any(order.items, true", "rules.yaml:1:22: expected \")\"");
	assert_refused("any(order.items true)", "rules.yaml:1:17: expected \")\"");
	assert_refused("order.total >", "rules.yaml:1:14: unexpected end of expression");
	assert_refused("order.total > 1 and",
		       "rules.yaml:1:20: unexpected end of expression");
	assert_refused("order.total >\n",
		       "rules.yaml:1:14: unexpected end of expression");
	assert_refused("-", "rules.yaml:1:2: unexpected end of expression");
	assert_refused("order.total > 5)", "rules.yaml:1:16: unexpected \")\"");
	assert_refused("order.total 5", "rules.yaml:1:13: unexpected \"5\"");
	assert_refused("order.total \"x\"", "rules.yaml:1:13: unexpected string");
	assert_refused("()", "rules.yaml:1:2: unexpected \")\"");
	assert_refused("1 +* 2", "rules.yaml:1:4: unexpected \"*\"");
	assert_refused("any(, true)", "rules.yaml:1:5: unexpected \",\"");
	assert_refused("order.total in 5",
		       "rules.yaml:1:16: expected \"[\" after \"in\"");
	assert_refused("order.total in [order.total]",
		       "rules.yaml:1:17: expected a literal");
	assert_refused("order.total in []", "rules.yaml:1:17: expected a literal");
	assert_refused("order.total in [-\"a\"]", "rules.yaml:1:17: expected a literal");
	assert_refused("order.total in [1 2]",
		       "rules.yaml:1:19: expected \",\" or \"]\"");
	assert_refused("order.total in [1,]", "rules.yaml:1:19: expected a literal");
	assert_refused(
	    "1 < 2 < 3",
	    "rules.yaml:1:7: unexpected \"<\", comparisons do not chain (use \"and\")");
	assert_refused(
	    "1 == 1 in [1]",
	    "rules.yaml:1:8: unexpected \"in\", comparisons do not chain (use \"and\")");
	assert_refused(
	    "1 in [1] == true",
	    "rules.yaml:1:10: unexpected \"==\", comparisons do not chain (use \"and\")");
	assert_refused("order.total # 1", "rules.yaml:1:13: unexpected character \"#\"");
	assert_refused("order.total = 1",
		       "rules.yaml:1:13: unexpected \"=\", use \"==\"");
	assert_refused("!review.has_photo",
		       "rules.yaml:1:1: unexpected \"!\", use \"not\"");
	assert_refused("true && false", "rules.yaml:1:6: unexpected \"&&\", use \"and\"");
	assert_refused("true || false", "rules.yaml:1:6: unexpected \"||\", use \"or\"");
	assert_refused("'gold'",
		       "rules.yaml:1:1: unexpected \"'\", strings use double quotes");
	assert_refused("1 +\x01", "rules.yaml:1:4: unexpected byte 0x01");
	assert_refused("\xc3\xa7", "rules.yaml:1:1: unexpected byte 0xC3");
	assert_refused_at("1 +\0 2", 5, LY_TYPE_ANY, 1, 1,
			  "rules.yaml:1:4: unexpected byte 0x00");
}

static void test_errors_literals(void **state)
{
	(void)state;
	assert_refused("2026-02-30 < expiring.date",
		       "rules.yaml:1:1: invalid date \"2026-02-30\"");
	assert_refused("2025-02-29", "rules.yaml:1:1: invalid date \"2025-02-29\"");
	assert_refused("2026-13-01", "rules.yaml:1:1: invalid date \"2026-13-01\"");
	assert_refused("2026-6-01", "rules.yaml:1:1: invalid date \"2026-6-01\"");
	assert_refused("2026-06-01x", "rules.yaml:1:1: invalid date \"2026-06-01x\"");
	assert_refused("1 + 1000-5", "rules.yaml:1:5: invalid date \"1000-5\"");
	assert_refused(
	    "99999999999999999999",
	    "rules.yaml:1:1: integer literal \"99999999999999999999\" out of range");
	assert_refused(
	    "9223372036854775808",
	    "rules.yaml:1:1: integer literal \"9223372036854775808\" out of range");
	assert_refused(
	    "1 + 9223372036854775808",
	    "rules.yaml:1:5: integer literal \"9223372036854775808\" out of range");
	assert_refused(
	    "-9223372036854775809",
	    "rules.yaml:1:2: integer literal \"9223372036854775809\" out of range");
	assert_refused("1.5", "rules.yaml:1:1: invalid number \"1.5\"");
	assert_refused("30x", "rules.yaml:1:1: invalid number \"30x\"");
	assert_refused("30days", "rules.yaml:1:1: invalid number \"30days\"");
	assert_refused("99999999999d",
		       "rules.yaml:1:1: duration literal \"99999999999d\" out of range");
	assert_refused("\"abc", "rules.yaml:1:1: unterminated string");
	assert_refused("\"abc\\", "rules.yaml:1:1: unterminated string");
	assert_refused("customer.tier == \"ab\ncd\"",
		       "rules.yaml:1:18: unterminated string");
	assert_refused("\"a\\qb\"", "rules.yaml:1:3: invalid escape \"\\q\"");
	assert_refused("\"\\uD800\"", "rules.yaml:1:2: invalid escape \"\\uD800\"");
	assert_refused("\"\\uDC00\\uD800\"",
		       "rules.yaml:1:2: invalid escape \"\\uDC00\"");
	assert_refused("\"\\u12\"", "rules.yaml:1:2: invalid escape \"\\u12\"");
	assert_refused("\"\\u0000\"", "rules.yaml:1:2: invalid escape \"\\u0000\"");
	assert_refused("\"\\\x01\"", "rules.yaml:1:2: invalid escape");
	assert_refused("\"a\tb\"", "rules.yaml:1:3: control character in string");
	assert_refused("\"\xff\"", "rules.yaml:1:1: invalid UTF-8 in string");
	assert_refused("\"\xc3\"", "rules.yaml:1:1: invalid UTF-8 in string");
}

/* Columns count characters; later lines of a block scalar start at the
 * base column too. */
static void test_error_positions(void **state)
{
	const char *crlf = "order.total > 1\r\n and x";
	(void)state;
	assert_refused_at("order.total > 1\n  and order.totl > 2", 36, LY_TYPE_BOOL, 14,
			  9, "rules.yaml:15:15: unknown field \"order.totl\"");
	assert_refused_at("order.total > 1\n\n\nand order.totl", 32, LY_TYPE_BOOL, 14, 9,
			  "rules.yaml:17:13: unknown field \"order.totl\"");
	assert_refused_at(crlf, strlen(crlf), LY_TYPE_BOOL, 1, 1,
			  "rules.yaml:2:6: unknown field \"x\"");
	assert_refused("\"\xc3\xa7\xc3\xa7\" == order.totl",
		       "rules.yaml:1:9: unknown field \"order.totl\"");
	assert_refused_at("(1 +\n  2", 8, LY_TYPE_INT, 5, 3,
			  "rules.yaml:6:6: expected \")\"");
}

static void build_nested(char *buf, size_t size, const char *open, const char *middle,
			 const char *close, int n)
{
	size_t len = 0;
	buf[0] = '\0';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s", open);
	len += (size_t)snprintf(buf + len, size - len, "%s", middle);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s", close);
	assert_true(len < size);
}

static size_t balanced(char *buf, size_t at, int depth)
{
	if (depth == 0) {
		buf[at] = '1';
		return at + 1;
	}
	buf[at++] = '(';
	at = balanced(buf, at, depth - 1);
	buf[at++] = '+';
	at = balanced(buf, at, depth - 1);
	buf[at++] = ')';
	return at;
}

static void test_limits(void **state)
{
	static char src[LY_EXPR_SOURCE_MAX_BYTES + 2];
	size_t n;
	(void)state;

	/* parentheses: 256 deep compile, 257 do not */
	build_nested(src, sizeof(src), "(", "1", ")", 255);
	assert_int_equal(eval_int(src), 1);
	build_nested(src, sizeof(src), "(", "1", ")", 257);
	assert_refused(src, "rules.yaml:1:257: expression too deep");
	build_nested(src, sizeof(src), "not ", "true", "", 257);
	assert_refused(src, "rules.yaml:1:1025: expression too deep");
	build_nested(src, sizeof(src), "-", "1", "", 300);
	assert_refused(src, "rules.yaml:1:257: expression too deep");

	/* the value stack: 1+(1+(...)) needs one entry a level */
	build_nested(src, sizeof(src), "1+(", "1", ")", LY_EXPR_STACK_MAX - 1);
	assert_int_equal(eval_int(src), LY_EXPR_STACK_MAX);
	build_nested(src, sizeof(src), "1+(", "1", ")", LY_EXPR_STACK_MAX);
	assert_refused(src, "rules.yaml:1:193: expression too deep"); /* the 65th "1" */

	/* the tree is at most 256 deep: a chain of 257 terms is refused at
	 * its 256th operator (offset 511) */
	n = 0;
	for (int i = 0; i < 257; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "%s1", i ? "+" : "");
	assert_refused(src, "rules.yaml:1:512: expression too deep");

	/* a long flat chain needs little stack */
	n = 0;
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(src + n, sizeof(src) - n, "%s1", i ? "+" : "");
	assert_int_equal(eval_int(src), 200);

	/* list functions nest two deep */
	assert_true_expr("any(order.items, any(item.tags, item == \"sale\"))");
	assert_refused("any(order.items, any(item.tags, any(order.coupon_codes, true)))",
		       "rules.yaml:1:33: list functions nest at most 2 deep");
	assert_refused(
	    "count(order.items, sum(order.items, true, count(test.empty, true)) > 0) > 0",
	    "rules.yaml:1:43: list functions nest at most 2 deep");

	/* instructions: a balanced tree of 1024 leaves is 2047 of them */
	memset(src, 0, sizeof(src));
	n = balanced(src, 0, 10);
	assert_true(n <= LY_EXPR_SOURCE_MAX_BYTES);
	assert_refused(src, "rules.yaml:1:1: expression too complex");
	memset(src, 0, sizeof(src));
	balanced(src, 0, 8); /* 511 instructions */
	assert_int_equal(eval_int(src), 256);

	/* source size */
	memset(src, ' ', LY_EXPR_SOURCE_MAX_BYTES);
	src[0] = '1';
	src[LY_EXPR_SOURCE_MAX_BYTES] = '\0';
	assert_int_equal(eval_int(src), 1);
	src[LY_EXPR_SOURCE_MAX_BYTES] = ' ';
	src[LY_EXPR_SOURCE_MAX_BYTES + 1] = '\0';
	assert_refused_at(
	    src, LY_EXPR_SOURCE_MAX_BYTES + 1, LY_TYPE_ANY, 2, 3,
	    "rules.yaml:2:3: expression too long (4097 bytes, at most 4096)");
}

/* ---- explain ---- */

static void test_explain(void **state)
{
	ly_expr_t *e;
	ly_buf_t b = {0};
	(void)state;
	assert_explain(
	    "review.verified_purchase and review.has_photo",
	    "review.verified_purchase and review.has_photo: true and false -> false");
	assert_explain("order.total >= 250000",
		       "order.total >= 250000: 125000 >= 250000 -> false");
	/* a field the run did not read stays as written */
	assert_explain(
	    "review.has_photo and order.total > 1",
	    "review.has_photo and order.total > 1: false and order.total > 1 -> false");
	assert_explain("survey.nps <= 6", "survey.nps <= 6: absent <= 6 -> false");
	assert_explain("not (survey.nps <= 6)",
		       "not (survey.nps <= 6): not (absent <= 6) -> true");
	assert_explain("survey.nps + 1", "survey.nps + 1: absent + 1 -> absent");
	/* a list function shows its value */
	assert_explain(
	    "any(order.items, item.category == \"outdoor\") and customer.tier == "
	    "\"gold\"",
	    "any(order.items, item.category == \"outdoor\") and customer.tier == "
	    "\"gold\": true and \"gold\" == \"gold\" -> true");
	assert_explain("sum(order.items, item.category == \"outdoor\", item.unit_price * "
		       "item.quantity)",
		       "sum(order.items, item.category == \"outdoor\", item.unit_price * "
		       "item.quantity): 550000 -> 550000");
	assert_explain(
	    "count(order.items, item.unit_price > order.total) >= 2",
	    "count(order.items, item.unit_price > order.total) >= 2: 2 >= 2 -> true");
	/* no fields: source and result */
	assert_explain("1 + 2 * 3", "1 + 2 * 3 -> 7");
	assert_explain("\"a\\\"b\"", "\"a\\\"b\" -> \"a\\\"b\"");
	/* values of every type */
	assert_explain(
	    "expiring.date < 2026-07-01 and event.time - test.span < event.time",
	    "expiring.date < 2026-07-01 and event.time - test.span < event.time: "
	    "2026-06-01 < 2026-07-01 and 2026-11-22T10:00:00Z - 36h < "
	    "2026-11-22T10:00:00Z -> true");
	assert_explain("event.time + 30d",
		       "event.time + 30d: 2026-11-22T10:00:00Z + 30d -> "
		       "2026-12-22T10:00:00Z");
	assert_explain("expiring.date - 2026-01-01",
		       "expiring.date - 2026-01-01: 2026-06-01 - 2026-01-01 -> 151d");
	assert_explain(
	    "customer.consent_sms or order.currency != \"TRY\"",
	    "customer.consent_sms or order.currency != \"TRY\": absent or \"TRY\" != "
	    "\"TRY\" -> false");
	/* an evaluation error */
	assert_explain(
	    "order.total / customer.order_count",
	    "order.total / customer.order_count: 125000 / 0 -> error: rules.yaml:1:13: "
	    "division by zero");
	/* a block scalar prints on one line */
	assert_explain(
	    "order.total > 1\n  and customer.tier == \"gold\"\n",
	    "order.total > 1 and customer.tier == \"gold\": 125000 > 1 and \"gold\" == "
	    "\"gold\" -> true");

	/* a list function the run did not reach stays as written */
	assert_explain("false and any(order.items, true)",
		       "false and any(order.items, true): "
		       "false and any(order.items, true) -> false");
	/* durations that are not whole days, values out of the printable range */
	T.span_us = 90 * 1000000;
	assert_explain("test.span", "test.span: 90s -> 90s");
	T.span_us = 1500;
	assert_explain("test.span", "test.span: 1500us -> 1500us");
	T.time_us = INT64_MAX;
	T.date_days = 2000000000;
	assert_explain("event.time == event.time and expiring.date == expiring.date",
		       "event.time == event.time and expiring.date == expiring.date: "
		       "time(9223372036854775807) == time(9223372036854775807) and "
		       "date(2000000000) == date(2000000000) -> true");

	/* appends, and is the same every time */
	e = compile("order.total > 100", LY_TYPE_BOOL);
	assert_int_equal(ly_buf_puts(&b, "rule big: "), 0);
	assert_int_equal(ly_expr_explain(e, &env, &b), 0);
	assert_int_equal(ly_buf_puts(&b, "; "), 0);
	assert_int_equal(ly_expr_explain(e, &env, &b), 0);
	assert_string_equal(b.data, "rule big: order.total > 100: 125000 > 100 -> true; "
				    "order.total > 100: 125000 > 100 -> true");
	/* a full buffer refuses and is left as it was */
	ly_buf_free(&b);
	b.max = 16;
	assert_int_equal(ly_buf_puts(&b, "x"), 0);
	assert_int_equal(ly_expr_explain(e, &env, &b), LY_ENOMEM);
	assert_string_equal(b.data, "x");
	ly_buf_free(&b);
	ly_expr_destroy(e);
}

/* ---- the rest of the API ---- */

static void test_api(void **state)
{
	ly_expr_t *e, *e2;
	ly_value_t v;
	char err[64];
	t_ctx_t other;
	ly_expr_env_t env2 = env;
	(void)state;

	assert_string_equal(ly_type_name(LY_TYPE_INT), "int");
	assert_string_equal(ly_type_name(LY_TYPE_BOOL), "bool");
	assert_string_equal(ly_type_name(LY_TYPE_STRING), "string");
	assert_string_equal(ly_type_name(LY_TYPE_DATE), "date");
	assert_string_equal(ly_type_name(LY_TYPE_TIME), "time");
	assert_string_equal(ly_type_name(LY_TYPE_DURATION), "duration");
	assert_string_equal(ly_type_name(LY_TYPE_LIST), "list");
	assert_string_equal(ly_type_name(LY_TYPE_ANY), "any");
	assert_string_equal(ly_type_name((ly_type_t)99), "unknown");
	ly_expr_destroy(NULL);

	/* the source is kept exactly (only the given bytes) */
	assert_int_equal(ly_expr_compile(&e, "order.total > 1 trailing", 15, &schema,
					 LY_TYPE_BOOL, NULL, 1, 1, err, sizeof(err)),
			 0);
	assert_string_equal(ly_expr_source(e), "order.total > 1");
	assert_int_equal(ly_expr_type(e), LY_TYPE_BOOL);

	/* one expression, many environments */
	other = T;
	other.total = 1;
	env2.ctx = &other;
	assert_int_equal(ly_expr_eval(e, &env, &v, err, sizeof(err)), 0);
	assert_int_equal(v.u.b, 1);
	assert_int_equal(ly_expr_eval(e, &env2, &v, err, sizeof(err)), 0);
	assert_int_equal(v.u.b, 0);
	ly_expr_destroy(e);

	/* a string result borrows the constant of the expression */
	e = compile("\"gold\"", LY_TYPE_STRING);
	assert_int_equal(ly_expr_eval(e, &env, &v, err, sizeof(err)), 0);
	assert_int_equal(v.u.s.len, 4);
	assert_memory_equal(v.u.s.ptr, "gold", 4);
	ly_expr_destroy(e);
	/* ... or the environment's string */
	e = compile("customer.tier", LY_TYPE_STRING);
	assert_int_equal(ly_expr_eval(e, &env, &v, err, sizeof(err)), 0);
	assert_ptr_equal(v.u.s.ptr, T.tier);
	ly_expr_destroy(e);

	/* no file name: "expr"; a small errstr is truncated, not overrun */
	assert_int_equal(ly_expr_compile(&e, "order.totl", 10, &schema, LY_TYPE_ANY, NULL,
					 2, 3, err, sizeof(err)),
			 LY_EINVAL);
	assert_string_equal(err, "expr:2:3: unknown field \"order.totl\"");
	assert_int_equal(ly_expr_compile(&e, "order.totl", 10, &schema, LY_TYPE_ANY, "f",
					 1, 1, err, 8),
			 LY_EINVAL);
	assert_string_equal(err, "f:1:1: ");
	assert_int_equal(ly_expr_compile(&e, "order.totl", 10, &schema, LY_TYPE_ANY, "f",
					 1, 1, NULL, 0),
			 LY_EINVAL);

	/* the same text compiles to the same behaviour twice */
	e = compile("count(order.items, item.quantity >= 1)", LY_TYPE_INT);
	e2 = compile("count(order.items, item.quantity >= 1)", LY_TYPE_INT);
	assert_int_equal(ly_expr_eval(e, &env, &v, err, sizeof(err)), 0);
	assert_int_equal(v.u.i, 3);
	assert_int_equal(ly_expr_eval(e2, &env, &v, err, sizeof(err)), 0);
	assert_int_equal(v.u.i, 3);
	ly_expr_destroy(e);
	ly_expr_destroy(e2);
}

/* Not a benchmark, a guard: a typical `if` costs well under a microsecond
 * even in the sanitizer build (about 20 ns in a release build). */
static void test_speed(void **state)
{
	static const char *const srcs[] = {
	    "review.verified_purchase and review.has_photo",
	    "order.total >= 250000 and customer.tier == \"gold\"",
	    "customer.order_count == 0",
	};
	(void)state;
	for (size_t k = 0; k < LY_ARRAY_LEN(srcs); k++) {
		ly_expr_t *e = compile(srcs[k], LY_TYPE_BOOL);
		ly_value_t v;
		struct timespec t0, t1;
		const int n = 200000;
		int trues = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n; i++) {
			if (ly_expr_eval(e, &env, &v, NULL, 0) != 0)
				fail();
			trues += v.u.b;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
			     (double)(t1.tv_nsec - t0.tv_nsec)) /
			    n;
		print_message("%-52s %6.1f ns/eval\n", srcs[k], ns);
		assert_int_equal(trues, k == 0 ? 0 : k == 1 ? 0 : n);
		assert_true(ns < 5000.0);
		ly_expr_destroy(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_literals, setup),
	    cmocka_unit_test_setup(test_arithmetic, setup),
	    cmocka_unit_test_setup(test_precedence, setup),
	    cmocka_unit_test_setup(test_compare_int, setup),
	    cmocka_unit_test_setup(test_compare_temporal, setup),
	    cmocka_unit_test_setup(test_date_arithmetic, setup),
	    cmocka_unit_test_setup(test_compare_strings_bools, setup),
	    cmocka_unit_test_setup(test_in, setup),
	    cmocka_unit_test_setup(test_list_functions, setup),
	    cmocka_unit_test_setup(test_list_iteration_stops, setup),
	    cmocka_unit_test_setup(test_absent, setup),
	    cmocka_unit_test_setup(test_short_circuit, setup),
	    cmocka_unit_test_setup(test_eval_errors, setup),
	    cmocka_unit_test_setup(test_eval_env_errors, setup),
	    cmocka_unit_test_setup(test_eval_error_position, setup),
	    cmocka_unit_test_setup(test_errors_names, setup),
	    cmocka_unit_test_setup(test_errors_types, setup),
	    cmocka_unit_test_setup(test_errors_syntax, setup),
	    cmocka_unit_test_setup(test_errors_literals, setup),
	    cmocka_unit_test_setup(test_error_positions, setup),
	    cmocka_unit_test_setup(test_limits, setup),
	    cmocka_unit_test_setup(test_explain, setup),
	    cmocka_unit_test_setup(test_api, setup),
	    cmocka_unit_test_setup(test_speed, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
