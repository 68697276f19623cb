/*
 * fuzz_config.c: libFuzzer target for berth.conf.  The input is parsed
 * as a file with conf_parse_buffer, and its NAME=VALUE lines are applied
 * as an environment with conf_apply_env.  Beyond not crashing, whatever
 * is accepted must print (conf_print) in a form that parses back to the
 * same configuration, secrets masked; a difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "berth.h"
#include "config.h"
#include "log.h"

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ENV_MAX	64

/* The input's NAME=VALUE lines, for fuzz_getenv. */
static const char	*env_lines[FUZZ_ENV_MAX];
static size_t		 env_count;

static const char *
fuzz_getenv(const char *name)
{
	size_t	 i, len = strlen(name);

	for (i = 0; i < env_count; i++)
		if (strncmp(env_lines[i], name, len) == 0 &&
		    env_lines[i][len] == '=')
			return env_lines[i] + len + 1;
	return NULL;
}

/* Split a NUL-terminated copy of the input into lines. */
static void
env_load(char *text)
{
	char	*line, *next;

	env_count = 0;
	for (line = text; line != NULL && env_count < FUZZ_ENV_MAX;
	    line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strchr(line, '=') != NULL)
			env_lines[env_count++] = line;
	}
}

static void
mask(char *secret, size_t size)
{
	if (secret[0] == '\0')
		return;
	memset(secret, 0, size);
	memcpy(secret, "********", 8);
}

/* conf must survive conf_print and a second parse unchanged. */
static void
check_round_trip(const struct berth_conf *conf)
{
	struct berth_conf	 want, again;
	char			*out = NULL;
	size_t			 outlen = 0;
	FILE			*fp;

	memcpy(&want, conf, sizeof(want));
	if ((fp = open_memstream(&out, &outlen)) == NULL)
		abort();
	conf_print(conf, fp);
	if (fclose(fp) != 0)
		abort();
	conf_defaults(&again);
	if (conf_parse_buffer(conf->path, out, outlen, &again) == -1) {
		fprintf(stderr, "printed form does not parse:\n%s\n", out);
		abort();
	}
	mask(want.enrol_token, sizeof(want.enrol_token));
	mask(want.node_secret, sizeof(want.node_secret));
	mask(want.cluster_secret, sizeof(want.cluster_secret));
	if (memcmp(&want, &again, sizeof(want)) != 0) {
		fprintf(stderr, "round trip differs:\n%s\n", out);
		abort();
	}
	free(out);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(1, LOG_LEVEL_DEBUG, LOG_DAEMON);
	log_procinit("fuzz");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct berth_conf	 conf;
	char			*text;

	conf_defaults(&conf);
	if (conf_parse_buffer("fuzz.conf", (const char *)data, size,
	    &conf) == 0) {
		(void)conf_check(&conf);
		check_round_trip(&conf);
	}

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	env_load(text);
	conf_defaults(&conf);
	(void)strlcpy(conf.path, "env", sizeof(conf.path));
	if (conf_apply_env(&conf, fuzz_getenv) == 0) {
		(void)conf_check(&conf);
		check_round_trip(&conf);
	}
	free(text);
	return 0;
}
