/*
 * control.c: the control socket berthctl talks to.  Peers are local but
 * less trusted than the children: a client that sends something its
 * decoder refuses is disconnected and logged, the agent goes on.  Beside
 * operations for the runner it answers from what the parent holds: the
 * task journal and event spool (tasks.c's, read through journal.h and
 * spool.h) and the policy.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "log.h"
#include "parent.h"
#include "runop.h"
#include "spool.h"
#include "wire.h"

#define CONTROL_MAX_CLIENTS	32
#define CONTROL_BACKLOG		8
/* Operations in flight at the runner on behalf of control clients. */
#define CONTROL_MAX_PENDING	256
/* Finished tasks berthctl tasks shows beside the unfinished ones. */
#define CONTROL_TASKS_RECENT	5

struct control_pending {
	uint32_t	 request_id;	/* peerid on the runner channel */
	uint32_t	 client_id;	/* 0: slot free */
};

struct control_client {
	TAILQ_ENTRY(control_client)	 entry;
	uint32_t			 id;
	struct imsgev			 iev;
	int				 status_pending;
};

static TAILQ_HEAD(, control_client) control_clients =
    TAILQ_HEAD_INITIALIZER(control_clients);
static const struct berth_conf *control_conf;
static int		 control_fd = -1;
static char		 control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct event	*control_ev;
static struct event_base *control_base;
static unsigned int	 control_nclients;
static uint32_t		 control_next_id = 1;
static struct control_pending control_pending[CONTROL_MAX_PENDING];
static uint32_t		 control_next_request = 1;
static uint32_t		 control_next_task = 1;

static void	 control_accept(int, short, void *);
static void	 control_dispatch(int, short, void *);

/* Refuse to steal the socket of a berthd that is still running. */
static void
control_check_stale(const struct sockaddr_un *sun)
{
	int	 fd;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("%s: socket", __func__);
	if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
		fatalx("control socket %s is in use: is another berthd "
		    "running?", sun->sun_path);
	close(fd);
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		fatal("unlink %s", sun->sun_path);
}

static void
control_make_dir(const char *path)
{
	char		 copy[sizeof(control_path)];
	const char	*dir;
	struct stat	 sb;

	(void)strlcpy(copy, path, sizeof(copy));
	dir = dirname(copy);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	if (stat(dir, &sb) == -1)
		fatal("stat %s", dir);
	if (!S_ISDIR(sb.st_mode) || (sb.st_mode & S_IWOTH))
		fatalx("%s must be a directory not writable by others", dir);
}

