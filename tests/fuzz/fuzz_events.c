/*
 * fuzz_events.c: the events interpreter of runner/docker_stream.c
 * against arbitrary /events streams.  The first input byte chooses where
 * the rest is split and whether the berth.node filter is on.  Split or
 * whole, the same events must come out; every decoded string must be
 * NUL-terminated within its field, and with the filter on, every event
 * delivered must carry the owner key.
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
	uint64_t	 hash;
	size_t		 events;
	uint64_t	 skipped;
	int		 filter;
};

static void
mix(struct outcome *o, const void *p, size_t len)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < len; i++)
		o->hash = (o->hash ^ c[i]) * 1099511628211ULL;
}

static void
check_string(const char *s, size_t size)
{
	if (memchr(s, '\0', size) == NULL)
		abort();
}

static int
on_event(void *arg, const struct docker_event *ev)
{
	struct outcome	*o = arg;
	size_t		 i;

	check_string(ev->type, sizeof(ev->type));
	check_string(ev->action, sizeof(ev->action));
	check_string(ev->actor_id, sizeof(ev->actor_id));
	if (ev->nattrs > DOCKER_EVENT_ATTRS_MAX ||
	    ev->attrs_used > sizeof(ev->attrs) || ev->time < 0 ||
	    ev->time_nano < 0)
		abort();
	if (o->filter && docker_event_attr(ev, "berth.node") == NULL)
		abort();
	mix(o, ev->type, strlen(ev->type) + 1);
	mix(o, ev->action, strlen(ev->action) + 1);
	mix(o, ev->actor_id, strlen(ev->actor_id) + 1);
	mix(o, &ev->time, sizeof(ev->time));
	mix(o, &ev->time_nano, sizeof(ev->time_nano));
	for (i = 0; i < ev->nattrs; i++) {
		if (ev->attr_key[i] >= ev->attrs_used ||
		    ev->attr_value[i] >= ev->attrs_used)
			abort();
		mix(o, ev->attrs + ev->attr_key[i],
		    strlen(ev->attrs + ev->attr_key[i]) + 1);
		mix(o, ev->attrs + ev->attr_value[i],
		    strlen(ev->attrs + ev->attr_value[i]) + 1);
	}
	o->events++;
	return 0;
}

static int
run(const uint8_t *data, size_t len, size_t split, int filter,
    struct outcome *o)
{
	static struct events_decoder	 dec;
	char				*a, *b;
	int				 rc;

	memset(o, 0, sizeof(*o));
	o->hash = 14695981039346656037ULL;
	o->filter = filter;
	a = malloc(split > 0 ? split : 1);
	b = malloc(len - split > 0 ? len - split : 1);
	if (a == NULL || b == NULL)
		abort();
	memcpy(a, data, split);
	memcpy(b, data + split, len - split);
	if (events_init(&dec, filter ? "berth.node" : NULL, on_event, o) == -1)
		abort();
	rc = events_feed(&dec, a, split);
	if (rc == 0)
		rc = events_feed(&dec, b, len - split);
	if (rc == 0)
		rc = events_finish(&dec);
	if ((rc == -1) != (events_error(&dec) != NULL))
		abort();
	o->skipped = dec.skipped;
	events_clear(&dec);
	free(a);
	free(b);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct outcome	 whole, split;
	size_t		 at;
	int		 filter, rc;

	if (size < 1)
		return 0;
	filter = data[0] & 1;
	at = (size_t)(data[0] >> 1) * (size - 1) / 127;
	data++;
	size--;
	rc = run(data, size, 0, filter, &whole);
	if (run(data, size, at, filter, &split) != rc ||
	    whole.hash != split.hash || whole.events != split.events ||
	    whole.skipped != split.skipped)
		abort();
	return 0;
}
