/*
 * http.c: netd's client for the control plane (see http.h).  A request
 * goes through two steps on netd's event loop: resolve the host libcurl
 * will connect to (the target, or the proxy when one applies) with
 * resolve.c, then run the transfer in libcurl's multi handle, whose
 * sockets and timer we watch with libevent.
 *
 * Every handle is set up so that libcurl reads no file and resolves no
 * name itself: no default CA file or directory (the bundle is a blob),
 * a pin only in its "sha256//" form (anything else would be a file
 * name), no .netrc, no environment proxy (netd has none anyway, and we
 * set CURLOPT_PROXY explicitly), and every host name it will look up is
 * already in its DNS cache through CURLOPT_RESOLVE.
 *
 * Callers' callbacks run from our event handlers after libcurl has
 * returned, so they may start or cancel requests freely.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "http.h"
#include "log.h"
#include "resolve.h"

#define HTTP_HOST_LEN	WIRE_HOSTNAME_LEN

/* Where libcurl will open its connection: the target or the proxy. */
struct http_endpoint {
	char		 host[HTTP_HOST_LEN];	/* no brackets */
	long		 port;
	int		 literal;		/* an IP address: no lookup */
};

struct http_request {
	TAILQ_ENTRY(http_request) entry;
	struct http_client	*client;
	struct resolve_query	*query;
	CURL			*easy;
	struct curl_slist	*headers;
	struct curl_slist	*resolve;
	char			 method[8];
	char			*url;
	char			*body;
	char			 proxy[HTTP_PROXY_LEN];	/* "" direct */
	int			 https;
	struct http_endpoint	 target;
	struct http_endpoint	 connect;
	int			 parse_json;
	size_t			 max_response;
	long			 timeout_ms;
	struct timespec		 started;
	http_done_cb		 on_done;
	void			*arg;

	char			*resp;
	size_t			 resp_len;
	size_t			 resp_size;
	unsigned int		 added:1;	/* in the multi handle */
	unsigned int		 finishing:1;	/* on_done is running */
	unsigned int		 overflow:1;
	unsigned int		 nomem:1;
	char			 errbuf[CURL_ERROR_SIZE];
	char			 reason[HTTP_REASON_LEN];
};

struct http_client {
	struct event_base	*base;
	struct resolve		*resolve;
	CURLM			*multi;
	struct event		*timer;
	TAILQ_HEAD(, http_request) requests;
	size_t			 nrequests;
	struct curl_blob	 ca, cert, key;	/* our copies */
	char			*pin;
	int			 insecure;
	struct http_proxy	 proxy;
	long			 connect_timeout_ms;
};

/* One per descriptor libcurl asks us to watch (curl_multi_assign). */
struct http_socket {
	struct http_client	*client;
	struct event		*ev;
};

static int	 http_socket_cb(CURL *, curl_socket_t, int, void *, void *);
static int	 http_timer_cb(CURLM *, long, void *);
static void	 http_socket_event(evutil_socket_t, short, void *);
static void	 http_timer_event(evutil_socket_t, short, void *);
static void	 http_read_messages(struct http_client *);
static void	 request_resolved(const struct resolve_answer *,
		    const char *, void *);
static void	 request_finish(struct http_request *, CURLcode);
static void	 request_fail(struct http_request *, const char *);
static void	 request_destroy(struct http_request *);

/* --- configuration ----------------------------------------------------- */

/* "sha256//" and base64, one or more joined by ';': never a file name. */
static int
pin_valid(const char *pin)
{
	const char	*p = pin;
	size_t		 n;

	for (;;) {
		if (strncmp(p, "sha256//", 8) != 0)
			return 0;
		p += 8;
		n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789+/=");
		if (n != 44)	/* 32 bytes in base64 */
			return 0;
		p += n;
		if (*p == '\0')
			return 1;
		if (*p++ != ';')
			return 0;
	}
}

