/*
 * ws.h: netd's WebSocket client (RFC 6455), for control-plane dialects
 * that keep a socket open.  ws:// and wss:// on netd's libevent loop:
 * the host is resolved with resolve.h, TLS is OpenSSL through
 * bufferevent_openssl, verified against a CA bundle held in memory and
 * the URL's host name; the HTTP/1.1 upgrade is ours and the frames are
 * libwslay's.  No extension and no subprotocol is offered.
 *
 * One struct ws is one connection attempt and, if it opens, that one
 * connection.  There is no reconnect here: a dialect that wants to stay
 * connected frees the old one in on_close and opens a new one after a
 * delay from backoff.h.
 *
 * Callbacks run only from the event loop, never from inside ws_open(),
 * ws_send_*(), ws_close() or ws_free().  Inside any of them the caller
 * may send, close or free the connection.  on_close is called exactly
 * once, whether or not on_open was, unless ws_free() came first.
 *
 * Logs name a connection as scheme://host:port/path only: the query
 * string may carry a token and is never logged nor put in a reason.
 *
 * OpenSSL must have read its configuration before netd is confined
 * (curl_global_init() does that, or OPENSSL_init_ssl()).
 */
#ifndef BERTH_WS_H
#define BERTH_WS_H

#include <stddef.h>
#include <stdint.h>

#include "berth.h"

struct event_base;
struct resolve;
struct ws;

#define WS_URL_MAX		2048	/* with its NUL */
#define WS_HOST_LEN		WIRE_HOSTNAME_LEN
#define WS_HEAD_MAX		8192	/* the server's response head */
#define WS_HEADERS_MAX		32	/* the caller's extra headers */
#define WS_HEADER_LEN_MAX	4096	/* each, "Name: value" */
#define WS_KEY_LEN		25	/* base64 of 16 bytes, NUL */
#define WS_ACCEPT_LEN		29	/* base64 of a SHA-1, NUL */
#define WS_REASON_LEN		256	/* reasons given to on_close */
#define WS_CLOSE_REASON_MAX	123	/* what a close frame can carry */
#define WS_SEND_QUEUE_MAX	(16 * 1024 * 1024)

/* Defaults of struct ws_options (ws_options_default()). */
#define WS_MESSAGE_DEFAULT	(1024 * 1024)
#define WS_MESSAGE_MAX		(64 * 1024 * 1024)
#define WS_OPEN_TIMEOUT_MS	15000	/* resolve, connect, TLS, upgrade */
#define WS_PING_INTERVAL_MS	30000
#define WS_PONG_TIMEOUT_MS	10000
#define WS_CLOSE_TIMEOUT_MS	5000	/* for the server to end it */

/* Close codes (RFC 6455 7.4.1); 1006 and 1015 never go on the wire. */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_NO_STATUS	1005
#define WS_CLOSE_ABNORMAL	1006	/* no close frame: failed or lost */
#define WS_CLOSE_BAD_DATA	1007
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_TLS		1015	/* the TLS handshake failed */

enum ws_type {
	WS_TEXT = 1,
	WS_BINARY = 2
};

struct ws_callbacks {
	/* The upgrade succeeded; messages may be sent. */
	void	(*on_open)(struct ws *, void *arg);
	/* One whole message, never NULL; text is UTF-8, no NUL added. */
	void	(*on_message)(struct ws *, enum ws_type, const uint8_t *,
		    size_t, void *arg);
	/*
	 * The connection is over.  code and reason are those of the side
	 * that started the closing handshake: the server's (1005 if its
	 * close frame had no code), or ours (ws_close(), 1002 for a
	 * protocol error, 1009 for a message too big, 1007 for bad
	 * UTF-8).  Without a closing handshake code is 1006, or 1015 when
	 * TLS failed, and reason says why.  was_clean: close frames went
	 * both ways.  reason is printable ASCII.
	 */
	void	(*on_close)(struct ws *, uint16_t code, const char *reason,
		    int was_clean, void *arg);
};

