/*
 * test_buildpack.c: how a checkout is built (builder/buildpack.c).  Each
 * marker file alone in a fresh directory is detected as its kind; with
 * several, the documented order decides; a Dockerfile beats them all; a
 * marker that is a symlink or a directory does not count; a repository
 * with nothing is refused with the list of files looked for; and each
 * generated Dockerfile is the kind's template with the configured base
 * image, word for word; contrib/examples are detected as they say.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "builder.h"
#include "buildreq.h"
#include "compat.h"

static char	 dir[] = "/tmp/berth-buildpack-XXXXXX";
static int	 ncase;

/* A fresh directory holding the given files (NULL-ended); its fd. */
static int
tree(const char *const *files)
{
	char	 path[512];
	int	 dfd, fd;

	(void)snprintf(path, sizeof(path), "%s/case%d", dir, ++ncase);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_true((dfd = open(path, O_RDONLY | O_DIRECTORY)) != -1);
	for (; *files != NULL; files++) {
		if (strchr(*files, '/') != NULL) {
			char	 sub[256];

			(void)strlcpy(sub, *files, sizeof(sub));
			*strchr(sub, '/') = '\0';
			(void)mkdirat(dfd, sub, 0755);
		}
		assert_true((fd = openat(dfd, *files, O_WRONLY | O_CREAT,
		    0644)) != -1);
		assert_int_equal(write(fd, "x\n", 2), 2);
		close(fd);
	}
	return dfd;
}

static void
request(struct build_request *req)
{
	int	 k;

	memset(req, 0, sizeof(*req));
	(void)strlcpy(req->task, "t1", sizeof(req->task));
	for (k = BUILD_KIND_NODE; k < BUILD_KIND_MAX; k++)
		(void)snprintf(req->buildpack[k], sizeof(req->buildpack[k]),
		    "base-%s:1", build_kind_name(k));
}

static enum build_kind
detect(int dfd, const struct build_request *req, struct buildpack_result *res)
{
	char	 err[512];

	if (buildpack_detect(dfd, req, res, err, sizeof(err)) == -1)
		fail_msg("refused: %s", err);
	return res->kind;
}

static void
test_each_marker(void **state)
{
	static const struct {
		const char	*file;
		enum build_kind	 kind;
	} markers[] = {
		{ "Dockerfile",		BUILD_KIND_DOCKERFILE },
		{ "package.json",	BUILD_KIND_NODE },
		{ "requirements.txt",	BUILD_KIND_PYTHON },
		{ "pyproject.toml",	BUILD_KIND_PYTHON },
		{ "go.mod",		BUILD_KIND_GO },
		{ "Gemfile",		BUILD_KIND_RUBY },
		{ "composer.json",	BUILD_KIND_PHP },
		{ "index.html",		BUILD_KIND_STATIC },
	};
	struct build_request	 req;
	struct buildpack_result	 res;
	size_t			 i;
	int			 dfd;

	(void)state;
	request(&req);
	for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++) {
		const char *const files[] = { markers[i].file, NULL };

		dfd = tree(files);
		assert_int_equal(detect(dfd, &req, &res), markers[i].kind);
		if (markers[i].kind == BUILD_KIND_DOCKERFILE) {
			assert_string_equal(res.dockerfile, "Dockerfile");
			assert_null(res.generated);
		} else {
			assert_string_equal(res.dockerfile,
			    BUILDPACK_DOCKERFILE);
			assert_non_null(res.generated);
			assert_non_null(strstr(res.generated,
			    req.buildpack[markers[i].kind]));
		}
		buildpack_result_free(&res);
		close(dfd);
	}
}

/* With every marker present, each one removed in turn: order holds. */
static void
test_order(void **state)
{
	static const char *const all[] = { "Dockerfile", "package.json",
	    "requirements.txt", "go.mod", "Gemfile", "composer.json",
	    "index.html", NULL };
	static const enum build_kind want[] = { BUILD_KIND_DOCKERFILE,
	    BUILD_KIND_NODE, BUILD_KIND_PYTHON, BUILD_KIND_GO,
	    BUILD_KIND_RUBY, BUILD_KIND_PHP, BUILD_KIND_STATIC };
	struct build_request	 req;
	struct buildpack_result	 res;
	size_t			 i;
	int			 dfd;

	(void)state;
	request(&req);
	dfd = tree(all);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(detect(dfd, &req, &res), want[i]);
		buildpack_result_free(&res);
		assert_int_equal(unlinkat(dfd, all[i], 0), 0);
	}
	close(dfd);
}

