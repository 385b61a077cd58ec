/*
 * tz.c: time zones from compiled TZif files (RFC 8536, RFC 9636) and the
 * calendar periods rule limits count in.
 *
 * A zone is a table of transitions (UTC instants in seconds, each naming a
 * local time type: offset, DST flag, abbreviation) plus, in version 2 and
 * later files, a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3") that
 * extends the table past its last transition; fat and slim files both work.
 * Before the first transition time type 0 applies (RFC 8536 3.2). Only the
 * 64-bit data block of a v2+ file is used; a v1 file has only the 32-bit
 * one. Files with leap-second records (the "right/" zones) are refused:
 * the engine's instants are POSIX time, which has no leap seconds.
 *
 * Everything about a file is checked before it is used (counts against the
 * file size, indices against their tables, ascending transitions, offsets
 * within the RFC's range), so a corrupt file is refused with LY_EINVAL and
 * a loaded zone's lookups never fail. All lookups work in whole seconds,
 * as the data does, and never touch libc's process-global zone state.
 */
#include "loyalty/tz.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loyalty/util.h"

#define SECS_PER_DAY  INT64_C(86400)
#define US_PER_SEC    INT64_C(1000000)
/* The UT offsets RFC 8536 allows (-24:59:59 .. +25:59:59). */
#define TZ_UTOFF_MIN  (-89999)
#define TZ_UTOFF_MAX  93599
/* POSIX TZ string limits: the footer's length, an abbreviation's length,
 * and the hours of a rule time (RFC 8536 extension: -167..167). */
#define TZ_FOOTER_MAX 255
#define TZ_ABBR_MAX   31
#define TZ_RULE_HOURS 167
/* Local days accepted by ly_tz_day_start_us() before it saturates; the
 * instants stay well inside int64 microseconds. */
#define TZ_DAY_LIMIT  INT64_C(100000000)

typedef struct tz_type {
	int32_t utoff; /* seconds east of UTC */
	uint8_t isdst;
	uint32_t abbr; /* index into ly_tz.abbrs */
} tz_type_t;

/* When a POSIX TZ rule switches: a day of the year and a local time. */
enum { WHEN_JULIAN1, WHEN_DAY0, WHEN_MWD };
typedef struct tz_when {
	int kind;     /* Jn: n 1..365, Feb 29 never counted; n: 0..365; Mm.w.d */
	int day;      /* n, or d (0 = Sunday) for Mm.w.d */
	int week;     /* w: 1..5, 5 = the last */
	int month;    /* m: 1..12 */
	int32_t time; /* seconds after local midnight, -167h..167h */
} tz_when_t;

typedef struct tz_rule {
	int32_t std_utoff;
	int32_t dst_utoff;
	int has_dst;
	tz_when_t start; /* standard -> DST, in standard local time */
	tz_when_t end;   /* DST -> standard, in DST local time */
	char std_abbr[TZ_ABBR_MAX + 1];
	char dst_abbr[TZ_ABBR_MAX + 1];
} tz_rule_t;

struct ly_tz {
	char *name;
	int64_t *trans;       /* transition instants, seconds, strictly ascending */
	uint8_t *trans_types; /* the type each transition switches to */
	size_t trans_len;
	tz_type_t *types; /* at least one */
	size_t types_len;
	char *abbrs; /* the file's designations, NUL-terminated at the end */
	size_t abbrs_len;
	int has_rule; /* a non-empty footer: applies from the last transition */
	tz_rule_t rule;
};

