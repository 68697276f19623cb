/*
 * fuzz_wire.c: every decoder in common/wire.c against arbitrary payloads.
 * The first input byte chooses the decoder, the rest is the payload, held
 * in a buffer of exactly its size so a decoder that reads past the end is
 * caught.  A decoder must refuse or accept, and what it accepts must keep
 * the promises wire.h makes about it.  Byte 0, modulo the number of
 * decoders, is the index into types[]: 0-5 the processes' decoders, 6-11
 * those of berthctl tasks, task ID and policy.
 */
#include <sys/types.h>

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "imsg.h"
#include "policy.h"
#include "wire.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_string(const char *value, size_t size)
{
	if (memchr(value, '\0', size) == NULL)
		abort();
}

/* A string berthctl prints: terminated, no control character. */
static void
check_line(const char *value, size_t size)
{
	check_string(value, size);
	for (; *value != '\0'; value++)
		if ((unsigned char)*value < 0x20 || *value == 0x7f)
			abort();
}

static void
check_ctl_task(const struct wire_ctl_task *t)
{
	check_string(t->task_id, sizeof(t->task_id));
	if (!wire_id_valid(t->task_id) || t->seq < 1 ||
	    t->spooled > t->event_seq)
		abort();
	check_line(t->kind, sizeof(t->kind));
	check_line(t->app, sizeof(t->app));
	check_line(t->state, sizeof(t->state));
	check_line(t->event_state, sizeof(t->event_state));
	check_line(t->event_stage, sizeof(t->event_stage));
	check_line(t->event_message, sizeof(t->event_message));
}

/* An object with an id, and no env entry both secret and valued. */
static void
check_task_body(json_t *task)
{
	json_t	*env, *entry;
	size_t	 i;

	if (!json_is_object(task) || json_string_value(json_object_get(task,
	    "id")) == NULL)
		abort();
	env = json_object_get(json_object_get(task, "spec"), "env");
	json_array_foreach(env, i, entry)
		if (json_is_true(json_object_get(entry, "secret")) &&
		    json_object_get(entry, "value") != NULL)
			abort();
}

static void
check_ctl_policy(const struct wire_ctl_policy *p)
{
	check_string(p->policy_hash, sizeof(p->policy_hash));
	if (strlen(p->policy_hash) != POLICY_HASH_HEX ||
	    policy_validate(&p->policy) != NULL)
		abort();
}

static void
decode_ctl_tasks(unsigned int which, const struct imsg *imsg)
{
	struct wire_ctl_tasks_req	 tasks_req;
	struct wire_ctl_task_req	 task_req;
	struct wire_ctl_task		 task;
	struct wire_ctl_tasks_end	 end;
	static struct wire_ctl_policy	 policy;
	json_t				*body;

	switch (which) {
	case 6:
		if (wire_decode_ctl_tasks_req(imsg, &tasks_req) == NULL &&
		    tasks_req.all > 1)
			abort();
		break;
	case 7:
		if (wire_decode_ctl_task_req(imsg, &task_req) == NULL) {
			check_string(task_req.task_id,
			    sizeof(task_req.task_id));
			if (!wire_id_valid(task_req.task_id))
				abort();
		}
		break;
	case 8:
		if (wire_decode_ctl_task(imsg, &task) == NULL)
			check_ctl_task(&task);
		break;
	case 9:
		if (wire_decode_ctl_tasks_end(imsg, &end) == NULL &&
		    (end.listed > end.total ||
		    end.listed > WIRE_CTL_TASKS_MAX ||
		    (!end.journal && end.total != 0)))
			abort();
		break;
	case 10:
		if (wire_decode_ctl_task_body(imsg, &body) == NULL) {
			check_task_body(body);
			json_decref(body);
		} else if (body != NULL)
			abort();
		break;
	default:
		if (wire_decode_ctl_policy(imsg, &policy) == NULL)
			check_ctl_policy(&policy);
		break;
	}
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
	case 5:
		if (wire_decode_ctl_progress(imsg, &progress) == NULL) {
			check_string(progress.stage, sizeof(progress.stage));
			check_string(progress.text, sizeof(progress.text));
		}
		break;
	default:
		decode_ctl_tasks(which, imsg);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t	 types[] = {
		IMSG_PROC_STATUS_REQ, IMSG_PROC_CONF, IMSG_PROC_READY,
		IMSG_CTL_PROC, IMSG_CTL_ERROR, IMSG_CTL_PROGRESS,
		IMSG_CTL_TASKS_REQ, IMSG_CTL_TASK_REQ, IMSG_CTL_TASK,
		IMSG_CTL_TASKS_END, IMSG_CTL_TASK_BODY, IMSG_CTL_POLICY,
	};
	struct imsg		 imsg;
	unsigned int		 which;

	/* The control socket's cap: a task body is larger than a child's. */
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
