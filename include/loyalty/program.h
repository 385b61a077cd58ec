/*
 * program.h: the shop's loyalty program, loaded from one YAML file
 * (SPEC section 5, described for users in docs/program.md).
 *
 * The loader turns the file into an immutable ly_program_t that the engine
 * reads; every key of the language is loaded into the typed structs below
 * and checked, and every mistake is refused with "file:line:col: message".
 * Expressions (`if`, `of`, offer `vars`) are compiled at load against the
 * schema of the rule's `on` type (ly_program_schema). The program's version
 * is a hash of the file's bytes, written on every ledger line it produces.
 */
#ifndef LOYALTY_PROGRAM_H
#define LOYALTY_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/event.h"
#include "loyalty/expr.h"
#include "loyalty/tz.h"

#define LY_PROGRAM_FILE_MAX_BYTES (4 * 1024 * 1024)
#define LY_PROGRAM_RULES_MAX 1024
#define LY_PROGRAM_ID_MAX_BYTES 64
#define LY_PROGRAM_LEVELS_MAX 32
#define LY_PROGRAM_PERKS_MAX 32
#define LY_PROGRAM_REWARDS_MAX 1000
#define LY_PROGRAM_VARS_MAX 32
/* Multipliers are held as basis points of 1.0: 1.25 is 12500. */
#define LY_MULTIPLIER_ONE 10000

/* A position in the program file (1-based); 0:0 when absent. */
typedef struct ly_pos {
	int line, col;
} ly_pos_t;

/* Triggers (ly_trigger_t) are in event.h: they are events too. A rule has
 * either an input type in `on` (trigger LY_TRIGGER_NONE) or a trigger (then
 * its `on` is LY_EV__COUNT, which no input event has). */

/*
 * The fields expressions may name, with stable ids handed to the
 * environment (ly_expr_env_t.get). Append only: never renumber.
 */
typedef enum ly_field {
	/* every type */
	LY_FIELD_EVENT_ID = 1,   /* string */
	LY_FIELD_EVENT_SOURCE,   /* string */
	LY_FIELD_EVENT_TYPE,     /* string: "order.paid", "customer.birthday" */
	LY_FIELD_EVENT_TIME,     /* time */
	LY_FIELD_CUSTOMER_ORDER_COUNT,      /* int */
	LY_FIELD_CUSTOMER_LIFETIME_SPEND,   /* int, minor units */
	LY_FIELD_CUSTOMER_WINDOW_SPEND,     /* int, minor units */
	LY_FIELD_CUSTOMER_TIER,             /* string, "" without tiers */
	LY_FIELD_CUSTOMER_SEGMENT,          /* string: new|active|at_risk|lost */
	LY_FIELD_CUSTOMER_POINTS_AVAILABLE, /* int */
	LY_FIELD_CUSTOMER_POINTS_PENDING,   /* int */
	LY_FIELD_CUSTOMER_DAYS_SINCE_LAST_ORDER, /* int, absent without orders */
	LY_FIELD_CUSTOMER_CLV,              /* int, minor units */
	LY_FIELD_CUSTOMER_TOP_CATEGORY,     /* string, "" without orders */
	LY_FIELD_CUSTOMER_LOCALE,           /* string */
	LY_FIELD_CUSTOMER_CONSENT_EMAIL,    /* bool */
	LY_FIELD_CUSTOMER_CONSENT_SMS,      /* bool */
	LY_FIELD_CUSTOMER_BIRTHDAY_TODAY,   /* bool */
	/* customer.registered, customer.updated: profile.* (the data) */
	LY_FIELD_PROFILE_FIRST_NAME,    /* string, optional */
	LY_FIELD_PROFILE_LOCALE,        /* string, optional */
	LY_FIELD_PROFILE_BIRTH_DATE,    /* date, optional */
	LY_FIELD_PROFILE_CONSENT_EMAIL, /* bool, optional */
	LY_FIELD_PROFILE_CONSENT_SMS,   /* bool, optional */
	LY_FIELD_PROFILE_REFERRED_BY,   /* string, optional */
	/* order.paid */
	LY_FIELD_ORDER_ORDER_ID,     /* string (also refunded/cancelled) */
	LY_FIELD_ORDER_TOTAL,        /* int */
	LY_FIELD_ORDER_CURRENCY,     /* string */
	LY_FIELD_ORDER_ITEMS,        /* list of records item.* */
	LY_FIELD_ORDER_COUPON_CODES, /* list of strings, empty when absent */
	LY_FIELD_ITEM_SKU,           /* string */
	LY_FIELD_ITEM_CATEGORY,      /* string */
	LY_FIELD_ITEM_QUANTITY,      /* int */
	LY_FIELD_ITEM_UNIT_PRICE,    /* int */
	/* order.refunded, order.cancelled */
	LY_FIELD_ORDER_AMOUNT, /* int, optional (absent: the whole rest) */
	/* review.submitted */
	LY_FIELD_REVIEW_REVIEW_ID,         /* string */
	LY_FIELD_REVIEW_PRODUCT_ID,        /* string */
	LY_FIELD_REVIEW_RATING,            /* int 1..5 */
	LY_FIELD_REVIEW_VERIFIED_PURCHASE, /* bool */
	LY_FIELD_REVIEW_HAS_PHOTO,         /* bool */
	LY_FIELD_REVIEW_TEXT_LENGTH,       /* int */
	/* social.interaction */
	LY_FIELD_SOCIAL_INTERACTION_ID, /* string */
	LY_FIELD_SOCIAL_PLATFORM,       /* string */
	LY_FIELD_SOCIAL_ACTION,         /* string */
	LY_FIELD_SOCIAL_URL,            /* string, optional */
	/* survey.completed */
	LY_FIELD_SURVEY_SURVEY_ID, /* string */
	LY_FIELD_SURVEY_NPS,       /* int, optional */
	LY_FIELD_SURVEY_CSAT,      /* int, optional */
	/* points.redeem */
	LY_FIELD_REDEEM_REQUEST_ID, /* string */
	LY_FIELD_REDEEM_REWARD,     /* string */
	/* points.adjust */
	LY_FIELD_ADJUST_REQUEST_ID, /* string */
	LY_FIELD_ADJUST_POINTS,     /* int */
	LY_FIELD_ADJUST_REASON,     /* string */
	/* triggers */
	LY_FIELD_SEGMENT_FROM,       /* string (customer.segment_changed) */
	LY_FIELD_SEGMENT_TO,         /* string */
	LY_FIELD_TIER_FROM,          /* string (tier.changed) */
	LY_FIELD_TIER_TO,            /* string */
	LY_FIELD_REFERRAL_REFERRED,  /* string: the referred customer id */
	LY_FIELD_EXPIRING_POINTS,    /* int (points.expiring) */
	LY_FIELD_EXPIRING_DATE,      /* date */
	LY_FIELD__COUNT
} ly_field_t;

