/*
 * ws.c: netd's WebSocket client (see ws.h).  A connection goes through
 * resolve (resolve.c), connect (each address in turn, TLS on top for
 * wss), our own HTTP/1.1 upgrade, then frames through libwslay, whose
 * event API reads from and writes to the bufferevent's buffers.
 *
 * Three rules keep the callbacks safe.  The caller's callbacks run
 * only from our event handlers, with `calling' set; while it is set,
 * ws_free() only marks the connection dead and ws_send_*()/ws_close()
 * only queue, and the handler finishes the job once the callback has
 * returned.  Nothing is torn down while libwslay is on the stack.  And
 * on_close is always delivered from its own event, after the
 * connection's resources are gone.
 *
 * The URL's query string stays in the request line: every log line and
 * every reason uses ws->where or the bare host.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <wslay/wslay.h>

#include "berth.h"
#include "log.h"
#include "resolve.h"
#include "ws.h"

/* RFC 6455 1.3: appended to the key before hashing. */
#define WS_GUID			"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_KEY_BYTES		16
#define WS_HEAD_FIELDS_MAX	100
/* libwslay stops writing into the bufferevent above this much. */
#define WS_OUTPUT_HIGH		(256 * 1024)

enum ws_state {
	WS_RESOLVING,
	WS_CONNECTING,		/* TCP, and TLS for wss */
	WS_HANDSHAKE,		/* the upgrade request is out */
	WS_OPEN,
	WS_DONE			/* gone; on_close delivered or due */
};

/* Who sent the first close frame. */
enum ws_closer {
	WS_CLOSER_NONE,
	WS_CLOSER_US,
	WS_CLOSER_PEER
};

struct ws {
	struct event_base	*base;
	struct resolve		*resolve;
	struct ws_url		 url;
	char			 where[WS_URL_MAX];	/* no query */
	struct ws_options	 opts;
	struct ws_callbacks	 cb;
	void			*arg;
	enum ws_state		 state;

	/* Opening. */
	struct resolve_query	*query;
	struct resolve_answer	 answer;
	size_t			 next_addr;
	char			 addr[WIRE_ADDR_LEN];	/* being tried */
	SSL_CTX			*tls;			/* wss only */
	struct evbuffer		*request;
	char			 accept[WS_ACCEPT_LEN];
	struct event		*open_timer;

	/* Open. */
	struct bufferevent	*bev;
	wslay_event_context_ptr	 wslay;
	struct event		*ping_timer;
	struct event		*pong_timer;
	struct event		*close_timer;
	uint64_t		 pings;
	enum ws_closer		 closer;
	uint16_t		 close_code;		/* ws_close()'s */
	char			 close_reason[WS_REASON_LEN];

	/* The end, for on_close. */
	struct event		*deliver;
	uint16_t		 end_code;
	char			 end_reason[WS_REASON_LEN];
	int			 end_clean;

	unsigned int		 calling:1;	/* in a caller's callback */
	unsigned int		 dead:1;	/* ws_free() from one */
	unsigned int		 awaiting_pong:1;
};

static void	 ws_resolved(const struct resolve_answer *, const char *,
		    void *);
static void	 ws_connect_next(struct ws *, const char *);
static void	 ws_read_event(struct bufferevent *, void *);
static void	 ws_write_event(struct bufferevent *, void *);
static void	 ws_bev_event(struct bufferevent *, short, void *);
static void	 ws_open_timeout(evutil_socket_t, short, void *);
static void	 ws_ping_event(evutil_socket_t, short, void *);
static void	 ws_pong_timeout(evutil_socket_t, short, void *);
static void	 ws_close_timeout(evutil_socket_t, short, void *);
static void	 ws_deliver_event(evutil_socket_t, short, void *);
static void	 ws_pump(struct ws *);
static void	 ws_pump_out(struct ws *);
static void	 ws_conclude(struct ws *, const char *);
static void	 ws_fail(struct ws *, uint16_t, const char *, ...)
		    __attribute__((__format__(printf, 3, 4)));
static int	 ws_why(char *, size_t, const char *, ...)
		    __attribute__((__format__(printf, 3, 4)));

/* --- small helpers ------------------------------------------------------- */

