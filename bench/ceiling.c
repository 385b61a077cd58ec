/*
 * ceiling.c: how many events a second this PostgreSQL can take when the
 * rows are handed to it ready-made (bench/run.sh's ceiling stage). The
 * figure loyaltyd's throughput is compared with.
 *
 *   ceiling --from SCHEMA --to SCHEMA [--group ID] [--tables LIST]
 *           [--dir DIR] [--json FILE] [--config FILE]
 *
 * --from is a schema loyaltyd has just drained a backlog into; --to a
 * fresh schema with the same migrations (`loyaltyctl migrate`), empty. The
 * rows are loyaltyd's own, in loyaltyd's own transactions:
 *
 * 1. Export (untimed). Every transaction of loyaltyd's stamps its rows
 *    with the same now(): processed_events.processed_at, ledger.recorded_at,
 *    outbox.created_at, codes.created_at and offers.created_at. Each
 *    distinct processed_at is one batch, numbered in commit order; rows
 *    without a stamp of their own (lots, orders, code uses) go with their
 *    event's batch; the customers and balances rows of a batch's customers
 *    are upserted with every batch the customer is in, the limit counts
 *    with the customer's last; the offsets row of every partition a batch
 *    read gets that batch's next offset. Each table's rows are written to
 *    DIR/<table>.copy with their batch number, ordered by batch (and by
 *    their identity column, the order loyaltyd inserted them in).
 *    Outbox rows go in unpublished, as the batch wrote them.
 * 2. Load (timed). For each batch: BEGIN; per table one COPY FROM STDIN
 *    of the batch's rows (tables that are upserted: COPY into a temporary
 *    table, then one INSERT .. ON CONFLICT DO UPDATE); COMMIT. The session
 *    keeps the server's settings: fsync and synchronous_commit on, as
 *    loyaltyd runs, so every commit waits for the WAL flush.
 *
 * So the ceiling writes the same rows into the same tables with the same
 * indexes, constraints and triggers, in transactions of the same events,
 * one after another on one connection as one loyaltyd does; what it leaves
 * out is everything that is not the database's work: Kafka, decoding,
 * the rules, reading state back, locking rows, round trips per statement,
 * the outbox relay. It is an upper bound on one worker, not a goal to
 * reach. Each row is written once in its final state (a lot consumed later
 * is inserted consumed), and a limit count once per customer rather than
 * once per change: both make the ceiling a little higher, never lower.
 *
 * Prints the batches, rows per table, transaction seconds and events/s
 * (events / the sum of BEGIN-to-COMMIT wall times).
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "loyalty/config.h"
#include "loyalty/util.h"

extern char **environ;

#define NAME_MAX_LEN 63
#define DIR_MAX 4096
#define SQL_MAX 16384
#define CHUNK_MAX ((size_t)1 << 30) /* one table's rows of one batch */

/* How a table's rows are given their batch. */
typedef enum attribution {
	BY_STAMP,       /* its own now() column */
	BY_EVENT,       /* the batch of (customer_id, event_source, event_id) */
	BY_EACH_BATCH,  /* every batch its customer is in (an upsert) */
	BY_LAST_BATCH,  /* the last batch its customer is in (an upsert) */
	BY_OFFSETS,     /* consumer_offsets, made from processed_events */
} attribution_t;

typedef struct table_spec {
	const char *name;
	attribution_t by;
	const char *stamp;    /* BY_STAMP: the column */
	const char *order;    /* its identity column, or NULL */
	const char *nulled;   /* a column written as NULL, or NULL */
} table_spec_t;

/* In the order one batch writes them. */
static const table_spec_t specs[] = {
	{"customers", BY_EACH_BATCH, NULL, NULL, NULL},
	{"balances", BY_EACH_BATCH, NULL, NULL, NULL},
	{"processed_events", BY_STAMP, "processed_at", NULL, NULL},
	{"orders", BY_EVENT, NULL, NULL, NULL},
	{"ledger", BY_STAMP, "recorded_at", "entry_id", NULL},
	{"lots", BY_EVENT, NULL, "lot_id", NULL},
	{"rule_limits", BY_LAST_BATCH, NULL, NULL, NULL},
	{"codes", BY_STAMP, "created_at", NULL, NULL},
	{"code_uses", BY_EVENT, NULL, "use_id", NULL},
	{"offers", BY_STAMP, "created_at", NULL, NULL},
	{"outbox", BY_STAMP, "created_at", "outbox_id", "published_at"},
	{"consumer_offsets", BY_OFFSETS, NULL, NULL, NULL},
};
#define SPECS_LEN LY_ARRAY_LEN(specs)

