/*
 * engine.h: the pure core. Given the program, one customer's state and one
 * event, it returns the effects (ledger postings with their reasons) and
 * updates the in-memory state. It touches no server, no clock and no heap
 * beyond the arena it is handed, so the worker, the CLI and the tests all
 * get the same answer for the same input.
 */
#ifndef LOYALTY_ENGINE_H
#define LOYALTY_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/event.h"
#include "loyalty/expr.h"
#include "loyalty/program.h"
#include "loyalty/tz.h"
#include "loyalty/util.h"

/* Discount and gift card codes: 12 characters from an alphabet without the
 * look-alikes 0/O, 1/I/L and U (30 symbols, about 58 bits). */
#define LY_CODE_LENGTH 12
#define LY_CODE_ALPHABET "23456789ABCDEFGHJKMNPQRSTVWXYZ"

/* Lifecycle segments (SPEC section 5). */
typedef enum ly_segment {
	LY_SEGMENT_NEW = 0, /* no order yet */
	LY_SEGMENT_ACTIVE,
	LY_SEGMENT_AT_RISK,
	LY_SEGMENT_LOST
} ly_segment_t;

/* "new", "active", "at_risk", "lost". */
const char *ly_segment_name(ly_segment_t s);
/* 0 and *out, or LY_ENOTFOUND. */
int ly_segment_parse(const char *name, ly_segment_t *out);

/*
 * A count per customer per calendar period: how often a rule with a
 * `limit` fired (rule < program->rules_len), or how many offers went out
 * on a channel under `offers.max_per_customer` (rule ==
 * ly_offer_cap_index(); ly_limit_name() names both).
 */
typedef struct ly_limit_count {
	uint32_t rule;                 /* index into program->rules, or above */
	char period[LY_PERIOD_KEY_MAX]; /* ly_period_key(): "2026-W48" */
	int64_t count;
	int changed; /* set by the engine when it counted a firing */
} ly_limit_count_t;

/*
 * A lot: one credit, what remains of it, when it becomes available and
 * when it expires (docs/lifecycle.md). Debits consume the released lots
 * oldest first.
 */
typedef struct ly_lot {
	int64_t lot_id; /* 0: made now, not stored yet */
	const char *event_source, *event_id; /* the credit's event */
	const char *rule_id;                 /* NULL: an adjustment */
	int64_t points, remaining;
	int64_t available_at_us;
	int64_t expires_at_us; /* 0: never */
	int released, reminded;
	int changed; /* set by the engine when it changed a stored lot */
} ly_lot_t;

/* A named amount: a category's spend. */
typedef struct ly_amount {
	const char *name;
	int64_t amount;
} ly_amount_t;

/* A paid order and its refunds: what each rule earned on it and has
 * reversed (rules_len long each), and its spend per category. */
typedef struct ly_order {
	const char *order_id;
	const char *event_source, *event_id; /* the order.paid */
	int64_t paid_at_us, total, refunded;
	const char **rule_ids;
	int64_t *earned, *reversed;
	size_t rules_len;
	ly_amount_t *categories;
	size_t categories_len;
	int is_new;  /* paid by this batch */
	int changed; /* refunded by this batch */
} ly_order_t;

/* A refund that came before its order. */
typedef struct ly_held {
	ly_event_t ev; /* order.refunded or order.cancelled */
	int is_new;    /* held by this batch */
	int applied;   /* its order came: applied, to be forgotten */
} ly_held_t;

/*
 * A customer's state as the engine sees it, updated in place by each
 * event. Zero is a new customer: no points, no orders, the lowest tier,
 * segment new, no consent.
 *
 * The engine keeps the balances, the limit counts and what an event
 * itself says about the customer (an order.paid counts the order and its
 * spend and may raise the tier; customer.registered/updated set locale,
 * consents, first name and birth date). What only time or history can
 * change (window spend leaving the window, downgrades, segments drifting
 * to at_risk and lost, clv, top_category) is given by the caller.
 */
