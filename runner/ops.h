/*
 * ops.h: the runner's operations on the container engine (runop.h), each
 * carried out asynchronously through docker.c and each ending in exactly
 * one IMSG_RUN_RESULT to the parent (peerid = the request's), with one
 * IMSG_AUDIT per Docker mutation attempted and per refusal.
 *
 * Result JSON, as runresult_check() accepts it:
 *	any failure	{"ok":false,"error":"...","app":"web"}  ("app" if known)
 *	deploy		{"ok":true,"app":"web","id":"<64 hex>",
 *			 "name":"paas-app-web"}
 *	start, stop, restart, remove
 *			{"ok":true,"app":"web","id":"<64 hex>"}
 *	rename		{"ok":true,"app":"new","id":"<64 hex>",
 *			 "name":"paas-app-new"}
 *	inspect		{"ok":true,"app":"web","id":"..","name":"..",
 *			 "image":"..",
 *			 "state":"running","running":true,"exit_code":0,
 *			 "started_at":"2026-..Z","health":""}
 *	list		{"ok":true,"apps":[{"app":"web","name":"..","id":"..",
 *			 "image":"..","state":"running","status":"Up 2 seconds",
 *			 "ports":[{"container":8080,"host":18080,
 *			 "host_ip":"127.0.0.1","proto":"tcp"}]}]}
 *	logs		{"ok":true,"app":"web","stream":true} with the read end
 *			 of a pipe carrying the log text
 *	events		{"ok":true,"stream":true} with the read end of a
 *			 pipe carrying one JSON line per event of an owned
 *			 object: {"time":N,"type":"container","action":"start",
 *			 "id":"<64 hex>","app":"web","name":"paas-app-web"},
 *			 or {"error":"..."} last when the stream broke
 *	wait		{"ok":true,"app":"web","exit_code":0}
 *	stats		{"ok":true,"app":"web","cpu_percent":1.5,
 *			 "memory_bytes":123,"memory_limit":456,"pids":3}
 *	image-remove	{"ok":true,"image":"app:1","id":"sha256:<64 hex>"}
 *	image-prune	{"ok":true,"deleted":2,"space_reclaimed":12345}
 *	image-build	{"ok":true,"app":"web","image":"berth/web:<12 hex>",
 *			 "id":"sha256:<64 hex>"}; the build context is the
 *			 descriptor sent with the request, streamed to
 *			 POST /build; a failure carries dockerd's
 *			 errorDetail message
 */
#ifndef BERTH_RUNNER_OPS_H
#define BERTH_RUNNER_OPS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct docker;
struct imsgev;
struct policy;
struct runner_ops;

/*
 * parent is the channel results and audit records go to; node_label is
 * the value of the berth.node owner label.  NULL on failure.
 */
struct runner_ops *ops_new(struct event_base *, struct docker *,
		    struct imsgev *parent, const char *node_label);
/* Cancels what is in flight, answering nothing more. */
void		 ops_free(struct runner_ops *);
/* The policy, already checked with policy_validate(). */
void		 ops_set_policy(struct runner_ops *, const struct policy *);
/* Whether the engine answered its ping; until then requests fail. */
void		 ops_set_engine(struct runner_ops *, int reachable);
/* The engine's version as its ping said, for list results (heartbeats). */
void		 ops_set_engine_version(struct runner_ops *, const char *);
/* One IMSG_RUN_REQUEST payload; answered later, exactly once. */
void		 ops_request(struct runner_ops *, uint32_t peerid,
		    const char *json, size_t len);
/* The same with the imsg's descriptor (-1 if none), which it owns. */
void		 ops_request_fd(struct runner_ops *, uint32_t peerid,
		    const char *json, size_t len, int fd);
/* Requests accepted and not yet answered or, for streams, not ended. */
size_t		 ops_inflight(const struct runner_ops *);

#endif
