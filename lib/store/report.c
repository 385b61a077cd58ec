/*
 * report.c: the operator's reports and erasure (include/loyalty/store.h,
 * "the read side"; docs/lifecycle.md, "Liability and erasure").
 *
 * The liability is summed from the ledger, the truth, rather than from
 * balances, so it can be taken as of any past instant. Erasure writes only
 * the customers row, under the same row lock every writer of a customer
 * takes, so it never races a batch or a scheduler pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* A sum PostgreSQL computed as numeric: it may not fit in int64. */
static int parse_sum(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno == ERANGE)
		return LY_EINVAL;
	*out = v;
	return 0;
}

int ly_store_liability(ly_store_t *s, int64_t before_us, ly_liability_t *out,
		       char *errstr, size_t errstr_size)
{
	char before[40];
	const char *params[] = {NULL}; /* NULL: every line */
	if (before_us != INT64_MAX) {
		ly_time_format_rfc3339(before_us, before, sizeof(before));
		params[0] = before;
	}
	PGresult *res = NULL;
	int rc = ly_st_exec_params(
		s, &res, "postgres: liability",
		"SELECT coalesce(sum(a), 0), coalesce(sum(p), 0), "
		"       count(*) FILTER (WHERE a <> 0 OR p <> 0) "
		"FROM (SELECT customer_id, sum(delta_available) AS a, "
		"             sum(delta_pending) AS p FROM ledger "
		"      WHERE $1::timestamptz IS NULL OR event_time < $1::timestamptz "
		"      GROUP BY customer_id) c",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		return rc;
	if (parse_sum(PQgetvalue(res, 0, 0), &out->available) ||
	    parse_sum(PQgetvalue(res, 0, 1), &out->pending) ||
	    parse_sum(PQgetvalue(res, 0, 2), &out->customers)) {
		snprintf(errstr, errstr_size,
			 "liability: a sum does not fit in 64 bits (available %s, pending %s)",
			 PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		rc = LY_EINVAL;
	}
	PQclear(res);
	return rc;
}

int ly_store_erase(ly_store_t *s, const char *customer_id, ly_erasure_t *out,
		   char *errstr, size_t errstr_size)
{
	const char *params[] = {customer_id};
	PGresult *res = NULL;
	memset(out, 0, sizeof(*out));
	int rc = ly_st_exec_simple(s, "erase: begin", "BEGIN ISOLATION LEVEL READ COMMITTED",
				   errstr, errstr_size);
	if (rc)
		return rc;
	/* The row lock every writer of this customer takes first (the
	 * balances row: ly_store_lock_customers), so a batch that loaded the
	 * profile before cannot write the name back after. */
	rc = ly_st_exec_params(s, NULL, "erase: lock",
			       "SELECT 1 FROM balances WHERE customer_id = $1 FOR UPDATE",
			       1, params, NULL, NULL, 0, errstr, errstr_size);
	if (!rc)
		rc = ly_st_exec_params(s, &res, "erase: lock",
				       "SELECT first_name IS NOT NULL, birth_date IS NOT NULL, "
				       "       erased_at IS NOT NULL "
				       "FROM customers WHERE customer_id = $1 FOR UPDATE",
				       1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	if (PQntuples(res) == 0) {
		snprintf(errstr, errstr_size, "unknown customer \"%s\"", customer_id);
		rc = LY_ENOTFOUND;
		goto out;
	}
	out->removed_first_name = PQgetvalue(res, 0, 0)[0] == 't';
	out->removed_birth_date = PQgetvalue(res, 0, 1)[0] == 't';
	out->already_erased = PQgetvalue(res, 0, 2)[0] == 't';
	PQclear(res);
	res = NULL;
	/* A second erasure of an erased profile changes nothing at all, not
	 * even updated_at. */
	rc = ly_st_exec_params(
		s, &res, "erase: update",
		"UPDATE customers SET first_name = NULL, birth_date = NULL, "
		"       erased_at = coalesce(erased_at, now()), "
		"       updated_at = CASE WHEN first_name IS NULL AND birth_date IS NULL "
		"                          AND erased_at IS NOT NULL "
		"                         THEN updated_at ELSE now() END "
		"WHERE customer_id = $1 "
		"RETURNING to_char(erased_at AT TIME ZONE 'UTC', "
		"                  'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
		"  (SELECT count(*) FROM ledger WHERE customer_id = $1), "
		"  (SELECT count(*) FROM lots WHERE customer_id = $1), "
		"  (SELECT count(*) FROM orders WHERE customer_id = $1), "
		"  (SELECT count(*) FROM codes WHERE customer_id = $1)",
		1, params, NULL, NULL, 0, errstr, errstr_size);
	if (rc)
		goto out;
	if (PQntuples(res) != 1 ||
	    ly_time_parse_rfc3339(PQgetvalue(res, 0, 0), &out->erased_at_us)) {
		snprintf(errstr, errstr_size, "erase: unexpected answer from PostgreSQL");
		rc = LY_EIO;
		goto out;
	}
	out->ledger_lines = atoll(PQgetvalue(res, 0, 1));
	out->lots = atoll(PQgetvalue(res, 0, 2));
	out->orders = atoll(PQgetvalue(res, 0, 3));
	out->codes = atoll(PQgetvalue(res, 0, 4));
	rc = ly_st_exec_simple(s, "erase: commit", "COMMIT", errstr, errstr_size);
out:
	PQclear(res);
	if (rc) {
		char ignored[256];
		if (PQtransactionStatus(s->conn) != PQTRANS_IDLE &&
		    PQstatus(s->conn) == CONNECTION_OK)
			ly_st_exec_simple(s, "erase: rollback", "ROLLBACK", ignored,
					  sizeof(ignored));
	}
	return rc;
}
