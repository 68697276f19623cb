/*
 * wire.c: decoders for every imsg payload, and the names of roles and
 * message types.  Nothing in berth reads imsg data except through here.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "berth.h"
#include "policy.h"
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
	[IMSG_POLICY] = "POLICY",
	[IMSG_BUILD_REQUEST] = "BUILD_REQUEST",
	[IMSG_BUILD_CONTEXT] = "BUILD_CONTEXT",
	[IMSG_BUILD_LOG] = "BUILD_LOG",
	[IMSG_BUILD_DONE] = "BUILD_DONE",
	[IMSG_NETD_STATUS] = "NETD_STATUS",
	[IMSG_NETD_RESOLVER] = "NETD_RESOLVER",
	[IMSG_NETD_IDENTITY] = "NETD_IDENTITY",
	[IMSG_NETD_ENROLLED] = "NETD_ENROLLED",
	[IMSG_NETD_REENROL] = "NETD_REENROL",
	[IMSG_NETD_NODE] = "NETD_NODE",
	[IMSG_TASK_OFFER] = "TASK_OFFER",
	[IMSG_TASK_ACCEPT] = "TASK_ACCEPT",
	[IMSG_TASK_ANSWER] = "TASK_ANSWER",
	[IMSG_EVENT_SEND] = "EVENT_SEND",
	[IMSG_EVENT_ACKED] = "EVENT_ACKED",
	[IMSG_NETD_SIGNED] = "NETD_SIGNED",
	[IMSG_CTL_PROGRESS] = "CTL_PROGRESS",
	[IMSG_CTL_TASKS_REQ] = "CTL_TASKS_REQ",
	[IMSG_CTL_TASK] = "CTL_TASK",
	[IMSG_CTL_TASKS_END] = "CTL_TASKS_END",
	[IMSG_CTL_TASK_REQ] = "CTL_TASK_REQ",
	[IMSG_CTL_TASK_BODY] = "CTL_TASK_BODY",
	[IMSG_CTL_TASK_EVENT] = "CTL_TASK_EVENT",
	[IMSG_CTL_POLICY_REQ] = "CTL_POLICY_REQ",
	[IMSG_CTL_POLICY] = "CTL_POLICY",
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

/* A numeric IPv4 or IPv6 address, as inet_pton(3) reads it. */
static int
wire_numeric_addr(const char *addr)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;

	return inet_pton(AF_INET, addr, &in4) == 1 ||
	    inet_pton(AF_INET6, addr, &in6) == 1;
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

/* netd's listener: a port, and with a port a numeric address. */
static const char *
wire_check_listen(const struct imsg *imsg, const struct wire_proc_conf *conf)
{
	const char	*why;

	if ((why = wire_check_string(imsg, "listen_addr", conf->listen_addr,
	    sizeof(conf->listen_addr))) != NULL ||
	    (why = wire_check_range(imsg, "listen_port", conf->listen_port,
	    0, 65535)) != NULL)
		return why;
	if (conf->listen_port != 0 && !wire_numeric_addr(conf->listen_addr))
		return "PROC_CONF: listen_addr is not a numeric address";
	return NULL;
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
	    (why = wire_check_range(imsg, "protocol", conf->protocol,
	    0, PROTO_MAX - 1)) != NULL ||
	    (why = wire_check_string(imsg, "user", conf->user,
	    sizeof(conf->user))) != NULL ||
	    (why = wire_check_string(imsg, "docker_socket",
	    conf->docker_socket, sizeof(conf->docker_socket))) != NULL ||
	    (why = wire_check_string(imsg, "workspace_root",
	    conf->workspace_root, sizeof(conf->workspace_root))) != NULL ||
	    (why = wire_check_string(imsg, "node_label", conf->node_label,
	    sizeof(conf->node_label))) != NULL ||
	    (why = wire_check_string(imsg, "ca_file", conf->ca_file,
	    sizeof(conf->ca_file))) != NULL)
		return why;
	if (conf->ca_file[0] != '\0' && conf->ca_file[0] != '/')
		return "PROC_CONF: ca_file is not absolute";
	if (conf->user[0] == '\0')
		return "PROC_CONF: empty user";
	return wire_check_listen(imsg, conf);
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

