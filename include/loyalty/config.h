/*
 * config.h: loyaltyd/loyaltyctl settings.
 *
 * Every setting is declared once in a table (key, type, default, bounds,
 * description). A YAML file (`--config FILE`) sets them, then environment
 * variables LOYALTY_<SECTION>_<KEY> override them (LOYALTY_KAFKA_BROKERS,
 * LOYALTY_POSTGRES_CONNINFO, LOYALTY_PROGRAM, LOYALTY_BATCH_MAX_EVENTS ...).
 * Unknown keys are refused with "file:line:col: message".
 */
#ifndef LOYALTY_CONFIG_H
#define LOYALTY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define LY_CONFIG_KAFKA_PROPERTIES_MAX 64

typedef struct ly_kv {
	char *key;
	char *value;
} ly_kv_t;

typedef struct ly_config {
	/* kafka */
	char *kafka_brokers; /* "host:port,..." or "embedded" */
	char *kafka_group_id;
	ly_kv_t kafka_properties[LY_CONFIG_KAFKA_PROPERTIES_MAX];
	size_t kafka_properties_len;
	/* topics */
	char *topic_customers;
	char *topic_orders;
	char *topic_reviews;
	char *topic_social;
	char *topic_requests;
	char *topic_offers;
	char *topic_activity;
	char *topic_dlq;
	/* postgres */
	char *postgres_conninfo;
	char *postgres_schema;
	/* program file path */
	char *program;
	/* batch */
	int64_t batch_max_events;
	int64_t batch_max_wait_ms;
	/* http */
	char *http_listen;
	int64_t http_stall_timeout_ms;
	int64_t scheduler_interval_ms;
	int64_t scheduler_batch_customers;
	int64_t refunds_hold_days;
	int64_t outbox_keep_published_s;
	int64_t outbox_prune_interval_ms;
	/* log */
	char *log_level;
	/* codes: the key of the codes rules issue; "" refuses programs that
	 * issue codes */
	char *codes_secret;
	/* embedded broker: where loyaltyd writes the mock cluster's bootstrap
	 * address so other processes can reach it */
	char *kafka_embedded_bootstrap_file;
	int64_t kafka_embedded_partitions;
	/* the consumer's prefetch queue, KiB (librdkafka's queue limits) */
	int64_t kafka_prefetch_kbytes;
} ly_config_t;

/* Fills *cfg with the defaults. */
void ly_config_defaults(ly_config_t *cfg);

/*
 * Loads defaults, then path (may be NULL: defaults and environment only),
 * then LOYALTY_* variables from envp (NULL-terminated, e.g. environ).
 * Returns 0, or LY_EINVAL with "file:line:col: message" or
 * "LOYALTY_X: message" in errstr. The caller frees with ly_config_free.
 */
int ly_config_load(ly_config_t *cfg, const char *path, char *const *envp,
		   char *errstr, size_t errstr_size);

/* Frees the strings; accepts a zeroed or NULL cfg. */
void ly_config_free(ly_config_t *cfg);

/* Writes the reference table (Markdown) of every setting to buf. Used to
 * generate docs/configuration.md. */
struct ly_buf;
int ly_config_write_reference(struct ly_buf *buf);

#endif