/* Fill a caller's reason buffer (which may be NULL); always -1. */
static int
ws_why(char *why, size_t why_size, const char *fmt, ...)
{
	va_list	 ap;

	if (why != NULL && why_size > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* Reasons end up in logs: anything not printable ASCII becomes '?'. */
static void
ws_printable(char *dst, size_t size, const uint8_t *src, size_t len)
{
	size_t	 i;

	if (size == 0)
		return;
	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? (char)src[i] : '?';
	dst[len] = '\0';
}

static int
ws_is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
ws_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
ws_is_hex(int c)
{
	return ws_is_digit(c) || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* RFC 9110 5.6.2: the characters of a header name. */
static int
ws_is_tchar(int c)
{
	return ws_is_alpha(c) || ws_is_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Well-formed UTF-8: no overlong forms, surrogates or past U+10FFFF. */
static int
ws_utf8_valid(const uint8_t *s, size_t len)
{
	size_t		 i = 0, n, k;
	uint32_t	 cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

/* RFC 6455 7.4: the codes an endpoint may put in its close frame. */
static int
ws_code_sendable(uint16_t code)
{
	return code == 1000 || code == 1001 || code == 1002 ||
	    code == 1003 || (code >= 1007 && code <= 1011) ||
	    (code >= 3000 && code <= 4999);
}

static const char *
ws_code_text(uint16_t code)
{
	switch (code) {
	case WS_CLOSE_NORMAL:
		return "closed normally";
	case WS_CLOSE_GOING_AWAY:
		return "going away";
	case WS_CLOSE_PROTOCOL:
		return "protocol error";
	case WS_CLOSE_BAD_DATA:
		return "invalid UTF-8 in a text message";
	case WS_CLOSE_TOO_BIG:
		return "message too big";
	default:
		return "closed";
	}
}

/* --- URLs --------------------------------------------------------------- */

/*
 * A host name of labels of 1..63 letters, digits, '-' and '_' (not at
 * either end), or a dotted-quad IPv4 address.  A name whose last label
 * is numeric must be an address: "1.2.3" or "0x7f.1" are refused
 * rather than guessed at.
 */
static int
ws_host_valid(const char *host)
{
	size_t	 len = strlen(host), i, label = 0, start = 0;
	int	 numeric = 1;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i == len || host[i] == '.') {
			if (label == 0 || label > 63 || host[start] == '-' ||
			    host[i - 1] == '-')
				return 0;
			if (i == len)
				break;
			label = 0;
			numeric = 1;
			start = i + 1;
			continue;
		}
		if (!ws_is_alpha(host[i]) && !ws_is_digit(host[i]) &&
		    host[i] != '-' && host[i] != '_')
			return 0;
		if (!ws_is_digit(host[i]))
			numeric = 0;
		label++;
	}
	if (numeric && resolve_literal(host) != 4)
		return 0;
	return 1;
}

/* RFC 3986: pchar and '/', and '?' as well in the query. */
static int
ws_target_char(int c, int query)
{
	if (ws_is_alpha(c) || ws_is_digit(c))
		return 1;
	if (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c) != NULL)
		return 1;
	return query && c == '?';
}

static int
ws_target_valid(const char *t, size_t *path_len)
{
	size_t	 i;
	int	 query = 0;

	*path_len = strlen(t);
	if (t[0] != '/')
		return 0;
	for (i = 0; t[i] != '\0'; i++) {
		if (t[i] == '%') {
			if (!ws_is_hex(t[i + 1]) || !ws_is_hex(t[i + 2]))
				return 0;
			i += 2;
			continue;
		}
		if (t[i] == '?' && !query) {
			query = 1;
			*path_len = i;
			continue;
		}
		if (!ws_target_char((unsigned char)t[i], query))
			return 0;
	}
	return 1;
}

int
ws_url_parse(const char *url, struct ws_url *u, char *why, size_t why_size)
{
	const char	*p, *auth_end, *host_end, *after, *d;
	size_t		 len, i, hlen;
	unsigned long	 port;

	memset(u, 0, sizeof(*u));
	if ((len = strnlen(url, WS_URL_MAX)) == WS_URL_MAX)
		return ws_why(why, why_size, "URL of %d bytes or more",
		    WS_URL_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 ||
		    (unsigned char)url[i] >= 0x7f)
			return ws_why(why, why_size, "control character, space "
			    "or non-ASCII byte in the URL");
	if (strncasecmp(url, "ws://", 5) == 0) {
		p = url + 5;
		u->port = 80;
	} else if (strncasecmp(url, "wss://", 6) == 0) {
		p = url + 6;
		u->tls = 1;
		u->port = 443;
	} else
		return ws_why(why, why_size, "not a ws:// or wss:// URL");
	if (strchr(p, '#') != NULL)
		return ws_why(why, why_size, "fragment in the URL");

	auth_end = p + strcspn(p, "/?");
	if (memchr(p, '@', auth_end - p) != NULL)
		return ws_why(why, why_size, "user information in the URL");
	if (p == auth_end)
		return ws_why(why, why_size, "no host in the URL");
	if (*p == '[') {
		if ((host_end = memchr(p, ']', auth_end - p)) == NULL)
			return ws_why(why, why_size, "unterminated [ in the URL");
		hlen = host_end - (p + 1);
		if (hlen == 0 || hlen >= sizeof(u->host))
			return ws_why(why, why_size, "bad IPv6 address");
		memcpy(u->host, p + 1, hlen);
		if (resolve_literal(u->host) != 6)
			return ws_why(why, why_size, "bad IPv6 address");
		after = host_end + 1;
	} else {
		if ((after = memchr(p, ':', auth_end - p)) == NULL)
			after = auth_end;
		hlen = after - p;
		if (hlen >= sizeof(u->host))
			return ws_why(why, why_size, "host name too long");
		memcpy(u->host, p, hlen);
		if (!ws_host_valid(u->host))
			return ws_why(why, why_size, "bad host name");
	}
	if (after < auth_end) {
		if (*after != ':')
			return ws_why(why, why_size, "junk after the host");
		d = after + 1;
		if (d == auth_end || auth_end - d > 5)
			return ws_why(why, why_size, "bad port");
		for (port = 0; d < auth_end; d++) {
			if (!ws_is_digit(*d))
				return ws_why(why, why_size, "bad port");
			port = port * 10 + (unsigned long)(*d - '0');
		}
		if (port == 0 || port > 65535)
			return ws_why(why, why_size, "port out of range");
		u->port = (uint16_t)port;
	}

	/* "ws://h" and "ws://h?q" ask for "/" and "/?q". */
	(void)snprintf(u->target, sizeof(u->target), "%s%s",
	    *auth_end == '/' ? "" : "/", auth_end);
	if (!ws_target_valid(u->target, &u->path_len))
		return ws_why(why, why_size, "bad character or %%-escape in "
		    "the path or query");
	return 0;
}

void
ws_url_redact(const struct ws_url *u, char *buf, size_t size)
{
	int	 v6 = strchr(u->host, ':') != NULL;

	(void)snprintf(buf, size, "%s://%s%s%s:%u%.*s", u->tls ? "wss" : "ws",
	    v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
	    (int)u->path_len, u->target);
}

/* --- the upgrade -------------------------------------------------------- */

int
ws_header_valid(const char *line)
{
	/* Ours to send, or meaningless before a 101. */
	static const char *const ours[] = {
		"Host", "Upgrade", "Connection", "Content-Length",
		"Transfer-Encoding", "Sec-WebSocket-Key",
		"Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
		"Sec-WebSocket-Protocol", "Sec-WebSocket-Accept"
	};
	size_t	 len, name, i;

	if ((len = strnlen(line, WS_HEADER_LEN_MAX)) == WS_HEADER_LEN_MAX)
		return 0;
	for (name = 0; ws_is_tchar((unsigned char)line[name]); name++)
		;
	if (name == 0 || line[name] != ':')
		return 0;
	for (i = name + 1; i < len; i++)
		if (line[i] != '\t' && ((unsigned char)line[i] < 0x20 ||
		    (unsigned char)line[i] > 0x7e))
			return 0;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		if (strlen(ours[i]) == name &&
		    strncasecmp(line, ours[i], name) == 0)
			return 0;
	return 1;
}

int
ws_accept_key(const char *key, char accept[WS_ACCEPT_LEN])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;
	EVP_MD_CTX	*ctx;
	int		 ok;

	accept[0] = '\0';
	if (strlen(key) != WS_KEY_LEN - 1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, key, strlen(key)) == 1 &&
	    EVP_DigestUpdate(ctx, WS_GUID, strlen(WS_GUID)) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 20;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -1;
	(void)EVP_EncodeBlock((unsigned char *)accept, md, (int)mdlen);
	return 0;
}

/* Header values: strip optional whitespace at both ends. */
static void
ws_trim(const char **v, size_t *len)
{
	while (*len > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*len)--;
	}
	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\t'))
		(*len)--;
}

