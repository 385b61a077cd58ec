/*
 * program.c: loads the shop's program file (SPEC section 5, the subset
 * described in docs/program.md) into an immutable ly_program_t.
 *
 * The loader is strict on purpose: every key must be known, every value
 * must have the right type and bounds, or the whole file is refused with
 * "file:line:col: message". A rule is never silently half-understood. The
 * YAML tree lives in a scratch arena that is gone when the loader returns;
 * the program owns malloc'd copies of what it keeps. Time zones are checked
 * against the system's tz database under /usr/share/zoneinfo.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "loyalty/program.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loyalty/event.h"
#include "loyalty/util.h"
#include "yamlwalk.h"

#define LY_PROGRAM_NAME_MAX_BYTES 128
#define LY_PROGRAM_TIMEZONE_MAX_BYTES 128
#define LY_PROGRAM_DAYS_MAX 3650
#define LY_EARN_POINTS_MAX INT64_C(1000000000)
#define LY_EARN_PER_MAX INT64_C(1000000000000)
#define LY_ZONEINFO_DIR "/usr/share/zoneinfo"

typedef struct loader {
	const char *name; /* the path or name used in messages */
	char *errstr;
	size_t errstr_size;
	ly_program_t *program;
} loader_t;

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

static int nomem(loader_t *ld)
{
	snprintf(ld->errstr, ld->errstr_size, "%s: out of memory", ld->name);
	return LY_ENOMEM;
}

/* Checks that node is a mapping; what names it in the message. */
static int expect_map(loader_t *ld, const yw_node_t *n, const char *what)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind == YW_MAP)
		return 0;
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: expected a mapping, got %s", what,
		      yw_describe(d, sizeof(d), n));
}

static int missing(loader_t *ld, const yw_node_t *map, const char *key)
{
	return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
		      "missing key \"%s\"", key);
}

/* A non-null, non-empty scalar of at most max bytes, as a malloc'd copy
 * in *out (freeing what *out held). */
static int get_string(loader_t *ld, const yw_node_t *n, const char *what,
		      size_t max, char **out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind != YW_SCALAR || yw_is_null(n))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: expected a string, got %s", what,
			      yw_describe(d, sizeof(d), n));
	if (n->len == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must not be empty", what);
	if (n->len > max)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: longer than %zu bytes", what, max);
	char *s = dup_n(n->str, n->len);
	if (!s)
		return nomem(ld);
	free(*out);
	*out = s;
	return 0;
}

/* A plain decimal integer in [min, max]. A quoted "5" is a string, not
 * an integer: the file's types are what YAML says they are. */
static int get_int(loader_t *ld, const yw_node_t *n, const char *what,
		   int64_t min, int64_t max, int64_t *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	int64_t v;
	if (n->kind == YW_SCALAR && !n->quoted &&
	    yw_parse_i64(n->str, n->len, &v) == 0 && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	if (n->kind == YW_SCALAR && n->quoted &&
	    yw_parse_i64(n->str, n->len, &v) == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
			      "%s: must be an integer, not a quoted string", what);
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be an integer between %lld and %lld, got %s",
		      what, (long long)min, (long long)max,
		      yw_describe(d, sizeof(d), n));
}

static int get_bool(loader_t *ld, const yw_node_t *n, const char *what,
		    int *out)
{
	char d[YW_QUOTE_MAX_BYTES + 8];
	if (n->kind == YW_SCALAR && !n->quoted) {
		if (strcmp(n->str, "true") == 0) {
			*out = 1;
			return 0;
		}
		if (strcmp(n->str, "false") == 0) {
			*out = 0;
			return 0;
		}
	}
	return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
		      "%s: must be true or false, got %s", what,
		      yw_describe(d, sizeof(d), n));
}

/*
 * 1 when tz names a TZif file under LY_ZONEINFO_DIR. Only the characters
 * of IANA names are allowed, so no "..", no absolute path and none of the
 * directory's other files (zone.tab, tzdata.zi) can be named.
 */
static int timezone_exists(const char *tz)
{
	char path[sizeof(LY_ZONEINFO_DIR) + LY_PROGRAM_TIMEZONE_MAX_BYTES + 2];
	size_t n = strlen(tz);
	struct stat st;
	unsigned char magic[4];
	int fd, ok = 0;

	if (n == 0 || n > LY_PROGRAM_TIMEZONE_MAX_BYTES || tz[0] == '/' ||
	    tz[n - 1] == '/')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = tz[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-' ||
		      c == '+'))
			return 0;
		if (c == '/' && tz[i + 1] == '/')
			return 0;
	}
	snprintf(path, sizeof(path), "%s/%s", LY_ZONEINFO_DIR, tz);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, "TZif", 4) == 0)
		ok = 1;
	close(fd);
	return ok;
}