/*
 * The schema expressions are compiled against in a rule on `on` (an input
 * type, trigger NONE) or on a trigger. Static, never NULL for a valid
 * pair.
 */
const ly_expr_schema_t *ly_program_schema(ly_event_type_t on,
					  ly_trigger_t trigger);

/* What a proportional earn is computed from. */
typedef enum ly_earn_of {
	LY_OF_NONE = 0,    /* fixed: earn {points: N} */
	LY_OF_ORDER_TOTAL, /* exactly `of: order.total` on order.paid */
	LY_OF_EXPR         /* any other int expression: earn_of_expr */
} ly_earn_of_t;

typedef enum ly_issue_kind {
	LY_ISSUE_NONE = 0,
	LY_ISSUE_DISCOUNT,
	LY_ISSUE_GIFT_CARD
} ly_issue_kind_t;

/* issue: {discount: {...}} or {gift_card: {...}}. */
typedef struct ly_issue {
	ly_issue_kind_t kind;
	int64_t amount;     /* minor units; 0 for a percent discount */
	int64_t percent;    /* 1..100; 0 for an amount discount / gift card */
	int64_t min_order;  /* minor units; 0 = none (discounts only) */
	int64_t valid_days; /* >= 1 */
} ly_issue_t;

#define LY_CHANNEL_EMAIL 1u
#define LY_CHANNEL_SMS 2u

typedef struct ly_offer_var {
	char *name;
	ly_expr_t *expr;
} ly_offer_var_t;

/* 1 when name is one of the vars loyaltyd gives every offer
 * (docs/offers.md: first_name, points_available, tier, code_kind, ...),
 * which a rule's own vars may not take. */
int ly_offer_var_is_builtin(const char *name);

typedef struct ly_offer {
	char *template_id;      /* NULL: the rule makes no offer */
	unsigned channels;      /* LY_CHANNEL_* bits, at least one */
	uint8_t channel_order[2]; /* the channels as written */
	size_t channels_len;
	ly_offer_var_t *vars;
	size_t vars_len;
} ly_offer_t;

