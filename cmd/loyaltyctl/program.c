/*
 * program.c: subcommands about files rather than servers: check (the
 * program file) and config-doc (the settings reference).
 */
#include <stdio.h>

#include "ctl.h"
#include "loyalty/config.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

int ctl_check(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	if (argc != 2)
		return ctl_usage_error("check: PROGRAM is required");
	char errstr[1024];
	ly_program_t *p;
	if (ly_program_load(&p, argv[1], errstr, sizeof(errstr))) {
		fprintf(stderr, "%s\n", errstr);
		return 1;
	}
	printf("%s: ok\n", argv[1]);
	printf("program   %s (%s, %s, %s)\n", p->name, p->currency, p->timezone, p->locale);
	printf("version   %s\n", p->version);
	printf("points    pending_days=%lld expire_days=%lld expiry_reminder_days=%lld\n",
	       (long long)p->pending_days, (long long)p->expire_days,
	       (long long)p->expiry_reminder_days);
	printf("rules     %zu\n", p->rules_len);
	for (int t = 0; t < LY_EV__COUNT; t++) {
		size_t n = 0;
		for (size_t i = 0; i < p->rules_len; i++)
			n += p->rules[i].on == (ly_event_type_t)t;
		if (n == 0)
			continue;
		printf("  on %s: %zu\n", ly_event_type_name((ly_event_type_t)t), n);
		for (size_t i = 0; i < p->rules_len; i++) {
			const ly_rule_t *r = &p->rules[i];
			if (r->on != (ly_event_type_t)t)
				continue;
			if (r->earn_per)
				printf("    %-24s earn floor(order.total/%lld)*%lld%s\n", r->id,
				       (long long)r->earn_per, (long long)r->earn_points,
				       ly_rule_is_pending(p, r) ? ", pending" : "");
			else
				printf("    %-24s earn %lld%s\n", r->id, (long long)r->earn_points,
				       ly_rule_is_pending(p, r) ? ", pending" : "");
		}
	}
	ly_program_destroy(p);
	return 0;
}

int ctl_config_doc(ctl_t *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argv;
	if (argc != 1)
		return ctl_usage_error("config-doc takes no arguments");
	ly_buf_t b = {0};
	if (ly_config_write_reference(&b)) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		ly_buf_free(&b);
		return 1;
	}
	fputs(b.data ? b.data : "", stdout);
	ly_buf_free(&b);
	return 0;
}
