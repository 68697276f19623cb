/*
 * httpd.c: /health, /status and /metrics for local monitoring (see
 * httpd.h).  evhttp parses the requests within the size limits set here;
 * the answers are built from netd's memory only.  The listening socket
 * is made before the sandbox; accepting on it needs nothing more.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "berth.h"
#include "httpd.h"
#include "log.h"
#include "status.h"

struct httpd {
	struct evhttp		*http;
	int64_t			 started_ms;	/* monotonic */

	struct netd_status	 status;
	int			 have_status;
	int64_t			 status_ms;	/* when it arrived */

	uint32_t		 heartbeat_ms;
	int			 cp_configured;
	char			 cp_protocol[32];
	char			 cp_host[256];
	char			 cp_state[32];
	int64_t			 cp_ok_ms;	/* 0: never */
	int64_t			 cp_ok_unix;
};

static void	 httpd_request(struct evhttp_request *, void *);

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- set-up ------------------------------------------------------------ */

int
httpd_listen_socket(const char *addr, uint16_t port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	int			 fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	} else {
		log_warnx("%s: %s is not a numeric address", __func__, addr);
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s: socket", __func__);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, HTTPD_BACKLOG) == -1) {
		log_warn("%s: listen on %s port %u", __func__, addr,
		    (unsigned int)port);
		close(fd);
		return -1;
	}
	return fd;
}

struct httpd *
httpd_new(struct event_base *base, int fd)
{
	struct httpd	*h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->started_ms = now_ms();
	h->heartbeat_ms = HTTPD_HEARTBEAT_DEFAULT;
	(void)strlcpy(h->cp_state, "none", sizeof(h->cp_state));
	if ((h->http = evhttp_new(base)) == NULL ||
	    evhttp_accept_socket(h->http, fd) == -1) {
		log_warnx("%s: cannot serve HTTP", __func__);
		if (h->http != NULL)
			evhttp_free(h->http);
		free(h);
		return NULL;
	}
	evhttp_set_max_headers_size(h->http, HTTPD_HEADERS_MAX);
	evhttp_set_max_body_size(h->http, HTTPD_BODY_MAX);
	evhttp_set_timeout(h->http, HTTPD_TIMEOUT_SEC);
	/* All of them reach us, so that the answer is 405 and not 501. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, httpd_request, h);
	return h;
}

void
httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	evhttp_free(h->http);
	free(h);
}

void
httpd_set_status(struct httpd *h, const struct netd_status *status)
{
	h->status = *status;
	h->have_status = 1;
	h->status_ms = now_ms();
}

void
httpd_set_heartbeat(struct httpd *h, uint32_t interval_ms)
{
	h->heartbeat_ms = interval_ms != 0 ? interval_ms :
	    HTTPD_HEARTBEAT_DEFAULT;
}

/* The host part of url, or "" if it has none we can parse. */
static void
url_host(const char *url, char *host, size_t size)
{
	CURLU	*u;
	char	*part = NULL;

	host[0] = '\0';
	if ((u = curl_url()) == NULL)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ==
	    CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &part, 0) ==
	    CURLUE_OK)
		(void)strlcpy(host, part, size);
	curl_free(part);
	curl_url_cleanup(u);
}

void
httpd_set_control_plane(struct httpd *h, const char *protocol,
    const char *url)
{
	h->cp_configured = protocol != NULL && protocol[0] != '\0';
	h->cp_protocol[0] = '\0';
	h->cp_host[0] = '\0';
	h->cp_ok_ms = 0;
	h->cp_ok_unix = 0;
	if (!h->cp_configured) {
		(void)strlcpy(h->cp_state, "none", sizeof(h->cp_state));
		return;
	}
	(void)strlcpy(h->cp_protocol, protocol, sizeof(h->cp_protocol));
	if (url != NULL)
		url_host(url, h->cp_host, sizeof(h->cp_host));
	(void)strlcpy(h->cp_state, "starting", sizeof(h->cp_state));
}

