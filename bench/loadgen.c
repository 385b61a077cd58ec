/*
 * loadgen.c: the load of the whole-path benchmark (bench/run.sh). Writes
 * the example shop's events (bench/gen.c: the mix and the Zipf-like
 * customers engine_bench runs, refunds of the customers' own recent
 * orders) to the input topics of the config loyaltyd reads, keyed by
 * customer id, with librdkafka's idempotent producer (acks=all).
 *
 *   loadgen [--config FILE] (--count N | --rate R --seconds S) [--seed S]
 *           [--customers N] [--days D] [--first N] [--brokers LIST]
 *           [--json FILE]
 *   loadgen [--config FILE] [--brokers LIST] --delete-topics
 *
 * --count N writes a backlog as fast as the broker takes it; the events'
 * times are spread evenly, in order, over the D days up to now (a year by
 * default), so limits, periods and tiers see a year's history. --rate R
 * --seconds S writes R events a second, paced on the monotonic clock; each
 * event's time is the wall clock when it is made. --first N numbers the
 * events (their ids, and the ids of their orders, reviews and interactions)
 * from N, so a load can follow a backlog of N events into the same schema
 * without repeating its ids; with the same --seed it is the same shop,
 * the same customers as popular. Either way a message's
 * Kafka timestamp is its produce time (CreateTime, set by librdkafka when
 * the message is handed to it), which bench/latency.c measures from.
 *
 * Every event is one loyaltyd accepts under
 * examples/programs/anadolu-market.yaml: nothing should reach the DLQ.
 * --delete-topics deletes the config's eight topics (inputs and outputs),
 * the benchmark's clean-up.
 * Exit status: 0 when the broker acknowledged every message, 1 when not,
 * 2 for bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loyalty/config.h"
#include "loyalty/kafka.h"
#include "loyalty/util.h"

#include "gen.h"

extern char **environ;

#define DEFAULT_SEED 42u
#define DEFAULT_CUSTOMERS 200000u
#define DEFAULT_DAYS 365u
#define COUNT_MAX 1000000000u
#define RATE_MAX 10000000u
#define SECONDS_MAX 86400u
#define DAYS_MAX 3650u
#define FLUSH_MS 120000
#define ADMIN_TIMEOUT_MS 60000
/* librdkafka's queue: enough for a second of any rate we pace. */
#define QUEUE_MESSAGES_MAX "1000000"

typedef struct options {
	const char *config_path, *brokers, *json_path;
	uint64_t count, rate, seconds, seed, customers, days, first;
	int delete_topics;
} options_t;

/* What was written, for the report. */
typedef struct tally {
	uint64_t queued, delivered, failed;
	char error[256]; /* the first failure's reason */
	uint64_t by_type[GEN_TYPE__COUNT];
	uint64_t by_topic[GEN_TOPIC__COUNT];
	uint64_t bytes;
	uint64_t customers_seen;
	int64_t first_time_us, last_time_us;
	double seconds;     /* from the first produce call to the last ack */
	double behind_max_s; /* --rate: the most the sender lagged its schedule */
} tally_t;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen [--config FILE] (--count N | --rate R --seconds S)\n"
		"               [--seed S] [--customers N] [--days D] [--first N]\n"
		"               [--brokers LIST] [--json FILE]\n"
		"       loadgen [--config FILE] [--brokers LIST] --delete-topics\n"
		"\n"
		"Writes the benchmark's events to the configured input topics (the\n"
		"LOYALTY_TOPICS_* and LOYALTY_KAFKA_* settings loyaltyd reads).\n"
		"  --count N       a backlog of N events (1..%u), as fast as it goes;\n"
		"                  event times spread over the D days up to now\n"
		"  --rate R        R events a second (1..%u), for --seconds S (1..%u);\n"
		"                  event times are the wall clock\n"
		"  --seed S        the workload's seed (default %u)\n"
		"  --customers N   customers, Zipf-like popularity (1..%u, default %u)\n"
		"  --days D        --count: days of history (1..%u, default %u)\n"
		"  --first N       number the events (and their orders' ids) from N\n"
		"                  (default 0), to follow a backlog of N events\n"
		"  --brokers LIST  bootstrap servers (default: kafka.brokers)\n"
		"  --json FILE     also write the figures to FILE as JSON\n"
		"  --delete-topics delete the configured topics, inputs and outputs\n",
		COUNT_MAX, RATE_MAX, SECONDS_MAX, DEFAULT_SEED, GEN_CUSTOMERS_MAX,
		DEFAULT_CUSTOMERS, DAYS_MAX, DEFAULT_DAYS);
}

