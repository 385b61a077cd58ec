/*
 * mono.h: what the worker's threads (relay.c, ticker.c) wait with: a
 * condition variable on the monotonic clock, so a change of the wall
 * clock neither stretches nor cuts a wait. Not installed.
 */
#ifndef LOYALTY_MONO_H
#define LOYALTY_MONO_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* pthread_cond_init, its timed waits on CLOCK_MONOTONIC. */
static inline void ly_mono_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

/* Now plus ms on the monotonic clock, for pthread_cond_timedwait. */
static inline void ly_mono_deadline(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

#endif
