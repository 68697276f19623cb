/*
 * resolve.h: netd's name resolution.  netd has no /etc and may not start
 * threads, so neither getaddrinfo(3) nor libcurl's resolver can serve
 * it; c-ares does, driven by netd's libevent loop and configured only
 * from what the parent read for it (struct wire_resolver: nameservers
 * and /etc/hosts entries).  IP literals and "localhost" never reach DNS.
 * DNS answers are cached for their TTL, within bounds.
 *
 * resolve_new() must run before the sandbox: c-ares sets up its random
 * source there.  Later configurations replace servers and hosts in the
 * same channel and open nothing.
 *
 * Callbacks always run from the event loop, never from inside
 * resolve_lookup(); after resolve_cancel() nothing of that query is
 * called.
 */
#ifndef BERTH_RESOLVE_H
#define BERTH_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "berth.h"

struct event_base;
struct resolve;
struct resolve_query;

#define RESOLVE_ADDRS_MAX	8
#define RESOLVE_CACHE_MAX	32
/* Seconds: a TTL of 0 still spares a storm, a moved host is found again. */
#define RESOLVE_TTL_MIN		5
#define RESOLVE_TTL_MAX		300
#define RESOLVE_TIMEOUT_MS	2000	/* per server and try */
#define RESOLVE_TRIES		2

enum resolve_source {
	RESOLVE_LITERAL = 0,
	RESOLVE_LOCALHOST,
	RESOLVE_HOSTS,
	RESOLVE_CACHE,
	RESOLVE_DNS
};

struct resolve_answer {
	size_t			 naddrs;
	char			 addrs[RESOLVE_ADDRS_MAX][WIRE_ADDR_LEN];
	enum resolve_source	 source;
	uint32_t		 ttl;		/* seconds left; 0 if not DNS */
};

/* Exactly one of answer and error is not NULL. */
typedef void	(*resolve_cb)(const struct resolve_answer *answer,
		    const char *error, void *arg);

struct resolve	*resolve_new(struct event_base *);
/* Replace nameservers and hosts entries, drop the cache; 0 or -1. */
int		 resolve_configure(struct resolve *,
		    const struct wire_resolver *);
/* Not from inside a resolve callback. */
void		 resolve_free(struct resolve *);

/* host is a name or an IP literal (IPv6 without brackets). */
struct resolve_query *resolve_lookup(struct resolve *, const char *host,
		    resolve_cb, void *arg);
void		 resolve_cancel(struct resolve_query *);

/* c-ares' nameservers as "addr,addr"; -1 if they do not fit. */
int		 resolve_servers(struct resolve *, char *, size_t);
/* An IPv4 or IPv6 literal (no brackets): 4, 6, or 0 for neither. */
int		 resolve_literal(const char *);

#endif
