/*
 * sandbox_policy.c: what each berth process may do once it is confined,
 * written as data, and sandbox_confine(), which applies a role's policy
 * in the one order DESIGN.md §10 fixes:
 *
 *	namespaces/chroot -> groups, gid, uid -> die with the parent ->
 *	capabilities -> no_new_privs -> Landlock -> seccomp
 *
 * In short:
 *	parent	 uid 0 without capabilities; its state dir, control dir and
 *		 configuration; read-only /proc and /sys; accepts on unix
 *		 sockets but connects to nothing; no fork, no exec.
 *	netd	 an empty read-only root and nothing of the file system;
 *		 TCP/UDP over IPv4 and IPv6; no unix sockets, no exec.
 *	builder	 the system's programs and libraries read-only, its
 *		 workspace read-write; forks and execs git; IPv4 and IPv6.
 *	runner	 an empty network namespace and an empty root holding only
 *		 the Docker socket; unix sockets only; opens nothing; no exec.
 *	build	 (a child of the builder, one per build) its own workspace,
 *	child	 the system's programs and a few named /etc files; TCP
 *		 connect to its repository's port only; rlimits.
 *
 * The mechanisms are in sandbox.c.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/prctl.h>

#include <linux/landlock.h>

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef BERTH_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

#include "berth.h"
#include "log.h"
#include "sandbox.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/*
 * seccomp: one row per system call, one column per role.  A role's
 * allowlist is its column; anything not in it is KILL, the default
 * action (SCMP_ACT_KILL_PROCESS; a trap that names the call in debug
 * builds).  The answers:
 *
 *	ALLOW	allowed
 *	KILL	not allowed: the process is killed
 *	NOEXEC	mmap/mprotect allowed without PROT_EXEC: no new code
 *	UNIX	socket domain AF_UNIX only, any other fails with EACCES
 *	INET	socket domains AF_INET and AF_INET6 only, others EACCES
 *	IOCTL	FIONREAD FIONBIO FIOCLEX FIONCLEX; isatty(), window size
 *		and file flags probes fail with ENOTTY; any other kills
 *	DENY	fails with EACCES: a probe we refuse without killing
 *	NOSYS	fails with ENOSYS: glibc then falls back to an older call
 *
 * Rows for calls this architecture lacks (open, fork, ... on arm64)
 * resolve to a negative number and are skipped.
 */
#define KILL	SB_KILL
#define ALLOW	SB_ALLOW
#define NOEXEC	SB_NOEXEC
#define UNIX	SB_UNIX
#define INET	SB_INET
#define IOCTL	SB_IOCTL
#define DENY	SB_DENY
#define NOSYS	SB_NOSYS

#define ROW(call, parent, netd, builder, runner)			\
	{ #call, SCMP_SYS(call), { [ROLE_PARENT] = (parent),		\
	    [ROLE_NETD] = (netd), [ROLE_BUILDER] = (builder),		\
	    [ROLE_RUNNER] = (runner) } }