/* What a lookup finds: borrowed from the zone. */
typedef struct tz_local {
	int32_t utoff;
	int isdst;
	const char *abbr;
} tz_local_t;

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *errstr, size_t errstr_size, const char *fmt, ...)
{
	va_list ap;
	if (!errstr || errstr_size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errstr_size, fmt, ap);
	va_end(ap);
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* ---- calendar arithmetic ---- */

int ly_weekday_from_days(int64_t days)
{
	/* 1970-01-01 was a Thursday (3 when Monday is 0). */
	return (int)floor_mod(days + 3, 7);
}

int ly_is_leap_year(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

int ly_days_in_month(int year, int month)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	LY_ASSERT(month >= 1 && month <= 12);
	if (month == 2 && ly_is_leap_year(year))
		return 29;
	return dm[month - 1];
}

/* ---- POSIX TZ strings (the TZif footer) ---- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* "CET", or "<+03>" / "<-0330>" quoted: at least 3 characters. */
static int parse_abbr(const char **pp, char *out)
{
	const char *p = *pp;
	size_t n = 0;
	if (*p == '<') {
		p++;
		for (; *p && *p != '>'; p++) {
			if (!is_alpha(*p) && !is_digit(*p) && *p != '+' && *p != '-')
				return LY_EINVAL;
			if (n >= TZ_ABBR_MAX)
				return LY_EINVAL;
			out[n++] = *p;
		}
		if (*p != '>')
			return LY_EINVAL;
		p++;
	} else {
		for (; is_alpha(*p); p++) {
			if (n >= TZ_ABBR_MAX)
				return LY_EINVAL;
			out[n++] = *p;
		}
	}
	if (n < 3)
		return LY_EINVAL;
	out[n] = '\0';
	*pp = p;
	return 0;
}

/* 1 to max_digits decimal digits, at most max. */
static int parse_uint(const char **pp, int max_digits, int max, int *out)
{
	const char *p = *pp;
	int v = 0, n = 0;
	while (is_digit(*p)) {
		if (++n > max_digits)
			return LY_EINVAL;
		v = v * 10 + (*p++ - '0');
	}
	if (n == 0 || v > max)
		return LY_EINVAL;
	*out = v;
	*pp = p;
	return 0;
}

/* [+-]hh[:mm[:ss]] in seconds, hours at most max_hours. */
static int parse_hms(const char **pp, int max_hours, int32_t *out)
{
	const char *p = *pp;
	int sign = 1, h, m = 0, s = 0;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (parse_uint(&p, 3, max_hours, &h))
		return LY_EINVAL;
	if (*p == ':') {
		p++;
		if (parse_uint(&p, 2, 59, &m))
			return LY_EINVAL;
		if (*p == ':') {
			p++;
			if (parse_uint(&p, 2, 59, &s))
				return LY_EINVAL;
		}
	}
	*out = sign * (h * 3600 + m * 60 + s);
	*pp = p;
	return 0;
}

/* A POSIX offset is west of UTC: "-3" is UTC+3. */
static int parse_offset(const char **pp, int32_t *utoff)
{
	int32_t west;
	if (parse_hms(pp, 24, &west))
		return LY_EINVAL;
	*utoff = -west;
	return 0;
}

static int parse_when(const char **pp, tz_when_t *w)
{
	const char *p = *pp;
	memset(w, 0, sizeof(*w));
	if (*p == 'J') {
		p++;
		w->kind = WHEN_JULIAN1;
		if (parse_uint(&p, 3, 365, &w->day) || w->day < 1)
			return LY_EINVAL;
	} else if (*p == 'M') {
		p++;
		w->kind = WHEN_MWD;
		if (parse_uint(&p, 2, 12, &w->month) || w->month < 1 || *p++ != '.' ||
		    parse_uint(&p, 1, 5, &w->week) || w->week < 1 || *p++ != '.' ||
		    parse_uint(&p, 1, 6, &w->day))
			return LY_EINVAL;
	} else {
		w->kind = WHEN_DAY0;
		if (parse_uint(&p, 3, 365, &w->day))
			return LY_EINVAL;
	}
	w->time = 2 * 3600;
	if (*p == '/') {
		p++;
		if (parse_hms(&p, TZ_RULE_HOURS, &w->time))
			return LY_EINVAL;
	}
	*pp = p;
	return 0;
}

/* std offset [dst [offset] [,start[/time],end[/time]]] */
static int parse_tz_string(const char *s, tz_rule_t *r)
{
	const char *p = s;
	memset(r, 0, sizeof(*r));
	if (parse_abbr(&p, r->std_abbr) || parse_offset(&p, &r->std_utoff))
		return LY_EINVAL;
	if (*p == '\0')
		return 0;
	r->has_dst = 1;
	if (parse_abbr(&p, r->dst_abbr))
		return LY_EINVAL;
	r->dst_utoff = r->std_utoff + 3600;
	if (*p != '\0' && *p != ',' && parse_offset(&p, &r->dst_utoff))
		return LY_EINVAL;
	if (*p == '\0') {
		/* No rule: POSIX leaves it to the implementation; tzcode and
		 * glibc use the US rules, and so do we. */
		p = ",M3.2.0,M11.1.0";
	}
	if (*p++ != ',' || parse_when(&p, &r->start) || *p++ != ',' ||
	    parse_when(&p, &r->end) || *p != '\0')
		return LY_EINVAL;
	return 0;
}

static int64_t year_start_secs(int year)
{
	return ly_days_from_civil(year, 1, 1) * SECS_PER_DAY;
}

/* The day of the year (0-based) a rule names in that year. */
static int64_t when_yday(const tz_when_t *w, int year)
{
	switch (w->kind) {
	case WHEN_JULIAN1:
		return w->day - 1 + (ly_is_leap_year(year) && w->day >= 60);
	case WHEN_DAY0:
		return w->day;
	default: {
		const int64_t first = ly_days_from_civil(year, w->month, 1);
		/* Sunday is 0 here, as in the TZ string. */
		const int wday = (int)floor_mod(first + 4, 7);
		int mday = 1 + (w->day - wday + 7) % 7 + (w->week - 1) * 7;
		while (mday > ly_days_in_month(year, w->month))
			mday -= 7;
		return first - ly_days_from_civil(year, 1, 1) + mday - 1;
	}
	}
}

/* The UTC instant (seconds) a rule switches in that year, its local time
 * read with the offset in effect before the switch. */
static int64_t when_utc(const tz_when_t *w, int year, int32_t utoff_before)
{
	return year_start_secs(year) + when_yday(w, year) * SECS_PER_DAY + w->time -
	       utoff_before;
}

/* DST all year: the rule switches to DST no later than the year begins
 * and back no earlier than it ends (v3 "EST5EDT,0/0,J365/25"). Same test
 * as tzcode. */
static int rule_all_dst(const tz_rule_t *r, int year)
{
	const int64_t start = when_utc(&r->start, year, r->std_utoff);
	const int64_t end = when_utc(&r->end, year, r->dst_utoff);
	const int64_t year_secs = (365 + ly_is_leap_year(year)) * SECS_PER_DAY;
	return start < end && end - start >= year_secs;
}

static int year_of_secs(int64_t secs)
{
	int y, m, d;
	ly_civil_from_days(floor_div(secs, SECS_PER_DAY), &y, &m, &d);
	return y;
}

/* The switches of the years around secs's UTC year, which holds every
 * switch near secs even with rule times of +-167h. */
#define RULE_SWITCHES 8
static void rule_switches(const tz_rule_t *r, int year, int64_t at[RULE_SWITCHES],
			  int to_dst[RULE_SWITCHES])
{
	for (int i = 0; i < RULE_SWITCHES / 2; i++) {
		at[2 * i] = when_utc(&r->start, year - 1 + i, r->std_utoff);
		to_dst[2 * i] = 1;
		at[2 * i + 1] = when_utc(&r->end, year - 1 + i, r->dst_utoff);
		to_dst[2 * i + 1] = 0;
	}
}

static tz_local_t rule_lookup(const tz_rule_t *r, int64_t secs)
{
	tz_local_t std = {r->std_utoff, 0, r->std_abbr};
	tz_local_t dst = {r->dst_utoff, 1, r->dst_abbr};
	int64_t at[RULE_SWITCHES], best_at = 0;
	int to_dst[RULE_SWITCHES], best = -1;
	int year;

	if (!r->has_dst)
		return std;
	year = year_of_secs(secs);
	if (rule_all_dst(r, year))
		return dst;
	rule_switches(r, year, at, to_dst);
	for (int i = 0; i < RULE_SWITCHES; i++) {
		if (at[i] <= secs && (best < 0 || at[i] >= best_at)) {
			best = i;
			best_at = at[i];
		}
	}
	return best >= 0 && to_dst[best] ? dst : std;
}

/* The first switch after secs, or INT64_MAX. */
static int64_t rule_next(const tz_rule_t *r, int64_t secs)
{
	int64_t at[RULE_SWITCHES], next = INT64_MAX;
	int to_dst[RULE_SWITCHES];
	int year;

	if (!r->has_dst)
		return INT64_MAX;
	year = year_of_secs(secs);
	if (rule_all_dst(r, year))
		return INT64_MAX;
	rule_switches(r, year, at, to_dst);
	for (int i = 0; i < RULE_SWITCHES; i++) {
		if (at[i] > secs && at[i] < next)
			next = at[i];
	}
	return next;
}

/* ---- lookups ---- */

/* The index of the last transition at or before secs, or -1. */
static ptrdiff_t trans_index(const ly_tz_t *tz, int64_t secs)
{
	size_t lo = 0, hi = tz->trans_len; /* answer in [lo, hi) + 1 */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->trans[mid] <= secs)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (ptrdiff_t)lo - 1;
}

