/*
 * tz_test.c: time zones from the system's TZif files (package tzdata) and
 * the calendar periods rule limits count in (lib/util/tz.c).
 *
 * Every expected value was worked out independently while writing the test
 * and is written out here: instants with `date -u -d ... +%s`, local times,
 * offsets and abbreviations with `TZ=Zone date -d @SECONDS` and
 * `zdump -v -c FROM,TO Zone` (tzdata 2025b), ISO weeks with `date +%G-W%V`,
 * day numbers with `$(( $(date -u -d DATE +%s) / 86400 ))`. Synthetic zones
 * are TZif files written to a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loyalty/tz.h"
#include "loyalty/util.h"

#define US(secs)  ((int64_t)(secs) * INT64_C(1000000))
#define HOUR_S    3600
#define HOUR_US   US(HOUR_S)
#define DAY_US    US(86400)

static char tmpdir[] = "/tmp/tz_test.XXXXXX";

static ly_tz_t *load(const char *name)
{
	ly_tz_t *tz = NULL;
	char err[256] = "";
	int rc = ly_tz_load(&tz, name, err, sizeof(err));
	if (rc != 0)
		print_error("ly_tz_load(\"%s\"): %d %s\n", name, rc, err);
	assert_int_equal(rc, 0);
	assert_non_null(tz);
	assert_string_equal(ly_tz_name(tz), name);
	return tz;
}

/* The offset (seconds) and abbreviation at an instant (seconds). */
static void assert_local(const ly_tz_t *tz, int64_t secs, int offset_s, const char *abbr)
{
	const int64_t got = ly_tz_offset_us(tz, US(secs));
	if (got != US(offset_s) || strcmp(ly_tz_abbrev(tz, US(secs)), abbr) != 0)
		print_error("%s at %lld: got %lld %s, want %d %s\n", ly_tz_name(tz),
			    (long long)secs, (long long)(got / 1000000),
			    ly_tz_abbrev(tz, US(secs)), offset_s, abbr);
	assert_int_equal(got, US(offset_s));
	assert_string_equal(ly_tz_abbrev(tz, US(secs)), abbr);
}

static void assert_period(const ly_tz_t *tz, ly_period_t p, int64_t utc_us,
			  int64_t want_start, int64_t want_end, const char *want_key)
{
	int64_t start = -1, end = -1;
	char key[LY_PERIOD_KEY_MAX];
	ly_tz_period(tz, p, utc_us, &start, &end);
	ly_period_key(p, start, key, sizeof(key));
	assert_int_equal(start, want_start);
	assert_int_equal(end, want_end);
	assert_string_equal(key, want_key);
}

static void assert_key(ly_period_t p, int64_t day, const char *want)
{
	char key[LY_PERIOD_KEY_MAX];
	memset(key, 'x', sizeof(key));
	ly_period_key(p, day, key, sizeof(key));
	assert_string_equal(key, want);
}

/* ---- Europe/Istanbul: UTC+3 all year since 2016-09-07 ---- */

static void test_istanbul_days(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Istanbul");

	/* 2026-11-24T20:59:59Z = 1795553999 is 23:59:59 local on the 24th
	 * (day 20781); one second later it is the 25th (day 20782). */
	assert_local(tz, 1795553999, 3 * HOUR_S, "+03");
	assert_int_equal(ly_tz_local_day(tz, US(1795553999)), 20781);
	assert_int_equal(ly_tz_local_day(tz, US(1795554000)), 20782);
	assert_int_equal(ly_tz_local_day(tz, US(1795553999) + 999999), 20781);
	assert_int_equal(ly_tz_day_start_us(tz, 20782), US(1795554000));
	assert_int_equal(ly_tz_day_start_us(tz, 20781), US(1795554000 - 86400));
	assert_period(tz, LY_PERIOD_DAY, US(1795553999), 20781, 20782, "2026-11-24");
	assert_period(tz, LY_PERIOD_DAY, US(1795554000), 20782, 20783, "2026-11-25");

	/* Before the epoch, in EET (+2): 1969-12-31T22:00:00Z is 1970-01-01
	 * 00:00 local. */
	assert_local(tz, -7200, 2 * HOUR_S, "EET");
	assert_int_equal(ly_tz_local_day(tz, US(-7200)), 0);
	assert_int_equal(ly_tz_local_day(tz, US(-7200) - 1), -1);
	assert_int_equal(ly_tz_day_start_us(tz, 0), US(-7200));
	ly_tz_destroy(tz);
}

static void test_istanbul_periods(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Istanbul");

	/* Sunday 2026-11-29 23:59:59 local (20:59:59Z = 1795985999) is in the
	 * week of Monday 2026-11-23 (day 20780); Monday 00:00 local is the
	 * next week (2026-11-30, day 20787). */
	assert_period(tz, LY_PERIOD_WEEK, US(1795985999), 20780, 20787, "2026-W48");
	assert_period(tz, LY_PERIOD_WEEK, US(1795986000), 20787, 20794, "2026-W49");
	assert_int_equal(ly_tz_day_start_us(tz, 20787), US(1795986000));

	/* Month and year: 2026-12-31T20:59:59Z (1798750799) is still 2026
	 * locally, 21:00:00Z is 2027-01-01 00:00 local. */
	assert_period(tz, LY_PERIOD_MONTH, US(1798750799), 20788, 20819, "2026-12");
	assert_period(tz, LY_PERIOD_MONTH, US(1798750800), 20819, 20850, "2027-01");
	assert_period(tz, LY_PERIOD_YEAR, US(1798750799), 20454, 20819, "2026");
	assert_period(tz, LY_PERIOD_YEAR, US(1798750800), 20819, 20819 + 365, "2027");
	assert_int_equal(ly_tz_day_start_us(tz, 20819), US(1798750800));
	/* The week of Thursday 2026-12-31 and Friday 2027-01-01 is ISO 2026-W53
	 * (Monday 2026-12-28 = day 20815). */
	assert_period(tz, LY_PERIOD_WEEK, US(1798750799), 20815, 20822, "2026-W53");
	assert_period(tz, LY_PERIOD_WEEK, US(1798750800), 20815, 20822, "2026-W53");

	assert_period(tz, LY_PERIOD_EVER, US(1798750800), 0, INT64_MAX, "ever");
	ly_tz_destroy(tz);
}

