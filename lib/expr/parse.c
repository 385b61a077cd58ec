/*
 * parse.c: recursive descent from tokens to an AST in the compile arena.
 *
 * Precedence, lowest first: or, and, not, comparison (== != < <= > >= in;
 * they do not chain: `a < b < c` is refused), + -, * / %, unary minus,
 * primary. Recursion and tree depth are both capped at LY_EXPR__DEPTH_MAX,
 * so neither the parser nor the passes after it can exhaust the C stack.
 */
#include <string.h>

#include "expr_int.h"

static int parse_or(ly_expr__cc_t *cc, ly_expr__node_t **out);

static const struct {
	const char *name;
	ly_expr__func_t func;
} funcs[] = {
    {"any", FN_ANY},
    {"all", FN_ALL},
    {"count", FN_COUNT},
    {"sum", FN_SUM},
};

static int enter(ly_expr__cc_t *cc, size_t off)
{
	if (++cc->depth > LY_EXPR__DEPTH_MAX)
		return ly_expr__err(cc, off, "expression too deep");
	return 0;
}

static void leave(ly_expr__cc_t *cc)
{
	cc->depth--;
}

static int unexpected(ly_expr__cc_t *cc)
{
	char what[LY_EXPR__ERR_QUOTE_MAX + 8];

	if (cc->tok.kind == T_EOF)
		return ly_expr__err(cc, cc->tok.off, "unexpected end of expression");
	ly_expr__tok_describe(cc, &cc->tok, what, sizeof(what));
	return ly_expr__err(cc, cc->tok.off, "unexpected %s", what);
}

static int expect(ly_expr__cc_t *cc, ly_expr__tok_t kind)
{
	if (cc->tok.kind != kind)
		return ly_expr__err(cc, cc->tok.off, "expected \"%s\"",
				    ly_expr__tok_text(kind));
	return ly_expr__lex(cc);
}

/* A node whose operands are set; computes and caps its depth. */
static int mk(ly_expr__cc_t *cc, ly_expr__node_kind_t kind, size_t off, size_t start,
	      ly_expr__node_t *a0, ly_expr__node_t *a1, ly_expr__node_t **out)
{
	ly_expr__node_t *n = ly_arena_alloc(cc->arena, sizeof(*n));
	int depth = 0;

	if (!n)
		return ly_expr__nomem(cc);
	n->kind = kind;
	n->off = (uint32_t)off;
	n->start = (uint32_t)start;
	n->a[0] = a0;
	n->a[1] = a1;
	n->ilvl = -1;
	if (a0 && a0->depth > depth)
		depth = a0->depth;
	if (a1 && a1->depth > depth)
		depth = a1->depth;
	n->depth = depth + 1;
	if (n->depth > LY_EXPR__DEPTH_MAX)
		return ly_expr__err(cc, off, "expression too deep");
	*out = n;
	return 0;
}

