/*
 * eval.c: runs a compiled expression, explains a run, and the small
 * accessors of ly_expr_t.
 *
 * Evaluation is one loop over the instruction array with a value stack of
 * LY_EXPR_STACK_MAX entries and a loop-state array of
 * LY_EXPR_LIST_NESTING_MAX entries, both on the C stack: the compiler
 * proved neither can overflow, it never recurses, and it never touches the
 * heap (nothing in run() or the helpers it calls allocates; keep it so:
 * rules run once per event on the hot path).
 *
 * Absent values carry a zero payload (false, 0, ""), so and/or/not, which
 * only look at u.b, see an absent bool as false. Comparisons and "in" with
 * an absent operand are false; arithmetic on one is absent; sum() skips
 * absent values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr_int.h"
#include "loyalty/event.h"

const char *ly_type_name(ly_type_t type)
{
	static const char *const names[] = {
	    [LY_TYPE_INT] = "int",       [LY_TYPE_BOOL] = "bool",
	    [LY_TYPE_STRING] = "string", [LY_TYPE_DATE] = "date",
	    [LY_TYPE_TIME] = "time",     [LY_TYPE_DURATION] = "duration",
	    [LY_TYPE_LIST] = "list",     [LY_TYPE_ANY] = "any",
	};
	if ((size_t)type < LY_ARRAY_LEN(names) && names[type])
		return names[type];
	return "unknown";
}

ly_type_t ly_expr_type(const ly_expr_t *expr)
{
	return expr->type;
}

const char *ly_expr_source(const ly_expr_t *expr)
{
	return expr->src;
}

int ly_expr_reads_field(const ly_expr_t *expr, int field_id)
{
	for (size_t i = 0; i < expr->insns_len; i++) {
		const ly_expr__insn_t *in = &expr->insns[i];
		if ((in->op == OP_LOAD || in->op == OP_LBEGIN) && in->a == field_id)
			return 1;
	}
	return 0;
}

void ly_expr_destroy(ly_expr_t *expr)
{
	if (!expr)
		return;
	free(expr->src);
	free(expr->file);
	free(expr->insns);
	free(expr->consts);
	free(expr->strs);
	free(expr->spans);
	free(expr);
}

typedef struct loop {
	size_t i, n;
	int32_t id;
	const void *owner; /* the element the list belongs to, or NULL */
	const void *item;  /* the current element */
} loop_t;

