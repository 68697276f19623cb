/*
 * ops.c: the runner's operations (ops.h).  Every Docker request is
 * written here from the typed fields of a decoded, policy-checked
 * request; nothing a client sent reaches the engine as bytes.  The
 * process may talk to dockerd through docker.c and to the parent through
 * its channel, and create pipes for log streams; it opens no file.
 *
 * Ownership: berth acts only on containers carrying its labels
 * (berth.node, berth.app, berth.task, berth.managed).  Every operation on
 * an app first lists the containers labelled with this node and then
 * addresses the app's by their full 64-hex Id, never by name or Id
 * prefix, which the engine matches loosely (GUIDE §10.8).  Which app a
 * container belongs to is its berth.app label, unless berth renamed it
 * since (labels cannot change): then its name, read back through the name
 * template, says.
 *
 * Each request is a small state machine in a struct op_state: each step
 * issues one Docker call and its callback chooses the next step.  The
 * state is freed when the request is answered (or, for logs, when the
 * stream ends).  Mutations of one app run one at a time, in arrival
 * order; reads and image operations run at once.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "audit.h"
#include "berth.h"
#include "docker.h"
#include "docker_stream.h"
#include "imsg.h"
#include "log.h"
#include "ops.h"
#include "policy.h"
#include "runop.h"

#define ID_HEX			64
#define OWNED_MAX		8
#define CALL_MS			60000L
#define STOP_TIMEOUT_DEFAULT	10
#define ERROR_LEN		256
#define LOG_PENDING_MAX		(4 * 1024 * 1024)
#define PATH_LEN		1024

struct op_state;

typedef void	(*op_step)(struct op_state *, int status, const char *body,
		    size_t len, const char *reason);

/* How an operation finds the app's containers before it runs. */
enum find_mode {
	FIND_NONE,		/* it does not act on an app */
	FIND_OWNED,		/* at least one owned container, or refuse */
	FIND_ANY		/* none is fine (a first deploy) */
};

struct op_def {
	const char	*audit;		/* operation name of its mutation */
	int		 serial;	/* one at a time per app */
	enum find_mode	 find;
	void		(*run)(struct op_state *);
};

/* One container of the app, as the owner-label listing showed it. */
struct owned {
	char		 id[ID_HEX + 1];
	char		 name[POLICY_NAME_LEN];
	int		 running;
	int		 stopped;	/* by this deploy: start on rollback */
};

/*
 * The write end of a stream pipe (logs, events) and what waits to go
 * into it.  Only one of the decoders is in use: dec for logs, events
 * (allocated, it is large) for events.
 */
struct log_stream {
	int			 fd;
	struct event		*ev_write;	/* the pipe has room again */
	struct event		*ev_gone;	/* the reader closed its end */
	struct logframe_decoder	 dec;
	struct events_decoder	*events;
	char			*buf;
	size_t			 len;
	size_t			 size;
	int			 ended;		/* Docker done: drain, close */
};

struct op_state {
	TAILQ_ENTRY(op_state)	 entry;
	struct runner_ops	*ops;
	const struct op_def	*def;
	uint32_t		 peerid;
	struct run_request	 req;
	int			 queued;	/* behind its app's mutation */
	int			 held;		/* until the engine answers */
	struct docker_request	*dreq;
	op_step			 next;

	/* The audit record of the mutation in flight, sent when it ends. */
	const char		*audit_op;
	char			 audit_object[128];
	char			 audit_hash[AUDIT_HASH_HEX + 1];

	struct owned		 owned[OWNED_MAX];
	size_t			 nowned;
	size_t			 primary;	/* the one acted on */
	size_t			 cursor;	/* loops over owned */
	int			 target_taken;	/* rename: new_name is an app */
	char			 name[POLICY_NAME_LEN];	/* from the template */

	/* deploy */
	struct policy_effective	 eff;
	char			*body;
	char			 new_id[ID_HEX + 1];
	char			 new_name[POLICY_NAME_LEN + 16];
	char			 failure[ERROR_LEN * 2];

	struct log_stream	*logs;

	/* image-build: the context tar from the builder, and what came back. */
	int			 body_fd;
	struct build_output	*build;
	char			 tag[RUNOP_IMAGE_LEN];
};

TAILQ_HEAD(op_states, op_state);

/* Whether the engine answered its ping. */
enum engine_state {
	ENGINE_UNKNOWN,		/* the first ping is out: hold requests */
	ENGINE_DOWN,		/* answer requests with an error */
	ENGINE_UP
};

struct runner_ops {
	struct event_base	*base;
	struct docker		*docker;
	struct imsgev		*parent;
	char			 node_label[64];
	struct policy		 policy;
	int			 have_policy;
	char			 policy_hash[POLICY_HASH_HEX + 1];
	enum engine_state	 engine;
	char			 engine_version[32];	/* printable, "" unknown */
	struct op_states	 states;
	size_t			 nstates;
};

static void	 deploy_run(struct op_state *);
static void	 simple_run(struct op_state *);
static void	 remove_run(struct op_state *);
static void	 rename_run(struct op_state *);
static void	 inspect_run(struct op_state *);
static void	 list_run(struct op_state *);
static void	 logs_run(struct op_state *);
static void	 stats_run(struct op_state *);
static void	 wait_run(struct op_state *);
static void	 image_remove_run(struct op_state *);
static void	 image_prune_run(struct op_state *);
static void	 image_build_run(struct op_state *);
static void	 events_run(struct op_state *);

#define OWNED	FIND_OWNED
#define ANY	FIND_ANY
#define NONE	FIND_NONE
static const struct op_def op_defs[RUNOP_MAX] = {
	/*			  audit			serial	find */
	[RUNOP_DEPLOY] =	{ "container.create",	1, ANY, deploy_run },
	[RUNOP_START] =		{ "container.start",	1, OWNED, simple_run },
	[RUNOP_STOP] =		{ "container.stop",	1, OWNED, simple_run },
	[RUNOP_RESTART] =	{ "container.restart",	1, OWNED, simple_run },
	[RUNOP_REMOVE] =	{ "container.remove",	1, OWNED, remove_run },
	[RUNOP_RENAME] =	{ "container.rename",	1, OWNED, rename_run },
	[RUNOP_INSPECT] =	{ NULL,			0, OWNED, inspect_run },
	[RUNOP_LIST] =		{ NULL,			0, NONE, list_run },
	[RUNOP_LOGS] =		{ NULL,			0, OWNED, logs_run },
	[RUNOP_STATS] =		{ NULL,			0, OWNED, stats_run },
	[RUNOP_WAIT] =		{ NULL,			0, OWNED, wait_run },
	[RUNOP_IMAGE_REMOVE] =	{ "image.remove",	0, NONE,
				    image_remove_run },
	[RUNOP_IMAGE_PRUNE] =	{ "image.prune",	0, NONE,
				    image_prune_run },
	[RUNOP_IMAGE_BUILD] =	{ "image.build",	0, NONE,
				    image_build_run },
	[RUNOP_EVENTS] =	{ NULL,			0, NONE, events_run },
};
#undef OWNED
#undef ANY
#undef NONE

static void	 op_begin(struct op_state *);
static void	 op_done(struct op_state *);
static void	 logs_free(struct log_stream *);
static void	 build_free(struct op_state *);

/* --- messages to the parent ---------------------------------------------- */

/*
 * Printable ASCII only, for text that quotes the engine: a message cut
 * inside a UTF-8 sequence would be refused by jansson in the result and
 * by the parent's audit writer.
 */
