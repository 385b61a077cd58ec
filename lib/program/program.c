/*
 * program.c: loads the shop's program file (SPEC section 5, described in
 * docs/program.md) into an immutable ly_program_t.
 *
 * The loader is strict on purpose: every key must be known, every value
 * must have the right type and bounds, or the whole file is refused with
 * "file:line:col: message". A rule is never silently half-understood.
 * Expressions are compiled here, against the schema of the rule's `on`
 * type (schema.c), so a type error or an unknown field is a load error.
 * The YAML tree lives in a scratch arena that is gone when the loader
 * returns; the program owns malloc'd copies of what it keeps. Time zones
 * are checked against the system's tz database under /usr/share/zoneinfo
 * and loaded with ly_tz_load.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "loyalty/program.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loyalty/event.h"
#include "loyalty/expr.h"
#include "loyalty/tz.h"
#include "loyalty/util.h"
#include "yamlwalk.h"

#define LY_PROGRAM_NAME_MAX_BYTES 128
#define LY_PROGRAM_TIMEZONE_MAX_BYTES 128
#define LY_PROGRAM_DAYS_MAX 3650
#define LY_EARN_POINTS_MAX INT64_C(1000000000)
#define LY_EARN_PER_MAX INT64_C(1000000000000)
/* Money amounts (minor units) and budgets in the file. */
#define LY_MONEY_MAX INT64_C(1000000000000000)
#define LY_BUDGET_POINTS_MAX INT64_C(1000000000000000)

typedef struct loader {
	const char *name; /* the path or name used in messages */
	char *errstr;
	size_t errstr_size;
	ly_program_t *program;
	const yw_node_t *timezone_node; /* for a zone that fails to load */
} loader_t;

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int nomem(loader_t *ld)
{
	snprintf(ld->errstr, ld->errstr_size, "%s: out of memory", ld->name);
	return LY_ENOMEM;
}

/* Checks that node is a mapping; what names it in the message. */
static int expect_map(loader_t *ld, const yw_node_t *n, const char *what)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind == YW_MAP)
		return 0;
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: expected a mapping, got %s", what,
		      yw_describe(d, sizeof(d), n));
}

/* A sequence of at most max items (max 0: no bound); noun names the items
 * in the message ("rules"). */
static int expect_seq(loader_t *ld, const yw_node_t *n, const char *what,
		      size_t max, const char *noun)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SEQ)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: expected a sequence, got %s", what,
			      yw_describe(d, sizeof(d), n));
	if (max && n->count > max)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: more than %zu %s", what, max, noun);
	return 0;
}

static int missing(loader_t *ld, const yw_node_t *map, const char *key)
{
	return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
		      "missing key \"%s\"", key);
}

/* A non-null, non-empty scalar of at most max bytes, as a malloc'd copy
 * in *out (freeing what *out held). */
static int get_string(loader_t *ld, const yw_node_t *n, const char *what,
		      size_t max, char **out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SCALAR || yw_is_null(n))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: expected a string, got %s", what,
			      yw_describe(d, sizeof(d), n));
	if (n->len == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must not be empty", what);
	if (n->len > max)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: longer than %zu bytes", what, max);
	char *s = dup_n(n->str, n->len);
	if (!s)
		return nomem(ld);
	free(*out);
	*out = s;
	return 0;
}

/* A plain decimal integer in [min, max]. A quoted "5" is a string, not
 * an integer: the file's types are what YAML says they are. */
static int get_int(loader_t *ld, const yw_node_t *n, const char *what,
		   int64_t min, int64_t max, int64_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	int64_t v;
	if (n->kind == YW_SCALAR && !n->quoted &&
	    yw_parse_i64(n->str, n->len, &v) == 0 && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	if (n->kind == YW_SCALAR && n->quoted &&
	    yw_parse_i64(n->str, n->len, &v) == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must be an integer, not a quoted string", what);
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be an integer between %lld and %lld, got %s",
		      what, (long long)min, (long long)max,
		      yw_describe(d, sizeof(d), n));
}

static int get_bool(loader_t *ld, const yw_node_t *n, const char *what,
		    int *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind == YW_SCALAR && !n->quoted) {
		if (strcmp(n->str, "true") == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(n->str, "false") == 0) {
			*out = 0;
			return 0;
		}
	}
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be true or false, got %s", what,
		      yw_describe(d, sizeof(d), n));
}

static int load_program_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_NAME, F_CURRENCY, F_TIMEZONE, F_LOCALE, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_NAME] = {"name"},
		[F_CURRENCY] = {"currency"},
		[F_TIMEZONE] = {"timezone"},
		[F_LOCALE] = {"locale"},
	};
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "program")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_NAME].value)
		return missing(ld, map, "name");
	if ((rc = get_string(ld, f[F_NAME].value, "program.name",
			     LY_PROGRAM_NAME_MAX_BYTES, &p->name)))
		return rc;
	for (const char *c = p->name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      f[F_NAME].value,
				      "program.name: control characters are not allowed");

	if (f[F_CURRENCY].value) {
		const yw_node_t *n = f[F_CURRENCY].value;
		if ((rc = get_string(ld, n, "program.currency", 64, &p->currency)))
			return rc;
		if (strlen(p->currency) != 3 || p->currency[0] < 'A' ||
		    p->currency[0] > 'Z' || p->currency[1] < 'A' ||
		    p->currency[1] > 'Z' || p->currency[2] < 'A' ||
		    p->currency[2] > 'Z')
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.currency: must be three capital letters (ISO 4217), got %s",
				      yw_describe(d, sizeof(d), n));
	}
	if (f[F_TIMEZONE].value) {
		const yw_node_t *n = f[F_TIMEZONE].value;
		if ((rc = get_string(ld, n, "program.timezone",
				     LY_PROGRAM_TIMEZONE_MAX_BYTES, &p->timezone)))
			return rc;
		ld->timezone_node = n;
		/* Loading checks the name (no path tricks) and the whole file. */
		char tzerr[256];
		rc = ly_tz_load(&p->tz, p->timezone, tzerr, sizeof(tzerr));
		if (rc == LY_ENOMEM)
			return nomem(ld);
		if (rc)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.timezone: unknown time zone %s",
				      yw_describe(d, sizeof(d), n));
	}
	if (f[F_LOCALE].value) {
		const yw_node_t *n = f[F_LOCALE].value;
		if ((rc = get_string(ld, n, "program.locale", 64, &p->locale)))
			return rc;
		if (strcmp(p->locale, "tr") != 0 && strcmp(p->locale, "en") != 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.locale: must be \"tr\" or \"en\", got %s",
				      yw_describe(d, sizeof(d), n));
	}
	return 0;
}

