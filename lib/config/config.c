/*
 * config.c: the settings of loyaltyd and loyaltyctl (SPEC section 9).
 *
 * Every setting is declared once, in settings[] below: its key, type,
 * default, bounds, unit, whether it is reloadable, its description and
 * where it lives in ly_config_t. The YAML loader, the LOYALTY_*
 * environment overrides and the reference in docs/configuration.md are all
 * driven by that table, so they cannot disagree. Unknown keys and unknown
 * LOYALTY_* variables are refused rather than ignored: a misspelt setting
 * must never silently fall back to its default.
 *
 * Values that may hold secrets (postgres.conninfo, kafka.properties values,
 * codes.secret) are never quoted back in messages.
 */
#include "loyalty/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/util.h"
#include "../program/yamlwalk.h"

#define CONFIG_FILE_MAX_BYTES (1024 * 1024)
#define CONFIG_STRING_MAX_BYTES 4096
#define CONFIG_PROPERTY_NAME_MAX_BYTES 256
#define CONFIG_KEY_MAX_BYTES 128
#define CONFIG_ENV_PREFIX "LOYALTY_"

typedef enum setting_type {
	SET_STRING,
	SET_INT,
	SET_MAP /* kafka.properties: string -> string */
} setting_type_t;

enum {
	F_NONEMPTY = 1 << 0, /* "" is refused */
	F_SECRET = 1 << 1,   /* the value is never shown in a message */
	F_RELOADABLE = 1 << 2
};

/* An extra check of a string value: returns 1 when v is acceptable. */
typedef int (*setting_check_fn)(const char *v, size_t len);

typedef struct setting {
	const char *key; /* dotted: "kafka.brokers" */
	setting_type_t type;
	const char *def_str; /* SET_STRING default */
	int64_t def_int, min, max; /* SET_INT */
	const char *unit;          /* SET_INT: "ms", "events"... */
	unsigned flags;
	setting_check_fn check;
	const char *check_msg; /* "must be one of ..." when check fails */
	const char *bounds_doc; /* bounds column for non-integers */
	const char *desc;
	size_t off; /* offsetof(ly_config_t, ...) */
} setting_t;

static int check_log_level(const char *v, size_t len)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < LY_ARRAY_LEN(levels); i++)
		if (strlen(levels[i]) == len && memcmp(v, levels[i], len) == 0)
			return 1;
	return 0;
}

