/*
 * berth-probe: the sandbox regress test, in the manner of OpenBSD's
 * regress/sys/kern/pledge.  For each row of the table below it forks a
 * child that confines itself with the real sandbox_confine() (or
 * sandbox_confine_parent()) for the row's role, pauses so that this
 * process can check /proc/PID/status from outside, then tries exactly
 * one operation and exits with 0 if it worked or with its errno.  The
 * outcome must match the row.  Most rows are things a role must be
 * refused; a few per role must succeed, so that a sandbox that simply
 * kills everything fails too.
 *
 * Rows marked build run in a build child: confined as the builder, then
 * narrowed by sandbox_confine_build_child() to one build's workspace.
 *
 * Needs root (it creates namespaces and switches users) and the users
 * contrib/create-users.sh makes; tests/probe/run-probes arranges both.
 */
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/ioctl.h>

#include <linux/landlock.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "berth.h"
#include "log.h"
#include "sandbox.h"

/* A debug build traps a forbidden call and exits with this (sandbox.c). */
#define SECCOMP_TRAP_EXIT	159
/* Landlock ABI sandbox.c enforces at most. */
#define LANDLOCK_ABI_KNOWN	6

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

/* What the rows work on, set up by this process before any child runs. */
static struct probe_env {
	const char	*user[ROLE_MAX];
	const char	*docker_group;
	char		 dir[64];		/* scratch, 0755 */
	char		 docker_socket[BERTH_PATH_LEN];
	char		 workspace[BERTH_PATH_LEN];
	char		 build_workspace[BERTH_PATH_LEN];	/* a build's */
	const char	*active_workspace;	/* the row's, in the child */
	char		 state_dir[BERTH_PATH_LEN];	/* the parent's */
	char		 control_dir[BERTH_PATH_LEN];
	char		 conf_path[BERTH_PATH_LEN];
	char		 other_state[BERTH_PATH_LEN];	/* like /var/lib/berth */
	char		 outside_file[BERTH_PATH_LEN];
	char		 abstract[64];		/* without the leading NUL */
	struct sockaddr_in tcp;			/* a listener on 127.0.0.1 */
	struct sockaddr_in git_tcp;		/* a build's repository port */
	int		 listeners[4];
	int		 kernel_abi;		/* Landlock, 0 none */
	int		 have_git;
} env;

/*
 * The operations.  Each returns 0 if it was done, else the errno.
 */

static int
open_errno(const char *path, int flags)
{
	int	 fd;

	if ((fd = open(path, flags | O_CLOEXEC, 0600)) == -1)
		return errno;
	close(fd);
	return 0;
}

static int
op_open_shadow(void)
{
	return open_errno("/etc/shadow", O_RDONLY);
}

static int
op_open_passwd(void)
{
	return open_errno("/etc/passwd", O_RDONLY);
}

static int
op_create_in_etc(void)
{
	int	 error;

	if ((error = open_errno("/etc/berth-probe", O_WRONLY | O_CREAT)) == 0)
		unlink("/etc/berth-probe");
	return error;
}

static int
op_create_outside(void)
{
	return open_errno(env.outside_file, O_WRONLY | O_CREAT);
}

static int
op_list_other_state(void)
{
	return open_errno(env.other_state, O_RDONLY | O_DIRECTORY);
}

static int
op_open_docker_socket(void)
{
	return open_errno(env.docker_socket, O_RDWR);
}

static int
op_stat_etc(void)
{
	struct stat	 st;

	return stat("/etc", &st) == -1 ? errno : 0;
}

static int
op_exec_true(void)
{
	char *const	 argv[] = { "true", NULL };
	char *const	 envp[] = { NULL };

	execve("/bin/true", argv, envp);
	return errno;
}

static int
op_fork(void)
{
	pid_t	 pid;

	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0)
		_exit(0);
	(void)waitpid(pid, NULL, 0);
	return 0;
}

static int
op_ptrace_prober(void)
{
	return ptrace(PTRACE_ATTACH, getppid(), NULL, NULL) == -1 ? errno : 0;
}

static int
op_mount_tmpfs(void)
{
	if (mount("tmpfs", "/", "tmpfs", 0, NULL) == -1)
		return errno;
	(void)umount2("/", MNT_DETACH);
	return 0;
}

static int
op_setuid_root(void)
{
	return setuid(0) == -1 ? errno : 0;
}

static int
op_unshare_user(void)
{
	return unshare(CLONE_NEWUSER) == -1 ? errno : 0;
}

static int
op_map_exec(void)
{
	void	*p;

	p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return errno;
	munmap(p, 4096);
	return 0;
}

