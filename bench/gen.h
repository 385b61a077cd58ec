/*
 * gen.h: the benchmarks' workload, one copy for engine_bench (the pure
 * core) and loadgen (the whole path through Kafka and PostgreSQL).
 *
 * A deterministic stream (splitmix64 from a seed) of the example shop's
 * input events as CloudEvents JSON: 60% order.paid with 2-5 items, 5%
 * order.refunded, 15% review.submitted, 15% social.interaction and 5%
 * customer.updated, from customers of Zipf-like popularity (the k-th most
 * popular weighs 1/k^GEN_ZIPF_S; ranks are shuffled over the customer
 * numbers, so the popular ones are anywhere). Customer number c is the
 * customer id "c%06u". The caller gives each event its number and time;
 * the same seed, customers, flags, numbers and times give the same bytes.
 *
 * Refunds name an order in one of two ways. By default (engine_bench's
 * way, kept so its figures stay comparable) the order id is that of any
 * earlier event number, whoever placed it. With GEN_OWN_ORDERS a refund is
 * of one of the last GEN_RECENT_ORDERS paid orders, by the customer who
 * placed it, for at most what is left of it: loyaltyd applies it at once
 * rather than holding it for an order that never comes (and dead-lettering
 * it after refunds.hold_days). Both ways draw the same number of values, so
 * the two streams differ only in refunds.
 */
#ifndef LOYALTY_BENCH_GEN_H
#define LOYALTY_BENCH_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/util.h"

#define GEN_ZIPF_S 0.6
#define GEN_SOURCE "/shops/anadolu-market"
#define GEN_CUSTOMERS_MAX 10000000u
/* With GEN_OWN_ORDERS: how many recent paid orders a refund may name. */
#define GEN_RECENT_ORDERS 65536u
/* A generated event's JSON is at most this long (ly_buf_t.max). */
#define GEN_JSON_MAX (64 * 1024)

/* gen_init flags */
#define GEN_OWN_ORDERS 1u

typedef enum gen_type {
	GEN_ORDER_PAID,
	GEN_ORDER_REFUNDED,
	GEN_REVIEW_SUBMITTED,
	GEN_SOCIAL_INTERACTION,
	GEN_CUSTOMER_UPDATED,
	GEN_TYPE__COUNT
} gen_type_t;

/* The input topic (SPEC section 3) an event goes to. */
typedef enum gen_topic {
	GEN_TOPIC_CUSTOMERS,
	GEN_TOPIC_ORDERS,
	GEN_TOPIC_REVIEWS,
	GEN_TOPIC_SOCIAL,
	GEN_TOPIC__COUNT
} gen_topic_t;

/* What gen_next made, besides the JSON. */
typedef struct gen_event {
	uint32_t customer; /* customer number */
	char key[16];      /* the customer id, the message key */
	gen_type_t type;
	gen_topic_t topic;
	int64_t time_us; /* the event's time, jitter included */
} gen_event_t;

typedef struct gen_order {
	uint32_t customer;
	uint64_t number; /* the event number that paid it: order id "o-%08zu" */
	int64_t total, refunded;
} gen_order_t;

typedef struct gen {
	uint64_t rng;
	size_t customers;
	unsigned flags;
	double *cdf;       /* cumulative weights of the popularity ranks */
	uint32_t *by_rank; /* customer number of the k-th most popular */
	gen_order_t *recent; /* GEN_OWN_ORDERS: a ring of paid orders */
	size_t recent_len, recent_next;
} gen_t;

/*
 * Sets up g for customers customers (1..GEN_CUSTOMERS_MAX) from seed;
 * flags: 0 or GEN_OWN_ORDERS. 0 or LY_ENOMEM (LY_EINVAL for a bad count).
 * The caller frees with gen_free, also after a failure.
 */
int gen_init(gen_t *g, uint64_t seed, size_t customers, unsigned flags);

/* Frees what gen_init allocated; accepts a zeroed g. */
void gen_free(gen_t *g);

/*
 * The next event into json (reset first; its max should be at least
 * GEN_JSON_MAX): event number i (ids "evt-%08zu"), at time_us plus a
 * jitter of 0..jitter_s-1 whole seconds drawn first (none when jitter_s
 * is 0). Also fills *ev. 0, or the buffer's error.
 */
int gen_next(gen_t *g, ly_buf_t *json, size_t i, int64_t time_us, unsigned jitter_s,
	     gen_event_t *ev);

/* Event i of n spread evenly over [start_us, start_us + span_us). */
int64_t gen_time_in_span(int64_t start_us, int64_t span_us, size_t i, size_t n);

/* "order.paid", ... */
const char *gen_type_name(gen_type_t type);

#endif
