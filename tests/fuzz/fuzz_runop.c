/*
 * fuzz_runop.c: the runner operation decoder (common/runop.c) and the
 * policy enforcement behind it (runner/policy.c) against arbitrary JSON.
 * The input sits in a buffer of exactly its size, so a read past the end
 * is caught.  What the decoder accepts must keep runop.h's promises,
 * encode, decode again to the same encoding, and go through
 * policy_check() and policy_resolve() without harm.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "policy.h"
#include "runop.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_string(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static void
check_request(const struct run_request *req)
{
	const struct run_spec	*spec = &req->spec;
	size_t			 i;

	if (req->op <= RUNOP_NONE || req->op >= RUNOP_MAX ||
	    spec->ncmd > RUNOP_ARGS_MAX || spec->nenv > RUNOP_ENV_MAX ||
	    spec->nlabels > RUNOP_LABELS_MAX ||
	    spec->nports > RUNOP_PORTS_MAX ||
	    spec->nvolumes > RUNOP_VOLUMES_MAX ||
	    spec->ncap_add > RUNOP_CAPS_MAX || spec->ndevices > 4 ||
	    spec->health.ncmd > RUNOP_ARGS_MAX ||
	    (unsigned int)spec->restart > RESTART_ALWAYS)
		abort();
	check_string(req->app, sizeof(req->app));
	check_string(req->task, sizeof(req->task));
	check_string(spec->image, sizeof(spec->image));
	for (i = 0; i < spec->nlabels; i++)
		if (strncmp(spec->label_keys[i], "berth.", 6) == 0)
			abort();
	for (i = 0; i < spec->nports; i++)
		if (spec->ports[i].container_port == 0)
			abort();
	check_string(req->repo.url, sizeof(req->repo.url));
	check_string(req->repo.commit, sizeof(req->repo.commit));
	check_string(req->repo.ref, sizeof(req->repo.ref));
	check_string(req->repo.dockerfile, sizeof(req->repo.dockerfile));
	/* A deploy has an image or a repository to build one from. */
	if (req->op == RUNOP_DEPLOY &&
	    (spec->image[0] == '\0') == (req->repo.url[0] == '\0'))
		abort();
	if (req->op != RUNOP_DEPLOY && req->repo.url[0] != '\0')
		abort();
}

static void
enforce(const struct run_request *req)
{
	static struct policy	 policy;
	static int		 ready;
	struct policy_effective	 eff;
	char			 err[256];

	if (!ready) {
		policy_defaults(&policy);
		(void)strlcpy(policy.images[0], "berth-base:*",
		    sizeof(policy.images[0]));
		policy.nimages = 1;
		(void)strlcpy(policy.bind_prefixes[0], "/srv/berth",
		    sizeof(policy.bind_prefixes[0]));
		policy.nbind_prefixes = 1;
		ready = 1;
	}
	if (policy_check(&policy, req, err, sizeof(err)) == 0)
		policy_resolve(&policy, &req->spec, &eff);
	else if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run_request	 req, again;
	char			*buf, *one, *two, err[256];

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (runop_decode(buf, size, &req, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			abort();
		runop_free(&req);
		free(buf);
		return 0;
	}
	free(buf);
	check_request(&req);
	enforce(&req);
	/* What is accepted encodes, and the encoding is a fixed point. */
	if ((one = runop_encode(&req)) == NULL)
		abort();
	if (runop_decode(one, strlen(one), &again, err, sizeof(err)) == -1)
		abort();
	if ((two = runop_encode(&again)) == NULL || strcmp(one, two) != 0)
		abort();
	free(one);
	free(two);
	runop_free(&again);
	runop_free(&req);
	return 0;
}
