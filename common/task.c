/*
 * task.c: the strict decoder of native-protocol tasks and their
 * signatures (see task.h, PROTOCOL.md 5.1-5.3).  First one walk over the
 * whole value checks what the canonical form allows (keys, types, no
 * floats or nulls, control characters); then each member is checked
 * against the table of its kind.  Any member not in a table is refused.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <openssl/evp.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "task.h"
#include "wire.h"

#define TASK_DEPTH_MAX		32
#define TASK_INT_MAX		((INT64_C(1) << 53) - 1)
#define TASK_DOMAIN		"berth-task-v1\n"

static const char *const task_kind_names[TASK_KIND_MAX] = {
	[TASK_DEPLOY] = "deploy",
	[TASK_START] = "start",
	[TASK_STOP] = "stop",
	[TASK_RESTART] = "restart",
	[TASK_REMOVE] = "remove",
	[TASK_SCALE] = "scale",
	[TASK_RUN] = "run",
	[TASK_LOGS] = "logs",
};

struct task_err {
	char	*buf;
	size_t	 len;
};

static int __attribute__((__format__(printf, 2, 3)))
task_fail(struct task_err *e, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(e->buf, e->len, fmt, ap);
	va_end(ap);
	return -1;
}

const char *
task_kind_name(enum task_kind kind)
{
	if ((unsigned int)kind >= TASK_KIND_MAX)
		return "unknown";
	return task_kind_names[kind];
}

/* --- what the canonical form allows, everywhere ----------------------- */

static int
task_key_valid(const char *key)
{
	size_t	 len = strlen(key);

	return len > 0 && strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_")
	    == len;
}

/* No control characters but tab, LF and CR (anything stricter is per field). */
static int
task_text_valid(const char *s, size_t len, int allow_space_controls)
{
	size_t		 i;
	unsigned char	 c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == 0x7f || c == '\0')
			return 0;
		if (c < 0x20 && !(allow_space_controls &&
		    (c == '\t' || c == '\n' || c == '\r')))
			return 0;
	}
	return 1;
}

static int
task_walk(json_t *v, int depth, const char *path, struct task_err *e)
{
	const char	*key;
	json_t		*child;
	size_t		 i;
	char		 sub[128];

	if (depth > TASK_DEPTH_MAX)
		return task_fail(e, "%s: nested too deep", path);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		json_object_foreach(v, key, child) {
			if (!task_key_valid(key))
				return task_fail(e, "%s: key \"%.32s\" is not "
				    "[a-z0-9_]", path, key);
			(void)snprintf(sub, sizeof(sub), "%s.%s", path, key);
			if (task_walk(child, depth + 1, sub, e) == -1)
				return -1;
		}
		return 0;
	case JSON_ARRAY:
		json_array_foreach(v, i, child) {
			(void)snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			if (task_walk(child, depth + 1, sub, e) == -1)
				return -1;
		}
		return 0;
	case JSON_INTEGER:
		if (json_integer_value(v) > TASK_INT_MAX ||
		    json_integer_value(v) < -TASK_INT_MAX)
			return task_fail(e, "%s: integer out of range", path);
		return 0;
	case JSON_STRING:
		if (!task_text_valid(json_string_value(v),
		    json_string_length(v), 1))
			return task_fail(e, "%s: control character", path);
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		return 0;
	default:
		return task_fail(e, "%s: floats and null are not allowed",
		    path);
	}
}

/* Every member of obj must be named in allowed. */
static int
task_members(json_t *obj, const char *const *allowed, const char *path,
    struct task_err *e)
{
	const char	*key;
	json_t		*child;
	size_t		 i;

	json_object_foreach(obj, key, child) {
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return task_fail(e, "%s.%s: unknown member", path,
			    key);
	}
	return 0;
}

/* --- typed members ---------------------------------------------------- */

/* An integer member in [min, max]; absent leaves *out alone. */
static int
task_int(json_t *obj, const char *key, int64_t min, int64_t max,
    int required, int64_t *out, const char *path, struct task_err *e)
{
	json_t	*v = json_object_get(obj, key);

	if (v == NULL)
		return required ? task_fail(e, "%s.%s: missing", path, key) : 0;
	if (!json_is_integer(v))
		return task_fail(e, "%s.%s: not an integer", path, key);
	if (json_integer_value(v) < min || json_integer_value(v) > max)
		return task_fail(e, "%s.%s: outside %lld..%lld", path, key,
		    (long long)min, (long long)max);
	*out = json_integer_value(v);
	return 0;
}

