/*
 * explain.c: `loyaltyctl explain PROGRAM EVENT.json`: which rules of a
 * program fire on one event and why the others do not, computed by the
 * engine's own evaluation (ly_engine_explain) on a customer state: a new
 * customer, a state file, or the stored customer read from PostgreSQL. It
 * writes nothing but stdout and stderr: no ledger, no offsets.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/cases.h"
#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/store.h"
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

/* Prints the traces of one event; for a trigger (indent), only the rules
 * on it, or that there are none. */
static void print_traces(const ly_rule_trace_t *traces, size_t traces_len,
			 int trigger)
{
	size_t shown = 0;
	for (size_t i = 0; i < traces_len; i++) {
		if (trigger && traces[i].outcome == LY_RULE_SKIPPED)
			continue;
		printf("%s%s: %s\n", trigger ? "  " : "", traces[i].rule->id,
		       traces[i].why);
		shown++;
	}
	if (trigger && shown == 0)
		printf("  (no rule on it)\n");
}

/* What became of each offer on each channel (docs/offers.md): `offer
 * welcome by email: sent`, `... by sms: sent after 2026-11-25T06:00:00Z
 * (quiet hours)`, `... by sms: suppressed (no_consent)`. */
static void print_offers(const ly_effects_t *fx, int trigger)
{
	for (size_t i = 0; i < fx->offers_len; i++) {
		const ly_offer_made_t *o = &fx->offers[i];
		for (size_t k = 0; k < o->sends_len; k++) {
			const ly_offer_send_t *s = &o->sends[k];
			printf("%soffer %s by %s (%s): ", trigger ? "  " : "", o->template_id,
			       s->channel == LY_CHANNEL_SMS ? "sms" : "email", o->locale);
			if (s->outcome != LY_OFFER_SENT) {
				printf("suppressed (%s)\n", ly_offer_outcome_name(s->outcome));
			} else if (s->send_after_us) {
				char t[48];
				ly_time_format_rfc3339(s->send_after_us, t, sizeof(t));
				printf("sent after %s (quiet hours)\n", t);
			} else {
				printf("sent\n");
			}
		}
	}
}

/*
 * Explains ev and, after it, the triggers it caused (each under a line
 * `then tier.changed (bronze -> silver):`, with the rules on it indented).
 * Adds the points to *plus_*.
 * 0, or 1 after printing why it failed.
 */
static int explain_event(const ly_program_t *p, ly_engine_shared_t *shared,
			 ly_customer_state_t *cs, const ly_event_t *ev,
			 ly_arena_t *arena, int64_t *plus_available,
			 int64_t *plus_pending, int trigger)
{
	char errstr[1024];
	ly_rule_trace_t *traces;
	size_t traces_len;
	ly_effects_t fx;
	int rc = ly_engine_explain(&traces, &traces_len, &fx, p, shared, cs, ev,
				   arena, errstr, sizeof(errstr));
	print_traces(traces, traces_len, trigger);
	if (rc == LY_ENOMEM) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		return 1;
	}
	if (rc) {
		printf("error: %s\n", errstr);
		return 1;
	}
	print_offers(&fx, trigger);
	for (size_t i = 0; i < fx.postings_len; i++) {
		*plus_available += fx.postings[i].delta_available;
		*plus_pending += fx.postings[i].delta_pending;
	}
	for (size_t i = 0; i < fx.triggers_len; i++) {
		const ly_event_t *t = &fx.triggers[i];
		printf("then %s (%s -> %s):\n", ly_event_name(t),
		       t->u.change.from[0] ? t->u.change.from : "none",
		       t->u.change.to);
		if (explain_event(p, shared, cs, t, arena, plus_available,
				  plus_pending, 1))
			return 1;
	}
	return 0;
}

/*
 * explain PROGRAM EVENT.json [--customer-state FILE | --config F --customer
 * ID] [--available N] [--pending N]: one line per rule (`id: why`), the
 * triggers the event causes with their rules, then the total and the
 * balances after the event. The customer is new unless a state file (the
 * keys of a test case's `customer`, and `budgets`) or the stored customer
 * (balances, limit counts and budgets from PostgreSQL, read only) says
 * otherwise; --available and --pending then override the balances. Exit 0
 * when it explains, 1 when the program, the state or the event is refused
 * or the engine fails, 2 on a usage error.
 */
