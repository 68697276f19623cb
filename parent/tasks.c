/*
 * tasks.c: the parent's side of the native control-plane protocol.  It
 * holds the node identity (identity.c), gives netd what it needs to speak
 * for the node, and takes every task netd receives through the same
 * steps (PROTOCOL.md 5.3, 5.6): decode again (netd is not trusted more
 * than the network), verify the signature with the pinned key, the node
 * id, the expiry and the seq against the journal, journal it, ask netd to
 * accept, and only on the control plane's 200 hand it to the runner as a
 * run_request (or, for a deploy from git, to deploy.c, which builds
 * first).  Every outcome becomes an event in the spool before netd
 * is asked to send it; every refusal is also an audit record.
 */
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "journal.h"
#include "log.h"
#include "parent.h"
#include "runop.h"
#include "spool.h"
#include "task.h"
#include "wire.h"

#define TASKS_NODE_INTERVAL_SEC	5
#define TASKS_PENDING_MAX	64

struct tasks_pending {
	uint32_t	 request_id;		/* 0: slot free */
	char		 task_id[WIRE_ID_LEN];
};

static struct {
	const struct berth_conf	*conf;
	int			 enabled;
	struct identity		 identity;
	struct journal		 journal;
	struct spool		 spool;
	char			 binary_sha256[WIRE_HEX_LEN];
	struct event		*node_timer;
	uint32_t		 next_request;
	struct tasks_pending	 pending[TASKS_PENDING_MAX];
} tasks;

static int	 tasks_event(struct journal_entry *, const char *state,
		    const char *stage, const char *message);

