/*
 * store.c: PostgreSQL (include/loyalty/store.h).
 *
 * Batches are written with one statement per table: the rows travel as
 * PostgreSQL array literals in parameters and are expanded with unnest(),
 * so a batch of a thousand events costs a handful of round trips and no
 * SQL text is ever built from input. Errors are sorted into "retry the
 * batch" (serialization failure, deadlock, lost connection) and the rest.
 */
#include "loyalty/store.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- connection and errors ---- */

static int sqlstate_is_transient(const char *state)
{
	if (!state)
		return 1; /* no server answer at all: the connection broke */
	return strcmp(state, "40001") == 0 || /* serialization_failure */
	       strcmp(state, "40P01") == 0 || /* deadlock_detected */
	       strncmp(state, "08", 2) == 0 || /* connection exceptions */
	       strcmp(state, "57P01") == 0 || /* admin_shutdown */
	       strcmp(state, "57P02") == 0 || /* crash_shutdown */
	       strcmp(state, "57P03") == 0 || /* cannot_connect_now */
	       strcmp(state, "55P03") == 0;   /* lock_not_available */
}

/* Copies the server's message without a trailing newline. */
static void set_pg_error(char *errstr, size_t errstr_size, const char *what,
			 const char *msg)
{
	size_t n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	snprintf(errstr, errstr_size, "%s: %.*s", what, (int)n, msg);
}

/*
 * Runs one parameterised statement. On success *res holds the result (the
 * caller PQclear()s it) unless res is NULL. Returns 0, LY_ERETRY or LY_EIO.
 */
/* Sorts a failed result into LY_ERETRY or LY_EIO and frees it. */
int ly_st_result_error(ly_store_t *s, PGresult *r, const char *what,
			char *errstr, size_t errstr_size)
{
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	int transient = sqlstate_is_transient(state) ||
			PQstatus(s->conn) != CONNECTION_OK;
	int conflict = state && strcmp(state, "LY409") == 0; /* 0006_offsets_conflict */
	set_pg_error(errstr, errstr_size, what,
		     r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r)
						     : PQerrorMessage(s->conn));
	PQclear(r);
	return conflict ? LY_ECONFLICT : transient ? LY_ERETRY : LY_EIO;
}

static int result_ok(PGresult *r)
{
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

/*
 * Pipeline mode: the results of the statements sent ahead, in order, up to
 * and including the one that is wanted (want, or all of them with NULL).
 * The first failure is the one reported; the statements after it were
 * not run (PGRES_PIPELINE_ABORTED).
 */
static int collect(ly_store_t *s, PGresult **want, char *errstr, size_t errstr_size)
{
	int rc = 0;
	while (s->pending > 0) {
		const char *what = s->pending_what[0];
		memmove(s->pending_what, s->pending_what + 1,
			(s->pending - 1) * sizeof(*s->pending_what));
		s->pending--;
		PGresult *r = PQgetResult(s->conn);
		if (!r) { /* no answer: the connection broke */
			s->pending = 0;
			return rc ? rc : ly_st_result_error(s, NULL, what, errstr, errstr_size);
		}
		for (PGresult *end; (end = PQgetResult(s->conn)) != NULL;)
			PQclear(end); /* up to the NULL that ends a statement */
		if (!result_ok(r)) {
			if (rc == 0)
				rc = ly_st_result_error(s, r, what, errstr, errstr_size);
			else
				PQclear(r);
		} else if (want && s->pending == 0 && rc == 0) {
			*want = r;
		} else {
			PQclear(r);
		}
	}
	return rc;
}

void ly_store_set_pump(ly_store_t *s, ly_store_t *pump)
{
	s->pump = pump;
}

/* Sends all the connection holds (in nonblocking mode PQflush may leave
 * some), reading what the server sends meanwhile. */
static int flush_all(PGconn *conn)
{
	int more;
	while ((more = PQflush(conn)) == 1) {
		struct pollfd fd = {PQsocket(conn), POLLIN | POLLOUT, 0};
		if (poll(&fd, 1, -1) < 0 && errno != EINTR)
			return -1;
		if ((fd.revents & POLLIN) && !PQconsumeInput(conn))
			return -1;
	}
	return more;
}

/*
 * Waits until s's answer is in, pushing out meanwhile what s->pump has
 * still to send. A failure of the pump's connection is left for its own
 * answers to tell.
 */
static void await_pumping(ly_store_t *s)
{
	PGconn *p = s->pump ? s->pump->conn : NULL;
	while (PQisBusy(s->conn)) {
		const int more = p && PQflush(p) == 1;
		struct pollfd fds[2] = {{PQsocket(s->conn), POLLIN, 0},
					{more ? PQsocket(p) : -1, POLLOUT | POLLIN, 0}};
		if (poll(fds, 2, -1) < 0 && errno != EINTR)
			return;
		if (fds[1].revents & POLLIN)
			PQconsumeInput(p);
		if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(s->conn))
			return; /* broken: PQgetResult says so */
	}
}

/* PQexecParams, pushing out what s->pump has to send while it waits. */
static PGresult *exec_pumping(ly_store_t *s, const char *sql, int nparams,
			      const char *const *params, const int *lengths,
			      const int *formats, int result_binary)
{
	if (!PQsendQueryParams(s->conn, sql, nparams, NULL, params, lengths, formats,
			       result_binary))
		return NULL;
	PGresult *r = NULL;
	for (;;) {
		await_pumping(s);
		PGresult *next = PQgetResult(s->conn);
		if (!next)
			return r;
		if (r)
			PQclear(r);
		r = next;
	}
}

int ly_st_exec_params(ly_store_t *s, PGresult **res, const char *what,
		       const char *sql, int nparams, const char *const *params,
		       const int *lengths, const int *formats, int result_binary,
		       char *errstr, size_t errstr_size)
{
	if (s->pipeline) {
		if (s->pending == LY_ST_PENDING_MAX) {
			int rc = collect(s, NULL, errstr, errstr_size);
			if (rc)
				return rc;
		}
		if (!PQsendQueryParams(s->conn, sql, nparams, NULL, params, lengths,
				       formats, result_binary))
			return ly_st_result_error(s, NULL, what, errstr, errstr_size);
		s->pending_what[s->pending++] = what;
		if (!res)
			return 0;
		/* wanted now: the server is asked to send what it has */
		if (!PQsendFlushRequest(s->conn) || flush_all(s->conn) != 0)
			return ly_st_result_error(s, NULL, what, errstr, errstr_size);
		*res = NULL;
		return collect(s, res, errstr, errstr_size);
	}
	PGresult *r = s->pump ? exec_pumping(s, sql, nparams, params, lengths, formats,
					     result_binary)
			      : PQexecParams(s->conn, sql, nparams, NULL, params, lengths,
					     formats, result_binary);
	if (!result_ok(r))
		return ly_st_result_error(s, r, what, errstr, errstr_size);
	if (res)
		*res = r;
	else
		PQclear(r);
	return 0;
}

int ly_store_pipeline_begin(ly_store_t *s, char *errstr, size_t errstr_size)
{
	if (!PQenterPipelineMode(s->conn) || PQsetnonblocking(s->conn, 1) != 0)
		return ly_st_result_error(s, NULL, "postgres: pipeline", errstr, errstr_size);
	s->pipeline = 1;
	s->synced = 0;
	s->pending = 0;
	return 0;
}

