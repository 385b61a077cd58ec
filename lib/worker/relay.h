/*
 * relay.h: the outbox relay's own thread and PostgreSQL connection, beside
 * the worker's batches (relay.c). Not installed.
 */
#ifndef LOYALTY_RELAY_H
#define LOYALTY_RELAY_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "loyalty/config.h"
#include "loyalty/metrics.h"

typedef struct ly_relay ly_relay_t;

/*
 * Connects to PostgreSQL and starts the thread, which publishes at once
 * what the outbox holds. producer must have been created with
 * ly_outbox_delivery_cb; metrics may be NULL; reached(opaque, ok) is
 * called from the relay's thread after each pass: whether it reached
 * PostgreSQL. Returns 0 or the store's code (errstr).
 */
int ly_relay_start(ly_relay_t **relay, const ly_config_t *cfg, rd_kafka_t *producer,
		   ly_metrics_t *metrics, void (*reached)(void *opaque, int ok),
		   void *opaque, char *errstr, size_t errstr_size);

/* A batch committed rows: the relay starts a pass now. */
void ly_relay_kick(ly_relay_t *relay);

/* Rows published so far (0 for NULL). */
uint64_t ly_relay_published(ly_relay_t *relay);

/* Stops the thread after one last pass and frees the relay; returns the
 * rows it published (NULL: 0). */
uint64_t ly_relay_stop(ly_relay_t *relay);

#endif