static int
task_bool(json_t *obj, const char *key, int *out, const char *path,
    struct task_err *e)
{
	json_t	*v = json_object_get(obj, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return task_fail(e, "%s.%s: not a boolean", path, key);
	*out = json_is_true(v);
	return 0;
}

/*
 * A string member of at most max bytes, without control characters
 * unless controls; absent gives "" (or fails when required).
 */
static int
task_str(json_t *obj, const char *key, size_t max, int required,
    int controls, const char **out, const char *path, struct task_err *e)
{
	json_t	*v = json_object_get(obj, key);

	*out = "";
	if (v == NULL)
		return required ? task_fail(e, "%s.%s: missing", path, key) : 0;
	if (!json_is_string(v))
		return task_fail(e, "%s.%s: not a string", path, key);
	if (json_string_length(v) > max)
		return task_fail(e, "%s.%s: longer than %zu bytes", path, key,
		    max);
	if (!task_text_valid(json_string_value(v), json_string_length(v),
	    controls))
		return task_fail(e, "%s.%s: control character", path, key);
	*out = json_string_value(v);
	return 0;
}

static int
task_charset(const char *s, const char *first, const char *rest)
{
	size_t	 len = strlen(s);

	if (len == 0 || strchr(first, s[0]) == NULL)
		return 0;
	return strspn(s + 1, rest) == len - 1;
}

#define ALNUM	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
#define LOWNUM	"abcdefghijklmnopqrstuvwxyz0123456789"

static int
task_app_valid(const char *s)
{
	return strlen(s) <= 63 && task_charset(s, LOWNUM, LOWNUM "_.-");
}

static int
task_image_valid(const char *s)
{
	return strlen(s) <= 512 && task_charset(s, ALNUM, ALNUM "._/:@-");
}

static int
task_ip_valid(const char *s)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;

	return inet_pton(AF_INET, s, &in4) == 1 ||
	    inet_pton(AF_INET6, s, &in6) == 1;
}

/* A string array of 1..max entries, each at most len bytes. */
static int
task_argv(json_t *obj, const char *key, size_t max, size_t len,
    const char **argv, size_t *n, const char *path, struct task_err *e)
{
	json_t	*v = json_object_get(obj, key), *arg;
	size_t	 i;

	if (v == NULL)
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > max)
		return task_fail(e, "%s.%s: not a list of 1..%zu strings",
		    path, key, max);
	json_array_foreach(v, i, arg) {
		if (!json_is_string(arg) || json_string_length(arg) > len)
			return task_fail(e, "%s.%s[%zu]: not a string of at "
			    "most %zu bytes", path, key, i, len);
		if (argv != NULL)
			argv[i] = json_string_value(arg);
	}
	if (n != NULL)
		*n = json_array_size(v);
	return 0;
}

/* --- spec members shared by several kinds ----------------------------- */