static int load_points_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_PENDING, F_EXPIRE, F_REMINDER, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_PENDING] = {"pending_days"},
		[F_EXPIRE] = {"expire_days"},
		[F_REMINDER] = {"expiry_reminder_days"},
	};
	static const char *const what[F__COUNT] = {
		"points.pending_days", "points.expire_days",
		"points.expiry_reminder_days"};
	int64_t *dst[F__COUNT] = {&ld->program->pending_days,
				  &ld->program->expire_days,
				  &ld->program->expiry_reminder_days};
	int rc;

	if ((rc = expect_map(ld, map, "points")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	for (size_t i = 0; i < F__COUNT; i++)
		if (f[i].value &&
		    (rc = get_int(ld, f[i].value, what[i], 0, LY_PROGRAM_DAYS_MAX,
				  dst[i])))
			return rc;
	return 0;
}

/* ---- shared value forms ---- */

/* A name of the file's own vocabulary: 1 to LY_PROGRAM_ID_MAX_BYTES
 * characters of a-z, 0-9, "_" and "-", starting with a letter or digit. */
static int id_valid(const char *s, size_t n)
{
	if (n == 0 || n > LY_PROGRAM_ID_MAX_BYTES)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

static int get_id(loader_t *ld, const yw_node_t *n, const char *what,
		  char **out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SCALAR || yw_is_null(n) || !id_valid(n->str, n->len))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must be 1 to %d characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got %s",
			      what, LY_PROGRAM_ID_MAX_BYTES,
			      yw_describe(d, sizeof(d), n));
	char *s = dup_n(n->str, n->len);
	if (!s)
		return nomem(ld);
	free(*out);
	*out = s;
	return 0;
}

/* A calendar date YYYY-MM-DD (plain or quoted) as days since 1970-01-01. */
static int get_date(loader_t *ld, const yw_node_t *n, const char *what,
		    int64_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	int y, m, day;
	if (n->kind != YW_SCALAR || yw_is_null(n) ||
	    ly_date_parse(n->str, &y, &m, &day) != 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must be a date YYYY-MM-DD, got %s", what,
			      yw_describe(d, sizeof(d), n));
	*out = ly_days_from_civil(y, m, day);
	return 0;
}

/* A calendar period; ever_ok says whether "ever" is one. */
static int get_period(loader_t *ld, const yw_node_t *n, const char *what,
		      int ever_ok, ly_period_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	ly_period_t p;
	if (n->kind == YW_SCALAR && !yw_is_null(n) &&
	    ly_period_parse(n->str, &p) == 0 && (ever_ok || p != LY_PERIOD_EVER)) {
		*out = p;
		return 0;
	}
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be %s, got %s", what,
		      ever_ok ? "day, week, month, year or ever"
			      : "day, week, month or year",
		      yw_describe(d, sizeof(d), n));
}

/*
 * A multiplier: a plain decimal from 1 to 100 with at most 4 decimal
 * places ("1", "1.25", "1.0625"), as basis points of 1.0.
 */
static int get_multiplier(loader_t *ld, const yw_node_t *n, const char *what,
			  int64_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	int64_t whole = 0, frac = 0;
	size_t i = 0, places = 0;
	if (n->kind != YW_SCALAR || n->quoted || n->len == 0)
		goto bad;
	for (; i < n->len && n->str[i] >= '0' && n->str[i] <= '9'; i++) {
		if (whole > 1000)
			goto bad;
		whole = whole * 10 + (n->str[i] - '0');
	}
	if (i == 0 || (n->str[0] == '0' && i > 1))
		goto bad;
	if (i < n->len) {
		if (n->str[i++] != '.' || i == n->len)
			goto bad;
		for (; i < n->len; i++, places++) {
			if (n->str[i] < '0' || n->str[i] > '9' || places == 4)
				goto bad;
			frac = frac * 10 + (n->str[i] - '0');
		}
	}
	for (; places < 4; places++)
		frac *= 10;
	*out = whole * LY_MULTIPLIER_ONE + frac;
	if (*out >= LY_MULTIPLIER_ONE && *out <= 100 * LY_MULTIPLIER_ONE)
		return 0;
bad:
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be a decimal from 1 to 100 with at most 4 decimal places, got %s",
		      what, yw_describe(d, sizeof(d), n));
}

/* "HH:MM-HH:MM", start != end. */
static int get_quiet_hours(loader_t *ld, const yw_node_t *n, const char *what,
			   ly_quiet_hours_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	int v[4];
	if (n->kind != YW_SCALAR || n->len != 11 || n->str[2] != ':' ||
	    n->str[5] != '-' || n->str[8] != ':')
		goto bad;
	for (int k = 0; k < 4; k++) {
		const char *s = n->str + k * 3;
		if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
			goto bad;
		v[k] = (s[0] - '0') * 10 + (s[1] - '0');
	}
	if (v[0] > 23 || v[1] > 59 || v[2] > 23 || v[3] > 59)
		goto bad;
	out->start_min = v[0] * 60 + v[1];
	out->end_min = v[2] * 60 + v[3];
	if (out->start_min == out->end_min)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: start and end are the same time, got %s", what,
			      yw_describe(d, sizeof(d), n));
	out->set = 1;
	return 0;
bad:
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be \"HH:MM-HH:MM\" with hours 00-23 and minutes 00-59, got %s",
		      what, yw_describe(d, sizeof(d), n));
}

static void set_pos(ly_pos_t *pos, const yw_node_t *key)
{
	if (key) {
		pos->line = key->line;
		pos->col = key->col;
	}
}

/*
 * Before a mapping's keys are matched: an expression written plain inside
 * a {flow mapping} ends at its first comma, and the rest turns into
 * strange keys. Say so at the expression instead of "unknown key". key
 * NULL checks every value (offer vars; what is then the prefix).
 */
