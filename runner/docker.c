/*
 * docker.c: HTTP/1.1 to dockerd over its unix socket, for the runner
 * only.  libcurl does the HTTP (Content-Length, chunked, keep-alive);
 * its multi_socket interface tells us which descriptors and timeouts to
 * watch and we watch them with libevent, so a slow daemon, a follow
 * stream or a build never blocks the runner's loop.
 *
 * The handles are set up so that libcurl opens no file and reaches
 * nothing but the socket: no proxy, no .netrc, no cookies, http only, no
 * redirects, no signals.  curl_global_init() and json_object_seed()
 * are the caller's, done before the sandbox (jansson otherwise opens
 * /dev/urandom the first time it makes an object).
 *
 * Reentrancy: libcurl forbids adding or removing handles from inside its
 * callbacks, and callers may cancel or start requests from inside ours.
 * So while we are inside libcurl or inside a caller's callback (busy),
 * cancel and start only set flags, and docker_settle() carries them out
 * once the outermost call has returned.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "docker.h"
#include "log.h"

#define DOCKER_URL_BASE		"http://docker/v" DOCKER_API_VERSION
#define DOCKER_CONNECT_MS	5000L
#define DOCKER_PING_MS		10000L
#define DOCKER_PING_MAX		64
#define DOCKER_VERSION_MAX	(64 * 1024)
#define DOCKER_SUN_PATH_LEN	sizeof(((struct sockaddr_un *)0)->sun_path)

struct docker_request {
	TAILQ_ENTRY(docker_request) entry;
	struct docker		*docker;
	CURL			*easy;
	struct curl_slist	*headers;
	char			 method[8];
	enum docker_response_mode mode;
	size_t			 max_response;
	docker_chunk_cb		 on_chunk;
	docker_done_cb		 on_done;
	void			*arg;
	void			(*release)(void *);	/* arg we own */

	int			 body_fd;
	struct event		*body_ev;

	char			*resp;
	size_t			 resp_len;
	size_t			 resp_size;
	long			 status;	/* 0 until the first byte */

	unsigned int		 added:1;	/* in the multi handle */
	unsigned int		 pending_add:1;
	unsigned int		 cancelled:1;
	unsigned int		 finishing:1;
	unsigned int		 send_paused:1;	/* waiting for body_fd */
	unsigned int		 recv_paused:1;	/* the caller's wish */
	unsigned int		 resume_pending:1;
	unsigned int		 overflow:1;
	unsigned int		 nomem:1;
	unsigned int		 consumer_stop:1;
	int			 read_errno;
	CURLcode		 pause_error;	/* curl_easy_pause() failed */
	long			 timeout_ms;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 reason[DOCKER_REASON_LEN];
};

TAILQ_HEAD(docker_requests, docker_request);

struct docker {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct event		*work;		/* runs docker_settle() */
	struct docker_requests	 requests;
	size_t			 nrequests;
	int			 busy;
	int			 dirty;
	char			 socket_path[DOCKER_SUN_PATH_LEN];
};

/* One per descriptor libcurl asks us to watch (curl_multi_assign). */
struct docker_socket {
	struct docker		*docker;
	struct event		*ev;
};

struct docker_ping {
	struct docker		*docker;
	docker_version_cb	 cb;
	void			*arg;
};

static int	 docker_socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	 docker_timer_cb(CURLM *, long, void *);
static void	 docker_socket_event(evutil_socket_t, short, void *);
static void	 docker_timer_event(evutil_socket_t, short, void *);
static void	 docker_work_event(evutil_socket_t, short, void *);
static void	 docker_settle(struct docker *);
static void	 docker_read_messages(struct docker *);
static void	 docker_sweep(struct docker *);
static void	 docker_kick(struct docker *);

static int	 request_valid(const struct docker_request_spec *);
static int	 request_path_valid(const char *);
static int	 request_setup(struct docker_request *,
		    const struct docker_request_spec *);
static int	 request_setup_body(struct docker_request *,
		    const struct docker_request_spec *);