static int
task_env(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	static const char *const members[] = { "name", "value", "secret",
	    NULL };
	json_t		*list = json_object_get(spec, "env"), *item;
	size_t		 i, j;
	char		 path[64];

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > TASK_ENV_MAX)
		return task_fail(e, "spec.env: not a list of at most %d",
		    TASK_ENV_MAX);
	json_array_foreach(list, i, item) {
		struct task_env	*env = &ts->env[i];

		(void)snprintf(path, sizeof(path), "spec.env[%zu]", i);
		if (!json_is_object(item) ||
		    task_members(item, members, path, e) == -1 ||
		    task_str(item, "name", 128, 1, 0, &env->name, path,
		    e) == -1 ||
		    task_str(item, "value", 32768, 1, 1, &env->value, path,
		    e) == -1 ||
		    task_bool(item, "secret", &env->secret, path, e) == -1)
			return json_is_object(item) ? -1 :
			    task_fail(e, "%s: not an object", path);
		if (!task_charset(env->name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz_", ALNUM "_"))
			return task_fail(e, "%s.name: not a variable name",
			    path);
		for (j = 0; j < i; j++)
			if (strcmp(ts->env[j].name, env->name) == 0)
				return task_fail(e, "%s.name: repeated", path);
		ts->nenv = i + 1;
	}
	return 0;
}

static int
task_port(json_t *item, struct task_port *port, const char *path,
    struct task_err *e)
{
	static const char *const members[] = { "container_port", "host_port",
	    "protocol", "host_ip", NULL };
	const char	*proto;
	int64_t		 cport = 0, hport = 0;

	if (!json_is_object(item))
		return task_fail(e, "%s: not an object", path);
	if (task_members(item, members, path, e) == -1 ||
	    task_int(item, "container_port", 1, 65535, 1, &cport, path,
	    e) == -1 ||
	    task_int(item, "host_port", 0, 65535, 0, &hport, path, e) == -1 ||
	    task_str(item, "protocol", 3, 0, 0, &proto, path, e) == -1 ||
	    task_str(item, "host_ip", 45, 0, 0, &port->host_ip, path,
	    e) == -1)
		return -1;
	if (proto[0] != '\0' && strcmp(proto, "tcp") != 0 &&
	    strcmp(proto, "udp") != 0)
		return task_fail(e, "%s.protocol: not tcp or udp", path);
	if (port->host_ip[0] != '\0' && !task_ip_valid(port->host_ip))
		return task_fail(e, "%s.host_ip: not an IP address", path);
	port->container_port = (uint32_t)cport;
	port->host_port = (uint32_t)hport;
	port->udp = strcmp(proto, "udp") == 0;
	return 0;
}

static int
task_ports(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	json_t	*list = json_object_get(spec, "ports"), *item;
	size_t	 i;
	char	 path[64];

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > TASK_PORTS_MAX)
		return task_fail(e, "spec.ports: not a list of at most %d",
		    TASK_PORTS_MAX);
	json_array_foreach(list, i, item) {
		(void)snprintf(path, sizeof(path), "spec.ports[%zu]", i);
		if (task_port(item, &ts->ports[i], path, e) == -1)
			return -1;
		ts->nports = i + 1;
	}
	return 0;
}

static int
task_health(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	static const char *const members[] = { "type", "path", "port", "cmd",
	    "interval_sec", "timeout_sec", "retries", "start_period_sec",
	    NULL };
	json_t		*h = json_object_get(spec, "health");
	const char	*type, *hpath, *p = "spec.health";
	int64_t		 port = 0, unused;

	if (h == NULL)
		return 0;
	if (!json_is_object(h))
		return task_fail(e, "%s: not an object", p);
	if (task_members(h, members, p, e) == -1 ||
	    task_str(h, "type", 4, 1, 0, &type, p, e) == -1 ||
	    task_str(h, "path", 1024, 0, 0, &hpath, p, e) == -1 ||
	    task_int(h, "port", 1, 65535, 0, &port, p, e) == -1 ||
	    task_argv(h, "cmd", TASK_CMD_MAX, 4096, NULL, NULL, p, e) == -1 ||
	    task_int(h, "interval_sec", 1, 3600, 0, &unused, p, e) == -1 ||
	    task_int(h, "timeout_sec", 1, 3600, 0, &unused, p, e) == -1 ||
	    task_int(h, "retries", 0, 100, 0, &unused, p, e) == -1 ||
	    task_int(h, "start_period_sec", 0, 3600, 0, &unused, p, e) == -1)
		return -1;
	if (strcmp(type, "http") == 0) {
		if (hpath[0] != '/' || port == 0 ||
		    json_object_get(h, "cmd") != NULL)
			return task_fail(e, "%s: http needs path and port, "
			    "no cmd", p);
	} else if (strcmp(type, "tcp") == 0) {
		if (port == 0 || json_object_get(h, "path") != NULL ||
		    json_object_get(h, "cmd") != NULL)
			return task_fail(e, "%s: tcp needs a port only", p);
	} else if (strcmp(type, "cmd") == 0) {
		if (json_object_get(h, "cmd") == NULL ||
		    json_object_get(h, "path") != NULL ||
		    json_object_get(h, "port") != NULL)
			return task_fail(e, "%s: cmd needs cmd only", p);
	} else
		return task_fail(e, "%s.type: not http, tcp or cmd", p);
	ts->has_health = 1;
	return 0;
}

