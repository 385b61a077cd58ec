/*
 * outbox_test.c: the encoding of Kafka headers in the outbox's bytea
 * column (lib/outbox): the exact bytes, round trips with NULL, empty and
 * binary values, the header limit, and decoding of every truncation and
 * corruption of a valid blob. Each decoded blob sits in its own heap copy
 * of exactly its length so the ASan build catches any read past the end.
 * The relay itself needs a broker and PostgreSQL and is covered by the
 * integration tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/outbox.h"
#include "loyalty/util.h"

static int setup(void **state)
{
	ly_arena_t *arena = ly_arena_new(1 << 16);
	if (!arena)
		return -1;
	*state = arena;
	return 0;
}

static int teardown(void **state)
{
	ly_arena_destroy(*state);
	return 0;
}

/* Decodes a heap copy of exactly blob_len bytes. */
static int decode_copy(const void *blob, size_t blob_len, ly_header_t **hs,
		       size_t *hn, ly_arena_t *arena)
{
	void *copy = malloc(blob_len ? blob_len : 1);
	assert_non_null(copy);
	if (blob_len)
		memcpy(copy, blob, blob_len);
	int rc = ly_outbox_headers_decode(copy, blob_len, hs, hn, arena);
	free(copy);
	return rc;
}

static void test_encode_bytes(void **state)
{
	(void)state;
	const ly_header_t hs[] = {
		{"ce_id", "e1", 2},
		{"k", NULL, 0},
		{"", "", 0},
	};
	static const unsigned char want[] = {
		0, 0, 0, 5, 'c', 'e', '_', 'i', 'd', 0, 0, 0, 2, 'e', '1',
		0, 0, 0, 1, 'k', 0xff, 0xff, 0xff, 0xff, /* NULL value: -1 */
		0, 0, 0, 0, 0, 0, 0, 0,                  /* empty key, empty value */
	};
	ly_buf_t out = {0};
	assert_int_equal(ly_outbox_headers_encode(&out, hs, LY_ARRAY_LEN(hs)), 0);
	assert_int_equal(out.len, sizeof(want));
	assert_memory_equal(out.data, want, sizeof(want));

	/* encode appends; no headers appends nothing */
	assert_int_equal(ly_outbox_headers_encode(&out, hs, 1), 0);
	assert_int_equal(out.len, sizeof(want) + 15);
	assert_memory_equal(out.data + sizeof(want), want, 15);
	assert_int_equal(ly_outbox_headers_encode(&out, NULL, 0), 0);
	assert_int_equal(out.len, sizeof(want) + 15);
	ly_buf_free(&out);
}

static void test_round_trip(void **state)
{
	ly_arena_t *arena = *state;
	static const unsigned char binary[] = {0x00, 0x01, 0xff, 0x00, 'z', 0x80, 0x00};
	const ly_header_t in[] = {
		{"ce_specversion", "1.0", 3},
		{"null-value", NULL, 0},
		{"empty-value", "", 0},
		{"binary", binary, sizeof(binary)},
		{"ce_type", "loyalty.points.earned", 21},
	};
	ly_buf_t blob = {0};
	assert_int_equal(ly_outbox_headers_encode(&blob, in, LY_ARRAY_LEN(in)), 0);

	ly_header_t *out = NULL;
	size_t n = 0;
	assert_int_equal(decode_copy(blob.data, blob.len, &out, &n, arena), 0);
	assert_int_equal(n, 5);

	assert_string_equal(out[0].key, "ce_specversion");
	assert_int_equal(out[0].value_len, 3);
	assert_memory_equal(out[0].value, "1.0", 3);

	assert_string_equal(out[1].key, "null-value");
	assert_null(out[1].value);
	assert_int_equal(out[1].value_len, 0);

	assert_string_equal(out[2].key, "empty-value");
	assert_non_null(out[2].value);
	assert_int_equal(out[2].value_len, 0);

	assert_string_equal(out[3].key, "binary");
	assert_int_equal(out[3].value_len, sizeof(binary));
	assert_memory_equal(out[3].value, binary, sizeof(binary));

	assert_string_equal(out[4].key, "ce_type");
	assert_int_equal(out[4].value_len, 21);
	assert_memory_equal(out[4].value, "loyalty.points.earned", 21);

	/* decoded values do not point into the blob */
	ly_buf_free(&blob);
	assert_memory_equal(out[3].value, binary, sizeof(binary));
}

static void test_empty_blob(void **state)
{
	ly_arena_t *arena = *state;
	ly_header_t *out = NULL;
	size_t n = 99;
	assert_int_equal(decode_copy("", 0, &out, &n, arena), 0);
	assert_int_equal(n, 0);
}