void
control_init(const struct berth_conf *conf, gid_t group)
{
	struct sockaddr_un	 sun;
	const char		*path = conf->control_socket;
	mode_t			 old_umask;

	control_conf = conf;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("control socket path too long: %s", path);
	(void)strlcpy(control_path, path, sizeof(control_path));
	control_make_dir(path);
	control_check_stale(&sun);

	if ((control_fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		fatal("%s: socket", __func__);
	old_umask = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(control_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("bind %s", path);
	(void)umask(old_umask);
	if (chown(path, 0, group) == -1)
		fatal("chown %s", path);
	if (chmod(path, 0660) == -1)
		fatal("chmod %s", path);
	if (listen(control_fd, CONTROL_BACKLOG) == -1)
		fatal("listen %s", path);
}

void
control_listen(struct event_base *base)
{
	control_base = base;
	control_ev = event_new(base, control_fd, EV_READ | EV_PERSIST,
	    control_accept, NULL);
	if (control_ev == NULL || event_add(control_ev, NULL) == -1)
		fatalx("%s: cannot watch the control socket", __func__);
}

static void
control_close(struct control_client *client)
{
	TAILQ_REMOVE(&control_clients, client, entry);
	imsgev_clear(&client->iev);
	close(client->iev.ibuf.fd);
	free(client);
	control_nclients--;
}

void
control_cleanup(void)
{
	struct control_client	*client;

	while ((client = TAILQ_FIRST(&control_clients)) != NULL)
		control_close(client);
	if (control_ev != NULL) {
		event_free(control_ev);
		control_ev = NULL;
	}
	if (control_fd != -1) {
		close(control_fd);
		control_fd = -1;
		if (unlink(control_path) == -1 && errno != ENOENT)
			log_warn("unlink %s", control_path);
	}
}

static void
control_accept(int fd, short event, void *arg)
{
	struct control_client	*client;
	int			 client_fd;

	(void)event;
	(void)arg;
	if ((client_fd = accept4(fd, NULL, NULL,
	    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("%s: accept", __func__);
		return;
	}
	if (control_nclients >= CONTROL_MAX_CLIENTS ||
	    (client = calloc(1, sizeof(*client))) == NULL) {
		log_warnx("%s: too many control clients, refusing one",
		    __func__);
		close(client_fd);
		return;
	}
	client->id = control_next_id++;
	/* Descriptors go out to clients (log streams), never in. */
	if (imsgev_init(&client->iev, control_base, client_fd,
	    BERTH_IMSG_RUN_MAX, 1, control_dispatch, client) == -1) {
		log_warn("%s: imsgev_init", __func__);
		close(client_fd);
		free(client);
		return;
	}
	TAILQ_INSERT_TAIL(&control_clients, client, entry);
	control_nclients++;
}

static struct control_client *
control_find(uint32_t id)
{
	struct control_client	*client;

	TAILQ_FOREACH(client, &control_clients, entry)
		if (client->id == id)
			return client;
	return NULL;
}

static void
control_send_row(struct control_client *client, enum berth_role role,
    pid_t pid, const char *user, const struct timespec *started,
    int landlock_abi, int landlock_full)
{
	struct wire_ctl_proc	 row;
	struct timespec		 now;

	memset(&row, 0, sizeof(row));
	row.role = role;
	row.pid = pid;
	row.landlock_abi = landlock_abi;
	row.landlock_full = landlock_full ? 1 : 0;
	(void)strlcpy(row.user, user, sizeof(row.user));
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	row.uptime_sec = now.tv_sec - started->tv_sec;
	proc_read_status(pid, &row);
	if (imsgev_compose(&client->iev, IMSG_CTL_PROC, 0, 0, -1, &row,
	    sizeof(row)) == -1)
		log_warn("%s: compose", __func__);
}

static void
control_send_end(struct control_client *client)
{
	if (imsgev_compose(&client->iev, IMSG_CTL_END, 0, 0, -1, NULL, 0) ==
	    -1)
		log_warn("%s: compose", __func__);
}

static void
control_status(struct control_client *client)
{
	if (client->status_pending > 0)
		return;		/* one listing at a time */
	control_send_row(client, ROLE_PARENT, getpid(), "root",
	    &parent_started, parent_sandbox.landlock_abi,
	    parent_sandbox.landlock_full);
	client->status_pending = proc_request_status(client->id);
	if (client->status_pending == 0)
		control_send_end(client);
}

/* A child answered IMSG_PROC_STATUS_REQ made on behalf of a client. */
void
control_child_status(uint32_t peerid, enum berth_role role,
    const struct wire_proc_ready *report)
{
	struct control_client	*client;
	struct child		*child = &children[role];

	if ((client = control_find(peerid)) == NULL ||
	    client->status_pending == 0)
		return;		/* the client went away meanwhile */
	control_send_row(client, role, child->pid, child->user,
	    &child->started, report->landlock_abi, report->landlock_full);
	if (--client->status_pending == 0)
		control_send_end(client);
}

static void
control_run_reply(struct control_client *client, const char *json, int fd)
{
	if (imsgev_compose(&client->iev, IMSG_CTL_RUN_RESULT, 0, 0, fd, json,
	    strlen(json)) == -1) {
		log_warn("control client %u: compose", client->id);
		if (fd != -1)
			close(fd);
	}
}

static void
control_run_refuse(struct control_client *client, const char *task,
    const char *operation, const char *why)
{
	struct audit_record	 rec = {
		.task = task, .operation = operation, .object = "",
		.policy_hash = parent_policy_hash, .request_hash = "",
	};
	char			 result[300];
	json_t			*reply;
	char			*json;

	(void)snprintf(result, sizeof(result), "refused: %s", why);
	rec.result = result;
	if (audit_append(&parent_audit, &rec) == -1)
		log_warnx("cannot append to the audit log");
	reply = json_pack("{s:b, s:s}", "ok", 0, "error", why);
	if (reply == NULL || (json = json_dumps(reply, JSON_COMPACT)) == NULL)
		fatalx("%s: json", __func__);
	control_run_reply(client, json, -1);
	free(json);
	json_decref(reply);
}

/*
 * The runner lives in an empty mount namespace and cannot see host
 * paths, so the parent resolves bind sources here; the runner then
 * checks the resolved path against the allowed prefixes.
 */
static const char *
control_resolve_binds(struct run_request *req)
{
	static char	 why[RUNOP_PATH_LEN + 64];
	char		 resolved[PATH_MAX];
	size_t		 i;

	for (i = 0; i < req->spec.nvolumes; i++) {
		struct run_volume	*volume = &req->spec.volumes[i];

		if (!volume->bind)
			continue;
		if (realpath(volume->source, resolved) == NULL) {
			(void)snprintf(why, sizeof(why),
			    "spec.volumes[%zu].source: %s: %s", i,
			    volume->source, strerror(errno));
			return why;
		}
		if (strlcpy(volume->source, resolved, sizeof(volume->source))
		    >= sizeof(volume->source)) {
			(void)snprintf(why, sizeof(why),
			    "spec.volumes[%zu].source: resolved path too long",
			    i);
			return why;
		}
	}
	return NULL;
}

/*
 * A deploy from git: deploy.c reports to the client by its id, so a
 * client that went away meanwhile is simply not found.
 */
static void
control_deploy_progress(void *arg, const char *stage, const char *text)
{
	struct control_client		*client;
	struct wire_ctl_progress	 p;

	if ((client = control_find((uint32_t)(uintptr_t)arg)) == NULL)
		return;
	memset(&p, 0, sizeof(p));
	(void)strlcpy(p.stage, stage, sizeof(p.stage));
	(void)strlcpy(p.text, text, sizeof(p.text));
	if (imsgev_compose(&client->iev, IMSG_CTL_PROGRESS, 0, 0, -1, &p,
	    sizeof(p)) == -1)
		log_warn("control client %u: compose", client->id);
}

static void
control_deploy_done(void *arg, const char *json)
{
	struct control_client	*client;

	if ((client = control_find((uint32_t)(uintptr_t)arg)) != NULL)
		control_run_reply(client, json, -1);
}

static void
control_deploy_git(struct control_client *client, struct run_request *req)
{
	struct deploy_owner	 owner = { control_deploy_progress,
				    control_deploy_done,
				    (void *)(uintptr_t)client->id };
	char			 err[512];
	char			*json;

	if ((json = runop_encode(req)) == NULL)
		fatalx("%s: runop_encode", __func__);
	err[0] = '\0';
	if (deploy_start(json, strlen(json), &owner, err, sizeof(err)) == -1)
		control_run_refuse(client, req->task, "deploy", err);
	free(json);
}

static struct control_pending *
control_pending_slot(void)
{
	size_t	 i;

	for (i = 0; i < CONTROL_MAX_PENDING; i++)
		if (control_pending[i].client_id == 0)
			return &control_pending[i];
	return NULL;
}

static void
control_run(struct control_client *client, const struct imsg *imsg)
{
	struct run_request	 req;
	struct control_pending	*pending;
	char			 err[256];
	char			*json;

	if (runop_decode(imsg->data, imsg->hdr.len, &req, err,
	    sizeof(err)) == -1) {
		/* Nothing of a refused request is trusted, its task id neither. */
		control_run_refuse(client, "", "request", err);
		runop_free(&req);
		return;
	}
	if (req.task[0] == '\0')
		(void)snprintf(req.task, sizeof(req.task), "local-%lld-%u",
		    (long long)time(NULL), control_next_task++);
	if (req.op == RUNOP_DEPLOY) {
		const char	*why = control_resolve_binds(&req);

		if (why != NULL) {
			control_run_refuse(client, req.task,
			    runop_name(req.op), why);
			runop_free(&req);
			return;
		}
	}
	if (req.op == RUNOP_DEPLOY && req.repo.url[0] != '\0') {
		control_deploy_git(client, &req);
		runop_free(&req);
		return;
	}
	json = runop_encode(&req);
	runop_free(&req);
	if (json == NULL)
		fatalx("%s: runop_encode", __func__);
	if ((pending = control_pending_slot()) == NULL) {
		control_run_refuse(client, "", "request",
		    "too many operations in flight, try again");
		free(json);
		return;
	}
	pending->request_id = control_next_request++;
	if (proc_send_run_request(pending->request_id, json,
	    strlen(json)) == -1) {
		control_run_refuse(client, "", "request",
		    "the runner is not ready");
		free(json);
		return;
	}
	pending->client_id = client->id;
	free(json);
}

/* A result from the runner, already size-checked by proc.c. */
void
control_run_result(struct imsg *imsg)
{
	struct control_client	*client = NULL;
	char			 err[256], *json;
	size_t			 i;

	for (i = 0; i < CONTROL_MAX_PENDING; i++)
		if (control_pending[i].client_id != 0 &&
		    control_pending[i].request_id == imsg->hdr.peerid)
			break;
	if (i == CONTROL_MAX_PENDING) {
		log_warnx("runner answered unknown request %u",
		    imsg->hdr.peerid);
		return;		/* imsg_free closes any descriptor */
	}
	client = control_find(control_pending[i].client_id);
	control_pending[i].client_id = 0;
	if (client == NULL)
		return;		/* the client went away */
	if (runresult_check(imsg->data, imsg->hdr.len, err,
	    sizeof(err)) == -1) {
		log_warnx("runner sent a bad result: %s", err);
		control_run_refuse(client, "", "result", "bad runner result");
		return;
	}
	if ((json = strndup(imsg->data, imsg->hdr.len)) == NULL)
		fatal("%s", __func__);
	control_run_reply(client, json, imsg->fd);
	imsg->fd = -1;		/* passed on to the client */
	free(json);
}

/* --- berthctl tasks, task ID, policy ---------------------------------- */

static void
control_task_row(const struct journal_entry *e, struct wire_ctl_task *row)
{
	struct spool	*spool = spool_opened();

	memset(row, 0, sizeof(*row));
	(void)strlcpy(row->task_id, e->id, sizeof(row->task_id));
	(void)strlcpy(row->kind, e->kind, sizeof(row->kind));
	(void)strlcpy(row->app, e->app, sizeof(row->app));
	(void)strlcpy(row->state, journal_state_name(e->state),
	    sizeof(row->state));
	row->seq = e->seq;
	row->not_after = e->not_after;
	row->received = e->received;
	row->updated = e->updated;
	row->event_seq = e->event_seq;
	if (spool != NULL)
		row->spooled = spool_pending(spool, e->id);
	if (row->spooled > row->event_seq)
		row->spooled = row->event_seq;
	if (e->event_time != 0) {
		row->event_time = e->event_time;
		(void)strlcpy(row->event_state, e->event_state,
		    sizeof(row->event_state));
		(void)strlcpy(row->event_stage, e->event_stage,
		    sizeof(row->event_stage));
		(void)strlcpy(row->event_message, e->event_message,
		    sizeof(row->event_message));
	}
}

/* The listing, then its end with the counts.  -1: the client is stuck. */
static int
control_tasks(struct control_client *client,
    const struct wire_ctl_tasks_req *req)
{
	struct wire_ctl_tasks_end	 end;
	struct wire_ctl_task		 row;
	struct journal			*journal = journal_opened();
	struct journal_entry		**list = NULL, *e;
	size_t				 n = 0, i;
	int				 rc = 0;

	memset(&end, 0, sizeof(end));
	if (journal != NULL) {
		end.journal = 1;
		TAILQ_FOREACH(e, &journal->entries, entry)
			end.total++;
		list = journal_list(journal, req->all, CONTROL_TASKS_RECENT,
		    WIRE_CTL_TASKS_MAX, &n);
	}
	for (i = 0; i < n && rc == 0; i++) {
		control_task_row(list[i], &row);
		if ((rc = imsgev_compose(&client->iev, IMSG_CTL_TASK, 0, 0, -1,
		    &row, sizeof(row))) == 0)
			end.listed++;
	}
	free(list);
	if (rc == 0)
		rc = imsgev_compose(&client->iev, IMSG_CTL_TASKS_END, 0, 0, -1,
		    &end, sizeof(end));
	if (rc == -1)
		log_warn("control client %u: task listing", client->id);
	return rc;
}

/*
 * The task as journalled, without the values of its secret env entries:
 * the control socket is open to the _berth group, the secrets are not.
 * NULL if it cannot be shown (logged).
 */
static char *
control_task_body(const struct journal_entry *e)
{
	json_t	*task, *env, *entry;
	char	*json;
	size_t	 i;

	if ((task = json_loads(e->task_json, 0, NULL)) == NULL) {
		log_warnx("task %s: journalled task is not JSON", e->id);
		return NULL;
	}
	env = json_object_get(json_object_get(task, "spec"), "env");
	json_array_foreach(env, i, entry)
		if (json_is_true(json_object_get(entry, "secret")))
			(void)json_object_del(entry, "value");
	json = json_dumps(task, JSON_COMPACT);
	json_decref(task);
	if (json != NULL && strlen(json) > WIRE_CTL_TASK_BODY_MAX) {
		log_warnx("task %s: too large to show", e->id);
		free(json);
		json = NULL;
	}
	return json;
}

/* Row, body, the events still spooled, end.  -1: the client is stuck. */
static int
control_task(struct control_client *client,
    const struct wire_ctl_task_req *req)
{
	struct journal		*journal = journal_opened();
	struct spool		*spool = spool_opened();
	struct journal_entry	*e = NULL;
	struct spool_record	*r;
	struct wire_ctl_error	 error;
	struct wire_ctl_task	 row;
	char			*body;
	int			 rc;

	if (journal != NULL)
		e = journal_find(journal, req->task_id);
	if (e == NULL) {
		memset(&error, 0, sizeof(error));
		(void)snprintf(error.message, sizeof(error.message),
		    "no task %s", req->task_id);
		return imsgev_compose(&client->iev, IMSG_CTL_ERROR, 0, 0, -1,
		    &error, sizeof(error));
	}
	control_task_row(e, &row);
	rc = imsgev_compose(&client->iev, IMSG_CTL_TASK, 0, 0, -1, &row,
	    sizeof(row));
	if (rc == 0 && (body = control_task_body(e)) != NULL) {
		rc = imsgev_compose(&client->iev, IMSG_CTL_TASK_BODY, 0, 0,
		    -1, body, strlen(body));
		free(body);
	}
	if (spool != NULL)
		TAILQ_FOREACH(r, &spool->records, entry) {
			if (rc == -1)
				break;
			if (strcmp(r->event.task_id, e->id) == 0)
				rc = imsgev_compose(&client->iev,
				    IMSG_CTL_TASK_EVENT, 0, 0, -1, &r->event,
				    sizeof(r->event));
		}
	if (rc == 0)
		rc = imsgev_compose(&client->iev, IMSG_CTL_END, 0, 0, -1,
		    NULL, 0);
	if (rc == -1)
		log_warn("control client %u: task %s", client->id, e->id);
	return rc;
}

/* The policy as the runner got it, and the hash audit records carry. */
static int
control_policy(struct control_client *client)
{
	struct wire_ctl_policy	 p;

	memset(&p, 0, sizeof(p));
	p.policy = control_conf->policy;
	(void)strlcpy(p.policy_hash, parent_policy_hash,
	    sizeof(p.policy_hash));
	if (imsgev_compose(&client->iev, IMSG_CTL_POLICY, 0, 0, -1, &p,
	    sizeof(p)) == -1) {
		log_warn("control client %u: policy", client->id);
		return -1;
	}
	return 0;
}

static void
control_dispatch(int fd, short event, void *arg)
{
	struct control_client		*client = arg;
	struct imsg			 imsg;
	struct wire_ctl_tasks_req	 tasks_req;
	struct wire_ctl_task_req	 task_req;
	const char			*why;
	int				 got;

	(void)fd;
	if (imsgev_io(&client->iev, event) != 1) {
		control_close(client);
		return;
	}
	for (;;) {
		if ((got = imsg_get(&client->iev.ibuf, &imsg)) == -1) {
			log_warn("control client %u: malformed message",
			    client->id);
			control_close(client);
			return;
		}
		if (got == 0)
			break;
		switch (imsg.hdr.type) {
		case IMSG_CTL_STATUS:
			if ((why = wire_decode_empty(&imsg)) != NULL) {
				log_warnx("control client %u: %s", client->id,
				    why);
				imsg_free(&imsg);
				control_close(client);
				return;
			}
			control_status(client);
			break;
		case IMSG_CTL_RUN:
			if ((why = wire_decode_json(&imsg, RUNOP_JSON_MAX,
			    0)) != NULL) {
				log_warnx("control client %u: %s", client->id,
				    why);
				imsg_free(&imsg);
				control_close(client);
				return;
			}
			control_run(client, &imsg);
			break;
		case IMSG_CTL_TASKS_REQ:
			if ((why = wire_decode_ctl_tasks_req(&imsg,
			    &tasks_req)) == NULL &&
			    control_tasks(client, &tasks_req) == -1)
				why = "cannot queue the task listing";
			if (why != NULL) {
				log_warnx("control client %u: %s", client->id,
				    why);
				imsg_free(&imsg);
				control_close(client);
				return;
			}
			break;
		case IMSG_CTL_TASK_REQ:
			if ((why = wire_decode_ctl_task_req(&imsg,
			    &task_req)) == NULL &&
			    control_task(client, &task_req) == -1)
				why = "cannot queue the task";
			if (why != NULL) {
				log_warnx("control client %u: %s", client->id,
				    why);
				imsg_free(&imsg);
				control_close(client);
				return;
			}
			break;
		case IMSG_CTL_POLICY_REQ:
			if ((why = wire_decode_empty(&imsg)) == NULL &&
			    control_policy(client) == -1)
				why = "cannot queue the policy";
			if (why != NULL) {
				log_warnx("control client %u: %s", client->id,
				    why);
				imsg_free(&imsg);
				control_close(client);
				return;
			}
			break;
		default:
			log_warnx("control client %u: unknown message type %u",
			    client->id, imsg.hdr.type);
			imsg_free(&imsg);
			control_close(client);
			return;
		}
		imsg_free(&imsg);
	}
	imsgev_add(&client->iev);
}
