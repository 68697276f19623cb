/*
 * compat.c: strlcpy, strlcat and strtonum for libcs without them.  The
 * string functions return the length they tried to create, so callers
 * detect truncation with >= size.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"

#ifndef HAVE_STRLCPY
size_t
strlcpy(char *dst, const char *src, size_t dstsize)
{
	size_t	 srclen = strlen(src);

	if (dstsize > 0) {
		size_t	 n = srclen < dstsize - 1 ? srclen : dstsize - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return srclen;
}

size_t
strlcat(char *dst, const char *src, size_t dstsize)
{
	size_t	 dstlen = strnlen(dst, dstsize);

	if (dstlen == dstsize)
		return dstsize + strlen(src);
	return dstlen + strlcpy(dst + dstlen, src, dstsize - dstlen);
}
#endif

#ifndef HAVE_STRTONUM
/*
 * Decimal only, the whole string, within [min, max]; *errstr says why not
 * ("invalid", "too small", "too large") and is NULL on success.
 */
long long
strtonum(const char *s, long long min, long long max, const char **errstr)
{
	long long	 value;
	char		*end;

	*errstr = NULL;
	if (min > max) {
		*errstr = "invalid";
		return 0;
	}
	errno = 0;
	value = strtoll(s, &end, 10);
	if (s[0] == '\0' || *end != '\0' ||
	    (errno == ERANGE && value != LLONG_MIN && value != LLONG_MAX)) {
		*errstr = "invalid";
		return 0;
	}
	if (value < min || (errno == ERANGE && value == LLONG_MIN)) {
		*errstr = "too small";
		return 0;
	}
	if (value > max || (errno == ERANGE && value == LLONG_MAX)) {
		*errstr = "too large";
		return 0;
	}
	return value;
}
#endif