static int
ws_value_is(const char *v, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(v, want, len) == 0;
}

/* Does a Connection list hold the token "upgrade"? */
static int
ws_connection_upgrade(const char *v, size_t len)
{
	const char	*item;
	size_t		 n;

	while (len > 0) {
		item = v;
		for (n = 0; n < len && v[n] != ','; n++)
			;
		v += n;
		len -= n;
		if (len > 0) {
			v++;
			len--;
		}
		ws_trim(&item, &n);
		if (ws_value_is(item, n, "upgrade"))
			return 1;
	}
	return 0;
}

/*
 * The first pass over what has arrived: bytes no head may hold, CR and
 * LF only as pairs, and where the head ends (0: not yet).  Checking as
 * bytes come in refuses a bad server at once instead of at the cap.
 */
static int
ws_head_scan(const char *buf, size_t n, size_t *end, char *why,
    size_t why_size)
{
	size_t		 i;
	unsigned char	 c;

	*end = 0;
	for (i = 0; i < n; i++) {
		c = (unsigned char)buf[i];
		if (c == '\r') {
			if (i + 1 < n && buf[i + 1] != '\n')
				return ws_why(why, why_size,
				    "CR without LF in the response");
			continue;
		}
		if (c == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				return ws_why(why, why_size,
				    "LF without CR in the response");
			if (i >= 3 && buf[i - 2] == '\n') {
				*end = i + 1;
				return 0;
			}
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return ws_why(why, why_size,
			    "control character in the response");
	}
	return 0;
}

int
ws_handshake_parse(const char *buf, size_t len, const char *accept,
    size_t *head_len, char *why, size_t why_size)
{
	const char	*line, *eol, *end, *v;
	size_t		 n, vlen, name, fields = 0, head;
	int		 status, upgrade = 0, connection = 0, accepted = 0;

	*head_len = 0;
	n = len < WS_HEAD_MAX ? len : WS_HEAD_MAX;
	if (ws_head_scan(buf, n, &head, why, why_size) == -1)
		return -1;
	if (head == 0) {
		if (len >= WS_HEAD_MAX)
			return ws_why(why, why_size, "response head of %d "
			    "bytes or more", WS_HEAD_MAX);
		return 0;
	}
	/* From here every line ends in CRLF: the scan said so. */
	end = buf + head;
	line = buf;
	eol = memchr(line, '\r', end - line);
	if (eol - line < 12 || memcmp(line, "HTTP/1.1 ", 9) != 0 ||
	    !ws_is_digit(line[9]) || !ws_is_digit(line[10]) ||
	    !ws_is_digit(line[11]) || (eol - line > 12 && line[12] != ' '))
		return ws_why(why, why_size, "not an HTTP/1.1 status line");
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 +
	    (line[11] - '0');
	if (status != 101)
		return ws_why(why, why_size, "server answered %d, not 101",
		    status);

	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memchr(line, '\r', end - line);
		if (eol == line)
			break;		/* the empty line */
		if (++fields > WS_HEAD_FIELDS_MAX)
			return ws_why(why, why_size, "more than %d header "
			    "fields", WS_HEAD_FIELDS_MAX);
		if (*line == ' ' || *line == '\t')
			return ws_why(why, why_size, "folded header line");
		for (name = 0; line + name < eol &&
		    ws_is_tchar((unsigned char)line[name]); name++)
			;
		if (name == 0 || line + name == eol || line[name] != ':')
			return ws_why(why, why_size, "malformed header line");
		v = line + name + 1;
		vlen = eol - v;
		ws_trim(&v, &vlen);

		if (ws_value_is(line, name, "Upgrade")) {
			if (upgrade++)
				return ws_why(why, why_size,
				    "more than one Upgrade header");
			if (!ws_value_is(v, vlen, "websocket"))
				return ws_why(why, why_size,
				    "Upgrade is not websocket");
		} else if (ws_value_is(line, name, "Connection")) {
			if (ws_connection_upgrade(v, vlen))
				connection = 1;
		} else if (ws_value_is(line, name, "Sec-WebSocket-Accept")) {
			if (accepted++)
				return ws_why(why, why_size, "more than one "
				    "Sec-WebSocket-Accept header");
			if (vlen != strlen(accept) ||
			    memcmp(v, accept, vlen) != 0)
				return ws_why(why, why_size, "Sec-WebSocket-"
				    "Accept does not match our key");
		} else if (ws_value_is(line, name,
		    "Sec-WebSocket-Extensions")) {
			if (vlen > 0)
				return ws_why(why, why_size, "server chose an "
				    "extension we did not offer");
		} else if (ws_value_is(line, name, "Sec-WebSocket-Protocol"))
			return ws_why(why, why_size, "server chose a "
			    "subprotocol we did not offer");
	}
	if (!upgrade)
		return ws_why(why, why_size, "no Upgrade header");
	if (!connection)
		return ws_why(why, why_size, "Connection does not say upgrade");
	if (!accepted)
		return ws_why(why, why_size, "no Sec-WebSocket-Accept header");
	*head_len = head;
	return 1;
}

