/*
 * netd.c: the network process.  It speaks to the control plane over
 * HTTPS/WSS and serves the local HTTP endpoints.  It runs as _berth in
 * an empty root with no file system access, may open only inet sockets,
 * starts no thread and never holds the Docker socket or any state on
 * disk.  So everything that reads a file happens before the sandbox:
 * OpenSSL's configuration (curl_global_init), the CA bundle, c-ares'
 * random source, the listening socket.  Names are resolved with the
 * nameservers and hosts entries the parent sends (IMSG_NETD_RESOLVER).
 */
#include <sys/types.h>

#include <ares.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "child.h"
#include "http.h"
#include "httpd.h"
#include "imsg.h"
#include "log.h"
#include "proto.h"
#include "resolve.h"
#include "sandbox.h"
#include "status.h"
#include "wire.h"

/* Debian's bundle of the system's trusted CAs. */
#define NETD_CA_BUNDLE	"/etc/ssl/certs/ca-certificates.crt"

struct netd_state {
	struct event_base	*base;
	struct resolve		*resolve;
	struct httpd		*httpd;		/* NULL: listener off */
	char			*ca;		/* PEM, for the client */
	size_t			 ca_len;
};

static struct imsgev		 iev_parent;
static struct sandbox_report	 netd_sandbox;
static struct netd_state	 netd;
static const struct proto	*dialect;

static void	 netd_dispatch_parent(int, short, void *);

/* Everything that reads a file or sets up a library, before the sandbox. */
static void
netd_prepare(const struct wire_proc_conf *conf)
{
	const char	*ca_file;
	int		 fd;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("curl_global_init");
	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		fatalx("ares_library_init");
	/* The event base opens its epoll descriptor before seccomp. */
	if ((netd.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((netd.resolve = resolve_new(netd.base)) == NULL)
		fatalx("cannot set up the resolver");
	ca_file = conf->ca_file[0] != '\0' ? conf->ca_file : NETD_CA_BUNDLE;
	if (http_ca_read(ca_file, &netd.ca, &netd.ca_len) == -1)
		log_warn("%s: https will fail", ca_file);
	if (conf->listen_port == 0)
		return;
	if ((fd = httpd_listen_socket(conf->listen_addr,
	    (uint16_t)conf->listen_port)) == -1)
		fatalx("cannot listen on %s port %u", conf->listen_addr,
		    conf->listen_port);
	if ((netd.httpd = httpd_new(netd.base, fd)) == NULL)
		fatalx("cannot serve HTTP");
	log_info("listening on %s port %u", conf->listen_addr,
	    conf->listen_port);
}

static void
netd_dialect_init(void)
{
	static struct proto_env	 env;

	env.base = netd.base;
	env.resolve = netd.resolve;
	env.parent = &iev_parent;
	env.ca = netd.ca;
	env.ca_len = netd.ca_len;
	dialect->init(&env);
}

void
netd_main(void)
{
	struct wire_proc_conf	 conf;

	child_receive_conf(ROLE_NETD, &conf);
	if ((dialect = proto_lookup(conf.protocol)) == NULL)
		fatalx("this netd does not speak control-plane protocol %u yet",
		    conf.protocol);
	netd_prepare(&conf);
	sandbox_confine(ROLE_NETD, &conf, &netd_sandbox);

	/* Tasks (TASK_JSON_MAX) go to the parent: the larger cap. */
	if (imsgev_init(&iev_parent, netd.base, BERTH_PARENT_FD,
	    BERTH_IMSG_RUN_MAX, 0, netd_dispatch_parent, &iev_parent) == -1)
		fatal("imsgev_init");
	netd_dialect_init();
	child_send_ready(&iev_parent, ROLE_NETD, &netd_sandbox);
	log_info("ready as uid %u", (unsigned int)getuid());

	if (event_base_dispatch(netd.base) == -1)
		fatalx("event_base_dispatch");
	exit(0);
}

static void
netd_status(const struct imsg *imsg)
{
	struct netd_status	 status;
	const char		*why;

	if ((why = wire_decode_json(imsg, STATUS_JSON_MAX, 0)) != NULL ||
	    (why = status_decode(imsg->data, imsg->hdr.len, &status)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	if (netd.httpd != NULL)
		httpd_set_status(netd.httpd, &status);
	dialect->status(&status);
}

static void
netd_resolver(const struct imsg *imsg)
{
	struct wire_resolver	 res;
	const char		*why;

	if ((why = wire_decode_resolver(imsg, &res)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	if (resolve_configure(netd.resolve, &res) == -1)
		fatalx("%s: c-ares refused the nameservers", __func__);
}

/* A message only the dialect understands; it decodes it itself. */
static void
netd_to_dialect(void (*handler)(const struct imsg *), const struct imsg *imsg)
{
	if (handler == NULL)
		fatalx("parent sent %s, which protocol %s does not use",
		    imsg_type_name(imsg->hdr.type), dialect->name);
	handler(imsg);
}

static void
netd_dispatch_parent(int fd, short event, void *arg)
{
	struct imsgev	*iev = arg;
	struct imsg	 imsg;
	const char	*why;
	int		 got;

	(void)fd;
	child_parent_io(iev, event);
	for (;;) {
		if ((got = imsg_get(&iev->ibuf, &imsg)) == -1)
			fatal("%s: malformed message from parent", __func__);
		if (got == 0)
			break;
		switch (imsg.hdr.type) {
		case IMSG_PROC_STATUS_REQ:
			if ((why = wire_decode_empty(&imsg)) != NULL)
				fatalx("%s: parent sent bad %s", __func__, why);
			child_send_status(iev, ROLE_NETD, &netd_sandbox,
			    imsg.hdr.peerid);
			break;
		case IMSG_NETD_STATUS:
			netd_status(&imsg);
			break;
		case IMSG_NETD_RESOLVER:
			netd_resolver(&imsg);
			break;
		case IMSG_NETD_IDENTITY:
			netd_to_dialect(dialect->identity, &imsg);
			break;
		case IMSG_NETD_NODE:
			netd_to_dialect(dialect->node, &imsg);
			break;
		case IMSG_TASK_ACCEPT:
			netd_to_dialect(dialect->accept, &imsg);
			break;
		case IMSG_EVENT_SEND:
			netd_to_dialect(dialect->event, &imsg);
			break;
		default:
			fatalx("%s: parent sent unknown message type %u",
			    __func__, imsg.hdr.type);
		}
		imsg_free(&imsg);
	}
	imsgev_add(iev);
}
