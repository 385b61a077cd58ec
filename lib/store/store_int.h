/*
 * store_int.h: what the files of lib/store share: the connection, one
 * statement with its error sorted into retry or not, and the array
 * literals batches travel in. Not installed.
 */
#ifndef LOYALTY_STORE_INT_H
#define LOYALTY_STORE_INT_H

#include <libpq-fe.h>

#include "loyalty/store.h"

/* Statements sent ahead in pipeline mode whose results are still due. */
#define LY_ST_PENDING_MAX 64

struct ly_store {
	PGconn *conn;
	char *conninfo;
	char *schema;
	int pipeline; /* in libpq's pipeline mode (ly_store_pipeline_begin) */
	int synced;   /* its end sent (ly_store_pipeline_commit) */
	size_t pending;
	const char *pending_what[LY_ST_PENDING_MAX];
	/* a store in flight whose writes this one pushes out while it waits
	 * for its own answers (ly_store_set_pump) */
	ly_store_t *pump;
};

/* Sorts a failed result into LY_ERETRY or LY_EIO and frees it. */
int ly_st_result_error(ly_store_t *s, PGresult *r, const char *what,
		       char *errstr, size_t errstr_size);
/*
 * Runs one parameterised statement. On success *res holds the result (the
 * caller PQclear()s it) unless res is NULL. Returns 0, LY_ERETRY or LY_EIO.
 * In pipeline mode a statement whose result is not wanted (res NULL) is
 * only sent: its outcome is known at the latest at ly_store_pipeline_end,
 * and an error in it fails the statements after it.
 */
int ly_st_exec_params(ly_store_t *s, PGresult **res, const char *what,
		      const char *sql, int nparams, const char *const *params,
		      const int *lengths, const int *formats, int result_binary,
		      char *errstr, size_t errstr_size);
/* Runs fixed SQL text, possibly several statements. */
int ly_st_exec_simple(ly_store_t *s, const char *what, const char *sql,
		      char *errstr, size_t errstr_size);

/*
 * A PostgreSQL array literal ("{...}") built element by element. Every
 * element is quoted, so only '"' and '\' need escaping.
 */
typedef struct pg_array {
	ly_buf_t buf;
	int failed;
} pg_array_t;

void ly_st_arr_sep(pg_array_t *a);
void ly_st_arr_text(pg_array_t *a, const char *s, size_t n);
/* NULL is SQL NULL. */
void ly_st_arr_str(pg_array_t *a, const char *s);
void ly_st_arr_int(pg_array_t *a, int64_t v);
/* A timestamp; us == 0 means NULL. */
void ly_st_arr_time(pg_array_t *a, int64_t us);
/* bytea in hex form; NULL data is SQL NULL. */
void ly_st_arr_bytea(pg_array_t *a, const void *data, size_t n);
/* Closes the literal; "{}" for no elements. NULL when out of memory. */
const char *ly_st_arr_end(pg_array_t *a);
void ly_st_arrs_free(pg_array_t *arrs, size_t n);
/* Closes n arrays into params; LY_ENOMEM if any failed. */
int ly_st_arrs_end(pg_array_t *arrs, size_t n, const char **params,
		   char *errstr, size_t errstr_size);

#endif