static int check_cut_expr(loader_t *ld, const yw_node_t *map, const char *key,
			  const char *what)
{
	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		const yw_node_t *v = k->next;
		if ((key && !yw_eq(k, key)) || v->kind != YW_SCALAR || v->quoted)
			continue;
		int depth = 0, in_str = 0;
		for (size_t i = 0; i < v->len; i++) {
			char c = v->str[i];
			if (in_str) {
				if (c == '\\' && i + 1 < v->len)
					i++;
				else if (c == '"')
					in_str = 0;
			} else if (c == '"') {
				in_str = 1;
			} else if (c == '(' || c == '[') {
				depth++;
			} else if (c == ')' || c == ']') {
				depth--;
			}
		}
		if ((depth > 0 || in_str) && k->next->next) {
			char q[YW_QUOTE_MAX_BYTES + 8];
			return yw_err(ld->errstr, ld->errstr_size, ld->name, v,
				      "%s%s%s: the expression %s is cut at a comma (in a {...} mapping a comma ends a plain value); quote the expression or write it in block style",
				      what, key ? "" : ".", key ? "" : k->str,
				      yw_quote(q, sizeof(q), v->str, v->len));
		}
	}
	return 0;
}

/*
 * Compiles the expression in scalar n against the rule's schema. The
 * expression starts at the node for a plain scalar and one column later
 * for a quoted one (after the quote).
 */
static int get_expr(loader_t *ld, const ly_rule_t *rule, const yw_node_t *n,
		    const char *what, ly_type_t want, ly_expr_t **out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SCALAR || yw_is_null(n))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: expected an expression, got %s", what,
			      yw_describe(d, sizeof(d), n));
	if (n->len > LY_EXPR_SOURCE_MAX_BYTES)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: longer than %d bytes", what,
			      LY_EXPR_SOURCE_MAX_BYTES);
	int rc = ly_expr_compile(out, n->str, n->len,
				 ly_program_schema(rule->on, rule->trigger), want,
				 ld->name, n->line, n->col + (n->quoted ? 1 : 0),
				 ld->errstr, ld->errstr_size);
	return rc;
}

/* issue: {discount: {...}} or {gift_card: {...}} (rules and rewards). */
static int load_issue(loader_t *ld, const yw_node_t *map, const char *what,
		      ly_issue_t *issue)
{
	enum { F_DISCOUNT, F_GIFT_CARD, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_DISCOUNT] = {"discount"},
				  [F_GIFT_CARD] = {"gift_card"}};
	enum { G_AMOUNT, G_PERCENT, G_MIN_ORDER, G_VALID_DAYS, G__COUNT };
	yw_field_t g[G__COUNT] = {[G_AMOUNT] = {"amount"},
				  [G_PERCENT] = {"percent"},
				  [G_MIN_ORDER] = {"min_order"},
				  [G_VALID_DAYS] = {"valid_days"}};
	char w[64];
	int rc;

	if ((rc = expect_map(ld, map, what)))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (f[F_DISCOUNT].value && f[F_GIFT_CARD].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_GIFT_CARD].key_node,
			      "%s: give \"discount\" or \"gift_card\", not both",
			      what);
	if (!f[F_DISCOUNT].value && !f[F_GIFT_CARD].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
			      "%s: needs \"discount\" or \"gift_card\"", what);
	int discount = f[F_DISCOUNT].value != NULL;
	const yw_node_t *m = discount ? f[F_DISCOUNT].value : f[F_GIFT_CARD].value;
	const char *kind = discount ? "discount" : "gift_card";
	snprintf(w, sizeof(w), "%s.%s", what, kind);
	if ((rc = expect_map(ld, m, w)))
		return rc;
	if ((rc = yw_map_fields(m, g, G__COUNT, ld->name,
				ld->errstr, ld->errstr_size)))
		return rc;
	if (!discount && g[G_PERCENT].key_node)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      g[G_PERCENT].key_node, "unknown key \"percent\"");
	if (!discount && g[G_MIN_ORDER].key_node)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      g[G_MIN_ORDER].key_node, "unknown key \"min_order\"");
	issue->kind = discount ? LY_ISSUE_DISCOUNT : LY_ISSUE_GIFT_CARD;
	if (g[G_AMOUNT].value && g[G_PERCENT].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, m,
			      "%s: give \"amount\" or \"percent\", not both", w);
	if (!g[G_AMOUNT].value && !g[G_PERCENT].value)
		return discount ? yw_err(ld->errstr, ld->errstr_size, ld->name, m,
					 "%s: needs \"amount\" or \"percent\"", w)
				: missing(ld, m, "amount");
	if (!g[G_VALID_DAYS].value)
		return missing(ld, m, "valid_days");
	char fw[96];
	if (g[G_AMOUNT].value) {
		snprintf(fw, sizeof(fw), "%s.amount", w);
		if ((rc = get_int(ld, g[G_AMOUNT].value, fw, 1, LY_MONEY_MAX,
				  &issue->amount)))
			return rc;
	}
	if (g[G_PERCENT].value) {
		snprintf(fw, sizeof(fw), "%s.percent", w);
		if ((rc = get_int(ld, g[G_PERCENT].value, fw, 1, 100,
				  &issue->percent)))
			return rc;
	}
	if (g[G_MIN_ORDER].value) {
		snprintf(fw, sizeof(fw), "%s.min_order", w);
		if ((rc = get_int(ld, g[G_MIN_ORDER].value, fw, 0, LY_MONEY_MAX,
				  &issue->min_order)))
			return rc;
	}
	snprintf(fw, sizeof(fw), "%s.valid_days", w);
	return get_int(ld, g[G_VALID_DAYS].value, fw, 1, LY_PROGRAM_DAYS_MAX,
		       &issue->valid_days);
}

/* ---- top-level sections ---- */

