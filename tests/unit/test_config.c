/*
 * test_config.c: berth.conf parsing, the seed agents' environment
 * variables, conf_check and conf_print.  Error cases capture what log.c
 * writes to stderr and look for the exact "file:line: expected ..., got
 * ..." text, so a message that drifts to the wrong line fails here.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "berth.h"
#include "config.h"
#include "log.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* What log.c wrote to stderr between capture_start and capture_end. */
static char	 captured[1 << 17];
static int	 saved_stderr = -1;
static FILE	*capture_file;

static void
capture_start(void)
{
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

/* Restore stderr before any assertion can fail and print there. */
static const char *
capture_end(void)
{
	size_t	 n;

	(void)dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	rewind(capture_file);
	n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	capture_file = NULL;
	return captured;
}

static size_t
count_lines(const char *s)
{
	size_t	 n = 0;

	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

static void
assert_logged(const char *what, const char *want)
{
	if (strstr(captured, want) == NULL)
		fail_msg("%s: wanted \"%s\" in the log, got:\n%s", what, want,
		    captured);
}

static void
assert_not_logged(const char *what, const char *unwanted)
{
	if (strstr(captured, unwanted) != NULL)
		fail_msg("%s: \"%s\" must not be in the log, got:\n%s", what,
		    unwanted, captured);
}

/* Defaults, then text as a file named berth.conf. */
static int
parse_len(const char *text, size_t len, struct berth_conf *conf)
{
	int	 rc;

	conf_defaults(conf);
	capture_start();
	rc = conf_parse_buffer("berth.conf", text, len, conf);
	capture_end();
	return rc;
}

static int
parse_text(const char *text, struct berth_conf *conf)
{
	return parse_len(text, strlen(text), conf);
}

/* The fake environment: NAME=VALUE strings, NULL-terminated. */
static const char *const *fake_env;

static const char *
fake_getenv(const char *name)
{
	size_t	 i, len = strlen(name);

	for (i = 0; fake_env[i] != NULL; i++)
		if (strncmp(fake_env[i], name, len) == 0 &&
		    fake_env[i][len] == '=')
			return fake_env[i] + len + 1;
	return NULL;
}

static int
apply_env(struct berth_conf *conf, const char *const *env)
{
	int	 rc;

	fake_env = env;
	capture_start();
	rc = conf_apply_env(conf, fake_getenv);
	capture_end();
	return rc;
}

static int
check(const struct berth_conf *conf)
{
	int	 rc;

	capture_start();
	rc = conf_check(conf);
	capture_end();
	return rc;
}

/* conf_print into a heap buffer the caller frees. */
static char *
print_conf(const struct berth_conf *conf)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*fp;

	fp = open_memstream(&buf, &len);
	assert_non_null(fp);
	conf_print(conf, fp);
	assert_int_equal(fclose(fp), 0);
	return buf;
}

/* The source tree: ctest sets BERTH_SRC; else two levels above us. */
static void
source_path(const char *rel, char *buf, size_t len)
{
	const char	*src = getenv("BERTH_SRC");
	char		*slash;
	int		 i;

	if (src != NULL && src[0] != '\0') {
		(void)snprintf(buf, len, "%s/%s", src, rel);
		return;
	}
	(void)snprintf(buf, len, "%s", __FILE__);
	for (i = 0; i < 3 && (slash = strrchr(buf, '/')) != NULL; i++)
		*slash = '\0';
	(void)strlcat(buf, "/", len);
	(void)strlcat(buf, rel, len);
}

static void
test_defaults(void **state)
{
	struct berth_conf	 c;

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	conf_defaults(&c);
	assert_string_equal(c.state_dir, "/var/lib/berth");
	assert_string_equal(c.control_socket, "/run/berth/control.sock");
	assert_string_equal(c.workspace_root, "/var/lib/berth-build");
	assert_string_equal(c.docker_socket, "/var/run/docker.sock");
	assert_string_equal(c.user[ROLE_PARENT], "");
	assert_string_equal(c.user[ROLE_NETD], "_berth");
	assert_string_equal(c.user[ROLE_BUILDER], "_berthbuild");
	assert_string_equal(c.user[ROLE_RUNNER], "_berthrun");
	assert_int_equal(c.log_verbose, 0);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	assert_int_equal(c.listen_port, 0);
	assert_int_equal(c.protocol, PROTO_NATIVE);
	assert_string_equal(c.cp_url, "");
	assert_string_equal(c.enrol_token, "");
	assert_string_equal(c.node_secret, "");
	assert_string_equal(c.cluster_secret, "");
	assert_string_equal(c.node_name, "");
	assert_string_equal(c.node_id, "");
	assert_string_equal(c.region, "local");
	assert_int_equal(c.heartbeat_interval_ms, 30000);
	assert_int_equal(c.poll_interval_ms, 10000);
	assert_string_equal(c.advertise_hostname, "");
	assert_string_equal(c.advertise_addr, "");
	assert_int_equal(c.advertise_port, 0);
	assert_int_equal(c.cluster_port, 4000);
	assert_int_equal(c.discovery_port, 4001);
	assert_int_equal(c.max_containers, 50);
	assert_int_equal(c.max_cpu_percent, 90);
	assert_int_equal(c.max_memory_percent, 90);
	assert_int_equal(c.max_concurrent_builds, 2);
	assert_int_equal(c.build_timeout_sec, 1800);
	assert_int_equal(c.max_concurrent_runs, 4);
	assert_int_equal(c.run_timeout_sec, 300);
	/* The defaults alone are a valid configuration. */
	assert_int_equal(check(&c), 0);
	assert_string_equal(captured, "");
}

static const char every_keyword[] =
    "# every keyword once, values unlike the defaults\n"
    "state-dir \"/srv/berth/state\"\n"
    "control-socket \"/run/b/control.sock\"\n"
    "workspace-root /srv/berth/build\n"
    "docker-socket \"/run/docker-test/docker.sock\"\n"
    "user netd \"_n\"\n"
    "user builder _b\n"
    "user runner \"_r-1\"\n"
    "log-level debug\n"
    "listen on 127.0.0.2 port 8787\n"
    "control-plane {\n"
    "\tprotocol skypanel-v2\n"
    "\turl \"https://cp.example.net/api\"\n"
    "\tenrol-token \"enrol \\\"quoted\\\" \\\\ token\"\n"
    "\tnode-secret \"s3cret-value\"\n"
    "\tcluster-secret \"cluster-secret-value\"\n"
    "\tnode-name \"node \\\"1\\\" \xc3\xa9t\xc3\xa9\"\n"
    "\tnode-id \"6b1a0f-uuid\"\n"
    "\tregion \"eu-west\"\n"
    "\theartbeat-interval 45s\n"
    "\tpoll-interval 500ms\n"
    "\tadvertise-hostname build-01.example.net\n"
    "\tadvertise-address \"192.168.1.100\"\n"
    "\tadvertise-port 3001\n"
    "\tcluster-port 4100\n"
    "\tdiscovery-port 0\n"
    "}\n"
    "limits {\n"
    "\tmax-containers 7\n"
    "\tmax-cpu-percent 80\n"
    "\tmax-memory-percent 70\n"
    "\tmax-concurrent-builds 3\n"
    "\tbuild-timeout 2h\n"
    "\tmax-concurrent-runs 5\n"
    "\trun-timeout 90\n"
    "}\n"
    "build {\n"
    "\trepo-prefix \"git://127.0.0.1:9418/\"\n"
    "\trepo-prefix https://git.example.net/team/\n"
    "\tallow-file-urls yes\n"
    "\tallow-submodules yes\n"
    "\tbuildpack node \"berth-node:20\"\n"
    "\tbuildpack static registry.local/base:1\n"
    "\tworkspace-max 512M\n"
    "}\n";

static void
assert_every_keyword(const struct berth_conf *c)
{
	assert_string_equal(c->state_dir, "/srv/berth/state");
	assert_string_equal(c->control_socket, "/run/b/control.sock");
	assert_string_equal(c->workspace_root, "/srv/berth/build");
	assert_string_equal(c->docker_socket, "/run/docker-test/docker.sock");
	assert_string_equal(c->user[ROLE_NETD], "_n");
	assert_string_equal(c->user[ROLE_BUILDER], "_b");
	assert_string_equal(c->user[ROLE_RUNNER], "_r-1");
	assert_int_equal(c->log_verbose, 2);
	assert_string_equal(c->listen_addr, "127.0.0.2");
	assert_int_equal(c->listen_port, 8787);
	assert_int_equal(c->protocol, PROTO_SKYPANEL_V2);
	assert_string_equal(c->cp_url, "https://cp.example.net/api");
	assert_string_equal(c->node_name, "node \"1\" \xc3\xa9t\xc3\xa9");
	assert_string_equal(c->node_id, "6b1a0f-uuid");
	assert_string_equal(c->region, "eu-west");
	assert_int_equal(c->heartbeat_interval_ms, 45000);
	assert_int_equal(c->poll_interval_ms, 500);
	assert_string_equal(c->advertise_hostname, "build-01.example.net");
	assert_string_equal(c->advertise_addr, "192.168.1.100");
	assert_int_equal(c->advertise_port, 3001);
	assert_int_equal(c->cluster_port, 4100);
	assert_int_equal(c->discovery_port, 0);
	assert_int_equal(c->max_containers, 7);
	assert_int_equal(c->max_cpu_percent, 80);
	assert_int_equal(c->max_memory_percent, 70);
	assert_int_equal(c->max_concurrent_builds, 3);
	assert_int_equal(c->build_timeout_sec, 7200);
	assert_int_equal(c->max_concurrent_runs, 5);
	assert_int_equal(c->run_timeout_sec, 90);
	assert_int_equal(c->nbuild_url_prefixes, 2);
	assert_string_equal(c->build_url_prefixes[0], "git://127.0.0.1:9418/");
	assert_string_equal(c->build_url_prefixes[1],
	    "https://git.example.net/team/");
	assert_int_equal(c->build_allow_file_urls, 1);
	assert_int_equal(c->build_allow_submodules, 1);
	assert_string_equal(c->buildpacks[BUILD_KIND_NODE], "berth-node:20");
	assert_string_equal(c->buildpacks[BUILD_KIND_STATIC],
	    "registry.local/base:1");
	assert_string_equal(c->buildpacks[BUILD_KIND_PYTHON], "");
	assert_int_equal(c->build_workspace_max, 512ULL << 20);
}

static void
test_parse_every_keyword(void **state)
{
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_text(every_keyword, &c), 0);
	assert_string_equal(captured, "");
	assert_every_keyword(&c);
	assert_string_equal(c.enrol_token, "enrol \"quoted\" \\ token");
	assert_string_equal(c.node_secret, "s3cret-value");
	assert_string_equal(c.cluster_secret, "cluster-secret-value");
	assert_string_equal(c.path, "berth.conf");
}

