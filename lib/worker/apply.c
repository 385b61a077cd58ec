/*
 * apply.c: applying events with what follows them, the output messages,
 * and writing a batch's or a scheduler pass's effects (worker_int.h).
 */
#include <stdio.h>
#include <string.h>

#include "loyalty/outbox.h"
#include "worker_int.h"

ly_applied_t *ly_applied_add(ly_applied_list_t *list, ly_arena_t *arena)
{
	return ly_arena_push(arena, (void **)&list->items, &list->len, &list->cap,
			     sizeof(ly_applied_t), 64);
}

int ly_apply_chain(ly_applied_list_t *list, size_t root, const ly_program_t *program,
		   ly_engine_shared_t *shared, ly_customer_state_t *st,
		   const ly_event_t *ev, int *followup_failed, ly_arena_t *arena,
		   char *errstr, size_t errstr_size)
{
	*followup_failed = 0;
	const size_t first = list->len;
	ly_applied_t *a = ly_applied_add(list, arena);
	if (!a)
		return LY_ENOMEM;
	a->ev = ev;
	a->state = st;
	a->root = root;
	int rc = ly_engine_apply(&a->fx, program, shared, st, ev, arena, errstr,
				 errstr_size);
	if (rc) {
		list->len--;
		return rc;
	}
	rc = ly_apply_followups(list, first, root, program, shared, st, arena, errstr,
				errstr_size);
	*followup_failed = rc == LY_EINVAL;
	return rc;
}

