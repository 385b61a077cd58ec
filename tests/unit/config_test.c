/*
 * config_test.c: the settings loader (lib/config): defaults, a file that
 * sets everything, LOYALTY_* overrides from a test's own envp, and every
 * way a file or a variable is refused, with the exact message. Also checks
 * that docs/configuration.md is what ly_config_write_reference writes.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loyalty/config.h"
#include "loyalty/util.h"

#ifndef LY_SOURCE_DIR
#define LY_SOURCE_DIR "."
#endif

#define DATA_DIR LY_SOURCE_DIR "/tests/unit/data/config"

static char tmp_path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/ly_config_test.%ld.yaml",
		 (long)getpid());
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(tmp_path);
	return 0;
}

static const char *write_tmp(const char *yaml)
{
	FILE *f = fopen(tmp_path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(yaml, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return tmp_path;
}

static const ly_kv_t *property(const ly_config_t *cfg, const char *key)
{
	for (size_t i = 0; i < cfg->kafka_properties_len; i++)
		if (strcmp(cfg->kafka_properties[i].key, key) == 0)
			return &cfg->kafka_properties[i];
	return NULL;
}

/* Loads (path, envp) and checks it fails with exactly want, leaving a
 * zeroed cfg behind. */
static void assert_refused(const char *path, char *const *envp,
			   const char *want)
{
	ly_config_t cfg;
	static const ly_config_t zero;
	char err[512] = "";
	int rc = ly_config_load(&cfg, path, envp, err, sizeof(err));
	if (rc != LY_EINVAL || strcmp(err, want) != 0)
		print_error("want: %s\ngot:  %s (rc %d)\n", want, err, rc);
	assert_int_equal(rc, LY_EINVAL);
	assert_string_equal(err, want);
	assert_memory_equal(&cfg, &zero, sizeof(cfg));
	ly_config_free(&cfg);
}

/* The same for a file with this text; want is what follows the path. */
static void assert_yaml_refused(const char *yaml, const char *want_after_path)
{
	char want[512];
	const char *path = write_tmp(yaml);
	snprintf(want, sizeof(want), "%s%s", path, want_after_path);
	assert_refused(path, NULL, want);
}

static void assert_defaults(const ly_config_t *cfg)
{
	assert_string_equal(cfg->kafka_brokers, "localhost:9092");
	assert_string_equal(cfg->kafka_group_id, "loyaltyd");
	assert_int_equal(cfg->kafka_properties_len, 0);
	assert_string_equal(cfg->kafka_embedded_bootstrap_file, "");
	assert_int_equal(cfg->kafka_embedded_partitions, 6);
	assert_string_equal(cfg->topic_customers, "shop.customers");
	assert_string_equal(cfg->topic_orders, "shop.orders");
	assert_string_equal(cfg->topic_reviews, "shop.reviews");
	assert_string_equal(cfg->topic_social, "shop.social");
	assert_string_equal(cfg->topic_requests, "loyalty.requests");
	assert_string_equal(cfg->topic_offers, "loyalty.offers");
	assert_string_equal(cfg->topic_activity, "loyalty.activity");
	assert_string_equal(cfg->topic_dlq, "loyalty.dlq");
	assert_string_equal(cfg->postgres_conninfo, "postgresql://localhost/loyalty");
	assert_string_equal(cfg->postgres_schema, "loyalty");
	assert_string_equal(cfg->program, "program.yaml");
	assert_int_equal(cfg->batch_max_events, 1000);
	assert_int_equal(cfg->batch_max_wait_ms, 100);
	assert_string_equal(cfg->http_listen, "");
	assert_string_equal(cfg->log_level, "info");
	assert_string_equal(cfg->codes_secret, "");
}

