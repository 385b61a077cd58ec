/*
 * program_test.c: the program loader (lib/program): a complete file from
 * disk with every field checked, the defaults, ly_rule_is_pending, and
 * each way a file is refused, with the exact "name:line:col: message".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/util.h"

#ifndef LY_SOURCE_DIR
#define LY_SOURCE_DIR "."
#endif

#define DATA_DIR LY_SOURCE_DIR "/tests/unit/data/program"

/* Loads yaml as "prog.yaml" and checks it is refused with exactly want. */
static void assert_refused(const char *yaml, const char *want)
{
	char err[512];
	ly_program_t *p = (ly_program_t *)(uintptr_t)1;
	int rc = ly_program_load_buf(&p, "prog.yaml", yaml, strlen(yaml), err,
				     sizeof(err));
	if (rc != LY_EINVAL || strcmp(err, want) != 0)
		print_error("yaml:\n%s\nwant: %s\ngot:  %s (rc %d)\n", yaml, want,
			    err, rc);
	assert_int_equal(rc, LY_EINVAL);
	assert_null(p);
	assert_string_equal(err, want);
}

static ly_program_t *load_ok(const char *yaml)
{
	char err[512] = "";
	ly_program_t *p = NULL;
	int rc = ly_program_load_buf(&p, "prog.yaml", yaml, strlen(yaml), err,
				     sizeof(err));
	if (rc != 0)
		print_error("unexpected error: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(p);
	return p;
}

static void test_good_file(void **state)
{
	(void)state;
	const char *path = DATA_DIR "/good.yaml";
	char err[512] = "";
	ly_program_t *p = NULL;
	char *bytes = NULL;
	size_t len = 0;
	char hex[65];

	assert_int_equal(ly_program_load(&p, path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_non_null(p);
	assert_string_equal(p->path, path);
	assert_int_equal(ly_read_file(path, 1 << 20, &bytes, &len, err,
				      sizeof(err)), 0);
	ly_sha256_hex(bytes, len, hex);
	hex[16] = '\0';
	assert_string_equal(p->version, hex);
	free(bytes);

	assert_string_equal(p->name, "Acme Outdoor");
	assert_string_equal(p->currency, "EUR");
	assert_string_equal(p->timezone, "Europe/Berlin");
	assert_string_equal(p->locale, "en");
	assert_int_equal(p->pending_days, 14);
	assert_int_equal(p->expire_days, 365);
	assert_int_equal(p->expiry_reminder_days, 30);
	assert_int_equal(p->rules_len, 3);

	const ly_rule_t *r = &p->rules[0];
	assert_string_equal(r->id, "base-earn");
	assert_int_equal(r->on, LY_EV_ORDER_PAID);
	assert_int_equal(r->has_earn, 1);
	assert_int_equal(r->earn_points, 1);
	assert_int_equal(r->earn_per, 100);
	assert_int_equal(r->earn_of, LY_OF_ORDER_TOTAL);
	assert_int_equal(r->earn_pending, -1);
	assert_int_equal(r->line, 11);
	assert_int_equal(r->col, 5);
	assert_int_equal(ly_rule_is_pending(p, r), 1);

	r = &p->rules[1];
	assert_string_equal(r->id, "photo_review");
	assert_int_equal(r->on, LY_EV_REVIEW_SUBMITTED);
	assert_int_equal(r->has_earn, 1);
	assert_int_equal(r->earn_points, 50);
	assert_int_equal(r->earn_per, 0);
	assert_int_equal(r->earn_of, LY_OF_NONE);
	assert_int_equal(r->earn_pending, 1);
	assert_int_equal(r->line, 14);
	assert_int_equal(r->col, 5);
	assert_int_equal(ly_rule_is_pending(p, r), 1);

	r = &p->rules[2];
	assert_string_equal(r->id, "first-order");
	assert_int_equal(r->on, LY_EV_ORDER_PAID);
	assert_int_equal(r->earn_points, 500);
	assert_int_equal(r->earn_per, 0);
	assert_int_equal(r->earn_of, LY_OF_NONE);
	assert_int_equal(r->earn_pending, 0);
	assert_int_equal(r->line, 17);
	assert_int_equal(r->col, 5);
	assert_int_equal(ly_rule_is_pending(p, r), 0);

	ly_program_destroy(p);
}

static void test_defaults(void **state)
{
	(void)state;
	static const char yaml[] =
		"version: 1\n"
		"program: {name: shop}\n"
		"rules:\n"
		"  - {id: r1, on: review.submitted, earn: {points: 10}}\n";
	char err[256] = "";
	ly_program_t *p = NULL;

	assert_int_equal(ly_program_load_buf(&p, "mini.yaml", yaml,
					     sizeof(yaml) - 1, err, sizeof(err)),
			 0);
	assert_string_equal(p->path, "mini.yaml");
	/* sha256sum of the text above */
	assert_string_equal(p->version, "9114743d2be5b929");
	assert_string_equal(p->name, "shop");
	assert_string_equal(p->currency, "TRY");
	assert_string_equal(p->timezone, "Europe/Istanbul");
	assert_string_equal(p->locale, "tr");
	assert_int_equal(p->pending_days, 0);
	assert_int_equal(p->expire_days, 0);
	assert_int_equal(p->expiry_reminder_days, 0);
	assert_int_equal(p->rules_len, 1);
	assert_string_equal(p->rules[0].id, "r1");
	assert_int_equal(p->rules[0].on, LY_EV_REVIEW_SUBMITTED);
	assert_int_equal(p->rules[0].has_earn, 1);
	assert_int_equal(p->rules[0].earn_points, 10);
	assert_int_equal(p->rules[0].earn_per, 0);
	assert_int_equal(p->rules[0].earn_of, LY_OF_NONE);
	assert_int_equal(p->rules[0].earn_pending, -1);
	assert_int_equal(p->rules[0].line, 4);
	assert_int_equal(p->rules[0].col, 5);
	assert_int_equal(ly_rule_is_pending(p, &p->rules[0]), 0);
	ly_program_destroy(p);
}

static void test_pending(void **state)
{
	(void)state;
	ly_program_t *p = load_ok("version: 1\n"
				  "program: {name: shop}\n"
				  "rules:\n"
				  "  - {id: a, on: order.paid, earn: {points: 1}}\n"
				  "  - {id: b, on: review.submitted, earn: {points: 1, pending: true}}\n");
	/* pending_days 0: nothing waits unless a rule says so */
	assert_int_equal(ly_rule_is_pending(p, &p->rules[0]), 0);
	assert_int_equal(ly_rule_is_pending(p, &p->rules[1]), 1);
	p->pending_days = 14;
	assert_int_equal(ly_rule_is_pending(p, &p->rules[0]), 1);
	ly_program_destroy(p);

	p = load_ok("version: 1\n"
		    "program: {name: shop}\n"
		    "points: {pending_days: 3650, expire_days: 0}\n"
		    "rules:\n"
		    "  - {id: a, on: order.paid, earn: {points: 1, pending: false}}\n"
		    "  - {id: b, on: survey.completed, earn: {points: 1}}\n");
	assert_int_equal(p->pending_days, 3650);
	assert_int_equal(ly_rule_is_pending(p, &p->rules[0]), 0);
	assert_int_equal(ly_rule_is_pending(p, &p->rules[1]), 0);
	ly_program_destroy(p);
}

/* Every rule below is wrong in one place; the base is valid. */
#define HEAD "version: 1\nprogram: {name: acme}\nrules:\n"

static void test_unknown_key(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1}\n"
			    "    if: customer.order_count == 0\n",
		       "prog.yaml:7:5: unknown key \"if\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, tier_multiplier: true}\n",
		       "prog.yaml:6:23: unknown key \"tier_multiplier\"");
	assert_refused("version: 1\nprogram: {name: acme, currencyy: TRY}\n",
		       "prog.yaml:2:23: unknown key \"currencyy\"");
	assert_refused("version: 1\ntiers: {}\n",
		       "prog.yaml:2:1: unknown key \"tiers\"");
}

static void test_wrong_type(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: abc}\n",
		       "prog.yaml:6:20: earn.points: must be an integer between 1 and 1000000000, got \"abc\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: \"5\"}\n",
		       "prog.yaml:6:20: earn.points: must be an integer, not a quoted string");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: 5\n",
		       "prog.yaml:6:11: earn: expected a mapping, got \"5\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, pending: yes}\n",
		       "prog.yaml:6:32: earn.pending: must be true or false, got \"yes\"");
	assert_refused("version: 1\nprogram: [acme]\n",
		       "prog.yaml:2:10: program: expected a mapping, got a sequence");
	assert_refused("version: 1\nprogram: {name: {first: a}}\n",
		       "prog.yaml:2:17: program.name: expected a string, got a mapping");
	assert_refused("version: 1\nprogram: {name: acme}\nrules: {a: 1}\n",
		       "prog.yaml:3:8: rules: expected a sequence, got a mapping");
	assert_refused(HEAD "  - base-earn\n",
		       "prog.yaml:4:5: rules[0]: expected a mapping, got \"base-earn\"");
	assert_refused("version: 1\nprogram: {name: acme}\npoints: {expire_days: -1}\n",
		       "prog.yaml:3:23: points.expire_days: must be an integer between 0 and 3650, got \"-1\"");
	assert_refused("version: 1\nprogram: {name: acme}\npoints: {pending_days: 3651}\n",
		       "prog.yaml:3:24: points.pending_days: must be an integer between 0 and 3650, got \"3651\"");
	assert_refused("version: 1\nprogram: {name: acme}\npoints: {pending_days: 014}\n",
		       "prog.yaml:3:24: points.pending_days: must be an integer between 0 and 3650, got \"014\"");
	assert_refused("version: 1\nprogram: {name: acme}\npoints: {pending_days: 99999999999999999999}\n",
		       "prog.yaml:3:24: points.pending_days: must be an integer between 0 and 3650, got \"99999999999999999999\"");
	assert_refused("version: 1\nprogram: {name: acme, currency: try}\n",
		       "prog.yaml:2:33: program.currency: must be three capital letters (ISO 4217), got \"try\"");
	assert_refused("version: 1\nprogram: {name: acme, locale: de}\n",
		       "prog.yaml:2:31: program.locale: must be \"tr\" or \"en\", got \"de\"");
	assert_refused("version: 1\nprogram: {name: \"\"}\n",
		       "prog.yaml:2:17: program.name: must not be empty");
	assert_refused("version: 1\nprogram: {name: }\n",
		       "prog.yaml:2:17: program.name: expected a string, got null");
}