int ly_apply_followups(ly_applied_list_t *list, size_t first, size_t root,
		       const ly_program_t *program, ly_engine_shared_t *shared,
		       ly_customer_state_t *st, ly_arena_t *arena, char *errstr,
		       size_t errstr_size)
{
	/* breadth first: each applied item's triggers, in order */
	for (size_t i = first; i < list->len; i++) {
		const size_t n = list->items[i].fx.triggers_len;
		for (size_t k = 0; k < n; k++) {
			const ly_event_t *t = &list->items[i].fx.triggers[k];
			ly_applied_t *b = ly_applied_add(list, arena);
			if (!b)
				return LY_ENOMEM;
			b->ev = t;
			b->state = st;
			b->root = root;
			int rc = ly_engine_apply(&b->fx, program, shared, st, t, arena, errstr,
						 errstr_size);
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* ---- output messages ---- */

/* A deterministic output id: the same input, kind and rule give the same
 * id. */
static const char *output_id(ly_arena_t *arena, const char *prefix,
			     const ly_event_t *ev, const char *rule_id)
{
	ly_buf_t b = {0};
	char hex[65];
	if (ly_buf_puts(&b, ev->source) || ly_buf_putc(&b, '\0') ||
	    ly_buf_puts(&b, ev->id) || ly_buf_putc(&b, '\0') ||
	    ly_buf_puts(&b, rule_id ? rule_id : "")) {
		ly_buf_free(&b);
		return NULL;
	}
	ly_sha256_hex(b.data, b.len, hex);
	ly_buf_free(&b);
	return ly_arena_printf(arena, "%s-%.32s", prefix, hex);
}

static void json_field_str(ly_buf_t *b, const char *name, const char *value)
{
	ly_buf_printf(b, ",\"%s\":", name);
	ly_buf_json_quoted(b, value);
}

/* The CloudEvents envelope up to the data's first field. */
static void envelope(ly_buf_t *b, const char *id, const char *type,
		     const ly_event_t *ev)
{
	char time[40];
	ly_time_format_rfc3339(ev->time_us, time, sizeof(time));
	ly_buf_printf(b, "{\"specversion\":\"1.0\",\"id\":\"%s\","
			 "\"source\":\"loyaltyd\",\"type\":\"%s\","
			 "\"time\":\"%s\",\"datacontenttype\":\"application/json\"",
		      id, type, time);
	json_field_str(b, "subject", ev->customer_id);
	ly_buf_puts(b, ",\"data\":{\"customer_id\":");
	ly_buf_json_quoted(b, ev->customer_id);
}

/* Closes the message in b into a row of topic keyed by the customer. */
static int output_row(ly_store_outbox_row_t *row, const char *topic,
		      const ly_event_t *ev, const char *id, ly_buf_t *b,
		      ly_arena_t *arena)
{
	int rc = ly_buf_puts(b, "}}");
	if (rc || !b->data) {
		ly_buf_free(b);
		return LY_ENOMEM;
	}
	memset(row, 0, sizeof(*row));
	row->customer_id = ev->customer_id;
	row->topic = topic;
	row->key = ev->customer_id;
	row->key_len = strlen(ev->customer_id);
	row->message_id = id;
	row->payload = ly_arena_strndup(arena, b->data, b->len);
	row->payload_len = b->len;
	ly_buf_free(b);
	/* structured mode, as the CloudEvents Kafka binding says */
	static const char ce_json[] = "application/cloudevents+json; charset=UTF-8";
	const ly_header_t ct = {"content-type", ce_json, sizeof(ce_json) - 1};
	if (ly_outbox_headers_encode(b, &ct, 1)) {
		ly_buf_free(b);
		return LY_ENOMEM;
	}
	row->headers = ly_arena_strndup(arena, b->data, b->len);
	row->headers_len = b->len;
	ly_buf_free(b);
	return row->payload && row->headers ? 0 : LY_ENOMEM;
}

static int activity_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
			const ly_event_t *ev, const char *id, ly_buf_t *b,
			ly_arena_t *arena)
{
	return output_row(row, cfg->topic_activity, ev, id, b, arena);
}

/* A tier's perks (none without a tier) as a JSON array. */
static int put_perks(ly_buf_t *b, const ly_tier_t *t)
{
	int rc = ly_buf_putc(b, '[');
	for (size_t k = 0; t && k < t->perks_len; k++)
		rc |= (k ? ly_buf_putc(b, ',') : 0) | ly_buf_json_quoted(b, t->perks[k]);
	return rc | ly_buf_putc(b, ']');
}

/* loyalty.points.changed for one posting (SPEC section 7). */
static int points_changed_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
			      const ly_event_t *ev, const ly_posting_t *p,
			      ly_arena_t *arena)
{
	const char *prefix = !p->kind ? "pc"
			     : strcmp(p->kind, "points.released") == 0 ? "pr"
								      : "px";
	const char *id = output_id(arena, prefix, ev, p->rule_id);
	ly_buf_t b = {0};
	if (!id)
		return LY_ENOMEM;
	envelope(&b, id, "loyalty.points.changed", ev);
	ly_buf_printf(&b, ",\"delta\":%lld,\"available\":%lld,\"pending\":%lld",
		      (long long)(p->delta_available + p->delta_pending),
		      (long long)p->available_after, (long long)p->pending_after);
	json_field_str(&b, "reason", p->reason);
	json_field_str(&b, "rule_id", p->rule_id);
	json_field_str(&b, "event_id", ev->id);
	json_field_str(&b, "event_source", ev->source);
	return activity_row(row, cfg, ev, id, &b, arena);
}

/* loyalty.tier.changed for an applied tier.changed trigger. */
static int tier_changed_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
			    const ly_program_t *program, const ly_event_t *ev,
			    ly_arena_t *arena)
{
	const char *id = output_id(arena, "tc", ev, NULL);
	ly_buf_t b = {0};
	if (!id)
		return LY_ENOMEM;
	envelope(&b, id, "loyalty.tier.changed", ev);
	json_field_str(&b, "from", ev->u.change.from);
	json_field_str(&b, "to", ev->u.change.to);
	const ly_tier_t *to = NULL;
	for (size_t i = 0; i < program->tiers_len; i++)
		if (strcmp(program->tiers[i].name, ev->u.change.to) == 0)
			to = &program->tiers[i];
	ly_buf_puts(&b, ",\"perks\":");
	put_perks(&b, to);
	return activity_row(row, cfg, ev, id, &b, arena);
}

/* loyalty.redemption.completed or .rejected. */
static int redemption_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
			  const ly_event_t *ev, const ly_effects_t *fx,
			  ly_arena_t *arena)
{
	const int completed = fx->reject_reason == NULL;
	/* by request: a retried request with a new event id gets the same id */
	ly_event_t key = *ev;
	key.id = ev->u.redeem.request_id;
	key.source = ev->customer_id;
	const char *id = output_id(arena, "rd", &key, NULL);
	ly_buf_t b = {0};
	if (!id)
		return LY_ENOMEM;
	envelope(&b, id,
		 completed ? "loyalty.redemption.completed" : "loyalty.redemption.rejected",
		 ev);
	json_field_str(&b, "request_id", ev->u.redeem.request_id);
	json_field_str(&b, "reward", ev->u.redeem.reward);
	if (completed && fx->reward_code)
		json_field_str(&b, "code", fx->reward_code->code);
	if (!completed)
		json_field_str(&b, "reason", fx->reject_reason);
	return activity_row(row, cfg, ev, id, &b, arena);
}

