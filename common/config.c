/*
 * config.c: berth.conf and the seed agents' environment variables.
 *
 * The parent alone calls this, before it drops anything: it reads one
 * file and the environment, logs, and fills a struct berth_conf.  The
 * file has an OpenBSD-style syntax (bgpd.conf, httpd.conf) read by a
 * hand-written lexer and a recursive-descent parser; every keyword is a
 * row in a table that says how to parse, check and print its value, so
 * the parser, the environment overrides and conf_print cannot disagree
 * about what a valid value is.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "berth.h"
#include "buildreq.h"
#include "config.h"
#include "log.h"

#define CONF_FILE_MAX		(1024 * 1024)	/* bytes in a file */
#define CONF_TOKEN_MAX		4096		/* bytes in a token */
#define CONF_ERRORS_MAX		32		/* after that, noise */
#define CONF_MACROS_MAX		128
#define CONF_MACRO_NAME_LEN	64
#define CONF_GOT_MAX		60		/* of a bad value quoted */
#define CONF_GOT_LEN		256		/* room to escape them */
#define CONF_SUN_PATH_LEN	sizeof(((struct sockaddr_un *)NULL)->sun_path)
#define SECRET_MASK		"********"

#define MSEC_PER_SEC		1000U
#define MSEC_PER_MIN		(60U * MSEC_PER_SEC)
#define MSEC_PER_HOUR		(60U * MSEC_PER_MIN)
#define SEC_PER_MIN		60U
#define SEC_PER_DAY		(24U * 60U * 60U)

#define NITEMS(a)		(sizeof(a) / sizeof((a)[0]))

/*
 * What a value is, which decides how it is checked, stored and printed.
 * String kinds are stored NUL-terminated in a char array; the rest in the
 * integer type of their member.
 */
enum field_kind {
	F_PATH,		/* absolute path, no ".." component */
	F_SOCKET,	/* the same, and it must fit in sun_path */
	F_USER,		/* a system user name */
	F_NAME,		/* printable text sent to a control plane */
	F_IDENT,	/* an id that ends up in URL paths */
	F_HOST,		/* a DNS host name */
	F_ADDRESS,	/* an IPv4 or IPv6 literal */
	F_URL,		/* control-plane URL */
	F_PIN,		/* "sha256//BASE64[;...]", curl's pinned public keys */
	F_SECRET,	/* printable, never logged or printed */
	F_NUMBER,	/* uint32_t in [min, max] */
	F_PORT,		/* uint16_t in [min, max] */
	F_MSEC,		/* duration kept as uint32_t milliseconds */
	F_SEC,		/* duration kept as uint32_t whole seconds */
	F_PROTOCOL,	/* enum cp_protocol */
	F_LOGLEVEL,	/* int, 0 warning .. 2 debug */
	F_YESNO		/* uint32_t, yes 1 or no 0 */
};

/*
 * Where a value lives in struct berth_conf.  For string kinds min is the
 * shortest length allowed (0: may be empty) and the array size the bound;
 * for numbers and durations min and max bound the stored value.
 */
struct field {
	enum field_kind	 kind;
	size_t		 offset;
	size_t		 size;
	uint32_t	 min;
	uint32_t	 max;
};

#define FIELD(kind, member, min, max) {					\
	(kind), offsetof(struct berth_conf, member),			\
	sizeof(((struct berth_conf *)NULL)->member), (min), (max) }

enum token_type {
	TOK_EOF,
	TOK_NEWLINE,
	TOK_WORD,	/* bare word: keyword, number, simple value */
	TOK_STRING,	/* quoted string or expanded macro */
	TOK_LBRACE,
	TOK_RBRACE,
	TOK_EQUALS,
	TOK_ERROR	/* the lexer has already said what was wrong */
};

struct token {
	enum token_type	 type;
	int		 line;
	int		 overflow;
	size_t		 len;
	char		 text[CONF_TOKEN_MAX + 1];
};

struct macro {
	char		 name[CONF_MACRO_NAME_LEN];
	char		*value;
};

struct parser {
	const char	*name;		/* file name for messages */
	const char	*buf;
	size_t		 len;
	size_t		 pos;
	int		 line;
	int		 errors;
	struct token	 cur;		/* the token being looked at */
	struct macro	 macros[CONF_MACROS_MAX];
	size_t		 nmacros;
	struct berth_conf *conf;
	unsigned int	 policy_lists_seen;	/* POLICY_SEEN_* */
};

struct keyword;
typedef int	(*keyword_parse_fn)(struct parser *, const struct keyword *);
typedef void	(*keyword_print_fn)(const struct berth_conf *,
		    const struct keyword *, FILE *, const char *);

struct keyword {
	const char		*name;
	keyword_parse_fn	 parse;
	keyword_print_fn	 print;
	struct field		 field;		/* for kw_value */
	const struct keyword	*block;		/* for kw_block */
};

static int	kw_value(struct parser *, const struct keyword *);
static int	kw_user(struct parser *, const struct keyword *);
static int	kw_listen(struct parser *, const struct keyword *);
static int	kw_block(struct parser *, const struct keyword *);
static void	print_value(const struct berth_conf *,
		    const struct keyword *, FILE *, const char *);
static void	print_user(const struct berth_conf *, const struct keyword *,
		    FILE *, const char *);
static void	print_listen(const struct berth_conf *,
		    const struct keyword *, FILE *, const char *);
static void	print_block(const struct berth_conf *,
		    const struct keyword *, FILE *, const char *);
static int	kw_policy(struct parser *, const struct keyword *);
static void	print_policy(const struct berth_conf *, const struct keyword *,
		    FILE *, const char *);
static void	print_nothing(const struct berth_conf *,
		    const struct keyword *, FILE *, const char *);
static int	kw_build(struct parser *, const struct keyword *);
static void	print_build(const struct berth_conf *, const struct keyword *,
		    FILE *, const char *);

#define VALUE(name, kind, member, min, max)				\
	{ (name), kw_value, print_value, FIELD(kind, member, min, max), NULL }

/*
 * Interval bounds: too short hammers the control plane, too long gets a
 * node marked offline (SkyPanel after 90 s, SkyPanelV2 after 5 min), but
 * an operator may know better, so only the absurd is refused.
 */
static const struct keyword control_plane_keywords[] = {
	VALUE("protocol", F_PROTOCOL, protocol, 0, 0),
	VALUE("url", F_URL, cp_url, 0, 0),
	VALUE("enrol-token", F_SECRET, enrol_token, 0, 0),
	VALUE("node-secret", F_SECRET, node_secret, 0, 0),
	VALUE("cluster-secret", F_SECRET, cluster_secret, 0, 0),
	VALUE("node-name", F_NAME, node_name, 0, 0),
	VALUE("node-id", F_IDENT, node_id, 0, 0),
	VALUE("region", F_NAME, region, 0, 0),
	VALUE("heartbeat-interval", F_MSEC, heartbeat_interval_ms,
	    MSEC_PER_SEC, MSEC_PER_HOUR),
	VALUE("poll-interval", F_MSEC, poll_interval_ms,
	    100, MSEC_PER_HOUR),
	VALUE("advertise-hostname", F_HOST, advertise_hostname, 0, 0),
	VALUE("advertise-address", F_ADDRESS, advertise_addr, 0, 0),
	VALUE("advertise-port", F_PORT, advertise_port, 0, 65535),
	VALUE("cluster-port", F_PORT, cluster_port, 1, 65535),
	VALUE("discovery-port", F_PORT, discovery_port, 0, 65535),
	VALUE("require-signed-tasks", F_YESNO, require_signed_tasks, 0, 1),
	VALUE("ca-file", F_PATH, cp_ca_file, 0, 0),
	VALUE("pin-sha256", F_PIN, cp_pin_sha256, 0, 0),
	{ NULL, NULL, NULL, { 0, 0, 0, 0, 0 }, NULL }
};

static const struct keyword limits_keywords[] = {
	VALUE("max-containers", F_NUMBER, max_containers, 1, 100000),
	VALUE("max-cpu-percent", F_NUMBER, max_cpu_percent, 1, 100),
	VALUE("max-memory-percent", F_NUMBER, max_memory_percent, 1, 100),
	VALUE("max-concurrent-builds", F_NUMBER, max_concurrent_builds, 1, 64),
	VALUE("build-timeout", F_SEC, build_timeout_sec,
	    SEC_PER_MIN, SEC_PER_DAY),
	VALUE("max-concurrent-runs", F_NUMBER, max_concurrent_runs, 1, 64),
	VALUE("run-timeout", F_SEC, run_timeout_sec, 1, SEC_PER_DAY),
	{ NULL, NULL, NULL, { 0, 0, 0, 0, 0 }, NULL }
};

/* The policy block (DESIGN.md §6); its words are checked in policy_apply. */
#define POLICY_KEYWORD(name)						\
	{ (name), kw_policy, print_nothing, { 0, 0, 0, 0, 0 }, NULL }

static const struct keyword policy_keywords[] = {
	POLICY_KEYWORD("image"),
	POLICY_KEYWORD("name-template"),
	POLICY_KEYWORD("memory"),
	POLICY_KEYWORD("cpus"),
	POLICY_KEYWORD("pids"),
	POLICY_KEYWORD("publish-address"),
	POLICY_KEYWORD("host-ports"),
	POLICY_KEYWORD("bind-prefix"),
	POLICY_KEYWORD("cap-allow"),
	POLICY_KEYWORD("read-only-root"),
	POLICY_KEYWORD("runtime"),
	POLICY_KEYWORD("restart-always"),
	{ NULL, NULL, NULL, { 0, 0, 0, 0, 0 }, NULL }
};

/* The build block: each word is checked in build_apply. */
#define BUILD_KEYWORD(name)						\
	{ (name), kw_build, print_nothing, { 0, 0, 0, 0, 0 }, NULL }

static const struct keyword build_keywords[] = {
	BUILD_KEYWORD("repo-prefix"),
	BUILD_KEYWORD("allow-file-urls"),
	BUILD_KEYWORD("allow-submodules"),
	BUILD_KEYWORD("buildpack"),
	BUILD_KEYWORD("workspace-max"),
	{ NULL, NULL, NULL, { 0, 0, 0, 0, 0 }, NULL }
};

