/*
 * sandbox.c: the means by which a berth process narrows its privileges:
 * user switch, capabilities, no_new_privs, Landlock, seccomp, an empty
 * network namespace and an empty root.  Each function does one step and
 * checks that the step took; none decides what a process may do.  That
 * is policy, and lives in sandbox_policy.c as tables.
 */
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <linux/fs.h>
#include <linux/landlock.h>
#include <linux/securebits.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "berth.h"
#include "log.h"
#include "sandbox.h"

/*
 * Landlock access bits by ABI.  Debian 12's kernel headers stop at ABI 2,
 * so the later bits are spelled out here from the kernel's uapi header.
 */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL			(1ULL << 1)	/* ABI 6 */
#endif

/* The highest ABI this file knows; newer kernels are used at this level. */
#define LANDLOCK_ABI_KNOWN	6

#define LANDLOCK_FS_ABI1	(LANDLOCK_ACCESS_FS_EXECUTE |		\
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |	\
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |	\
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |	\
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |	\
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |	\
	LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* The only bits a rule on a file (not a directory) may carry. */
#define LANDLOCK_FS_FILE	(LANDLOCK_ACCESS_FS_EXECUTE |		\
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |	\
	LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* What SB_READ, SB_WRITE and SB_EXEC stand for.  No device nodes. */
#define LANDLOCK_FS_READ	(LANDLOCK_ACCESS_FS_READ_FILE |		\
	LANDLOCK_ACCESS_FS_READ_DIR)
#define LANDLOCK_FS_WRITE	(LANDLOCK_ACCESS_FS_WRITE_FILE |	\
	LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |\
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |	\
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |	\
	LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |	\
	LANDLOCK_ACCESS_FS_TRUNCATE)
#define LANDLOCK_FS_EXEC	LANDLOCK_ACCESS_FS_EXECUTE

/*
 * struct landlock_ruleset_attr as of ABI 6.  Older kernels accept the
 * larger struct as long as the fields they do not know are zero.
 */
struct landlock_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;	/* ABI 4; berth sets none */
	uint64_t	scoped;			/* ABI 6 */
};

/* Exit status of a process that made a forbidden call (debug builds). */
#define SECCOMP_TRAP_EXIT	159

static int	 drop_bounding_set(void);
static int	 have_effective_cap(cap_value_t);
static uint64_t	 landlock_fs_bits(int);
static uint64_t	 landlock_scope_bits(int);
static int	 landlock_add_path(int, const struct sandbox_path *,
		    uint64_t);
static struct scmp_arg_cmp arg_test(unsigned int, enum scmp_compare,
		    scmp_datum_t, scmp_datum_t);
static int	 seccomp_add(scmp_filter_ctx, const struct sandbox_syscall *,
		    int);
static int	 seccomp_add_domains(scmp_filter_ctx, int, const int *,
		    size_t);
static int	 seccomp_add_ioctls(scmp_filter_ctx, int);
static int	 mkdir_below(const char *, const char *, mode_t);

/*
 * User.
 */

int
sandbox_lookup_user(const char *user, const gid_t *extra_gids,
    size_t nextra, struct sandbox_user *su)
{
	struct passwd	 pw, *result;
	char		*buf = NULL;
	size_t		 buflen = 16384, i;
	int		 error, ngroups, j, found, ret = -1;

	memset(su, 0, sizeof(*su));
	for (;;) {
		if ((buf = malloc(buflen)) == NULL) {
			log_warn("%s: malloc", __func__);
			return -1;
		}
		error = getpwnam_r(user, &pw, buf, buflen, &result);
		if (error != ERANGE || buflen >= 1024 * 1024)
			break;
		free(buf);
		buflen *= 4;
	}
	if (error != 0 || result == NULL) {
		if (error != 0) {
			errno = error;
			log_warn("%s: user %s", __func__, user);
		} else
			log_warnx("%s: no such user %s", __func__, user);
		goto out;
	}
	if (pw.pw_uid == 0) {
		log_warnx("%s: refusing to run as %s: uid 0", __func__, user);
		goto out;
	}
	if (strlcpy(su->name, pw.pw_name, sizeof(su->name)) >=
	    sizeof(su->name)) {
		log_warnx("%s: user name %s too long", __func__, pw.pw_name);
		goto out;
	}
	su->uid = pw.pw_uid;
	su->gid = pw.pw_gid;

	/* The user's own groups, as initgroups(3) would set them. */
	ngroups = SANDBOX_GROUPS_MAX;
	if (getgrouplist(pw.pw_name, pw.pw_gid, su->groups, &ngroups) == -1) {
		log_warnx("%s: %s is in more than %d groups", __func__, user,
		    SANDBOX_GROUPS_MAX);
		goto out;
	}
	for (i = 0; i < nextra; i++) {
		for (found = 0, j = 0; j < ngroups; j++)
			if (su->groups[j] == extra_gids[i])
				found = 1;
		if (found)
			continue;
		if (ngroups == SANDBOX_GROUPS_MAX) {
			log_warnx("%s: too many groups for %s", __func__, user);
			goto out;
		}
		su->groups[ngroups++] = extra_gids[i];
	}
	su->ngroups = ngroups;
	ret = 0;
 out:
	free(buf);
	return ret;
}

