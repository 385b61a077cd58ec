/*
 * kafka.c: librdkafka wiring (include/loyalty/kafka.h).
 *
 * The consumer never lets Kafka decide where to read: on every assignment
 * it asks PostgreSQL for the next offsets (the ones written with the state)
 * and assigns the partitions there. Offsets are committed to Kafka only
 * after PostgreSQL has committed, for lag tools; they are never read back.
 */
#include "loyalty/kafka.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loyalty/util.h"

size_t ly_kafka_input_topics(const ly_config_t *cfg, const char **out,
			     size_t out_size)
{
	const char *topics[] = {cfg->topic_customers, cfg->topic_orders,
				cfg->topic_reviews, cfg->topic_social,
				cfg->topic_requests};
	size_t n = 0;
	for (size_t i = 0; i < LY_ARRAY_LEN(topics) && n < out_size; i++)
		out[n++] = topics[i];
	return n;
}

/* All topics of the config: inputs then outputs. */
static size_t all_topics(const ly_config_t *cfg, const char **out,
			 size_t out_size)
{
	size_t n = ly_kafka_input_topics(cfg, out, out_size);
	const char *outputs[] = {cfg->topic_offers, cfg->topic_activity,
				 cfg->topic_dlq};
	for (size_t i = 0; i < LY_ARRAY_LEN(outputs) && n < out_size; i++)
		out[n++] = outputs[i];
	return n;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
		   const char *buf)
{
	(void)rk;
	ly_log_level_t l = level <= 3   ? LY_LOG_ERROR
			   : level == 4 ? LY_LOG_WARN
			   : level <= 6 ? LY_LOG_INFO
					: LY_LOG_DEBUG;
	ly_log(l, "rdkafka", "%s: %s", fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
		    char *errstr, size_t errstr_size)
{
	char err[512];
	if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errstr_size, "kafka property \"%s\": %s", key, err);
		return LY_EINVAL;
	}
	return 0;
}

/*
 * A configuration with our logger, bootstrap.servers and client.id, then
 * ours (NULL-terminated key/value pairs), then the operator's
 * kafka.properties on top, so an operator can override any of ours.
 */
static rd_kafka_conf_t *conf_build(const ly_config_t *cfg, const char *bootstrap,
				   const char *const *ours, char *errstr,
				   size_t errstr_size)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) ||
	    conf_set(conf, "client.id", "loyaltyd", errstr, errstr_size))
		goto fail;
	for (size_t i = 0; ours && ours[i]; i += 2)
		if (conf_set(conf, ours[i], ours[i + 1], errstr, errstr_size))
			goto fail;
	for (size_t i = 0; i < cfg->kafka_properties_len; i++) {
		const ly_kv_t *kv = &cfg->kafka_properties[i];
		if (conf_set(conf, kv->key, kv->value, errstr, errstr_size))
			goto fail;
	}
	return conf;
fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}

rd_kafka_conf_t *ly_kafka_conf_new(const ly_config_t *cfg,
				   const char *bootstrap, char *errstr,
				   size_t errstr_size)
{
	return conf_build(cfg, bootstrap, NULL, errstr, errstr_size);
}

