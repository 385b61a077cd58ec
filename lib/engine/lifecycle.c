/*
 * lifecycle.c: what happens to points and to the customer besides the
 * rules (docs/lifecycle.md): lots and their consumption, refunds per rule
 * from the points each rule earned on the order, redemptions against the
 * rewards, adjustments, the profile (first order, categories, clv,
 * referral), held refunds, and the scheduler's work in time order.
 *
 * Pure, like engine.c: the state in, the state and the effects out, the
 * arena for memory. Amounts are checked for overflow; a product of two
 * amounts (E × R) is taken in 128 bits and is at most E after the
 * division.
 */
#include <stdio.h>
#include <string.h>

#include "engine_int.h"

/* ---- small things ---- */

/* floor(a × b / c) for 0 <= b <= c, c > 0: at most a. */
static int64_t scaled(int64_t a, int64_t b, int64_t c)
{
	return (int64_t)((__int128)a * b / c);
}

static int64_t min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

ly_order_t *lc_order_find(const ly_customer_state_t *cs, const char *order_id)
{
	for (size_t i = 0; i < cs->orders_len; i++)
		if (strcmp(cs->orders[i].order_id, order_id) == 0)
			return &cs->orders[i];
	return NULL;
}

int64_t lc_window_spend(const ly_program_t *program,
			const ly_customer_state_t *cs, int64_t t)
{
	const int64_t from = t - program->tier_window_days * LY_US_PER_DAY;
	int64_t sum = cs->window_base;
	for (size_t i = 0; i < cs->orders_len; i++) {
		const ly_order_t *o = &cs->orders[i];
		if (o->paid_at_us > from && o->paid_at_us <= t)
			sum += o->total - o->refunded;
	}
	return sum;
}

int lc_request_seen(const ly_customer_state_t *cs, const char *request_id)
{
	for (size_t i = 0; i < cs->requests_len; i++)
		if (strcmp(cs->requests[i], request_id) == 0)
			return 1;
	return 0;
}

static const ly_reward_t *reward_find(const ly_program_t *program, const char *id)
{
	for (size_t i = 0; i < program->rewards_len; i++)
		if (strcmp(program->rewards[i].id, id) == 0)
			return &program->rewards[i];
	return NULL;
}

/* The pending lot rule earned with the order's event, or NULL. */
static ly_lot_t *pending_lot(const ly_customer_state_t *cs, const char *event_id,
			     const char *rule_id)
{
	for (size_t i = 0; i < cs->lots_len; i++) {
		ly_lot_t *l = &cs->lots[i];
		if (!l->released && l->rule_id && strcmp(l->event_id, event_id) == 0 &&
		    strcmp(l->rule_id, rule_id) == 0)
			return l;
	}
	return NULL;
}

/* What each rule has reversed once the order's refunds total r. */
static int64_t reversal_target(const ly_order_t *o, size_t k, int64_t r)
{
	if (o->total == 0)
		return r >= o->total ? o->earned[k] : 0;
	return scaled(o->earned[k], r, o->total);
}

/* The refunded total after a refund or cancellation of o. */
static int64_t refunded_after(const ly_order_t *o, const ly_event_t *ev)
{
	const int64_t rest = o->total - o->refunded;
	int64_t amount = rest;
	if (ev->type == LY_EV_ORDER_REFUNDED && ev->u.refund.has_amount)
		amount = min64(ev->u.refund.amount, rest);
	return o->refunded + amount;
}

/* ---- what an event does besides its rules ---- */

size_t lc_builtin_max(const ly_customer_state_t *cs, const ly_event_t *ev)
{
	switch (ev->type) {
	case LY_EV_ORDER_REFUNDED:
	case LY_EV_ORDER_CANCELLED: {
		const ly_order_t *o = lc_order_find(cs, ev->u.refund.order_id);
		return o ? o->rules_len : 0;
	}
	case LY_EV_POINTS_REDEEM:
	case LY_EV_POINTS_ADJUST:
		return 1;
	default:
		return 0;
	}
}