static int load_tiers_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_WINDOW, F_LEVELS, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_WINDOW] = {"window_days"},
				  [F_LEVELS] = {"levels"}};
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	size_t i = 0;
	int rc;

	if ((rc = expect_map(ld, map, "tiers")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (f[F_WINDOW].value &&
	    (rc = get_int(ld, f[F_WINDOW].value, "tiers.window_days", 1,
			  LY_PROGRAM_DAYS_MAX, &p->tier_window_days)))
		return rc;
	if (!f[F_LEVELS].value)
		return missing(ld, map, "levels");
	const yw_node_t *seq = f[F_LEVELS].value;
	if ((rc = expect_seq(ld, seq, "tiers.levels", LY_PROGRAM_LEVELS_MAX, "levels")))
		return rc;
	if (seq->count == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, seq,
			      "tiers.levels: must have at least one level");
	if (!(p->tiers = calloc(seq->count, sizeof(*p->tiers))))
		return nomem(ld);
	for (const yw_node_t *n = seq->first; n; n = n->next, i++) {
		enum { L_NAME, L_MIN, L_MULT, L_PERKS, L__COUNT };
		yw_field_t l[L__COUNT] = {[L_NAME] = {"name"},
					  [L_MIN] = {"min_spend"},
					  [L_MULT] = {"earn_multiplier"},
					  [L_PERKS] = {"perks"}};
		ly_tier_t *t = &p->tiers[i];
		char w[64];

		p->tiers_len = i + 1;
		snprintf(w, sizeof(w), "tiers.levels[%zu]", i);
		if ((rc = expect_map(ld, n, w)))
			return rc;
		t->line = n->line;
		t->col = n->col;
		t->earn_multiplier_bp = LY_MULTIPLIER_ONE;
		if ((rc = yw_map_fields(n, l, L__COUNT, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (!l[L_NAME].value)
			return missing(ld, n, "name");
		if (!l[L_MIN].value)
			return missing(ld, n, "min_spend");
		snprintf(w, sizeof(w), "tiers.levels[%zu].name", i);
		if ((rc = get_id(ld, l[L_NAME].value, w, &t->name)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->tiers[j].name, t->name) == 0)
				return yw_err(ld->errstr, ld->errstr_size, ld->name,
					      l[L_NAME].value,
					      "duplicate tier name \"%s\" (first at %d:%d)",
					      t->name, p->tiers[j].line,
					      p->tiers[j].col);
		snprintf(w, sizeof(w), "tiers.levels[%zu].min_spend", i);
		if ((rc = get_int(ld, l[L_MIN].value, w, 0, LY_MONEY_MAX,
				  &t->min_spend)))
			return rc;
		if (i == 0 && t->min_spend != 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      l[L_MIN].value,
				      "%s: the first level must start at 0, got %s",
				      w, yw_describe(d, sizeof(d), l[L_MIN].value));
		if (i > 0 && t->min_spend <= p->tiers[i - 1].min_spend)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      l[L_MIN].value,
				      "%s: must be greater than the level before (%lld), got %s",
				      w, (long long)p->tiers[i - 1].min_spend,
				      yw_describe(d, sizeof(d), l[L_MIN].value));
		if (l[L_MULT].value) {
			snprintf(w, sizeof(w), "tiers.levels[%zu].earn_multiplier", i);
			if ((rc = get_multiplier(ld, l[L_MULT].value, w,
						 &t->earn_multiplier_bp)))
				return rc;
		}
		if (l[L_PERKS].value) {
			const yw_node_t *ps = l[L_PERKS].value;
			size_t k = 0;
			snprintf(w, sizeof(w), "tiers.levels[%zu].perks", i);
			if ((rc = expect_seq(ld, ps, w, LY_PROGRAM_PERKS_MAX, "perks")))
				return rc;
			if (ps->count &&
			    !(t->perks = calloc(ps->count, sizeof(*t->perks))))
				return nomem(ld);
			for (const yw_node_t *e = ps->first; e; e = e->next, k++) {
				t->perks_len = k + 1;
				if ((rc = get_id(ld, e, w, &t->perks[k])))
					return rc;
				for (size_t j = 0; j < k; j++)
					if (strcmp(t->perks[j], t->perks[k]) == 0)
						return yw_err(ld->errstr, ld->errstr_size,
							      ld->name, e,
							      "%s: duplicate perk \"%s\"",
							      w, t->perks[k]);
			}
		}
	}
	return 0;
}

static int load_lifecycle_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_AT_RISK, F_LOST, F_LIFETIME, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_AT_RISK] = {"at_risk_days"},
				  [F_LOST] = {"lost_days"},
				  [F_LIFETIME] = {"expected_lifetime_years"}};
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "lifecycle")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (f[F_AT_RISK].value &&
	    (rc = get_int(ld, f[F_AT_RISK].value, "lifecycle.at_risk_days", 1,
			  LY_PROGRAM_DAYS_MAX, &p->at_risk_days)))
		return rc;
	if (f[F_LOST].value &&
	    (rc = get_int(ld, f[F_LOST].value, "lifecycle.lost_days", 1,
			  LY_PROGRAM_DAYS_MAX, &p->lost_days)))
		return rc;
	if (f[F_LIFETIME].value &&
	    (rc = get_int(ld, f[F_LIFETIME].value,
			  "lifecycle.expected_lifetime_years", 1, 100,
			  &p->expected_lifetime_years)))
		return rc;
	if (p->lost_days <= p->at_risk_days) {
		const yw_node_t *n = f[F_LOST].value ? f[F_LOST].value
						     : f[F_AT_RISK].value;
		if (f[F_LOST].value)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "lifecycle.lost_days: must be greater than at_risk_days (%lld), got %s",
				      (long long)p->at_risk_days,
				      yw_describe(d, sizeof(d), n));
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "lifecycle.at_risk_days: must be less than lost_days (%lld, the default), got %s",
			      (long long)p->lost_days,
			      yw_describe(d, sizeof(d), n));
	}
	return 0;
}