static int	 request_add(struct docker_request *);
static void	 request_finish(struct docker_request *, CURLcode);
static void	 request_fail(struct docker_request *, const char *);
static void	 request_destroy(struct docker_request *);
static void	 request_sync_pause(struct docker_request *);
static void	 request_reason(struct docker_request *, CURLcode);
static size_t	 request_write(char *, size_t, size_t, void *);
static size_t	 request_read(char *, size_t, size_t, void *);
static void	 request_body_ready(evutil_socket_t, short, void *);
static int	 request_buffer(struct docker_request *, const char *, size_t,
		    size_t);

static int	 ping_step(struct docker_ping *, const char *, size_t,
		    docker_done_cb);
static void	 ping_done(struct docker_request *, int, const char *,
		    const char *, size_t, void *);
static void	 version_done(struct docker_request *, int, const char *,
		    const char *, size_t, void *);
static const char *version_check(const char *, size_t,
		    struct docker_engine_version *);
static int	 api_version_parse(const char *, int *, int *);
static int	 version_string(json_t *, const char *, char *, size_t);

/* --- the client ------------------------------------------------------ */

struct docker *
docker_new(struct event_base *base, const char *socket_path)
{
	struct docker	*d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	if (strlcpy(d->socket_path, socket_path, sizeof(d->socket_path)) >=
	    sizeof(d->socket_path)) {
		log_warnx("%s: socket path too long: %s", __func__,
		    socket_path);
		free(d);
		return NULL;
	}
	d->base = base;
	TAILQ_INIT(&d->requests);
	if ((d->timer = evtimer_new(base, docker_timer_event, d)) == NULL ||
	    (d->work = event_new(base, -1, 0, docker_work_event, d)) == NULL ||
	    (d->multi = curl_multi_init()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		docker_free(d);
		return NULL;
	}
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, docker_socket_cb);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, docker_timer_cb);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	return d;
}

/* Cancel everything, silently.  Not from inside one of our callbacks. */
void
docker_free(struct docker *d)
{
	struct docker_request	*req;

	if (d == NULL)
		return;
	if (d->busy)
		fatalx("%s: called from a docker callback", __func__);
	while ((req = TAILQ_FIRST(&d->requests)) != NULL) {
		req->cancelled = 1;
		request_destroy(req);
	}
	if (d->multi != NULL)
		curl_multi_cleanup(d->multi);
	if (d->timer != NULL)
		event_free(d->timer);
	if (d->work != NULL)
		event_free(d->work);
	free(d);
}

size_t
docker_inflight(const struct docker *d)
{
	return d->nrequests;
}

/*
 * libcurl wants fd watched for what (or no longer).  The docker_socket is
 * remembered with curl_multi_assign() so later calls find it again.
 */
static int
docker_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct docker		*d = arg;
	struct docker_socket	*s = sockp;
	short			 events = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			if (s->ev != NULL)
				event_free(s->ev);
			free(s);
			curl_multi_assign(d->multi, fd, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -1;
		s->docker = d;
		curl_multi_assign(d->multi, fd, s);
	} else if (s->ev != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if ((s->ev = event_new(d->base, fd, events, docker_socket_event,
	    s)) == NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("%s: cannot watch descriptor %d", __func__, (int)fd);
		return -1;
	}
	return 0;
}

/* libcurl's one timer: -1 removes it, 0 means as soon as possible. */
static int
docker_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct docker	*d = arg;
	struct timeval	 tv;

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(d->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(d->timer, &tv);
}

static void
docker_socket_event(evutil_socket_t fd, short events, void *arg)
{
	struct docker_socket	*s = arg;
	struct docker		*d = s->docker;
	int			 flags = 0, running;

	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* s may be freed inside this call (CURL_POLL_REMOVE). */
	d->busy++;
	curl_multi_socket_action(d->multi, fd, flags, &running);
	d->busy--;
	docker_settle(d);
}

