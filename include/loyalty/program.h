/*
 * program.h: the shop's loyalty program, loaded from one YAML file.
 *
 * The loader turns the file into an immutable ly_program_t that the engine
 * reads; every mistake is refused with "file:line:col: message". The
 * program's version is a hash of the file's bytes, written on every ledger
 * line it produces.
 */
#ifndef LOYALTY_PROGRAM_H
#define LOYALTY_PROGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/event.h"

#define LY_PROGRAM_FILE_MAX_BYTES (4 * 1024 * 1024)
#define LY_PROGRAM_RULES_MAX 1024
#define LY_PROGRAM_ID_MAX_BYTES 64

/* What a proportional earn is computed from. */
typedef enum ly_earn_of {
	LY_OF_NONE = 0,   /* fixed: earn {points: N} */
	LY_OF_ORDER_TOTAL /* earn {per: P, points: N, of: order.total} */
} ly_earn_of_t;

typedef struct ly_rule {
	char *id;
	ly_event_type_t on;
	/* earn: points (fixed or per-unit), per (> 0 when proportional) */
	int has_earn;
	int64_t earn_points;
	int64_t earn_per;
	ly_earn_of_t earn_of;
	/* earn.pending: 1 / 0, or -1 = default (pending on order.paid when
	 * points.pending_days > 0). */
	int earn_pending;
	int line, col; /* where the rule starts, for messages */
} ly_rule_t;

typedef struct ly_program {
	char *path;
	char version[17]; /* first 16 hex digits of SHA-256 of the file */
	/* program: */
	char *name;
	char *currency; /* default "TRY" */
	char *timezone; /* default "Europe/Istanbul" */
	char *locale;   /* default "tr" */
	/* points: */
	int64_t pending_days;         /* default 0 */
	int64_t expire_days;          /* default 0 = never */
	int64_t expiry_reminder_days; /* default 0 = none */
	ly_rule_t *rules;
	size_t rules_len;
} ly_program_t;

/*
 * Loads and checks a program file. Returns 0 and *out (the caller frees
 * with ly_program_destroy), or LY_EINVAL/LY_EIO with
 * "path:line:col: message" in errstr.
 */
int ly_program_load(ly_program_t **out, const char *path, char *errstr,
		    size_t errstr_size);
/* The same from memory; name stands for the path in messages. */
int ly_program_load_buf(ly_program_t **out, const char *name, const char *buf,
			size_t len, char *errstr, size_t errstr_size);
/* Accepts NULL. */
void ly_program_destroy(ly_program_t *program);

/* 1 when points from this rule on this event type start as pending. */
int ly_rule_is_pending(const ly_program_t *program, const ly_rule_t *rule);

#endif
