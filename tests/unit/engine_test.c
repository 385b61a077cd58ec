/*
 * engine_test.c: the pure core (lib/engine). Programs come from inline
 * YAML through the real loader, events are filled by hand, and every
 * posting is checked field by field with the numbers a shop would check
 * by hand: points, reasons, balances after each line and the exact times
 * points become available and expire.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/expr.h"
#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

#define HEAD "version: 1\nprogram: {name: shop}\n"

/* 2026-11-22T10:00:00Z, checked against `date -u -d ... +%s`. */
#define EVENT_TIME_US INT64_C(1795341600000000)
#define DAY_US (INT64_C(86400) * 1000000)

typedef struct fixture {
	ly_arena_t *arena;
	ly_program_t *program;
	ly_engine_shared_t shared;
	int64_t budget_spent[LY_PROGRAM_RULES_MAX];
	unsigned char budget_changed[LY_PROGRAM_RULES_MAX];
} fixture_t;

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	f.arena = ly_arena_new(4096);
	if (!f.arena)
		return -1;
	f.shared.budget_spent = f.budget_spent;
	f.shared.budget_changed = f.budget_changed;
	f.shared.code_secret = "test-secret";
	f.shared.code_secret_len = strlen("test-secret");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	fixture_t *f = *state;
	ly_program_destroy(f->program);
	ly_arena_destroy(f->arena);
	return 0;
}

/* Loads yaml into the fixture (freed by teardown). */
static ly_program_t *load(fixture_t *f, const char *yaml)
{
	char err[512] = "";
	ly_program_destroy(f->program);
	f->program = NULL;
	int rc = ly_program_load_buf(&f->program, "prog.yaml", yaml, strlen(yaml),
				     err, sizeof(err));
	if (rc != 0)
		print_error("program refused: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(f->program);
	return f->program;
}

/* Each order a new order id: "o-1", "o-2", ... (a ring of 4096). */
static const char *next_order_id(void)
{
	static char ids[4096][16];
	static unsigned n;
	char *id = ids[n % 4096];
	snprintf(id, sizeof(ids[0]), "o-%u", ++n);
	return id;
}

static ly_event_t order_paid(int64_t total)
{
	ly_event_t ev = {
		.id = "evt-1",
		.source = "shop",
		.type = LY_EV_ORDER_PAID,
		.time_us = EVENT_TIME_US,
		.customer_id = "c-1",
	};
	ev.u.order_paid.order_id = next_order_id();
	ev.u.order_paid.total = total;
	ev.u.order_paid.currency = "TRY";
	return ev;
}

static ly_event_t review_submitted(void)
{
	ly_event_t ev = {
		.id = "evt-2",
		.source = "shop",
		.type = LY_EV_REVIEW_SUBMITTED,
		.time_us = EVENT_TIME_US,
		.customer_id = "c-1",
	};
	ev.u.review.review_id = "rv-1";
	ev.u.review.product_id = "p-1";
	ev.u.review.rating = 5;
	ev.u.review.verified_purchase = 1;
	return ev;
}

/* An order.paid applied again is a new order: a new id when cs has paid
 * this one, so a test may apply one event struct several times. */
static const ly_event_t *fresh_order(const ly_customer_state_t *cs,
				     const ly_event_t *ev, ly_event_t *copy)
{
	if (ev->type != LY_EV_ORDER_PAID)
		return ev;
	for (size_t i = 0; i < cs->orders_len; i++)
		if (strcmp(cs->orders[i].order_id, ev->u.order_paid.order_id) == 0) {
			*copy = *ev;
			copy->u.order_paid.order_id = next_order_id();
			return copy;
		}
	return ev;
}

/* Runs the engine and expects success. */
static ly_effects_t apply_ok(fixture_t *f, ly_customer_state_t *cs,
			     const ly_event_t *ev)
{
	ly_effects_t out = {(ly_posting_t *)(uintptr_t)1, 99};
	char err[256] = "";
	ly_event_t copy;
	ev = fresh_order(cs, ev, &copy);
	int rc = ly_engine_apply(&out, f->program, &f->shared, cs, ev, f->arena, err,
				 sizeof(err));
	if (rc != 0)
		print_error("engine failed: %s\n", err);
	assert_int_equal(rc, 0);
	return out;
}

/* Formats a timestamp so a failure shows the date, not 16 digits. */
static void assert_time(int64_t us, const char *want)
{
	char got[40];
	ly_time_format_rfc3339(us, got, sizeof(got));
	assert_string_equal(got, want);
}

static void test_fixed_earn(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: review, on: review.submitted, earn: {points: 500}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = review_submitted();

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	const ly_posting_t *p = &out.postings[0];
	assert_string_equal(p->rule_id, "review");
	assert_int_equal(p->delta_available, 500);
	assert_int_equal(p->delta_pending, 0);
	assert_string_equal(p->reason, "500");
	assert_int_equal(p->available_at_us, EVENT_TIME_US);
	assert_int_equal(p->expires_at_us, 0); /* expire_days 0: never */
	assert_int_equal(p->available_after, 500);
	assert_int_equal(p->pending_after, 0);
	assert_int_equal(cs.available, 500);
	assert_int_equal(cs.pending, 0);
	assert_int_equal(cs.changed, 1);
	assert_string_equal(cs.customer_id, "c-1");
}

static void test_proportional_earn(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - id: base-earn\n"
		     "    on: order.paid\n"
		     "    earn: {per: 100, points: 1, of: order.total}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "base-earn");
	assert_int_equal(out.postings[0].delta_available, 1250);
	assert_int_equal(out.postings[0].delta_pending, 0);
	assert_string_equal(out.postings[0].reason, "floor(125099/100)*1");
	assert_int_equal(out.postings[0].available_after, 1250);
	assert_int_equal(out.postings[0].pending_after, 0);
	assert_int_equal(cs.available, 1250);
	assert_int_equal(cs.changed, 1);

	load(f, HEAD "rules:\n"
		     "  - id: triple\n"
		     "    on: order.paid\n"
		     "    earn: {per: 1000, points: 3, of: order.total}\n");
	cs = (ly_customer_state_t){.customer_id = "c-1"};
	out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "triple");
	assert_int_equal(out.postings[0].delta_available, 375);
	assert_string_equal(out.postings[0].reason, "floor(125099/1000)*3");
	assert_int_equal(out.postings[0].available_after, 375);
	assert_int_equal(cs.available, 375);
}

static void test_pending_order_points(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14, expire_days: 365}\n"
		     "rules:\n"
		     "  - {id: base-earn, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	const ly_posting_t *p = &out.postings[0];
	assert_int_equal(p->delta_available, 0);
	assert_int_equal(p->delta_pending, 1250);
	assert_int_equal(p->available_at_us, EVENT_TIME_US + 14 * DAY_US);
	assert_time(p->available_at_us, "2026-12-06T10:00:00Z");
	assert_int_equal(p->expires_at_us, p->available_at_us + 365 * DAY_US);
	assert_time(p->expires_at_us, "2027-12-06T10:00:00Z");
	assert_int_equal(p->available_after, 0);
	assert_int_equal(p->pending_after, 1250);
	assert_int_equal(cs.available, 0);
	assert_int_equal(cs.pending, 1250);
	assert_int_equal(cs.changed, 1);
}

static void test_pending_false(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14, expire_days: 365}\n"
		     "rules:\n"
		     "  - {id: first-order, on: order.paid, earn: {points: 500, pending: false}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	const ly_posting_t *p = &out.postings[0];
	assert_int_equal(p->delta_available, 500);
	assert_int_equal(p->delta_pending, 0);
	assert_int_equal(p->available_at_us, EVENT_TIME_US);
	/* expiry counts from when the points became available */
	assert_time(p->expires_at_us, "2027-11-22T10:00:00Z");
	assert_int_equal(p->available_after, 500);
	assert_int_equal(p->pending_after, 0);
	assert_int_equal(cs.available, 500);
	assert_int_equal(cs.pending, 0);
}

static void test_pending_true_elsewhere(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 3}\n"
		     "rules:\n"
		     "  - {id: photo, on: review.submitted, earn: {points: 50, pending: true}}\n"
		     "  - {id: plain, on: review.submitted, earn: {points: 7}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = review_submitted();

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 2);
	assert_int_equal(out.postings[0].delta_pending, 50);
	assert_int_equal(out.postings[0].delta_available, 0);
	assert_time(out.postings[0].available_at_us, "2026-11-25T10:00:00Z");
	assert_int_equal(out.postings[0].expires_at_us, 0);
	/* only order.paid waits by default */
	assert_int_equal(out.postings[1].delta_available, 7);
	assert_int_equal(out.postings[1].delta_pending, 0);
	assert_int_equal(out.postings[1].available_at_us, EVENT_TIME_US);
	assert_int_equal(cs.available, 7);
	assert_int_equal(cs.pending, 50);
}

static void test_pending_days_zero(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 0, expire_days: 30}\n"
		     "rules:\n"
		     "  - {id: base-earn, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_available, 1250);
	assert_int_equal(out.postings[0].delta_pending, 0);
	assert_int_equal(out.postings[0].available_at_us, EVENT_TIME_US);
	assert_time(out.postings[0].expires_at_us, "2026-12-22T10:00:00Z");
	assert_int_equal(cs.available, 1250);
	assert_int_equal(cs.pending, 0);
}

static void test_rules_in_file_order(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14}\n"
		     "rules:\n"
		     "  - {id: base-earn, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n"
		     "  - {id: review, on: review.submitted, earn: {points: 50}}\n"
		     "  - {id: bonus, on: order.paid, earn: {points: 200, pending: false}}\n"
		     "  - {id: double, on: order.paid, earn: {per: 100, points: 2, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(10000);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 3);
	assert_string_equal(out.postings[0].rule_id, "base-earn");
	assert_int_equal(out.postings[0].delta_pending, 100);
	assert_int_equal(out.postings[0].available_after, 0);
	assert_int_equal(out.postings[0].pending_after, 100);

	assert_string_equal(out.postings[1].rule_id, "bonus");
	assert_int_equal(out.postings[1].delta_available, 200);
	assert_string_equal(out.postings[1].reason, "200");
	assert_int_equal(out.postings[1].available_after, 200);
	assert_int_equal(out.postings[1].pending_after, 100);

	assert_string_equal(out.postings[2].rule_id, "double");
	assert_int_equal(out.postings[2].delta_pending, 200);
	assert_string_equal(out.postings[2].reason, "floor(10000/100)*2");
	assert_int_equal(out.postings[2].available_after, 200);
	assert_int_equal(out.postings[2].pending_after, 300);

	assert_int_equal(cs.available, 200);
	assert_int_equal(cs.pending, 300);
}

static void test_no_matching_rule(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: review, on: review.submitted, earn: {points: 500}}\n"
		     "  - {id: survey, on: survey.completed, earn: {points: 20}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 10, .pending = 20};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 10);
	assert_int_equal(cs.pending, 20);
	assert_int_equal(cs.changed, 0);
}

static void test_below_one_unit(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: base-earn, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 10};

	ly_event_t ev = order_paid(99);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 10);
	assert_int_equal(cs.changed, 0);

	/* the boundary: exactly one unit earns */
	ev = order_paid(100);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_available, 1);
	assert_string_equal(out.postings[0].reason, "floor(100/100)*1");
	assert_int_equal(cs.available, 11);
	assert_int_equal(cs.changed, 1);
}

static void test_earn_overflow(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: small, on: order.paid, earn: {points: 5}}\n"
		     "  - {id: huge, on: order.paid, earn: {per: 1, points: 1000000000, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 10, .pending = 20};
	ly_event_t ev = order_paid(INT64_C(9007199254740991));
	ly_effects_t out;
	char err[256] = "";

	int rc = ly_engine_apply(&out, f->program, &f->shared, &cs, &ev, f->arena, err,
				 sizeof(err));

	assert_int_equal(rc, LY_EINVAL);
	assert_string_equal(err,
			    "rule \"huge\": floor(9007199254740991/1)*1000000000 overflows");
	/* the first rule's 5 points must not have leaked into the state */
	assert_int_equal(cs.available, 10);
	assert_int_equal(cs.pending, 20);
	assert_int_equal(cs.changed, 0);
}

