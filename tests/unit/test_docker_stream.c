/*
 * test_docker_stream.c: the decoders of runner/docker_stream.c.  Each
 * test states one promise (the same result wherever the input is split,
 * bounded memory through caps, refusal of bad headers and malformed
 * lines, failed builds detected from a 200 stream, image ids checked,
 * events of objects berth does not own filtered out) and feeds every
 * split position, including one byte at a time.
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
#include <jansson.h>

#include "berth.h"
#include "docker_stream.h"

/* Feed whole, in two pieces at split, or one byte at a time. */
#define SPLIT_NONE	((size_t)-1)
#define SPLIT_BYTES	((size_t)-2)

/* What a decoder produced, flattened to text so runs can be compared. */
struct record {
	char	 text[64 * 1024];
	size_t	 len;
	int	 calls;
	int	 refuse_at;	/* callback number that returns -1; 0: never */
};

static void	 record_add(struct record *, const char *, size_t);
static void	 record_printf(struct record *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));

static void
record_add(struct record *r, const char *data, size_t len)
{
	assert_true(len <= sizeof(r->text) - r->len);
	memcpy(r->text + r->len, data, len);
	r->len += len;
}

static void
record_printf(struct record *r, const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(buf));
	record_add(r, buf, (size_t)n);
}

/*
 * Feed in to a decoder through feed(), split as asked, then finish().
 * Returns -1 as soon as a step fails, as a caller of the decoder would.
 */
typedef int	(*feed_fn)(void *, const void *, size_t);
typedef int	(*finish_fn)(void *);

static int
feed_split(void *dec, feed_fn feed, finish_fn finish, const char *in,
    size_t len, size_t split)
{
	size_t	 i;

	if (split == SPLIT_BYTES) {
		for (i = 0; i < len; i++)
			if (feed(dec, in + i, 1) == -1)
				return -1;
	} else if (split == SPLIT_NONE) {
		if (feed(dec, in, len) == -1)
			return -1;
	} else {
		if (feed(dec, in, split) == -1 ||
		    feed(dec, in + split, len - split) == -1)
			return -1;
	}
	return finish(dec);
}

/* --- log frames ------------------------------------------------------ */

static int
logframe_feed_fn(void *dec, const void *p, size_t len)
{
	return logframe_feed(dec, p, len);
}

static int
logframe_finish_fn(void *dec)
{
	return logframe_finish(dec);
}

static int
on_frame(void *arg, enum logframe_stream stream, const char *p, size_t len)
{
	struct record	*r = arg;

	r->calls++;
	if (r->refuse_at != 0 && r->calls == r->refuse_at)
		return -1;
	record_printf(r, "[%d:%zu]", (int)stream, len);
	record_add(r, p, len);
	return 0;
}

static size_t
frame(char *out, int stream, const char *payload, size_t len)
{
	out[0] = (char)stream;
	out[1] = out[2] = out[3] = 0;
	out[4] = (char)(len >> 24);
	out[5] = (char)(len >> 16);
	out[6] = (char)(len >> 8);
	out[7] = (char)len;
	memcpy(out + 8, payload, len);
	return 8 + len;
}

/* Runs the frame decoder; the error, if any, is copied to err. */
static int
logframe_run(const char *in, size_t len, size_t split, int raw, size_t cap,
    struct record *r, char *err, size_t errsize)
{
	struct logframe_decoder	 d;
	int			 rc;

	logframe_init(&d, raw, cap, on_frame, r);
	rc = feed_split(&d, logframe_feed_fn, logframe_finish_fn, in, len,
	    split);
	if (err != NULL)
		(void)strlcpy(err, rc == -1 ? logframe_error(&d) : "",
		    errsize);
	logframe_clear(&d);
	return rc;
}

static size_t
sample_frames(char *buf, size_t size)
{
	static char	 big[3000];
	size_t		 n = 0;

	assert_true(size >= 4096);
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	n += frame(buf + n, 1, "hello\n", 6);
	n += frame(buf + n, 2, "err\n", 4);
	n += frame(buf + n, 1, "", 0);
	n += frame(buf + n, 1, "2026-11-23T16:53:44.192527123Z out1\n", 36);
	n += frame(buf + n, 2, big, sizeof(big));
	n += frame(buf + n, 0, "in", 2);
	return n;
}