static tz_local_t type_local(const ly_tz_t *tz, size_t type)
{
	const tz_type_t *t = &tz->types[type];
	tz_local_t l = {t->utoff, t->isdst, tz->abbrs + t->abbr};
	return l;
}

static tz_local_t lookup(const ly_tz_t *tz, int64_t secs)
{
	ptrdiff_t i = trans_index(tz, secs);
	if (tz->has_rule && i == (ptrdiff_t)tz->trans_len - 1)
		return rule_lookup(&tz->rule, secs);
	if (i < 0)
		return type_local(tz, 0);
	return type_local(tz, tz->trans_types[i]);
}

/* The first instant after secs at which the offset may change (some may
 * not change it), or INT64_MAX. */
static int64_t next_change(const ly_tz_t *tz, int64_t secs)
{
	ptrdiff_t i = trans_index(tz, secs);
	if (i + 1 < (ptrdiff_t)tz->trans_len)
		return tz->trans[i + 1];
	return tz->has_rule ? rule_next(&tz->rule, secs) : INT64_MAX;
}

static int64_t secs_of_us(int64_t us)
{
	return floor_div(us, US_PER_SEC);
}

const char *ly_tz_name(const ly_tz_t *tz)
{
	return tz->name;
}

int64_t ly_tz_offset_us(const ly_tz_t *tz, int64_t utc_us)
{
	return (int64_t)lookup(tz, secs_of_us(utc_us)).utoff * US_PER_SEC;
}

