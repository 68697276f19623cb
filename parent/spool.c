/*
 * spool.c: the event outbox (see spool.h).  One JSON object per line:
 * {"task", "seq", "time", "state", "stage", "message"[, "exit_code"]}.
 * Appends go to the end with O_APPEND and fsync; an acknowledgement
 * rewrites the file without the acknowledged lines (statefile_write:
 * temporary file, fsync, rename, fsync of the directory) and reopens it.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"
#include "statefile.h"
#include "wire.h"

#define SPOOL_FILE		"events.log"
#define SPOOL_FILE_MAX		(64 * 1024 * 1024)

/* The spool berthd opened (tasks.c's), for berthctl task ID. */
static struct spool	*spool_current;

static char *
spool_line(const struct wire_event *ev)
{
	json_t	*v;
	char	*line, *out;
	size_t	 len;

	v = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}", "task", ev->task_id,
	    "seq", (json_int_t)ev->seq, "time", (json_int_t)ev->time,
	    "state", ev->state, "stage", ev->stage, "message", ev->message);
	if (v != NULL && ev->has_exit_code)
		(void)json_object_set_new(v, "exit_code",
		    json_integer(ev->exit_code));
	if (v == NULL || (line = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(v);
	len = strlen(line);
	if ((out = realloc(line, len + 2)) == NULL)
		fatal("%s", __func__);
	out[len] = '\n';
	out[len + 1] = '\0';
	return out;
}

static int
spool_parse(const char *line, size_t len, struct wire_event *ev)
{
	json_t		*v;
	const char	*task, *state, *stage, *message;
	json_int_t	 seq, when, code = 0;
	int		 rc = -1;

	memset(ev, 0, sizeof(*ev));
	if ((v = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return -1;
	if (json_unpack(v, "{s:s, s:I, s:I, s:s, s:s, s:s, s?I}", "task",
	    &task, "seq", &seq, "time", &when, "state", &state, "stage",
	    &stage, "message", &message, "exit_code", &code) == 0 &&
	    wire_id_valid(task) && seq >= 1 && seq <= INT32_MAX &&
	    strlcpy(ev->task_id, task, sizeof(ev->task_id)) <
	    sizeof(ev->task_id) &&
	    strlcpy(ev->state, state, sizeof(ev->state)) < sizeof(ev->state) &&
	    strlcpy(ev->stage, stage, sizeof(ev->stage)) < sizeof(ev->stage) &&
	    strlcpy(ev->message, message, sizeof(ev->message)) <
	    sizeof(ev->message)) {
		ev->seq = (uint32_t)seq;
		ev->time = when;
		ev->has_exit_code = json_object_get(v, "exit_code") != NULL;
		ev->exit_code = (int32_t)code;
		rc = 0;
	}
	json_decref(v);
	return rc;
}

static void
spool_push(struct spool *s, const struct wire_event *ev)
{
	struct spool_record	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		fatal("%s", __func__);
	r->event = *ev;
	TAILQ_INSERT_TAIL(&s->records, r, entry);
	s->nrecords++;
}

/* Read every whole line; returns the length of the part to keep. */
static size_t
spool_load(struct spool *s, const char *buf, size_t len)
{
	struct wire_event	 ev;
	const char		*p = buf, *nl;

	while ((nl = memchr(p, '\n', len - (size_t)(p - buf))) != NULL) {
		if (spool_parse(p, (size_t)(nl - p), &ev) == 0)
			spool_push(s, &ev);
		else
			log_warnx("spool: a malformed record, skipped");
		p = nl + 1;
	}
	if ((size_t)(p - buf) != len)
		log_warnx("spool: cutting a torn record of %zu bytes at the "
		    "end", len - (size_t)(p - buf));
	return (size_t)(p - buf);
}

static int
spool_reopen(struct spool *s)
{
	char	 path[BERTH_PATH_LEN + 16];

	if (s->fd != -1)
		close(s->fd);
	(void)snprintf(path, sizeof(path), "%s/%s", s->dir, SPOOL_FILE);
	if ((s->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("spool: %s", path);
		return -1;
	}
	return 0;
}

int
spool_open(struct spool *s, const char *dir)
{
	char	 path[BERTH_PATH_LEN + 16], *buf;
	size_t	 len, keep;

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	TAILQ_INIT(&s->records);
	if (strlcpy(s->dir, dir, sizeof(s->dir)) >= sizeof(s->dir) ||
	    statefile_mkdir(dir) == -1)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_FILE);
	if (statefile_read(path, SPOOL_FILE_MAX, &buf, &len) == 0) {
		keep = spool_load(s, buf, len);
		free(buf);
		if (keep != len && truncate(path, (off_t)keep) == -1) {
			log_warn("spool: truncate %s", path);
			return -1;
		}
	} else if (errno != ENOENT) {
		log_warn("spool: %s", path);
		return -1;
	}
	if (spool_reopen(s) == -1)
		return -1;
	spool_current = s;
	return 0;
}

void
spool_close(struct spool *s)
{
	struct spool_record	*r;

	if (spool_current == s)
		spool_current = NULL;
	while ((r = TAILQ_FIRST(&s->records)) != NULL) {
		TAILQ_REMOVE(&s->records, r, entry);
		free(r);
	}
	s->nrecords = 0;
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
}

int
spool_append(struct spool *s, const struct wire_event *ev)
{
	char	*line;
	size_t	 len;
	ssize_t	 n;

	line = spool_line(ev);
	len = strlen(line);
	/* One write of one line: O_APPEND keeps it whole against us. */
	n = write(s->fd, line, len);
	free(line);
	if (n != (ssize_t)len || fsync(s->fd) == -1) {
		log_warn("spool: append");
		return -1;
	}
	spool_push(s, ev);
	return 0;
}

/* Write what is left after an acknowledgement, in order. */
static int
spool_rewrite(struct spool *s)
{
	struct spool_record	*r;
	char			*all = NULL, *line;
	size_t			 len = 0, n;
	int			 rc;

	TAILQ_FOREACH(r, &s->records, entry) {
		line = spool_line(&r->event);
		n = strlen(line);
		if ((all = realloc(all, len + n + 1)) == NULL)
			fatal("%s", __func__);
		memcpy(all + len, line, n + 1);
		len += n;
		free(line);
	}
	rc = statefile_write(s->dir, SPOOL_FILE, all != NULL ? all : "", len);
	free(all);
	if (rc == -1)
		return -1;
	return spool_reopen(s);
}

int
spool_ack(struct spool *s, const char *task_id, uint32_t acked_seq)
{
	struct spool_record	*r, *next;
	int			 dropped = 0;

	for (r = TAILQ_FIRST(&s->records); r != NULL; r = next) {
		next = TAILQ_NEXT(r, entry);
		if (strcmp(r->event.task_id, task_id) != 0 ||
		    r->event.seq > acked_seq)
			continue;
		TAILQ_REMOVE(&s->records, r, entry);
		s->nrecords--;
		free(r);
		dropped = 1;
	}
	return dropped ? spool_rewrite(s) : 0;
}

struct spool *
spool_opened(void)
{
	return spool_current;
}

uint32_t
spool_pending(const struct spool *s, const char *task_id)
{
	const struct spool_record	*r;
	uint32_t			 n = 0;

	TAILQ_FOREACH(r, &s->records, entry)
		if (strcmp(r->event.task_id, task_id) == 0)
			n++;
	return n;
}