void
httpd_control_plane_state(struct httpd *h, const char *state, int ok)
{
	(void)strlcpy(h->cp_state, state, sizeof(h->cp_state));
	if (ok) {
		h->cp_ok_ms = now_ms();
		h->cp_ok_unix = time(NULL);
	}
}

/* --- answers ----------------------------------------------------------- */

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *type, struct evbuffer *body)
{
	struct evkeyvalq	*out = evhttp_request_get_output_headers(req);

	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_send_reply(req, code, reason, body);
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer	*body;

	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(body, "%s\n", text);
	reply(req, code, reason, "text/plain; charset=utf-8", body);
	evbuffer_free(body);
}

/*
 * The time /health judges by: the last good control-plane exchange, or
 * without a control plane the parent's last status.  0 if never.
 */
static int64_t
health_reference_ms(const struct httpd *h)
{
	if (h->cp_configured)
		return h->cp_ok_ms;
	return h->have_status ? h->status_ms : 0;
}

/* Age of that reference in ms; since start when there has been none. */
static int64_t
heartbeat_age_ms(const struct httpd *h)
{
	int64_t	 ref = health_reference_ms(h);

	return now_ms() - (ref != 0 ? ref : h->started_ms);
}

static void
serve_health(struct httpd *h, struct evhttp_request *req)
{
	char	 why[160];
	int64_t	 age = heartbeat_age_ms(h);
	int64_t	 limit = 3 * (int64_t)h->heartbeat_ms;
	const char *what = h->cp_configured ?
	    "successful control-plane exchange" : "status from the parent";

	if (health_reference_ms(h) != 0 && age <= limit) {
		reply_text(req, HTTP_OK, "OK", "ok");
		return;
	}
	if (health_reference_ms(h) == 0)
		(void)snprintf(why, sizeof(why), "unhealthy: no %s yet", what);
	else
		(void)snprintf(why, sizeof(why), "unhealthy: no %s for %lld "
		    "s (limit %lld s)", what, (long long)(age / 1000),
		    (long long)(limit / 1000));
	reply_text(req, 503, "Service Unavailable", why);
}

static json_t *
status_processes(const struct httpd *h)
{
	const struct status_process	*p;
	json_t				*list, *o;
	size_t				 i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < h->status.nprocesses; i++) {
		p = &h->status.processes[i];
		o = json_pack("{s:s, s:I, s:s, s:I, s:b, s:I, s:I}",
		    "name", p->name, "pid", (json_int_t)p->pid,
		    "user", p->user, "seccomp", (json_int_t)p->seccomp,
		    "no_new_privs", (int)p->no_new_privs,
		    "landlock_abi", (json_int_t)p->landlock_abi,
		    "cap_eff", (json_int_t)p->cap_eff);
		if (o == NULL || json_array_append_new(list, o) == -1) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static json_t *
status_control_plane(const struct httpd *h)
{
	if (!h->cp_configured)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:I}", "protocol", h->cp_protocol,
	    "url_host", h->cp_host, "state", h->cp_state, "last_ok_unix",
	    (json_int_t)h->cp_ok_unix);
}

static json_t *
status_capacity(const struct httpd *h)
{
	const struct status_capacity	*c = &h->status.capacity;

	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "max_containers", (json_int_t)c->max_containers,
	    "max_cpu_percent", (json_int_t)c->max_cpu_percent,
	    "max_memory_percent", (json_int_t)c->max_memory_percent,
	    "max_concurrent_builds", (json_int_t)c->max_concurrent_builds,
	    "max_concurrent_runs", (json_int_t)c->max_concurrent_runs);
}