/* A plain PostgreSQL identifier, so it never needs quoting in SQL. */
static int check_identifier(const char *v, size_t len)
{
	if (len == 0 || len > 63)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

/* The codes' key: empty (no codes may be issued) or long enough that it
 * cannot be found by trying keys against a handful of known codes. */
#define CODES_SECRET_MIN_BYTES 16
static int check_secret(const char *v, size_t len)
{
	(void)v;
	return len == 0 || len >= CODES_SECRET_MIN_BYTES;
}

#define STR(k, field, def, fl, text)                                         \
	{.key = k, .type = SET_STRING, .def_str = def, .flags = fl,          \
	 .desc = text, .off = offsetof(ly_config_t, field)}
#define INT(k, field, def, lo, hi, u, fl, text)                              \
	{.key = k, .type = SET_INT, .def_int = def, .min = lo, .max = hi,    \
	 .unit = u, .flags = fl, .desc = text, .off = offsetof(ly_config_t, field)}
#define TOPIC(name, field, def, text) \
	STR("topics." name, field, def, F_NONEMPTY, text)

static const setting_t settings[] = {
	STR("kafka.brokers", kafka_brokers, "localhost:9092", F_NONEMPTY,
	    "Kafka bootstrap servers, `host:port,...`, or `embedded` for "
	    "librdkafka's in-process mock cluster (demos and tests)."),
	STR("kafka.group_id", kafka_group_id, "loyaltyd", F_NONEMPTY,
	    "Consumer group shared by every loyaltyd replica."),
	{.key = "kafka.properties", .type = SET_MAP, .flags = F_SECRET,
	 .bounds_doc = "at most 64 entries",
	 .desc = "librdkafka properties passed to it as they are (SASL, TLS, "
		 "...), as a mapping of name to value. Values are never shown "
		 "in messages, since they may be passwords. In the environment: "
		 "`name=value,name=value` (`\\,` for a comma, `\\\\` for a "
		 "backslash), merged over the file's: a name given again "
		 "replaces its value.",
	 .off = offsetof(ly_config_t, kafka_properties)},
	STR("kafka.embedded_bootstrap_file", kafka_embedded_bootstrap_file, "",
	    0,
	    "With `kafka.brokers: embedded`: file where loyaltyd writes the mock "
	    "cluster's bootstrap address so other processes can reach it. "
	    "Empty: not written."),
	INT("kafka.embedded_partitions", kafka_embedded_partitions, 6, 1, 1000,
	    "partitions", 0,
	    "With `kafka.brokers: embedded`: partitions of each topic of the "
	    "mock cluster."),
	INT("kafka.prefetch_kbytes", kafka_prefetch_kbytes, 4096, 1024, 2097151, "KiB", 0,
	    "Most input loyaltyd holds fetched ahead of the batch in hand "
	    "(librdkafka's `queued.max.messages.kbytes`; a fetch is at most a "
	    "quarter of it, and at least 1 MiB). When it is full, loyaltyd stops "
	    "fetching until batches take from it: memory stays flat however "
	    "long the backlog. It should hold a few seconds of input (librdkafka "
	    "2.0 looks at a full queue again only a second later): 4 MiB is "
	    "about 10,000 events of 400 bytes. `kafka.properties` may still set "
	    "those librdkafka properties directly."),
	TOPIC("customers", topic_customers, "shop.customers",
	      "Input: customer.registered, customer.updated."),
	TOPIC("orders", topic_orders, "shop.orders",
	      "Input: order.paid, order.refunded, order.cancelled."),
	TOPIC("reviews", topic_reviews, "shop.reviews",
	      "Input: review.submitted."),
	TOPIC("social", topic_social, "shop.social",
	      "Input: social.interaction, survey.completed."),
	TOPIC("requests", topic_requests, "loyalty.requests",
	      "Input: points.redeem, points.adjust."),
	TOPIC("offers", topic_offers, "loyalty.offers",
	      "Output: loyalty.offer, for the mailers."),
	TOPIC("activity", topic_activity, "loyalty.activity",
	      "Output: points, tier and redemption changes, for the shop."),
	TOPIC("dlq", topic_dlq, "loyalty.dlq",
	      "Output: every input that could not be applied, unchanged, with "
	      "`dlq.*` error headers."),
	STR("postgres.conninfo", postgres_conninfo,
	    "postgresql://localhost/loyalty", F_NONEMPTY | F_SECRET,
	    "libpq connection string or URI. Never shown in messages or logs, "
	    "since it may hold a password."),
	{.key = "postgres.schema", .type = SET_STRING, .def_str = "loyalty",
	 .flags = F_NONEMPTY, .check = check_identifier,
	 .check_msg = "must be a plain identifier ([a-z_][a-z0-9_]*, at most 63 bytes)",
	 .bounds_doc = "`[a-z_][a-z0-9_]*`, at most 63 bytes",
	 .desc = "PostgreSQL schema that holds loyaltyd's tables.",
	 .off = offsetof(ly_config_t, postgres_schema)},
	STR("program", program, "program.yaml", F_NONEMPTY,
	    "Path of the program file (docs/program.md). SIGHUP re-reads the "
	    "file at this path; a bad file is refused and the old program keeps "
	    "running."),
	{.key = "codes.secret", .type = SET_STRING, .def_str = "",
	 .flags = F_SECRET, .check = check_secret,
	 .check_msg = "must be empty or at least 16 bytes",
	 .bounds_doc = "empty, or at least 16 bytes",
	 .desc = "Key of the discount codes and gift cards that rules issue: "
		 "each code is HMAC-SHA256 under it of the event and the rule, "
		 "so a replay issues the same code and nobody without the key "
		 "can guess one. Use a long random string, the same on every "
		 "replica, kept like a password: it is never shown in messages "
		 "or logs. Empty (the default): loyaltyd refuses to run a "
		 "program with an `issue` rule rather than issue guessable "
		 "codes.",
	 .off = offsetof(ly_config_t, codes_secret)},
	INT("batch.max_events", batch_max_events, 1000, 1, 100000, "events", 0,
	    "Most input events handled in one batch (one PostgreSQL "
	    "transaction)."),
	INT("batch.max_wait_ms", batch_max_wait_ms, 100, 0, 60000, "ms", 0,
	    "Longest wait for a batch to fill before it is handled as it is."),
	STR("http.listen", http_listen, "", 0,
	    "`host:port` (`0.0.0.0:9464`, `[::]:9464`, `127.0.0.1:9464`) where "
	    "loyaltyd serves `/metrics` (Prometheus), `/healthz` and `/readyz` "
	    "(docs/operations.md). Empty: no HTTP."),
	INT("scheduler.interval_ms", scheduler_interval_ms, 60000, 0, 86400000, "ms", 0,
	    "How often `loyaltyd` runs a pass of the scheduler (pending points "
	    "released, lots expired, reminders, birthdays, segment changes, tier "
	    "downgrades, referrals; docs/lifecycle.md) with the wall clock as now. "
	    "0: never (then `loyaltyctl tick` does it)."),
	INT("scheduler.batch_customers", scheduler_batch_customers, 500, 1, 100000,
	    "customers", 0,
	    "How many customers one scheduler transaction takes at most, locked "
	    "`FOR UPDATE SKIP LOCKED` so replicas share the work."),
	INT("refunds.hold_days", refunds_hold_days, 30, 1, 3650, "days", 0,
	    "A refund that comes before its order is held this long (from its "
	    "event time) for the order, then dead-lettered as `order_not_found`."),
	INT("outbox.keep_published_s", outbox_keep_published_s, 0, 0, 31536000, "s", 0,
	    "0: the relay deletes each outbox row once the broker has it. "
	    "Otherwise published rows are kept this long (for inspection, at the "
	    "cost of an update per row and the table's growth), then deleted by "
	    "`loyaltyd`. The `offers` table and the ledger keep the history, and "
	    "the topics what was published; the outbox is only the queue to Kafka."),
	INT("outbox.prune_interval_ms", outbox_prune_interval_ms, 60000, 0, 86400000, "ms", 0,
	    "How often `loyaltyd` deletes published outbox rows older than "
	    "`outbox.keep_published_s`, at most 10,000 per turn of the relay. 0: "
	    "never."),
	INT("http.stall_timeout_ms", http_stall_timeout_ms, 120000, 1000, 86400000,
	    "ms", 0,
	    "`/healthz` fails when the processing loop has not gone round (a "
	    "poll, or a retry of a batch) for this long. A PostgreSQL or broker "
	    "outage does not stop the loop: that is `/readyz`'s business."),
	{.key = "log.level", .type = SET_STRING, .def_str = "info",
	 .flags = F_NONEMPTY, .check = check_log_level,
	 .check_msg = "must be one of debug, info, warn, error",
	 .bounds_doc = "`debug`, `info`, `warn`, `error`",
	 .desc = "Least severe level written to the log (JSON lines on stderr).",
	 .off = offsetof(ly_config_t, log_level)},
};

#undef STR
#undef INT
#undef TOPIC

static char **string_at(ly_config_t *cfg, const setting_t *s)
{
	return (char **)(void *)((char *)cfg + s->off);
}

static int64_t *int_at(ly_config_t *cfg, const setting_t *s)
{
	return (int64_t *)(void *)((char *)cfg + s->off);
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static const setting_t *find_setting(const char *key)
{
	for (size_t i = 0; i < LY_ARRAY_LEN(settings); i++)
		if (strcmp(settings[i].key, key) == 0)
			return &settings[i];
	return NULL;
}

/* 1 when key is a section: some setting's key starts with "key.". */
static int is_section(const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; i < LY_ARRAY_LEN(settings); i++)
		if (strncmp(settings[i].key, key, n) == 0 && settings[i].key[n] == '.')
			return 1;
	return 0;
}

/* "kafka.brokers" -> "LOYALTY_KAFKA_BROKERS". */
static void env_name(const setting_t *s, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = CONFIG_ENV_PREFIX; *p && o + 1 < size; p++)
		out[o++] = *p;
	for (const char *p = s->key; *p && o + 1 < size; p++) {
		char c = *p;
		if (c == '.')
			c = '_';
		else if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		out[o++] = c;
	}
	out[o] = '\0';
}

