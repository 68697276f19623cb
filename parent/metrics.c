/*
 * metrics.c: host metrics for the parent (see metrics.h).  Everything
 * after metrics_init() comes from /proc, statfs(2) and uname(2), which
 * the confined parent keeps; NVML is dlopen()ed and its GPUs enumerated
 * in metrics_init(), before confinement forbids mapping new code.  The
 * NVML functions are declared here (we have no header for them): only
 * the handful used, with the types of NVML's public API.
 */
#include <sys/types.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "log.h"
#include "metrics.h"

/* NVML's types, as in its public header. */
typedef int	 nvmlReturn_t;		/* 0: NVML_SUCCESS */
typedef struct nvmlDevice_st *nvmlDevice_t;
typedef struct {
	unsigned long long	 total;
	unsigned long long	 free;
	unsigned long long	 used;
} nvmlMemory_t;

struct nvml_api {
	nvmlReturn_t	(*init)(void);
	nvmlReturn_t	(*count)(unsigned int *);
	nvmlReturn_t	(*handle)(unsigned int, nvmlDevice_t *);
	nvmlReturn_t	(*name)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t	(*memory)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t	(*uuid)(nvmlDevice_t, char *, unsigned int);
	nvmlReturn_t	(*shutdown)(void);
};

struct metrics {
	char			 state_dir[BERTH_PATH_LEN];
	char			 docker_root[BERTH_PATH_LEN];	/* "" unknown */
	struct metrics_cpu_times prev;
	int			 have_prev;
	double			 cpu_percent;
	void			*nvml;		/* dlopen() handle */
	struct nvml_api		 api;
	nvmlDevice_t		 devices[METRICS_GPUS_MAX];
	size_t			 ngpus;
	struct metrics_gpu	 gpus[METRICS_GPUS_MAX];
};

#define PROC_READ_MAX	8192	/* the first line of /proc/stat is enough */

/* --- /proc ------------------------------------------------------------- */

