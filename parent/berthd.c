/*
 * berthd.c: the parent process and the entry point of every role.  As
 * the parent it reads the configuration, prepares the state directories
 * and the control socket, starts netd, builder and runner, then drops
 * every capability, confines itself (no exec from here on) and
 * supervises.  With -P ROLE it is one of the children instead.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "audit.h"
#include "berth.h"
#include "config.h"
#include "log.h"
#include "parent.h"
#include "policy.h"
#include "proto.h"

/* Grace the children get to exit once their channels are closed. */
#define SHUTDOWN_GRACE_MSEC	1500

struct sandbox_report	 parent_sandbox;
struct timespec		 parent_started;
struct audit_log	 parent_audit;
char			 parent_node_label[64];
char			 parent_policy_hash[POLICY_HASH_HEX + 1];

static struct event_base *parent_base;
static struct event	*shutdown_timer;
static struct berth_conf parent_conf;
static int		 shutting_down;
static int		 exit_status;
static int		 cmdline_verbose;

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr, "usage: berthd [-dnv] [-f file]\n");
	exit(2);
}

static void __attribute__((__noreturn__))
child_role_main(const char *name)
{
	enum berth_role	 role;

	if (role_from_name(name, &role) == -1 || role == ROLE_PARENT)
		fatalx("unknown role \"%s\"", name);
	switch (role) {
	case ROLE_NETD:
		netd_main();
	case ROLE_BUILDER:
		builder_main();
	case ROLE_RUNNER:
		runner_main();
	default:
		fatalx("unknown role \"%s\"", name);
	}
}

static const char *
environment_lookup(const char *name)
{
	return getenv(name);
}

/* Parse, apply the seed environment variables, check.  0 or -1. */
static int
parent_load_conf(const char *path, struct berth_conf *conf)
{
	conf_defaults(conf);
	if (strlcpy(conf->path, path, sizeof(conf->path)) >=
	    sizeof(conf->path)) {
		log_warnx("configuration path too long: %s", path);
		return -1;
	}
	if (conf_parse_file(path, conf) == -1 ||
	    conf_apply_env(conf, environment_lookup) == -1 ||
	    conf_check(conf) == -1)
		return -1;
	/* Refused here, not by a netd that dies at start. */
	if (proto_lookup(conf->protocol) == NULL) {
		log_warnx("%s: protocol %s is not supported by this berthd "
		    "yet", path, protocol_name(conf->protocol));
		return -1;
	}
	return 0;
}

static int
effective_verbosity(const struct berth_conf *conf)
{
	return cmdline_verbose > conf->log_verbose ? cmdline_verbose :
	    conf->log_verbose;
}

static void
make_private_dir(const char *path, uid_t owner, gid_t group, mode_t mode)
{
	struct stat	 sb;

	if (mkdir(path, mode) == -1 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &sb) == -1)
		fatal("stat %s", path);
	if (!S_ISDIR(sb.st_mode))
		fatalx("%s is not a directory", path);
	if (sb.st_uid != owner || sb.st_gid != group)
		if (chown(path, owner, group) == -1)
			fatal("chown %s", path);
	if ((sb.st_mode & 07777) != mode && chmod(path, mode) == -1)
		fatal("chmod %s", path);
}

static struct passwd *
lookup_user(const char *name)
{
	struct passwd	*pw;

	if ((pw = getpwnam(name)) == NULL)
		fatalx("user %s does not exist; create the berth users "
		    "with contrib/create-users.sh", name);
	return pw;
}

