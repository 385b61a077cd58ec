/*
 * outbox.c: the relay from the outbox table to Kafka
 * (include/loyalty/outbox.h), and the encoding of Kafka headers in the
 * outbox's bytea column.
 */
#include "loyalty/outbox.h"

#include <stdio.h>
#include <string.h>

static int put_u32(ly_buf_t *out, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	return ly_buf_append(out, b, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	       ((uint32_t)p[2] << 8) | p[3];
}

int ly_outbox_headers_encode(ly_buf_t *out, const ly_header_t *headers,
			     size_t headers_len)
{
	if (headers_len > LY_OUTBOX_HEADERS_MAX)
		return LY_EINVAL;
	for (size_t i = 0; i < headers_len; i++) {
		const ly_header_t *h = &headers[i];
		size_t klen = strlen(h->key);
		if (klen > UINT32_MAX / 2 || h->value_len > UINT32_MAX / 2)
			return LY_EINVAL;
		if (put_u32(out, (uint32_t)klen) || ly_buf_append(out, h->key, klen) ||
		    put_u32(out, h->value ? (uint32_t)h->value_len : UINT32_MAX) ||
		    (h->value && ly_buf_append(out, h->value, h->value_len)))
			return LY_ENOMEM;
	}
	return 0;
}

int ly_outbox_headers_decode(const void *blob, size_t blob_len,
			     ly_header_t **headers, size_t *headers_len,
			     ly_arena_t *arena)
{
	const unsigned char *p = blob;
	size_t pos = 0, n = 0;
	/* room for as many as the blob can hold (8 bytes each at least), not
	 * for the most a message may have: the relay decodes every row's */
	size_t most = blob_len / 8;
	ly_header_t *hs = ly_arena_alloc(
		arena, (most < LY_OUTBOX_HEADERS_MAX ? most + 1 : LY_OUTBOX_HEADERS_MAX) *
			       sizeof(*hs));
	if (!hs)
		return LY_ENOMEM;
	while (pos < blob_len) {
		if (n == LY_OUTBOX_HEADERS_MAX || blob_len - pos < 4)
			return LY_EINVAL;
		uint32_t klen = get_u32(p + pos);
		pos += 4;
		if (blob_len - pos < (size_t)klen + 4)
			return LY_EINVAL;
		hs[n].key = ly_arena_strndup(arena, (const char *)p + pos, klen);
		pos += klen;
		uint32_t vlen = get_u32(p + pos);
		pos += 4;
		if (vlen == UINT32_MAX) {
			hs[n].value = NULL;
			hs[n].value_len = 0;
		} else {
			if (blob_len - pos < vlen)
				return LY_EINVAL;
			hs[n].value = ly_arena_strndup(arena, (const char *)p + pos, vlen);
			hs[n].value_len = vlen;
			pos += vlen;
		}
		if (!hs[n].key || (vlen != UINT32_MAX && !hs[n].value))
			return LY_ENOMEM;
		n++;
	}
	*headers = hs;
	*headers_len = n;
	return 0;
}

/* Delivery reports land here: the opaque is the message's row. */
void ly_outbox_delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *m,
			   void *opaque)
{
	(void)rk;
	(void)opaque;
	ly_outbox_msg_t *row = m->_private;
	if (!row)
		return;
	if (m->err) {
		ly_log(LY_LOG_WARN, "outbox", "publish to %s failed: %s",
		       rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
		return;
	}
	row->delivered = 1;
}

static int produce_one(rd_kafka_t *producer, ly_outbox_msg_t *m,
		       ly_arena_t *arena)
{
	ly_header_t *hs = NULL;
	size_t hn = 0;
	rd_kafka_headers_t *kh = NULL;
	if (m->headers && m->headers_len) {
		if (ly_outbox_headers_decode(m->headers, m->headers_len, &hs, &hn, arena))
			return LY_EINVAL;
		kh = rd_kafka_headers_new(hn);
		for (size_t i = 0; i < hn; i++)
			rd_kafka_header_add(kh, hs[i].key, -1, hs[i].value,
					    (ssize_t)hs[i].value_len);
	}
	for (;;) {
		rd_kafka_resp_err_t e;
		if (kh)
			e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(m->topic),
					      RD_KAFKA_V_KEY(m->key, m->key_len),
					      RD_KAFKA_V_VALUE(m->payload, m->payload_len),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_HEADERS(kh),
					      RD_KAFKA_V_END);
		else
			e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(m->topic),
					      RD_KAFKA_V_KEY(m->key, m->key_len),
					      RD_KAFKA_V_VALUE(m->payload, m->payload_len),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_OPAQUE(m), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(producer, 100);
			continue;
		}
		if (e) {
			if (kh)
				rd_kafka_headers_destroy(kh);
			ly_log(LY_LOG_WARN, "outbox", "produce to %s: %s", m->topic,
			       rd_kafka_err2str(e));
			return LY_EIO;
		}
		return 0; /* the headers now belong to the message */
	}
}

int ly_outbox_relay(ly_store_t *store, rd_kafka_t *producer, size_t limit,
		    int flush_timeout_ms, int keep_published, ly_outbox_pass_t *pass,
		    ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	ly_outbox_msg_t *msgs = NULL;
	ly_outbox_pass_t done = {0};
	size_t n = 0;
	memset(pass, 0, sizeof(*pass));
	int rc = ly_store_begin(store, errstr, errstr_size);
	if (rc)
		return rc;
	rc = ly_store_outbox_claim(store, limit, &msgs, &n, arena, errstr, errstr_size);
	if (rc || n == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].withdrawn && produce_one(producer, &msgs[i], arena))
			break; /* the rest waits for the next pass, in order */
	if (rd_kafka_flush(producer, flush_timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* Not acknowledged in time: withdraw the rest so no delivery
		 * report arrives after the rows' memory is gone; they stay
		 * unpublished and go out on the next pass. */
		rd_kafka_purge(producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		while (rd_kafka_outq_len(producer) > 0)
			rd_kafka_poll(producer, 100);
	}
	for (size_t i = 0; i < n; i++) {
		/* Keep commit order: stop marking at the first failure so a
		 * later row is never published before an earlier one. */
		if (msgs[i].withdrawn) { /* dropped, never published */
			if (msgs[i].channel && strcmp(msgs[i].channel, "sms") == 0)
				done.withdrawn_sms++;
			else
				done.withdrawn_email++;
			continue;
		}
		if (!msgs[i].delivered) {
			for (size_t j = i; j < n; j++)
				msgs[j].delivered = msgs[j].withdrawn = 0;
			break;
		}
		done.published++;
	}
	rc = ly_store_outbox_mark(store, msgs, n, keep_published, arena, errstr,
				  errstr_size);
out:
	if (rc) {
		ly_store_rollback(store);
		return rc;
	}
	rc = ly_store_commit(store, errstr, errstr_size);
	if (!rc) {
		done.claimed = n;
		*pass = done;
	}
	return rc;
}