/* A host name as /etc/hosts may hold one: letters, digits, '-', '_', '.'. */
static int
wire_hostname_valid(const char *name)
{
	size_t	 len = strlen(name), i;

	if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		if ((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '_' || name[i] == '.')
			continue;
		return 0;
	}
	return 1;
}

/* Nothing may hide in the unused tail of a fixed array. */
static int
wire_all_zero(const void *p, size_t len)
{
	const unsigned char	*c = p;

	while (len-- > 0)
		if (*c++ != 0)
			return 0;
	return 1;
}

static const char *
wire_check_nameservers(const struct imsg *imsg,
    const struct wire_resolver *res)
{
	const char	*why;
	uint32_t	 i;

	if ((why = wire_check_range(imsg, "nnameservers", res->nnameservers,
	    0, WIRE_RESOLVER_NS_MAX)) != NULL)
		return why;
	for (i = 0; i < res->nnameservers; i++) {
		if ((why = wire_check_string(imsg, "nameserver",
		    res->nameservers[i], sizeof(res->nameservers[i]))) != NULL)
			return why;
		if (!wire_numeric_addr(res->nameservers[i]))
			return "NETD_RESOLVER: nameserver is not a numeric "
			    "address";
	}
	if (!wire_all_zero(&res->nameservers[i],
	    (WIRE_RESOLVER_NS_MAX - i) * sizeof(res->nameservers[0])))
		return "NETD_RESOLVER: data after the last nameserver";
	return NULL;
}

static const char *
wire_check_hosts(const struct imsg *imsg, const struct wire_resolver *res)
{
	const struct wire_resolver_host	*host;
	const char			*why;
	uint32_t			 i;

	if ((why = wire_check_range(imsg, "nhosts", res->nhosts,
	    0, WIRE_RESOLVER_HOSTS_MAX)) != NULL)
		return why;
	for (i = 0; i < res->nhosts; i++) {
		host = &res->hosts[i];
		if ((why = wire_check_string(imsg, "host name", host->name,
		    sizeof(host->name))) != NULL ||
		    (why = wire_check_string(imsg, "host addr", host->addr,
		    sizeof(host->addr))) != NULL)
			return why;
		if (!wire_hostname_valid(host->name))
			return "NETD_RESOLVER: bad host name";
		if (!wire_numeric_addr(host->addr))
			return "NETD_RESOLVER: host address is not numeric";
	}
	if (!wire_all_zero(&res->hosts[i],
	    (WIRE_RESOLVER_HOSTS_MAX - i) * sizeof(res->hosts[0])))
		return "NETD_RESOLVER: data after the last host";
	return NULL;
}

const char *
wire_decode_resolver(const struct imsg *imsg, struct wire_resolver *res)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*res))) != NULL)
		return why;
	memcpy(res, imsg->data, sizeof(*res));
	if ((why = wire_check_nameservers(imsg, res)) != NULL ||
	    (why = wire_check_hosts(imsg, res)) != NULL)
		return why;
	return NULL;
}

/* --- the native control-plane protocol -------------------------------- */

#define WIRE_ID_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
			"0123456789_-"
/* Bearer tokens of every dialect (JWTs, base64): no space, no control. */
#define WIRE_TOKEN_CHARS	WIRE_ID_CHARS ".~+/="

int
wire_id_valid(const char *id)
{
	size_t	 len = strlen(id);

	if (len == 0 || len > 64)
		return 0;
	return strspn(id, WIRE_ID_CHARS) == len;
}

/*
 * A credential: the id characters of PROTOCOL.md 3.1 and those of the
 * dialects' tokens, up to WIRE_CREDENTIAL_LEN - 1, or empty.
 */
static const char *
wire_check_credential(const struct imsg *imsg, const char *value, size_t size,
    int allow_empty)
{
	const char	*why;
	size_t		 len;

	if ((why = wire_check_string(imsg, "credential", value, size)) != NULL)
		return why;
	len = strlen(value);
	if ((len == 0 && allow_empty) ||
	    (len > 0 && strspn(value, WIRE_TOKEN_CHARS) == len))
		return NULL;
	(void)snprintf(wire_reason, sizeof(wire_reason),
	    "%s: field credential is malformed",
	    imsg_type_name(imsg->hdr.type));
	return wire_reason;
}

