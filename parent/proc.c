/*
 * proc.c: starting and supervising the children.  Each child is this same
 * binary, re-executed with -P ROLE and an empty environment, its end of a
 * socketpair on fd 3.  A child that dies, or that sends anything its
 * decoder refuses, brings the whole agent down: a compromised or broken
 * child must not be left running half of a node.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "buildreq.h"
#include "log.h"
#include "parent.h"
#include "policy.h"
#include "runop.h"
#include "wire.h"

struct child	 children[ROLE_MAX];

static const struct berth_conf	*proc_conf;

static void	 proc_dispatch(int, short, void *);

/* In the forked child: put the channel on fd 3 and become berthd -P ROLE. */
static void __attribute__((__noreturn__))
proc_exec_child(enum berth_role role, int fd, const char *self_path)
{
	char		*argv[] = { "berthd", "-P", NULL, NULL };
	char		*envp[] = { NULL };

	argv[2] = (char *)role_name(role);
	if (fd == BERTH_PARENT_FD) {
		if (fcntl(fd, F_SETFD, 0) == -1)
			_exit(127);
	} else if (dup2(fd, BERTH_PARENT_FD) == -1)
		_exit(127);
	/* Secrets live in the parent's environment: the child gets none. */
	execve(self_path, argv, envp);
	log_warn("exec %s -P %s", self_path, role_name(role));
	_exit(127);
}

static void
proc_send_conf(struct child *child, const struct berth_conf *conf)
{
	struct wire_proc_conf	 wire;

	memset(&wire, 0, sizeof(wire));
	wire.role = child->role;
	wire.verbose = log_getverbose() > 3 ? 3 : log_getverbose();
	wire.foreground = log_getforeground() ? 1 : 0;
	if (wire_strset(wire.user, sizeof(wire.user),
	    conf->user[child->role]) == -1 ||
	    wire_strset(wire.docker_socket, sizeof(wire.docker_socket),
	    conf->docker_socket) == -1 ||
	    wire_strset(wire.workspace_root, sizeof(wire.workspace_root),
	    conf->workspace_root) == -1 ||
	    wire_strset(wire.node_label, sizeof(wire.node_label),
	    parent_node_label) == -1 ||
	    wire_strset(wire.listen_addr, sizeof(wire.listen_addr),
	    conf->listen_addr) == -1)
		fatalx("%s: configuration value too long for %s", __func__,
		    role_name(child->role));
	/* Only netd listens (the local /health, /status, /metrics). */
	wire.listen_port = child->role == ROLE_NETD ? conf->listen_port : 0;
	/* ... and only netd verifies the control plane's certificate. */
	if (child->role == ROLE_NETD) {
		(void)strlcpy(wire.ca_file, conf->cp_ca_file,
		    sizeof(wire.ca_file));
		wire.protocol = conf->protocol;
	}
	(void)strlcpy(child->user, wire.user, sizeof(child->user));
	if (imsgev_compose(&child->iev, IMSG_PROC_CONF, 0, getpid(), -1,
	    &wire, sizeof(wire)) == -1)
		fatal("%s: compose", __func__);
}

static void
proc_start(struct event_base *base, struct child *child,
    const struct berth_conf *conf, const char *self_path)
{
	int	 sp[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sp) == -1)
		fatal("%s: socketpair", __func__);
	switch ((pid = fork())) {
	case -1:
		fatal("%s: fork", __func__);
	case 0:
		close(sp[0]);
		proc_exec_child(child->role, sp[1], self_path);
	default:
		break;
	}
	close(sp[1]);
	child->pid = pid;
	(void)clock_gettime(CLOCK_MONOTONIC, &child->started);
	/*
	 * Only the runner's channel carries operations (larger JSON) and
	 * descriptors (log streams), and netd's carries tasks (JSON up to
	 * TASK_JSON_MAX); the others keep the small cap.
	 */
	/*
	 * The builder's passes the build context's descriptor and carries
	 * build messages of up to BUILDREQ_JSON_MAX.
	 */
	if (imsgev_init(&child->iev, base, sp[0],
	    child->role == ROLE_RUNNER || child->role == ROLE_NETD ||
	    child->role == ROLE_BUILDER ? BERTH_IMSG_RUN_MAX : BERTH_IMSG_MAX,
	    child->role == ROLE_RUNNER || child->role == ROLE_BUILDER,
	    proc_dispatch, child) == -1)
		fatal("%s: imsgev_init", __func__);
	child->channel_open = 1;
	proc_send_conf(child, conf);
	log_debug("started %s as pid %d", role_name(child->role), (int)pid);
}

