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

#include "log.h"
#include "parent.h"
#include "wire.h"

struct child	 children[ROLE_MAX];

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
	    conf->workspace_root) == -1)
		fatalx("%s: configuration value too long for %s", __func__,
		    role_name(child->role));
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
	if (imsgev_init(&child->iev, base, sp[0], BERTH_IMSG_MAX, 0,
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
	const char	*why;

	if ((why = wire_decode_proc_ready(imsg, &child->report)) != NULL ||
	    child->report.role != child->role) {
		log_warnx("%s sent a bad PROC_READY: %s; stopping berthd",
		    role_name(child->role), why ? why : "wrong role");
		parent_shutdown(1);
		return;
	}
	child->ready = 1;
	log_info("%s ready (pid %d, landlock abi %d%s, seccomp %s)",
	    role_name(child->role), (int)child->pid,
	    child->report.landlock_abi,
	    child->report.landlock_full ? "" : " partial",
	    child->report.seccomp ? "on" : "off");
}

static void
proc_handle_status(struct child *child, const struct imsg *imsg)
{
	struct wire_proc_ready	 report;
	const char		*why;

	if ((why = wire_decode_proc_ready(imsg, &report)) != NULL ||
	    report.role != child->role) {
		log_warnx("%s sent a bad PROC_STATUS: %s; stopping berthd",
		    role_name(child->role), why ? why : "wrong role");
		parent_shutdown(1);
		return;
	}
	control_child_status(imsg->hdr.peerid, child->role, &report);
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