static int
blob_copy(struct curl_blob *blob, const void *data, size_t len)
{
	blob->data = NULL;
	blob->len = 0;
	blob->flags = CURL_BLOB_COPY;
	if (data == NULL || len == 0)
		return 0;
	if ((blob->data = malloc(len)) == NULL)
		return -1;
	memcpy(blob->data, data, len);
	blob->len = len;
	return 0;
}

static void
blob_free(struct curl_blob *blob)
{
	if (blob->data != NULL)
		explicit_bzero(blob->data, blob->len);
	free(blob->data);
	blob->data = NULL;
	blob->len = 0;
}

static int
client_conf_valid(const struct http_client_conf *conf)
{
	const struct http_tls	*tls = &conf->tls;

	if (tls->pin != NULL && !pin_valid(tls->pin)) {
		log_warnx("http: the key pin must be sha256// and base64");
		return 0;
	}
	if ((tls->cert == NULL) != (tls->key == NULL)) {
		log_warnx("http: a client certificate needs its key, and a "
		    "key its certificate");
		return 0;
	}
	if (tls->ca_len > HTTP_CA_MAX || conf->connect_timeout_ms < 0 ||
	    memchr(conf->proxy.https_proxy, '\0', HTTP_PROXY_LEN) == NULL ||
	    memchr(conf->proxy.http_proxy, '\0', HTTP_PROXY_LEN) == NULL ||
	    memchr(conf->proxy.no_proxy, '\0', HTTP_NOPROXY_LEN) == NULL) {
		log_warnx("http: bad client configuration");
		return 0;
	}
	return 1;
}

struct http_client *
http_client_new(struct event_base *base, struct resolve *resolve,
    const struct http_client_conf *conf)
{
	struct http_client	*c;

	if (!client_conf_valid(conf))
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = base;
	c->resolve = resolve;
	TAILQ_INIT(&c->requests);
	c->insecure = conf->tls.insecure != 0;
	c->proxy = conf->proxy;
	c->connect_timeout_ms = conf->connect_timeout_ms != 0 ?
	    conf->connect_timeout_ms : HTTP_CONNECT_TIMEOUT;
	if (blob_copy(&c->ca, conf->tls.ca, conf->tls.ca_len) == -1 ||
	    blob_copy(&c->cert, conf->tls.cert, conf->tls.cert_len) == -1 ||
	    blob_copy(&c->key, conf->tls.key, conf->tls.key_len) == -1 ||
	    (conf->tls.pin != NULL &&
	    (c->pin = strdup(conf->tls.pin)) == NULL) ||
	    (c->timer = evtimer_new(base, http_timer_event, c)) == NULL ||
	    (c->multi = curl_multi_init()) == NULL) {
		log_warnx("%s: out of memory", __func__);
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	if (c->insecure)
		log_warnx("http: TLS verification is OFF (insecure): the "
		    "control plane is not authenticated");
	return c;
}

void
http_client_free(struct http_client *c)
{
	struct http_request	*req;

	if (c == NULL)
		return;
	while ((req = TAILQ_FIRST(&c->requests)) != NULL)
		request_destroy(req);
	if (c->multi != NULL)
		curl_multi_cleanup(c->multi);
	if (c->timer != NULL)
		event_free(c->timer);
	blob_free(&c->ca);
	blob_free(&c->cert);
	blob_free(&c->key);
	free(c->pin);
	free(c);
}

size_t
http_inflight(const struct http_client *c)
{
	return c->nrequests;
}

/* --- libcurl on libevent ------------------------------------------------ */

static int
http_socket_cb(CURL *easy, curl_socket_t fd, int what, void *arg,
    void *sockp)
{
	struct http_client	*c = arg;
	struct http_socket	*s = sockp;
	short			 events = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s != NULL) {
			event_free(s->ev);
			free(s);
			curl_multi_assign(c->multi, fd, NULL);
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
		s->client = c;
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_free(s->ev);
		s->ev = NULL;
	}
	if ((s->ev = event_new(c->base, fd, events, http_socket_event,
	    s)) == NULL || event_add(s->ev, NULL) == -1) {
		log_warnx("%s: cannot watch descriptor %d", __func__, (int)fd);
		return -1;
	}
	return 0;
}

