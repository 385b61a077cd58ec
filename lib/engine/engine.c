/*
 * engine.c: the pure core (include/loyalty/engine.h). Rules run in file
 * order for each event whose type matches `on`; each earning rule credits
 * points, pending until event time + pending_days when the rule's points
 * start as pending. Integer arithmetic only, checked for overflow; a
 * proportional earn rounds toward zero (floor for the non-negative values
 * the decoder lets through).
 */
#include "loyalty/engine.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

#define US_PER_DAY ((int64_t)86400 * 1000000)

/* The value an `of:` expression names. */
static int earn_base(const ly_rule_t *rule, const ly_event_t *ev, int64_t *out)
{
	switch (rule->earn_of) {
	case LY_OF_ORDER_TOTAL:
		LY_ASSERT(ev->type == LY_EV_ORDER_PAID);
		*out = ev->u.order_paid.total;
		return 0;
	case LY_OF_EXPR: /* refused by ly_engine_check_program */
	case LY_OF_NONE:
		break;
	}
	LY_ASSERT(!"earn base of a fixed rule or an expression");
	return LY_EINVAL;
}

/* Points a rule earns on ev, with the reason that explains the number. */
static int rule_points(const ly_rule_t *rule, const ly_event_t *ev,
		       int64_t *points, const char **reason, ly_arena_t *arena,
		       char *errstr, size_t errstr_size)
{
	if (rule->earn_per == 0) {
		*points = rule->earn_points;
		*reason = ly_arena_printf(arena, "%lld", (long long)rule->earn_points);
		return *reason ? 0 : LY_ENOMEM;
	}
	if (rule->earn_of == LY_OF_EXPR) {
		snprintf(errstr, errstr_size,
			 "rule \"%s\": \"of\" other than order.total is not evaluated by this version of the engine",
			 rule->id);
		return LY_EINVAL;
	}
	int64_t base;
	int rc = earn_base(rule, ev, &base);
	if (rc)
		return rc;
	int64_t units = base / rule->earn_per;
	if (ly_mul_i64(units, rule->earn_points, points)) {
		snprintf(errstr, errstr_size,
			 "rule \"%s\": floor(%lld/%lld)*%lld overflows", rule->id,
			 (long long)base, (long long)rule->earn_per,
			 (long long)rule->earn_points);
		return LY_EINVAL;
	}
	*reason = ly_arena_printf(arena, "floor(%lld/%lld)*%lld", (long long)base,
				  (long long)rule->earn_per,
				  (long long)rule->earn_points);
	return *reason ? 0 : LY_ENOMEM;
}

int ly_engine_apply(ly_effects_t *out, const ly_program_t *program,
		    ly_customer_state_t *state, const ly_event_t *ev,
		    ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	out->postings = NULL;
	out->postings_len = 0;
	size_t matching = 0;
	for (size_t i = 0; i < program->rules_len; i++)
		matching += program->rules[i].on == ev->type &&
			    program->rules[i].has_earn;
	if (matching == 0)
		return 0;

	ly_posting_t *postings = ly_arena_alloc(arena, matching * sizeof(*postings));
	if (!postings)
		return LY_ENOMEM;
	int64_t available = state->available;
	int64_t pending = state->pending;
	size_t n = 0;
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *rule = &program->rules[i];
		if (rule->on != ev->type || !rule->has_earn)
			continue;
		int64_t points;
		const char *reason;
		int rc = rule_points(rule, ev, &points, &reason, arena, errstr,
				     errstr_size);
		if (rc)
			return rc;
		if (points == 0)
			continue;
		ly_posting_t *p = &postings[n];
		p->rule_id = rule->id;
		p->reason = reason;
		p->available_at_us = ev->time_us;
		if (ly_rule_is_pending(program, rule)) {
			int64_t wait_us;
			if (ly_mul_i64(program->pending_days, US_PER_DAY, &wait_us) ||
			    ly_add_i64(ev->time_us, wait_us, &p->available_at_us))
				goto overflow;
			p->delta_pending = points;
			if (ly_add_i64(pending, points, &pending))
				goto overflow;
		} else {
			p->delta_available = points;
			if (ly_add_i64(available, points, &available))
				goto overflow;
		}
		if (program->expire_days > 0) {
			int64_t life_us;
			if (ly_mul_i64(program->expire_days, US_PER_DAY, &life_us) ||
			    ly_add_i64(p->available_at_us, life_us, &p->expires_at_us))
				goto overflow;
		}
		p->available_after = available;
		p->pending_after = pending;
		n++;
		continue;
	overflow:
		snprintf(errstr, errstr_size,
			 "rule \"%s\": balance or date arithmetic overflows",
			 rule->id);
		return LY_EINVAL;
	}
	state->available = available;
	state->pending = pending;
	if (n)
		state->changed = 1;
	out->postings = postings;
	out->postings_len = n;
	return 0;
}

