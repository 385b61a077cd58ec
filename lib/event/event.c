/*
 * event.c: CloudEvents 1.0 input decoding and validation (SPEC section 4).
 *
 * One Kafka message is checked in a fixed order, so the same bad input
 * always gets the same reason:
 *   1. size of the value (before anything is parsed);
 *   2. UTF-8 of the raw value, and in binary mode of the ce_* and
 *      content-type headers;
 *   3. a strict lexical scan of the JSON text: cJSON is lenient (it takes
 *      raw control characters, "01", "1.", and decodes "\u0000" into a
 *      truncated C string), so the scan enforces RFC 8259 tokens, rejects
 *      lone UTF-16 surrogate escapes and "\u0000", and bounds the nesting;
 *   4. the cJSON parse, with nothing but whitespace after the value;
 *   5. one walk over the whole tree for the string and array limits, which
 *      hold everywhere, unknown fields included;
 *   6. the envelope attributes, then data.customer_id, then the typed data.
 * A key that appears twice in an object we read from is refused: parsers
 * disagree on which one wins, and a DLQ replay through another tool must
 * not see a different event.
 *
 * Nothing is logged here; the caller turns a rejection into a DLQ message.
 * Messages name the field path and quote short values, never an e-mail
 * address or a phone number.
 *
 * Assumes cJSON >= 1.7.13 (cJSON_ParseWithLengthOpts). Worst case, the
 * cJSON tree of a 1 MiB value takes a few tens of MiB; it is freed before
 * returning.
 */
#include "loyalty/event.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Largest integer a double (and so cJSON) holds exactly: 2^53 - 1. */
#define SAFE_INT_MAX INT64_C(9007199254740991)
/* Room for a field path in a message; longer paths are cut. */
#define PATH_BYTES 256
/* A path component or a quoted value is cut after this many bytes. */
#define SHOW_BYTES 64
/* Room for a quoted value: every shown byte may be escaped as \xNN. */
#define QUOTE_BYTES (SHOW_BYTES * 4 + 16)

/* Returns from the calling function when a step fails. */
#define TRY(expr)                          \
	do {                               \
		int try_rc_ = (expr);      \
		if (try_rc_)               \
			return try_rc_;    \
	} while (0)

static const char *const type_names[LY_EV__COUNT] = {
	[LY_EV_CUSTOMER_REGISTERED] = "customer.registered",
	[LY_EV_CUSTOMER_UPDATED] = "customer.updated",
	[LY_EV_ORDER_PAID] = "order.paid",
	[LY_EV_ORDER_REFUNDED] = "order.refunded",
	[LY_EV_ORDER_CANCELLED] = "order.cancelled",
	[LY_EV_REVIEW_SUBMITTED] = "review.submitted",
	[LY_EV_SOCIAL_INTERACTION] = "social.interaction",
	[LY_EV_SURVEY_COMPLETED] = "survey.completed",
	[LY_EV_POINTS_REDEEM] = "points.redeem",
	[LY_EV_POINTS_ADJUST] = "points.adjust",
};

static const char *const reject_codes[LY_REJECT__COUNT] = {
	[LY_REJECT_NONE] = "none",
	[LY_REJECT_TOO_LARGE] = "message_too_large",
	[LY_REJECT_NOT_UTF8] = "invalid_utf8",
	[LY_REJECT_BAD_JSON] = "invalid_json",
	[LY_REJECT_MISSING_FIELD] = "missing_field",
	[LY_REJECT_WRONG_TYPE] = "wrong_type",
	[LY_REJECT_BAD_VALUE] = "invalid_value",
	[LY_REJECT_STRING_TOO_LONG] = "string_too_long",
	[LY_REJECT_ARRAY_TOO_LONG] = "array_too_long",
	[LY_REJECT_UNKNOWN_TYPE] = "unknown_type",
	[LY_REJECT_BAD_SPECVERSION] = "unsupported_specversion",
};

const char *ly_event_type_name(ly_event_type_t type)
{
	if ((int)type < 0 || type >= LY_EV__COUNT)
		return NULL;
	return type_names[type];
}

int ly_event_type_parse(const char *name, ly_event_type_t *out)
{
	if (!name)
		return LY_ENOTFOUND;
	for (int i = 0; i < LY_EV__COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (ly_event_type_t)i;
			return 0;
		}
	}
	return LY_ENOTFOUND;
}

static const char *const trigger_names[LY_TRIGGER__COUNT] = {
	[LY_TRIGGER_BIRTHDAY] = "customer.birthday",
	[LY_TRIGGER_SEGMENT_CHANGED] = "customer.segment_changed",
	[LY_TRIGGER_TIER_CHANGED] = "tier.changed",
	[LY_TRIGGER_POINTS_EXPIRING] = "points.expiring",
	[LY_TRIGGER_REFERRAL_QUALIFIED] = "referral.qualified",
};

const char *ly_trigger_name(ly_trigger_t trigger)
{
	if ((int)trigger <= LY_TRIGGER_NONE || trigger >= LY_TRIGGER__COUNT)
		return NULL;
	return trigger_names[trigger];
}

int ly_trigger_parse(const char *name, ly_trigger_t *out)
{
	for (int t = LY_TRIGGER_NONE + 1; t < LY_TRIGGER__COUNT; t++)
		if (strcmp(name, trigger_names[t]) == 0) {
			*out = (ly_trigger_t)t;
			return 0;
		}
	return LY_ENOTFOUND;
}

const char *ly_event_name(const ly_event_t *ev)
{
	return ev->trigger != LY_TRIGGER_NONE ? ly_trigger_name(ev->trigger)
					      : ly_event_type_name(ev->type);
}

/* "unknown" for a value out of range, so a DLQ header is never NULL. */
const char *ly_reject_code(ly_reject_t reason)
{
	if ((int)reason < 0 || reason >= LY_REJECT__COUNT)
		return "unknown";
	return reject_codes[reason];
}