static int config_set_defaults(ly_config_t *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < LY_ARRAY_LEN(settings); i++) {
		const setting_t *s = &settings[i];
		if (s->type == SET_STRING) {
			char *v = dup_n(s->def_str, strlen(s->def_str));
			if (!v)
				return LY_ENOMEM;
			*string_at(cfg, s) = v;
		} else if (s->type == SET_INT) {
			*int_at(cfg, s) = s->def_int;
		}
	}
	return 0;
}

void ly_config_defaults(ly_config_t *cfg)
{
	/* A handful of short strings at start-up: running out of memory here
	 * leaves nothing sensible to do. */
	int rc = config_set_defaults(cfg);
	LY_ASSERT(rc == 0);
}

void ly_config_free(ly_config_t *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < LY_ARRAY_LEN(settings); i++) {
		const setting_t *s = &settings[i];
		if (s->type == SET_STRING) {
			free(*string_at(cfg, s));
			*string_at(cfg, s) = NULL;
		}
	}
	for (size_t i = 0; i < cfg->kafka_properties_len; i++) {
		free(cfg->kafka_properties[i].key);
		free(cfg->kafka_properties[i].value);
	}
	memset(cfg, 0, sizeof(*cfg));
}

/*
 * Sets string or integer setting s from text v[0..len). On a bad value
 * writes why (without any prefix, e.g. "must be an integer between 1 and
 * 100000, got "0"") and returns LY_EINVAL.
 */