/* One table's rows on disk, read back a batch at a time. */
typedef struct table {
	const table_spec_t *spec;
	int upsert;
	char cols[SQL_MAX / 4];    /* the columns written, quoted, comma-separated */
	char copy_sql[SQL_MAX / 2];
	char upsert_sql[SQL_MAX];
	char path[DIR_MAX + 64];
	uint64_t source_rows, rows, loaded;
	FILE *f;
	char *line;
	size_t line_cap;
	ssize_t line_len;
	uint64_t line_batch; /* the batch of the line in hand; 0: none left */
	ly_buf_t chunk;
} table_t;

typedef struct options {
	const char *config_path, *from, *to, *group, *tables, *dir, *json_path;
} options_t;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: ceiling --from SCHEMA --to SCHEMA [--group ID] [--tables LIST]\n"
		"               [--dir DIR] [--json FILE] [--config FILE]\n"
		"\n"
		"Loads the rows loyaltyd wrote into --from, batch by batch as loyaltyd\n"
		"committed them, into the empty migrated schema --to with COPY, one\n"
		"durable transaction per batch, and prints the events/s.\n"
		"PostgreSQL: postgres.conninfo (LOYALTY_POSTGRES_CONNINFO).\n"
		"  --group ID     the consumer group of the offsets rows (default:\n"
		"                 kafka.group_id)\n"
		"  --tables LIST  comma-separated subset of: customers, balances,\n"
		"                 processed_events, orders, ledger, lots, rule_limits,\n"
		"                 codes, code_uses, offers, outbox, consumer_offsets\n"
		"                 (default: all)\n"
		"  --dir DIR      where the exported rows go (default: a new directory\n"
		"                 under $TMPDIR, removed at the end)\n"
		"  --json FILE    also write the figures to FILE as JSON\n");
}

static int valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > NAME_MAX_LEN || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_'))
			return 0;
	return 1;
}

