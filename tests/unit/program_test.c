/*
 * program_test.c: the program loader (lib/program): complete files from
 * disk (ours and SPEC section 5's example) with every field checked, the
 * defaults, ly_rule_is_pending, each way a file is refused, with the exact
 * "name:line:col: message", and every program the project ships.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/engine.h"
#include "loyalty/event.h"
#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

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
			    "    iff: customer.order_count == 0\n",
		       "prog.yaml:7:5: unknown key \"iff\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, multiplier: true}\n",
		       "prog.yaml:6:23: unknown key \"multiplier\"");
	assert_refused("version: 1\nprogram: {name: acme, currencyy: TRY}\n",
		       "prog.yaml:2:23: unknown key \"currencyy\"");
	assert_refused("version: 1\ntier: {}\n",
		       "prog.yaml:2:1: unknown key \"tier\"");
	assert_refused("version: 1\nprogram: {name: acme}\n"
		       "tiers: {levels: [{name: a, min_spend: 0, multiplier: 2}]}\n",
		       "prog.yaml:3:42: unknown key \"multiplier\"");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    issue: {gift_card: {amount: 100, valid_days: 9, percent: 5}}\n",
		       "prog.yaml:6:53: unknown key \"percent\"");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    offer: {template: t, channels: [sms], var: {}}\n",
		       "prog.yaml:6:43: unknown key \"var\"");
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
		       "prog.yaml:4:5: rule \"a\" does nothing: it needs \"earn\", \"issue\" or \"offer\"");
	assert_refused(HEAD "  - {id: a, on: order.paid, if: true, stop: true}\n",
		       "prog.yaml:4:5: rule \"a\" does nothing: it needs \"earn\", \"issue\" or \"offer\"");
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
	/* of is an expression over the rule's own event type */
	assert_refused(HEAD "  - id: reviews\n"
			    "    on: review.submitted\n"
			    "    earn: {points: 1, per: 100, of: order.total}\n",
		       "prog.yaml:6:37: unknown field \"order.total\"");
	assert_refused(HEAD "  - id: base-earn\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, per: 100, of: order.subtotal}\n",
		       "prog.yaml:6:37: unknown field \"order.subtotal\"");
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

