/*
 * control.c: the control socket berthctl talks to.  Peers are local but
 * less trusted than the children: a client that sends something its
 * decoder refuses is disconnected and logged, the agent goes on.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "parent.h"
#include "wire.h"

#define CONTROL_MAX_CLIENTS	32
#define CONTROL_BACKLOG		8

struct control_client {
	TAILQ_ENTRY(control_client)	 entry;
	uint32_t			 id;
	struct imsgev			 iev;
	int				 status_pending;
};

static TAILQ_HEAD(, control_client) control_clients =
    TAILQ_HEAD_INITIALIZER(control_clients);
static int		 control_fd = -1;
static char		 control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct event	*control_ev;
static struct event_base *control_base;
static unsigned int	 control_nclients;
static uint32_t		 control_next_id = 1;

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
control_init(const char *path, gid_t group)
{
	struct sockaddr_un	 sun;
	mode_t			 old_umask;

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
	if (imsgev_init(&client->iev, control_base, client_fd,
	    BERTH_IMSG_MAX, 0, control_dispatch, client) == -1) {
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

/* Fill uid, gid, seccomp, no_new_privs and CapEff from /proc/PID/status. */
static void
control_read_proc_status(pid_t pid, struct wire_ctl_proc *row)
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
	control_read_proc_status(pid, &row);
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
control_dispatch(int fd, short event, void *arg)
{
	struct control_client	*client = arg;
	struct imsg		 imsg;
	const char		*why;
	int			 got;

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