typedef struct ly_rule {
	char *id;
	ly_event_type_t on; /* LY_EV__COUNT for a trigger rule */
	ly_trigger_t trigger;
	/* if: NULL = always */
	ly_expr_t *if_expr;
	/* active: days since 1970-01-01 in program time; from inclusive,
	 * until exclusive */
	int has_active_from, has_active_until;
	int64_t active_from_day, active_until_day;
	/* earn: points (fixed or per-unit), per (> 0 when proportional) */
	int has_earn;
	int64_t earn_points;
	int64_t earn_per;
	ly_earn_of_t earn_of;
	ly_expr_t *earn_of_expr; /* set for ORDER_TOTAL and EXPR */
	int earn_tier_multiplier;
	/* earn.pending: 1 / 0, or -1 = default (pending on order.paid when
	 * points.pending_days > 0). */
	int earn_pending;
	/* limit: count 0 = none */
	int64_t limit_count;
	ly_period_t limit_per;
	/* budget: 0 = none */
	int64_t budget_points;
	int stop;
	ly_issue_t issue;
	ly_offer_t offer;
	int line, col; /* where the rule starts, for messages */
	/* where each key is (0:0 when absent), for messages about them */
	ly_pos_t on_pos, if_pos, active_pos, limit_pos, budget_pos, stop_pos,
		issue_pos, offer_pos, of_pos, tier_multiplier_pos;
} ly_rule_t;

typedef struct ly_tier {
	char *name;
	int64_t min_spend;            /* minor units of window spend */
	int64_t earn_multiplier_bp;   /* LY_MULTIPLIER_ONE = 1.0 */
	char **perks;
	size_t perks_len;
	int line, col;
} ly_tier_t;

typedef struct ly_reward {
	char *id;
	int64_t cost; /* points */
	ly_issue_t issue;
	int line, col;
} ly_reward_t;

/* A daily quiet window in program time, minutes after midnight; it spans
 * midnight when start_min > end_min ("21:00-09:00"). */
typedef struct ly_quiet_hours {
	int set;
	int start_min, end_min;
} ly_quiet_hours_t;

typedef struct ly_program {
	char *path;
	char version[17]; /* first 16 hex digits of SHA-256 of the file */
	/* program: */
	char *name;
	char *currency; /* default "TRY" */
	char *timezone; /* default "Europe/Istanbul" */
	char *locale;   /* default "tr" */
	ly_tz_t *tz;    /* the zone loaded from timezone */
	/* points: */
	int64_t pending_days;         /* default 0 */
	int64_t expire_days;          /* default 0 = never */
	int64_t expiry_reminder_days; /* default 0 = none */
	/* tiers: none when tiers_len == 0 */
	int64_t tier_window_days; /* default 365 */
	ly_tier_t *tiers;
	size_t tiers_len;
	ly_pos_t tiers_pos;
	/* lifecycle: */
	int64_t at_risk_days;            /* default 60 */
	int64_t lost_days;               /* default 120, > at_risk_days */
	int64_t expected_lifetime_years; /* default 3 */
	/* offers: */
	int64_t offer_cap_count; /* 0 = no cap */
	ly_period_t offer_cap_per;
	ly_quiet_hours_t quiet_email, quiet_sms;
	ly_pos_t offers_pos;
	/* rewards: */
	ly_reward_t *rewards;
	size_t rewards_len;
	ly_pos_t rewards_pos;
	ly_rule_t *rules;
	size_t rules_len;
	/* The rules on each type, in file order, as indices into rules:
	 * ly_program_rules_on() reads them. Built at load. */
	uint32_t *on_rules[LY_EV__COUNT + LY_TRIGGER__COUNT];
	size_t on_rules_len[LY_EV__COUNT + LY_TRIGGER__COUNT];
} ly_program_t;

/* The indices of the rules on ev's type or trigger, in file order;
 * *len says how many (maybe 0). Borrowed from program. */
const uint32_t *ly_program_rules_on(const ly_program_t *program,
				    const ly_event_t *ev, size_t *len);

/*
 * Loads and checks a program file. Returns 0 and *out (the caller frees
 * with ly_program_destroy), or LY_EINVAL/LY_EIO with
 * "path:line:col: message" in errstr.
 */
int ly_program_load(ly_program_t **out, const char *path, char *errstr,
		    size_t errstr_size);
/* The same from memory; name stands for the path in messages. */
int ly_program_load_buf(ly_program_t **out, const char *name, const char *buf,
			size_t len, char *errstr, size_t errstr_size);
/* Accepts NULL. */
void ly_program_destroy(ly_program_t *program);

/* 1 when points from this rule on this event type start as pending. */
int ly_rule_is_pending(const ly_program_t *program, const ly_rule_t *rule);

/* The reward with that id, or NULL (borrowed from program). */
const ly_reward_t *ly_program_reward(const ly_program_t *program,
				     const char *id);

/* "order.paid" or "customer.birthday": what the rule is `on`. */
const char *ly_rule_on_name(const ly_rule_t *rule);

#endif
