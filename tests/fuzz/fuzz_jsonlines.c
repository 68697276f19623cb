/*
 * fuzz_jsonlines.c: the JSON-lines decoder of runner/docker_stream.c
 * against arbitrary daemon output.  The first input byte chooses where
 * the rest is split in two; each piece sits in a buffer of exactly its
 * size.  Split or whole, the same objects must come out, in the same
 * order, with the same verdict.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth.h"
#include "docker_stream.h"

#define FUZZ_LINE_MAX	2048

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct digest {
	uint64_t	 hash;
	size_t		 objects;
};

static void
mix(struct digest *d, const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++)
		d->hash = (d->hash ^ c[i]) * 1099511628211ULL;
}

static int
on_object(void *arg, json_t *obj)
{
	struct digest	*d = arg;
	char		*s;

	if (!json_is_object(obj))
		abort();
	d->objects++;
	if ((s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENCODE_ANY)) == NULL)
		abort();
	mix(d, s, strlen(s) + 1);
	free(s);
	/* Exercise the consumer stop on a marker key. */
	return json_object_get(obj, "stop") != NULL ? -1 : 0;
}

static int
run(const uint8_t *data, size_t len, size_t split, struct digest *d)
{
	struct jsonlines_decoder dec;
	char			*a, *b;
	int			 rc;

	memset(d, 0, sizeof(*d));
	d->hash = 14695981039346656037ULL;
	a = malloc(split > 0 ? split : 1);
	b = malloc(len - split > 0 ? len - split : 1);
	if (a == NULL || b == NULL)
		abort();
	memcpy(a, data, split);
	memcpy(b, data + split, len - split);
	jsonlines_init(&dec, FUZZ_LINE_MAX, on_object, d);
	rc = jsonlines_feed(&dec, a, split);
	if (rc == 0)
		rc = jsonlines_feed(&dec, b, len - split);
	if (rc == 0)
		rc = jsonlines_finish(&dec);
	if ((rc == -1) != (jsonlines_error(&dec) != NULL) ||
	    dec.buf_size > FUZZ_LINE_MAX)
		abort();
	jsonlines_clear(&dec);
	free(a);
	free(b);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest	 whole, split;
	size_t		 at;
	int		 rc;

	if (size < 1)
		return 0;
	at = (size_t)data[0] * (size - 1) / 255;
	data++;
	size--;
	rc = run(data, size, 0, &whole);
	if (run(data, size, at, &split) != rc || whole.hash != split.hash ||
	    whole.objects != split.objects)
		abort();
	return 0;
}
