/*
 * proto_native.c: netd's client of berth's native control-plane protocol
 * (PROTOCOL.md), one of the dialects of proto.h.  It holds the node key
 * and credential in memory only; they come from the parent
 * (IMSG_NETD_IDENTITY) and new ones go back to it (IMSG_NETD_ENROLLED)
 * before they are used.  Five loops share one HTTP client:
 * enrol (until a 201), heartbeat (every heartbeat_sec), poll (one
 * long-poll outstanding), accept (one task at a time, in the order the
 * parent journalled them) and outbox (events in the order the parent
 * spooled them).  Each has its own timer and backoff (capped exponential,
 * full jitter, PROTOCOL.md 2.5); each request is signed afresh with a new
 * nonce.  Only credential_unknown makes the node enrol again.
 *
 * Nothing here touches a file: the key, the credential and the metrics
 * come from the parent, and what must be kept goes back to it.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backoff.h"
#include "base64url.h"
#include "berth.h"
#include "http.h"
#include "imsg.h"
#include "log.h"
#include "proto.h"
#include "status.h"
#include "task.h"
#include "wire.h"

#define NATIVE_AGENT_VERSION	"berth " BERTH_VERSION
#define NATIVE_NONCE_LEN	16
#define NATIVE_EVENTS_MAX	100	/* per request, PROTOCOL.md 2.7 */
#define NATIVE_SEEN_MAX		256	/* task ids already handed over */
#define NATIVE_BODY_MAX		(1024 * 1024)
#define NATIVE_SKEW_WARN_SEC	60	/* a clock this far off is said once */

enum native_outcome {
	OUTCOME_OK,		/* 2xx */
	OUTCOME_RETRY,		/* back off, send again */
	OUTCOME_REENROL,	/* credential_unknown */
	OUTCOME_FINAL		/* do not repeat this request */
};

struct native_loop {
	const char		*name;
	struct event		*timer;
	struct backoff		 backoff;
	struct http_request	*req;
	void			(*start)(void);
};

struct native_event {
	TAILQ_ENTRY(native_event) entry;
	struct wire_event	 ev;
};

struct native_accept {
	TAILQ_ENTRY(native_accept) entry;
	struct wire_task_ref	 ref;
};

static struct {
	struct event_base	*base;
	struct imsgev		*parent;
	struct resolve		*resolve;
	struct http_client	*http;
	const char		*ca;
	size_t			 ca_len;
	int			 have_identity;
	int			 enrolled;
	int			 stopped;	/* token used up */
	int			 server_intervals; /* the server has spoken */
	int			 signed_told;	/* parent knows tasks_signed */
	EVP_PKEY		*key;
	char			 public_key[BASE64URL_LEN(32) + 1];
	char			 node_id[WIRE_ID_LEN];
	char			 credential[WIRE_CREDENTIAL_LEN];
	char			 token[WIRE_CREDENTIAL_LEN];
	char			 base_url[WIRE_URL_LEN];
	char			 prefix[WIRE_URL_LEN];	/* path part of url */
	char			 node_name[128];
	char			 binary_sha256[WIRE_HEX_LEN];
	char			 policy_hash[WIRE_HEX_LEN];
	uint32_t		 heartbeat_sec;
	uint32_t		 poll_timeout_sec;
	uint32_t		 poll_interval_ms;
	uint32_t		 retry_max_sec;
	char			 pin_sha256[WIRE_PIN_LEN];	/* "": none */
	/* The control plane's clock minus ours, from its latest answer. */
	long long		 clock_offset;
	int			 clock_warned;
	int64_t			 after_seq;
	int			 have_status;
	struct netd_status	 status;
	struct wire_netd_node	 node;
	char			 seen[NATIVE_SEEN_MAX][WIRE_ID_LEN];
	size_t			 nseen;
	TAILQ_HEAD(, native_event)  events;
	TAILQ_HEAD(, native_accept) accepts;
	size_t			 batch;		/* events in flight */
	struct native_loop	 enrol, heartbeat, poll, accept, outbox;
} nat;

static void	 native_enrol_start(void);
static void	 native_heartbeat_start(void);
static void	 native_poll_start(void);
static void	 native_accept_start(void);
static void	 native_outbox_start(void);

/* --- loops ------------------------------------------------------------ */

static void
native_loop_fire(int fd, short event, void *arg)
{
	struct native_loop	*loop = arg;

	(void)fd;
	(void)event;
	if (loop->req == NULL && !nat.stopped)
		loop->start();
}

static void
native_loop_init(struct native_loop *loop, const char *name,
    void (*start)(void))
{
	loop->name = name;
	loop->start = start;
	backoff_init(&loop->backoff, 1000, 300 * 1000);
	if ((loop->timer = evtimer_new(nat.base, native_loop_fire,
	    loop)) == NULL)
		fatalx("%s: evtimer_new", __func__);
}

static void
native_loop_after(struct native_loop *loop, uint32_t ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)evtimer_del(loop->timer);
	(void)evtimer_add(loop->timer, &tv);
}

/*
 * A failure: wait a random time under the loop's ceiling, or what the
 * server's Retry-After says (dictated_sec, -1: it said nothing), never
 * more than retry_max_sec and never less than 0.1 s.
 */
