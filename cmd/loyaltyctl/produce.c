/*
 * produce.c: sample traffic. `produce` writes N realistic events (orders
 * with 2-5 items, refunds and cancellations of earlier orders, reviews,
 * social interactions), keyed by customer, the same for the same --seed;
 * `topics` creates the configured topics. The producer the subcommands
 * that publish share (ctl_producer_*, ctl.h) is here too.
 *
 * --requests also writes about 5% of the events on the requests topic:
 * points.adjust credits and points.redeem of the rewards of the program
 * the config names (plus now and then a reward the catalogue does not
 * have, and a retry of the customer's last request under its request_id,
 * which changes nothing). Without it the output is byte for byte what it
 * was, so every other test's input stays put.
 *
 * The redemptions come out the same whatever order a worker applies the
 * topics in (SPEC section 8: across topics there is no order). Each
 * customer has a "reserve": its adjust credits - the costs of its redeems
 * written so far; a redeem is written only when the reserve covers its
 * cost. The customer's requests partition is applied in order, so at a
 * redeem the requests topic has added exactly the reserve to the
 * available points, and every other topic has added a net >= 0 at any
 * point of its partition: reviews and social only credit, and on orders a
 * refund (held until its order when it comes first) reverses per rule at
 * most what that rule earned on the order, from the rule's pending lot of
 * the order first, the rest from points that order made available. The
 * logs are meant for runs without scheduler passes (the integration tests
 * and the fault matrix), where no pending point is released and none
 * expires. So the available points at a redeem are >= the reserve >= the
 * cost in every interleaving: every redeem of a known reward completes,
 * and one of an unknown reward is rejected (unknown_reward) in every
 * interleaving.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "loyalty/kafka.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

/* splitmix64: small, fast, and the same everywhere. */
static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t rand_range(uint64_t *s, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(next_rand(s) % (uint64_t)(hi - lo + 1));
}

static const char *const categories[] = {"electronics", "fashion", "home", "outdoor",
					 "beauty", "toys", "books", "sports"};
static const char *const platforms[] = {"instagram", "tiktok", "x", "facebook",
					"youtube", "other"};
static const char *const actions[] = {"follow", "share", "like", "comment",
				      "mention", "ugc"};
static const char *const adjust_reasons[] = {"goodwill", "late delivery",
					     "complaint"};
/* The id --requests redeems as a reward the catalogue no longer has. */
#define RETIRED_REWARD "retired-reward"
/* Under --requests one customer in REQUESTERS_EVERY makes requests, with
 * REQUESTS_PERCENT of its events: about 5% of all, and most requesters
 * make several, so that redeems follow the credits that cover them. */
#define REQUESTERS_EVERY 4
#define REQUESTS_PERCENT 20

typedef struct sample {
	const char *topic;
	char key[64];
	ly_buf_t value;
} sample_t;

/* The last paid order of each customer, for refunds. */
typedef struct last_order {
	int64_t index; /* -1: none */
	int64_t total;
	int64_t refunded;
} last_order_t;

/* Each customer's requests under --requests (see the top). */
typedef struct requester {
	int64_t reserve; /* adjust credits - redeem costs written so far */
	int64_t last;    /* the index of the last request (its id); -1: none */
	const char *last_reward; /* its reward (a redeem), or NULL (an adjust) */
	int64_t last_points;     /* an adjust's points */
	const char *last_reason; /* an adjust's reason */
} requester_t;

static void envelope(ly_buf_t *b, uint64_t seed, int64_t i, const char *type,
		     int64_t time_us)
{
	char ts[40];
	ly_time_format_rfc3339(time_us, ts, sizeof(ts));
	ly_buf_printf(b,
		      "{\"specversion\":\"1.0\",\"id\":\"evt-%llu-%lld\","
		      "\"source\":\"urn:loyaltyctl:produce\",\"type\":\"%s\",\"time\":\"%s\","
		      "\"datacontenttype\":\"application/json\",\"data\":{",
		      (unsigned long long)seed, (long long)i, type, ts);
}

