/*
 * http.h: netd's HTTP and HTTPS client for the control plane.  libcurl's
 * multi_socket interface runs on netd's libevent loop: nothing blocks and
 * no thread is started (netd's seccomp filter forbids clone).  Host names
 * are resolved by resolve.c and handed to libcurl as CURLOPT_RESOLVE
 * entries, so libcurl's own (threaded) resolver is never reached.
 *
 * TLS verification is always on, against the CA bundle given in memory
 * (read before the sandbox: netd reads no file afterwards), optionally
 * narrowed to a pinned server key.  Only the explicit insecure flag turns
 * it off, and every request made that way logs a warning.  Only http and
 * https, no redirects followed, no proxy unless one is given here: netd
 * has an empty environment, so HTTPS_PROXY, HTTP_PROXY and NO_PROXY come
 * in through struct http_proxy.
 *
 * Before the sandbox the caller runs curl_global_init() (OpenSSL reads
 * its configuration then) and json_object_seed(0).  The resolver given
 * to http_client_new() must outlive the client.  Callbacks are never
 * called from inside http_request() or http_request_cancel(); a request
 * handle is valid until its done callback returns or it is cancelled.
 */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct resolve;
struct http_client;
struct http_request;

#define HTTP_RESPONSE_DEFAULT	(1024 * 1024)
#define HTTP_RESPONSE_MAX	(16 * 1024 * 1024)
#define HTTP_TIMEOUT_DEFAULT	30000L		/* ms, when a spec says 0 */
#define HTTP_CONNECT_TIMEOUT	10000L		/* ms */
#define HTTP_URL_MAX		2048
#define HTTP_HEADER_MAX		8192
#define HTTP_PROXY_LEN		512
#define HTTP_NOPROXY_LEN	1024
#define HTTP_REASON_LEN		256
#define HTTP_CA_MAX		(4 * 1024 * 1024)
#define HTTP_RETRY_AFTER_MAX	86400L		/* s; longer is taken as this */

struct http_tls {
	const void	*ca;		/* PEM bundle, copied; NULL: no https */
	size_t		 ca_len;
	const char	*pin;		/* "sha256//BASE64[;...]" or NULL */
	const void	*cert;		/* PEM client certificate or NULL */
	size_t		 cert_len;
	const void	*key;		/* PEM private key, with cert */
	size_t		 key_len;
	int		 insecure;	/* 1: no verification at all (warned) */
};

/* The seed agents' proxy variables, as values; "" means unset. */
struct http_proxy {
	char		 https_proxy[HTTP_PROXY_LEN];	/* for https URLs */
	char		 http_proxy[HTTP_PROXY_LEN];	/* for http URLs */
	char		 no_proxy[HTTP_NOPROXY_LEN];	/* see below */
};

struct http_client_conf {
	struct http_tls		 tls;
	struct http_proxy	 proxy;
	long			 connect_timeout_ms;	/* 0: default */
};

struct http_response {
	int		 status;	/* HTTP status, -1: no answer */
	const char	*error;		/* why, when status is -1 */
	const char	*body;		/* NUL-terminated, never NULL */
	size_t		 len;
	json_t		*json;		/* parsed body (parse_json), borrowed */
	const char	*json_error;	/* parse_json, body not JSON */
	/*
	 * From the answer's headers, whatever its status: Retry-After as
	 * seconds from now (an HTTP-date counted from the answer's Date,
	 * or from our clock without one), -1 when absent, repeated or
	 * unreadable; Date as unix seconds, 0 when absent or unreadable.
	 */
	long		 retry_after;
	long long	 date;
};

typedef void	(*http_done_cb)(struct http_request *,
		    const struct http_response *, void *arg);

struct http_request_spec {
	const char		*method;	/* GET POST PUT PATCH DELETE */
	const char		*url;		/* http:// or https:// only */
	const char		*json;		/* body (application/json) */
	const char *const	*headers;	/* "Name: value", ..., NULL */
	int			 parse_json;	/* fill response json */
	size_t			 max_response;	/* 0: HTTP_RESPONSE_DEFAULT */
	long			 timeout_ms;	/* all of it; 0: the default */
	http_done_cb		 on_done;
	void			*arg;
};

/* NULL on a bad configuration (logged). */
struct http_client	*http_client_new(struct event_base *, struct resolve *,
			    const struct http_client_conf *);
/* Cancels everything silently; not from inside a callback. */
void			 http_client_free(struct http_client *);
size_t			 http_inflight(const struct http_client *);

/* NULL if the spec is refused (logged); on_done is then not called. */
struct http_request	*http_request(struct http_client *,
			    const struct http_request_spec *);
void			 http_request_cancel(struct http_request *);

/*
 * Does NO_PROXY exempt host (no brackets) from the proxy?  Comma or
 * space separated: "*", names matching themselves and their subdomains
 * (a leading dot is optional), IP addresses and CIDR blocks.
 */
int			 http_no_proxy_match(const char *no_proxy,
			    const char *host);
/*
 * A Retry-After value (RFC 9110 10.2.3): delta-seconds, or an HTTP-date
 * taken relative to now (unix seconds).  Seconds to wait, 0 for a date
 * already past, at most HTTP_RETRY_AFTER_MAX; -1 if it is neither.
 */
long			 http_retry_after_parse(const char *value,
			    long long now);
/* Read a CA bundle before the sandbox; *buf is NUL-terminated.  0 or -1. */
int			 http_ca_read(const char *path, char **buf,
			    size_t *len);

#endif
