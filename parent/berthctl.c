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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "berth.h"
#include "imsg.h"
#include "log.h"
#include "wire.h"

#define EXIT_FAILURE_RUN	1
#define EXIT_USAGE		2

static int	 json_output;
static const char *socket_path = BERTH_CONTROL_SOCKET;
static const char *audit_path = BERTH_STATE_DIR "/audit.log";

static void __attribute__((__noreturn__))
usage(void)
{
	fprintf(stderr,
	    "usage: berthctl [--json] [-a auditlog] [-s socket] command\n"
	    "commands:\n"
	    "  status              each berthd process and its confinement\n"
	    "  audit verify        check the whole audit chain\n"
	    "  audit tail [-n N]   print the last N audit records (10)\n");
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
send_request(struct imsgbuf *ibuf, uint32_t type)
{
	if (imsg_compose(ibuf, type, 0, getpid(), -1, NULL, 0) == -1)
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
	if (imsgbuf_init(ibuf, fd, BERTH_IMSG_MAX, BERTH_IMSG_QUEUE_MAX,
	    0) == -1)
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
	send_request(ibuf, IMSG_CTL_STATUS);
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

static const struct command {
	const char	*name;
	int		(*run)(int, char *[]);
} commands[] = {
	{ "status",	cmd_status },
	{ "audit",	cmd_audit },
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
