/*
 * http.h: loyaltyd's HTTP endpoints on `http.listen`, served by
 * libmicrohttpd from its own thread:
 *
 *   GET /metrics   the Prometheus text format (metrics.h)
 *   GET /healthz   200 "ok", or 503 when the processing loop has stopped
 *                  going round (liveness: restart me)
 *   GET /readyz    200 "ready", or 503 with the reason while PostgreSQL or
 *                  the broker cannot be reached or a partition is paused
 *                  (readiness: do not count me)
 *
 * Anything else is 404; a method other than GET or HEAD is 405.
 */
#ifndef LOYALTY_HTTP_H
#define LOYALTY_HTTP_H

#include <stddef.h>

#include "loyalty/metrics.h"

/* What the endpoints ask the worker: 1 when healthy / ready, else 0 with a
 * short reason in why (for people reading the response). */
typedef struct ly_http_probes {
	void *opaque;
	int (*healthy)(void *opaque, char *why, size_t why_size);
	int (*ready)(void *opaque, char *why, size_t why_size);
} ly_http_probes_t;

typedef struct ly_http ly_http_t;

/*
 * Listens on listen ("host:port", "[v6]:port" or ":port" for every
 * address) and serves until ly_http_stop. metrics and probes are borrowed
 * and must outlive the server; the probe functions run on the server's
 * thread. 0, or LY_EINVAL (a bad address) / LY_EIO (cannot listen) with
 * errstr.
 */
int ly_http_start(ly_http_t **out, const char *listen, ly_metrics_t *metrics,
		  const ly_http_probes_t *probes, char *errstr,
		  size_t errstr_size);
/* Stops serving and frees. Accepts NULL. */
void ly_http_stop(ly_http_t *http);

#endif
