/*
 * lifecycle.c: the customers' profiles, lots, orders, held refunds,
 * requests, code uses and queued triggers (include/loyalty/store.h,
 * schemas/sql/0003_lifecycle.sql, docs/lifecycle.md).
 *
 * As in store.c, rows travel as array literals expanded with unnest(); the
 * arrays an order keeps (its rules, its categories) travel as one array
 * literal per row, cast back per row, and come back as JSON.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* A timestamp column selected as microseconds since the epoch; 0 for
 * NULL. */
static int64_t time_us(PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return atoll(PQgetvalue(res, row, col));
}

static const char *text(PGresult *res, int row, int col, ly_arena_t *arena)
{
	if (PQgetisnull(res, row, col))
		return NULL;
	return ly_arena_strdup(arena, PQgetvalue(res, row, col));
}

static int is_true(PGresult *res, int row, int col)
{
	return PQgetvalue(res, row, col)[0] == 't';
}

static ly_map_t *state_map(ly_customer_state_t *states, size_t n, ly_arena_t *arena)
{
	ly_map_t *m = ly_arena_alloc(arena, sizeof(*m));
	if (!m || ly_map_init(m, arena, n + 1))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int found;
		void **slot = ly_map_put(m, states[i].customer_id,
					 strlen(states[i].customer_id), &found);
		if (!slot)
			return NULL;
		*slot = &states[i];
	}
	return m;
}

static ly_customer_state_t *state_of(ly_map_t *m, const char *id)
{
	return ly_map_get(m, id, strlen(id));
}

/* Reads a JSON array of strings (arena copies) and one of integers. */
static int json_pairs(const char *names_json, const char *values_json,
		      const char ***names, int64_t **values, size_t *len,
		      ly_arena_t *arena)
{
	cJSON *a = cJSON_Parse(names_json), *b = cJSON_Parse(values_json);
	int rc = LY_EIO;
	*len = 0;
	if (!cJSON_IsArray(a) || !cJSON_IsArray(b) ||
	    cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
		goto out;
	size_t n = (size_t)cJSON_GetArraySize(a);
	*names = ly_arena_alloc(arena, (n + 1) * sizeof(**names));
	*values = ly_arena_alloc(arena, (n + 1) * sizeof(**values));
	rc = LY_ENOMEM;
	if (!*names || !*values)
		goto out;
	for (size_t i = 0; i < n; i++) {
		cJSON *x = cJSON_GetArrayItem(a, (int)i), *y = cJSON_GetArrayItem(b, (int)i);
		if (!cJSON_IsString(x) || !cJSON_IsNumber(y) ||
		    !((*names)[i] = ly_arena_strdup(arena, x->valuestring)))
			goto out;
		(*values)[i] = (int64_t)y->valuedouble;
	}
	*len = n;
	rc = 0;
out:
	cJSON_Delete(a);
	cJSON_Delete(b);
	return rc;
}

/* A bigint[] as JSON loses nothing below 2^53; spend and points stay far
 * below. */

/* ---- profiles ---- */

int ly_store_load_profiles(ly_store_t *s, const ly_program_t *program,
			   ly_customer_state_t *states, size_t states_len,
			   ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	pg_array_t ids = {0};
	const char *params[1];
	PGresult *res = NULL;
	if (states_len == 0)
		return 0;
	ly_map_t *m = state_map(states, states_len, arena);
	if (!m)
		return LY_ENOMEM;
	for (size_t i = 0; i < states_len; i++)
		ly_st_arr_str(&ids, states[i].customer_id);
	int rc = ly_st_arrs_end(&ids, 1, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, &res, "postgres: load profiles",
			"SELECT customer_id, first_name, locale, "
			"extract(month FROM birth_date)::int, extract(day FROM birth_date)::int, "
			"extract(year FROM birth_date)::int, "
			"(extract(epoch FROM referred_at) * 1000000)::bigint, "
			"consent_email, consent_sms, referred_by, referral_done, order_count, "
			"lifetime_spend, (extract(epoch FROM first_order_at) * 1000000)::bigint, (extract(epoch FROM last_order_at) * 1000000)::bigint, clv, "
			"to_json(categories)::text, to_json(category_spend)::text, tier, segment, "
			"birthday_year, (extract(epoch FROM tier_due_at) * 1000000)::bigint, (extract(epoch FROM next_due_at) * 1000000)::bigint, "
			"withdrawals_email, withdrawals_sms, erased_at IS NOT NULL "
			"FROM customers WHERE customer_id = ANY($1::text[])",
			1, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(&ids, 1);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res) && !rc; r++) {
		ly_customer_state_t *cs = state_of(m, PQgetvalue(res, r, 0));
		if (!cs)
			continue;
		cs->first_name = text(res, r, 1, arena);
		cs->locale = text(res, r, 2, arena);
		cs->birth_month = PQgetisnull(res, r, 3) ? 0 : atoi(PQgetvalue(res, r, 3));
		cs->birth_day = PQgetisnull(res, r, 4) ? 0 : atoi(PQgetvalue(res, r, 4));
		cs->birth_year = PQgetisnull(res, r, 5) ? 0 : atoi(PQgetvalue(res, r, 5));
		cs->referred_at_us = time_us(res, r, 6);
		cs->consent_email = is_true(res, r, 7);
		cs->consent_sms = is_true(res, r, 8);
		cs->referred_by = text(res, r, 9, arena);
		cs->referral_done = is_true(res, r, 10);
		cs->order_count = atoll(PQgetvalue(res, r, 11));
		cs->lifetime_spend = atoll(PQgetvalue(res, r, 12));
		cs->first_order_us = time_us(res, r, 13);
		cs->has_first_order = !PQgetisnull(res, r, 13);
		cs->last_order_us = time_us(res, r, 14);
		cs->has_last_order = !PQgetisnull(res, r, 14);
		cs->clv = atoll(PQgetvalue(res, r, 15));
		const char **names;
		int64_t *amounts;
		size_t n;
		rc = json_pairs(PQgetvalue(res, r, 16), PQgetvalue(res, r, 17), &names,
				&amounts, &n, arena);
		if (rc)
			break;
		cs->categories = ly_arena_alloc(arena, (n + 1) * sizeof(*cs->categories));
		if (!cs->categories) {
			rc = LY_ENOMEM;
			break;
		}
		for (size_t k = 0; k < n; k++)
			cs->categories[k] = (ly_amount_t){names[k], amounts[k]};
		cs->categories_len = n;
		cs->categories_cap = n + 1;
		cs->top_category = ly_customer_top_category(cs);
		const char *tier = PQgetvalue(res, r, 18);
		cs->tier = 0;
		for (size_t k = 0; k < program->tiers_len; k++)
			if (strcmp(program->tiers[k].name, tier) == 0)
				cs->tier = k;
		if (ly_segment_parse(PQgetvalue(res, r, 19), &cs->segment))
			cs->segment = LY_SEGMENT_NEW;
		cs->birthday_year = atoi(PQgetvalue(res, r, 20));
		cs->tier_due_us = time_us(res, r, 21);
		cs->next_due_us = time_us(res, r, 22);
		cs->withdrawals_email = atoll(PQgetvalue(res, r, 23));
		cs->withdrawals_sms = atoll(PQgetvalue(res, r, 24));
		cs->erased = is_true(res, r, 25);
	}
	if (rc == LY_EIO)
		snprintf(errstr, errstr_size, "postgres: load profiles: bad categories");
	PQclear(res);
	return rc;
}

