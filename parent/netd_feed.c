/*
 * netd_feed.c: what the parent tells netd about the node.  netd holds no
 * files and no /proc, so the parent sends it the resolver data it needs
 * for DNS (IMSG_NETD_RESOLVER) once it is ready, and a status snapshot
 * (IMSG_NETD_STATUS: processes, host metrics, capacity) every few
 * seconds for the local /health, /status and /metrics endpoints.
 */
#include <sys/types.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "parent.h"
#include "resolver.h"

#define NETD_FEED_INTERVAL_SEC	5
/* One imsg on netd's channel. */
#define STATUS_FEED_MAX		(BERTH_IMSG_MAX - IMSG_HDR_SIZE)

static struct metrics		*feed_metrics;
static struct event		*feed_timer;
static const struct berth_conf	*feed_conf;

static json_t *
feed_process(enum berth_role role, pid_t pid, const char *user,
    int landlock_abi)
{
	struct wire_ctl_proc	 row;

	memset(&row, 0, sizeof(row));
	proc_read_status(pid, &row);
	return json_pack("{s:s, s:I, s:s, s:I, s:I, s:i, s:I}",
	    "name", role_name(role), "pid", (json_int_t)pid, "user", user,
	    "seccomp", (json_int_t)row.seccomp_mode, "no_new_privs",
	    (json_int_t)row.no_new_privs, "landlock_abi", landlock_abi,
	    "cap_eff", (json_int_t)(row.cap_eff & INT64_MAX));
}

static json_t *
feed_processes(void)
{
	json_t		*list = json_array();
	enum berth_role	 role;

	json_array_append_new(list, feed_process(ROLE_PARENT, getpid(),
	    "root", parent_sandbox.landlock_abi));
	for (role = ROLE_NETD; role < ROLE_MAX; role++)
		if (children[role].pid != 0)
			json_array_append_new(list, feed_process(role,
			    children[role].pid, children[role].user,
			    children[role].report.landlock_abi));
	return list;
}

static json_t *
feed_capacity(void)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}",
	    "max_containers", (json_int_t)feed_conf->max_containers,
	    "max_cpu_percent", (json_int_t)feed_conf->max_cpu_percent,
	    "max_memory_percent", (json_int_t)feed_conf->max_memory_percent,
	    "max_concurrent_builds",
	    (json_int_t)feed_conf->max_concurrent_builds,
	    "max_concurrent_runs", (json_int_t)feed_conf->max_concurrent_runs);
}

static void
feed_status(void)
{
	struct host_metrics	 host;
	json_t			*status, *metrics;
	char			*json;

	if (metrics_sample(feed_metrics, &host) == -1 ||
	    (metrics = metrics_json(&host)) == NULL) {
		log_warnx("%s: cannot sample host metrics", __func__);
		return;
	}
	status = json_pack("{s:s, s:o, s:o, s:i, s:i, s:o, s:I}",
	    "node_id", feed_conf->node_id, "processes", feed_processes(),
	    "metrics", metrics, "tasks_running", 0, "containers_running", 0,
	    "capacity", feed_capacity(), "updated_unix",
	    (json_int_t)time(NULL));
	if (status == NULL ||
	    (json = json_dumps(status, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode the status", __func__);
	json_decref(status);
	if (strlen(json) > STATUS_FEED_MAX)
		log_warnx("%s: status of %zu bytes is too large", __func__,
		    strlen(json));
	else if (proc_compose(ROLE_NETD, IMSG_NETD_STATUS, -1, json,
	    strlen(json)) == -1)
		log_debug("%s: netd cannot take a status now", __func__);
	free(json);
}

static void
feed_tick(int fd, short event, void *arg)
{
	struct timeval	 interval = { NETD_FEED_INTERVAL_SEC, 0 };

	(void)fd;
	(void)event;
	(void)arg;
	feed_status();
	(void)evtimer_add(feed_timer, &interval);
}

/* Before confinement: NVML, if present, can only be loaded now. */
void
netd_feed_init(struct event_base *base, const struct berth_conf *conf)
{
	feed_conf = conf;
	if ((feed_metrics = metrics_init(conf->state_dir, NULL, NULL)) == NULL)
		fatalx("cannot set up host metrics");
	if ((feed_timer = evtimer_new(base, feed_tick, NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
}

/* netd is confined and listening: give it DNS data and a first status. */
void
netd_feed_ready(void)
{
	struct wire_resolver	 resolver;

	if (resolver_read("/etc/resolv.conf", "/etc/hosts", &resolver) == -1)
		log_warnx("cannot read the resolver configuration; netd "
		    "will resolve only addresses and localhost");
	else if (proc_compose(ROLE_NETD, IMSG_NETD_RESOLVER, -1, &resolver,
	    sizeof(resolver)) == -1)
		log_warn("%s: compose resolver", __func__);
	feed_tick(-1, 0, NULL);
}
