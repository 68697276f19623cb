/*
 * policy.c: the policy block of berth.conf as data (policy.h): its
 * defaults, its canonical text (what `berthd -n` prints and what the
 * policy hash is taken over), and the check of a struct policy that
 * arrived by imsg.  Linked into the parent and the runner; it allocates
 * memory and nothing else.  What the policy allows is decided in
 * runner/policy.c.
 *
 * The text form is the berth.conf syntax, one keyword per line:
 *
 *	policy {
 *		image "registry.example/app-*"		(repeatable)
 *		name-template "paas-app-{app}"
 *		memory default 256M max 2G
 *		cpus default 1 max 4
 *		pids default 256 max 4096
 *		publish-address "127.0.0.1"		(repeatable)
 *		host-ports 1024-65535
 *		bind-prefix "/srv/berth"		(repeatable)
 *		cap-allow NET_BIND_SERVICE		(repeatable)
 *		read-only-root no
 *		runtime "runsc"				(only when set)
 *		restart-always no
 *	}
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "berth.h"
#include "log.h"
#include "policy.h"

#define KIB		1024ULL
#define MIB		(1024ULL * KIB)
#define GIB		(1024ULL * MIB)
#define NANO		1000000000ULL

#define MEMORY_FLOOR	(6 * MIB)	/* dockerd refuses less */
#define MEMORY_CEILING	(1ULL << 40)
#define CPUS_FLOOR	10000000ULL	/* 0.01 CPU */
#define CPUS_CEILING	(1000 * NANO)
#define PIDS_CEILING	4194304
#define CAP_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZ_"

_Static_assert(POLICY_HASH_HEX == AUDIT_HASH_HEX, "one hash length");

void
policy_defaults(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	(void)strlcpy(p->name_template, "paas-app-{app}",
	    sizeof(p->name_template));
	p->memory_default = 256 * MIB;
	p->memory_max = 2 * GIB;
	p->nano_cpus_default = NANO;
	p->nano_cpus_max = 4 * NANO;
	p->pids_default = 256;
	p->pids_max = 4096;
	(void)strlcpy(p->host_ips[0], "127.0.0.1", sizeof(p->host_ips[0]));
	p->nhost_ips = 1;
	p->host_port_min = 1024;
	p->host_port_max = 65535;
}

/* --- text ---------------------------------------------------------------- */

/* Bytes with the largest unit that divides them exactly. */
static void
print_size(FILE *f, uint64_t bytes)
{
	if (bytes != 0 && bytes % GIB == 0)
		fprintf(f, "%lluG", (unsigned long long)(bytes / GIB));
	else if (bytes != 0 && bytes % MIB == 0)
		fprintf(f, "%lluM", (unsigned long long)(bytes / MIB));
	else if (bytes != 0 && bytes % KIB == 0)
		fprintf(f, "%lluK", (unsigned long long)(bytes / KIB));
	else
		fprintf(f, "%llu", (unsigned long long)bytes);
}

/* Nanocpus as a decimal number of CPUs, exactly: 1500000000 is 1.5. */
static void
print_cpus(FILE *f, uint64_t nano)
{
	char	 frac[16];
	size_t	 len;

	fprintf(f, "%llu", (unsigned long long)(nano / NANO));
	if (nano % NANO == 0)
		return;
	(void)snprintf(frac, sizeof(frac), "%09llu",
	    (unsigned long long)(nano % NANO));
	for (len = strlen(frac); len > 0 && frac[len - 1] == '0'; len--)
		frac[len - 1] = '\0';
	fprintf(f, ".%s", frac);
}

