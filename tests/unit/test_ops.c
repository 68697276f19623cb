/*
 * test_ops.c: runner/ops.c in-process against a real dockerd (the private
 * one of tests/fixtures/dockerd.sh, DOCKER_HOST=unix://...), with a fake
 * parent: a socketpair whose far end this test reads, collecting every
 * RUN_RESULT (with its log pipe) and every AUDIT record.  No sandbox: this
 * is about what the runner asks the engine and what it answers.
 *
 * The tests run in order and share the engine: deploy, list, inspect,
 * lifecycle, logs (with a full pipe), events, redeploy, rename, wait,
 * stats, every policy refusal (an answer, an audit record, and nothing
 * created), and a container made behind berth's back that nothing here
 * may touch.
 * Without DOCKER_HOST only the engine-free tests run.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "berth.h"
#include "docker.h"
#include "imsg.h"
#include "ops.h"
#include "policy.h"
#include "runop.h"
#include "wire.h"

#define WAIT_SECONDS	90
#define RESULTS_MAX	512
#define AUDITS_MAX	1024
#define NODE		"ops-test"

struct harness {
	struct event_base	*base;
	struct docker		*docker;
	struct runner_ops	*ops;
	struct imsgev		 runner_side;	/* what ops.c writes to */
	struct imsgbuf		 parent_side;	/* what this test reads */
	struct event		*parent_ev;
	struct event		*tick;
	json_t			*results[RESULTS_MAX];
	int			 result_fds[RESULTS_MAX];
	struct wire_audit	 audits[AUDITS_MAX];
	size_t			 naudits;
	uint32_t		 next_peerid;
};

static struct harness	 h;
static char		 socket_path[256];
static char		 bind_prefix[] = "/tmp/berth-ops-XXXXXX";
static char		 bind_data[64];
static unsigned int	 web_port;
static char		 web_id[65];
static char		 foreign_id[65];

static const char *
docker_socket(void)
{
	const char	*host = getenv("DOCKER_HOST");

	if (host == NULL || strncmp(host, "unix://", 7) != 0)
		return NULL;
	return host + 7;
}

static void
need_docker(void)
{
	if (docker_socket() == NULL) {
		print_message("DOCKER_HOST=unix://... not set; skipped\n");
		skip();
	}
}

/* --- the fake parent ----------------------------------------------------- */

static void
collect(const struct imsg *imsg)
{
	char	 err[256];
	json_t	*res;

	if (imsg->hdr.type == IMSG_AUDIT) {
		assert_true(h.naudits < AUDITS_MAX);
		assert_null(wire_decode_audit(imsg, &h.audits[h.naudits]));
		h.naudits++;
		return;
	}
	assert_int_equal(imsg->hdr.type, IMSG_RUN_RESULT);
	assert_null(wire_decode_json(imsg, RUNRESULT_JSON_MAX, 1));
	if (runresult_check(imsg->data, imsg->hdr.len, err, sizeof(err)) ==
	    -1)
		fail_msg("bad result %.*s: %s", (int)imsg->hdr.len,
		    (const char *)imsg->data, err);
	assert_true(imsg->hdr.peerid < RESULTS_MAX);
	/* Exactly one result per request. */
	assert_null(h.results[imsg->hdr.peerid]);
	res = json_loadb(imsg->data, imsg->hdr.len, 0, NULL);
	assert_non_null(res);
	h.results[imsg->hdr.peerid] = res;
	h.result_fds[imsg->hdr.peerid] = imsg->fd;
}

static void
parent_read(evutil_socket_t fd, short events, void *arg)
{
	struct imsg	 imsg;
	ssize_t		 n;
	int		 got;

	(void)fd;
	(void)events;
	(void)arg;
	n = imsgbuf_read(&h.parent_side);
	assert_true(n > 0 || (n == -1 && errno == EAGAIN));
	while ((got = imsg_get(&h.parent_side, &imsg)) == 1) {
		collect(&imsg);
		imsg.fd = -1;		/* kept in result_fds */
		imsg_free(&imsg);
	}
	assert_int_equal(got, 0);
}

static void
runner_io(int fd, short events, void *arg)
{
	struct imsgev	*iev = arg;

	(void)fd;
	assert_int_equal(imsgev_io(iev, events), 1);
	imsgev_add(iev);
}

static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

static void
run_until_result(uint32_t peerid)
{
	time_t	 deadline = time(NULL) + WAIT_SECONDS;

	while (h.results[peerid] == NULL) {
		if (time(NULL) >= deadline)
			fail_msg("no result for request %u", peerid);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
}

static void
run_for_ms(int ms)
{
	struct timespec	 start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000 >= ms)
			break;
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
}

static void
policy_for_tests(struct policy *p)
{
	policy_defaults(p);
	(void)strlcpy(p->images[0], "berth-base:*", sizeof(p->images[0]));
	(void)strlcpy(p->images[1], "testbb:*", sizeof(p->images[1]));
	p->nimages = 2;
	(void)strlcpy(p->bind_prefixes[0], bind_prefix,
	    sizeof(p->bind_prefixes[0]));
	p->nbind_prefixes = 1;
	(void)strlcpy(p->cap_allow[0], "NET_BIND_SERVICE",
	    sizeof(p->cap_allow[0]));
	p->ncap_allow = 1;
	assert_null(policy_validate(p));
}

static int
setup(void **state)
{
	const char	*path = docker_socket();
	struct timeval	 tv = { 0, 100 * 1000 };
	struct policy	 policy;
	int		 sp[2], i;

	(void)state;
	(void)signal(SIGPIPE, SIG_IGN);
	json_object_seed(0);
	(void)strlcpy(socket_path, path != NULL ? path :
	    "/nonexistent/docker.sock", sizeof(socket_path));
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK ||
	    (h.base = event_base_new()) == NULL ||
	    (h.docker = docker_new(h.base, socket_path)) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sp) == -1)
		return -1;
	if (imsgev_init(&h.runner_side, h.base, sp[0], BERTH_IMSG_RUN_MAX, 1,
	    runner_io, &h.runner_side) == -1 ||
	    imsgbuf_init(&h.parent_side, sp[1], BERTH_IMSG_RUN_MAX,
	    BERTH_IMSG_QUEUE_MAX, 1) == -1)
		return -1;
	h.parent_ev = event_new(h.base, sp[1], EV_READ | EV_PERSIST,
	    parent_read, NULL);
	h.tick = event_new(h.base, -1, EV_PERSIST, on_tick, NULL);
	if (h.parent_ev == NULL || event_add(h.parent_ev, NULL) == -1 ||
	    h.tick == NULL || event_add(h.tick, &tv) == -1)
		return -1;
	for (i = 0; i < RESULTS_MAX; i++)
		h.result_fds[i] = -1;
	h.next_peerid = 1;
	/* The engine resolves bind sources on the host: a real directory. */
	if (mkdtemp(bind_prefix) == NULL || chmod(bind_prefix, 0755) == -1)
		return -1;
	(void)snprintf(bind_data, sizeof(bind_data), "%s/data", bind_prefix);
	if (mkdir(bind_data, 0755) == -1)
		return -1;
	if ((h.ops = ops_new(h.base, h.docker, &h.runner_side, NODE)) == NULL)
		return -1;
	policy_for_tests(&policy);
	ops_set_policy(h.ops, &policy);
	ops_set_engine(h.ops, 1);
	return 0;
}