int ly_kafka_embedded_start(rd_kafka_t **handle, const ly_config_t *cfg,
			    char *bootstrap, size_t bootstrap_size,
			    char *errstr, size_t errstr_size)
{
	char err[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_conf_set_log_cb(conf, log_cb);
	if (conf_set(conf, "test.mock.num.brokers", "1", errstr, errstr_size)) {
		rd_kafka_conf_destroy(conf);
		return LY_EINVAL;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "embedded kafka: %s", err);
		return LY_EIO;
	}
	rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
	if (!mc) {
		snprintf(errstr, errstr_size, "embedded kafka: no mock cluster");
		goto fail;
	}
	const char *topics[16];
	size_t n = all_topics(cfg, topics, LY_ARRAY_LEN(topics));
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(
			mc, topics[i], (int)cfg->kafka_embedded_partitions, 1);
		if (e) {
			snprintf(errstr, errstr_size, "embedded kafka: topic \"%s\": %s",
				 topics[i], rd_kafka_err2str(e));
			goto fail;
		}
	}
	snprintf(bootstrap, bootstrap_size, "%s", rd_kafka_mock_cluster_bootstraps(mc));
	if (cfg->kafka_embedded_bootstrap_file && cfg->kafka_embedded_bootstrap_file[0]) {
		/* Written to a temporary name and renamed, so a reader never sees
		 * half an address. */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", cfg->kafka_embedded_bootstrap_file);
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%s\n", bootstrap) < 0 || fclose(f) != 0 ||
		    rename(tmp, cfg->kafka_embedded_bootstrap_file) != 0) {
			snprintf(errstr, errstr_size, "embedded kafka: cannot write %s",
				 cfg->kafka_embedded_bootstrap_file);
			goto fail;
		}
	}
	*handle = rk;
	return 0;
fail:
	rd_kafka_destroy(rk);
	return LY_EIO;
}

rd_kafka_t *ly_kafka_producer_new(const ly_config_t *cfg, const char *bootstrap,
				  ly_kafka_dr_fn dr, char *errstr,
				  size_t errstr_size)
{
	static const char *const ours[] = {
		"enable.idempotence", "true",
		"acks", "all",
		"linger.ms", "5",
		"message.timeout.ms", "30000",
		/* A dead letter is as large as the input it copies; the
		 * broker's own limit is the one that counts. */
		"message.max.bytes", "4194304",
		NULL,
	};
	char err[512];
	rd_kafka_conf_t *conf = conf_build(cfg, bootstrap, ours, errstr, errstr_size);
	if (!conf)
		return NULL;
	if (dr)
		rd_kafka_conf_set_dr_msg_cb(conf, dr);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "kafka producer: %s", err);
	}
	return rk;
}

int ly_kafka_create_topics(const ly_config_t *cfg, const char *bootstrap,
			   int partitions, int replication, char *errstr,
			   size_t errstr_size)
{
	char err[512];
	int rc = 0;
	rd_kafka_NewTopic_t *nt[16] = {0};
	rd_kafka_conf_t *conf = ly_kafka_conf_new(cfg, bootstrap, errstr, errstr_size);
	if (!conf)
		return LY_EINVAL;
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "kafka admin: %s", err);
		return LY_EIO;
	}
	rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
	rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_event_t *ev = NULL;
	rd_kafka_AdminOptions_set_operation_timeout(opts, 30000, err, sizeof(err));
	rd_kafka_AdminOptions_set_request_timeout(opts, 30000, err, sizeof(err));
	const char *topics[16];
	size_t n = all_topics(cfg, topics, LY_ARRAY_LEN(topics));
	for (size_t i = 0; i < n; i++) {
		nt[i] = rd_kafka_NewTopic_new(topics[i], partitions, replication, err,
					      sizeof(err));
		if (!nt[i]) {
			snprintf(errstr, errstr_size, "topic \"%s\": %s", topics[i], err);
			rc = LY_EINVAL;
			goto out;
		}
	}
	rd_kafka_CreateTopics(rk, nt, n, opts, q);
	ev = rd_kafka_queue_poll(q, 60000);
	if (!ev || rd_kafka_event_error(ev)) {
		snprintf(errstr, errstr_size, "create topics: %s",
			 ev ? rd_kafka_event_error_string(ev) : "timed out");
		rc = LY_EIO;
		goto out;
	}
	size_t cnt;
	const rd_kafka_topic_result_t **res =
		rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
	for (size_t i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[i]);
		if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
			snprintf(errstr, errstr_size, "topic \"%s\": %s",
				 rd_kafka_topic_result_name(res[i]),
				 rd_kafka_topic_result_error_string(res[i]));
			rc = LY_EIO;
			goto out;
		}
	}
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	for (size_t i = 0; i < LY_ARRAY_LEN(nt); i++)
		if (nt[i])
			rd_kafka_NewTopic_destroy(nt[i]);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- the consumer ---- */