static int fail(const ly_expr_t *e, const ly_expr__insn_t *in, char *errstr,
		size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(const ly_expr_t *e, const ly_expr__insn_t *in, char *errstr,
		size_t errstr_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ly_expr__vmsg(errstr, errstr_size, e->file, e->src, e->src_len, in->pos, e->line,
		      e->col, fmt, ap);
	va_end(ap);
	return LY_EINVAL;
}

/* The length of the field path at src[pos], for messages. */
static int path_len(const ly_expr_t *e, size_t pos)
{
	size_t q = pos;
	while (q < e->src_len && q - pos < LY_EXPR__ERR_QUOTE_MAX &&
	       ((e->src[q] >= 'a' && e->src[q] <= 'z') ||
		(e->src[q] >= 'A' && e->src[q] <= 'Z') ||
		(e->src[q] >= '0' && e->src[q] <= '9') || e->src[q] == '_' ||
		e->src[q] == '.'))
		q++;
	return (int)(q - pos);
}

static void set_absent(ly_value_t *v, ly_type_t type)
{
	v->type = type;
	v->absent = 1;
	memset(&v->u, 0, sizeof(v->u));
	if (type == LY_TYPE_STRING)
		v->u.s.ptr = "";
}

static inline int load(const ly_expr_t *e, const ly_expr_env_t *env, const loop_t *loops,
		       const ly_expr__insn_t *in, ly_value_t *v, char *errstr,
		       size_t errstr_size)
{
	const void *item = in->ilvl >= 0 ? loops[in->ilvl].item : NULL;
	int rc;

	v->absent = 0;
	rc = env->get(env->ctx, in->a, item, v);
	if (rc == 0 && !v->absent) {
		/* The environment disagreeing with its schema is a bug. */
		LY_ASSERT(v->type == (ly_type_t)in->type);
		if (v->type == LY_TYPE_STRING && !v->u.s.ptr) {
			LY_ASSERT(v->u.s.len == 0);
			v->u.s.ptr = "";
		}
		return 0;
	}
	if (rc == 0 || rc == LY_ENOTFOUND) {
		if (in->flag) {
			set_absent(v, (ly_type_t)in->type);
			return 0;
		}
		return fail(e, in, errstr, errstr_size,
			    "required field \"%.*s\" is absent", path_len(e, in->pos),
			    e->src + in->pos);
	}
	return fail(e, in, errstr, errstr_size, "field \"%.*s\" could not be read",
		    path_len(e, in->pos), e->src + in->pos);
}

/* Moves loop l to its next element: the body's pc, or pc to fall out. */
static inline size_t loop_next(const ly_expr_env_t *env, loop_t *l, size_t body,
			       size_t pc)
{
	if (++l->i < l->n) {
		l->item = env->list_item(env->ctx, l->id, l->i, l->owner);
		return body;
	}
	return pc;
}

static inline void set_bool(ly_value_t *v, int b)
{
	v->type = LY_TYPE_BOOL;
	v->absent = 0;
	v->u.b = b;
}

static inline int str_eq(const ly_value_t *a, const ly_value_t *b)
{
	return a->u.s.len == b->u.s.len &&
	       (a->u.s.len == 0 || memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0);
}

/*
 * The interpreter. rec (explain only) receives the value of every slot the
 * run reaches. No heap, no recursion.
 */
static int run(const ly_expr_t *e, const ly_expr_env_t *env, ly_value_t *rec,
	       ly_value_t *out, char *errstr, size_t errstr_size)
{
	ly_value_t stack[LY_EXPR_STACK_MAX];
	loop_t loops[LY_EXPR_LIST_NESTING_MAX];
	ly_value_t *sp = stack; /* the next free entry */
	ly_value_t *a, *b;
	const ly_expr__insn_t *code = e->insns;
	size_t pc = 0, end = e->insns_len;
	int64_t r;
	int rc;

	while (pc < end) {
		const ly_expr__insn_t *in = &code[pc++];
		switch ((ly_expr__op_t)in->op) {
		case OP_CONST:
			*sp++ = e->consts[in->a];
			break;
		case OP_LOAD:
			if ((rc = load(e, env, loops, in, sp, errstr, errstr_size)))
				return rc;
			if (rec && in->slot >= 0)
				rec[in->slot] = *sp;
			sp++;
			break;
		case OP_NEG:
			a = sp - 1;
			if (a->absent)
				break;
			if (a->u.i == INT64_MIN)
				goto overflow;
			a->u.i = -a->u.i;
			break;
		case OP_ADD:
		case OP_SUB:
		case OP_MUL:
		case OP_DIV:
		case OP_MOD:
		case OP_ADD_DATE_DUR:
		case OP_ADD_DUR_DATE:
		case OP_SUB_DATE_DUR:
		case OP_SUB_DATE_DATE:
			b = --sp;
			a = sp - 1;
			if (a->absent || b->absent) {
				set_absent(a, (ly_type_t)in->type);
				break;
			}
			switch ((ly_expr__op_t)in->op) {
			case OP_ADD:
				if (__builtin_add_overflow(a->u.i, b->u.i, &r))
					goto overflow;
				break;
			case OP_SUB:
				if (__builtin_sub_overflow(a->u.i, b->u.i, &r))
					goto overflow;
				break;
			case OP_MUL:
				if (__builtin_mul_overflow(a->u.i, b->u.i, &r))
					goto overflow;
				break;
			case OP_DIV:
				if (b->u.i == 0)
					return fail(e, in, errstr, errstr_size,
						    "division by zero");
				if (a->u.i == INT64_MIN && b->u.i == -1)
					goto overflow;
				r = a->u.i / b->u.i; /* C truncates toward zero */
				break;
			case OP_MOD:
				if (b->u.i == 0)
					return fail(e, in, errstr, errstr_size,
						    "modulo by zero");
				r = b->u.i == -1 ? 0 : a->u.i % b->u.i;
				break;
			case OP_ADD_DATE_DUR:
			case OP_ADD_DUR_DATE:
			case OP_SUB_DATE_DUR: {
				int64_t dur = in->op == OP_ADD_DUR_DATE ? a->u.i : b->u.i;
				int64_t day = in->op == OP_ADD_DUR_DATE ? b->u.i : a->u.i;
				if (dur % LY_EXPR__DAY_US != 0)
					return fail(e, in, errstr, errstr_size,
						    "a date moves by whole days only");
				dur /= LY_EXPR__DAY_US;
				if (in->op == OP_SUB_DATE_DUR)
					dur = -dur; /* |dur| < 2^63 / 86400e6 */
				if (__builtin_add_overflow(day, dur, &r))
					goto overflow;
				break;
			}
			case OP_SUB_DATE_DATE:
				if (__builtin_sub_overflow(a->u.i, b->u.i, &r) ||
				    __builtin_mul_overflow(r, LY_EXPR__DAY_US, &r))
					goto overflow;
				break;
			default:
				LY_ASSERT(0 && "not arithmetic");
				return LY_EINVAL;
			}
			a->type = (ly_type_t)in->type;
			a->u.i = r;
			break;
		case OP_EQ_I:
		case OP_NE_I:
		case OP_LT_I:
		case OP_LE_I:
		case OP_GT_I:
		case OP_GE_I: {
			int v = 0;
			b = --sp;
			a = sp - 1;
			if (!a->absent && !b->absent) {
				switch ((ly_expr__op_t)in->op) {
				case OP_EQ_I:
					v = a->u.i == b->u.i;
					break;
				case OP_NE_I:
					v = a->u.i != b->u.i;
					break;
				case OP_LT_I:
					v = a->u.i < b->u.i;
					break;
				case OP_LE_I:
					v = a->u.i <= b->u.i;
					break;
				case OP_GT_I:
					v = a->u.i > b->u.i;
					break;
				default:
					v = a->u.i >= b->u.i;
					break;
				}
			}
			set_bool(a, v);
			break;
		}
		case OP_EQ_S:
		case OP_NE_S:
			b = --sp;
			a = sp - 1;
			set_bool(a, !a->absent && !b->absent &&
					str_eq(a, b) == (in->op == OP_EQ_S));
			break;
		case OP_EQ_B:
		case OP_NE_B:
			b = --sp;
			a = sp - 1;
			set_bool(a, !a->absent && !b->absent &&
					(!a->u.b == !b->u.b) == (in->op == OP_EQ_B));
			break;
		case OP_IN_I:
		case OP_IN_S: {
			int v = 0;
			a = sp - 1;
			for (int32_t k = in->a; !a->absent && !v && k < in->a + in->b;
			     k++)
				v = in->op == OP_IN_I ? a->u.i == e->consts[k].u.i
						      : str_eq(a, &e->consts[k]);
			set_bool(a, v);
			break;
		}
		case OP_NOT:
			set_bool(sp - 1, !sp[-1].u.b);
			break;
		case OP_BOOL:
			sp[-1].absent = 0; /* its u.b is already 0 */
			break;
		case OP_JF_KEEP:
			if (!sp[-1].u.b) {
				sp[-1].absent = 0;
				pc = (size_t)in->a;
			} else {
				sp--;
			}
			break;
		case OP_JT_KEEP:
			if (sp[-1].u.b)
				pc = (size_t)in->a;
			else
				sp--;
			break;
		case OP_JF_POP:
			sp--;
			if (!sp->u.b)
				pc = (size_t)in->a;
			break;
		case OP_LBEGIN: {
			loop_t *l = &loops[in->lvl];
			l->owner = in->ilvl >= 0 ? loops[in->ilvl].item : NULL;
			l->id = in->a;
			l->i = 0;
			l->n = env->list_len(env->ctx, in->a, l->owner);
			if (l->n > LY_EVENT_ARRAY_MAX_ITEMS)
				return fail(e, in, errstr, errstr_size,
					    "list \"%.*s\" has %zu items, at most %d",
					    path_len(e, in->pos), e->src + in->pos, l->n,
					    LY_EVENT_ARRAY_MAX_ITEMS);
			sp->type = (ly_type_t)in->type;
			sp->absent = 0;
			memset(&sp->u, 0, sizeof(sp->u));
			if (in->type == LY_TYPE_BOOL)
				sp->u.b = in->flag;
			sp++;
			if (l->n == 0)
				pc = (size_t)in->b;
			else
				l->item = env->list_item(env->ctx, in->a, 0, l->owner);
			break;
		}
		case OP_LANY:
			sp--;
			if (sp->u.b)
				sp[-1].u.b = 1;
			else
				pc = loop_next(env, &loops[in->lvl], (size_t)in->a, pc);
			break;
		case OP_LALL:
			sp--;
			if (!sp->u.b)
				sp[-1].u.b = 0;
			else
				pc = loop_next(env, &loops[in->lvl], (size_t)in->a, pc);
			break;
		case OP_LCOUNT:
			sp--;
			if (sp->u.b)
				sp[-1].u.i++; /* at most 1000 */
			pc = loop_next(env, &loops[in->lvl], (size_t)in->a, pc);
			break;
		case OP_LSUM:
			sp--;
			if (!sp->absent &&
			    __builtin_add_overflow(sp[-1].u.i, sp->u.i, &sp[-1].u.i))
				goto overflow;
			break;
		case OP_LNEXT:
			pc = loop_next(env, &loops[in->lvl], (size_t)in->a, pc);
			break;
		case OP_MARK:
			if (rec)
				rec[in->slot] = sp[-1];
			break;
		default:
			LY_ASSERT(0 && "bad instruction");
			return LY_EINVAL;
		}
		continue;
	overflow:
		/* in->pos is the operator ("+", "-", "*", "/"), or sum's value. */
		if (in->op == OP_LSUM)
			return fail(e, in, errstr, errstr_size,
				    "integer overflow in sum");
		return fail(e, in, errstr, errstr_size, "integer overflow in \"%c\"",
			    e->src[in->pos]);
	}
	LY_ASSERT(sp == stack + 1);
	*out = stack[0];
	out->type = e->type;
	return 0;
}

int ly_expr_eval(const ly_expr_t *expr, const ly_expr_env_t *env, ly_value_t *out,
		 char *errstr, size_t errstr_size)
{
	LY_ASSERT(expr && env && out);
	return run(expr, env, NULL, out, errstr, errstr_size);
}

/* ---- explain ---- */

/* Microseconds of 0000-01-01 and 9999-12-31T23:59:59.999999. */
#define TIME_MIN_US (INT64_C(-62167219200) * 1000000)
#define TIME_MAX_US (INT64_C(253402300799) * 1000000 + 999999)

static int put_text(ly_buf_t *out, const ly_value_t *v)
{
	char tbuf[64];
	int y;
	int m, d, rc;

	switch (v->type) {
	case LY_TYPE_INT:
		return ly_buf_printf(out, "%lld", (long long)v->u.i);
	case LY_TYPE_BOOL:
		return ly_buf_puts(out, v->u.b ? "true" : "false");
	case LY_TYPE_STRING:
		if ((rc = ly_buf_putc(out, '"')) ||
		    (rc = ly_buf_json_str(out, v->u.s.ptr, v->u.s.len)))
			return rc;
		return ly_buf_putc(out, '"');
	case LY_TYPE_DATE:
		if (v->u.i < -INT64_C(1000000000) || v->u.i > INT64_C(1000000000))
			return ly_buf_printf(out, "date(%lld)", (long long)v->u.i);
		ly_civil_from_days(v->u.i, &y, &m, &d);
		return ly_buf_printf(out, "%04d-%02d-%02d", y, m, d);
	case LY_TYPE_TIME:
		if (v->u.i < TIME_MIN_US || v->u.i > TIME_MAX_US)
			return ly_buf_printf(out, "time(%lld)", (long long)v->u.i);
		ly_time_format_rfc3339(v->u.i, tbuf, sizeof(tbuf));
		return ly_buf_puts(out, tbuf);
	case LY_TYPE_DURATION:
		if (v->u.i % LY_EXPR__DAY_US == 0)
			return ly_buf_printf(out, "%lldd",
					     (long long)(v->u.i / LY_EXPR__DAY_US));
		if (v->u.i % (INT64_C(3600) * 1000000) == 0)
			return ly_buf_printf(out, "%lldh",
					     (long long)(v->u.i / 3600000000));
		if (v->u.i % 1000000 == 0)
			return ly_buf_printf(out, "%llds", (long long)(v->u.i / 1000000));
		return ly_buf_printf(out, "%lldus", (long long)v->u.i);
	default:
		return ly_buf_puts(out, "?");
	}
}

static int put_value(ly_buf_t *out, const ly_value_t *v)
{
	return v->absent ? ly_buf_puts(out, "absent") : put_text(out, v);
}

int ly_expr_value_json(ly_buf_t *out, const ly_value_t *v)
{
	int rc;
	LY_ASSERT(!v->absent);
	if (v->type == LY_TYPE_INT || v->type == LY_TYPE_BOOL || v->type == LY_TYPE_STRING)
		return put_text(out, v);
	if ((rc = ly_buf_putc(out, '"')) || (rc = put_text(out, v)))
		return rc;
	return ly_buf_putc(out, '"');
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* src[from, to) on one line: a line break and the indentation after it
 * print as one space, a tab as a space. */
static int put_src(ly_buf_t *out, const char *src, size_t from, size_t to)
{
	int rc;

	for (size_t i = from; i < to; i++) {
		char c = src[i];
		if (c == '\r' || c == '\n') {
			while (i + 1 < to && is_space(src[i + 1]))
				i++;
			c = ' ';
		}
		if ((rc = ly_buf_putc(out, c == '\t' ? ' ' : c)))
			return rc;
	}
	return 0;
}

int ly_expr_explain(const ly_expr_t *expr, const ly_expr_env_t *env, ly_buf_t *out)
{
	ly_value_t *rec = NULL, v;
	char err[512];
	size_t old_len = out->len, at = 0, end = expr->src_len;
	int rc, erc;

	LY_ASSERT(expr && env && out);
	while (end > 0 && is_space(expr->src[end - 1]))
		end--; /* a block scalar's final line break */
	/* Explain is for people, off the hot path: the heap is fine here. */
	rec = calloc(expr->spans_len ? expr->spans_len : 1, sizeof(*rec));
	if (!rec)
		return LY_ENOMEM;
	/* type 0 marks a slot the run did not reach (short-circuited). */
	erc = run(expr, env, rec, &v, err, sizeof(err));
	if ((rc = put_src(out, expr->src, 0, end)))
		goto out;
	if (expr->spans_len) {
		if ((rc = ly_buf_puts(out, ": ")))
			goto out;
		for (size_t i = 0; i < expr->spans_len; i++) {
			const ly_expr__span_t *s = &expr->spans[i];
			LY_ASSERT(s->off >= at); /* emitted in source order */
			if ((rc = put_src(out, expr->src, at, s->off)))
				goto out;
			if (rec[i].type == 0)
				rc = put_src(out, expr->src, s->off,
					     (size_t)s->off + s->len);
			else
				rc = put_value(out, &rec[i]);
			if (rc)
				goto out;
			at = (size_t)s->off + s->len;
		}
		if ((rc = put_src(out, expr->src, at, end)))
			goto out;
	}
	if ((rc = ly_buf_puts(out, " -> ")))
		goto out;
	if (erc)
		rc = ly_buf_printf(out, "error: %s", err);
	else
		rc = put_value(out, &v);
out:
	if (rc) {
		out->len = old_len;
		if (out->data)
			out->data[old_len] = '\0';
		rc = LY_ENOMEM;
	}
	free(rec);
	return rc;
}