/*
 * One request of customer out->key (the time and event id of index i):
 * one in 20 a retry of its last request, one in 20 a redeem of the
 * retired reward, else a redeem of a random reward when the reserve covers
 * its cost and an adjust credit (+1000..+3000) when it does not.
 */
static void make_request(sample_t *out, const ly_config_t *cfg, uint64_t seed,
			 uint64_t *rng, int64_t i, int64_t time_us,
			 const ly_program_t *program, requester_t *rq)
{
	ly_buf_t *b = &out->value;
	out->topic = cfg->topic_requests;
	int64_t k = rand_range(rng, 0, 19);
	if (k == 0 && rq->last >= 0) {
		/* the same request again (a client's retry): applied once */
	} else if (k == 1) {
		rq->last = i;
		rq->last_reward = RETIRED_REWARD;
	} else {
		const ly_reward_t *reward =
			&program->rewards[rand_range(rng, 0, (int64_t)program->rewards_len - 1)];
		rq->last = i;
		if (rq->reserve >= reward->cost) {
			rq->last_reward = reward->id;
			rq->reserve -= reward->cost;
		} else {
			rq->last_reward = NULL;
			rq->last_points = rand_range(rng, 1000, 3000);
			rq->last_reason = adjust_reasons[rand_range(
				rng, 0, LY_ARRAY_LEN(adjust_reasons) - 1)];
			rq->reserve += rq->last_points;
		}
	}
	envelope(b, seed, i, rq->last_reward ? "points.redeem" : "points.adjust", time_us);
	ly_buf_printf(b, "\"request_id\":\"q-%llu-%lld\",\"customer_id\":\"%s\"",
		      (unsigned long long)seed, (long long)rq->last, out->key);
	if (rq->last_reward)
		ly_buf_printf(b, ",\"reward\":\"%s\"}}", rq->last_reward);
	else
		ly_buf_printf(b, ",\"points\":%lld,\"reason\":\"%s\"}}",
			      (long long)rq->last_points, rq->last_reason);
}

/* One event of index i. program and requesters are NULL without
 * --requests, which then draws nothing more from rng. */