static void
native_loop_backoff(struct native_loop *loop, long dictated_sec)
{
	uint32_t	 ms;

	loop->backoff.cap_ms = nat.retry_max_sec * 1000;
	if (dictated_sec >= 0) {
		ms = backoff_next_dictated(&loop->backoff,
		    (uint32_t)dictated_sec * 1000);
		log_debug("native: %s again in %u ms (Retry-After %ld s)",
		    loop->name, ms < 100 ? 100 : ms, dictated_sec);
	} else {
		ms = backoff_next(&loop->backoff);
		log_debug("native: %s again in %u ms", loop->name,
		    ms < 100 ? 100 : ms);
	}
	native_loop_after(loop, ms < 100 ? 100 : ms);
}

/* A request that could not even be made. */
static void
native_loop_retry(struct native_loop *loop)
{
	native_loop_backoff(loop, -1);
}

/*
 * A retryable answer.  Retry-After counts on 429 and 5xx only
 * (PROTOCOL.md 2.4); elsewhere it is not a request to slow down.
 */
static void
native_loop_retry_answer(struct native_loop *loop,
    const struct http_response *r)
{
	long	 dictated = -1;

	if (r->status == 429 || r->status >= 500)
		dictated = r->retry_after;
	native_loop_backoff(loop, dictated);
}

static void
native_loop_stop(struct native_loop *loop)
{
	(void)evtimer_del(loop->timer);
	if (loop->req != NULL)
		http_request_cancel(loop->req);
	loop->req = NULL;
}

/* --- requests --------------------------------------------------------- */

static void
native_sha256_hex(const char *data, size_t len, char out[WIRE_HEX_LEN])
{
	unsigned char	 md[32];
	unsigned int	 mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		fatalx("%s: EVP_Digest", __func__);
	for (i = 0; i < sizeof(md); i++)
		(void)snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Berth-Signature over the six lines of PROTOCOL.md 3.2, fresh nonce. */
static int
native_sign(const char *method, const char *target, const char *body,
    char *header, size_t len)
{
	EVP_MD_CTX	*ctx;
	unsigned char	 nonce[NATIVE_NONCE_LEN], sig[64];
	char		 nonce64[BASE64URL_LEN(NATIVE_NONCE_LEN) + 1];
	char		 sig64[BASE64URL_LEN(64) + 1], hash[WIRE_HEX_LEN];
	char		*msg;
	size_t		 siglen = sizeof(sig);
	/* The server checks t against its clock, so t is read on it. */
	long long	 now = (long long)time(NULL) + nat.clock_offset;
	int		 n, rc = -1;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -1;
	base64url_encode(nonce, sizeof(nonce), nonce64);
	native_sha256_hex(body, strlen(body), hash);
	if ((n = asprintf(&msg, "berth-request-v1\n%s\n%s\n%lld\n%s\n%s",
	    method, target, now, nonce64, hash)) == -1)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, nat.key) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)msg,
	    (size_t)n) == 1 && siglen == sizeof(sig)) {
		base64url_encode(sig, sizeof(sig), sig64);
		if ((size_t)snprintf(header, len, "Berth-Signature: t=%lld, "
		    "n=%s, sig=%s", now, nonce64, sig64) < len)
			rc = 0;
	}
	EVP_MD_CTX_free(ctx);
	free(msg);
	return rc;
}

/*
 * Send a signed request; body NULL for GET.  With the credential unless
 * it is the enrolment.  NULL if it could not be made (logged).
 */
static struct http_request *
native_request(const char *method, const char *path, const char *body,
    long timeout_ms, http_done_cb done, void *arg)
{
	struct http_request_spec	 spec;
	struct http_request		*req;
	char				 url[HTTP_URL_MAX], target[HTTP_URL_MAX];
	char				 sig[256], auth[WIRE_CREDENTIAL_LEN + 32];
	const char			*headers[3] = { NULL, NULL, NULL };

	if ((size_t)snprintf(url, sizeof(url), "%s%s", nat.base_url, path) >=
	    sizeof(url) || (size_t)snprintf(target, sizeof(target), "%s%s",
	    nat.prefix, path) >= sizeof(target) ||
	    native_sign(method, target, body != NULL ? body : "", sig,
	    sizeof(sig)) == -1) {
		log_warnx("native: cannot sign %s %s", method, path);
		return NULL;
	}
	headers[0] = sig;
	if (nat.enrolled) {
		(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    nat.credential);
		headers[1] = auth;
	}
	memset(&spec, 0, sizeof(spec));
	spec.method = method;
	spec.url = url;
	spec.json = body;
	spec.headers = headers;
	spec.parse_json = 1;
	spec.max_response = NATIVE_BODY_MAX;
	spec.timeout_ms = timeout_ms;
	spec.on_done = done;
	spec.arg = arg;
	req = http_request(nat.http, &spec);
	explicit_bzero(auth, sizeof(auth));
	return req;
}

/*
 * The control plane's clock against ours, from an answer's Date (or the
 * server_time of its body without one).  The offset goes into the t of
 * request signatures (PROTOCOL.md 2.4); task expiry keeps the local
 * clock (5.3), so that no answer can make an expired task current.
 */