static const char *channel_name(unsigned channel)
{
	return channel == LY_CHANNEL_SMS ? "sms" : "email";
}

/* The id of an offer on one channel: of the event, the rule and the
 * channel (no rule id has a "/"). */
static const char *offer_id(ly_arena_t *arena, const ly_event_t *ev,
			    const ly_offer_made_t *o, const ly_offer_send_t *s)
{
	const char *what = ly_arena_printf(arena, "%s/%s", o->rule_id,
					   channel_name(s->channel));
	return what ? output_id(arena, "of", ev, what) : NULL;
}

/* ,"name":value */
static int var_int(ly_buf_t *b, const char *name, int64_t v)
{
	return ly_buf_printf(b, ",\"%s\":%lld", name, (long long)v);
}

static int var_str(ly_buf_t *b, const char *name, const char *v)
{
	return ly_buf_printf(b, ",\"%s\":", name) | ly_buf_json_quoted(b, v);
}

/*
 * An offer's vars (docs/offers.md): what loyaltyd knows of the customer
 * as the event left them, the code's terms, then the rule's own vars
 * (whose names the loader keeps apart from these).
 */
static int put_vars(ly_buf_t *b, const ly_program_t *program,
		    const ly_offer_made_t *o)
{
	int rc = 0;
	const ly_tier_t *tier = o->tier < program->tiers_len ? &program->tiers[o->tier] : NULL;
	const ly_issued_code_t *c = o->code;
	ly_buf_t own = {0};
	if (o->first_name)
		rc |= var_str(&own, "first_name", o->first_name);
	rc |= var_int(&own, "points_available", o->points_available);
	rc |= var_int(&own, "points_pending", o->points_pending);
	if (o->rule->has_earn)
		rc |= var_int(&own, "points_earned", o->points_earned);
	rc |= var_str(&own, "tier", tier ? tier->name : "");
	rc |= ly_buf_puts(&own, ",\"perks\":") | put_perks(&own, tier);
	rc |= var_str(&own, "top_category", o->top_category);
	rc |= var_str(&own, "currency", program->currency);
	if (c) {
		/* the last local day it is valid on */
		char until[16];
		int y, m, d;
		ly_civil_from_days(ly_tz_local_day(program->tz, c->valid_until_us - 1), &y, &m, &d);
		snprintf(until, sizeof(until), "%04d-%02d-%02d", y, m, d);
		rc |= var_str(&own, "code_kind",
			      c->kind == LY_ISSUE_GIFT_CARD ? "gift_card" : "discount");
		if (c->amount > 0)
			rc |= var_int(&own, "code_amount", c->amount);
		if (c->percent > 0)
			rc |= var_int(&own, "code_percent", c->percent);
		if (c->min_order > 0)
			rc |= var_int(&own, "code_min_order", c->min_order);
		rc |= var_str(&own, "code_valid_until", until);
	}
	for (size_t k = 0; k < o->vars_len; k++) {
		if (o->vars[k].value.absent)
			continue;
		rc |= ly_buf_printf(&own, ",\"%s\":", o->vars[k].name);
		rc |= ly_expr_value_json(&own, &o->vars[k].value);
	}
	rc |= ly_buf_putc(b, '{');
	if (own.len) /* without the first "," */
		rc |= ly_buf_append(b, own.data + 1, own.len - 1);
	rc |= ly_buf_putc(b, '}');
	ly_buf_free(&own);
	return rc ? LY_ENOMEM : 0;
}