static void
test_parse_layout(void **state)
{
	static const char text[] =
	    "\n"
	    "   # indented comment\r\n"
	    "log-level info # trailing comment\r\n"
	    "\t\n"
	    "limits { max-containers 5 }\n"
	    "limits {   # a comment after the brace\n"
	    "\n"
	    "\tmax-cpu-percent \\\n"
	    "\t    55\n"
	    "\tmax-cpu-percent 56\t# last one wins\n"
	    "}\n"
	    "listen on \"::1\" port 1\n"
	    "listen off\n"
	    "control-plane {\n"
	    "\tregion \"\"\n"
	    "}";	/* no newline at the end of the file */
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_text(text, &c), 0);
	assert_string_equal(captured, "");
	assert_int_equal(c.log_verbose, 1);
	assert_int_equal(c.max_containers, 5);
	assert_int_equal(c.max_cpu_percent, 56);
	/* listen off after listen on: off, and the address back to default. */
	assert_int_equal(c.listen_port, 0);
	assert_string_equal(c.listen_addr, "127.0.0.1");
	assert_string_equal(c.region, "");

	assert_int_equal(parse_text("listen on ::1 port 65535\n", &c), 0);
	assert_string_equal(c.listen_addr, "::1");
	assert_int_equal(c.listen_port, 65535);
	assert_int_equal(parse_text("", &c), 0);
	assert_int_equal(parse_text("# only a comment", &c), 0);
}

static void
test_parse_macros(void **state)
{
	static const char text[] =
	    "root = \"/srv/berth\"\n"
	    "n = 12\n"
	    "proto=skypanel\n"
	    "alias = $root\n"
	    "state-dir $root\n"
	    "workspace-root \"/srv/build\"\n"
	    "control-plane {\n"
	    "\tprotocol $proto\n"
	    "\tnode-name $alias\n"
	    "\turl \"https://cp.example.net\"\n"
	    "}\n"
	    "limits {\n"
	    "\tmax-containers $n\n"
	    "}\n"
	    "n = 13\n"
	    "limits { max-cpu-percent $n }\n"
	    "lvl = \"debug\"\n"
	    "log-level $lvl\n"
	    "user runner $u_run\n";
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_text(text, &c), -1);
	/* Everything but the last line, which uses an undefined macro. */
	assert_string_equal(c.state_dir, "/srv/berth");
	assert_int_equal(c.protocol, PROTO_SKYPANEL);
	assert_string_equal(c.node_name, "/srv/berth");
	assert_int_equal(c.max_containers, 12);
	assert_int_equal(c.max_cpu_percent, 13);
	assert_int_equal(c.log_verbose, 2);
	assert_logged("undefined macro",
	    "berth.conf:19: expected a defined macro, got \"$u_run\"");
	assert_int_equal(count_lines(captured), 1);
}

struct error_case {
	const char	*name;
	const char	*text;
	const char	*want;
};

static const struct error_case error_cases[] = {
	{ "the example from the brief",
	    "# 1\n# 2\n# 3\n# 4\n\nlimits {\n\tmax-containers fifty\n}\n",
	    "berth.conf:7: expected a number from 1 to 100000 after "
	    "max-containers, got \"fifty\"" },
	{ "line count after a continuation",
	    "log-level \\\n info\n# comment\r\nbogus\n",
	    "berth.conf:4: expected a keyword, got \"bogus\"" },
	{ "unknown keyword", "state-dir \"/x\"\nfrobnicate 5\n",
	    "berth.conf:2: expected a keyword, got \"frobnicate\"" },
	{ "unknown keyword in a block",
	    "control-plane {\n\tcolour blue\n}\n",
	    "berth.conf:2: expected a keyword inside control-plane, got "
	    "\"colour\"" },
	{ "keyword of another block",
	    "control-plane {\n\tmax-containers 5\n}\n",
	    "berth.conf:2: expected a keyword inside control-plane, got "
	    "\"max-containers\"" },
	{ "quoted keyword", "\"log-level\" info\n",
	    "berth.conf:1: expected a keyword, got \"log-level\"" },
	{ "unterminated string", "log-level info\nstate-dir \"/var/lib\n",
	    "berth.conf:2: expected a closing quote for the string, got end "
	    "of line" },
	{ "unterminated string at the end", "\n\nstate-dir \"/var",
	    "berth.conf:3: expected a closing quote for the string, got end "
	    "of file" },
	{ "bad escape", "control-plane {\n\tnode-name \"a\\nb\"\n}\n",
	    "berth.conf:2: expected \\\" or \\\\ in a string, got a lone "
	    "backslash" },
	{ "control character in a string",
	    "control-plane {\n\tnode-name \"a\tb\"\n}\n",
	    "berth.conf:2: expected printable characters in a string, got "
	    "byte 0x09" },
	{ "percent too high", "limits {\n\tmax-cpu-percent 101\n}\n",
	    "berth.conf:2: expected a number from 1 to 100 after "
	    "max-cpu-percent, got \"101\"" },
	{ "percent zero", "limits {\n\n\tmax-memory-percent 0\n}\n",
	    "berth.conf:3: expected a number from 1 to 100 after "
	    "max-memory-percent, got \"0\"" },
	{ "negative number", "limits { max-containers -5 }\n",
	    "berth.conf:1: expected a number from 1 to 100000 after "
	    "max-containers, got \"-5\"" },
	{ "number with a fraction", "limits { max-containers 5.0 }\n",
	    "after max-containers, got \"5.0\"" },
	{ "number overflow",
	    "limits { max-containers 99999999999999999999 }\n",
	    "after max-containers, got \"99999999999999999999\"" },
	{ "number with trailing junk", "limits { max-containers 50abc }\n",
	    "after max-containers, got \"50abc\"" },
	{ "too many builds", "limits { max-concurrent-builds 65 }\n",
	    "expected a number from 1 to 64 after max-concurrent-builds" },
	{ "relative path", "state-dir var/lib/berth\n",
	    "berth.conf:1: expected an absolute path without \"..\", at most "
	    "255 bytes after state-dir, got \"var/lib/berth\"" },
	{ "dot-dot path", "workspace-root /srv/../etc\n",
	    "berth.conf:1: expected an absolute path without \"..\", at most "
	    "255 bytes after workspace-root, got \"/srv/../etc\"" },
	{ "empty path", "state-dir \"\"\n",
	    "after state-dir, got \"\"" },
	{ "missing value", "limits {\n\tmax-containers\n}\n",
	    "berth.conf:2: expected a number from 1 to 100000 after "
	    "max-containers, got end of line" },
	{ "value then garbage", "log-level info extra\n",
	    "berth.conf:1: expected end of line after log-level, got "
	    "\"extra\"" },
	{ "bad user name", "user netd Root\n",
	    "berth.conf:1: expected a user name ([a-z_][a-z0-9_-]*, at most "
	    "31 characters) after user netd, got \"Root\"" },
	{ "user name too long",
	    "user builder abcdefghijklmnopqrstuvwxyz012345\n",
	    "after user builder, got \"abcdefghijklmnopqrstuvwxyz012345\"" },
	{ "user for the parent", "user parent _p\n",
	    "berth.conf:1: expected netd, builder or runner after user, got "
	    "\"parent\"" },
	{ "bad log level", "log-level loud\n",
	    "berth.conf:1: expected warning, info or debug after log-level, "
	    "got \"loud\"" },
	{ "bad protocol", "control-plane {\n\tprotocol bogus\n}\n",
	    "berth.conf:2: expected native, skypanel, skypanel-v2, miaas, "
	    "lormas or codara after protocol, got \"bogus\"" },
	{ "listen neither on nor off", "listen maybe\n",
	    "berth.conf:1: expected on or off after listen, got \"maybe\"" },
	{ "listen on a name", "listen on localhost port 80\n",
	    "berth.conf:1: expected an IPv4 or IPv6 address after listen on, "
	    "got \"localhost\"" },
	{ "listen without port", "listen on 127.0.0.1 8787\n",
	    "berth.conf:1: expected port after the listen address, got "
	    "\"8787\"" },
	{ "listen on port 0", "listen on 127.0.0.1 port 0\n",
	    "berth.conf:1: expected a number from 1 to 65535 after port, got "
	    "\"0\"" },
	{ "listen port too high", "listen on ::1 port 70000\n",
	    "expected a number from 1 to 65535 after port, got \"70000\"" },
	{ "port zero", "control-plane {\n\tcluster-port 0\n}\n",
	    "berth.conf:2: expected a number from 1 to 65535 after "
	    "cluster-port, got \"0\"" },
	{ "nested block", "control-plane {\n\t{\n\t}\n}\n",
	    "berth.conf:2: expected a keyword inside control-plane (blocks "
	    "do not nest), got \"{\"" },
	{ "block inside a block", "control-plane {\n\tlimits {\n\t}\n}\n",
	    "berth.conf:2: expected a keyword inside control-plane, got "
	    "\"limits\"" },
	{ "unclosed block", "limits {\n\tmax-containers 5\n",
	    "berth.conf:3: expected \"}\" to close the limits block opened "
	    "at line 1, got end of file" },
	{ "brace on the next line", "limits\n{\n}\n",
	    "berth.conf:1: expected \"{\" after limits, got end of line" },
	{ "stray closing brace", "}\n",
	    "berth.conf:1: expected a keyword, got \"}\"" },
	{ "unexpected character", "state-dir /x;\n",
	    "berth.conf:1: expected a word, a quoted string, \"{\", \"}\" or "
	    "\"=\", got \";\"" },
	{ "control byte outside a string", "log-level\x01info\n",
	    "berth.conf:1: expected a word, a quoted string, \"{\", \"}\" or "
	    "\"=\", got byte 0x01" },
	{ "bad url scheme", "control-plane {\n\turl \"ftp://x\"\n}\n",
	    "berth.conf:2: expected an http, https, ws or wss URL without "
	    "user@, at most 1023 bytes after url, got \"ftp://x\"" },
	{ "url without a host", "control-plane {\n\turl \"https:///x\"\n}\n",
	    "after url, got \"https:///x\"" },
	{ "node id with a slash", "control-plane {\n\tnode-id \"a/b\"\n}\n",
	    "berth.conf:2: expected an id of letters, digits, \".\", \"_\" or "
	    "\"-\" (at most 127) after node-id, got \"a/b\"" },
	{ "host name with a space",
	    "control-plane {\n\tadvertise-hostname \"a b\"\n}\n",
	    "after advertise-hostname, got \"a b\"" },
	/* Found by fuzz_config: printed unescaped, it did not parse again. */
	{ "image pattern with a quote", "policy {\n\timage \"a\\\"b\"\n}\n",
	    "berth.conf:2: policy image: expected an image pattern" },
	{ "repo prefix without a scheme", "build {\n\trepo-prefix "
	    "\"127.0.0.1/\"\n}\n", "berth.conf:2: build repo-prefix: "
	    "expected a URL prefix" },
	{ "repo prefix with a space", "build {\n\trepo-prefix "
	    "\"git://a /\"\n}\n", "build repo-prefix: expected a URL prefix" },
	{ "unknown buildpack", "build {\n\tbuildpack cobol x:1\n}\n",
	    "berth.conf:2: build buildpack: expected node, python, go, ruby, "
	    "php or static, got \"x:1\"" },
	{ "buildpack without an image", "build {\n\tbuildpack node\n}\n",
	    "build buildpack: expected a kind and an image" },
	{ "workspace too small", "build {\n\tworkspace-max 4K\n}\n",
	    "build workspace-max: expected a size from 1M to 1024G" },
	{ "file urls maybe", "build {\n\tallow-file-urls maybe\n}\n",
	    "build allow-file-urls: expected yes or no" },
	{ "macro in a block", "limits {\n\tx = 1\n}\n",
	    "berth.conf:2: expected a keyword inside limits, got a macro "
	    "definition" },
	{ "macro named as a keyword", "user = \"x\"\n",
	    "berth.conf:1: expected a macro name ([A-Za-z_][A-Za-z0-9_]*, "
	    "not a keyword) before \"=\", got \"user\"" },
	{ "macro name starting with a digit", "9x = 1\n",
	    "before \"=\", got \"9x\"" },
	{ "macro without a value", "x =\n",
	    "berth.conf:1: expected a value after x =, got end of line" },
	{ "dollar without a name", "state-dir $\n",
	    "berth.conf:1: expected a macro name after \"$\"" },
	{ "macro value of the wrong kind",
	    "n = fifty\nlimits {\n\tmax-containers $n\n}\n",
	    "berth.conf:3: expected a number from 1 to 100000 after "
	    "max-containers, got \"fifty\"" },
	{ "macro used as a keyword", "k = \"log-level\"\n$k info\n",
	    "berth.conf:2: expected a keyword, got \"log-level\"" },
};

