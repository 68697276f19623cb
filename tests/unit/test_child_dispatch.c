/*
 * test_child_dispatch.c: each child, started as the parent starts it
 * (berthd -P ROLE with the channel on fd 3), answers a good status
 * request, and exits non-zero with a log line naming the fault when the
 * parent sends an unknown type or a payload of the wrong size.  Needs
 * root and the berth users (tests/run creates them).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth.h"
#include "imsg.h"
#include "wire.h"

struct spawned {
	pid_t		 pid;
	struct imsgbuf	 ibuf;
	int		 stderr_fd;
};

static char	 scratch[] = "/tmp/berth-child-XXXXXX";
static char	 fake_docker[BERTH_PATH_LEN];
static int	 fake_docker_fd = -1;

/* The runner binds the Docker socket into its empty root: give it one. */
static int
setup_scratch(void **state)
{
	struct sockaddr_un	 sun;
	struct group		*docker;

	(void)state;
	if (geteuid() != 0)
		return 0;
	if (mkdtemp(scratch) == NULL)
		return -1;
	(void)snprintf(fake_docker, sizeof(fake_docker), "%s/docker.sock",
	    scratch);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, fake_docker, sizeof(sun.sun_path));
	if ((fake_docker_fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(fake_docker_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fake_docker_fd, 4) == -1)
		return -1;
	if ((docker = getgrnam("docker")) != NULL &&
	    chown(fake_docker, 0, docker->gr_gid) == -1)
		return -1;
	return chmod(fake_docker, 0660);
}

static int
teardown_scratch(void **state)
{
	char	 cmd[128];

	(void)state;
	if (fake_docker_fd != -1)
		close(fake_docker_fd);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch);
	if (strncmp(scratch, "/tmp/berth-child-", 17) == 0 &&
	    strchr(scratch, 'X') == NULL)
		(void)system(cmd);
	return 0;
}

static void
skip_unless_root(void)
{
	if (geteuid() != 0 || getenv("BERTHD") == NULL) {
		fprintf(stderr, "needs root and BERTHD set\n");
		skip();
	}
}

static void
spawn(enum berth_role role, struct spawned *child)
{
	int	 sp[2], errpipe[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sp), 0);
	assert_int_equal(pipe2(errpipe, O_CLOEXEC), 0);
	child->pid = fork();
	assert_true(child->pid != -1);
	if (child->pid == 0) {
		char	*envp[] = { NULL };

		if (dup2(sp[1], BERTH_PARENT_FD) == -1 ||
		    dup2(errpipe[1], STDERR_FILENO) == -1)
			_exit(126);
		execle(getenv("BERTHD"), "berthd", "-P", role_name(role),
		    (char *)NULL, envp);
		_exit(127);
	}
	close(sp[1]);
	close(errpipe[1]);
	child->stderr_fd = errpipe[0];
	assert_int_equal(imsgbuf_init(&child->ibuf, sp[0], BERTH_IMSG_MAX,
	    BERTH_IMSG_QUEUE_MAX, 0), 0);
}

static void
send_raw(struct spawned *child, uint32_t type, const void *data, size_t len)
{
	assert_int_equal(imsg_compose(&child->ibuf, type, 7, getpid(), -1,
	    data, len), 0);
	while (imsgbuf_queued(&child->ibuf) > 0)
		assert_int_equal(imsgbuf_write(&child->ibuf), 0);
}

static void
send_conf(struct spawned *child, enum berth_role role)
{
	static const char *const users[ROLE_MAX] = {
		NULL, "_berth", "_berthbuild", "_berthrun"
	};
	struct wire_proc_conf	 conf;

	memset(&conf, 0, sizeof(conf));
	conf.role = role;
	conf.verbose = 2;
	conf.foreground = 1;
	(void)strlcpy(conf.user, users[role], sizeof(conf.user));
	(void)strlcpy(conf.docker_socket, fake_docker,
	    sizeof(conf.docker_socket));
	(void)strlcpy(conf.workspace_root, scratch,
	    sizeof(conf.workspace_root));
	send_raw(child, IMSG_PROC_CONF, &conf, sizeof(conf));
}

/* One message from the child within ten seconds. */
static void
expect_message(struct spawned *child, uint32_t type, struct imsg *imsg)
{
	struct pollfd	 pfd = { .fd = child->ibuf.fd, .events = POLLIN };
	int		 got;

	for (;;) {
		got = imsg_get(&child->ibuf, imsg);
		assert_int_not_equal(got, -1);
		if (got == 1)
			break;
		assert_int_equal(poll(&pfd, 1, 10000), 1);
		assert_true(imsgbuf_read(&child->ibuf) > 0);
	}
	assert_int_equal(imsg->hdr.type, type);
}