const char *ly_tz_abbrev(const ly_tz_t *tz, int64_t utc_us)
{
	return lookup(tz, secs_of_us(utc_us)).abbr;
}

int64_t ly_tz_local_day(const ly_tz_t *tz, int64_t utc_us)
{
	return floor_div(add_sat(utc_us, ly_tz_offset_us(tz, utc_us)), LY_US_PER_DAY);
}

int64_t ly_tz_day_start_us(const ly_tz_t *tz, int64_t local_day)
{
	int64_t midnight, t, hi;

	if (local_day > TZ_DAY_LIMIT)
		return INT64_MAX;
	if (local_day < -TZ_DAY_LIMIT)
		return INT64_MIN;
	midnight = local_day * SECS_PER_DAY; /* local seconds */
	/* Offsets are within about +-26h, so the answer lies in this window;
	 * walk its constant-offset stretches in order and take the first
	 * instant whose local time reaches midnight. */
	t = midnight - 2 * SECS_PER_DAY;
	hi = midnight + 3 * SECS_PER_DAY;
	while (t < hi) {
		const int32_t utoff = lookup(tz, t).utoff;
		int64_t next = next_change(tz, t);
		int64_t cand = midnight - utoff;
		if (next > hi)
			next = hi;
		if (cand < t)
			cand = t;
		if (cand < next)
			return cand * US_PER_SEC;
		t = next;
	}
	/* Unreachable: at hi every offset puts local time past midnight. */
	return (midnight - lookup(tz, hi).utoff) * US_PER_SEC;
}

/* ---- periods ---- */

static const char *const period_names[] = {
	[LY_PERIOD_DAY] = "day",   [LY_PERIOD_WEEK] = "week", [LY_PERIOD_MONTH] = "month",
	[LY_PERIOD_YEAR] = "year", [LY_PERIOD_EVER] = "ever",
};

int ly_period_parse(const char *s, ly_period_t *out)
{
	for (size_t i = 0; i < LY_ARRAY_LEN(period_names); i++) {
		if (strcmp(s, period_names[i]) == 0) {
			*out = (ly_period_t)i;
			return 0;
		}
	}
	return LY_EINVAL;
}