static const struct keyword top_keywords[] = {
	VALUE("state-dir", F_PATH, state_dir, 1, 0),
	VALUE("control-socket", F_SOCKET, control_socket, 1, 0),
	VALUE("workspace-root", F_PATH, workspace_root, 1, 0),
	VALUE("docker-socket", F_SOCKET, docker_socket, 1, 0),
	{ "user", kw_user, print_user, { 0, 0, 0, 0, 0 }, NULL },
	VALUE("log-level", F_LOGLEVEL, log_verbose, 0, 0),
	{ "listen", kw_listen, print_listen, { 0, 0, 0, 0, 0 }, NULL },
	{ "control-plane", kw_block, print_block, { 0, 0, 0, 0, 0 },
	    control_plane_keywords },
	{ "limits", kw_block, print_block, { 0, 0, 0, 0, 0 },
	    limits_keywords },
	{ "policy", kw_block, print_policy, { 0, 0, 0, 0, 0 },
	    policy_keywords },
	{ "build", kw_block, print_build, { 0, 0, 0, 0, 0 },
	    build_keywords },
	{ NULL, NULL, NULL, { 0, 0, 0, 0, 0 }, NULL }
};

static const char *const protocol_names[PROTO_MAX] = {
	[PROTO_NATIVE] = "native",
	[PROTO_SKYPANEL] = "skypanel",
	[PROTO_SKYPANEL_V2] = "skypanel-v2",
	[PROTO_MIAAS] = "miaas",
	[PROTO_LORMAS] = "lormas",
	[PROTO_CODARA] = "codara",
};

static const char *const log_level_names[] = { "warning", "info", "debug" };

/* The URL each seed agent used when none was given, for error hints. */
static const char *const protocol_default_url[PROTO_MAX] = {
	[PROTO_SKYPANEL] = "http://localhost:3001",
	[PROTO_SKYPANEL_V2] = "http://localhost:3001",
	[PROTO_MIAAS] = "http://localhost:8080",
	[PROTO_LORMAS] = "ws://localhost:3000",
};

/* The Codara agent's documented default secret: known to everyone. */
#define CODARA_DEFAULT_SECRET	"your-cluster-secret-key"

const char *
protocol_name(enum cp_protocol protocol)
{
	if ((unsigned int)protocol >= PROTO_MAX)
		return "unknown";
	return protocol_names[protocol];
}

void
conf_defaults(struct berth_conf *conf)
{
	/* Zeroed first so that structs compare and travel without junk. */
	memset(conf, 0, sizeof(*conf));
	(void)strlcpy(conf->state_dir, BERTH_STATE_DIR,
	    sizeof(conf->state_dir));
	(void)strlcpy(conf->control_socket, BERTH_CONTROL_SOCKET,
	    sizeof(conf->control_socket));
	(void)strlcpy(conf->workspace_root, BERTH_WORKSPACE_ROOT,
	    sizeof(conf->workspace_root));
	(void)strlcpy(conf->docker_socket, BERTH_DOCKER_SOCKET,
	    sizeof(conf->docker_socket));
	(void)strlcpy(conf->user[ROLE_NETD], "_berth", BERTH_USER_LEN);
	(void)strlcpy(conf->user[ROLE_BUILDER], "_berthbuild", BERTH_USER_LEN);
	(void)strlcpy(conf->user[ROLE_RUNNER], "_berthrun", BERTH_USER_LEN);
	conf->log_verbose = LOG_LEVEL_WARN;
	(void)strlcpy(conf->listen_addr, "127.0.0.1",
	    sizeof(conf->listen_addr));
	conf->listen_port = 0;
	conf->protocol = PROTO_NATIVE;
	(void)strlcpy(conf->region, "local", sizeof(conf->region));
	conf->heartbeat_interval_ms = 30 * MSEC_PER_SEC;
	conf->poll_interval_ms = 10 * MSEC_PER_SEC;
	conf->cluster_port = 4000;
	conf->discovery_port = 4001;
	conf->max_containers = 50;
	conf->max_cpu_percent = 90;
	conf->max_memory_percent = 90;
	conf->max_concurrent_builds = 2;
	conf->build_timeout_sec = 30 * SEC_PER_MIN;
	conf->max_concurrent_runs = 4;
	conf->run_timeout_sec = 300;
	policy_defaults(&conf->policy);
	/* Builds: no URL allowed until repo-prefix says which. */
	(void)strlcpy(conf->buildpacks[BUILD_KIND_STATIC], "berth-base:latest",
	    sizeof(conf->buildpacks[BUILD_KIND_STATIC]));
	conf->build_workspace_max = BUILD_WORKSPACE_DEFAULT;
}

/*
 * Values: checking, storing, describing and formatting, shared by the
 * parser, the environment and the printer.
 */

static int
ascii_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int
ascii_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
ascii_alnum(int c)
{
	return ascii_lower(c) || ascii_digit(c) || (c >= 'A' && c <= 'Z');
}

static int
printable(const char *s)
{
	const unsigned char	*u;

	for (u = (const unsigned char *)s; *u != '\0'; u++)
		if (*u < 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

static int
only_chars(const char *s, const char *extra)
{
	for (; *s != '\0'; s++)
		if (!ascii_alnum((unsigned char)*s) &&
		    strchr(extra, *s) == NULL)
			return 0;
	return 1;
}

/*
 * Decimal digits only: seeds used parseInt, which took "50abc" as 50.
 * At most 12 digits, so that durations in ms cannot overflow.
 */
static int
parse_uint(const char *s, size_t *used, uint64_t *value)
{
	size_t	 i, n = strspn(s, "0123456789");

	if (n == 0 || n > 12)
		return -1;
	*value = 0;
	for (i = 0; i < n; i++)
		*value = *value * 10 + (uint64_t)(s[i] - '0');
	*used = n;
	return 0;
}

/* "30", "30s", "500ms", "5m", "1h" in ms; a bare number counts bare_ms. */
static int
parse_duration(const char *s, uint32_t bare_ms, uint64_t *ms)
{
	static const struct {
		const char	*suffix;
		uint32_t	 ms;
	} units[] = {
		{ "ms", 1 }, { "s", MSEC_PER_SEC }, { "m", MSEC_PER_MIN },
		{ "h", MSEC_PER_HOUR },
	};
	uint64_t	 n;
	size_t		 used, i;

	if (parse_uint(s, &used, &n) == -1)
		return -1;
	if (s[used] == '\0') {
		*ms = n * bare_ms;
		return 0;
	}
	for (i = 0; i < NITEMS(units); i++) {
		if (strcmp(s + used, units[i].suffix) == 0) {
			*ms = n * units[i].ms;
			return 0;
		}
	}
	return -1;
}

static void
format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % MSEC_PER_HOUR == 0)
		(void)snprintf(buf, len, "%" PRIu64 "h", ms / MSEC_PER_HOUR);
	else if (ms != 0 && ms % MSEC_PER_MIN == 0)
		(void)snprintf(buf, len, "%" PRIu64 "m", ms / MSEC_PER_MIN);
	else if (ms % MSEC_PER_SEC == 0)
		(void)snprintf(buf, len, "%" PRIu64 "s", ms / MSEC_PER_SEC);
	else
		(void)snprintf(buf, len, "%" PRIu64 "ms", ms);
}

/* A ".." component would defeat the prefix checks in conf_check. */
static int
path_valid(const char *s)
{
	const char	*p;

	if (s[0] != '/' || !printable(s))
		return 0;
	for (p = s; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return 0;
	return 1;
}

static int
user_valid(const char *s)
{
	if (s[0] != '_' && !ascii_lower((unsigned char)s[0]))
		return 0;
	for (; *s != '\0'; s++)
		if (!ascii_lower((unsigned char)*s) &&
		    !ascii_digit((unsigned char)*s) && *s != '_' && *s != '-')
			return 0;
	return 1;
}

static int
address_valid(const char *s)
{
	struct in6_addr	 a6;
	struct in_addr	 a4;

	return inet_pton(AF_INET, s, &a4) == 1 ||
	    inet_pton(AF_INET6, s, &a6) == 1;
}

/*
 * Credentials in the URL would be printed by conf_print and logged by
 * HTTP libraries; they belong in enrol-token and node-secret.
 */
static int
url_valid(const char *s)
{
	static const char *const schemes[] = {
		"http://", "https://", "ws://", "wss://"
	};
	const char	*host = NULL;
	size_t		 i, hostlen;

	for (i = 0; i < NITEMS(schemes); i++)
		if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
			host = s + strlen(schemes[i]);
	if (host == NULL)
		return 0;
	hostlen = strcspn(host, "/?#");
	if (hostlen == 0 || memchr(host, '@', hostlen) != NULL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '"' ||
		    *s == '\\')
			return 0;
	return 1;
}

/*
 * One or more "sha256//" + the standard base64 of a 32-byte SHA-256
 * (43 characters and one "="), joined by ";", as libcurl's
 * CURLOPT_PINNEDPUBLICKEY takes them.  The 43rd character carries two
 * bits past the 256th, which must be zero: each digest has one spelling.
 */
static int
pin_valid(const char *s)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char		*last;

	for (;;) {
		if (strncmp(s, "sha256//", 8) != 0)
			return 0;
		s += 8;
		if (strspn(s, b64) != 43 || s[43] != '=')
			return 0;
		last = strchr(b64, s[42]);
		if (((last - b64) & 3) != 0)
			return 0;
		s += 44;
		if (*s == '\0')
			return 1;
		if (*s++ != ';')
			return 0;
	}
}

static int
string_valid(const struct field *f, const char *s)
{
	size_t	 len = strlen(s);

	if (len < f->min || len >= f->size)
		return 0;
	if (len == 0)
		return 1;
	switch (f->kind) {
	case F_SOCKET:
		if (len >= CONF_SUN_PATH_LEN)
			return 0;
		return path_valid(s);
	case F_PATH:
		return path_valid(s);
	case F_USER:
		return user_valid(s);
	case F_NAME:
	case F_SECRET:
		return printable(s);
	case F_IDENT:
		return only_chars(s, "._-");
	case F_HOST:
		return only_chars(s, ".-") && s[0] != '-' && s[0] != '.';
	case F_ADDRESS:
		return address_valid(s);
	case F_URL:
		return url_valid(s);
	case F_PIN:
		return pin_valid(s);
	default:
		return 0;
	}
}

static int
field_is_string(const struct field *f)
{
	return f->kind <= F_SECRET;
}

static int
name_lookup(const char *const *names, size_t n, const char *s)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