/* An id field: terminated, and empty only where allow_empty says so. */
static const char *
wire_check_id(const struct imsg *imsg, const char *field, const char *value,
    size_t size, int allow_empty)
{
	const char	*why;

	if ((why = wire_check_string(imsg, field, value, size)) != NULL)
		return why;
	if ((value[0] == '\0' && allow_empty) || wire_id_valid(value))
		return NULL;
	(void)snprintf(wire_reason, sizeof(wire_reason),
	    "%s: field %s is not an id", imsg_type_name(imsg->hdr.type), field);
	return wire_reason;
}

/* Lowercase hex of a SHA-256, or empty. */
static const char *
wire_check_hex(const struct imsg *imsg, const char *field, const char *value,
    size_t size)
{
	const char	*why;
	size_t		 len;

	if ((why = wire_check_string(imsg, field, value, size)) != NULL)
		return why;
	len = strlen(value);
	if (len == 0 || (len == 64 &&
	    strspn(value, "0123456789abcdef") == 64))
		return NULL;
	(void)snprintf(wire_reason, sizeof(wire_reason),
	    "%s: field %s is not a SHA-256", imsg_type_name(imsg->hdr.type),
	    field);
	return wire_reason;
}

const char *
wire_decode_netd_identity(const struct imsg *imsg,
    struct wire_netd_identity *id)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*id))) != NULL)
		return why;
	memcpy(id, imsg->data, sizeof(*id));
	if ((why = wire_check_id(imsg, "node_id", id->node_id,
	    sizeof(id->node_id), 1)) != NULL ||
	    (why = wire_check_credential(imsg, id->credential,
	    sizeof(id->credential), 1)) != NULL ||
	    (why = wire_check_string(imsg, "token", id->token,
	    sizeof(id->token))) != NULL ||
	    (why = wire_check_string(imsg, "url", id->url,
	    sizeof(id->url))) != NULL ||
	    (why = wire_check_string(imsg, "node_name", id->node_name,
	    sizeof(id->node_name))) != NULL ||
	    (why = wire_check_hex(imsg, "binary_sha256", id->binary_sha256,
	    sizeof(id->binary_sha256))) != NULL ||
	    (why = wire_check_hex(imsg, "policy_hash", id->policy_hash,
	    sizeof(id->policy_hash))) != NULL ||
	    (why = wire_check_range(imsg, "heartbeat_sec", id->heartbeat_sec,
	    1, 3600)) != NULL ||
	    (why = wire_check_range(imsg, "poll_interval_ms",
	    id->poll_interval_ms, 100, 3600000)) != NULL ||
	    (why = wire_check_string(imsg, "pin_sha256", id->pin_sha256,
	    sizeof(id->pin_sha256))) != NULL)
		return why;
	/* Only the "sha256//" form: anything else libcurl takes for a file. */
	if (id->pin_sha256[0] != '\0' &&
	    strncmp(id->pin_sha256, "sha256//", 8) != 0)
		return "NETD_IDENTITY: pin_sha256 is not sha256//...";
	if ((id->node_id[0] == '\0') != (id->credential[0] == '\0'))
		return "NETD_IDENTITY: node_id without credential or back";
	if (strncmp(id->url, "http://", 7) != 0 &&
	    strncmp(id->url, "https://", 8) != 0)
		return "NETD_IDENTITY: url is not http or https";
	return NULL;
}

const char *
wire_decode_netd_enrolled(const struct imsg *imsg,
    struct wire_netd_enrolled *en)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*en))) != NULL)
		return why;
	memcpy(en, imsg->data, sizeof(*en));
	if ((why = wire_check_id(imsg, "node_id", en->node_id,
	    sizeof(en->node_id), 0)) != NULL ||
	    (why = wire_check_credential(imsg, en->credential,
	    sizeof(en->credential), 0)) != NULL ||
	    (why = wire_check_range(imsg, "tasks_signed", en->tasks_signed,
	    0, 1)) != NULL ||
	    (why = wire_check_range(imsg, "heartbeat_sec", en->heartbeat_sec,
	    1, 3600)) != NULL ||
	    (why = wire_check_range(imsg, "poll_timeout_sec",
	    en->poll_timeout_sec, 0, 60)) != NULL ||
	    (why = wire_check_range(imsg, "retry_max_sec", en->retry_max_sec,
	    1, 3600)) != NULL)
		return why;
	return NULL;
}