static void
native_server_clock(const struct http_response *r)
{
	json_t		*t = NULL;
	long long	 server = r->date, offset;

	if (server == 0 && r->json != NULL &&
	    !json_is_integer(t = json_object_get(r->json, "server_time")))
		t = json_object_get(json_object_get(r->json, "error"),
		    "server_time");
	if (server == 0 && json_is_integer(t))
		server = json_integer_value(t);
	if (server <= 0)
		return;
	offset = server - (long long)time(NULL);
	/* Date is whole seconds: a second either way is no news. */
	if (offset >= -1 && offset <= 1)
		offset = 0;
	nat.clock_offset = offset;
	if (!nat.clock_warned && (offset > NATIVE_SKEW_WARN_SEC ||
	    offset < -NATIVE_SKEW_WARN_SEC)) {
		nat.clock_warned = 1;
		log_warnx("native: the local clock is %lld s %s the control "
		    "plane's; requests are signed with its time, tasks expire "
		    "by ours", offset < 0 ? -offset : offset,
		    offset > 0 ? "behind" : "ahead of");
	}
}

/* PROTOCOL.md 2.4: what the node does with an answer. */
static enum native_outcome
native_classify(const struct http_response *r, const char **code)
{
	json_t	*err;

	*code = "";
	/* Every answer passes here: each says what time the server has. */
	native_server_clock(r);
	if (r->status == -1) {
		*code = r->error != NULL ? r->error : "network error";
		return OUTCOME_RETRY;
	}
	if (r->status >= 200 && r->status < 300)
		return r->json != NULL ? OUTCOME_OK : OUTCOME_RETRY;
	if (r->json != NULL && (err = json_object_get(r->json,
	    "error")) != NULL && json_is_string(json_object_get(err, "code")))
		*code = json_string_value(json_object_get(err, "code"));
	if (strcmp(*code, "credential_unknown") == 0)
		return OUTCOME_REENROL;
	if (r->status >= 500 || r->status == 429 ||
	    strcmp(*code, "clock_skew") == 0 || strcmp(*code, "replayed") == 0)
		return OUTCOME_RETRY;
	if (*code[0] == '\0')
		*code = "error";
	return OUTCOME_FINAL;
}

static void
native_intervals(json_t *answer)
{
	json_t		*iv = json_object_get(answer, "intervals");
	json_int_t	 hb = nat.heartbeat_sec, poll = nat.poll_timeout_sec;
	json_int_t	 retry = nat.retry_max_sec;

	/* The parent keeps the one-way latch; tell it once. */
	if (nat.enrolled && !nat.signed_told &&
	    json_is_true(json_object_get(answer, "tasks_signed"))) {
		if (imsgev_compose(nat.parent, IMSG_NETD_SIGNED, 0, 0, -1,
		    NULL, 0) == -1)
			fatal("%s: compose", __func__);
		nat.signed_told = 1;
	}
	if (!json_is_object(iv))
		return;
	nat.server_intervals = 1;
	(void)json_unpack(iv, "{s?I, s?I, s?I}", "heartbeat_sec", &hb,
	    "poll_timeout_sec", &poll, "retry_max_sec", &retry);
	nat.heartbeat_sec = hb < 1 ? 1 : hb > 3600 ? 3600 : (uint32_t)hb;
	nat.poll_timeout_sec = poll < 0 ? 0 : poll > 60 ? 60 : (uint32_t)poll;
	nat.retry_max_sec = retry < 1 ? 1 : retry > 3600 ? 3600 :
	    (uint32_t)retry;
}

static void	 native_reenrol(void);

/* --- what heartbeats and enrolment report ----------------------------- */

static const struct status_disk *
native_disk(void)
{
	size_t	 i;

	for (i = 0; i < nat.status.metrics.ndisks; i++)
		if (strcmp(nat.status.metrics.disks[i].use, "docker") == 0)
			return &nat.status.metrics.disks[i];
	return nat.status.metrics.ndisks > 0 ? &nat.status.metrics.disks[0] :
	    NULL;
}

static json_t *
native_capabilities(void)
{
	const struct status_metrics	*m = &nat.status.metrics;
	const struct status_disk	*disk = native_disk();
	json_t				*gpus = json_array();
	size_t				 i;

	for (i = 0; i < m->ngpus; i++)
		json_array_append_new(gpus, json_pack("{s:s, s:I, s:s}",
		    "name", m->gpus[i].name, "memory_bytes",
		    (json_int_t)m->gpus[i].memory_total_bytes, "uuid",
		    m->gpus[i].uuid));
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}",
	    "os", "linux", "kernel", m->kernel, "arch", m->machine[0] != '\0' ?
	    m->machine : "unknown", "cpu_count",
	    (json_int_t)(m->cpu_count > 0 ? m->cpu_count : 1),
	    "memory_bytes", (json_int_t)m->memory_total_bytes, "disk_bytes",
	    (json_int_t)(disk != NULL ? disk->total_bytes : 0),
	    "docker_version", nat.status.docker_version, "gpus", gpus);
}

static double
native_clamp_percent(double v)
{
	return v < 0 ? 0 : v > 100 ? 100 : v;
}

