/*
 * engine.c: the pure core (include/loyalty/engine.h). Rules run in file
 * order for each event whose type matches `on`. A rule fires when its
 * `active` window holds the event time and its `if` is true; a firing rule
 * earns points (pending until event time + pending_days when the rule's
 * points start as pending), and `stop: true` on it skips the rules after
 * it. Expressions read the event and the customer's balances as they were
 * before the event through the environment below. Integer arithmetic only,
 * checked for overflow; a proportional earn is floor(base / per) * points
 * with a negative base earning nothing.
 */
#include "loyalty/engine.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define US_PER_DAY ((int64_t)86400 * 1000000)

/* ---- the expression environment ---- */

/*
 * What expressions see: the event and the balances before it. The
 * customer.* fields this version does not keep are unreadable (LY_EIO, so
 * evaluation fails rather than guess); ly_engine_check_program refuses
 * programs that name them.
 */
typedef struct env_ctx {
	const ly_event_t *ev;
	int64_t available, pending; /* before the event */
} env_ctx_t;

static void set_int(ly_value_t *out, ly_type_t type, int64_t i)
{
	out->type = type;
	out->u.i = i;
}

static void set_bool(ly_value_t *out, int b)
{
	out->type = LY_TYPE_BOOL;
	out->u.b = b != 0;
}

/* NULL is absent. */
static int set_str(ly_value_t *out, const char *s)
{
	if (!s)
		return LY_ENOTFOUND;
	out->type = LY_TYPE_STRING;
	out->u.s.ptr = s;
	out->u.s.len = strlen(s);
	return 0;
}

static int set_tristate(ly_value_t *out, ly_tristate_t t)
{
	if (t == LY_UNSET)
		return LY_ENOTFOUND;
	set_bool(out, t == LY_TRUE);
	return 0;
}