static void make_sample(sample_t *out, const ly_config_t *cfg, uint64_t seed,
			uint64_t *rng, int64_t i, int64_t customers,
			last_order_t *orders, const ly_program_t *program,
			requester_t *requesters)
{
	int64_t c = rand_range(rng, 0, customers - 1);
	/* 2026-11-01T00:00:00Z plus 7 s per event: a busy shop's day. */
	int64_t time_us = (ly_days_from_civil(2026, 11, 1) * 86400 + i * 7) * 1000000;
	snprintf(out->key, sizeof(out->key), "c%05lld", (long long)c);
	ly_buf_t *b = &out->value;
	ly_buf_reset(b);
	if (requesters) {
		int64_t q = rand_range(rng, 0, 99);
		if (c % REQUESTERS_EVERY == 0 && q < REQUESTS_PERCENT) {
			make_request(out, cfg, seed, rng, i, time_us, program,
				     &requesters[c]);
			return;
		}
	}
	int64_t r = rand_range(rng, 0, 99);
	last_order_t *lo = &orders[c];
	if (r < 10 && lo->index >= 0 && lo->refunded < lo->total) {
		out->topic = cfg->topic_orders;
		int cancel = rand_range(rng, 0, 3) == 0;
		envelope(b, seed, i, cancel ? "order.cancelled" : "order.refunded", time_us);
		ly_buf_printf(b, "\"order_id\":\"o-%llu-%lld\",\"customer_id\":\"%s\"",
			      (unsigned long long)seed, (long long)lo->index, out->key);
		if (!cancel && rand_range(rng, 0, 1)) {
			int64_t amount = rand_range(rng, 1, lo->total - lo->refunded);
			ly_buf_printf(b, ",\"amount\":%lld", (long long)amount);
			lo->refunded += amount;
		} else {
			lo->refunded = lo->total;
		}
		ly_buf_puts(b, "}}");
		return;
	}
	if (r < 65) {
		out->topic = cfg->topic_orders;
		envelope(b, seed, i, "order.paid", time_us);
		int items = (int)rand_range(rng, 2, 5);
		int64_t total = 0;
		ly_buf_t it = {0};
		for (int k = 0; k < items; k++) {
			int64_t qty = rand_range(rng, 1, 3);
			int64_t price = rand_range(rng, 5, 500) * 100 + rand_range(rng, 0, 99);
			total += qty * price;
			ly_buf_printf(&it,
				      "%s{\"sku\":\"sku-%lld\",\"category\":\"%s\","
				      "\"quantity\":%lld,\"unit_price\":%lld}",
				      k ? "," : "", (long long)rand_range(rng, 1, 5000),
				      categories[rand_range(rng, 0, LY_ARRAY_LEN(categories) - 1)],
				      (long long)qty, (long long)price);
		}
		ly_buf_printf(b,
			      "\"order_id\":\"o-%llu-%lld\",\"customer_id\":\"%s\","
			      "\"total\":%lld,\"currency\":\"TRY\",\"items\":[%s]}}",
			      (unsigned long long)seed, (long long)i, out->key,
			      (long long)total, it.data);
		ly_buf_free(&it);
		lo->index = i;
		lo->total = total;
		lo->refunded = 0;
		return;
	}
	if (r < 85) {
		out->topic = cfg->topic_reviews;
		envelope(b, seed, i, "review.submitted", time_us);
		ly_buf_printf(b,
			      "\"review_id\":\"r-%llu-%lld\",\"customer_id\":\"%s\","
			      "\"product_id\":\"sku-%lld\",\"rating\":%lld,"
			      "\"verified_purchase\":%s,\"has_photo\":%s,\"text_length\":%lld}}",
			      (unsigned long long)seed, (long long)i, out->key,
			      (long long)rand_range(rng, 1, 5000), (long long)rand_range(rng, 1, 5),
			      rand_range(rng, 0, 3) ? "true" : "false",
			      rand_range(rng, 0, 2) ? "false" : "true",
			      (long long)rand_range(rng, 0, 2000));
		return;
	}
	out->topic = cfg->topic_social;
	envelope(b, seed, i, "social.interaction", time_us);
	ly_buf_printf(b,
		      "\"interaction_id\":\"s-%llu-%lld\",\"customer_id\":\"%s\","
		      "\"platform\":\"%s\",\"action\":\"%s\"}}",
		      (unsigned long long)seed, (long long)i, out->key,
		      platforms[rand_range(rng, 0, LY_ARRAY_LEN(platforms) - 1)],
		      actions[rand_range(rng, 0, LY_ARRAY_LEN(actions) - 1)]);
}

