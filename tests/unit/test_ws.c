/*
 * test_ws.c: netd/ws.c.  First the pure parts, with tables of good and
 * hostile inputs: the URL parser, the caller's header check, the accept
 * key (RFC 6455's own example) and the parser of the server's upgrade
 * response.  Then whole connections against ws_server.py (Python's
 * standard library, on random ports of 127.0.0.1), plain and inside TLS
 * with a CA and server certificate the openssl CLI makes in a temporary
 * directory: echo, a fragmented 200 KiB message, a message over the
 * limit, pings both ways, frames that break the protocol, servers that
 * refuse or break the upgrade, and certificates for the wrong name or
 * from the wrong CA.  No name goes to DNS: "berth.test" and
 * "wrong.test" are hosts entries given to resolve.c.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "berth.h"
#include "http.h"
#include "log.h"
#include "resolve.h"
#include "ws.h"

#define WAIT_SECONDS	20
#define BIG_MESSAGE	(200 * 1024)

/* The CA, a stranger CA, and a server certificate for two names. */
static const char make_certs_sh[] =
"set -e; cd \"$1\"\n"
"ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
"openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 "
"-subj /CN=berth-ws-test-ca 2>/dev/null\n"
"openssl req -x509 $ec -keyout other.key -out other.pem -days 2 "
"-subj /CN=someone-else 2>/dev/null\n"
"openssl req $ec -keyout server.key -out server.csr -subj /CN=berth.test "
"2>/dev/null\n"
"echo 'subjectAltName=IP:127.0.0.1,DNS:berth.test' > san.ext\n"
"openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
"-CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null\n";

struct harness {
	int			 no_tools;	/* openssl or python3 missing */
	char			 dir[64];
	pid_t			 server;
	int			 server_stdin;
	int			 ws_port, wss_port;
	char			*ca, *other_ca;
	size_t			 ca_len, other_len;
	struct event_base	*base;
	struct resolve		*resolve;
};

/* What one connection's callbacks saw. */
struct session {
	struct ws	*ws;
	int		 opened;
	int		 closed;
	uint16_t	 code;
	char		 reason[WS_REASON_LEN];
	int		 clean;
	int		 messages;
	enum ws_type	 type;
	char		*data;		/* the last message, NUL added */
	size_t		 len;
	int		 free_on_message;
	int		 free_on_close;
};

static struct harness	 h;

/* --- the pure parts ------------------------------------------------------ */

struct url_case {
	const char	*url;
	int		 tls;
	const char	*host;
	uint16_t	 port;
	const char	*target;
	size_t		 path_len;
};

static void
test_url_good(void **state)
{
	static const struct url_case	 cases[] = {
		{ "ws://example.com", 0, "example.com", 80, "/", 1 },
		{ "wss://example.com/", 1, "example.com", 443, "/", 1 },
		{ "WSS://Example.COM:8443/a/b?c=d&e=%2F", 1, "Example.COM",
		    8443, "/a/b?c=d&e=%2F", 4 },
		{ "ws://127.0.0.1:1/x", 0, "127.0.0.1", 1, "/x", 2 },
		{ "ws://[::1]:9000/ws", 0, "::1", 9000, "/ws", 3 },
		{ "wss://[2001:db8::1]/", 1, "2001:db8::1", 443, "/", 1 },
		{ "ws://h?x=1", 0, "h", 80, "/?x=1", 1 },
		{ "ws://h:65535?x=1", 0, "h", 65535, "/?x=1", 1 },
		{ "ws://a-b.c_d.example/p:@!$&'()*+,;=~._-", 0,
		    "a-b.c_d.example", 80, "/p:@!$&'()*+,;=~._-", 19 },
		{ "ws://h/p?q?r/s", 0, "h", 80, "/p?q?r/s", 2 },
		{ "ws://h//double", 0, "h", 80, "//double", 8 },
	};
	struct ws_url	 u;
	char		 why[128];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (ws_url_parse(cases[i].url, &u, why, sizeof(why)) != 0)
			fail_msg("%s: %s", cases[i].url, why);
		assert_int_equal(u.tls, cases[i].tls);
		assert_string_equal(u.host, cases[i].host);
		assert_int_equal(u.port, cases[i].port);
		assert_string_equal(u.target, cases[i].target);
		assert_int_equal(u.path_len, cases[i].path_len);
	}
}

