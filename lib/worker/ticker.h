/*
 * ticker.h: the scheduler's own thread and PostgreSQL connection, beside
 * the worker's batches (ticker.c). Not installed.
 */
#ifndef LOYALTY_TICKER_H
#define LOYALTY_TICKER_H

#include <stddef.h>

#include "loyalty/config.h"
#include "loyalty/program.h"

typedef struct ly_ticker ly_ticker_t;

/*
 * Called from the ticker's thread after each transaction it tried: ok,
 * whether it reached PostgreSQL; wrote, whether it committed rows (the
 * outbox may have new ones).
 */
typedef void (*ly_ticker_done_fn)(void *opaque, int ok, int wrote);

/*
 * Connects to PostgreSQL and starts the thread, which runs a pass of the
 * scheduler at once and then every scheduler.interval_ms (which must be
 * above 0). Returns 0 or the store's code (errstr).
 */
int ly_ticker_start(ly_ticker_t **ticker, const ly_config_t *cfg,
		    const ly_program_t *program, ly_ticker_done_fn done, void *opaque,
		    char *errstr, size_t errstr_size);

/* The program the next transactions run. Returns once the one in
 * progress, if any, has ended: the caller may then free the one before. */
void ly_ticker_set_program(ly_ticker_t *ticker, const ly_program_t *program);

/* Stops the thread after the transaction in progress and frees the ticker.
 * Accepts NULL. */
void ly_ticker_stop(ly_ticker_t *ticker);

#endif