typedef struct part_state {
	char *topic;
	int32_t partition;
	int64_t expected_next; /* -1: PostgreSQL has no row yet */
	int pending; /* assigned paused: its offset is not known yet */
} part_state_t;

struct ly_consumer {
	rd_kafka_t *rk;
	ly_offsets_lookup_fn lookup;
	void *opaque;
	part_state_t *parts;
	size_t parts_len;
	int rebalanced; /* set by the rebalance callback during poll */
	uint64_t rebalances;
	ly_consumer_watch_t watch;
	size_t pending; /* partitions assigned paused, waiting for PostgreSQL */
};

static void parts_clear(ly_consumer_t *c)
{
	for (size_t i = 0; i < c->parts_len; i++)
		free(c->parts[i].topic);
	free(c->parts);
	c->parts = NULL;
	c->parts_len = 0;
	c->pending = 0;
}

static part_state_t *part_find(ly_consumer_t *c, const char *topic,
			       int32_t partition)
{
	for (size_t i = 0; i < c->parts_len; i++)
		if (c->parts[i].partition == partition &&
		    strcmp(c->parts[i].topic, topic) == 0)
			return &c->parts[i];
	return NULL;
}

/* A few quick tries at assignment; after that the partitions wait, paused,
 * and ly_consumer_retry_pending tries again from the poll loop. */
#define LOOKUP_TRIES 3
/* A fetch response's bounds: at least message.max.bytes' default, at most
 * well under receive.message.max.bytes' default. */
#define FETCH_BYTES_MIN (1024 * 1024)
#define FETCH_BYTES_MAX (64 * 1024 * 1024)
/*
 * How long the broker holds a fetch for more input, and how much it waits
 * for. librdkafka's defaults (500 ms, 1 byte) answer a fetch as soon as one
 * message is there: under a steady stream the consumer fetches every round
 * trip, thousands of times a second, and at 5,000 events/s the broker
 * spent a sixth of a core answering (bench/run.sh, docs/performance.md).
 * Held up to FETCH_WAIT_MS for FETCH_MIN_BYTES, a fetch comes back at
 * most every FETCH_WAIT_MS with what came meanwhile, a backlog's at once:
 * an event waits FETCH_WAIT_MS at most, and an idle consumer costs the
 * broker 50 empty fetches a second (0.035 of a core more than with the
 * defaults, here).
 */
#define FETCH_WAIT_MS "20"
#define FETCH_MIN_BYTES "262144"

/* The parts as the consumer's state; pending ones are paused. */
static void parts_take(ly_consumer_t *c, const rd_kafka_topic_partition_list_t *parts,
		       int pending)
{
	c->parts = calloc((size_t)parts->cnt + 1, sizeof(*c->parts));
	LY_ASSERT(c->parts);
	for (int i = 0; i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *p = &parts->elems[i];
		part_state_t *ps = &c->parts[c->parts_len++];
		ps->topic = strdup(p->topic);
		LY_ASSERT(ps->topic);
		ps->partition = p->partition;
		ps->expected_next = !pending && p->offset >= 0 ? p->offset : -1;
		ps->pending = pending;
	}
	c->pending = pending ? (size_t)parts->cnt : 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	ly_consumer_t *c = opaque;
	c->rebalanced = 1;
	c->rebalances++;
	parts_clear(c);
	if (c->watch.rebalanced)
		c->watch.rebalanced(c->watch.opaque,
				    err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, parts->cnt);
	if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		ly_log(LY_LOG_INFO, "kafka", "partitions revoked: %d", parts->cnt);
		rd_kafka_assign(rk, NULL);
		return;
	}
	int rc = -1;
	for (int attempt = 0; attempt < LOOKUP_TRIES && rc != 0; attempt++) {
		if (attempt)
			usleep((useconds_t)(attempt * 500 * 1000));
		rc = c->lookup(c->opaque, parts);
	}
	if (rc == 0) {
		parts_take(c, parts, 0);
		ly_log(LY_LOG_INFO, "kafka", "partitions assigned: %d", parts->cnt);
		rd_kafka_assign(rk, parts);
		return;
	}
	/*
	 * PostgreSQL holds the offsets and cannot be asked now. Leaving the
	 * partitions unassigned would stall them until the next rebalance, and
	 * leaving the group would set off another; so they are assigned and
	 * paused at once, nothing from them is handled (poll drops it), and
	 * they are sought to PostgreSQL's offsets and resumed when it answers.
	 */
	for (int i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
	parts_take(c, parts, 1);
	rd_kafka_assign(rk, parts);
	rd_kafka_pause_partitions(rk, parts);
	ly_log(LY_LOG_WARN, "kafka",
	       "partitions assigned paused: %d; their offsets wait for PostgreSQL",
	       parts->cnt);
}

