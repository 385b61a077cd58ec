/*
 * event.h: CloudEvents 1.0 input decoding (SPEC section 4).
 *
 * One Kafka message becomes one typed ly_event_t, or a rejection with a
 * reason code and a message for the DLQ. Structured mode (the whole
 * envelope as JSON in the value) and binary mode (ce_* Kafka headers, data
 * as the value) are both accepted. Every string of a decoded event is
 * copied into the caller's arena, so the event lives until that arena is
 * reset.
 */
#ifndef LOYALTY_EVENT_H
#define LOYALTY_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/util.h"

/* Limits of SPEC section 4. */
#define LY_EVENT_MESSAGE_MAX_BYTES (1024 * 1024)
#define LY_EVENT_ARRAY_MAX_ITEMS 1000
#define LY_EVENT_STRING_MAX_BYTES 4096
#define LY_EVENT_ID_MAX_BYTES 128

typedef enum ly_event_type {
	LY_EV_CUSTOMER_REGISTERED = 0,
	LY_EV_CUSTOMER_UPDATED,
	LY_EV_ORDER_PAID,
	LY_EV_ORDER_REFUNDED,
	LY_EV_ORDER_CANCELLED,
	LY_EV_REVIEW_SUBMITTED,
	LY_EV_SOCIAL_INTERACTION,
	LY_EV_SURVEY_COMPLETED,
	LY_EV_POINTS_REDEEM,
	LY_EV_POINTS_ADJUST,
	LY_EV__COUNT
} ly_event_type_t;

/* "order.paid" for LY_EV_ORDER_PAID; NULL when out of range. */
const char *ly_event_type_name(ly_event_type_t type);
/* 0 and *out on a known name, LY_ENOTFOUND otherwise. */
int ly_event_type_parse(const char *name, ly_event_type_t *out);

/* Why an input was rejected; the code string goes into dlq.error.code. */
typedef enum ly_reject {
	LY_REJECT_NONE = 0,
	LY_REJECT_TOO_LARGE,     /* "message_too_large": value over 1 MiB */
	LY_REJECT_NOT_UTF8,      /* "invalid_utf8": value or ce_ header */
	LY_REJECT_BAD_JSON,      /* "invalid_json": not JSON / not an object */
	LY_REJECT_MISSING_FIELD, /* "missing_field": required field absent */
	LY_REJECT_WRONG_TYPE,    /* "wrong_type": a field has the wrong JSON type */
	LY_REJECT_BAD_VALUE,     /* "invalid_value": range, enum, format */
	LY_REJECT_STRING_TOO_LONG, /* "string_too_long": a string over 4 KiB,
				      or an id over 128 bytes */
	LY_REJECT_ARRAY_TOO_LONG,  /* "array_too_long": over 1,000 items */
	LY_REJECT_UNKNOWN_TYPE,    /* "unknown_type" */
	LY_REJECT_BAD_SPECVERSION, /* "unsupported_specversion": not "1.0" */
	LY_REJECT__COUNT
} ly_reject_t;

/* Stable snake_case code, e.g. "missing_field". */
const char *ly_reject_code(ly_reject_t reason);

/* Tri-state for optional booleans. */
typedef enum ly_tristate { LY_UNSET = -1, LY_FALSE = 0, LY_TRUE = 1 } ly_tristate_t;

/* customer.registered / customer.updated. NULL / LY_UNSET = absent. */
typedef struct ly_customer_data {
	const char *first_name;
	const char *locale;     /* "tr" or "en" */
	const char *birth_date; /* "YYYY-MM-DD", validated */
	const char *email;      /* kept only for presence; never logged */
	const char *phone;
	ly_tristate_t consent_email;
	ly_tristate_t consent_sms;
	const char *referred_by;
} ly_customer_data_t;

typedef struct ly_order_item {
	const char *sku;
	const char *category;
	int64_t quantity;
	int64_t unit_price; /* minor units */
} ly_order_item_t;

typedef struct ly_order_paid {
	const char *order_id;
	int64_t total; /* minor units, >= 0 */
	const char *currency;
	const ly_order_item_t *items;
	size_t items_len;
	const char *const *coupon_codes; /* NULL when absent */
	size_t coupon_codes_len;
} ly_order_paid_t;

/* order.refunded / order.cancelled. */
typedef struct ly_order_refund {
	const char *order_id;
	int has_amount; /* 0: the whole remaining total */
	int64_t amount;
} ly_order_refund_t;

typedef struct ly_review {
	const char *review_id;
	const char *product_id;
	int64_t rating; /* 1..5 */
	int verified_purchase;
	int has_photo;
	int64_t text_length; /* >= 0 */
} ly_review_t;

typedef struct ly_social {
	const char *interaction_id;
	const char *platform; /* instagram|tiktok|x|facebook|youtube|other */
	const char *action;   /* follow|share|like|comment|mention|ugc */
	const char *url;      /* NULL when absent */
} ly_social_t;

