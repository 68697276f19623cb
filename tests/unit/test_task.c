/*
 * test_task.c: the native task decoder against PROTOCOL.md 5.1-5.3:
 * the test vector's canonical bytes and signature, and a table of tasks
 * that must be refused, each with the field the refusal names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "audit.h"
#include "base64url.h"
#include "task.h"

/* PROTOCOL.md 5.3, the task test vector (any order, any whitespace). */
static const char vector[] =
    "{\"spec\": {\"image\": \"nginx:1.25\",\n"
    "  \"env\": [{\"name\": \"GREETING\", \"value\": \"h\\u00e9llo\\n\\\"world\\\"\"},\n"
    "          {\"name\": \"TOKEN\", \"value\": \"s3cret\", \"secret\": true}],\n"
    "  \"ports\": [{\"container_port\": 80, \"host_port\": 8080}],\n"
    "  \"memory_bytes\": 268435456, \"cpu_millis\": 500, \"replicas\": 2},\n"
    " \"id\": \"t_0123456789abcdef\", \"kind\": \"deploy\", \"app\": \"web\",\n"
    " \"node_id\": \"n_00112233aabbccdd\", \"seq\": 42,\n"
    " \"created\": 1700000000, \"not_after\": 1700003600,\n"
    " \"signature\": \"1_3oDiMvN2ZWvUShxlE1k6bpSQDK43qxPf_m_Ovt3KObiTag3kf6TojNBKfKnCKS7LVl8mms2HV3iOXFC290BQ\"}";
static const char vector_key[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char vector_sha256[] =
    "69a9bdd7a9b35bbe45fdee14cdace0a61dd942bfafec1dff6cecf424430d3182";

static void
test_vector(void **state)
{
	struct task	 t;
	uint8_t		 key[TASK_KEY_LEN];
	char		 err[256], hash[AUDIT_HASH_HEX + 1], *msg;
	size_t		 len;

	(void)state;
	assert_int_equal(task_decode(vector, strlen(vector), &t, err,
	    sizeof(err)), 0);
	assert_string_equal(t.id, "t_0123456789abcdef");
	assert_int_equal(t.kind, TASK_DEPLOY);
	assert_int_equal(t.seq, 42);
	assert_int_equal(t.spec.nenv, 2);
	assert_true(t.spec.env[1].secret);
	assert_int_equal(t.spec.nports, 1);
	assert_int_equal(t.spec.ports[0].host_port, 8080);
	assert_int_equal(t.spec.cpu_millis, 500);
	assert_int_equal(t.spec.replicas, 2);
	msg = task_signed_message(&t, &len);
	assert_non_null(msg);
	assert_int_equal(len, 391);
	audit_sha256_hex(msg, len, hash);
	assert_string_equal(hash, vector_sha256);
	free(msg);
	assert_int_equal(base64url_decode(vector_key, key, sizeof(key)), 0);
	assert_true(task_signature_valid(&t, key));
	/* Another key, or one flipped bit, and it no longer verifies. */
	key[0] ^= 1;
	assert_false(task_signature_valid(&t, key));
	key[0] ^= 1;
	t.signature[10] ^= 0x20;
	assert_false(task_signature_valid(&t, key));
	task_free(&t);
}

static void
test_base64url_strict(void **state)
{
	uint8_t	 out[2];

	(void)state;
	assert_int_equal(base64url_decode("AAE", out, 2), 0);
	assert_int_equal(base64url_decode("AAE=", out, 2), -1);
	assert_int_equal(base64url_decode("AAF", out, 2), -1);	/* tail bits */
	assert_int_equal(base64url_decode("A+E", out, 2), -1);
	assert_int_equal(base64url_decode("AA", out, 2), -1);
}

#define HEAD	"\"id\":\"t_1\",\"app\":\"web\",\"node_id\":\"n_1\"," \
		"\"seq\":1,\"created\":1,\"not_after\":2,"

static const struct {
	const char	*json;
	const char	*field;		/* in the refusal */
} refused[] = {
	{ "[]", "not an object" },
	{ "{" HEAD "\"kind\":\"start\",\"spec\":{},\"extra\":1}",
	    "task.extra: unknown member" },
	{ "{" HEAD "\"kind\":\"start\",\"spec\":{\"x\":1}}", "spec.x" },
	{ "{" HEAD "\"kind\":\"stop\",\"spec\":{\"grace_sec\":1.5}}",
	    "floats and null" },
	{ "{" HEAD "\"kind\":\"stop\",\"spec\":{\"grace_sec\":null}}",
	    "floats and null" },
	{ "{" HEAD "\"kind\":\"stop\",\"spec\":{\"grace_sec\":3601}}",
	    "spec.grace_sec" },
	{ "{" HEAD "\"kind\":\"start\",\"spec\":{\"Bad\":1}}", "[a-z0-9_]" },
	{ "{" HEAD "\"kind\":\"fly\",\"spec\":{}}", "task.kind" },
	{ "{" HEAD "\"kind\":\"start\"}", "task.spec: missing" },
	{ "{\"id\":\"t_1\",\"app\":\"web\",\"node_id\":\"n_1\",\"seq\":1,"
	    "\"created\":1,\"kind\":\"start\",\"spec\":{}}", "not_after" },
	{ "{\"id\":\"t_1\",\"app\":\"We b\",\"node_id\":\"n_1\",\"seq\":1,"
	    "\"created\":1,\"not_after\":2,\"kind\":\"start\",\"spec\":{}}",
	    "task.app" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{}}", "exactly one" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"image\":\"a\","
	    "\"repo\":{\"url\":\"https://x/y\",\"ref\":\"main\"}}}",
	    "exactly one" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"image\":\"a\","
	    "\"ports\":[{\"container_port\":0}]}}", "container_port" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"image\":\"a\","
	    "\"env\":[{\"name\":\"A\",\"value\":\"1\"},"
	    "{\"name\":\"A\",\"value\":\"2\"}]}}", "repeated" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"image\":\"a\x01\"}}",
	    "control character" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"image\":\"a\","
	    "\"memory_bytes\":1}}", "memory_bytes" },
	{ "{" HEAD "\"kind\":\"deploy\",\"spec\":{\"repo\":{\"url\":"
	    "\"file:///etc\",\"ref\":\"main\"}}}", "spec.repo.url" },
	{ "{" HEAD "\"kind\":\"scale\",\"spec\":{}}", "replicas: missing" },
	{ "{" HEAD "\"kind\":\"run\",\"spec\":{\"image\":\"a\"}}",
	    "spec.cmd" },
	{ "{" HEAD "\"kind\":\"start\",\"spec\":{},\"signature\":\"AAAA\"}",
	    "task.signature" },
	{ "{" HEAD "\"kind\":\"start\",\"kind\":\"stop\",\"spec\":{}}",
	    "not JSON" },
};

