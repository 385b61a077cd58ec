/*
 * engine_bench.c: how fast the pure core runs on one core, and whether it
 * touches the heap. A command that prints figures, never a test: nothing
 * here passes or fails.
 *
 *   engine_bench [--events N] [--seed S] [--batch N] [--warmup N]
 *                [--customers N] [--arena-kib N] [PROGRAM]
 *
 * Before any timing it loads the program, makes a deterministic year of
 * input events (splitmix64; 60% order.paid with 2-5 items, 5%
 * order.refunded, 15% review.submitted, 15% social.interaction, 5%
 * customer.updated, in time order over 2026, from customers of Zipf-like
 * popularity; bench/gen.c, shared with loadgen) as CloudEvents JSON and
 * decodes each with ly_event_decode, so every event is one the decoder
 * accepts. Then it runs them the way the worker does: in batches; before
 * a batch, the states of its customers are copied side by side from the
 * array that keeps them by customer number, and the limit counts of the
 * periods its events fall in into the batch arena (the worker's store
 * load); after it, states and changed counts are written back (the
 * worker's store write: what a state points to, its lots with points
 * remaining, orders, held refunds, requests and profile strings, is
 * copied out of the batch arena into one the states keep, compacted every
 * 64 batches) and the arena is reset. The triggers an event
 * causes are applied right after it.
 *
 * What is timed (CPU time of this thread and monotonic wall time), batch by
 * batch: the loop of ly_engine_apply calls over the batch's events and the
 * triggers they cause, and no more than the loop's own bookkeeping (one
 * array slot per call, reading the allocation counter around each call).
 * What is not: making and decoding the events, the warm-up, loading and
 * writing back the states and limit counts, resetting the arena, and
 * tallying the effects, all done with the clocks stopped. Heap allocations
 * are counted by defining malloc and friends here (forwarded to glibc's
 * __libc_*), only while the clocks run; the warm-up (the first events run
 * once on states thrown away afterwards) has OpenSSL, the time zone and
 * the allocator reach their steady state first. An arena block allocated
 * during a batch (the batch outgrew every block the arena has kept from the
 * batches before) is counted apart.
 *
 * Assumes glibc (for __libc_malloc and friends) and one thread. Not built
 * with the sanitizers, which define malloc themselves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

#include "gen.h"

#define DEFAULT_PROGRAM "examples/programs/anadolu-market.yaml"
#define DEFAULT_EVENTS 1000000u
#define DEFAULT_SEED 42u
#define DEFAULT_BATCH 1000u
#define DEFAULT_WARMUP 100000u
#define DEFAULT_CUSTOMERS 200000u
#define DEFAULT_ARENA_KIB 1024u /* the worker's batch arena */
#define EVENTS_MAX 100000000u
#define CUSTOMERS_MAX GEN_CUSTOMERS_MAX
#define BATCH_MAX 100000u
#define ARENA_KIB_MAX (1024u * 1024u)
/* Batches between two compactions of the kept states. */
#define KEPT_COMPACT_BATCHES 64u
#define KEPT_BLOCK_BYTES (16u << 20)
/* An event causes at most this many triggers (a segment and a tier change). */
#define TRIGGERS_PER_EVENT_MAX 4

/* ---- counting heap allocations ---- */

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void __libc_free(void *p);

static int alloc_counting;          /* set only while the clocks run */
static uint64_t alloc_count;        /* malloc, calloc, realloc, memalign */
static uint64_t alloc_arena_count;  /* of which arena blocks (>= block size) */
static uint64_t free_count;
static size_t alloc_arena_bytes = SIZE_MAX;

static void count_alloc(size_t size)
{
	if (!alloc_counting)
		return;
	alloc_count++;
	if (size >= alloc_arena_bytes)
		alloc_arena_count++;
}

void *malloc(size_t size)
{
	count_alloc(size);
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	count_alloc(n * size);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	count_alloc(size);
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (alloc_counting && p)
		free_count++;
	__libc_free(p);
}

