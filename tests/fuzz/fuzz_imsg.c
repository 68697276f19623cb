/*
 * fuzz_imsg.c: arbitrary bytes from a peer, through a real socketpair,
 * into an imsgbuf on a channel that passes no descriptors.  The first
 * input byte sets how many bytes go over per write, so that headers and
 * payloads arrive split at every possible point.  Whatever comes in,
 * imsg_get must hand out whole messages or refuse, and never crash, read
 * out of bounds or leak.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "berth.h"
#include "imsg.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Take every whole message; 0 to go on, -1 once the stream is refused. */
static int
drain(struct imsgbuf *ibuf)
{
	struct imsg	 imsg;
	int		 got;

	while ((got = imsg_get(ibuf, &imsg)) == 1) {
		if (imsg.hdr.len > 0 && imsg.data == NULL)
			abort();
		if (imsg.fd != -1)
			abort();
		imsg_free(&imsg);
	}
	return got;
}

/* Read what the socket holds: 1 to go on, 0 at end of file or on error. */
static int
pump(struct imsgbuf *ibuf)
{
	ssize_t	 n;

	for (;;) {
		if (drain(ibuf) == -1)
			return 0;
		if ((n = imsgbuf_read(ibuf)) == 0)
			return 0;
		if (n == -1)
			return errno == EAGAIN;	/* nothing more for now */
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imsgbuf	 ibuf;
	size_t		 chunk, off, len;
	ssize_t		 n;
	int		 sv[2], alive = 1;

	if (size < 1)
		return 0;
	chunk = (size_t)data[0] * 64 + 1;
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
		abort();
	if (imsgbuf_init(&ibuf, sv[1], BERTH_IMSG_MAX, BERTH_IMSG_QUEUE_MAX,
	    0) == -1)
		abort();

	for (off = 0; off < size && alive; off += (size_t)n) {
		len = size - off < chunk ? size - off : chunk;
		if ((n = write(sv[0], data + off, len)) == -1)
			n = 0;	/* socket full: let the reader catch up */
		alive = pump(&ibuf);
	}
	close(sv[0]);
	while (alive)
		alive = pump(&ibuf);

	imsgbuf_clear(&ibuf);
	close(sv[1]);
	return 0;
}