/* 0, or 2 after printing the usage. */
static int parse_args(options_t *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	o->seed = DEFAULT_SEED;
	o->customers = DEFAULT_CUSTOMERS;
	o->days = DEFAULT_DAYS;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--delete-topics") == 0) {
			o->delete_topics = 1;
			continue;
		} else if (strcmp(a, "--count") == 0) {
			bad = ly_parse_u64(v, 1, COUNT_MAX, &o->count);
		} else if (strcmp(a, "--rate") == 0) {
			bad = ly_parse_u64(v, 1, RATE_MAX, &o->rate);
		} else if (strcmp(a, "--seconds") == 0) {
			bad = ly_parse_u64(v, 1, SECONDS_MAX, &o->seconds);
		} else if (strcmp(a, "--seed") == 0) {
			bad = ly_parse_u64(v, 0, UINT64_MAX, &o->seed);
		} else if (strcmp(a, "--customers") == 0) {
			bad = ly_parse_u64(v, 1, GEN_CUSTOMERS_MAX, &o->customers);
		} else if (strcmp(a, "--days") == 0) {
			bad = ly_parse_u64(v, 1, DAYS_MAX, &o->days);
		} else if (strcmp(a, "--first") == 0) {
			bad = ly_parse_u64(v, 0, COUNT_MAX, &o->first);
		} else if (strcmp(a, "--config") == 0) {
			bad = !v;
			o->config_path = v;
		} else if (strcmp(a, "--brokers") == 0) {
			bad = !v || !*v;
			o->brokers = v;
		} else if (strcmp(a, "--json") == 0) {
			bad = !v || !*v;
			o->json_path = v;
		} else {
			fprintf(stderr, "loadgen: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "loadgen: %s: bad value %s%s%s\n", a,
				v ? "\"" : "(missing)", v ? v : "", v ? "\"" : "");
			usage(stderr);
			return 2;
		}
		i++;
	}
	if (o->delete_topics) {
		if (!o->count && !o->rate && !o->seconds)
			return 0;
		fprintf(stderr, "loadgen: --delete-topics writes nothing\n");
		usage(stderr);
		return 2;
	}
	if (!o->count == !o->rate || !o->rate != !o->seconds) {
		fprintf(stderr, "loadgen: give either --count N, or --rate R and --seconds S\n");
		usage(stderr);
		return 2;
	}
	if (o->rate && o->rate * o->seconds > COUNT_MAX) {
		fprintf(stderr, "loadgen: --rate times --seconds is more than %u events\n",
			COUNT_MAX);
		usage(stderr);
		return 2;
	}
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Counts each message's fate; the producer's opaque is the tally. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	tally_t *t = opaque;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		t->delivered++;
	} else if (t->failed++ == 0) {
		snprintf(t->error, sizeof(t->error), "%s", rd_kafka_err2str(m->err));
	}
}

/* The idempotent producer, batching for a backlog, lingering little when
 * paced. NULL with errstr. */
static rd_kafka_t *producer_new(const ly_config_t *cfg, const char *brokers, int paced,
				tally_t *t, char *errstr, size_t errstr_size)
{
	const char *props[] = {
		"client.id", "loadgen",
		"enable.idempotence", "true",
		"acks", "all",
		"linger.ms", paced ? "5" : "50",
		"batch.size", paced ? "131072" : "1048576",
		"queue.buffering.max.messages", QUEUE_MESSAGES_MAX,
		"message.timeout.ms", "120000",
		NULL,
	};
	char err[512];
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
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, t);
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(errstr, errstr_size, "kafka producer: %s", err);
	}
	return rk;
}

/* Hands one message to librdkafka (copied), waiting while its queue is
 * full. 0, or 1 after printing the error. */