/* Parse text as a value of f into conf; -1 (nothing stored) if invalid. */
static int
field_set(struct berth_conf *conf, const struct field *f, const char *text,
    uint32_t bare_ms)
{
	char		*dst = (char *)conf + f->offset;
	uint64_t	 n;
	uint32_t	 u32;
	uint16_t	 u16;
	size_t		 used;
	int		 i;
	enum cp_protocol proto;

	if (field_is_string(f)) {
		if (!string_valid(f, text))
			return -1;
		/* Clear it all: a shorter value must not leave a tail. */
		memset(dst, 0, f->size);
		memcpy(dst, text, strlen(text));
		return 0;
	}
	switch (f->kind) {
	case F_NUMBER:
	case F_PORT:
		if (parse_uint(text, &used, &n) == -1 || text[used] != '\0' ||
		    n < f->min || n > f->max)
			return -1;
		if (f->kind == F_PORT) {
			u16 = (uint16_t)n;
			memcpy(dst, &u16, sizeof(u16));
		} else {
			u32 = (uint32_t)n;
			memcpy(dst, &u32, sizeof(u32));
		}
		return 0;
	case F_MSEC:
	case F_SEC:
		if (parse_duration(text, bare_ms, &n) == -1)
			return -1;
		if (f->kind == F_SEC) {
			if (n % MSEC_PER_SEC != 0)
				return -1;
			n /= MSEC_PER_SEC;
		}
		if (n < f->min || n > f->max)
			return -1;
		u32 = (uint32_t)n;
		memcpy(dst, &u32, sizeof(u32));
		return 0;
	case F_YESNO:
		if (strcmp(text, "yes") != 0 && strcmp(text, "no") != 0)
			return -1;
		u32 = strcmp(text, "yes") == 0;
		memcpy(dst, &u32, sizeof(u32));
		return 0;
	case F_PROTOCOL:
		if ((i = name_lookup(protocol_names, PROTO_MAX, text)) == -1)
			return -1;
		proto = (enum cp_protocol)i;
		memcpy(dst, &proto, sizeof(proto));
		return 0;
	case F_LOGLEVEL:
		if ((i = name_lookup(log_level_names, NITEMS(log_level_names),
		    text)) == -1)
			return -1;
		memcpy(dst, &i, sizeof(i));
		return 0;
	default:
		return -1;
	}
}

static void
describe_names(const char *const *names, size_t n, char *buf, size_t len)
{
	size_t	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			(void)strlcat(buf, i + 1 == n ? " or " : ", ", len);
		(void)strlcat(buf, names[i], len);
	}
}

/* What a valid value of f looks like, for "expected ..." messages. */
static void
describe_field(const struct field *f, char *buf, size_t len)
{
	char	 lo[32], hi[32];
	size_t	 max = f->size > 0 ? f->size - 1 : 0;

	switch (f->kind) {
	case F_PATH:
		(void)snprintf(buf, len, "an absolute path without \"..\", "
		    "at most %zu bytes", max);
		break;
	case F_SOCKET:
		(void)snprintf(buf, len, "an absolute socket path without "
		    "\"..\", at most %zu bytes", CONF_SUN_PATH_LEN - 1);
		break;
	case F_USER:
		(void)snprintf(buf, len, "a user name ([a-z_][a-z0-9_-]*, "
		    "at most %zu characters)", max);
		break;
	case F_NAME:
		(void)snprintf(buf, len, "printable text of at most %zu "
		    "bytes", max);
		break;
	case F_IDENT:
		(void)snprintf(buf, len, "an id of letters, digits, \".\", "
		    "\"_\" or \"-\" (at most %zu)", max);
		break;
	case F_HOST:
		(void)snprintf(buf, len, "a host name of at most %zu bytes",
		    max);
		break;
	case F_ADDRESS:
		(void)snprintf(buf, len, "an IPv4 or IPv6 address");
		break;
	case F_URL:
		(void)snprintf(buf, len, "an http, https, ws or wss URL "
		    "without user@, at most %zu bytes", max);
		break;
	case F_PIN:
		(void)snprintf(buf, len, "a quoted \"sha256//\" and the "
		    "base64 of 32 bytes, several joined by \";\" (at most "
		    "%zu bytes)", max);
		break;
	case F_SECRET:
		(void)snprintf(buf, len, "a secret of at most %zu printable "
		    "bytes", max);
		break;
	case F_NUMBER:
	case F_PORT:
		(void)snprintf(buf, len, "a number from %u to %u",
		    f->min, f->max);
		break;
	case F_MSEC:
	case F_SEC:
		format_duration((uint64_t)f->min *
		    (f->kind == F_SEC ? MSEC_PER_SEC : 1), lo, sizeof(lo));
		format_duration((uint64_t)f->max *
		    (f->kind == F_SEC ? MSEC_PER_SEC : 1), hi, sizeof(hi));
		(void)snprintf(buf, len, "a duration from %s to %s%s", lo, hi,
		    f->kind == F_SEC ? " in whole seconds" : "");
		break;
	case F_PROTOCOL:
		describe_names(protocol_names, PROTO_MAX, buf, len);
		break;
	case F_YESNO:
		(void)snprintf(buf, len, "yes or no");
		break;
	case F_LOGLEVEL:
		describe_names(log_level_names, NITEMS(log_level_names),
		    buf, len);
		break;
	}
}

/*
 * A bad value as a message may quote it: in quotes, escaped, cut short.
 * Secrets are never quoted, only measured.
 */
static const char *
describe_got(const char *s, int secret, char *buf, size_t len)
{
	size_t		 o = 0, i;
	unsigned char	 c;

	if (secret) {
		(void)snprintf(buf, len, "a value of %zu bytes", strlen(s));
		return buf;
	}
	buf[o++] = '"';
	for (i = 0; s[i] != '\0' && o + 8 < len; i++) {
		c = (unsigned char)s[i];
		if (i >= CONF_GOT_MAX) {
			o += (size_t)snprintf(buf + o, len - o, "...");
			break;
		}
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/*
 * The "got" of a refused value of f.  A URL with "@" may carry a password
 * (that is why it is refused), so it is not quoted either.
 */
static const char *
describe_got_field(const struct field *f, const char *s, char *buf,
    size_t len)
{
	if (f->kind == F_URL && strchr(s, '@') != NULL) {
		(void)snprintf(buf, len, "a URL with \"@\" (not shown)");
		return buf;
	}
	return describe_got(s, f->kind == F_SECRET, buf, len);
}

static void
print_quoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', fp);
		fputc(*s, fp);
	}
	fputc('"', fp);
}

/* Print a value of f in berth.conf syntax, secrets masked. */
static void
field_print(const struct berth_conf *conf, const struct field *f, FILE *fp)
{
	const char	*src = (const char *)conf + f->offset;
	char		 buf[32];
	uint32_t	 u32;
	uint16_t	 u16;
	int		 i;
	enum cp_protocol proto;

	if (f->kind == F_SECRET)
		print_quoted(fp, src[0] != '\0' ? SECRET_MASK : "");
	else if (field_is_string(f))
		print_quoted(fp, src);
	else if (f->kind == F_PORT) {
		memcpy(&u16, src, sizeof(u16));
		fprintf(fp, "%u", (unsigned int)u16);
	} else if (f->kind == F_NUMBER) {
		memcpy(&u32, src, sizeof(u32));
		fprintf(fp, "%" PRIu32, u32);
	} else if (f->kind == F_MSEC || f->kind == F_SEC) {
		memcpy(&u32, src, sizeof(u32));
		format_duration((uint64_t)u32 *
		    (f->kind == F_SEC ? MSEC_PER_SEC : 1), buf, sizeof(buf));
		fputs(buf, fp);
	} else if (f->kind == F_YESNO) {
		memcpy(&u32, src, sizeof(u32));
		fputs(u32 ? "yes" : "no", fp);
	} else if (f->kind == F_PROTOCOL) {
		memcpy(&proto, src, sizeof(proto));
		fputs(protocol_name(proto), fp);
	} else if (f->kind == F_LOGLEVEL) {
		memcpy(&i, src, sizeof(i));
		/* -v on the command line may have raised it past debug. */
		if (i < 0)
			i = 0;
		if ((size_t)i >= NITEMS(log_level_names))
			i = NITEMS(log_level_names) - 1;
		fputs(log_level_names[i], fp);
	}
}

static const struct keyword *
keyword_find(const struct keyword *table, const char *name)
{
	for (; table->name != NULL; table++)
		if (strcmp(table->name, name) == 0)
			return table;
	return NULL;
}

/* Look in every table: the environment names keywords without blocks. */
static const struct keyword *
keyword_find_any(const char *name)
{
	const struct keyword	*kw, *top;

	for (top = top_keywords; top->name != NULL; top++) {
		if (strcmp(top->name, name) == 0)
			return top;
		if (top->block != NULL &&
		    (kw = keyword_find(top->block, name)) != NULL)
			return kw;
	}
	return NULL;
}

/*
 * The lexer.  Statements end at a newline; "\" before a newline joins
 * lines; "#" starts a comment.  A token it cannot make becomes TOK_ERROR
 * after one message, so the parser can skip it without a second one.
 */

static void conf_error(struct parser *, int, const char *, ...)
    __attribute__((__format__(printf, 3, 4)));

static void
conf_error(struct parser *p, int line, const char *fmt, ...)
{
	char	 msg[768];
	va_list	 ap;

	if (p->errors >= CONF_ERRORS_MAX)
		return;
	p->errors++;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s:%d: %s", p->name, line, msg);
	if (p->errors == CONF_ERRORS_MAX)
		log_warnx("%s:%d: too many errors, giving up", p->name, line);
}

static int
word_char(int c)
{
	return ascii_alnum(c) || (c != '\0' && strchr("._-/:@+%,", c) != NULL);
}

static int
macro_char(int c)
{
	return ascii_alnum(c) || c == '_';
}

static void
token_append(struct token *t, int c)
{
	if (t->len >= CONF_TOKEN_MAX) {
		t->overflow = 1;
		return;
	}
	t->text[t->len++] = (char)c;
	t->text[t->len] = '\0';
}

static void
lex_skip_blank(struct parser *p)
{
	while (p->pos < p->len) {
		char	 c = p->buf[p->pos];

		if (c == ' ' || c == '\t' || c == '\r')
			p->pos++;
		else if (c == '\\' && p->pos + 1 < p->len &&
		    p->buf[p->pos + 1] == '\n') {
			p->pos += 2;
			p->line++;
		} else if (c == '#') {
			while (p->pos < p->len && p->buf[p->pos] != '\n')
				p->pos++;
		} else
			break;
	}
}