const char *ly_period_name(ly_period_t p)
{
	LY_ASSERT((size_t)p < LY_ARRAY_LEN(period_names));
	return period_names[p];
}

/* The local days of the period of kind p containing day. */
static void period_of_day(ly_period_t p, int64_t day, int64_t *start, int64_t *end)
{
	int y, m, d;
	switch (p) {
	case LY_PERIOD_DAY:
		*start = day;
		*end = day + 1;
		return;
	case LY_PERIOD_WEEK:
		*start = day - ly_weekday_from_days(day);
		*end = *start + 7;
		return;
	case LY_PERIOD_MONTH:
		ly_civil_from_days(day, &y, &m, &d);
		*start = ly_days_from_civil(y, m, 1);
		*end = *start + ly_days_in_month(y, m);
		return;
	case LY_PERIOD_YEAR:
		ly_civil_from_days(day, &y, &m, &d);
		*start = ly_days_from_civil(y, 1, 1);
		*end = ly_days_from_civil(y + 1, 1, 1);
		return;
	case LY_PERIOD_EVER:
		*start = 0;
		*end = INT64_MAX;
		return;
	}
	LY_ASSERT(!"unknown period");
}

void ly_tz_period(const ly_tz_t *tz, ly_period_t p, int64_t utc_us, int64_t *start_day,
		  int64_t *end_day)
{
	period_of_day(p, ly_tz_local_day(tz, utc_us), start_day, end_day);
}

void ly_period_key(ly_period_t p, int64_t day, char *buf, size_t size)
{
	int64_t start, end;
	int y, m, d;

	if (size == 0)
		return;
	period_of_day(p, day, &start, &end);
	switch (p) {
	case LY_PERIOD_DAY:
		ly_civil_from_days(start, &y, &m, &d);
		snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
		return;
	case LY_PERIOD_WEEK: {
		/* ISO 8601: a week belongs to the year of its Thursday and is
		 * numbered from the week holding that year's first Thursday. */
		const int64_t thursday = start + 3;
		ly_civil_from_days(thursday, &y, &m, &d);
		const int64_t week = (thursday - ly_days_from_civil(y, 1, 1)) / 7 + 1;
		snprintf(buf, size, "%04d-W%02d", y, (int)week);
		return;
	}
	case LY_PERIOD_MONTH:
		ly_civil_from_days(start, &y, &m, &d);
		snprintf(buf, size, "%04d-%02d", y, m);
		return;
	case LY_PERIOD_YEAR:
		ly_civil_from_days(start, &y, &m, &d);
		snprintf(buf, size, "%04d", y);
		return;
	case LY_PERIOD_EVER:
		snprintf(buf, size, "ever");
		return;
	}
	LY_ASSERT(!"unknown period");
}

/* ---- TZif files ---- */

typedef struct tzif_reader {
	const unsigned char *p;
	size_t len;
	size_t pos;
} tzif_reader_t;