/* The GET that asks for the upgrade, with a fresh key. */
static int
ws_request_build(struct ws *ws, const char *const *headers,
    size_t nheaders, char *why, size_t why_size)
{
	uint8_t		 raw[WS_KEY_BYTES];
	char		 key[WS_KEY_LEN], host[WS_HOST_LEN + 8];
	int		 v6, fail = 0;
	size_t		 i;

	if (nheaders > WS_HEADERS_MAX)
		return ws_why(why, why_size, "more than %d headers",
		    WS_HEADERS_MAX);
	for (i = 0; i < nheaders; i++)
		/* Not printed: it may be a credential. */
		if (headers[i] == NULL || !ws_header_valid(headers[i]))
			return ws_why(why, why_size, "header %zu refused", i);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return ws_why(why, why_size, "no random bytes for the key");
	(void)EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	if (ws_accept_key(key, ws->accept) == -1)
		return ws_why(why, why_size, "cannot compute the accept key");

	v6 = strchr(ws->url.host, ':') != NULL;
	if (ws->url.port == (ws->url.tls ? 443 : 80))
		(void)snprintf(host, sizeof(host), "%s%s%s", v6 ? "[" : "",
		    ws->url.host, v6 ? "]" : "");
	else
		(void)snprintf(host, sizeof(host), "%s%s%s:%u", v6 ? "[" : "",
		    ws->url.host, v6 ? "]" : "", ws->url.port);
	if ((ws->request = evbuffer_new()) == NULL)
		return ws_why(why, why_size, "out of memory");
	if (evbuffer_add_printf(ws->request, "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n", ws->url.target, host, key) < 0)
		fail = 1;
	for (i = 0; i < nheaders && !fail; i++)
		if (evbuffer_add_printf(ws->request, "%s\r\n",
		    headers[i]) < 0)
			fail = 1;
	if (fail || evbuffer_add(ws->request, "\r\n", 2) == -1)
		return ws_why(why, why_size, "out of memory");
	return 0;
}

/* --- TLS ---------------------------------------------------------------- */