static void
ascii_clean(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void
send_audit(struct runner_ops *ops, const char *task, const char *operation,
    const char *object, const char *request_hash, const char *result)
{
	struct wire_audit	 a;

	memset(&a, 0, sizeof(a));
	(void)strlcpy(a.task, task, sizeof(a.task));
	(void)strlcpy(a.operation, operation, sizeof(a.operation));
	(void)strlcpy(a.object, object, sizeof(a.object));
	(void)strlcpy(a.policy_hash, ops->policy_hash, sizeof(a.policy_hash));
	(void)strlcpy(a.request_hash, request_hash, sizeof(a.request_hash));
	(void)strlcpy(a.result, result, sizeof(a.result));
	ascii_clean(a.task);
	ascii_clean(a.operation);
	ascii_clean(a.object);
	ascii_clean(a.result);
	/* A parent that stopped reading 4 MiB ago is wedged: stop too. */
	if (imsgev_compose(ops->parent, IMSG_AUDIT, 0, getpid(), -1, &a,
	    sizeof(a)) == -1)
		fatal("%s: compose AUDIT", __func__);
}

/*
 * The one result of a request.  A result that is malformed or does not
 * fit one message is a bug here; the parent gets a failure instead.
 */
static void
send_result(struct runner_ops *ops, uint32_t peerid, json_t *res, int fd)
{
	char	*text;
	char	 err[ERROR_LEN];
	size_t	 len;

	text = json_dumps(res, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(res);
	if (text == NULL || (len = strlen(text)) > RUNRESULT_JSON_MAX ||
	    runresult_check(text, len, err, sizeof(err)) == -1) {
		log_warnx("%s: unusable result for request %u", __func__,
		    peerid);
		free(text);
		text = strdup("{\"ok\":false,\"error\":\"result too large "
		    "or malformed\"}");
		if (text == NULL)
			fatal("%s", __func__);
		len = strlen(text);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	if (imsgev_compose(ops->parent, IMSG_RUN_RESULT, peerid, getpid(),
	    fd, text, len) == -1)
		fatal("%s: compose RUN_RESULT", __func__);
	free(text);
}

/* What an audit record of a refused request names: the app or image. */
static const char *
request_object(const struct run_request *req)
{
	return req->app[0] != '\0' ? req->app : req->image_ref;
}

static json_t *
result_error(const struct run_request *req, const char *error)
{
	json_t	*res;
	char	 clean[ERROR_LEN];

	(void)strlcpy(clean, error, sizeof(clean));
	ascii_clean(clean);
	res = json_pack("{s:b,s:s}", "ok", 0, "error", clean);
	if (res != NULL && req != NULL && req->app[0] != '\0')
		json_object_set_new(res, "app", json_string(req->app));
	if (res == NULL)
		fatalx("%s: out of memory", __func__);
	return res;
}

/* {"ok":true} with the app when there is one; the caller adds the rest. */
static json_t *
result_ok(const struct op_state *st)
{
	json_t	*res;

	if ((res = json_pack("{s:b}", "ok", 1)) == NULL)
		fatalx("%s: out of memory", __func__);
	if (st->req.app[0] != '\0')
		json_object_set_new(res, "app", json_string(st->req.app));
	return res;
}

/* --- finishing a request ------------------------------------------------- */

static void
op_finish(struct op_state *st, json_t *res)
{
	send_result(st->ops, st->peerid, res, -1);
	op_done(st);
}

static void
op_fail(struct op_state *st, const char *fmt, ...)
    __attribute__((__format__(printf, 2, 3)));

static void
op_fail(struct op_state *st, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[ERROR_LEN];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("request %u (%s %s): %s", st->peerid,
	    runop_name(st->req.op), st->req.app, msg);
	op_finish(st, result_error(&st->req, msg));
}

/* A mutation refused before Docker saw it: audited, then answered. */
static void
op_refuse(struct op_state *st, const char *fmt, ...)
    __attribute__((__format__(printf, 2, 3)));

static void
op_refuse(struct op_state *st, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[ERROR_LEN], result[ERROR_LEN + 16];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (st->def->audit != NULL) {
		(void)snprintf(result, sizeof(result), "refused: %s", msg);
		send_audit(st->ops, st->req.task, st->def->audit,
		    request_object(&st->req), st->audit_hash, result);
	}
	op_finish(st, result_error(&st->req, msg));
}

/* Start the next mutation queued behind this one for the same app. */
static void
op_dequeue(struct runner_ops *ops, const char *app)
{
	struct op_state	*st;

	TAILQ_FOREACH(st, &ops->states, entry)
		if (st->queued && !st->held && strcmp(st->req.app, app) == 0) {
			st->queued = 0;
			op_begin(st);
			return;
		}
}

static void
op_done(struct op_state *st)
{
	struct runner_ops	*ops = st->ops;
	char			 app[RUNOP_APP_LEN];
	int			 serial = st->def->serial;

	if (st->dreq != NULL)
		docker_request_cancel(st->dreq);
	logs_free(st->logs);
	build_free(st);
	(void)strlcpy(app, st->req.app, sizeof(app));
	TAILQ_REMOVE(&ops->states, st, entry);
	ops->nstates--;
	runop_free(&st->req);
	free(st->body);
	free(st);
	if (serial)
		op_dequeue(ops, app);
}

/* --- Docker calls -------------------------------------------------------- */

static int
http_ok(int status)
{
	/* 304: already in the state asked for (start twice, stop twice). */
	return (status >= 200 && status < 300) || status == 304;
}

/* What went wrong, in one printable line: dockerd's message if any. */
static void
docker_error(int status, const char *reason, const char *body, size_t len,
    char *out, size_t outlen)
{
	json_t		*j;
	const char	*msg = NULL;
	size_t		 i;

	if (status == -1) {
		(void)snprintf(out, outlen, "%s", reason != NULL ? reason :
		    "no answer from the engine");
		return;
	}
	j = json_loadb(body, len, 0, NULL);
	if (json_is_object(j))
		msg = json_string_value(json_object_get(j, "message"));
	if (msg != NULL)
		(void)snprintf(out, outlen, "%s (HTTP %d)", msg, status);
	else
		(void)snprintf(out, outlen, "HTTP %d", status);
	json_decref(j);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = ' ';
}

static void
op_call_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct op_state	*st = arg;
	char		 err[ERROR_LEN], result[ERROR_LEN + 16];

	(void)req;
	st->dreq = NULL;
	if (st->audit_op != NULL) {
		if (http_ok(status))
			(void)strlcpy(result, "ok", sizeof(result));
		else {
			docker_error(status, reason, body, len, err,
			    sizeof(err));
			(void)snprintf(result, sizeof(result), "error: %s",
			    err);
		}
		send_audit(st->ops, st->req.task, st->audit_op,
		    st->audit_object, st->audit_hash, result);
		st->audit_op = NULL;
	}
	st->next(st, status, body, len, reason);
}

/* One buffered call; next runs from the loop with its outcome. */
static void
op_call(struct op_state *st, const char *method, const char *path,
    const char *body, long timeout_ms, op_step next)
{
	st->next = next;
	st->dreq = docker_call(st->ops->docker, method, path, body,
	    timeout_ms, op_call_done, st);
	if (st->dreq == NULL)
		op_call_done(NULL, -1, "cannot start the request", "", 0, st);
}

/*
 * A call that changes something: its audit record goes out when it
 * ends, hashing the exact body sent, or "METHOD path" without one.
 */
static void
op_mutate(struct op_state *st, const char *operation, const char *object,
    const char *method, const char *path, const char *body, long timeout_ms,
    op_step next)
{
	char	 line[PATH_LEN + 16];

	st->audit_op = operation;
	(void)strlcpy(st->audit_object, object, sizeof(st->audit_object));
	if (body != NULL)
		audit_sha256_hex(body, strlen(body), st->audit_hash);
	else {
		(void)snprintf(line, sizeof(line), "%s %s", method, path);
		audit_sha256_hex(line, strlen(line), st->audit_hash);
	}
	op_call(st, method, path, body, timeout_ms, next);
}

/* The error of a finished call, for a result or a failure message. */
static const char *
call_error(int status, const char *reason, const char *body, size_t len,
    char *buf, size_t buflen)
{
	docker_error(status, reason, body, len, buf, buflen);
	return buf;
}

/* --- JSON from the engine ------------------------------------------------ */

static json_t *
parse_body(const char *body, size_t len, json_type want)
{
	json_t	*j;

	j = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (j != NULL && json_typeof(j) != want) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *
jstr(const json_t *obj, const char *key)
{
	const char	*s = json_string_value(json_object_get(obj, key));

	return s != NULL ? s : "";
}

static json_int_t
jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

static int
id_valid(const char *id)
{
	return strlen(id) == ID_HEX &&
	    strspn(id, "0123456789abcdef") == ID_HEX;
}

/* Labels that make an image ours, or a container (managed). */
static int
labels_owned(const struct runner_ops *ops, const json_t *labels,
    int managed)
{
	if (!json_is_object(labels))
		return 0;
	if (strcmp(jstr(labels, "berth.node"), ops->node_label) != 0)
		return 0;
	if (managed && strcmp(jstr(labels, "berth.managed"), "1") != 0)
		return 0;
	return 1;
}

/* "-new-" and eight hex digits: the name of a deploy's new container. */
static int
deploy_suffix(const char *s)
{
	return strncmp(s, "-new-", 5) == 0 && strlen(s + 5) == 8 &&
	    strspn(s + 5, "0123456789abcdef") == 8;
}

/*
 * The app a container belongs to: its label while its name is still
 * the template's for that app (or that name during a deploy); after a
 * rename, the app its name stands for; else its label.
 */
static void
container_app(const struct runner_ops *ops, const json_t *labels,
    const char *name, char *app, size_t len)
{
	const char	*label = jstr(labels, "berth.app");
	char		 own[POLICY_NAME_LEN];
	size_t		 n;

	if (label[0] != '\0' && policy_container_name(&ops->policy, label,
	    own, sizeof(own)) == 0) {
		n = strlen(own);
		if (strncmp(name, own, n) == 0 &&
		    (name[n] == '\0' || deploy_suffix(name + n))) {
			(void)strlcpy(app, label, len);
			return;
		}
	}
	if (policy_container_app(&ops->policy, name, app, len) == 0)
		return;
	(void)strlcpy(app, label, len);
}

/*
 * ?all=1&filters={"label":[...]}: the engine filters by node, and every
 * entry is checked again here, since a filter the engine misread would
 * widen it.  Not by berth.app: a renamed container keeps its old label.
 */
static int
owner_path(const struct runner_ops *ops, char *out, size_t outlen)
{
	char	 label[128], enc[PATH_LEN];
	char	*filter;
	json_t	*obj;
	int	 rc;

	(void)snprintf(label, sizeof(label), "berth.node=%s", ops->node_label);
	obj = json_pack("{s:[s,s]}", "label", label, "berth.managed=1");
	filter = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (filter == NULL)
		return -1;
	rc = docker_urlencode(filter, enc, sizeof(enc));
	free(filter);
	if (rc == -1)
		return -1;
	rc = snprintf(out, outlen, "/containers/json?all=1&filters=%s", enc);
	return rc < 0 || (size_t)rc >= outlen ? -1 : 0;
}

/* Names[0] without its leading '/'. */
static const char *
first_name(const json_t *c)
{
	const char	*name;

	name = json_string_value(json_array_get(json_object_get(c, "Names"),
	    0));
	if (name == NULL)
		return "";
	return name[0] == '/' ? name + 1 : name;
}

/* --- finding the app's containers ---------------------------------------- */

static int
owned_add(struct op_state *st, const json_t *c)
{
	struct owned	*o;
	const json_t	*labels = json_object_get(c, "Labels");
	const char	*id = jstr(c, "Id");
	char		 app[RUNOP_APP_LEN];

	if (!labels_owned(st->ops, labels, 1))
		return 0;
	container_app(st->ops, labels, first_name(c), app, sizeof(app));
	if (st->req.op == RUNOP_RENAME && strcmp(app, st->req.new_name) == 0)
		st->target_taken = 1;
	if (strcmp(app, st->req.app) != 0)
		return 0;
	if (!id_valid(id))
		return -1;
	if (st->nowned == OWNED_MAX)
		return -1;
	o = &st->owned[st->nowned++];
	memset(o, 0, sizeof(*o));
	(void)strlcpy(o->id, id, sizeof(o->id));
	(void)strlcpy(o->name, first_name(c), sizeof(o->name));
	o->running = strcmp(jstr(c, "State"), "running") == 0;
	return 0;
}

/* The container the name template names; else a running one; else any. */
static void
owned_choose_primary(struct op_state *st)
{
	size_t	 i;

	st->primary = 0;
	for (i = 0; i < st->nowned; i++)
		if (strcmp(st->owned[i].name, st->name) == 0) {
			st->primary = i;
			return;
		}
	for (i = 0; i < st->nowned; i++)
		if (st->owned[i].running) {
			st->primary = i;
			return;
		}
}

static void
find_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*list, *c;
	char	 err[ERROR_LEN];
	size_t	 i;

	if (status != 200) {
		op_fail(st, "listing containers: %s", call_error(status,
		    reason, body, len, err, sizeof(err)));
		return;
	}
	if ((list = parse_body(body, len, JSON_ARRAY)) == NULL) {
		op_fail(st, "listing containers: malformed answer");
		return;
	}
	json_array_foreach(list, i, c)
		if (owned_add(st, c) == -1) {
			json_decref(list);
			op_fail(st, "app %s: more than %d containers or a "
			    "malformed Id", st->req.app, OWNED_MAX);
			return;
		}
	json_decref(list);
	if (st->def->find == FIND_OWNED && st->nowned == 0) {
		op_refuse(st, "app %s: no container owned by this node",
		    st->req.app);
		return;
	}
	if (st->target_taken) {
		op_refuse(st, "new_name: app %s exists already",
		    st->req.new_name);
		return;
	}
	owned_choose_primary(st);
	st->def->run(st);
}

static void
op_begin(struct op_state *st)
{
	char	 path[PATH_LEN];

	if (st->req.app[0] != '\0' && policy_container_name(&st->ops->policy,
	    st->req.app, st->name, sizeof(st->name)) == -1) {
		op_refuse(st, "app %s: the container name is too long",
		    st->req.app);
		return;
	}
	if (st->def->find == FIND_NONE) {
		st->def->run(st);
		return;
	}
	if (owner_path(st->ops, path, sizeof(path)) == -1) {
		op_fail(st, "app %s: cannot build the owner filter",
		    st->req.app);
		return;
	}
	op_call(st, "GET", path, NULL, CALL_MS, find_done);
}

/* --- the create body ----------------------------------------------------- */

static json_t *
json_strings(char *const *v, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static const char *
port_key(const struct run_port *p, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%u/%s", (unsigned int)p->container_port,
	    p->udp ? "udp" : "tcp");
	return buf;
}

static json_t *
body_labels(const struct op_state *st)
{
	const struct run_spec	*spec = &st->req.spec;
	json_t			*l = json_object();
	size_t			 i;

	for (i = 0; i < spec->nlabels; i++)
		json_object_set_new(l, spec->label_keys[i],
		    json_string(spec->label_values[i]));
	/* Last, over anything of the same name: these say who owns it. */
	json_object_set_new(l, "berth.node", json_string(st->ops->node_label));
	json_object_set_new(l, "berth.app", json_string(st->req.app));
	json_object_set_new(l, "berth.task", json_string(st->req.task));
	json_object_set_new(l, "berth.managed", json_string("1"));
	return l;
}

/* HostIp is always set: an empty one binds 0.0.0.0 and :: (GUIDE §7). */
static json_t *
body_port_bindings(const struct op_state *st)
{
	const struct run_spec	*spec = &st->req.spec;
	json_t			*pb = json_object();
	char			 key[32], hp[8];
	size_t			 i;

	for (i = 0; i < spec->nports; i++) {
		if (spec->ports[i].host_port != 0)
			(void)snprintf(hp, sizeof(hp), "%u",
			    (unsigned int)spec->ports[i].host_port);
		else
			hp[0] = '\0';
		json_object_set_new(pb, port_key(&spec->ports[i], key,
		    sizeof(key)), json_pack("[{s:s,s:s}]", "HostIp",
		    st->eff.host_ips[i], "HostPort", hp));
	}
	return pb;
}

/*
 * Mounts, never Binds (which creates missing host paths); no
 * BindOptions (propagation) and no VolumeOptions (a "local" volume with
 * o=bind is a host bind in disguise).
 */
static json_t *
body_mounts(const struct run_spec *spec)
{
	json_t	*m = json_array();
	size_t	 i;

	for (i = 0; i < spec->nvolumes; i++)
		json_array_append_new(m, json_pack("{s:s,s:s,s:s,s:b}",
		    "Type", spec->volumes[i].bind ? "bind" : "volume",
		    "Source", spec->volumes[i].source,
		    "Target", spec->volumes[i].target,
		    "ReadOnly", spec->volumes[i].read_only));
	return m;
}

static const char *const restart_docker_names[] = {
	[RESTART_NO] = "no",
	[RESTART_ON_FAILURE] = "on-failure",
	[RESTART_UNLESS_STOPPED] = "unless-stopped",
	[RESTART_ALWAYS] = "always",
};

static json_t *
body_cap_add(const struct run_spec *spec)
{
	json_t	*caps = json_array();
	size_t	 i;

	for (i = 0; i < spec->ncap_add; i++)
		json_array_append_new(caps, json_string(spec->cap_add[i]));
	return caps;
}

static json_t *
body_host_config(const struct op_state *st)
{
	const struct run_spec	*spec = &st->req.spec;
	const struct policy_effective *eff = &st->eff;
	json_t			*hc;

	hc = json_pack("{s:o,s:I,s:I,s:I,s:I,s:[s],s:o,s:[s],s:b,s:b,s:b,"
	    "s:{s:s,s:i},s:o,s:b,s:{s:s,s:{s:s,s:s}},s:s}",
	    "PortBindings", body_port_bindings(st),
	    "Memory", (json_int_t)eff->memory_bytes,
	    "MemorySwap", (json_int_t)eff->memory_bytes,
	    "NanoCpus", (json_int_t)eff->nano_cpus,
	    "PidsLimit", (json_int_t)eff->pids_limit,
	    "CapDrop", "ALL",
	    "CapAdd", body_cap_add(spec),
	    "SecurityOpt", "no-new-privileges",
	    "Privileged", 0,
	    "PublishAllPorts", 0,
	    "ReadonlyRootfs", eff->read_only_root,
	    "RestartPolicy", "Name", restart_docker_names[spec->restart],
	    "MaximumRetryCount", (int)spec->restart_max_retries,
	    "Mounts", body_mounts(spec),
	    "Init", 1,
	    "LogConfig", "Type", "json-file", "Config", "max-size", "10m",
	    "max-file", "3",
	    "NetworkMode", eff->network_mode);
	if (hc != NULL && eff->runtime[0] != '\0')
		json_object_set_new(hc, "Runtime", json_string(eff->runtime));
	return hc;
}

static json_t *
body_health(const struct run_health *h)
{
	json_t	*test;
	size_t	 i;

	test = json_array();
	json_array_append_new(test, json_string("CMD"));
	for (i = 0; i < h->ncmd; i++)
		json_array_append_new(test, json_string(h->cmd[i]));
	return json_pack("{s:o,s:I,s:I,s:i}", "Test", test,
	    "Interval", (json_int_t)h->interval_sec * 1000000000,
	    "Timeout", (json_int_t)h->timeout_sec * 1000000000,
	    "Retries", (int)h->retries);
}

/* The create body, from the typed spec and the policy; NULL if no memory. */
static char *
deploy_body(const struct op_state *st)
{
	const struct run_spec	*spec = &st->req.spec;
	json_t			*b, *exposed, *hc;
	char			 key[32], *text;
	size_t			 i;

	if ((hc = body_host_config(st)) == NULL)
		return NULL;
	exposed = json_object();
	for (i = 0; i < spec->nports; i++)
		json_object_set_new(exposed, port_key(&spec->ports[i], key,
		    sizeof(key)), json_object());
	b = json_pack("{s:s,s:o,s:o,s:b,s:b,s:b,s:o}",
	    "Image", spec->image,
	    "Env", json_strings(spec->env, spec->nenv),
	    "Labels", body_labels(st),
	    "Tty", 0, "AttachStdin", 0, "OpenStdin", 0,
	    "ExposedPorts", exposed);
	if (b == NULL) {
		json_decref(hc);
		return NULL;
	}
	if (spec->ncmd > 0)
		json_object_set_new(b, "Cmd", json_strings(spec->cmd,
		    spec->ncmd));
	if (spec->health.ncmd > 0)
		json_object_set_new(b, "Healthcheck",
		    body_health(&spec->health));
	if (spec->user[0] != '\0')
		json_object_set_new(b, "User", json_string(spec->user));
	if (spec->workdir[0] != '\0')
		json_object_set_new(b, "WorkingDir",
		    json_string(spec->workdir));
	json_object_set_new(b, "HostConfig", hc);
	text = json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(b);
	return text;
}

/* --- the check after create ---------------------------------------------- */

enum expect_kind {
	EXPECT_BOOL,
	EXPECT_INT,
	EXPECT_STRING,
	EXPECT_EMPTY		/* absent, null, "" or [] */
};

struct expect {
	const char		*key;
	enum expect_kind	 kind;
	json_int_t		 num;
	const char		*str;
};

static int
expect_holds(const json_t *v, const struct expect *e)
{
	switch (e->kind) {
	case EXPECT_BOOL:
		return json_is_boolean(v) && json_is_true(v) == (e->num != 0);
	case EXPECT_INT:
		return json_is_integer(v) && json_integer_value(v) == e->num;
	case EXPECT_STRING:
		return json_is_string(v) &&
		    strcmp(json_string_value(v), e->str) == 0;
	case EXPECT_EMPTY:
		return v == NULL || json_is_null(v) ||
		    (json_is_array(v) && json_array_size(v) == 0) ||
		    (json_is_string(v) && json_string_length(v) == 0) ||
		    (json_is_object(v) && json_object_size(v) == 0);
	}
	return 0;
}

/* The scalars of HostConfig that must be exactly what was asked. */
static int
verify_scalars(const struct op_state *st, const json_t *hc, char *why,
    size_t len)
{
	const struct policy_effective *e = &st->eff;
	const struct expect	 want[] = {
		{ "Privileged", EXPECT_BOOL, 0, NULL },
		{ "PublishAllPorts", EXPECT_BOOL, 0, NULL },
		{ "ReadonlyRootfs", EXPECT_BOOL, e->read_only_root, NULL },
		{ "Init", EXPECT_BOOL, 1, NULL },
		{ "Memory", EXPECT_INT, (json_int_t)e->memory_bytes, NULL },
		{ "MemorySwap", EXPECT_INT, (json_int_t)e->memory_bytes,
		    NULL },
		{ "NanoCpus", EXPECT_INT, (json_int_t)e->nano_cpus, NULL },
		{ "PidsLimit", EXPECT_INT, e->pids_limit, NULL },
		{ "NetworkMode", EXPECT_STRING, 0, e->network_mode },
		{ "PidMode", EXPECT_EMPTY, 0, NULL },
		{ "UTSMode", EXPECT_EMPTY, 0, NULL },
		{ "UsernsMode", EXPECT_EMPTY, 0, NULL },
		{ "CgroupParent", EXPECT_EMPTY, 0, NULL },
		{ "Binds", EXPECT_EMPTY, 0, NULL },
		{ "Devices", EXPECT_EMPTY, 0, NULL },
		{ "DeviceCgroupRules", EXPECT_EMPTY, 0, NULL },
		{ "VolumesFrom", EXPECT_EMPTY, 0, NULL },
		{ "VolumeDriver", EXPECT_EMPTY, 0, NULL },
	};
	const char		*ipc;
	size_t			 i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!expect_holds(json_object_get(hc, want[i].key), &want[i])) {
			(void)snprintf(why, len, "HostConfig.%s is not what "
			    "was asked", want[i].key);
			return -1;
		}
	ipc = jstr(hc, "IpcMode");
	if (strcmp(ipc, "host") == 0 || strncmp(ipc, "container:", 10) == 0) {
		(void)snprintf(why, len, "HostConfig.IpcMode is %s", ipc);
		return -1;
	}
	if (e->runtime[0] != '\0' && strcmp(jstr(hc, "Runtime"),
	    e->runtime) != 0) {
		(void)snprintf(why, len, "HostConfig.Runtime is not %s",
		    e->runtime);
		return -1;
	}
	if (strcmp(jstr(json_object_get(hc, "LogConfig"), "Type"),
	    "json-file") != 0) {
		(void)snprintf(why, len, "HostConfig.LogConfig.Type is not "
		    "json-file");
		return -1;
	}
	return 0;
}

static int
array_has(const json_t *a, const char *s)
{
	const json_t	*v;
	size_t		 i;

	json_array_foreach(a, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return 1;
	return 0;
}

/* Engines may spell a capability with or without CAP_. */
static int
caps_has(const json_t *a, const char *cap)
{
	char	 prefixed[RUNOP_CAP_LEN + 8];

	(void)snprintf(prefixed, sizeof(prefixed), "CAP_%s", cap);
	return array_has(a, cap) || array_has(a, prefixed);
}

static int
verify_lists(const struct op_state *st, const json_t *hc, char *why,
    size_t len)
{
	const struct run_spec	*spec = &st->req.spec;
	const json_t		*add = json_object_get(hc, "CapAdd");
	const json_t		*sec = json_object_get(hc, "SecurityOpt");
	size_t			 i;

	if (!caps_has(json_object_get(hc, "CapDrop"), "ALL")) {
		(void)snprintf(why, len, "HostConfig.CapDrop lacks ALL");
		return -1;
	}
	if (json_array_size(add) != spec->ncap_add) {
		(void)snprintf(why, len, "HostConfig.CapAdd has %zu entries, "
		    "asked %zu", json_array_size(add), spec->ncap_add);
		return -1;
	}
	for (i = 0; i < spec->ncap_add; i++)
		if (!caps_has(add, spec->cap_add[i])) {
			(void)snprintf(why, len, "HostConfig.CapAdd lacks %s",
			    spec->cap_add[i]);
			return -1;
		}
	if (json_array_size(sec) != 1 || !(array_has(sec,
	    "no-new-privileges") || array_has(sec, "no-new-privileges:true"))) {
		(void)snprintf(why, len, "HostConfig.SecurityOpt is not "
		    "exactly no-new-privileges");
		return -1;
	}
	return 0;
}

static int
verify_ports(const struct op_state *st, const json_t *hc, char *why,
    size_t len)
{
	const struct run_spec	*spec = &st->req.spec;
	const json_t		*pb = json_object_get(hc, "PortBindings");
	const json_t		*b;
	char			 key[32], hp[8];
	size_t			 i;

	if (json_object_size(pb) != spec->nports) {
		(void)snprintf(why, len, "HostConfig.PortBindings has %zu "
		    "ports, asked %zu", json_object_size(pb), spec->nports);
		return -1;
	}
	for (i = 0; i < spec->nports; i++) {
		port_key(&spec->ports[i], key, sizeof(key));
		b = json_object_get(pb, key);
		(void)snprintf(hp, sizeof(hp), "%u",
		    (unsigned int)spec->ports[i].host_port);
		if (json_array_size(b) != 1 || strcmp(jstr(json_array_get(b,
		    0), "HostIp"), st->eff.host_ips[i]) != 0 ||
		    (spec->ports[i].host_port != 0 && strcmp(jstr(
		    json_array_get(b, 0), "HostPort"), hp) != 0)) {
			(void)snprintf(why, len, "HostConfig.PortBindings %s "
			    "is not bound as asked", key);
			return -1;
		}
	}
	return 0;
}

static int
verify_mounts(const struct op_state *st, const json_t *hc, char *why,
    size_t len)
{
	const struct run_spec	*spec = &st->req.spec;
	const struct run_volume	*v;
	const json_t		*mounts = json_object_get(hc, "Mounts");
	const json_t		*m;
	size_t			 i;

	if (json_array_size(mounts) != spec->nvolumes) {
		(void)snprintf(why, len, "HostConfig.Mounts has %zu entries, "
		    "asked %zu", json_array_size(mounts), spec->nvolumes);
		return -1;
	}
	for (i = 0; i < spec->nvolumes; i++) {
		v = &spec->volumes[i];
		m = json_array_get(mounts, i);
		if (strcmp(jstr(m, "Type"), v->bind ? "bind" : "volume") !=
		    0 || strcmp(jstr(m, "Source"), v->source) != 0 ||
		    strcmp(jstr(m, "Target"), v->target) != 0 ||
		    json_is_true(json_object_get(m, "ReadOnly")) !=
		    (v->read_only != 0) ||
		    json_object_get(m, "BindOptions") != NULL ||
		    json_object_get(json_object_get(m, "VolumeOptions"),
		    "DriverConfig") != NULL) {
			(void)snprintf(why, len, "HostConfig.Mounts[%zu] is "
			    "not the mount asked", i);
			return -1;
		}
	}
	return 0;
}

/* The engine parses bodies loosely (GUIDE §10.3): compare what it made. */
static int
verify_container(const struct op_state *st, const json_t *c, char *why,
    size_t len)
{
	const json_t	*hc = json_object_get(c, "HostConfig");

	if (!json_is_object(hc)) {
		(void)snprintf(why, len, "no HostConfig in the inspect answer");
		return -1;
	}
	if (strcmp(jstr(c, "Id"), st->new_id) != 0 ||
	    !labels_owned(st->ops, json_object_get(json_object_get(c,
	    "Config"), "Labels"), 1) || strcmp(jstr(json_object_get(
	    json_object_get(c, "Config"), "Labels"), "berth.app"),
	    st->req.app) != 0) {
		(void)snprintf(why, len, "Id or owner labels differ");
		return -1;
	}
	if (verify_scalars(st, hc, why, len) == -1 ||
	    verify_lists(st, hc, why, len) == -1 ||
	    verify_ports(st, hc, why, len) == -1 ||
	    verify_mounts(st, hc, why, len) == -1)
		return -1;
	return 0;
}

/* --- deploy -------------------------------------------------------------- */

static void	 deploy_created(struct op_state *, int, const char *, size_t,
		    const char *);
static void	 deploy_inspected(struct op_state *, int, const char *,
		    size_t, const char *);
static void	 deploy_stop_next(struct op_state *);
static void	 deploy_stopped(struct op_state *, int, const char *, size_t,
		    const char *);
static void	 deploy_started(struct op_state *, int, const char *, size_t,
		    const char *);
static void	 deploy_discard(struct op_state *);
static void	 deploy_discarded(struct op_state *, int, const char *,
		    size_t, const char *);
static void	 deploy_restore_next(struct op_state *);
static void	 deploy_restored(struct op_state *, int, const char *, size_t,
		    const char *);
static void	 deploy_remove_next(struct op_state *);
static void	 deploy_removed(struct op_state *, int, const char *, size_t,
		    const char *);
static void	 deploy_renamed(struct op_state *, int, const char *, size_t,
		    const char *);

static unsigned int
stop_timeout(const struct op_state *st)
{
	return st->req.stop_timeout_sec != 0 ? st->req.stop_timeout_sec :
	    STOP_TIMEOUT_DEFAULT;
}

/*
 * create as NAME-new-RANDOM -> inspect and verify -> stop the old ones ->
 * start the new one -> remove the old ones -> rename the new one to NAME.
 * A failure before the switch removes the new container and starts again
 * what this deploy stopped.
 */
static void
deploy_run(struct op_state *st)
{
	uint32_t	 rnd;
	char		 path[PATH_LEN];

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		op_fail(st, "deploy: no random bytes for the name");
		return;
	}
	(void)snprintf(st->new_name, sizeof(st->new_name), "%s-new-%08x",
	    st->name, (unsigned int)rnd);
	policy_resolve(&st->ops->policy, &st->req.spec, &st->eff);
	if ((st->body = deploy_body(st)) == NULL) {
		op_fail(st, "deploy: out of memory for the create body");
		return;
	}
	(void)snprintf(path, sizeof(path), "/containers/create?name=%s",
	    st->new_name);
	op_mutate(st, "container.create", st->new_name, "POST", path,
	    st->body, CALL_MS, deploy_created);
}

static void
deploy_created(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	json_t	*j;
	char	 err[ERROR_LEN], path[PATH_LEN];

	if (status != 201) {
		op_fail(st, "create: %s", call_error(status, reason, body, len,
		    err, sizeof(err)));
		return;
	}
	j = parse_body(body, len, JSON_OBJECT);
	if (j == NULL || !id_valid(jstr(j, "Id"))) {
		json_decref(j);
		op_fail(st, "create: no container Id in the answer");
		return;
	}
	(void)strlcpy(st->new_id, jstr(j, "Id"), sizeof(st->new_id));
	json_decref(j);
	(void)snprintf(path, sizeof(path), "/containers/%s/json", st->new_id);
	op_call(st, "GET", path, NULL, CALL_MS, deploy_inspected);
}

static void
deploy_inspected(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	json_t	*c;
	char	 err[ERROR_LEN], why[ERROR_LEN - 64], result[ERROR_LEN + 16];

	if (status != 200) {
		(void)snprintf(st->failure, sizeof(st->failure), "inspect "
		    "after create: %s", call_error(status, reason, body, len,
		    err, sizeof(err)));
		deploy_discard(st);
		return;
	}
	c = parse_body(body, len, JSON_OBJECT);
	if (c == NULL)
		(void)strlcpy(why, "malformed inspect answer", sizeof(why));
	if (c == NULL || verify_container(st, c, why, sizeof(why)) == -1) {
		json_decref(c);
		(void)snprintf(result, sizeof(result), "error: verify: %s",
		    why);
		send_audit(st->ops, st->req.task, "container.create",
		    st->new_id, st->audit_hash, result);
		(void)snprintf(st->failure, sizeof(st->failure), "the engine "
		    "did not create what was asked: %s", why);
		deploy_discard(st);
		return;
	}
	json_decref(c);
	st->cursor = 0;
	deploy_stop_next(st);
}

static void
deploy_stop_next(struct op_state *st)
{
	struct owned	*o;
	char		 path[PATH_LEN];

	for (; st->cursor < st->nowned; st->cursor++) {
		o = &st->owned[st->cursor];
		if (!o->running)
			continue;
		(void)snprintf(path, sizeof(path), "/containers/%s/stop?t=%u",
		    o->id, stop_timeout(st));
		op_mutate(st, "container.stop", o->id, "POST", path, NULL,
		    CALL_MS + stop_timeout(st) * 1000L, deploy_stopped);
		return;
	}
	(void)snprintf(path, sizeof(path), "/containers/%s/start", st->new_id);
	op_mutate(st, "container.start", st->new_id, "POST", path, NULL,
	    CALL_MS, deploy_started);
}

static void
deploy_stopped(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	char	 err[ERROR_LEN];

	if (!http_ok(status)) {
		(void)snprintf(st->failure, sizeof(st->failure), "stopping "
		    "%.12s: %s", st->owned[st->cursor].id, call_error(status,
		    reason, body, len, err, sizeof(err)));
		deploy_discard(st);
		return;
	}
	st->owned[st->cursor].stopped = 1;
	st->cursor++;
	deploy_stop_next(st);
}

static void
deploy_started(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	char	 err[ERROR_LEN];

	if (!http_ok(status)) {
		(void)snprintf(st->failure, sizeof(st->failure), "start: %s",
		    call_error(status, reason, body, len, err, sizeof(err)));
		deploy_discard(st);
		return;
	}
	st->cursor = 0;
	deploy_remove_next(st);
}

static void
deploy_discard(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
	    st->new_id);
	op_mutate(st, "container.remove", st->new_id, "DELETE", path, NULL,
	    CALL_MS, deploy_discarded);
}