static void test_balance_overflow(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: review, on: review.submitted, earn: {points: 500}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1",
				  .available = INT64_MAX - 499,
				  .pending = 20};
	ly_event_t ev = review_submitted();
	ly_effects_t out;
	char err[256] = "";

	int rc = ly_engine_apply(&out, f->program, &f->shared, &cs, &ev, f->arena, err,
				 sizeof(err));

	assert_int_equal(rc, LY_EINVAL);
	assert_string_equal(err, "rule \"review\": balance or date arithmetic overflows");
	assert_int_equal(cs.available, INT64_MAX - 499);
	assert_int_equal(cs.pending, 20);
	assert_int_equal(cs.changed, 0);

	/* one point less fits exactly */
	cs.available = INT64_MAX - 500;
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(cs.available, INT64_MAX);
}

static void test_existing_balances(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14}\n"
		     "rules:\n"
		     "  - {id: base-earn, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n"
		     "  - {id: bonus, on: order.paid, earn: {points: 5, pending: false}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 10, .pending = 20};
	ly_event_t ev = order_paid(125099);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	assert_int_equal(out.postings_len, 2);
	assert_int_equal(out.postings[0].delta_pending, 1250);
	assert_int_equal(out.postings[0].available_after, 10);
	assert_int_equal(out.postings[0].pending_after, 1270);
	assert_int_equal(out.postings[1].delta_available, 5);
	assert_int_equal(out.postings[1].available_after, 15);
	assert_int_equal(out.postings[1].pending_after, 1270);
	assert_int_equal(cs.available, 15);
	assert_int_equal(cs.pending, 1270);
	assert_int_equal(cs.changed, 1);
}

/* ---- if, active, stop, of expressions, customer.* ---- */

/* Two outdoor lines (2 x 1250.00 and 1 x 3000.00) and a kitchen line. */
static const ly_order_item_t outdoor_items[] = {
	{"tent-2p", "outdoor", 2, 125000},
	{"pan-28", "kitchen", 1, 99900},
	{"stove", "outdoor", 1, 300000},
};
static const ly_order_item_t kitchen_items[] = {
	{"pan-28", "kitchen", 3, 99900},
};
static const char *const coupons[] = {"WELCOME", "SUMMER10"};

static ly_event_t survey_completed(int64_t nps)
{
	ly_event_t ev = {
		.id = "evt-3",
		.source = "shop",
		.type = LY_EV_SURVEY_COMPLETED,
		.time_us = EVENT_TIME_US,
		.customer_id = "c-1",
	};
	ev.u.survey.survey_id = "s-1";
	ev.u.survey.nps = nps;
	ev.u.survey.csat = -1;
	return ev;
}

/* Runs the engine and expects LY_EINVAL with exactly want. */
static void apply_fails(fixture_t *f, ly_customer_state_t *cs,
			const ly_event_t *ev, const char *want)
{
	ly_effects_t out;
	char err[256] = "";
	int rc = ly_engine_apply(&out, f->program, &f->shared, cs, ev, f->arena, err,
				 sizeof(err));
	assert_int_equal(rc, LY_EINVAL);
	assert_string_equal(err, want);
}

static void test_if(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: big, on: order.paid, if: order.total >= 100000, earn: {points: 50}}\n"
		     "  - {id: evt, on: order.paid, if: 'event.id == \"evt-1\" and event.type == \"order.paid\" and event.source == \"shop\"', earn: {points: 7}}\n"
		     "  - {id: coupon, on: order.paid, if: 'any(order.coupon_codes, item == \"SUMMER10\")', earn: {points: 3}}\n"
		     "  - {id: detractor, on: survey.completed, if: survey.nps <= 6, earn: {points: 20}}\n"
		     "  - {id: no-nps, on: survey.completed, if: not (survey.nps <= 6), earn: {points: 1}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};

	/* true */
	ly_event_t ev = order_paid(100000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "big");
	assert_int_equal(out.postings[0].delta_available, 50);
	assert_string_equal(out.postings[0].reason, "50");
	assert_string_equal(out.postings[1].rule_id, "evt");
	assert_int_equal(out.postings[1].delta_available, 7);
	assert_int_equal(out.postings[1].available_after, 57);
	assert_int_equal(cs.available, 57);

	/* false: one minor unit below; another id; a coupon list */
	ev = order_paid(99999);
	ev.id = "evt-9";
	ev.u.order_paid.coupon_codes = coupons;
	ev.u.order_paid.coupon_codes_len = 2;
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "coupon");
	assert_int_equal(out.postings[0].delta_available, 3);
	assert_int_equal(cs.available, 60);
	ev.u.order_paid.coupon_codes_len = 1; /* only WELCOME */
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 60);

	/* absent: a survey without an NPS score is no detractor */
	cs = (ly_customer_state_t){.customer_id = "c-1"};
	ev = survey_completed(-1);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "no-nps");
	assert_int_equal(cs.available, 1);
	ev = survey_completed(6);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "detractor");
	assert_int_equal(out.postings[0].delta_available, 20);
	assert_int_equal(cs.available, 21);
	ev = survey_completed(7);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "no-nps");
	assert_int_equal(cs.available, 22);
}

/* The data of every input type reaches expressions. */
static void test_if_fields_of_each_type(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: p, on: customer.updated, if: 'profile.consent_sms and profile.birth_date < 2000-01-01 and profile.locale == \"tr\"', earn: {points: 1}}\n"
		     "  - {id: p-absent, on: customer.updated, if: profile.referred_by == \"c-9\" or profile.first_name == \"\", earn: {points: 2}}\n"
		     "  - {id: r, on: order.refunded, if: order.amount < 500 and order.order_id == \"o-1\", earn: {points: 4}}\n"
		     "  - {id: rv, on: review.submitted, if: review.rating == 5 and review.verified_purchase and not review.has_photo and review.text_length == 0 and review.product_id == \"p-1\", earn: {points: 8}}\n"
		     "  - {id: s, on: social.interaction, if: social.platform == \"x\" and social.action == \"share\" and social.url == \"\", earn: {points: 16}}\n"
		     "  - {id: s-url, on: social.interaction, if: not (social.url == \"\"), earn: {points: 32}}\n"
		     "  - {id: rd, on: points.redeem, if: redeem.reward == \"tl50\", earn: {points: 64}}\n"
		     "  - {id: ad, on: points.adjust, if: adjust.points < 0 and adjust.reason == \"fix\", earn: {points: 128}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = {.id = "e", .source = "shop", .time_us = EVENT_TIME_US,
			 .customer_id = "c-1"};

	ev.type = LY_EV_CUSTOMER_UPDATED;
	ev.u.customer = (ly_customer_data_t){.locale = "tr",
					     .birth_date = "1999-12-31",
					     .consent_email = LY_UNSET,
					     .consent_sms = LY_TRUE};
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1); /* p-absent: all absent */
	assert_string_equal(out.postings[0].rule_id, "p");
	ev.u.customer.birth_date = "2000-01-01";
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);

	ev.type = LY_EV_ORDER_PAID; /* no rule on it; the refunds need it */
	ev.u.order_paid = (ly_order_paid_t){.order_id = "o-1", .total = 1000,
					     .currency = "TRY"};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	ev.type = LY_EV_ORDER_REFUNDED;
	ev.u.refund = (ly_order_refund_t){.order_id = "o-1", .has_amount = 1,
					  .amount = 499};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "r");
	ev.u.refund.has_amount = 0; /* absent: the whole rest */
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);

	ev = review_submitted();
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "rv");

	ev.type = LY_EV_SOCIAL_INTERACTION;
	ev.u.social = (ly_social_t){"i-1", "x", "share", NULL};
	out = apply_ok(f, &cs, &ev);
	/* absent url: the comparison is false, so `not` of it is true */
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "s-url");
	ev.u.social.url = "https://x.com/p/1";
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "s-url");
	ev.u.social.url = "";
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "s");

	ev.type = LY_EV_POINTS_REDEEM;
	ev.u.redeem = (ly_redeem_t){"req-1", "tl50"};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "rd");

	ev.type = LY_EV_POINTS_ADJUST;
	ev.u.adjust = (ly_adjust_t){"req-2", -5, "fix"};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2); /* the rule, then the adjustment */
	assert_string_equal(out.postings[0].rule_id, "ad");
	assert_null(out.postings[1].rule_id);
	assert_int_equal(out.postings[1].delta_available, -5);

	assert_int_equal(cs.available, 1 + 4 + 8 + 32 + 32 + 16 + 64 + 128 - 5);
}

/* SPEC section 5's summer-outdoor rule, without its budget. */
static void test_of_expression(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - id: summer-outdoor\n"
		     "    on: order.paid\n"
		     "    if: any(order.items, item.category == \"outdoor\")\n"
		     "    earn: {per: 100, points: 2, of: 'sum(order.items, item.category == \"outdoor\", item.unit_price * item.quantity)'}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 5};
	ly_event_t ev = order_paid(649900);
	ev.u.order_paid.items = outdoor_items;
	ev.u.order_paid.items_len = LY_ARRAY_LEN(outdoor_items);

	ly_effects_t out = apply_ok(f, &cs, &ev);

	/* 2 x 125000 + 1 x 300000 = 550000; the pan does not count */
	assert_int_equal(out.postings_len, 1);
	const ly_posting_t *p = &out.postings[0];
	assert_string_equal(p->rule_id, "summer-outdoor");
	assert_int_equal(p->delta_available, 11000);
	assert_int_equal(p->delta_pending, 0);
	assert_string_equal(p->reason, "floor(550000/100)*2");
	assert_int_equal(p->available_at_us, EVENT_TIME_US);
	assert_int_equal(p->available_after, 11005);
	assert_int_equal(cs.available, 11005);

	/* no outdoor line: `if` is false */
	ev.u.order_paid.items = kitchen_items;
	ev.u.order_paid.items_len = LY_ARRAY_LEN(kitchen_items);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	/* no items at all */
	ev.u.order_paid.items_len = 0;
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 11005);
}

static void test_of_absent_and_negative(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: nps, on: survey.completed, earn: {per: 1, points: 10, of: survey.nps}}\n"
		     "  - {id: over, on: order.paid, earn: {per: 100, points: 1, of: order.total - 100000}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 3};

	ly_event_t ev = survey_completed(-1); /* no score: no posting */
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.changed, 0);
	ev = survey_completed(0); /* 0 points: no posting either */
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	ev = survey_completed(7);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_available, 70);
	assert_string_equal(out.postings[0].reason, "floor(7/1)*10");

	/* negative: no negative earning */
	ev = order_paid(50000);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 73);
	ev = order_paid(100099);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	ev = order_paid(100100);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].reason, "floor(100/100)*1");
	assert_int_equal(cs.available, 74);
}

static void test_active_edges(void **state)
{
	fixture_t *f = *state;
	load(f, "version: 1\nprogram: {name: shop, timezone: Europe/Istanbul}\n"
		"rules:\n"
		"  - {id: summer, on: review.submitted, active: {from: 2026-06-01, until: 2026-09-01}, earn: {points: 1}}\n"
		"  - {id: from-only, on: review.submitted, active: {from: 2026-06-01}, earn: {points: 10}}\n"
		"  - {id: until-only, on: review.submitted, active: {until: 2026-09-01}, earn: {points: 100}}\n");
	/* Istanbul is UTC+3 all year: local midnight is 21:00Z the day before */
	static const struct {
		const char *utc;
		int64_t points;
	} cases[] = {
		{"2026-05-31T20:59:59Z", 100},
		{"2026-05-31T21:00:00Z", 111},
		{"2026-07-15T12:00:00Z", 111},
		{"2026-08-31T20:59:59.999999Z", 111},
		{"2026-08-31T21:00:00Z", 10},
		{"2027-01-01T00:00:00Z", 10},
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(cases); i++) {
		ly_customer_state_t cs = {.customer_id = "c-1"};
		ly_event_t ev = review_submitted();
		assert_int_equal(ly_time_parse_rfc3339(cases[i].utc, &ev.time_us), 0);
		ly_effects_t out = apply_ok(f, &cs, &ev);
		if (cs.available != cases[i].points)
			print_error("at %s\n", cases[i].utc);
		assert_int_equal(cs.available, cases[i].points);
		for (size_t k = 0; k < out.postings_len; k++)
			assert_int_equal(out.postings[k].available_at_us, ev.time_us);
	}
}

