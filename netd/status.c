/*
 * status.c: the decoder of IMSG_NETD_STATUS (see status.h).  Objects are
 * described by tables of fields; one walk over a table checks that every
 * key is there with the right type and range, and one walk over the
 * object checks that no other key is.  Arrays have their own functions.
 */
#include <sys/types.h>

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "berth.h"
#include "status.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

enum field_type {
	F_STRING,	/* char[size], printable ASCII */
	F_U32,
	F_I32,
	F_U64,
	F_I64,
	F_REAL,		/* double; an integer is accepted too */
	F_ARRAY,	/* checked by its own function */
	F_OBJECT
};

struct field {
	const char	*key;
	enum field_type	 type;
	size_t		 offset;
	size_t		 size;		/* F_STRING */
	double		 min, max;	/* numbers */
	const char	*(*decode)(json_t *, void *);	/* ARRAY, OBJECT */
};

#define STR(k, s, m)	{ k, F_STRING, offsetof(s, m), \
			    sizeof(((s *)0)->m), 0, 0, NULL }
#define NUM(k, t, s, m, lo, hi) \
			{ k, t, offsetof(s, m), 0, lo, hi, NULL }
#define SUB(k, t, fn)	{ k, t, 0, 0, 0, 0, fn }

/* Limits: well past any real host, well short of overflow. */
#define U32_MAX		4294967295.0
#define I32_MAX		2147483647.0
#define BYTES_MAX	9007199254740992.0	/* 2^53: exact in a double */

static char	 status_reason[192];

static const char *
fail(const char *key, const char *why)
{
	(void)snprintf(status_reason, sizeof(status_reason),
	    "NETD_STATUS: %s: %s", key, why);
	return status_reason;
}

static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

static const char *
decode_string(const struct field *f, json_t *v, void *out)
{
	const char	*s;

	if (!json_is_string(v))
		return fail(f->key, "not a string");
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s) || strlen(s) >= f->size)
		return fail(f->key, "too long or holds NUL");
	if (!printable(s))
		return fail(f->key, "not printable ASCII");
	memcpy((char *)out + f->offset, s, strlen(s) + 1);
	return NULL;
}

static const char *
decode_number(const struct field *f, json_t *v, void *out)
{
	char	*p = (char *)out + f->offset;
	double	 d;

	if (f->type == F_REAL ? !json_is_number(v) : !json_is_integer(v))
		return fail(f->key, "not a number of the right kind");
	d = json_number_value(v);
	if (!isfinite(d) || d < f->min || d > f->max)
		return fail(f->key, "out of range");
	switch (f->type) {
	case F_U32:
		*(uint32_t *)(void *)p = (uint32_t)json_integer_value(v);
		break;
	case F_I32:
		*(int32_t *)(void *)p = (int32_t)json_integer_value(v);
		break;
	case F_U64:
		*(uint64_t *)(void *)p = (uint64_t)json_integer_value(v);
		break;
	case F_I64:
		*(int64_t *)(void *)p = (int64_t)json_integer_value(v);
		break;
	default:
		*(double *)(void *)p = d;
		break;
	}
	return NULL;
}

/* Every field of the table present and valid, and nothing else. */
static const char *
decode_object(json_t *obj, const struct field *fields, size_t nfields,
    void *out)
{
	const struct field	*f;
	const char		*key, *why;
	json_t			*v;
	size_t			 i;

	if (!json_is_object(obj))
		return fail(nfields > 0 ? fields[0].key : "?", "not in an "
		    "object");
	json_object_foreach(obj, key, v) {
		for (i = 0; i < nfields; i++)
			if (strcmp(key, fields[i].key) == 0)
				break;
		if (i == nfields)
			return fail(key, "unknown key");
	}
	for (i = 0; i < nfields; i++) {
		f = &fields[i];
		if ((v = json_object_get(obj, f->key)) == NULL)
			return fail(f->key, "missing");
		if (f->type == F_STRING)
			why = decode_string(f, v, out);
		else if (f->type == F_ARRAY || f->type == F_OBJECT)
			why = f->decode(v, out);
		else
			why = decode_number(f, v, out);
		if (why != NULL)
			return why;
	}
	return NULL;
}