/* SPEC section 5's example, every value as loaded. */
static void test_spec_example(void **state)
{
	(void)state;
	const char *path = DATA_DIR "/spec-example.yaml";
	char err[512] = "";
	ly_program_t *p = NULL;

	assert_int_equal(ly_program_load(&p, path, err, sizeof(err)), 0);
	assert_non_null(p->tz);
	assert_string_equal(p->name, "acme");
	assert_string_equal(p->timezone, "Europe/Istanbul");
	assert_int_equal(p->pending_days, 14);
	assert_int_equal(p->expire_days, 365);
	assert_int_equal(p->expiry_reminder_days, 30);

	assert_int_equal(p->tier_window_days, 365);
	assert_int_equal(p->tiers_len, 3);
	assert_int_equal(p->tiers_pos.line, 10);
	assert_int_equal(p->tiers_pos.col, 1);
	assert_string_equal(p->tiers[0].name, "bronze");
	assert_int_equal(p->tiers[0].min_spend, 0);
	assert_int_equal(p->tiers[0].earn_multiplier_bp, 10000);
	assert_int_equal(p->tiers[0].perks_len, 0);
	assert_string_equal(p->tiers[1].name, "silver");
	assert_int_equal(p->tiers[1].min_spend, 500000);
	assert_int_equal(p->tiers[1].earn_multiplier_bp, 12500);
	assert_string_equal(p->tiers[2].name, "gold");
	assert_int_equal(p->tiers[2].min_spend, 2000000);
	assert_int_equal(p->tiers[2].earn_multiplier_bp, 15000);
	assert_int_equal(p->tiers[2].perks_len, 2);
	assert_string_equal(p->tiers[2].perks[0], "free_shipping");
	assert_string_equal(p->tiers[2].perks[1], "free_returns");
	assert_int_equal(p->tiers[2].line, 15);
	assert_int_equal(p->tiers[2].col, 7);

	assert_int_equal(p->at_risk_days, 60);
	assert_int_equal(p->lost_days, 120);
	assert_int_equal(p->expected_lifetime_years, 3);

	assert_int_equal(p->offer_cap_count, 3);
	assert_int_equal(p->offer_cap_per, LY_PERIOD_WEEK);
	assert_int_equal(p->quiet_sms.set, 1);
	assert_int_equal(p->quiet_sms.start_min, 21 * 60);
	assert_int_equal(p->quiet_sms.end_min, 9 * 60);
	assert_int_equal(p->quiet_email.set, 0);

	assert_int_equal(p->rewards_len, 1);
	const ly_reward_t *rw = ly_program_reward(p, "tl50");
	assert_ptr_equal(rw, &p->rewards[0]);
	assert_null(ly_program_reward(p, "tl5"));
	assert_int_equal(rw->cost, 5000);
	assert_int_equal(rw->issue.kind, LY_ISSUE_DISCOUNT);
	assert_int_equal(rw->issue.amount, 5000);
	assert_int_equal(rw->issue.percent, 0);
	assert_int_equal(rw->issue.min_order, 25000);
	assert_int_equal(rw->issue.valid_days, 30);

	assert_int_equal(p->rules_len, 9);
	const ly_rule_t *r = &p->rules[0]; /* base-earn */
	assert_string_equal(r->id, "base-earn");
	assert_int_equal(r->on, LY_EV_ORDER_PAID);
	assert_int_equal(r->trigger, LY_TRIGGER_NONE);
	assert_null(r->if_expr);
	assert_int_equal(r->earn_per, 100);
	assert_int_equal(r->earn_points, 1);
	assert_int_equal(r->earn_of, LY_OF_ORDER_TOTAL);
	assert_non_null(r->earn_of_expr);
	assert_string_equal(ly_expr_source(r->earn_of_expr), "order.total");
	assert_int_equal(r->earn_tier_multiplier, 1);
	assert_int_equal(r->tier_multiplier_pos.line, 25);
	assert_int_equal(r->tier_multiplier_pos.col, 50);
	assert_int_equal(r->limit_count, 0);
	assert_int_equal(r->budget_points, 0);
	assert_int_equal(r->issue.kind, LY_ISSUE_NONE);
	assert_null(r->offer.template_id);
	assert_int_equal(ly_rule_is_pending(p, r), 1);

	r = &p->rules[1]; /* first-order */
	assert_string_equal(r->id, "first-order");
	assert_non_null(r->if_expr);
	assert_string_equal(ly_expr_source(r->if_expr), "customer.order_count == 0");
	assert_int_equal(ly_expr_type(r->if_expr), LY_TYPE_BOOL);
	assert_int_equal(r->if_pos.line, 28);
	assert_int_equal(r->if_pos.col, 5);
	assert_int_equal(r->earn_points, 500);
	assert_int_equal(r->earn_of, LY_OF_NONE);
	assert_null(r->earn_of_expr);
	assert_string_equal(r->offer.template_id, "welcome");
	assert_int_equal(r->offer.channels, LY_CHANNEL_EMAIL | LY_CHANNEL_SMS);
	assert_int_equal(r->offer.channels_len, 2);
	assert_int_equal(r->offer.channel_order[0], LY_CHANNEL_EMAIL);
	assert_int_equal(r->offer.channel_order[1], LY_CHANNEL_SMS);
	assert_int_equal(r->offer.vars_len, 0);

	r = &p->rules[2]; /* photo-review */
	assert_int_equal(r->on, LY_EV_REVIEW_SUBMITTED);
	assert_int_equal(r->limit_count, 3);
	assert_int_equal(r->limit_per, LY_PERIOD_DAY);
	assert_int_equal(r->limit_pos.line, 35);

	r = &p->rules[3]; /* summer-outdoor */
	assert_string_equal(r->id, "summer-outdoor");
	assert_int_equal(r->has_active_from, 1);
	assert_int_equal(r->active_from_day, 20605); /* 2026-06-01 */
	assert_int_equal(r->has_active_until, 1);
	assert_int_equal(r->active_until_day, 20697); /* 2026-09-01 */
	assert_int_equal(r->earn_per, 100);
	assert_int_equal(r->earn_points, 2);
	assert_int_equal(r->earn_of, LY_OF_EXPR);
	assert_int_equal(ly_expr_type(r->earn_of_expr), LY_TYPE_INT);
	assert_string_equal(ly_expr_source(r->earn_of_expr),
			    "sum(order.items, item.category == \"outdoor\", item.unit_price * item.quantity)");
	assert_int_equal(r->budget_points, 1000000);

	r = &p->rules[4]; /* big-basket-gift */
	assert_int_equal(r->has_earn, 0);
	assert_int_equal(r->issue.kind, LY_ISSUE_GIFT_CARD);
	assert_int_equal(r->issue.amount, 10000);
	assert_int_equal(r->issue.valid_days, 90);
	assert_int_equal(r->offer.channels, LY_CHANNEL_EMAIL);
	assert_string_equal(r->offer.template_id, "gift-card");

	r = &p->rules[5]; /* winback */
	assert_int_equal(r->on, LY_EV__COUNT);
	assert_int_equal(r->trigger, LY_TRIGGER_SEGMENT_CHANGED);
	assert_string_equal(ly_rule_on_name(r), "customer.segment_changed");
	assert_int_equal(r->issue.kind, LY_ISSUE_DISCOUNT);
	assert_int_equal(r->issue.percent, 15);
	assert_int_equal(r->issue.amount, 0);
	assert_int_equal(r->issue.valid_days, 14);

	r = &p->rules[6];
	assert_int_equal(r->trigger, LY_TRIGGER_BIRTHDAY);
	assert_int_equal(r->earn_points, 1000);
	assert_int_equal(ly_rule_is_pending(p, r), 0);
	r = &p->rules[7];
	assert_int_equal(r->trigger, LY_TRIGGER_REFERRAL_QUALIFIED);
	assert_int_equal(r->earn_points, 750);

	r = &p->rules[8]; /* detractor-recovery */
	assert_int_equal(r->on, LY_EV_SURVEY_COMPLETED);
	assert_string_equal(ly_rule_on_name(r), "survey.completed");
	assert_int_equal(r->issue.percent, 10);
	assert_int_equal(r->limit_count, 1);
	assert_int_equal(r->limit_per, LY_PERIOD_MONTH);
	ly_program_destroy(p);
}