static void test_defaults(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[256] = "x";
	char *env[] = {"PATH=/usr/bin", "HOME=/root", "LOYALTYX=1", "LOYALTY", NULL};

	ly_config_defaults(&cfg);
	assert_defaults(&cfg);
	ly_config_free(&cfg);
	ly_config_free(&cfg); /* zeroed: a no-op */
	ly_config_free(NULL);

	assert_int_equal(ly_config_load(&cfg, NULL, NULL, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_defaults(&cfg);
	ly_config_free(&cfg);

	/* variables that are not LOYALTY_* are none of our business */
	assert_int_equal(ly_config_load(&cfg, NULL, env, err, sizeof(err)), 0);
	assert_defaults(&cfg);
	ly_config_free(&cfg);

	/* an empty file, or one with only comments, sets nothing */
	assert_int_equal(ly_config_load(&cfg, write_tmp("# nothing\n"), NULL, err,
					sizeof(err)),
			 0);
	assert_defaults(&cfg);
	ly_config_free(&cfg);
}

static void test_full_file(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[256] = "";

	assert_int_equal(ly_config_load(&cfg, DATA_DIR "/full.yaml", NULL, err,
					sizeof(err)),
			 0);
	assert_string_equal(cfg.kafka_brokers, "kafka-1:9092,kafka-2:9092");
	assert_string_equal(cfg.kafka_group_id, "loyaltyd-test");
	assert_int_equal(cfg.kafka_properties_len, 5);
	assert_string_equal(cfg.kafka_properties[0].key, "security.protocol");
	assert_string_equal(cfg.kafka_properties[0].value, "SASL_SSL");
	assert_string_equal(cfg.kafka_properties[1].key, "sasl.mechanism");
	assert_string_equal(cfg.kafka_properties[1].value, "PLAIN");
	assert_string_equal(cfg.kafka_properties[2].key, "sasl.username");
	assert_string_equal(cfg.kafka_properties[2].value, "loyalty");
	assert_string_equal(cfg.kafka_properties[3].key, "sasl.password");
	assert_string_equal(cfg.kafka_properties[3].value, "s3cret,with=signs");
	assert_string_equal(cfg.kafka_properties[4].key, "socket.timeout.ms");
	assert_string_equal(cfg.kafka_properties[4].value, "30000");
	assert_string_equal(cfg.kafka_embedded_bootstrap_file, "/run/loyaltyd/bootstrap");
	assert_int_equal(cfg.kafka_embedded_partitions, 12);
	assert_string_equal(cfg.topic_customers, "t.customers");
	assert_string_equal(cfg.topic_orders, "t.orders");
	assert_string_equal(cfg.topic_reviews, "t.reviews");
	assert_string_equal(cfg.topic_social, "t.social");
	assert_string_equal(cfg.topic_requests, "t.requests");
	assert_string_equal(cfg.topic_offers, "t.offers");
	assert_string_equal(cfg.topic_activity, "t.activity");
	assert_string_equal(cfg.topic_dlq, "t.dlq");
	assert_string_equal(cfg.postgres_conninfo,
			    "host=db user=loyalty password=hunter2 dbname=loyalty");
	assert_string_equal(cfg.postgres_schema, "loyalty_test");
	assert_string_equal(cfg.program, "/etc/loyaltyd/program.yaml");
	assert_int_equal(cfg.batch_max_events, 5000);
	assert_int_equal(cfg.batch_max_wait_ms, 0);
	assert_string_equal(cfg.http_listen, "0.0.0.0:9100");
	assert_string_equal(cfg.log_level, "debug");
	ly_config_free(&cfg);
}

static void test_dotted_keys(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[256] = "";
	const char *path = write_tmp("kafka.brokers: embedded\n"
				     "batch: {max_events: \"250\"}\n"
				     "topics.dlq: my.dlq\n");

	assert_int_equal(ly_config_load(&cfg, path, NULL, err, sizeof(err)), 0);
	assert_string_equal(cfg.kafka_brokers, "embedded");
	assert_int_equal(cfg.batch_max_events, 250);
	assert_string_equal(cfg.topic_dlq, "my.dlq");
	assert_string_equal(cfg.topic_orders, "shop.orders");
	ly_config_free(&cfg);
}

static void test_env_overrides(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[256] = "";
	char *env[] = {
		"PATH=/usr/bin",
		"LOYALTY_KAFKA_BROKERS=env-kafka:9092",
		"LOYALTY_POSTGRES_CONNINFO=postgresql://env/loyalty",
		"LOYALTY_PROGRAM=/srv/program.yaml",
		"LOYALTY_BATCH_MAX_EVENTS=100000",
		"LOYALTY_BATCH_MAX_WAIT_MS=0",
		"LOYALTY_TOPICS_ORDERS=env.orders",
		"LOYALTY_LOG_LEVEL=warn",
		"LOYALTY_HTTP_LISTEN=",
		"LOYALTY_KAFKA_EMBEDDED_PARTITIONS=1000",
		"LOYALTY_KAFKA_EMBEDDED_BOOTSTRAP_FILE=/tmp/bootstrap",
		"LOYALTY_POSTGRES_SCHEMA=_x9",
		NULL,
	};

	assert_int_equal(ly_config_load(&cfg, DATA_DIR "/full.yaml", env, err,
					sizeof(err)),
			 0);
	/* overridden */
	assert_string_equal(cfg.kafka_brokers, "env-kafka:9092");
	assert_string_equal(cfg.postgres_conninfo, "postgresql://env/loyalty");
	assert_string_equal(cfg.program, "/srv/program.yaml");
	assert_int_equal(cfg.batch_max_events, 100000);
	assert_int_equal(cfg.batch_max_wait_ms, 0);
	assert_string_equal(cfg.topic_orders, "env.orders");
	assert_string_equal(cfg.log_level, "warn");
	assert_string_equal(cfg.http_listen, "");
	assert_int_equal(cfg.kafka_embedded_partitions, 1000);
	assert_string_equal(cfg.kafka_embedded_bootstrap_file, "/tmp/bootstrap");
	assert_string_equal(cfg.postgres_schema, "_x9");
	/* from the file */
	assert_string_equal(cfg.kafka_group_id, "loyaltyd-test");
	assert_string_equal(cfg.topic_customers, "t.customers");
	assert_int_equal(cfg.kafka_properties_len, 5);
	ly_config_free(&cfg);

	/* without a file: over the defaults */
	char *env2[] = {"LOYALTY_TOPICS_DLQ=x.dlq", "LOYALTY_TOPICS_DLQ=y.dlq", NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, env2, err, sizeof(err)), 0);
	assert_string_equal(cfg.topic_dlq, "y.dlq"); /* the last one wins */
	assert_string_equal(cfg.kafka_brokers, "localhost:9092");
	ly_config_free(&cfg);
}

static void test_unknown_key(void **state)
{
	(void)state;
	assert_refused(DATA_DIR "/unknown-key.yaml", NULL,
		       DATA_DIR "/unknown-key.yaml:3:3: unknown setting \"kafka.brokerz\"");
	assert_yaml_refused("kafka:\n  brokers: a\npostgres:\n  conninfo: x\n  schemaa: y\n",
			    ":5:3: unknown setting \"postgres.schemaa\"");
	assert_yaml_refused("topics: {orders: a, refunds: b}\n",
			    ":1:21: unknown setting \"topics.refunds\"");
	assert_yaml_refused("kafka.brokerz: a\n",
			    ":1:1: unknown setting \"kafka.brokerz\"");
	assert_yaml_refused("programs: a.yaml\n",
			    ":1:1: unknown setting \"programs\"");
	/* a setting is not a section */
	assert_yaml_refused("program: {path: a.yaml}\n",
			    ":1:10: program: expected a string, got a mapping");
}

static void test_unknown_env(void **state)
{
	(void)state;
	char *env[] = {"LOYALTY_KAFKA_BROKERS=a:1", "LOYALTY_KAFKA_BROKERZ=b:2", NULL};
	assert_refused(NULL, env, "LOYALTY_KAFKA_BROKERZ: unknown setting");
	char *env2[] = {"LOYALTY_=1", NULL};
	assert_refused(NULL, env2, "LOYALTY_: unknown setting");
	char *env3[] = {"LOYALTY_kafka_brokers=a:1", NULL};
	assert_refused(NULL, env3, "LOYALTY_kafka_brokers: unknown setting");
	char *env4[] = {"LOYALTY_KAFKA=a:1", NULL};
	assert_refused(NULL, env4, "LOYALTY_KAFKA: unknown setting");
}

static void test_bounds(void **state)
{
	(void)state;
	char *e1[] = {"LOYALTY_BATCH_MAX_EVENTS=0", NULL};
	assert_refused(NULL, e1, "LOYALTY_BATCH_MAX_EVENTS: must be an integer between 1 and 100000, got \"0\"");
	char *e2[] = {"LOYALTY_BATCH_MAX_EVENTS=100001", NULL};
	assert_refused(NULL, e2, "LOYALTY_BATCH_MAX_EVENTS: must be an integer between 1 and 100000, got \"100001\"");
	char *e3[] = {"LOYALTY_BATCH_MAX_WAIT_MS=-1", NULL};
	assert_refused(NULL, e3, "LOYALTY_BATCH_MAX_WAIT_MS: must be an integer between 0 and 60000, got \"-1\"");
	char *e4[] = {"LOYALTY_BATCH_MAX_EVENTS=1e3", NULL};
	assert_refused(NULL, e4, "LOYALTY_BATCH_MAX_EVENTS: must be an integer between 1 and 100000, got \"1e3\"");
	char *e5[] = {"LOYALTY_BATCH_MAX_EVENTS=", NULL};
	assert_refused(NULL, e5, "LOYALTY_BATCH_MAX_EVENTS: must be an integer between 1 and 100000, got \"\"");
	char *e6[] = {"LOYALTY_BATCH_MAX_EVENTS=99999999999999999999", NULL};
	assert_refused(NULL, e6, "LOYALTY_BATCH_MAX_EVENTS: must be an integer between 1 and 100000, got \"99999999999999999999\"");
	char *e7[] = {"LOYALTY_KAFKA_EMBEDDED_PARTITIONS= 6", NULL};
	assert_refused(NULL, e7, "LOYALTY_KAFKA_EMBEDDED_PARTITIONS: must be an integer between 1 and 1000, got \" 6\"");
	char *e8[] = {"LOYALTY_LOG_LEVEL=verbose", NULL};
	assert_refused(NULL, e8, "LOYALTY_LOG_LEVEL: must be one of debug, info, warn, error, got \"verbose\"");
	char *e9[] = {"LOYALTY_POSTGRES_SCHEMA=Loyalty", NULL};
	assert_refused(NULL, e9, "LOYALTY_POSTGRES_SCHEMA: must be a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes), got \"Loyalty\"");
	char *e10[] = {"LOYALTY_POSTGRES_SCHEMA=a\"; drop table x; --", NULL};
	assert_refused(NULL, e10, "LOYALTY_POSTGRES_SCHEMA: must be a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes), got \"a\"; drop table x; --\"");
	char *e11[] = {"LOYALTY_KAFKA_BROKERS=", NULL};
	assert_refused(NULL, e11, "LOYALTY_KAFKA_BROKERS: must not be empty");

	assert_yaml_refused("batch:\n  max_events: 0\n",
			    ":2:15: batch.max_events: must be an integer between 1 and 100000, got \"0\"");
	assert_yaml_refused("batch:\n  max_events: abc\n",
			    ":2:15: batch.max_events: must be an integer between 1 and 100000, got \"abc\"");
	assert_yaml_refused("batch: {max_wait_ms: 60001}\n",
			    ":1:22: batch.max_wait_ms: must be an integer between 0 and 60000, got \"60001\"");
	assert_yaml_refused("batch: {max_wait_ms: 0x10}\n",
			    ":1:22: batch.max_wait_ms: must be an integer between 0 and 60000, got \"0x10\"");
	assert_yaml_refused("log: {level: loud}\n",
			    ":1:14: log.level: must be one of debug, info, warn, error, got \"loud\"");

	/* the edges themselves are accepted */
	ly_config_t cfg;
	char err[256] = "";
	char *ok[] = {"LOYALTY_BATCH_MAX_EVENTS=1", "LOYALTY_BATCH_MAX_WAIT_MS=60000",
		      "LOYALTY_POSTGRES_SCHEMA=a23456789012345678901234567890123456789012345678901234567890123",
		      NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, ok, err, sizeof(err)), 0);
	assert_int_equal(cfg.batch_max_events, 1);
	assert_int_equal(cfg.batch_max_wait_ms, 60000);
	assert_int_equal(strlen(cfg.postgres_schema), 63);
	ly_config_free(&cfg);
	char *too_long[] = {"LOYALTY_POSTGRES_SCHEMA=a234567890123456789012345678901234567890123456789012345678901234", NULL};
	assert_refused(NULL, too_long, "LOYALTY_POSTGRES_SCHEMA: must be a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes), got \"a234567890123456789012345678901234567890123456789012345678901234\"");
}