typedef struct tzif_header {
	char version; /* 0, '2', '3' or '4' */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_header_t;

static const unsigned char *take(tzif_reader_t *r, uint64_t n)
{
	const unsigned char *p = r->p + r->pos;
	if (n > r->len - r->pos)
		return NULL;
	r->pos += (size_t)n;
	return p;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int read_header(tzif_reader_t *r, tzif_header_t *h)
{
	const unsigned char *p = take(r, 44);
	if (!p || memcmp(p, "TZif", 4) != 0)
		return LY_EINVAL;
	h->version = (char)p[4];
	if (h->version != 0 && h->version != '2' && h->version != '3' &&
	    h->version != '4')
		return LY_EINVAL;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	return 0;
}

static uint64_t block_size(const tzif_header_t *h, unsigned time_size)
{
	return (uint64_t)h->timecnt * time_size + h->timecnt + (uint64_t)h->typecnt * 6 +
	       h->charcnt + (uint64_t)h->leapcnt * (time_size + 4) + h->isstdcnt +
	       h->isutcnt;
}

/* Fills tz's tables from one data block; *why says what is wrong. */
static int read_block(ly_tz_t *tz, tzif_reader_t *r, const tzif_header_t *h,
		      unsigned time_size, const char **why)
{
	const unsigned char *times, *idx, *ttinfo, *chars, *isstd, *isut;

	*why = "corrupt TZif file";
	if (h->leapcnt != 0) {
		*why = "leap-second zones are not supported";
		return LY_EINVAL;
	}
	if (h->typecnt == 0 || h->typecnt > 256 || h->charcnt == 0 ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt) ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt))
		return LY_EINVAL;
	if (block_size(h, time_size) > r->len - r->pos) {
		*why = "truncated TZif file";
		return LY_EINVAL;
	}
	times = take(r, (uint64_t)h->timecnt * time_size);
	idx = take(r, h->timecnt);
	ttinfo = take(r, (uint64_t)h->typecnt * 6);
	chars = take(r, h->charcnt);
	isstd = take(r, h->isstdcnt);
	isut = take(r, h->isutcnt);
	LY_ASSERT(times && idx && ttinfo && chars && isstd && isut);

	tz->trans = malloc(((size_t)h->timecnt + 1) * sizeof(*tz->trans));
	tz->trans_types = malloc((size_t)h->timecnt + 1);
	tz->types = malloc((size_t)h->typecnt * sizeof(*tz->types));
	tz->abbrs = malloc((size_t)h->charcnt + 1);
	if (!tz->trans || !tz->trans_types || !tz->types || !tz->abbrs) {
		*why = "out of memory";
		return LY_ENOMEM;
	}
	tz->trans_len = h->timecnt;
	tz->types_len = h->typecnt;
	tz->abbrs_len = h->charcnt;
	memcpy(tz->abbrs, chars, h->charcnt);
	tz->abbrs[h->charcnt] = '\0';

	for (size_t i = 0; i < h->timecnt; i++) {
		tz->trans[i] = time_size == 8 ? be64(times + 8 * i)
					      : (int64_t)(int32_t)be32(times + 4 * i);
		tz->trans_types[i] = idx[i];
		if (idx[i] >= h->typecnt || (i > 0 && tz->trans[i] <= tz->trans[i - 1]))
			return LY_EINVAL;
	}
	for (size_t i = 0; i < h->typecnt; i++) {
		const unsigned char *t = ttinfo + 6 * i;
		const int32_t utoff = (int32_t)be32(t);
		if (utoff < TZ_UTOFF_MIN || utoff > TZ_UTOFF_MAX || t[4] > 1 ||
		    t[5] >= h->charcnt)
			return LY_EINVAL;
		tz->types[i].utoff = utoff;
		tz->types[i].isdst = t[4];
		tz->types[i].abbr = t[5];
	}
	for (size_t i = 0; i < h->isstdcnt; i++) {
		if (isstd[i] > 1)
			return LY_EINVAL;
	}
	for (size_t i = 0; i < h->isutcnt; i++) {
		if (isut[i] > 1 || (isut[i] && h->isstdcnt && !isstd[i]))
			return LY_EINVAL;
	}
	return 0;
}

/* "\n" TZ-string "\n", ending the file. */
static int read_footer(ly_tz_t *tz, tzif_reader_t *r, const char **why)
{
	const unsigned char *p = r->p + r->pos;
	const size_t left = r->len - r->pos;
	const unsigned char *nl;
	char s[TZ_FOOTER_MAX + 1];
	size_t n;

	*why = "truncated TZif file";
	if (left < 2 || p[0] != '\n')
		return LY_EINVAL;
	nl = memchr(p + 1, '\n', left - 1);
	if (!nl)
		return LY_EINVAL;
	*why = "bad TZ string in TZif footer";
	n = (size_t)(nl - (p + 1));
	if (n > TZ_FOOTER_MAX || memchr(p + 1, '\0', n))
		return LY_EINVAL;
	if (nl + 1 != p + left) {
		*why = "trailing data after TZif footer";
		return LY_EINVAL;
	}
	if (n == 0)
		return 0;
	memcpy(s, p + 1, n);
	s[n] = '\0';
	if (parse_tz_string(s, &tz->rule))
		return LY_EINVAL;
	if (tz->rule.std_utoff < TZ_UTOFF_MIN || tz->rule.std_utoff > TZ_UTOFF_MAX ||
	    tz->rule.dst_utoff < TZ_UTOFF_MIN || tz->rule.dst_utoff > TZ_UTOFF_MAX)
		return LY_EINVAL;
	tz->has_rule = 1;
	r->pos = r->len;
	return 0;
}

