/*
 * backoff.h: capped exponential backoff with full jitter, for netd's
 * retries against the control plane.  Attempt n waits a uniformly random
 * time in [0, min(cap, base * 2^n)] milliseconds, so that a fleet of
 * nodes that lost the control plane at once does not come back in step.
 * A server that names its own delay (Retry-After) gets it, up to the cap.
 */
#ifndef BERTH_BACKOFF_H
#define BERTH_BACKOFF_H

#include <stdint.h>

struct backoff {
	uint32_t	 base_ms;
	uint32_t	 cap_ms;
	uint32_t	 attempt;	/* failures since the last success */
};

/* base_ms 0 is taken as 1; a cap below base is raised to base. */
void		 backoff_init(struct backoff *, uint32_t base_ms,
		    uint32_t cap_ms);
/* The delay before the next try, in ms; counts one more failure. */
uint32_t	 backoff_next(struct backoff *);
/*
 * A failure whose answer said how long to wait (Retry-After): counted
 * like backoff_next(), so the failures after it keep growing, but the
 * delay is the server's, capped.
 */
uint32_t	 backoff_next_dictated(struct backoff *, uint32_t dictated_ms);
/* The upper bound backoff_next() would draw from now. */
uint32_t	 backoff_ceiling(const struct backoff *);
/* A success: the next failure starts from base again. */
void		 backoff_reset(struct backoff *);
/* Uniform in [0, bound) from getrandom(2); 0 when bound is 0. */
uint32_t	 backoff_uniform(uint32_t bound);

#endif
