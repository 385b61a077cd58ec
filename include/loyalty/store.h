/*
 * store.h: PostgreSQL. Migrations, the per-batch transaction (claim event
 * ids, lock and load customers and their limit counts, read budgets, write
 * postings, lots, balances, limit counts, codes, outbox rows, budgets and
 * the next offsets with a compare-and-set), the outbox queue, and the read
 * side for loyaltyctl (balance, history, verify).
 *
 * One ly_store_t owns one connection and is used by one thread. Every
 * statement is parameterised: no SQL is ever built from input text.
 */
#ifndef LOYALTY_STORE_H
#define LOYALTY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/engine.h"
#include "loyalty/program.h"
#include "loyalty/tz.h"
#include "loyalty/util.h"

typedef struct ly_migration {
	int version;
	const char *name;
	const char *sql;
} ly_migration_t;

/* Compiled in from schemas/sql/ (sorted by version). */
extern const ly_migration_t ly_migrations[];
extern const size_t ly_migrations_len;

typedef struct ly_store ly_store_t;

/*
 * Connects and sets search_path to schema. Returns 0 and *out (the caller
 * frees with ly_store_close), or LY_EIO with errstr (never the password).
 */
int ly_store_open(ly_store_t **out, const char *conninfo, const char *schema,
		  char *errstr, size_t errstr_size);
/* Accepts NULL. */
void ly_store_close(ly_store_t *store);
/* 1 while the connection is up as far as libpq knows. */
int ly_store_connected(const ly_store_t *store);
/* Drops and re-opens the connection. 0 or LY_EIO. */
int ly_store_reconnect(ly_store_t *store, char *errstr, size_t errstr_size);

/*
 * Creates the schema and applies every migration not applied yet, each in
 * its own transaction, under an advisory lock so replicas may run it at
 * once. *applied counts the migrations applied now.
 */
int ly_store_migrate(ly_store_t *store, int *applied, char *errstr,
		     size_t errstr_size);

/* Next offsets stored for group/topic and these partitions; -1 if none. */
int ly_store_load_offsets(ly_store_t *store, const char *group,
			  const char *topic, const int32_t *partitions,
			  size_t partitions_len, int64_t *next_out,
			  char *errstr, size_t errstr_size);

/* ---- the batch transaction ---- */

/* An input event of the batch, in partition order. */
typedef struct ly_store_event {
	const ly_event_t *ev;
	const char *topic;
	int32_t partition;
	int64_t offset;
	int duplicate; /* out of ly_store_claim_events: seen before */
} ly_store_event_t;

/* A message for the outbox. */
typedef struct ly_store_outbox_row {
	const char *customer_id; /* "" for dead letters */
	const char *topic;
	const void *key;
	size_t key_len; /* key NULL: no key */
	const char *message_id; /* NULL for dead letters */
	const void *payload;
	size_t payload_len;
	const void *headers; /* encoded by ly_outbox_headers_encode */
	size_t headers_len;
	/* an offer: its channel ("email", "sms") and the customer's count of
	 * withdrawals of that consent when it was made; NULL otherwise */
	const char *channel;
	int64_t withdrawals;
} ly_store_outbox_row_t;

/* An offer on one channel, sent or suppressed, for the offers table. */
typedef struct ly_store_offer_row {
	const ly_event_t *ev;
	const ly_offer_made_t *offer;
	const ly_offer_send_t *send;
	const char *offer_id;
} ly_store_offer_row_t;

/* The key of the advisory lock a relay takes on a customer's rows
 * (pg_try_advisory_xact_lock(key, hashtext(customer_id))). */
#define LY_STORE_RELAY_LOCK "1819242596"

/* A ledger line with the event it belongs to. */
typedef struct ly_store_posting {
	const ly_event_t *ev;
	const ly_posting_t *posting;
} ly_store_posting_t;

/* The next offset of one partition, written by compare-and-set: the row
 * must hold expected_next (-1: no row yet). */
typedef struct ly_store_offset {
	const char *topic;
	int32_t partition;
	int64_t expected_next;
	int64_t next;
} ly_store_offset_t;

/*
 * Each step below returns 0, LY_ERETRY (serialization failure, deadlock or
 * lost connection: roll back and retry the batch), LY_ECONFLICT (an offset
 * compare-and-set failed: the partition has another owner) or LY_EIO.
 */
