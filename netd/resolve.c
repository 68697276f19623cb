/*
 * resolve.c: DNS for netd with c-ares on netd's libevent loop (see
 * resolve.h).  c-ares is told everything at init so that it reads no
 * /etc file: lookups "b" (DNS only: the hosts entries are ours), no
 * search domains, an explicit empty server list, sort list, ndots,
 * timeout and tries; with all of those given, c-ares 1.18 skips
 * resolv.conf, nsswitch.conf, host.conf and svc.conf altogether.  The
 * parent's nameservers arrive later and go in with ares_set_servers_csv(),
 * which touches no file either.
 *
 * c-ares tells us through its socket-state callback which descriptors to
 * watch; each gets a libevent event, and one timer follows ares_timeout().
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <ares.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "berth.h"
#include "log.h"
#include "resolve.h"

struct resolve_socket {
	LIST_ENTRY(resolve_socket)	 entry;
	ares_socket_t			 fd;
	struct event			*ev;
};

struct resolve_query {
	TAILQ_ENTRY(resolve_query)	 entry;
	struct resolve			*res;
	char				 name[WIRE_HOSTNAME_LEN];
	resolve_cb			 cb;
	void				*arg;
	struct event			*deliver;
	struct resolve_answer		 answer;
	char				 error[WIRE_HOSTNAME_LEN + 128];
	unsigned int			 in_ares:1;	/* c-ares holds it */
	unsigned int			 cancelled:1;
};

struct resolve_cache_entry {
	char			 name[WIRE_HOSTNAME_LEN];	/* "" = free */
	struct resolve_answer	 answer;
	time_t			 expires;	/* CLOCK_MONOTONIC seconds */
};

struct resolve {
	struct event_base		*base;
	ares_channel			 channel;
	struct event			*timer;
	LIST_HEAD(, resolve_socket)	 sockets;
	TAILQ_HEAD(, resolve_query)	 queries;
	struct wire_resolver		 conf;		/* hosts entries */
	int				 configured;	/* has nameservers */
	struct resolve_cache_entry	 cache[RESOLVE_CACHE_MAX];
};

static void	 resolve_sock_state(void *, ares_socket_t, int, int);
static void	 resolve_sock_event(evutil_socket_t, short, void *);
static void	 resolve_timer_event(evutil_socket_t, short, void *);
static void	 resolve_rearm(struct resolve *);
static void	 resolve_deliver_event(evutil_socket_t, short, void *);
static void	 resolve_ares_done(void *, int, int, struct ares_addrinfo *);

static time_t
resolve_now(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

int
resolve_literal(const char *host)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;

	if (inet_pton(AF_INET, host, &in4) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, &in6) == 1)
		return 6;
	return 0;
}

/* What we send to DNS: host-name characters, labels of 1..63. */
static int
resolve_name_valid(const char *name)
{
	size_t	 len = strlen(name), label = 0, i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (++label > 63)
			return 0;
		if ((name[i] >= 'a' && name[i] <= 'z') ||
		    (name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') ||
		    name[i] == '-' || name[i] == '_')
			continue;
		return 0;
	}
	return 1;
}

/* --- the channel ----------------------------------------------------- */

struct resolve *
resolve_new(struct event_base *base)
{
	struct ares_options	 opts;
	struct resolve		*res;
	int			 rc, mask;

	if ((res = calloc(1, sizeof(*res))) == NULL)
		return NULL;
	res->base = base;
	LIST_INIT(&res->sockets);
	TAILQ_INIT(&res->queries);
	if ((res->timer = evtimer_new(base, resolve_timer_event, res)) ==
	    NULL) {
		free(res);
		return NULL;
	}
	memset(&opts, 0, sizeof(opts));
	/* Each of these, given here, is one thing c-ares need not read. */
	opts.flags = ARES_FLAG_NOSEARCH;
	opts.timeout = RESOLVE_TIMEOUT_MS;
	opts.tries = RESOLVE_TRIES;
	opts.ndots = 1;
	opts.servers = NULL;
	opts.nservers = 0;
	opts.domains = NULL;
	opts.ndomains = 0;
	opts.lookups = (char *)"b";
	opts.sortlist = NULL;
	opts.nsort = 0;
	opts.sock_state_cb = resolve_sock_state;
	opts.sock_state_cb_data = res;
	mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_NDOTS | ARES_OPT_SERVERS | ARES_OPT_DOMAINS |
	    ARES_OPT_LOOKUPS | ARES_OPT_SORTLIST | ARES_OPT_SOCK_STATE_CB;
	if ((rc = ares_init_options(&res->channel, &opts, mask)) !=
	    ARES_SUCCESS) {
		log_warnx("%s: ares_init_options: %s", __func__,
		    ares_strerror(rc));
		event_free(res->timer);
		free(res);
		return NULL;
	}
	return res;
}