static void
lex_string(struct parser *p)
{
	struct token	*t = &p->cur;
	char		 problem[128] = "";
	unsigned char	 c;

	p->pos++;
	for (;;) {
		if (p->pos >= p->len || p->buf[p->pos] == '\n') {
			conf_error(p, t->line, "expected a closing quote for "
			    "the string, got end of %s",
			    p->pos >= p->len ? "file" : "line");
			t->type = TOK_ERROR;
			return;
		}
		c = (unsigned char)p->buf[p->pos++];
		if (c == '"')
			break;
		if (c == '\\' && p->pos < p->len &&
		    (p->buf[p->pos] == '"' || p->buf[p->pos] == '\\'))
			c = (unsigned char)p->buf[p->pos++];
		else if (c == '\\' && problem[0] == '\0')
			(void)snprintf(problem, sizeof(problem), "expected "
			    "\\\" or \\\\ in a string, got a lone backslash");
		else if ((c < 0x20 || c == 0x7f) && problem[0] == '\0')
			(void)snprintf(problem, sizeof(problem), "expected "
			    "printable characters in a string, got byte "
			    "0x%02x", c);
		token_append(t, c);
	}
	if (t->overflow && problem[0] == '\0')
		(void)snprintf(problem, sizeof(problem), "expected a string "
		    "of at most %d bytes, got a longer one", CONF_TOKEN_MAX);
	if (problem[0] != '\0') {
		conf_error(p, t->line, "%s", problem);
		t->type = TOK_ERROR;
		return;
	}
	t->type = TOK_STRING;
}

static void
lex_word(struct parser *p)
{
	struct token	*t = &p->cur;

	while (p->pos < p->len && word_char((unsigned char)p->buf[p->pos]))
		token_append(t, p->buf[p->pos++]);
	if (t->overflow) {
		conf_error(p, t->line, "expected a word of at most %d bytes, "
		    "got a longer one", CONF_TOKEN_MAX);
		t->type = TOK_ERROR;
		return;
	}
	t->type = TOK_WORD;
}

static const struct macro *
macro_find(const struct parser *p, const char *name)
{
	size_t	 i;

	for (i = 0; i < p->nmacros; i++)
		if (strcmp(p->macros[i].name, name) == 0)
			return &p->macros[i];
	return NULL;
}

/* "$name" becomes a string token holding the macro's value. */
static void
lex_macro(struct parser *p)
{
	struct token		*t = &p->cur;
	const struct macro	*m;
	char			 name[CONF_MACRO_NAME_LEN + 1];
	char			 got[CONF_GOT_LEN];

	p->pos++;
	while (p->pos < p->len && macro_char((unsigned char)p->buf[p->pos]))
		token_append(t, p->buf[p->pos++]);
	t->type = TOK_ERROR;
	if (t->len == 0) {
		conf_error(p, t->line, "expected a macro name after \"$\", "
		    "got %s", p->pos < p->len ? "another character" :
		    "end of file");
		return;
	}
	if (t->overflow || (m = macro_find(p, t->text)) == NULL) {
		(void)snprintf(name, sizeof(name), "$%.*s",
		    (int)sizeof(name) - 2, t->text);
		conf_error(p, t->line, "expected a defined macro, got %s",
		    describe_got(name, 0, got, sizeof(got)));
		return;
	}
	t->len = strlen(m->value);
	memcpy(t->text, m->value, t->len + 1);
	t->type = TOK_STRING;
}

static void
lex(struct parser *p)
{
	struct token	*t = &p->cur;
	unsigned char	 c;

	t->len = 0;
	t->overflow = 0;
	t->text[0] = '\0';
	lex_skip_blank(p);
	t->line = p->line;
	/* After too many errors, pretend the file ends here. */
	if (p->pos >= p->len || p->errors >= CONF_ERRORS_MAX) {
		t->type = TOK_EOF;
		return;
	}
	c = (unsigned char)p->buf[p->pos];
	switch (c) {
	case '\n':
		p->pos++;
		p->line++;
		t->type = TOK_NEWLINE;
		return;
	case '{':
	case '}':
	case '=':
		p->pos++;
		t->type = c == '{' ? TOK_LBRACE : c == '}' ? TOK_RBRACE :
		    TOK_EQUALS;
		return;
	case '"':
		lex_string(p);
		return;
	case '$':
		lex_macro(p);
		return;
	}
	if (word_char(c)) {
		lex_word(p);
		return;
	}
	p->pos++;
	t->type = TOK_ERROR;
	if (c > 0x20 && c < 0x7f)
		conf_error(p, t->line, "expected a word, a quoted string, "
		    "\"{\", \"}\" or \"=\", got \"%c\"", c);
	else
		conf_error(p, t->line, "expected a word, a quoted string, "
		    "\"{\", \"}\" or \"=\", got byte 0x%02x", c);
}

/*
 * The parser.  Each statement is a keyword from the table of the block it
 * is in, its arguments, and the end of the line.  After an error the rest
 * of the statement (and any block it opened) is skipped so that the
 * following lines are still checked.
 */

static const char *
token_got(const struct token *t, char *buf, size_t len)
{
	switch (t->type) {
	case TOK_EOF:
		return "end of file";
	case TOK_NEWLINE:
		return "end of line";
	case TOK_LBRACE:
		return "\"{\"";
	case TOK_RBRACE:
		return "\"}\"";
	case TOK_EQUALS:
		return "\"=\"";
	case TOK_ERROR:
		return "an invalid token";
	default:
		return describe_got(t->text, 0, buf, len);
	}
}

static void expected(struct parser *, const char *, ...)
    __attribute__((__format__(printf, 2, 3)));

/* "expected <what>, got <the current token>", unless the lexer spoke. */
static void
expected(struct parser *p, const char *fmt, ...)
{
	char	 what[256], got[CONF_GOT_LEN];
	va_list	 ap;

	if (p->cur.type == TOK_ERROR)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	conf_error(p, p->cur.line, "expected %s, got %s", what,
	    token_got(&p->cur, got, sizeof(got)));
}

static int
token_is_value(const struct token *t)
{
	return t->type == TOK_WORD || t->type == TOK_STRING;
}

/* Store the current token as a value of f, or say what was expected. */
static int
parse_field(struct parser *p, const struct field *f, const char *after)
{
	char	 desc[256], got[CONF_GOT_LEN];

	if (token_is_value(&p->cur) &&
	    field_set(p->conf, f, p->cur.text, MSEC_PER_SEC) == 0) {
		lex(p);
		return 0;
	}
	describe_field(f, desc, sizeof(desc));
	if (token_is_value(&p->cur))
		conf_error(p, p->cur.line, "expected %s after %s, got %s",
		    desc, after, describe_got_field(f, p->cur.text, got,
		    sizeof(got)));
	else
		expected(p, "%s after %s", desc, after);
	return -1;
}

/* Skip to the end of the statement, over any block it opened. */
static void
skip_statement(struct parser *p, int in_block)
{
	int	 depth = 0;

	for (;; lex(p)) {
		switch (p->cur.type) {
		case TOK_EOF:
			return;
		case TOK_NEWLINE:
			if (depth == 0) {
				lex(p);
				return;
			}
			break;
		case TOK_LBRACE:
			depth++;
			break;
		case TOK_RBRACE:
			if (depth > 0)
				depth--;
			else if (in_block)
				return;		/* it closes our block */
			break;
		default:
			break;
		}
	}
}

static void
expect_end(struct parser *p, const char *after, int in_block)
{
	if (p->cur.type == TOK_NEWLINE) {
		lex(p);
		return;
	}
	if (p->cur.type == TOK_EOF || (in_block && p->cur.type == TOK_RBRACE))
		return;
	expected(p, "end of line after %s", after);
	skip_statement(p, in_block);
}

static int
kw_value(struct parser *p, const struct keyword *kw)
{
	return parse_field(p, &kw->field, kw->name);
}

/* user netd|builder|runner NAME */
static int
kw_user(struct parser *p, const struct keyword *kw)
{
	struct field	 f = { F_USER, offsetof(struct berth_conf, user),
			    BERTH_USER_LEN, 1, 0 };
	enum berth_role	 role;
	char		 after[64];

	if (!token_is_value(&p->cur) ||
	    role_from_name(p->cur.text, &role) == -1 || role == ROLE_PARENT) {
		expected(p, "netd, builder or runner after %s", kw->name);
		return -1;
	}
	lex(p);
	f.offset += (size_t)role * BERTH_USER_LEN;
	(void)snprintf(after, sizeof(after), "%s %s", kw->name,
	    role_name(role));
	return parse_field(p, &f, after);
}

/* listen on ADDRESS port N | listen off */
static int
kw_listen(struct parser *p, const struct keyword *kw)
{
	struct field	 addr = FIELD(F_ADDRESS, listen_addr, 1, 0);
	struct field	 port = FIELD(F_PORT, listen_port, 1, 65535);

	if (token_is_value(&p->cur) && strcmp(p->cur.text, "off") == 0) {
		/* Reset the address too, so that print and parse agree. */
		(void)field_set(p->conf, &addr, "127.0.0.1", 0);
		p->conf->listen_port = 0;
		lex(p);
		return 0;
	}
	if (!token_is_value(&p->cur) || strcmp(p->cur.text, "on") != 0) {
		expected(p, "on or off after %s", kw->name);
		return -1;
	}
	lex(p);
	if (parse_field(p, &addr, "listen on") == -1)
		return -1;
	if (!token_is_value(&p->cur) || strcmp(p->cur.text, "port") != 0) {
		expected(p, "port after the listen address");
		return -1;
	}
	lex(p);
	return parse_field(p, &port, "port");
}

static void	parse_statement(struct parser *, const struct keyword *,
		    const char *);

/*
 * Policy statements: the keyword is followed by one to four words, which
 * policy_apply checks and stores.  Lists that have a non-empty default
 * (publish-address) are replaced by the first statement, not appended to.
 */
#define POLICY_WORDS_MAX	4
#define POLICY_SEEN_HOST_IPS	0x01

static const char *
policy_word_size(const char *word, uint64_t *bytes)
{
	char		 digits[32];
	size_t		 len = strlen(word), used;
	uint64_t	 unit = 1, value;

	if (len == 0 || len >= sizeof(digits))
		return "a size such as 512M or 2G";
	memcpy(digits, word, len + 1);
	switch (digits[len - 1]) {
	case 'K':
		unit = 1024ULL;
		break;
	case 'M':
		unit = 1024ULL * 1024;
		break;
	case 'G':
		unit = 1024ULL * 1024 * 1024;
		break;
	default:
		break;
	}
	if (unit != 1)
		digits[--len] = '\0';
	if (parse_uint(digits, &used, &value) == -1 || used != len ||
	    value == 0 || value > UINT64_MAX / unit)
		return "a size such as 512M or 2G";
	*bytes = value * unit;
	return NULL;
}

