/*
 * test_journal.c: a journalled task is on disk when journal_add()
 * returns, its state and event seq survive a reopen, high_seq counts
 * every task but refused ones, a temporary file left by a crash in the
 * middle of a write is ignored, and entries come back in seq order.
 */
#include <sys/stat.h>

#include <dirent.h>
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

#include "journal.h"

static char	 dir[] = "/tmp/berth-journal-XXXXXX";

static int
empty_dir(void **state)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[sizeof(dir) + sizeof(de->d_name) + 1];

	(void)state;
	if ((d = opendir(dir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		(void)unlink(path);
	}
	closedir(d);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)empty_dir(state);
	(void)rmdir(dir);
	return 0;
}

#define TASK(id, seq)	"{\"id\":\"" id "\",\"seq\":" #seq "}"

static void
test_add_is_on_disk_at_return(void **state)
{
	struct journal		 j, again;
	struct journal_entry	*e;
	struct stat		 sb;
	char			 path[256];

	(void)state;
	assert_int_equal(journal_open(&j, dir), 0);
	assert_int_equal(j.high_seq, 0);
	e = journal_add(&j, "t_one", 5, 1700003600, TASK("t_one", 5),
	    JOURNAL_RECEIVED);
	assert_non_null(e);
	(void)snprintf(path, sizeof(path), "%s/t_one.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(journal_open(&again, dir), 0);
	e = journal_find(&again, "t_one");
	assert_non_null(e);
	assert_int_equal(e->seq, 5);
	assert_int_equal(e->not_after, 1700003600);
	assert_int_equal(e->state, JOURNAL_RECEIVED);
	assert_string_equal(e->task_json, TASK("t_one", 5));
	assert_int_equal(again.high_seq, 5);
	journal_close(&again);
	/* The same id twice is refused. */
	assert_null(journal_add(&j, "t_one", 6, 0, TASK("t_one", 6),
	    JOURNAL_RECEIVED));
	journal_close(&j);
}

static void
test_state_and_events_survive(void **state)
{
	struct journal		 j;
	struct journal_entry	*e;

	(void)state;
	assert_int_equal(journal_open(&j, dir), 0);
	e = journal_add(&j, "t_two", 7, 0, TASK("t_two", 7),
	    JOURNAL_RECEIVED);
	assert_non_null(e);
	assert_int_equal(journal_set_state(&j, e, JOURNAL_RUNNING), 0);
	assert_int_equal(journal_next_event(&j, e), 1);
	assert_int_equal(journal_next_event(&j, e), 2);
	journal_close(&j);

	assert_int_equal(journal_open(&j, dir), 0);
	e = journal_find(&j, "t_two");
	assert_non_null(e);
	assert_int_equal(e->state, JOURNAL_RUNNING);
	assert_int_equal(journal_next_event(&j, e), 3);
	journal_close(&j);
}

static void
test_high_seq_ignores_refused(void **state)
{
	struct journal	 j;

	(void)state;
	assert_int_equal(journal_open(&j, dir), 0);
	assert_non_null(journal_add(&j, "t_a", 3, 0, TASK("t_a", 3),
	    JOURNAL_RECEIVED));
	/* A forged task may claim any seq; it must not block real ones. */
	assert_non_null(journal_add(&j, "t_forged", 1000000, 0,
	    TASK("t_forged", 1000000), JOURNAL_REFUSED));
	assert_int_equal(j.high_seq, 3);
	journal_close(&j);
	assert_int_equal(journal_open(&j, dir), 0);
	assert_int_equal(j.high_seq, 3);
	journal_close(&j);
}

static void
test_torn_write_and_order(void **state)
{
	struct journal		 j;
	struct journal_entry	*e;
	char			 path[256];
	int			 fd;

	(void)state;
	assert_int_equal(journal_open(&j, dir), 0);
	assert_non_null(journal_add(&j, "t_late", 9, 0, TASK("t_late", 9),
	    JOURNAL_RECEIVED));
	assert_non_null(journal_add(&j, "t_early", 2, 0, TASK("t_early", 2),
	    JOURNAL_RECEIVED));
	journal_close(&j);
	/* What a crash before rename(2) leaves, and a stray broken file. */
	(void)snprintf(path, sizeof(path), "%s/.t_new.json.tmp", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "{\"id\":", 6), 6);
	close(fd);
	(void)snprintf(path, sizeof(path), "%s/t_bad.json", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd != -1);
	assert_int_equal(write(fd, "{\"id\":\"t_bad\"", 13), 13);
	close(fd);

	assert_int_equal(journal_open(&j, dir), 0);
	e = TAILQ_FIRST(&j.entries);
	assert_non_null(e);
	assert_string_equal(e->id, "t_early");
	e = TAILQ_NEXT(e, entry);
	assert_non_null(e);
	assert_string_equal(e->id, "t_late");
	assert_null(TAILQ_NEXT(e, entry));
	assert_null(journal_find(&j, "t_bad"));
	assert_int_equal(j.high_seq, 9);
	journal_close(&j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_add_is_on_disk_at_return,
		    empty_dir),
		cmocka_unit_test_setup(test_state_and_events_survive,
		    empty_dir),
		cmocka_unit_test_setup(test_high_seq_ignores_refused,
		    empty_dir),
		cmocka_unit_test_setup(test_torn_write_and_order, empty_dir),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
