/*
 * util_test.c: the shared helpers (lib/util): RFC 3339 time and calendar
 * dates, UTF-8 validation, SHA-256, the arena, the bounded buffer and its
 * JSON escaping, the arena hash map and checked arithmetic. Expected
 * values are written out by hand (timestamps checked with `date -u`).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "loyalty/util.h"

/* 2026-11-22T10:00:00Z in microseconds (`date -u -d ... +%s` = 1795341600). */
#define T_2026_11_22_10 INT64_C(1795341600000000)
#define HOUR_US (INT64_C(3600) * 1000000)

static int64_t parse_ok(const char *s)
{
	int64_t us = -1;
	int rc = ly_time_parse_rfc3339(s, &us);
	if (rc != 0)
		print_error("refused: \"%s\"\n", s);
	assert_int_equal(rc, 0);
	return us;
}

static void assert_parse_refused(const char *s)
{
	int64_t us = 42;
	int rc = ly_time_parse_rfc3339(s, &us);
	if (rc != LY_EINVAL)
		print_error("accepted: \"%s\" as %lld\n", s, (long long)us);
	assert_int_equal(rc, LY_EINVAL);
	assert_int_equal(us, 42); /* untouched */
}

static void assert_format(int64_t us, const char *want)
{
	char got[40];
	ly_time_format_rfc3339(us, got, sizeof(got));
	assert_string_equal(got, want);
}

static void test_rfc3339_round_trip(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2026-11-22T10:00:00Z"), T_2026_11_22_10);
	assert_format(T_2026_11_22_10, "2026-11-22T10:00:00Z");
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
	assert_format(0, "1970-01-01T00:00:00Z");
	assert_int_equal(parse_ok("2024-02-29T23:59:59Z"), INT64_C(1709251199000000));
	assert_format(INT64_C(1709251199000000), "2024-02-29T23:59:59Z");
	/* before the epoch */
	assert_int_equal(parse_ok("1969-12-31T23:59:59.999999Z"), -1);
	assert_format(-1, "1969-12-31T23:59:59.999999Z");
	/* lower-case separators are allowed by RFC 3339 */
	assert_int_equal(parse_ok("2026-11-22t10:00:00z"), T_2026_11_22_10);
}

static void test_rfc3339_fractions(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2026-11-22T10:00:00.5Z"), T_2026_11_22_10 + 500000);
	assert_format(T_2026_11_22_10 + 500000, "2026-11-22T10:00:00.500000Z");
	assert_int_equal(parse_ok("2026-11-22T10:00:00.123456Z"), T_2026_11_22_10 + 123456);
	assert_format(T_2026_11_22_10 + 123456, "2026-11-22T10:00:00.123456Z");
	assert_int_equal(parse_ok("2026-11-22T10:00:00.000001Z"), T_2026_11_22_10 + 1);
	/* digits beyond microseconds are dropped, not rounded */
	assert_int_equal(parse_ok("2026-11-22T10:00:00.123456789Z"), T_2026_11_22_10 + 123456);
	assert_parse_refused("2026-11-22T10:00:00.Z");
}

static void test_rfc3339_offsets(void **state)
{
	(void)state;
	/* 10:00 in Istanbul is 07:00 UTC */
	assert_int_equal(parse_ok("2026-11-22T10:00:00+03:00"), T_2026_11_22_10 - 3 * HOUR_US);
	assert_format(T_2026_11_22_10 - 3 * HOUR_US, "2026-11-22T07:00:00Z");
	assert_int_equal(parse_ok("2026-11-22T10:00:00-05:30"),
			 T_2026_11_22_10 + 5 * HOUR_US + 30 * 60 * INT64_C(1000000));
	assert_int_equal(parse_ok("2026-11-22T10:00:00+00:00"), T_2026_11_22_10);
	assert_int_equal(parse_ok("2026-11-22T10:00:00.25+01:00"),
			 T_2026_11_22_10 - HOUR_US + 250000);
	/* an offset that crosses midnight moves the date */
	assert_format(parse_ok("2026-11-22T01:00:00+03:00"), "2026-11-21T22:00:00Z");
}

