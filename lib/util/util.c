/*
 * util.c: arena, buffer, logging, time, UTF-8 and hashing helpers shared by
 * every module. See include/loyalty/util.h for the contracts.
 */
#include "loyalty/util.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ly_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr,
		"{\"level\":\"fatal\",\"component\":\"assert\",\"msg\":\"assertion failed: %s at %s:%d\"}\n",
		expr, file, line);
	fflush(stderr);
	abort();
}

/* ---- arena ---- */

typedef struct ly_arena_block {
	struct ly_arena_block *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
} ly_arena_block_t;

struct ly_arena {
	ly_arena_block_t *head; /* current block; the first block is last */
	ly_arena_block_t *spare; /* blocks of block_size kept by a reset */
	size_t block_size;
};

static ly_arena_block_t *arena_block_new(size_t size)
{
	if (size > SIZE_MAX - sizeof(ly_arena_block_t))
		return NULL;
	ly_arena_block_t *b = malloc(sizeof(*b) + size);
	if (!b)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

ly_arena_t *ly_arena_new(size_t block_size)
{
	ly_arena_t *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->block_size = block_size < 1024 ? 1024 : block_size;
	a->head = arena_block_new(a->block_size);
	if (!a->head) {
		free(a);
		return NULL;
	}
	return a;
}

void *ly_arena_alloc(ly_arena_t *a, size_t size)
{
	size_t need = (size + 15) & ~(size_t)15;
	if (need < size)
		return NULL;
	ly_arena_block_t *b = a->head;
	if (b->size - b->used < need) {
		ly_arena_block_t *nb;
		if (need <= a->block_size && a->spare) {
			nb = a->spare;
			a->spare = nb->next;
			nb->used = 0;
		} else if (!(nb = arena_block_new(need > a->block_size ? need
								    : a->block_size))) {
			return NULL;
		}
		nb->next = b;
		a->head = nb;
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += need;
	memset(p, 0, size);
	return p;
}

char *ly_arena_strndup(ly_arena_t *a, const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *p = ly_arena_alloc(a, len + 1);
	if (!p)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void *ly_arena_push(ly_arena_t *arena, void **items, size_t *len, size_t *cap,
		    size_t size, size_t min_cap)
{
	if (*len == *cap) {
		size_t ncap = *cap ? *cap * 2 : min_cap;
		void *n = ly_arena_alloc(arena, ncap * size);
		if (!n)
			return NULL;
		if (*len)
			memcpy(n, *items, *len * size);
		*items = n;
		*cap = ncap;
	}
	void *slot = (char *)*items + (*len)++ * size;
	memset(slot, 0, size);
	return slot;
}

char *ly_arena_strdup(ly_arena_t *a, const char *s)
{
	return ly_arena_strndup(a, s, strlen(s));
}

char *ly_arena_printf(ly_arena_t *a, const char *fmt, ...)
{
	/* one pass for the short texts (reasons, ids) that are most of them */
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if ((size_t)n < sizeof(small))
		return ly_arena_strndup(a, small, (size_t)n);
	char *p = ly_arena_alloc(a, (size_t)n + 1);
	if (!p)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* Blocks of the usual size are kept for the next round, so a worker that
 * resets per batch stops allocating once it has seen its largest batch;
 * oversized blocks (one big allocation) are freed. */
void ly_arena_reset(ly_arena_t *a)
{
	ly_arena_block_t *b = a->head;
	while (b->next) {
		ly_arena_block_t *next = b->next;
		if (b->size == a->block_size) {
			b->next = a->spare;
			a->spare = b;
		} else {
			free(b);
		}
		b = next;
	}
	b->used = 0;
	a->head = b;
}

static void free_blocks(ly_arena_block_t *b)
{
	while (b) {
		ly_arena_block_t *next = b->next;
		free(b);
		b = next;
	}
}

void ly_arena_destroy(ly_arena_t *a)
{
	if (!a)
		return;
	free_blocks(a->head);
	free_blocks(a->spare);
	free(a);
}

/* ---- buffer ---- */

#define LY_BUF_DEFAULT_MAX ((size_t)1 << 30)

static int buf_reserve(ly_buf_t *b, size_t extra)
{
	/* max counts the terminating NUL. */
	size_t max = b->max ? b->max : LY_BUF_DEFAULT_MAX;
	if (extra >= max || b->len > max - extra - 1)
		return LY_ENOMEM;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > max / 2 ? max : cap * 2;
	char *p = realloc(b->data, cap);
	if (!p)
		return LY_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int ly_buf_append(ly_buf_t *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return LY_ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int ly_buf_puts(ly_buf_t *b, const char *s)
{
	return ly_buf_append(b, s, strlen(s));
}

int ly_buf_putc(ly_buf_t *b, char c)
{
	return ly_buf_append(b, &c, 1);
}

int ly_buf_printf(ly_buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return LY_ERR;
	if (buf_reserve(b, (size_t)n))
		return LY_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int ly_buf_json_str(ly_buf_t *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int rc;
		switch (c) {
		case '"': rc = ly_buf_append(b, "\\\"", 2); break;
		case '\\': rc = ly_buf_append(b, "\\\\", 2); break;
		case '\n': rc = ly_buf_append(b, "\\n", 2); break;
		case '\r': rc = ly_buf_append(b, "\\r", 2); break;
		case '\t': rc = ly_buf_append(b, "\\t", 2); break;
		default:
			if (c < 0x20) {
				char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				rc = ly_buf_append(b, e, 6);
			} else {
				rc = ly_buf_putc(b, (char)c);
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

int ly_buf_json_quoted(ly_buf_t *b, const char *s)
{
	if (!s)
		return ly_buf_puts(b, "null");
	if (ly_buf_putc(b, '"') || ly_buf_json_str(b, s, strlen(s)))
		return LY_ENOMEM;
	return ly_buf_putc(b, '"');
}

void ly_buf_reset(ly_buf_t *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void ly_buf_free(ly_buf_t *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- logging ---- */

ly_log_level_t ly_log_level = LY_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ly_log_set_level(ly_log_level_t level)
{
	ly_log_level = level;
}

int ly_log_parse_level(const char *s, ly_log_level_t *out)
{
	for (size_t i = 0; i < LY_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (ly_log_level_t)i;
			return 0;
		}
	}
	return LY_EINVAL;
}

void ly_log_write(ly_log_level_t level, const char *component, const char *fmt,
		  ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	char ts[40];
	ly_time_format_rfc3339(ly_time_now_us(), ts, sizeof(ts));
	char line[4096];
	ly_buf_t b = {0};
	char *out = line;
	ly_buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", ts,
		      level_names[level]);
	ly_buf_json_str(&b, component, strlen(component));
	ly_buf_puts(&b, "\",\"msg\":\"");
	ly_buf_json_str(&b, msg, strlen(msg));
	ly_buf_puts(&b, "\"}\n");
	if (b.data) {
		out = b.data;
		fwrite(out, 1, b.len, stderr);
	} else {
		snprintf(line, sizeof(line), "{\"level\":\"error\",\"msg\":\"log buffer\"}\n");
		fputs(line, stderr);
	}
	ly_buf_free(&b);
}

/* ---- time ---- */

int64_t ly_days_from_civil(int y, int m, int d)
{
	/* Howard Hinnant's days_from_civil. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;
	const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void ly_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	/* Howard Hinnant's civil_from_days. */
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const int64_t doe = z - era * 146097;
	const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static int parse_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return LY_EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int ly_date_parse(const char *s, int *year, int *month, int *day)
{
	int y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return LY_EINVAL;
	if (parse_digits(s, 4, &y) || parse_digits(s + 5, 2, &m) ||
	    parse_digits(s + 8, 2, &d))
		return LY_EINVAL;
	if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return LY_EINVAL;
	*year = y;
	*month = m;
	*day = d;
	return 0;
}

int ly_time_parse_rfc3339(const char *s, int64_t *out_us)
{
	int y, mo, d, h, mi, sec;
	size_t n = strlen(s);
	if (n < 20)
		return LY_EINVAL;
	char date[11];
	memcpy(date, s, 10);
	date[10] = '\0';
	if (ly_date_parse(date, &y, &mo, &d))
		return LY_EINVAL;
	if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return LY_EINVAL;
	if (parse_digits(s + 11, 2, &h) || parse_digits(s + 14, 2, &mi) ||
	    parse_digits(s + 17, 2, &sec))
		return LY_EINVAL;
	if (h > 23 || mi > 59 || sec > 60)
		return LY_EINVAL;
	if (sec == 60)
		sec = 59; /* leap second: clamp */
	const char *p = s + 19;
	int64_t frac_us = 0;
	if (*p == '.') {
		p++;
		int digits = 0;
		while (*p >= '0' && *p <= '9') {
			if (digits < 6)
				frac_us = frac_us * 10 + (*p - '0');
			digits++;
			p++;
		}
		if (digits == 0 || digits > 9)
			return LY_EINVAL;
		for (int i = digits; i < 6; i++)
			frac_us *= 10;
	}
	int64_t offset_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (strlen(p) != 6 || p[3] != ':' || parse_digits(p + 1, 2, &oh) ||
		    parse_digits(p + 4, 2, &om) || oh > 23 || om > 59)
			return LY_EINVAL;
		offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return LY_EINVAL;
	}
	if (*p != '\0')
		return LY_EINVAL;
	int64_t days = ly_days_from_civil(y, mo, d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
	*out_us = secs * 1000000 + frac_us;
	return 0;
}

void ly_time_format_rfc3339(int64_t us, char *buf, size_t size)
{
	int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac = us - secs * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t rem = secs - days * 86400;
	int y, m, d;
	ly_civil_from_days(days, &y, &m, &d);
	if (frac)
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", y, m, d,
			 (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60),
			 (long long)frac);
	else
		snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
			 (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60));
}

int64_t ly_time_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ly_time_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- UTF-8 ---- */

int ly_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t len;
		unsigned cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += len;
	}
	return 1;
}

int ly_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return LY_EINVAL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return LY_EINVAL;
	*out = v;
	return 0;
}

int ly_hex4(const char *s, size_t len, unsigned *out)
{
	unsigned v = 0;
	if (len < 4)
		return LY_EINVAL;
	for (size_t i = 0; i < 4; i++) {
		unsigned char c = (unsigned char)s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return LY_EINVAL;
	}
	*out = v;
	return 0;
}

/* ---- hashing ---- */

void ly_sha256_hex(const void *data, size_t n, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ok = EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	LY_ASSERT(ok == 1 && mdlen == 32);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

/* ---- files ---- */

int ly_read_file(const char *path, size_t max, char **out, size_t *out_len,
		 char *errstr, size_t errstr_size)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		return LY_EIO;
	}
	ly_buf_t b = {.max = max + 1};
	char chunk[65536];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > max) {
			snprintf(errstr, errstr_size, "%s: file is larger than %zu bytes",
				 path, max);
			rc = LY_EINVAL;
			goto out;
		}
		if (ly_buf_append(&b, chunk, n)) {
			snprintf(errstr, errstr_size, "%s: out of memory", path);
			rc = LY_ENOMEM;
			goto out;
		}
	}
	if (ferror(f)) {
		snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
		rc = LY_EIO;
		goto out;
	}
	if (!b.data && ly_buf_append(&b, "", 0)) {
		rc = LY_ENOMEM;
		goto out;
	}
	*out = b.data;
	*out_len = b.len;
	b.data = NULL;
out:
	ly_buf_free(&b);
	fclose(f);
	return rc;
}

int ly_add_i64(int64_t a, int64_t b, int64_t *out)
{
	return __builtin_add_overflow(a, b, out) ? LY_EINVAL : 0;
}

int ly_mul_i64(int64_t a, int64_t b, int64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? LY_EINVAL : 0;
}

/* ---- hash map ---- */

static uint64_t hash_bytes(const char *s, size_t n)
{
	/* FNV-1a, 64-bit: fine for keys the batch chose itself. */
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int ly_map_init(ly_map_t *map, ly_arena_t *arena, size_t max_len)
{
	size_t cap = 16;
	if (max_len > SIZE_MAX / 4 / sizeof(ly_map_slot_t))
		return LY_ENOMEM;
	while (cap < max_len * 2) {
		if (cap > SIZE_MAX / 4 / sizeof(ly_map_slot_t))
			return LY_ENOMEM;
		cap *= 2;
	}
	map->slots = ly_arena_alloc(arena, cap * sizeof(ly_map_slot_t));
	if (!map->slots)
		return LY_ENOMEM;
	map->cap = cap;
	map->len = 0;
	map->max_len = max_len;
	return 0;
}

static ly_map_slot_t *map_find(const ly_map_t *map, const char *key,
			       size_t key_len, uint64_t h)
{
	size_t mask = map->cap - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		ly_map_slot_t *slot = &map->slots[i];
		if (!slot->key)
			return slot;
		if (slot->hash == h && slot->key_len == key_len &&
		    memcmp(slot->key, key, key_len) == 0)
			return slot;
	}
}

void **ly_map_put(ly_map_t *map, const char *key, size_t key_len, int *found)
{
	uint64_t h = hash_bytes(key, key_len);
	ly_map_slot_t *slot = map_find(map, key, key_len, h);
	if (slot->key) {
		*found = 1;
		return &slot->value;
	}
	if (map->len >= map->max_len)
		return NULL;
	slot->key = key;
	slot->key_len = key_len;
	slot->hash = h;
	slot->value = NULL;
	map->len++;
	*found = 0;
	return &slot->value;
}

void *ly_map_get(const ly_map_t *map, const char *key, size_t key_len)
{
	ly_map_slot_t *slot = map_find(map, key, key_len, hash_bytes(key, key_len));
	return slot->key ? slot->value : NULL;
}