static int
op_tiocsti(void)
{
	char	 c = '\n';

	return ioctl(STDIN_FILENO, TIOCSTI, &c) == -1 ? errno : 0;
}

static int
op_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0) == -1 ? errno : 0;
}

static int
op_signal_prober(void)
{
	return kill(getppid(), 0) == -1 ? errno : 0;
}

static int
socket_errno(int domain, int type)
{
	int	 s;

	if ((s = socket(domain, type | SOCK_CLOEXEC, 0)) == -1)
		return errno;
	close(s);
	return 0;
}

static int
op_socket_unix(void)
{
	return socket_errno(AF_UNIX, SOCK_STREAM);
}

static int
op_socket_inet(void)
{
	return socket_errno(AF_INET, SOCK_STREAM);
}

static int
op_socket_inet6(void)
{
	return socket_errno(AF_INET6, SOCK_STREAM);
}

static int
op_socket_udp(void)
{
	return socket_errno(AF_INET, SOCK_DGRAM);
}

static int
op_socket_netlink(void)
{
	return socket_errno(AF_NETLINK, SOCK_RAW);
}

static int
op_socket_packet(void)
{
	return socket_errno(AF_PACKET, SOCK_RAW);
}

static int
connect_errno(int domain, const struct sockaddr *sa, socklen_t len)
{
	int	 s, error = 0;

	if ((s = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return errno;
	if (connect(s, sa, len) == -1)
		error = errno;
	close(s);
	return error;
}

static int
op_connect_docker(void)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)strlcpy(sun.sun_path, env.docker_socket, sizeof(sun.sun_path));
	return connect_errno(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun));
}

static int
op_connect_abstract(void)
{
	struct sockaddr_un	 sun;
	size_t			 len = strlen(env.abstract);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, env.abstract, len);
	return connect_errno(AF_UNIX, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len));
}

static int
op_connect_tcp(void)
{
	return connect_errno(AF_INET, (struct sockaddr *)&env.tcp,
	    sizeof(env.tcp));
}

static int
op_write_workspace(void)
{
	char	 path[PATH_MAX];
	int	 fd, error = 0;

	(void)snprintf(path, sizeof(path), "%s/probe-file",
	    env.active_workspace);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return errno;
	if (write(fd, "probe\n", 6) != 6)
		error = errno;
	close(fd);
	return error;
}