/* A bundle of certificates has no passphrase to ask for. */
static int
ws_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* A context that trusts exactly the bundle's certificates. */
static SSL_CTX *
ws_tls_context(const char *ca, size_t ca_len, char *why, size_t why_size)
{
	SSL_CTX		*ctx;
	X509_STORE	*store;
	X509		*cert;
	BIO		*bio;
	int		 n = 0;

	if (ca == NULL || ca_len == 0 || ca_len > INT_MAX) {
		(void)ws_why(why, why_size, "wss needs a CA bundle");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		(void)ws_why(why, why_size, "cannot set up TLS");
		ERR_clear_error();
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	store = SSL_CTX_get_cert_store(ctx);
	if ((bio = BIO_new_mem_buf(ca, (int)ca_len)) != NULL) {
		while ((cert = PEM_read_bio_X509(bio, NULL, ws_no_passphrase,
		    NULL)) != NULL) {
			if (X509_STORE_add_cert(store, cert) == 1)
				n++;
			X509_free(cert);
		}
		BIO_free(bio);
	}
	/* The end of the bundle leaves an error behind; so may a bad PEM. */
	ERR_clear_error();
	if (n == 0) {
		SSL_CTX_free(ctx);
		(void)ws_why(why, why_size, "no certificate in the CA bundle");
		return NULL;
	}
	return ctx;
}

/* One TLS session: SNI for a name, and the name or address checked. */
static SSL *
ws_tls_session(struct ws *ws)
{
	X509_VERIFY_PARAM	*param;
	SSL			*ssl;
	int			 ok;

	if ((ssl = SSL_new(ws->tls)) == NULL)
		return NULL;
	param = SSL_get0_param(ssl);
	if (resolve_literal(ws->url.host) != 0)
		/* RFC 6066 3: no address in SNI. */
		ok = X509_VERIFY_PARAM_set1_ip_asc(param, ws->url.host) == 1;
	else {
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		ok = SSL_set_tlsext_host_name(ssl, ws->url.host) == 1 &&
		    SSL_set1_host(ssl, ws->url.host) == 1;
	}
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* What went wrong in the TLS handshake, if it was TLS; 1 or 0. */
static int
ws_tls_error(struct ws *ws, char *buf, size_t size)
{
	unsigned long	 e, first = 0;
	const char	*what;
	long		 verify;
	SSL		*ssl;

	while ((e = bufferevent_get_openssl_error(ws->bev)) != 0)
		if (first == 0)
			first = e;
	if (first == 0)
		return 0;
	ssl = bufferevent_openssl_get_ssl(ws->bev);
	if (ssl != NULL && (verify = SSL_get_verify_result(ssl)) != X509_V_OK)
		(void)snprintf(buf, size, "certificate refused: %s",
		    X509_verify_cert_error_string(verify));
	else {
		what = ERR_reason_error_string(first);
		(void)snprintf(buf, size, "%s",
		    what != NULL ? what : "handshake failed");
	}
	return 1;
}

/* --- the connection ----------------------------------------------------- */

void
ws_options_default(struct ws_options *o)
{
	memset(o, 0, sizeof(*o));
	o->max_message = WS_MESSAGE_DEFAULT;
	o->open_timeout_ms = WS_OPEN_TIMEOUT_MS;
	o->ping_interval_ms = WS_PING_INTERVAL_MS;
	o->pong_timeout_ms = WS_PONG_TIMEOUT_MS;
	o->close_timeout_ms = WS_CLOSE_TIMEOUT_MS;
}

static int
ws_options_take(struct ws *ws, const struct ws_options *o, char *why,
    size_t why_size)
{
	if (o == NULL) {
		ws_options_default(&ws->opts);
		return 0;
	}
	ws->opts = *o;
	if (ws->opts.max_message == 0)
		ws->opts.max_message = WS_MESSAGE_DEFAULT;
	if (ws->opts.open_timeout_ms == 0)
		ws->opts.open_timeout_ms = WS_OPEN_TIMEOUT_MS;
	if (ws->opts.pong_timeout_ms == 0)
		ws->opts.pong_timeout_ms = WS_PONG_TIMEOUT_MS;
	if (ws->opts.close_timeout_ms == 0)
		ws->opts.close_timeout_ms = WS_CLOSE_TIMEOUT_MS;
	if (ws->opts.max_message > WS_MESSAGE_MAX)
		return ws_why(why, why_size, "maximum message over %d bytes",
		    WS_MESSAGE_MAX);
	return 0;
}

static void
ws_timer_add(struct event *ev, unsigned int ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	(void)evtimer_add(ev, &tv);
}

static int
ws_events_new(struct ws *ws)
{
	ws->open_timer = evtimer_new(ws->base, ws_open_timeout, ws);
	ws->ping_timer = event_new(ws->base, -1, EV_PERSIST, ws_ping_event,
	    ws);
	ws->pong_timer = evtimer_new(ws->base, ws_pong_timeout, ws);
	ws->close_timer = evtimer_new(ws->base, ws_close_timeout, ws);
	ws->deliver = event_new(ws->base, -1, 0, ws_deliver_event, ws);
	if (ws->open_timer == NULL || ws->ping_timer == NULL ||
	    ws->pong_timer == NULL || ws->close_timer == NULL ||
	    ws->deliver == NULL)
		return -1;
	return 0;
}

/* Everything that talks to the network goes; the deliver event stays. */
static void
ws_teardown(struct ws *ws)
{
	if (ws->query != NULL) {
		resolve_cancel(ws->query);
		ws->query = NULL;
	}
	if (ws->bev != NULL) {
		bufferevent_free(ws->bev);
		ws->bev = NULL;
	}
	if (ws->wslay != NULL) {
		wslay_event_context_free(ws->wslay);
		ws->wslay = NULL;
	}
	if (ws->request != NULL) {
		evbuffer_free(ws->request);
		ws->request = NULL;
	}
	if (ws->open_timer != NULL)
		(void)evtimer_del(ws->open_timer);
	if (ws->ping_timer != NULL)
		(void)event_del(ws->ping_timer);
	if (ws->pong_timer != NULL)
		(void)evtimer_del(ws->pong_timer);
	if (ws->close_timer != NULL)
		(void)evtimer_del(ws->close_timer);
}

static void
ws_destroy(struct ws *ws)
{
	ws_teardown(ws);
	if (ws->open_timer != NULL)
		event_free(ws->open_timer);
	if (ws->ping_timer != NULL)
		event_free(ws->ping_timer);
	if (ws->pong_timer != NULL)
		event_free(ws->pong_timer);
	if (ws->close_timer != NULL)
		event_free(ws->close_timer);
	if (ws->deliver != NULL)
		event_free(ws->deliver);
	if (ws->tls != NULL)
		SSL_CTX_free(ws->tls);
	free(ws);
}

/* The connection is over: drop it now, tell the caller from the loop. */
static void
ws_finish(struct ws *ws, uint16_t code, const char *reason, int clean)
{
	if (ws->state == WS_DONE)
		return;
	ws->state = WS_DONE;
	ws_teardown(ws);
	ws->end_code = code;
	(void)strlcpy(ws->end_reason, reason, sizeof(ws->end_reason));
	ws->end_clean = clean;
	log_debug("%s: %s: closed %u, %s%s", __func__, ws->where, code,
	    ws->end_reason, clean ? "" : " (not clean)");
	event_active(ws->deliver, EV_TIMEOUT, 1);
}

static void
ws_fail(struct ws *ws, uint16_t code, const char *fmt, ...)
{
	char	 reason[WS_REASON_LEN];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	ws_finish(ws, code, reason, 0);
}

struct ws *
ws_open(struct event_base *base, struct resolve *resolve, const char *url,
    const char *const *headers, size_t nheaders, const char *ca,
    size_t ca_len, const struct ws_options *opts,
    const struct ws_callbacks *cb, void *arg, char *why, size_t why_size)
{
	struct ws	*ws;

	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		(void)ws_why(why, why_size, "out of memory");
		return NULL;
	}
	ws->base = base;
	ws->resolve = resolve;
	if (cb != NULL)
		ws->cb = *cb;
	ws->arg = arg;
	ws->state = WS_RESOLVING;
	if (ws_url_parse(url, &ws->url, why, why_size) == -1 ||
	    ws_options_take(ws, opts, why, why_size) == -1 ||
	    ws_request_build(ws, headers, nheaders, why, why_size) == -1)
		goto fail;
	ws_url_redact(&ws->url, ws->where, sizeof(ws->where));
	if (ws->url.tls && (ws->tls = ws_tls_context(ca, ca_len, why,
	    why_size)) == NULL)
		goto fail;
	if (ws_events_new(ws) == -1) {
		(void)ws_why(why, why_size, "out of memory");
		goto fail;
	}
	/* The query's callback never runs from inside resolve_lookup(). */
	if ((ws->query = resolve_lookup(resolve, ws->url.host, ws_resolved,
	    ws)) == NULL) {
		(void)ws_why(why, why_size, "out of memory");
		goto fail;
	}
	ws_timer_add(ws->open_timer, ws->opts.open_timeout_ms);
	log_debug("%s: %s", __func__, ws->where);
	return ws;
 fail:
	ws_destroy(ws);
	return NULL;
}

const char *
ws_where(const struct ws *ws)
{
	return ws->where;
}

static void
ws_resolved(const struct resolve_answer *answer, const char *error,
    void *arg)
{
	struct ws	*ws = arg;

	ws->query = NULL;
	if (error != NULL) {
		/* resolve.c's error names the host. */
		ws_fail(ws, WS_CLOSE_ABNORMAL, "cannot resolve: %s", error);
		return;
	}
	ws->answer = *answer;
	ws->next_addr = 0;
	ws->state = WS_CONNECTING;
	ws_connect_next(ws, NULL);
}

static int
ws_sockaddr(const char *addr, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/*
 * Callbacks are deferred so that no bufferevent callback runs inside
 * our own calls into it (bufferevent_openssl would otherwise call back
 * from bufferevent_write()).  A TLS peer that hangs up without
 * close_notify is an ordinary EOF: a WebSocket's end is its close
 * frames, checked above TLS.
 */
static int
ws_bev_new(struct ws *ws)
{
	const int	 options = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
	SSL		*ssl;

	if (ws->url.tls) {
		if ((ssl = ws_tls_session(ws)) == NULL)
			return -1;
		ws->bev = bufferevent_openssl_socket_new(ws->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, options);
		if (ws->bev == NULL) {
			SSL_free(ssl);
			return -1;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(ws->bev, 1);
	} else if ((ws->bev = bufferevent_socket_new(ws->base, -1,
	    options)) == NULL)
		return -1;
	bufferevent_setcb(ws->bev, ws_read_event, ws_write_event,
	    ws_bev_event, ws);
	if (bufferevent_enable(ws->bev, EV_READ | EV_WRITE) == -1)
		return -1;
	return 0;
}

/* Try the next address of the answer; out of them, give up with why. */
static void
ws_connect_next(struct ws *ws, const char *last_error)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 error[WS_REASON_LEN];
	const char		*addr;

	while (ws->next_addr < ws->answer.naddrs) {
		addr = ws->answer.addrs[ws->next_addr++];
		if (ws_sockaddr(addr, ws->url.port, &ss, &sslen) == -1)
			continue;
		if (ws_bev_new(ws) == -1) {
			ws_fail(ws, WS_CLOSE_ABNORMAL, "out of memory");
			return;
		}
		(void)strlcpy(ws->addr, addr, sizeof(ws->addr));
		log_debug("%s: %s: connecting to %s", __func__, ws->where,
		    addr);
		if (bufferevent_socket_connect(ws->bev,
		    (struct sockaddr *)&ss, (int)sslen) == 0)
			return;
		(void)snprintf(error, sizeof(error), "connect to %s port %u: "
		    "%s", addr, ws->url.port, strerror(errno));
		last_error = error;
		bufferevent_free(ws->bev);
		ws->bev = NULL;
	}
	ws_fail(ws, WS_CLOSE_ABNORMAL, "%s", last_error != NULL ? last_error :
	    "no address to connect to");
}

static void
ws_connect_failed(struct ws *ws, short what, int saved)
{
	char	 error[WS_REASON_LEN], tls[WS_REASON_LEN];

	if (ws->url.tls && ws_tls_error(ws, tls, sizeof(tls))) {
		ws_fail(ws, WS_CLOSE_TLS, "TLS with %s: %s", ws->url.host,
		    tls);
		return;
	}
	if (what & BEV_EVENT_EOF)
		(void)snprintf(error, sizeof(error), "%s port %u hung up "
		    "during the TLS handshake", ws->addr, ws->url.port);
	else
		(void)snprintf(error, sizeof(error), "connect to %s port %u: "
		    "%s", ws->addr, ws->url.port,
		    evutil_socket_error_to_string(saved));
	bufferevent_free(ws->bev);
	ws->bev = NULL;
	ws_connect_next(ws, error);
}

static void
ws_connected(struct ws *ws)
{
	SSL		*ssl;
	int		 fd, one = 1;

	if (ws->url.tls) {
		/* SSL_VERIFY_PEER has refused a bad chain already. */
		ssl = bufferevent_openssl_get_ssl(ws->bev);
		if (ssl == NULL || SSL_get0_peer_certificate(ssl) == NULL ||
		    SSL_get_verify_result(ssl) != X509_V_OK) {
			ws_fail(ws, WS_CLOSE_TLS, "TLS with %s: no verified "
			    "certificate", ws->url.host);
			return;
		}
	}
	if ((fd = bufferevent_getfd(ws->bev)) != -1)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	ws->state = WS_HANDSHAKE;
	log_debug("%s: %s: connected to %s, upgrading", __func__, ws->where,
	    ws->addr);
	if (bufferevent_write_buffer(ws->bev, ws->request) == -1)
		ws_fail(ws, WS_CLOSE_ABNORMAL, "out of memory");
}

/* --- frames (libwslay) ---------------------------------------------------- */

static ssize_t
ws_wslay_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *arg)
{
	struct ws	*ws = arg;
	int		 n;

	(void)flags;
	/* A dead connection reads no more: libwslay returns sooner. */
	if (ws->dead || ws->bev == NULL || (n = evbuffer_remove(
	    bufferevent_get_input(ws->bev), buf, len)) <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	return n;
}

static ssize_t
ws_wslay_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct ws	*ws = arg;

	(void)flags;
	/* Let the socket catch up; ws_write_event() sends the rest. */
	if (evbuffer_get_length(bufferevent_get_output(ws->bev)) >=
	    WS_OUTPUT_HIGH) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (bufferevent_write(ws->bev, data, len) == -1) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return (ssize_t)len;
}

static int
ws_wslay_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *arg)
{
	(void)ctx;
	(void)arg;
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static void
ws_wslay_message(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	struct ws	*ws = arg;

	(void)ctx;
	if (ws->dead)
		return;
	switch (m->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (ws->cb.on_message == NULL)
			break;
		/* libwslay gives NULL for an empty message; we promise not. */
		ws->calling = 1;
		ws->cb.on_message(ws, m->opcode == WSLAY_TEXT_FRAME ?
		    WS_TEXT : WS_BINARY, m->msg_length > 0 ? m->msg :
		    (const uint8_t *)"", m->msg_length, ws->arg);
		ws->calling = 0;
		break;
	case WSLAY_PONG:
		ws->awaiting_pong = 0;
		(void)evtimer_del(ws->pong_timer);
		break;
	case WSLAY_CONNECTION_CLOSE:
		/* The server's reason, if it started the close. */
		if (ws->closer == WS_CLOSER_NONE && m->msg_length > 2)
			ws_printable(ws->close_reason,
			    sizeof(ws->close_reason), m->msg + 2,
			    m->msg_length - 2);
		break;
	default:
		break;		/* a ping: libwslay queues the pong */
	}
}

static int
ws_wslay_new(struct ws *ws)
{
	struct wslay_event_callbacks	 callbacks;

	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.recv_callback = ws_wslay_recv;
	callbacks.send_callback = ws_wslay_send;
	callbacks.genmask_callback = ws_wslay_genmask;
	callbacks.on_msg_recv_callback = ws_wslay_message;
	if (wslay_event_context_client_init(&ws->wslay, &callbacks, ws) != 0) {
		ws->wslay = NULL;
		return -1;
	}
	wslay_event_config_set_max_recv_msg_length(ws->wslay,
	    ws->opts.max_message);
	return 0;
}

/* After each step: has a closing handshake begun, and by whom? */
static void
ws_check_closing(struct ws *ws)
{
	if (ws->state != WS_OPEN)
		return;
	if (ws->closer == WS_CLOSER_NONE) {
		if (wslay_event_get_close_received(ws->wslay))
			ws->closer = WS_CLOSER_PEER;
		else if (wslay_event_get_close_sent(ws->wslay) ||
		    !wslay_event_get_read_enabled(ws->wslay))
			/* libwslay refused a frame: 1002, 1007 or 1009. */
			ws->closer = WS_CLOSER_US;
		else
			return;
		ws->awaiting_pong = 0;
		(void)event_del(ws->ping_timer);
		(void)evtimer_del(ws->pong_timer);
	}
	/* RFC 6455 7.1.1: the server hangs up first; we wait so long. */
	if (!evtimer_pending(ws->close_timer, NULL))
		ws_timer_add(ws->close_timer, ws->opts.close_timeout_ms);
}

/* The connection ended: say how, from the closing handshake. */
static void
ws_conclude(struct ws *ws, const char *abnormal)
{
	char		 reason[WS_REASON_LEN];
	uint16_t	 code;
	int		 clean;

	switch (ws->closer) {
	case WS_CLOSER_PEER:
		code = wslay_event_get_status_code_received(ws->wslay);
		clean = wslay_event_get_close_sent(ws->wslay);
		(void)strlcpy(reason, ws->close_reason[0] != '\0' ?
		    ws->close_reason : "closed by the server", sizeof(reason));
		break;
	case WS_CLOSER_US:
		code = ws->close_code != 0 ? ws->close_code :
		    wslay_event_get_status_code_sent(ws->wslay);
		clean = wslay_event_get_close_received(ws->wslay);
		(void)strlcpy(reason, ws->close_reason[0] != '\0' ?
		    ws->close_reason : ws_code_text(code), sizeof(reason));
		break;
	default:
		ws_finish(ws, WS_CLOSE_ABNORMAL, abnormal, 0);
		return;
	}
	ws_finish(ws, code, reason, clean);
}

/* Frames in, then frames out. */
static void
ws_pump(struct ws *ws)
{
	struct evbuffer	*input = bufferevent_get_input(ws->bev);

	if (wslay_event_get_read_enabled(ws->wslay)) {
		if (wslay_event_recv(ws->wslay) != 0) {
			if (!ws->dead)
				ws_fail(ws, WS_CLOSE_ABNORMAL,
				    "cannot read frames");
			return;
		}
		if (ws->dead)
			return;
	}
	/* Reading is over (a close, or a bad frame): the rest is dropped. */
	if (!wslay_event_get_read_enabled(ws->wslay))
		(void)evbuffer_drain(input, evbuffer_get_length(input));
	ws_pump_out(ws);
}

static void
ws_pump_out(struct ws *ws)
{
	if (wslay_event_want_write(ws->wslay) &&
	    wslay_event_send(ws->wslay) != 0) {
		ws_fail(ws, WS_CLOSE_ABNORMAL, "cannot send frames");
		return;
	}
	ws_check_closing(ws);
}

/* The head is complete: check it, and the frames begin. */
static void
ws_handshake_read(struct ws *ws)
{
	struct evbuffer	*input = bufferevent_get_input(ws->bev);
	char		 why[WS_REASON_LEN];
	const char	*head;
	size_t		 len, head_len;
	int		 rc;

	len = evbuffer_get_length(input);
	if (len > WS_HEAD_MAX)
		len = WS_HEAD_MAX;
	if ((head = (const char *)evbuffer_pullup(input, len)) == NULL) {
		ws_fail(ws, WS_CLOSE_ABNORMAL, "out of memory");
		return;
	}
	rc = ws_handshake_parse(head, len, ws->accept, &head_len, why,
	    sizeof(why));
	if (rc == 0)
		return;
	if (rc == -1) {
		ws_fail(ws, WS_CLOSE_ABNORMAL, "upgrade refused by %s: %s",
		    ws->url.host, why);
		return;
	}
	(void)evbuffer_drain(input, head_len);
	if (ws_wslay_new(ws) == -1) {
		ws_fail(ws, WS_CLOSE_ABNORMAL, "out of memory");
		return;
	}
	evbuffer_free(ws->request);
	ws->request = NULL;
	(void)evtimer_del(ws->open_timer);
	ws->state = WS_OPEN;
	if (ws->opts.ping_interval_ms > 0)
		ws_timer_add(ws->ping_timer, ws->opts.ping_interval_ms);
	log_debug("%s: %s: open", __func__, ws->where);
	if (ws->cb.on_open != NULL) {
		ws->calling = 1;
		ws->cb.on_open(ws, ws->arg);
		ws->calling = 0;
		if (ws->dead)
			return;
	}
	/* The first frames may have come with the head. */
	if (ws->state == WS_OPEN)
		ws_pump(ws);
}

static void
ws_read_event(struct bufferevent *bev, void *arg)
{
	struct ws	*ws = arg;

	if (ws->state == WS_HANDSHAKE)
		ws_handshake_read(ws);
	else if (ws->state == WS_OPEN)
		ws_pump(ws);
	else
		(void)evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
	if (ws->dead)
		ws_destroy(ws);
}

static void
ws_write_event(struct bufferevent *bev, void *arg)
{
	struct ws	*ws = arg;

	(void)bev;
	if (ws->state == WS_OPEN)
		ws_pump_out(ws);
}

static void
ws_bev_event(struct bufferevent *bev, short what, void *arg)
{
	struct ws	*ws = arg;
	int		 saved = EVUTIL_SOCKET_ERROR();
	char		 why[WS_REASON_LEN], tls[WS_REASON_LEN / 2];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (ws->state == WS_CONNECTING)
			ws_connected(ws);
		return;
	}
	if ((what & BEV_EVENT_EOF) && ws->state == WS_OPEN)
		(void)strlcpy(why, "connection closed without a close frame",
		    sizeof(why));
	else if (what & BEV_EVENT_EOF)
		(void)strlcpy(why, "connection closed", sizeof(why));
	else if (ws->url.tls && ws->state != WS_CONNECTING &&
	    ws_tls_error(ws, tls, sizeof(tls)))
		(void)snprintf(why, sizeof(why), "connection lost: TLS: %s",
		    tls);
	else
		(void)snprintf(why, sizeof(why), "connection lost: %s",
		    evutil_socket_error_to_string(saved));
	switch (ws->state) {
	case WS_CONNECTING:
		ws_connect_failed(ws, what, saved);
		break;
	case WS_HANDSHAKE:
		ws_fail(ws, WS_CLOSE_ABNORMAL, "%s during the upgrade", why);
		break;
	case WS_OPEN:
		/* Unless a closing handshake had begun, why is the reason. */
		ws_conclude(ws, why);
		break;
	default:
		break;
	}
}

