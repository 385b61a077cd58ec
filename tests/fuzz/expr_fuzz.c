/*
 * expr_fuzz.c: fuzz target for the expression compiler and interpreter.
 * Any input must compile or be refused with "fuzz:line:col: message"; what
 * compiles must evaluate to its declared type or fail with LY_EINVAL and a
 * positioned message, explain without crashing, and compile again exactly
 * when asked for its own type. Fields include absent optional ones, empty
 * and nested lists, and values at the edges of int64.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "loyalty/expr.h"
#include "loyalty/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	F_TOTAL = 1,
	F_CURRENCY,
	F_ITEMS,
	F_CODES,
	F_NPS,
	F_CSAT,
	F_VERIFIED,
	F_PHOTO,
	F_CONSENT,
	F_TIER,
	F_COUNT,
	F_TIME,
	F_DATE,
	F_SPAN,
	F_BIG,
	F_EMPTY,
	F_I_SKU,
	F_I_CATEGORY,
	F_I_QUANTITY,
	F_I_PRICE,
	F_I_DISCOUNT,
	F_I_TAGS,
};

typedef struct fz_item {
	const char *sku, *category;
	int64_t quantity, unit_price;
	int has_discount;
	int64_t discount;
	const char *tags[3];
	size_t tags_len;
} fz_item_t;

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
    {"survey.csat", LY_TYPE_INT, 1, F_CSAT},
    {"review.verified_purchase", LY_TYPE_BOOL, 0, F_VERIFIED},
    {"review.has_photo", LY_TYPE_BOOL, 0, F_PHOTO},
    {"customer.consent_sms", LY_TYPE_BOOL, 1, F_CONSENT},
    {"customer.tier", LY_TYPE_STRING, 0, F_TIER},
    {"customer.order_count", LY_TYPE_INT, 0, F_COUNT},
    {"event.time", LY_TYPE_TIME, 0, F_TIME},
    {"expiring.date", LY_TYPE_DATE, 0, F_DATE},
    {"test.span", LY_TYPE_DURATION, 0, F_SPAN},
    {"test.big", LY_TYPE_INT, 0, F_BIG},
    {"test.empty", LY_TYPE_LIST, 0, F_EMPTY, LY_TYPE_INT, NULL},
};
static const ly_expr_schema_t schema = {fields, LY_ARRAY_LEN(fields)};

static const fz_item_t items[] = {
    {"tent-1", "outdoor", 2, 150000, 1, 5000, {"camping", "sale"}, 2},
    {"mug-7", "kitchen", 1, 9000, 0, 0, {NULL}, 0},
    {"boot-3", "outdoor", 1, 250000, 0, 0, {"winter"}, 1},
};
static const char *const codes[] = {"SUMMER", "X"};

static int get(void *ctx, int id, const void *item, ly_value_t *out)
{
	const fz_item_t *it = item;
	(void)ctx;
	memset(out, 0, sizeof(*out));
	switch (id) {
	case F_TOTAL:
		out->type = LY_TYPE_INT;
		out->u.i = 409000;
		return 0;
	case F_CURRENCY:
		out->type = LY_TYPE_STRING;
		out->u.s.ptr = "TRY";
		out->u.s.len = 3;
		return 0;
	case F_CODES: /* an element of order.coupon_codes */
	case F_I_TAGS: {
		const char *s = *(const char *const *)item;
		out->type = LY_TYPE_STRING;
		out->u.s.ptr = s;
		out->u.s.len = strlen(s);
		return 0;
	}
	case F_NPS:
		return LY_ENOTFOUND;
	case F_CSAT:
		out->type = LY_TYPE_INT;
		out->u.i = 4;
		return 0;
	case F_VERIFIED:
	case F_PHOTO:
		out->type = LY_TYPE_BOOL;
		out->u.b = id == F_VERIFIED;
		return 0;
	case F_CONSENT:
		return LY_ENOTFOUND;
	case F_TIER:
		out->type = LY_TYPE_STRING;
		out->u.s.ptr = "gold";
		out->u.s.len = 4;
		return 0;
	case F_COUNT:
		out->type = LY_TYPE_INT;
		out->u.i = 0;
		return 0;
	case F_TIME:
		out->type = LY_TYPE_TIME;
		out->u.i = INT64_C(1795341600000000);
		return 0;
	case F_DATE:
		out->type = LY_TYPE_DATE;
		out->u.i = 20605;
		return 0;
	case F_SPAN:
		out->type = LY_TYPE_DURATION;
		out->u.i = INT64_C(36) * 3600 * 1000000;
		return 0;
	case F_BIG:
		out->type = LY_TYPE_INT;
		out->u.i = INT64_MAX;
		return 0;
	case F_EMPTY:
		out->type = LY_TYPE_INT;
		out->u.i = 0;
		return 0;
	case F_I_SKU:
	case F_I_CATEGORY: {
		const char *s = id == F_I_SKU ? it->sku : it->category;
		out->type = LY_TYPE_STRING;
		out->u.s.ptr = s;
		out->u.s.len = strlen(s);
		return 0;
	}
	case F_I_QUANTITY:
		out->type = LY_TYPE_INT;
		out->u.i = it->quantity;
		return 0;
	case F_I_PRICE:
		out->type = LY_TYPE_INT;
		out->u.i = it->unit_price;
		return 0;
	case F_I_DISCOUNT:
		if (!it->has_discount)
			return LY_ENOTFOUND;
		out->type = LY_TYPE_INT;
		out->u.i = it->discount;
		return 0;
	}
	LY_ASSERT(0 && "unknown field");
	return LY_EINVAL;
}