/* The example exactly as SPEC.md prints it: a plain expression inside
 * {...} ends at its first comma, which YAML decides, not us. */
static void test_spec_example_verbatim(void **state)
{
	(void)state;
	char err[512];
	ly_program_t *p = (ly_program_t *)(uintptr_t)1;
	assert_int_equal(ly_program_load(&p, DATA_DIR "/spec-example-verbatim.yaml",
					 err, sizeof(err)),
			 LY_EINVAL);
	assert_null(p);
	assert_string_equal(err, DATA_DIR "/spec-example-verbatim.yaml:37:37: earn.of: the expression \"sum(order.items\" is cut at a comma (in a {...} mapping a comma ends a plain value); quote the expression or write it in block style");
}

static void test_triggers(void **state)
{
	(void)state;
	ly_program_t *p = load_ok(HEAD
		"  - {id: a, on: customer.birthday, if: customer.birthday_today, earn: {points: 1}}\n"
		"  - {id: b, on: customer.segment_changed, if: segment.from == \"active\", earn: {points: 1}}\n"
		"  - {id: c, on: tier.changed, if: tier.to == \"gold\", earn: {points: 1}}\n"
		"  - {id: d, on: points.expiring, if: expiring.points > 100 and expiring.date < 2027-01-01, earn: {points: 1}}\n"
		"  - {id: e, on: referral.qualified, if: referral.referred != \"\", earn: {points: 1}}\n");
	static const ly_trigger_t want[] = {
		LY_TRIGGER_BIRTHDAY, LY_TRIGGER_SEGMENT_CHANGED,
		LY_TRIGGER_TIER_CHANGED, LY_TRIGGER_POINTS_EXPIRING,
		LY_TRIGGER_REFERRAL_QUALIFIED};
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(p->rules[i].trigger, want[i]);
		assert_int_equal(p->rules[i].on, LY_EV__COUNT);
		ly_trigger_t t;
		assert_int_equal(ly_trigger_parse(ly_trigger_name(want[i]), &t), 0);
		assert_int_equal(t, want[i]);
	}
	ly_program_destroy(p);
	assert_null(ly_trigger_name(LY_TRIGGER_NONE));
	/* a trigger's data is only there for that trigger */
	assert_refused(HEAD "  - {id: a, on: customer.birthday, if: segment.to == \"lost\", earn: {points: 1}}\n",
		       "prog.yaml:4:40: unknown field \"segment.to\"");
}

