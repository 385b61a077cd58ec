/*
 * worker.c: the processing loop (include/loyalty/worker.h).
 *
 * Exactly once, by construction: a batch's effects, the ids of its events
 * and the next offsets of its partitions are written in one PostgreSQL
 * transaction, and the offsets row is a compare-and-set on the offset this
 * worker read when it was assigned the partition. Kafka's own committed
 * offsets are written afterwards for lag tools and never read back. Output
 * messages go through the outbox, so a crash after commit loses none.
 *
 * Limit counts belong to customers and are loaded after the customers are
 * locked. Budgets are shared by all customers and all replicas: they are
 * read without a lock when the batch starts and written last, by a
 * conditional update that fails (and reruns the batch) if another replica
 * spent meanwhile, so a budget row is locked only while the batch commits.
 */
#include "loyalty/worker.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/kafka.h"
#include "loyalty/metrics.h"
#include "loyalty/outbox.h"
#include "loyalty/store.h"
#include "loyalty/util.h"
#include "relay.h"
#include "ticker.h"
#include "worker_int.h"

#define FLUSH_MS 30000 /* longest wait for the producer's last messages */
#define IDLE_POLL_MS 1000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define RERUN 1 /* finish_batch: roll back and run again at once */
#define REQUEUED 2 /* process_batch: the batch before failed and goes first */

/* ---- one batch ---- */

typedef struct decoded {
	ly_store_event_t *events; /* the good ones, in batch order */
	size_t events_len;
	size_t *event_msg; /* index of each event's message */
	ly_store_outbox_row_t *dead; /* rejected at decoding */
	const char **dead_reason;    /* each one's reject code */
	size_t dead_len;
	/* events whose follow-ups failed: the batch reruns without them, and
	 * they are dead-lettered with why */
	unsigned char *skip;
	char **skip_why;
	/* customers whose every order the batch loads, after an event of
	 * theirs fell outside the window loaded (batch arena; NULL: none) */
	ly_map_t *whole_window;
} decoded_t;

/* A metric's increment, kept until its batch commits. */
typedef struct tally_add {
	ly_metric_t m;
	const char *label, *label2;
	double n;
} tally_add_t;

/* What a batch adds to the statistics and the metrics once committed. */
typedef struct tally {
	tally_add_t *adds;
	size_t adds_len;
	ly_worker_stats_t stats; /* the counts it adds */
} tally_t;

/*
 * The batch whose writes and COMMIT are sent and whose answers are still
 * due (docs/design.md, "Two batches in flight"), with what it needs once
 * they come: its offsets and its tally; or, should it fail, what it takes
 * to run it again (its messages, events and connection).
 */
typedef struct flight {
	int active;
	ly_store_t *store; /* its connection; the next batch's is w->store */
	ly_msg_batch_t batch;
	ly_arena_t *arena; /* its decoded events and all below */
	decoded_t d;
	ly_map_t customers; /* locked by it: the next batch loads them after */
	ly_store_offset_t *offs;
	size_t noffs;
	tally_t tally;
	int64_t t0; /* monotonic ms, when the batch was first tried */
	int rc;     /* once landed: 0 or the store's code, with errstr */
	char errstr[1024];
} flight_t;

struct ly_worker {
	const ly_config_t *cfg;
	const ly_program_t *program;
	ly_program_t *owned; /* a program loaded by a reload, freed by us */
	ly_metrics_t *metrics; /* may be NULL */
	/* For the probes, read from the HTTP thread. */
	_Atomic int64_t last_progress_ms; /* monotonic; the loop went round */
	atomic_int pg_down, brokers_down;
	atomic_size_t paused;   /* partitions waiting for their offsets */
	int64_t last_pending_ms; /* when they were last asked for */
	ly_store_t *store;
	ly_consumer_t *consumer;
	rd_kafka_t *producer;
	ly_relay_t *relay; /* the outbox relay's thread */
	ly_ticker_t *ticker; /* the scheduler's thread; NULL: none */
	ly_arena_t *batch_arena; /* decoded events, reset per batch */
	ly_arena_t *tx_arena;    /* effects, reset per attempt */
	ly_msg_batch_t batch;    /* the batch in hand, decoded into d */
	decoded_t d;
	int decoded;
	flight_t flight;
	/* A batch that waits while the one before it, which failed in
	 * flight, runs again; its events in ahead_arena. */
	ly_msg_batch_t ahead;
	ly_arena_t *ahead_arena;
	decoded_t ahead_d;
	int ahead_decoded;
	ly_worker_stats_t stats;
	/* Budgets and the codes' key, for the engine. budget_spent and
	 * budget_changed are program->rules_len long when a rule has a budget,
	 * else NULL; budget_before holds budget_spent as loaded, so the batch
	 * writes only what it spent itself. */
	ly_engine_shared_t shared;
	int64_t *budget_before;
	int has_limits; /* a rule has a `limit`, or offers have a cap */
	int window_always; /* a rule reads customer.window_spend */
};

static void progressed(ly_worker_t *w);
static void postgres_reached(ly_worker_t *w, int ok);

/* ---- offsets from PostgreSQL on assignment ---- */

static int lookup_offsets(void *opaque, rd_kafka_topic_partition_list_t *parts)
{
	ly_worker_t *w = opaque;
	char errstr[512];
	int32_t *ids = calloc((size_t)parts->cnt + 1, sizeof(*ids));
	int64_t *next = calloc((size_t)parts->cnt + 1, sizeof(*next));
	int rc = 0;
	/* (polls come between batches: w->store is in no transaction, and
	 * a batch in flight landed when the rebalance began) */
	if (!ids || !next) {
		rc = LY_ENOMEM;
		goto out;
	}
	/* One query per topic. */
	for (int i = 0; i < parts->cnt && !rc; i++) {
		const char *topic = parts->elems[i].topic;
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= strcmp(parts->elems[j].topic, topic) == 0;
		if (seen)
			continue;
		size_t n = 0;
		for (int j = i; j < parts->cnt; j++)
			if (strcmp(parts->elems[j].topic, topic) == 0)
				ids[n++] = parts->elems[j].partition;
		rc = ly_store_load_offsets(w->store, w->cfg->kafka_group_id, topic, ids,
					   n, next, errstr, sizeof(errstr));
		if (rc == LY_ERETRY)
			postgres_reached(w, ly_store_reconnect(w->store, errstr,
							       sizeof(errstr)) == 0);
		if (rc) {
			ly_log(LY_LOG_WARN, "worker", "%s", errstr);
			break;
		}
		size_t k = 0;
		for (int j = i; j < parts->cnt; j++)
			if (strcmp(parts->elems[j].topic, topic) == 0) {
				int64_t o = next[k++];
				parts->elems[j].offset = o >= 0 ? o : RD_KAFKA_OFFSET_BEGINNING;
			}
	}
out:
	free(ids);
	free(next);
	return rc;
}

/* ---- building the outbox rows ---- */

/* The Kafka headers of a message, borrowed from it, in arena memory. */
static int message_headers(const rd_kafka_message_t *m, ly_header_t **out,
			   size_t *out_len, ly_arena_t *arena)
{
	rd_kafka_headers_t *hdrs = NULL;
	*out = NULL;
	*out_len = 0;
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return 0;
	size_t n = rd_kafka_header_cnt(hdrs);
	if (n == 0)
		return 0;
	ly_header_t *hs = ly_arena_alloc(arena, n * sizeof(*hs));
	if (!hs)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *name;
		const void *value;
		size_t size;
		if (rd_kafka_header_get_all(hdrs, i, &name, &value, &size))
			break;
		hs[i].key = name;
		hs[i].value = value;
		hs[i].value_len = size;
		(*out_len)++;
	}
	*out = hs;
	return 0;
}

/*
 * A dead letter: the original key, value and headers, plus the error
 * headers of SPEC section 7.
 */
