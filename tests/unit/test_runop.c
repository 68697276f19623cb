/*
 * test_runop.c: the runner operation decoder and encoder (common/runop.c)
 * and the result check.  A full request survives decode, encode, decode
 * unchanged; every kind of bad field, unknown key (at the top and in each
 * nested object), duplicate key and oversize payload is refused with a
 * sentence naming the field, since that sentence is what the operator
 * reads in the task result and in the audit log.
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

#include "runop.h"

static const char full_request[] =
    "{\"op\":\"deploy\",\"task\":\"t-1:a.b\",\"app\":\"web\","
    "\"spec\":{\"image\":\"registry.local/team/app@sha256:abc\","
    "\"cmd\":[\"httpd\",\"-f\",\"a b\\nc\"],"
    "\"env\":[\"A=1\",\"_B=x=y\",\"EMPTY=\"],"
    "\"labels\":{\"zz\":\"last\",\"aa\":\"first\",\"com.example/x\":\"v\"},"
    "\"ports\":[{\"container\":80,\"host\":8080,\"proto\":\"tcp\","
    "\"host_ip\":\"127.0.0.1\"},{\"container\":53,\"proto\":\"udp\","
    "\"host_ip\":\"::1\"}],"
    "\"volumes\":[{\"source\":\"data\",\"target\":\"/data\"},"
    "{\"source\":\"/srv/berth/x\",\"target\":\"/x\",\"bind\":true,"
    "\"read_only\":true}],"
    "\"cap_add\":[\"NET_BIND_SERVICE\"],\"memory\":134217728,"
    "\"nano_cpus\":500000000,\"pids_limit\":128,\"restart\":\"on-failure\","
    "\"restart_max_retries\":3,\"health\":{\"cmd\":[\"wget\",\"-q\"],"
    "\"interval\":5,\"timeout\":3,\"retries\":2},\"user\":\"65534:65534\","
    "\"workdir\":\"/srv\",\"read_only_root\":true,\"privileged\":false,"
    "\"network_mode\":\"bridge\",\"pid_mode\":\"\",\"ipc_mode\":\"private\","
    "\"devices\":[]},"
    "\"stop_timeout\":10,\"follow\":true,\"tail\":100,\"since\":1700000000,"
    "\"new_name\":\"web2\",\"image_ref\":\"app:1\"}";

static void
decode_ok(const char *json, struct run_request *req)
{
	char	 err[256];

	if (runop_decode(json, strlen(json), req, err, sizeof(err)) == -1)
		fail_msg("refused %s: %s", json, err);
}

static void
test_full_round_trip(void **state)
{
	struct run_request	 a, b;
	char			*one, *two;

	(void)state;
	decode_ok(full_request, &a);
	assert_int_equal(a.op, RUNOP_DEPLOY);
	assert_string_equal(a.task, "t-1:a.b");
	assert_int_equal(a.spec.ncmd, 3);
	assert_string_equal(a.spec.cmd[2], "a b\nc");
	assert_int_equal(a.spec.nenv, 3);
	assert_int_equal(a.spec.nlabels, 3);
	/* Labels are kept sorted, so that the encoding is canonical. */
	assert_string_equal(a.spec.label_keys[0], "aa");
	assert_string_equal(a.spec.label_keys[2], "zz");
	assert_int_equal(a.spec.nports, 2);
	assert_int_equal(a.spec.ports[0].host_port, 8080);
	assert_int_equal(a.spec.ports[1].udp, 1);
	assert_string_equal(a.spec.ports[1].host_ip, "::1");
	assert_int_equal(a.spec.nvolumes, 2);
	assert_int_equal(a.spec.volumes[1].bind, 1);
	assert_int_equal(a.spec.volumes[1].read_only, 1);
	assert_string_equal(a.spec.cap_add[0], "NET_BIND_SERVICE");
	assert_int_equal(a.spec.memory_bytes, 134217728);
	assert_int_equal(a.spec.nano_cpus, 500000000);
	assert_int_equal(a.spec.pids_limit, 128);
	assert_int_equal(a.spec.restart, RESTART_ON_FAILURE);
	assert_int_equal(a.spec.restart_max_retries, 3);
	assert_int_equal(a.spec.health.ncmd, 2);
	assert_int_equal(a.spec.health.interval_sec, 5);
	assert_int_equal(a.spec.read_only_root, 1);
	assert_string_equal(a.spec.ipc_mode, "private");
	assert_int_equal(a.stop_timeout_sec, 10);
	assert_int_equal(a.follow, 1);
	assert_int_equal(a.tail, 100);
	assert_int_equal(a.since, 1700000000);

	one = runop_encode(&a);
	assert_non_null(one);
	decode_ok(one, &b);
	two = runop_encode(&b);
	assert_non_null(two);
	assert_string_equal(one, two);
	/* Canonical: the same request always encodes the same. */
	assert_true(strlen(one) < strlen(full_request));
	assert_string_equal(b.spec.cmd[2], a.spec.cmd[2]);
	assert_int_equal(b.spec.ports[1].udp, 1);
	assert_int_equal(b.spec.volumes[1].read_only, 1);
	assert_int_equal(b.since, a.since);
	assert_string_equal(b.image_ref, "app:1");
	free(one);
	free(two);
	runop_free(&a);
	runop_free(&b);
	/* Freeing twice is harmless. */
	runop_free(&a);
}

