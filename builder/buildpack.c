/*
 * buildpack.c: how a checkout is built.  Runs in a build child, on the
 * checkout it just made; it only looks at file names (fstatat relative
 * to the checkout, never following a symlink) and writes nothing.
 *
 * The order, first match wins:
 *
 *	1. the Dockerfile at the configured path ("dockerfile" in the
 *	   request; "Dockerfile" when not set), used as is.  A path set
 *	   explicitly must exist: the operator asked for that file;
 *	2. node	  package.json
 *	3. python requirements.txt or pyproject.toml
 *	4. go	  go.mod
 *	5. ruby	  Gemfile
 *	6. php	  composer.json
 *	7. static index.html
 *
 * Markers are regular files at the top of the checkout; a symlink does
 * not count.  For 2-7 a Dockerfile is generated from the kind's template
 * below, with the base image the request carries for that kind (from
 * berth.conf); it goes into the context as BUILDPACK_DOCKERFILE, a name
 * the checkout's own files never take (context.c leaves a file of that
 * name out).  Nothing else of the repository is read to fill a
 * template, so a template is data a reviewer reads once.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "berth.h"
#include "builder.h"
#include "buildreq.h"

#define DEFAULT_DOCKERFILE	"Dockerfile"
#define BASE_MARK		"{{base}}"

struct buildpack {
	enum build_kind	 kind;
	const char	*markers[3];	/* any one of them, NULL-ended */
	const char	*template;	/* BASE_MARK stands for the image */
};

/* Detection order is table order. */
static const struct buildpack buildpacks[] = {
	{ BUILD_KIND_NODE, { "package.json", NULL },
	    "FROM {{base}}\n"
	    "WORKDIR /app\n"
	    "ENV NODE_ENV=production PORT=3000\n"
	    "COPY package*.json ./\n"
	    "RUN if [ -f package-lock.json ]; then npm ci --omit=dev; "
	    "else npm install --omit=dev; fi\n"
	    "COPY . .\n"
	    "EXPOSE 3000\n"
	    "CMD [\"npm\", \"start\"]\n" },
	{ BUILD_KIND_PYTHON, { "requirements.txt", "pyproject.toml", NULL },
	    "FROM {{base}}\n"
	    "WORKDIR /app\n"
	    "ENV PYTHONUNBUFFERED=1 PORT=8000\n"
	    "COPY . .\n"
	    "RUN if [ -f requirements.txt ]; then "
	    "pip install --no-cache-dir -r requirements.txt; "
	    "else pip install --no-cache-dir .; fi\n"
	    "EXPOSE 8000\n"
	    "CMD [\"sh\", \"-c\", \"if [ -f app.py ]; then exec python app.py; "
	    "else exec python main.py; fi\"]\n" },
	{ BUILD_KIND_GO, { "go.mod", NULL },
	    "FROM {{base}}\n"
	    "WORKDIR /src\n"
	    "COPY . .\n"
	    "RUN CGO_ENABLED=0 go build -o /usr/local/bin/app .\n"
	    "ENV PORT=8080\n"
	    "EXPOSE 8080\n"
	    "CMD [\"/usr/local/bin/app\"]\n" },
	{ BUILD_KIND_RUBY, { "Gemfile", NULL },
	    "FROM {{base}}\n"
	    "WORKDIR /app\n"
	    "ENV RACK_ENV=production PORT=9292\n"
	    "COPY . .\n"
	    "RUN bundle install\n"
	    "EXPOSE 9292\n"
	    "CMD [\"bundle\", \"exec\", \"rackup\", \"--host\", \"0.0.0.0\", "
	    "\"--port\", \"9292\"]\n" },
	{ BUILD_KIND_PHP, { "composer.json", NULL },
	    "FROM {{base}}\n"
	    "WORKDIR /var/www/html\n"
	    "COPY . .\n"
	    "RUN if command -v composer >/dev/null; then "
	    "composer install --no-dev --no-interaction; fi\n"
	    "EXPOSE 80\n" },
	{ BUILD_KIND_STATIC, { "index.html", NULL },
	    "FROM {{base}}\n"
	    "COPY . /www\n"
	    "EXPOSE 8080\n"
	    "CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n" },
};

#define NBUILDPACKS	(sizeof(buildpacks) / sizeof(buildpacks[0]))