static void
deploy_discarded(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	char	 err[ERROR_LEN];

	if (!http_ok(status))
		log_warnx("deploy %s: cannot remove the new container %.12s: "
		    "%s", st->req.app, st->new_id, call_error(status, reason,
		    body, len, err, sizeof(err)));
	st->cursor = 0;
	deploy_restore_next(st);
}

static void
deploy_restore_next(struct op_state *st)
{
	struct owned	*o;
	char		 path[PATH_LEN];

	for (; st->cursor < st->nowned; st->cursor++) {
		o = &st->owned[st->cursor];
		if (!o->stopped)
			continue;
		(void)snprintf(path, sizeof(path), "/containers/%s/start",
		    o->id);
		op_mutate(st, "container.start", o->id, "POST", path, NULL,
		    CALL_MS, deploy_restored);
		return;
	}
	op_fail(st, "%s", st->failure);
}

static void
deploy_restored(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	char	 err[ERROR_LEN];

	if (!http_ok(status))
		log_warnx("deploy %s: cannot start %.12s again: %s",
		    st->req.app, st->owned[st->cursor].id, call_error(status,
		    reason, body, len, err, sizeof(err)));
	st->cursor++;
	deploy_restore_next(st);
}

static void
deploy_remove_next(struct op_state *st)
{
	char	 path[PATH_LEN], name[POLICY_NAME_LEN * 3];

	if (st->cursor < st->nowned) {
		(void)snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
		    st->owned[st->cursor].id);
		op_mutate(st, "container.remove", st->owned[st->cursor].id,
		    "DELETE", path, NULL, CALL_MS, deploy_removed);
		return;
	}
	if (docker_urlencode(st->name, name, sizeof(name)) == -1) {
		op_fail(st, "rename: name too long");
		return;
	}
	(void)snprintf(path, sizeof(path), "/containers/%s/rename?name=%s",
	    st->new_id, name);
	op_mutate(st, "container.rename", st->new_id, "POST", path, NULL,
	    CALL_MS, deploy_renamed);
}

