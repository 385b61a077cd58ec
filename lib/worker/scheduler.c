/*
 * scheduler.c: one pass of the scheduler (include/loyalty/worker.h,
 * docs/lifecycle.md). Each transaction takes up to batch customers with
 * work due at now, locked FOR UPDATE SKIP LOCKED on the same row the
 * worker locks, so passes on any number of replicas and the batches never
 * wait on each other; for each it runs the queued triggers, then every
 * release, expiry, reminder, birthday, segment change and tier evaluation
 * due by now in time order, each at its own instant; and writes it all
 * with the outbox rows, like a batch. Held refunds past refunds.hold_days
 * are dead-lettered in the same pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/worker.h"
#include "worker_int.h"

#define HELD_PER_TX 1000
#define LIMIT_PERIODS_MAX 400

/* The customers' work in one transaction; *done counts them, *full says
 * whether it took as many as it may (more may be due). */
static int pass_once(ly_store_t *store, const ly_config_t *cfg,
		     const ly_program_t *program, ly_engine_shared_t *shared,
		     int64_t *budget_before, int64_t now_us, ly_scheduler_stats_t *st,
		     size_t *done, int *full, ly_arena_t *arena, char *errstr,
		     size_t errstr_size)
{
	const char **ids;
	size_t n;
	*done = 0;
	*full = 0;
	int rc = ly_store_begin(store, errstr, errstr_size);
	if (rc)
		return rc;
	if (budget_before) {
		rc = ly_store_load_budgets(store, program, shared->budget_spent, arena, errstr,
					   errstr_size);
		if (rc)
			return rc;
		memcpy(budget_before, shared->budget_spent,
		       program->rules_len * sizeof(*budget_before));
		memset(shared->budget_changed, 0, program->rules_len);
	}
	rc = ly_store_due_customers(store, now_us, (size_t)cfg->scheduler_batch_customers,
				    &ids, &n, arena, errstr, errstr_size);
	if (rc)
		return rc;
	/* Held refunds whose order never came, with the same pass. */
	ly_store_held_row_t *held;
	size_t nheld;
	rc = ly_store_expire_held(store, now_us - cfg->refunds_hold_days * LY_US_PER_DAY,
				  HELD_PER_TX, &held, &nheld, arena, errstr, errstr_size);
	if (rc)
		return rc;
	if (n == 0 && nheld == 0)
		return 0;
	ly_customer_state_t *states = ly_arena_alloc(arena, (n + 1) * sizeof(*states));
	ly_store_outbox_row_t *dead = ly_arena_alloc(arena, (nheld + 1) * sizeof(*dead));
	if (!states || !dead)
		return LY_ENOMEM;
	for (size_t i = 0; i < nheld; i++) {
		char msg[300];
		snprintf(msg, sizeof(msg), "order %.200s was not paid within %lld days",
			 held[i].order_id, (long long)cfg->refunds_hold_days);
		if (ly_dead_letter_row(&dead[i], cfg, &held[i], "order_not_found", msg, arena))
			return LY_ENOMEM;
		ly_log(LY_LOG_INFO, "scheduler", "held refund of order %s dead-lettered",
		       held[i].order_id);
	}
	for (size_t i = 0; i < n; i++)
		states[i].customer_id = ids[i];
	rc = ly_store_lock_customers(store, states, n, arena, errstr, errstr_size);
	if (!rc)
		rc = ly_store_load_profiles(store, program, states, n, arena, errstr,
					    errstr_size);
	if (rc)
		return rc;
	/* all their lots, and the orders of the tier window of every instant
	 * the pass may evaluate */
	ly_store_needs_t nd = {0};
	nd.lots = ly_arena_alloc(arena, (n + 1) * sizeof(*nd.lots));
	nd.window = ly_arena_alloc(arena, (n + 1) * sizeof(*nd.window));
	if (!nd.lots || !nd.window)
		return LY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t from = states[i].next_due_us && states[i].next_due_us < now_us
				       ? states[i].next_due_us
				       : now_us;
		if (states[i].tier_due_us && states[i].tier_due_us < from)
			from = states[i].tier_due_us;
		nd.lots[nd.lots_len++] = &states[i];
		nd.window[nd.window_len++] = (ly_store_key_t){
			&states[i], NULL, from - program->tier_window_days * LY_US_PER_DAY};
	}
	rc = ly_store_load_lifecycle(store, states, n, &nd, arena, errstr, errstr_size);
	if (rc)
		return rc;
	/* The limit counts the triggers' rules may need: of every calendar
	 * period from the customer's first due instant to now (a pass on time
	 * spans one or two; a late one more, at most LIMIT_PERIODS_MAX). */
	size_t nkeys = 0, cap = 0;
	ly_store_limit_key_t *keys = NULL;
	uint32_t *idx = ly_arena_alloc(arena, (program->rules_len + 2) * sizeof(*idx));
	if (!idx)
		return LY_ENOMEM;
	const size_t nidx = ly_limit_indices(program, NULL, idx);
	for (size_t r = 0; r < nidx; r++) {
		const ly_period_t per = ly_limit_per(program, idx[r]);
		for (size_t i = 0; i < n; i++) {
			int64_t t = nd.window[i].t_us + program->tier_window_days * LY_US_PER_DAY;
			for (int k = 0; k < LIMIT_PERIODS_MAX && t <= now_us; k++) {
				ly_store_limit_key_t *key = ly_arena_push(arena, (void **)&keys, &nkeys,
									  &cap, sizeof(*key), 64);
				if (!key)
					return LY_ENOMEM;
				key->state = &states[i];
				key->rule = idx[r];
				ly_limit_period_at(program, idx[r], t, key->period);
				if (per == LY_PERIOD_EVER)
					break;
				int64_t start, end;
				ly_tz_period(program->tz, per, t, &start, &end);
				t = ly_tz_day_start_us(program->tz, end);
			}
		}
	}
	if (nkeys) {
		rc = ly_store_load_limits(store, program, keys, nkeys, arena, errstr, errstr_size);
		if (rc)
			return rc;
	}

	ly_applied_list_t list = {0};
	ly_event_t *queued;
	size_t nqueued;
	rc = ly_store_load_queued(store, ids, n, now_us, &queued, &nqueued, arena, errstr,
				  errstr_size);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		ly_customer_state_t *cs = &states[i];
		char why[512];
		int followup_failed;
		for (size_t q = 0; q < nqueued; q++) {
			if (strcmp(queued[q].customer_id, cs->customer_id) != 0)
				continue;
			rc = ly_apply_chain(&list, i, program, shared, cs, &queued[q],
					    &followup_failed, arena, why, sizeof(why));
			if (rc == LY_EINVAL) {
				/* a trigger that cannot be evaluated stays undone, said
				 * once per pass; the others go on */
				ly_log(LY_LOG_WARN, "scheduler", "trigger %s: %s", queued[q].id, why);
				st->errors++;
				continue;
			}
			if (rc)
				return rc;
			st->triggers++;
		}
		for (;;) {
			ly_applied_t *a = ly_applied_add(&list, arena);
			ly_event_t *ev = ly_arena_alloc(arena, sizeof(*ev));
			if (!a || !ev)
				return LY_ENOMEM;
			a->ev = ev;
			a->state = cs;
			a->root = i;
			rc = ly_engine_tick(&a->fx, ev, program, shared, cs, now_us, arena, why,
					    sizeof(why));
			if (rc == LY_ENOTFOUND || (rc == 0 && !ev->id)) {
				list.len--; /* nothing due, or nothing to say */
				if (rc == LY_ENOTFOUND)
					break;
				continue;
			}
			if (rc == LY_EINVAL) {
				/* deterministic: it would fail on every pass; the
				 * customer's other work goes on at the next pass */
				ly_log(LY_LOG_WARN, "scheduler", "customer %s: %s", cs->customer_id,
				       why);
				list.len--;
				st->errors++;
				cs->next_due_us = now_us + LY_US_PER_DAY;
				cs->profile_changed = 1;
				break;
			}
			if (rc)
				return rc;
			if (ev->trigger != LY_TRIGGER_NONE)
				st->triggers++;
			else if (a->fx.postings_len &&
				 strcmp(a->fx.postings[0].kind, "points.released") == 0)
				st->released++;
			else
				st->expired++;
			/* what the trigger's rules caused for the same customer */
			rc = ly_apply_followups(&list, list.len - 1, i, program, shared, cs,
						arena, why, sizeof(why));
			if (rc)
				return rc == LY_EINVAL ? LY_EIO : rc;
		}
		cs->profile_changed = 1; /* next_due_at is rewritten */
	}
	const ly_apply_extra_t extra = {dead, nheld, NULL, 0};
	rc = ly_apply_write(store, cfg, program, shared, states, n, &list, &extra, arena,
			    errstr, errstr_size);
	if (!rc)
		rc = ly_store_mark_queued(store, queued, nqueued, errstr, errstr_size);
	if (!rc && budget_before) {
		int64_t *delta = ly_arena_alloc(arena, program->rules_len * sizeof(*delta));
		if (!delta)
			return LY_ENOMEM;
		for (size_t i = 0; i < program->rules_len; i++)
			delta[i] = shared->budget_changed[i]
					   ? shared->budget_spent[i] - budget_before[i]
					   : 0;
		rc = ly_store_write_budgets(store, program, delta, arena, errstr, errstr_size);
	}
	if (!rc)
		rc = ly_store_commit(store, errstr, errstr_size);
	if (rc)
		return rc;
	for (size_t i = 0; i < list.len; i++)
		st->postings += list.items[i].fx.postings_len;
	st->customers += n;
	st->dead_lettered += nheld;
	*done = n + nheld;
	*full = n >= (size_t)cfg->scheduler_batch_customers || nheld >= HELD_PER_TX;
	return 0;
}

