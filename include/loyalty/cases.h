/*
 * cases.h: a shop's own tests of its program (`loyaltyctl test PROGRAM
 * CASES.yaml`, SPEC section 9), and the customer state files `loyaltyctl
 * explain --customer-state` reads. No server is involved: every event of a
 * case goes through the engine (ly_engine_apply) on an in-memory customer,
 * exactly as the worker applies it, and the triggers an event causes
 * (tier.changed, customer.segment_changed) go through the rules after it.
 *
 * A cases file (docs/program.md, "Testing a program"):
 *
 *   cases:
 *     - name: a first order earns the welcome bonus
 *       customer: {id: c-1, consent_email: true}   # the state before
 *       budgets: {summer-outdoor: 999000}           # spent before
 *       events:
 *         - type: order.paid
 *           time: 2026-11-24T10:00:00+03:00
 *           data: {order_id: o-1, total: 125000, currency: TRY}
 *       expect:
 *         points_available: 0
 *         points_pending: 1750
 *         points: {base-earn: 1250, first-order: 500}
 *         tier: silver
 *         codes: [{rule: big-basket-gift, kind: gift_card, amount: 10000}]
 *         offers: [{rule: first-order, template: welcome, channels: [email, sms]}]
 *
 * Events are CloudEvents as YAML: `type`, `time` and `data` are required;
 * `id` defaults to "<case number>-<event number>", `source` to
 * "loyaltyctl-test" and `data.customer_id` to the case's customer. Only
 * the expectations written are checked.
 */
#ifndef LOYALTY_CASES_H
#define LOYALTY_CASES_H

#include <stddef.h>

#include "loyalty/engine.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

/*
 * Runs every case of the file at path against program. Appends one line
 * per case to report ("PASS name", or "FAIL name (file:line:col)" and one
 * indented line per difference, "  points_pending: expected 1750, got
 * 1250"), then "N passed, N failed". Returns 0 when the file was run
 * (*passed and *failed say how it went), LY_EINVAL with "file:line:col:
 * message" in errstr when the file is refused (a bad key, an event the
 * decoder rejects, an expectation naming an unknown rule), LY_EIO when it
 * cannot be read, LY_ENOMEM.
 */
int ly_cases_run(const ly_program_t *program, const char *path,
		 ly_buf_t *report, size_t *passed, size_t *failed,
		 char *errstr, size_t errstr_size);

/*
 * Reads a customer state file: a YAML (or JSON) mapping with the keys of a
 * case's `customer` (id, points_available, points_pending, order_count,
 * lifetime_spend, window_spend, tier, segment, last_order, clv,
 * top_category, locale, first_name, consent_email, consent_sms,
 * birth_date, limits: [{rule, period, count}]) and `budgets` ({rule:
 * spent}). Fills *cs (strings in arena) and shared->budget_spent (which
 * must be program->rules_len long). 0, LY_EINVAL with "file:line:col:
 * message", LY_EIO or LY_ENOMEM.
 */
int ly_customer_state_load(ly_customer_state_t *cs, ly_engine_shared_t *shared,
			   const ly_program_t *program, const char *path,
			   ly_arena_t *arena, char *errstr, size_t errstr_size);

#endif
