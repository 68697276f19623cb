/*
 * test_policy.c: the policy block (common/policy.c: defaults, canonical
 * text, hash, the check of a struct that came by imsg) and its
 * enforcement (runner/policy.c).  Each refusal rule is run with the
 * message it must give, naming the request field and the rule, and each
 * rule's accepted neighbours are run too, so a rule cannot pass by
 * refusing everything.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth.h"
#include "policy.h"
#include "runop.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static char *
print_policy(const struct policy *p)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*f;

	assert_non_null(f = open_memstream(&text, &len));
	policy_print(p, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void
test_defaults(void **state)
{
	struct policy	 p;
	char		*text;

	(void)state;
	policy_defaults(&p);
	assert_null(policy_validate(&p));
	assert_int_equal(p.nimages, 0);
	assert_string_equal(p.name_template, "paas-app-{app}");
	assert_int_equal(p.memory_default, 256ULL << 20);
	assert_int_equal(p.memory_max, 2ULL << 30);
	assert_int_equal(p.nano_cpus_default, 1000000000ULL);
	assert_int_equal(p.nano_cpus_max, 4000000000ULL);
	assert_int_equal(p.pids_default, 256);
	assert_int_equal(p.pids_max, 4096);
	assert_int_equal(p.nhost_ips, 1);
	assert_string_equal(p.host_ips[0], "127.0.0.1");
	assert_int_equal(p.host_port_min, 1024);
	assert_int_equal(p.host_port_max, 65535);
	assert_int_equal(p.nbind_prefixes, 0);
	assert_int_equal(p.ncap_allow, 0);
	assert_int_equal(p.read_only_root, 0);
	assert_string_equal(p.runtime, "");
	assert_int_equal(p.allow_restart_always, 0);
	text = print_policy(&p);
	assert_string_equal(text,
	    "policy {\n"
	    "\tname-template \"paas-app-{app}\"\n"
	    "\tmemory default 256M max 2G\n"
	    "\tcpus default 1 max 4\n"
	    "\tpids default 256 max 4096\n"
	    "\tpublish-address \"127.0.0.1\"\n"
	    "\thost-ports 1024-65535\n"
	    "\tread-only-root no\n"
	    "\trestart-always no\n"
	    "}\n");
	free(text);
}

static void
full_policy(struct policy *p)
{
	policy_defaults(p);
	(void)strlcpy(p->images[0], "berth-base:*", sizeof(p->images[0]));
	(void)strlcpy(p->images[1], "registry.local/team/*",
	    sizeof(p->images[1]));
	p->nimages = 2;
	(void)strlcpy(p->name_template, "app-{app}-x",
	    sizeof(p->name_template));
	p->memory_default = 6 * 1024 * 1024 + 1024;
	p->memory_max = 1536ULL << 20;
	p->nano_cpus_default = 10000000;
	p->nano_cpus_max = 2500000001ULL;
	(void)strlcpy(p->host_ips[1], "::1", sizeof(p->host_ips[1]));
	p->nhost_ips = 2;
	p->host_port_min = 8000;
	p->host_port_max = 9000;
	(void)strlcpy(p->bind_prefixes[0], "/srv/berth",
	    sizeof(p->bind_prefixes[0]));
	p->nbind_prefixes = 1;
	(void)strlcpy(p->cap_allow[0], "NET_BIND_SERVICE",
	    sizeof(p->cap_allow[0]));
	(void)strlcpy(p->cap_allow[1], "CHOWN", sizeof(p->cap_allow[1]));
	p->ncap_allow = 2;
	p->read_only_root = 1;
	(void)strlcpy(p->runtime, "runsc", sizeof(p->runtime));
	p->allow_restart_always = 1;
	assert_null(policy_validate(p));
}

static void
test_print_full(void **state)
{
	struct policy	 p;
	char		*text;

	(void)state;
	full_policy(&p);
	text = print_policy(&p);
	assert_string_equal(text,
	    "policy {\n"
	    "\timage \"berth-base:*\"\n"
	    "\timage \"registry.local/team/*\"\n"
	    "\tname-template \"app-{app}-x\"\n"
	    "\tmemory default 6145K max 1536M\n"
	    "\tcpus default 0.01 max 2.500000001\n"
	    "\tpids default 256 max 4096\n"
	    "\tpublish-address \"127.0.0.1\"\n"
	    "\tpublish-address \"::1\"\n"
	    "\thost-ports 8000-9000\n"
	    "\tbind-prefix \"/srv/berth\"\n"
	    "\tcap-allow NET_BIND_SERVICE\n"
	    "\tcap-allow CHOWN\n"
	    "\tread-only-root yes\n"
	    "\truntime \"runsc\"\n"
	    "\trestart-always yes\n"
	    "}\n");
	free(text);
	p.memory_max = (1ULL << 30) + 1;
	text = print_policy(&p);
	assert_non_null(strstr(text, "max 1073741825\n"));
	free(text);
}

/* Each changes one field of a valid policy and keeps it valid. */
static void change_image(struct policy *p) { p->images[0][0] = 'B'; }
static void change_nimages(struct policy *p) { p->nimages = 1; }
static void change_template(struct policy *p) {
	(void)strlcpy(p->name_template, "{app}", sizeof(p->name_template)); }
