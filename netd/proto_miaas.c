/*
 * proto_miaas.c: the MIaaS dialect (CONTRACTS.md 3): registration and
 * heartbeats, nothing else, since MIaaS delivers no tasks to its nodes.
 *
 *	POST {url}/api/v1/nodes/register		no auth
 *	    {name, ip, capabilities: {os, cpu_count, mem_mb, disk_mb, gpus,
 *	    docker: {version, running_containers}}}
 *	    -> 201 (or 200) {node_id, node_token, ...}
 *	POST {url}/api/v1/nodes/{node_id}/heartbeat	Bearer node_token
 *	    {cpu_usage, mem_usage, disk_free_mb, running_containers}
 *
 * Unlike the original agent berth keeps the id and token (the parent
 * stores them 0600, as NETD_ENROLLED), so a restart keeps the identity;
 * it reports the disk and the engine it forgot; and it finds its address
 * from the route to the control plane (a connected UDP socket sends
 * nothing) instead of asking 8.8.8.8.  The first heartbeat follows the
 * registration at once.  A 401 (expired token), 403 or 404 means the
 * server no longer takes our credential: register again at once, and
 * then with backoff if that keeps happening; any other failure counts,
 * and five in a row make the node register again.  Every retry waits
 * a backoff with full jitter, never a fixed beat.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "berth.h"
#include "cploop.h"
#include "http.h"
#include "imsg.h"
#include "log.h"
#include "proto.h"
#include "resolve.h"
#include "status.h"
#include "wire.h"

#define MIAAS_TIMEOUT_MS	10000	/* the original's 10 s */
#define MIAAS_BODY_MAX		(64 * 1024)
#define MIAAS_FAILURES_MAX	5	/* in a row, then register again */
#define MIAAS_RETRY_MAX_MS	(300 * 1000)
#define MIAAS_MIB		(1024 * 1024)
/* How long registration waits for the engine's version in a status. */
#define MIAAS_STATUS_WAIT	10
/* A JWT's alphabet and base64's: what may follow "Bearer ". */
#define MIAAS_TOKEN_CHARS	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
				"0123456789_-.~+/="

static struct {
	struct proto_env	 env;
	struct http_client	*http;
	char			 url[WIRE_URL_LEN];	/* no trailing '/' */
	char			 host[WIRE_HOSTNAME_LEN];
	uint16_t		 port;
	char			 name[128];
	char			 ip[WIRE_ADDR_LEN];
	char			 node_id[WIRE_ID_LEN];	/* "": not registered */
	char			 token[WIRE_CREDENTIAL_LEN];
	char			 pin[WIRE_PIN_LEN];	/* "": none */
	uint32_t		 heartbeat_sec;
	int			 have_status;
	struct netd_status	 status;
	uint32_t		 status_waits;	/* registration's, in seconds */
	uint32_t		 failures;	/* heartbeats in a row */
	struct backoff		 churn;		/* register-again after refusals */
	int			 churning;
	struct resolve_query	*rq;
	struct cp_loop		 reg, beat;
} mi;

static void	 miaas_register_again(const char *why);

/* --- what we report ---------------------------------------------------- */

static const struct status_disk *
miaas_disk(void)
{
	const struct status_metrics	*m = &mi.status.metrics;
	size_t				 i;

	/* The state directory's file system: "/" on a default install. */
	for (i = 0; i < m->ndisks; i++)
		if (strcmp(m->disks[i].use, "state") == 0)
			return &m->disks[i];
	return m->ndisks > 0 ? &m->disks[0] : NULL;
}

static json_t *
miaas_gpus(void)
{
	const struct status_metrics	*m = &mi.status.metrics;
	json_t				*gpus = json_array();
	size_t				 i;

	for (i = 0; i < m->ngpus; i++)
		json_array_append_new(gpus, json_pack("{s:s, s:I, s:s}",
		    "name", m->gpus[i].name, "memory_mb",
		    (json_int_t)(m->gpus[i].memory_total_bytes / MIAAS_MIB),
		    "uuid", m->gpus[i].uuid));
	return gpus;
}