void
proc_start_all(struct event_base *base, const struct berth_conf *conf,
    const char *self_path)
{
	enum berth_role	 role;

	proc_conf = conf;
	for (role = ROLE_NETD; role < ROLE_MAX; role++) {
		children[role].role = role;
		proc_start(base, &children[role], conf, self_path);
	}
}

static void
proc_close_channel(struct child *child)
{
	if (!child->channel_open)
		return;
	imsgev_clear(&child->iev);
	close(child->iev.ibuf.fd);
	child->channel_open = 0;
}

/* Closing a channel is how the parent tells a child to stop. */
void
proc_close_channels(void)
{
	enum berth_role	 role;

	for (role = ROLE_NETD; role < ROLE_MAX; role++)
		proc_close_channel(&children[role]);
}

int
proc_all_reaped(void)
{
	enum berth_role	 role;

	for (role = ROLE_NETD; role < ROLE_MAX; role++)
		if (children[role].pid != 0)
			return 0;
	return 1;
}

static struct child *
proc_find(pid_t pid)
{
	enum berth_role	 role;

	for (role = ROLE_NETD; role < ROLE_MAX; role++)
		if (children[role].pid == pid)
			return &children[role];
	return NULL;
}

static void
proc_describe_exit(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		(void)snprintf(buf, len, "was killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		(void)snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else
		(void)snprintf(buf, len, "stopped with wait status %#x",
		    status);
}

/* SIGCHLD: reap, and stop the agent if a child went away on its own. */
void
proc_reap(void)
{
	struct child	*child;
	char		 how[96];
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((child = proc_find(pid)) == NULL)
			continue;
		child->pid = 0;
		proc_describe_exit(status, how, sizeof(how));
		if (parent_shutting_down())
			log_debug("%s (pid %d) %s", role_name(child->role),
			    (int)pid, how);
		else {
			log_warnx("%s (pid %d) %s; stopping berthd",
			    role_name(child->role), (int)pid, how);
			parent_shutdown(1);
		}
	}
	if (pid == -1 && errno != ECHILD)
		log_warn("%s: waitpid", __func__);
	if (parent_shutting_down() && proc_all_reaped())
		parent_shutdown(-1);
}

/* Fill uid, gid, seccomp, no_new_privs and CapEff from /proc/PID/status. */
void
proc_read_status(pid_t pid, struct wire_ctl_proc *row)
{
	char		 path[64], line[256];
	FILE		*fp;
	unsigned int	 value;
	unsigned long long cap;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "re")) == NULL) {
		log_warn("%s: %s", __func__, path);
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "Uid: %u", &value) == 1)
			row->uid = value;
		else if (sscanf(line, "Gid: %u", &value) == 1)
			row->gid = value;
		else if (sscanf(line, "Seccomp: %u", &value) == 1)
			row->seccomp_mode = value > 2 ? 0 : value;
		else if (sscanf(line, "NoNewPrivs: %u", &value) == 1)
			row->no_new_privs = value ? 1 : 0;
		else if (sscanf(line, "CapEff: %llx", &cap) == 1)
			row->cap_eff = cap;
	}
	fclose(fp);
}

int
proc_request_status(uint32_t peerid)
{
	enum berth_role	 role;
	int		 asked = 0;

	for (role = ROLE_NETD; role < ROLE_MAX; role++) {
		struct child	*child = &children[role];

		if (!child->channel_open || !child->ready)
			continue;
		if (imsgev_compose(&child->iev, IMSG_PROC_STATUS_REQ, peerid,
		    getpid(), -1, NULL, 0) == -1) {
			log_warn("%s: compose to %s", __func__,
			    role_name(role));
			continue;
		}
		asked++;
	}
	return asked;
}

