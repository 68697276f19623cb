/*
 * test_imsg.c: the imsg framing against a real socketpair.  Each test
 * states one promise of common/imsg.h (whole messages only, bounded
 * buffers, descriptors only where allowed, back-pressure) and fails if
 * the code stops keeping it.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "berth.h"
#include "imsg.h"

#define TEST_MAXMSG	BERTH_IMSG_MAX
#define TEST_MAXQUEUE	BERTH_IMSG_QUEUE_MAX

/* Two imsgbufs on the two ends of one socketpair. */
struct channel {
	int		 sv[2];
	struct imsgbuf	 a;	/* sv[0] */
	struct imsgbuf	 b;	/* sv[1] */
};

static void
channel_open(struct channel *ch, size_t maxqueue, int pass_fds)
{
	assert_int_equal(socketpair(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ch->sv), 0);
	assert_int_equal(imsgbuf_init(&ch->a, ch->sv[0], TEST_MAXMSG,
	    maxqueue, pass_fds), 0);
	assert_int_equal(imsgbuf_init(&ch->b, ch->sv[1], TEST_MAXMSG,
	    maxqueue, pass_fds), 0);
}

static void
channel_close(struct channel *ch)
{
	imsgbuf_clear(&ch->a);
	imsgbuf_clear(&ch->b);
	if (ch->sv[0] != -1)
		close(ch->sv[0]);
	if (ch->sv[1] != -1)
		close(ch->sv[1]);
}

static unsigned char
pattern(unsigned int seed, size_t i)
{
	return (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

static void
fill(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(seed, i);
}

static int
matches(const unsigned char *buf, size_t len, unsigned int seed)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern(seed, i))
			return 0;
	return 1;
}

/* Wait until fd is readable; a test that hangs is a failure. */
static void
wait_readable(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 5000), 1);
}

/* Read into ibuf until imsg_get answers something other than 0. */
static int
receive(struct imsgbuf *ibuf, struct imsg *imsg)
{
	ssize_t	 n;
	int	 got;

	for (;;) {
		if ((got = imsg_get(ibuf, imsg)) != 0)
			return got;
		wait_readable(ibuf->fd);
		n = imsgbuf_read(ibuf);
		assert_true(n > 0);
	}
}

/*
 * Send hand-made bytes, optionally with descriptors, the way a
 * misbehaving peer would.
 */
static void
send_raw(int fd, const void *buf, size_t len, const int *fds, size_t nfds)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	unsigned char	*cbuf = NULL;
	struct cmsghdr	*cmsg;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		cbuf = calloc(1, CMSG_SPACE(nfds * sizeof(int)));
		assert_non_null(cbuf);
		msg.msg_control = cbuf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
	}
	assert_int_equal(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)len);
	free(cbuf);
}

static struct imsg_hdr
forge_hdr(uint32_t type, uint32_t len, uint16_t flags, uint16_t reserved)
{
	struct imsg_hdr	 hdr;

	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = len;
	hdr.flags = flags;
	hdr.reserved = reserved;
	hdr.peerid = 42;
	hdr.pid = 4242;
	return hdr;
}

/* A nonblocking pipe: p[0] reads EOF once every copy of p[1] is closed. */
static void
open_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static int
write_end_closed_everywhere(int readfd)
{
	char	 c;

	return read(readfd, &c, 1) == 0;
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static void
test_init_rejects_small_maxmsg(void **state)
{
	struct imsgbuf	 ibuf;

	(void)state;
	errno = 0;
	assert_int_equal(imsgbuf_init(&ibuf, -1, IMSG_HDR_SIZE - 1, 1024, 0),
	    -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(imsgbuf_init(&ibuf, -1, IMSG_HDR_SIZE, 1024, 0), 0);
	imsgbuf_clear(&ibuf);
}

static void
test_roundtrip_sizes(void **state)
{
	static const size_t	 sizes[] = {
		0, 1, 7, 20, 100, 4096, TEST_MAXMSG - IMSG_HDR_SIZE - 1,
		TEST_MAXMSG - IMSG_HDR_SIZE,
	};
	struct channel		 ch;
	struct imsg		 imsg;
	unsigned char		*buf;
	size_t			 i;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	assert_non_null(buf = malloc(TEST_MAXMSG));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(buf, sizes[i], i);
		assert_int_equal(imsg_compose(&ch.a, 100 + i, i, 1000 + i, -1,
		    buf, sizes[i]), 0);
	}
	assert_int_equal(imsgbuf_write(&ch.a), 0);
	assert_int_equal(imsgbuf_queued(&ch.a), 0);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(receive(&ch.b, &imsg), 1);
		assert_int_equal(imsg.hdr.type, 100 + i);
		assert_int_equal(imsg.hdr.len, sizes[i]);
		assert_int_equal(imsg.hdr.peerid, i);
		assert_int_equal(imsg.hdr.pid, 1000 + i);
		assert_int_equal(imsg.hdr.flags, 0);
		assert_int_equal(imsg.fd, -1);
		if (sizes[i] == 0)
			assert_null(imsg.data);
		else
			assert_true(matches(imsg.data, sizes[i], i));
		imsg_free(&imsg);
	}
	assert_int_equal(imsg_get(&ch.b, &imsg), 0);
	free(buf);
	channel_close(&ch);
}