/* --- timers ------------------------------------------------------------- */

static void
ws_open_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct ws	*ws = arg;

	(void)fd;
	(void)events;
	ws_fail(ws, WS_CLOSE_ABNORMAL, "not open after %u ms",
	    ws->opts.open_timeout_ms);
}

static void
ws_ping_event(evutil_socket_t fd, short events, void *arg)
{
	struct ws		*ws = arg;
	struct wslay_event_msg	 msg;
	uint8_t			 payload[8];
	uint64_t		 n;
	size_t			 i;

	(void)fd;
	(void)events;
	if (ws->state != WS_OPEN || ws->closer != WS_CLOSER_NONE ||
	    ws->awaiting_pong)
		return;
	n = ++ws->pings;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(n >> (56 - 8 * i));
	msg.opcode = WSLAY_PING;
	msg.msg = payload;
	msg.msg_length = sizeof(payload);
	if (wslay_event_queue_msg(ws->wslay, &msg) != 0)
		return;
	ws->awaiting_pong = 1;
	ws_timer_add(ws->pong_timer, ws->opts.pong_timeout_ms);
	ws_pump_out(ws);
}

/* The server or the path to it is gone: no closing handshake to try. */
static void
ws_pong_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct ws	*ws = arg;

	(void)fd;
	(void)events;
	ws_fail(ws, WS_CLOSE_ABNORMAL, "no pong within %u ms",
	    ws->opts.pong_timeout_ms);
}