/* libcurl's one timer: -1 removes it, 0 means as soon as possible. */
static int
http_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct http_client	*c = arg;
	struct timeval		 tv;

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(c->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv);
}

static void
http_socket_event(evutil_socket_t fd, short events, void *arg)
{
	struct http_socket	*s = arg;
	struct http_client	*c = s->client;
	int			 flags = 0, running;

	if (events & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (events & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* s may be freed inside this call (CURL_POLL_REMOVE). */
	curl_multi_socket_action(c->multi, fd, flags, &running);
	http_read_messages(c);
}

static void
http_timer_event(evutil_socket_t fd, short events, void *arg)
{
	struct http_client	*c = arg;
	int			 running;

	(void)fd;
	(void)events;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_read_messages(c);
}

/*
 * Outside libcurl now, so callers' callbacks may add and remove handles;
 * removing one also drops its pending message, so none is seen freed.
 */
static void
http_read_messages(struct http_client *c)
{
	struct http_request	*req;
	CURLMsg			*msg;
	char			*priv;
	int			 left;

	while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    &priv) != CURLE_OK || priv == NULL)
			fatalx("%s: transfer without a request", __func__);
		req = (struct http_request *)(void *)priv;
		request_finish(req, msg->data.result);
	}
}

/* --- NO_PROXY ----------------------------------------------------------- */

static int
cidr_match(const char *token, const char *host)
{
	unsigned char	 net[16], addr[16];
	char		 buf[WIRE_ADDR_LEN + 4], *slash, *end;
	int		 family, bytes;
	long		 bits;

	if (strlcpy(buf, token, sizeof(buf)) >= sizeof(buf) ||
	    (slash = strchr(buf, '/')) == NULL)
		return 0;
	*slash++ = '\0';
	family = strchr(buf, ':') != NULL ? AF_INET6 : AF_INET;
	bytes = family == AF_INET6 ? 16 : 4;
	errno = 0;
	bits = strtol(slash, &end, 10);
	if (*slash == '\0' || *end != '\0' || bits < 0 || bits > bytes * 8 ||
	    inet_pton(family, buf, net) != 1 ||
	    inet_pton(family, host, addr) != 1)
		return 0;
	if (bits / 8 > 0 && memcmp(net, addr, bits / 8) != 0)
		return 0;
	if (bits % 8 == 0)
		return 1;
	return ((net[bits / 8] ^ addr[bits / 8]) &
	    (0xff << (8 - bits % 8)) & 0xff) == 0;
}

static int
no_proxy_token_match(const char *token, size_t len, const char *host)
{
	char		 t[HTTP_HOST_LEN];
	size_t		 hlen = strlen(host);

	if (len == 0 || len >= sizeof(t))
		return 0;
	memcpy(t, token, len);
	t[len] = '\0';
	if (strcmp(t, "*") == 0)
		return 1;
	if (strchr(t, '/') != NULL)
		return cidr_match(t, host);
	if (t[0] == '.') {
		memmove(t, t + 1, len);
		len--;
	}
	if (len == 0)
		return 0;
	if (strcasecmp(t, host) == 0)
		return 1;
	/* A domain also covers its subdomains, but not "xexample.com". */
	return hlen > len && host[hlen - len - 1] == '.' &&
	    strcasecmp(host + hlen - len, t) == 0;
}

int
http_no_proxy_match(const char *no_proxy, const char *host)
{
	const char	*p = no_proxy;
	size_t		 len;

	while (*p != '\0') {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (no_proxy_token_match(p, len, host))
			return 1;
		p += len;
	}
	return 0;
}

/* --- requests ----------------------------------------------------------- */

static int
header_valid(const char *h)
{
	size_t	 len = strlen(h);

	return len > 0 && len < HTTP_HEADER_MAX && strchr(h, ':') != NULL &&
	    h[0] != ':' && strpbrk(h, "\r\n") == NULL;
}