static void
test_url_hostile(void **state)
{
	static const char *const cases[] = {
		"", "http://x/", "ws:/x", "ws//x", "ws:x", "ws://", "ws:///p",
		"ws://?q", "ws://user@host/", "ws://user:pw@host/",
		"ws://host/p@x@y:z#", "ws://host/#frag", "ws://host/p#",
		"ws://ho st/", "ws://host/p q", "ws://host/\x01",
		"ws://host/\x7f", "ws://h\xc3\xb6st/", "ws://host/\xff",
		"ws://host\t/", "ws://host/\r\nX: y", "ws://host:/",
		"ws://host:0/", "ws://host:65536/", "ws://host:123456/",
		"ws://host:000080/", "ws://host:8a/", "ws://host:-1/",
		"ws://host:+80/", "ws://[::1/", "ws://[]/",
		"ws://[fe80::1%25eth0]/", "ws://[127.0.0.1]/", "ws://[::1]x/",
		"ws://[::1]:/", "ws://::1/", "ws://-host/", "ws://host-/",
		"ws://a..b/", "ws://.a/", "ws://a./", "ws://1.2.3/",
		"ws://999.1.1.1/", "ws://0x7f.1/", "ws://host/%",
		"ws://host/%4", "ws://host/%zz", "ws://host/<script>",
		"ws://host/a\\b", "ws://host/{x}", "ws://host/a|b",
		"ws://host/\"", "ws://host/`", "ws://host/^", "ws://host/[x]",
		"ws://ho%73t/", "ws://host;x/", "ws://host,x/",
	};
	struct ws_url	 u;
	char		 why[128], label[80], name[400], *longurl;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (ws_url_parse(cases[i], &u, why, sizeof(why)) != -1)
			fail_msg("accepted case %zu", i);
		assert_true(why[0] != '\0');
	}

	/* A label of 64 bytes, a name of 254. */
	memset(label, 'a', 64);
	label[64] = '\0';
	(void)snprintf(name, sizeof(name), "ws://%s.example/", label);
	assert_int_equal(ws_url_parse(name, &u, NULL, 0), -1);
	label[63] = '\0';
	(void)snprintf(name, sizeof(name), "ws://%s.example/", label);
	assert_int_equal(ws_url_parse(name, &u, NULL, 0), 0);
	(void)snprintf(name, sizeof(name), "ws://%s.%s.%s.%s/", label,
	    label, label, label);
	assert_int_equal(ws_url_parse(name, &u, NULL, 0), -1);

	/* WS_URL_MAX - 1 bytes is the most. */
	assert_non_null(longurl = malloc(WS_URL_MAX + 1));
	memcpy(longurl, "ws://h/", 7);
	memset(longurl + 7, 'p', WS_URL_MAX - 8);
	longurl[WS_URL_MAX - 1] = '\0';
	assert_int_equal(ws_url_parse(longurl, &u, why, sizeof(why)), 0);
	assert_int_equal(strlen(u.target), WS_URL_MAX - 7);
	longurl[WS_URL_MAX - 1] = 'p';
	longurl[WS_URL_MAX] = '\0';
	assert_int_equal(ws_url_parse(longurl, &u, why, sizeof(why)), -1);
	free(longurl);
}

/* Logs may show scheme://host:port/path, never the query. */
static void
test_url_redact(void **state)
{
	struct ws_url	 u;
	char		 buf[WS_URL_MAX];

	(void)state;
	assert_int_equal(ws_url_parse("wss://h/a/b?token=s3cret", &u, NULL,
	    0), 0);
	ws_url_redact(&u, buf, sizeof(buf));
	assert_string_equal(buf, "wss://h:443/a/b");
	assert_int_equal(ws_url_parse("ws://[::1]?t=x", &u, NULL, 0), 0);
	ws_url_redact(&u, buf, sizeof(buf));
	assert_string_equal(buf, "ws://[::1]:80/");
	ws_url_redact(&u, buf, 8);
	assert_string_equal(buf, "ws://[:");
}

static void
test_header_valid(void **state)
{
	static const char *const good[] = {
		"Authorization: Bearer abc.def-ghi", "X-A:", "X-Trace:\tv",
		"X-Node: a b  c", "User-Agent: berth/0.1",
	};
	static const char *const bad[] = {
		"", ":x", "Bad Name: x", "X : y", "X: a\r\nY: b", "X: a\n",
		"X: a\r", "NoColon", "X: \x01", "X: \x7f", "X: caf\xc3\xa9",
		"Host: x", "host: x", "UPGRADE: h2c", "Connection: close",
		"Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
		"Sec-WebSocket-Version: 8", "Sec-WebSocket-Extensions: x",
		"Sec-WebSocket-Protocol: chat", "Content-Length: 5",
		"Transfer-Encoding: chunked", "X(y): z",
	};
	char	*longer;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!ws_header_valid(good[i]))
			fail_msg("refused %s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ws_header_valid(bad[i]))
			fail_msg("accepted bad header %zu", i);
	assert_non_null(longer = malloc(WS_HEADER_LEN_MAX + 1));
	memcpy(longer, "X: ", 3);
	memset(longer + 3, 'v', WS_HEADER_LEN_MAX - 3);
	longer[WS_HEADER_LEN_MAX - 1] = '\0';
	assert_true(ws_header_valid(longer));
	longer[WS_HEADER_LEN_MAX - 1] = 'v';
	longer[WS_HEADER_LEN_MAX] = '\0';
	assert_false(ws_header_valid(longer));
	free(longer);
}

/* RFC 6455 1.3's example. */
static void
test_accept_key(void **state)
{
	char	 accept[WS_ACCEPT_LEN];

	(void)state;
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept), 0);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(ws_accept_key("short", accept), -1);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", accept),
	    -1);
}

