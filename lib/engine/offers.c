/*
 * offers.c: the way out of an offer (SPEC section 7, docs/offers.md).
 * A rule's offer goes out once per channel it names, in its order: not at
 * all to a channel without consent, not beyond offers.max_per_customer in
 * the calendar period of the event, and not before the end of the
 * channel's quiet hours when they held at the event time. Everything is
 * decided from the event and the customer as the event left them, so a
 * replay decides the same.
 */
#include <string.h>

#include "engine_int.h"

static const char *const OUTCOMES[] = {
	[LY_OFFER_SENT] = "sent",
	[LY_OFFER_NO_CONSENT] = "no_consent",
	[LY_OFFER_CAPPED] = "max_per_customer",
};

const char *ly_offer_outcome_name(ly_offer_outcome_t outcome)
{
	LY_ASSERT(outcome >= LY_OFFER_SENT && outcome <= LY_OFFER_CAPPED);
	return OUTCOMES[outcome];
}

uint32_t ly_offer_cap_index(const ly_program_t *program, unsigned channel)
{
	LY_ASSERT(channel == LY_CHANNEL_EMAIL || channel == LY_CHANNEL_SMS);
	return (uint32_t)program->rules_len + (channel == LY_CHANNEL_SMS);
}

ly_period_t ly_limit_per(const ly_program_t *program, uint32_t index)
{
	return index < program->rules_len ? program->rules[index].limit_per
					  : program->offer_cap_per;
}

void ly_limit_period_at(const ly_program_t *program, uint32_t index,
			int64_t time_us, char key[LY_PERIOD_KEY_MAX])
{
	const ly_period_t per = ly_limit_per(program, index);
	int64_t start, end;
	ly_tz_period(program->tz, per, time_us, &start, &end);
	ly_period_key(per, start, key, LY_PERIOD_KEY_MAX);
}

size_t ly_limit_indices(const ly_program_t *program, const ly_event_t *ev,
			uint32_t *out)
{
	size_t n = 0;
	for (uint32_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		if (r->limit_count > 0 &&
		    (r->trigger != LY_TRIGGER_NONE ||
		     (ev && ev->trigger == LY_TRIGGER_NONE && r->on == ev->type)))
			out[n++] = i;
	}
	if (program->offer_cap_count > 0) {
		out[n++] = ly_offer_cap_index(program, LY_CHANNEL_EMAIL);
		out[n++] = ly_offer_cap_index(program, LY_CHANNEL_SMS);
	}
	return n;
}

const char *ly_limit_name(const ly_program_t *program, uint32_t index)
{
	if (index < program->rules_len)
		return program->rules[index].id;
	if (index == program->rules_len)
		return "offers.email";
	if (index == program->rules_len + 1)
		return "offers.sms";
	return NULL;
}

int64_t ly_limit_index(const ly_program_t *program, const char *name)
{
	for (uint32_t i = 0; i < program->rules_len + 2; i++)
		if (strcmp(ly_limit_name(program, i), name) == 0)
			return i;
	return -1;
}

/* The instant local wall-clock time min (minutes after midnight) is
 * reached on local day day: where a clock change skipped it, as much later
 * as the clock jumped (02:30 on a night that goes from 02:00 to 03:00 is
 * 03:30), never before the day began. */
static int64_t local_instant(const ly_tz_t *tz, int64_t day, int min)
{
	const int64_t wall = day * LY_US_PER_DAY + (int64_t)min * 60 * 1000000;
	int64_t t = wall - ly_tz_offset_us(tz, wall);
	t = wall - ly_tz_offset_us(tz, t);
	const int64_t start = ly_tz_day_start_us(tz, day);
	return t < start ? start : t;
}

/*
 * When an offer on a channel with quiet hours q may be sent, made at t:
 * 0 when q did not hold at t, else the end of the quiet window t is in.
 * The window is [start, end) in local wall-clock time; "21:00-09:00"
 * spans midnight, so 21:00 and 08:59 are quiet and 20:59 and 09:00 not.
 */
static int64_t send_after(const ly_tz_t *tz, const ly_quiet_hours_t *q, int64_t t)
{
	if (!q->set)
		return 0;
	const int64_t day = ly_tz_local_day(tz, t);
	const int64_t of_day = t + ly_tz_offset_us(tz, t) - day * LY_US_PER_DAY;
	const int64_t start = (int64_t)q->start_min * 60 * 1000000;
	const int64_t end = (int64_t)q->end_min * 60 * 1000000;
	if (q->start_min < q->end_min)
		return of_day >= start && of_day < end ? local_instant(tz, day, q->end_min)
						       : 0;
	if (of_day >= start) /* the evening: it ends tomorrow */
		return local_instant(tz, day + 1, q->end_min);
	return of_day < end ? local_instant(tz, day, q->end_min) : 0;
}

static int route_one(const ly_program_t *program, ly_customer_state_t *cs,
		     const ly_event_t *ev, ly_offer_made_t *o, ly_arena_t *arena)
{
	const ly_rule_t *rule = o->rule;
	o->locale = cs->locale ? cs->locale : program->locale;
	o->first_name = cs->erased ? NULL : cs->first_name;
	o->points_available = cs->available;
	o->points_pending = cs->pending;
	o->tier = cs->tier;
	o->top_category = cs->top_category ? cs->top_category : "";
	o->sends_len = 0;
	for (size_t k = 0; k < rule->offer.channels_len; k++) {
		ly_offer_send_t *s = &o->sends[o->sends_len++];
		const unsigned ch = rule->offer.channel_order[k];
		const int email = ch == LY_CHANNEL_EMAIL;
		memset(s, 0, sizeof(*s));
		s->channel = ch;
		s->withdrawals = email ? cs->withdrawals_email : cs->withdrawals_sms;
		if (!(email ? cs->consent_email : cs->consent_sms)) {
			s->outcome = LY_OFFER_NO_CONSENT;
			continue;
		}
		if (program->offer_cap_count > 0) {
			const uint32_t idx = ly_offer_cap_index(program, ch);
			ly_limit_period_at(program, idx, ev->time_us, s->period);
			const ly_limit_count_t *c = lc_limit_find(cs, idx, s->period);
			if (c && c->count >= program->offer_cap_count) {
				s->outcome = LY_OFFER_CAPPED;
				continue;
			}
			if (lc_limit_count(cs, idx, s->period, arena))
				return LY_ENOMEM;
		}
		s->outcome = LY_OFFER_SENT;
		s->send_after_us = send_after(program->tz,
					      email ? &program->quiet_email
						    : &program->quiet_sms,
					      ev->time_us);
	}
	return 0;
}

int lc_route_offers(const ly_program_t *program, ly_customer_state_t *cs,
		    const ly_event_t *ev, ly_offer_made_t *offers, size_t n,
		    ly_arena_t *arena)
{
	for (size_t i = 0; i < n; i++) {
		int rc = route_one(program, cs, ev, &offers[i], arena);
		if (rc)
			return rc;
	}
	return 0;
}
