/*
 * test_wire.c: every decoder in common/wire.c against valid payloads and
 * against the ways a peer can get one wrong: wrong size either way, a
 * string without its terminator, an enum out of range, a descriptor where
 * none belongs.  Each refusal must name what was wrong, since that
 * sentence is all the log will say before the connection is dropped.
 */
#include <sys/types.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "berth.h"
#include "imsg.h"
#include "wire.h"

/* How a case spoils one field of an otherwise valid payload. */
enum spoil {
	SET_U32,	/* store value in a 32-bit integer field */
	UNTERMINATED,	/* fill a string array with no NUL */
	EMPTY,		/* make a string field "" */
};

struct field_case {
	const char	*field;
	size_t		 offset;
	size_t		 size;
	enum spoil	 spoil;
	int64_t		 value;
	int		 refused;	/* 1: the reason must name field */
};

struct decoder {
	const char		*name;		/* imsg type, as reasons say it */
	uint32_t		 type;
	size_t			 size;
	void			(*valid)(void *);
	const char		*(*decode)(const struct imsg *, void *);
	const struct field_case	*cases;
	size_t			 ncases;
};

#define FIELD(st, f)	#f, offsetof(struct st, f), \
			    sizeof(((struct st *)0)->f)
#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static void
valid_proc_conf(void *p)
{
	struct wire_proc_conf	*conf = p;

	memset(conf, 0, sizeof(*conf));
	conf->role = ROLE_NETD;
	conf->verbose = 2;
	conf->foreground = 1;
	assert_int_equal(wire_strset(conf->user, sizeof(conf->user),
	    "_berth"), 0);
	assert_int_equal(wire_strset(conf->docker_socket,
	    sizeof(conf->docker_socket), BERTH_DOCKER_SOCKET), 0);
	assert_int_equal(wire_strset(conf->workspace_root,
	    sizeof(conf->workspace_root), BERTH_WORKSPACE_ROOT), 0);
}

static const char *
decode_proc_conf(const struct imsg *imsg, void *out)
{
	return wire_decode_proc_conf(imsg, out);
}

static const struct field_case proc_conf_cases[] = {
	{ FIELD(wire_proc_conf, role), SET_U32, ROLE_PARENT, 1 },
	{ FIELD(wire_proc_conf, role), SET_U32, ROLE_NETD, 0 },
	{ FIELD(wire_proc_conf, role), SET_U32, ROLE_RUNNER, 0 },
	{ FIELD(wire_proc_conf, role), SET_U32, ROLE_MAX, 1 },
	{ FIELD(wire_proc_conf, role), SET_U32, UINT32_MAX, 1 },
	{ FIELD(wire_proc_conf, verbose), SET_U32, 3, 0 },
	{ FIELD(wire_proc_conf, verbose), SET_U32, 4, 1 },
	{ FIELD(wire_proc_conf, foreground), SET_U32, 0, 0 },
	{ FIELD(wire_proc_conf, foreground), SET_U32, 2, 1 },
	{ FIELD(wire_proc_conf, user), UNTERMINATED, 0, 1 },
	{ FIELD(wire_proc_conf, user), EMPTY, 0, 1 },
	{ FIELD(wire_proc_conf, docker_socket), UNTERMINATED, 0, 1 },
	{ FIELD(wire_proc_conf, docker_socket), EMPTY, 0, 0 },
	{ FIELD(wire_proc_conf, workspace_root), UNTERMINATED, 0, 1 },
};

static void
valid_proc_ready(void *p)
{
	struct wire_proc_ready	*ready = p;

	memset(ready, 0, sizeof(*ready));
	ready->role = ROLE_RUNNER;
	ready->landlock_abi = 4;
	ready->landlock_full = 1;
	ready->seccomp = 1;
	ready->netns = 1;
	ready->mntns = 1;
}

static const char *
decode_proc_ready(const struct imsg *imsg, void *out)
{
	return wire_decode_proc_ready(imsg, out);
}