static int
spec_valid(const struct http_request_spec *spec)
{
	static const char *const methods[] = {
		"GET", "POST", "PUT", "PATCH", "DELETE"
	};
	size_t	 i;

	if (spec->method == NULL || spec->url == NULL ||
	    spec->on_done == NULL || spec->timeout_ms < 0 ||
	    spec->max_response > HTTP_RESPONSE_MAX ||
	    strlen(spec->url) >= HTTP_URL_MAX)
		return 0;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(spec->method, methods[i]) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return 0;
	/* libcurl would turn a GET with a body into a POST. */
	if (spec->json != NULL && strcmp(spec->method, "GET") == 0)
		return 0;
	for (i = 0; spec->headers != NULL && spec->headers[i] != NULL; i++)
		if (!header_valid(spec->headers[i]))
			return 0;
	return 1;
}

/* Host (brackets dropped) and port of a URL libcurl has parsed. */
static int
endpoint_from_url(CURLU *u, struct http_endpoint *ep)
{
	char	*host = NULL, *port = NULL, *end;
	size_t	 len;
	int	 rc = -1;

	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		goto out;
	len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host[len - 1] = '\0';
		memmove(host, host + 1, len - 1);
	}
	if (strlcpy(ep->host, host, sizeof(ep->host)) >= sizeof(ep->host))
		goto out;
	ep->literal = resolve_literal(ep->host) != 0;
	errno = 0;
	ep->port = strtol(port, &end, 10);
	if (*end == '\0' && errno == 0 && ep->port > 0 && ep->port < 65536)
		rc = 0;
out:
	curl_free(host);
	curl_free(port);
	return rc;
}

/*
 * A URL we send to: http or https, a host, no user name or password
 * (credentials go in headers, never in a URL that might be logged).
 */
static int
url_parse(const char *url, int *https, struct http_endpoint *ep)
{
	CURLU	*u;
	char	*scheme = NULL, *user = NULL;
	int	 rc = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_USER, &user, 0) != CURLUE_NO_USER)
		goto out;
	if (strcmp(scheme, "https") == 0)
		*https = 1;
	else if (strcmp(scheme, "http") == 0)
		*https = 0;
	else
		goto out;
	rc = endpoint_from_url(u, ep);
out:
	curl_free(scheme);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The proxy URL as libcurl will get it, with an explicit port: libcurl's
 * default proxy port (1080) is not the scheme's, and the CURLOPT_RESOLVE
 * entry must name the port libcurl will connect to.
 */
static int
proxy_normalize(const char *proxy, struct http_endpoint *ep, char *out,
    size_t outsize)
{
	CURLU	*u;
	char	*scheme = NULL, *url = NULL, port[8];
	int	 rc = -1;

	if ((u = curl_url()) == NULL)
		return -1;
	if (curl_url_set(u, CURLUPART_URL, proxy, CURLU_GUESS_SCHEME) !=
	    CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) ||
	    endpoint_from_url(u, ep) == -1)
		goto out;
	(void)snprintf(port, sizeof(port), "%ld", ep->port);
	if (curl_url_set(u, CURLUPART_PORT, port, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    strlcpy(out, url, outsize) >= outsize)
		goto out;
	rc = 0;
out:
	curl_free(scheme);
	curl_free(url);
	curl_url_cleanup(u);
	return rc;
}

/*
 * The decision libcurl would make from HTTPS_PROXY, HTTP_PROXY and
 * NO_PROXY is made here instead, because it says which host must be
 * resolved; libcurl then gets a proxy with no exceptions, or none.
 */
static int
proxy_choose(struct http_request *req)
{
	struct http_client	*c = req->client;
	const char		*proxy;

	proxy = req->https ? c->proxy.https_proxy : c->proxy.http_proxy;
	if (proxy[0] == '\0' || http_no_proxy_match(c->proxy.no_proxy,
	    req->target.host)) {
		req->proxy[0] = '\0';
		req->connect = req->target;
		return 0;
	}
	return proxy_normalize(proxy, &req->connect, req->proxy,
	    sizeof(req->proxy));
}

