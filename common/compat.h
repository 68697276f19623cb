/*
 * compat.h: BSD functions glibc 2.36 (Debian 12) does not have.
 */
#ifndef BERTH_COMPAT_H
#define BERTH_COMPAT_H

#include <stddef.h>

#ifndef HAVE_STRLCPY
size_t	 strlcpy(char *, const char *, size_t);
size_t	 strlcat(char *, const char *, size_t);
#endif

#ifndef HAVE_STRTONUM
long long strtonum(const char *, long long, long long, const char **);
#endif

#endif
