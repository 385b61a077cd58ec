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
#include "loyalty/program.h"

typedef struct ly_worker ly_worker_t;

typedef struct ly_worker_stats {
	uint64_t batches;
	uint64_t events_applied;
	uint64_t events_duplicate;
	uint64_t events_rejected;
	uint64_t postings;
	uint64_t outbox_published;
	uint64_t tx_retries;
	uint64_t offset_conflicts;
} ly_worker_stats_t;

/*
 * Connects to PostgreSQL and Kafka (bootstrap: the broker list, or the
 * embedded cluster's address). program is borrowed and must outlive the
 * worker. The caller frees with ly_worker_destroy.
 */
int ly_worker_new(ly_worker_t **out, const ly_config_t *cfg,
		  const char *bootstrap, const ly_program_t *program,
		  char *errstr, size_t errstr_size);

/*
 * Runs until *stop is non-zero, then finishes the batch in hand, commits,
 * publishes what it can and returns 0; LY_EIO on a fatal error.
 */
int ly_worker_run(ly_worker_t *worker, volatile int *stop);

void ly_worker_get_stats(const ly_worker_t *worker, ly_worker_stats_t *out);

/* Leaves the group and frees. Accepts NULL. */
void ly_worker_destroy(ly_worker_t *worker);

#endif
