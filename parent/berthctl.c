/*
 * berthctl.c: the operator's client for berthd's control socket.  It
 * speaks the same imsg framing as the processes and trusts nothing it
 * reads: every reply goes through its decoder.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "berth.h"
#include "config.h"
#include "imsg.h"
#include "log.h"
#include "policy.h"
#include "runop.h"
#include "wire.h"

#define EXIT_FAILURE_RUN	1
#define EXIT_USAGE		2

static int	 json_output;

static json_t	*request_new(const char *, const char *);
static int	 run_simple(json_t *, int);

#define PRINT_ID	0	/* a mutation: print the container id */
#define PRINT_FIELDS	1	/* a query: print every field */
static const char *socket_path = BERTH_CONTROL_SOCKET;
static const char *audit_path = BERTH_STATE_DIR "/audit.log";

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr,
	    "usage: berthctl [--json] [-a auditlog] [-s socket] command\n"
	    "commands:\n"
	    "  status              each berthd process and its confinement\n"
	    "  deploy --image IMAGE --name APP [options] [-- command ...]\n"
	    "                      create and start APP under the policy\n"
	    "  deploy --repo URL [--commit SHA | --ref REF]\n"
	    "         [--dockerfile PATH] --name APP [options]\n"
	    "                      build APP from git, then deploy it\n"
	    "  apps                the apps this node runs\n"
	    "  start|stop|restart|remove|inspect|wait|stats APP\n"
	    "  rename APP NEWAPP\n"
	    "  logs [-f] [--tail N] [--since UNIXTIME] APP\n"
	    "  events [-f] [--since UNIXTIME]\n"
	    "                      engine events of the containers this node owns\n"
	    "  image remove REF | image prune\n"
	    "  audit verify        check the whole audit chain\n"
	    "  audit tail [-n N]   print the last N audit records (10)\n"
	    "  tasks [--all]       the tasks in the journal: unfinished and\n"
	    "                      the last few finished, or every one\n"
	    "  task ID             one task: journal entry, spooled events\n"
	    "  policy              the runner's policy and its hash\n"
	    "  config check [-f FILE]\n"
	    "                      check berth.conf without berthd\n");
	exit(EXIT_USAGE);
}

static int
control_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		fatalx("socket path too long: %s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		fatal("socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		fatal("connect %s (is berthd running?)", path);
	return fd;
}

static void
send_request(struct imsgbuf *ibuf, uint32_t type, const void *data,
    size_t len)
{
	if (imsg_compose(ibuf, type, 0, getpid(), -1, data, len) == -1)
		fatal("compose");
	while (imsgbuf_queued(ibuf) > 0)
		if (imsgbuf_write(ibuf) == -1)
			fatal("write to berthd");
}

/* Block until one message is complete. */
static void
read_reply(struct imsgbuf *ibuf, struct imsg *imsg)
{
	ssize_t	 n;
	int	 got;

	for (;;) {
		if ((got = imsg_get(ibuf, imsg)) == -1)
			fatal("malformed reply from berthd");
		if (got == 1)
			return;
		if ((n = imsgbuf_read(ibuf)) == 0)
			fatalx("berthd closed the connection");
		if (n == -1 && errno != EINTR && errno != EAGAIN)
			fatal("read from berthd");
	}
}

static const char *
seccomp_mode_name(uint32_t mode)
{
	switch (mode) {
	case 0:
		return "off";
	case 1:
		return "strict";
	default:
		return "filter";
	}
}

/* "abi6", "abi6-partial" (some access bits unavailable) or "none". */
static const char *
landlock_label(const struct wire_ctl_proc *proc, char *buf, size_t len)
{
	if (proc->landlock_abi == 0)
		return "none";
	(void)snprintf(buf, len, "abi%d%s", proc->landlock_abi,
	    proc->landlock_full ? "" : "-partial");
	return buf;
}

static void
print_proc(const struct wire_ctl_proc *proc)
{
	char	 landlock[24];

	if (json_output) {
		printf("%s{\"process\":\"%s\",\"pid\":%u,\"user\":\"%s\","
		    "\"uid\":%u,\"gid\":%u,\"seccomp\":\"%s\","
		    "\"no_new_privs\":%s,\"landlock_abi\":%d,"
		    "\"landlock_full\":%s,\"cap_eff\":\"%016" PRIx64 "\","
		    "\"uptime_sec\":%" PRIu64 "}",
		    proc->role == ROLE_PARENT ? "" : ",",
		    role_name(proc->role), proc->pid, proc->user, proc->uid,
		    proc->gid, seccomp_mode_name(proc->seccomp_mode),
		    proc->no_new_privs ? "true" : "false",
		    proc->landlock_abi, proc->landlock_full ? "true" : "false",
		    proc->cap_eff, proc->uptime_sec);
		return;
	}
	printf("%-8s %7u %-12s %6u %-7s %-3s %-12s %016" PRIx64 " %8" PRIu64
	    "\n", role_name(proc->role), proc->pid, proc->user, proc->uid,
	    seccomp_mode_name(proc->seccomp_mode),
	    proc->no_new_privs ? "yes" : "no",
	    landlock_label(proc, landlock, sizeof(landlock)), proc->cap_eff,
	    proc->uptime_sec);
}

static void
control_open(struct imsgbuf *ibuf)
{
	int	 fd;

	fd = control_connect(socket_path);
	/* Results are up to RUNRESULT_JSON_MAX and logs come as a descriptor. */
	if (imsgbuf_init(ibuf, fd, BERTH_IMSG_RUN_MAX, BERTH_IMSG_QUEUE_MAX,
	    1) == -1)
		fatal("imsgbuf_init");
}