static void
serve_status(struct httpd *h, struct evhttp_request *req)
{
	struct evbuffer	*body;
	json_t		*root;
	char		*text = NULL;

	root = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I, s:I, s:s, s:o, s:I, "
	    "s:I}",
	    "version", BERTH_VERSION,
	    "node_id", h->status.node_id,
	    "control_plane", status_control_plane(h),
	    "processes", status_processes(h),
	    "tasks_running", (json_int_t)h->status.tasks_running,
	    "containers_running", (json_int_t)h->status.containers_running,
	    "containers_total", (json_int_t)h->status.containers_total,
	    "docker_version", h->status.docker_version,
	    "capacity", status_capacity(h),
	    "updated_unix", (json_int_t)h->status.updated_unix,
	    "heartbeat_age_seconds", (json_int_t)(heartbeat_age_ms(h) / 1000));
	if (root == NULL || (text = json_dumps(root, JSON_COMPACT)) == NULL ||
	    (body = evbuffer_new()) == NULL) {
		json_decref(root);
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(body, "%s\n", text);
	reply(req, HTTP_OK, "OK", "application/json", body);
	evbuffer_free(body);
	json_decref(root);
	free(text);
}

/* --- Prometheus --------------------------------------------------------- */

/* A label value with \, " and newline escaped, as the format wants. */
static void
label_escape(const char *in, char *out, size_t size)
{
	size_t	 o = 0;

	for (; *in != '\0' && o + 3 < size; in++) {
		if (*in == '\\' || *in == '"') {
			out[o++] = '\\';
			out[o++] = *in;
		} else if (*in == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *in;
	}
	out[o] = '\0';
}

static void
metric_head(struct evbuffer *b, const char *name, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n", name, help,
	    name);
}

static void
metrics_processes(const struct httpd *h, struct evbuffer *b)
{
	const struct status_process	*p;
	size_t				 i;

	if (h->status.nprocesses == 0)
		return;
	metric_head(b, "berth_process_landlock_abi",
	    "Landlock ABI in force in each berth process (0: none).");
	for (i = 0; i < h->status.nprocesses; i++) {
		p = &h->status.processes[i];
		evbuffer_add_printf(b, "berth_process_landlock_abi"
		    "{process=\"%s\"} %d\n", p->name, (int)p->landlock_abi);
	}
	metric_head(b, "berth_process_seccomp",
	    "Seccomp mode of each berth process (2: filter).");
	for (i = 0; i < h->status.nprocesses; i++) {
		p = &h->status.processes[i];
		evbuffer_add_printf(b, "berth_process_seccomp"
		    "{process=\"%s\"} %u\n", p->name, p->seccomp);
	}
}

static void
metrics_disks_gpus(const struct status_metrics *m, struct evbuffer *b)
{
	char	 path[2 * BERTH_PATH_LEN], name[200], uuid[200];
	size_t	 i;

	metric_head(b, "berth_host_disk_free_bytes",
	    "Bytes free for unprivileged users on the file system.");
	for (i = 0; i < m->ndisks; i++) {
		label_escape(m->disks[i].path, path, sizeof(path));
		evbuffer_add_printf(b, "berth_host_disk_free_bytes"
		    "{use=\"%s\",path=\"%s\"} %llu\n", m->disks[i].use, path,
		    (unsigned long long)m->disks[i].free_bytes);
	}
	metric_head(b, "berth_host_disk_total_bytes",
	    "Size of the file system in bytes.");
	for (i = 0; i < m->ndisks; i++) {
		label_escape(m->disks[i].path, path, sizeof(path));
		evbuffer_add_printf(b, "berth_host_disk_total_bytes"
		    "{use=\"%s\",path=\"%s\"} %llu\n", m->disks[i].use, path,
		    (unsigned long long)m->disks[i].total_bytes);
	}
	if (m->ngpus == 0)
		return;
	metric_head(b, "berth_gpu_memory_total_bytes", "GPU memory in bytes.");
	metric_head(b, "berth_gpu_memory_used_bytes",
	    "GPU memory in use, in bytes.");
	for (i = 0; i < m->ngpus; i++) {
		label_escape(m->gpus[i].name, name, sizeof(name));
		label_escape(m->gpus[i].uuid, uuid, sizeof(uuid));
		evbuffer_add_printf(b, "berth_gpu_memory_total_bytes"
		    "{gpu=\"%u\",uuid=\"%s\",name=\"%s\"} %llu\n",
		    m->gpus[i].index, uuid, name,
		    (unsigned long long)m->gpus[i].memory_total_bytes);
		evbuffer_add_printf(b, "berth_gpu_memory_used_bytes"
		    "{gpu=\"%u\",uuid=\"%s\",name=\"%s\"} %llu\n",
		    m->gpus[i].index, uuid, name,
		    (unsigned long long)m->gpus[i].memory_used_bytes);
	}
}