int
sandbox_become_user(const struct sandbox_user *su)
{
	uid_t	 ruid, euid, suid;
	gid_t	 rgid, egid, sgid;

	if (su->uid == 0 || su->ngroups < 0 ||
	    su->ngroups > SANDBOX_GROUPS_MAX) {
		log_warnx("%s: bad user", __func__);
		return -1;
	}
	/*
	 * The bounding set can only be emptied while CAP_SETPCAP is still
	 * ours, which setresuid() below ends.
	 */
	if (drop_bounding_set() == -1)
		return -1;

	if (setgroups((size_t)su->ngroups, su->groups) == -1) {
		log_warn("%s: setgroups", __func__);
		return -1;
	}
	if (setresgid(su->gid, su->gid, su->gid) == -1) {
		log_warn("%s: setresgid %u", __func__, (unsigned)su->gid);
		return -1;
	}
	if (setresuid(su->uid, su->uid, su->uid) == -1) {
		log_warn("%s: setresuid %u", __func__, (unsigned)su->uid);
		return -1;
	}

	/* Trust, but verify: every id, and no way back. */
	if (getresgid(&rgid, &egid, &sgid) == -1 ||
	    rgid != su->gid || egid != su->gid || sgid != su->gid) {
		log_warnx("%s: gid did not change to %u", __func__,
		    (unsigned)su->gid);
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    ruid != su->uid || euid != su->uid || suid != su->uid) {
		log_warnx("%s: uid did not change to %u", __func__,
		    (unsigned)su->uid);
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		log_warnx("%s: could become root again", __func__);
		return -1;
	}
	log_debug("%s: now %s (uid %u gid %u, %d groups)", __func__,
	    su->name, (unsigned)su->uid, (unsigned)su->gid, su->ngroups);
	return 0;
}

int
sandbox_switch_user(const char *user, const gid_t *extra_gids,
    size_t nextra)
{
	struct sandbox_user	 su;

	if (sandbox_lookup_user(user, extra_gids, nextra, &su) == -1)
		return -1;
	return sandbox_become_user(&su);
}

/*
 * Capabilities.
 */

static int
have_effective_cap(cap_value_t cap)
{
	cap_t		 caps;
	cap_flag_value_t value = CAP_CLEAR;

	if ((caps = cap_get_proc()) == NULL)
		return 0;
	if (cap_get_flag(caps, cap, CAP_EFFECTIVE, &value) == -1)
		value = CAP_CLEAR;
	cap_free(caps);
	return value == CAP_SET;
}

/*
 * Empty the bounding set, which limits what an exec could ever grant.
 * Without CAP_SETPCAP (after a uid switch) only check that it is empty.
 */
static int
drop_bounding_set(void)
{
	int	 cap, can_drop;

	can_drop = have_effective_cap(CAP_SETPCAP);
	for (cap = 0; cap < 64; cap++) {
		/* EINVAL: a capability this kernel does not have. */
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) <= 0)
			continue;
		if (!can_drop) {
			log_warnx("%s: capability %d still bounded and "
			    "CAP_SETPCAP is gone", __func__, cap);
			return -1;
		}
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1 &&
		    errno != EINVAL) {
			log_warn("%s: PR_CAPBSET_DROP %d", __func__, cap);
			return -1;
		}
	}
	return 0;
}