static json_t	*api(const char *, const char *, const char *, int *);

static int
teardown(void **state)
{
	char	 path[128];
	int	 i;

	(void)state;
	/* A test that failed half way leaves the foreign container. */
	if (foreign_id[0] != '\0') {
		(void)snprintf(path, sizeof(path),
		    "/containers/%s?force=1&v=1", foreign_id);
		json_decref(api("DELETE", path, NULL, NULL));
	}
	ops_free(h.ops);
	docker_free(h.docker);
	event_free(h.parent_ev);
	event_free(h.tick);
	imsgev_clear(&h.runner_side);
	close(h.parent_side.fd);
	imsgbuf_clear(&h.parent_side);
	for (i = 0; i < RESULTS_MAX; i++) {
		json_decref(h.results[i]);
		if (h.result_fds[i] != -1)
			close(h.result_fds[i]);
	}
	event_base_free(h.base);
	(void)rmdir(bind_data);
	(void)rmdir(bind_prefix);
	curl_global_cleanup();
	return 0;
}

/* --- asking -------------------------------------------------------------- */

static uint32_t
send_request(const char *json)
{
	uint32_t	 peerid = h.next_peerid++;

	assert_true(peerid < RESULTS_MAX);
	ops_request(h.ops, peerid, json, strlen(json));
	return peerid;
}

/* One request, run to its result; fd (if not NULL) takes its pipe. */
static json_t *
ask(int *fd, const char *fmt, ...) __attribute__((__format__(printf, 2, 3)));

static json_t *
ask(int *fd, const char *fmt, ...)
{
	va_list		 ap;
	char		 json[8192];
	uint32_t	 peerid;

	va_start(ap, fmt);
	(void)vsnprintf(json, sizeof(json), fmt, ap);
	va_end(ap);
	peerid = send_request(json);
	run_until_result(peerid);
	if (fd != NULL) {
		*fd = h.result_fds[peerid];
		h.result_fds[peerid] = -1;
	}
	return h.results[peerid];
}

static void
expect_ok(const json_t *res)
{
	if (!json_is_true(json_object_get(res, "ok")))
		fail_msg("expected ok, got error: %s",
		    json_string_value(json_object_get(res, "error")));
}

static const char *
expect_error(const json_t *res, const char *needle)
{
	const char	*error;

	assert_true(json_is_false(json_object_get(res, "ok")));
	error = json_string_value(json_object_get(res, "error"));
	assert_non_null(error);
	if (strstr(error, needle) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", error, needle);
	return error;
}

/* The last audit record, which must be operation with a result prefix. */
static const struct wire_audit *
expect_audit_since(size_t from, const char *operation, const char *result)
{
	size_t	 i;

	for (i = from; i < h.naudits; i++)
		if (strcmp(h.audits[i].operation, operation) == 0 &&
		    strncmp(h.audits[i].result, result, strlen(result)) == 0)
			return &h.audits[i];
	fail_msg("no audit record %s \"%s...\" among %zu new", operation,
	    result, h.naudits - from);
	return NULL;
}

/* --- the engine directly ------------------------------------------------- */

struct api_result {
	int	 done;
	int	 status;
	char	*body;
};

static void
api_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct api_result	*r = arg;

	(void)req;
	(void)reason;
	r->done = 1;
	r->status = status;
	r->body = strndup(body, len);
}

static json_t *
api(const char *method, const char *path, const char *json, int *status)
{
	struct api_result	 r;
	time_t			 deadline = time(NULL) + WAIT_SECONDS;
	json_t			*j;

	memset(&r, 0, sizeof(r));
	assert_non_null(docker_call(h.docker, method, path, json, 60000,
	    api_done, &r));
	while (!r.done) {
		assert_true(time(NULL) < deadline);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
	if (status != NULL)
		*status = r.status;
	j = json_loads(r.body, 0, NULL);
	free(r.body);
	return j;
}

/*
 * Containers a refused deploy could have left: ours by label, or any
 * whose name holds "evil" (the app the refusals use), so that other users
 * of the engine do not disturb the count.
 */
static size_t
engine_containers(void)
{
	static const char *const paths[] = {
		"/containers/json?all=1&filters=%7B%22label%22%3A%5B%22"
		    "berth.node%3D" NODE "%22%5D%7D",
		"/containers/json?all=1&filters=%7B%22name%22%3A%5B%22"
		    "evil%22%5D%7D",
	};
	json_t	*list;
	size_t	 i, n = 0;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		list = api("GET", paths[i], NULL, NULL);
		assert_true(json_is_array(list));
		n += json_array_size(list);
		json_decref(list);
	}
	return n;
}

/* Status of GET /containers/ID/json; state gets State.Status. */
static int
engine_inspect(const char *id, char *state, size_t len)
{
	char	 path[128];
	int	 status;
	json_t	*c;

	(void)snprintf(path, sizeof(path), "/containers/%s/json", id);
	c = api("GET", path, NULL, &status);
	if (state != NULL)
		(void)strlcpy(state, status == 200 ? json_string_value(
		    json_object_get(json_object_get(c, "State"), "Status")) :
		    "", len);
	json_decref(c);
	return status;
}

static unsigned int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 s;

	assert_int_not_equal(s = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sin, &len), 0);
	close(s);
	return ntohs(sin.sin_port);
}