int ctl_parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
	char *end;
	/* strtoll would also take leading blanks */
	if (!(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
		return -1;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || errno == ERANGE || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* ---- the producer the subcommands that publish share ---- */

/* Counts each message's fate; the message's opaque is its producer. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	ctl_producer_t *p = m->_private;
	if (!p)
		return;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		p->delivered++;
	} else if (p->failed++ == 0) {
		snprintf(p->error, sizeof(p->error), "%s", rd_kafka_err2str(m->err));
	}
}

int ctl_producer_open(ctl_t *ctl, ctl_producer_t *p, const char *brokers)
{
	char errstr[1024];
	memset(p, 0, sizeof(*p));
	if (ctl_config(ctl))
		return 1;
	p->rk = ly_kafka_producer_new(&ctl->cfg, brokers ? brokers : ctl->cfg.kafka_brokers,
				      on_delivery, errstr, sizeof(errstr));
	if (!p->rk) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	return 0;
}

int ctl_producer_send(ctl_producer_t *p, const char *what, const char *topic,
		      const char *key, const void *value, size_t value_len,
		      const ly_header_t *headers, size_t headers_len)
{
	rd_kafka_vu_t vu[5 + CTL_PRODUCER_HEADERS_MAX];
	size_t n = 0;
	LY_ASSERT(p->rk && headers_len <= CTL_PRODUCER_HEADERS_MAX);
	vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
	vu[n++].u.cstr = topic;
	vu[n].vtype = RD_KAFKA_VTYPE_KEY;
	vu[n].u.mem.ptr = (void *)key;
	vu[n++].u.mem.size = strlen(key);
	vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
	vu[n].u.mem.ptr = (void *)value;
	vu[n++].u.mem.size = value_len;
	vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
	vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
	vu[n++].u.ptr = p;
	for (size_t i = 0; i < headers_len; i++) {
		vu[n].vtype = RD_KAFKA_VTYPE_HEADER;
		vu[n].u.header.name = headers[i].key;
		vu[n].u.header.val = headers[i].value;
		vu[n++].u.header.size = (ssize_t)headers[i].value_len;
	}
	for (;;) {
		rd_kafka_error_t *error = rd_kafka_produceva(p->rk, vu, n);
		if (!error)
			break;
		rd_kafka_resp_err_t e = rd_kafka_error_code(error);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_error_destroy(error);
			rd_kafka_poll(p->rk, 100);
			continue;
		}
		fprintf(stderr, "loyaltyctl: %s: %s\n", what, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return 1;
	}
	p->queued++;
	rd_kafka_poll(p->rk, 0);
	return 0;
}

int ctl_producer_close(ctl_producer_t *p, const char *what)
{
	if (!p->rk)
		return 0;
	int status = 0;
	rd_kafka_flush(p->rk, CTL_PRODUCER_FLUSH_MS);
	int64_t unsure = p->queued - p->delivered - p->failed;
	if (p->failed) {
		fprintf(stderr, "loyaltyctl: %s: %lld of %lld messages refused: %s\n", what,
			(long long)p->failed, (long long)p->queued, p->error);
		status = 1;
	}
	if (unsure > 0) {
		fprintf(stderr, "loyaltyctl: %s: %lld of %lld messages not acknowledged "
				"within %d s\n",
			what, (long long)unsure, (long long)p->queued,
			CTL_PRODUCER_FLUSH_MS / 1000);
		status = 1;
	}
	rd_kafka_destroy(p->rk);
	p->rk = NULL;
	return status;
}

int ctl_produce(ctl_t *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"count", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"customers", required_argument, NULL, 'c'},
		{"brokers", required_argument, NULL, 'b'},
		{"stdout", no_argument, NULL, 'o'},
		{"requests", no_argument, NULL, 'q'},
		{NULL, 0, NULL, 0},
	};
	int64_t count = 1000, seed = 1, customers = 1000;
	const char *brokers = NULL;
	int to_stdout = 0, requests = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (ctl_parse_i64(optarg, 0, 1000000000, &count))
				return ctl_usage_error("produce: --count must be 0..1000000000");
			break;
		case 's':
			if (ctl_parse_i64(optarg, 0, INT64_MAX, &seed))
				return ctl_usage_error("produce: --seed must be a non-negative integer");
			break;
		case 'c':
			if (ctl_parse_i64(optarg, 1, 10000000, &customers))
				return ctl_usage_error("produce: --customers must be 1..10000000");
			break;
		case 'b':
			brokers = optarg;
			break;
		case 'o':
			to_stdout = 1;
			break;
		case 'q':
			requests = 1;
			break;
		default:
			return ctl_usage_error("produce: bad option");
		}
	}
	if (optind != argc)
		return ctl_usage_error("produce: unexpected argument \"%s\"", argv[optind]);
	if (ctl_config(ctl))
		return 1;
	char errstr[1024];
	ly_program_t *program = NULL;
	requester_t *requesters = NULL;
	last_order_t *orders = NULL;
	ctl_producer_t producer = {0};
	sample_t s = {0};
	int status = 1;
	if (requests) {
		/* the rewards the redeems name, and what they cost */
		if (ly_program_load(&program, ctl->cfg.program, errstr, sizeof(errstr))) {
			fprintf(stderr, "loyaltyctl: %s\n", errstr);
			goto out;
		}
		if (program->rewards_len == 0) {
			fprintf(stderr, "loyaltyctl: produce: --requests needs a program with "
					"rewards; %s has none\n",
				ctl->cfg.program);
			goto out;
		}
		if (ly_program_reward(program, RETIRED_REWARD)) {
			fprintf(stderr, "loyaltyctl: produce: %s has a reward \"%s\", the id "
					"--requests redeems as an unknown one\n",
				ctl->cfg.program, RETIRED_REWARD);
			goto out;
		}
		if (!(requesters = calloc((size_t)customers, sizeof(*requesters)))) {
			fprintf(stderr, "loyaltyctl: out of memory\n");
			goto out;
		}
		for (int64_t k = 0; k < customers; k++)
			requesters[k].last = -1;
	}
	if (!(orders = malloc((size_t)customers * sizeof(*orders)))) {
		fprintf(stderr, "loyaltyctl: out of memory\n");
		goto out;
	}
	for (int64_t k = 0; k < customers; k++)
		orders[k].index = -1;
	if (!to_stdout && ctl_producer_open(ctl, &producer, brokers))
		goto out;
	uint64_t rng = (uint64_t)seed;
	status = 0;
	for (int64_t i = 0; i < count; i++) {
		make_sample(&s, &ctl->cfg, (uint64_t)seed, &rng, i, customers, orders,
			    program, requesters);
		if (to_stdout) {
			printf("%s\t%s\t%s\n", s.topic, s.key, s.value.data);
			continue;
		}
		if (ctl_producer_send(&producer, "produce", s.topic, s.key, s.value.data,
				      s.value.len, NULL, 0)) {
			status = 1;
			break;
		}
	}
	if (ctl_producer_close(&producer, "produce"))
		status = 1;
	if (!status && !to_stdout)
		fprintf(stderr, "produce: %lld events written\n", (long long)count);
out: /* the producer is opened last, and closed above */
	ly_buf_free(&s.value);
	free(orders);
	free(requesters);
	ly_program_destroy(program);
	return status;
}