static size_t list_len(void *ctx, int id, const void *item)
{
	(void)ctx;
	switch (id) {
	case F_ITEMS:
		return LY_ARRAY_LEN(items);
	case F_CODES:
		return LY_ARRAY_LEN(codes);
	case F_I_TAGS:
		return ((const fz_item_t *)item)->tags_len;
	default:
		return 0;
	}
}

static const void *list_item(void *ctx, int id, size_t index, const void *item)
{
	(void)ctx;
	switch (id) {
	case F_ITEMS:
		LY_ASSERT(index < LY_ARRAY_LEN(items));
		return &items[index];
	case F_CODES:
		LY_ASSERT(index < LY_ARRAY_LEN(codes));
		return &codes[index];
	case F_I_TAGS:
		LY_ASSERT(index < ((const fz_item_t *)item)->tags_len);
		return &((const fz_item_t *)item)->tags[index];
	default:
		LY_ASSERT(0 && "not a list");
		return NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ly_expr_env_t env = {NULL, get, list_len, list_item};
	ly_expr_t *e = NULL, *again = NULL;
	ly_buf_t buf = {0};
	ly_value_t v;
	char errstr[512];
	int rc;

	buf.max = 64 * 1024;
	rc = ly_expr_compile(&e, (const char *)data, size, &schema, LY_TYPE_ANY, "fuzz",
			     3, 7, errstr, sizeof(errstr));
	if (rc) {
		LY_ASSERT(e == NULL && rc == LY_EINVAL);
		LY_ASSERT(strncmp(errstr, "fuzz:", 5) == 0);
		return 0;
	}
	LY_ASSERT(e && strlen(ly_expr_source(e)) <= size);
	ly_type_t type = ly_expr_type(e);
	LY_ASSERT(type >= LY_TYPE_INT && type <= LY_TYPE_DURATION);

	rc = ly_expr_eval(e, &env, &v, errstr, sizeof(errstr));
	LY_ASSERT(rc == 0 || rc == LY_EINVAL);
	if (rc == 0)
		LY_ASSERT(v.type == type && (v.absent == 0 || v.absent == 1));
	else
		LY_ASSERT(strncmp(errstr, "fuzz:", 5) == 0);

	/* Evaluation and explain are deterministic. */
	ly_value_t v2;
	int rc2 = ly_expr_eval(e, &env, &v2, errstr, sizeof(errstr));
	LY_ASSERT(rc2 == rc);
	if (rc == 0)
		LY_ASSERT(v2.absent == v.absent &&
			  (type == LY_TYPE_STRING
			       ? v2.u.s.len == v.u.s.len && v2.u.s.ptr == v.u.s.ptr
			   : type == LY_TYPE_BOOL ? v2.u.b == v.u.b
						  : v2.u.i == v.u.i));

	rc = ly_expr_explain(e, &env, &buf);
	LY_ASSERT(rc == 0 && buf.len > 0 && strstr(buf.data, " -> "));
	size_t first_len = buf.len;
	rc = ly_expr_explain(e, &env, &buf);
	LY_ASSERT(rc == 0 && buf.len == 2 * first_len &&
		  memcmp(buf.data, buf.data + first_len, first_len) == 0);
	ly_buf_free(&buf);

	/* Asking for its own type compiles; asking for another refuses. */
	rc = ly_expr_compile(&again, (const char *)data, size, &schema, type, "fuzz", 1,
			     1, errstr, sizeof(errstr));
	LY_ASSERT(rc == 0 && ly_expr_type(again) == type);
	ly_expr_destroy(again);
	again = NULL;
	ly_type_t other = type == LY_TYPE_BOOL ? LY_TYPE_INT : LY_TYPE_BOOL;
	rc = ly_expr_compile(&again, (const char *)data, size, &schema, other, "fuzz", 1,
			     1, errstr, sizeof(errstr));
	LY_ASSERT(rc == LY_EINVAL && again == NULL &&
		  strstr(errstr, ": expression must be ") != NULL);
	ly_expr_destroy(e);
	return 0;
}
