/*
 * fuzz_task.c: the native task decoder (common/task.c) against arbitrary
 * bytes.  What it accepts must keep task.h's promises: an id that is an
 * id, counts within their arrays, a canonical form that can be made and
 * that decodes again to the same task.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"
#include "wire.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_accepted(const struct task *t)
{
	struct task	 again;
	char		 err[256], *msg, *json;
	size_t		 len;

	if (!wire_id_valid(t->id) || !wire_id_valid(t->node_id) ||
	    t->seq < 1 || t->spec.nenv > TASK_ENV_MAX ||
	    t->spec.nports > TASK_PORTS_MAX || t->spec.ncmd > TASK_CMD_MAX)
		abort();
	if ((msg = task_signed_message(t, &len)) == NULL)
		abort();
	free(msg);
	/* What netd forwards, the parent must decode the same way. */
	if ((json = task_encode(t)) == NULL)
		abort();
	if (task_decode(json, strlen(json), &again, err, sizeof(err)) != 0 ||
	    strcmp(again.id, t->id) != 0 || again.seq != t->seq ||
	    again.kind != t->kind)
		abort();
	task_free(&again);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct task	 t;
	char		 err[256];
	char		*buf;

	/* An exact-size copy: reading past the end is caught. */
	if ((buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(buf, data, size);
	if (task_decode(buf, size, &t, err, sizeof(err)) == 0)
		check_accepted(&t);
	else if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	task_free(&t);
	free(buf);
	return 0;
}