/* "1.5" CPUs as nano-CPUs, exactly. */
static const char *
policy_word_cpus(const char *word, uint64_t *nano)
{
	const char	*dot = strchr(word, '.');
	char		 whole[8] = "0", frac[10] = "000000000";
	size_t		 n = dot ? (size_t)(dot - word) : strlen(word), used;
	uint64_t	 w, f;

	if (n >= sizeof(whole) || (dot != NULL && (strlen(dot + 1) == 0 ||
	    strlen(dot + 1) > 9)))
		return "a number of CPUs such as 1 or 0.5";
	if (n > 0) {
		memcpy(whole, word, n);
		whole[n] = '\0';
	}
	if (dot != NULL)
		memcpy(frac, dot + 1, strlen(dot + 1));
	if (parse_uint(whole, &used, &w) == -1 || used != strlen(whole) ||
	    parse_uint(frac, &used, &f) == -1 || used != 9 || w > 1024 ||
	    w * 1000000000ULL + f == 0)
		return "a number of CPUs such as 1 or 0.5";
	*nano = w * 1000000000ULL + f;
	return NULL;
}

static const char *
policy_word_count(const char *word, uint64_t *count)
{
	size_t	 used;

	if (parse_uint(word, &used, count) == -1 || used != strlen(word) ||
	    *count == 0 || *count > INT32_MAX)
		return "a positive whole number";
	return NULL;
}

/* memory|cpus|pids default X max Y, either half optional. */
static const char *
policy_default_max(char *const *words, int nwords,
    const char *(*parse)(const char *, uint64_t *), uint64_t *def,
    uint64_t *max)
{
	const char	*why;
	int		 i;

	if (nwords != 2 && nwords != 4)
		return "\"default VALUE\", \"max VALUE\" or both";
	for (i = 0; i < nwords; i += 2) {
		uint64_t	*target;

		if (strcmp(words[i], "default") == 0)
			target = def;
		else if (strcmp(words[i], "max") == 0)
			target = max;
		else
			return "\"default\" or \"max\"";
		if ((why = parse(words[i + 1], target)) != NULL)
			return why;
	}
	return NULL;
}

static const char *
policy_word_yes_no(const char *word, uint32_t *flag)
{
	if (strcmp(word, "yes") == 0)
		*flag = 1;
	else if (strcmp(word, "no") == 0)
		*flag = 0;
	else
		return "yes or no";
	return NULL;
}

/* An absolute path in normal form: no "//", "/./", "/../" or trailing "/". */
static int
policy_path_normal(const char *path)
{
	size_t	 len = strlen(path);

	return path[0] == '/' && len > 1 && len < POLICY_PATH_LEN &&
	    path[len - 1] != '/' && strstr(path, "//") == NULL &&
	    strstr(path, "/./") == NULL && strstr(path, "/../") == NULL &&
	    (len < 3 || strcmp(path + len - 3, "/..") != 0) &&
	    (len < 2 || strcmp(path + len - 2, "/.") != 0) && printable(path);
}

static const char *
policy_list_add(char *list, size_t stride, uint32_t *count, uint32_t max,
    const char *word)
{
	if (*count == max)
		return "no more entries (the list is full)";
	if (strlen(word) >= stride)
		return "a shorter value";
	(void)strlcpy(list + (size_t)*count * stride, word, stride);
	(*count)++;
	return NULL;
}

static const char *
policy_apply_list(struct parser *p, const char *name, const char *word)
{
	struct policy	*pol = &p->conf->policy;
	unsigned char	 addr[16];

	if (strcmp(name, "image") == 0) {
		/* As policy_validate: quotes would not survive policy_print. */
		if (!printable(word) || strpbrk(word, " \"\\") != NULL)
			return "an image pattern such as \"berth-base:*\"";
		return policy_list_add(pol->images[0], POLICY_PATTERN_LEN,
		    &pol->nimages, POLICY_IMAGES_MAX, word);
	}
	if (strcmp(name, "publish-address") == 0) {
		if (inet_pton(AF_INET, word, addr) != 1 &&
		    inet_pton(AF_INET6, word, addr) != 1)
			return "an IPv4 or IPv6 address";
		if (!(p->policy_lists_seen & POLICY_SEEN_HOST_IPS)) {
			p->policy_lists_seen |= POLICY_SEEN_HOST_IPS;
			pol->nhost_ips = 0;
		}
		return policy_list_add(pol->host_ips[0], 46, &pol->nhost_ips,
		    POLICY_HOST_IPS_MAX, word);
	}
	if (strcmp(name, "bind-prefix") == 0) {
		if (!policy_path_normal(word))
			return "an absolute path without \"..\" or a "
			    "trailing \"/\"";
		return policy_list_add(pol->bind_prefixes[0], POLICY_PATH_LEN,
		    &pol->nbind_prefixes, POLICY_BINDS_MAX, word);
	}
	/* cap-allow */
	if (strncmp(word, "CAP_", 4) == 0)
		word += 4;
	if (!only_chars(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") ||
	    word[0] == '\0' || strcmp(word, "ALL") == 0)
		return "a capability name such as NET_BIND_SERVICE (not ALL)";
	return policy_list_add(pol->cap_allow[0], POLICY_CAP_LEN,
	    &pol->ncap_allow, POLICY_CAPS_MAX, word);
}

static const char *
policy_apply_ports(struct policy *pol, const char *word)
{
	uint64_t	 low, high;
	size_t		 used;
	const char	*dash = strchr(word, '-');

	if (dash == NULL || parse_uint(word, &used, &low) == -1 ||
	    word + used != dash || parse_uint(dash + 1, &used, &high) == -1 ||
	    dash[1 + used] != '\0' || low < 1 || low > high || high > 65535)
		return "a port range such as 1024-65535";
	pol->host_port_min = low;
	pol->host_port_max = high;
	return NULL;
}

static const char *
policy_apply_name(struct policy *pol, const char *name, const char *word)
{
	if (strcmp(name, "name-template") == 0) {
		if (strstr(word, "{app}") == NULL ||
		    strlen(word) >= sizeof(pol->name_template) ||
		    !only_chars(word, "abcdefghijklmnopqrstuvwxyz0123456789"
		    "{}_.-"))
			return "a name template holding {app}, such as "
			    "\"paas-app-{app}\"";
		(void)strlcpy(pol->name_template, word,
		    sizeof(pol->name_template));
		return NULL;
	}
	/* runtime */
	if (strlen(word) >= sizeof(pol->runtime) || word[0] == '\0' ||
	    !only_chars(word, "abcdefghijklmnopqrstuvwxyz0123456789_.-"))
		return "a runtime name such as runsc";
	(void)strlcpy(pol->runtime, word, sizeof(pol->runtime));
	return NULL;
}

static const char *
policy_apply(struct parser *p, const char *name, char *const *words,
    int nwords)
{
	struct policy	*pol = &p->conf->policy;
	uint64_t	 def, max;
	const char	*why;

	if (strcmp(name, "memory") == 0)
		return policy_default_max(words, nwords, policy_word_size,
		    &pol->memory_default, &pol->memory_max);
	if (strcmp(name, "cpus") == 0)
		return policy_default_max(words, nwords, policy_word_cpus,
		    &pol->nano_cpus_default, &pol->nano_cpus_max);
	if (strcmp(name, "pids") == 0) {
		def = pol->pids_default;
		max = pol->pids_max;
		if ((why = policy_default_max(words, nwords,
		    policy_word_count, &def, &max)) != NULL)
			return why;
		pol->pids_default = def;
		pol->pids_max = max;
		return NULL;
	}
	if (nwords != 1)
		return "one value";
	if (strcmp(name, "host-ports") == 0)
		return policy_apply_ports(pol, words[0]);
	if (strcmp(name, "read-only-root") == 0)
		return policy_word_yes_no(words[0], &pol->read_only_root);
	if (strcmp(name, "restart-always") == 0)
		return policy_word_yes_no(words[0], &pol->allow_restart_always);
	if (strcmp(name, "name-template") == 0 || strcmp(name, "runtime") == 0)
		return policy_apply_name(pol, name, words[0]);
	return policy_apply_list(p, name, words[0]);
}

/* KEYWORD WORD... up to the end of the statement. */
static int
kw_policy(struct parser *p, const struct keyword *kw)
{
	char		 words[POLICY_WORDS_MAX][CONF_TOKEN_MAX + 1];
	char		*argv[POLICY_WORDS_MAX];
	const char	*why;
	int		 nwords = 0, line = p->cur.line;

	while (token_is_value(&p->cur)) {
		if (nwords == POLICY_WORDS_MAX) {
			expected(p, "the end of the %s statement", kw->name);
			return -1;
		}
		(void)strlcpy(words[nwords], p->cur.text, sizeof(words[0]));
		argv[nwords] = words[nwords];
		nwords++;
		lex(p);
	}
	if (nwords == 0) {
		expected(p, "a value after %s", kw->name);
		return -1;
	}
	if ((why = policy_apply(p, kw->name, argv, nwords)) != NULL) {
		conf_error(p, line, "policy %s: expected %s, got \"%s\"",
		    kw->name, why, argv[nwords - 1]);
		return -1;
	}
	return 0;
}

/*
 * Build statements.  Values are printed back in double quotes, so none
 * may hold a quote, a backslash, a space or a control character.
 */
static int
build_word_plain(const char *s)
{
	return s[0] != '\0' && printable(s) && strpbrk(s, "\"\\ \t") == NULL;
}

static const char *
build_apply_prefix(struct berth_conf *conf, const char *word)
{
	const char	*scheme_end = strstr(word, "://");

	if (!build_word_plain(word) || scheme_end == NULL ||
	    scheme_end == word || strlen(word) >= BUILD_URL_LEN)
		return "a URL prefix such as git://127.0.0.1/";
	if (conf->nbuild_url_prefixes == BUILD_PREFIXES_MAX)
		return "no more prefixes (the list is full)";
	(void)strlcpy(conf->build_url_prefixes[conf->nbuild_url_prefixes++],
	    word, BUILD_URL_LEN);
	return NULL;
}

static const char *
build_apply_buildpack(struct berth_conf *conf, char *const *words,
    int nwords)
{
	int	 kind;

	if (nwords != 2)
		return "a kind and an image";
	for (kind = BUILD_KIND_NODE; kind < BUILD_KIND_MAX; kind++)
		if (strcmp(words[0], build_kind_name(kind)) == 0)
			break;
	if (kind == BUILD_KIND_MAX)
		return "node, python, go, ruby, php or static";
	if (!build_word_plain(words[1]) || strlen(words[1]) >= BUILD_IMAGE_LEN)
		return "an image such as berth-base:latest";
	(void)strlcpy(conf->buildpacks[kind], words[1], BUILD_IMAGE_LEN);
	return NULL;
}

static const char *
build_apply(struct parser *p, const char *name, char *const *words,
    int nwords)
{
	struct berth_conf	*conf = p->conf;
	uint64_t		 bytes;
	const char		*why;

	if (strcmp(name, "buildpack") == 0)
		return build_apply_buildpack(conf, words, nwords);
	if (nwords != 1)
		return "one value";
	if (strcmp(name, "repo-prefix") == 0)
		return build_apply_prefix(conf, words[0]);
	if (strcmp(name, "allow-file-urls") == 0)
		return policy_word_yes_no(words[0],
		    &conf->build_allow_file_urls);
	if (strcmp(name, "allow-submodules") == 0)
		return policy_word_yes_no(words[0],
		    &conf->build_allow_submodules);
	if ((why = policy_word_size(words[0], &bytes)) != NULL)
		return why;
	if (bytes < BUILD_WORKSPACE_MIN || bytes > BUILD_WORKSPACE_MAX)
		return "a size from 1M to 1024G";
	conf->build_workspace_max = bytes;
	return NULL;
}

static int
kw_build(struct parser *p, const struct keyword *kw)
{
	char		 words[2][CONF_TOKEN_MAX + 1];
	char		*argv[2];
	const char	*why;
	int		 nwords = 0, line = p->cur.line;

	while (token_is_value(&p->cur)) {
		if (nwords == 2) {
			expected(p, "the end of the %s statement", kw->name);
			return -1;
		}
		(void)strlcpy(words[nwords], p->cur.text, sizeof(words[0]));
		argv[nwords] = words[nwords];
		nwords++;
		lex(p);
	}
	if (nwords == 0) {
		expected(p, "a value after %s", kw->name);
		return -1;
	}
	if ((why = build_apply(p, kw->name, argv, nwords)) != NULL) {
		conf_error(p, line, "build %s: expected %s, got \"%s\"",
		    kw->name, why, argv[nwords - 1]);
		return -1;
	}
	return 0;
}

/* NAME { statements } on one level only: blocks hold no blocks. */
static int
kw_block(struct parser *p, const struct keyword *kw)
{
	int	 line = p->cur.line;

	if (p->cur.type != TOK_LBRACE) {
		expected(p, "\"{\" after %s", kw->name);
		return -1;
	}
	lex(p);
	for (;;) {
		switch (p->cur.type) {
		case TOK_NEWLINE:
			lex(p);
			break;
		case TOK_RBRACE:
			lex(p);
			return 0;
		case TOK_EOF:
			conf_error(p, p->cur.line, "expected \"}\" to close "
			    "the %s block opened at line %d, got end of file",
			    kw->name, line);
			return -1;
		case TOK_LBRACE:
			expected(p, "a keyword inside %s (blocks do not nest)",
			    kw->name);
			skip_statement(p, 1);
			break;
		default:
			parse_statement(p, kw->block, kw->name);
			break;
		}
	}
}

static int
macro_name_valid(const char *s)
{
	size_t	 len = strlen(s);

	return len > 0 && len < CONF_MACRO_NAME_LEN && !ascii_digit(s[0]) &&
	    only_chars(s, "_");
}

static int
macro_set(struct parser *p, const char *name, const char *value)
{
	struct macro	*m = (struct macro *)macro_find(p, name);
	char		*copy;

	if (m == NULL && p->nmacros == CONF_MACROS_MAX) {
		conf_error(p, p->cur.line, "expected at most %d macros, got "
		    "more", CONF_MACROS_MAX);
		return -1;
	}
	if ((copy = strdup(value)) == NULL) {
		conf_error(p, p->cur.line, "out of memory for macro %s", name);
		return -1;
	}
	if (m == NULL) {
		m = &p->macros[p->nmacros++];
		(void)strlcpy(m->name, name, sizeof(m->name));
	}
	free(m->value);
	m->value = copy;
	return 0;
}

/* NAME = VALUE, at top level; the current token is NAME. */
static void
parse_macro(struct parser *p, const char *block)
{
	char	 name[CONF_MACRO_NAME_LEN], got[CONF_GOT_LEN];

	if (block != NULL) {
		conf_error(p, p->cur.line, "expected a keyword inside %s, got "
		    "a macro definition (macros belong at top level)", block);
		skip_statement(p, 1);
		return;
	}
	if (!macro_name_valid(p->cur.text) ||
	    keyword_find_any(p->cur.text) != NULL) {
		conf_error(p, p->cur.line, "expected a macro name "
		    "([A-Za-z_][A-Za-z0-9_]*, not a keyword) before \"=\", "
		    "got %s", describe_got(p->cur.text, 0, got, sizeof(got)));
		skip_statement(p, 0);
		return;
	}
	(void)strlcpy(name, p->cur.text, sizeof(name));
	lex(p);		/* the name */
	lex(p);		/* "=" */
	if (!token_is_value(&p->cur)) {
		expected(p, "a value after %s =", name);
		skip_statement(p, 0);
		return;
	}
	if (macro_set(p, name, p->cur.text) == -1) {
		skip_statement(p, 0);
		return;
	}
	lex(p);
	expect_end(p, name, 0);
}

/* Peek at the raw input: is the next thing on this line an "="? */
static int
next_is_equals(const struct parser *p)
{
	size_t	 i = p->pos;

	while (i < p->len && (p->buf[i] == ' ' || p->buf[i] == '\t'))
		i++;
	return i < p->len && p->buf[i] == '=';
}

/* One statement of table; block is the enclosing block's name or NULL. */
static void
parse_statement(struct parser *p, const struct keyword *table,
    const char *block)
{
	const struct keyword	*kw;
	int			 in_block = block != NULL;

	if (p->cur.type == TOK_WORD && next_is_equals(p)) {
		parse_macro(p, block);
		return;
	}
	if (p->cur.type != TOK_WORD ||
	    (kw = keyword_find(table, p->cur.text)) == NULL) {
		if (in_block)
			expected(p, "a keyword inside %s", block);
		else
			expected(p, "a keyword");
		skip_statement(p, in_block);
		return;
	}
	lex(p);
	if (kw->parse(p, kw) == -1) {
		skip_statement(p, in_block);
		return;
	}
	expect_end(p, kw->name, in_block);
}

int
conf_parse_buffer(const char *name, const char *buf, size_t len,
    struct berth_conf *conf)
{
	struct parser	*p;
	size_t		 i;
	int		 rc;

	if (len > CONF_FILE_MAX) {
		log_warnx("%s: expected at most %d bytes, got %zu", name,
		    CONF_FILE_MAX, len);
		return -1;
	}
	/* Heap, not stack: the parser holds a 4 KiB token and the macros. */
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		log_warn("%s", __func__);
		return -1;
	}
	p->name = name;
	p->buf = buf;
	p->len = len;
	p->line = 1;
	p->conf = conf;
	memset(conf->path, 0, sizeof(conf->path));
	(void)strlcpy(conf->path, name, sizeof(conf->path));

	lex(p);
	while (p->cur.type != TOK_EOF) {
		if (p->cur.type == TOK_NEWLINE)
			lex(p);
		else
			parse_statement(p, top_keywords, NULL);
	}
	rc = p->errors > 0 ? -1 : 0;
	for (i = 0; i < p->nmacros; i++)
		free(p->macros[i].value);
	free(p);
	return rc;
}