static void
deploy_removed(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	char	 err[ERROR_LEN];

	/* The new one runs already; a stale old one only costs the name. */
	if (!http_ok(status))
		log_warnx("deploy %s: cannot remove %.12s: %s", st->req.app,
		    st->owned[st->cursor].id, call_error(status, reason, body,
		    len, err, sizeof(err)));
	st->cursor++;
	deploy_remove_next(st);
}

static void
deploy_renamed(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	json_t	*res;
	char	 err[ERROR_LEN];

	if (!http_ok(status)) {
		op_fail(st, "rename to %s: %s; the new container %.12s runs "
		    "as %s", st->name, call_error(status, reason, body, len,
		    err, sizeof(err)), st->new_id, st->new_name);
		return;
	}
	res = result_ok(st);
	json_object_set_new(res, "id", json_string(st->new_id));
	json_object_set_new(res, "name", json_string(st->name));
	op_finish(st, res);
}

/* --- start, stop, restart, remove, rename -------------------------------- */

static void
primary_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*res;
	char	 err[ERROR_LEN];

	if (!http_ok(status)) {
		op_fail(st, "%s: %s", runop_name(st->req.op), call_error(status,
		    reason, body, len, err, sizeof(err)));
		return;
	}
	res = result_ok(st);
	json_object_set_new(res, "id",
	    json_string(st->owned[st->primary].id));
	if (st->req.op == RUNOP_RENAME)
		json_object_set_new(res, "name", json_string(st->name));
	op_finish(st, res);
}