static void test_stop(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: a, on: order.paid, earn: {points: 1}}\n"
		     "  - {id: b, on: order.paid, if: order.total >= 1000, stop: true, earn: {per: 1000, points: 10, of: order.total}}\n"
		     "  - {id: c, on: order.paid, earn: {points: 100}}\n"
		     "  - {id: d, on: review.submitted, earn: {points: 1000}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};

	/* b fires: a before it stays, c after it is skipped */
	ly_event_t ev = order_paid(2500);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "a");
	assert_string_equal(out.postings[1].rule_id, "b");
	assert_string_equal(out.postings[1].reason, "floor(2500/1000)*10");
	assert_int_equal(cs.available, 21);

	/* b's `if` is false: b does not fire, c runs */
	ev = order_paid(999);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "a");
	assert_string_equal(out.postings[1].rule_id, "c");
	assert_int_equal(cs.available, 122);

	/* stop is per event: the next event runs every rule again */
	ev = review_submitted();
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_string_equal(out.postings[0].rule_id, "d");
	assert_int_equal(cs.available, 1122);

	/* a rule fires when its active window and `if` hold, even when it
	 * earns nothing this time; then it still stops the rest */
	load(f, HEAD "rules:\n"
		     "  - {id: b, on: order.paid, stop: true, earn: {per: 1000, points: 10, of: order.total}}\n"
		     "  - {id: c, on: order.paid, earn: {points: 100}}\n");
	cs = (ly_customer_state_t){.customer_id = "c-1"};
	ev = order_paid(999);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 0);
	assert_int_equal(cs.changed, 0);
}

static void test_customer_balances_before_event(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14}\n"
		     "rules:\n"
		     "  - {id: base, on: order.paid, earn: {points: 100, pending: false}}\n"
		     "  - {id: loyal, on: order.paid, if: customer.points_available >= 100, earn: {points: 5, pending: false}}\n"
		     "  - {id: waiting, on: order.paid, if: customer.points_pending == 40, earn: {points: 1}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 0,
				  .pending = 40};

	/* base credits 100 first, but loyal sees the balance before the event */
	ly_event_t ev = order_paid(1000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "base");
	assert_string_equal(out.postings[1].rule_id, "waiting");
	assert_int_equal(out.postings[1].delta_pending, 1);
	assert_int_equal(cs.available, 100);
	assert_int_equal(cs.pending, 41);

	/* next event: 100 available before it, 41 pending */
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "base");
	assert_string_equal(out.postings[1].rule_id, "loyal");
	assert_int_equal(out.postings[1].available_after, 205);
	assert_int_equal(cs.available, 205);
	assert_int_equal(cs.pending, 41);
}

static void test_evaluation_error(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: first, on: order.paid, earn: {points: 5}}\n"
		     "  - {id: ratio, on: order.paid, if: 100 / (order.total - 500) > 0, earn: {points: 1}}\n"
		     "  - id: big\n"
		     "    on: review.submitted\n"
		     "    earn: {per: 1, points: 1, of: review.rating * 9223372036854775807}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 10, .pending = 20};

	ly_event_t ev = order_paid(500);
	apply_fails(f, &cs, &ev, "rule \"ratio\": prog.yaml:5:41: division by zero");
	/* the first rule's 5 points did not leak into the state */
	assert_int_equal(cs.available, 10);
	assert_int_equal(cs.pending, 20);
	assert_int_equal(cs.changed, 0);

	ev = review_submitted(); /* rating 5 */
	apply_fails(f, &cs, &ev,
		    "rule \"big\": prog.yaml:8:49: integer overflow in \"*\"");
	assert_int_equal(cs.available, 10);
	assert_int_equal(cs.changed, 0);

	/* the same program on good input */
	ev = order_paid(600);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_int_equal(cs.available, 16);
}

static void test_expr_reads_field(void **state)
{
	(void)state;
	static const struct {
		const char *src;
		int id;
		int reads;
	} cases[] = {
		{"sum(order.items, item.category == \"x\", item.unit_price)", LY_FIELD_ORDER_ITEMS, 1},
		{"sum(order.items, item.category == \"x\", item.unit_price)", LY_FIELD_ITEM_CATEGORY, 1},
		{"sum(order.items, item.category == \"x\", item.unit_price)", LY_FIELD_ITEM_UNIT_PRICE, 1},
		{"sum(order.items, item.category == \"x\", item.unit_price)", LY_FIELD_ITEM_QUANTITY, 0},
		{"sum(order.items, item.category == \"x\", item.unit_price)", LY_FIELD_ORDER_TOTAL, 0},
		{"count(order.coupon_codes, true)", LY_FIELD_ORDER_COUPON_CODES, 1},
		/* read even where short-circuiting would skip it */
		{"false and customer.order_count == 0", LY_FIELD_CUSTOMER_ORDER_COUNT, 1},
		{"order.total + customer.clv", LY_FIELD_CUSTOMER_CLV, 1},
		{"order.total + customer.clv", LY_FIELD_CUSTOMER_TIER, 0},
		{"42", LY_FIELD_ORDER_TOTAL, 0},
	};
	const ly_expr_schema_t *schema = ly_program_schema(LY_EV_ORDER_PAID,
							   LY_TRIGGER_NONE);
	for (size_t i = 0; i < LY_ARRAY_LEN(cases); i++) {
		ly_expr_t *e = NULL;
		char err[256] = "";
		int rc = ly_expr_compile(&e, cases[i].src, strlen(cases[i].src),
					 schema, LY_TYPE_ANY, "t", 1, 1, err,
					 sizeof(err));
		if (rc)
			print_error("%s: %s\n", cases[i].src, err);
		assert_int_equal(rc, 0);
		if (ly_expr_reads_field(e, cases[i].id) != cases[i].reads)
			print_error("%s: field %d\n", cases[i].src, cases[i].id);
		assert_int_equal(ly_expr_reads_field(e, cases[i].id), cases[i].reads);
		ly_expr_destroy(e);
	}
}

/* Replaying the same events on fresh states gives the same postings, byte
 * for byte: the worker, replay and backtest rely on it. */
static void run_sequence(fixture_t *f, ly_arena_t *arena, char *log,
			 size_t log_size)
{
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t evs[6];
	evs[0] = order_paid(649900);
	evs[0].u.order_paid.items = outdoor_items;
	evs[0].u.order_paid.items_len = LY_ARRAY_LEN(outdoor_items);
	evs[1] = review_submitted();
	evs[2] = survey_completed(3);
	evs[3] = order_paid(12345);
	evs[4] = survey_completed(-1);
	evs[5] = evs[0];
	evs[5].u.order_paid.order_id = "o-again";
	evs[5].time_us = EVENT_TIME_US - 200 * DAY_US; /* before summer */
	size_t used = 0;
	log[0] = '\0';
	for (size_t i = 0; i < LY_ARRAY_LEN(evs); i++) {
		ly_effects_t out;
		char err[256] = "";
		assert_int_equal(ly_engine_apply(&out, f->program, &f->shared, &cs, &evs[i],
						 arena, err, sizeof(err)),
				 0);
		for (size_t k = 0; k < out.postings_len; k++) {
			const ly_posting_t *p = &out.postings[k];
			int n = snprintf(log + used, log_size - used,
					 "%zu %s %lld %lld %lld %lld %s %lld %lld\n", i,
					 p->rule_id, (long long)p->delta_available,
					 (long long)p->delta_pending,
					 (long long)p->available_at_us,
					 (long long)p->expires_at_us, p->reason,
					 (long long)p->available_after,
					 (long long)p->pending_after);
			assert_true(n > 0 && (size_t)n < log_size - used);
			used += (size_t)n;
		}
	}
}

static void test_determinism(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14, expire_days: 365}\n"
		     "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n"
		     "  - id: summer-outdoor\n"
		     "    on: order.paid\n"
		     "    active: {from: 2026-06-01, until: 2026-12-01}\n"
		     "    if: any(order.items, item.category == \"outdoor\")\n"
		     "    stop: true\n"
		     "    earn: {per: 100, points: 2, of: 'sum(order.items, item.category == \"outdoor\", item.unit_price * item.quantity)'}\n"
		     "  - {id: plain, on: order.paid, earn: {points: 9}}\n"
		     "  - {id: review, on: review.submitted, if: customer.points_pending > 0, earn: {points: 50}}\n"
		     "  - {id: sorry, on: survey.completed, if: survey.nps <= 6, earn: {points: 25}}\n");
	static char a[4096], b[4096];
	ly_arena_t *other = ly_arena_new(64); /* another arena, other layout */
	assert_non_null(other);
	run_sequence(f, f->arena, a, sizeof(a));
	run_sequence(f, other, b, sizeof(b));
	ly_arena_destroy(other);
	assert_string_equal(a, b);
	/* and it is the expected sequence */
	assert_string_equal(a,
		"0 base 0 6499 1796551200000000 1828087200000000 floor(649900/100)*1 0 6499\n"
		"0 summer-outdoor 0 11000 1796551200000000 1828087200000000 floor(550000/100)*2 0 17499\n"
		"1 review 50 0 1795341600000000 1826877600000000 50 50 17499\n"
		"2 sorry 25 0 1795341600000000 1826877600000000 25 75 17499\n"
		"3 base 0 123 1796551200000000 1828087200000000 floor(12345/100)*1 75 17622\n"
		"3 plain 0 9 1796551200000000 1828087200000000 9 75 17631\n"
		"5 base 0 6499 1779271200000000 1810807200000000 floor(649900/100)*1 75 24130\n"
		"5 plain 0 9 1779271200000000 1810807200000000 9 75 24139\n");
}

/* Codes: the values were computed by an independent HMAC-SHA256 in Python
 * (hmac.new(secret, source\0id\0rule\0 + be32(n) + be32(block))). */
static void test_codes(void **state)
{
	(void)state;
	static const char secret[] = "shop-secret";
	char a[LY_CODE_LENGTH + 1], b[LY_CODE_LENGTH + 1];
	ly_engine_code(a, secret, strlen(secret), "urn:shop", "evt-1", "big-basket-gift", 0);
	assert_string_equal(a, "6GDG9JAMHXS5");
	ly_engine_code(b, secret, strlen(secret), "urn:shop", "evt-1", "big-basket-gift", 1);
	assert_string_equal(b, "5SND68NT38VK");
	/* A replay gives the same code; any other input another one. */
	ly_engine_code(b, secret, strlen(secret), "urn:shop", "evt-1", "big-basket-gift", 0);
	assert_string_equal(a, b);
	ly_engine_code(b, "other", 5, "urn:shop", "evt-1", "big-basket-gift", 0);
	assert_string_not_equal(a, b);
	ly_engine_code(b, secret, strlen(secret), "urn:shop", "evt-2", "big-basket-gift", 0);
	assert_string_not_equal(a, b);
	ly_engine_code(b, secret, strlen(secret), "urn:shop", "evt-1", "winback", 0);
	assert_string_not_equal(a, b);
	/* Only the unambiguous alphabet, always 12 characters. */
	for (int i = 0; i < 2000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "evt-%d", i);
		ly_engine_code(a, secret, strlen(secret), "urn:shop", id, "r", 0);
		assert_int_equal(strlen(a), LY_CODE_LENGTH);
		assert_int_equal(strspn(a, LY_CODE_ALPHABET), LY_CODE_LENGTH);
	}
}

