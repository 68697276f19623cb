/*
 * journal.c: the parent's task journal (see journal.h).  Each entry is
 * <id>.json holding {"id", "seq", "not_after", "state", "event_seq",
 * "task"}, rewritten whole with statefile_write() at every change, so a
 * crash leaves either the old entry or the new one.  Temporary files of
 * an interrupted write start with a dot and are ignored.  For berthctl an
 * entry also holds "received", "updated" and "event" (the newest event's
 * time, state, stage and message); entries written before those existed
 * lack them and are read all the same.
 */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal.h"
#include "log.h"
#include "statefile.h"
#include "wire.h"

#define JOURNAL_FILE_MAX	(128 * 1024)

/* The journal berthd opened (tasks.c's), for berthctl's listings. */
static struct journal	*journal_current;

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

/*
 * Copy text for a listing: control characters become spaces, and a cut
 * falls between UTF-8 sequences, so that the copy stays valid JSON text.
 */
static void
journal_copy_text(char *dst, size_t size, const char *src)
{
	size_t	 len = strlen(src), i;

	if (len >= size) {
		len = size - 1;
		while (len > 0 && ((unsigned char)src[len] & 0xc0) == 0x80)
			len--;
	}
	for (i = 0; i < len; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ?
		    ' ' : src[i];
	dst[len] = '\0';
}

/* The kind and app of the task, as berthctl lists them. */
static void
journal_describe(struct journal_entry *e, json_t *task)
{
	const char	*kind, *app;

	kind = json_string_value(json_object_get(task, "kind"));
	app = json_string_value(json_object_get(task, "app"));
	journal_copy_text(e->kind, sizeof(e->kind), kind != NULL ? kind : "");
	journal_copy_text(e->app, sizeof(e->app), app != NULL ? app : "");
}

static int
journal_write(struct journal *j, struct journal_entry *e)
{
	json_t	*v, *task;
	char	*json, name[WIRE_ID_LEN + 8];
	int	 rc;

	if ((task = json_loads(e->task_json, JSON_REJECT_DUPLICATES,
	    NULL)) == NULL) {
		log_warnx("%s: task %s is not JSON", __func__, e->id);
		return -1;
	}
	e->updated = time(NULL);
	v = json_pack("{s:s, s:I, s:I, s:s, s:I, s:I, s:I, s:o}", "id", e->id,
	    "seq", (json_int_t)e->seq, "not_after", (json_int_t)e->not_after,
	    "state", journal_state_name(e->state), "event_seq",
	    (json_int_t)e->event_seq, "received", (json_int_t)e->received,
	    "updated", (json_int_t)e->updated, "task", task);
	if (v == NULL)
		fatalx("%s: cannot encode", __func__);
	/* Not UTF-8 (the message came so): berthctl goes without it. */
	if (e->event_time != 0 && json_object_set_new(v, "event",
	    json_pack("{s:I, s:s, s:s, s:s}", "time",
	    (json_int_t)e->event_time, "state", e->event_state, "stage",
	    e->event_stage, "message", e->event_message)) == -1)
		log_warnx("%s: task %s: the newest event is not UTF-8, not "
		    "kept", __func__, e->id);
	if ((json = json_dumps(v, JSON_COMPACT)) == NULL)
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

/* An event's state or stage: a-z only, fitting its field. */
static int
journal_word(const char *word, size_t size)
{
	size_t	 len = strlen(word);

	return len < size && strspn(word, "abcdefghijklmnopqrstuvwxyz") == len;
}

/*
 * "received", "updated" and "event", each optional.  They only inform
 * berthctl: a bad one is dropped, never the task with it.
 */
static void
journal_parse_listing(struct journal_entry *e, json_t *v)
{
	const char	*state = "", *stage = "", *message = "";
	json_int_t	 received = 0, updated = 0, when = 0;

	if (json_unpack(v, "{s?I, s?I, s?{s:I, s:s, s:s, s:s}}", "received",
	    &received, "updated", &updated, "event", "time", &when, "state",
	    &state, "stage", &stage, "message", &message) == -1 ||
	    received < 0 || updated < 0 || when < 0 ||
	    !journal_word(state, sizeof(e->event_state)) ||
	    !journal_word(stage, sizeof(e->event_stage)) ||
	    (when != 0) != (state[0] != '\0')) {
		log_warnx("journal: task %s: bad listing fields, dropped",
		    e->id);
		return;
	}
	e->received = received;
	e->updated = updated;
	e->event_time = when;
	journal_copy_text(e->event_state, sizeof(e->event_state), state);
	journal_copy_text(e->event_stage, sizeof(e->event_stage), stage);
	journal_copy_text(e->event_message, sizeof(e->event_message),
	    message);
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
	journal_describe(e, task);
	journal_parse_listing(e, v);
	if (journal_state_from(state, &e->state) == -1 ||
	    (e->task_json = json_dumps(task, JSON_COMPACT)) == NULL) {
		free(e);
		e = NULL;
	}
	json_decref(v);
	return e;
}

/*
 * A number or a word after "key": in the head of a damaged entry, which
 * is cut before its "task" so that the task's own seq is not taken.
 */
static int
journal_salvage_int(const char *head, const char *key, int64_t *v)
{
	const char	*p;
	char		 pat[32], *end;
	long long	 n;

	(void)snprintf(pat, sizeof(pat), ",\"%s\":", key);
	if ((p = strstr(head, pat)) == NULL)
		return -1;
	p += strlen(pat);
	errno = 0;
	n = strtoll(p, &end, 10);
	if (end == p || errno != 0 || (*end != ',' && *end != '}'))
		return -1;
	*v = n;
	return 0;
}

/*
 * Fault injection (tests/faults, fault 5) found that an entry cut short
 * (a disk that lost the end of a write) was dropped with a warning: a
 * task the node had accepted then got no final event ever, and the
 * control plane could only call it lost.  Entries are written as
 * {"id", "seq", "not_after", "state", "event_seq", ..., "task"} in that
 * order (jansson keeps it), so a cut that leaves the head keeps what
 * resuming needs: the id (also the file name), seq, state and event_seq.
 * Such an entry is kept without its task body ("{}"); tasks_resume()
 * then fails an accepted or running task explicitly, with the next
 * event seq, and a task still waiting for its accept cannot be decoded
 * when accepted and fails the same way.  NULL if the head is gone too.
 */
static struct journal_entry *
journal_salvage(const char *name, const char *buf, size_t len)
{
	struct journal_entry	*e;
	char			*head, *p, id[WIRE_ID_LEN], word[16];
	int64_t			 seq, not_after = 0, event_seq;
	size_t			 n;

	n = strlen(name) - 5;		/* ".json" */
	if (n >= sizeof(id))
		return NULL;
	memcpy(id, name, n);
	id[n] = '\0';
	if (!wire_id_valid(id) || (head = strndup(buf, len)) == NULL)
		return NULL;
	if ((p = strstr(head, ",\"task\":")) != NULL)
		*p = '\0';
	e = NULL;
	if (strncmp(head, "{\"id\":\"", 7) == 0 &&
	    strncmp(head + 7, id, n) == 0 && head[7 + n] == '"' &&
	    journal_salvage_int(head, "seq", &seq) == 0 && seq >= 1 &&
	    journal_salvage_int(head, "event_seq", &event_seq) == 0 &&
	    event_seq >= 0 && event_seq <= INT32_MAX &&
	    (p = strstr(head, ",\"state\":\"")) != NULL &&
	    sscanf(p + 10, "%15[a-z]\"", word) == 1 &&
	    (e = calloc(1, sizeof(*e))) != NULL) {
		(void)journal_salvage_int(head, "not_after", &not_after);
		(void)strlcpy(e->id, id, sizeof(e->id));
		e->seq = seq;
		e->not_after = not_after;
		e->event_seq = (uint32_t)event_seq;
		if (journal_state_from(word, &e->state) == -1 ||
		    (e->task_json = strdup("{}")) == NULL) {
			free(e);
			e = NULL;
		}
	}
	free(head);
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
	if ((e = journal_parse(buf, len)) == NULL) {
		/* See journal_salvage(): keep what resuming needs. */
		if ((e = journal_salvage(name, buf, len)) != NULL) {
			log_warnx("journal: %s is damaged (%zu bytes); task %s "
			    "kept without its body (state %s, seq %lld, event "
			    "seq %u)", path, len, e->id,
			    journal_state_name(e->state), (long long)e->seq,
			    e->event_seq);
			journal_insert(j, e);
		} else
			log_warnx("journal: %s is damaged beyond recovery "
			    "(%zu bytes), ignored: its task will get no "
			    "final event from this node", path, len);
	} else if (strlen(name) != strlen(e->id) + 5 ||
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
	journal_current = j;
	return 0;
}

void
journal_close(struct journal *j)
{
	struct journal_entry	*e;

	if (journal_current == j)
		journal_current = NULL;

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
	json_t			*task;

	if (!wire_id_valid(id) || journal_find(j, id) != NULL ||
	    (e = calloc(1, sizeof(*e))) == NULL) {
		log_warnx("%s: cannot journal task %s", __func__, id);
		return NULL;
	}
	(void)strlcpy(e->id, id, sizeof(e->id));
	e->seq = seq;
	e->not_after = not_after;
	e->state = state;
	e->received = time(NULL);
	if ((task = json_loads(task_json, 0, NULL)) != NULL) {
		journal_describe(e, task);
		json_decref(task);
	}
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

void
journal_note_event(struct journal_entry *e, const char *state,
    const char *stage, const char *message)
{
	e->event_time = time(NULL);
	journal_copy_text(e->event_state, sizeof(e->event_state), state);
	journal_copy_text(e->event_stage, sizeof(e->event_stage), stage);
	journal_copy_text(e->event_message, sizeof(e->event_message),
	    message);
}

/* --- what berthctl reads ------------------------------------------------ */

struct journal *
journal_opened(void)
{
	return journal_current;
}

int
journal_entry_done(const struct journal_entry *e)
{
	return e->state == JOURNAL_FINISHED || e->state == JOURNAL_CLOSED ||
	    e->state == JOURNAL_REFUSED;
}

static int
journal_by_arrival(const void *a, const void *b)
{
	const struct journal_entry	*ea, *eb;

	ea = *(const struct journal_entry *const *)a;
	eb = *(const struct journal_entry *const *)b;

	if (ea->received != eb->received)
		return ea->received < eb->received ? -1 : 1;
	if (ea->seq != eb->seq)
		return ea->seq < eb->seq ? -1 : 1;
	return strcmp(ea->id, eb->id);
}

struct journal_entry **
journal_list(struct journal *j, int all, size_t recent, size_t max,
    size_t *n)
{
	struct journal_entry	*e, **v;
	size_t			 total = 0, kept, done = 0, i;

	*n = 0;
	TAILQ_FOREACH(e, &j->entries, entry)
		total++;
	if (total == 0)
		return NULL;
	if ((v = calloc(total, sizeof(*v))) == NULL)
		fatal("%s", __func__);
	i = 0;
	TAILQ_FOREACH(e, &j->entries, entry)
		v[i++] = e;
	qsort(v, total, sizeof(*v), journal_by_arrival);
	/* Backwards, so that the done ones kept are the last ones. */
	for (i = total; i-- > 0;)
		if (!all && journal_entry_done(v[i]) && done++ >= recent)
			v[i] = NULL;
	for (kept = 0, i = 0; i < total; i++)
		if (v[i] != NULL)
			v[kept++] = v[i];
	if (kept > max) {
		memmove(v, v + (kept - max), max * sizeof(*v));
		kept = max;
	}
	if (kept == 0) {
		free(v);
		return NULL;
	}
	*n = kept;
	return v;
}
