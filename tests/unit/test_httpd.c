/*
 * test_httpd.c: netd/httpd.c served on 127.0.0.1 (a port the kernel
 * picks) and queried with netd's own client on the same event loop; and
 * netd/status.c, the decoder of the parent's status that feeds it.
 * /health follows the age of the last status (or control-plane success)
 * against three heartbeat intervals, /status carries the fields it
 * promises and never a URL's credentials, /metrics is Prometheus text
 * line by line, and anything else is 404 or 405.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "http.h"
#include "httpd.h"
#include "resolve.h"
#include "status.h"

#define WAIT_SECONDS	10

static const char status_json[] =
"{\"node_id\": \"node-7\","
" \"processes\": ["
"  {\"name\": \"parent\", \"pid\": 100, \"user\": \"root\", \"seccomp\": 2,"
"   \"no_new_privs\": 1, \"landlock_abi\": 4, \"cap_eff\": 0},"
"  {\"name\": \"netd\", \"pid\": 101, \"user\": \"_berth\", \"seccomp\": 2,"
"   \"no_new_privs\": 1, \"landlock_abi\": 4, \"cap_eff\": 0}],"
" \"metrics\": {\"cpu_percent\": 12.5, \"cpu_count\": 2,"
"  \"memory_total_bytes\": 1000000, \"memory_used_bytes\": 400000,"
"  \"memory_available_bytes\": 600000, \"load1\": 0.5, \"load5\": 0.25,"
"  \"load15\": 0, \"kernel\": \"6.1.0\", \"machine\": \"x86_64\","
"  \"disks\": [{\"use\": \"state\", \"path\": \"/var/lib/berth\","
"   \"free_bytes\": 5000, \"total_bytes\": 9000}],"
"  \"gpus\": [{\"index\": 0, \"name\": \"Fake \\\"GPU\\\"\","
"   \"uuid\": \"GPU-1\", \"memory_total_bytes\": 8,"
"   \"memory_used_bytes\": 2}]},"
" \"tasks_running\": 3, \"containers_running\": 5,"
" \"containers_total\": 6, \"docker_version\": \"20.10.24\","
" \"containers\": [{\"name\": \"berth-web\", \"app\": \"web\","
"  \"id\": \"0123\", \"image\": \"berth/web:1\", \"state\": \"running\"}],"
" \"capacity\": {\"max_containers\": 50, \"max_cpu_percent\": 90,"
"  \"max_memory_percent\": 80, \"max_concurrent_builds\": 2,"
"  \"max_concurrent_runs\": 4},"
" \"updated_unix\": 1700000000}";

struct harness {
	struct event_base	*base;
	struct resolve		*resolve;
	struct http_client	*client;
	struct httpd		*httpd;
	int			 port;
};

struct result {
	int		 done;
	int		 status;
	char		*body;
	json_t		*json;
};

static struct harness	 h;

static int
setup(void **state)
{
	struct http_client_conf	 conf;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd;

	(void)state;
	memset(&conf, 0, sizeof(conf));
	if ((h.base = event_base_new()) == NULL ||
	    (h.resolve = resolve_new(h.base)) == NULL ||
	    (h.client = http_client_new(h.base, h.resolve, &conf)) == NULL ||
	    (fd = httpd_listen_socket("127.0.0.1", 0)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
	    (h.httpd = httpd_new(h.base, fd)) == NULL)
		return -1;
	h.port = ntohs(sin.sin_port);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	httpd_free(h.httpd);
	http_client_free(h.client);
	resolve_free(h.resolve);
	event_base_free(h.base);
	memset(&h, 0, sizeof(h));
	return 0;
}

static int
group_setup(void **state)
{
	(void)state;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return -1;
	return 0;
}

static void
on_done(struct http_request *req, const struct http_response *resp,
    void *arg)
{
	struct result	*r = arg;

	(void)req;
	r->done = 1;
	r->status = resp->status;
	r->body = strndup(resp->body, resp->len);
	r->json = resp->json != NULL ? json_incref(resp->json) : NULL;
}

static void
get(const char *method, const char *path, struct result *r)
{
	struct http_request_spec spec;
	char			 url[128];
	time_t			 deadline = time(NULL) + WAIT_SECONDS;

	memset(r, 0, sizeof(*r));
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", h.port,
	    path);
	memset(&spec, 0, sizeof(spec));
	spec.method = method;
	spec.url = url;
	spec.parse_json = 1;
	spec.timeout_ms = 5000;
	spec.on_done = on_done;
	spec.arg = r;
	assert_non_null(http_request(h.client, &spec));
	while (!r->done) {
		assert_true(time(NULL) < deadline);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
}

static void
result_clear(struct result *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

static void
push_status(void)
{
	struct netd_status	 st;

	assert_null(status_decode(status_json, strlen(status_json), &st));
	httpd_set_status(h.httpd, &st);
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1)
		continue;
}

/* --- /health ------------------------------------------------------------ */

