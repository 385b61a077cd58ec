/*
 * compile.c: ly_expr_compile, and the last step of it: the checked AST
 * becomes a flat postfix program for eval.c.
 *
 * Short-circuit `and`/`or` are forward jumps. A list function is a loop
 * over a sub-range of the program: LBEGIN pushes the accumulator and reads
 * the list's length, the body computes the condition (and sum's value), and
 * LANY/LALL/LCOUNT/LNEXT jump back to the body for the next element. Loop
 * state lives in a fixed array indexed by nesting level, so evaluation
 * never recurses. The stack depth is tracked while emitting and refused
 * above LY_EXPR_STACK_MAX.
 *
 * For explain, each field read and list function outside any list function
 * gets a slot: evaluation records its value there, and explain prints the
 * source with those spans replaced by their values.
 */
#include <stdlib.h>
#include <string.h>

#include "expr_int.h"

typedef struct gen {
	ly_expr__cc_t *cc;
	ly_expr_t *e;
	size_t insns_cap, consts_cap, spans_cap;
	int sp; /* values on the stack at this point of the program */
	int loop_depth;
} gen_t;

/* Room for one more element in the array *p of len elements. */
static int grow(ly_expr__cc_t *cc, void **p, size_t *cap, size_t len, size_t size,
		size_t max)
{
	void *np;
	size_t ncap;

	if (len < *cap)
		return 0;
	if (len >= max)
		return ly_expr__err(cc, cc->first_off, "expression too complex");
	ncap = *cap ? *cap * 2 : 16;
	if (ncap > max)
		ncap = max;
	np = realloc(*p, ncap * size);
	if (!np)
		return ly_expr__nomem(cc);
	*p = np;
	*cap = ncap;
	return 0;
}

/* Appends an instruction; delta is its effect on the stack depth. */
static int emit(gen_t *g, ly_expr__op_t op, const ly_expr__node_t *n, int delta,
		ly_expr__insn_t **out)
{
	ly_expr_t *e = g->e;
	ly_expr__insn_t *in;
	int rc;

	void *p = e->insns;
	if ((rc = grow(g->cc, &p, &g->insns_cap, e->insns_len, sizeof(*e->insns),
		       LY_EXPR__INSNS_MAX)))
		return rc;
	e->insns = p;
	in = &e->insns[e->insns_len++];
	memset(in, 0, sizeof(*in));
	in->op = (uint8_t)op;
	in->type = (uint8_t)n->type;
	in->pos = (uint16_t)n->off;
	in->slot = -1;
	in->ilvl = -1;
	g->sp += delta;
	LY_ASSERT(g->sp >= 0);
	if (g->sp > LY_EXPR_STACK_MAX)
		return ly_expr__err(g->cc, n->off, "expression too deep");
	if (g->sp > e->stack_max)
		e->stack_max = g->sp;
	if (out)
		*out = in;
	return 0;
}

static size_t here(const gen_t *g)
{
	return g->e->insns_len;
}

static int add_const(gen_t *g, const ly_value_t *v, int32_t *index)
{
	ly_expr_t *e = g->e;
	ly_value_t *c;
	int rc;

	void *p = e->consts;
	if ((rc = grow(g->cc, &p, &g->consts_cap, e->consts_len, sizeof(*e->consts),
		       LY_EXPR__CONSTS_MAX)))
		return rc;
	e->consts = p;
	c = &e->consts[e->consts_len];
	*c = *v;
	if (v->type == LY_TYPE_STRING) {
		/* Decoded strings are never longer than their source, so
		 * e->strs (the size of the source) has room for all of them. */
		LY_ASSERT(e->strs_len + v->u.s.len <= e->src_len);
		if (v->u.s.len)
			memcpy(e->strs + e->strs_len, v->u.s.ptr, v->u.s.len);
		c->u.s.ptr = e->strs + e->strs_len;
		e->strs_len += v->u.s.len;
	}
	*index = (int32_t)e->consts_len++;
	return 0;
}

