/*
 * sandbox.h: the means by which a berth process narrows its privileges,
 * and sandbox_confine(), which applies one role's policy (the tables in
 * sandbox_policy.c) in the order DESIGN.md §10 fixes:
 * namespaces/chroot -> groups, gid, uid -> capabilities ->
 * no_new_privs -> Landlock -> seccomp.
 */
#ifndef BERTH_SANDBOX_H
#define BERTH_SANDBOX_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "berth.h"

/* Landlock: one path and the access it is granted. */
#define SB_READ		0x01	/* read files, list directories */
#define SB_WRITE	0x02	/* create, write, remove below the path */
#define SB_EXEC		0x04	/* execute files below the path */

struct sandbox_path {
	const char	*path;
	unsigned int	 access;	/* SB_* bits */
};

struct sandbox_report {
	int		 landlock_abi;	/* in force, 0 none */
	int		 landlock_full;	/* every asked-for bit enforced */
	int		 seccomp;	/* filter installed */
	int		 netns;
	int		 mntns;
};

/* A user as sandbox_lookup_user() found it, ready to become. */
#define SANDBOX_GROUPS_MAX	64
struct sandbox_user {
	char		 name[BERTH_USER_LEN];
	uid_t		 uid;
	gid_t		 gid;
	int		 ngroups;
	gid_t		 groups[SANDBOX_GROUPS_MAX];
};

/*
 * Switch to user, with its own groups plus extra_gids.  Verifies all of
 * real, effective and saved ids afterwards.  0 or -1 (logged).
 */
int	 sandbox_switch_user(const char *user, const gid_t *extra_gids,
	    size_t nextra);
/*
 * The same in two steps, for a process whose user database is out of
 * reach by the time it switches (an empty root): look up, then become.
 */
int	 sandbox_lookup_user(const char *user, const gid_t *extra_gids,
	    size_t nextra, struct sandbox_user *);
int	 sandbox_become_user(const struct sandbox_user *);
/* Empty every capability set, bounding and ambient included. */
int	 sandbox_drop_caps(void);
int	 sandbox_no_new_privs(void);
/*
 * Landlock: only these paths, with these rights; from ABI 6 also no
 * abstract unix socket and no signal outside the process's own domain.
 * Best effort; fills report->landlock_*.  -1 only on unexpected errors.
 */
int	 sandbox_landlock(const struct sandbox_path *, size_t,
	    struct sandbox_report *);
/* Install role's seccomp allowlist. */
int	 sandbox_seccomp(enum berth_role);
/* Enter a new, empty network namespace. */
int	 sandbox_netns_empty(void);
/*
 * Enter a new mount namespace whose root is an empty read-only tmpfs,
 * holding only bind mounts of the given paths (each at the same path),
 * then chroot into it.
 */
int	 sandbox_empty_root(const char *const *binds, size_t nbinds);
/* chroot(2) into an empty directory, created root-owned 0755 if missing. */
int	 sandbox_chroot_empty(const char *dir);

/*
 * The seccomp policy as data (sandbox_policy.c): one row per system call,
 * one answer per role.  sandbox_seccomp() turns a role's column into a
 * filter; the tests read the same rows.
 */
enum sandbox_answer {
	SB_KILL = 0,	/* not allowed: the filter's default action */
	SB_ALLOW,
	SB_NOEXEC,	/* allowed unless arg 2 (prot) holds PROT_EXEC */
	SB_UNIX,	/* socket domain (arg 0) AF_UNIX only, others EACCES */
	SB_INET,	/* AF_INET and AF_INET6 only, others EACCES */
	SB_IOCTL,	/* a few fd ioctls; tty probes ENOTTY; others killed */
	SB_DENY,	/* fails with EACCES: a harmless probe we refuse */
	SB_NOSYS,	/* fails with ENOSYS so that glibc falls back */
};

struct sandbox_syscall {
	const char	*name;
	int		 nr;		/* SCMP_SYS(); < 0: not on this arch */
	unsigned char	 answer[ROLE_MAX];	/* enum sandbox_answer */
};

extern const struct sandbox_syscall	sandbox_syscalls[];
extern const size_t			sandbox_nsyscalls;

/*
 * Confine the calling process as role, with the settings in conf.
 * Fatal on any step that must not fail; fills report.
 */
struct wire_proc_conf;
void	 sandbox_confine(enum berth_role, const struct wire_proc_conf *,
	    struct sandbox_report *);
/* The parent's own confinement, after its children are running. */
void	 sandbox_confine_parent(const char *state_dir,
	    const char *control_dir, const char *conf_path,
	    struct sandbox_report *);

/*
 * A build child (builder/build.c) narrows the builder's confinement to
 * one build: see sandbox_policy.c for what it keeps and why.
 */
struct sandbox_build {
	const char	*workspace;	/* read-write: this build's directory */
	const char	*repository;	/* NULL, or a file:// repository */
	uint16_t	 git_port;	/* TCP port git may reach, 0 none */
	uint64_t	 cpu_sec;	/* RLIMIT_CPU, 0 leaves it as it is */
	uint64_t	 file_bytes;	/* RLIMIT_FSIZE, 0 leaves it as it is */
};
void	 sandbox_confine_build_child(const struct sandbox_build *,
	    struct sandbox_report *);

#endif
