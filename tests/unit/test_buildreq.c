/*
 * test_buildreq.c: the builder's message decoders (common/buildreq.c).
 * A table of requests each accepted or refused with a sentence naming
 * the field, since that sentence is what the operator reads in the
 * task's result; the URL check on its own; the answers the builder
 * sends; and encode/decode round trips.
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

#include "buildreq.h"
#include "compat.h"

#define HEX40	"0123456789abcdef0123456789abcdef01234567"
#define ALLOW	"\"allow\":{\"url_prefixes\":[\"git://127.0.0.1/\"]}"
#define REPO	"\"repo\":{\"url\":\"git://127.0.0.1/app.git\"," \
		"\"commit\":\"" HEX40 "\"}"
/* A request with one part replaced. */
#define WITH(repo, allow, extra) \
	"{\"task\":\"t1\",\"app\":\"web\"," repo "," allow extra "}"

static const char full_request[] =
    "{\"task\":\"t1\",\"app\":\"web\","
    "\"repo\":{\"url\":\"git://127.0.0.1/app.git\",\"commit\":\"" HEX40 "\","
    "\"ref\":\"main\"},\"dockerfile\":\"docker/Dockerfile\","
    "\"buildpack\":{\"node\":\"berth-node:latest\",\"python\":\"py:3\","
    "\"go\":\"golang:1.22\",\"ruby\":\"ruby:3\",\"php\":\"php:8-apache\","
    "\"static\":\"berth-base:latest\"},"
    "\"limits\":{\"timeout_sec\":1800,\"workspace_bytes\":1073741824},"
    "\"allow\":{\"file_urls\":true,\"submodules\":false,\"ssh\":false,"
    "\"url_prefixes\":[\"git://127.0.0.1/\",\"file:///srv/git/\"]}}";

struct decode_case {
	const char	*json;
	const char	*error;		/* NULL: accepted; else a substring */
};