static void
test_minimal_ops(void **state)
{
	static const char *const good[] = {
		"{\"op\":\"list\"}",
		"{\"op\":\"image-prune\"}",
		"{\"op\":\"image-remove\",\"image_ref\":\"berth-base:latest\"}",
		"{\"op\":\"start\",\"app\":\"web\"}",
		"{\"op\":\"logs\",\"app\":\"a.b_c-1\",\"follow\":false,"
		    "\"tail\":0}",
		"{\"op\":\"rename\",\"app\":\"web\",\"new_name\":\"web2\"}",
		"{\"op\":\"deploy\",\"app\":\"web\",\"spec\":"
		    "{\"image\":\"berth-base:latest\"}}",
		"{\"op\":\"image-build\",\"task\":\"t1\",\"app\":\"web\"}",
	};
	struct run_request	 req;
	char			*text;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		decode_ok(good[i], &req);
		text = runop_encode(&req);
		assert_non_null(text);
		runop_free(&req);
		decode_ok(text, &req);
		free(text);
		runop_free(&req);
	}
	assert_string_equal(runop_name(RUNOP_IMAGE_REMOVE), "image-remove");
	assert_string_equal(runop_name(RUNOP_MAX), "none");
	memset(&req, 0, sizeof(req));
	assert_null(runop_encode(&req));
}

struct bad_case {
	const char	*json;
	const char	*message;	/* must occur in the error */
};

#define SPEC(x)	"{\"op\":\"deploy\",\"app\":\"web\",\"spec\":" \
		"{\"image\":\"berth-base:latest\"," x "}}"