static int dead_letter_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
			   const rd_kafka_message_t *m, const char *code,
			   const char *message, ly_arena_t *arena)
{
	ly_header_t *orig;
	size_t orig_len;
	int rc = message_headers(m, &orig, &orig_len, arena);
	if (rc)
		return rc;
	if (orig_len > LY_OUTBOX_HEADERS_MAX - 5)
		orig_len = LY_OUTBOX_HEADERS_MAX - 5; /* keep room for ours */
	char partition[16], offset[24];
	snprintf(partition, sizeof(partition), "%d", (int)m->partition);
	snprintf(offset, sizeof(offset), "%lld", (long long)m->offset);
	const char *topic = rd_kafka_topic_name(m->rkt);
	ly_header_t ours[] = {
		{"dlq.error.code", code, strlen(code)},
		{"dlq.error.message", message, strlen(message)},
		{"dlq.source.topic", topic, strlen(topic)},
		{"dlq.source.partition", partition, strlen(partition)},
		{"dlq.source.offset", offset, strlen(offset)},
	};
	ly_buf_t b = {0};
	rc = ly_outbox_headers_encode(&b, orig, orig_len);
	if (!rc)
		rc = ly_outbox_headers_encode(&b, ours, LY_ARRAY_LEN(ours));
	if (!rc && !b.data)
		rc = ly_buf_append(&b, "", 0);
	if (rc) {
		ly_buf_free(&b);
		return LY_ENOMEM;
	}
	row->customer_id = "";
	row->topic = cfg->topic_dlq;
	row->key = m->key ? ly_arena_strndup(arena, m->key, m->key_len) : NULL;
	row->key_len = m->key ? m->key_len : 0;
	row->message_id = NULL;
	row->payload = m->payload ? ly_arena_strndup(arena, m->payload, m->len) : NULL;
	row->payload_len = m->payload ? m->len : 0;
	row->headers = ly_arena_strndup(arena, b.data, b.len);
	row->headers_len = b.len;
	ly_buf_free(&b);
	if ((m->key && !row->key) || (m->payload && !row->payload) || !row->headers)
		return LY_ENOMEM;
	return 0;
}

/* ---- one batch ---- */

static int decode_batch(ly_worker_t *w, const ly_msg_batch_t *b, ly_arena_t *arena,
			decoded_t *d)
{
	size_t n = b->len;
	d->events = ly_arena_alloc(arena, (n + 1) * sizeof(*d->events));
	d->event_msg = ly_arena_alloc(arena, (n + 1) * sizeof(*d->event_msg));
	d->dead = ly_arena_alloc(arena, (n + 1) * sizeof(*d->dead));
	d->dead_reason = ly_arena_alloc(arena, (n + 1) * sizeof(*d->dead_reason));
	d->skip = ly_arena_alloc(arena, n + 1);
	d->skip_why = ly_arena_alloc(arena, (n + 1) * sizeof(*d->skip_why));
	d->events_len = d->dead_len = 0;
	d->whole_window = NULL;
	if (!d->events || !d->event_msg || !d->dead || !d->dead_reason || !d->skip ||
	    !d->skip_why)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const rd_kafka_message_t *m = b->msgs[i];
		ly_header_t *hs;
		size_t hn;
		char errstr[512];
		ly_reject_t why = LY_REJECT_NONE;
		ly_event_t *ev = ly_arena_alloc(arena, sizeof(*ev));
		if (!ev || message_headers(m, &hs, &hn, arena))
			return LY_ENOMEM;
		int rc = ly_event_decode(ev, &why, errstr, sizeof(errstr), m->payload,
					 m->payload ? m->len : 0, hs, hn, arena);
		if (rc == LY_ENOMEM)
			return rc;
		if (rc) {
			ly_log(LY_LOG_INFO, "worker",
			       "rejected %s[%d]@%lld: %s: %s",
			       rd_kafka_topic_name(m->rkt), (int)m->partition,
			       (long long)m->offset, ly_reject_code(why), errstr);
			d->dead_reason[d->dead_len] = ly_reject_code(why);
			if (dead_letter_row(&d->dead[d->dead_len++], w->cfg, m,
					    ly_reject_code(why), errstr, arena))
				return LY_ENOMEM;
			continue;
		}
		ly_store_event_t *se = &d->events[d->events_len];
		se->ev = ev;
		se->topic = rd_kafka_topic_name(m->rkt);
		se->partition = m->partition;
		se->offset = m->offset;
		d->event_msg[d->events_len++] = i;
	}
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The state of the event's customer when it is one of states[0, n),
 * else NULL. */
static ly_customer_state_t *state_in(const ly_map_t *bycustomer, const ly_event_t *ev,
				     ly_customer_state_t *states, size_t n)
{
	ly_customer_state_t *st = ly_map_get(bycustomer, ev->customer_id,
					     strlen(ev->customer_id));
	LY_ASSERT(st);
	return st >= states && st < states + n ? st : NULL;
}

/*
 * Loads the limit counts the events of states' customers may need: for
 * each event, the customer's count in the calendar period (program time)
 * of the event's time of every rule with a `limit` it or what it causes
 * may fire, and of the offer caps.
 */
static int load_limits(ly_worker_t *w, const decoded_t *d,
		       const ly_map_t *bycustomer, ly_customer_state_t *states,
		       size_t nstates, ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	const ly_program_t *program = w->program;
	uint32_t *idx = ly_arena_alloc(arena, (program->rules_len + 2) * sizeof(*idx));
	size_t nkeys = 0;
	if (!idx)
		return LY_ENOMEM;
	for (size_t i = 0; i < d->events_len; i++)
		if (!d->events[i].duplicate &&
		    state_in(bycustomer, d->events[i].ev, states, nstates))
			nkeys += ly_limit_indices(program, d->events[i].ev, idx);
	if (nkeys == 0)
		return 0;
	ly_store_limit_key_t *keys = ly_arena_alloc(arena, nkeys * sizeof(*keys));
	if (!keys)
		return LY_ENOMEM;
	nkeys = 0;
	for (size_t i = 0; i < d->events_len; i++) {
		const ly_event_t *ev = d->events[i].ev;
		if (d->events[i].duplicate)
			continue;
		ly_customer_state_t *st = state_in(bycustomer, ev, states, nstates);
		if (!st)
			continue;
		const size_t n = ly_limit_indices(program, ev, idx);
		for (size_t k = 0; k < n; k++) {
			ly_store_limit_key_t *key = &keys[nkeys++];
			key->state = st;
			key->rule = idx[k];
			ly_limit_period_at(program, idx[k], ev->time_us, key->period);
		}
	}
	return ly_store_load_limits(w->store, program, keys, nkeys, arena, errstr,
				    errstr_size);
}

/* Adds n to a labelled counter once per run of equal labels, so a batch
 * takes the metrics' lock per run rather than per message. */
typedef struct run {
	ly_metric_t m;
	const char *label;
	double n;
} run_t;

static void tally_put(tally_t *t, ly_metric_t m, const char *label, const char *label2,
		      double n)
{
	t->adds[t->adds_len++] = (tally_add_t){m, label, label2, n};
}

static void run_add(tally_t *t, run_t *r, const char *label)
{
	if (r->label && strcmp(r->label, label) != 0) {
		tally_put(t, r->m, r->label, NULL, r->n);
		r->n = 0;
	}
	r->label = label;
	r->n++;
}

static void run_flush(tally_t *t, run_t *r)
{
	if (r->label)
		tally_put(t, r->m, r->label, NULL, r->n);
}

/*
 * The statistics and the metrics of a batch, in one walk, into t (arena
 * memory): they count once it has committed (tally_land). Labels are
 * static strings or topic names, which live as long as the consumer.
 */