static void
simple_run(struct op_state *st)
{
	const char	*id = st->owned[st->primary].id;
	char		 path[PATH_LEN];
	long		 timeout = CALL_MS;

	if (st->req.op == RUNOP_START)
		(void)snprintf(path, sizeof(path), "/containers/%s/start", id);
	else {
		(void)snprintf(path, sizeof(path), "/containers/%s/%s?t=%u", id,
		    st->req.op == RUNOP_STOP ? "stop" : "restart",
		    stop_timeout(st));
		timeout += stop_timeout(st) * 1000L;
	}
	op_mutate(st, st->def->audit, id, "POST", path, NULL, timeout,
	    primary_done);
}

static void	 remove_next(struct op_state *);

static void
remove_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	char	 err[ERROR_LEN];

	if (!http_ok(status) && st->failure[0] == '\0')
		(void)snprintf(st->failure, sizeof(st->failure), "remove "
		    "%.12s: %s", st->owned[st->cursor].id, call_error(status,
		    reason, body, len, err, sizeof(err)));
	st->cursor++;
	remove_next(st);
}

/* Every owned container of the app goes, leftovers of a crash included. */
static void
remove_next(struct op_state *st)
{
	json_t	*res;
	char	 path[PATH_LEN];

	if (st->cursor < st->nowned) {
		(void)snprintf(path, sizeof(path), "/containers/%s?force=1&v=1",
		    st->owned[st->cursor].id);
		op_mutate(st, "container.remove", st->owned[st->cursor].id,
		    "DELETE", path, NULL, CALL_MS, remove_done);
		return;
	}
	if (st->failure[0] != '\0') {
		op_fail(st, "%s", st->failure);
		return;
	}
	res = result_ok(st);
	json_object_set_new(res, "id",
	    json_string(st->owned[st->primary].id));
	op_finish(st, res);
}

static void
remove_run(struct op_state *st)
{
	st->cursor = 0;
	remove_next(st);
}

static void
rename_run(struct op_state *st)
{
	const char	*id = st->owned[st->primary].id;
	char		 path[PATH_LEN], enc[POLICY_NAME_LEN * 3];

	if (policy_container_name(&st->ops->policy, st->req.new_name,
	    st->name, sizeof(st->name)) == -1 ||
	    docker_urlencode(st->name, enc, sizeof(enc)) == -1) {
		op_refuse(st, "new_name: the container name is too long");
		return;
	}
	(void)snprintf(path, sizeof(path), "/containers/%s/rename?name=%s",
	    id, enc);
	op_mutate(st, "container.rename", id, "POST", path, NULL, CALL_MS,
	    primary_done);
}

/* --- inspect, list, wait, stats ------------------------------------------ */

static void
inspect_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*c, *state, *res;
	char	 err[ERROR_LEN];

	if (status != 200) {
		op_fail(st, "inspect: %s", call_error(status, reason, body,
		    len, err, sizeof(err)));
		return;
	}
	if ((c = parse_body(body, len, JSON_OBJECT)) == NULL) {
		op_fail(st, "inspect: malformed answer");
		return;
	}
	state = json_object_get(c, "State");
	res = result_ok(st);
	json_object_set_new(res, "id", json_string(jstr(c, "Id")));
	json_object_set_new(res, "name", json_string(jstr(c, "Name")[0] ==
	    '/' ? jstr(c, "Name") + 1 : jstr(c, "Name")));
	json_object_set_new(res, "image", json_string(jstr(json_object_get(c,
	    "Config"), "Image")));
	json_object_set_new(res, "state", json_string(jstr(state, "Status")));
	json_object_set_new(res, "running",
	    json_boolean(json_is_true(json_object_get(state, "Running"))));
	json_object_set_new(res, "exit_code",
	    json_integer(jint(state, "ExitCode")));
	json_object_set_new(res, "started_at",
	    json_string(jstr(state, "StartedAt")));
	json_object_set_new(res, "health", json_string(jstr(json_object_get(
	    state, "Health"), "Status")));
	json_decref(c);
	op_finish(st, res);
}

static void
inspect_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/containers/%s/json",
	    st->owned[st->primary].id);
	op_call(st, "GET", path, NULL, CALL_MS, inspect_done);
}

static json_t *
list_ports(const json_t *c)
{
	json_t	*ports = json_array(), *p;
	size_t	 i;

	json_array_foreach(json_object_get(c, "Ports"), i, p)
		json_array_append_new(ports, json_pack("{s:I,s:I,s:s,s:s}",
		    "container", jint(p, "PrivatePort"),
		    "host", jint(p, "PublicPort"),
		    "host_ip", jstr(p, "IP"), "proto", jstr(p, "Type")));
	return ports;
}

static void
list_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*list, *c, *apps, *res, *labels;
	char	 err[ERROR_LEN], app[RUNOP_APP_LEN];
	size_t	 i;

	if (status != 200) {
		op_fail(st, "list: %s", call_error(status, reason, body, len,
		    err, sizeof(err)));
		return;
	}
	if ((list = parse_body(body, len, JSON_ARRAY)) == NULL) {
		op_fail(st, "list: malformed answer");
		return;
	}
	apps = json_array();
	json_array_foreach(list, i, c) {
		/* Our labels again: the filter is the engine's reading. */
		labels = json_object_get(c, "Labels");
		if (!labels_owned(st->ops, labels, 1))
			continue;
		container_app(st->ops, labels, first_name(c), app,
		    sizeof(app));
		json_array_append_new(apps, json_pack("{s:s,s:s,s:s,s:s,s:s,"
		    "s:s,s:o}", "app", app, "name", first_name(c),
		    "id", jstr(c, "Id"), "image", jstr(c, "Image"),
		    "state", jstr(c, "State"), "status", jstr(c, "Status"),
		    "ports", list_ports(c)));
	}
	json_decref(list);
	res = result_ok(st);
	json_object_set_new(res, "apps", apps);
	json_object_set_new(res, "engine_version",
	    json_string(st->ops->engine_version));
	op_finish(st, res);
}

static void
list_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	if (owner_path(st->ops, path, sizeof(path)) == -1) {
		op_fail(st, "list: cannot build the owner filter");
		return;
	}
	op_call(st, "GET", path, NULL, CALL_MS, list_done);
}

static void
wait_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*j, *res;
	char	 err[ERROR_LEN];

	if (status != 200) {
		op_fail(st, "wait: %s", call_error(status, reason, body, len,
		    err, sizeof(err)));
		return;
	}
	/* The status is sent before the wait ends: the body decides. */
	j = parse_body(body, len, JSON_OBJECT);
	if (j == NULL || !json_is_integer(json_object_get(j, "StatusCode"))) {
		json_decref(j);
		op_fail(st, "wait: malformed answer");
		return;
	}
	res = result_ok(st);
	json_object_set_new(res, "exit_code", json_integer(jint(j,
	    "StatusCode")));
	json_decref(j);
	op_finish(st, res);
}