static void
docker_timer_event(evutil_socket_t fd, short events, void *arg)
{
	struct docker	*d = arg;
	int		 running;

	(void)fd;
	(void)events;
	d->busy++;
	curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	d->busy--;
	docker_settle(d);
}

static void
docker_work_event(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	docker_settle(arg);
}

/*
 * Flagged work exists.  A settle round already running picks it up
 * through dirty; otherwise the loop runs one soon.
 */
static void
docker_kick(struct docker *d)
{
	d->dirty = 1;
	event_active(d->work, EV_TIMEOUT, 0);
}

/*
 * Outside libcurl now: report finished transfers, then carry out what
 * was flagged meanwhile.  Callers' callbacks run with busy set, so what
 * they do is flagged too and picked up by the next round.
 */
static void
docker_settle(struct docker *d)
{
	if (d->busy)
		return;
	d->busy++;
	do {
		d->dirty = 0;
		docker_read_messages(d);
		docker_sweep(d);
	} while (d->dirty);
	d->busy--;
}

static void
docker_read_messages(struct docker *d)
{
	struct docker_request	*req;
	CURLMsg			*msg;
	CURL			*easy;
	CURLcode		 result;
	char			*priv;
	int			 left;

	while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		result = msg->data.result;
		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) !=
		    CURLE_OK || priv == NULL)
			fatalx("%s: transfer without a request", __func__);
		req = (struct docker_request *)(void *)priv;
		request_finish(req, result);
	}
}

/*
 * Destroy cancelled requests, add the ones started while busy, apply
 * pending resumes, fail those libcurl would not unpause.  Only this
 * function destroys while busy, so the saved next pointer stays valid;
 * callbacks may append, which is safe.
 */
static void
docker_sweep(struct docker *d)
{
	struct docker_request	*req, *next;

	for (req = TAILQ_FIRST(&d->requests); req != NULL; req = next) {
		next = TAILQ_NEXT(req, entry);
		if (req->cancelled) {
			request_destroy(req);
			continue;
		}
		if (req->pending_add) {
			req->pending_add = 0;
			if (request_add(req) == -1) {
				request_fail(req, "cannot start transfer");
				continue;
			}
			if (req->recv_paused)
				request_sync_pause(req);
		}
		if (req->resume_pending) {
			req->resume_pending = 0;
			request_sync_pause(req);
		}
		if (req->pause_error != CURLE_OK && !req->cancelled) {
			request_reason(req, req->pause_error);
			request_fail(req, req->reason);
		}
	}
}

/* --- requests -------------------------------------------------------- */

/*
 * A path is "/" followed by URL characters only: no space, no control
 * character (header injection), no '#', no "." or ".." segment (which
 * libcurl would resolve, escaping the /v1.41 prefix) and no encoded dot
 * before the query, '%' only before two hex digits.
 */
static int
request_path_valid(const char *path)
{
	const char	*p;
	size_t		 len = strlen(path);

	if (len == 0 || len >= DOCKER_PATH_MAX || path[0] != '/')
		return 0;
	for (p = path; *p != '\0'; p++) {
		if (*p <= 0x20 || *p >= 0x7f || *p == '#' || *p == '\\' ||
		    *p == '"' || *p == '<' || *p == '>' || *p == '{' ||
		    *p == '}' || *p == '|' || *p == '^' || *p == '`')
			return 0;
		if (*p == '%' && (!isxdigit((unsigned char)p[1]) ||
		    !isxdigit((unsigned char)p[2])))
			return 0;
	}
	len = strcspn(path, "?");
	for (p = path; p < path + len; p++) {
		/* dockerd would decode an encoded dot back into a segment. */
		if (*p == '%' && p[1] == '2' && (p[2] == 'e' || p[2] == 'E'))
			return 0;
		if (*p != '/' || p[1] != '.')
			continue;
		if (p[2] == '/' || p[2] == '?' || p[2] == '\0' ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '?' ||
		    p[3] == '\0')))
			return 0;
	}
	return 1;
}

