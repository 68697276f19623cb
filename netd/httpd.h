/*
 * httpd.h: netd's local HTTP endpoints, on libevent's evhttp:
 *
 *	GET /health	200 "ok" while the last successful control-plane
 *			exchange (with no control plane: the last status
 *			from the parent) is within 3 heartbeat intervals,
 *			else 503 and why
 *	GET /status	JSON: version, node, control plane (URL host only),
 *			processes, tasks, capacity
 *	GET /metrics	Prometheus text
 *
 * Other paths are 404, other methods on these paths 405.  Everything
 * served comes from netd's memory: the parent's IMSG_NETD_STATUS and
 * what the control-plane client reports.  Nothing is read from disk.
 */
#ifndef BERTH_HTTPD_H
#define BERTH_HTTPD_H

#include <stdint.h>

#include "status.h"

struct event_base;
struct httpd;

#define HTTPD_HEADERS_MAX	8192	/* bytes of request headers */
#define HTTPD_BODY_MAX		1024	/* bytes of request body */
#define HTTPD_TIMEOUT_SEC	10
#define HTTPD_BACKLOG		16
#define HTTPD_HEARTBEAT_DEFAULT	30000	/* ms, berth.conf's default */

/*
 * Before the sandbox: a listening, non-blocking TCP socket on a numeric
 * address.  -1 on failure (logged).
 */
int		 httpd_listen_socket(const char *addr, uint16_t port);
/* Serve on a listening socket; the httpd owns it from now on. */
struct httpd	*httpd_new(struct event_base *, int fd);
void		 httpd_free(struct httpd *);

/* A status from the parent; its arrival counts for /health. */
void		 httpd_set_status(struct httpd *, const struct netd_status *);
void		 httpd_set_heartbeat(struct httpd *, uint32_t interval_ms);
/*
 * The configured control plane (protocol NULL: none).  Only the host of
 * url is kept: a URL may carry credentials or a token.
 */
void		 httpd_set_control_plane(struct httpd *, const char *protocol,
		    const char *url);
/* The client's state ("enrolling", "connected", ...); ok: it succeeded. */
void		 httpd_control_plane_state(struct httpd *, const char *state,
		    int ok);

#endif
