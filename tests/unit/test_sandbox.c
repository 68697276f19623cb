/*
 * test_sandbox.c: unit tests of the sandbox helpers in common/sandbox.c
 * and of the policy tables in common/sandbox_policy.c.  Each helper
 * changes the calling process for good, so every test runs it in a
 * forked child and looks at the child's exit status.  Needs root; the
 * whole-role confinement is tested by tests/probe.
 */
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <linux/landlock.h>
#include <linux/securebits.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth.h"
#include "log.h"
#include "sandbox.h"

#define SECCOMP_TRAP_EXIT	159	/* sandbox.c, debug builds */
#define TEST_USER		"_berthrun"
#define TEST_EXTRA_GID		4242

/* In a child: report the failed condition and exit non-zero. */
#define CHILD_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: failed: %s (errno %d)\n",	\
		    __FILE__, __LINE__, #cond, errno);			\
		_exit(1);						\
	}								\
} while (0)

static char	 scratch[64];

/* Run fn in a child; its wait status. */
static int
in_child(void (*fn)(void *), void *arg)
{
	pid_t	 pid;
	int	 status;

	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) == -1)
		fail_msg("waitpid: %s", strerror(errno));
	return status;
}

static void
assert_child_ok(int status)
{
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int
killed_by_seccomp(int status)
{
	return (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) ||
	    (WIFEXITED(status) && WEXITSTATUS(status) == SECCOMP_TRAP_EXIT);
}

static void
need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static int
kernel_landlock_abi(void)
{
	long	 abi;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	return abi < 0 ? 0 : (int)abi;
}

/* The value of "key:" in /proc/self/status, or "" */
static void
self_status(const char *key, char *value, size_t size)
{
	FILE	*f;
	char	 line[512];
	size_t	 keylen = strlen(key);

	value[0] = '\0';
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, keylen) == 0 && line[keylen] == ':') {
			(void)snprintf(value, size, "%s",
			    line + keylen + 1 + strspn(line + keylen + 1,
			    " \t"));
			value[strcspn(value, "\n")] = '\0';
			break;
		}
	}
	fclose(f);
}

static int
status_is_zero(const char *key)
{
	char	 value[128];

	self_status(key, value, sizeof(value));
	return value[0] != '\0' && strspn(value, "0") == strlen(value);
}

static void
scratch_path(char *buf, size_t size, const char *name)
{
	(void)snprintf(buf, size, "%s/%s", scratch, name);
}

static int
remove_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

static int
setup_scratch(void **state)
{
	(void)state;
	(void)snprintf(scratch, sizeof(scratch), "/tmp/test_sandbox.XXXXXX");
	if (mkdtemp(scratch) == NULL || chmod(scratch, 0755) == -1)
		return -1;
	return 0;
}