int posix_memalign(void **out, size_t align, size_t size)
{
	count_alloc(size);
	void *p = __libc_memalign(align, size);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

void *aligned_alloc(size_t align, size_t size)
{
	count_alloc(size);
	return __libc_memalign(align, size);
}

/* ---- running batches ---- */

/* A customer's limit counts between batches, as the store keeps them. */
typedef struct stored_limits {
	ly_limit_count_t *v;
	size_t len, cap;
} stored_limits_t;

typedef struct tally {
	uint64_t events;
	uint64_t calls; /* engine calls: events and triggers */
	uint64_t triggers;
	uint64_t triggers_tier, triggers_segment;
	uint64_t firings; /* rules with a posting, a code or an offer */
	uint64_t postings;
	int64_t points_available, points_pending;
	uint64_t codes, offers;
	uint64_t eval_errors;
	uint64_t allocs_in_code_calls; /* in calls issuing codes, but arena
					 * blocks */
} tally_t;

typedef struct bench {
	const ly_program_t *program;
	ly_engine_shared_t shared;
	size_t customers;
	char **customer_ids;
	ly_customer_state_t *states; /* between batches, by customer number */
	stored_limits_t *stored;
	uint32_t *stamp; /* the last batch a customer was in */
	uint32_t *slot;  /* where in batch_states, when in this batch */
	/* the batch's customers: their numbers and their states, loaded
	 * together as the worker's store loads them */
	uint32_t *touched;
	ly_customer_state_t *batch_states;
	size_t touched_len;
	uint32_t *ev_slot; /* batch_states index of each event of the batch */
	uint32_t batch_no;
	ly_arena_t *arena;
	/* what the states point to between batches (the store's copy): a
	 * batch's changes are copied in after it; every KEPT_COMPACT_BATCHES
	 * batches every state is copied to the spare and the two swap */
	ly_arena_t *kept, *kept_spare;
	uint32_t kept_batches;
	ly_effects_t *fx; /* one batch's effects, events and triggers */
	size_t fx_cap;
	size_t limits_max;        /* the most counts the store kept for one */
	size_t limits_loaded_max; /* the most loaded for one in a batch */
	double cpu_s, wall_s;
	tally_t t;
} bench_t;

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The count of (rule, period) in counts[0..len), or NULL. */
static ly_limit_count_t *limit_in(ly_limit_count_t *counts, size_t len,
				  uint32_t rule, const char *period)
{
	for (size_t k = 0; k < len; k++)
		if (counts[k].rule == rule && strcmp(counts[k].period, period) == 0)
			return &counts[k];
	return NULL;
}

/*
 * Before a batch, as the worker loads them: the states of its customers
 * side by side, and into the arena the limit counts its events may need
 * (for each event and each rule with a `limit` on its type or on a
 * trigger, the count in the period of the event's time), not the whole
 * history the store keeps.
 */
static int batch_load(bench_t *b, const ly_event_t *events, const uint32_t *cust,
		      size_t from, size_t to)
{
	const ly_program_t *program = b->program;
	b->batch_no++;
	b->touched_len = 0;
	for (size_t i = from; i < to; i++) {
		uint32_t c = cust[i];
		if (b->stamp[c] == b->batch_no) {
			b->ev_slot[i - from] = b->slot[c];
			continue;
		}
		b->stamp[c] = b->batch_no;
		b->slot[c] = (uint32_t)b->touched_len;
		b->ev_slot[i - from] = (uint32_t)b->touched_len;
		b->touched[b->touched_len] = c;
		ly_customer_state_t *st = &b->batch_states[b->touched_len++];
		*st = b->states[c];
		st->limits = NULL;
		st->limits_len = st->limits_cap = 0;
	}
	for (size_t i = from; i < to; i++) {
		const ly_event_t *ev = &events[i];
		ly_customer_state_t *st = &b->batch_states[b->ev_slot[i - from]];
		stored_limits_t *sl = &b->stored[cust[i]];
		if (sl->len == 0)
			continue;
		for (size_t r = 0; r < program->rules_len; r++) {
			const ly_rule_t *rule = &program->rules[r];
			if (rule->limit_count <= 0 ||
			    (rule->trigger == LY_TRIGGER_NONE && rule->on != ev->type))
				continue;
			char period[LY_PERIOD_KEY_MAX];
			ly_engine_limit_period(program, rule, ev, period);
			if (limit_in(st->limits, st->limits_len, (uint32_t)r, period))
				continue;
			const ly_limit_count_t *c = limit_in(sl->v, sl->len, (uint32_t)r,
							     period);
			if (c && !ly_customer_limit_append(st, c->rule, c->period,
							   c->count, b->arena))
				return LY_ENOMEM;
		}
	}
	return 0;
}

/* ---- keeping states between batches, as the store does ---- */

static int keep_str(ly_arena_t *a, const char **s)
{
	if (*s && !(*s = ly_arena_strdup(a, *s)))
		return LY_ENOMEM;
	return 0;
}

static int keep_amounts(ly_arena_t *a, ly_amount_t **v, size_t n)
{
	ly_amount_t *c = n ? ly_arena_alloc(a, n * sizeof(*c)) : NULL;
	if (n && !c)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		c[i] = (*v)[i];
		if (keep_str(a, &c[i].name))
			return LY_ENOMEM;
	}
	*v = c;
	return 0;
}

