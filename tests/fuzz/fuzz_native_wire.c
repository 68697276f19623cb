/*
 * fuzz_native_wire.c: the native protocol's imsg decoders in wire.c
 * (NETD_IDENTITY, NETD_ENROLLED, NETD_NODE, TASK_ACCEPT, TASK_ANSWER,
 * EVENT_SEND, EVENT_ACKED) against arbitrary payloads.  Byte 0 picks the
 * decoder; the rest is the payload, in a buffer of exactly its size.
 * What a decoder accepts must have every string terminated and every id
 * an id.
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
check_id(const char *value, size_t size)
{
	if (memchr(value, '\0', size) == NULL || !wire_id_valid(value))
		abort();
}

static void
decode(unsigned int which, const struct imsg *imsg)
{
	struct wire_netd_identity	 id;
	struct wire_netd_enrolled	 en;
	struct wire_netd_node		 node;
	struct wire_task_ref		 ref;
	struct wire_task_answer		 ans;
	struct wire_event		 ev;
	struct wire_event_ack		 ack;
	uint32_t			 i;

	switch (which) {
	case 0:
		if (wire_decode_netd_identity(imsg, &id) == NULL &&
		    (memchr(id.url, '\0', sizeof(id.url)) == NULL ||
		    memchr(id.token, '\0', sizeof(id.token)) == NULL))
			abort();
		break;
	case 1:
		if (wire_decode_netd_enrolled(imsg, &en) == NULL)
			check_id(en.node_id, sizeof(en.node_id));
		break;
	case 2:
		if (wire_decode_netd_node(imsg, &node) == NULL) {
			if (node.ntasks > WIRE_TASKS_RUNNING_MAX)
				abort();
			for (i = 0; i < node.ntasks; i++)
				check_id(node.tasks_running[i],
				    sizeof(node.tasks_running[i]));
		}
		break;
	case 3:
		if (wire_decode_task_ref(imsg, &ref) == NULL)
			check_id(ref.task_id, sizeof(ref.task_id));
		break;
	case 4:
		if (wire_decode_task_answer(imsg, &ans) == NULL) {
			check_id(ans.task_id, sizeof(ans.task_id));
			if (ans.outcome >= TASK_ANSWER_MAX)
				abort();
		}
		break;
	case 5:
		if (wire_decode_event(imsg, &ev) == NULL) {
			check_id(ev.task_id, sizeof(ev.task_id));
			if (memchr(ev.message, '\0', sizeof(ev.message)) ==
			    NULL || ev.seq == 0)
				abort();
		}
		break;
	default:
		if (wire_decode_event_ack(imsg, &ack) == NULL)
			check_id(ack.task_id, sizeof(ack.task_id));
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t	 types[] = {
		IMSG_NETD_IDENTITY, IMSG_NETD_ENROLLED, IMSG_NETD_NODE,
		IMSG_TASK_ACCEPT, IMSG_TASK_ANSWER, IMSG_EVENT_SEND,
		IMSG_EVENT_ACKED,
	};
	struct imsg		 imsg;
	unsigned int		 which;

	if (size < 1 || size - 1 > BERTH_IMSG_RUN_MAX)
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
