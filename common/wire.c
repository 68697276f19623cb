/*
 * wire.c: decoders for every imsg payload, and the names of roles and
 * message types.  Nothing in berth reads imsg data except through here.
 */
#include <stdio.h>
#include <string.h>

#include "berth.h"
#include "wire.h"

static const char *const role_names[ROLE_MAX] = {
	[ROLE_PARENT] = "parent",
	[ROLE_NETD] = "netd",
	[ROLE_BUILDER] = "builder",
	[ROLE_RUNNER] = "runner",
};

static const char *const imsg_type_names[IMSG_TYPE_MAX] = {
	[IMSG_NONE] = "NONE",
	[IMSG_PROC_CONF] = "PROC_CONF",
	[IMSG_PROC_READY] = "PROC_READY",
	[IMSG_PROC_STATUS_REQ] = "PROC_STATUS_REQ",
	[IMSG_PROC_STATUS] = "PROC_STATUS",
	[IMSG_CTL_STATUS] = "CTL_STATUS",
	[IMSG_CTL_PROC] = "CTL_PROC",
	[IMSG_CTL_END] = "CTL_END",
	[IMSG_CTL_ERROR] = "CTL_ERROR",
	[IMSG_CTL_RUN] = "CTL_RUN",
	[IMSG_CTL_RUN_RESULT] = "CTL_RUN_RESULT",
	[IMSG_RUN_REQUEST] = "RUN_REQUEST",
	[IMSG_RUN_RESULT] = "RUN_RESULT",
	[IMSG_AUDIT] = "AUDIT",
};

const char *
role_name(enum berth_role role)
{
	if ((unsigned int)role >= ROLE_MAX)
		return "unknown";
	return role_names[role];
}

int
role_from_name(const char *name, enum berth_role *role)
{
	unsigned int	 i;

	for (i = 0; i < ROLE_MAX; i++) {
		if (strcmp(name, role_names[i]) == 0) {
			*role = i;
			return 0;
		}
	}
	return -1;
}

const char *
imsg_type_name(uint32_t type)
{
	if (type >= IMSG_TYPE_MAX || imsg_type_names[type] == NULL)
		return "unknown";
	return imsg_type_names[type];
}

int
wire_strset(char *dst, size_t dstsize, const char *src)
{
	if (strlcpy(dst, src, dstsize) >= dstsize)
		return -1;
	return 0;
}

static char	 wire_reason[160];

static const char *
wire_check_size(const struct imsg *imsg, size_t want)
{
	if (imsg->hdr.len != want) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: payload of %u bytes, expected %zu",
		    imsg_type_name(imsg->hdr.type), imsg->hdr.len, want);
		return wire_reason;
	}
	if (imsg->fd != -1) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: unexpected descriptor", imsg_type_name(imsg->hdr.type));
		return wire_reason;
	}
	return NULL;
}

/* A fixed string field must end inside its array. */
static const char *
wire_check_string(const struct imsg *imsg, const char *field,
    const char *value, size_t size)
{
	if (memchr(value, '\0', size) == NULL) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: field %s is not terminated",
		    imsg_type_name(imsg->hdr.type), field);
		return wire_reason;
	}
	return NULL;
}

static const char *
wire_check_range(const struct imsg *imsg, const char *field, int64_t value,
    int64_t min, int64_t max)
{
	if (value < min || value > max) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: field %s is %lld, outside %lld..%lld",
		    imsg_type_name(imsg->hdr.type), field, (long long)value,
		    (long long)min, (long long)max);
		return wire_reason;
	}
	return NULL;
}

const char *
wire_decode_empty(const struct imsg *imsg)
{
	return wire_check_size(imsg, 0);
}

const char *
wire_decode_proc_conf(const struct imsg *imsg, struct wire_proc_conf *conf)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*conf))) != NULL)
		return why;
	memcpy(conf, imsg->data, sizeof(*conf));
	if ((why = wire_check_range(imsg, "role", conf->role,
	    ROLE_NETD, ROLE_MAX - 1)) != NULL ||
	    (why = wire_check_range(imsg, "verbose", conf->verbose,
	    0, 3)) != NULL ||
	    (why = wire_check_range(imsg, "foreground", conf->foreground,
	    0, 1)) != NULL ||
	    (why = wire_check_string(imsg, "user", conf->user,
	    sizeof(conf->user))) != NULL ||
	    (why = wire_check_string(imsg, "docker_socket",
	    conf->docker_socket, sizeof(conf->docker_socket))) != NULL ||
	    (why = wire_check_string(imsg, "workspace_root",
	    conf->workspace_root, sizeof(conf->workspace_root))) != NULL)
		return why;
	if (conf->user[0] == '\0')
		return "PROC_CONF: empty user";
	return NULL;
}