/* Cuts a valid blob at every length; only header boundaries decode. */
static void test_truncated(void **state)
{
	ly_arena_t *arena = *state;
	const ly_header_t in[] = {
		{"ce_id", "evt-1", 5},
		{"nil", NULL, 0},
		{"bin", "\0\1\2", 3},
	};
	/* where each header ends: 4+5+4+5, +4+3+4, +4+3+4+3 */
	const size_t ends[] = {18, 29, 43};
	ly_buf_t blob = {0};
	assert_int_equal(ly_outbox_headers_encode(&blob, in, LY_ARRAY_LEN(in)), 0);
	assert_int_equal(blob.len, 43);

	for (size_t cut = 1; cut < blob.len; cut++) {
		ly_header_t *out = NULL;
		size_t n = 0;
		int rc = decode_copy(blob.data, cut, &out, &n, arena);
		size_t whole = 0;
		while (whole < LY_ARRAY_LEN(ends) && ends[whole] <= cut)
			whole++;
		if (whole && ends[whole - 1] == cut) {
			/* a cut between headers is a shorter valid blob */
			if (rc != 0)
				print_error("cut %zu: rc %d\n", cut, rc);
			assert_int_equal(rc, 0);
			assert_int_equal(n, whole);
			assert_string_equal(out[whole - 1].key, in[whole - 1].key);
		} else {
			if (rc != LY_EINVAL)
				print_error("cut %zu: rc %d, want LY_EINVAL\n", cut, rc);
			assert_int_equal(rc, LY_EINVAL);
		}
		ly_arena_reset(arena);
	}
	ly_buf_free(&blob);
}

static void test_corrupt_lengths(void **state)
{
	ly_arena_t *arena = *state;
	ly_header_t *out = NULL;
	size_t n = 0;
	/* key length beyond the blob */
	static const unsigned char long_key[] = {0, 0, 0, 9, 'k', 0xff, 0xff, 0xff, 0xff};
	assert_int_equal(decode_copy(long_key, sizeof(long_key), &out, &n, arena), LY_EINVAL);
	/* a key length of 4 GiB - 1 */
	static const unsigned char huge_key[] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	assert_int_equal(decode_copy(huge_key, sizeof(huge_key), &out, &n, arena), LY_EINVAL);
	/* a negative value length other than -1 */
	static const unsigned char neg_value[] = {0, 0, 0, 1, 'k', 0xff, 0xff, 0xff, 0xfe, 'v'};
	assert_int_equal(decode_copy(neg_value, sizeof(neg_value), &out, &n, arena), LY_EINVAL);
	/* value length one more than what is there */
	static const unsigned char short_value[] = {0, 0, 0, 1, 'k', 0, 0, 0, 3, 'v', 'v'};
	assert_int_equal(decode_copy(short_value, sizeof(short_value), &out, &n, arena), LY_EINVAL);
	/* the same with the right length decodes */
	static const unsigned char ok[] = {0, 0, 0, 1, 'k', 0, 0, 0, 2, 'v', 'v'};
	assert_int_equal(decode_copy(ok, sizeof(ok), &out, &n, arena), 0);
	assert_int_equal(n, 1);
	assert_string_equal(out[0].key, "k");
	assert_int_equal(out[0].value_len, 2);
	assert_memory_equal(out[0].value, "vv", 2);
}

static void test_headers_max(void **state)
{
	ly_arena_t *arena = *state;
	enum { N = LY_OUTBOX_HEADERS_MAX + 1 };
	static ly_header_t in[N];
	static char keys[N][8];
	for (size_t i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "h%zu", i);
		in[i] = (ly_header_t){keys[i], "v", 1};
	}

	ly_buf_t blob = {0};
	assert_int_equal(ly_outbox_headers_encode(&blob, in, N), LY_EINVAL);
	assert_int_equal(blob.len, 0); /* nothing half-written */

	assert_int_equal(ly_outbox_headers_encode(&blob, in, LY_OUTBOX_HEADERS_MAX), 0);
	ly_header_t *out = NULL;
	size_t n = 0;
	assert_int_equal(decode_copy(blob.data, blob.len, &out, &n, arena), 0);
	assert_int_equal(n, LY_OUTBOX_HEADERS_MAX);
	assert_string_equal(out[0].key, "h0");
	assert_string_equal(out[LY_OUTBOX_HEADERS_MAX - 1].key, "h255");
	assert_memory_equal(out[LY_OUTBOX_HEADERS_MAX - 1].value, "v", 1);

	/* a blob with one header too many (written by hand) is refused */
	assert_int_equal(ly_outbox_headers_encode(&blob, &in[N - 1], 1), 0);
	assert_int_equal(decode_copy(blob.data, blob.len, &out, &n, arena), LY_EINVAL);
	ly_buf_free(&blob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_bytes),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_headers_max, setup, teardown),
	};

	return cmocka_run_group_tests_name("outbox", tests, NULL, NULL);
}