/* loyalty.offer on one channel it is sent on (SPEC section 7). */
static int offer_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
		     const ly_program_t *program, const ly_event_t *ev,
		     const ly_offer_made_t *o, const ly_offer_send_t *s,
		     const char *id, ly_arena_t *arena)
{
	char t[48];
	ly_buf_t b = {0};
	envelope(&b, id, "loyalty.offer", ev);
	json_field_str(&b, "offer_id", id);
	json_field_str(&b, "channel", channel_name(s->channel));
	json_field_str(&b, "template", o->template_id);
	json_field_str(&b, "locale", o->locale);
	if (s->send_after_us) {
		ly_time_format_rfc3339(s->send_after_us, t, sizeof(t));
		json_field_str(&b, "send_after", t);
	}
	if (o->code) {
		ly_time_format_rfc3339(o->code->valid_until_us, t, sizeof(t));
		json_field_str(&b, "expires_at", t);
		json_field_str(&b, "code", o->code->code);
	}
	ly_buf_puts(&b, ",\"vars\":");
	if (put_vars(&b, program, o)) {
		ly_buf_free(&b);
		return LY_ENOMEM;
	}
	int rc = output_row(row, cfg->topic_offers, ev, id, &b, arena);
	row->channel = channel_name(s->channel);
	row->withdrawals = s->withdrawals;
	return rc;
}

int ly_dead_letter_row(ly_store_outbox_row_t *row, const ly_config_t *cfg,
		       const ly_store_held_row_t *held, const char *code,
		       const char *message, ly_arena_t *arena)
{
	ly_header_t *orig = NULL;
	size_t orig_len = 0;
	ly_buf_t b = {0};
	if (held->headers &&
	    ly_outbox_headers_decode(held->headers, held->headers_len, &orig,
				     &orig_len, arena))
		orig_len = 0;
	if (orig_len > LY_OUTBOX_HEADERS_MAX - 5)
		orig_len = LY_OUTBOX_HEADERS_MAX - 5; /* keep room for ours */
	char partition[16], offset[24];
	snprintf(partition, sizeof(partition), "%d", (int)held->partition);
	snprintf(offset, sizeof(offset), "%lld", (long long)held->offset);
	ly_header_t ours[] = {
		{"dlq.error.code", code, strlen(code)},
		{"dlq.error.message", message, strlen(message)},
		{"dlq.source.topic", held->topic, strlen(held->topic)},
		{"dlq.source.partition", partition, strlen(partition)},
		{"dlq.source.offset", offset, strlen(offset)},
	};
	int rc = ly_outbox_headers_encode(&b, orig, orig_len);
	if (!rc)
		rc = ly_outbox_headers_encode(&b, ours, LY_ARRAY_LEN(ours));
	if (rc || !b.data) {
		ly_buf_free(&b);
		return LY_ENOMEM;
	}
	row->customer_id = "";
	row->topic = cfg->topic_dlq;
	row->key = held->key;
	row->key_len = held->key_len;
	row->message_id = NULL;
	row->payload = held->payload;
	row->payload_len = held->payload_len;
	row->headers = ly_arena_strndup(arena, b.data, b.len);
	row->headers_len = b.len;
	ly_buf_free(&b);
	return row->headers ? 0 : LY_ENOMEM;
}

/* ---- writing ---- */

