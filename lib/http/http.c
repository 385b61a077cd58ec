/*
 * http.c: /metrics, /healthz and /readyz over libmicrohttpd
 * (include/loyalty/http.h). One internal polling thread is plenty for a
 * scrape every few seconds and the probes of an orchestrator.
 */
#include "loyalty/http.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_BYTES (16 * 1024 * 1024)

struct ly_http {
	struct MHD_Daemon *daemon;
	ly_metrics_t *metrics;
	ly_http_probes_t probes;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *type, const char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
				  const char *text)
{
	return reply(conn, status, "text/plain; charset=utf-8", text, strlen(text));
}

/* A probe: 200 "<ok>\n", or 503 "<why>\n". */
static enum MHD_Result probe(struct MHD_Connection *conn, void *opaque,
			     int (*fn)(void *, char *, size_t), const char *ok)
{
	char why[256] = "";
	char body[300];
	if (fn(opaque, why, sizeof(why))) {
		snprintf(body, sizeof(body), "%s\n", ok);
		return reply_text(conn, MHD_HTTP_OK, body);
	}
	snprintf(body, sizeof(body), "%s\n", why[0] ? why : "not ok");
	return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	ly_http_t *h = cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_data_size != 0) /* no bodies are read */
		return MHD_NO;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n");
	if (strcmp(url, "/healthz") == 0)
		return probe(conn, h->probes.opaque, h->probes.healthy, "ok");
	if (strcmp(url, "/readyz") == 0)
		return probe(conn, h->probes.opaque, h->probes.ready, "ready");
	if (strcmp(url, "/metrics") != 0)
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
	ly_buf_t b = {.max = METRICS_MAX_BYTES};
	enum MHD_Result ret;
	if (ly_metrics_render(h->metrics, &b))
		ret = reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	else
		ret = reply(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE, b.data, b.len);
	ly_buf_free(&b);
	return ret;
}

/* libmicrohttpd's own messages, into the JSON log. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	ly_log(LY_LOG_WARN, "http", "%s", msg);
}

/* "host:port", "[v6]:port" or ":port" into an address. */
static int parse_listen(const char *listen, struct sockaddr_storage *ss,
			char *errstr, size_t errstr_size)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	memset(ss, 0, sizeof(*ss));
	if (!colon || (size_t)(colon - listen) >= sizeof(host))
		goto bad;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
		goto bad;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 2 || host[n - 1] != ']')
			goto bad;
		host[n - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			goto bad;
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (strcmp(host, "localhost") == 0)
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		goto bad;
	return 0;
bad:
	snprintf(errstr, errstr_size,
		 "http.listen: expected host:port (an IPv4 address, [IPv6], localhost "
		 "or empty for all), got \"%s\"",
		 listen);
	return LY_EINVAL;
}

int ly_http_start(ly_http_t **out, const char *listen, ly_metrics_t *metrics,
		  const ly_http_probes_t *probes, char *errstr,
		  size_t errstr_size)
{
	struct sockaddr_storage ss;
	*out = NULL;
	int rc = parse_listen(listen, &ss, errstr, errstr_size);
	if (rc)
		return rc;
	ly_http_t *h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(errstr, errstr_size, "out of memory");
		return LY_ENOMEM;
	}
	h->metrics = metrics;
	h->probes = *probes;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	uint16_t port = ntohs(ss.ss_family == AF_INET6
				      ? ((struct sockaddr_in6 *)&ss)->sin6_port
				      : ((struct sockaddr_in *)&ss)->sin_port);
	h->daemon = MHD_start_daemon(flags, port, NULL, NULL, handle, h,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				     MHD_OPTION_END);
	if (!h->daemon) {
		snprintf(errstr, errstr_size, "http.listen: cannot listen on %s", listen);
		free(h);
		return LY_EIO;
	}
	*out = h;
	return 0;
}

void ly_http_stop(ly_http_t *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon);
	free(h);
}