typedef struct ly_survey {
	const char *survey_id;
	int64_t nps;  /* -1 when absent, else 0..10 */
	int64_t csat; /* -1 when absent, else 1..5 */
} ly_survey_t;

typedef struct ly_redeem {
	const char *request_id;
	const char *reward;
} ly_redeem_t;

typedef struct ly_adjust {
	const char *request_id;
	int64_t points; /* != 0 */
	const char *reason;
} ly_adjust_t;

/*
 * Triggers: events loyaltyd produces itself, which rules take in `on` like
 * input types (SPEC section 5). A trigger event has type LY_EV__COUNT and
 * one of these in `trigger`; an input event has LY_TRIGGER_NONE.
 */
typedef enum ly_trigger {
	LY_TRIGGER_NONE = 0,
	LY_TRIGGER_BIRTHDAY,           /* customer.birthday */
	LY_TRIGGER_SEGMENT_CHANGED,    /* customer.segment_changed */
	LY_TRIGGER_TIER_CHANGED,       /* tier.changed */
	LY_TRIGGER_POINTS_EXPIRING,    /* points.expiring */
	LY_TRIGGER_REFERRAL_QUALIFIED, /* referral.qualified */
	LY_TRIGGER__COUNT
} ly_trigger_t;

/* "customer.birthday" for LY_TRIGGER_BIRTHDAY; NULL for NONE or out of
 * range. */
const char *ly_trigger_name(ly_trigger_t trigger);
/* 0 and *out on a known trigger name, LY_ENOTFOUND otherwise. */
int ly_trigger_parse(const char *name, ly_trigger_t *out);

/* Data of the triggers. */
typedef struct ly_change {
	const char *from; /* customer.segment_changed: new|active|at_risk|lost; */
	const char *to;   /* tier.changed: tier names ("" for none) */
} ly_change_t;

typedef struct ly_referral {
	const char *referred; /* the referred customer's id */
} ly_referral_t;

typedef struct ly_expiring {
	int64_t points;   /* > 0 */
	int64_t date_day; /* days since 1970-01-01: the day they expire */
} ly_expiring_t;

typedef struct ly_event {
	const char *id;     /* <= 128 bytes */
	const char *source; /* non-empty */
	/* An input type, or LY_EV__COUNT for a trigger (then trigger says
	 * which; it is 0, no trigger, for every input). */
	ly_event_type_t type;
	ly_trigger_t trigger;
	int64_t time_us; /* CloudEvents time, required, RFC 3339 */
	const char *customer_id; /* data.customer_id, <= 128 bytes */
	union {
		ly_customer_data_t customer; /* registered, updated */
		ly_order_paid_t order_paid;
		ly_order_refund_t refund; /* refunded, cancelled */
		ly_review_t review;
		ly_social_t social; /* social.interaction */
		ly_survey_t survey;
		ly_redeem_t redeem;
		ly_adjust_t adjust;
		ly_change_t change; /* customer.segment_changed, tier.changed */
		ly_referral_t referral; /* referral.qualified */
		ly_expiring_t expiring; /* points.expiring */
	} u;
} ly_event_t;

/* The name of what ev is: its input type's ("order.paid") or its
 * trigger's ("customer.birthday"). */
const char *ly_event_name(const ly_event_t *ev);

/* A Kafka header as librdkafka gives it (value may be NULL). */
typedef struct ly_header {
	const char *key;
	const void *value;
	size_t value_len;
} ly_header_t;

/*
 * Decodes one Kafka message. Binary mode is chosen when a "ce_specversion"
 * header is present; then the envelope attributes come from ce_id,
 * ce_source, ce_type, ce_time headers and the value is the JSON `data`.
 * Otherwise the value is a structured-mode envelope.
 *
 * Returns 0 and fills *out (strings in arena), or LY_EINVAL with *why set
 * and a message in errstr naming the field ("data.items[3].quantity: must
 * be an integer >= 1"), or LY_ENOMEM. Never logs; never keeps a pointer
 * into value or headers.
 */
int ly_event_decode(ly_event_t *out, ly_reject_t *why, char *errstr,
		    size_t errstr_size, const void *value, size_t value_len,
		    const ly_header_t *headers, size_t headers_len,
		    ly_arena_t *arena);

/*
 * ly_event_decode that also takes the triggers loyaltyd produces itself
 * (`customer.birthday`, `customer.segment_changed` {from, to},
 * `tier.changed` {from, to}, `points.expiring` {points, date},
 * `referral.qualified` {referred}), for the tools that feed them to the
 * engine by hand (`loyaltyctl explain` and `test`). Never for input read
 * from Kafka: a shop cannot publish a trigger.
 */
int ly_event_decode_trigger(ly_event_t *out, ly_reject_t *why, char *errstr,
			    size_t errstr_size, const void *value,
			    size_t value_len, ly_arena_t *arena);

#endif