/* ---- errors ---- */

/* One decode call: where strings go and where a rejection is reported. */
typedef struct dec {
	ly_arena_t *arena;
	ly_reject_t *why;
	char *errstr;
	size_t errstr_size;
	int triggers; /* ly_event_decode_trigger: triggers are types too */
} dec_t;

static int reject(dec_t *d, ly_reject_t why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reject(dec_t *d, ly_reject_t why, const char *fmt, ...)
{
	*d->why = why;
	if (d->errstr && d->errstr_size) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->errstr, d->errstr_size, fmt, ap);
		va_end(ap);
	}
	return LY_EINVAL;
}

static int nomem(dec_t *d)
{
	*d->why = LY_REJECT_NONE;
	if (d->errstr && d->errstr_size)
		snprintf(d->errstr, d->errstr_size, "out of memory");
	return LY_ENOMEM;
}

/*
 * Appends up to SHOW_BYTES of s[0..n) to buf (capacity size, current
 * length *len), cut on a UTF-8 character boundary, with quotes, backslashes
 * and control characters escaped so the text is safe in a header or a log.
 */
static void show_append(char *buf, size_t size, size_t *len, const char *s,
			size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char tmp[8];
		size_t tlen;

		if (i >= SHOW_BYTES && (c & 0xc0) != 0x80)
			break;
		if (c == '"' || c == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)c;
			tlen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(tmp, sizeof(tmp), "\\x%02x", c);
			tlen = 4;
		} else {
			tmp[0] = (char)c;
			tlen = 1;
		}
		if (*len + tlen + 4 >= size)
			break;
		memcpy(buf + *len, tmp, tlen);
		*len += tlen;
	}
	if (i < n && *len + 4 < size) {
		memcpy(buf + *len, "...", 3);
		*len += 3;
	}
	buf[*len] = '\0';
}

/* s quoted for a message: "value" (cut and escaped as show_append). */
static const char *quote(char *buf, size_t size, const char *s)
{
	size_t len = 0;

	LY_ASSERT(size > SHOW_BYTES * 4 + 8);
	buf[len++] = '"';
	show_append(buf, size - 1, &len, s, strlen(s));
	buf[len++] = '"';
	buf[len] = '\0';
	return buf;
}

/* "data.items[2]" + "sku" -> "data.items[2].sku"; "" + "id" -> "id". */
static void field_path(char *out, size_t size, const char *parent,
		       const char *name)
{
	snprintf(out, size, "%s%s%s", parent, parent[0] ? "." : "", name);
}

static const char *json_type_name(const cJSON *v)
{
	if (cJSON_IsNull(v))
		return "null";
	if (cJSON_IsBool(v))
		return "boolean";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "invalid";
}

/* ---- step 3: strict lexical scan ---- */

static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* A string token starting at s[*pos] == '"'; *pos moves past it. */
static int scan_string(dec_t *d, const unsigned char *s, size_t n, size_t *pos)
{
	size_t start = *pos;
	size_t i = start + 1;
	unsigned cp, lo;

	for (;;) {
		if (i >= n)
			return reject(d, LY_REJECT_BAD_JSON,
				      "invalid JSON: unterminated string at byte %zu",
				      start);
		unsigned char c = s[i];
		if (c == '"')
			break;
		if (c < 0x20)
			return reject(d, LY_REJECT_BAD_JSON,
				      "invalid JSON at byte %zu: unescaped control character 0x%02x in a string",
				      i, c);
		if (c != '\\') {
			i++;
			continue;
		}
		if (i + 1 >= n)
			return reject(d, LY_REJECT_BAD_JSON,
				      "invalid JSON: unterminated string at byte %zu",
				      start);
		c = s[i + 1];
		if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' ||
		    c == 'n' || c == 'r' || c == 't') {
			i += 2;
			continue;
		}
		if (c != 'u' || ly_hex4((const char *)s + i + 2, n - i - 2, &cp))
			return reject(d, LY_REJECT_BAD_JSON,
				      "invalid JSON at byte %zu: invalid escape in a string",
				      i);
		if (cp == 0)
			return reject(d, LY_REJECT_BAD_VALUE,
				      "string at byte %zu: \\u0000 is not allowed", i);
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return reject(d, LY_REJECT_NOT_UTF8,
				      "string at byte %zu: \\u%04x is a lone UTF-16 surrogate",
				      i, cp);
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (n - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' ||
			    ly_hex4((const char *)s + i + 8, n - i - 8, &lo) ||
			    lo < 0xdc00 || lo > 0xdfff)
				return reject(d, LY_REJECT_NOT_UTF8,
					      "string at byte %zu: \\u%04x is a lone UTF-16 surrogate",
					      i, cp);
			i += 12;
			continue;
		}
		i += 6;
	}
	*pos = i + 1;
	return 0;
}

