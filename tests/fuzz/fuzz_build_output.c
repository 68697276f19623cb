/*
 * fuzz_build_output.c: the build-output interpreter of
 * runner/docker_stream.c against arbitrary /build streams.  The first
 * input byte chooses where the rest is split in two.  Split or whole the
 * verdict, image id, error and log text must agree, and an image id is
 * only ever reported for a successful build and only well-formed.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "docker_stream.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct outcome {
	uint64_t		 log_hash;
	enum build_status	 status;
	char			 id[DOCKER_IMAGE_ID_LEN + 1];
	char			 error[BUILD_ERROR_LEN];
};

static int
on_log(void *arg, const char *text, size_t len)
{
	struct outcome	*o = arg;
	size_t		 i;

	if (len == 0)
		abort();
	for (i = 0; i < len; i++)
		o->log_hash = (o->log_hash ^ (unsigned char)text[i]) *
		    1099511628211ULL;
	return 0;
}

static void
run(const uint8_t *data, size_t len, size_t split, struct outcome *o)
{
	struct build_output	 bo;
	const char		*id, *err;
	char			*a, *b;

	memset(o, 0, sizeof(*o));
	o->log_hash = 14695981039346656037ULL;
	a = malloc(split > 0 ? split : 1);
	b = malloc(len - split > 0 ? len - split : 1);
	if (a == NULL || b == NULL)
		abort();
	memcpy(a, data, split);
	memcpy(b, data + split, len - split);
	build_output_init(&bo, on_log, o);
	if (build_output_feed(&bo, a, split) == 0)
		(void)build_output_feed(&bo, b, len - split);
	o->status = build_output_finish(&bo);
	id = build_output_image_id(&bo);
	err = build_output_error(&bo);
	if ((o->status == BUILD_OK) != (id != NULL) ||
	    (o->status == BUILD_OK) != (err == NULL) ||
	    (id != NULL && !docker_image_id_valid(id)))
		abort();
	if (id != NULL)
		(void)strlcpy(o->id, id, sizeof(o->id));
	if (err != NULL)
		(void)strlcpy(o->error, err, sizeof(o->error));
	build_output_clear(&bo);
	free(a);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome	 whole, split;
	size_t		 at;

	if (size < 1)
		return 0;
	at = (size_t)data[0] * (size - 1) / 255;
	data++;
	size--;
	run(data, size, 0, &whole);
	run(data, size, at, &split);
	if (whole.status != split.status || whole.log_hash != split.log_hash ||
	    strcmp(whole.id, split.id) != 0 ||
	    strcmp(whole.error, split.error) != 0)
		abort();
	return 0;
}
