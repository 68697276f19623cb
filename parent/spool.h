/*
 * spool.h: the outbox of task events, <state-dir>/spool/events.log
 * (PROTOCOL.md 5.7, 6).  Every event is appended and fsynced as one line
 * before netd is asked to send it; netd reports the seq the control
 * plane acknowledged and the parent drops what is covered.  After a
 * restart the records still there are sent again, in order: a network
 * outage or a crash loses no event, and the server's de-duplication by
 * (task, seq) makes the repeats harmless.  A torn last line (a crash in
 * the middle of an append) is cut off when the spool is opened.
 */
#ifndef BERTH_SPOOL_H
#define BERTH_SPOOL_H

#include <sys/queue.h>

#include <stddef.h>
#include <stdint.h>

#include "berth.h"

struct spool_record {
	TAILQ_ENTRY(spool_record) entry;
	struct wire_event	 event;
};

TAILQ_HEAD(spool_list, spool_record);

struct spool {
	char			 dir[BERTH_PATH_LEN];
	int			 fd;		/* events.log, append */
	struct spool_list	 records;	/* unacknowledged, in order */
	size_t			 nrecords;
};

/* Open (making dir 0700) and read what is pending.  0 or -1 (logged). */
int	 spool_open(struct spool *, const char *dir);
void	 spool_close(struct spool *);
/* Append one event, fsynced on return.  0 or -1 (logged). */
int	 spool_append(struct spool *, const struct wire_event *);
/* Drop the task's events with seq <= acked_seq.  0 or -1 (logged). */
int	 spool_ack(struct spool *, const char *task_id, uint32_t acked_seq);

/* What berthctl reads (parent/control.c). */
/* The spool berthd opened, NULL if it keeps none (no control plane). */
struct spool *spool_opened(void);
/* How many of the task's events wait for an acknowledgement. */
uint32_t spool_pending(const struct spool *, const char *task_id);

#endif