/* --- processes -------------------------------------------------------- */

static const struct field process_fields[] = {
	STR("name", struct status_process, name),
	NUM("pid", F_U32, struct status_process, pid, 1, I32_MAX),
	STR("user", struct status_process, user),
	NUM("seccomp", F_U32, struct status_process, seccomp, 0, 2),
	NUM("no_new_privs", F_U32, struct status_process, no_new_privs, 0, 1),
	NUM("landlock_abi", F_I32, struct status_process, landlock_abi,
	    -1, 1000),
	NUM("cap_eff", F_U64, struct status_process, cap_eff, 0, BYTES_MAX),
};

static const char *
decode_processes(json_t *v, void *out)
{
	struct netd_status	*st = out;
	struct status_process	*p;
	enum berth_role		 role;
	const char		*why;
	json_t			*elem;
	size_t			 i;

	if (!json_is_array(v) || json_array_size(v) > STATUS_PROCESSES_MAX)
		return fail("processes", "not an array of at most 8");
	json_array_foreach(v, i, elem) {
		p = &st->processes[i];
		if ((why = decode_object(elem, process_fields,
		    nitems(process_fields), p)) != NULL)
			return why;
		if (role_from_name(p->name, &role) == -1)
			return fail("processes", "name is not a role");
	}
	st->nprocesses = json_array_size(v);
	return NULL;
}

/* --- metrics ---------------------------------------------------------- */

static const struct field disk_fields[] = {
	STR("use", struct status_disk, use),
	STR("path", struct status_disk, path),
	NUM("free_bytes", F_U64, struct status_disk, free_bytes, 0, BYTES_MAX),
	NUM("total_bytes", F_U64, struct status_disk, total_bytes, 0,
	    BYTES_MAX),
};

static const struct field gpu_fields[] = {
	NUM("index", F_U32, struct status_gpu, index, 0, 1024),
	STR("name", struct status_gpu, name),
	STR("uuid", struct status_gpu, uuid),
	NUM("memory_total_bytes", F_U64, struct status_gpu,
	    memory_total_bytes, 0, BYTES_MAX),
	NUM("memory_used_bytes", F_U64, struct status_gpu, memory_used_bytes,
	    0, BYTES_MAX),
};

static const char *
decode_disks(json_t *v, void *out)
{
	struct status_metrics	*m = out;
	struct status_disk	*d;
	const char		*why;
	json_t			*elem;
	size_t			 i;

	if (!json_is_array(v) || json_array_size(v) > STATUS_DISKS_MAX)
		return fail("disks", "not an array of at most 2");
	json_array_foreach(v, i, elem) {
		d = &m->disks[i];
		if ((why = decode_object(elem, disk_fields,
		    nitems(disk_fields), d)) != NULL)
			return why;
		if (strcmp(d->use, "state") != 0 &&
		    strcmp(d->use, "docker") != 0)
			return fail("disks", "use is neither state nor docker");
	}
	m->ndisks = json_array_size(v);
	return NULL;
}

static const char *
decode_gpus(json_t *v, void *out)
{
	struct status_metrics	*m = out;
	const char		*why;
	json_t			*elem;
	size_t			 i;

	if (!json_is_array(v) || json_array_size(v) > STATUS_GPUS_MAX)
		return fail("gpus", "not an array of at most 8");
	json_array_foreach(v, i, elem)
		if ((why = decode_object(elem, gpu_fields, nitems(gpu_fields),
		    &m->gpus[i])) != NULL)
			return why;
	m->ngpus = json_array_size(v);
	return NULL;
}

