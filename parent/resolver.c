/*
 * resolver.c: the resolver configuration netd gets from the parent (see
 * resolver.h).  The parent's Landlock rules allow exactly these two
 * files.  The parsers work on bounded buffers, never past len, and keep
 * only what wire_decode_resolver() accepts, so a strange file can cost
 * netd an entry but never its life.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "berth.h"
#include "log.h"
#include "resolver.h"

#define RESOLVER_TOKENS_MAX	16

/* Split one line into words; comments ('#' or ';') end it. */
static size_t
line_words(const char *line, size_t len, const char **word, size_t *wlen,
    size_t max)
{
	size_t	 i = 0, n = 0, start;

	while (i < len && n < max) {
		while (i < len && (line[i] == ' ' || line[i] == '\t' ||
		    line[i] == '\r'))
			i++;
		if (i == len || line[i] == '#' || line[i] == ';')
			break;
		start = i;
		while (i < len && line[i] != ' ' && line[i] != '\t' &&
		    line[i] != '\r' && line[i] != '#' && line[i] != ';')
			i++;
		word[n] = line + start;
		wlen[n++] = i - start;
	}
	return n;
}

/* A numeric address that fits a wire field, copied NUL-terminated. */
static int
numeric_addr(const char *word, size_t len, char *out, size_t size)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	if (len == 0 || len >= size)
		return 0;
	memcpy(out, word, len);
	out[len] = '\0';
	return inet_pton(AF_INET, out, buf) == 1 ||
	    inet_pton(AF_INET6, out, buf) == 1;
}

/* The same rules as the decoder's: host-name characters, 1..253. */
static int
host_name(const char *word, size_t len, char *out, size_t size)
{
	size_t	 i;

	if (len == 0 || len > 253 || len >= size || word[0] == '.' ||
	    word[0] == '-')
		return 0;
	for (i = 0; i < len; i++) {
		if ((word[i] >= 'a' && word[i] <= 'z') ||
		    (word[i] >= 'A' && word[i] <= 'Z') ||
		    (word[i] >= '0' && word[i] <= '9') ||
		    word[i] == '-' || word[i] == '_' || word[i] == '.')
			continue;
		return 0;
	}
	memcpy(out, word, len);
	out[len] = '\0';
	return 1;
}

/*
 * Addresses that do not name a host: the unspecified ones (ad blocking
 * lists point names there) and IPv6 multicast (ip6-allnodes, ...).
 */
static int
host_addr_useful(const char *addr)
{
	return strcmp(addr, "0.0.0.0") != 0 && strcmp(addr, "::") != 0 &&
	    strncasecmp(addr, "ff", 2) != 0;
}

/* Call fn for each line of buf. */
static size_t
for_each_line(const char *buf, size_t len, struct wire_resolver *res,
    size_t (*fn)(const char *, size_t, struct wire_resolver *))
{
	const char	*line, *nl;
	size_t		 off = 0, dropped = 0, n;

	while (off < len) {
		line = buf + off;
		nl = memchr(line, '\n', len - off);
		n = nl != NULL ? (size_t)(nl - line) : len - off;
		dropped += fn(line, n, res);
		off += n + (nl != NULL ? 1 : 0);
	}
	return dropped;
}

static size_t
resolv_conf_line(const char *line, size_t len, struct wire_resolver *res)
{
	const char	*word[2];
	size_t		 wlen[2];
	char		 addr[WIRE_ADDR_LEN];

	if (line_words(line, len, word, wlen, 2) != 2 ||
	    wlen[0] != strlen("nameserver") ||
	    memcmp(word[0], "nameserver", wlen[0]) != 0 ||
	    !numeric_addr(word[1], wlen[1], addr, sizeof(addr)))
		return 0;
	if (res->nnameservers == WIRE_RESOLVER_NS_MAX)
		return 1;
	memcpy(res->nameservers[res->nnameservers++], addr, sizeof(addr));
	return 0;
}

size_t
resolver_parse_resolv_conf(const char *buf, size_t len,
    struct wire_resolver *res)
{
	return for_each_line(buf, len, res, resolv_conf_line);
}

static size_t
hosts_line(const char *line, size_t len, struct wire_resolver *res)
{
	const char			*word[RESOLVER_TOKENS_MAX];
	size_t				 wlen[RESOLVER_TOKENS_MAX], n, i;
	size_t				 dropped = 0;
	char				 addr[WIRE_ADDR_LEN];
	char				 name[WIRE_HOSTNAME_LEN];
	struct wire_resolver_host	*host;

	n = line_words(line, len, word, wlen, RESOLVER_TOKENS_MAX);
	if (n < 2 || !numeric_addr(word[0], wlen[0], addr, sizeof(addr)) ||
	    !host_addr_useful(addr))
		return 0;
	for (i = 1; i < n; i++) {
		if (!host_name(word[i], wlen[i], name, sizeof(name)))
			continue;
		if (res->nhosts == WIRE_RESOLVER_HOSTS_MAX) {
			dropped++;
			continue;
		}
		host = &res->hosts[res->nhosts++];
		memcpy(host->name, name, sizeof(name));
		memcpy(host->addr, addr, sizeof(addr));
	}
	return dropped;
}

size_t
resolver_parse_hosts(const char *buf, size_t len, struct wire_resolver *res)
{
	return for_each_line(buf, len, res, hosts_line);
}

/* At most RESOLVER_FILE_MAX bytes of path; -1 if it cannot be read. */
static ssize_t
read_bounded(const char *path, char *buf, size_t size)
{
	ssize_t	 n;
	size_t	 off = 0;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (off < size) {
		if ((n = read(fd, buf + off, size - off)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	return off;
}

int
resolver_read(const char *resolv_path, const char *hosts_path,
    struct wire_resolver *res)
{
	static char	 buf[RESOLVER_FILE_MAX];
	ssize_t		 n;
	size_t		 dropped;
	int		 read_any = 0;

	memset(res, 0, sizeof(*res));
	if ((n = read_bounded(resolv_path, buf, sizeof(buf))) == -1)
		log_warn("resolver: %s", resolv_path);
	else {
		read_any = 1;
		if ((dropped = resolver_parse_resolv_conf(buf, n, res)) > 0)
			log_warnx("resolver: %s: %zu nameservers past the "
			    "first %d ignored", resolv_path, dropped,
			    WIRE_RESOLVER_NS_MAX);
	}
	if ((n = read_bounded(hosts_path, buf, sizeof(buf))) == -1)
		log_warn("resolver: %s", hosts_path);
	else {
		read_any = 1;
		if ((dropped = resolver_parse_hosts(buf, n, res)) > 0)
			log_warnx("resolver: %s: %zu names past the first %d "
			    "ignored", hosts_path, dropped,
			    WIRE_RESOLVER_HOSTS_MAX);
	}
	if (res->nnameservers == 0)
		log_warnx("resolver: no nameserver in %s: netd can reach "
		    "hosts by address and hosts entries only", resolv_path);
	return read_any ? 0 : -1;
}