static int posting_debit(ly_posting_t *p, int64_t da, int64_t dp,
			 int64_t *available, int64_t *pending)
{
	p->delta_available = da;
	p->delta_pending = dp;
	if (ly_add_i64(*available, da, available) || ly_add_i64(*pending, dp, pending))
		return LY_EINVAL;
	p->available_after = *available;
	p->pending_after = *pending;
	return 0;
}

static int refund(ly_posting_t *postings, size_t *n, const ly_customer_state_t *cs,
		  const ly_event_t *ev, int64_t *available, int64_t *pending,
		  ly_arena_t *arena)
{
	const ly_order_t *o = lc_order_find(cs, ev->u.refund.order_id);
	LY_ASSERT(o && !cs->lots_partial);
	const int64_t r = refunded_after(o, ev);
	for (size_t k = 0; k < o->rules_len; k++) {
		const int64_t target = reversal_target(o, k, r);
		const int64_t delta = target - o->reversed[k];
		if (delta <= 0)
			continue;
		const ly_lot_t *lot = pending_lot(cs, o->event_id, o->rule_ids[k]);
		const int64_t from_pending = lot ? min64(delta, lot->remaining) : 0;
		ly_posting_t *p = &postings[(*n)++];
		memset(p, 0, sizeof(*p));
		p->rule_id = o->rule_ids[k];
		p->order_event_id = o->event_id;
		p->available_at_us = ev->time_us;
		if (o->total == 0)
			p->reason = ly_arena_printf(arena, "cancel of a free order: %lld-%lld",
						    (long long)o->earned[k],
						    (long long)o->reversed[k]);
		else
			p->reason = ly_arena_printf(arena, "refund %lld of %lld: floor(%lld*%lld/%lld)-%lld",
						    (long long)(r - o->refunded),
						    (long long)o->total,
						    (long long)o->earned[k], (long long)r,
						    (long long)o->total,
						    (long long)o->reversed[k]);
		if (!p->reason)
			return LY_ENOMEM;
		if (posting_debit(p, -(delta - from_pending), -from_pending, available,
				  pending))
			return LY_EINVAL;
	}
	return 0;
}

int lc_builtin(ly_effects_t *out, ly_posting_t *postings, size_t *n,
	       ly_issued_code_t *code, int *code_issued,
	       const ly_program_t *program, ly_engine_shared_t *shared,
	       const ly_customer_state_t *cs, const ly_event_t *ev,
	       int64_t *available, int64_t *pending, ly_arena_t *arena,
	       char *errstr, size_t errstr_size)
{
	*code_issued = 0;
	int rc = 0;
	switch (ev->type) {
	case LY_EV_ORDER_REFUNDED:
	case LY_EV_ORDER_CANCELLED:
		rc = refund(postings, n, cs, ev, available, pending, arena);
		break;
	case LY_EV_POINTS_REDEEM: {
		const ly_reward_t *reward = reward_find(program, ev->u.redeem.reward);
		out->request_applied = 1;
		out->reward = reward;
		if (!reward) {
			out->request_outcome = "rejected";
			out->reject_reason = "unknown_reward";
			break;
		}
		if (cs->available < reward->cost) {
			out->request_outcome = "rejected";
			out->reject_reason = "insufficient_points";
			break;
		}
		out->request_outcome = "completed";
		ly_posting_t *p = &postings[(*n)++];
		memset(p, 0, sizeof(*p));
		p->available_at_us = ev->time_us;
		p->reason = ly_arena_printf(arena, "redeem %s: %lld", reward->id,
					    (long long)reward->cost);
		if (!p->reason)
			return LY_ENOMEM;
		if (posting_debit(p, -reward->cost, 0, available, pending)) {
			rc = LY_EINVAL;
			break;
		}
		if (reward->issue.kind != LY_ISSUE_NONE) {
			const char *rid = ly_arena_printf(arena, "reward:%s", reward->id);
			if (!rid)
				return LY_ENOMEM;
			if (lc_issue_code(code, &reward->issue, rid, shared, ev)) {
				rc = LY_EINVAL;
				break;
			}
			*code_issued = 1;
			out->reward_code = code;
		}
		break;
	}
	case LY_EV_POINTS_ADJUST: {
		const int64_t points = ev->u.adjust.points;
		out->request_applied = 1;
		out->request_outcome = "applied";
		ly_posting_t *p = &postings[(*n)++];
		memset(p, 0, sizeof(*p));
		p->available_at_us = ev->time_us;
		if (points > 0 && program->expire_days > 0)
			p->expires_at_us = ev->time_us + program->expire_days * LY_US_PER_DAY;
		p->reason = ly_arena_printf(arena, "adjust: %s", ev->u.adjust.reason);
		if (!p->reason)
			return LY_ENOMEM;
		if (posting_debit(p, points, 0, available, pending))
			rc = LY_EINVAL;
		break;
	}
	default:
		break;
	}
	if (rc == LY_EINVAL)
		snprintf(errstr, errstr_size, "balance or date arithmetic overflows");
	return rc;
}