/*
 * A symlinked /etc file is normal, so no O_NOFOLLOW; O_NONBLOCK so that
 * a FIFO put in its place cannot hang startup before fstat says no.
 */
static int
conf_file_safe(const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) {
		log_warnx("%s: expected a regular file, got file type 0%o",
		    path, (unsigned int)(st->st_mode & S_IFMT));
		return -1;
	}
	if (st->st_mode & S_IWOTH) {
		log_warnx("%s: expected a file only its owner may write, got "
		    "mode %04o (writable by anyone)", path,
		    (unsigned int)(st->st_mode & 07777));
		return -1;
	}
	if (st->st_mode & S_IWGRP)
		log_warnx("%s: warning: writable by group %u", path,
		    (unsigned int)st->st_gid);
	if (st->st_uid != 0 && st->st_uid != getuid())
		log_warnx("%s: warning: owned by uid %u, neither root nor "
		    "us", path, (unsigned int)st->st_uid);
	return 0;
}

static int
read_all(int fd, const char *path, char **bufp, size_t *lenp)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 n;

	/* One byte more than allowed, to notice a file that grew. */
	if ((buf = malloc(CONF_FILE_MAX + 1)) == NULL) {
		log_warn("%s", path);
		return -1;
	}
	while (len <= CONF_FILE_MAX) {
		n = read(fd, buf + len, CONF_FILE_MAX + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_warn("%s", path);
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_FILE_MAX) {
		log_warnx("%s: expected at most %d bytes, got more", path,
		    CONF_FILE_MAX);
		free(buf);
		return -1;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

static int
conf_has_secrets(const struct berth_conf *conf)
{
	return conf->enrol_token[0] != '\0' || conf->node_secret[0] != '\0' ||
	    conf->cluster_secret[0] != '\0';
}

int
conf_parse_file(const char *path, struct berth_conf *conf)
{
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 fd, rc;

	if (strlen(path) >= sizeof(conf->path)) {
		log_warnx("%s: expected a path of at most %zu bytes",
		    path, sizeof(conf->path) - 1);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY))
	    == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("%s", path);
		close(fd);
		return -1;
	}
	if (conf_file_safe(path, &st) == -1 ||
	    read_all(fd, path, &buf, &len) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	rc = conf_parse_buffer(path, buf, len, conf);
	free(buf);
	if (rc == 0 && conf_has_secrets(conf) && (st.st_mode & S_IROTH))
		log_warnx("%s: warning: holds secrets and is readable by "
		    "anyone", path);
	return rc;
}

/*
 * The environment.  Each seed agent variable overrides one berth.conf
 * keyword and goes through that keyword's own check.  Where several seeds
 * name the same thing differently (the URL, the node name, the node
 * credential) the variable of the protocol in use wins, then the one
 * listed first.  Durations: a number with a suffix is taken as written;
 * a bare number counts in the unit of the seed that defined the variable
 * (see bare_ms and heartbeat_bare_ms).
 */

#define OWNER(p)	(1U << (p))
#define OWNER_BERTH	0U	/* berth's own, or common to every seed */

struct env_var;
typedef int	(*env_convert_fn)(const struct env_var *, const char *,
		    char *, size_t);

struct env_var {
	const char	*name;
	const char	*keyword;	/* berth.conf keyword it overrides */
	unsigned int	 owners;	/* OWNER() of seeds that read it */
	uint32_t	 bare_ms;	/* durations: what a bare number is */
	env_convert_fn	 convert;	/* seed syntax to berth.conf's */
};

static int	env_log_level(const struct env_var *, const char *, char *,
		    size_t);
static int	env_docker_host(const struct env_var *, const char *, char *,
		    size_t);

/* 0: a bare HEARTBEAT_INTERVAL counts in the unit its protocol used. */
#define BARE_BY_PROTOCOL	0

/* Order matters: BERTH_PROTOCOL first, so the rest know the protocol. */
static const struct env_var env_vars[] = {
	{ "BERTH_PROTOCOL", "protocol", OWNER_BERTH, 0, NULL },
	{ "CONTROL_PLANE_URL", "url",
	    OWNER(PROTO_SKYPANEL) | OWNER(PROTO_MIAAS), 0, NULL },
	{ "SKYPANEL_URL", "url", OWNER(PROTO_SKYPANEL_V2), 0, NULL },
	{ "SERVER_URL", "url", OWNER(PROTO_LORMAS), 0, NULL },
	{ "REGISTRATION_TOKEN", "enrol-token", OWNER(PROTO_SKYPANEL), 0,
	    NULL },
	{ "WORKER_AUTH_TOKEN", "node-secret", OWNER(PROTO_SKYPANEL_V2), 0,
	    NULL },
	{ "NODE_TOKEN", "node-secret", OWNER(PROTO_LORMAS), 0, NULL },
	{ "CLUSTER_SECRET", "cluster-secret", OWNER(PROTO_CODARA), 0, NULL },
	{ "WORKER_NODE_ID", "node-id", OWNER(PROTO_SKYPANEL_V2), 0, NULL },
	{ "PAAS_NODE_NAME", "node-name", OWNER(PROTO_SKYPANEL), 0, NULL },
	{ "WORKER_NAME", "node-name", OWNER(PROTO_SKYPANEL_V2), 0, NULL },
	{ "NODE_NAME", "node-name", OWNER(PROTO_LORMAS), 0, NULL },
	{ "PAAS_REGION", "region", OWNER(PROTO_SKYPANEL), 0, NULL },
	{ "WORKER_HOSTNAME", "advertise-hostname", OWNER(PROTO_SKYPANEL_V2),
	    0, NULL },
	{ "WORKER_IP_ADDRESS", "advertise-address", OWNER(PROTO_SKYPANEL_V2),
	    0, NULL },
	{ "WORKER_PORT", "advertise-port", OWNER(PROTO_SKYPANEL_V2), 0,
	    NULL },
	{ "HEARTBEAT_INTERVAL", "heartbeat-interval",
	    OWNER(PROTO_SKYPANEL) | OWNER(PROTO_MIAAS), BARE_BY_PROTOCOL,
	    NULL },
	{ "TASK_POLL_INTERVAL", "poll-interval", OWNER(PROTO_SKYPANEL), 1,
	    NULL },
	{ "MAX_CONTAINERS", "max-containers", OWNER(PROTO_SKYPANEL), 0,
	    NULL },
	{ "MAX_CPU_PERCENT", "max-cpu-percent",
	    OWNER(PROTO_SKYPANEL) | OWNER(PROTO_CODARA), 0, NULL },
	{ "MAX_MEMORY_PERCENT", "max-memory-percent",
	    OWNER(PROTO_SKYPANEL) | OWNER(PROTO_CODARA), 0, NULL },
	{ "MAX_CONCURRENT_BUILDS", "max-concurrent-builds",
	    OWNER(PROTO_SKYPANEL_V2), 0, NULL },
	{ "BUILD_TIMEOUT_MINUTES", "build-timeout", OWNER(PROTO_SKYPANEL_V2),
	    MSEC_PER_MIN, NULL },
	{ "MAX_CONCURRENT_TASKS", "max-concurrent-runs", OWNER(PROTO_CODARA),
	    0, NULL },
	{ "TASK_TIMEOUT", "run-timeout", OWNER(PROTO_CODARA), 1, NULL },
	{ "CLUSTER_PORT", "cluster-port", OWNER(PROTO_CODARA), 0, NULL },
	{ "DISCOVERY_PORT", "discovery-port", OWNER(PROTO_CODARA), 0, NULL },
	{ "CLUSTER_DISCOVERY_PORT", "discovery-port", OWNER(PROTO_CODARA), 0,
	    NULL },
	{ "WORKSPACE_DIR", "workspace-root",
	    OWNER(PROTO_SKYPANEL) | OWNER(PROTO_SKYPANEL_V2), 0, NULL },
	{ "LOG_LEVEL", "log-level", OWNER_BERTH, 0, env_log_level },
	{ "DOCKER_HOST", "docker-socket", OWNER_BERTH, 0, env_docker_host },
};

/* Seed variables berth reads only to say it does not use them. */
static const struct {
	const char	*name;
	const char	*why;
} env_unused[] = {
	{ "CLEANUP_INTERVAL_MINUTES",
	    "berth removes each build workspace when the build ends" },
	{ "DOCKER_PORT", "berth reaches dockerd over its unix socket only" },
	{ "NODE_ENV", "it has no meaning for berth" },
	{ "JOBS_BASE_PATH", "berth does not run scripts from host paths" },
	{ "MASTER_SERVER", "the Codara agent did not use it either" },
	{ "SHARED_STORAGE_PATH", "the Codara agent did not use it either" },
};

/* Winston, Python and berth level names, all folded onto berth's three. */
static int
env_log_level(const struct env_var *ev, const char *value, char *out,
    size_t outlen)
{
	static const struct {
		const char	*seed;
		const char	*berth;
	} levels[] = {
		{ "fatal", "warning" }, { "critical", "warning" },
		{ "crit", "warning" }, { "error", "warning" },
		{ "err", "warning" }, { "warn", "warning" },
		{ "warning", "warning" }, { "notice", "info" },
		{ "info", "info" }, { "http", "info" },
		{ "verbose", "debug" }, { "debug", "debug" },
		{ "silly", "debug" }, { "trace", "debug" },
	};
	char	 got[CONF_GOT_LEN];
	size_t	 i;

	for (i = 0; i < NITEMS(levels); i++) {
		if (strcasecmp(value, levels[i].seed) == 0) {
			(void)strlcpy(out, levels[i].berth, outlen);
			return 0;
		}
	}
	log_warnx("%s: expected error, warn, info or debug, got %s",
	    ev->name, describe_got(value, 0, got, sizeof(got)));
	return -1;
}

/*
 * Only a unix socket: the runner's sandbox allows AF_UNIX alone, and a
 * TCP dockerd is root over the network.  SkyPanelV2's .env example gives
 * a bare path, which is taken as one.
 */
static int
env_docker_host(const struct env_var *ev, const char *value, char *out,
    size_t outlen)
{
	char	 got[CONF_GOT_LEN];

	if (strncmp(value, "unix://", 7) == 0)
		value += 7;
	else if (value[0] != '/') {
		/* ssh://user@host and the like: no user names in logs. */
		log_warnx("%s: expected unix:///path/to/docker.sock (berth "
		    "talks to dockerd over a unix socket only), got %s",
		    ev->name, strchr(value, '@') != NULL ?
		    "a value with \"@\" (not shown)" :
		    describe_got(value, 0, got, sizeof(got)));
		return -1;
	}
	if (strlcpy(out, value, outlen) >= outlen)
		out[0] = '\0';	/* the field check will refuse it */
	return 0;
}

static uint32_t
heartbeat_bare_ms(enum cp_protocol protocol)
{
	/* SkyPanel's agent counted milliseconds; MIaaS's seconds. */
	return protocol == PROTO_SKYPANEL ? 1 : MSEC_PER_SEC;
}

static const char *
env_value(const char *(*getenv_fn)(const char *), const char *name)
{
	const char	*v = getenv_fn(name);

	/* The seeds read VAR= in a .env file as unset; so does berth. */
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/*
 * Does another variable for the same keyword win over ev?  One read by
 * the protocol in use beats one that is not; otherwise the first listed.
 */
static const struct env_var *
env_shadowed_by(const struct env_var *ev, enum cp_protocol protocol,
    const char *(*getenv_fn)(const char *))
{
	const struct env_var	*o;
	unsigned int		 mine = OWNER(protocol);
	int			 ev_mine = (ev->owners & mine) != 0, o_mine;

	for (o = env_vars; o < env_vars + NITEMS(env_vars); o++) {
		if (o == ev || strcmp(o->keyword, ev->keyword) != 0 ||
		    env_value(getenv_fn, o->name) == NULL)
			continue;
		o_mine = (o->owners & mine) != 0;
		if ((o_mine && !ev_mine) || (o_mine == ev_mine && o < ev))
			return o;
	}
	return NULL;
}

static int
env_apply_one(struct berth_conf *conf, const struct env_var *ev,
    const char *(*getenv_fn)(const char *))
{
	const struct keyword	*kw;
	const struct env_var	*winner;
	const char		*value, *text;
	char			 converted[BERTH_PATH_LEN], desc[256];
	char			 got[CONF_GOT_LEN], unit[96] = "";
	uint32_t		 bare_ms = ev->bare_ms;

	if ((value = env_value(getenv_fn, ev->name)) == NULL)
		return 0;
	if ((kw = keyword_find_any(ev->keyword)) == NULL ||
	    kw->parse != kw_value) {
		log_warnx("%s: no keyword %s to set", ev->name, ev->keyword);
		return -1;
	}
	if ((winner = env_shadowed_by(ev, conf->protocol, getenv_fn)) != NULL) {
		log_info("%s ignored: %s also sets %s and wins under protocol "
		    "%s", ev->name, winner->name, ev->keyword,
		    protocol_name(conf->protocol));
		return 0;
	}
	text = value;
	if (ev->convert != NULL) {
		if (ev->convert(ev, value, converted, sizeof(converted)) == -1)
			return -1;
		text = converted;
	}
	if (bare_ms == BARE_BY_PROTOCOL)
		bare_ms = heartbeat_bare_ms(conf->protocol);
	if (kw->field.kind == F_MSEC || kw->field.kind == F_SEC)
		(void)snprintf(unit, sizeof(unit),
		    "; a bare number counts %s%s", bare_ms == 1 ?
		    "milliseconds" : bare_ms == MSEC_PER_SEC ? "seconds" :
		    "minutes",
		    ev->bare_ms == BARE_BY_PROTOCOL ? " under this protocol" :
		    "");
	if (field_set(conf, &kw->field, text, bare_ms) == -1) {
		describe_field(&kw->field, desc, sizeof(desc));
		log_warnx("%s: expected %s%s, got %s", ev->name, desc, unit,
		    describe_got_field(&kw->field, value, got, sizeof(got)));
		return -1;
	}
	log_debug("%s overrides %s", ev->name, ev->keyword);
	return 0;
}

int
conf_apply_env(struct berth_conf *conf,
    const char *(*getenv_fn)(const char *))
{
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < NITEMS(env_vars); i++)
		if (env_apply_one(conf, &env_vars[i], getenv_fn) == -1)
			rc = -1;
	for (i = 0; i < NITEMS(env_unused); i++) {
		if (env_value(getenv_fn, env_unused[i].name) == NULL)
			continue;
		/* DOCKER_PORT hints at a TCP dockerd, which is refused. */
		if (strcmp(env_unused[i].name, "DOCKER_PORT") == 0)
			log_warnx("%s ignored: %s", env_unused[i].name,
			    env_unused[i].why);
		else
			log_info("%s ignored: %s", env_unused[i].name,
			    env_unused[i].why);
	}
	return rc;
}

/*
 * Cross-field rules, after the file and the environment.  Each returns
 * the number of errors it logged; warnings do not count.
 */

static const char *
conf_name(const struct berth_conf *conf)
{
	return conf->path[0] != '\0' ? conf->path : "configuration";
}

/* Privilege separation is only as good as the users being distinct. */
static int
check_users(const struct berth_conf *conf)
{
	int	 errors = 0, i, j;

	for (i = ROLE_NETD; i < ROLE_MAX; i++) {
		if (strcmp(conf->user[i], "root") == 0) {
			log_warnx("%s: expected an unprivileged user for %s, "
			    "got root", conf_name(conf), role_name(i));
			errors++;
		}
		for (j = i + 1; j < ROLE_MAX; j++) {
			if (strcmp(conf->user[i], conf->user[j]) != 0)
				continue;
			log_warnx("%s: expected different users for %s and "
			    "%s, got \"%s\" for both", conf_name(conf),
			    role_name(i), role_name(j), conf->user[i]);
			errors++;
		}
	}
	return errors;
}

/* Is path equal to dir, or below it?  Both are absolute, without "..". */
static int
path_within(const char *path, const char *dir)
{
	size_t	 len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (len == 1)
		return 1;	/* everything is below "/" */
	return strncmp(path, dir, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/');
}

/*
 * The builder may write anywhere in workspace-root: it must not reach
 * the state dir, the control socket or the Docker socket from there.
 */
static int
check_paths(const struct berth_conf *conf)
{
	const struct {
		const char	*keyword;
		const char	*path;
	} guarded[] = {
		{ "state-dir", conf->state_dir },
		{ "control-socket", conf->control_socket },
		{ "docker-socket", conf->docker_socket },
	};
	size_t	 i;
	int	 errors = 0;

	for (i = 0; i < NITEMS(guarded); i++) {
		if (!path_within(guarded[i].path, conf->workspace_root) &&
		    !path_within(conf->workspace_root, guarded[i].path))
			continue;
		log_warnx("%s: expected workspace-root and %s apart, got "
		    "\"%s\" and \"%s\"", conf_name(conf), guarded[i].keyword,
		    conf->workspace_root, guarded[i].path);
		errors++;
	}
	return errors;
}

static int
url_is_cleartext(const char *url)
{
	const char	*host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "ws://", 5) == 0)
		host = url + 5;
	else
		return 0;
	return strncmp(host, "localhost", 9) != 0 &&
	    strncmp(host, "127.", 4) != 0 && strncmp(host, "[::1]", 5) != 0;
}