static int parse_tzif(ly_tz_t *tz, const char *data, size_t len, const char *path,
		      char *errstr, size_t errstr_size)
{
	tzif_reader_t r = {(const unsigned char *)data, len, 0};
	tzif_header_t h;
	const char *why = "not a TZif file";
	int rc;

	if ((rc = read_header(&r, &h)))
		goto out;
	if (h.version != 0) {
		/* Skip the 32-bit block; the 64-bit one follows. */
		why = "truncated TZif file";
		if (!take(&r, block_size(&h, 4))) {
			rc = LY_EINVAL;
			goto out;
		}
		why = "not a TZif file";
		if ((rc = read_header(&r, &h)) || h.version == 0) {
			rc = LY_EINVAL;
			goto out;
		}
		if ((rc = read_block(tz, &r, &h, 8, &why)) ||
		    (rc = read_footer(tz, &r, &why)))
			goto out;
	} else {
		if ((rc = read_block(tz, &r, &h, 4, &why)))
			goto out;
		if (r.pos != r.len) {
			why = "trailing data after TZif data";
			rc = LY_EINVAL;
			goto out;
		}
	}
out:
	if (rc)
		set_err(errstr, errstr_size, "%s: %s", path, why);
	return rc;
}

/* A relative IANA name: components of [A-Za-z0-9_+-], joined by '/'. */
static int name_ok(const char *name)
{
	const size_t n = strlen(name);
	if (n == 0 || n > LY_TZ_NAME_MAX || name[0] == '/' || name[n - 1] == '/' ||
	    strcmp(name, "localtime") == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const char c = name[i];
		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' &&
		    c != '/')
			return 0;
		if (c == '/' && name[i + 1] == '/')
			return 0;
	}
	return 1;
}

int ly_tz_load_dir(ly_tz_t **out, const char *dir, const char *name, char *errstr,
		   size_t errstr_size)
{
	ly_tz_t *tz = NULL;
	char *path = NULL, *data = NULL;
	size_t path_size, len;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!name_ok(name)) {
		set_err(errstr, errstr_size, "invalid time zone name \"%.*s\"",
			LY_TZ_NAME_MAX, name);
		rc = LY_EINVAL;
		goto out;
	}
	path_size = strlen(dir) + 1 + strlen(name) + 1;
	if (!(path = malloc(path_size)) || !(tz = calloc(1, sizeof(*tz))) ||
	    !(tz->name = strdup(name))) {
		set_err(errstr, errstr_size, "time zone \"%s\": out of memory", name);
		rc = LY_ENOMEM;
		goto out;
	}
	snprintf(path, path_size, "%s/%s", dir, name);
	if (stat(path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			set_err(errstr, errstr_size, "unknown time zone \"%s\" (no %s)",
				name, path);
			rc = LY_ENOTFOUND;
		} else {
			set_err(errstr, errstr_size, "%s: %s", path, strerror(errno));
			rc = LY_EIO;
		}
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		set_err(errstr, errstr_size,
			"unknown time zone \"%s\" (%s is not a file)", name, path);
		rc = LY_ENOTFOUND;
		goto out;
	}
	if ((rc = ly_read_file(path, LY_TZ_FILE_MAX, &data, &len, errstr, errstr_size)))
		goto out;
	if ((rc = parse_tzif(tz, data, len, path, errstr, errstr_size)))
		goto out;
	*out = tz;
	tz = NULL;
out:
	ly_tz_destroy(tz);
	free(data);
	free(path);
	return rc;
}

int ly_tz_load(ly_tz_t **out, const char *name, char *errstr, size_t errstr_size)
{
	return ly_tz_load_dir(out, LY_TZ_DIR, name, errstr, errstr_size);
}

void ly_tz_destroy(ly_tz_t *tz)
{
	if (!tz)
		return;
	free(tz->name);
	free(tz->trans);
	free(tz->trans_types);
	free(tz->types);
	free(tz->abbrs);
	free(tz);
}