/* ---- what the batch's events need ---- */

static int load_lots(ly_store_t *s, ly_map_t *m, const ly_store_needs_t *nd,
		     ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	pg_array_t ids = {0};
	const char *params[1];
	PGresult *res = NULL;
	if (nd->lots_len == 0)
		return 0;
	for (size_t i = 0; i < nd->lots_len; i++)
		ly_st_arr_str(&ids, nd->lots[i]->customer_id);
	int rc = ly_st_arrs_end(&ids, 1, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, &res, "postgres: load lots",
			"SELECT customer_id, lot_id, event_source, event_id, rule_id, points, "
			"remaining, (extract(epoch FROM available_at) * 1000000)::bigint, (extract(epoch FROM expires_at) * 1000000)::bigint, released, reminded FROM lots "
			"WHERE customer_id = ANY($1::text[]) AND remaining > 0 "
			"ORDER BY customer_id, available_at, lot_id",
			1, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(&ids, 1);
	if (rc)
		return rc;
	for (size_t i = 0; i < nd->lots_len; i++) {
		nd->lots[i]->lots_partial = 0;
		nd->lots[i]->lots_len = 0;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		ly_customer_state_t *cs = state_of(m, PQgetvalue(res, r, 0));
		if (!cs || cs->lots_partial)
			continue;
		ly_lot_t *l = ly_arena_push(arena, (void **)&cs->lots, &cs->lots_len,
					    &cs->lots_cap, sizeof(*l), 16);
		if (!l) {
			PQclear(res);
			return LY_ENOMEM;
		}
		l->lot_id = atoll(PQgetvalue(res, r, 1));
		l->event_source = text(res, r, 2, arena);
		l->event_id = text(res, r, 3, arena);
		l->rule_id = text(res, r, 4, arena);
		l->points = atoll(PQgetvalue(res, r, 5));
		l->remaining = atoll(PQgetvalue(res, r, 6));
		l->available_at_us = time_us(res, r, 7);
		l->expires_at_us = time_us(res, r, 8);
		l->released = is_true(res, r, 9);
		l->reminded = is_true(res, r, 10);
		if (!l->event_source || !l->event_id) {
			PQclear(res);
			return LY_ENOMEM;
		}
	}
	PQclear(res);
	return 0;
}

/*
 * The orders the needs name, and those of each window key paid after its
 * t_us (0: every one); the ones paid in the key's (lo_us, hi_us] come back
 * summed, as one row per customer with no order id, so a customer with
 * years of orders costs one sum instead of every order (docs/design.md).
 * A key with an enough is summed newest first, up to the first sum that
 * reaches it: an order's net is never negative, so the sum can only grow.
 */
static int load_orders(ly_store_t *s, ly_map_t *m, const ly_store_needs_t *nd,
		       ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	enum { NA = 7 };
	pg_array_t a[NA] = {{{0}}};
	const char *params[NA];
	PGresult *res = NULL;
	if (nd->orders_len == 0 && nd->window_len == 0)
		return 0;
	for (size_t i = 0; i < nd->orders_len; i++) {
		ly_st_arr_str(&a[0], nd->orders[i].state->customer_id);
		ly_st_arr_str(&a[1], nd->orders[i].key);
	}
	for (size_t i = 0; i < nd->window_len; i++) {
		const ly_store_key_t *k = &nd->window[i];
		ly_st_arr_str(&a[2], k->state->customer_id);
		ly_st_arr_time(&a[3], k->t_us);
		ly_st_arr_time(&a[4], k->lo_us);
		ly_st_arr_time(&a[5], k->hi_us);
		ly_st_arr_int(&a[6], k->enough);
	}
	int rc = ly_st_arrs_end(a, NA, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, &res, "postgres: load orders",
			"WITH k AS (SELECT * FROM unnest($1::text[], $2::text[]) AS k(c, o)), "
			"w AS (SELECT c, min(coalesce(f, '-infinity')) f, "
			"      max(coalesce(lo, '-infinity')) lo, min(coalesce(hi, '-infinity')) hi, "
			"      CASE WHEN bool_and(e > 0) THEN max(e) END e "
			"      FROM unnest($3::text[], $4::timestamptz[], $5::timestamptz[], "
			"      $6::timestamptz[], $7::bigint[]) AS w(c, f, lo, hi, e) GROUP BY c) "
			"SELECT o.customer_id, o.order_id, o.event_source, o.event_id, (extract(epoch FROM o.paid_at) * 1000000)::bigint, "
			"o.total, o.refunded, to_json(o.rule_ids)::text, to_json(o.rule_earned)::text, "
			"to_json(o.rule_reversed)::text, to_json(o.categories)::text, "
			"to_json(o.category_spend)::text FROM orders o "
			"WHERE (o.customer_id, o.order_id) IN "
			"  (SELECT c, o FROM k "
			"   UNION SELECT x.customer_id, x.order_id FROM w "
			"   CROSS JOIN LATERAL (SELECT customer_id, order_id FROM orders "
			"        WHERE customer_id = w.c AND paid_at > w.f AND paid_at <= w.lo "
			"        UNION ALL SELECT customer_id, order_id FROM orders "
			"        WHERE customer_id = w.c AND paid_at > greatest(w.f, w.hi)) x) "
			"UNION ALL "
			"SELECT w.c, NULL, NULL, NULL, NULL, s.net, 0, NULL, NULL, NULL, NULL, NULL FROM w "
			"CROSS JOIN LATERAL (SELECT CASE WHEN w.e IS NOT NULL THEN ( "
			"       SELECT r FROM (SELECT sum(total - refunded) OVER (ORDER BY paid_at DESC "
			"         ROWS UNBOUNDED PRECEDING) r FROM orders "
			"         WHERE customer_id = w.c AND paid_at > w.lo AND paid_at <= w.hi "
			"         AND (customer_id, order_id) NOT IN (SELECT c, o FROM k)) x "
			"       WHERE r >= w.e LIMIT 1) END enough) e "
			"CROSS JOIN LATERAL (SELECT coalesce(e.enough, ( "
			"       SELECT coalesce(sum(total - refunded), 0) FROM orders "
			"       WHERE customer_id = w.c AND paid_at > w.lo AND paid_at <= w.hi "
			"       AND (customer_id, order_id) NOT IN (SELECT c, o FROM k)))::bigint net) s "
			"WHERE w.lo < w.hi "
			"ORDER BY 1, 5 NULLS FIRST, 2",
			NA, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, NA);
	if (rc)
		return rc;
	for (size_t i = 0; i < nd->window_len; i++) {
		nd->window[i].state->orders_partial = 0;
		nd->window[i].state->window_base = 0;
	}
	/* The result has each order once; only orders already in a state
	 * (an earlier load) need looking for. */
	ly_customer_state_t *last = NULL;
	size_t before = 0;
	for (int r = 0; r < PQntuples(res) && !rc; r++) {
		ly_customer_state_t *cs = state_of(m, PQgetvalue(res, r, 0));
		const char *order_id = PQgetvalue(res, r, 1);
		int seen = 0;
		if (!cs)
			continue;
		if (cs != last) {
			last = cs;
			before = cs->orders_len;
		}
		if (PQgetisnull(res, r, 1)) {
			cs->window_base = atoll(PQgetvalue(res, r, 5));
			continue;
		}
		for (size_t k = 0; k < before && !seen; k++)
			seen = strcmp(cs->orders[k].order_id, order_id) == 0;
		if (seen)
			continue;
		ly_order_t *o = ly_arena_push(arena, (void **)&cs->orders, &cs->orders_len,
					      &cs->orders_cap, sizeof(*o), 8);
		if (!o) {
			rc = LY_ENOMEM;
			break;
		}
		o->order_id = ly_arena_strdup(arena, order_id);
		o->event_source = text(res, r, 2, arena);
		o->event_id = text(res, r, 3, arena);
		o->paid_at_us = time_us(res, r, 4);
		o->total = atoll(PQgetvalue(res, r, 5));
		o->refunded = atoll(PQgetvalue(res, r, 6));
		const char **names, **unused;
		int64_t *earned, *reversed, *spend;
		size_t n, n2, nc;
		rc = json_pairs(PQgetvalue(res, r, 7), PQgetvalue(res, r, 8), &names, &earned,
				&n, arena);
		if (!rc)
			rc = json_pairs(PQgetvalue(res, r, 7), PQgetvalue(res, r, 9), &unused,
					&reversed, &n2, arena);
		if (!rc)
			rc = json_pairs(PQgetvalue(res, r, 10), PQgetvalue(res, r, 11), &unused,
					&spend, &nc, arena);
		if (rc)
			break;
		o->rule_ids = names;
		o->earned = earned;
		o->reversed = reversed;
		o->rules_len = n;
		o->categories = ly_arena_alloc(arena, (nc + 1) * sizeof(*o->categories));
		if (!o->categories || !o->order_id || !o->event_id) {
			rc = LY_ENOMEM;
			break;
		}
		for (size_t k = 0; k < nc; k++)
			o->categories[k] = (ly_amount_t){unused[k], spend[k]};
		o->categories_len = nc;
	}
	if (rc == LY_EIO)
		snprintf(errstr, errstr_size, "postgres: load orders: bad arrays");
	PQclear(res);
	return rc;
}

/* Runs sql with $1 the customers and $2 the keys of keys (a text[] each). */
static int query_pairs(ly_store_t *s, PGresult **res, const char *what,
		       const char *sql, const ly_store_key_t *keys, size_t n,
		       char *errstr, size_t errstr_size)
{
	pg_array_t a[2] = {{{0}}};
	const char *params[2];
	for (size_t i = 0; i < n; i++) {
		ly_st_arr_str(&a[0], keys[i].state->customer_id);
		ly_st_arr_str(&a[1], keys[i].key);
	}
	int rc = ly_st_arrs_end(a, 2, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(s, res, what, sql, 2, params, NULL, NULL, 0, errstr,
				       errstr_size);
	ly_st_arrs_free(a, 2);
	return rc;
}

static int load_held(ly_store_t *s, ly_map_t *m, const ly_store_needs_t *nd,
		     ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	if (nd->held_len == 0)
		return 0;
	int rc = query_pairs(
			s, &res, "postgres: load held refunds",
			"SELECT customer_id, event_source, event_id, order_id, cancel, amount, "
			"(extract(epoch FROM event_time) * 1000000)::bigint FROM held_refunds WHERE (customer_id, order_id) IN "
			"(SELECT * FROM unnest($1::text[], $2::text[])) "
			"ORDER BY customer_id, topic, partition, \"offset\"",
			nd->held, nd->held_len, errstr, errstr_size);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		ly_customer_state_t *cs = state_of(m, PQgetvalue(res, r, 0));
		int seen = 0;
		if (!cs)
			continue;
		for (size_t k = 0; k < cs->held_len && !seen; k++)
			seen = strcmp(cs->held[k].ev.id, PQgetvalue(res, r, 2)) == 0 &&
			       strcmp(cs->held[k].ev.source, PQgetvalue(res, r, 1)) == 0;
		if (seen)
			continue;
		ly_held_t *h = ly_arena_push(arena, (void **)&cs->held, &cs->held_len,
					     &cs->held_cap, sizeof(*h), 4);
		if (!h) {
			PQclear(res);
			return LY_ENOMEM;
		}
		h->ev.source = text(res, r, 1, arena);
		h->ev.id = text(res, r, 2, arena);
		h->ev.type = is_true(res, r, 4) ? LY_EV_ORDER_CANCELLED : LY_EV_ORDER_REFUNDED;
		h->ev.customer_id = cs->customer_id;
		h->ev.time_us = time_us(res, r, 6);
		h->ev.u.refund.order_id = text(res, r, 3, arena);
		h->ev.u.refund.has_amount = !PQgetisnull(res, r, 5);
		h->ev.u.refund.amount = h->ev.u.refund.has_amount ? atoll(PQgetvalue(res, r, 5)) : 0;
		if (!h->ev.source || !h->ev.id || !h->ev.u.refund.order_id) {
			PQclear(res);
			return LY_ENOMEM;
		}
	}
	PQclear(res);
	return 0;
}

static int load_requests(ly_store_t *s, ly_map_t *m, const ly_store_needs_t *nd,
			 ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	if (nd->requests_len == 0)
		return 0;
	int rc = query_pairs(s, &res, "postgres: load requests",
			     "SELECT customer_id, request_id FROM requests "
			     "WHERE (customer_id, request_id) IN "
			     "(SELECT * FROM unnest($1::text[], $2::text[]))",
			     nd->requests, nd->requests_len, errstr, errstr_size);
	if (rc)
		return rc;
	for (int r = 0; r < PQntuples(res); r++) {
		ly_customer_state_t *cs = state_of(m, PQgetvalue(res, r, 0));
		if (!cs)
			continue;
		const char **req = ly_arena_push(arena, (void **)&cs->requests,
						 &cs->requests_len, &cs->requests_cap,
						 sizeof(*req), 4);
		if (!req || !(*req = text(res, r, 1, arena))) {
			PQclear(res);
			return LY_ENOMEM;
		}
	}
	PQclear(res);
	return 0;
}

int ly_store_load_lifecycle(ly_store_t *s, ly_customer_state_t *states,
			    size_t states_len, const ly_store_needs_t *needs,
			    ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	ly_map_t *m = state_map(states, states_len, arena);
	if (!m)
		return LY_ENOMEM;
	int rc = load_lots(s, m, needs, arena, errstr, errstr_size);
	if (!rc)
		rc = load_orders(s, m, needs, arena, errstr, errstr_size);
	if (!rc)
		rc = load_held(s, m, needs, arena, errstr, errstr_size);
	if (!rc)
		rc = load_requests(s, m, needs, arena, errstr, errstr_size);
	return rc;
}

/* ---- writing ---- */

/* An array literal of strings or integers, as one text element. */
static const char *literal_strs(ly_arena_t *arena, const char *const *v, size_t n)
{
	pg_array_t a = {0};
	for (size_t i = 0; i < n; i++)
		ly_st_arr_str(&a, v[i]);
	const char *lit = ly_st_arr_end(&a);
	const char *copy = lit ? ly_arena_strdup(arena, lit) : NULL;
	ly_st_arrs_free(&a, 1);
	return copy;
}

static const char *literal_ints(ly_arena_t *arena, const int64_t *v, size_t n)
{
	pg_array_t a = {0};
	for (size_t i = 0; i < n; i++)
		ly_st_arr_int(&a, v[i]);
	const char *lit = ly_st_arr_end(&a);
	const char *copy = lit ? ly_arena_strdup(arena, lit) : NULL;
	ly_st_arrs_free(&a, 1);
	return copy;
}

static const char *literal_names(ly_arena_t *arena, const ly_amount_t *v, size_t n,
				 int amounts)
{
	pg_array_t a = {0};
	for (size_t i = 0; i < n; i++) {
		if (amounts)
			ly_st_arr_int(&a, v[i].amount);
		else
			ly_st_arr_str(&a, v[i].name);
	}
	const char *lit = ly_st_arr_end(&a);
	const char *copy = lit ? ly_arena_strdup(arena, lit) : NULL;
	ly_st_arrs_free(&a, 1);
	return copy;
}

static int write_profiles(ly_store_t *s, const ly_program_t *program,
			  const ly_customer_state_t *states, size_t n,
			  ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	enum { N = 23 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N];
	size_t rows = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const ly_customer_state_t *cs = &states[i];
		if (!cs->profile_changed)
			continue;
		char birth[16];
		snprintf(birth, sizeof(birth), "%04d-%02d-%02d", cs->birth_year, cs->birth_month,
			 cs->birth_day);
		const char *cats = literal_names(arena, cs->categories, cs->categories_len, 0);
		const char *spend = literal_names(arena, cs->categories, cs->categories_len, 1);
		if (!cats || !spend) {
			rc = LY_ENOMEM;
			goto out;
		}
		ly_st_arr_str(&a[0], cs->customer_id);
		ly_st_arr_str(&a[1], cs->first_name);
		ly_st_arr_str(&a[2], cs->locale);
		ly_st_arr_str(&a[3], cs->birth_month ? birth : NULL);
		ly_st_arr_str(&a[4], cs->consent_email ? "t" : "f");
		ly_st_arr_str(&a[5], cs->consent_sms ? "t" : "f");
		ly_st_arr_str(&a[6], cs->referred_by);
		ly_st_arr_str(&a[7], cs->referral_done ? "t" : "f");
		ly_st_arr_int(&a[8], cs->order_count);
		ly_st_arr_int(&a[9], cs->lifetime_spend);
		ly_st_arr_time(&a[10], cs->has_first_order ? cs->first_order_us : 0);
		ly_st_arr_time(&a[11], cs->has_last_order ? cs->last_order_us : 0);
		ly_st_arr_int(&a[12], cs->clv);
		ly_st_arr_str(&a[13], cats);
		ly_st_arr_str(&a[14], spend);
		ly_st_arr_str(&a[15], program->tiers_len
					      ? program->tiers[cs->tier < program->tiers_len ? cs->tier : 0].name
					      : "");
		ly_st_arr_str(&a[16], ly_segment_name(cs->segment));
		ly_st_arr_int(&a[17], cs->birthday_year);
		ly_st_arr_time(&a[18], cs->tier_due_us);
		ly_st_arr_time(&a[19], cs->next_due_us);
		ly_st_arr_time(&a[20], cs->referred_by ? cs->referred_at_us : 0);
		ly_st_arr_int(&a[21], cs->withdrawals_email);
		ly_st_arr_int(&a[22], cs->withdrawals_sms);
		rows++;
	}
	if (rows == 0)
		goto out;
	rc = ly_st_arrs_end(a, N, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(
		s, NULL, "postgres: write profiles",
		"UPDATE customers c SET "
		"first_name = CASE WHEN c.erased_at IS NULL THEN u.fn END, locale = u.lo, "
		"birth_date = CASE WHEN c.erased_at IS NULL THEN u.bd::date END, referred_at = u.ra, "
		"withdrawals_email = u.we, withdrawals_sms = u.ws, "
		"consent_email = u.ce::boolean, consent_sms = u.cs::boolean, "
		"referred_by = u.rb, referral_done = u.rd::boolean, order_count = u.oc, "
		"lifetime_spend = u.ls, first_order_at = u.fo, last_order_at = u.lo2, clv = u.clv, "
		"categories = u.cat::text[], category_spend = u.sp::bigint[], tier = u.ti, "
		"segment = u.se, birthday_year = u.by, tier_due_at = u.td, next_due_at = u.nd, "
		"updated_at = now() "
		"FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
		"$6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], "
		"$11::timestamptz[], $12::timestamptz[], $13::bigint[], $14::text[], $15::text[], "
		"$16::text[], $17::text[], $18::int[], $19::timestamptz[], $20::timestamptz[], "
		"$21::timestamptz[], $22::bigint[], $23::bigint[]) "
		"AS u(id, fn, lo, bd, ce, cs, rb, rd, oc, ls, fo, lo2, clv, cat, sp, ti, se, by, td, nd, ra, we, ws) "
		"WHERE c.customer_id = u.id",
		N, params, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(a, N);
	return rc;
}

static int write_lots(ly_store_t *s, const ly_customer_state_t *states, size_t n,
		      char *errstr, size_t errstr_size)
{
	enum { NI = 10, NU = 5 };
	pg_array_t ins[NI] = {{{0}}}, upd[NU] = {{{0}}};
	const char *ip[NI], *up[NU];
	size_t ni = 0, nu = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < states[i].lots_len; k++) {
			const ly_lot_t *l = &states[i].lots[k];
			if (l->lot_id == 0) {
				ly_st_arr_str(&ins[0], states[i].customer_id);
				ly_st_arr_str(&ins[1], l->event_source);
				ly_st_arr_str(&ins[2], l->event_id);
				ly_st_arr_str(&ins[3], l->rule_id);
				ly_st_arr_int(&ins[4], l->points);
				ly_st_arr_int(&ins[5], l->remaining);
				ly_st_arr_time(&ins[6], l->available_at_us);
				ly_st_arr_time(&ins[7], l->expires_at_us);
				ly_st_arr_str(&ins[8], l->released ? "t" : "f");
				ly_st_arr_str(&ins[9], l->reminded ? "t" : "f");
				ni++;
			} else if (l->changed) {
				ly_st_arr_str(&upd[0], states[i].customer_id);
				ly_st_arr_int(&upd[1], l->lot_id);
				ly_st_arr_int(&upd[2], l->remaining);
				ly_st_arr_str(&upd[3], l->released ? "t" : "f");
				ly_st_arr_str(&upd[4], l->reminded ? "t" : "f");
				nu++;
			}
		}
	if (ni) {
		rc = ly_st_arrs_end(ins, NI, ip, errstr, errstr_size);
		if (!rc)
			rc = ly_st_exec_params(
				s, NULL, "postgres: write lots",
				"INSERT INTO lots (customer_id, event_source, event_id, rule_id, "
				"points, remaining, available_at, expires_at, released, reminded) "
				"SELECT c, so, i, r, p, re, aa, ea, rel::boolean, rem::boolean FROM unnest("
				"$1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], "
				"$6::bigint[], $7::timestamptz[], $8::timestamptz[], $9::text[], "
				"$10::text[]) WITH ORDINALITY AS u(c, so, i, r, p, re, aa, ea, rel, rem, n) "
				"ORDER BY n",
				NI, ip, NULL, NULL, 0, errstr, errstr_size);
	}
	if (!rc && nu) {
		rc = ly_st_arrs_end(upd, NU, up, errstr, errstr_size);
		if (!rc)
			rc = ly_st_exec_params(
				s, NULL, "postgres: update lots",
				"UPDATE lots l SET remaining = u.re, released = u.rel::boolean, "
				"reminded = u.rem::boolean FROM unnest($1::text[], $2::bigint[], "
				"$3::bigint[], $4::text[], $5::text[]) AS u(c, id, re, rel, rem) "
				"WHERE l.customer_id = u.c AND l.lot_id = u.id",
				NU, up, NULL, NULL, 0, errstr, errstr_size);
	}
	ly_st_arrs_free(ins, NI);
	ly_st_arrs_free(upd, NU);
	return rc;
}

static int write_orders(ly_store_t *s, const ly_customer_state_t *states, size_t n,
			ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	enum { NO = 12 };
	pg_array_t a[NO] = {{{0}}};
	const char *params[NO];
	size_t rows = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < states[i].orders_len; k++) {
			const ly_order_t *o = &states[i].orders[k];
			if (!o->is_new && !o->changed)
				continue;
			const char *ids = literal_strs(arena, o->rule_ids, o->rules_len);
			const char *earned = literal_ints(arena, o->earned, o->rules_len);
			const char *reversed = literal_ints(arena, o->reversed, o->rules_len);
			const char *cats = literal_names(arena, o->categories, o->categories_len, 0);
			const char *spend = literal_names(arena, o->categories, o->categories_len, 1);
			if (!ids || !earned || !reversed || !cats || !spend) {
				rc = LY_ENOMEM;
				goto out;
			}
			ly_st_arr_str(&a[0], states[i].customer_id);
			ly_st_arr_str(&a[1], o->order_id);
			ly_st_arr_str(&a[2], o->event_source);
			ly_st_arr_str(&a[3], o->event_id);
			ly_st_arr_time(&a[4], o->paid_at_us);
			ly_st_arr_int(&a[5], o->total);
			ly_st_arr_int(&a[6], o->refunded);
			ly_st_arr_str(&a[7], ids);
			ly_st_arr_str(&a[8], earned);
			ly_st_arr_str(&a[9], reversed);
			ly_st_arr_str(&a[10], cats);
			ly_st_arr_str(&a[11], spend);
			rows++;
		}
	if (rows == 0)
		goto out;
	rc = ly_st_arrs_end(a, NO, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: write orders",
			"INSERT INTO orders AS o (customer_id, order_id, event_source, event_id, "
			"paid_at, total, refunded, rule_ids, rule_earned, rule_reversed, categories, "
			"category_spend) "
			"SELECT c, oi, so, ei, pa, t, r, ri::text[], re::bigint[], rv::bigint[], "
			"ca::text[], sp::bigint[] FROM unnest($1::text[], $2::text[], $3::text[], "
			"$4::text[], $5::timestamptz[], $6::bigint[], $7::bigint[], $8::text[], "
			"$9::text[], $10::text[], $11::text[], $12::text[]) "
			"AS u(c, oi, so, ei, pa, t, r, ri, re, rv, ca, sp) "
			"ON CONFLICT (customer_id, order_id) DO UPDATE SET refunded = excluded.refunded, "
			"rule_reversed = excluded.rule_reversed",
			NO, params, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(a, NO);
	return rc;
}

static int forget_held(ly_store_t *s, const ly_customer_state_t *states, size_t n,
		       char *errstr, size_t errstr_size)
{
	pg_array_t a[3] = {{{0}}};
	const char *params[3];
	size_t rows = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < states[i].held_len; k++) {
			const ly_held_t *h = &states[i].held[k];
			if (!h->applied || h->is_new)
				continue;
			ly_st_arr_str(&a[0], states[i].customer_id);
			ly_st_arr_str(&a[1], h->ev.source);
			ly_st_arr_str(&a[2], h->ev.id);
			rows++;
		}
	if (rows) {
		rc = ly_st_arrs_end(a, 3, params, errstr, errstr_size);
		if (!rc)
			rc = ly_st_exec_params(
				s, NULL, "postgres: forget held refunds",
				"DELETE FROM held_refunds h USING unnest($1::text[], $2::text[], "
				"$3::text[]) AS u(c, so, i) WHERE h.customer_id = u.c "
				"AND h.event_source = u.so AND h.event_id = u.i",
				3, params, NULL, NULL, 0, errstr, errstr_size);
	}
	ly_st_arrs_free(a, 3);
	return rc;
}

