/*
 * test_docker.c: runner/docker.c against a real dockerd, the private one
 * tests/fixtures/dockerd.sh starts (DOCKER_HOST=unix:///...).  Without
 * DOCKER_HOST the tests that need the daemon are skipped.  Each test
 * drives the event loop until its requests complete and checks that no
 * request is left in flight; every container and image made here is
 * removed again.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "docker.h"
#include "docker_stream.h"

#define WAIT_SECONDS	60

struct harness {
	struct event_base	*base;
	struct docker		*docker;
	struct event		*tick;
};

/* What one request ended with. */
struct result {
	int		 done;
	int		 status;
	char		 reason[DOCKER_REASON_LEN];
	char		*body;
	size_t		 len;
};

static struct harness	 h;
static char		 socket_path[256];

static const char *
docker_socket(void)
{
	const char	*host = getenv("DOCKER_HOST");

	if (host == NULL || strncmp(host, "unix://", 7) != 0)
		return NULL;
	return host + 7;
}

static void
on_tick(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	(void)arg;
}

static int
setup(void **state)
{
	const char	*path = docker_socket();
	struct timeval	 tv = { 0, 100 * 1000 };

	(void)state;
	(void)strlcpy(socket_path, path != NULL ? path :
	    "/nonexistent/docker.sock", sizeof(socket_path));
	if ((h.base = event_base_new()) == NULL ||
	    (h.docker = docker_new(h.base, socket_path)) == NULL)
		return -1;
	/* The loop wakes up at least every 100 ms to check deadlines. */
	if ((h.tick = event_new(h.base, -1, EV_PERSIST, on_tick, NULL)) ==
	    NULL || event_add(h.tick, &tv) == -1)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	/* Every test leaves nothing in flight. */
	assert_int_equal(docker_inflight(h.docker), 0);
	docker_free(h.docker);
	event_free(h.tick);
	event_base_free(h.base);
	memset(&h, 0, sizeof(h));
	return 0;
}

static void
need_docker(void)
{
	if (docker_socket() == NULL) {
		print_message("DOCKER_HOST=unix://... not set; skipped\n");
		skip();
	}
}

/* Run the loop until *flag is set or the deadline passes. */
static void
run_until(const int *flag, int seconds)
{
	time_t	 deadline = time(NULL) + seconds;

	while (!*flag) {
		assert_true(time(NULL) < deadline);
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	}
}

/* Run the loop for ms milliseconds whatever happens. */
static void
run_for(int ms)
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
on_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct result	*r = arg;

	(void)req;
	assert_false(r->done);
	assert_non_null(body);
	assert_int_equal(body[len], '\0');
	r->done = 1;
	r->status = status;
	(void)strlcpy(r->reason, reason != NULL ? reason : "",
	    sizeof(r->reason));
	assert_true(status != -1 || reason != NULL);
	r->body = malloc(len + 1);
	assert_non_null(r->body);
	memcpy(r->body, body, len + 1);
	r->len = len;
}

static void
result_clear(struct result *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}

/* One buffered call, run to completion. */
static void
call(const char *method, const char *path, const char *json,
    struct result *r)
{
	memset(r, 0, sizeof(*r));
	assert_non_null(docker_call(h.docker, method, path, json, 30000,
	    on_done, r));
	run_until(&r->done, WAIT_SECONDS);
}

/* Create a container from berth-base:latest; its id goes to id. */
static void
container_create(const char *name, const char *cmd_json, char *id,
    size_t idsize)
{
	struct result	 r;
	char		 path[256], body[1024];
	json_t		*obj;

	(void)snprintf(path, sizeof(path), "/containers/create?name=%s-%ld",
	    name, (long)getpid());
	(void)snprintf(body, sizeof(body), "{\"Image\":\"berth-base:latest\","
	    "\"Cmd\":%s,\"Labels\":{\"berth.test\":\"1\"},\"Tty\":false,"
	    "\"HostConfig\":{\"NetworkMode\":\"none\",\"Init\":true}}",
	    cmd_json);
	call("POST", path, body, &r);
	if (r.status != 201)
		fail_msg("create: %d %s %s", r.status, r.reason, r.body);
	obj = json_loadb(r.body, r.len, 0, NULL);
	assert_non_null(obj);
	assert_true(json_is_string(json_object_get(obj, "Id")));
	assert_true(strlcpy(id, json_string_value(json_object_get(obj, "Id")),
	    idsize) < idsize);
	assert_int_equal(strlen(id), 64);
	json_decref(obj);
	result_clear(&r);
}