#define RFC_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static void
test_handshake_good(void **state)
{
	static const char *const heads[] = {
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n\r\n",
		/* Other cases and spacing, more tokens, other headers. */
		"HTTP/1.1 101\r\n"
		"server: test\r\n"
		"UPGRADE:WebSocket  \r\n"
		"connection: keep-alive, ,\tupgrade \r\n"
		"sec-websocket-accept:\t" RFC_ACCEPT "\r\n"
		"Sec-WebSocket-Extensions:\r\n"
		"X-Obs: caf\xc3\xa9\r\n\r\n",
		/* Connection in two fields. */
		"HTTP/1.1 101 OK\r\n"
		"Connection: keep-alive\r\n"
		"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
		"Connection: Upgrade\r\n"
		"Upgrade: websocket\r\n\r\n",
	};
	char	 buf[512], why[128];
	size_t	 i, n, head, got;

	(void)state;
	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		head = strlen(heads[i]);
		/* A frame follows the head in the same read. */
		(void)snprintf(buf, sizeof(buf), "%s\x81\x02hi", heads[i]);
		if (ws_handshake_parse(buf, head + 4, RFC_ACCEPT, &got, why,
		    sizeof(why)) != 1)
			fail_msg("head %zu: %s", i, why);
		assert_int_equal(got, head);
		/* Every shorter prefix asks for more. */
		for (n = 0; n < head; n++)
			if (ws_handshake_parse(buf, n, RFC_ACCEPT, &got, why,
			    sizeof(why)) != 0)
				fail_msg("head %zu prefix %zu: %s", i, n, why);
	}
}

struct handshake_case {
	const char	*head;
	const char	*why;		/* part of the reason */
};

#define UPG	"Upgrade: websocket\r\n"
#define CON	"Connection: Upgrade\r\n"
#define ACC	"Sec-WebSocket-Accept: " RFC_ACCEPT "\r\n"
#define S101	"HTTP/1.1 101 Switching Protocols\r\n"

static void
test_handshake_hostile(void **state)
{
	static const struct handshake_case	 cases[] = {
		{ "HTTP/1.1 200 OK\r\n" UPG CON ACC "\r\n", "200" },
		{ "HTTP/1.1 403 Forbidden\r\n\r\n", "403" },
		{ "HTTP/1.0 101 Switching\r\n" UPG CON ACC "\r\n",
		    "status line" },
		{ "http/1.1 101 x\r\n" UPG CON ACC "\r\n", "status line" },
		{ "HTTP/1.1 1O1 x\r\n" UPG CON ACC "\r\n", "status line" },
		{ "HTTP/1.1 101x\r\n" UPG CON ACC "\r\n", "status line" },
		{ "HTTP/1.1  101\r\n" UPG CON ACC "\r\n", "status line" },
		{ "\r\n\r\n", "status line" },
		{ S101 CON ACC "\r\n", "no Upgrade" },
		{ S101 "Upgrade: websocket2\r\n" CON ACC "\r\n",
		    "not websocket" },
		{ S101 "Upgrade: websocket, h2c\r\n" CON ACC "\r\n",
		    "not websocket" },
		{ S101 UPG UPG CON ACC "\r\n", "more than one Upgrade" },
		{ S101 UPG "Connection: keep-alive\r\n" ACC "\r\n",
		    "Connection" },
		{ S101 UPG "Connection: upgrades\r\n" ACC "\r\n",
		    "Connection" },
		{ S101 UPG CON "\r\n", "no Sec-WebSocket-Accept" },
		{ S101 UPG CON "Sec-WebSocket-Accept: "
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n", "does not match" },
		{ S101 UPG CON "Sec-WebSocket-Accept: " RFC_ACCEPT "x\r\n\r\n",
		    "does not match" },
		{ S101 UPG CON "Sec-WebSocket-Accept: "
		    "s3pplmbitxaq9kygzzhzrbk+xoo=\r\n\r\n", "does not match" },
		{ S101 UPG CON "Sec-WebSocket-Accept:\r\n\r\n",
		    "does not match" },
		{ S101 UPG CON ACC ACC "\r\n", "more than one" },
		{ S101 UPG CON ACC "Sec-WebSocket-Extensions: "
		    "permessage-deflate\r\n\r\n", "extension" },
		{ S101 UPG CON ACC "Sec-WebSocket-Protocol: chat\r\n\r\n",
		    "subprotocol" },
		{ S101 UPG CON ACC "Sec-WebSocket-Protocol:\r\n\r\n",
		    "subprotocol" },
		{ S101 UPG "X: y\n" CON ACC "\r\n", "LF without CR" },
		{ S101 UPG CON ACC "\n\n", "LF without CR" },
		{ "HTTP/1.1 101 x\rX" UPG CON ACC "\r\n", "CR without LF" },
		{ S101 UPG "X: a\x01z\r\n" CON ACC "\r\n", "control" },
		{ S101 UPG "X: a\x7fz\r\n" CON ACC "\r\n", "control" },
		{ S101 UPG "X: a\r\n continued\r\n" CON ACC "\r\n", "folded" },
		{ S101 UPG "\tX: a\r\n" CON ACC "\r\n", "folded" },
		{ S101 "Upgrade : websocket\r\n" CON ACC "\r\n", "malformed" },
		{ S101 UPG "NoColon\r\n" CON ACC "\r\n", "malformed" },
		{ S101 UPG ": empty name\r\n" CON ACC "\r\n", "malformed" },
		{ S101 UPG "X\xc3\xa9: y\r\n" CON ACC "\r\n", "malformed" },
	};
	char	 why[128], *buf;
	size_t	 i, got, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (ws_handshake_parse(cases[i].head, strlen(cases[i].head),
		    RFC_ACCEPT, &got, why, sizeof(why)) != -1)
			fail_msg("case %zu accepted", i);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i,
			    why, cases[i].why);
	}

	/* A NUL in the head. */
	{
		static const char	 nul[] = S101 UPG "X: a\0b\r\n" CON ACC
		    "\r\n";

		assert_int_equal(ws_handshake_parse(nul, sizeof(nul) - 1,
		    RFC_ACCEPT, &got, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "control"));
	}

	/* A head that never ends: refused at WS_HEAD_MAX, not before. */
	assert_non_null(buf = malloc(WS_HEAD_MAX + 64));
	n = strlen(S101);
	memcpy(buf, S101, n);
	while (n + 16 < WS_HEAD_MAX + 64) {
		memcpy(buf + n, "X-Pad: aaaaaaa\r\n", 16);
		n += 16;
	}
	assert_int_equal(ws_handshake_parse(buf, WS_HEAD_MAX - 1,
	    RFC_ACCEPT, &got, why, sizeof(why)), 0);
	assert_int_equal(ws_handshake_parse(buf, WS_HEAD_MAX, RFC_ACCEPT,
	    &got, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "8192"));
	assert_int_equal(ws_handshake_parse(buf, n, RFC_ACCEPT, &got, why,
	    sizeof(why)), -1);
	free(buf);

	/* Too many fields, each of them harmless. */
	assert_non_null(buf = malloc(WS_HEAD_MAX));
	n = (size_t)snprintf(buf, WS_HEAD_MAX, "%s", S101 UPG CON ACC);
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(buf + n, WS_HEAD_MAX - n, "X: %zu\r\n",
		    i);
	n += (size_t)snprintf(buf + n, WS_HEAD_MAX - n, "\r\n");
	assert_int_equal(ws_handshake_parse(buf, n, RFC_ACCEPT, &got, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "header fields"));
	free(buf);
}

