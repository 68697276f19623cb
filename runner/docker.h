/*
 * docker.h: the runner's asynchronous HTTP/1.1 client for the Docker
 * Engine API over its unix socket.  libcurl's multi_socket interface is
 * driven by the runner's libevent loop: nothing blocks, no threads.
 *
 * Every path gets the "/v1.41" prefix here, so callers write
 * "/containers/json?all=1" and the daemon can never silently answer with
 * another API version's semantics.  Query values are the caller's to
 * encode (docker_urlencode()).
 *
 * Before the sandbox the caller runs curl_global_init() and
 * json_object_seed(0): both read files the runner may not open later.
 *
 * Callbacks are never called from inside docker_request() or
 * docker_request_cancel(); they run from the event loop.  A request
 * handle is valid until its done callback returns or until
 * docker_request_cancel(), after which nothing of that request is called.
 */
#ifndef BERTH_DOCKER_H
#define BERTH_DOCKER_H

#include <stddef.h>

struct event_base;
struct docker;
struct docker_request;

#define DOCKER_API_VERSION	"1.41"
#define DOCKER_BUFFER_DEFAULT	(4 * 1024 * 1024)
#define DOCKER_BUFFER_MAX	(256 * 1024 * 1024)
#define DOCKER_ERROR_BODY_MAX	(64 * 1024)	/* STREAM mode, non-2xx */
#define DOCKER_PATH_MAX		8192
#define DOCKER_REASON_LEN	256
#define DOCKER_VERSION_LEN	64

enum docker_response_mode {
	DOCKER_BUFFERED = 0,	/* whole body, capped; over the cap fails */
	DOCKER_STREAM		/* 2xx body passed on chunk by chunk */
};

enum docker_body_source {
	DOCKER_BODY_NONE = 0,
	DOCKER_BODY_BUFFER,	/* body, body_len: sent with Content-Length */
	DOCKER_BODY_FD		/* body_fd read to EOF, sent chunked */
};

/*
 * The request is over.  status is the HTTP status, or -1 when there is
 * no usable answer (transport error, timeout, response over its cap, a
 * stream consumer that refused data, unreadable body fd); reason then
 * says why.  body is NUL-terminated, never NULL: the whole response in
 * BUFFERED mode; in STREAM mode empty on 2xx and the (truncated to
 * DOCKER_ERROR_BODY_MAX) error body otherwise.
 */
typedef void	(*docker_done_cb)(struct docker_request *, int status,
		    const char *reason, const char *body, size_t len,
		    void *arg);

/*
 * STREAM mode: bytes of a 2xx response as they arrive, at most 16 KiB at
 * a time.  Return 0 to go on, -1 to stop the transfer (done then
 * reports -1).
 */
typedef int	(*docker_chunk_cb)(struct docker_request *, const char *data,
		    size_t len, void *arg);

struct docker_request_spec {
	const char		*method;	/* GET POST PUT DELETE HEAD */
	const char		*path;		/* "/containers/json?all=1" */
	const char		*content_type;	/* NULL: none sent */
	enum docker_body_source	 body_source;
	const void		*body;		/* copied */
	size_t			 body_len;
	int			 body_fd;	/* caller's, not closed here */
	enum docker_response_mode mode;
	size_t			 max_response;	/* BUFFERED; 0: 4 MiB */
	long			 timeout_ms;	/* total; 0: none (follow) */
	docker_chunk_cb		 on_chunk;	/* STREAM */
	docker_done_cb		 on_done;
	void			*arg;
};

struct docker_engine_version {
	char	 version[DOCKER_VERSION_LEN];	/* "20.10.24+dfsg1" */
	char	 api_version[16];		/* highest it serves */
	char	 min_api_version[16];		/* lowest it serves */
};

/* Exactly one of version and error is not NULL. */
typedef void	(*docker_version_cb)(const struct docker_engine_version *,
		    const char *error, void *arg);

/* docker_new opens nothing; docker_free cancels all, not from a callback. */
struct docker	*docker_new(struct event_base *, const char *socket_path);
void		 docker_free(struct docker *);
size_t		 docker_inflight(const struct docker *);

struct docker_request *docker_request(struct docker *,
		    const struct docker_request_spec *);
struct docker_request *docker_call(struct docker *, const char *method,
		    const char *path, const char *json, long timeout_ms,
		    docker_done_cb, void *);
void		 docker_request_cancel(struct docker_request *);
/* STREAM flow control: stop reading; resume takes effect from the loop. */
void		 docker_request_pause(struct docker_request *);
void		 docker_request_resume(struct docker_request *);

/* GET /_ping then /version; refuses an engine that cannot serve 1.41. */
int		 docker_ping_version(struct docker *, docker_version_cb,
		    void *);
/* Percent-encode a query value; -1 if it does not fit. */
int		 docker_urlencode(const char *, char *, size_t);

#endif /* BERTH_DOCKER_H */