static void
test_health_follows_status_age(void **state)
{
	struct result	 r;

	(void)state;
	get("GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "no status from the parent yet"));
	result_clear(&r);

	/* Three intervals of 100 ms: fresh now, stale in 400 ms. */
	httpd_set_heartbeat(h.httpd, 100);
	push_status();
	get("GET", "/health", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "ok\n");
	result_clear(&r);

	sleep_ms(400);
	get("GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "no status from the parent for"));
	result_clear(&r);

	push_status();
	get("GET", "/health", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void
test_health_follows_control_plane(void **state)
{
	struct result	 r;

	(void)state;
	httpd_set_heartbeat(h.httpd, 100);
	httpd_set_control_plane(h.httpd, "native",
	    "https://cp.example.com/api");
	/* A fresh status is not enough once a control plane is configured. */
	push_status();
	get("GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "no successful control-plane "
	    "exchange yet"));
	result_clear(&r);

	httpd_control_plane_state(h.httpd, "connected", 1);
	get("GET", "/health", &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);

	sleep_ms(400);
	httpd_control_plane_state(h.httpd, "retrying", 0);
	get("GET", "/health", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.body, "control-plane exchange for"));
	result_clear(&r);
}

/* --- /status ------------------------------------------------------------ */

static void
test_status_fields(void **state)
{
	struct result	 r;
	json_t		*cp, *p;

	(void)state;
	httpd_set_control_plane(h.httpd, "native",
	    "https://node:s3cret@cp.example.com:8443/v1?token=t0ken");
	httpd_control_plane_state(h.httpd, "connected", 1);
	push_status();
	get("GET", "/status", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "version")), BERTH_VERSION);
	assert_string_equal(json_string_value(json_object_get(r.json,
	    "node_id")), "node-7");
	assert_int_equal(json_integer_value(json_object_get(r.json,
	    "tasks_running")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(
	    r.json, "capacity"), "max_containers")), 50);
	cp = json_object_get(r.json, "control_plane");
	assert_string_equal(json_string_value(json_object_get(cp,
	    "protocol")), "native");
	assert_string_equal(json_string_value(json_object_get(cp,
	    "url_host")), "cp.example.com");
	assert_string_equal(json_string_value(json_object_get(cp, "state")),
	    "connected");
	assert_true(json_integer_value(json_object_get(cp, "last_ok_unix")) >
	    time(NULL) - 60);
	/* Neither the password nor the token may show. */
	assert_null(strstr(r.body, "s3cret"));
	assert_null(strstr(r.body, "t0ken"));
	assert_null(strstr(r.body, "node:"));
	assert_int_equal(json_array_size(json_object_get(r.json,
	    "processes")), 2);
	p = json_array_get(json_object_get(r.json, "processes"), 1);
	assert_string_equal(json_string_value(json_object_get(p, "name")),
	    "netd");
	assert_int_equal(json_integer_value(json_object_get(p, "pid")), 101);
	assert_string_equal(json_string_value(json_object_get(p, "user")),
	    "_berth");
	assert_int_equal(json_integer_value(json_object_get(p, "seccomp")),
	    2);
	assert_true(json_is_true(json_object_get(p, "no_new_privs")));
	assert_int_equal(json_integer_value(json_object_get(p,
	    "landlock_abi")), 4);
	assert_non_null(json_object_get(p, "cap_eff"));
	result_clear(&r);

	/* Without a control plane: null, not an empty shell. */
	httpd_set_control_plane(h.httpd, NULL, NULL);
	get("GET", "/status", &r);
	assert_true(json_is_null(json_object_get(r.json, "control_plane")));
	result_clear(&r);
}

/* --- /metrics ----------------------------------------------------------- */