static int
port_answers(unsigned int port)
{
	struct sockaddr_in	 sin;
	int			 s, rc;

	assert_int_not_equal(s = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(s, (struct sockaddr *)&sin, sizeof(sin));
	close(s);
	return rc == 0;
}

/* The apps entry of list, or NULL. */
static json_t *
listed(json_t *list, const char *app)
{
	json_t	*a;
	size_t	 i;

	expect_ok(list);
	json_array_foreach(json_object_get(list, "apps"), i, a)
		if (strcmp(json_string_value(json_object_get(a, "app")),
		    app) == 0)
			return a;
	return NULL;
}

static size_t
listed_count(json_t *list)
{
	expect_ok(list);
	return json_array_size(json_object_get(list, "apps"));
}

/* Read a log pipe to EOF while the loop runs; the text, malloc'd. */
static char *
read_pipe(int fd, size_t *total, int slowly)
{
	char	*text = NULL, buf[4096];
	size_t	 len = 0;
	ssize_t	 n;
	time_t	 deadline = time(NULL) + WAIT_SECONDS;

	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (;;) {
		assert_true(time(NULL) < deadline);
		n = read(fd, buf, slowly ? 512 : sizeof(buf));
		if (n == 0)
			break;
		if (n == -1) {
			assert_int_equal(errno, EAGAIN);
			assert_int_not_equal(event_base_loop(h.base,
			    EVLOOP_ONCE | EVLOOP_NONBLOCK), -1);
			if (slowly)
				usleep(1000);
			else
				usleep(100);
			continue;
		}
		assert_non_null(text = realloc(text, len + n + 1));
		memcpy(text + len, buf, n);
		len += n;
		text[len] = '\0';
	}
	close(fd);
	*total = len;
	return text != NULL ? text : strdup("");
}

/* --- without the engine -------------------------------------------------- */

#define LIST_JSON	"{\"op\":\"list\"}"
#define STOP_JSON	"{\"op\":\"stop\",\"app\":\"x\"}"

static void
test_no_policy_no_engine(void **state)
{
	struct runner_ops	*ops;
	struct policy		 policy;
	size_t			 audits = h.naudits;
	uint32_t		 peerid;

	(void)state;
	ops = ops_new(h.base, h.docker, &h.runner_side, NODE);
	assert_non_null(ops);
	peerid = h.next_peerid++;
	ops_request(ops, peerid, LIST_JSON, strlen(LIST_JSON));
	run_until_result(peerid);
	expect_error(h.results[peerid], "no policy yet");
	expect_audit_since(audits, "request", "refused: no policy yet");

	policy_for_tests(&policy);
	ops_set_policy(ops, &policy);
	/* Held while the first ping is out, failed once it fails. */
	peerid = h.next_peerid++;
	ops_request(ops, peerid, STOP_JSON, strlen(STOP_JSON));
	run_for_ms(50);
	assert_null(h.results[peerid]);
	assert_int_equal(ops_inflight(ops), 1);
	ops_set_engine(ops, 0);
	run_until_result(peerid);
	expect_error(h.results[peerid], "docker engine not reachable");
	expect_audit_since(audits, "container.stop", "error: docker engine");
	assert_int_equal(ops_inflight(ops), 0);
	ops_free(ops);
}

static void
test_decode_refused(void **state)
{
	size_t		 audits = h.naudits;
	json_t		*res;

	(void)state;
	res = ask(NULL, "{\"op\":\"deploy\",\"app\":\"web\",\"spec\":"
	    "{\"image\":\"berth-base:latest\",\"Privileged\":true}}");
	expect_error(res, "unknown key \"Privileged\"");
	expect_audit_since(audits, "container.create", "refused: spec: "
	    "unknown key");
	res = ask(NULL, "not json");
	expect_error(res, "malformed JSON");
	expect_audit_since(audits, "request", "refused: request:");
}

/* --- a fake engine: the paths a real one will not take ---------------- */

/*
 * An HTTP server on a unix socket in this process, answering from a
 * table, so that the test can make the engine misbehave: apply less than
 * was asked, or fail to start the new container of a deploy.
 */
struct fake_route {
	const char	*request;	/* "METHOD /v1.41/path", no query */
	int		 status;
	const char	*body;
};

#define FAKE_LOG_MAX	32
#define NEW_ID	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define OLD_ID	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FAKE_LABELS \
	"{\"berth.node\":\"" NODE "\",\"berth.app\":\"fake\"," \
	"\"berth.managed\":\"1\"}"
/* What the engine makes of the body ops.c sends for a bare spec. */
#define FAKE_HOSTCONFIG(privileged) \
	"{\"Privileged\":" privileged ",\"PublishAllPorts\":false," \
	"\"ReadonlyRootfs\":false,\"Init\":true,\"Memory\":268435456," \
	"\"MemorySwap\":268435456,\"NanoCpus\":1000000000," \
	"\"PidsLimit\":256,\"NetworkMode\":\"bridge\",\"PidMode\":\"\"," \
	"\"IpcMode\":\"private\",\"CapAdd\":null,\"CapDrop\":[\"ALL\"]," \
	"\"SecurityOpt\":[\"no-new-privileges\"],\"PortBindings\":{}," \
	"\"Mounts\":null,\"LogConfig\":{\"Type\":\"json-file\"}}"
#define FAKE_INSPECT(privileged) \
	"{\"Id\":\"" NEW_ID "\",\"Config\":{\"Labels\":" FAKE_LABELS "}," \
	"\"HostConfig\":" FAKE_HOSTCONFIG(privileged) "}"

static struct {
	struct evhttp		*http;
	struct docker		*docker;
	int			 fd;
	char			 path[64];
	const struct fake_route	*routes;
	size_t			 nroutes;
	char			 log[FAKE_LOG_MAX][160];
	size_t			 nlog;
} fake;

static void
fake_answer(struct evhttp_request *req, void *arg)
{
	static const char *const methods[] = {
		[EVHTTP_REQ_GET] = "GET", [EVHTTP_REQ_POST] = "POST",
		[EVHTTP_REQ_DELETE] = "DELETE",
	};
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct evbuffer		*out;
	char			 line[160];
	size_t			 i;

	(void)arg;
	(void)snprintf(line, sizeof(line), "%s %.*s",
	    (size_t)cmd < sizeof(methods) / sizeof(methods[0]) &&
	    methods[cmd] != NULL ? methods[cmd] : "?",
	    (int)strcspn(evhttp_request_get_uri(req), "?"),
	    evhttp_request_get_uri(req));
	assert_true(fake.nlog < FAKE_LOG_MAX);
	(void)strlcpy(fake.log[fake.nlog++], line, sizeof(fake.log[0]));
	for (i = 0; i < fake.nroutes; i++)
		if (strcmp(fake.routes[i].request, line) == 0)
			break;
	out = evbuffer_new();
	if (i == fake.nroutes) {
		evbuffer_add_printf(out, "{\"message\":\"page not found\"}");
		evhttp_send_reply(req, 404, "Not Found", out);
	} else {
		evbuffer_add_printf(out, "%s", fake.routes[i].body);
		evhttp_send_reply(req, fake.routes[i].status, "X", out);
	}
	evbuffer_free(out);
}

static void
fake_start(const struct fake_route *routes, size_t nroutes)
{
	struct sockaddr_un	 sun;

	memset(&fake, 0, sizeof(fake));
	fake.routes = routes;
	fake.nroutes = nroutes;
	(void)snprintf(fake.path, sizeof(fake.path), "%s/fake.sock",
	    bind_prefix);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, fake.path, sizeof(sun.sun_path));
	assert_int_not_equal(fake.fd = socket(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0), -1);
	assert_int_equal(bind(fake.fd, (struct sockaddr *)&sun,
	    sizeof(sun)), 0);
	assert_int_equal(listen(fake.fd, 8), 0);
	assert_non_null(fake.http = evhttp_new(h.base));
	evhttp_set_gencb(fake.http, fake_answer, NULL);
	assert_int_equal(evhttp_accept_socket(fake.http, fake.fd), 0);
	assert_non_null(fake.docker = docker_new(h.base, fake.path));
}