static int assign_text(ly_config_t *cfg, const setting_t *s, const char *v,
		       size_t len, char *why, size_t why_size)
{
	char q[YW_QUOTE_MAX_BYTES + 8];
	if (s->type == SET_INT) {
		int64_t n;
		if (yw_parse_i64(v, len, &n) != 0 || n < s->min || n > s->max) {
			snprintf(why, why_size,
				 "must be an integer between %lld and %lld, got %s",
				 (long long)s->min, (long long)s->max,
				 yw_quote(q, sizeof(q), v, len));
			return LY_EINVAL;
		}
		*int_at(cfg, s) = n;
		return 0;
	}
	LY_ASSERT(s->type == SET_STRING);
	if (memchr(v, '\0', len)) {
		snprintf(why, why_size, "must not contain NUL bytes");
		return LY_EINVAL;
	}
	if (len == 0 && (s->flags & F_NONEMPTY)) {
		snprintf(why, why_size, "must not be empty");
		return LY_EINVAL;
	}
	if (len > CONFIG_STRING_MAX_BYTES) {
		snprintf(why, why_size, "longer than %d bytes",
			 CONFIG_STRING_MAX_BYTES);
		return LY_EINVAL;
	}
	if (s->check && !s->check(v, len)) {
		if (s->flags & F_SECRET)
			snprintf(why, why_size, "%s", s->check_msg);
		else
			snprintf(why, why_size, "%s, got %s", s->check_msg,
				 yw_quote(q, sizeof(q), v, len));
		return LY_EINVAL;
	}
	char *copy = dup_n(v, len);
	if (!copy) {
		snprintf(why, why_size, "out of memory");
		return LY_ENOMEM;
	}
	free(*string_at(cfg, s));
	*string_at(cfg, s) = copy;
	return 0;
}