/* ---- explain ---- */

/* Runs ly_engine_explain, expects success and one trace per rule. */
static ly_rule_trace_t *explain_ok(fixture_t *f, ly_customer_state_t *cs,
				   const ly_event_t *ev, ly_effects_t *out)
{
	ly_rule_trace_t *traces = NULL;
	size_t traces_len = 99;
	char err[256] = "";
	int rc = ly_engine_explain(&traces, &traces_len, out, f->program, &f->shared, cs, ev,
				   f->arena, err, sizeof(err));
	if (rc != 0)
		print_error("engine failed: %s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(traces_len, f->program->rules_len);
	for (size_t i = 0; i < traces_len; i++)
		assert_ptr_equal(traces[i].rule, &f->program->rules[i]);
	return traces;
}

static void test_explain_skipped(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: photo, on: review.submitted, earn: {points: 80}}\n"
		     "  - {id: like, on: social.interaction, earn: {points: 10}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(1000);
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	assert_int_equal(t[0].outcome, LY_RULE_SKIPPED);
	assert_string_equal(t[0].why, "skipped: on review.submitted");
	assert_int_equal(t[0].points, 0);
	assert_null(t[0].reason);
	assert_int_equal(t[1].outcome, LY_RULE_SKIPPED);
	assert_string_equal(t[1].why, "skipped: on social.interaction");
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.changed, 0);
}

static void test_explain_not_active(void **state)
{
	fixture_t *f = *state;
	load(f, "version: 1\nprogram: {name: shop, timezone: Europe/Istanbul}\n"
		"rules:\n"
		"  - {id: summer, on: review.submitted, active: {from: 2026-06-01, until: 2026-09-01}, earn: {points: 1}}\n"
		"  - {id: from-only, on: review.submitted, active: {from: 2026-12-01}, earn: {points: 10}}\n"
		"  - {id: until-only, on: review.submitted, active: {until: 2026-11-01}, earn: {points: 100}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = review_submitted();
	assert_int_equal(ly_time_parse_rfc3339("2026-11-01T20:59:00Z", &ev.time_us), 0);
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	/* event time in program time, with its offset, against the window */
	assert_int_equal(t[0].outcome, LY_RULE_NOT_ACTIVE);
	assert_string_equal(t[0].why, "not active: 2026-11-01T23:59:00+03:00 is outside "
				      "[2026-06-01, 2026-09-01) Europe/Istanbul");
	assert_string_equal(t[1].why, "not active: 2026-11-01T23:59:00+03:00 is outside "
				      "[2026-12-01, ...) Europe/Istanbul");
	assert_string_equal(t[2].why, "not active: 2026-11-01T23:59:00+03:00 is outside "
				      "[..., 2026-11-01) Europe/Istanbul");
	assert_int_equal(out.postings_len, 0);
}

static void test_explain_if_false(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: photo, on: review.submitted, if: review.verified_purchase and review.has_photo, earn: {points: 80}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = review_submitted(); /* verified, no photo */
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	assert_int_equal(t[0].outcome, LY_RULE_IF_FALSE);
	assert_string_equal(t[0].why, "if false: review.verified_purchase and "
				      "review.has_photo: true and false -> false");
	assert_int_equal(t[0].points, 0);
	assert_null(t[0].reason);
	assert_int_equal(out.postings_len, 0);
}

static void test_explain_stopped(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: photo, on: review.submitted, stop: true, earn: {points: 80}}\n"
		     "  - {id: review, on: review.submitted, earn: {points: 50}}\n"
		     "  - {id: order, on: order.paid, earn: {points: 1}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = review_submitted();
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	assert_int_equal(t[0].outcome, LY_RULE_FIRED);
	assert_string_equal(t[0].why, "fired: +80 available: 80");
	assert_int_equal(t[1].outcome, LY_RULE_STOPPED);
	assert_string_equal(t[1].why, "stopped by rule \"photo\"");
	/* a rule on another type is skipped for that, stop or no stop */
	assert_int_equal(t[2].outcome, LY_RULE_SKIPPED);
	assert_string_equal(t[2].why, "skipped: on order.paid");
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(cs.available, 80);
}

static void test_explain_fired_pending(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14}\n"
		     "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(125099);
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	/* 2026-11-22T10:00:00Z + 14 days */
	assert_int_equal(t[0].outcome, LY_RULE_FIRED);
	assert_string_equal(t[0].why, "fired: +1250 pending until "
				      "2026-12-06T10:00:00Z: floor(125099/100)*1");
	assert_int_equal(t[0].points, 1250);
	assert_string_equal(t[0].reason, "floor(125099/100)*1");
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_pending, 1250);
	assert_int_equal(cs.pending, 1250);
}

static void test_explain_fired_available(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14}\n"
		     "rules:\n"
		     "  - {id: bonus, on: order.paid, earn: {points: 25, pending: false}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .available = 5};
	ly_event_t ev = order_paid(1000);
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	assert_int_equal(t[0].outcome, LY_RULE_FIRED);
	assert_string_equal(t[0].why, "fired: +25 available: 25");
	assert_int_equal(t[0].points, 25);
	assert_string_equal(t[0].reason, "25");
	assert_int_equal(cs.available, 30);
}

static void test_explain_fired_zero(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n"
		     "  - {id: over, on: order.paid, earn: {per: 1, points: 1, of: order.total - 1000}}\n"
		     "  - {id: nps, on: survey.completed, earn: {per: 1, points: 10, of: survey.nps}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(99);
	ly_effects_t out;

	ly_rule_trace_t *t = explain_ok(f, &cs, &ev, &out);

	assert_int_equal(t[0].outcome, LY_RULE_FIRED);
	assert_string_equal(t[0].why, "fired: 0 points (floor(99/100)*1)");
	assert_int_equal(t[0].points, 0);
	assert_int_equal(t[1].outcome, LY_RULE_FIRED);
	assert_string_equal(t[1].why, "fired: 0 points (-901 is negative)");
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.changed, 0);

	ly_event_t survey = {
		.id = "evt-3",
		.source = "shop",
		.type = LY_EV_SURVEY_COMPLETED,
		.time_us = EVENT_TIME_US,
		.customer_id = "c-1",
	};
	survey.u.survey.survey_id = "s-1";
	survey.u.survey.nps = -1; /* absent */
	survey.u.survey.csat = -1;
	t = explain_ok(f, &cs, &survey, &out);
	assert_string_equal(t[2].why, "fired: 0 points (survey.nps is absent)");
	assert_int_equal(out.postings_len, 0);
}

/* Compares two runs' effects field by field. */
static void assert_same_effects(const ly_effects_t *a, const ly_effects_t *b)
{
	assert_int_equal(a->postings_len, b->postings_len);
	for (size_t i = 0; i < a->postings_len; i++) {
		const ly_posting_t *x = &a->postings[i], *y = &b->postings[i];
		assert_string_equal(x->rule_id, y->rule_id);
		assert_int_equal(x->delta_available, y->delta_available);
		assert_int_equal(x->delta_pending, y->delta_pending);
		assert_int_equal(x->available_at_us, y->available_at_us);
		assert_int_equal(x->expires_at_us, y->expires_at_us);
		assert_string_equal(x->reason, y->reason);
		assert_int_equal(x->available_after, y->available_after);
		assert_int_equal(x->pending_after, y->pending_after);
	}
}

/* apply and explain are one evaluation: the same postings, the same state
 * and the same errors, event after event. */
static void test_explain_same_as_apply(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "points: {pending_days: 14, expire_days: 365}\n"
		     "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n"
		     "  - {id: bonus, on: order.paid, earn: {points: 25, pending: false}}\n"
		     "  - {id: big, on: order.paid, if: order.total >= 100000, stop: true, earn: {points: 100, pending: false}}\n"
		     "  - {id: rich, on: order.paid, if: customer.points_available >= 200, earn: {points: 7, pending: false}}\n"
		     "  - {id: ratio, on: order.paid, if: 100 / (order.total - 500) > 0, earn: {points: 1}}\n"
		     "  - {id: photo, on: review.submitted, if: review.has_photo, earn: {points: 80}}\n"
		     "  - {id: review, on: review.submitted, earn: {points: 50}}\n");
	ly_customer_state_t a = {.customer_id = "c-1"}, b = a;
	ly_event_t evs[] = {order_paid(125099), order_paid(99), review_submitted(),
			    order_paid(3000),   order_paid(500), order_paid(250000)};
	for (size_t i = 0; i < LY_ARRAY_LEN(evs); i++) {
		ly_effects_t x = {0}, y = {0};
		char err_a[256] = "", err_b[256] = "";
		ly_rule_trace_t *traces;
		size_t traces_len;
		int rc_a = ly_engine_apply(&x, f->program, &f->shared, &a, &evs[i], f->arena,
					   err_a, sizeof(err_a));
		int rc_b = ly_engine_explain(&traces, &traces_len, &y, f->program, &f->shared,
					     &b, &evs[i], f->arena, err_b,
					     sizeof(err_b));
		assert_int_equal(rc_a, rc_b);
		assert_string_equal(err_a, err_b);
		assert_same_effects(&x, &y);
		assert_int_equal(a.available, b.available);
		assert_int_equal(a.pending, b.pending);
		assert_int_equal(a.changed, b.changed);
		if (rc_a == 0)
			assert_int_equal(traces_len, f->program->rules_len);
	}
	/* order_paid(500) failed in "ratio": explained up to the rule before */
	assert_int_equal(a.available, 25 + 100 + 25 + 50 + 25 + 7 + 25 + 100);
	assert_int_equal(a.pending, 1250 + 30 + 2500);

	ly_event_t ev = order_paid(500);
	ly_rule_trace_t *traces;
	size_t traces_len;
	ly_effects_t y;
	char err[256] = "";
	assert_int_equal(ly_engine_explain(&traces, &traces_len, &y, f->program, &f->shared, &b,
					   &ev, f->arena, err, sizeof(err)),
			 LY_EINVAL);
	assert_string_equal(err, "rule \"ratio\": prog.yaml:9:41: division by zero");
	assert_int_equal(traces_len, 4);
	assert_string_equal(traces[3].why, "fired: +7 available: 7");
}

/* ---- limits, budgets, tiers, codes, offers, triggers, the profile ---- */

/* An instant from RFC 3339 text. */
static int64_t at(const char *rfc3339)
{
	int64_t us = 0;
	assert_int_equal(ly_time_parse_rfc3339(rfc3339, &us), 0);
	return us;
}

/* The count the state holds for rule index ri in period, or -1. */
static int64_t count_of(const ly_customer_state_t *cs, uint32_t ri,
			const char *period)
{
	for (size_t i = 0; i < cs->limits_len; i++)
		if (cs->limits[i].rule == ri && strcmp(cs->limits[i].period, period) == 0)
			return cs->limits[i].count;
	return -1;
}

/* Applies a review at time t and returns the points it earned. */
static int64_t review_at(fixture_t *f, ly_customer_state_t *cs, const char *t)
{
	ly_event_t ev = review_submitted();
	ev.time_us = at(t);
	ly_effects_t out = apply_ok(f, cs, &ev);
	int64_t points = 0;
	for (size_t i = 0; i < out.postings_len; i++)
		points += out.postings[i].delta_available;
	return points;
}

/* A day is an Istanbul day (UTC+3): 21:00 UTC is local midnight. */
static void test_limit_day(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: photo, on: review.submitted, earn: {points: 100}, limit: {count: 2, per: day}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};

	assert_int_equal(review_at(f, &cs, "2026-11-24T00:00:00+03:00"), 100);
	assert_int_equal(review_at(f, &cs, "2026-11-24T20:00:00+03:00"), 100);
	/* 23:59:59 local, 20:59:59 UTC: the same local day, used up */
	assert_int_equal(review_at(f, &cs, "2026-11-24T20:59:59Z"), 0);
	/* 00:00 local on the 25th, still the 24th in UTC: a new day */
	assert_int_equal(review_at(f, &cs, "2026-11-24T21:00:00Z"), 100);
	assert_int_equal(cs.available, 300);
	assert_int_equal(count_of(&cs, 0, "2026-11-24"), 2);
	assert_int_equal(count_of(&cs, 0, "2026-11-25"), 1);
	assert_int_equal(cs.limits_len, 2);
	assert_true(cs.limits[0].changed && cs.limits[1].changed);
}