static void
ws_close_timeout(evutil_socket_t fd, short events, void *arg)
{
	struct ws	*ws = arg;

	(void)fd;
	(void)events;
	ws_conclude(ws, "closing handshake timed out");
}

static void
ws_deliver_event(evutil_socket_t fd, short events, void *arg)
{
	struct ws	*ws = arg;

	(void)fd;
	(void)events;
	if (ws->cb.on_close != NULL) {
		ws->calling = 1;
		ws->cb.on_close(ws, ws->end_code, ws->end_reason,
		    ws->end_clean, ws->arg);
		ws->calling = 0;
	}
	if (ws->dead)
		ws_destroy(ws);
}

/* --- the caller's calls --------------------------------------------------- */

static int
ws_send(struct ws *ws, uint8_t opcode, const void *data, size_t len)
{
	struct wslay_event_msg	 msg;
	size_t			 queued;

	if (ws == NULL || ws->dead || ws->state != WS_OPEN ||
	    ws->closer != WS_CLOSER_NONE)
		return -1;
	queued = wslay_event_get_queued_msg_length(ws->wslay) +
	    evbuffer_get_length(bufferevent_get_output(ws->bev));
	if (len > WS_SEND_QUEUE_MAX || queued > WS_SEND_QUEUE_MAX - len)
		return -1;
	msg.opcode = opcode;
	msg.msg = data;
	msg.msg_length = len;
	if (wslay_event_queue_msg(ws->wslay, &msg) != 0)
		return -1;
	if (!ws->calling)
		ws_pump_out(ws);
	return 0;
}

