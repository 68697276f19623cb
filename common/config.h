/*
 * config.h: the parsed form of berth.conf, after the seed agents'
 * environment variables have been applied on top.  Only the parent reads
 * the file; each child gets what it needs by imsg.
 */
#ifndef BERTH_CONFIG_H
#define BERTH_CONFIG_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "berth.h"
#include "buildreq.h"
#include "policy.h"

#define CONF_URL_LEN	1024
#define CONF_SECRET_LEN	512
#define CONF_NAME_LEN	128

struct berth_conf {
	char		 path[BERTH_PATH_LEN];	/* file it came from */

	/* Paths and users. */
	char		 state_dir[BERTH_PATH_LEN];
	char		 control_socket[BERTH_PATH_LEN];
	char		 workspace_root[BERTH_PATH_LEN];
	char		 docker_socket[BERTH_PATH_LEN];	/* unix socket path */
	char		 user[ROLE_MAX][BERTH_USER_LEN]; /* [ROLE_PARENT] unused */
	int		 log_verbose;			/* 0 warn, 1 info, 2 debug */

	/* Local HTTP listener (netd). */
	char		 listen_addr[64];
	uint16_t	 listen_port;			/* 0: off */

	/* Control plane. */
	enum cp_protocol protocol;
	char		 cp_url[CONF_URL_LEN];
	char		 enrol_token[CONF_SECRET_LEN];	/* secret */
	char		 node_secret[CONF_SECRET_LEN];	/* secret: WORKER_AUTH_TOKEN, NODE_TOKEN */
	char		 cluster_secret[CONF_SECRET_LEN]; /* secret: CLUSTER_SECRET */
	char		 node_name[CONF_NAME_LEN];
	char		 node_id[CONF_NAME_LEN];	/* WORKER_NODE_ID; "" until enrolled */
	char		 region[CONF_NAME_LEN];
	uint32_t	 heartbeat_interval_ms;
	uint32_t	 poll_interval_ms;
	/* What skypanel-v2 registration reports about this node. */
	char		 advertise_hostname[CONF_NAME_LEN]; /* WORKER_HOSTNAME */
	char		 advertise_addr[64];		/* WORKER_IP_ADDRESS */
	uint16_t	 advertise_port;		/* WORKER_PORT, 0: none */
	/* codara: its control plane calls us (HTTP) and finds us (UDP). */
	uint16_t	 cluster_port;			/* CLUSTER_PORT */
	uint16_t	 discovery_port;		/* DISCOVERY_PORT, 0: off */
	char		 cp_ca_file[BERTH_PATH_LEN];	/* "": system CAs */
	/* native: "sha256//BASE64[;...]" the server's key must match. */
	char		 cp_pin_sha256[WIRE_PIN_LEN];	/* "": no pin */
	/* native: refuse unsigned tasks even before the server signs. */
	uint32_t	 require_signed_tasks;

	/* What the runner allows (DESIGN.md §6). */
	struct policy	 policy;

	/* Admission control. */
	uint32_t	 max_containers;
	uint32_t	 max_cpu_percent;
	uint32_t	 max_memory_percent;
	uint32_t	 max_concurrent_builds;
	uint32_t	 build_timeout_sec;
	uint32_t	 max_concurrent_runs;		/* one-shot run tasks */
	uint32_t	 run_timeout_sec;

	/* Builds from git: the build block (buildreq.h says what they do). */
	char		 build_url_prefixes[BUILD_PREFIXES_MAX][BUILD_URL_LEN];
	uint32_t	 nbuild_url_prefixes;		/* 0: no builds */
	uint32_t	 build_allow_file_urls;
	uint32_t	 build_allow_submodules;
	char		 buildpacks[BUILD_KIND_MAX][BUILD_IMAGE_LEN]; /* "": none */
	uint64_t	 build_workspace_max;		/* bytes */
};

/* Fill with the documented defaults. */
void	 conf_defaults(struct berth_conf *);
/*
 * Parse path into conf (which must hold defaults or an earlier parse).
 * 0 or -1; every error has been logged as "file:line: what was expected".
 */
int	 conf_parse_file(const char *path, struct berth_conf *);
/* The same from a buffer, name used in messages (for tests and fuzzing). */
int	 conf_parse_buffer(const char *name, const char *buf, size_t len,
	    struct berth_conf *);
/*
 * Apply the seed agents' environment variables (see README's mapping
 * table).  getenv_fn is getenv in production, a table lookup in tests.
 * 0 or -1 (a variable with a bad value, logged with its name).
 */
int	 conf_apply_env(struct berth_conf *,
	    const char *(*getenv_fn)(const char *));
/* Check cross-field rules after parse and env; 0 or -1 (logged). */
int	 conf_check(const struct berth_conf *);
/* Print the effective configuration in berth.conf syntax, secrets masked. */
void	 conf_print(const struct berth_conf *, FILE *);
const char *protocol_name(enum cp_protocol);

#endif