static void change_memdef(struct policy *p) { p->memory_default += 1; }
static void change_memmax(struct policy *p) { p->memory_max -= 1; }
static void change_cpudef(struct policy *p) { p->nano_cpus_default += 1; }
static void change_cpumax(struct policy *p) { p->nano_cpus_max -= 1; }
static void change_pidsdef(struct policy *p) { p->pids_default -= 1; }
static void change_pidsmax(struct policy *p) { p->pids_max += 1; }
static void change_ip(struct policy *p) {
	(void)strlcpy(p->host_ips[1], "::2", sizeof(p->host_ips[1])); }
static void change_nips(struct policy *p) { p->nhost_ips = 1; }
static void change_portmin(struct policy *p) { p->host_port_min += 1; }
static void change_portmax(struct policy *p) { p->host_port_max -= 1; }
static void change_bind(struct policy *p) {
	(void)strlcpy(p->bind_prefixes[0], "/srv/b", POLICY_PATH_LEN); }
static void change_nbinds(struct policy *p) { p->nbind_prefixes = 0; }
static void change_cap(struct policy *p) {
	(void)strlcpy(p->cap_allow[1], "KILL", POLICY_CAP_LEN); }
static void change_ncaps(struct policy *p) { p->ncap_allow = 1; }
static void change_ro(struct policy *p) { p->read_only_root = 0; }
static void change_runtime(struct policy *p) { p->runtime[0] = '\0'; }
static void change_restart(struct policy *p) { p->allow_restart_always = 0; }

static void
test_hash(void **state)
{
	static void (*const changes[])(struct policy *) = {
		change_image, change_nimages, change_template, change_memdef,
		change_memmax, change_cpudef, change_cpumax, change_pidsdef,
		change_pidsmax, change_ip, change_nips, change_portmin,
		change_portmax, change_bind, change_nbinds, change_cap,
		change_ncaps, change_ro, change_runtime, change_restart,
	};
	struct policy	 p, q;
	char		 h1[POLICY_HASH_HEX + 1], h2[POLICY_HASH_HEX + 1];
	char		 seen[NITEMS(changes) + 1][POLICY_HASH_HEX + 1];
	size_t		 i, j;

	(void)state;
	full_policy(&p);
	policy_hash(&p, h1);
	assert_int_equal(strlen(h1), 64);
	assert_int_equal(strspn(h1, "0123456789abcdef"), 64);
	/* Stable: the same policy, and bytes beyond the counts, don't count. */
	q = p;
	(void)strlcpy(q.images[5], "ignored", sizeof(q.images[5]));
	policy_hash(&q, h2);
	assert_string_equal(h1, h2);
	(void)strlcpy(seen[0], h1, sizeof(seen[0]));
	for (i = 0; i < NITEMS(changes); i++) {
		q = p;
		changes[i](&q);
		assert_null(policy_validate(&q));
		policy_hash(&q, seen[i + 1]);
		for (j = 0; j <= i; j++)
			if (strcmp(seen[j], seen[i + 1]) == 0)
				fail_msg("change %zu hashes like %zu", i, j);
	}
}

static void bad_unterminated(struct policy *p) {
	memset(p->name_template, 'a', sizeof(p->name_template)); }
static void bad_no_app(struct policy *p) {
	(void)strlcpy(p->name_template, "paas", sizeof(p->name_template)); }
static void bad_two_apps(struct policy *p) {
	(void)strlcpy(p->name_template, "{app}{app}",
	    sizeof(p->name_template)); }
static void bad_template_chars(struct policy *p) {
	(void)strlcpy(p->name_template, "a/{app}", sizeof(p->name_template)); }