static int load_offers_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_MAX, F_QUIET, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_MAX] = {"max_per_customer"},
				  [F_QUIET] = {"quiet_hours"}};
	ly_program_t *p = ld->program;
	int rc;

	if ((rc = expect_map(ld, map, "offers")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (f[F_MAX].value) {
		enum { M_COUNT, M_PER, M__COUNT };
		yw_field_t m[M__COUNT] = {[M_COUNT] = {"count"},
					  [M_PER] = {"per"}};
		const yw_node_t *n = f[F_MAX].value;
		if ((rc = expect_map(ld, n, "offers.max_per_customer")) ||
		    (rc = yw_map_fields(n, m, M__COUNT, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (!m[M_COUNT].value)
			return missing(ld, n, "count");
		if (!m[M_PER].value)
			return missing(ld, n, "per");
		if ((rc = get_int(ld, m[M_COUNT].value,
				  "offers.max_per_customer.count", 1, 1000,
				  &p->offer_cap_count)) ||
		    (rc = get_period(ld, m[M_PER].value,
				     "offers.max_per_customer.per", 0,
				     &p->offer_cap_per)))
			return rc;
	}
	if (f[F_QUIET].value) {
		enum { Q_EMAIL, Q_SMS, Q__COUNT };
		yw_field_t q[Q__COUNT] = {[Q_EMAIL] = {"email"}, [Q_SMS] = {"sms"}};
		const yw_node_t *n = f[F_QUIET].value;
		if ((rc = expect_map(ld, n, "offers.quiet_hours")) ||
		    (rc = yw_map_fields(n, q, Q__COUNT, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (q[Q_EMAIL].value &&
		    (rc = get_quiet_hours(ld, q[Q_EMAIL].value,
					  "offers.quiet_hours.email",
					  &p->quiet_email)))
			return rc;
		if (q[Q_SMS].value &&
		    (rc = get_quiet_hours(ld, q[Q_SMS].value,
					  "offers.quiet_hours.sms", &p->quiet_sms)))
			return rc;
	}
	return 0;
}

static int load_rewards_section(loader_t *ld, const yw_node_t *seq)
{
	ly_program_t *p = ld->program;
	size_t i = 0;
	int rc;

	if ((rc = expect_seq(ld, seq, "rewards", LY_PROGRAM_REWARDS_MAX, "rewards")))
		return rc;
	if (seq->count && !(p->rewards = calloc(seq->count, sizeof(*p->rewards))))
		return nomem(ld);
	for (const yw_node_t *n = seq->first; n; n = n->next, i++) {
		enum { F_ID, F_COST, F_ISSUE, F__COUNT };
		yw_field_t f[F__COUNT] = {[F_ID] = {"id"},
					  [F_COST] = {"cost"},
					  [F_ISSUE] = {"issue"}};
		ly_reward_t *r = &p->rewards[i];
		char w[32];

		p->rewards_len = i + 1;
		snprintf(w, sizeof(w), "rewards[%zu]", i);
		if ((rc = expect_map(ld, n, w)))
			return rc;
		r->line = n->line;
		r->col = n->col;
		if ((rc = yw_map_fields(n, f, F__COUNT, ld->name, ld->errstr,
					ld->errstr_size)))
			return rc;
		if (!f[F_ID].value)
			return missing(ld, n, "id");
		if (!f[F_COST].value)
			return missing(ld, n, "cost");
		if (!f[F_ISSUE].value)
			return missing(ld, n, "issue");
		if ((rc = get_id(ld, f[F_ID].value, "id", &r->id)))
			return rc;
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->rewards[j].id, r->id) == 0)
				return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
					      "duplicate reward id \"%s\" (first at %d:%d)",
					      r->id, p->rewards[j].line,
					      p->rewards[j].col);
		if ((rc = get_int(ld, f[F_COST].value, "cost", 1,
				  LY_EARN_POINTS_MAX, &r->cost)) ||
		    (rc = load_issue(ld, f[F_ISSUE].value, "issue", &r->issue)))
			return rc;
	}
	return 0;
}

/* ---- rules ---- */

static int load_earn(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_POINTS, F_PER, F_OF, F_TIER, F_PENDING, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_POINTS] = {"points"},
		[F_PER] = {"per"},
		[F_OF] = {"of"},
		[F_TIER] = {"tier_multiplier"},
		[F_PENDING] = {"pending"},
	};
	int rc;

	if ((rc = expect_map(ld, map, "earn")))
		return rc;
	if ((rc = check_cut_expr(ld, map, "of", "earn.of")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_POINTS].value)
		return missing(ld, map, "points");
	if ((rc = get_int(ld, f[F_POINTS].value, "earn.points", 1,
			  LY_EARN_POINTS_MAX, &rule->earn_points)))
		return rc;
	if (f[F_PER].value &&
	    (rc = get_int(ld, f[F_PER].value, "earn.per", 1, LY_EARN_PER_MAX,
			  &rule->earn_per)))
		return rc;
	if (f[F_OF].value && !f[F_PER].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_OF].key_node, "\"of\" needs \"per\"");
	if (f[F_PER].value && !f[F_OF].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_PER].key_node, "\"per\" needs \"of\"");
	if (f[F_OF].value) {
		const yw_node_t *n = f[F_OF].value;
		if ((rc = get_expr(ld, rule, n, "earn.of", LY_TYPE_INT,
				   &rule->earn_of_expr)))
			return rc;
		set_pos(&rule->of_pos, f[F_OF].key_node);
		rule->earn_of = rule->on == LY_EV_ORDER_PAID &&
					!rule->trigger && yw_eq(n, "order.total")
				? LY_OF_ORDER_TOTAL
				: LY_OF_EXPR;
	}
	if (f[F_TIER].value) {
		if ((rc = get_bool(ld, f[F_TIER].value, "earn.tier_multiplier",
				   &rule->earn_tier_multiplier)))
			return rc;
		if (rule->earn_tier_multiplier && ld->program->tiers_len == 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      f[F_TIER].value,
				      "earn.tier_multiplier: the program has no tiers");
		if (rule->earn_tier_multiplier)
			set_pos(&rule->tier_multiplier_pos, f[F_TIER].key_node);
	}
	if (f[F_PENDING].value &&
	    (rc = get_bool(ld, f[F_PENDING].value, "earn.pending",
			   &rule->earn_pending)))
		return rc;
	rule->has_earn = 1;
	return 0;
}

static int load_active(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_FROM, F_UNTIL, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_FROM] = {"from"}, [F_UNTIL] = {"until"}};
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "active")) ||
	    (rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_FROM].value && !f[F_UNTIL].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
			      "active: needs \"from\", \"until\" or both");
	if (f[F_FROM].value) {
		if ((rc = get_date(ld, f[F_FROM].value, "active.from",
				   &rule->active_from_day)))
			return rc;
		rule->has_active_from = 1;
	}
	if (f[F_UNTIL].value) {
		if ((rc = get_date(ld, f[F_UNTIL].value, "active.until",
				   &rule->active_until_day)))
			return rc;
		rule->has_active_until = 1;
	}
	if (rule->has_active_from && rule->has_active_until &&
	    rule->active_until_day <= rule->active_from_day)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_UNTIL].value,
			      "active.until: must be after active.from (%s), got %s",
			      f[F_FROM].value->str,
			      yw_describe(d, sizeof(d), f[F_UNTIL].value));
	return 0;
}