int ly_store_begin(ly_store_t *store, char *errstr, size_t errstr_size);
/*
 * In an open transaction: from here to ly_store_pipeline_end, a write whose
 * result is not needed is sent without waiting for the answer (libpq's
 * pipeline mode), so the server runs one statement while the next is
 * built. A statement that reads waits for its answer and for all sent
 * before it. ly_store_pipeline_end waits for the rest and returns the
 * first failure (the store's code); ly_store_rollback ends it too.
 */
int ly_store_pipeline_begin(ly_store_t *store, char *errstr, size_t errstr_size);
int ly_store_pipeline_end(ly_store_t *store, char *errstr, size_t errstr_size);
/* Ends the transaction: sends COMMIT after what the pipeline holds, and
 * all of it to the server, which goes on while the caller does other
 * work. Nothing may be sent after it; ly_store_pipeline_end then waits for
 * the answers, the commit's last: 0 when the transaction committed. */
int ly_store_pipeline_commit(ly_store_t *store, char *errstr, size_t errstr_size);
/*
 * A pipeline's writes are queued in the client without waiting for the
 * server to take them, so a large batch's do not hold the caller up;
 * ly_store_pipeline_end pushes out what is left. While another store waits
 * for the answers of a single statement, it pushes out what pump still
 * has to send (pump NULL: nothing). docs/design.md, "Two batches in
 * flight".
 */
void ly_store_set_pump(ly_store_t *store, ly_store_t *pump);
/* Records each event's id; marks the ones seen before as duplicate. */
int ly_store_claim_events(ly_store_t *store, ly_store_event_t *events,
			  size_t events_len, ly_arena_t *arena, char *errstr,
			  size_t errstr_size);
/* Locks (creating when absent) and loads the customers' balances, in
 * customer_id order. states[i].customer_id is the input. */
int ly_store_lock_customers(ly_store_t *store, ly_customer_state_t *states,
			    size_t states_len, ly_arena_t *arena,
			    char *errstr, size_t errstr_size);
int ly_store_write_postings(ly_store_t *store, const char *program_version,
			    const ly_store_posting_t *postings,
			    size_t postings_len, ly_arena_t *arena,
			    char *errstr, size_t errstr_size);
/* Writes the balances of the states marked changed. */
int ly_store_write_balances(ly_store_t *store,
			    const ly_customer_state_t *states,
			    size_t states_len, ly_arena_t *arena,
			    char *errstr, size_t errstr_size);

/* A limit count the batch may need: state's customer, rule index rule of
 * the program, the period key of an event's time (ly_period_key). */
typedef struct ly_store_limit_key {
	ly_customer_state_t *state; /* borrowed */
	uint32_t rule;
	char period[LY_PERIOD_KEY_MAX];
} ly_store_limit_key_t;

/*
 * After ly_store_lock_customers (the rows are then stable): appends to
 * each key's state->limits the stored count of (customer, rule, period),
 * unchanged, for the keys that have one; a key without a row is a count of
 * 0 the engine adds when the rule fires. Keys may repeat. The counts live
 * in arena. program gives the rule ids.
 */
int ly_store_load_limits(ly_store_t *store, const ly_program_t *program,
			 const ly_store_limit_key_t *keys, size_t keys_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size);
/* Writes every count of the states' limits marked changed (upsert: the
 * customers are locked, so nobody else writes them). */
int ly_store_write_limits(ly_store_t *store, const ly_program_t *program,
			  const ly_customer_state_t *states, size_t states_len,
			  ly_arena_t *arena, char *errstr, size_t errstr_size);

/*
 * Reads, without a lock, the points spent so far by each rule of program
 * with a budget into spent[i] (program->rules_len long; 0 for a rule
 * without a budget or without a row yet).
 */
int ly_store_load_budgets(ly_store_t *store, const ly_program_t *program,
			  int64_t *spent, ly_arena_t *arena, char *errstr,
			  size_t errstr_size);