static void
test_parse_errors(void **state)
{
	struct berth_conf	 c;
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(error_cases); i++) {
		if (parse_text(error_cases[i].text, &c) != -1)
			fail_msg("%s: parsed without error",
			    error_cases[i].name);
		assert_logged(error_cases[i].name, error_cases[i].want);
	}
}

static void
test_parse_durations(void **state)
{
	static const struct {
		const char	*keyword;
		const char	*value;
		size_t		 offset;
		uint32_t	 want;	/* 0: must be refused */
	} cases[] = {
		{ "heartbeat-interval", "30", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 30000 },
		{ "heartbeat-interval", "31s", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 31000 },
		{ "heartbeat-interval", "1500ms", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 1500 },
		{ "heartbeat-interval", "2m", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 120000 },
		{ "heartbeat-interval", "1h", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 3600000 },
		{ "heartbeat-interval", "\"45s\"", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 45000 },
		{ "heartbeat-interval", "0", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "999ms", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "2h", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "10x", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "1.5s", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "s", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "30S", offsetof(struct berth_conf,
		    heartbeat_interval_ms), 0 },
		{ "heartbeat-interval", "999999999999h",
		    offsetof(struct berth_conf, heartbeat_interval_ms), 0 },
		{ "poll-interval", "100ms", offsetof(struct berth_conf,
		    poll_interval_ms), 100 },
		{ "poll-interval", "99ms", offsetof(struct berth_conf,
		    poll_interval_ms), 0 },
		{ "build-timeout", "90m", offsetof(struct berth_conf,
		    build_timeout_sec), 5400 },
		{ "build-timeout", "60", offsetof(struct berth_conf,
		    build_timeout_sec), 60 },
		{ "build-timeout", "24h", offsetof(struct berth_conf,
		    build_timeout_sec), 86400 },
		{ "build-timeout", "60000ms", offsetof(struct berth_conf,
		    build_timeout_sec), 60 },
		{ "build-timeout", "59s", offsetof(struct berth_conf,
		    build_timeout_sec), 0 },
		{ "build-timeout", "90500ms", offsetof(struct berth_conf,
		    build_timeout_sec), 0 },
		{ "build-timeout", "25h", offsetof(struct berth_conf,
		    build_timeout_sec), 0 },
		{ "run-timeout", "1s", offsetof(struct berth_conf,
		    run_timeout_sec), 1 },
		{ "run-timeout", "0s", offsetof(struct berth_conf,
		    run_timeout_sec), 0 },
	};
	struct berth_conf	 c;
	char			 text[256], want[256];
	const char		*block;
	uint32_t		 got;
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		block = strstr(cases[i].keyword, "interval") != NULL ?
		    "control-plane" : "limits";
		(void)snprintf(text, sizeof(text), "%s {\n\t%s %s\n}\n", block,
		    cases[i].keyword, cases[i].value);
		rc = parse_text(text, &c);
		memcpy(&got, (char *)&c + cases[i].offset, sizeof(got));
		if (cases[i].want == 0) {
			if (rc != -1)
				fail_msg("%s %s: accepted", cases[i].keyword,
				    cases[i].value);
			(void)snprintf(want, sizeof(want), "berth.conf:2: "
			    "expected a duration from ");
			assert_logged(cases[i].value, want);
			(void)snprintf(want, sizeof(want), "after %s, got ",
			    cases[i].keyword);
			assert_logged(cases[i].value, want);
			continue;
		}
		if (rc != 0 || got != cases[i].want)
			fail_msg("%s %s: rc %d, got %u, want %u; log: %s",
			    cases[i].keyword, cases[i].value, rc, got,
			    cases[i].want, captured);
	}
}

static void
test_parse_boundaries(void **state)
{
	struct berth_conf	 c;
	char			 text[8192], path[512];

	(void)state;
	/* A socket path of 107 bytes fits sun_path with its NUL; 108 not. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';
	(void)snprintf(text, sizeof(text), "docker-socket \"%s\"\n", path);
	assert_int_equal(parse_text(text, &c), 0);
	assert_int_equal(strlen(c.docker_socket), 107);
	path[107] = 'a';
	path[108] = '\0';
	(void)snprintf(text, sizeof(text), "docker-socket \"%s\"\n", path);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("docker-socket 108", "berth.conf:1: expected an absolute "
	    "socket path without \"..\", at most 107 bytes after "
	    "docker-socket, got \"/aaaa");
	assert_string_equal(c.docker_socket, "/var/run/docker.sock");
	/* The same limit on the control socket, which is bound too. */
	(void)snprintf(text, sizeof(text), "control-socket %s\n", path);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("control-socket 108", "after control-socket");

	/* Other paths: up to 255 bytes. */
	memset(path, 'b', sizeof(path));
	path[0] = '/';
	path[255] = '\0';
	(void)snprintf(text, sizeof(text), "state-dir %s\n", path);
	assert_int_equal(parse_text(text, &c), 0);
	path[255] = 'b';
	path[256] = '\0';
	(void)snprintf(text, sizeof(text), "state-dir %s\n", path);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("state-dir 256", "at most 255 bytes after state-dir");

	/* 31-byte user name fits, as does a 511-byte secret. */
	assert_int_equal(parse_text("user netd "
	    "abcdefghijklmnopqrstuvwxyz01234\n", &c), 0);
	memset(path, 's', 511);
	path[511] = '\0';
	(void)snprintf(text, sizeof(text), "control-plane {\n"
	    "\tnode-secret \"%s\"\n}\n", path);
	assert_int_equal(parse_text(text, &c), 0);
	assert_int_equal(strlen(c.node_secret), 511);
}

static void
test_parse_secret_never_logged(void **state)
{
	struct berth_conf	 c;
	char			 text[1024], secret[601];

	(void)state;
	memset(secret, 'x', 600);
	secret[600] = '\0';
	(void)snprintf(text, sizeof(text), "control-plane {\n"
	    "\tenrol-token \"%s\"\n}\n", secret);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("long secret", "berth.conf:2: expected a secret of at "
	    "most 511 printable bytes after enrol-token, got a value of 600 "
	    "bytes");
	assert_not_logged("long secret", "xxxxxxxx");

	/* A URL with credentials is refused and not echoed. */
	assert_int_equal(parse_text("control-plane {\n\turl "
	    "\"https://node:hunter2@cp.example.net\"\n}\n", &c), -1);
	assert_logged("url with password", "berth.conf:2: expected an http, "
	    "https, ws or wss URL without user@");
	assert_not_logged("url with password", "hunter2");
}

static void
test_parse_token_caps(void **state)
{
	struct berth_conf	 c;
	char			*text;
	size_t			 n = 5000;

	(void)state;
	text = malloc(n + 64);
	assert_non_null(text);
	memcpy(text, "state-dir /", 11);
	memset(text + 11, 'w', n);
	memcpy(text + 11 + n, "\nlog-level debug\n", 18);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("long word", "berth.conf:1: expected a word of at most "
	    "4096 bytes, got a longer one");
	assert_int_equal(c.log_verbose, 2);	/* the next line still counts */
	assert_int_equal(count_lines(captured), 1);

	memcpy(text, "state-dir \"", 11);
	memcpy(text + 11 + n, "\"\nlog-level info\n", 18);
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("long string", "berth.conf:1: expected a string of at "
	    "most 4096 bytes, got a longer one");
	assert_int_equal(c.log_verbose, 1);
	free(text);
}

static void
test_parse_size_cap(void **state)
{
	struct berth_conf	 c;
	size_t			 max = 1024 * 1024;
	char			*text;

	(void)state;
	text = malloc(max + 1);
	assert_non_null(text);
	/* Exactly 1 MiB of comments is fine; one byte more is not. */
	memset(text, '#', max + 1);
	text[max - 1] = '\n';
	assert_int_equal(parse_len(text, max, &c), 0);
	assert_int_equal(parse_len(text, max + 1, &c), -1);
	assert_logged("1 MiB + 1", "berth.conf: expected at most 1048576 "
	    "bytes, got 1048577");
	free(text);
}