int ly_store_write_lifecycle(ly_store_t *s, const ly_program_t *program,
			     const ly_customer_state_t *states, size_t states_len,
			     ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	int rc = write_profiles(s, program, states, states_len, arena, errstr, errstr_size);
	if (!rc)
		rc = write_lots(s, states, states_len, errstr, errstr_size);
	if (!rc)
		rc = write_orders(s, states, states_len, arena, errstr, errstr_size);
	if (!rc)
		rc = forget_held(s, states, states_len, errstr, errstr_size);
	return rc;
}

int ly_store_write_held(ly_store_t *s, const ly_store_held_row_t *rows, size_t n,
			char *errstr, size_t errstr_size)
{
	enum { N = 13 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N];
	int rc = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const ly_event_t *ev = rows[i].ev;
		ly_st_arr_str(&a[0], ev->customer_id);
		ly_st_arr_str(&a[1], ev->source);
		ly_st_arr_str(&a[2], ev->id);
		ly_st_arr_str(&a[3], ev->u.refund.order_id);
		ly_st_arr_str(&a[4], ev->type == LY_EV_ORDER_CANCELLED ? "t" : "f");
		if (ev->type == LY_EV_ORDER_REFUNDED && ev->u.refund.has_amount)
			ly_st_arr_int(&a[5], ev->u.refund.amount);
		else
			ly_st_arr_str(&a[5], NULL);
		ly_st_arr_time(&a[6], ev->time_us);
		ly_st_arr_str(&a[7], rows[i].topic);
		ly_st_arr_int(&a[8], rows[i].partition);
		ly_st_arr_int(&a[9], rows[i].offset);
		ly_st_arr_bytea(&a[10], rows[i].key, rows[i].key_len);
		ly_st_arr_bytea(&a[11], rows[i].payload, rows[i].payload_len);
		ly_st_arr_bytea(&a[12], rows[i].headers, rows[i].headers_len);
	}
	rc = ly_st_arrs_end(a, N, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: hold refunds",
			"INSERT INTO held_refunds (customer_id, event_source, event_id, order_id, "
			"cancel, amount, event_time, topic, partition, \"offset\", message_key, "
			"payload, headers) SELECT c, so, i, o, ca::boolean, am, t, tp, p, of, k, v, h "
			"FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
			"$6::bigint[], $7::timestamptz[], $8::text[], $9::int[], $10::bigint[], "
			"$11::bytea[], $12::bytea[], $13::bytea[]) "
			"AS u(c, so, i, o, ca, am, t, tp, p, of, k, v, h) ON CONFLICT DO NOTHING",
			N, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, N);
	return rc;
}

