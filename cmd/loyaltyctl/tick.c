/*
 * tick.c: `loyaltyctl tick [--now RFC3339]`: scheduler passes at "now"
 * until nothing is left due (docs/lifecycle.md), so tests and backfills
 * step time exactly. The outbox rows it writes are published by any
 * running loyaltyd.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/program.h"
#include "loyalty/worker.h"

int ctl_tick(ctl_t *ctl, int argc, char **argv)
{
	int64_t now = ly_time_now_us();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			if (ly_time_parse_rfc3339(argv[++i], &now))
				return ctl_usage_error("tick: --now wants an RFC 3339 time, got \"%s\"",
						       argv[i]);
		} else {
			return ctl_usage_error("tick: unexpected argument \"%s\"", argv[i]);
		}
	}
	if (ctl_config(ctl))
		return 1;
	char errstr[1024];
	ly_program_t *program = NULL;
	if (ly_program_load(&program, ctl->cfg.program, errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	ly_store_t *store = NULL;
	if (ctl_store(ctl, &store)) {
		ly_program_destroy(program);
		return 1;
	}
	ly_scheduler_stats_t st;
	int rc = ly_scheduler_pass(store, &ctl->cfg, program, now, 0, &st, errstr,
				   sizeof(errstr));
	if (rc)
		fprintf(stderr, "loyaltyctl: tick: %s\n", errstr);
	else {
		char when[40];
		ly_time_format_rfc3339(now, when, sizeof(when));
		printf("tick %s: %llu customers, %llu released, %llu expired, %llu triggers, "
		       "%llu postings, %llu held refunds dead-lettered, %llu errors\n",
		       when, (unsigned long long)st.customers, (unsigned long long)st.released,
		       (unsigned long long)st.expired, (unsigned long long)st.triggers,
		       (unsigned long long)st.postings, (unsigned long long)st.dead_lettered,
		       (unsigned long long)st.errors);
	}
	ly_store_close(store);
	ly_program_destroy(program);
	return rc ? 1 : (st.errors ? 1 : 0);
}
