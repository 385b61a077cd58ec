/*
 * metrics.c: the worker's metrics in the Prometheus text format
 * (include/loyalty/metrics.h). Families are a static table; a series is
 * found by linear search over its label values, which is cheap for the
 * few series a worker has (types, reasons, its partitions) and keeps the
 * code obvious.
 */
#include "loyalty/metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LABEL_MAX_BYTES 128
#define BUCKETS_MAX 12

typedef enum kind { COUNTER, GAUGE, HISTOGRAM } kind_t;

typedef struct family {
	const char *name;
	kind_t kind;
	const char *help;
	const char *label1, *label2; /* NULL: no such label */
	const double *buckets;       /* HISTOGRAM: upper bounds, ascending */
	size_t buckets_len;
} family_t;

static const double batch_size_buckets[] = {1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
static const double batch_duration_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						0.1, 0.25, 0.5, 1, 2.5, 10};

static const family_t families[LY_M__COUNT] = {
	[LY_M_EVENTS_CONSUMED] = {"loyalty_events_consumed_total", COUNTER,
				  "Input messages read from Kafka.", "topic"},
	[LY_M_EVENTS_APPLIED] = {"loyalty_events_applied_total", COUNTER,
				 "Input events applied to PostgreSQL state.", "type"},
	[LY_M_EVENTS_REJECTED] = {"loyalty_events_rejected_total", COUNTER,
				  "Input messages sent to the dead-letter topic, by reason.",
				  "reason"},
	[LY_M_EVENTS_DUPLICATE] = {"loyalty_events_duplicate_total", COUNTER,
				   "Input events seen before (same source and id), applied no second time."},
	[LY_M_POINTS_CREDITED] = {"loyalty_points_credited_total", COUNTER,
				  "Points credited by ledger lines."},
	[LY_M_POINTS_DEBITED] = {"loyalty_points_debited_total", COUNTER,
				 "Points debited by ledger lines."},
	[LY_M_CODES_ISSUED] = {"loyalty_codes_issued_total", COUNTER,
			       "Discount codes and gift cards issued."},
	[LY_M_OFFERS] = {"loyalty_offers_total", COUNTER,
			 "Offers made, per channel: sent, or suppressed (no_consent, "
			 "max_per_customer) when made; consent_withdrawn when the relay "
			 "dropped one.",
			 "channel", "outcome"},
	[LY_M_BATCH_SIZE] = {"loyalty_batch_size", HISTOGRAM,
			     "Input messages per committed batch.", NULL, NULL,
			     batch_size_buckets, LY_ARRAY_LEN(batch_size_buckets)},
	[LY_M_BATCH_DURATION] = {"loyalty_batch_duration_seconds", HISTOGRAM,
				 "Time from a batch's first transaction attempt to its commit.",
				 NULL, NULL, batch_duration_buckets,
				 LY_ARRAY_LEN(batch_duration_buckets)},
	[LY_M_POSTGRES_RETRIES] = {"loyalty_postgres_retries_total", COUNTER,
				   "Batch transactions rolled back and retried (lost connection, "
				   "serialization failure, deadlock, budget spent meanwhile)."},
	[LY_M_OFFSET_CONFLICTS] = {"loyalty_offset_conflicts_total", COUNTER,
				   "Batches discarded because their partition had another owner."},
	[LY_M_OUTBOX_BACKLOG] = {"loyalty_outbox_backlog", GAUGE,
				 "Outbox rows not yet published."},
	[LY_M_OUTBOX_LAG] = {"loyalty_outbox_publish_lag_seconds", GAUGE,
			     "Age of the oldest outbox row not yet published (0 when none)."},
	[LY_M_OUTBOX_PUBLISHED] = {"loyalty_outbox_published_total", COUNTER,
				   "Outbox rows published and acknowledged by the broker."},
	[LY_M_OUTBOX_PRUNED] = {"loyalty_outbox_pruned_total", COUNTER,
				"Published outbox rows deleted after outbox.keep_published_s."},
	[LY_M_CONSUMER_LAG] = {"loyalty_consumer_lag", GAUGE,
			       "Messages behind the end of each assigned partition (librdkafka statistics).",
			       "topic", "partition"},
	[LY_M_REBALANCES] = {"loyalty_rebalances_total", COUNTER,
			     "Consumer group rebalances seen, by kind.", "kind"},
	[LY_M_PARTITIONS] = {"loyalty_partitions_assigned", GAUGE,
			     "Input partitions assigned to this worker."},
	[LY_M_PROGRAM_INFO] = {"loyalty_program_info", GAUGE,
			       "The program running: its name and version (1).", "name",
			       "version"},
	[LY_M_PROGRAM_RELOADS] = {"loyalty_program_reloads_total", COUNTER,
				  "Program reloads on SIGHUP, by result.", "result"},
	[LY_M_READY] = {"loyalty_ready", GAUGE,
			"1 while PostgreSQL and the broker can be reached and no partition is paused."},
	[LY_M_LAST_PROGRESS] = {"loyalty_last_progress_timestamp_seconds", GAUGE,
				"When the processing loop last went round (Unix time)."},
};

