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
#include "loyalty/program.h"
#include "loyalty/util.h"

/* A customer's state as the engine sees it; updated in place. */
typedef struct ly_customer_state {
	const char *customer_id; /* borrowed */
	int64_t available;
	int64_t pending;
	int changed; /* set by the engine when a posting touched it */
} ly_customer_state_t;

/* One ledger line. Credits from earning are also lots. */
typedef struct ly_posting {
	const char *rule_id; /* borrowed from the program; NULL: no rule */
	int64_t delta_available;
	int64_t delta_pending;
	int64_t available_at_us; /* when the credit becomes available */
	int64_t expires_at_us;   /* 0: never */
	const char *reason;      /* arena: "floor(125000/100)*1" */
	int64_t available_after; /* the customer's balances after this line */
	int64_t pending_after;
} ly_posting_t;

typedef struct ly_effects {
	ly_posting_t *postings; /* arena */
	size_t postings_len;
} ly_effects_t;

/*
 * Applies ev for state->customer_id: the rules on ev's type run in file
 * order; each whose `active` window holds ev->time_us and whose `if` is
 * true fires, earns, and with `stop: true` ends the run. Expressions see
 * the event's data and customer.points_available / points_pending as they
 * were before ev. Returns 0 and fills *out (arena memory, valid until the
 * arena is reset), or LY_EINVAL when evaluation fails (an overflow, a
 * division by zero, a field this version cannot give): then errstr says
 * why (`rule "x": prog.yaml:7:9: division by zero`), state is unchanged
 * and the event must not be applied. LY_ENOMEM when the arena is
 * exhausted. program should have passed ly_engine_check_program.
 */
int ly_engine_apply(ly_effects_t *out, const ly_program_t *program,
		    ly_customer_state_t *state, const ly_event_t *ev,
		    ly_arena_t *arena, char *errstr, size_t errstr_size);

/* What became of one rule for one event, in the order the engine asks. */
typedef enum ly_rule_outcome {
	LY_RULE_SKIPPED = 1, /* `on` another event type */
	LY_RULE_NOT_ACTIVE,  /* the event time is outside `active` */
	LY_RULE_IF_FALSE,    /* `if` is false (or absent) */
	LY_RULE_STOPPED,     /* an earlier firing rule had `stop: true` */
	LY_RULE_FIRED,       /* fired; earned points (maybe 0) */
} ly_rule_outcome_t;

/*
 * One rule's line of an explanation, for people. why is the whole line
 * after the rule id, e.g. `skipped: on review.submitted`, `not active:
 * 2026-11-01T23:59:00+03:00 is outside [2026-06-01, 2026-09-01)
 * Europe/Istanbul`, `if false: order.total >= 100000: 99000 >= 100000 ->
 * false`, `stopped by rule "photo-review"`, `fired: +1250 pending until
 * 2026-12-06T10:00:00Z: floor(125099/100)*1`, `fired: +25 available: 25`
 * or `fired: 0 points (floor(99/100)*1)`.
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
 * *traces (arena, program->rules_len long on success). state is updated
 * as ly_engine_apply updates it; the caller that only wants to look
 * passes a copy. On an evaluation error (LY_EINVAL, errstr as for
 * ly_engine_apply) *traces holds the rules before the failing one and
 * *traces_len says how many. Writes nothing anywhere else.
 */
int ly_engine_explain(ly_rule_trace_t **traces, size_t *traces_len,
		      ly_effects_t *out, const ly_program_t *program,
		      ly_customer_state_t *state, const ly_event_t *ev,
		      ly_arena_t *arena, char *errstr, size_t errstr_size);

/*
 * Whether this version of the engine runs program as written. The loader
 * accepts the whole language of SPEC section 5; the engine evaluates only
 * part of it today (docs/program.md says which). Returns 0 when every part
 * the program uses is evaluated, else LY_EINVAL with the first part in file
 * order that would be ignored, e.g. `prog.yaml:7:5: rule "x": "limit" is
 * not evaluated by this version of the engine`, or an expression reading a
 * customer.* field the engine does not keep yet (all but points_available
 * and points_pending), at its key: `prog.yaml:7:5: rule "x": field
 * "customer.order_count" is not kept by this version`. A program that fails
 * this check must not be run: it would run with parts of it silently
 * ignored.
 */
int ly_engine_check_program(const ly_program_t *program, char *errstr,
			    size_t errstr_size);

/* Discount and gift card codes: 12 characters from an alphabet without the
 * look-alikes 0/O, 1/I/L and U (30 symbols, about 58 bits). */
#define LY_CODE_LENGTH 12
#define LY_CODE_ALPHABET "23456789ABCDEFGHJKMNPQRSTVWXYZ"

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
