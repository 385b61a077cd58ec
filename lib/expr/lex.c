/*
 * lex.c: the tokens of the expression language, one at a time on demand, so
 * the first error in source order is the one reported. Also the
 * "file:line:col: message" formatting every part of lib/expr uses.
 *
 * Literals: integers (decimal, at most 2^63 - 1; the parser allows -2^63),
 * "strings" (escapes \" \\ \n \t \u plus four hex digits, UTF-8), dates YYYY-MM-DD (four
 * digits, "-", a digit start a date, so subtract from a four-digit number
 * with spaces: `2026 - 1`), durations `30d`. Paths are identifiers joined
 * by dots.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "expr_int.h"

void ly_expr__linecol(const char *src, size_t len, size_t off, int line, int col,
		      int *out_line, int *out_col)
{
	size_t line_start = 0;
	int64_t l = line, c = col;

	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (src[i] == '\n') {
			l++;
			line_start = i + 1;
		}
	}
	/* Columns count characters, as YAML marks do: skip continuation bytes. */
	for (size_t i = line_start; i < off; i++)
		if (((unsigned char)src[i] & 0xC0) != 0x80)
			c++;
	*out_line = l > INT_MAX ? INT_MAX : (int)l;
	*out_col = c > INT_MAX ? INT_MAX : (int)c;
}

void ly_expr__vmsg(char *errstr, size_t errstr_size, const char *file, const char *src,
		   size_t len, size_t off, int line, int col, const char *fmt, va_list ap)
{
	int l, c, n;

	if (!errstr || errstr_size == 0)
		return;
	ly_expr__linecol(src, len, off, line, col, &l, &c);
	n = snprintf(errstr, errstr_size, "%s:%d:%d: ", file, l, c);
	if (n < 0 || (size_t)n >= errstr_size)
		return;
	vsnprintf(errstr + n, errstr_size - (size_t)n, fmt, ap);
}

int ly_expr__err(ly_expr__cc_t *cc, size_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ly_expr__vmsg(cc->errstr, cc->errstr_size, cc->file, cc->src, cc->len, off,
		      cc->line, cc->col, fmt, ap);
	va_end(ap);
	return LY_EINVAL;
}