static void
test_parse_nul_byte(void **state)
{
	static const char text[] = "log-level info\0\nlimits {\n}\n";
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_len(text, sizeof(text) - 1, &c), -1);
	assert_logged("NUL", "berth.conf:1: expected a word, a quoted string, "
	    "\"{\", \"}\" or \"=\", got byte 0x00");
	assert_int_equal(parse_len("state-dir \"/a\0b\"\n", 17, &c), -1);
	assert_logged("NUL in string", "berth.conf:1: expected printable "
	    "characters in a string, got byte 0x00");
}

static void
test_parse_recovery(void **state)
{
	static const char text[] =
	    "log-level info\n"			/* 1 */
	    "colour blue\n"			/* 2: unknown */
	    "frob {\n"				/* 3: unknown block */
	    "\tanything goes { here }\n"	/* 4: skipped with it */
	    "}\n"				/* 5 */
	    "limits {\n"			/* 6 */
	    "\tmax-containers 0\n"		/* 7: range */
	    "\tmax-cpu-percent 42\n"		/* 8 */
	    "\tbogus 1\n"			/* 9: unknown in block */
	    "}\n"				/* 10 */
	    "state-dir relative\n"		/* 11: relative */
	    "log-level debug\n";		/* 12 */
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("recovery 2", "berth.conf:2: expected a keyword, got "
	    "\"colour\"");
	assert_logged("recovery 3", "berth.conf:3: expected a keyword, got "
	    "\"frob\"");
	assert_logged("recovery 7", "berth.conf:7: expected a number from 1 "
	    "to 100000 after max-containers, got \"0\"");
	assert_logged("recovery 9", "berth.conf:9: expected a keyword inside "
	    "limits, got \"bogus\"");
	assert_logged("recovery 11", "berth.conf:11: expected an absolute "
	    "path");
	/* Exactly those five: the skipped block caused no more. */
	assert_int_equal(count_lines(captured), 5);
	assert_int_equal(c.max_cpu_percent, 42);
	assert_int_equal(c.log_verbose, 2);
	assert_int_equal(c.max_containers, 50);
}

static void
test_parse_error_cap(void **state)
{
	struct berth_conf	 c;
	char			 text[2000];
	size_t			 i;

	(void)state;
	text[0] = '\0';
	for (i = 0; i < 100; i++)
		(void)strlcat(text, "bogus\n", sizeof(text));
	assert_int_equal(parse_text(text, &c), -1);
	assert_logged("cap", "berth.conf:32: too many errors, giving up");
	assert_int_equal(count_lines(captured), 33);
}

/* A temporary directory for file tests, removed by the last test. */
static char	 tmpdir[64];

static void
write_file(const char *name, const char *text, mode_t mode, char *path,
    size_t len)
{
	int	 fd;

	(void)snprintf(path, len, "%s/%s", tmpdir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int
parse_file(const char *path, struct berth_conf *conf)
{
	int	 rc;

	conf_defaults(conf);
	capture_start();
	rc = conf_parse_file(path, conf);
	capture_end();
	return rc;
}

static void
test_parse_file(void **state)
{
	struct berth_conf	 c;
	char			 path[PATH_MAX], link[PATH_MAX];
	char			 want[PATH_MAX + 64], *big;

	(void)state;
	(void)snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));

	write_file("good.conf", "log-level debug\n", 0600, path, sizeof(path));
	assert_int_equal(parse_file(path, &c), 0);
	assert_string_equal(captured, "");
	assert_int_equal(c.log_verbose, 2);
	assert_string_equal(c.path, path);

	/* A symlinked configuration is normal (/etc managed elsewhere). */
	(void)snprintf(link, sizeof(link), "%s/link.conf", tmpdir);
	(void)unlink(link);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(parse_file(link, &c), 0);
	assert_int_equal(c.log_verbose, 2);

	write_file("bad.conf", "log-level info\nlog-level loud\n", 0600, path,
	    sizeof(path));
	assert_int_equal(parse_file(path, &c), -1);
	(void)snprintf(want, sizeof(want), "%s:2: expected warning, info or "
	    "debug after log-level, got \"loud\"", path);
	assert_logged("file:line", want);

	write_file("group.conf", "log-level info\n", 0620, path, sizeof(path));
	assert_int_equal(parse_file(path, &c), 0);
	assert_logged("group-writable", "warning: writable by group");

	write_file("world.conf", "log-level info\n", 0602, path, sizeof(path));
	assert_int_equal(parse_file(path, &c), -1);
	assert_logged("world-writable", "expected a file only its owner may "
	    "write, got mode 0602");
	assert_int_equal(c.log_verbose, 0);

	write_file("secret.conf", "control-plane {\n\tnode-secret \"s\"\n}\n",
	    0644, path, sizeof(path));
	assert_int_equal(parse_file(path, &c), 0);
	assert_logged("world-readable secret", "warning: holds secrets and is "
	    "readable by anyone");

	assert_int_equal(parse_file(tmpdir, &c), -1);
	assert_logged("directory", "expected a regular file");

	(void)snprintf(path, sizeof(path), "%s/fifo.conf", tmpdir);
	(void)unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(parse_file(path, &c), -1);	/* must not hang */
	assert_logged("fifo", "expected a regular file");

	(void)snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(parse_file(path, &c), -1);
	assert_logged("missing", "No such file or directory");

	big = malloc(1024 * 1024 + 2);
	assert_non_null(big);
	memset(big, '#', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	write_file("big.conf", big, 0600, path, sizeof(path));
	free(big);
	assert_int_equal(parse_file(path, &c), -1);
	assert_logged("big", "expected at most 1048576 bytes, got more");
}

struct env_case {
	enum cp_protocol protocol;
	const char	*assignment;	/* NAME=VALUE */
	size_t		 offset;
	char		 type;		/* s, u, h, i: string, u32, u16, int */
	const char	*want_text;
	uint32_t	 want_number;
};

#define ENV_S(proto, a, member, want) \
	{ proto, a, offsetof(struct berth_conf, member), 's', want, 0 }
#define ENV_U(proto, a, member, want) \
	{ proto, a, offsetof(struct berth_conf, member), 'u', NULL, want }
#define ENV_H(proto, a, member, want) \
	{ proto, a, offsetof(struct berth_conf, member), 'h', NULL, want }
#define ENV_I(proto, a, member, want) \
	{ proto, a, offsetof(struct berth_conf, member), 'i', NULL, want }

static const struct env_case env_cases[] = {
	ENV_I(PROTO_NATIVE, "BERTH_PROTOCOL=codara", protocol, PROTO_CODARA),
	ENV_S(PROTO_SKYPANEL, "CONTROL_PLANE_URL=https://cp.example",
	    cp_url, "https://cp.example"),
	ENV_S(PROTO_SKYPANEL_V2, "SKYPANEL_URL=https://sky.example", cp_url,
	    "https://sky.example"),
	ENV_S(PROTO_LORMAS, "SERVER_URL=wss://lormas.example", cp_url,
	    "wss://lormas.example"),
	ENV_S(PROTO_SKYPANEL, "REGISTRATION_TOKEN=tok", enrol_token, "tok"),
	ENV_S(PROTO_SKYPANEL_V2, "WORKER_AUTH_TOKEN=wat", node_secret, "wat"),
	ENV_S(PROTO_LORMAS, "NODE_TOKEN=nt", node_secret, "nt"),
	ENV_S(PROTO_CODARA, "CLUSTER_SECRET=cs", cluster_secret, "cs"),
	ENV_S(PROTO_SKYPANEL_V2, "WORKER_NODE_ID=3646e270-4a70", node_id,
	    "3646e270-4a70"),
	ENV_S(PROTO_SKYPANEL, "PAAS_NODE_NAME=worker-1", node_name,
	    "worker-1"),
	ENV_S(PROTO_SKYPANEL_V2, "WORKER_NAME=worker-01", node_name,
	    "worker-01"),
	ENV_S(PROTO_LORMAS, "NODE_NAME=agent-node", node_name, "agent-node"),
	ENV_S(PROTO_SKYPANEL, "PAAS_REGION=us-east", region, "us-east"),
	ENV_S(PROTO_SKYPANEL_V2, "WORKER_HOSTNAME=build-server-01",
	    advertise_hostname, "build-server-01"),
	ENV_S(PROTO_SKYPANEL_V2, "WORKER_IP_ADDRESS=192.168.1.100",
	    advertise_addr, "192.168.1.100"),
	ENV_H(PROTO_SKYPANEL_V2, "WORKER_PORT=3001", advertise_port, 3001),
	ENV_U(PROTO_SKYPANEL, "HEARTBEAT_INTERVAL=20000",
	    heartbeat_interval_ms, 20000),
	ENV_U(PROTO_MIAAS, "HEARTBEAT_INTERVAL=60", heartbeat_interval_ms,
	    60000),
	ENV_U(PROTO_SKYPANEL, "TASK_POLL_INTERVAL=5000", poll_interval_ms,
	    5000),
	ENV_U(PROTO_SKYPANEL, "MAX_CONTAINERS=12", max_containers, 12),
	ENV_U(PROTO_SKYPANEL, "MAX_CPU_PERCENT=80", max_cpu_percent, 80),
	ENV_U(PROTO_CODARA, "MAX_MEMORY_PERCENT=70", max_memory_percent, 70),
	ENV_U(PROTO_SKYPANEL_V2, "MAX_CONCURRENT_BUILDS=3",
	    max_concurrent_builds, 3),
	ENV_U(PROTO_SKYPANEL_V2, "BUILD_TIMEOUT_MINUTES=15",
	    build_timeout_sec, 900),
	ENV_U(PROTO_CODARA, "MAX_CONCURRENT_TASKS=6", max_concurrent_runs, 6),
	ENV_U(PROTO_CODARA, "TASK_TIMEOUT=120000", run_timeout_sec, 120),
	ENV_H(PROTO_CODARA, "CLUSTER_PORT=4100", cluster_port, 4100),
	ENV_H(PROTO_CODARA, "DISCOVERY_PORT=4101", discovery_port, 4101),
	ENV_H(PROTO_CODARA, "CLUSTER_DISCOVERY_PORT=4105", discovery_port,
	    4105),
	ENV_S(PROTO_SKYPANEL_V2, "WORKSPACE_DIR=/tmp/skypanel-builds",
	    workspace_root, "/tmp/skypanel-builds"),
	ENV_I(PROTO_LORMAS, "LOG_LEVEL=debug", log_verbose, 2),
	ENV_S(PROTO_SKYPANEL_V2, "DOCKER_HOST=unix:///run/test/docker.sock",
	    docker_socket, "/run/test/docker.sock"),
};

/* Does the field case c looks at hold its wanted value? */
static int
env_case_holds(const struct berth_conf *conf, const struct env_case *c)
{
	const char	*p = (const char *)conf + c->offset;
	uint32_t	 u32;
	uint16_t	 u16;
	int		 i;

	switch (c->type) {
	case 's':
		return strcmp(p, c->want_text) == 0;
	case 'u':
		memcpy(&u32, p, sizeof(u32));
		return u32 == c->want_number;
	case 'h':
		memcpy(&u16, p, sizeof(u16));
		return u16 == c->want_number;
	default:
		memcpy(&i, p, sizeof(i));
		return (uint32_t)i == c->want_number;
	}
}

static void
test_env_each_variable(void **state)
{
	struct berth_conf	 c;
	const char		*env[2];
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(env_cases); i++) {
		conf_defaults(&c);
		c.protocol = env_cases[i].protocol;
		/* Otherwise the case could pass without doing anything. */
		if (env_cases[i].offset != offsetof(struct berth_conf,
		    protocol) && env_case_holds(&c, &env_cases[i]))
			fail_msg("%s: default already holds the value",
			    env_cases[i].assignment);
		env[0] = env_cases[i].assignment;
		env[1] = NULL;
		if (apply_env(&c, env) != 0)
			fail_msg("%s: refused: %s", env_cases[i].assignment,
			    captured);
		if (!env_case_holds(&c, &env_cases[i]))
			fail_msg("%s: not applied", env_cases[i].assignment);
	}
}