int
sandbox_drop_caps(void)
{
	cap_t		 caps, empty;
	int		 cap, differ;
	unsigned long	 bits;

	/*
	 * The parent stays uid 0 with no capabilities: lock the bits that
	 * would hand them back on exec or through the ambient set.  Setting
	 * them takes CAP_SETPCAP; a child that already switched user has
	 * no capabilities left to regain and skips this.
	 */
	if (have_effective_cap(CAP_SETPCAP)) {
		bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
		    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
		    SECBIT_NO_CAP_AMBIENT_RAISE |
		    SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
		if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) == -1) {
			log_warn("%s: PR_SET_SECUREBITS", __func__);
			return -1;
		}
	}
	if (drop_bounding_set() == -1)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1) {
		log_warn("%s: PR_CAP_AMBIENT_CLEAR_ALL", __func__);
		return -1;
	}

	if ((empty = cap_init()) == NULL) {
		log_warn("%s: cap_init", __func__);
		return -1;
	}
	if (cap_set_proc(empty) == -1) {
		log_warn("%s: cap_set_proc", __func__);
		cap_free(empty);
		return -1;
	}
	if ((caps = cap_get_proc()) == NULL) {
		log_warn("%s: cap_get_proc", __func__);
		cap_free(empty);
		return -1;
	}
	differ = cap_compare(caps, empty);
	cap_free(caps);
	cap_free(empty);
	if (differ != 0) {
		log_warnx("%s: capabilities left after the drop", __func__);
		return -1;
	}
	for (cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap,
		    0, 0) > 0 || prctl(PR_CAPBSET_READ, cap, 0, 0, 0) > 0) {
			log_warnx("%s: capability %d left in the ambient or "
			    "bounding set", __func__, cap);
			return -1;
		}
	}
	return 0;
}

int
sandbox_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_warn("%s: PR_SET_NO_NEW_PRIVS", __func__);
		return -1;
	}
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		log_warnx("%s: no_new_privs did not stick", __func__);
		return -1;
	}
	return 0;
}

/*
 * Landlock.
 */

static uint64_t
landlock_fs_bits(int abi)
{
	uint64_t	 bits = 0;

	if (abi >= 1)
		bits |= LANDLOCK_FS_ABI1;
	if (abi >= 2)
		bits |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		bits |= LANDLOCK_ACCESS_FS_TRUNCATE;
	/* ABI 4 added TCP bind/connect rules, which berth does not use. */
	if (abi >= 5)
		bits |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return bits;
}

/*
 * Every process is scoped: no abstract unix socket and no signal outside
 * its own Landlock domain.  The parent too: it runs as uid 0 without
 * CAP_KILL, so it cannot signal its children (they run as other users and
 * stop when their channel closes) but could signal any other root process
 * on the host, dockerd included; the scope ends that.
 */
static uint64_t
landlock_scope_bits(int abi)
{
	if (abi >= 6)
		return LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET |
		    LANDLOCK_SCOPE_SIGNAL;
	return 0;
}

static int
landlock_add_path(int ruleset, const struct sandbox_path *sp,
    uint64_t handled)
{
	struct landlock_path_beneath_attr beneath;
	struct stat	 st;
	uint64_t	 allowed = 0;
	int		 fd, ret = -1;

	if ((fd = open(sp->path, O_PATH | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			log_debug("%s: %s: not here, skipped", __func__,
			    sp->path);
			return 0;
		}
		log_warn("%s: %s", __func__, sp->path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s: fstat %s", __func__, sp->path);
		goto out;
	}
	if (sp->access & SB_READ)
		allowed |= LANDLOCK_FS_READ;
	if (sp->access & SB_WRITE)
		allowed |= LANDLOCK_FS_WRITE;
	if (sp->access & SB_EXEC)
		allowed |= LANDLOCK_FS_EXEC;
	if (!S_ISDIR(st.st_mode))
		allowed &= LANDLOCK_FS_FILE;
	allowed &= handled;
	if (allowed == 0) {
		ret = 0;
		goto out;
	}

	memset(&beneath, 0, sizeof(beneath));
	beneath.allowed_access = allowed;
	beneath.parent_fd = fd;
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH,
	    &beneath, 0) == -1) {
		log_warn("%s: landlock_add_rule %s", __func__, sp->path);
		goto out;
	}
	ret = 0;
 out:
	close(fd);
	return ret;
}

