/*
 * check.c: resolves field paths against the schema and gives every node a
 * type, refusing what evaluation could not do. Choosing the instruction for
 * each operator here (by operand types) keeps evaluation free of type
 * dispatch.
 *
 * Arithmetic: int with int for + - * / %; with + and - also duration ±
 * duration, time ± duration, date ± duration (whole days at evaluation),
 * time - time and date - date (a duration). Comparisons: both sides of one
 * type; int, date, time and duration take all six operators, string and
 * bool only == and !=.
 */
#include <string.h>

#include "expr_int.h"

static const char *const func_names[] = {
    [FN_ANY] = "any", [FN_ALL] = "all", [FN_COUNT] = "count", [FN_SUM] = "sum"};

static int quote_len(size_t n)
{
	return n > LY_EXPR__ERR_QUOTE_MAX ? LY_EXPR__ERR_QUOTE_MAX : (int)n;
}

static const ly_expr_field_t *lookup(const ly_expr_schema_t *schema, const char *path,
				     size_t len)
{
	if (!schema)
		return NULL;
	for (size_t i = 0; i < schema->fields_len; i++) {
		const ly_expr_field_t *f = &schema->fields[i];
		if (strlen(f->path) == len && memcmp(f->path, path, len) == 0)
			return f;
	}
	return NULL;
}

static int valid_scalar(ly_type_t t)
{
	return t >= LY_TYPE_INT && t <= LY_TYPE_DURATION;
}

static void check_schema_field(const ly_expr_field_t *f)
{
	/* A malformed schema is the caller's bug, not the program file's. */
	LY_ASSERT(valid_scalar(f->type) || f->type == LY_TYPE_LIST);
	if (f->type == LY_TYPE_LIST)
		LY_ASSERT(f->item_schema || valid_scalar(f->item_type));
}

static int check_field(ly_expr__cc_t *cc, ly_expr__node_t *n, int list_ok)
{
	const char *p = cc->src + n->off;
	size_t len = n->end - n->off;
	const ly_expr_field_t *f;
	int is_item = len == 4 && memcmp(p, "item", 4) == 0;
	int in_item = len > 5 && memcmp(p, "item.", 5) == 0;

	if (is_item || in_item) {
		if (cc->scope_len == 0)
			return ly_expr__err(
			    cc, n->off,
			    "\"item\" is only defined inside any/all/count/sum");
		const ly_expr_field_t *list = cc->scope[cc->scope_len - 1];
		n->ilvl = cc->scope_len - 1;
		if (is_item && list->item_schema)
			return ly_expr__err(
			    cc, n->off,
			    "\"item\" is a record here, name one of its fields (\"%s\")",
			    list->item_schema->fields_len
				? list->item_schema->fields[0].path
				: "item.x");
		if (is_item) {
			n->field = list;
			n->item_self = 1;
			n->type = list->item_type;
			n->maybe_absent = 0;
			return 0;
		}
		f = lookup(list->item_schema, p, len);
	} else {
		f = lookup(cc->schema, p, len);
	}
	if (!f)
		return ly_expr__err(cc, n->off, "unknown field \"%.*s\"", quote_len(len),
				    p);
	check_schema_field(f);
	if (f->type == LY_TYPE_LIST && !list_ok)
		return ly_expr__err(
		    cc, n->off,
		    "type error: \"%.*s\" is a list, use it in any/all/count/sum",
		    quote_len(len), p);
	n->field = f;
	n->type = f->type;
	n->maybe_absent = f->optional != 0;
	return 0;
}

static int numeric(ly_type_t t)
{
	return t == LY_TYPE_INT || t == LY_TYPE_DATE || t == LY_TYPE_TIME ||
	       t == LY_TYPE_DURATION;
}