static int
request_valid(const struct docker_request_spec *spec)
{
	static const char *const methods[] = {
		"GET", "POST", "PUT", "DELETE", "HEAD"
	};
	size_t	 i;

	if (spec->method == NULL || spec->path == NULL ||
	    spec->on_done == NULL)
		return 0;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(spec->method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return 0;
	if (!request_path_valid(spec->path))
		return 0;
	if (spec->content_type != NULL &&
	    (strlen(spec->content_type) > 128 ||
	    strpbrk(spec->content_type, "\r\n") != NULL))
		return 0;
	if (spec->mode == DOCKER_STREAM && spec->on_chunk == NULL)
		return 0;
	if (spec->max_response > DOCKER_BUFFER_MAX)
		return 0;
	if (spec->body_source == DOCKER_BODY_FD && spec->body_fd < 0)
		return 0;
	if (spec->body_source == DOCKER_BODY_BUFFER && spec->body == NULL &&
	    spec->body_len > 0)
		return 0;
	/* libcurl would turn a GET with a body into a POST. */
	if (spec->body_source != DOCKER_BODY_NONE &&
	    (strcmp(spec->method, "GET") == 0 ||
	    strcmp(spec->method, "HEAD") == 0))
		return 0;
	return spec->timeout_ms >= 0;
}

struct docker_request *
docker_request(struct docker *d, const struct docker_request_spec *spec)
{
	struct docker_request	*req;

	if (!request_valid(spec)) {
		log_warnx("%s: refusing a malformed request for %s", __func__,
		    spec->path != NULL ? spec->path : "(null)");
		return NULL;
	}
	if ((req = calloc(1, sizeof(*req))) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return NULL;
	}
	req->docker = d;
	req->body_fd = -1;
	TAILQ_INSERT_TAIL(&d->requests, req, entry);
	d->nrequests++;
	if (request_setup(req, spec) == -1) {
		request_destroy(req);
		return NULL;
	}
	/* Not the query: build arguments may hold secrets. */
	log_debug("docker: %s %.*s", req->method,
	    (int)strcspn(spec->path, "?"), spec->path);
	/* libcurl refuses new handles from inside its callbacks. */
	if (d->busy) {
		req->pending_add = 1;
		docker_kick(d);
	} else if (request_add(req) == -1) {
		request_destroy(req);
		return NULL;
	}
	return req;
}

/* A buffered request with an optional JSON body: the common case. */
struct docker_request *
docker_call(struct docker *d, const char *method, const char *path,
    const char *json, long timeout_ms, docker_done_cb done, void *arg)
{
	struct docker_request_spec	 spec;

	memset(&spec, 0, sizeof(spec));
	spec.method = method;
	spec.path = path;
	if (json != NULL) {
		spec.content_type = "application/json";
		spec.body_source = DOCKER_BODY_BUFFER;
		spec.body = json;
		spec.body_len = strlen(json);
	}
	spec.mode = DOCKER_BUFFERED;
	spec.timeout_ms = timeout_ms;
	spec.on_done = done;
	spec.arg = arg;
	return docker_request(d, &spec);
}

static int
request_setup(struct docker_request *req,
    const struct docker_request_spec *spec)
{
	struct docker	*d = req->docker;
	CURL		*e;
	char		 url[sizeof(DOCKER_URL_BASE) + DOCKER_PATH_MAX];
	int		 rc = 0;

	(void)strlcpy(req->method, spec->method, sizeof(req->method));
	req->mode = spec->mode;
	req->max_response = spec->max_response != 0 ? spec->max_response :
	    DOCKER_BUFFER_DEFAULT;
	if (req->mode == DOCKER_STREAM)
		req->max_response = DOCKER_ERROR_BODY_MAX;
	req->on_chunk = spec->on_chunk;
	req->on_done = spec->on_done;
	req->arg = spec->arg;
	req->timeout_ms = spec->timeout_ms;
	(void)snprintf(url, sizeof(url), "%s%s", DOCKER_URL_BASE, spec->path);

	if ((req->easy = e = curl_easy_init()) == NULL)
		return -1;
	/* Reach the socket and nothing else; read no file. */
	rc |= curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, d->socket_path);
	rc |= curl_easy_setopt(e, CURLOPT_URL, url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY, "");
	rc |= curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	rc |= curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_MS);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, spec->timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, request_write);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	if (rc != CURLE_OK || request_setup_body(req, spec) == -1) {
		log_warnx("%s: cannot set up %s %s", __func__, req->method,
		    spec->path);
		return -1;
	}
	return 0;
}