int ly_expr__nomem(ly_expr__cc_t *cc)
{
	if (cc->errstr && cc->errstr_size)
		snprintf(cc->errstr, cc->errstr_size, "%s:%d:%d: out of memory", cc->file,
			 cc->line, cc->col);
	return LY_ENOMEM;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_id0(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_id(int c)
{
	return is_id0(c) || is_digit(c);
}

static int quote_len(size_t n)
{
	return n > LY_EXPR__ERR_QUOTE_MAX ? LY_EXPR__ERR_QUOTE_MAX : (int)n;
}

/* The byte at p, or -1 past the end (the source is not NUL-terminated and
 * may hold NUL bytes, which are refused as unexpected). */
static int at(const ly_expr__cc_t *cc, size_t p)
{
	return p < cc->len ? (unsigned char)cc->src[p] : -1;
}

static int lex_date(ly_expr__cc_t *cc, size_t p)
{
	const char *s = cc->src;
	size_t e = p + 5; /* past "YYYY-" */
	char buf[11];
	int y, m, d;

	while (is_digit(at(cc, e)))
		e++;
	if (at(cc, e) == '-' && is_digit(at(cc, e + 1))) {
		e++;
		while (is_digit(at(cc, e)))
			e++;
	}
	while (is_id(at(cc, e)) || at(cc, e) == '.')
		e++;
	if (e - p != 10)
		goto bad;
	memcpy(buf, s + p, 10);
	buf[10] = '\0';
	if (ly_date_parse(buf, &y, &m, &d))
		goto bad;
	cc->tok.kind = T_DATE;
	cc->tok.i = ly_days_from_civil(y, m, d);
	cc->tok.len = (uint32_t)(e - p);
	return 0;
bad:
	return ly_expr__err(cc, p, "invalid date \"%.*s\"", quote_len(e - p), s + p);
}

static int lex_number(ly_expr__cc_t *cc, size_t p)
{
	const char *s = cc->src;
	const uint64_t lim = UINT64_C(1) << 63;
	size_t q = p;
	uint64_t u = 0;
	int overflow = 0;

	while (is_digit(at(cc, q))) {
		unsigned dgt = (unsigned)(s[q] - '0');
		if (u > (lim - dgt) / 10)
			overflow = 1;
		else
			u = u * 10 + dgt;
		q++;
	}
	if (q - p == 4 && at(cc, q) == '-' && is_digit(at(cc, q + 1)))
		return lex_date(cc, p);
	if (is_id(at(cc, q)) || at(cc, q) == '.') {
		size_t e = q;
		while (is_id(at(cc, e)) || at(cc, e) == '.')
			e++;
		if (s[q] != 'd' || e != q + 1)
			return ly_expr__err(cc, p, "invalid number \"%.*s\"",
					    quote_len(e - p), s + p);
		int64_t us;
		if (overflow || u > INT64_MAX ||
		    ly_mul_i64((int64_t)u, LY_EXPR__DAY_US, &us))
			return ly_expr__err(cc, p,
					    "duration literal \"%.*s\" out of range",
					    quote_len(e - p), s + p);
		cc->tok.kind = T_DURATION;
		cc->tok.i = us;
		cc->tok.len = (uint32_t)(e - p);
		return 0;
	}
	if (overflow)
		return ly_expr__err(cc, p, "integer literal \"%.*s\" out of range",
				    quote_len(q - p), s + p);
	cc->tok.kind = T_INT;
	cc->tok.u = u;
	cc->tok.len = (uint32_t)(q - p);
	return 0;
}

/* The four hex digits of a \u escape at p. */
static int hex4(const ly_expr__cc_t *cc, size_t p, unsigned *out)
{
	return ly_hex4(cc->src + p, p < cc->len ? cc->len - p : 0, out) ? -1 : 0;
}

static size_t put_utf8(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* A \u escape at p (the backslash): one code point, or a surrogate pair
 * written as two escapes. Returns the bytes of source used, 0 if invalid. */
static size_t lex_u_escape(const ly_expr__cc_t *cc, size_t p, unsigned *cp)
{
	unsigned hi, lo;

	if (hex4(cc, p + 2, &hi))
		return 0;
	if (hi >= 0xDC00 && hi <= 0xDFFF)
		return 0;
	if (hi < 0xD800 || hi > 0xDBFF) {
		if (hi == 0)
			return 0; /* no NUL bytes inside strings */
		*cp = hi;
		return 6;
	}
	if (at(cc, p + 6) != '\\' || at(cc, p + 7) != 'u' || hex4(cc, p + 8, &lo) ||
	    lo < 0xDC00 || lo > 0xDFFF)
		return 0;
	*cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
	return 12;
}

static int lex_string(ly_expr__cc_t *cc, size_t p)
{
	const char *s = cc->src;
	size_t q = p + 1, n = 0;
	char *d;

	/* The decoded string is never longer than its source. */
	d = ly_arena_alloc(cc->arena, cc->len - p + 1);
	if (!d)
		return ly_expr__nomem(cc);
	for (;;) {
		int c = at(cc, q);
		if (c < 0 || c == '\n' || c == '\r')
			return ly_expr__err(cc, p, "unterminated string");
		if (c == '"')
			break;
		if (c < 0x20 || c == 0x7F)
			return ly_expr__err(cc, q, "control character in string");
		if (c != '\\') {
			d[n++] = (char)c;
			q++;
			continue;
		}
		int e = at(cc, q + 1);
		switch (e) {
		case '"':
		case '\\':
			d[n++] = (char)e;
			q += 2;
			continue;
		case 'n':
			d[n++] = '\n';
			q += 2;
			continue;
		case 't':
			d[n++] = '\t';
			q += 2;
			continue;
		case 'u': {
			unsigned cp;
			size_t used = lex_u_escape(cc, q, &cp);
			if (used) {
				n += put_utf8(d + n, cp);
				q += used;
				continue;
			}
			size_t e_end = q + 2;
			while (e_end < q + 6 && e_end < cc->len && s[e_end] != '"' &&
			       (unsigned char)s[e_end] >= 0x20)
				e_end++;
			return ly_expr__err(cc, q, "invalid escape \"%.*s\"",
					    (int)(e_end - q), s + q);
		}
		default:
			if (e < 0)
				return ly_expr__err(cc, p, "unterminated string");
			if (e < 0x20 || e >= 0x7F)
				return ly_expr__err(cc, q, "invalid escape");
			return ly_expr__err(cc, q, "invalid escape \"\\%c\"", e);
		}
	}
	d[n] = '\0';
	if (!ly_utf8_valid(d, n))
		return ly_expr__err(cc, p, "invalid UTF-8 in string");
	cc->tok.kind = T_STRING;
	cc->tok.s = d;
	cc->tok.s_len = n;
	cc->tok.len = (uint32_t)(q + 1 - p);
	return 0;
}

static const struct {
	const char *word;
	ly_expr__tok_t kind;
} keywords[] = {
    {"and", T_AND}, {"or", T_OR},     {"not", T_NOT},
    {"in", T_IN},   {"true", T_TRUE}, {"false", T_FALSE},
};

static int lex_path(ly_expr__cc_t *cc, size_t p)
{
	const char *s = cc->src;
	size_t q = p;
	int dotted = 0;

	for (;;) {
		while (is_id(at(cc, q)))
			q++;
		if (at(cc, q) != '.')
			break;
		if (!is_id0(at(cc, q + 1)))
			return ly_expr__err(cc, p, "invalid field name \"%.*s\"",
					    quote_len(q + 1 - p), s + p);
		dotted = 1;
		q++;
	}
	cc->tok.kind = T_PATH;
	cc->tok.len = (uint32_t)(q - p);
	if (!dotted)
		for (size_t i = 0; i < LY_ARRAY_LEN(keywords); i++)
			if (strlen(keywords[i].word) == q - p &&
			    memcmp(keywords[i].word, s + p, q - p) == 0)
				cc->tok.kind = keywords[i].kind;
	return 0;
}

static const char single_chars[] = "()[],+-*/%";
static const ly_expr__tok_t single_kinds[] = {T_LPAREN, T_RPAREN, T_LBRACK, T_RBRACK,
					      T_COMMA,  T_PLUS,   T_MINUS,  T_STAR,
					      T_SLASH,  T_PERCENT};

int ly_expr__lex(ly_expr__cc_t *cc)
{
	const char *s = cc->src;
	size_t p = cc->pos;
	ly_expr__token_t *t = &cc->tok;
	int c, rc = 0;

	while (p < cc->len &&
	       (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r'))
		p++;
	memset(t, 0, sizeof(*t));
	if (p >= cc->len) {
		t->kind = T_EOF;
		t->off = (uint32_t)cc->last_end;
		cc->pos = p;
		return 0;
	}
	t->off = (uint32_t)p;
	t->len = 1;
	c = (unsigned char)s[p];
	if (is_digit(c))
		rc = lex_number(cc, p);
	else if (is_id0(c))
		rc = lex_path(cc, p);
	else if (c == '"')
		rc = lex_string(cc, p);
	else {
		int c2 = at(cc, p + 1);
		const char *one = strchr(single_chars, c);
		switch (c) {
		case '(':
		case ')':
		case '[':
		case ']':
		case ',':
		case '+':
		case '-':
		case '*':
		case '/':
		case '%':
			t->kind = single_kinds[one - single_chars];
			break;
		case '=':
			if (c2 != '=')
				return ly_expr__err(cc, p,
						    "unexpected \"=\", use \"==\"");
			t->kind = T_EQ;
			t->len = 2;
			break;
		case '!':
			if (c2 != '=')
				return ly_expr__err(cc, p,
						    "unexpected \"!\", use \"not\"");
			t->kind = T_NE;
			t->len = 2;
			break;
		case '<':
			t->kind = c2 == '=' ? T_LE : T_LT;
			t->len = c2 == '=' ? 2 : 1;
			break;
		case '>':
			t->kind = c2 == '=' ? T_GE : T_GT;
			t->len = c2 == '=' ? 2 : 1;
			break;
		case '&':
			return ly_expr__err(cc, p, "unexpected \"%s\", use \"and\"",
					    c2 == '&' ? "&&" : "&");
		case '|':
			return ly_expr__err(cc, p, "unexpected \"%s\", use \"or\"",
					    c2 == '|' ? "||" : "|");
		case '\'':
			return ly_expr__err(
			    cc, p, "unexpected \"'\", strings use double quotes");
		default:
			if (c > 0x20 && c < 0x7F)
				return ly_expr__err(cc, p, "unexpected character \"%c\"",
						    c);
			return ly_expr__err(cc, p, "unexpected byte 0x%02X", (unsigned)c);
		}
	}
	if (rc)
		return rc;
	cc->pos = p + t->len;
	cc->last_end = cc->pos;
	return 0;
}

const char *ly_expr__tok_text(ly_expr__tok_t kind)
{
	static const char *const text[] = {
	    [T_AND] = "and",   [T_OR] = "or",    [T_NOT] = "not",  [T_IN] = "in",
	    [T_PLUS] = "+",    [T_MINUS] = "-",  [T_STAR] = "*",   [T_SLASH] = "/",
	    [T_PERCENT] = "%", [T_EQ] = "==",    [T_NE] = "!=",    [T_LT] = "<",
	    [T_LE] = "<=",     [T_GT] = ">",     [T_GE] = ">=",    [T_LPAREN] = "(",
	    [T_RPAREN] = ")",  [T_LBRACK] = "[", [T_RBRACK] = "]", [T_COMMA] = ",",
	};
	if ((size_t)kind < LY_ARRAY_LEN(text) && text[kind])
		return text[kind];
	return "?";
}

void ly_expr__tok_describe(const ly_expr__cc_t *cc, const ly_expr__token_t *t, char *buf,
			   size_t size)
{
	if (t->kind == T_EOF)
		snprintf(buf, size, "end of expression");
	else if (t->kind == T_STRING)
		snprintf(buf, size, "string");
	else
		snprintf(buf, size, "\"%.*s\"", quote_len(t->len), cc->src + t->off);
}
