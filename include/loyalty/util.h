/*
 * util.h: the small pieces every module shares: error codes, an always-on
 * assertion, a bump arena for per-batch memory, a bounded growable buffer,
 * JSON-lines logging, RFC 3339 time, UTF-8 validation and SHA-256.
 *
 * Nothing here does I/O except the logger, which writes to stderr.
 */
#ifndef LOYALTY_UTIL_H
#define LOYALTY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Return codes: 0 or a negative ly_err. */
typedef enum ly_err {
	LY_OK = 0,
	LY_ERR = -1,       /* generic failure, see errstr */
	LY_ENOMEM = -2,    /* allocation failed or a limit was reached */
	LY_EINVAL = -3,    /* bad input (event, file, argument) */
	LY_EIO = -4,       /* a server or the file system failed */
	LY_ECONFLICT = -5, /* a compare-and-set lost (partition moved on) */
	LY_ENOTFOUND = -6,
	LY_ERETRY = -7 /* transient: retry the same work later */
} ly_err;

/* Always on, for programmer errors only (never for input). */
void ly_assert_fail(const char *expr, const char *file, int line);
#define LY_ASSERT(expr) \
	((expr) ? (void)0 : ly_assert_fail(#expr, __FILE__, __LINE__))

#define LY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Bump allocator. Memory lives until ly_arena_reset()/destroy(). */
typedef struct ly_arena ly_arena_t;

/* The caller frees with ly_arena_destroy(). NULL on allocation failure. */
ly_arena_t *ly_arena_new(size_t block_size);
/* Aligned for any type (16 bytes), zeroed. NULL if out of memory. */
void *ly_arena_alloc(ly_arena_t *arena, size_t size);
/* NUL-terminated copy of s[0..len). */
char *ly_arena_strndup(ly_arena_t *arena, const char *s, size_t len);
/*
 * Appends one zeroed element of size bytes to the array *items (len used,
 * cap room) in arena, doubling it (from min_cap) when full; the old block
 * stays in the arena. Returns the element, or NULL when out of memory.
 */
void *ly_arena_push(ly_arena_t *arena, void **items, size_t *len, size_t *cap,
		    size_t size, size_t min_cap);
char *ly_arena_strdup(ly_arena_t *arena, const char *s);
char *ly_arena_printf(ly_arena_t *arena, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Frees everything allocated, keeping the blocks of the usual size for
 * reuse: memory stays at the high-water mark of one round. */
void ly_arena_reset(ly_arena_t *arena);
/* Accepts NULL. */
void ly_arena_destroy(ly_arena_t *arena);

/* Growable byte buffer with a hard cap on its storage, the terminating NUL
 * included (max == 0: 1 GiB). Always NUL-terminated after a successful
 * append; a refused append leaves it as it was. */
typedef struct ly_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
} ly_buf_t;

int ly_buf_append(ly_buf_t *b, const void *p, size_t n);
int ly_buf_puts(ly_buf_t *b, const char *s);
int ly_buf_putc(ly_buf_t *b, char c);
int ly_buf_printf(ly_buf_t *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as the inside of a JSON string (no quotes added). */
int ly_buf_json_str(ly_buf_t *b, const char *s, size_t n);
/* Appends s as a quoted JSON string, or null when s is NULL. */
int ly_buf_json_quoted(ly_buf_t *b, const char *s);
void ly_buf_reset(ly_buf_t *b);
/* Frees the storage; the struct may be reused. Accepts NULL. */
void ly_buf_free(ly_buf_t *b);

/* Logging: one JSON object per line on stderr. */
typedef enum ly_log_level {
	LY_LOG_DEBUG = 0,
	LY_LOG_INFO = 1,
	LY_LOG_WARN = 2,
	LY_LOG_ERROR = 3
} ly_log_level_t;

void ly_log_set_level(ly_log_level_t level);
int ly_log_parse_level(const char *s, ly_log_level_t *out);
extern ly_log_level_t ly_log_level;
/* Component is a short constant ("worker", "store", "kafka", ...). */
void ly_log_write(ly_log_level_t level, const char *component, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));
#define ly_log(level, component, ...)                          \
	do {                                                   \
		if ((level) >= ly_log_level)                   \
			ly_log_write(level, component, __VA_ARGS__); \
	} while (0)

/* Time: microseconds since the Unix epoch, UTC. */
/* Parses RFC 3339 ("2026-11-22T10:00:00Z", fractions and offsets
 * allowed). 0 or LY_EINVAL. */
int ly_time_parse_rfc3339(const char *s, int64_t *out_us);
/* Writes "2026-11-22T10:00:00.123456Z" (fraction only when non-zero). */
void ly_time_format_rfc3339(int64_t us, char *buf, size_t size);
/* Parses "YYYY-MM-DD" and checks it is a real date. */
int ly_date_parse(const char *s, int *year, int *month, int *day);
/* Days since 1970-01-01 for a proleptic Gregorian date. */
int64_t ly_days_from_civil(int year, int month, int day);
/* The date of a day count since 1970-01-01; the inverse of the above. */
void ly_civil_from_days(int64_t days, int *year, int *month, int *day);
/* Microseconds in a day of 86,400 seconds (no leap seconds). */
#define LY_US_PER_DAY (INT64_C(86400) * 1000000)

int64_t ly_time_now_us(void);
int64_t ly_time_mono_ms(void);

/* Reads the four hex digits of a \u escape from s[0..len): 0 and *out, or
 * LY_EINVAL when fewer than four bytes are there or one is not a hex digit. */
int ly_hex4(const char *s, size_t len, unsigned *out);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int ly_utf8_valid(const char *s, size_t n);

/* Lowercase hex SHA-256 of data, written to out (65 bytes with NUL). */
void ly_sha256_hex(const void *data, size_t n, char out[65]);

/* Reads a whole file (at most max bytes) into a malloc'd NUL-terminated
 * buffer the caller frees. */
int ly_read_file(const char *path, size_t max, char **out, size_t *out_len,
		 char *errstr, size_t errstr_size);

/* A decimal number in [min, max] (digits only: no sign, blank or trailing
 * text) into *out: 0, or LY_EINVAL. */
int ly_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Checked int64 arithmetic: 0 on success, LY_EINVAL on overflow. */
int ly_add_i64(int64_t a, int64_t b, int64_t *out);
int ly_mul_i64(int64_t a, int64_t b, int64_t *out);

/*
 * A fixed-capacity string-keyed hash map in an arena, for per-batch
 * lookups. Keys are borrowed: they must outlive the map.
 */
typedef struct ly_map_slot {
	const char *key; /* NULL: empty */
	size_t key_len;
	uint64_t hash;
	void *value;
} ly_map_slot_t;

typedef struct ly_map {
	ly_map_slot_t *slots;
	size_t cap; /* power of two */
	size_t len;
	size_t max_len;
} ly_map_t;

/* Room for max_len keys. LY_ENOMEM if the arena is out of memory. */
int ly_map_init(ly_map_t *map, ly_arena_t *arena, size_t max_len);
/* The value slot of key, inserted (value NULL) when absent; *found says
 * which. NULL when the map already holds max_len keys. */
void **ly_map_put(ly_map_t *map, const char *key, size_t key_len, int *found);
/* The value of key, or NULL. */
void *ly_map_get(const ly_map_t *map, const char *key, size_t key_len);

#endif