static void test_duplicate_rule_id(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1}\n"
			    "  - id: base-earn\n"
			    "    on: review.submitted\n"
			    "    earn: {points: 5}\n",
		       "prog.yaml:7:5: duplicate rule id \"base-earn\" (first at 4:5)");
}

static void test_duplicate_key(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    on: review.submitted\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:5: duplicate key \"on\" (first at 5:5)");
	assert_refused("version: 1\nversion: 1\n",
		       "prog.yaml:2:1: duplicate key \"version\" (first at 1:1)");
}

static void test_missing_key(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:4:5: missing key \"on\"");
	assert_refused(HEAD "  - on: order.paid\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:4:5: missing key \"id\"");
	assert_refused(HEAD "  - {id: a, on: order.paid}\n",
		       "prog.yaml:4:5: missing key \"earn\"");
	assert_refused(HEAD "  - {id: a, on: order.paid, earn: {per: 100, of: order.total}}\n",
		       "prog.yaml:4:35: missing key \"points\"");
	assert_refused("program: {name: acme}\nrules: []\n",
		       "prog.yaml:1:1: missing key \"version\"");
	assert_refused("version: 1\nrules: []\n",
		       "prog.yaml:1:1: missing key \"program\"");
	assert_refused("version: 1\nprogram: {currency: TRY}\n",
		       "prog.yaml:2:10: missing key \"name\"");
	assert_refused("version: 1\nprogram: {name: acme}\n",
		       "prog.yaml:1:1: missing key \"rules\"");
	assert_refused("version: 1\nprogram: {name: acme}\nrules: []\n",
		       "prog.yaml:3:8: rules: must have at least one rule");
}