static void test_wrong_types(void **state)
{
	(void)state;
	assert_yaml_refused("kafka:\n  brokers: [a, b]\n",
			    ":2:12: kafka.brokers: expected a string, got a sequence");
	assert_yaml_refused("kafka:\n  brokers:\n",
			    ":2:11: kafka.brokers: expected a string, got null");
	assert_yaml_refused("batch:\n  max_events: {n: 1}\n",
			    ":2:15: batch.max_events: expected an integer, got a mapping");
	assert_yaml_refused("kafka: localhost:9092\n",
			    ":1:8: kafka: expected a mapping, got \"localhost:9092\"");
	assert_yaml_refused("kafka:\n  properties: [a=b]\n",
			    ":2:15: kafka.properties: expected a mapping, got a sequence");
	assert_yaml_refused("- kafka\n",
			    ":1:1: expected a mapping at the top level, got a sequence");
	assert_yaml_refused("kafka: {brokers: a\n",
			    ":2:1: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at 1:8)");
	assert_yaml_refused("kafka: &k {brokers: a}\n",
			    ":1:8: anchors are not allowed (\"&k\")");
}

static void test_duplicates(void **state)
{
	(void)state;
	assert_yaml_refused("kafka:\n  brokers: a\n  brokers: b\n",
			    ":3:3: duplicate key \"brokers\" (first at 2:3)");
	assert_yaml_refused("kafka: {brokers: a}\nlog: {level: info}\nkafka: {group_id: g}\n",
			    ":3:1: duplicate key \"kafka\" (first at 1:1)");
	assert_yaml_refused("kafka: {brokers: a}\nkafka.brokers: b\n",
			    ":2:1: setting \"kafka.brokers\" is set twice (first at 1:9)");
	assert_yaml_refused("kafka:\n  properties:\n    acks: all\n    acks: 1\n",
			    ":4:5: duplicate key \"acks\" (first at 3:5)");
}