static int load_limit(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_COUNT, F_PER, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_COUNT] = {"count"}, [F_PER] = {"per"}};
	int rc;

	if ((rc = expect_map(ld, map, "limit")) ||
	    (rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_COUNT].value)
		return missing(ld, map, "count");
	if (!f[F_PER].value)
		return missing(ld, map, "per");
	if ((rc = get_int(ld, f[F_COUNT].value, "limit.count", 1, 1000000,
			  &rule->limit_count)))
		return rc;
	return get_period(ld, f[F_PER].value, "limit.per", 1, &rule->limit_per);
}

static int load_budget(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_POINTS, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_POINTS] = {"points"}};
	int rc;

	if ((rc = expect_map(ld, map, "budget")) ||
	    (rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_POINTS].value)
		return missing(ld, map, "points");
	return get_int(ld, f[F_POINTS].value, "budget.points", 1,
		       LY_BUDGET_POINTS_MAX, &rule->budget_points);
}

static int load_offer(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_TEMPLATE, F_CHANNELS, F_VARS, F__COUNT };
	yw_field_t f[F__COUNT] = {[F_TEMPLATE] = {"template"},
				  [F_CHANNELS] = {"channels"},
				  [F_VARS] = {"vars"}};
	ly_offer_t *o = &rule->offer;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "offer")) ||
	    (rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_TEMPLATE].value)
		return missing(ld, map, "template");
	if (!f[F_CHANNELS].value)
		return missing(ld, map, "channels");
	if ((rc = get_id(ld, f[F_TEMPLATE].value, "offer.template",
			 &o->template_id)))
		return rc;
	const yw_node_t *ch = f[F_CHANNELS].value;
	if ((rc = expect_seq(ld, ch, "offer.channels", 0, "channels")))
		return rc;
	if (ch->count == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, ch,
			      "offer.channels: must name at least one channel");
	for (const yw_node_t *e = ch->first; e; e = e->next) {
		unsigned bit = yw_eq(e, "email") ? LY_CHANNEL_EMAIL
			       : yw_eq(e, "sms") ? LY_CHANNEL_SMS
						 : 0;
		if (e->kind != YW_SCALAR || bit == 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, e,
				      "offer.channels: unknown channel %s (email or sms)",
				      yw_describe(d, sizeof(d), e));
		if (o->channels & bit)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, e,
				      "offer.channels: duplicate channel %s",
				      yw_describe(d, sizeof(d), e));
		o->channels |= bit;
		o->channel_order[o->channels_len++] = (uint8_t)bit;
	}
	if (f[F_VARS].value) {
		const yw_node_t *vm = f[F_VARS].value;
		size_t i = 0;
		if ((rc = expect_map(ld, vm, "offer.vars")))
			return rc;
		if (vm->count / 2 > LY_PROGRAM_VARS_MAX)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, vm,
				      "offer.vars: more than %d variables",
				      LY_PROGRAM_VARS_MAX);
		if ((rc = check_cut_expr(ld, vm, NULL, "offer.vars")))
			return rc;
		if (vm->count &&
		    !(o->vars = calloc(vm->count / 2, sizeof(*o->vars))))
			return nomem(ld);
		for (const yw_node_t *k = vm->first; k; k = k->next->next, i++) {
			char w[96];
			ly_offer_var_t *v = &o->vars[i];
			o->vars_len = i + 1;
			if ((rc = get_id(ld, k, "offer.vars", &v->name)))
				return rc;
			for (char *c = v->name; *c; c++)
				if (*c == '-')
					return yw_err(ld->errstr, ld->errstr_size,
						      ld->name, k,
						      "offer.vars: a variable name has no \"-\", got %s",
						      yw_describe(d, sizeof(d), k));
			if (ly_offer_var_is_builtin(v->name))
				return yw_err(ld->errstr, ld->errstr_size, ld->name, k,
					      "offer.vars: %s is set by loyaltyd for every offer "
					      "(docs/offers.md); give yours another name",
					      yw_describe(d, sizeof(d), k));
			for (size_t j = 0; j < i; j++)
				if (strcmp(o->vars[j].name, v->name) == 0)
					return yw_err(ld->errstr, ld->errstr_size,
						      ld->name, k,
						      "duplicate key %s",
						      yw_describe(d, sizeof(d), k));
			snprintf(w, sizeof(w), "offer.vars.%s", v->name);
			if ((rc = get_expr(ld, rule, k->next, w, LY_TYPE_ANY,
					   &v->expr)))
				return rc;
		}
	}
	return 0;
}

int ly_offer_var_is_builtin(const char *name)
{
	static const char *const builtin[] = {
		"first_name", "points_available", "points_pending", "points_earned",
		"tier", "perks", "top_category", "currency", "code_kind", "code_amount",
		"code_percent", "code_min_order", "code_valid_until",
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(builtin); i++)
		if (strcmp(builtin[i], name) == 0)
			return 1;
	return 0;
}