static void
container_remove(const char *id)
{
	struct result	 r;
	char		 path[256];

	(void)snprintf(path, sizeof(path), "/containers/%s?force=1&v=1", id);
	call("DELETE", path, NULL, &r);
	assert_int_equal(r.status, 204);
	result_clear(&r);
}

static void
container_start(const char *id)
{
	struct result	 r;
	char		 path[256];

	(void)snprintf(path, sizeof(path), "/containers/%s/start", id);
	call("POST", path, NULL, &r);
	if (r.status != 204)
		fail_msg("start: %d %s %s", r.status, r.reason, r.body);
	result_clear(&r);
}

/* --- without a daemon ------------------------------------------------ */

static void
test_refuse_bad_paths(void **state)
{
	static const char *const bad[] = {
		"", "containers/json", "/../version", "/a/../../version",
		"/./version", "/a/..", "/x y", "/x\r\nHost: evil", "/x#frag",
		"/x%zz", "/x%4", "/x\"", "/x\\y",
	};
	struct docker_request_spec	 spec;
	struct result			 r;
	size_t				 i;

	(void)state;
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.on_done = on_done;
	spec.arg = &r;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spec.path = bad[i];
		assert_null(docker_request(h.docker, &spec));
	}
	spec.path = "/containers/%2e%2e/json";
	assert_null(docker_request(h.docker, &spec));
	spec.path = "/images/json";
	spec.method = "BREW";
	assert_null(docker_request(h.docker, &spec));
	/* libcurl would send a GET with a body as a POST. */
	spec.method = "GET";
	spec.body_source = DOCKER_BODY_BUFFER;
	spec.body = "{}";
	spec.body_len = 2;
	assert_null(docker_request(h.docker, &spec));
	/* STREAM without a chunk callback. */
	spec.body_source = DOCKER_BODY_NONE;
	spec.mode = DOCKER_STREAM;
	assert_null(docker_request(h.docker, &spec));
	/* No done callback. */
	spec.mode = DOCKER_BUFFERED;
	spec.on_done = NULL;
	assert_null(docker_request(h.docker, &spec));

	/* Dots inside names and query values are fine. */
	spec.on_done = on_done;
	spec.path = "/images/berth.base..v1:latest/json?x=../..&y=%2E%2e";
	spec.timeout_ms = 30000;
	memset(&r, 0, sizeof(r));
	assert_non_null(docker_request(h.docker, &spec));
	run_until(&r.done, WAIT_SECONDS);
	assert_int_not_equal(r.status, 0);
	result_clear(&r);
}

