/*
 * cploop.c: a dialect's repeating conversation (see cploop.h).
 */
#include <sys/types.h>

#include <event2/event.h>
#include <stddef.h>

#include "cploop.h"
#include "http.h"
#include "log.h"

#define CP_LOOP_MIN_MS	100

static void
cp_loop_fire(evutil_socket_t fd, short event, void *arg)
{
	struct cp_loop	*loop = arg;

	(void)fd;
	(void)event;
	if (loop->req == NULL)
		loop->start();
}

void
cp_loop_init(struct cp_loop *loop, struct event_base *base, const char *name,
    void (*start)(void), uint32_t base_ms, uint32_t cap_ms)
{
	loop->name = name;
	loop->start = start;
	loop->req = NULL;
	backoff_init(&loop->backoff, base_ms, cap_ms);
	if ((loop->timer = evtimer_new(base, cp_loop_fire, loop)) == NULL)
		fatalx("%s: evtimer_new", __func__);
}

void
cp_loop_after(struct cp_loop *loop, uint32_t ms)
{
	struct timeval	 tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	(void)evtimer_del(loop->timer);
	if (evtimer_add(loop->timer, &tv) == -1)
		fatalx("%s: evtimer_add", __func__);
}

uint32_t
cp_loop_retry(struct cp_loop *loop)
{
	uint32_t	 ms;

	if ((ms = backoff_next(&loop->backoff)) < CP_LOOP_MIN_MS)
		ms = CP_LOOP_MIN_MS;
	log_debug("%s again in %u ms", loop->name, ms);
	cp_loop_after(loop, ms);
	return ms;
}

void
cp_loop_ok(struct cp_loop *loop)
{
	backoff_reset(&loop->backoff);
}

void
cp_loop_stop(struct cp_loop *loop)
{
	(void)evtimer_del(loop->timer);
	if (loop->req != NULL)
		http_request_cancel(loop->req);
	loop->req = NULL;
}
