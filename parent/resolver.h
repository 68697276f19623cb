/*
 * resolver.h: the parent reads /etc/resolv.conf and /etc/hosts for netd,
 * which may read no file, and sends what it found as IMSG_NETD_RESOLVER
 * at start and on SIGHUP.  Only numeric nameserver addresses and hosts
 * entries whose names and addresses netd's decoder accepts are kept;
 * the rest is skipped.
 */
#ifndef BERTH_RESOLVER_H
#define BERTH_RESOLVER_H

#include <stddef.h>

#include "berth.h"

#define RESOLVER_RESOLV_CONF	"/etc/resolv.conf"
#define RESOLVER_HOSTS		"/etc/hosts"
#define RESOLVER_FILE_MAX	(64 * 1024)	/* bytes read of each */

/*
 * Add the nameserver lines of a resolv.conf held in buf (not necessarily
 * NUL-terminated).  Returns how many usable ones did not fit.
 */
size_t	 resolver_parse_resolv_conf(const char *buf, size_t len,
	    struct wire_resolver *);
/* The same for the entries of a hosts file, one per (name, address). */
size_t	 resolver_parse_hosts(const char *buf, size_t len,
	    struct wire_resolver *);
/*
 * Fill res from both files; a missing file leaves its part empty.
 * Logs what was dropped.  0, or -1 if neither file could be read.
 */
int	 resolver_read(const char *resolv_path, const char *hosts_path,
	    struct wire_resolver *);

#endif