static void
test_urlencode(void **state)
{
	char	 out[64];

	(void)state;
	assert_int_equal(docker_urlencode("{\"label\":[\"berth.node=a b\"]}",
	    out, sizeof(out)), 0);
	assert_string_equal(out,
	    "%7B%22label%22%3A%5B%22berth.node%3Da%20b%22%5D%7D");
	assert_int_equal(docker_urlencode("Az09-._~/?&=%\xc3\xa9", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "Az09-._~%2F%3F%26%3D%25%C3%A9");
	/* Exactly fits (3 bytes and NUL), then one byte short. */
	assert_int_equal(docker_urlencode("/", out, 4), 0);
	assert_int_equal(docker_urlencode("/", out, 3), -1);
	assert_string_equal(out, "");
	assert_int_equal(docker_urlencode("ab", out, 2), -1);
	assert_int_equal(docker_urlencode("", out, 1), 0);
}

static void
on_version(const struct docker_engine_version *v, const char *error,
    void *arg)
{
	struct result	*r = arg;

	r->done = 1;
	if (v != NULL) {
		assert_null(error);
		r->status = 200;
		(void)snprintf(r->reason, sizeof(r->reason), "%s %s %s",
		    v->version, v->api_version, v->min_api_version);
	} else {
		assert_non_null(error);
		r->status = -1;
		(void)strlcpy(r->reason, error, sizeof(r->reason));
	}
}

static void
test_no_daemon(void **state)
{
	struct docker	*d;
	struct result	 r;

	(void)state;
	assert_non_null(d = docker_new(h.base, "/nonexistent/docker.sock"));
	memset(&r, 0, sizeof(r));
	assert_int_equal(docker_ping_version(d, on_version, &r), 0);
	run_until(&r.done, WAIT_SECONDS);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.reason, "ping: "));
	assert_int_equal(docker_inflight(d), 0);
	/* Freed with a ping in flight: no callback, no leak. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(docker_ping_version(d, on_version, &r), 0);
	assert_int_equal(docker_inflight(d), 1);
	docker_free(d);
	assert_false(r.done);
}

/* --- against dockerd ------------------------------------------------- */

static void
test_ping_version(void **state)
{
	struct result	 r;

	(void)state;
	need_docker();
	memset(&r, 0, sizeof(r));
	assert_int_equal(docker_ping_version(h.docker, on_version, &r), 0);
	run_until(&r.done, WAIT_SECONDS);
	if (r.status != 200)
		fail_msg("ping/version: %s", r.reason);
	print_message("engine: %s\n", r.reason);
}

static void
test_images_json(void **state)
{
	struct result	 r;
	json_t		*arr, *img, *tags, *tag;
	size_t		 i, j;
	int		 found = 0;

	(void)state;
	need_docker();
	call("GET", "/images/json", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(arr = json_loadb(r.body, r.len, 0, NULL));
	assert_true(json_is_array(arr));
	json_array_foreach(arr, i, img) {
		tags = json_object_get(img, "RepoTags");
		json_array_foreach(tags, j, tag)
			if (json_is_string(tag) && strcmp("berth-base:latest",
			    json_string_value(tag)) == 0)
				found = 1;
	}
	assert_true(found);
	json_decref(arr);
	result_clear(&r);

	/* An error status comes back with dockerd's message. */
	call("GET", "/containers/berth-no-such-container/json", NULL, &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.body, "No such container"));
	result_clear(&r);
}

static void
test_buffer_cap(void **state)
{
	struct docker_request_spec	 spec;
	struct result			 r;

	(void)state;
	need_docker();
	memset(&spec, 0, sizeof(spec));
	memset(&r, 0, sizeof(r));
	spec.method = "GET";
	spec.path = "/version";
	spec.max_response = 16;
	spec.timeout_ms = 30000;
	spec.on_done = on_done;
	spec.arg = &r;
	assert_non_null(docker_request(h.docker, &spec));
	run_until(&r.done, WAIT_SECONDS);
	assert_int_equal(r.status, -1);
	assert_non_null(strstr(r.reason, "larger than 16 bytes"));
	result_clear(&r);
}

static void
test_two_in_flight(void **state)
{
	struct result	 a, b;

	(void)state;
	need_docker();
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_non_null(docker_call(h.docker, "GET", "/containers/json?all=1",
	    NULL, 30000, on_done, &a));
	assert_non_null(docker_call(h.docker, "GET", "/images/json", NULL,
	    30000, on_done, &b));
	assert_int_equal(docker_inflight(h.docker), 2);
	run_until(&a.done, WAIT_SECONDS);
	run_until(&b.done, WAIT_SECONDS);
	assert_int_equal(a.status, 200);
	assert_int_equal(b.status, 200);
	assert_int_equal(a.body[0], '[');
	assert_int_equal(b.body[0], '[');
	result_clear(&a);
	result_clear(&b);
}