/*
 * Queries are cancelled first, so that ares_destroy(), which completes
 * every outstanding one with ARES_EDESTRUCTION, only frees them.
 */
void
resolve_free(struct resolve *res)
{
	struct resolve_query	*q, *next;
	struct resolve_socket	*s;

	if (res == NULL)
		return;
	for (q = TAILQ_FIRST(&res->queries); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		resolve_cancel(q);
	}
	ares_destroy(res->channel);
	while ((s = LIST_FIRST(&res->sockets)) != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	event_free(res->timer);
	free(res);
}

static int
resolve_servers_csv(const struct wire_resolver *conf, char *csv,
    size_t size)
{
	uint32_t	 i;
	int		 n;
	size_t		 off = 0;

	csv[0] = '\0';
	for (i = 0; i < conf->nnameservers; i++) {
		/* c-ares reads a bare IPv6 address; brackets are for ports. */
		n = snprintf(csv + off, size - off, "%s%s", i ? "," : "",
		    conf->nameservers[i]);
		if (n < 0 || (size_t)n >= size - off)
			return -1;
		off += n;
	}
	return 0;
}

int
resolve_configure(struct resolve *res, const struct wire_resolver *conf)
{
	char	 csv[WIRE_RESOLVER_NS_MAX * (WIRE_ADDR_LEN + 1)];
	int	 rc;

	if (conf->nnameservers > WIRE_RESOLVER_NS_MAX ||
	    conf->nhosts > WIRE_RESOLVER_HOSTS_MAX ||
	    resolve_servers_csv(conf, csv, sizeof(csv)) == -1)
		return -1;
	if ((rc = ares_set_servers_csv(res->channel, csv)) != ARES_SUCCESS) {
		log_warnx("%s: nameservers \"%s\": %s", __func__, csv,
		    ares_strerror(rc));
		return -1;
	}
	res->conf = *conf;
	res->configured = conf->nnameservers > 0;
	memset(res->cache, 0, sizeof(res->cache));
	log_debug("resolver: %u nameservers, %u hosts entries",
	    conf->nnameservers, conf->nhosts);
	return 0;
}

int
resolve_servers(struct resolve *res, char *buf, size_t size)
{
	struct ares_addr_node	*servers = NULL, *n;
	char			 addr[WIRE_ADDR_LEN];
	size_t			 off = 0;
	int			 len, rc = 0;

	if (size == 0 || ares_get_servers(res->channel, &servers) !=
	    ARES_SUCCESS)
		return -1;
	buf[0] = '\0';
	for (n = servers; n != NULL && rc == 0; n = n->next) {
		if (inet_ntop(n->family, &n->addr, addr, sizeof(addr)) ==
		    NULL) {
			rc = -1;
			break;
		}
		len = snprintf(buf + off, size - off, "%s%s",
		    n == servers ? "" : ",", addr);
		if (len < 0 || (size_t)len >= size - off)
			rc = -1;
		else
			off += len;
	}
	ares_free_data(servers);
	return rc;
}

/* --- c-ares on libevent ---------------------------------------------- */

/* c-ares wants fd watched for reading and/or writing, or no longer. */
static void
resolve_sock_state(void *arg, ares_socket_t fd, int readable, int writable)
{
	struct resolve		*res = arg;
	struct resolve_socket	*s;
	short			 events = EV_PERSIST;

	LIST_FOREACH(s, &res->sockets, entry)
		if (s->fd == fd)
			break;
	if (s != NULL) {
		LIST_REMOVE(s, entry);
		event_free(s->ev);
		free(s);
	}
	if (!readable && !writable)
		return;
	if (readable)
		events |= EV_READ;
	if (writable)
		events |= EV_WRITE;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ev = event_new(res->base, fd, events, resolve_sock_event,
	    res)) == NULL || event_add(s->ev, NULL) == -1) {
		/* The query then times out through the timer. */
		log_warnx("%s: cannot watch descriptor %d", __func__, (int)fd);
		if (s != NULL && s->ev != NULL)
			event_free(s->ev);
		free(s);
		return;
	}
	s->fd = fd;
	LIST_INSERT_HEAD(&res->sockets, s, entry);
}

