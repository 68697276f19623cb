/*
 * imsg.h: berth's message framing between processes, in the manner of
 * OpenBSD's imsg but written here.  A message is a fixed header followed
 * by hdr.len payload bytes; a descriptor may ride along (SCM_RIGHTS) on
 * channels that allow it.  Each channel has a size cap per message and a
 * cap on bytes queued for writing, so a slow peer pushes back instead of
 * growing memory without bound.
 */
#ifndef BERTH_IMSG_H
#define BERTH_IMSG_H

#include <sys/queue.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct imsg_hdr {
	uint32_t	type;
	uint32_t	len;		/* payload bytes after the header */
	uint16_t	flags;
#define IMSG_FLAG_FD	0x0001		/* a descriptor was sent with it */
	uint16_t	reserved;	/* zero; anything else is malformed */
	uint32_t	peerid;
	uint32_t	pid;
};
#define IMSG_HDR_SIZE	sizeof(struct imsg_hdr)

struct imsg {
	struct imsg_hdr	 hdr;
	int		 fd;		/* -1 unless IMSG_FLAG_FD */
	void		*data;		/* hdr.len bytes; NULL when 0 */
};

struct imsg_out {
	TAILQ_ENTRY(imsg_out)	 entry;
	unsigned char		*buf;
	size_t			 len;
	size_t			 off;	/* bytes of buf already written */
	int			 fd;	/* sent with the first byte, then closed */
};

#define IMSG_MAX_PENDING_FDS	16

struct imsgbuf {
	int			 fd;
	size_t			 maxmsg;	/* header + payload */
	size_t			 maxqueue;	/* bytes queued for write */
	int			 pass_fds;	/* 1: descriptors allowed */
	unsigned char		*rbuf;		/* maxmsg bytes */
	size_t			 rlen;
	int			 rfds[IMSG_MAX_PENDING_FDS];
	size_t			 nrfds;
	TAILQ_HEAD(, imsg_out)	 wq;
	size_t			 wqbytes;
};

/* 0 or -1 (ENOMEM, EINVAL if maxmsg < IMSG_HDR_SIZE). */
int	 imsgbuf_init(struct imsgbuf *, int fd, size_t maxmsg,
	    size_t maxqueue, int pass_fds);
/* Frees both queues and closes held descriptors; not ibuf->fd itself. */
void	 imsgbuf_clear(struct imsgbuf *);
/* >0 bytes read, 0 EOF, -1 error (EAGAIN: nothing now). */
ssize_t	 imsgbuf_read(struct imsgbuf *);
/* Writes what it can: 0 (maybe partial), -1 error (never for EAGAIN). */
int	 imsgbuf_write(struct imsgbuf *);
/*
 * 1 a message is in *imsg (caller frees it with imsg_free), 0 need more
 * bytes, -1 malformed: EMSGSIZE (len over the cap), EBADMSG (reserved
 * bits, unknown flags, fd flag without a descriptor or on a channel that
 * passes none).
 */
int	 imsg_get(struct imsgbuf *, struct imsg *);
/*
 * Queue one message.  fd is -1 or a descriptor whose ownership passes to
 * the buffer.  -1 with EMSGSIZE (too big), ENOBUFS (queue over its cap:
 * back-pressure, try again after a write), EBADF (fd on a channel that
 * passes none).  On failure fd is left to the caller.
 */
int	 imsg_compose(struct imsgbuf *, uint32_t type, uint32_t peerid,
	    pid_t pid, int fd, const void *data, size_t len);
void	 imsg_free(struct imsg *);
size_t	 imsgbuf_queued(const struct imsgbuf *);

/* An imsgbuf driven by a libevent event. */
struct imsgev {
	struct imsgbuf	 ibuf;
	struct event	*ev;
	struct event_base *base;
	void		(*handler)(int, short, void *);
	void		*arg;
	short		 events;
};

int	 imsgev_init(struct imsgev *, struct event_base *, int fd,
	    size_t maxmsg, int pass_fds, void (*)(int, short, void *), void *);
/* Arms the event for read, and write while something is queued. */
void	 imsgev_add(struct imsgev *);
int	 imsgev_compose(struct imsgev *, uint32_t type, uint32_t peerid,
	    pid_t pid, int fd, const void *data, size_t len);
/*
 * The I/O half of every dispatch function: read on EV_READ, write on
 * EV_WRITE.  Returns 1 to go on, 0 when the peer closed (EOF), -1 on an
 * error (logged).
 */
int	 imsgev_io(struct imsgev *, short event);
void	 imsgev_clear(struct imsgev *);

#endif
