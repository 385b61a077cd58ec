/*
 * latency.c: how long an event takes from the shop to the shop's activity
 * feed (bench/run.sh's latency stage). Reads, from the beginning to the end
 * they had when it started, every partition of the configured input topics
 * and of the activity topic, and pairs each input event with the
 * loyalty.points.changed messages it caused (data.event_source and
 * data.event_id name it). An event's latency is the Kafka timestamp of its
 * last points.changed minus that of the input message: both are CreateTime,
 * set by the producer that wrote the message (loadgen for the input,
 * loyaltyd's outbox relay for the output) from this machine's clock, so the
 * figure is the whole path: the broker, loyaltyd's batch wait, the
 * transaction, the relay. Millisecond resolution, as Kafka's timestamps.
 *
 *   latency [--config FILE] [--brokers LIST] [--cdf FILE] [--json FILE]
 *           [--timeout-s N] [--since-ms T]
 *
 * Run it after loyaltyd has applied and published everything: it does not
 * wait for messages written after it starts. Events with no points change
 * (a review that earns nothing) have no latency and are counted apart, as
 * are points.changed messages of no input event (triggers, scheduler).
 * --since-ms T: events produced before T (ms since the epoch) were a
 * warm-up: paired, counted apart, not timed.
 * Reads with assign(), never joins a group, commits nothing.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loyalty/config.h"
#include "loyalty/kafka.h"
#include "loyalty/util.h"

extern char **environ;

#define TOPICS_MAX 8
#define PARTITIONS_MAX 10000
#define MESSAGES_MAX 100000000
#define DEFAULT_TIMEOUT_S 300u
#define TIMEOUT_S_MAX 86400u
#define META_TIMEOUT_MS 10000
#define KEY_MAX 1024 /* source and id, as the envelope limits them */

typedef struct options {
	const char *config_path, *brokers, *cdf_path, *json_path;
	uint64_t timeout_s, since_ms;
} options_t;

/* One partition to read to its end as of the start. */
typedef struct part {
	int topic; /* index into reader_t.topics */
	int32_t partition;
	int64_t end; /* high watermark */
	int done;
} part_t;

/* An input event seen on either side. */
typedef struct rec {
	int64_t in_ms;  /* input message timestamp, -1 until seen */
	int64_t out_ms; /* latest points.changed timestamp, -1 if none */
	uint32_t outputs;
} rec_t;

typedef struct reader {
	const char *topics[TOPICS_MAX];
	size_t topics_len;
	int activity; /* index of the activity topic */
	size_t base[TOPICS_MAX]; /* first part_t of each topic */
	part_t *parts;
	size_t parts_len, parts_left;
	ly_arena_t *arena;
	ly_map_t events; /* "source\nid" -> rec_t */
	uint64_t inputs, outputs, other_outputs, unparsed, not_create_time;
} reader_t;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: latency [--config FILE] [--brokers LIST] [--cdf FILE] [--json FILE]\n"
		"               [--timeout-s N] [--since-ms T]\n"
		"\n"
		"Pairs the input events of the configured topics with the\n"
		"loyalty.points.changed messages they caused on the activity topic and\n"
		"prints the percentiles of the time between them (Kafka CreateTime).\n"
		"  --brokers LIST  bootstrap servers (default: kafka.brokers)\n"
		"  --cdf FILE      write the distribution: \"ms fraction\" lines, for gnuplot\n"
		"  --json FILE     also write the figures to FILE as JSON\n"
		"  --timeout-s N   give up reading after N s (1..%u, default %u)\n"
		"  --since-ms T    time only the events produced from T on (ms since\n"
		"                  the epoch): those before were a warm-up\n",
		TIMEOUT_S_MAX, DEFAULT_TIMEOUT_S);
}