static void
test_configured_dockerfile(void **state)
{
	static const char *const files[] = { "deploy/Dockerfile.prod",
	    "package.json", NULL };
	struct build_request	 req;
	struct buildpack_result	 res;
	char			 err[512];
	int			 dfd;

	(void)state;
	request(&req);
	dfd = tree(files);
	(void)strlcpy(req.dockerfile, "deploy/Dockerfile.prod",
	    sizeof(req.dockerfile));
	assert_int_equal(detect(dfd, &req, &res), BUILD_KIND_DOCKERFILE);
	assert_string_equal(res.dockerfile, "deploy/Dockerfile.prod");
	buildpack_result_free(&res);

	/* Asked for by name and absent: refused, never a buildpack. */
	(void)strlcpy(req.dockerfile, "deploy/Dockerfile",
	    sizeof(req.dockerfile));
	assert_int_equal(buildpack_detect(dfd, &req, &res, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "no Dockerfile at deploy/Dockerfile"));
	close(dfd);
}

static void
test_not_markers(void **state)
{
	static const char *const none[] = { "README.md", NULL };
	struct build_request	 req;
	struct buildpack_result	 res;
	char			 err[512];
	int			 dfd;

	(void)state;
	request(&req);
	dfd = tree(none);
	/* A symlink, a directory: no markers.  A linked Dockerfile: bad. */
	assert_int_equal(symlinkat("README.md", dfd, "package.json"), 0);
	assert_int_equal(mkdirat(dfd, "go.mod", 0755), 0);
	assert_int_equal(buildpack_detect(dfd, &req, &res, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "nothing to build: no Dockerfile, and none "
	    "of package.json, requirements.txt, pyproject.toml, go.mod, "
	    "Gemfile, composer.json or index.html");
	assert_int_equal(symlinkat("/etc/passwd", dfd, "Dockerfile"), 0);
	assert_int_equal(buildpack_detect(dfd, &req, &res, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "Dockerfile is not a regular file");
	close(dfd);
}

static void
test_no_image(void **state)
{
	static const char *const files[] = { "Gemfile", NULL };
	struct build_request	 req;
	struct buildpack_result	 res;
	char			 err[512];
	int			 dfd;

	(void)state;
	request(&req);
	req.buildpack[BUILD_KIND_RUBY][0] = '\0';
	dfd = tree(files);
	assert_int_equal(buildpack_detect(dfd, &req, &res, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "found Gemfile: a ruby app, but no buildpack "
	    "image is configured for ruby");
	close(dfd);
}

static void
test_generated_text(void **state)
{
	static const struct {
		enum build_kind	 kind;
		const char	*text;
	} want[] = {
		{ BUILD_KIND_NODE,
		    "FROM registry.local/node:20\n"
		    "WORKDIR /app\n"
		    "ENV NODE_ENV=production PORT=3000\n"
		    "COPY package*.json ./\n"
		    "RUN if [ -f package-lock.json ]; then npm ci --omit=dev; "
		    "else npm install --omit=dev; fi\n"
		    "COPY . .\n"
		    "EXPOSE 3000\n"
		    "CMD [\"npm\", \"start\"]\n" },
		{ BUILD_KIND_PYTHON,
		    "FROM registry.local/python:3.12\n"
		    "WORKDIR /app\n"
		    "ENV PYTHONUNBUFFERED=1 PORT=8000\n"
		    "COPY . .\n"
		    "RUN if [ -f requirements.txt ]; then "
		    "pip install --no-cache-dir -r requirements.txt; "
		    "else pip install --no-cache-dir .; fi\n"
		    "EXPOSE 8000\n"
		    "CMD [\"sh\", \"-c\", \"if [ -f app.py ]; then exec python "
		    "app.py; else exec python main.py; fi\"]\n" },
		{ BUILD_KIND_GO,
		    "FROM registry.local/go:1\n"
		    "WORKDIR /src\n"
		    "COPY . .\n"
		    "RUN CGO_ENABLED=0 go build -o /usr/local/bin/app .\n"
		    "ENV PORT=8080\n"
		    "EXPOSE 8080\n"
		    "CMD [\"/usr/local/bin/app\"]\n" },
		{ BUILD_KIND_RUBY,
		    "FROM ruby:3\n"
		    "WORKDIR /app\n"
		    "ENV RACK_ENV=production PORT=9292\n"
		    "COPY . .\n"
		    "RUN bundle install\n"
		    "EXPOSE 9292\n"
		    "CMD [\"bundle\", \"exec\", \"rackup\", \"--host\", "
		    "\"0.0.0.0\", \"--port\", \"9292\"]\n" },
		{ BUILD_KIND_PHP,
		    "FROM php:8-apache\n"
		    "WORKDIR /var/www/html\n"
		    "COPY . .\n"
		    "RUN if command -v composer >/dev/null; then "
		    "composer install --no-dev --no-interaction; fi\n"
		    "EXPOSE 80\n" },
		{ BUILD_KIND_STATIC,
		    "FROM berth-base:latest\n"
		    "COPY . /www\n"
		    "EXPOSE 8080\n"
		    "CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", "
		    "\"/www\"]\n" },
	};
	static const char *const images[] = { "registry.local/node:20",
	    "registry.local/python:3.12", "registry.local/go:1", "ruby:3",
	    "php:8-apache", "berth-base:latest" };
	size_t	 i;
	char	*text;

	(void)state;
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_non_null(text = buildpack_generate(want[i].kind,
		    images[i]));
		assert_string_equal(text, want[i].text);
		free(text);
	}
	assert_null(buildpack_generate(BUILD_KIND_DOCKERFILE, "x"));
	assert_null(buildpack_generate(BUILD_KIND_NODE, ""));
}

/* contrib/examples: each is detected as what its README says. */
static void
test_examples(void **state)
{
	static const struct {
		const char	*name;
		enum build_kind	 kind;
		const char	*from;
	} examples[] = {
		{ "dockerfile",	BUILD_KIND_DOCKERFILE,	NULL },
		{ "static",	BUILD_KIND_STATIC,	"FROM berth-base:" },
		{ "node",	BUILD_KIND_NODE,	"FROM berth-node:" },
		{ "python",	BUILD_KIND_PYTHON,	"FROM berth-python:" },
	};
	struct build_request	 req;
	struct buildpack_result	 res;
	const char		*src;
	char			 path[1024];
	size_t			 i;
	int			 dfd;

	(void)state;
	if ((src = getenv("BERTH_SRC")) == NULL)
		skip();
	request(&req);
	(void)strlcpy(req.buildpack[BUILD_KIND_STATIC], "berth-base:latest",
	    sizeof(req.buildpack[BUILD_KIND_STATIC]));
	(void)strlcpy(req.buildpack[BUILD_KIND_NODE], "berth-node:latest",
	    sizeof(req.buildpack[BUILD_KIND_NODE]));
	(void)strlcpy(req.buildpack[BUILD_KIND_PYTHON], "berth-python:latest",
	    sizeof(req.buildpack[BUILD_KIND_PYTHON]));
	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		(void)snprintf(path, sizeof(path), "%s/contrib/examples/%s",
		    src, examples[i].name);
		assert_true((dfd = open(path, O_RDONLY | O_DIRECTORY)) != -1);
		assert_int_equal(detect(dfd, &req, &res), examples[i].kind);
		if (examples[i].from != NULL)
			assert_int_equal(strncmp(res.generated,
			    examples[i].from, strlen(examples[i].from)), 0);
		buildpack_result_free(&res);
		close(dfd);
	}
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_marker),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_configured_dockerfile),
		cmocka_unit_test(test_not_markers),
		cmocka_unit_test(test_no_image),
		cmocka_unit_test(test_generated_text),
		cmocka_unit_test(test_examples),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