int ly_store_write_requests(ly_store_t *s, const ly_store_request_row_t *rows,
			    size_t n, char *errstr, size_t errstr_size)
{
	enum { N = 6 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N];
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const ly_event_t *ev = rows[i].ev;
		const int redeem = ev->type == LY_EV_POINTS_REDEEM;
		ly_st_arr_str(&a[0], ev->customer_id);
		ly_st_arr_str(&a[1], redeem ? ev->u.redeem.request_id : ev->u.adjust.request_id);
		ly_st_arr_str(&a[2], redeem ? "redeem" : "adjust");
		ly_st_arr_str(&a[3], ev->source);
		ly_st_arr_str(&a[4], ev->id);
		ly_st_arr_str(&a[5], rows[i].outcome);
	}
	int rc = ly_st_arrs_end(a, N, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: write requests",
			"INSERT INTO requests (customer_id, request_id, kind, event_source, "
			"event_id, outcome) SELECT * FROM unnest($1::text[], $2::text[], "
			"$3::text[], $4::text[], $5::text[], $6::text[])",
			N, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, N);
	return rc;
}

int ly_store_code_ops(ly_store_t *s, const ly_store_code_op_t *ops, size_t n,
		      char *errstr, size_t errstr_size)
{
	enum { N = 7 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N];
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		ly_st_arr_str(&a[0], ops[i].order_event_id ? "void" : "use");
		ly_st_arr_str(&a[1], ops[i].ev->customer_id);
		ly_st_arr_str(&a[2], ops[i].code);
		ly_st_arr_str(&a[3], ops[i].ev->source);
		ly_st_arr_str(&a[4], ops[i].ev->id);
		ly_st_arr_time(&a[5], ops[i].ev->time_us);
		ly_st_arr_str(&a[6], ops[i].order_event_id);
	}
	int rc = ly_st_arrs_end(a, N, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: code uses",
			"SELECT apply_code_ops($1::text[], $2::text[], $3::text[], $4::text[], "
			"$5::text[], $6::timestamptz[], $7::text[])",
			N, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, N);
	return rc;
}