static int keep_order(ly_arena_t *a, ly_order_t *o)
{
	size_t n = o->rules_len;
	const char **ids = n ? ly_arena_alloc(a, n * sizeof(*ids)) : NULL;
	int64_t *earned = n ? ly_arena_alloc(a, n * sizeof(*earned)) : NULL;
	int64_t *reversed = n ? ly_arena_alloc(a, n * sizeof(*reversed)) : NULL;
	if (n && (!ids || !earned || !reversed))
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ids[i] = o->rule_ids[i];
		earned[i] = o->earned[i];
		reversed[i] = o->reversed[i];
		if (keep_str(a, &ids[i]))
			return LY_ENOMEM;
	}
	o->rule_ids = ids;
	o->earned = earned;
	o->reversed = reversed;
	o->is_new = o->changed = 0;
	if (keep_str(a, &o->order_id) || keep_str(a, &o->event_source) ||
	    keep_str(a, &o->event_id))
		return LY_ENOMEM;
	return keep_amounts(a, &o->categories, o->categories_len);
}

/*
 * Copies into a what st points to, as the store would write it and load
 * it again: the lots with points remaining, the orders, the refunds still
 * held, the requests applied, the profile's strings. The limit counts are
 * kept apart (stored_limits_t).
 */
static int keep_state(ly_arena_t *a, ly_customer_state_t *st)
{
	size_t n = 0;
	if (keep_str(a, &st->top_category) || keep_str(a, &st->locale) ||
	    keep_str(a, &st->first_name) || keep_str(a, &st->referred_by) ||
	    keep_amounts(a, &st->categories, st->categories_len))
		return LY_ENOMEM;
	st->categories_cap = st->categories_len;

	ly_lot_t *lots = st->lots_len ? ly_arena_alloc(a, st->lots_len * sizeof(*lots)) : NULL;
	if (st->lots_len && !lots)
		return LY_ENOMEM;
	for (size_t i = 0; i < st->lots_len; i++) {
		if (st->lots[i].remaining <= 0)
			continue;
		ly_lot_t *l = &lots[n++];
		*l = st->lots[i];
		l->changed = 0;
		if (keep_str(a, &l->event_source) || keep_str(a, &l->event_id) ||
		    keep_str(a, &l->rule_id))
			return LY_ENOMEM;
	}
	st->lots = lots;
	st->lots_len = st->lots_cap = n;

	ly_order_t *orders = st->orders_len ? ly_arena_alloc(a, st->orders_len * sizeof(*orders))
					    : NULL;
	if (st->orders_len && !orders)
		return LY_ENOMEM;
	for (size_t i = 0; i < st->orders_len; i++) {
		orders[i] = st->orders[i];
		if (keep_order(a, &orders[i]))
			return LY_ENOMEM;
	}
	st->orders = orders;
	st->orders_cap = st->orders_len;

	n = 0;
	ly_held_t *held = st->held_len ? ly_arena_alloc(a, st->held_len * sizeof(*held)) : NULL;
	if (st->held_len && !held)
		return LY_ENOMEM;
	for (size_t i = 0; i < st->held_len; i++) {
		if (st->held[i].applied)
			continue;
		ly_held_t *h = &held[n++];
		*h = st->held[i];
		h->is_new = 0;
		if (keep_str(a, &h->ev.id) || keep_str(a, &h->ev.source) ||
		    keep_str(a, &h->ev.u.refund.order_id))
			return LY_ENOMEM;
		h->ev.customer_id = st->customer_id;
	}
	st->held = held;
	st->held_len = st->held_cap = n;

	const char **req = st->requests_len ? ly_arena_alloc(a, st->requests_len * sizeof(*req))
					    : NULL;
	if (st->requests_len && !req)
		return LY_ENOMEM;
	for (size_t i = 0; i < st->requests_len; i++) {
		req[i] = st->requests[i];
		if (keep_str(a, &req[i]))
			return LY_ENOMEM;
	}
	st->requests = req;
	st->requests_cap = st->requests_len;
	st->lots_partial = st->orders_partial = 0;
	st->changed = st->profile_changed = 0;
	return 0;
}