/* ws_open() refuses what it can tell at once, and says why. */
static void
test_open_refusals(void **state)
{
	const char *const	 good[] = { "Authorization: Bearer x" };
	const char *const	 ours[] = { "Sec-WebSocket-Key: x" };
	const char *const	 nul[] = { NULL };
	struct ws_options	 o;
	char			 why[128];

	(void)state;
	assert_null(ws_open(h.base, h.resolve, "http://h/", NULL, 0, NULL,
	    0, NULL, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "ws://"));
	assert_null(ws_open(h.base, h.resolve, "wss://h/", NULL, 0, NULL,
	    0, NULL, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "CA"));
	assert_null(ws_open(h.base, h.resolve, "wss://h/", NULL, 0,
	    "not PEM", 7, NULL, NULL, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "certificate"));
	assert_null(ws_open(h.base, h.resolve, "ws://h/", ours, 1, NULL, 0,
	    NULL, NULL, NULL, why, sizeof(why)));
	assert_string_equal(why, "header 0 refused");
	assert_null(ws_open(h.base, h.resolve, "ws://h/", nul, 1, NULL, 0,
	    NULL, NULL, NULL, why, sizeof(why)));
	assert_null(ws_open(h.base, h.resolve, "ws://h/", good,
	    WS_HEADERS_MAX + 1, NULL, 0, NULL, NULL, NULL, why, sizeof(why)));
	ws_options_default(&o);
	o.max_message = WS_MESSAGE_MAX + 1;
	assert_null(ws_open(h.base, h.resolve, "ws://h/", NULL, 0, NULL, 0,
	    &o, NULL, NULL, why, sizeof(why)));
	/* why may be NULL. */
	assert_null(ws_open(h.base, h.resolve, "ws://h/#x", NULL, 0, NULL,
	    0, NULL, NULL, NULL, NULL, 0));
}

/* --- the harness ---------------------------------------------------------- */

static char *
slurp(const char *name, size_t *len)
{
	char	 path[128], *buf;

	(void)snprintf(path, sizeof(path), "%s/%s", h.dir, name);
	if (http_ca_read(path, &buf, len) == -1)
		return NULL;
	return buf;
}

