/*
 * lifecycle.c: the operator's side of docs/lifecycle.md: liability (the
 * outstanding points as of a date), erase (KVKK/GDPR erasure of a
 * customer's personal data) and adjust (a points.adjust request published
 * to the requests topic, applied by the workers like any other event).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "ctl.h"
#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/store.h"
#include "loyalty/tz.h"
#include "loyalty/util.h"

/* The value of option name at argv[*i] ("--name VALUE" or "--name=VALUE"),
 * advancing *i past it; NULL when argv[*i] is not that option. *missing is
 * set when the option is there without its value. */
static const char *option_value(int argc, char **argv, int *i, const char *name,
				int *missing)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

int ctl_liability(ctl_t *ctl, int argc, char **argv)
{
	const char *date = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		int missing = 0;
		const char *v = option_value(argc, argv, &i, "--as-of", &missing);
		if (missing)
			return ctl_usage_error("liability: --as-of needs a date (YYYY-MM-DD)");
		if (v)
			date = v;
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-')
			return ctl_usage_error("liability: unknown option \"%s\"", argv[i]);
		else
			return ctl_usage_error("liability: unexpected argument \"%s\"",
					       argv[i]);
	}
	int y = 0, m = 0, d = 0;
	if (date && ly_date_parse(date, &y, &m, &d))
		return ctl_usage_error(
			"liability: --as-of must be a date YYYY-MM-DD, got \"%s\"", date);
	if (ctl_config(ctl))
		return 1;

	char errstr[1024];
	int status = 1;
	ly_program_t *p = NULL;
	ly_store_t *store = NULL;
	int64_t as_of_us, before_us;
	if (date) {
		/* the end of the day in the program's zone: the next local
		 * midnight, which the lines before it precede */
		if (ly_program_load(&p, ctl->cfg.program, errstr, sizeof(errstr))) {
			fprintf(stderr, "%s\n", errstr);
			goto out;
		}
		before_us = ly_tz_day_start_us(p->tz, ly_days_from_civil(y, m, d) + 1);
		as_of_us = before_us;
	} else {
		as_of_us = ly_time_now_us();
		before_us = INT64_MAX; /* every line, whatever its event time */
	}
	ly_liability_t l;
	if (ctl_store(ctl, &store))
		goto out;
	if (ly_store_liability(store, before_us, &l, errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		goto out;
	}
	char ts[40];
	ly_time_format_rfc3339(as_of_us, ts, sizeof(ts));
	if (json) {
		printf("{\"as_of\":\"%s\",\"available\":%lld,\"pending\":%lld,"
		       "\"customers\":%lld}\n",
		       ts, (long long)l.available, (long long)l.pending,
		       (long long)l.customers);
	} else {
		if (date)
			printf("as of      %s (the end of %s, %s)\n", ts, date, p->timezone);
		else
			printf("as of      %s (now: every ledger line)\n", ts);
		printf("available  %lld\npending    %lld\ncustomers  %lld\n",
		       (long long)l.available, (long long)l.pending, (long long)l.customers);
	}
	status = 0;
out:
	ly_store_close(store);
	ly_program_destroy(p);
	return status;
}

int ctl_erase(ctl_t *ctl, int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '-' || !argv[1][0])
		return ctl_usage_error("erase: exactly one CUSTOMER is required");
	const char *customer = argv[1];
	char errstr[1024];
	ly_store_t *store;
	ly_erasure_t e;
	if (ctl_store(ctl, &store))
		return 1;
	int rc = ly_store_erase(store, customer, &e, errstr, sizeof(errstr));
	ly_store_close(store);
	if (rc) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	char ts[40];
	ly_time_format_rfc3339(e.erased_at_us, ts, sizeof(ts));
	if (e.removed_first_name || e.removed_birth_date)
		printf("erase: customer %s: removed %s\n", customer,
		       e.removed_first_name && e.removed_birth_date ? "first_name, birth_date"
		       : e.removed_first_name			   ? "first_name"
								   : "birth_date");
	else
		printf("erase: customer %s: no personal data left to remove\n", customer);
	printf("erase: customer %s: %s at %s\n", customer,
	       e.already_erased ? "already erased" : "erased", ts);
	printf("erase: customer %s: kept %lld ledger lines, %lld lots, %lld orders, "
	       "%lld codes\n",
	       customer, (long long)e.ledger_lines, (long long)e.lots, (long long)e.orders,
	       (long long)e.codes);
	return 0;
}

/* A random version 4 UUID, the request id when none is given. */
static int random_request_id(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return -1;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		p += sprintf(p, "%02x", b[i]);
	}
	return 0;
}

#define ADJUST_ID_PREFIX "adjust-"