/* "name{labels} value": a metric name, balanced labels, a number. */
static int
sample_line_valid(const char *line, char *name, size_t size)
{
	const char	*p = line, *value;
	char		*end;
	size_t		 n = 0;

	if (!isalpha((unsigned char)*p) && *p != '_')
		return 0;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':') {
		if (n + 1 < size)
			name[n++] = *p;
		p++;
	}
	name[n] = '\0';
	if (*p == '{') {
		/* label="value" pairs; values may hold \" and \\. */
		for (p++; *p != '}'; p++) {
			if (*p == '\0')
				return 0;
			if (*p == '"')
				for (p++; *p != '"'; p++) {
					if (*p == '\0')
						return 0;
					if (*p == '\\')
						p++;
				}
		}
		p++;
	}
	if (*p++ != ' ')
		return 0;
	value = p;
	(void)strtod(value, &end);
	return end != value && *end == '\0';
}

static void
test_metrics_text(void **state)
{
	struct result	 r;
	char		*line, *save = NULL, name[128];
	int		 samples = 0;

	(void)state;
	push_status();
	get("GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	for (line = strtok_r(r.body, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#') {
			assert_true(strncmp(line, "# HELP ", 7) == 0 ||
			    strncmp(line, "# TYPE ", 7) == 0);
			continue;
		}
		if (!sample_line_valid(line, name, sizeof(name)))
			fail_msg("not a sample line: %s", line);
		assert_int_equal(strncmp(name, "berth_", 6), 0);
		samples++;
	}
	assert_true(samples > 15);
	result_clear(&r);

	get("GET", "/metrics", &r);
	assert_non_null(strstr(r.body, "\nberth_up 1\n"));
	assert_non_null(strstr(r.body, "\nberth_tasks_running 3\n"));
	assert_non_null(strstr(r.body, "\nberth_containers_running 5\n"));
	assert_non_null(strstr(r.body, "\nberth_heartbeat_age_seconds "));
	assert_non_null(strstr(r.body,
	    "\nberth_process_landlock_abi{process=\"netd\"} 4\n"));
	assert_non_null(strstr(r.body, "\nberth_host_cpu_percent 12.50\n"));
	assert_non_null(strstr(r.body,
	    "\nberth_host_memory_used_bytes 400000\n"));
	assert_non_null(strstr(r.body,
	    "\nberth_host_memory_total_bytes 1000000\n"));
	assert_non_null(strstr(r.body, "\nberth_host_disk_free_bytes"
	    "{use=\"state\",path=\"/var/lib/berth\"} 5000\n"));
	assert_non_null(strstr(r.body, "\nberth_host_load1 0.50\n"));
	/* A quote in a GPU name is escaped, not a broken line. */
	assert_non_null(strstr(r.body, "name=\"Fake \\\"GPU\\\"\"} 8\n"));
	result_clear(&r);
}

static void
test_metrics_before_status(void **state)
{
	struct result	 r;

	(void)state;
	get("GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.body, "berth_up 1\n"));
	assert_null(strstr(r.body, "berth_host_"));
	result_clear(&r);
}

/* --- everything else ---------------------------------------------------- */

static void
test_not_found_and_methods(void **state)
{
	static const struct {
		const char	*method, *path;
		int		 status;
	} cases[] = {
		{ "GET", "/", 404 },
		{ "GET", "/nope", 404 },
		{ "GET", "/health/", 404 },
		{ "GET", "/healthz", 404 },
		{ "POST", "/nope", 404 },
		{ "POST", "/health", 405 },
		{ "PUT", "/status", 405 },
		{ "DELETE", "/metrics", 405 },
		{ "PATCH", "/health", 405 },
		{ "GET", "/health?verbose=1", 503 },
	};
	struct result	 r;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		get(cases[i].method, cases[i].path, &r);
		if (r.status != cases[i].status)
			fail_msg("%s %s: %d, expected %d", cases[i].method,
			    cases[i].path, r.status, cases[i].status);
		result_clear(&r);
	}
}