static int parse_args(options_t *o, int argc, char **argv)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i += 2) { /* every option takes a value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = !v || !*v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--from") == 0) {
			bad = !valid_name(v);
			o->from = v;
		} else if (strcmp(a, "--to") == 0) {
			bad = !valid_name(v);
			o->to = v;
		} else if (strcmp(a, "--group") == 0) {
			o->group = v;
		} else if (strcmp(a, "--tables") == 0) {
			o->tables = v;
		} else if (strcmp(a, "--dir") == 0) {
			bad = bad || strlen(v) > DIR_MAX;
			o->dir = v;
		} else if (strcmp(a, "--json") == 0) {
			o->json_path = v;
		} else if (strcmp(a, "--config") == 0) {
			o->config_path = v;
		} else {
			fprintf(stderr, "ceiling: unknown argument \"%s\"\n", a);
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "ceiling: %s: bad value %s%s%s\n", a,
				v ? "\"" : "(missing)", v ? v : "", v ? "\"" : "");
			usage(stderr);
			return 2;
		}
	}
	if (!o->from || !o->to || strcmp(o->from, o->to) == 0) {
		fprintf(stderr, "ceiling: give --from and --to, two different schemas\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- PostgreSQL ---- */

/* Runs sql (no parameters); 0, or -1 after printing what failed. With
 * out, the result is kept for the caller to PQclear. */
static int run_sql(PGconn *pg, const char *what, const char *sql, PGresult **out)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		fprintf(stderr, "ceiling: %s: %s", what, PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* One value of a one-row query into buf; 0 or -1. */
static int query_value(PGconn *pg, const char *what, const char *sql, char *buf,
		       size_t size)
{
	PGresult *res;
	if (run_sql(pg, what, sql, &res))
		return -1;
	int ok = PQntuples(res) == 1 && PQnfields(res) == 1;
	if (ok)
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	else
		fprintf(stderr, "ceiling: %s: no value\n", what);
	PQclear(res);
	return ok ? 0 : -1;
}

static PGconn *connect_pg(const char *conninfo)
{
	PGconn *pg = PQconnectdb(conninfo);
	if (PQstatus(pg) != CONNECTION_OK) {
		fprintf(stderr, "ceiling: cannot connect to PostgreSQL: %s",
			PQerrorMessage(pg));
		PQfinish(pg);
		return NULL;
	}
	PQsetErrorVerbosity(pg, PQERRORS_TERSE);
	return pg;
}

/*
 * The table's columns in schema to (identity and generated ones left out)
 * and, for an upsert, the statement from its temporary twin. 0 or -1.
 */
static int describe(PGconn *pg, const char *to, table_t *t)
{
	char sql[SQL_MAX], pk[SQL_MAX / 4], set[SQL_MAX / 2];
	const char *name = t->spec->name;
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(string_agg(quote_ident(column_name), ', ' "
		 "ORDER BY ordinal_position), '') FROM information_schema.columns "
		 "WHERE table_schema = '%s' AND table_name = '%s' "
		 "AND is_identity = 'NO' AND is_generated = 'NEVER'",
		 to, name);
	if (query_value(pg, name, sql, t->cols, sizeof(t->cols)))
		return -1;
	if (!t->cols[0]) {
		fprintf(stderr, "ceiling: %s.%s: no such table\n", to, name);
		return -1;
	}
	if (!t->upsert) {
		snprintf(t->copy_sql, sizeof(t->copy_sql), "COPY %s.%s (%s) FROM STDIN", to,
			 name, t->cols);
		return 0;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT string_agg(quote_ident(a.attname), ', ' "
		 "ORDER BY array_position(i.indkey, a.attnum)) "
		 "FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
		 "AND a.attnum = ANY (i.indkey) "
		 "WHERE i.indrelid = '%s.%s'::regclass AND i.indisprimary",
		 to, name);
	if (query_value(pg, name, sql, pk, sizeof(pk)))
		return -1;
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(string_agg(format('%%1$I = EXCLUDED.%%1$I', column_name), "
		 "', ' ORDER BY ordinal_position), '') FROM information_schema.columns c "
		 "WHERE table_schema = '%s' AND table_name = '%s' "
		 "AND is_identity = 'NO' AND is_generated = 'NEVER' "
		 "AND quote_ident(column_name) <> ALL (string_to_array('%s', ', '))",
		 to, name, pk);
	if (query_value(pg, name, sql, set, sizeof(set)))
		return -1;
	snprintf(t->copy_sql, sizeof(t->copy_sql), "COPY ceiling_%s (%s) FROM STDIN", name,
		 t->cols);
	int n = snprintf(t->upsert_sql, sizeof(t->upsert_sql),
			 "INSERT INTO %s.%s (%s) SELECT %s FROM ceiling_%s "
			 "ON CONFLICT (%s) DO %s%s",
			 to, name, t->cols, t->cols, name, pk,
			 set[0] ? "UPDATE SET " : "NOTHING", set);
	if (n < 0 || (size_t)n >= sizeof(t->upsert_sql)) {
		fprintf(stderr, "ceiling: %s: the upsert statement is too long\n", name);
		return -1;
	}
	return 0;
}

/* ---- export ---- */

/* The batches and which batch each event and customer is in, as
 * temporary tables of the export session. 0 or -1. */
static int map_batches(PGconn *pg, const char *from, uint64_t *batches, uint64_t *events)
{
	char sql[SQL_MAX], v[64];
	snprintf(sql, sizeof(sql),
		 "CREATE TEMP TABLE ceiling_batches AS SELECT at, row_number() OVER "
		 "(ORDER BY at) AS b FROM (SELECT DISTINCT processed_at AS at "
		 "FROM %s.processed_events) d; "
		 "CREATE INDEX ON ceiling_batches (at); "
		 "CREATE TEMP TABLE ceiling_event_batch AS SELECT customer_id, "
		 "event_source, event_id, min(b.b) AS b FROM ("
		 "SELECT customer_id, event_source, event_id, processed_at AS at "
		 "FROM %s.processed_events UNION ALL "
		 "SELECT customer_id, event_source, event_id, recorded_at FROM %s.ledger) x "
		 "JOIN ceiling_batches b USING (at) GROUP BY 1, 2, 3; "
		 "CREATE INDEX ON ceiling_event_batch (customer_id, event_source, event_id); "
		 "CREATE TEMP TABLE ceiling_customer_batch AS SELECT DISTINCT p.customer_id, "
		 "b.b FROM %s.processed_events p JOIN ceiling_batches b "
		 "ON b.at = p.processed_at; "
		 "ANALYZE ceiling_batches; ANALYZE ceiling_event_batch; "
		 "ANALYZE ceiling_customer_batch",
		 from, from, from, from);
	if (run_sql(pg, "map the batches", sql, NULL))
		return -1;
	if (query_value(pg, "batches", "SELECT count(*) FROM ceiling_batches", v, sizeof(v)))
		return -1;
	*batches = strtoull(v, NULL, 10);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.processed_events", from);
	if (query_value(pg, "events", sql, v, sizeof(v)))
		return -1;
	*events = strtoull(v, NULL, 10);
	return 0;
}

/* The COPY ... TO STDOUT of a table's rows, each led by its batch. */
static void export_sql(char *sql, size_t size, const table_t *t, const char *from,
		       const char *group_literal)
{
	const table_spec_t *s = t->spec;
	char select[SQL_MAX / 2];
	if (s->by == BY_OFFSETS) {
		snprintf(sql, size,
			 "COPY (SELECT b.b, %s, p.topic, p.partition, max(p.\"offset\") + 1, "
			 "b.at FROM %s.processed_events p JOIN ceiling_batches b "
			 "ON b.at = p.processed_at GROUP BY b.b, b.at, p.topic, p.partition "
			 "ORDER BY b.b, p.topic, p.partition) TO STDOUT",
			 group_literal, from);
		return;
	}
	/* "t.a, t.b, ...", the nulled column as NULL */
	size_t n = 0;
	const char *c = t->cols;
	while (*c && n < sizeof(select)) {
		size_t len = strcspn(c, ",");
		char col[256];
		snprintf(col, sizeof(col), "%.*s", (int)len, c);
		int null = s->nulled && strcmp(col, s->nulled) == 0;
		n += (size_t)snprintf(select + n, sizeof(select) - n, "%s%s%s", n ? ", " : "",
				      null ? "NULL" : "t.", null ? "" : col);
		c += len;
		while (*c == ',' || *c == ' ')
			c++;
	}
	const char *order = s->order ? s->order : "customer_id";
	switch (s->by) {
	case BY_STAMP:
		snprintf(sql, size,
			 "COPY (SELECT b.b, %s FROM %s.%s t JOIN ceiling_batches b "
			 "ON b.at = t.%s ORDER BY b.b, t.%s) TO STDOUT",
			 select, from, s->name, s->stamp, order);
		break;
	case BY_EVENT:
		snprintf(sql, size,
			 "COPY (SELECT e.b, %s FROM %s.%s t JOIN ceiling_event_batch e "
			 "ON (e.customer_id, e.event_source, e.event_id) = "
			 "(t.customer_id, t.event_source, t.event_id) ORDER BY e.b, t.%s) "
			 "TO STDOUT",
			 select, from, s->name, order);
		break;
	case BY_EACH_BATCH:
		snprintf(sql, size,
			 "COPY (SELECT cb.b, %s FROM %s.%s t JOIN ceiling_customer_batch cb "
			 "ON cb.customer_id = t.customer_id ORDER BY cb.b, t.customer_id) "
			 "TO STDOUT",
			 select, from, s->name);
		break;
	default: /* BY_LAST_BATCH */
		snprintf(sql, size,
			 "COPY (SELECT cb.b, %s FROM %s.%s t JOIN (SELECT customer_id, "
			 "max(b) AS b FROM ceiling_customer_batch GROUP BY 1) cb "
			 "ON cb.customer_id = t.customer_id ORDER BY cb.b, t.customer_id) "
			 "TO STDOUT",
			 select, from, s->name);
		break;
	}
}

/* Writes the table's rows with their batches to t->path. 0 or -1. */
static int export_table(PGconn *pg, table_t *t, const char *from, const char *group_literal)
{
	char sql[SQL_MAX], v[64];
	const char *name = t->spec->name;
	int rc = -1;
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.%s", from, name);
	if (query_value(pg, name, sql, v, sizeof(v)))
		return -1;
	t->source_rows = strtoull(v, NULL, 10);
	FILE *f = fopen(t->path, "w");
	if (!f) {
		fprintf(stderr, "ceiling: cannot write %s: %s\n", t->path, strerror(errno));
		return -1;
	}
	export_sql(sql, sizeof(sql), t, from, group_literal);
	PGresult *res = PQexec(pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		fprintf(stderr, "ceiling: export %s: %s", name, PQerrorMessage(pg));
		PQclear(res);
		goto out;
	}
	PQclear(res);
	char *row;
	int len;
	while ((len = PQgetCopyData(pg, &row, 0)) > 0) {
		size_t w = fwrite(row, 1, (size_t)len, f);
		PQfreemem(row);
		if (w != (size_t)len) {
			fprintf(stderr, "ceiling: cannot write %s\n", t->path);
			goto drain;
		}
		t->rows++;
	}
	if (len == -2) {
		fprintf(stderr, "ceiling: export %s: %s", name, PQerrorMessage(pg));
		goto out;
	}
	rc = 0;
drain:
	while ((res = PQgetResult(pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			fprintf(stderr, "ceiling: export %s: %s", name, PQerrorMessage(pg));
			rc = -1;
		}
		PQclear(res);
	}
out:
	if (fclose(f) != 0 && rc == 0) {
		fprintf(stderr, "ceiling: cannot write %s\n", t->path);
		rc = -1;
	}
	return rc;
}

/* ---- load ---- */

/* The next line of the table's file into t->line, with its batch. 0, or
 * -1 for a line that does not start with a batch number. */
static int next_line(table_t *t)
{
	t->line_len = getline(&t->line, &t->line_cap, t->f);
	if (t->line_len <= 0) {
		t->line_batch = 0;
		return 0;
	}
	char *end;
	t->line_batch = strtoull(t->line, &end, 10);
	if (end == t->line || *end != '\t' || t->line_batch == 0) {
		fprintf(stderr, "ceiling: %s: a line without its batch\n", t->path);
		return -1;
	}
	return 0;
}

static int open_rows(table_t *t)
{
	if (!(t->f = fopen(t->path, "r"))) {
		fprintf(stderr, "ceiling: cannot read %s: %s\n", t->path, strerror(errno));
		return -1;
	}
	t->chunk.max = CHUNK_MAX;
	return next_line(t);
}

/* The rows of batch b (COPY text, batch number cut) into t->chunk. 0 or -1. */
static int read_batch(table_t *t, uint64_t b)
{
	ly_buf_reset(&t->chunk);
	if (t->line_batch && t->line_batch < b) {
		fprintf(stderr, "ceiling: %s: rows out of batch order\n", t->path);
		return -1;
	}
	while (t->line_batch == b) {
		const char *row = strchr(t->line, '\t') + 1;
		if (ly_buf_append(&t->chunk, row, (size_t)(t->line + t->line_len - row))) {
			fprintf(stderr, "ceiling: %s: batch %" PRIu64 " over %zu bytes\n",
				t->path, b, CHUNK_MAX);
			return -1;
		}
		t->loaded++;
		if (next_line(t))
			return -1;
	}
	return 0;
}

/* One table's chunk through COPY FROM STDIN (and the upsert). 0 or -1. */
static int load_chunk(PGconn *pg, const table_t *t)
{
	PGresult *res = PQexec(pg, t->copy_sql);
	int rc = -1;
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		fprintf(stderr, "ceiling: copy %s: %s", t->spec->name, PQerrorMessage(pg));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (PQputCopyData(pg, t->chunk.data, (int)t->chunk.len) != 1 ||
	    PQputCopyEnd(pg, NULL) != 1) {
		fprintf(stderr, "ceiling: copy %s: %s", t->spec->name, PQerrorMessage(pg));
		return -1;
	}
	rc = 0;
	while ((res = PQgetResult(pg))) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			fprintf(stderr, "ceiling: copy %s: %s", t->spec->name,
				PQerrorMessage(pg));
			rc = -1;
		}
		PQclear(res);
	}
	if (rc == 0 && t->upsert) {
		res = PQexecPrepared(pg, t->spec->name, 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "ceiling: upsert %s: %s", t->spec->name,
				PQerrorMessage(pg));
			rc = -1;
		}
		PQclear(res);
	}
	return rc;
}

/* Temporary twins and prepared upserts of the upserted tables. 0 or -1. */
static int prepare_load(PGconn *pg, table_t *tables, size_t n, const char *to)
{
	char sql[SQL_MAX];
	for (size_t i = 0; i < n; i++) {
		table_t *t = &tables[i];
		if (!t->upsert)
			continue;
		snprintf(sql, sizeof(sql),
			 "CREATE TEMP TABLE ceiling_%s (LIKE %s.%s INCLUDING DEFAULTS) "
			 "ON COMMIT DELETE ROWS",
			 t->spec->name, to, t->spec->name);
		if (run_sql(pg, t->spec->name, sql, NULL))
			return -1;
		PGresult *res = PQprepare(pg, t->spec->name, t->upsert_sql, 0, NULL);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "ceiling: prepare %s: %s", t->spec->name,
				PQerrorMessage(pg));
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

/*
 * Every batch in its own transaction. *tx_s is the sum of the
 * transactions' wall times (BEGIN to COMMIT's answer), reading the rows
 * from the files left out. 0 or -1.
 */
static int load(PGconn *pg, table_t *tables, size_t n, uint64_t batches, double *tx_s)
{
	*tx_s = 0;
	for (size_t i = 0; i < n; i++)
		if (open_rows(&tables[i]))
			return -1;
	for (uint64_t b = 1; b <= batches; b++) {
		for (size_t i = 0; i < n; i++)
			if (read_batch(&tables[i], b))
				return -1;
		double t0 = mono_s();
		if (run_sql(pg, "begin", "BEGIN", NULL))
			return -1;
		for (size_t i = 0; i < n; i++)
			if (tables[i].chunk.len && load_chunk(pg, &tables[i]))
				return -1;
		if (run_sql(pg, "commit", "COMMIT", NULL))
			return -1;
		*tx_s += mono_s() - t0;
	}
	return 0;
}

/* ---- the command ---- */

/* Picks the tables of --tables (all when NULL). 0, or 2 for an unknown
 * name. */
static int pick_tables(const char *list, table_t *tables, size_t *n, const char *dir)
{
	*n = 0;
	for (size_t k = 0; k < SPECS_LEN; k++) {
		const char *name = specs[k].name;
		int want = !list;
		for (const char *p = list; p && *p && !want;) {
			size_t len = strcspn(p, ",");
			want = len == strlen(name) && strncmp(p, name, len) == 0;
			p += len + (p[len] == ',');
		}
		if (!want)
			continue;
		table_t *t = &tables[(*n)++];
		t->spec = &specs[k];
		t->upsert = specs[k].by == BY_EACH_BATCH || specs[k].by == BY_LAST_BATCH ||
			    specs[k].by == BY_OFFSETS;
		snprintf(t->path, sizeof(t->path), "%s/%s.copy", dir, name);
	}
	for (const char *p = list; p && *p;) {
		size_t len = strcspn(p, ","), k = 0;
		while (k < SPECS_LEN &&
		       !(len == strlen(specs[k].name) && strncmp(p, specs[k].name, len) == 0))
			k++;
		if (k == SPECS_LEN) {
			fprintf(stderr, "ceiling: --tables: unknown table \"%.*s\"\n", (int)len, p);
			usage(stderr);
			return 2;
		}
		p += len + (p[len] == ',');
	}
	if (*n == 0) {
		fprintf(stderr, "ceiling: --tables: no table\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

static int write_json(const char *path, const table_t *tables, size_t n, uint64_t batches,
		      uint64_t events, double tx_s, double wall_s)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "ceiling: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	fprintf(f,
		"{\"batches\": %" PRIu64 ", \"events\": %" PRIu64
		", \"transaction_seconds\": %.3f, \"wall_seconds\": %.3f"
		", \"events_per_s\": %.0f, \"rows\": {",
		batches, events, tx_s, wall_s, tx_s > 0 ? (double)events / tx_s : 0.0);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s\"%s\": %" PRIu64, i ? ", " : "", tables[i].spec->name,
			tables[i].loaded);
	fprintf(f, "}}\n");
	if (fclose(f) != 0) {
		fprintf(stderr, "ceiling: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	options_t o;
	int status = parse_args(&o, argc, argv);
	if (status)
		return status;

	char errstr[1024], dir[DIR_MAX + 1];
	ly_config_t cfg = {0};
	table_t tables[SPECS_LEN];
	size_t ntables = 0;
	PGconn *pg = NULL;
	char *group_literal = NULL;
	int made_dir = 0;
	uint64_t batches = 0, events = 0;
	double tx_s = 0;
	memset(tables, 0, sizeof(tables));
	if (o.dir) {
		snprintf(dir, sizeof(dir), "%s", o.dir);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/ceiling.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "ceiling: cannot make %s: %s\n", dir, strerror(errno));
			return 1;
		}
		made_dir = 1;
	}
	if ((status = pick_tables(o.tables, tables, &ntables, dir)))
		goto out;
	status = 1;
	if (ly_config_load(&cfg, o.config_path, environ, errstr, sizeof(errstr))) {
		fprintf(stderr, "ceiling: %s\n", errstr);
		goto out;
	}

	/* export, untimed */
	if (!(pg = connect_pg(cfg.postgres_conninfo)))
		goto out;
	const char *group = o.group ? o.group : cfg.kafka_group_id;
	if (!(group_literal = PQescapeLiteral(pg, group, strlen(group)))) {
		fprintf(stderr, "ceiling: %s", PQerrorMessage(pg));
		goto out;
	}
	double e0 = mono_s();
	if (map_batches(pg, o.from, &batches, &events))
		goto out;
	if (batches == 0) {
		fprintf(stderr, "ceiling: %s.processed_events is empty\n", o.from);
		goto out;
	}
	for (size_t i = 0; i < ntables; i++)
		if (describe(pg, o.to, &tables[i]) ||
		    export_table(pg, &tables[i], o.from, group_literal))
			goto out;
	double export_s = mono_s() - e0;
	PQfinish(pg);

	/* load, timed per transaction, on a session of its own */
	if (!(pg = connect_pg(cfg.postgres_conninfo)) ||
	    prepare_load(pg, tables, ntables, o.to))
		goto out;
	double w0 = mono_s();
	if (load(pg, tables, ntables, batches, &tx_s))
		goto out;
	double wall_s = mono_s() - w0;

	printf("from                 %s (%" PRIu64 " events in %" PRIu64
	       " transactions, %.1f events each)\n",
	       o.from, events, batches, (double)events / (double)batches);
	printf("to                   %s\n", o.to);
	for (size_t i = 0; i < ntables; i++)
		printf("  %-19s%" PRIu64 " rows (%" PRIu64 " in %s)%s\n", tables[i].spec->name,
		       tables[i].loaded, tables[i].source_rows, o.from,
		       tables[i].upsert ? ", upserted" : "");
	printf("export seconds       %.3f (untimed)\n", export_s);
	printf("transaction seconds  %.3f (BEGIN to COMMIT, summed; %.2f ms each)\n", tx_s,
	       tx_s * 1000.0 / (double)batches);
	printf("wall seconds         %.3f (reading the rows from files included)\n", wall_s);
	printf("events/s             %.0f (events / transaction seconds)\n",
	       tx_s > 0 ? (double)events / tx_s : 0.0);
	if (o.json_path &&
	    write_json(o.json_path, tables, ntables, batches, events, tx_s, wall_s))
		goto out;
	status = 0;
out:
	for (size_t i = 0; i < ntables; i++) {
		if (tables[i].f)
			fclose(tables[i].f);
		free(tables[i].line);
		ly_buf_free(&tables[i].chunk);
		if (made_dir)
			unlink(tables[i].path);
	}
	if (made_dir)
		rmdir(dir);
	if (group_literal)
		PQfreemem(group_literal);
	PQfinish(pg);
	ly_config_free(&cfg);
	return status;
}
