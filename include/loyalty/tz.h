/*
 * tz.h: time zones and calendar periods.
 *
 * A zone is loaded once from the system's compiled tz database (TZif files,
 * RFC 8536 / RFC 9636, versions 1 to 4, Debian package tzdata) and is then
 * immutable: every lookup is a pure function of the zone and its arguments,
 * so one ly_tz_t may be shared by any number of threads. libc's localtime()
 * and the TZ environment variable are never used (process-global state).
 *
 * Instants are int64 microseconds since 1970-01-01T00:00:00Z (as in util.h);
 * leap seconds do not exist. A "local day" is a count of days since
 * 1970-01-01 on the zone's civil calendar (proleptic Gregorian). Offsets are
 * "east of UTC is positive": local time = UTC + offset.
 */
#ifndef LOYALTY_TZ_H
#define LOYALTY_TZ_H

#include <stddef.h>
#include <stdint.h>

/* Where ly_tz_load() looks for zones. */
#define LY_TZ_DIR "/usr/share/zoneinfo"
/* Longest accepted zone name, in bytes. */
#define LY_TZ_NAME_MAX 128
/* Largest accepted TZif file (the biggest real zone is a few KiB). */
#define LY_TZ_FILE_MAX (256 * 1024)

typedef struct ly_tz ly_tz_t;

/*
 * Loads the zone named by an IANA name ("Europe/Istanbul", "UTC",
 * "Etc/GMT+3") from LY_TZ_DIR. The caller frees *out with ly_tz_destroy().
 *
 * Returns 0; LY_EINVAL for a name that is not a plain relative IANA name
 * (empty, longer than LY_TZ_NAME_MAX, a leading, trailing or doubled '/',
 * any character outside [A-Za-z0-9_+/-] — hence no "..", and "localtime",
 * which is the host's setting rather than a zone) or for a file that is not
 * a valid TZif file (truncated, corrupt, or carrying leap seconds as the
 * "right/" zones do); LY_ENOTFOUND when no such zone exists; LY_EIO when
 * the file cannot be read; LY_ENOMEM. On error *out is NULL and errstr
 * says why (errstr may be NULL when errstr_size is 0).
 */
int ly_tz_load(ly_tz_t **out, const char *name, char *errstr, size_t errstr_size);

/* As ly_tz_load(), but under another zoneinfo root (tests, vendored data).
 * dir is trusted and used as given. */
int ly_tz_load_dir(ly_tz_t **out, const char *dir, const char *name, char *errstr,
		   size_t errstr_size);

/* Accepts NULL. */
void ly_tz_destroy(ly_tz_t *tz);

/* The name it was loaded with; borrowed, valid until ly_tz_destroy(). */
const char *ly_tz_name(const ly_tz_t *tz);

/* The UTC offset in effect at that instant, in microseconds (whole
 * seconds: +3h is 10800000000). */
int64_t ly_tz_offset_us(const ly_tz_t *tz, int64_t utc_us);

/* The abbreviation in effect at that instant ("CEST", "+03", "LMT");
 * borrowed, valid until ly_tz_destroy(). */
const char *ly_tz_abbrev(const ly_tz_t *tz, int64_t utc_us);

/* The local civil date of an instant, as days since 1970-01-01. */
int64_t ly_tz_local_day(const ly_tz_t *tz, int64_t utc_us);

/*
 * The first instant of a local day: the earliest instant whose local time
 * is at or after local midnight starting that day. Where midnight exists
 * that is midnight; where a clock change skipped it (America/Sao_Paulo on
 * 2018-11-04 went from 23:59:59 to 01:00) it is the instant the day began.
 * If the whole day was skipped (Pacific/Apia, 2011-12-30) it is the start
 * of the next day, so the skipped day is an empty interval. Days further
 * than 100,000,000 days (about 273,000 years) from 1970 saturate to
 * INT64_MIN / INT64_MAX, so ly_tz_day_start_us(tz, INT64_MAX) is INT64_MAX.
 */
int64_t ly_tz_day_start_us(const ly_tz_t *tz, int64_t local_day);

/* Calendar periods for rule limits (SPEC section 5, `limit.per`). */
typedef enum ly_period {
	LY_PERIOD_DAY,
	LY_PERIOD_WEEK, /* Monday to Sunday */
	LY_PERIOD_MONTH,
	LY_PERIOD_YEAR,
	LY_PERIOD_EVER
} ly_period_t;

/* "day" | "week" | "month" | "year" | "ever": 0, else LY_EINVAL and *out
 * untouched. */
int ly_period_parse(const char *s, ly_period_t *out);

/* The name ly_period_parse() accepts; a static string. */
const char *ly_period_name(ly_period_t p);

/*
 * The period of the zone's calendar an instant falls in, as local days:
 * *start_day is its first day, *end_day the day after its last (exclusive).
 * Weeks start on Monday. LY_PERIOD_EVER is [0, INT64_MAX). The instants
 * are ly_tz_day_start_us(tz, *start_day) inclusive to
 * ly_tz_day_start_us(tz, *end_day) exclusive.
 */
void ly_tz_period(const ly_tz_t *tz, ly_period_t p, int64_t utc_us, int64_t *start_day,
		  int64_t *end_day);

/* Room for any key ly_period_key() writes, NUL included. */
#define LY_PERIOD_KEY_MAX 24

/*
 * A stable text key for the period of kind p that contains local day
 * `day` (normally the start_day from ly_tz_period()), for storage keys:
 * "2026-11-24", "2026-W48" (ISO 8601 week: the ISO year and week of that
 * Monday-to-Sunday week, so 2026-12-31 is "2026-W53" and 2027-01-03 too),
 * "2026-11", "2026", "ever". Always NUL-terminated when size > 0;
 * truncated when size < LY_PERIOD_KEY_MAX.
 */
void ly_period_key(ly_period_t p, int64_t day, char *buf, size_t size);

/* ---- calendar arithmetic (proleptic Gregorian, no zone) ---- */

/* ly_days_from_civil() and ly_civil_from_days() are in util.h. */

/* Day of the week of a day count since 1970-01-01: Monday 0 .. Sunday 6. */
int ly_weekday_from_days(int64_t days);

/* 1 for a Gregorian leap year, else 0. */
int ly_is_leap_year(int year);

/* 28 to 31; month is 1..12. */
int ly_days_in_month(int year, int month);

#endif
