/*
 * fuzz_buildreq.c: the builder's message decoders (common/buildreq.c)
 * against arbitrary bytes.  Every input goes through all four decoders
 * (request, log, context, done), each from a buffer of exactly its size
 * so that a read past the end is caught.  What a decoder accepts must
 * keep buildreq.h's promises, encode, and decode again to the same
 * encoding; what it refuses must say why.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "buildreq.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_string(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static void
refused(const char *err)
{
	if (err[0] == '\0')
		abort();
}

/* Encode, decode, encode again: the same text, or the encoder lied. */
static void
fixed_point(char *one, char *(*reencode)(const char *))
{
	char	*two;

	if (one == NULL)
		abort();
	if ((two = reencode(one)) == NULL || strcmp(one, two) != 0)
		abort();
	free(one);
	free(two);
}

static char *
request_again(const char *json)
{
	static struct build_request	 req;
	char				 err[256];

	if (buildreq_decode(json, strlen(json), &req, err, sizeof(err)) == -1)
		return NULL;
	return buildreq_encode(&req);
}

static char *
log_again(const char *json)
{
	struct build_log	 log;
	char			 err[256];

	if (build_log_decode(json, strlen(json), &log, err, sizeof(err)) == -1)
		return NULL;
	return build_log_encode(&log);
}

static char *
context_again(const char *json)
{
	struct build_context	 bc;
	char			 err[256];

	if (build_context_decode(json, strlen(json), &bc, err,
	    sizeof(err)) == -1)
		return NULL;
	return build_context_encode(&bc);
}

static char *
done_again(const char *json)
{
	struct build_done	 done;
	char			 err[256];

	if (build_done_decode(json, strlen(json), &done, err,
	    sizeof(err)) == -1)
		return NULL;
	return build_done_encode(&done);
}

static void
check_request(const struct build_request *req)
{
	size_t	 i;

	check_string(req->task, sizeof(req->task));
	if (req->task[0] == '\0')
		abort();
	if (req->cancel)
		return;
	check_string(req->url, sizeof(req->url));
	check_string(req->commit, sizeof(req->commit));
	check_string(req->ref, sizeof(req->ref));
	check_string(req->dockerfile, sizeof(req->dockerfile));
	if (req->commit[0] == '\0' && req->ref[0] == '\0')
		abort();
	if (req->commit[0] != '\0' && strlen(req->commit) != 40)
		abort();
	if (req->ref[0] == '-' || req->dockerfile[0] == '/' ||
	    strstr(req->dockerfile, "..") != NULL)
		abort();
	if (req->timeout_sec == 0 || req->timeout_sec > BUILD_TIMEOUT_MAX ||
	    req->workspace_bytes < BUILD_WORKSPACE_MIN ||
	    req->workspace_bytes > BUILD_WORKSPACE_MAX)
		abort();
	if (req->allow.nurl_prefixes == 0 ||
	    req->allow.nurl_prefixes > BUILD_PREFIXES_MAX)
		abort();
	for (i = 0; i < req->allow.nurl_prefixes; i++)
		check_string(req->allow.url_prefixes[i],
		    sizeof(req->allow.url_prefixes[i]));
	/* The URL the decoder let through is one git may be given. */
	if (buildreq_check_url(req->url, &req->allow) != NULL)
		abort();
}

static void
fuzz_request(const char *buf, size_t size)
{
	static struct build_request	 req;
	char				 err[256];

	if (buildreq_decode(buf, size, &req, err, sizeof(err)) == -1) {
		refused(err);
		return;
	}
	check_request(&req);
	fixed_point(buildreq_encode(&req), request_again);
}

static void
fuzz_answers(const char *buf, size_t size)
{
	struct build_log	 log;
	struct build_context	 bc;
	struct build_done	 done;
	char			 err[256];

	if (build_log_decode(buf, size, &log, err, sizeof(err)) == 0) {
		if ((unsigned int)log.stage >= BUILD_STAGE_MAX)
			abort();
		fixed_point(build_log_encode(&log), log_again);
	} else
		refused(err);
	if (build_context_decode(buf, size, &bc, err, sizeof(err)) == 0) {
		if ((unsigned int)bc.detected >= BUILD_KIND_MAX ||
		    strlen(bc.commit) != 40 || bc.dockerfile[0] == '\0')
			abort();
		fixed_point(build_context_encode(&bc), context_again);
	} else
		refused(err);
	if (build_done_decode(buf, size, &done, err, sizeof(err)) == 0) {
		if (done.ok != (done.error[0] == '\0'))
			abort();
		fixed_point(build_done_encode(&done), done_again);
	} else
		refused(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	fuzz_request(buf, size);
	fuzz_answers(buf, size);
	free(buf);
	return 0;
}