int
sandbox_landlock(const struct sandbox_path *paths, size_t npaths,
    struct sandbox_report *report)
{
	static int		 said_unavailable;
	struct landlock_attr	 attr;
	int			 kernel_abi, abi, ruleset, ret = -1;
	size_t			 i;

	report->landlock_abi = 0;
	report->landlock_full = 0;

	kernel_abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (kernel_abi == -1) {
		if (errno != ENOSYS && errno != EOPNOTSUPP) {
			log_warn("%s: landlock_create_ruleset", __func__);
			return -1;
		}
		if (!said_unavailable++)
			log_info("landlock: not available in this kernel, "
			    "relying on the other layers");
		return 0;
	}
	abi = kernel_abi < LANDLOCK_ABI_KNOWN ? kernel_abi :
	    LANDLOCK_ABI_KNOWN;

	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = landlock_fs_bits(abi);
	attr.scoped = landlock_scope_bits(abi);
	ruleset = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset == -1) {
		log_warn("%s: landlock_create_ruleset (ABI %d)", __func__, abi);
		return -1;
	}
	for (i = 0; i < npaths; i++)
		if (landlock_add_path(ruleset, &paths[i],
		    attr.handled_access_fs) == -1)
			goto out;
	/* Needs no_new_privs, which sandbox_confine() set just before. */
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) == -1) {
		log_warn("%s: landlock_restrict_self", __func__);
		goto out;
	}

	report->landlock_abi = abi;
	report->landlock_full =
	    attr.handled_access_fs == landlock_fs_bits(LANDLOCK_ABI_KNOWN) &&
	    attr.scoped == landlock_scope_bits(LANDLOCK_ABI_KNOWN);
	log_info("landlock: ABI %d enforced (kernel has %d)%s", abi,
	    kernel_abi, report->landlock_full ? "" : ", partially");
	ret = 0;
 out:
	close(ruleset);
	return ret;
}

/*
 * seccomp.
 */

/* Socket domains behind SB_UNIX and SB_INET. */
static const int	 domains_unix[] = { AF_UNIX };
static const int	 domains_inet[] = { AF_INET, AF_INET6 };

/*
 * Behind SB_IOCTL: descriptor ioctls libevent, libcurl and stdio use.
 * isatty(3), window size (git's progress) and file flags (libarchive)
 * probes are told "not supported", as on a file that has none.
 */
static const unsigned long ioctls_allowed[] = {
	FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,
};
static const unsigned long ioctls_notty[] = {
	TCGETS, TIOCGWINSZ, FS_IOC_GETFLAGS,
};

#ifdef BERTH_SECCOMP_DEBUG
/*
 * Debug builds trap instead of killing and name the call.  The names are
 * looked up now, while malloc may still be called; the handler itself
 * only reads them and writes.
 */
#define SIGSYS_NAMES	512
static char		 sigsys_names[SIGSYS_NAMES][32];
static char		 sigsys_role[16];

static size_t
sigsys_append(char *buf, size_t off, size_t size, const char *s)
{
	while (*s != '\0' && off + 1 < size)
		buf[off++] = *s++;
	return off;
}

static void
sigsys_handler(int sig, siginfo_t *info, void *context)
{
	char		 buf[128], digits[16];
	size_t		 off = 0, n = 0;
	unsigned int	 nr;

	(void)sig;
	(void)context;
	nr = (unsigned int)info->si_syscall;
	do {
		digits[n++] = '0' + nr % 10;
		nr /= 10;
	} while (nr != 0 && n < sizeof(digits));

	off = sigsys_append(buf, off, sizeof(buf), sigsys_role);
	off = sigsys_append(buf, off, sizeof(buf),
	    ": seccomp: forbidden syscall ");
	while (n > 0 && off + 1 < sizeof(buf))
		buf[off++] = digits[--n];
	nr = (unsigned int)info->si_syscall;
	if (nr < SIGSYS_NAMES && sigsys_names[nr][0] != '\0') {
		off = sigsys_append(buf, off, sizeof(buf), " (");
		off = sigsys_append(buf, off, sizeof(buf), sigsys_names[nr]);
		off = sigsys_append(buf, off, sizeof(buf), ")");
	}
	off = sigsys_append(buf, off, sizeof(buf), "\n");
	(void)!write(STDERR_FILENO, buf, off);
	_exit(SECCOMP_TRAP_EXIT);
}