static const struct decode_case decode_cases[] = {
	{ full_request, NULL },
	{ WITH(REPO, ALLOW, ""), NULL },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/app.git\","
	    "\"ref\":\"refs/tags/v1.0\"}", ALLOW, ""), NULL },
	{ WITH("\"repo\":{\"url\":\"ssh://git@127.0.0.1:2222/app.git\","
	    "\"ref\":\"main\"}", "\"allow\":{\"ssh\":true,\"url_prefixes\":"
	    "[\"ssh://git@127.0.0.1:2222/\"]}", ""), NULL },
	{ "{\"cancel\":\"t1\"}", NULL },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"timeout_sec\":86400,"
	    "\"workspace_bytes\":1048576}"), NULL },

	/* The envelope. */
	{ "{\"task\":", "request: malformed JSON" },
	{ "[1]", "request: expected an object, got an array" },
	{ WITH(REPO, ALLOW, ",\"op\":\"x\""), "request: unknown key \"op\"" },
	{ "{\"task\":\"t1\",\"task\":\"t2\"}", "duplicate" },
	{ "{\"cancel\":\"t1\",\"task\":\"t1\"}", "request: unknown key" },
	{ "{\"cancel\":\"t 1\"}", "cancel: \"t 1\" may hold only" },
	{ "{\"cancel\":5}", "cancel: expected a string, got an integer" },

	/* task and app. */
	{ "{\"app\":\"web\"," REPO "," ALLOW "}", "task: required" },
	{ WITH(REPO, ALLOW, ",\"task\":\"x\""), "duplicate" },
	{ "{\"task\":\"\",\"app\":\"web\"," REPO "," ALLOW "}",
	    "task: \"\" must not be empty" },
	{ "{\"task\":\"a/b\",\"app\":\"web\"," REPO "," ALLOW "}",
	    "task: \"a/b\" may hold only" },
	{ "{\"task\":\"" HEX40 HEX40 "\",\"app\":\"web\"," REPO "," ALLOW "}",
	    "task: 80 bytes, at most 63 allowed" },
	{ "{\"task\":\"t1\",\"app\":\"Web\"," REPO "," ALLOW "}",
	    "app: \"Web\" must match" },
	{ "{\"task\":\"t1\",\"app\":\"w\\u0000b\"," REPO "," ALLOW "}",
	    "request: malformed JSON" },	/* jansson refuses \u0000 */

	/* repo. */
	{ "{\"task\":\"t1\",\"app\":\"web\"," ALLOW "}", "repo: required" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\"}", ALLOW, ""),
	    "repo: needs a commit or a ref" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"branch\":\"m\"}",
	    ALLOW, ""), "repo: unknown key \"branch\"" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"commit\":\"abc\"}",
	    ALLOW, ""), "repo.commit: \"abc\" must be 40 lower-case hex" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"commit\":"
	    "\"0123456789ABCDEF0123456789abcdef01234567\"}", ALLOW, ""),
	    "repo.commit:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":\"-x\"}",
	    ALLOW, ""), "repo.ref: \"-x\" is not a plain" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":\"a..b\"}",
	    ALLOW, ""), "repo.ref:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":\"a.lock\"}",
	    ALLOW, ""), "repo.ref:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":\"a//b\"}",
	    ALLOW, ""), "repo.ref:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":\"a b\"}",
	    ALLOW, ""), "repo.ref:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a\",\"ref\":"
	    "\"main@{1}\"}", ALLOW, ""), "repo.ref:" },

	/* repo.url: schemes, form, the allowlist. */
	{ WITH("\"repo\":{\"url\":\"http://127.0.0.1/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "repo.url: \"http://127.0.0.1/a\" must start with" },
	{ WITH("\"repo\":{\"url\":\"ext::sh -c id\",\"ref\":\"m\"}",
	    ALLOW, ""), "repo.url:" },
	{ WITH("\"repo\":{\"url\":\"--upload-pack=id\",\"ref\":\"m\"}",
	    ALLOW, ""), "repo.url:" },
	{ WITH("\"repo\":{\"url\":\"file:///srv/git/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "uses file, which the policy does not allow" },
	{ WITH("\"repo\":{\"url\":\"ssh://127.0.0.1/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "uses ssh, which the policy does not allow" },
	{ WITH("\"repo\":{\"url\":\"git://u:p@127.0.0.1/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "must not hold credentials" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/../etc\",\"ref\":\"m\"}",
	    ALLOW, ""), "must not hold a . or .. path segment" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1//a\",\"ref\":\"m\"}",
	    ALLOW, ""), "empty path segment" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1.evil/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "is not under any allowed URL prefix" },
	{ WITH("\"repo\":{\"url\":\"git://10.0.0.1/a\",\"ref\":\"m\"}",
	    ALLOW, ""), "is not under any allowed URL prefix" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a b\",\"ref\":\"m\"}",
	    ALLOW, ""), "repo.url: \"git://127.0.0.1/a b\" may hold only" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/a?x\",\"ref\":\"m\"}",
	    ALLOW, ""), "repo.url:" },
	{ WITH("\"repo\":{\"url\":\"git://127.0.0.1/\",\"ref\":\"m\"}",
	    ALLOW, ""), "has no repository path" },
	{ WITH("\"repo\":{\"url\":\"file:///srv/%2e%2e/a\",\"ref\":\"m\"}",
	    "\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file:///\"]}",
	    ""), "must not hold percent escapes" },
	{ WITH("\"repo\":{\"url\":\"file://host/srv/a\",\"ref\":\"m\"}",
	    "\"allow\":{\"file_urls\":true,\"url_prefixes\":[\"file:///\"]}",
	    ""), "must be file:/// and an absolute path" },

	/* dockerfile, buildpack, limits. */
	{ WITH(REPO, ALLOW, ",\"dockerfile\":\"../Dockerfile\""),
	    "dockerfile: \"../Dockerfile\" must be a relative path" },
	{ WITH(REPO, ALLOW, ",\"dockerfile\":\"/Dockerfile\""),
	    "dockerfile:" },
	{ WITH(REPO, ALLOW, ",\"dockerfile\":\"a//Dockerfile\""),
	    "dockerfile:" },
	{ WITH(REPO, ALLOW, ",\"dockerfile\":\"-f\""), "dockerfile:" },
	{ WITH(REPO, ALLOW, ",\"buildpack\":{\"java\":\"x\"}"),
	    "buildpack: unknown key \"java\"" },
	{ WITH(REPO, ALLOW, ",\"buildpack\":{\"node\":\"a b\"}"),
	    "buildpack.node: \"a b\" may hold only" },
	{ WITH(REPO, ALLOW, ",\"buildpack\":{\"node\":\"/x\"}"),
	    "buildpack.node:" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"timeout_sec\":0}"),
	    "limits.timeout_sec: 0 is out of range" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"timeout_sec\":86401}"),
	    "limits.timeout_sec: 86401 is out of range" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"timeout_sec\":\"10\"}"),
	    "limits.timeout_sec: expected an integer, got a string" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"timeout_sec\":1.5}"),
	    "limits.timeout_sec: expected an integer, got a real" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"workspace_bytes\":100}"),
	    "limits.workspace_bytes: 100 is out of range" },
	{ WITH(REPO, ALLOW, ",\"limits\":{\"cpu\":1}"),
	    "limits: unknown key \"cpu\"" },

	/* allow. */
	{ "{\"task\":\"t1\",\"app\":\"web\"," REPO "}", "allow: required" },
	{ WITH(REPO, "\"allow\":{}", ""), "allow.url_prefixes: required" },
	{ WITH(REPO, "\"allow\":{\"url_prefixes\":[]}", ""),
	    "allow.url_prefixes: must not be empty" },
	{ WITH(REPO, "\"allow\":{\"url_prefixes\":[\"git://127.0.0.1\"]}", ""),
	    "allow.url_prefixes[0]: \"git://127.0.0.1\" must end with /" },
	{ WITH(REPO, "\"allow\":{\"url_prefixes\":[\"git://127.0.0.1/\","
	    "\"file:///srv/\"]}", ""),
	    "allow.url_prefixes[1]: file URLs are not allowed" },
	{ WITH(REPO, "\"allow\":{\"ssh\":1,\"url_prefixes\":[\"git://h/\"]}",
	    ""), "allow.ssh: expected a boolean, got an integer" },
	{ WITH(REPO, "\"allow\":{\"url_prefixes\":[\"git://h/\"],\"x\":1}",
	    ""), "allow: unknown key \"x\"" },
	{ WITH(REPO, "\"allow\":{\"url_prefixes\":[\"a/\",\"b/\",\"c/\","
	    "\"d/\",\"e/\",\"f/\",\"g/\",\"h/\",\"i/\",\"j/\",\"k/\",\"l/\","
	    "\"m/\",\"n/\",\"o/\",\"p/\",\"q/\"]}", ""),
	    "allow.url_prefixes: 17 entries, at most 16 allowed" },
};

