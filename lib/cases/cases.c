/*
 * cases.c: a shop's own tests of its program (include/loyalty/cases.h).
 *
 * Each event of a case is written as YAML, turned into the CloudEvents
 * JSON a shop would publish and read back by the same decoder the worker
 * uses, so a case cannot pass with an event loyaltyd would reject. The
 * events then go through ly_engine_apply on one in-memory customer, and
 * what came out (balances, points per rule, profile, codes, offers,
 * triggers) is compared with what the case expects.
 */
#include "loyalty/cases.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/event.h"
#include "../program/yamlwalk.h"

#define CASES_FILE_MAX_BYTES (16 * 1024 * 1024)
#define CODE_SECRET "loyaltyctl-test"

typedef struct loader {
	const char *name; /* the file, for messages */
	const ly_program_t *program;
	ly_arena_t *arena;
	char *errstr;
	size_t errstr_size;
} loader_t;

static int fail_at(loader_t *ld, const yw_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail_at(loader_t *ld, const yw_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = yw_verr(ld->errstr, ld->errstr_size, ld->name, n->line, n->col,
			 fmt, ap);
	va_end(ap);
	return rc;
}

static int want_kind(loader_t *ld, const yw_node_t *n, yw_kind_t kind,
		     const char *what)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	static const char *const names[] = {"a scalar", "a mapping", "a sequence"};
	if (n->kind == kind && !(kind == YW_SCALAR && yw_is_null(n)))
		return 0;
	return fail_at(ld, n, "%s: expected %s, got %s", what, names[kind],
		       yw_describe(d, sizeof(d), n));
}

static int get_i64(loader_t *ld, const yw_node_t *n, const char *what,
		   int64_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SCALAR || n->quoted || yw_parse_i64(n->str, n->len, out))
		return fail_at(ld, n, "%s: expected an integer, got %s", what,
			       yw_describe(d, sizeof(d), n));
	return 0;
}

static int get_bool(loader_t *ld, const yw_node_t *n, const char *what,
		    int *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind == YW_SCALAR && !n->quoted && yw_eq(n, "true"))
		*out = 1;
	else if (n->kind == YW_SCALAR && !n->quoted && yw_eq(n, "false"))
		*out = 0;
	else
		return fail_at(ld, n, "%s: expected true or false, got %s", what,
			       yw_describe(d, sizeof(d), n));
	return 0;
}

/* A scalar's text (the tree lives in the arena); "" may be written "". */
static int get_str(loader_t *ld, const yw_node_t *n, const char *what,
		   const char **out)
{
	if (n->kind == YW_SCALAR && n->quoted) {
		*out = n->str;
		return 0;
	}
	int rc = want_kind(ld, n, YW_SCALAR, what);
	if (rc)
		return rc;
	*out = n->str;
	return 0;
}

/* The index of the rule named by n. */
static int get_rule(loader_t *ld, const yw_node_t *n, const char *what,
		    size_t *out)
{
	const char *id;
	char q[YW_QUOTE_MAX_BYTES + 8];
	int rc = get_str(ld, n, what, &id);
	if (rc)
		return rc;
	for (size_t i = 0; i < ld->program->rules_len; i++)
		if (strcmp(ld->program->rules[i].id, id) == 0) {
			*out = i;
			return 0;
		}
	return fail_at(ld, n, "%s: the program has no rule %s", what,
		       yw_quote(q, sizeof(q), n->str, n->len));
}

/* ---- the customer state ---- */

/* limits[].rule: a rule id, or offers.email / offers.sms for the offer
 * caps' counts. */
static int get_limit(loader_t *ld, const yw_node_t *n, size_t *out)
{
	const char *name;
	int rc = get_str(ld, n, "limits[].rule", &name);
	if (rc)
		return rc;
	const int64_t i = ly_limit_index(ld->program, name);
	if (i >= (int64_t)ld->program->rules_len && ld->program->offer_cap_count > 0) {
		*out = (size_t)i;
		return 0;
	}
	return get_rule(ld, n, "limits[].rule", out);
}