static int env_get(void *vctx, int field_id, const void *item, ly_value_t *out)
{
	const env_ctx_t *ctx = vctx;
	const ly_event_t *ev = ctx->ev;
	const ly_event_type_t t = ev->type;
	const int profile = t == LY_EV_CUSTOMER_REGISTERED ||
			    t == LY_EV_CUSTOMER_UPDATED;
	const int refund = t == LY_EV_ORDER_REFUNDED || t == LY_EV_ORDER_CANCELLED;
	const ly_order_item_t *it = item;

	switch ((ly_field_t)field_id) {
	case LY_FIELD_EVENT_ID:
		return set_str(out, ev->id);
	case LY_FIELD_EVENT_SOURCE:
		return set_str(out, ev->source);
	case LY_FIELD_EVENT_TYPE:
		return set_str(out, ly_event_type_name(t));
	case LY_FIELD_EVENT_TIME:
		set_int(out, LY_TYPE_TIME, ev->time_us);
		return 0;
	case LY_FIELD_CUSTOMER_POINTS_AVAILABLE:
		set_int(out, LY_TYPE_INT, ctx->available);
		return 0;
	case LY_FIELD_CUSTOMER_POINTS_PENDING:
		set_int(out, LY_TYPE_INT, ctx->pending);
		return 0;
	case LY_FIELD_PROFILE_FIRST_NAME:
		return profile ? set_str(out, ev->u.customer.first_name) : LY_EIO;
	case LY_FIELD_PROFILE_LOCALE:
		return profile ? set_str(out, ev->u.customer.locale) : LY_EIO;
	case LY_FIELD_PROFILE_BIRTH_DATE: {
		int y, m, d;
		if (!profile)
			return LY_EIO;
		if (!ev->u.customer.birth_date)
			return LY_ENOTFOUND;
		if (ly_date_parse(ev->u.customer.birth_date, &y, &m, &d))
			return LY_EIO; /* the decoder validated it */
		set_int(out, LY_TYPE_DATE, ly_days_from_civil(y, m, d));
		return 0;
	}
	case LY_FIELD_PROFILE_CONSENT_EMAIL:
		return profile ? set_tristate(out, ev->u.customer.consent_email) : LY_EIO;
	case LY_FIELD_PROFILE_CONSENT_SMS:
		return profile ? set_tristate(out, ev->u.customer.consent_sms) : LY_EIO;
	case LY_FIELD_PROFILE_REFERRED_BY:
		return profile ? set_str(out, ev->u.customer.referred_by) : LY_EIO;
	case LY_FIELD_ORDER_ORDER_ID:
		if (t == LY_EV_ORDER_PAID)
			return set_str(out, ev->u.order_paid.order_id);
		return refund ? set_str(out, ev->u.refund.order_id) : LY_EIO;
	case LY_FIELD_ORDER_TOTAL:
		if (t != LY_EV_ORDER_PAID)
			return LY_EIO;
		set_int(out, LY_TYPE_INT, ev->u.order_paid.total);
		return 0;
	case LY_FIELD_ORDER_CURRENCY:
		return t == LY_EV_ORDER_PAID ? set_str(out, ev->u.order_paid.currency)
					     : LY_EIO;
	case LY_FIELD_ORDER_COUPON_CODES:
		/* `item` of the scalar list: item points at the element */
		if (t != LY_EV_ORDER_PAID || !item)
			return LY_EIO;
		return set_str(out, *(const char *const *)item);
	case LY_FIELD_ITEM_SKU:
		return it ? set_str(out, it->sku) : LY_EIO;
	case LY_FIELD_ITEM_CATEGORY:
		return it ? set_str(out, it->category) : LY_EIO;
	case LY_FIELD_ITEM_QUANTITY:
		if (!it)
			return LY_EIO;
		set_int(out, LY_TYPE_INT, it->quantity);
		return 0;
	case LY_FIELD_ITEM_UNIT_PRICE:
		if (!it)
			return LY_EIO;
		set_int(out, LY_TYPE_INT, it->unit_price);
		return 0;
	case LY_FIELD_ORDER_AMOUNT:
		if (!refund)
			return LY_EIO;
		if (!ev->u.refund.has_amount)
			return LY_ENOTFOUND;
		set_int(out, LY_TYPE_INT, ev->u.refund.amount);
		return 0;
	case LY_FIELD_REVIEW_REVIEW_ID:
	case LY_FIELD_REVIEW_PRODUCT_ID:
	case LY_FIELD_REVIEW_RATING:
	case LY_FIELD_REVIEW_VERIFIED_PURCHASE:
	case LY_FIELD_REVIEW_HAS_PHOTO:
	case LY_FIELD_REVIEW_TEXT_LENGTH:
		if (t != LY_EV_REVIEW_SUBMITTED)
			return LY_EIO;
		switch ((ly_field_t)field_id) {
		case LY_FIELD_REVIEW_REVIEW_ID:
			return set_str(out, ev->u.review.review_id);
		case LY_FIELD_REVIEW_PRODUCT_ID:
			return set_str(out, ev->u.review.product_id);
		case LY_FIELD_REVIEW_RATING:
			set_int(out, LY_TYPE_INT, ev->u.review.rating);
			return 0;
		case LY_FIELD_REVIEW_VERIFIED_PURCHASE:
			set_bool(out, ev->u.review.verified_purchase);
			return 0;
		case LY_FIELD_REVIEW_HAS_PHOTO:
			set_bool(out, ev->u.review.has_photo);
			return 0;
		default:
			set_int(out, LY_TYPE_INT, ev->u.review.text_length);
			return 0;
		}
	case LY_FIELD_SOCIAL_INTERACTION_ID:
	case LY_FIELD_SOCIAL_PLATFORM:
	case LY_FIELD_SOCIAL_ACTION:
	case LY_FIELD_SOCIAL_URL:
		if (t != LY_EV_SOCIAL_INTERACTION)
			return LY_EIO;
		return set_str(out, field_id == LY_FIELD_SOCIAL_INTERACTION_ID
					    ? ev->u.social.interaction_id
				    : field_id == LY_FIELD_SOCIAL_PLATFORM
					    ? ev->u.social.platform
				    : field_id == LY_FIELD_SOCIAL_ACTION
					    ? ev->u.social.action
					    : ev->u.social.url);
	case LY_FIELD_SURVEY_SURVEY_ID:
		return t == LY_EV_SURVEY_COMPLETED
			       ? set_str(out, ev->u.survey.survey_id)
			       : LY_EIO;
	case LY_FIELD_SURVEY_NPS:
	case LY_FIELD_SURVEY_CSAT: {
		if (t != LY_EV_SURVEY_COMPLETED)
			return LY_EIO;
		int64_t v = field_id == LY_FIELD_SURVEY_NPS ? ev->u.survey.nps
							    : ev->u.survey.csat;
		if (v < 0) /* -1: absent */
			return LY_ENOTFOUND;
		set_int(out, LY_TYPE_INT, v);
		return 0;
	}
	case LY_FIELD_REDEEM_REQUEST_ID:
	case LY_FIELD_REDEEM_REWARD:
		if (t != LY_EV_POINTS_REDEEM)
			return LY_EIO;
		return set_str(out, field_id == LY_FIELD_REDEEM_REQUEST_ID
					    ? ev->u.redeem.request_id
					    : ev->u.redeem.reward);
	case LY_FIELD_ADJUST_REQUEST_ID:
	case LY_FIELD_ADJUST_REASON:
		if (t != LY_EV_POINTS_ADJUST)
			return LY_EIO;
		return set_str(out, field_id == LY_FIELD_ADJUST_REQUEST_ID
					    ? ev->u.adjust.request_id
					    : ev->u.adjust.reason);
	case LY_FIELD_ADJUST_POINTS:
		if (t != LY_EV_POINTS_ADJUST)
			return LY_EIO;
		set_int(out, LY_TYPE_INT, ev->u.adjust.points);
		return 0;
	default:
		/* customer.* not kept yet, trigger data, list fields read as
		 * values: nothing to give */
		return LY_EIO;
	}
}