static void
test_logframe_splits(void **state)
{
	static struct record	 whole, part;
	char			 in[8192];
	size_t			 len, split;

	(void)state;
	len = sample_frames(in, sizeof(in));
	memset(&whole, 0, sizeof(whole));
	assert_int_equal(logframe_run(in, len, SPLIT_NONE, 0, 0, &whole,
	    NULL, 0), 0);
	/* The empty frame makes no callback. */
	assert_int_equal(whole.calls, 5);
	assert_memory_equal(whole.text, "[1:6]hello\n[2:4]err\n", 20);
	for (split = 0; split <= len; split++) {
		memset(&part, 0, sizeof(part));
		assert_int_equal(logframe_run(in, len, split, 0, 0, &part,
		    NULL, 0), 0);
		assert_int_equal(part.len, whole.len);
		assert_memory_equal(part.text, whole.text, whole.len);
	}
	memset(&part, 0, sizeof(part));
	assert_int_equal(logframe_run(in, len, SPLIT_BYTES, 0, 0, &part,
	    NULL, 0), 0);
	assert_int_equal(part.len, whole.len);
	assert_memory_equal(part.text, whole.text, whole.len);
}

static void
test_logframe_bad_headers(void **state)
{
	static const char bad_stream[] = { 3, 0, 0, 0, 0, 0, 0, 1, 'x' };
	static const char bad_pad[] = { 1, 0, 1, 0, 0, 0, 0, 1, 'x' };
	static const char bad_pad3[] = { 2, 0, 0, 9, 0, 0, 0, 1, 'x' };
	static const char ok[] = { 1, 0, 0, 0, 0, 0, 0, 1, 'x' };
	struct record	 r;
	char		 in[64], err[DSTREAM_ERROR_LEN];
	size_t		 split;

	(void)state;
	for (split = 0; split <= sizeof(bad_stream); split++) {
		/* A good frame first: the error is not just at offset 0. */
		memcpy(in, ok, sizeof(ok));
		memcpy(in + sizeof(ok), bad_stream, sizeof(bad_stream));
		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(in, sizeof(ok) +
		    sizeof(bad_stream), split, 0, 0, &r, err, sizeof(err)),
		    -1);
		assert_non_null(strstr(err, "stream type"));
		assert_int_equal(r.calls, 1);

		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(bad_pad, sizeof(bad_pad), split,
		    0, 0, &r, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "padding"));
		assert_int_equal(r.calls, 0);

		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(bad_pad3, sizeof(bad_pad3),
		    split, 0, 0, &r, err, sizeof(err)), -1);
		assert_int_equal(r.calls, 0);
	}
}

static void
test_logframe_cap(void **state)
{
	static const char huge[] = { 1, 0, 0, 0, (char)0xff, (char)0xff,
	    (char)0xff, (char)0xff };
	struct logframe_decoder	 d;
	struct record		 r;
	char			 in[64], err[DSTREAM_ERROR_LEN];
	size_t			 len, split;

	(void)state;
	/* A 4 GiB frame is refused at its header, before any payload. */
	memset(&r, 0, sizeof(r));
	logframe_init(&d, 0, 0, on_frame, &r);
	assert_int_equal(logframe_feed(&d, huge, sizeof(huge)), -1);
	assert_non_null(strstr(logframe_error(&d), "exceeds"));
	assert_null(d.buf);
	/* Failed stays failed. */
	assert_int_equal(logframe_feed(&d, "", 0), -1);
	logframe_clear(&d);

	/* Exactly the cap passes, one more byte fails, at every split. */
	len = frame(in, 1, "0123456789abcdef", 16);
	for (split = 0; split <= len; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(in, len, split, 0, 16, &r, NULL,
		    0), 0);
		assert_int_equal(r.calls, 1);
		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(in, len, split, 0, 15, &r, err,
		    sizeof(err)), -1);
		assert_int_equal(r.calls, 0);
	}
}

static void
test_logframe_truncated(void **state)
{
	struct record	 r;
	char		 in[64], err[DSTREAM_ERROR_LEN];
	size_t		 len, cut;

	(void)state;
	len = frame(in, 1, "hello\n", 6);
	/* Cut anywhere but a frame boundary: finish reports it. */
	for (cut = 1; cut < len; cut++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(logframe_run(in, cut, SPLIT_NONE, 0, 0, &r,
		    err, sizeof(err)), -1);
		assert_non_null(strstr(err, "inside a frame"));
	}
	memset(&r, 0, sizeof(r));
	assert_int_equal(logframe_run(in, 0, SPLIT_NONE, 0, 0, &r, NULL, 0),
	    0);
}