/* Bytes trickle in one at a time: nothing comes out until all are in. */
static void
test_partial_read(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	unsigned char	 wire[2 * (IMSG_HDR_SIZE + 40)];
	size_t		 i, msglen = IMSG_HDR_SIZE + 40;
	int		 got, messages = 0;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	for (i = 0; i < 2; i++) {
		hdr = forge_hdr(7 + i, 40, 0, 0);
		memcpy(wire + i * msglen, &hdr, sizeof(hdr));
		fill(wire + i * msglen + IMSG_HDR_SIZE, 40, i);
	}
	for (i = 0; i < sizeof(wire); i++) {
		assert_int_equal(write(ch.sv[0], wire + i, 1), 1);
		assert_int_equal(imsgbuf_read(&ch.b), 1);
		got = imsg_get(&ch.b, &imsg);
		if ((i + 1) % msglen != 0) {
			assert_int_equal(got, 0);
			continue;
		}
		assert_int_equal(got, 1);
		assert_int_equal(imsg.hdr.type, 7 + messages);
		assert_int_equal(imsg.hdr.len, 40);
		assert_true(matches(imsg.data, 40, messages));
		imsg_free(&imsg);
		messages++;
	}
	assert_int_equal(messages, 2);
	assert_int_equal(ch.b.rlen, 0);
	channel_close(&ch);
}

/* A small send buffer forces a write to stop inside a message. */
static void
test_partial_write(void **state)
{
	enum { NMSG = 8, PAYLOAD = 16000 };
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_out	*first;
	struct pollfd	 pfd[2];
	unsigned char	*buf;
	size_t		 total = NMSG * (IMSG_HDR_SIZE + PAYLOAD);
	int		 sndbuf = 4096, i, received = 0, rounds = 0;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	assert_int_equal(setsockopt(ch.sv[0], SOL_SOCKET, SO_SNDBUF,
	    &sndbuf, sizeof(sndbuf)), 0);
	assert_non_null(buf = malloc(PAYLOAD));
	for (i = 0; i < NMSG; i++) {
		fill(buf, PAYLOAD, i);
		assert_int_equal(imsg_compose(&ch.a, 1, i, 0, -1, buf,
		    PAYLOAD), 0);
	}
	assert_int_equal(imsgbuf_queued(&ch.a), total);

	assert_int_equal(imsgbuf_write(&ch.a), 0);
	assert_true(imsgbuf_queued(&ch.a) > 0);
	assert_true(imsgbuf_queued(&ch.a) < total);
	/* The first message did not fit: it is queued half written. */
	assert_non_null(first = TAILQ_FIRST(&ch.a.wq));
	assert_true(first->off > 0);
	assert_true(first->off < first->len);

	while (received < NMSG) {
		assert_true(rounds++ < 10000);
		pfd[0].fd = ch.sv[0];
		pfd[0].events = imsgbuf_queued(&ch.a) > 0 ? POLLOUT : 0;
		pfd[1].fd = ch.sv[1];
		pfd[1].events = POLLIN;
		assert_true(poll(pfd, 2, 5000) > 0);
		if (pfd[0].revents & POLLOUT)
			assert_int_equal(imsgbuf_write(&ch.a), 0);
		if (pfd[1].revents & POLLIN)
			assert_true(imsgbuf_read(&ch.b) > 0);
		while (imsg_get(&ch.b, &imsg) == 1) {
			assert_int_equal(imsg.hdr.peerid, received);
			assert_int_equal(imsg.hdr.len, PAYLOAD);
			assert_true(matches(imsg.data, PAYLOAD, received));
			imsg_free(&imsg);
			received++;
		}
	}
	assert_int_equal(imsgbuf_queued(&ch.a), 0);
	assert_true(TAILQ_EMPTY(&ch.a.wq));
	free(buf);
	channel_close(&ch);
}