static size_t env_list_len(void *vctx, int field_id, const void *item)
{
	const env_ctx_t *ctx = vctx;
	(void)item;
	if (ctx->ev->type != LY_EV_ORDER_PAID)
		return 0;
	if (field_id == LY_FIELD_ORDER_ITEMS)
		return ctx->ev->u.order_paid.items_len;
	if (field_id == LY_FIELD_ORDER_COUPON_CODES)
		return ctx->ev->u.order_paid.coupon_codes
			       ? ctx->ev->u.order_paid.coupon_codes_len
			       : 0;
	return 0;
}

static const void *env_list_item(void *vctx, int field_id, size_t index,
				 const void *item)
{
	const env_ctx_t *ctx = vctx;
	(void)item;
	LY_ASSERT(index < env_list_len(vctx, field_id, item));
	if (field_id == LY_FIELD_ORDER_ITEMS)
		return &ctx->ev->u.order_paid.items[index];
	return &ctx->ev->u.order_paid.coupon_codes[index];
}

/* Evaluates an expression of rule; LY_EINVAL with `rule "x": why`. */
static int eval(const ly_rule_t *rule, const ly_expr_t *expr,
		const ly_expr_env_t *env, ly_value_t *out, char *errstr,
		size_t errstr_size)
{
	char why[256] = "";
	int rc = ly_expr_eval(expr, env, out, why, sizeof(why));
	if (rc)
		snprintf(errstr, errstr_size, "rule \"%s\": %s", rule->id, why);
	return rc;
}

/* ---- rules ---- */

/* Whether rule fires on ev: its active window holds and its `if` is true
 * (an absent result is false). *outcome says which, or LY_RULE_FIRED. */
static int rule_fires(const ly_program_t *program, const ly_rule_t *rule,
		      const ly_event_t *ev, const ly_expr_env_t *env,
		      ly_rule_outcome_t *outcome, char *errstr,
		      size_t errstr_size)
{
	*outcome = LY_RULE_NOT_ACTIVE;
	if (rule->has_active_from &&
	    ev->time_us < ly_tz_day_start_us(program->tz, rule->active_from_day))
		return 0;
	if (rule->has_active_until &&
	    ev->time_us >= ly_tz_day_start_us(program->tz, rule->active_until_day))
		return 0;
	*outcome = LY_RULE_IF_FALSE;
	if (rule->if_expr) {
		ly_value_t v;
		int rc = eval(rule, rule->if_expr, env, &v, errstr, errstr_size);
		if (rc)
			return rc;
		LY_ASSERT(v.type == LY_TYPE_BOOL);
		if (v.absent || !v.u.b)
			return 0;
	}
	*outcome = LY_RULE_FIRED;
	return 0;
}

/* The base a proportional earn is computed from; *absent when an `of:`
 * expression has no value (the rule then earns nothing). */