static int
check_url(const struct berth_conf *conf)
{
	const char	*proto = protocol_name(conf->protocol);
	int		 websocket;

	if (conf->cp_url[0] == '\0') {
		if (conf->protocol == PROTO_NATIVE ||
		    conf->protocol == PROTO_CODARA)
			return 0;
		log_warnx("%s: expected a url for protocol %s (its seed agent "
		    "defaulted to %s), got none", conf_name(conf), proto,
		    protocol_default_url[conf->protocol]);
		return 1;
	}
	websocket = strncmp(conf->cp_url, "ws", 2) == 0;
	if (websocket && conf->protocol != PROTO_LORMAS) {
		log_warnx("%s: expected an http or https url for protocol %s, "
		    "got a WebSocket url", conf_name(conf), proto);
		return 1;
	}
	if (url_is_cleartext(conf->cp_url))
		log_warnx("%s: warning: url is not TLS: the node credential "
		    "crosses the network in clear", conf_name(conf));
	return 0;
}

static int
check_control_plane(const struct berth_conf *conf)
{
	const char	*name = conf_name(conf);
	int		 errors = check_url(conf);

	if (conf->protocol == PROTO_LORMAS && conf->cp_url[0] != '\0' &&
	    conf->node_secret[0] == '\0') {
		log_warnx("%s: expected node-secret (NODE_TOKEN) for protocol "
		    "lormas, got none", name);
		errors++;
	}
	if (conf->protocol == PROTO_CODARA) {
		/* Codara's /execute runs commands: never without a secret. */
		if (conf->cluster_secret[0] == '\0' ||
		    strcmp(conf->cluster_secret, CODARA_DEFAULT_SECRET) == 0) {
			log_warnx("%s: expected a cluster-secret of your own "
			    "for protocol codara, got %s", name,
			    conf->cluster_secret[0] == '\0' ? "none" :
			    "the seed's published default");
			errors++;
		} else if (strlen(conf->cluster_secret) < 16)
			log_warnx("%s: warning: cluster-secret is shorter "
			    "than 16 bytes", name);
	}
	if (conf->protocol == PROTO_SKYPANEL_V2 &&
	    conf->node_secret[0] != '\0' && conf->node_id[0] == '\0')
		log_warnx("%s: warning: node-secret without node-id cannot be "
		    "reused; berth will register again", name);
	/* A pin the operator believes in but nothing applies is worse. */
	if (conf->cp_pin_sha256[0] != '\0' && conf->protocol != PROTO_NATIVE &&
	    conf->protocol != PROTO_MIAAS)
		log_warnx("%s: warning: pin-sha256 is applied by protocols "
		    "native and miaas only, not by %s", name,
		    protocol_name(conf->protocol));
	else if (conf->cp_pin_sha256[0] != '\0' &&
	    strncmp(conf->cp_url, "https://", 8) != 0)
		log_warnx("%s: warning: pin-sha256 has no effect without an "
		    "https url", name);
	return errors;
}

