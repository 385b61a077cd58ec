/*
 * yamlwalk.h: the small YAML tree shared by the program loader
 * (lib/program) and the settings loader (lib/config). Internal, not a
 * public header.
 *
 * libyaml's event parser is turned into a tree of nodes allocated in the
 * caller's arena; every node keeps where it starts (1-based line and
 * column) so messages can read "file:line:col: message". The tree is
 * deliberately plain: anchors, aliases and explicit tags are refused (an
 * alias lets a small file expand into a huge tree), and so are non-scalar
 * mapping keys, NUL bytes in scalars, more than one document and nesting
 * deeper than YW_DEPTH_MAX. Everything is static inline so each loader can
 * include it without a separate object file.
 */
#ifndef LY_YAMLWALK_H
#define LY_YAMLWALK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <yaml.h>

#include "loyalty/util.h"

#define YW_DEPTH_MAX 64
/* Longest piece of a value quoted back in a message. */
#define YW_QUOTE_MAX_BYTES 64

typedef enum yw_kind { YW_SCALAR, YW_MAP, YW_SEQ } yw_kind_t;

typedef struct yw_node {
	yw_kind_t kind;
	int line, col;
	/* scalar: NUL-terminated, no NUL inside */
	const char *str;
	size_t len;
	int quoted; /* any style but plain: '...', "...", | or > */
	/* map: keys and values alternate; sequence: the items */
	struct yw_node *first, *last, *next;
	size_t count; /* children; a mapping has two per pair */
} yw_node_t;

static inline int yw_verr(char *errstr, size_t errstr_size, const char *name,
			  int line, int col, const char *fmt, va_list ap)
{
	if (!errstr || errstr_size == 0)
		return LY_EINVAL;
	int n = snprintf(errstr, errstr_size, "%s:%d:%d: ", name, line, col);
	if (n >= 0 && (size_t)n < errstr_size)
		vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
	return LY_EINVAL;
}