static void bad_template_start(struct policy *p) {
	(void)strlcpy(p->name_template, "-{app}", sizeof(p->name_template)); }
static void bad_mem_order(struct policy *p) {
	p->memory_default = p->memory_max + 1; }
static void bad_mem_floor(struct policy *p) { p->memory_default = 1024; }
static void bad_cpu_order(struct policy *p) {
	p->nano_cpus_default = p->nano_cpus_max + 1; }
static void bad_pids(struct policy *p) { p->pids_default = 0; }
static void bad_ports(struct policy *p) { p->host_port_min = 9001; }
static void bad_port_zero(struct policy *p) { p->host_port_min = 0; }
static void bad_nimages(struct policy *p) {
	p->nimages = POLICY_IMAGES_MAX + 1; }
static void bad_image_quote(struct policy *p) { p->images[0][0] = '"'; }
static void bad_image_empty(struct policy *p) { p->images[1][0] = '\0'; }
static void bad_no_ips(struct policy *p) { p->nhost_ips = 0; }
static void bad_ip(struct policy *p) {
	(void)strlcpy(p->host_ips[0], "localhost", sizeof(p->host_ips[0])); }
static void bad_bind_root(struct policy *p) {
	(void)strlcpy(p->bind_prefixes[0], "/", POLICY_PATH_LEN); }
static void bad_bind_dots(struct policy *p) {
	(void)strlcpy(p->bind_prefixes[0], "/srv/../etc", POLICY_PATH_LEN); }
static void bad_bind_slash(struct policy *p) {
	(void)strlcpy(p->bind_prefixes[0], "/srv/", POLICY_PATH_LEN); }
static void bad_bind_relative(struct policy *p) {
	(void)strlcpy(p->bind_prefixes[0], "srv", POLICY_PATH_LEN); }
static void bad_cap_all(struct policy *p) {
	(void)strlcpy(p->cap_allow[0], "ALL", POLICY_CAP_LEN); }
static void bad_cap_prefix(struct policy *p) {
	(void)strlcpy(p->cap_allow[0], "CAP_KILL", POLICY_CAP_LEN); }
static void bad_cap_lower(struct policy *p) {
	(void)strlcpy(p->cap_allow[0], "kill", POLICY_CAP_LEN); }
static void bad_flag(struct policy *p) { p->read_only_root = 2; }
static void bad_runtime(struct policy *p) {
	(void)strlcpy(p->runtime, "run sc", sizeof(p->runtime)); }

static void
test_validate(void **state)
{
	static void (*const bad[])(struct policy *) = {
		bad_unterminated, bad_no_app, bad_two_apps, bad_template_chars,
		bad_template_start, bad_mem_order, bad_mem_floor,
		bad_cpu_order, bad_pids, bad_ports, bad_port_zero,
		bad_nimages, bad_image_quote, bad_image_empty, bad_no_ips,
		bad_ip, bad_bind_root, bad_bind_dots, bad_bind_slash,
		bad_bind_relative, bad_cap_all, bad_cap_prefix, bad_cap_lower,
		bad_flag, bad_runtime,
	};
	struct policy	 p;
	size_t		 i;

	(void)state;
	for (i = 0; i < NITEMS(bad); i++) {
		full_policy(&p);
		bad[i](&p);
		if (policy_validate(&p) == NULL)
			fail_msg("bad policy %zu accepted", i);
	}
}

/* --- enforcement --------------------------------------------------------- */

static struct policy	 pol;

static void
request(struct run_request *req, const char *spec)
{
	char	 json[2048], err[256];

	(void)snprintf(json, sizeof(json), "{\"op\":\"deploy\",\"app\":\"web\","
	    "\"spec\":{\"image\":\"berth-base:latest\"%s}}", spec);
	if (runop_decode(json, strlen(json), req, err, sizeof(err)) == -1)
		fail_msg("decode %s: %s", json, err);
}

static void
enforcing_policy(void)
{
	policy_defaults(&pol);
	(void)strlcpy(pol.images[0], "berth-base:*", sizeof(pol.images[0]));
	(void)strlcpy(pol.images[1], "registry.local/team/*",
	    sizeof(pol.images[1]));
	pol.nimages = 2;
	(void)strlcpy(pol.bind_prefixes[0], "/srv/berth",
	    sizeof(pol.bind_prefixes[0]));
	pol.nbind_prefixes = 1;
	(void)strlcpy(pol.cap_allow[0], "NET_BIND_SERVICE",
	    sizeof(pol.cap_allow[0]));
	pol.ncap_allow = 1;
	(void)strlcpy(pol.host_ips[1], "::1", sizeof(pol.host_ips[1]));
	pol.nhost_ips = 2;
	assert_null(policy_validate(&pol));
}

