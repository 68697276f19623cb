/*
 * test_metrics.c: parent/metrics.c.  Its numbers agree with /proc,
 * statvfs(3), sysconf(3) and uname(2) read here independently (within a
 * tolerance for what moves between two reads); CPU load made here shows
 * in the next sample; the parsers take the formats the kernel writes and
 * refuse others; GPUs come from a fake NVML library built with the tests
 * (FAKE_NVML_PATH), and none from a missing one; and what metrics_json()
 * makes is what netd's status decoder accepts.
 */
#include <sys/types.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "berth.h"
#include "metrics.h"
#include "status.h"

#define MIB	(1024ULL * 1024)
#define GIB	(1024 * MIB)

static uint64_t
meminfo_bytes(const char *key)
{
	FILE			*fp;
	char			 line[256];
	unsigned long long	 kb = 0;
	size_t			 klen = strlen(key);

	assert_non_null(fp = fopen("/proc/meminfo", "r"));
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			(void)sscanf(line + klen + 1, "%llu", &kb);
	fclose(fp);
	return kb * 1024;
}

static uint64_t
distance(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

static void
test_values_match_proc(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;
	struct statvfs		 sv;
	struct utsname		 u;
	double			 l1, l5, l15;
	FILE			*fp;

	(void)state;
	assert_non_null(mt = metrics_init("/tmp", NULL, ""));
	assert_int_equal(metrics_sample(mt, &m), 0);

	assert_int_equal(m.memory_total, meminfo_bytes("MemTotal"));
	assert_true(distance(m.memory_available,
	    meminfo_bytes("MemAvailable")) < m.memory_total / 10);
	assert_int_equal(m.memory_used, m.memory_total - m.memory_available);

	assert_non_null(fp = fopen("/proc/loadavg", "r"));
	assert_int_equal(fscanf(fp, "%lf %lf %lf", &l1, &l5, &l15), 3);
	fclose(fp);
	assert_true(m.load1 >= 0 && m.load1 - l1 < 1.0 && l1 - m.load1 < 1.0);
	assert_true(m.load15 - l15 < 0.5 && l15 - m.load15 < 0.5);

	assert_int_equal(m.cpu_count, sysconf(_SC_NPROCESSORS_ONLN));
	assert_int_equal(uname(&u), 0);
	assert_string_equal(m.kernel, u.release);
	assert_string_equal(m.machine, u.machine);

	assert_int_equal(m.ndisks, 1);
	assert_string_equal(m.disks[0].use, "state");
	assert_string_equal(m.disks[0].path, "/tmp");
	assert_int_equal(statvfs("/tmp", &sv), 0);
	assert_int_equal(m.disks[0].total_bytes,
	    (uint64_t)sv.f_blocks * sv.f_frsize);
	assert_true(distance(m.disks[0].free_bytes,
	    (uint64_t)sv.f_bavail * sv.f_frsize) < 256 * MIB);
	assert_int_equal(m.ngpus, 0);
	metrics_free(mt);
}

/* Docker's data root, when known, is measured as well. */
static void
test_docker_root_disk(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;

	(void)state;
	assert_non_null(mt = metrics_init("/tmp", "/", ""));
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.ndisks, 2);
	assert_string_equal(m.disks[1].use, "docker");
	assert_string_equal(m.disks[1].path, "/");
	assert_true(m.disks[1].total_bytes > 0);
	metrics_free(mt);
}

/* Keep one CPU busy for a while; the next sample must see it. */
static void
test_cpu_percent(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;
	struct timespec		 start, now;
	volatile unsigned long	 spin = 0;

	(void)state;
	assert_non_null(mt = metrics_init("/tmp", NULL, ""));
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		spin++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((now.tv_sec - start.tv_sec) * 1000 +
	    (now.tv_nsec - start.tv_nsec) / 1000000 < 300);
	assert_int_equal(metrics_sample(mt, &m), 0);
	/* One of N CPUs busy: at least most of 100/N percent. */
	assert_true(m.cpu_percent > 50.0 / m.cpu_count);
	assert_true(m.cpu_percent <= 100.0);
	metrics_free(mt);
}