/* A number token (RFC 8259 grammar) starting at s[*pos]. */
static int scan_number(dec_t *d, const unsigned char *s, size_t n, size_t *pos)
{
	size_t i = *pos;

	if (s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && is_digit(s[i]))
			i++;
	} else {
		goto bad;
	}
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || !is_digit(s[i]))
			goto bad;
		while (i < n && is_digit(s[i]))
			i++;
	}
	if (i < n && (is_alnum(s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-'))
		goto bad;
	*pos = i;
	return 0;
bad:
	return reject(d, LY_REJECT_BAD_JSON,
		      "invalid JSON at byte %zu: malformed number", *pos);
}

/*
 * Checks every token of s[0..n) and the nesting depth; the grammar itself
 * is left to cJSON. s is known to be valid UTF-8.
 */
static int json_scan(dec_t *d, const unsigned char *s, size_t n)
{
	static const char *const literals[] = {"true", "false", "null"};
	size_t i = 0;
	size_t depth = 0;

	while (i < n) {
		unsigned char c = s[i];
		switch (c) {
		case ' ':
		case '\t':
		case '\n':
		case '\r':
		case ':':
		case ',':
			i++;
			continue;
		case '{':
		case '[':
			if (++depth > CJSON_NESTING_LIMIT)
				return reject(d, LY_REJECT_BAD_JSON,
					      "invalid JSON at byte %zu: nested deeper than %d levels",
					      i, CJSON_NESTING_LIMIT);
			i++;
			continue;
		case '}':
		case ']':
			if (depth == 0)
				return reject(d, LY_REJECT_BAD_JSON,
					      "invalid JSON at byte %zu: unexpected '%c'",
					      i, c);
			depth--;
			i++;
			continue;
		case '"':
			TRY(scan_string(d, s, n, &i));
			continue;
		default:
			break;
		}
		if (c == '-' || is_digit(c)) {
			TRY(scan_number(d, s, n, &i));
			continue;
		}
		size_t k;
		for (k = 0; k < LY_ARRAY_LEN(literals); k++) {
			size_t len = strlen(literals[k]);
			if (n - i >= len && memcmp(s + i, literals[k], len) == 0 &&
			    (n - i == len || !is_alnum(s[i + len])))
				break;
		}
		if (k < LY_ARRAY_LEN(literals)) {
			i += strlen(literals[k]);
			continue;
		}
		if (c > 0x20 && c < 0x7f)
			return reject(d, LY_REJECT_BAD_JSON,
				      "invalid JSON at byte %zu: unexpected character '%c'",
				      i, c);
		return reject(d, LY_REJECT_BAD_JSON,
			      "invalid JSON at byte %zu: unexpected byte 0x%02x", i,
			      c);
	}
	return 0;
}

/* ---- step 5: limits on the whole tree ---- */

/* The way from the root to a node, kept on the stack during the walk. */
typedef struct walk_frame {
	const struct walk_frame *up;
	const char *key; /* NULL: an array element */
	size_t index;
} walk_frame_t;

static void frame_path(const walk_frame_t *f, char *buf, size_t size,
		       size_t *len)
{
	if (!f)
		return;
	frame_path(f->up, buf, size, len);
	if (f->key) {
		if (*len > 0 && *len + 1 < size)
			buf[(*len)++] = '.';
		show_append(buf, size, len, f->key, strlen(f->key));
	} else {
		char idx[32];
		int k = snprintf(idx, sizeof(idx), "[%zu]", f->index);
		if (k > 0 && *len + (size_t)k + 1 < size) {
			memcpy(buf + *len, idx, (size_t)k);
			*len += (size_t)k;
		}
	}
	buf[*len] = '\0';
}

static const char *path_of(const walk_frame_t *f, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	frame_path(f, buf, size, &len);
	if (len == 0)
		snprintf(buf, size, "(message)");
	return buf;
}

static int check_text(dec_t *d, const walk_frame_t *f, const char *s,
		      const char *what)
{
	char path[PATH_BYTES];
	size_t len = strlen(s);

	if (len > LY_EVENT_STRING_MAX_BYTES)
		return reject(d, LY_REJECT_STRING_TOO_LONG,
			      "%s: %s is %zu bytes, over the limit of %d",
			      path_of(f, path, sizeof(path)), what, len,
			      LY_EVENT_STRING_MAX_BYTES);
	/* The scan has excluded lone surrogates; this guards cJSON's decoding. */
	if (!ly_utf8_valid(s, len))
		return reject(d, LY_REJECT_NOT_UTF8, "%s: %s is not valid UTF-8",
			      path_of(f, path, sizeof(path)), what);
	return 0;
}

static int walk(dec_t *d, const cJSON *node, const walk_frame_t *f)
{
	char path[PATH_BYTES];
	size_t i = 0;
	int is_array = cJSON_IsArray(node);

	if (cJSON_IsString(node))
		return check_text(d, f, node->valuestring, "string");
	if (!is_array && !cJSON_IsObject(node))
		return 0;
	for (const cJSON *c = node->child; c; c = c->next, i++) {
		walk_frame_t cf = {f, NULL, i};

		if (is_array && i >= LY_EVENT_ARRAY_MAX_ITEMS)
			return reject(d, LY_REJECT_ARRAY_TOO_LONG,
				      "%s: array has more than %d items",
				      path_of(f, path, sizeof(path)),
				      LY_EVENT_ARRAY_MAX_ITEMS);
		if (!is_array) {
			LY_ASSERT(c->string);
			cf.key = c->string;
			TRY(check_text(d, &cf, c->string, "key"));
		}
		TRY(walk(d, c, &cf));
	}
	return 0;
}

/* ---- fields ---- */

enum {
	F_REQUIRED = 1, /* absent or null: missing_field */
	F_NONEMPTY = 2, /* "": invalid_value */
	F_ID = 4,       /* non-empty, <= 128 bytes, no control characters */
	F_BORROW = 8,   /* *out points into the input; no arena copy */
};

/* obj's member `name`, NULL when absent; a repeated key is refused. */
static int member(dec_t *d, const cJSON *obj, const char *path,
		  const char *name, const cJSON **out)
{
	const cJSON *found = NULL;

	for (const cJSON *c = obj->child; c; c = c->next) {
		if (strcmp(c->string, name) != 0)
			continue;
		if (found)
			return reject(d, LY_REJECT_BAD_JSON, "%s: duplicate key",
				      path);
		found = c;
	}
	*out = found;
	return 0;
}

/*
 * Looks up a member; *out is NULL when it is absent or null (null counts as
 * absent for an optional field and as missing for a required one).
 */
static int lookup(dec_t *d, const cJSON *obj, const char *path,
		  const char *name, unsigned flags, const cJSON **out)
{
	const cJSON *v = NULL;

	*out = NULL;
	TRY(member(d, obj, path, name, &v));
	if (v && !cJSON_IsNull(v)) {
		*out = v;
		return 0;
	}
	if (!(flags & F_REQUIRED))
		return 0;
	if (v)
		return reject(d, LY_REJECT_MISSING_FIELD, "%s: missing (null)",
			      path);
	return reject(d, LY_REJECT_MISSING_FIELD, "%s: missing", path);
}

/* Checks a NUL-terminated string against flags and copies it. */
static int check_string(dec_t *d, const char *path, const char *s,
			unsigned flags, const char **out)
{
	size_t len = strlen(s);

	if (len > LY_EVENT_STRING_MAX_BYTES)
		return reject(d, LY_REJECT_STRING_TOO_LONG,
			      "%s: string is %zu bytes, over the limit of %d", path,
			      len, LY_EVENT_STRING_MAX_BYTES);
	if ((flags & (F_NONEMPTY | F_ID)) && len == 0)
		return reject(d, LY_REJECT_BAD_VALUE, "%s: must not be empty",
			      path);
	if (flags & F_ID) {
		if (len > LY_EVENT_ID_MAX_BYTES)
			return reject(d, LY_REJECT_STRING_TOO_LONG,
				      "%s: must be at most %d bytes, got %zu", path,
				      LY_EVENT_ID_MAX_BYTES, len);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)s[i];
			if (c < 0x20 || c == 0x7f)
				return reject(d, LY_REJECT_BAD_VALUE,
					      "%s: must not contain control characters",
					      path);
		}
	}
	if (flags & F_BORROW) {
		*out = s;
		return 0;
	}
	*out = ly_arena_strndup(d->arena, s, len);
	if (!*out)
		return nomem(d);
	return 0;
}