static void test_istanbul_history(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Istanbul");

	/* 2015: EET (+2) in winter, EEST (+3) in summer. */
	assert_local(tz, 1421323200, 2 * HOUR_S, "EET");  /* 2015-01-15T12:00Z */
	assert_local(tz, 1435752000, 3 * HOUR_S, "EEST"); /* 2015-07-01T12:00Z */
	/* The 2015 fall-back was moved to 2015-11-08 (an election), not the
	 * EU's Oct 25: only the transition table knows. */
	assert_local(tz, 1446944399, 3 * HOUR_S, "EEST"); /* 2015-11-08T00:59:59Z */
	assert_local(tz, 1446944400, 2 * HOUR_S, "EET");  /* 2015-11-08T01:00:00Z */
	/* 2015-11-08 03:59:59 EEST then 03:00 EET, same local day 16747. */
	assert_int_equal(ly_tz_local_day(tz, US(1446944399)), 16747);
	assert_int_equal(ly_tz_local_day(tz, US(1446944400)), 16747);
	/* 2016-09-07 00:00 local: EEST became permanent "+03". */
	assert_local(tz, 1473195599, 3 * HOUR_S, "EEST"); /* 2016-09-06T20:59:59Z */
	assert_local(tz, 1473195600, 3 * HOUR_S, "+03");  /* 2016-09-06T21:00:00Z */
	/* Before the first transition (1880-01-01 local): LMT +1:55:52. */
	assert_local(tz, -2840147753, 6952, "LMT");
	assert_local(tz, -2840147752, 7016, "IMT");
	/* After the table (ends 2038-01-19) the footer "<+03>-3" applies. */
	assert_local(tz, 3812922000, 3 * HOUR_S, "+03"); /* 2090-10-29T01:00Z */
	ly_tz_destroy(tz);
}

/* ---- Europe/Berlin: CET/CEST ---- */

static void test_berlin_dst_2026(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Berlin");

	/* Spring forward 2026-03-29 02:00 CET -> 03:00 CEST (01:00Z). */
	assert_local(tz, 1774745999, HOUR_S, "CET");      /* 00:59:59Z = 01:59:59 */
	assert_local(tz, 1774746000, 2 * HOUR_S, "CEST"); /* 01:00:00Z = 03:00:00 */
	/* Its midnight exists: 2026-03-28T23:00:00Z. The day is 23 hours. */
	assert_int_equal(ly_tz_day_start_us(tz, 20541), US(1774738800));
	assert_int_equal(ly_tz_day_start_us(tz, 20542), US(1774821600));
	assert_int_equal(ly_tz_day_start_us(tz, 20542) - ly_tz_day_start_us(tz, 20541),
			 23 * HOUR_US);
	assert_int_equal(ly_tz_local_day(tz, US(1774738799)), 20540);
	assert_int_equal(ly_tz_local_day(tz, US(1774738800)), 20541);
	assert_int_equal(ly_tz_local_day(tz, US(1774821599)), 20541);
	assert_int_equal(ly_tz_local_day(tz, US(1774821600)), 20542);

	/* Fall back 2026-10-25 03:00 CEST -> 02:00 CET (01:00Z); 25 hours. */
	assert_local(tz, 1792889999, 2 * HOUR_S, "CEST");
	assert_local(tz, 1792890000, HOUR_S, "CET");
	assert_int_equal(ly_tz_day_start_us(tz, 20751), US(1792879200));
	assert_int_equal(ly_tz_day_start_us(tz, 20752), US(1792969200));
	assert_int_equal(ly_tz_day_start_us(tz, 20752) - ly_tz_day_start_us(tz, 20751),
			 25 * HOUR_US);
	assert_int_equal(ly_tz_local_day(tz, US(1792969199)), 20751);
	assert_int_equal(ly_tz_local_day(tz, US(1792969200)), 20752);
	/* October 2026 in Berlin: from 2026-09-30T22:00Z to 2026-10-31T23:00Z. */
	int64_t start, end;
	ly_tz_period(tz, LY_PERIOD_MONTH, US(1792890000), &start, &end);
	assert_int_equal(ly_tz_day_start_us(tz, start), US(1790805600));
	assert_int_equal(ly_tz_day_start_us(tz, end), US(1793487600));
	ly_tz_destroy(tz);
}