/* ---- committing ---- */

static ly_lot_t *lot_add(ly_customer_state_t *cs, const ly_event_t *ev,
			 const ly_posting_t *p, int64_t points, int released,
			 ly_arena_t *arena)
{
	ly_lot_t *l = ly_arena_push(arena, (void **)&cs->lots, &cs->lots_len,
				    &cs->lots_cap, sizeof(*l), 8);
	if (!l)
		return NULL;
	l->event_source = ev->source;
	l->event_id = ev->id;
	l->rule_id = p->rule_id;
	l->points = points;
	l->remaining = points;
	l->available_at_us = p->available_at_us;
	l->expires_at_us = p->expires_at_us;
	l->released = released;
	return l;
}

/* Takes x from the released lots, oldest first; what no lot holds is the
 * negative balance. */
static void consume(ly_customer_state_t *cs, int64_t x)
{
	while (x > 0) {
		ly_lot_t *best = NULL;
		for (size_t i = 0; i < cs->lots_len; i++) {
			ly_lot_t *l = &cs->lots[i];
			if (l->released && l->remaining > 0 &&
			    (!best || l->available_at_us < best->available_at_us))
				best = l;
		}
		if (!best)
			return;
		int64_t take = min64(x, best->remaining);
		best->remaining -= take;
		best->changed = 1;
		x -= take;
	}
}

/* Adds (or with sign -1 takes) a category's amount. */
static int category_add(ly_customer_state_t *cs, const char *name, int64_t amount,
			ly_arena_t *arena)
{
	for (size_t i = 0; i < cs->categories_len; i++)
		if (strcmp(cs->categories[i].name, name) == 0) {
			cs->categories[i].amount += amount;
			return 0;
		}
	ly_amount_t *a = ly_arena_push(arena, (void **)&cs->categories, &cs->categories_len,
				    &cs->categories_cap, sizeof(*a), 8);
	if (!a)
		return LY_ENOMEM;
	a->name = name;
	a->amount = amount;
	return 0;
}

const char *ly_customer_top_category(const ly_customer_state_t *cs)
{
	const char *top = NULL;
	int64_t best = 0;
	for (size_t i = 0; i < cs->categories_len; i++) {
		const ly_amount_t *a = &cs->categories[i];
		if (a->amount > best ||
		    (a->amount == best && best > 0 && strcmp(a->name, top) < 0)) {
			best = a->amount;
			top = a->name;
		}
	}
	return top;
}