static int get_string(dec_t *d, const cJSON *obj, const char *parent,
		      const char *name, unsigned flags, const char **out)
{
	char path[PATH_BYTES];
	const cJSON *v = NULL;

	*out = NULL;
	field_path(path, sizeof(path), parent, name);
	TRY(lookup(d, obj, path, name, flags, &v));
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return reject(d, LY_REJECT_WRONG_TYPE,
			      "%s: must be a string, got %s", path,
			      json_type_name(v));
	return check_string(d, path, v->valuestring, flags, out);
}

/* A string that must be one of allowed (a NULL-terminated list). */
static int get_enum(dec_t *d, const cJSON *obj, const char *parent,
		    const char *name, unsigned flags,
		    const char *const *allowed, const char *list,
		    const char **out)
{
	char path[PATH_BYTES];
	char q[QUOTE_BYTES];

	TRY(get_string(d, obj, parent, name, flags, out));
	if (!*out)
		return 0;
	for (size_t i = 0; allowed[i]; i++) {
		if (strcmp(*out, allowed[i]) == 0)
			return 0;
	}
	field_path(path, sizeof(path), parent, name);
	return reject(d, LY_REJECT_BAD_VALUE, "%s: must be one of %s, got %s",
		      path, list, quote(q, sizeof(q), *out));
}

/*
 * An integer in [min, max]; `what` describes the range for the message
 * ("an integer >= 1"). *present is 0 when an optional one is absent.
 */
static int get_int(dec_t *d, const cJSON *obj, const char *parent,
		   const char *name, unsigned flags, int64_t min, int64_t max,
		   const char *what, int64_t *out, int *present)
{
	char path[PATH_BYTES];
	const cJSON *v = NULL;
	double x;
	int64_t i;

	*present = 0;
	field_path(path, sizeof(path), parent, name);
	TRY(lookup(d, obj, path, name, flags, &v));
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return reject(d, LY_REJECT_WRONG_TYPE,
			      "%s: must be an integer, got %s", path,
			      json_type_name(v));
	x = v->valuedouble;
	/* Beyond 2^53 every double is integral but no longer exact; the test
	 * is written so that NaN and the infinities fail it too. */
	if (!(x >= -(double)SAFE_INT_MAX && x <= (double)SAFE_INT_MAX))
		return reject(d, LY_REJECT_BAD_VALUE,
			      "%s: must be %s, got %.15g (beyond 2^53 - 1)", path,
			      what, x);
	i = (int64_t)x;
	if ((double)i != x)
		return reject(d, LY_REJECT_WRONG_TYPE,
			      "%s: must be an integer, got %.15g", path, x);
	if (i < min || i > max)
		return reject(d, LY_REJECT_BAD_VALUE, "%s: must be %s, got %lld",
			      path, what, (long long)i);
	*out = i;
	*present = 1;
	return 0;
}

static int get_bool(dec_t *d, const cJSON *obj, const char *parent,
		    const char *name, unsigned flags, ly_tristate_t *out)
{
	char path[PATH_BYTES];
	const cJSON *v = NULL;

	*out = LY_UNSET;
	field_path(path, sizeof(path), parent, name);
	TRY(lookup(d, obj, path, name, flags, &v));
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return reject(d, LY_REJECT_WRONG_TYPE,
			      "%s: must be a boolean, got %s", path,
			      json_type_name(v));
	*out = cJSON_IsTrue(v) ? LY_TRUE : LY_FALSE;
	return 0;
}

/* An object or array member (want is cJSON_Object or cJSON_Array). */
static int get_container(dec_t *d, const cJSON *obj, const char *parent,
			 const char *name, unsigned flags, int want,
			 const cJSON **out)
{
	char path[PATH_BYTES];
	const cJSON *v = NULL;

	*out = NULL;
	field_path(path, sizeof(path), parent, name);
	TRY(lookup(d, obj, path, name, flags, &v));
	if (!v)
		return 0;
	if (want == cJSON_Array ? !cJSON_IsArray(v) : !cJSON_IsObject(v))
		return reject(d, LY_REJECT_WRONG_TYPE, "%s: must be %s, got %s",
			      path, want == cJSON_Array ? "an array" : "an object",
			      json_type_name(v));
	*out = v;
	return 0;
}