static void
test_parsers(void **state)
{
	struct metrics_cpu_times	 t;
	uint64_t			 total, avail;
	double				 a, b, c;

	(void)state;
	/* user nice system idle iowait irq softirq steal guest guest_nice */
	assert_int_equal(metrics_parse_stat("cpu  10 20 30 400 50 6 7 8 9 1\n"
	    "cpu0 1 2 3 4\n", &t), 0);
	assert_int_equal(t.busy, 10 + 20 + 30 + 6 + 7 + 8);
	assert_int_equal(t.total, t.busy + 400 + 50);
	/* Kernels before 2.6 wrote four fields only. */
	assert_int_equal(metrics_parse_stat("cpu 1 2 3 4\n", &t), 0);
	assert_int_equal(t.busy, 6);
	assert_int_equal(t.total, 10);
	assert_int_equal(metrics_parse_stat("cpu 1 2 3\n", &t), -1);
	assert_int_equal(metrics_parse_stat("cpu0 1 2 3 4\n", &t), -1);
	assert_int_equal(metrics_parse_stat("", &t), -1);

	assert_int_equal(metrics_parse_meminfo("MemTotal:  2048 kB\n"
	    "MemFree:  10 kB\nMemAvailable:    1024 kB\n", &total, &avail), 0);
	assert_int_equal(total, 2048 * 1024);
	assert_int_equal(avail, 1024 * 1024);
	/* Before 3.14 there was no MemAvailable: no guess is made. */
	assert_int_equal(metrics_parse_meminfo("MemTotal: 2048 kB\n"
	    "MemFree: 10 kB\n", &total, &avail), -1);
	assert_int_equal(metrics_parse_meminfo("MemTotalX: 1 kB\n"
	    "MemAvailable: 1 kB\n", &total, &avail), -1);
	assert_int_equal(metrics_parse_meminfo("MemTotal: 1 kB\n"
	    "MemAvailable: 2 kB\n", &total, &avail), -1);

	assert_int_equal(metrics_parse_loadavg("0.52 1.50 2.00 1/234 5678\n",
	    &a, &b, &c), 0);
	assert_true(a == 0.52 && b == 1.5 && c == 2.0);
	assert_int_equal(metrics_parse_loadavg("0.52 x", &a, &b, &c), -1);
}

static void
test_fake_nvml(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;
	uint64_t		 used;

	(void)state;
	assert_non_null(mt = metrics_init("/tmp", NULL, FAKE_NVML_PATH));
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.ngpus, 2);
	assert_int_equal(m.gpus[0].index, 0);
	assert_string_equal(m.gpus[0].name, "Fake GPU 0");
	assert_string_equal(m.gpus[0].uuid, "GPU-fake-0000");
	assert_int_equal(m.gpus[0].memory_total, 16 * GIB);
	assert_int_equal(m.gpus[0].memory_used, 1 * GIB + MIB);
	assert_int_equal(m.gpus[1].index, 1);
	assert_string_equal(m.gpus[1].name, "Fake GPU 1");
	assert_int_equal(m.gpus[1].memory_total, 24 * GIB);
	/* Sampling does not call NVML; a refresh does. */
	used = m.gpus[1].memory_used;
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.gpus[1].memory_used, used);
	assert_int_equal(metrics_gpu_refresh(mt), 0);
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.gpus[1].memory_used, used + MIB);
	metrics_free(mt);
}

static void
test_no_nvml(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;

	(void)state;
	/* By its usual name: not installed here. */
	assert_non_null(mt = metrics_init("/tmp", NULL, NULL));
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.ngpus, 0);
	metrics_free(mt);
	assert_non_null(mt = metrics_init("/tmp", NULL,
	    "/nonexistent/libnvidia-ml.so.1"));
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.ngpus, 0);
	metrics_free(mt);
	/* A library without NVML's symbols is not NVML. */
	assert_non_null(mt = metrics_init("/tmp", NULL, "libm.so.6"));
	assert_int_equal(metrics_sample(mt, &m), 0);
	assert_int_equal(m.ngpus, 0);
	metrics_free(mt);
}

/* The parent's JSON, in a whole status, passes netd's decoder. */
static void
test_json_feeds_netd(void **state)
{
	struct metrics		*mt;
	struct host_metrics	 m;
	struct netd_status	 st;
	json_t			*root;
	char			*text;

	(void)state;
	assert_non_null(mt = metrics_init("/tmp", "/", FAKE_NVML_PATH));
	assert_int_equal(metrics_sample(mt, &m), 0);
	root = json_pack("{s:s, s:[], s:o, s:i, s:i, s:i, s:s, s:[], "
	    "s:{s:i, s:i, s:i, s:i, s:i}, s:I}", "node_id", "n1", "processes",
	    "metrics", metrics_json(&m), "tasks_running", 0,
	    "containers_running", 0, "containers_total", 0, "docker_version",
	    "", "containers",
	    "capacity", "max_containers", 1, "max_cpu_percent", 2,
	    "max_memory_percent", 3, "max_concurrent_builds", 4,
	    "max_concurrent_runs", 5, "updated_unix", (json_int_t)time(NULL));
	assert_non_null(root);
	assert_non_null(text = json_dumps(root, JSON_COMPACT));
	assert_true(strlen(text) < STATUS_JSON_MAX);
	assert_null(status_decode(text, strlen(text), &st));
	assert_int_equal(st.metrics.memory_total_bytes, m.memory_total);
	assert_int_equal(st.metrics.ngpus, 2);
	assert_string_equal(st.metrics.gpus[1].uuid, "GPU-fake-0001");
	assert_int_equal(st.metrics.ndisks, 2);
	assert_string_equal(st.metrics.kernel, m.kernel);
	free(text);
	json_decref(root);
	metrics_free(mt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_match_proc),
		cmocka_unit_test(test_docker_root_disk),
		cmocka_unit_test(test_cpu_percent),
		cmocka_unit_test(test_parsers),
		cmocka_unit_test(test_fake_nvml),
		cmocka_unit_test(test_no_nvml),
		cmocka_unit_test(test_json_feeds_netd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
