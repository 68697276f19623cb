/*
 * fuzz_dockerignore.c: .dockerignore parsing and matching
 * (builder/context.c) against arbitrary patterns and paths.  The input
 * is the .dockerignore text, a NUL byte, then a path.  Parsing must
 * accept or refuse with a reason; matching must terminate quickly
 * whatever the pattern (it is a table, not backtracking), give the same
 * answer twice, and treat each raw line as a pattern without harm.
 */
#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dockerignore	*ign;
	const uint8_t		*nul;
	char			 path[PATH_MAX], line[1024], err[256];
	char			*text;
	size_t			 tlen, plen, llen;
	int			 one, two;

	nul = memchr(data, '\0', size);
	tlen = nul != NULL ? (size_t)(nul - data) : size;
	plen = nul != NULL ? size - tlen - 1 : 0;
	if (plen >= sizeof(path))
		plen = sizeof(path) - 1;
	memcpy(path, nul != NULL ? nul + 1 : data, plen);
	path[plen] = '\0';

	/* Exactly its size: a read past the end is caught. */
	if ((text = malloc(tlen > 0 ? tlen : 1)) == NULL)
		return 0;
	memcpy(text, data, tlen);
	if ((ign = dockerignore_parse(text, tlen, err, sizeof(err))) == NULL) {
		if (err[0] == '\0')
			abort();
	} else {
		one = dockerignore_excluded(ign, path);
		two = dockerignore_excluded(ign, path);
		if (one != two || (one != 0 && one != 1))
			abort();
		(void)dockerignore_has_exceptions(ign);
		dockerignore_free(ign);
	}
	/* The first line, raw, as a pattern: malformed ones match nothing. */
	nul = memchr(text, '\n', tlen);
	llen = nul != NULL ? (size_t)(nul - (const uint8_t *)text) : tlen;
	if (llen >= sizeof(line))
		llen = sizeof(line) - 1;
	memcpy(line, text, llen);
	line[llen] = '\0';
	one = dockerignore_match(line, path);
	if (one != 0 && one != 1)
		abort();
	free(text);
	return 0;
}