/* One firing per period; the second event opens the next period at its
 * first instant, the third is in the same period as the second. */
static void limit_edges(fixture_t *f, const char *per, const char *a,
			const char *b, const char *c, const char *key_a,
			const char *key_b)
{
	char yaml[512];
	snprintf(yaml, sizeof(yaml), HEAD "rules:\n"
		 "  - {id: once, on: review.submitted, earn: {points: 10}, limit: {count: 1, per: %s}}\n",
		 per);
	load(f, yaml);
	ly_customer_state_t cs = {.customer_id = "c-1"};
	assert_int_equal(review_at(f, &cs, a), 10);
	assert_int_equal(review_at(f, &cs, b), strcmp(per, "ever") == 0 ? 0 : 10);
	assert_int_equal(review_at(f, &cs, c), 0);
	assert_int_equal(count_of(&cs, 0, key_a), 1);
	if (key_b)
		assert_int_equal(count_of(&cs, 0, key_b), 1);
}

static void test_limit_periods(void **state)
{
	fixture_t *f = *state;
	/* Sunday 29 November 23:59:59, Monday 30 November 00:00 (ISO week 49) */
	limit_edges(f, "week", "2026-11-29T23:59:59+03:00", "2026-11-30T00:00:00+03:00",
		    "2026-12-06T23:59:59+03:00", "2026-W48", "2026-W49");
	/* 30 November 23:59:59 local, 1 December 00:00 local (21:00 UTC on
	 * the 30th), the last second of December */
	limit_edges(f, "month", "2026-11-30T20:59:59Z", "2026-11-30T21:00:00Z",
		    "2026-12-31T20:59:59Z", "2026-11", "2026-12");
	limit_edges(f, "year", "2026-12-31T20:59:59Z", "2026-12-31T21:00:00Z",
		    "2027-12-31T20:59:59Z", "2026", "2027");
	limit_edges(f, "ever", "2020-01-01T00:00:00+03:00", "2030-01-01T00:00:00+03:00",
		    "2040-01-01T00:00:00+03:00", "ever", NULL);
}

/* Counts loaded from storage are the engine's starting point. */
static void test_limit_loaded(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: other, on: survey.completed, earn: {points: 1}, limit: {count: 5, per: day}}\n"
		     "  - {id: photo, on: review.submitted, earn: {points: 100}, limit: {count: 3, per: day}}\n");
	ly_limit_count_t stored[2] = {{.rule = 1, .period = "2026-11-24", .count = 3},
				      {.rule = 1, .period = "2026-11-23", .count = 1}};
	ly_customer_state_t cs = {.customer_id = "c-1", .limits = stored,
				  .limits_len = 2, .limits_cap = 2};
	assert_int_equal(review_at(f, &cs, "2026-11-24T10:00:00+03:00"), 0);
	assert_false(stored[0].changed);
	assert_int_equal(review_at(f, &cs, "2026-11-23T10:00:00+03:00"), 100);
	assert_int_equal(stored[1].count, 2);
	assert_true(stored[1].changed);

	ly_rule_trace_t *t;
	size_t n;
	ly_effects_t out;
	char err[256];
	ly_event_t ev = review_submitted();
	ev.time_us = at("2026-11-24T10:00:00+03:00");
	assert_int_equal(ly_engine_explain(&t, &n, &out, f->program, &f->shared, &cs,
					   &ev, f->arena, err, sizeof(err)), 0);
	assert_int_equal(t[1].outcome, LY_RULE_LIMITED);
	assert_string_equal(t[1].why,
			    "limit used up: 3 of 3 per day in 2026-11-24 Europe/Istanbul");
}

static void test_budget(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: campaign, on: order.paid, earn: {per: 100, points: 1, of: order.total, pending: false}, budget: {points: 1000}, limit: {count: 10, per: day}}\n"
		     "  - {id: after, on: order.paid, earn: {points: 1, pending: false}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	f->budget_spent[0] = 900;

	/* 900 + 100 = 1000: exactly the budget, fires */
	ly_event_t ev = order_paid(10000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 2);
	assert_int_equal(f->budget_spent[0], 1000);
	assert_true(f->budget_changed[0]);
	assert_int_equal(f->budget_spent[1], 0); /* no budget, not counted */

	/* one more point would cross it: skipped, not counted for the limit,
	 * and the rules after it still run */
	ev = order_paid(100);
	ev.id = "evt-b";
	ly_rule_trace_t *t;
	size_t n;
	char err[256];
	assert_int_equal(ly_engine_explain(&t, &n, &out, f->program, &f->shared, &cs,
					   &ev, f->arena, err, sizeof(err)), 0);
	assert_int_equal(t[0].outcome, LY_RULE_NO_BUDGET);
	assert_string_equal(t[0].why, "budget used up: +1 would make 1001 of 1000");
	assert_int_equal(t[1].outcome, LY_RULE_FIRED);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(f->budget_spent[0], 1000);
	assert_int_equal(count_of(&cs, 0, "2026-11-22"), 1);

	/* earning nothing uses nothing and still fires */
	ev = order_paid(99);
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(count_of(&cs, 0, "2026-11-22"), 2);
	assert_int_equal(cs.available, 100 + 1 + 1 + 1);
}

#define TIERS "tiers:\n  levels:\n" \
	"    - {name: bronze, min_spend: 0}\n" \
	"    - {name: silver, min_spend: 500000, earn_multiplier: 1.25}\n" \
	"    - {name: gold, min_spend: 2000000, earn_multiplier: 1.5, perks: [free_shipping]}\n"

static void test_tier_multiplier(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total, tier_multiplier: true, pending: false}}\n"
		     "  - {id: fixed, on: order.paid, earn: {points: 333, tier_multiplier: true, pending: false}}\n"
		     "  - {id: plain, on: order.paid, earn: {points: 333, pending: false}}\n");
	/* silver: 1250 * 1.25 = 1562.5, floored */
	ly_customer_state_t cs = {.customer_id = "c-1", .tier = 1};
	ly_event_t ev = order_paid(125099);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings_len, 3);
	assert_int_equal(out.postings[0].delta_available, 1562);
	assert_string_equal(out.postings[0].reason, "floor(125099/100)*1*1.25");
	assert_int_equal(out.postings[1].delta_available, 416); /* 416.25 */
	assert_string_equal(out.postings[1].reason, "333*1.25");
	assert_int_equal(out.postings[2].delta_available, 333);
	assert_string_equal(out.postings[2].reason, "333");

	/* gold: 333 * 1.5 = 499.5; bronze: times 1 */
	cs = (ly_customer_state_t){.customer_id = "c-1", .tier = 2};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings[1].delta_available, 499);
	assert_string_equal(out.postings[1].reason, "333*1.5");
	cs = (ly_customer_state_t){.customer_id = "c-1"};
	out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.postings[0].delta_available, 1250);
	assert_string_equal(out.postings[0].reason, "floor(125099/100)*1*1");
}

/* The window's orders may come summed: the sum counts with the orders
 * loaded one by one, for the instants it was made for; an event at
 * another instant is flagged for a whole load instead of miscounted. */
static void test_tier_window_summed(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total, tier_multiplier: true, pending: false}}\n"
		     "  - {id: seen, on: review.submitted, if: customer.window_spend == 2100000, earn: {points: 3}}\n");
	/* one order near the window's start, loaded whole: it leaves the
	 * window of a later instant */
	ly_order_t old = {.order_id = "o-old", .paid_at_us = EVENT_TIME_US - 365 * DAY_US + DAY_US,
			  .total = 300000, .refunded = 100000};
	ly_customer_state_t cs = {.customer_id = "c-1", .tier = 0,
				  .orders = &old, .orders_len = 1, .orders_cap = 1,
				  .window_base = 1700000,
				  .window_from_us = EVENT_TIME_US,
				  .window_to_us = EVENT_TIME_US + DAY_US};
	ly_event_t ev = order_paid(200000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	/* 1,700,000 summed + 200,000 net of o-old + 200,000 now */
	assert_int_equal(cs.window_spend, 2100000);
	assert_int_equal(cs.tier, 2);
	assert_false(cs.window_short);
	assert_int_equal(out.postings[0].delta_available, 2000);

	/* a day on, o-old has left the window: the sum and the new order */
	ly_event_t rv = review_submitted();
	rv.time_us = EVENT_TIME_US + DAY_US;
	out = apply_ok(f, &cs, &rv);
	assert_int_equal(cs.window_spend, 1900000);
	assert_int_equal(out.postings_len, 0);
	assert_false(cs.window_short);

	/* an instant the sum was not made for */
	rv.time_us = EVENT_TIME_US - 1;
	apply_ok(f, &cs, &rv);
	assert_true(cs.window_short);
}

/* An order lifts the tier its window spend reaches at once; the change is
 * a trigger whose rules see the new tier. */
static void test_tier_upgrade_trigger(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total, tier_multiplier: true, pending: false}}\n"
		     "  - {id: up, on: tier.changed, if: tier.to == \"gold\" and customer.tier == \"gold\", earn: {points: 500}}\n"
		     "  - {id: hello, on: customer.segment_changed, if: segment.from == \"new\" and customer.segment == \"active\", earn: {points: 7}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .window_spend = 1900000,
				  .orders_partial = 1};
	ly_event_t ev = order_paid(200000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	/* this order still earns at bronze */
	assert_int_equal(out.postings[0].delta_available, 2000);
	assert_int_equal(cs.tier, 2);
	assert_int_equal(cs.window_spend, 2100000);
	assert_int_equal(cs.order_count, 1);
	assert_int_equal(cs.segment, LY_SEGMENT_ACTIVE);
	assert_true(cs.profile_changed);
	assert_int_equal(out.triggers_len, 2);
	ly_event_t seg = out.triggers[0], tier = out.triggers[1];
	assert_string_equal(ly_event_name(&seg), "customer.segment_changed");
	assert_string_equal(seg.id, "segment:c-1:evt-1");
	assert_string_equal(seg.u.change.from, "new");
	assert_string_equal(seg.u.change.to, "active");
	assert_string_equal(ly_event_name(&tier), "tier.changed");
	assert_string_equal(tier.id, "tier:c-1:evt-1");
	assert_string_equal(tier.u.change.from, "bronze");
	assert_string_equal(tier.u.change.to, "gold");
	assert_int_equal(tier.time_us, ev.time_us);

	out = apply_ok(f, &cs, &seg);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_available, 7);
	out = apply_ok(f, &cs, &tier);
	assert_int_equal(out.postings_len, 1);
	assert_int_equal(out.postings[0].delta_available, 500);
	assert_int_equal(cs.available, 2507);

	/* a trigger fed by hand moves the customer to what it announces */
	ly_event_t down = tier;
	down.u.change.from = "gold";
	down.u.change.to = "silver";
	out = apply_ok(f, &cs, &down);
	assert_int_equal(cs.tier, 1);
	assert_int_equal(out.postings_len, 0);
}

static int in_alphabet(const char *code)
{
	if (strlen(code) != LY_CODE_LENGTH)
		return 0;
	for (const char *c = code; *c; c++)
		if (!strchr(LY_CODE_ALPHABET, *c))
			return 0;
	return 1;
}