/* Descriptors arrive with their own messages, in order, and work. */
static void
test_fd_passing(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	int		 p[2], q[2];
	char		 got[16];

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 1);
	open_pipe(p);
	open_pipe(q);
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, p[1], "p", 1), 0);
	assert_int_equal(imsg_compose(&ch.a, 2, 0, 0, -1, "none", 4), 0);
	assert_int_equal(imsg_compose(&ch.a, 3, 0, 0, q[1], NULL, 0), 0);
	assert_int_equal(imsgbuf_write(&ch.a), 0);
	/* The buffer owned the descriptors and closed them once sent. */
	assert_false(fd_is_open(p[1]));
	assert_false(fd_is_open(q[1]));

	assert_int_equal(receive(&ch.b, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 1);
	assert_int_equal(imsg.hdr.flags, IMSG_FLAG_FD);
	assert_true(imsg.fd >= 0);
	assert_int_equal(write(imsg.fd, "hello", 5), 5);
	imsg_free(&imsg);
	assert_int_equal(read(p[0], got, sizeof(got)), 5);
	assert_memory_equal(got, "hello", 5);
	/* imsg_free closed the last write end. */
	assert_true(write_end_closed_everywhere(p[0]));

	assert_int_equal(receive(&ch.b, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 2);
	assert_int_equal(imsg.fd, -1);
	imsg_free(&imsg);

	assert_int_equal(receive(&ch.b, &imsg), 1);
	assert_int_equal(imsg.hdr.type, 3);
	assert_true(imsg.fd >= 0);
	assert_int_equal(write(imsg.fd, "q", 1), 1);
	imsg_free(&imsg);
	assert_int_equal(read(q[0], got, sizeof(got)), 1);
	assert_int_equal(got[0], 'q');

	close(p[0]);
	close(q[0]);
	channel_close(&ch);
}

static void
test_fd_refused_on_compose(void **state)
{
	struct channel	 ch;
	int		 p[2];

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	open_pipe(p);
	errno = 0;
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, p[1], NULL, 0), -1);
	assert_int_equal(errno, EBADF);
	/* On failure the descriptor stays the caller's. */
	assert_true(fd_is_open(p[1]));
	assert_int_equal(imsgbuf_queued(&ch.a), 0);
	close(p[0]);
	close(p[1]);
	channel_close(&ch);
}

/*
 * A peer that pushes a descriptor at a channel that passes none: the
 * descriptor is closed at once, with or without the flag, and the
 * channel is refused.
 */
static void
test_fd_on_plain_channel_closed(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	int		 p[2];
	size_t		 i;
	static const uint16_t	 flags[] = { IMSG_FLAG_FD, 0 };

	(void)state;
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		channel_open(&ch, TEST_MAXQUEUE, 0);
		open_pipe(p);
		hdr = forge_hdr(1, 0, flags[i], 0);
		send_raw(ch.sv[0], &hdr, sizeof(hdr), &p[1], 1);
		close(p[1]);
		assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
		assert_true(write_end_closed_everywhere(p[0]));
		errno = 0;
		assert_int_equal(imsg_get(&ch.b, &imsg), -1);
		assert_int_equal(errno, EBADMSG);
		close(p[0]);
		channel_close(&ch);
	}
}