static const struct buildpack *
buildpack_of(enum build_kind kind)
{
	size_t	 i;

	for (i = 0; i < NBUILDPACKS; i++)
		if (buildpacks[i].kind == kind)
			return &buildpacks[i];
	return NULL;
}

char *
buildpack_generate(enum build_kind kind, const char *image)
{
	const struct buildpack	*bp;
	const char		*mark;
	char			*out;
	size_t			 len, pre;

	if ((bp = buildpack_of(kind)) == NULL || image == NULL ||
	    image[0] == '\0' ||
	    (mark = strstr(bp->template, BASE_MARK)) == NULL)
		return NULL;
	pre = (size_t)(mark - bp->template);
	len = strlen(bp->template) - strlen(BASE_MARK) + strlen(image);
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(out, bp->template, pre);
	memcpy(out + pre, image, strlen(image));
	(void)strlcpy(out + pre + strlen(image), mark + strlen(BASE_MARK),
	    len + 1 - pre - strlen(image));
	return out;
}

/* 1 regular file, 0 absent, -1 there but something else (why set). */
static int
is_regular(int srcfd, const char *path, char *err, size_t errlen)
{
	struct stat	 st;

	if (fstatat(srcfd, path, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		builder_errset(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		builder_errset(err, errlen, "%s is not a regular file", path);
		return -1;
	}
	return 1;
}

/* "package.json, requirements.txt or ...": what a failure looked for. */
static void
markers_list(char *buf, size_t len)
{
	size_t	 i, j;

	buf[0] = '\0';
	for (i = 0; i < NBUILDPACKS; i++)
		for (j = 0; buildpacks[i].markers[j] != NULL; j++) {
			if (buf[0] != '\0')
				(void)strlcat(buf, i == NBUILDPACKS - 1 &&
				    buildpacks[i].markers[j + 1] == NULL ?
				    " or " : ", ", len);
			(void)strlcat(buf, buildpacks[i].markers[j], len);
		}
}

static int
detect_buildpack(int srcfd, const struct build_request *req,
    const char *dockerfile, struct buildpack_result *res, char *err,
    size_t errlen)
{
	const struct buildpack	*bp;
	const char		*image;
	char			 list[256];
	size_t			 i, j;
	int			 r;

	for (i = 0; i < NBUILDPACKS; i++) {
		bp = &buildpacks[i];
		for (j = 0; bp->markers[j] != NULL; j++) {
			/* A marker that is not a file is no marker. */
			if ((r = is_regular(srcfd, bp->markers[j], NULL,
			    0)) == 1)
				break;
		}
		if (bp->markers[j] == NULL)
			continue;
		image = req->buildpack[bp->kind];
		if (image[0] == '\0') {
			builder_errset(err, errlen, "found %s: a %s app, but no "
			    "buildpack image is configured for %s",
			    bp->markers[j], build_kind_name(bp->kind),
			    build_kind_name(bp->kind));
			return -1;
		}
		if ((res->generated = buildpack_generate(bp->kind,
		    image)) == NULL) {
			builder_errset(err, errlen, "cannot generate a Dockerfile");
			return -1;
		}
		res->kind = bp->kind;
		(void)strlcpy(res->dockerfile, BUILDPACK_DOCKERFILE,
		    sizeof(res->dockerfile));
		return 0;
	}
	markers_list(list, sizeof(list));
	builder_errset(err, errlen, "nothing to build: no %s, and none of %s",
	    dockerfile, list);
	return -1;
}

int
buildpack_detect(int srcfd, const struct build_request *req,
    struct buildpack_result *res, char *err, size_t errlen)
{
	const char	*dockerfile = DEFAULT_DOCKERFILE;
	int		 r;

	memset(res, 0, sizeof(*res));
	if (req->dockerfile[0] != '\0')
		dockerfile = req->dockerfile;
	if ((r = is_regular(srcfd, dockerfile, err, errlen)) == -1)
		return -1;
	if (r == 1) {
		res->kind = BUILD_KIND_DOCKERFILE;
		(void)strlcpy(res->dockerfile, dockerfile,
		    sizeof(res->dockerfile));
		return 0;
	}
	if (req->dockerfile[0] != '\0') {
		builder_errset(err, errlen, "no Dockerfile at %s (set in the request)",
		    dockerfile);
		return -1;
	}
	return detect_buildpack(srcfd, req, dockerfile, res, err, errlen);
}

void
buildpack_result_free(struct buildpack_result *res)
{
	free(res->generated);
	res->generated = NULL;
}
