/*
 * ctl.h: what the loyaltyctl subcommand files share. Each subcommand is
 * `int ctl_<name>(ctl_t *ctl, int argc, char **argv)` returning the exit
 * status: 0 success, 1 failure, 2 usage error.
 */
#ifndef LOYALTYCTL_CTL_H
#define LOYALTYCTL_CTL_H

#include <stdio.h>

#include "loyalty/config.h"
#include "loyalty/store.h"

typedef struct ctl {
	const char *config_path; /* NULL: defaults and environment */
	ly_config_t cfg;
	int cfg_loaded;
} ctl_t;

/* Loads the config once; prints the error and returns 1 on failure. */
int ctl_config(ctl_t *ctl);
/* Opens PostgreSQL from the config; prints the error on failure. */
int ctl_store(ctl_t *ctl, ly_store_t **store);
/* Prints "loyaltyctl: message" and the usage to stderr; returns 2. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_usage(FILE *f);

int ctl_migrate(ctl_t *ctl, int argc, char **argv);
int ctl_verify(ctl_t *ctl, int argc, char **argv);
int ctl_balance(ctl_t *ctl, int argc, char **argv);
int ctl_history(ctl_t *ctl, int argc, char **argv);
int ctl_check(ctl_t *ctl, int argc, char **argv);
int ctl_explain(ctl_t *ctl, int argc, char **argv);
int ctl_test(ctl_t *ctl, int argc, char **argv);
int ctl_produce(ctl_t *ctl, int argc, char **argv);
int ctl_topics(ctl_t *ctl, int argc, char **argv);
int ctl_config_doc(ctl_t *ctl, int argc, char **argv);

#endif