static void
test_env_heartbeat_units(void **state)
{
	static const struct {
		enum cp_protocol protocol;
		const char	*value;
		uint32_t	 want_ms;	/* 0: refused */
	} cases[] = {
		{ PROTO_SKYPANEL, "30000", 30000 },
		{ PROTO_SKYPANEL, "5000", 5000 },
		{ PROTO_SKYPANEL, "45s", 45000 },
		{ PROTO_SKYPANEL, "5", 0 },
		{ PROTO_MIAAS, "30", 30000 },
		{ PROTO_MIAAS, "5", 5000 },
		{ PROTO_MIAAS, "1500ms", 1500 },
		{ PROTO_MIAAS, "30000", 0 },
		{ PROTO_NATIVE, "20", 20000 },
		{ PROTO_SKYPANEL_V2, "20", 20000 },
		{ PROTO_LORMAS, "20", 20000 },
		{ PROTO_CODARA, "20", 20000 },
		{ PROTO_NATIVE, "fast", 0 },
	};
	struct berth_conf	 c;
	const char		*env[2];
	char			 assignment[64];
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		conf_defaults(&c);
		c.protocol = cases[i].protocol;
		(void)snprintf(assignment, sizeof(assignment),
		    "HEARTBEAT_INTERVAL=%s", cases[i].value);
		env[0] = assignment;
		env[1] = NULL;
		rc = apply_env(&c, env);
		if (cases[i].want_ms == 0) {
			if (rc != -1)
				fail_msg("%s under %s: accepted", assignment,
				    protocol_name(cases[i].protocol));
			assert_logged(assignment, "HEARTBEAT_INTERVAL: "
			    "expected a duration from 1s to 1h; a bare number "
			    "counts ");
			assert_int_equal(c.heartbeat_interval_ms, 30000);
			continue;
		}
		if (rc != 0 || c.heartbeat_interval_ms != cases[i].want_ms)
			fail_msg("%s under %s: rc %d, %u ms, want %u; log: %s",
			    assignment, protocol_name(cases[i].protocol), rc,
			    c.heartbeat_interval_ms, cases[i].want_ms,
			    captured);
	}
	/* The message says which unit the bare number was taken in. */
	conf_defaults(&c);
	c.protocol = PROTO_SKYPANEL;
	env[0] = "HEARTBEAT_INTERVAL=5";
	assert_int_equal(apply_env(&c, env), -1);
	assert_logged("skypanel 5", "HEARTBEAT_INTERVAL: expected a duration "
	    "from 1s to 1h; a bare number counts milliseconds under this "
	    "protocol, got \"5\"");
	conf_defaults(&c);
	c.protocol = PROTO_MIAAS;
	env[0] = "HEARTBEAT_INTERVAL=30000";
	assert_int_equal(apply_env(&c, env), -1);
	assert_logged("miaas 30000", "a bare number counts seconds under this "
	    "protocol, got \"30000\"");
}

static void
test_env_protocol_first(void **state)
{
	static const char *const to_miaas[] = {
		"HEARTBEAT_INTERVAL=60", "BERTH_PROTOCOL=miaas", NULL
	};
	static const char *const to_skypanel[] = {
		"HEARTBEAT_INTERVAL=60000", "BERTH_PROTOCOL=skypanel", NULL
	};
	struct berth_conf	 c;

	(void)state;
	/* The file says skypanel (ms); the environment switches to miaas. */
	assert_int_equal(parse_text("control-plane {\n\tprotocol skypanel\n"
	    "}\n", &c), 0);
	assert_int_equal(apply_env(&c, to_miaas), 0);
	assert_int_equal(c.protocol, PROTO_MIAAS);
	assert_int_equal(c.heartbeat_interval_ms, 60000);

	assert_int_equal(parse_text("control-plane {\n\tprotocol miaas\n"
	    "}\n", &c), 0);
	assert_int_equal(apply_env(&c, to_skypanel), 0);
	assert_int_equal(c.protocol, PROTO_SKYPANEL);
	assert_int_equal(c.heartbeat_interval_ms, 60000);
}

static void
test_env_overrides_file(void **state)
{
	static const char *const env[] = {
		"MAX_CONTAINERS=20", "PAAS_REGION=", NULL
	};
	struct berth_conf	 c;

	(void)state;
	assert_int_equal(parse_text("limits {\n\tmax-containers 10\n"
	    "\tmax-cpu-percent 33\n}\ncontrol-plane {\n\tregion r1\n}\n",
	    &c), 0);
	assert_int_equal(apply_env(&c, env), 0);
	assert_int_equal(c.max_containers, 20);
	/* Not in the environment, or empty there: the file's value stays. */
	assert_int_equal(c.max_cpu_percent, 33);
	assert_string_equal(c.region, "r1");
}

static void
test_env_bad_values(void **state)
{
	static const struct {
		const char	*assignment;
		const char	*want;
		const char	*unwanted;	/* e.g. a secret's value */
	} cases[] = {
		{ "MAX_CONTAINERS=fifty", "MAX_CONTAINERS: expected a number "
		    "from 1 to 100000, got \"fifty\"", NULL },
		{ "MAX_CONTAINERS=50abc", "MAX_CONTAINERS: expected a number "
		    "from 1 to 100000, got \"50abc\"", NULL },
		{ "MAX_CPU_PERCENT=150", "MAX_CPU_PERCENT: expected a number "
		    "from 1 to 100, got \"150\"", NULL },
		{ "MAX_MEMORY_PERCENT=0", "MAX_MEMORY_PERCENT: expected a "
		    "number from 1 to 100, got \"0\"", NULL },
		{ "MAX_CONCURRENT_BUILDS=100", "MAX_CONCURRENT_BUILDS: "
		    "expected a number from 1 to 64", NULL },
		{ "MAX_CONCURRENT_TASKS=0", "MAX_CONCURRENT_TASKS: expected "
		    "a number from 1 to 64", NULL },
		{ "BUILD_TIMEOUT_MINUTES=0", "BUILD_TIMEOUT_MINUTES: expected "
		    "a duration from 1m to 24h in whole seconds; a bare number "
		    "counts minutes, got \"0\"", NULL },
		{ "BUILD_TIMEOUT_MINUTES=2000", "BUILD_TIMEOUT_MINUTES: "
		    "expected a duration", NULL },
		{ "TASK_POLL_INTERVAL=10", "TASK_POLL_INTERVAL: expected a "
		    "duration from 100ms to 1h; a bare number counts "
		    "milliseconds, got \"10\"", NULL },
		{ "TASK_TIMEOUT=1500", "TASK_TIMEOUT: expected a duration from "
		    "1s to 24h in whole seconds", NULL },
		{ "WORKSPACE_DIR=./workspaces", "WORKSPACE_DIR: expected an "
		    "absolute path without \"..\", at most 255 bytes, got "
		    "\"./workspaces\"", NULL },
		{ "WORKER_PORT=70000", "WORKER_PORT: expected a number from 0 "
		    "to 65535, got \"70000\"", NULL },
		{ "CLUSTER_PORT=0", "CLUSTER_PORT: expected a number from 1 to "
		    "65535, got \"0\"", NULL },
		{ "DISCOVERY_PORT=udp", "DISCOVERY_PORT: expected a number",
		    NULL },
		{ "WORKER_IP_ADDRESS=not-an-ip", "WORKER_IP_ADDRESS: expected "
		    "an IPv4 or IPv6 address, got \"not-an-ip\"", NULL },
		{ "WORKER_NODE_ID=../../etc", "WORKER_NODE_ID: expected an id "
		    "of letters", NULL },
		{ "WORKER_HOSTNAME=-bad", "WORKER_HOSTNAME: expected a host "
		    "name", NULL },
		{ "NODE_NAME=a\nb", "NODE_NAME: expected printable text of at "
		    "most 127 bytes, got \"a\\x0ab\"", NULL },
		{ "BERTH_PROTOCOL=kubernetes", "BERTH_PROTOCOL: expected "
		    "native, skypanel, skypanel-v2, miaas, lormas or codara, "
		    "got \"kubernetes\"", NULL },
		{ "LOG_LEVEL=loud", "LOG_LEVEL: expected error, warn, info or "
		    "debug, got \"loud\"", NULL },
		{ "DOCKER_HOST=tcp://localhost:2376", "DOCKER_HOST: expected "
		    "unix:///path/to/docker.sock (berth talks to dockerd over "
		    "a unix socket only), got \"tcp://localhost:2376\"", NULL },
		{ "DOCKER_HOST=ssh://me@host", "DOCKER_HOST: expected "
		    "unix:///path/to/docker.sock", NULL },
		{ "DOCKER_HOST=unix://relative.sock", "DOCKER_HOST: expected "
		    "an absolute socket path without \"..\", at most 107 "
		    "bytes, got \"unix://relative.sock\"", NULL },
		{ "DOCKER_HOST=unix:///aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaa.sock", "DOCKER_HOST: expected an absolute "
		    "socket path without \"..\", at most 107 bytes", NULL },
		{ "CONTROL_PLANE_URL=ftp://cp", "CONTROL_PLANE_URL: expected "
		    "an http, https, ws or wss URL", NULL },
		{ "SKYPANEL_URL=https://user:hunter2@cp", "SKYPANEL_URL: "
		    "expected an http, https, ws or wss URL without user@",
		    "hunter2" },
		{ "REGISTRATION_TOKEN=abc\001defgh", "REGISTRATION_TOKEN: "
		    "expected a secret of at most 511 printable bytes, got a "
		    "value of 9 bytes", "defgh" },
		{ "CLUSTER_SECRET=line\nbreak", "CLUSTER_SECRET: expected a "
		    "secret", "break" },
	};
	struct berth_conf	 c, before;
	const char		*env[2];
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		conf_defaults(&c);
		memcpy(&before, &c, sizeof(before));
		env[0] = cases[i].assignment;
		env[1] = NULL;
		if (apply_env(&c, env) != -1)
			fail_msg("%s: accepted", cases[i].assignment);
		assert_logged(cases[i].assignment, cases[i].want);
		if (cases[i].unwanted != NULL)
			assert_not_logged(cases[i].assignment,
			    cases[i].unwanted);
		/* A refused value changes nothing. */
		if (memcmp(&c, &before, sizeof(c)) != 0)
			fail_msg("%s: changed the configuration",
			    cases[i].assignment);
	}
}