static void
test_logframe_consumer_stop(void **state)
{
	struct record	 r;
	char		 in[8192], err[DSTREAM_ERROR_LEN];
	size_t		 len;

	(void)state;
	len = sample_frames(in, sizeof(in));
	memset(&r, 0, sizeof(r));
	r.refuse_at = 2;
	assert_int_equal(logframe_run(in, len, SPLIT_BYTES, 0, 0, &r, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "consumer"));
	assert_int_equal(r.calls, 2);
}

/* TTY containers: bytes pass through; only their concatenation counts. */
static int
on_raw(void *arg, enum logframe_stream stream, const char *p, size_t len)
{
	struct record	*r = arg;

	assert_int_equal(stream, LOGFRAME_STDOUT);
	record_add(r, p, len);
	return 0;
}

static void
test_logframe_raw(void **state)
{
	static const char	 tty[] = "out1\r\nerr1\r\n\001\0\0\0out2\r\n";
	struct logframe_decoder	 d;
	struct record		 r;
	size_t			 split;

	(void)state;
	for (split = 0; split < sizeof(tty); split++) {
		memset(&r, 0, sizeof(r));
		logframe_init(&d, 1, 0, on_raw, &r);
		assert_int_equal(feed_split(&d, logframe_feed_fn,
		    logframe_finish_fn, tty, sizeof(tty) - 1, split), 0);
		assert_int_equal(r.len, sizeof(tty) - 1);
		assert_memory_equal(r.text, tty, sizeof(tty) - 1);
		logframe_clear(&d);
	}
}

/* --- JSON lines ------------------------------------------------------ */

static int
jsonlines_feed_fn(void *dec, const void *p, size_t len)
{
	return jsonlines_feed(dec, p, len);
}

static int
jsonlines_finish_fn(void *dec)
{
	return jsonlines_finish(dec);
}

static int
on_json(void *arg, json_t *obj)
{
	struct record	*r = arg;
	char		*s;

	r->calls++;
	if (r->refuse_at != 0 && r->calls == r->refuse_at)
		return -1;
	s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII);
	assert_non_null(s);
	record_printf(r, "%s|", s);
	free(s);
	return 0;
}

static int
jsonlines_run(const char *in, size_t len, size_t split, size_t cap,
    struct record *r, char *err, size_t errsize)
{
	struct jsonlines_decoder d;
	int			 rc;

	jsonlines_init(&d, cap, on_json, r);
	rc = feed_split(&d, jsonlines_feed_fn, jsonlines_finish_fn, in, len,
	    split);
	if (err != NULL)
		(void)strlcpy(err, rc == -1 ? jsonlines_error(&d) : "",
		    errsize);
	jsonlines_clear(&d);
	return rc;
}

static void
test_jsonlines_splits(void **state)
{
	static const char in[] =
	    "{\"stream\":\"Step 1/2 : FROM bb\"}\r\n"
	    "\n"
	    "   \r\n"
	    "{\"b\":\"x\\u00e9\\n\",\"a\":1}\n"
	    "{\"c\":[1,2,{\"d\":null}]}";	/* no final newline */
	static const char want[] =
	    "{\"stream\":\"Step 1/2 : FROM bb\"}|"
	    "{\"a\":1,\"b\":\"x\\u00E9\\n\"}|"
	    "{\"c\":[1,2,{\"d\":null}]}|";
	struct record	 r;
	size_t		 split;

	(void)state;
	for (split = 0; split <= sizeof(in) - 1; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(jsonlines_run(in, sizeof(in) - 1, split, 0,
		    &r, NULL, 0), 0);
		assert_int_equal(r.len, sizeof(want) - 1);
		assert_memory_equal(r.text, want, r.len);
	}
	memset(&r, 0, sizeof(r));
	assert_int_equal(jsonlines_run(in, sizeof(in) - 1, SPLIT_BYTES, 0, &r,
	    NULL, 0), 0);
	assert_int_equal(r.calls, 3);
}