static int
op_write_state(void)
{
	char	 path[PATH_MAX];
	int	 fd, error = 0;

	(void)snprintf(path, sizeof(path), "%s/journal.tmp", env.state_dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return errno;
	if (write(fd, "probe\n", 6) != 6 || fsync(fd) == -1)
		error = errno;
	close(fd);
	if (error == 0 && unlink(path) == -1)
		error = errno;
	return error;
}

static int
op_read_conf(void)
{
	return open_errno(env.conf_path, O_RDONLY);
}

static int
op_read_proc_status(void)
{
	return open_errno("/proc/self/status", O_RDONLY);
}

/* Run git with a fixed, small environment; 0 if it exited 0. */
static int
run_git(char *const argv[])
{
	char		 home[PATH_MAX + 8];
	char		*envp[] = { home, "PATH=/usr/bin:/bin",
			    "GIT_CONFIG_NOSYSTEM=1", "LC_ALL=C", NULL };
	pid_t		 pid;
	int		 status;

	(void)snprintf(home, sizeof(home), "HOME=%s", env.active_workspace);
	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		execve("/usr/bin/git", argv, envp);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	fprintf(stderr, "berth-probe: git %s: status %#x\n", argv[1], status);
	return EIO;
}

static int
op_git_clone(void)
{
	char	 src[PATH_MAX], url[PATH_MAX + 8], dst[PATH_MAX];
	int	 error;

	(void)snprintf(src, sizeof(src), "%s/src", env.active_workspace);
	(void)snprintf(url, sizeof(url), "file://%s", src);
	(void)snprintf(dst, sizeof(dst), "%s/dst", env.active_workspace);
	{
		char *const init[] = { "git", "init", "-q", src, NULL };
		char *const commit[] = { "git", "-C", src, "-c",
		    "user.name=probe", "-c", "user.email=probe@invalid",
		    "commit", "-q", "--allow-empty", "-m", "probe", NULL };
		char *const clone[] = { "git", "clone", "-q", url, dst, NULL };

		if ((error = run_git(init)) != 0 ||
		    (error = run_git(commit)) != 0 ||
		    (error = run_git(clone)) != 0)
			return error;
	}
	return 0;
}

/* What build.c does with a finished build's workspace. */
static int
op_rm_workspace(void)
{
	static const char *const tree[] = { "", "/src", "/src/deep" };
	char		 top[PATH_MAX], path[PATH_MAX + 32];
	char *const	 envp[] = { NULL };
	struct stat	 st;
	size_t		 i;
	pid_t		 pid;
	int		 status, error;

	(void)snprintf(top, sizeof(top), "%s/b.rm", env.active_workspace);
	for (i = 0; i < nitems(tree); i++) {
		(void)snprintf(path, sizeof(path), "%s%s", top, tree[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return errno;
	}
	(void)snprintf(path, sizeof(path), "%s/src/deep/file", top);
	if ((error = open_errno(path, O_WRONLY | O_CREAT)) != 0)
		return error;
	if ((pid = fork()) == -1)
		return errno;
	if (pid == 0) {
		char *const argv[] = { "rm", "-rf", "--one-file-system", "--",
		    top, NULL };

		execve("/bin/rm", argv, envp);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) == -1)
		return errno;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return EIO;
	return lstat(top, &st) == -1 && errno == ENOENT ? 0 : EEXIST;
}

static int
op_list_etc(void)
{
	return open_errno("/etc", O_RDONLY | O_DIRECTORY);
}

/* In the builder's workspace root, beside a build's own workspace. */
static int
op_create_beside_workspace(void)
{
	char	 path[PATH_MAX];
	int	 error;

	(void)snprintf(path, sizeof(path), "%s/beside", env.workspace);
	if ((error = open_errno(path, O_WRONLY | O_CREAT)) == 0)
		unlink(path);
	return error;
}

static int
op_connect_git_port(void)
{
	return connect_errno(AF_INET, (struct sockaddr *)&env.git_tcp,
	    sizeof(env.git_tcp));
}

/*
 * The table.  expect is "OK", an errno name, "SIGSYS" (killed by the
 * seccomp filter), or alternatives separated by '|'.  A row that rests
 * on a Landlock feature names the ABI that brought it.
 */
struct probe {
	enum berth_role	 role;
	const char	*what;
	int		(*op)(void);
	const char	*expect;
	int		 min_abi;
	int		 build_child;	/* a builder's child, narrower */
};

#define PROBE(role, what, op, expect)				\
	{ ROLE_##role, what, op, expect, 0, 0 }
#define PROBE_ABI(role, what, op, expect, abi)			\
	{ ROLE_##role, what, op, expect, abi, 0 }
/* A build child: the builder, then sandbox_confine_build_child(). */
#define PROBE_BUILD(what, op, expect, abi)			\
	{ ROLE_BUILDER, what, op, expect, abi, 1 }

static const struct probe probes[] = {
	/* netd: the network, and nothing else. */
	PROBE(NETD,	"open /etc/shadow",		op_open_shadow,	"EACCES"),
	PROBE(NETD,	"open /etc/passwd",		op_open_passwd,	"EACCES"),
	PROBE(NETD,	"stat /etc (empty root)",	op_stat_etc,	"ENOENT"),
	PROBE(NETD,	"execve /bin/true",		op_exec_true,	"SIGSYS"),
	PROBE(NETD,	"fork",				op_fork,	"SIGSYS"),
	PROBE(NETD,	"ptrace the prober",		op_ptrace_prober, "SIGSYS"),
	PROBE(NETD,	"setuid(0)",			op_setuid_root,	"SIGSYS"),
	PROBE(NETD,	"unshare a user namespace",	op_unshare_user, "SIGSYS"),
	PROBE(NETD,	"mount tmpfs",			op_mount_tmpfs,	"SIGSYS"),
	PROBE(NETD,	"map executable memory",	op_map_exec,	"SIGSYS"),
	PROBE(NETD,	"ioctl TIOCSTI",		op_tiocsti,	"SIGSYS"),
	PROBE(NETD,	"socket AF_UNIX",		op_socket_unix,	"EACCES"),
	PROBE(NETD,	"connect the docker socket",	op_connect_docker, "EACCES"),
	PROBE(NETD,	"connect an abstract socket",	op_connect_abstract, "EACCES"),
	PROBE(NETD,	"socket AF_NETLINK",		op_socket_netlink, "EACCES"),
	PROBE(NETD,	"socket AF_PACKET",		op_socket_packet, "EACCES"),
	PROBE(NETD,	"clone3 (glibc falls back)",	op_clone3,	"ENOSYS"),
	PROBE(NETD,	"socket AF_INET6 (control)",	op_socket_inet6, "OK"),
	PROBE(NETD,	"socket AF_INET UDP (control)",	op_socket_udp,	"OK"),
	PROBE(NETD,	"connect 127.0.0.1 (control)",	op_connect_tcp,	"OK"),

	/* builder: system files read-only, its workspace, git. */
	PROBE(BUILDER,	"open /etc/shadow",		op_open_shadow,	"EACCES"),
	PROBE(BUILDER,	"create a file in /etc",	op_create_in_etc, "EACCES"),
	PROBE(BUILDER,	"create a file outside the workspace", op_create_outside, "EACCES"),
	PROBE(BUILDER,	"list a state dir (/var/lib/berth)", op_list_other_state, "EACCES"),
	PROBE(BUILDER,	"open the docker socket",	op_open_docker_socket, "EACCES"),
	PROBE(BUILDER,	"connect the docker socket",	op_connect_docker, "EACCES"),
	PROBE(BUILDER,	"connect an abstract socket",	op_connect_abstract, "EACCES"),
	PROBE(BUILDER,	"ptrace the prober",		op_ptrace_prober, "SIGSYS"),
	PROBE(BUILDER,	"setuid(0)",			op_setuid_root,	"SIGSYS"),
	PROBE(BUILDER,	"mount tmpfs",			op_mount_tmpfs,	"SIGSYS"),
	PROBE(BUILDER,	"unshare a user namespace",	op_unshare_user, "SIGSYS"),
	PROBE(BUILDER,	"signal the prober",		op_signal_prober, "EPERM"),
	PROBE(BUILDER,	"write in the workspace (control)", op_write_workspace, "OK"),
	PROBE(BUILDER,	"execve /bin/true (control)",	op_exec_true,	"OK"),
	PROBE(BUILDER,	"git init, commit, clone (control)", op_git_clone, "OK"),
	PROBE(BUILDER,	"rm -rf a workspace (control)",	op_rm_workspace, "OK"),
	PROBE(BUILDER,	"socket AF_INET (control)",	op_socket_inet,	"OK"),

	/*
	 * A build child: its own workspace, named /etc files, the TCP port
	 * of its repository (env.git_tcp), nothing of the builder's.
	 */
	PROBE_BUILD("list a state dir (/var/lib/berth)", op_list_other_state, "EACCES", 0),
	PROBE_BUILD("open the docker socket",		op_open_docker_socket, "EACCES", 0),
	PROBE_BUILD("connect the docker socket",	op_connect_docker, "EACCES", 0),
	PROBE_BUILD("list /etc (named files only)",	op_list_etc,	"EACCES", 0),
	PROBE_BUILD("open /etc/shadow",			op_open_shadow,	"EACCES", 0),
	PROBE_BUILD("create a file beside its workspace", op_create_beside_workspace, "EACCES", 0),
	PROBE_BUILD("create a file outside the workspace", op_create_outside, "EACCES", 0),
	PROBE_BUILD("connect a port not its repository's", op_connect_tcp, "EACCES", 4),
	PROBE_BUILD("signal the prober",		op_signal_prober, "EPERM", 0),
	PROBE_BUILD("write in its workspace (control)", op_write_workspace, "OK", 0),
	PROBE_BUILD("read /etc/passwd (control)",	op_open_passwd,	"OK", 0),
	PROBE_BUILD("connect its repository's port (control)", op_connect_git_port, "OK", 0),
	PROBE_BUILD("git init, commit, clone (control)", op_git_clone, "OK", 0),

	/* runner: the Docker socket and nothing else. */
	PROBE(RUNNER,	"open /etc/passwd",		op_open_passwd,	"EACCES"),
	PROBE(RUNNER,	"stat /etc (empty root)",	op_stat_etc,	"ENOENT"),
	PROBE(RUNNER,	"socket AF_INET",		op_socket_inet,	"EACCES"),
	PROBE(RUNNER,	"socket AF_INET6",		op_socket_inet6, "EACCES"),
	PROBE(RUNNER,	"socket AF_INET UDP",		op_socket_udp,	"EACCES"),
	PROBE(RUNNER,	"socket AF_NETLINK",		op_socket_netlink, "EACCES"),
	PROBE(RUNNER,	"connect an abstract socket",	op_connect_abstract, "ECONNREFUSED|EPERM"),
	PROBE(RUNNER,	"execve /bin/true",		op_exec_true,	"SIGSYS"),
	PROBE(RUNNER,	"fork",				op_fork,	"SIGSYS"),
	PROBE(RUNNER,	"ptrace the prober",		op_ptrace_prober, "SIGSYS"),
	PROBE(RUNNER,	"setuid(0)",			op_setuid_root,	"SIGSYS"),
	PROBE(RUNNER,	"mount tmpfs",			op_mount_tmpfs,	"SIGSYS"),
	PROBE(RUNNER,	"map executable memory",	op_map_exec,	"SIGSYS"),
	PROBE(RUNNER,	"connect the docker socket (control)", op_connect_docker, "OK"),

	/* parent: uid 0 without capabilities, its own dirs, no exec. */
	PROBE(PARENT,	"open /etc/shadow",		op_open_shadow,	"EACCES"),
	PROBE(PARENT,	"create a file in /etc",	op_create_in_etc, "EACCES"),
	PROBE(PARENT,	"execve /bin/true",		op_exec_true,	"SIGSYS"),
	PROBE(PARENT,	"fork",				op_fork,	"SIGSYS"),
	PROBE(PARENT,	"mount tmpfs",			op_mount_tmpfs,	"SIGSYS"),
	PROBE(PARENT,	"setuid(0)",			op_setuid_root,	"SIGSYS"),
	PROBE(PARENT,	"ptrace the prober",		op_ptrace_prober, "SIGSYS"),
	PROBE(PARENT,	"map executable memory",	op_map_exec,	"SIGSYS"),
	PROBE(PARENT,	"socket AF_INET",		op_socket_inet,	"EACCES"),
	PROBE(PARENT,	"connect the docker socket",	op_connect_docker, "EACCES"),
	PROBE_ABI(PARENT, "signal the prober (uid 0 too)", op_signal_prober, "EPERM", 6),
	PROBE(PARENT,	"write in the state dir (control)", op_write_state, "OK"),
	PROBE(PARENT,	"read the configuration (control)", op_read_conf, "OK"),
	PROBE(PARENT,	"read /proc/self/status (control)", op_read_proc_status, "OK"),
	PROBE(PARENT,	"socket AF_UNIX (control)",	op_socket_unix,	"OK"),
};

/*
 * Setting up.
 */

static void
scratch_path(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", env.dir, name) >= size)
		fatalx("path too long: %s/%s", env.dir, name);
}

static int
listen_unix(const struct sockaddr_un *sun, socklen_t len)
{
	int	 s;

	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (bind(s, (const struct sockaddr *)sun, len) == -1)
		fatal("bind unix socket");
	if (listen(s, 128) == -1)
		fatal("listen");
	return s;
}

static void
setup(void)
{
	struct sockaddr_un	 sun;
	struct passwd		*pw;
	struct group		*gr;
	socklen_t		 len;
	int			 s, fd;

	(void)strlcpy(env.dir, "/tmp/berth-probe.XXXXXX", sizeof(env.dir));
	if (mkdtemp(env.dir) == NULL)
		fatal("mkdtemp");
	if (chmod(env.dir, 0755) == -1)
		fatal("chmod %s", env.dir);

	/* A fake Docker socket, root:group 0660 as dockerd makes it. */
	if (env.docker_socket[0] == '\0') {
		if ((gr = getgrnam(env.docker_group)) == NULL)
			fatalx("no group %s (run-probes creates it)",
			    env.docker_group);
		scratch_path(env.docker_socket, sizeof(env.docker_socket),
		    "docker.sock");
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlcpy(sun.sun_path, env.docker_socket,
		    sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
			fatalx("%s: too long for a socket", env.docker_socket);
		env.listeners[0] = listen_unix(&sun, sizeof(sun));
		if (chown(env.docker_socket, 0, gr->gr_gid) == -1 ||
		    chmod(env.docker_socket, 0660) == -1)
			fatal("chown/chmod %s", env.docker_socket);
	}

	/* An abstract socket, reachable by name from any process here. */
	(void)snprintf(env.abstract, sizeof(env.abstract), "berth-probe.%ld",
	    (long)getpid());
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path + 1, env.abstract, strlen(env.abstract));
	env.listeners[1] = listen_unix(&sun, (socklen_t)(offsetof(struct
	    sockaddr_un, sun_path) + 1 + strlen(env.abstract)));

	/* A TCP listener on the loopback. */
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	memset(&env.tcp, 0, sizeof(env.tcp));
	env.tcp.sin_family = AF_INET;
	env.tcp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof(env.tcp);
	if (bind(s, (struct sockaddr *)&env.tcp, len) == -1 ||
	    listen(s, 128) == -1 ||
	    getsockname(s, (struct sockaddr *)&env.tcp, &len) == -1)
		fatal("tcp listener");
	env.listeners[2] = s;

	/* Another, standing for a build's git remote. */
	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	memset(&env.git_tcp, 0, sizeof(env.git_tcp));
	env.git_tcp.sin_family = AF_INET;
	env.git_tcp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = sizeof(env.git_tcp);
	if (bind(s, (struct sockaddr *)&env.git_tcp, len) == -1 ||
	    listen(s, 128) == -1 ||
	    getsockname(s, (struct sockaddr *)&env.git_tcp, &len) == -1)
		fatal("tcp listener");
	env.listeners[3] = s;

	/* The builder's workspace, its own. */
	if (env.workspace[0] == '\0') {
		scratch_path(env.workspace, sizeof(env.workspace),
		    "workspace");
		if ((pw = getpwnam(env.user[ROLE_BUILDER])) == NULL)
			fatalx("no user %s", env.user[ROLE_BUILDER]);
		if (mkdir(env.workspace, 0700) == -1 ||
		    chown(env.workspace, pw->pw_uid, pw->pw_gid) == -1)
			fatal("%s", env.workspace);
	}

	/* One build's workspace inside it, as build.c makes them. */
	if ((size_t)snprintf(env.build_workspace, sizeof(env.build_workspace),
	    "%s/b.probe", env.workspace) >= sizeof(env.build_workspace))
		fatalx("workspace path too long");
	if ((pw = getpwnam(env.user[ROLE_BUILDER])) == NULL)
		fatalx("no user %s", env.user[ROLE_BUILDER]);
	if ((mkdir(env.build_workspace, 0700) == -1 && errno != EEXIST) ||
	    chown(env.build_workspace, pw->pw_uid, pw->pw_gid) == -1)
		fatal("%s", env.build_workspace);

	/* The parent's directories, and another like /var/lib/berth. */
	scratch_path(env.state_dir, sizeof(env.state_dir), "state");
	scratch_path(env.control_dir, sizeof(env.control_dir), "control");
	scratch_path(env.other_state, sizeof(env.other_state), "var-lib-berth");
	scratch_path(env.conf_path, sizeof(env.conf_path), "berth.conf");
	scratch_path(env.outside_file, sizeof(env.outside_file), "outside");
	if (mkdir(env.state_dir, 0700) == -1 ||
	    mkdir(env.control_dir, 0700) == -1 ||
	    mkdir(env.other_state, 0755) == -1)
		fatal("mkdir in %s", env.dir);
	if ((fd = open(env.conf_path, O_WRONLY | O_CREAT | O_CLOEXEC,
	    0600)) == -1)
		fatal("%s", env.conf_path);
	(void)!write(fd, "# berth-probe\n", 14);
	close(fd);

	env.kernel_abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (env.kernel_abi < 0)
		env.kernel_abi = 0;
	env.have_git = access("/usr/bin/git", X_OK) == 0;
}

static int
remove_entry(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) == -1 ? -1 : 0;
	return unlink(path) == -1 ? -1 : 0;
}

static void
teardown(void)
{
	size_t	 i;

	for (i = 0; i < nitems(env.listeners); i++)
		if (env.listeners[i] > 0)
			close(env.listeners[i]);
	if (env.dir[0] != '\0' &&
	    nftw(env.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == -1)
		log_warn("remove %s", env.dir);
}

/*
 * Checking a confined child from outside: its /proc status must show
 * the filter, no_new_privs, no capabilities and the role's user.
 */

static int
status_field(const char *status, const char *key, char *value, size_t size)
{
	const char	*p, *end;
	size_t		 keylen = strlen(key);

	for (p = status; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, keylen) == 0 && p[keylen] == ':') {
			p += keylen + 1;
			p += strspn(p, " \t");
			end = strchr(p, '\n');
			if (end == NULL)
				end = p + strlen(p);
			if ((size_t)(end - p) >= size)
				return -1;
			memcpy(value, p, (size_t)(end - p));
			value[end - p] = '\0';
			return 0;
		}
	}
	return -1;
}

static int
check_status(pid_t pid, enum berth_role role, char *why, size_t size)
{
	static const char *const zero_keys[] = {
		"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
	};
	char		 path[64], status[8192], value[256], want[128];
	struct passwd	*pw;
	struct stat	 st;
	ssize_t		 n;
	size_t		 i;
	uid_t		 uid = 0;
	int		 fd;

	(void)snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		(void)snprintf(why, size, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	if (n <= 0) {
		(void)snprintf(why, size, "%s: short read", path);
		return -1;
	}
	status[n] = '\0';

	if (status_field(status, "NoNewPrivs", value, sizeof(value)) == -1 ||
	    strcmp(value, "1") != 0) {
		(void)snprintf(why, size, "NoNewPrivs not 1");
		return -1;
	}
	if (status_field(status, "Seccomp", value, sizeof(value)) == -1 ||
	    strcmp(value, "2") != 0) {
		(void)snprintf(why, size, "Seccomp not 2 (filter)");
		return -1;
	}
	for (i = 0; i < nitems(zero_keys); i++) {
		if (status_field(status, zero_keys[i], value,
		    sizeof(value)) == -1 ||
		    strspn(value, "0") != strlen(value)) {
			(void)snprintf(why, size, "%s not empty", zero_keys[i]);
			return -1;
		}
	}
	if (role != ROLE_PARENT) {
		if ((pw = getpwnam(env.user[role])) == NULL) {
			(void)snprintf(why, size, "no user %s", env.user[role]);
			return -1;
		}
		uid = pw->pw_uid;
	}
	(void)snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)uid,
	    (unsigned)uid, (unsigned)uid, (unsigned)uid);
	if (status_field(status, "Uid", value, sizeof(value)) == -1 ||
	    strcmp(value, want) != 0) {
		(void)snprintf(why, size, "Uid %s, want %s", value, want);
		return -1;
	}
	/* The runner is in the socket's group, by supplementary gid. */
	if (role == ROLE_RUNNER && stat(env.docker_socket, &st) == 0 &&
	    st.st_gid != 0) {
		(void)snprintf(want, sizeof(want), "%u", (unsigned)st.st_gid);
		if (status_field(status, "Groups", value, sizeof(value)) == -1 ||
		    strstr(value, want) == NULL) {
			(void)snprintf(why, size, "Groups %s lacks %s", value,
			    want);
			return -1;
		}
	}
	return 0;
}

/* What the child's own report must say for its role. */
static int
check_report(enum berth_role role, const struct sandbox_report *report,
    char *why, size_t size)
{
	int	 want_abi;

	want_abi = env.kernel_abi < LANDLOCK_ABI_KNOWN ? env.kernel_abi :
	    LANDLOCK_ABI_KNOWN;
	if (!report->seccomp) {
		(void)snprintf(why, size, "report: no seccomp");
		return -1;
	}
	if (report->landlock_abi != want_abi) {
		(void)snprintf(why, size, "report: Landlock ABI %d, want %d",
		    report->landlock_abi, want_abi);
		return -1;
	}
	if (report->netns != (role == ROLE_RUNNER) ||
	    report->mntns != (role == ROLE_RUNNER || role == ROLE_NETD)) {
		(void)snprintf(why, size, "report: netns %d mntns %d",
		    report->netns, report->mntns);
		return -1;
	}
	return 0;
}

/*
 * One row: fork, confine, pause for the status check, try, report.
 */

static void
child(const struct probe *p, int ready, int go)
{
	struct wire_proc_conf	 conf;
	struct sandbox_report	 report;
	size_t			 i;
	char			 c;

	for (i = 0; i < nitems(env.listeners); i++)
		if (env.listeners[i] > 0)
			close(env.listeners[i]);
	/* A row that hangs is a failure, not a stuck test. */
	alarm(60);
	log_procinit(role_name(p->role));

	if (p->role == ROLE_PARENT)
		sandbox_confine_parent(env.state_dir, env.control_dir,
		    env.conf_path, &report);
	else {
		memset(&conf, 0, sizeof(conf));
		conf.role = p->role;
		conf.foreground = 1;
		(void)strlcpy(conf.user, env.user[p->role], sizeof(conf.user));
		(void)strlcpy(conf.docker_socket, env.docker_socket,
		    sizeof(conf.docker_socket));
		(void)strlcpy(conf.workspace_root, env.workspace,
		    sizeof(conf.workspace_root));
		sandbox_confine(p->role, &conf, &report);
	}
	env.active_workspace = env.workspace;
	if (p->build_child) {
		struct sandbox_build	 sb;

		memset(&sb, 0, sizeof(sb));
		sb.workspace = env.build_workspace;
		sb.git_port = ntohs(env.git_tcp.sin_port);
		sb.cpu_sec = 60;
		sb.file_bytes = 1 << 20;
		sandbox_confine_build_child(&sb, &report);
		env.active_workspace = env.build_workspace;
	}

	if (write(ready, &report, sizeof(report)) != sizeof(report) ||
	    read(go, &c, 1) != 1)
		_exit(126);
	close(ready);
	close(go);
	_exit(p->op());
}

static void
outcome(int status, char *got, size_t size)
{
	const char	*name;

	if (WIFSIGNALED(status))
		name = sigabbrev_np(WTERMSIG(status));
	else if (WEXITSTATUS(status) == 0)
		name = "OK";
	else if (WEXITSTATUS(status) == SECCOMP_TRAP_EXIT)
		name = "SIGSYS";
	else
		name = strerrorname_np(WEXITSTATUS(status));
	if (WIFSIGNALED(status))
		(void)snprintf(got, size, "SIG%s", name ? name : "?");
	else if (name != NULL)
		(void)snprintf(got, size, "%s", name);
	else
		(void)snprintf(got, size, "exit %d", WEXITSTATUS(status));
}

static int
expected(const char *expect, const char *got)
{
	const char	*p = expect, *bar;
	size_t		 len;

	for (;;) {
		bar = strchr(p, '|');
		len = bar ? (size_t)(bar - p) : strlen(p);
		if (strlen(got) == len && strncmp(p, got, len) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

static const char *
row_name(const struct probe *p)
{
	return p->build_child ? "build" : role_name(p->role);
}

/* Run one row; 0 if it passed or was skipped. */
static int
run_probe(const struct probe *p)
{
	struct sandbox_report	 report;
	char			 got[64], why[256] = "";
	int			 ready[2], go[2], status, bad = 0;
	ssize_t			 n;
	pid_t			 pid;

	if (env.kernel_abi < p->min_abi || (p->op == op_git_clone &&
	    !env.have_git)) {
		printf("%-8s %-40s %-18s %-18s SKIP\n", row_name(p),
		    p->what, p->expect, "-");
		return 0;
	}
	if (pipe2(ready, O_CLOEXEC) == -1 || pipe2(go, O_CLOEXEC) == -1)
		fatal("pipe2");
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		child(p, ready[1], go[0]);
	}
	close(ready[1]);
	close(go[0]);

	n = read(ready[0], &report, sizeof(report));
	if (n != sizeof(report)) {
		(void)snprintf(why, sizeof(why), "confinement failed");
		bad = 1;
	} else if (check_status(pid, p->role, why, sizeof(why)) == -1 ||
	    check_report(p->role, &report, why, sizeof(why)) == -1)
		bad = 1;
	(void)!write(go[1], "g", 1);
	close(ready[0]);
	close(go[1]);
	if (waitpid(pid, &status, 0) == -1)
		fatal("waitpid");

	if (n != sizeof(report) && WIFEXITED(status))
		(void)snprintf(got, sizeof(got), "exit %d",
		    WEXITSTATUS(status));
	else
		outcome(status, got, sizeof(got));
	if (!bad && !expected(p->expect, got))
		bad = 1;
	printf("%-8s %-40s %-18s %-18s %s%s%s\n", row_name(p), p->what,
	    p->expect, got, bad ? "FAIL" : "PASS", why[0] ? ": " : "", why);
	return bad;
}

static __attribute__((__noreturn__)) void
usage(void)
{
	fprintf(stderr, "usage: berth-probe [-v] [-b builder-user] "
	    "[-D docker-socket] [-g docker-group]\n"
	    "\t[-n netd-user] [-r runner-user] [-w workspace] "
	    "all | role ...\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	enum berth_role	 role;
	int		 ch, verbose = 0, failed = 0, ran = 0, want[ROLE_MAX];
	size_t		 i;
	int		 r;

	env.user[ROLE_NETD] = "_berth";
	env.user[ROLE_BUILDER] = "_berthbuild";
	env.user[ROLE_RUNNER] = "_berthrun";
	env.docker_group = "_berthprobe";
	while ((ch = getopt(argc, argv, "b:D:g:n:r:vw:")) != -1) {
		switch (ch) {
		case 'b':
			env.user[ROLE_BUILDER] = optarg;
			break;
		case 'D':
			if (strlcpy(env.docker_socket, optarg,
			    sizeof(env.docker_socket)) >=
			    sizeof(env.docker_socket))
				usage();
			break;
		case 'g':
			env.docker_group = optarg;
			break;
		case 'n':
			env.user[ROLE_NETD] = optarg;
			break;
		case 'r':
			env.user[ROLE_RUNNER] = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'w':
			if (strlcpy(env.workspace, optarg,
			    sizeof(env.workspace)) >= sizeof(env.workspace))
				usage();
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		usage();
	memset(want, 0, sizeof(want));
	for (; argc > 0; argc--, argv++) {
		if (strcmp(argv[0], "all") == 0) {
			for (r = 0; r < ROLE_MAX; r++)
				want[r] = 1;
		} else if (role_from_name(argv[0], &role) == 0)
			want[role] = 1;
		else
			usage();
	}

	log_init(1, verbose, LOG_DAEMON);
	log_procinit("berth-probe");
	if (geteuid() != 0)
		fatalx("must run as root: it builds the real sandboxes");
	/* A child that dies before reading "go" must not take us along. */
	signal(SIGPIPE, SIG_IGN);
	setup();

	printf("Landlock ABI of this kernel: %d (enforced up to %d)\n",
	    env.kernel_abi, LANDLOCK_ABI_KNOWN);
	printf("%-8s %-40s %-18s %-18s %s\n", "role", "operation", "expected",
	    "got", "result");
	for (i = 0; i < nitems(probes); i++) {
		if (!want[probes[i].role])
			continue;
		ran++;
		failed += run_probe(&probes[i]);
	}
	teardown();
	printf("%d of %d probes failed\n", failed, ran);
	return failed == 0 ? 0 : 1;
}