static int tally_batch(const ly_msg_batch_t *batch, const decoded_t *d,
		       const ly_applied_list_t *list, const unsigned char *failed,
		       ly_arena_t *arena, tally_t *t)
{
	double credited = 0, debited = 0;
	uint64_t applied = 0, duplicates = 0, evaluation_errors = 0, postings = 0,
		 codes = 0;
	size_t sends = 0;
	for (size_t i = 0; i < list->len; i++)
		for (size_t k = 0; k < list->items[i].fx.offers_len; k++)
			sends += list->items[i].fx.offers[k].sends_len;
	memset(t, 0, sizeof(*t));
	t->adds = ly_arena_alloc(arena, (batch->len + d->dead_len + 2 * d->events_len +
					 sends + 8) * sizeof(*t->adds));
	if (!t->adds)
		return LY_ENOMEM;
	run_t consumed = {LY_M_EVENTS_CONSUMED, NULL, 0};
	run_t rejected = {LY_M_EVENTS_REJECTED, NULL, 0};
	run_t types = {LY_M_EVENTS_APPLIED, NULL, 0};
	for (size_t i = 0; i < batch->len; i++)
		run_add(t, &consumed, rd_kafka_topic_name(batch->msgs[i]->rkt));
	for (size_t i = 0; i < d->dead_len; i++)
		run_add(t, &rejected, d->dead_reason[i]);
	for (size_t i = 0; i < d->events_len; i++) {
		if (d->events[i].duplicate) {
			duplicates++;
			continue;
		}
		if (failed[i]) {
			evaluation_errors++;
			run_add(t, &rejected, "evaluation_error");
			continue;
		}
		applied++;
		run_add(t, &types, ly_event_name(d->events[i].ev));
	}
	for (size_t i = 0; i < list->len; i++) {
		const ly_effects_t *fx = &list->items[i].fx;
		for (size_t k = 0; k < fx->postings_len; k++) {
			const ly_posting_t *p = &fx->postings[k];
			double delta = (double)p->delta_available + (double)p->delta_pending;
			if (p->kind && strcmp(p->kind, "points.released") == 0)
				continue; /* moved, neither credited nor debited */
			if (delta > 0)
				credited += delta;
			else
				debited -= delta;
		}
		postings += fx->postings_len;
		codes += fx->codes_len;
		for (size_t k = 0; k < fx->offers_len; k++)
			for (size_t c = 0; c < fx->offers[k].sends_len; c++) {
				const ly_offer_send_t *s = &fx->offers[k].sends[c];
				tally_put(t, LY_M_OFFERS,
					  s->channel == LY_CHANNEL_SMS ? "sms" : "email",
					  ly_offer_outcome_name(s->outcome), 1);
			}
	}
	run_flush(t, &consumed);
	run_flush(t, &rejected);
	run_flush(t, &types);
	tally_put(t, LY_M_EVENTS_DUPLICATE, NULL, NULL, (double)duplicates);
	tally_put(t, LY_M_POINTS_CREDITED, NULL, NULL, credited);
	tally_put(t, LY_M_POINTS_DEBITED, NULL, NULL, debited);
	tally_put(t, LY_M_CODES_ISSUED, NULL, NULL, (double)codes);
	t->stats.events_applied = applied;
	t->stats.events_duplicate = duplicates;
	t->stats.events_rejected = d->dead_len + evaluation_errors;
	t->stats.postings = postings;
	t->stats.codes = codes;
	t->stats.batches = 1;
	return 0;
}

/* A committed batch's tally, counted. */
static void tally_land(ly_worker_t *w, const tally_t *t, size_t batch_len)
{
	for (size_t i = 0; i < t->adds_len; i++)
		ly_metrics_add(w->metrics, t->adds[i].m, t->adds[i].label, t->adds[i].label2,
			       t->adds[i].n);
	ly_metrics_observe(w->metrics, LY_M_BATCH_SIZE, (double)batch_len);
	w->stats.events_applied += t->stats.events_applied;
	w->stats.events_duplicate += t->stats.events_duplicate;
	w->stats.events_rejected += t->stats.events_rejected;
	w->stats.postings += t->stats.postings;
	w->stats.codes += t->stats.codes;
	w->stats.batches += t->stats.batches;
}

/* Adds a key to needs' list (arena arrays sized for the batch). */
static void need(ly_store_key_t *list, size_t *len, ly_customer_state_t *st,
		 const char *key, int64_t t)
{
	list[(*len)++] = (ly_store_key_t){st, key, t};
}

/* Why a customer's tier window is loaded. */
enum { WINDOW_NONE, WINDOW_TO_TIER, WINDOW_WHOLE };

/*
 * What the events of states' customers need loaded besides the profiles:
 * the open lots of every customer an event may debit, the orders a refund
 * names or an order.paid might repeat, the refunds held for the orders
 * paid, the requests already applied, and the orders of the tier window.
 */
static int load_needs(ly_worker_t *w, const decoded_t *d, ly_map_t *bycustomer,
		      ly_customer_state_t *states, size_t nstates, ly_arena_t *arena,
		      char *errstr, size_t errstr_size)
{
	const ly_program_t *program = w->program;
	const size_t n = d->events_len;
	ly_store_needs_t nd = {0};
	unsigned char *lots = ly_arena_alloc(arena, nstates + 1);
	unsigned char *window = ly_arena_alloc(arena, nstates + 1);
	/* the customers' first and last event times */
	int64_t *first = ly_arena_alloc(arena, (nstates + 1) * sizeof(*first));
	int64_t *last = ly_arena_alloc(arena, (nstates + 1) * sizeof(*last));
	nd.lots = ly_arena_alloc(arena, (nstates + 1) * sizeof(*nd.lots));
	nd.window = ly_arena_alloc(arena, (nstates + 1) * sizeof(*nd.window));
	nd.orders = ly_arena_alloc(arena, (n + 1) * sizeof(*nd.orders));
	nd.held = ly_arena_alloc(arena, (n + 1) * sizeof(*nd.held));
	nd.requests = ly_arena_alloc(arena, (n + 1) * sizeof(*nd.requests));
	if (!lots || !window || !first || !last || !nd.lots || !nd.window || !nd.orders ||
	    !nd.held || !nd.requests)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const ly_event_t *ev = d->events[i].ev;
		if (d->events[i].duplicate || d->skip[i])
			continue;
		ly_customer_state_t *st = state_in(bycustomer, ev, states, nstates);
		if (!st)
			continue;
		const size_t si = (size_t)(st - states);
		switch (ev->type) {
		case LY_EV_ORDER_REFUNDED:
		case LY_EV_ORDER_CANCELLED:
			lots[si] = 1;
			need(nd.orders, &nd.orders_len, st, ev->u.refund.order_id, 0);
			break;
		case LY_EV_ORDER_PAID:
			need(nd.orders, &nd.orders_len, st, ev->u.order_paid.order_id, 0);
			need(nd.held, &nd.held_len, st, ev->u.order_paid.order_id, 0);
			break;
		case LY_EV_POINTS_REDEEM:
			lots[si] = 1;
			need(nd.requests, &nd.requests_len, st, ev->u.redeem.request_id, 0);
			break;
		case LY_EV_POINTS_ADJUST:
			lots[si] = 1;
			need(nd.requests, &nd.requests_len, st, ev->u.adjust.request_id, 0);
			break;
		default:
			break;
		}
		/* an order may lift the tier, unless it is the top one: the
		 * sum is needed whole. A refund of a customer with a tier is
		 * weighed against the tier's min_spend (only the scheduler
		 * lowers a tier, and only when the window says so): a sum
		 * that reaches it says as much as the whole one. */
		if (w->window_always ||
		    (ev->type == LY_EV_ORDER_PAID && st->tier + 1 < program->tiers_len))
			window[si] = WINDOW_WHOLE;
		else if ((ev->type == LY_EV_ORDER_REFUNDED ||
			  ev->type == LY_EV_ORDER_CANCELLED) &&
			 st->tier > 0 && program->tiers_len && !window[si])
			window[si] = WINDOW_TO_TIER;
		if (first[si] == 0 || ev->time_us < first[si])
			first[si] = ev->time_us;
		if (last[si] == 0 || ev->time_us > last[si])
			last[si] = ev->time_us;
	}
	/*
	 * A customer's window is read for every event of theirs, from the
	 * first to the last. The orders paid inside all of those windows come
	 * summed; a customer an event of another time reached (a held refund)
	 * gets every order, on the batch's next run.
	 */
	const int64_t span = program->tier_window_days * LY_US_PER_DAY;
	for (size_t i = 0; i < nstates; i++) {
		ly_customer_state_t *st = &states[i];
		st->lots_partial = st->orders_partial = 1;
		if (lots[i])
			nd.lots[nd.lots_len++] = st;
		if (!window[i])
			continue;
		ly_store_key_t *k = &nd.window[nd.window_len++];
		*k = (ly_store_key_t){st, NULL, first[i] - span, 0, 0};
		if (d->whole_window && ly_map_get(d->whole_window, st->customer_id,
						  strlen(st->customer_id))) {
			k->t_us = 0; /* every order */
			continue;
		}
		k->lo_us = last[i] - span;
		k->hi_us = first[i];
		/* the tier cannot change in the batch: no order can lift it */
		if (window[i] == WINDOW_TO_TIER)
			k->enough = program->tiers[st->tier].min_spend;
		st->window_from_us = first[i];
		st->window_to_us = last[i];
	}
	int rc = ly_store_load_lifecycle(w->store, states, nstates, &nd, arena, errstr,
					 errstr_size);
	if (rc)
		return rc;
	/* A held refund is applied when its order comes: it debits too. */
	ly_store_needs_t more = {0};
	more.lots = nd.lots;
	for (size_t i = 0; i < nstates; i++)
		if (states[i].held_len && states[i].lots_partial)
			more.lots[more.lots_len++] = &states[i];
	return more.lots_len ? ly_store_load_lifecycle(w->store, states, nstates, &more,
						       arena, errstr, errstr_size)
			     : 0;
}