static void test_unknown_event_type(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.payed\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:5:9: on: unknown event type \"order.payed\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: [order.paid]\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:5:9: on: expected an event type, got a sequence");
}

static void test_rule_id(void **state)
{
	(void)state;
	assert_refused(HEAD "  - {id: Base, on: order.paid, earn: {points: 1}}\n",
		       "prog.yaml:4:10: id: must be 1 to 64 characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got \"Base\"");
	assert_refused(HEAD "  - {id: -x, on: order.paid, earn: {points: 1}}\n",
		       "prog.yaml:4:10: id: must be 1 to 64 characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got \"-x\"");
	/* 64 bytes pass, 65 do not */
	ly_program_t *p = load_ok(HEAD "  - {id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, on: order.paid, earn: {points: 1}}\n");
	assert_int_equal(strlen(p->rules[0].id), 64);
	ly_program_destroy(p);
	assert_refused(HEAD "  - {id: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, on: order.paid, earn: {points: 1}}\n",
		       "prog.yaml:4:10: id: must be 1 to 64 characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
}

static void test_of_and_per(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, of: order.total}\n",
		       "prog.yaml:6:23: \"of\" needs \"per\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, per: 100}\n",
		       "prog.yaml:6:23: \"per\" needs \"of\"");
	assert_refused(HEAD "  - id: reviews\n"
			    "    on: review.submitted\n"
			    "    earn: {points: 1, per: 100, of: order.total}\n",
		       "prog.yaml:6:37: \"of: order.total\" needs \"on: order.paid\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, per: 100, of: order.subtotal}\n",
		       "prog.yaml:6:37: earn.of: must be order.total, got \"order.subtotal\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, per: 0, of: order.total}\n",
		       "prog.yaml:6:28: earn.per: must be an integer between 1 and 1000000000000, got \"0\"");
}