static void
test_decode_table(void **state)
{
	struct build_request	*req;
	char			 err[256];
	size_t			 i;
	int			 rc;

	(void)state;
	req = malloc(sizeof(*req));
	assert_non_null(req);
	for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];

		rc = buildreq_decode(c->json, strlen(c->json), req, err,
		    sizeof(err));
		if (c->error == NULL && rc != 0)
			fail_msg("case %zu refused: %s\n%s", i, err, c->json);
		if (c->error != NULL && rc == 0)
			fail_msg("case %zu accepted, wanted \"%s\"\n%s", i,
			    c->error, c->json);
		if (c->error != NULL && strstr(err, c->error) == NULL)
			fail_msg("case %zu: got \"%s\", wanted \"%s\"", i, err,
			    c->error);
	}
	free(req);
}

static void
test_full_fields(void **state)
{
	struct build_request	*req;
	char			 err[256];

	(void)state;
	req = malloc(sizeof(*req));
	assert_non_null(req);
	assert_int_equal(buildreq_decode(full_request, strlen(full_request),
	    req, err, sizeof(err)), 0);
	assert_false(req->cancel);
	assert_string_equal(req->task, "t1");
	assert_string_equal(req->app, "web");
	assert_string_equal(req->url, "git://127.0.0.1/app.git");
	assert_string_equal(req->commit, HEX40);
	assert_string_equal(req->ref, "main");
	assert_string_equal(req->dockerfile, "docker/Dockerfile");
	assert_string_equal(req->buildpack[BUILD_KIND_NODE],
	    "berth-node:latest");
	assert_string_equal(req->buildpack[BUILD_KIND_STATIC],
	    "berth-base:latest");
	assert_string_equal(req->buildpack[BUILD_KIND_DOCKERFILE], "");
	assert_int_equal(req->timeout_sec, 1800);
	assert_int_equal(req->workspace_bytes, 1073741824ULL);
	assert_true(req->allow.file_urls);
	assert_false(req->allow.submodules);
	assert_int_equal(req->allow.nurl_prefixes, 2);
	assert_string_equal(req->allow.url_prefixes[1], "file:///srv/git/");
	free(req);
}