/* The literal token at hand as a value; neg: a "-" came before it. */
static int literal(ly_expr__cc_t *cc, int neg, size_t start, ly_value_t *v)
{
	const ly_expr__token_t *t = &cc->tok;

	memset(v, 0, sizeof(*v));
	switch (t->kind) {
	case T_INT:
		if (t->u > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
			return ly_expr__err(
			    cc, start, "integer literal \"%s%.*s\" out of range",
			    neg ? "-" : "", (int)t->len, cc->src + t->off);
		v->type = LY_TYPE_INT;
		/* -(2^63) is representable, 2^63 is not: negate in unsigned. */
		v->u.i = neg ? (int64_t)(0 - t->u) : (int64_t)t->u;
		return 0;
	case T_STRING:
		v->type = LY_TYPE_STRING;
		v->u.s.ptr = t->s;
		v->u.s.len = t->s_len;
		return 0;
	case T_DATE:
		v->type = LY_TYPE_DATE;
		v->u.i = t->i;
		return 0;
	case T_DURATION:
		v->type = LY_TYPE_DURATION;
		v->u.i = t->i;
		return 0;
	case T_TRUE:
	case T_FALSE:
		v->type = LY_TYPE_BOOL;
		v->u.b = t->kind == T_TRUE;
		return 0;
	default:
		return unexpected(cc);
	}
}

static int is_literal(ly_expr__tok_t kind)
{
	return kind == T_INT || kind == T_STRING || kind == T_DATE ||
	       kind == T_DURATION || kind == T_TRUE || kind == T_FALSE;
}

static int mk_const(ly_expr__cc_t *cc, int neg, size_t start, ly_expr__node_t **out)
{
	ly_expr__node_t *n = NULL;
	int rc;

	if ((rc = mk(cc, N_CONST, start, start, NULL, NULL, &n)))
		return rc;
	if ((rc = literal(cc, neg, start, &n->val)))
		return rc;
	n->end = cc->tok.off + cc->tok.len;
	*out = n;
	return ly_expr__lex(cc);
}

/* name( args ), at the "(" after the name. */
static int parse_call(ly_expr__cc_t *cc, size_t off, size_t len, ly_expr__node_t **out)
{
	ly_expr__node_t *n = NULL, *arg = NULL;
	size_t i;
	int rc;

	for (i = 0; i < LY_ARRAY_LEN(funcs); i++)
		if (strlen(funcs[i].name) == len &&
		    memcmp(funcs[i].name, cc->src + off, len) == 0)
			break;
	if (i == LY_ARRAY_LEN(funcs))
		return ly_expr__err(cc, off, "unknown function \"%.*s\"",
				    len > LY_EXPR__ERR_QUOTE_MAX ? LY_EXPR__ERR_QUOTE_MAX
								 : (int)len,
				    cc->src + off);
	if ((rc = mk(cc, N_FUNC, off, off, NULL, NULL, &n)))
		return rc;
	n->func = funcs[i].func;
	if ((rc = ly_expr__lex(cc))) /* the "(" */
		return rc;
	if (cc->tok.kind != T_RPAREN) {
		for (;;) {
			if ((rc = parse_or(cc, &arg)))
				return rc;
			if (n->nargs < 3)
				n->a[n->nargs] = arg;
			n->nargs++;
			if (arg->depth + 1 > n->depth)
				n->depth = arg->depth + 1;
			if (cc->tok.kind != T_COMMA)
				break;
			if ((rc = ly_expr__lex(cc)))
				return rc;
		}
	}
	if (n->depth > LY_EXPR__DEPTH_MAX)
		return ly_expr__err(cc, off, "expression too deep");
	if (cc->tok.kind != T_RPAREN)
		return ly_expr__err(cc, cc->tok.off, "expected \")\"");
	n->end = cc->tok.off + 1;
	*out = n;
	return ly_expr__lex(cc);
}

static int parse_primary(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	size_t off = cc->tok.off;
	int rc;

	if (is_literal(cc->tok.kind))
		return mk_const(cc, 0, off, out);
	if (cc->tok.kind == T_LPAREN) {
		if ((rc = enter(cc, off)) || (rc = ly_expr__lex(cc)) ||
		    (rc = parse_or(cc, out)) || (rc = expect(cc, T_RPAREN)))
			return rc;
		leave(cc);
		return 0;
	}
	if (cc->tok.kind == T_PATH) {
		size_t len = cc->tok.len;
		if ((rc = ly_expr__lex(cc)))
			return rc;
		if (cc->tok.kind == T_LPAREN) {
			if ((rc = enter(cc, off)) || (rc = parse_call(cc, off, len, out)))
				return rc;
			leave(cc);
			return 0;
		}
		if ((rc = mk(cc, N_FIELD, off, off, NULL, NULL, out)))
			return rc;
		(*out)->end = (uint32_t)(off + len);
		return 0;
	}
	return unexpected(cc);
}

static int parse_unary(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *x = NULL;
	size_t off = cc->tok.off;
	int rc;

	if (cc->tok.kind != T_MINUS)
		return parse_primary(cc, out);
	if ((rc = enter(cc, off)) || (rc = ly_expr__lex(cc)))
		return rc;
	if (cc->tok.kind == T_INT) /* a negative literal, down to -2^63 */
		rc = mk_const(cc, 1, off, out);
	else if (!(rc = parse_unary(cc, &x)))
		rc = mk(cc, N_NEG, off, off, x, NULL, out);
	if (rc)
		return rc;
	leave(cc);
	return 0;
}

static int parse_mul(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *l = NULL, *r = NULL;
	int rc;

	if ((rc = parse_unary(cc, &l)))
		return rc;
	while (cc->tok.kind == T_STAR || cc->tok.kind == T_SLASH ||
	       cc->tok.kind == T_PERCENT) {
		ly_expr__tok_t op = cc->tok.kind;
		size_t off = cc->tok.off;
		if ((rc = ly_expr__lex(cc)) || (rc = parse_unary(cc, &r)) ||
		    (rc = mk(cc, N_ARITH, off, l->start, l, r, &l)))
			return rc;
		l->op = op;
	}
	*out = l;
	return 0;
}

static int parse_add(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *l = NULL, *r = NULL;
	int rc;

	if ((rc = parse_mul(cc, &l)))
		return rc;
	while (cc->tok.kind == T_PLUS || cc->tok.kind == T_MINUS) {
		ly_expr__tok_t op = cc->tok.kind;
		size_t off = cc->tok.off;
		if ((rc = ly_expr__lex(cc)) || (rc = parse_mul(cc, &r)) ||
		    (rc = mk(cc, N_ARITH, off, l->start, l, r, &l)))
			return rc;
		l->op = op;
	}
	*out = l;
	return 0;
}

static int is_cmp(ly_expr__tok_t kind)
{
	return kind >= T_EQ && kind <= T_GE;
}

/* in [lit, lit, ...], at the "in". */
static int parse_in(ly_expr__cc_t *cc, ly_expr__node_t *l, ly_expr__node_t **out)
{
	ly_expr__node_t *n = NULL;
	ly_expr__in_item_t **tail;
	int rc;

	if ((rc = mk(cc, N_IN, cc->tok.off, l->start, l, NULL, &n)) ||
	    (rc = ly_expr__lex(cc)))
		return rc;
	if (cc->tok.kind != T_LBRACK)
		return ly_expr__err(cc, cc->tok.off, "expected \"[\" after \"in\"");
	if ((rc = ly_expr__lex(cc)))
		return rc;
	tail = &n->items;
	for (;;) {
		ly_expr__in_item_t *it = ly_arena_alloc(cc->arena, sizeof(*it));
		size_t off = cc->tok.off;
		int neg = 0;
		if (!it)
			return ly_expr__nomem(cc);
		if (n->items_len == LY_EXPR__IN_ITEMS_MAX)
			return ly_expr__err(cc, off, "\"in\" list has more than %d items",
					    LY_EXPR__IN_ITEMS_MAX);
		if (cc->tok.kind == T_MINUS) {
			neg = 1;
			if ((rc = ly_expr__lex(cc)))
				return rc;
			if (cc->tok.kind != T_INT)
				return ly_expr__err(cc, off, "expected a literal");
		}
		if (!is_literal(cc->tok.kind))
			return ly_expr__err(cc, off, "expected a literal");
		if ((rc = literal(cc, neg, off, &it->v)))
			return rc;
		it->off = (uint32_t)off;
		*tail = it;
		tail = &it->next;
		n->items_len++;
		if ((rc = ly_expr__lex(cc)))
			return rc;
		if (cc->tok.kind == T_RBRACK)
			break;
		if (cc->tok.kind != T_COMMA)
			return ly_expr__err(cc, cc->tok.off, "expected \",\" or \"]\"");
		if ((rc = ly_expr__lex(cc)))
			return rc;
	}
	*out = n;
	return ly_expr__lex(cc);
}

static int parse_cmp(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *l = NULL, *r = NULL;
	int rc;

	if ((rc = parse_add(cc, &l)))
		return rc;
	if (is_cmp(cc->tok.kind)) {
		ly_expr__tok_t op = cc->tok.kind;
		size_t off = cc->tok.off;
		if ((rc = ly_expr__lex(cc)) || (rc = parse_add(cc, &r)) ||
		    (rc = mk(cc, N_CMP, off, l->start, l, r, &l)))
			return rc;
		l->op = op;
	} else if (cc->tok.kind == T_IN) {
		if ((rc = parse_in(cc, l, &l)))
			return rc;
	}
	if (is_cmp(cc->tok.kind) || cc->tok.kind == T_IN)
		return ly_expr__err(
		    cc, cc->tok.off,
		    "unexpected \"%s\", comparisons do not chain (use \"and\")",
		    ly_expr__tok_text(cc->tok.kind));
	*out = l;
	return 0;
}

static int parse_not(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *x = NULL;
	size_t off = cc->tok.off;
	int rc;

	if (cc->tok.kind != T_NOT)
		return parse_cmp(cc, out);
	if ((rc = enter(cc, off)) || (rc = ly_expr__lex(cc)) ||
	    (rc = parse_not(cc, &x)) || (rc = mk(cc, N_NOT, off, off, x, NULL, out)))
		return rc;
	leave(cc);
	return 0;
}

static int parse_and(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *l = NULL, *r = NULL;
	int rc;

	if ((rc = parse_not(cc, &l)))
		return rc;
	while (cc->tok.kind == T_AND) {
		size_t off = cc->tok.off;
		if ((rc = ly_expr__lex(cc)) || (rc = parse_not(cc, &r)) ||
		    (rc = mk(cc, N_AND, off, l->start, l, r, &l)))
			return rc;
	}
	*out = l;
	return 0;
}

static int parse_or(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	ly_expr__node_t *l = NULL, *r = NULL;
	int rc;

	if ((rc = parse_and(cc, &l)))
		return rc;
	while (cc->tok.kind == T_OR) {
		size_t off = cc->tok.off;
		if ((rc = ly_expr__lex(cc)) || (rc = parse_and(cc, &r)) ||
		    (rc = mk(cc, N_OR, off, l->start, l, r, &l)))
			return rc;
	}
	*out = l;
	return 0;
}

int ly_expr__parse(ly_expr__cc_t *cc, ly_expr__node_t **out)
{
	int rc;

	if ((rc = ly_expr__lex(cc)))
		return rc;
	if (cc->tok.kind == T_EOF)
		return ly_expr__err(cc, cc->tok.off, "empty expression");
	cc->first_off = cc->tok.off;
	if ((rc = parse_or(cc, out)))
		return rc;
	if (cc->tok.kind != T_EOF)
		return unexpected(cc);
	return 0;
}
