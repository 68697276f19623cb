/*
 * journal.h: the task journal, one file per task under
 * <state-dir>/tasks/ (PROTOCOL.md 6).  A task is written and fsynced
 * before netd is asked to accept it, and again at every change of state,
 * so that after a crash every task the node may have accepted is known
 * and is either resumed or failed explicitly, never dropped.  high_seq,
 * the highest task seq journalled, is what replays are judged against.
 */
#ifndef BERTH_JOURNAL_H
#define BERTH_JOURNAL_H

#include <sys/queue.h>

#include <stdint.h>

#include "berth.h"

enum journal_state {
	JOURNAL_RECEIVED = 0,	/* journalled, accept not yet answered */
	JOURNAL_ACCEPTED,	/* the control plane said 200: ours to run */
	JOURNAL_RUNNING,	/* handed to the runner */
	JOURNAL_FINISHED,	/* a final event is in the spool */
	JOURNAL_CLOSED,		/* never ours: taken, cancelled, expired */
	JOURNAL_REFUSED,	/* refused by us; its seq does not count */
	JOURNAL_STATE_MAX
};

struct journal_entry {
	TAILQ_ENTRY(journal_entry) entry;
	char			 id[WIRE_ID_LEN];
	int64_t			 seq;
	int64_t			 not_after;
	enum journal_state	 state;
	uint32_t		 event_seq;	/* last event seq used */
	char			*task_json;	/* the task as received */
};

TAILQ_HEAD(journal_list, journal_entry);

struct journal {
	char			 dir[BERTH_PATH_LEN];
	struct journal_list	 entries;
	int64_t			 high_seq;
};

/* Read every entry of dir (made 0700 if missing).  0 or -1 (logged). */
int	 journal_open(struct journal *, const char *dir);
void	 journal_close(struct journal *);
struct journal_entry *journal_find(struct journal *, const char *id);
/* Journal a new task (fsynced on return); NULL on failure (logged). */
struct journal_entry *journal_add(struct journal *, const char *id,
	    int64_t seq, int64_t not_after, const char *task_json,
	    enum journal_state);
/* Change state, persisted before the call returns.  0 or -1. */
int	 journal_set_state(struct journal *, struct journal_entry *,
	    enum journal_state);
/* Take the next event seq for the task, persisted.  0 on failure. */
uint32_t journal_next_event(struct journal *, struct journal_entry *);
const char *journal_state_name(enum journal_state);

#endif