static void test_properties(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[256] = "";
	char *env[] = {
		"LOYALTY_KAFKA_PROPERTIES=sasl.password=n\\,ew\\\\pw,"
		"client.id=loyaltyd-1,ssl.cipher.suites=A\\,B,x.y=a=b",
		NULL,
	};

	assert_int_equal(ly_config_load(&cfg, DATA_DIR "/full.yaml", env, err,
					sizeof(err)),
			 0);
	assert_int_equal(cfg.kafka_properties_len, 8);
	/* replaced in place, file order kept */
	assert_string_equal(cfg.kafka_properties[3].key, "sasl.password");
	assert_string_equal(cfg.kafka_properties[3].value, "n,ew\\pw");
	assert_string_equal(property(&cfg, "security.protocol")->value, "SASL_SSL");
	/* appended */
	assert_string_equal(cfg.kafka_properties[5].key, "client.id");
	assert_string_equal(cfg.kafka_properties[5].value, "loyaltyd-1");
	assert_string_equal(cfg.kafka_properties[6].key, "ssl.cipher.suites");
	assert_string_equal(cfg.kafka_properties[6].value, "A,B");
	assert_string_equal(cfg.kafka_properties[7].key, "x.y");
	assert_string_equal(cfg.kafka_properties[7].value, "a=b");
	ly_config_free(&cfg);

	/* empty: no change; an empty value is allowed */
	char *env2[] = {"LOYALTY_KAFKA_PROPERTIES=", NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, env2, err, sizeof(err)), 0);
	assert_int_equal(cfg.kafka_properties_len, 0);
	ly_config_free(&cfg);
	char *env3[] = {"LOYALTY_KAFKA_PROPERTIES=debug=", NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, env3, err, sizeof(err)), 0);
	assert_int_equal(cfg.kafka_properties_len, 1);
	assert_string_equal(property(&cfg, "debug")->value, "");
	ly_config_free(&cfg);

	char *bad1[] = {"LOYALTY_KAFKA_PROPERTIES=acks=all,oops", NULL};
	assert_refused(NULL, bad1, "LOYALTY_KAFKA_PROPERTIES: item 2: expected \"name=value\" items separated by \",\"");
	char *bad2[] = {"LOYALTY_KAFKA_PROPERTIES==x", NULL};
	assert_refused(NULL, bad2, "LOYALTY_KAFKA_PROPERTIES: item 1: expected \"name=value\" items separated by \",\"");
	char *bad3[] = {"LOYALTY_KAFKA_PROPERTIES=a b=1", NULL};
	assert_refused(NULL, bad3, "LOYALTY_KAFKA_PROPERTIES: invalid property name \"a b\" (letters, digits, \".\", \"_\" and \"-\", at most 256 bytes)");

	/* at most LY_CONFIG_KAFKA_PROPERTIES_MAX */
	ly_buf_t b = {0};
	assert_int_equal(ly_buf_puts(&b, "LOYALTY_KAFKA_PROPERTIES="), 0);
	for (int i = 0; i < LY_CONFIG_KAFKA_PROPERTIES_MAX; i++)
		assert_int_equal(ly_buf_printf(&b, "%sp%d=v", i ? "," : "", i), 0);
	char *many[] = {b.data, NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, many, err, sizeof(err)), 0);
	assert_int_equal(cfg.kafka_properties_len, LY_CONFIG_KAFKA_PROPERTIES_MAX);
	ly_config_free(&cfg);
	assert_int_equal(ly_buf_puts(&b, ",p0=again"), 0); /* a replacement fits */
	many[0] = b.data;
	assert_int_equal(ly_config_load(&cfg, NULL, many, err, sizeof(err)), 0);
	assert_string_equal(property(&cfg, "p0")->value, "again");
	ly_config_free(&cfg);
	assert_int_equal(ly_buf_puts(&b, ",one.more=v"), 0);
	many[0] = b.data;
	assert_refused(NULL, many, "LOYALTY_KAFKA_PROPERTIES: more than 64 properties");
	ly_buf_free(&b);

	assert_yaml_refused("kafka:\n  properties:\n    bad name: x\n",
			    ":3:5: kafka.properties: invalid property name \"bad name\" (letters, digits, \".\", \"_\" and \"-\", at most 256 bytes)");
}

