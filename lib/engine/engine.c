/*
 * engine.c: the pure core (include/loyalty/engine.h). Rules run in file
 * order for each event whose type matches `on`. A rule fires when its
 * `active` window holds the event time, its `if` is true, its `limit` has
 * room in the event's calendar period and its `budget` room for what it
 * would credit; a firing rule earns points (pending until event time +
 * pending_days when the rule's points start as pending), issues its code,
 * makes its offer, and `stop: true` on it skips the rules after it.
 * Expressions read the event and the customer as they were before the
 * event through the environment below. Integer arithmetic only, checked
 * for overflow; a proportional earn is floor(base / per) * points with a
 * negative base earning nothing, and a tier multiplier floors again.
 * Nothing in the state changes until every rule has run, so a failing
 * event leaves no trace.
 */
#include "loyalty/engine.h"

/* SHA256_Init and friends: see code_block. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

/* ---- the expression environment ---- */

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

/* What expressions see: the event, and the customer before it (the state
 * is not touched until the run is over). */
typedef struct env_ctx {
	const ly_program_t *program;
	const ly_event_t *ev;
	const ly_customer_state_t *cs;
} env_ctx_t;

static const char *const segment_names[] = {
	[LY_SEGMENT_NEW] = "new",
	[LY_SEGMENT_ACTIVE] = "active",
	[LY_SEGMENT_AT_RISK] = "at_risk",
	[LY_SEGMENT_LOST] = "lost",
};

const char *ly_segment_name(ly_segment_t s)
{
	if ((int)s < 0 || (size_t)s >= LY_ARRAY_LEN(segment_names))
		return "new";
	return segment_names[s];
}

int ly_segment_parse(const char *name, ly_segment_t *out)
{
	for (size_t i = 0; i < LY_ARRAY_LEN(segment_names); i++)
		if (strcmp(name, segment_names[i]) == 0) {
			*out = (ly_segment_t)i;
			return 0;
		}
	return LY_ENOTFOUND;
}

/* Level tier of the program, the highest for an index past the end;
 * NULL without tiers. */
static const ly_tier_t *tier_at(const ly_program_t *program, size_t tier)
{
	if (program->tiers_len == 0)
		return NULL;
	return &program->tiers[tier < program->tiers_len ? tier
							 : program->tiers_len - 1];
}

/* The tier's name; "" without tiers. */
static const char *tier_name(const ly_program_t *program, size_t tier)
{
	const ly_tier_t *t = tier_at(program, tier);
	return t ? t->name : "";
}

/* 1 when the customer's birthday is the event's day in program time; a
 * 29 February birthday is kept on 28 February in other years. */
static int birthday_today(const ly_program_t *program,
			  const ly_customer_state_t *cs, int64_t time_us)
{
	int y, m, d;
	if (cs->birth_month == 0)
		return 0;
	ly_civil_from_days(ly_tz_local_day(program->tz, time_us), &y, &m, &d);
	if (cs->birth_month == 2 && cs->birth_day == 29 && !ly_is_leap_year(y))
		return m == 2 && d == 28;
	return m == cs->birth_month && d == cs->birth_day;
}

/* customer.* */
static int customer_field(const env_ctx_t *ctx, int field_id, ly_value_t *out)
{
	const ly_customer_state_t *cs = ctx->cs;
	switch ((ly_field_t)field_id) {
	case LY_FIELD_CUSTOMER_ORDER_COUNT:
		set_int(out, LY_TYPE_INT, cs->order_count);
		return 0;
	case LY_FIELD_CUSTOMER_LIFETIME_SPEND:
		set_int(out, LY_TYPE_INT, cs->lifetime_spend);
		return 0;
	case LY_FIELD_CUSTOMER_WINDOW_SPEND:
		set_int(out, LY_TYPE_INT, cs->window_spend);
		return 0;
	case LY_FIELD_CUSTOMER_TIER:
		return set_str(out, tier_name(ctx->program, cs->tier));
	case LY_FIELD_CUSTOMER_SEGMENT:
		return set_str(out, ly_segment_name(cs->segment));
	case LY_FIELD_CUSTOMER_POINTS_AVAILABLE:
		set_int(out, LY_TYPE_INT, cs->available);
		return 0;
	case LY_FIELD_CUSTOMER_POINTS_PENDING:
		set_int(out, LY_TYPE_INT, cs->pending);
		return 0;
	case LY_FIELD_CUSTOMER_DAYS_SINCE_LAST_ORDER:
		if (!cs->has_last_order)
			return LY_ENOTFOUND;
		set_int(out, LY_TYPE_INT,
			ly_tz_local_day(ctx->program->tz, ctx->ev->time_us) -
				ly_tz_local_day(ctx->program->tz, cs->last_order_us));
		return 0;
	case LY_FIELD_CUSTOMER_CLV:
		set_int(out, LY_TYPE_INT, cs->clv);
		return 0;
	case LY_FIELD_CUSTOMER_TOP_CATEGORY:
		return set_str(out, cs->top_category ? cs->top_category : "");
	case LY_FIELD_CUSTOMER_LOCALE:
		return set_str(out, cs->locale ? cs->locale : ctx->program->locale);
	case LY_FIELD_CUSTOMER_CONSENT_EMAIL:
		set_bool(out, cs->consent_email);
		return 0;
	case LY_FIELD_CUSTOMER_CONSENT_SMS:
		set_bool(out, cs->consent_sms);
		return 0;
	case LY_FIELD_CUSTOMER_BIRTHDAY_TODAY:
		set_bool(out, birthday_today(ctx->program, cs, ctx->ev->time_us));
		return 0;
	default:
		break;
	}
	return LY_EIO;
}

