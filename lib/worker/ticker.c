/*
 * ticker.c: the scheduler's thread (ticker.h).
 *
 * The scheduler has its own PostgreSQL connection and runs beside the
 * batches, as a replica's scheduler does: its transactions take due
 * customers FOR UPDATE SKIP LOCKED, so a pass skips the customers a batch
 * holds, and a batch waits only for a customer a pass's transaction holds,
 * never for the whole pass. (It used to run between batches, on the batch's connection:
 * each refund of a customer with a tier makes them due at once, for the
 * tier's evaluation, so at 5,000 events/s a pass ran after every batch
 * and every event waited for it.)
 *
 * Every scheduler.interval_ms it runs a pass: transactions of up to
 * scheduler.batch_customers customers, back to back while they come full,
 * the wall clock as now. The stop is looked at between transactions.
 */
#include "ticker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "loyalty/store.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"
#include "mono.h"

struct ly_ticker {
	const ly_config_t *cfg;
	ly_ticker_done_fn done;
	void *opaque;
	ly_store_t *store;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* broadcast: a transaction ended, or the stop */
	/* under mu: the program of the next transaction, the one of the
	 * transaction in progress (NULL: none), the stop */
	const ly_program_t *program, *in_use;
	int stopping;
};

/* One transaction with program; 1 when it came full (more may be due). */
static int transaction(ly_ticker_t *t, const ly_program_t *program)
{
	ly_scheduler_stats_t st;
	char errstr[512];
	int rc = ly_scheduler_pass(t->store, t->cfg, program, ly_time_now_us(), 1, &st,
				   errstr, sizeof(errstr));
	if (rc) {
		ly_log(LY_LOG_WARN, "scheduler", "pass failed: %s", errstr);
		t->done(t->opaque,
			rc != LY_ERETRY ||
				ly_store_reconnect(t->store, errstr, sizeof(errstr)) == 0,
			0);
		return 0;
	}
	const int wrote = st.customers || st.dead_lettered;
	t->done(t->opaque, 1, wrote);
	if (wrote)
		ly_log(LY_LOG_INFO, "scheduler",
		       "pass: %llu customers, %llu released, %llu expired, %llu triggers, "
		       "%llu held refunds dead-lettered",
		       (unsigned long long)st.customers, (unsigned long long)st.released,
		       (unsigned long long)st.expired, (unsigned long long)st.triggers,
		       (unsigned long long)st.dead_lettered);
	return st.more;
}

static void *run(void *arg)
{
	ly_ticker_t *t = arg;
	pthread_mutex_lock(&t->mu);
	while (!t->stopping) {
		const ly_program_t *program = t->in_use = t->program;
		pthread_mutex_unlock(&t->mu);
		const int more = transaction(t, program);
		pthread_mutex_lock(&t->mu);
		t->in_use = NULL;
		pthread_cond_broadcast(&t->cv);
		if (more)
			continue;
		struct timespec until;
		ly_mono_deadline(&until, t->cfg->scheduler_interval_ms);
		while (!t->stopping &&
		       pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
			;
	}
	pthread_mutex_unlock(&t->mu);
	return NULL;
}

int ly_ticker_start(ly_ticker_t **out, const ly_config_t *cfg,
		    const ly_program_t *program, ly_ticker_done_fn done, void *opaque,
		    char *errstr, size_t errstr_size)
{
	LY_ASSERT(cfg->scheduler_interval_ms > 0);
	ly_ticker_t *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	t->cfg = cfg;
	t->done = done;
	t->opaque = opaque;
	t->program = program;
	pthread_mutex_init(&t->mu, NULL);
	ly_mono_cond_init(&t->cv);
	int rc = ly_store_open(&t->store, cfg->postgres_conninfo, cfg->postgres_schema,
			       errstr, errstr_size);
	if (rc == 0 && pthread_create(&t->thread, NULL, run, t) != 0) {
		snprintf(errstr, errstr_size, "scheduler: cannot start its thread");
		rc = LY_EIO;
	}
	if (rc) {
		ly_ticker_stop(t);
		return rc;
	}
	t->started = 1;
	*out = t;
	return 0;
}

void ly_ticker_set_program(ly_ticker_t *t, const ly_program_t *program)
{
	pthread_mutex_lock(&t->mu);
	const ly_program_t *before = t->program;
	t->program = program;
	while (before != program && t->in_use == before)
		pthread_cond_wait(&t->cv, &t->mu);
	pthread_mutex_unlock(&t->mu);
}

void ly_ticker_stop(ly_ticker_t *t)
{
	if (!t)
		return;
	if (t->started) {
		pthread_mutex_lock(&t->mu);
		t->stopping = 1;
		pthread_cond_broadcast(&t->cv);
		pthread_mutex_unlock(&t->mu);
		pthread_join(t->thread, NULL);
	}
	ly_store_close(t->store);
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->mu);
	free(t);
}
