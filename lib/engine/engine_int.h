/*
 * engine_int.h: what engine.c (the rules) and lifecycle.c (lots, orders,
 * refunds, requests, the profile and the scheduler's work) share. Not
 * installed.
 */
#ifndef LOYALTY_ENGINE_INT_H
#define LOYALTY_ENGINE_INT_H

#include "loyalty/engine.h"


/* The code a rule (rule_id) or a reward ("reward:<id>") issues for ev,
 * valid issue->valid_days from the event time. LY_EINVAL when that date
 * overflows. */
int lc_issue_code(ly_issued_code_t *c, const ly_issue_t *issue, const char *rule_id,
		  const ly_engine_shared_t *shared, const ly_event_t *ev);

/* The order of cs with that id, or NULL. */
ly_order_t *lc_order_find(const ly_customer_state_t *cs, const char *order_id);

/* Σ (total − refunded) of the orders paid in (t − window_days, t], the
 * summed ones (window_base) included. */
int64_t lc_window_spend(const ly_program_t *program,
			const ly_customer_state_t *cs, int64_t t);

/* 1 when request_id is among cs->requests. */
int lc_request_seen(const ly_customer_state_t *cs, const char *request_id);

/* The most postings lc_builtin may make for ev. */
size_t lc_builtin_max(const ly_customer_state_t *cs, const ly_event_t *ev);

/*
 * What an event does besides its rules: a refund's reversals, a
 * redemption's debit (and its code, into *code when issued), an
 * adjustment. Appends postings from *n on, continuing the running
 * balances *available and *pending of cs (as the rules left them; cs
 * itself is as before the event). Sets out's request and redemption
 * fields. Changes nothing in cs. LY_EINVAL (errstr) on overflow.
 */
int lc_builtin(ly_effects_t *out, ly_posting_t *postings, size_t *n,
	       ly_issued_code_t *code, int *code_issued,
	       const ly_program_t *program, ly_engine_shared_t *shared,
	       const ly_customer_state_t *cs, const ly_event_t *ev,
	       int64_t *available, int64_t *pending, ly_arena_t *arena,
	       char *errstr, size_t errstr_size);

/*
 * Once every rule ran and nothing can fail but memory: the postings'
 * effect on the lots of cs (credits become lots, paying a negative
 * balance first; debits consume the order's pending lot or the oldest
 * available lots), a refund's effect on its order and the spend, the
 * new order of an order.paid, the request applied. LY_ENOMEM.
 */
int lc_commit(ly_effects_t *out, const ly_program_t *program,
	      ly_customer_state_t *cs, const ly_event_t *ev,
	      const ly_posting_t *postings, size_t n, ly_arena_t *arena);

/* What an order.paid or a customer event adds to the profile beyond what
 * engine.c keeps: first order, categories, clv, top category, referral
 * (into out->remote), held refunds to apply now (into out->triggers, room
 * for them counted by lc_followups_max), the scheduler's due dates. */
int lc_profile(ly_effects_t *out, const ly_program_t *program,
	       ly_customer_state_t *cs, const ly_event_t *ev, ly_arena_t *arena);
size_t lc_followups_max(const ly_customer_state_t *cs, const ly_event_t *ev);

/* The limit count of index ri in period, or NULL. */
ly_limit_count_t *lc_limit_find(ly_customer_state_t *cs, size_t ri,
				const char *period);
/* Counts one more in the limit count of index ri in period. LY_ENOMEM. */
int lc_limit_count(ly_customer_state_t *cs, size_t ri, const char *period,
		   ly_arena_t *arena);

/*
 * The way out of the offers an event's rules made (offers.c): for each,
 * in order, its sends (consent, cap, quiet hours) and what its templates
 * get, from cs as the event left it; counts what the caps let through in
 * cs's limit counts. LY_ENOMEM.
 */
int lc_route_offers(const ly_program_t *program, ly_customer_state_t *cs,
		    const ly_event_t *ev, ly_offer_made_t *offers, size_t n,
		    ly_arena_t *arena);

/* The one evaluation of the rules (engine.c). */
int ly_engine_run_rules(ly_effects_t *out, const ly_program_t *program,
			ly_engine_shared_t *shared, ly_customer_state_t *state,
			const ly_event_t *ev, ly_arena_t *arena, char *errstr,
			size_t errstr_size);

#endif