const char *
wire_decode_netd_node(const struct imsg *imsg, struct wire_netd_node *node)
{
	const char	*why;
	char		 field[32];
	uint32_t	 i;

	if ((why = wire_check_size(imsg, sizeof(*node))) != NULL)
		return why;
	memcpy(node, imsg->data, sizeof(*node));
	if ((why = wire_check_hex(imsg, "audit_head", node->audit_head,
	    sizeof(node->audit_head))) != NULL ||
	    (why = wire_check_range(imsg, "ntasks", node->ntasks, 0,
	    WIRE_TASKS_RUNNING_MAX)) != NULL)
		return why;
	for (i = 0; i < node->ntasks; i++) {
		(void)snprintf(field, sizeof(field), "tasks_running[%u]", i);
		if ((why = wire_check_id(imsg, field, node->tasks_running[i],
		    sizeof(node->tasks_running[i]), 0)) != NULL)
			return why;
	}
	if (!wire_all_zero(node->tasks_running[i],
	    (WIRE_TASKS_RUNNING_MAX - i) * sizeof(node->tasks_running[0])))
		return "NETD_NODE: data after the last task";
	return NULL;
}

const char *
wire_decode_task_ref(const struct imsg *imsg, struct wire_task_ref *ref)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*ref))) != NULL)
		return why;
	memcpy(ref, imsg->data, sizeof(*ref));
	if ((why = wire_check_id(imsg, "task_id", ref->task_id,
	    sizeof(ref->task_id), 0)) != NULL ||
	    (why = wire_check_range(imsg, "not_after", ref->not_after, 0,
	    (INT64_C(1) << 53) - 1)) != NULL)
		return why;
	return NULL;
}

const char *
wire_decode_task_answer(const struct imsg *imsg, struct wire_task_answer *ans)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*ans))) != NULL)
		return why;
	memcpy(ans, imsg->data, sizeof(*ans));
	if ((why = wire_check_id(imsg, "task_id", ans->task_id,
	    sizeof(ans->task_id), 0)) != NULL ||
	    (why = wire_check_range(imsg, "outcome", ans->outcome, 0,
	    TASK_ANSWER_MAX - 1)) != NULL ||
	    (why = wire_check_string(imsg, "reason", ans->reason,
	    sizeof(ans->reason))) != NULL)
		return why;
	return NULL;
}

/* PROTOCOL.md 5.7: the states and stages an event may name. */
static int
wire_word_in(const char *word, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(word, *list) == 0)
			return 1;
	return 0;
}

const char *
wire_decode_event(const struct imsg *imsg, struct wire_event *ev)
{
	static const char *const states[] = { "running", "succeeded",
	    "failed", "cancelled", "rejected", NULL };
	static const char *const stages[] = { "", "verify", "admission",
	    "clone", "detect", "build", "pull", "create", "start", "health",
	    "switch", "stop", "remove", "scale", "run", "logs", "cleanup",
	    NULL };
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*ev))) != NULL)
		return why;
	memcpy(ev, imsg->data, sizeof(*ev));
	if ((why = wire_check_id(imsg, "task_id", ev->task_id,
	    sizeof(ev->task_id), 0)) != NULL ||
	    (why = wire_check_range(imsg, "seq", ev->seq, 1,
	    INT32_MAX)) != NULL ||
	    (why = wire_check_range(imsg, "time", ev->time, 0,
	    (INT64_C(1) << 53) - 1)) != NULL ||
	    (why = wire_check_string(imsg, "state", ev->state,
	    sizeof(ev->state))) != NULL ||
	    (why = wire_check_string(imsg, "stage", ev->stage,
	    sizeof(ev->stage))) != NULL ||
	    (why = wire_check_string(imsg, "message", ev->message,
	    sizeof(ev->message))) != NULL ||
	    (why = wire_check_range(imsg, "has_exit_code", ev->has_exit_code,
	    0, 1)) != NULL)
		return why;
	if (!wire_word_in(ev->state, states))
		return "EVENT_SEND: unknown state";
	if (!wire_word_in(ev->stage, stages))
		return "EVENT_SEND: unknown stage";
	return NULL;
}