static void test_berlin_footer_and_before(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Berlin");

	/* The file's table ends 2037-10-25; 2090 comes from the footer
	 * "CET-1CEST,M3.5.0,M10.5.0/3". */
	assert_local(tz, 3794173199, HOUR_S, "CET");      /* 2090-03-26T00:59:59Z */
	assert_local(tz, 3794173200, 2 * HOUR_S, "CEST"); /* 2090-03-26T01:00:00Z */
	assert_local(tz, 3812921999, 2 * HOUR_S, "CEST"); /* 2090-10-29T00:59:59Z */
	assert_local(tz, 3812922000, HOUR_S, "CET");      /* 2090-10-29T01:00:00Z */
	/* 2090-03-26 (day 43914) starts 2090-03-25T23:00Z and lasts 23h. */
	assert_int_equal(ly_tz_day_start_us(tz, 43914), US(3794166000));
	assert_int_equal(ly_tz_day_start_us(tz, 43915), US(3794248800));
	/* Around the end of the table. */
	assert_local(tz, 2140045199, 2 * HOUR_S, "CEST"); /* 2037-10-25T00:59:59Z */
	assert_local(tz, 2140045200, HOUR_S, "CET");
	assert_local(tz, 2153350800 - 1, HOUR_S, "CET"); /* 2038-03-28T00:59:59Z */
	assert_local(tz, 2153350800, 2 * HOUR_S, "CEST");

	/* Before the first transition (1893-04-01 local): LMT +0:53:28. */
	assert_local(tz, -2422054409, 3208, "LMT");
	assert_local(tz, -2422054408, 3600, "CET");
	assert_local(tz, -5364662400, 3208, "LMT"); /* 1800-01-01T00:00Z */
	ly_tz_destroy(tz);
}

/* Footers with v3 rule times (negative, > 24h), southern hemisphere and
 * negative DST, each checked in 2090 against zdump. */
static void test_footer_rules(void **state)
{
	(void)state;
	ly_tz_t *tz = load("America/Nuuk"); /* <-02>2<-01>,M3.5.0/-1,M10.5.0/0 */
	assert_local(tz, 3794173199, -2 * HOUR_S, "-02");
	assert_local(tz, 3794173200, -1 * HOUR_S, "-01");
	assert_local(tz, 3812921999, -1 * HOUR_S, "-01");
	assert_local(tz, 3812922000, -2 * HOUR_S, "-02");
	ly_tz_destroy(tz);

	tz = load("Asia/Jerusalem"); /* IST-2IDT,M3.4.4/26,M10.5.0 */
	assert_local(tz, 3793996799, 2 * HOUR_S, "IST");
	assert_local(tz, 3793996800, 3 * HOUR_S, "IDT");
	assert_local(tz, 3812914799, 3 * HOUR_S, "IDT");
	assert_local(tz, 3812914800, 2 * HOUR_S, "IST");
	ly_tz_destroy(tz);

	tz = load("America/Santiago"); /* <-04>4<-03>,M9.1.6/24,M4.1.6/24 */
	assert_local(tz, 3794785199, -3 * HOUR_S, "-03");
	assert_local(tz, 3794785200, -4 * HOUR_S, "-04");
	assert_local(tz, 3808094399, -4 * HOUR_S, "-04");
	assert_local(tz, 3808094400, -3 * HOUR_S, "-03");
	/* Saturday 2090-09-02 24:00 -04 became Sunday 01:00 -03: Sunday
	 * (day 44075) has no midnight and starts at 04:00Z. */
	assert_int_equal(ly_tz_day_start_us(tz, 44074), US(3808008000));
	assert_int_equal(ly_tz_day_start_us(tz, 44075), US(3808094400));
	assert_int_equal(ly_tz_day_start_us(tz, 44076), US(3808094400 + 23 * HOUR_S));
	assert_int_equal(ly_tz_local_day(tz, US(3808094399)), 44074);
	assert_int_equal(ly_tz_local_day(tz, US(3808094400)), 44075);
	ly_tz_destroy(tz);

	tz = load("Europe/Dublin"); /* IST-1GMT0,M10.5.0,M3.5.0/1: DST in winter */
	assert_local(tz, 3794173199, 0, "GMT");
	assert_local(tz, 3794173200, HOUR_S, "IST");
	assert_local(tz, 3812921999, HOUR_S, "IST");
	assert_local(tz, 3812922000, 0, "GMT");
	ly_tz_destroy(tz);
}

/* ---- zones whose midnight did not exist ---- */

static void test_sao_paulo_no_midnight(void **state)
{
	(void)state;
	ly_tz_t *tz = load("America/Sao_Paulo");

	/* 2018-11-04: 23:59:59 -03 (02:59:59Z) was followed by 01:00 -02. */
	assert_local(tz, 1541300399, -3 * HOUR_S, "-03");
	assert_local(tz, 1541300400, -2 * HOUR_S, "-02");
	assert_int_equal(ly_tz_local_day(tz, US(1541300399)), 17838);
	assert_int_equal(ly_tz_local_day(tz, US(1541300400)), 17839);
	assert_int_equal(ly_tz_day_start_us(tz, 17839), US(1541300400));
	assert_int_equal(ly_tz_day_start_us(tz, 17838), US(1541214000));
	/* So 2018-11-03 lasted 24h and 2018-11-04 23h. */
	assert_int_equal(ly_tz_day_start_us(tz, 17840) - ly_tz_day_start_us(tz, 17839),
			 23 * HOUR_US);

	/* 2018-02-17 24:00 -02 became 23:00 -03: the 17th had 25 hours, from
	 * 02:00Z, and the 18th began at 03:00Z. */
	assert_int_equal(ly_tz_day_start_us(tz, 17579), US(1518832800));
	assert_int_equal(ly_tz_day_start_us(tz, 17580), US(1518922800));
	assert_int_equal(ly_tz_local_day(tz, US(1518922799)), 17579);
	assert_int_equal(ly_tz_local_day(tz, US(1518922800)), 17580);
	ly_tz_destroy(tz);
}