static void test_points_bounds(void **state)
{
	(void)state;
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 0}\n",
		       "prog.yaml:6:20: earn.points: must be an integer between 1 and 1000000000, got \"0\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1000000001}\n",
		       "prog.yaml:6:20: earn.points: must be an integer between 1 and 1000000000, got \"1000000001\"");
	ly_program_t *p = load_ok(HEAD "  - {id: a, on: order.paid, earn: {points: 1000000000, per: 1000000000000, of: order.total}}\n");
	assert_int_equal(p->rules[0].earn_points, 1000000000);
	assert_int_equal(p->rules[0].earn_per, INT64_C(1000000000000));
	ly_program_destroy(p);
}

static void test_bad_yaml(void **state)
{
	(void)state;
	assert_refused("version: 1\nprogram: {name: acme\nrules: []\n",
		       "prog.yaml:3:6: invalid YAML: did not find expected ',' or '}' (while parsing a flow mapping at 2:10)");
	assert_refused("version: 1\n  program: x\n",
		       "prog.yaml:2:10: invalid YAML: mapping values are not allowed in this context");
	assert_refused("version: 1\n---\nversion: 1\n",
		       "prog.yaml:2:1: more than one YAML document");
	assert_refused("version: 1\nprogram: {\"name\\0x\": acme}\n",
		       "prog.yaml:2:11: NUL bytes are not allowed");
	assert_refused("version: !!int 1\n",
		       "prog.yaml:1:10: tags are not allowed (\"tag:yaml.org,2002:int\")");
	assert_refused("? [a, b]\n: c\n",
		       "prog.yaml:1:3: mapping keys must be scalars");
}

static void test_alias(void **state)
{
	(void)state;
	assert_refused("version: 1\nprogram: {name: *n}\n",
		       "prog.yaml:2:17: aliases are not allowed (\"*n\")");
	assert_refused("version: 1\n"
		       "a: &a [x, x, x, x, x, x, x, x, x]\n"
		       "b: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
		       "prog.yaml:2:4: anchors are not allowed (\"&a\")");
}

static void test_timezone(void **state)
{
	(void)state;
	assert_refused("version: 1\nprogram: {name: acme, timezone: Europe/Atlantis}\n",
		       "prog.yaml:2:33: program.timezone: unknown time zone \"Europe/Atlantis\"");
	assert_refused("version: 1\nprogram: {name: acme, timezone: ../../../etc/passwd}\n",
		       "prog.yaml:2:33: program.timezone: unknown time zone \"../../../etc/passwd\"");
	assert_refused("version: 1\nprogram: {name: acme, timezone: /etc/localtime}\n",
		       "prog.yaml:2:33: program.timezone: unknown time zone \"/etc/localtime\"");
	assert_refused("version: 1\nprogram: {name: acme, timezone: zone.tab}\n",
		       "prog.yaml:2:33: program.timezone: unknown time zone \"zone.tab\"");
	assert_refused("version: 1\nprogram: {name: acme, timezone: Europe}\n",
		       "prog.yaml:2:33: program.timezone: unknown time zone \"Europe\"");
	ly_program_t *p = load_ok("version: 1\nprogram: {name: acme, timezone: America/Argentina/Buenos_Aires}\n"
				  "rules: [{id: a, on: order.paid, earn: {points: 1}}]\n");
	assert_string_equal(p->timezone, "America/Argentina/Buenos_Aires");
	ly_program_destroy(p);
	p = load_ok("version: 1\nprogram: {name: acme, timezone: UTC}\n"
		    "rules: [{id: a, on: order.paid, earn: {points: 1}}]\n");
	assert_string_equal(p->timezone, "UTC");
	ly_program_destroy(p);
}

