/*
 * loyaltyd: the worker. Wires the config, the program, PostgreSQL, Kafka
 * and the HTTP endpoints into the processing loop. SIGTERM/SIGINT finish
 * the batch in hand, commit, leave the group and exit 0; SIGHUP reloads
 * the program file between batches (a bad file is refused and the running
 * program stays).
 */
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loyalty/config.h"
#include "loyalty/engine.h"
#include "loyalty/http.h"
#include "loyalty/kafka.h"
#include "loyalty/metrics.h"
#include "loyalty/program.h"
#include "loyalty/util.h"
#include "loyalty/worker.h"

extern char **environ;

static volatile int stop, reload;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload = 1;
	else
		stop = 1;
}

static int probe_healthy(void *opaque, char *why, size_t why_size)
{
	return ly_worker_healthy(opaque, why, why_size);
}

static int probe_ready(void *opaque, char *why, size_t why_size)
{
	return ly_worker_ready(opaque, why, why_size);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: loyaltyd [--config FILE]\n"
		   "\n"
		   "Consumes the shop's events from Kafka, applies the loyalty program and\n"
		   "keeps the state in PostgreSQL. Settings come from FILE, then from\n"
		   "LOYALTY_<SECTION>_<KEY> environment variables (see docs/configuration.md).\n");
}

int main(int argc, char **argv)
{
	/* Two malloc arenas, not eight per core: every librdkafka thread and
	 * the relay would otherwise keep its own, each holding on to what it
	 * once needed (docs/performance.md: a fifth of the peak RSS). */
	mallopt(M_ARENA_MAX, 2);
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "loyaltyd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	char errstr[1024];
	ly_config_t cfg;
	ly_program_t *program = NULL;
	rd_kafka_t *embedded = NULL;
	ly_worker_t *worker = NULL;
	ly_metrics_t *metrics = NULL;
	ly_http_t *http = NULL;
	int status = 1;
	if (ly_config_load(&cfg, config_path, environ, errstr, sizeof(errstr))) {
		fprintf(stderr, "loyaltyd: %s\n", errstr);
		return 1;
	}
	ly_log_level_t level;
	if (ly_log_parse_level(cfg.log_level, &level) == 0)
		ly_log_set_level(level);
	if (ly_program_load(&program, cfg.program, errstr, sizeof(errstr))) {
		ly_log(LY_LOG_ERROR, "main", "program refused: %s", errstr);
		goto out;
	}
	ly_log(LY_LOG_INFO, "main", "program %s version %s: %zu rules", program->name,
	       program->version, program->rules_len);

	char bootstrap[1024];
	snprintf(bootstrap, sizeof(bootstrap), "%s", cfg.kafka_brokers);
	if (strcmp(cfg.kafka_brokers, "embedded") == 0) {
		if (ly_kafka_embedded_start(&embedded, &cfg, bootstrap, sizeof(bootstrap),
					    errstr, sizeof(errstr))) {
			ly_log(LY_LOG_ERROR, "main", "%s", errstr);
			goto out;
		}
		ly_log(LY_LOG_INFO, "main", "embedded Kafka listening on %s", bootstrap);
	}

	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (cfg.http_listen[0] && !(metrics = ly_metrics_new())) {
		ly_log(LY_LOG_ERROR, "main", "out of memory");
		goto out;
	}
	if (ly_worker_new(&worker, &cfg, bootstrap, program, metrics, errstr,
			  sizeof(errstr))) {
		ly_log(LY_LOG_ERROR, "main", "%s", errstr);
		goto out;
	}
	if (cfg.http_listen[0]) {
		const ly_http_probes_t probes = {worker, probe_healthy, probe_ready};
		if (ly_http_start(&http, cfg.http_listen, metrics, &probes, errstr,
				  sizeof(errstr))) {
			ly_log(LY_LOG_ERROR, "main", "%s", errstr);
			goto out;
		}
		ly_log(LY_LOG_INFO, "main", "serving /metrics, /healthz and /readyz on %s",
		       cfg.http_listen);
	}
	ly_log(LY_LOG_INFO, "main", "started: group %s", cfg.kafka_group_id);
	if (ly_worker_run(worker, &stop, &reload) == 0)
		status = 0;
	ly_worker_stats_t st;
	ly_worker_get_stats(worker, &st);
	ly_log(LY_LOG_INFO, "main",
	       "stopped: %llu batches, %llu applied, %llu duplicates, %llu rejected, "
	       "%llu postings, %llu codes, %llu published",
	       (unsigned long long)st.batches, (unsigned long long)st.events_applied,
	       (unsigned long long)st.events_duplicate,
	       (unsigned long long)st.events_rejected, (unsigned long long)st.postings,
	       (unsigned long long)st.codes, (unsigned long long)st.outbox_published);
out:
	ly_http_stop(http); /* before the worker its probes ask */
	ly_worker_destroy(worker);
	ly_metrics_destroy(metrics);
	if (embedded)
		rd_kafka_destroy(embedded);
	ly_program_destroy(program);
	ly_config_free(&cfg);
	return status;
}
