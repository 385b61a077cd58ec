/*
 * metrics.h: the worker's metrics, rendered in the Prometheus text
 * exposition format (version 0.0.4) for `GET /metrics`.
 *
 * The families are fixed (ly_metric_t); each has at most two labels and
 * holds one series per distinct label values. The worker's thread updates
 * them (per batch, not per event); the HTTP thread renders them; a mutex
 * keeps the two apart. Names follow Prometheus conventions: the `loyalty_`
 * prefix, base units (seconds, events), `_total` for counters, and the
 * standard `process_*` metrics computed when rendered.
 */
#ifndef LOYALTY_METRICS_H
#define LOYALTY_METRICS_H

#include <stdint.h>

#include "loyalty/util.h"

typedef enum ly_metric {
	LY_M_EVENTS_CONSUMED,    /* counter {topic} */
	LY_M_EVENTS_APPLIED,     /* counter {type} */
	LY_M_EVENTS_REJECTED,    /* counter {reason} */
	LY_M_EVENTS_DUPLICATE,   /* counter */
	LY_M_POINTS_CREDITED,    /* counter */
	LY_M_POINTS_DEBITED,     /* counter */
	LY_M_CODES_ISSUED,       /* counter */
	LY_M_OFFERS,             /* counter {channel, outcome} */
	LY_M_BATCH_SIZE,         /* histogram, events */
	LY_M_BATCH_DURATION,     /* histogram, seconds */
	LY_M_POSTGRES_RETRIES,   /* counter */
	LY_M_OFFSET_CONFLICTS,   /* counter */
	LY_M_OUTBOX_BACKLOG,     /* gauge, rows */
	LY_M_OUTBOX_LAG,         /* gauge, seconds */
	LY_M_OUTBOX_PUBLISHED,   /* counter */
	LY_M_OUTBOX_PRUNED,      /* counter */
	LY_M_CONSUMER_LAG,       /* gauge {topic, partition} */
	LY_M_REBALANCES,         /* counter {kind} */
	LY_M_PARTITIONS,         /* gauge */
	LY_M_PROGRAM_INFO,       /* gauge {name, version} */
	LY_M_PROGRAM_RELOADS,    /* counter {result} */
	LY_M_READY,              /* gauge */
	LY_M_LAST_PROGRESS,      /* gauge, seconds since the epoch */
	LY_M__COUNT
} ly_metric_t;

typedef struct ly_metrics ly_metrics_t;

/* NULL when out of memory. The caller frees with ly_metrics_destroy. */
ly_metrics_t *ly_metrics_new(void);
/* Accepts NULL. */
void ly_metrics_destroy(ly_metrics_t *metrics);

/*
 * Adds v to a counter (or a gauge) of the series with these label values
 * (NULL for a family without that label). A NULL metrics does nothing, so
 * code can update metrics that nobody serves.
 */
void ly_metrics_add(ly_metrics_t *metrics, ly_metric_t m, const char *l1,
		    const char *l2, double v);
/* Sets a gauge. */
void ly_metrics_set(ly_metrics_t *metrics, ly_metric_t m, const char *l1,
		    const char *l2, double v);
/* Drops every series of a family (a gauge whose label values changed:
 * the partitions after a rebalance, the program after a reload). */
void ly_metrics_clear(ly_metrics_t *metrics, ly_metric_t m);
/* Counts one observation in a histogram. */
void ly_metrics_observe(ly_metrics_t *metrics, ly_metric_t m, double v);

/*
 * Appends every family (HELP, TYPE and its series, then the process
 * metrics) in the text format to out. 0 or LY_ENOMEM.
 */
int ly_metrics_render(ly_metrics_t *metrics, ly_buf_t *out);

#endif