/* clv and top_category from the spend (docs/lifecycle.md). */
static void derive(const ly_program_t *program, ly_customer_state_t *cs)
{
	cs->top_category = ly_customer_top_category(cs);
	cs->clv = 0;
	if (!cs->has_first_order || cs->lifetime_spend <= 0)
		return;
	int64_t days = (cs->last_order_us - cs->first_order_us) / LY_US_PER_DAY;
	if (days < 365)
		days = 365;
	__int128 v = (__int128)cs->lifetime_spend * program->expected_lifetime_years * 365 / days;
	cs->clv = v > INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void due_at(int64_t *due, int64_t t)
{
	if (t > 0 && (*due == 0 || t < *due))
		*due = t;
}

static int commit_refund(const ly_program_t *program, ly_customer_state_t *cs,
			 ly_effects_t *out, const ly_event_t *ev, ly_arena_t *arena)
{
	ly_order_t *o = lc_order_find(cs, ev->u.refund.order_id);
	LY_ASSERT(o);
	const int64_t r = refunded_after(o, ev);
	for (size_t k = 0; k < o->rules_len; k++)
		o->reversed[k] = reversal_target(o, k, r);
	for (size_t i = 0; i < o->categories_len; i++) {
		const ly_amount_t *c = &o->categories[i];
		int64_t before = o->total ? scaled(c->amount, o->refunded, o->total) : 0;
		int64_t after = o->total ? scaled(c->amount, r, o->total) : 0;
		if (after != before && category_add(cs, c->name, before - after, arena))
			return LY_ENOMEM;
	}
	cs->lifetime_spend -= r - o->refunded;
	if (cs->orders_partial &&
	    o->paid_at_us > ev->time_us - program->tier_window_days * LY_US_PER_DAY)
		cs->window_spend -= r - o->refunded; /* kept by hand: see run() */
	o->refunded = r;
	o->changed = 1;
	out->voids = o;
	/* The scheduler evaluates the downgrade at the refund's time. With the
	 * window loaded (the worker loads it for a refund of a customer with a
	 * tier), a window spend still at the tier's min_spend cannot lower it
	 * then: the customer is not made due for nothing. */
	if (program->tiers_len && cs->tier > 0 &&
	    (cs->orders_partial || lc_window_spend(program, cs, ev->time_us) <
					   program->tiers[cs->tier].min_spend))
		due_at(&cs->tier_due_us, ev->time_us);
	derive(program, cs);
	cs->profile_changed = 1;
	return 0;
}

static int commit_order(const ly_program_t *program, ly_customer_state_t *cs,
			const ly_event_t *ev, const ly_posting_t *postings,
			size_t n, ly_arena_t *arena)
{
	const ly_order_paid_t *op = &ev->u.order_paid;
	ly_order_t *o = ly_arena_push(arena, (void **)&cs->orders, &cs->orders_len,
				    &cs->orders_cap, sizeof(*o), 8);
	if (!o)
		return LY_ENOMEM;
	o->order_id = op->order_id;
	o->event_source = ev->source;
	o->event_id = ev->id;
	o->paid_at_us = ev->time_us;
	o->total = op->total;
	o->is_new = 1;
	size_t rules = 0;
	for (size_t i = 0; i < n; i++)
		rules += postings[i].rule_id != NULL;
	o->rule_ids = ly_arena_alloc(arena, (rules + 1) * sizeof(*o->rule_ids));
	o->earned = ly_arena_alloc(arena, (rules + 1) * sizeof(*o->earned));
	o->reversed = ly_arena_alloc(arena, (rules + 1) * sizeof(*o->reversed));
	o->categories = ly_arena_alloc(arena, (op->items_len + 1) * sizeof(*o->categories));
	if (!o->rule_ids || !o->earned || !o->reversed || !o->categories)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!postings[i].rule_id)
			continue;
		o->rule_ids[o->rules_len] = postings[i].rule_id;
		o->earned[o->rules_len] = postings[i].delta_available + postings[i].delta_pending;
		o->reversed[o->rules_len++] = 0;
	}
	for (size_t i = 0; i < op->items_len; i++) {
		const ly_order_item_t *it = &op->items[i];
		__int128 v = (__int128)it->unit_price * it->quantity;
		int64_t amount = v > INT64_MAX / 4 ? INT64_MAX / 4 : (int64_t)v;
		size_t k;
		for (k = 0; k < o->categories_len; k++)
			if (strcmp(o->categories[k].name, it->category) == 0)
				break;
		if (k == o->categories_len)
			o->categories[o->categories_len++] = (ly_amount_t){it->category, 0};
		o->categories[k].amount += amount;
		if (category_add(cs, it->category, amount, arena))
			return LY_ENOMEM;
	}
	if (program->tiers_len)
		due_at(&cs->tier_due_us, ev->time_us + program->tier_window_days * LY_US_PER_DAY);
	return 0;
}