/* Every state copied to the spare arena, which becomes the kept one: what
 * earlier batches kept and later ones replaced is let go. */
static int compact_kept(bench_t *b)
{
	for (size_t c = 0; c < b->customers; c++)
		if (keep_state(b->kept_spare, &b->states[c]))
			return LY_ENOMEM;
	ly_arena_t *old = b->kept;
	b->kept = b->kept_spare;
	b->kept_spare = old;
	ly_arena_reset(b->kept_spare);
	return 0;
}

/* After a batch: the customers' states and the counts the engine changed
 * back to the store, then the arena reset. */
static int batch_store(bench_t *b)
{
	for (size_t i = 0; i < b->touched_len; i++) {
		uint32_t c = b->touched[i];
		ly_customer_state_t *st = &b->batch_states[i];
		stored_limits_t *sl = &b->stored[c];
		if (st->limits_len > b->limits_loaded_max)
			b->limits_loaded_max = st->limits_len;
		for (size_t k = 0; k < st->limits_len; k++) {
			const ly_limit_count_t *n = &st->limits[k];
			if (!n->changed)
				continue;
			ly_limit_count_t *old = limit_in(sl->v, sl->len, n->rule, n->period);
			if (!old) {
				if (sl->len == sl->cap) {
					size_t cap = sl->cap * 2 + 8;
					ly_limit_count_t *v = realloc(sl->v, cap * sizeof(*v));
					if (!v)
						return LY_ENOMEM;
					sl->v = v;
					sl->cap = cap;
				}
				old = &sl->v[sl->len++];
			}
			*old = *n;
			old->changed = 0;
		}
		if (sl->len > b->limits_max)
			b->limits_max = sl->len;
		st->limits = NULL;
		st->limits_len = st->limits_cap = 0;
		if (keep_state(b->kept, st))
			return LY_ENOMEM;
		b->states[c] = *st;
	}
	ly_arena_reset(b->arena);
	if (++b->kept_batches % KEPT_COMPACT_BATCHES == 0)
		return compact_kept(b);
	return 0;
}

/* The figures of one engine call's effects. */
static void tally_effects(tally_t *t, const ly_effects_t *fx)
{
	const char *seen[64];
	size_t nseen = 0, overflow = 0;
	t->postings += fx->postings_len;
	t->codes += fx->codes_len;
	t->offers += fx->offers_len;
	for (size_t k = 0; k < fx->triggers_len; k++) {
		t->triggers_tier += fx->triggers[k].trigger == LY_TRIGGER_TIER_CHANGED;
		t->triggers_segment +=
			fx->triggers[k].trigger == LY_TRIGGER_SEGMENT_CHANGED;
	}
	for (size_t k = 0; k < fx->postings_len + fx->codes_len + fx->offers_len; k++) {
		const char *id;
		if (k < fx->postings_len) {
			const ly_posting_t *p = &fx->postings[k];
			t->points_available += p->delta_available;
			t->points_pending += p->delta_pending;
			id = p->rule_id;
		} else if (k < fx->postings_len + fx->codes_len) {
			id = fx->codes[k - fx->postings_len].rule_id;
		} else {
			id = fx->offers[k - fx->postings_len - fx->codes_len].rule_id;
		}
		size_t j = 0;
		while (j < nseen && seen[j] != id)
			j++;
		if (j < nseen)
			continue;
		if (nseen < LY_ARRAY_LEN(seen))
			seen[nseen++] = id;
		else
			overflow++;
	}
	t->firings += nseen + overflow;
}