typedef struct ly_customer_state {
	const char *customer_id; /* borrowed */
	int64_t available;
	int64_t pending;
	/* the profile */
	int64_t order_count;
	int64_t lifetime_spend; /* net, minor units */
	int64_t window_spend;   /* net over tiers.window_days */
	size_t tier;            /* index into program->tiers (0: lowest) */
	ly_segment_t segment;
	int has_last_order;
	int64_t last_order_us;
	int64_t clv;              /* minor units */
	const char *top_category; /* NULL: "" */
	const char *locale;       /* NULL: the program's */
	const char *first_name;   /* NULL: unknown */
	int consent_email, consent_sms;
	/* how often each consent was withdrawn: an offer is published only
	 * while the count it was made under holds (docs/offers.md) */
	int64_t withdrawals_email, withdrawals_sms;
	int erased; /* loyaltyctl erase: no name or birth date is kept again */
	int birth_year, birth_month, birth_day; /* 0: unknown */
	/* limit counts: those the caller loaded, and those the engine adds
	 * (in the arena it is handed) */
	ly_limit_count_t *limits;
	size_t limits_len, limits_cap;
	int changed;         /* set when the balances changed */
	int profile_changed; /* set when the profile changed */
	/* ---- the lifecycle (docs/lifecycle.md); the caller loads what the
	 * events need, and the engine appends what they make, in the arena ---- */
	int has_first_order;
	int64_t first_order_us;
	ly_amount_t *categories; /* net spend per category */
	size_t categories_len, categories_cap;
	const char *referred_by; /* NULL: none */
	int64_t referred_at_us;  /* the event time it became known */
	int referral_done;
	int birthday_year;  /* the last year a birthday fired (or passed) */
	int64_t tier_due_us; /* when the tier must be evaluated again; 0: never */
	int64_t next_due_us; /* when the scheduler has work; 0: never */
	/* Every lot with points remaining, and the new ones; lots_partial
	 * when the caller loaded none (then only new ones are here, and the
	 * customer's events must not debit). */
	ly_lot_t *lots;
	size_t lots_len, lots_cap;
	int lots_partial;
	/* The orders paid in the tier window of the events, the orders the
	 * events name, and new ones; orders_partial when the window's orders
	 * were not loaded (then window_spend is left as the caller set it). */
	ly_order_t *orders;
	size_t orders_len, orders_cap;
	int orders_partial;
	/* When window_to_us is set, the stored orders paid in a span that lies
	 * inside the window of every instant from window_from_us to
	 * window_to_us were summed into window_base instead of loaded; an
	 * instant outside that range cannot be counted, and an event at one
	 * sets window_short (the caller loads the window whole and runs the
	 * events again). */
	int64_t window_base;
	int64_t window_from_us, window_to_us;
	int window_short;
	/* Refunds held for their orders: those of the orders the events pay,
	 * and new ones. */
	ly_held_t *held;
	size_t held_len, held_cap;
	/* request_ids of redemptions and adjustments already applied. */
	const char **requests;
	size_t requests_len, requests_cap;
} ly_customer_state_t;

/* The category with the highest net spend (ties: the smaller name), or
 * NULL when none is above 0 (docs/lifecycle.md). */
const char *ly_customer_top_category(const ly_customer_state_t *cs);

/*
 * The key of the calendar period of rule's `limit` (in the program's time
 * zone) that ev's time falls in: "2026-11-24", "2026-W48", "2026-11",
 * "2026" or "ever". The limit count the engine reads for rule and ev.
 */
void ly_engine_limit_period(const ly_program_t *program, const ly_rule_t *rule,
			    const ly_event_t *ev, char key[LY_PERIOD_KEY_MAX]);

/* The index of the offer cap's count of one channel (LY_CHANNEL_EMAIL or
 * LY_CHANNEL_SMS) among the limit counts. */
uint32_t ly_offer_cap_index(const ly_program_t *program, unsigned channel);

/* The stored name of a limit count's index: the rule's id, or
 * "offers.email" / "offers.sms" (no rule id has a dot). NULL when out of
 * range. */
const char *ly_limit_name(const ly_program_t *program, uint32_t index);