int ly_consumer_retry_pending(ly_consumer_t *c)
{
	if (c->pending == 0)
		return 0;
	rd_kafka_topic_partition_list_t *list =
		rd_kafka_topic_partition_list_new((int)c->pending);
	for (size_t i = 0; i < c->parts_len; i++)
		if (c->parts[i].pending)
			rd_kafka_topic_partition_list_add(list, c->parts[i].topic,
							  c->parts[i].partition);
	int rc = c->lookup(c->opaque, list);
	if (rc == 0) {
		for (int i = 0; i < list->cnt; i++) {
			rd_kafka_topic_partition_t *p = &list->elems[i];
			part_state_t *ps = part_find(c, p->topic, p->partition);
			LY_ASSERT(ps);
			ps->expected_next = p->offset >= 0 ? p->offset : -1;
			ps->pending = 0;
		}
		rd_kafka_error_t *e = rd_kafka_seek_partitions(c->rk, list, 10000);
		if (e) {
			/* still paused and pending: tried again on the next call */
			ly_log(LY_LOG_WARN, "kafka", "seek: %s", rd_kafka_error_string(e));
			rd_kafka_error_destroy(e);
			for (int i = 0; i < list->cnt; i++)
				part_find(c, list->elems[i].topic, list->elems[i].partition)->pending = 1;
			rc = LY_EIO;
		} else {
			rd_kafka_resume_partitions(c->rk, list);
			c->pending = 0;
			ly_log(LY_LOG_INFO, "kafka", "partitions resumed: %d", list->cnt);
		}
	}
	rd_kafka_topic_partition_list_destroy(list);
	return rc ? LY_ERETRY : 0;
}

size_t ly_consumer_paused(const ly_consumer_t *c)
{
	return c->pending;
}

static int stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	ly_consumer_t *c = opaque;
	(void)rk;
	if (c->watch.stats)
		c->watch.stats(c->watch.opaque, json, len);
	return 0; /* librdkafka frees json */
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	ly_consumer_t *c = opaque;
	(void)rk;
	ly_log(LY_LOG_WARN, "kafka", "%s: %s", rd_kafka_err2name(err), reason);
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && c->watch.brokers_down)
		c->watch.brokers_down(c->watch.opaque);
}