static void test_rfc3339_invalid(void **state)
{
	(void)state;
	assert_parse_refused("2026-02-30T00:00:00Z"); /* no such day */
	assert_parse_refused("2026-11-22 10:00");
	assert_parse_refused("2026-11-22T10:00:00"); /* missing zone */
	assert_parse_refused("2026-11-22T24:00:00Z");
	assert_parse_refused("2026-11-22T10:60:00Z");
	assert_parse_refused("2026-13-01T00:00:00Z");
	assert_parse_refused("2026-11-22T10:00:00+3:00");
	assert_parse_refused("2026-11-22T10:00:00+03:00x");
	assert_parse_refused("2026-11-22T10:00:00+24:00");
	assert_parse_refused("2026-11-22T10:00:00ZZ");
	assert_parse_refused("2026-11-22X10:00:00Z");
	assert_parse_refused("2026-1x-22T10:00:00Z");
	assert_parse_refused("");
}

static void test_date_parse(void **state)
{
	(void)state;
	int y = 0, m = 0, d = 0;
	assert_int_equal(ly_date_parse("2024-02-29", &y, &m, &d), 0);
	assert_int_equal(y, 2024);
	assert_int_equal(m, 2);
	assert_int_equal(d, 29);
	assert_int_equal(ly_date_parse("2000-02-29", &y, &m, &d), 0); /* 400 rule */
	assert_int_equal(ly_date_parse("1990-12-31", &y, &m, &d), 0);
	assert_int_equal(y, 1990);
	assert_int_equal(m, 12);
	assert_int_equal(d, 31);

	y = m = d = -1;
	assert_int_equal(ly_date_parse("2025-02-29", &y, &m, &d), LY_EINVAL);
	assert_int_equal(y, -1); /* outputs untouched on refusal */
	assert_int_equal(ly_date_parse("1900-02-29", &y, &m, &d), LY_EINVAL); /* 100 rule */
	assert_int_equal(ly_date_parse("2026-04-31", &y, &m, &d), LY_EINVAL);
	assert_int_equal(ly_date_parse("2026-00-10", &y, &m, &d), LY_EINVAL);
	assert_int_equal(ly_date_parse("2026-01-00", &y, &m, &d), LY_EINVAL);
	assert_int_equal(ly_date_parse("2026-1-10", &y, &m, &d), LY_EINVAL);
	assert_int_equal(ly_date_parse("2026-01-100", &y, &m, &d), LY_EINVAL);
	assert_int_equal(ly_date_parse("2026/01/10", &y, &m, &d), LY_EINVAL);
	assert_int_equal(y, -1);
}