static long
elapsed_ms(const struct timespec *since)
{
	struct timespec	 now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L +
	    (now.tv_nsec - since->tv_nsec) / 1000000L;
}

static void
request_reason(struct http_request *req, CURLcode result)
{
	if (req->overflow)
		(void)snprintf(req->reason, sizeof(req->reason),
		    "response larger than %zu bytes", req->max_response);
	else if (req->nomem)
		(void)strlcpy(req->reason, "out of memory for the response",
		    sizeof(req->reason));
	else if (result == CURLE_OPERATION_TIMEDOUT)
		(void)snprintf(req->reason, sizeof(req->reason),
		    "timed out after %ld ms", req->timeout_ms);
	else if (result == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		(void)strlcpy(req->reason, "public key pin mismatch: the "
		    "server's key is not one of pin-sha256",
		    sizeof(req->reason));
	else
		(void)snprintf(req->reason, sizeof(req->reason), "%s",
		    req->errbuf[0] != '\0' ? req->errbuf :
		    curl_easy_strerror(result));
}

/* Whole body in memory, up to the cap; past it the transfer stops. */
static size_t
request_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_request	*req = arg;
	size_t			 len = size * nmemb, want;
	char			*p;

	if (len > req->max_response - req->resp_len) {
		req->overflow = 1;
		return 0;
	}
	if (req->resp_len + len + 1 > req->resp_size) {
		want = req->resp_size == 0 ? 4096 : req->resp_size;
		while (want < req->resp_len + len + 1)
			want *= 2;
		if ((p = realloc(req->resp, want)) == NULL) {
			req->nomem = 1;
			return 0;
		}
		req->resp = p;
		req->resp_size = want;
	}
	memcpy(req->resp + req->resp_len, data, len);
	req->resp_len += len;
	req->resp[req->resp_len] = '\0';
	return len;
}

/* "host:port:addr,[addr6]" so that libcurl never resolves host itself. */
static int
request_resolve_entry(struct http_request *req,
    const struct resolve_answer *answer)
{
	char	 entry[HTTP_HOST_LEN + 16 + RESOLVE_ADDRS_MAX *
		    (WIRE_ADDR_LEN + 3)];
	size_t	 i, off;
	int	 n;

	n = snprintf(entry, sizeof(entry), "%s:%ld:", req->connect.host,
	    req->connect.port);
	if (n < 0 || (size_t)n >= sizeof(entry))
		return -1;
	off = n;
	for (i = 0; i < answer->naddrs; i++) {
		n = snprintf(entry + off, sizeof(entry) - off,
		    strchr(answer->addrs[i], ':') != NULL ? "%s[%s]" : "%s%s",
		    i > 0 ? "," : "", answer->addrs[i]);
		if (n < 0 || (size_t)n >= sizeof(entry) - off)
			return -1;
		off += n;
	}
	if ((req->resolve = curl_slist_append(NULL, entry)) == NULL)
		return -1;
	return 0;
}

/*
 * TLS for the target and for an https proxy alike: the CA blob and
 * nothing from disk; verification off only when asked, and said so.
 */
static int
request_setup_tls(struct http_request *req)
{
	struct http_client	*c = req->client;
	CURL			*e = req->easy;
	long			 verify = c->insecure ? 0L : 1L;
	int			 rc = 0;

	rc |= curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
	rc |= curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO, NULL);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY_CAPATH, NULL);
	if (c->ca.data != NULL) {
		rc |= curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &c->ca);
		rc |= curl_easy_setopt(e, CURLOPT_PROXY_CAINFO_BLOB, &c->ca);
	}
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify);
	rc |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify * 2);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYPEER, verify);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY_SSL_VERIFYHOST, verify * 2);
	rc |= curl_easy_setopt(e, CURLOPT_SSLVERSION,
	    (long)CURL_SSLVERSION_TLSv1_2);
	if (c->pin != NULL)
		rc |= curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, c->pin);
	if (c->cert.data != NULL) {
		rc |= curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
		rc |= curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &c->cert);
		rc |= curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
		rc |= curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &c->key);
	}
	if (c->insecure && (req->https || strncmp(req->proxy, "https:", 6) ==
	    0))
		log_warnx("http: %s %s without TLS verification (insecure)",
		    req->method, req->target.host);
	return rc == CURLE_OK ? 0 : -1;
}