static size_t child_count(const cJSON *v)
{
	size_t n = 0;

	for (const cJSON *c = v->child; c; c = c->next)
		n++;
	return n;
}

/* ---- data of each type ---- */

static int decode_customer(dec_t *d, const cJSON *data, ly_customer_data_t *c)
{
	static const char *const locales[] = {"tr", "en", NULL};
	const cJSON *consents;
	char q[QUOTE_BYTES];
	int y, m, dd;

	TRY(get_string(d, data, "data", "first_name", 0, &c->first_name));
	TRY(get_enum(d, data, "data", "locale", 0, locales, "tr, en",
		     &c->locale));
	TRY(get_string(d, data, "data", "birth_date", 0, &c->birth_date));
	if (c->birth_date && ly_date_parse(c->birth_date, &y, &m, &dd))
		return reject(d, LY_REJECT_BAD_VALUE,
			      "data.birth_date: must be a date YYYY-MM-DD, got %s",
			      quote(q, sizeof(q), c->birth_date));
	/* Contact details: never quoted in a message. */
	TRY(get_string(d, data, "data", "email", F_NONEMPTY, &c->email));
	TRY(get_string(d, data, "data", "phone", F_NONEMPTY, &c->phone));
	TRY(get_container(d, data, "data", "consents", 0, cJSON_Object,
			  &consents));
	c->consent_email = LY_UNSET;
	c->consent_sms = LY_UNSET;
	if (consents) {
		TRY(get_bool(d, consents, "data.consents", "email", 0,
			     &c->consent_email));
		TRY(get_bool(d, consents, "data.consents", "sms", 0,
			     &c->consent_sms));
	}
	TRY(get_string(d, data, "data", "referred_by", F_ID, &c->referred_by));
	return 0;
}

static int decode_items(dec_t *d, const cJSON *data, ly_order_paid_t *op)
{
	const cJSON *arr;
	ly_order_item_t *items;
	int64_t sum = 0;
	size_t n, i = 0;
	int present;

	TRY(get_container(d, data, "data", "items", F_REQUIRED, cJSON_Array,
			  &arr));
	n = child_count(arr); /* <= LY_EVENT_ARRAY_MAX_ITEMS after the walk */
	items = ly_arena_alloc(d->arena, (n ? n : 1) * sizeof(*items));
	if (!items)
		return nomem(d);
	for (const cJSON *e = arr->child; e; e = e->next, i++) {
		ly_order_item_t *it = &items[i];
		char path[PATH_BYTES];
		int64_t line;

		snprintf(path, sizeof(path), "data.items[%zu]", i);
		if (!cJSON_IsObject(e))
			return reject(d, LY_REJECT_WRONG_TYPE,
				      "%s: must be an object, got %s", path,
				      json_type_name(e));
		TRY(get_string(d, e, path, "sku", F_REQUIRED | F_NONEMPTY,
			       &it->sku));
		TRY(get_string(d, e, path, "category", F_REQUIRED | F_NONEMPTY,
			       &it->category));
		TRY(get_int(d, e, path, "quantity", F_REQUIRED, 1, SAFE_INT_MAX,
			    "an integer >= 1", &it->quantity, &present));
		TRY(get_int(d, e, path, "unit_price", F_REQUIRED, 0,
			    SAFE_INT_MAX, "an integer >= 0", &it->unit_price,
			    &present));
		/* Keeps every sum over any subset of lines exact in int64. */
		if (ly_mul_i64(it->quantity, it->unit_price, &line) ||
		    line > SAFE_INT_MAX || ly_add_i64(sum, line, &sum) ||
		    sum > SAFE_INT_MAX)
			return reject(d, LY_REJECT_BAD_VALUE,
				      "%s: quantity * unit_price brings the items over 2^53 - 1",
				      path);
	}
	op->items = items;
	op->items_len = n;
	return 0;
}

static int decode_coupons(dec_t *d, const cJSON *data, ly_order_paid_t *op)
{
	const cJSON *arr;
	const char **codes;
	size_t n, i = 0;

	TRY(get_container(d, data, "data", "coupon_codes", 0, cJSON_Array,
			  &arr));
	if (!arr)
		return 0;
	n = child_count(arr);
	codes = ly_arena_alloc(d->arena, (n ? n : 1) * sizeof(*codes));
	if (!codes)
		return nomem(d);
	for (const cJSON *e = arr->child; e; e = e->next, i++) {
		char path[PATH_BYTES];

		snprintf(path, sizeof(path), "data.coupon_codes[%zu]", i);
		if (!cJSON_IsString(e))
			return reject(d, LY_REJECT_WRONG_TYPE,
				      "%s: must be a string, got %s", path,
				      json_type_name(e));
		TRY(check_string(d, path, e->valuestring, F_NONEMPTY,
				 &codes[i]));
	}
	op->coupon_codes = codes;
	op->coupon_codes_len = n;
	return 0;
}

static int decode_order_paid(dec_t *d, const cJSON *data, ly_order_paid_t *op)
{
	char q[QUOTE_BYTES];
	int present;

	TRY(get_string(d, data, "data", "order_id", F_REQUIRED | F_ID,
		       &op->order_id));
	TRY(get_int(d, data, "data", "total", F_REQUIRED, 0, SAFE_INT_MAX,
		    "an integer >= 0", &op->total, &present));
	TRY(get_string(d, data, "data", "currency", F_REQUIRED, &op->currency));
	if (strlen(op->currency) != 3 || op->currency[0] < 'A' ||
	    op->currency[0] > 'Z' || op->currency[1] < 'A' ||
	    op->currency[1] > 'Z' || op->currency[2] < 'A' ||
	    op->currency[2] > 'Z')
		return reject(d, LY_REJECT_BAD_VALUE,
			      "data.currency: must be a 3-letter uppercase code such as \"TRY\", got %s",
			      quote(q, sizeof(q), op->currency));
	TRY(decode_items(d, data, op));
	TRY(decode_coupons(d, data, op));
	return 0;
}