static void test_apia_skipped_day(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Pacific/Apia");

	/* Thursday 2011-12-29 23:59:59 -10 (2011-12-30T09:59:59Z) was followed
	 * by Saturday 2011-12-31 00:00 +14: Friday the 30th never happened. */
	assert_local(tz, 1325239199, -10 * HOUR_S, "-10");
	assert_local(tz, 1325239200, 14 * HOUR_S, "+14");
	assert_int_equal(ly_tz_local_day(tz, US(1325239199)), 15337);
	assert_int_equal(ly_tz_local_day(tz, US(1325239200)), 15339);
	assert_int_equal(ly_tz_day_start_us(tz, 15337), US(1325239200 - 86400));
	/* The skipped day is empty: it starts where the 31st starts. */
	assert_int_equal(ly_tz_day_start_us(tz, 15338), US(1325239200));
	assert_int_equal(ly_tz_day_start_us(tz, 15339), US(1325239200));
	ly_tz_destroy(tz);
}

static void test_utc_and_fixed(void **state)
{
	(void)state;
	ly_tz_t *tz = load("UTC");
	assert_local(tz, 0, 0, "UTC");
	assert_local(tz, 1798750800, 0, "UTC");
	assert_int_equal(ly_tz_local_day(tz, US(1798750799)), 20818);
	assert_int_equal(ly_tz_local_day(tz, -1), -1);
	assert_int_equal(ly_tz_day_start_us(tz, 20819), US(1798761600));
	assert_int_equal(ly_tz_day_start_us(tz, -1), -DAY_US);
	assert_period(tz, LY_PERIOD_WEEK, US(1798761600), 20815, 20822, "2026-W53");
	ly_tz_destroy(tz);

	/* POSIX sign: Etc/GMT+3 is three hours *behind* UTC. */
	tz = load("Etc/GMT+3");
	assert_local(tz, 1798750800, -3 * HOUR_S, "-03");
	assert_int_equal(ly_tz_day_start_us(tz, 20819), US(1798761600 + 3 * HOUR_S));
	ly_tz_destroy(tz);

	/* Minutes in the offset: Asia/Kathmandu is +05:45 ("<+0545>-5:45"). */
	tz = load("Asia/Kathmandu");
	assert_local(tz, 1798750800, 5 * HOUR_S + 45 * 60, "+0545");
	assert_int_equal(ly_tz_day_start_us(tz, 20819),
			 US(1798761600 - 5 * HOUR_S - 45 * 60));
	ly_tz_destroy(tz);
}

static void test_extreme_instants(void **state)
{
	(void)state;
	ly_tz_t *tz = load("Europe/Berlin");
	int64_t start, end;

	/* No overflow at the ends of int64 (the sanitizers watch). */
	assert_int_equal(ly_tz_offset_us(tz, INT64_MAX), HOUR_US); /* 294247-01-10: CET */
	assert_int_equal(ly_tz_offset_us(tz, INT64_MIN), US(3208));
	assert_int_equal(ly_tz_local_day(tz, INT64_MAX), INT64_MAX / DAY_US);
	assert_int_equal(ly_tz_local_day(tz, INT64_MIN), INT64_MIN / DAY_US - 1);
	ly_tz_period(tz, LY_PERIOD_YEAR, INT64_MAX, &start, &end);
	ly_tz_period(tz, LY_PERIOD_WEEK, INT64_MIN, &start, &end);
	assert_int_equal(ly_tz_day_start_us(tz, INT64_MAX), INT64_MAX);
	assert_int_equal(ly_tz_day_start_us(tz, INT64_MIN), INT64_MIN);
	assert_int_equal(ly_tz_day_start_us(tz, 100000001), INT64_MAX);
	/* Day 100,000,000 is 275760-09-13, in summer time (CEST) by the footer. */
	assert_int_equal(ly_tz_day_start_us(tz, 100000000),
			 US(INT64_C(8640000000000) - 2 * HOUR_S));
	ly_tz_destroy(tz);
}

/* ---- periods, keys and the calendar ---- */

static void test_period_keys(void **state)
{
	(void)state;
	/* ISO weeks around new year (date +%G-W%V). */
	assert_key(LY_PERIOD_WEEK, 20815, "2026-W53"); /* Mon 2026-12-28 */
	assert_key(LY_PERIOD_WEEK, 20818, "2026-W53"); /* Thu 2026-12-31 */
	assert_key(LY_PERIOD_WEEK, 20821, "2026-W53"); /* Sun 2027-01-03 */
	assert_key(LY_PERIOD_WEEK, 20822, "2027-W01"); /* Mon 2027-01-04 */
	assert_key(LY_PERIOD_WEEK, 18627, "2020-W53"); /* Thu 2020-12-31 */
	assert_key(LY_PERIOD_WEEK, 18630, "2020-W53"); /* Sun 2021-01-03 */
	assert_key(LY_PERIOD_WEEK, 18631, "2021-W01"); /* Mon 2021-01-04 */
	assert_key(LY_PERIOD_WEEK, 20086, "2024-W52"); /* Sun 2024-12-29 */
	assert_key(LY_PERIOD_WEEK, 20087, "2025-W01"); /* Mon 2024-12-30 */
	assert_key(LY_PERIOD_WEEK, 16803, "2015-W53"); /* Sun 2016-01-03 */
	assert_key(LY_PERIOD_WEEK, 16804, "2016-W01"); /* Mon 2016-01-04 */
	assert_key(LY_PERIOD_WEEK, 0, "1970-W01");     /* Thu 1970-01-01 */
	assert_key(LY_PERIOD_WEEK, 20782, "2026-W48"); /* Wed 2026-11-25 */

	assert_key(LY_PERIOD_DAY, 20781, "2026-11-24");
	assert_key(LY_PERIOD_DAY, -1, "1969-12-31");
	assert_key(LY_PERIOD_MONTH, 20781, "2026-11");
	assert_key(LY_PERIOD_MONTH, 20788, "2026-12");
	assert_key(LY_PERIOD_YEAR, 20818, "2026");
	assert_key(LY_PERIOD_YEAR, 20819, "2027");
	assert_key(LY_PERIOD_EVER, 12345, "ever");

	/* A short buffer truncates and stays terminated. */
	char small[5];
	ly_period_key(LY_PERIOD_DAY, 20781, small, sizeof(small));
	assert_string_equal(small, "2026");
	ly_period_key(LY_PERIOD_DAY, 20781, small, 0); /* writes nothing */
}

