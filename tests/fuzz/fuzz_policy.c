/*
 * fuzz_policy.c: policy_validate() (common/policy.c) against arbitrary
 * bytes taken as the struct policy the parent sends by imsg.  An input
 * of the struct's size or more is the struct; a shorter one is written
 * over the defaults at the offset its first two bytes give, so that each
 * field is explored from a valid policy.  A policy it accepts must
 * print, hash and enforce without reading outside its arrays, and its
 * text must name every list entry.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "policy.h"
#include "runop.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
enforce(const struct policy *p)
{
	static struct run_request	 req;
	struct policy_effective		 eff;
	char				 err[256], name[POLICY_NAME_LEN];
	char				 app[RUNOP_APP_LEN];

	req.op = RUNOP_DEPLOY;
	(void)strlcpy(req.app, "web", sizeof(req.app));
	(void)strlcpy(req.spec.image, "berth-base:latest",
	    sizeof(req.spec.image));
	req.spec.nports = 1;
	req.spec.ports[0].container_port = 80;
	req.spec.ports[0].host_port = 8080;
	req.spec.nvolumes = 1;
	(void)strlcpy(req.spec.volumes[0].source, "/srv/berth/a",
	    sizeof(req.spec.volumes[0].source));
	(void)strlcpy(req.spec.volumes[0].target, "/a",
	    sizeof(req.spec.volumes[0].target));
	req.spec.volumes[0].bind = 1;
	if (policy_check(p, &req, err, sizeof(err)) == 0)
		policy_resolve(p, &req.spec, &eff);
	if (policy_container_name(p, "web", name, sizeof(name)) == 0 &&
	    (policy_container_app(p, name, app, sizeof(app)) == -1 ||
	    strcmp(app, "web") != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct policy	*p;
	char		 hash[POLICY_HASH_HEX + 1], *text = NULL;
	size_t		 len, off;
	uint32_t	 i;
	FILE		*f;

	/* Heap, exactly the struct: a read past an array is caught. */
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return 0;
	if (size >= sizeof(*p))
		memcpy(p, data, sizeof(*p));
	else if (size >= 2) {
		policy_defaults(p);
		off = (size_t)(data[0] | data[1] << 8) % sizeof(*p);
		len = size - 2 < sizeof(*p) - off ? size - 2 : sizeof(*p) - off;
		memcpy((char *)p + off, data + 2, len);
	}
	len = 0;
	if (policy_validate(p) != NULL) {
		free(p);
		return 0;
	}
	if ((f = open_memstream(&text, &len)) == NULL)
		abort();
	policy_print(p, f);
	if (fclose(f) != 0)
		abort();
	for (i = 0; i < p->nbind_prefixes; i++)
		if (strstr(text, p->bind_prefixes[i]) == NULL)
			abort();
	free(text);
	policy_hash(p, hash);
	if (strlen(hash) != POLICY_HASH_HEX)
		abort();
	enforce(p);
	free(p);
	return 0;
}
