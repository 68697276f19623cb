/*
 * fuzz_netd_status.c: netd/status.c, the decoder of the parent's
 * IMSG_NETD_STATUS JSON, against arbitrary bytes (held in a buffer of
 * exactly their size).  What it accepts must keep status.h's promises:
 * counts within their arrays, strings terminated inside their fields
 * and printable, process names that are roles, numbers in range.
 */
#include <sys/types.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "status.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_string(const char *value, size_t size)
{
	const char	*end;

	if ((end = memchr(value, '\0', size)) == NULL)
		abort();
	for (; value < end; value++)
		if (*value < 0x20 || *value > 0x7e)
			abort();
}

static void
check_metrics(const struct status_metrics *m)
{
	size_t	 i;

	if (m->ndisks > STATUS_DISKS_MAX || m->ngpus > STATUS_GPUS_MAX ||
	    !isfinite(m->cpu_percent) || m->cpu_percent < 0 ||
	    m->cpu_percent > 100 || m->load1 < 0 || m->load15 < 0)
		abort();
	check_string(m->kernel, sizeof(m->kernel));
	check_string(m->machine, sizeof(m->machine));
	for (i = 0; i < m->ndisks; i++) {
		check_string(m->disks[i].path, sizeof(m->disks[i].path));
		if (strcmp(m->disks[i].use, "state") != 0 &&
		    strcmp(m->disks[i].use, "docker") != 0)
			abort();
	}
	for (i = 0; i < m->ngpus; i++) {
		check_string(m->gpus[i].name, sizeof(m->gpus[i].name));
		check_string(m->gpus[i].uuid, sizeof(m->gpus[i].uuid));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netd_status	 st;
	enum berth_role		 role;
	char			*buf;
	size_t			 i;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(buf, data, size);
	if (status_decode(buf, size, &st) == NULL) {
		if (size > STATUS_JSON_MAX ||
		    st.nprocesses > STATUS_PROCESSES_MAX)
			abort();
		check_string(st.node_id, sizeof(st.node_id));
		for (i = 0; i < st.nprocesses; i++) {
			check_string(st.processes[i].user,
			    sizeof(st.processes[i].user));
			if (role_from_name(st.processes[i].name, &role) == -1 ||
			    st.processes[i].pid == 0 ||
			    st.processes[i].seccomp > 2)
				abort();
		}
		check_metrics(&st.metrics);
		check_string(st.docker_version, sizeof(st.docker_version));
		if (st.ncontainers > STATUS_CONTAINERS_MAX)
			abort();
		for (i = 0; i < st.ncontainers; i++) {
			check_string(st.containers[i].name,
			    sizeof(st.containers[i].name));
			check_string(st.containers[i].image,
			    sizeof(st.containers[i].image));
			check_string(st.containers[i].state,
			    sizeof(st.containers[i].state));
		}
	}
	free(buf);
	return 0;
}