static int load_rule(loader_t *ld, size_t idx, const yw_node_t *map)
{
	enum {
		F_ID,
		F_ON,
		F_IF,
		F_ACTIVE,
		F_EARN,
		F_LIMIT,
		F_BUDGET,
		F_STOP,
		F_ISSUE,
		F_OFFER,
		F__COUNT
	};
	yw_field_t f[F__COUNT] = {
		[F_ID] = {"id"},	 [F_ON] = {"on"},
		[F_IF] = {"if"},	 [F_ACTIVE] = {"active"},
		[F_EARN] = {"earn"},	 [F_LIMIT] = {"limit"},
		[F_BUDGET] = {"budget"}, [F_STOP] = {"stop"},
		[F_ISSUE] = {"issue"},	 [F_OFFER] = {"offer"},
	};
	ly_program_t *p = ld->program;
	ly_rule_t *rule = &p->rules[idx];
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if (map->kind != YW_MAP)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
			      "rules[%zu]: expected a mapping, got %s", idx,
			      yw_describe(d, sizeof(d), map));
	rule->line = map->line;
	rule->col = map->col;
	rule->earn_pending = -1;
	if ((rc = check_cut_expr(ld, map, "if", "if")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_ID].value)
		return missing(ld, map, "id");
	if (!f[F_ON].value)
		return missing(ld, map, "on");

	const yw_node_t *id = f[F_ID].value;
	if ((rc = get_id(ld, id, "id", &rule->id)))
		return rc;
	for (size_t i = 0; i < idx; i++)
		if (strcmp(p->rules[i].id, rule->id) == 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
				      "duplicate rule id \"%s\" (first at %d:%d)",
				      rule->id, p->rules[i].line, p->rules[i].col);

	const yw_node_t *on = f[F_ON].value;
	if (on->kind != YW_SCALAR || yw_is_null(on))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, on,
			      "on: expected an event type, got %s",
			      yw_describe(d, sizeof(d), on));
	set_pos(&rule->on_pos, on);
	if (ly_event_type_parse(on->str, &rule->on) != 0) {
		if (ly_trigger_parse(on->str, &rule->trigger) != 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, on,
				      "on: unknown event type %s",
				      yw_describe(d, sizeof(d), on));
		rule->on = LY_EV__COUNT;
	}

	if (!f[F_EARN].value && !f[F_ISSUE].value && !f[F_OFFER].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
			      "rule \"%s\" does nothing: it needs \"earn\", \"issue\" or \"offer\"",
			      rule->id);
	if (f[F_IF].value) {
		if ((rc = get_expr(ld, rule, f[F_IF].value, "if", LY_TYPE_BOOL,
				   &rule->if_expr)))
			return rc;
		set_pos(&rule->if_pos, f[F_IF].key_node);
	}
	if (f[F_ACTIVE].value) {
		if ((rc = load_active(ld, rule, f[F_ACTIVE].value)))
			return rc;
		set_pos(&rule->active_pos, f[F_ACTIVE].key_node);
	}
	if (f[F_EARN].value && (rc = load_earn(ld, rule, f[F_EARN].value)))
		return rc;
	if (f[F_LIMIT].value) {
		if ((rc = load_limit(ld, rule, f[F_LIMIT].value)))
			return rc;
		set_pos(&rule->limit_pos, f[F_LIMIT].key_node);
	}
	if (f[F_BUDGET].value) {
		if ((rc = load_budget(ld, rule, f[F_BUDGET].value)))
			return rc;
		set_pos(&rule->budget_pos, f[F_BUDGET].key_node);
	}
	if (f[F_STOP].value) {
		if ((rc = get_bool(ld, f[F_STOP].value, "stop", &rule->stop)))
			return rc;
		if (rule->stop)
			set_pos(&rule->stop_pos, f[F_STOP].key_node);
	}
	if (f[F_ISSUE].value) {
		if ((rc = load_issue(ld, f[F_ISSUE].value, "issue", &rule->issue)))
			return rc;
		set_pos(&rule->issue_pos, f[F_ISSUE].key_node);
	}
	if (f[F_OFFER].value) {
		if ((rc = load_offer(ld, rule, f[F_OFFER].value)))
			return rc;
		set_pos(&rule->offer_pos, f[F_OFFER].key_node);
	}
	return 0;
}

static int load_rules(loader_t *ld, const yw_node_t *seq)
{
	ly_program_t *p = ld->program;
	size_t i = 0;
	int rc;

	if ((rc = expect_seq(ld, seq, "rules", LY_PROGRAM_RULES_MAX, "rules")))
		return rc;
	if (seq->count == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, seq,
			      "rules: must have at least one rule");
	p->rules = calloc(seq->count, sizeof(*p->rules));
	if (!p->rules)
		return nomem(ld);
	for (const yw_node_t *n = seq->first; n; n = n->next, i++) {
		/* counted before loading so destroy frees a half-loaded rule */
		p->rules_len = i + 1;
		if ((rc = load_rule(ld, i, n)))
			return rc;
	}
	return 0;
}

static int load_root(loader_t *ld, const yw_node_t *root)
{
	enum {
		F_VERSION,
		F_PROGRAM,
		F_POINTS,
		F_TIERS,
		F_LIFECYCLE,
		F_OFFERS,
		F_REWARDS,
		F_RULES,
		F__COUNT
	};
	yw_field_t f[F__COUNT] = {
		[F_VERSION] = {"version"},     [F_PROGRAM] = {"program"},
		[F_POINTS] = {"points"},       [F_TIERS] = {"tiers"},
		[F_LIFECYCLE] = {"lifecycle"}, [F_OFFERS] = {"offers"},
		[F_REWARDS] = {"rewards"},     [F_RULES] = {"rules"},
	};
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int64_t version;
	int rc;

	if (root->kind != YW_MAP)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, root,
			      "expected a mapping at the top level, got %s",
			      yw_describe(d, sizeof(d), root));
	if ((rc = yw_map_fields(root, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_VERSION].value)
		return missing(ld, root, "version");
	const yw_node_t *v = f[F_VERSION].value;
	if (v->kind != YW_SCALAR || v->quoted ||
	    yw_parse_i64(v->str, v->len, &version) != 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, v,
			      "version: must be the integer 1, got %s",
			      yw_describe(d, sizeof(d), v));
	if (version != 1)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, v,
			      "version: unsupported version %lld (this loyaltyd reads version 1)",
			      (long long)version);
	if (!f[F_PROGRAM].value)
		return missing(ld, root, "program");
	if ((rc = load_program_section(ld, f[F_PROGRAM].value)))
		return rc;
	if (f[F_POINTS].value &&
	    (rc = load_points_section(ld, f[F_POINTS].value)))
		return rc;
	if (f[F_TIERS].value) {
		if ((rc = load_tiers_section(ld, f[F_TIERS].value)))
			return rc;
		set_pos(&p->tiers_pos, f[F_TIERS].key_node);
	}
	if (f[F_LIFECYCLE].value &&
	    (rc = load_lifecycle_section(ld, f[F_LIFECYCLE].value)))
		return rc;
	if (f[F_OFFERS].value) {
		if ((rc = load_offers_section(ld, f[F_OFFERS].value)))
			return rc;
		set_pos(&p->offers_pos, f[F_OFFERS].key_node);
	}
	if (f[F_REWARDS].value) {
		if ((rc = load_rewards_section(ld, f[F_REWARDS].value)))
			return rc;
		if (p->rewards_len)
			set_pos(&p->rewards_pos, f[F_REWARDS].key_node);
	}
	if (!f[F_RULES].value)
		return missing(ld, root, "rules");
	return load_rules(ld, f[F_RULES].value);
}

static int set_default(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = dup_n(value, strlen(value));
	return *field ? 0 : LY_ENOMEM;
}

static int index_rules(ly_program_t *p);