/* The data of every input type, by the names docs/program.md gives. */
static void test_schemas(void **state)
{
	(void)state;
	ly_program_t *p = load_ok(HEAD
		"  - {id: a, on: customer.registered, if: 'profile.locale == \"tr\" and profile.birth_date < 2000-01-01 and profile.referred_by != \"\"', earn: {points: 1}}\n"
		"  - {id: b, on: order.refunded, if: order.amount > 0 and order.order_id != \"\", earn: {points: 1}}\n"
		"  - {id: c, on: social.interaction, if: 'social.platform == \"instagram\" and social.action in [\"share\", \"ugc\"]', earn: {points: 1}}\n"
		"  - {id: d, on: survey.completed, if: survey.csat >= 4 or survey.nps >= 9, earn: {points: 1}}\n"
		"  - {id: e, on: points.adjust, if: adjust.points > 0 and adjust.reason != \"\", earn: {points: 1}}\n"
		"  - {id: f, on: points.redeem, if: redeem.reward == \"tl50\", earn: {points: 1}}\n"
		"  - {id: g, on: order.paid, if: 'any(order.coupon_codes, item == \"WELCOME\") or count(order.coupon_codes, item == \"X\") > 0', earn: {points: 1}}\n"
		"  - {id: h, on: review.submitted, if: review.rating >= 4 and review.text_length > 100 and event.time > event.time - 30d, earn: {points: 1}}\n"
		"  - id: i\n"
		"    on: order.paid\n"
		"    if: customer.days_since_last_order > 90 and customer.clv > 0 and customer.consent_sms and customer.locale == \"tr\"\n"
		"    earn: {points: 1}\n");
	assert_int_equal(p->rules_len, 9);
	ly_program_destroy(p);
}

static void test_expression_errors(void **state)
{
	(void)state;
	/* a syntax error, at its column inside the expression */
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: order.total >= \n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:23: unexpected end of expression");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: customer.order_count == 0 and and\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:39: unexpected \"and\"");
	/* quoted: the expression starts after the quote */
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: \"order.totl > 5\"\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:10: unknown field \"order.totl\"");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: order.total > 5 and order.totl > 5\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:29: unknown field \"order.totl\"");
	/* if must be a bool, of an int */
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: order.total\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:9: expression must be a bool, got int");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    earn: {points: 1, per: 100, of: order.currency}\n",
		       "prog.yaml:6:37: expression must be an int, got string");
	/* a field of another event type */
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: review.rating >= 4\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:9: unknown field \"review.rating\"");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    if: [order.total]\n"
			    "    earn: {points: 1}\n",
		       "prog.yaml:6:9: if: expected an expression, got a sequence");
	assert_refused(HEAD "  - id: a\n"
			    "    on: order.paid\n"
			    "    offer: {template: t, channels: [email], vars: {total: order.totl}}\n",
		       "prog.yaml:6:59: unknown field \"order.totl\"");
	assert_refused(HEAD "  - {id: a, on: order.paid, offer: {template: t, channels: [sms], vars: {n: count(order.items, true), m: 1}}}\n",
		       "prog.yaml:4:77: offer.vars.n: the expression \"count(order.items\" is cut at a comma (in a {...} mapping a comma ends a plain value); quote the expression or write it in block style");
	assert_refused(HEAD "  - {id: a, on: order.paid, if: any(order.items, item.sku == \"x\"), earn: {points: 1}}\n",
		       "prog.yaml:4:33: if: the expression \"any(order.items\" is cut at a comma (in a {...} mapping a comma ends a plain value); quote the expression or write it in block style");
}