int ctl_explain(ctl_t *ctl, int argc, char **argv)
{
	const char *program_path = NULL, *event_path = NULL;
	const char *state_path = NULL, *customer = NULL;
	int64_t available = 0, pending = 0;
	int has_available = 0, has_pending = 0;
	for (int i = 1; i < argc; i++) {
		int is_available = strcmp(argv[i], "--available") == 0;
		if (is_available || strcmp(argv[i], "--pending") == 0) {
			if (i + 1 == argc ||
			    parse_i64(argv[i + 1], is_available ? &available : &pending))
				return ctl_usage_error("explain: %s needs an integer",
						       argv[i]);
			*(is_available ? &has_available : &has_pending) = 1;
			i++;
		} else if (strcmp(argv[i], "--customer-state") == 0 ||
			   strcmp(argv[i], "--customer") == 0) {
			int is_state = strcmp(argv[i], "--customer-state") == 0;
			if (i + 1 == argc)
				return ctl_usage_error("explain: %s needs a value", argv[i]);
			if (is_state)
				state_path = argv[i + 1];
			else
				customer = argv[i + 1];
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
	if (state_path && customer)
		return ctl_usage_error("explain: --customer-state and --customer exclude each other");

	char errstr[1024];
	int status = 1;
	ly_program_t *p = NULL;
	ly_arena_t *arena = NULL;
	ly_store_t *store = NULL;
	char *json = NULL;
	size_t json_len = 0;
	int64_t *spent = NULL;
	unsigned char *changed = NULL;
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
	if (!(arena = ly_arena_new(64 * 1024)) ||
	    !(spent = calloc(p->rules_len + 1, sizeof(*spent))) ||
	    !(changed = calloc(p->rules_len + 1, 1))) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	ly_event_t ev;
	ly_reject_t why = LY_REJECT_NONE;
	if (ly_event_decode_trigger(&ev, &why, errstr, sizeof(errstr), json,
				    json_len, arena)) {
		if (why == LY_REJECT_NONE)
			fprintf(stderr, "loyaltyctl: out of memory\n");
		else
			printf("rejected: %s: %s\n", ly_reject_code(why), errstr);
		goto out;
	}

	/* The codes shown are made with this key, not the shop's. */
	ly_engine_shared_t shared = {spent, changed, "loyaltyctl-explain",
				     strlen("loyaltyctl-explain")};
	ly_customer_state_t cs = {.customer_id = ev.customer_id};
	if (state_path &&
	    ly_customer_state_load(&cs, &shared, p, state_path, arena, errstr,
				   sizeof(errstr))) {
		fprintf(stderr, "%s\n", errstr);
		goto out;
	}
	if (customer) {
		if (strcmp(customer, ev.customer_id) != 0) {
			fprintf(stderr, "loyaltyctl: the event is about customer \"%s\", not \"%s\"\n",
				ev.customer_id, customer);
			goto out;
		}
		if (ctl_store(ctl, &store) ||
		    ly_store_load_customer(store, p, &cs, &shared, &ev, arena, errstr,
					   sizeof(errstr))) {
			if (store)
				fprintf(stderr, "loyaltyctl: %s\n", errstr);
			goto out;
		}
	}
	if (state_path && strcmp(cs.customer_id, ev.customer_id) != 0) {
		fprintf(stderr, "%s: the state is about customer \"%s\", the event about \"%s\"\n",
			state_path, cs.customer_id, ev.customer_id);
		goto out;
	}
	if (has_available)
		cs.available = available;
	if (has_pending)
		cs.pending = pending;

	int64_t plus_available = 0, plus_pending = 0;
	if (explain_event(p, &shared, &cs, &ev, arena, &plus_available,
			  &plus_pending, 0))
		goto out;
	printf("total: %+" PRId64 " available, %+" PRId64
	       " pending; balance after: available %" PRId64 ", pending %" PRId64 "\n",
	       plus_available, plus_pending, cs.available, cs.pending);
	status = 0;
out:
	free(json);
	free(spent);
	free(changed);
	ly_store_close(store);
	ly_arena_destroy(arena);
	ly_program_destroy(p);
	return status;
}