static void
metrics_host(const struct status_metrics *m, struct evbuffer *b)
{
	metric_head(b, "berth_host_cpu_percent",
	    "Host CPU busy, percent of all CPUs, between two samples.");
	evbuffer_add_printf(b, "berth_host_cpu_percent %.2f\n",
	    m->cpu_percent);
	metric_head(b, "berth_host_cpu_count", "Online CPUs.");
	evbuffer_add_printf(b, "berth_host_cpu_count %u\n", m->cpu_count);
	metric_head(b, "berth_host_memory_total_bytes", "MemTotal.");
	evbuffer_add_printf(b, "berth_host_memory_total_bytes %llu\n",
	    (unsigned long long)m->memory_total_bytes);
	metric_head(b, "berth_host_memory_used_bytes",
	    "MemTotal less MemAvailable.");
	evbuffer_add_printf(b, "berth_host_memory_used_bytes %llu\n",
	    (unsigned long long)m->memory_used_bytes);
	metric_head(b, "berth_host_memory_available_bytes", "MemAvailable.");
	evbuffer_add_printf(b, "berth_host_memory_available_bytes %llu\n",
	    (unsigned long long)m->memory_available_bytes);
	metric_head(b, "berth_host_load1", "Load average over 1 minute.");
	evbuffer_add_printf(b, "berth_host_load1 %.2f\n", m->load1);
	metric_head(b, "berth_host_load5", "Load average over 5 minutes.");
	evbuffer_add_printf(b, "berth_host_load5 %.2f\n", m->load5);
	metric_head(b, "berth_host_load15", "Load average over 15 minutes.");
	evbuffer_add_printf(b, "berth_host_load15 %.2f\n", m->load15);
	metrics_disks_gpus(m, b);
}

static void
serve_metrics(struct httpd *h, struct evhttp_request *req)
{
	struct evbuffer	*b;

	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metric_head(b, "berth_up", "1 while netd serves this page.");
	evbuffer_add_printf(b, "berth_up 1\n");
	metric_head(b, "berth_heartbeat_age_seconds", "Seconds since the last "
	    "successful control-plane exchange (without a control plane: "
	    "the last status from the parent; since start if none).");
	evbuffer_add_printf(b, "berth_heartbeat_age_seconds %.3f\n",
	    heartbeat_age_ms(h) / 1000.0);
	metric_head(b, "berth_tasks_running", "Tasks in progress.");
	evbuffer_add_printf(b, "berth_tasks_running %u\n",
	    h->status.tasks_running);
	metric_head(b, "berth_containers_running",
	    "Running containers berth owns.");
	evbuffer_add_printf(b, "berth_containers_running %u\n",
	    h->status.containers_running);
	metrics_processes(h, b);
	if (h->have_status)
		metrics_host(&h->status.metrics, b);
	reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8",
	    b);
	evbuffer_free(b);
}

/* --- dispatch ----------------------------------------------------------- */

static void
httpd_request(struct evhttp_request *req, void *arg)
{
	static const struct {
		const char	*path;
		void		(*serve)(struct httpd *,
				    struct evhttp_request *);
	} routes[] = {
		{ "/health", serve_health },
		{ "/status", serve_status },
		{ "/metrics", serve_metrics },
	};
	struct httpd	*h = arg;
	const char	*path;
	size_t		 i;

	path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	for (i = 0; path != NULL && i < sizeof(routes) / sizeof(routes[0]);
	    i++)
		if (strcmp(path, routes[i].path) == 0)
			break;
	if (path == NULL || i == sizeof(routes) / sizeof(routes[0])) {
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found");
		return;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET");
		reply_text(req, 405, "Method Not Allowed",
		    "method not allowed");
		return;
	}
	routes[i].serve(h, req);
}