static const struct bad_case bad_cases[] = {
	/* structure */
	{ "[1]", "request: expected an object" },
	{ "{\"op\":\"list\"} x", "malformed JSON" },
	{ "{\"op\":\"list\",\"op\":\"list\"}", "duplicate object key" },
	{ "{\"op\":\"list\",\"bogus\":1}", "request: unknown key \"bogus\"" },
	{ SPEC("\"Privileged\":true"), "spec: unknown key \"Privileged\"" },
	{ SPEC("\"ports\":[{\"container\":80,\"HostIp\":\"\"}]"),
	    "spec.ports[0]: unknown key \"HostIp\"" },
	{ SPEC("\"volumes\":[{\"source\":\"v\",\"target\":\"/v\","
	    "\"VolumeOptions\":{}}]"), "spec.volumes[0]: unknown key" },
	{ SPEC("\"health\":{\"cmd\":[\"x\"],\"start_period\":1}"),
	    "spec.health: unknown key \"start_period\"" },
	{ "{\"task\":\"x\"}", "op: required" },
	{ "{\"op\":\"explode\"}", "op: \"explode\" is not one of" },
	{ "{\"op\":\"start\"}", "app: required by op start" },
	{ "{\"op\":\"deploy\",\"app\":\"web\"}", "spec: required by op" },
	{ "{\"op\":\"rename\",\"app\":\"web\"}", "new_name: required" },
	{ "{\"op\":\"image-remove\"}", "image_ref: required" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"spec\":{}}",
	    "spec.image: required" },
	/* deploy from git, image-build */
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":"
	    "{\"url\":\"git://h/a\"}}", "repo: needs commit or ref" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"git://h/a\",\"ref\":\"main\"},\"spec\":{\"image\":\"x:1\"}}",
	    "spec.image: not with repo.url" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"git://h/a b\",\"ref\":\"main\"}}", "repo.url: \"git://h/a b\"" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"git://h/a\",\"commit\":\"abc\"}}", "repo.commit: \"abc\" must be "
	    "40 lower-case hex" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"git://h/a\",\"ref\":\"m\",\"dockerfile\":\"/etc/x\"}}",
	    "repo.dockerfile: \"/etc/x\" must be a relative path" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"url\":"
	    "\"git://h/a\",\"ref\":\"m\",\"branch\":\"x\"}}",
	    "repo: unknown key \"branch\"" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"repo\":{\"ref\":\"m\"},"
	    "\"spec\":{\"image\":\"x:1\"}}", "repo.url: required with the "
	    "other repo fields" },
	{ "{\"op\":\"image-build\",\"task\":\"t\"}",
	    "app: required by op image-build" },
	{ "{\"op\":\"image-build\",\"app\":\"web\",\"repo\":"
	    "{\"url\":\"git://h/a\"}}", "repo.url: only with op deploy" },
	{ "{\"op\":\"image-build\",\"app\":\"web\",\"repo\":"
	    "{\"ref\":\"main\"}}", "repo.ref: only with op deploy" },
	{ "{\"op\":\"start\",\"app\":\"web\",\"repo\":"
	    "{\"commit\":\"0123456789abcdef0123456789abcdef01234567\"}}",
	    "repo: only with op deploy or image-build" },
	/* strings */
	{ "{\"op\":\"start\",\"app\":\"Web\"}",
	    "app: \"Web\" must match [a-z0-9][a-z0-9_.-]*" },
	{ "{\"op\":\"start\",\"app\":\"-web\"}", "app: \"-web\" must match" },
	{ "{\"op\":\"start\",\"app\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "app: 64 bytes, at most 63" },
	{ "{\"op\":\"start\",\"app\":\"web\",\"task\":\"a b\"}",
	    "task: \"a b\" may hold only" },
	{ "{\"op\":\"start\",\"app\":5}", "app: expected a string" },
	{ "{\"op\":\"image-remove\",\"image_ref\":\"a/../b\"}",
	    "image_ref: \"a/../b\" must start each / component" },
	{ SPEC("\"user\":\"root;x\""), "spec.user: \"root;x\" may hold only" },
	{ SPEC("\"workdir\":\"tmp\""), "spec.workdir: \"tmp\" is not an "
	    "absolute path" },
	{ SPEC("\"workdir\":\"/a/../b\""), "spec.workdir: \"/a/../b\" is not "
	    "normalised" },
	{ "{\"op\":\"deploy\",\"app\":\"web\",\"spec\":{\"image\":"
	    "\"Evil Image\"}}", "spec.image: \"Evil Image\" may hold only" },
	{ SPEC("\"env\":[\"1A=x\"]"),
	    "spec.env[0]: \"1A=x\" must be KEY=value" },
	{ SPEC("\"env\":[\"NOVALUE\"]"), "spec.env[0]: \"NOVALUE\" must be" },
	{ SPEC("\"env\":[\"A=1\",\"A=2\"]"),
	    "spec.env[1]: repeats the key of env[0]" },
	{ SPEC("\"labels\":{\"berth.app\":\"x\"}"),
	    "spec.labels.\"berth.app\": key uses the berth. prefix" },
	{ SPEC("\"labels\":{\"Berth.node\":\"x\"}"), "berth. prefix" },
	{ SPEC("\"labels\":{\"k\":\"a\\u0001\"}"),
	    "must not hold control characters" },
	{ SPEC("\"labels\":[]"), "spec.labels: expected an object" },
	{ SPEC("\"cap_add\":[\"net_admin\"]"),
	    "spec.cap_add[0]: \"net_admin\" must be an upper-case name" },
	{ SPEC("\"devices\":[\"/a\",\"/b\",\"/c\",\"/d\",\"/e\"]"),
	    "spec.devices: 5 entries, at most 4" },
	{ SPEC("\"network_mode\":\"container id\""), "spec.network_mode:" },
	{ SPEC("\"volumes\":[{\"source\":\"v\",\"target\":\"rel\"}]"),
	    "spec.volumes[0].target: \"rel\" is not an absolute path" },
	{ SPEC("\"volumes\":[{\"source\":\"v\",\"target\":\"/\"}]"),
	    "spec.volumes[0].target: \"/\" must not be the root" },
	{ SPEC("\"volumes\":[{\"target\":\"/v\"}]"),
	    "spec.volumes[0].source: required" },
	{ SPEC("\"volumes\":[{\"source\":\"rel\",\"target\":\"/v\","
	    "\"bind\":true}]"), "spec.volumes[0].source: a bind mount needs "
	    "an absolute host path" },
	{ SPEC("\"volumes\":[{\"source\":\"a\",\"target\":\"/v\"},"
	    "{\"source\":\"b\",\"target\":\"/v\"}]"),
	    "spec.volumes[1]: mounts on the target of volumes[0]" },
	{ SPEC("\"health\":{\"cmd\":[]}"), "spec.health.cmd: must not be "
	    "empty" },
	{ SPEC("\"health\":{\"interval\":5}"), "spec.health.cmd: required" },
	/* numbers and enums */
	{ SPEC("\"ports\":[{\"container\":80},{\"container\":81},"
	    "{\"container\":82,\"host\":70000}]"),
	    "spec.ports[2].host: 70000 is not a port" },
	{ SPEC("\"ports\":[{\"container\":0}]"),
	    "spec.ports[0].container: 0 is not a port" },
	{ SPEC("\"ports\":[{\"host\":80}]"),
	    "spec.ports[0].container: required" },
	{ SPEC("\"ports\":[{\"container\":80,\"proto\":\"sctp\"}]"),
	    "spec.ports[0].proto: \"sctp\" is not one of" },
	{ SPEC("\"ports\":[{\"container\":80,\"host_ip\":\"localhost\"}]"),
	    "spec.ports[0].host_ip: \"localhost\" is not an IPv4 or IPv6" },
	{ SPEC("\"ports\":[{\"container\":80},{\"container\":80}]"),
	    "spec.ports[1]: publishes the port of ports[0] again" },
	{ SPEC("\"memory\":\"1G\""), "spec.memory: expected an integer, got "
	    "a string" },
	{ SPEC("\"memory\":1.5"), "spec.memory: expected an integer, got a "
	    "real" },
	{ SPEC("\"memory\":-1"), "spec.memory: -1 is out of range" },
	{ SPEC("\"memory\":1000"), "spec.memory: 1000 is below Docker's "
	    "minimum" },
	{ SPEC("\"nano_cpus\":5"), "spec.nano_cpus: 5 is below the minimum" },
	{ SPEC("\"pids_limit\":-1"), "spec.pids_limit: -1 is out of range" },
	{ SPEC("\"restart\":\"sometimes\""),
	    "spec.restart: \"sometimes\" is not one of" },
	{ SPEC("\"restart\":\"always\",\"restart_max_retries\":2"),
	    "spec.restart_max_retries: only with restart on-failure" },
	{ SPEC("\"privileged\":1"), "spec.privileged: expected a boolean" },
	{ "{\"op\":\"stop\",\"app\":\"web\",\"stop_timeout\":-1}",
	    "stop_timeout: -1 is out of range (0..3600)" },
	{ "{\"op\":\"logs\",\"app\":\"web\",\"since\":-5}",
	    "since: -5 is out of range" },
	{ "{\"op\":\"logs\",\"app\":\"web\",\"follow\":\"yes\"}",
	    "follow: expected a boolean" },
	{ "{\"op\":\"logs\",\"app\":\"web\",\"tail\":99999999999}",
	    "tail: 99999999999 is out of range" },
};