static int check_arith(ly_expr__cc_t *cc, ly_expr__node_t *n)
{
	ly_type_t l = n->a[0]->type, r = n->a[1]->type;
	const char *op = ly_expr__tok_text(n->op);
	static const struct {
		ly_expr__tok_t op;
		ly_type_t l, r, result;
		ly_expr__op_t opcode;
	} rules[] = {
	    {T_PLUS, LY_TYPE_INT, LY_TYPE_INT, LY_TYPE_INT, OP_ADD},
	    {T_PLUS, LY_TYPE_DURATION, LY_TYPE_DURATION, LY_TYPE_DURATION, OP_ADD},
	    {T_PLUS, LY_TYPE_TIME, LY_TYPE_DURATION, LY_TYPE_TIME, OP_ADD},
	    {T_PLUS, LY_TYPE_DURATION, LY_TYPE_TIME, LY_TYPE_TIME, OP_ADD},
	    {T_PLUS, LY_TYPE_DATE, LY_TYPE_DURATION, LY_TYPE_DATE, OP_ADD_DATE_DUR},
	    {T_PLUS, LY_TYPE_DURATION, LY_TYPE_DATE, LY_TYPE_DATE, OP_ADD_DUR_DATE},
	    {T_MINUS, LY_TYPE_INT, LY_TYPE_INT, LY_TYPE_INT, OP_SUB},
	    {T_MINUS, LY_TYPE_DURATION, LY_TYPE_DURATION, LY_TYPE_DURATION, OP_SUB},
	    {T_MINUS, LY_TYPE_TIME, LY_TYPE_DURATION, LY_TYPE_TIME, OP_SUB},
	    {T_MINUS, LY_TYPE_TIME, LY_TYPE_TIME, LY_TYPE_DURATION, OP_SUB},
	    {T_MINUS, LY_TYPE_DATE, LY_TYPE_DURATION, LY_TYPE_DATE, OP_SUB_DATE_DUR},
	    {T_MINUS, LY_TYPE_DATE, LY_TYPE_DATE, LY_TYPE_DURATION, OP_SUB_DATE_DATE},
	    {T_STAR, LY_TYPE_INT, LY_TYPE_INT, LY_TYPE_INT, OP_MUL},
	    {T_SLASH, LY_TYPE_INT, LY_TYPE_INT, LY_TYPE_INT, OP_DIV},
	    {T_PERCENT, LY_TYPE_INT, LY_TYPE_INT, LY_TYPE_INT, OP_MOD},
	};

	for (size_t i = 0; i < LY_ARRAY_LEN(rules); i++) {
		if (rules[i].op == n->op && rules[i].l == l && rules[i].r == r) {
			n->type = rules[i].result;
			n->opcode = rules[i].opcode;
			n->maybe_absent = n->a[0]->maybe_absent || n->a[1]->maybe_absent;
			return 0;
		}
	}
	if (n->op == T_PLUS || n->op == T_MINUS) {
		if (!numeric(l) || !numeric(r))
			return ly_expr__err(
			    cc, n->off, "type error: \"%s\" needs int operands, got %s",
			    op, ly_type_name(numeric(l) ? r : l));
		return ly_expr__err(cc, n->off,
				    "type error: cannot apply \"%s\" to %s and %s", op,
				    ly_type_name(l), ly_type_name(r));
	}
	return ly_expr__err(cc, n->off, "type error: \"%s\" needs int operands, got %s",
			    op, ly_type_name(l != LY_TYPE_INT ? l : r));
}

static int check_cmp(ly_expr__cc_t *cc, ly_expr__node_t *n)
{
	ly_type_t l = n->a[0]->type, r = n->a[1]->type;
	static const ly_expr__op_t int_ops[] = {
	    [T_EQ - T_EQ] = OP_EQ_I, [T_NE - T_EQ] = OP_NE_I, [T_LT - T_EQ] = OP_LT_I,
	    [T_LE - T_EQ] = OP_LE_I, [T_GT - T_EQ] = OP_GT_I, [T_GE - T_EQ] = OP_GE_I,
	};

	if (l != r)
		return ly_expr__err(cc, n->off, "type error: cannot compare %s with %s",
				    ly_type_name(l), ly_type_name(r));
	n->type = LY_TYPE_BOOL;
	n->maybe_absent = 0;
	if (numeric(l)) {
		n->opcode = int_ops[n->op - T_EQ];
		return 0;
	}
	if (n->op != T_EQ && n->op != T_NE)
		return ly_expr__err(cc, n->off,
				    "type error: \"%s\" needs int, date, time or "
				    "duration operands, got %s",
				    ly_expr__tok_text(n->op), ly_type_name(l));
	if (l == LY_TYPE_STRING)
		n->opcode = n->op == T_EQ ? OP_EQ_S : OP_NE_S;
	else
		n->opcode = n->op == T_EQ ? OP_EQ_B : OP_NE_B;
	return 0;
}

static int check(ly_expr__cc_t *cc, ly_expr__node_t *n, int list_ok);

static int check_in(ly_expr__cc_t *cc, ly_expr__node_t *n)
{
	ly_type_t l = n->a[0]->type;

	if (!numeric(l) && l != LY_TYPE_STRING)
		return ly_expr__err(cc, n->off,
				    "type error: \"in\" needs an int, string, date or "
				    "duration on its left, got %s",
				    ly_type_name(l));
	for (const ly_expr__in_item_t *it = n->items; it; it = it->next)
		if (it->v.type != l)
			return ly_expr__err(cc, it->off,
					    "type error: cannot compare %s with %s",
					    ly_type_name(l), ly_type_name(it->v.type));
	n->type = LY_TYPE_BOOL;
	n->opcode = l == LY_TYPE_STRING ? OP_IN_S : OP_IN_I;
	return 0;
}