/* ---- what this version evaluates ---- */

/* The first (in file order) part of the program the engine would ignore. */
typedef struct unsupported {
	ly_pos_t pos;
	const char *rule_id; /* NULL: a top-level section */
	const char *what;
	const char *extra;
} unsupported_t;

static void consider(unsupported_t *u, ly_pos_t pos, const char *rule_id,
		     const char *what, const char *extra)
{
	if (pos.line == 0)
		return;
	if (u->pos.line != 0 &&
	    (u->pos.line < pos.line ||
	     (u->pos.line == pos.line && u->pos.col <= pos.col)))
		return;
	u->pos = pos;
	u->rule_id = rule_id;
	u->what = what;
	u->extra = extra;
}

int ly_engine_check_program(const ly_program_t *program, char *errstr,
			    size_t errstr_size)
{
	unsupported_t u = {{0, 0}, NULL, NULL, NULL};
	consider(&u, program->tiers_pos, NULL, "\"tiers\" are", NULL);
	consider(&u, program->rewards_pos, NULL, "\"rewards\" are", NULL);
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		if (r->trigger != LY_TRIGGER_NONE)
			consider(&u, r->on_pos, r->id, "trigger",
				 ly_trigger_name(r->trigger));
		consider(&u, r->if_pos, r->id, "\"if\" is", NULL);
		consider(&u, r->active_pos, r->id, "\"active\" is", NULL);
		consider(&u, r->limit_pos, r->id, "\"limit\" is", NULL);
		consider(&u, r->budget_pos, r->id, "\"budget\" is", NULL);
		consider(&u, r->stop_pos, r->id, "\"stop\" is", NULL);
		consider(&u, r->issue_pos, r->id, "\"issue\" is", NULL);
		consider(&u, r->offer_pos, r->id, "\"offer\" is", NULL);
		consider(&u, r->tier_multiplier_pos, r->id,
			 "\"tier_multiplier\" is", NULL);
		if (r->earn_of == LY_OF_EXPR)
			consider(&u, r->of_pos, r->id,
				 "\"of\" other than order.total is", NULL);
	}
	if (u.pos.line == 0)
		return 0;
	if (u.extra)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": trigger \"%s\" is not produced by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.extra);
	else if (u.rule_id)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": %s not evaluated by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.what);
	else
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: %s not evaluated by this version of the engine",
			 program->path, u.pos.line, u.pos.col, u.what);
	return LY_EINVAL;
}

/* ---- codes ---- */

/* HMAC-SHA256(secret, source \0 event_id \0 rule_id \0 n block). */
static void code_block(unsigned char mac[32], const void *secret,
		       size_t secret_len, const char *source, const char *event_id,
		       const char *rule_id, uint32_t n, uint32_t block)
{
	unsigned char tail[8] = {
		(unsigned char)(n >> 24),     (unsigned char)(n >> 16),
		(unsigned char)(n >> 8),      (unsigned char)n,
		(unsigned char)(block >> 24), (unsigned char)(block >> 16),
		(unsigned char)(block >> 8),  (unsigned char)block,
	};
	ly_buf_t msg = {0};
	unsigned int len = 0;
	int rc = ly_buf_append(&msg, source, strlen(source) + 1) ||
		 ly_buf_append(&msg, event_id, strlen(event_id) + 1) ||
		 ly_buf_append(&msg, rule_id, strlen(rule_id) + 1) ||
		 ly_buf_append(&msg, tail, sizeof(tail));
	LY_ASSERT(rc == 0);
	unsigned char *md = HMAC(EVP_sha256(), secret, (int)secret_len,
				 (const unsigned char *)msg.data, msg.len, mac, &len);
	ly_buf_free(&msg);
	LY_ASSERT(md && len == 32);
}

void ly_engine_code(char *out, const void *secret, size_t secret_len,
		    const char *source, const char *event_id, const char *rule_id,
		    uint32_t n)
{
	static const char alphabet[] = LY_CODE_ALPHABET;
	const unsigned symbols = sizeof(alphabet) - 1;
	const unsigned limit = 256 - 256 % symbols; /* unbiased: reject the rest */
	size_t len = 0;
	for (uint32_t block = 0; len < LY_CODE_LENGTH; block++) {
		unsigned char mac[32];
		code_block(mac, secret, secret_len, source, event_id, rule_id, n, block);
		for (size_t i = 0; i < sizeof(mac) && len < LY_CODE_LENGTH; i++)
			if (mac[i] < limit)
				out[len++] = alphabet[mac[i] % symbols];
	}
	out[LY_CODE_LENGTH] = '\0';
}
