/*
 * worker_int.h: what the batch (worker.c) and the scheduler's pass
 * (scheduler.c) share: applying an event with what follows it, the
 * output messages, and writing it all in the open transaction. Not
 * installed.
 */
#ifndef LOYALTY_WORKER_INT_H
#define LOYALTY_WORKER_INT_H

#include "loyalty/config.h"
#include "loyalty/engine.h"
#include "loyalty/store.h"

/* One event applied: an input, a trigger, a held refund, a release. */
typedef struct ly_applied {
	const ly_event_t *ev;
	ly_effects_t fx;
	ly_customer_state_t *state;
	size_t root; /* the index of the input event it came from */
} ly_applied_t;

typedef struct ly_applied_list {
	ly_applied_t *items;
	size_t len, cap;
} ly_applied_list_t;

/* Appends one (arena memory); NULL when out of memory. */
ly_applied_t *ly_applied_add(ly_applied_list_t *list, ly_arena_t *arena);

/*
 * Applies ev to st and then, in order, what it causes for the same
 * customer (triggers, refunds that waited for the order), each appended to
 * list with root. LY_EINVAL (errstr) when ev itself fails (st unchanged,
 * nothing appended) or *followup_failed set when one after it failed (st
 * changed: the caller must redo its work without ev).
 */
int ly_apply_chain(ly_applied_list_t *list, size_t root, const ly_program_t *program,
		   ly_engine_shared_t *shared, ly_customer_state_t *st,
		   const ly_event_t *ev, int *followup_failed, ly_arena_t *arena,
		   char *errstr, size_t errstr_size);

/* Applies what list's items from first on cause for st (their triggers,
 * and theirs), appending each with root. LY_EINVAL (errstr) when one
 * fails; st is then changed. */
int ly_apply_followups(ly_applied_list_t *list, size_t first, size_t root,
		       const ly_program_t *program, ly_engine_shared_t *shared,
		       ly_customer_state_t *st, ly_arena_t *arena, char *errstr,
		       size_t errstr_size);

/* Extra rows and held refunds of the caller, written with the rest. */
typedef struct ly_apply_extra {
	const ly_store_outbox_row_t *rows; /* dead letters */
	size_t rows_len;
	const ly_store_held_row_t *held;
	size_t held_len;
} ly_apply_extra_t;

/*
 * Writes what list and states say: ledger lines, balances, profiles, lots,
 * orders, requests, limit counts, codes and their uses, queued triggers,
 * and the outbox rows (points.changed, tier.changed, redemptions, extra).
 * Not the budgets nor the offsets. Returns the store's code.
 */
int ly_apply_write(ly_store_t *store, const ly_config_t *cfg,
		   const ly_program_t *program, const ly_engine_shared_t *shared,
		   ly_customer_state_t *states, size_t states_len,
		   const ly_applied_list_t *list, const ly_apply_extra_t *extra,
		   ly_arena_t *arena, char *errstr, size_t errstr_size);

/* A dead letter from stored bytes (a held refund that timed out). */
int ly_dead_letter_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
		       const ly_store_held_row_t *held, const char *code,
		       const char *message, ly_arena_t *arena);

#endif