static const struct field_case proc_ready_cases[] = {
	{ FIELD(wire_proc_ready, role), SET_U32, ROLE_PARENT, 1 },
	{ FIELD(wire_proc_ready, role), SET_U32, ROLE_MAX, 1 },
	{ FIELD(wire_proc_ready, landlock_abi), SET_U32, 0, 0 },
	{ FIELD(wire_proc_ready, landlock_abi), SET_U32, -1, 1 },
	{ FIELD(wire_proc_ready, landlock_abi), SET_U32, 65, 1 },
	{ FIELD(wire_proc_ready, landlock_full), SET_U32, 2, 1 },
	{ FIELD(wire_proc_ready, seccomp), SET_U32, 2, 1 },
	{ FIELD(wire_proc_ready, netns), SET_U32, 2, 1 },
	{ FIELD(wire_proc_ready, mntns), SET_U32, 2, 1 },
	{ FIELD(wire_proc_ready, mntns), SET_U32, UINT32_MAX, 1 },
};

static void
valid_ctl_proc(void *p)
{
	struct wire_ctl_proc	*proc = p;

	memset(proc, 0, sizeof(*proc));
	proc->role = ROLE_PARENT;
	proc->pid = 1234;
	proc->uid = 0;
	proc->gid = 0;
	proc->seccomp_mode = 2;
	proc->no_new_privs = 1;
	proc->landlock_abi = 3;
	proc->landlock_full = 0;
	proc->cap_eff = 0x3fffffffffULL;
	proc->uptime_sec = 86400;
	assert_int_equal(wire_strset(proc->user, sizeof(proc->user), "root"),
	    0);
}

static const char *
decode_ctl_proc(const struct imsg *imsg, void *out)
{
	return wire_decode_ctl_proc(imsg, out);
}

static const struct field_case ctl_proc_cases[] = {
	{ FIELD(wire_ctl_proc, role), SET_U32, ROLE_PARENT, 0 },
	{ FIELD(wire_ctl_proc, role), SET_U32, ROLE_MAX, 1 },
	{ FIELD(wire_ctl_proc, seccomp_mode), SET_U32, 3, 1 },
	{ FIELD(wire_ctl_proc, no_new_privs), SET_U32, 2, 1 },
	{ FIELD(wire_ctl_proc, landlock_abi), SET_U32, -1, 1 },
	{ FIELD(wire_ctl_proc, landlock_abi), SET_U32, 65, 1 },
	{ FIELD(wire_ctl_proc, landlock_full), SET_U32, 2, 1 },
	{ FIELD(wire_ctl_proc, user), UNTERMINATED, 0, 1 },
	{ FIELD(wire_ctl_proc, user), EMPTY, 0, 0 },
};

static void
valid_ctl_error(void *p)
{
	struct wire_ctl_error	*error = p;

	memset(error, 0, sizeof(*error));
	assert_int_equal(wire_strset(error->message, sizeof(error->message),
	    "no such app"), 0);
}

static const char *
decode_ctl_error(const struct imsg *imsg, void *out)
{
	return wire_decode_ctl_error(imsg, out);
}

static const struct field_case ctl_error_cases[] = {
	{ FIELD(wire_ctl_error, message), UNTERMINATED, 0, 1 },
	{ FIELD(wire_ctl_error, message), EMPTY, 0, 0 },
};

static void
valid_ctl_progress(void *p)
{
	struct wire_ctl_progress	*progress = p;

	memset(progress, 0, sizeof(*progress));
	assert_int_equal(wire_strset(progress->stage, sizeof(progress->stage),
	    "clone"), 0);
	assert_int_equal(wire_strset(progress->text, sizeof(progress->text),
	    "ok 0123456789abcdef0123456789abcdef01234567"), 0);
}

static const char *
decode_ctl_progress(const struct imsg *imsg, void *out)
{
	return wire_decode_ctl_progress(imsg, out);
}

static const struct field_case ctl_progress_cases[] = {
	{ FIELD(wire_ctl_progress, stage), UNTERMINATED, 0, 1 },
	{ FIELD(wire_ctl_progress, text), UNTERMINATED, 0, 1 },
	{ FIELD(wire_ctl_progress, text), EMPTY, 0, 0 },
};