/* librdkafka property names: "sasl.mechanism", "ssl.ca.location", ... */
static int property_name_valid(const char *k, size_t len)
{
	if (len == 0 || len > CONFIG_PROPERTY_NAME_MAX_BYTES)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

#define PROPERTY_NAME_MSG \
	"invalid property name %s (letters, digits, \".\", \"_\" and \"-\", at most %d bytes)"

/*
 * Sets kafka property k to v, replacing an earlier value of the same name.
 * The value is never quoted in why: it may be a password.
 */
static int set_property(ly_config_t *cfg, const char *k, size_t klen,
			const char *v, size_t vlen, char *why, size_t why_size)
{
	char q[YW_QUOTE_MAX_BYTES + 8];
	size_t i;
	if (!property_name_valid(k, klen)) {
		snprintf(why, why_size, PROPERTY_NAME_MSG,
			 yw_quote(q, sizeof(q), k, klen),
			 CONFIG_PROPERTY_NAME_MAX_BYTES);
		return LY_EINVAL;
	}
	if (vlen > CONFIG_STRING_MAX_BYTES) {
		snprintf(why, why_size, "value of %s is longer than %d bytes",
			 yw_quote(q, sizeof(q), k, klen), CONFIG_STRING_MAX_BYTES);
		return LY_EINVAL;
	}
	for (i = 0; i < cfg->kafka_properties_len; i++)
		if (strlen(cfg->kafka_properties[i].key) == klen &&
		    memcmp(cfg->kafka_properties[i].key, k, klen) == 0)
			break;
	if (i == LY_CONFIG_KAFKA_PROPERTIES_MAX) {
		snprintf(why, why_size, "more than %d properties",
			 LY_CONFIG_KAFKA_PROPERTIES_MAX);
		return LY_EINVAL;
	}
	char *value = dup_n(v, vlen);
	char *key = i == cfg->kafka_properties_len ? dup_n(k, klen) : NULL;
	if (!value || (i == cfg->kafka_properties_len && !key)) {
		free(value);
		free(key);
		snprintf(why, why_size, "out of memory");
		return LY_ENOMEM;
	}
	if (i == cfg->kafka_properties_len) {
		cfg->kafka_properties[i].key = key;
		cfg->kafka_properties_len++;
	}
	free(cfg->kafka_properties[i].value);
	cfg->kafka_properties[i].value = value;
	return 0;
}

/* ---- the YAML file ---- */

typedef struct file_ctx {
	const char *name;
	char *errstr;
	size_t errstr_size;
	ly_config_t *cfg;
	/* where each setting was set, to refuse it being set twice (nested
	 * and dotted spellings of the same key) */
	const yw_node_t *set_at[LY_ARRAY_LEN(settings)];
} file_ctx_t;

static int file_set_properties(file_ctx_t *fc, const setting_t *s,
			       const yw_node_t *map)
{
	char d[YW_QUOTE_MAX_BYTES + 8], why[256];
	const yw_node_t *seen[LY_CONFIG_KAFKA_PROPERTIES_MAX];
	size_t nseen = 0;
	int rc;

	if (map->kind != YW_MAP)
		return yw_err(fc->errstr, fc->errstr_size, fc->name, map,
			      "%s: expected a mapping, got %s", s->key,
			      yw_describe(d, sizeof(d), map));
	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		const yw_node_t *v = k->next;
		for (size_t i = 0; i < nseen; i++)
			if (seen[i]->len == k->len &&
			    memcmp(seen[i]->str, k->str, k->len) == 0)
				return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
					      "duplicate key %s (first at %d:%d)",
					      yw_quote(d, sizeof(d), k->str, k->len),
					      seen[i]->line, seen[i]->col);
		if (!property_name_valid(k->str, k->len))
			return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
				      "%s: " PROPERTY_NAME_MSG, s->key,
				      yw_quote(d, sizeof(d), k->str, k->len),
				      CONFIG_PROPERTY_NAME_MAX_BYTES);
		if (v->kind != YW_SCALAR || yw_is_null(v)) {
			/* describe only the kind: a scalar may be a secret */
			const char *what = v->kind == YW_MAP ? "a mapping" :
					   v->kind == YW_SEQ ? "a sequence" : "null";
			return yw_err(fc->errstr, fc->errstr_size, fc->name, v,
				      "%s.%s: expected a string, got %s", s->key,
				      k->str, what);
		}
		rc = set_property(fc->cfg, k->str, k->len, v->str, v->len, why,
				  sizeof(why));
		if (rc == LY_ENOMEM) {
			snprintf(fc->errstr, fc->errstr_size, "%s: out of memory",
				 fc->name);
			return rc;
		}
		if (rc)
			return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
				      "%s: %s", s->key, why);
		if (nseen < LY_ARRAY_LEN(seen))
			seen[nseen++] = k;
	}
	return 0;
}