static void
fake_stop(void)
{
	docker_free(fake.docker);
	evhttp_free(fake.http);
	(void)unlink(fake.path);
}

/* Deploy app "fake" through an ops context on the fake engine. */
static json_t *
fake_deploy(void)
{
	struct runner_ops	*ops;
	struct policy		 policy;
	uint32_t		 peerid = h.next_peerid++;
	const char		*json = "{\"op\":\"deploy\",\"app\":\"fake\","
	    "\"spec\":{\"image\":\"berth-base:latest\"}}";

	assert_non_null(ops = ops_new(h.base, fake.docker, &h.runner_side,
	    NODE));
	policy_for_tests(&policy);
	ops_set_policy(ops, &policy);
	ops_set_engine(ops, 1);
	ops_request(ops, peerid, json, strlen(json));
	run_until_result(peerid);
	assert_int_equal(ops_inflight(ops), 0);
	ops_free(ops);
	return h.results[peerid];
}

static void
expect_fake_log(const char *const *want, size_t n)
{
	size_t	 i;

	for (i = 0; i < n && i < fake.nlog; i++)
		if (strcmp(fake.log[i], want[i]) != 0)
			break;
	if (i != n || fake.nlog != n) {
		for (i = 0; i < fake.nlog; i++)
			print_message("engine saw: %s\n", fake.log[i]);
		fail_msg("the engine saw another sequence");
	}
}

/* The engine applied less than was asked: the container goes again. */
static void
test_verify_mismatch(void **state)
{
	static const struct fake_route routes[] = {
		{ "GET /v1.41/containers/json", 200, "[]" },
		{ "POST /v1.41/containers/create", 201,
		    "{\"Id\":\"" NEW_ID "\",\"Warnings\":[]}" },
		{ "GET /v1.41/containers/" NEW_ID "/json", 200,
		    FAKE_INSPECT("true") },
		{ "DELETE /v1.41/containers/" NEW_ID, 204, "" },
	};
	static const char *const want[] = {
		"GET /v1.41/containers/json",
		"POST /v1.41/containers/create",
		("GET /v1.41/containers/" NEW_ID "/json"),
		("DELETE /v1.41/containers/" NEW_ID),
	};
	size_t	 audits = h.naudits;

	(void)state;
	fake_start(routes, sizeof(routes) / sizeof(routes[0]));
	expect_error(fake_deploy(), "the engine did not create what was "
	    "asked: HostConfig.Privileged is not what was asked");
	expect_fake_log(want, sizeof(want) / sizeof(want[0]));
	expect_audit_since(audits, "container.create", "ok");
	expect_audit_since(audits, "container.create", "error: verify: "
	    "HostConfig.Privileged");
	expect_audit_since(audits, "container.remove", "ok");
	fake_stop();
}

/* The new container does not start: it goes, the old one runs again. */
static void
test_start_rollback(void **state)
{
	static const struct fake_route routes[] = {
		{ "GET /v1.41/containers/json", 200,
		    "[{\"Id\":\"" OLD_ID "\",\"Names\":[\"/paas-app-fake\"],"
		    "\"State\":\"running\",\"Labels\":" FAKE_LABELS "}]" },
		{ "POST /v1.41/containers/create", 201,
		    "{\"Id\":\"" NEW_ID "\",\"Warnings\":[]}" },
		{ "GET /v1.41/containers/" NEW_ID "/json", 200,
		    FAKE_INSPECT("false") },
		{ "POST /v1.41/containers/" OLD_ID "/stop", 204, "" },
		{ "POST /v1.41/containers/" NEW_ID "/start", 500,
		    "{\"message\":\"port is already allocated\"}" },
		{ "DELETE /v1.41/containers/" NEW_ID, 204, "" },
		{ "POST /v1.41/containers/" OLD_ID "/start", 204, "" },
	};
	static const char *const want[] = {
		"GET /v1.41/containers/json",
		"POST /v1.41/containers/create",
		("GET /v1.41/containers/" NEW_ID "/json"),
		("POST /v1.41/containers/" OLD_ID "/stop"),
		("POST /v1.41/containers/" NEW_ID "/start"),
		("DELETE /v1.41/containers/" NEW_ID),
		("POST /v1.41/containers/" OLD_ID "/start"),
	};
	size_t	 audits = h.naudits;

	(void)state;
	fake_start(routes, sizeof(routes) / sizeof(routes[0]));
	expect_error(fake_deploy(), "start: port is already allocated "
	    "(HTTP 500)");
	expect_fake_log(want, sizeof(want) / sizeof(want[0]));
	expect_audit_since(audits, "container.stop", "ok");
	expect_audit_since(audits, "container.start", "error: port is "
	    "already allocated");
	expect_audit_since(audits, "container.remove", "ok");
	assert_string_equal(h.audits[h.naudits - 1].operation,
	    "container.start");
	assert_string_equal(h.audits[h.naudits - 1].object, OLD_ID);
	assert_string_equal(h.audits[h.naudits - 1].result, "ok");
	fake_stop();
}

/* --- against the engine -------------------------------------------------- */

static void
remove_leftovers(void)
{
	json_t	*list, *c;
	char	 path[256];
	size_t	 i;

	list = api("GET", "/containers/json?all=1&filters=%7B%22label%22%3A%5B"
	    "%22berth.node%3D" NODE "%22%5D%7D", NULL, NULL);
	json_array_foreach(list, i, c) {
		(void)snprintf(path, sizeof(path), "/containers/%s?force=1",
		    json_string_value(json_object_get(c, "Id")));
		json_decref(api("DELETE", path, NULL, NULL));
	}
	json_decref(list);
}

static void
test_foreign_and_deploy(void **state)
{
	json_t		*res, *c;
	size_t		 audits = h.naudits;
	const char	*name;
	char		 path[128];
	int		 status;

	(void)state;
	need_docker();
	remove_leftovers();
	/* A container someone made without berth's labels. */
	(void)snprintf(path, sizeof(path), "/containers/create?name=ops-"
	    "foreign-%ld", (long)getpid());
	c = api("POST", path, "{\"Image\":\"berth-base:latest\",\"Cmd\":"
	    "[\"sleep\",\"1000\"],\"HostConfig\":{\"Init\":true}}", &status);
	assert_int_equal(status, 201);
	(void)strlcpy(foreign_id, json_string_value(json_object_get(c, "Id")),
	    sizeof(foreign_id));
	json_decref(c);
	(void)snprintf(path, sizeof(path), "/containers/%s/start", foreign_id);
	json_decref(api("POST", path, NULL, &status));
	assert_int_equal(status, 204);

	web_port = free_port();
	res = ask(NULL, "{\"op\":\"deploy\",\"task\":\"t1\",\"app\":\"web\","
	    "\"spec\":{\"image\":\"berth-base:latest\",\"cmd\":[\"httpd\","
	    "\"-f\",\"-p\",\"8080\"],\"ports\":[{\"container\":8080,"
	    "\"host\":%u,\"host_ip\":\"127.0.0.1\"}]}}", web_port);
	expect_ok(res);
	name = json_string_value(json_object_get(res, "name"));
	assert_string_equal(name, "paas-app-web");
	(void)strlcpy(web_id, json_string_value(json_object_get(res, "id")),
	    sizeof(web_id));
	assert_int_equal(strlen(web_id), 64);
	expect_audit_since(audits, "container.create", "ok");
	expect_audit_since(audits, "container.start", "ok");
	expect_audit_since(audits, "container.rename", "ok");
	assert_string_equal(expect_audit_since(audits, "container.create",
	    "ok")->task, "t1");
	assert_int_equal(ops_inflight(h.ops), 0);
}