static const struct decoder decoders[] = {
	{ "PROC_CONF", IMSG_PROC_CONF, sizeof(struct wire_proc_conf),
	    valid_proc_conf, decode_proc_conf,
	    proc_conf_cases, NITEMS(proc_conf_cases) },
	{ "PROC_READY", IMSG_PROC_READY, sizeof(struct wire_proc_ready),
	    valid_proc_ready, decode_proc_ready,
	    proc_ready_cases, NITEMS(proc_ready_cases) },
	{ "PROC_STATUS", IMSG_PROC_STATUS, sizeof(struct wire_proc_ready),
	    valid_proc_ready, decode_proc_ready,
	    proc_ready_cases, NITEMS(proc_ready_cases) },
	{ "CTL_PROC", IMSG_CTL_PROC, sizeof(struct wire_ctl_proc),
	    valid_ctl_proc, decode_ctl_proc,
	    ctl_proc_cases, NITEMS(ctl_proc_cases) },
	{ "CTL_ERROR", IMSG_CTL_ERROR, sizeof(struct wire_ctl_error),
	    valid_ctl_error, decode_ctl_error,
	    ctl_error_cases, NITEMS(ctl_error_cases) },
	{ "CTL_PROGRESS", IMSG_CTL_PROGRESS,
	    sizeof(struct wire_ctl_progress), valid_ctl_progress,
	    decode_ctl_progress, ctl_progress_cases,
	    NITEMS(ctl_progress_cases) },
};

/*
 * An imsg as imsg_get would hand it over, with a payload of exactly len
 * bytes so that a decoder reading past it is caught under ASan.
 */
static void
make_imsg(struct imsg *imsg, uint32_t type, const void *payload,
    size_t len, int fd)
{
	memset(imsg, 0, sizeof(*imsg));
	imsg->hdr.type = type;
	imsg->hdr.len = (uint32_t)len;
	imsg->fd = fd;
	imsg->data = NULL;
	if (len > 0) {
		assert_non_null(imsg->data = malloc(len));
		memcpy(imsg->data, payload, len);
	}
}

static void
assert_reason_names(const char *why, const char *what)
{
	assert_non_null(why);
	if (strstr(why, what) == NULL)
		fail_msg("reason \"%s\" does not mention \"%s\"", why, what);
}

static void
test_decoders_accept_valid(void **state)
{
	const struct decoder	*d;
	struct imsg		 imsg;
	unsigned char		*in, *out;
	size_t			 i;
	const char		*why;

	(void)state;
	for (i = 0; i < NITEMS(decoders); i++) {
		d = &decoders[i];
		assert_non_null(in = calloc(1, d->size));
		assert_non_null(out = calloc(1, d->size));
		d->valid(in);
		make_imsg(&imsg, d->type, in, d->size, -1);
		if ((why = d->decode(&imsg, out)) != NULL)
			fail_msg("%s: valid payload refused: %s", d->name, why);
		assert_memory_equal(in, out, d->size);
		free(imsg.data);
		free(in);
		free(out);
	}
}

/* One byte short, one byte long, nothing at all, far too much. */
static void
test_decoders_refuse_wrong_size(void **state)
{
	const struct decoder	*d;
	struct imsg		 imsg;
	unsigned char		*in, *out;
	size_t			 i, j, lens[4];

	(void)state;
	for (i = 0; i < NITEMS(decoders); i++) {
		d = &decoders[i];
		lens[0] = d->size - 1;
		lens[1] = d->size + 1;
		lens[2] = 0;
		lens[3] = 2 * d->size;
		assert_non_null(in = calloc(1, 2 * d->size));
		assert_non_null(out = calloc(1, d->size));
		d->valid(in);
		for (j = 0; j < NITEMS(lens); j++) {
			make_imsg(&imsg, d->type, in, lens[j], -1);
			assert_reason_names(d->decode(&imsg, out), d->name);
			assert_reason_names(d->decode(&imsg, out), "bytes");
			free(imsg.data);
		}
		free(in);
		free(out);
	}
}

static void
test_decoders_refuse_descriptor(void **state)
{
	const struct decoder	*d;
	struct imsg		 imsg;
	unsigned char		*in, *out;
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(decoders); i++) {
		d = &decoders[i];
		assert_non_null(in = calloc(1, d->size));
		assert_non_null(out = calloc(1, d->size));
		d->valid(in);
		/* The decoder only looks at the number; it need not be open. */
		make_imsg(&imsg, d->type, in, d->size, 7);
		imsg.hdr.flags = IMSG_FLAG_FD;
		assert_reason_names(d->decode(&imsg, out), d->name);
		assert_reason_names(d->decode(&imsg, out), "descriptor");
		free(imsg.data);
		free(in);
		free(out);
	}
}

