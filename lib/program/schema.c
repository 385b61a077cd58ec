/*
 * schema.c: what expressions in a program may name (SPEC section 5), one
 * static schema per input type and trigger, and the trigger names.
 *
 * Every schema starts with event.* and customer.*; then comes the event's
 * own data under its name (order.*, review.*, ...). The ids are the stable
 * ly_field_t values of program.h, which the engine's environment maps back
 * to the event and the customer's state.
 */
#include "loyalty/program.h"

#include <string.h>

#define F(path, type, id) {path, type, 0, id, 0, NULL}
#define OPT(path, type, id) {path, type, 1, id, 0, NULL}

#define COMMON_FIELDS                                                      \
	F("event.id", LY_TYPE_STRING, LY_FIELD_EVENT_ID),                  \
	F("event.source", LY_TYPE_STRING, LY_FIELD_EVENT_SOURCE),          \
	F("event.type", LY_TYPE_STRING, LY_FIELD_EVENT_TYPE),              \
	F("event.time", LY_TYPE_TIME, LY_FIELD_EVENT_TIME),                \
	F("customer.order_count", LY_TYPE_INT, LY_FIELD_CUSTOMER_ORDER_COUNT), \
	F("customer.lifetime_spend", LY_TYPE_INT,                          \
	  LY_FIELD_CUSTOMER_LIFETIME_SPEND),                               \
	F("customer.window_spend", LY_TYPE_INT, LY_FIELD_CUSTOMER_WINDOW_SPEND), \
	F("customer.tier", LY_TYPE_STRING, LY_FIELD_CUSTOMER_TIER),        \
	F("customer.segment", LY_TYPE_STRING, LY_FIELD_CUSTOMER_SEGMENT),  \
	F("customer.points_available", LY_TYPE_INT,                        \
	  LY_FIELD_CUSTOMER_POINTS_AVAILABLE),                             \
	F("customer.points_pending", LY_TYPE_INT,                          \
	  LY_FIELD_CUSTOMER_POINTS_PENDING),                               \
	OPT("customer.days_since_last_order", LY_TYPE_INT,                 \
	    LY_FIELD_CUSTOMER_DAYS_SINCE_LAST_ORDER),                      \
	F("customer.clv", LY_TYPE_INT, LY_FIELD_CUSTOMER_CLV),             \
	F("customer.top_category", LY_TYPE_STRING,                         \
	  LY_FIELD_CUSTOMER_TOP_CATEGORY),                                 \
	F("customer.locale", LY_TYPE_STRING, LY_FIELD_CUSTOMER_LOCALE),    \
	F("customer.consent_email", LY_TYPE_BOOL,                          \
	  LY_FIELD_CUSTOMER_CONSENT_EMAIL),                                \
	F("customer.consent_sms", LY_TYPE_BOOL, LY_FIELD_CUSTOMER_CONSENT_SMS), \
	F("customer.birthday_today", LY_TYPE_BOOL,                         \
	  LY_FIELD_CUSTOMER_BIRTHDAY_TODAY)