int ly_consumer_new(ly_consumer_t **out, const ly_config_t *cfg,
		    const char *bootstrap, ly_offsets_lookup_fn lookup,
		    void *opaque, const ly_consumer_watch_t *watch,
		    char *errstr, size_t errstr_size)
{
	char err[512];
	rd_kafka_topic_partition_list_t *subs = NULL;
	ly_consumer_t *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	c->lookup = lookup;
	c->opaque = opaque;
	if (watch)
		c->watch = *watch;
	/* Bounded prefetch: librdkafka stops fetching while its queue holds
	 * kafka.prefetch_kbytes, so a backlog never grows memory. The bytes
	 * are the only bound: queued.min.messages is set out of the way.
	 * Both are compared with the one queue all partitions feed, and a
	 * partition found over either is looked at again only a second
	 * later (librdkafka 2.0), so a bound of a batch's messages starved
	 * the worker between batches; the bytes hold seconds of work. */
	char queue_kb[24], fetch_bytes[24];
	int64_t fetch = cfg->kafka_prefetch_kbytes * 1024 / 4;
	snprintf(queue_kb, sizeof(queue_kb), "%lld", (long long)cfg->kafka_prefetch_kbytes);
	fetch = fetch < FETCH_BYTES_MIN ? FETCH_BYTES_MIN : fetch;
	fetch = fetch > FETCH_BYTES_MAX ? FETCH_BYTES_MAX : fetch;
	snprintf(fetch_bytes, sizeof(fetch_bytes), "%lld", (long long)fetch);
	const char *const ours[] = {
		"group.id", cfg->kafka_group_id,
		/* Offsets live in PostgreSQL with the state; Kafka's copy is
		 * written after commit, for lag tools only. */
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"auto.offset.reset", "earliest",
		/* Eager: the safest with librdkafka 2.0.2. */
		"partition.assignment.strategy", "range",
		"queued.max.messages.kbytes", queue_kb,
		"queued.min.messages", "10000000",
		"fetch.max.bytes", fetch_bytes,
		"fetch.wait.max.ms", FETCH_WAIT_MS,
		"fetch.min.bytes", FETCH_MIN_BYTES,
		"enable.partition.eof", "false",
		/* consumer lag and broker states for /metrics and /readyz */
		"statistics.interval.ms", "5000",
		NULL,
	};
	rd_kafka_conf_t *conf = conf_build(cfg, bootstrap, ours, errstr, errstr_size);
	if (!conf) {
		free(c);
		return LY_EINVAL;
	}
	rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
	rd_kafka_conf_set_stats_cb(conf, stats_cb);
	rd_kafka_conf_set_error_cb(conf, error_cb);
	rd_kafka_conf_set_opaque(conf, c);
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!c->rk) {
		snprintf(errstr, errstr_size, "kafka consumer: %s", err);
		goto fail_conf;
	}
	rd_kafka_poll_set_consumer(c->rk);
	const char *topics[8];
	size_t n = ly_kafka_input_topics(cfg, topics, LY_ARRAY_LEN(topics));
	subs = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (e) {
		snprintf(errstr, errstr_size, "kafka subscribe: %s", rd_kafka_err2str(e));
		ly_consumer_destroy(c);
		return LY_EIO;
	}
	*out = c;
	return 0;
fail_conf:
	rd_kafka_conf_destroy(conf);
	free(c);
	return LY_EINVAL;
}