static char *
miaas_register_body(void)
{
	const struct status_metrics	*m = &mi.status.metrics;
	const struct status_disk	*disk = miaas_disk();
	json_t				*body;
	char				*text;

	body = json_pack("{s:s, s:s, s:{s:s, s:I, s:I, s:I, s:o, "
	    "s:{s:s, s:I}}}", "name", mi.name, "ip", mi.ip, "capabilities",
	    "os", "linux", "cpu_count",
	    (json_int_t)(m->cpu_count > 0 ? m->cpu_count : 1),
	    "mem_mb", (json_int_t)(m->memory_total_bytes / MIAAS_MIB),
	    "disk_mb", (json_int_t)(disk != NULL ?
	    disk->total_bytes / MIAAS_MIB : 0),
	    "gpus", miaas_gpus(),
	    "docker", "version", mi.status.docker_version,
	    "running_containers", (json_int_t)mi.status.containers_running);
	if (body == NULL)
		fatalx("%s: json_pack", __func__);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

static double
miaas_percent(double v)
{
	return v < 0 ? 0 : v > 100 ? 100 : v;
}

static char *
miaas_heartbeat_body(void)
{
	const struct status_metrics	*m = &mi.status.metrics;
	const struct status_disk	*disk = miaas_disk();
	json_t				*body, *names;
	double				 mem = 0;
	size_t				 i;
	char				*text;

	/* psutil's percent: what is not available of the total. */
	if (m->memory_total_bytes > 0 &&
	    m->memory_available_bytes <= m->memory_total_bytes)
		mem = 100.0 * (double)(m->memory_total_bytes -
		    m->memory_available_bytes) / (double)m->memory_total_bytes;
	names = json_array();
	for (i = 0; i < mi.status.ncontainers; i++)
		if (strcmp(mi.status.containers[i].state, "running") == 0)
			json_array_append_new(names,
			    json_string(mi.status.containers[i].name));
	body = json_pack("{s:f, s:f, s:I, s:o}", "cpu_usage",
	    miaas_percent(m->cpu_percent), "mem_usage", miaas_percent(mem),
	    "disk_free_mb", (json_int_t)(disk != NULL ?
	    disk->free_bytes / MIAAS_MIB : 0), "running_containers", names);
	if (body == NULL)
		fatalx("%s: json_pack", __func__);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/* --- requests ------------------------------------------------------------ */

static struct http_request *
miaas_post(const char *path, const char *body, int auth, http_done_cb done)
{
	struct http_request_spec	 spec;
	struct http_request		*req;
	char				 url[HTTP_URL_MAX];
	char				 bearer[WIRE_CREDENTIAL_LEN + 32];
	const char			*headers[2] = { NULL, NULL };

	if ((size_t)snprintf(url, sizeof(url), "%s%s", mi.url, path) >=
	    sizeof(url)) {
		log_warnx("miaas: url for %s too long", path);
		return NULL;
	}
	if (auth) {
		(void)snprintf(bearer, sizeof(bearer),
		    "Authorization: Bearer %s", mi.token);
		headers[0] = bearer;
	}
	memset(&spec, 0, sizeof(spec));
	spec.method = "POST";
	spec.url = url;
	spec.json = body;
	spec.headers = headers;
	spec.parse_json = 1;
	spec.max_response = MIAAS_BODY_MAX;
	spec.timeout_ms = MIAAS_TIMEOUT_MS;
	spec.on_done = done;
	req = http_request(mi.http, &spec);
	explicit_bzero(bearer, sizeof(bearer));
	return req;
}

/* The server's words for a refusal: FastAPI's detail, else the status. */
static void
miaas_why(const struct http_response *r, char *out, size_t len)
{
	json_t	*detail = r->json != NULL ?
		    json_object_get(r->json, "detail") : NULL;
	char	*text = NULL;
	size_t	 i;

	if (r->status == -1) {
		(void)snprintf(out, len, "%s", r->error != NULL ? r->error :
		    "no answer");
		return;
	}
	if (json_is_string(detail))
		(void)snprintf(out, len, "HTTP %d: %s", r->status,
		    json_string_value(detail));
	else if (detail != NULL &&
	    (text = json_dumps(detail, JSON_COMPACT)) != NULL)
		(void)snprintf(out, len, "HTTP %d: %s", r->status, text);
	else
		(void)snprintf(out, len, "HTTP %d", r->status);
	free(text);
	/* The server's text goes to our log: nothing but printable ASCII. */
	for (i = 0; out[i] != '\0'; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			out[i] = '?';
}

/* --- registration -------------------------------------------------------- */

/*
 * The address this host would use to reach the control plane: connect a
 * UDP socket (which sends nothing) and read its local end.
 */
static void
miaas_route_source(const char *addr)
{
	struct sockaddr_storage	 ss, local;
	socklen_t		 sslen, locallen = sizeof(local);
	int			 fd = -1, family;

	memset(&ss, 0, sizeof(ss));
	family = resolve_literal(addr) == 6 ? AF_INET6 : AF_INET;
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(mi.port);
		sslen = sizeof(*sin6);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			goto fail;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(mi.port);
		sslen = sizeof(*sin);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			goto fail;
	}
	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&ss, sslen) == -1 ||
	    getsockname(fd, (struct sockaddr *)&local, &locallen) == -1)
		goto fail;
	if (family == AF_INET6 ? inet_ntop(AF_INET6,
	    &((struct sockaddr_in6 *)&local)->sin6_addr, mi.ip,
	    sizeof(mi.ip)) == NULL : inet_ntop(AF_INET,
	    &((struct sockaddr_in *)&local)->sin_addr, mi.ip,
	    sizeof(mi.ip)) == NULL)
		goto fail;
	close(fd);
	return;
fail:
	log_warn("miaas: no route to %s; registering as 127.0.0.1", addr);
	if (fd != -1)
		close(fd);
	(void)strlcpy(mi.ip, "127.0.0.1", sizeof(mi.ip));
}