static void
test_env_reports_every_error(void **state)
{
	static const char *const env[] = {
		"MAX_CONTAINERS=x", "MAX_CPU_PERCENT=y", "LOG_LEVEL=z",
		"PAAS_REGION=ok", NULL
	};
	struct berth_conf	 c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(apply_env(&c, env), -1);
	assert_int_equal(count_lines(captured), 3);
	assert_logged("every error", "MAX_CONTAINERS:");
	assert_logged("every error", "MAX_CPU_PERCENT:");
	assert_logged("every error", "LOG_LEVEL:");
	assert_string_equal(c.region, "ok");
}

static void
test_env_log_levels(void **state)
{
	static const struct {
		const char	*value;
		int		 want;
	} cases[] = {
		{ "error", 0 }, { "warn", 0 }, { "WARNING", 0 },
		{ "fatal", 0 }, { "info", 1 }, { "INFO", 1 }, { "http", 1 },
		{ "debug", 2 }, { "Debug", 2 }, { "verbose", 2 },
		{ "silly", 2 }, { "trace", 2 },
	};
	struct berth_conf	 c;
	const char		*env[2];
	char			 assignment[64];
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		conf_defaults(&c);
		c.log_verbose = 7;	/* so that 0 must be written */
		(void)snprintf(assignment, sizeof(assignment), "LOG_LEVEL=%s",
		    cases[i].value);
		env[0] = assignment;
		env[1] = NULL;
		if (apply_env(&c, env) != 0 || c.log_verbose != cases[i].want)
			fail_msg("%s: got %d, want %d", assignment,
			    c.log_verbose, cases[i].want);
	}
}

static void
test_env_docker_host(void **state)
{
	static const char *const bare[] = {
		"DOCKER_HOST=/var/run/other.sock", NULL
	};
	static const char *const url[] = {
		"DOCKER_HOST=unix:///tmp/berth-test/docker.sock", NULL
	};
	static const char *const pipe[] = {
		"DOCKER_HOST=npipe:////./pipe/docker_engine", NULL
	};
	struct berth_conf	 c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(apply_env(&c, url), 0);
	assert_string_equal(c.docker_socket, "/tmp/berth-test/docker.sock");
	/* SkyPanelV2's .env example gives a bare path. */
	assert_int_equal(apply_env(&c, bare), 0);
	assert_string_equal(c.docker_socket, "/var/run/other.sock");
	assert_int_equal(apply_env(&c, pipe), -1);
	assert_logged("npipe", "DOCKER_HOST: expected unix:///");
	assert_string_equal(c.docker_socket, "/var/run/other.sock");
}

static void
test_env_precedence(void **state)
{
	static const char *const names[] = {
		"NODE_NAME=lormas-name", "WORKER_NAME=v2-name",
		"PAAS_NODE_NAME=sky-name", NULL
	};
	static const char *const urls[] = {
		"SERVER_URL=wss://lormas", "SKYPANEL_URL=https://v2",
		"CONTROL_PLANE_URL=https://cp", NULL
	};
	static const char *const tokens[] = {
		"WORKER_AUTH_TOKEN=v2-token", "NODE_TOKEN=lormas-token", NULL
	};
	static const char *const ports[] = {
		"CLUSTER_DISCOVERY_PORT=4200", "DISCOVERY_PORT=4300", NULL
	};
	static const char *const switched[] = {
		"PAAS_NODE_NAME=sky-name", "NODE_NAME=lormas-name",
		"BERTH_PROTOCOL=lormas", NULL
	};
	static const struct {
		enum cp_protocol protocol;
		const char *const *env;
		size_t		 offset;
		const char	*want;
	} cases[] = {
		{ PROTO_LORMAS, names, offsetof(struct berth_conf, node_name),
		    "lormas-name" },
		{ PROTO_SKYPANEL_V2, names, offsetof(struct berth_conf,
		    node_name), "v2-name" },
		{ PROTO_SKYPANEL, names, offsetof(struct berth_conf,
		    node_name), "sky-name" },
		/* No owner in play: the first listed, PAAS_NODE_NAME. */
		{ PROTO_NATIVE, names, offsetof(struct berth_conf, node_name),
		    "sky-name" },
		{ PROTO_LORMAS, urls, offsetof(struct berth_conf, cp_url),
		    "wss://lormas" },
		{ PROTO_SKYPANEL_V2, urls, offsetof(struct berth_conf, cp_url),
		    "https://v2" },
		{ PROTO_MIAAS, urls, offsetof(struct berth_conf, cp_url),
		    "https://cp" },
		{ PROTO_NATIVE, urls, offsetof(struct berth_conf, cp_url),
		    "https://cp" },
		{ PROTO_LORMAS, tokens, offsetof(struct berth_conf,
		    node_secret), "lormas-token" },
		{ PROTO_SKYPANEL_V2, tokens, offsetof(struct berth_conf,
		    node_secret), "v2-token" },
		{ PROTO_SKYPANEL, switched, offsetof(struct berth_conf,
		    node_name), "lormas-name" },
	};
	struct berth_conf	 c;
	size_t			 i;

	(void)state;
	for (i = 0; i < NITEMS(cases); i++) {
		conf_defaults(&c);
		c.protocol = cases[i].protocol;
		assert_int_equal(apply_env(&c, cases[i].env), 0);
		if (strcmp((char *)&c + cases[i].offset, cases[i].want) != 0)
			fail_msg("case %zu under %s: got \"%s\", want \"%s\"",
			    i, protocol_name(cases[i].protocol),
			    (char *)&c + cases[i].offset, cases[i].want);
	}
	/* Codara variant B: DISCOVERY_PORT first, else the fallback. */
	conf_defaults(&c);
	c.protocol = PROTO_CODARA;
	assert_int_equal(apply_env(&c, ports), 0);
	assert_int_equal(c.discovery_port, 4300);
	conf_defaults(&c);
	assert_int_equal(apply_env(&c, ports), 0);
	assert_int_equal(c.discovery_port, 4300);
	{
		static const char *const fallback[] = {
			"CLUSTER_DISCOVERY_PORT=4200", NULL
		};

		conf_defaults(&c);
		assert_int_equal(apply_env(&c, fallback), 0);
		assert_int_equal(c.discovery_port, 4200);
	}
}

static void
test_env_unused_variables(void **state)
{
	static const char *const env[] = {
		"CLEANUP_INTERVAL_MINUTES=30", "DOCKER_PORT=2376",
		"NODE_ENV=production", NULL
	};
	struct berth_conf	 c, before;

	(void)state;
	conf_defaults(&c);
	memcpy(&before, &c, sizeof(before));
	log_setverbose(LOG_LEVEL_INFO);
	assert_int_equal(apply_env(&c, env), 0);
	log_setverbose(LOG_LEVEL_WARN);
	assert_logged("unused", "CLEANUP_INTERVAL_MINUTES ignored: ");
	assert_logged("unused", "DOCKER_PORT ignored: ");
	assert_logged("unused", "NODE_ENV ignored: ");
	assert_memory_equal(&c, &before, sizeof(c));
	/* Without -v only the one hinting at TCP shows. */
	assert_int_equal(apply_env(&c, env), 0);
	assert_int_equal(count_lines(captured), 1);
	assert_logged("unused quiet", "DOCKER_PORT ignored");
}

struct check_case {
	const char	*name;
	const char	*text;
	int		 rc;
	const char	*want;		/* NULL: nothing logged */
};

static const struct check_case check_cases[] = {
	{ "defaults, no control plane", "", 0, NULL },
	{ "native without url", "control-plane {\n\tprotocol native\n}\n",
	    0, NULL },
	{ "skypanel without url", "control-plane {\n\tprotocol skypanel\n}\n",
	    -1, "berth.conf: expected a url for protocol skypanel (its seed "
	    "agent defaulted to http://localhost:3001), got none" },
	{ "miaas without url", "control-plane {\n\tprotocol miaas\n}\n", -1,
	    "expected a url for protocol miaas (its seed agent defaulted to "
	    "http://localhost:8080)" },
	{ "lormas without url", "control-plane {\n\tprotocol lormas\n}\n",
	    -1, "expected a url for protocol lormas" },
	{ "lormas without token", "control-plane {\n\tprotocol lormas\n"
	    "\turl \"wss://l.example\"\n}\n", -1, "berth.conf: expected "
	    "node-secret (NODE_TOKEN) for protocol lormas, got none" },
	{ "lormas complete", "control-plane {\n\tprotocol lormas\n"
	    "\turl \"wss://l.example\"\n\tnode-secret t\n}\n", 0, NULL },
	{ "skypanel over websocket", "control-plane {\n\tprotocol skypanel\n"
	    "\turl \"wss://x.example\"\n}\n", -1, "berth.conf: expected an "
	    "http or https url for protocol skypanel, got a WebSocket url" },
	{ "cleartext url", "control-plane {\n\tprotocol miaas\n"
	    "\turl \"http://cp.example.net:8080\"\n}\n", 0,
	    "warning: url is not TLS" },
	{ "cleartext to loopback", "control-plane {\n\tprotocol miaas\n"
	    "\turl \"http://127.0.0.1:8080\"\n}\n", 0, NULL },
	{ "codara needs no url", "control-plane {\n\tprotocol codara\n"
	    "\tcluster-secret \"0123456789abcdef0123\"\n}\n", 0, NULL },
	{ "codara without secret", "control-plane {\n\tprotocol codara\n}\n",
	    -1, "berth.conf: expected a cluster-secret of your own for "
	    "protocol codara, got none" },
	{ "codara with the published secret", "control-plane {\n"
	    "\tprotocol codara\n\tcluster-secret your-cluster-secret-key\n}\n",
	    -1, "got the seed's published default" },
	{ "codara short secret", "control-plane {\n\tprotocol codara\n"
	    "\tcluster-secret short\n}\n", 0,
	    "warning: cluster-secret is shorter than 16 bytes" },
	{ "codara listen on the cluster port", "listen on 0.0.0.0 port 4000\n"
	    "control-plane {\n\tprotocol codara\n"
	    "\tcluster-secret \"0123456789abcdef0123\"\n}\n", -1,
	    "berth.conf: expected listen port 4000 apart from cluster-port "
	    "and discovery-port, got the same" },
	{ "skypanel-v2 secret without id", "control-plane {\n"
	    "\tprotocol skypanel-v2\n\turl \"https://s.example\"\n"
	    "\tnode-secret x\n}\n", 0,
	    "warning: node-secret without node-id" },
	{ "same user twice", "user runner _berth\n", -1,
	    "berth.conf: expected different users for netd and runner, got "
	    "\"_berth\" for both" },
	{ "root user", "user builder root\n", -1,
	    "berth.conf: expected an unprivileged user for builder, got root" },
	{ "workspace inside the state dir",
	    "workspace-root /var/lib/berth/build\n", -1,
	    "berth.conf: expected workspace-root and state-dir apart, got "
	    "\"/var/lib/berth/build\" and \"/var/lib/berth\"" },
	{ "state dir inside the workspace", "workspace-root /var/lib/\n", -1,
	    "expected workspace-root and state-dir apart" },
	{ "workspace at the root", "workspace-root /\n", -1,
	    "expected workspace-root and docker-socket apart" },
	{ "docker socket in the workspace",
	    "docker-socket /var/lib/berth-build/docker.sock\n", -1,
	    "expected workspace-root and docker-socket apart" },
	{ "similar prefix is not inside",
	    "state-dir /var/lib/berth-buildx\n", 0, NULL },
};