typedef struct series {
	char l1[LABEL_MAX_BYTES], l2[LABEL_MAX_BYTES];
	double value;                    /* COUNTER, GAUGE */
	uint64_t buckets[BUCKETS_MAX];   /* HISTOGRAM: per bucket, not cumulative */
	uint64_t count;
	double sum;
} series_t;

typedef struct fam_state {
	series_t *series;
	size_t len, cap;
} fam_state_t;

struct ly_metrics {
	pthread_mutex_t mu;
	fam_state_t fams[LY_M__COUNT];
	double start_time; /* process_start_time_seconds */
};

ly_metrics_t *ly_metrics_new(void)
{
	ly_metrics_t *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	pthread_mutex_init(&m->mu, NULL);
	m->start_time = (double)ly_time_now_us() / 1e6;
	return m;
}

void ly_metrics_destroy(ly_metrics_t *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < LY_M__COUNT; i++)
		free(m->fams[i].series);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

/* The series with these labels, created when absent; NULL when out of
 * memory (the update is then lost, never the process). Under mu. */
static series_t *series_get(ly_metrics_t *m, ly_metric_t id, const char *l1,
			    const char *l2)
{
	fam_state_t *f = &m->fams[id];
	l1 = l1 ? l1 : "";
	l2 = l2 ? l2 : "";
	for (size_t i = 0; i < f->len; i++)
		if (strcmp(f->series[i].l1, l1) == 0 && strcmp(f->series[i].l2, l2) == 0)
			return &f->series[i];
	if (f->len == f->cap) {
		size_t cap = f->cap * 2 + 4;
		series_t *grown = realloc(f->series, cap * sizeof(*grown));
		if (!grown)
			return NULL;
		f->series = grown;
		f->cap = cap;
	}
	series_t *s = &f->series[f->len++];
	memset(s, 0, sizeof(*s));
	snprintf(s->l1, sizeof(s->l1), "%s", l1);
	snprintf(s->l2, sizeof(s->l2), "%s", l2);
	return s;
}

static void update(ly_metrics_t *m, ly_metric_t id, const char *l1,
		   const char *l2, double v, int set)
{
	if (!m)
		return;
	LY_ASSERT(id < LY_M__COUNT && families[id].kind != HISTOGRAM);
	pthread_mutex_lock(&m->mu);
	series_t *s = series_get(m, id, l1, l2);
	if (s)
		s->value = set ? v : s->value + v;
	pthread_mutex_unlock(&m->mu);
}

void ly_metrics_add(ly_metrics_t *m, ly_metric_t id, const char *l1,
		    const char *l2, double v)
{
	update(m, id, l1, l2, v, 0);
}

void ly_metrics_set(ly_metrics_t *m, ly_metric_t id, const char *l1,
		    const char *l2, double v)
{
	update(m, id, l1, l2, v, 1);
}

void ly_metrics_clear(ly_metrics_t *m, ly_metric_t id)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->fams[id].len = 0;
	pthread_mutex_unlock(&m->mu);
}