static void
wait_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/containers/%s/wait",
	    st->owned[st->primary].id);
	/* No timeout: waiting for a container is what was asked. */
	op_call(st, "POST", path, NULL, 0, wait_done);
}

static json_int_t
jpath_int(const json_t *obj, const char *a, const char *b)
{
	return jint(json_object_get(obj, a), b);
}

/* GUIDE §3.7: CPU% from the two samples stream=0 takes. */
static double
stats_cpu(const json_t *s)
{
	const json_t	*cpu = json_object_get(s, "cpu_stats");
	const json_t	*pre = json_object_get(s, "precpu_stats");
	double		 cpu_delta, sys_delta, ncpu;

	cpu_delta = (double)jpath_int(cpu, "cpu_usage", "total_usage") -
	    (double)jpath_int(pre, "cpu_usage", "total_usage");
	sys_delta = (double)jint(cpu, "system_cpu_usage") -
	    (double)jint(pre, "system_cpu_usage");
	ncpu = (double)jint(cpu, "online_cpus");
	if (ncpu == 0)
		ncpu = (double)json_array_size(json_object_get(json_object_get(
		    cpu, "cpu_usage"), "percpu_usage"));
	if (sys_delta <= 0 || cpu_delta < 0)
		return 0;
	return cpu_delta / sys_delta * ncpu * 100.0;
}

static void
stats_done(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t		*s, *mem, *res;
	json_int_t	 used, inactive;
	char		 err[ERROR_LEN];

	if (status != 200) {
		op_fail(st, "stats: %s", call_error(status, reason, body, len,
		    err, sizeof(err)));
		return;
	}
	if ((s = parse_body(body, len, JSON_OBJECT)) == NULL) {
		op_fail(st, "stats: malformed answer");
		return;
	}
	mem = json_object_get(s, "memory_stats");
	/* cgroup v1 names it total_inactive_file, v2 inactive_file. */
	inactive = jpath_int(mem, "stats", "total_inactive_file");
	if (inactive == 0)
		inactive = jpath_int(mem, "stats", "inactive_file");
	used = jint(mem, "usage") - inactive;
	res = result_ok(st);
	json_object_set_new(res, "cpu_percent", json_real(stats_cpu(s)));
	json_object_set_new(res, "memory_bytes", json_integer(used > 0 ?
	    used : 0));
	json_object_set_new(res, "memory_limit", json_integer(jint(mem,
	    "limit")));
	json_object_set_new(res, "pids", json_integer(jpath_int(s,
	    "pids_stats", "current")));
	json_decref(s);
	op_finish(st, res);
}

static void
stats_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/containers/%s/stats?stream=0",
	    st->owned[st->primary].id);
	op_call(st, "GET", path, NULL, CALL_MS, stats_done);
}

/* --- images -------------------------------------------------------------- */

static void
image_removed(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	json_t	*res;
	char	 err[ERROR_LEN];

	if (!http_ok(status)) {
		op_fail(st, "image-remove %s: %s", st->req.image_ref,
		    call_error(status, reason, body, len, err, sizeof(err)));
		return;
	}
	if ((res = json_pack("{s:b,s:s,s:s}", "ok", 1, "image",
	    st->req.image_ref, "id", st->audit_object)) == NULL)
		fatalx("%s: out of memory", __func__);
	op_finish(st, res);
}

/* Only images labelled with this node go, and by their full Id. */
static void
image_inspected(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	json_t		*img;
	const char	*id;
	char		 err[ERROR_LEN], path[PATH_LEN], object[128];

	if (status != 200) {
		op_fail(st, "image %s: %s", st->req.image_ref,
		    call_error(status, reason, body, len, err, sizeof(err)));
		return;
	}
	if ((img = parse_body(body, len, JSON_OBJECT)) == NULL) {
		op_fail(st, "image %s: malformed answer", st->req.image_ref);
		return;
	}
	id = jstr(img, "Id");
	if (!labels_owned(st->ops, json_object_get(json_object_get(img,
	    "Config"), "Labels"), 0)) {
		json_decref(img);
		op_refuse(st, "image %s is not owned by this node",
		    st->req.image_ref);
		return;
	}
	if (strncmp(id, "sha256:", 7) != 0 || !id_valid(id + 7)) {
		json_decref(img);
		op_fail(st, "image %s: malformed Id", st->req.image_ref);
		return;
	}
	(void)strlcpy(object, id, sizeof(object));
	json_decref(img);
	(void)snprintf(path, sizeof(path), "/images/%s", object);
	op_mutate(st, "image.remove", object, "DELETE", path, NULL, CALL_MS,
	    image_removed);
}

static void
image_remove_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/images/%s/json",
	    st->req.image_ref);
	op_call(st, "GET", path, NULL, CALL_MS, image_inspected);
}

static void
image_pruned(struct op_state *st, int status, const char *body, size_t len,
    const char *reason)
{
	json_t	*j, *res;
	char	 err[ERROR_LEN];

	if (status != 200) {
		op_fail(st, "image-prune: %s", call_error(status, reason, body,
		    len, err, sizeof(err)));
		return;
	}
	if ((j = parse_body(body, len, JSON_OBJECT)) == NULL) {
		op_fail(st, "image-prune: malformed answer");
		return;
	}
	res = json_pack("{s:b,s:I,s:I}", "ok", 1, "deleted",
	    (json_int_t)json_array_size(json_object_get(j, "ImagesDeleted")),
	    "space_reclaimed", jint(j, "SpaceReclaimed"));
	json_decref(j);
	if (res == NULL)
		fatalx("%s: out of memory", __func__);
	op_finish(st, res);
}

static void
image_prune_run(struct op_state *st)
{
	char	 label[128], filter[256], enc[sizeof(filter) * 3];
	char	 path[PATH_LEN];
	char	*text;
	json_t	*obj;

	(void)snprintf(label, sizeof(label), "berth.node=%s",
	    st->ops->node_label);
	obj = json_pack("{s:[s]}", "label", label);
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text == NULL || strlcpy(filter, text, sizeof(filter)) >=
	    sizeof(filter) || docker_urlencode(filter, enc, sizeof(enc)) ==
	    -1) {
		free(text);
		op_fail(st, "image-prune: cannot build the filter");
		return;
	}
	free(text);
	(void)snprintf(path, sizeof(path), "/images/prune?filters=%s", enc);
	op_mutate(st, "image.prune", label, "POST", path, NULL, CALL_MS,
	    image_pruned);
}

/* --- image build --------------------------------------------------------- */

/* A ceiling only: the parent's build-timeout ends a deploy sooner. */
#define BUILD_CALL_MS		(2L * 60 * 60 * 1000)

static void
build_free(struct op_state *st)
{
	if (st->body_fd != -1) {
		close(st->body_fd);
		st->body_fd = -1;
	}
	if (st->build != NULL) {
		build_output_clear(st->build);
		free(st->build);
		st->build = NULL;
	}
}

/*
 * berth/APP:TAG, TAG the commit's first 12 hex digits, else the task id
 * made a tag (Docker allows [A-Za-z0-9_.-] there, not ':').
 */
static void
build_tag(struct op_state *st)
{
	char	 tag[RUNOP_TASK_LEN + 8];
	size_t	 i;

	if (st->req.repo.commit[0] != '\0')
		(void)snprintf(tag, sizeof(tag), "%.12s", st->req.repo.commit);
	else {
		(void)snprintf(tag, sizeof(tag), "t-%s", st->req.task[0] !=
		    '\0' ? st->req.task : "local");
		for (i = 0; tag[i] != '\0'; i++)
			if (tag[i] == ':')
				tag[i] = '-';
	}
	(void)snprintf(st->tag, sizeof(st->tag), "berth/%s:%s", st->req.app,
	    tag);
}