/*
 * Method and body.  Buffer bodies go with an exact Content-Length; fd
 * bodies (tar build contexts of unknown length) go chunked.  Expect:
 * 100-continue is suppressed, and a Content-Type is sent only when the
 * caller names one, so a bodyless POST is not labelled a form.
 */
static int
request_setup_body(struct docker_request *req,
    const struct docker_request_spec *spec)
{
	CURL		*e = req->easy;
	char		 ctype[160];
	int		 rc = 0;

	if (strcmp(req->method, "HEAD") == 0)
		rc |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "POST") != 0)
		rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);

	if (spec->body_source == DOCKER_BODY_FD) {
		req->body_fd = spec->body_fd;
		if ((req->body_ev = event_new(req->docker->base, req->body_fd,
		    EV_READ, request_body_ready, req)) == NULL)
			return -1;
		rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)-1);
		rc |= curl_easy_setopt(e, CURLOPT_READFUNCTION, request_read);
		rc |= curl_easy_setopt(e, CURLOPT_READDATA, req);
		req->headers = curl_slist_append(req->headers,
		    "Transfer-Encoding: chunked");
	} else if (spec->body_source == DOCKER_BODY_BUFFER ||
	    strcmp(req->method, "POST") == 0 ||
	    strcmp(req->method, "PUT") == 0) {
		rc |= curl_easy_setopt(e, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)spec->body_len);
		rc |= curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS,
		    spec->body_len > 0 ? spec->body : "");
	}
	if (spec->content_type != NULL)
		(void)snprintf(ctype, sizeof(ctype), "Content-Type: %s",
		    spec->content_type);
	else
		(void)strlcpy(ctype, "Content-Type:", sizeof(ctype));
	req->headers = curl_slist_append(req->headers, ctype);
	req->headers = curl_slist_append(req->headers, "Expect:");
	if (req->headers == NULL)
		return -1;
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	return rc == CURLE_OK ? 0 : -1;
}

static int
request_add(struct docker_request *req)
{
	CURLMcode	 mc;

	if ((mc = curl_multi_add_handle(req->docker->multi, req->easy)) !=
	    CURLM_OK) {
		log_warnx("docker: curl_multi_add_handle: %s",
		    curl_multi_strerror(mc));
		return -1;
	}
	req->added = 1;
	return 0;
}

/*
 * Stop a request: nothing of it is called after this returns.  Inside a
 * callback the teardown waits for docker_settle(); the flag alone keeps
 * our callbacks from calling the caller's.
 */
void
docker_request_cancel(struct docker_request *req)
{
	struct docker	*d;

	if (req == NULL || req->finishing)
		return;
	d = req->docker;
	req->cancelled = 1;
	if (d->busy)
		docker_kick(d);
	else
		request_destroy(req);
}

/* Stop reading a STREAM response, so that data waits in the socket. */
void
docker_request_pause(struct docker_request *req)
{
	if (req->cancelled || req->recv_paused)
		return;
	req->recv_paused = 1;
	req->resume_pending = 0;
	request_sync_pause(req);
}

/*
 * Read again.  libcurl may deliver held data from inside the unpause, so
 * it happens from the loop, never inside the caller's frame.
 */
void
docker_request_resume(struct docker_request *req)
{
	if (req->cancelled || !req->recv_paused)
		return;
	req->recv_paused = 0;
	req->resume_pending = 1;
	docker_kick(req->docker);
}

/*
 * Tell libcurl the pause state we want in both directions.  Unpausing
 * may hand held data to the write callback at once; if that fails the
 * transfer would hang, so the request is failed by docker_sweep().
 */