/* Our headers first, then the caller's (checked by spec_valid()). */
static int
request_headers(struct http_request *req,
    const struct http_request_spec *spec)
{
	size_t	 i;

	req->headers = curl_slist_append(req->headers,
	    "Accept: application/json");
	if (req->headers != NULL)
		req->headers = curl_slist_append(req->headers,
		    req->body != NULL ? "Content-Type: application/json" :
		    "Content-Type:");
	if (req->headers != NULL)
		req->headers = curl_slist_append(req->headers, "Expect:");
	for (i = 0; spec->headers != NULL && spec->headers[i] != NULL &&
	    req->headers != NULL; i++)
		req->headers = curl_slist_append(req->headers,
		    spec->headers[i]);
	return req->headers != NULL ? 0 : -1;
}

static int
request_setup_body(struct http_request *req)
{
	CURL	*e = req->easy;
	int	 rc = 0;

	if (strcmp(req->method, "GET") == 0)
		rc |= curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	else {
		if (strcmp(req->method, "POST") != 0)
			rc |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST,
			    req->method);
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)(req->body != NULL ? strlen(req->body) : 0));
		rc |= curl_easy_setopt(e, CURLOPT_POSTFIELDS,
		    req->body != NULL ? req->body : "");
	}
	rc |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
	return rc == CURLE_OK ? 0 : -1;
}

/* What every handle gets: the one URL, no file, no lookup of our own. */
static int
request_setup(struct http_request *req, long timeout_ms)
{
	struct http_client	*c = req->client;
	CURL			*e;
	int			 rc = 0;

	if ((req->easy = e = curl_easy_init()) == NULL)
		return -1;
	rc |= curl_easy_setopt(e, CURLOPT_URL, req->url);
	rc |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	rc |= curl_easy_setopt(e, CURLOPT_PROXY, req->proxy);
	rc |= curl_easy_setopt(e, CURLOPT_NOPROXY, req->proxy[0] != '\0' ?
	    "" : "*");
	if (req->resolve != NULL)
		rc |= curl_easy_setopt(e, CURLOPT_RESOLVE, req->resolve);
	rc |= curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED);
	rc |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	rc |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1);
	rc |= curl_easy_setopt(e, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
	rc |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    c->connect_timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	rc |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
	rc |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, request_write);
	rc |= curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
	if (rc != CURLE_OK || request_setup_tls(req) == -1 ||
	    request_setup_body(req) == -1)
		return -1;
	return 0;
}

/* The connect host is known (or literal): hand the transfer to libcurl. */
static const char *
request_start(struct http_request *req)
{
	CURLMcode	 mc;
	long		 left;

	if ((left = req->timeout_ms - elapsed_ms(&req->started)) <= 0)
		return "timed out resolving the host";
	if (request_setup(req, left) == -1)
		return "cannot set up the transfer";
	if ((mc = curl_multi_add_handle(req->client->multi, req->easy)) !=
	    CURLM_OK)
		return curl_multi_strerror(mc);
	req->added = 1;
	return NULL;
}

static void
request_resolved(const struct resolve_answer *answer, const char *error,
    void *arg)
{
	struct http_request	*req = arg;
	const char		*why;

	req->query = NULL;
	if (error != NULL) {
		request_fail(req, error);
		return;
	}
	if (request_resolve_entry(req, answer) == -1) {
		request_fail(req, "out of memory");
		return;
	}
	if ((why = request_start(req)) != NULL)
		request_fail(req, why);
}

/* TLS without a CA to check against is refused, not attempted. */
static int
request_can_verify(const struct http_request *req)
{
	const struct http_client	*c = req->client;

	if (c->ca.data != NULL || c->insecure)
		return 1;
	return !req->https && strncmp(req->proxy, "https:", 6) != 0;
}