/* The limits deploy and run share. */
static int
task_limits(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	if (task_int(spec, "memory_bytes", 4 << 20, INT64_C(1) << 50, 0,
	    &ts->memory_bytes, "spec", e) == -1 ||
	    task_int(spec, "cpu_millis", 1, 1024000, 0, &ts->cpu_millis,
	    "spec", e) == -1 ||
	    task_int(spec, "pids", 1, 1 << 22, 0, &ts->pids, "spec",
	    e) == -1 ||
	    task_env(spec, ts, e) == -1 ||
	    task_argv(spec, "cmd", TASK_CMD_MAX, 4096, ts->cmd, &ts->ncmd,
	    "spec", e) == -1)
		return -1;
	return 0;
}

/* --- the kinds -------------------------------------------------------- */

static int
task_repo(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	static const char *const members[] = { "url", "commit", "ref", NULL };
	json_t		*repo = json_object_get(spec, "repo");
	const char	*p = "spec.repo", *url;
	size_t		 i;

	if (repo == NULL)
		return 0;
	if (!json_is_object(repo))
		return task_fail(e, "%s: not an object", p);
	if (task_members(repo, members, p, e) == -1 ||
	    task_str(repo, "url", 1024, 1, 0, &url, p, e) == -1 ||
	    task_str(repo, "commit", 40, 0, 0, &ts->repo_commit, p, e) == -1 ||
	    task_str(repo, "ref", 255, 0, 0, &ts->repo_ref, p, e) == -1)
		return -1;
	if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7)
	    != 0 && strncmp(url, "git://", 6) != 0 &&
	    strncmp(url, "ssh://", 6) != 0)
		return task_fail(e, "%s.url: not an https, http, git or ssh "
		    "URL", p);
	if ((ts->repo_commit[0] == '\0') == (ts->repo_ref[0] == '\0'))
		return task_fail(e, "%s: exactly one of commit and ref", p);
	if (ts->repo_commit[0] != '\0' && (strlen(ts->repo_commit) != 40 ||
	    strspn(ts->repo_commit, "0123456789abcdef") != 40))
		return task_fail(e, "%s.commit: not 40 lowercase hex", p);
	for (i = 0; ts->repo_ref[i] != '\0'; i++)
		if (strchr(" ~^:?*[\\", ts->repo_ref[i]) != NULL)
			return task_fail(e, "%s.ref: not a ref name", p);
	ts->repo_url = url;
	return 0;
}

static int
task_spec_deploy(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	static const char *const members[] = { "image", "repo", "dockerfile",
	    "env", "ports", "memory_bytes", "cpu_millis", "pids", "replicas",
	    "health", "cmd", "timeout_sec", NULL };

	ts->replicas = 1;
	if (task_members(spec, members, "spec", e) == -1 ||
	    task_str(spec, "image", 512, 0, 0, &ts->image, "spec", e) == -1 ||
	    task_repo(spec, ts, e) == -1 ||
	    task_str(spec, "dockerfile", 1024, 0, 0, &ts->dockerfile, "spec",
	    e) == -1 ||
	    task_ports(spec, ts, e) == -1 ||
	    task_limits(spec, ts, e) == -1 ||
	    task_int(spec, "replicas", 1, 100, 0, &ts->replicas, "spec",
	    e) == -1 ||
	    task_health(spec, ts, e) == -1 ||
	    task_int(spec, "timeout_sec", 1, 86400, 0, &ts->timeout_sec,
	    "spec", e) == -1)
		return -1;
	if ((ts->image[0] == '\0') == (ts->repo_url == NULL))
		return task_fail(e, "spec: exactly one of image and repo");
	if (ts->image[0] != '\0' && !task_image_valid(ts->image))
		return task_fail(e, "spec.image: not an image reference");
	if (ts->dockerfile[0] != '\0' && (ts->repo_url == NULL ||
	    ts->dockerfile[0] == '/' || strstr(ts->dockerfile, "..") != NULL))
		return task_fail(e, "spec.dockerfile: a relative path in a "
		    "repo");
	return 0;
}