int ctl_topics(ctl_t *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{"partitions", required_argument, NULL, 'p'},
		{"replication", required_argument, NULL, 'r'},
		{"brokers", required_argument, NULL, 'b'},
		{NULL, 0, NULL, 0},
	};
	int64_t partitions = 6, replication = 1;
	const char *brokers = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (ctl_parse_i64(optarg, 1, 10000, &partitions))
				return ctl_usage_error("topics: --partitions must be 1..10000");
			break;
		case 'r':
			if (ctl_parse_i64(optarg, 1, 100, &replication))
				return ctl_usage_error("topics: --replication must be 1..100");
			break;
		case 'b':
			brokers = optarg;
			break;
		default:
			return ctl_usage_error("topics: bad option");
		}
	}
	if (optind != argc)
		return ctl_usage_error("topics: unexpected argument \"%s\"", argv[optind]);
	if (ctl_config(ctl))
		return 1;
	char errstr[1024];
	if (ly_kafka_create_topics(&ctl->cfg, brokers ? brokers : ctl->cfg.kafka_brokers,
				   (int)partitions, (int)replication, errstr,
				   sizeof(errstr))) {
		fprintf(stderr, "loyaltyctl: %s\n", errstr);
		return 1;
	}
	printf("topics: ready (%lld partitions each)\n", (long long)partitions);
	return 0;
}
