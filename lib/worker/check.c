/*
 * check.c: which programs this version of the worker runs as written
 * (ly_worker_check_program in include/loyalty/worker.h). The engine
 * evaluates the whole language and the worker keeps everything it needs
 * in PostgreSQL (balances, lots, limits, budgets, codes, profiles, orders,
 * the scheduler's triggers), except the offers' outbound side (consent,
 * quiet hours, caps). A program with an `offer` is refused rather than run
 * with its offers silently dropped.
 */
#include <stdio.h>

#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

/* The first rule (in file order) with an `offer`. */
int ly_worker_check_program(const ly_program_t *program, char *errstr,
			    size_t errstr_size)
{
	for (size_t i = 0; i < program->rules_len; i++) {
		const ly_rule_t *r = &program->rules[i];
		if (r->offer_pos.line == 0)
			continue;
		snprintf(errstr, errstr_size,
			 "%s:%d:%d: rule \"%s\": \"offer\" is not run by this version of the worker",
			 program->path, r->offer_pos.line, r->offer_pos.col, r->id);
		return LY_EINVAL;
	}
	return 0;
}