/* The data of a trigger event. */
static int trigger_field(const ly_event_t *ev, int field_id, ly_value_t *out)
{
	const ly_trigger_t t = ev->trigger;
	switch ((ly_field_t)field_id) {
	case LY_FIELD_SEGMENT_FROM:
	case LY_FIELD_SEGMENT_TO:
		if (t != LY_TRIGGER_SEGMENT_CHANGED)
			return LY_EIO;
		return set_str(out, field_id == LY_FIELD_SEGMENT_FROM
					    ? ev->u.change.from : ev->u.change.to);
	case LY_FIELD_TIER_FROM:
	case LY_FIELD_TIER_TO:
		if (t != LY_TRIGGER_TIER_CHANGED)
			return LY_EIO;
		return set_str(out, field_id == LY_FIELD_TIER_FROM
					    ? ev->u.change.from : ev->u.change.to);
	case LY_FIELD_REFERRAL_REFERRED:
		return t == LY_TRIGGER_REFERRAL_QUALIFIED
			       ? set_str(out, ev->u.referral.referred) : LY_EIO;
	case LY_FIELD_EXPIRING_POINTS:
		if (t != LY_TRIGGER_POINTS_EXPIRING)
			return LY_EIO;
		set_int(out, LY_TYPE_INT, ev->u.expiring.points);
		return 0;
	case LY_FIELD_EXPIRING_DATE:
		if (t != LY_TRIGGER_POINTS_EXPIRING)
			return LY_EIO;
		set_int(out, LY_TYPE_DATE, ev->u.expiring.date_day);
		return 0;
	default:
		break;
	}
	return LY_EIO;
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
		return set_str(out, ly_event_name(ev));
	case LY_FIELD_EVENT_TIME:
		set_int(out, LY_TYPE_TIME, ev->time_us);
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
		if (field_id >= LY_FIELD_CUSTOMER_ORDER_COUNT &&
		    field_id <= LY_FIELD_CUSTOMER_BIRTHDAY_TODAY)
			return customer_field(ctx, field_id, out);
		/* trigger data; a list read as a value has nothing to give */
		return trigger_field(ev, field_id, out);
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
	char why[256];
	why[0] = '\0';
	int rc = ly_expr_eval(expr, env, out, why, sizeof(why));
	if (rc)
		snprintf(errstr, errstr_size, "rule \"%s\": %s", rule->id, why);
	return rc;
}

/* ---- rules ---- */

/* Whether rule fires on ev: its active window holds and its `if` is true
 * (an absent result is false). *outcome says which, or LY_RULE_FIRED. */