static void test_issue_and_offer(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - id: gift\n"
		     "    on: order.paid\n"
		     "    if: order.total >= 250000\n"
		     "    earn: {points: 5}\n"
		     "    issue: {gift_card: {amount: 10000, valid_days: 90}}\n"
		     "    offer: {template: gift-card, channels: [sms, email], vars: {loc: customer.locale, total: order.total, days: customer.days_since_last_order}}\n"
		     "  - {id: pct, on: order.paid, issue: {discount: {percent: 15, min_order: 20000, valid_days: 14}}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .first_name = "Ayşe"};
	ly_event_t ev = order_paid(250000);
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_int_equal(out.codes_len, 2);
	ly_issued_code_t gift = out.codes[0];
	assert_string_equal(gift.rule_id, "gift");
	assert_int_equal(gift.kind, LY_ISSUE_GIFT_CARD);
	assert_int_equal(gift.amount, 10000);
	assert_int_equal(gift.issued_at_us, EVENT_TIME_US);
	assert_int_equal(gift.valid_until_us, EVENT_TIME_US + 90 * DAY_US);
	assert_true(in_alphabet(gift.code));
	assert_int_equal(out.codes[1].kind, LY_ISSUE_DISCOUNT);
	assert_int_equal(out.codes[1].percent, 15);
	assert_int_equal(out.codes[1].min_order, 20000);
	assert_string_not_equal(out.codes[1].code, gift.code);

	assert_int_equal(out.offers_len, 1);
	const ly_offer_made_t *o = &out.offers[0];
	assert_string_equal(o->template_id, "gift-card");
	assert_int_equal(o->channels, LY_CHANNEL_EMAIL | LY_CHANNEL_SMS);
	assert_ptr_equal(o->code, &out.codes[0]);
	assert_int_equal(o->points_earned, 5);
	assert_int_equal(o->vars_len, 3);
	assert_string_equal(o->vars[0].name, "loc");
	assert_int_equal(o->vars[0].value.type, LY_TYPE_STRING);
	assert_memory_equal(o->vars[0].value.u.s.ptr, "tr", 2); /* the program's */
	assert_int_equal(o->vars[1].value.u.i, 250000);
	assert_true(o->vars[2].value.absent); /* no order before this one */

	/* the same event gives the same code (a replay); another event does not */
	ly_customer_state_t again = {.customer_id = "c-1"};
	out = apply_ok(f, &again, &ev);
	assert_string_equal(out.codes[0].code, gift.code);
	ev.id = "evt-other";
	out = apply_ok(f, &again, &ev);
	assert_string_not_equal(out.codes[0].code, gift.code);
	/* below the threshold: no code, no offer */
	ev = order_paid(249999);
	out = apply_ok(f, &again, &ev);
	assert_int_equal(out.codes_len, 1);
	assert_int_equal(out.offers_len, 0);
}

static void test_customer_fields(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "rules:\n"
		     "  - {id: a, on: review.submitted, if: customer.order_count == 4 and customer.lifetime_spend == 900000 and customer.window_spend == 600000, earn: {points: 1}}\n"
		     "  - {id: b, on: review.submitted, if: customer.tier == \"silver\" and customer.segment == \"at_risk\", earn: {points: 2}}\n"
		     "  - {id: c, on: review.submitted, if: customer.days_since_last_order == 61, earn: {points: 4}}\n"
		     "  - {id: d, on: review.submitted, if: customer.clv == 6000 and customer.top_category == \"outdoor\", earn: {points: 8}}\n"
		     "  - {id: e, on: review.submitted, if: customer.locale == \"tr\" and customer.consent_email and not customer.consent_sms, earn: {points: 16}}\n"
		     "  - {id: f, on: review.submitted, if: customer.birthday_today, earn: {points: 32}}\n"
		     "  - {id: g, on: review.submitted, if: customer.days_since_last_order >= 0, earn: {points: 64}}\n");
	ly_customer_state_t cs = {
		.customer_id = "c-1", .order_count = 4, .lifetime_spend = 900000,
		.window_spend = 600000, .tier = 1, .segment = LY_SEGMENT_AT_RISK,
		.has_last_order = 1, .clv = 6000, .top_category = "outdoor",
		.consent_email = 1, .birth_month = 2, .birth_day = 29,
		.orders_partial = 1, /* the window spend is the one above */
	};
	/* 1 June 23:30 local to 1 August 00:30 local: 61 calendar days */
	cs.last_order_us = at("2026-06-01T23:30:00+03:00");
	assert_int_equal(review_at(f, &cs, "2026-08-01T00:30:00+03:00"), 1 + 2 + 4 + 8 + 16 + 64);
	/* a 29 February birthday is kept on 28 February in other years */
	assert_int_equal(review_at(f, &cs, "2027-02-28T10:00:00+03:00"), 1 + 2 + 8 + 16 + 32 + 64);
	assert_int_equal(review_at(f, &cs, "2028-02-28T10:00:00+03:00"), 1 + 2 + 8 + 16 + 64);
	assert_int_equal(review_at(f, &cs, "2028-02-29T10:00:00+03:00"), 1 + 2 + 8 + 16 + 32 + 64);
	/* without an order, days_since_last_order is absent: false */
	ly_customer_state_t fresh = {.customer_id = "c-1", .locale = "en"};
	assert_int_equal(review_at(f, &fresh, "2026-08-01T00:30:00+03:00"), 0);
}

/* The way out of offers (lib/engine/offers.c, docs/offers.md): consent,
 * the cap per channel and calendar period, quiet hours by wall-clock time
 * of the program's zone (a window spanning midnight, and an end a clock
 * change skips), the locale, the withdrawal count and erasure. */
static const ly_offer_send_t *send_of(const ly_effects_t *out, unsigned channel)
{
	assert_int_equal(out->offers_len, 1);
	for (size_t k = 0; k < out->offers[0].sends_len; k++)
		if (out->offers[0].sends[k].channel == channel)
			return &out->offers[0].sends[k];
	fail_msg("no send on channel %u", channel);
	return NULL;
}

static ly_effects_t review_offer_at(fixture_t *f, ly_customer_state_t *cs, const char *t)
{
	ly_event_t ev = review_submitted();
	ev.time_us = at(t);
	return apply_ok(f, cs, &ev);
}

