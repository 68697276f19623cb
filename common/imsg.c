/*
 * imsg.c: message framing between berth processes over a nonblocking
 * SOCK_STREAM unix socket, and the libevent glue every dispatch function
 * uses.  Everything read here comes from another, less trusted process, so
 * a header is checked before its payload is waited for, a descriptor is
 * only ever accepted on a channel that was set up to pass them, and every
 * buffer is bounded: one message for reading, maxqueue bytes for writing.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "imsg.h"
#include "log.h"

/*
 * Descriptors one recvmsg can take.  Our writer sends at most one per
 * message, and the kernel does not merge two messages' descriptors into
 * one read, so room for a few is plenty; more is a peer misbehaving, and
 * the kernel reports it with MSG_CTRUNC.
 */
#define IMSG_RECV_FDS		4

/*
 * A buffer that lost descriptors (too many pending, truncated control
 * data, or any descriptor on a channel that passes none) can no longer
 * tell which descriptor belongs to which message.  It is marked by an
 * nrfds no healthy buffer can have, with every pending descriptor already
 * closed, and imsg_get refuses it from then on.
 */
#define IMSGBUF_FAILED		(IMSG_MAX_PENDING_FDS + 1)

static void	 imsgbuf_fail(struct imsgbuf *);
static void	 imsgbuf_take_fds(struct imsgbuf *, struct msghdr *);
static void	 imsg_out_free(struct imsg_out *);
static int	 imsgbuf_check_hdr(struct imsgbuf *, const struct imsg_hdr *);

int
imsgbuf_init(struct imsgbuf *ibuf, int fd, size_t maxmsg, size_t maxqueue,
    int pass_fds)
{
	size_t	 i;

	memset(ibuf, 0, sizeof(*ibuf));
	ibuf->fd = -1;
	TAILQ_INIT(&ibuf->wq);
	/* The payload length travels in 32 bits. */
	if (maxmsg < IMSG_HDR_SIZE || maxmsg - IMSG_HDR_SIZE > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	if ((ibuf->rbuf = malloc(maxmsg)) == NULL)
		return -1;
	ibuf->fd = fd;
	ibuf->maxmsg = maxmsg;
	ibuf->maxqueue = maxqueue;
	ibuf->pass_fds = pass_fds ? 1 : 0;
	for (i = 0; i < IMSG_MAX_PENDING_FDS; i++)
		ibuf->rfds[i] = -1;
	return 0;
}

void
imsgbuf_clear(struct imsgbuf *ibuf)
{
	struct imsg_out	*out;
	size_t		 i;

	if (ibuf->nrfds <= IMSG_MAX_PENDING_FDS) {
		for (i = 0; i < ibuf->nrfds; i++)
			close(ibuf->rfds[i]);
	}
	for (i = 0; i < IMSG_MAX_PENDING_FDS; i++)
		ibuf->rfds[i] = -1;
	ibuf->nrfds = 0;
	while ((out = TAILQ_FIRST(&ibuf->wq)) != NULL) {
		TAILQ_REMOVE(&ibuf->wq, out, entry);
		imsg_out_free(out);
	}
	ibuf->wqbytes = 0;
	free(ibuf->rbuf);
	ibuf->rbuf = NULL;
	ibuf->rlen = 0;
}

/* Close every pending descriptor and refuse the stream from now on. */
static void
imsgbuf_fail(struct imsgbuf *ibuf)
{
	size_t	 i;

	if (ibuf->nrfds <= IMSG_MAX_PENDING_FDS) {
		for (i = 0; i < ibuf->nrfds; i++) {
			close(ibuf->rfds[i]);
			ibuf->rfds[i] = -1;
		}
	}
	ibuf->nrfds = IMSGBUF_FAILED;
}

/*
 * Queue the descriptors that arrived with a read.  Any we cannot keep is
 * closed at once so that a peer cannot make us hold descriptors it chose.
 */
static void
imsgbuf_take_fds(struct imsgbuf *ibuf, struct msghdr *msg)
{
	struct cmsghdr	*cmsg;
	int		 fd;
	size_t		 i, n;

	for (cmsg = CMSG_FIRSTHDR(msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			/* CMSG_DATA need not be aligned for int. */
			memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int),
			    sizeof(fd));
			if (!ibuf->pass_fds ||
			    ibuf->nrfds >= IMSG_MAX_PENDING_FDS) {
				close(fd);
				imsgbuf_fail(ibuf);
				continue;
			}
			ibuf->rfds[ibuf->nrfds++] = fd;
		}
	}
}