static void
test_bad_fields(void **state)
{
	struct run_request	 req;
	char			 err[256];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		err[0] = 'x';
		if (runop_decode(bad_cases[i].json, strlen(bad_cases[i].json),
		    &req, err, sizeof(err)) == 0)
			fail_msg("accepted %s", bad_cases[i].json);
		if (strstr(err, bad_cases[i].message) == NULL)
			fail_msg("%s: error \"%s\" lacks \"%s\"",
			    bad_cases[i].json, err, bad_cases[i].message);
		runop_free(&req);
	}
}

/* The fields of a deploy from git and of an image build survive a round. */
static void
test_repo_fields(void **state)
{
	static const char	 deploy[] = "{\"op\":\"deploy\",\"task\":"
	    "\"t9\",\"app\":\"web\",\"spec\":{\"ports\":[{\"container\":"
	    "8080,\"host\":18080}]},\"repo\":{\"url\":"
	    "\"git://127.0.0.1:9418/static.git\",\"ref\":\"main\","
	    "\"dockerfile\":\"deploy/Dockerfile\"}}";
	static const char	 build[] = "{\"op\":\"image-build\",\"task\":"
	    "\"t9\",\"app\":\"web\",\"repo\":{\"commit\":"
	    "\"0123456789abcdef0123456789abcdef01234567\",\"dockerfile\":"
	    "\".berth.Dockerfile\"}}";
	struct run_request	 a, b;
	char			*one, *two;

	(void)state;
	decode_ok(deploy, &a);
	assert_int_equal(a.op, RUNOP_DEPLOY);
	assert_string_equal(a.repo.url, "git://127.0.0.1:9418/static.git");
	assert_string_equal(a.repo.ref, "main");
	assert_string_equal(a.repo.dockerfile, "deploy/Dockerfile");
	assert_string_equal(a.spec.image, "");
	assert_int_equal(a.spec.ports[0].host_port, 18080);
	one = runop_encode(&a);
	assert_non_null(one);
	decode_ok(one, &b);
	two = runop_encode(&b);
	assert_string_equal(one, two);
	free(one);
	free(two);
	runop_free(&a);
	runop_free(&b);

	decode_ok(build, &a);
	assert_int_equal(a.op, RUNOP_IMAGE_BUILD);
	assert_string_equal(runop_name(a.op), "image-build");
	assert_string_equal(a.repo.commit,
	    "0123456789abcdef0123456789abcdef01234567");
	assert_string_equal(a.repo.dockerfile, ".berth.Dockerfile");
	one = runop_encode(&a);
	assert_non_null(one);
	assert_string_equal(one, build);
	free(one);
	runop_free(&a);
}

