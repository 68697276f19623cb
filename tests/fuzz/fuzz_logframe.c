/*
 * fuzz_logframe.c: the log-frame decoder of runner/docker_stream.c
 * against arbitrary container output.  The first input byte chooses
 * where the rest is split in two (and raw or framed mode); each piece
 * sits in a buffer of exactly its size so a read past a chunk is caught.
 * Split or whole, the decoder must produce the same frames and the same
 * verdict, and no frame may exceed the cap.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "docker_stream.h"

#define FUZZ_CAP	4096

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct digest {
	uint64_t	 hash;
	size_t		 frames;
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
on_frame(void *arg, enum logframe_stream stream, const char *p, size_t len)
{
	struct digest	*d = arg;
	unsigned char	 s = (unsigned char)stream;

	if (stream > LOGFRAME_STDERR || len > FUZZ_CAP)
		abort();
	d->frames++;
	mix(d, &s, 1);
	mix(d, p, len);
	return 0;
}

/* Raw mode: only the concatenation is defined, not the pieces. */
static int
on_raw(void *arg, enum logframe_stream stream, const char *p, size_t len)
{
	struct digest	*d = arg;

	if (stream != LOGFRAME_STDOUT || len == 0)
		abort();
	mix(d, p, len);
	return 0;
}

static int
run(const uint8_t *data, size_t len, size_t split, int raw, struct digest *d)
{
	struct logframe_decoder	 dec;
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
	logframe_init(&dec, raw, FUZZ_CAP, raw ? on_raw : on_frame, d);
	rc = logframe_feed(&dec, a, split);
	if (rc == 0)
		rc = logframe_feed(&dec, b, len - split);
	if (rc == 0)
		rc = logframe_finish(&dec);
	if ((rc == -1) != (logframe_error(&dec) != NULL))
		abort();
	logframe_clear(&dec);
	free(a);
	free(b);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest	 whole, split;
	size_t		 at;
	int		 raw, rc;

	if (size < 1)
		return 0;
	raw = data[0] & 1;
	at = (size_t)(data[0] >> 1) * (size - 1) / 127;
	data++;
	size--;
	rc = run(data, size, 0, raw, &whole);
	if (run(data, size, at, raw, &split) != rc ||
	    whole.hash != split.hash || whole.frames != split.frames)
		abort();
	return 0;
}