static int
sigsys_install(enum berth_role role)
{
	struct sigaction sa;
	sigset_t	 set;
	char		*name;
	int		 nr;

	(void)snprintf(sigsys_role, sizeof(sigsys_role), "%s",
	    role_name(role));
	for (nr = 0; nr < SIGSYS_NAMES; nr++) {
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name != NULL) {
			(void)snprintf(sigsys_names[nr],
			    sizeof(sigsys_names[nr]), "%s", name);
			free(name);
		}
	}
	/*
	 * A trap while SIGSYS is blocked (glibc blocks every signal around
	 * the clone in pthread_create) still kills, but unnamed.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1) {
		log_warn("%s: sigaction", __func__);
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	if (sigprocmask(SIG_UNBLOCK, &set, NULL) == -1) {
		log_warn("%s: sigprocmask", __func__);
		return -1;
	}
	return 0;
}
#endif /* BERTH_SECCOMP_DEBUG */

/* One comparison of one system call argument, every field set. */
static struct scmp_arg_cmp
arg_test(unsigned int arg, enum scmp_compare op, scmp_datum_t a,
    scmp_datum_t b)
{
	struct scmp_arg_cmp	 cmp;

	memset(&cmp, 0, sizeof(cmp));
	cmp.arg = arg;
	cmp.op = op;
	cmp.datum_a = a;
	cmp.datum_b = b;
	return cmp;
}

/*
 * socket(2) and socketpair(2): allow the listed domains, refuse every
 * other one with EACCES.  libseccomp cannot say "else" for one syscall,
 * so every domain below AF_MAX gets its own rule and the rest one more.
 */
static int
seccomp_add_domains(scmp_filter_ctx ctx, int nr, const int *domains,
    size_t ndomains)
{
	uint32_t	 action;
	size_t		 i;
	int		 domain, rc;

	for (domain = 0; domain < AF_MAX; domain++) {
		action = SCMP_ACT_ERRNO(EACCES);
		for (i = 0; i < ndomains; i++)
			if (domains[i] == domain)
				action = SCMP_ACT_ALLOW;
		if ((rc = seccomp_rule_add(ctx, action, nr, 1,
		    arg_test(0, SCMP_CMP_EQ, (scmp_datum_t)domain, 0))) < 0)
			return rc;
	}
	return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), nr, 1,
	    arg_test(0, SCMP_CMP_GE, AF_MAX, 0));
}

static int
seccomp_add_ioctls(scmp_filter_ctx ctx, int nr)
{
	size_t	 i;
	int	 rc;

	for (i = 0; i < sizeof(ioctls_allowed) / sizeof(ioctls_allowed[0]);
	    i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
		    arg_test(1, SCMP_CMP_EQ, ioctls_allowed[i], 0))) < 0)
			return rc;
	for (i = 0; i < sizeof(ioctls_notty) / sizeof(ioctls_notty[0]); i++)
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), nr, 1,
		    arg_test(1, SCMP_CMP_EQ, ioctls_notty[i], 0))) < 0)
			return rc;
	return 0;
}

static int
seccomp_add(scmp_filter_ctx ctx, const struct sandbox_syscall *sc,
    int answer)
{
	switch (answer) {
	case SB_KILL:
		return 0;
	case SB_ALLOW:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc->nr, 0);
	case SB_NOEXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sc->nr, 1,
		    arg_test(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case SB_UNIX:
		return seccomp_add_domains(ctx, sc->nr, domains_unix,
		    sizeof(domains_unix) / sizeof(domains_unix[0]));
	case SB_INET:
		return seccomp_add_domains(ctx, sc->nr, domains_inet,
		    sizeof(domains_inet) / sizeof(domains_inet[0]));
	case SB_IOCTL:
		return seccomp_add_ioctls(ctx, sc->nr);
	case SB_DENY:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), sc->nr, 0);
	case SB_NOSYS:
		return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), sc->nr, 0);
	}
	return -EINVAL;
}

