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

#define JOURNAL_MESSAGE_LEN	256	/* of the newest event, cut there */

struct journal_entry {
	TAILQ_ENTRY(journal_entry) entry;
	char			 id[WIRE_ID_LEN];
	int64_t			 seq;
	int64_t			 not_after;
	enum journal_state	 state;
	uint32_t		 event_seq;	/* last event seq used */
	char			*task_json;	/* the task as received */
	/* For berthctl: read from the task, and kept since it came. */
	char			 kind[16];
	char			 app[64];
	int64_t			 received;	/* unix time; 0: not known */
	int64_t			 updated;	/* last written */
	/* The newest event made for the task (journal_note_event). */
	int64_t			 event_time;	/* 0: none yet */
	char			 event_state[16];
	char			 event_stage[16];
	char			 event_message[JOURNAL_MESSAGE_LEN];
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
/*
 * Remember the event about to be made for the task, for berthctl; it is
 * written with the entry's next change (journal_next_event(), which
 * follows).  The message is cut at JOURNAL_MESSAGE_LEN, control
 * characters become spaces.
 */
void	 journal_note_event(struct journal_entry *, const char *state,
	    const char *stage, const char *message);

/* What berthctl reads (parent/control.c). */
/* The journal berthd opened, NULL if it keeps none (no control plane). */
struct journal *journal_opened(void);
/* 1 once nothing more will happen to the task. */
int	 journal_entry_done(const struct journal_entry *);
/*
 * The entries in the order they came (received, then seq): every one, or
 * (all 0) those not done and the last `recent` done; of those the last
 * `max`.  A calloc'd array of *n pointers, valid until the journal next
 * changes; NULL when *n is 0.
 */
struct journal_entry **journal_list(struct journal *, int all,
	    size_t recent, size_t max, size_t *n);

#endif