const struct sandbox_syscall sandbox_syscalls[] = {
/*	    call		parent	netd	builder	runner */

	/* Memory.  Only the builder maps new code: it execs git. */
	ROW(brk,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(mmap,		NOEXEC,	NOEXEC,	ALLOW,	NOEXEC),
	ROW(mprotect,		NOEXEC,	NOEXEC,	ALLOW,	NOEXEC),
	ROW(munmap,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(mremap,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(madvise,		ALLOW,	ALLOW,	ALLOW,	ALLOW),

	/* Time.  timerfd: libevent's precise timers. */
	ROW(clock_gettime,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(clock_getres,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(gettimeofday,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(time,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(nanosleep,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(clock_nanosleep,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(timerfd_create,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(timerfd_settime,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(alarm,		KILL,	KILL,	ALLOW,	KILL),	/* git */
	ROW(setitimer,		KILL,	KILL,	ALLOW,	KILL),	/* git progress */

	/*
	 * Signals.  tgkill: abort() and raise() signal the caller itself.
	 * kill: the builder stops its git children; the parent's reach is
	 * its own Landlock domain (see landlock_scope_bits() in sandbox.c).
	 */
	ROW(rt_sigaction,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(rt_sigprocmask,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(rt_sigreturn,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(sigaltstack,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(restart_syscall,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(tgkill,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(kill,		ALLOW,	KILL,	ALLOW,	KILL),

	/* Who and where am I: read-only questions. */
	ROW(getpid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(gettid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getppid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getuid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(geteuid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getgid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getegid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getresuid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getresgid,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getgroups,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(uname,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(sysinfo,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getrlimit,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(prlimit64,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getrusage,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(sched_getaffinity,	ALLOW,	ALLOW,	ALLOW,	ALLOW),	/* CPU count */
	ROW(sched_yield,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getrandom,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(futex,		ALLOW,	ALLOW,	ALLOW,	ALLOW),

	/* Descriptors already held. */
	ROW(read,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(readv,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(pread64,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(write,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(writev,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(pwrite64,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(lseek,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(close,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(dup,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(dup2,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(dup3,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(fcntl,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(ioctl,		IOCTL,	IOCTL,	IOCTL,	IOCTL),
	ROW(fstat,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(newfstatat,		ALLOW,	ALLOW,	ALLOW,	ALLOW),	/* fstat() */
	ROW(pipe,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(pipe2,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(eventfd2,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(memfd_create,	ALLOW,	KILL,	KILL,	KILL),	/* bulk data */

	/* Waiting: libevent's epoll backend, poll in libcurl and git. */
	ROW(epoll_create,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(epoll_create1,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(epoll_ctl,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(epoll_wait,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(epoll_pwait,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(poll,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(ppoll,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(select,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(pselect6,		ALLOW,	ALLOW,	ALLOW,	ALLOW),

	/*
	 * Sockets.  The parent only accepts: with connect refused, uid 0
	 * cannot reach the Docker socket (Landlock cannot stop a unix
	 * connect before ABI 9).  sendmmsg: glibc's resolver, in git.
	 */
	ROW(socket,		UNIX,	INET,	INET,	UNIX),
	ROW(socketpair,		UNIX,	UNIX,	UNIX,	UNIX),
	ROW(connect,		DENY,	ALLOW,	ALLOW,	ALLOW),
	ROW(bind,		ALLOW,	ALLOW,	KILL,	KILL),
	ROW(listen,		ALLOW,	ALLOW,	KILL,	KILL),
	ROW(accept,		ALLOW,	ALLOW,	KILL,	KILL),
	ROW(accept4,		ALLOW,	ALLOW,	KILL,	KILL),
	ROW(getsockname,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getpeername,	ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(getsockopt,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(setsockopt,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(sendto,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(recvfrom,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(sendmsg,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(recvmsg,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(sendmmsg,		KILL,	KILL,	ALLOW,	KILL),
	ROW(recvmmsg,		KILL,	KILL,	ALLOW,	KILL),
	ROW(shutdown,		ALLOW,	ALLOW,	ALLOW,	ALLOW),

	/*
	 * The file system by name.  Landlock says where; these rows say
	 * whether at all.  netd and the runner open nothing once confined:
	 * a library that tries is told EACCES.
	 */
	ROW(open,		ALLOW,	DENY,	ALLOW,	DENY),
	ROW(openat,		ALLOW,	DENY,	ALLOW,	DENY),
	ROW(creat,		ALLOW,	DENY,	ALLOW,	DENY),
	ROW(access,		ALLOW,	DENY,	ALLOW,	DENY),
	ROW(faccessat,		ALLOW,	DENY,	ALLOW,	DENY),
	ROW(readlink,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(readlinkat,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(getdents64,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(getcwd,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(chdir,		KILL,	KILL,	ALLOW,	KILL),
	ROW(fchdir,		KILL,	KILL,	ALLOW,	KILL),
	ROW(mkdir,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(mkdirat,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(rmdir,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(unlink,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(unlinkat,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(rename,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(renameat,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(renameat2,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(link,		KILL,	KILL,	ALLOW,	KILL),
	ROW(linkat,		KILL,	KILL,	ALLOW,	KILL),
	ROW(symlink,		KILL,	KILL,	ALLOW,	KILL),
	ROW(symlinkat,		KILL,	KILL,	ALLOW,	KILL),
	ROW(chmod,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(fchmod,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(fchmodat,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(umask,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(utimensat,		KILL,	KILL,	ALLOW,	KILL),
	ROW(ftruncate,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(fsync,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(fdatasync,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(sync_file_range,	KILL,	KILL,	ALLOW,	KILL),
	ROW(flock,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(statfs,		ALLOW,	KILL,	ALLOW,	KILL),	/* disk headroom */
	ROW(fstatfs,		ALLOW,	KILL,	ALLOW,	KILL),
	/* libarchive reads extended attributes into the build context. */
	ROW(getxattr,		KILL,	KILL,	ALLOW,	KILL),
	ROW(lgetxattr,		KILL,	KILL,	ALLOW,	KILL),
	ROW(fgetxattr,		KILL,	KILL,	ALLOW,	KILL),
	ROW(listxattr,		KILL,	KILL,	ALLOW,	KILL),
	ROW(llistxattr,		KILL,	KILL,	ALLOW,	KILL),
	ROW(flistxattr,		KILL,	KILL,	ALLOW,	KILL),

	/*
	 * Processes.  Only the builder forks and execs (git, then a build
	 * child that narrows itself further: prctl, seccomp, Landlock).
	 * The parent reaps the children it started before it was confined.
	 */
	ROW(clone,		KILL,	KILL,	ALLOW,	KILL),
	ROW(fork,		KILL,	KILL,	ALLOW,	KILL),
	ROW(vfork,		KILL,	KILL,	ALLOW,	KILL),
	ROW(execve,		KILL,	KILL,	ALLOW,	KILL),
	ROW(execveat,		KILL,	KILL,	ALLOW,	KILL),
	ROW(wait4,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(waitid,		ALLOW,	KILL,	ALLOW,	KILL),
	ROW(exit,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(exit_group,		ALLOW,	ALLOW,	ALLOW,	ALLOW),
	ROW(setpgid,		KILL,	KILL,	ALLOW,	KILL),
	ROW(getpgid,		KILL,	KILL,	ALLOW,	KILL),
	ROW(getpgrp,		KILL,	KILL,	ALLOW,	KILL),
	ROW(setsid,		KILL,	KILL,	ALLOW,	KILL),
	ROW(setrlimit,		KILL,	KILL,	ALLOW,	KILL),
	ROW(set_robust_list,	KILL,	KILL,	ALLOW,	KILL),	/* new program */
	ROW(set_tid_address,	KILL,	KILL,	ALLOW,	KILL),
	ROW(arch_prctl,		KILL,	KILL,	ALLOW,	KILL),
	ROW(prctl,		KILL,	KILL,	ALLOW,	KILL),
	ROW(seccomp,		KILL,	KILL,	ALLOW,	KILL),
	ROW(landlock_create_ruleset, KILL, KILL, ALLOW,	KILL),
	ROW(landlock_add_rule,	KILL,	KILL,	ALLOW,	KILL),
	ROW(landlock_restrict_self, KILL, KILL,	ALLOW,	KILL),

	/* Newer calls glibc tries first; ENOSYS sends it to the old one. */
	ROW(clone3,		NOSYS,	NOSYS,	NOSYS,	NOSYS),
	ROW(rseq,		NOSYS,	NOSYS,	NOSYS,	NOSYS),
	ROW(statx,		NOSYS,	NOSYS,	NOSYS,	NOSYS),
	ROW(openat2,		NOSYS,	NOSYS,	NOSYS,	NOSYS),
	ROW(faccessat2,		NOSYS,	NOSYS,	NOSYS,	NOSYS),
	ROW(epoll_pwait2,	NOSYS,	NOSYS,	NOSYS,	NOSYS),
};
const size_t sandbox_nsyscalls = nitems(sandbox_syscalls);

#undef KILL
#undef ALLOW
#undef NOEXEC
#undef UNIX
#undef INET
#undef IOCTL
#undef DENY
#undef NOSYS

/*
 * Landlock: the whole of the file system a role may reach; everything
 * else is refused.  "$name" stands for a path from the configuration.
 * netd and the runner get no path at all (and an empty root as well).
 * A rule on a file holds that inode: a file later replaced by rename (an
 * editor's save, resolvconf) is refused until the process restarts.
 * Granting the directory instead would hand over /etc.
 */
static const struct sandbox_path parent_paths[] = {
	{ "$state_dir",		SB_READ | SB_WRITE },
	{ "$control_dir",	SB_READ | SB_WRITE },
	{ "$conf_path",		SB_READ },
	/* Re-read on SIGHUP: users for ids, resolver data for netd. */
	{ "/etc/passwd",	SB_READ },
	{ "/etc/group",		SB_READ },
	{ "/etc/resolv.conf",	SB_READ },
	{ "/etc/hosts",		SB_READ },
	{ "/proc",		SB_READ },	/* metrics, child status */
	{ "/sys",		SB_READ },	/* cgroup metrics */
};

/*
 * /etc is readable for glibc and git (resolver, CA certificates); its
 * secrets are protected by their modes, since the builder is not root.
 */
static const struct sandbox_path builder_paths[] = {
	{ "/usr",		SB_READ | SB_EXEC },
	{ "/bin",		SB_READ | SB_EXEC },
	{ "/sbin",		SB_READ | SB_EXEC },
	{ "/lib",		SB_READ | SB_EXEC },	/* the ELF loader */
	{ "/lib64",		SB_READ | SB_EXEC },
	{ "/etc",		SB_READ },
	{ "/dev/null",		SB_READ | SB_WRITE },
	{ "/dev/urandom",	SB_READ },
	{ "$workspace_root",	SB_READ | SB_WRITE },
};

/* What, besides the tables above, sets each child apart. */
struct role_policy {
	int			 netns;		/* empty network namespace */
	int			 empty_root;	/* mount ns, empty root */
	int			 docker_socket;	/* in that root; its group */
	const struct sandbox_path *paths;	/* Landlock */
	size_t			 npaths;
};

static const struct role_policy role_policies[ROLE_MAX] = {
	/*		  netns	root	docker	Landlock paths */
	[ROLE_PARENT] =	{ 0,	0,	0,	parent_paths,
	    nitems(parent_paths) },
	[ROLE_NETD] =	{ 0,	1,	0,	NULL,	0 },
	[ROLE_BUILDER] = { 0,	0,	0,	builder_paths,
	    nitems(builder_paths) },
	[ROLE_RUNNER] =	{ 1,	1,	1,	NULL,	0 },
};

#define PATHS_MAX	32

struct path_var {
	const char	*name;
	const char	*value;
};

/*
 * Copy a path table, replacing each "$name" by its value from vars.
 * Fatal if a "$name" has no value or names nothing on disk.
 */
static size_t
expand_paths(const struct role_policy *policy, const struct path_var *vars,
    size_t nvars, struct sandbox_path *out)
{
	size_t	 i, j;

	if (policy->npaths > PATHS_MAX)
		fatalx("%s: %zu paths, at most %d", __func__, policy->npaths,
		    PATHS_MAX);
	for (i = 0; i < policy->npaths; i++) {
		out[i] = policy->paths[i];
		if (out[i].path[0] != '$')
			continue;
		for (j = 0; j < nvars; j++)
			if (strcmp(out[i].path + 1, vars[j].name) == 0)
				break;
		if (j == nvars || vars[j].value == NULL ||
		    vars[j].value[0] == '\0')
			fatalx("%s: no path for %s", __func__, out[i].path);
		/* A system path may be absent; a configured one may not. */
		if (access(vars[j].value, F_OK) == -1)
			fatal("sandbox: %s %s", out[i].path + 1, vars[j].value);
		out[i].path = vars[j].value;
	}
	return policy->npaths;
}

/* A string field of a wire struct must end inside the field. */
static const char *
conf_string(const char *field, size_t size, const char *what)
{
	if (memchr(field, '\0', size) == NULL || field[0] == '\0')
		fatalx("sandbox: %s missing or not terminated", what);
	return field;
}

/*
 * Sanitizer builds: LeakSanitizer's check at exit needs ptrace, clone and
 * /proc, which no confined process keeps (it would die in the filter).
 * Run the check now, the last moment it can work; that also turns off
 * the one at exit, so leaks made after confinement go unreported there.
 * AddressSanitizer's error reports need nothing more: they come out
 * unsymbolized (module+offset) and the process aborts as usual.
 */
static void
sanitizer_before_confinement(void)
{
#ifdef BERTH_SANITIZE
	__lsan_do_leak_check();
#endif
}

/*
 * A child must not outlive the parent.  A uid switch clears the death
 * signal, so it is set after; a parent already gone by then is caught
 * by comparing with the parent we started under.  (Not by getppid() ==
 * 1: berthd may itself be pid 1, in a container.  A parent gone before
 * we looked shows as EOF on the channel.)
 */
static void
die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
		fatal("sandbox: PR_SET_PDEATHSIG");
	if (getppid() != parent)
		_exit(1);
}

static void
confine_last_steps(enum berth_role role, const struct sandbox_path *paths,
    size_t npaths, struct sandbox_report *report)
{
	if (sandbox_drop_caps() == -1)
		fatalx("sandbox: %s: cannot drop capabilities", role_name(role));
	if (sandbox_no_new_privs() == -1)
		fatalx("sandbox: %s: cannot set no_new_privs", role_name(role));
	if (sandbox_landlock(paths, npaths, report) == -1)
		fatalx("sandbox: %s: Landlock failed", role_name(role));
	if (sandbox_seccomp(role) == -1)
		fatalx("sandbox: %s: seccomp failed", role_name(role));
	report->seccomp = 1;
	log_debug("sandbox: %s confined: landlock ABI %d%s, seccomp, "
	    "netns %d, mntns %d", role_name(role), report->landlock_abi,
	    report->landlock_full ? "" : " (partial)", report->netns,
	    report->mntns);
}

void
sandbox_confine(enum berth_role role, const struct wire_proc_conf *conf,
    struct sandbox_report *report)
{
	const struct role_policy *policy;
	struct sandbox_path	 paths[PATHS_MAX];
	struct sandbox_user	 su;
	struct path_var		 vars[1];
	const char		*user, *docker_socket = NULL, *binds[1];
	struct stat		 st;
	gid_t			 extra_gids[1];
	size_t			 nextra = 0, nbinds = 0, npaths;
	pid_t			 parent = getppid();

	memset(report, 0, sizeof(*report));
	if (role == ROLE_PARENT || (unsigned int)role >= ROLE_MAX)
		fatalx("%s: no child policy for role %d", __func__, role);
	sanitizer_before_confinement();
	policy = &role_policies[role];
	user = conf_string(conf->user, sizeof(conf->user), "user");

	/* Everything this process will hold on disk is looked at first. */
	vars[0].name = "workspace_root";
	vars[0].value = NULL;
	if (memchr(conf->workspace_root, '\0',
	    sizeof(conf->workspace_root)) != NULL)
		vars[0].value = conf->workspace_root;
	npaths = expand_paths(policy, vars, nitems(vars), paths);

	if (policy->docker_socket) {
		docker_socket = conf_string(conf->docker_socket,
		    sizeof(conf->docker_socket), "docker socket");
		if (stat(docker_socket, &st) == -1)
			fatal("sandbox: docker socket %s", docker_socket);
		if (!S_ISSOCK(st.st_mode))
			fatalx("sandbox: %s: not a socket", docker_socket);
		/* Group root would be no narrower than running as root. */
		if (st.st_gid == 0)
			log_warnx("sandbox: %s belongs to group root; not "
			    "joining it, only its owner may connect",
			    docker_socket);
		else
			extra_gids[nextra++] = st.st_gid;
		binds[nbinds++] = docker_socket;
	}
	/* Before an empty root hides the user database. */
	if (sandbox_lookup_user(user, extra_gids, nextra, &su) == -1)
		fatalx("sandbox: %s: cannot run as %s", role_name(role), user);

	if (policy->netns) {
		if (sandbox_netns_empty() == -1)
			fatalx("sandbox: %s: no network namespace",
			    role_name(role));
		report->netns = 1;
	}
	if (policy->empty_root) {
		if (sandbox_empty_root(binds, nbinds) == -1)
			fatalx("sandbox: %s: no empty root", role_name(role));
		report->mntns = 1;
	}
	if (sandbox_become_user(&su) == -1)
		fatalx("sandbox: %s: cannot run as %s", role_name(role), user);
	die_with_parent(parent);
	confine_last_steps(role, paths, npaths, report);
}

void
sandbox_confine_parent(const char *state_dir, const char *control_dir,
    const char *conf_path, struct sandbox_report *report)
{
	struct sandbox_path	 paths[PATHS_MAX];
	struct path_var		 vars[3];
	size_t			 npaths;

	memset(report, 0, sizeof(*report));
	sanitizer_before_confinement();
	vars[0].name = "state_dir";
	vars[0].value = state_dir;
	vars[1].name = "control_dir";
	vars[1].value = control_dir;
	vars[2].name = "conf_path";
	vars[2].value = conf_path;
	npaths = expand_paths(&role_policies[ROLE_PARENT], vars, nitems(vars),
	    paths);
	confine_last_steps(ROLE_PARENT, paths, npaths, report);
}

/*
 * A build child runs git on an untrusted repository and walks the
 * checkout, so it keeps less than the builder: its own workspace rather
 * than the whole workspace root (other builds stay out of reach); the
 * few /etc files the loader, the resolver and TLS read rather than /etc
 * (so nothing of /etc/berth); nothing of /var/lib/berth or /run; TCP
 * connect to its repository's one port and no bind (Landlock ABI 4);
 * and rlimits, so that a runaway git or a hostile pack cannot spin, fill
 * the disk with one file or hoard descriptors.
 *
 * Its seccomp filter is the builder's column, inherited: git needs all
 * of it (fork, exec, INET sockets), and what it grants beyond that
 * (Landlock, seccomp, prctl, setrlimit) can only narrow a process.  A
 * caller that is not yet filtered (a test, a probe) gets the same filter
 * installed, and its capabilities dropped, here.
 */
static const struct sandbox_path build_child_paths[] = {
	{ "/usr",			SB_READ | SB_EXEC },
	{ "/bin",			SB_READ | SB_EXEC },
	{ "/lib",			SB_READ | SB_EXEC },	/* ELF loader */
	{ "/lib64",			SB_READ | SB_EXEC },
	{ "/etc/ld.so.cache",		SB_READ },
	{ "/etc/passwd",		SB_READ },	/* git's getpwuid */
	{ "/etc/group",			SB_READ },
	{ "/etc/nsswitch.conf",		SB_READ },	/* the resolver */
	{ "/etc/host.conf",		SB_READ },
	{ "/etc/hosts",			SB_READ },
	{ "/etc/resolv.conf",		SB_READ },
	{ "/etc/gai.conf",		SB_READ },
	{ "/etc/services",		SB_READ },
	{ "/etc/localtime",		SB_READ },
	{ "/etc/ssl/certs",		SB_READ },	/* https */
	{ "/etc/ssl/openssl.cnf",	SB_READ },
	{ "/etc/ssh/ssh_config",	SB_READ },	/* ssh, when allowed */
	{ "/etc/ssh/ssh_config.d",	SB_READ },
	{ "/etc/ssh/ssh_known_hosts",	SB_READ },
	{ "/dev/null",			SB_READ | SB_WRITE },
	{ "/dev/urandom",		SB_READ },
};

/* The table, the workspace and a repository fit the copy. */
_Static_assert(nitems(build_child_paths) + 2 <= PATHS_MAX,
    "build_child_paths too long");

/* Descriptors: the walk keeps one per directory level, git a few. */
#define BUILD_CHILD_NOFILE	256
/* A CPU limit ends in SIGXCPU at the soft value, SIGKILL this later. */
#define BUILD_CHILD_CPU_GRACE	5

/*
 * Landlock's network rules (ABI 4), spelled out: Debian 12's headers
 * stop at ABI 2.  sandbox_landlock() handles file systems only; the
 * build child is the one process with a network rule, so the few lines
 * live with its policy.
 */
#define LL_RULE_NET_PORT	2
#define LL_ACCESS_NET_BIND_TCP	(1ULL << 0)
#define LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)

struct ll_ruleset_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};

struct ll_net_port_attr {
	uint64_t	allowed_access;
	uint64_t	port;
};

/* Lower a limit, never raise it; the hard limit goes down with it. */
static void
build_child_rlimit(int resource, const char *name, rlim_t soft, rlim_t hard)
{
	struct rlimit	 rl;

	if (getrlimit(resource, &rl) == -1)
		fatal("sandbox: getrlimit %s", name);
	if (rl.rlim_max != RLIM_INFINITY && hard > rl.rlim_max)
		hard = rl.rlim_max;
	if (soft > hard)
		soft = hard;
	rl.rlim_cur = soft;
	rl.rlim_max = hard;
	if (setrlimit(resource, &rl) == -1)
		fatal("sandbox: setrlimit %s", name);
}

static void
build_child_rlimits(const struct sandbox_build *build)
{
	build_child_rlimit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
	build_child_rlimit(RLIMIT_NOFILE, "RLIMIT_NOFILE", BUILD_CHILD_NOFILE,
	    BUILD_CHILD_NOFILE);
	if (build->cpu_sec > 0)
		build_child_rlimit(RLIMIT_CPU, "RLIMIT_CPU", build->cpu_sec,
		    build->cpu_sec + BUILD_CHILD_CPU_GRACE);
	if (build->file_bytes > 0)
		build_child_rlimit(RLIMIT_FSIZE, "RLIMIT_FSIZE",
		    build->file_bytes, build->file_bytes);
}

/*
 * TCP: connect to port only (none if 0), bind nothing.  A kernel before
 * ABI 4 has no network rules; the builder's seccomp column still limits
 * the child to IPv4 and IPv6 sockets without bind or listen.
 */
static void
build_child_landlock_net(uint16_t port)
{
	struct ll_ruleset_attr	 attr;
	struct ll_net_port_attr	 rule;
	int			 abi, ruleset;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 4) {
		log_debug("sandbox: build child: no Landlock network rules "
		    "(ABI %d)", abi < 0 ? 0 : abi);
		return;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_net = LL_ACCESS_NET_BIND_TCP |
	    LL_ACCESS_NET_CONNECT_TCP;
	/* The struct size of ABI 4 and 5: no scope field in this layer. */
	ruleset = syscall(SYS_landlock_create_ruleset, &attr,
	    offsetof(struct ll_ruleset_attr, scoped), 0);
	if (ruleset == -1)
		fatal("sandbox: build child: landlock_create_ruleset (net)");
	if (port != 0) {
		memset(&rule, 0, sizeof(rule));
		rule.allowed_access = LL_ACCESS_NET_CONNECT_TCP;
		rule.port = port;
		if (syscall(SYS_landlock_add_rule, ruleset, LL_RULE_NET_PORT,
		    &rule, 0) == -1)
			fatal("sandbox: build child: landlock port %u",
			    (unsigned int)port);
	}
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) == -1)
		fatal("sandbox: build child: landlock_restrict_self (net)");
	close(ruleset);
}

void
sandbox_confine_build_child(const struct sandbox_build *build,
    struct sandbox_report *report)
{
	struct sandbox_path	 paths[PATHS_MAX];
	size_t			 npaths = 0, i;
	int			 filtered;

	memset(report, 0, sizeof(*report));
	if (build->workspace == NULL || build->workspace[0] != '/')
		fatalx("%s: no workspace", __func__);
	filtered = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 2;

	for (i = 0; i < nitems(build_child_paths); i++)
		paths[npaths++] = build_child_paths[i];
	paths[npaths].path = build->workspace;
	paths[npaths++].access = SB_READ | SB_WRITE;
	if (build->repository != NULL) {
		paths[npaths].path = build->repository;
		paths[npaths++].access = SB_READ;
	}

	build_child_rlimits(build);
	if (!filtered && sandbox_drop_caps() == -1)
		fatalx("sandbox: build child: cannot drop capabilities");
	if (sandbox_no_new_privs() == -1)
		fatalx("sandbox: build child: cannot set no_new_privs");
	if (sandbox_landlock(paths, npaths, report) == -1)
		fatalx("sandbox: build child: Landlock failed");
	build_child_landlock_net(build->git_port);
	if (!filtered && sandbox_seccomp(ROLE_BUILDER) == -1)
		fatalx("sandbox: build child: seccomp failed");
	report->seccomp = 1;
	log_debug("sandbox: build child confined to %s: landlock ABI %d%s, "
	    "git port %u", build->workspace, report->landlock_abi,
	    report->landlock_full ? "" : " (partial)",
	    (unsigned int)build->git_port);
}