int
sandbox_seccomp(enum berth_role role)
{
	scmp_filter_ctx	 ctx;
	uint32_t	 default_action = SCMP_ACT_KILL_PROCESS;
	size_t		 i;
	int		 rc, answer, ret = -1;

	if ((unsigned int)role >= ROLE_MAX) {
		log_warnx("%s: bad role %d", __func__, role);
		return -1;
	}
#ifdef BERTH_SECCOMP_DEBUG
	if (sigsys_install(role) == -1)
		return -1;
	default_action = SCMP_ACT_TRAP;
#endif
	/*
	 * The filter is built for the native architecture only; a call made
	 * through another ABI (x32, i386 int 0x80) kills the process.
	 */
	if ((ctx = seccomp_init(default_action)) == NULL) {
		log_warnx("%s: seccomp_init failed", __func__);
		return -1;
	}
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) < 0) {
		log_warnx("%s: SCMP_FLTATR_ACT_BADARCH: %s", __func__,
		    strerror(-rc));
		goto out;
	}
	if (seccomp_arch_exist(ctx, seccomp_arch_native()) != 0) {
		log_warnx("%s: filter is not for the native architecture",
		    __func__);
		goto out;
	}

	for (i = 0; i < sandbox_nsyscalls; i++) {
		answer = sandbox_syscalls[i].answer[role];
		if (sandbox_syscalls[i].nr < 0 || answer == SB_KILL)
			continue;
		if ((rc = seccomp_add(ctx, &sandbox_syscalls[i],
		    answer)) < 0) {
			log_warnx("%s: %s rule for %s: %s", __func__,
			    role_name(role), sandbox_syscalls[i].name,
			    strerror(-rc));
			goto out;
		}
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		log_warnx("%s: seccomp_load: %s", __func__, strerror(-rc));
		goto out;
	}
	ret = 0;
 out:
	seccomp_release(ctx);
	return ret;
}

/*
 * Namespaces and roots.
 */

int
sandbox_netns_empty(void)
{
	if (unshare(CLONE_NEWNET) == -1) {
		log_warn("%s: unshare(CLONE_NEWNET)", __func__);
		return -1;
	}
	return 0;
}

/*
 * Create the missing directories leading to path below root, like
 * mkdir -p of path's parent; path is taken relative to root.
 */
static int
mkdir_below(const char *root, const char *path, mode_t mode)
{
	char	 buf[PATH_MAX], *p;
	int	 n;

	while (*path == '/')
		path++;
	n = snprintf(buf, sizeof(buf), "%s/%s", root, path);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		/*
		 * chmod too: mkdir's mode passes through the umask, and a
		 * strict one (systemd's UMask=0077) would leave the role's
		 * user unable to walk down to the sockets bound below.
		 */
		if (mkdir(buf, mode) == -1) {
			if (errno != EEXIST)
				return -1;
		} else if (chmod(buf, mode) == -1)
			return -1;
		*p = '/';
	}
	return 0;
}

/*
 * The new root is a tmpfs mounted over this directory in our private
 * mount namespace: it exists on every host, and hiding it there hides it
 * from nobody else.
 */
#define EMPTY_ROOT_SCRATCH	"/tmp"