/* The batch's transaction between its two halves (begin_batch,
 * finish_batch). */
typedef struct txn {
	ly_customer_state_t *states; /* sorted within each half */
	size_t uniq;
	size_t early; /* states[0, early) were loaded by begin_batch */
	ly_map_t bycustomer;
} txn_t;

/* Locks and loads what the events of states' customers need. */
static int load_customers(ly_worker_t *w, const decoded_t *d, txn_t *t,
			  ly_customer_state_t *states, size_t n, ly_arena_t *arena,
			  char *errstr, size_t errstr_size)
{
	if (n == 0)
		return 0;
	int rc = ly_store_lock_customers(w->store, states, n, arena, errstr, errstr_size);
	if (!rc)
		rc = ly_store_load_profiles(w->store, w->program, states, n, arena, errstr,
					    errstr_size);
	if (!rc)
		rc = load_needs(w, d, &t->bycustomer, states, n, arena, errstr, errstr_size);
	if (!rc && w->has_limits)
		rc = load_limits(w, d, &t->bycustomer, states, n, arena, errstr, errstr_size);
	return rc;
}

/*
 * The first half of a batch's transaction, which may run while the batch
 * before is in flight: the events claimed, and the customers that batch
 * has not locked locked and loaded. The others wait for finish_batch, when
 * that batch has committed (waiting for their row locks here would hold
 * this half up for nothing).
 */
static int begin_batch(ly_worker_t *w, decoded_t *d, txn_t *t, char *errstr,
		       size_t errstr_size)
{
	ly_arena_t *arena = w->tx_arena;
	size_t n = d->events_len;
	memset(t, 0, sizeof(*t));
	int rc = ly_store_begin(w->store, errstr, errstr_size);
	if (rc)
		return rc;
	rc = ly_store_claim_events(w->store, d->events, n, arena, errstr, errstr_size);
	if (rc)
		return rc;

	/* The batch's customers, sorted and unique: those of the batch in
	 * flight after the others, each half locked in one query. */
	const char **ids = ly_arena_alloc(arena, (n + 1) * sizeof(*ids));
	if (!ids)
		return LY_ENOMEM;
	size_t nids = 0;
	for (size_t i = 0; i < n; i++)
		if (!d->events[i].duplicate)
			ids[nids++] = d->events[i].ev->customer_id;
	qsort(ids, nids, sizeof(*ids), cmp_str);
	size_t uniq = 0;
	for (size_t i = 0; i < nids; i++)
		if (uniq == 0 || strcmp(ids[uniq - 1], ids[i]) != 0)
			ids[uniq++] = ids[i];
	ly_customer_state_t *states = ly_arena_alloc(arena, (uniq + 1) * sizeof(*states));
	unsigned char *later = ly_arena_alloc(arena, uniq + 1);
	if (!states || !later || ly_map_init(&t->bycustomer, arena, uniq + 1))
		return LY_ENOMEM;
	size_t early = 0;
	for (size_t i = 0; i < uniq; i++) {
		later[i] = w->flight.active &&
			   ly_map_get(&w->flight.customers, ids[i], strlen(ids[i]));
		early += !later[i];
	}
	for (size_t i = 0, e = 0, l = early; i < uniq; i++)
		states[later[i] ? l++ : e++].customer_id = ids[i];
	for (size_t i = 0; i < uniq; i++) {
		int found;
		void **slot = ly_map_put(&t->bycustomer, states[i].customer_id,
					 strlen(states[i].customer_id), &found);
		LY_ASSERT(slot && !found);
		*slot = &states[i];
	}
	t->states = states;
	t->uniq = uniq;
	t->early = early;
	return load_customers(w, d, t, states, early, arena, errstr, errstr_size);
}

/* The customers of the batch (in the batch's arena): the next one waits
 * for them. */
static int note_customers(ly_map_t *m, const txn_t *t, ly_arena_t *arena)
{
	if (ly_map_init(m, arena, t->uniq + 1))
		return LY_ENOMEM;
	for (size_t i = 0; i < t->uniq; i++) {
		int found;
		const char *id = t->states[i].customer_id;
		void **slot = ly_map_put(m, id, strlen(id), &found);
		if (!slot)
			return LY_ENOMEM;
		*slot = (void *)id;
	}
	return 0;
}

/*
 * The second half, once no batch is in flight: the budgets and the rest of
 * the customers loaded, the engine run, and the writes, the offsets'
 * compare-and-set and COMMIT sent in one go. Returns 0 when all is sent,
 * the batch ready to take off (its offsets and tally in the batch's
 * arena); RERUN, or the store's code (the transaction is rolled back by
 * the caller).
 */