static int add_span(gen_t *g, size_t off, size_t end, int16_t *slot)
{
	ly_expr_t *e = g->e;
	int rc;

	*slot = -1;
	if (g->loop_depth > 0)
		return 0; /* inside a list function: the function's value stands */
	void *p = e->spans;
	if ((rc = grow(g->cc, &p, &g->spans_cap, e->spans_len, sizeof(*e->spans),
		       LY_EXPR__INSNS_MAX)))
		return rc;
	e->spans = p;
	e->spans[e->spans_len].off = (uint16_t)off;
	e->spans[e->spans_len].len = (uint16_t)(end - off);
	*slot = (int16_t)e->spans_len++;
	return 0;
}

static int gen(gen_t *g, const ly_expr__node_t *n);

static int gen_func(gen_t *g, const ly_expr__node_t *n)
{
	static const ly_expr__op_t close_op[] = {
	    [FN_ANY] = OP_LANY, [FN_ALL] = OP_LALL, [FN_COUNT] = OP_LCOUNT};
	ly_expr__insn_t *in;
	size_t begin, body, skip;
	int rc;

	if ((rc = emit(g, OP_LBEGIN, n, 1, &in)))
		return rc;
	begin = here(g) - 1;
	in->a = n->field->id;
	in->ilvl = (int8_t)n->ilvl;
	in->lvl = (int8_t)n->lvl;
	in->pos = (uint16_t)n->a[0]->off; /* errors name the list */
	in->flag = n->func == FN_ALL;
	body = here(g);
	g->loop_depth++;
	if ((rc = gen(g, n->a[1])))
		return rc;
	if (n->func == FN_SUM) {
		if ((rc = emit(g, OP_JF_POP, n, -1, NULL)))
			return rc;
		skip = here(g) - 1;
		if ((rc = gen(g, n->a[2])) || (rc = emit(g, OP_LSUM, n, -1, &in)))
			return rc;
		in->pos = (uint16_t)n->a[2]->start;
		g->e->insns[skip].a = (int32_t)here(g);
		if ((rc = emit(g, OP_LNEXT, n, 0, &in)))
			return rc;
	} else {
		if ((rc = emit(g, close_op[n->func], n, -1, &in)))
			return rc;
	}
	in->a = (int32_t)body;
	in->lvl = (int8_t)n->lvl;
	g->loop_depth--;
	g->e->insns[begin].b = (int32_t)here(g);
	if (g->loop_depth == 0) {
		if ((rc = emit(g, OP_MARK, n, 0, &in)))
			return rc;
		return add_span(g, n->start, n->end, &in->slot);
	}
	return 0;
}

static int gen_logic(gen_t *g, const ly_expr__node_t *n)
{
	size_t jump;
	int rc;

	if ((rc = gen(g, n->a[0])))
		return rc;
	if ((rc = emit(g, n->kind == N_AND ? OP_JF_KEEP : OP_JT_KEEP, n, -1, NULL)))
		return rc;
	jump = here(g) - 1;
	if ((rc = gen(g, n->a[1])))
		return rc;
	/* and/or give bools, never absent ones. */
	if (n->a[1]->maybe_absent && (rc = emit(g, OP_BOOL, n, 0, NULL)))
		return rc;
	g->e->insns[jump].a = (int32_t)here(g);
	return 0;
}

