/*
 * runner/policy.c: what the policy block allows, checked on every
 * request the runner is asked to carry out (DESIGN.md §6, GUIDE §7).
 * Runs in the runner, which sees no host file system: bind sources are
 * checked as strings here, after the parent resolved their symlinks with
 * realpath(3) before sending the request.
 *
 * Each rule is one function in the table below; a refusal names the
 * request field and the rule, since that sentence is what the operator
 * reads in the task result and in the audit log.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "berth.h"
#include "policy.h"
#include "runop.h"

#define SHOW_LEN	80

typedef int	(*policy_rule)(const struct policy *, const struct run_spec *,
		    char *, size_t);

static int
refuse(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((__format__(printf, 3, 4)));

static int
refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	if (errlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/*
 * A request string for a message: the decoder already limited the
 * character sets, but a caller may hand us any struct, so anything but
 * printable ASCII becomes '?'.
 */
static const char *
show(const char *s, char *buf, size_t len)
{
	size_t	 i;

	for (i = 0; s[i] != '\0' && i + 1 < len && i < SHOW_LEN; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* --- the rules ----------------------------------------------------------- */

static int
rule_privileged(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	(void)p;
	if (spec->privileged)
		return refuse(err, errlen, "spec.privileged: privileged "
		    "containers are never allowed");
	return 0;
}

/* The host's namespaces, or another container's, are never shared. */
static int
rule_namespaces(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	char	 b[SHOW_LEN + 1];

	(void)p;
	if (strcmp(spec->network_mode, "") != 0 &&
	    strcmp(spec->network_mode, "bridge") != 0 &&
	    strcmp(spec->network_mode, "none") != 0)
		return refuse(err, errlen, "spec.network_mode: \"%s\" is not "
		    "allowed (only \"\", \"bridge\" or \"none\")",
		    show(spec->network_mode, b, sizeof(b)));
	if (spec->pid_mode[0] != '\0')
		return refuse(err, errlen, "spec.pid_mode: \"%s\" is not "
		    "allowed (host and container PID namespaces are never "
		    "shared)", show(spec->pid_mode, b, sizeof(b)));
	if (strcmp(spec->ipc_mode, "") != 0 &&
	    strcmp(spec->ipc_mode, "private") != 0)
		return refuse(err, errlen, "spec.ipc_mode: \"%s\" is not "
		    "allowed (only \"\" or \"private\")",
		    show(spec->ipc_mode, b, sizeof(b)));
	return 0;
}

static int
rule_devices(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	char	 b[SHOW_LEN + 1];

	(void)p;
	if (spec->ndevices > 0)
		return refuse(err, errlen, "spec.devices[0]: %s: devices are "
		    "never allowed", show(spec->devices[0], b, sizeof(b)));
	return 0;
}

static int
cap_allowed(const struct policy *p, const char *cap)
{
	uint32_t	 i;

	for (i = 0; i < p->ncap_allow && i < POLICY_CAPS_MAX; i++)
		if (strcmp(p->cap_allow[i], cap) == 0)
			return 1;
	return 0;
}

static int
rule_caps(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	const char	*cap;
	char		 b[SHOW_LEN + 1];
	size_t		 i;

	for (i = 0; i < spec->ncap_add; i++) {
		cap = spec->cap_add[i];
		if (strcmp(cap, "ALL") == 0)
			return refuse(err, errlen, "spec.cap_add[%zu]: ALL is "
			    "never allowed", i);
		if (cap[0] == '\0' || strspn(cap,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(cap) ||
		    strncmp(cap, "CAP_", 4) == 0)
			return refuse(err, errlen, "spec.cap_add[%zu]: %s: "
			    "capabilities are named in upper case without "
			    "CAP_", i, show(cap, b, sizeof(b)));
		if (!cap_allowed(p, cap))
			return refuse(err, errlen, "spec.cap_add[%zu]: %s is "
			    "not in cap-allow", i, cap);
	}
	return 0;
}

static int
rule_image(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	char		 b[SHOW_LEN + 1];
	uint32_t	 i;

	/* No patterns: every image the engine holds. */
	if (p->nimages == 0)
		return 0;
	for (i = 0; i < p->nimages && i < POLICY_IMAGES_MAX; i++)
		if (fnmatch(p->images[i], spec->image, 0) == 0)
			return 0;
	return refuse(err, errlen, "spec.image: \"%s\" matches no allowed "
	    "image pattern", show(spec->image, b, sizeof(b)));
}

/*
 * "berth/APP:TAG" for the request's own app: an image the runner built
 * itself (image-build tags only so, and there is no pull), which the
 * image allowlist need not name.  Another app's berth/ image still has
 * to match a pattern.
 */
static int
built_for_app(const struct run_request *req)
{
	const char	*image = req->spec.image;
	size_t		 n = strlen(req->app);

	return strncmp(image, "berth/", 6) == 0 && n > 0 &&
	    strncmp(image + 6, req->app, n) == 0 && image[6 + n] == ':' &&
	    image[7 + n] != '\0';
}

/* Absolute, and no ".", "..", "//" or final "/" the string would hide. */
static int
path_normalised(const char *s)
{
	const char	*p;

	if (s[0] != '/')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		if (p[1] == '/' || (p[1] == '\0' && p != s))
			return 0;
		if (p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
			return 0;
	}
	return 1;
}

/* Under a prefix at a '/' boundary: /srv/berth allows /srv/berth/x only. */
static int
under_prefix(const struct policy *p, const char *source)
{
	const char	*prefix;
	size_t		 len;
	uint32_t	 i;

	for (i = 0; i < p->nbind_prefixes && i < POLICY_BINDS_MAX; i++) {
		prefix = p->bind_prefixes[i];
		len = strlen(prefix);
		if (len > 1 && strncmp(source, prefix, len) == 0 &&
		    (source[len] == '/' || source[len] == '\0'))
			return 1;
	}
	return 0;
}

static int
volume_name_ok(const char *s)
{
	const char	*ok = "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	if (s[0] == '\0' || strchr(ok, s[0]) == NULL)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(s);
}

static int
rule_volumes(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	const struct run_volume	*v;
	char			 b[SHOW_LEN + 1];
	size_t			 i;

	for (i = 0; i < spec->nvolumes; i++) {
		v = &spec->volumes[i];
		show(v->source, b, sizeof(b));
		if (!v->bind && !volume_name_ok(v->source))
			return refuse(err, errlen, "spec.volumes[%zu].source: "
			    "\"%s\" is not a volume name "
			    "([a-zA-Z0-9][a-zA-Z0-9_.-]*)", i, b);
		if (!v->bind)
			continue;
		if (v->source[0] != '/')
			return refuse(err, errlen, "spec.volumes[%zu].source: "
			    "%s is not an absolute path", i, b);
		if (!path_normalised(v->source))
			return refuse(err, errlen, "spec.volumes[%zu].source: "
			    "%s is not normalised", i, b);
		if (!under_prefix(p, v->source))
			return refuse(err, errlen, "spec.volumes[%zu].source: "
			    "%s is not under an allowed bind prefix", i, b);
	}
	return 0;
}

/* The policy's spelling of an allowed address, or NULL. */
static const char *
host_ip_allowed(const struct policy *p, const char *ip)
{
	unsigned char	 want[sizeof(struct in6_addr)];
	unsigned char	 have[sizeof(struct in6_addr)];
	int		 family, pf;
	uint32_t	 i;

	if (ip[0] == '\0')
		return p->nhost_ips > 0 ? p->host_ips[0] : NULL;
	memset(want, 0, sizeof(want));
	family = inet_pton(AF_INET, ip, want) == 1 ? AF_INET : AF_INET6;
	if (family == AF_INET6 && inet_pton(AF_INET6, ip, want) != 1)
		return NULL;
	for (i = 0; i < p->nhost_ips && i < POLICY_HOST_IPS_MAX; i++) {
		memset(have, 0, sizeof(have));
		pf = inet_pton(AF_INET, p->host_ips[i], have) == 1 ?
		    AF_INET : AF_INET6;
		if (pf == AF_INET6 &&
		    inet_pton(AF_INET6, p->host_ips[i], have) != 1)
			continue;
		if (pf == family && memcmp(want, have, sizeof(want)) == 0)
			return p->host_ips[i];
	}
	return NULL;
}

static int
rule_ports(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	const struct run_port	*port;
	char			 b[SHOW_LEN + 1];
	size_t			 i;

	for (i = 0; i < spec->nports; i++) {
		port = &spec->ports[i];
		if (host_ip_allowed(p, port->host_ip) == NULL)
			return refuse(err, errlen, "spec.ports[%zu].host_ip: "
			    "%s is not an allowed publish address", i,
			    port->host_ip[0] != '\0' ?
			    show(port->host_ip, b, sizeof(b)) : "\"\"");
		/* 0: the engine picks a free port. */
		if (port->host_port != 0 &&
		    (port->host_port < p->host_port_min ||
		    port->host_port > p->host_port_max))
			return refuse(err, errlen, "spec.ports[%zu].host: %u "
			    "is outside the allowed host ports %u-%u", i,
			    (unsigned int)port->host_port,
			    (unsigned int)p->host_port_min,
			    (unsigned int)p->host_port_max);
	}
	return 0;
}

static int
rule_limits(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	if (spec->memory_bytes > p->memory_max)
		return refuse(err, errlen, "spec.memory: %llu exceeds the "
		    "maximum %llu", (unsigned long long)spec->memory_bytes,
		    (unsigned long long)p->memory_max);
	if (spec->nano_cpus > p->nano_cpus_max)
		return refuse(err, errlen, "spec.nano_cpus: %llu exceeds the "
		    "maximum %llu", (unsigned long long)spec->nano_cpus,
		    (unsigned long long)p->nano_cpus_max);
	if (spec->pids_limit < 0 || spec->pids_limit > p->pids_max)
		return refuse(err, errlen, "spec.pids_limit: %lld exceeds the "
		    "maximum %lld", (long long)spec->pids_limit,
		    (long long)p->pids_max);
	return 0;
}

/* "always" and "unless-stopped" outlive stops and engine restarts. */
static int
rule_restart(const struct policy *p, const struct run_spec *spec,
    char *err, size_t errlen)
{
	if ((spec->restart == RESTART_ALWAYS ||
	    spec->restart == RESTART_UNLESS_STOPPED) &&
	    !p->allow_restart_always)
		return refuse(err, errlen, "spec.restart: %s is not allowed "
		    "(restart-always no)", spec->restart == RESTART_ALWAYS ?
		    "always" : "unless-stopped");
	if ((unsigned int)spec->restart > RESTART_ALWAYS)
		return refuse(err, errlen, "spec.restart: unknown policy %d",
		    (int)spec->restart);
	return 0;
}

static const policy_rule rules[] = {
	rule_privileged,
	rule_namespaces,
	rule_devices,
	rule_caps,
	rule_image,
	rule_volumes,
	rule_ports,
	rule_limits,
	rule_restart,
};

int
policy_check(const struct policy *p, const struct run_request *req,
    char *err, size_t errlen)
{
	size_t	 i;

	if (errlen > 0)
		err[0] = '\0';
	if (req->op != RUNOP_DEPLOY)
		return 0;
	/* The parent builds first and sends the image; never the repo. */
	if (req->repo.url[0] != '\0')
		return refuse(err, errlen, "repo.url: the runner deploys "
		    "images; the parent builds from git first");
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		if (rules[i] == rule_image && built_for_app(req))
			continue;
		if (rules[i](p, &req->spec, err, errlen) == -1)
			return -1;
	}
	return 0;
}

void
policy_resolve(const struct policy *p, const struct run_spec *spec,
    struct policy_effective *eff)
{
	const char	*ip;
	size_t		 i;

	memset(eff, 0, sizeof(*eff));
	eff->memory_bytes = spec->memory_bytes != 0 ? spec->memory_bytes :
	    p->memory_default;
	eff->nano_cpus = spec->nano_cpus != 0 ? spec->nano_cpus :
	    p->nano_cpus_default;
	eff->pids_limit = spec->pids_limit != 0 ? spec->pids_limit :
	    p->pids_default;
	eff->read_only_root = spec->read_only_root || p->read_only_root;
	eff->network_mode = strcmp(spec->network_mode, "none") == 0 ?
	    "none" : "bridge";
	eff->runtime = p->runtime;
	for (i = 0; i < spec->nports && i < RUNOP_PORTS_MAX; i++) {
		ip = host_ip_allowed(p, spec->ports[i].host_ip);
		(void)strlcpy(eff->host_ips[i], ip != NULL ? ip : "127.0.0.1",
		    sizeof(eff->host_ips[i]));
	}
}

int
policy_container_name(const struct policy *p, const char *app, char *out,
    size_t outlen)
{
	const char	*at = strstr(p->name_template, "{app}");
	int		 n;

	if (at == NULL)
		return -1;
	n = snprintf(out, outlen, "%.*s%s%s", (int)(at - p->name_template),
	    p->name_template, app, at + 5);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
policy_container_app(const struct policy *p, const char *name, char *app,
    size_t applen)
{
	const char	*at = strstr(p->name_template, "{app}");
	size_t		 pre, post, len = strlen(name), mid;

	if (at == NULL)
		return -1;
	pre = (size_t)(at - p->name_template);
	post = strlen(at + 5);
	if (len <= pre + post || strncmp(name, p->name_template, pre) != 0 ||
	    strcmp(name + len - post, at + 5) != 0)
		return -1;
	mid = len - pre - post;
	if (mid >= applen || mid >= RUNOP_APP_LEN)
		return -1;
	memcpy(app, name + pre, mid);
	app[mid] = '\0';
	/* An app name as runop.h defines it: [a-z0-9][a-z0-9_.-]*. */
	if (strspn(app, "abcdefghijklmnopqrstuvwxyz0123456789") == 0 ||
	    strspn(app, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != mid)
		return -1;
	return 0;
}