static void
test_request_limits(void **state)
{
	struct http_request_spec spec;
	struct result		 r;
	char			 url[128], *big;
	const char		*headers[3];
	time_t			 deadline = time(NULL) + WAIT_SECONDS;

	(void)state;
	/*
	 * Two headers of nearly HTTPD_HEADERS_MAX each: each fits our
	 * client's limit, together they pass evhttp's: refused, not served.
	 */
	assert_non_null(big = malloc(HTTPD_HEADERS_MAX));
	memset(big, 'a', HTTPD_HEADERS_MAX - 100);
	memcpy(big, "X-Big: ", 7);
	big[HTTPD_HEADERS_MAX - 100] = '\0';
	headers[0] = big;
	headers[1] = big;
	headers[2] = NULL;
	memset(&r, 0, sizeof(r));
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%d/health",
	    h.port);
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.url = url;
	spec.headers = headers;
	spec.timeout_ms = 5000;
	spec.on_done = on_done;
	spec.arg = &r;
	assert_non_null(http_request(h.client, &spec));
	while (!r.done) {
		assert_true(time(NULL) < deadline);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
	assert_true(r.status != 200 && r.status != 503);
	result_clear(&r);
	free(big);
}

/* --- the status decoder ------------------------------------------------- */

static const char *
decode_edit(const char *from, const char *to)
{
	static struct netd_status	 st;
	char				*doc, *p;
	const char			*why;

	assert_non_null(p = strstr(status_json, from));
	assert_non_null(doc = malloc(strlen(status_json) + strlen(to) + 1));
	memcpy(doc, status_json, p - status_json);
	strcpy(doc + (p - status_json), to);
	strcat(doc, p + strlen(from));
	why = status_decode(doc, strlen(doc), &st);
	free(doc);
	return why;
}

static void
test_status_decoder(void **state)
{
	static const struct {
		const char	*from, *to, *why;
	} bad[] = {
		{ "\"node_id\": \"node-7\",", "", "node_id: missing" },
		{ "\"node_id\"", "\"node_id\": 1, \"extra\"", "unknown key" },
		{ "\"tasks_running\": 3", "\"tasks_running\": -1",
		    "out of range" },
		{ "\"tasks_running\": 3", "\"tasks_running\": 3.5",
		    "not a number" },
		{ "\"pid\": 100", "\"pid\": 0", "out of range" },
		{ "\"name\": \"parent\"", "\"name\": \"init\"",
		    "not a role" },
		{ "\"seccomp\": 2,", "\"seccomp\": 3,", "out of range" },
		{ "\"cpu_percent\": 12.5", "\"cpu_percent\": 101",
		    "out of range" },
		{ "\"kernel\": \"6.1.0\"", "\"kernel\": \"6\\u0001\"",
		    "printable" },
		/* jansson refuses an escaped NUL before we see it. */
		{ "\"kernel\": \"6.1.0\"", "\"kernel\": \"6\\u0000x\"",
		    "not JSON" },
		{ "\"use\": \"state\"", "\"use\": \"tmp\"", "neither" },
		{ "\"uuid\": \"GPU-1\",", "\"uuid\": \"GPU-1\", \"x\": 1,",
		    "unknown key" },
		{ "\"max_containers\": 50", "\"max_containers\": \"50\"",
		    "not a number" },
		{ "\"gpus\": [{", "\"gpus\": [7, {", "not in an object" },
		{ "\"updated_unix\": 1700000000",
		    "\"updated_unix\": 1, \"updated_unix\": 2", "not JSON" },
	};
	struct netd_status	 st;
	const char		*why;
	size_t			 i;

	(void)state;
	assert_null(status_decode(status_json, strlen(status_json), &st));
	assert_string_equal(st.node_id, "node-7");
	assert_int_equal(st.nprocesses, 2);
	assert_int_equal(st.metrics.ngpus, 1);
	assert_string_equal(st.metrics.gpus[0].name, "Fake \"GPU\"");
	assert_int_equal(st.capacity.max_concurrent_runs, 4);
	assert_int_equal(st.updated_unix, 1700000000);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = decode_edit(bad[i].from, bad[i].to);
		if (why == NULL || strstr(why, bad[i].why) == NULL)
			fail_msg("case %zu: got \"%s\", expected \"%s\"", i,
			    why != NULL ? why : "(accepted)", bad[i].why);
	}
	assert_non_null(status_decode("[]", 2, &st));
	assert_non_null(status_decode("{} x", 4, &st));
	assert_non_null(status_decode("", 0, &st));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_health_follows_status_age,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_health_follows_control_plane, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_metrics_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_metrics_before_status,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_found_and_methods,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_limits, setup,
		    teardown),
		cmocka_unit_test(test_status_decoder),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