static void test_version(void **state)
{
	(void)state;
	assert_refused("version: 2\nprogram: {name: acme}\nrules: []\n",
		       "prog.yaml:1:10: version: unsupported version 2 (this loyaltyd reads version 1)");
	assert_refused("version: \"1\"\n",
		       "prog.yaml:1:10: version: must be the integer 1, got \"1\"");
	assert_refused("version: 1.0\n",
		       "prog.yaml:1:10: version: must be the integer 1, got \"1.0\"");
}

static void test_empty_and_root(void **state)
{
	(void)state;
	assert_refused("", "prog.yaml:1:1: file is empty");
	assert_refused("# only a comment\n", "prog.yaml:1:1: file is empty");
	assert_refused("- a\n- b\n",
		       "prog.yaml:1:1: expected a mapping at the top level, got a sequence");
	assert_refused("---\n",
		       "prog.yaml:2:1: expected a mapping at the top level, got null");
	assert_refused("hello\n",
		       "prog.yaml:1:1: expected a mapping at the top level, got \"hello\"");
}

static void test_limits(void **state)
{
	(void)state;
	ly_buf_t b = {0};
	char err[256];
	ly_program_t *p = NULL;

	/* exactly LY_PROGRAM_RULES_MAX rules load; one more does not */
	assert_int_equal(ly_buf_puts(&b, HEAD), 0);
	for (int i = 0; i < LY_PROGRAM_RULES_MAX; i++)
		assert_int_equal(ly_buf_printf(&b, "  - {id: r%d, on: order.paid, earn: {points: 1}}\n", i), 0);
	assert_int_equal(ly_program_load_buf(&p, "prog.yaml", b.data, b.len, err,
					     sizeof(err)),
			 0);
	assert_int_equal(p->rules_len, LY_PROGRAM_RULES_MAX);
	assert_string_equal(p->rules[LY_PROGRAM_RULES_MAX - 1].id, "r1023");
	ly_program_destroy(p);
	assert_int_equal(ly_buf_puts(&b, "  - {id: one-more, on: order.paid, earn: {points: 1}}\n"), 0);
	assert_refused(b.data, "prog.yaml:4:3: rules: more than 1024 rules");

	/* the file size cap holds before any parsing */
	ly_buf_reset(&b);
	assert_int_equal(ly_buf_puts(&b, "version: 1\n#"), 0);
	while (b.len <= LY_PROGRAM_FILE_MAX_BYTES)
		assert_int_equal(ly_buf_puts(&b, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), 0);
	p = (ly_program_t *)(uintptr_t)1;
	assert_int_equal(ly_program_load_buf(&p, "big.yaml", b.data, b.len, err,
					     sizeof(err)),
			 LY_EINVAL);
	assert_null(p);
	assert_string_equal(err, "big.yaml: file is larger than 4194304 bytes");
	ly_buf_free(&b);

	/* deep nesting is refused, not recursed into */
	ly_buf_reset(&b);
	assert_int_equal(ly_buf_puts(&b, "version: "), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(ly_buf_putc(&b, '['), 0);
	assert_refused(b.data, "prog.yaml:1:73: nested deeper than 64 levels");
	ly_buf_free(&b);
}

static void test_load_errors_from_disk(void **state)
{
	(void)state;
	char err[512];
	ly_program_t *p = (ly_program_t *)(uintptr_t)1;

	assert_int_equal(ly_program_load(&p, DATA_DIR "/no-such-file.yaml", err,
					 sizeof(err)),
			 LY_EIO);
	assert_null(p);
	assert_string_equal(err, DATA_DIR "/no-such-file.yaml: No such file or directory");

	p = (ly_program_t *)(uintptr_t)1;
	assert_int_equal(ly_program_load(&p, DATA_DIR "/unknown-key.yaml", err,
					 sizeof(err)),
			 LY_EINVAL);
	assert_null(p);
	assert_string_equal(err, DATA_DIR "/unknown-key.yaml:9:5: unknown key \"iff\"");
}

static void test_destroy_null(void **state)
{
	(void)state;
	ly_program_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_duplicate_rule_id),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_missing_key),
		cmocka_unit_test(test_unknown_event_type),
		cmocka_unit_test(test_rule_id),
		cmocka_unit_test(test_of_and_per),
		cmocka_unit_test(test_points_bounds),
		cmocka_unit_test(test_bad_yaml),
		cmocka_unit_test(test_alias),
		cmocka_unit_test(test_timezone),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_empty_and_root),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_load_errors_from_disk),
		cmocka_unit_test(test_destroy_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