static void
proc_handle_ready(struct child *child, const struct imsg *imsg)
{
	const char	*why = NULL;

	if ((why = wire_decode_proc_ready(imsg, &child->report)) != NULL ||
	    child->report.role != child->role) {
		log_warnx("%s sent a bad PROC_READY: %s; stopping berthd",
		    role_name(child->role), why ? why : "wrong role");
		parent_shutdown(1);
		return;
	}
	child->ready = 1;
	/* The runner may take no operation before it has the policy. */
	if (child->role == ROLE_RUNNER &&
	    imsgev_compose(&child->iev, IMSG_POLICY, 0, getpid(), -1,
	    &proc_conf->policy, sizeof(proc_conf->policy)) == -1)
		fatal("%s: compose policy", __func__);
	log_info("%s ready (pid %d, landlock abi %d%s, seccomp %s)",
	    role_name(child->role), (int)child->pid,
	    child->report.landlock_abi,
	    child->report.landlock_full ? "" : " partial",
	    child->report.seccomp ? "on" : "off");
	if (child->role == ROLE_NETD) {
		netd_feed_ready();
		tasks_netd_ready();
	}
}

static void
proc_handle_status(struct child *child, const struct imsg *imsg)
{
	struct wire_proc_ready	 report;
	const char		*why = NULL;

	if ((why = wire_decode_proc_ready(imsg, &report)) != NULL ||
	    report.role != child->role) {
		log_warnx("%s sent a bad PROC_STATUS: %s; stopping berthd",
		    role_name(child->role), why ? why : "wrong role");
		parent_shutdown(1);
		return;
	}
	control_child_status(imsg->hdr.peerid, child->role, &report);
}

/* The runner asks for an audit record; only the runner may. */
static void
proc_handle_audit(struct child *child, const struct imsg *imsg)
{
	struct wire_audit	 wire;
	struct audit_record	 rec;
	const char		*why = NULL;

	if (child->role != ROLE_RUNNER ||
	    (why = wire_decode_audit(imsg, &wire)) != NULL) {
		log_warnx("%s sent a bad AUDIT: %s; stopping berthd",
		    role_name(child->role), child->role != ROLE_RUNNER ?
		    "not the runner" : why);
		parent_shutdown(1);
		return;
	}
	rec.task = wire.task;
	rec.operation = wire.operation;
	rec.object = wire.object;
	rec.policy_hash = wire.policy_hash;
	rec.request_hash = wire.request_hash;
	rec.result = wire.result;
	if (audit_append(&parent_audit, &rec) == -1) {
		/* Mutations without a record must not go on. */
		log_warnx("cannot append to the audit log; stopping berthd");
		parent_shutdown(1);
	}
}

static void
proc_handle_run_result(struct child *child, struct imsg *imsg)
{
	const char	*why = NULL;

	if (child->role != ROLE_RUNNER || (why = wire_decode_json(imsg,
	    RUNRESULT_JSON_MAX, 1)) != NULL) {
		log_warnx("%s sent a bad RUN_RESULT: %s; stopping berthd",
		    role_name(child->role), child->role != ROLE_RUNNER ?
		    "not the runner" : why);
		parent_shutdown(1);
		return;
	}
	if (imsg->hdr.peerid & TASKS_REQUEST_BIT)
		tasks_run_result(imsg);
	else if (imsg->hdr.peerid & DEPLOY_REQUEST_BIT)
		deploy_run_result(imsg);
	else if (imsg->hdr.peerid & FEED_REQUEST_BIT)
		netd_feed_run_result(imsg);
	else
		control_run_result(imsg);
}

int
proc_compose(enum berth_role role, uint32_t type, int fd, const void *data,
    size_t len)
{
	struct child	*child = &children[role];

	if (!child->channel_open || !child->ready) {
		errno = EAGAIN;
		return -1;
	}
	return imsgev_compose(&child->iev, type, 0, getpid(), fd, data, len);
}