/*
 * Adds delta[i] (program->rules_len long) to the spent points of each rule
 * i with delta[i] > 0, on the condition that the sum stays within the
 * rule's budget. Call it last before the offsets, so the rows are locked
 * only until the commit. When another replica has spent meanwhile and a
 * rule's sum would cross its budget, nothing is written and it returns
 * LY_ERETRY: the batch must be rolled back and run again on fresh values.
 */
int ly_store_write_budgets(ly_store_t *store, const ly_program_t *program,
			   const int64_t *delta, ly_arena_t *arena,
			   char *errstr, size_t errstr_size);

/* A code a rule issued, with the event it issued it for. */
typedef struct ly_store_code {
	const ly_event_t *ev;
	ly_issued_code_t *code; /* borrowed; its text may be replaced */
} ly_store_code_t;

/*
 * Inserts the codes. Codes are unique across all customers: a code that
 * is taken (by another customer, or by an earlier code of this batch) is
 * drawn again as ly_engine_code(secret, source, event id, rule id, n) for
 * n = 1, 2, ... LY_STORE_CODE_DRAWS_MAX, and code->code is replaced in
 * place, so whatever points at the ly_issued_code_t (an offer) sees the
 * code stored. LY_EIO when a code is still taken after that many draws.
 */
#define LY_STORE_CODE_DRAWS_MAX 16
int ly_store_write_codes(ly_store_t *store, const char *program_version,
			 const void *secret, size_t secret_len,
			 ly_store_code_t *codes, size_t codes_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size);
int ly_store_write_outbox(ly_store_t *store,
			  const ly_store_outbox_row_t *rows, size_t rows_len,
			  ly_arena_t *arena, char *errstr, size_t errstr_size);
int ly_store_write_offsets(ly_store_t *store, const char *group,
			   const ly_store_offset_t *offsets,
			   size_t offsets_len, ly_arena_t *arena,
			   char *errstr, size_t errstr_size);
int ly_store_commit(ly_store_t *store, char *errstr, size_t errstr_size);
/* Never fails; a broken connection is reset on the next begin. */
void ly_store_rollback(ly_store_t *store);

/* ---- the lifecycle (docs/lifecycle.md) ---- */

/* After ly_store_lock_customers: each state's profile (customers row). */
int ly_store_load_profiles(ly_store_t *store, const ly_program_t *program,
			   ly_customer_state_t *states, size_t states_len,
			   ly_arena_t *arena, char *errstr, size_t errstr_size);

/* A customer and a key: an order id, a request id, or a time. */
typedef struct ly_store_key {
	ly_customer_state_t *state; /* borrowed */
	const char *key;
	int64_t t_us;
	int64_t lo_us, hi_us; /* window: the span summed, not loaded */
	/* window: a sum of at least this much serves as well as the whole
	 * one, so the summing may stop there (0: the whole sum) */
	int64_t enough;
} ly_store_key_t;

/* What the batch's events need of the customers' lifecycle. */
typedef struct ly_store_needs {
	ly_customer_state_t **lots; /* every open lot (lots_partial cleared) */
	size_t lots_len;
	/* the orders paid after t_us, 0 for all (orders_partial cleared);
	 * those paid in (lo_us, hi_us], when lo_us < hi_us, are summed into
	 * the state's window_base instead, except the ones orders names
	 * (newest first, stopping once the sum reaches the key's enough) */
	ly_store_key_t *window;
	size_t window_len;
	ly_store_key_t *orders; /* the order with id key */
	size_t orders_len;
	ly_store_key_t *held; /* the refunds held for order id key */
	size_t held_len;
	ly_store_key_t *requests; /* request id key, if applied before */
	size_t requests_len;
} ly_store_needs_t;

/* Loads what needs names into the states (locked, with their profiles). */
int ly_store_load_lifecycle(ly_store_t *store, ly_customer_state_t *states,
			    size_t states_len, const ly_store_needs_t *needs,
			    ly_arena_t *arena, char *errstr, size_t errstr_size);
/* Writes the profiles marked changed, the lots made or changed, the orders
 * paid or refunded, and forgets the held refunds applied. */
int ly_store_write_lifecycle(ly_store_t *store, const ly_program_t *program,
			     const ly_customer_state_t *states, size_t states_len,
			     ly_arena_t *arena, char *errstr, size_t errstr_size);