int
miaas_registration_decode(const json_t *answer, char *id, size_t idlen,
    char *token, size_t tokenlen)
{
	const char	*i, *t;

	if (!json_is_object(answer) ||
	    !json_is_string(json_object_get(answer, "node_id")) ||
	    !json_is_string(json_object_get(answer, "node_token")))
		return -1;
	i = json_string_value(json_object_get(answer, "node_id"));
	t = json_string_value(json_object_get(answer, "node_token"));
	/* Both go into a URL path and a header: no byte outside their sets. */
	if (!wire_id_valid(i) || strlen(i) >= idlen || strlen(t) == 0 ||
	    strlen(t) >= tokenlen || strspn(t, MIAAS_TOKEN_CHARS) != strlen(t))
		return -1;
	(void)strlcpy(id, i, idlen);
	(void)strlcpy(token, t, tokenlen);
	return 0;
}

/* The parent keeps them (0600) before we use them. */
static void
miaas_tell_parent(void)
{
	struct wire_netd_enrolled	 en;

	memset(&en, 0, sizeof(en));
	(void)strlcpy(en.node_id, mi.node_id, sizeof(en.node_id));
	(void)strlcpy(en.credential, mi.token, sizeof(en.credential));
	en.heartbeat_sec = mi.heartbeat_sec;
	en.retry_max_sec = MIAAS_RETRY_MAX_MS / 1000;
	if (imsgev_compose(mi.env.parent, IMSG_NETD_ENROLLED, 0, 0, -1, &en,
	    sizeof(en)) == -1)
		fatal("%s: compose", __func__);
	explicit_bzero(&en, sizeof(en));
}

static void
miaas_registered(struct http_request *req, const struct http_response *r,
    void *arg)
{
	char	 why[256];

	(void)req;
	(void)arg;
	mi.reg.req = NULL;
	if ((r->status == 200 || r->status == 201) && r->json != NULL &&
	    miaas_registration_decode(r->json, mi.node_id, sizeof(mi.node_id),
	    mi.token, sizeof(mi.token)) == 0) {
		log_info("miaas: registered as %s (%s) at %s", mi.node_id,
		    mi.name, mi.url);
		cp_loop_ok(&mi.reg);
		mi.failures = 0;
		/* Its NETD_IDENTITY, once they are stored, starts the beat. */
		miaas_tell_parent();
		return;
	}
	if (r->status == 200 || r->status == 201)
		(void)snprintf(why, sizeof(why), "HTTP %d without a usable "
		    "node_id and node_token", r->status);
	else
		miaas_why(r, why, sizeof(why));
	log_warnx("miaas: registration refused: %s; again in %u ms", why,
	    cp_loop_retry(&mi.reg));
}