static int
check_listeners(const struct berth_conf *conf)
{
	if (conf->protocol != PROTO_CODARA || conf->listen_port == 0)
		return 0;
	if (conf->listen_port != conf->cluster_port &&
	    conf->listen_port != conf->discovery_port)
		return 0;
	log_warnx("%s: expected listen port %u apart from cluster-port and "
	    "discovery-port, got the same", conf_name(conf),
	    (unsigned int)conf->listen_port);
	return 1;
}

/* Defaults within maxima and the like: the same check the runner makes. */
static int
check_policy(const struct berth_conf *conf)
{
	const char	*why;

	if ((why = policy_validate(&conf->policy)) == NULL)
		return 0;
	log_warnx("%s: policy: %s", conf->path, why);
	return 1;
}

int
conf_check(const struct berth_conf *conf)
{
	int	 errors = 0;

	errors += check_users(conf);
	errors += check_paths(conf);
	errors += check_control_plane(conf);
	errors += check_listeners(conf);
	errors += check_policy(conf);
	return errors > 0 ? -1 : 0;
}

/*
 * Printing: the keyword tables again, so that every keyword is printed
 * and the output parses back to the same configuration.
 */

static void
print_value(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	fprintf(fp, "%s%s ", indent, kw->name);
	field_print(conf, &kw->field, fp);
	fputc('\n', fp);
}

static void
print_user(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	int	 role;

	for (role = ROLE_NETD; role < ROLE_MAX; role++) {
		fprintf(fp, "%s%s %s ", indent, kw->name, role_name(role));
		print_quoted(fp, conf->user[role]);
		fputc('\n', fp);
	}
}

static void
print_listen(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	if (conf->listen_port == 0)
		fprintf(fp, "%s%s off\n", indent, kw->name);
	else {
		fprintf(fp, "%s%s on ", indent, kw->name);
		print_quoted(fp, conf->listen_addr);
		fprintf(fp, " port %u\n", (unsigned int)conf->listen_port);
	}
}

/* The policy prints itself: its text is what the policy hash covers. */
static void
print_policy(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	(void)kw;
	(void)indent;
	fputc('\n', fp);
	policy_print(&conf->policy, fp);
}

static void
print_build(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	uint64_t	 size = conf->build_workspace_max;
	uint32_t	 i;
	int		 kind;

	fprintf(fp, "\n%s%s {\n", indent, kw->name);
	for (i = 0; i < conf->nbuild_url_prefixes; i++)
		fprintf(fp, "%s\trepo-prefix \"%s\"\n", indent,
		    conf->build_url_prefixes[i]);
	fprintf(fp, "%s\tallow-file-urls %s\n", indent,
	    conf->build_allow_file_urls ? "yes" : "no");
	fprintf(fp, "%s\tallow-submodules %s\n", indent,
	    conf->build_allow_submodules ? "yes" : "no");
	for (kind = BUILD_KIND_NODE; kind < BUILD_KIND_MAX; kind++)
		if (conf->buildpacks[kind][0] != '\0')
			fprintf(fp, "%s\tbuildpack %s \"%s\"\n", indent,
			    build_kind_name(kind), conf->buildpacks[kind]);
	if (size % (1ULL << 30) == 0)
		fprintf(fp, "%s\tworkspace-max %lluG\n", indent,
		    (unsigned long long)(size >> 30));
	else if (size % (1ULL << 20) == 0)
		fprintf(fp, "%s\tworkspace-max %lluM\n", indent,
		    (unsigned long long)(size >> 20));
	else
		fprintf(fp, "%s\tworkspace-max %llu\n", indent,
		    (unsigned long long)size);
	fprintf(fp, "%s}\n", indent);
}

static void
print_nothing(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	(void)conf;
	(void)kw;
	(void)fp;
	(void)indent;
}

static void
print_block(const struct berth_conf *conf, const struct keyword *kw,
    FILE *fp, const char *indent)
{
	const struct keyword	*inner;

	fprintf(fp, "\n%s%s {\n", indent, kw->name);
	for (inner = kw->block; inner->name != NULL; inner++)
		inner->print(conf, inner, fp, "\t");
	fprintf(fp, "%s}\n", indent);
}

void
conf_print(const struct berth_conf *conf, FILE *fp)
{
	const struct keyword	*kw;
	const char		*s;

	/* The path goes in a comment: keep a newline in it from ending it. */
	fputs("# effective configuration from ", fp);
	for (s = conf->path[0] != '\0' ? conf->path : "defaults"; *s != '\0';
	    s++)
		fputc((unsigned char)*s < 0x20 ? '?' : *s, fp);
	fputs(" and the environment\n", fp);
	for (kw = top_keywords; kw->name != NULL; kw++)
		kw->print(conf, kw, fp, "");
}
