/*
 * cploop.h: one repeating conversation with a control plane (register,
 * heartbeat, poll, ...), as the dialects run them: a timer, at most one
 * request in flight, and a capped exponential backoff with full jitter
 * for failures.  The loop calls start() when its timer fires and no
 * request is outstanding; start() makes the request (or schedules the
 * loop again) and the request's callback says how it went.
 */
#ifndef BERTH_CPLOOP_H
#define BERTH_CPLOOP_H

#include <stdint.h>

#include "backoff.h"

struct event;
struct event_base;
struct http_request;

struct cp_loop {
	const char		*name;		/* for the log */
	struct event		*timer;
	struct backoff		 backoff;
	struct http_request	*req;		/* in flight, or NULL */
	void			(*start)(void);
};

void	 cp_loop_init(struct cp_loop *, struct event_base *, const char *name,
	    void (*start)(void), uint32_t base_ms, uint32_t cap_ms);
/* Fire in ms milliseconds (replacing any earlier schedule). */
void	 cp_loop_after(struct cp_loop *, uint32_t ms);
/* A failure: fire after the next backoff delay (at least 100 ms). */
uint32_t cp_loop_retry(struct cp_loop *);
/* A success: the next failure starts from the base again. */
void	 cp_loop_ok(struct cp_loop *);
/* No timer, no request. */
void	 cp_loop_stop(struct cp_loop *);

#endif