static void
test_defaults_and_cancel(void **state)
{
	static const char minimal[] = WITH(REPO, ALLOW, "");
	struct build_request	 req;
	char			 err[256];

	(void)state;
	assert_int_equal(buildreq_decode(minimal, strlen(minimal), &req, err,
	    sizeof(err)), 0);
	assert_int_equal(req.timeout_sec, BUILD_TIMEOUT_DEFAULT);
	assert_int_equal(req.workspace_bytes, BUILD_WORKSPACE_DEFAULT);
	assert_false(req.allow.file_urls || req.allow.ssh ||
	    req.allow.submodules);
	assert_string_equal(req.dockerfile, "");

	assert_int_equal(buildreq_decode("{\"cancel\":\"t-9\"}", 16, &req, err,
	    sizeof(err)), 0);
	assert_true(req.cancel);
	assert_string_equal(req.task, "t-9");
}

/* A refusal learns the task first, so that the answer can name it. */
static void
test_refusal_keeps_task(void **state)
{
	static const char bad[] = "{\"task\":\"t7\",\"app\":\"web\",\"x\":1}";
	struct build_request	 req;
	char			 err[256];

	(void)state;
	assert_int_equal(buildreq_decode(bad, strlen(bad), &req, err,
	    sizeof(err)), -1);
	assert_string_equal(req.task, "t7");
}

static void
test_oversize(void **state)
{
	struct build_request	 req;
	char			*big, err[256];
	size_t			 len = BUILDREQ_JSON_MAX + 1;

	(void)state;
	big = malloc(len);
	assert_non_null(big);
	memset(big, ' ', len);
	big[0] = '{';
	big[len - 1] = '}';
	assert_int_equal(buildreq_decode(big, len, &req, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "request: 16385 bytes"));
	free(big);
}