static int gen(gen_t *g, const ly_expr__node_t *n)
{
	ly_expr__insn_t *in;
	int32_t k;
	int rc;

	switch (n->kind) {
	case N_CONST:
		if ((rc = add_const(g, &n->val, &k)) ||
		    (rc = emit(g, OP_CONST, n, 1, &in)))
			return rc;
		in->a = k;
		return 0;
	case N_FIELD:
		if ((rc = emit(g, OP_LOAD, n, 1, &in)))
			return rc;
		in->a = n->field->id;
		in->ilvl = (int8_t)n->ilvl;
		in->flag = n->maybe_absent;
		return add_span(g, n->off, n->end, &in->slot);
	case N_NEG:
		if ((rc = gen(g, n->a[0])))
			return rc;
		return emit(g, OP_NEG, n, 0, NULL);
	case N_ARITH:
	case N_CMP:
		if ((rc = gen(g, n->a[0])) || (rc = gen(g, n->a[1])))
			return rc;
		return emit(g, (ly_expr__op_t)n->opcode, n, -1, NULL);
	case N_IN: {
		int32_t first;
		if ((rc = gen(g, n->a[0])))
			return rc;
		first = (int32_t)g->e->consts_len;
		for (const ly_expr__in_item_t *it = n->items; it; it = it->next)
			if ((rc = add_const(g, &it->v, &k)))
				return rc;
		if ((rc = emit(g, (ly_expr__op_t)n->opcode, n, 0, &in)))
			return rc;
		in->a = first;
		in->b = (int32_t)n->items_len;
		return 0;
	}
	case N_NOT:
		if ((rc = gen(g, n->a[0])))
			return rc;
		return emit(g, OP_NOT, n, 0, NULL);
	case N_AND:
	case N_OR:
		return gen_logic(g, n);
	case N_FUNC:
		return gen_func(g, n);
	}
	LY_ASSERT(0 && "unknown node");
	return LY_EINVAL;
}

int ly_expr_compile(ly_expr_t **out, const char *src, size_t len,
		    const ly_expr_schema_t *schema, ly_type_t want, const char *file,
		    int line, int col, char *errstr, size_t errstr_size)
{
	ly_expr__cc_t cc = {0};
	gen_t g = {0};
	ly_expr__node_t *root = NULL;
	ly_expr_t *e = NULL;
	int rc;

	LY_ASSERT(out && schema && (src || len == 0));
	LY_ASSERT(want == LY_TYPE_ANY ||
		  (want >= LY_TYPE_INT && want <= LY_TYPE_DURATION));
	*out = NULL;
	if (errstr && errstr_size)
		errstr[0] = '\0';
	cc.src = src ? src : "";
	cc.len = len;
	cc.file = file ? file : "expr";
	cc.line = line;
	cc.col = col;
	cc.errstr = errstr;
	cc.errstr_size = errstr_size;
	cc.schema = schema;
	if (len > LY_EXPR_SOURCE_MAX_BYTES) {
		cc.len = 0; /* positions: the start */
		return ly_expr__err(&cc, 0, "expression too long (%zu bytes, at most %d)",
				    len, LY_EXPR_SOURCE_MAX_BYTES);
	}
	cc.arena = ly_arena_new(4096);
	e = calloc(1, sizeof(*e));
	if (!cc.arena || !e) {
		rc = ly_expr__nomem(&cc);
		goto out;
	}
	e->src = malloc(len + 1);
	e->strs = malloc(len + 1);
	e->file = strdup(cc.file);
	if (!e->src || !e->strs || !e->file) {
		rc = ly_expr__nomem(&cc);
		goto out;
	}
	if (len)
		memcpy(e->src, cc.src, len);
	e->src[len] = '\0';
	e->src_len = len;
	e->line = line;
	e->col = col;

	if ((rc = ly_expr__parse(&cc, &root)) || (rc = ly_expr__check(&cc, root)))
		goto out;
	if (want != LY_TYPE_ANY && root->type != want) {
		rc = ly_expr__err(&cc, cc.first_off, "expression must be %s %s, got %s",
				  want == LY_TYPE_INT ? "an" : "a", ly_type_name(want),
				  ly_type_name(root->type));
		goto out;
	}
	g.cc = &cc;
	g.e = e;
	if ((rc = gen(&g, root)))
		goto out;
	LY_ASSERT(g.sp == 1 && g.loop_depth == 0);
	e->type = root->type;
	e->maybe_absent = root->maybe_absent;
	*out = e;
	e = NULL;
	rc = 0;
out:
	ly_expr_destroy(e);
	ly_arena_destroy(cc.arena);
	return rc;
}
