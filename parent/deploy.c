/*
 * deploy.c: the deploy state machine for a deploy from git (DESIGN.md
 * §5), run by the parent, which is the only process that talks to both
 * the builder and the runner:
 *
 *	builder: clone -> detect -> context	(IMSG_BUILD_REQUEST ...)
 *	runner:  image-build, the context's descriptor passed straight on
 *	runner:  deploy of the built image	(RUNOP_DEPLOY)
 *
 * Each stage is reported to the owner (a berthctl client) as it ends,
 * and the one result names the stage that failed.  The runner's deploy
 * keeps the old container until the new one runs, so a failure at any
 * stage leaves the old version serving.
 *
 * What the builder says is untrusted: each message goes through its
 * decoder in buildreq.c and must name this deploy's task.  The parent
 * opens nothing here; descriptors only pass through.
 */
#include <sys/queue.h>
#include <sys/types.h>

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buildreq.h"
#include "log.h"
#include "parent.h"
#include "runop.h"
#include "wire.h"

#define DEPLOY_ERROR_LEN	512
/* After the builder's own timeout, a margin for it to say so itself. */
#define DEPLOY_TIMEOUT_SLACK	30

enum deploy_stage {
	STAGE_SOURCE,		/* the builder: clone, detect, context */
	STAGE_IMAGE,		/* the runner builds the image */
	STAGE_DEPLOY,		/* the runner replaces the container */
};

struct deploy {
	TAILQ_ENTRY(deploy)	 entry;
	uint32_t		 id;		/* peerid towards both children */
	struct deploy_owner	 owner;
	enum deploy_stage	 stage;
	struct run_request	 req;		/* as the owner asked */
	struct event		*timer;
	int			 builder_done;	/* IMSG_BUILD_DONE seen */
	char			 builder_error[BUILD_ERROR_LEN];
	int			 image_pending;	/* image-build at the runner */
	int			 image_done;
	char			 image_error[DEPLOY_ERROR_LEN];
	char			 image[RUNOP_IMAGE_LEN];
	char			 commit[BUILD_COMMIT_LEN];
};

TAILQ_HEAD(deploy_list, deploy);

static struct deploy_list	 deploys = TAILQ_HEAD_INITIALIZER(deploys);
static struct event_base	*deploy_base;
static const struct berth_conf	*deploy_conf;
static uint32_t			 deploy_next_id = 1;
static uint32_t			 deploy_building;

static void	 deploy_fail(struct deploy *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));
static void	 deploy_progress(struct deploy *, const char *, const char *,
		    ...) __attribute__((__format__(printf, 3, 4)));

void
deploy_init(struct event_base *base, const struct berth_conf *conf)
{
	deploy_base = base;
	deploy_conf = conf;
}

static struct deploy *
deploy_find(uint32_t id)
{
	struct deploy	*d;

	TAILQ_FOREACH(d, &deploys, entry)
		if (d->id == id)
			return d;
	return NULL;
}

static void
deploy_free(struct deploy *d)
{
	if (d->stage != STAGE_DEPLOY)
		deploy_building--;
	TAILQ_REMOVE(&deploys, d, entry);
	if (d->timer != NULL)
		event_free(d->timer);
	runop_free(&d->req);
	free(d);
}

static void
deploy_progress(struct deploy *d, const char *stage, const char *fmt, ...)
{
	char	 text[1024];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	build_text_clean(text);
	log_info("deploy %s (%s): %s %s", d->req.app, d->req.task, stage,
	    text);
	d->owner.progress(d->owner.arg, stage, text);
}

/* The one result: JSON the owner passes on, then the state goes. */
static void
deploy_finish(struct deploy *d, const char *json)
{
	d->owner.done(d->owner.arg, json);
	deploy_free(d);
}