static int decode_refund(dec_t *d, const cJSON *data, int with_amount,
			 ly_order_refund_t *r)
{
	TRY(get_string(d, data, "data", "order_id", F_REQUIRED | F_ID,
		       &r->order_id));
	if (with_amount)
		TRY(get_int(d, data, "data", "amount", 0, 1, SAFE_INT_MAX,
			    "an integer > 0", &r->amount, &r->has_amount));
	return 0;
}

static int decode_review(dec_t *d, const cJSON *data, ly_review_t *r)
{
	ly_tristate_t b;
	int present;

	TRY(get_string(d, data, "data", "review_id", F_REQUIRED | F_ID,
		       &r->review_id));
	TRY(get_string(d, data, "data", "product_id", F_REQUIRED | F_ID,
		       &r->product_id));
	TRY(get_int(d, data, "data", "rating", F_REQUIRED, 1, 5,
		    "an integer between 1 and 5", &r->rating, &present));
	TRY(get_bool(d, data, "data", "verified_purchase", F_REQUIRED, &b));
	r->verified_purchase = b == LY_TRUE;
	TRY(get_bool(d, data, "data", "has_photo", F_REQUIRED, &b));
	r->has_photo = b == LY_TRUE;
	TRY(get_int(d, data, "data", "text_length", F_REQUIRED, 0, SAFE_INT_MAX,
		    "an integer >= 0", &r->text_length, &present));
	return 0;
}

static int decode_social(dec_t *d, const cJSON *data, ly_social_t *s)
{
	static const char *const platforms[] = {
		"instagram", "tiktok", "x", "facebook", "youtube", "other", NULL};
	static const char *const actions[] = {
		"follow", "share", "like", "comment", "mention", "ugc", NULL};

	TRY(get_string(d, data, "data", "interaction_id", F_REQUIRED | F_ID,
		       &s->interaction_id));
	TRY(get_enum(d, data, "data", "platform", F_REQUIRED, platforms,
		     "instagram, tiktok, x, facebook, youtube, other",
		     &s->platform));
	TRY(get_enum(d, data, "data", "action", F_REQUIRED, actions,
		     "follow, share, like, comment, mention, ugc", &s->action));
	TRY(get_string(d, data, "data", "url", F_NONEMPTY, &s->url));
	return 0;
}

static int decode_survey(dec_t *d, const cJSON *data, ly_survey_t *s)
{
	int present;

	TRY(get_string(d, data, "data", "survey_id", F_REQUIRED | F_ID,
		       &s->survey_id));
	TRY(get_int(d, data, "data", "nps", 0, 0, 10,
		    "an integer between 0 and 10", &s->nps, &present));
	if (!present)
		s->nps = -1;
	TRY(get_int(d, data, "data", "csat", 0, 1, 5,
		    "an integer between 1 and 5", &s->csat, &present));
	if (!present)
		s->csat = -1;
	return 0;
}

static int decode_redeem(dec_t *d, const cJSON *data, ly_redeem_t *r)
{
	TRY(get_string(d, data, "data", "request_id", F_REQUIRED | F_ID,
		       &r->request_id));
	TRY(get_string(d, data, "data", "reward", F_REQUIRED | F_ID,
		       &r->reward));
	return 0;
}

static int decode_adjust(dec_t *d, const cJSON *data, ly_adjust_t *a)
{
	int present;

	TRY(get_string(d, data, "data", "request_id", F_REQUIRED | F_ID,
		       &a->request_id));
	TRY(get_int(d, data, "data", "points", F_REQUIRED, -SAFE_INT_MAX,
		    SAFE_INT_MAX, "a non-zero integer", &a->points, &present));
	if (a->points == 0)
		return reject(d, LY_REJECT_BAD_VALUE,
			      "data.points: must be a non-zero integer, got 0");
	TRY(get_string(d, data, "data", "reason", F_REQUIRED | F_NONEMPTY,
		       &a->reason));
	return 0;
}

static const char *const segments[] = {"new", "active", "at_risk", "lost",
				       NULL};

static int decode_trigger(dec_t *d, const cJSON *data, ly_event_t *ev)
{
	int present, y, m, dd;
	const char *date;
	char q[QUOTE_BYTES];
	switch (ev->trigger) {
	case LY_TRIGGER_BIRTHDAY:
		return 0;
	case LY_TRIGGER_SEGMENT_CHANGED:
		TRY(get_enum(d, data, "data", "from", F_REQUIRED, segments,
			     "new, active, at_risk, lost", &ev->u.change.from));
		return get_enum(d, data, "data", "to", F_REQUIRED, segments,
				"new, active, at_risk, lost", &ev->u.change.to);
	case LY_TRIGGER_TIER_CHANGED:
		TRY(get_string(d, data, "data", "from", F_REQUIRED,
			       &ev->u.change.from));
		return get_string(d, data, "data", "to", F_REQUIRED,
				  &ev->u.change.to);
	case LY_TRIGGER_REFERRAL_QUALIFIED:
		return get_string(d, data, "data", "referred", F_REQUIRED | F_ID,
				  &ev->u.referral.referred);
	case LY_TRIGGER_POINTS_EXPIRING:
		TRY(get_int(d, data, "data", "points", F_REQUIRED, 1, SAFE_INT_MAX,
			    "an integer >= 1", &ev->u.expiring.points, &present));
		TRY(get_string(d, data, "data", "date", F_REQUIRED, &date));
		if (ly_date_parse(date, &y, &m, &dd))
			return reject(d, LY_REJECT_BAD_VALUE,
				      "data.date: must be a date YYYY-MM-DD, got %s",
				      quote(q, sizeof(q), date));
		ev->u.expiring.date_day = ly_days_from_civil(y, m, dd);
		return 0;
	case LY_TRIGGER_NONE:
	case LY_TRIGGER__COUNT:
		break;
	}
	LY_ASSERT(!"trigger out of range");
	return LY_ERR;
}

