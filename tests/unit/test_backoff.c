/*
 * test_backoff.c: netd/backoff.c.  Every delay lies in [0, ceiling], the
 * ceiling doubles from base up to the cap and stays there, a success
 * starts over, and the draws are spread evenly (full jitter: the mean
 * is half the ceiling and every tenth of the range is hit about as
 * often as any other).
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define DRAWS	20000

static void
test_ceiling_doubles_to_cap(void **state)
{
	struct backoff	 b;
	uint32_t	 want = 500;
	int		 i;

	(void)state;
	backoff_init(&b, 500, 60000);
	for (i = 0; i < 40; i++) {
		assert_int_equal(backoff_ceiling(&b), want);
		(void)backoff_next(&b);
		want = want * 2 > 60000 ? 60000 : want * 2;
	}
	/* Far past 2^32 times base: still the cap, no overflow. */
	b.attempt = UINT32_MAX;
	assert_int_equal(backoff_ceiling(&b), 60000);
	(void)backoff_next(&b);
	assert_int_equal(b.attempt, UINT32_MAX);
}

static void
test_delays_within_bounds(void **state)
{
	struct backoff	 b;
	uint32_t	 ceiling, d;
	int		 i;

	(void)state;
	backoff_init(&b, 100, 5000);
	for (i = 0; i < DRAWS; i++) {
		if (i % 12 == 0)
			backoff_reset(&b);
		ceiling = backoff_ceiling(&b);
		d = backoff_next(&b);
		assert_true(d <= ceiling);
		assert_true(d <= 5000);
	}
}

static void
test_reset(void **state)
{
	struct backoff	 b;
	int		 i;

	(void)state;
	backoff_init(&b, 250, 10000);
	for (i = 0; i < 10; i++)
		(void)backoff_next(&b);
	assert_int_equal(backoff_ceiling(&b), 10000);
	backoff_reset(&b);
	assert_int_equal(b.attempt, 0);
	assert_int_equal(backoff_ceiling(&b), 250);
	assert_true(backoff_next(&b) <= 250);
}

static void
test_init_sanitises(void **state)
{
	struct backoff	 b;

	(void)state;
	backoff_init(&b, 0, 0);
	assert_int_equal(b.base_ms, 1);
	assert_int_equal(b.cap_ms, 1);
	backoff_init(&b, 1000, 10);
	assert_int_equal(b.cap_ms, 1000);
	assert_int_equal(backoff_uniform(0), 0);
	assert_int_equal(backoff_uniform(1), 0);
}

/*
 * Full jitter: uniform on [0, 1000].  With 20000 draws the mean's
 * standard error is about 2 ms and each decile expects 2000 draws
 * (standard deviation about 42): the bounds below are over 5 sigma.
 */
static void
test_distribution(void **state)
{
	struct backoff	 b;
	unsigned int	 decile[10] = { 0 };
	uint32_t	 d, lo = UINT32_MAX, hi = 0;
	double		 sum = 0;
	int		 i;

	(void)state;
	backoff_init(&b, 1000, 1000);
	for (i = 0; i < DRAWS; i++) {
		d = backoff_next(&b);
		sum += d;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		decile[d >= 1000 ? 9 : d / 100]++;
	}
	assert_true(sum / DRAWS > 485 && sum / DRAWS < 515);
	assert_true(lo < 10);
	assert_true(hi > 990);
	for (i = 0; i < 10; i++)
		assert_true(decile[i] > 1750 && decile[i] < 2250);
}

/* backoff_uniform() has no modulo bias at a bound that would show one. */
static void
test_uniform_no_bias(void **state)
{
	const uint32_t	 bound = 3u << 30;	/* 2^32 mod bound = 2^30 */
	unsigned int	 low = 0;
	int		 i;

	(void)state;
	for (i = 0; i < DRAWS; i++)
		if (backoff_uniform(bound) < (1u << 30))
			low++;
	/* Biased: half of all draws would land there; unbiased: a third. */
	assert_true(low > DRAWS / 3 - 600 && low < DRAWS / 3 + 600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceiling_doubles_to_cap),
		cmocka_unit_test(test_delays_within_bounds),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_init_sanitises),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_uniform_no_bias),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