static void test_period_parse(void **state)
{
	(void)state;
	static const char *const names[] = {"day", "week", "month", "year", "ever"};
	ly_period_t p;
	for (size_t i = 0; i < LY_ARRAY_LEN(names); i++) {
		assert_int_equal(ly_period_parse(names[i], &p), 0);
		assert_int_equal(p, (ly_period_t)i);
		assert_string_equal(ly_period_name(p), names[i]);
	}
	p = LY_PERIOD_YEAR;
	assert_int_equal(ly_period_parse("Day", &p), LY_EINVAL);
	assert_int_equal(ly_period_parse("days", &p), LY_EINVAL);
	assert_int_equal(ly_period_parse("", &p), LY_EINVAL);
	assert_int_equal(ly_period_parse("forever", &p), LY_EINVAL);
	assert_int_equal(p, LY_PERIOD_YEAR);
}

static void test_calendar(void **state)
{
	(void)state;
	int y, m, d;

	ly_civil_from_days(0, &y, &m, &d);
	assert_true(y == 1970 && m == 1 && d == 1);
	ly_civil_from_days(20818, &y, &m, &d);
	assert_true(y == 2026 && m == 12 && d == 31);
	ly_civil_from_days(-1, &y, &m, &d);
	assert_true(y == 1969 && m == 12 && d == 31);
	ly_civil_from_days(11016, &y, &m, &d); /* 2000-02-29 */
	assert_true(y == 2000 && m == 2 && d == 29);
	ly_civil_from_days(-719528, &y, &m, &d); /* 0000-01-01 */
	assert_true(y == 0 && m == 1 && d == 1);

	assert_int_equal(ly_weekday_from_days(0), 3);     /* Thursday */
	assert_int_equal(ly_weekday_from_days(20780), 0); /* Mon 2026-11-23 */
	assert_int_equal(ly_weekday_from_days(20786), 6); /* Sun 2026-11-29 */
	assert_int_equal(ly_weekday_from_days(-1), 2);    /* Wed 1969-12-31 */
	assert_int_equal(ly_weekday_from_days(-4), 6);    /* Sun 1969-12-28 */

	assert_true(ly_is_leap_year(2024));
	assert_true(ly_is_leap_year(2000));
	assert_false(ly_is_leap_year(1900));
	assert_false(ly_is_leap_year(2026));
	assert_true(ly_is_leap_year(0));
	assert_int_equal(ly_days_in_month(2024, 2), 29);
	assert_int_equal(ly_days_in_month(2100, 2), 28);
	assert_int_equal(ly_days_in_month(2026, 4), 30);
	assert_int_equal(ly_days_in_month(2026, 12), 31);

	/* The inverse of ly_days_from_civil, day by day over 1600..2400. */
	int64_t day = ly_days_from_civil(1600, 1, 1);
	for (int yy = 1600; yy < 2400; yy++) {
		for (int mm = 1; mm <= 12; mm++) {
			for (int dd = 1; dd <= ly_days_in_month(yy, mm); dd++, day++) {
				ly_civil_from_days(day, &y, &m, &d);
				if (y != yy || m != mm || d != dd)
					fail_msg("day %lld: %d-%d-%d", (long long)day, y,
						 m, d);
				assert_int_equal(ly_days_from_civil(yy, mm, dd), day);
			}
		}
	}
}

/* ---- loading ---- */

static void assert_load_fails(const char *dir, const char *name, int want_rc)
{
	ly_tz_t *tz = (ly_tz_t *)&tz; /* not NULL: must be cleared */
	char err[256] = "";
	int rc = dir ? ly_tz_load_dir(&tz, dir, name, err, sizeof(err))
		     : ly_tz_load(&tz, name, err, sizeof(err));
	if (rc != want_rc)
		print_error("\"%s\": got %d (%s), want %d\n", name, rc, err, want_rc);
	assert_int_equal(rc, want_rc);
	assert_null(tz);
	assert_true(err[0] != '\0');
}