/* Forward a checked operation to the runner; -1 if it cannot take it. */
int
proc_send_run_request(uint32_t request_id, const char *json, size_t len)
{
	struct child	*runner = &children[ROLE_RUNNER];

	if (!runner->channel_open || !runner->ready) {
		errno = EAGAIN;
		return -1;
	}
	return imsgev_compose(&runner->iev, IMSG_RUN_REQUEST, request_id,
	    getpid(), -1, json, len);
}

int
proc_send_run_request_fd(uint32_t request_id, const char *json, size_t len,
    int fd)
{
	struct child	*runner = &children[ROLE_RUNNER];

	if (!runner->channel_open || !runner->ready) {
		errno = EAGAIN;
		return -1;
	}
	return imsgev_compose(&runner->iev, IMSG_RUN_REQUEST, request_id,
	    getpid(), fd, json, len);
}

int
proc_send_build_request(uint32_t request_id, const char *json, size_t len)
{
	struct child	*builder = &children[ROLE_BUILDER];

	if (!builder->channel_open || !builder->ready) {
		errno = EAGAIN;
		return -1;
	}
	return imsgev_compose(&builder->iev, IMSG_BUILD_REQUEST, request_id,
	    getpid(), -1, json, len);
}

/* What the builder says about a build; only the builder may. */
static void
proc_handle_build(struct child *child, struct imsg *imsg)
{
	const char	*why = NULL;

	if (child->role != ROLE_BUILDER || (why = wire_decode_json(imsg,
	    BUILDREQ_JSON_MAX, imsg->hdr.type == IMSG_BUILD_CONTEXT)) !=
	    NULL) {
		log_warnx("%s sent a bad %s: %s; stopping berthd",
		    role_name(child->role), imsg_type_name(imsg->hdr.type),
		    child->role != ROLE_BUILDER ? "not the builder" : why);
		parent_shutdown(1);
		return;
	}
	deploy_builder_message(imsg);
}

static void
proc_dispatch(int fd, short event, void *arg)
{
	struct child	*child = arg;
	struct imsg	 imsg;
	int		 got;

	(void)fd;
	switch (imsgev_io(&child->iev, event)) {
	case 0:
		/* The child is exiting; SIGCHLD tells how. */
		proc_close_channel(child);
		return;
	case -1:
		proc_close_channel(child);
		parent_shutdown(1);
		return;
	default:
		break;
	}
	for (;;) {
		if ((got = imsg_get(&child->iev.ibuf, &imsg)) == -1) {
			log_warn("%s sent a malformed message; stopping berthd",
			    role_name(child->role));
			parent_shutdown(1);
			return;
		}
		if (got == 0)
			break;
		switch (imsg.hdr.type) {
		case IMSG_PROC_READY:
			proc_handle_ready(child, &imsg);
			break;
		case IMSG_PROC_STATUS:
			proc_handle_status(child, &imsg);
			break;
		case IMSG_AUDIT:
			proc_handle_audit(child, &imsg);
			break;
		case IMSG_RUN_RESULT:
			proc_handle_run_result(child, &imsg);
			break;
		case IMSG_BUILD_LOG:
		case IMSG_BUILD_CONTEXT:
		case IMSG_BUILD_DONE:
			proc_handle_build(child, &imsg);
			break;
		case IMSG_NETD_ENROLLED:
		case IMSG_NETD_REENROL:
		case IMSG_TASK_OFFER:
		case IMSG_TASK_ANSWER:
		case IMSG_EVENT_ACKED:
		case IMSG_NETD_SIGNED:
			/* Only netd speaks the protocol. */
			if (child->role != ROLE_NETD ||
			    tasks_netd_message(&imsg) == -1) {
				log_warnx("%s sent a bad %s; stopping berthd",
				    role_name(child->role),
				    imsg_type_name(imsg.hdr.type));
				imsg_free(&imsg);
				parent_shutdown(1);
				return;
			}
			break;
		default:
			log_warnx("%s sent unknown message type %u; "
			    "stopping berthd", role_name(child->role),
			    imsg.hdr.type);
			imsg_free(&imsg);
			parent_shutdown(1);
			return;
		}
		imsg_free(&imsg);
		if (!child->channel_open)
			return;
	}
	imsgev_add(&child->iev);
}