static void
test_check(void **state)
{
	struct berth_conf	 c;
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NITEMS(check_cases); i++) {
		if (parse_text(check_cases[i].text, &c) != 0)
			fail_msg("%s: does not parse: %s", check_cases[i].name,
			    captured);
		rc = check(&c);
		if (rc != check_cases[i].rc)
			fail_msg("%s: rc %d, want %d; log: %s",
			    check_cases[i].name, rc, check_cases[i].rc,
			    captured);
		if (check_cases[i].want == NULL) {
			if (captured[0] != '\0')
				fail_msg("%s: logged %s", check_cases[i].name,
				    captured);
		} else
			assert_logged(check_cases[i].name,
			    check_cases[i].want);
	}
}

static void
test_print_masks_secrets(void **state)
{
	struct berth_conf	 c;
	char			*out;

	(void)state;
	assert_int_equal(parse_text("control-plane {\n"
	    "\tenrol-token \"enrol-VALUE\"\n"
	    "\tcluster-secret \"cluster-VALUE\"\n}\n", &c), 0);
	out = print_conf(&c);
	if (strstr(out, "VALUE") != NULL)
		fail_msg("a secret was printed:\n%s", out);
	assert_non_null(strstr(out, "\tenrol-token \"********\"\n"));
	assert_non_null(strstr(out, "\tcluster-secret \"********\"\n"));
	/* An unset secret is shown as unset, not as a mask. */
	assert_non_null(strstr(out, "\tnode-secret \"\"\n"));
	free(out);
}

static void
test_print_format(void **state)
{
	struct berth_conf	 c;
	char			*out;

	(void)state;
	assert_int_equal(parse_text("listen on ::1 port 8787\n"
	    "control-plane {\n\theartbeat-interval 90s\n"
	    "\tpoll-interval 1500ms\n}\n"
	    "limits {\n\tbuild-timeout 120m\n\trun-timeout 3600\n}\n", &c), 0);
	c.log_verbose = 3;	/* -vvv: printed as the highest level */
	out = print_conf(&c);
	assert_non_null(strstr(out, "\nlisten on \"::1\" port 8787\n"));
	assert_non_null(strstr(out, "\n\theartbeat-interval 90s\n"));
	assert_non_null(strstr(out, "\n\tpoll-interval 1500ms\n"));
	assert_non_null(strstr(out, "\n\tbuild-timeout 2h\n"));
	assert_non_null(strstr(out, "\n\trun-timeout 1h\n"));
	assert_non_null(strstr(out, "\nlog-level debug\n"));
	assert_non_null(strstr(out, "\nuser netd \"_berth\"\n"));
	assert_non_null(strstr(out, "\tprotocol native\n"));
	free(out);

	conf_defaults(&c);
	out = print_conf(&c);
	assert_non_null(strstr(out, "\nlisten off\n"));
	assert_non_null(strstr(out, "# effective configuration from defaults"));
	free(out);
}

/* Parse what conf_print made of orig; it must equal orig, secrets masked. */
static void
assert_round_trip(const char *what, const struct berth_conf *orig)
{
	struct berth_conf	 want, again;
	char			*out;
	int			 rc;

	memcpy(&want, orig, sizeof(want));

	if (want.enrol_token[0] != '\0')
		(void)strlcpy(want.enrol_token, "********",
		    sizeof(want.enrol_token));
	if (want.node_secret[0] != '\0')
		(void)strlcpy(want.node_secret, "********",
		    sizeof(want.node_secret));
	if (want.cluster_secret[0] != '\0')
		(void)strlcpy(want.cluster_secret, "********",
		    sizeof(want.cluster_secret));
	out = print_conf(orig);
	conf_defaults(&again);
	capture_start();
	rc = conf_parse_buffer("berth.conf", out, strlen(out), &again);
	capture_end();
	if (rc != 0)
		fail_msg("%s: printed form does not parse: %s\n%s", what,
		    captured, out);
	/* The masks replaced whole secrets: compare everything else too. */
	memset(want.enrol_token + strlen(want.enrol_token), 0,
	    sizeof(want.enrol_token) - strlen(want.enrol_token));
	memset(want.node_secret + strlen(want.node_secret), 0,
	    sizeof(want.node_secret) - strlen(want.node_secret));
	memset(want.cluster_secret + strlen(want.cluster_secret), 0,
	    sizeof(want.cluster_secret) - strlen(want.cluster_secret));
	(void)strlcpy(want.path, "berth.conf", sizeof(want.path));
	assert_string_equal(again.state_dir, want.state_dir);
	assert_string_equal(again.node_name, want.node_name);
	assert_string_equal(again.enrol_token, want.enrol_token);
	assert_int_equal(again.listen_port, want.listen_port);
	assert_int_equal(again.heartbeat_interval_ms,
	    want.heartbeat_interval_ms);
	if (memcmp(&again, &want, sizeof(want)) != 0)
		fail_msg("%s: round trip differs; printed:\n%s", what, out);
	free(out);
}

static void
test_print_round_trip(void **state)
{
	static const char *const env[] = {
		"BERTH_PROTOCOL=miaas", "HEARTBEAT_INTERVAL=7",
		"NODE_TOKEN=tok", "WORKER_IP_ADDRESS=fe80::1",
		"LOG_LEVEL=warn", NULL
	};
	struct berth_conf	 c;

	(void)state;
	conf_defaults(&c);
	(void)strlcpy(c.path, "berth.conf", sizeof(c.path));
	assert_round_trip("defaults", &c);

	assert_int_equal(parse_text(every_keyword, &c), 0);
	assert_round_trip("every keyword", &c);

	assert_int_equal(parse_text("listen on 10.1.2.3 port 80\n"
	    "control-plane {\n\tnode-name \"back\\\\slash \\\"q\\\" #no "
	    "comment $nomacro {}\"\n\tpoll-interval 61001ms\n}\n", &c), 0);
	assert_string_equal(c.node_name,
	    "back\\slash \"q\" #no comment $nomacro {}");
	assert_round_trip("awkward characters", &c);

	assert_int_equal(apply_env(&c, env), 0);
	assert_round_trip("after the environment", &c);
}

/*
 * pin-sha256: curl's "sha256//BASE64[;...]", each the standard base64 of
 * 32 bytes, checked when the file is read.
 */
#define PIN_ZERO	"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define PIN_BERTH	"sha256//XC9kx/Ie/V+149akmavl6sskiub28AhTh8mgVtEO9f0="
#define PIN_OTHER	"sha256//2SmKENGwc1g33EvYXaxkGw887yekfl1TpU8vP1svz/o="

static const struct {
	const char	*name;
	const char	*value;		/* as written after pin-sha256 */
	int		 ok;
} pin_cases[] = {
	{ "one pin", "\"" PIN_BERTH "\"", 1 },
	{ "all zero", "\"" PIN_ZERO "\"", 1 },
	{ "two pins", "\"" PIN_BERTH ";" PIN_OTHER "\"", 1 },
	{ "eight pins", "\"" PIN_ZERO ";" PIN_BERTH ";" PIN_OTHER ";"
	    PIN_ZERO ";" PIN_BERTH ";" PIN_OTHER ";" PIN_ZERO ";"
	    PIN_BERTH "\"", 1 },
	{ "empty: no pin", "\"\"", 1 },
	{ "nine pins are too long", "\"" PIN_ZERO ";" PIN_BERTH ";"
	    PIN_OTHER ";" PIN_ZERO ";" PIN_BERTH ";" PIN_OTHER ";" PIN_ZERO
	    ";" PIN_BERTH ";" PIN_OTHER "\"", 0 },
	{ "unquoted: \"=\" ends the word", PIN_BERTH, 0 },
	{ "no padding", "\"sha256//XC9kx/Ie/V+149akmavl6sskiub28AhTh8mgVtEO9f0\"",
	    0 },
	{ "31 bytes", "\"sha256//XC9kx/Ie/V+149akmavl6sskiub28AhTh8mgVtEO9Q==\"",
	    0 },
	{ "33 bytes", "\"sha256//XC9kx/Ie/V+149akmavl6sskiub28AhTh8mgVtEO9f0A\"",
	    0 },
	{ "bits past the 256th", "\"sha256//XC9kx/Ie/V+149akmavl6sskiub28AhTh8mgVtEO9f1=\"",
	    0 },
	{ "base64url alphabet", "\"sha256//XC9kx_Ie_V-149akmavl6sskiub28AhTh8mgVtEO9f0=\"",
	    0 },
	{ "hex, not base64", "\"sha256//5c2f64c7f21efd5fb5e3d6a49abe5eab"
	    "2c922b9dbdbc0214e1f26815b443bd7f\"", 0 },
	{ "another hash", "\"sha1//AAAAAAAAAAAAAAAAAAAAAAAAAAA=\"", 0 },
	{ "one slash", "\"sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"",
	    0 },
	{ "a file name", "\"/etc/berth/server.pub\"", 0 },
	{ "trailing separator", "\"" PIN_BERTH ";\"", 0 },
	{ "empty between", "\"" PIN_BERTH ";;" PIN_OTHER "\"", 0 },
	{ "space after separator", "\"" PIN_BERTH "; " PIN_OTHER "\"", 0 },
	{ "comma separator", "\"" PIN_BERTH "," PIN_OTHER "\"", 0 },
	{ "leading space", "\" " PIN_BERTH "\"", 0 },
};