struct rule_case {
	const char	*spec;		/* JSON inside "spec" after image */
	const char	*message;	/* NULL: allowed */
};

static const struct rule_case rule_cases[] = {
	{ ",\"privileged\":true",
	    "spec.privileged: privileged containers are never allowed" },
	{ ",\"privileged\":false", NULL },
	{ ",\"network_mode\":\"host\"",
	    "spec.network_mode: \"host\" is not allowed" },
	{ ",\"network_mode\":\"container:abc\"", "spec.network_mode:" },
	{ ",\"network_mode\":\"mynet\"", "spec.network_mode:" },
	{ ",\"network_mode\":\"bridge\"", NULL },
	{ ",\"network_mode\":\"none\"", NULL },
	{ ",\"pid_mode\":\"host\"", "spec.pid_mode: \"host\" is not allowed" },
	{ ",\"pid_mode\":\"container:x\"", "spec.pid_mode:" },
	{ ",\"ipc_mode\":\"host\"", "spec.ipc_mode: \"host\" is not allowed" },
	{ ",\"ipc_mode\":\"shareable\"", "spec.ipc_mode:" },
	{ ",\"ipc_mode\":\"private\"", NULL },
	{ ",\"devices\":[\"/dev/sda\"]",
	    "spec.devices[0]: /dev/sda: devices are never allowed" },
	{ ",\"cap_add\":[\"SYS_ADMIN\"]",
	    "spec.cap_add[0]: SYS_ADMIN is not in cap-allow" },
	{ ",\"cap_add\":[\"NET_BIND_SERVICE\",\"ALL\"]",
	    "spec.cap_add[1]: ALL is never allowed" },
	{ ",\"cap_add\":[\"CAP_NET_BIND_SERVICE\"]",
	    "spec.cap_add[0]: CAP_NET_BIND_SERVICE: capabilities are named in "
	    "upper case without CAP_" },
	{ ",\"cap_add\":[\"NET_BIND_SERVICE\"]", NULL },
	{ ",\"volumes\":[{\"source\":\"/etc\",\"target\":\"/x\","
	    "\"bind\":true}]",
	    "spec.volumes[0].source: /etc is not under an allowed bind "
	    "prefix" },
	{ ",\"volumes\":[{\"source\":\"/srv/berthx\",\"target\":\"/x\","
	    "\"bind\":true}]", "/srv/berthx is not under an allowed bind "
	    "prefix" },
	{ ",\"volumes\":[{\"source\":\"/srv/berth/../../etc\",\"target\":"
	    "\"/x\",\"bind\":true}]", "spec.volumes[0].source: "
	    "/srv/berth/../../etc is not normalised" },
	{ ",\"volumes\":[{\"source\":\"/srv/berth//a\",\"target\":\"/x\","
	    "\"bind\":true}]", "is not normalised" },
	{ ",\"volumes\":[{\"source\":\"/srv/berth/a/\",\"target\":\"/x\","
	    "\"bind\":true}]", "is not normalised" },
	{ ",\"volumes\":[{\"source\":\"/srv/berth/./a\",\"target\":\"/x\","
	    "\"bind\":true}]", "is not normalised" },
	{ ",\"volumes\":[{\"source\":\"/srv/berth\",\"target\":\"/x\","
	    "\"bind\":true}]", NULL },
	{ ",\"volumes\":[{\"source\":\"/srv/berth/app/data\",\"target\":"
	    "\"/x\",\"bind\":true,\"read_only\":true}]", NULL },
	{ ",\"volumes\":[{\"source\":\"a/b\",\"target\":\"/x\"}]",
	    "spec.volumes[0].source: \"a/b\" is not a volume name" },
	{ ",\"volumes\":[{\"source\":\"/etc\",\"target\":\"/x\"}]",
	    "\"/etc\" is not a volume name" },
	{ ",\"volumes\":[{\"source\":\".hidden\",\"target\":\"/x\"}]",
	    "is not a volume name" },
	{ ",\"volumes\":[{\"source\":\"data-1_v.2\",\"target\":\"/x\"}]",
	    NULL },
	{ ",\"ports\":[{\"container\":80,\"host_ip\":\"0.0.0.0\"}]",
	    "spec.ports[0].host_ip: 0.0.0.0 is not an allowed publish "
	    "address" },
	{ ",\"ports\":[{\"container\":80,\"host_ip\":\"::\"}]",
	    "spec.ports[0].host_ip: :: is not an allowed" },
	{ ",\"ports\":[{\"container\":80,\"host_ip\":\"0:0::1\"}]", NULL },
	{ ",\"ports\":[{\"container\":80}]", NULL },
	{ ",\"ports\":[{\"container\":80,\"host\":80}]",
	    "spec.ports[0].host: 80 is outside the allowed host ports "
	    "1024-65535" },
	{ ",\"ports\":[{\"container\":80,\"host\":1024}]", NULL },
	{ ",\"ports\":[{\"container\":80,\"host\":0}]", NULL },
	{ ",\"memory\":4294967296",
	    "spec.memory: 4294967296 exceeds the maximum 2147483648" },
	{ ",\"memory\":2147483648", NULL },
	{ ",\"nano_cpus\":4000000001",
	    "spec.nano_cpus: 4000000001 exceeds the maximum 4000000000" },
	{ ",\"nano_cpus\":4000000000", NULL },
	{ ",\"pids_limit\":4097",
	    "spec.pids_limit: 4097 exceeds the maximum 4096" },
	{ ",\"restart\":\"always\"",
	    "spec.restart: always is not allowed (restart-always no)" },
	{ ",\"restart\":\"unless-stopped\"", "spec.restart: unless-stopped "
	    "is not allowed" },
	{ ",\"restart\":\"on-failure\",\"restart_max_retries\":3", NULL },
	{ ",\"user\":\"0:0\"", NULL },
};

