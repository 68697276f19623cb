/*
 * proto.c: which module speaks which control-plane protocol (proto.h).
 */
#include <stddef.h>

#include "berth.h"
#include "proto.h"

static const struct proto *const dialects[PROTO_MAX] = {
	[PROTO_NATIVE] = &proto_native,
	[PROTO_MIAAS] = &proto_miaas,
};

const struct proto *
proto_lookup(unsigned int protocol)
{
	if (protocol >= PROTO_MAX)
		return NULL;
	return dialects[protocol];
}