/* Up to size - 1 bytes of a /proc file, NUL-terminated; 0 or -1. */
static int
read_text(const char *path, char *buf, size_t size)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (off < size - 1) {
		if ((n = read(fd, buf + off, size - 1 - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	return off > 0 ? 0 : -1;
}

int
metrics_parse_stat(const char *text, struct metrics_cpu_times *t)
{
	unsigned long long	 v[8];
	const char		*p = text;
	char			*end;
	int			 i;

	if (strncmp(p, "cpu ", 4) != 0)
		return -1;
	p += 4;
	/* user nice system idle iowait irq softirq steal (guest is in user) */
	for (i = 0; i < 8; i++) {
		errno = 0;
		v[i] = strtoull(p, &end, 10);
		if (end == p || errno != 0) {
			if (i < 4)
				return -1;
			for (; i < 8; i++)
				v[i] = 0;
			break;
		}
		p = end;
	}
	t->busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	t->total = t->busy + v[3] + v[4];
	return 0;
}

/* The value of "key:" in kB, as bytes. */
static int
meminfo_field(const char *text, const char *key, uint64_t *bytes)
{
	const char		*p = text;
	unsigned long long	 kb;
	size_t			 klen = strlen(key);
	char			*end;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (strncmp(p, key, klen) != 0 || p[klen] != ':')
			continue;
		errno = 0;
		kb = strtoull(p + klen + 1, &end, 10);
		if (end == p + klen + 1 || errno != 0 ||
		    kb > UINT64_MAX / 1024)
			return -1;
		*bytes = (uint64_t)kb * 1024;
		return 0;
	}
	return -1;
}

int
metrics_parse_meminfo(const char *text, uint64_t *total,
    uint64_t *available)
{
	if (meminfo_field(text, "MemTotal", total) == -1 ||
	    meminfo_field(text, "MemAvailable", available) == -1 ||
	    *available > *total)
		return -1;
	return 0;
}

int
metrics_parse_loadavg(const char *text, double *l1, double *l5,
    double *l15)
{
	if (sscanf(text, "%lf %lf %lf", l1, l5, l15) != 3 || *l1 < 0 ||
	    *l5 < 0 || *l15 < 0)
		return -1;
	return 0;
}

/* Printable ASCII only, so that netd's decoder takes what we send. */
static void
copy_printable(char *dst, size_t size, const char *src)
{
	size_t	 i;

	for (i = 0; i + 1 < size && src[i] != '\0' && src[i] != '\n'; i++)
		dst[i] = (src[i] >= 0x20 && src[i] <= 0x7e) ? src[i] : '?';
	dst[i] = '\0';
}

/* --- NVML -------------------------------------------------------------- */

static int
nvml_bind(struct metrics *mt)
{
	struct {
		const char	*name;
		void		**fn;
	} syms[] = {
		{ "nvmlInit_v2", (void **)&mt->api.init },
		{ "nvmlDeviceGetCount_v2", (void **)&mt->api.count },
		{ "nvmlDeviceGetHandleByIndex_v2", (void **)&mt->api.handle },
		{ "nvmlDeviceGetName", (void **)&mt->api.name },
		{ "nvmlDeviceGetMemoryInfo", (void **)&mt->api.memory },
		{ "nvmlDeviceGetUUID", (void **)&mt->api.uuid },
		{ "nvmlShutdown", (void **)&mt->api.shutdown },
	};
	size_t	 i;

	for (i = 0; i < sizeof(syms) / sizeof(syms[0]); i++)
		if ((*syms[i].fn = dlsym(mt->nvml, syms[i].name)) == NULL) {
			log_warnx("metrics: NVML lacks %s", syms[i].name);
			return -1;
		}
	return 0;
}

static void
nvml_enumerate(struct metrics *mt)
{
	struct metrics_gpu	*g;
	char			 buf[96];
	unsigned int		 count, i;

	if (mt->api.count(&count) != 0)
		return;
	for (i = 0; i < count && mt->ngpus < METRICS_GPUS_MAX; i++) {
		g = &mt->gpus[mt->ngpus];
		memset(g, 0, sizeof(*g));
		if (mt->api.handle(i, &mt->devices[mt->ngpus]) != 0)
			continue;
		g->index = i;
		if (mt->api.name(mt->devices[mt->ngpus], buf, sizeof(buf)) == 0)
			copy_printable(g->name, sizeof(g->name), buf);
		if (mt->api.uuid(mt->devices[mt->ngpus], buf, sizeof(buf)) == 0)
			copy_printable(g->uuid, sizeof(g->uuid), buf);
		mt->ngpus++;
	}
	(void)metrics_gpu_refresh(mt);
}

static void
nvml_load(struct metrics *mt, const char *path)
{
	if ((mt->nvml = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_debug("metrics: no NVML (%s): no GPUs", path);
		return;
	}
	if (nvml_bind(mt) == -1 || mt->api.init() != 0) {
		log_warnx("metrics: NVML %s did not start: no GPUs", path);
		dlclose(mt->nvml);
		mt->nvml = NULL;
		return;
	}
	nvml_enumerate(mt);
	log_info("metrics: %zu GPUs through NVML", mt->ngpus);
}

int
metrics_gpu_refresh(struct metrics *mt)
{
	nvmlMemory_t	 mem;
	size_t		 i;
	int		 rc = 0;

	for (i = 0; i < mt->ngpus; i++) {
		if (mt->api.memory(mt->devices[i], &mem) != 0) {
			rc = -1;
			continue;
		}
		mt->gpus[i].memory_total = mem.total;
		mt->gpus[i].memory_used = mem.used;
	}
	return rc;
}

/* --- the sampler ------------------------------------------------------- */

struct metrics *
metrics_init(const char *state_dir, const char *docker_root,
    const char *nvml)
{
	struct metrics		*mt;
	struct host_metrics	 first;

	if ((mt = calloc(1, sizeof(*mt))) == NULL)
		return NULL;
	if (strlcpy(mt->state_dir, state_dir, sizeof(mt->state_dir)) >=
	    sizeof(mt->state_dir) || (docker_root != NULL &&
	    strlcpy(mt->docker_root, docker_root, sizeof(mt->docker_root)) >=
	    sizeof(mt->docker_root))) {
		free(mt);
		return NULL;
	}
	if (nvml == NULL)
		nvml = METRICS_NVML_LIBRARY;
	if (nvml[0] != '\0')
		nvml_load(mt, nvml);
	/* The first CPU sample, for the first percentage to compare with. */
	(void)metrics_sample(mt, &first);
	return mt;
}

void
metrics_free(struct metrics *mt)
{
	if (mt == NULL)
		return;
	if (mt->nvml != NULL) {
		(void)mt->api.shutdown();
		dlclose(mt->nvml);
	}
	free(mt);
}

static void
sample_cpu(struct metrics *mt, struct host_metrics *m)
{
	struct metrics_cpu_times	 now;
	char				 buf[PROC_READ_MAX];
	uint64_t			 dbusy, dtotal;
	long				 n;

	if (read_text("/proc/stat", buf, sizeof(buf)) == 0 &&
	    metrics_parse_stat(buf, &now) == 0) {
		if (mt->have_prev && now.total > mt->prev.total &&
		    now.busy >= mt->prev.busy) {
			dbusy = now.busy - mt->prev.busy;
			dtotal = now.total - mt->prev.total;
			mt->cpu_percent = 100.0 * (double)dbusy /
			    (double)dtotal;
			if (mt->cpu_percent > 100.0)
				mt->cpu_percent = 100.0;
		}
		mt->prev = now;
		mt->have_prev = 1;
	}
	m->cpu_percent = mt->cpu_percent;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	m->cpu_count = n > 0 ? (unsigned int)n : 0;
}

static void
sample_disk(struct metrics_disk *d, const char *use, const char *path)
{
	struct statvfs	 sv;

	(void)strlcpy(d->use, use, sizeof(d->use));
	copy_printable(d->path, sizeof(d->path), path);
	if (statvfs(path, &sv) == -1) {
		log_warn("metrics: statvfs %s", path);
		return;
	}
	d->free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
	d->total_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
}

static void
sample_system(struct host_metrics *m)
{
	struct utsname	 u;
	char		 buf[PROC_READ_MAX];

	if (read_text("/proc/meminfo", buf, sizeof(buf)) == 0 &&
	    metrics_parse_meminfo(buf, &m->memory_total,
	    &m->memory_available) == 0)
		m->memory_used = m->memory_total - m->memory_available;
	if (read_text("/proc/loadavg", buf, sizeof(buf)) == 0)
		(void)metrics_parse_loadavg(buf, &m->load1, &m->load5,
		    &m->load15);
	if (read_text("/proc/sys/kernel/osrelease", buf, sizeof(buf)) == 0)
		copy_printable(m->kernel, sizeof(m->kernel), buf);
	if (uname(&u) == 0)
		copy_printable(m->machine, sizeof(m->machine), u.machine);
}

int
metrics_sample(struct metrics *mt, struct host_metrics *m)
{
	memset(m, 0, sizeof(*m));
	sample_cpu(mt, m);
	sample_system(m);
	sample_disk(&m->disks[m->ndisks++], "state", mt->state_dir);
	if (mt->docker_root[0] != '\0')
		sample_disk(&m->disks[m->ndisks++], "docker",
		    mt->docker_root);
	m->ngpus = mt->ngpus;
	memcpy(m->gpus, mt->gpus, sizeof(m->gpus));
	return m->memory_total != 0 ? 0 : -1;
}

/* --- JSON for netd ------------------------------------------------------ */

static json_t *
disks_json(const struct host_metrics *m)
{
	json_t	*list, *o;
	size_t	 i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < m->ndisks; i++) {
		o = json_pack("{s:s, s:s, s:I, s:I}", "use", m->disks[i].use,
		    "path", m->disks[i].path,
		    "free_bytes", (json_int_t)m->disks[i].free_bytes,
		    "total_bytes", (json_int_t)m->disks[i].total_bytes);
		if (o == NULL || json_array_append_new(list, o) == -1) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

static json_t *
gpus_json(const struct host_metrics *m)
{
	json_t	*list, *o;
	size_t	 i;

	if ((list = json_array()) == NULL)
		return NULL;
	for (i = 0; i < m->ngpus; i++) {
		o = json_pack("{s:I, s:s, s:s, s:I, s:I}",
		    "index", (json_int_t)m->gpus[i].index,
		    "name", m->gpus[i].name, "uuid", m->gpus[i].uuid,
		    "memory_total_bytes", (json_int_t)m->gpus[i].memory_total,
		    "memory_used_bytes", (json_int_t)m->gpus[i].memory_used);
		if (o == NULL || json_array_append_new(list, o) == -1) {
			json_decref(list);
			return NULL;
		}
	}
	return list;
}

json_t *
metrics_json(const struct host_metrics *m)
{
	return json_pack("{s:f, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:s, s:s,"
	    " s:o, s:o}",
	    "cpu_percent", m->cpu_percent,
	    "cpu_count", (json_int_t)m->cpu_count,
	    "memory_total_bytes", (json_int_t)m->memory_total,
	    "memory_used_bytes", (json_int_t)m->memory_used,
	    "memory_available_bytes", (json_int_t)m->memory_available,
	    "load1", m->load1, "load5", m->load5, "load15", m->load15,
	    "kernel", m->kernel, "machine", m->machine,
	    "disks", disks_json(m), "gpus", gpus_json(m));
}