/* What admission control would still admit (DESIGN.md 5). */
static json_t *
native_capacity(void)
{
	const struct netd_status	*s = &nat.status;
	uint64_t			 mem_cap, mem_left = 0;
	uint32_t			 left = 0;

	if (s->capacity.max_containers > s->containers_running)
		left = s->capacity.max_containers - s->containers_running;
	mem_cap = s->metrics.memory_total_bytes / 100 *
	    s->capacity.max_memory_percent;
	if (mem_cap > s->metrics.memory_used_bytes)
		mem_left = mem_cap - s->metrics.memory_used_bytes;
	return json_pack("{s:I, s:f, s:I}", "containers_left",
	    (json_int_t)left, "cpu_percent_left",
	    native_clamp_percent(s->capacity.max_cpu_percent -
	    s->metrics.cpu_percent), "memory_bytes_left",
	    (json_int_t)mem_left);
}

static json_t *
native_metrics(void)
{
	const struct status_metrics	*m = &nat.status.metrics;
	const struct status_disk	*disk = native_disk();

	return json_pack("{s:f, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:I, s:I,"
	    " s:o}", "cpu_percent", native_clamp_percent(m->cpu_percent),
	    "memory_used_bytes", (json_int_t)m->memory_used_bytes,
	    "memory_total_bytes", (json_int_t)m->memory_total_bytes,
	    "disk_free_bytes", (json_int_t)(disk ? disk->free_bytes : 0),
	    "disk_total_bytes", (json_int_t)(disk ? disk->total_bytes : 0),
	    "load1", m->load1 < 0 ? 0 : m->load1,
	    "load5", m->load5 < 0 ? 0 : m->load5,
	    "load15", m->load15 < 0 ? 0 : m->load15,
	    "containers_running", (json_int_t)nat.status.containers_running,
	    "containers_total", (json_int_t)nat.status.containers_total,
	    "capacity", native_capacity());
}

static json_t *
native_tasks_running(void)
{
	json_t		*list = json_array();
	uint32_t	 i;

	for (i = 0; i < nat.node.ntasks; i++)
		json_array_append_new(list,
		    json_string(nat.node.tasks_running[i]));
	return list;
}