static void
request_sync_pause(struct docker_request *req)
{
	CURLcode	 rc;
	int		 bits = CURLPAUSE_CONT;

	if (!req->added)
		return;
	if (req->recv_paused)
		bits |= CURLPAUSE_RECV;
	if (req->send_paused)
		bits |= CURLPAUSE_SEND;
	req->docker->busy++;
	rc = curl_easy_pause(req->easy, bits);
	req->docker->busy--;
	if (rc != CURLE_OK && req->pause_error == CURLE_OK) {
		req->pause_error = rc;
		docker_kick(req->docker);
	}
}

/* The transfer is over: say how, unless the caller cancelled, then free. */
static void
request_finish(struct docker_request *req, CURLcode result)
{
	const char	*body;
	long		 status = -1;

	if (req->added) {
		curl_multi_remove_handle(req->docker->multi, req->easy);
		req->added = 0;
	}
	if (req->cancelled) {
		request_destroy(req);
		return;
	}
	if (result == CURLE_OK) {
		if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE,
		    &status) != CURLE_OK || status < 100 || status > 999) {
			status = -1;
			(void)strlcpy(req->reason, "no HTTP status",
			    sizeof(req->reason));
		}
	} else
		request_reason(req, result);
	body = req->resp != NULL ? req->resp : "";
	log_debug("docker: %s done: %ld%s%s", req->method, status,
	    status == -1 ? " " : "", status == -1 ? req->reason : "");
	req->finishing = 1;
	req->on_done(req, (int)status, status == -1 ? req->reason : NULL,
	    body, req->resp_len, req->arg);
	/* The done callback took over arg. */
	req->release = NULL;
	request_destroy(req);
}

/* A request that never reached libcurl fails like a transfer would. */
static void
request_fail(struct docker_request *req, const char *why)
{
	if (why != req->reason)
		(void)strlcpy(req->reason, why, sizeof(req->reason));
	req->finishing = 1;
	req->on_done(req, -1, req->reason, "", 0, req->arg);
	req->release = NULL;
	request_destroy(req);
}

static void
request_reason(struct docker_request *req, CURLcode result)
{
	const char	*why;

	if (req->overflow)
		(void)snprintf(req->reason, sizeof(req->reason),
		    "response larger than %zu bytes", req->max_response);
	else if (req->nomem)
		(void)strlcpy(req->reason, "out of memory for the response",
		    sizeof(req->reason));
	else if (req->consumer_stop)
		(void)strlcpy(req->reason, "stream consumer stopped the "
		    "transfer", sizeof(req->reason));
	else if (req->read_errno != 0)
		(void)snprintf(req->reason, sizeof(req->reason),
		    "reading request body: %s", strerror(req->read_errno));
	else if (result == CURLE_OPERATION_TIMEDOUT)
		(void)snprintf(req->reason, sizeof(req->reason),
		    "timed out after %ld ms", req->timeout_ms);
	else {
		why = req->errbuf[0] != '\0' ? req->errbuf :
		    curl_easy_strerror(result);
		(void)snprintf(req->reason, sizeof(req->reason), "%s", why);
	}
}

static void
request_destroy(struct docker_request *req)
{
	struct docker	*d = req->docker;

	if (req->added)
		curl_multi_remove_handle(d->multi, req->easy);
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	if (req->body_ev != NULL)
		event_free(req->body_ev);
	if (req->cancelled && req->release != NULL)
		req->release(req->arg);
	free(req->resp);
	TAILQ_REMOVE(&d->requests, req, entry);
	d->nrequests--;
	free(req);
}

/*
 * Append to the response, failing past limit rather than truncating:
 * -1 over the limit, -2 out of memory.
 */