static void
test_jsonlines_malformed(void **state)
{
	static const char *const bad[] = {
		/*
		 * Truncated, a duplicate key, not objects, two on a line,
		 * NUL in a string, not JSON.
		 */
		"{\"a\":1}\n{\"a\":\n",
		"{\"a\":1}\n{\"a\":1,\"a\":2}\n",
		"{\"a\":1}\n[1,2]\n",
		"{\"a\":1}\n\"text\"\n",
		"{\"a\":1}\n{\"a\":1} {\"b\":2}\n",
		"{\"a\":1}\n{\"a\":\"\\u0000\"}\n",
		"{\"a\":1}\nnot json\n",
	};
	struct record	 r;
	char		 err[DSTREAM_ERROR_LEN];
	size_t		 i, split, len;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i]);
		for (split = 0; split <= len; split++) {
			memset(&r, 0, sizeof(r));
			assert_int_equal(jsonlines_run(bad[i], len, split, 0,
			    &r, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "line 2"));
			assert_int_equal(r.calls, 1);
		}
	}
}

static void
test_jsonlines_cap(void **state)
{
	struct jsonlines_decoder d;
	struct record		 r;
	char			 line[64], err[DSTREAM_ERROR_LEN];
	size_t			 split, len;

	(void)state;
	/* 32 bytes before the newline: exactly the cap. */
	len = (size_t)snprintf(line, sizeof(line), "{\"k\":\"%024d\"}\n", 7);
	assert_int_equal(len, 33);
	for (split = 0; split <= len; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(jsonlines_run(line, len, split, 32, &r, NULL,
		    0), 0);
		memset(&r, 0, sizeof(r));
		assert_int_equal(jsonlines_run(line, len, split, 31, &r, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "longer than"));
		assert_int_equal(r.calls, 0);
	}

	/* An endless line fails before its newline ever comes. */
	memset(&r, 0, sizeof(r));
	jsonlines_init(&d, 1024, on_json, &r);
	memset(line, ' ', sizeof(line));
	for (split = 0; split < 16; split++)
		assert_int_equal(jsonlines_feed(&d, line, sizeof(line)), 0);
	assert_int_equal(jsonlines_feed(&d, line, 1), -1);
	assert_true(d.buf_size <= 1024);
	jsonlines_clear(&d);
}

static void
test_jsonlines_consumer_stop(void **state)
{
	static const char in[] = "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n";
	struct record	 r;
	char		 err[DSTREAM_ERROR_LEN];

	(void)state;
	memset(&r, 0, sizeof(r));
	r.refuse_at = 2;
	assert_int_equal(jsonlines_run(in, sizeof(in) - 1, SPLIT_NONE, 0, &r,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "consumer"));
	assert_int_equal(r.calls, 2);
}

/* --- build output ---------------------------------------------------- */

#define IMAGE_ID	"sha256:83c12edc564b6b6f0bdbd1b2a0e0b0d8" \
			"e3b5b1a5c0f7c8d9e6a4b3c2d1e0f9a8"

static const char build_ok[] =
    "{\"stream\":\"Step 1/2 : FROM berth-base:latest\"}\r\n"
    "{\"stream\":\"\\n\"}\r\n"
    "{\"stream\":\" ---\\u003e 7dccc53c5fa9\\n\"}\r\n"
    "{\"stream\":\"Step 2/2 : RUN echo built \\u003e /x\"}\r\n"
    "{\"stream\":\"\\n\"}\r\n"
    "{\"stream\":\"\\u001b[91mto-stderr\\n\\u001b[0m\"}\r\n"
    "{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\r\n"
    "{\"stream\":\"Successfully built 83c12edc564b\\n\"}\r\n";

static const char build_failed[] =
    "{\"stream\":\"Step 1/2 : FROM bb:latest\"}\r\n"
    "{\"stream\":\"\\n\"}\r\n"
    "{\"stream\":\"Step 2/2 : RUN false\"}\r\n"
    "{\"stream\":\" ---\\u003e Running in 4a7f2d886fcb\\n\"}\r\n"
    "{\"errorDetail\":{\"code\":1,\"message\":\"The command '/bin/sh -c "
    "false' returned a non-zero code: 1\"},\"error\":\"The command "
    "'/bin/sh -c false' returned a non-zero code: 1\"}\r\n";

static int
on_build_log(void *arg, const char *text, size_t len)
{
	struct record	*r = arg;

	r->calls++;
	record_add(r, text, len);
	return 0;
}

static int
build_feed_fn(void *dec, const void *p, size_t len)
{
	return build_output_feed(dec, p, len);
}

