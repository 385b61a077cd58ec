/*
 * gen.c: the benchmarks' deterministic workload (gen.h). Draws come from
 * one splitmix64 stream in a fixed order: the shuffle of the popularity
 * ranks at gen_init, then per event the jitter, the customer, the type and
 * the type's own fields. Changing that order changes every benchmark's
 * events: engine_bench's figures are comparable across versions only while
 * it stays.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

/* ---- deterministic randomness ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Uniform in [0, n); the modulo bias is irrelevant here. */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---- the shop ---- */

static const char *const categories[] = {"home", "kitchen", "tableware",
					 "outdoor", "baby"};
/* Unit prices per category, kuruş: [lo, hi], skewed towards lo (a basket
 * of about 1,400 TL on average). */
static const int64_t price_lo[] = {5000, 2000, 1500, 10000, 3000};
static const int64_t price_hi[] = {120000, 40000, 25000, 250000, 60000};
static const char *const coupons[] = {"HOSGELDIN10", "YAZ25", "EFSANE50",
				      "SEPET15"};
static const char *const platforms[] = {"instagram", "tiktok", "x", "facebook",
					"youtube", "other"};
static const unsigned platform_weights[] = {45, 25, 10, 10, 5, 5};
static const char *const actions[] = {"like", "follow", "share", "comment",
				      "mention", "ugc"};
static const unsigned action_weights[] = {35, 15, 15, 15, 10, 10};
static const char *const first_names[] = {"Ayşe", "Mehmet", "Zeynep", "Emre",
					  "Elif", "Can"};

static const char *const type_names[GEN_TYPE__COUNT] = {
	[GEN_ORDER_PAID] = "order.paid",
	[GEN_ORDER_REFUNDED] = "order.refunded",
	[GEN_REVIEW_SUBMITTED] = "review.submitted",
	[GEN_SOCIAL_INTERACTION] = "social.interaction",
	[GEN_CUSTOMER_UPDATED] = "customer.updated",
};

static const gen_topic_t type_topics[GEN_TYPE__COUNT] = {
	[GEN_ORDER_PAID] = GEN_TOPIC_ORDERS,
	[GEN_ORDER_REFUNDED] = GEN_TOPIC_ORDERS,
	[GEN_REVIEW_SUBMITTED] = GEN_TOPIC_REVIEWS,
	[GEN_SOCIAL_INTERACTION] = GEN_TOPIC_SOCIAL,
	[GEN_CUSTOMER_UPDATED] = GEN_TOPIC_CUSTOMERS,
};

const char *gen_type_name(gen_type_t type)
{
	LY_ASSERT(type < GEN_TYPE__COUNT);
	return type_names[type];
}