static int
make_certs(void)
{
	char	 cmd[256], path[128];
	FILE	*fp;

	(void)snprintf(path, sizeof(path), "%s/certs.sh", h.dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(make_certs_sh, fp);
	fclose(fp);
	(void)snprintf(cmd, sizeof(cmd), "sh %s %s", path, h.dir);
	if (system(cmd) != 0)
		return -1;
	if ((h.ca = slurp("ca.pem", &h.ca_len)) == NULL ||
	    (h.other_ca = slurp("other.pem", &h.other_len)) == NULL)
		return -1;
	return 0;
}

/* ws_server.py sits next to this file; ctest says where that is. */
static void
server_path(char *buf, size_t size)
{
	const char	*src = getenv("BERTH_SRC"), *slash;

	if (src != NULL) {
		(void)snprintf(buf, size, "%s/tests/unit/ws_server.py", src);
		return;
	}
	slash = strrchr(__FILE__, '/');
	(void)snprintf(buf, size, "%.*sws_server.py",
	    slash != NULL ? (int)(slash - __FILE__ + 1) : 0, __FILE__);
}

static int
start_server(void)
{
	char	 path[512], line[256];
	int	 in[2], out[2];
	FILE	*fp;
	json_t	*ports;

	server_path(path, sizeof(path));
	if (pipe(in) == -1 || pipe(out) == -1)
		return -1;
	if ((h.server = fork()) == -1)
		return -1;
	if (h.server == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		execlp("python3", "python3", path, h.dir, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	/* Closing our end of its stdin stops it. */
	h.server_stdin = in[1];
	if ((fp = fdopen(out[0], "r")) == NULL)
		return -1;
	if (fgets(line, sizeof(line), fp) == NULL) {
		fclose(fp);
		return -1;
	}
	fclose(fp);
	if ((ports = json_loads(line, 0, NULL)) == NULL ||
	    json_unpack(ports, "{s:i, s:i}", "ws", &h.ws_port, "wss",
	    &h.wss_port) == -1)
		return -1;
	json_decref(ports);
	return 0;
}

static int
group_setup(void **state)
{
	struct wire_resolver	 conf;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	(void)strlcpy(h.dir, "/tmp/berth-ws.XXXXXX", sizeof(h.dir));
	if (mkdtemp(h.dir) == NULL)
		return -1;
	if (system("command -v openssl >/dev/null && "
	    "command -v python3 >/dev/null") != 0)
		h.no_tools = 1;
	else if (make_certs() == -1 || start_server() == -1)
		return -1;
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS ||
	    (h.base = event_base_new()) == NULL ||
	    (h.resolve = resolve_new(h.base)) == NULL)
		return -1;
	memset(&conf, 0, sizeof(conf));
	conf.nhosts = 2;
	(void)strlcpy(conf.hosts[0].name, "berth.test",
	    sizeof(conf.hosts[0].name));
	(void)strlcpy(conf.hosts[0].addr, "127.0.0.1",
	    sizeof(conf.hosts[0].addr));
	(void)strlcpy(conf.hosts[1].name, "wrong.test",
	    sizeof(conf.hosts[1].name));
	(void)strlcpy(conf.hosts[1].addr, "127.0.0.1",
	    sizeof(conf.hosts[1].addr));
	if (resolve_configure(h.resolve, &conf) == -1)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	char	 cmd[128];
	int	 status;

	(void)state;
	if (h.server > 0) {
		close(h.server_stdin);
		kill(h.server, SIGTERM);
		(void)waitpid(h.server, &status, 0);
	}
	resolve_free(h.resolve);
	event_base_free(h.base);
	free(h.ca);
	free(h.other_ca);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", h.dir);
	(void)system(cmd);
	ares_library_cleanup();
	return 0;
}

static void
need_server(void)
{
	if (h.no_tools) {
		print_message("openssl or python3 missing; skipped\n");
		skip();
	}
}

static void
on_deadline(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	*(int *)arg = 1;
}

/*
 * Run the loop until *count reaches want, or *stop is set (stop may be
 * NULL); the test fails after WAIT_SECONDS.
 */
static void
wait_for(const int *count, int want, const int *stop)
{
	struct timeval	 tv = { WAIT_SECONDS, 0 };
	struct event	*deadline;
	int		 expired = 0;

	assert_non_null(deadline = evtimer_new(h.base, on_deadline,
	    &expired));
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	while (*count < want && (stop == NULL || !*stop) && !expired)
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	event_free(deadline);
	if (expired)
		fail_msg("nothing happened in %d seconds", WAIT_SECONDS);
}

static void
run_until(const int *flag)
{
	wait_for(flag, 1, NULL);
}

static void
run_for(unsigned int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event	*deadline;
	int		 expired = 0;

	assert_non_null(deadline = evtimer_new(h.base, on_deadline,
	    &expired));
	assert_int_equal(evtimer_add(deadline, &tv), 0);
	while (!expired)
		assert_int_not_equal(event_base_loop(h.base, EVLOOP_ONCE), -1);
	event_free(deadline);
}

static void
on_open(struct ws *ws, void *arg)
{
	struct session	*s = arg;

	assert_ptr_equal(ws, s->ws);
	assert_false(s->closed);
	s->opened++;
}

static void
on_message(struct ws *ws, enum ws_type type, const uint8_t *data,
    size_t len, void *arg)
{
	struct session	*s = arg;

	assert_ptr_equal(ws, s->ws);
	assert_int_equal(s->opened, 1);
	free(s->data);
	assert_non_null(s->data = malloc(len + 1));
	memcpy(s->data, data, len);
	s->data[len] = '\0';
	s->len = len;
	s->type = type;
	s->messages++;
	if (s->free_on_message) {
		ws_free(ws);
		s->ws = NULL;
	}
}

static void
on_close(struct ws *ws, uint16_t code, const char *reason, int clean,
    void *arg)
{
	struct session	*s = arg;

	assert_ptr_equal(ws, s->ws);
	assert_false(s->closed);
	s->closed = 1;
	s->code = code;
	s->clean = clean;
	(void)strlcpy(s->reason, reason, sizeof(s->reason));
	if (s->free_on_close) {
		ws_free(ws);
		s->ws = NULL;
	}
}

static const struct ws_callbacks	 callbacks = {
	on_open, on_message, on_close
};

static void
session_open(struct session *s, const char *scheme, const char *host,
    int port, const char *target, const char *ca, size_t ca_len,
    const struct ws_options *opts, const char *const *headers,
    size_t nheaders)
{
	char	 url[512], why[WS_REASON_LEN];

	(void)snprintf(url, sizeof(url), "%s://%s:%d%s", scheme, host, port,
	    target);
	s->ws = ws_open(h.base, h.resolve, url, headers, nheaders, ca,
	    ca_len, opts, &callbacks, s, why, sizeof(why));
	if (s->ws == NULL)
		fail_msg("ws_open %s: %s", url, why);
}

static void
session_clear(struct session *s)
{
	ws_free(s->ws);
	free(s->data);
	memset(s, 0, sizeof(*s));
}

/* Open /echo and wait for on_open. */
static void
echo_open(struct session *s, int tls, const char *host,
    const struct ws_options *opts)
{
	memset(s, 0, sizeof(*s));
	if (tls)
		session_open(s, "wss", host, h.wss_port, "/echo", h.ca,
		    h.ca_len, opts, NULL, 0);
	else
		session_open(s, "ws", host, h.ws_port, "/echo", NULL, 0, opts,
		    NULL, 0);
	run_until(&s->opened);
}

/* Send a text message and wait for the next message back. */
static void
ask(struct session *s, const char *text)
{
	int	 want = s->messages + 1;

	assert_int_equal(ws_send_text(s->ws, text, strlen(text)), 0);
	wait_for(&s->messages, want, &s->closed);
	if (s->closed)
		fail_msg("closed %u: %s", s->code, s->reason);
}

/* Close normally and expect a clean close with our code. */
static void
close_normally(struct session *s)
{
	ws_close(s->ws, WS_CLOSE_NORMAL, "done");
	run_until(&s->closed);
	assert_int_equal(s->code, WS_CLOSE_NORMAL);
	assert_string_equal(s->reason, "done");
	assert_true(s->clean);
}

/* What the server heard in the last client close frame. */
static int
server_last_close(void)
{
	struct session	 s;
	json_t		*j;
	int		 code = -1;

	echo_open(&s, 0, "127.0.0.1", NULL);
	ask(&s, "last-close");
	assert_non_null(j = json_loads(s.data, 0, NULL));
	if (json_is_integer(json_object_get(j, "code")))
		code = (int)json_integer_value(json_object_get(j, "code"));
	json_decref(j);
	close_normally(&s);
	session_clear(&s);
	return code;
}

/* Wait for a close that ends the session; assert its code. */
static void
expect_close(struct session *s, uint16_t code, const char *reason_part)
{
	run_until(&s->closed);
	if (s->code != code)
		fail_msg("closed %u (%s), wanted %u", s->code, s->reason, code);
	if (reason_part != NULL && strstr(s->reason, reason_part) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", s->reason, reason_part);
}

/* --- connections ---------------------------------------------------------- */

static void
test_echo(void **state)
{
	const char *const	 headers[] = { "Authorization: Bearer t0ken" };
	const uint8_t		 bin[] = { 0x00, 0xff, 0x10, 0x00 };
	struct session		 s;
	char			 host[64];
	json_t			*j;

	(void)state;
	need_server();
	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "127.0.0.1", h.ws_port, "/echo?token=s3cret",
	    NULL, 0, NULL, headers, 1);
	/* What logs may say has no query. */
	assert_null(strstr(ws_where(s.ws), "s3cret"));
	assert_null(strchr(ws_where(s.ws), '?'));
	/* Nothing goes out before it is open. */
	assert_int_equal(ws_send_text(s.ws, "early", 5), -1);
	run_until(&s.opened);

	ask(&s, "hello");
	assert_int_equal(s.type, WS_TEXT);
	assert_string_equal(s.data, "hello");
	ask(&s, "");
	assert_int_equal(s.len, 0);
	assert_int_equal(ws_send_binary(s.ws, bin, sizeof(bin)), 0);
	wait_for(&s.messages, 3, &s.closed);
	assert_int_equal(s.type, WS_BINARY);
	assert_int_equal(s.len, sizeof(bin));
	assert_memory_equal(s.data, bin, sizeof(bin));
	/* Text must be UTF-8. */
	assert_int_equal(ws_send_text(s.ws, "\xc0\xaf", 2), -1);
	assert_int_equal(ws_send_text(s.ws, "\xed\xa0\x80", 3), -1);

	/* The request as the server saw it. */
	ask(&s, "headers");
	assert_non_null(j = json_loads(s.data, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "target")),
	    "/echo?token=s3cret");
	assert_string_equal(json_string_value(json_object_get(j,
	    "authorization")), "Bearer t0ken");
	assert_string_equal(json_string_value(json_object_get(j, "version")),
	    "13");
	assert_int_equal(json_integer_value(json_object_get(j, "key_bytes")),
	    16);
	(void)snprintf(host, sizeof(host), "127.0.0.1:%d", h.ws_port);
	assert_string_equal(json_string_value(json_object_get(j, "host")),
	    host);
	json_decref(j);

	close_normally(&s);
	/* Closed: nothing more goes out, a second close does nothing. */
	assert_int_equal(ws_send_text(s.ws, "late", 4), -1);
	ws_close(s.ws, WS_CLOSE_NORMAL, NULL);
	session_clear(&s);
	assert_int_equal(server_last_close(), WS_CLOSE_NORMAL);
}

/* 200 KiB in 4 KiB fragments with a ping among them, reassembled. */
static void
test_fragmented(void **state)
{
	struct session	 s;
	char		 cmd[32];
	size_t		 i;

	(void)state;
	need_server();
	echo_open(&s, 0, "127.0.0.1", NULL);
	(void)snprintf(cmd, sizeof(cmd), "big:%d", BIG_MESSAGE);
	ask(&s, cmd);
	assert_int_equal(s.type, WS_TEXT);
	assert_int_equal(s.len, BIG_MESSAGE);
	for (i = 0; i < s.len; i++)
		if (s.data[i] != "0123456789abcdef"[i % 16])
			fail_msg("byte %zu differs", i);
	ask(&s, "still here");
	close_normally(&s);
	session_clear(&s);
}

static void
test_too_big(void **state)
{
	struct ws_options	 o;
	struct session		 s;
	char			 cmd[32];

	(void)state;
	need_server();
	ws_options_default(&o);
	o.max_message = 64 * 1024;
	echo_open(&s, 0, "127.0.0.1", &o);
	(void)snprintf(cmd, sizeof(cmd), "big:%d", BIG_MESSAGE);
	assert_int_equal(ws_send_text(s.ws, cmd, strlen(cmd)), 0);
	expect_close(&s, WS_CLOSE_TOO_BIG, "too big");
	assert_int_equal(s.messages, 0);
	session_clear(&s);
	assert_int_equal(server_last_close(), WS_CLOSE_TOO_BIG);
}

/* The server's ping gets its payload back in a pong. */
static void
test_server_ping(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	echo_open(&s, 0, "127.0.0.1", NULL);
	ask(&s, "ping-me");
	assert_string_equal(s.data, "pong:hello");
	close_normally(&s);
	session_clear(&s);
}

/* Our pings, answered: the connection stays; unanswered: 1006. */
static void
test_keepalive(void **state)
{
	struct ws_options	 o;
	struct session		 s;

	(void)state;
	need_server();
	ws_options_default(&o);
	o.ping_interval_ms = 100;
	o.pong_timeout_ms = 1000;
	echo_open(&s, 0, "127.0.0.1", &o);
	/* Ten chances for three pings: a loaded machine is slow. */
	run_for(1000);
	assert_false(s.closed);
	ask(&s, "pings");
	assert_true(atoi(s.data) >= 3);
	close_normally(&s);
	session_clear(&s);

	o.pong_timeout_ms = 300;
	echo_open(&s, 0, "127.0.0.1", &o);
	assert_int_equal(ws_send_text(s.ws, "mute", 4), 0);
	expect_close(&s, WS_CLOSE_ABNORMAL, "no pong within 300 ms");
	assert_false(s.clean);
	session_clear(&s);
}

/* Frames the protocol forbids: we close with 1002 (1007), unharmed. */
static void
test_bad_frames(void **state)
{
	static const struct {
		const char	*command;
		uint16_t	 code;
	} cases[] = {
		{ "rsv", WS_CLOSE_PROTOCOL },
		{ "masked", WS_CLOSE_PROTOCOL },
		{ "opcode", WS_CLOSE_PROTOCOL },
		{ "bad-utf8", WS_CLOSE_BAD_DATA },
	};
	struct session	 s;
	size_t		 i;

	(void)state;
	need_server();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		echo_open(&s, 0, "127.0.0.1", NULL);
		assert_int_equal(ws_send_text(s.ws, cases[i].command,
		    strlen(cases[i].command)), 0);
		expect_close(&s, cases[i].code, NULL);
		assert_int_equal(s.messages, 0);
		session_clear(&s);
		if (server_last_close() != cases[i].code)
			fail_msg("%s: the server did not get %u",
			    cases[i].command, cases[i].code);
	}
}