/* The index ly_limit_name() gives name, or -1. */
int64_t ly_limit_index(const ly_program_t *program, const char *name);

/* The calendar period the count of index counts in: the rule's
 * `limit.per`, or the `per` of offers.max_per_customer. */
ly_period_t ly_limit_per(const ly_program_t *program, uint32_t index);

/* The key of the period of index's count that time_us falls in. */
void ly_limit_period_at(const ly_program_t *program, uint32_t index,
			int64_t time_us, char key[LY_PERIOD_KEY_MAX]);

/*
 * The indices of the limit counts applying ev may read, with what it
 * causes at its time: every rule with a `limit` on ev's type or on a
 * trigger, then the offer caps (ev NULL: the scheduler's work, all but
 * the rules on input types). Writes at most program->rules_len + 2 to
 * out; returns how many.
 */
size_t ly_limit_indices(const ly_program_t *program, const ly_event_t *ev,
			uint32_t *out);

/*
 * Appends a limit count (not marked changed) to cs->limits, growing them
 * in arena; for whoever loads stored counts. Returns it, or NULL when the
 * arena is exhausted.
 */
ly_limit_count_t *ly_customer_limit_append(ly_customer_state_t *cs,
					   uint32_t rule, const char *period,
					   int64_t count, ly_arena_t *arena);

/*
 * What the rules share across customers, owned by the caller. budget_spent
 * and budget_changed are program->rules_len long (or NULL when no rule has
 * a budget): the points each rule with a budget has credited so far. The
 * secret keys the codes rules issue (ly_engine_code).
 */
typedef struct ly_engine_shared {
	int64_t *budget_spent;
	unsigned char *budget_changed;
	const void *code_secret;
	size_t code_secret_len;
} ly_engine_shared_t;

/* One ledger line. Credits from earning are also lots. */
typedef struct ly_posting {
	const char *rule_id; /* borrowed from the program; NULL: no rule */
	int64_t delta_available;
	int64_t delta_pending;
	int64_t available_at_us; /* when the credit becomes available */
	int64_t expires_at_us;   /* 0: never */
	const char *reason;      /* arena: "floor(125000/100)*1*1.25" */
	const char *kind; /* the ledger's event_type when not the event's:
			   * "points.released", "points.expired"; else NULL */
	const char *order_event_id; /* a reversal: the order's event */
	int64_t available_after; /* the customer's balances after this line */
	int64_t pending_after;
} ly_posting_t;

/* A discount code or gift card a rule issued. */
typedef struct ly_issued_code {
	const char *rule_id; /* borrowed from the program */
	ly_issue_kind_t kind;
	int64_t amount;  /* minor units (0 for a percent discount) */
	int64_t percent; /* 0 unless a percent discount */
	int64_t min_order;
	int64_t issued_at_us;   /* the event time */
	int64_t valid_until_us; /* event time + valid_days */
	char code[LY_CODE_LENGTH + 1];
} ly_issued_code_t;

/* A value of an offer's `vars`, evaluated on the event. */
typedef struct ly_offer_value {
	const char *name;  /* borrowed from the program */
	ly_value_t value;  /* strings borrowed from the event or the state */
} ly_offer_value_t;

/* What became of an offer on one channel (docs/offers.md). */
typedef enum ly_offer_outcome {
	LY_OFFER_SENT = 1,   /* to be published, after send_after if set */
	LY_OFFER_NO_CONSENT, /* suppressed: no consent for the channel */
	LY_OFFER_CAPPED,     /* suppressed: offers.max_per_customer reached */
} ly_offer_outcome_t;

/* "sent", "no_consent", "max_per_customer". */
const char *ly_offer_outcome_name(ly_offer_outcome_t outcome);

/* An offer on one channel, as it goes out. */
typedef struct ly_offer_send {
	unsigned channel; /* LY_CHANNEL_EMAIL or LY_CHANNEL_SMS */
	ly_offer_outcome_t outcome;
	int64_t send_after_us; /* the end of the channel's quiet hours when
				* they held at the event time; else 0 */
	int64_t withdrawals;   /* the channel's withdrawal count it was made
				* under */
	char period[LY_PERIOD_KEY_MAX]; /* the cap's period; "" without one */
} ly_offer_send_t;