static void test_bad_names(void **state)
{
	(void)state;
	char err[256];
	ly_tz_t *tz;
	char longname[LY_TZ_NAME_MAX + 2];

	assert_load_fails(NULL, "../etc/passwd", LY_EINVAL);
	assert_load_fails(NULL, "Europe/../../etc/passwd", LY_EINVAL);
	assert_load_fails(NULL, "/etc/localtime", LY_EINVAL);
	assert_load_fails(NULL, "localtime", LY_EINVAL);
	assert_load_fails(NULL, "", LY_EINVAL);
	assert_load_fails(NULL, "Europe//Berlin", LY_EINVAL);
	assert_load_fails(NULL, "Europe/Berlin/", LY_EINVAL);
	assert_load_fails(NULL, "Europe/Berlin ", LY_EINVAL);
	assert_load_fails(NULL, "zone.tab", LY_EINVAL);
	assert_load_fails(NULL, "Europe\\Berlin", LY_EINVAL);
	memset(longname, 'A', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_load_fails(NULL, longname, LY_EINVAL);

	assert_load_fails(NULL, "Nowhere/City", LY_ENOTFOUND);
	assert_load_fails(NULL, "Europe", LY_ENOTFOUND);          /* a directory */
	assert_load_fails(NULL, "Europe/Berlin/x", LY_ENOTFOUND); /* ENOTDIR */
	assert_load_fails(NULL, "europe/berlin", LY_ENOTFOUND);

	assert_int_equal(ly_tz_load(&tz, "Nowhere/City", err, sizeof(err)), LY_ENOTFOUND);
	assert_string_equal(err, "unknown time zone \"Nowhere/City\" "
				 "(no /usr/share/zoneinfo/Nowhere/City)");
	assert_int_equal(ly_tz_load(&tz, "../etc/passwd", err, sizeof(err)), LY_EINVAL);
	assert_string_equal(err, "invalid time zone name \"../etc/passwd\"");
	/* No errstr at all is allowed. */
	assert_int_equal(ly_tz_load(&tz, "Nowhere/City", NULL, 0), LY_ENOTFOUND);

	/* Names with '+', '-' and '_' are fine. */
	tz = load("Etc/GMT-14");
	assert_local(tz, 0, 14 * HOUR_S, "+14");
	ly_tz_destroy(tz);
	tz = load("America/Port-au-Prince");
	ly_tz_destroy(tz);
	ly_tz_destroy(NULL);
}

/* ---- synthetic and corrupt TZif files ---- */

static void write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
}

/* A TZif file, written out field by field. */
typedef struct fake_zone {
	char version; /* 0 (v1 only), '2', '3' */
	size_t ntrans;
	const int64_t *trans;
	const uint8_t *idx;
	size_t ntypes;
	const int32_t *utoff;
	const uint8_t *isdst;
	const uint8_t *desig;
	const char *chars; /* NULs included */
	size_t nchars;
	uint32_t leapcnt;
	const char *footer; /* v2+: the TZ string */
} fake_zone_t;

typedef struct out {
	unsigned char buf[4096];
	size_t len;
} out_t;

static void put(out_t *o, const void *p, size_t n)
{
	if (n == 0)
		return;
	assert_true(o->len + n <= sizeof(o->buf));
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put32(out_t *o, uint32_t v)
{
	unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 8), (unsigned char)v};
	put(o, b, 4);
}

static void put_block(out_t *o, const fake_zone_t *z, int time_size)
{
	static const char zeros[16];
	put(o, "TZif", 4);
	put(o, &z->version, 1);
	put(o, zeros, 15);
	put32(o, 0); /* isutcnt */
	put32(o, 0); /* isstdcnt */
	put32(o, z->leapcnt);
	put32(o, (uint32_t)z->ntrans);
	put32(o, (uint32_t)z->ntypes);
	put32(o, (uint32_t)z->nchars);
	for (size_t i = 0; i < z->ntrans; i++) {
		if (time_size == 8)
			put32(o, (uint32_t)((uint64_t)z->trans[i] >> 32));
		put32(o, (uint32_t)z->trans[i]);
	}
	put(o, z->idx, z->ntrans);
	for (size_t i = 0; i < z->ntypes; i++) {
		put32(o, (uint32_t)z->utoff[i]);
		put(o, &z->isdst[i], 1);
		put(o, &z->desig[i], 1);
	}
	put(o, z->chars, z->nchars);
	for (uint32_t i = 0; i < z->leapcnt; i++) {
		put(o, zeros, (size_t)time_size);
		put32(o, i + 1);
	}
}

static void build(out_t *o, const fake_zone_t *z)
{
	o->len = 0;
	put_block(o, z, 4);
	if (z->version) {
		put_block(o, z, 8);
		put(o, "\n", 1);
		put(o, z->footer, strlen(z->footer));
		put(o, "\n", 1);
	}
}

static int load_bytes(const void *data, size_t len, ly_tz_t **tz, char *err,
		      size_t err_size)
{
	write_file("Zone", data, len);
	int rc = ly_tz_load_dir(tz, tmpdir, "Zone", err, err_size);
	remove_file("Zone");
	return rc;
}

/* A zone with a transition table and the types it names. */
static const int64_t two_trans[] = {1000000000, 2000000000};
static const uint8_t two_idx[] = {1, 0};
static const int32_t two_utoff[] = {3600, 7200};
static const uint8_t two_isdst[] = {0, 1};
static const uint8_t two_desig[] = {0, 4};
static const char two_chars[] = "AAA\0BBB"; /* 8 bytes with the last NUL */