static int decode_data(dec_t *d, const cJSON *data, ly_event_t *ev)
{
	TRY(get_string(d, data, "data", "customer_id", F_REQUIRED | F_ID,
		       &ev->customer_id));
	switch (ev->type) {
	case LY_EV_CUSTOMER_REGISTERED:
	case LY_EV_CUSTOMER_UPDATED:
		return decode_customer(d, data, &ev->u.customer);
	case LY_EV_ORDER_PAID:
		return decode_order_paid(d, data, &ev->u.order_paid);
	case LY_EV_ORDER_REFUNDED:
		return decode_refund(d, data, 1, &ev->u.refund);
	case LY_EV_ORDER_CANCELLED:
		return decode_refund(d, data, 0, &ev->u.refund);
	case LY_EV_REVIEW_SUBMITTED:
		return decode_review(d, data, &ev->u.review);
	case LY_EV_SOCIAL_INTERACTION:
		return decode_social(d, data, &ev->u.social);
	case LY_EV_SURVEY_COMPLETED:
		return decode_survey(d, data, &ev->u.survey);
	case LY_EV_POINTS_REDEEM:
		return decode_redeem(d, data, &ev->u.redeem);
	case LY_EV_POINTS_ADJUST:
		return decode_adjust(d, data, &ev->u.adjust);
	case LY_EV__COUNT:
		return decode_trigger(d, data, ev);
	}
	LY_ASSERT(!"event type out of range");
	return LY_ERR;
}

/* ---- envelope ---- */

enum {
	A_SPECVERSION,
	A_ID,
	A_SOURCE,
	A_TYPE,
	A_TIME,
	A_CONTENT_TYPE,
	A__COUNT
};

static const char *const attr_json[A__COUNT] = {
	"specversion", "id", "source", "type", "time", "datacontenttype"};
static const char *const attr_header[A__COUNT] = {
	"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time",
	"content-type"};

/* Binary mode: the attribute headers, NUL-terminated arena copies. */
typedef struct bin_attrs {
	const char *value[A__COUNT]; /* NULL: header absent or null */
} bin_attrs_t;

static int ascii_casecmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y - 'A' + 'a');
		if (x != y || !x)
			return x - y;
	}
}

static int header_is(const ly_header_t *h, int attr)
{
	if (!h->key)
		return 0;
	if (attr == A_CONTENT_TYPE)
		return ascii_casecmp(h->key, attr_header[attr]) == 0;
	return strcmp(h->key, attr_header[attr]) == 0;
}

static int binary_mode(const ly_header_t *headers, size_t headers_len)
{
	for (size_t i = 0; i < headers_len; i++) {
		if (header_is(&headers[i], A_SPECVERSION))
			return 1;
	}
	return 0;
}

/* Step 2 for binary mode: each attribute header once, UTF-8, no NUL. */
static int read_headers(dec_t *d, const ly_header_t *headers,
			size_t headers_len, bin_attrs_t *ba)
{
	for (int a = 0; a < A__COUNT; a++) {
		const ly_header_t *h = NULL;
		const char *v;

		for (size_t i = 0; i < headers_len; i++) {
			if (!header_is(&headers[i], a))
				continue;
			if (h)
				return reject(d, LY_REJECT_BAD_VALUE,
					      "%s: header appears more than once",
					      attr_header[a]);
			h = &headers[i];
		}
		if (!h || !h->value)
			continue;
		v = h->value;
		if (h->value_len > LY_EVENT_STRING_MAX_BYTES)
			return reject(d, LY_REJECT_STRING_TOO_LONG,
				      "%s: header is %zu bytes, over the limit of %d",
				      attr_header[a], h->value_len,
				      LY_EVENT_STRING_MAX_BYTES);
		if (!ly_utf8_valid(v, h->value_len))
			return reject(d, LY_REJECT_NOT_UTF8,
				      "%s: header is not valid UTF-8",
				      attr_header[a]);
		if (memchr(v, '\0', h->value_len))
			return reject(d, LY_REJECT_BAD_VALUE,
				      "%s: header contains a NUL byte",
				      attr_header[a]);
		ba->value[a] = ly_arena_strndup(d->arena, v, h->value_len);
		if (!ba->value[a])
			return nomem(d);
	}
	return 0;
}

/*
 * One envelope attribute, from the JSON root in structured mode (ba NULL)
 * or from its header in binary mode. *name is set for messages.
 */
static int attr(dec_t *d, const cJSON *root, const bin_attrs_t *ba, int a,
		unsigned flags, const char **name, const char **out)
{
	*out = NULL;
	if (!ba) {
		*name = attr_json[a];
		return get_string(d, root, "", attr_json[a], flags, out);
	}
	*name = attr_header[a];
	if (!ba->value[a]) {
		if (flags & F_REQUIRED)
			return reject(d, LY_REJECT_MISSING_FIELD, "%s: missing",
				      attr_header[a]);
		return 0;
	}
	return check_string(d, attr_header[a], ba->value[a], flags, out);
}

/* "application/json", optionally with parameters. */
static int is_json_media_type(const char *s)
{
	static const char json[] = "application/json";
	char head[sizeof(json)];
	size_t n = strlen(json);

	if (strlen(s) < n)
		return 0;
	memcpy(head, s, n);
	head[n] = '\0';
	if (ascii_casecmp(head, json) != 0)
		return 0;
	return s[n] == '\0' || s[n] == ';' || s[n] == ' ' || s[n] == '\t';
}