static int
task_spec_run(json_t *spec, struct task_spec *ts, struct task_err *e)
{
	static const char *const members[] = { "image", "cmd", "env",
	    "memory_bytes", "cpu_millis", "pids", "timeout_sec", "workdir",
	    NULL };

	if (task_members(spec, members, "spec", e) == -1 ||
	    task_str(spec, "image", 512, 1, 0, &ts->image, "spec", e) == -1 ||
	    task_limits(spec, ts, e) == -1 ||
	    task_int(spec, "timeout_sec", 1, 86400, 0, &ts->timeout_sec,
	    "spec", e) == -1 ||
	    task_str(spec, "workdir", 255, 0, 0, &ts->workdir, "spec",
	    e) == -1)
		return -1;
	if (!task_image_valid(ts->image))
		return task_fail(e, "spec.image: not an image reference");
	if (ts->ncmd == 0)
		return task_fail(e, "spec.cmd: missing");
	if (ts->workdir[0] != '\0' && ts->workdir[0] != '/')
		return task_fail(e, "spec.workdir: not an absolute path");
	return 0;
}

static int
task_spec_other(enum task_kind kind, json_t *spec, struct task_spec *ts,
    struct task_err *e)
{
	static const char *const none[] = { NULL };
	static const char *const grace[] = { "grace_sec", NULL };
	static const char *const scale[] = { "replicas", NULL };
	static const char *const logs[] = { "follow", "since", "tail",
	    "timeout_sec", NULL };

	switch (kind) {
	case TASK_START:
	case TASK_REMOVE:
		return task_members(spec, none, "spec", e);
	case TASK_STOP:
	case TASK_RESTART:
		return task_members(spec, grace, "spec", e) == -1 ? -1 :
		    task_int(spec, "grace_sec", 0, 3600, 0, &ts->grace_sec,
		    "spec", e);
	case TASK_SCALE:
		return task_members(spec, scale, "spec", e) == -1 ? -1 :
		    task_int(spec, "replicas", 0, 100, 1, &ts->replicas,
		    "spec", e);
	case TASK_LOGS:
		if (task_members(spec, logs, "spec", e) == -1 ||
		    task_bool(spec, "follow", &ts->follow, "spec", e) == -1 ||
		    task_int(spec, "since", 0, TASK_INT_MAX, 0, &ts->since,
		    "spec", e) == -1 ||
		    task_int(spec, "tail", 0, 100000, 0, &ts->tail, "spec",
		    e) == -1)
			return -1;
		return task_int(spec, "timeout_sec", 1, 86400, 0,
		    &ts->timeout_sec, "spec", e);
	default:
		return task_fail(e, "kind: not handled");
	}
}

/* --- the task object -------------------------------------------------- */

static int
task_kind_from(const char *name, enum task_kind *kind)
{
	unsigned int	 i;

	for (i = 0; i < TASK_KIND_MAX; i++)
		if (strcmp(name, task_kind_names[i]) == 0) {
			*kind = i;
			return 0;
		}
	return -1;
}

static int
task_head(json_t *v, struct task *t, struct task_err *e)
{
	static const char *const members[] = { "id", "kind", "app",
	    "node_id", "seq", "created", "not_after", "spec", "signature",
	    NULL };
	const char	*id, *kind, *app, *node, *sig;

	if (task_str(v, "id", 64, 1, 0, &id, "task", e) == -1)
		return -1;
	if (!wire_id_valid(id))
		return task_fail(e, "task.id: not an id");
	(void)strlcpy(t->id, id, sizeof(t->id));
	if (task_members(v, members, "task", e) == -1 ||
	    task_str(v, "kind", 16, 1, 0, &kind, "task", e) == -1 ||
	    task_str(v, "app", 63, 1, 0, &app, "task", e) == -1 ||
	    task_str(v, "node_id", 64, 1, 0, &node, "task", e) == -1 ||
	    task_int(v, "seq", 1, TASK_INT_MAX, 1, &t->seq, "task", e) == -1 ||
	    task_int(v, "created", 0, TASK_INT_MAX, 1, &t->created, "task",
	    e) == -1 ||
	    task_int(v, "not_after", 0, TASK_INT_MAX, 1, &t->not_after, "task",
	    e) == -1 ||
	    task_str(v, "signature", 86, 0, 0, &sig, "task", e) == -1)
		return -1;
	if (task_kind_from(kind, &t->kind) == -1)
		return task_fail(e, "task.kind: unknown kind \"%.16s\"", kind);
	if (!task_app_valid(app))
		return task_fail(e, "task.app: not an app name");
	if (!wire_id_valid(node))
		return task_fail(e, "task.node_id: not an id");
	(void)strlcpy(t->app, app, sizeof(t->app));
	(void)strlcpy(t->node_id, node, sizeof(t->node_id));
	if (json_object_get(v, "signature") != NULL) {
		if (base64url_decode(sig, t->signature,
		    sizeof(t->signature)) == -1)
			return task_fail(e, "task.signature: not 64 bytes of "
			    "base64url");
		t->has_signature = 1;
	}
	return 0;
}

