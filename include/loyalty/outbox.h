/*
 * outbox.h: publishing what the store's outbox holds. Rows are written in
 * the batch transaction; after commit the relay claims them in commit
 * order (FOR UPDATE SKIP LOCKED, so any replica can publish rows a crashed
 * one left), produces them with the idempotent producer, waits for the
 * broker's acknowledgement and marks them published. A crash in between
 * publishes them again: at least once, with stable ids.
 */
#ifndef LOYALTY_OUTBOX_H
#define LOYALTY_OUTBOX_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "loyalty/event.h"
#include "loyalty/store.h"
#include "loyalty/util.h"

#define LY_OUTBOX_HEADERS_MAX 256

/*
 * Encodes headers as [u32 key_len][key][i32 value_len or -1][value]...,
 * appended to out.
 */
int ly_outbox_headers_encode(ly_buf_t *out, const ly_header_t *headers,
			     size_t headers_len);
/* Decodes into arena memory. LY_EINVAL on a malformed blob. */
int ly_outbox_headers_decode(const void *blob, size_t blob_len,
			     ly_header_t **headers, size_t *headers_len,
			     ly_arena_t *arena);

/* The delivery report callback the relay's producer must be created with
 * (see ly_kafka_producer_new). */
void ly_outbox_delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
			   void *opaque);

/* What a relay pass did. */
typedef struct ly_outbox_pass {
	size_t claimed;   /* rows claimed */
	size_t published; /* acknowledged by the broker and marked */
	size_t withdrawn_email, withdrawn_sms; /* offers dropped: consent withdrawn */
} ly_outbox_pass_t;

/*
 * Publishes up to limit unpublished rows in one transaction, marking them
 * published (keep_published) or deleting them, and drops the offers whose
 * consent was withdrawn since they were made. Returns 0, LY_ERETRY or
 * LY_EIO; *pass is set on 0.
 */
int ly_outbox_relay(ly_store_t *store, rd_kafka_t *producer, size_t limit,
		    int flush_timeout_ms, int keep_published, ly_outbox_pass_t *pass,
		    ly_arena_t *arena, char *errstr, size_t errstr_size);

#endif