static char *
native_heartbeat_body(void)
{
	static const char zeros[] = "0000000000000000000000000000000000000000"
	    "000000000000000000000000";
	json_t	*v;
	char	*body;

	v = json_pack("{s:I, s:s, s:o, s:o, s:s, s:s, s:{s:I, s:s}, s:o}",
	    "time", (json_int_t)time(NULL), "agent_version",
	    NATIVE_AGENT_VERSION, "metrics", native_metrics(), "capabilities",
	    native_capabilities(), "binary_sha256", nat.binary_sha256,
	    "policy_hash", nat.policy_hash[0] != '\0' ? nat.policy_hash : zeros,
	    "audit_head", "records", (json_int_t)nat.node.audit_records,
	    "sha256", nat.node.audit_head[0] != '\0' ? nat.node.audit_head :
	    zeros, "tasks_running", native_tasks_running());
	if (v == NULL || (body = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(v);
	return body;
}

/* --- enrolment -------------------------------------------------------- */

static void
native_send_enrolled(const char *key64, int tasks_signed)
{
	struct wire_netd_enrolled	 en;

	memset(&en, 0, sizeof(en));
	(void)strlcpy(en.node_id, nat.node_id, sizeof(en.node_id));
	(void)strlcpy(en.credential, nat.credential, sizeof(en.credential));
	if (base64url_decode(key64, en.task_key, sizeof(en.task_key)) == -1)
		fatalx("%s: task key", __func__);
	en.tasks_signed = tasks_signed ? 1 : 0;
	en.heartbeat_sec = nat.heartbeat_sec;
	en.poll_timeout_sec = nat.poll_timeout_sec;
	en.retry_max_sec = nat.retry_max_sec;
	if (imsgev_compose(nat.parent, IMSG_NETD_ENROLLED, 0, 0, -1, &en,
	    sizeof(en)) == -1)
		fatal("%s: compose", __func__);
	explicit_bzero(&en, sizeof(en));
}

static void
native_start_loops(void)
{
	native_loop_after(&nat.heartbeat, 0);
	native_loop_after(&nat.poll, 0);
	native_loop_after(&nat.accept, 0);
	native_loop_after(&nat.outbox, 0);
}

/* A 201: hand it to the parent, which stores it and gives it back. */
static int
native_enrolled(json_t *answer)
{
	const char	*node, *cred, *key;
	uint8_t		 raw[32];
	int		 tasks_signed = 0;

	if (json_unpack(answer, "{s:s, s:s, s:s, s?b}", "node_id", &node,
	    "credential", &cred, "task_signing_key", &key, "tasks_signed",
	    &tasks_signed) == -1 || !wire_id_valid(node) ||
	    strlen(cred) == 0 || strlen(cred) > 255 ||
	    strspn(cred, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_-") != strlen(cred) ||
	    base64url_decode(key, raw, sizeof(raw)) == -1)
		return -1;
	(void)strlcpy(nat.node_id, node, sizeof(nat.node_id));
	(void)strlcpy(nat.credential, cred, sizeof(nat.credential));
	native_intervals(answer);
	native_send_enrolled(key, tasks_signed);
	explicit_bzero(nat.token, sizeof(nat.token));
	/*
	 * Nothing is used before the parent has it on disk: it answers
	 * with a new IDENTITY, which starts the loops (PROTOCOL.md 3.1).
	 */
	log_info("native: enrolled as node %s", nat.node_id);
	return 0;
}

static void
native_enrol_done(struct http_request *req, const struct http_response *r,
    void *arg)
{
	const char	*code;

	(void)req;
	(void)arg;
	nat.enrol.req = NULL;
	switch (native_classify(r, &code)) {
	case OUTCOME_OK:
		if (r->status == 201 && native_enrolled(r->json) == 0) {
			backoff_reset(&nat.enrol.backoff);
			return;
		}
		log_warnx("native: malformed enrolment answer");
		native_loop_retry(&nat.enrol);
		return;
	case OUTCOME_FINAL:
		if (strcmp(code, "token_invalid") == 0) {
			/* PROTOCOL.md 3.3: an operator must give a new one. */
			log_warnx("native: the enrolment token is unknown, "
			    "expired or used up; give the node a new one");
			nat.stopped = 1;
			return;
		}
		log_warnx("native: enrolment refused: %s", code);
		native_loop_after(&nat.enrol, nat.retry_max_sec * 1000);
		return;
	default:
		log_warnx("native: enrolment failed: %s", code);
		native_loop_retry_answer(&nat.enrol, r);
		return;
	}
}

static void
native_enrol_start(void)
{
	json_t	*v;
	char	*body;

	if (!nat.have_status) {
		/* Capabilities come with the parent's first status. */
		native_loop_after(&nat.enrol, 500);
		return;
	}
	v = json_pack("{s:s, s:s, s:s, s:s, s:o}", "token", nat.token,
	    "name", nat.node_name, "public_key", nat.public_key,
	    "agent_version", NATIVE_AGENT_VERSION, "capabilities",
	    native_capabilities());
	if (v == NULL || (body = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(v);
	nat.enrol.req = native_request("POST", "/v1/enrol", body, 0,
	    native_enrol_done, NULL);
	explicit_bzero(body, strlen(body));
	free(body);
	if (nat.enrol.req == NULL)
		native_loop_retry(&nat.enrol);
}

/* --- heartbeat -------------------------------------------------------- */

static void
native_heartbeat_done(struct http_request *req,
    const struct http_response *r, void *arg)
{
	const char	*code;

	(void)req;
	(void)arg;
	nat.heartbeat.req = NULL;
	switch (native_classify(r, &code)) {
	case OUTCOME_OK:
		backoff_reset(&nat.heartbeat.backoff);
		native_intervals(r->json);
		native_loop_after(&nat.heartbeat, nat.heartbeat_sec * 1000);
		return;
	case OUTCOME_REENROL:
		native_reenrol();
		return;
	case OUTCOME_FINAL:
		/* Final for a heartbeat: log, keep the schedule. */
		log_warnx("native: heartbeat refused: %s", code);
		native_loop_after(&nat.heartbeat, nat.heartbeat_sec * 1000);
		return;
	default:
		log_debug("native: heartbeat failed: %s", code);
		native_loop_retry_answer(&nat.heartbeat, r);
	}
}

static void
native_heartbeat_start(void)
{
	char	 path[128], *body;

	if (!nat.have_status) {
		native_loop_after(&nat.heartbeat, 500);
		return;
	}
	(void)snprintf(path, sizeof(path), "/v1/nodes/%s/heartbeat",
	    nat.node_id);
	body = native_heartbeat_body();
	nat.heartbeat.req = native_request("POST", path, body, 0,
	    native_heartbeat_done, NULL);
	free(body);
	if (nat.heartbeat.req == NULL)
		native_loop_retry(&nat.heartbeat);
}

/* --- long-poll -------------------------------------------------------- */

static int
native_seen(const char *id)
{
	size_t	 i;

	for (i = 0; i < nat.nseen && i < NATIVE_SEEN_MAX; i++)
		if (strcmp(nat.seen[i], id) == 0)
			return 1;
	(void)strlcpy(nat.seen[nat.nseen % NATIVE_SEEN_MAX], id,
	    sizeof(nat.seen[0]));
	nat.nseen++;
	return 0;
}

/*
 * One offered task: netd's decoder first; the parent decides, also on
 * one netd refused (it needs the id for the rejected event).  A task
 * the server repeats while it waits for our decision goes over once.
 */
static void
native_offer(json_t *v)
{
	struct task	 t;
	json_t		*id;
	char		 err[256], *json;

	if ((id = json_object_get(v, "id")) == NULL || !json_is_string(id) ||
	    !wire_id_valid(json_string_value(id))) {
		log_warnx("native: a task without a usable id, ignored");
		return;
	}
	if (native_seen(json_string_value(id)))
		return;
	if (task_decode_json(v, &t, err, sizeof(err)) == -1)
		log_warnx("native: task %s is malformed: %s", t.id, err);
	else if (t.seq > nat.after_seq)
		nat.after_seq = t.seq;
	task_free(&t);
	if ((json = json_dumps(v, JSON_COMPACT)) == NULL)
		fatalx("%s: json_dumps", __func__);
	if (strlen(json) > TASK_JSON_MAX)
		log_warnx("native: task %s of %zu bytes is too large",
		    json_string_value(id), strlen(json));
	else if (imsgev_compose(nat.parent, IMSG_TASK_OFFER, 0, 0, -1, json,
	    strlen(json)) == -1)
		fatal("%s: compose", __func__);
	free(json);
}

static void
native_poll_answer(json_t *answer)
{
	json_t	*tasks = json_object_get(answer, "tasks"), *t;
	size_t	 i;

	native_intervals(answer);
	if (!json_is_array(tasks))
		return;
	json_array_foreach(tasks, i, t)
		native_offer(t);
}

static void
native_poll_done(struct http_request *req, const struct http_response *r,
    void *arg)
{
	const char	*code;

	(void)req;
	(void)arg;
	nat.poll.req = NULL;
	switch (native_classify(r, &code)) {
	case OUTCOME_OK:
		backoff_reset(&nat.poll.backoff);
		native_poll_answer(r->json);
		native_loop_after(&nat.poll, nat.poll_timeout_sec == 0 ?
		    nat.poll_interval_ms : 0);
		return;
	case OUTCOME_REENROL:
		native_reenrol();
		return;
	case OUTCOME_FINAL:
		log_warnx("native: long-poll refused: %s", code);
		native_loop_after(&nat.poll, nat.retry_max_sec * 1000);
		return;
	default:
		log_debug("native: long-poll failed: %s", code);
		native_loop_retry_answer(&nat.poll, r);
	}
}

static void
native_poll_start(void)
{
	char	 path[192];

	(void)snprintf(path, sizeof(path),
	    "/v1/nodes/%s/tasks?wait=%u&after_seq=%lld", nat.node_id,
	    nat.poll_timeout_sec, (long long)nat.after_seq);
	nat.poll.req = native_request("GET", path, NULL,
	    (long)(nat.poll_timeout_sec + 15) * 1000, native_poll_done, NULL);
	if (nat.poll.req == NULL)
		native_loop_retry(&nat.poll);
}

/* --- accept ----------------------------------------------------------- */

static void
native_answer(const char *task_id, enum wire_task_outcome outcome,
    const char *reason)
{
	struct wire_task_answer	 ans;

	memset(&ans, 0, sizeof(ans));
	(void)strlcpy(ans.task_id, task_id, sizeof(ans.task_id));
	ans.outcome = outcome;
	(void)strlcpy(ans.reason, reason, sizeof(ans.reason));
	if (imsgev_compose(nat.parent, IMSG_TASK_ANSWER, 0, 0, -1, &ans,
	    sizeof(ans)) == -1)
		fatal("%s: compose", __func__);
}

static void
native_accept_next(struct native_accept *a, enum wire_task_outcome outcome,
    const char *reason)
{
	native_answer(a->ref.task_id, outcome, reason);
	TAILQ_REMOVE(&nat.accepts, a, entry);
	free(a);
	backoff_reset(&nat.accept.backoff);
	if (!TAILQ_EMPTY(&nat.accepts))
		native_loop_after(&nat.accept, 0);
}

static void
native_accept_done(struct http_request *req, const struct http_response *r,
    void *arg)
{
	struct native_accept	*a = TAILQ_FIRST(&nat.accepts);
	const char		*code;

	(void)req;
	(void)arg;
	nat.accept.req = NULL;
	if (a == NULL)
		return;
	switch (native_classify(r, &code)) {
	case OUTCOME_OK:
		native_accept_next(a, TASK_ANSWER_ACCEPTED, "accepted");
		return;
	case OUTCOME_REENROL:
		native_reenrol();
		return;
	case OUTCOME_FINAL:
		log_info("native: accept of %s: %s", a->ref.task_id, code);
		native_accept_next(a, TASK_ANSWER_CLOSED, code);
		return;
	default:
		/* Retry until not_after, then the task is closed unrun. */
		if (a->ref.not_after < time(NULL)) {
			native_accept_next(a, TASK_ANSWER_CLOSED,
			    "expired while the accept failed");
			return;
		}
		native_loop_retry_answer(&nat.accept, r);
	}
}

static void
native_accept_start(void)
{
	struct native_accept	*a;
	char			 path[192];

	if ((a = TAILQ_FIRST(&nat.accepts)) == NULL)
		return;
	(void)snprintf(path, sizeof(path), "/v1/nodes/%s/tasks/%s/accept",
	    nat.node_id, a->ref.task_id);
	nat.accept.req = native_request("POST", path, "{}", 0,
	    native_accept_done, NULL);
	if (nat.accept.req == NULL)
		native_loop_retry(&nat.accept);
}

/* --- outbox ----------------------------------------------------------- */

static json_t *
native_event_json(const struct wire_event *ev)
{
	json_t	*v;

	v = json_pack("{s:I, s:I, s:s}", "seq", (json_int_t)ev->seq, "time",
	    (json_int_t)ev->time, "state", ev->state);
	if (v == NULL)
		fatalx("%s: cannot encode", __func__);
	if (ev->stage[0] != '\0')
		(void)json_object_set_new(v, "stage", json_string(ev->stage));
	if (ev->message[0] != '\0')
		(void)json_object_set_new(v, "message",
		    json_string(ev->message));
	if (ev->has_exit_code)
		(void)json_object_set_new(v, "exit_code",
		    json_integer(ev->exit_code));
	return v;
}

/* Drop the task's events up to seq and tell the parent. */
static void
native_outbox_acked(const char *task_id, uint32_t seq)
{
	struct native_event	*e, *next;
	struct wire_event_ack	 ack;

	for (e = TAILQ_FIRST(&nat.events); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (strcmp(e->ev.task_id, task_id) == 0 && e->ev.seq <= seq) {
			TAILQ_REMOVE(&nat.events, e, entry);
			free(e);
		}
	}
	memset(&ack, 0, sizeof(ack));
	(void)strlcpy(ack.task_id, task_id, sizeof(ack.task_id));
	ack.acked_seq = seq;
	if (imsgev_compose(nat.parent, IMSG_EVENT_ACKED, 0, 0, -1, &ack,
	    sizeof(ack)) == -1)
		fatal("%s: compose", __func__);
}

/* The last seq of the batch in flight (the first events of one task). */
static uint32_t
native_batch_last(void)
{
	struct native_event	*e = TAILQ_FIRST(&nat.events);
	uint32_t		 last = 0;
	size_t			 n = 0;
	const char		*task;

	if (e == NULL)
		return 0;
	task = e->ev.task_id;
	for (; e != NULL && n < nat.batch; e = TAILQ_NEXT(e, entry), n++)
		if (strcmp(e->ev.task_id, task) == 0 && e->ev.seq > last)
			last = e->ev.seq;
	return last;
}

static void
native_outbox_done(struct http_request *req, const struct http_response *r,
    void *arg)
{
	struct native_event	*first = TAILQ_FIRST(&nat.events);
	char			 task[WIRE_ID_LEN];
	json_int_t		 acked = 0;
	const char		*code;

	(void)req;
	(void)arg;
	nat.outbox.req = NULL;
	if (first == NULL)
		return;
	(void)strlcpy(task, first->ev.task_id, sizeof(task));
	switch (native_classify(r, &code)) {
	case OUTCOME_OK:
		backoff_reset(&nat.outbox.backoff);
		/* A 200 stored the whole batch, whatever acked_seq says. */
		if (json_unpack(r->json, "{s:I}", "acked_seq", &acked) == -1 ||
		    acked < native_batch_last() || acked > INT32_MAX)
			acked = native_batch_last();
		native_outbox_acked(task, (uint32_t)acked);
		native_loop_after(&nat.outbox, 0);
		return;
	case OUTCOME_REENROL:
		native_reenrol();
		return;
	case OUTCOME_FINAL:
		/* Final for events: drop that outbox entry and log it. */
		log_warnx("native: events of task %s refused: %s; dropped",
		    task, code);
		native_outbox_acked(task, native_batch_last());
		native_loop_after(&nat.outbox, 0);
		return;
	default:
		log_debug("native: events of %s failed: %s", task, code);
		native_loop_retry_answer(&nat.outbox, r);
	}
}

static void
native_outbox_start(void)
{
	struct native_event	*e = TAILQ_FIRST(&nat.events);
	json_t			*list, *body;
	char			 path[192], *json;
	const char		*task;

	if (e == NULL)
		return;
	task = e->ev.task_id;
	list = json_array();
	/* The first events, in order, as long as they are the same task's. */
	for (nat.batch = 0; e != NULL && nat.batch < NATIVE_EVENTS_MAX &&
	    strcmp(e->ev.task_id, task) == 0; e = TAILQ_NEXT(e, entry),
	    nat.batch++)
		json_array_append_new(list, native_event_json(&e->ev));
	if ((body = json_pack("{s:o}", "events", list)) == NULL ||
	    (json = json_dumps(body, JSON_COMPACT)) == NULL)
		fatalx("%s: cannot encode", __func__);
	json_decref(body);
	(void)snprintf(path, sizeof(path), "/v1/nodes/%s/tasks/%s/events",
	    nat.node_id, task);
	nat.outbox.req = native_request("POST", path, json, 0,
	    native_outbox_done, NULL);
	free(json);
	if (nat.outbox.req == NULL)
		native_loop_retry(&nat.outbox);
}

/* --- identity and the parent's messages ------------------------------- */

static void
native_stop_loops(void)
{
	native_loop_stop(&nat.enrol);
	native_loop_stop(&nat.heartbeat);
	native_loop_stop(&nat.poll);
	native_loop_stop(&nat.accept);
	native_loop_stop(&nat.outbox);
}

/* credential_unknown: forget it, and wait for the parent's new identity. */
static void
native_reenrol(void)
{
	if (!nat.enrolled)
		return;
	log_warnx("native: the control plane does not know our credential");
	native_stop_loops();
	nat.enrolled = 0;
	explicit_bzero(nat.credential, sizeof(nat.credential));
	if (imsgev_compose(nat.parent, IMSG_NETD_REENROL, 0, 0, -1, NULL,
	    0) == -1)
		fatal("%s: compose", __func__);
}

/* The url's scheme://host[:port] and its path prefix, apart. */
static int
native_split_url(const char *url)
{
	const char	*host = strstr(url, "://"), *slash;
	size_t		 len;

	if (host == NULL)
		return -1;
	(void)strlcpy(nat.base_url, url, sizeof(nat.base_url));
	len = strlen(nat.base_url);
	while (len > 0 && nat.base_url[len - 1] == '/')
		nat.base_url[--len] = '\0';
	slash = strchr(nat.base_url + (host - url) + 3, '/');
	(void)strlcpy(nat.prefix, slash != NULL ? slash : "",
	    sizeof(nat.prefix));
	return 0;
}

static int
native_load_key(const struct wire_netd_identity *id)
{
	uint8_t	 pub[32];
	size_t	 len = sizeof(pub);

	EVP_PKEY_free(nat.key);
	if ((nat.key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
	    id->private_key, sizeof(id->private_key))) == NULL ||
	    EVP_PKEY_get_raw_public_key(nat.key, pub, &len) != 1 ||
	    len != sizeof(pub))
		return -1;
	base64url_encode(pub, sizeof(pub), nat.public_key);
	return 0;
}

static void
native_client(void)
{
	struct http_client_conf	 conf;

	if (nat.http != NULL)
		return;
	memset(&conf, 0, sizeof(conf));
	conf.tls.ca = nat.ca;
	conf.tls.ca_len = nat.ca_len;
	/* Every request of this client then checks the server's key. */
	conf.tls.pin = nat.pin_sha256[0] != '\0' ? nat.pin_sha256 : NULL;
	if ((nat.http = http_client_new(nat.base, nat.resolve,
	    &conf)) == NULL)
		fatalx("native: cannot set up the HTTP client");
}

static void
native_identity(const struct imsg *imsg)
{
	struct wire_netd_identity	 id;
	const char			*why;

	if ((why = wire_decode_netd_identity(imsg, &id)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	if (id.node_id[0] == '\0' && id.token[0] == '\0')
		fatalx("%s: parent sent neither a credential nor a token",
		    __func__);
	native_stop_loops();
	if (native_load_key(&id) == -1 || native_split_url(id.url) == -1)
		fatalx("%s: unusable identity", __func__);
	(void)strlcpy(nat.node_id, id.node_id, sizeof(nat.node_id));
	(void)strlcpy(nat.credential, id.credential, sizeof(nat.credential));
	(void)strlcpy(nat.token, id.token, sizeof(nat.token));
	(void)strlcpy(nat.node_name, id.node_name, sizeof(nat.node_name));
	/* The pin of the server's key; native_client() applies it. */
	(void)strlcpy(nat.pin_sha256, id.pin_sha256, sizeof(nat.pin_sha256));
	(void)strlcpy(nat.binary_sha256, id.binary_sha256,
	    sizeof(nat.binary_sha256));
	(void)strlcpy(nat.policy_hash, id.policy_hash,
	    sizeof(nat.policy_hash));
	/* The server's word wins over berth.conf's (PROTOCOL.md 2.6). */
	if (!nat.server_intervals)
		nat.heartbeat_sec = id.heartbeat_sec;
	nat.poll_interval_ms = id.poll_interval_ms;
	if ((int64_t)id.high_seq > nat.after_seq)
		nat.after_seq = (int64_t)id.high_seq;
	explicit_bzero(&id, sizeof(id));
	native_client();
	nat.have_identity = 1;
	nat.stopped = 0;
	nat.enrolled = nat.node_id[0] != '\0';
	if (nat.enrolled)
		native_start_loops();
	else
		native_loop_after(&nat.enrol, 0);
}

static void
native_node(const struct imsg *imsg)
{
	const char	*why;

	if ((why = wire_decode_netd_node(imsg, &nat.node)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
}

static void
native_accept(const struct imsg *imsg)
{
	struct native_accept	*a;
	const char		*why;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		fatal("%s", __func__);
	if ((why = wire_decode_task_ref(imsg, &a->ref)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	TAILQ_INSERT_TAIL(&nat.accepts, a, entry);
	if (nat.enrolled && nat.accept.req == NULL &&
	    TAILQ_FIRST(&nat.accepts) == a)
		native_loop_after(&nat.accept, 0);
}

static void
native_event(const struct imsg *imsg)
{
	struct native_event	*e;
	const char		*why;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		fatal("%s", __func__);
	if ((why = wire_decode_event(imsg, &e->ev)) != NULL)
		fatalx("%s: parent sent bad %s", __func__, why);
	TAILQ_INSERT_TAIL(&nat.events, e, entry);
	if (nat.enrolled && nat.outbox.req == NULL &&
	    TAILQ_FIRST(&nat.events) == e)
		native_loop_after(&nat.outbox, 0);
}

static void
native_status(const struct netd_status *status)
{
	nat.status = *status;
	nat.have_status = 1;
}

static void
native_init(const struct proto_env *env)
{
	nat.base = env->base;
	nat.resolve = env->resolve;
	nat.parent = env->parent;
	nat.ca = env->ca;
	nat.ca_len = env->ca_len;
	nat.heartbeat_sec = 30;
	nat.poll_timeout_sec = 30;
	nat.poll_interval_ms = 5000;
	nat.retry_max_sec = 300;
	TAILQ_INIT(&nat.events);
	TAILQ_INIT(&nat.accepts);
	native_loop_init(&nat.enrol, "enrolment", native_enrol_start);
	native_loop_init(&nat.heartbeat, "heartbeat", native_heartbeat_start);
	native_loop_init(&nat.poll, "long-poll", native_poll_start);
	native_loop_init(&nat.accept, "accept", native_accept_start);
	native_loop_init(&nat.outbox, "outbox", native_outbox_start);
}

const struct proto proto_native = {
	.name = "native",
	.init = native_init,
	.identity = native_identity,
	.node = native_node,
	.accept = native_accept,
	.event = native_event,
	.status = native_status,
};