static void
start_ready(enum berth_role role, struct spawned *child)
{
	struct imsg		 imsg;
	struct wire_proc_ready	 ready;

	spawn(role, child);
	send_conf(child, role);
	expect_message(child, IMSG_PROC_READY, &imsg);
	assert_null(wire_decode_proc_ready(&imsg, &ready));
	assert_int_equal(ready.role, role);
	assert_int_equal(ready.seccomp, 1);
	imsg_free(&imsg);
}

/* Wait up to five seconds; return the wait status and the child's log. */
static int
finish(struct spawned *child, char *log, size_t loglen)
{
	size_t	 have = 0;
	ssize_t	 n;
	int	 status, i;
	pid_t	 done = 0;

	for (i = 0; i < 50 && done == 0; i++) {
		done = waitpid(child->pid, &status, WNOHANG);
		if (done == 0)
			usleep(100000);
	}
	if (done == 0) {
		kill(child->pid, SIGKILL);
		(void)waitpid(child->pid, &status, 0);
		fail_msg("child did not exit");
	}
	while (have < loglen - 1 &&
	    (n = read(child->stderr_fd, log + have, loglen - 1 - have)) > 0)
		have += n;
	log[have] = '\0';
	close(child->stderr_fd);
	close(child->ibuf.fd);
	imsgbuf_clear(&child->ibuf);
	return status;
}

static void
check_refusal(enum berth_role role, uint32_t type, const void *payload,
    size_t len, const char *expected_log)
{
	struct spawned	 child;
	char		 log[8192];
	int		 status;

	skip_unless_root();
	start_ready(role, &child);
	send_raw(&child, type, payload, len);
	status = finish(&child, log, sizeof(log));
	if (!WIFEXITED(status) || WEXITSTATUS(status) == 0)
		fail_msg("%s survived: status %#x, log:\n%s", role_name(role),
		    status, log);
	if (strstr(log, expected_log) == NULL)
		fail_msg("%s log lacks \"%s\":\n%s", role_name(role),
		    expected_log, log);
}

static void
check_status_answered(enum berth_role role)
{
	struct spawned		 child;
	struct imsg		 imsg;
	struct wire_proc_ready	 ready;
	char			 log[8192];
	int			 status;

	skip_unless_root();
	start_ready(role, &child);
	send_raw(&child, IMSG_PROC_STATUS_REQ, NULL, 0);
	expect_message(&child, IMSG_PROC_STATUS, &imsg);
	assert_int_equal(imsg.hdr.peerid, 7);
	assert_null(wire_decode_proc_ready(&imsg, &ready));
	imsg_free(&imsg);
	/* Closing the channel is the parent's way to say stop: exit 0. */
	shutdown(child.ibuf.fd, SHUT_RDWR);
	status = finish(&child, log, sizeof(log));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("%s: status %#x after close, log:\n%s",
		    role_name(role), status, log);
}

static const uint32_t	 four_bytes = 0x01020304;

#define ROLE_TESTS(role, name)						\
static void name##_status(void **s) { (void)s; check_status_answered(role); } \
static void name##_unknown_type(void **s) { (void)s;			\
	check_refusal(role, 4242, NULL, 0,				\
	    "parent sent unknown message type 4242"); }			\
static void name##_wrong_size(void **s) { (void)s;			\
	check_refusal(role, IMSG_PROC_STATUS_REQ, &four_bytes,		\
	    sizeof(four_bytes), "payload of 4 bytes, expected 0"); }

ROLE_TESTS(ROLE_NETD, netd)
ROLE_TESTS(ROLE_BUILDER, builder)
ROLE_TESTS(ROLE_RUNNER, runner)

/* A configuration of the wrong size is refused before confinement. */
static void
bad_conf_size(void **state)
{
	struct spawned	 child;
	char		 log[8192];
	int		 status;

	(void)state;
	skip_unless_root();
	spawn(ROLE_NETD, &child);
	send_raw(&child, IMSG_PROC_CONF, &four_bytes, sizeof(four_bytes));
	status = finish(&child, log, sizeof(log));
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	if (strstr(log, "PROC_CONF: payload of 4 bytes") == NULL)
		fail_msg("log lacks the size complaint:\n%s", log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(netd_status),
		cmocka_unit_test(netd_unknown_type),
		cmocka_unit_test(netd_wrong_size),
		cmocka_unit_test(builder_status),
		cmocka_unit_test(builder_unknown_type),
		cmocka_unit_test(builder_wrong_size),
		cmocka_unit_test(runner_status),
		cmocka_unit_test(runner_unknown_type),
		cmocka_unit_test(runner_wrong_size),
		cmocka_unit_test(bad_conf_size),
	};

	return cmocka_run_group_tests(tests, setup_scratch, teardown_scratch);
}