static int
cmd_status(int argc, char *argv[])
{
	struct imsgbuf		 control;
	struct imsgbuf		*ibuf = &control;
	struct wire_ctl_proc	 procs[ROLE_MAX];
	int			 have[ROLE_MAX] = { 0 };
	struct imsg		 imsg;
	struct wire_ctl_proc	 proc;
	const char		*why;
	int			 done = 0, i;

	(void)argv;
	if (argc != 1)
		usage();
	control_open(ibuf);
	send_request(ibuf, IMSG_CTL_STATUS, NULL, 0);
	while (!done) {
		read_reply(ibuf, &imsg);
		switch (imsg.hdr.type) {
		case IMSG_CTL_PROC:
			if ((why = wire_decode_ctl_proc(&imsg, &proc)) != NULL)
				fatalx("berthd sent bad %s", why);
			procs[proc.role] = proc;
			have[proc.role] = 1;
			break;
		case IMSG_CTL_END:
			if ((why = wire_decode_empty(&imsg)) != NULL)
				fatalx("berthd sent bad %s", why);
			done = 1;
			break;
		default:
			fatalx("berthd sent unexpected message type %u",
			    imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	if (json_output)
		printf("[");
	else
		printf("%-8s %7s %-12s %6s %-7s %-3s %-12s %-16s %8s\n",
		    "PROCESS", "PID", "USER", "UID", "SECCOMP", "NNP",
		    "LANDLOCK", "CAPEFF", "UPTIME");
	for (i = 0; i < ROLE_MAX; i++)
		if (have[i])
			print_proc(&procs[i]);
	if (json_output)
		printf("]\n");
	close(ibuf->fd);
	imsgbuf_clear(ibuf);
	for (i = 0; i < ROLE_MAX; i++)
		if (!have[i]) {
			fprintf(stderr, "berthctl: %s did not answer\n",
			    role_name(i));
			return EXIT_FAILURE_RUN;
		}
	return 0;
}

static int
open_audit_log(void)
{
	int	 fd;

	if ((fd = open(audit_path, O_RDONLY | O_CLOEXEC)) == -1)
		fatal("open %s", audit_path);
	return fd;
}

static int
audit_verify(void)
{
	struct audit_verify	 result;
	int			 fd = open_audit_log(), rc;

	if ((rc = audit_verify_fd(fd, &result)) == -1)
		fatal("read %s", audit_path);
	close(fd);
	if (json_output) {
		printf("{\"file\":\"%s\",\"records\":%llu,\"intact\":%s,"
		    "\"broken_record\":%llu,\"head\":\"%s\"}\n", audit_path,
		    (unsigned long long)result.records, rc == 0 ? "true" :
		    "false", (unsigned long long)result.broken_record,
		    result.head);
	} else if (rc == 0)
		printf("%s: %llu records, chain intact, head %s\n", audit_path,
		    (unsigned long long)result.records, result.head);
	else
		printf("%s: chain broken at record %llu (line %llu): %s; "
		    "%llu records before it verify\n", audit_path,
		    (unsigned long long)result.broken_record,
		    (unsigned long long)result.broken_record, result.reason,
		    (unsigned long long)result.records);
	return rc == 0 ? 0 : EXIT_FAILURE_RUN;
}

/* Print the last count lines, read backwards from the end of the file. */
static int
audit_tail(long count)
{
	FILE	*fp;
	char	*line = NULL, **ring;
	size_t	 cap = 0;
	ssize_t	 len;
	long	 seen = 0, i;

	if ((fp = fdopen(open_audit_log(), "r")) == NULL)
		fatal("fdopen");
	if ((ring = calloc(count, sizeof(*ring))) == NULL)
		fatal("calloc");
	while ((len = getline(&line, &cap, fp)) != -1) {
		free(ring[seen % count]);
		if ((ring[seen % count] = strdup(line)) == NULL)
			fatal("strdup");
		seen++;
	}
	for (i = seen > count ? seen - count : 0; i < seen; i++) {
		/* Human output drops the hash; --json keeps the record only. */
		const char *rec = ring[i % count];

		fputs(strlen(rec) > AUDIT_HASH_HEX + 1 ?
		    rec + AUDIT_HASH_HEX + 1 : rec, stdout);
		free(ring[i % count]);
	}
	free(ring);
	free(line);
	fclose(fp);
	return 0;
}

static int
cmd_audit(int argc, char *argv[])
{
	const char	*errstr;
	long		 count = 10;

	if (argc == 2 && strcmp(argv[1], "verify") == 0)
		return audit_verify();
	if (argc >= 2 && strcmp(argv[1], "tail") == 0) {
		if (argc == 4 && strcmp(argv[2], "-n") == 0) {
			count = strtonum(argv[3], 1, 100000, &errstr);
			if (errstr != NULL)
				fatalx("audit tail -n %s: %s", argv[3], errstr);
		} else if (argc != 2)
			usage();
		return audit_tail(count);
	}
	usage();
}

/* inspect, stats, wait, image: "key value" lines. */
static void
print_result_fields(json_t *result)
{
	const char	*key;
	json_t		*value;
	char		*text;

	json_object_foreach(result, key, value) {
		if (strcmp(key, "ok") == 0)
			continue;
		if (json_is_string(value))
			printf("%-12s %s\n", key, json_string_value(value));
		else if ((text = json_dumps(value, JSON_COMPACT |
		    JSON_ENCODE_ANY)) != NULL) {
			printf("%-12s %s\n", key, text);
			free(text);
		}
	}
}

static void
print_app_row(json_t *app)
{
	json_t		*ports = json_object_get(app, "ports"), *port;
	const char	*id = json_string_value(json_object_get(app, "id"));
	size_t		 i;

	printf("%-20s %-12.12s %-28s %-10s",
	    json_string_value(json_object_get(app, "app")),
	    id != NULL ? id : "",
	    json_string_value(json_object_get(app, "image")),
	    json_string_value(json_object_get(app, "state")));
	json_array_foreach(ports, i, port)
		printf("%s%s:%lld->%lld/%s", i ? "," : " ",
		    json_string_value(json_object_get(port, "host_ip")),
		    json_integer_value(json_object_get(port, "host")),
		    json_integer_value(json_object_get(port, "container")),
		    json_string_value(json_object_get(port, "proto")));
	putchar('\n');
}

/* "512M", "2G", "1048576": bytes, or fatal naming the option. */
static long long
parse_size(const char *option, const char *text)
{
	const char	*errstr;
	char		 digits[32];
	size_t		 len = strlen(text);
	long long	 unit = 1, value;

	if (len == 0 || len >= sizeof(digits))
		fatalx("%s %s: not a size", option, text);
	memcpy(digits, text, len + 1);
	switch (digits[len - 1]) {
	case 'k': case 'K':
		unit = 1024LL;
		break;
	case 'm': case 'M':
		unit = 1024LL * 1024;
		break;
	case 'g': case 'G':
		unit = 1024LL * 1024 * 1024;
		break;
	default:
		break;
	}
	if (unit != 1)
		digits[len - 1] = '\0';
	value = strtonum(digits, 1, LLONG_MAX / unit, &errstr);
	if (errstr != NULL)
		fatalx("%s %s: %s", option, text, errstr);
	return value * unit;
}

/* "0.5" CPUs as nano-CPUs, exactly, without floating point. */
static long long
parse_cpus(const char *text)
{
	const char	*errstr, *dot = strchr(text, '.');
	char		 whole[16] = "0", frac[10] = "000000000";
	size_t		 n;
	long long	 value;

	n = dot ? (size_t)(dot - text) : strlen(text);
	if (n >= sizeof(whole) || (dot && strlen(dot + 1) > 9))
		fatalx("--cpus %s: not a number of CPUs", text);
	if (n > 0) {
		memcpy(whole, text, n);
		whole[n] = '\0';
	}
	if (dot)
		memcpy(frac, dot + 1, strlen(dot + 1));
	value = strtonum(whole, 0, 1024, &errstr) * 1000000000LL;
	if (errstr == NULL)
		value += strtonum(frac, 0, 999999999, &errstr);
	if (errstr != NULL || value == 0)
		fatalx("--cpus %s: not a number of CPUs", text);
	return value;
}

/* --port [[IP:]HOST:]CONTAINER[/udp]; a bare port publishes on itself. */
static json_t *
parse_port(const char *text)
{
	char		 copy[96], *proto, *fields[3];
	const char	*errstr;
	int		 nfields = 0;
	long long	 container, host;
	json_t		*port;

	if (strlcpy(copy, text, sizeof(copy)) >= sizeof(copy))
		fatalx("--port %s: too long", text);
	if ((proto = strchr(copy, '/')) != NULL)
		*proto++ = '\0';
	for (char *p = copy, *field; (field = strsep(&p, ":")) != NULL;) {
		if (nfields == 3)
			fatalx("--port %s: expected [[IP:]HOST:]CONTAINER", text);
		fields[nfields++] = field;
	}
	container = strtonum(fields[nfields - 1], 1, 65535, &errstr);
	if (errstr != NULL)
		fatalx("--port %s: container port %s", text, errstr);
	host = nfields == 1 ? container :
	    strtonum(fields[nfields - 2], 0, 65535, &errstr);
	if (errstr != NULL)
		fatalx("--port %s: host port %s", text, errstr);
	port = json_pack("{s:I, s:I, s:s}", "container", container, "host",
	    host, "proto", proto != NULL ? proto : "tcp");
	if (nfields == 3)
		json_object_set_new(port, "host_ip", json_string(fields[0]));
	return port;
}

/* --volume SOURCE:TARGET[:ro]; an absolute SOURCE is a host bind. */
static json_t *
parse_volume(const char *text)
{
	char	 copy[2 * RUNOP_PATH_LEN], *target, *mode;

	if (strlcpy(copy, text, sizeof(copy)) >= sizeof(copy))
		fatalx("--volume %s: too long", text);
	if ((target = strchr(copy, ':')) == NULL)
		fatalx("--volume %s: expected SOURCE:TARGET[:ro]", text);
	*target++ = '\0';
	if ((mode = strchr(target, ':')) != NULL) {
		*mode++ = '\0';
		if (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
			fatalx("--volume %s: mode must be ro or rw", text);
	}
	return json_pack("{s:s, s:s, s:b, s:b}", "source", copy, "target",
	    target, "bind", copy[0] == '/', "read_only",
	    mode != NULL && strcmp(mode, "ro") == 0);
}

static void
spec_append(json_t *spec, const char *key, json_t *value)
{
	json_t	*array = json_object_get(spec, key);

	if (array == NULL) {
		array = json_array();
		json_object_set_new(spec, key, array);
	}
	json_array_append_new(array, value);
}

static void
spec_set_label(json_t *spec, const char *text)
{
	json_t	*labels = json_object_get(spec, "labels");
	char	 key[RUNOP_LABEL_LEN];
	char	*eq;

	if (strlcpy(key, text, sizeof(key)) >= sizeof(key) ||
	    (eq = strchr(key, '=')) == NULL)
		fatalx("--label %s: expected KEY=VALUE", text);
	*eq = '\0';
	if (labels == NULL) {
		labels = json_object();
		json_object_set_new(spec, "labels", labels);
	}
	json_object_set_new(labels, key, json_string(eq + 1));
}

/* --repo and friends go into the request's "repo" object. */
static void
repo_set(json_t *req, const char *key, const char *value)
{
	json_t	*repo = json_object_get(req, "repo");

	if (repo == NULL) {
		repo = json_object();
		json_object_set_new(req, "repo", repo);
	}
	json_object_set_new(repo, key, json_string(value));
}

static int
cmd_deploy(int argc, char *argv[])
{
	enum { O_ENV = 256, O_PORT, O_MEMORY, O_CPUS, O_PIDS, O_RESTART,
	    O_VOLUME, O_CAP_ADD, O_PRIVILEGED, O_NETWORK, O_PID, O_IPC,
	    O_DEVICE, O_USER, O_WORKDIR, O_READ_ONLY, O_LABEL, O_TASK,
	    O_STOP_TIMEOUT, O_IMAGE, O_NAME, O_REPO, O_COMMIT, O_REF,
	    O_DOCKERFILE };
	static const struct option opts[] = {
		{ "image", required_argument, NULL, O_IMAGE },
		{ "name", required_argument, NULL, O_NAME },
		{ "env", required_argument, NULL, O_ENV },
		{ "port", required_argument, NULL, O_PORT },
		{ "memory", required_argument, NULL, O_MEMORY },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "pids", required_argument, NULL, O_PIDS },
		{ "restart", required_argument, NULL, O_RESTART },
		{ "volume", required_argument, NULL, O_VOLUME },
		{ "cap-add", required_argument, NULL, O_CAP_ADD },
		{ "privileged", no_argument, NULL, O_PRIVILEGED },
		{ "network", required_argument, NULL, O_NETWORK },
		{ "pid", required_argument, NULL, O_PID },
		{ "ipc", required_argument, NULL, O_IPC },
		{ "device", required_argument, NULL, O_DEVICE },
		{ "user", required_argument, NULL, O_USER },
		{ "workdir", required_argument, NULL, O_WORKDIR },
		{ "read-only", no_argument, NULL, O_READ_ONLY },
		{ "label", required_argument, NULL, O_LABEL },
		{ "task", required_argument, NULL, O_TASK },
		{ "stop-timeout", required_argument, NULL, O_STOP_TIMEOUT },
		{ "repo", required_argument, NULL, O_REPO },
		{ "commit", required_argument, NULL, O_COMMIT },
		{ "ref", required_argument, NULL, O_REF },
		{ "dockerfile", required_argument, NULL, O_DOCKERFILE },
		{ NULL, 0, NULL, 0 }
	};
	json_t		*req = request_new("deploy", NULL), *spec = json_object();
	json_t		*repo;
	const char	*errstr;
	int		 ch, i;

	json_object_set_new(req, "spec", spec);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case O_IMAGE:
			json_object_set_new(spec, "image", json_string(optarg));
			break;
		case O_NAME:
			json_object_set_new(req, "app", json_string(optarg));
			break;
		case O_ENV:
			spec_append(spec, "env", json_string(optarg));
			break;
		case O_PORT:
			spec_append(spec, "ports", parse_port(optarg));
			break;
		case O_MEMORY:
			json_object_set_new(spec, "memory", json_integer(
			    parse_size("--memory", optarg)));
			break;
		case O_CPUS:
			json_object_set_new(spec, "nano_cpus",
			    json_integer(parse_cpus(optarg)));
			break;
		case O_PIDS:
			json_object_set_new(spec, "pids_limit", json_integer(
			    strtonum(optarg, 1, INT32_MAX, &errstr)));
			if (errstr != NULL)
				fatalx("--pids %s: %s", optarg, errstr);
			break;
		case O_RESTART:
			json_object_set_new(spec, "restart",
			    json_string(optarg));
			break;
		case O_VOLUME:
			spec_append(spec, "volumes", parse_volume(optarg));
			break;
		case O_CAP_ADD:
			spec_append(spec, "cap_add", json_string(optarg));
			break;
		case O_PRIVILEGED:
			json_object_set_new(spec, "privileged", json_true());
			break;
		case O_NETWORK:
			json_object_set_new(spec, "network_mode",
			    json_string(optarg));
			break;
		case O_PID:
			json_object_set_new(spec, "pid_mode",
			    json_string(optarg));
			break;
		case O_IPC:
			json_object_set_new(spec, "ipc_mode",
			    json_string(optarg));
			break;
		case O_DEVICE:
			spec_append(spec, "devices", json_string(optarg));
			break;
		case O_USER:
			json_object_set_new(spec, "user", json_string(optarg));
			break;
		case O_WORKDIR:
			json_object_set_new(spec, "workdir",
			    json_string(optarg));
			break;
		case O_READ_ONLY:
			json_object_set_new(spec, "read_only_root",
			    json_true());
			break;
		case O_LABEL:
			spec_set_label(spec, optarg);
			break;
		case O_TASK:
			json_object_set_new(req, "task", json_string(optarg));
			break;
		case O_REPO:
		case O_COMMIT:
		case O_REF:
		case O_DOCKERFILE:
			repo_set(req, ch == O_REPO ? "url" : ch == O_COMMIT ?
			    "commit" : ch == O_REF ? "ref" : "dockerfile",
			    optarg);
			break;
		case O_STOP_TIMEOUT:
			json_object_set_new(req, "stop_timeout", json_integer(
			    strtonum(optarg, 0, 3600, &errstr)));
			if (errstr != NULL)
				fatalx("--stop-timeout %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if ((json_object_get(spec, "image") == NULL) ==
	    (json_object_get(req, "repo") == NULL) ||
	    json_object_get(req, "app") == NULL) {
		fprintf(stderr, "berthctl: deploy needs --name and one of "
		    "--image and --repo\n");
		usage();
	}
	/* A ref alone is resolved once by the builder: HEAD by default. */
	repo = json_object_get(req, "repo");
	if (repo != NULL && json_object_get(repo, "commit") == NULL &&
	    json_object_get(repo, "ref") == NULL)
		json_object_set_new(repo, "ref", json_string("HEAD"));
	for (i = optind; i < argc; i++)
		spec_append(spec, "cmd", json_string(argv[i]));
	return run_simple(req, PRINT_ID);
}

/* One stage line; on stderr with --json, which keeps stdout for JSON. */
static void
print_progress(const struct imsg *imsg)
{
	struct wire_ctl_progress	 p;
	const char			*why;

	if ((why = wire_decode_ctl_progress(imsg, &p)) != NULL)
		fatalx("berthd sent bad %s", why);
	fprintf(json_output ? stderr : stdout, "%s %s\n", p.stage, p.text);
	fflush(json_output ? stderr : stdout);
}

/* Send one operation and wait for its result; *fd gets a log stream. */
static json_t *
run_call(json_t *request, int *fd)
{
	struct imsgbuf	 control;
	struct imsg	 imsg;
	json_t		*result;
	json_error_t	 error;
	char		*json, err[256];
	const char	*why;

	if ((json = json_dumps(request, JSON_COMPACT)) == NULL)
		fatalx("cannot encode the request");
	control_open(&control);
	if (imsg_compose(&control, IMSG_CTL_RUN, 0, getpid(), -1, json,
	    strlen(json)) == -1)
		fatal("compose");
	free(json);
	while (imsgbuf_queued(&control) > 0)
		if (imsgbuf_write(&control) == -1)
			fatal("write to berthd");
	/* A deploy from git says how it goes, stage by stage. */
	for (read_reply(&control, &imsg); imsg.hdr.type == IMSG_CTL_PROGRESS;
	    read_reply(&control, &imsg)) {
		print_progress(&imsg);
		imsg_free(&imsg);
	}
	if (imsg.hdr.type != IMSG_CTL_RUN_RESULT)
		fatalx("berthd sent unexpected message type %u",
		    imsg.hdr.type);
	if ((why = wire_decode_json(&imsg, RUNRESULT_JSON_MAX, 1)) != NULL)
		fatalx("berthd sent bad %s", why);
	if (runresult_check(imsg.data, imsg.hdr.len, err, sizeof(err)) == -1)
		fatalx("berthd sent a bad result: %s", err);
	if ((result = json_loadb(imsg.data, imsg.hdr.len, 0, &error)) == NULL)
		fatalx("berthd sent bad JSON: %s", error.text);
	if (fd != NULL) {
		*fd = imsg.fd;
		imsg.fd = -1;
	}
	imsg_free(&imsg);
	close(control.fd);
	imsgbuf_clear(&control);
	return result;
}

/* Print an error result and say so; 0 when the result is ok. */
static int
result_failed(json_t *result)
{
	if (json_is_true(json_object_get(result, "ok")))
		return 0;
	if (json_output) {
		json_dumpf(result, stdout, JSON_COMPACT);
		putchar('\n');
	} else
		fprintf(stderr, "berthctl: %s\n",
		    json_string_value(json_object_get(result, "error")));
	return 1;
}

static json_t *
request_new(const char *op, const char *app)
{
	json_t	*req = json_pack("{s:s}", "op", op);

	if (req == NULL)
		fatalx("json_pack");
	if (app != NULL)
		json_object_set_new(req, "app", json_string(app));
	return req;
}

static int
run_simple(json_t *req, int print)
{
	json_t	*result = run_call(req, NULL);
	int	 rc = EXIT_FAILURE_RUN;

	json_decref(req);
	if (!result_failed(result)) {
		rc = 0;
		if (json_output) {
			json_dumpf(result, stdout, JSON_COMPACT);
			putchar('\n');
		} else if (print == PRINT_FIELDS)
			print_result_fields(result);
		else
			printf("%s\n", json_string_value(
			    json_object_get(result, "id")));
	}
	json_decref(result);
	return rc;
}

static int
cmd_app_op(int argc, char *argv[])
{
	int	 query;

	if (argc != 2)
		usage();
	query = strcmp(argv[0], "inspect") == 0 ||
	    strcmp(argv[0], "stats") == 0 || strcmp(argv[0], "wait") == 0;
	return run_simple(request_new(argv[0], argv[1]),
	    query ? PRINT_FIELDS : PRINT_ID);
}

static int
cmd_rename(int argc, char *argv[])
{
	json_t	*req;

	if (argc != 3)
		usage();
	req = request_new("rename", argv[1]);
	json_object_set_new(req, "new_name", json_string(argv[2]));
	return run_simple(req, PRINT_ID);
}

static int
cmd_image(int argc, char *argv[])
{
	json_t	*req;

	if (argc == 3 && strcmp(argv[1], "remove") == 0) {
		req = request_new("image-remove", NULL);
		json_object_set_new(req, "image_ref", json_string(argv[2]));
		return run_simple(req, PRINT_FIELDS);
	}
	if (argc == 2 && strcmp(argv[1], "prune") == 0)
		return run_simple(request_new("image-prune", NULL),
		    PRINT_FIELDS);
	usage();
}

static int
cmd_apps(int argc, char *argv[])
{
	json_t	*req, *result, *apps, *app;
	size_t	 i;
	int	 rc = EXIT_FAILURE_RUN;

	(void)argv;
	if (argc != 1)
		usage();
	req = request_new("list", NULL);
	result = run_call(req, NULL);
	json_decref(req);
	if (result_failed(result))
		goto done;
	rc = 0;
	apps = json_object_get(result, "apps");
	if (json_output) {
		json_dumpf(apps, stdout, JSON_COMPACT);
		putchar('\n');
		goto done;
	}
	printf("%-20s %-12s %-28s %-10s %s\n", "APP", "ID", "IMAGE",
	    "STATE", "PORTS");
	json_array_foreach(apps, i, app)
		print_app_row(app);
done:
	json_decref(result);
	return rc;
}

/*
 * Copy the log stream the runner handed over until it ends.  The runner
 * made the pipe non-blocking; this end is ours alone, so block on it.
 */
static int
copy_stream(int fd)
{
	char	 buf[65536];
	ssize_t	 n;
	int	 flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		fatal("log stream");
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("log stream");
			break;
		}
		if (fwrite(buf, 1, n, stdout) != (size_t)n)
			break;
		fflush(stdout);
	}
	close(fd);
	return n == 0 ? 0 : EXIT_FAILURE_RUN;
}

static int
cmd_logs(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "tail", required_argument, NULL, 't' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	json_t		*req = request_new("logs", NULL), *result;
	const char	*errstr;
	int		 ch, fd = -1, rc = EXIT_FAILURE_RUN;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "fn:", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			json_object_set_new(req, "follow", json_true());
			break;
		case 'n':
		case 't':
			json_object_set_new(req, "tail", json_integer(
			    strtonum(optarg, 0, UINT32_MAX, &errstr)));
			if (errstr != NULL)
				fatalx("--tail %s: %s", optarg, errstr);
			break;
		case 's':
			json_object_set_new(req, "since", json_integer(
			    strtonum(optarg, 0, INT64_MAX, &errstr)));
			if (errstr != NULL)
				fatalx("--since %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	json_object_set_new(req, "app", json_string(argv[optind]));
	result = run_call(req, &fd);
	json_decref(req);
	if (!result_failed(result)) {
		if (fd == -1)
			fatalx("berthd sent no log stream");
		rc = copy_stream(fd);
	} else if (fd != -1)
		close(fd);
	json_decref(result);
	return rc;
}

/*
 * One event line from the runner: {"time":N,"type":..,"action":..,
 * "id":..,"app":..,"name":..}, or {"error":".."} when the stream broke.
 * --json passes lines through; else "TIME TYPE ACTION APP ID12", the
 * strings cleaned of anything a terminal would act on.
 */
static int
print_event_line(const char *line, size_t len)
{
	json_t		*ev;
	const char	*s[4], *err;
	char		 clean[4][128];
	size_t		 i, j;

	if (json_output) {
		fwrite(line, 1, len, stdout);
		putchar('\n');
		return 0;
	}
	if ((ev = json_loadb(line, len, 0, NULL)) == NULL ||
	    !json_is_object(ev)) {
		json_decref(ev);
		log_warnx("malformed event line");
		return -1;
	}
	if ((err = json_string_value(json_object_get(ev, "error"))) != NULL) {
		log_warnx("%s", err);
		json_decref(ev);
		return -1;
	}
	s[0] = json_string_value(json_object_get(ev, "type"));
	s[1] = json_string_value(json_object_get(ev, "action"));
	s[2] = json_string_value(json_object_get(ev, "app"));
	s[3] = json_string_value(json_object_get(ev, "id"));
	for (i = 0; i < 4; i++) {
		(void)strlcpy(clean[i], s[i] != NULL && s[i][0] != '\0' ?
		    s[i] : "-", sizeof(clean[i]));
		for (j = 0; clean[i][j] != '\0'; j++)
			if ((unsigned char)clean[i][j] <= 0x20 ||
			    (unsigned char)clean[i][j] >= 0x7f)
				clean[i][j] = '_';
	}
	printf("%lld %-10s %-16s %-20s %.12s\n",
	    (long long)json_integer_value(json_object_get(ev, "time")),
	    clean[0], clean[1], clean[2], clean[3]);
	json_decref(ev);
	return 0;
}

/* The event lines as they come; a line split across reads is joined. */
static int
copy_events(int fd)
{
	char	 buf[65536], *nl, *p;
	size_t	 have = 0;
	ssize_t	 n;
	int	 flags, rc = 0;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1)
		fatal("event stream");
	for (;;) {
		if (have == sizeof(buf))
			fatalx("event line too long");
		if ((n = read(fd, buf + have, sizeof(buf) - have)) == -1) {
			if (errno == EINTR)
				continue;
			log_warn("event stream");
			rc = -1;
			break;
		}
		if (n == 0)
			break;
		have += (size_t)n;
		for (p = buf; (nl = memchr(p, '\n', have - (p - buf))) != NULL;
		    p = nl + 1)
			if (nl > p && print_event_line(p, nl - p) == -1)
				rc = -1;
		have -= p - buf;
		memmove(buf, p, have);
		fflush(stdout);
	}
	if (have > 0 && print_event_line(buf, have) == -1)
		rc = -1;
	close(fd);
	return rc == 0 ? 0 : EXIT_FAILURE_RUN;
}

static int
cmd_events(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "since", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	json_t		*req = request_new("events", NULL), *result;
	const char	*errstr;
	int		 ch, fd = -1, rc = EXIT_FAILURE_RUN;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			json_object_set_new(req, "follow", json_true());
			break;
		case 's':
			json_object_set_new(req, "since", json_integer(
			    strtonum(optarg, 0, INT64_MAX, &errstr)));
			if (errstr != NULL)
				fatalx("--since %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc != optind)
		usage();
	result = run_call(req, &fd);
	json_decref(req);
	if (!result_failed(result)) {
		if (fd == -1)
			fatalx("berthd sent no event stream");
		if (!json_output)
			printf("%-10s %-10s %-16s %-20s %s\n", "TIME", "TYPE",
			    "ACTION", "APP", "ID");
		rc = copy_events(fd);
	} else if (fd != -1)
		close(fd);
	json_decref(result);
	return rc;
}

/* --- tasks, task ID, policy, config check ------------------------------ */

/*
 * Options after a command's name, in any order.  optind 0 makes getopt
 * start afresh: main's "+" (stop at the command) must not carry over,
 * so that "task ID --json" works as "task --json ID" does.
 */
#define COMMAND_OPTIND_RESET	0

static void
control_done(struct imsgbuf *ibuf)
{
	close(ibuf->fd);
	imsgbuf_clear(ibuf);
}

/*
 * A JSON string; when the text is not UTF-8 (a message cut inside a
 * character), each byte that is not ASCII becomes "?".
 */
static json_t *
json_text(const char *s)
{
	json_t	*v;
	char	*copy, *p;

	if ((v = json_string(s)) != NULL)
		return v;
	if ((copy = strdup(s)) == NULL)
		fatal("%s", __func__);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

static void
json_print(json_t *v, size_t flags)
{
	if (v == NULL || json_dumpf(v, stdout, flags) == -1)
		fatalx("cannot print JSON");
	putchar('\n');
}

/*
 * Text as one line, with anything a terminal would act on as a space:
 * C0 controls, DEL, and C1 controls written in UTF-8 (0xc2 0x80-0x9f).
 */
static void
print_clean(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			putchar(' ');
			p++;
		} else
			putchar(*p < 0x20 || *p == 0x7f ? ' ' : *p);
	}
}

/* "2026-11-23T19:02:11Z", or "-" for 0. */
static const char *
format_time(int64_t when, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 t = (time_t)when;

	if (when <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "-";
	return buf;
}

/* "42s", "17m", "5h", "3d" since when, or "-" for 0. */
static const char *
format_age(int64_t when, time_t now, char *buf, size_t len)
{
	long long	 age = (long long)now - (long long)when;

	if (when <= 0)
		return "-";
	if (age < 0)
		age = 0;
	if (age < 120)
		(void)snprintf(buf, len, "%llds", age);
	else if (age < 2 * 3600)
		(void)snprintf(buf, len, "%lldm", age / 60);
	else if (age < 2 * 86400)
		(void)snprintf(buf, len, "%lldh", age / 3600);
	else
		(void)snprintf(buf, len, "%lldd", age / 86400);
	return buf;
}

/* The newest event as "state/stage", "state", or "-". */
static const char *
format_event(const struct wire_ctl_task *t, char *buf, size_t len)
{
	if (t->event_state[0] == '\0')
		return "-";
	(void)snprintf(buf, len, "%s%s%s", t->event_state,
	    t->event_stage[0] != '\0' ? "/" : "", t->event_stage);
	return buf;
}

static json_t *
task_row_json(const struct wire_ctl_task *t)
{
	json_t	*v = json_object(), *event = json_null();

	if (t->event_state[0] != '\0')
		event = json_pack("{s:I, s:s, s:s, s:o}", "time",
		    (json_int_t)t->event_time, "state", t->event_state,
		    "stage", t->event_stage, "message",
		    json_text(t->event_message));
	if (v == NULL || event == NULL ||
	    json_object_set_new(v, "id", json_string(t->task_id)) == -1 ||
	    json_object_set_new(v, "kind", json_text(t->kind)) == -1 ||
	    json_object_set_new(v, "app", json_text(t->app)) == -1 ||
	    json_object_set_new(v, "state", json_string(t->state)) == -1 ||
	    json_object_set_new(v, "seq", json_integer(t->seq)) == -1 ||
	    json_object_set_new(v, "not_after",
	    json_integer(t->not_after)) == -1 ||
	    json_object_set_new(v, "received",
	    json_integer(t->received)) == -1 ||
	    json_object_set_new(v, "updated",
	    json_integer(t->updated)) == -1 ||
	    json_object_set_new(v, "events",
	    json_integer(t->event_seq)) == -1 ||
	    json_object_set_new(v, "spooled", json_integer(t->spooled)) == -1 ||
	    json_object_set_new(v, "event", event) == -1)
		fatalx("%s: cannot encode", __func__);
	return v;
}

static int
text_width(int width, const char *s)
{
	int	 len = (int)strlen(s);

	return len > width ? len : width;
}

/* ID KIND APP STATE EVENT AGE MESSAGE, the columns as wide as needed. */
static void
print_task_table(const struct wire_ctl_task *rows, size_t n)
{
	char	 event[40], age[32];
	int	 wid = 2, wkind = 4, wapp = 3, wstate = 5, wevent = 5;
	time_t	 now = time(NULL);
	size_t	 i;

	for (i = 0; i < n; i++) {
		wid = text_width(wid, rows[i].task_id);
		wkind = text_width(wkind, rows[i].kind);
		wapp = text_width(wapp, rows[i].app);
		wstate = text_width(wstate, rows[i].state);
		wevent = text_width(wevent, format_event(&rows[i], event,
		    sizeof(event)));
	}
	printf("%-*s  %-*s  %-*s  %-*s  %-*s  %4s  %s\n", wid, "ID", wkind,
	    "KIND", wapp, "APP", wstate, "STATE", wevent, "EVENT", "AGE",
	    "MESSAGE");
	for (i = 0; i < n; i++) {
		printf("%-*s  %-*s  %-*s  %-*s  %-*s  %4s  ", wid,
		    rows[i].task_id, wkind, rows[i].kind[0] != '\0' ?
		    rows[i].kind : "-", wapp, rows[i].app[0] != '\0' ?
		    rows[i].app : "-", wstate, rows[i].state, wevent,
		    format_event(&rows[i], event, sizeof(event)),
		    format_age(rows[i].received != 0 ? rows[i].received :
		    rows[i].updated, now, age, sizeof(age)));
		print_clean(rows[i].event_message);
		putchar('\n');
	}
}

static int
cmd_tasks(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct wire_ctl_tasks_req	 req;
	struct wire_ctl_tasks_end	 end;
	struct wire_ctl_task		*rows;
	struct imsgbuf			 control;
	struct imsg			 imsg;
	const char			*why;
	json_t				*list;
	size_t				 n = 0, i;
	uint32_t			 left;
	int				 ch, done = 0;

	memset(&req, 0, sizeof(req));
	optind = COMMAND_OPTIND_RESET;
	while ((ch = getopt_long(argc, argv, "a", opts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			req.all = 1;
			break;
		case 'j':
			json_output = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if ((rows = calloc(WIRE_CTL_TASKS_MAX, sizeof(*rows))) == NULL)
		fatal("calloc");
	control_open(&control);
	send_request(&control, IMSG_CTL_TASKS_REQ, &req, sizeof(req));
	while (!done) {
		read_reply(&control, &imsg);
		switch (imsg.hdr.type) {
		case IMSG_CTL_TASK:
			if (n == WIRE_CTL_TASKS_MAX)
				fatalx("berthd sent more than %d tasks",
				    WIRE_CTL_TASKS_MAX);
			if ((why = wire_decode_ctl_task(&imsg,
			    &rows[n])) != NULL)
				fatalx("berthd sent bad %s", why);
			n++;
			break;
		case IMSG_CTL_TASKS_END:
			if ((why = wire_decode_ctl_tasks_end(&imsg,
			    &end)) != NULL)
				fatalx("berthd sent bad %s", why);
			if (end.listed != n)
				fatalx("berthd counted %u tasks and sent %zu",
				    end.listed, n);
			done = 1;
			break;
		default:
			fatalx("berthd sent unexpected message type %u",
			    imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	control_done(&control);
	if (json_output) {
		if ((list = json_array()) == NULL)
			fatalx("json_array");
		for (i = 0; i < n; i++)
			json_array_append_new(list, task_row_json(&rows[i]));
		json_print(list, JSON_COMPACT);
		json_decref(list);
	} else if (!end.journal)
		fprintf(stderr, "berthctl: berthd keeps no task journal: "
		    "no control plane is configured\n");
	else {
		print_task_table(rows, n);
		left = end.total - end.listed;
		if (left > 0 && !req.all)
			printf("(%u older finished task%s not shown; "
			    "tasks --all shows every task)\n", left,
			    left == 1 ? "" : "s");
		else if (left > 0)
			printf("(the %u oldest task%s not shown)\n", left,
			    left == 1 ? "" : "s");
	}
	free(rows);
	return 0;
}

static json_t *
event_json(const struct wire_event *ev)
{
	json_t	*v;

	v = json_pack("{s:I, s:I, s:s, s:s, s:o}", "seq", (json_int_t)ev->seq,
	    "time", (json_int_t)ev->time, "state", ev->state, "stage",
	    ev->stage, "message", json_text(ev->message));
	if (v != NULL && ev->has_exit_code)
		(void)json_object_set_new(v, "exit_code",
		    json_integer(ev->exit_code));
	if (v == NULL)
		fatalx("%s: cannot encode", __func__);
	return v;
}

static void
print_task_field(const char *name, const char *value)
{
	printf("%-12s ", name);
	print_clean(value);
	putchar('\n');
}

/* "key value" lines, then the task as received, then spooled events. */
static void
print_task_detail(const struct wire_ctl_task *t, json_t *body, json_t *events)
{
	json_t	*ev;
	char	 when[32], line[64], *text;
	size_t	 i;

	print_task_field("id", t->task_id);
	print_task_field("kind", t->kind[0] != '\0' ? t->kind : "-");
	print_task_field("app", t->app[0] != '\0' ? t->app : "-");
	print_task_field("state", t->state);
	(void)snprintf(line, sizeof(line), "%lld", (long long)t->seq);
	print_task_field("seq", line);
	print_task_field("received", format_time(t->received, when,
	    sizeof(when)));
	print_task_field("updated", format_time(t->updated, when,
	    sizeof(when)));
	print_task_field("not-after", format_time(t->not_after, when,
	    sizeof(when)));
	(void)snprintf(line, sizeof(line), "%u made, %u not yet acknowledged",
	    t->event_seq, t->spooled);
	print_task_field("events", line);
	if (t->event_state[0] != '\0') {
		printf("%-12s %s%s%s at %s%s", "last-event", t->event_state,
		    t->event_stage[0] != '\0' ? " in " : "", t->event_stage,
		    format_time(t->event_time, when, sizeof(when)),
		    t->event_message[0] != '\0' ? ": " : "");
		print_clean(t->event_message);
		putchar('\n');
	}
	if (body != NULL && (text = json_dumps(body, JSON_INDENT(2) |
	    JSON_SORT_KEYS)) != NULL) {
		printf("task:\n%s\n", text);
		free(text);
	}
	if (json_array_size(events) == 0)
		return;
	printf("spooled events (not yet acknowledged by the control "
	    "plane):\n");
	json_array_foreach(events, i, ev) {
		printf("  %lld %s %s %s ",
		    json_integer_value(json_object_get(ev, "seq")),
		    format_time(json_integer_value(json_object_get(ev, "time")),
		    when, sizeof(when)),
		    json_string_value(json_object_get(ev, "state")),
		    json_string_value(json_object_get(ev, "stage"))[0] != '\0' ?
		    json_string_value(json_object_get(ev, "stage")) : "-");
		print_clean(json_string_value(json_object_get(ev, "message")));
		putchar('\n');
	}
}

static int
cmd_task(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct wire_ctl_task_req	 req;
	struct wire_ctl_task		 row;
	struct wire_ctl_error		 error;
	struct wire_event		 ev;
	struct imsgbuf			 control;
	struct imsg			 imsg;
	const char			*why, *id;
	json_t				*body = NULL, *events, *v;
	int				 ch, done = 0, have_row = 0;
	int				 rc = 0;

	optind = COMMAND_OPTIND_RESET;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json_output = 1;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	id = argv[optind];
	memset(&req, 0, sizeof(req));
	/* What is not an id names no task: no need to ask. */
	if (!wire_id_valid(id) || strlcpy(req.task_id, id,
	    sizeof(req.task_id)) >= sizeof(req.task_id)) {
		fprintf(stderr, "berthctl: no task %s\n", id);
		return EXIT_FAILURE_RUN;
	}
	if ((events = json_array()) == NULL)
		fatalx("json_array");
	control_open(&control);
	send_request(&control, IMSG_CTL_TASK_REQ, &req, sizeof(req));
	while (!done) {
		read_reply(&control, &imsg);
		switch (imsg.hdr.type) {
		case IMSG_CTL_ERROR:
			if ((why = wire_decode_ctl_error(&imsg,
			    &error)) != NULL)
				fatalx("berthd sent bad %s", why);
			fprintf(stderr, "berthctl: %s\n", error.message);
			rc = EXIT_FAILURE_RUN;
			done = 1;
			break;
		case IMSG_CTL_TASK:
			if (have_row)
				fatalx("berthd sent the task twice");
			if ((why = wire_decode_ctl_task(&imsg, &row)) != NULL)
				fatalx("berthd sent bad %s", why);
			if (strcmp(row.task_id, req.task_id) != 0)
				fatalx("berthd sent task %s", row.task_id);
			have_row = 1;
			break;
		case IMSG_CTL_TASK_BODY:
			if (!have_row || body != NULL)
				fatalx("berthd sent a task body out of turn");
			if ((why = wire_decode_ctl_task_body(&imsg,
			    &body)) != NULL)
				fatalx("berthd sent bad %s", why);
			break;
		case IMSG_CTL_TASK_EVENT:
			if ((why = wire_decode_event(&imsg, &ev)) != NULL)
				fatalx("berthd sent bad %s", why);
			if (!have_row || strcmp(ev.task_id, req.task_id) != 0)
				fatalx("berthd sent an event out of turn");
			json_array_append_new(events, event_json(&ev));
			break;
		case IMSG_CTL_END:
			if ((why = wire_decode_empty(&imsg)) != NULL)
				fatalx("berthd sent bad %s", why);
			if (!have_row)
				fatalx("berthd sent no task");
			done = 1;
			break;
		default:
			fatalx("berthd sent unexpected message type %u",
			    imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	control_done(&control);
	if (rc == 0 && json_output) {
		v = task_row_json(&row);
		if (json_object_set_new(v, "task", body != NULL ?
		    json_incref(body) : json_null()) == -1 ||
		    json_object_set_new(v, "spooled_events",
		    json_incref(events)) == -1)
			fatalx("cannot encode the task");
		json_print(v, JSON_COMPACT);
		json_decref(v);
	} else if (rc == 0)
		print_task_detail(&row, body, events);
	json_decref(body);
	json_decref(events);
	return rc;
}

static json_t *
json_words(const char (*words)[POLICY_PATTERN_LEN], uint32_t n)
{
	json_t		*v = json_array();
	uint32_t	 i;

	for (i = 0; v != NULL && i < n; i++)
		json_array_append_new(v, json_text(words[i]));
	return v;
}

static json_t *
policy_json(const struct policy *p)
{
	json_t		*v, *ips, *caps;
	uint32_t	 i;

	ips = json_array();
	for (i = 0; ips != NULL && i < p->nhost_ips; i++)
		json_array_append_new(ips, json_text(p->host_ips[i]));
	caps = json_array();
	for (i = 0; caps != NULL && i < p->ncap_allow; i++)
		json_array_append_new(caps, json_text(p->cap_allow[i]));
	v = json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:i, "
	    "s:i, s:o, s:o, s:b, s:s, s:b}",
	    "images", json_words(p->images, p->nimages),
	    "name_template", p->name_template,
	    "memory_default", (json_int_t)p->memory_default,
	    "memory_max", (json_int_t)p->memory_max,
	    "nano_cpus_default", (json_int_t)p->nano_cpus_default,
	    "nano_cpus_max", (json_int_t)p->nano_cpus_max,
	    "pids_default", (json_int_t)p->pids_default,
	    "pids_max", (json_int_t)p->pids_max,
	    "publish_addresses", ips,
	    "host_port_min", (int)p->host_port_min,
	    "host_port_max", (int)p->host_port_max,
	    "bind_prefixes", json_words(p->bind_prefixes,
	    p->nbind_prefixes),
	    "cap_allow", caps,
	    "read_only_root", (int)p->read_only_root,
	    "runtime", p->runtime,
	    "restart_always", (int)p->allow_restart_always);
	if (v == NULL)
		fatalx("%s: cannot encode", __func__);
	return v;
}

static int
cmd_policy(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static struct wire_ctl_policy	 p;
	struct imsgbuf			 control;
	struct imsg			 imsg;
	const char			*why;
	char				 ours[POLICY_HASH_HEX + 1];
	char				*text = NULL;
	size_t				 len = 0;
	FILE				*f;
	json_t				*v;
	int				 ch;

	optind = COMMAND_OPTIND_RESET;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			json_output = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	control_open(&control);
	send_request(&control, IMSG_CTL_POLICY_REQ, NULL, 0);
	read_reply(&control, &imsg);
	if (imsg.hdr.type != IMSG_CTL_POLICY)
		fatalx("berthd sent unexpected message type %u",
		    imsg.hdr.type);
	if ((why = wire_decode_ctl_policy(&imsg, &p)) != NULL)
		fatalx("berthd sent bad %s", why);
	imsg_free(&imsg);
	control_done(&control);
	/* The same text, the same hash: else the two builds disagree. */
	policy_hash(&p.policy, ours);
	if (strcmp(ours, p.policy_hash) != 0)
		log_warnx("warning: berthd's policy hash %s is not %s, the "
		    "hash this berthctl takes of the same policy; are they "
		    "of different versions?", p.policy_hash, ours);
	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	policy_print(&p.policy, f);
	if (fclose(f) != 0 || text == NULL)
		fatalx("cannot print the policy");
	if (json_output) {
		v = json_pack("{s:s, s:o, s:s}", "policy_hash", p.policy_hash,
		    "policy", policy_json(&p.policy), "text", text);
		json_print(v, JSON_COMPACT);
		json_decref(v);
	} else
		printf("# policy hash %s\n%s", p.policy_hash, text);
	free(text);
	return 0;
}

static const char *
environment_lookup(const char *name)
{
	return getenv(name);
}

/* The checks berthd makes at start, on a file, without berthd. */
static int
cmd_config(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	static struct berth_conf	 conf;
	const char			*path = BERTH_CONF_FILE;
	json_t				*v;
	int				 ch, ok;

	if (argc < 2 || strcmp(argv[1], "check") != 0)
		usage();
	argc--;
	argv++;
	optind = COMMAND_OPTIND_RESET;
	while ((ch = getopt_long(argc, argv, "f:", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			path = optarg;
			break;
		case 'j':
			json_output = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	conf_defaults(&conf);
	if (strlcpy(conf.path, path, sizeof(conf.path)) >= sizeof(conf.path)) {
		log_warnx("configuration path too long: %s", path);
		ok = 0;
	} else
		ok = conf_parse_file(path, &conf) == 0 &&
		    conf_apply_env(&conf, environment_lookup) == 0 &&
		    conf_check(&conf) == 0;
	if (json_output) {
		v = json_pack("{s:s, s:b}", "file", path, "ok", ok);
		json_print(v, JSON_COMPACT);
		json_decref(v);
	} else if (ok)
		printf("%s: ok\n", path);
	return ok ? 0 : EXIT_FAILURE_RUN;
}

static const struct command {
	const char	*name;
	int		(*run)(int, char *[]);
} commands[] = {
	{ "status",	cmd_status },
	{ "audit",	cmd_audit },
	{ "deploy",	cmd_deploy },
	{ "apps",	cmd_apps },
	{ "start",	cmd_app_op },
	{ "stop",	cmd_app_op },
	{ "restart",	cmd_app_op },
	{ "remove",	cmd_app_op },
	{ "inspect",	cmd_app_op },
	{ "wait",	cmd_app_op },
	{ "stats",	cmd_app_op },
	{ "rename",	cmd_rename },
	{ "logs",	cmd_logs },
	{ "events",	cmd_events },
	{ "image",	cmd_image },
	{ "tasks",	cmd_tasks },
	{ "task",	cmd_task },
	{ "policy",	cmd_policy },
	{ "config",	cmd_config },
};

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	size_t		 i;
	int		 ch;

	log_init(1, 0, 0);
	log_procinit("berthctl");
	while ((ch = getopt_long(argc, argv, "+a:hs:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			audit_path = optarg;
			break;
		case 'j':
			json_output = 1;
			break;
		case 's':
			socket_path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(argc, argv);
	fprintf(stderr, "berthctl: unknown command \"%s\"\n", argv[0]);
	usage();
}