static void test_secrets_not_shown(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[512] = "";
	const char *path;

	path = write_tmp("kafka:\n  properties:\n    sasl.password: [hunter2]\n");
	assert_int_equal(ly_config_load(&cfg, path, NULL, err, sizeof(err)),
			 LY_EINVAL);
	assert_null(strstr(err, "hunter2"));
	assert_yaml_refused("kafka:\n  properties:\n    sasl.password: [hunter2]\n",
			    ":3:20: kafka.properties.sasl.password: expected a string, got a sequence");
	assert_yaml_refused("postgres:\n  conninfo: {password: hunter2}\n",
			    ":2:13: postgres.conninfo: expected a string, got a mapping");
	assert_yaml_refused("postgres:\n  conninfo: \"\"\n",
			    ":2:13: postgres.conninfo: must not be empty");

	/* a value over the limit is refused without being echoed */
	ly_buf_t b = {0};
	assert_int_equal(ly_buf_puts(&b, "LOYALTY_POSTGRES_CONNINFO=password=hunter2 "), 0);
	while (b.len < 5000)
		assert_int_equal(ly_buf_putc(&b, 'x'), 0);
	char *env[] = {b.data, NULL};
	assert_refused(NULL, env, "LOYALTY_POSTGRES_CONNINFO: longer than 4096 bytes");
	ly_buf_free(&b);

	/* the codes' key: empty or at least 16 bytes, never echoed */
	char *short_env[] = {"LOYALTY_CODES_SECRET=hunter2", NULL};
	assert_refused(NULL, short_env,
		       "LOYALTY_CODES_SECRET: must be empty or at least 16 bytes");
	assert_yaml_refused("codes:\n  secret: hunter2\n",
			    ":2:11: codes.secret: must be empty or at least 16 bytes");
	char *good_env[] = {"LOYALTY_CODES_SECRET=0123456789abcdef", NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, good_env, err, sizeof(err)), 0);
	assert_string_equal(cfg.codes_secret, "0123456789abcdef");
	ly_config_free(&cfg);
	char *empty_env[] = {"LOYALTY_CODES_SECRET=", NULL};
	assert_int_equal(ly_config_load(&cfg, NULL, empty_env, err, sizeof(err)), 0);
	assert_string_equal(cfg.codes_secret, "");
	ly_config_free(&cfg);
}