static void
miaas_register_send(void)
{
	char	*body;

	if ((body = miaas_register_body()) == NULL)
		fatalx("%s: json_dumps", __func__);
	mi.reg.req = miaas_post("/api/v1/nodes/register", body, 0,
	    miaas_registered);
	free(body);
	if (mi.reg.req == NULL)
		(void)cp_loop_retry(&mi.reg);
}

static void
miaas_resolved(const struct resolve_answer *answer, const char *error,
    void *arg)
{
	(void)arg;
	mi.rq = NULL;
	if (answer == NULL || answer->naddrs == 0) {
		log_warnx("miaas: cannot resolve %s: %s; again in %u ms",
		    mi.host, error != NULL ? error : "no address",
		    cp_loop_retry(&mi.reg));
		return;
	}
	miaas_route_source(answer->addrs[0]);
	miaas_register_send();
}

static void
miaas_register_start(void)
{
	/* The capabilities need a status, and one with the engine's word. */
	if (!mi.have_status || (mi.status.docker_version[0] == '\0' &&
	    mi.status_waits < MIAAS_STATUS_WAIT)) {
		mi.status_waits++;
		cp_loop_after(&mi.reg, 1000);
		return;
	}
	if (mi.rq == NULL &&
	    (mi.rq = resolve_lookup(mi.env.resolve, mi.host, miaas_resolved,
	    NULL)) == NULL)
		(void)cp_loop_retry(&mi.reg);
}

/*
 * The server does not take our credential any more.  Register now the
 * first time; when it keeps happening (a server that registers us and
 * then refuses the token), with a growing delay.
 */
static void
miaas_register_again(const char *why)
{
	uint32_t	 ms = 0;

	cp_loop_stop(&mi.beat);
	if (mi.churning)
		ms = backoff_next(&mi.churn);
	mi.churning = 1;
	mi.failures = 0;
	log_warnx("miaas: %s; registering again in %u ms", why, ms);
	cp_loop_after(&mi.reg, ms);
}

/* --- heartbeat ----------------------------------------------------------- */

static void
miaas_beaten(struct http_request *req, const struct http_response *r,
    void *arg)
{
	char	 why[256];

	(void)req;
	(void)arg;
	mi.beat.req = NULL;
	if (r->status >= 200 && r->status < 300) {
		log_debug("miaas: heartbeat ok");
		cp_loop_ok(&mi.beat);
		mi.failures = 0;
		mi.churning = 0;
		backoff_reset(&mi.churn);
		cp_loop_after(&mi.beat, mi.heartbeat_sec * 1000);
		return;
	}
	miaas_why(r, why, sizeof(why));
	if (r->status == 401 || r->status == 403 || r->status == 404) {
		miaas_register_again(why);
		return;
	}
	if (++mi.failures >= MIAAS_FAILURES_MAX) {
		log_warnx("miaas: heartbeat failed %u times in a row (%s)",
		    mi.failures, why);
		miaas_register_again("too many failed heartbeats");
		return;
	}
	/* 422 is the server's validation: say exactly what it said. */
	log_warnx("miaas: heartbeat failed (%s), %u in a row; again in %u ms",
	    why, mi.failures, cp_loop_retry(&mi.beat));
}

static void
miaas_heartbeat_start(void)
{
	char	 path[128];
	char	*body;

	if (mi.node_id[0] == '\0') {
		cp_loop_after(&mi.reg, 0);
		return;
	}
	(void)snprintf(path, sizeof(path), "/api/v1/nodes/%s/heartbeat",
	    mi.node_id);
	if ((body = miaas_heartbeat_body()) == NULL)
		fatalx("%s: json_dumps", __func__);
	mi.beat.req = miaas_post(path, body, 1, miaas_beaten);
	free(body);
	if (mi.beat.req == NULL)
		(void)cp_loop_retry(&mi.beat);
}