int ly_apply_write(ly_store_t *store, const ly_config_t *cfg,
		   const ly_program_t *program, const ly_engine_shared_t *shared,
		   ly_customer_state_t *states, size_t states_len,
		   const ly_applied_list_t *list, const ly_apply_extra_t *extra,
		   ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	size_t np = 0, nc = 0, nr = 0, nq = 0, nops = 0, nremote = 0, no = 0;
	for (size_t i = 0; i < list->len; i++) {
		const ly_applied_t *a = &list->items[i];
		for (size_t k = 0; k < a->fx.offers_len; k++)
			no += a->fx.offers[k].sends_len;
		np += a->fx.postings_len;
		nc += a->fx.codes_len;
		nq += a->fx.request_applied;
		nremote += a->fx.remote_len;
		nops += a->fx.voids != NULL;
		if (a->ev->type == LY_EV_ORDER_PAID)
			nops += a->ev->u.order_paid.coupon_codes_len;
	}
	const size_t rows_cap = np + no + list->len + extra->rows_len;
	ly_store_posting_t *postings = ly_arena_alloc(arena, (np + 1) * sizeof(*postings));
	ly_store_code_t *codes = ly_arena_alloc(arena, (nc + 1) * sizeof(*codes));
	ly_store_outbox_row_t *rows = ly_arena_alloc(arena, (rows_cap + 1) * sizeof(*rows));
	ly_store_request_row_t *reqs = ly_arena_alloc(arena, (nq + 1) * sizeof(*reqs));
	ly_store_code_op_t *ops = ly_arena_alloc(arena, (nops + 1) * sizeof(*ops));
	const ly_event_t **remote = ly_arena_alloc(arena, (nremote + 1) * sizeof(*remote));
	ly_store_offer_row_t *offers = ly_arena_alloc(arena, (no + 1) * sizeof(*offers));
	if (!postings || !codes || !rows || !reqs || !ops || !remote || !offers)
		return LY_ENOMEM;
	np = nc = nq = nops = nremote = no = 0;
	int rc = 0;
	for (size_t i = 0; i < list->len && !rc; i++) {
		const ly_applied_t *a = &list->items[i];
		const ly_event_t *ev = a->ev;
		for (size_t k = 0; k < a->fx.codes_len; k++) {
			codes[nc].ev = ev;
			codes[nc++].code = &a->fx.codes[k];
		}
		for (size_t k = 0; k < a->fx.postings_len && !rc; k++) {
			postings[np].ev = ev;
			postings[np++].posting = &a->fx.postings[k];
			rc = points_changed_row(&rows[nr++], cfg, ev, &a->fx.postings[k], arena);
		}
		for (size_t k = 0; k < a->fx.offers_len && !rc; k++) {
			const ly_offer_made_t *o = &a->fx.offers[k];
			for (size_t j = 0; j < o->sends_len && !rc; j++) {
				ly_store_offer_row_t *r = &offers[no++];
				*r = (ly_store_offer_row_t){ev, o, &o->sends[j],
							    offer_id(arena, ev, o, &o->sends[j])};
				if (!r->offer_id)
					rc = LY_ENOMEM;
				else if (o->sends[j].outcome == LY_OFFER_SENT)
					rc = offer_row(&rows[nr++], cfg, program, ev, o,
						       &o->sends[j], r->offer_id, arena);
			}
		}
		if (!rc && ev->trigger == LY_TRIGGER_TIER_CHANGED)
			rc = tier_changed_row(&rows[nr++], cfg, program, ev, arena);
		if (!rc && ev->type == LY_EV_POINTS_REDEEM && a->fx.request_applied)
			rc = redemption_row(&rows[nr++], cfg, ev, &a->fx, arena);
		if (a->fx.request_applied)
			reqs[nq++] = (ly_store_request_row_t){ev, a->fx.request_outcome};
		for (size_t k = 0; k < a->fx.remote_len; k++)
			remote[nremote++] = &a->fx.remote[k];
		if (ev->type == LY_EV_ORDER_PAID)
			for (size_t k = 0; k < ev->u.order_paid.coupon_codes_len; k++)
				ops[nops++] = (ly_store_code_op_t){
					ev, ev->u.order_paid.coupon_codes[k], NULL};
		if (a->fx.voids)
			ops[nops++] = (ly_store_code_op_t){ev, NULL, a->fx.voids->event_id};
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < extra->rows_len; i++)
		rows[nr++] = extra->rows[i];
	/* The codes first: their collision check is the one write whose
	 * answer is read at once, and it waits for every write sent before
	 * it. */
	rc = ly_store_write_codes(store, program->version, shared->code_secret,
				  shared->code_secret_len, codes, nc, arena, errstr, errstr_size);
	if (!rc)
		rc = ly_store_code_ops(store, ops, nops, errstr, errstr_size);
	if (!rc)
		rc = ly_store_write_postings(store, program->version, postings, np, arena,
					     errstr, errstr_size);
	if (!rc)
		rc = ly_store_write_balances(store, states, states_len, arena, errstr,
					     errstr_size);
	if (!rc)
		rc = ly_store_write_lifecycle(store, program, states, states_len, arena,
					      errstr, errstr_size);
	if (!rc)
		rc = ly_store_write_held(store, extra->held, extra->held_len, errstr,
					 errstr_size);
	if (!rc)
		rc = ly_store_write_requests(store, reqs, nq, errstr, errstr_size);
	if (!rc)
		rc = ly_store_write_limits(store, program, states, states_len, arena,
					   errstr, errstr_size);
	if (!rc)
		rc = ly_store_queue_triggers(store, remote, nremote, errstr, errstr_size);
	if (!rc)
		rc = ly_store_write_offers(store, program->version, offers, no, errstr,
					   errstr_size);
	if (!rc)
		rc = ly_store_write_outbox(store, rows, nr, arena, errstr, errstr_size);
	return rc;
}