void
policy_print(const struct policy *p, FILE *f)
{
	uint32_t	 i;

	fprintf(f, "policy {\n");
	for (i = 0; i < p->nimages; i++)
		fprintf(f, "\timage \"%s\"\n", p->images[i]);
	fprintf(f, "\tname-template \"%s\"\n", p->name_template);
	fprintf(f, "\tmemory default ");
	print_size(f, p->memory_default);
	fprintf(f, " max ");
	print_size(f, p->memory_max);
	fprintf(f, "\n\tcpus default ");
	print_cpus(f, p->nano_cpus_default);
	fprintf(f, " max ");
	print_cpus(f, p->nano_cpus_max);
	fprintf(f, "\n\tpids default %lld max %lld\n",
	    (long long)p->pids_default, (long long)p->pids_max);
	for (i = 0; i < p->nhost_ips; i++)
		fprintf(f, "\tpublish-address \"%s\"\n", p->host_ips[i]);
	fprintf(f, "\thost-ports %u-%u\n", (unsigned int)p->host_port_min,
	    (unsigned int)p->host_port_max);
	for (i = 0; i < p->nbind_prefixes; i++)
		fprintf(f, "\tbind-prefix \"%s\"\n", p->bind_prefixes[i]);
	for (i = 0; i < p->ncap_allow; i++)
		fprintf(f, "\tcap-allow %s\n", p->cap_allow[i]);
	fprintf(f, "\tread-only-root %s\n", p->read_only_root ? "yes" : "no");
	if (p->runtime[0] != '\0')
		fprintf(f, "\truntime \"%s\"\n", p->runtime);
	fprintf(f, "\trestart-always %s\n",
	    p->allow_restart_always ? "yes" : "no");
	fprintf(f, "}\n");
}

void
policy_hash(const struct policy *p, char out[POLICY_HASH_HEX + 1])
{
	FILE	*f;
	char	*text = NULL;
	size_t	 len = 0;

	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("%s: open_memstream", __func__);
	policy_print(p, f);
	if (fclose(f) != 0 || text == NULL)
		fatal("%s: policy text", __func__);
	audit_sha256_hex(text, len, out);
	free(text);
}

/* --- validation ---------------------------------------------------------- */

static char	 policy_reason[192];

static const char *
why(const char *fmt, ...) __attribute__((__format__(printf, 1, 2)));

static const char *
why(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(policy_reason, sizeof(policy_reason), fmt, ap);
	va_end(ap);
	return policy_reason;
}