int
task_decode_json(json_t *v, struct task *t, char *err, size_t errlen)
{
	struct task_err	 e = { err, errlen };
	json_t		*spec;

	memset(t, 0, sizeof(*t));
	t->spec.grace_sec = -1;
	t->spec.tail = -1;
	(void)snprintf(err, errlen, "no error");
	if (!json_is_object(v))
		return task_fail(&e, "task: not an object");
	t->json = json_incref(v);
	if (task_head(v, t, &e) == -1 || task_walk(v, 0, "task", &e) == -1)
		return -1;
	if ((spec = json_object_get(v, "spec")) == NULL)
		return task_fail(&e, "task.spec: missing");
	if (!json_is_object(spec))
		return task_fail(&e, "task.spec: not an object");
	switch (t->kind) {
	case TASK_DEPLOY:
		return task_spec_deploy(spec, &t->spec, &e);
	case TASK_RUN:
		return task_spec_run(spec, &t->spec, &e);
	default:
		return task_spec_other(t->kind, spec, &t->spec, &e);
	}
}

int
task_decode(const char *json, size_t len, struct task *t, char *err,
    size_t errlen)
{
	json_error_t	 jerr;
	json_t		*v;
	int		 rc;

	memset(t, 0, sizeof(*t));
	if (len > TASK_JSON_MAX) {
		(void)snprintf(err, errlen, "task: larger than %d bytes",
		    TASK_JSON_MAX);
		return -1;
	}
	if ((v = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		(void)snprintf(err, errlen, "task: not JSON: %s", jerr.text);
		return -1;
	}
	rc = task_decode_json(v, t, err, errlen);
	json_decref(v);
	return rc;
}

void
task_free(struct task *t)
{
	if (t->json != NULL)
		json_decref(t->json);
	t->json = NULL;
}

char *
task_signed_message(const struct task *t, size_t *len)
{
	json_t	*copy;
	char	*canon, *msg;
	size_t	 clen;

	if ((copy = json_copy(t->json)) == NULL)
		return NULL;
	(void)json_object_del(copy, "signature");
	canon = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(copy);
	if (canon == NULL)
		return NULL;
	clen = strlen(canon);
	if ((msg = malloc(sizeof(TASK_DOMAIN) - 1 + clen + 1)) == NULL) {
		free(canon);
		return NULL;
	}
	memcpy(msg, TASK_DOMAIN, sizeof(TASK_DOMAIN) - 1);
	memcpy(msg + sizeof(TASK_DOMAIN) - 1, canon, clen + 1);
	*len = sizeof(TASK_DOMAIN) - 1 + clen;
	free(canon);
	return msg;
}

int
task_signature_valid(const struct task *t, const uint8_t key[TASK_KEY_LEN])
{
	EVP_PKEY	*pkey;
	EVP_MD_CTX	*ctx = NULL;
	char		*msg;
	size_t		 len;
	int		 ok = 0;

	if (!t->has_signature ||
	    (msg = task_signed_message(t, &len)) == NULL)
		return 0;
	if ((pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key,
	    TASK_KEY_LEN)) != NULL && (ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestVerify(ctx, t->signature, sizeof(t->signature),
	    (const unsigned char *)msg, len) == 1)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	free(msg);
	return ok;
}

char *
task_encode(const struct task *t)
{
	return json_dumps(t->json, JSON_COMPACT);
}