static void
test_effective_config(void **state)
{
	json_t	*c, *hc;
	char	 path[128];
	int	 status, i;

	(void)state;
	need_docker();
	(void)snprintf(path, sizeof(path), "/containers/%s/json", web_id);
	c = api("GET", path, NULL, &status);
	assert_int_equal(status, 200);
	hc = json_object_get(c, "HostConfig");
	assert_true(json_is_false(json_object_get(hc, "Privileged")));
	assert_int_equal(json_integer_value(json_object_get(hc, "Memory")),
	    256 * 1024 * 1024);
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    hc, "CapDrop"), 0)), "ALL");
	assert_string_equal(json_string_value(json_array_get(json_object_get(
	    hc, "SecurityOpt"), 0)), "no-new-privileges");
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(hc, "PortBindings"), "8080/tcp"),
	    0), "HostIp")), "127.0.0.1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    json_object_get(c, "Config"), "Labels"), "berth.node")), NODE);
	/* Never sent, so the engine's defaults stay (GUIDE §7). */
	assert_true(json_array_size(json_object_get(hc, "MaskedPaths")) > 0);
	json_decref(c);
	/* The server inside answers on the published loopback port. */
	for (i = 0; i < 50 && !port_answers(web_port); i++)
		run_for_ms(100);
	assert_true(port_answers(web_port));
}

static void
test_list_inspect(void **state)
{
	json_t	*res, *app;

	(void)state;
	need_docker();
	res = ask(NULL, "{\"op\":\"list\"}");
	app = listed(res, "web");
	assert_non_null(app);
	assert_string_equal(json_string_value(json_object_get(app, "state")),
	    "running");
	assert_string_equal(json_string_value(json_object_get(app, "id")),
	    web_id);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(app, "ports"), 0), "host_ip")), "127.0.0.1");
	/* Only ours: the foreign container is not among them. */
	assert_int_equal(listed_count(res), 1);

	res = ask(NULL, "{\"op\":\"inspect\",\"app\":\"web\"}");
	expect_ok(res);
	assert_true(json_is_true(json_object_get(res, "running")));
	assert_string_equal(json_string_value(json_object_get(res, "name")),
	    "paas-app-web");
	assert_string_equal(json_string_value(json_object_get(res, "image")),
	    "berth-base:latest");
}

/* No operation reaches the container berth did not make. */
static void
test_foreign_untouched(void **state)
{
	static const char *const ops[] = {
		"stop", "start", "restart", "remove", "inspect", "logs",
		"wait", "stats"
	};
	char	 name[64], st[32];
	size_t	 i, audits = h.naudits;
	json_t	*res;

	(void)state;
	need_docker();
	(void)snprintf(name, sizeof(name), "ops-foreign-%ld", (long)getpid());
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		res = ask(NULL, "{\"op\":\"%s\",\"app\":\"%s\"}", ops[i], name);
		expect_error(res, "no container owned by this node");
	}
	expect_audit_since(audits, "container.stop", "refused: app ops-");
	res = ask(NULL, "{\"op\":\"rename\",\"app\":\"%s\",\"new_name\":\"x\"}",
	    name);
	expect_error(res, "no container owned by this node");
	res = ask(NULL, "{\"op\":\"image-prune\"}");
	expect_ok(res);
	res = ask(NULL, "{\"op\":\"image-remove\",\"image_ref\":"
	    "\"berth-base:latest\"}");
	expect_error(res, "not owned by this node");
	expect_audit_since(audits, "image.remove", "refused:");
	assert_int_equal(engine_inspect(foreign_id, st, sizeof(st)), 200);
	assert_string_equal(st, "running");
}

static void
test_lifecycle(void **state)
{
	json_t	*res;
	char	 st[32];
	size_t	 audits = h.naudits;

	(void)state;
	need_docker();
	res = ask(NULL, "{\"op\":\"stop\",\"app\":\"web\",\"stop_timeout\":2}");
	expect_ok(res);
	assert_string_equal(json_string_value(json_object_get(res, "id")),
	    web_id);
	assert_int_equal(engine_inspect(web_id, st, sizeof(st)), 200);
	assert_string_equal(st, "exited");
	expect_audit_since(audits, "container.stop", "ok");
	res = ask(NULL, "{\"op\":\"start\",\"app\":\"web\"}");
	expect_ok(res);
	assert_int_equal(engine_inspect(web_id, st, sizeof(st)), 200);
	assert_string_equal(st, "running");
	/* Starting what runs is no error (304). */
	expect_ok(ask(NULL, "{\"op\":\"start\",\"app\":\"web\"}"));
	res = ask(NULL, "{\"op\":\"restart\",\"app\":\"web\","
	    "\"stop_timeout\":1}");
	expect_ok(res);
	expect_audit_since(audits, "container.restart", "ok");
	assert_int_equal(engine_inspect(web_id, st, sizeof(st)), 200);
	assert_string_equal(st, "running");
}

static void
test_logs(void **state)
{
	json_t	*res;
	char	*text;
	size_t	 len;
	int	 fd, i;

	(void)state;
	need_docker();
	expect_ok(ask(NULL, "{\"op\":\"deploy\",\"app\":\"echoer\",\"spec\":"
	    "{\"image\":\"berth-base:latest\",\"cmd\":[\"sh\",\"-c\","
	    "\"echo line-one; echo line-two >&2; exec sleep 1000\"]}}"));
	for (i = 0; i < 50; i++) {
		res = ask(&fd, "{\"op\":\"logs\",\"app\":\"echoer\"}");
		expect_ok(res);
		assert_true(json_is_true(json_object_get(res, "stream")));
		assert_int_not_equal(fd, -1);
		text = read_pipe(fd, &len, 0);
		if (strstr(text, "line-two") != NULL)
			break;
		free(text);
		run_for_ms(100);
	}
	assert_true(i < 50);
	assert_non_null(strstr(text, "line-one\n"));
	assert_non_null(strstr(text, "line-two\n"));
	free(text);
	res = ask(&fd, "{\"op\":\"logs\",\"app\":\"echoer\",\"tail\":1}");
	expect_ok(res);
	text = read_pipe(fd, &len, 0);
	assert_int_equal(strchr(text, '\n') - text + 1, (long)len);
	free(text);
	assert_int_equal(ops_inflight(h.ops), 0);
}

