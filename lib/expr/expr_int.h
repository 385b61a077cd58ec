/*
 * expr_int.h: what the parts of lib/expr share (not a public header).
 *
 * Compilation runs in four steps, each in its own file: lex.c turns the
 * source into tokens on demand, parse.c builds an AST in an arena, check.c
 * resolves field paths and types, and compile.c flattens the AST into a
 * postfix instruction array. eval.c runs that array with a fixed-size
 * value stack and no heap.
 *
 * Source offsets are bytes from the start of the expression; they become
 * "file:line:col" only when a message is written (ly_expr__linecol).
 */
#ifndef LOYALTY_EXPR_INT_H
#define LOYALTY_EXPR_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "loyalty/expr.h"
#include "loyalty/util.h"

/* Limits beyond the public ones. */
#define LY_EXPR__DEPTH_MAX     256  /* AST depth and parser recursion */
#define LY_EXPR__INSNS_MAX     1024 /* instructions of one expression */
#define LY_EXPR__CONSTS_MAX    2048 /* literals, "in" list items included */
#define LY_EXPR__IN_ITEMS_MAX  256  /* items of one "in [..]" list */
#define LY_EXPR__ERR_QUOTE_MAX 64   /* bytes of source quoted in a message */

/* Source offsets are kept in 16 bits. */
_Static_assert(LY_EXPR_SOURCE_MAX_BYTES <= UINT16_MAX, "offsets fit uint16_t");

#define LY_EXPR__DAY_US (INT64_C(86400) * 1000000)

/* ---- tokens ---- */

typedef enum ly_expr__tok {
	T_EOF = 0,
	T_INT,      /* magnitude in u (<= 2^63; the parser folds a leading "-") */
	T_STRING,   /* decoded bytes in s/s_len (arena) */
	T_DATE,     /* days in i */
	T_DURATION, /* microseconds in i */
	T_PATH,     /* order.total, item, any (a function name before "(") */
	T_TRUE,
	T_FALSE,
	T_AND,
	T_OR,
	T_NOT,
	T_IN,
	T_LPAREN,
	T_RPAREN,
	T_LBRACK,
	T_RBRACK,
	T_COMMA,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_PERCENT,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE
} ly_expr__tok_t;

typedef struct ly_expr__token {
	ly_expr__tok_t kind;
	uint32_t off, len; /* source span */
	uint64_t u;
	int64_t i;
	const char *s;
	size_t s_len;
} ly_expr__token_t;

/* ---- AST ---- */

typedef enum ly_expr__node_kind {
	N_CONST = 1,
	N_FIELD,
	N_NEG,
	N_ARITH, /* op: T_PLUS T_MINUS T_STAR T_SLASH T_PERCENT */
	N_CMP,   /* op: T_EQ .. T_GE */
	N_IN,
	N_NOT,
	N_AND,
	N_OR,
	N_FUNC
} ly_expr__node_kind_t;

typedef enum ly_expr__func { FN_ANY = 0, FN_ALL, FN_COUNT, FN_SUM } ly_expr__func_t;

typedef struct ly_expr__in_item {
	ly_value_t v;
	uint32_t off;
	struct ly_expr__in_item *next;
} ly_expr__in_item_t;

typedef struct ly_expr__node {
	ly_expr__node_kind_t kind;
	ly_expr__tok_t op;
	uint32_t off;   /* where messages point: operator, literal, name */
	uint32_t start; /* first byte of the whole node */
	uint32_t end;   /* FIELD, FUNC: one past the last byte */
	int depth;
	struct ly_expr__node *a[3]; /* operands; FUNC: list, condition, value */
	int nargs;                  /* FUNC: arguments written (a[] keeps 3) */
	ly_expr__func_t func;
	ly_value_t val; /* CONST */
	ly_expr__in_item_t *items;
	size_t items_len;

	/* Set by the checker. */
	ly_type_t type;
	int maybe_absent;
	int opcode;                   /* ARITH, CMP, IN, NEG */
	const ly_expr_field_t *field; /* FIELD; FUNC: the list */
	int ilvl;      /* FIELD, FUNC list: loop level of the element read, -1 */
	int item_self; /* FIELD: `item` of a scalar list */
	int lvl;       /* FUNC: its loop level */
} ly_expr__node_t;

/* ---- compiler state ---- */

typedef struct ly_expr__cc {
	const char *src;
	size_t len;
	const char *file;
	int line, col;
	char *errstr;
	size_t errstr_size;
	ly_arena_t *arena;

	/* lexer */
	size_t pos;      /* next byte to lex */
	size_t last_end; /* end of the previous token (where EOF points) */
	ly_expr__token_t tok;

	/* parser */
	int depth;
	size_t first_off; /* the first token: where the whole expression starts */

	/* checker */
	const ly_expr_schema_t *schema;
	const ly_expr_field_t *scope[LY_EXPR_LIST_NESTING_MAX];
	int scope_len;
} ly_expr__cc_t;

