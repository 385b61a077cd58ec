/*
 * explain.c: `loyaltyctl explain PROGRAM EVENT.json`: which rules of a
 * program fire on one event and why the others do not, computed by the
 * engine's own evaluation (ly_engine_explain) on a customer state given on
 * the command line. It reads two files and writes nothing but stdout and
 * stderr: no server, no ledger.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

/* A whole decimal int64, or LY_EINVAL. */
static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return LY_EINVAL;
	*out = v;
	return 0;
}

/*
 * explain PROGRAM EVENT.json [--available N] [--pending N]: one line per
 * rule (`id: why`), then the total and the balances after the event. Exit
 * 0 when it explains, 1 when the program or the event is refused or the
 * engine fails, 2 on a usage error.
 */
int ctl_explain(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	const char *program_path = NULL, *event_path = NULL;
	int64_t available = 0, pending = 0;
	for (int i = 1; i < argc; i++) {
		int is_available = strcmp(argv[i], "--available") == 0;
		if (is_available || strcmp(argv[i], "--pending") == 0) {
			if (i + 1 == argc ||
			    parse_i64(argv[i + 1], is_available ? &available : &pending))
				return ctl_usage_error("explain: %s needs an integer",
						       argv[i]);
			i++;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			return ctl_usage_error("explain: unknown option \"%s\"", argv[i]);
		} else if (!program_path) {
			program_path = argv[i];
		} else if (!event_path) {
			event_path = argv[i];
		} else {
			return ctl_usage_error("explain: unexpected argument \"%s\"",
					       argv[i]);
		}
	}
	if (!event_path)
		return ctl_usage_error("explain: PROGRAM and EVENT.json are required");

	char errstr[1024];
	int status = 1;
	ly_program_t *p = NULL;
	ly_arena_t *arena = NULL;
	char *json = NULL;
	size_t json_len = 0;
	if (ly_program_load(&p, program_path, errstr, sizeof(errstr))) {
		fprintf(stderr, "%s\n", errstr);
		goto out;
	}
	/* one byte over the decoder's limit, so it can say "too large" */
	if (ly_read_file(event_path, LY_EVENT_MESSAGE_MAX_BYTES + 1, &json,
			 &json_len, errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		goto out;
	}
	if (!(arena = ly_arena_new(64 * 1024))) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	ly_event_t ev;
	ly_reject_t why = LY_REJECT_NONE;
	if (ly_event_decode(&ev, &why, errstr, sizeof(errstr), json, json_len,
			    NULL, 0, arena)) {
		if (why == LY_REJECT_NONE)
			fprintf(stderr, "loyaltyctl: out of memory\n");
		else
			printf("rejected: %s: %s\n", ly_reject_code(why), errstr);
		goto out;
	}

	ly_customer_state_t cs = {.customer_id = ev.customer_id,
				  .available = available,
				  .pending = pending};
	ly_rule_trace_t *traces;
	size_t traces_len;
	ly_effects_t fx;
	int rc = ly_engine_explain(&traces, &traces_len, &fx, p, NULL, &cs, &ev, arena,
				   errstr, sizeof(errstr));
	for (size_t i = 0; i < traces_len; i++)
		printf("%s: %s\n", traces[i].rule->id, traces[i].why);
	if (rc == LY_ENOMEM) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	if (rc) {
		printf("error: %s\n", errstr);
		goto out;
	}
	int64_t plus_available = 0, plus_pending = 0;
	for (size_t i = 0; i < fx.postings_len; i++) {
		plus_available += fx.postings[i].delta_available;
		plus_pending += fx.postings[i].delta_pending;
	}
	printf("total: %+" PRId64 " available, %+" PRId64
	       " pending; balance after: available %" PRId64 ", pending %" PRId64 "\n",
	       plus_available, plus_pending, cs.available, cs.pending);
	status = 0;
out:
	free(json);
	ly_arena_destroy(arena);
	ly_program_destroy(p);
	return status;
}
