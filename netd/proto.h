/*
 * proto.h: the control-plane dialects netd speaks.  Each is a module
 * with the same entry points; netd.c picks one by the protocol the
 * parent named in PROC_CONF and hands it the parent's messages.  A
 * dialect may leave an entry NULL: the parent never sends that message
 * for it, and netd dies if it does (the parent is then not the one we
 * know).  Every dialect translates its server's words into berth's own
 * (tasks of task.h, events of the spool) and back; none of them touches
 * a file or holds more than the parent gave it.
 */
#ifndef BERTH_PROTO_H
#define BERTH_PROTO_H

#include <stddef.h>

#include <jansson.h>

struct event_base;
struct imsg;
struct imsgev;
struct netd_status;
struct resolve;

struct proto_env {
	struct event_base	*base;
	struct resolve		*resolve;
	struct imsgev		*parent;
	const char		*ca;		/* PEM bundle, may be NULL */
	size_t			 ca_len;
};

struct proto {
	const char	*name;
	/* Before any message; env outlives the dialect. */
	void		(*init)(const struct proto_env *);
	void		(*identity)(const struct imsg *);	/* NETD_IDENTITY */
	void		(*node)(const struct imsg *);		/* NETD_NODE */
	void		(*accept)(const struct imsg *);		/* TASK_ACCEPT */
	void		(*event)(const struct imsg *);		/* EVENT_SEND */
	/* The latest status (metrics, containers) for heartbeats. */
	void		(*status)(const struct netd_status *);
};

extern const struct proto	proto_native;
extern const struct proto	proto_miaas;

/* The dialect of a protocol number (enum cp_protocol), NULL if none yet. */
const struct proto	*proto_lookup(unsigned int protocol);

/*
 * The dialects' decoders of what their servers answer, for tests and
 * fuzzing.  0, or -1 when the answer is not what the contract says.
 */
/* MIaaS registration: node_id (an id) and node_token (a bearer token). */
int	 miaas_registration_decode(const json_t *answer, char *id,
	    size_t idlen, char *token, size_t tokenlen);

#endif