int ly_program_load_buf(ly_program_t **out, const char *name, const char *buf,
			size_t len, char *errstr, size_t errstr_size)
{
	loader_t ld = {.name = name, .errstr = errstr, .errstr_size = errstr_size};
	ly_arena_t *arena = NULL;
	yw_node_t *root = NULL;
	char hex[65];
	int rc;

	*out = NULL;
	if (errstr_size)
		errstr[0] = '\0';
	if (len > LY_PROGRAM_FILE_MAX_BYTES) {
		snprintf(errstr, errstr_size, "%s: file is larger than %d bytes",
			 name, LY_PROGRAM_FILE_MAX_BYTES);
		return LY_EINVAL;
	}
	ld.program = calloc(1, sizeof(*ld.program));
	arena = ly_arena_new(64 * 1024);
	if (!ld.program || !arena) {
		rc = nomem(&ld);
		goto out;
	}
	if ((rc = yw_parse(&root, arena, name, buf, len, errstr, errstr_size)))
		goto out;
	if (!root) {
		rc = yw_err_at(errstr, errstr_size, name, 1, 1, "file is empty");
		goto out;
	}
	ld.program->tier_window_days = 365;
	ld.program->at_risk_days = 60;
	ld.program->lost_days = 120;
	ld.program->expected_lifetime_years = 3;
	if ((rc = load_root(&ld, root)))
		goto out;

	ly_program_t *p = ld.program;
	if (!(p->path = dup_n(name, strlen(name))) ||
	    set_default(&p->currency, "TRY") ||
	    set_default(&p->timezone, "Europe/Istanbul") ||
	    set_default(&p->locale, "tr")) {
		rc = nomem(&ld);
		goto out;
	}
	char tzerr[256];
	if (!p->tz && (rc = ly_tz_load(&p->tz, p->timezone, tzerr, sizeof(tzerr)))) {
		if (rc == LY_ENOMEM) {
			rc = nomem(&ld);
			goto out;
		}
		const yw_node_t *tzn = ld.timezone_node;
		rc = yw_err_at(errstr, errstr_size, name, tzn ? tzn->line : 1,
			       tzn ? tzn->col : 1,
			       "program.timezone: cannot load time zone \"%s\": %s",
			       p->timezone, tzerr);
		goto out;
	}
	if ((rc = index_rules(p))) {
		rc = nomem(&ld);
		goto out;
	}
	ly_sha256_hex(buf, len, hex);
	memcpy(p->version, hex, 16);
	p->version[16] = '\0';
	*out = p;
	ld.program = NULL;
out:
	ly_program_destroy(ld.program);
	ly_arena_destroy(arena);
	return rc;
}

int ly_program_load(ly_program_t **out, const char *path, char *errstr,
		    size_t errstr_size)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = ly_read_file(path, LY_PROGRAM_FILE_MAX_BYTES, &buf, &len, errstr,
			       errstr_size)))
		return rc;
	rc = ly_program_load_buf(out, path, buf, len, errstr, errstr_size);
	free(buf);
	return rc;
}

/* The slot of on_rules for a rule's or an event's type and trigger. */
static size_t on_slot(ly_event_type_t on, ly_trigger_t trigger)
{
	return trigger != LY_TRIGGER_NONE ? (size_t)LY_EV__COUNT + (size_t)trigger
					  : (size_t)on;
}

const uint32_t *ly_program_rules_on(const ly_program_t *program,
				    const ly_event_t *ev, size_t *len)
{
	size_t slot = on_slot(ev->type, ev->trigger);
	LY_ASSERT(slot < LY_ARRAY_LEN(program->on_rules));
	*len = program->on_rules_len[slot];
	return program->on_rules[slot];
}

/* Builds on_rules: LY_ENOMEM or 0. */
static int index_rules(ly_program_t *p)
{
	for (size_t i = 0; i < p->rules_len; i++)
		p->on_rules_len[on_slot(p->rules[i].on, p->rules[i].trigger)]++;
	for (size_t s = 0; s < LY_ARRAY_LEN(p->on_rules); s++) {
		if (p->on_rules_len[s] &&
		    !(p->on_rules[s] = calloc(p->on_rules_len[s], sizeof(uint32_t))))
			return LY_ENOMEM;
		p->on_rules_len[s] = 0;
	}
	for (size_t i = 0; i < p->rules_len; i++) {
		size_t s = on_slot(p->rules[i].on, p->rules[i].trigger);
		p->on_rules[s][p->on_rules_len[s]++] = (uint32_t)i;
	}
	return 0;
}

void ly_program_destroy(ly_program_t *program)
{
	if (!program)
		return;
	for (size_t s = 0; s < LY_ARRAY_LEN(program->on_rules); s++)
		free(program->on_rules[s]);
	for (size_t i = 0; i < program->rules_len; i++) {
		ly_rule_t *r = &program->rules[i];
		free(r->id);
		ly_expr_destroy(r->if_expr);
		ly_expr_destroy(r->earn_of_expr);
		free(r->offer.template_id);
		for (size_t j = 0; j < r->offer.vars_len; j++) {
			free(r->offer.vars[j].name);
			ly_expr_destroy(r->offer.vars[j].expr);
		}
		free(r->offer.vars);
	}
	free(program->rules);
	for (size_t i = 0; i < program->tiers_len; i++) {
		ly_tier_t *t = &program->tiers[i];
		free(t->name);
		for (size_t j = 0; j < t->perks_len; j++)
			free(t->perks[j]);
		free(t->perks);
	}
	free(program->tiers);
	for (size_t i = 0; i < program->rewards_len; i++)
		free(program->rewards[i].id);
	free(program->rewards);
	ly_tz_destroy(program->tz);
	free(program->path);
	free(program->name);
	free(program->currency);
	free(program->timezone);
	free(program->locale);
	free(program);
}

int ly_rule_is_pending(const ly_program_t *program, const ly_rule_t *rule)
{
	if (rule->earn_pending >= 0)
		return rule->earn_pending;
	return rule->on == LY_EV_ORDER_PAID && program->pending_days > 0;
}

const ly_reward_t *ly_program_reward(const ly_program_t *program,
				     const char *id)
{
	for (size_t i = 0; i < program->rewards_len; i++)
		if (strcmp(program->rewards[i].id, id) == 0)
			return &program->rewards[i];
	return NULL;
}

const char *ly_rule_on_name(const ly_rule_t *rule)
{
	if (rule->trigger != LY_TRIGGER_NONE)
		return ly_trigger_name(rule->trigger);
	return ly_event_type_name(rule->on);
}