static int file_set(file_ctx_t *fc, const setting_t *s, const yw_node_t *v)
{
	char why[256];
	int rc;

	if (s->type == SET_MAP)
		return file_set_properties(fc, s, v);
	if (v->kind != YW_SCALAR || yw_is_null(v)) {
		const char *what = v->kind == YW_MAP ? "a mapping" :
				   v->kind == YW_SEQ ? "a sequence" : "null";
		return yw_err(fc->errstr, fc->errstr_size, fc->name, v,
			      "%s: expected %s, got %s", s->key,
			      s->type == SET_INT ? "an integer" : "a string", what);
	}
	/* Quoted integers are accepted, as in the environment: settings are
	 * text, like PostgreSQL's. */
	rc = assign_text(fc->cfg, s, v->str, v->len, why, sizeof(why));
	if (rc == LY_ENOMEM)
		snprintf(fc->errstr, fc->errstr_size, "%s: out of memory", fc->name);
	else if (rc)
		yw_err(fc->errstr, fc->errstr_size, fc->name, v, "%s: %s", s->key,
		       why);
	return rc;
}

/* Walks mapping map whose keys are under prefix ("" at the top). */
static int file_walk(file_ctx_t *fc, const yw_node_t *map, const char *prefix)
{
	char key[CONFIG_KEY_MAX_BYTES], q[YW_QUOTE_MAX_BYTES + 8];
	/* keys accepted in this mapping; every one is a setting or a
	 * section, so there are few, and a repeat stops the walk */
	const yw_node_t *seen[2 * LY_ARRAY_LEN(settings)];
	size_t nseen = 0;
	int rc;

	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		const yw_node_t *v = k->next;
		int n = snprintf(key, sizeof(key), "%s%s%s", prefix,
				 *prefix ? "." : "", k->str);
		if (n < 0 || (size_t)n >= sizeof(key))
			return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
				      "unknown setting %s",
				      yw_quote(q, sizeof(q), k->str, k->len));
		for (size_t i = 0; i < nseen; i++)
			if (seen[i]->len == k->len &&
			    memcmp(seen[i]->str, k->str, k->len) == 0)
				return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
					      "duplicate key %s (first at %d:%d)",
					      yw_quote(q, sizeof(q), k->str, k->len),
					      seen[i]->line, seen[i]->col);
		const setting_t *s = find_setting(key);
		if (s) {
			size_t idx = (size_t)(s - settings);
			if (fc->set_at[idx])
				return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
					      "setting \"%s\" is set twice (first at %d:%d)",
					      key, fc->set_at[idx]->line,
					      fc->set_at[idx]->col);
			fc->set_at[idx] = k;
			if ((rc = file_set(fc, s, v)))
				return rc;
		} else if (is_section(key)) {
			char d[YW_QUOTE_MAX_BYTES + 8];
			if (v->kind != YW_MAP)
				return yw_err(fc->errstr, fc->errstr_size, fc->name, v,
					      "%s: expected a mapping, got %s", key,
					      yw_describe(d, sizeof(d), v));
			if ((rc = file_walk(fc, v, key)))
				return rc;
		} else {
			return yw_err(fc->errstr, fc->errstr_size, fc->name, k,
				      "unknown setting %s",
				      yw_quote(q, sizeof(q), key, strlen(key)));
		}
		LY_ASSERT(nseen < LY_ARRAY_LEN(seen));
		seen[nseen++] = k;
	}
	return 0;
}