/* --- the parent's messages --------------------------------------------- */

static int
miaas_split_url(const char *url)
{
	CURLU		*u;
	char		*host = NULL, *port = NULL;
	const char	*errstr;
	size_t		 len;
	int		 rc = -1;

	if ((u = curl_url()) == NULL)
		fatalx("%s: curl_url", __func__);
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port,
	    CURLU_DEFAULT_PORT) == CURLUE_OK) {
		/* An IPv6 literal comes in brackets. */
		len = strlen(host);
		if (host[0] == '[' && len > 2 && host[len - 1] == ']') {
			host[len - 1] = '\0';
			memmove(host, host + 1, len - 1);
		}
		if (strlcpy(mi.host, host, sizeof(mi.host)) < sizeof(mi.host) &&
		    (mi.port = (uint16_t)strtonum(port, 1, 65535,
		    &errstr)) != 0)
			rc = 0;
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	if (rc == 0) {
		(void)strlcpy(mi.url, url, sizeof(mi.url));
		len = strlen(mi.url);
		while (len > 0 && mi.url[len - 1] == '/')
			mi.url[--len] = '\0';
	}
	return rc;
}

static void
miaas_identity(const struct imsg *imsg)
{
	struct wire_netd_identity	 id;
	struct http_client_conf		 conf;
	const char			*why;

	if ((why = wire_decode_netd_identity(imsg, &id)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	cp_loop_stop(&mi.reg);
	cp_loop_stop(&mi.beat);
	if (miaas_split_url(id.url) == -1)
		fatalx("%s: unusable control-plane url", __func__);
	(void)strlcpy(mi.name, id.node_name, sizeof(mi.name));
	(void)strlcpy(mi.node_id, id.node_id, sizeof(mi.node_id));
	(void)strlcpy(mi.token, id.credential, sizeof(mi.token));
	mi.heartbeat_sec = id.heartbeat_sec;
	if (mi.http == NULL) {
		memset(&conf, 0, sizeof(conf));
		conf.tls.ca = mi.env.ca;
		conf.tls.ca_len = mi.env.ca_len;
		(void)strlcpy(mi.pin, id.pin_sha256, sizeof(mi.pin));
		conf.tls.pin = mi.pin[0] != '\0' ? mi.pin : NULL;
		if ((mi.http = http_client_new(mi.env.base, mi.env.resolve,
		    &conf)) == NULL)
			fatalx("miaas: cannot set up the HTTP client");
	}
	explicit_bzero(&id, sizeof(id));
	/* A kept identity is tried with a heartbeat; a refusal registers. */
	if (mi.node_id[0] != '\0') {
		log_info("miaas: node %s, heartbeat every %u s", mi.node_id,
		    mi.heartbeat_sec);
		cp_loop_after(&mi.beat, 0);
	} else
		cp_loop_after(&mi.reg, 0);
}

/* The heartbeat of the native protocol's kind: nothing MIaaS wants. */
static void
miaas_node(const struct imsg *imsg)
{
	struct wire_netd_node	 node;
	const char		*why;

	if ((why = wire_decode_netd_node(imsg, &node)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
}

static void
miaas_status(const struct netd_status *status)
{
	mi.status = *status;
	mi.have_status = 1;
}

static void
miaas_init(const struct proto_env *env)
{
	mi.env = *env;
	mi.heartbeat_sec = 30;
	backoff_init(&mi.churn, 1000, MIAAS_RETRY_MAX_MS);
	cp_loop_init(&mi.reg, env->base, "miaas: registration",
	    miaas_register_start, 1000, MIAAS_RETRY_MAX_MS);
	cp_loop_init(&mi.beat, env->base, "miaas: heartbeat",
	    miaas_heartbeat_start, 1000, MIAAS_RETRY_MAX_MS);
}

const struct proto proto_miaas = {
	.name = "miaas",
	.init = miaas_init,
	.identity = miaas_identity,
	.node = miaas_node,
	.accept = NULL,		/* MIaaS has no tasks */
	.event = NULL,
	.status = miaas_status,
};