static int earn_base(const ly_rule_t *rule, const ly_event_t *ev,
		     const ly_expr_env_t *env, int64_t *out, int *absent,
		     char *errstr, size_t errstr_size)
{
	*absent = 0;
	switch (rule->earn_of) {
	case LY_OF_ORDER_TOTAL:
		LY_ASSERT(ev->type == LY_EV_ORDER_PAID);
		*out = ev->u.order_paid.total;
		return 0;
	case LY_OF_EXPR: {
		ly_value_t v;
		int rc = eval(rule, rule->earn_of_expr, env, &v, errstr,
			      errstr_size);
		if (rc)
			return rc;
		LY_ASSERT(v.type == LY_TYPE_INT);
		*absent = v.absent;
		*out = v.absent ? 0 : v.u.i;
		return 0;
	}
	case LY_OF_NONE:
		break;
	}
	LY_ASSERT(!"earn base of a fixed rule");
	return LY_EINVAL;
}

/* Points a rule earns on ev, with the reason that explains the number
 * (also when it is 0: "floor(99/100)*1", "survey.nps is absent",
 * "-500 is negative"). */
static int rule_points(const ly_rule_t *rule, const ly_event_t *ev,
		       const ly_expr_env_t *env, int64_t *points,
		       const char **reason, ly_arena_t *arena, char *errstr,
		       size_t errstr_size)
{
	*points = 0;
	*reason = NULL;
	if (rule->earn_per == 0) {
		*points = rule->earn_points;
		*reason = ly_arena_printf(arena, "%lld", (long long)rule->earn_points);
		return *reason ? 0 : LY_ENOMEM;
	}
	int64_t base;
	int absent;
	int rc = earn_base(rule, ev, env, &base, &absent, errstr, errstr_size);
	if (rc)
		return rc;
	if (absent)
		*reason = ly_arena_printf(arena, "%s is absent",
					  ly_expr_source(rule->earn_of_expr));
	else if (base < 0) /* no negative earning: a refund is its own event */
		*reason = ly_arena_printf(arena, "%lld is negative", (long long)base);
	if (absent || base < 0)
		return *reason ? 0 : LY_ENOMEM;
	int64_t units = base / rule->earn_per;
	if (ly_mul_i64(units, rule->earn_points, points)) {
		snprintf(errstr, errstr_size,
			 "rule \"%s\": floor(%lld/%lld)*%lld overflows", rule->id,
			 (long long)base, (long long)rule->earn_per,
			 (long long)rule->earn_points);
		return LY_EINVAL;
	}
	*reason = ly_arena_printf(arena, "floor(%lld/%lld)*%lld", (long long)base,
				  (long long)rule->earn_per,
				  (long long)rule->earn_points);
	return *reason ? 0 : LY_ENOMEM;
}

/* ---- explaining ---- */

/* "2026-11-01T23:59:00+03:00": us as local time in tz, with its offset. */
static void format_local(char *buf, size_t size, const ly_tz_t *tz, int64_t us)
{
	int64_t off_us = ly_tz_offset_us(tz, us);
	char t[48];
	ly_time_format_rfc3339(us + off_us, t, sizeof(t));
	size_t len = strlen(t);
	if (len > 0 && t[len - 1] == 'Z')
		t[len - 1] = '\0';
	int64_t off_min = (off_us < 0 ? -off_us : off_us) / 60000000;
	snprintf(buf, size, "%s%c%02lld:%02lld", t, off_us < 0 ? '-' : '+',
		 (long long)(off_min / 60), (long long)(off_min % 60));
}