static void test_tiers(void **state)
{
	(void)state;
#define TIERS(levels) "version: 1\nprogram: {name: acme}\ntiers:\n  levels:\n" levels \
	"rules: [{id: a, on: order.paid, earn: {points: 1}}]\n"
	ly_program_t *p = load_ok(TIERS("    - {name: a, min_spend: 0, earn_multiplier: 1}\n"
					"    - {name: b, min_spend: 1, earn_multiplier: 1.0625}\n"
					"    - {name: c, min_spend: 2, earn_multiplier: 100.0000}\n"));
	assert_int_equal(p->tiers[0].earn_multiplier_bp, 10000);
	assert_int_equal(p->tiers[1].earn_multiplier_bp, 10625);
	assert_int_equal(p->tiers[2].earn_multiplier_bp, 1000000);
	assert_int_equal(p->tier_window_days, 365);
	ly_program_destroy(p);
	assert_refused(TIERS("    - {name: a, min_spend: 100}\n"),
		       "prog.yaml:5:28: tiers.levels[0].min_spend: the first level must start at 0, got \"100\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0}\n"
			     "    - {name: b, min_spend: 500}\n"
			     "    - {name: c, min_spend: 500}\n"),
		       "prog.yaml:7:28: tiers.levels[2].min_spend: must be greater than the level before (500), got \"500\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0}\n"
			     "    - {name: b, min_spend: 500}\n"
			     "    - {name: c, min_spend: 400}\n"),
		       "prog.yaml:7:28: tiers.levels[2].min_spend: must be greater than the level before (500), got \"400\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0}\n"
			     "    - {name: a, min_spend: 5}\n"),
		       "prog.yaml:6:14: duplicate tier name \"a\" (first at 5:7)");
	assert_refused(TIERS("    - {name: a, min_spend: 0}\n"
			     "    - {name: b, min_spend: 5, earn_multiplier: 1.12345}\n"),
		       "prog.yaml:6:48: tiers.levels[1].earn_multiplier: must be a decimal from 1 to 100 with at most 4 decimal places, got \"1.12345\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0, earn_multiplier: \"1.5\"}\n"),
		       "prog.yaml:5:48: tiers.levels[0].earn_multiplier: must be a decimal from 1 to 100 with at most 4 decimal places, got \"1.5\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0, earn_multiplier: 0.5}\n"),
		       "prog.yaml:5:48: tiers.levels[0].earn_multiplier: must be a decimal from 1 to 100 with at most 4 decimal places, got \"0.5\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0, earn_multiplier: 1.}\n"),
		       "prog.yaml:5:48: tiers.levels[0].earn_multiplier: must be a decimal from 1 to 100 with at most 4 decimal places, got \"1.\"");
	assert_refused(TIERS("    - {name: a, min_spend: 0, perks: [x, x]}\n"),
		       "prog.yaml:5:42: tiers.levels[0].perks: duplicate perk \"x\"");
	assert_refused("version: 1\nprogram: {name: acme}\n"
		       "rules: [{id: a, on: order.paid, earn: {points: 1, tier_multiplier: true}}]\n",
		       "prog.yaml:3:68: earn.tier_multiplier: the program has no tiers");
	/* 32 levels load, 33 do not */
	ly_buf_t b = {0};
	assert_int_equal(ly_buf_puts(&b, "version: 1\nprogram: {name: acme}\ntiers:\n  levels:\n"), 0);
	for (int i = 0; i < LY_PROGRAM_LEVELS_MAX; i++)
		assert_int_equal(ly_buf_printf(&b, "    - {name: t%d, min_spend: %d}\n", i, i), 0);
	assert_int_equal(ly_buf_puts(&b, "rules: [{id: a, on: order.paid, earn: {points: 1}}]\n"), 0);
	p = load_ok(b.data);
	assert_int_equal(p->tiers_len, 32);
	ly_program_destroy(p);
	ly_buf_reset(&b);
	assert_int_equal(ly_buf_puts(&b, "version: 1\nprogram: {name: acme}\ntiers:\n  levels:\n"), 0);
	for (int i = 0; i <= LY_PROGRAM_LEVELS_MAX; i++)
		assert_int_equal(ly_buf_printf(&b, "    - {name: t%d, min_spend: %d}\n", i, i), 0);
	assert_refused(b.data, "prog.yaml:5:5: tiers.levels: more than 32 levels");
	ly_buf_free(&b);
#undef TIERS
}