static void test_days_from_civil(void **state)
{
	(void)state;
	assert_int_equal(ly_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(ly_days_from_civil(1970, 1, 2), 1);
	assert_int_equal(ly_days_from_civil(1969, 12, 31), -1);
	/* 56 years with 14 leap days, then Jan..Oct 2026 (304 days) */
	assert_int_equal(ly_days_from_civil(2026, 11, 1), 20758);
	assert_int_equal(ly_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(ly_days_from_civil(2024, 3, 1) - ly_days_from_civil(2024, 2, 28), 2);
	assert_int_equal(ly_days_from_civil(2025, 3, 1) - ly_days_from_civil(2025, 2, 28), 1);
}

static void test_utf8(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		size_t n;
		int valid;
	} cases[] = {
		{"", 0, 1},
		{"plain ascii", 11, 1},
		{"\xc3\xbc", 2, 1},             /* ü */
		{"\xe2\x82\xac", 3, 1},         /* € */
		{"\xf0\x9f\x98\x80", 4, 1},     /* U+1F600 */
		{"\xf4\x8f\xbf\xbf", 4, 1},     /* U+10FFFF, the last one */
		{"\xed\x9f\xbf", 3, 1},         /* U+D7FF, just below surrogates */
		{"a\0b", 3, 1},                 /* NUL is valid UTF-8 */
		{"\xc0\xaf", 2, 0},             /* overlong '/' */
		{"\xc1\xbf", 2, 0},             /* overlong */
		{"\xe0\x80\xaf", 3, 0},         /* overlong 3-byte */
		{"\xf0\x8f\xbf\xbf", 4, 0},     /* overlong 4-byte */
		{"\xed\xa0\x80", 3, 0},         /* U+D800 surrogate */
		{"\xed\xbf\xbf", 3, 0},         /* U+DFFF surrogate */
		{"\xe2\x82", 2, 0},             /* truncated */
		{"ok\xf0\x9f\x98", 5, 0},       /* truncated at the end */
		{"\xf4\x90\x80\x80", 4, 0},     /* U+110000 */
		{"\xf5\x80\x80\x80", 4, 0},
		{"\x80", 1, 0},                 /* lone continuation */
		{"\xc3\x28", 2, 0},             /* bad continuation */
		{"\xff", 1, 0},
	};
	for (size_t i = 0; i < LY_ARRAY_LEN(cases); i++) {
		int got = ly_utf8_valid(cases[i].s, cases[i].n);
		if (got != cases[i].valid)
			print_error("case %zu: got %d\n", i, got);
		assert_int_equal(got, cases[i].valid);
	}
	/* only n bytes are looked at */
	assert_int_equal(ly_utf8_valid("ok\xff", 2), 1);
}

static void test_sha256(void **state)
{
	(void)state;
	char hex[65];
	ly_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ly_sha256_hex("", 0, hex);
	assert_string_equal(hex,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_arena_many_blocks(void **state)
{
	(void)state;
	enum { N = 2000, SZ = 100 };
	ly_arena_t *a = ly_arena_new(1024);
	assert_non_null(a);
	static unsigned char *ptrs[N];
	for (size_t i = 0; i < N; i++) {
		ptrs[i] = ly_arena_alloc(a, SZ);
		assert_non_null(ptrs[i]);
		assert_int_equal((uintptr_t)ptrs[i] % 8, 0);
		for (size_t k = 0; k < SZ; k++)
			assert_int_equal(ptrs[i][k], 0); /* zeroed */
		memset(ptrs[i], (int)(i & 0xff), SZ);
	}
	/* no allocation overlapped another */
	for (size_t i = 0; i < N; i++)
		for (size_t k = 0; k < SZ; k++)
			assert_int_equal(ptrs[i][k], i & 0xff);

	/* bigger than a block */
	unsigned char *big = ly_arena_alloc(a, 100000);
	assert_non_null(big);
	memset(big, 0x5a, 100000);
	unsigned char *after = ly_arena_alloc(a, 16);
	assert_non_null(after);
	assert_int_equal(after[0], 0);
	assert_int_equal(big[99999], 0x5a);
	ly_arena_destroy(a);
}

static void test_arena_alignment(void **state)
{
	(void)state;
	ly_arena_t *a = ly_arena_new(0);
	assert_non_null(a);
	static const size_t sizes[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 1000, 1, 5000, 2};
	for (size_t i = 0; i < LY_ARRAY_LEN(sizes); i++) {
		void *p = ly_arena_alloc(a, sizes[i]);
		assert_non_null(p);
		assert_int_equal((uintptr_t)p % 8, 0);
		/* anything may be stored: long double, max_align_t */
		assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
	}
	ly_arena_destroy(a);
}

static void test_arena_reset(void **state)
{
	(void)state;
	ly_arena_t *a = ly_arena_new(1024);
	assert_non_null(a);
	unsigned char *first = ly_arena_alloc(a, 64);
	assert_non_null(first);
	memset(first, 0xab, 64);
	for (int i = 0; i < 100; i++) {
		unsigned char *p = ly_arena_alloc(a, 200);
		assert_non_null(p);
		memset(p, 0xcd, 200);
	}
	ly_arena_reset(a);
	/* the first block is kept and handed out again, zeroed */
	unsigned char *again = ly_arena_alloc(a, 64);
	assert_ptr_equal(again, first);
	for (size_t k = 0; k < 64; k++)
		assert_int_equal(again[k], 0);
	for (int i = 0; i < 100; i++) {
		unsigned char *p = ly_arena_alloc(a, 200);
		assert_non_null(p);
		assert_int_equal(p[0], 0);
		assert_int_equal(p[199], 0);
	}
	ly_arena_reset(a);
	ly_arena_reset(a);
	assert_non_null(ly_arena_alloc(a, 10));
	ly_arena_destroy(a);
	ly_arena_destroy(NULL);
}

static void test_arena_strings(void **state)
{
	(void)state;
	ly_arena_t *a = ly_arena_new(1024);
	assert_non_null(a);
	const char src[] = "hello, world";
	char *s = ly_arena_strndup(a, src, 5);
	assert_non_null(s);
	assert_string_equal(s, "hello");
	assert_ptr_not_equal(s, src);
	char *e = ly_arena_strndup(a, src, 0);
	assert_non_null(e);
	assert_string_equal(e, "");
	char bin[] = {'a', '\0', 'b'};
	char *b = ly_arena_strndup(a, bin, 3);
	assert_memory_equal(b, "a\0b\0", 4);
	char *d = ly_arena_strdup(a, src);
	assert_string_equal(d, "hello, world");
	char *f = ly_arena_printf(a, "%s=%lld", "points", (long long)-125099);
	assert_string_equal(f, "points=-125099");
	/* a string bigger than a block */
	char longsrc[3000];
	memset(longsrc, 'x', sizeof(longsrc));
	char *l = ly_arena_strndup(a, longsrc, sizeof(longsrc));
	assert_non_null(l);
	assert_int_equal(strlen(l), 3000);
	/* earlier strings survive the new block */
	assert_string_equal(s, "hello");
	ly_arena_destroy(a);
}

static void test_buf_limit(void **state)
{
	(void)state;
	ly_buf_t b = {.max = 1024};
	char chunk[100];
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 10; i++)
		assert_int_equal(ly_buf_append(&b, chunk, 100), 0);
	assert_int_equal(b.len, 1000);
	/* max counts the terminating NUL: 1023 bytes of data fit */
	assert_int_equal(ly_buf_append(&b, chunk, 23), 0);
	assert_int_equal(b.len, 1023);
	assert_int_equal(ly_buf_putc(&b, 'y'), LY_ENOMEM);
	assert_int_equal(ly_buf_append(&b, chunk, 100), LY_ENOMEM);
	assert_int_equal(ly_buf_printf(&b, "%d", 7), LY_ENOMEM);
	assert_int_equal(b.len, 1023);
	assert_int_equal(b.data[1023], '\0');
	assert_true(b.cap <= 1025);
	/* refused growth left the content alone */
	assert_int_equal(b.data[0], 'x');
	assert_int_equal(b.data[1022], 'x');

	ly_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	assert_int_equal(ly_buf_printf(&b, "%s-%d", "abc", 42), 0);
	assert_string_equal(b.data, "abc-42");
	assert_int_equal(b.len, 6);
	ly_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	ly_buf_free(NULL);

	/* one append far bigger than max */
	ly_buf_t small = {.max = 64};
	assert_int_equal(ly_buf_append(&small, chunk, 100), LY_ENOMEM);
	assert_int_equal(small.len, 0);
	ly_buf_free(&small);

	/* An append of exactly max bytes onto a non-empty buffer: refused (it
	 * once wrapped the size check and looped forever growing). */
	char big[1024];
	memset(big, 'z', sizeof(big));
	ly_buf_t edge = {.max = 1024};
	assert_int_equal(ly_buf_append(&edge, "x", 1), 0);
	assert_int_equal(ly_buf_append(&edge, big, 1024), LY_ENOMEM);
	assert_int_equal(edge.len, 1);
	/* max counts the NUL: 1023 bytes fit, 1024 do not. */
	assert_int_equal(ly_buf_append(&edge, big, 1022), 0);
	assert_int_equal(edge.len, 1023);
	assert_int_equal(ly_buf_putc(&edge, 'y'), LY_ENOMEM);
	ly_buf_free(&edge);
	ly_buf_t empty = {.max = 16};
	assert_int_equal(ly_buf_append(&empty, big, 16), LY_ENOMEM);
	assert_int_equal(ly_buf_append(&empty, big, 15), 0);
	ly_buf_free(&empty);
}

static void test_buf_json(void **state)
{
	(void)state;
	ly_buf_t b = {0};
	const char in[] = "say \"hi\"\\\x01\n\r\t\x1f\x7f\xc3\xbc/";
	assert_int_equal(ly_buf_json_str(&b, in, sizeof(in) - 1), 0);
	assert_string_equal(b.data,
			    "say \\\"hi\\\"\\\\\\u0001\\n\\r\\t\\u001f\x7f\xc3\xbc/");

	ly_buf_reset(&b);
	/* an embedded NUL is escaped, not a terminator */
	assert_int_equal(ly_buf_json_str(&b, "a\0b", 3), 0);
	assert_string_equal(b.data, "a\\u0000b");

	ly_buf_reset(&b);
	assert_int_equal(ly_buf_json_quoted(&b, "x\"y"), 0);
	assert_int_equal(ly_buf_putc(&b, ','), 0);
	assert_int_equal(ly_buf_json_quoted(&b, NULL), 0);
	assert_int_equal(ly_buf_putc(&b, ','), 0);
	assert_int_equal(ly_buf_json_quoted(&b, ""), 0);
	assert_string_equal(b.data, "\"x\\\"y\",null,\"\"");
	ly_buf_free(&b);

	/* escaping counts against the limit: 10 quotes need 20 bytes */
	ly_buf_t lim = {.max = 16};
	assert_int_equal(ly_buf_json_str(&lim, "\"\"\"\"\"\"\"\"\"\"", 10), LY_ENOMEM);
	assert_true(lim.len <= 15);
	ly_buf_free(&lim);
}

static void test_map(void **state)
{
	(void)state;
	ly_arena_t *a = ly_arena_new(4096);
	assert_non_null(a);
	ly_map_t map;
	assert_int_equal(ly_map_init(&map, a, 3), 0);
	int found = -1;
	int v1 = 1, v2 = 2, v3 = 3;

	void **slot = ly_map_put(&map, "alice", 5, &found);
	assert_non_null(slot);
	assert_int_equal(found, 0);
	assert_null(*slot);
	*slot = &v1;

	slot = ly_map_put(&map, "bob", 3, &found);
	assert_non_null(slot);
	assert_int_equal(found, 0);
	*slot = &v2;

	/* only key_len bytes count: "alice-x" cut to 5 is "alice" */
	slot = ly_map_put(&map, "alice-x", 5, &found);
	assert_non_null(slot);
	assert_int_equal(found, 1);
	assert_ptr_equal(*slot, &v1);

	/* a prefix is a different key */
	slot = ly_map_put(&map, "ali", 3, &found);
	assert_non_null(slot);
	assert_int_equal(found, 0);
	*slot = &v3;
	assert_int_equal(map.len, 3);

	assert_ptr_equal(ly_map_get(&map, "alice", 5), &v1);
	assert_ptr_equal(ly_map_get(&map, "bob", 3), &v2);
	assert_ptr_equal(ly_map_get(&map, "ali", 3), &v3);
	assert_null(ly_map_get(&map, "al", 2));
	assert_null(ly_map_get(&map, "carol", 5));

	/* full: a new key is refused, an existing one is still found */
	found = -1;
	assert_null(ly_map_put(&map, "carol", 5, &found));
	assert_int_equal(map.len, 3);
	assert_null(ly_map_get(&map, "carol", 5));
	slot = ly_map_put(&map, "bob", 3, &found);
	assert_non_null(slot);
	assert_int_equal(found, 1);
	assert_ptr_equal(*slot, &v2);

	/* a larger map: every key keeps its own value */
	static char keys[1000][8];
	static int vals[1000];
	ly_map_t big;
	assert_int_equal(ly_map_init(&big, a, 1000), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "c-%d", i);
		vals[i] = i;
		slot = ly_map_put(&big, keys[i], strlen(keys[i]), &found);
		assert_non_null(slot);
		assert_int_equal(found, 0);
		*slot = &vals[i];
	}
	assert_null(ly_map_put(&big, "c-1000", 6, &found));
	for (int i = 0; i < 1000; i++) {
		int *v = ly_map_get(&big, keys[i], strlen(keys[i]));
		assert_non_null(v);
		assert_int_equal(*v, i);
	}
	assert_null(ly_map_get(&big, "c-1000", 6));

	/* max_len 0 holds nothing */
	ly_map_t none;
	assert_int_equal(ly_map_init(&none, a, 0), 0);
	assert_null(ly_map_put(&none, "a", 1, &found));
	ly_arena_destroy(a);
}

static void test_checked_arithmetic(void **state)
{
	(void)state;
	int64_t r = 0;
	assert_int_equal(ly_add_i64(INT64_MAX - 1, 1, &r), 0);
	assert_int_equal(r, INT64_MAX);
	assert_int_equal(ly_add_i64(INT64_MAX, 1, &r), LY_EINVAL);
	assert_int_equal(ly_add_i64(INT64_MIN, -1, &r), LY_EINVAL);
	assert_int_equal(ly_add_i64(INT64_MAX, INT64_MIN, &r), 0);
	assert_int_equal(r, -1);
	assert_int_equal(ly_add_i64(-5, 3, &r), 0);
	assert_int_equal(r, -2);

	assert_int_equal(ly_mul_i64(INT64_MAX, 1, &r), 0);
	assert_int_equal(r, INT64_MAX);
	assert_int_equal(ly_mul_i64(INT64_MAX, 2, &r), LY_EINVAL);
	assert_int_equal(ly_mul_i64(INT64_MIN, -1, &r), LY_EINVAL);
	assert_int_equal(ly_mul_i64(INT64_C(3037000500), INT64_C(3037000500), &r), LY_EINVAL);
	assert_int_equal(ly_mul_i64(INT64_C(3037000499), INT64_C(3037000499), &r), 0);
	assert_int_equal(r, INT64_C(9223372030926249001));
	/* the engine's worst case: 2^53-1 units times 10^9 points */
	assert_int_equal(ly_mul_i64(INT64_C(9007199254740991), 1000000000, &r), LY_EINVAL);
	assert_int_equal(ly_mul_i64(INT64_C(9007199254740991), 1000, &r), 0);
	assert_int_equal(r, INT64_C(9007199254740991000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339_round_trip),
		cmocka_unit_test(test_rfc3339_fractions),
		cmocka_unit_test(test_rfc3339_offsets),
		cmocka_unit_test(test_rfc3339_invalid),
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_days_from_civil),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_arena_many_blocks),
		cmocka_unit_test(test_arena_alignment),
		cmocka_unit_test(test_arena_reset),
		cmocka_unit_test(test_arena_strings),
		cmocka_unit_test(test_buf_limit),
		cmocka_unit_test(test_buf_json),
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_checked_arithmetic),
	};

	return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