/* "2026-06-01", or "..." for an open end. */
static void format_day(char *buf, size_t size, int has, int64_t day)
{
	int y, m, d;
	if (!has) {
		snprintf(buf, size, "...");
		return;
	}
	ly_civil_from_days(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
}

/* The why of a rule that did not fire (trace->outcome set); arena text. */
static const char *why_not(const ly_program_t *program, const ly_rule_t *rule,
			   const ly_rule_t *stopped_by, const ly_event_t *ev,
			   const ly_expr_env_t *env, ly_rule_outcome_t outcome,
			   ly_arena_t *arena)
{
	char when[64], from[16], until[16];
	switch (outcome) {
	case LY_RULE_SKIPPED:
		return ly_arena_printf(arena, "skipped: on %s", ly_rule_on_name(rule));
	case LY_RULE_STOPPED:
		return ly_arena_printf(arena, "stopped by rule \"%s\"", stopped_by->id);
	case LY_RULE_NOT_ACTIVE:
		format_local(when, sizeof(when), program->tz, ev->time_us);
		format_day(from, sizeof(from), rule->has_active_from,
			   rule->active_from_day);
		format_day(until, sizeof(until), rule->has_active_until,
			   rule->active_until_day);
		return ly_arena_printf(arena, "not active: %s is outside [%s, %s) %s",
				       when, from, until, program->timezone);
	case LY_RULE_IF_FALSE: {
		ly_buf_t b = {0};
		const char *why = NULL;
		if (ly_buf_puts(&b, "if false: ") == 0 &&
		    ly_expr_explain(rule->if_expr, env, &b) == 0)
			why = ly_arena_strdup(arena, b.data);
		ly_buf_free(&b);
		return why;
	}
	case LY_RULE_FIRED:
		break;
	}
	LY_ASSERT(!"why_not of a fired rule");
	return NULL;
}

/* The why of a fired rule; arena text. */
static const char *why_fired(const ly_posting_t *p, int64_t points,
			     const char *reason, ly_arena_t *arena)
{
	const char *how = reason ? reason : "";
	if (!p)
		return ly_arena_printf(arena, reason ? "fired: 0 points (%s)"
						     : "fired: 0 points%s", how);
	if (p->delta_pending) {
		char until[48];
		ly_time_format_rfc3339(p->available_at_us, until, sizeof(until));
		return ly_arena_printf(arena, "fired: +%lld pending until %s: %s",
				       (long long)points, until, how);
	}
	return ly_arena_printf(arena, "fired: +%lld available: %s",
			       (long long)points, how);
}

/* ---- the run ---- */

/*
 * The one evaluation behind ly_engine_apply and ly_engine_explain: traces
 * NULL runs it without explaining, else one trace per rule goes there
 * (room for program->rules_len) and *traces_len counts them as they come.
 */
static int run(ly_effects_t *out, ly_rule_trace_t *traces, size_t *traces_len,
	       const ly_program_t *program, ly_customer_state_t *state,
	       const ly_event_t *ev, ly_arena_t *arena, char *errstr,
	       size_t errstr_size)
{
	out->postings = NULL;
	out->postings_len = 0;
	size_t matching = 0;
	for (size_t i = 0; i < program->rules_len; i++)
		matching += program->rules[i].on == ev->type &&
			    program->rules[i].has_earn;
	if (matching == 0 && !traces) /* only rules that issue or offer:
					 nothing yet */
		return 0;

	ly_posting_t *postings = NULL;
	if (matching &&
	    !(postings = ly_arena_alloc(arena, matching * sizeof(*postings))))
		return LY_ENOMEM;
	env_ctx_t ctx = {ev, state->available, state->pending};
	const ly_expr_env_t env = {&ctx, env_get, env_list_len, env_list_item};
	int64_t available = state->available;
	int64_t pending = state->pending;
	const ly_rule_t *stopped_by = NULL;
	size_t n = 0;
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *rule = &program->rules[i];
		ly_rule_trace_t *tr = traces ? &traces[i] : NULL;
		ly_rule_outcome_t outcome = LY_RULE_SKIPPED;
		int rc = 0;
		if (rule->on == ev->type && stopped_by)
			outcome = LY_RULE_STOPPED;
		else if (rule->on == ev->type)
			rc = rule_fires(program, rule, ev, &env, &outcome, errstr,
					errstr_size);
		if (rc)
			return rc;
		if (outcome != LY_RULE_FIRED) {
			if (tr) {
				*tr = (ly_rule_trace_t){rule, outcome, NULL, 0, NULL};
				if (!(tr->why = why_not(program, rule, stopped_by, ev,
							&env, outcome, arena)))
					return LY_ENOMEM;
				*traces_len = i + 1;
			}
			continue;
		}
		int64_t points = 0;
		const char *reason = NULL;
		ly_posting_t *p = NULL;
		if (rule->has_earn &&
		    (rc = rule_points(rule, ev, &env, &points, &reason, arena,
				      errstr, errstr_size)))
			return rc;
		if (points == 0)
			goto fired;
		p = &postings[n];
		p->rule_id = rule->id;
		p->reason = reason;
		p->available_at_us = ev->time_us;
		if (ly_rule_is_pending(program, rule)) {
			int64_t wait_us;
			if (ly_mul_i64(program->pending_days, US_PER_DAY, &wait_us) ||
			    ly_add_i64(ev->time_us, wait_us, &p->available_at_us))
				goto overflow;
			p->delta_pending = points;
			if (ly_add_i64(pending, points, &pending))
				goto overflow;
		} else {
			p->delta_available = points;
			if (ly_add_i64(available, points, &available))
				goto overflow;
		}
		if (program->expire_days > 0) {
			int64_t life_us;
			if (ly_mul_i64(program->expire_days, US_PER_DAY, &life_us) ||
			    ly_add_i64(p->available_at_us, life_us, &p->expires_at_us))
				goto overflow;
		}
		p->available_after = available;
		p->pending_after = pending;
		n++;
	fired:
		if (tr) {
			*tr = (ly_rule_trace_t){rule, LY_RULE_FIRED, NULL, points,
						reason};
			if (!(tr->why = why_fired(p, points, reason, arena)))
				return LY_ENOMEM;
			*traces_len = i + 1;
		}
		/* a rule fires whether or not it earned anything this time */
		if (rule->stop)
			stopped_by = rule;
		continue;
	overflow:
		snprintf(errstr, errstr_size,
			 "rule \"%s\": balance or date arithmetic overflows",
			 rule->id);
		return LY_EINVAL;
	}
	state->available = available;
	state->pending = pending;
	if (n)
		state->changed = 1;
	out->postings = postings;
	out->postings_len = n;
	return 0;
}