/* The server starts the closing handshake: its code and reason. */
static void
test_server_close(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	echo_open(&s, 0, "127.0.0.1", NULL);
	assert_int_equal(ws_send_text(s.ws, "close-me", 8), 0);
	expect_close(&s, 4000, NULL);
	assert_string_equal(s.reason, "bye");
	assert_true(s.clean);
	session_clear(&s);
	/* We echoed its code. */
	assert_int_equal(server_last_close(), 4000);
}

/* A server that hangs up mid-session, without a close frame. */
static void
test_server_vanishes(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	echo_open(&s, 0, "127.0.0.1", NULL);
	assert_int_equal(ws_send_text(s.ws, "hangup", 6), 0);
	expect_close(&s, WS_CLOSE_ABNORMAL, "without a close frame");
	assert_false(s.clean);
	session_clear(&s);
}

/* Upgrades that must not open. */
static void
test_bad_upgrades(void **state)
{
	static const struct {
		const char	*target;
		const char	*why;
	} cases[] = {
		{ "/badaccept", "Sec-WebSocket-Accept does not match" },
		{ "/hangup", "closed during the upgrade" },
		{ "/deny", "server answered 403" },
		{ "/nothing", "server answered 404" },
	};
	struct session	 s;
	size_t		 i;

	(void)state;
	need_server();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		session_open(&s, "ws", "berth.test", h.ws_port,
		    cases[i].target, NULL, 0, NULL, NULL, 0);
		expect_close(&s, WS_CLOSE_ABNORMAL, cases[i].why);
		assert_int_equal(s.opened, 0);
		assert_false(s.clean);
		session_clear(&s);
	}
}