int ly_store_queue_triggers(ly_store_t *s, const ly_event_t *const *evs, size_t n,
			    char *errstr, size_t errstr_size)
{
	enum { N = 5 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N];
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const ly_event_t *ev = evs[i];
		ly_buf_t b = {0};
		ly_buf_puts(&b, "{\"referred\":");
		ly_buf_json_quoted(&b, ev->u.referral.referred);
		ly_buf_puts(&b, "}");
		ly_st_arr_str(&a[0], ev->customer_id);
		ly_st_arr_str(&a[1], ev->id);
		ly_st_arr_str(&a[2], ly_event_name(ev));
		ly_st_arr_time(&a[3], ev->time_us);
		ly_st_arr_text(&a[4], b.data ? b.data : "", b.len);
		ly_buf_free(&b);
	}
	int rc = ly_st_arrs_end(a, N, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: queue triggers",
			"WITH c AS (INSERT INTO customers (customer_id) SELECT DISTINCT c "
			"FROM unnest($1::text[]) AS c ON CONFLICT DO NOTHING) "
			"INSERT INTO queued_triggers (customer_id, trigger_id, trigger_type, "
			"event_time, data) SELECT * FROM unnest($1::text[], $2::text[], "
			"$3::text[], $4::timestamptz[], $5::text[]) ON CONFLICT DO NOTHING",
			N, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, N);
	return rc;
}