static void
test_fd_flag_without_fd(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 1);
	hdr = forge_hdr(1, 0, IMSG_FLAG_FD, 0);
	send_raw(ch.sv[0], &hdr, sizeof(hdr), NULL, 0);
	assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
	errno = 0;
	assert_int_equal(imsg_get(&ch.b, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	channel_close(&ch);
}

/* More pending descriptors than the buffer holds: all closed, refused. */
static void
test_too_many_fds(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	int		 p[2], i;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 1);
	open_pipe(p);
	hdr = forge_hdr(1, 0, IMSG_FLAG_FD, 0);
	for (i = 0; i < IMSG_MAX_PENDING_FDS + 1; i++)
		send_raw(ch.sv[0], &hdr, sizeof(hdr), &p[1], 1);
	close(p[1]);
	/* The kernel hands over one message's descriptors per read. */
	for (i = 0; i < IMSG_MAX_PENDING_FDS + 1; i++)
		assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
	assert_true(write_end_closed_everywhere(p[0]));
	errno = 0;
	assert_int_equal(imsg_get(&ch.b, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	/* And it stays refused. */
	assert_int_equal(imsg_get(&ch.b, &imsg), -1);
	close(p[0]);
	channel_close(&ch);
}

/* More descriptors in one message than the control buffer takes. */
static void
test_truncated_control_data(void **state)
{
	enum { NFDS = 32 };
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	int		 p[2], fds[NFDS], i;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 1);
	open_pipe(p);
	for (i = 0; i < NFDS; i++)
		fds[i] = p[1];
	hdr = forge_hdr(1, 0, IMSG_FLAG_FD, 0);
	send_raw(ch.sv[0], &hdr, sizeof(hdr), fds, NFDS);
	close(p[1]);
	errno = 0;
	assert_int_equal(imsgbuf_read(&ch.b), -1);
	assert_int_equal(errno, EBADMSG);
	assert_true(write_end_closed_everywhere(p[0]));
	errno = 0;
	assert_int_equal(imsg_get(&ch.b, &imsg), -1);
	assert_int_equal(errno, EBADMSG);
	close(p[0]);
	channel_close(&ch);
}

static void
test_oversize_compose(void **state)
{
	struct channel	 ch;
	unsigned char	*buf;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	assert_non_null(buf = calloc(1, TEST_MAXMSG));
	errno = 0;
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, -1, buf,
	    TEST_MAXMSG - IMSG_HDR_SIZE + 1), -1);
	assert_int_equal(errno, EMSGSIZE);
	assert_int_equal(imsgbuf_queued(&ch.a), 0);
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, -1, buf,
	    TEST_MAXMSG - IMSG_HDR_SIZE), 0);
	assert_int_equal(imsgbuf_queued(&ch.a), TEST_MAXMSG);
	free(buf);
	channel_close(&ch);
}

/* A header claiming too much fails at once, before any payload. */
static void
test_oversize_header(void **state)
{
	static const uint32_t	 lens[] = {
		TEST_MAXMSG - IMSG_HDR_SIZE + 1, TEST_MAXMSG, UINT32_MAX,
	};
	struct channel		 ch;
	struct imsg		 imsg;
	struct imsg_hdr		 hdr;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		channel_open(&ch, TEST_MAXQUEUE, 0);
		hdr = forge_hdr(1, lens[i], 0, 0);
		send_raw(ch.sv[0], &hdr, sizeof(hdr), NULL, 0);
		assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
		errno = 0;
		assert_int_equal(imsg_get(&ch.b, &imsg), -1);
		assert_int_equal(errno, EMSGSIZE);
		channel_close(&ch);
	}
}

/* A header that promises more than arrives before EOF yields nothing. */
static void
test_short_message_then_eof(void **state)
{
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	unsigned char	 payload[50];
	ssize_t		 n;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	hdr = forge_hdr(1, 100, 0, 0);
	fill(payload, sizeof(payload), 1);
	send_raw(ch.sv[0], &hdr, sizeof(hdr), NULL, 0);
	send_raw(ch.sv[0], payload, sizeof(payload), NULL, 0);
	close(ch.sv[0]);
	ch.sv[0] = -1;
	do {
		wait_readable(ch.sv[1]);
		n = imsgbuf_read(&ch.b);
		assert_true(n >= 0);
		assert_int_equal(imsg_get(&ch.b, &imsg), 0);
	} while (n > 0);
	assert_int_equal(ch.b.rlen, sizeof(hdr) + sizeof(payload));
	channel_close(&ch);
}