ssize_t
imsgbuf_read(struct imsgbuf *ibuf)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int) * IMSG_RECV_FDS)];
	}		 cmsgbuf;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;

	/*
	 * A full buffer always holds a whole message or a header imsg_get
	 * refuses, so the caller has not taken what it has; reading zero
	 * bytes here would look like end of file.
	 */
	if (ibuf->rlen >= ibuf->maxmsg) {
		errno = ENOBUFS;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	memset(&cmsgbuf, 0, sizeof(cmsgbuf));
	iov.iov_base = ibuf->rbuf + ibuf->rlen;
	iov.iov_len = ibuf->maxmsg - ibuf->rlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsgbuf.buf;
	msg.msg_controllen = sizeof(cmsgbuf.buf);

	/* Close-on-exec: a received descriptor never leaks into a child. */
	do {
		n = recvmsg(ibuf->fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;

	imsgbuf_take_fds(ibuf, &msg);
	if (msg.msg_flags & MSG_CTRUNC) {
		/* The kernel dropped descriptors we can no longer account for. */
		imsgbuf_fail(ibuf);
		errno = EBADMSG;
		return -1;
	}
	ibuf->rlen += n;
	return n;
}

static void
imsg_out_free(struct imsg_out *out)
{
	if (out->fd != -1)
		close(out->fd);
	free(out->buf);
	free(out);
}

int
imsgbuf_write(struct imsgbuf *ibuf)
{
	union {
		struct cmsghdr	 hdr;
		unsigned char	 buf[CMSG_SPACE(sizeof(int))];
	}		 cmsgbuf;
	struct imsg_out	*out;
	struct msghdr	 msg;
	struct cmsghdr	*cmsg;
	struct iovec	 iov;
	ssize_t		 n;

	while ((out = TAILQ_FIRST(&ibuf->wq)) != NULL) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = out->buf + out->off;
		iov.iov_len = out->len - out->off;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		/*
		 * The descriptor rides with the first byte of its message,
		 * which is what lets the reader pair them up.
		 */
		if (out->off == 0 && out->fd != -1) {
			memset(&cmsgbuf, 0, sizeof(cmsgbuf));
			msg.msg_control = cmsgbuf.buf;
			msg.msg_controllen = sizeof(cmsgbuf.buf);
			cmsg = CMSG_FIRSTHDR(&msg);
			cmsg->cmsg_level = SOL_SOCKET;
			cmsg->cmsg_type = SCM_RIGHTS;
			cmsg->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cmsg), &out->fd, sizeof(int));
		}
		/* A dead peer is an error to report, not a signal to die of. */
		if ((n = sendmsg(ibuf->fd, &msg, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR)
				return 0;
			return -1;
		}
		if (msg.msg_control != NULL) {
			/* The kernel holds its own reference now. */
			close(out->fd);
			out->fd = -1;
		}
		out->off += n;
		ibuf->wqbytes -= n;
		if (out->off == out->len) {
			TAILQ_REMOVE(&ibuf->wq, out, entry);
			imsg_out_free(out);
		}
	}
	return 0;
}

/* What can be said of a message from its header alone. */
static int
imsgbuf_check_hdr(struct imsgbuf *ibuf, const struct imsg_hdr *hdr)
{
	if (hdr->len > ibuf->maxmsg - IMSG_HDR_SIZE) {
		errno = EMSGSIZE;
		return -1;
	}
	if (hdr->reserved != 0 || (hdr->flags & ~IMSG_FLAG_FD) != 0) {
		errno = EBADMSG;
		return -1;
	}
	/*
	 * The descriptor came with the header's first byte, so by now it
	 * is queued or it was never sent.
	 */
	if ((hdr->flags & IMSG_FLAG_FD) &&
	    (!ibuf->pass_fds || ibuf->nrfds == 0)) {
		errno = EBADMSG;
		return -1;
	}
	return 0;
}

int
imsg_get(struct imsgbuf *ibuf, struct imsg *imsg)
{
	struct imsg_hdr	 hdr;
	size_t		 total;
	void		*data = NULL;

	if (ibuf->nrfds == IMSGBUF_FAILED) {
		errno = EBADMSG;
		return -1;
	}
	if (ibuf->rlen < IMSG_HDR_SIZE)
		return 0;
	/*
	 * Check the header before waiting for its payload: a forged length
	 * must fail now, not leave us waiting for bytes that cannot fit.
	 */
	memcpy(&hdr, ibuf->rbuf, sizeof(hdr));
	if (imsgbuf_check_hdr(ibuf, &hdr) == -1)
		return -1;
	total = IMSG_HDR_SIZE + hdr.len;
	if (ibuf->rlen < total)
		return 0;

	if (hdr.len > 0) {
		if ((data = malloc(hdr.len)) == NULL)
			return -1;
		memcpy(data, ibuf->rbuf + IMSG_HDR_SIZE, hdr.len);
	}
	imsg->hdr = hdr;
	imsg->data = data;
	imsg->fd = -1;
	if (hdr.flags & IMSG_FLAG_FD) {
		imsg->fd = ibuf->rfds[0];
		ibuf->nrfds--;
		memmove(&ibuf->rfds[0], &ibuf->rfds[1],
		    ibuf->nrfds * sizeof(ibuf->rfds[0]));
		ibuf->rfds[ibuf->nrfds] = -1;
	}
	ibuf->rlen -= total;
	memmove(ibuf->rbuf, ibuf->rbuf + total, ibuf->rlen);
	return 1;
}