static void
test_open_timeout(void **state)
{
	struct ws_options	 o;
	struct session		 s;

	(void)state;
	need_server();
	ws_options_default(&o);
	o.open_timeout_ms = 300;
	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "127.0.0.1", h.ws_port, "/slow", NULL, 0, &o,
	    NULL, 0);
	expect_close(&s, WS_CLOSE_ABNORMAL, "not open after 300 ms");
	assert_int_equal(s.opened, 0);
	session_clear(&s);
}

/* Nobody listening; a name nobody knows. */
static void
test_unreachable(void **state)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct session		 s;
	int			 fd, port;

	(void)state;
	/* A port that was free a moment ago. */
	assert_int_not_equal(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);

	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "127.0.0.1", port, "/", NULL, 0, NULL, NULL,
	    0);
	expect_close(&s, WS_CLOSE_ABNORMAL, "refused");
	session_clear(&s);

	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "nowhere.test", port, "/", NULL, 0, NULL,
	    NULL, 0);
	expect_close(&s, WS_CLOSE_ABNORMAL, "cannot resolve: nowhere.test");
	session_clear(&s);
}

static void
test_wss(void **state)
{
	struct session	 s;
	char		 cmd[32];

	(void)state;
	need_server();
	/* By name (SNI, host name check) and by address (IP check). */
	echo_open(&s, 1, "berth.test", NULL);
	ask(&s, "over TLS");
	assert_string_equal(s.data, "over TLS");
	(void)snprintf(cmd, sizeof(cmd), "big:%d", BIG_MESSAGE);
	ask(&s, cmd);
	assert_int_equal(s.len, BIG_MESSAGE);
	close_normally(&s);
	session_clear(&s);

	echo_open(&s, 1, "127.0.0.1", NULL);
	ask(&s, "ping-me");
	assert_string_equal(s.data, "pong:hello");
	assert_int_equal(ws_send_text(s.ws, "rsv", 3), 0);
	expect_close(&s, WS_CLOSE_PROTOCOL, NULL);
	session_clear(&s);
}