static int
request_buffer(struct docker_request *req, const char *data, size_t len,
    size_t limit)
{
	size_t	 newsize;
	char	*p;

	if (len > limit - req->resp_len)
		return -1;
	if (req->resp_len + len + 1 > req->resp_size) {
		newsize = req->resp_size < 1024 ? 1024 : req->resp_size;
		while (newsize < req->resp_len + len + 1)
			newsize *= 2;
		if (newsize > limit + 1)
			newsize = limit + 1;
		if ((p = realloc(req->resp, newsize)) == NULL)
			return -2;
		req->resp = p;
		req->resp_size = newsize;
	}
	memcpy(req->resp + req->resp_len, data, len);
	req->resp_len += len;
	req->resp[req->resp_len] = '\0';
	return 0;
}

/*
 * Response bytes.  Returning less than len makes libcurl fail the
 * transfer with CURLE_WRITE_ERROR; the flags say why.  A STREAM error
 * body (non-2xx) is kept, truncated, for the done callback: the status
 * already says failure, so truncation hides nothing.
 */
static size_t
request_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct docker_request	*req = arg;
	size_t			 len = size * nmemb;
	int			 rc;

	if (req->cancelled)
		return 0;
	if (req->status == 0 && curl_easy_getinfo(req->easy,
	    CURLINFO_RESPONSE_CODE, &req->status) != CURLE_OK)
		req->status = -1;
	if (req->mode == DOCKER_STREAM && req->status >= 200 &&
	    req->status < 300) {
		if (req->on_chunk(req, data, len, req->arg) == -1) {
			req->consumer_stop = 1;
			return 0;
		}
		return req->cancelled ? 0 : len;
	}
	if ((rc = request_buffer(req, data, len, req->max_response)) == 0)
		return len;
	if (rc == -1 && req->mode == DOCKER_STREAM) {
		(void)request_buffer(req, data, req->max_response -
		    req->resp_len, req->max_response);
		return len;
	}
	if (rc == -1)
		req->overflow = 1;
	else
		req->nomem = 1;
	return 0;
}

/*
 * Request body from the caller's descriptor.  A nonblocking pipe with
 * nothing to read pauses the upload until the descriptor is readable;
 * EOF ends the chunked body.
 */
static size_t
request_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct docker_request	*req = arg;
	ssize_t			 n;

	if (req->cancelled)
		return CURL_READFUNC_ABORT;
	do {
		n = read(req->body_fd, buf, size * nitems);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (size_t)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (event_add(req->body_ev, NULL) == -1) {
			req->read_errno = ENOMEM;
			return CURL_READFUNC_ABORT;
		}
		req->send_paused = 1;
		return CURL_READFUNC_PAUSE;
	}
	req->read_errno = errno;
	return CURL_READFUNC_ABORT;
}

static void
request_body_ready(evutil_socket_t fd, short events, void *arg)
{
	struct docker_request	*req = arg;
	struct docker		*d = req->docker;

	(void)fd;
	(void)events;
	if (req->cancelled)
		return;
	req->send_paused = 0;
	request_sync_pause(req);
	docker_settle(d);
}

/* --- ping and version ------------------------------------------------ */

/*
 * GET /_ping, then GET /version: the engine must answer, and must serve
 * API 1.41 (ApiVersion >= 1.41 >= MinAPIVersion).
 */
int
docker_ping_version(struct docker *d, docker_version_cb cb, void *arg)
{
	struct docker_ping	*ping;

	if ((ping = calloc(1, sizeof(*ping))) == NULL)
		return -1;
	ping->docker = d;
	ping->cb = cb;
	ping->arg = arg;
	if (ping_step(ping, "/_ping", DOCKER_PING_MAX, ping_done) == -1) {
		free(ping);
		return -1;
	}
	return 0;
}

/* One GET of the sequence; the request owns ping until it is done. */
static int
ping_step(struct docker_ping *ping, const char *path, size_t max,
    docker_done_cb done)
{
	struct docker_request_spec	 spec;
	struct docker_request		*req;

	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.path = path;
	spec.max_response = max;
	spec.timeout_ms = DOCKER_PING_MS;
	spec.on_done = done;
	spec.arg = ping;
	if ((req = docker_request(ping->docker, &spec)) == NULL)
		return -1;
	req->release = free;
	return 0;
}