int lc_commit(ly_effects_t *out, const ly_program_t *program,
	      ly_customer_state_t *cs, const ly_event_t *ev,
	      const ly_posting_t *postings, size_t n, ly_arena_t *arena)
{
	for (size_t i = 0; i < n; i++) {
		const ly_posting_t *p = &postings[i];
		const int64_t da = p->delta_available, dp = p->delta_pending;
		if (dp > 0 && da == 0) {
			if (!lot_add(cs, ev, p, dp, 0, arena))
				return LY_ENOMEM;
		} else if (da > 0 && dp == 0) {
			const int64_t before = p->available_after - da;
			const int64_t paid = before < 0 ? min64(da, -before) : 0;
			ly_lot_t *l = lot_add(cs, ev, p, da, 1, arena);
			if (!l)
				return LY_ENOMEM;
			l->remaining = da - paid;
		} else {
			if (dp < 0) {
				ly_lot_t *l = pending_lot(cs, p->order_event_id, p->rule_id);
				LY_ASSERT(l && l->remaining >= -dp);
				l->remaining += dp;
				l->changed = 1;
			}
			if (da < 0)
				consume(cs, -da);
		}
	}
	switch (ev->type) {
	case LY_EV_ORDER_PAID:
		return commit_order(program, cs, ev, postings, n, arena);
	case LY_EV_ORDER_REFUNDED:
	case LY_EV_ORDER_CANCELLED:
		return commit_refund(program, cs, out, ev, arena);
	case LY_EV_POINTS_REDEEM:
	case LY_EV_POINTS_ADJUST: {
		const char **r = ly_arena_push(arena, (void **)&cs->requests, &cs->requests_len,
				    &cs->requests_cap, sizeof(*r), 8);
		if (!r)
			return LY_ENOMEM;
		*r = ev->type == LY_EV_POINTS_REDEEM ? ev->u.redeem.request_id
						     : ev->u.adjust.request_id;
		return 0;
	}
	default:
		return 0;
	}
}

/* ---- the profile ---- */

size_t lc_followups_max(const ly_customer_state_t *cs, const ly_event_t *ev)
{
	if (ev->type != LY_EV_ORDER_PAID)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < cs->held_len; i++)
		n += !cs->held[i].applied &&
		     strcmp(cs->held[i].ev.u.refund.order_id, ev->u.order_paid.order_id) == 0;
	return n;
}

/* The year of the last birthday on or before local day `day` (the year
 * before when this year's is still to come). */
static int birthday_passed_year(const ly_customer_state_t *cs, int64_t day)
{
	int y, m, d;
	ly_civil_from_days(day, &y, &m, &d);
	int bd = cs->birth_day;
	if (cs->birth_month == 2 && bd == 29 && !ly_is_leap_year(y))
		bd = 28;
	if (m > cs->birth_month || (m == cs->birth_month && d > bd))
		return y;
	return y - 1;
}

static int referral(ly_effects_t *out, ly_customer_state_t *cs,
		    const ly_event_t *ev, ly_arena_t *arena)
{
	if (!cs->referred_by || cs->referral_done || cs->order_count == 0)
		return 0;
	ly_event_t *t = ly_arena_alloc(arena, sizeof(*t));
	if (!t)
		return LY_ENOMEM;
	memset(t, 0, sizeof(*t));
	t->id = ly_arena_printf(arena, "referral:%s:%s", cs->referred_by, cs->customer_id);
	t->source = ev->source;
	t->type = LY_EV__COUNT;
	t->trigger = LY_TRIGGER_REFERRAL_QUALIFIED;
	/* when both facts are known, whichever event came last: the same
	 * whichever topic is read first */
	t->time_us = cs->first_order_us > cs->referred_at_us ? cs->first_order_us
							      : cs->referred_at_us;
	t->customer_id = cs->referred_by;
	t->u.referral.referred = cs->customer_id;
	if (!t->id)
		return LY_ENOMEM;
	out->remote = t;
	out->remote_len = 1;
	cs->referral_done = 1;
	cs->profile_changed = 1;
	return 0;
}