static void test_lifecycle_offers(void **state)
{
	(void)state;
#define TOP(x) "version: 1\nprogram: {name: acme}\n" x "rules: [{id: a, on: order.paid, earn: {points: 1}}]\n"
	ly_program_t *p = load_ok(TOP("lifecycle: {at_risk_days: 30, lost_days: 31, expected_lifetime_years: 5}\n"
				      "offers: {quiet_hours: {email: \"00:00-06:30\"}}\n"));
	assert_int_equal(p->at_risk_days, 30);
	assert_int_equal(p->lost_days, 31);
	assert_int_equal(p->expected_lifetime_years, 5);
	assert_int_equal(p->quiet_email.set, 1);
	assert_int_equal(p->quiet_email.start_min, 0);
	assert_int_equal(p->quiet_email.end_min, 390);
	assert_int_equal(p->offer_cap_count, 0);
	ly_program_destroy(p);
	assert_refused(TOP("lifecycle: {at_risk_days: 60, lost_days: 60}\n"),
		       "prog.yaml:3:42: lifecycle.lost_days: must be greater than at_risk_days (60), got \"60\"");
	assert_refused(TOP("lifecycle: {at_risk_days: 200}\n"),
		       "prog.yaml:3:27: lifecycle.at_risk_days: must be less than lost_days (120, the default), got \"200\"");
	assert_refused(TOP("offers: {quiet_hours: {sms: \"25:00-09:00\"}}\n"),
		       "prog.yaml:3:29: offers.quiet_hours.sms: must be \"HH:MM-HH:MM\" with hours 00-23 and minutes 00-59, got \"25:00-09:00\"");
	assert_refused(TOP("offers: {quiet_hours: {sms: \"21:00\"}}\n"),
		       "prog.yaml:3:29: offers.quiet_hours.sms: must be \"HH:MM-HH:MM\" with hours 00-23 and minutes 00-59, got \"21:00\"");
	assert_refused(TOP("offers: {quiet_hours: {sms: \"09:00-09:00\"}}\n"),
		       "prog.yaml:3:29: offers.quiet_hours.sms: start and end are the same time, got \"09:00-09:00\"");
	assert_refused(TOP("offers: {quiet_hours: {fax: \"21:00-09:00\"}}\n"),
		       "prog.yaml:3:24: unknown key \"fax\"");
	assert_refused(TOP("offers: {max_per_customer: {count: 3}}\n"),
		       "prog.yaml:3:28: missing key \"per\"");
	assert_refused(TOP("offers: {max_per_customer: {count: 3, per: ever}}\n"),
		       "prog.yaml:3:44: offers.max_per_customer.per: must be day, week, month or year, got \"ever\"");
#undef TOP
}

static void test_rewards(void **state)
{
	(void)state;
#define RW(x) "version: 1\nprogram: {name: acme}\nrewards:\n" x "rules: [{id: a, on: order.paid, earn: {points: 1}}]\n"
	ly_program_t *p = load_ok(RW("  - {id: gc, cost: 1, issue: {gift_card: {amount: 100, valid_days: 1}}}\n"
				     "  - {id: pc, cost: 9, issue: {discount: {percent: 100, valid_days: 3650}}}\n"));
	assert_int_equal(p->rewards_len, 2);
	assert_int_equal(p->rewards[0].issue.kind, LY_ISSUE_GIFT_CARD);
	assert_int_equal(p->rewards[1].issue.percent, 100);
	assert_int_equal(p->rewards[1].issue.valid_days, 3650);
	assert_int_equal(p->rewards_pos.line, 3);
	ly_program_destroy(p);
	assert_refused(RW("  - {id: gc, cost: 1, issue: {gift_card: {amount: 100, valid_days: 1}}}\n"
			  "  - {id: gc, cost: 2, issue: {gift_card: {amount: 200, valid_days: 1}}}\n"),
		       "prog.yaml:5:5: duplicate reward id \"gc\" (first at 4:5)");
	assert_refused(RW("  - {id: gc, cost: 0, issue: {gift_card: {amount: 100, valid_days: 1}}}\n"),
		       "prog.yaml:4:20: cost: must be an integer between 1 and 1000000000, got \"0\"");
	assert_refused(RW("  - {id: gc, cost: 1}\n"), "prog.yaml:4:5: missing key \"issue\"");
#undef RW
}