int
sandbox_empty_root(const char *const *binds, size_t nbinds)
{
	const unsigned long ro = MS_BIND | MS_REMOUNT | MS_RDONLY |
	    MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char		 target[PATH_MAX], source[64];
	struct stat	 st;
	int		*fds = NULL, fd, n, ret = -1;
	size_t		 i;

	if (nbinds > 0 && (fds = calloc(nbinds, sizeof(*fds))) == NULL) {
		log_warn("%s: calloc", __func__);
		return -1;
	}
	for (i = 0; i < nbinds; i++)
		fds[i] = -1;

	if (unshare(CLONE_NEWNS) == -1) {
		log_warn("%s: unshare(CLONE_NEWNS)", __func__);
		goto out;
	}
	/* Nothing we mount from here on may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		log_warn("%s: make / private", __func__);
		goto out;
	}
	/*
	 * Hold every source before the tmpfs covers the scratch directory,
	 * after which a source below it could no longer be named; and after
	 * the unshare, since only a mount of our own namespace can be bound.
	 */
	for (i = 0; i < nbinds; i++) {
		if (binds[i][0] != '/') {
			log_warnx("%s: %s: not an absolute path", __func__,
			    binds[i]);
			goto out;
		}
		if ((fds[i] = open(binds[i], O_PATH | O_CLOEXEC)) == -1) {
			log_warn("%s: %s", __func__, binds[i]);
			goto out;
		}
	}

	if (mount("tmpfs", EMPTY_ROOT_SCRATCH, "tmpfs",
	    MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") == -1) {
		log_warn("%s: mount tmpfs on %s", __func__, EMPTY_ROOT_SCRATCH);
		goto out;
	}

	for (i = 0; i < nbinds; i++) {
		n = snprintf(target, sizeof(target), "%s%s",
		    EMPTY_ROOT_SCRATCH, binds[i]);
		if (n < 0 || (size_t)n >= sizeof(target)) {
			log_warnx("%s: %s: path too long", __func__, binds[i]);
			goto out;
		}
		if (mkdir_below(EMPTY_ROOT_SCRATCH, binds[i], 0755) == -1) {
			log_warn("%s: directories for %s", __func__, binds[i]);
			goto out;
		}
		if (fstat(fds[i], &st) == -1) {
			log_warn("%s: fstat %s", __func__, binds[i]);
			goto out;
		}
		/* A mount point of the same kind: directory or file. */
		if (S_ISDIR(st.st_mode)) {
			if (mkdir(target, 0755) == -1 && errno != EEXIST) {
				log_warn("%s: mkdir %s", __func__, target);
				goto out;
			}
		} else {
			fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			if (fd == -1) {
				log_warn("%s: create %s", __func__, target);
				goto out;
			}
			close(fd);
		}
		(void)snprintf(source, sizeof(source), "/proc/self/fd/%d",
		    fds[i]);
		if (mount(source, target, NULL, MS_BIND, NULL) == -1) {
			log_warn("%s: bind %s", __func__, binds[i]);
			goto out;
		}
		/* Read-only still lets a client connect(2) to a socket. */
		if (mount(NULL, target, NULL, ro, NULL) == -1) {
			log_warn("%s: remount %s read-only", __func__,
			    binds[i]);
			goto out;
		}
	}

	/*
	 * pivot_root(".", ".") stacks the old root on the new one, and the
	 * detach takes it away for good.  Where the old root cannot be
	 * pivoted (an initramfs root), chroot: CAP_SYS_CHROOT, the only way
	 * out of it, is dropped next.
	 */
	if (chdir(EMPTY_ROOT_SCRATCH) == -1) {
		log_warn("%s: chdir %s", __func__, EMPTY_ROOT_SCRATCH);
		goto out;
	}
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) == -1) {
			log_warn("%s: detach the old root", __func__);
			goto out;
		}
	} else if (errno == EINVAL) {
		log_debug("%s: pivot_root: %s, chroot instead", __func__,
		    strerror(errno));
		if (chroot(".") == -1) {
			log_warn("%s: chroot", __func__);
			goto out;
		}
	} else {
		log_warn("%s: pivot_root", __func__);
		goto out;
	}
	if (chdir("/") == -1) {
		log_warn("%s: chdir /", __func__);
		goto out;
	}
	if (mount(NULL, "/", NULL, ro, NULL) == -1) {
		log_warn("%s: remount / read-only", __func__);
		goto out;
	}
	ret = 0;
 out:
	for (i = 0; i < nbinds; i++)
		if (fds[i] != -1)
			close(fds[i]);
	free(fds);
	return ret;
}

int
sandbox_chroot_empty(const char *dir)
{
	struct stat	 st;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		log_warn("%s: mkdir %s", __func__, dir);
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		log_warn("%s: %s", __func__, dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("%s: %s: not a directory", __func__, dir);
		return -1;
	}
	/* Someone else's directory, or one others can fill, is no jail. */
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		log_warnx("%s: %s: must be owned by root and writable by "
		    "root only", __func__, dir);
		return -1;
	}
	if (chroot(dir) == -1) {
		log_warn("%s: chroot %s", __func__, dir);
		return -1;
	}
	if (chdir("/") == -1) {
		log_warn("%s: chdir /", __func__);
		return -1;
	}
	return 0;
}
