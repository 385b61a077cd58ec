/*
 * state.c: the subcommands that read or shape PostgreSQL: migrate, verify,
 * balance, history.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/store.h"
#include "loyalty/util.h"

int ctl_migrate(ctl_t *ctl, int argc, char **argv)
{
	(void)argv;
	char errstr[1024];
	ly_store_t *store;
	int applied;
	if (argc != 1)
		return ctl_usage_error("migrate takes no arguments");
	if (ctl_store(ctl, &store))
		return 1;
	int rc = ly_store_migrate(store, &applied, errstr, sizeof(errstr));
	ly_store_close(store);
	if (rc) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	printf("migrate: %d applied, schema \"%s\" at version %d\n", applied,
	       ctl->cfg.postgres_schema,
	       ly_migrations_len ? ly_migrations[ly_migrations_len - 1].version : 0);
	return 0;
}

int ctl_verify(ctl_t *ctl, int argc, char **argv)
{
	(void)argv;
	char errstr[1024];
	ly_store_t *store;
	ly_buf_t out = {0};
	if (argc != 1)
		return ctl_usage_error("verify takes no arguments");
	if (ctl_store(ctl, &store))
		return 1;
	int rc = ly_store_verify(store, &out, errstr, sizeof(errstr));
	ly_store_close(store);
	int status = 0;
	if (rc == LY_ECONFLICT) {
		fputs(out.data, stdout);
		printf("verify: FAILED: balances differ from the ledger or the lots\n");
		status = 1;
	} else if (rc) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		status = 1;
	} else {
		printf("verify: ok: every balance equals its ledger and lots\n");
	}
	ly_buf_free(&out);
	return status;
}

/* balance and history: CUSTOMER [--json] */
static int customer_report(ctl_t *ctl, int argc, char **argv,
			   int (*print)(ly_store_t *, const char *, int, ly_buf_t *,
					char *, size_t))
{
	const char *customer = NULL;
	int json = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (argv[i][0] == '-')
			return ctl_usage_error("%s: unknown option \"%s\"", argv[0], argv[i]);
		else if (!customer)
			customer = argv[i];
		else
			return ctl_usage_error("%s: one customer only", argv[0]);
	}
	if (!customer)
		return ctl_usage_error("%s: CUSTOMER is required", argv[0]);
	char errstr[1024];
	ly_store_t *store;
	ly_buf_t out = {0};
	if (ctl_store(ctl, &store))
		return 1;
	int rc = print(store, customer, json, &out, errstr, sizeof(errstr));
	ly_store_close(store);
	if (rc) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		ly_buf_free(&out);
		return 1;
	}
	if (out.data)
		fputs(out.data, stdout);
	ly_buf_free(&out);
	return 0;
}

int ctl_balance(ctl_t *ctl, int argc, char **argv)
{
	return customer_report(ctl, argc, argv, ly_store_print_balance);
}

int ctl_history(ctl_t *ctl, int argc, char **argv)
{
	return customer_report(ctl, argc, argv, ly_store_print_history);
}