const char *
wire_decode_event_ack(const struct imsg *imsg, struct wire_event_ack *ack)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*ack))) != NULL)
		return why;
	memcpy(ack, imsg->data, sizeof(*ack));
	if ((why = wire_check_id(imsg, "task_id", ack->task_id,
	    sizeof(ack->task_id), 0)) != NULL ||
	    (why = wire_check_range(imsg, "acked_seq", ack->acked_seq, 1,
	    INT32_MAX)) != NULL)
		return why;
	return NULL;
}

/* One printable line: what berthctl prints as it is. */
static const char *
wire_check_line(const struct imsg *imsg, const char *field, const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			(void)snprintf(wire_reason, sizeof(wire_reason),
			    "%s: field %s holds a control character",
			    imsg_type_name(imsg->hdr.type), field);
			return wire_reason;
		}
	return NULL;
}

const char *
wire_decode_ctl_progress(const struct imsg *imsg,
    struct wire_ctl_progress *progress)
{
	const char	*why;
	size_t		 n;

	if ((why = wire_check_size(imsg, sizeof(*progress))) != NULL)
		return why;
	memcpy(progress, imsg->data, sizeof(*progress));
	if ((why = wire_check_string(imsg, "stage", progress->stage,
	    sizeof(progress->stage))) != NULL ||
	    (why = wire_check_string(imsg, "text", progress->text,
	    sizeof(progress->text))) != NULL ||
	    (why = wire_check_line(imsg, "stage", progress->stage)) != NULL ||
	    (why = wire_check_line(imsg, "text", progress->text)) != NULL)
		return why;
	n = strlen(progress->stage);
	if (!wire_all_zero(progress->stage + n, sizeof(progress->stage) - n))
		return "CTL_PROGRESS: data after the stage";
	n = strlen(progress->text);
	if (!wire_all_zero(progress->text + n, sizeof(progress->text) - n))
		return "CTL_PROGRESS: data after the text";
	return NULL;
}

/* --- berthctl tasks, task ID, policy ---------------------------------- */

static int
wire_journal_state_valid(const char *state)
{
	static const char *const states[] = { "received", "accepted",
	    "running", "finished", "closed", "refused", NULL };

	return wire_word_in(state, states);
}

/* An event's state or stage as the journal kept it: a-z only, or "". */
static int
wire_lower_word(const char *word)
{
	return strspn(word, "abcdefghijklmnopqrstuvwxyz") == strlen(word);
}

/* A string field berthctl prints: terminated and one printable line. */
static const char *
wire_check_text(const struct imsg *imsg, const char *field, const char *value,
    size_t size)
{
	const char	*why;

	if ((why = wire_check_string(imsg, field, value, size)) != NULL)
		return why;
	return wire_check_line(imsg, field, value);
}

const char *
wire_decode_ctl_tasks_req(const struct imsg *imsg,
    struct wire_ctl_tasks_req *req)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*req))) != NULL)
		return why;
	memcpy(req, imsg->data, sizeof(*req));
	return wire_check_range(imsg, "all", req->all, 0, 1);
}

const char *
wire_decode_ctl_task_req(const struct imsg *imsg,
    struct wire_ctl_task_req *req)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*req))) != NULL)
		return why;
	memcpy(req, imsg->data, sizeof(*req));
	return wire_check_id(imsg, "task_id", req->task_id,
	    sizeof(req->task_id), 0);
}

static const char *
wire_check_task_times(const struct imsg *imsg, const struct wire_ctl_task *t)
{
	const int64_t	 max = (INT64_C(1) << 53) - 1;
	const char	*why;

	if ((why = wire_check_range(imsg, "seq", t->seq, 1, max)) != NULL ||
	    (why = wire_check_range(imsg, "not_after", t->not_after, -max,
	    max)) != NULL ||
	    (why = wire_check_range(imsg, "received", t->received, 0,
	    max)) != NULL ||
	    (why = wire_check_range(imsg, "updated", t->updated, 0,
	    max)) != NULL ||
	    (why = wire_check_range(imsg, "event_time", t->event_time, 0,
	    max)) != NULL ||
	    (why = wire_check_range(imsg, "event_seq", t->event_seq, 0,
	    INT32_MAX)) != NULL ||
	    (why = wire_check_range(imsg, "spooled", t->spooled, 0,
	    t->event_seq)) != NULL)
		return why;
	return NULL;
}