int ctl_adjust(ctl_t *ctl, int argc, char **argv)
{
	const char *customer = NULL, *points_arg = NULL, *reason = NULL,
		   *request_id = NULL, *brokers = NULL;
	int positional_only = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		/* a negative POINTS is an argument, not an option */
		int option = !positional_only && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9');
		if (option) {
			int missing = 0;
			const char *v;
			if (strcmp(a, "--") == 0)
				positional_only = 1;
			else if ((v = option_value(argc, argv, &i, "--reason", &missing)))
				reason = v;
			else if (!missing &&
				 (v = option_value(argc, argv, &i, "--request-id", &missing)))
				request_id = v;
			else if (!missing &&
				 (v = option_value(argc, argv, &i, "--brokers", &missing)))
				brokers = v;
			else if (missing)
				return ctl_usage_error("adjust: %s needs a value", a);
			else
				return ctl_usage_error("adjust: unknown option \"%s\"", a);
		} else if (!customer) {
			customer = a;
		} else if (!points_arg) {
			points_arg = a;
		} else {
			return ctl_usage_error("adjust: unexpected argument \"%s\"", a);
		}
	}
	if (!customer || !points_arg)
		return ctl_usage_error("adjust: CUSTOMER and POINTS are required");
	int64_t points;
	/* the largest integer a JSON reader keeps exactly, as the decoder does */
	if (ctl_parse_i64(points_arg, -9007199254740991LL, 9007199254740991LL, &points) ||
	    points == 0)
		return ctl_usage_error("adjust: POINTS must be a non-zero integer, got \"%s\"",
				       points_arg);
	if (!reason || !reason[0])
		return ctl_usage_error(
			"adjust: --reason TEXT is required and must not be empty");
	char generated[37];
	if (request_id &&
	    (!request_id[0] ||
	     strlen(request_id) > LY_EVENT_ID_MAX_BYTES - strlen(ADJUST_ID_PREFIX)))
		return ctl_usage_error("adjust: --request-id must be 1 to %zu bytes",
				       LY_EVENT_ID_MAX_BYTES - strlen(ADJUST_ID_PREFIX));
	if (!request_id) {
		if (random_request_id(generated)) {
			fprintf(stderr,
				"loyaltyctl: adjust: no random bytes for a request id\n");
			return 1;
		}
		request_id = generated;
	}
	const char *const texts[][2] = {
		{"CUSTOMER", customer}, {"--reason", reason}, {"--request-id", request_id}};
	for (size_t k = 0; k < LY_ARRAY_LEN(texts); k++)
		if (!ly_utf8_valid(texts[k][1], strlen(texts[k][1])))
			return ctl_usage_error("adjust: %s is not valid UTF-8", texts[k][0]);
	if (ctl_config(ctl))
		return 1;

	/* The event, in structured mode (SPEC section 4). */
	char ts[40];
	ly_time_format_rfc3339(ly_time_now_us(), ts, sizeof(ts));
	ly_buf_t b = {0};
	ly_buf_puts(&b, "{\"specversion\":\"1.0\",\"id\":\"" ADJUST_ID_PREFIX);
	ly_buf_json_str(&b, request_id, strlen(request_id));
	ly_buf_printf(&b,
		      "\",\"source\":\"loyaltyctl\",\"type\":\"points.adjust\",\"time\":\"%s\","
		      "\"datacontenttype\":\"application/json\",\"data\":{\"request_id\":",
		      ts);
	ly_buf_json_quoted(&b, request_id);
	ly_buf_puts(&b, ",\"customer_id\":");
	ly_buf_json_quoted(&b, customer);
	ly_buf_printf(&b, ",\"points\":%lld,\"reason\":", (long long)points);
	ly_buf_json_quoted(&b, reason);
	int status = 1;
	ly_arena_t *arena = NULL;
	ctl_producer_t producer = {0};
	if (ly_buf_puts(&b, "}}")) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	/* What the workers would dead-letter is refused here, before it is
	 * published: an id too long, a string not UTF-8 or over 4 KiB. */
	char errstr[1024];
	ly_event_t ev;
	ly_reject_t why = LY_REJECT_NONE;
	if (!(arena = ly_arena_new(16 * 1024))) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	if (ly_event_decode(&ev, &why, errstr, sizeof(errstr), b.data, b.len, NULL, 0,
			    arena)) {
		if (why == LY_REJECT_NONE) {
			fprintf(stderr, "loyaltyctl: out of memory\n");
		} else {
			status = ctl_usage_error(
				"adjust: the workers would reject this request: %s", errstr);
		}
		goto out;
	}
	static const char ce_json[] = "application/cloudevents+json; charset=UTF-8";
	const ly_header_t ct = {"content-type", ce_json, sizeof(ce_json) - 1};
	if (ctl_producer_open(ctl, &producer, brokers))
		goto out;
	int failed = ctl_producer_send(&producer, "adjust", ctl->cfg.topic_requests, customer,
				       b.data, b.len, &ct, 1);
	if (ctl_producer_close(&producer, "adjust") || failed)
		goto out;
	printf("%s\n", request_id);
	fprintf(stderr, "adjust: %+lld points for customer %s published to %s (request %s)\n",
		(long long)points, customer, ctl->cfg.topic_requests, request_id);
	status = 0;
out:
	ctl_producer_close(&producer, "adjust");
	ly_arena_destroy(arena);
	ly_buf_free(&b);
	return status;
}