static void
deploy_fail(struct deploy *d, const char *fmt, ...)
{
	char	 error[DEPLOY_ERROR_LEN];
	json_t	*res;
	char	*json;
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(error, sizeof(error), fmt, ap);
	va_end(ap);
	build_text_clean(error);
	log_warnx("deploy %s (%s) failed: %s", d->req.app, d->req.task,
	    error);
	res = json_pack("{s:b,s:s,s:s}", "ok", 0, "error", error, "app",
	    d->req.app);
	if (res == NULL || (json = json_dumps(res, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	json_decref(res);
	deploy_finish(d, json);
	free(json);
}

/* --- the build request ---------------------------------------------------- */

static void
deploy_allow(struct build_allow *allow)
{
	const struct berth_conf	*conf = deploy_conf;
	uint32_t		 i;

	allow->file_urls = conf->build_allow_file_urls != 0;
	allow->submodules = conf->build_allow_submodules != 0;
	allow->ssh = 0;
	for (i = 0; i < conf->nbuild_url_prefixes && i < BUILD_PREFIXES_MAX;
	    i++)
		(void)strlcpy(allow->url_prefixes[i],
		    conf->build_url_prefixes[i], BUILD_URL_LEN);
	allow->nurl_prefixes = i;
}

/* The builder's request, from the owner's; NULL with why in err. */
static char *
deploy_build_request(const struct deploy *d, char *err, size_t errlen)
{
	const struct berth_conf	*conf = deploy_conf;
	struct build_request	*br;
	const char		*why;
	char			*json = NULL;
	int			 kind;

	if ((br = calloc(1, sizeof(*br))) == NULL) {
		(void)strlcpy(err, "request: out of memory", errlen);
		return NULL;
	}
	(void)strlcpy(br->task, d->req.task, sizeof(br->task));
	(void)strlcpy(br->app, d->req.app, sizeof(br->app));
	(void)strlcpy(br->url, d->req.repo.url, sizeof(br->url));
	(void)strlcpy(br->commit, d->req.repo.commit, sizeof(br->commit));
	(void)strlcpy(br->ref, d->req.repo.ref, sizeof(br->ref));
	(void)strlcpy(br->dockerfile, d->req.repo.dockerfile,
	    sizeof(br->dockerfile));
	for (kind = BUILD_KIND_NODE; kind < BUILD_KIND_MAX; kind++)
		(void)strlcpy(br->buildpack[kind], conf->buildpacks[kind],
		    sizeof(br->buildpack[kind]));
	br->timeout_sec = conf->build_timeout_sec;
	br->workspace_bytes = conf->build_workspace_max;
	deploy_allow(&br->allow);
	/* Refused here, before any clone, naming the field. */
	if (br->allow.nurl_prefixes == 0)
		(void)strlcpy(err, "repo.url: no build repo-prefix is "
		    "configured, so no repository may be fetched", errlen);
	else if ((why = buildreq_check_url(br->url, &br->allow)) != NULL)
		(void)snprintf(err, errlen, "repo.url: %s", why);
	else if ((json = buildreq_encode(br)) == NULL)
		(void)strlcpy(err, "request: the build request does not "
		    "encode (a field is out of range)", errlen);
	free(br);
	return json;
}

static void
deploy_timeout(int fd, short event, void *arg)
{
	struct deploy	*d = arg;
	char		 cancel[BUILD_TASK_LEN + 32];

	(void)fd;
	(void)event;
	(void)snprintf(cancel, sizeof(cancel), "{\"cancel\":\"%s\"}",
	    d->req.task);
	(void)proc_send_build_request(d->id, cancel, strlen(cancel));
	deploy_fail(d, "build: timed out after %u s",
	    deploy_conf->build_timeout_sec);
}

/*
 * Take a deploy from git: 0 once the builder has the request (the owner
 * then hears progress and exactly one result), -1 with the reason in
 * err when it is refused at once.  json is a runop deploy with repo.url
 * (runop.h), decoded here again: the owner's word is not taken for it.
 */
int
deploy_start(const char *json, size_t len, const struct deploy_owner *owner,
    char *err, size_t errlen)
{
	struct deploy	*d;
	struct timeval	 tv;
	char		*breq;

	if (deploy_conf->nbuild_url_prefixes > 0 &&
	    deploy_building >= deploy_conf->max_concurrent_builds) {
		(void)snprintf(err, errlen, "request: %u builds are running "
		    "already (limits max-concurrent-builds); try again later",
		    deploy_building);
		return -1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		fatal("%s", __func__);
	if (runop_decode(json, len, &d->req, err, errlen) == -1 ||
	    d->req.repo.url[0] == '\0') {
		if (d->req.repo.url[0] == '\0' && err[0] == '\0')
			(void)strlcpy(err, "repo.url: required", errlen);
		runop_free(&d->req);
		free(d);
		return -1;
	}
	if ((breq = deploy_build_request(d, err, errlen)) == NULL) {
		runop_free(&d->req);
		free(d);
		return -1;
	}
	d->id = DEPLOY_REQUEST_BIT | (deploy_next_id++ & ~(TASKS_REQUEST_BIT |
	    DEPLOY_REQUEST_BIT));
	d->owner = *owner;
	if (proc_send_build_request(d->id, breq, strlen(breq)) == -1) {
		(void)snprintf(err, errlen, "request: the builder is not "
		    "ready: %s", strerror(errno));
		free(breq);
		runop_free(&d->req);
		free(d);
		return -1;
	}
	free(breq);
	TAILQ_INSERT_TAIL(&deploys, d, entry);
	deploy_building++;
	tv.tv_sec = deploy_conf->build_timeout_sec + DEPLOY_TIMEOUT_SLACK;
	tv.tv_usec = 0;
	if ((d->timer = evtimer_new(deploy_base, deploy_timeout, d)) == NULL ||
	    evtimer_add(d->timer, &tv) == -1)
		fatalx("%s: cannot arm the build timer", __func__);
	log_info("deploy %s (%s): building %s", d->req.app, d->req.task,
	    d->req.repo.url);
	return 0;
}

/* --- the deploy ----------------------------------------------------------- */

/* The owner's deploy with the built image in place of the repository. */
static void
deploy_container(struct deploy *d)
{
	char	*json;

	d->stage = STAGE_DEPLOY;
	deploy_building--;
	if (d->timer != NULL)
		(void)evtimer_del(d->timer);
	(void)strlcpy(d->req.spec.image, d->image, sizeof(d->req.spec.image));
	memset(&d->req.repo, 0, sizeof(d->req.repo));
	if ((json = runop_encode(&d->req)) == NULL) {
		deploy_fail(d, "deploy: the request does not encode");
		return;
	}
	if (proc_send_run_request_fd(d->id, json, strlen(json), -1) == -1)
		deploy_fail(d, "deploy: the runner is not ready");
	free(json);
}

/*
 * Both halves of the build are in: the builder's verdict and the
 * runner's.  The builder's failure names the cause when it has one (a
 * context refused mid-stream leaves the runner an unexpected EOF),
 * unless it only saw the runner go away first.
 */
static void
deploy_build_settled(struct deploy *d)
{
	int	 builder_failed = d->builder_done &&
		    d->builder_error[0] != '\0';

	if (!d->builder_done || d->image_pending)
		return;
	if (builder_failed && (!d->image_done || d->image_error[0] == '\0' ||
	    strstr(d->builder_error, "Broken pipe") == NULL)) {
		deploy_fail(d, "%s", d->builder_error);
		return;
	}
	if (d->image_error[0] != '\0') {
		/* The runner names the stage itself ("build: ..."). */
		deploy_fail(d, "%s%s", strncmp(d->image_error, "build: ", 7) ==
		    0 ? "" : "build: ", d->image_error);
		return;
	}
	if (!d->image_done) {
		deploy_fail(d, "context: the builder sent no build context");
		return;
	}
	deploy_progress(d, "build", "ok %s", d->image);
	deploy_container(d);
}

/* --- from the builder ----------------------------------------------------- */

static void
deploy_context(struct deploy *d, struct imsg *imsg)
{
	struct build_context	 bc;
	char			 err[256], *json;
	json_t			*req;

	if (build_context_decode(imsg->data, imsg->hdr.len, &bc, err,
	    sizeof(err)) == -1 || strcmp(bc.task, d->req.task) != 0 ||
	    imsg->fd == -1 || d->image_pending || d->image_done) {
		log_warnx("builder sent a bad BUILD_CONTEXT: %s",
		    imsg->fd == -1 ? "no descriptor" : err);
		parent_shutdown(1);
		return;
	}
	(void)strlcpy(d->commit, bc.commit, sizeof(d->commit));
	deploy_progress(d, "clone", "ok %s", bc.commit);
	deploy_progress(d, "detect", "detected %s",
	    build_kind_name(bc.detected));
	req = json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}", "op", "image-build",
	    "task", d->req.task, "app", d->req.app, "repo", "commit",
	    bc.commit, "dockerfile", bc.dockerfile);
	if (req == NULL || (json = json_dumps(req, JSON_COMPACT)) == NULL)
		fatalx("%s: out of memory", __func__);
	json_decref(req);
	d->stage = STAGE_IMAGE;
	/* The tar goes to the runner unread: the parent only hands it on. */
	if (proc_send_run_request_fd(d->id, json, strlen(json),
	    imsg->fd) == -1) {
		(void)strlcpy(d->image_error, "the runner is not ready",
		    sizeof(d->image_error));
		d->image_done = 1;
	} else {
		imsg->fd = -1;
		d->image_pending = 1;
	}
	free(json);
}

/* A message of the builder's about a deploy; the imsg keeps its fd. */
void
deploy_builder_message(struct imsg *imsg)
{
	struct deploy		*d;
	struct build_log	 bl;
	struct build_done	 bd;
	char			 err[256];

	if ((d = deploy_find(imsg->hdr.peerid)) == NULL ||
	    d->builder_done) {
		log_debug("builder message for a deploy that is gone");
		return;		/* imsg_free closes any descriptor */
	}
	switch (imsg->hdr.type) {
	case IMSG_BUILD_LOG:
		if (build_log_decode(imsg->data, imsg->hdr.len, &bl, err,
		    sizeof(err)) == -1)
			break;
		deploy_progress(d, build_stage_name(bl.stage), "%s", bl.text);
		return;
	case IMSG_BUILD_CONTEXT:
		deploy_context(d, imsg);
		return;
	case IMSG_BUILD_DONE:
		if (build_done_decode(imsg->data, imsg->hdr.len, &bd, err,
		    sizeof(err)) == -1)
			break;
		d->builder_done = 1;
		if (!bd.ok)
			(void)strlcpy(d->builder_error, bd.error,
			    sizeof(d->builder_error));
		deploy_build_settled(d);
		return;
	default:
		(void)strlcpy(err, "unexpected type", sizeof(err));
		break;
	}
	log_warnx("builder sent a bad %s: %s; stopping berthd",
	    imsg_type_name(imsg->hdr.type), err);
	parent_shutdown(1);
}

/* --- from the runner ------------------------------------------------------ */

static void
deploy_image_result(struct deploy *d, json_t *res)
{
	const char	*image = json_string_value(json_object_get(res,
			    "image"));

	d->image_pending = 0;
	d->image_done = 1;
	if (!json_is_true(json_object_get(res, "ok")))
		(void)strlcpy(d->image_error, json_string_value(
		    json_object_get(res, "error")), sizeof(d->image_error));
	else if (image == NULL || strlen(image) >= sizeof(d->image))
		(void)strlcpy(d->image_error, "the runner named no image",
		    sizeof(d->image_error));
	else
		(void)strlcpy(d->image, image, sizeof(d->image));
	deploy_build_settled(d);
}

static void
deploy_container_result(struct deploy *d, json_t *res, const char *json)
{
	const char	*error;

	if (!json_is_true(json_object_get(res, "ok"))) {
		error = json_string_value(json_object_get(res, "error"));
		deploy_fail(d, "deploy: %s; the old version keeps running",
		    error != NULL ? error : "failed");
		return;
	}
	deploy_progress(d, "deploy", "ok %s",
	    json_string_value(json_object_get(res, "id")));
	deploy_finish(d, json);
}

/* A RUN_RESULT whose peerid carries DEPLOY_REQUEST_BIT. */
void
deploy_run_result(struct imsg *imsg)
{
	struct deploy	*d;
	json_t		*res;
	char		 err[256], *json;

	if ((d = deploy_find(imsg->hdr.peerid)) == NULL) {
		log_debug("runner result for a deploy that is gone");
		return;
	}
	if (runresult_check(imsg->data, imsg->hdr.len, err,
	    sizeof(err)) == -1 || imsg->fd != -1 ||
	    (res = json_loadb(imsg->data, imsg->hdr.len, 0, NULL)) == NULL) {
		log_warnx("runner sent a bad result: %s", err);
		deploy_fail(d, "%s: bad runner result", d->stage ==
		    STAGE_IMAGE ? "build" : "deploy");
		return;
	}
	if ((json = strndup(imsg->data, imsg->hdr.len)) == NULL)
		fatal("%s", __func__);
	if (d->stage == STAGE_IMAGE && d->image_pending)
		deploy_image_result(d, res);
	else if (d->stage == STAGE_DEPLOY)
		deploy_container_result(d, res, json);
	else
		log_warnx("runner answered deploy %u out of turn", d->id);
	json_decref(res);
	free(json);
}