static void
test_op_known_when_refused(void **state)
{
	struct run_request	 req;
	char			 err[256];
	const char		*json = SPEC("\"privileged\":7");

	(void)state;
	assert_int_equal(runop_decode(json, strlen(json), &req, err,
	    sizeof(err)), -1);
	/* The audit record of the refusal names the operation. */
	assert_int_equal(req.op, RUNOP_DEPLOY);
	runop_free(&req);
}

static void
test_sizes(void **state)
{
	struct run_request	 req;
	char			 err[256], *big;
	size_t			 i, len;

	(void)state;
	/* Over the cap: refused before parsing. */
	len = RUNOP_JSON_MAX + 1;
	big = malloc(len + 1);
	assert_non_null(big);
	memset(big, ' ', len);
	memcpy(big, "{\"op\":\"list\"}", 13);
	big[len] = '\0';
	assert_int_equal(runop_decode(big, len, &req, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "61441 bytes, at most 61440"));
	/* At the cap (whitespace padded) it is fine. */
	assert_int_equal(runop_decode(big, len - 1, &req, err, sizeof(err)), 0);
	runop_free(&req);
	free(big);

	/* 65 arguments, and one argument of 4096 bytes. */
	big = malloc(RUNOP_JSON_MAX);
	assert_non_null(big);
	/* SPEC() ends in "}}": write the arguments over it. */
	len = (size_t)snprintf(big, RUNOP_JSON_MAX, "%s", SPEC("\"cmd\":["));
	len -= 2;
	for (i = 0; i < 65; i++)
		len += (size_t)snprintf(big + len, RUNOP_JSON_MAX - len,
		    "%s\"a\"", i > 0 ? "," : "");
	(void)snprintf(big + len, RUNOP_JSON_MAX - len, "]}}");
	assert_int_equal(runop_decode(big, strlen(big), &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "spec.cmd: 65 entries, at most 64"));
	runop_free(&req);
	len = (size_t)snprintf(big, RUNOP_JSON_MAX, "%s", SPEC("\"cmd\":[\""));
	len -= 2;
	memset(big + len, 'a', RUNOP_ARG_LEN);
	(void)snprintf(big + len + RUNOP_ARG_LEN, 8, "\"]}}");
	assert_int_equal(runop_decode(big, strlen(big), &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "spec.cmd[0]: 4096 bytes, at most 4095"));
	runop_free(&req);
	free(big);
}

/* Error messages quote what they refuse safely, and fit any buffer. */
static void
test_messages_safe(void **state)
{
	struct run_request	 req;
	char			 err[16], big[512];
	const char		*json =
	    "{\"op\":\"start\",\"app\":\"\\u001b[31m\\\"x\"}";

	(void)state;
	assert_int_equal(runop_decode(json, strlen(json), &req, big,
	    sizeof(big)), -1);
	assert_non_null(strstr(big, "\\x1b[31m\\x22x"));
	runop_free(&req);
	assert_int_equal(runop_decode(json, strlen(json), &req, err,
	    sizeof(err)), -1);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	runop_free(&req);
	assert_int_equal(runop_decode(json, strlen(json), &req, NULL, 0), -1);
	runop_free(&req);
}