static void
test_rules(void **state)
{
	struct run_request	 req;
	char			 err[256];
	size_t			 i;
	int			 rc;

	(void)state;
	enforcing_policy();
	for (i = 0; i < NITEMS(rule_cases); i++) {
		request(&req, rule_cases[i].spec);
		rc = policy_check(&pol, &req, err, sizeof(err));
		runop_free(&req);
		if (rule_cases[i].message == NULL) {
			if (rc != 0)
				fail_msg("%s refused: %s", rule_cases[i].spec,
				    err);
			continue;
		}
		if (rc == 0)
			fail_msg("%s allowed", rule_cases[i].spec);
		if (strstr(err, rule_cases[i].message) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", rule_cases[i].spec,
			    err, rule_cases[i].message);
	}
}

static void
test_images(void **state)
{
	static const struct {
		const char	*image;
		int		 allowed;
	} cases[] = {
		{ "berth-base:latest", 1 },
		{ "berth-base:1.2", 1 },
		{ "berth-base", 0 },
		{ "registry.local/team/app:1", 1 },
		{ "registry.local/other/app:1", 0 },
		{ "evil:latest", 0 },
		{ "berth-base-evil:latest", 0 },
		/* Built here for this app (web): allowed without a pattern. */
		{ "berth/web:0123456789ab", 1 },
		{ "berth/web:t-local-1", 1 },
		{ "berth/web", 0 },
		{ "berth/web:", 0 },
		{ "berth/webx:1", 0 },
		{ "berth/other:1", 0 },
		{ "berth/we:1", 0 },
	};
	struct run_request	 req;
	char			 err[256];
	size_t			 i;

	(void)state;
	enforcing_policy();
	request(&req, "");
	for (i = 0; i < NITEMS(cases); i++) {
		(void)strlcpy(req.spec.image, cases[i].image,
		    sizeof(req.spec.image));
		if ((policy_check(&pol, &req, err, sizeof(err)) == 0) !=
		    cases[i].allowed)
			fail_msg("%s: %s", cases[i].image, err);
		if (!cases[i].allowed && strstr(err, "matches no allowed "
		    "image pattern") == NULL)
			fail_msg("%s: %s", cases[i].image, err);
	}
	(void)strlcpy(req.spec.image, "evil:latest", sizeof(req.spec.image));
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	assert_string_equal(err, "spec.image: \"evil:latest\" matches no "
	    "allowed image pattern");
	/* A deploy that still names a repository never reaches the engine. */
	(void)strlcpy(req.repo.url, "git://127.0.0.1/a.git",
	    sizeof(req.repo.url));
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "repo.url"));
	req.repo.url[0] = '\0';
	/* No patterns: every image. */
	pol.nimages = 0;
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), 0);
	runop_free(&req);
}

