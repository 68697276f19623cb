/*
 * proto_native.h: netd's client of berth's native control-plane
 * protocol (PROTOCOL.md).  It enrols, sends heartbeats, keeps one
 * long-poll for tasks outstanding, accepts tasks the parent journalled
 * and posts the events the parent spooled, each loop with its own
 * backoff.  It holds the node key and credential in memory only; they
 * come from the parent (IMSG_NETD_IDENTITY) and new ones go back to it
 * (IMSG_NETD_ENROLLED) before they are used.
 */
#ifndef BERTH_PROTO_NATIVE_H
#define BERTH_PROTO_NATIVE_H

#include <stddef.h>

struct event_base;
struct imsg;
struct imsgev;
struct netd_status;
struct resolve;

/* Before any message: where to send, what to send with. */
void	 native_init(struct event_base *, struct resolve *,
	    struct imsgev *parent, const char *ca, size_t ca_len);
/* The parent's messages for the protocol; each is decoded here. */
void	 native_identity(const struct imsg *);
void	 native_node(const struct imsg *);
void	 native_accept(const struct imsg *);
void	 native_event(const struct imsg *);
/* The latest status (metrics) for heartbeats. */
void	 native_status(const struct netd_status *);

#endif
