/*
 * expr.h: the expression language of program files (SPEC section 5): `if`
 * conditions, `of` amounts and offer `vars`.
 *
 *   literals     42  "outdoor"  true false  2026-06-01 (date)  30d (duration)
 *   fields       order.total  customer.tier  item.category (inside a list fn)
 *   operators    * / %   + -   == != < <= > >=   in [..]   not   and   or
 *   functions    any(list, pred)  all(list, pred)  count(list, pred)
 *                sum(list, pred, expr); inside them the element is `item`
 *
 * An expression is compiled once, when the program loads, against a schema
 * of the fields it may name (their types and which are optional); unknown
 * fields or functions, type errors and syntax errors are refused with
 * "file:line:col: message". Evaluation reads fields through the caller's
 * environment, allocates nothing, and is bounded: the compiled program is
 * flat (no recursion), its stack depth is fixed at compile time, and lists
 * are at most LY_EVENT_ARRAY_MAX_ITEMS long. Integer arithmetic is checked:
 * an overflow or a division by zero is an evaluation error, never a wrong
 * number.
 *
 * Absent optional fields: an absent value makes every comparison that
 * involves it false (`survey.nps <= 6` is false without an NPS score), and
 * arithmetic on it is absent too. `not` of a false comparison is true.
 */
#ifndef LOYALTY_EXPR_H
#define LOYALTY_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "loyalty/util.h"

#define LY_EXPR_SOURCE_MAX_BYTES 4096
#define LY_EXPR_STACK_MAX 64  /* deeper expressions are refused */
#define LY_EXPR_LIST_NESTING_MAX 2

typedef enum ly_type {
	LY_TYPE_INT = 1,  /* int64 */
	LY_TYPE_BOOL,
	LY_TYPE_STRING,
	LY_TYPE_DATE,     /* days since 1970-01-01 (a calendar date) */
	LY_TYPE_TIME,     /* microseconds since the epoch, UTC */
	LY_TYPE_DURATION, /* microseconds; literal `30d` */
	LY_TYPE_LIST,     /* only as a field and a list function's first argument */
	LY_TYPE_ANY       /* for ly_expr_compile's `want`: no constraint */
} ly_type_t;

/* "int", "bool", ... */
const char *ly_type_name(ly_type_t type);

struct ly_expr_schema;

/* A field an expression may name. */
typedef struct ly_expr_field {
	const char *path; /* "order.total"; for an element field: "item.category" */
	ly_type_t type;
	int optional;     /* may be absent at evaluation */
	int id;           /* handed back to the environment */
	/* Lists only: the element. A list of records names its fields in
	 * item_schema ("item.sku", ...); a list of scalars has item_type and
	 * `item` is the element itself. */
	ly_type_t item_type;
	const struct ly_expr_schema *item_schema;
} ly_expr_field_t;

typedef struct ly_expr_schema {
	const ly_expr_field_t *fields;
	size_t fields_len;
} ly_expr_schema_t;

/* A value. Strings are borrowed from the environment or the compiled
 * expression. */
typedef struct ly_value {
	ly_type_t type;
	int absent; /* an optional field that is not there */
	union {
		int64_t i; /* INT, DATE, TIME, DURATION */
		int b;     /* BOOL */
		struct {
			const char *ptr;
			size_t len;
		} s; /* STRING */
	} u;
} ly_value_t;

/*
 * How evaluation reads fields. item is NULL outside list functions, else
 * the element handle list_item returned (for fields of "item.*", and for
 * `item` itself in a list of scalars, where field_id is the list's id).
 */
typedef struct ly_expr_env {
	void *ctx;
	/* 0 and *out; or LY_ENOTFOUND when an optional field is absent. */
	int (*get)(void *ctx, int field_id, const void *item, ly_value_t *out);
	size_t (*list_len)(void *ctx, int field_id, const void *item);
	const void *(*list_item)(void *ctx, int field_id, size_t index,
				 const void *item);
} ly_expr_env_t;

typedef struct ly_expr ly_expr_t;

/*
 * Compiles src[0..len) against schema. want is the type the result must
 * have (LY_TYPE_BOOL for `if`, LY_TYPE_INT for `of`, LY_TYPE_ANY for vars).
 * file/line/col say where src starts in the program file, so errors read
 * "file:line:col: message" pointing into the expression. Returns 0 and *out
 * (the caller frees with ly_expr_destroy), or LY_EINVAL / LY_ENOMEM.
 */
int ly_expr_compile(ly_expr_t **out, const char *src, size_t len,
		    const ly_expr_schema_t *schema, ly_type_t want,
		    const char *file, int line, int col, char *errstr,
		    size_t errstr_size);

/* The result type. */
ly_type_t ly_expr_type(const ly_expr_t *expr);

/* The source text, as compiled (NUL-terminated, owned by expr). */
const char *ly_expr_source(const ly_expr_t *expr);

/*
 * 1 when evaluating expr may read the field with that id (the id of a
 * schema field, ly_expr_field_t.id), anywhere in it: inside list functions,
 * and a list a list function walks counts as read; else 0. For callers that
 * must refuse expressions naming fields they cannot provide.
 */
int ly_expr_reads_field(const ly_expr_t *expr, int field_id);

/*
 * Evaluates. Returns 0 and *out, or LY_EINVAL with errstr on an overflow or
 * a division by zero. Thread-safe for one expr and many envs; no heap use.
 */
int ly_expr_eval(const ly_expr_t *expr, const ly_expr_env_t *env,
		 ly_value_t *out, char *errstr, size_t errstr_size);

/*
 * Explains an evaluation for people: the value of each comparison and field
 * it read, e.g. `review.verified_purchase and review.has_photo: true and
 * false -> false`. Appends to out; returns 0 or LY_ENOMEM.
 */
int ly_expr_explain(const ly_expr_t *expr, const ly_expr_env_t *env,
		    ly_buf_t *out);

/*
 * Appends a present value as JSON: an integer, true/false or a string;
 * a date as "2026-06-01", a time in RFC 3339, a duration as "30d".
 * Returns 0 or LY_ENOMEM.
 */
int ly_expr_value_json(ly_buf_t *out, const ly_value_t *v);

/* Accepts NULL. */
void ly_expr_destroy(ly_expr_t *expr);

#endif