const char *
wire_decode_proc_ready(const struct imsg *imsg, struct wire_proc_ready *ready)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*ready))) != NULL)
		return why;
	memcpy(ready, imsg->data, sizeof(*ready));
	if ((why = wire_check_range(imsg, "role", ready->role,
	    ROLE_NETD, ROLE_MAX - 1)) != NULL ||
	    (why = wire_check_range(imsg, "landlock_abi",
	    ready->landlock_abi, 0, 64)) != NULL ||
	    (why = wire_check_range(imsg, "landlock_full",
	    ready->landlock_full, 0, 1)) != NULL ||
	    (why = wire_check_range(imsg, "seccomp", ready->seccomp,
	    0, 1)) != NULL ||
	    (why = wire_check_range(imsg, "netns", ready->netns,
	    0, 1)) != NULL ||
	    (why = wire_check_range(imsg, "mntns", ready->mntns,
	    0, 1)) != NULL)
		return why;
	return NULL;
}

const char *
wire_decode_ctl_proc(const struct imsg *imsg, struct wire_ctl_proc *proc)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*proc))) != NULL)
		return why;
	memcpy(proc, imsg->data, sizeof(*proc));
	if ((why = wire_check_range(imsg, "role", proc->role,
	    ROLE_PARENT, ROLE_MAX - 1)) != NULL ||
	    (why = wire_check_range(imsg, "seccomp_mode",
	    proc->seccomp_mode, 0, 2)) != NULL ||
	    (why = wire_check_range(imsg, "no_new_privs",
	    proc->no_new_privs, 0, 1)) != NULL ||
	    (why = wire_check_range(imsg, "landlock_abi",
	    proc->landlock_abi, 0, 64)) != NULL ||
	    (why = wire_check_range(imsg, "landlock_full",
	    proc->landlock_full, 0, 1)) != NULL ||
	    (why = wire_check_string(imsg, "user", proc->user,
	    sizeof(proc->user))) != NULL)
		return why;
	return NULL;
}

const char *
wire_decode_ctl_error(const struct imsg *imsg, struct wire_ctl_error *error)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*error))) != NULL)
		return why;
	memcpy(error, imsg->data, sizeof(*error));
	return wire_check_string(imsg, "message", error->message,
	    sizeof(error->message));
}

const char *
wire_decode_audit(const struct imsg *imsg, struct wire_audit *audit)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*audit))) != NULL)
		return why;
	memcpy(audit, imsg->data, sizeof(*audit));
	if ((why = wire_check_string(imsg, "task", audit->task,
	    sizeof(audit->task))) != NULL ||
	    (why = wire_check_string(imsg, "operation", audit->operation,
	    sizeof(audit->operation))) != NULL ||
	    (why = wire_check_string(imsg, "object", audit->object,
	    sizeof(audit->object))) != NULL ||
	    (why = wire_check_string(imsg, "policy_hash", audit->policy_hash,
	    sizeof(audit->policy_hash))) != NULL ||
	    (why = wire_check_string(imsg, "request_hash",
	    audit->request_hash, sizeof(audit->request_hash))) != NULL ||
	    (why = wire_check_string(imsg, "result", audit->result,
	    sizeof(audit->result))) != NULL)
		return why;
	if (audit->operation[0] == '\0')
		return "AUDIT: empty operation";
	return NULL;
}

const char *
wire_decode_json(const struct imsg *imsg, size_t cap, int allow_fd)
{
	if (imsg->hdr.len == 0 || imsg->hdr.len > cap) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: JSON payload of %u bytes, allowed 1..%zu",
		    imsg_type_name(imsg->hdr.type), imsg->hdr.len, cap);
		return wire_reason;
	}
	if (imsg->fd != -1 && !allow_fd) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: unexpected descriptor", imsg_type_name(imsg->hdr.type));
		return wire_reason;
	}
	if (memchr(imsg->data, '\0', imsg->hdr.len) != NULL) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "%s: NUL byte inside JSON", imsg_type_name(imsg->hdr.type));
		return wire_reason;
	}
	return NULL;
}