/* A megabyte of log through a 64 KiB pipe read slowly: pause, resume. */
static void
test_logs_backpressure(void **state)
{
	json_t	*res;
	char	*text, *p;
	size_t	 len, lines;
	int	 fd, i;

	(void)state;
	need_docker();
	expect_ok(ask(NULL, "{\"op\":\"deploy\",\"app\":\"chatty\",\"spec\":"
	    "{\"image\":\"berth-base:latest\",\"cmd\":[\"sh\",\"-c\","
	    "\"i=0; while [ $i -lt 20000 ]; do echo line-$i-xxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo done-end; exec "
	    "sleep 1000\"]}}"));
	for (i = 0; i < 100; i++) {
		res = ask(&fd, "{\"op\":\"logs\",\"app\":\"chatty\"}");
		expect_ok(res);
		text = read_pipe(fd, &len, 1);
		if (strstr(text, "done-end") != NULL)
			break;
		free(text);
		run_for_ms(200);
	}
	assert_true(i < 100);
	for (lines = 0, p = text; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, 20001);
	assert_true(len > 1000000);
	free(text);
	assert_int_equal(ops_inflight(h.ops), 0);

	/* The reader goes away from a follow stream: the runner lets go. */
	res = ask(&fd, "{\"op\":\"logs\",\"app\":\"chatty\",\"follow\":true,"
	    "\"tail\":10}");
	expect_ok(res);
	run_for_ms(300);
	assert_int_equal(ops_inflight(h.ops), 1);
	close(fd);
	for (i = 0; i < 50 && ops_inflight(h.ops) != 0; i++)
		run_for_ms(100);
	assert_int_equal(ops_inflight(h.ops), 0);
}

/* Each line of an event stream: exactly the runner's six keys. */
static int
events_has(const char *text, const char *id, const char *app,
    const char *action)
{
	const char	*p, *nl;
	json_t		*ev;
	int		 found = 0;

	for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		ev = json_loadb(p, nl - p, JSON_REJECT_DUPLICATES, NULL);
		if (ev == NULL)
			fail_msg("event line not JSON: %.*s", (int)(nl - p), p);
		assert_int_equal(json_object_size(ev), 6);
		assert_true(json_is_integer(json_object_get(ev, "time")));
		assert_non_null(json_object_get(ev, "name"));
		if (strcmp(json_string_value(json_object_get(ev, "id")),
		    id) == 0 && (app == NULL || strcmp(json_string_value(
		    json_object_get(ev, "app")), app) == 0) &&
		    (action == NULL || strcmp(json_string_value(
		    json_object_get(ev, "action")), action) == 0))
			found = 1;
		json_decref(ev);
	}
	return found;
}

/* The engine directly: a container without berth's labels. */
static void
foreign_container(const char *name, char *id, size_t idlen)
{
	char	 path[128];
	json_t	*c;
	int	 status;

	(void)snprintf(path, sizeof(path), "/containers/create?name=%s", name);
	c = api("POST", path, "{\"Image\":\"berth-base:latest\",\"Cmd\":"
	    "[\"sleep\",\"1000\"],\"HostConfig\":{\"Init\":true}}", &status);
	assert_int_equal(status, 201);
	(void)strlcpy(id, json_string_value(json_object_get(c, "Id")), idlen);
	json_decref(c);
	(void)snprintf(path, sizeof(path), "/containers/%s/start", id);
	json_decref(api("POST", path, NULL, &status));
	assert_int_equal(status, 204);
	(void)snprintf(path, sizeof(path), "/containers/%s/stop?t=1", id);
	json_decref(api("POST", path, NULL, &status));
	assert_int_equal(status, 204);
}

/*
 * events: what happened to owned containers and nothing of the one made
 * behind berth's back; then a follow stream sees a stop that comes after
 * the request, and its reader going away ends it.  A read: no audit.
 */
static void
test_events(void **state)
{
	json_t	*res;
	char	 id[65], foreign[65], name[64], path[128], buf[4096];
	char	*text = NULL;
	size_t	 len = 0, audits;
	ssize_t	 n;
	time_t	 start = time(NULL), deadline;
	int	 fd;

	(void)state;
	need_docker();
	res = ask(NULL, "{\"op\":\"events\",\"app\":\"web\"}");
	expect_error(res, "app");
	res = ask(NULL, "{\"op\":\"deploy\",\"app\":\"evt\",\"spec\":"
	    "{\"image\":\"berth-base:latest\",\"cmd\":[\"sleep\",\"1000\"]}}");
	expect_ok(res);
	(void)strlcpy(id, json_string_value(json_object_get(res, "id")),
	    sizeof(id));
	(void)snprintf(name, sizeof(name), "ops-evforeign-%ld", (long)getpid());
	foreign_container(name, foreign, sizeof(foreign));

	audits = h.naudits;
	res = ask(&fd, "{\"op\":\"events\",\"since\":%lld}", (long long)start);
	expect_ok(res);
	assert_true(json_is_true(json_object_get(res, "stream")));
	assert_int_not_equal(fd, -1);
	text = read_pipe(fd, &len, 0);
	assert_true(events_has(text, id, "evt", "create"));
	assert_true(events_has(text, id, "evt", "start"));
	assert_false(events_has(text, foreign, NULL, NULL));
	free(text);
	assert_int_equal(h.naudits, audits);
	assert_int_equal(ops_inflight(h.ops), 0);

	/* Follow: a stop after the request arrives while the stream is open. */
	res = ask(&fd, "{\"op\":\"events\",\"follow\":true,\"since\":%lld}",
	    (long long)time(NULL));
	expect_ok(res);
	run_for_ms(300);
	assert_int_equal(ops_inflight(h.ops), 1);
	expect_ok(ask(NULL, "{\"op\":\"stop\",\"app\":\"evt\","
	    "\"stop_timeout\":1}"));
	(void)snprintf(path, sizeof(path), "/containers/%s/start", foreign);
	json_decref(api("POST", path, NULL, NULL));
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	text = strdup("");
	len = 0;
	for (deadline = time(NULL) + WAIT_SECONDS;
	    !events_has(text, id, "evt", "stop");) {
		assert_true(time(NULL) < deadline);
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			assert_int_equal(errno, EAGAIN);
			run_for_ms(20);
			continue;
		}
		assert_true(n > 0);
		assert_non_null(text = realloc(text, len + n + 1));
		memcpy(text + len, buf, n);
		len += n;
		text[len] = '\0';
	}
	assert_false(events_has(text, foreign, NULL, NULL));
	free(text);
	/* The reader goes away: the runner cancels and lets go. */
	close(fd);
	for (deadline = time(NULL) + 10; ops_inflight(h.ops) != 0 &&
	    time(NULL) < deadline;)
		run_for_ms(100);
	assert_int_equal(ops_inflight(h.ops), 0);

	(void)snprintf(path, sizeof(path), "/containers/%s?force=1", foreign);
	json_decref(api("DELETE", path, NULL, NULL));
	expect_ok(ask(NULL, "{\"op\":\"remove\",\"app\":\"evt\"}"));
}

