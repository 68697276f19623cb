/*
 * backoff.c: capped exponential backoff with full jitter (see backoff.h).
 * Randomness comes from getrandom(2), which netd's seccomp filter allows
 * and which needs no file, so it works inside the empty root.
 */
#include <sys/types.h>
#include <sys/random.h>

#include <errno.h>
#include <stdint.h>

#include "backoff.h"
#include "log.h"

/* Past 2^31 times base every ceiling is the cap anyway. */
#define BACKOFF_SHIFT_MAX	31

void
backoff_init(struct backoff *b, uint32_t base_ms, uint32_t cap_ms)
{
	b->base_ms = base_ms == 0 ? 1 : base_ms;
	b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
	b->attempt = 0;
}

uint32_t
backoff_ceiling(const struct backoff *b)
{
	uint64_t	 ceiling;
	uint32_t	 shift;

	shift = b->attempt > BACKOFF_SHIFT_MAX ? BACKOFF_SHIFT_MAX :
	    b->attempt;
	ceiling = (uint64_t)b->base_ms << shift;
	return ceiling > b->cap_ms ? b->cap_ms : (uint32_t)ceiling;
}

uint32_t
backoff_next(struct backoff *b)
{
	uint32_t	 ceiling = backoff_ceiling(b);

	if (b->attempt < UINT32_MAX)
		b->attempt++;
	/* Inclusive of the ceiling: [0, ceiling] has ceiling + 1 values. */
	if (ceiling == UINT32_MAX)
		return backoff_uniform(UINT32_MAX);
	return backoff_uniform(ceiling + 1);
}

uint32_t
backoff_next_dictated(struct backoff *b, uint32_t dictated_ms)
{
	if (b->attempt < UINT32_MAX)
		b->attempt++;
	return dictated_ms > b->cap_ms ? b->cap_ms : dictated_ms;
}

void
backoff_reset(struct backoff *b)
{
	b->attempt = 0;
}

static uint32_t
backoff_random32(void)
{
	uint32_t	 value;
	ssize_t		 n;

	do {
		n = getrandom(&value, sizeof(value), 0);
	} while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(value))
		fatal("%s: getrandom", __func__);
	return value;
}

/*
 * Rejection sampling as arc4random_uniform(3) does it: values below
 * 2^32 mod bound would make the low results more likely, so they are
 * drawn again (at most half of all draws, usually almost none).
 */
uint32_t
backoff_uniform(uint32_t bound)
{
	uint32_t	 value, min;

	if (bound < 2)
		return 0;
	min = -bound % bound;
	do {
		value = backoff_random32();
	} while (value < min);
	return value % bound;
}