static int load_limits(loader_t *ld, const yw_node_t *seq,
		       ly_customer_state_t *cs)
{
	int rc = want_kind(ld, seq, YW_SEQ, "limits");
	if (rc)
		return rc;
	for (const yw_node_t *item = seq->first; item; item = item->next) {
		enum { L_RULE, L_PERIOD, L_COUNT, L__N };
		yw_field_t f[L__N] = {[L_RULE] = {"rule"}, [L_PERIOD] = {"period"},
				      [L_COUNT] = {"count"}};
		const char *period;
		size_t ri;
		int64_t count;
		if ((rc = want_kind(ld, item, YW_MAP, "limits[]")) ||
		    (rc = yw_map_fields(item, f, L__N, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		for (int k = 0; k < L__N; k++)
			if (!f[k].value)
				return fail_at(ld, item, "limits[]: \"%s\" is required",
					       f[k].key);
		if ((rc = get_limit(ld, f[L_RULE].value, &ri)) ||
		    (rc = get_str(ld, f[L_PERIOD].value, "limits[].period", &period)) ||
		    (rc = get_i64(ld, f[L_COUNT].value, "limits[].count", &count)))
			return rc;
		if (strlen(period) >= LY_PERIOD_KEY_MAX)
			return fail_at(ld, f[L_PERIOD].value,
				       "limits[].period: a period key such as 2026-11-24, 2026-W48, 2026-11, 2026 or ever");
		if (!ly_customer_limit_append(cs, (uint32_t)ri, period, count, ld->arena))
			return LY_ENOMEM;
	}
	return 0;
}

static int load_budgets(loader_t *ld, const yw_node_t *map,
			ly_engine_shared_t *shared)
{
	int rc = want_kind(ld, map, YW_MAP, "budgets");
	if (rc)
		return rc;
	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		size_t ri;
		if ((rc = get_rule(ld, k, "budgets", &ri)) ||
		    (rc = get_i64(ld, k->next, "budgets", &shared->budget_spent[ri])))
			return rc;
		if (ld->program->rules[ri].budget_points == 0)
			return fail_at(ld, k, "budgets: rule \"%s\" has no budget",
				       ld->program->rules[ri].id);
	}
	return 0;
}

enum {
	C_ID, C_AVAILABLE, C_PENDING, C_ORDERS, C_LIFETIME, C_WINDOW, C_TIER,
	C_SEGMENT, C_LAST_ORDER, C_CLV, C_TOP, C_LOCALE, C_FIRST_NAME,
	C_CONSENT_EMAIL, C_CONSENT_SMS, C_BIRTH_DATE, C_LIMITS, C_BUDGETS, C__N
};

/* The customer mapping; budgets_ok: the `budgets` key is allowed (a state
 * file; a case has its own). */
static int load_customer(loader_t *ld, const yw_node_t *map,
			 ly_customer_state_t *cs, ly_engine_shared_t *shared,
			 int budgets_ok)
{
	yw_field_t f[C__N] = {
		[C_ID] = {"id"}, [C_AVAILABLE] = {"points_available"},
		[C_PENDING] = {"points_pending"}, [C_ORDERS] = {"order_count"},
		[C_LIFETIME] = {"lifetime_spend"}, [C_WINDOW] = {"window_spend"},
		[C_TIER] = {"tier"}, [C_SEGMENT] = {"segment"},
		[C_LAST_ORDER] = {"last_order"}, [C_CLV] = {"clv"},
		[C_TOP] = {"top_category"}, [C_LOCALE] = {"locale"},
		[C_FIRST_NAME] = {"first_name"}, [C_CONSENT_EMAIL] = {"consent_email"},
		[C_CONSENT_SMS] = {"consent_sms"}, [C_BIRTH_DATE] = {"birth_date"},
		[C_LIMITS] = {"limits"}, [C_BUDGETS] = {"budgets"},
	};
	char q[YW_QUOTE_MAX_BYTES + 8];
	int rc = want_kind(ld, map, YW_MAP, "customer");
	if (rc || (rc = yw_map_fields(map, f, budgets_ok ? C__N : C__N - 1,
				      ld->name, ld->errstr, ld->errstr_size)))
		return rc;
	const yw_node_t *v;
	if ((v = f[C_ID].value) && (rc = get_str(ld, v, "id", &cs->customer_id)))
		return rc;
	struct { int key; const char *what; int64_t *out; } ints[] = {
		{C_AVAILABLE, "points_available", &cs->available},
		{C_PENDING, "points_pending", &cs->pending},
		{C_ORDERS, "order_count", &cs->order_count},
		{C_LIFETIME, "lifetime_spend", &cs->lifetime_spend},
		{C_WINDOW, "window_spend", &cs->window_spend},
		{C_CLV, "clv", &cs->clv},
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(ints); i++)
		if ((v = f[ints[i].key].value) &&
		    (rc = get_i64(ld, v, ints[i].what, ints[i].out)))
			return rc;
	/* a window spend given without its orders: the engine keeps it as
	 * given, adding the orders of the case */
	cs->orders_partial = f[C_WINDOW].value != NULL;
	if ((v = f[C_TIER].value)) {
		const char *name;
		size_t i;
		if ((rc = get_str(ld, v, "tier", &name)))
			return rc;
		for (i = 0; i < ld->program->tiers_len; i++)
			if (strcmp(ld->program->tiers[i].name, name) == 0)
				break;
		if (i == ld->program->tiers_len)
			return fail_at(ld, v, "tier: the program has no tier %s",
				       yw_quote(q, sizeof(q), v->str, v->len));
		cs->tier = i;
	}
	if ((v = f[C_SEGMENT].value)) {
		const char *name;
		if ((rc = get_str(ld, v, "segment", &name)))
			return rc;
		if (ly_segment_parse(name, &cs->segment))
			return fail_at(ld, v, "segment: expected new, active, at_risk or lost, got %s",
				       yw_quote(q, sizeof(q), v->str, v->len));
	}
	if ((v = f[C_LAST_ORDER].value)) {
		const char *s;
		if ((rc = get_str(ld, v, "last_order", &s)))
			return rc;
		if (ly_time_parse_rfc3339(s, &cs->last_order_us))
			return fail_at(ld, v, "last_order: expected an RFC 3339 time, got %s",
				       yw_quote(q, sizeof(q), v->str, v->len));
		cs->has_last_order = 1;
	}
	if ((v = f[C_TOP].value) && (rc = get_str(ld, v, "top_category", &cs->top_category)))
		return rc;
	if ((v = f[C_LOCALE].value) && (rc = get_str(ld, v, "locale", &cs->locale)))
		return rc;
	if ((v = f[C_FIRST_NAME].value) &&
	    (rc = get_str(ld, v, "first_name", &cs->first_name)))
		return rc;
	if ((v = f[C_CONSENT_EMAIL].value) &&
	    (rc = get_bool(ld, v, "consent_email", &cs->consent_email)))
		return rc;
	if ((v = f[C_CONSENT_SMS].value) &&
	    (rc = get_bool(ld, v, "consent_sms", &cs->consent_sms)))
		return rc;
	if ((v = f[C_BIRTH_DATE].value)) {
		const char *s;
		int y;
		if ((rc = get_str(ld, v, "birth_date", &s)))
			return rc;
		if (ly_date_parse(s, &y, &cs->birth_month, &cs->birth_day))
			return fail_at(ld, v, "birth_date: expected a date YYYY-MM-DD, got %s",
				       yw_quote(q, sizeof(q), v->str, v->len));
	}
	if ((v = f[C_LIMITS].value) && (rc = load_limits(ld, v, cs)))
		return rc;
	if (budgets_ok && (v = f[C_BUDGETS].value) && (rc = load_budgets(ld, v, shared)))
		return rc;
	return 0;
}

static int parse_file(yw_node_t **root, loader_t *ld, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	int rc = ly_read_file(path, CASES_FILE_MAX_BYTES, &text, &len, ld->errstr,
			      ld->errstr_size);
	if (rc)
		return LY_EIO;
	rc = yw_parse(root, ld->arena, path, text, len, ld->errstr, ld->errstr_size);
	free(text);
	if (!rc && !*root) {
		snprintf(ld->errstr, ld->errstr_size, "%s:1:1: the file is empty", path);
		rc = LY_EINVAL;
	}
	return rc;
}

int ly_customer_state_load(ly_customer_state_t *cs, ly_engine_shared_t *shared,
			   const ly_program_t *program, const char *path,
			   ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	loader_t ld = {path, program, arena, errstr, errstr_size};
	yw_node_t *root;
	int rc = parse_file(&root, &ld, path);
	if (rc)
		return rc;
	return load_customer(&ld, root, cs, shared, 1);
}

/* ---- events ---- */

/* YAML to JSON: plain integers, true, false and null keep their type;
 * everything else is a string. Numbers go through as their text. */
static cJSON *to_json(const yw_node_t *n)
{
	int64_t i;
	if (n->kind == YW_MAP) {
		cJSON *o = cJSON_CreateObject();
		for (const yw_node_t *k = n->first; o && k; k = k->next->next) {
			cJSON *v = to_json(k->next);
			if (!v || !cJSON_AddItemToObject(o, k->str, v)) {
				cJSON_Delete(v);
				cJSON_Delete(o);
				return NULL;
			}
		}
		return o;
	}
	if (n->kind == YW_SEQ) {
		cJSON *a = cJSON_CreateArray();
		for (const yw_node_t *it = n->first; a && it; it = it->next) {
			cJSON *v = to_json(it);
			if (!v || !cJSON_AddItemToArray(a, v)) {
				cJSON_Delete(v);
				cJSON_Delete(a);
				return NULL;
			}
		}
		return a;
	}
	if (n->quoted)
		return cJSON_CreateString(n->str);
	if (yw_is_null(n))
		return cJSON_CreateNull();
	if (yw_eq(n, "true") || yw_eq(n, "false"))
		return cJSON_CreateBool(yw_eq(n, "true"));
	if (yw_parse_i64(n->str, n->len, &i) == 0)
		return cJSON_CreateRaw(n->str);
	return cJSON_CreateString(n->str);
}

/* One event of case number ci, written at node n, decoded into *ev. */
static int load_event(loader_t *ld, const yw_node_t *n, size_t ci, size_t ei,
		      const char *customer_id, ly_event_t *ev)
{
	int rc = want_kind(ld, n, YW_MAP, "events[]");
	if (rc)
		return rc;
	cJSON *root = to_json(n);
	char *text = NULL;
	char id[64];
	if (!root)
		return LY_ENOMEM;
	snprintf(id, sizeof(id), "%zu-%zu", ci + 1, ei + 1);
	cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
	int ok = (cJSON_HasObjectItem(root, "specversion") ||
		  cJSON_AddStringToObject(root, "specversion", "1.0")) &&
		 (cJSON_HasObjectItem(root, "id") ||
		  cJSON_AddStringToObject(root, "id", id)) &&
		 (cJSON_HasObjectItem(root, "source") ||
		  cJSON_AddStringToObject(root, "source", "loyaltyctl-test")) &&
		 (!cJSON_IsObject(data) || cJSON_HasObjectItem(data, "customer_id") ||
		  cJSON_AddStringToObject(data, "customer_id", customer_id));
	if (ok)
		text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		return LY_ENOMEM;
	ly_reject_t why;
	char msg[512];
	rc = ly_event_decode_trigger(ev, &why, msg, sizeof(msg), text, strlen(text),
				     ld->arena);
	free(text);
	if (rc == LY_ENOMEM)
		return rc;
	if (rc)
		return fail_at(ld, n, "events[%zu]: rejected (%s): %s", ei,
			       ly_reject_code(why), msg);
	if (strcmp(ev->customer_id, customer_id) != 0)
		return fail_at(ld, n, "events[%zu]: data.customer_id is \"%s\"; a case is about one customer, \"%s\"",
			       ei, ev->customer_id, customer_id);
	return 0;
}

/* ---- running a case ---- */

/* What a case's events produced. */
typedef struct outcome {
	ly_customer_state_t cs;
	int64_t *earned; /* per rule index */
	unsigned char *earned_any;
	ly_issued_code_t *codes;
	size_t codes_len, codes_cap;
	ly_offer_made_t *offers;
	size_t offers_len, offers_cap;
	const char **triggers;
	size_t triggers_len, triggers_cap;
	const char *error; /* an evaluation error, or NULL */
} outcome_t;

/* Appends n items of size from src to *dst (len, cap), growing in arena. */
static int append(ly_arena_t *arena, void **dst, size_t *len, size_t *cap,
		  const void *src, size_t n, size_t size)
{
	if (*len + n > *cap) {
		size_t c = (*len + n) * 2;
		void *grown = ly_arena_alloc(arena, c * size);
		if (!grown)
			return LY_ENOMEM;
		if (*len)
			memcpy(grown, *dst, *len * size);
		*dst = grown;
		*cap = c;
	}
	if (n)
		memcpy((char *)*dst + *len * size, src, n * size);
	*len += n;
	return 0;
}

static int collect(loader_t *ld, outcome_t *o, const ly_effects_t *fx)
{
	const ly_program_t *p = ld->program;
	for (size_t i = 0; i < fx->postings_len; i++) {
		const ly_posting_t *ps = &fx->postings[i];
		for (size_t r = 0; r < p->rules_len; r++)
			if (ps->rule_id == p->rules[r].id) {
				o->earned[r] += ps->delta_available + ps->delta_pending;
				o->earned_any[r] = 1;
			}
	}
	/* effects live in the arena until the case is over, so the copies
	 * may keep pointing into them (an offer at its code) */
	if (append(ld->arena, (void **)&o->codes, &o->codes_len, &o->codes_cap,
		   fx->codes, fx->codes_len, sizeof(*fx->codes)) ||
	    append(ld->arena, (void **)&o->offers, &o->offers_len, &o->offers_cap,
		   fx->offers, fx->offers_len, sizeof(*fx->offers)))
		return LY_ENOMEM;
	for (size_t i = 0; i < fx->triggers_len; i++) {
		const char *name = ly_event_name(&fx->triggers[i]);
		if (append(ld->arena, (void **)&o->triggers, &o->triggers_len,
			   &o->triggers_cap, &name, 1, sizeof(name)))
			return LY_ENOMEM;
	}
	return 0;
}

/* Applies ev and the triggers it causes. */
static int apply(loader_t *ld, outcome_t *o, ly_engine_shared_t *shared,
		 const ly_event_t *ev)
{
	ly_effects_t fx;
	char why[512];
	int rc = ly_engine_apply(&fx, ld->program, shared, &o->cs, ev, ld->arena,
				 why, sizeof(why));
	if (rc == LY_EINVAL) {
		o->error = ly_arena_printf(ld->arena, "event %s: %s", ev->id, why);
		return o->error ? 0 : LY_ENOMEM;
	}
	if (rc || (rc = collect(ld, o, &fx)))
		return rc;
	for (size_t i = 0; i < fx.triggers_len && !o->error; i++)
		if ((rc = apply(ld, o, shared, &fx.triggers[i])))
			return rc;
	return 0;
}

/* ---- expectations ---- */

typedef struct diffs {
	ly_buf_t *report;
	size_t count;
} diffs_t;

static void differ(diffs_t *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void differ(diffs_t *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	ly_buf_printf(d->report, "  %s\n", line);
	d->count++;
}

static const char *kind_name(ly_issue_kind_t k)
{
	return k == LY_ISSUE_GIFT_CARD ? "gift_card" : "discount";
}

static void channels_text(char *buf, size_t size, unsigned channels)
{
	snprintf(buf, size, "%s%s%s", channels & LY_CHANNEL_EMAIL ? "email" : "",
		 channels == (LY_CHANNEL_EMAIL | LY_CHANNEL_SMS) ? ", " : "",
		 channels & LY_CHANNEL_SMS ? "sms" : "");
}

/* A value as a case writes it: 42, true, text, 2026-06-01, RFC 3339. */
static void value_text(char *buf, size_t size, const ly_value_t *v)
{
	int y, m, d;
	if (v->absent) {
		snprintf(buf, size, "(absent)");
		return;
	}
	switch (v->type) {
	case LY_TYPE_BOOL:
		snprintf(buf, size, "%s", v->u.b ? "true" : "false");
		return;
	case LY_TYPE_STRING:
		snprintf(buf, size, "%.*s", (int)v->u.s.len, v->u.s.ptr);
		return;
	case LY_TYPE_DATE:
		ly_civil_from_days(v->u.i, &y, &m, &d);
		snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
		return;
	case LY_TYPE_TIME:
		ly_time_format_rfc3339(v->u.i, buf, size);
		return;
	default:
		snprintf(buf, size, "%" PRId64, v->u.i);
		return;
	}
}

static int check_int(loader_t *ld, diffs_t *d, const yw_node_t *n,
		     const char *what, int64_t got)
{
	int64_t want;
	int rc = get_i64(ld, n, what, &want);
	if (!rc && want != got)
		differ(d, "%s: expected %" PRId64 ", got %" PRId64, what, want, got);
	return rc;
}

static int check_str(loader_t *ld, diffs_t *d, const yw_node_t *n,
		     const char *what, const char *got)
{
	const char *want;
	int rc = get_str(ld, n, what, &want);
	if (!rc && strcmp(want, got) != 0)
		differ(d, "%s: expected \"%s\", got \"%s\"", what, want, got);
	return rc;
}

static int check_points(loader_t *ld, diffs_t *d, const yw_node_t *map,
			const outcome_t *o)
{
	const ly_program_t *p = ld->program;
	unsigned char *listed = ly_arena_alloc(ld->arena, p->rules_len + 1);
	int rc = want_kind(ld, map, YW_MAP, "points");
	if (rc)
		return rc;
	if (!listed)
		return LY_ENOMEM;
	memset(listed, 0, p->rules_len + 1);
	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		size_t ri;
		char what[128];
		if ((rc = get_rule(ld, k, "points", &ri)))
			return rc;
		listed[ri] = 1;
		snprintf(what, sizeof(what), "points[%s]", p->rules[ri].id);
		if ((rc = check_int(ld, d, k->next, what, o->earned[ri])))
			return rc;
	}
	for (size_t r = 0; r < p->rules_len; r++)
		if (!listed[r] && o->earned_any[r])
			differ(d, "points[%s]: expected none (not listed), got %" PRId64,
			       p->rules[r].id, o->earned[r]);
	return 0;
}

static int check_codes(loader_t *ld, diffs_t *d, const yw_node_t *seq,
		       const outcome_t *o)
{
	int rc = want_kind(ld, seq, YW_SEQ, "codes");
	if (rc)
		return rc;
	if (seq->count != o->codes_len)
		differ(d, "codes: expected %zu, got %zu", seq->count, o->codes_len);
	size_t i = 0;
	for (const yw_node_t *it = seq->first; it; it = it->next, i++) {
		enum { K_RULE, K_KIND, K_AMOUNT, K_PERCENT, K_MIN, K_DAYS, K__N };
		yw_field_t f[K__N] = {[K_RULE] = {"rule"}, [K_KIND] = {"kind"},
				      [K_AMOUNT] = {"amount"}, [K_PERCENT] = {"percent"},
				      [K_MIN] = {"min_order"}, [K_DAYS] = {"valid_days"}};
		char what[64];
		if ((rc = want_kind(ld, it, YW_MAP, "codes[]")) ||
		    (rc = yw_map_fields(it, f, K__N, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (i >= o->codes_len)
			continue;
		const ly_issued_code_t *c = &o->codes[i];
		struct { int k; const char *name; int64_t got; } ints[] = {
			{K_AMOUNT, "amount", c->amount},
			{K_PERCENT, "percent", c->percent},
			{K_MIN, "min_order", c->min_order},
			{K_DAYS, "valid_days", (c->valid_until_us - c->issued_at_us) / LY_US_PER_DAY},
		};
		if (f[K_RULE].value) {
			snprintf(what, sizeof(what), "codes[%zu].rule", i);
			if ((rc = check_str(ld, d, f[K_RULE].value, what, c->rule_id)))
				return rc;
		}
		if (f[K_KIND].value) {
			snprintf(what, sizeof(what), "codes[%zu].kind", i);
			if ((rc = check_str(ld, d, f[K_KIND].value, what, kind_name(c->kind))))
				return rc;
		}
		for (size_t k = 0; k < LY_ARRAY_LEN(ints); k++) {
			if (!f[ints[k].k].value)
				continue;
			snprintf(what, sizeof(what), "codes[%zu].%s", i, ints[k].name);
			if ((rc = check_int(ld, d, f[ints[k].k].value, what, ints[k].got)))
				return rc;
		}
	}
	return 0;
}

/* A var loyaltyd gives every offer (docs/offers.md), as text: 1, or 0
 * when name is none of those a case can check. */
static int builtin_var(char *buf, size_t size, const ly_program_t *p,
		       const ly_offer_made_t *m, const yw_node_t *name)
{
	if (yw_eq(name, "first_name") && m->first_name)
		snprintf(buf, size, "%s", m->first_name);
	else if (yw_eq(name, "points_available"))
		snprintf(buf, size, "%" PRId64, m->points_available);
	else if (yw_eq(name, "points_pending"))
		snprintf(buf, size, "%" PRId64, m->points_pending);
	else if (yw_eq(name, "points_earned") && m->rule->has_earn)
		snprintf(buf, size, "%" PRId64, m->points_earned);
	else if (yw_eq(name, "tier"))
		snprintf(buf, size, "%s", m->tier < p->tiers_len ? p->tiers[m->tier].name : "");
	else if (yw_eq(name, "top_category"))
		snprintf(buf, size, "%s", m->top_category);
	else
		return 0;
	return 1;
}

/*
 * An offer's `suppressed: {channel: reason}` or (times) `send_after:
 * {channel: time}`: every channel of the offer that has one must be
 * listed with it, and no other.
 */
static int check_sends(loader_t *ld, diffs_t *d, const yw_node_t *map, size_t i,
		       const ly_offer_made_t *m, int times)
{
	const char *key = times ? "send_after" : "suppressed";
	int rc = want_kind(ld, map, YW_MAP, key);
	if (rc)
		return rc;
	for (const yw_node_t *k = map->first; k; k = k->next->next)
		if (!yw_eq(k, "email") && !yw_eq(k, "sms"))
			return fail_at(ld, k, "%s: expected email or sms", key);
	for (size_t c = 0; c < m->sends_len; c++) {
		const ly_offer_send_t *s = &m->sends[c];
		const char *name = s->channel == LY_CHANNEL_SMS ? "sms" : "email";
		char got[48] = "", what[128];
		if (times && s->send_after_us)
			ly_time_format_rfc3339(s->send_after_us, got, sizeof(got));
		else if (!times && s->outcome != LY_OFFER_SENT)
			snprintf(got, sizeof(got), "%s", ly_offer_outcome_name(s->outcome));
		const yw_node_t *want = NULL;
		for (const yw_node_t *k = map->first; k; k = k->next->next)
			if (yw_eq(k, name))
				want = k->next;
		snprintf(what, sizeof(what), "offers[%zu].%s.%s", i, key, name);
		if (want && (rc = check_str(ld, d, want, what, got[0] ? got : "(none)")))
			return rc;
		if (!want && got[0])
			differ(d, "%s: expected none, got %s", what, got);
	}
	return 0;
}

static int check_offers(loader_t *ld, diffs_t *d, const yw_node_t *seq,
			const outcome_t *o)
{
	int rc = want_kind(ld, seq, YW_SEQ, "offers");
	if (rc)
		return rc;
	if (seq->count != o->offers_len)
		differ(d, "offers: expected %zu, got %zu", seq->count, o->offers_len);
	size_t i = 0;
	for (const yw_node_t *it = seq->first; it; it = it->next, i++) {
		enum {
			O_RULE, O_TEMPLATE, O_CHANNELS, O_SUPPRESSED, O_SEND_AFTER,
			O_LOCALE, O_CODE, O_POINTS, O_VARS, O__N
		};
		yw_field_t f[O__N] = {[O_RULE] = {"rule"}, [O_TEMPLATE] = {"template"},
				      [O_CHANNELS] = {"channels"},
				      [O_SUPPRESSED] = {"suppressed"},
				      [O_SEND_AFTER] = {"send_after"}, [O_LOCALE] = {"locale"},
				      [O_CODE] = {"code"}, [O_POINTS] = {"points_earned"},
				      [O_VARS] = {"vars"}};
		char what[128];
		if ((rc = want_kind(ld, it, YW_MAP, "offers[]")) ||
		    (rc = yw_map_fields(it, f, O__N, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (i >= o->offers_len)
			continue;
		const ly_offer_made_t *m = &o->offers[i];
		if (f[O_RULE].value) {
			snprintf(what, sizeof(what), "offers[%zu].rule", i);
			if ((rc = check_str(ld, d, f[O_RULE].value, what, m->rule_id)))
				return rc;
		}
		if (f[O_TEMPLATE].value) {
			snprintf(what, sizeof(what), "offers[%zu].template", i);
			if ((rc = check_str(ld, d, f[O_TEMPLATE].value, what, m->template_id)))
				return rc;
		}
		if (f[O_CHANNELS].value) {
			const yw_node_t *ch = f[O_CHANNELS].value;
			unsigned want = 0;
			if ((rc = want_kind(ld, ch, YW_SEQ, "channels")))
				return rc;
			for (const yw_node_t *c = ch->first; c; c = c->next) {
				if (yw_eq(c, "email"))
					want |= LY_CHANNEL_EMAIL;
				else if (yw_eq(c, "sms"))
					want |= LY_CHANNEL_SMS;
				else
					return fail_at(ld, c, "channels: expected email or sms");
			}
			unsigned sent = 0;
			for (size_t k = 0; k < m->sends_len; k++)
				if (m->sends[k].outcome == LY_OFFER_SENT)
					sent |= m->sends[k].channel;
			if (want != sent) {
				char a[32], b[32];
				channels_text(a, sizeof(a), want);
				channels_text(b, sizeof(b), sent);
				differ(d, "offers[%zu].channels: expected [%s], got [%s]", i, a, b);
			}
		}
		if (f[O_SUPPRESSED].value &&
		    (rc = check_sends(ld, d, f[O_SUPPRESSED].value, i, m, 0)))
			return rc;
		if (f[O_SEND_AFTER].value &&
		    (rc = check_sends(ld, d, f[O_SEND_AFTER].value, i, m, 1)))
			return rc;
		if (f[O_LOCALE].value) {
			snprintf(what, sizeof(what), "offers[%zu].locale", i);
			if ((rc = check_str(ld, d, f[O_LOCALE].value, what, m->locale)))
				return rc;
		}
		if (f[O_CODE].value) {
			int want;
			if ((rc = get_bool(ld, f[O_CODE].value, "code", &want)))
				return rc;
			if (want != (m->code != NULL))
				differ(d, "offers[%zu].code: expected %s, got %s", i,
				       want ? "a code" : "none", m->code ? "a code" : "none");
		}
		if (f[O_POINTS].value) {
			snprintf(what, sizeof(what), "offers[%zu].points_earned", i);
			if ((rc = check_int(ld, d, f[O_POINTS].value, what, m->points_earned)))
				return rc;
		}
		if (f[O_VARS].value) {
			const yw_node_t *vars = f[O_VARS].value;
			if ((rc = want_kind(ld, vars, YW_MAP, "vars")))
				return rc;
			for (const yw_node_t *k = vars->first; k; k = k->next->next) {
				const ly_offer_value_t *val = NULL;
				char got[256];
				for (size_t v = 0; v < m->vars_len; v++)
					if (yw_eq(k, m->vars[v].name))
						val = &m->vars[v];
				if (val)
					value_text(got, sizeof(got), &val->value);
				else if (!builtin_var(got, sizeof(got), ld->program, m, k))
					return fail_at(ld, k, "vars: the offer has no variable \"%s\"",
						       k->str);
				snprintf(what, sizeof(what), "offers[%zu].vars.%s", i, k->str);
				if ((rc = check_str(ld, d, k->next, what, got)))
					return rc;
			}
		}
	}
	return 0;
}

static int check_triggers(loader_t *ld, diffs_t *d, const yw_node_t *seq,
			  const outcome_t *o)
{
	int rc = want_kind(ld, seq, YW_SEQ, "triggers");
	if (rc)
		return rc;
	if (seq->count != o->triggers_len)
		differ(d, "triggers: expected %zu, got %zu", seq->count,
		       o->triggers_len);
	size_t i = 0;
	for (const yw_node_t *it = seq->first; it; it = it->next, i++) {
		char what[64];
		snprintf(what, sizeof(what), "triggers[%zu]", i);
		if (i < o->triggers_len &&
		    (rc = check_str(ld, d, it, what, o->triggers[i])))
			return rc;
	}
	return 0;
}

enum {
	E_AVAILABLE, E_PENDING, E_POINTS, E_ORDERS, E_LIFETIME, E_WINDOW, E_TIER,
	E_SEGMENT, E_CODES, E_OFFERS, E_TRIGGERS, E_ERROR, E__N
};

static int check_expect(loader_t *ld, diffs_t *d, const yw_node_t *map,
			const outcome_t *o)
{
	yw_field_t f[E__N] = {
		[E_AVAILABLE] = {"points_available"}, [E_PENDING] = {"points_pending"},
		[E_POINTS] = {"points"}, [E_ORDERS] = {"order_count"},
		[E_LIFETIME] = {"lifetime_spend"}, [E_WINDOW] = {"window_spend"},
		[E_TIER] = {"tier"}, [E_SEGMENT] = {"segment"}, [E_CODES] = {"codes"},
		[E_OFFERS] = {"offers"}, [E_TRIGGERS] = {"triggers"},
		[E_ERROR] = {"error"},
	};
	const ly_customer_state_t *cs = &o->cs;
	int rc = want_kind(ld, map, YW_MAP, "expect");
	if (rc || (rc = yw_map_fields(map, f, E__N, ld->name, ld->errstr,
				      ld->errstr_size)))
		return rc;
	if (f[E_ERROR].value) {
		const char *want;
		if ((rc = get_str(ld, f[E_ERROR].value, "error", &want)))
			return rc;
		if (!o->error)
			differ(d, "error: expected \"%s\", got none", want);
		else if (!strstr(o->error, want))
			differ(d, "error: expected \"%s\", got \"%s\"", want, o->error);
	} else if (o->error) {
		differ(d, "evaluation failed: %s", o->error);
	}
	struct { int k; const char *what; int64_t got; } ints[] = {
		{E_AVAILABLE, "points_available", cs->available},
		{E_PENDING, "points_pending", cs->pending},
		{E_ORDERS, "order_count", cs->order_count},
		{E_LIFETIME, "lifetime_spend", cs->lifetime_spend},
		{E_WINDOW, "window_spend", cs->window_spend},
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(ints); i++)
		if (f[ints[i].k].value &&
		    (rc = check_int(ld, d, f[ints[i].k].value, ints[i].what, ints[i].got)))
			return rc;
	if (f[E_TIER].value &&
	    (rc = check_str(ld, d, f[E_TIER].value, "tier",
			    ld->program->tiers_len ? ld->program->tiers[cs->tier].name : "")))
		return rc;
	if (f[E_SEGMENT].value &&
	    (rc = check_str(ld, d, f[E_SEGMENT].value, "segment",
			    ly_segment_name(cs->segment))))
		return rc;
	if (f[E_POINTS].value && (rc = check_points(ld, d, f[E_POINTS].value, o)))
		return rc;
	if (f[E_CODES].value &&
	    (rc = check_codes(ld, d, f[E_CODES].value, o)))
		return rc;
	if (f[E_OFFERS].value && (rc = check_offers(ld, d, f[E_OFFERS].value, o)))
		return rc;
	if (f[E_TRIGGERS].value &&
	    (rc = check_triggers(ld, d, f[E_TRIGGERS].value, o)))
		return rc;
	return 0;
}

/* ---- the file ---- */

static int run_case(loader_t *ld, const yw_node_t *c, size_t ci,
		    ly_buf_t *report, int *ok)
{
	enum { K_NAME, K_CUSTOMER, K_BUDGETS, K_EVENTS, K_EXPECT, K__N };
	yw_field_t f[K__N] = {[K_NAME] = {"name"}, [K_CUSTOMER] = {"customer"},
			      [K_BUDGETS] = {"budgets"}, [K_EVENTS] = {"events"},
			      [K_EXPECT] = {"expect"}};
	const ly_program_t *p = ld->program;
	int rc = want_kind(ld, c, YW_MAP, "cases[]");
	if (rc || (rc = yw_map_fields(c, f, K__N, ld->name, ld->errstr,
				      ld->errstr_size)))
		return rc;
	for (int k = 0; k < K__N; k++)
		if (k != K_CUSTOMER && k != K_BUDGETS && !f[k].value)
			return fail_at(ld, c, "cases[%zu]: \"%s\" is required", ci, f[k].key);
	const char *name;
	if ((rc = get_str(ld, f[K_NAME].value, "name", &name)))
		return rc;

	outcome_t o;
	memset(&o, 0, sizeof(o));
	o.cs.customer_id = "c-1";
	ly_engine_shared_t shared = {NULL, NULL, CODE_SECRET, strlen(CODE_SECRET)};
	size_t n = p->rules_len + 1;
	if (!(o.earned = ly_arena_alloc(ld->arena, n * sizeof(*o.earned))) ||
	    !(o.earned_any = ly_arena_alloc(ld->arena, n)) ||
	    !(shared.budget_spent = ly_arena_alloc(ld->arena, n * sizeof(int64_t))) ||
	    !(shared.budget_changed = ly_arena_alloc(ld->arena, n)))
		return LY_ENOMEM;
	memset(o.earned, 0, n * sizeof(*o.earned));
	memset(o.earned_any, 0, n);
	memset(shared.budget_spent, 0, n * sizeof(int64_t));
	memset(shared.budget_changed, 0, n);
	if (f[K_CUSTOMER].value &&
	    (rc = load_customer(ld, f[K_CUSTOMER].value, &o.cs, &shared, 0)))
		return rc;
	if (f[K_BUDGETS].value && (rc = load_budgets(ld, f[K_BUDGETS].value, &shared)))
		return rc;

	const yw_node_t *events = f[K_EVENTS].value;
	if ((rc = want_kind(ld, events, YW_SEQ, "events")))
		return rc;
	size_t ei = 0;
	for (const yw_node_t *e = events->first; e; e = e->next, ei++) {
		ly_event_t ev;
		if ((rc = load_event(ld, e, ci, ei, o.cs.customer_id, &ev)))
			return rc;
		if (!o.error && (rc = apply(ld, &o, &shared, &ev)))
			return rc;
	}

	ly_buf_t diff = {0};
	diffs_t d = {&diff, 0};
	rc = check_expect(ld, &d, f[K_EXPECT].value, &o);
	if (rc) {
		ly_buf_free(&diff);
		return rc;
	}
	*ok = d.count == 0;
	if (*ok)
		ly_buf_printf(report, "PASS %s\n", name);
	else
		ly_buf_printf(report, "FAIL %s (%s:%d:%d)\n%s", name, ld->name, c->line,
			      c->col, diff.data ? diff.data : "");
	ly_buf_free(&diff);
	return 0;
}

int ly_cases_run(const ly_program_t *program, const char *path,
		 ly_buf_t *report, size_t *passed, size_t *failed,
		 char *errstr, size_t errstr_size)
{
	ly_arena_t *arena = ly_arena_new(256 * 1024);
	loader_t ld = {path, program, arena, errstr, errstr_size};
	yw_node_t *root;
	*passed = *failed = 0;
	if (!arena) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	int rc = parse_file(&root, &ld, path);
	if (rc)
		goto out;
	yw_field_t f[1] = {{"cases"}};
	if ((rc = want_kind(&ld, root, YW_MAP, "the file")) ||
	    (rc = yw_map_fields(root, f, 1, path, errstr, errstr_size)))
		goto out;
	if (!f[0].value) {
		rc = fail_at(&ld, root, "\"cases\" is required");
		goto out;
	}
	if ((rc = want_kind(&ld, f[0].value, YW_SEQ, "cases")))
		goto out;
	size_t ci = 0;
	for (const yw_node_t *c = f[0].value->first; c; c = c->next, ci++) {
		int ok = 0;
		if ((rc = run_case(&ld, c, ci, report, &ok)))
			goto out;
		if (ok)
			(*passed)++;
		else
			(*failed)++;
	}
	ly_buf_printf(report, "%zu passed, %zu failed\n", *passed, *failed);
out:
	if (rc == LY_ENOMEM)
		snprintf(errstr, errstr_size, "%s: out of memory", path);
	ly_arena_destroy(arena);
	return rc;
}