int ly_scheduler_pass(ly_store_t *store, const ly_config_t *cfg,
		      const ly_program_t *program, int64_t now_us, size_t max_tx,
		      ly_scheduler_stats_t *stats, char *errstr, size_t errstr_size)
{
	size_t txs = 0;
	memset(stats, 0, sizeof(*stats));
	ly_arena_t *arena = ly_arena_new(64 * 1024);
	int64_t *spent = NULL, *before = NULL;
	unsigned char *changed = NULL;
	int budgets = 0, rc = 0;
	for (size_t i = 0; i < program->rules_len; i++)
		budgets |= program->rules[i].budget_points > 0;
	if (!arena || (budgets && (!(spent = calloc(program->rules_len, sizeof(*spent))) ||
				   !(before = calloc(program->rules_len, sizeof(*before))) ||
				   !(changed = calloc(program->rules_len, 1))))) {
		snprintf(errstr, errstr_size, "out of memory");
		rc = LY_ENOMEM;
		goto out;
	}
	ly_engine_shared_t shared = {spent, changed, cfg->codes_secret,
				     strlen(cfg->codes_secret)};
	for (int attempts = 0;;) {
		size_t done;
		int full;
		ly_arena_reset(arena);
		rc = pass_once(store, cfg, program, &shared, budgets ? before : NULL, now_us,
			       stats, &done, &full, arena, errstr, errstr_size);
		if (rc) {
			ly_store_rollback(store);
			/* a budget another replica spent meanwhile, a deadlock:
			 * again on fresh values, a few times */
			if (rc == LY_ERETRY && ++attempts < 5 && ly_store_connected(store))
				continue;
			break;
		}
		if (done == 0)
			break;
		if (max_tx && ++txs >= max_tx) {
			stats->more = full;
			break;
		}
		attempts = 0;
	}
out:
	free(spent);
	free(before);
	free(changed);
	ly_arena_destroy(arena);
	return rc;
}