static int send_one(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const gen_event_t *ev,
		    const ly_buf_t *json, tally_t *t)
{
	for (;;) {
		rd_kafka_resp_err_t err = rd_kafka_producev(
			rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
			RD_KAFKA_V_KEY(ev->key, strlen(ev->key)),
			RD_KAFKA_V_VALUE(json->data, json->len),
			RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			fprintf(stderr, "loadgen: produce to %s: %s\n", rd_kafka_topic_name(rkt),
				rd_kafka_err2str(err));
			return 1;
		}
		rd_kafka_poll(rk, 10);
	}
	t->queued++;
	t->bytes += json->len;
	t->by_type[ev->type]++;
	t->by_topic[ev->topic]++;
	if (t->queued == 1)
		t->first_time_us = ev->time_us;
	t->last_time_us = ev->time_us;
	return 0;
}

/* Sleeps until the monotonic clock reads at_s. */
static void sleep_until(double at_s)
{
	struct timespec ts;
	ts.tv_sec = (time_t)at_s;
	ts.tv_nsec = (long)((at_s - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Makes and sends the events. A backlog's times are spread over the days
 * up to now; paced events carry the wall clock. seen marks customers with
 * an event. 0 or 1.
 */
static int run(const options_t *o, rd_kafka_t *rk, rd_kafka_topic_t *const *rkts,
	       uint8_t *seen, tally_t *t)
{
	gen_t gen = {0};
	gen_event_t ev;
	ly_buf_t json = {0};
	int status = 1;
	const uint64_t n = o->rate ? o->rate * o->seconds : o->count;
	const int64_t span_us = (int64_t)o->days * LY_US_PER_DAY;
	const int64_t start_us = ly_time_now_us() - span_us;
	json.max = GEN_JSON_MAX;
	if (gen_init(&gen, o->seed, (size_t)o->customers, GEN_OWN_ORDERS)) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	const double t0 = mono_s();
	for (uint64_t i = 0; i < n; i++) {
		int64_t time_us;
		if (o->rate) {
			double due = t0 + (double)i / (double)o->rate, now = mono_s();
			if (due > now) {
				rd_kafka_poll(rk, 0);
				sleep_until(due);
			} else if (now - due > t->behind_max_s) {
				t->behind_max_s = now - due;
			}
			time_us = ly_time_now_us();
		} else {
			time_us = gen_time_in_span(start_us, span_us, (size_t)i, (size_t)n);
		}
		if (gen_next(&gen, &json, (size_t)(o->first + i), time_us, 0, &ev)) {
			fprintf(stderr, "loadgen: event %" PRIu64 " does not fit %d bytes\n", i,
				GEN_JSON_MAX);
			goto out;
		}
		if (send_one(rk, rkts[ev.topic], &ev, &json, t))
			goto out;
		t->customers_seen += !seen[ev.customer];
		seen[ev.customer] = 1;
		if ((i & 1023) == 0)
			rd_kafka_poll(rk, 0);
	}
	/* every acknowledgement in, or the flush's time is up */
	const double flush_until = mono_s() + FLUSH_MS / 1000.0;
	while (rd_kafka_outq_len(rk) > 0 && mono_s() < flush_until)
		rd_kafka_flush(rk, 1000);
	t->seconds = mono_s() - t0;
	status = 0;
out:
	gen_free(&gen);
	ly_buf_free(&json);
	return status;
}

static void report(FILE *f, const options_t *o, const ly_config_t *cfg, const tally_t *t)
{
	const char *topics[GEN_TOPIC__COUNT] = {cfg->topic_customers, cfg->topic_orders,
						cfg->topic_reviews, cfg->topic_social};
	char first[48], last[48];
	ly_time_format_rfc3339(t->first_time_us / 1000000 * 1000000, first, sizeof(first));
	ly_time_format_rfc3339(t->last_time_us / 1000000 * 1000000, last, sizeof(last));
	fprintf(f, "mode                 %s\n", o->rate ? "paced" : "backlog");
	if (o->rate)
		fprintf(f, "rate                 %" PRIu64 " events/s for %" PRIu64
			   " s (at most %.3f s behind schedule)\n",
			o->rate, o->seconds, t->behind_max_s);
	fprintf(f, "events               %" PRIu64 " queued, %" PRIu64 " acknowledged, %" PRIu64
		   " failed%s%s\n",
		t->queued, t->delivered, t->failed, t->failed ? ": " : "", t->error);
	for (int k = 0; k < GEN_TYPE__COUNT; k++)
		fprintf(f, "  %-19s%" PRIu64 " (%.1f%%)\n", gen_type_name((gen_type_t)k),
			t->by_type[k],
			t->queued ? 100.0 * (double)t->by_type[k] / (double)t->queued : 0.0);
	for (int k = 0; k < GEN_TOPIC__COUNT; k++)
		fprintf(f, "topic                %s: %" PRIu64 "\n", topics[k], t->by_topic[k]);
	fprintf(f, "customers            %" PRIu64 " (%" PRIu64 " with events, zipf s=%.1f)\n",
		o->customers, t->customers_seen, GEN_ZIPF_S);
	fprintf(f, "seed                 %" PRIu64 "\n", o->seed);
	fprintf(f, "event times          %s .. %s\n", first, last);
	fprintf(f, "bytes                %" PRIu64 " (%.0f per event)\n", t->bytes,
		t->queued ? (double)t->bytes / (double)t->queued : 0.0);
	fprintf(f, "seconds              %.3f (first produce to last acknowledgement)\n",
		t->seconds);
	fprintf(f, "events/s             %.0f\n",
		t->seconds > 0 ? (double)t->delivered / t->seconds : 0.0);
}

static int write_json(const char *path, const options_t *o, const tally_t *t)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f, "{\"mode\": \"%s\", \"events\": %" PRIu64 ", \"acknowledged\": %" PRIu64
		   ", \"failed\": %" PRIu64 ", \"rate\": %" PRIu64 ", \"seconds_asked\": %" PRIu64
		   ", \"seed\": %" PRIu64 ", \"customers\": %" PRIu64
		   ", \"customers_with_events\": %" PRIu64 ", \"bytes\": %" PRIu64
		   ", \"seconds\": %.3f, \"events_per_s\": %.0f, \"behind_max_s\": %.3f,"
		   " \"by_type\": {",
		o->rate ? "paced" : "backlog", t->queued, t->delivered, t->failed, o->rate,
		o->seconds, o->seed, o->customers, t->customers_seen, t->bytes, t->seconds,
		t->seconds > 0 ? (double)t->delivered / t->seconds : 0.0, t->behind_max_s);
	for (int k = 0; k < GEN_TYPE__COUNT; k++)
		fprintf(f, "%s\"%s\": %" PRIu64, k ? ", " : "", gen_type_name((gen_type_t)k),
			t->by_type[k]);
	fprintf(f, "}}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "loadgen: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

/* Deletes the config's topics; one that does not exist is no error. 0 or
 * 1 after printing what failed. */
static int delete_topics(const ly_config_t *cfg, const char *brokers)
{
	const char *names[] = {cfg->topic_customers, cfg->topic_orders, cfg->topic_reviews,
			       cfg->topic_social,    cfg->topic_requests, cfg->topic_offers,
			       cfg->topic_activity,  cfg->topic_dlq};
	rd_kafka_DeleteTopic_t *dt[LY_ARRAY_LEN(names)] = {0};
	rd_kafka_AdminOptions_t *opts = NULL;
	rd_kafka_queue_t *q = NULL;
	rd_kafka_event_t *ev = NULL;
	char errstr[1024];
	int status = 1;
	rd_kafka_conf_t *conf = ly_kafka_conf_new(cfg, brokers, errstr, sizeof(errstr));
	if (!conf) {
		fprintf(stderr, "loadgen: %s\n", errstr);
		return 1;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "loadgen: kafka admin: %s\n", errstr);
		return 1;
	}
	for (size_t i = 0; i < LY_ARRAY_LEN(names); i++)
		dt[i] = rd_kafka_DeleteTopic_new(names[i]);
	q = rd_kafka_queue_new(rk);
	opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DELETETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(opts, ADMIN_TIMEOUT_MS, errstr,
						    sizeof(errstr));
	rd_kafka_DeleteTopics(rk, dt, LY_ARRAY_LEN(names), opts, q);
	ev = rd_kafka_queue_poll(q, ADMIN_TIMEOUT_MS + 5000);
	const rd_kafka_DeleteTopics_result_t *res = ev ? rd_kafka_event_DeleteTopics_result(ev)
						       : NULL;
	if (!res) {
		fprintf(stderr, "loadgen: delete topics: %s\n",
			ev ? rd_kafka_event_error_string(ev) : "no answer");
		goto out;
	}
	size_t n;
	const rd_kafka_topic_result_t **r = rd_kafka_DeleteTopics_result_topics(res, &n);
	status = 0;
	for (size_t i = 0; i < n; i++) {
		rd_kafka_resp_err_t err = rd_kafka_topic_result_error(r[i]);
		if (err && err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
			fprintf(stderr, "loadgen: delete topic %s: %s\n",
				rd_kafka_topic_result_name(r[i]), rd_kafka_err2str(err));
			status = 1;
		}
	}
	if (!status)
		printf("deleted              %zu topics\n", n);
out:
	if (ev)
		rd_kafka_event_destroy(ev);
	rd_kafka_AdminOptions_destroy(opts);
	rd_kafka_queue_destroy(q);
	for (size_t i = 0; i < LY_ARRAY_LEN(names); i++)
		rd_kafka_DeleteTopic_destroy(dt[i]);
	rd_kafka_destroy(rk);
	return status;
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
	rd_kafka_topic_t *rkts[GEN_TOPIC__COUNT] = {0};
	uint8_t *seen = NULL;
	tally_t t = {0};
	if (ly_config_load(&cfg, o.config_path, environ, errstr, sizeof(errstr))) {
		fprintf(stderr, "loadgen: %s\n", errstr);
		goto out;
	}
	ly_log_level_t level;
	if (ly_log_parse_level(cfg.log_level, &level) == 0)
		ly_log_set_level(level);
	if (strcmp(o.brokers ? o.brokers : cfg.kafka_brokers, "embedded") == 0) {
		fprintf(stderr, "loadgen: kafka.brokers is \"embedded\": give --brokers\n");
		goto out;
	}
	if (o.delete_topics) {
		status = delete_topics(&cfg, o.brokers ? o.brokers : cfg.kafka_brokers);
		goto out;
	}
	if (!(seen = calloc((size_t)o.customers, 1))) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	rk = producer_new(&cfg, o.brokers ? o.brokers : cfg.kafka_brokers, o.rate != 0, &t,
			  errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "loadgen: %s\n", errstr);
		goto out;
	}
	const char *names[GEN_TOPIC__COUNT] = {cfg.topic_customers, cfg.topic_orders,
					       cfg.topic_reviews, cfg.topic_social};
	for (int k = 0; k < GEN_TOPIC__COUNT; k++) {
		if (!(rkts[k] = rd_kafka_topic_new(rk, names[k], NULL))) {
			fprintf(stderr, "loadgen: topic \"%s\": %s\n", names[k],
				rd_kafka_err2str(rd_kafka_last_error()));
			goto out;
		}
	}
	/* Paced, the clock starts with the producer connected and the topics
	 * known: its start-up is not counted as the first events' latency. */
	for (int k = 0; o.rate && k < GEN_TOPIC__COUNT; k++) {
		const struct rd_kafka_metadata *md;
		rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkts[k], &md, ADMIN_TIMEOUT_MS);
		if (err) {
			fprintf(stderr, "loadgen: topic \"%s\": %s\n", names[k],
				rd_kafka_err2str(err));
			goto out;
		}
		rd_kafka_metadata_destroy(md);
	}
	if (run(&o, rk, rkts, seen, &t))
		goto out;
	report(stdout, &o, &cfg, &t);
	if (t.delivered != t.queued) {
		fprintf(stderr, "loadgen: %" PRIu64 " of %" PRIu64 " messages not acknowledged%s%s\n",
			t.queued - t.delivered, t.queued, t.failed ? ": " : "", t.error);
		goto out;
	}
	if (o.json_path && write_json(o.json_path, &o, &t))
		goto out;
	status = 0;
out:
	for (int k = 0; k < GEN_TOPIC__COUNT; k++)
		if (rkts[k])
			rd_kafka_topic_destroy(rkts[k]);
	if (rk)
		rd_kafka_destroy(rk);
	free(seen);
	ly_config_free(&cfg);
	return status;
}