void ly_consumer_destroy(ly_consumer_t *c)
{
	if (!c)
		return;
	if (c->rk) {
		rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	parts_clear(c);
	free(c);
}

rd_kafka_t *ly_consumer_handle(ly_consumer_t *c)
{
	return c->rk;
}

void ly_msg_batch_clear(ly_msg_batch_t *b)
{
	for (size_t i = 0; i < b->len; i++)
		rd_kafka_message_destroy(b->msgs[i]);
	b->len = 0;
}

void ly_msg_batch_free(ly_msg_batch_t *b)
{
	ly_msg_batch_clear(b);
	free(b->msgs);
	b->msgs = NULL;
	b->cap = 0;
}

/*
 * One message from rd_kafka_consumer_poll (or none) into b. Returns 1 when
 * it was kept. A rebalance during the poll first empties b: what it held is
 * re-read by its owner from the offsets in PostgreSQL.
 */
static int take(ly_consumer_t *c, ly_msg_batch_t *b, rd_kafka_message_t *m)
{
	if (c->rebalanced) {
		ly_msg_batch_clear(b);
		c->rebalanced = 0;
	}
	if (!m)
		return 0;
	if (m->err) {
		if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			ly_log(LY_LOG_WARN, "kafka", "consume: %s", rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		return 0;
	}
	part_state_t *ps = part_find(c, rd_kafka_topic_name(m->rkt), m->partition);
	if (!ps || ps->pending || (ps->expected_next >= 0 && m->offset < ps->expected_next)) {
		rd_kafka_message_destroy(m);
		return 0;
	}
	b->msgs[b->len++] = m;
	return 1;
}

static int batch_room(ly_msg_batch_t *b, size_t max_events)
{
	if (b->cap >= max_events)
		return 0;
	rd_kafka_message_t **m = realloc(b->msgs, max_events * sizeof(*m));
	if (!m)
		return LY_ENOMEM;
	b->msgs = m;
	b->cap = max_events;
	return 0;
}

int ly_consumer_poll_batch(ly_consumer_t *c, ly_msg_batch_t *b,
			   size_t max_events, int max_wait_ms, int idle_ms,
			   volatile int *stop)
{
	if (batch_room(b, max_events))
		return LY_ENOMEM;
	c->rebalanced = 0;
	int64_t start = ly_time_mono_ms(), first = b->len ? start : -1;
	while (!*stop && b->len < max_events) {
		int64_t now = ly_time_mono_ms(), remaining;
		int timeout;
		if (first < 0) {
			remaining = idle_ms - (now - start);
			if (remaining <= 0)
				break;
			timeout = remaining > 100 ? 100 : (int)remaining;
		} else {
			remaining = max_wait_ms - (now - first);
			timeout = remaining > 0 ? (int)remaining : 0;
		}
		const size_t had = b->len;
		const int kept = take(c, b, rd_kafka_consumer_poll(c->rk, timeout));
		if (b->len < had) { /* a rebalance emptied it */
			first = -1;
			start = ly_time_mono_ms();
		}
		if (kept && first < 0)
			first = ly_time_mono_ms();
		if (!kept && first >= 0 && remaining <= 0)
			break;
	}
	return 0;
}

int ly_consumer_read_ahead(ly_consumer_t *c, ly_msg_batch_t *b, size_t max_events)
{
	if (batch_room(b, max_events))
		return LY_ENOMEM;
	c->rebalanced = 0;
	while (b->len < max_events) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, 0);
		take(c, b, m);
		if (!m)
			break;
	}
	return 0;
}

void ly_msg_batch_drop(ly_msg_batch_t *b, const rd_kafka_topic_partition_list_t *parts)
{
	size_t kept = 0;
	for (size_t i = 0; i < b->len; i++) {
		rd_kafka_message_t *m = b->msgs[i];
		if (rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(m->rkt),
						       m->partition))
			rd_kafka_message_destroy(m);
		else
			b->msgs[kept++] = m;
	}
	b->len = kept;
}

int ly_consumer_expected(ly_consumer_t *c, const char *topic, int32_t partition,
			 int64_t *expected_next)
{
	part_state_t *ps = part_find(c, topic, partition);
	if (!ps)
		return LY_ENOTFOUND;
	*expected_next = ps->expected_next;
	return 0;
}

int ly_consumer_advance(ly_consumer_t *c, const char *topic, int32_t partition,
			int64_t next)
{
	part_state_t *ps = part_find(c, topic, partition);
	if (!ps)
		return LY_ENOTFOUND;
	ps->expected_next = next;
	return 0;
}

void ly_consumer_commit_async(ly_consumer_t *c,
			      rd_kafka_topic_partition_list_t *offsets)
{
	rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, offsets, 1);
	if (e)
		ly_log(LY_LOG_WARN, "kafka", "commit offsets to Kafka: %s",
		       rd_kafka_err2str(e));
}

uint64_t ly_consumer_rebalances(const ly_consumer_t *c)
{
	return c->rebalances;
}