int ly_engine_apply(ly_effects_t *out, const ly_program_t *program,
		    ly_customer_state_t *state, const ly_event_t *ev,
		    ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	return run(out, NULL, NULL, program, state, ev, arena, errstr,
		   errstr_size);
}

int ly_engine_explain(ly_rule_trace_t **traces, size_t *traces_len,
		      ly_effects_t *out, const ly_program_t *program,
		      ly_customer_state_t *state, const ly_event_t *ev,
		      ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	*traces = NULL;
	*traces_len = 0;
	out->postings = NULL;
	out->postings_len = 0;
	if (program->rules_len == 0)
		return run(out, NULL, NULL, program, state, ev, arena, errstr,
			   errstr_size);
	ly_rule_trace_t *t = ly_arena_alloc(arena, program->rules_len * sizeof(*t));
	if (!t)
		return LY_ENOMEM;
	*traces = t;
	return run(out, t, traces_len, program, state, ev, arena, errstr,
		   errstr_size);
}

/* ---- what this version evaluates ---- */

/* The first (in file order) part of the program the engine would ignore;
 * on a tie, the first one considered. */
typedef struct unsupported {
	ly_pos_t pos;
	const char *rule_id; /* NULL: a top-level section */
	const char *what;
	const char *extra;   /* a trigger's name */
	const char *field;   /* a field this version does not keep */
} unsupported_t;

static void consider(unsupported_t *u, ly_pos_t pos, const char *rule_id,
		     const char *what, const char *extra, const char *field)
{
	if (pos.line == 0)
		return;
	if (u->pos.line != 0 &&
	    (u->pos.line < pos.line ||
	     (u->pos.line == pos.line && u->pos.col <= pos.col)))
		return;
	u->pos = pos;
	u->rule_id = rule_id;
	u->what = what;
	u->extra = extra;
	u->field = field;
}

/* 1 for the fields the engine gives expressions today: event.*, the
 * event's data and, of customer.*, only the two balances it keeps. */
static int field_kept(int field_id)
{
	if (field_id < LY_FIELD_CUSTOMER_ORDER_COUNT ||
	    field_id > LY_FIELD_CUSTOMER_BIRTHDAY_TODAY)
		return 1;
	return field_id == LY_FIELD_CUSTOMER_POINTS_AVAILABLE ||
	       field_id == LY_FIELD_CUSTOMER_POINTS_PENDING;
}

/* The first field (in schema order) expr reads that is not kept, at pos. */
static void consider_fields(unsupported_t *u, const ly_rule_t *r,
			    const ly_expr_t *expr, ly_pos_t pos)
{
	if (!expr)
		return;
	const ly_expr_schema_t *schema = ly_program_schema(r->on, r->trigger);
	for (size_t i = 0; i < schema->fields_len; i++) {
		const ly_expr_field_t *f = &schema->fields[i];
		if (!field_kept(f->id) && ly_expr_reads_field(expr, f->id)) {
			consider(u, pos, r->id, NULL, NULL, f->path);
			return;
		}
	}
}