static void
test_reserved_and_unknown_flags(void **state)
{
	static const struct {
		uint16_t	 flags;
		uint16_t	 reserved;
	} bad[] = {
		{ 0, 1 },
		{ 0, 0x8000 },
		{ 0x0002, 0 },
		{ 0x8000, 0 },
		{ IMSG_FLAG_FD | 0x0100, 0 },
	};
	struct channel	 ch;
	struct imsg	 imsg;
	struct imsg_hdr	 hdr;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		channel_open(&ch, TEST_MAXQUEUE, 1);
		hdr = forge_hdr(1, 0, bad[i].flags, bad[i].reserved);
		send_raw(ch.sv[0], &hdr, sizeof(hdr), NULL, 0);
		assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
		errno = 0;
		assert_int_equal(imsg_get(&ch.b, &imsg), -1);
		assert_int_equal(errno, EBADMSG);
		channel_close(&ch);
	}
}

/* Past maxqueue compose refuses; a write that drains makes room again. */
static void
test_backpressure(void **state)
{
	enum { PAYLOAD = 1000 };
	struct channel	 ch;
	struct imsg	 imsg;
	unsigned char	 buf[PAYLOAD];
	size_t		 msgsize = IMSG_HDR_SIZE + PAYLOAD;
	int		 i;

	(void)state;
	channel_open(&ch, 3 * msgsize, 0);
	for (i = 0; i < 3; i++) {
		fill(buf, sizeof(buf), i);
		assert_int_equal(imsg_compose(&ch.a, 1, i, 0, -1, buf,
		    sizeof(buf)), 0);
	}
	errno = 0;
	assert_int_equal(imsg_compose(&ch.a, 1, 3, 0, -1, buf, sizeof(buf)),
	    -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(imsgbuf_queued(&ch.a), 3 * msgsize);
	/* Even an empty message does not fit now. */
	assert_int_equal(imsg_compose(&ch.a, 1, 3, 0, -1, NULL, 0), -1);

	assert_int_equal(imsgbuf_write(&ch.a), 0);
	assert_int_equal(imsgbuf_queued(&ch.a), 0);
	fill(buf, sizeof(buf), 3);
	assert_int_equal(imsg_compose(&ch.a, 1, 3, 0, -1, buf, sizeof(buf)),
	    0);
	assert_int_equal(imsgbuf_write(&ch.a), 0);

	for (i = 0; i < 4; i++) {
		assert_int_equal(receive(&ch.b, &imsg), 1);
		assert_int_equal(imsg.hdr.peerid, i);
		assert_true(matches(imsg.data, PAYLOAD, i));
		imsg_free(&imsg);
	}
	channel_close(&ch);
}

/* A closed peer is an EPIPE error, not a SIGPIPE. */
static void
test_write_to_closed_peer(void **state)
{
	struct channel	 ch;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 0);
	close(ch.sv[1]);
	ch.sv[1] = -1;
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, -1, "x", 1), 0);
	errno = 0;
	assert_int_equal(imsgbuf_write(&ch.a), -1);
	assert_int_equal(errno, EPIPE);
	channel_close(&ch);
}

/* imsgbuf_clear closes descriptors both queued and received. */
static void
test_clear_closes_fds(void **state)
{
	struct channel	 ch;
	struct imsg_hdr	 hdr;
	int		 p[2], q[2];
	char		 c;

	(void)state;
	channel_open(&ch, TEST_MAXQUEUE, 1);
	open_pipe(p);
	open_pipe(q);
	assert_int_equal(imsg_compose(&ch.a, 1, 0, 0, p[1], NULL, 0), 0);

	hdr = forge_hdr(1, 0, IMSG_FLAG_FD, 0);
	send_raw(ch.sv[0], &hdr, sizeof(hdr), &q[1], 1);
	close(q[1]);
	assert_int_equal(imsgbuf_read(&ch.b), sizeof(hdr));
	/* Held, not yet taken: the write end is still open. */
	assert_int_equal(read(q[0], &c, 1), -1);
	assert_int_equal(errno, EAGAIN);

	channel_close(&ch);
	assert_true(write_end_closed_everywhere(p[0]));
	assert_true(write_end_closed_everywhere(q[0]));
	close(p[0]);
	close(q[0]);
}