static int parse_args(options_t *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->timeout_s = DEFAULT_TIMEOUT_S;
	for (int i = 1; i < argc; i += 2) { /* every option takes a value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--config") == 0) {
			bad = !v;
			o->config_path = v;
		} else if (strcmp(a, "--brokers") == 0) {
			bad = !v || !*v;
			o->brokers = v;
		} else if (strcmp(a, "--cdf") == 0) {
			bad = !v || !*v;
			o->cdf_path = v;
		} else if (strcmp(a, "--json") == 0) {
			bad = !v || !*v;
			o->json_path = v;
		} else if (strcmp(a, "--timeout-s") == 0) {
			bad = ly_parse_u64(v, 1, TIMEOUT_S_MAX, &o->timeout_s);
		} else if (strcmp(a, "--since-ms") == 0) {
			bad = ly_parse_u64(v, 0, INT64_MAX, &o->since_ms);
		} else {
			fprintf(stderr, "latency: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "latency: %s: bad value %s%s%s\n", a,
				v ? "\"" : "(missing)", v ? v : "", v ? "\"" : "");
			usage(stderr);
			return 2;
		}
	}
	return 0;
}

static rd_kafka_t *consumer_new(const ly_config_t *cfg, const char *brokers,
				char *errstr, size_t errstr_size)
{
	char group[64], err[512];
	snprintf(group, sizeof(group), "bench-latency-%ld-%ld", (long)getpid(),
		 (long)time(NULL));
	const char *props[] = {
		"client.id", "latency",
		"group.id", group, /* never joined: assign() only */
		"enable.auto.commit", "false",
		"enable.auto.offset.store", "false",
		"enable.partition.eof", "true",
		"auto.offset.reset", "earliest",
		NULL,
	};
	rd_kafka_conf_t *conf = ly_kafka_conf_new(cfg, brokers, errstr, errstr_size);
	if (!conf)
		return NULL;
	for (size_t i = 0; props[i]; i += 2) {
		if (rd_kafka_conf_set(conf, props[i], props[i + 1], err, sizeof(err)) !=
		    RD_KAFKA_CONF_OK) {
			snprintf(errstr, errstr_size, "kafka property \"%s\": %s", props[i],
				 err);
			rd_kafka_conf_destroy(conf);
			return NULL;
		}
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "kafka consumer: %s", err);
		return NULL;
	}
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/* The partition count of topic, or -1 with errstr. */
static int partition_count(rd_kafka_t *rk, const char *topic, char *errstr,
			   size_t errstr_size)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	int n = -1;
	if (!rkt) {
		snprintf(errstr, errstr_size, "topic \"%s\": %s", topic,
			 rd_kafka_err2str(rd_kafka_last_error()));
		return -1;
	}
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
	if (err) {
		snprintf(errstr, errstr_size, "topic \"%s\": metadata: %s", topic,
			 rd_kafka_err2str(err));
	} else if (md->topic_cnt != 1 || md->topics[0].err) {
		snprintf(errstr, errstr_size, "topic \"%s\": %s", topic,
			 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
	} else {
		n = md->topics[0].partition_cnt;
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return n;
}

/*
 * Every partition of the reader's topics with its high watermark, and the
 * assignment of the non-empty ones at their low watermark. 0 or -1 with
 * errstr; *messages is how many there are to read.
 */
static int plan(reader_t *r, rd_kafka_t *rk, uint64_t *messages, char *errstr,
		size_t errstr_size)
{
	rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(64);
	int rc = -1;
	*messages = 0;
	for (size_t t = 0; t < r->topics_len; t++) {
		int n = partition_count(rk, r->topics[t], errstr, errstr_size);
		if (n < 0)
			goto out;
		if ((size_t)n > PARTITIONS_MAX - r->parts_len) {
			snprintf(errstr, errstr_size, "more than %d partitions", PARTITIONS_MAX);
			goto out;
		}
		part_t *grown = realloc(r->parts, (r->parts_len + (size_t)n) * sizeof(*grown));
		if (!grown && n) {
			snprintf(errstr, errstr_size, "out of memory");
			goto out;
		}
		r->parts = grown;
		r->base[t] = r->parts_len;
		for (int32_t p = 0; p < n; p++) {
			int64_t lo, hi;
			rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
				rk, r->topics[t], p, &lo, &hi, META_TIMEOUT_MS);
			if (err) {
				snprintf(errstr, errstr_size, "%s [%d]: watermarks: %s",
					 r->topics[t], p, rd_kafka_err2str(err));
				goto out;
			}
			part_t *pt = &r->parts[r->parts_len++];
			pt->topic = (int)t;
			pt->partition = p;
			pt->end = hi;
			pt->done = hi <= lo;
			if (pt->done)
				continue;
			r->parts_left++;
			*messages += (uint64_t)(hi - lo);
			rd_kafka_topic_partition_list_add(assign, r->topics[t], p)->offset = lo;
		}
	}
	if (*messages > MESSAGES_MAX) {
		snprintf(errstr, errstr_size, "%" PRIu64 " messages: more than %d", *messages,
			 MESSAGES_MAX);
		goto out;
	}
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, assign);
	if (err) {
		snprintf(errstr, errstr_size, "assign: %s", rd_kafka_err2str(err));
		goto out;
	}
	rc = 0;