/* One engine call into the next effects slot of the batch: what the
 * worker does per event, plus counting the allocations of calls that issue
 * codes. 0, or the engine's error other than an evaluation error. */
static inline int call(bench_t *b, ly_customer_state_t *st,
		       const ly_event_t *ev, size_t *nfx)
{
	char why[512];
	ly_effects_t *fx = &b->fx[*nfx];
	uint64_t a0 = alloc_count, r0 = alloc_arena_count;
	LY_ASSERT(*nfx < b->fx_cap);
	int rc = ly_engine_apply(fx, b->program, &b->shared, st, ev, b->arena, why,
				 sizeof(why));
	if (rc == LY_EINVAL) {
		/* the worker dead-letters it; the state is unchanged */
		memset(fx, 0, sizeof(*fx));
		b->t.eval_errors++;
	} else if (rc) {
		fprintf(stderr, "engine_bench: event %s: %s (%d)\n", ev->id, why, rc);
		return rc;
	}
	if (fx->codes_len)
		b->t.allocs_in_code_calls +=
			(alloc_count - a0) - (alloc_arena_count - r0);
	(*nfx)++;
	return 0;
}

/* Runs events [from, to) in batches; timed only when timed is set. */
static int run_events(bench_t *b, const ly_event_t *events, const uint32_t *cust,
		      size_t from, size_t to, size_t batch, int timed)
{
	for (size_t start = from; start < to; start += batch) {
		size_t end = to - start < batch ? to : start + batch;
		size_t nfx = 0;
		double cpu0 = 0, wall0 = 0;
		int rc = batch_load(b, events, cust, start, end);
		if (rc)
			return rc;

		/* ---- timed: the engine calls of the batch ---- */
		if (timed) {
			wall0 = clock_s(CLOCK_MONOTONIC);
			cpu0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
			alloc_counting = 1;
		}
		for (size_t i = start; i < end && !rc; i++) {
			ly_customer_state_t *st = &b->batch_states[b->ev_slot[i - start]];
			size_t first = nfx;
			rc = call(b, st, &events[i], &nfx);
			/* then the triggers it causes, in order; nfx grows meanwhile */
			for (size_t j = first; j < nfx && !rc; j++)
				for (size_t k = 0; k < b->fx[j].triggers_len && !rc; k++)
					rc = call(b, st, &b->fx[j].triggers[k], &nfx);
		}
		if (timed) {
			alloc_counting = 0;
			b->cpu_s += clock_s(CLOCK_THREAD_CPUTIME_ID) - cpu0;
			b->wall_s += clock_s(CLOCK_MONOTONIC) - wall0;
		}
		/* ---- untimed from here ---- */
		if (rc)
			return rc;

		b->t.events += end - start;
		b->t.calls += nfx;
		b->t.triggers += nfx - (end - start);
		for (size_t j = 0; j < nfx; j++)
			tally_effects(&b->t, &b->fx[j]);
		if ((rc = batch_store(b)))
			return rc;
	}
	return 0;
}

/* Everything back to a new year: new customers, budgets untouched. */
static void bench_reset(bench_t *b)
{
	for (size_t c = 0; c < b->customers; c++) {
		memset(&b->states[c], 0, sizeof(b->states[c]));
		b->states[c].customer_id = b->customer_ids[c];
		b->stored[c].len = 0;
	}
	if (b->shared.budget_spent) {
		memset(b->shared.budget_spent, 0,
		       b->program->rules_len * sizeof(*b->shared.budget_spent));
		memset(b->shared.budget_changed, 0, b->program->rules_len);
	}
	ly_arena_reset(b->kept);
	ly_arena_reset(b->kept_spare);
	b->kept_batches = 0;
	memset(&b->t, 0, sizeof(b->t));
	b->cpu_s = b->wall_s = 0;
	b->limits_max = b->limits_loaded_max = 0;
	alloc_count = alloc_arena_count = free_count = 0;
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: engine_bench [--events N] [--seed S] [--batch N] [--warmup N]\n"
		"                    [--customers N] [--arena-kib N] [PROGRAM]\n"
		"\n"
		"Runs N generated events (default %u) through ly_engine_apply on one\n"
		"thread and prints events/s per core and heap allocations per event.\n"
		"PROGRAM defaults to %s.\n"
		"  --events N      input events timed, 1..%u\n"
		"  --seed S        PRNG seed (default %u)\n"
		"  --batch N       events per batch: arena reset interval, 1..%u (default %u)\n"
		"  --warmup N      first N events run untimed first, 0..events (default %u)\n"
		"  --customers N   distinct customers, 1..%u (default %u)\n"
		"  --arena-kib N   the batch arena's block, KiB, 4..%u (default %u)\n",
		DEFAULT_EVENTS, DEFAULT_PROGRAM, EVENTS_MAX, DEFAULT_SEED, BATCH_MAX,
		DEFAULT_BATCH, DEFAULT_WARMUP, CUSTOMERS_MAX, DEFAULT_CUSTOMERS,
		ARENA_KIB_MAX, DEFAULT_ARENA_KIB);
}