#define SCHEMA(name, ...)                                                  \
	static const ly_expr_field_t name##_fields[] = {COMMON_FIELDS,     \
							__VA_ARGS__};      \
	static const ly_expr_schema_t name = {name##_fields,               \
					      LY_ARRAY_LEN(name##_fields)}

static const ly_expr_field_t item_fields[] = {
	F("item.sku", LY_TYPE_STRING, LY_FIELD_ITEM_SKU),
	F("item.category", LY_TYPE_STRING, LY_FIELD_ITEM_CATEGORY),
	F("item.quantity", LY_TYPE_INT, LY_FIELD_ITEM_QUANTITY),
	F("item.unit_price", LY_TYPE_INT, LY_FIELD_ITEM_UNIT_PRICE),
};
static const ly_expr_schema_t item_schema = {item_fields,
					     LY_ARRAY_LEN(item_fields)};

static const ly_expr_field_t common_fields[] = {COMMON_FIELDS};
static const ly_expr_schema_t common_schema = {common_fields,
					       LY_ARRAY_LEN(common_fields)};

SCHEMA(profile_schema,
       OPT("profile.first_name", LY_TYPE_STRING, LY_FIELD_PROFILE_FIRST_NAME),
       OPT("profile.locale", LY_TYPE_STRING, LY_FIELD_PROFILE_LOCALE),
       OPT("profile.birth_date", LY_TYPE_DATE, LY_FIELD_PROFILE_BIRTH_DATE),
       OPT("profile.consent_email", LY_TYPE_BOOL,
	   LY_FIELD_PROFILE_CONSENT_EMAIL),
       OPT("profile.consent_sms", LY_TYPE_BOOL, LY_FIELD_PROFILE_CONSENT_SMS),
       OPT("profile.referred_by", LY_TYPE_STRING,
	   LY_FIELD_PROFILE_REFERRED_BY));

SCHEMA(order_paid_schema,
       F("order.order_id", LY_TYPE_STRING, LY_FIELD_ORDER_ORDER_ID),
       F("order.total", LY_TYPE_INT, LY_FIELD_ORDER_TOTAL),
       F("order.currency", LY_TYPE_STRING, LY_FIELD_ORDER_CURRENCY),
       {"order.items", LY_TYPE_LIST, 0, LY_FIELD_ORDER_ITEMS, 0, &item_schema},
       {"order.coupon_codes", LY_TYPE_LIST, 0, LY_FIELD_ORDER_COUPON_CODES,
	LY_TYPE_STRING, NULL});

SCHEMA(refund_schema,
       F("order.order_id", LY_TYPE_STRING, LY_FIELD_ORDER_ORDER_ID),
       OPT("order.amount", LY_TYPE_INT, LY_FIELD_ORDER_AMOUNT));

SCHEMA(review_schema,
       F("review.review_id", LY_TYPE_STRING, LY_FIELD_REVIEW_REVIEW_ID),
       F("review.product_id", LY_TYPE_STRING, LY_FIELD_REVIEW_PRODUCT_ID),
       F("review.rating", LY_TYPE_INT, LY_FIELD_REVIEW_RATING),
       F("review.verified_purchase", LY_TYPE_BOOL,
	 LY_FIELD_REVIEW_VERIFIED_PURCHASE),
       F("review.has_photo", LY_TYPE_BOOL, LY_FIELD_REVIEW_HAS_PHOTO),
       F("review.text_length", LY_TYPE_INT, LY_FIELD_REVIEW_TEXT_LENGTH));

SCHEMA(social_schema,
       F("social.interaction_id", LY_TYPE_STRING,
	 LY_FIELD_SOCIAL_INTERACTION_ID),
       F("social.platform", LY_TYPE_STRING, LY_FIELD_SOCIAL_PLATFORM),
       F("social.action", LY_TYPE_STRING, LY_FIELD_SOCIAL_ACTION),
       OPT("social.url", LY_TYPE_STRING, LY_FIELD_SOCIAL_URL));

SCHEMA(survey_schema,
       F("survey.survey_id", LY_TYPE_STRING, LY_FIELD_SURVEY_SURVEY_ID),
       OPT("survey.nps", LY_TYPE_INT, LY_FIELD_SURVEY_NPS),
       OPT("survey.csat", LY_TYPE_INT, LY_FIELD_SURVEY_CSAT));

SCHEMA(redeem_schema,
       F("redeem.request_id", LY_TYPE_STRING, LY_FIELD_REDEEM_REQUEST_ID),
       F("redeem.reward", LY_TYPE_STRING, LY_FIELD_REDEEM_REWARD));

SCHEMA(adjust_schema,
       F("adjust.request_id", LY_TYPE_STRING, LY_FIELD_ADJUST_REQUEST_ID),
       F("adjust.points", LY_TYPE_INT, LY_FIELD_ADJUST_POINTS),
       F("adjust.reason", LY_TYPE_STRING, LY_FIELD_ADJUST_REASON));

SCHEMA(segment_schema,
       F("segment.from", LY_TYPE_STRING, LY_FIELD_SEGMENT_FROM),
       F("segment.to", LY_TYPE_STRING, LY_FIELD_SEGMENT_TO));

SCHEMA(tier_schema, F("tier.from", LY_TYPE_STRING, LY_FIELD_TIER_FROM),
       F("tier.to", LY_TYPE_STRING, LY_FIELD_TIER_TO));

SCHEMA(referral_schema, F("referral.referred", LY_TYPE_STRING,
			  LY_FIELD_REFERRAL_REFERRED));

SCHEMA(expiring_schema,
       F("expiring.points", LY_TYPE_INT, LY_FIELD_EXPIRING_POINTS),
       F("expiring.date", LY_TYPE_DATE, LY_FIELD_EXPIRING_DATE));

const ly_expr_schema_t *ly_program_schema(ly_event_type_t on,
					  ly_trigger_t trigger)
{
	switch (trigger) {
	case LY_TRIGGER_BIRTHDAY:
		return &common_schema;
	case LY_TRIGGER_SEGMENT_CHANGED:
		return &segment_schema;
	case LY_TRIGGER_TIER_CHANGED:
		return &tier_schema;
	case LY_TRIGGER_POINTS_EXPIRING:
		return &expiring_schema;
	case LY_TRIGGER_REFERRAL_QUALIFIED:
		return &referral_schema;
	case LY_TRIGGER_NONE:
	case LY_TRIGGER__COUNT:
		break;
	}
	switch (on) {
	case LY_EV_CUSTOMER_REGISTERED:
	case LY_EV_CUSTOMER_UPDATED:
		return &profile_schema;
	case LY_EV_ORDER_PAID:
		return &order_paid_schema;
	case LY_EV_ORDER_REFUNDED:
	case LY_EV_ORDER_CANCELLED:
		return &refund_schema;
	case LY_EV_REVIEW_SUBMITTED:
		return &review_schema;
	case LY_EV_SOCIAL_INTERACTION:
		return &social_schema;
	case LY_EV_SURVEY_COMPLETED:
		return &survey_schema;
	case LY_EV_POINTS_REDEEM:
		return &redeem_schema;
	case LY_EV_POINTS_ADJUST:
		return &adjust_schema;
	case LY_EV__COUNT:
		break;
	}
	LY_ASSERT(!"schema of an unknown event type");
	return &common_schema;
}