/*
 * An offer a rule made: the template, the channels as the rule wrote
 * them, and the way out, decided on the customer as the event (and the
 * rules before it) left them: one send per channel in the rule's order,
 * with the consent, the quiet hours and the cap applied (docs/offers.md),
 * and what the templates get.
 */
typedef struct ly_offer_made {
	const ly_rule_t *rule; /* borrowed from the program */
	const char *rule_id;   /* rule->id */
	const char *template_id;
	unsigned channels; /* LY_CHANNEL_*, as the rule wrote them */
	const ly_issued_code_t *code; /* the rule's code, or NULL */
	int64_t points_earned;        /* by the rule on this event */
	ly_offer_value_t *vars;       /* arena, offer.vars_len long */
	size_t vars_len;
	ly_offer_send_t sends[2];
	size_t sends_len;
	const char *locale;       /* the customer's, else the program's */
	const char *first_name;   /* NULL: unknown or erased */
	int64_t points_available, points_pending;
	size_t tier;              /* index into program->tiers */
	const char *top_category; /* "" without orders */
} ly_offer_made_t;

typedef struct ly_effects {
	ly_posting_t *postings; /* arena */
	size_t postings_len;
	ly_issued_code_t *codes; /* arena */
	size_t codes_len;
	ly_offer_made_t *offers; /* arena */
	size_t offers_len;
	/* Triggers the event caused (tier.changed, customer.segment_changed),
	 * each with its deterministic id; the caller runs them through the
	 * engine after the event, in this order. */
	ly_event_t *triggers;
	size_t triggers_len;
	/* Triggers for other customers (the referrer's referral.qualified):
	 * the caller queues them. */
	ly_event_t *remote;
	size_t remote_len;
	/* points.redeem / points.adjust: 1 when applied now, 0 when the
	 * request_id was applied before (then nothing else happened) */
	int request_applied;
	const char *request_outcome; /* "completed", "rejected", "applied" */
	/* points.redeem: the reward (NULL when unknown), and why not */
	const ly_reward_t *reward;
	const char *reject_reason; /* "insufficient_points", "unknown_reward" */
	const ly_issued_code_t *reward_code;
	/* a refund kept for its order: nothing else happened */
	int held;
	/* a refund: the order whose unused gift cards are voided */
	const ly_order_t *voids;
} ly_effects_t;

/*
 * Applies ev (an input or a trigger) for state->customer_id. The rules on
 * ev's type run in file order; a rule fires when its `active` window holds
 * ev->time_us, its `if` is true, its `limit` has room in the calendar
 * period of the event time and its `budget` has room for what it would
 * credit (the firing that would cross the budget is skipped). A firing
 * rule earns (times the tier's multiplier with `tier_multiplier`), issues
 * its code, makes its offer and, with `stop: true`, ends the run.
 * Expressions see the event and the customer as they were before ev; on
 * a customer.segment_changed or tier.changed trigger, the customer is
 * already in the segment or tier it announces.
 *
 * Returns 0 and fills *out (arena memory, valid until the arena is reset;
 * the state's new limit counts live there too), or LY_EINVAL when
 * evaluation fails (an overflow, a division by zero): then errstr says why
 * (`rule "x": prog.yaml:7:9: division by zero`), state and shared are
 * unchanged and the event must not be applied. LY_ENOMEM when the arena is
 * exhausted. shared may be NULL for a program without budgets and issues.
 */
int ly_engine_apply(ly_effects_t *out, const ly_program_t *program,
		    ly_engine_shared_t *shared, ly_customer_state_t *state,
		    const ly_event_t *ev, ly_arena_t *arena, char *errstr,
		    size_t errstr_size);

