/*
 * netd_feed.c: what the parent tells netd about the node.  netd holds no
 * files and no /proc, so the parent sends it the resolver data it needs
 * for DNS (IMSG_NETD_RESOLVER) once it is ready, and a status snapshot
 * (IMSG_NETD_STATUS: processes, host metrics, capacity) every few
 * seconds for the local /health, /status and /metrics endpoints and the
 * heartbeats of every dialect.  The containers in it come from the
 * runner: each tick asks it to list this node's containers (one request
 * outstanding at most), and the status carries the latest answer.
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
#include "runop.h"
#include "status.h"

#define NETD_FEED_INTERVAL_SEC	5
/* One imsg on netd's channel. */
#define STATUS_FEED_MAX		(BERTH_IMSG_MAX - IMSG_HDR_SIZE)

/* What a status may spend on the container list (STATUS_FEED_MAX). */
#define FEED_CONTAINERS_BUDGET	8192
#define FEED_FITS(s, m)		\
	(strlen(s) < sizeof(((struct status_container *)0)->m))

static struct metrics		*feed_metrics;
static struct event		*feed_timer;
static const struct berth_conf	*feed_conf;

/* The runner's latest list; containers is NULL until one came. */
static struct {
	json_t		*containers;	/* [{name, app, id, image, state}] */
	uint32_t	 running;
	uint32_t	 total;
	char		 engine_version[32];
	uint32_t	 asked;		/* peerid outstanding, 0: none */
	uint32_t	 next;
} inventory;

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

static void	 feed_status(void);

/*
 * Ask the runner for this node's containers; the status goes out with
 * its answer, so that it is never older than one list.  -1 when no
 * answer is coming (the runner is not there, or has not answered the
 * last one): the caller sends the status at once.
 */
static int
feed_inventory_ask(void)
{
	static const char	 list[] = "{\"op\":\"list\"}";

	if (inventory.asked != 0)
		return -1;
	inventory.next = (inventory.next + 1) & (FEED_REQUEST_BIT - 1);
	inventory.asked = FEED_REQUEST_BIT | inventory.next;
	if (proc_send_run_request(inventory.asked, list,
	    sizeof(list) - 1) == -1) {
		log_debug("%s: the runner cannot take a list now", __func__);
		inventory.asked = 0;
		return -1;
	}
	return 0;
}

static json_t *
feed_inventory_entry(const json_t *app)
{
	const char	*name = "", *appname = "", *id = "", *image = "",
			*state = "";

	if (json_unpack((json_t *)(uintptr_t)app, "{s?s, s?s, s?s, s?s, s?s}",
	    "name", &name, "app", &appname, "id", &id, "image", &image,
	    "state", &state) == -1)
		return NULL;
	/* Each string within its status.h field, or the entry is left out. */
	if (!FEED_FITS(name, name) || !FEED_FITS(appname, app) ||
	    !FEED_FITS(id, id) || !FEED_FITS(image, image) ||
	    !FEED_FITS(state, state))
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "app",
	    appname, "id", id, "image", image, "state", state);
}

/* Keep what a list result says; the runner checked it, runresult again. */
static void
feed_inventory_keep(json_t *apps, const char *version)
{
	json_t		*app, *entry;
	const char	*state;
	size_t		 i, spent = 0;
	char		*text;

	json_decref(inventory.containers);
	inventory.containers = json_array();
	inventory.running = inventory.total = 0;
	(void)strlcpy(inventory.engine_version, version,
	    sizeof(inventory.engine_version));
	json_array_foreach(apps, i, app) {
		inventory.total++;
		state = json_string_value(json_object_get(app, "state"));
		if (state != NULL && strcmp(state, "running") == 0)
			inventory.running++;
		if (json_array_size(inventory.containers) ==
		    STATUS_CONTAINERS_MAX ||
		    (entry = feed_inventory_entry(app)) == NULL)
			continue;
		if ((text = json_dumps(entry, JSON_COMPACT)) == NULL ||
		    (spent += strlen(text) + 1) > FEED_CONTAINERS_BUDGET) {
			free(text);
			json_decref(entry);
			continue;
		}
		free(text);
		json_array_append_new(inventory.containers, entry);
	}
}

void
netd_feed_run_result(struct imsg *imsg)
{
	json_t		*root, *apps;
	const char	*version = "";
	char		 err[256];
	int		 ok = 0;

	if (imsg->hdr.peerid != inventory.asked) {
		log_warnx("runner answered unknown list request %#x",
		    imsg->hdr.peerid);
		return;
	}
	inventory.asked = 0;
	if (runresult_check(imsg->data, imsg->hdr.len, err,
	    sizeof(err)) == -1 || (root = json_loadb(imsg->data,
	    imsg->hdr.len, 0, NULL)) == NULL) {
		log_warnx("runner sent a bad list result: %s", err);
		feed_status();
		return;
	}
	(void)json_unpack(root, "{s:b, s?s}", "ok", &ok, "engine_version",
	    &version);
	if (ok && (apps = json_object_get(root, "apps")) != NULL)
		feed_inventory_keep(apps, version);
	else
		log_debug("%s: the runner could not list", __func__);
	json_decref(root);
	feed_status();
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
	status = json_pack("{s:s, s:o, s:o, s:I, s:I, s:I, s:s, s:O, s:o, "
	    "s:I}", "node_id", feed_conf->node_id, "processes",
	    feed_processes(), "metrics", metrics, "tasks_running",
	    (json_int_t)tasks_running_count(), "containers_running",
	    (json_int_t)inventory.running, "containers_total",
	    (json_int_t)inventory.total, "docker_version",
	    inventory.engine_version, "containers", inventory.containers,
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
	if (feed_inventory_ask() == -1)
		feed_status();
	(void)evtimer_add(feed_timer, &interval);
}

/* Before confinement: NVML, if present, can only be loaded now. */
void
netd_feed_init(struct event_base *base, const struct berth_conf *conf)
{
	feed_conf = conf;
	inventory.containers = json_array();
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