static void
ping_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct docker_ping	*ping = arg;
	char			 why[DOCKER_REASON_LEN];

	(void)req;
	if (status != 200 || len != 2 || memcmp(body, "OK", 2) != 0) {
		if (status == -1)
			(void)snprintf(why, sizeof(why), "ping: %s", reason);
		else
			(void)snprintf(why, sizeof(why), "ping: HTTP %d",
			    status);
		ping->cb(NULL, why, ping->arg);
		free(ping);
		return;
	}
	if (ping_step(ping, "/version", DOCKER_VERSION_MAX,
	    version_done) == -1) {
		ping->cb(NULL, "version: cannot start request", ping->arg);
		free(ping);
	}
}

static void
version_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct docker_ping		*ping = arg;
	struct docker_engine_version	 v;
	const char			*err;
	char				 why[DOCKER_REASON_LEN];

	(void)req;
	if (status == -1) {
		(void)snprintf(why, sizeof(why), "version: %s", reason);
		ping->cb(NULL, why, ping->arg);
	} else if (status != 200) {
		(void)snprintf(why, sizeof(why), "version: HTTP %d", status);
		ping->cb(NULL, why, ping->arg);
	} else if ((err = version_check(body, len, &v)) != NULL)
		ping->cb(NULL, err, ping->arg);
	else
		ping->cb(&v, NULL, ping->arg);
	free(ping);
}

/* "1.41" into 1 and 41; nothing else accepted. */
static int
api_version_parse(const char *s, int *major, int *minor)
{
	char	*end;
	long	 a, b;

	errno = 0;
	a = strtol(s, &end, 10);
	if (end == s || *end != '.' || a < 0 || a > 1000 || errno != 0)
		return -1;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end != '\0' || b < 0 || b > 1000 || errno != 0)
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

static int
version_string(json_t *obj, const char *key, char *dst, size_t size)
{
	json_t		*v = json_object_get(obj, key);
	const char	*s;
	size_t		 i;

	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s) || strlen(s) >= size)
		return -1;
	/* It ends up in logs and status output: printable only. */
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return -1;
	(void)strlcpy(dst, s, size);
	return 0;
}

static const char *
version_check(const char *body, size_t len, struct docker_engine_version *v)
{
	json_t	*obj;
	int	 maj, min, minmaj, minmin, bad;

	memset(v, 0, sizeof(*v));
	obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return "version: malformed response";
	}
	bad = version_string(obj, "Version", v->version,
	    sizeof(v->version)) == -1 ||
	    version_string(obj, "ApiVersion", v->api_version,
	    sizeof(v->api_version)) == -1 ||
	    version_string(obj, "MinAPIVersion", v->min_api_version,
	    sizeof(v->min_api_version)) == -1;
	json_decref(obj);
	if (bad || api_version_parse(v->api_version, &maj, &min) == -1 ||
	    api_version_parse(v->min_api_version, &minmaj, &minmin) == -1)
		return "version: missing or malformed Version, ApiVersion "
		    "or MinAPIVersion";
	if (maj < 1 || (maj == 1 && min < 41))
		return "version: engine API older than " DOCKER_API_VERSION;
	if (minmaj > 1 || (minmaj == 1 && minmin > 41))
		return "version: engine no longer serves API "
		    DOCKER_API_VERSION;
	return NULL;
}

/* --- query strings --------------------------------------------------- */

/*
 * Percent-encode a query value: everything but RFC 3986 unreserved
 * characters.  Returns -1, with out emptied, if the result does not fit.
 */
int
docker_urlencode(const char *in, char *out, size_t outsize)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	size_t			 o = 0;

	if (outsize == 0)
		return -1;
	for (p = (const unsigned char *)in; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~') {
			if (outsize - o < 2)
				goto toolong;
			out[o++] = (char)*p;
		} else {
			if (outsize - o < 4)
				goto toolong;
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		}
	}
	out[o] = '\0';
	return 0;
toolong:
	out[0] = '\0';
	return -1;
}