/* The query: no remote=, no buildargs, no host network (GUIDE §2.1, §7). */
static int
build_path(struct op_state *st, char *path, size_t len)
{
	const struct policy	*p = &st->ops->policy;
	json_t			*labels;
	char			*text;
	char			 tag[RUNOP_IMAGE_LEN * 3];
	char			 df[RUNOP_PATH_LEN * 3], lab[1024], mem[64];
	int			 n, rc;

	labels = json_pack("{s:s,s:s,s:s}", "berth.node", st->ops->node_label,
	    "berth.app", st->req.app, "berth.task", st->req.task);
	text = json_dumps(labels, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(labels);
	if (text == NULL)
		return -1;
	rc = docker_urlencode(text, lab, sizeof(lab));
	free(text);
	if (rc == -1 || docker_urlencode(st->tag, tag, sizeof(tag)) == -1 ||
	    docker_urlencode(st->req.repo.dockerfile[0] != '\0' ?
	    st->req.repo.dockerfile : "Dockerfile", df, sizeof(df)) == -1)
		return -1;
	mem[0] = '\0';
	/* RUN steps get no limits unless asked: the policy's ceiling. */
	if (p->memory_max != 0)
		(void)snprintf(mem, sizeof(mem), "&memory=%llu&memswap=%llu",
		    (unsigned long long)p->memory_max,
		    (unsigned long long)p->memory_max);
	n = snprintf(path, len, "/build?t=%s&dockerfile=%s&rm=1&forcerm=1&"
	    "pull=0&networkmode=none&labels=%s%s", tag, df, lab, mem);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
build_log_line(void *arg, const char *text, size_t len)
{
	struct op_state	*st = arg;

	log_debug("build %s: %.*s", st->req.task, (int)(len > 200 ? 200 :
	    len), text);
	return 0;
}

static int
build_chunk(struct docker_request *req, const char *data, size_t len,
    void *arg)
{
	struct op_state	*st = arg;

	(void)req;
	(void)build_output_feed(st->build, data, len);
	/* A protocol error ends the transfer; a failed build reads on. */
	return st->build->broken ? -1 : 0;
}

static void
build_audit(struct op_state *st, const char *result)
{
	send_audit(st->ops, st->req.task, "image.build", st->tag,
	    st->audit_hash, result);
}

static void
build_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct op_state	*st = arg;
	json_t		*res;
	char		 err[ERROR_LEN], result[ERROR_LEN + 16];

	(void)req;
	st->dreq = NULL;
	if (status < 200 || status >= 300)
		docker_error(status, reason, body, len, err, sizeof(err));
	else if (build_output_finish(st->build) != BUILD_OK)
		(void)strlcpy(err, build_output_error(st->build), sizeof(err));
	else {
		build_audit(st, "ok");
		res = result_ok(st);
		json_object_set_new(res, "image", json_string(st->tag));
		json_object_set_new(res, "id", json_string(
		    build_output_image_id(st->build)));
		op_finish(st, res);
		return;
	}
	ascii_clean(err);
	(void)snprintf(result, sizeof(result), "error: %s", err);
	build_audit(st, result);
	op_fail(st, "build: %s", err);
}

static void
image_build_run(struct op_state *st)
{
	struct docker_request_spec	 spec;
	char				 path[PATH_LEN * 2];

	build_tag(st);
	if (build_path(st, path, sizeof(path)) == -1) {
		op_refuse(st, "build: the request does not fit a URL");
		return;
	}
	audit_sha256_hex(path, strlen(path), st->audit_hash);
	if ((st->build = calloc(1, sizeof(*st->build))) == NULL ||
	    fcntl(st->body_fd, F_SETFL, O_NONBLOCK) == -1) {
		op_fail(st, "build: %s", strerror(errno));
		return;
	}
	build_output_init(st->build, build_log_line, st);
	memset(&spec, 0, sizeof(spec));
	spec.method = "POST";
	spec.path = path;
	spec.content_type = "application/x-tar";
	spec.body_source = DOCKER_BODY_FD;
	spec.body_fd = st->body_fd;
	spec.mode = DOCKER_STREAM;
	spec.timeout_ms = BUILD_CALL_MS;
	spec.on_chunk = build_chunk;
	spec.on_done = build_done;
	spec.arg = st;
	if ((st->dreq = docker_request(st->ops->docker, &spec)) == NULL) {
		build_audit(st, "error: cannot start the request");
		op_fail(st, "build: cannot start the request");
	}
}

/* --- logs ---------------------------------------------------------------- */

static void
logs_free(struct log_stream *ls)
{
	if (ls == NULL)
		return;
	if (ls->ev_write != NULL)
		event_free(ls->ev_write);
	if (ls->ev_gone != NULL)
		event_free(ls->ev_gone);
	if (ls->fd != -1)
		close(ls->fd);
	logframe_clear(&ls->dec);
	if (ls->events != NULL) {
		events_clear(ls->events);
		free(ls->events);
	}
	free(ls->buf);
	free(ls);
}

static int
logs_queue(struct log_stream *ls, const char *data, size_t len)
{
	size_t	 size;
	char	*p;

	if (len == 0)
		return 0;
	if (len > LOG_PENDING_MAX - ls->len)
		return -1;
	if (ls->len + len > ls->size) {
		size = ls->size != 0 ? ls->size : 16384;
		while (size < ls->len + len)
			size *= 2;
		if ((p = realloc(ls->buf, size)) == NULL)
			return -1;
		ls->buf = p;
		ls->size = size;
	}
	memcpy(ls->buf + ls->len, data, len);
	ls->len += len;
	return 0;
}

/* Into the pipe what fits, the rest queued; -1 when the reader is gone. */
static int
logs_write(struct log_stream *ls, const char *data, size_t len)
{
	ssize_t	 n = 0;

	if (ls->len == 0) {
		n = write(ls->fd, data, len);
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (n == -1)
			n = 0;
	}
	return logs_queue(ls, data + n, len - (size_t)n);
}

static int
logs_frame(void *arg, enum logframe_stream stream, const char *payload,
    size_t len)
{
	struct op_state	*st = arg;

	if (stream == LOGFRAME_STDIN)
		return 0;
	return logs_write(st->logs, payload, len);
}

/*
 * After a chunk went through the decoder: a full pipe pauses the
 * transfer until logs_writable() has drained it.
 */
static int
stream_backpressure(struct docker_request *req, struct log_stream *ls)
{
	if (ls->len > 0) {
		docker_request_pause(req);
		if (event_add(ls->ev_write, NULL) == -1)
			return -1;
	}
	return 0;
}

/* Docker's bytes, framed. */
static int
logs_chunk(struct docker_request *req, const char *data, size_t len,
    void *arg)
{
	struct op_state		*st = arg;
	struct log_stream	*ls = st->logs;

	if (logframe_feed(&ls->dec, data, len) == -1)
		return -1;
	return stream_backpressure(req, ls);
}

static void
logs_end(struct op_state *st)
{
	struct log_stream	*ls = st->logs;

	ls->ended = 1;
	if (ls->len == 0)
		op_done(st);
	else if (event_add(ls->ev_write, NULL) == -1)
		op_done(st);
}

/* The result went out already: say why it ends in the stream itself. */
static void
stream_fail(struct op_state *st, const char *line)
{
	if (logs_write(st->logs, line, strlen(line)) == -1) {
		op_done(st);
		return;
	}
	logs_end(st);
}

static void
logs_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct op_state		*st = arg;
	struct log_stream	*ls = st->logs;
	char			 err[ERROR_LEN], line[ERROR_LEN + 32];

	(void)req;
	st->dreq = NULL;
	if (status >= 200 && status < 300 && logframe_finish(&ls->dec) == 0) {
		logs_end(st);
		return;
	}
	if (ls->dec.failed)
		(void)strlcpy(err, logframe_error(&ls->dec), sizeof(err));
	else
		docker_error(status, reason, body, len, err, sizeof(err));
	log_debug("logs %s: %s", st->req.app, err);
	(void)snprintf(line, sizeof(line), "berth: logs ended: %s\n", err);
	stream_fail(st, line);
}

static void
logs_writable(evutil_socket_t fd, short events, void *arg)
{
	struct op_state		*st = arg;
	struct log_stream	*ls = st->logs;
	ssize_t			 n;

	(void)events;
	n = write(fd, ls->buf, ls->len);
	if (n == -1 && errno != EAGAIN && errno != EINTR) {
		/* EPIPE: nobody reads any more. */
		op_done(st);
		return;
	}
	if (n > 0) {
		memmove(ls->buf, ls->buf + n, ls->len - (size_t)n);
		ls->len -= (size_t)n;
	}
	if (ls->len > 0) {
		if (event_add(ls->ev_write, NULL) == -1)
			op_done(st);
		return;
	}
	if (ls->ended)
		op_done(st);
	else if (st->dreq != NULL)
		docker_request_resume(st->dreq);
}

/*
 * The write end of a pipe is never readable; epoll reports it readable
 * (EPOLLERR) once the reader has closed, which is how an idle follow
 * stream learns that nobody listens any more.
 */
static void
logs_gone(evutil_socket_t fd, short events, void *arg)
{
	(void)fd;
	(void)events;
	op_done(arg);
}

static int
logs_path(const struct op_state *st, char *path, size_t len)
{
	char	 tail[16], since[32];
	int	 n;

	if (st->req.tail == 0)
		(void)strlcpy(tail, "all", sizeof(tail));
	else
		(void)snprintf(tail, sizeof(tail), "%u", st->req.tail);
	since[0] = '\0';
	if (st->req.since > 0)
		(void)snprintf(since, sizeof(since), "&since=%lld",
		    (long long)st->req.since);
	n = snprintf(path, len, "/containers/%s/logs?stdout=1&stderr=1&"
	    "follow=%d&tail=%s%s", st->owned[st->primary].id,
	    st->req.follow ? 1 : 0, tail, since);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * The pipe of a stream and its two events; st->logs holds it (freed by
 * op_done) even on failure.  The read end goes out with the result.
 */
static int
stream_open(struct op_state *st, int *read_fd)
{
	struct log_stream	*ls;
	int			 fds[2];

	if ((ls = calloc(1, sizeof(*ls))) == NULL)
		return -1;
	ls->fd = -1;
	st->logs = ls;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	ls->fd = fds[1];
	*read_fd = fds[0];
	ls->ev_write = event_new(st->ops->base, ls->fd, EV_WRITE,
	    logs_writable, st);
	ls->ev_gone = event_new(st->ops->base, ls->fd, EV_READ | EV_PERSIST,
	    logs_gone, st);
	if (ls->ev_write == NULL || ls->ev_gone == NULL ||
	    event_add(ls->ev_gone, NULL) == -1) {
		close(*read_fd);
		return -1;
	}
	return 0;
}

static int
logs_open(struct op_state *st, int raw, int *read_fd)
{
	if (stream_open(st, read_fd) == -1)
		return -1;
	logframe_init(&st->logs->dec, raw, LOGFRAME_PAYLOAD_MAX, logs_frame,
	    st);
	return 0;
}

/* The container's Tty decides the framing: raw bytes or frames. */
static void
logs_inspected(struct op_state *st, int status, const char *body,
    size_t len, const char *reason)
{
	struct docker_request_spec	 spec;
	json_t				*c;
	char				 err[ERROR_LEN], path[PATH_LEN];
	int				 raw, read_fd;

	if (status != 200 || (c = parse_body(body, len, JSON_OBJECT)) ==
	    NULL) {
		op_fail(st, "logs: %s", status != 200 ? call_error(status,
		    reason, body, len, err, sizeof(err)) : "malformed answer");
		return;
	}
	raw = json_is_true(json_object_get(json_object_get(c, "Config"),
	    "Tty"));
	json_decref(c);
	if (logs_path(st, path, sizeof(path)) == -1 ||
	    logs_open(st, raw, &read_fd) == -1) {
		op_fail(st, "logs: cannot set up the stream: %s",
		    strerror(errno));
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.path = path;
	spec.mode = DOCKER_STREAM;
	spec.on_chunk = logs_chunk;
	spec.on_done = logs_done;
	spec.arg = st;
	if ((st->dreq = docker_request(st->ops->docker, &spec)) == NULL) {
		close(read_fd);
		op_fail(st, "logs: cannot start the request");
		return;
	}
	send_result(st->ops, st->peerid, json_pack("{s:b,s:s,s:b}", "ok", 1,
	    "app", st->req.app, "stream", 1), read_fd);
}

static void
logs_run(struct op_state *st)
{
	char	 path[PATH_LEN];

	(void)snprintf(path, sizeof(path), "/containers/%s/json",
	    st->owned[st->primary].id);
	op_call(st, "GET", path, NULL, CALL_MS, logs_inspected);
}

/* --- events -------------------------------------------------------------- */

/*
 * One JSON line per owned event, written here from the decoded fields:
 * none of the engine's own JSON reaches the reader.  The engine was asked
 * for this node's label only, but that filter is a convenience; this
 * check is the rule, since a filter the engine misread would widen the
 * stream to every container on the host.
 */
static int
events_event(void *arg, const struct docker_event *ev)
{
	struct op_state	*st = arg;
	const char	*node, *app, *name;
	json_t		*obj;
	char		*text;
	int		 rc;

	node = docker_event_attr(ev, "berth.node");
	if (node == NULL || strcmp(node, st->ops->node_label) != 0)
		return 0;
	app = docker_event_attr(ev, "berth.app");
	name = docker_event_attr(ev, "name");
	obj = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s}", "time",
	    (json_int_t)ev->time, "type", ev->type, "action", ev->action,
	    "id", ev->actor_id, "app", app != NULL ? app : "",
	    "name", name != NULL ? name : "");
	if (obj == NULL)
		return -1;
	/* ASCII only: a client prints these lines on a terminal. */
	text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	json_decref(obj);
	if (text == NULL)
		return -1;
	rc = logs_write(st->logs, text, strlen(text));
	if (rc == 0)
		rc = logs_write(st->logs, "\n", 1);
	free(text);
	return rc;
}

