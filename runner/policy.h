/*
 * runner/policy.h: the runner's enforcement of the policy block
 * (DESIGN.md §6) on a decoded request.  The policy itself, its defaults
 * and its hash are common/policy.h, included from here.
 */
#ifndef BERTH_RUNNER_POLICY_H
#define BERTH_RUNNER_POLICY_H

#include <stddef.h>
#include <stdint.h>

/* By path: "policy.h" from runner/ or tests names this file. */
#include "../common/policy.h"
#include "runop.h"

#define POLICY_NAME_LEN		128	/* a container name from the template */

/* What a checked spec becomes once the policy's defaults are applied. */
struct policy_effective {
	uint64_t	 memory_bytes;
	uint64_t	 nano_cpus;
	int64_t		 pids_limit;
	int		 read_only_root;
	const char	*network_mode;		/* "bridge" or "none" */
	const char	*runtime;		/* "" = engine default */
	char		 host_ips[RUNOP_PORTS_MAX][46];
};

/*
 * 0 if the policy allows req; -1 with "field: why, naming the rule" in
 * err.  Only a deploy carries anything the policy limits.
 */
int	 policy_check(const struct policy *, const struct run_request *,
	    char *err, size_t errlen);
/* The spec of a request policy_check() allowed, with the defaults filled. */
void	 policy_resolve(const struct policy *, const struct run_spec *,
	    struct policy_effective *);
/* The template with {app} replaced; -1 if it does not fit. */
int	 policy_container_name(const struct policy *, const char *app,
	    char *out, size_t outlen);
/* The inverse: the app a container name stands for; -1 if none. */
int	 policy_container_app(const struct policy *, const char *name,
	    char *app, size_t applen);

#endif
