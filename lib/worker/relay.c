/*
 * relay.c: the outbox relay's thread (relay.h).
 *
 * The relay has its own PostgreSQL connection and runs beside the batches:
 * while one batch's transaction is written, the rows of the one before go
 * out to Kafka and are marked, on another backend and another core. A
 * batch's commit wakes it; with nothing committed it looks every
 * IDLE_MS all the same (rows a crash left behind, another replica's rows
 * whose relay died, a broker outage's backlog). Outbox upkeep lives here
 * too: the backlog gauges and the pruning of published rows.
 */
#include "relay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loyalty/outbox.h"
#include "loyalty/store.h"
#include "loyalty/util.h"
#include "mono.h"

#define ROWS_MAX 2000    /* rows per pass (one transaction) */
#define FLUSH_MS 30000   /* longest wait for the broker's acknowledgements */
#define IDLE_MS 1000     /* a pass at least this often */
#define BACKLOG_EVERY_MS 5000 /* how often the outbox backlog is measured */
#define PRUNE_ROWS_MAX 10000  /* published rows deleted per turn */

struct ly_relay {
	const ly_config_t *cfg;
	rd_kafka_t *producer;
	ly_metrics_t *metrics;
	void (*reached)(void *opaque, int ok);
	void *opaque;
	ly_store_t *store;
	ly_arena_t *arena;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int kicked, stopping; /* under mu */
	atomic_uint_fast64_t published;
	int64_t last_backlog_ms, last_prune_ms;
};

static void tell_reached(ly_relay_t *r, int ok)
{
	r->reached(r->opaque, ok);
}

/* Publishes what the outbox holds, until it is empty or a pass fails. */
static void drain(ly_relay_t *r)
{
	char errstr[512];
	for (;;) {
		ly_outbox_pass_t pass;
		ly_arena_reset(r->arena);
		int rc = ly_outbox_relay(r->store, r->producer, ROWS_MAX, FLUSH_MS,
					 r->cfg->outbox_keep_published_s > 0, &pass,
					 r->arena, errstr, sizeof(errstr));
		if (rc) {
			ly_log(LY_LOG_WARN, "outbox", "relay: %s", errstr);
			if (rc == LY_ERETRY)
				tell_reached(r, ly_store_reconnect(r->store, errstr,
							      sizeof(errstr)) == 0);
			return;
		}
		tell_reached(r, 1);
		atomic_fetch_add(&r->published, pass.published);
		ly_metrics_add(r->metrics, LY_M_OUTBOX_PUBLISHED, NULL, NULL,
			       (double)pass.published);
		if (pass.withdrawn_email)
			ly_metrics_add(r->metrics, LY_M_OFFERS, "email", "consent_withdrawn",
				       (double)pass.withdrawn_email);
		if (pass.withdrawn_sms)
			ly_metrics_add(r->metrics, LY_M_OFFERS, "sms", "consent_withdrawn",
				       (double)pass.withdrawn_sms);
		if (pass.claimed < ROWS_MAX ||
		    pass.published + pass.withdrawn_email + pass.withdrawn_sms < pass.claimed)
			return; /* all there was, or the rest failed: next turn */
	}
}

/* What is left, now and then: a query over the partial index. */
static void measure(ly_relay_t *r)
{
	if (!r->metrics || ly_time_mono_ms() - r->last_backlog_ms < BACKLOG_EVERY_MS)
		return;
	char errstr[512];
	int64_t rows;
	double age;
	if (ly_store_outbox_backlog(r->store, &rows, &age, errstr, sizeof(errstr)) == 0) {
		ly_metrics_set(r->metrics, LY_M_OUTBOX_BACKLOG, NULL, NULL, (double)rows);
		ly_metrics_set(r->metrics, LY_M_OUTBOX_LAG, NULL, NULL, age);
		r->last_backlog_ms = ly_time_mono_ms();
	}
}

/*
 * Deletes published outbox rows older than outbox.keep_published_s every
 * outbox.prune_interval_ms, PRUNE_ROWS_MAX per turn (a turn that deleted
 * that many comes back at the next turn). With outbox.keep_published_s 0
 * the relay deletes rows as it publishes them, and this finds only rows
 * marked while the setting was higher.
 */
static void prune(ly_relay_t *r)
{
	const int64_t every = r->cfg->outbox_prune_interval_ms;
	if (every <= 0 || ly_time_mono_ms() - r->last_prune_ms < every)
		return;
	r->last_prune_ms = ly_time_mono_ms();
	char errstr[512];
	size_t deleted = 0;
	int rc = ly_store_outbox_prune(r->store, r->cfg->outbox_keep_published_s,
				       PRUNE_ROWS_MAX, &deleted, errstr, sizeof(errstr));
	if (rc) {
		ly_log(LY_LOG_WARN, "outbox", "prune failed: %s", errstr);
		return;
	}
	if (deleted == PRUNE_ROWS_MAX)
		r->last_prune_ms -= every;
	if (deleted)
		ly_metrics_add(r->metrics, LY_M_OUTBOX_PRUNED, NULL, NULL, (double)deleted);
}

static void *run(void *arg)
{
	ly_relay_t *r = arg;
	pthread_mutex_lock(&r->mu);
	while (!r->stopping) {
		if (!r->kicked) {
			struct timespec until;
			ly_mono_deadline(&until, IDLE_MS);
			pthread_cond_timedwait(&r->cv, &r->mu, &until);
		}
		r->kicked = 0;
		pthread_mutex_unlock(&r->mu);
		drain(r);
		measure(r);
		prune(r);
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	drain(r); /* what the last batches wrote */
	return NULL;
}

int ly_relay_start(ly_relay_t **out, const ly_config_t *cfg, rd_kafka_t *producer,
		   ly_metrics_t *metrics, void (*reached)(void *opaque, int ok),
		   void *opaque, char *errstr, size_t errstr_size)
{
	ly_relay_t *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	r->cfg = cfg;
	r->producer = producer;
	r->metrics = metrics;
	r->reached = reached;
	r->opaque = opaque;
	pthread_mutex_init(&r->mu, NULL);
	ly_mono_cond_init(&r->cv);
	r->kicked = 1; /* rows a crash left behind */
	r->arena = ly_arena_new(1 << 20);
	if (!r->arena) {
		snprintf(errstr, errstr_size, "out of memory");
		ly_relay_stop(r);
		return LY_ENOMEM;
	}
	int rc = ly_store_open(&r->store, cfg->postgres_conninfo, cfg->postgres_schema,
			       errstr, errstr_size);
	if (rc == 0 && pthread_create(&r->thread, NULL, run, r) != 0) {
		snprintf(errstr, errstr_size, "relay: cannot start its thread");
		rc = LY_EIO;
	}
	if (rc) {
		ly_relay_stop(r);
		return rc;
	}
	r->started = 1;
	*out = r;
	return 0;
}

void ly_relay_kick(ly_relay_t *r)
{
	pthread_mutex_lock(&r->mu);
	r->kicked = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

uint64_t ly_relay_published(ly_relay_t *r)
{
	return r ? atomic_load(&r->published) : 0;
}

uint64_t ly_relay_stop(ly_relay_t *r)
{
	if (!r)
		return 0;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stopping = 1;
		pthread_cond_signal(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	ly_store_close(r->store);
	ly_arena_destroy(r->arena);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	const uint64_t published = atomic_load(&r->published);
	free(r);
	return published;
}