int ly_engine_check_program(const ly_program_t *program, char *errstr,
			    size_t errstr_size)
{
	unsupported_t u = {{0, 0}, NULL, NULL, NULL, NULL};
	consider(&u, program->tiers_pos, NULL, "\"tiers\" are", NULL, NULL);
	consider(&u, program->rewards_pos, NULL, "\"rewards\" are", NULL, NULL);
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		if (r->trigger != LY_TRIGGER_NONE)
			consider(&u, r->on_pos, r->id, "trigger",
				 ly_trigger_name(r->trigger), NULL);
		/* if, active, stop and `of` run; their expressions may read
		 * only the fields this version keeps */
		consider_fields(&u, r, r->if_expr, r->if_pos);
		if (r->earn_of == LY_OF_EXPR)
			consider_fields(&u, r, r->earn_of_expr, r->of_pos);
		consider(&u, r->limit_pos, r->id, "\"limit\" is", NULL, NULL);
		consider(&u, r->budget_pos, r->id, "\"budget\" is", NULL, NULL);
		consider(&u, r->issue_pos, r->id, "\"issue\" is", NULL, NULL);
		consider(&u, r->offer_pos, r->id, "\"offer\" is", NULL, NULL);
		consider(&u, r->tier_multiplier_pos, r->id,
			 "\"tier_multiplier\" is", NULL, NULL);
		for (size_t k = 0; k < r->offer.vars_len; k++)
			consider_fields(&u, r, r->offer.vars[k].expr, r->offer_pos);
	}
	if (u.pos.line == 0)
		return 0;
	if (u.field)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": field \"%s\" is not kept by this version",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.field);
	else if (u.extra)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": trigger \"%s\" is not produced by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.extra);
	else if (u.rule_id)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": %s not evaluated by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.what);
	else
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: %s not evaluated by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.what);
	return LY_EINVAL;
}

/* ---- codes ---- */

/* HMAC-SHA256(secret, source \0 event_id \0 rule_id \0 n block). */
static void code_block(unsigned char mac[32], const void *secret,
		       size_t secret_len, const char *source, const char *event_id,
		       const char *rule_id, uint32_t n, uint32_t block)
{
	unsigned char tail[8] = {
		(unsigned char)(n >> 24),     (unsigned char)(n >> 16),
		(unsigned char)(n >> 8),      (unsigned char)n,
		(unsigned char)(block >> 24), (unsigned char)(block >> 16),
		(unsigned char)(block >> 8),  (unsigned char)block,
	};
	ly_buf_t msg = {0};
	unsigned int len = 0;
	int rc = ly_buf_append(&msg, source, strlen(source) + 1) ||
		 ly_buf_append(&msg, event_id, strlen(event_id) + 1) ||
		 ly_buf_append(&msg, rule_id, strlen(rule_id) + 1) ||
		 ly_buf_append(&msg, tail, sizeof(tail));
	LY_ASSERT(rc == 0);
	unsigned char *md = HMAC(EVP_sha256(), secret, (int)secret_len,
				 (const unsigned char *)msg.data, msg.len, mac, &len);
	ly_buf_free(&msg);
	LY_ASSERT(md && len == 32);
}

void ly_engine_code(char *out, const void *secret, size_t secret_len,
		    const char *source, const char *event_id, const char *rule_id,
		    uint32_t n)
{
	static const char alphabet[] = LY_CODE_ALPHABET;
	const unsigned symbols = sizeof(alphabet) - 1;
	const unsigned limit = 256 - 256 % symbols; /* unbiased: reject the rest */
	size_t len = 0;
	for (uint32_t block = 0; len < LY_CODE_LENGTH; block++) {
		unsigned char mac[32];
		code_block(mac, secret, secret_len, source, event_id, rule_id, n, block);
		for (size_t i = 0; i < sizeof(mac) && len < LY_CODE_LENGTH; i++)
			if (mac[i] < limit)
				out[len++] = alphabet[mac[i] % symbols];
	}
	out[LY_CODE_LENGTH] = '\0';
}
