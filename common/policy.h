/*
 * policy.h: the policy block of berth.conf (DESIGN.md §6), as data.  The
 * parent parses it and sends it to the runner once at start
 * (IMSG_POLICY, the whole struct, decoded by policy_decode()); the
 * runner enforces it on every create (runner/policy.c).  Its SHA-256
 * over the canonical text form (policy_print) is the policy hash that
 * audit records and heartbeats carry.
 */
#ifndef BERTH_POLICY_H
#define BERTH_POLICY_H

#include <stdint.h>
#include <stdio.h>

#define POLICY_IMAGES_MAX	32
#define POLICY_PATTERN_LEN	256
#define POLICY_HOST_IPS_MAX	8
#define POLICY_BINDS_MAX	16
#define POLICY_PATH_LEN		256
#define POLICY_CAPS_MAX		16
#define POLICY_CAP_LEN		32
#define POLICY_HASH_HEX		64

struct policy {
	/* fnmatch(3) patterns over "repo:tag" or "repo@sha256:..."; none = all */
	char		 images[POLICY_IMAGES_MAX][POLICY_PATTERN_LEN];
	uint32_t	 nimages;
	char		 name_template[64];	/* must contain {app} */
	uint64_t	 memory_default;	/* bytes */
	uint64_t	 memory_max;
	uint64_t	 nano_cpus_default;
	uint64_t	 nano_cpus_max;
	int64_t		 pids_default;
	int64_t		 pids_max;
	/* Host addresses ports may be published on; default 127.0.0.1 only. */
	char		 host_ips[POLICY_HOST_IPS_MAX][46];
	uint32_t	 nhost_ips;
	uint16_t	 host_port_min;		/* default 1024 */
	uint16_t	 host_port_max;		/* default 65535 */
	/* Host directories bind mounts may come from; none = no binds. */
	char		 bind_prefixes[POLICY_BINDS_MAX][POLICY_PATH_LEN];
	uint32_t	 nbind_prefixes;
	/* Capabilities a container may add (e.g. NET_BIND_SERVICE). */
	char		 cap_allow[POLICY_CAPS_MAX][POLICY_CAP_LEN];
	uint32_t	 ncap_allow;
	uint32_t	 read_only_root;	/* 1: force read-only rootfs */
	char		 runtime[64];		/* "" = engine default */
	uint32_t	 allow_restart_always;	/* 0: "always" refused */
};

void	 policy_defaults(struct policy *);
/* The berth.conf text of the block; canonical, used for the hash. */
void	 policy_print(const struct policy *, FILE *);
void	 policy_hash(const struct policy *, char out[POLICY_HASH_HEX + 1]);
/*
 * Check a policy that arrived by imsg: strings terminated, counts within
 * their arrays, defaults within maxima.  NULL or why not.
 */
const char *policy_validate(const struct policy *);

#endif