static void test_rule_features(void **state)
{
	(void)state;
	ly_program_t *p = load_ok(HEAD
		"  - id: a\n"
		"    on: order.paid\n"
		"    active: {until: 2027-01-01}\n"
		"    earn: {points: 1}\n"
		"    limit: {count: 1, per: ever}\n"
		"    stop: true\n"
		"    offer:\n"
		"      template: thanks_2\n"
		"      channels: [sms, email]\n"
		"      vars: {total: order.total, first: customer.order_count == 0, cat: \"customer.top_category\"}\n"
		"  - id: b\n"
		"    on: order.paid\n"
		"    active: {from: \"2026-01-01\"}\n"
		"    issue: {discount: {amount: 5000, min_order: 0, valid_days: 7}}\n"
		"    stop: false\n");
	const ly_rule_t *r = &p->rules[0];
	assert_int_equal(r->has_active_from, 0);
	assert_int_equal(r->has_active_until, 1);
	assert_int_equal(r->active_until_day, 20819);
	assert_int_equal(r->limit_per, LY_PERIOD_EVER);
	assert_int_equal(r->stop, 1);
	assert_int_equal(r->stop_pos.line, 9);
	assert_int_equal(r->offer.channel_order[0], LY_CHANNEL_SMS);
	assert_int_equal(r->offer.channel_order[1], LY_CHANNEL_EMAIL);
	assert_int_equal(r->offer.vars_len, 3);
	assert_string_equal(r->offer.vars[0].name, "total");
	assert_int_equal(ly_expr_type(r->offer.vars[0].expr), LY_TYPE_INT);
	assert_int_equal(ly_expr_type(r->offer.vars[1].expr), LY_TYPE_BOOL);
	assert_int_equal(ly_expr_type(r->offer.vars[2].expr), LY_TYPE_STRING);
	r = &p->rules[1];
	assert_int_equal(r->active_from_day, 20454);
	assert_int_equal(r->issue.amount, 5000);
	assert_int_equal(r->stop, 0);
	assert_int_equal(r->stop_pos.line, 0);
	ly_program_destroy(p);

#define R1(x) HEAD "  - id: a\n    on: order.paid\n    earn: {points: 1}\n" x
	assert_refused(R1("    limit: {count: 3}\n"), "prog.yaml:7:12: missing key \"per\"");
	assert_refused(R1("    limit: {count: 3, per: fortnight}\n"),
		       "prog.yaml:7:28: limit.per: must be day, week, month, year or ever, got \"fortnight\"");
	assert_refused(R1("    limit: {count: 0, per: day}\n"),
		       "prog.yaml:7:20: limit.count: must be an integer between 1 and 1000000, got \"0\"");
	assert_refused(R1("    budget: {points: 0}\n"),
		       "prog.yaml:7:22: budget.points: must be an integer between 1 and 1000000000000000, got \"0\"");
	assert_refused(R1("    active: {from: 2026-09-01, until: 2026-09-01}\n"),
		       "prog.yaml:7:39: active.until: must be after active.from (2026-09-01), got \"2026-09-01\"");
	assert_refused(R1("    active: {from: 2026-09-01, until: 2026-06-01}\n"),
		       "prog.yaml:7:39: active.until: must be after active.from (2026-09-01), got \"2026-06-01\"");
	assert_refused(R1("    active: {from: 2026-02-30}\n"),
		       "prog.yaml:7:20: active.from: must be a date YYYY-MM-DD, got \"2026-02-30\"");
	assert_refused(R1("    active: {from: 2026-6-1}\n"),
		       "prog.yaml:7:20: active.from: must be a date YYYY-MM-DD, got \"2026-6-1\"");
	assert_refused(R1("    active: {}\n"),
		       "prog.yaml:7:13: active: needs \"from\", \"until\" or both");
	assert_refused(R1("    stop: 1\n"), "prog.yaml:7:11: stop: must be true or false, got \"1\"");
	assert_refused(R1("    issue: {discount: {amount: 100, percent: 10, valid_days: 7}}\n"),
		       "prog.yaml:7:23: issue.discount: give \"amount\" or \"percent\", not both");
	assert_refused(R1("    issue: {discount: {valid_days: 7}}\n"),
		       "prog.yaml:7:23: issue.discount: needs \"amount\" or \"percent\"");
	assert_refused(R1("    issue: {discount: {percent: 0, valid_days: 7}}\n"),
		       "prog.yaml:7:33: issue.discount.percent: must be an integer between 1 and 100, got \"0\"");
	assert_refused(R1("    issue: {discount: {percent: 101, valid_days: 7}}\n"),
		       "prog.yaml:7:33: issue.discount.percent: must be an integer between 1 and 100, got \"101\"");
	assert_refused(R1("    issue: {discount: {percent: 10}}\n"),
		       "prog.yaml:7:23: missing key \"valid_days\"");
	assert_refused(R1("    issue: {discount: {percent: 10, valid_days: 7}, gift_card: {amount: 1, valid_days: 1}}\n"),
		       "prog.yaml:7:53: issue: give \"discount\" or \"gift_card\", not both");
	assert_refused(R1("    issue: {}\n"), "prog.yaml:7:12: issue: needs \"discount\" or \"gift_card\"");
	assert_refused(R1("    offer: {template: t}\n"), "prog.yaml:7:12: missing key \"channels\"");
	assert_refused(R1("    offer: {template: t, channels: []}\n"),
		       "prog.yaml:7:36: offer.channels: must name at least one channel");
	assert_refused(R1("    offer: {template: t, channels: [email, fax]}\n"),
		       "prog.yaml:7:44: offer.channels: unknown channel \"fax\" (email or sms)");
	assert_refused(R1("    offer: {template: t, channels: [email, email]}\n"),
		       "prog.yaml:7:44: offer.channels: duplicate channel \"email\"");
	assert_refused(R1("    offer: {template: Welcome!, channels: [email]}\n"),
		       "prog.yaml:7:23: offer.template: must be 1 to 64 characters of a-z, 0-9, \"_\" and \"-\", starting with a letter or digit, got \"Welcome!\"");
	assert_refused(R1("    offer: {template: t, channels: [email], vars: {a-b: 1}}\n"),
		       "prog.yaml:7:52: offer.vars: a variable name has no \"-\", got \"a-b\"");
	assert_refused(R1("    offer: {template: t, channels: [email], vars: {x: 1, tier: customer.tier}}\n"),
		       "prog.yaml:7:58: offer.vars: \"tier\" is set by loyaltyd for every offer (docs/offers.md); give yours another name");
#undef R1
}