static void
test_check_url(void **state)
{
	struct build_allow	 allow;
	static const struct {
		const char	*url;
		int		 ok;
	} cases[] = {
		{ "git://127.0.0.1/app.git", 1 },
		{ "git://127.0.0.1:9419/app.git", 0 },	/* another port */
		{ "https://git.example.com/team/app.git", 1 },
		{ "https://git.example.com.evil/team/app.git", 0 },
		{ "https://user@git.example.com/team/app.git", 0 },
		{ "file:///srv/git/app.git", 1 },
		{ "file:///srv/git/../secret", 0 },
		{ "file:///srv/gitx/app.git", 0 },
		{ "file:///srv/git/./app.git", 0 },
		/* ssh is off */
		{ "ssh://git@git.example.com/team/app.git", 0 },
		{ "git://127.0.0.1/app.git#frag", 0 },
		{ "git://127.0.0.1/app.git\n", 0 },
		{ "", 0 },
	};
	size_t	 i;

	(void)state;
	memset(&allow, 0, sizeof(allow));
	allow.file_urls = 1;
	(void)strlcpy(allow.url_prefixes[0], "https://git.example.com/",
	    sizeof(allow.url_prefixes[0]));
	(void)strlcpy(allow.url_prefixes[1], "file:///srv/git/",
	    sizeof(allow.url_prefixes[1]));
	(void)strlcpy(allow.url_prefixes[2], "git://127.0.0.1/",
	    sizeof(allow.url_prefixes[2]));
	allow.nurl_prefixes = 3;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = buildreq_check_url(cases[i].url, &allow);

		if (cases[i].ok && why != NULL)
			fail_msg("%s refused: %s", cases[i].url, why);
		if (!cases[i].ok && why == NULL)
			fail_msg("%s accepted", cases[i].url);
	}
}

static void
test_round_trip(void **state)
{
	struct build_request	*a, *b;
	char			*one, *two, err[256];

	(void)state;
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(buildreq_decode(full_request, strlen(full_request), a,
	    err, sizeof(err)), 0);
	assert_non_null(one = buildreq_encode(a));
	assert_int_equal(buildreq_decode(one, strlen(one), b, err,
	    sizeof(err)), 0);
	assert_non_null(two = buildreq_encode(b));
	assert_string_equal(one, two);
	assert_string_equal(b->url, a->url);
	assert_string_equal(b->buildpack[BUILD_KIND_GO], "golang:1.22");
	free(one);
	free(two);

	/* What the decoder refuses, the encoder does not write. */
	(void)strlcpy(a->url, "http://127.0.0.1/x", sizeof(a->url));
	assert_null(buildreq_encode(a));
	memset(a, 0, sizeof(*a));
	a->cancel = 1;
	(void)strlcpy(a->task, "t1", sizeof(a->task));
	assert_non_null(one = buildreq_encode(a));
	assert_string_equal(one, "{\"cancel\":\"t1\"}");
	free(one);
	free(a);
	free(b);
}

struct answer_case {
	int		 which;		/* 0 log, 1 context, 2 done */
	const char	*json;
	const char	*error;
};

static const struct answer_case answer_cases[] = {
	{ 0, "{\"task\":\"t1\",\"stage\":\"clone\",\"text\":\"git: ok\"}",
	    NULL },
	{ 0, "{\"task\":\"t1\",\"stage\":\"build\",\"text\":\"x\"}",
	    "stage: \"build\" is not one of the known values" },
	{ 0, "{\"task\":\"t1\",\"stage\":\"clone\",\"text\":\"a\\nb\"}",
	    "text: \"a\\x0ab\" must be printable ASCII" },
	{ 0, "{\"task\":\"t1\",\"stage\":\"clone\"}", "text: required" },
	{ 1, "{\"task\":\"t1\",\"commit\":\"" HEX40 "\",\"detected\":\"node\","
	    "\"dockerfile\":\".berth.Dockerfile\"}", NULL },
	{ 1, "{\"task\":\"t1\",\"commit\":\"\",\"detected\":\"node\","
	    "\"dockerfile\":\"Dockerfile\"}",
	    "commit: \"\" must not be empty" },
	{ 1, "{\"task\":\"t1\",\"commit\":\"" HEX40 "\",\"detected\":\"java\","
	    "\"dockerfile\":\"Dockerfile\"}", "detected:" },
	{ 1, "{\"task\":\"t1\",\"commit\":\"" HEX40 "\",\"detected\":\"go\","
	    "\"dockerfile\":\"../Dockerfile\"}", "dockerfile:" },
	{ 1, "{\"task\":\"t1\",\"commit\":\"" HEX40 "\",\"detected\":\"go\","
	    "\"dockerfile\":\"Dockerfile\",\"fd\":3}", "unknown key \"fd\"" },
	{ 2, "{\"task\":\"t1\",\"ok\":true}", NULL },
	{ 2, "{\"task\":\"\",\"ok\":false,\"error\":\"request: bad\"}", NULL },
	{ 2, "{\"task\":\"t1\",\"ok\":false,\"error\":\"clone: x\"}", NULL },
	{ 2, "{\"task\":\"t1\",\"ok\":true,\"error\":\"x\"}",
	    "error: present although ok is true" },
	{ 2, "{\"task\":\"t1\",\"ok\":false}", "error: required when ok" },
	{ 2, "{\"task\":\"t1\",\"ok\":\"yes\"}", "ok: expected a boolean" },
};