static void
spoil_field(unsigned char *payload, const struct field_case *fc)
{
	uint32_t	 u32;
	int32_t		 i32;

	switch (fc->spoil) {
	case SET_U32:
		assert_int_equal(fc->size, sizeof(u32));
		if (fc->value < 0) {
			i32 = (int32_t)fc->value;
			memcpy(payload + fc->offset, &i32, sizeof(i32));
		} else {
			u32 = (uint32_t)fc->value;
			memcpy(payload + fc->offset, &u32, sizeof(u32));
		}
		break;
	case UNTERMINATED:
		memset(payload + fc->offset, 'A', fc->size);
		break;
	case EMPTY:
		memset(payload + fc->offset, 0, fc->size);
		break;
	}
}

/* The table: each field spoiled one way, with the outcome expected. */
static void
test_decoders_check_fields(void **state)
{
	const struct decoder	*d;
	const struct field_case	*fc;
	struct imsg		 imsg;
	unsigned char		*in, *out;
	size_t			 i, j;
	const char		*why;

	(void)state;
	for (i = 0; i < NITEMS(decoders); i++) {
		d = &decoders[i];
		assert_non_null(in = calloc(1, d->size));
		assert_non_null(out = calloc(1, d->size));
		for (j = 0; j < d->ncases; j++) {
			fc = &d->cases[j];
			d->valid(in);
			spoil_field(in, fc);
			make_imsg(&imsg, d->type, in, d->size, -1);
			why = d->decode(&imsg, out);
			if (fc->refused)
				assert_reason_names(why, fc->field);
			else if (why != NULL)
				fail_msg("%s: case %zu (%s) refused: %s",
				    d->name, j, fc->field, why);
			free(imsg.data);
		}
		free(in);
		free(out);
	}
}

static void
test_decode_empty(void **state)
{
	static const unsigned char	 one = 0;
	struct imsg			 imsg;

	(void)state;
	make_imsg(&imsg, IMSG_PROC_STATUS_REQ, NULL, 0, -1);
	assert_null(wire_decode_empty(&imsg));

	make_imsg(&imsg, IMSG_PROC_STATUS_REQ, &one, 1, -1);
	assert_reason_names(wire_decode_empty(&imsg), "PROC_STATUS_REQ");
	assert_reason_names(wire_decode_empty(&imsg), "expected 0");
	free(imsg.data);

	make_imsg(&imsg, IMSG_CTL_END, NULL, 0, 7);
	imsg.hdr.flags = IMSG_FLAG_FD;
	assert_reason_names(wire_decode_empty(&imsg), "CTL_END");
	assert_reason_names(wire_decode_empty(&imsg), "descriptor");
}

static void
test_strset(void **state)
{
	char	 buf[8];

	(void)state;
	assert_int_equal(wire_strset(buf, sizeof(buf), "1234567"), 0);
	assert_string_equal(buf, "1234567");
	assert_int_equal(wire_strset(buf, sizeof(buf), "12345678"), -1);
	/* Truncated, but still terminated inside the array. */
	assert_non_null(memchr(buf, '\0', sizeof(buf)));
}

static void
test_names(void **state)
{
	enum berth_role	 role;

	(void)state;
	assert_string_equal(role_name(ROLE_RUNNER), "runner");
	assert_string_equal(role_name(ROLE_MAX), "unknown");
	assert_string_equal(role_name((enum berth_role)-1), "unknown");
	assert_int_equal(role_from_name("builder", &role), 0);
	assert_int_equal(role, ROLE_BUILDER);
	assert_int_equal(role_from_name("root", &role), -1);
	assert_string_equal(imsg_type_name(IMSG_PROC_CONF), "PROC_CONF");
	assert_string_equal(imsg_type_name(IMSG_TYPE_MAX), "unknown");
	assert_string_equal(imsg_type_name(UINT32_MAX), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decoders_accept_valid),
		cmocka_unit_test(test_decoders_refuse_wrong_size),
		cmocka_unit_test(test_decoders_refuse_descriptor),
		cmocka_unit_test(test_decoders_check_fields),
		cmocka_unit_test(test_decode_empty),
		cmocka_unit_test(test_strset),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
