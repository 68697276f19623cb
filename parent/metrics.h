/*
 * metrics.h: the host metrics the parent reports (to netd for /metrics
 * and /status, and in heartbeats): CPU busy percent between two samples,
 * memory, load, free disk of the state dir and of Docker's data root,
 * kernel and machine, and GPUs through NVML when the driver is there.
 *
 * metrics_init() runs before the parent confines itself: it is the one
 * moment NVML can be loaded (no PROT_EXEC mapping afterwards) and the
 * GPUs enumerated.  metrics_sample() only reads /proc and statfs(2)s
 * the two directories, which the confined parent may do.
 */
#ifndef BERTH_METRICS_H
#define BERTH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "berth.h"

#define METRICS_NVML_LIBRARY	"libnvidia-ml.so.1"
#define METRICS_GPUS_MAX	8
#define METRICS_DISKS_MAX	2

struct metrics_gpu {
	unsigned int	 index;
	char		 name[96];
	char		 uuid[96];
	uint64_t	 memory_total;
	uint64_t	 memory_used;
};

struct metrics_disk {
	char		 use[16];		/* "state" or "docker" */
	char		 path[BERTH_PATH_LEN];
	uint64_t	 free_bytes;		/* for unprivileged users */
	uint64_t	 total_bytes;
};

struct host_metrics {
	double		 cpu_percent;		/* 0..100, all CPUs */
	unsigned int	 cpu_count;
	uint64_t	 memory_total;
	uint64_t	 memory_available;
	uint64_t	 memory_used;		/* total - available */
	double		 load1, load5, load15;
	char		 kernel[65];		/* osrelease */
	char		 machine[65];		/* uname -m */
	size_t		 ndisks;
	struct metrics_disk disks[METRICS_DISKS_MAX];
	size_t		 ngpus;
	struct metrics_gpu gpus[METRICS_GPUS_MAX];
};

/* The first line of /proc/stat, summed. */
struct metrics_cpu_times {
	uint64_t	 busy;
	uint64_t	 total;
};

struct metrics;

/*
 * Before confinement.  docker_root NULL or "": Docker's data root is not
 * known and only the state dir is measured.  nvml NULL: the driver's
 * library by its usual name; "": do not look for GPUs.  A missing NVML
 * means no GPUs, not an error.
 */
struct metrics	*metrics_init(const char *state_dir, const char *docker_root,
		    const char *nvml);
void		 metrics_free(struct metrics *);
/* Fill m; the CPU percent covers the time since the previous sample. */
int		 metrics_sample(struct metrics *, struct host_metrics *m);
/*
 * Ask NVML again for the GPUs' memory use.  With the real driver this is
 * an ioctl on /dev/nvidia*, which the confined parent may not make: call
 * it only before sandbox_confine_parent() unless the policy allows it.
 */
int		 metrics_gpu_refresh(struct metrics *);
/* The "metrics" object of IMSG_NETD_STATUS (netd/status.h). */
json_t		*metrics_json(const struct host_metrics *);

/* The parsers, on NUL-terminated text; 0 or -1. */
int		 metrics_parse_stat(const char *, struct metrics_cpu_times *);
int		 metrics_parse_meminfo(const char *, uint64_t *total,
		    uint64_t *available);
int		 metrics_parse_loadavg(const char *, double *, double *,
		    double *);

#endif