/*
 * A STREAM request under test: its result, the log frames decoded from
 * it, and what the chunk callback should do to the request.
 */
struct stream {
	struct result		 r;
	struct docker_request	*req;
	struct logframe_decoder	 frames;
	struct build_output	 build;
	int			 is_build;
	char			 out[4096];
	size_t			 outlen;
	char			 err[4096];
	size_t			 errlen;
	int			 chunks;
	int			 cancel_at;	/* in chunk N; 0: never */
	int			 pause_at;	/* in chunk N; 0: never */
	int			 paused;
};

static int
stream_frame(void *arg, enum logframe_stream stream, const char *p,
    size_t len)
{
	struct stream	*s = arg;
	char		*dst = stream == LOGFRAME_STDERR ? s->err : s->out;
	size_t		*dstlen = stream == LOGFRAME_STDERR ? &s->errlen :
			    &s->outlen;

	/* Keep the first 4 KiB; a follow stream may go on for a while. */
	if (len > sizeof(s->out) - 1 - *dstlen)
		len = sizeof(s->out) - 1 - *dstlen;
	memcpy(dst + *dstlen, p, len);
	*dstlen += len;
	dst[*dstlen] = '\0';
	return 0;
}

static int
stream_chunk(struct docker_request *req, const char *data, size_t len,
    void *arg)
{
	struct stream	*s = arg;

	assert_ptr_equal(req, s->req);
	assert_false(s->r.done);
	assert_false(s->paused);
	s->chunks++;
	if (s->cancel_at != 0 && s->chunks == s->cancel_at) {
		docker_request_cancel(req);
		return 0;
	}
	if (s->pause_at != 0 && s->chunks == s->pause_at) {
		docker_request_pause(req);
		s->paused = 1;
	}
	if (s->is_build)
		return build_output_feed(&s->build, data, len);
	return logframe_feed(&s->frames, data, len);
}

static void
stream_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct stream	*s = arg;

	on_done(req, status, reason, body, len, &s->r);
}

static void
stream_init(struct stream *s)
{
	memset(s, 0, sizeof(*s));
	logframe_init(&s->frames, 0, 0, stream_frame, s);
}

static void
stream_clear(struct stream *s)
{
	logframe_clear(&s->frames);
	build_output_clear(&s->build);
	result_clear(&s->r);
}

static void
stream_start(struct stream *s, const char *method, const char *path,
    long timeout_ms)
{
	struct docker_request_spec	 spec;

	memset(&spec, 0, sizeof(spec));
	spec.method = method;
	spec.path = path;
	spec.mode = DOCKER_STREAM;
	spec.timeout_ms = timeout_ms;
	spec.on_chunk = stream_chunk;
	spec.on_done = stream_done;
	spec.arg = s;
	assert_non_null(s->req = docker_request(h.docker, &spec));
}

/*
 * The one-shot pattern of GUIDE.md section 4.3: create, wait(next-exit)
 * in flight, start, the exit code, then the logs, then delete.
 */
static void
test_container_logs(void **state)
{
	struct result	 wait;
	struct stream	 s;
	char		 id[80], path[256];
	json_t		*obj;

	(void)state;
	need_docker();
	container_create("berth-test-logs",
	    "[\"sh\",\"-c\",\"echo hello; echo err >&2\"]", id, sizeof(id));

	(void)snprintf(path, sizeof(path),
	    "/containers/%s/wait?condition=next-exit", id);
	memset(&wait, 0, sizeof(wait));
	assert_non_null(docker_call(h.docker, "POST", path, NULL, 60000,
	    on_done, &wait));
	run_for(200);	/* dockerd registers the wait before answering */
	container_start(id);
	run_until(&wait.done, WAIT_SECONDS);
	assert_int_equal(wait.status, 200);
	assert_non_null(obj = json_loadb(wait.body, wait.len, 0, NULL));
	assert_int_equal(json_integer_value(json_object_get(obj,
	    "StatusCode")), 0);
	json_decref(obj);
	result_clear(&wait);

	stream_init(&s);
	(void)snprintf(path, sizeof(path),
	    "/containers/%s/logs?stdout=1&stderr=1", id);
	stream_start(&s, "GET", path, 30000);
	run_until(&s.r.done, WAIT_SECONDS);
	assert_int_equal(s.r.status, 200);
	assert_int_equal(logframe_finish(&s.frames), 0);
	assert_string_equal(s.out, "hello\n");
	assert_string_equal(s.err, "err\n");
	stream_clear(&s);
	container_remove(id);
}

