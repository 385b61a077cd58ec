/*
 * ctl.h: what the loyaltyctl subcommand files share. Each subcommand is
 * `int ctl_<name>(ctl_t *ctl, int argc, char **argv)` returning the exit
 * status: 0 success, 1 failure, 2 usage error.
 */
#ifndef LOYALTYCTL_CTL_H
#define LOYALTYCTL_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "loyalty/config.h"
#include "loyalty/event.h"
#include "loyalty/kafka.h"
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
/* Parses a whole decimal integer within lo..hi: 0, or -1 for anything
 * else (blanks, trailing text, out of range). */
int ctl_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out);

/*
 * The idempotent producer of the subcommands that publish (produce.c),
 * counting what the brokers acknowledged. A zeroed one is "not opened".
 */
#define CTL_PRODUCER_HEADERS_MAX 4
#define CTL_PRODUCER_FLUSH_MS 60000
typedef struct ctl_producer {
	rd_kafka_t *rk;
	int64_t queued;
	int64_t delivered; /* acknowledged by every in-sync replica */
	int64_t failed;    /* refused or timed out */
	char error[256];   /* why the first failure failed */
} ctl_producer_t;

/* Opens p on brokers (NULL: the config's kafka.brokers). Prints the error;
 * returns 0 or 1. */
int ctl_producer_open(ctl_t *ctl, ctl_producer_t *p, const char *brokers);
/* Queues one message keyed by key, waiting while librdkafka's queue is
 * full; value and headers (at most CTL_PRODUCER_HEADERS_MAX, may be NULL)
 * are copied. what names the subcommand in the error it prints. 0 or 1. */
int ctl_producer_send(ctl_producer_t *p, const char *what, const char *topic,
		      const char *key, const void *value, size_t value_len,
		      const ly_header_t *headers, size_t headers_len);
/* Waits up to CTL_PRODUCER_FLUSH_MS for every message's acknowledgement
 * and destroys the producer: 0 when all were acknowledged, else prints
 * how many were not and returns 1. Accepts one never opened. */
int ctl_producer_close(ctl_producer_t *p, const char *what);

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
int ctl_liability(ctl_t *ctl, int argc, char **argv);
int ctl_erase(ctl_t *ctl, int argc, char **argv);
int ctl_tick(ctl_t *ctl, int argc, char **argv);
int ctl_adjust(ctl_t *ctl, int argc, char **argv);

#endif
