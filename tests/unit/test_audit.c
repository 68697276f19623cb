/*
 * test_audit.c: the audit chain verifies when whole, names the altered
 * record when one byte changes, survives a torn write, and continues
 * across a reopen.
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

#include "audit.h"
#include "berth.h"

static char	 dir[] = "/tmp/berth-audit-XXXXXX";
static char	 path[128];

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(path, sizeof(path), "%s/audit.log", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	(void)rmdir(dir);
	return 0;
}

static void
write_records(int count)
{
	struct audit_log	 log;
	struct audit_record	 rec = {
		.task = "task-1", .operation = "container.create",
		.object = "paas-app-demo", .policy_hash = "ab",
		.request_hash = "cd", .result = "ok",
	};
	int			 i;

	assert_int_equal(audit_open(&log, path), 0);
	for (i = 0; i < count; i++)
		assert_int_equal(audit_append(&log, &rec), 0);
	audit_close(&log);
}

static int
verify(struct audit_verify *result)
{
	int	 fd, rc;

	assert_true((fd = open(path, O_RDONLY)) != -1);
	rc = audit_verify_fd(fd, result);
	close(fd);
	return rc;
}

/* Offset of the first byte of record n (1-based). */
static off_t
record_offset(int n)
{
	FILE	*fp;
	off_t	 off = 0;
	int	 c, line = 1;

	assert_non_null(fp = fopen(path, "r"));
	while (line < n && (c = fgetc(fp)) != EOF) {
		off++;
		if (c == '\n')
			line++;
	}
	fclose(fp);
	return off;
}

static void
flip_byte(off_t off)
{
	int		 fd;
	unsigned char	 c;

	assert_true((fd = open(path, O_RDWR)) != -1);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x01;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void
whole_chain_verifies(void **state)
{
	struct audit_verify	 result;
	struct audit_log	 log;

	(void)state;
	(void)unlink(path);
	write_records(5);
	assert_int_equal(verify(&result), 0);
	assert_int_equal(result.records, 5);
	assert_int_equal(result.broken_record, 0);
	/* The head a reopen finds is the head verify reports. */
	assert_int_equal(audit_open(&log, path), 0);
	assert_string_equal(log.head, result.head);
	assert_int_equal(log.records, 5);
	audit_close(&log);
}

/* A flipped byte anywhere in record 3 is reported as record 3. */
static void
flipped_byte_names_record(void **state)
{
	struct audit_verify	 result;
	off_t			 start, len, probe[3];
	int			 i;

	(void)state;
	for (i = 0; i < 3; i++) {
		(void)unlink(path);
		write_records(5);
		start = record_offset(3);
		len = record_offset(4) - start;
		probe[0] = start;		/* in the hash */
		probe[1] = start + 70;		/* in the JSON */
		probe[2] = start + len - 3;	/* near its end */
		flip_byte(probe[i]);
		assert_int_equal(verify(&result), 1);
		assert_int_equal(result.broken_record, 3);
		assert_int_equal(result.records, 2);
	}
}

static void
removed_record_detected(void **state)
{
	struct audit_verify	 result;
	char			 cmd[256];

	(void)state;
	(void)unlink(path);
	write_records(4);
	(void)snprintf(cmd, sizeof(cmd), "sed -i 2d %s", path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(verify(&result), 1);
	assert_int_equal(result.broken_record, 2);
}

static void
torn_tail_repaired_and_chain_continues(void **state)
{
	struct audit_verify	 result;
	int			 fd;

	(void)state;
	(void)unlink(path);
	write_records(3);
	assert_true((fd = open(path, O_WRONLY | O_APPEND)) != -1);
	assert_int_equal(write(fd, "deadbeef {\"seq\":", 16), 16);
	close(fd);
	assert_int_equal(verify(&result), 1);
	assert_int_equal(result.broken_record, 4);
	/* Reopening cuts the torn record; appends chain on. */
	write_records(2);
	assert_int_equal(verify(&result), 0);
	assert_int_equal(result.records, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(whole_chain_verifies),
		cmocka_unit_test(flipped_byte_names_record),
		cmocka_unit_test(removed_record_detected),
		cmocka_unit_test(torn_tail_repaired_and_chain_continues),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