/* ---- compiled form ---- */

typedef enum ly_expr__op {
	OP_CONST = 1, /* push consts[a] */
	OP_LOAD,      /* push field a (element of loop ilvl, or none) */
	OP_NEG,       /* int or duration */
	OP_ADD,       /* int64 add: int, duration, time+duration */
	OP_SUB,       /* int64 sub: int, duration, time-duration, time-time */
	OP_MUL,
	OP_DIV,
	OP_MOD,
	OP_ADD_DATE_DUR,
	OP_ADD_DUR_DATE,
	OP_SUB_DATE_DUR,
	OP_SUB_DATE_DATE,
	OP_EQ_I, /* int, date, time, duration */
	OP_NE_I,
	OP_LT_I,
	OP_LE_I,
	OP_GT_I,
	OP_GE_I,
	OP_EQ_S,
	OP_NE_S,
	OP_EQ_B,
	OP_NE_B,
	OP_IN_I, /* top in consts[a .. a+b) */
	OP_IN_S,
	OP_NOT,
	OP_BOOL,    /* an absent bool becomes a present false */
	OP_JF_KEEP, /* and: false -> leave false, jump a; else pop */
	OP_JT_KEEP, /* or: true -> leave true, jump a; else pop */
	OP_JF_POP,  /* sum's condition: pop; false -> jump a */
	OP_LBEGIN,  /* push the accumulator (flag: its start), enter loop lvl
		       over list a of element ilvl; empty -> jump b */
	OP_LANY,    /* pop the condition, update, next element or fall out */
	OP_LALL,
	OP_LCOUNT,
	OP_LSUM,  /* pop a value, add it to the accumulator */
	OP_LNEXT, /* next element of loop lvl: jump a, or fall out */
	OP_MARK   /* explain: record the top in slot */
} ly_expr__op_t;

typedef struct ly_expr__insn {
	uint8_t op;
	uint8_t type; /* result type */
	int8_t lvl;   /* loop level (LBEGIN .. LNEXT) */
	int8_t ilvl;  /* LOAD, LBEGIN: loop level whose element is read, -1 */
	uint16_t pos; /* source offset, for evaluation errors */
	uint8_t flag; /* LOAD: optional; LBEGIN: accumulator start */
	uint8_t pad;
	int16_t slot; /* LOAD, MARK: explain slot, or -1 */
	int16_t pad2;
	int32_t a;
	int32_t b;
} ly_expr__insn_t;

/* The part of the source explain replaces by a value. */
typedef struct ly_expr__span {
	uint16_t off, len;
} ly_expr__span_t;

struct ly_expr {
	ly_type_t type;
	int maybe_absent;
	char *src; /* NUL-terminated copy */
	size_t src_len;
	char *file;
	int line, col;
	ly_expr__insn_t *insns;
	size_t insns_len;
	ly_value_t *consts;
	size_t consts_len;
	char *strs; /* bytes of the string constants */
	size_t strs_len;
	ly_expr__span_t *spans; /* spans[i] is recorded in slot i */
	size_t spans_len;
	int stack_max;
};

/* Line and column of src[off]: lines after the first start at base col too
 * (a YAML block scalar's indentation is stripped before we see it). */
void ly_expr__linecol(const char *src, size_t len, size_t off, int line, int col,
		      int *out_line, int *out_col);
/* Writes "file:line:col: message" to errstr (which may be NULL). */
void ly_expr__vmsg(char *errstr, size_t errstr_size, const char *file, const char *src,
		   size_t len, size_t off, int line, int col, const char *fmt,
		   va_list ap);

/* A compile error at src[off]; returns LY_EINVAL. */
int ly_expr__err(ly_expr__cc_t *cc, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Out of memory; returns LY_ENOMEM. */
int ly_expr__nomem(ly_expr__cc_t *cc);

/* Lexes the next token into cc->tok. 0 or LY_EINVAL / LY_ENOMEM. */
int ly_expr__lex(ly_expr__cc_t *cc);
/* "end of expression", "string" or the quoted token text, for messages. */
void ly_expr__tok_describe(const ly_expr__cc_t *cc, const ly_expr__token_t *t, char *buf,
			   size_t size);
/* The text of an operator token ("+", "<=", "and"). */
const char *ly_expr__tok_text(ly_expr__tok_t kind);

/* Parses the whole source into *out (arena memory). */
int ly_expr__parse(ly_expr__cc_t *cc, ly_expr__node_t **out);
/* Resolves fields and types of the tree, in place. */
int ly_expr__check(ly_expr__cc_t *cc, ly_expr__node_t *root);

#endif