int
imsg_compose(struct imsgbuf *ibuf, uint32_t type, uint32_t peerid,
    pid_t pid, int fd, const void *data, size_t len)
{
	struct imsg_out	*out;
	struct imsg_hdr	 hdr;
	size_t		 size;

	if (len > ibuf->maxmsg - IMSG_HDR_SIZE) {
		errno = EMSGSIZE;
		return -1;
	}
	if (fd != -1 && !ibuf->pass_fds) {
		errno = EBADF;
		return -1;
	}
	if (len > 0 && data == NULL) {
		errno = EINVAL;
		return -1;
	}
	size = IMSG_HDR_SIZE + len;
	/* Back-pressure: the peer must drain before we queue more. */
	if (ibuf->wqbytes > ibuf->maxqueue ||
	    size > ibuf->maxqueue - ibuf->wqbytes) {
		errno = ENOBUFS;
		return -1;
	}

	if ((out = calloc(1, sizeof(*out))) == NULL)
		return -1;
	if ((out->buf = malloc(size)) == NULL) {
		free(out);
		return -1;
	}
	memset(&hdr, 0, sizeof(hdr));
	hdr.type = type;
	hdr.len = (uint32_t)len;
	hdr.flags = fd != -1 ? IMSG_FLAG_FD : 0;
	hdr.peerid = peerid;
	hdr.pid = (uint32_t)pid;
	memcpy(out->buf, &hdr, sizeof(hdr));
	if (len > 0)
		memcpy(out->buf + IMSG_HDR_SIZE, data, len);
	out->len = size;
	out->off = 0;
	out->fd = fd;
	TAILQ_INSERT_TAIL(&ibuf->wq, out, entry);
	ibuf->wqbytes += size;
	return 0;
}

void
imsg_free(struct imsg *imsg)
{
	free(imsg->data);
	imsg->data = NULL;
	if (imsg->fd != -1)
		close(imsg->fd);
	imsg->fd = -1;
}

size_t
imsgbuf_queued(const struct imsgbuf *ibuf)
{
	return ibuf->wqbytes;
}

/*
 * The event starts armed for reading.  It is not persistent: each
 * dispatch function ends with imsgev_add, which arms it again, for
 * writing too while anything is queued.
 */
int
imsgev_init(struct imsgev *iev, struct event_base *base, int fd,
    size_t maxmsg, int pass_fds, void (*handler)(int, short, void *),
    void *arg)
{
	memset(iev, 0, sizeof(*iev));
	if (imsgbuf_init(&iev->ibuf, fd, maxmsg, BERTH_IMSG_QUEUE_MAX,
	    pass_fds) == -1)
		return -1;
	iev->base = base;
	iev->handler = handler;
	iev->arg = arg;
	iev->events = EV_READ;
	if ((iev->ev = event_new(base, fd, iev->events, handler, arg)) ==
	    NULL) {
		imsgbuf_clear(&iev->ibuf);
		errno = ENOMEM;
		return -1;
	}
	if (event_add(iev->ev, NULL) == -1) {
		imsgev_clear(iev);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void
imsgev_add(struct imsgev *iev)
{
	/* Cleared already: a handler that gave up on its peer. */
	if (iev->ev == NULL)
		return;
	iev->events = EV_READ;
	if (imsgbuf_queued(&iev->ibuf) > 0)
		iev->events |= EV_WRITE;
	/* event_assign may only change an event that is not pending. */
	if (event_del(iev->ev) == -1 ||
	    event_assign(iev->ev, iev->base, iev->ibuf.fd, iev->events,
	    iev->handler, iev->arg) == -1 ||
	    event_add(iev->ev, NULL) == -1)
		log_warnx("%s: cannot arm the event for fd %d", __func__,
		    iev->ibuf.fd);
}

int
imsgev_compose(struct imsgev *iev, uint32_t type, uint32_t peerid,
    pid_t pid, int fd, const void *data, size_t len)
{
	if (imsg_compose(&iev->ibuf, type, peerid, pid, fd, data, len) == -1)
		return -1;
	imsgev_add(iev);
	return 0;
}

int
imsgev_io(struct imsgev *iev, short event)
{
	ssize_t	 n;

	if (event & EV_READ) {
		n = imsgbuf_read(&iev->ibuf);
		if (n == 0)
			return 0;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
			log_warn("%s: read", __func__);
			return -1;
		}
	}
	if (event & EV_WRITE) {
		if (imsgbuf_write(&iev->ibuf) == -1) {
			log_warn("%s: write", __func__);
			return -1;
		}
	}
	return 1;
}

void
imsgev_clear(struct imsgev *iev)
{
	if (iev->ev != NULL) {
		event_free(iev->ev);
		iev->ev = NULL;
	}
	imsgbuf_clear(&iev->ibuf);
}