static int
teardown_scratch(void **state)
{
	(void)state;
	return nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * The tables.
 */

static void
test_tables_resolve(void **state)
{
	size_t	 i, j;
	int	 nr, role;

	(void)state;
	assert_true(sandbox_nsyscalls > 0);
	for (i = 0; i < sandbox_nsyscalls; i++) {
		const struct sandbox_syscall *sc = &sandbox_syscalls[i];

		assert_non_null(sc->name);
		nr = seccomp_syscall_resolve_name(sc->name);
		if (sc->nr >= 0) {
			if (nr != sc->nr)
				fail_msg("%s: table has %d, libseccomp %d",
				    sc->name, sc->nr, nr);
		} else {
			/* Some architecture must know it. */
			assert_int_equal(nr, __NR_SCMP_ERROR);
			assert_true(seccomp_syscall_resolve_name_arch(
			    SCMP_ARCH_X86_64, sc->name) >= 0 ||
			    seccomp_syscall_resolve_name_arch(
			    SCMP_ARCH_AARCH64, sc->name) >= 0);
		}
#ifdef __x86_64__
		if (sc->nr < 0)
			fail_msg("%s: not a system call on x86_64", sc->name);
#endif
		for (role = 0; role < ROLE_MAX; role++)
			assert_in_range(sc->answer[role], SB_KILL, SB_NOSYS);
		for (j = i + 1; j < sandbox_nsyscalls; j++)
			if (strcmp(sc->name, sandbox_syscalls[j].name) == 0)
				fail_msg("%s: two rows", sc->name);
	}
}

static unsigned char
answer(const char *name, enum berth_role role)
{
	size_t	 i;

	for (i = 0; i < sandbox_nsyscalls; i++)
		if (strcmp(sandbox_syscalls[i].name, name) == 0)
			return sandbox_syscalls[i].answer[role];
	return SB_KILL;
}

/* The promises DESIGN.md makes, read straight off the table. */
static void
test_tables_promises(void **state)
{
	int	 role;

	(void)state;
	for (role = 0; role < ROLE_MAX; role++) {
		assert_int_equal(answer("exit_group", role), SB_ALLOW);
		assert_int_equal(answer("read", role), SB_ALLOW);
		assert_int_equal(answer("ptrace", role), SB_KILL);
		assert_int_equal(answer("mount", role), SB_KILL);
		assert_int_equal(answer("setuid", role), SB_KILL);
		assert_int_equal(answer("unshare", role), SB_KILL);
		assert_int_equal(answer("clone3", role), SB_NOSYS);
		if (role == ROLE_BUILDER) {
			assert_int_equal(answer("execve", role), SB_ALLOW);
			assert_int_equal(answer("socket", role), SB_INET);
		} else {
			assert_int_equal(answer("execve", role), SB_KILL);
			assert_int_equal(answer("clone", role), SB_KILL);
			assert_int_equal(answer("mmap", role), SB_NOEXEC);
		}
	}
	assert_int_equal(answer("socket", ROLE_NETD), SB_INET);
	assert_int_equal(answer("socket", ROLE_RUNNER), SB_UNIX);
	assert_int_equal(answer("socket", ROLE_PARENT), SB_UNIX);
	assert_int_equal(answer("openat", ROLE_RUNNER), SB_DENY);
	assert_int_equal(answer("openat", ROLE_NETD), SB_DENY);
	assert_int_equal(answer("connect", ROLE_PARENT), SB_DENY);
}

/*
 * seccomp.
 */

static void
install_role(void *arg)
{
	enum berth_role	 role = *(enum berth_role *)arg;

	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(sandbox_seccomp(role) == 0);
	_exit(0);
}

static void
test_seccomp_installs(void **state)
{
	enum berth_role	 role;

	(void)state;
	for (role = 0; role < ROLE_MAX; role++)
		assert_child_ok(in_child(install_role, &role));
}

static void
netd_answers(void *arg)
{
	struct termios	 t;
	int		 s;

	(void)arg;
	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(sandbox_seccomp(ROLE_NETD) == 0);
	CHILD_CHECK((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	close(s);
	CHILD_CHECK((s = socket(AF_INET6, SOCK_DGRAM, 0)) != -1);
	close(s);
	CHILD_CHECK(socket(AF_UNIX, SOCK_STREAM, 0) == -1 && errno == EACCES);
	CHILD_CHECK(socket(AF_NETLINK, SOCK_RAW, 0) == -1 && errno == EACCES);
	CHILD_CHECK(socket(-1, SOCK_STREAM, 0) == -1 && errno == EACCES);
	CHILD_CHECK(socket(AF_MAX + 3, SOCK_STREAM, 0) == -1 &&
	    errno == EACCES);
	CHILD_CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
	CHILD_CHECK(syscall(SYS_clone3, NULL, 0) == -1 && errno == ENOSYS);
	CHILD_CHECK(tcgetattr(STDIN_FILENO, &t) == -1 && errno == ENOTTY);
	_exit(0);
}

static void
test_seccomp_answers_netd(void **state)
{
	(void)state;
	assert_child_ok(in_child(netd_answers, NULL));
}

static void
runner_answers(void *arg)
{
	int	 s;

	(void)arg;
	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(sandbox_seccomp(ROLE_RUNNER) == 0);
	CHILD_CHECK((s = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	close(s);
	CHILD_CHECK(socket(AF_INET, SOCK_STREAM, 0) == -1 && errno == EACCES);
	CHILD_CHECK(socket(AF_INET6, SOCK_STREAM, 0) == -1 && errno == EACCES);
	CHILD_CHECK(openat(AT_FDCWD, "/", O_RDONLY) == -1 && errno == EACCES);
	_exit(0);
}

static void
test_seccomp_answers_runner(void **state)
{
	(void)state;
	assert_child_ok(in_child(runner_answers, NULL));
}

static void
forbidden_exec(void *arg)
{
	char *const	 argv[] = { "true", NULL };
	enum berth_role	 role = *(enum berth_role *)arg;

	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(sandbox_seccomp(role) == 0);
	execve("/bin/true", argv, argv + 1);
	_exit(2);
}

static void
test_seccomp_kills_exec(void **state)
{
	enum berth_role	 roles[] = { ROLE_PARENT, ROLE_NETD, ROLE_RUNNER };
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		assert_true(killed_by_seccomp(in_child(forbidden_exec,
		    &roles[i])));
}

/*
 * Capabilities, no_new_privs, user.
 */

static void
drop_caps(void *arg)
{
	int	 bits;

	(void)arg;
	CHILD_CHECK(sandbox_drop_caps() == 0);
	CHILD_CHECK(status_is_zero("CapEff"));
	CHILD_CHECK(status_is_zero("CapPrm"));
	CHILD_CHECK(status_is_zero("CapInh"));
	CHILD_CHECK(status_is_zero("CapBnd"));
	CHILD_CHECK(status_is_zero("CapAmb"));
	bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
	CHILD_CHECK(bits != -1);
	CHILD_CHECK((bits & SECBIT_NOROOT) && (bits & SECBIT_NOROOT_LOCKED));
	/* Locked: cannot be undone, even by a process that is root. */
	CHILD_CHECK(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) == -1);
	/* Without CAP_SYS_ADMIN and friends. */
	CHILD_CHECK(sethostname("x", 1) == -1 && errno == EPERM);
	CHILD_CHECK(chroot("/") == -1 && errno == EPERM);
	_exit(0);
}

static void
test_drop_caps(void **state)
{
	(void)state;
	need_root();
	assert_child_ok(in_child(drop_caps, NULL));
}

static void
no_new_privs(void *arg)
{
	char	 value[16];

	(void)arg;
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
	self_status("NoNewPrivs", value, sizeof(value));
	CHILD_CHECK(strcmp(value, "1") == 0);
	_exit(0);
}

static void
test_no_new_privs(void **state)
{
	(void)state;
	assert_child_ok(in_child(no_new_privs, NULL));
}

static void
switch_user(void *arg)
{
	const struct passwd	*pw = arg;
	gid_t			 extra = TEST_EXTRA_GID, groups[256];
	uid_t			 ruid, euid, suid;
	gid_t			 rgid, egid, sgid;
	int			 n, i, found = 0;

	CHILD_CHECK(sandbox_switch_user(TEST_USER, &extra, 1) == 0);
	CHILD_CHECK(getresuid(&ruid, &euid, &suid) == 0);
	CHILD_CHECK(ruid == pw->pw_uid && euid == pw->pw_uid &&
	    suid == pw->pw_uid);
	CHILD_CHECK(getresgid(&rgid, &egid, &sgid) == 0);
	CHILD_CHECK(rgid == pw->pw_gid && egid == pw->pw_gid &&
	    sgid == pw->pw_gid);
	CHILD_CHECK((n = getgroups(256, groups)) > 0);
	for (i = 0; i < n; i++)
		if (groups[i] == TEST_EXTRA_GID)
			found = 1;
	CHILD_CHECK(found);
	CHILD_CHECK(setuid(0) == -1);
	CHILD_CHECK(status_is_zero("CapEff"));
	CHILD_CHECK(status_is_zero("CapPrm"));
	/* The switch emptied the bounding set while it still could. */
	CHILD_CHECK(status_is_zero("CapBnd"));
	CHILD_CHECK(sandbox_drop_caps() == 0);
	_exit(0);
}

static void
test_switch_user(void **state)
{
	struct passwd	*pw, copy;

	(void)state;
	need_root();
	if ((pw = getpwnam(TEST_USER)) == NULL) {
		print_message("no user %s (contrib/create-users.sh)\n",
		    TEST_USER);
		skip();
	}
	copy = *pw;
	assert_child_ok(in_child(switch_user, &copy));
}

static void
switch_user_refused(void *arg)
{
	(void)arg;
	CHILD_CHECK(sandbox_switch_user("no-such-berth-user", NULL, 0) == -1);
	CHILD_CHECK(sandbox_switch_user("root", NULL, 0) == -1);
	CHILD_CHECK(getuid() == 0);
	_exit(0);
}

static void
test_switch_user_refused(void **state)
{
	(void)state;
	need_root();
	assert_child_ok(in_child(switch_user_refused, NULL));
}

/*
 * Landlock.
 */

static void
landlock_child(void *arg)
{
	struct sandbox_report	 report;
	char			 allowed[PATH_MAX], outside[PATH_MAX];
	char			 file[PATH_MAX], path[PATH_MAX + 16];
	struct sandbox_path	 paths[3];
	int			 fd, abi = *(int *)arg;

	scratch_path(allowed, sizeof(allowed), "allowed");
	scratch_path(outside, sizeof(outside), "outside");
	scratch_path(file, sizeof(file), "readonly");
	paths[0].path = allowed;
	paths[0].access = SB_READ | SB_WRITE;
	paths[1].path = file;
	paths[1].access = SB_READ | SB_EXEC;
	paths[2].path = "/nonexistent/berth";	/* skipped */
	paths[2].access = SB_READ;

	CHILD_CHECK(sandbox_no_new_privs() == 0);
	CHILD_CHECK(sandbox_landlock(paths, 3, &report) == 0);
	CHILD_CHECK(report.landlock_abi == (abi < 6 ? abi : 6));
	CHILD_CHECK(report.landlock_full == (abi >= 6));

	(void)snprintf(path, sizeof(path), "%s/new", allowed);
	CHILD_CHECK((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	CHILD_CHECK(unlink(path) == 0);
	(void)snprintf(path, sizeof(path), "%s/new", outside);
	CHILD_CHECK(open(path, O_WRONLY | O_CREAT, 0600) == -1 &&
	    errno == EACCES);
	CHILD_CHECK((fd = open(file, O_RDONLY)) != -1);
	close(fd);
	CHILD_CHECK(open(file, O_WRONLY) == -1 && errno == EACCES);
	CHILD_CHECK(open(scratch, O_RDONLY | O_DIRECTORY) == -1 &&
	    errno == EACCES);
	CHILD_CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == EACCES);
	if (abi >= 6)	/* signal scope: not even root outside the domain */
		CHILD_CHECK(kill(getppid(), 0) == -1 && errno == EPERM);
	_exit(0);
}

static void
test_landlock(void **state)
{
	char	 path[PATH_MAX];
	int	 fd, abi;

	(void)state;
	if ((abi = kernel_landlock_abi()) == 0) {
		print_message("no Landlock in this kernel\n");
		skip();
	}
	scratch_path(path, sizeof(path), "allowed");
	assert_int_equal(mkdir(path, 0700), 0);
	scratch_path(path, sizeof(path), "outside");
	assert_int_equal(mkdir(path, 0700), 0);
	scratch_path(path, sizeof(path), "readonly");
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) != -1);
	close(fd);
	assert_child_ok(in_child(landlock_child, &abi));
}

/*
 * Namespaces and roots.
 */

static void
chroot_empty(void *arg)
{
	char		 dir[PATH_MAX];
	DIR		*d;
	struct dirent	*de;
	int		 entries = 0;

	(void)arg;
	scratch_path(dir, sizeof(dir), "writable");
	CHILD_CHECK(mkdir(dir, 0777) == 0 && chmod(dir, 0777) == 0);
	CHILD_CHECK(sandbox_chroot_empty(dir) == -1);

	scratch_path(dir, sizeof(dir), "empty");
	CHILD_CHECK(sandbox_chroot_empty(dir) == 0);
	CHILD_CHECK((d = opendir("/")) != NULL);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			entries++;
	closedir(d);
	CHILD_CHECK(entries == 0);
	_exit(0);
}

static void
test_chroot_empty(void **state)
{
	(void)state;
	need_root();
	assert_child_ok(in_child(chroot_empty, NULL));
}

static void
empty_root(void *arg)
{
	const char		*sock = arg;
	const char		*binds[1] = { sock };
	struct sockaddr_un	 sun;
	struct stat		 st;
	int			 s;

	CHILD_CHECK(sandbox_empty_root(binds, 1) == 0);
	CHILD_CHECK(stat("/etc", &st) == -1 && errno == ENOENT);
	CHILD_CHECK(stat("/proc/self", &st) == -1 && errno == ENOENT);
	CHILD_CHECK(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
	CHILD_CHECK(mkdir("/x", 0755) == -1 && errno == EROFS);
	/* A read-only bind of a socket still connects. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	CHILD_CHECK(strlcpy(sun.sun_path, sock, sizeof(sun.sun_path)) <
	    sizeof(sun.sun_path));
	CHILD_CHECK((s = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	CHILD_CHECK(connect(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	close(s);
	_exit(0);
}

static void
test_empty_root(void **state)
{
	struct sockaddr_un	 sun;
	char			 path[PATH_MAX];
	int			 s;

	(void)state;
	need_root();
	scratch_path(path, sizeof(path), "fake.sock");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) <
	    sizeof(sun.sun_path));
	assert_true((s = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(s, 8), 0);
	assert_child_ok(in_child(empty_root, path));
	close(s);
}

static void
netns_empty(void *arg)
{
	struct sockaddr_in	 sin;
	int			 s;

	(void)arg;
	CHILD_CHECK(sandbox_netns_empty() == 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(9);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHILD_CHECK((s = socket(AF_INET, SOCK_STREAM, 0)) != -1);
	/* Even the loopback is down in a fresh namespace. */
	CHILD_CHECK(connect(s, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno == ENETUNREACH);
	_exit(0);
}

static void
test_netns_empty(void **state)
{
	(void)state;
	need_root();
	assert_child_ok(in_child(netns_empty, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_resolve),
		cmocka_unit_test(test_tables_promises),
		cmocka_unit_test(test_seccomp_installs),
		cmocka_unit_test(test_seccomp_answers_netd),
		cmocka_unit_test(test_seccomp_answers_runner),
		cmocka_unit_test(test_seccomp_kills_exec),
		cmocka_unit_test(test_drop_caps),
		cmocka_unit_test(test_no_new_privs),
		cmocka_unit_test(test_switch_user),
		cmocka_unit_test(test_switch_user_refused),
		cmocka_unit_test(test_landlock),
		cmocka_unit_test(test_chroot_empty),
		cmocka_unit_test(test_empty_root),
		cmocka_unit_test(test_netns_empty),
	};

	log_init(1, 0, LOG_DAEMON);
	return cmocka_run_group_tests(tests, setup_scratch, teardown_scratch);
}