static const struct field metrics_fields[] = {
	NUM("cpu_percent", F_REAL, struct status_metrics, cpu_percent, 0, 100),
	NUM("cpu_count", F_U32, struct status_metrics, cpu_count, 0, 1 << 20),
	NUM("memory_total_bytes", F_U64, struct status_metrics,
	    memory_total_bytes, 0, BYTES_MAX),
	NUM("memory_used_bytes", F_U64, struct status_metrics,
	    memory_used_bytes, 0, BYTES_MAX),
	NUM("memory_available_bytes", F_U64, struct status_metrics,
	    memory_available_bytes, 0, BYTES_MAX),
	NUM("load1", F_REAL, struct status_metrics, load1, 0, 1e9),
	NUM("load5", F_REAL, struct status_metrics, load5, 0, 1e9),
	NUM("load15", F_REAL, struct status_metrics, load15, 0, 1e9),
	STR("kernel", struct status_metrics, kernel),
	STR("machine", struct status_metrics, machine),
	SUB("disks", F_ARRAY, decode_disks),
	SUB("gpus", F_ARRAY, decode_gpus),
};

static const char *
decode_metrics(json_t *v, void *out)
{
	struct netd_status	*st = out;

	return decode_object(v, metrics_fields, nitems(metrics_fields),
	    &st->metrics);
}

/* --- containers ------------------------------------------------------ */

static const struct field container_fields[] = {
	STR("name", struct status_container, name),
	STR("app", struct status_container, app),
	STR("id", struct status_container, id),
	STR("image", struct status_container, image),
	STR("state", struct status_container, state),
};

static const char *
decode_containers(json_t *v, void *out)
{
	struct netd_status	*st = out;
	const char		*why;
	json_t			*elem;
	size_t			 i;

	if (!json_is_array(v) || json_array_size(v) > STATUS_CONTAINERS_MAX)
		return fail("containers", "not an array of at most 32");
	json_array_foreach(v, i, elem)
		if ((why = decode_object(elem, container_fields,
		    nitems(container_fields), &st->containers[i])) != NULL)
			return why;
	st->ncontainers = json_array_size(v);
	return NULL;
}

/* --- the whole -------------------------------------------------------- */

static const struct field capacity_fields[] = {
	NUM("max_containers", F_U32, struct status_capacity, max_containers,
	    0, U32_MAX),
	NUM("max_cpu_percent", F_U32, struct status_capacity,
	    max_cpu_percent, 0, U32_MAX),
	NUM("max_memory_percent", F_U32, struct status_capacity,
	    max_memory_percent, 0, U32_MAX),
	NUM("max_concurrent_builds", F_U32, struct status_capacity,
	    max_concurrent_builds, 0, U32_MAX),
	NUM("max_concurrent_runs", F_U32, struct status_capacity,
	    max_concurrent_runs, 0, U32_MAX),
};

static const char *
decode_capacity(json_t *v, void *out)
{
	struct netd_status	*st = out;

	return decode_object(v, capacity_fields, nitems(capacity_fields),
	    &st->capacity);
}

static const struct field status_fields[] = {
	STR("node_id", struct netd_status, node_id),
	SUB("processes", F_ARRAY, decode_processes),
	SUB("metrics", F_OBJECT, decode_metrics),
	NUM("tasks_running", F_U32, struct netd_status, tasks_running, 0,
	    U32_MAX),
	NUM("containers_running", F_U32, struct netd_status,
	    containers_running, 0, U32_MAX),
	NUM("containers_total", F_U32, struct netd_status,
	    containers_total, 0, U32_MAX),
	STR("docker_version", struct netd_status, docker_version),
	SUB("containers", F_ARRAY, decode_containers),
	SUB("capacity", F_OBJECT, decode_capacity),
	NUM("updated_unix", F_I64, struct netd_status, updated_unix, 0,
	    BYTES_MAX),
};

const char *
status_decode(const char *json, size_t len, struct netd_status *st)
{
	json_error_t	 error;
	json_t		*root;
	const char	*why;

	memset(st, 0, sizeof(*st));
	if (len == 0 || len > STATUS_JSON_MAX)
		return "NETD_STATUS: empty or larger than the cap";
	if ((root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &error)) ==
	    NULL)
		return "NETD_STATUS: not JSON";
	why = decode_object(root, status_fields, nitems(status_fields), st);
	json_decref(root);
	if (why != NULL)
		memset(st, 0, sizeof(*st));
	return why;
}
