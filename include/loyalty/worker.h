/*
 * worker.h: the processing loop of loyaltyd. One batch, end to end: poll
 * messages, decode them (bad ones become dead letters), claim their ids,
 * lock and load the batch's customers, run the engine on each event in
 * partition order, write every effect and the next offsets in one
 * transaction, commit the offsets to Kafka, then relay the outbox.
 */
#ifndef LOYALTY_WORKER_H
#define LOYALTY_WORKER_H

#include <stdint.h>

#include "loyalty/config.h"
#include "loyalty/metrics.h"
#include "loyalty/program.h"

typedef struct ly_worker ly_worker_t;

typedef struct ly_worker_stats {
	uint64_t batches;
	uint64_t events_applied;
	uint64_t events_duplicate;
	uint64_t events_rejected;
	uint64_t postings;
	uint64_t codes; /* discount codes and gift cards issued */
	uint64_t outbox_published;
	uint64_t tx_retries;
	uint64_t offset_conflicts;
} ly_worker_stats_t;

/*
 * Connects to PostgreSQL and Kafka (bootstrap: the broker list, or the
 * embedded cluster's address). cfg, program and metrics (NULL: none) are
 * borrowed and must outlive the worker. The caller frees with
 * ly_worker_destroy. LY_EINVAL, before connecting, when a rule of program
 * issues codes and cfg->codes_secret is empty: codes must not be
 * guessable.
 */
int ly_worker_new(ly_worker_t **out, const ly_config_t *cfg,
		  const char *bootstrap, const ly_program_t *program,
		  ly_metrics_t *metrics, char *errstr, size_t errstr_size);

/*
 * Runs until *stop is non-zero, then finishes the batch in hand, commits,
 * publishes what it can and returns 0; LY_EIO on a fatal error. When
 * *reload is non-zero (SIGHUP) it clears it and, between batches, loads
 * the program file again: a file that does not load or that this worker
 * cannot run is refused, logged and counted, and the running program
 * stays. reload may be NULL.
 */
int ly_worker_run(ly_worker_t *worker, volatile int *stop,
		  volatile int *reload);

/*
 * The probes behind /healthz and /readyz; safe to call from another
 * thread. healthy: the processing loop has gone round (polled, or retried
 * a batch) within http.stall_timeout_ms. ready: PostgreSQL and a broker
 * could be reached the last time they were tried. Each returns 1, or 0
 * with the reason in why.
 */
int ly_worker_healthy(ly_worker_t *worker, char *why, size_t why_size);
int ly_worker_ready(ly_worker_t *worker, char *why, size_t why_size);

void ly_worker_get_stats(const ly_worker_t *worker, ly_worker_stats_t *out);

/* Leaves the group and frees. Accepts NULL. */
void ly_worker_destroy(ly_worker_t *worker);

/* What a scheduler pass did. */
typedef struct ly_scheduler_stats {
	uint64_t customers;     /* with work done */
	uint64_t released;      /* lots released */
	uint64_t expired;       /* lots expired */
	uint64_t triggers;      /* birthdays, reminders, segment and tier
				 * changes, referrals */
	uint64_t postings;
	uint64_t dead_lettered; /* held refunds whose order never came */
	uint64_t errors;        /* triggers whose rules failed */
	int more;               /* stopped at max_tx after a full transaction:
				 * more may be due */
} ly_scheduler_stats_t;

/*
 * One pass of the scheduler at now_us (docs/lifecycle.md): transactions of
 * up to scheduler.batch_customers customers with work due, until none is
 * left that another replica does not hold, or max_tx transactions (0: no
 * bound) have committed. Returns 0 or the store's code (LY_ERETRY:
 * PostgreSQL is away; the next pass picks up).
 */
struct ly_store;
int ly_scheduler_pass(struct ly_store *store, const ly_config_t *cfg,
		      const ly_program_t *program, int64_t now_us, size_t max_tx,
		      ly_scheduler_stats_t *stats, char *errstr, size_t errstr_size);

#endif