static int
build_finish_fn(void *dec)
{
	(void)dec;
	return 0;	/* build_output_finish() is checked by the caller */
}

static enum build_status
build_run(const char *in, size_t len, size_t split, struct record *r,
    char *id, char *err)
{
	struct build_output	 bo;
	enum build_status	 st;

	build_output_init(&bo, on_build_log, r);
	(void)feed_split(&bo, build_feed_fn, build_finish_fn, in, len, split);
	st = build_output_finish(&bo);
	(void)strlcpy(id, build_output_image_id(&bo) != NULL ?
	    build_output_image_id(&bo) : "", DOCKER_IMAGE_ID_LEN + 1);
	(void)strlcpy(err, build_output_error(&bo) != NULL ?
	    build_output_error(&bo) : "", BUILD_ERROR_LEN);
	build_output_clear(&bo);
	return st;
}

static enum build_status
build_run_str(const char *in, size_t split, struct record *r, char *id,
    char *err)
{
	return build_run(in, strlen(in), split, r, id, err);
}

static void
test_build_success(void **state)
{
	static const char log[] = "Step 1/2 : FROM berth-base:latest\n"
	    " ---> 7dccc53c5fa9\nStep 2/2 : RUN echo built > /x\n"
	    "\033[91mto-stderr\n\033[0mSuccessfully built 83c12edc564b\n";
	struct record	 r;
	char		 id[DOCKER_IMAGE_ID_LEN + 1], err[BUILD_ERROR_LEN];
	size_t		 split;

	(void)state;
	for (split = 0; split <= sizeof(build_ok) - 1; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(build_run(build_ok, sizeof(build_ok) - 1,
		    split, &r, id, err), BUILD_OK);
		assert_string_equal(id, IMAGE_ID);
		assert_string_equal(err, "");
		assert_int_equal(r.len, sizeof(log) - 1);
		assert_memory_equal(r.text, log, r.len);
	}
}