static void
test_wss_refused(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	/* The certificate is not for this name. */
	memset(&s, 0, sizeof(s));
	session_open(&s, "wss", "wrong.test", h.wss_port, "/echo", h.ca,
	    h.ca_len, NULL, NULL, 0);
	expect_close(&s, WS_CLOSE_TLS, "hostname mismatch");
	assert_int_equal(s.opened, 0);
	session_clear(&s);

	/* Signed by a CA we do not trust. */
	memset(&s, 0, sizeof(s));
	session_open(&s, "wss", "berth.test", h.wss_port, "/echo",
	    h.other_ca, h.other_len, NULL, NULL, 0);
	expect_close(&s, WS_CLOSE_TLS, "certificate refused");
	assert_int_equal(s.opened, 0);
	session_clear(&s);

	/* Plain WebSocket to the TLS port: no 101 comes back. */
	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "berth.test", h.wss_port, "/echo", NULL, 0,
	    NULL, NULL, 0);
	expect_close(&s, WS_CLOSE_ABNORMAL, NULL);
	assert_int_equal(s.opened, 0);
	session_clear(&s);
}

/* The caller may free the connection from inside any callback. */
static void
test_free_in_callbacks(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	echo_open(&s, 0, "127.0.0.1", NULL);
	s.free_on_message = 1;
	/* If both replies come in one read, the second is not delivered. */
	assert_int_equal(ws_send_text(s.ws, "one", 3), 0);
	assert_int_equal(ws_send_text(s.ws, "two", 3), 0);
	run_until(&s.messages);
	assert_null(s.ws);
	run_for(200);
	assert_int_equal(s.messages, 1);
	assert_false(s.closed);
	session_clear(&s);

	echo_open(&s, 0, "127.0.0.1", NULL);
	s.free_on_close = 1;
	ws_close(s.ws, 4001, "from the caller");
	run_until(&s.closed);
	assert_null(s.ws);
	assert_int_equal(s.code, 4001);
	session_clear(&s);
}

/* Closing or freeing before the connection opens. */
static void
test_early_close(void **state)
{
	struct session	 s;

	(void)state;
	need_server();
	memset(&s, 0, sizeof(s));
	session_open(&s, "ws", "berth.test", h.ws_port, "/echo", NULL, 0,
	    NULL, NULL, 0);
	ws_close(s.ws, WS_CLOSE_GOING_AWAY, NULL);
	/* Not from inside ws_close(). */
	assert_false(s.closed);
	expect_close(&s, WS_CLOSE_GOING_AWAY, "before");
	assert_int_equal(s.opened, 0);
	session_clear(&s);

	memset(&s, 0, sizeof(s));
	session_open(&s, "wss", "berth.test", h.wss_port, "/echo", h.ca,
	    h.ca_len, NULL, NULL, 0);
	ws_free(s.ws);
	s.ws = NULL;
	run_for(300);
	assert_int_equal(s.opened + s.closed + s.messages, 0);
	session_clear(&s);

	/* A code that may not go on the wire is sent as 1000. */
	echo_open(&s, 0, "127.0.0.1", NULL);
	ws_close(s.ws, WS_CLOSE_ABNORMAL, NULL);
	expect_close(&s, WS_CLOSE_NORMAL, NULL);
	session_clear(&s);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_url_good),
		cmocka_unit_test(test_url_hostile),
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_header_valid),
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_handshake_good),
		cmocka_unit_test(test_handshake_hostile),
		cmocka_unit_test(test_open_refusals),
		cmocka_unit_test(test_echo),
		cmocka_unit_test(test_fragmented),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_server_ping),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_server_close),
		cmocka_unit_test(test_server_vanishes),
		cmocka_unit_test(test_bad_upgrades),
		cmocka_unit_test(test_open_timeout),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_wss),
		cmocka_unit_test(test_wss_refused),
		cmocka_unit_test(test_free_in_callbacks),
		cmocka_unit_test(test_early_close),
	};

	log_init(1, getenv("WS_DEBUG") != NULL ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_WARN, LOG_DAEMON);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