static int finish_batch(ly_worker_t *w, decoded_t *d, txn_t *t, char *errstr,
			size_t errstr_size)
{
	LY_ASSERT(!w->flight.active);
	ly_arena_t *arena = w->tx_arena;
	size_t n = d->events_len;
	ly_customer_state_t *states = t->states;
	const size_t uniq = t->uniq;
	int rc;
	if (w->budget_before) {
		/* A plain read: the batch's spending is checked against the row
		 * as it is at the end (ly_store_write_budgets). */
		size_t len = w->program->rules_len;
		rc = ly_store_load_budgets(w->store, w->program, w->shared.budget_spent,
					   arena, errstr, errstr_size);
		if (rc)
			return rc;
		memcpy(w->budget_before, w->shared.budget_spent,
		       len * sizeof(*w->budget_before));
		memset(w->shared.budget_changed, 0, len);
	}
	rc = load_customers(w, d, t, states + t->early, uniq - t->early, arena, errstr,
			    errstr_size);
	if (rc)
		return rc;

	/* The engine, in partition order, on the in-memory states; each event
	 * with what follows it. */
	ly_applied_list_t list = {0};
	ly_store_outbox_row_t *rejected = ly_arena_alloc(arena, (n + 1) * sizeof(*rejected));
	ly_store_held_row_t *held = ly_arena_alloc(arena, (n + 1) * sizeof(*held));
	unsigned char *failed = ly_arena_alloc(arena, n + 1); /* evaluation errors */
	size_t rejected_len = 0, held_len = 0;
	if (!rejected || !held || !failed)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ly_store_event_t *se = &d->events[i];
		if (se->duplicate)
			continue;
		ly_customer_state_t *st = ly_map_get(&t->bycustomer, se->ev->customer_id,
						     strlen(se->ev->customer_id));
		LY_ASSERT(st);
		const rd_kafka_message_t *m = w->batch.msgs[d->event_msg[i]];
		char why[512];
		int followup_failed = 0;
		if (d->skip[i]) {
			rc = LY_EINVAL;
			snprintf(why, sizeof(why), "%s", d->skip_why[i]);
		} else {
			const size_t before = list.len;
			rc = ly_apply_chain(&list, i, w->program, &w->shared, st, se->ev,
					    &followup_failed, arena, why, sizeof(why));
			if (rc == 0 && list.len > before && list.items[before].fx.held) {
				/* kept with its message until its order comes */
				ly_store_held_row_t *h = &held[held_len++];
				memset(h, 0, sizeof(*h));
				h->ev = se->ev;
				h->topic = se->topic;
				h->partition = se->partition;
				h->offset = se->offset;
				h->key = m->key;
				h->key_len = m->key ? m->key_len : 0;
				h->payload = m->payload;
				h->payload_len = m->payload ? m->len : 0;
				ly_buf_t hb = {0};
				ly_header_t *hs;
				size_t hn;
				if (message_headers(m, &hs, &hn, arena) ||
				    ly_outbox_headers_encode(&hb, hs, hn)) {
					ly_buf_free(&hb);
					return LY_ENOMEM;
				}
				h->headers = hb.data ? ly_arena_strndup(arena, hb.data, hb.len) : NULL;
				h->headers_len = hb.len;
				ly_buf_free(&hb);
			}
		}
		if (rc == LY_EINVAL && followup_failed) {
			/* the state moved: run the batch again without this event */
			d->skip[i] = 1;
			d->skip_why[i] = ly_arena_strdup(w->batch_arena, why);
			snprintf(errstr, errstr_size, "event %s: %s", se->ev->id, why);
			return RERUN;
		}
		if (rc == LY_EINVAL) {
			/* Deterministic: the same event fails the same way on every
			 * replay, so it is recorded as processed and dead-lettered. */
			ly_log(LY_LOG_WARN, "worker", "event %s: evaluation failed: %s",
			       se->ev->id, why);
			if (dead_letter_row(&rejected[rejected_len++], w->cfg, m,
					    "evaluation_error", why, arena))
				return LY_ENOMEM;
			failed[i] = 1;
			continue;
		}
		if (rc)
			return rc;
	}
	/* an event the window loaded could not count: again, with it whole */
	int again = 0;
	for (size_t i = 0; i < uniq; i++) {
		if (!states[i].window_short)
			continue;
		if (!d->whole_window) {
			d->whole_window = ly_arena_alloc(w->batch_arena, sizeof(*d->whole_window));
			if (!d->whole_window ||
			    ly_map_init(d->whole_window, w->batch_arena, n + 1))
				return LY_ENOMEM;
		}
		int found;
		void **slot = ly_map_put(d->whole_window, states[i].customer_id,
					 strlen(states[i].customer_id), &found);
		LY_ASSERT(slot && !found);
		*slot = &states[i]; /* any value but NULL */
		snprintf(errstr, errstr_size,
			 "customer %s: an event outside the tier window loaded; loading it whole",
			 states[i].customer_id);
		again = 1;
	}
	if (again)
		return RERUN;
	/* a refund held and applied in this batch was never stored */
	size_t kept = 0;
	for (size_t k = 0; k < held_len; k++) {
		ly_customer_state_t *st = ly_map_get(&t->bycustomer, held[k].ev->customer_id,
						     strlen(held[k].ev->customer_id));
		int applied = 0;
		for (size_t j = 0; j < st->held_len; j++)
			if (st->held[j].is_new && st->held[j].applied &&
			    strcmp(st->held[j].ev.id, held[k].ev->id) == 0 &&
			    strcmp(st->held[j].ev.source, held[k].ev->source) == 0)
				applied = 1;
		if (!applied)
			held[kept++] = held[k];
	}
	held_len = kept;

	ly_store_outbox_row_t *extra_rows =
		ly_arena_alloc(arena, (d->dead_len + rejected_len + 1) * sizeof(*extra_rows));
	if (!extra_rows)
		return LY_ENOMEM;
	size_t nextra = 0;
	for (size_t i = 0; i < d->dead_len; i++)
		extra_rows[nextra++] = d->dead[i];
	for (size_t i = 0; i < rejected_len; i++)
		extra_rows[nextra++] = rejected[i];
	const ly_apply_extra_t extra = {extra_rows, nextra, held, held_len};
	/* The writes go out back to back: PostgreSQL runs each while the
	 * next is built. */
	rc = ly_store_pipeline_begin(w->store, errstr, errstr_size);
	if (rc)
		return rc;
	rc = ly_apply_write(w->store, w->cfg, w->program, &w->shared, states, uniq, &list,
			    &extra, arena, errstr, errstr_size);
	if (rc)
		return rc;
	/* Budgets last: their rows stay locked from here to the commit. */
	if (w->budget_before) {
		size_t len = w->program->rules_len;
		int64_t *delta = ly_arena_alloc(arena, len * sizeof(*delta));
		if (!delta)
			return LY_ENOMEM;
		for (size_t i = 0; i < len; i++)
			delta[i] = w->shared.budget_changed[i]
					   ? w->shared.budget_spent[i] - w->budget_before[i]
					   : 0;
		rc = ly_store_write_budgets(w->store, w->program, delta, arena, errstr,
					    errstr_size);
		if (rc)
			return rc;
	}

	/* The next offset of every partition in the batch, compare-and-set. */
	ly_store_offset_t *offs = ly_arena_alloc(w->batch_arena, (w->batch.len + 1) * sizeof(*offs));
	size_t noffs = 0;
	if (!offs)
		return LY_ENOMEM;
	for (size_t i = 0; i < w->batch.len; i++) {
		const rd_kafka_message_t *m = w->batch.msgs[i];
		const char *topic = rd_kafka_topic_name(m->rkt);
		size_t k;
		for (k = 0; k < noffs; k++)
			if (offs[k].partition == m->partition && strcmp(offs[k].topic, topic) == 0)
				break;
		if (k == noffs) {
			int64_t expected;
			if (ly_consumer_expected(w->consumer, topic, m->partition, &expected)) {
				snprintf(errstr, errstr_size, "%s[%d] is no longer assigned",
					 topic, (int)m->partition);
				return LY_ECONFLICT;
			}
			offs[k].topic = topic;
			offs[k].partition = m->partition;
			offs[k].expected_next = expected;
			noffs++;
		}
		offs[k].next = m->offset + 1;
	}
	rc = ly_store_write_offsets(w->store, w->cfg->kafka_group_id, offs, noffs,
				    w->batch_arena, errstr, errstr_size);
	if (!rc)
		rc = ly_store_pipeline_commit(w->store, errstr, errstr_size);
	if (rc)
		return rc;
	/* what landing needs, in the batch's arena */
	w->flight.offs = offs;
	w->flight.noffs = noffs;
	rc = tally_batch(&w->batch, d, &list, failed, w->batch_arena, &w->flight.tally);
	if (!rc)
		rc = note_customers(&w->flight.customers, t, w->batch_arena);
	return rc;
}

/*
 * After a lost compare-and-set: read the partitions' offsets again and read
 * on from there, so this worker never applies a range another one applied.
 * What a batch waiting to run holds from them is read again from there.
 */
static void resync_partitions(ly_worker_t *w, const ly_msg_batch_t *batch)
{
	rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(8);
	for (size_t i = 0; i < batch->len; i++) {
		const rd_kafka_message_t *m = batch->msgs[i];
		const char *topic = rd_kafka_topic_name(m->rkt);
		if (!rd_kafka_topic_partition_list_find(list, topic, m->partition))
			rd_kafka_topic_partition_list_add(list, topic, m->partition);
	}
	const size_t had = w->ahead.len;
	ly_msg_batch_drop(&w->ahead, list);
	if (w->ahead.len != had)
		w->ahead_decoded = 0;
	if (lookup_offsets(w, list) == 0) {
		for (int i = 0; i < list->cnt; i++) {
			rd_kafka_topic_partition_t *p = &list->elems[i];
			ly_consumer_advance(w->consumer, p->topic, p->partition,
					    p->offset >= 0 ? p->offset : -1);
		}
		rd_kafka_error_t *err = rd_kafka_seek_partitions(
			ly_consumer_handle(w->consumer), list, 10000);
		if (err) {
			ly_log(LY_LOG_WARN, "worker", "seek: %s", rd_kafka_error_string(err));
			rd_kafka_error_destroy(err);
		}
	}
	rd_kafka_topic_partition_list_destroy(list);
}