static void test_synthetic_zones(void **state)
{
	(void)state;
	out_t o;
	ly_tz_t *tz;
	char err[256] = "";

	/* Version 1: 32-bit times, no footer; the last type lasts forever. */
	fake_zone_t v1 = {0,        2,         two_trans, two_idx, 2, two_utoff,
			  two_isdst, two_desig, two_chars, 8,       0, NULL};
	build(&o, &v1);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 999999999, 3600, "AAA"); /* type 0 before the first */
	assert_local(tz, 1000000000, 7200, "BBB");
	assert_local(tz, 1999999999, 7200, "BBB");
	assert_local(tz, 2000000000, 3600, "AAA");
	assert_local(tz, 4000000000, 3600, "AAA");
	ly_tz_destroy(tz);

	/* Version 2 with a footer that takes over after the table. */
	fake_zone_t v2 = v1;
	v2.version = '2';
	v2.footer = "XXX-5";
	build(&o, &v2);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1999999999, 7200, "BBB");
	assert_local(tz, 2000000000, 5 * HOUR_S, "XXX");
	ly_tz_destroy(tz);

	/* Footer only: permanent DST, RFC 8536 3.3.1's example. DST starts
	 * Jan 1 00:00 EST and ends Dec 31 25:00 EDT = next Jan 1 00:00 EST,
	 * so it is EDT (-4) all year, new year's first hours included
	 * (glibc's localtime gets those five hours wrong: EST). */
	static const int32_t utc_off[] = {0};
	static const uint8_t zero[] = {0};
	fake_zone_t perm = {'3',  0,    NULL, NULL, 1, utc_off,
			    zero, zero, "UTC", 4,    0, "EST5EDT,0/0,J365/25"};
	build(&o, &perm);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1782864000, -4 * HOUR_S, "EDT"); /* 2026-07-01T00:00Z */
	assert_local(tz, 1767236400, -4 * HOUR_S, "EDT"); /* 2026-01-01T03:00Z */
	assert_int_equal(ly_tz_day_start_us(tz, 20819), US(1798761600 + 4 * HOUR_S));
	ly_tz_destroy(tz);

	/* Jn never counts Feb 29; n does (2024 is a leap year). */
	perm.footer = "AAA0BBB-1,J60/0,J61/0";
	build(&o, &perm);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1709208000, 0, "AAA");       /* 2024-02-29T12:00Z */
	assert_local(tz, 1709294400, HOUR_S, "BBB");  /* 2024-03-01T12:00Z */
	assert_local(tz, 1740744000, 0, "AAA");       /* 2025-02-28T12:00Z */
	assert_local(tz, 1740830400, HOUR_S, "BBB");  /* 2025-03-01T12:00Z */
	ly_tz_destroy(tz);
	perm.footer = "AAA0BBB-1,59/0,60/0";
	build(&o, &perm);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1709208000, HOUR_S, "BBB");
	assert_local(tz, 1709294400, 0, "AAA");
	assert_local(tz, 1740744000, 0, "AAA");
	assert_local(tz, 1740830400, HOUR_S, "BBB");
	ly_tz_destroy(tz);

	/* Rule times at the v3 limits, -167h and +167h: DST from Sat
	 * 2026-02-28 -167h = 2026-02-21 01:00 -03 (04:00Z) to Sun 2026-11-29
	 * +167h = 2026-12-05 23:00 -02 (2026-12-06T01:00Z). */
	perm.footer = "AAA3BBB,M2.5.6/-167,M11.5.0/167";
	build(&o, &perm);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1771646399, -3 * HOUR_S, "AAA");
	assert_local(tz, 1771646400, -2 * HOUR_S, "BBB");
	assert_local(tz, 1796518799, -2 * HOUR_S, "BBB");
	assert_local(tz, 1796518800, -3 * HOUR_S, "AAA");
	ly_tz_destroy(tz);

	/* An empty footer: the last type lasts forever. */
	perm.footer = "";
	build(&o, &perm);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), 0);
	assert_local(tz, 1796518800, 0, "UTC");
	ly_tz_destroy(tz);
}

static void assert_refused(const fake_zone_t *z, const char *want_err)
{
	out_t o;
	ly_tz_t *tz = NULL;
	char err[256] = "";
	build(&o, z);
	int rc = load_bytes(o.buf, o.len, &tz, err, sizeof(err));
	if (rc != LY_EINVAL)
		print_error("footer \"%s\": got %d\n", z->footer ? z->footer : "", rc);
	assert_int_equal(rc, LY_EINVAL);
	assert_null(tz);
	char want[512];
	snprintf(want, sizeof(want), "%s/Zone: %s", tmpdir, want_err);
	assert_string_equal(err, want);
}