static void
test_results(void **state)
{
	static const char *const good[] = {
		"{\"ok\":true}",
		"{\"ok\":false,\"error\":\"no\",\"app\":\"web\"}",
		"{\"ok\":true,\"app\":\"web\",\"id\":\"abc\",\"name\":\"n\"}",
		"{\"ok\":true,\"app\":\"w\",\"id\":\"i\",\"name\":\"n\","
		    "\"image\":\"x\",\"state\":\"running\",\"running\":true,"
		    "\"exit_code\":0,\"started_at\":\"t\",\"health\":\"\"}",
		"{\"ok\":true,\"apps\":[{\"app\":\"w\",\"name\":\"n\","
		    "\"id\":\"i\",\"image\":\"x\",\"state\":\"s\",\"status\":"
		    "\"u\",\"ports\":[{\"container\":80,\"host\":8080,"
		    "\"host_ip\":\"127.0.0.1\",\"proto\":\"tcp\"}]}]}",
		"{\"ok\":true,\"app\":\"w\",\"stream\":true}",
		"{\"ok\":true,\"cpu_percent\":1.5,\"memory_bytes\":1,"
		    "\"memory_limit\":2,\"pids\":3}",
		"{\"ok\":true,\"cpu_percent\":0,\"memory_bytes\":1,"
		    "\"memory_limit\":2,\"pids\":3}",
		"{\"ok\":true,\"deleted\":2,\"space_reclaimed\":5}",
		"{\"ok\":true,\"image\":\"a:1\",\"id\":\"sha256:x\"}",
	};
	static const struct bad_case bad[] = {
		{ "{}", "ok: required" },
		{ "[]", "expected an object" },
		{ "{\"ok\":1}", "ok: wrong type" },
		{ "{\"ok\":false}", "error: required when ok is false" },
		{ "{\"ok\":true,\"error\":\"x\"}",
		    "error: only when ok is false" },
		{ "{\"ok\":false,\"error\":5}", "error: wrong type" },
		{ "{\"ok\":true,\"extra\":1}", "unknown key \"extra\"" },
		{ "{\"ok\":true,\"exit_code\":\"1\"}",
		    "exit_code: wrong type" },
		{ "{\"ok\":true,\"running\":\"yes\"}", "running: wrong type" },
		{ "{\"ok\":true,\"apps\":{}}", "apps: wrong type" },
		{ "{\"ok\":true,\"apps\":[1]}", "apps[0]: expected an object" },
		{ "{\"ok\":true,\"apps\":[{\"x\":1}]}",
		    "apps[0]: unknown key \"x\"" },
		{ "{\"ok\":true,\"apps\":[{\"ports\":[{\"host\":\"1\"}]}]}",
		    "apps[0].ports[0].host: wrong type" },
		{ "{\"ok\":true,\"ok\":true}", "duplicate" },
		{ "{\"ok\":true", "malformed JSON" },
	};
	char	 err[256], *big;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (runresult_check(good[i], strlen(good[i]), err,
		    sizeof(err)) == -1)
			fail_msg("refused %s: %s", good[i], err);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (runresult_check(bad[i].json, strlen(bad[i].json), err,
		    sizeof(err)) == 0)
			fail_msg("accepted %s", bad[i].json);
		if (strstr(err, bad[i].message) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].json, err,
			    bad[i].message);
	}
	big = calloc(1, RUNRESULT_JSON_MAX + 2);
	assert_non_null(big);
	memset(big, ' ', RUNRESULT_JSON_MAX + 1);
	memcpy(big, "{\"ok\":true}", 11);
	assert_int_equal(runresult_check(big, RUNRESULT_JSON_MAX + 1, err,
	    sizeof(err)), -1);
	assert_int_equal(runresult_check(big, RUNRESULT_JSON_MAX, err,
	    sizeof(err)), 0);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_round_trip),
		cmocka_unit_test(test_minimal_ops),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_repo_fields),
		cmocka_unit_test(test_op_known_when_refused),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_messages_safe),
		cmocka_unit_test(test_results),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