static int load_program_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_NAME, F_CURRENCY, F_TIMEZONE, F_LOCALE, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_NAME] = {"name"},
		[F_CURRENCY] = {"currency"},
		[F_TIMEZONE] = {"timezone"},
		[F_LOCALE] = {"locale"},
	};
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "program")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_NAME].value)
		return missing(ld, map, "name");
	if ((rc = get_string(ld, f[F_NAME].value, "program.name",
			     LY_PROGRAM_NAME_MAX_BYTES, &p->name)))
		return rc;
	for (const char *c = p->name; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      f[F_NAME].value,
				      "program.name: control characters are not allowed");

	if (f[F_CURRENCY].value) {
		const yw_node_t *n = f[F_CURRENCY].value;
		if ((rc = get_string(ld, n, "program.currency", 64, &p->currency)))
			return rc;
		if (strlen(p->currency) != 3 || p->currency[0] < 'A' ||
		    p->currency[0] > 'Z' || p->currency[1] < 'A' ||
		    p->currency[1] > 'Z' || p->currency[2] < 'A' ||
		    p->currency[2] > 'Z')
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.currency: must be three capital letters (ISO 4217), got %s",
				      yw_describe(d, sizeof(d), n));
	}
	if (f[F_TIMEZONE].value) {
		const yw_node_t *n = f[F_TIMEZONE].value;
		if ((rc = get_string(ld, n, "program.timezone",
				     LY_PROGRAM_TIMEZONE_MAX_BYTES, &p->timezone)))
			return rc;
		if (!timezone_exists(p->timezone))
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.timezone: unknown time zone %s",
				      yw_describe(d, sizeof(d), n));
	}
	if (f[F_LOCALE].value) {
		const yw_node_t *n = f[F_LOCALE].value;
		if ((rc = get_string(ld, n, "program.locale", 64, &p->locale)))
			return rc;
		if (strcmp(p->locale, "tr") != 0 && strcmp(p->locale, "en") != 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "program.locale: must be \"tr\" or \"en\", got %s",
				      yw_describe(d, sizeof(d), n));
	}
	return 0;
}

static int load_points_section(loader_t *ld, const yw_node_t *map)
{
	enum { F_PENDING, F_EXPIRE, F_REMINDER, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_PENDING] = {"pending_days"},
		[F_EXPIRE] = {"expire_days"},
		[F_REMINDER] = {"expiry_reminder_days"},
	};
	static const char *const what[F__COUNT] = {
		"points.pending_days", "points.expire_days",
		"points.expiry_reminder_days"};
	int64_t *dst[F__COUNT] = {&ld->program->pending_days,
				  &ld->program->expire_days,
				  &ld->program->expiry_reminder_days};
	int rc;

	if ((rc = expect_map(ld, map, "points")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	for (size_t i = 0; i < F__COUNT; i++)
		if (f[i].value &&
		    (rc = get_int(ld, f[i].value, what[i], 0, LY_PROGRAM_DAYS_MAX,
				  dst[i])))
			return rc;
	return 0;
}

static int load_earn(loader_t *ld, ly_rule_t *rule, const yw_node_t *map)
{
	enum { F_POINTS, F_PER, F_OF, F_PENDING, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_POINTS] = {"points"},
		[F_PER] = {"per"},
		[F_OF] = {"of"},
		[F_PENDING] = {"pending"},
	};
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if ((rc = expect_map(ld, map, "earn")))
		return rc;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_POINTS].value)
		return missing(ld, map, "points");
	if ((rc = get_int(ld, f[F_POINTS].value, "earn.points", 1,
			  LY_EARN_POINTS_MAX, &rule->earn_points)))
		return rc;
	if (f[F_PER].value &&
	    (rc = get_int(ld, f[F_PER].value, "earn.per", 1, LY_EARN_PER_MAX,
			  &rule->earn_per)))
		return rc;
	if (f[F_OF].value) {
		const yw_node_t *n = f[F_OF].value;
		if (n->kind == YW_SCALAR && n->quoted)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "earn.of: must be the field order.total, not a quoted string");
		if (!yw_eq(n, "order.total"))
			return yw_err(ld->errstr, ld->errstr_size, ld->name, n,
				      "earn.of: must be order.total, got %s",
				      yw_describe(d, sizeof(d), n));
	}
	if (f[F_PENDING].value &&
	    (rc = get_bool(ld, f[F_PENDING].value, "earn.pending",
			   &rule->earn_pending)))
		return rc;
	if (f[F_OF].value && !f[F_PER].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_OF].key_node, "\"of\" needs \"per\"");
	if (f[F_PER].value && !f[F_OF].value)
		return yw_err(ld->errstr, ld->errstr_size, ld->name,
			      f[F_PER].key_node, "\"per\" needs \"of\"");
	if (f[F_OF].value) {
		if (rule->on != LY_EV_ORDER_PAID)
			return yw_err(ld->errstr, ld->errstr_size, ld->name,
				      f[F_OF].value,
				      "\"of: order.total\" needs \"on: order.paid\"");
		rule->earn_of = LY_OF_ORDER_TOTAL;
	}
	rule->has_earn = 1;
	return 0;
}

