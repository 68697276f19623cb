/*
 * fuzz_miaas.c: the MIaaS dialect's decoder of a registration answer
 * (netd/proto_miaas.c) against arbitrary JSON.  What it accepts must be
 * an id of PROTOCOL.md's alphabet and a token with no byte that could
 * end a header or a URL path, each terminated inside its buffer.
 */
#include <sys/types.h>

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "proto.h"
#include "wire.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 id[WIRE_ID_LEN], token[WIRE_CREDENTIAL_LEN];
	json_t	*answer;
	size_t	 i;

	if ((answer = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	if (miaas_registration_decode(answer, id, sizeof(id), token,
	    sizeof(token)) == 0) {
		if (memchr(id, '\0', sizeof(id)) == NULL ||
		    memchr(token, '\0', sizeof(token)) == NULL ||
		    !wire_id_valid(id) || token[0] == '\0')
			abort();
		for (i = 0; token[i] != '\0'; i++)
			if (token[i] <= ' ' || token[i] > '~' ||
			    token[i] == '\r' || token[i] == '\n')
				abort();
	}
	json_decref(answer);
	return 0;
}