static void
test_redeploy_rename(void **state)
{
	json_t		*res, *list;
	char		 old_id[65];
	const char	*new_id;
	int		 i;

	(void)state;
	need_docker();
	(void)strlcpy(old_id, web_id, sizeof(old_id));
	res = ask(NULL, "{\"op\":\"deploy\",\"task\":\"t2\",\"app\":\"web\","
	    "\"spec\":{\"image\":\"berth-base:latest\",\"env\":[\"VERSION=2\"],"
	    "\"cmd\":[\"httpd\",\"-f\",\"-p\",\"8080\"],\"ports\":[{"
	    "\"container\":8080,\"host\":%u}]}}", web_port);
	expect_ok(res);
	new_id = json_string_value(json_object_get(res, "id"));
	assert_string_not_equal(new_id, old_id);
	(void)strlcpy(web_id, new_id, sizeof(web_id));
	assert_int_equal(engine_inspect(old_id, NULL, 0), 404);
	list = ask(NULL, "{\"op\":\"list\"}");
	assert_string_equal(json_string_value(json_object_get(listed(list,
	    "web"), "id")), web_id);
	/* web, echoer, chatty */
	assert_int_equal(listed_count(list), 3);
	for (i = 0; i < 50 && !port_answers(web_port); i++)
		run_for_ms(100);
	assert_true(port_answers(web_port));

	/* Renaming the container renames the app: labels cannot change. */
	res = ask(NULL, "{\"op\":\"rename\",\"app\":\"web\",\"new_name\":"
	    "\"web2\"}");
	expect_ok(res);
	assert_string_equal(json_string_value(json_object_get(res, "name")),
	    "paas-app-web2");
	list = ask(NULL, "{\"op\":\"list\"}");
	assert_null(listed(list, "web"));
	assert_string_equal(json_string_value(json_object_get(listed(list,
	    "web2"), "name")), "paas-app-web2");
	res = ask(NULL, "{\"op\":\"inspect\",\"app\":\"web2\"}");
	expect_ok(res);
	assert_string_equal(json_string_value(json_object_get(res, "id")),
	    web_id);
	expect_error(ask(NULL, "{\"op\":\"inspect\",\"app\":\"web\"}"),
	    "no container owned");
	expect_error(ask(NULL, "{\"op\":\"rename\",\"app\":\"web2\","
	    "\"new_name\":\"echoer\"}"), "app echoer exists already");
	expect_ok(ask(NULL, "{\"op\":\"rename\",\"app\":\"web2\","
	    "\"new_name\":\"web\"}"));
	list = ask(NULL, "{\"op\":\"list\"}");
	assert_string_equal(json_string_value(json_object_get(listed(list,
	    "web"), "name")), "paas-app-web");
}

/* Two mutations of one app, sent together, run one after the other. */
static void
test_concurrent(void **state)
{
	uint32_t	 a, b, c;

	(void)state;
	need_docker();
	a = send_request("{\"op\":\"stop\",\"app\":\"echoer\","
	    "\"stop_timeout\":1}");
	b = send_request("{\"op\":\"start\",\"app\":\"echoer\"}");
	c = send_request("{\"op\":\"list\"}");
	run_until_result(a);
	run_until_result(b);
	run_until_result(c);
	expect_ok(h.results[a]);
	expect_ok(h.results[b]);
	expect_ok(h.results[c]);
	expect_ok(ask(NULL, "{\"op\":\"inspect\",\"app\":\"echoer\"}"));
	assert_true(json_is_true(json_object_get(h.results[h.next_peerid - 1],
	    "running")));
}

static void
test_wait_stats(void **state)
{
	json_t	*res;

	(void)state;
	need_docker();
	expect_ok(ask(NULL, "{\"op\":\"deploy\",\"app\":\"short\",\"spec\":"
	    "{\"image\":\"testbb:latest\",\"cmd\":[\"sh\",\"-c\","
	    "\"sleep 1; exit 3\"]}}"));
	res = ask(NULL, "{\"op\":\"wait\",\"app\":\"short\"}");
	expect_ok(res);
	assert_int_equal(json_integer_value(json_object_get(res,
	    "exit_code")), 3);
	res = ask(NULL, "{\"op\":\"stats\",\"app\":\"web\"}");
	expect_ok(res);
	assert_int_equal(json_integer_value(json_object_get(res,
	    "memory_limit")), 256 * 1024 * 1024);
	assert_true(json_integer_value(json_object_get(res, "pids")) >= 1);
	assert_true(json_is_number(json_object_get(res, "cpu_percent")));
}

struct refusal {
	const char	*what;
	const char	*spec;		/* inside "spec":{...} after image;
					   '@' stands for the bind prefix */
	const char	*image;
	const char	*field;
};

static const struct refusal refusals[] = {
	{ "privileged", ",\"privileged\":true", NULL, "spec.privileged" },
	{ "host network", ",\"network_mode\":\"host\"", NULL,
	    "spec.network_mode" },
	{ "host pid", ",\"pid_mode\":\"host\"", NULL, "spec.pid_mode" },
	{ "host ipc", ",\"ipc_mode\":\"host\"", NULL, "spec.ipc_mode" },
	{ "a device", ",\"devices\":[\"/dev/sda\"]", NULL, "spec.devices" },
	{ "SYS_ADMIN", ",\"cap_add\":[\"SYS_ADMIN\"]", NULL,
	    "spec.cap_add[0]: SYS_ADMIN is not in cap-allow" },
	{ "ALL caps", ",\"cap_add\":[\"ALL\"]", NULL, "spec.cap_add[0]" },
	{ "bind outside", ",\"volumes\":[{\"source\":\"/etc\",\"target\":"
	    "\"/x\",\"bind\":true}]", NULL, "spec.volumes[0].source: /etc is "
	    "not under an allowed bind prefix" },
	{ "bind prefix sibling", ",\"volumes\":[{\"source\":\"@x\","
	    "\"target\":\"/x\",\"bind\":true}]", NULL,
	    "spec.volumes[0].source" },
	{ "image outside", "", "busybox:latest",
	    "spec.image: \"busybox:latest\" matches no allowed image pattern" },
	{ "memory", ",\"memory\":4294967296", NULL,
	    "spec.memory: 4294967296 exceeds the maximum 2147483648" },
	{ "0.0.0.0", ",\"ports\":[{\"container\":80,\"host_ip\":"
	    "\"0.0.0.0\"}]", NULL, "spec.ports[0].host_ip" },
	{ "restart always", ",\"restart\":\"always\"", NULL, "spec.restart" },
};

static void
with_prefix(const char *in, char *out, size_t len)
{
	size_t	 o = 0;

	for (; *in != '\0'; in++) {
		if (*in == '@')
			o += strlcpy(out + o, bind_prefix, len - o);
		else
			out[o++] = *in;
		assert_true(o < len);
	}
	out[o] = '\0';
}