static void test_corrupt_zones(void **state)
{
	(void)state;
	static const char *const bad_footers[] = {
		"Bad",                            /* no offset */
		"A3B",                            /* names under 3 letters */
		"<+03",                           /* unterminated quote */
		"<+0 3>-3",                       /* space in a quoted name */
		"CET-25",                         /* offset hour > 24 */
		"CET-1:60",                       /* minutes > 59 */
		"CET-1CEST,M3.5.0,M10.5.0/3x",    /* trailing junk */
		"CET-1CEST,M13.5.0,M10.5.0",      /* month 13 */
		"CET-1CEST,M3.6.0,M10.5.0",       /* week 6 */
		"CET-1CEST,M3.5.7,M10.5.0",       /* weekday 7 */
		"CET-1CEST,M3.5.0/168,M10.5.0",   /* rule hour > 167 */
		"CET-1CEST,J0,J100",              /* J starts at 1 */
		"CET-1CEST,366,100",              /* n ends at 365 */
		"CET-1CEST,M3.5.0",               /* one rule */
		"CET-1CEST-25,M3.5.0,M10.5.0",    /* DST offset out of range */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA0", /* name too long */
	};
	static const int32_t utc_off[] = {0};
	static const uint8_t zero[] = {0};
	fake_zone_t z = {'2', 0, NULL, NULL, 1, utc_off, zero, zero, "UTC", 4, 0, ""};

	for (size_t i = 0; i < LY_ARRAY_LEN(bad_footers); i++) {
		z.footer = bad_footers[i];
		assert_refused(&z, "bad TZ string in TZif footer");
	}
	z.footer = "A\nB"; /* a newline inside: trailing data */
	assert_refused(&z, "trailing data after TZif footer");

	fake_zone_t ok = {'2',      2,         two_trans, two_idx, 2,  two_utoff,
			  two_isdst, two_desig, two_chars, 8,       0, "AAA-1"};
	fake_zone_t b;

	b = ok;
	b.leapcnt = 1; /* like the right/ zones */
	assert_refused(&b, "leap-second zones are not supported");

	static const uint8_t bad_idx[] = {1, 2};
	b = ok;
	b.idx = bad_idx; /* type 2 of 2 */
	assert_refused(&b, "corrupt TZif file");

	static const int64_t unsorted[] = {2000000000, 1000000000};
	b = ok;
	b.trans = unsorted;
	assert_refused(&b, "corrupt TZif file");

	static const int64_t same[] = {1000000000, 1000000000};
	b = ok;
	b.trans = same;
	assert_refused(&b, "corrupt TZif file");

	static const int32_t too_far[] = {3600, 26 * HOUR_S};
	b = ok;
	b.utoff = too_far;
	assert_refused(&b, "corrupt TZif file");

	static const uint8_t bad_desig[] = {0, 8};
	b = ok;
	b.desig = bad_desig; /* past the 8 designation bytes */
	assert_refused(&b, "corrupt TZif file");

	static const uint8_t bad_isdst[] = {0, 2};
	b = ok;
	b.isdst = bad_isdst;
	assert_refused(&b, "corrupt TZif file");

	b = ok;
	b.ntypes = 0;
	assert_refused(&b, "corrupt TZif file");

	b = ok;
	b.version = '5';
	assert_refused(&b, "not a TZif file");

	/* Not TZif at all, and trailing bytes after valid data. */
	ly_tz_t *tz = NULL;
	char err[256];
	assert_int_equal(load_bytes("# tzdb data\n", 12, &tz, err, sizeof(err)),
			 LY_EINVAL);
	assert_null(tz);
	out_t o;
	build(&o, &ok);
	put(&o, "x", 1);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), LY_EINVAL);
	assert_null(tz);
	fake_zone_t v1 = ok;
	v1.version = 0;
	build(&o, &v1);
	put(&o, "\n", 1);
	assert_int_equal(load_bytes(o.buf, o.len, &tz, err, sizeof(err)), LY_EINVAL);
	assert_null(tz);
}

/* Every proper prefix of a real file is refused; every single-byte
 * corruption is either refused or loads a zone that answers sanely. */
static void test_truncated_and_flipped(void **state)
{
	(void)state;
	char *data = NULL, err[256];
	size_t len = 0;
	ly_tz_t *tz;

	assert_int_equal(ly_read_file("/usr/share/zoneinfo/Europe/Berlin", 1 << 20, &data,
				      &len, err, sizeof(err)),
			 0);
	assert_true(len > 1000);

	for (size_t n = 0; n < len; n++) {
		tz = (ly_tz_t *)&tz;
		int rc = load_bytes(data, n, &tz, err, sizeof(err));
		if (rc != LY_EINVAL)
			print_error("prefix of %zu bytes: %d\n", n, rc);
		assert_int_equal(rc, LY_EINVAL);
		assert_null(tz);
	}
	assert_int_equal(load_bytes(data, 20, &tz, err, sizeof(err)), LY_EINVAL);
	assert_non_null(strstr(err, ": not a TZif file"));
	assert_int_equal(load_bytes(data, 500, &tz, err, sizeof(err)), LY_EINVAL);
	assert_non_null(strstr(err, ": truncated TZif file"));
	assert_int_equal(load_bytes(data, len, &tz, err, sizeof(err)), 0);
	ly_tz_destroy(tz);

	static const unsigned char masks[] = {0x01, 0x80, 0xff};
	int loaded = 0, refused = 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < LY_ARRAY_LEN(masks); k++) {
			data[i] ^= (char)masks[k];
			int rc = load_bytes(data, len, &tz, err, sizeof(err));
			data[i] ^= (char)masks[k];
			if (rc != 0) {
				assert_int_equal(rc, LY_EINVAL);
				refused++;
				continue;
			}
			loaded++;
			for (int64_t t = INT64_C(-5364662400); t < INT64_C(7258118400);
			     t += INT64_C(86400) * 1009) {
				int64_t off = ly_tz_offset_us(tz, US(t));
				assert_true(off >= -US(89999) && off <= US(93599));
				int64_t day = ly_tz_local_day(tz, US(t));
				int64_t start = ly_tz_day_start_us(tz, day);
				assert_true(start <= US(t) + 2 * DAY_US);
			}
			ly_tz_destroy(tz);
		}
	}
	/* Both happen: the ignored v1 block takes anything, the rest not. */
	assert_true(loaded > 0);
	assert_true(refused > 0);
	free(data);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_istanbul_days),
		cmocka_unit_test(test_istanbul_periods),
		cmocka_unit_test(test_istanbul_history),
		cmocka_unit_test(test_berlin_dst_2026),
		cmocka_unit_test(test_berlin_footer_and_before),
		cmocka_unit_test(test_footer_rules),
		cmocka_unit_test(test_sao_paulo_no_midnight),
		cmocka_unit_test(test_apia_skipped_day),
		cmocka_unit_test(test_utc_and_fixed),
		cmocka_unit_test(test_extreme_instants),
		cmocka_unit_test(test_period_keys),
		cmocka_unit_test(test_period_parse),
		cmocka_unit_test(test_calendar),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_synthetic_zones),
		cmocka_unit_test(test_corrupt_zones),
		cmocka_unit_test(test_truncated_and_flipped),
	};

	return cmocka_run_group_tests_name("tz", tests, setup, teardown);
}