int ly_store_write_offers(ly_store_t *s, const char *program_version,
			  const ly_store_offer_row_t *rows, size_t n, char *errstr,
			  size_t errstr_size)
{
	enum { N = 11 };
	pg_array_t a[N] = {{{0}}};
	const char *params[N + 1] = {program_version};
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const ly_store_offer_row_t *r = &rows[i];
		const int sent = r->send->outcome == LY_OFFER_SENT;
		ly_st_arr_str(&a[0], r->ev->customer_id);
		ly_st_arr_str(&a[1], r->offer_id);
		ly_st_arr_str(&a[2], r->ev->source);
		ly_st_arr_str(&a[3], r->ev->id);
		ly_st_arr_time(&a[4], r->ev->time_us);
		ly_st_arr_str(&a[5], r->offer->rule_id);
		ly_st_arr_str(&a[6], r->offer->template_id);
		ly_st_arr_str(&a[7], r->send->channel == LY_CHANNEL_SMS ? "sms" : "email");
		ly_st_arr_str(&a[8], sent ? "sent" : "suppressed");
		ly_st_arr_str(&a[9], sent ? NULL : ly_offer_outcome_name(r->send->outcome));
		ly_st_arr_time(&a[10], r->send->send_after_us);
	}
	int rc = ly_st_arrs_end(a, N, params + 1, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, NULL, "postgres: write offers",
			"INSERT INTO offers (customer_id, offer_id, event_source, event_id, "
			"event_time, rule_id, template, channel, status, reason, send_after, "
			"program_version) SELECT *, $1 FROM unnest($2::text[], $3::text[], "
			"$4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[], "
			"$9::text[], $10::text[], $11::text[], $12::timestamptz[])",
			N + 1, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, N);
	return rc;
}