int lc_profile(ly_effects_t *out, const ly_program_t *program,
	       ly_customer_state_t *cs, const ly_event_t *ev, ly_arena_t *arena)
{
	if (ev->type == LY_EV_ORDER_PAID) {
		if (!cs->has_first_order) {
			cs->has_first_order = 1;
			cs->first_order_us = ev->time_us;
		}
		for (size_t i = 0; i < cs->held_len; i++) {
			ly_held_t *h = &cs->held[i];
			if (h->applied ||
			    strcmp(h->ev.u.refund.order_id, ev->u.order_paid.order_id) != 0)
				continue;
			out->triggers[out->triggers_len++] = h->ev;
			h->applied = 1;
		}
		derive(program, cs);
		return referral(out, cs, ev, arena);
	}
	const ly_customer_data_t *c = &ev->u.customer;
	if (c->referred_by && !cs->referred_by &&
	    strcmp(c->referred_by, cs->customer_id) != 0) {
		cs->referred_by = c->referred_by;
		cs->referred_at_us = ev->time_us;
		cs->profile_changed = 1;
	}
	if (c->birth_date)
		cs->birthday_year = birthday_passed_year(
			cs, ly_tz_local_day(program->tz, ev->time_us));
	return referral(out, cs, ev, arena);
}

/* ---- the scheduler's work ---- */

typedef enum due_kind {
	DUE_NONE = 0,
	DUE_RELEASE,
	DUE_EXPIRE,
	DUE_REMIND,
	DUE_SEGMENT,
	DUE_TIER,
	DUE_BIRTHDAY
} due_kind_t;

typedef struct due {
	due_kind_t kind;
	int64_t at;
	ly_lot_t *lot;
	ly_segment_t to;
	int year;
} due_t;

static int consider(due_t *d, due_kind_t kind, int64_t at, ly_lot_t *lot)
{
	if (d->kind != DUE_NONE && (at > d->at || (at == d->at && kind >= d->kind)))
		return 0;
	d->kind = kind;
	d->at = at;
	d->lot = lot;
	return 1;
}

static int64_t remind_at(const ly_program_t *program, const ly_lot_t *l)
{
	int64_t t = l->expires_at_us - program->expiry_reminder_days * LY_US_PER_DAY;
	return t < l->available_at_us ? l->available_at_us : t;
}

/* The earliest thing due for cs (ties: releases first, birthdays last);
 * lots only those held (all of them when not lots_partial, else the new ones). */
static due_t next_due(const ly_program_t *program, ly_customer_state_t *cs)
{
	due_t d = {DUE_NONE, 0, NULL, LY_SEGMENT_NEW, 0};
	for (size_t i = 0; i < cs->lots_len; i++) {
		ly_lot_t *l = &cs->lots[i];
		if (l->remaining <= 0)
			continue;
		if (!l->released) {
			consider(&d, DUE_RELEASE, l->available_at_us, l);
		} else if (l->expires_at_us) {
			if (program->expiry_reminder_days > 0 && !l->reminded)
				consider(&d, DUE_REMIND, remind_at(program, l), l);
			consider(&d, DUE_EXPIRE, l->expires_at_us, l);
		}
	}
	if (cs->has_last_order &&
	    (cs->segment == LY_SEGMENT_ACTIVE || cs->segment == LY_SEGMENT_AT_RISK)) {
		const int64_t last = ly_tz_local_day(program->tz, cs->last_order_us);
		const int to_lost = cs->segment == LY_SEGMENT_AT_RISK;
		const int64_t day = last + (to_lost ? program->lost_days : program->at_risk_days);
		if (consider(&d, DUE_SEGMENT, ly_tz_day_start_us(program->tz, day), NULL))
			d.to = to_lost ? LY_SEGMENT_LOST : LY_SEGMENT_AT_RISK;
	}
	if (program->tiers_len && cs->tier_due_us)
		consider(&d, DUE_TIER, cs->tier_due_us, NULL);
	if (cs->birth_month) {
		const int y = cs->birthday_year + 1;
		int day = cs->birth_day;
		if (cs->birth_month == 2 && day == 29 && !ly_is_leap_year(y))
			day = 28;
		if (consider(&d, DUE_BIRTHDAY,
			     ly_tz_day_start_us(program->tz,
						ly_days_from_civil(y, cs->birth_month, day)),
			     NULL))
			d.year = y;
	}
	return d;
}