/* Cases the decoder already refuses; the policy refuses them too. */
static void
test_rules_without_decoder(void **state)
{
	struct run_request	 req;
	char			 err[256];

	(void)state;
	enforcing_policy();
	request(&req, ",\"volumes\":[{\"source\":\"/srv/berth/a\",\"target\":"
	    "\"/x\",\"bind\":true}]");
	(void)strlcpy(req.spec.volumes[0].source, "srv/berth/a",
	    sizeof(req.spec.volumes[0].source));
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	assert_string_equal(err, "spec.volumes[0].source: srv/berth/a is not "
	    "an absolute path");
	req.spec.nvolumes = 0;
	(void)strlcpy(req.spec.cap_add[0], "net_admin",
	    sizeof(req.spec.cap_add[0]));
	req.spec.ncap_add = 1;
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spec.cap_add[0]: net_admin: "));
	req.spec.ncap_add = 0;
	req.spec.pids_limit = -1;
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "spec.pids_limit"));
	req.spec.pids_limit = 0;
	/* Only a deploy carries anything the policy limits. */
	req.spec.privileged = 1;
	req.op = RUNOP_START;
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), 0);
	req.op = RUNOP_DEPLOY;
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), -1);
	runop_free(&req);
}

static void
test_resolve(void **state)
{
	struct run_request	 req;
	struct policy_effective	 eff;
	char			 err[256];

	(void)state;
	enforcing_policy();
	request(&req, ",\"ports\":[{\"container\":80},{\"container\":81,"
	    "\"host_ip\":\"0::1\"}],\"network_mode\":\"none\"");
	assert_int_equal(policy_check(&pol, &req, err, sizeof(err)), 0);
	policy_resolve(&pol, &req.spec, &eff);
	assert_int_equal(eff.memory_bytes, 256ULL << 20);
	assert_int_equal(eff.nano_cpus, 1000000000ULL);
	assert_int_equal(eff.pids_limit, 256);
	assert_int_equal(eff.read_only_root, 0);
	assert_string_equal(eff.network_mode, "none");
	/* "" is the first allowed address; others as the policy spells. */
	assert_string_equal(eff.host_ips[0], "127.0.0.1");
	assert_string_equal(eff.host_ips[1], "::1");
	runop_free(&req);

	pol.read_only_root = 1;
	(void)strlcpy(pol.runtime, "runsc", sizeof(pol.runtime));
	request(&req, ",\"memory\":67108864,\"nano_cpus\":500000000,"
	    "\"pids_limit\":64");
	policy_resolve(&pol, &req.spec, &eff);
	assert_int_equal(eff.memory_bytes, 67108864);
	assert_int_equal(eff.nano_cpus, 500000000);
	assert_int_equal(eff.pids_limit, 64);
	assert_int_equal(eff.read_only_root, 1);
	assert_string_equal(eff.network_mode, "bridge");
	assert_string_equal(eff.runtime, "runsc");
	runop_free(&req);
}

static void
test_names(void **state)
{
	char	 name[POLICY_NAME_LEN], app[RUNOP_APP_LEN];

	(void)state;
	enforcing_policy();
	assert_int_equal(policy_container_name(&pol, "web", name,
	    sizeof(name)), 0);
	assert_string_equal(name, "paas-app-web");
	assert_int_equal(policy_container_app(&pol, "paas-app-web", app,
	    sizeof(app)), 0);
	assert_string_equal(app, "web");
	assert_int_equal(policy_container_app(&pol, "paas-app-", app,
	    sizeof(app)), -1);
	assert_int_equal(policy_container_app(&pol, "other-web", app,
	    sizeof(app)), -1);
	assert_int_equal(policy_container_app(&pol, "paas-app-Web", app,
	    sizeof(app)), -1);
	(void)strlcpy(pol.name_template, "x{app}.svc",
	    sizeof(pol.name_template));
	assert_int_equal(policy_container_name(&pol, "a", name, sizeof(name)),
	    0);
	assert_string_equal(name, "xa.svc");
	assert_int_equal(policy_container_app(&pol, "xa.b.svc", app,
	    sizeof(app)), 0);
	assert_string_equal(app, "a.b");
	assert_int_equal(policy_container_name(&pol, "a", name, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_print_full),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_rules_without_decoder),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