static void swap_batch(ly_msg_batch_t *a, ly_msg_batch_t *b)
{
	ly_msg_batch_t t = *a;
	*a = *b;
	*b = t;
}

static void swap_arena(ly_arena_t **a, ly_arena_t **b)
{
	ly_arena_t *t = *a;
	*a = *b;
	*b = t;
}

static void swap_store(ly_store_t **a, ly_store_t **b)
{
	ly_store_t *t = *a;
	*a = *b;
	*b = t;
}

/* The batch in hand, all sent, becomes the one in flight; the next one
 * takes the other connection. */
static void take_off(ly_worker_t *w, int64_t t0)
{
	flight_t *f = &w->flight;
	LY_ASSERT(!f->active && f->batch.len == 0);
	swap_batch(&f->batch, &w->batch);
	swap_arena(&f->arena, &w->batch_arena);
	swap_store(&f->store, &w->store);
	/* its writes, queued in the client, go out while the next batch
	 * waits for its own answers */
	ly_store_set_pump(w->store, f->store);
	f->d = w->d;
	w->decoded = 0;
	f->t0 = t0;
	f->rc = 0;
	f->active = 1;
}

/*
 * Waits for the answers of the batch in flight, if any. Committed: its
 * offsets and tally count, and 0. Else its transaction is rolled back and
 * its code returned, the batch kept in w->flight (f->rc, f->errstr) for the
 * caller to run again (requeue) or let go (drop_flight).
 */
static int land(ly_worker_t *w)
{
	flight_t *f = &w->flight;
	if (!f->active || f->rc)
		return f->active ? f->rc : 0;
	ly_store_set_pump(w->store, NULL);
	int rc = ly_store_pipeline_end(f->store, f->errstr, sizeof(f->errstr));
	if (rc) {
		ly_store_rollback(f->store);
		f->rc = rc;
		return rc;
	}
	int64_t ms = ly_time_mono_ms() - f->t0;
	postgres_reached(w, 1);
	ly_metrics_observe(w->metrics, LY_M_BATCH_DURATION, (double)ms / 1000.0);
	ly_log(LY_LOG_DEBUG, "worker", "batch of %zu committed in %lld ms", f->batch.len,
	       (long long)ms);

	/* Committed: remember the new offsets and tell Kafka, for lag tools. */
	rd_kafka_topic_partition_list_t *kl = rd_kafka_topic_partition_list_new((int)f->noffs);
	for (size_t k = 0; k < f->noffs; k++) {
		ly_consumer_advance(w->consumer, f->offs[k].topic, f->offs[k].partition,
				    f->offs[k].next);
		rd_kafka_topic_partition_list_add(kl, f->offs[k].topic, f->offs[k].partition)
			->offset = f->offs[k].next;
	}
	ly_consumer_commit_async(w->consumer, kl);
	rd_kafka_topic_partition_list_destroy(kl);
	tally_land(w, &f->tally, f->batch.len);
	ly_msg_batch_clear(&f->batch);
	f->active = 0;
	ly_relay_kick(w->relay);
	return 0;
}

/* A batch that failed in flight and is not run again: its messages go;
 * after a lost compare-and-set its partitions are read again from
 * PostgreSQL's offsets. */
static void drop_flight(ly_worker_t *w)
{
	flight_t *f = &w->flight;
	LY_ASSERT(f->active && f->rc);
	if (f->rc == LY_ECONFLICT) {
		w->stats.offset_conflicts++;
		ly_metrics_add(w->metrics, LY_M_OFFSET_CONFLICTS, NULL, NULL, 1);
		ly_log(LY_LOG_WARN, "worker", "batch discarded: %s", f->errstr);
		resync_partitions(w, &f->batch);
	}
	ly_msg_batch_clear(&f->batch);
	f->active = 0;
	f->rc = 0;
}

/*
 * The batch in flight failed: it runs again before the one in hand, if
 * any, which waits in w->ahead (rolled back by the caller), unless its
 * partitions have another owner (a lost compare-and-set), when it is let
 * go. Returns 0, or LY_EIO when stopping and PostgreSQL cannot be reached.
 */
static int requeue(ly_worker_t *w, volatile int *stop)
{
	flight_t *f = &w->flight;
	LY_ASSERT(f->active && f->rc);
	if (w->batch.len) {
		LY_ASSERT(w->ahead.len == 0); /* polled only with none waiting */
		swap_batch(&w->ahead, &w->batch);
		swap_arena(&w->ahead_arena, &w->batch_arena);
		w->ahead_d = w->d;
		w->ahead_decoded = w->decoded;
		w->decoded = 0;
	}
	const int rc = f->rc;
	if (rc == LY_ECONFLICT) {
		drop_flight(w);
		return 0;
	}
	swap_batch(&w->batch, &f->batch);
	swap_arena(&w->batch_arena, &f->arena);
	swap_store(&w->store, &f->store);
	w->d = f->d;
	w->decoded = 1;
	f->active = 0;
	f->rc = 0;
	w->stats.tx_retries++;
	ly_metrics_add(w->metrics, LY_M_POSTGRES_RETRIES, NULL, NULL, 1);
	if (rc == LY_ERETRY && !ly_store_connected(w->store))
		postgres_reached(w, 0);
	ly_log(LY_LOG_WARN, "worker", "batch failed, retrying in %d ms: %s", BACKOFF_MIN_MS,
	       f->errstr);
	usleep((useconds_t)BACKOFF_MIN_MS * 1000);
	char errstr[512];
	if (rc == LY_ERETRY && ly_store_reconnect(w->store, errstr, sizeof(errstr)) && *stop)
		return LY_EIO;
	return 0;
}

/*
 * Applies w->batch, decoded into w->d, until it is sent (it is then the
 * batch in flight) or cannot be. REQUEUED: the batch in flight failed and
 * is w->batch now, this one waiting in w->ahead.
 */
static int process_batch(ly_worker_t *w, volatile int *stop)
{
	char errstr[1024];
	int backoff_ms = BACKOFF_MIN_MS;
	int rc;
	int64_t t0 = ly_time_mono_ms();
	for (;;) {
		txn_t t;
		ly_arena_reset(w->tx_arena);
		progressed(w); /* retrying is going round too: /readyz tells why */
		rc = begin_batch(w, &w->d, &t, errstr, sizeof(errstr));
		if (w->flight.active && land(w)) {
			ly_store_rollback(w->store);
			rc = requeue(w, stop);
			return rc ? rc : REQUEUED;
		}
		if (!rc)
			rc = finish_batch(w, &w->d, &t, errstr, sizeof(errstr));
		if (rc == 0) {
			take_off(w, t0);
			return 0;
		}
		ly_store_rollback(w->store);
		if (rc == RERUN) {
			ly_log(LY_LOG_INFO, "worker", "batch runs again: %s", errstr);
			continue;
		}
		if (rc == LY_ECONFLICT) {
			w->stats.offset_conflicts++;
			ly_metrics_add(w->metrics, LY_M_OFFSET_CONFLICTS, NULL, NULL, 1);
			ly_log(LY_LOG_WARN, "worker", "batch discarded: %s", errstr);
			resync_partitions(w, &w->batch);
			return 0;
		}
		if (rc == LY_ENOMEM)
			return rc;
		w->stats.tx_retries++;
		ly_metrics_add(w->metrics, LY_M_POSTGRES_RETRIES, NULL, NULL, 1);
		if (rc == LY_ERETRY && !ly_store_connected(w->store))
			postgres_reached(w, 0);
		ly_log(LY_LOG_WARN, "worker", "batch failed, retrying in %d ms: %s",
		       backoff_ms, errstr);
		if (*stop && rc != LY_ERETRY)
			return rc;
		usleep((useconds_t)backoff_ms * 1000);
		backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
		if (rc == LY_ERETRY && ly_store_reconnect(w->store, errstr, sizeof(errstr)) &&
		    *stop)
			return LY_EIO;
	}
}

/*
 * Makes program the one the worker runs, with what its rules need besides
 * the customers: room for the budgets, and the codes' key (a program that
 * issues codes is refused without one rather than run with guessable
 * codes). On failure the worker keeps what it had.
 */