out:
	rd_kafka_topic_partition_list_destroy(assign);
	return rc;
}

static part_t *part_of(reader_t *r, const rd_kafka_message_t *m)
{
	const char *name = rd_kafka_topic_name(m->rkt);
	for (size_t t = 0; t < r->topics_len; t++) {
		if (strcmp(r->topics[t], name) != 0)
			continue;
		size_t next = t + 1 < r->topics_len ? r->base[t + 1] : r->parts_len;
		size_t i = r->base[t] + (size_t)m->partition;
		return i < next ? &r->parts[i] : NULL;
	}
	return NULL;
}

/* The record of (source, id), created when new; NULL when out of memory. */
static rec_t *record(reader_t *r, const char *source, const char *id)
{
	char key[KEY_MAX];
	int len = snprintf(key, sizeof(key), "%s\n%s", source, id);
	if (len < 0 || (size_t)len >= sizeof(key))
		return NULL;
	rec_t *rec = ly_map_get(&r->events, key, (size_t)len);
	if (rec)
		return rec;
	char *owned = ly_arena_strndup(r->arena, key, (size_t)len);
	int found;
	void **slot = owned ? ly_map_put(&r->events, owned, (size_t)len, &found) : NULL;
	if (!slot || !(rec = ly_arena_alloc(r->arena, sizeof(*rec))))
		return NULL;
	rec->in_ms = rec->out_ms = -1;
	*slot = rec;
	return rec;
}

static const char *json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One message: an input event, or an output of one. 0, or -1 when out of
 * memory. */
static int take(reader_t *r, const part_t *pt, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	if (tstype != RD_KAFKA_TIMESTAMP_CREATE_TIME)
		r->not_create_time++;
	cJSON *doc = cJSON_ParseWithLength(m->payload, m->len);
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(doc, "data");
	int rc = 0;
	if (pt->topic != r->activity) {
		const char *source = json_str(doc, "source"), *id = json_str(doc, "id");
		if (!source || !id) {
			r->unparsed++;
			goto out;
		}
		rec_t *rec = record(r, source, id);
		if (!rec) {
			rc = -1;
			goto out;
		}
		rec->in_ms = ts;
		r->inputs++;
		goto out;
	}
	const char *type = json_str(doc, "type");
	if (!type || strcmp(type, "loyalty.points.changed") != 0)
		goto out; /* a tier change, a redemption: not what is timed */
	const char *source = json_str(data, "event_source"), *id = json_str(data, "event_id");
	if (!source || !id) {
		r->unparsed++;
		goto out;
	}
	rec_t *rec = record(r, source, id);
	if (!rec) {
		rc = -1;
		goto out;
	}
	if (ts > rec->out_ms)
		rec->out_ms = ts;
	rec->outputs++;
	r->outputs++;
out:
	cJSON_Delete(doc);
	return rc;
}