void ly_metrics_observe(ly_metrics_t *m, ly_metric_t id, double v)
{
	if (!m)
		return;
	const family_t *fam = &families[id];
	LY_ASSERT(fam->kind == HISTOGRAM && fam->buckets_len <= BUCKETS_MAX);
	pthread_mutex_lock(&m->mu);
	series_t *s = series_get(m, id, NULL, NULL);
	if (s) {
		size_t b = 0;
		while (b < fam->buckets_len && v > fam->buckets[b])
			b++;
		if (b < fam->buckets_len)
			s->buckets[b]++;
		s->count++;
		s->sum += v;
	}
	pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

/* A label value, escaped as the format wants (\\, \", \n). */
static void put_label(ly_buf_t *b, const char *name, const char *value,
		      int first)
{
	ly_buf_printf(b, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			ly_buf_putc(b, '\\');
		if (*p == '\n') {
			ly_buf_puts(b, "\\n");
			continue;
		}
		ly_buf_putc(b, *p);
	}
	ly_buf_putc(b, '"');
}

/* {l1="..",l2=".."} for a series, or nothing without labels. */
static void put_labels(ly_buf_t *b, const family_t *f, const series_t *s)
{
	if (!f->label1)
		return;
	ly_buf_putc(b, '{');
	put_label(b, f->label1, s->l1, 1);
	if (f->label2)
		put_label(b, f->label2, s->l2, 0);
	ly_buf_putc(b, '}');
}

/* %.17g, but integers without an exponent, as Prometheus prints them. */
static void put_value(ly_buf_t *b, double v)
{
	if (v == (double)(int64_t)v && v > -9e15 && v < 9e15)
		ly_buf_printf(b, " %lld\n", (long long)v);
	else
		ly_buf_printf(b, " %.17g\n", v);
}

static void render_family(ly_buf_t *b, const family_t *f, const fam_state_t *st)
{
	static const char *const kinds[] = {"counter", "gauge", "histogram"};
	ly_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
		      kinds[f->kind]);
	if (f->kind != HISTOGRAM) {
		/* a family without labels always has its one series */
		if (st->len == 0 && !f->label1) {
			ly_buf_printf(b, "%s 0\n", f->name);
			return;
		}
		for (size_t i = 0; i < st->len; i++) {
			ly_buf_puts(b, f->name);
			put_labels(b, f, &st->series[i]);
			put_value(b, st->series[i].value);
		}
		return;
	}
	series_t empty;
	memset(&empty, 0, sizeof(empty));
	const series_t *s = st->len ? &st->series[0] : &empty;
	uint64_t cumulative = 0;
	for (size_t k = 0; k < f->buckets_len; k++) {
		cumulative += s->buckets[k];
		ly_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", f->name, f->buckets[k],
			      (unsigned long long)cumulative);
	}
	ly_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", f->name,
		      (unsigned long long)s->count);
	ly_buf_printf(b, "%s_sum", f->name);
	put_value(b, s->sum);
	ly_buf_printf(b, "%s_count %llu\n", f->name, (unsigned long long)s->count);
}

/* process_* from /proc/self, as the Prometheus client libraries give them. */
static void render_process(ly_buf_t *b, double start_time)
{
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	unsigned long utime = 0, stime = 0, vsize = 0;
	long rss = 0;
	FILE *f = fopen("/proc/self/stat", "r");
	if (f) {
		/* fields 14, 15 (utime, stime), 23 (vsize), 24 (rss); the
		 * command in field 2 may hold spaces, so skip past its ')' */
		char line[1024];
		if (fgets(line, sizeof(line), f)) {
			char *p = strrchr(line, ')');
			if (p && sscanf(p + 2,
					"%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
					"%*d %*d %*d %*d %*d %*d %*u %lu %ld",
					&utime, &stime, &vsize, &rss) != 4)
				utime = stime = vsize = 0, rss = 0;
		}
		fclose(f);
	}
	size_t fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)))
			fds += e->d_name[0] != '.';
		closedir(d);
		fds -= fds > 0; /* the directory's own descriptor */
	}
	ly_buf_printf(b,
		      "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
		      "# TYPE process_cpu_seconds_total counter\n"
		      "process_cpu_seconds_total %.2f\n"
		      "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
		      "# TYPE process_resident_memory_bytes gauge\n"
		      "process_resident_memory_bytes %lld\n"
		      "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
		      "# TYPE process_virtual_memory_bytes gauge\n"
		      "process_virtual_memory_bytes %lu\n"
		      "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
		      "# TYPE process_start_time_seconds gauge\n"
		      "process_start_time_seconds %.3f\n"
		      "# HELP process_open_fds Number of open file descriptors.\n"
		      "# TYPE process_open_fds gauge\n"
		      "process_open_fds %zu\n",
		      ticks > 0 ? (double)(utime + stime) / (double)ticks : 0.0,
		      (long long)rss * (long long)page, vsize, start_time, fds);
}

int ly_metrics_render(ly_metrics_t *m, ly_buf_t *out)
{
	pthread_mutex_lock(&m->mu);
	for (size_t i = 0; i < LY_M__COUNT; i++)
		render_family(out, &families[i], &m->fams[i]);
	pthread_mutex_unlock(&m->mu);
	render_process(out, m->start_time);
	return out->data ? 0 : LY_ENOMEM;
}