static struct http_request *
request_new(struct http_client *c, const struct http_request_spec *spec)
{
	struct http_request	*req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->client = c;
	TAILQ_INSERT_TAIL(&c->requests, req, entry);
	c->nrequests++;
	(void)strlcpy(req->method, spec->method, sizeof(req->method));
	req->parse_json = spec->parse_json;
	req->max_response = spec->max_response != 0 ? spec->max_response :
	    HTTP_RESPONSE_DEFAULT;
	req->timeout_ms = spec->timeout_ms != 0 ? spec->timeout_ms :
	    HTTP_TIMEOUT_DEFAULT;
	(void)clock_gettime(CLOCK_MONOTONIC, &req->started);
	req->on_done = spec->on_done;
	req->arg = spec->arg;
	if ((req->url = strdup(spec->url)) == NULL || (spec->json != NULL &&
	    (req->body = strdup(spec->json)) == NULL)) {
		request_destroy(req);
		return NULL;
	}
	return req;
}

struct http_request *
http_request(struct http_client *c, const struct http_request_spec *spec)
{
	struct http_request	*req;
	const char		*why = NULL;

	if (!spec_valid(spec)) {
		log_warnx("%s: refusing a malformed request", __func__);
		return NULL;
	}
	if ((req = request_new(c, spec)) == NULL) {
		log_warnx("%s: out of memory", __func__);
		return NULL;
	}
	if (url_parse(req->url, &req->https, &req->target) == -1)
		why = "not an http(s) URL with a host and no user name";
	else if (proxy_choose(req) == -1)
		why = "the proxy is not an http(s) URL";
	else if (!request_can_verify(req))
		why = "no CA bundle to verify the server with";
	else if (request_headers(req, spec) == -1)
		why = "out of memory";
	else if (req->connect.literal)
		why = request_start(req);
	else if ((req->query = resolve_lookup(c->resolve, req->connect.host,
	    request_resolved, req)) == NULL)
		why = "cannot start resolving";
	if (why != NULL) {
		/* Not the URL: it may carry a token in its query. */
		log_warnx("%s: %s %s: %s", __func__, req->method,
		    req->target.host, why);
		request_destroy(req);
		return NULL;
	}
	log_debug("http: %s %s%s%s", req->method, req->target.host,
	    req->proxy[0] != '\0' ? " via proxy " : "",
	    req->proxy[0] != '\0' ? req->connect.host : "");
	return req;
}

void
http_request_cancel(struct http_request *req)
{
	if (req == NULL || req->finishing)
		return;
	request_destroy(req);
}

/*
 * Retry-After: delta-seconds or an HTTP-date (RFC 9110 10.2.3).  A date
 * must start with its day name, as all three forms of 5.6.7 do, so that
 * curl_getdate(), which reads many more forms, sees only those.
 */
long
http_retry_after_parse(const char *value, long long now)
{
	unsigned long long	 seconds = 0;
	long long		 when;
	size_t			 i, digits;

	digits = strspn(value, "0123456789");
	if (digits > 0 && value[digits] == '\0') {
		for (i = 0; i < digits; i++) {
			seconds = seconds * 10 + (unsigned long long)(value[i] -
			    '0');
			if (seconds > HTTP_RETRY_AFTER_MAX)
				return HTTP_RETRY_AFTER_MAX;
		}
		return (long)seconds;
	}
	if (!((value[0] >= 'A' && value[0] <= 'Z') ||
	    (value[0] >= 'a' && value[0] <= 'z')))
		return -1;
	for (i = 0; value[i] != '\0'; i++)
		if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
			return -1;
	if ((when = (long long)curl_getdate(value, NULL)) == -1)
		return -1;
	if (when <= now)
		return 0;
	return when - now > HTTP_RETRY_AFTER_MAX ? HTTP_RETRY_AFTER_MAX :
	    (long)(when - now);
}