static void
test_answers(void **state)
{
	struct build_log	 log;
	struct build_context	 bc;
	struct build_done	 done;
	char			 err[256];
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < sizeof(answer_cases) / sizeof(answer_cases[0]); i++) {
		const struct answer_case *c = &answer_cases[i];
		size_t	 len = strlen(c->json);

		if (c->which == 0)
			rc = build_log_decode(c->json, len, &log, err,
			    sizeof(err));
		else if (c->which == 1)
			rc = build_context_decode(c->json, len, &bc, err,
			    sizeof(err));
		else
			rc = build_done_decode(c->json, len, &done, err,
			    sizeof(err));
		if (c->error == NULL && rc != 0)
			fail_msg("answer %zu refused: %s", i, err);
		if (c->error != NULL && (rc == 0 ||
		    strstr(err, c->error) == NULL))
			fail_msg("answer %zu: got \"%s\", wanted \"%s\"", i,
			    rc == 0 ? "accepted" : err, c->error);
	}
}

/* Encoders clean text: any string can be logged. */
static void
test_answer_encoders(void **state)
{
	struct build_log	 log;
	struct build_done	 done;
	struct build_context	 bc;
	char			*s;

	(void)state;
	memset(&log, 0, sizeof(log));
	(void)strlcpy(log.task, "t1", sizeof(log.task));
	log.stage = BUILD_STAGE_DETECT;
	(void)strlcpy(log.text, "line\none\x1b[31m\xc3\xa9", sizeof(log.text));
	assert_non_null(s = build_log_encode(&log));
	assert_string_equal(s, "{\"task\":\"t1\",\"stage\":\"detect\","
	    "\"text\":\"line?one?[31m??\"}");
	free(s);

	memset(&done, 0, sizeof(done));
	(void)strlcpy(done.task, "t1", sizeof(done.task));
	done.ok = 1;
	assert_non_null(s = build_done_encode(&done));
	assert_string_equal(s, "{\"task\":\"t1\",\"ok\":true}");
	free(s);
	done.ok = 0;
	(void)strlcpy(done.error, "clone: timed out", sizeof(done.error));
	assert_non_null(s = build_done_encode(&done));
	assert_string_equal(s, "{\"task\":\"t1\",\"ok\":false,"
	    "\"error\":\"clone: timed out\"}");
	free(s);

	memset(&bc, 0, sizeof(bc));
	(void)strlcpy(bc.task, "t1", sizeof(bc.task));
	(void)strlcpy(bc.commit, HEX40, sizeof(bc.commit));
	bc.detected = BUILD_KIND_STATIC;
	(void)strlcpy(bc.dockerfile, ".berth.Dockerfile",
	    sizeof(bc.dockerfile));
	assert_non_null(s = build_context_encode(&bc));
	assert_string_equal(s, "{\"task\":\"t1\",\"commit\":\"" HEX40 "\","
	    "\"detected\":\"static\",\"dockerfile\":\".berth.Dockerfile\"}");
	free(s);
	bc.commit[0] = '\0';
	assert_null(build_context_encode(&bc));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_full_fields),
		cmocka_unit_test(test_defaults_and_cancel),
		cmocka_unit_test(test_refusal_keeps_task),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_check_url),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_answer_encoders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