/* ---- the scheduler ---- */

int ly_store_due_customers(ly_store_t *s, int64_t now_us, size_t limit,
			   const char ***ids, size_t *ids_len, ly_arena_t *arena,
			   char *errstr, size_t errstr_size)
{
	char now[40], lim[24];
	ly_time_format_rfc3339(now_us, now, sizeof(now));
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *params[] = {now, lim};
	PGresult *res = NULL;
	*ids = NULL;
	*ids_len = 0;
	/* The balances row is the customer's lock (store.c); rows another
	 * worker or scheduler holds are skipped and done by it or later. */
	int rc = ly_st_exec_params(
		s, NULL, "postgres: due customers",
		"INSERT INTO balances (customer_id) SELECT DISTINCT customer_id "
		"FROM queued_triggers WHERE NOT done AND event_time <= $1 "
		"ON CONFLICT DO NOTHING",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(
			s, &res, "postgres: due customers",
			"SELECT customer_id FROM balances WHERE customer_id IN ("
			"  SELECT customer_id FROM customers WHERE next_due_at <= $1 "
			"  UNION SELECT customer_id FROM queued_triggers "
			"  WHERE NOT done AND event_time <= $1) "
			"ORDER BY customer_id LIMIT $2 FOR UPDATE SKIP LOCKED",
			2, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	size_t n = (size_t)PQntuples(res);
	const char **out = ly_arena_alloc(arena, (n + 1) * sizeof(*out));
	if (!out) {
		PQclear(res);
		return LY_ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = ly_arena_strdup(arena, PQgetvalue(res, (int)i, 0)))) {
			PQclear(res);
			return LY_ENOMEM;
		}
	PQclear(res);
	*ids = out;
	*ids_len = n;
	return 0;
}

int ly_store_load_queued(ly_store_t *s, const char *const *ids, size_t ids_len,
			 int64_t now_us, ly_event_t **evs, size_t *evs_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	pg_array_t a = {0};
	const char *params[2];
	char now[40];
	PGresult *res = NULL;
	*evs = NULL;
	*evs_len = 0;
	if (ids_len == 0)
		return 0;
	for (size_t i = 0; i < ids_len; i++)
		ly_st_arr_str(&a, ids[i]);
	ly_time_format_rfc3339(now_us, now, sizeof(now));
	int rc = ly_st_arrs_end(&a, 1, params, errstr, errstr_size);
	params[1] = now;
	if (!rc)
		rc = ly_st_exec_params(
			s, &res, "postgres: load queued triggers",
			"SELECT customer_id, trigger_id, trigger_type, (extract(epoch FROM event_time) * 1000000)::bigint, "
			"data::json->>'referred' FROM queued_triggers "
			"WHERE customer_id = ANY($1::text[]) AND NOT done AND event_time <= $2 "
			"ORDER BY customer_id, event_time, trigger_id",
			2, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(&a, 1);
	if (rc)
		return rc;
	size_t n = (size_t)PQntuples(res);
	ly_event_t *out = ly_arena_alloc(arena, (n + 1) * sizeof(*out));
	if (!out) {
		PQclear(res);
		return LY_ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		ly_event_t *ev = &out[k];
		memset(ev, 0, sizeof(*ev));
		if (ly_trigger_parse(PQgetvalue(res, (int)i, 2), &ev->trigger) ||
		    ev->trigger != LY_TRIGGER_REFERRAL_QUALIFIED)
			continue; /* only referrals are queued */
		ev->type = LY_EV__COUNT;
		ev->customer_id = text(res, (int)i, 0, arena);
		ev->id = text(res, (int)i, 1, arena);
		ev->source = "loyaltyd";
		ev->time_us = time_us(res, (int)i, 3);
		ev->u.referral.referred = text(res, (int)i, 4, arena);
		if (!ev->customer_id || !ev->id || !ev->u.referral.referred) {
			PQclear(res);
			return LY_ENOMEM;
		}
		k++;
	}
	PQclear(res);
	*evs = out;
	*evs_len = k;
	return 0;
}

int ly_store_mark_queued(ly_store_t *s, const ly_event_t *evs, size_t n,
			 char *errstr, size_t errstr_size)
{
	pg_array_t a[2] = {{{0}}};
	const char *params[2];
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		ly_st_arr_str(&a[0], evs[i].customer_id);
		ly_st_arr_str(&a[1], evs[i].id);
	}
	int rc = ly_st_arrs_end(a, 2, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(s, NULL, "postgres: queued triggers done",
				       "UPDATE queued_triggers q SET done = true FROM "
				       "unnest($1::text[], $2::text[]) AS u(c, i) "
				       "WHERE q.customer_id = u.c AND q.trigger_id = u.i",
				       2, params, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(a, 2);
	return rc;
}

int ly_store_expire_held(ly_store_t *s, int64_t before_us, size_t limit,
			 ly_store_held_row_t **rows, size_t *rows_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	char before[40], lim[24];
	ly_time_format_rfc3339(before_us, before, sizeof(before));
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *params[] = {before, lim};
	PGresult *res = NULL;
	*rows = NULL;
	*rows_len = 0;
	int rc = ly_st_exec_params(
		s, &res, "postgres: expire held refunds",
		"DELETE FROM held_refunds WHERE (customer_id, event_source, event_id) IN ("
		"  SELECT customer_id, event_source, event_id FROM held_refunds "
		"  WHERE event_time < $1 ORDER BY event_time LIMIT $2 FOR UPDATE SKIP LOCKED) "
		"RETURNING customer_id, topic, partition, \"offset\", message_key, payload, "
		"headers, order_id",
		2, params, NULL, NULL, 1, errstr, errstr_size);
	if (rc)
		return rc;
	size_t n = (size_t)PQntuples(res);
	ly_store_held_row_t *out = ly_arena_alloc(arena, (n + 1) * sizeof(*out));
	if (!out) {
		PQclear(res);
		return LY_ENOMEM;
	}
	/* binary results: text columns are their bytes, integers big-endian */
	for (size_t i = 0; i < n; i++) {
		ly_store_held_row_t *h = &out[i];
		const int r = (int)i;
		memset(h, 0, sizeof(*h));
		h->customer_id = ly_arena_strndup(arena, PQgetvalue(res, r, 0),
						  (size_t)PQgetlength(res, r, 0));
		h->topic = ly_arena_strndup(arena, PQgetvalue(res, r, 1),
					    (size_t)PQgetlength(res, r, 1));
		const unsigned char *p = (const unsigned char *)PQgetvalue(res, r, 2);
		h->partition = (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
					 (uint32_t)p[2] << 8 | p[3]);
		p = (const unsigned char *)PQgetvalue(res, r, 3);
		uint64_t o = 0;
		for (int b = 0; b < 8; b++)
			o = o << 8 | p[b];
		h->offset = (int64_t)o;
		for (int c = 4; c <= 6; c++) {
			const void **dst = c == 4 ? &h->key : c == 5 ? &h->payload : &h->headers;
			size_t *len = c == 4 ? &h->key_len : c == 5 ? &h->payload_len : &h->headers_len;
			if (PQgetisnull(res, r, c))
				continue;
			*len = (size_t)PQgetlength(res, r, c);
			*dst = ly_arena_strndup(arena, PQgetvalue(res, r, c), *len);
		}
		h->order_id = ly_arena_strndup(arena, PQgetvalue(res, r, 7),
					       (size_t)PQgetlength(res, r, 7));
		if (!h->customer_id || !h->topic || !h->order_id) {
			PQclear(res);
			return LY_ENOMEM;
		}
	}
	PQclear(res);
	*rows = out;
	*rows_len = n;
	return 0;
}