static int load_file(ly_config_t *cfg, const char *path, char *errstr,
		     size_t errstr_size)
{
	file_ctx_t fc = {.name = path, .errstr = errstr,
			 .errstr_size = errstr_size, .cfg = cfg};
	char *text = NULL;
	size_t len = 0;
	ly_arena_t *arena = NULL;
	yw_node_t *root = NULL;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = ly_read_file(path, CONFIG_FILE_MAX_BYTES, &text, &len, errstr,
			       errstr_size)))
		goto out;
	if (!(arena = ly_arena_new(16 * 1024))) {
		snprintf(errstr, errstr_size, "%s: out of memory", path);
		rc = LY_ENOMEM;
		goto out;
	}
	if ((rc = yw_parse(&root, arena, path, text, len, errstr, errstr_size)))
		goto out;
	/* an empty file (or only comments) sets nothing */
	if (!root || yw_is_null(root))
		goto out;
	if (root->kind != YW_MAP) {
		rc = yw_err(errstr, errstr_size, path, root,
			    "expected a mapping at the top level, got %s",
			    yw_describe(d, sizeof(d), root));
		goto out;
	}
	rc = file_walk(&fc, root, "");
out:
	ly_arena_destroy(arena);
	free(text);
	return rc;
}

/* ---- the environment ---- */

/*
 * Merges "k1=v1,k2=v2" into kafka.properties. "\," stands for a comma and
 * "\\" for a backslash inside a name or value; an empty string sets
 * nothing.
 */
static int env_set_properties(ly_config_t *cfg, const char *v, char *why,
			      size_t why_size)
{
	size_t n = strlen(v);
	char *buf = malloc(n + 1);
	int rc = 0;

	if (!buf) {
		snprintf(why, why_size, "out of memory");
		return LY_ENOMEM;
	}
	size_t i = 0, item = 0;
	while (i < n) {
		/* one item: unescape into buf, remembering where '=' was */
		size_t o = 0, eq = SIZE_MAX;
		for (; i < n && v[i] != ','; i++) {
			if (v[i] == '\\' && i + 1 < n && (v[i + 1] == ',' || v[i + 1] == '\\'))
				buf[o++] = v[++i];
			else if (v[i] == '=' && eq == SIZE_MAX)
				eq = o, buf[o++] = '=';
			else
				buf[o++] = v[i];
		}
		i++; /* the comma */
		item++;
		if (eq == SIZE_MAX || eq == 0) {
			snprintf(why, why_size,
				 "item %zu: expected \"name=value\" items separated by \",\"",
				 item);
			rc = LY_EINVAL;
			goto out;
		}
		if ((rc = set_property(cfg, buf, eq, buf + eq + 1, o - eq - 1, why,
				       why_size)))
			goto out;
	}
out:
	free(buf);
	return rc;
}

static int load_env(ly_config_t *cfg, char *const *envp, char *errstr,
		    size_t errstr_size)
{
	const size_t plen = strlen(CONFIG_ENV_PREFIX);
	char name[CONFIG_KEY_MAX_BYTES + 16], why[256];
	int rc;

	for (char *const *e = envp; *e; e++) {
		const char *var = *e;
		const char *eq = strchr(var, '=');
		if (strncmp(var, CONFIG_ENV_PREFIX, plen) != 0 || !eq)
			continue;
		size_t nlen = (size_t)(eq - var);
		const setting_t *s = NULL;
		for (size_t i = 0; i < LY_ARRAY_LEN(settings) && !s; i++) {
			env_name(&settings[i], name, sizeof(name));
			if (strlen(name) == nlen && memcmp(name, var, nlen) == 0)
				s = &settings[i];
		}
		if (!s) {
			snprintf(errstr, errstr_size, "%.*s: unknown setting",
				 (int)(nlen > CONFIG_KEY_MAX_BYTES ? CONFIG_KEY_MAX_BYTES
								   : nlen),
				 var);
			return LY_EINVAL;
		}
		env_name(s, name, sizeof(name));
		if (s->type == SET_MAP)
			rc = env_set_properties(cfg, eq + 1, why, sizeof(why));
		else
			rc = assign_text(cfg, s, eq + 1, strlen(eq + 1), why,
					 sizeof(why));
		if (rc) {
			snprintf(errstr, errstr_size, "%s: %s", name, why);
			return rc;
		}
	}
	return 0;
}