void ly_engine_plan(const ly_program_t *program, ly_customer_state_t *state)
{
	due_t d = next_due(program, state);
	state->next_due_us = d.kind == DUE_NONE ? 0 : d.at;
}

/* A trigger of the scheduler for cs at t. */
static void trigger_init(ly_event_t *ev, ly_trigger_t trigger, const char *id,
			 const ly_customer_state_t *cs, int64_t t)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = id;
	ev->source = "loyaltyd";
	ev->type = LY_EV__COUNT;
	ev->trigger = trigger;
	ev->time_us = t;
	ev->customer_id = cs->customer_id;
}

static const char *day_text(ly_arena_t *arena, int64_t day)
{
	int y, m, d;
	ly_civil_from_days(day, &y, &m, &d);
	return ly_arena_printf(arena, "%04d-%02d-%02d", y, m, d);
}

/* A release or expiry of lot l: one posting, no rules. */
static int lot_event(ly_effects_t *out, ly_event_t *ev, ly_customer_state_t *cs,
		     ly_lot_t *l, int release, ly_arena_t *arena)
{
	const int64_t x = l->remaining;
	ly_posting_t *p = ly_arena_alloc(arena, sizeof(*p));
	if (!p)
		return LY_ENOMEM;
	memset(p, 0, sizeof(*p));
	memset(ev, 0, sizeof(*ev));
	ev->id = l->event_id;
	ev->source = l->event_source;
	ev->type = LY_EV__COUNT;
	ev->time_us = release ? l->available_at_us : l->expires_at_us;
	ev->customer_id = cs->customer_id;
	p->rule_id = l->rule_id;
	p->kind = release ? "points.released" : "points.expired";
	p->reason = release ? "released" : "expired";
	p->available_at_us = l->available_at_us;
	p->expires_at_us = l->expires_at_us;
	if (release) {
		const int64_t paid = cs->available < 0 ? min64(x, -cs->available) : 0;
		p->delta_pending = -x;
		p->delta_available = x;
		cs->pending -= x;
		cs->available += x;
		l->released = 1;
		l->remaining = x - paid;
	} else {
		p->delta_available = -x;
		cs->available -= x;
		l->remaining = 0;
	}
	l->changed = 1;
	p->available_after = cs->available;
	p->pending_after = cs->pending;
	cs->changed = 1;
	out->postings = p;
	out->postings_len = 1;
	return 0;
}