static int rule_fires(const ly_rule_t *rule, int64_t local_day,
		      const ly_expr_env_t *env, ly_rule_outcome_t *outcome,
		      char *errstr, size_t errstr_size)
{
	/* the window runs from local midnight to local midnight, so comparing
	 * the event's local day with its days is comparing instants */
	*outcome = LY_RULE_NOT_ACTIVE;
	if (rule->has_active_from && local_day < rule->active_from_day)
		return 0;
	if (rule->has_active_until && local_day >= rule->active_until_day)
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

/* "1.25" for 12500 basis points, "1" for 10000, "1.5" for 15000. */
static void format_multiplier(char *buf, size_t size, int64_t bp)
{
	int64_t whole = bp / LY_MULTIPLIER_ONE, frac = bp % LY_MULTIPLIER_ONE;
	if (frac == 0) {
		snprintf(buf, size, "%lld", (long long)whole);
		return;
	}
	char digits[8];
	snprintf(digits, sizeof(digits), "%04lld", (long long)frac);
	for (size_t n = strlen(digits); n > 0 && digits[n - 1] == '0'; n--)
		digits[n - 1] = '\0';
	snprintf(buf, size, "%lld.%s", (long long)whole, digits);
}

/* Points a rule earns on ev, with the reason that explains the number
 * (also when it is 0: "floor(99/100)*1", "survey.nps is absent",
 * "-500 is negative"); with `tier_multiplier`, times the customer's
 * tier's multiplier, floored: "floor(125000/100)*1*1.25". */
static int rule_points(const ly_program_t *program, const ly_rule_t *rule,
		       const ly_customer_state_t *cs, const ly_event_t *ev,
		       const ly_expr_env_t *env, int64_t *points,
		       const char **reason, ly_arena_t *arena, char *errstr,
		       size_t errstr_size)
{
	*points = 0;
	*reason = NULL;
	if (rule->earn_per == 0) {
		*points = rule->earn_points;
		*reason = ly_arena_printf(arena, "%lld", (long long)rule->earn_points);
	} else {
		int64_t base;
		int absent;
		int rc = earn_base(rule, ev, env, &base, &absent, errstr, errstr_size);
		if (rc)
			return rc;
		if (absent)
			*reason = ly_arena_printf(arena, "%s is absent",
						  ly_expr_source(rule->earn_of_expr));
		else if (base < 0) /* no negative earning: a refund is its own event */
			*reason = ly_arena_printf(arena, "%lld is negative",
						  (long long)base);
		if (absent || base < 0)
			return *reason ? 0 : LY_ENOMEM;
		int64_t units = base / rule->earn_per;
		if (ly_mul_i64(units, rule->earn_points, points)) {
			snprintf(errstr, errstr_size,
				 "rule \"%s\": floor(%lld/%lld)*%lld overflows",
				 rule->id, (long long)base, (long long)rule->earn_per,
				 (long long)rule->earn_points);
			return LY_EINVAL;
		}
		*reason = ly_arena_printf(arena, "floor(%lld/%lld)*%lld",
					  (long long)base, (long long)rule->earn_per,
					  (long long)rule->earn_points);
	}
	if (!*reason)
		return LY_ENOMEM;
	const ly_tier_t *tier = tier_at(program, cs->tier);
	if (!rule->earn_tier_multiplier || !tier)
		return 0;
	char m[32];
	format_multiplier(m, sizeof(m), tier->earn_multiplier_bp);
	int64_t scaled;
	if (ly_mul_i64(*points, tier->earn_multiplier_bp, &scaled)) {
		snprintf(errstr, errstr_size, "rule \"%s\": %s*%s overflows",
			 rule->id, *reason, m);
		return LY_EINVAL;
	}
	*points = scaled / LY_MULTIPLIER_ONE; /* floor: points are >= 0 here */
	*reason = ly_arena_printf(arena, "%s*%s", *reason, m);
	return *reason ? 0 : LY_ENOMEM;
}

/* ---- limits and budgets ---- */

ly_limit_count_t *lc_limit_find(ly_customer_state_t *cs, size_t ri,
				    const char *period)
{
	for (size_t i = 0; i < cs->limits_len; i++)
		if (cs->limits[i].rule == ri &&
		    strcmp(cs->limits[i].period, period) == 0)
			return &cs->limits[i];
	return NULL;
}

ly_limit_count_t *ly_customer_limit_append(ly_customer_state_t *cs,
					   uint32_t rule, const char *period,
					   int64_t count, ly_arena_t *arena)
{
	ly_limit_count_t *c = ly_arena_push(arena, (void **)&cs->limits, &cs->limits_len,
					    &cs->limits_cap, sizeof(*c), 4);
	if (!c)
		return NULL;
	c->rule = rule;
	snprintf(c->period, sizeof(c->period), "%s", period);
	c->count = count;
	return c;
}

int lc_limit_count(ly_customer_state_t *cs, size_t ri, const char *period,
		       ly_arena_t *arena)
{
	ly_limit_count_t *c = lc_limit_find(cs, ri, period);
	if (!c && !(c = ly_customer_limit_append(cs, (uint32_t)ri, period, 0, arena)))
		return LY_ENOMEM;
	c->count++;
	c->changed = 1;
	return 0;
}

void ly_engine_limit_period(const ly_program_t *program, const ly_rule_t *rule,
			    const ly_event_t *ev, char key[LY_PERIOD_KEY_MAX])
{
	ly_limit_period_at(program, (uint32_t)(rule - program->rules), ev->time_us, key);
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

/* What the engine knew when a rule did not fire. */
typedef struct not_fired {
	ly_rule_outcome_t outcome;
	const ly_rule_t *stopped_by;
	const char *period;  /* LIMITED */
	int64_t used;        /* LIMITED: the count; NO_BUDGET: spent so far */
	int64_t points;      /* NO_BUDGET: what it would have credited */
} not_fired_t;

/* The why of a rule that did not fire; arena text. */
static const char *why_not(const ly_program_t *program, const ly_rule_t *rule,
			   const not_fired_t *nf, const ly_event_t *ev,
			   const ly_expr_env_t *env, ly_arena_t *arena)
{
	char when[64], from[16], until[16];
	switch (nf->outcome) {
	case LY_RULE_SKIPPED:
		return ly_arena_printf(arena, "skipped: on %s", ly_rule_on_name(rule));
	case LY_RULE_STOPPED:
		return ly_arena_printf(arena, "stopped by rule \"%s\"",
				       nf->stopped_by->id);
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
	case LY_RULE_LIMITED:
		if (rule->limit_per == LY_PERIOD_EVER)
			return ly_arena_printf(arena, "limit used up: %lld of %lld ever",
					       (long long)nf->used,
					       (long long)rule->limit_count);
		return ly_arena_printf(arena, "limit used up: %lld of %lld per %s in %s %s",
				       (long long)nf->used, (long long)rule->limit_count,
				       ly_period_name(rule->limit_per), nf->period,
				       program->timezone);
	case LY_RULE_NO_BUDGET:
		return ly_arena_printf(arena, "budget used up: +%lld would make %lld of %lld",
				       (long long)nf->points,
				       (long long)(nf->used + nf->points),
				       (long long)rule->budget_points);
	case LY_RULE_FIRED:
		break;
	}
	LY_ASSERT(!"why_not of a fired rule");
	return NULL;
}

/* The why of a fired rule; arena text. */
static const char *why_fired(const ly_posting_t *p, int64_t points,
			     const char *reason, const ly_issued_code_t *code,
			     const ly_offer_made_t *offer, ly_arena_t *arena)
{
	const char *how = reason ? reason : "";
	const char *why;
	if (!p)
		why = ly_arena_printf(arena, reason ? "fired: 0 points (%s)"
						    : "fired: 0 points%s", how);
	else if (p->delta_pending) {
		char until[48];
		ly_time_format_rfc3339(p->available_at_us, until, sizeof(until));
		why = ly_arena_printf(arena, "fired: +%lld pending until %s: %s",
				      (long long)points, until, how);
	} else
		why = ly_arena_printf(arena, "fired: +%lld available: %s",
				      (long long)points, how);
	if (why && code) {
		char until[48];
		ly_time_format_rfc3339(code->valid_until_us, until, sizeof(until));
		why = ly_arena_printf(arena, "%s; issues %s %s valid until %s", why,
				      code->kind == LY_ISSUE_GIFT_CARD ? "gift_card"
								       : "discount",
				      code->code, until);
	}
	if (why && offer)
		why = ly_arena_printf(arena, "%s; offers %s by %s", why,
				      offer->template_id,
				      offer->channels == (LY_CHANNEL_EMAIL | LY_CHANNEL_SMS)
					      ? "email, sms"
				      : offer->channels == LY_CHANNEL_SMS ? "sms"
									  : "email");
	return why;
}

/* ---- effects of a firing ---- */

int lc_issue_code(ly_issued_code_t *c, const ly_issue_t *issue, const char *rule_id,
		  const ly_engine_shared_t *shared, const ly_event_t *ev)
{
	int64_t life_us;
	LY_ASSERT(shared && shared->code_secret);
	memset(c, 0, sizeof(*c));
	c->rule_id = rule_id;
	c->kind = issue->kind;
	c->amount = issue->amount;
	c->percent = issue->percent;
	c->min_order = issue->min_order;
	c->issued_at_us = ev->time_us;
	if (ly_mul_i64(issue->valid_days, LY_US_PER_DAY, &life_us) ||
	    ly_add_i64(ev->time_us, life_us, &c->valid_until_us))
		return LY_EINVAL;
	ly_engine_code(c->code, shared->code_secret, shared->code_secret_len,
		       ev->source, ev->id, rule_id, 0);
	return 0;
}

static int make_offer(ly_offer_made_t *o, const ly_rule_t *rule,
		      const ly_issued_code_t *code, int64_t points,
		      const ly_expr_env_t *env, ly_arena_t *arena, char *errstr,
		      size_t errstr_size)
{
	o->rule = rule;
	o->rule_id = rule->id;
	o->template_id = rule->offer.template_id;
	o->channels = rule->offer.channels;
	o->code = code;
	o->points_earned = points;
	o->vars = NULL;
	o->vars_len = rule->offer.vars_len;
	if (o->vars_len == 0)
		return 0;
	if (!(o->vars = ly_arena_alloc(arena, o->vars_len * sizeof(*o->vars))))
		return LY_ENOMEM;
	for (size_t k = 0; k < o->vars_len; k++) {
		o->vars[k].name = rule->offer.vars[k].name;
		int rc = eval(rule, rule->offer.vars[k].expr, env, &o->vars[k].value,
			      errstr, errstr_size);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- what an event says about the customer ---- */

static int add_trigger(ly_effects_t *out, const ly_event_t *ev,
		       ly_trigger_t trigger, const char *kind, const char *from,
		       const char *to, ly_arena_t *arena)
{
	ly_event_t *t = &out->triggers[out->triggers_len];
	memset(t, 0, sizeof(*t));
	t->id = ly_arena_printf(arena, "%s:%s:%s", kind, ev->customer_id, ev->id);
	t->source = ev->source;
	t->type = LY_EV__COUNT;
	t->trigger = trigger;
	t->time_us = ev->time_us;
	t->customer_id = ev->customer_id;
	t->u.change.from = from;
	t->u.change.to = to;
	if (!t->id)
		return LY_ENOMEM;
	out->triggers_len++;
	return 0;
}

/*
 * The profile after ev, into *cs (a copy of the state; the caller keeps it
 * only when every rule ran): an order.paid counts the order and its spend,
 * makes the customer active and raises the tier its window spend reaches
 * (each change a trigger); customer.registered/updated set what they carry.
 */
static int update_profile(ly_effects_t *out, const ly_program_t *program,
			  ly_customer_state_t *cs, const ly_event_t *ev,
			  ly_arena_t *arena)
{
	if (ev->type == LY_EV_ORDER_PAID) {
		int64_t total = ev->u.order_paid.total;
		if (ly_add_i64(cs->order_count, 1, &cs->order_count) ||
		    ly_add_i64(cs->lifetime_spend, total, &cs->lifetime_spend) ||
		    ly_add_i64(cs->window_spend, total, &cs->window_spend))
			return LY_EINVAL;
		cs->has_last_order = 1;
		cs->last_order_us = ev->time_us;
		cs->profile_changed = 1;
		if (cs->segment != LY_SEGMENT_ACTIVE) {
			int rc = add_trigger(out, ev, LY_TRIGGER_SEGMENT_CHANGED,
					     "segment", ly_segment_name(cs->segment),
					     ly_segment_name(LY_SEGMENT_ACTIVE), arena);
			if (rc)
				return rc;
			cs->segment = LY_SEGMENT_ACTIVE;
		}
		size_t tier = cs->tier;
		for (size_t i = tier + 1; i < program->tiers_len; i++)
			if (cs->window_spend >= program->tiers[i].min_spend)
				tier = i;
		if (tier != cs->tier) {
			int rc = add_trigger(out, ev, LY_TRIGGER_TIER_CHANGED, "tier",
					     tier_name(program, cs->tier),
					     tier_name(program, tier), arena);
			if (rc)
				return rc;
			cs->tier = tier;
		}
		return 0;
	}
	if (ev->type != LY_EV_CUSTOMER_REGISTERED &&
	    ev->type != LY_EV_CUSTOMER_UPDATED)
		return 0;
	const ly_customer_data_t *c = &ev->u.customer;
	if (c->locale)
		cs->locale = c->locale;
	if (c->first_name && !cs->erased)
		cs->first_name = c->first_name;
	if (c->consent_email != LY_UNSET) {
		const int given = c->consent_email == LY_TRUE;
		cs->withdrawals_email += cs->consent_email && !given;
		cs->consent_email = given;
	}
	if (c->consent_sms != LY_UNSET) {
		const int given = c->consent_sms == LY_TRUE;
		cs->withdrawals_sms += cs->consent_sms && !given;
		cs->consent_sms = given;
	}
	if (c->birth_date && !cs->erased) {
		if (ly_date_parse(c->birth_date, &cs->birth_year, &cs->birth_month,
				  &cs->birth_day))
			return LY_EINVAL; /* the decoder validated it */
	}
	cs->profile_changed = 1;
	return 0;
}

/* ---- the run ---- */

/* A segment or tier trigger announces a change that has happened: the
 * customer its rules see is already in the new segment or tier (an unknown
 * tier name leaves the tier as it is). */
static void take_change(const ly_program_t *program, ly_customer_state_t *cs,
			const ly_event_t *ev)
{
	if (ev->trigger == LY_TRIGGER_SEGMENT_CHANGED) {
		ly_segment_t s;
		if (ly_segment_parse(ev->u.change.to, &s) == 0 && s != cs->segment) {
			cs->segment = s;
			cs->profile_changed = 1;
		}
	} else if (ev->trigger == LY_TRIGGER_TIER_CHANGED) {
		for (size_t i = 0; i < program->tiers_len; i++)
			if (strcmp(program->tiers[i].name, ev->u.change.to) == 0 &&
			    i != cs->tier) {
				cs->tier = i;
				cs->profile_changed = 1;
			}
	}
}

static int rule_matches(const ly_rule_t *rule, const ly_event_t *ev)
{
	return rule->on == ev->type && rule->trigger == ev->trigger;
}

/*
 * The one evaluation behind ly_engine_apply and ly_engine_explain: traces
 * NULL runs it without explaining, else one trace per rule goes there
 * (room for program->rules_len) and *traces_len counts them as they come.
 */
static int run(ly_effects_t *out, ly_rule_trace_t *traces, size_t *traces_len,
	       const ly_program_t *program, ly_engine_shared_t *shared,
	       ly_customer_state_t *state, const ly_event_t *ev,
	       ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	memset(out, 0, sizeof(*out));
	size_t matching;
	const uint32_t *on = ly_program_rules_on(program, ev, &matching);
	int profile = ev->type == LY_EV_ORDER_PAID ||
		      ev->type == LY_EV_CUSTOMER_REGISTERED ||
		      ev->type == LY_EV_CUSTOMER_UPDATED;
	const int refund = ev->type == LY_EV_ORDER_REFUNDED ||
			   ev->type == LY_EV_ORDER_CANCELLED;
	if ((ev->type == LY_EV_POINTS_REDEEM &&
	     lc_request_seen(state, ev->u.redeem.request_id)) ||
	    (ev->type == LY_EV_POINTS_ADJUST &&
	     lc_request_seen(state, ev->u.adjust.request_id)))
		return 0; /* applied before: request_applied stays 0 */
	if (ev->type == LY_EV_ORDER_PAID &&
	    lc_order_find(state, ev->u.order_paid.order_id)) {
		snprintf(errstr, errstr_size, "order \"%s\" was paid before",
			 ev->u.order_paid.order_id);
		return LY_EINVAL;
	}
	if (refund && !lc_order_find(state, ev->u.refund.order_id)) {
		/* before its order: kept until the order comes */
		ly_held_t *h = ly_arena_push(arena, (void **)&state->held, &state->held_len,
					     &state->held_cap, sizeof(*h), 4);
		if (!h)
			return LY_ENOMEM;
		h->ev = *ev;
		h->is_new = 1;
		out->held = 1;
		return 0;
	}
	const size_t builtin = lc_builtin_max(state, ev);
	if (matching == 0 && !traces && !profile && !builtin && !refund &&
	    ev->type != LY_EV_POINTS_REDEEM && ev->trigger == LY_TRIGGER_NONE)
		return 0;

	ly_posting_t *postings = NULL;
	ly_issued_code_t *codes = NULL;
	ly_offer_made_t *offers = NULL;
	/* the rules that fired: index, points credited, limit period */
	size_t *fired = NULL;
	int64_t *credited = NULL;
	char (*periods)[LY_PERIOD_KEY_MAX] = NULL;
	if ((matching || builtin) &&
	    (!(postings = ly_arena_alloc(arena, (matching + builtin) * sizeof(*postings))) ||
	     !(codes = ly_arena_alloc(arena, (matching + 1) * sizeof(*codes))) ||
	     !(offers = ly_arena_alloc(arena, matching * sizeof(*offers))) ||
	     !(fired = ly_arena_alloc(arena, matching * sizeof(*fired))) ||
	     !(credited = ly_arena_alloc(arena, matching * sizeof(*credited))) ||
	     !(periods = ly_arena_alloc(arena, matching * sizeof(*periods)))))
		return LY_ENOMEM;
	const int64_t local_day = ly_tz_local_day(program->tz, ev->time_us);
	/* the customer the rules see; state itself changes only at the end */
	ly_customer_state_t cur = *state;
	take_change(program, &cur, ev);
	if (!cur.orders_partial) {
		if (cur.window_to_us &&
		    (ev->time_us < cur.window_from_us || ev->time_us > cur.window_to_us))
			state->window_short = cur.window_short = 1; /* kept either way */
		cur.window_spend = lc_window_spend(program, &cur, ev->time_us);
	}
	env_ctx_t ctx = {program, ev, &cur};
	const ly_expr_env_t env = {&ctx, env_get, env_list_len, env_list_item};
	int64_t available = cur.available;
	int64_t pending = cur.pending;
	const ly_rule_t *stopped_by = NULL;
	size_t n = 0, ncodes = 0, noffers = 0, nfired = 0;
	/* explaining walks every rule, to say why the others were skipped;
	 * applying walks only the rules on this type */
	const size_t walk = traces ? program->rules_len : matching;
	for (size_t j = 0; j < walk; j++) {
		const size_t i = traces ? j : on[j];
		const ly_rule_t *rule = &program->rules[i];
		ly_rule_trace_t *tr = traces ? &traces[i] : NULL;
		not_fired_t nf = {LY_RULE_SKIPPED, stopped_by, NULL, 0, 0};
		char *period = periods ? periods[nfired] : NULL;
		int64_t points = 0;
		const char *reason = NULL;
		int rc = 0;
		if (rule_matches(rule, ev) && stopped_by)
			nf.outcome = LY_RULE_STOPPED;
		else if (rule_matches(rule, ev))
			rc = rule_fires(rule, local_day, &env, &nf.outcome, errstr,
					errstr_size);
		if (rc)
			return rc;
		if (nf.outcome == LY_RULE_FIRED && rule->limit_count > 0) {
			ly_engine_limit_period(program, rule, ev, period); /* kept if it fires */
			const ly_limit_count_t *c = lc_limit_find(&cur, i, period);
			if (c && c->count >= rule->limit_count) {
				nf.outcome = LY_RULE_LIMITED;
				nf.period = period;
				nf.used = c->count;
			}
		}
		if (nf.outcome == LY_RULE_FIRED && rule->has_earn &&
		    (rc = rule_points(program, rule, &cur, ev, &env, &points,
				      &reason, arena, errstr, errstr_size)))
			return rc;
		if (nf.outcome == LY_RULE_FIRED && rule->budget_points > 0 &&
		    points > 0) {
			LY_ASSERT(shared && shared->budget_spent);
			int64_t after;
			if (ly_add_i64(shared->budget_spent[i], points, &after) ||
			    after > rule->budget_points) {
				nf.outcome = LY_RULE_NO_BUDGET;
				nf.used = shared->budget_spent[i];
				nf.points = points;
			}
		}
		if (nf.outcome != LY_RULE_FIRED) {
			if (tr) {
				*tr = (ly_rule_trace_t){rule, nf.outcome, NULL, 0, NULL};
				if (!(tr->why = why_not(program, rule, &nf, ev, &env,
							arena)))
					return LY_ENOMEM;
				*traces_len = i + 1;
			}
			continue;
		}
		ly_posting_t *p = NULL;
		ly_issued_code_t *code = NULL;
		ly_offer_made_t *offer = NULL;
		if (points > 0) {
			p = &postings[n];
			memset(p, 0, sizeof(*p));
			p->rule_id = rule->id;
			p->reason = reason;
			p->available_at_us = ev->time_us;
			if (ly_rule_is_pending(program, rule)) {
				int64_t wait_us;
				if (ly_mul_i64(program->pending_days, LY_US_PER_DAY, &wait_us) ||
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
				if (ly_mul_i64(program->expire_days, LY_US_PER_DAY, &life_us) ||
				    ly_add_i64(p->available_at_us, life_us,
					       &p->expires_at_us))
					goto overflow;
			}
			p->available_after = available;
			p->pending_after = pending;
			n++;
		}
		if (rule->issue.kind != LY_ISSUE_NONE) {
			code = &codes[ncodes];
			if (lc_issue_code(code, &rule->issue, rule->id, shared, ev))
				goto overflow;
			ncodes++;
		}
		if (rule->offer.template_id) {
			offer = &offers[noffers];
			rc = make_offer(offer, rule, code, points, &env, arena, errstr,
					errstr_size);
			if (rc)
				return rc;
			noffers++;
		}
		fired[nfired] = i;
		credited[nfired++] = points;
		if (tr) {
			*tr = (ly_rule_trace_t){rule, LY_RULE_FIRED, NULL, points, reason};
			if (!(tr->why = why_fired(p, points, reason, code, offer, arena)))
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

	/* Every rule ran: what the event does besides. */
	int reward_code = 0;
	if (builtin || ev->type == LY_EV_POINTS_REDEEM) {
		int rc = lc_builtin(out, postings, &n, codes ? &codes[ncodes] : NULL,
				    &reward_code, program, shared, &cur, ev, &available,
				    &pending, arena, errstr, errstr_size);
		if (rc)
			return rc;
		ncodes += reward_code;
	}
	if (profile) {
		size_t cap = 2 + lc_followups_max(&cur, ev);
		if (!(out->triggers = ly_arena_alloc(arena, cap * sizeof(*out->triggers))))
			return LY_ENOMEM;
		int rc = update_profile(out, program, &cur, ev, arena);
		if (rc == LY_EINVAL)
			snprintf(errstr, errstr_size,
				 "the customer's order count or spend overflows");
		if (rc)
			return rc;
	}
	for (size_t k = 0; k < nfired; k++)
		if (program->rules[fired[k]].limit_count > 0 &&
		    lc_limit_count(&cur, fired[k], periods[k], arena))
			return LY_ENOMEM;
	/* nothing can fail from here on */
	for (size_t k = 0; k < nfired; k++)
		if (program->rules[fired[k]].budget_points > 0 && credited[k] > 0) {
			shared->budget_spent[fired[k]] += credited[k];
			shared->budget_changed[fired[k]] = 1;
		}
	cur.available = available;
	cur.pending = pending;
	if (n)
		cur.changed = 1;
	int rc = lc_commit(out, program, &cur, ev, postings, n, arena);
	if (!rc && profile)
		rc = lc_profile(out, program, &cur, ev, arena);
	if (!rc && noffers)
		rc = lc_route_offers(program, &cur, ev, offers, noffers, arena);
	if (rc)
		return rc;
	/* the scheduler's next work, as far as this event shows it */
	int64_t due = cur.next_due_us;
	ly_engine_plan(program, &cur);
	if (due && (!cur.next_due_us || due < cur.next_due_us))
		cur.next_due_us = due;
	if (cur.next_due_us != state->next_due_us)
		cur.profile_changed = 1;
	*state = cur;
	out->postings = postings;
	out->postings_len = n;
	out->codes = codes;
	out->codes_len = ncodes;
	out->offers = offers;
	out->offers_len = noffers;
	return 0;
}

int ly_engine_run_rules(ly_effects_t *out, const ly_program_t *program,
			ly_engine_shared_t *shared, ly_customer_state_t *state,
			const ly_event_t *ev, ly_arena_t *arena, char *errstr,
			size_t errstr_size)
{
	return run(out, NULL, NULL, program, shared, state, ev, arena, errstr,
		   errstr_size);
}

int ly_engine_apply(ly_effects_t *out, const ly_program_t *program,
		    ly_engine_shared_t *shared, ly_customer_state_t *state,
		    const ly_event_t *ev, ly_arena_t *arena, char *errstr,
		    size_t errstr_size)
{
	return run(out, NULL, NULL, program, shared, state, ev, arena, errstr,
		   errstr_size);
}

int ly_engine_explain(ly_rule_trace_t **traces, size_t *traces_len,
		      ly_effects_t *out, const ly_program_t *program,
		      ly_engine_shared_t *shared, ly_customer_state_t *state,
		      const ly_event_t *ev, ly_arena_t *arena, char *errstr,
		      size_t errstr_size)
{
	*traces = NULL;
	*traces_len = 0;
	memset(out, 0, sizeof(*out));
	if (program->rules_len == 0)
		return run(out, NULL, NULL, program, shared, state, ev, arena,
			   errstr, errstr_size);
	ly_rule_trace_t *t = ly_arena_alloc(arena, program->rules_len * sizeof(*t));
	if (!t)
		return LY_ENOMEM;
	*traces = t;
	return run(out, t, traces_len, program, shared, state, ev, arena, errstr,
		   errstr_size);
}

/* ---- codes ---- */

/*
 * HMAC-SHA256(secret, source \0 event_id \0 rule_id \0 n block), RFC 2104
 * over OpenSSL's SHA-256 on stack contexts: OpenSSL 3's one-shot HMAC()
 * allocates a dozen times per call, and a code is made per firing, so the
 * engine would not stay free of the heap. The low-level SHA-256 calls are
 * deprecated in OpenSSL 3 but kept; tests pin known codes, and the
 * integration tests recompute every stored code with Python's hmac.
 */
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
	unsigned char key[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK];
	SHA256_CTX ctx;
	if (secret_len > sizeof(key))
		SHA256(secret, secret_len, key);
	else if (secret_len)
		memcpy(key, secret, secret_len);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = key[i] ^ 0x36;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, pad, sizeof(pad));
	SHA256_Update(&ctx, source, strlen(source) + 1);
	SHA256_Update(&ctx, event_id, strlen(event_id) + 1);
	SHA256_Update(&ctx, rule_id, strlen(rule_id) + 1);
	SHA256_Update(&ctx, tail, sizeof(tail));
	SHA256_Final(mac, &ctx);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] = key[i] ^ 0x5c;
	SHA256_Init(&ctx);
	SHA256_Update(&ctx, pad, sizeof(pad));
	SHA256_Update(&ctx, mac, 32);
	SHA256_Final(mac, &ctx);
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