static int rule_id_valid(const char *s, size_t n)
{
	if (n == 0 || n > LY_PROGRAM_ID_MAX_BYTES)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 (i > 0 && (c == '_' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

static int load_rule(loader_t *ld, size_t idx, const yw_node_t *map)
{
	enum { F_ID, F_ON, F_EARN, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_ID] = {"id"},
		[F_ON] = {"on"},
		[F_EARN] = {"earn"},
	};
	ly_program_t *p = ld->program;
	ly_rule_t *rule = &p->rules[idx];
	char d[YW_QUOTE_MAX_BYTES + 8];
	int rc;

	if (map->kind != YW_MAP)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
			      "rules[%zu]: expected a mapping, got %s", idx,
			      yw_describe(d, sizeof(d), map));
	rule->line = map->line;
	rule->col = map->col;
	rule->earn_pending = -1;
	if ((rc = yw_map_fields(map, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_ID].value)
		return missing(ld, map, "id");
	if (!f[F_ON].value)
		return missing(ld, map, "on");
	if (!f[F_EARN].value)
		return missing(ld, map, "earn");

	const yw_node_t *id = f[F_ID].value;
	if (id->kind != YW_SCALAR || yw_is_null(id) ||
	    !rule_id_valid(id->str, id->len))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, id,
			      "id: must be 1 to %d characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got %s",
			      LY_PROGRAM_ID_MAX_BYTES, yw_describe(d, sizeof(d), id));
	for (size_t i = 0; i < idx; i++)
		if (strcmp(p->rules[i].id, id->str) == 0)
			return yw_err(ld->errstr, ld->errstr_size, ld->name, map,
				      "duplicate rule id \"%s\" (first at %d:%d)",
				      id->str, p->rules[i].line, p->rules[i].col);
	if (!(rule->id = dup_n(id->str, id->len)))
		return nomem(ld);

	const yw_node_t *on = f[F_ON].value;
	if (on->kind != YW_SCALAR || yw_is_null(on))
		return yw_err(ld->errstr, ld->errstr_size, ld->name, on,
			      "on: expected an event type, got %s",
			      yw_describe(d, sizeof(d), on));
	if (ly_event_type_parse(on->str, &rule->on) != 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, on,
			      "on: unknown event type %s",
			      yw_describe(d, sizeof(d), on));

	return load_earn(ld, rule, f[F_EARN].value);
}

static int load_rules(loader_t *ld, const yw_node_t *seq)
{
	ly_program_t *p = ld->program;
	char d[YW_QUOTE_MAX_BYTES + 8];
	size_t i = 0;
	int rc;

	if (seq->kind != YW_SEQ)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, seq,
			      "rules: expected a sequence, got %s",
			      yw_describe(d, sizeof(d), seq));
	if (seq->count == 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, seq,
			      "rules: must have at least one rule");
	if (seq->count > LY_PROGRAM_RULES_MAX)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, seq,
			      "rules: more than %d rules", LY_PROGRAM_RULES_MAX);
	p->rules = calloc(seq->count, sizeof(*p->rules));
	if (!p->rules)
		return nomem(ld);
	for (const yw_node_t *n = seq->first; n; n = n->next, i++) {
		/* counted before loading so destroy frees a half-loaded rule */
		p->rules_len = i + 1;
		if ((rc = load_rule(ld, i, n)))
			return rc;
	}
	return 0;
}

