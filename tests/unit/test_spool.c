/*
 * test_spool.c: the event outbox keeps every event across a reopen, in
 * order, drops exactly what was acknowledged, and cuts a torn record at
 * the end (a crash in the middle of an append) instead of losing the
 * whole spool.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

static char	 dir[] = "/tmp/berth-spool-XXXXXX";
static char	 file[160];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(file, sizeof(file), "%s/events.log", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(file);
	(void)rmdir(dir);
	return 0;
}

static int
reset(void **state)
{
	(void)state;
	(void)unlink(file);
	return 0;
}

static struct wire_event
event(const char *task, uint32_t seq, const char *state)
{
	struct wire_event	 ev;

	memset(&ev, 0, sizeof(ev));
	(void)strlcpy(ev.task_id, task, sizeof(ev.task_id));
	ev.seq = seq;
	ev.time = 1700000000 + seq;
	(void)strlcpy(ev.state, state, sizeof(ev.state));
	(void)strlcpy(ev.stage, "create", sizeof(ev.stage));
	(void)snprintf(ev.message, sizeof(ev.message), "event %u\n\"q\"", seq);
	return ev;
}

/* The records of s as "task:seq:state ..." for one comparison. */
static void
assert_records(struct spool *s, const char *want)
{
	struct spool_record	*r;
	char			 got[512] = "", one[96];

	TAILQ_FOREACH(r, &s->records, entry) {
		(void)snprintf(one, sizeof(one), "%s%s:%u:%s",
		    got[0] != '\0' ? " " : "", r->event.task_id, r->event.seq,
		    r->event.state);
		(void)strlcat(got, one, sizeof(got));
	}
	assert_string_equal(got, want);
}

static void
test_append_is_on_disk_at_return(void **state)
{
	struct spool		 s, again;
	struct wire_event	 ev = event("t_a", 1, "running");

	(void)state;
	assert_int_equal(spool_open(&s, dir), 0);
	assert_int_equal(spool_append(&s, &ev), 0);
	/* A second reader sees it before the first one closes. */
	assert_int_equal(spool_open(&again, dir), 0);
	assert_records(&again, "t_a:1:running");
	assert_string_equal(TAILQ_FIRST(&again.records)->event.message,
	    "event 1\n\"q\"");
	assert_string_equal(TAILQ_FIRST(&again.records)->event.stage,
	    "create");
	spool_close(&again);
	spool_close(&s);
}

static void
test_replay_in_order_and_ack(void **state)
{
	struct spool		 s;
	struct wire_event	 ev;

	(void)state;
	assert_int_equal(spool_open(&s, dir), 0);
	ev = event("t_a", 1, "running");
	assert_int_equal(spool_append(&s, &ev), 0);
	ev = event("t_b", 1, "rejected");
	assert_int_equal(spool_append(&s, &ev), 0);
	ev = event("t_a", 2, "succeeded");
	ev.has_exit_code = 1;
	ev.exit_code = 3;
	assert_int_equal(spool_append(&s, &ev), 0);
	spool_close(&s);

	assert_int_equal(spool_open(&s, dir), 0);
	assert_records(&s, "t_a:1:running t_b:1:rejected t_a:2:succeeded");
	assert_int_equal(TAILQ_LAST(&s.records, spool_list)->event.exit_code,
	    3);
	assert_int_equal(spool_ack(&s, "t_a", 1), 0);
	assert_records(&s, "t_b:1:rejected t_a:2:succeeded");
	/* An ack of another task or of nothing new changes nothing. */
	assert_int_equal(spool_ack(&s, "t_c", 9), 0);
	assert_int_equal(spool_ack(&s, "t_a", 1), 0);
	assert_records(&s, "t_b:1:rejected t_a:2:succeeded");
	/* Appends after a compaction go to the new file. */
	ev = event("t_c", 1, "running");
	assert_int_equal(spool_append(&s, &ev), 0);
	spool_close(&s);

	assert_int_equal(spool_open(&s, dir), 0);
	assert_records(&s, "t_b:1:rejected t_a:2:succeeded t_c:1:running");
	assert_int_equal(spool_ack(&s, "t_b", 1), 0);
	assert_int_equal(spool_ack(&s, "t_a", 2), 0);
	assert_int_equal(spool_ack(&s, "t_c", 1), 0);
	assert_int_equal(s.nrecords, 0);
	spool_close(&s);
	assert_int_equal(spool_open(&s, dir), 0);
	assert_records(&s, "");
	spool_close(&s);
}

static void
test_torn_record_is_cut(void **state)
{
	struct spool		 s;
	struct wire_event	 ev = event("t_a", 1, "running");
	struct stat		 sb;
	off_t			 whole;
	int			 fd;

	(void)state;
	assert_int_equal(spool_open(&s, dir), 0);
	assert_int_equal(spool_append(&s, &ev), 0);
	spool_close(&s);
	assert_int_equal(stat(file, &sb), 0);
	whole = sb.st_size;
	/* Half a record, as a crash during write(2) would leave it. */
	fd = open(file, O_WRONLY | O_APPEND);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "{\"task\":\"t_a\",\"seq\":2,", 22), 22);
	close(fd);

	assert_int_equal(spool_open(&s, dir), 0);
	assert_records(&s, "t_a:1:running");
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_size, whole);
	/* The next append starts on a line of its own. */
	ev = event("t_a", 2, "succeeded");
	assert_int_equal(spool_append(&s, &ev), 0);
	spool_close(&s);
	assert_int_equal(spool_open(&s, dir), 0);
	assert_records(&s, "t_a:1:running t_a:2:succeeded");
	spool_close(&s);
}

static void
test_files_are_private(void **state)
{
	struct spool		 s;
	struct wire_event	 ev = event("t_a", 1, "running");
	struct stat		 sb;

	(void)state;
	assert_int_equal(spool_open(&s, dir), 0);
	assert_int_equal(spool_append(&s, &ev), 0);
	assert_int_equal(spool_ack(&s, "t_a", 1), 0);
	spool_close(&s);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_append_is_on_disk_at_return,
		    reset),
		cmocka_unit_test_setup(test_replay_in_order_and_ack, reset),
		cmocka_unit_test_setup(test_torn_record_is_cut, reset),
		cmocka_unit_test_setup(test_files_are_private, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