int
ws_send_text(struct ws *ws, const char *text, size_t len)
{
	if (!ws_utf8_valid((const uint8_t *)text, len))
		return -1;
	return ws_send(ws, WSLAY_TEXT_FRAME, text, len);
}

int
ws_send_binary(struct ws *ws, const void *data, size_t len)
{
	return ws_send(ws, WSLAY_BINARY_FRAME, data, len);
}

void
ws_close(struct ws *ws, uint16_t code, const char *reason)
{
	size_t	 len;

	if (ws == NULL || ws->dead || ws->state == WS_DONE)
		return;
	if (!ws_code_sendable(code))
		code = WS_CLOSE_NORMAL;
	if (reason == NULL)
		reason = "";
	if (ws->state != WS_OPEN) {
		ws_finish(ws, code, reason[0] != '\0' ? reason :
		    "closed before it opened", 0);
		return;
	}
	if (ws->closer != WS_CLOSER_NONE)
		return;
	/* Cut to what a frame holds, on a character's first byte. */
	len = strlen(reason);
	if (len > WS_CLOSE_REASON_MAX) {
		len = WS_CLOSE_REASON_MAX;
		while (len > 0 && ((unsigned char)reason[len] & 0xc0) == 0x80)
			len--;
	}
	if (!ws_utf8_valid((const uint8_t *)reason, len))
		len = 0;
	ws->closer = WS_CLOSER_US;
	ws->close_code = code;
	ws_printable(ws->close_reason, sizeof(ws->close_reason),
	    (const uint8_t *)reason, len);
	(void)wslay_event_queue_close(ws->wslay, code,
	    (const uint8_t *)reason, len);
	ws->awaiting_pong = 0;
	(void)event_del(ws->ping_timer);
	(void)evtimer_del(ws->pong_timer);
	ws_timer_add(ws->close_timer, ws->opts.close_timeout_ms);
	if (!ws->calling)
		ws_pump_out(ws);
}

void
ws_free(struct ws *ws)
{
	if (ws == NULL)
		return;
	if (ws->calling) {
		/* The handler that called back frees it on its way out. */
		ws->dead = 1;
		return;
	}
	ws_destroy(ws);
}