static int decode_envelope(dec_t *d, const cJSON *root, const bin_attrs_t *ba,
			   ly_event_t *ev, const cJSON **data)
{
	const char *name, *s;
	char q[QUOTE_BYTES];

	TRY(attr(d, root, ba, A_SPECVERSION, F_REQUIRED | F_BORROW, &name, &s));
	if (strcmp(s, "1.0") != 0)
		return reject(d, LY_REJECT_BAD_SPECVERSION,
			      "%s: unsupported version %s, expected \"1.0\"", name,
			      quote(q, sizeof(q), s));
	TRY(attr(d, root, ba, A_ID, F_REQUIRED | F_ID, &name, &ev->id));
	TRY(attr(d, root, ba, A_SOURCE, F_REQUIRED | F_NONEMPTY, &name,
		 &ev->source));
	TRY(attr(d, root, ba, A_TYPE, F_REQUIRED | F_BORROW, &name, &s));
	if (d->triggers && ly_trigger_parse(s, &ev->trigger) == 0)
		ev->type = LY_EV__COUNT;
	else if (ly_event_type_parse(s, &ev->type))
		return reject(d, LY_REJECT_UNKNOWN_TYPE,
			      "%s: unknown event type %s", name,
			      quote(q, sizeof(q), s));
	TRY(attr(d, root, ba, A_TIME, F_REQUIRED | F_BORROW, &name, &s));
	/* ly_time_parse_rfc3339 also takes "2026-11-22 10:00:00Z"; RFC 3339
	 * section 5.6 (and the schemas' date-time) want the 'T'. */
	if (ly_time_parse_rfc3339(s, &ev->time_us) || s[10] == ' ')
		return reject(d, LY_REJECT_BAD_VALUE,
			      "%s: invalid RFC 3339 timestamp %s", name,
			      quote(q, sizeof(q), s));
	TRY(attr(d, root, ba, A_CONTENT_TYPE, F_BORROW, &name, &s));
	if (s && !is_json_media_type(s))
		return reject(d, LY_REJECT_BAD_VALUE,
			      "%s: unsupported content type %s, expected \"application/json\"",
			      name, quote(q, sizeof(q), s));
	if (ba) {
		*data = root;
		return 0;
	}
	return get_container(d, root, "", "data", F_REQUIRED, cJSON_Object,
			     data);
}

/* ---- entry point ---- */

static int decode(ly_event_t *out, ly_reject_t *why, char *errstr,
		  size_t errstr_size, const void *value, size_t value_len,
		  const ly_header_t *headers, size_t headers_len, int triggers,
		  ly_arena_t *arena)
{
	dec_t d = {arena, why, errstr, errstr_size, triggers};
	bin_attrs_t ba = {{NULL}};
	walk_frame_t root_frame = {NULL, NULL, 0};
	cJSON *root = NULL;
	const cJSON *data = NULL;
	const char *end = NULL;
	const char *text = value;
	ly_event_t ev;
	int binary;
	int rc;

	LY_ASSERT(out && why && arena);
	LY_ASSERT(value || value_len == 0);
	LY_ASSERT(headers || headers_len == 0);
	memset(out, 0, sizeof(*out));
	memset(&ev, 0, sizeof(ev));
	*why = LY_REJECT_NONE;
	if (errstr && errstr_size)
		errstr[0] = '\0';

	if (value_len > LY_EVENT_MESSAGE_MAX_BYTES) {
		rc = reject(&d, LY_REJECT_TOO_LARGE,
			    "message is %zu bytes, over the limit of %d",
			    value_len, LY_EVENT_MESSAGE_MAX_BYTES);
		goto out;
	}
	if (!ly_utf8_valid(text, value_len)) {
		rc = reject(&d, LY_REJECT_NOT_UTF8,
			    "message value is not valid UTF-8");
		goto out;
	}
	binary = binary_mode(headers, headers_len);
	if (binary) {
		rc = read_headers(&d, headers, headers_len, &ba);
		if (rc)
			goto out;
		root_frame.key = "data";
	}
	if (value_len == 0) {
		rc = reject(&d, LY_REJECT_BAD_JSON, "message value is empty");
		goto out;
	}
	rc = json_scan(&d, (const unsigned char *)text, value_len);
	if (rc)
		goto out;
	root = cJSON_ParseWithLengthOpts(text, value_len, &end, 0);
	if (!root) {
		/* The scan passed, so this is the grammar (or cJSON's memory). */
		rc = reject(&d, LY_REJECT_BAD_JSON, "invalid JSON at byte %zu",
			    end ? (size_t)(end - text) : (size_t)0);
		goto out;
	}
	while ((size_t)(end - text) < value_len &&
	       (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if ((size_t)(end - text) != value_len) {
		rc = reject(&d, LY_REJECT_BAD_JSON,
			    "invalid JSON at byte %zu: data after the end of the value",
			    (size_t)(end - text));
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		rc = reject(&d, LY_REJECT_BAD_JSON, "%s must be a JSON object, got %s",
			    binary ? "message value (data)" : "message",
			    json_type_name(root));
		goto out;
	}
	rc = walk(&d, root, binary ? &root_frame : NULL);
	if (rc)
		goto out;
	rc = decode_envelope(&d, root, binary ? &ba : NULL, &ev, &data);
	if (rc)
		goto out;
	rc = decode_data(&d, data, &ev);
	if (rc)
		goto out;
	*out = ev;
out:
	cJSON_Delete(root);
	return rc;
}

int ly_event_decode(ly_event_t *out, ly_reject_t *why, char *errstr,
		    size_t errstr_size, const void *value, size_t value_len,
		    const ly_header_t *headers, size_t headers_len,
		    ly_arena_t *arena)
{
	return decode(out, why, errstr, errstr_size, value, value_len, headers,
		      headers_len, 0, arena);
}

int ly_event_decode_trigger(ly_event_t *out, ly_reject_t *why, char *errstr,
			    size_t errstr_size, const void *value,
			    size_t value_len, ly_arena_t *arena)
{
	return decode(out, why, errstr, errstr_size, value, value_len, NULL, 0,
		      1, arena);
}