/*
 * A follow stream of a container that never stops: cancelled from
 * inside its chunk callback, and from outside (after a pause and a
 * resume); nothing of it is called afterwards.  A wait on the same
 * running container times out.
 */
static void
test_cancel_follow(void **state)
{
	struct stream	 s;
	struct result	 wait;
	char		 id[80], path[256];
	int		 chunks;

	(void)state;
	need_docker();
	container_create("berth-test-follow", "[\"sh\",\"-c\",\"while :; do "
	    "echo tick; sleep 0.05; done\"]", id, sizeof(id));
	container_start(id);
	(void)snprintf(path, sizeof(path),
	    "/containers/%s/logs?follow=1&stdout=1&stderr=1", id);

	stream_init(&s);
	s.cancel_at = 3;
	stream_start(&s, "GET", path, 0);
	run_until(&s.chunks, WAIT_SECONDS);
	run_for(1000);
	assert_int_equal(s.chunks, 3);
	assert_false(s.r.done);
	assert_int_equal(docker_inflight(h.docker), 0);
	stream_clear(&s);

	stream_init(&s);
	s.pause_at = 1;
	stream_start(&s, "GET", path, 0);
	run_until(&s.chunks, WAIT_SECONDS);
	run_for(500);
	assert_int_equal(s.chunks, 1);	/* paused: nothing more arrives */
	s.paused = 0;
	docker_request_resume(s.req);
	chunks = s.chunks;
	run_for(500);
	assert_true(s.chunks > chunks);	/* held and new data flow again */
	assert_non_null(strstr(s.out, "tick\ntick\n"));
	docker_request_cancel(s.req);
	chunks = s.chunks;
	run_for(500);
	assert_int_equal(s.chunks, chunks);
	assert_false(s.r.done);
	stream_clear(&s);

	(void)snprintf(path, sizeof(path), "/containers/%s/wait", id);
	memset(&wait, 0, sizeof(wait));
	assert_non_null(docker_call(h.docker, "POST", path, NULL, 300,
	    on_done, &wait));
	run_until(&wait.done, WAIT_SECONDS);
	assert_int_equal(wait.status, -1);
	assert_non_null(strstr(wait.reason, "timed out"));
	result_clear(&wait);
	container_remove(id);
}

/* A one-file ustar archive, by hand: header, data, two zero blocks. */
static size_t
make_tar(char *tar, size_t size, const char *name, const char *data)
{
	size_t		 len = strlen(data), total, i;
	unsigned int	 sum = 0;

	total = 512 + (len + 511) / 512 * 512 + 1024;
	assert_true(total <= size);
	memset(tar, 0, total);
	(void)strlcpy(tar, name, 100);
	memcpy(tar + 100, "0000644", 7);
	memcpy(tar + 108, "0000000", 7);
	memcpy(tar + 116, "0000000", 7);
	(void)snprintf(tar + 124, 12, "%011o", (unsigned int)len);
	(void)snprintf(tar + 136, 12, "%011o", 1700000000U);
	memset(tar + 148, ' ', 8);
	tar[156] = '0';
	memcpy(tar + 257, "ustar", 6);
	memcpy(tar + 263, "00", 2);
	for (i = 0; i < 512; i++)
		sum += (unsigned char)tar[i];
	(void)snprintf(tar + 148, 8, "%06o", sum);
	tar[155] = ' ';
	memcpy(tar + 512, data, len);
	return total;
}