int ly_config_load(ly_config_t *cfg, const char *path, char *const *envp,
		   char *errstr, size_t errstr_size)
{
	int rc;

	if (errstr_size)
		errstr[0] = '\0';
	if ((rc = config_set_defaults(cfg))) {
		snprintf(errstr, errstr_size, "out of memory");
		goto out;
	}
	if (path && (rc = load_file(cfg, path, errstr, errstr_size)))
		goto out;
	if (envp && (rc = load_env(cfg, envp, errstr, errstr_size)))
		goto out;
out:
	if (rc)
		ly_config_free(cfg);
	return rc;
}

/* ---- reference ---- */

/* Appends s with "|" escaped, for a Markdown table cell. */
static int put_cell(ly_buf_t *b, const char *s)
{
	for (; *s; s++) {
		int rc = *s == '|' ? ly_buf_puts(b, "\\|") : ly_buf_putc(b, *s);
		if (rc)
			return rc;
	}
	return 0;
}

int ly_config_write_reference(struct ly_buf *buf)
{
	char name[CONFIG_KEY_MAX_BYTES + 16];
	int rc = 0;

	rc |= ly_buf_puts(buf,
		"<!-- Generated from the settings table in lib/config/config.c "
		"(ly_config_write_reference); do not edit by hand. -->\n"
		"# Configuration reference\n"
		"\n"
		"`loyaltyd --config FILE` and `loyaltyctl --config FILE` read one YAML "
		"file of nested mappings:\n"
		"\n"
		"```yaml\n"
		"kafka:\n"
		"  brokers: kafka-1:9092,kafka-2:9092\n"
		"  properties: {security.protocol: SASL_SSL, sasl.mechanism: PLAIN}\n"
		"postgres:\n"
		"  conninfo: postgresql://loyalty@db/loyalty\n"
		"program: /etc/loyaltyd/program.yaml\n"
		"batch: {max_events: 2000}\n"
		"```\n"
		"\n"
		"A dotted key at the top level (`kafka.brokers: ...`) means the same "
		"as the nested form. Then every setting can be overridden by an "
		"environment variable `LOYALTY_<SECTION>_<KEY>`: the key upper-cased, "
		"dots turned into `_`. Unknown keys, unknown `LOYALTY_*` variables, "
		"keys given twice, values of the wrong type and integers out of "
		"bounds are refused with the file, line and column (or the variable's "
		"name); nothing falls back to a default silently. Integers are "
		"decimal. Strings are at most 4096 bytes.\n"
		"\n"
		"| Key | Environment variable | Type | Default | Bounds | Reloadable | Description |\n"
		"|---|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < LY_ARRAY_LEN(settings) && rc == 0; i++) {
		const setting_t *s = &settings[i];
		env_name(s, name, sizeof(name));
		rc |= ly_buf_printf(buf, "| `%s` | `%s` | ", s->key, name);
		switch (s->type) {
		case SET_STRING:
			rc |= ly_buf_puts(buf, "string | ");
			if (*s->def_str)
				rc |= ly_buf_printf(buf, "`%s` | ", s->def_str);
			else
				rc |= ly_buf_puts(buf, "`\"\"` | ");
			if (s->bounds_doc)
				rc |= put_cell(buf, s->bounds_doc);
			else if (s->flags & F_NONEMPTY)
				rc |= ly_buf_puts(buf, "not empty");
			else
				rc |= ly_buf_puts(buf, "may be empty");
			rc |= ly_buf_puts(buf, " | ");
			break;
		case SET_INT:
			rc |= ly_buf_printf(buf, "integer | %lld | %lld to %lld %s | ",
					    (long long)s->def_int, (long long)s->min,
					    (long long)s->max, s->unit);
			break;
		case SET_MAP:
			rc |= ly_buf_puts(buf, "map of string | (none) | ");
			rc |= put_cell(buf, s->bounds_doc);
			rc |= ly_buf_puts(buf, " | ");
			break;
		}
		rc |= ly_buf_printf(buf, "%s | ",
				    (s->flags & F_RELOADABLE) ? "yes" : "no");
		rc |= put_cell(buf, s->desc);
		rc |= ly_buf_puts(buf, " |\n");
	}
	return rc ? LY_ENOMEM : 0;
}