static void test_offer_routing(void **state)
{
	fixture_t *f = *state;
	load(f, "version: 1\nprogram: {name: shop, timezone: Europe/Berlin, locale: tr}\n"
		"offers: {max_per_customer: {count: 2, per: day}, "
		"quiet_hours: {sms: \"21:00-09:00\", email: \"00:00-02:30\"}}\n"
		"rules: [{id: r, on: review.submitted, earn: {points: 7}, "
		"offer: {template: thanks, channels: [sms, email]}}]\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .consent_sms = 1, .consent_email = 1,
				  .first_name = "Can"};
	/* Berlin in winter is UTC+1: 20:59:59 is no quiet hour, 21:00 is
	 * until 09:00 tomorrow (08:00Z); the channels in the rule's order */
	ly_effects_t out = review_offer_at(f, &cs, "2026-01-14T19:59:59Z");
	assert_int_equal(out.offers[0].sends_len, 2);
	assert_int_equal(out.offers[0].sends[0].channel, LY_CHANNEL_SMS);
	assert_int_equal(out.offers[0].sends[0].outcome, LY_OFFER_SENT);
	assert_int_equal(out.offers[0].sends[0].send_after_us, 0);
	assert_string_equal(out.offers[0].sends[0].period, "2026-01-14");
	assert_string_equal(out.offers[0].locale, "tr");
	assert_string_equal(out.offers[0].first_name, "Can");
	assert_int_equal(out.offers[0].points_available, 7); /* after the event */
	assert_int_equal(out.offers[0].points_earned, 7);
	out = review_offer_at(f, &cs, "2026-01-14T20:00:00Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->send_after_us, at("2026-01-15T08:00:00Z"));
	assert_int_equal(send_of(&out, LY_CHANNEL_EMAIL)->send_after_us, 0);
	/* a third the same day: both channels capped; the next day opens at
	 * Berlin midnight (23:00Z), where 08:59:59 local waits for 09:00 */
	out = review_offer_at(f, &cs, "2026-01-14T22:59:59Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->outcome, LY_OFFER_CAPPED);
	assert_int_equal(send_of(&out, LY_CHANNEL_EMAIL)->outcome, LY_OFFER_CAPPED);
	out = review_offer_at(f, &cs, "2026-01-15T07:59:59Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->outcome, LY_OFFER_SENT);
	assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->send_after_us, at("2026-01-15T08:00:00Z"));
	out = review_offer_at(f, &cs, "2026-01-15T08:00:00Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->send_after_us, 0);
	/* the e-mail window ends at 02:30, which 29 March 2026 skips (02:00
	 * CET became 03:00 CEST): it ends as late as the clock jumped, 03:30
	 * CEST (01:30Z) */
	out = review_offer_at(f, &cs, "2026-03-29T00:30:00Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_EMAIL)->send_after_us, at("2026-03-29T01:30:00Z"));

	/* consent withdrawn: suppressed, not counted, and the count of
	 * withdrawals goes up once per true -> false */
	ly_event_t upd = {.id = "u-1", .source = "shop", .type = LY_EV_CUSTOMER_UPDATED,
			  .time_us = at("2026-04-01T10:00:00Z"), .customer_id = "c-1"};
	upd.u.customer.consent_sms = LY_FALSE;
	upd.u.customer.consent_email = LY_UNSET;
	upd.u.customer.locale = "en";
	apply_ok(f, &cs, &upd);
	apply_ok(f, &cs, &upd);
	assert_int_equal(cs.withdrawals_sms, 1);
	assert_int_equal(cs.withdrawals_email, 0);
	for (int i = 0; i < 2; i++) {
		out = review_offer_at(f, &cs, "2026-04-01T12:00:00Z");
		assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->outcome, LY_OFFER_NO_CONSENT);
		assert_int_equal(send_of(&out, LY_CHANNEL_SMS)->withdrawals, 1);
		assert_int_equal(send_of(&out, LY_CHANNEL_EMAIL)->outcome, LY_OFFER_SENT);
		assert_string_equal(out.offers[0].locale, "en");
	}
	out = review_offer_at(f, &cs, "2026-04-01T12:00:00Z");
	assert_int_equal(send_of(&out, LY_CHANNEL_EMAIL)->outcome, LY_OFFER_CAPPED);

	/* an erased customer keeps no name, whatever an update says */
	cs.erased = 1;
	cs.first_name = NULL;
	upd.u.customer.first_name = "Can";
	upd.u.customer.birth_date = "1990-01-02";
	apply_ok(f, &cs, &upd);
	assert_null(cs.first_name);
	assert_int_equal(cs.birth_month, 0);
	out = review_offer_at(f, &cs, "2026-04-02T12:00:00Z");
	assert_null(out.offers[0].first_name);
}

static void test_profile_updates(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules: [{id: s, on: survey.completed, earn: {points: 1}}]\n");
	ly_customer_state_t cs = {.customer_id = "c-1", .consent_sms = 1};
	ly_event_t ev = {.id = "e-1", .source = "shop", .type = LY_EV_CUSTOMER_REGISTERED,
			 .time_us = EVENT_TIME_US, .customer_id = "c-1"};
	ev.u.customer.first_name = "Can";
	ev.u.customer.locale = "en";
	ev.u.customer.birth_date = "1990-11-24";
	ev.u.customer.consent_email = LY_TRUE;
	ev.u.customer.consent_sms = LY_UNSET; /* absent: unchanged */
	apply_ok(f, &cs, &ev);
	assert_string_equal(cs.first_name, "Can");
	assert_string_equal(cs.locale, "en");
	assert_int_equal(cs.birth_month, 11);
	assert_int_equal(cs.birth_day, 24);
	assert_true(cs.consent_email);
	assert_true(cs.consent_sms);
	assert_true(cs.profile_changed);
	assert_false(cs.changed);

	ev = order_paid(12345);
	apply_ok(f, &cs, &ev);
	apply_ok(f, &cs, &ev);
	assert_int_equal(cs.order_count, 2);
	assert_int_equal(cs.lifetime_spend, 24690);
	assert_int_equal(cs.window_spend, 24690);
	assert_true(cs.has_last_order);
	assert_int_equal(cs.last_order_us, EVENT_TIME_US);
}

/* A failing event changes nothing: not the balances, not the limit
 * counts, not the budgets, not the profile. */
static void test_failure_changes_nothing(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD "rules:\n"
		     "  - {id: a, on: order.paid, earn: {points: 5}, limit: {count: 1, per: day}, budget: {points: 100}}\n"
		     "  - {id: b, on: order.paid, if: 1 / (order.total - 500) > 0, earn: {points: 1}}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = order_paid(500);
	apply_fails(f, &cs, &ev, "rule \"b\": prog.yaml:5:35: division by zero");
	assert_int_equal(cs.limits_len, 0);
	assert_int_equal(f->budget_spent[0], 0);
	assert_false(f->budget_changed[0]);
	assert_int_equal(cs.order_count, 0);
	assert_int_equal(cs.segment, LY_SEGMENT_NEW);
}

/*
 * Determinism: the same events through the core in different batch
 * splits give byte-identical effects. A batch ends as the worker's does:
 * the states are written out (here: copied into fresh memory, the limit
 * counts with them) and the arena is reset, so nothing but what storage
 * keeps carries over from one batch to the next.
 */
static void effects_text(ly_buf_t *b, const ly_event_t *ev, const ly_effects_t *fx)
{
	ly_buf_printf(b, "%s %s:", ev->customer_id, ev->id);
	for (size_t i = 0; i < fx->postings_len; i++) {
		const ly_posting_t *p = &fx->postings[i];
		ly_buf_printf(b, " p(%s %lld %lld %lld %lld %s %lld %lld)", p->rule_id,
			      (long long)p->delta_available, (long long)p->delta_pending,
			      (long long)p->available_at_us, (long long)p->expires_at_us,
			      p->reason, (long long)p->available_after,
			      (long long)p->pending_after);
	}
	for (size_t i = 0; i < fx->codes_len; i++)
		ly_buf_printf(b, " c(%s %s %lld)", fx->codes[i].rule_id, fx->codes[i].code,
			      (long long)fx->codes[i].valid_until_us);
	for (size_t i = 0; i < fx->offers_len; i++)
		ly_buf_printf(b, " o(%s %s %d)", fx->offers[i].rule_id,
			      fx->offers[i].template_id, fx->offers[i].code != NULL);
	for (size_t i = 0; i < fx->triggers_len; i++)
		ly_buf_printf(b, " t(%s %s)", fx->triggers[i].id, fx->triggers[i].u.change.to);
	ly_buf_putc(b, '\n');
}

#define DET_CUSTOMERS 5
#define DET_EVENTS 240

/* Copies n elements of size sz into arena (what storage would keep). */
static void *keep_copy(ly_arena_t *arena, const void *items, size_t n, size_t sz)
{
	if (n == 0)
		return NULL;
	void *c = ly_arena_alloc(arena, n * sz);
	assert_non_null(c);
	memcpy(c, items, n * sz);
	return c;
}

/* Moves the customer's lots, orders and spend into the storage arena, as
 * the worker's next batch would load them from PostgreSQL. */
static void keep_lifecycle(ly_customer_state_t *cs, ly_arena_t *storage)
{
	cs->lots = keep_copy(storage, cs->lots, cs->lots_len, sizeof(*cs->lots));
	cs->lots_cap = cs->lots_len;
	for (size_t i = 0; i < cs->lots_len; i++)
		cs->lots[i].changed = 0;
	cs->categories = keep_copy(storage, cs->categories, cs->categories_len,
				   sizeof(*cs->categories));
	cs->categories_cap = cs->categories_len;
	cs->orders = keep_copy(storage, cs->orders, cs->orders_len, sizeof(*cs->orders));
	cs->orders_cap = cs->orders_len;
	for (size_t i = 0; i < cs->orders_len; i++) {
		ly_order_t *o = &cs->orders[i];
		o->rule_ids = keep_copy(storage, o->rule_ids, o->rules_len, sizeof(*o->rule_ids));
		o->earned = keep_copy(storage, o->earned, o->rules_len, sizeof(*o->earned));
		o->reversed = keep_copy(storage, o->reversed, o->rules_len, sizeof(*o->reversed));
		o->categories = keep_copy(storage, o->categories, o->categories_len,
					  sizeof(*o->categories));
		o->is_new = o->changed = 0;
	}
	for (size_t i = 0; i < cs->categories_len; i++)
		if (cs->top_category && strcmp(cs->categories[i].name, cs->top_category) == 0)
			cs->top_category = cs->categories[i].name;
	assert_int_equal(cs->held_len, 0);
	assert_int_equal(cs->requests_len, 0);
}

static void run_split(fixture_t *f, const ly_event_t *evs, size_t batch, ly_buf_t *out)
{
	ly_arena_t *storage = ly_arena_new(4096);
	assert_non_null(storage);
	static ly_limit_count_t kept[DET_CUSTOMERS][64];
	ly_customer_state_t cs[DET_CUSTOMERS];
	memset(cs, 0, sizeof(cs));
	memset(f->budget_spent, 0, sizeof(f->budget_spent));
	static const char *const ids[DET_CUSTOMERS] = {"c-0", "c-1", "c-2", "c-3", "c-4"};
	for (size_t c = 0; c < DET_CUSTOMERS; c++)
		cs[c].customer_id = ids[c];
	ly_arena_reset(f->arena);
	for (size_t i = 0; i < DET_EVENTS; i++) {
		const ly_event_t *ev = &evs[i];
		ly_customer_state_t *st = &cs[ev->customer_id[2] - '0'];
		ly_effects_t fx;
		char err[256];
		assert_int_equal(ly_engine_apply(&fx, f->program, &f->shared, st, ev,
						 f->arena, err, sizeof(err)), 0);
		effects_text(out, ev, &fx);
		for (size_t k = 0; k < fx.triggers_len; k++) {
			ly_effects_t tfx;
			assert_int_equal(ly_engine_apply(&tfx, f->program, &f->shared, st,
							 &fx.triggers[k], f->arena, err,
							 sizeof(err)), 0);
			effects_text(out, &fx.triggers[k], &tfx);
		}
		if ((i + 1) % batch)
			continue;
		/* end of batch: keep what storage keeps, drop the arena */
		for (size_t c = 0; c < DET_CUSTOMERS; c++) {
			assert_true(cs[c].limits_len <= 64);
			if (cs[c].limits_len)
				memmove(kept[c], cs[c].limits,
					cs[c].limits_len * sizeof(kept[c][0]));
			cs[c].limits = kept[c];
			cs[c].limits_cap = 64;
			for (size_t k = 0; k < cs[c].limits_len; k++)
				kept[c][k].changed = 0;
			cs[c].changed = cs[c].profile_changed = 0;
			keep_lifecycle(&cs[c], storage);
		}
		ly_arena_reset(f->arena);
	}
	for (size_t c = 0; c < DET_CUSTOMERS; c++)
		ly_buf_printf(out, "%s %lld %lld %lld %zu %zu %lld\n", cs[c].customer_id,
			      (long long)cs[c].available, (long long)cs[c].pending,
			      (long long)cs[c].order_count, cs[c].tier, cs[c].lots_len,
			      (long long)cs[c].next_due_us);
	ly_arena_destroy(storage);
}

static void test_batch_split_determinism(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "points: {pending_days: 14, expire_days: 365}\n"
		     "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total, tier_multiplier: true}}\n"
		     "  - {id: first, on: order.paid, if: customer.order_count == 0, earn: {points: 500, pending: false}, offer: {template: welcome, channels: [email]}}\n"
		     "  - {id: capped, on: order.paid, earn: {points: 40}, budget: {points: 3000}}\n"
		     "  - {id: daily, on: review.submitted, earn: {points: 100}, limit: {count: 2, per: day}}\n"
		     "  - {id: weekly, on: review.submitted, issue: {discount: {percent: 10, valid_days: 7}}, limit: {count: 1, per: week}, offer: {template: thanks, channels: [sms]}}\n"
		     "  - {id: up, on: tier.changed, earn: {points: 250}}\n");
	static ly_event_t evs[DET_EVENTS];
	static char names[DET_EVENTS][16];
	uint64_t x = 42;
	for (size_t i = 0; i < DET_EVENTS; i++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		snprintf(names[i], sizeof(names[i]), "e-%zu", i);
		evs[i] = (x >> 40) % 3 ? review_submitted() : order_paid((int64_t)((x >> 20) % 400000));
		evs[i].id = names[i];
		evs[i].customer_id = (const char *[]){"c-0", "c-1", "c-2", "c-3", "c-4"}[(x >> 33) % DET_CUSTOMERS];
		evs[i].time_us = at("2026-11-01T00:00:00+03:00") + (int64_t)i * 5 * 3600 * INT64_C(1000000);
	}
	ly_buf_t want = {0};
	run_split(f, evs, DET_EVENTS, &want);
	static const size_t splits[] = {1, 2, 7, 64};
	for (size_t s = 0; s < LY_ARRAY_LEN(splits); s++) {
		ly_buf_t got = {0};
		run_split(f, evs, splits[s], &got);
		assert_int_equal(got.len, want.len);
		assert_memory_equal(got.data, want.data, want.len);
		ly_buf_free(&got);
	}
	/* the run did exercise what it claims to */
	assert_non_null(strstr(want.data, " c(weekly "));
	assert_non_null(strstr(want.data, " t(tier:"));
	assert_non_null(strstr(want.data, " o(first welcome 0)"));
	ly_buf_free(&want);
}

/* ---- the lifecycle (docs/lifecycle.md) ---- */

#define LIFE "version: 1\nprogram: {name: shop, timezone: Europe/Istanbul}\n" \
	"points: {pending_days: 14, expire_days: 365, expiry_reminder_days: 30}\n" \
	"rewards: [{id: tl50, cost: 500, issue: {discount: {amount: 5000, valid_days: 30}}}]\n" \
	"rules:\n" \
	"  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n" \
	"  - {id: bonus, on: order.paid, earn: {points: 25, pending: false}}\n" \
	"  - {id: review, on: review.submitted, earn: {points: 50}}\n" \
	"  - {id: bday, on: customer.birthday, earn: {points: 7}}\n" \
	"  - {id: nudge, on: points.expiring, earn: {points: 1}}\n"

static ly_event_t refund_of(const char *order_id, int64_t amount, const char *id)
{
	ly_event_t ev = {.id = id, .source = "shop", .type = LY_EV_ORDER_REFUNDED,
			 .time_us = EVENT_TIME_US + DAY_US, .customer_id = "c-1"};
	ev.u.refund.order_id = order_id;
	ev.u.refund.has_amount = amount >= 0;
	ev.u.refund.amount = amount;
	return ev;
}

/* A refund asks the scheduler to weigh a downgrade at its time only when
 * the window spend it leaves is below the tier's min_spend; without the
 * window loaded it cannot tell, and always asks. */
static void test_refund_tier_due(void **state)
{
	fixture_t *f = *state;
	load(f, HEAD TIERS "rules:\n"
		     "  - {id: base, on: order.paid, earn: {per: 100, points: 1, of: order.total}}\n");
	const int64_t leaves = EVENT_TIME_US + 365 * DAY_US; /* when o-1 leaves */
	ly_order_t o = {.order_id = "o-1", .paid_at_us = EVENT_TIME_US, .total = 800000};
	ly_customer_state_t cs = {.customer_id = "c-1", .tier = 1, /* silver: 500,000 */
				  .orders = &o, .orders_len = 1, .orders_cap = 1,
				  .tier_due_us = leaves,
				  .window_from_us = EVENT_TIME_US,
				  .window_to_us = EVENT_TIME_US + 2 * DAY_US};
	ly_event_t r1 = refund_of("o-1", 200000, "r-1");
	apply_ok(f, &cs, &r1);
	assert_int_equal(o.refunded, 200000);
	assert_int_equal(cs.tier_due_us, leaves); /* 600,000 left: still silver */
	ly_event_t r2 = refund_of("o-1", 200000, "r-2");
	apply_ok(f, &cs, &r2);
	assert_int_equal(cs.tier_due_us, r2.time_us); /* 400,000: weigh it then */
	assert_int_equal(cs.tier, 1); /* the scheduler lowers it, not the refund */

	o.refunded = 0;
	cs.tier_due_us = leaves;
	cs.orders_partial = 1;
	apply_ok(f, &cs, &r1);
	assert_int_equal(cs.tier_due_us, r1.time_us);
}

/* Refunds in pieces reverse what one refund of the sum would, per rule,
 * from the order's pending lot first, then from available points. */
static void test_refund_per_rule(void **state)
{
	fixture_t *f = *state;
	load(f, LIFE);
	ly_customer_state_t a = {.customer_id = "c-1"}, b = a;
	ly_event_t order = order_paid(120000);
	order.u.order_paid.order_id = "o-r1";
	apply_ok(f, &a, &order);
	apply_ok(f, &b, &order);
	assert_int_equal(a.pending, 1200);
	assert_int_equal(a.available, 25);

	ly_event_t r1 = refund_of("o-r1", 30000, "r-1");
	ly_effects_t out = apply_ok(f, &a, &r1);
	assert_int_equal(out.postings_len, 2);
	assert_string_equal(out.postings[0].rule_id, "base");
	assert_int_equal(out.postings[0].delta_pending, -300); /* 1200*30000/120000 */
	assert_int_equal(out.postings[0].delta_available, 0);
	assert_string_equal(out.postings[0].reason, "refund 30000 of 120000: floor(1200*30000/120000)-0");
	assert_string_equal(out.postings[1].rule_id, "bonus");
	assert_int_equal(out.postings[1].delta_available, -6); /* floor(6.25) */
	assert_non_null(out.voids);
	ly_event_t r2 = refund_of("o-r1", 50000, "r-2");
	out = apply_ok(f, &a, &r2);
	assert_int_equal(out.postings[0].delta_pending, -500); /* 800 - 300 */
	assert_int_equal(out.postings[1].delta_available, -10); /* floor(16.66) - 6 */
	/* one refund of the same sum */
	ly_event_t r3 = refund_of("o-r1", 80000, "r-3");
	apply_ok(f, &b, &r3);
	assert_int_equal(a.pending, b.pending);
	assert_int_equal(a.available, b.available);
	assert_int_equal(a.pending, 400);
	assert_int_equal(a.available, 9);
	/* the rest, then nothing more */
	ly_event_t cancel = refund_of("o-r1", -1, "r-4");
	cancel.type = LY_EV_ORDER_CANCELLED;
	apply_ok(f, &a, &cancel);
	assert_int_equal(a.pending, 0);
	assert_int_equal(a.available, 0);
	assert_int_equal(a.lifetime_spend, 0);
	out = apply_ok(f, &a, &cancel);
	assert_int_equal(out.postings_len, 0);
	/* the pending lot is empty, the available one too */
	for (size_t i = 0; i < a.lots_len; i++)
		assert_int_equal(a.lots[i].remaining, 0);
	assert_int_equal(a.order_count, 1); /* refunds do not lower it */
}

/* A refund before its order is held, then applied right after it. */
static void test_refund_held(void **state)
{
	fixture_t *f = *state;
	load(f, LIFE);
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t r = refund_of("o-h1", 60000, "r-h1");
	ly_effects_t out = apply_ok(f, &cs, &r);
	assert_true(out.held);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.held_len, 1);
	ly_event_t order = order_paid(120000);
	order.u.order_paid.order_id = "o-h1";
	out = apply_ok(f, &cs, &order);
	assert_int_equal(out.triggers_len, 2); /* segment change, the refund */
	assert_int_equal(out.triggers[1].type, LY_EV_ORDER_REFUNDED);
	assert_true(cs.held[0].applied);
	out = apply_ok(f, &cs, &out.triggers[1]);
	assert_int_equal(out.postings_len, 2);
	assert_int_equal(cs.pending, 600);
	assert_int_equal(cs.available, 13); /* 25 - floor(12.5) */
}

/* Redemptions: never a negative balance, once per request; adjustments
 * may make a debt, which the next credit pays first. */
static void test_redeem_and_adjust(void **state)
{
	fixture_t *f = *state;
	load(f, LIFE);
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t ev = {.id = "q-1", .source = "shop", .type = LY_EV_POINTS_REDEEM,
			 .time_us = EVENT_TIME_US, .customer_id = "c-1"};
	ev.u.redeem = (ly_redeem_t){"req-1", "tl50"};
	ly_effects_t out = apply_ok(f, &cs, &ev);
	assert_true(out.request_applied);
	assert_string_equal(out.reject_reason, "insufficient_points");
	assert_int_equal(out.postings_len, 0);
	ev.id = "q-2";
	ev.u.redeem = (ly_redeem_t){"req-2", "nope"};
	out = apply_ok(f, &cs, &ev);
	assert_string_equal(out.reject_reason, "unknown_reward");

	ly_event_t adj = {.id = "a-1", .source = "ops", .type = LY_EV_POINTS_ADJUST,
			  .time_us = EVENT_TIME_US, .customer_id = "c-1"};
	adj.u.adjust = (ly_adjust_t){"adj-1", 600, "goodwill"};
	out = apply_ok(f, &cs, &adj);
	assert_string_equal(out.postings[0].reason, "adjust: goodwill");
	assert_int_equal(cs.available, 600);
	ev.id = "q-3";
	ev.u.redeem = (ly_redeem_t){"req-3", "tl50"};
	out = apply_ok(f, &cs, &ev);
	assert_null(out.reject_reason);
	assert_int_equal(out.postings[0].delta_available, -500);
	assert_int_equal(out.codes_len, 1);
	assert_string_equal(out.codes[0].rule_id, "reward:tl50");
	assert_ptr_equal(out.reward_code, &out.codes[0]);
	assert_int_equal(cs.available, 100);
	assert_int_equal(cs.lots[0].remaining, 100);
	/* the same request again: nothing */
	ev.id = "q-4";
	out = apply_ok(f, &cs, &ev);
	assert_false(out.request_applied);
	assert_int_equal(out.postings_len, 0);
	assert_int_equal(cs.available, 100);

	adj.id = "a-2";
	adj.u.adjust = (ly_adjust_t){"adj-2", -180, "claw back"};
	apply_ok(f, &cs, &adj);
	assert_int_equal(cs.available, -80);
	assert_int_equal(cs.lots[0].remaining, 0);
	ly_event_t rv = review_submitted();
	apply_ok(f, &cs, &rv); /* +50: pays 50 of the debt */
	assert_int_equal(cs.available, -30);
	assert_int_equal(cs.lots[cs.lots_len - 1].points, 50);
	assert_int_equal(cs.lots[cs.lots_len - 1].remaining, 0);
	rv.id = "evt-3";
	apply_ok(f, &cs, &rv); /* +50: 30 to the debt, 20 kept */
	assert_int_equal(cs.available, 20);
	assert_int_equal(cs.lots[cs.lots_len - 1].remaining, 20);
}

/* Runs the scheduler's work at now; returns how many items it did. */
static size_t tick_all(fixture_t *f, ly_customer_state_t *cs, int64_t now, ly_buf_t *log)
{
	size_t n = 0;
	for (;;) {
		ly_effects_t out;
		ly_event_t ev;
		char err[256] = "";
		int rc = ly_engine_tick(&out, &ev, f->program, &f->shared, cs, now, f->arena,
					err, sizeof(err));
		if (rc == LY_ENOTFOUND)
			return n;
		assert_int_equal(rc, 0);
		n++;
		if (!ev.id)
			continue;
		char when[40];
		ly_time_format_rfc3339(ev.time_us, when, sizeof(when));
		ly_buf_printf(log, "%s %s %s", when,
			      out.postings_len && out.postings[0].kind ? out.postings[0].kind
								      : ly_event_name(&ev),
			      ev.id);
		for (size_t k = 0; k < out.postings_len; k++)
			ly_buf_printf(log, " %+lld/%+lld", (long long)out.postings[k].delta_available,
				      (long long)out.postings[k].delta_pending);
		ly_buf_puts(log, "\n");
	}
}

/* Releases, expiry reminders, expiries, birthdays and segments, each at
 * its own instant, in time order, and nothing twice. */
static void test_tick(void **state)
{
	fixture_t *f = *state;
	load(f, LIFE "lifecycle: {at_risk_days: 60, lost_days: 120}\n");
	ly_customer_state_t cs = {.customer_id = "c-1"};
	ly_event_t reg = {.id = "reg", .source = "shop", .type = LY_EV_CUSTOMER_REGISTERED,
			  .time_us = at("2026-01-05T10:00:00+03:00"), .customer_id = "c-1"};
	reg.u.customer = (ly_customer_data_t){.birth_date = "1990-03-20",
					      .consent_email = LY_UNSET,
					      .consent_sms = LY_UNSET};
	apply_ok(f, &cs, &reg);
	ly_event_t order = order_paid(100000);
	order.time_us = at("2026-01-10T12:00:00+03:00");
	apply_ok(f, &cs, &order);
	assert_int_equal(cs.next_due_us, at("2026-01-24T12:00:00+03:00")); /* the release */
	ly_buf_t log = {0};
	/* nothing before it is due */
	assert_int_equal(tick_all(f, &cs, at("2026-01-24T11:59:59+03:00"), &log), 0);
	tick_all(f, &cs, at("2027-03-01T00:00:00+03:00"), &log);
	assert_non_null(log.data);
	assert_string_equal(log.data,
		/* the order's pending points at 10 Jan 12:00 + 14 days */
		"2026-01-24T09:00:00Z points.released evt-1 +1000/-1000\n"
		/* local midnight of 10 Jan + 60 days, + 120 days */
		"2026-03-10T21:00:00Z customer.segment_changed segment:c-1:at_risk:2026-03-11\n"
		"2026-03-19T21:00:00Z customer.birthday birthday:c-1:2026 +7/+0\n"
		"2026-05-09T21:00:00Z customer.segment_changed segment:c-1:lost:2026-05-10\n"
		/* 30 days before each expiry day; the nudge earns 1 */
		"2026-12-11T09:00:00Z points.expiring expiring:c-1:2027-01-10 +1/+0\n"
		"2026-12-25T09:00:00Z points.expiring expiring:c-1:2027-01-24 +1/+0\n"
		/* each lot 365 days after it became available */
		"2027-01-10T09:00:00Z points.expired evt-1 -25/+0\n"
		"2027-01-24T09:00:00Z points.expired evt-1 -1000/+0\n"
		"2027-02-17T21:00:00Z points.expiring expiring:c-1:2027-03-20 +1/+0\n");
	assert_int_equal(cs.segment, LY_SEGMENT_LOST);
	assert_int_equal(cs.available, 7 + 3);
	/* again at the same instant: nothing twice */
	assert_int_equal(tick_all(f, &cs, at("2027-03-01T00:00:00+03:00"), &log), 0);
	ly_buf_free(&log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixed_earn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refund_per_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refund_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redeem_and_adjust, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(test_proportional_earn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_order_points, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_false, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_true_elsewhere, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_days_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_in_file_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_matching_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_below_one_unit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_earn_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_balance_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_balances, setup, teardown),
		cmocka_unit_test_setup_teardown(test_if, setup, teardown),
		cmocka_unit_test_setup_teardown(test_if_fields_of_each_type, setup, teardown),
		cmocka_unit_test_setup_teardown(test_of_expression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_of_absent_and_negative, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_balances_before_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evaluation_error, setup, teardown),
		cmocka_unit_test(test_expr_reads_field),
		cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
		cmocka_unit_test(test_codes),
		cmocka_unit_test_setup_teardown(test_explain_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_not_active, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_if_false, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_stopped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_fired_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_fired_available, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_fired_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_explain_same_as_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_day, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_periods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_loaded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_multiplier, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_window_summed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refund_tier_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tier_upgrade_trigger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_and_offer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_customer_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offer_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_split_determinism, setup, teardown),
	};

	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
