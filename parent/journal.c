/*
 * journal.c: the parent's task journal (see journal.h).  Each entry is
 * <id>.json holding {"id", "seq", "not_after", "state", "event_seq",
 * "task"}, rewritten whole with statefile_write() at every change, so a
 * crash leaves either the old entry or the new one.  Temporary files of
 * an interrupted write start with a dot and are ignored.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "log.h"
#include "statefile.h"
#include "wire.h"

#define JOURNAL_FILE_MAX	(128 * 1024)

static const char *const journal_state_names[JOURNAL_STATE_MAX] = {
	[JOURNAL_RECEIVED] = "received",
	[JOURNAL_ACCEPTED] = "accepted",
	[JOURNAL_RUNNING] = "running",
	[JOURNAL_FINISHED] = "finished",
	[JOURNAL_CLOSED] = "closed",
	[JOURNAL_REFUSED] = "refused",
};

const char *
journal_state_name(enum journal_state state)
{
	if ((unsigned int)state >= JOURNAL_STATE_MAX)
		return "unknown";
	return journal_state_names[state];
}

static int
journal_state_from(const char *name, enum journal_state *state)
{
	unsigned int	 i;

	for (i = 0; i < JOURNAL_STATE_MAX; i++)
		if (strcmp(name, journal_state_names[i]) == 0) {
			*state = i;
			return 0;
		}
	return -1;
}

static int
journal_write(struct journal *j, const struct journal_entry *e)
{
	json_t	*v, *task;
	char	*json, name[WIRE_ID_LEN + 8];
	int	 rc;

	if ((task = json_loads(e->task_json, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL) {
		log_warnx("%s: task %s is not JSON", __func__, e->id);
		return -1;
	}
	v = json_pack("{s:s, s:I, s:I, s:s, s:I, s:o}", "id", e->id,
	    "seq", (json_int_t)e->seq, "not_after", (json_int_t)e->not_after,
	    "state", journal_state_name(e->state), "event_seq",
	    (json_int_t)e->event_seq, "task", task);
	if (v == NULL || (json = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(v);
	(void)snprintf(name, sizeof(name), "%s.json", e->id);
	rc = statefile_write(j->dir, name, json, strlen(json));
	free(json);
	return rc;
}

static void
journal_insert(struct journal *j, struct journal_entry *e)
{
	TAILQ_INSERT_TAIL(&j->entries, e, entry);
	/* A refused task may carry any seq: it must not move the mark. */
	if (e->state != JOURNAL_REFUSED && e->seq > j->high_seq)
		j->high_seq = e->seq;
}