/* Writes "name:line:col: message" for node n and returns LY_EINVAL. */
static inline int yw_err(char *errstr, size_t errstr_size, const char *name,
			 const yw_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
static inline int yw_err(char *errstr, size_t errstr_size, const char *name,
			 const yw_node_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	yw_verr(errstr, errstr_size, name, n->line, n->col, fmt, ap);
	va_end(ap);
	return LY_EINVAL;
}

static inline int yw_err_at(char *errstr, size_t errstr_size, const char *name,
			    int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static inline int yw_err_at(char *errstr, size_t errstr_size, const char *name,
			    int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	yw_verr(errstr, errstr_size, name, line, col, fmt, ap);
	va_end(ap);
	return LY_EINVAL;
}

/*
 * Writes s[0..len) as "..." into out for a message: at most
 * YW_QUOTE_MAX_BYTES of it (cut on a UTF-8 boundary, "..." appended),
 * control characters shown as '?'.
 */
static inline const char *yw_quote(char *out, size_t size, const char *s,
				   size_t len)
{
	size_t o = 0, i = 0, lim = len;
	int cut = 0;
	if (size < 8) {
		if (size)
			out[0] = '\0';
		return out;
	}
	if (lim > YW_QUOTE_MAX_BYTES) {
		lim = YW_QUOTE_MAX_BYTES;
		while (lim > 0 && ((unsigned char)s[lim] & 0xc0) == 0x80)
			lim--;
		cut = 1;
	}
	out[o++] = '"';
	for (i = 0; i < lim && o + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if ((cut || i < lim) && o + 5 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* 1 for a plain "", "~", "null", "Null" or "NULL". */
static inline int yw_is_null(const yw_node_t *n)
{
	if (n->kind != YW_SCALAR || n->quoted)
		return 0;
	return n->len == 0 || strcmp(n->str, "~") == 0 ||
	       strcmp(n->str, "null") == 0 || strcmp(n->str, "Null") == 0 ||
	       strcmp(n->str, "NULL") == 0;
}

/* What a node is, for "expected X, got <this>": "a mapping", "a
 * sequence", "null" or the quoted scalar. */
static inline const char *yw_describe(char *out, size_t size,
				      const yw_node_t *n)
{
	const char *what = NULL;
	if (n->kind == YW_MAP)
		what = "a mapping";
	else if (n->kind == YW_SEQ)
		what = "a sequence";
	else if (yw_is_null(n))
		what = "null";
	if (what) {
		snprintf(out, size, "%s", what);
		return out;
	}
	return yw_quote(out, size, n->str, n->len);
}

/* Parses a decimal integer: -?(0|[1-9][0-9]*), no sign on zero, no
 * spaces, no overflow. 0 or LY_EINVAL. */
static inline int yw_parse_i64(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	int64_t v = 0;
	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i >= len)
		return LY_EINVAL;
	if (s[i] == '0' && (len - i > 1 || neg))
		return LY_EINVAL;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return LY_EINVAL;
		/* accumulate negatively so INT64_MIN parses too */
		if (ly_mul_i64(v, 10, &v) || ly_add_i64(v, -(int64_t)(s[i] - '0'), &v))
			return LY_EINVAL;
	}
	if (!neg) {
		if (v == INT64_MIN)
			return LY_EINVAL;
		v = -v;
	}
	*out = v;
	return 0;
}

/* 1 when scalar n's text equals s. */
static inline int yw_eq(const yw_node_t *n, const char *s)
{
	return n->kind == YW_SCALAR && n->len == strlen(s) &&
	       memcmp(n->str, s, n->len) == 0;
}

static inline void yw_line_col(const char *buf, size_t len, size_t offset,
			       int *line, int *col)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < offset && i < len; i++) {
		if (buf[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

static inline int yw_parser_error(const yaml_parser_t *parser, const char *name,
				  const char *buf, size_t len, char *errstr,
				  size_t errstr_size)
{
	int line, col;
	const char *problem = parser->problem ? parser->problem : "syntax error";
	switch (parser->error) {
	case YAML_MEMORY_ERROR:
		snprintf(errstr, errstr_size, "%s: out of memory", name);
		return LY_ENOMEM;
	case YAML_READER_ERROR:
		yw_line_col(buf, len, parser->problem_offset, &line, &col);
		return yw_err_at(errstr, errstr_size, name, line, col,
				 "invalid YAML: %s", problem);
	default:
		line = (int)parser->problem_mark.line + 1;
		col = (int)parser->problem_mark.column + 1;
		if (parser->context)
			return yw_err_at(errstr, errstr_size, name, line, col,
					 "invalid YAML: %s (%s at %d:%d)", problem,
					 parser->context,
					 (int)parser->context_mark.line + 1,
					 (int)parser->context_mark.column + 1);
		return yw_err_at(errstr, errstr_size, name, line, col,
				 "invalid YAML: %s", problem);
	}
}

/*
 * Parses buf[0..len) into a tree allocated in arena. *root is NULL for a
 * stream without a document (an empty file or only comments). Returns 0,
 * LY_EINVAL with "name:line:col: message" in errstr, or LY_ENOMEM.
 * The tree lives as long as the arena; nothing points into buf.
 */
static inline int yw_parse(yw_node_t **root, ly_arena_t *arena,
			   const char *name, const char *buf, size_t len,
			   char *errstr, size_t errstr_size)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	yw_node_t *stack[YW_DEPTH_MAX];
	size_t depth = 0;
	int docs = 0, done = 0, have_event = 0, rc = 0;

	*root = NULL;
	if (!yaml_parser_initialize(&parser)) {
		snprintf(errstr, errstr_size, "%s: out of memory", name);
		return LY_ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yw_parser_error(&parser, name, buf, len, errstr,
					     errstr_size);
			goto out;
		}
		have_event = 1;
		int line = (int)ev.start_mark.line + 1;
		int col = (int)ev.start_mark.column + 1;
		const yaml_char_t *anchor = NULL, *tag = NULL;
		yw_node_t *node = NULL;

		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				rc = yw_err_at(errstr, errstr_size, name, line, col,
					       "more than one YAML document");
				goto out;
			}
			break;
		case YAML_ALIAS_EVENT:
			rc = yw_err_at(errstr, errstr_size, name, line, col,
				       "aliases are not allowed (\"*%s\")",
				       (const char *)ev.data.alias.anchor);
			goto out;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			tag = ev.data.scalar.tag;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			tag = ev.data.sequence_start.tag;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			tag = ev.data.mapping_start.tag;
			break;
		default:
			break;
		}
		if (anchor) {
			rc = yw_err_at(errstr, errstr_size, name, line, col,
				       "anchors are not allowed (\"&%s\")",
				       (const char *)anchor);
			goto out;
		}
		if (tag) {
			char q[YW_QUOTE_MAX_BYTES + 8];
			rc = yw_err_at(errstr, errstr_size, name, line, col,
				       "tags are not allowed (%s)",
				       yw_quote(q, sizeof(q), (const char *)tag,
						strlen((const char *)tag)));
			goto out;
		}

		if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT) {
			node = ly_arena_alloc(arena, sizeof(*node));
			if (!node)
				goto nomem;
			node->line = line;
			node->col = col;
			if (ev.type == YAML_SCALAR_EVENT) {
				const char *v = (const char *)ev.data.scalar.value;
				size_t n = ev.data.scalar.length;
				if (memchr(v, '\0', n)) {
					rc = yw_err_at(errstr, errstr_size, name, line,
						       col, "NUL bytes are not allowed");
					goto out;
				}
				node->kind = YW_SCALAR;
				node->str = ly_arena_strndup(arena, v, n);
				if (!node->str)
					goto nomem;
				node->len = n;
				node->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
			} else {
				node->kind = ev.type == YAML_MAPPING_START_EVENT ? YW_MAP
										 : YW_SEQ;
			}
			if (depth == 0) {
				*root = node;
			} else {
				yw_node_t *parent = stack[depth - 1];
				if (parent->kind == YW_MAP && parent->count % 2 == 0 &&
				    node->kind != YW_SCALAR) {
					rc = yw_err_at(errstr, errstr_size, name, line,
						       col, "mapping keys must be scalars");
					goto out;
				}
				if (parent->last)
					parent->last->next = node;
				else
					parent->first = node;
				parent->last = node;
				parent->count++;
			}
			if (node->kind != YW_SCALAR) {
				if (depth == YW_DEPTH_MAX) {
					rc = yw_err_at(errstr, errstr_size, name, line,
						       col, "nested deeper than %d levels",
						       YW_DEPTH_MAX);
					goto out;
				}
				stack[depth++] = node;
			}
		} else if (ev.type == YAML_SEQUENCE_END_EVENT ||
			   ev.type == YAML_MAPPING_END_EVENT) {
			LY_ASSERT(depth > 0);
			depth--;
		}
		yaml_event_delete(&ev);
		have_event = 0;
	}
	goto out;
nomem:
	snprintf(errstr, errstr_size, "%s: out of memory", name);
	rc = LY_ENOMEM;
out:
	if (have_event)
		yaml_event_delete(&ev);
	yaml_parser_delete(&parser);
	if (rc)
		*root = NULL;
	return rc;
}