static void
test_refusals(void **state)
{
	const struct refusal	*r;
	size_t			 i, before, audits;
	json_t			*res;
	char			 spec[512];

	(void)state;
	need_docker();
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		r = &refusals[i];
		before = engine_containers();
		audits = h.naudits;
		with_prefix(r->spec, spec, sizeof(spec));
		res = ask(NULL, "{\"op\":\"deploy\",\"task\":\"evil\","
		    "\"app\":\"evil\",\"spec\":{\"image\":\"%s\"%s}}",
		    r->image != NULL ? r->image : "berth-base:latest", spec);
		print_message("refused %s: %s\n", r->what,
		    json_string_value(json_object_get(res, "error")));
		expect_error(res, r->field);
		assert_int_equal(h.naudits, audits + 1);
		expect_audit_since(audits, "container.create", "refused: ");
		assert_string_equal(h.audits[audits].task, "evil");
		assert_int_equal(strlen(h.audits[audits].policy_hash), 64);
		assert_int_equal(engine_containers(), before);
	}
	/* A bind under the prefix is allowed and mounted read-only. */
	expect_ok(ask(NULL, "{\"op\":\"deploy\",\"app\":\"binder\",\"spec\":"
	    "{\"image\":\"berth-base:latest\",\"cmd\":[\"sleep\",\"1000\"],"
	    "\"volumes\":[{\"source\":\"%s\",\"target\":\"/data\","
	    "\"bind\":true,\"read_only\":true},{\"source\":\"ops-test-vol\","
	    "\"target\":\"/vol\"}],\"cap_add\":[\"NET_BIND_SERVICE\"]}}",
	    bind_data));
}

/* --- image-build ----------------------------------------------------------- */

/*
 * A build context as the builder streams it: the read end of a pipe
 * that tar(1) writes dockerfile_text into as "Dockerfile".
 */
static int
context_pipe(const char *dockerfile_text)
{
	char	 dir[] = "/tmp/berth-ops-ctx-XXXXXX", path[64], cmd[128];
	FILE	*fp;
	int	 fd;

	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/Dockerfile", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(dockerfile_text, fp);
	fclose(fp);
	(void)snprintf(cmd, sizeof(cmd), "tar -C %s -cf - Dockerfile", dir);
	assert_non_null(fp = popen(cmd, "r"));
	assert_true((fd = dup(fileno(fp))) != -1);
	/* The whole tar is small: let tar finish before the runner reads. */
	{
		char	 buf[65536];
		ssize_t	 n;
		int	 p[2];

		assert_int_equal(pipe(p), 0);
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			assert_int_equal(write(p[1], buf, n), n);
		close(fd);
		close(p[1]);
		fd = p[0];
	}
	assert_int_equal(pclose(fp), 0);
	(void)unlink(path);
	(void)rmdir(dir);
	return fd;
}

static json_t *
ask_build(const char *json, int fd)
{
	uint32_t	 peerid = h.next_peerid++;

	ops_request_fd(h.ops, peerid, json, strlen(json), fd);
	run_until_result(peerid);
	return h.results[peerid];
}

static void
test_image_build(void **state)
{
	size_t		 audits = h.naudits;
	const char	*id;
	json_t		*res;
	int		 fd;

	(void)state;
	/* Descriptors: image-build needs one, nothing else takes one. */
	expect_error(ask_build("{\"op\":\"image-build\",\"task\":\"b1\","
	    "\"app\":\"img\"}", -1), "no build context");
	assert_true((fd = open("/dev/null", O_RDONLY)) != -1);
	expect_error(ask_build("{\"op\":\"list\"}", fd), "only with "
	    "image-build");
	need_docker();

	fd = context_pipe("FROM berth-base:latest\nRUN echo built >/built\n");
	res = ask_build("{\"op\":\"image-build\",\"task\":\"b1\",\"app\":"
	    "\"img\",\"repo\":{\"commit\":"
	    "\"0123456789abcdef0123456789abcdef01234567\"}}", fd);
	expect_ok(res);
	assert_string_equal(json_string_value(json_object_get(res, "image")),
	    "berth/img:0123456789ab");
	id = json_string_value(json_object_get(res, "id"));
	assert_non_null(id);
	assert_int_equal(strncmp(id, "sha256:", 7), 0);
	expect_audit_since(audits, "image.build", "ok");

	/* A failure inside HTTP 200: dockerd's errorDetail, audited. */
	fd = context_pipe("FROM berth-base:latest\nRUN false\n");
	expect_error(ask_build("{\"op\":\"image-build\",\"task\":\"b:2\","
	    "\"app\":\"img\"}", fd), "build: The command");
	expect_audit_since(audits, "image.build", "error:");

	/* The built image carries the node's labels: berth may remove it. */
	expect_ok(ask(NULL, "{\"op\":\"image-remove\",\"image_ref\":"
	    "\"berth/img:0123456789ab\"}"));
	assert_int_equal(ops_inflight(h.ops), 0);
}

static void
test_remove_all(void **state)
{
	static const char *const apps[] = {
		"web", "echoer", "chatty", "short", "binder"
	};
	size_t	 i, audits = h.naudits;
	char	 st[32];
	json_t	*res;
	int	 status;

	(void)state;
	need_docker();
	for (i = 0; i < sizeof(apps) / sizeof(apps[0]); i++)
		expect_ok(ask(NULL, "{\"op\":\"remove\",\"app\":\"%s\"}",
		    apps[i]));
	expect_audit_since(audits, "container.remove", "ok");
	res = ask(NULL, "{\"op\":\"list\"}");
	assert_int_equal(listed_count(res), 0);
	expect_error(ask(NULL, "{\"op\":\"inspect\",\"app\":\"web\"}"),
	    "no container owned");
	/* The foreign container lived through all of it. */
	assert_int_equal(engine_inspect(foreign_id, st, sizeof(st)), 200);
	assert_string_equal(st, "running");
	{
		char	 path[128];

		(void)snprintf(path, sizeof(path),
		    "/containers/%s?force=1&v=1", foreign_id);
		json_decref(api("DELETE", path, NULL, &status));
		assert_int_equal(status, 204);
		foreign_id[0] = '\0';
		json_decref(api("DELETE", "/volumes/ops-test-vol", NULL,
		    NULL));
	}
	assert_int_equal(ops_inflight(h.ops), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policy_no_engine),
		cmocka_unit_test(test_decode_refused),
		cmocka_unit_test(test_verify_mismatch),
		cmocka_unit_test(test_start_rollback),
		cmocka_unit_test(test_foreign_and_deploy),
		cmocka_unit_test(test_effective_config),
		cmocka_unit_test(test_list_inspect),
		cmocka_unit_test(test_foreign_untouched),
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_logs_backpressure),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_redeploy_rename),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_wait_stats),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_image_build),
		cmocka_unit_test(test_remove_all),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