/* What became of one rule for one event, in the order the engine asks. */
typedef enum ly_rule_outcome {
	LY_RULE_SKIPPED = 1, /* `on` another event type */
	LY_RULE_NOT_ACTIVE,  /* the event time is outside `active` */
	LY_RULE_IF_FALSE,    /* `if` is false (or absent) */
	LY_RULE_LIMITED,     /* its `limit` is used up in this period */
	LY_RULE_NO_BUDGET,   /* its credit would cross its `budget` */
	LY_RULE_STOPPED,     /* an earlier firing rule had `stop: true` */
	LY_RULE_FIRED,       /* fired; earned points (maybe 0) */
} ly_rule_outcome_t;

/*
 * One rule's line of an explanation, for people. why is the whole line
 * after the rule id, e.g. `skipped: on review.submitted`, `not active:
 * 2026-11-01T23:59:00+03:00 is outside [2026-06-01, 2026-09-01)
 * Europe/Istanbul`, `if false: order.total >= 100000: 99000 >= 100000 ->
 * false`, `limit used up: 3 of 3 per day in 2026-11-24 Europe/Istanbul`,
 * `budget used up: +400 would make 1000100 of 1000000`, `stopped by rule
 * "photo-review"`, `fired: +1250 pending until 2026-12-06T10:00:00Z:
 * floor(125099/100)*1`, `fired: +25 available: 25` or `fired: 0 points
 * (floor(99/100)*1)`; a firing that issues or offers adds `; issues
 * gift_card 2K7R...` and `; offers welcome by email, sms`.
 */
typedef struct ly_rule_trace {
	const ly_rule_t *rule; /* borrowed from the program */
	ly_rule_outcome_t outcome;
	const char *why;    /* arena */
	int64_t points;     /* LY_RULE_FIRED: what it earned; else 0 */
	const char *reason; /* LY_RULE_FIRED: how (arena), NULL if nothing to
			     * say; else NULL */
} ly_rule_trace_t;

/*
 * ly_engine_apply, explained: the same evaluation by the same code, and
 * besides *out one trace per rule of the program in file order in
 * *traces (arena, program->rules_len long on success). state and shared
 * are updated as ly_engine_apply updates them; the caller that only wants
 * to look passes copies. On an evaluation error (LY_EINVAL, errstr as for
 * ly_engine_apply) *traces holds the rules before the failing one and
 * *traces_len says how many. Writes nothing anywhere else.
 */
int ly_engine_explain(ly_rule_trace_t **traces, size_t *traces_len,
		      ly_effects_t *out, const ly_program_t *program,
		      ly_engine_shared_t *shared, ly_customer_state_t *state,
		      const ly_event_t *ev, ly_arena_t *arena, char *errstr,
		      size_t errstr_size);

/*
 * The scheduler's work for one customer (docs/lifecycle.md): does the
 * earliest thing due at or before now_us (a lot released or expired, an
 * expiry reminder, a birthday, a segment change, a tier evaluation), at
 * its own due instant, into *ev (the trigger; for a release or expiry the
 * credit's event, with the posting's kind saying which) and *out. Returns
 * 0 (ev->id NULL when the work said nothing, as a tier kept), LY_ENOTFOUND
 * when nothing is due by now_us (then state->next_due_us says when),
 * LY_EINVAL (errstr) as ly_engine_apply, or LY_ENOMEM. state must hold
 * its lots and the orders of the tier window (not partial).
 */
int ly_engine_tick(ly_effects_t *out, ly_event_t *ev, const ly_program_t *program,
		   ly_engine_shared_t *shared, ly_customer_state_t *state,
		   int64_t now_us, ly_arena_t *arena, char *errstr,
		   size_t errstr_size);

/* state->next_due_us: when the scheduler has work for the customer, as
 * far as state shows (0: never). */
void ly_engine_plan(const ly_program_t *program, ly_customer_state_t *state);

/*
 * The code a rule issues for an event: HMAC-SHA256 under the shop's secret
 * of (source, event id, rule id, n), so a replay issues the same code and
 * nobody without the secret can guess one. n tells apart several codes of
 * one firing. Writes LY_CODE_LENGTH characters and a NUL to out (at least
 * LY_CODE_LENGTH + 1 bytes).
 */
void ly_engine_code(char *out, const void *secret, size_t secret_len,
		    const char *source, const char *event_id, const char *rule_id,
		    uint32_t n);

#endif