/* A 0 stands for the default, except in ping_interval_ms. */
struct ws_options {
	size_t		 max_message;		/* larger: closed with 1009 */
	unsigned int	 open_timeout_ms;	/* until on_open */
	unsigned int	 ping_interval_ms;	/* 0: no keepalive pings */
	unsigned int	 pong_timeout_ms;	/* no pong by then: 1006 */
	unsigned int	 close_timeout_ms;	/* for the server to hang up */
};

/* A parsed ws:// or wss:// URL. */
struct ws_url {
	int		 tls;			/* wss */
	char		 host[WS_HOST_LEN];	/* IPv6 without brackets */
	uint16_t	 port;
	char		 target[WS_URL_MAX];	/* path and query: "/..." */
	size_t		 path_len;		/* of target, without query */
};

void		 ws_options_default(struct ws_options *);

/*
 * Open a connection: NULL, with why filled, on a bad URL, header,
 * option or CA bundle.  headers are "Name: value" lines sent with the
 * upgrade request (Authorization, ...), copied; the upgrade's own
 * headers (Host, Upgrade, Connection, Sec-WebSocket-*) are refused.
 * ca is a PEM bundle, needed for wss only, and not kept.  opts NULL
 * means the defaults.  The resolver must outlive the connection.
 */
struct ws	*ws_open(struct event_base *, struct resolve *,
		    const char *url, const char *const *headers,
		    size_t nheaders, const char *ca, size_t ca_len,
		    const struct ws_options *, const struct ws_callbacks *,
		    void *arg, char *why, size_t why_size);
/*
 * Queue a message: 0, or -1 when the connection is not open, a close
 * has begun, text is not UTF-8, or WS_SEND_QUEUE_MAX would be passed.
 */
int		 ws_send_text(struct ws *, const char *, size_t);
int		 ws_send_binary(struct ws *, const void *, size_t);
/*
 * Start the closing handshake with code (1000, 1001, 1003, 1007..1011
 * or 3000..4999; any other is sent as 1000) and a reason cut to
 * WS_CLOSE_REASON_MAX bytes; before the connection is open, give it up.
 * on_close follows.
 */
void		 ws_close(struct ws *, uint16_t code, const char *reason);
/* Drop the connection at once; no callback is called after this. */
void		 ws_free(struct ws *);
/* "wss://host:port/path": what logs may say; never the query. */
const char	*ws_where(const struct ws *);

/*
 * The pure parts, exposed for the tests and fuzz_ws.c.
 *
 * ws_url_parse: 0, or -1 with why.  Only ws and wss (any case), a host
 * name or IPv4 address or bracketed IPv6 address, an optional port
 * 1..65535, and a path and query of RFC 3986 characters (percent
 * escapes well formed).  Refused: userinfo, fragments, control
 * characters, spaces and non-ASCII bytes, URLs of WS_URL_MAX or more.
 */
int		 ws_url_parse(const char *, struct ws_url *, char *why,
		    size_t why_size);
/* scheme://host:port/path of a parsed URL, cut to size. */
void		 ws_url_redact(const struct ws_url *, char *, size_t);
/* Is this a "Name: value" line the caller may add?  1 or 0. */
int		 ws_header_valid(const char *);
/* base64(SHA-1(key + RFC 6455's GUID)) into accept; 0, or -1. */
int		 ws_accept_key(const char *key, char accept[WS_ACCEPT_LEN]);
/*
 * The server's answer to our upgrade, the first len bytes received:
 * 1 when a complete head of *head_len bytes accepts the upgrade
 * (frames may follow it), 0 when more bytes are needed, -1 with why
 * when it refuses, breaks HTTP/1.1's syntax or is WS_HEAD_MAX bytes
 * long without its end.  accept is ws_accept_key() of our key.
 */
int		 ws_handshake_parse(const char *buf, size_t len,
		    const char *accept, size_t *head_len, char *why,
		    size_t why_size);

#endif
