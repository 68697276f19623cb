/*
 * fuzz_ws.c: what netd/ws.c reads from a WebSocket server, and what it
 * parses of its caller's.  The first input byte chooses:
 *
 *	0  the rest is the server's answer to the upgrade, given to
 *	   ws_handshake_parse() whole and cut where the head ends; a head
 *	   it accepts must end in CRLF CRLF within WS_HEAD_MAX, and one
 *	   byte less of it must ask for more, not fail;
 *	1  the rest is a stream of frames from the server, read by a
 *	   libwslay client context set up as ws.c sets its up (the same
 *	   limit on a message, auto-answered pings and closes), through a
 *	   callback that reads from memory in chunks the next byte sizes;
 *	2  the rest is a URL for ws_url_parse(): what it accepts keeps
 *	   ws.h's promises, and its redacted form has no query;
 *	3  the rest is a header line for ws_header_valid(): what it lets
 *	   through cannot end a line or add another.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wslay/wslay.h>

#include "ws.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* RFC 6455's example key and its accept value. */
#define FUZZ_ACCEPT	"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define FUZZ_MESSAGE	4096	/* small: the 1009 path is reached */

struct stream {
	const uint8_t	*data;
	size_t		 len;
	size_t		 off;
	size_t		 chunk;
};

static void
fuzz_handshake(const uint8_t *data, size_t len)
{
	char	 why[WS_REASON_LEN];
	size_t	 head, again;
	int	 rc;

	rc = ws_handshake_parse((const char *)data, len, FUZZ_ACCEPT, &head,
	    why, sizeof(why));
	if (rc == 0 && len >= WS_HEAD_MAX)
		abort();
	if (rc != 1)
		return;
	if (head < 4 || head > len || head > WS_HEAD_MAX ||
	    memcmp(data + head - 4, "\r\n\r\n", 4) != 0)
		abort();
	/* The head alone is enough, and one byte less is not an error. */
	if (ws_handshake_parse((const char *)data, head, FUZZ_ACCEPT, &again,
	    why, sizeof(why)) != 1 || again != head)
		abort();
	if (ws_handshake_parse((const char *)data, head - 1, FUZZ_ACCEPT,
	    &again, why, sizeof(why)) != 0)
		abort();
}

static ssize_t
stream_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    int flags, void *arg)
{
	struct stream	*s = arg;
	size_t		 n;

	(void)flags;
	if (s->off == s->len) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	n = s->len - s->off;
	if (n > len)
		n = len;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static ssize_t
stream_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	(void)ctx;
	(void)data;
	(void)flags;
	(void)arg;
	return (ssize_t)len;
}

static int
stream_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
    void *arg)
{
	(void)ctx;
	(void)arg;
	memset(buf, 0x5a, len);
	return 0;
}

static void
stream_message(wslay_event_context_ptr ctx,
    const struct wslay_event_on_msg_recv_arg *m, void *arg)
{
	(void)ctx;
	(void)arg;
	switch (m->opcode) {
	case WSLAY_TEXT_FRAME:
	case WSLAY_BINARY_FRAME:
		if (m->msg_length > FUZZ_MESSAGE)
			abort();
		break;
	case WSLAY_CONNECTION_CLOSE:
	case WSLAY_PING:
	case WSLAY_PONG:
		/* Control frames carry at most 125 bytes. */
		if (m->msg_length > 125)
			abort();
		break;
	default:
		abort();
	}
	/* Touch every byte: a bad length shows up under ASan. */
	if (m->msg_length > 0 && m->msg[0] + m->msg[m->msg_length - 1] > 510)
		abort();
}

static void
fuzz_frames(const uint8_t *data, size_t len)
{
	struct wslay_event_callbacks	 callbacks;
	struct wslay_event_msg		 msg;
	wslay_event_context_ptr		 ctx;
	struct stream			 s;

	if (len == 0)
		return;
	s.chunk = 1 + data[0] % 64;
	s.data = data + 1;
	s.len = len - 1;
	s.off = 0;
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.recv_callback = stream_recv;
	callbacks.send_callback = stream_send;
	callbacks.genmask_callback = stream_genmask;
	callbacks.on_msg_recv_callback = stream_message;
	if (wslay_event_context_client_init(&ctx, &callbacks, &s) != 0)
		return;
	wslay_event_config_set_max_recv_msg_length(ctx, FUZZ_MESSAGE);
	/* As ws.c does: read while reading is on, then send what is due. */
	while (wslay_event_get_read_enabled(ctx) && s.off < s.len)
		if (wslay_event_recv(ctx) != 0)
			break;
	msg.opcode = WSLAY_TEXT_FRAME;
	msg.msg = (const uint8_t *)"reply";
	msg.msg_length = 5;
	(void)wslay_event_queue_msg(ctx, &msg);
	if (wslay_event_want_write(ctx))
		(void)wslay_event_send(ctx);
	wslay_event_context_free(ctx);
}

static char *
string_of(const uint8_t *data, size_t len)
{
	char	*s;

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

static void
fuzz_url(const uint8_t *data, size_t len)
{
	struct ws_url	 u;
	char		 why[WS_REASON_LEN], where[WS_URL_MAX], *url;

	url = string_of(data, len);
	if (ws_url_parse(url, &u, why, sizeof(why)) == 0) {
		if (u.host[0] == '\0' || u.port == 0 || u.target[0] != '/' ||
		    u.path_len > strlen(u.target) ||
		    memchr(u.target, '?', u.path_len) != NULL ||
		    strlen(url) >= WS_URL_MAX)
			abort();
		ws_url_redact(&u, where, sizeof(where));
		if (strchr(where, '?') != NULL || strchr(where, '#') != NULL)
			abort();
	}
	free(url);
}

static void
fuzz_header(const uint8_t *data, size_t len)
{
	char	*line;

	line = string_of(data, len);
	if (ws_header_valid(line) && (strchr(line, '\r') != NULL ||
	    strchr(line, '\n') != NULL || strchr(line, ':') == NULL))
		abort();
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_handshake(data + 1, len - 1);
		break;
	case 1:
		fuzz_frames(data + 1, len - 1);
		break;
	case 2:
		fuzz_url(data + 1, len - 1);
		break;
	default:
		fuzz_header(data + 1, len - 1);
		break;
	}
	return 0;
}