/* imsgev: both ends on one event_base, the way two processes run. */
struct evpeer {
	struct imsgev	 iev;
	int		 messages;
	int		 want;
	int		 eof;
	int		 failed;
	uint32_t	 types[4];
	char		 text[4][16];
	int		 fd_seen;
};

static void
evpeer_dispatch(int fd, short event, void *arg)
{
	struct evpeer	*peer = arg;
	struct imsg	 imsg;
	int		 got;

	(void)fd;
	if ((got = imsgev_io(&peer->iev, event)) <= 0) {
		if (got == 0)
			peer->eof = 1;
		else
			peer->failed = 1;
		event_base_loopbreak(peer->iev.base);
		return;
	}
	while ((got = imsg_get(&peer->iev.ibuf, &imsg)) == 1) {
		if (peer->messages < 4) {
			peer->types[peer->messages] = imsg.hdr.type;
			if (imsg.data != NULL && imsg.hdr.len < 16)
				memcpy(peer->text[peer->messages], imsg.data,
				    imsg.hdr.len);
		}
		if (imsg.fd != -1)
			peer->fd_seen = write(imsg.fd, "ev", 2) == 2;
		peer->messages++;
		imsg_free(&imsg);
	}
	if (got == -1)
		peer->failed = 1;
	if (peer->want > 0 && peer->messages >= peer->want)
		event_base_loopbreak(peer->iev.base);
	imsgev_add(&peer->iev);
}

static void
test_imsgev_dispatch(void **state)
{
	struct event_base	*base;
	struct evpeer		 sender, receiver;
	struct timeval		 limit = { 5, 0 };
	int			 sv[2], p[2];
	char			 got[4];

	(void)state;
	memset(&sender, 0, sizeof(sender));
	memset(&receiver, 0, sizeof(receiver));
	assert_non_null(base = event_base_new());
	assert_int_equal(socketpair(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	open_pipe(p);
	assert_int_equal(imsgev_init(&sender.iev, base, sv[0], TEST_MAXMSG,
	    1, evpeer_dispatch, &sender), 0);
	assert_int_equal(imsgev_init(&receiver.iev, base, sv[1], TEST_MAXMSG,
	    1, evpeer_dispatch, &receiver), 0);
	receiver.want = 2;

	assert_int_equal(imsgev_compose(&sender.iev, 11, 1, 0, -1, "hello",
	    6), 0);
	assert_int_equal(imsgev_compose(&sender.iev, 12, 2, 0, p[1], "fd",
	    3), 0);
	/* Armed for writing while something is queued. */
	assert_true(sender.iev.events & EV_WRITE);

	assert_int_equal(event_base_loopexit(base, &limit), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_int_equal(receiver.messages, 2);
	assert_false(receiver.failed);
	assert_int_equal(receiver.types[0], 11);
	assert_string_equal(receiver.text[0], "hello");
	assert_int_equal(receiver.types[1], 12);
	assert_string_equal(receiver.text[1], "fd");
	assert_true(receiver.fd_seen);
	assert_int_equal(read(p[0], got, sizeof(got)), 2);
	assert_memory_equal(got, "ev", 2);
	/* Nothing left to write: armed for reading only. */
	assert_int_equal(imsgbuf_queued(&sender.iev.ibuf), 0);
	assert_false(sender.iev.events & EV_WRITE);

	/* The sender goes away: the receiver sees end of file. */
	imsgev_clear(&sender.iev);
	close(sv[0]);
	receiver.want = 0;
	assert_int_equal(event_base_loopexit(base, &limit), 0);
	assert_int_equal(event_base_dispatch(base), 0);
	assert_true(receiver.eof);

	imsgev_clear(&receiver.iev);
	close(sv[1]);
	close(p[0]);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_small_maxmsg),
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_partial_read),
		cmocka_unit_test(test_partial_write),
		cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_fd_refused_on_compose),
		cmocka_unit_test(test_fd_on_plain_channel_closed),
		cmocka_unit_test(test_fd_flag_without_fd),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_truncated_control_data),
		cmocka_unit_test(test_oversize_compose),
		cmocka_unit_test(test_oversize_header),
		cmocka_unit_test(test_short_message_then_eof),
		cmocka_unit_test(test_reserved_and_unknown_flags),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_write_to_closed_peer),
		cmocka_unit_test(test_clear_closes_fds),
		cmocka_unit_test(test_imsgev_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