static int load_root(loader_t *ld, const yw_node_t *root)
{
	enum { F_VERSION, F_PROGRAM, F_POINTS, F_RULES, F__COUNT };
	yw_field_t f[F__COUNT] = {
		[F_VERSION] = {"version"},
		[F_PROGRAM] = {"program"},
		[F_POINTS] = {"points"},
		[F_RULES] = {"rules"},
	};
	char d[YW_QUOTE_MAX_BYTES + 8];
	int64_t version;
	int rc;

	if (root->kind != YW_MAP)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, root,
			      "expected a mapping at the top level, got %s",
			      yw_describe(d, sizeof(d), root));
	if ((rc = yw_map_fields(root, f, F__COUNT, ld->name, ld->errstr,
				ld->errstr_size)))
		return rc;
	if (!f[F_VERSION].value)
		return missing(ld, root, "version");
	const yw_node_t *v = f[F_VERSION].value;
	if (v->kind != YW_SCALAR || v->quoted ||
	    yw_parse_i64(v->str, v->len, &version) != 0)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, v,
			      "version: must be the integer 1, got %s",
			      yw_describe(d, sizeof(d), v));
	if (version != 1)
		return yw_err(ld->errstr, ld->errstr_size, ld->name, v,
			      "version: unsupported version %lld (this loyaltyd reads version 1)",
			      (long long)version);
	if (!f[F_PROGRAM].value)
		return missing(ld, root, "program");
	if ((rc = load_program_section(ld, f[F_PROGRAM].value)))
		return rc;
	if (f[F_POINTS].value &&
	    (rc = load_points_section(ld, f[F_POINTS].value)))
		return rc;
	if (!f[F_RULES].value)
		return missing(ld, root, "rules");
	return load_rules(ld, f[F_RULES].value);
}

static int set_default(char **field, const char *value)
{
	if (*field)
		return 0;
	*field = dup_n(value, strlen(value));
	return *field ? 0 : LY_ENOMEM;
}

int ly_program_load_buf(ly_program_t **out, const char *name, const char *buf,
			size_t len, char *errstr, size_t errstr_size)
{
	loader_t ld = {.name = name, .errstr = errstr, .errstr_size = errstr_size};
	ly_arena_t *arena = NULL;
	yw_node_t *root = NULL;
	char hex[65];
	int rc;

	*out = NULL;
	if (errstr_size)
		errstr[0] = '\0';
	if (len > LY_PROGRAM_FILE_MAX_BYTES) {
		snprintf(errstr, errstr_size, "%s: file is larger than %d bytes",
			 name, LY_PROGRAM_FILE_MAX_BYTES);
		return LY_EINVAL;
	}
	ld.program = calloc(1, sizeof(*ld.program));
	arena = ly_arena_new(64 * 1024);
	if (!ld.program || !arena) {
		rc = nomem(&ld);
		goto out;
	}
	if ((rc = yw_parse(&root, arena, name, buf, len, errstr, errstr_size)))
		goto out;
	if (!root) {
		rc = yw_err_at(errstr, errstr_size, name, 1, 1, "file is empty");
		goto out;
	}
	if ((rc = load_root(&ld, root)))
		goto out;

	ly_program_t *p = ld.program;
	if (!(p->path = dup_n(name, strlen(name))) ||
	    set_default(&p->currency, "TRY") ||
	    set_default(&p->timezone, "Europe/Istanbul") ||
	    set_default(&p->locale, "tr")) {
		rc = nomem(&ld);
		goto out;
	}
	ly_sha256_hex(buf, len, hex);
	memcpy(p->version, hex, 16);
	p->version[16] = '\0';
	*out = p;
	ld.program = NULL;
out:
	ly_program_destroy(ld.program);
	ly_arena_destroy(arena);
	return rc;
}

int ly_program_load(ly_program_t **out, const char *path, char *errstr,
		    size_t errstr_size)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if ((rc = ly_read_file(path, LY_PROGRAM_FILE_MAX_BYTES, &buf, &len, errstr,
			       errstr_size)))
		return rc;
	rc = ly_program_load_buf(out, path, buf, len, errstr, errstr_size);
	free(buf);
	return rc;
}

void ly_program_destroy(ly_program_t *program)
{
	if (!program)
		return;
	for (size_t i = 0; i < program->rules_len; i++)
		free(program->rules[i].id);
	free(program->rules);
	free(program->path);
	free(program->name);
	free(program->currency);
	free(program->timezone);
	free(program->locale);
	free(program);
}

int ly_rule_is_pending(const ly_program_t *program, const ly_rule_t *rule)
{
	if (rule->earn_pending >= 0)
		return rule->earn_pending;
	return rule->on == LY_EV_ORDER_PAID && program->pending_days > 0;
}