/* A refund held for its order, with the message it came in. */
typedef struct ly_store_held_row {
	const ly_event_t *ev; /* NULL in rows read back */
	const char *customer_id, *order_id; /* rows read back */
	const char *topic;
	int32_t partition;
	int64_t offset;
	const void *key, *payload, *headers;
	size_t key_len, payload_len, headers_len;
} ly_store_held_row_t;
int ly_store_write_held(ly_store_t *store, const ly_store_held_row_t *rows,
			size_t rows_len, char *errstr, size_t errstr_size);
/* Deletes up to limit refunds held since before before_us and returns
 * them (for the DLQ), skipping rows another transaction holds. */
int ly_store_expire_held(ly_store_t *store, int64_t before_us, size_t limit,
			 ly_store_held_row_t **rows, size_t *rows_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size);

/* A redemption or adjustment applied, with its outcome. */
typedef struct ly_store_request_row {
	const ly_event_t *ev;
	const char *outcome;
} ly_store_request_row_t;
int ly_store_write_requests(ly_store_t *store, const ly_store_request_row_t *rows,
			    size_t rows_len, char *errstr, size_t errstr_size);

/* In batch order: a coupon code an order carried (code set), or the void
 * of the unused gift cards of an order's event (order_event_id set); ev is
 * the order.paid or the refund. After ly_store_write_codes. */
typedef struct ly_store_code_op {
	const ly_event_t *ev;
	const char *code;
	const char *order_event_id;
} ly_store_code_op_t;
int ly_store_code_ops(ly_store_t *store, const ly_store_code_op_t *ops,
		      size_t ops_len, char *errstr, size_t errstr_size);

/* Queues triggers for other customers (a referral), once per id. */
int ly_store_queue_triggers(ly_store_t *store, const ly_event_t *const *evs,
			    size_t evs_len, char *errstr, size_t errstr_size);

/* Records each channel of the offers made, sent or suppressed. */
int ly_store_write_offers(ly_store_t *store, const char *program_version,
			  const ly_store_offer_row_t *rows, size_t rows_len,
			  char *errstr, size_t errstr_size);

/* In an open transaction: locks up to limit customers with work due at
 * now_us (FOR UPDATE SKIP LOCKED), in customer_id order. */
int ly_store_due_customers(ly_store_t *store, int64_t now_us, size_t limit,
			   const char ***ids, size_t *ids_len, ly_arena_t *arena,
			   char *errstr, size_t errstr_size);
/* The queued triggers of these customers due by now_us, in time order. */
int ly_store_load_queued(ly_store_t *store, const char *const *ids,
			 size_t ids_len, int64_t now_us, ly_event_t **evs,
			 size_t *evs_len, ly_arena_t *arena, char *errstr,
			 size_t errstr_size);
int ly_store_mark_queued(ly_store_t *store, const ly_event_t *evs,
			 size_t evs_len, char *errstr, size_t errstr_size);

/* ---- the outbox queue ---- */

typedef struct ly_outbox_msg {
	char *customer_id;
	int64_t outbox_id;
	char *topic;
	void *key; /* NULL: no key */
	size_t key_len;
	void *payload;
	size_t payload_len;
	void *headers;
	size_t headers_len;
	char *message_id; /* NULL for dead letters */
	char *channel;    /* an offer's; NULL otherwise */
	char *row;        /* the row's ctid, "(block,item)": marked by it */
	int withdrawn; /* an offer whose channel's consent is withdrawn */
	int delivered; /* set by the relay */
} ly_outbox_msg_t;

/*
 * In an open transaction: claims unpublished rows in commit order, at
 * most limit: the rows among the first limit of every customer no other
 * relay holds (an advisory lock per customer, held to the end of the
 * transaction, so a customer's rows go out in their order whatever the
 * replicas do). Messages live in arena.
 */
int ly_store_outbox_claim(ly_store_t *store, size_t limit,
			  ly_outbox_msg_t **msgs, size_t *msgs_len,
			  ly_arena_t *arena, char *errstr, size_t errstr_size);
/* Marks the rows with delivered set as published, or deletes them unless
 * keep_published (a dead letter, which holds the input message as it
 * came, is always deleted), and drops the withdrawn ones (their offers
 * recorded as suppressed, consent_withdrawn). */