int ly_store_pipeline_commit(ly_store_t *s, char *errstr, size_t errstr_size)
{
	LY_ASSERT(s->pipeline && !s->synced);
	int rc = ly_st_exec_params(s, NULL, "postgres: commit", "COMMIT", 0, NULL, NULL,
				   NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	if (!PQpipelineSync(s->conn)) {
		s->pending = 0;
		return ly_st_result_error(s, NULL, "postgres: pipeline", errstr, errstr_size);
	}
	s->synced = 1;
	return 0;
}

int ly_store_pipeline_end(ly_store_t *s, char *errstr, size_t errstr_size)
{
	if (!s->pipeline)
		return 0;
	int rc = 0;
	if (!s->synced && !PQpipelineSync(s->conn)) {
		rc = ly_st_result_error(s, NULL, "postgres: pipeline", errstr, errstr_size);
		s->pending = 0;
	} else {
		rc = collect(s, NULL, errstr, errstr_size);
		/* then the sync's own result */
		PGresult *r;
		while ((r = PQgetResult(s->conn)) != NULL) {
			ExecStatusType st = PQresultStatus(r);
			PQclear(r);
			if (st == PGRES_PIPELINE_SYNC)
				break;
		}
	}
	if (!PQexitPipelineMode(s->conn) && rc == 0)
		rc = ly_st_result_error(s, NULL, "postgres: pipeline", errstr, errstr_size);
	if (PQsetnonblocking(s->conn, 0) != 0 && rc == 0)
		rc = ly_st_result_error(s, NULL, "postgres: pipeline", errstr, errstr_size);
	s->pipeline = s->synced = 0;
	return rc;
}

/* Runs fixed SQL text, possibly several statements (migrations). */
int ly_st_exec_simple(ly_store_t *s, const char *what, const char *sql,
		       char *errstr, size_t errstr_size)
{
	PGresult *r = PQexec(s->conn, sql);
	if (!result_ok(r))
		return ly_st_result_error(s, r, what, errstr, errstr_size);
	PQclear(r);
	return 0;
}

static int connect_and_prepare(ly_store_t *s, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {s->conninfo, "loyaltyd", NULL};
	s->pipeline = s->synced = 0;
	s->pending = 0;
	s->conn = PQconnectdbParams(keys, values, 1);
	if (!s->conn) {
		snprintf(errstr, errstr_size, "postgres: out of memory");
		return LY_EIO;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		set_pg_error(errstr, errstr_size, "postgres: connect",
			     PQerrorMessage(s->conn));
		return LY_EIO;
	}
	char *ident = PQescapeIdentifier(s->conn, s->schema, strlen(s->schema));
	if (!ident) {
		set_pg_error(errstr, errstr_size, "postgres: schema",
			     PQerrorMessage(s->conn));
		return LY_EIO;
	}
	const char *params[] = {ident};
	int rc = ly_st_exec_params(s, NULL, "postgres: set search_path",
			     "SELECT set_config('search_path', $1, false)", 1,
			     params, NULL, NULL, 0, errstr, errstr_size);
	PQfreemem(ident);
	if (rc)
		return LY_EIO;
	return ly_st_exec_simple(s, "postgres: session",
			   "SET synchronous_commit TO on; SET TIME ZONE 'UTC'; "
			   "SET client_min_messages TO warning",
			   errstr, errstr_size)
		       ? LY_EIO
		       : 0;
}

int ly_store_open(ly_store_t **out, const char *conninfo, const char *schema,
		  char *errstr, size_t errstr_size)
{
	ly_store_t *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	s->conninfo = strdup(conninfo);
	s->schema = strdup(schema);
	if (!s->conninfo || !s->schema) {
		snprintf(errstr, errstr_size, "out of memory");
		ly_store_close(s);
		return LY_ENOMEM;
	}
	int rc = connect_and_prepare(s, errstr, errstr_size);
	if (rc) {
		ly_store_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void ly_store_close(ly_store_t *s)
{
	if (!s)
		return;
	PQfinish(s->conn);
	free(s->conninfo);
	free(s->schema);
	free(s);
}

int ly_store_connected(const ly_store_t *s)
{
	return PQstatus(s->conn) == CONNECTION_OK;
}

int ly_store_reconnect(ly_store_t *s, char *errstr, size_t errstr_size)
{
	PQfinish(s->conn);
	s->conn = NULL;
	return connect_and_prepare(s, errstr, errstr_size);
}

/* ---- migrations ---- */

int ly_store_migrate(ly_store_t *s, int *applied, char *errstr,
		     size_t errstr_size)
{
	PGresult *res = NULL;
	int rc, locked = 0;
	*applied = 0;
	char *ident = PQescapeIdentifier(s->conn, s->schema, strlen(s->schema));
	ly_buf_t sql = {0};
	if (!ident) {
		set_pg_error(errstr, errstr_size, "migrate", PQerrorMessage(s->conn));
		return LY_EIO;
	}
	const char *lock_params[] = {s->schema};
	rc = ly_st_exec_params(s, NULL, "migrate: lock",
			 "SELECT pg_advisory_lock(hashtext('loyaltyd.migrate.' || $1))",
			 1, lock_params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	locked = 1;
	/* The schema name comes from the operator's config, checked to be a
	 * plain identifier, and is quoted by libpq. */
	if (ly_buf_printf(&sql,
			  "CREATE SCHEMA IF NOT EXISTS %s; "
			  "CREATE TABLE IF NOT EXISTS %s.schema_migrations ("
			  "version integer PRIMARY KEY, name text NOT NULL, "
			  "applied_at timestamptz NOT NULL DEFAULT now())",
			  ident, ident)) {
		rc = LY_ENOMEM;
		goto out;
	}
	rc = ly_st_exec_simple(s, "migrate: schema", sql.data, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, &res, "migrate: read versions",
			 "SELECT version FROM schema_migrations", 0, NULL, NULL,
			 NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	for (size_t i = 0; i < ly_migrations_len; i++) {
		const ly_migration_t *m = &ly_migrations[i];
		int done = 0;
		for (int row = 0; row < PQntuples(res); row++)
			done |= atoi(PQgetvalue(res, row, 0)) == m->version;
		if (done)
			continue;
		char what[128];
		snprintf(what, sizeof(what), "migrate: %s", m->name);
		rc = ly_st_exec_simple(s, what, "BEGIN", errstr, errstr_size);
		if (rc)
			goto out;
		rc = ly_st_exec_simple(s, what, m->sql, errstr, errstr_size);
		if (!rc) {
			char version[16];
			snprintf(version, sizeof(version), "%d", m->version);
			const char *params[] = {version, m->name};
			rc = ly_st_exec_params(s, NULL, what,
					 "INSERT INTO schema_migrations (version, name) "
					 "VALUES ($1, $2)",
					 2, params, NULL, NULL, 0, errstr, errstr_size);
		}
		if (!rc)
			rc = ly_st_exec_simple(s, what, "COMMIT", errstr, errstr_size);
		if (rc) {
			char ignored[256];
			ly_st_exec_simple(s, "rollback", "ROLLBACK", ignored, sizeof(ignored));
			goto out;
		}
		(*applied)++;
	}
out:
	if (locked) {
		char ignored[256];
		ly_st_exec_params(s, NULL, "migrate: unlock",
			    "SELECT pg_advisory_unlock(hashtext('loyaltyd.migrate.' || $1))",
			    1, lock_params, NULL, NULL, 0, ignored, sizeof(ignored));
	}
	if (rc == LY_ENOMEM)
		snprintf(errstr, errstr_size, "migrate: out of memory");
	PQclear(res);
	PQfreemem(ident);
	ly_buf_free(&sql);
	return rc;
}

/* ---- array literals ---- */

/*
 * Builds a PostgreSQL array literal ("{...}") element by element. Every
 * element is quoted, so only '"' and '\' need escaping.
 */

void ly_st_arr_sep(pg_array_t *a)
{
	if (a->buf.len == 0)
		a->failed |= ly_buf_putc(&a->buf, '{') != 0;
	else
		a->failed |= ly_buf_putc(&a->buf, ',') != 0;
}

void ly_st_arr_text(pg_array_t *a, const char *s, size_t n)
{
	ly_st_arr_sep(a);
	a->failed |= ly_buf_putc(&a->buf, '"') != 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			a->failed |= ly_buf_putc(&a->buf, '\\') != 0;
		a->failed |= ly_buf_putc(&a->buf, s[i]) != 0;
	}
	a->failed |= ly_buf_putc(&a->buf, '"') != 0;
}

void ly_st_arr_str(pg_array_t *a, const char *s)
{
	if (!s) {
		ly_st_arr_sep(a);
		a->failed |= ly_buf_puts(&a->buf, "NULL") != 0;
		return;
	}
	ly_st_arr_text(a, s, strlen(s));
}

void ly_st_arr_int(pg_array_t *a, int64_t v)
{
	ly_st_arr_sep(a);
	a->failed |= ly_buf_printf(&a->buf, "%lld", (long long)v) != 0;
}

/* A timestamp; us == 0 means NULL. */
void ly_st_arr_time(pg_array_t *a, int64_t us)
{
	if (us == 0) {
		ly_st_arr_str(a, NULL);
		return;
	}
	char ts[40];
	ly_time_format_rfc3339(us, ts, sizeof(ts));
	ly_st_arr_str(a, ts);
}

/* bytea in hex form: "\\x..." inside the quoted element. */
void ly_st_arr_bytea(pg_array_t *a, const void *data, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (!data) {
		ly_st_arr_str(a, NULL);
		return;
	}
	const unsigned char *p = data;
	ly_st_arr_sep(a);
	a->failed |= ly_buf_puts(&a->buf, "\"\\\\x") != 0;
	for (size_t i = 0; i < n; i++) {
		char pair[2] = {hex[p[i] >> 4], hex[p[i] & 15]};
		a->failed |= ly_buf_append(&a->buf, pair, 2) != 0;
	}
	a->failed |= ly_buf_putc(&a->buf, '"') != 0;
}

/* Closes the literal; "{}" for no elements. NULL when out of memory. */
const char *ly_st_arr_end(pg_array_t *a)
{
	if (a->buf.len == 0)
		a->failed |= ly_buf_putc(&a->buf, '{') != 0;
	a->failed |= ly_buf_putc(&a->buf, '}') != 0;
	return a->failed ? NULL : a->buf.data;
}

void ly_st_arrs_free(pg_array_t *arrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ly_buf_free(&arrs[i].buf);
}

/* Closes n arrays into params; LY_ENOMEM if any failed. */
int ly_st_arrs_end(pg_array_t *arrs, size_t n, const char **params,
		    char *errstr, size_t errstr_size)
{
	for (size_t i = 0; i < n; i++) {
		params[i] = ly_st_arr_end(&arrs[i]);
		if (!params[i]) {
			snprintf(errstr, errstr_size, "postgres: batch too large");
			return LY_ENOMEM;
		}
	}
	return 0;
}

/* ---- offsets ---- */

int ly_store_load_offsets(ly_store_t *s, const char *group, const char *topic,
			  const int32_t *partitions, size_t partitions_len,
			  int64_t *next_out, char *errstr, size_t errstr_size)
{
	pg_array_t parts = {0};
	PGresult *res = NULL;
	const char *params[3] = {group, topic, NULL};
	int rc;
	for (size_t i = 0; i < partitions_len; i++) {
		ly_st_arr_int(&parts, partitions[i]);
		next_out[i] = -1;
	}
	rc = ly_st_arrs_end(&parts, 1, &params[2], errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, &res, "postgres: load offsets",
			 "SELECT partition, next_offset FROM consumer_offsets "
			 "WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])",
			 3, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		int32_t p = (int32_t)atol(PQgetvalue(res, row, 0));
		for (size_t i = 0; i < partitions_len; i++)
			if (partitions[i] == p)
				next_out[i] = atoll(PQgetvalue(res, row, 1));
	}
out:
	PQclear(res);
	ly_st_arrs_free(&parts, 1);
	return rc;
}

/* ---- the batch transaction ---- */

int ly_store_begin(ly_store_t *s, char *errstr, size_t errstr_size)
{
	if (PQstatus(s->conn) != CONNECTION_OK) {
		int rc = ly_store_reconnect(s, errstr, errstr_size);
		if (rc)
			return LY_ERETRY;
	}
	/*
	 * Every statement of these transactions (a batch, a scheduler pass,
	 * a relay pass) joins a few thousand keys with tables that grow to
	 * millions of rows: only an index lookup per key keeps its cost
	 * that of the keys and not of the table. The planner would choose a
	 * hash join over a sequential scan while a table is small or its
	 * statistics lag behind its growth, and go on choosing it well
	 * after; so for these transactions it has no hash or merge join,
	 * and no bitmap scan (a plain index scan also marks the entries of
	 * dead rows it meets, which the outbox's queue index needs). Nor a
	 * sequential scan where an index serves: with statistics taken
	 * while the lots had a tenth of their customers, the open lots of
	 * 45 customers were estimated at 18,000 rows and read by scanning
	 * 340,000 (50-65 ms a batch); a statement no index serves still gets
	 * its sequential scan. Nor
	 * parallel workers, which cost more than they bring to a lookup, nor
	 * JIT compilation: the estimates for unnest'ed arrays put a batch's
	 * statements over jit_above_cost, and compiling them took 30-40 ms
	 * a statement, longer than running them.
	 */
	return ly_st_exec_simple(s, "postgres: begin",
			   "BEGIN ISOLATION LEVEL READ COMMITTED; "
			   "SET LOCAL enable_hashjoin = off; "
			   "SET LOCAL enable_mergejoin = off; "
			   "SET LOCAL enable_bitmapscan = off; "
			   "SET LOCAL enable_seqscan = off; "
			   "SET LOCAL max_parallel_workers_per_gather = 0; "
			   "SET LOCAL jit = off",
			   errstr, errstr_size);
}

int ly_store_commit(ly_store_t *s, char *errstr, size_t errstr_size)
{
	int rc = ly_st_exec_simple(s, "postgres: commit", "COMMIT", errstr, errstr_size);
	/* A commit whose answer was lost may or may not have happened; the
	 * offsets row tells on the retry (its compare-and-set fails). */
	return rc;
}

void ly_store_rollback(ly_store_t *s)
{
	char ignored[256];
	ly_store_pipeline_end(s, ignored, sizeof(ignored));
	if (PQstatus(s->conn) == CONNECTION_OK)
		ly_st_exec_simple(s, "postgres: rollback", "ROLLBACK", ignored,
			    sizeof(ignored));
}

/* Strings joined by NUL bytes as one map key ("customer\0source\0id"),
 * in arena; NULL when out of memory. */
static char *join_key(ly_arena_t *arena, const char *const *parts, size_t n,
		      size_t *len)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += strlen(parts[i]) + 1;
	char *k = ly_arena_alloc(arena, total + 1);
	if (!k)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		size_t m = strlen(parts[i]);
		memcpy(k + o, parts[i], m);
		o += m + 1; /* the arena zeroed the separator */
	}
	*len = total - 1;
	return k;
}

static char *event_key(ly_arena_t *arena, const char *customer,
		       const char *source, const char *id, size_t *len)
{
	const char *parts[] = {customer, source, id};
	return join_key(arena, parts, 3, len);
}

int ly_store_claim_events(ly_store_t *s, ly_store_event_t *events,
			  size_t events_len, ly_arena_t *arena, char *errstr,
			  size_t errstr_size)
{
	pg_array_t arrs[6] = {{{0}}};
	const char *params[6];
	PGresult *res = NULL;
	ly_map_t seen;
	size_t to_claim = 0;
	int rc = ly_map_init(&seen, arena, events_len ? events_len : 1);
	if (rc)
		goto nomem;
	/* Repeats inside the batch: the first one wins. */
	for (size_t i = 0; i < events_len; i++) {
		ly_store_event_t *e = &events[i];
		size_t len;
		char *key = event_key(arena, e->ev->customer_id, e->ev->source,
				      e->ev->id, &len);
		if (!key)
			goto nomem;
		int found;
		void **slot = ly_map_put(&seen, key, len, &found);
		LY_ASSERT(slot);
		e->duplicate = found;
		if (found)
			continue;
		*slot = e;
		ly_st_arr_str(&arrs[0], e->ev->customer_id);
		ly_st_arr_str(&arrs[1], e->ev->source);
		ly_st_arr_str(&arrs[2], e->ev->id);
		ly_st_arr_str(&arrs[3], e->topic);
		ly_st_arr_int(&arrs[4], e->partition);
		ly_st_arr_int(&arrs[5], e->offset);
		to_claim++;
	}
	if (to_claim == 0)
		goto out;
	rc = ly_st_arrs_end(arrs, 6, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, &res, "postgres: claim events",
			 "INSERT INTO processed_events "
			 "(customer_id, event_source, event_id, topic, partition, \"offset\") "
			 "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
			 "$4::text[], $5::int[], $6::bigint[]) "
			 "ON CONFLICT DO NOTHING "
			 "RETURNING customer_id, event_source, event_id",
			 6, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	/* Every first occurrence not returned was applied before. */
	ly_map_t fresh;
	rc = ly_map_init(&fresh, arena, (size_t)PQntuples(res) + 1);
	if (rc)
		goto nomem;
	for (int row = 0; row < PQntuples(res); row++) {
		size_t len;
		char *key = event_key(arena, PQgetvalue(res, row, 0),
				      PQgetvalue(res, row, 1),
				      PQgetvalue(res, row, 2), &len);
		if (!key)
			goto nomem;
		int found;
		void **slot = ly_map_put(&fresh, key, len, &found);
		LY_ASSERT(slot);
		*slot = key;
	}
	for (size_t i = 0; i < events_len; i++) {
		ly_store_event_t *e = &events[i];
		if (e->duplicate)
			continue;
		size_t len;
		char *key = event_key(arena, e->ev->customer_id, e->ev->source,
				      e->ev->id, &len);
		if (!key)
			goto nomem;
		e->duplicate = ly_map_get(&fresh, key, len) == NULL;
	}
	goto out;
nomem:
	snprintf(errstr, errstr_size, "claim events: out of memory");
	rc = LY_ENOMEM;
out:
	PQclear(res);
	ly_st_arrs_free(arrs, 6);
	return rc;
}

/* Locks the balances of ids, sorted, and reads them into byid's states
 * (of the array states), marking each in found; *locked says how many rows
 * there were. */
static int lock_balances(ly_store_t *s, const char *ids_param, ly_map_t *byid,
			 const ly_customer_state_t *states, unsigned char *found,
			 size_t *locked, char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	const char *params[] = {ids_param};
	/* Sorted, so two workers locking overlapping sets queue up rather
	 * than deadlock. */
	int rc = ly_st_exec_params(s, &res, "postgres: lock balances",
				   "SELECT customer_id, available, pending FROM balances "
				   "WHERE customer_id = ANY($1::text[]) "
				   "ORDER BY customer_id FOR UPDATE",
				   1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	for (int row = 0; row < PQntuples(res); row++) {
		const char *id = PQgetvalue(res, row, 0);
		ly_customer_state_t *st = ly_map_get(byid, id, strlen(id));
		LY_ASSERT(st && !found[st - states]);
		st->available = atoll(PQgetvalue(res, row, 1));
		st->pending = atoll(PQgetvalue(res, row, 2));
		found[st - states] = 1;
	}
	*locked = (size_t)PQntuples(res);
	PQclear(res);
	return 0;
}

int ly_store_lock_customers(ly_store_t *s, ly_customer_state_t *states,
			    size_t states_len, ly_arena_t *arena, char *errstr,
			    size_t errstr_size)
{
	pg_array_t ids = {0}, missing = {0};
	const char *params[1];
	ly_map_t byid;
	size_t locked = 0, nmissing = 0, found_new = 0;
	int rc = 0;
	if (states_len == 0)
		return 0;
	unsigned char *found = ly_arena_alloc(arena, states_len);
	rc = found ? ly_map_init(&byid, arena, states_len) : LY_ENOMEM;
	if (rc) {
		snprintf(errstr, errstr_size, "lock customers: out of memory");
		return rc;
	}
	for (size_t i = 0; i < states_len; i++) {
		int dup;
		const char *id = states[i].customer_id;
		void **slot = ly_map_put(&byid, id, strlen(id), &dup);
		LY_ASSERT(slot && !dup);
		*slot = &states[i];
		states[i].available = states[i].pending = 0;
		states[i].changed = 0;
		ly_st_arr_str(&ids, id);
	}
	rc = ly_st_arrs_end(&ids, 1, params, errstr, errstr_size);
	if (!rc)
		rc = lock_balances(s, params[0], &byid, states, found, &locked, errstr,
				   errstr_size);
	if (rc || locked == states_len)
		goto out;
	/* The customers seen for the first time: created, then locked (by
	 * now they exist, whoever created them). Most batches of a running
	 * shop have few, so the rows that exist are not written to. */
	for (size_t i = 0; i < states_len; i++)
		if (!found[i]) {
			ly_st_arr_str(&missing, states[i].customer_id);
			nmissing++;
		}
	rc = ly_st_arrs_end(&missing, 1, params, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(s, NULL, "postgres: create balances",
				       "WITH n AS (INSERT INTO customers (customer_id) "
				       "SELECT c FROM unnest($1::text[]) AS c ORDER BY c "
				       "ON CONFLICT DO NOTHING) "
				       "INSERT INTO balances (customer_id) "
				       "SELECT c FROM unnest($1::text[]) AS c ORDER BY c "
				       "ON CONFLICT DO NOTHING",
				       1, params, NULL, NULL, 0, errstr, errstr_size);
	if (!rc)
		rc = lock_balances(s, params[0], &byid, states, found, &found_new, errstr,
				   errstr_size);
	if (!rc && found_new != nmissing) {
		snprintf(errstr, errstr_size, "lock customers: %zu rows for %zu customers",
			 locked + found_new, states_len);
		rc = LY_EIO;
	}
out:
	ly_st_arrs_free(&ids, 1);
	ly_st_arrs_free(&missing, 1);
	return rc;
}

int ly_store_write_postings(ly_store_t *s, const char *program_version,
			    const ly_store_posting_t *postings,
			    size_t postings_len, ly_arena_t *arena,
			    char *errstr, size_t errstr_size)
{
	(void)arena;
	enum { NL = 10 };
	pg_array_t ledger[NL] = {{{0}}};
	const char *lparams[NL + 1];
	int rc = 0;
	if (postings_len == 0)
		return 0;
	for (size_t i = 0; i < postings_len; i++) {
		const ly_event_t *ev = postings[i].ev;
		const ly_posting_t *p = postings[i].posting;
		/* a trigger has no input type: its name is the trigger's; a
		 * release or an expiry says so itself */
		const char *type = p->kind ? p->kind : ly_event_name(ev);
		ly_st_arr_str(&ledger[0], ev->customer_id);
		ly_st_arr_str(&ledger[1], ev->source);
		ly_st_arr_str(&ledger[2], ev->id);
		ly_st_arr_str(&ledger[3], type);
		ly_st_arr_time(&ledger[4], ev->time_us);
		ly_st_arr_str(&ledger[5], p->rule_id);
		ly_st_arr_int(&ledger[6], p->delta_available);
		ly_st_arr_int(&ledger[7], p->delta_pending);
		ly_st_arr_time(&ledger[8], p->delta_pending > 0 ? p->available_at_us : 0);
		ly_st_arr_str(&ledger[9], p->reason);
	}
	rc = ly_st_arrs_end(ledger, NL, lparams, errstr, errstr_size);
	if (rc)
		goto out;
	lparams[NL] = program_version;
	rc = ly_st_exec_params(
		s, NULL, "postgres: write ledger",
		"INSERT INTO ledger (customer_id, event_source, event_id, event_type, "
		"event_time, rule_id, delta_available, delta_pending, available_at, "
		"reason, program_version) "
		"SELECT c, so, i, t, tm, r, da, dp, aa, re, $11 FROM unnest("
		"$1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], "
		"$6::text[], $7::bigint[], $8::bigint[], $9::timestamptz[], $10::text[]) "
		"WITH ORDINALITY AS u(c, so, i, t, tm, r, da, dp, aa, re, n) ORDER BY n",
		NL + 1, lparams, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(ledger, NL);
	return rc;
}

int ly_store_write_balances(ly_store_t *s, const ly_customer_state_t *states,
			    size_t states_len, ly_arena_t *arena, char *errstr,
			    size_t errstr_size)
{
	(void)arena;
	pg_array_t arrs[3] = {{{0}}};
	const char *params[3];
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < states_len; i++) {
		if (!states[i].changed)
			continue;
		ly_st_arr_str(&arrs[0], states[i].customer_id);
		ly_st_arr_int(&arrs[1], states[i].available);
		ly_st_arr_int(&arrs[2], states[i].pending);
		n++;
	}
	if (n == 0)
		goto out;
	rc = ly_st_arrs_end(arrs, 3, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, NULL, "postgres: write balances",
			 "UPDATE balances b SET available = u.a, pending = u.p, "
			 "updated_at = now() "
			 "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(c, a, p) "
			 "WHERE b.customer_id = u.c",
			 3, params, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(arrs, 3);
	return rc;
}

/* ---- limits, budgets and codes ---- */

int ly_store_load_limits(ly_store_t *s, const ly_program_t *program,
			 const ly_store_limit_key_t *keys, size_t keys_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	pg_array_t arrs[3] = {{{0}}};
	const char *params[3];
	PGresult *res = NULL;
	const ly_store_limit_key_t **uniq;
	ly_map_t seen;
	size_t n = 0;
	int rc = 0;
	if (keys_len == 0)
		return 0;
	if (!(uniq = ly_arena_alloc(arena, keys_len * sizeof(*uniq))) ||
	    ly_map_init(&seen, arena, keys_len))
		goto nomem;
	for (size_t i = 0; i < keys_len; i++) {
		const ly_store_limit_key_t *k = &keys[i];
		const char *rule_id = ly_limit_name(program, k->rule);
		LY_ASSERT(rule_id);
		const char *parts[] = {k->state->customer_id, rule_id, k->period};
		size_t len;
		int found;
		char *key = join_key(arena, parts, 3, &len);
		if (!key)
			goto nomem;
		void **slot = ly_map_put(&seen, key, len, &found);
		LY_ASSERT(slot);
		if (found)
			continue;
		*slot = key;
		uniq[n++] = k;
		ly_st_arr_str(&arrs[0], k->state->customer_id);
		ly_st_arr_str(&arrs[1], rule_id);
		ly_st_arr_str(&arrs[2], k->period);
	}
	rc = ly_st_arrs_end(arrs, 3, params, errstr, errstr_size);
	if (rc)
		goto out;
	/* The keys' positions come back, so no id needs matching. */
	rc = ly_st_exec_params(s, &res, "postgres: load limits",
			 "SELECT u.n, l.count FROM unnest($1::text[], $2::text[], "
			 "$3::text[]) WITH ORDINALITY AS u(c, r, p, n) "
			 "JOIN rule_limits l ON l.customer_id = u.c AND l.rule_id = u.r "
			 "AND l.period = u.p",
			 3, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		long long pos = atoll(PQgetvalue(res, row, 0));
		LY_ASSERT(pos >= 1 && (size_t)pos <= n);
		const ly_store_limit_key_t *k = uniq[pos - 1];
		if (!ly_customer_limit_append(k->state, k->rule, k->period,
					      atoll(PQgetvalue(res, row, 1)), arena))
			goto nomem;
	}
	goto out;
nomem:
	snprintf(errstr, errstr_size, "load limits: out of memory");
	rc = LY_ENOMEM;
out:
	PQclear(res);
	ly_st_arrs_free(arrs, 3);
	return rc;
}

int ly_store_write_limits(ly_store_t *s, const ly_program_t *program,
			  const ly_customer_state_t *states, size_t states_len,
			  ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	(void)arena;
	pg_array_t arrs[4] = {{{0}}};
	const char *params[4];
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < states_len; i++)
		for (size_t j = 0; j < states[i].limits_len; j++) {
			const ly_limit_count_t *c = &states[i].limits[j];
			if (!c->changed)
				continue;
			LY_ASSERT(ly_limit_name(program, c->rule));
			ly_st_arr_str(&arrs[0], states[i].customer_id);
			ly_st_arr_str(&arrs[1], ly_limit_name(program, c->rule));
			ly_st_arr_str(&arrs[2], c->period);
			ly_st_arr_int(&arrs[3], c->count);
			n++;
		}
	if (n == 0)
		goto out;
	rc = ly_st_arrs_end(arrs, 4, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, NULL, "postgres: write limits",
			 "INSERT INTO rule_limits (customer_id, rule_id, period, count) "
			 "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
			 "$4::bigint[]) "
			 "ON CONFLICT (customer_id, rule_id, period) "
			 "DO UPDATE SET count = EXCLUDED.count",
			 4, params, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(arrs, 4);
	return rc;
}

int ly_store_load_budgets(ly_store_t *s, const ly_program_t *program,
			  int64_t *spent, ly_arena_t *arena, char *errstr,
			  size_t errstr_size)
{
	(void)arena;
	pg_array_t ids = {0};
	const char *params[1];
	PGresult *res = NULL;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < program->rules_len; i++) {
		spent[i] = 0;
		if (program->rules[i].budget_points > 0) {
			ly_st_arr_str(&ids, program->rules[i].id);
			n++;
		}
	}
	if (n == 0)
		goto out;
	rc = ly_st_arrs_end(&ids, 1, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, &res, "postgres: load budgets",
			 "SELECT rule_id, spent FROM rule_budgets "
			 "WHERE rule_id = ANY($1::text[])",
			 1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		const char *id = PQgetvalue(res, row, 0);
		for (size_t i = 0; i < program->rules_len; i++)
			if (program->rules[i].budget_points > 0 &&
			    strcmp(program->rules[i].id, id) == 0)
				spent[i] = atoll(PQgetvalue(res, row, 1));
	}
out:
	PQclear(res);
	ly_st_arrs_free(&ids, 1);
	return rc;
}

int ly_store_write_budgets(ly_store_t *s, const ly_program_t *program,
			   const int64_t *delta, ly_arena_t *arena,
			   char *errstr, size_t errstr_size)
{
	pg_array_t arrs[3] = {{{0}}};
	const char *params[3];
	PGresult *res = NULL;
	size_t *order, n = 0;
	int rc = 0;
	if (!(order = ly_arena_alloc(arena, (program->rules_len + 1) * sizeof(*order)))) {
		snprintf(errstr, errstr_size, "write budgets: out of memory");
		return LY_ENOMEM;
	}
	/* In rule id order, so replicas lock the rows in the same order. */
	for (size_t i = 0; i < program->rules_len; i++) {
		if (delta[i] <= 0)
			continue;
		LY_ASSERT(program->rules[i].budget_points > 0);
		size_t k = n++;
		while (k > 0 && strcmp(program->rules[order[k - 1]].id,
				       program->rules[i].id) > 0) {
			order[k] = order[k - 1];
			k--;
		}
		order[k] = i;
	}
	if (n == 0)
		return 0;
	for (size_t k = 0; k < n; k++) {
		const ly_rule_t *r = &program->rules[order[k]];
		ly_st_arr_str(&arrs[0], r->id);
		ly_st_arr_int(&arrs[1], delta[order[k]]);
		ly_st_arr_int(&arrs[2], r->budget_points);
	}
	rc = ly_st_arrs_end(arrs, 3, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, NULL, "postgres: create budgets",
			 "INSERT INTO rule_budgets (rule_id, spent) "
			 "SELECT r, 0 FROM unnest($1::text[]) AS r ORDER BY r "
			 "ON CONFLICT DO NOTHING",
			 1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	/* Conditional, on the row as it is now: under READ COMMITTED a row
	 * another transaction changed meanwhile is re-checked on its newest
	 * version, so the cap holds whatever the others did. */
	rc = ly_st_exec_params(s, &res, "postgres: write budgets",
			 "UPDATE rule_budgets b SET spent = b.spent + u.d, "
			 "updated_at = now() "
			 "FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(r, d, cap) "
			 "WHERE b.rule_id = u.r AND b.spent + u.d <= u.cap "
			 "RETURNING b.rule_id",
			 3, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	if ((size_t)PQntuples(res) != n) {
		const char *lost = "?";
		for (size_t k = 0; k < n && lost[0] == '?'; k++) {
			const char *id = program->rules[order[k]].id;
			int written = 0;
			for (int row = 0; row < PQntuples(res); row++)
				written |= strcmp(PQgetvalue(res, row, 0), id) == 0;
			if (!written)
				lost = id;
		}
		snprintf(errstr, errstr_size,
			 "budget of rule \"%s\" was spent by another worker meanwhile: "
			 "the batch runs again on the new value",
			 lost);
		rc = LY_ERETRY;
	}
out:
	PQclear(res);
	ly_st_arrs_free(arrs, 3);
	return rc;
}

static const char *issue_kind_name(ly_issue_kind_t kind)
{
	switch (kind) {
	case LY_ISSUE_DISCOUNT:
		return "discount";
	case LY_ISSUE_GIFT_CARD:
		return "gift_card";
	case LY_ISSUE_NONE:
		break;
	}
	LY_ASSERT(!"a code of no kind");
	return NULL;
}

/* The identity of a code row: one code per (customer, event, rule). */
static char *code_key(ly_arena_t *arena, const char *customer,
		      const char *source, const char *id, const char *rule,
		      size_t *len)
{
	const char *parts[] = {customer, source, id, rule};
	return join_key(arena, parts, 4, len);
}

int ly_store_write_codes(ly_store_t *s, const char *program_version,
			 const void *secret, size_t secret_len,
			 ly_store_code_t *codes, size_t codes_len,
			 ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	enum { NC = 10 };
	pg_array_t arrs[NC];
	const char *params[NC + 1];
	PGresult *res = NULL;
	size_t *todo, todo_len = codes_len;
	int rc = 0;
	memset(arrs, 0, sizeof(arrs));
	if (codes_len == 0)
		return 0;
	if (!(todo = ly_arena_alloc(arena, codes_len * sizeof(*todo))))
		goto nomem;
	for (size_t i = 0; i < codes_len; i++)
		todo[i] = i;
	/* Round r inserts the codes taken r times so far; each one taken
	 * again is drawn anew with n = r + 1. */
	for (uint32_t round = 0; todo_len > 0; round++) {
		for (size_t t = 0; t < todo_len; t++) {
			const ly_event_t *ev = codes[todo[t]].ev;
			const ly_issued_code_t *c = codes[todo[t]].code;
			ly_st_arr_str(&arrs[0], ev->customer_id);
			ly_st_arr_str(&arrs[1], c->code);
			ly_st_arr_str(&arrs[2], issue_kind_name(c->kind));
			ly_st_arr_int(&arrs[3], c->amount);
			ly_st_arr_int(&arrs[4], c->percent);
			ly_st_arr_int(&arrs[5], c->min_order);
			ly_st_arr_time(&arrs[6], c->valid_until_us);
			ly_st_arr_str(&arrs[7], ev->source);
			ly_st_arr_str(&arrs[8], ev->id);
			ly_st_arr_str(&arrs[9], c->rule_id);
		}
		rc = ly_st_arrs_end(arrs, NC, params, errstr, errstr_size);
		if (rc)
			goto out;
		params[NC] = program_version;
		rc = ly_st_exec_params(
			s, &res, "postgres: write codes",
			"INSERT INTO codes (customer_id, code, kind, amount, percent, "
			"min_order, valid_until, event_source, event_id, rule_id, "
			"program_version) "
			"SELECT c, co, k, a, pc, mo, vu, so, i, r, $11 FROM unnest("
			"$1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[], "
			"$6::bigint[], $7::timestamptz[], $8::text[], $9::text[], "
			"$10::text[]) "
			"WITH ORDINALITY AS u(c, co, k, a, pc, mo, vu, so, i, r, n) ORDER BY n "
			"ON CONFLICT (code) DO NOTHING "
			"RETURNING customer_id, event_source, event_id, rule_id",
			NC + 1, params, NULL, NULL, 0, errstr, errstr_size);
		if (rc)
			goto out;
		ly_st_arrs_free(arrs, NC);
		memset(arrs, 0, sizeof(arrs));
		if ((size_t)PQntuples(res) == todo_len) {
			todo_len = 0;
			break;
		}
		ly_map_t stored;
		if (ly_map_init(&stored, arena, (size_t)PQntuples(res) + 1))
			goto nomem;
		for (int row = 0; row < PQntuples(res); row++) {
			size_t len;
			int found;
			char *key = code_key(arena, PQgetvalue(res, row, 0),
					     PQgetvalue(res, row, 1),
					     PQgetvalue(res, row, 2),
					     PQgetvalue(res, row, 3), &len);
			if (!key)
				goto nomem;
			void **slot = ly_map_put(&stored, key, len, &found);
			LY_ASSERT(slot);
			*slot = key;
		}
		size_t left = 0;
		for (size_t t = 0; t < todo_len; t++) {
			const ly_event_t *ev = codes[todo[t]].ev;
			ly_issued_code_t *c = codes[todo[t]].code;
			size_t len;
			char *key = code_key(arena, ev->customer_id, ev->source, ev->id,
					     c->rule_id, &len);
			if (!key)
				goto nomem;
			if (ly_map_get(&stored, key, len))
				continue;
			if (round == LY_STORE_CODE_DRAWS_MAX) {
				snprintf(errstr, errstr_size,
					 "write codes: the code of rule \"%s\" for event %s "
					 "is still taken after %d draws",
					 c->rule_id, ev->id, LY_STORE_CODE_DRAWS_MAX);
				rc = LY_EIO;
				goto out;
			}
			ly_engine_code(c->code, secret, secret_len, ev->source, ev->id,
				       c->rule_id, round + 1);
			todo[left++] = todo[t];
		}
		todo_len = left;
		PQclear(res);
		res = NULL;
	}
	goto out;
nomem:
	snprintf(errstr, errstr_size, "write codes: out of memory");
	rc = LY_ENOMEM;
out:
	PQclear(res);
	ly_st_arrs_free(arrs, NC);
	return rc;
}

int ly_store_write_outbox(ly_store_t *s, const ly_store_outbox_row_t *rows,
			  size_t rows_len, ly_arena_t *arena, char *errstr,
			  size_t errstr_size)
{
	(void)arena;
	enum { N = 8 };
	pg_array_t arrs[N] = {{{0}}};
	const char *params[N];
	int rc = 0;
	if (rows_len == 0)
		return 0;
	for (size_t i = 0; i < rows_len; i++) {
		const ly_store_outbox_row_t *r = &rows[i];
		ly_st_arr_str(&arrs[0], r->customer_id);
		ly_st_arr_str(&arrs[1], r->topic);
		ly_st_arr_bytea(&arrs[2], r->key, r->key_len);
		ly_st_arr_str(&arrs[3], r->message_id);
		ly_st_arr_bytea(&arrs[4], r->payload, r->payload_len);
		ly_st_arr_bytea(&arrs[5], r->headers, r->headers_len);
		ly_st_arr_str(&arrs[6], r->channel);
		if (r->channel)
			ly_st_arr_int(&arrs[7], r->withdrawals);
		else
			ly_st_arr_str(&arrs[7], NULL);
	}
	rc = ly_st_arrs_end(arrs, N, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(s, NULL, "postgres: write outbox",
			 "INSERT INTO outbox (customer_id, topic, message_key, message_id, "
			 "payload, headers, channel, withdrawals) "
			 "SELECT c, t, k, m, p, h, ch, w FROM unnest($1::text[], $2::text[], "
			 "$3::bytea[], $4::text[], $5::bytea[], $6::bytea[], $7::text[], "
			 "$8::bigint[]) WITH ORDINALITY AS u(c, t, k, m, p, h, ch, w, n) ORDER BY n",
			 N, params, NULL, NULL, 0, errstr, errstr_size);
out:
	ly_st_arrs_free(arrs, N);
	return rc;
}

int ly_store_write_offsets(ly_store_t *s, const char *group,
			   const ly_store_offset_t *offsets, size_t offsets_len,
			   ly_arena_t *arena, char *errstr, size_t errstr_size)
{
	(void)arena;
	pg_array_t upd[4] = {{{0}}}, ins[3] = {{{0}}};
	const char *uparams[6] = {group}, *iparams[5] = {group};
	char nupd_s[24], nins_s[24];
	size_t nupd = 0, nins = 0;
	int rc = 0;
	for (size_t i = 0; i < offsets_len; i++) {
		const ly_store_offset_t *o = &offsets[i];
		if (o->expected_next < 0) {
			ly_st_arr_str(&ins[0], o->topic);
			ly_st_arr_int(&ins[1], o->partition);
			ly_st_arr_int(&ins[2], o->next);
			nins++;
		} else {
			ly_st_arr_str(&upd[0], o->topic);
			ly_st_arr_int(&upd[1], o->partition);
			ly_st_arr_int(&upd[2], o->expected_next);
			ly_st_arr_int(&upd[3], o->next);
			nupd++;
		}
	}
	snprintf(nupd_s, sizeof(nupd_s), "%zu", nupd);
	snprintf(nins_s, sizeof(nins_s), "%zu", nins);
	uparams[5] = nupd_s;
	iparams[4] = nins_s;
	if (nupd) {
		rc = ly_st_arrs_end(upd, 4, uparams + 1, errstr, errstr_size);
		if (rc)
			goto out;
		/* the count is checked in the server: the answer may be read
		 * after COMMIT was sent (0006_offsets_conflict.sql) */
		rc = ly_st_exec_params(s, NULL, "postgres: write offsets",
				 "WITH m AS (UPDATE consumer_offsets o SET next_offset = u.nx, "
				 "updated_at = now() "
				 "FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) "
				 "AS u(t, p, ex, nx) "
				 "WHERE o.group_id = $1 AND o.topic = u.t AND o.partition = u.p "
				 "AND o.next_offset = u.ex RETURNING 1) "
				 "SELECT CASE WHEN count(*) = $6 THEN true "
				 "ELSE offsets_conflict(count(*), $6) END FROM m",
				 6, uparams, NULL, NULL, 0, errstr, errstr_size);
		if (rc)
			goto out;
	}
	if (nins) {
		rc = ly_st_arrs_end(ins, 3, iparams + 1, errstr, errstr_size);
		if (rc)
			goto out;
		rc = ly_st_exec_params(s, NULL, "postgres: write offsets",
				 "WITH m AS (INSERT INTO consumer_offsets (group_id, topic, "
				 "partition, next_offset) "
				 "SELECT $1, t, p, nx FROM unnest($2::text[], $3::int[], "
				 "$4::bigint[]) AS u(t, p, nx) ON CONFLICT DO NOTHING RETURNING 1) "
				 "SELECT CASE WHEN count(*) = $5 THEN true "
				 "ELSE offsets_conflict(count(*), $5) END FROM m",
				 5, iparams, NULL, NULL, 0, errstr, errstr_size);
	}
out:
	ly_st_arrs_free(upd, 4);
	ly_st_arrs_free(ins, 3);
	return rc;
}

/* ---- the outbox queue ---- */

static int64_t be64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | u[i];
	return (int64_t)v;
}

static void *copy_binary(ly_arena_t *arena, PGresult *res, int row, int col,
			 size_t *len)
{
	if (PQgetisnull(res, row, col)) {
		*len = 0;
		return NULL;
	}
	*len = (size_t)PQgetlength(res, row, col);
	return ly_arena_strndup(arena, PQgetvalue(res, row, col), *len);
}

int ly_store_outbox_claim(ly_store_t *s, size_t limit, ly_outbox_msg_t **msgs,
			  size_t *msgs_len, ly_arena_t *arena, char *errstr,
			  size_t errstr_size)
{
	char limit_text[24];
	snprintf(limit_text, sizeof(limit_text), "%zu", limit);
	const char *params[2] = {limit_text};
	pg_array_t custs = {0}, rows[2] = {{{0}}};
	PGresult *res = NULL;
	ly_map_t mine;
	size_t n = 0;
	*msgs = NULL;
	*msgs_len = 0;
	/*
	 * Three statements, each with its own snapshot (READ COMMITTED):
	 * the first rows in commit order, with where each is stored (its
	 * ctid); the advisory lock of each of their customers that no other
	 * relay holds (one relay at a time publishes a customer's rows,
	 * oldest first); then, read after the locks are held, those
	 * customers' rows by their ctids. A row another relay published or
	 * deleted before it let go of the lock is no longer visible at its
	 * old ctid, so it is not read again (nor, should the slot be taken
	 * by a new row meanwhile, is that row: the outbox id must match).
	 * Only a relay holding a customer's lock marks the customer's rows,
	 * so no row lock is needed, and the ctids stay the rows' own until
	 * this transaction ends: the marking goes by them too. For an
	 * offer, the last statement also says whether the customer still
	 * consents on its channel and has not withdrawn since it was made
	 * (docs/offers.md).
	 *
	 * By ctid and not by key: the outbox's statistics often say it is
	 * nearly empty (its live rows are the unpublished ones, and with
	 * outbox.keep_published_s 0 the published ones are deleted), and
	 * then the planner joins the keys with a scan of the whole primary
	 * key index, dead entries and all: seconds a pass. A TID scan reads
	 * just the rows; with sequential scans off for the transaction it
	 * is the only plan left (ly_store_begin: no sequential scans).
	 */
	int rc = ly_st_exec_params(s, &res, "postgres: outbox head",
			       "SELECT customer_id, ctid, outbox_id FROM outbox "
			       "WHERE published_at IS NULL ORDER BY outbox_id LIMIT $1",
			       1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	const int head = PQntuples(res);
	if (head == 0)
		goto out;
	if (ly_map_init(&mine, arena, (size_t)head))
		goto nomem;
	for (int row = 0; row < head; row++) {
		const char *c = PQgetvalue(res, row, 0);
		int found;
		void **slot = ly_map_put(&mine, c, strlen(c), &found);
		if (!slot)
			goto nomem;
		if (!found)
			ly_st_arr_str(&custs, c);
		*slot = NULL; /* not locked yet */
	}
	rc = ly_st_arrs_end(&custs, 1, params, errstr, errstr_size);
	if (rc)
		goto out;
	PGresult *locked = NULL;
	rc = ly_st_exec_params(s, &locked, "postgres: outbox locks",
			       "SELECT c FROM unnest($1::text[]) AS c "
			       "WHERE pg_try_advisory_xact_lock(" LY_STORE_RELAY_LOCK
			       ", hashtext(c))",
			       1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(locked); row++) {
		const char *c = PQgetvalue(locked, row, 0);
		int found;
		void **slot = ly_map_put(&mine, c, strlen(c), &found);
		LY_ASSERT(slot && found);
		*slot = &mine; /* any non-NULL mark */
	}
	PQclear(locked);
	for (int row = 0; row < head; row++) {
		const char *c = PQgetvalue(res, row, 0);
		if (!ly_map_get(&mine, c, strlen(c)))
			continue;
		ly_st_arr_str(&rows[0], PQgetvalue(res, row, 1));
		ly_st_arr_text(&rows[1], PQgetvalue(res, row, 2),
			       (size_t)PQgetlength(res, row, 2));
		n++;
	}
	PQclear(res);
	res = NULL;
	if (n == 0)
		goto out;
	rc = ly_st_arrs_end(rows, 2, params, errstr, errstr_size);
	if (rc)
		goto out;
	rc = ly_st_exec_params(
		s, &res, "postgres: claim outbox",
		"SELECT o.customer_id, o.outbox_id, o.topic, o.message_key, o.payload, "
		"       o.headers, "
		"       o.channel IS NOT NULL AND NOT coalesce(CASE o.channel "
		"           WHEN 'email' THEN c.consent_email AND c.withdrawals_email = o.withdrawals "
		"           WHEN 'sms' THEN c.consent_sms AND c.withdrawals_sms = o.withdrawals END, "
		"           false), "
		"       o.message_id, o.channel, o.published_at IS NULL, o.ctid::text "
		"FROM outbox o "
		"LEFT JOIN customers c ON c.customer_id = o.customer_id AND o.channel IS NOT NULL "
		"WHERE o.ctid = ANY($1::tid[]) AND o.outbox_id = ANY($2::bigint[]) "
		"ORDER BY o.outbox_id",
		2, params, NULL, NULL, 1, errstr, errstr_size);
	if (rc)
		goto out;
	/* A row marked published since the head was read has a new
	 * version elsewhere and is not seen at its old ctid; the check of
	 * published_at below stays as a guard. */
	ly_outbox_msg_t *m = ly_arena_alloc(arena, ((size_t)PQntuples(res) + 1) * sizeof(*m));
	if (!m)
		goto nomem;
	n = 0;
	for (int row = 0; row < PQntuples(res); row++) {
		if (*PQgetvalue(res, row, 9) == 0)
			continue;
		const size_t i = n++;
		size_t len;
		m[i].customer_id = copy_binary(arena, res, row, 0, &len);
		m[i].outbox_id = be64(PQgetvalue(res, row, 1));
		m[i].topic = copy_binary(arena, res, row, 2, &len);
		m[i].key = copy_binary(arena, res, row, 3, &m[i].key_len);
		m[i].payload = copy_binary(arena, res, row, 4, &m[i].payload_len);
		m[i].headers = copy_binary(arena, res, row, 5, &m[i].headers_len);
		m[i].withdrawn = *PQgetvalue(res, row, 6) != 0;
		m[i].message_id = copy_binary(arena, res, row, 7, &len);
		m[i].channel = copy_binary(arena, res, row, 8, &len);
		m[i].row = copy_binary(arena, res, row, 10, &len);
		m[i].delivered = 0;
		if (!m[i].customer_id || !m[i].topic || !m[i].row)
			goto nomem;
	}
	*msgs = m;
	*msgs_len = n;
	goto out;
nomem:
	snprintf(errstr, errstr_size, "claim outbox: out of memory");
	rc = LY_ENOMEM;
out:
	PQclear(res);
	ly_st_arrs_free(&custs, 1);
	ly_st_arrs_free(rows, 2);
	return rc;
}

int ly_store_outbox_mark(ly_store_t *s, const ly_outbox_msg_t *msgs,
			 size_t msgs_len, int keep_published, ly_arena_t *arena,
			 char *errstr, size_t errstr_size)
{
	(void)arena;
	pg_array_t del = {0}, pub = {0}, gone[3] = {{{0}}};
	const char *dp[1], *pp[1], *gp[3];
	size_t ndel = 0, npub = 0, ngone = 0;
	int rc = 0;
	/* by ctid, as claimed (ly_store_outbox_claim) */
	for (size_t i = 0; i < msgs_len; i++) {
		if (msgs[i].withdrawn) {
			ly_st_arr_str(&gone[0], msgs[i].row);
			ly_st_arr_str(&gone[1], msgs[i].customer_id);
			ly_st_arr_str(&gone[2], msgs[i].message_id);
			ngone++;
		} else if (msgs[i].delivered && keep_published && msgs[i].message_id) {
			ly_st_arr_str(&pub, msgs[i].row);
			npub++;
		} else if (msgs[i].delivered) {
			/* a dead letter is the shop's message as it came (contact
			 * details and all): once on the DLQ topic it is not kept */
			ly_st_arr_str(&del, msgs[i].row);
			ndel++;
		}
	}
	if (npub && !(rc = ly_st_arrs_end(&pub, 1, pp, errstr, errstr_size)))
		rc = ly_st_exec_params(s, NULL, "postgres: mark outbox",
				 "UPDATE outbox SET published_at = now() "
				 "WHERE ctid = ANY($1::tid[])",
				 1, pp, NULL, NULL, 0, errstr, errstr_size);
	if (!rc && ndel && !(rc = ly_st_arrs_end(&del, 1, dp, errstr, errstr_size)))
		rc = ly_st_exec_params(s, NULL, "postgres: delete published",
				 "DELETE FROM outbox WHERE ctid = ANY($1::tid[])",
				 1, dp, NULL, NULL, 0, errstr, errstr_size);
	/* an offer whose consent was withdrawn is never published: its row
	 * goes, and its record says why */
	if (!rc && ngone && !(rc = ly_st_arrs_end(gone, 3, gp, errstr, errstr_size)))
		rc = ly_st_exec_params(s, NULL, "postgres: drop withdrawn offers",
				 "WITH d AS (DELETE FROM outbox WHERE ctid = ANY($1::tid[])) "
				 "UPDATE offers f SET status = 'suppressed', reason = 'consent_withdrawn' "
				 "FROM unnest($2::text[], $3::text[]) AS u(c, m) "
				 "WHERE f.customer_id = u.c AND f.offer_id = u.m",
				 3, gp, NULL, NULL, 0, errstr, errstr_size);
	ly_st_arrs_free(&del, 1);
	ly_st_arrs_free(&pub, 1);
	ly_st_arrs_free(gone, 3);
	return rc;
}

/* ---- the read side ---- */

int ly_store_print_balance(ly_store_t *s, const char *customer_id, int json,
			   ly_buf_t *out, char *errstr, size_t errstr_size)
{
	const char *params[] = {customer_id};
	PGresult *res = NULL;
	int rc = ly_st_exec_params(s, &res, "postgres: balance",
			     "SELECT b.available, b.pending, c.tier, coalesce(c.segment, 'new') "
			     "FROM balances b LEFT JOIN customers c USING (customer_id) "
			     "WHERE b.customer_id = $1",
			     1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		snprintf(errstr, errstr_size, "customer \"%s\" not found", customer_id);
		PQclear(res);
		return LY_ENOTFOUND;
	}
	const char *available = PQgetvalue(res, 0, 0);
	const char *pending = PQgetvalue(res, 0, 1);
	/* a program without tiers: no tier */
	const char *tier = PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2);
	const char *segment = PQgetvalue(res, 0, 3);
	if (json) {
		ly_buf_puts(out, "{\"customer_id\":");
		ly_buf_json_quoted(out, customer_id);
		ly_buf_printf(out, ",\"available\":%s,\"pending\":%s,\"tier\":", available,
			      pending);
		if (tier[0])
			ly_buf_json_quoted(out, tier);
		else
			ly_buf_puts(out, "null");
		ly_buf_puts(out, ",\"segment\":");
		ly_buf_json_quoted(out, segment);
		ly_buf_puts(out, "}\n");
	} else {
		ly_buf_printf(out,
			      "customer   %s\navailable  %s\npending    %s\ntier       %s\n"
			      "segment    %s\n",
			      customer_id, available, pending, tier[0] ? tier : "-", segment);
	}
	PQclear(res);
	return 0;
}

/* The customer's codes after the ledger: a table (none when there are no
 * codes) or the "codes" array of the JSON object. */
static int print_codes(ly_store_t *s, const char *customer_id, int json,
		       ly_buf_t *out, char *errstr, size_t errstr_size)
{
	const char *params[] = {customer_id};
	PGresult *res = NULL;
	int rc = ly_st_exec_params(
		s, &res, "postgres: history codes",
		"SELECT code, kind, amount, percent, min_order, "
		"to_char(valid_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		"status, rule_id, event_source, event_id, program_version "
		"FROM codes WHERE customer_id = $1 ORDER BY created_at, valid_until, code",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	int n = PQntuples(res);
	if (json)
		ly_buf_puts(out, ",\"codes\":[");
	else if (n > 0)
		ly_buf_printf(out, "\n%-12s  %-9s  %10s  %9s  %-20s  %-7s  %-16s  %s\n",
			      "code", "kind", "value", "min_order", "valid_until",
			      "status", "rule", "event");
	for (int row = 0; row < n; row++) {
		const char *v[11];
		for (int c = 0; c < 11; c++)
			v[c] = PQgetvalue(res, row, c);
		if (json) {
			ly_buf_puts(out, row ? ",{\"code\":" : "{\"code\":");
			ly_buf_json_quoted(out, v[0]);
			ly_buf_puts(out, ",\"kind\":");
			ly_buf_json_quoted(out, v[1]);
			ly_buf_printf(out, ",\"amount\":%s,\"percent\":%s,\"min_order\":%s",
				      v[2], v[3], v[4]);
			ly_buf_puts(out, ",\"valid_until\":");
			ly_buf_json_quoted(out, v[5]);
			ly_buf_puts(out, ",\"status\":");
			ly_buf_json_quoted(out, v[6]);
			ly_buf_puts(out, ",\"rule_id\":");
			ly_buf_json_quoted(out, v[7]);
			ly_buf_puts(out, ",\"event_source\":");
			ly_buf_json_quoted(out, v[8]);
			ly_buf_puts(out, ",\"event_id\":");
			ly_buf_json_quoted(out, v[9]);
			ly_buf_puts(out, ",\"program_version\":");
			ly_buf_json_quoted(out, v[10]);
			ly_buf_putc(out, '}');
		} else {
			/* a percent discount shows its percent, the rest an
			 * amount in minor units */
			char value[32];
			if (strcmp(v[3], "0") != 0)
				snprintf(value, sizeof(value), "%s%%", v[3]);
			else
				snprintf(value, sizeof(value), "%s", v[2]);
			ly_buf_printf(out, "%-12s  %-9s  %10s  %9s  %-20s  %-7s  %-16.16s  %s\n",
				      v[0], v[1], value, v[4], v[5], v[6], v[7], v[9]);
		}
	}
	if (json)
		ly_buf_putc(out, ']');
	PQclear(res);
	return 0;
}

/* The customer's offers after the codes, one line per channel, sent or
 * suppressed with the reason: a table (none when there are no offers) or
 * the "offers" array of the JSON object. */
static int print_offers(ly_store_t *s, const char *customer_id, int json,
			ly_buf_t *out, char *errstr, size_t errstr_size)
{
	static const char *const names[] = {"time", "rule_id", "template", "channel",
					    "status", "reason", "send_after",
					    "offer_id", "event_id"};
	enum { N = LY_ARRAY_LEN(names) };
	const char *params[] = {customer_id};
	PGresult *res = NULL;
	int rc = ly_st_exec_params(
		s, &res, "postgres: history offers",
		"SELECT to_char(event_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
		"rule_id, template, channel, status, coalesce(reason, ''), "
		"coalesce(to_char(send_after AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), offer_id, event_id "
		"FROM offers WHERE customer_id = $1 ORDER BY event_time, created_at, offer_id",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	int n = PQntuples(res);
	if (json)
		ly_buf_puts(out, ",\"offers\":[");
	else if (n > 0)
		ly_buf_printf(out, "\n%-20s  %-16s  %-16s  %-7s  %-10s  %-17s  %-20s  %s\n",
			      names[0], "rule", names[2], names[3], names[4], names[5],
			      names[6], names[7]);
	for (int row = 0; row < n; row++) {
		const char *v[N];
		for (int c = 0; c < N; c++)
			v[c] = PQgetvalue(res, row, c);
		if (json) {
			ly_buf_puts(out, row ? ",{" : "{");
			for (int c = 0; c < N; c++) {
				ly_buf_printf(out, "%s\"%s\":", c ? "," : "", names[c]);
				ly_buf_json_quoted(out, v[c][0] ? v[c] : NULL);
			}
			ly_buf_putc(out, '}');
		} else {
			ly_buf_printf(out, "%-20s  %-16.16s  %-16.16s  %-7s  %-10s  %-17s  %-20s  %s\n",
				      v[0], v[1], v[2], v[3], v[4], v[5][0] ? v[5] : "-",
				      v[6][0] ? v[6] : "-", v[7]);
		}
	}
	if (json)
		ly_buf_putc(out, ']');
	PQclear(res);
	return 0;
}

int ly_store_print_history(ly_store_t *s, const char *customer_id, int json,
			   ly_buf_t *out, char *errstr, size_t errstr_size)
{
	const char *params[] = {customer_id};
	PGresult *res = NULL;
	int rc = ly_st_exec_params(
		s, &res, "postgres: history",
		"SELECT entry_id, to_char(event_time AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), event_type, event_source, event_id, "
		"coalesce(rule_id, ''), delta_available, delta_pending, "
		"coalesce(to_char(available_at AT TIME ZONE 'UTC', "
		"'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''), reason, program_version "
		"FROM ledger WHERE customer_id = $1 ORDER BY event_time, entry_id",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	int n = PQntuples(res);
	if (json) {
		ly_buf_puts(out, "{\"customer_id\":");
		ly_buf_json_quoted(out, customer_id);
		ly_buf_puts(out, ",\"ledger\":[");
	} else {
		ly_buf_printf(out, "%-20s  %-18s  %-24s  %-16s  %9s  %9s  %-20s  %s\n",
			      "time", "type", "event", "rule", "available",
			      "pending", "available_at", "reason");
	}
	for (int row = 0; row < n; row++) {
		const char *v[11];
		for (int c = 0; c < 11; c++)
			v[c] = PQgetvalue(res, row, c);
		if (json) {
			ly_buf_printf(out, "%s{\"entry_id\":%s,\"time\":", row ? "," : "",
				      v[0]);
			ly_buf_json_quoted(out, v[1]);
			ly_buf_puts(out, ",\"event_type\":");
			ly_buf_json_quoted(out, v[2]);
			ly_buf_puts(out, ",\"event_source\":");
			ly_buf_json_quoted(out, v[3]);
			ly_buf_puts(out, ",\"event_id\":");
			ly_buf_json_quoted(out, v[4]);
			ly_buf_puts(out, ",\"rule_id\":");
			ly_buf_json_quoted(out, v[5][0] ? v[5] : NULL);
			ly_buf_printf(out, ",\"delta_available\":%s,\"delta_pending\":%s",
				      v[6], v[7]);
			ly_buf_puts(out, ",\"available_at\":");
			ly_buf_json_quoted(out, v[8][0] ? v[8] : NULL);
			ly_buf_puts(out, ",\"reason\":");
			ly_buf_json_quoted(out, v[9]);
			ly_buf_puts(out, ",\"program_version\":");
			ly_buf_json_quoted(out, v[10]);
			ly_buf_putc(out, '}');
		} else {
			ly_buf_printf(out,
				      "%-20s  %-18s  %-24.24s  %-16.16s  %9s  %9s  %-20s  %s\n",
				      v[1], v[2], v[4], v[5][0] ? v[5] : "-", v[6], v[7],
				      v[8][0] ? v[8] : "-", v[9]);
		}
	}
	PQclear(res);
	if (json)
		ly_buf_putc(out, ']');
	rc = print_codes(s, customer_id, json, out, errstr, errstr_size);
	if (!rc)
		rc = print_offers(s, customer_id, json, out, errstr, errstr_size);
	if (!rc && json)
		ly_buf_puts(out, "}\n");
	return rc;
}

/* verify, the sums: one line per invariant a customer breaks. */
static int verify_sums(ly_store_t *s, ly_buf_t *out, size_t *lines,
		       char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	char limit[24];
	snprintf(limit, sizeof(limit), "%d", LY_STORE_VERIFY_LINES_MAX);
	const char *params[] = {limit};
	int rc = ly_st_exec_params(
		s, &res, "postgres: verify",
		"WITH l AS (SELECT customer_id, sum(delta_available) AS a, "
		"           sum(delta_pending) AS p FROM ledger GROUP BY customer_id), "
		"     t AS (SELECT customer_id, "
		"           sum(remaining) FILTER (WHERE released) AS a, "
		"           sum(remaining) FILTER (WHERE NOT released) AS p, "
		"           sum(remaining) FILTER (WHERE released AND remaining > 0) AS kept "
		"           FROM lots GROUP BY customer_id), "
		"     v AS (SELECT coalesce(b.customer_id, l.customer_id, t.customer_id) AS id, "
		"           coalesce(b.available, 0) AS ba, coalesce(b.pending, 0) AS bp, "
		"           coalesce(l.a, 0) AS la, coalesce(l.p, 0) AS lp, "
		"           coalesce(t.a, 0) AS ta, coalesce(t.p, 0) AS tp, "
		"           coalesce(t.kept, 0) AS kept "
		"           FROM balances b "
		"           FULL JOIN l ON l.customer_id = b.customer_id "
		"           FULL JOIN t "
		"             ON t.customer_id = coalesce(b.customer_id, l.customer_id)), "
		"     d AS (SELECT *, ba <> la OR bp <> lp AS ledger_differs, "
		"           bp <> tp AS pending_differs, "
		"           ba >= 0 AND ba <> ta AS available_differs, "
		"           ba < 0 AND kept > 0 AS negative_differs FROM v) "
		"SELECT id, ba, bp, la, lp, ta, tp, kept, ledger_differs, pending_differs, "
		"       available_differs, negative_differs FROM d "
		"WHERE ledger_differs OR pending_differs OR available_differs "
		"   OR negative_differs "
		"ORDER BY id LIMIT $1::int + 1",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	int n = PQntuples(res);
	for (int row = 0; row < n && row < LY_STORE_VERIFY_LINES_MAX; row++) {
		const char *v[12];
		for (int c = 0; c < 12; c++)
			v[c] = PQgetvalue(res, row, c);
		if (v[8][0] == 't')
			ly_buf_printf(out,
				      "customer %s: balances available=%s pending=%s, "
				      "ledger available=%s pending=%s\n",
				      v[0], v[1], v[2], v[3], v[4]);
		if (v[9][0] == 't')
			ly_buf_printf(out,
				      "customer %s: balances pending=%s, unreleased lots "
				      "remaining=%s\n",
				      v[0], v[2], v[6]);
		if (v[10][0] == 't')
			ly_buf_printf(out,
				      "customer %s: balances available=%s, released lots "
				      "remaining=%s\n",
				      v[0], v[1], v[5]);
		if (v[11][0] == 't')
			ly_buf_printf(out,
				      "customer %s: balances available=%s is negative, yet "
				      "released lots hold remaining=%s\n",
				      v[0], v[1], v[7]);
		(*lines)++;
	}
	if (n > LY_STORE_VERIFY_LINES_MAX)
		ly_buf_printf(out,
			      "(more customers differ: only the first %d are listed)\n",
			      LY_STORE_VERIFY_LINES_MAX);
	PQclear(res);
	return 0;
}

/* verify, the lots: a lot's remaining is within 0 and its points. */
static int verify_lots(ly_store_t *s, ly_buf_t *out, size_t *lines,
		       char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	char limit[24];
	snprintf(limit, sizeof(limit), "%d", LY_STORE_VERIFY_LINES_MAX);
	const char *params[] = {limit};
	int rc = ly_st_exec_params(
		s, &res, "postgres: verify lots",
		"SELECT customer_id, lot_id, event_id, remaining, points FROM lots "
		"WHERE remaining < 0 OR remaining > points "
		"ORDER BY customer_id, lot_id LIMIT $1::int + 1",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	int n = PQntuples(res);
	for (int row = 0; row < n && row < LY_STORE_VERIFY_LINES_MAX; row++) {
		ly_buf_printf(out,
			      "customer %s: lot %s (event %s) remaining=%s, not within "
			      "0..%s\n",
			      PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
			      PQgetvalue(res, row, 2), PQgetvalue(res, row, 3),
			      PQgetvalue(res, row, 4));
		(*lines)++;
	}
	if (n > LY_STORE_VERIFY_LINES_MAX)
		ly_buf_printf(out,
			      "(more lots are out of bounds: only the first %d are listed)\n",
			      LY_STORE_VERIFY_LINES_MAX);
	PQclear(res);
	return 0;
}

int ly_store_verify(ly_store_t *s, ly_buf_t *out, char *errstr,
		    size_t errstr_size)
{
	size_t lines = 0;
	int rc = verify_sums(s, out, &lines, errstr, errstr_size);
	if (!rc)
		rc = verify_lots(s, out, &lines, errstr, errstr_size);
	if (rc)
		return rc;
	return lines ? LY_ECONFLICT : 0;
}

int ly_store_outbox_backlog(ly_store_t *s, int64_t *rows, double *oldest_age_s,
			    char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	/* the partial index outbox_unpublished holds exactly these rows */
	int rc = ly_st_exec_params(s, &res, "postgres: outbox backlog",
			     "SELECT count(*), coalesce(extract(epoch FROM now() - "
			     "min(created_at)), 0) FROM outbox WHERE published_at IS NULL",
			     0, NULL, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	*rows = atoll(PQgetvalue(res, 0, 0));
	*oldest_age_s = atof(PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

int ly_store_outbox_prune(ly_store_t *s, int64_t keep_s, size_t limit,
			  size_t *deleted, char *errstr, size_t errstr_size)
{
	char keep[24], lim[24];
	snprintf(keep, sizeof(keep), "%lld", (long long)keep_s);
	snprintf(lim, sizeof(lim), "%zu", limit);
	const char *params[] = {keep, lim};
	PGresult *res = NULL;
	*deleted = 0;
	int rc = ly_st_exec_params(
		s, &res, "postgres: prune outbox",
		"WITH old AS (SELECT customer_id, outbox_id FROM outbox "
		"    WHERE published_at < now() - make_interval(secs => $1::bigint) "
		"    ORDER BY published_at LIMIT $2 FOR UPDATE SKIP LOCKED) "
		"DELETE FROM outbox o USING old "
		"WHERE o.customer_id = old.customer_id AND o.outbox_id = old.outbox_id",
		2, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	*deleted = (size_t)atoll(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

/* ---- one customer, read only (loyaltyctl explain --customer) ---- */

int ly_store_load_customer(ly_store_t *s, const ly_program_t *program,
			   ly_customer_state_t *cs, ly_engine_shared_t *shared,
			   const ly_event_t *ev, ly_arena_t *arena, char *errstr,
			   size_t errstr_size)
{
	const char *params[2] = {cs->customer_id, NULL};
	PGresult *res = NULL;
	int rc = ly_st_exec_params(s, &res, "postgres: load balance",
			     "SELECT available, pending FROM balances WHERE customer_id = $1",
			     1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		cs->available = atoll(PQgetvalue(res, 0, 0));
		cs->pending = atoll(PQgetvalue(res, 0, 1));
	}
	PQclear(res);

	/* The profile (consents, locale, tier, ...), the counts of the
	 * periods ev falls in that it may read, and the budgets, as the worker
	 * loads them. */
	rc = ly_store_load_profiles(s, program, cs, 1, arena, errstr, errstr_size);
	if (rc)
		return rc;
	uint32_t *idx = ly_arena_alloc(arena, (program->rules_len + 2) * sizeof(*idx));
	ly_store_limit_key_t *keys =
		ly_arena_alloc(arena, (program->rules_len + 2) * sizeof(*keys));
	if (!idx || !keys)
		return LY_ENOMEM;
	const size_t n = ly_limit_indices(program, ev, idx);
	for (size_t i = 0; i < n; i++) {
		keys[i].state = cs;
		keys[i].rule = idx[i];
		ly_limit_period_at(program, idx[i], ev->time_us, keys[i].period);
	}
	rc = ly_store_load_limits(s, program, keys, n, arena, errstr, errstr_size);
	if (rc)
		return rc;
	return ly_store_load_budgets(s, program, shared->budget_spent, arena, errstr,
				     errstr_size);
}