static int setup_program(ly_worker_t *w, const ly_program_t *program,
			 char *errstr, size_t errstr_size)
{
	const char *issuer = NULL;
	int budgets = 0, limits = program->offer_cap_count > 0;
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		budgets |= r->budget_points > 0;
		limits |= r->limit_count > 0;
		if (r->issue.kind != LY_ISSUE_NONE && !issuer)
			issuer = r->id;
	}
	if (issuer && w->cfg->codes_secret[0] == '\0') {
		snprintf(errstr, errstr_size,
			 "rule \"%s\" issues codes but codes.secret is empty: set it "
			 "(or LOYALTY_CODES_SECRET) to a long random string, the same "
			 "on every replica",
			 issuer);
		return LY_EINVAL;
	}
	size_t len = program->rules_len + 1;
	int64_t *spent = NULL, *before = NULL;
	unsigned char *changed = NULL;
	if (budgets && (!(spent = calloc(len, sizeof(*spent))) ||
			!(changed = calloc(len, sizeof(*changed))) ||
			!(before = calloc(len, sizeof(*before))))) {
		free(spent);
		free(changed);
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	free(w->shared.budget_spent);
	free(w->shared.budget_changed);
	free(w->budget_before);
	w->shared.budget_spent = spent;
	w->shared.budget_changed = changed;
	w->budget_before = before;
	w->shared.code_secret = w->cfg->codes_secret;
	w->shared.code_secret_len = strlen(w->cfg->codes_secret);
	w->has_limits = limits;
	w->window_always = 0;
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		const int f = LY_FIELD_CUSTOMER_WINDOW_SPEND;
		if ((r->if_expr && ly_expr_reads_field(r->if_expr, f)) ||
		    (r->earn_of_expr && ly_expr_reads_field(r->earn_of_expr, f)))
			w->window_always = 1;
		for (size_t k = 0; k < r->offer.vars_len; k++)
			if (ly_expr_reads_field(r->offer.vars[k].expr, f))
				w->window_always = 1;
	}
	w->program = program;
	ly_metrics_clear(w->metrics, LY_M_PROGRAM_INFO);
	ly_metrics_set(w->metrics, LY_M_PROGRAM_INFO, program->name, program->version, 1);
	return 0;
}

/* ---- what the consumer tells ---- */

/* librdkafka's statistics: the lag of each assigned partition, and
 * whether a broker is up. */
static void on_stats(void *opaque, const char *json, size_t len)
{
	ly_worker_t *w = opaque;
	cJSON *root = cJSON_ParseWithLength(json, len);
	if (!root)
		return;
	int up = 0;
	const cJSON *brokers = cJSON_GetObjectItemCaseSensitive(root, "brokers");
	const cJSON *b;
	cJSON_ArrayForEach(b, brokers)
	{
		const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
		const cJSON *nodeid = cJSON_GetObjectItemCaseSensitive(b, "nodeid");
		up |= cJSON_IsString(state) && strcmp(state->valuestring, "UP") == 0 &&
		      cJSON_IsNumber(nodeid) && nodeid->valuedouble >= 0;
	}
	atomic_store(&w->brokers_down, !up);
	ly_metrics_clear(w->metrics, LY_M_CONSUMER_LAG);
	const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");
	const cJSON *t;
	cJSON_ArrayForEach(t, topics)
	{
		const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
		const cJSON *p;
		cJSON_ArrayForEach(p, parts)
		{
			const cJSON *lag = cJSON_GetObjectItemCaseSensitive(p, "consumer_lag");
			const cJSON *desired = cJSON_GetObjectItemCaseSensitive(p, "desired");
			/* -1: the internal partition, or no lag known yet */
			if (strcmp(p->string, "-1") == 0 || !cJSON_IsNumber(lag) ||
			    lag->valuedouble < 0 || !cJSON_IsTrue(desired))
				continue;
			ly_metrics_set(w->metrics, LY_M_CONSUMER_LAG, t->string, p->string,
				       lag->valuedouble);
		}
	}
	cJSON_Delete(root);
}

static void on_brokers_down(void *opaque)
{
	ly_worker_t *w = opaque;
	atomic_store(&w->brokers_down, 1);
}

static void on_rebalanced(void *opaque, int assigned, int partitions)
{
	ly_worker_t *w = opaque;
	/* The batch in flight lands before its partitions move, so the
	 * offsets read for an assignment are past it; one that failed is let
	 * go, and its partitions start again from PostgreSQL's offsets. */
	if (land(w)) {
		ly_log(LY_LOG_WARN, "worker", "batch rolled back in a rebalance: %s",
		       w->flight.errstr);
		ly_msg_batch_clear(&w->flight.batch);
		w->flight.active = 0;
		w->flight.rc = 0;
	}
	ly_metrics_add(w->metrics, LY_M_REBALANCES, assigned ? "assign" : "revoke",
		       NULL, 1);
	ly_metrics_set(w->metrics, LY_M_PARTITIONS, NULL, NULL, assigned ? partitions : 0);
	ly_metrics_clear(w->metrics, LY_M_CONSUMER_LAG);
}

/* ---- probes ---- */

int ly_worker_healthy(ly_worker_t *w, char *why, size_t why_size)
{
	int64_t idle = ly_time_mono_ms() - atomic_load(&w->last_progress_ms);
	if (idle <= w->cfg->http_stall_timeout_ms)
		return 1;
	snprintf(why, why_size, "the processing loop has not gone round for %lld ms",
		 (long long)idle);
	return 0;
}

int ly_worker_ready(ly_worker_t *w, char *why, size_t why_size)
{
	int pg = !atomic_load(&w->pg_down), kafka = !atomic_load(&w->brokers_down);
	size_t paused = atomic_load(&w->paused);
	if (pg && kafka && !paused)
		return 1;
	const char *reasons[] = {
		pg ? NULL : "PostgreSQL cannot be reached",
		kafka ? NULL : "no Kafka broker can be reached",
		paused ? "partitions paused waiting for their offsets" : NULL,
	};
	size_t n = 0;
	why[0] = '\0';
	for (size_t i = 0; i < LY_ARRAY_LEN(reasons); i++)
		if (reasons[i] && n < why_size)
			n += (size_t)snprintf(why + n, why_size - n, "%s%s", n ? "; " : "",
					      reasons[i]);
	return 0;
}

/* Partitions assigned paused while PostgreSQL was away: ask again, once a
 * second, and say how many still wait. */
static void retry_pending(ly_worker_t *w)
{
	size_t n = ly_consumer_paused(w->consumer);
	if (n && ly_time_mono_ms() - w->last_pending_ms >= IDLE_POLL_MS) {
		w->last_pending_ms = ly_time_mono_ms();
		ly_consumer_retry_pending(w->consumer);
		n = ly_consumer_paused(w->consumer);
	}
	atomic_store(&w->paused, n);
}

/* The readiness gauge, from what the probes look at. */
static void update_ready(ly_worker_t *w)
{
	ly_metrics_set(w->metrics, LY_M_READY, NULL, NULL,
		       !atomic_load(&w->pg_down) && !atomic_load(&w->brokers_down) &&
			       !atomic_load(&w->paused));
}

/* The loop went round: for /healthz and its gauge. */
static void progressed(ly_worker_t *w)
{
	atomic_store(&w->last_progress_ms, ly_time_mono_ms());
	ly_metrics_set(w->metrics, LY_M_LAST_PROGRESS, NULL, NULL,
		       (double)ly_time_now_us() / 1e6);
	update_ready(w);
}

/* A PostgreSQL round trip went (ok) or failed for want of a connection:
 * the worker's or the relay's (from its thread). */
static void postgres_reached(ly_worker_t *w, int ok)
{
	if (atomic_exchange(&w->pg_down, !ok) != !ok)
		update_ready(w);
}

static void relay_reached(void *opaque, int ok)
{
	postgres_reached(opaque, ok);
}

/* A scheduler transaction: its rows for the outbox go out now. */
static void ticker_done(void *opaque, int ok, int wrote)
{
	ly_worker_t *w = opaque;
	postgres_reached(w, ok);
	if (ok && wrote)
		ly_relay_kick(w->relay);
}