static size_t pick_weighted(uint64_t *s, const unsigned *w, size_t n)
{
	unsigned total = 0;
	for (size_t i = 0; i < n; i++)
		total += w[i];
	unsigned r = (unsigned)rng_below(s, total);
	for (size_t i = 0; i < n; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
	return n - 1;
}

/* ---- customers by popularity ---- */

int gen_init(gen_t *g, uint64_t seed, size_t customers, unsigned flags)
{
	memset(g, 0, sizeof(*g));
	if (customers < 1 || customers > GEN_CUSTOMERS_MAX)
		return LY_EINVAL;
	g->rng = seed;
	g->customers = customers;
	g->flags = flags;
	g->cdf = malloc(customers * sizeof(*g->cdf));
	g->by_rank = malloc(customers * sizeof(*g->by_rank));
	if (!g->cdf || !g->by_rank)
		return LY_ENOMEM;
	if ((flags & GEN_OWN_ORDERS) &&
	    !(g->recent = malloc(GEN_RECENT_ORDERS * sizeof(*g->recent))))
		return LY_ENOMEM;
	double sum = 0;
	for (size_t k = 0; k < customers; k++) {
		sum += pow((double)(k + 1), -GEN_ZIPF_S);
		g->cdf[k] = sum;
		g->by_rank[k] = (uint32_t)k;
	}
	for (size_t k = customers - 1; k > 0; k--) { /* popular ones anywhere */
		size_t j = (size_t)rng_below(&g->rng, k + 1);
		uint32_t t = g->by_rank[k];
		g->by_rank[k] = g->by_rank[j];
		g->by_rank[j] = t;
	}
	return 0;
}

void gen_free(gen_t *g)
{
	free(g->cdf);
	free(g->by_rank);
	free(g->recent);
	memset(g, 0, sizeof(*g));
}

static uint32_t popularity_draw(gen_t *g)
{
	double u = rng_unit(&g->rng) * g->cdf[g->customers - 1];
	size_t lo = 0, hi = g->customers - 1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return g->by_rank[lo];
}

int64_t gen_time_in_span(int64_t start_us, int64_t span_us, size_t i, size_t n)
{
	return start_us + (int64_t)((double)i / (double)n * (double)span_us);
}

/* ---- one event ---- */

static void remember_order(gen_t *g, uint32_t c, size_t i, int64_t total)
{
	gen_order_t *o = &g->recent[g->recent_next];
	o->customer = c;
	o->number = i;
	o->total = total;
	o->refunded = 0;
	g->recent_next = (g->recent_next + 1) % GEN_RECENT_ORDERS;
	if (g->recent_len < GEN_RECENT_ORDERS)
		g->recent_len++;
}

static int order_fields(gen_t *g, ly_buf_t *b, size_t i, uint32_t c)
{
	uint64_t *s = &g->rng;
	size_t items = 2 + (size_t)rng_below(s, 4);
	int64_t total = 0;
	int rc;
	if ((rc = ly_buf_printf(b, ",\"order_id\":\"o-%08zu\",\"currency\":\"TRY\","
				"\"items\":[", i)))
		return rc;
	for (size_t k = 0; k < items; k++) {
		size_t cat = (size_t)rng_below(s, LY_ARRAY_LEN(categories));
		double u = rng_unit(s);
		int64_t price = price_lo[cat] +
				(int64_t)((double)(price_hi[cat] - price_lo[cat]) * u * u * u);
		price = price / 100 * 100 - 10; /* 129,90 TL */
		unsigned q = (unsigned)rng_below(s, 10);
		int64_t qty = q < 7 ? 1 : q < 9 ? 2 : 3 + (int64_t)rng_below(s, 2);
		total += price * qty;
		if ((rc = ly_buf_printf(b,
					"%s{\"sku\":\"%.3s-%04u\",\"category\":\"%s\","
					"\"quantity\":%" PRId64 ",\"unit_price\":%" PRId64 "}",
					k ? "," : "", categories[cat],
					(unsigned)rng_below(s, 2000), categories[cat], qty,
					price)))
			return rc;
	}
	if ((rc = ly_buf_printf(b, "],\"total\":%" PRId64, total)))
		return rc;
	if (rng_below(s, 100) < 20 &&
	    (rc = ly_buf_printf(b, ",\"coupon_codes\":[\"%s\"]",
				coupons[rng_below(s, LY_ARRAY_LEN(coupons))])))
		return rc;
	if (g->flags & GEN_OWN_ORDERS)
		remember_order(g, c, i, total);
	return 0;
}

/* The refund's fields; order is the recent order it refunds (GEN_OWN_ORDERS),
 * drawn before the envelope was written, else NULL and drawn here. */
static int refund_fields(gen_t *g, ly_buf_t *b, size_t i, gen_order_t *order)
{
	uint64_t *s = &g->rng;
	int rc;
	uint64_t number = order ? order->number : rng_below(s, i + 1);
	if ((rc = ly_buf_printf(b, ",\"order_id\":\"o-%08zu\"", (size_t)number)))
		return rc;
	if (!rng_below(s, 2))
		return 0; /* the whole (rest of the) order */
	int64_t amount = (int64_t)(1000 + rng_below(s, 50000));
	if (order) {
		int64_t left = order->total - order->refunded;
		if (amount > left)
			amount = left;
		order->refunded += amount;
		if (amount <= 0)
			return 0;
	}
	return ly_buf_printf(b, ",\"amount\":%" PRId64, amount);
}

static int review_fields(gen_t *g, ly_buf_t *b, size_t i)
{
	uint64_t *s = &g->rng;
	unsigned q = (unsigned)rng_below(s, 100);
	int rating = q < 50 ? 5 : q < 75 ? 4 : q < 85 ? 3 : q < 92 ? 2 : 1;
	return ly_buf_printf(b,
			     ",\"review_id\":\"r-%08zu\",\"product_id\":\"p-%04u\","
			     "\"rating\":%d,\"verified_purchase\":%s,"
			     "\"has_photo\":%s,\"text_length\":%u",
			     i, (unsigned)rng_below(s, 2000), rating,
			     rng_below(s, 100) < 80 ? "true" : "false",
			     rng_below(s, 100) < 20 ? "true" : "false",
			     (unsigned)rng_below(s, 800));
}

static int social_fields(gen_t *g, ly_buf_t *b, size_t i)
{
	uint64_t *s = &g->rng;
	size_t pl = pick_weighted(s, platform_weights, LY_ARRAY_LEN(platforms));
	size_t ac = pick_weighted(s, action_weights, LY_ARRAY_LEN(actions));
	int rc;
	if ((rc = ly_buf_printf(b,
				",\"interaction_id\":\"s-%08zu\",\"platform\":\"%s\","
				"\"action\":\"%s\"",
				i, platforms[pl], actions[ac])))
		return rc;
	if (rng_below(s, 2) &&
	    (rc = ly_buf_printf(b, ",\"url\":\"https://example.com/%s/%08zu\"",
				platforms[pl], i)))
		return rc;
	return 0;
}

static int customer_fields(gen_t *g, ly_buf_t *b)
{
	uint64_t *s = &g->rng;
	int rc;
	if (rng_below(s, 2) &&
	    (rc = ly_buf_printf(b, ",\"locale\":\"%s\"", rng_below(s, 4) ? "tr" : "en")))
		return rc;
	if (rng_below(s, 3) == 0 &&
	    (rc = ly_buf_printf(b, ",\"first_name\":\"%s\"",
				first_names[rng_below(s, LY_ARRAY_LEN(first_names))])))
		return rc;
	return ly_buf_printf(b, ",\"consents\":{\"sms\":%s,\"email\":%s}",
			     rng_below(s, 100) < 60 ? "true" : "false",
			     rng_below(s, 100) < 70 ? "true" : "false");
}

int gen_next(gen_t *g, ly_buf_t *json, size_t i, int64_t time_us, unsigned jitter_s,
	     gen_event_t *ev)
{
	uint64_t *s = &g->rng;
	gen_order_t *order = NULL;
	char when[48];
	int rc;
	if (jitter_s)
		time_us += (int64_t)rng_below(s, jitter_s) * 1000000;
	uint32_t c = popularity_draw(g);
	unsigned r = (unsigned)rng_below(s, 100);
	gen_type_t type = r < 60 ? GEN_ORDER_PAID
			: r < 65 ? GEN_ORDER_REFUNDED
			: r < 80 ? GEN_REVIEW_SUBMITTED
			: r < 95 ? GEN_SOCIAL_INTERACTION
				 : GEN_CUSTOMER_UPDATED;
	if (type == GEN_ORDER_REFUNDED && (g->flags & GEN_OWN_ORDERS)) {
		if (g->recent_len == 0) {
			type = GEN_ORDER_PAID; /* nothing to refund yet */
		} else {
			order = &g->recent[rng_below(s, g->recent_len)];
			c = order->customer;
		}
	}
	ev->customer = c;
	snprintf(ev->key, sizeof(ev->key), "c%06" PRIu32, c);
	ev->type = type;
	ev->topic = type_topics[type];
	ev->time_us = time_us;

	ly_time_format_rfc3339(time_us, when, sizeof(when));
	ly_buf_reset(json);
	if ((rc = ly_buf_printf(json,
				"{\"specversion\":\"1.0\",\"id\":\"evt-%08zu\","
				"\"source\":\"" GEN_SOURCE "\",\"type\":\"%s\","
				"\"time\":\"%s\",\"datacontenttype\":\"application/json\","
				"\"data\":{\"customer_id\":\"%s\"",
				i, type_names[type], when, ev->key)))
		return rc;
	switch (type) {
	case GEN_ORDER_PAID:
		rc = order_fields(g, json, i, c);
		break;
	case GEN_ORDER_REFUNDED:
		rc = refund_fields(g, json, i, order);
		break;
	case GEN_REVIEW_SUBMITTED:
		rc = review_fields(g, json, i);
		break;
	case GEN_SOCIAL_INTERACTION:
		rc = social_fields(g, json, i);
		break;
	default:
		rc = customer_fields(g, json);
		break;
	}
	if (rc)
		return rc;
	return ly_buf_puts(json, "}}");
}