/* The builder's side of the pipe: half now, the rest later, then EOF. */
struct feeder {
	int		 fd;
	const char	*data;
	size_t		 len;
	size_t		 off;
	struct event	*ev;
};

static void
feeder_write(evutil_socket_t fd, short events, void *arg)
{
	struct feeder	*f = arg;
	ssize_t		 n;

	(void)fd;
	(void)events;
	n = write(f->fd, f->data + f->off, f->len - f->off);
	assert_true(n > 0);
	f->off += (size_t)n;
	assert_int_equal(f->off, f->len);
	close(f->fd);
	f->fd = -1;
}

static void
build(const char *dockerfile, struct stream *s)
{
	struct docker_request_spec	 spec;
	struct feeder			 f;
	struct timeval			 tv = { 0, 300 * 1000 };
	char				 tar[4096], path[512], labels[128];
	int				 p[2];

	assert_int_equal(docker_urlencode("{\"berth.test\":\"1\"}", labels,
	    sizeof(labels)), 0);
	(void)snprintf(path, sizeof(path), "/build?rm=1&forcerm=1&pull=0&"
	    "networkmode=none&labels=%s", labels);
	stream_init(s);
	s->is_build = 1;
	build_output_init(&s->build, NULL, NULL);

	/* A nonblocking pipe that runs dry mid-body: the upload pauses. */
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	memset(&f, 0, sizeof(f));
	f.len = make_tar(tar, sizeof(tar), "Dockerfile", dockerfile);
	f.data = tar;
	f.fd = p[1];
	f.off = 700;
	assert_int_equal(write(p[1], tar, f.off), (ssize_t)f.off);
	assert_non_null(f.ev = evtimer_new(h.base, feeder_write, &f));
	assert_int_equal(evtimer_add(f.ev, &tv), 0);

	memset(&spec, 0, sizeof(spec));
	spec.method = "POST";
	spec.path = path;
	spec.content_type = "application/x-tar";
	spec.body_source = DOCKER_BODY_FD;
	spec.body_fd = p[0];
	spec.mode = DOCKER_STREAM;
	spec.timeout_ms = 120000;
	spec.on_chunk = stream_chunk;
	spec.on_done = stream_done;
	spec.arg = s;
	assert_non_null(s->req = docker_request(h.docker, &spec));
	run_until(&s->r.done, 120);
	assert_int_equal(f.fd, -1);
	event_free(f.ev);
	close(p[0]);
}

static void
test_build_from_fd(void **state)
{
	struct stream	 s;
	struct result	 r;
	char		 path[256];

	(void)state;
	need_docker();
	build("FROM berth-base:latest\nRUN echo built > /x\n", &s);
	assert_int_equal(s.r.status, 200);
	if (build_output_finish(&s.build) != BUILD_OK)
		fail_msg("build: %s", build_output_error(&s.build));
	assert_true(docker_image_id_valid(build_output_image_id(&s.build)));
	(void)snprintf(path, sizeof(path), "/images/%s?force=1",
	    build_output_image_id(&s.build));
	stream_clear(&s);
	call("DELETE", path, NULL, &r);
	assert_int_equal(r.status, 200);
	result_clear(&r);
}

static void
test_build_failure(void **state)
{
	struct stream	 s;

	(void)state;
	need_docker();
	build("FROM berth-base:latest\nRUN false\n", &s);
	/* HTTP says 200; only the stream says the build failed. */
	assert_int_equal(s.r.status, 200);
	assert_int_equal(build_output_finish(&s.build), BUILD_FAILED);
	assert_non_null(strstr(build_output_error(&s.build),
	    "returned a non-zero code: 1"));
	assert_null(build_output_image_id(&s.build));
	stream_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refuse_bad_paths, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_urlencode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_daemon, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ping_version, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_images_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_buffer_cap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_two_in_flight, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_container_logs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cancel_follow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_from_fd, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_failure, setup,
		    teardown),
	};
	int	 rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}