static int
events_chunk(struct docker_request *req, const char *data, size_t len,
    void *arg)
{
	struct op_state		*st = arg;
	struct log_stream	*ls = st->logs;

	if (events_feed(ls->events, data, len) == -1)
		return -1;
	return stream_backpressure(req, ls);
}

static void
events_done(struct docker_request *req, int status, const char *reason,
    const char *body, size_t len, void *arg)
{
	struct op_state		*st = arg;
	struct log_stream	*ls = st->logs;
	json_t			*obj;
	char			 err[ERROR_LEN], msg[ERROR_LEN + 32];
	char			 line[4 * ERROR_LEN];
	char			*text;

	(void)req;
	st->dreq = NULL;
	if (status >= 200 && status < 300 && events_finish(ls->events) == 0) {
		logs_end(st);
		return;
	}
	if (events_error(ls->events) != NULL)
		(void)strlcpy(err, events_error(ls->events), sizeof(err));
	else
		docker_error(status, reason, body, len, err, sizeof(err));
	ascii_clean(err);
	log_debug("events: %s", err);
	/* A JSON line too, so that a reader of lines can tell it apart. */
	(void)snprintf(msg, sizeof(msg), "events ended: %s", err);
	obj = json_pack("{s:s}", "error", msg);
	text = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (text == NULL) {
		op_done(st);
		return;
	}
	(void)snprintf(line, sizeof(line), "%s\n", text);
	free(text);
	stream_fail(st, line);
}

/*
 * /events?since=S[&until=now]&filters={"label":["berth.node=N"]}.
 * Without follow the engine replays up to now and ends the stream.
 */
static int
events_path(const struct op_state *st, char *path, size_t len)
{
	struct timespec	 now;
	char		 label[128], enc[PATH_LEN / 2], until[48];
	char		*filter;
	json_t		*obj;
	int		 n, rc;

	(void)snprintf(label, sizeof(label), "berth.node=%s",
	    st->ops->node_label);
	obj = json_pack("{s:[s]}", "label", label);
	filter = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (filter == NULL)
		return -1;
	rc = docker_urlencode(filter, enc, sizeof(enc));
	free(filter);
	if (rc == -1)
		return -1;
	/*
	 * To the nanosecond: the engine drops events after until, and a
	 * whole second would lose those of the current one.
	 */
	until[0] = '\0';
	if (!st->req.follow) {
		if (clock_gettime(CLOCK_REALTIME, &now) == -1)
			return -1;
		(void)snprintf(until, sizeof(until), "&until=%lld.%09ld",
		    (long long)now.tv_sec, now.tv_nsec);
	}
	n = snprintf(path, len, "/events?since=%lld%s&filters=%s",
	    (long long)st->req.since, until, enc);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* A read: no audit record, like logs. */
static void
events_run(struct op_state *st)
{
	struct docker_request_spec	 spec;
	struct events_decoder		*dec;
	json_t				*res;
	char				 path[PATH_LEN];
	int				 read_fd;

	if (events_path(st, path, sizeof(path)) == -1) {
		op_fail(st, "events: the filter does not fit a URL");
		return;
	}
	if ((dec = calloc(1, sizeof(*dec))) == NULL ||
	    events_init(dec, "berth.node", events_event, st) == -1) {
		free(dec);
		op_fail(st, "events: cannot set up the decoder");
		return;
	}
	if (stream_open(st, &read_fd) == -1) {
		events_clear(dec);
		free(dec);
		op_fail(st, "events: cannot set up the stream: %s",
		    strerror(errno));
		return;
	}
	st->logs->events = dec;
	memset(&spec, 0, sizeof(spec));
	spec.method = "GET";
	spec.path = path;
	spec.mode = DOCKER_STREAM;
	spec.on_chunk = events_chunk;
	spec.on_done = events_done;
	spec.arg = st;
	if ((st->dreq = docker_request(st->ops->docker, &spec)) == NULL) {
		close(read_fd);
		op_fail(st, "events: cannot start the request");
		return;
	}
	res = result_ok(st);
	json_object_set_new(res, "stream", json_true());
	send_result(st->ops, st->peerid, res, read_fd);
}

/* --- requests ------------------------------------------------------------ */

/* Another mutation of the same app is under way. */
static int
app_busy(const struct op_state *self)
{
	const struct op_state	*st;

	TAILQ_FOREACH(st, &self->ops->states, entry)
		if (st != self && st->def->serial && !st->queued &&
		    !st->held && strcmp(st->req.app, self->req.app) == 0)
			return 1;
	return 0;
}

/* Answered at once, before any state: decode and policy refusals. */
static void
refuse_request(struct runner_ops *ops, uint32_t peerid,
    const struct run_request *req, const char *hash, const char *why)
{
	const struct op_def	*def = NULL;
	char			 result[ERROR_LEN + 16];

	if (req->op > RUNOP_NONE && req->op < RUNOP_MAX)
		def = &op_defs[req->op];
	/* A read refused is audited too, under the name "request". */
	(void)snprintf(result, sizeof(result), "refused: %s", why);
	send_audit(ops, req->task, def != NULL && def->audit != NULL ?
	    def->audit : "request", request_object(req), hash, result);
	log_info("request %u refused: %s", peerid, why);
	send_result(ops, peerid, result_error(req, why), -1);
}

/* Accepted: run it now, or queue it behind its app or the engine. */
static void
op_accept(struct op_state *st)
{
	if (st->ops->engine == ENGINE_UNKNOWN)
		st->held = 1;
	else if (st->def->serial && app_busy(st))
		st->queued = 1;
	else
		op_begin(st);
}

/* The engine is down: a request fails, its mutation audited as such. */
static void
op_engine_down(struct op_state *st)
{
	if (st->def->audit != NULL)
		send_audit(st->ops, st->req.task, st->def->audit,
		    request_object(&st->req), st->audit_hash,
		    "error: docker engine not reachable");
	op_finish(st, result_error(&st->req, "docker engine not reachable"));
}

void
ops_request(struct runner_ops *ops, uint32_t peerid, const char *json,
    size_t len)
{
	ops_request_fd(ops, peerid, json, len, -1);
}

/* image-build needs its context, and nothing else takes a descriptor. */
static const char *
request_fd_check(const struct run_request *req, int fd)
{
	if (req->op == RUNOP_IMAGE_BUILD && fd == -1)
		return "image-build: no build context descriptor";
	if (req->op != RUNOP_IMAGE_BUILD && fd != -1)
		return "request: a descriptor comes only with image-build";
	return NULL;
}

void
ops_request_fd(struct runner_ops *ops, uint32_t peerid, const char *json,
    size_t len, int fd)
{
	struct op_state	*st;
	const char	*why;
	char		 err[ERROR_LEN], hash[AUDIT_HASH_HEX + 1];

	if ((st = calloc(1, sizeof(*st))) == NULL)
		fatal("%s", __func__);
	st->body_fd = -1;
	audit_sha256_hex(json, len, hash);
	if (runop_decode(json, len, &st->req, err, sizeof(err)) == -1)
		refuse_request(ops, peerid, &st->req, hash, err);
	else if ((why = request_fd_check(&st->req, fd)) != NULL)
		refuse_request(ops, peerid, &st->req, hash, why);
	else if (!ops->have_policy)
		refuse_request(ops, peerid, &st->req, hash, "no policy yet");
	else if (policy_check(&ops->policy, &st->req, err, sizeof(err)) == -1)
		refuse_request(ops, peerid, &st->req, hash, err);
	else {
		st->ops = ops;
		st->def = &op_defs[st->req.op];
		st->peerid = peerid;
		st->body_fd = fd;
		(void)strlcpy(st->audit_hash, hash, sizeof(st->audit_hash));
		TAILQ_INSERT_TAIL(&ops->states, st, entry);
		ops->nstates++;
		if (ops->engine == ENGINE_DOWN)
			op_engine_down(st);
		else
			op_accept(st);
		return;
	}
	if (fd != -1)
		close(fd);
	runop_free(&st->req);
	free(st);
}

/* --- the context --------------------------------------------------------- */

struct runner_ops *
ops_new(struct event_base *base, struct docker *docker,
    struct imsgev *parent, const char *node_label)
{
	struct runner_ops	*ops;

	if ((ops = calloc(1, sizeof(*ops))) == NULL)
		return NULL;
	ops->base = base;
	ops->docker = docker;
	ops->parent = parent;
	if (strlcpy(ops->node_label, node_label, sizeof(ops->node_label)) >=
	    sizeof(ops->node_label) || node_label[0] == '\0') {
		free(ops);
		return NULL;
	}
	TAILQ_INIT(&ops->states);
	return ops;
}

void
ops_free(struct runner_ops *ops)
{
	struct op_state	*st;

	if (ops == NULL)
		return;
	/* Not op_done(): nothing queued may start while we tear down. */
	while ((st = TAILQ_FIRST(&ops->states)) != NULL) {
		TAILQ_REMOVE(&ops->states, st, entry);
		if (st->dreq != NULL)
			docker_request_cancel(st->dreq);
		logs_free(st->logs);
		build_free(st);
		runop_free(&st->req);
		free(st->body);
		free(st);
	}
	free(ops);
}

void
ops_set_policy(struct runner_ops *ops, const struct policy *policy)
{
	ops->policy = *policy;
	ops->have_policy = 1;
	policy_hash(policy, ops->policy_hash);
}

/* Held requests go on, or fail, once the engine's state is known. */
void
ops_set_engine_version(struct runner_ops *ops, const char *version)
{
	size_t	 i;

	(void)strlcpy(ops->engine_version, version,
	    sizeof(ops->engine_version));
	/* It comes from the engine: keep it to what a heartbeat may say. */
	for (i = 0; ops->engine_version[i] != '\0'; i++)
		if (!isalnum((unsigned char)ops->engine_version[i]) &&
		    strchr(".-+~_", ops->engine_version[i]) == NULL)
			ops->engine_version[i] = '_';
}

void
ops_set_engine(struct runner_ops *ops, int reachable)
{
	struct op_state	*st;

	ops->engine = reachable ? ENGINE_UP : ENGINE_DOWN;
	for (;;) {
		TAILQ_FOREACH(st, &ops->states, entry)
			if (st->held)
				break;
		if (st == NULL)
			return;
		st->held = 0;
		if (reachable)
			op_accept(st);
		else
			op_engine_down(st);
	}
}

size_t
ops_inflight(const struct runner_ops *ops)
{
	return ops->nstates;
}
