/*
 * kafka.h: librdkafka wiring. Client configuration from ly_config_t, the
 * embedded mock cluster for zero-setup demos, the idempotent producer, topic
 * creation, and the consumer that builds batches with a poll loop and seeks
 * every assigned partition to the offset PostgreSQL holds.
 *
 * Debian's librdkafka is 2.0.2: batches come from rd_kafka_consumer_poll,
 * never rd_kafka_consume_batch_queue, and the assignor is eager (range).
 */
#ifndef LOYALTY_KAFKA_H
#define LOYALTY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "loyalty/config.h"

/* Names of the input topics of a config, in SPEC section 3 order. */
size_t ly_kafka_input_topics(const ly_config_t *cfg, const char **out,
			     size_t out_size);

/*
 * A librdkafka configuration with bootstrap.servers, the logger routed into
 * ly_log, and kafka.properties applied on top. The caller owns the result
 * (rd_kafka_conf_destroy, or hand it to rd_kafka_new). NULL with errstr on a
 * bad property.
 */
rd_kafka_conf_t *ly_kafka_conf_new(const ly_config_t *cfg,
				   const char *bootstrap, char *errstr,
				   size_t errstr_size);

/*
 * Starts librdkafka's in-process mock cluster (kafka.brokers: embedded) with
 * every topic of the config created (kafka.embedded_partitions each), and
 * writes its bootstrap address to kafka.embedded_bootstrap_file when set.
 * *handle owns the cluster: destroy it with rd_kafka_destroy. The bootstrap
 * string is copied into bootstrap.
 */
int ly_kafka_embedded_start(rd_kafka_t **handle, const ly_config_t *cfg,
			    char *bootstrap, size_t bootstrap_size,
			    char *errstr, size_t errstr_size);

/* A delivery report callback, as rd_kafka_conf_set_dr_msg_cb takes. */
typedef void (*ly_kafka_dr_fn)(rd_kafka_t *rk, const rd_kafka_message_t *m,
			       void *opaque);

/*
 * The idempotent producer (acks=all, enable.idempotence=true); dr may be
 * NULL. The caller destroys it with rd_kafka_destroy after rd_kafka_flush.
 */
rd_kafka_t *ly_kafka_producer_new(const ly_config_t *cfg,
				  const char *bootstrap, ly_kafka_dr_fn dr,
				  char *errstr, size_t errstr_size);

/* Creates the config's topics (input and output) with the given partition
 * count; topics that exist already are left alone. */
int ly_kafka_create_topics(const ly_config_t *cfg, const char *bootstrap,
			   int partitions, int replication, char *errstr,
			   size_t errstr_size);

/* ---- the consumer ---- */

typedef struct ly_consumer ly_consumer_t;

/*
 * Looks up the next offsets PostgreSQL holds for the partitions of parts
 * (sets each element's .offset; RD_KAFKA_OFFSET_BEGINNING when none).
 * Returns 0, or non-zero when they cannot be read now.
 */
typedef int (*ly_offsets_lookup_fn)(void *opaque,
				    rd_kafka_topic_partition_list_t *parts);

/*
 * What the consumer tells its owner, from the thread that polls it; any
 * function may be NULL.
 */
typedef struct ly_consumer_watch {
	void *opaque;
	/* Every statistics.interval.ms (5 s unless kafka.properties says
	 * otherwise): librdkafka's statistics JSON. */
	void (*stats)(void *opaque, const char *json, size_t len);
	/* No broker can be reached (a fatal-looking but transient state). */
	void (*brokers_down)(void *opaque);
	/* A rebalance: assigned (1) or revoked (0), with the partitions'
	 * count. */
	void (*rebalanced)(void *opaque, int assigned, int partitions);
} ly_consumer_watch_t;

/*
 * Creates a consumer subscribed to the input topics (manual offsets:
 * enable.auto.commit and enable.auto.offset.store off). On every
 * assignment, lookup is called and the partitions are assigned at those
 * offsets. watch may be NULL. The caller frees with ly_consumer_destroy.
 */
int ly_consumer_new(ly_consumer_t **out, const ly_config_t *cfg,
		    const char *bootstrap, ly_offsets_lookup_fn lookup,
		    void *opaque, const ly_consumer_watch_t *watch,
		    char *errstr, size_t errstr_size);

/* Closes (leaves the group) and frees. Accepts NULL. */
void ly_consumer_destroy(ly_consumer_t *consumer);

/*
 * When PostgreSQL cannot give the offsets at assignment, the partitions
 * are assigned paused and nothing from them is handled. This asks again:
 * 0 when none waits (any more: they are sought to the stored offsets and
 * resumed), LY_ERETRY while they still wait. From the polling thread.
 */
int ly_consumer_retry_pending(ly_consumer_t *consumer);
/* How many assigned partitions wait paused for their offsets. */
size_t ly_consumer_paused(const ly_consumer_t *consumer);

/* The handle, for producing-side helpers and tests. */
rd_kafka_t *ly_consumer_handle(ly_consumer_t *consumer);

/* A batch: up to max_events messages, owned by the batch. */
typedef struct ly_msg_batch {
	rd_kafka_message_t **msgs;
	size_t len;
	size_t cap;
} ly_msg_batch_t;

/* Frees the messages of the batch; the batch can be reused. */
void ly_msg_batch_clear(ly_msg_batch_t *batch);
void ly_msg_batch_free(ly_msg_batch_t *batch);

/*
 * Adds messages from assigned partitions to batch: returns when max_events
 * are in hand, max_wait_ms after the first message (after the call began
 * when batch held some already), idle_ms after the call began with none, or
 * *stop becomes non-zero. A rebalance during the call discards everything
 * in batch (the new owner or this one re-reads it from PostgreSQL's
 * offsets). Messages at offsets below PostgreSQL's next offset are skipped.
 */
int ly_consumer_poll_batch(ly_consumer_t *consumer, ly_msg_batch_t *batch,
			   size_t max_events, int max_wait_ms, int idle_ms,
			   volatile int *stop);
/* The same, for the messages librdkafka already holds: never waits. */
int ly_consumer_read_ahead(ly_consumer_t *consumer, ly_msg_batch_t *batch,
			   size_t max_events);
/* Frees batch's messages of the partitions in parts, keeping the rest in
 * order. */
void ly_msg_batch_drop(ly_msg_batch_t *batch,
		       const rd_kafka_topic_partition_list_t *parts);

/*
 * Expected next offset of a partition as last stored in PostgreSQL (or
 * -1 for none); ly_consumer_advance records the new one after a commit.
 * Returns LY_ENOTFOUND when the partition is not assigned (any more).
 */
int ly_consumer_expected(ly_consumer_t *consumer, const char *topic,
			 int32_t partition, int64_t *expected_next);
int ly_consumer_advance(ly_consumer_t *consumer, const char *topic,
			int32_t partition, int64_t next);

/* Commits offsets to Kafka asynchronously, for lag tools. */
void ly_consumer_commit_async(ly_consumer_t *consumer,
			      rd_kafka_topic_partition_list_t *offsets);

/* Number of rebalances seen (assignments + revocations). */
uint64_t ly_consumer_rebalances(const ly_consumer_t *consumer);

#endif