const char *
wire_decode_ctl_task(const struct imsg *imsg, struct wire_ctl_task *t)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*t))) != NULL)
		return why;
	memcpy(t, imsg->data, sizeof(*t));
	if ((why = wire_check_id(imsg, "task_id", t->task_id,
	    sizeof(t->task_id), 0)) != NULL ||
	    (why = wire_check_text(imsg, "kind", t->kind,
	    sizeof(t->kind))) != NULL ||
	    (why = wire_check_text(imsg, "app", t->app,
	    sizeof(t->app))) != NULL ||
	    (why = wire_check_text(imsg, "state", t->state,
	    sizeof(t->state))) != NULL ||
	    (why = wire_check_text(imsg, "event_state", t->event_state,
	    sizeof(t->event_state))) != NULL ||
	    (why = wire_check_text(imsg, "event_stage", t->event_stage,
	    sizeof(t->event_stage))) != NULL ||
	    (why = wire_check_text(imsg, "event_message", t->event_message,
	    sizeof(t->event_message))) != NULL ||
	    (why = wire_check_task_times(imsg, t)) != NULL)
		return why;
	if (!wire_journal_state_valid(t->state))
		return "CTL_TASK: unknown journal state";
	if (!wire_lower_word(t->event_state) ||
	    !wire_lower_word(t->event_stage))
		return "CTL_TASK: event state or stage is not a word";
	if (t->event_state[0] == '\0' && (t->event_stage[0] != '\0' ||
	    t->event_message[0] != '\0' || t->event_time != 0))
		return "CTL_TASK: an event stage or message without an event";
	return NULL;
}

const char *
wire_decode_ctl_tasks_end(const struct imsg *imsg,
    struct wire_ctl_tasks_end *end)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*end))) != NULL)
		return why;
	memcpy(end, imsg->data, sizeof(*end));
	if ((why = wire_check_range(imsg, "journal", end->journal, 0,
	    1)) != NULL ||
	    (why = wire_check_range(imsg, "listed", end->listed, 0,
	    WIRE_CTL_TASKS_MAX)) != NULL ||
	    (why = wire_check_range(imsg, "total", end->total, end->listed,
	    UINT32_MAX)) != NULL)
		return why;
	if (!end->journal && end->total != 0)
		return "CTL_TASKS_END: tasks without a journal";
	return NULL;
}

/* No env entry marked secret may carry its value to berthctl. */
static int
wire_task_body_has_secret(json_t *task)
{
	json_t	*env, *entry;
	size_t	 i;

	env = json_object_get(json_object_get(task, "spec"), "env");
	json_array_foreach(env, i, entry)
		if (json_is_true(json_object_get(entry, "secret")) &&
		    json_object_get(entry, "value") != NULL)
			return 1;
	return 0;
}

const char *
wire_decode_ctl_task_body(const struct imsg *imsg, json_t **out)
{
	json_t		*task;
	const char	*why, *id;

	*out = NULL;
	if ((why = wire_decode_json(imsg, WIRE_CTL_TASK_BODY_MAX, 0)) != NULL)
		return why;
	if ((task = json_loadb(imsg->data, imsg->hdr.len,
	    JSON_REJECT_DUPLICATES, NULL)) == NULL)
		return "CTL_TASK_BODY: not JSON";
	if (!json_is_object(task) ||
	    (id = json_string_value(json_object_get(task, "id"))) == NULL ||
	    !wire_id_valid(id)) {
		json_decref(task);
		return "CTL_TASK_BODY: not a task object with an id";
	}
	if (wire_task_body_has_secret(task)) {
		json_decref(task);
		return "CTL_TASK_BODY: holds the value of a secret";
	}
	*out = task;
	return NULL;
}

const char *
wire_decode_ctl_policy(const struct imsg *imsg, struct wire_ctl_policy *p)
{
	const char	*why;

	if ((why = wire_check_size(imsg, sizeof(*p))) != NULL)
		return why;
	memcpy(p, imsg->data, sizeof(*p));
	if ((why = policy_validate(&p->policy)) != NULL) {
		(void)snprintf(wire_reason, sizeof(wire_reason),
		    "CTL_POLICY: %s", why);
		return wire_reason;
	}
	if ((why = wire_check_hex(imsg, "policy_hash", p->policy_hash,
	    sizeof(p->policy_hash))) != NULL)
		return why;
	if (p->policy_hash[0] == '\0')
		return "CTL_POLICY: empty policy_hash";
	return NULL;
}