/* Every program the project ships loads, and what the loader makes of a
 * few keys the engine reads (engine_test.c checks how it runs them). */
static void test_shipped_programs(void **state)
{
	(void)state;
	char err[512] = "";
	ly_program_t *p = NULL;
	static const char *const shipped[] = {
		DATA_DIR "/good.yaml",
		LY_SOURCE_DIR "/examples/programs/skeleton.yaml",
		LY_SOURCE_DIR "/examples/programs/anadolu-market.yaml",
		LY_SOURCE_DIR "/tests/integration/program.yaml",
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(shipped); i++) {
		if (ly_program_load(&p, shipped[i], err, sizeof(err)))
			print_error("%s: %s\n", shipped[i], err);
		assert_non_null(p);
		ly_program_destroy(p);
		p = NULL;
	}
	p = load_ok("version: 1\nprogram: {name: acme}\n"
		    "lifecycle: {at_risk_days: 10, lost_days: 20}\n"
		    "offers: {max_per_customer: {count: 1, per: day}}\n"
		    "rewards: []\n"
		    "rules: [{id: a, on: order.paid, stop: false, earn: {points: 1, tier_multiplier: false, of: \"order.total\", per: 1}}]\n");
	assert_int_equal(p->rules[0].earn_of, LY_OF_ORDER_TOTAL);
	assert_int_equal(p->offer_cap_count, 1);
	assert_int_equal(p->offer_cap_per, LY_PERIOD_DAY);
	ly_program_destroy(p);
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
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_spec_example_verbatim),
		cmocka_unit_test(test_triggers),
		cmocka_unit_test(test_schemas),
		cmocka_unit_test(test_expression_errors),
		cmocka_unit_test(test_tiers),
		cmocka_unit_test(test_lifecycle_offers),
		cmocka_unit_test(test_rewards),
		cmocka_unit_test(test_rule_features),
		cmocka_unit_test(test_shipped_programs),
		cmocka_unit_test(test_destroy_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