static int check_func(ly_expr__cc_t *cc, ly_expr__node_t *n)
{
	const char *name = func_names[n->func];
	int want = n->func == FN_SUM ? 3 : 2;
	ly_expr__node_t *list = n->a[0];
	int rc;

	if (n->nargs != want)
		return ly_expr__err(cc, n->off, "\"%s\" takes %d arguments, got %d", name,
				    want, n->nargs);
	if (cc->scope_len == LY_EXPR_LIST_NESTING_MAX)
		return ly_expr__err(cc, n->off, "list functions nest at most %d deep",
				    LY_EXPR_LIST_NESTING_MAX);
	if ((rc = check(cc, list, 1)))
		return rc;
	if (list->kind != N_FIELD || list->type != LY_TYPE_LIST)
		return ly_expr__err(cc, list->start,
				    "type error: the first argument of \"%s\" must be a "
				    "list field, got %s",
				    name, ly_type_name(list->type));
	n->field = list->field;
	n->ilvl = list->ilvl;
	n->lvl = cc->scope_len;
	cc->scope[cc->scope_len++] = list->field;
	if ((rc = check(cc, n->a[1], 0)))
		return rc;
	if (n->a[1]->type != LY_TYPE_BOOL)
		return ly_expr__err(
		    cc, n->a[1]->start,
		    "type error: the condition of \"%s\" must be a bool, got %s", name,
		    ly_type_name(n->a[1]->type));
	if (n->func == FN_SUM) {
		if ((rc = check(cc, n->a[2], 0)))
			return rc;
		if (n->a[2]->type != LY_TYPE_INT)
			return ly_expr__err(
			    cc, n->a[2]->start,
			    "type error: the value of \"sum\" must be an int, got %s",
			    ly_type_name(n->a[2]->type));
	}
	cc->scope_len--;
	n->type = n->func == FN_ANY || n->func == FN_ALL ? LY_TYPE_BOOL : LY_TYPE_INT;
	n->maybe_absent = 0;
	return 0;
}

static int need_bool(ly_expr__cc_t *cc, const ly_expr__node_t *n,
		     const ly_expr__node_t *x, const char *op, const char *what)
{
	if (x->type == LY_TYPE_BOOL)
		return 0;
	return ly_expr__err(cc, n->off, "type error: \"%s\" needs %s, got %s", op, what,
			    ly_type_name(x->type));
}

static int check(ly_expr__cc_t *cc, ly_expr__node_t *n, int list_ok)
{
	int rc;

	switch (n->kind) {
	case N_CONST:
		n->type = n->val.type;
		return 0;
	case N_FIELD:
		return check_field(cc, n, list_ok);
	case N_FUNC:
		return check_func(cc, n);
	default:
		break;
	}
	for (int i = 0; i < 2; i++)
		if (n->a[i] && (rc = check(cc, n->a[i], 0)))
			return rc;
	switch (n->kind) {
	case N_NEG:
		if (n->a[0]->type != LY_TYPE_INT && n->a[0]->type != LY_TYPE_DURATION)
			return ly_expr__err(
			    cc, n->off, "type error: \"-\" needs an int operand, got %s",
			    ly_type_name(n->a[0]->type));
		n->type = n->a[0]->type;
		n->maybe_absent = n->a[0]->maybe_absent;
		return 0;
	case N_ARITH:
		return check_arith(cc, n);
	case N_CMP:
		return check_cmp(cc, n);
	case N_IN:
		return check_in(cc, n);
	case N_NOT:
		n->type = LY_TYPE_BOOL;
		return need_bool(cc, n, n->a[0], "not", "a bool operand");
	case N_AND:
	case N_OR:
		n->type = LY_TYPE_BOOL;
		if ((rc = need_bool(cc, n, n->a[0], n->kind == N_AND ? "and" : "or",
				    "bool operands")))
			return rc;
		return need_bool(cc, n, n->a[1], n->kind == N_AND ? "and" : "or",
				 "bool operands");
	default:
		LY_ASSERT(0 && "unknown node");
		return LY_EINVAL;
	}
}

int ly_expr__check(ly_expr__cc_t *cc, ly_expr__node_t *root)
{
	return check(cc, root, 0);
}