/* Before confinement: identity (keys are made now), journal, spool. */
void
tasks_init(struct event_base *base, const struct berth_conf *conf,
    const char *self_path)
{
	char	 dir[BERTH_PATH_LEN + 16];

	tasks.conf = conf;
	/* codara's control plane calls us; the others are called. */
	if (conf->protocol == PROTO_CODARA || conf->cp_url[0] == '\0')
		return;
	tasks.enabled = 1;
	if (identity_load(&tasks.identity, conf->state_dir) == -1)
		fatalx("cannot load the node identity");
	(void)snprintf(dir, sizeof(dir), "%s/tasks", conf->state_dir);
	if (journal_open(&tasks.journal, dir) == -1)
		fatalx("cannot open the task journal %s", dir);
	(void)snprintf(dir, sizeof(dir), "%s/spool", conf->state_dir);
	if (spool_open(&tasks.spool, dir) == -1)
		fatalx("cannot open the event spool %s", dir);
	if (identity_file_sha256(self_path, tasks.binary_sha256) == -1)
		fatalx("cannot hash %s", self_path);
	if ((tasks.node_timer = evtimer_new(base, tasks_node_tick,
	    NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	tasks.next_request = 1;
	log_info("%s control plane: %s, %s, %zu events pending",
	    protocol_name(conf->protocol), conf->cp_url,
	    tasks.identity.enrolled ? "enrolled" :
	    "not enrolled yet", tasks.spool.nrecords);
}

static int
tasks_require_signed(void)
{
	return tasks.conf->require_signed_tasks ||
	    tasks.identity.tasks_signed;
}

/* --- what netd gets --------------------------------------------------- */

static void
tasks_send_identity(void)
{
	struct wire_netd_identity	 id;
	const struct berth_conf		*conf = tasks.conf;

	memset(&id, 0, sizeof(id));
	memcpy(id.private_key, tasks.identity.private_key,
	    sizeof(id.private_key));
	if (tasks.identity.enrolled) {
		(void)strlcpy(id.node_id, tasks.identity.node_id,
		    sizeof(id.node_id));
		(void)strlcpy(id.credential, tasks.identity.credential,
		    sizeof(id.credential));
	} else if (conf->enrol_token[0] == '\0') {
		/* miaas registers without one (CONTRACTS.md 3.2). */
		if (conf->protocol != PROTO_MIAAS) {
			log_warnx("not enrolled and no enrol-token configured: "
			    "the node cannot join %s", conf->cp_url);
			return;
		}
	} else if (strlcpy(id.token, conf->enrol_token, sizeof(id.token)) >=
	    sizeof(id.token)) {
		log_warnx("enrol-token is too long");
		return;
	}
	if (strlcpy(id.url, conf->cp_url, sizeof(id.url)) >= sizeof(id.url))
		fatalx("control-plane url too long");
	(void)strlcpy(id.node_name, parent_node_label, sizeof(id.node_name));
	(void)strlcpy(id.binary_sha256, tasks.binary_sha256,
	    sizeof(id.binary_sha256));
	(void)strlcpy(id.policy_hash, parent_policy_hash,
	    sizeof(id.policy_hash));
	id.heartbeat_sec = conf->heartbeat_interval_ms / 1000;
	if (id.heartbeat_sec < 1)
		id.heartbeat_sec = 1;
	id.poll_interval_ms = conf->poll_interval_ms;
	id.high_seq = (uint64_t)tasks.journal.high_seq;
	/* Checked at parse time; the same size on both sides. */
	(void)strlcpy(id.pin_sha256, conf->cp_pin_sha256,
	    sizeof(id.pin_sha256));
	if (proc_compose(ROLE_NETD, IMSG_NETD_IDENTITY, -1, &id,
	    sizeof(id)) == -1)
		log_warn("%s: compose", __func__);
	explicit_bzero(&id, sizeof(id));
}

/* What a heartbeat needs from the parent: audit head, running tasks. */
static void
tasks_send_node(void)
{
	struct wire_netd_node	 node;
	struct journal_entry	*e;

	memset(&node, 0, sizeof(node));
	node.audit_records = parent_audit.records;
	(void)strlcpy(node.audit_head, parent_audit.head,
	    sizeof(node.audit_head));
	TAILQ_FOREACH(e, &tasks.journal.entries, entry) {
		if (e->state != JOURNAL_ACCEPTED && e->state != JOURNAL_RUNNING)
			continue;
		if (node.ntasks == WIRE_TASKS_RUNNING_MAX)
			break;
		(void)strlcpy(node.tasks_running[node.ntasks++], e->id,
		    sizeof(node.tasks_running[0]));
	}
	if (proc_compose(ROLE_NETD, IMSG_NETD_NODE, -1, &node,
	    sizeof(node)) == -1)
		log_debug("%s: netd cannot take it now", __func__);
}

void
tasks_node_tick(int fd, short event, void *arg)
{
	struct timeval	 interval = { TASKS_NODE_INTERVAL_SEC, 0 };

	(void)fd;
	(void)event;
	(void)arg;
	tasks_send_node();
	(void)evtimer_add(tasks.node_timer, &interval);
}

/* Tasks accepted and not finished yet, for the status feed. */
uint32_t
tasks_running_count(void)
{
	struct journal_entry	*e;
	uint32_t		 n = 0;

	TAILQ_FOREACH(e, &tasks.journal.entries, entry)
		if (e->state == JOURNAL_ACCEPTED || e->state == JOURNAL_RUNNING)
			n++;
	return n;
}

static void
tasks_send_event(const struct wire_event *ev)
{
	if (proc_compose(ROLE_NETD, IMSG_EVENT_SEND, -1, ev,
	    sizeof(*ev)) == -1)
		log_debug("%s: netd cannot take it now; it stays spooled",
		    __func__);
}

static void
tasks_send_accept(const struct journal_entry *e)
{
	struct wire_task_ref	 ref;

	memset(&ref, 0, sizeof(ref));
	(void)strlcpy(ref.task_id, e->id, sizeof(ref.task_id));
	ref.not_after = e->not_after;
	if (proc_compose(ROLE_NETD, IMSG_TASK_ACCEPT, -1, &ref,
	    sizeof(ref)) == -1)
		log_warn("%s: compose", __func__);
}

/*
 * After a restart: accepts still unanswered go out again; tasks that
 * were accepted or running cannot be picked up where they stopped, so
 * they fail explicitly rather than vanish.
 */
static void
tasks_resume(void)
{
	struct journal_entry	*e;
	time_t			 now = time(NULL);

	TAILQ_FOREACH(e, &tasks.journal.entries, entry) {
		switch (e->state) {
		case JOURNAL_RECEIVED:
			if (e->not_after < now) {
				log_info("task %s expired before its accept "
				    "was answered", e->id);
				(void)journal_set_state(&tasks.journal, e,
				    JOURNAL_CLOSED);
			} else
				tasks_send_accept(e);
			break;
		case JOURNAL_ACCEPTED:
		case JOURNAL_RUNNING:
			tasks_event(e, "failed", "",
			    "agent restarted during the task");
			break;
		default:
			break;
		}
	}
}

/* netd is confined and ready: identity first, then what was pending. */
void
tasks_netd_ready(void)
{
	struct spool_record	*r;

	if (!tasks.enabled)
		return;
	tasks_send_identity();
	TAILQ_FOREACH(r, &tasks.spool.records, entry)
		tasks_send_event(&r->event);
	tasks_resume();
	tasks_node_tick(-1, 0, NULL);
}

/* --- events and refusals ---------------------------------------------- */

/* Spool first (fsynced), then ask netd to send.  0, or -1: berthd stops. */
static int
tasks_event_raw(const char *task_id, uint32_t seq, const char *state,
    const char *stage, const char *message)
{
	struct wire_event	 ev;

	memset(&ev, 0, sizeof(ev));
	(void)strlcpy(ev.task_id, task_id, sizeof(ev.task_id));
	ev.seq = seq;
	ev.time = time(NULL);
	(void)strlcpy(ev.state, state, sizeof(ev.state));
	(void)strlcpy(ev.stage, stage, sizeof(ev.stage));
	(void)strlcpy(ev.message, message, sizeof(ev.message));
	if (spool_append(&tasks.spool, &ev) == -1) {
		/* An event we cannot keep must not be half-sent. */
		log_warnx("cannot spool an event of task %s; stopping berthd",
		    task_id);
		parent_shutdown(1);
		return -1;
	}
	tasks_send_event(&ev);
	return 0;
}

/*
 * 0, or -1 when the event could not be kept: then berthd is stopping
 * and the journal must not say finished, or the restart would skip the
 * task and it would never get its final event (tests/faults, fault 4).
 */
static int
tasks_event(struct journal_entry *e, const char *state, const char *stage,
    const char *message)
{
	uint32_t	 seq;

	journal_note_event(e, state, stage, message);
	if ((seq = journal_next_event(&tasks.journal, e)) == 0) {
		log_warnx("cannot journal an event of task %s; stopping "
		    "berthd", e->id);
		parent_shutdown(1);
		return -1;
	}
	/* Spooled before the journal says finished: a crash loses neither. */
	if (tasks_event_raw(e->id, seq, state, stage, message) == -1)
		return -1;
	if (strcmp(state, "running") != 0 && e->state != JOURNAL_REFUSED)
		(void)journal_set_state(&tasks.journal, e, JOURNAL_FINISHED);
	return 0;
}

static void
tasks_audit_refusal(const char *task_id, const char *app, const char *json,
    size_t len, const char *reason)
{
	struct audit_record	 rec;
	char			 hash[AUDIT_HASH_HEX + 1], result[256];

	audit_sha256_hex(json, len, hash);
	(void)snprintf(result, sizeof(result), "refused: %s", reason);
	rec.task = task_id;
	rec.operation = "task.refused";
	rec.object = app;
	rec.policy_hash = parent_policy_hash;
	rec.request_hash = hash;
	rec.result = result;
	if (audit_append(&parent_audit, &rec) == -1) {
		log_warnx("cannot append to the audit log; stopping berthd");
		parent_shutdown(1);
	}
}

/*
 * Refuse a task: audit it, journal it as refused (so that a redelivery
 * does not refuse it twice, and without moving high_seq), and send the
 * one rejected event the protocol asks for.
 */
static void
tasks_refuse(const struct task *t, const char *json, size_t len,
    const char *stage, const char *reason)
{
	struct journal_entry	*e;
	char			*canon;

	log_warnx("refusing task %s: %s", t->id[0] != '\0' ? t->id : "?",
	    reason);
	tasks_audit_refusal(t->id, t->app, json, len, reason);
	if (t->id[0] == '\0')
		return;		/* nothing to address an event to */
	if (t->json == NULL || t->seq < 1 ||
	    (canon = json_dumps(t->json, JSON_COMPACT)) == NULL) {
		tasks_event_raw(t->id, 1, "rejected", stage, reason);
		return;
	}
	e = journal_add(&tasks.journal, t->id, t->seq, t->not_after, canon,
	    JOURNAL_REFUSED);
	free(canon);
	if (e == NULL)
		tasks_event_raw(t->id, 1, "rejected", stage, reason);
	else
		tasks_event(e, "rejected", stage, reason);
}

/* --- checking an offer ------------------------------------------------ */

/* PROTOCOL.md 5.3, steps 2 to 4: NULL, or why the task is refused. */
static const char *
tasks_verify(const struct task *t)
{
	if (t->has_signature) {
		if (!task_signature_valid(t, tasks.identity.task_key))
			return "bad signature";
	} else if (tasks_require_signed())
		return "unsigned task, signatures are required";
	if (strcmp(t->node_id, tasks.identity.node_id) != 0)
		return "task is for another node";
	if (t->not_after < time(NULL))
		return "task expired";
	return NULL;
}

/* What this agent can do today; NULL, or why not. */
static const char *
tasks_admit(const struct task *t)
{
	switch (t->kind) {
	case TASK_DEPLOY:
		if (t->spec.repo_url != NULL &&
		    (strlen(t->spec.repo_url) >= RUNOP_URL_LEN ||
		    strlen(t->spec.repo_ref) >= RUNOP_REF_LEN ||
		    strlen(t->spec.dockerfile) >= RUNOP_PATH_LEN))
			return "repository url, ref or dockerfile too long";
		if (t->spec.nports > RUNOP_PORTS_MAX)
			return "too many ports";
		if (t->spec.nenv > RUNOP_ENV_MAX)
			return "too many environment variables";
		if (t->spec.ncmd > RUNOP_ARGS_MAX)
			return "too many cmd arguments";
		if (t->spec.replicas > 1)
			return "replicas above 1 are not supported yet";
		return NULL;
	case TASK_START:
	case TASK_STOP:
	case TASK_RESTART:
	case TASK_REMOVE:
		return NULL;
	default:
		return "not yet: this agent does not run this kind of task";
	}
}

/*
 * A task id already in the journal: the same seq is a redelivery (go
 * on with the accept, or leave the earlier refusal be), another seq a
 * replay, which gets no event (the journal has its real history).
 */
static void
tasks_redelivered(struct journal_entry *e, const struct task *t,
    const char *json, size_t len)
{
	if (e->seq != t->seq) {
		log_warnx("task %s replayed with seq %lld (journalled %lld)",
		    t->id, (long long)t->seq, (long long)e->seq);
		tasks_audit_refusal(t->id, t->app, json, len, "replayed task");
		return;
	}
	if (e->state == JOURNAL_RECEIVED)
		tasks_send_accept(e);
}

static void
tasks_offer(const struct imsg *imsg)
{
	struct journal_entry	*e;
	struct task		 t;
	const char		*why;
	char			 err[256], *canon;

	if (!tasks.identity.enrolled) {
		log_warnx("netd offered a task before enrolment; ignored");
		return;
	}
	if (task_decode(imsg->data, imsg->hdr.len, &t, err,
	    sizeof(err)) == -1) {
		tasks_refuse(&t, imsg->data, imsg->hdr.len, "verify", err);
		task_free(&t);
		return;
	}
	if ((e = journal_find(&tasks.journal, t.id)) != NULL)
		tasks_redelivered(e, &t, imsg->data, imsg->hdr.len);
	else if ((why = tasks_verify(&t)) != NULL)
		tasks_refuse(&t, imsg->data, imsg->hdr.len, "verify", why);
	else if (t.seq <= tasks.journal.high_seq)
		tasks_refuse(&t, imsg->data, imsg->hdr.len, "verify",
		    "replayed seq");
	else if ((why = tasks_admit(&t)) != NULL)
		tasks_refuse(&t, imsg->data, imsg->hdr.len, "admission", why);
	else if ((canon = json_dumps(t.json, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	else {
		/* Journal first, then accept (PROTOCOL.md 5.6). */
		e = journal_add(&tasks.journal, t.id, t.seq, t.not_after,
		    canon, JOURNAL_RECEIVED);
		free(canon);
		if (e == NULL) {
			log_warnx("cannot journal task %s; stopping berthd",
			    t.id);
			parent_shutdown(1);
		} else {
			log_info("task %s (%s %s, seq %lld) journalled",
			    t.id, task_kind_name(t.kind), t.app,
			    (long long)t.seq);
			tasks_send_accept(e);
		}
	}
	task_free(&t);
}

/* --- running an accepted task ----------------------------------------- */

static char *
tasks_env_entry(const struct task_env *env)
{
	char	*s;

	if (asprintf(&s, "%s=%s", env->name, env->value) == -1)
		fatal("%s", __func__);
	return s;
}

static void
tasks_deploy_request(const struct task *t, struct run_request *req)
{
	struct run_spec		*spec = &req->spec;
	size_t			 i;

	(void)strlcpy(spec->image, t->spec.image, sizeof(spec->image));
	if (t->spec.repo_url != NULL) {
		(void)strlcpy(req->repo.url, t->spec.repo_url,
		    sizeof(req->repo.url));
		(void)strlcpy(req->repo.commit, t->spec.repo_commit,
		    sizeof(req->repo.commit));
		(void)strlcpy(req->repo.ref, t->spec.repo_ref,
		    sizeof(req->repo.ref));
		(void)strlcpy(req->repo.dockerfile, t->spec.dockerfile,
		    sizeof(req->repo.dockerfile));
	}
	for (i = 0; i < t->spec.nenv; i++)
		spec->env[spec->nenv++] = tasks_env_entry(&t->spec.env[i]);
	for (i = 0; i < t->spec.ncmd; i++)
		if ((spec->cmd[spec->ncmd++] = strdup(t->spec.cmd[i])) == NULL)
			fatal("%s", __func__);
	for (i = 0; i < t->spec.nports; i++) {
		spec->ports[i].container_port =
		    (uint16_t)t->spec.ports[i].container_port;
		spec->ports[i].host_port = (uint16_t)t->spec.ports[i].host_port;
		spec->ports[i].udp = t->spec.ports[i].udp;
		(void)strlcpy(spec->ports[i].host_ip,
		    t->spec.ports[i].host_ip, sizeof(spec->ports[i].host_ip));
	}
	spec->nports = t->spec.nports;
	spec->memory_bytes = (uint64_t)t->spec.memory_bytes;
	spec->nano_cpus = (uint64_t)t->spec.cpu_millis * 1000000;
	spec->pids_limit = t->spec.pids;
}

/* The run_request of an admitted task; -1 if it cannot be made. */
static int
tasks_request(const struct task *t, struct run_request *req)
{
	static const enum run_op ops[TASK_KIND_MAX] = {
		[TASK_DEPLOY] = RUNOP_DEPLOY, [TASK_START] = RUNOP_START,
		[TASK_STOP] = RUNOP_STOP, [TASK_RESTART] = RUNOP_RESTART,
		[TASK_REMOVE] = RUNOP_REMOVE,
	};

	memset(req, 0, sizeof(*req));
	if ((req->op = ops[t->kind]) == RUNOP_NONE)
		return -1;
	(void)strlcpy(req->task, t->id, sizeof(req->task));
	(void)strlcpy(req->app, t->app, sizeof(req->app));
	if (t->spec.grace_sec >= 0)
		req->stop_timeout_sec = (uint32_t)t->spec.grace_sec;
	if (t->kind == TASK_DEPLOY)
		tasks_deploy_request(t, req);
	return 0;
}

static const char *
tasks_stage(enum task_kind kind)
{
	switch (kind) {
	case TASK_DEPLOY:
		return "create";
	case TASK_START:
	case TASK_RESTART:
		return "start";
	case TASK_STOP:
		return "stop";
	case TASK_REMOVE:
		return "remove";
	default:
		return "";
	}
}

/*
 * A deploy from git runs through deploy.c (builder, then runner); its
 * stages become running events, one per stage as it starts, its result
 * the final event.  Build log lines are not events.
 */
struct tasks_deploy {
	char		 task_id[WIRE_ID_LEN];
	char		 stage[16];
};

static const char *
tasks_deploy_stage(const char *stage)
{
	static const char *const stages[] = { "clone", "detect", "build",
	    "pull", "create", "start", "health", NULL };
	size_t	 i;

	if (strcmp(stage, "deploy") == 0)
		return "switch";
	for (i = 0; stages[i] != NULL; i++)
		if (strcmp(stage, stages[i]) == 0)
			return stages[i];
	return "";
}

static void
tasks_deploy_progress(void *arg, const char *stage, const char *text)
{
	struct tasks_deploy	*td = arg;
	struct journal_entry	*e;
	const char		*s = tasks_deploy_stage(stage);

	if ((e = journal_find(&tasks.journal, td->task_id)) == NULL ||
	    strcmp(s, td->stage) == 0)
		return;
	(void)strlcpy(td->stage, s, sizeof(td->stage));
	tasks_event(e, "running", s, text);
}

static void
tasks_deploy_done(void *arg, const char *result)
{
	struct tasks_deploy	*td = arg;
	struct journal_entry	*e;
	const char		*error = "";
	json_t			*v;
	int			 ok = 0;

	if ((e = journal_find(&tasks.journal, td->task_id)) != NULL) {
		if ((v = json_loads(result, 0, NULL)) == NULL ||
		    json_unpack(v, "{s:b, s?s}", "ok", &ok, "error",
		    &error) == -1)
			tasks_event(e, "failed", "", "bad deploy result");
		else
			tasks_event(e, ok ? "succeeded" : "failed", "",
			    ok ? "" : error);
		json_decref(v);
	}
	free(td);
}

/* Hand a deploy from git to deploy.c; the task is then running. */
static void
tasks_run_from_git(struct journal_entry *e, const char *json)
{
	struct deploy_owner	 owner;
	struct tasks_deploy	*td;
	char			 err[256] = "";

	if ((td = calloc(1, sizeof(*td))) == NULL)
		fatal("%s", __func__);
	(void)strlcpy(td->task_id, e->id, sizeof(td->task_id));
	owner.progress = tasks_deploy_progress;
	owner.done = tasks_deploy_done;
	owner.arg = td;
	if (deploy_start(json, strlen(json), &owner, err, sizeof(err)) ==
	    -1) {
		free(td);
		tasks_event(e, "failed", "clone", err);
		return;
	}
	(void)journal_set_state(&tasks.journal, e, JOURNAL_RUNNING);
}

static struct tasks_pending *
tasks_pending_slot(void)
{
	size_t	 i;

	for (i = 0; i < TASKS_PENDING_MAX; i++)
		if (tasks.pending[i].request_id == 0)
			return &tasks.pending[i];
	return NULL;
}

static void
tasks_run(struct journal_entry *e)
{
	struct run_request	 req;
	struct tasks_pending	*slot;
	struct task		 t;
	char			 err[256], *json = NULL;

	if (task_decode(e->task_json, strlen(e->task_json), &t, err,
	    sizeof(err)) == -1 || tasks_request(&t, &req) == -1) {
		tasks_event(e, "failed", "", "journalled task unreadable");
		task_free(&t);
		return;
	}
	if (t.spec.repo_url != NULL) {
		if ((json = runop_encode(&req)) == NULL)
			fatalx("%s: runop_encode", __func__);
		tasks_run_from_git(e, json);
		goto done;
	}
	if (tasks_event(e, "running", tasks_stage(t.kind), "") == -1)
		goto done;	/* berthd stops; the restart resumes it */
	if ((slot = tasks_pending_slot()) == NULL ||
	    (json = runop_encode(&req)) == NULL) {
		tasks_event(e, "failed", tasks_stage(t.kind),
		    "too many tasks in flight");
		goto done;
	}
	slot->request_id = TASKS_REQUEST_BIT | tasks.next_request++;
	if (tasks.next_request >= TASKS_REQUEST_BIT)
		tasks.next_request = 1;
	if (proc_send_run_request(slot->request_id, json, strlen(json)) ==
	    -1) {
		slot->request_id = 0;
		tasks_event(e, "failed", tasks_stage(t.kind),
		    "the runner is not ready");
		goto done;
	}
	(void)strlcpy(slot->task_id, e->id, sizeof(slot->task_id));
	(void)journal_set_state(&tasks.journal, e, JOURNAL_RUNNING);
 done:
	free(json);
	runop_free(&req);
	task_free(&t);
}

static void
tasks_answer(const struct imsg *imsg)
{
	struct wire_task_answer	 ans;
	struct journal_entry	*e;
	const char		*why;

	if ((why = wire_decode_task_answer(imsg, &ans)) != NULL) {
		log_warnx("netd sent a bad TASK_ANSWER: %s; stopping berthd",
		    why);
		parent_shutdown(1);
		return;
	}
	if ((e = journal_find(&tasks.journal, ans.task_id)) == NULL ||
	    e->state != JOURNAL_RECEIVED) {
		log_debug("answer for task %s that awaits none", ans.task_id);
		return;
	}
	if (ans.outcome != TASK_ANSWER_ACCEPTED) {
		log_info("task %s closed: %s", e->id, ans.reason);
		(void)journal_set_state(&tasks.journal, e, JOURNAL_CLOSED);
		return;
	}
	if (journal_set_state(&tasks.journal, e, JOURNAL_ACCEPTED) == -1) {
		parent_shutdown(1);
		return;
	}
	log_info("task %s accepted", e->id);
	tasks_run(e);
}

/* The runner's result for a task's run_request (peerid has the bit). */
void
tasks_run_result(struct imsg *imsg)
{
	struct journal_entry	*e;
	json_t			*v;
	const char		*error = "";
	char			 err[256];
	size_t			 i;
	int			 ok = 0;

	for (i = 0; i < TASKS_PENDING_MAX; i++)
		if (tasks.pending[i].request_id == imsg->hdr.peerid)
			break;
	if (i == TASKS_PENDING_MAX) {
		log_warnx("runner answered unknown task request %#x",
		    imsg->hdr.peerid);
		return;
	}
	tasks.pending[i].request_id = 0;
	if ((e = journal_find(&tasks.journal,
	    tasks.pending[i].task_id)) == NULL)
		return;
	if (runresult_check(imsg->data, imsg->hdr.len, err,
	    sizeof(err)) == -1 || (v = json_loadb(imsg->data, imsg->hdr.len,
	    0, NULL)) == NULL) {
		tasks_event(e, "failed", "", "bad runner result");
		return;
	}
	(void)json_unpack(v, "{s:b, s?s}", "ok", &ok, "error", &error);
	tasks_event(e, ok ? "succeeded" : "failed", "", ok ? "" : error);
	json_decref(v);
}

/* --- netd's messages -------------------------------------------------- */

static void
tasks_enrolled(const struct imsg *imsg)
{
	struct wire_netd_enrolled	 en;
	const char			*why;

	if ((why = wire_decode_netd_enrolled(imsg, &en)) != NULL) {
		log_warnx("netd sent a bad NETD_ENROLLED: %s; stopping berthd",
		    why);
		parent_shutdown(1);
		return;
	}
	if (identity_store_enrolment(&tasks.identity, &en) == -1) {
		log_warnx("cannot store the enrolment; stopping berthd");
		parent_shutdown(1);
		return;
	}
	explicit_bzero(&en, sizeof(en));
	log_info("enrolled as node %s%s", tasks.identity.node_id,
	    tasks.identity.tasks_signed ? ", tasks signed" : "");
	/* Stored: now netd may use it. */
	tasks_send_identity();
}

static void
tasks_event_acked(const struct imsg *imsg)
{
	struct wire_event_ack	 ack;
	const char		*why;

	if ((why = wire_decode_event_ack(imsg, &ack)) != NULL) {
		log_warnx("netd sent a bad EVENT_ACKED: %s; stopping berthd",
		    why);
		parent_shutdown(1);
		return;
	}
	if (spool_ack(&tasks.spool, ack.task_id, ack.acked_seq) == -1)
		log_warnx("cannot drop acknowledged events of %s from the "
		    "spool; they will be sent again", ack.task_id);
}

static void
tasks_reenrol(void)
{
	log_warnx("the control plane does not know this node's credential; "
	    "enrolling again");
	if (identity_forget_enrolment(&tasks.identity) == -1) {
		parent_shutdown(1);
		return;
	}
	tasks_send_identity();
}

/*
 * The control plane said it signs tasks: from now on every task must be
 * signed, also after a restart (PROTOCOL.md 5.3, a one-way latch).
 */
static void
tasks_latch_signed(void)
{
	if (!tasks.identity.enrolled || tasks.identity.tasks_signed)
		return;
	if (identity_latch_signed(&tasks.identity) == -1) {
		log_warnx("cannot store the tasks_signed latch; stopping "
		    "berthd");
		parent_shutdown(1);
		return;
	}
	log_info("the control plane signs tasks: unsigned ones are refused "
	    "from now on");
}

/* A message from netd about the protocol; 0, or -1 if not one of ours. */
int
tasks_netd_message(struct imsg *imsg)
{
	const char	*why;

	if (!tasks.enabled)
		return -1;
	switch (imsg->hdr.type) {
	case IMSG_NETD_ENROLLED:
		tasks_enrolled(imsg);
		return 0;
	case IMSG_NETD_REENROL:
		if ((why = wire_decode_empty(imsg)) != NULL)
			return -1;
		tasks_reenrol();
		return 0;
	case IMSG_TASK_OFFER:
		if ((why = wire_decode_json(imsg, TASK_JSON_MAX, 0)) != NULL)
			return -1;
		tasks_offer(imsg);
		return 0;
	case IMSG_TASK_ANSWER:
		tasks_answer(imsg);
		return 0;
	case IMSG_EVENT_ACKED:
		tasks_event_acked(imsg);
		return 0;
	case IMSG_NETD_SIGNED:
		if ((why = wire_decode_empty(imsg)) != NULL)
			return -1;
		tasks_latch_signed();
		return 0;
	default:
		return -1;
	}
}
