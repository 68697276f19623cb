/*
 * fuzz_runresult.c: the check of a runner result (runresult_check() in
 * common/runop.c) against arbitrary bytes, in a buffer of exactly their
 * size.  Whatever it says, it must say something, and what it accepts
 * must be a JSON object with a boolean "ok".
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runop.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*buf, err[128];
	json_t	*j;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(buf, data, size);
	if (runresult_check(buf, size, err, sizeof(err)) == -1) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
	} else {
		j = json_loadb(buf, size, 0, NULL);
		if (!json_is_object(j) ||
		    !json_is_boolean(json_object_get(j, "ok")))
			abort();
		json_decref(j);
	}
	free(buf);
	return 0;
}