static long peak_rss_kib(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	return ru.ru_maxrss; /* KiB on Linux */
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_PROGRAM;
	uint64_t nevents = DEFAULT_EVENTS, seed = DEFAULT_SEED, batch = DEFAULT_BATCH;
	uint64_t warmup = DEFAULT_WARMUP, ncustomers = DEFAULT_CUSTOMERS;
	uint64_t arena_kib = DEFAULT_ARENA_KIB;
	int have_warmup = 0, have_path = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--events") == 0) {
			bad = ly_parse_u64(v, 1, EVENTS_MAX, &nevents);
		} else if (strcmp(a, "--seed") == 0) {
			bad = ly_parse_u64(v, 0, UINT64_MAX, &seed);
		} else if (strcmp(a, "--batch") == 0) {
			bad = ly_parse_u64(v, 1, BATCH_MAX, &batch);
		} else if (strcmp(a, "--warmup") == 0) {
			bad = ly_parse_u64(v, 0, EVENTS_MAX, &warmup);
			have_warmup = 1;
		} else if (strcmp(a, "--customers") == 0) {
			bad = ly_parse_u64(v, 1, CUSTOMERS_MAX, &ncustomers);
		} else if (strcmp(a, "--arena-kib") == 0) {
			bad = ly_parse_u64(v, 4, ARENA_KIB_MAX, &arena_kib);
		} else if (a[0] != '-' && !have_path) {
			path = a;
			have_path = 1;
			continue;
		} else {
			fprintf(stderr, "engine_bench: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "engine_bench: %s: bad value %s%s%s\n", a,
				v ? "\"" : "(missing)", v ? v : "", v ? "\"" : "");
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (!have_warmup && warmup > nevents)
		warmup = nevents;
	if (warmup > nevents) {
		fprintf(stderr, "engine_bench: --warmup %" PRIu64 " is more than --events %" PRIu64 "\n",
			warmup, nevents);
		usage(stderr);
		return 2;
	}

	int status = 1, rc;
	char errstr[1024];
	ly_program_t *program = NULL;
	ly_arena_t *ev_arena = NULL;
	ly_event_t *events = NULL;
	uint32_t *cust = NULL, *per_customer = NULL;
	gen_t gen = {0};
	gen_event_t gev;
	ly_buf_t json = {0};
	bench_t b = {0};
	const size_t n = (size_t)nevents, ncust = (size_t)ncustomers;
	double setup0 = clock_s(CLOCK_MONOTONIC);

	if ((rc = ly_program_load(&program, path, errstr, sizeof(errstr)))) {
		fprintf(stderr, "engine_bench: %s\n", errstr);
		goto out;
	}

	/* The events, made and decoded before anything is timed. */
	ev_arena = ly_arena_new(64u << 20);
	events = calloc(n, sizeof(*events));
	cust = calloc(n, sizeof(*cust));
	per_customer = calloc(ncust, sizeof(*per_customer));
	if (!ev_arena || !events || !cust || !per_customer ||
	    gen_init(&gen, seed, ncust, 0))
		goto nomem;
	json.max = GEN_JSON_MAX;
	const int64_t year_start_us = ly_days_from_civil(2026, 1, 1) * 86400 * INT64_C(1000000);
	const int64_t year_us = INT64_C(365) * 86400 * 1000000;
	uint64_t by_type[LY_EV__COUNT] = {0};
	for (size_t i = 0; i < n; i++) {
		/* in time order, as one partition delivers them */
		ly_reject_t why;
		if ((rc = gen_next(&gen, &json, i,
				   gen_time_in_span(year_start_us, year_us, i, n), 30, &gev)))
			goto nomem;
		cust[i] = gev.customer;
		per_customer[cust[i]]++;
		rc = ly_event_decode(&events[i], &why, errstr, sizeof(errstr), json.data,
				     json.len, NULL, 0, ev_arena);
		if (rc) {
			fprintf(stderr, "engine_bench: generated event %zu refused: %s\n%s\n",
				i, errstr, json.data);
			goto out;
		}
		by_type[events[i].type]++;
	}
	uint32_t seen = 0, busiest = 0;
	for (size_t c = 0; c < ncust; c++) {
		seen += per_customer[c] > 0;
		if (per_customer[c] > busiest)
			busiest = per_customer[c];
	}

	/* The engine's world: states, limit store, budgets, the batch arena. */
	b.program = program;
	b.customers = ncust;
	b.customer_ids = calloc(ncust, sizeof(*b.customer_ids));
	b.states = calloc(ncust, sizeof(*b.states));
	b.stored = calloc(ncust, sizeof(*b.stored));
	b.stamp = calloc(ncust, sizeof(*b.stamp));
	b.slot = calloc(ncust, sizeof(*b.slot));
	b.touched = calloc((size_t)batch, sizeof(*b.touched));
	b.batch_states = calloc((size_t)batch, sizeof(*b.batch_states));
	b.ev_slot = calloc((size_t)batch, sizeof(*b.ev_slot));
	b.fx_cap = (size_t)batch * (1 + TRIGGERS_PER_EVENT_MAX);
	b.fx = calloc(b.fx_cap, sizeof(*b.fx));
	b.arena = ly_arena_new((size_t)arena_kib * 1024);
	b.kept = ly_arena_new(KEPT_BLOCK_BYTES);
	b.kept_spare = ly_arena_new(KEPT_BLOCK_BYTES);
	if (!b.customer_ids || !b.states || !b.stored || !b.stamp || !b.slot ||
	    !b.touched || !b.batch_states || !b.ev_slot || !b.fx || !b.arena || !b.kept ||
	    !b.kept_spare)
		goto nomem;
	for (size_t c = 0; c < ncust; c++) {
		char id[24];
		snprintf(id, sizeof(id), "c%06zu", c);
		if (!(b.customer_ids[c] = strdup(id)))
			goto nomem;
	}
	if (program->rules_len) {
		b.shared.budget_spent = calloc(program->rules_len, sizeof(int64_t));
		b.shared.budget_changed = calloc(program->rules_len, 1);
		if (!b.shared.budget_spent || !b.shared.budget_changed)
			goto nomem;
	}
	static const char secret[] = "engine-bench-secret-0123456789abcdef";
	b.shared.code_secret = secret;
	b.shared.code_secret_len = sizeof(secret) - 1;
	alloc_arena_bytes = (size_t)arena_kib * 1024;
	double setup_s = clock_s(CLOCK_MONOTONIC) - setup0;

	/* Warm-up on states thrown away, then the measured run. */
	bench_reset(&b);
	if (warmup && (rc = run_events(&b, events, cust, 0, (size_t)warmup,
				       (size_t)batch, 0)))
		goto out;
	bench_reset(&b);
	if ((rc = run_events(&b, events, cust, 0, n, (size_t)batch, 1)))
		goto out;

	const tally_t *t = &b.t;
	printf("program              %s (%s, version %s)\n", path, program->name,
	       program->version);
	printf("rules                %zu\n", program->rules_len);
	printf("events               %" PRIu64 " (order.paid %" PRIu64
	       ", order.refunded %" PRIu64 ", review.submitted %" PRIu64
	       ", social.interaction %" PRIu64 ", customer.updated %" PRIu64 ")\n",
	       t->events, by_type[LY_EV_ORDER_PAID], by_type[LY_EV_ORDER_REFUNDED],
	       by_type[LY_EV_REVIEW_SUBMITTED], by_type[LY_EV_SOCIAL_INTERACTION],
	       by_type[LY_EV_CUSTOMER_UPDATED]);
	printf("customers            %zu (zipf s=%.1f; %" PRIu32
	       " with events, the busiest has %" PRIu32 ")\n",
	       ncust, GEN_ZIPF_S, seen, busiest);
	printf("seed                 %" PRIu64 "\n", seed);
	printf("batch                %" PRIu64 " events, arena block %" PRIu64
	       " KiB, reset after each batch\n", batch, arena_kib);
	printf("warm-up              %" PRIu64 " events, untimed, on states discarded after\n",
	       warmup);
	printf("engine calls         %" PRIu64 " (events and triggers)\n", t->calls);
	printf("triggers             %" PRIu64 " (tier.changed %" PRIu64
	       ", customer.segment_changed %" PRIu64 ")\n",
	       t->triggers, t->triggers_tier, t->triggers_segment);
	printf("firings              %" PRIu64 " (rules with a posting, code or offer)\n",
	       t->firings);
	printf("postings             %" PRIu64 "\n", t->postings);
	printf("points               %" PRId64 " available, %" PRId64 " pending\n",
	       t->points_available, t->points_pending);
	printf("codes                %" PRIu64 "\n", t->codes);
	printf("offers               %" PRIu64 "\n", t->offers);
	printf("evaluation errors    %" PRIu64 "\n", t->eval_errors);
	printf("limit counts         at most %zu kept for one customer, %zu held by one in a batch\n",
	       b.limits_max, b.limits_loaded_max);
	printf("wall seconds         %.3f\n", b.wall_s);
	printf("cpu seconds          %.3f\n", b.cpu_s);
	printf("events/s per core    %.0f (events / cpu seconds)\n",
	       b.cpu_s > 0 ? (double)t->events / b.cpu_s : 0.0);
	printf("ns per event         %.0f (cpu)\n",
	       t->events ? b.cpu_s * 1e9 / (double)t->events : 0.0);
	printf("calls/s per core     %.0f (engine calls / cpu seconds)\n",
	       b.cpu_s > 0 ? (double)t->calls / b.cpu_s : 0.0);
	printf("allocations          %" PRIu64 " (%" PRIu64 " frees)\n", alloc_count,
	       free_count);
	printf("allocations/event    %.3f (%s)\n",
	       t->events ? (double)alloc_count / (double)t->events : 0.0,
	       warmup ? "steady state, after the warm-up"
		      : "no warm-up: start-up included");
	printf("  arena blocks       %" PRIu64 " (%.3f per event)\n", alloc_arena_count,
	       t->events ? (double)alloc_arena_count / (double)t->events : 0.0);
	printf("  in calls issuing codes %" PRIu64 " (%.1f per code)\n",
	       t->allocs_in_code_calls,
	       t->codes ? (double)t->allocs_in_code_calls / (double)t->codes : 0.0);
	printf("  other              %" PRIu64 "\n",
	       alloc_count - alloc_arena_count - t->allocs_in_code_calls);
	printf("setup seconds        %.3f (program, making and decoding the events; untimed)\n",
	       setup_s);
	printf("peak rss             %.1f MiB (the decoded events included)\n",
	       (double)peak_rss_kib() / 1024.0);
	status = 0;
	goto out;
nomem:
	fprintf(stderr, "engine_bench: out of memory\n");
out:
	if (b.customer_ids)
		for (size_t c = 0; c < ncust; c++)
			free(b.customer_ids[c]);
	if (b.stored)
		for (size_t c = 0; c < ncust; c++)
			free(b.stored[c].v);
	free(b.customer_ids);
	free(b.states);
	free(b.stored);
	free(b.stamp);
	free(b.slot);
	free(b.touched);
	free(b.batch_states);
	free(b.ev_slot);
	free(b.fx);
	free(b.shared.budget_spent);
	free(b.shared.budget_changed);
	ly_arena_destroy(b.arena);
	ly_arena_destroy(b.kept);
	ly_arena_destroy(b.kept_spare);
	ly_buf_free(&json);
	gen_free(&gen);
	free(per_customer);
	free(cust);
	free(events);
	ly_arena_destroy(ev_arena);
	ly_program_destroy(program);
	return status;
}