/* Everything that needs root is done here, before the children start. */
static gid_t
parent_prepare(const struct berth_conf *conf)
{
	struct passwd	*builder, *netd;
	struct group	*gr;
	enum berth_role	 role;

	for (role = ROLE_NETD; role < ROLE_MAX; role++)
		(void)lookup_user(conf->user[role]);
	builder = lookup_user(conf->user[ROLE_BUILDER]);
	make_private_dir(conf->state_dir, 0, 0, 0700);
	make_private_dir(conf->workspace_root, builder->pw_uid,
	    builder->pw_gid, 0700);
	/* berthctl users are members of netd's group (_berth). */
	netd = lookup_user(conf->user[ROLE_NETD]);
	if ((gr = getgrgid(netd->pw_gid)) == NULL)
		fatalx("group %u of %s does not exist",
		    (unsigned int)netd->pw_gid, conf->user[ROLE_NETD]);
	return gr->gr_gid;
}

int
parent_shutting_down(void)
{
	return shutting_down;
}

static void
shutdown_timeout(int fd, short event, void *arg)
{
	(void)fd;
	(void)event;
	(void)arg;
	/* Stragglers get SIGKILL from the kernel (PR_SET_PDEATHSIG). */
	log_warnx("children did not stop in time, exiting");
	event_base_loopbreak(parent_base);
}

/*
 * Begin an orderly stop: close the children's channels (they exit on EOF)
 * and wait for them to be reaped, at most SHUTDOWN_GRACE_MSEC.  Called
 * again with -1 once all are reaped, to leave the loop.
 */
void
parent_shutdown(int status)
{
	struct timeval	 grace = { SHUTDOWN_GRACE_MSEC / 1000,
	    (SHUTDOWN_GRACE_MSEC % 1000) * 1000 };

	if (status == -1) {
		event_base_loopbreak(parent_base);
		return;
	}
	if (shutting_down) {
		if (status > exit_status)
			exit_status = status;
		return;
	}
	shutting_down = 1;
	exit_status = status;
	control_cleanup();
	proc_close_channels();
	if (proc_all_reaped())
		event_base_loopbreak(parent_base);
	else
		(void)evtimer_add(shutdown_timer, &grace);
}

static void
parent_reload(void)
{
	struct berth_conf	 conf;

	if (parent_load_conf(parent_conf.path, &conf) == -1) {
		log_warnx("reload of %s failed, keeping the running "
		    "configuration", parent_conf.path);
		return;
	}
	/* Paths, users and the protocol are fixed until a restart. */
	parent_conf.log_verbose = conf.log_verbose;
	log_setverbose(effective_verbosity(&parent_conf));
	/* resolv.conf and hosts may have changed: netd gets them again. */
	netd_feed_ready();
	log_info("reloaded %s", parent_conf.path);
}

static void
parent_signal(int sig, short event, void *arg)
{
	(void)event;
	(void)arg;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("received signal %d, stopping", sig);
		parent_shutdown(0);
		break;
	case SIGHUP:
		parent_reload();
		break;
	case SIGCHLD:
		proc_reap();
		break;
	default:
		fatalx("unexpected signal %d", sig);
	}
}

static void
parent_watch_signals(struct event_base *base)
{
	static const int	 sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct event		*ev;
	size_t			 i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev = evsignal_new(base, sigs[i], parent_signal, NULL);
		if (ev == NULL || evsignal_add(ev, NULL) == -1)
			fatalx("cannot watch signal %d", sigs[i]);
	}
	(void)signal(SIGPIPE, SIG_IGN);
}

static void
resolve_self(char *self, size_t len)
{
	ssize_t	 n;

	if ((n = readlink("/proc/self/exe", self, len - 1)) == -1)
		fatal("readlink /proc/self/exe");
	if ((size_t)n >= len - 1)
		fatalx("path of berthd too long");
	self[n] = '\0';
}

static void
control_dir_of(const char *socket_path, char *dir, size_t len)
{
	char	*slash;

	(void)strlcpy(dir, socket_path, len);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
}

/* Agent start and stop are audit records too: gaps in the trail show. */
static void
audit_agent_event(const char *operation, const char *result)
{
	struct audit_record	 rec = {
		.task = "", .operation = operation,
		.object = "berthd " BERTH_VERSION, .policy_hash = "",
		.request_hash = "", .result = result,
	};

	if (audit_append(&parent_audit, &rec) == -1)
		fatalx("cannot write the audit log");
}