/* One expected key of a mapping, filled by yw_map_fields. */
typedef struct yw_field {
	const char *key;
	const yw_node_t *key_node; /* NULL when absent */
	const yw_node_t *value;
} yw_field_t;

/*
 * Matches the pairs of mapping map against fields[0..n): refuses an
 * unknown key ("unknown key "x"") or a repeated one ("duplicate key "x"
 * (first at l:c)") at the key's position. Absent fields keep NULL.
 */
static inline int yw_map_fields(const yw_node_t *map, yw_field_t *fields,
				size_t n, const char *name, char *errstr,
				size_t errstr_size)
{
	char q[YW_QUOTE_MAX_BYTES + 8];
	LY_ASSERT(map->kind == YW_MAP);
	for (size_t i = 0; i < n; i++) {
		fields[i].key_node = NULL;
		fields[i].value = NULL;
	}
	for (const yw_node_t *k = map->first; k; k = k->next->next) {
		const yw_node_t *v = k->next;
		size_t i;
		LY_ASSERT(v != NULL);
		for (i = 0; i < n; i++)
			if (yw_eq(k, fields[i].key))
				break;
		if (i == n)
			return yw_err(errstr, errstr_size, name, k, "unknown key %s",
				      yw_quote(q, sizeof(q), k->str, k->len));
		if (fields[i].key_node)
			return yw_err(errstr, errstr_size, name, k,
				      "duplicate key %s (first at %d:%d)",
				      yw_quote(q, sizeof(q), k->str, k->len),
				      fields[i].key_node->line,
				      fields[i].key_node->col);
		fields[i].key_node = k;
		fields[i].value = v;
	}
	return 0;
}

#endif
