/*
 * check.c: which programs this version of the worker runs as written
 * (ly_worker_check_program in include/loyalty/worker.h). The engine
 * evaluates the whole language; the worker keeps balances, lots, limit
 * counts, budgets and codes in PostgreSQL, but not yet the customer
 * profile (order count, spend, tier, segment, consents), the triggers that
 * come from it, redemptions against `rewards`, or the offers' outbound
 * side. A program that needs any of those is refused rather than run with
 * parts silently ignored.
 */
#include <stdio.h>

#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

/* The first (in file order) part of the program the worker would not run;
 * on a tie, the first one considered. */
typedef struct unsupported {
	ly_pos_t pos;
	const char *rule_id; /* NULL: a top-level section */
	const char *what;
	const char *extra;   /* a trigger's name */
	const char *field;   /* a field this version does not keep */
} unsupported_t;

static void consider(unsupported_t *u, ly_pos_t pos, const char *rule_id,
		     const char *what, const char *extra, const char *field)
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
	u->field = field;
}

/* 1 for the fields the worker can give expressions today: event.*, the
 * event's data and, of customer.*, only the two balances it keeps. */
static int field_kept(int field_id)
{
	if (field_id < LY_FIELD_CUSTOMER_ORDER_COUNT ||
	    field_id > LY_FIELD_CUSTOMER_BIRTHDAY_TODAY)
		return 1;
	return field_id == LY_FIELD_CUSTOMER_POINTS_AVAILABLE ||
	       field_id == LY_FIELD_CUSTOMER_POINTS_PENDING;
}

/* The first field (in schema order) expr reads that is not kept, at pos. */
static void consider_fields(unsupported_t *u, const ly_rule_t *r,
			    const ly_expr_t *expr, ly_pos_t pos)
{
	if (!expr)
		return;
	const ly_expr_schema_t *schema = ly_program_schema(r->on, r->trigger);
	for (size_t i = 0; i < schema->fields_len; i++) {
		const ly_expr_field_t *f = &schema->fields[i];
		if (!field_kept(f->id) && ly_expr_reads_field(expr, f->id)) {
			consider(u, pos, r->id, NULL, NULL, f->path);
			return;
		}
	}
}

int ly_worker_check_program(const ly_program_t *program, char *errstr,
			    size_t errstr_size)
{
	unsupported_t u = {{0, 0}, NULL, NULL, NULL, NULL};
	consider(&u, program->tiers_pos, NULL, "\"tiers\" are", NULL, NULL);
	consider(&u, program->rewards_pos, NULL, "\"rewards\" are", NULL, NULL);
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		if (r->trigger != LY_TRIGGER_NONE)
			consider(&u, r->on_pos, r->id, "trigger",
				 ly_trigger_name(r->trigger), NULL);
		/* if, active, earn, limit, budget, issue and stop run; their
		 * expressions may read only the fields the worker keeps */
		consider_fields(&u, r, r->if_expr, r->if_pos);
		if (r->earn_of == LY_OF_EXPR)
			consider_fields(&u, r, r->earn_of_expr, r->of_pos);
		consider(&u, r->offer_pos, r->id, "\"offer\" is", NULL, NULL);
		consider(&u, r->tier_multiplier_pos, r->id,
			 "\"tier_multiplier\" is", NULL, NULL);
		for (size_t k = 0; k < r->offer.vars_len; k++)
			consider_fields(&u, r, r->offer.vars[k].expr, r->offer_pos);
	}
	if (u.pos.line == 0)
		return 0;
	if (u.field)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": field \"%s\" is not kept by this version of the worker",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.field);
	else if (u.extra)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": trigger \"%s\" is not produced by this version of the worker",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.extra);
	else if (u.rule_id)
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": %s not run by this version of the worker",
			 program->path, u.pos.line, u.pos.col, u.rule_id, u.what);
	else
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: %s not run by this version of the worker",
			 program->path, u.pos.line, u.pos.col, u.what);
	return LY_EINVAL;
}

