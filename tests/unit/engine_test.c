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
#include "loyalty/program.h"
#include "loyalty/util.h"

#define HEAD "version: 1\nprogram: {name: shop}\n"

/* 2026-11-22T10:00:00Z, checked against `date -u -d ... +%s`. */
#define EVENT_TIME_US INT64_C(1795341600000000)
#define DAY_US (INT64_C(86400) * 1000000)

typedef struct fixture {
	ly_arena_t *arena;
	ly_program_t *program;
} fixture_t;

static int setup(void **state)
{
	static fixture_t f;
	memset(&f, 0, sizeof(f));
	f.arena = ly_arena_new(4096);
	if (!f.arena)
		return -1;
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

static ly_event_t order_paid(int64_t total)
{
	ly_event_t ev = {
		.id = "evt-1",
		.source = "shop",
		.type = LY_EV_ORDER_PAID,
		.time_us = EVENT_TIME_US,
		.customer_id = "c-1",
	};
	ev.u.order_paid.order_id = "o-1";
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

/* Runs the engine and expects success. */
static ly_effects_t apply_ok(fixture_t *f, ly_customer_state_t *cs,
			     const ly_event_t *ev)
{
	ly_effects_t out = {(ly_posting_t *)(uintptr_t)1, 99};
	char err[256] = "";
	int rc = ly_engine_apply(&out, f->program, cs, ev, f->arena, err,
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

	int rc = ly_engine_apply(&out, f->program, &cs, &ev, f->arena, err,
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

	int rc = ly_engine_apply(&out, f->program, &cs, &ev, f->arena, err,
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixed_earn, setup, teardown),
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
		cmocka_unit_test(test_codes),
	};

	return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