int ly_engine_tick(ly_effects_t *out, ly_event_t *ev, const ly_program_t *program,
		   ly_engine_shared_t *shared, ly_customer_state_t *state,
		   int64_t now_us, ly_arena_t *arena, char *errstr,
		   size_t errstr_size)
{
	LY_ASSERT(!state->lots_partial && !state->orders_partial);
	memset(out, 0, sizeof(*out));
	memset(ev, 0, sizeof(*ev));
	due_t d = next_due(program, state);
	if (d.kind == DUE_NONE || d.at > now_us) {
		state->next_due_us = d.kind == DUE_NONE ? 0 : d.at;
		return LY_ENOTFOUND;
	}
	switch (d.kind) {
	case DUE_RELEASE:
	case DUE_EXPIRE:
		return lot_event(out, ev, state, d.lot, d.kind == DUE_RELEASE, arena);
	case DUE_REMIND: {
		const int64_t day = ly_tz_local_day(program->tz, d.lot->expires_at_us);
		int64_t points = 0;
		for (size_t i = 0; i < state->lots_len; i++) {
			const ly_lot_t *l = &state->lots[i];
			if (l->released && !l->reminded && l->remaining > 0 && l->expires_at_us &&
			    ly_tz_local_day(program->tz, l->expires_at_us) == day)
				points += l->remaining;
		}
		const char *date = day_text(arena, day);
		const char *id = date ? ly_arena_printf(arena, "expiring:%s:%s",
							 state->customer_id, date)
				      : NULL;
		if (!id)
			return LY_ENOMEM;
		trigger_init(ev, LY_TRIGGER_POINTS_EXPIRING, id, state, d.at);
		ev->u.expiring.points = points;
		ev->u.expiring.date_day = day;
		int rc = ly_engine_run_rules(out, program, shared, state, ev, arena,
					     errstr, errstr_size);
		if (rc)
			return rc;
		for (size_t i = 0; i < state->lots_len; i++) {
			ly_lot_t *l = &state->lots[i];
			if (l->released && !l->reminded && l->remaining > 0 && l->expires_at_us &&
			    ly_tz_local_day(program->tz, l->expires_at_us) == day) {
				l->reminded = 1;
				l->changed = 1;
			}
		}
		return 0;
	}
	case DUE_SEGMENT: {
		const char *date = day_text(arena, ly_tz_local_day(program->tz, d.at));
		const char *id = date ? ly_arena_printf(arena, "segment:%s:%s:%s",
							 state->customer_id,
							 ly_segment_name(d.to), date)
				      : NULL;
		if (!id)
			return LY_ENOMEM;
		trigger_init(ev, LY_TRIGGER_SEGMENT_CHANGED, id, state, d.at);
		ev->u.change.from = ly_segment_name(state->segment);
		ev->u.change.to = ly_segment_name(d.to);
		return ly_engine_run_rules(out, program, shared, state, ev, arena, errstr,
					   errstr_size);
	}
	case DUE_TIER: {
		const int64_t t = d.at;
		const int64_t spend = lc_window_spend(program, state, t);
		size_t tier = 0;
		for (size_t i = 1; i < program->tiers_len; i++)
			if (spend >= program->tiers[i].min_spend)
				tier = i;
		/* next: when the next order paid by t leaves the window */
		int64_t next = 0;
		const int64_t window = program->tier_window_days * LY_US_PER_DAY;
		for (size_t i = 0; i < state->orders_len; i++) {
			const ly_order_t *o = &state->orders[i];
			if (o->paid_at_us <= t && o->paid_at_us + window > t &&
			    o->total > o->refunded)
				due_at(&next, o->paid_at_us + window);
		}
		if (tier >= state->tier) {
			state->tier_due_us = state->tier > 0 ? next : 0;
			state->profile_changed = 1;
			return 0; /* no downgrade: nothing to say */
		}
		char when[40];
		ly_time_format_rfc3339(t, when, sizeof(when));
		const char *id = ly_arena_printf(arena, "tier:%s:%s", state->customer_id, when);
		if (!id)
			return LY_ENOMEM;
		trigger_init(ev, LY_TRIGGER_TIER_CHANGED, id, state, t);
		ev->u.change.from = program->tiers[state->tier].name;
		ev->u.change.to = program->tiers[tier].name;
		int rc = ly_engine_run_rules(out, program, shared, state, ev, arena, errstr,
					     errstr_size);
		if (rc)
			return rc;
		state->tier_due_us = tier > 0 ? next : 0;
		state->profile_changed = 1;
		return 0;
	}
	case DUE_BIRTHDAY: {
		const char *id = ly_arena_printf(arena, "birthday:%s:%d", state->customer_id,
						 d.year);
		if (!id)
			return LY_ENOMEM;
		trigger_init(ev, LY_TRIGGER_BIRTHDAY, id, state, d.at);
		int rc = ly_engine_run_rules(out, program, shared, state, ev, arena, errstr,
					     errstr_size);
		if (rc)
			return rc;
		state->birthday_year = d.year;
		state->profile_changed = 1;
		return 0;
	}
	case DUE_NONE:
		break;
	}
	return LY_ENOTFOUND;
}