static void test_missing_file(void **state)
{
	(void)state;
	ly_config_t cfg;
	char err[512] = "";
	assert_int_equal(ly_config_load(&cfg, DATA_DIR "/nope.yaml", NULL, err,
					sizeof(err)),
			 LY_EIO);
	assert_string_equal(err, DATA_DIR "/nope.yaml: No such file or directory");
	ly_config_free(&cfg);
}

static void test_reference(void **state)
{
	(void)state;
	ly_buf_t b = {0};
	char *doc = NULL, err[256];
	size_t len = 0;

	assert_int_equal(ly_config_write_reference(&b), 0);
	assert_non_null(strstr(b.data, "\n| `batch.max_events` | `LOYALTY_BATCH_MAX_EVENTS` | integer | 1000 | 1 to 100000 events | no | "));
	assert_non_null(strstr(b.data, "\n| `postgres.schema` | `LOYALTY_POSTGRES_SCHEMA` | string | `loyalty` | `[a-z_][a-z0-9_]*`, at most 63 bytes | no | "));
	assert_non_null(strstr(b.data, "\n| `kafka.properties` | `LOYALTY_KAFKA_PROPERTIES` | map of string | (none) | at most 64 entries | no | "));
	assert_non_null(strstr(b.data, "\n| `http.listen` | `LOYALTY_HTTP_LISTEN` | string | `\"\"` | "));
	assert_non_null(strstr(b.data, "\n| `program` | `LOYALTY_PROGRAM` | string | `program.yaml` | not empty | no | "));
	assert_non_null(strstr(b.data, "\n| `codes.secret` | `LOYALTY_CODES_SECRET` | string | `\"\"` | empty, or at least 16 bytes | no | "));
	/* one row per setting: 28 settings */
	size_t rows = 0;
	for (const char *p = b.data; (p = strstr(p, "\n| `")); p++)
		rows++;
	assert_int_equal(rows, 28);

	/* docs/configuration.md is generated from this: keep it in step */
	assert_int_equal(ly_read_file(LY_SOURCE_DIR "/docs/configuration.md",
				      1 << 20, &doc, &len, err, sizeof(err)),
			 0);
	if (strcmp(doc, b.data) != 0)
		print_error("docs/configuration.md is stale: regenerate it with ly_config_write_reference\n");
	assert_string_equal(doc, b.data);
	free(doc);
	ly_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_dotted_keys),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_unknown_env),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_secrets_not_shown),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_reference),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