static void
test_refusals(void **state)
{
	struct task	 t;
	char		 err[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (task_decode(refused[i].json, strlen(refused[i].json), &t,
		    err, sizeof(err)) != -1)
			fail_msg("accepted: %s", refused[i].json);
		if (strstr(err, refused[i].field) == NULL)
			fail_msg("%s: \"%s\" does not name %s",
			    refused[i].json, err, refused[i].field);
		task_free(&t);
	}
}

/* The id is known before most failures: the rejected event needs it. */
static void
test_id_kept_on_refusal(void **state)
{
	static const char json[] = "{" HEAD "\"kind\":\"start\","
	    "\"spec\":{\"x\":1}}";
	struct task	 t;
	char		 err[256];

	(void)state;
	assert_int_equal(task_decode(json, strlen(json), &t, err,
	    sizeof(err)), -1);
	assert_string_equal(t.id, "t_1");
	task_free(&t);
}

static void
test_kinds(void **state)
{
	static const char *const ok[] = {
		"{" HEAD "\"kind\":\"start\",\"spec\":{}}",
		"{" HEAD "\"kind\":\"stop\",\"spec\":{\"grace_sec\":3}}",
		"{" HEAD "\"kind\":\"scale\",\"spec\":{\"replicas\":0}}",
		"{" HEAD "\"kind\":\"logs\",\"spec\":{\"follow\":true,"
		    "\"tail\":10}}",
		"{" HEAD "\"kind\":\"run\",\"spec\":{\"image\":\"a\","
		    "\"cmd\":[\"echo\",\"a\\tb\"],\"workdir\":\"/w\"}}",
		"{" HEAD "\"kind\":\"deploy\",\"spec\":{\"repo\":{\"url\":"
		    "\"https://git.example/w.git\",\"commit\":"
		    "\"0123456789abcdef0123456789abcdef01234567\"},"
		    "\"dockerfile\":\"app/Dockerfile\",\"health\":{\"type\":"
		    "\"http\",\"path\":\"/\",\"port\":80}}}",
	};
	struct task	 t;
	char		 err[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (task_decode(ok[i], strlen(ok[i]), &t, err,
		    sizeof(err)) != 0)
			fail_msg("refused %s: %s", ok[i], err);
		task_free(&t);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_base64url_strict),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_id_kept_on_refusal),
		cmocka_unit_test(test_kinds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