static void
test_build_failure(void **state)
{
	struct record	 r;
	char		 id[DOCKER_IMAGE_ID_LEN + 1], err[BUILD_ERROR_LEN];
	size_t		 split;

	(void)state;
	for (split = 0; split <= sizeof(build_failed) - 1; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(build_run(build_failed,
		    sizeof(build_failed) - 1, split, &r, id, err),
		    BUILD_FAILED);
		assert_string_equal(err, "The command '/bin/sh -c false' "
		    "returned a non-zero code: 1");
		assert_string_equal(id, "");
	}
	/* Only "error", and an error after an image id: still a failure. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(build_run_str("{\"error\":\"boom\"}\n", SPLIT_NONE,
	    &r, id, err), BUILD_FAILED);
	assert_string_equal(err, "boom");
	memset(&r, 0, sizeof(r));
	assert_int_equal(build_run_str("{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n"
	    "{\"errorDetail\":{\"message\":\"late\"}}\n", SPLIT_BYTES,
	    &r, id, err), BUILD_FAILED);
	assert_string_equal(err, "late");
	assert_string_equal(id, "");
}

static void
test_build_image_id(void **state)
{
	static const char *const bad[] = {
		"{\"aux\":{\"ID\":\"sha256:83c12edc\"}}\n",
		"{\"aux\":{\"ID\":\"sha256:83C12EDC564B6B6F0BDBD1B2A0E0B0D8"
		    "E3B5B1A5C0F7C8D9E6A4B3C2D1E0F9A8\"}}\n",
		"{\"aux\":{\"ID\":\"sha512:83c12edc564b6b6f0bdbd1b2a0e0b0d8"
		    "e3b5b1a5c0f7c8d9e6a4b3c2d1e0f9a8\"}}\n",
		"{\"aux\":{\"ID\":\"" IMAGE_ID "0\"}}\n",
		"{\"aux\":{\"ID\":\"" IMAGE_ID "\\n\"}}\n",
		"{\"aux\":{\"ID\":42}}\n",
		"{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n"
		    "{\"aux\":{\"ID\":\"sha256:"
		    "00000000000000000000000000000000"
		    "00000000000000000000000000000000"
		    "\"}}\n",
		"{\"stream\":17}\n{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n",
		"{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n{\"stream\":\"x\"\n",
	};
	struct record	 r;
	char		 id[DOCKER_IMAGE_ID_LEN + 1], err[BUILD_ERROR_LEN];
	size_t		 i;

	(void)state;
	assert_true(docker_image_id_valid(IMAGE_ID));
	assert_false(docker_image_id_valid("sha256:"));
	assert_false(docker_image_id_valid(IMAGE_ID "a"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(build_run_str(bad[i], SPLIT_BYTES, &r, id,
		    err), BUILD_BROKEN);
		assert_string_equal(id, "");
		assert_string_not_equal(err, "");
	}
	/* A clean stream without an id is not a success either. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(build_run_str("{\"stream\":\"hi\\n\"}\n", SPLIT_NONE,
	    &r, id, err), BUILD_BROKEN);
	assert_non_null(strstr(err, "without an image id"));
	/* The same id twice, and a BuildKit string aux, are fine. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(build_run_str("{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n"
	    "{\"aux\":{\"ID\":\"" IMAGE_ID "\"}}\n{\"aux\":\"AAAA\"}\n",
	    SPLIT_BYTES, &r, id, err), BUILD_OK);
	assert_string_equal(id, IMAGE_ID);
}

/* --- events ---------------------------------------------------------- */

#define EV_ID	"83434b30b79e4a2e19c668bf50f497d2" \
		"7052c124780928c2270bddd6d32a61b6"

static const char events_in[] =
    /* owned: carries berth.node */
    "{\"status\":\"die\",\"id\":\"" EV_ID "\",\"from\":\"bb\",\"Type\":"
    "\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":\"" EV_ID "\","
    "\"Attributes\":{\"berth.node\":\"n1\",\"exitCode\":\"3\",\"image\":"
    "\"bb\",\"name\":\"flaky\"}},\"scope\":\"local\",\"time\":1795452796,"
    "\"timeNano\":1795452796971960171}\n"
    /* foreign container */
    "{\"Type\":\"container\",\"Action\":\"start\",\"Actor\":{\"ID\":\"ab\","
    "\"Attributes\":{\"name\":\"other\"}},\"time\":1795452797}\n"
    /* network event, no attributes of ours */
    "{\"Type\":\"network\",\"Action\":\"connect\",\"Actor\":{\"ID\":\"cd\","
    "\"Attributes\":{\"container\":\"" EV_ID "\",\"name\":\"bridge\"}},"
    "\"time\":1795452798,\"timeNano\":1795452798000000001}\n"
    /* owned, health status, no timeNano */
    "{\"Type\":\"container\",\"Action\":\"health_status: healthy\",\"Actor\":"
    "{\"ID\":\"" EV_ID "\",\"Attributes\":{\"berth.app\":\"web\","
    "\"berth.node\":\"n1\"}},\"time\":1795452799}\n";

static int
on_event(void *arg, const struct docker_event *ev)
{
	struct record	*r = arg;
	const char	*node = docker_event_attr(ev, "berth.node");

	r->calls++;
	record_printf(r, "%s/%s/%.6s/%lld/%lld/%s/%zu|", ev->type, ev->action,
	    ev->actor_id, (long long)ev->time, (long long)ev->time_nano,
	    node != NULL ? node : "-", ev->nattrs);
	return 0;
}

static int
events_feed_fn(void *dec, const void *p, size_t len)
{
	return events_feed(dec, p, len);
}

static int
events_finish_fn(void *dec)
{
	return events_finish(dec);
}

static int
events_run(const char *in, size_t len, size_t split, const char *owner,
    struct record *r, uint64_t *skipped, char *err, size_t errsize)
{
	static struct events_decoder	 d;
	int				 rc;

	assert_int_equal(events_init(&d, owner, on_event, r), 0);
	rc = feed_split(&d, events_feed_fn, events_finish_fn, in, len, split);
	if (skipped != NULL)
		*skipped = d.skipped;
	if (err != NULL)
		(void)strlcpy(err, rc == -1 ? events_error(&d) : "", errsize);
	events_clear(&d);
	return rc;
}

static void
test_events_filter(void **state)
{
	static const char want[] =
	    "container/die/83434b/1795452796/1795452796971960171/n1/4|"
	    "container/health_status: healthy/83434b/1795452799/"
	    "1795452799000000000/n1/2|";
	struct record	 r;
	uint64_t	 skipped;
	size_t		 split;

	(void)state;
	for (split = 0; split <= sizeof(events_in) - 1; split++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(events_run(events_in, sizeof(events_in) - 1,
		    split, "berth.node", &r, &skipped, NULL, 0), 0);
		assert_int_equal(skipped, 2);
		assert_int_equal(r.len, sizeof(want) - 1);
		assert_memory_equal(r.text, want, r.len);
	}
	/* Without a filter every event is decoded. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(events_run(events_in, sizeof(events_in) - 1,
	    SPLIT_BYTES, NULL, &r, &skipped, NULL, 0), 0);
	assert_int_equal(r.calls, 4);
	assert_int_equal(skipped, 0);
	/* A key that is a prefix of a label does not match. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(events_run(events_in, sizeof(events_in) - 1,
	    SPLIT_NONE, "berth", &r, &skipped, NULL, 0), 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(skipped, 4);
}

/*
 * Foreign objects may carry attributes of any size: filtered, they never
 * reach the bounded decoder.  Owned ones that do not fit are errors.
 */
static void
test_events_bounds(void **state)
{
	static char	 in[32 * 1024];
	struct record	 r;
	char		 big[DOCKER_EVENT_ATTRS_SIZE + 16];
	char		 err[DSTREAM_ERROR_LEN];
	uint64_t	 skipped;
	int		 n;

	(void)state;
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = snprintf(in, sizeof(in), "{\"Type\":\"container\",\"Action\":"
	    "\"start\",\"Actor\":{\"ID\":\"x\",\"Attributes\":"
	    "{\"huge\":\"%s\"}},"
	    "\"time\":1}\n", big);
	assert_true(n > 0 && (size_t)n < sizeof(in));
	memset(&r, 0, sizeof(r));
	assert_int_equal(events_run(in, (size_t)n, SPLIT_NONE, "berth.node",
	    &r, &skipped, NULL, 0), 0);
	assert_int_equal(skipped, 1);
	memset(&r, 0, sizeof(r));
	assert_int_equal(events_run(in, (size_t)n, SPLIT_NONE, NULL, &r,
	    &skipped, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "attributes exceed"));
	assert_int_equal(r.calls, 0);
}

static void
test_events_malformed(void **state)
{
	static const char *const bad[] = {
		/* no time */
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":"
		    "\"x\",\"Attributes\":{\"berth.node\":\"n\"}}}\n",
		/* Type not a string */
		"{\"Type\":1,\"Action\":\"die\",\"Actor\":{\"ID\":\"x\","
		    "\"Attributes\":{\"berth.node\":\"n\"}},\"time\":1}\n",
		/* attribute value not a string */
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":"
		    "\"x\",\"Attributes\":{\"berth.node\":1}},\"time\":1}\n",
		/* negative time */
		"{\"Type\":\"container\",\"Action\":\"die\",\"Actor\":{\"ID\":"
		    "\"x\",\"Attributes\":{\"berth.node\":\"n\"}},"
		    "\"time\":-1}\n",
		/* Type too long */
		"{\"Type\":\"containercontainercontainercontainer\",\"Action\":"
		    "\"die\",\"Actor\":{\"ID\":\"x\",\"Attributes\":"
		    "{\"berth.node\":\"n\"}},\"time\":1}\n",
		/* not JSON at all */
		"Type: container\n",
	};
	struct record	 r;
	char		 err[DSTREAM_ERROR_LEN];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(events_run(bad[i], strlen(bad[i]), SPLIT_BYTES,
		    "berth.node", &r, NULL, err, sizeof(err)), -1);
		assert_int_equal(r.calls, 0);
		assert_string_not_equal(err, "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logframe_splits),
		cmocka_unit_test(test_logframe_bad_headers),
		cmocka_unit_test(test_logframe_cap),
		cmocka_unit_test(test_logframe_truncated),
		cmocka_unit_test(test_logframe_consumer_stop),
		cmocka_unit_test(test_logframe_raw),
		cmocka_unit_test(test_jsonlines_splits),
		cmocka_unit_test(test_jsonlines_malformed),
		cmocka_unit_test(test_jsonlines_cap),
		cmocka_unit_test(test_jsonlines_consumer_stop),
		cmocka_unit_test(test_build_success),
		cmocka_unit_test(test_build_failure),
		cmocka_unit_test(test_build_image_id),
		cmocka_unit_test(test_events_filter),
		cmocka_unit_test(test_events_bounds),
		cmocka_unit_test(test_events_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