static struct journal_entry *
journal_parse(const char *buf, size_t len)
{
	struct journal_entry	*e;
	json_t			*v, *task;
	const char		*id, *state;
	json_int_t		 seq, not_after, event_seq;

	if ((v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return NULL;
	if (json_unpack(v, "{s:s, s:I, s:I, s:s, s:I, s:o}", "id", &id,
	    "seq", &seq, "not_after", &not_after, "state", &state,
	    "event_seq", &event_seq, "task", &task) == -1 ||
	    !wire_id_valid(id) || seq < 1 || event_seq < 0 ||
	    event_seq > INT32_MAX || (e = calloc(1, sizeof(*e))) == NULL) {
		json_decref(v);
		return NULL;
	}
	(void)strlcpy(e->id, id, sizeof(e->id));
	e->seq = seq;
	e->not_after = not_after;
	e->event_seq = (uint32_t)event_seq;
	if (journal_state_from(state, &e->state) == -1 ||
	    (e->task_json = json_dumps(task, JSON_COMPACT)) == NULL) {
		free(e);
		e = NULL;
	}
	json_decref(v);
	return e;
}

static void
journal_load_file(struct journal *j, const char *name)
{
	struct journal_entry	*e;
	char			 path[BERTH_PATH_LEN + WIRE_ID_LEN + 16];
	char			*buf;
	size_t			 len;

	(void)snprintf(path, sizeof(path), "%s/%s", j->dir, name);
	if (statefile_read(path, JOURNAL_FILE_MAX, &buf, &len) == -1) {
		log_warn("journal: %s", path);
		return;
	}
	if ((e = journal_parse(buf, len)) == NULL)
		log_warnx("journal: %s is malformed, ignored", path);
	else if (strlen(name) != strlen(e->id) + 5 ||
	    strncmp(name, e->id, strlen(e->id)) != 0) {
		log_warnx("journal: %s holds task %s, ignored", path, e->id);
		free(e->task_json);
		free(e);
	} else
		journal_insert(j, e);
	free(buf);
}

static int
journal_by_seq(const void *a, const void *b)
{
	const struct journal_entry *ea = *(const struct journal_entry *const *)a;
	const struct journal_entry *eb = *(const struct journal_entry *const *)b;

	return ea->seq < eb->seq ? -1 : ea->seq > eb->seq;
}

/* Resume in the order the control plane offered the tasks. */
static void
journal_sort(struct journal *j)
{
	struct journal_entry	*e, **v;
	size_t			 n = 0, i;

	TAILQ_FOREACH(e, &j->entries, entry)
		n++;
	if (n < 2 || (v = calloc(n, sizeof(*v))) == NULL)
		return;
	i = 0;
	while ((e = TAILQ_FIRST(&j->entries)) != NULL) {
		TAILQ_REMOVE(&j->entries, e, entry);
		v[i++] = e;
	}
	qsort(v, n, sizeof(*v), journal_by_seq);
	for (i = 0; i < n; i++)
		TAILQ_INSERT_TAIL(&j->entries, v[i], entry);
	free(v);
}

int
journal_open(struct journal *j, const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 len;

	memset(j, 0, sizeof(*j));
	TAILQ_INIT(&j->entries);
	if (strlcpy(j->dir, dir, sizeof(j->dir)) >= sizeof(j->dir) ||
	    statefile_mkdir(dir) == -1)
		return -1;
	if ((d = opendir(dir)) == NULL) {
		log_warn("journal: %s", dir);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		journal_load_file(j, de->d_name);
	}
	closedir(d);
	journal_sort(j);
	return 0;
}

void
journal_close(struct journal *j)
{
	struct journal_entry	*e;

	while ((e = TAILQ_FIRST(&j->entries)) != NULL) {
		TAILQ_REMOVE(&j->entries, e, entry);
		free(e->task_json);
		free(e);
	}
}

struct journal_entry *
journal_find(struct journal *j, const char *id)
{
	struct journal_entry	*e;

	TAILQ_FOREACH(e, &j->entries, entry)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

struct journal_entry *
journal_add(struct journal *j, const char *id, int64_t seq,
    int64_t not_after, const char *task_json, enum journal_state state)
{
	struct journal_entry	*e;

	if (!wire_id_valid(id) || journal_find(j, id) != NULL ||
	    (e = calloc(1, sizeof(*e))) == NULL) {
		log_warnx("%s: cannot journal task %s", __func__, id);
		return NULL;
	}
	(void)strlcpy(e->id, id, sizeof(e->id));
	e->seq = seq;
	e->not_after = not_after;
	e->state = state;
	if ((e->task_json = strdup(task_json)) == NULL ||
	    journal_write(j, e) == -1) {
		free(e->task_json);
		free(e);
		return NULL;
	}
	journal_insert(j, e);
	return e;
}

int
journal_set_state(struct journal *j, struct journal_entry *e,
    enum journal_state state)
{
	enum journal_state	 old = e->state;

	e->state = state;
	if (journal_write(j, e) == -1) {
		e->state = old;
		return -1;
	}
	return 0;
}

uint32_t
journal_next_event(struct journal *j, struct journal_entry *e)
{
	e->event_seq++;
	if (journal_write(j, e) == -1) {
		e->event_seq--;
		return 0;
	}
	return e->event_seq;
}