/* The berth.node label: the configured node name, else the host name. */
static void
set_node_label(const struct berth_conf *conf)
{
	char	 host[256];

	if (conf->node_name[0] != '\0') {
		if (strlcpy(parent_node_label, conf->node_name,
		    sizeof(parent_node_label)) >= sizeof(parent_node_label))
			fatalx("node-name too long for a label: %s",
			    conf->node_name);
		return;
	}
	if (gethostname(host, sizeof(host)) == -1)
		fatal("gethostname");
	host[sizeof(host) - 1] = '\0';
	(void)strlcpy(parent_node_label, host, sizeof(parent_node_label));
}

static void
open_audit_log(const struct berth_conf *conf)
{
	char	 path[BERTH_PATH_LEN + 16];

	(void)snprintf(path, sizeof(path), "%s/audit.log", conf->state_dir);
	if (audit_open(&parent_audit, path) == -1)
		fatalx("cannot open the audit log %s", path);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*conf_path = BERTH_CONF_FILE, *role = NULL;
	char		 self[PATH_MAX], control_dir[BERTH_PATH_LEN];
	int		 ch, foreground = 0, noaction = 0;
	gid_t		 control_group;

	while ((ch = getopt_long(argc, argv, "df:hnP:v", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'd':
			foreground = 1;
			break;
		case 'f':
			conf_path = optarg;
			break;
		case 'n':
			noaction = 1;
			break;
		case 'P':
			role = optarg;
			break;
		case 'v':
			cmdline_verbose++;
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	if (role != NULL)
		child_role_main(role);

	log_init(1, cmdline_verbose, LOG_DAEMON);
	if (parent_load_conf(conf_path, &parent_conf) == -1)
		exit(1);
	log_setverbose(effective_verbosity(&parent_conf));
	if (noaction) {
		conf_print(&parent_conf, stdout);
		fprintf(stderr, "configuration OK\n");
		exit(0);
	}
	if (geteuid() != 0)
		fatalx("need root privileges");

	resolve_self(self, sizeof(self));
	control_group = parent_prepare(&parent_conf);
	set_node_label(&parent_conf);
	policy_hash(&parent_conf.policy, parent_policy_hash);
	open_audit_log(&parent_conf);
	control_init(&parent_conf, control_group);
	if (!foreground && daemon(0, 0) == -1)
		fatal("daemon");
	log_init(foreground, effective_verbosity(&parent_conf), LOG_DAEMON);
	(void)clock_gettime(CLOCK_MONOTONIC, &parent_started);

	if ((parent_base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((shutdown_timer = evtimer_new(parent_base, shutdown_timeout,
	    NULL)) == NULL)
		fatalx("evtimer_new");
	parent_watch_signals(parent_base);
	netd_feed_init(parent_base, &parent_conf);
	/* The node key is made, and the binary hashed, while we may. */
	tasks_init(parent_base, &parent_conf, self);
	deploy_init(parent_base, &parent_conf);
	proc_start_all(parent_base, &parent_conf, self);
	/* jansson opens /dev/urandom on first use: do it before confinement. */
	json_object_seed(0);

	control_dir_of(parent_conf.control_socket, control_dir,
	    sizeof(control_dir));
	sandbox_confine_parent(parent_conf.state_dir, control_dir,
	    parent_conf.path, &parent_sandbox);
	control_listen(parent_base);
	audit_agent_event("agent.start", "ok");
	log_info("started (landlock abi %d, seccomp %s)",
	    parent_sandbox.landlock_abi, parent_sandbox.seccomp ? "on" : "off");

	if (event_base_dispatch(parent_base) == -1)
		fatalx("event_base_dispatch");
	control_cleanup();
	audit_agent_event("agent.stop", exit_status == 0 ? "ok" :
	    "error: a child died or misbehaved");
	audit_close(&parent_audit);
	log_info("exiting with status %d", exit_status);
	return exit_status;
}
