/*
 * fuzz_wire.c: every decoder in common/wire.c against arbitrary payloads.
 * The first input byte chooses the decoder, the rest is the payload, held
 * in a buffer of exactly its size so a decoder that reads past the end is
 * caught.  A decoder must refuse or accept, and what it accepts must keep
 * the promises wire.h makes about it.
 */
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "imsg.h"
#include "wire.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_string(const char *value, size_t size)
{
	if (memchr(value, '\0', size) == NULL)
		abort();
}

static void
decode(unsigned int which, const struct imsg *imsg)
{
	struct wire_proc_conf	 conf;
	struct wire_proc_ready	 ready;
	struct wire_ctl_proc	 proc;
	struct wire_ctl_error	 error;
	struct wire_ctl_progress progress;

	switch (which) {
	case 0:
		(void)wire_decode_empty(imsg);
		break;
	case 1:
		if (wire_decode_proc_conf(imsg, &conf) == NULL) {
			if (conf.role == ROLE_PARENT || conf.role >= ROLE_MAX)
				abort();
			check_string(conf.user, sizeof(conf.user));
			check_string(conf.docker_socket,
			    sizeof(conf.docker_socket));
			check_string(conf.workspace_root,
			    sizeof(conf.workspace_root));
		}
		break;
	case 2:
		if (wire_decode_proc_ready(imsg, &ready) == NULL &&
		    (ready.role >= ROLE_MAX || ready.landlock_abi < 0))
			abort();
		break;
	case 3:
		if (wire_decode_ctl_proc(imsg, &proc) == NULL) {
			if (proc.role >= ROLE_MAX)
				abort();
			check_string(proc.user, sizeof(proc.user));
		}
		break;
	case 4:
		if (wire_decode_ctl_error(imsg, &error) == NULL)
			check_string(error.message, sizeof(error.message));
		break;
	default:
		if (wire_decode_ctl_progress(imsg, &progress) == NULL) {
			check_string(progress.stage, sizeof(progress.stage));
			check_string(progress.text, sizeof(progress.text));
		}
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t	 types[] = {
		IMSG_PROC_STATUS_REQ, IMSG_PROC_CONF, IMSG_PROC_READY,
		IMSG_CTL_PROC, IMSG_CTL_ERROR, IMSG_CTL_PROGRESS,
	};
	struct imsg		 imsg;
	unsigned int		 which;

	if (size < 1 || size - 1 > BERTH_IMSG_MAX)
		return 0;
	which = data[0] % (sizeof(types) / sizeof(types[0]));
	memset(&imsg, 0, sizeof(imsg));
	imsg.hdr.type = types[which];
	imsg.hdr.len = (uint32_t)(size - 1);
	imsg.fd = -1;
	if (size > 1) {
		if ((imsg.data = malloc(size - 1)) == NULL)
			abort();
		memcpy(imsg.data, data + 1, size - 1);
	}
	decode(which, &imsg);
	free(imsg.data);
	return 0;
}