static void
resolve_sock_event(evutil_socket_t fd, short events, void *arg)
{
	struct resolve	*res = arg;

	ares_process_fd(res->channel,
	    (events & EV_READ) ? fd : ARES_SOCKET_BAD,
	    (events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	resolve_rearm(res);
}

static void
resolve_timer_event(evutil_socket_t fd, short events, void *arg)
{
	struct resolve	*res = arg;

	(void)fd;
	(void)events;
	ares_process_fd(res->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_rearm(res);
}

/* The one timer follows c-ares' next deadline (retries, timeouts). */
static void
resolve_rearm(struct resolve *res)
{
	struct timeval	 tv, *next;

	if ((next = ares_timeout(res->channel, NULL, &tv)) == NULL)
		evtimer_del(res->timer);
	else
		evtimer_add(res->timer, next);
}

/* --- answers without DNS ---------------------------------------------- */

static void
answer_add(struct resolve_answer *a, const char *addr)
{
	size_t	 i;

	if (a->naddrs == RESOLVE_ADDRS_MAX)
		return;
	for (i = 0; i < a->naddrs; i++)
		if (strcmp(a->addrs[i], addr) == 0)
			return;
	(void)strlcpy(a->addrs[a->naddrs++], addr, sizeof(a->addrs[0]));
}

static int
resolve_from_hosts(struct resolve *res, const char *name,
    struct resolve_answer *a)
{
	uint32_t	 i;

	for (i = 0; i < res->conf.nhosts; i++)
		if (strcasecmp(res->conf.hosts[i].name, name) == 0)
			answer_add(a, res->conf.hosts[i].addr);
	a->source = RESOLVE_HOSTS;
	return a->naddrs > 0;
}

/* "localhost" and names under it are this host (RFC 6761). */
static int
resolve_from_localhost(const char *name, struct resolve_answer *a)
{
	size_t	 len = strlen(name);

	if (strcasecmp(name, "localhost") != 0 && strcasecmp(name,
	    "localhost.") != 0 && (len < 10 ||
	    strcasecmp(name + len - 10, ".localhost") != 0))
		return 0;
	answer_add(a, "127.0.0.1");
	answer_add(a, "::1");
	a->source = RESOLVE_LOCALHOST;
	return 1;
}

static int
resolve_from_cache(struct resolve *res, const char *name,
    struct resolve_answer *a)
{
	struct resolve_cache_entry	*e;
	time_t				 now = resolve_now();
	size_t				 i;

	for (i = 0; i < RESOLVE_CACHE_MAX; i++) {
		e = &res->cache[i];
		if (e->name[0] == '\0' || strcasecmp(e->name, name) != 0)
			continue;
		if (e->expires <= now) {
			e->name[0] = '\0';
			return 0;
		}
		*a = e->answer;
		a->source = RESOLVE_CACHE;
		a->ttl = (uint32_t)(e->expires - now);
		return 1;
	}
	return 0;
}

/* A full cache gives up the entry closest to expiry. */
static void
resolve_cache_put(struct resolve *res, const char *name,
    const struct resolve_answer *a)
{
	struct resolve_cache_entry	*e, *victim = &res->cache[0];
	size_t				 i;

	for (i = 0; i < RESOLVE_CACHE_MAX; i++) {
		e = &res->cache[i];
		if (e->name[0] == '\0' || strcasecmp(e->name, name) == 0) {
			victim = e;
			break;
		}
		if (e->expires < victim->expires)
			victim = e;
	}
	(void)strlcpy(victim->name, name, sizeof(victim->name));
	victim->answer = *a;
	victim->expires = resolve_now() + a->ttl;
}

/* --- queries ---------------------------------------------------------- */

static void
query_free(struct resolve_query *q)
{
	if (q->deliver != NULL)
		event_free(q->deliver);
	free(q);
}

/* The answer or error is set: hand it over from the loop. */
static void
query_complete(struct resolve_query *q)
{
	event_active(q->deliver, EV_TIMEOUT, 0);
}

static void
query_fail(struct resolve_query *q, const char *why)
{
	(void)snprintf(q->error, sizeof(q->error), "%s: %s", q->name, why);
	query_complete(q);
}

static void
resolve_deliver_event(evutil_socket_t fd, short events, void *arg)
{
	struct resolve_query	*q = arg;

	(void)fd;
	(void)events;
	TAILQ_REMOVE(&q->res->queries, q, entry);
	if (q->error[0] != '\0')
		q->cb(NULL, q->error, q->arg);
	else
		q->cb(&q->answer, NULL, q->arg);
	query_free(q);
}

static int
query_answer_now(struct resolve_query *q)
{
	struct resolve	*res = q->res;

	if (resolve_literal(q->name) != 0) {
		answer_add(&q->answer, q->name);
		q->answer.source = RESOLVE_LITERAL;
		return 1;
	}
	return resolve_from_hosts(res, q->name, &q->answer) ||
	    resolve_from_localhost(q->name, &q->answer) ||
	    resolve_from_cache(res, q->name, &q->answer);
}

struct resolve_query *
resolve_lookup(struct resolve *res, const char *host, resolve_cb cb,
    void *arg)
{
	struct ares_addrinfo_hints	 hints;
	struct resolve_query		*q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->res = res;
	q->cb = cb;
	q->arg = arg;
	if ((q->deliver = event_new(res->base, -1, 0, resolve_deliver_event,
	    q)) == NULL) {
		free(q);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&res->queries, q, entry);
	if (strlcpy(q->name, host, sizeof(q->name)) >= sizeof(q->name) ||
	    (!resolve_literal(host) && !resolve_name_valid(host))) {
		(void)strlcpy(q->name, "(bad name)", sizeof(q->name));
		query_fail(q, "not a host name");
	} else if (query_answer_now(q))
		query_complete(q);
	else if (!res->configured)
		query_fail(q, "no nameservers configured");
	else {
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		/* c-ares may complete at once (into query_complete). */
		q->in_ares = 1;
		ares_getaddrinfo(res->channel, q->name, NULL, &hints,
		    resolve_ares_done, q);
		resolve_rearm(res);
	}
	return q;
}

void
resolve_cancel(struct resolve_query *q)
{
	if (q == NULL || q->cancelled)
		return;
	TAILQ_REMOVE(&q->res->queries, q, entry);
	if (q->in_ares) {
		/* c-ares still holds q; resolve_ares_done() frees it. */
		q->cancelled = 1;
		return;
	}
	query_free(q);
}

static void
answer_from_addrinfo(struct resolve_answer *a,
    const struct ares_addrinfo *ai)
{
	const struct ares_addrinfo_node	*n;
	const void			*src;
	char				 addr[WIRE_ADDR_LEN];
	int				 ttl = RESOLVE_TTL_MAX;

	for (n = ai->nodes; n != NULL; n = n->ai_next) {
		if (n->ai_family == AF_INET)
			src = &((const struct sockaddr_in *)(const void *)
			    n->ai_addr)->sin_addr;
		else if (n->ai_family == AF_INET6)
			src = &((const struct sockaddr_in6 *)(const void *)
			    n->ai_addr)->sin6_addr;
		else
			continue;
		if (inet_ntop(n->ai_family, src, addr, sizeof(addr)) == NULL)
			continue;
		answer_add(a, addr);
		if (n->ai_ttl < ttl)
			ttl = n->ai_ttl;
	}
	if (ttl < RESOLVE_TTL_MIN)
		ttl = RESOLVE_TTL_MIN;
	a->ttl = (uint32_t)ttl;
	a->source = RESOLVE_DNS;
}

static void
resolve_ares_done(void *arg, int status, int timeouts,
    struct ares_addrinfo *ai)
{
	struct resolve_query	*q = arg;

	(void)timeouts;
	q->in_ares = 0;
	if (q->cancelled) {
		if (ai != NULL)
			ares_freeaddrinfo(ai);
		query_free(q);
		return;
	}
	if (status == ARES_SUCCESS && ai != NULL)
		answer_from_addrinfo(&q->answer, ai);
	if (ai != NULL)
		ares_freeaddrinfo(ai);
	if (status != ARES_SUCCESS)
		query_fail(q, ares_strerror(status));
	else if (q->answer.naddrs == 0)
		query_fail(q, "no addresses");
	else {
		resolve_cache_put(q->res, q->name, &q->answer);
		query_complete(q);
	}
}