int ly_store_outbox_mark(ly_store_t *store, const ly_outbox_msg_t *msgs,
			 size_t msgs_len, int keep_published, ly_arena_t *arena,
			 char *errstr, size_t errstr_size);

/* Outside a transaction: deletes at most limit outbox rows published
 * before now minus keep_s seconds; *deleted says how many. */
int ly_store_outbox_prune(ly_store_t *store, int64_t keep_s, size_t limit,
			  size_t *deleted, char *errstr, size_t errstr_size);

/* Outside a transaction: the unpublished outbox rows and the age in
 * seconds of the oldest (0 when none), for the metrics. */
int ly_store_outbox_backlog(ly_store_t *store, int64_t *rows,
			    double *oldest_age_s, char *errstr,
			    size_t errstr_size);

/* ---- the read side (loyaltyctl) ---- */

/* Prints a customer's balance: text or the JSON of SPEC section 9. */
int ly_store_print_balance(ly_store_t *store, const char *customer_id,
			   int json, ly_buf_t *out, char *errstr,
			   size_t errstr_size);
/* Prints a customer's ledger, oldest first, then the codes issued to them:
 * two tables (the second only when there are codes), or one JSON object
 * {"customer_id":..,"ledger":[lines],"codes":[codes]}. */
int ly_store_print_history(ly_store_t *store, const char *customer_id,
			   int json, ly_buf_t *out, char *errstr,
			   size_t errstr_size);
/* Checks every customer's invariant (docs/lifecycle.md, "Lots"): balances
 * equal the ledger's sums, pending equals the unreleased lots' remaining,
 * available equals the released lots' remaining (while it is negative: no
 * released lot has any left), and every lot's remaining is within 0 and
 * its points. Returns 0 when all hold, LY_ECONFLICT with one line per
 * difference in out (at most LY_STORE_VERIFY_LINES_MAX of each kind, then
 * a line saying so), or LY_EIO/LY_ERETRY. */
#define LY_STORE_VERIFY_LINES_MAX 1000
int ly_store_verify(ly_store_t *store, ly_buf_t *out, char *errstr,
		    size_t errstr_size);

/* Outstanding points (lib/store/report.c): the sums of the ledger lines
 * before an instant, over every customer. */
typedef struct ly_liability {
	int64_t available; /* net: a negative balance counts against it */
	int64_t pending;
	int64_t customers; /* holding a non-zero available or pending */
} ly_liability_t;
/* Sums the ledger lines with an event time before before_us (INT64_MAX:
 * every line) into *out. 0, LY_EINVAL when a sum overflows int64, or
 * LY_EIO/LY_ERETRY. */
int ly_store_liability(ly_store_t *store, int64_t before_us,
		       ly_liability_t *out, char *errstr, size_t errstr_size);

/* What ly_store_erase did. */
typedef struct ly_erasure {
	int removed_first_name; /* 1: the profile held one until now */
	int removed_birth_date;
	int already_erased;     /* erased before; erased_at_us is that time */
	int64_t erased_at_us;
	/* kept under the customer id */
	int64_t ledger_lines, lots, orders, codes;
} ly_erasure_t;
/*
 * KVKK/GDPR erasure of one customer, in one transaction with the
 * customer's row locked: first_name and birth_date become NULL and
 * erased_at is set (kept from the first erasure), while the ledger, lots,
 * orders and codes stay. Idempotent. Returns 0 and *out, LY_ENOTFOUND for
 * a customer without a profile (no row is created), or LY_EIO/LY_ERETRY.
 */
int ly_store_erase(ly_store_t *store, const char *customer_id,
		   ly_erasure_t *out, char *errstr, size_t errstr_size);

/*
 * Reads one customer as the engine would see it for ev, without locking or
 * writing: the balances, the limit counts of the periods ev falls in and
 * every rule's budget spent so far (into shared->budget_spent).
 * cs->customer_id is the input. For `loyaltyctl explain --customer`.
 */
int ly_store_load_customer(ly_store_t *store, const ly_program_t *program,
			   ly_customer_state_t *cs, ly_engine_shared_t *shared,
			   const ly_event_t *ev, ly_arena_t *arena, char *errstr,
			   size_t errstr_size);

#endif
