/*
 * loyaltyctl: the operator's CLI. Reads the same config file and
 * LOYALTY_* variables as loyaltyd. This file parses the global options and
 * dispatches to one function per subcommand.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/util.h"

extern char **environ;

void ctl_usage(FILE *f)
{
	fprintf(f,
		"usage: loyaltyctl [--config FILE] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  migrate                    create or upgrade the PostgreSQL schema\n"
		"  verify                     check that balances equal the ledger and lots\n"
		"  balance CUSTOMER [--json]  a customer's points\n"
		"  history CUSTOMER [--json]  a customer's ledger and codes, oldest first\n"
		"  liability [--as-of DATE] [--json]\n"
		"                             outstanding available and pending points and\n"
		"                             the customers holding them, from the ledger\n"
		"                             lines before the end of DATE (YYYY-MM-DD, the\n"
		"                             program's time zone); default: now, every line\n"
		"  erase CUSTOMER             KVKK/GDPR: remove a customer's first name and\n"
		"                             birth date, keep the ledger, lots, orders, codes\n"
		"  adjust CUSTOMER POINTS --reason TEXT [--request-id ID] [--brokers LIST]\n"
		"                             publish a points.adjust request (POINTS may be\n"
		"                             negative) to the requests topic; prints its id\n"
		"  tick [--now TIME]          run the scheduler (releases, expiry, reminders,\n"
		"                             birthdays, segments, tiers, referrals) at TIME\n"
		"                             (RFC 3339; default: now) until nothing is due\n"
		"  check PROGRAM              validate a program file and summarise it\n"
		"  explain PROGRAM EVENT.json [--customer-state FILE | --customer ID]\n"
		"          [--available N] [--pending N]\n"
		"                             which rules fire on an event and why not\n"
		"                             (writes nothing)\n"
		"  test PROGRAM CASES.yaml    run a program's own test cases (no servers)\n"
		"  produce [--count N] [--seed S] [--customers C] [--brokers LIST] [--stdout]\n"
		"          [--requests]\n"
		"                             write N realistic sample events; --requests:\n"
		"                             about 5%% of them points.adjust and\n"
		"                             points.redeem of the program's rewards\n"
		"  topics [--partitions N] [--replication R] [--brokers LIST]\n"
		"                             create the configured topics\n"
		"  config-doc                 print the settings reference (Markdown)\n");
}

int ctl_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("loyaltyctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	ctl_usage(stderr);
	return 2;
}

int ctl_config(ctl_t *ctl)
{
	char errstr[1024];
	if (ctl->cfg_loaded)
		return 0;
	if (ly_config_load(&ctl->cfg, ctl->config_path, environ, errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	ly_log_level_t level;
	if (ly_log_parse_level(ctl->cfg.log_level, &level) == 0)
		ly_log_set_level(level);
	ctl->cfg_loaded = 1;
	return 0;
}

int ctl_store(ctl_t *ctl, ly_store_t **store)
{
	char errstr[1024];
	if (ctl_config(ctl))
		return 1;
	if (ly_store_open(store, ctl->cfg.postgres_conninfo, ctl->cfg.postgres_schema,
			  errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(ctl_t *, int, char **);
} commands[] = {
	{"migrate", ctl_migrate},   {"verify", ctl_verify},
	{"balance", ctl_balance},   {"history", ctl_history},
	{"check", ctl_check},       {"produce", ctl_produce},
	{"topics", ctl_topics},     {"config-doc", ctl_config_doc},
	{"explain", ctl_explain},   {"test", ctl_test},
	{"liability", ctl_liability}, {"erase", ctl_erase},
	{"adjust", ctl_adjust},     {"tick", ctl_tick},
};

int main(int argc, char **argv)
{
	ctl_t ctl = {0};
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			ctl.config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			ctl.config_path = argv[i] + 9;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ctl_usage(stdout);
			return 0;
		} else {
			return ctl_usage_error("unknown option \"%s\"", argv[i]);
		}
	}
	if (i == argc)
		return ctl_usage_error("no command");
	int status = -1;
	for (size_t k = 0; k < LY_ARRAY_LEN(commands); k++)
		if (strcmp(argv[i], commands[k].name) == 0)
			status = commands[k].fn(&ctl, argc - i, argv + i);
	if (status < 0)
		return ctl_usage_error("unknown command \"%s\"", argv[i]);
	if (ctl.cfg_loaded)
		ly_config_free(&ctl.cfg);
	return status;
}
