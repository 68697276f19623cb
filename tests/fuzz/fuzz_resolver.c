/*
 * fuzz_resolver.c: both ends of IMSG_NETD_RESOLVER.  The first input
 * byte chooses: even, the rest is a payload for wire_decode_resolver()
 * (in a buffer of exactly its size); odd, the rest is split in two at
 * the first NUL and read as a resolv.conf and a hosts file by the
 * parent's parsers, whose result must then pass the decoder: the parent
 * must never send what netd would die of.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "imsg.h"
#include "resolver.h"
#include "wire.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *
decode(const void *payload, size_t len, struct wire_resolver *out)
{
	struct imsg	 imsg;
	const char	*why;

	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = IMSG_NETD_RESOLVER;
	imsg.hdr.len = (uint32_t)len;
	imsg.fd = -1;
	if (len > 0) {
		if ((imsg.data = malloc(len)) == NULL)
			abort();
		memcpy(imsg.data, payload, len);
	}
	why = wire_decode_resolver(&imsg, out);
	free(imsg.data);
	return why;
}

static void
check(const struct wire_resolver *res)
{
	uint32_t	 i;

	if (res->nnameservers > WIRE_RESOLVER_NS_MAX ||
	    res->nhosts > WIRE_RESOLVER_HOSTS_MAX)
		abort();
	for (i = 0; i < res->nnameservers; i++)
		if (memchr(res->nameservers[i], '\0', WIRE_ADDR_LEN) == NULL)
			abort();
	for (i = 0; i < res->nhosts; i++)
		if (memchr(res->hosts[i].name, '\0', WIRE_HOSTNAME_LEN) ==
		    NULL || res->hosts[i].name[0] == '\0')
			abort();
}

static void
parse_then_decode(const uint8_t *data, size_t size)
{
	struct wire_resolver	 res, out;
	const uint8_t		*nul;
	size_t			 first;
	char			*buf;

	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(buf, data, size);
	nul = memchr(data, '\0', size);
	first = nul != NULL ? (size_t)(nul - data) : size;
	memset(&res, 0, sizeof(res));
	(void)resolver_parse_resolv_conf(buf, first, &res);
	if (first < size)
		(void)resolver_parse_hosts(buf + first + 1, size - first - 1,
		    &res);
	if (decode(&res, sizeof(res), &out) != NULL)
		abort();
	check(&out);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_resolver	 out;

	if (size < 1 || size - 1 > BERTH_IMSG_MAX)
		return 0;
	if (data[0] & 1)
		parse_then_decode(data + 1, size - 1);
	else if (decode(data + 1, size - 1, &out) == NULL)
		check(&out);
	return 0;
}