/* NUL inside the array, then printable ASCII without space or quotes. */
static int
word_ok(const char *s, size_t size, int may_be_empty)
{
	const char	*end;

	if ((end = memchr(s, '\0', size)) == NULL)
		return 0;
	if (end == s)
		return may_be_empty;
	for (; s < end; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

static int
charset_ok(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return 0;
	return 1;
}

/* Absolute, no ".", "..", "//" or final "/", and not "/" itself. */
static int
prefix_ok(const char *s)
{
	const char	*p;

	if (s[0] != '/' || s[1] == '\0')
		return 0;
	for (p = s; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		if (p[1] == '/' || p[1] == '\0')
			return 0;
		if (p[1] == '.' && (p[2] == '/' || p[2] == '\0' ||
		    (p[2] == '.' && (p[3] == '/' || p[3] == '\0'))))
			return 0;
	}
	return 1;
}

static int
template_ok(const char *t)
{
	const char	*at = strstr(t, "{app}");
	char		 rest[sizeof(((struct policy *)0)->name_template)];

	if (at == NULL || strstr(at + 1, "{app}") != NULL)
		return 0;
	/* What surrounds {app} must keep the name a Docker name. */
	(void)snprintf(rest, sizeof(rest), "%.*s%s", (int)(at - t), t,
	    at + 5);
	if (at != t && !((t[0] >= 'a' && t[0] <= 'z') ||
	    (t[0] >= 'A' && t[0] <= 'Z') || (t[0] >= '0' && t[0] <= '9')))
		return 0;
	return charset_ok(rest, "_.-");
}

static const char *
validate_limits(const struct policy *p)
{
	if (p->memory_default < MEMORY_FLOOR ||
	    p->memory_max > MEMORY_CEILING ||
	    p->memory_default > p->memory_max)
		return why("memory: default %llu and max %llu must satisfy "
		    "%llu <= default <= max <= %llu",
		    (unsigned long long)p->memory_default,
		    (unsigned long long)p->memory_max, MEMORY_FLOOR,
		    MEMORY_CEILING);
	if (p->nano_cpus_default < CPUS_FLOOR ||
	    p->nano_cpus_max > CPUS_CEILING ||
	    p->nano_cpus_default > p->nano_cpus_max)
		return why("cpus: default %llu and max %llu nanocpus out of "
		    "order or range", (unsigned long long)p->nano_cpus_default,
		    (unsigned long long)p->nano_cpus_max);
	if (p->pids_default < 1 || p->pids_max > PIDS_CEILING ||
	    p->pids_default > p->pids_max)
		return why("pids: default %lld and max %lld out of order or "
		    "range", (long long)p->pids_default,
		    (long long)p->pids_max);
	if (p->host_port_min < 1 || p->host_port_min > p->host_port_max)
		return why("host-ports: %u-%u is not a range of ports",
		    (unsigned int)p->host_port_min,
		    (unsigned int)p->host_port_max);
	if (p->read_only_root > 1 || p->allow_restart_always > 1)
		return why("read-only-root or restart-always not 0 or 1");
	return NULL;
}

static const char *
validate_lists(const struct policy *p)
{
	unsigned char	 addr[sizeof(struct in6_addr)];
	uint32_t	 i;

	if (p->nimages > POLICY_IMAGES_MAX || p->nhost_ips < 1 ||
	    p->nhost_ips > POLICY_HOST_IPS_MAX ||
	    p->nbind_prefixes > POLICY_BINDS_MAX ||
	    p->ncap_allow > POLICY_CAPS_MAX)
		return why("a list count is out of range");
	for (i = 0; i < p->nimages; i++)
		if (!word_ok(p->images[i], sizeof(p->images[i]), 0))
			return why("image %u: not a pattern", i);
	for (i = 0; i < p->nhost_ips; i++)
		if (!word_ok(p->host_ips[i], sizeof(p->host_ips[i]), 0) ||
		    (inet_pton(AF_INET, p->host_ips[i], addr) != 1 &&
		    inet_pton(AF_INET6, p->host_ips[i], addr) != 1))
			return why("publish-address %u: not an address", i);
	for (i = 0; i < p->nbind_prefixes; i++)
		if (!word_ok(p->bind_prefixes[i], sizeof(p->bind_prefixes[i]),
		    0) || !prefix_ok(p->bind_prefixes[i]))
			return why("bind-prefix %u: not an absolute, "
			    "normalised path below /", i);
	for (i = 0; i < p->ncap_allow; i++)
		if (!word_ok(p->cap_allow[i], sizeof(p->cap_allow[i]), 0) ||
		    strspn(p->cap_allow[i], CAP_CHARS) !=
		    strlen(p->cap_allow[i]) ||
		    strcmp(p->cap_allow[i], "ALL") == 0 ||
		    strncmp(p->cap_allow[i], "CAP_", 4) == 0)
			return why("cap-allow %u: not an upper-case "
			    "capability name without CAP_", i);
	return NULL;
}

const char *
policy_validate(const struct policy *p)
{
	const char	*reason;

	if (!word_ok(p->name_template, sizeof(p->name_template), 0) ||
	    !template_ok(p->name_template))
		return why("name-template: must hold {app} once and otherwise "
		    "only A-Z a-z 0-9 _ . -, starting with a letter or digit");
	if (!word_ok(p->runtime, sizeof(p->runtime), 1) ||
	    !charset_ok(p->runtime, "_.-"))
		return why("runtime: may hold only A-Z a-z 0-9 _ . -");
	if ((reason = validate_limits(p)) != NULL)
		return reason;
	return validate_lists(p);
}