/* A header of the final answer (not a proxy's), if it came exactly once. */
static const char *
request_header_once(struct http_request *req, const char *name)
{
	struct curl_header	*h;

	if (curl_easy_header(req->easy, name, 0, CURLH_HEADER, -1, &h) !=
	    CURLHE_OK || h->amount != 1)
		return NULL;
	return h->value;
}

/*
 * Date and Retry-After.  A Retry-After date is counted from the
 * server's Date when there is one, so that our clock's error does not
 * stretch or shrink the wait the server asked for.
 */
static void
request_timing_headers(struct http_request *req, struct http_response *resp)
{
	const char	*value;
	long long	 date;

	resp->date = 0;
	resp->retry_after = -1;
	if ((value = request_header_once(req, "Date")) != NULL &&
	    (date = (long long)curl_getdate(value, NULL)) > 0)
		resp->date = date;
	if ((value = request_header_once(req, "Retry-After")) != NULL)
		resp->retry_after = http_retry_after_parse(value,
		    resp->date != 0 ? resp->date : (long long)time(NULL));
}

/* The transfer is over: say how, then free. */
static void
request_finish(struct http_request *req, CURLcode result)
{
	struct http_response	 resp;
	json_error_t		 jerr;
	long			 status = -1;

	memset(&resp, 0, sizeof(resp));
	resp.retry_after = -1;
	if (result == CURLE_OK) {
		if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE,
		    &status) != CURLE_OK || status < 100 || status > 999) {
			status = -1;
			(void)strlcpy(req->reason, "no HTTP status",
			    sizeof(req->reason));
		}
	} else
		request_reason(req, result);
	/* Whatever the caller does with it, a wrong key is worth a warning. */
	if (result == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
		log_warnx("http: %s %s: %s", req->method, req->target.host,
		    req->reason);
	if (status != -1)
		request_timing_headers(req, &resp);
	resp.status = (int)status;
	resp.error = status == -1 ? req->reason : NULL;
	resp.body = req->resp != NULL ? req->resp : "";
	resp.len = req->resp_len;
	if (status != -1 && req->parse_json) {
		resp.json = json_loadb(resp.body, resp.len,
		    JSON_REJECT_DUPLICATES, &jerr);
		if (resp.json == NULL)
			resp.json_error = "response body is not JSON";
	}
	log_debug("http: %s %s done: %d%s%s", req->method, req->target.host,
	    resp.status, resp.error != NULL ? " " : "",
	    resp.error != NULL ? resp.error : "");
	req->finishing = 1;
	req->on_done(req, &resp, req->arg);
	json_decref(resp.json);
	request_destroy(req);
}

/* A request that did not get to libcurl fails like a transfer would. */
static void
request_fail(struct http_request *req, const char *why)
{
	struct http_response	 resp;

	if (why != req->reason)
		(void)strlcpy(req->reason, why, sizeof(req->reason));
	memset(&resp, 0, sizeof(resp));
	resp.status = -1;
	resp.error = req->reason;
	resp.body = "";
	resp.retry_after = -1;
	log_debug("http: %s %s failed: %s", req->method, req->target.host,
	    req->reason);
	req->finishing = 1;
	req->on_done(req, &resp, req->arg);
	request_destroy(req);
}

static void
request_destroy(struct http_request *req)
{
	struct http_client	*c = req->client;

	if (req->query != NULL)
		resolve_cancel(req->query);
	if (req->added)
		curl_multi_remove_handle(c->multi, req->easy);
	if (req->easy != NULL)
		curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	curl_slist_free_all(req->resolve);
	TAILQ_REMOVE(&c->requests, req, entry);
	c->nrequests--;
	free(req->url);
	free(req->body);
	free(req->resp);
	free(req);
}

/* --- the CA bundle ------------------------------------------------------ */

int
http_ca_read(const char *path, char **buf, size_t *len)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 off = 0;
	char		*p;
	int		 fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > HTTP_CA_MAX) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	if ((p = malloc(st.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		if ((n = read(fd, p + off, st.st_size - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		free(p);
		errno = EIO;
		return -1;
	}
	p[off] = '\0';
	*buf = p;
	*len = off;
	return 0;
}