/* Reads every planned partition to its end. 0, or -1 with errstr. */
static int read_all(reader_t *r, rd_kafka_t *rk, uint64_t timeout_s, char *errstr,
		    size_t errstr_size)
{
	const int64_t give_up_ms = ly_time_mono_ms() + (int64_t)timeout_s * 1000;
	while (r->parts_left > 0) {
		if (ly_time_mono_ms() > give_up_ms) {
			snprintf(errstr, errstr_size,
				 "%zu partitions not read to their end within %" PRIu64 " s",
				 r->parts_left, timeout_s);
			return -1;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
		if (!m)
			continue;
		part_t *pt = m->rkt ? part_of(r, m) : NULL;
		int rc = 0;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (pt && !pt->done) {
				pt->done = 1;
				r->parts_left--;
			}
		} else if (m->err) {
			fprintf(stderr, "latency: %s\n", rd_kafka_message_errstr(m));
		} else if (pt && !pt->done) {
			rc = take(r, pt, m);
			if (m->offset + 1 >= pt->end) {
				pt->done = 1;
				r->parts_left--;
			}
		}
		rd_kafka_message_destroy(m);
		if (rc) {
			snprintf(errstr, errstr_size, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of them at or below. */
static int64_t percentile(const int64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p * (double)n);
	return v[rank ? rank - 1 : 0];
}

typedef struct figures {
	size_t n, inputs_unchanged, outputs_unmatched, warmup;
	int64_t p50, p90, p99, p999, max;
	double mean;
} figures_t;

/* The latencies of the events seen on both sides, sorted, into *out (the
 * caller frees). -1 when out of memory. */
static int collect(reader_t *r, int64_t since_ms, int64_t **out, figures_t *f)
{
	int64_t *v = malloc((r->events.len ? r->events.len : 1) * sizeof(*v));
	if (!v)
		return -1;
	memset(f, 0, sizeof(*f));
	double sum = 0;
	for (size_t i = 0; i < r->events.cap; i++) {
		const rec_t *rec = r->events.slots[i].key ? r->events.slots[i].value : NULL;
		if (!rec)
			continue;
		if (rec->in_ms < 0) {
			f->outputs_unmatched += rec->outputs;
		} else if (rec->in_ms < since_ms) {
			f->warmup++;
		} else if (rec->out_ms < 0) {
			f->inputs_unchanged++;
		} else {
			v[f->n++] = rec->out_ms - rec->in_ms;
			sum += (double)(rec->out_ms - rec->in_ms);
		}
	}
	qsort(v, f->n, sizeof(*v), cmp_i64);
	if (f->n) {
		f->p50 = percentile(v, f->n, 0.50);
		f->p90 = percentile(v, f->n, 0.90);
		f->p99 = percentile(v, f->n, 0.99);
		f->p999 = percentile(v, f->n, 0.999);
		f->max = v[f->n - 1];
		f->mean = sum / (double)f->n;
	}
	*out = v;
	return 0;
}

/* "ms fraction" at every distinct value: the empirical CDF. */
static int write_cdf(const char *path, const int64_t *v, size_t n)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "latency: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "# latency_ms fraction_at_or_below\n");
	for (size_t i = 0; i < n; i++)
		if (i + 1 == n || v[i + 1] != v[i])
			fprintf(f, "%" PRId64 " %.6f\n", v[i], (double)(i + 1) / (double)n);
	if (fclose(f) != 0) {
		fprintf(stderr, "latency: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

static int write_json(const char *path, const reader_t *r, const figures_t *f)
{
	FILE *out = fopen(path, "w");
	if (!out) {
		fprintf(stderr, "latency: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(out,
		"{\"inputs\": %" PRIu64 ", \"points_changed\": %" PRIu64
		", \"events_timed\": %zu, \"events_without_points_change\": %zu"
		", \"warmup_events\": %zu"
		", \"points_changed_of_no_input\": %zu, \"p50_ms\": %" PRId64
		", \"p90_ms\": %" PRId64 ", \"p99_ms\": %" PRId64 ", \"p999_ms\": %" PRId64
		", \"max_ms\": %" PRId64 ", \"mean_ms\": %.1f}\n",
		r->inputs, r->outputs, f->n, f->inputs_unchanged, f->warmup, f->outputs_unmatched,
		f->p50, f->p90, f->p99, f->p999, f->max, f->mean);
	if (fclose(out) != 0) {
		fprintf(stderr, "latency: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	options_t o;
	int status = parse_args(&o, argc, argv);
	if (status)
		return status;
	status = 1;

	char errstr[1024];
	ly_config_t cfg = {0};
	rd_kafka_t *rk = NULL;
	reader_t r = {0};
	int64_t *lat = NULL;
	uint64_t messages;
	figures_t f;
	if (ly_config_load(&cfg, o.config_path, environ, errstr, sizeof(errstr))) {
		fprintf(stderr, "latency: %s\n", errstr);
		goto out;
	}
	ly_log_level_t level;
	if (ly_log_parse_level(cfg.log_level, &level) == 0)
		ly_log_set_level(level);
	r.topics_len = ly_kafka_input_topics(&cfg, r.topics, TOPICS_MAX - 1);
	r.activity = (int)r.topics_len;
	r.topics[r.topics_len++] = cfg.topic_activity;
	if (!(rk = consumer_new(&cfg, o.brokers ? o.brokers : cfg.kafka_brokers, errstr,
				sizeof(errstr))) ||
	    plan(&r, rk, &messages, errstr, sizeof(errstr))) {
		fprintf(stderr, "latency: %s\n", errstr);
		goto out;
	}
	if (!(r.arena = ly_arena_new(1u << 20)) ||
	    ly_map_init(&r.events, r.arena, (size_t)messages + 1)) {
		fprintf(stderr, "latency: out of memory\n");
		goto out;
	}
	if (read_all(&r, rk, o.timeout_s, errstr, sizeof(errstr))) {
		fprintf(stderr, "latency: %s\n", errstr);
		goto out;
	}
	if (collect(&r, (int64_t)o.since_ms, &lat, &f)) {
		fprintf(stderr, "latency: out of memory\n");
		goto out;
	}
	printf("input events         %" PRIu64 "\n", r.inputs);
	printf("points.changed       %" PRIu64 " (%zu of no input event: triggers, scheduler)\n",
	       r.outputs, f.outputs_unmatched);
	printf("events timed         %zu (%zu without a points change)\n", f.n,
	       f.inputs_unchanged);
	if (f.warmup)
		printf("warm-up              %zu events before --since-ms, not timed\n",
		       f.warmup);
	if (r.unparsed || r.not_create_time)
		printf("ignored              %" PRIu64 " unreadable, %" PRIu64
		       " not CreateTime\n", r.unparsed, r.not_create_time);
	printf("latency ms           p50 %" PRId64 "  p90 %" PRId64 "  p99 %" PRId64
	       "  p99.9 %" PRId64 "  max %" PRId64 "  mean %.1f\n",
	       f.p50, f.p90, f.p99, f.p999, f.max, f.mean);
	if (f.n == 0) {
		fprintf(stderr, "latency: no input event has a points.changed\n");
		goto out;
	}
	if (o.cdf_path && write_cdf(o.cdf_path, lat, f.n))
		goto out;
	if (o.json_path && write_json(o.json_path, &r, &f))
		goto out;
	status = 0;
out:
	free(lat);
	free(r.parts);
	ly_arena_destroy(r.arena);
	if (rk) {
		rd_kafka_assign(rk, NULL);
		rd_kafka_destroy(rk);
	}
	ly_config_free(&cfg);
	return status;
}