static void
test_parse_pin_sha256(void **state)
{
	struct berth_conf	 c;
	char			 text[1024], want[WIRE_PIN_LEN];
	size_t			 i;
	int			 rc;

	(void)state;
	for (i = 0; i < NITEMS(pin_cases); i++) {
		(void)snprintf(text, sizeof(text), "control-plane {\n"
		    "\turl \"https://cp.example.net\"\n"
		    "\tpin-sha256 %s\n}\n", pin_cases[i].value);
		rc = parse_text(text, &c);
		if (pin_cases[i].ok && rc != 0)
			fail_msg("%s: refused: %s", pin_cases[i].name,
			    captured);
		if (!pin_cases[i].ok && rc == 0)
			fail_msg("%s: accepted", pin_cases[i].name);
		if (!pin_cases[i].ok) {
			/* Always on the pin's own line, whatever went wrong. */
			assert_logged(pin_cases[i].name, "berth.conf:3: ");
			continue;
		}
		assert_string_equal(captured, "");
		(void)snprintf(want, sizeof(want), "%.*s",
		    (int)strlen(pin_cases[i].value) - 2,
		    pin_cases[i].value + 1);
		assert_string_equal(c.cp_pin_sha256, want);
		assert_round_trip(pin_cases[i].name, &c);
	}

	/* What a refused value is told it should have been. */
	assert_int_equal(parse_text("control-plane {\n\tpin-sha256 "
	    "\"sha256//AAAA\"\n}\n", &c), -1);
	assert_logged("message", "berth.conf:2: expected a quoted "
	    "\"sha256//\" and the base64 of 32 bytes");

	/* A pin nothing would apply is worth a warning, not an error. */
	assert_int_equal(parse_text("control-plane {\n\tprotocol skypanel\n"
	    "\turl \"https://cp.example.net\"\n"
	    "\tpin-sha256 \"" PIN_BERTH "\"\n}\n", &c), 0);
	assert_int_equal(check(&c), 0);
	assert_logged("skypanel", "pin-sha256 is applied by protocols native "
	    "and miaas only");
	/* miaas applies it. */
	assert_int_equal(parse_text("control-plane {\n\tprotocol miaas\n"
	    "\turl \"https://cp.example.net\"\n"
	    "\tpin-sha256 \"" PIN_BERTH "\"\n}\n", &c), 0);
	assert_int_equal(check(&c), 0);
	assert_string_equal(captured, "");
	assert_int_equal(parse_text("control-plane {\n"
	    "\turl \"http://127.0.0.1:8700\"\n"
	    "\tpin-sha256 \"" PIN_BERTH "\"\n}\n", &c), 0);
	assert_int_equal(check(&c), 0);
	assert_logged("http", "pin-sha256 has no effect without an https "
	    "url");
	assert_int_equal(parse_text("control-plane {\n"
	    "\turl \"https://cp.example.net\"\n"
	    "\tpin-sha256 \"" PIN_BERTH "\"\n}\n", &c), 0);
	assert_int_equal(check(&c), 0);
	assert_string_equal(captured, "");
}

/* The first example in berth.conf(5) must be a valid configuration. */
static void
assert_man_example_parses(const char *man)
{
	struct berth_conf	 c;
	const char		*start, *end;
	char			*example;

	start = strstr(man, ".Sh EXAMPLES");
	assert_non_null(start);
	start = strstr(start, ".Bd -literal -offset indent\n");
	assert_non_null(start);
	start = strchr(start, '\n') + 1;
	end = strstr(start, "\n.Ed\n");
	assert_non_null(end);
	example = strndup(start, (size_t)(end - start) + 1);
	assert_non_null(example);
	if (parse_text(example, &c) != 0)
		fail_msg("the man page example does not parse: %s", captured);
	assert_int_equal(c.protocol, PROTO_SKYPANEL_V2);
	assert_string_equal(c.cp_url, "https://panel.example.net");
	assert_int_equal(c.build_timeout_sec, 900);
	assert_int_equal(check(&c), 0);
	free(example);
}

/* Every keyword conf_print emits is documented in berth.conf(5). */
static void
test_man_page_documents_keywords(void **state)
{
	static const char *const variables[] = {
		"BERTH_PROTOCOL", "CONTROL_PLANE_URL", "SKYPANEL_URL",
		"SERVER_URL", "REGISTRATION_TOKEN", "WORKER_AUTH_TOKEN",
		"NODE_TOKEN", "CLUSTER_SECRET", "WORKER_NODE_ID",
		"PAAS_NODE_NAME", "WORKER_NAME", "NODE_NAME", "PAAS_REGION",
		"WORKER_HOSTNAME", "WORKER_IP_ADDRESS", "WORKER_PORT",
		"HEARTBEAT_INTERVAL", "TASK_POLL_INTERVAL", "MAX_CONTAINERS",
		"MAX_CPU_PERCENT", "MAX_MEMORY_PERCENT",
		"MAX_CONCURRENT_BUILDS", "BUILD_TIMEOUT_MINUTES",
		"MAX_CONCURRENT_TASKS", "TASK_TIMEOUT", "CLUSTER_PORT",
		"DISCOVERY_PORT", "CLUSTER_DISCOVERY_PORT", "WORKSPACE_DIR",
		"LOG_LEVEL", "DOCKER_HOST", "CLEANUP_INTERVAL_MINUTES",
		"DOCKER_PORT", "NODE_ENV", "JOBS_BASE_PATH",
	};
	struct berth_conf	 c;
	char			 path[PATH_MAX], *man, *out, *line, *save;
	char			 want[128], word[64];
	FILE			*fp;
	long			 len;
	size_t			 i;

	(void)state;
	source_path("man/berth.conf.5", path, sizeof(path));
	fp = fopen(path, "r");
	if (fp == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	len = ftell(fp);
	rewind(fp);
	man = calloc(1, (size_t)len + 1);
	assert_non_null(man);
	assert_int_equal(fread(man, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);

	conf_defaults(&c);
	out = print_conf(&c);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || line[0] == '}' ||
		    sscanf(line, " %63[a-z-]", word) != 1)
			continue;
		(void)snprintf(want, sizeof(want), ".It Ic %s", word);
		if (strstr(man, want) == NULL)
			fail_msg("berth.conf.5 lacks \"%s\"", want);
	}
	for (i = 0; i < NITEMS(variables); i++) {
		(void)snprintf(want, sizeof(want), "Ev %s", variables[i]);
		if (strstr(man, want) == NULL)
			fail_msg("berth.conf.5 lacks \"%s\"", want);
	}
	free(out);
	assert_man_example_parses(man);
	free(man);
}

static void
test_minimal_conf(void **state)
{
	static const char *const env[] = {
		"DOCKER_HOST=unix:///tmp/berth-test/docker.sock", NULL
	};
	struct berth_conf	 c;
	char			 path[PATH_MAX];

	(void)state;
	source_path("tests/fixtures/minimal.conf", path, sizeof(path));
	if (parse_file(path, &c) != 0)
		fail_msg("%s: %s", path, captured);
	assert_int_equal(c.log_verbose, LOG_LEVEL_INFO);
	assert_int_equal(c.listen_port, 0);
	assert_int_equal(c.protocol, PROTO_NATIVE);
	assert_string_equal(c.cp_url, "");
	assert_int_equal(c.max_containers, 50);
	assert_int_equal(apply_env(&c, env), 0);
	assert_string_equal(c.docker_socket, "/tmp/berth-test/docker.sock");
	assert_int_equal(check(&c), 0);
	assert_string_equal(captured, "");
}

static void
test_protocol_name(void **state)
{
	(void)state;
	assert_string_equal(protocol_name(PROTO_NATIVE), "native");
	assert_string_equal(protocol_name(PROTO_SKYPANEL_V2), "skypanel-v2");
	assert_string_equal(protocol_name(PROTO_CODARA), "codara");
	assert_string_equal(protocol_name(PROTO_MAX), "unknown");
	assert_string_equal(protocol_name((enum cp_protocol)-1), "unknown");
}

/* Remove what test_parse_file left in its directory. */
static int
remove_tmpdir(void **state)
{
	static const char *const names[] = {
		"good.conf", "link.conf", "bad.conf", "group.conf",
		"world.conf", "secret.conf", "fifo.conf", "big.conf",
	};
	char	 path[PATH_MAX + 32];
	size_t	 i;

	(void)state;
	if (tmpdir[0] == '\0')
		return 0;
	for (i = 0; i < NITEMS(names); i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", tmpdir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(tmpdir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse_every_keyword),
		cmocka_unit_test(test_parse_layout),
		cmocka_unit_test(test_parse_macros),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_durations),
		cmocka_unit_test(test_parse_boundaries),
		cmocka_unit_test(test_parse_secret_never_logged),
		cmocka_unit_test(test_parse_token_caps),
		cmocka_unit_test(test_parse_size_cap),
		cmocka_unit_test(test_parse_nul_byte),
		cmocka_unit_test(test_parse_recovery),
		cmocka_unit_test(test_parse_error_cap),
		cmocka_unit_test_teardown(test_parse_file, remove_tmpdir),
		cmocka_unit_test(test_env_each_variable),
		cmocka_unit_test(test_env_heartbeat_units),
		cmocka_unit_test(test_env_protocol_first),
		cmocka_unit_test(test_env_overrides_file),
		cmocka_unit_test(test_env_bad_values),
		cmocka_unit_test(test_env_reports_every_error),
		cmocka_unit_test(test_env_log_levels),
		cmocka_unit_test(test_env_docker_host),
		cmocka_unit_test(test_env_precedence),
		cmocka_unit_test(test_env_unused_variables),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_print_masks_secrets),
		cmocka_unit_test(test_print_format),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_parse_pin_sha256),
		cmocka_unit_test(test_man_page_documents_keywords),
		cmocka_unit_test(test_minimal_conf),
		cmocka_unit_test(test_protocol_name),
	};

	log_init(1, LOG_LEVEL_WARN, LOG_DAEMON);
	log_procinit("test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