int ly_worker_new(ly_worker_t **out, const ly_config_t *cfg,
		  const char *bootstrap, const ly_program_t *program,
		  ly_metrics_t *metrics, char *errstr, size_t errstr_size)
{
	ly_worker_t *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	w->cfg = cfg;
	w->metrics = metrics;
	atomic_store(&w->last_progress_ms, ly_time_mono_ms());
	int rc = setup_program(w, program, errstr, errstr_size);
	if (rc) {
		ly_worker_destroy(w);
		return rc;
	}
	w->batch_arena = ly_arena_new(1 << 20);
	w->ahead_arena = ly_arena_new(1 << 20);
	w->flight.arena = ly_arena_new(1 << 20);
	w->tx_arena = ly_arena_new(1 << 20);
	if (!w->batch_arena || !w->ahead_arena || !w->flight.arena || !w->tx_arena) {
		snprintf(errstr, errstr_size, "out of memory");
		goto fail;
	}
	/* two connections: one for the batch in hand, one for the batch in
	 * flight */
	rc = ly_store_open(&w->store, cfg->postgres_conninfo, cfg->postgres_schema,
			   errstr, errstr_size);
	if (!rc)
		rc = ly_store_open(&w->flight.store, cfg->postgres_conninfo,
				   cfg->postgres_schema, errstr, errstr_size);
	if (rc)
		goto fail;
	w->producer = ly_kafka_producer_new(cfg, bootstrap, ly_outbox_delivery_cb,
					    errstr, errstr_size);
	if (!w->producer)
		goto fail;
	rc = ly_relay_start(&w->relay, cfg, w->producer, metrics, relay_reached, w, errstr,
			    errstr_size);
	if (!rc && cfg->scheduler_interval_ms > 0)
		rc = ly_ticker_start(&w->ticker, cfg, w->program, ticker_done, w, errstr,
				     errstr_size);
	if (rc)
		goto fail;
	const ly_consumer_watch_t watch = {w, on_stats, on_brokers_down, on_rebalanced};
	rc = ly_consumer_new(&w->consumer, cfg, bootstrap, lookup_offsets, w, &watch,
			     errstr, errstr_size);
	if (rc)
		goto fail;
	*out = w;
	return 0;
fail:
	ly_worker_destroy(w);
	return LY_EIO;
}

void ly_worker_get_stats(const ly_worker_t *w, ly_worker_stats_t *out)
{
	*out = w->stats;
	if (w->relay)
		out->outbox_published = ly_relay_published(w->relay);
}

/*
 * SIGHUP: the program file again. A file that does not load is refused
 * and the running program stays.
 */
static void reload(ly_worker_t *w)
{
	char errstr[1024];
	ly_program_t *p = NULL;
	int rc = ly_program_load(&p, w->cfg->program, errstr, sizeof(errstr));
	if (rc == 0)
		rc = setup_program(w, p, errstr, sizeof(errstr));
	if (rc) {
		ly_log(LY_LOG_ERROR, "worker", "reload refused, keeping program %s: %s",
		       w->program->version, errstr);
		ly_metrics_add(w->metrics, LY_M_PROGRAM_RELOADS, "failure", NULL, 1);
		ly_program_destroy(p);
		return;
	}
	if (w->ticker)
		ly_ticker_set_program(w->ticker, p);
	ly_log(LY_LOG_INFO, "worker", "reloaded: program %s version %s: %zu rules",
	       p->name, p->version, p->rules_len);
	ly_metrics_add(w->metrics, LY_M_PROGRAM_RELOADS, "success", NULL, 1);
	ly_program_destroy(w->owned); /* the one before, if we loaded it */
	w->owned = p;
}

/* The scheduler ends its transaction and stops; then the relay publishes
 * the last rows and stops, its count kept. */
static void stop_threads(ly_worker_t *w)
{
	ly_ticker_stop(w->ticker);
	w->ticker = NULL;
	if (!w->relay)
		return;
	w->stats.outbox_published = ly_relay_stop(w->relay);
	w->relay = NULL;
}

/* The batch that waited while the one before it ran again becomes the
 * one in hand (w->batch is empty). */
static void take_ahead(ly_worker_t *w)
{
	LY_ASSERT(w->batch.len == 0);
	if (w->ahead.len == 0)
		return;
	swap_batch(&w->batch, &w->ahead);
	swap_arena(&w->batch_arena, &w->ahead_arena);
	w->d = w->ahead_d;
	w->decoded = w->ahead_decoded;
	w->ahead_decoded = 0;
}

/* Lands the batch in flight; one that failed runs again (the loop's next
 * batch) or, on its way out, is let go (its messages come again). */
static int land_or_requeue(ly_worker_t *w, volatile int *stop)
{
	if (!land(w))
		return 0;
	if (*stop) {
		ly_log(LY_LOG_WARN, "worker", "batch rolled back on the way out: %s",
		       w->flight.errstr);
		drop_flight(w);
		return 0;
	}
	return requeue(w, stop);
}

int ly_worker_run(ly_worker_t *w, volatile int *stop, volatile int *reload_asked)
{
	int rc = 0;
	const size_t max = (size_t)w->cfg->batch_max_events;
	while (!*stop) {
		progressed(w);
		if (reload_asked && *reload_asked) {
			*reload_asked = 0;
			rc = land_or_requeue(w, stop);
			if (rc)
				break;
			reload(w);
		}
		if (w->batch.len == 0)
			take_ahead(w);
		/*
		 * A batch waiting in w->ahead comes after the one in hand: the
		 * one in hand is not topped up. With a batch in flight, the
		 * next one is what librdkafka holds now; none, and the loop
		 * waits for the flight's answers instead.
		 */
		const size_t had = w->batch.len;
		const uint64_t rebalances = ly_consumer_rebalances(w->consumer);
		if (w->ahead.len == 0) {
			rc = w->flight.active
				     ? ly_consumer_read_ahead(w->consumer, &w->batch, max)
				     : ly_consumer_poll_batch(w->consumer, &w->batch, max,
							      (int)w->cfg->batch_max_wait_ms,
							      IDLE_POLL_MS, stop);
			if (rc)
				break;
		}
		if (w->batch.len != had || ly_consumer_rebalances(w->consumer) != rebalances)
			w->decoded = 0;
		retry_pending(w);
		if (w->batch.len == 0) {
			rc = land_or_requeue(w, stop);
			if (rc)
				break;
			continue;
		}
		if (!w->decoded) {
			ly_arena_reset(w->batch_arena);
			rc = decode_batch(w, &w->batch, w->batch_arena, &w->d);
			if (rc)
				break;
			w->decoded = 1;
		}
		rc = process_batch(w, stop);
		if (rc == REQUEUED) {
			rc = 0;
			continue;
		}
		ly_msg_batch_clear(&w->batch); /* sent, or let go after a conflict */
		w->decoded = 0;
		if (rc)
			break;
	}
	/* the last batch's answers; one that failed is left to the next
	 * owner of its partitions */
	int stopping = 1;
	land_or_requeue(w, &stopping);
	stop_threads(w);
	return rc;
}

void ly_worker_destroy(ly_worker_t *w)
{
	if (!w)
		return;
	/* messages go back before their consumer closes */
	ly_msg_batch_free(&w->batch);
	ly_msg_batch_free(&w->ahead);
	ly_msg_batch_free(&w->flight.batch);
	ly_consumer_destroy(w->consumer);
	stop_threads(w);
	if (w->producer) {
		rd_kafka_flush(w->producer, FLUSH_MS);
		rd_kafka_destroy(w->producer);
	}
	ly_store_close(w->store);
	ly_store_close(w->flight.store);
	ly_arena_destroy(w->batch_arena);
	ly_arena_destroy(w->ahead_arena);
	ly_arena_destroy(w->flight.arena);
	ly_arena_destroy(w->tx_arena);
	free(w->shared.budget_spent);
	free(w->shared.budget_changed);
	free(w->budget_before);
	ly_program_destroy(w->owned);
	free(w);
}
