/*
 * status.h: what the parent tells netd about the node (IMSG_NETD_STATUS),
 * for the local /health, /status and /metrics endpoints.  The payload is
 * JSON made by the parent:
 *
 *	{"node_id": "...", "processes": [{"name", "pid", "user", "seccomp",
 *	 "no_new_privs", "landlock_abi", "cap_eff"}, ...],
 *	 "metrics": {"cpu_percent", "cpu_count", "memory_total_bytes",
 *	 "memory_used_bytes", "memory_available_bytes", "load1", "load5",
 *	 "load15", "kernel", "machine", "disks": [{"use", "path",
 *	 "free_bytes", "total_bytes"}], "gpus": [{"index", "name", "uuid",
 *	 "memory_total_bytes", "memory_used_bytes"}]},
 *	 "tasks_running": N, "containers_running": N, "containers_total": N,
 *	 "docker_version": "...", "containers": [{"name", "app", "id",
 *	 "image", "state"}] (berth's own containers, at most 32),
 *	 "capacity": {"max_containers", "max_cpu_percent",
 *	 "max_memory_percent", "max_concurrent_builds",
 *	 "max_concurrent_runs"}, "updated_unix": N}
 *
 * Every key is required, none other is accepted, every value is checked
 * for type and range, strings are printable ASCII within their field.
 */
#ifndef BERTH_STATUS_H
#define BERTH_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "berth.h"

#define STATUS_JSON_MAX		(BERTH_IMSG_MAX - 64)
#define STATUS_PROCESSES_MAX	8
#define STATUS_DISKS_MAX	2
#define STATUS_GPUS_MAX		8
#define STATUS_NAME_LEN		128
#define STATUS_CONTAINERS_MAX	32

struct status_process {
	char		 name[16];		/* a role name */
	uint32_t	 pid;
	char		 user[BERTH_USER_LEN];
	uint32_t	 seccomp;		/* /proc Seccomp: 0..2 */
	uint32_t	 no_new_privs;
	int32_t		 landlock_abi;
	uint64_t	 cap_eff;
};

struct status_disk {
	char		 use[16];		/* "state" or "docker" */
	char		 path[BERTH_PATH_LEN];
	uint64_t	 free_bytes;
	uint64_t	 total_bytes;
};

struct status_gpu {
	uint32_t	 index;
	char		 name[96];
	char		 uuid[96];
	uint64_t	 memory_total_bytes;
	uint64_t	 memory_used_bytes;
};

struct status_metrics {
	double		 cpu_percent;
	uint32_t	 cpu_count;
	uint64_t	 memory_total_bytes;
	uint64_t	 memory_used_bytes;
	uint64_t	 memory_available_bytes;
	double		 load1, load5, load15;
	char		 kernel[65];
	char		 machine[65];
	size_t		 ndisks;
	struct status_disk disks[STATUS_DISKS_MAX];
	size_t		 ngpus;
	struct status_gpu gpus[STATUS_GPUS_MAX];
};

/* One container of this node's (berth.node label), as the runner listed it. */
struct status_container {
	char		 name[STATUS_NAME_LEN];
	char		 app[64];
	char		 id[65];		/* the engine's full id */
	char		 image[256];
	char		 state[16];		/* running exited created ... */
};

struct status_capacity {
	uint32_t	 max_containers;
	uint32_t	 max_cpu_percent;
	uint32_t	 max_memory_percent;
	uint32_t	 max_concurrent_builds;
	uint32_t	 max_concurrent_runs;
};

struct netd_status {
	char			 node_id[STATUS_NAME_LEN];
	size_t			 nprocesses;
	struct status_process	 processes[STATUS_PROCESSES_MAX];
	struct status_metrics	 metrics;
	uint32_t		 tasks_running;
	uint32_t		 containers_running;
	uint32_t		 containers_total;
	char			 docker_version[32];	/* "": unknown */
	size_t			 ncontainers;
	struct status_container	 containers[STATUS_CONTAINERS_MAX];
	struct status_capacity	 capacity;
	int64_t			 updated_unix;
};

/* NULL, or what was wrong; *status is meaningful only on NULL. */
const char	*status_decode(const char *json, size_t len,
		    struct netd_status *);

#endif
