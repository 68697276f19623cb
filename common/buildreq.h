/*
 * buildreq.h: the builder's messages.  The parent asks for a build (or
 * for a running one to be cancelled) with IMSG_BUILD_REQUEST; the
 * builder answers with IMSG_BUILD_LOG lines, one IMSG_BUILD_CONTEXT that
 * carries the read end of the build-context tar stream, and one
 * IMSG_BUILD_DONE.  Every payload is a JSON object, and each shape has
 * exactly one decoder here, used by both ends: the parent does not trust
 * the builder, and the builder trusts neither the parent's request nor
 * what its build child (which reads the untrusted repository) tells it.
 *
 * A decoder refuses unknown keys, duplicate keys, wrong types, strings
 * that are too long or hold characters outside their set, and numbers
 * out of range; its error names the field ("repo.url: ...").
 *
 * Parent -> builder, IMSG_BUILD_REQUEST, a build:
 *
 *	{"task":"t1","app":"web",
 *	 "repo":{"url":"git://127.0.0.1/app.git",
 *		 "commit":"<40 lower-case hex>"|"", "ref":"main"|""},
 *	 "dockerfile":"Dockerfile"|"",
 *	 "buildpack":{"node":"berth-node:latest","python":"...","go":"...",
 *		      "ruby":"...","php":"...","static":"berth-base:latest"},
 *	 "limits":{"timeout_sec":1800,"workspace_bytes":1073741824},
 *	 "allow":{"file_urls":false,"submodules":false,"ssh":false,
 *		  "url_prefixes":["git://127.0.0.1/","file:///srv/git/"]}}
 *
 *   Required: task, app, repo.url, one of repo.commit and repo.ref, and
 *   allow.url_prefixes (at least one).  A commit wins over a ref; a ref
 *   alone is resolved once with ls-remote and then pinned.  "dockerfile"
 *   "" means "Dockerfile" if the repository has one, else a buildpack; a
 *   path given explicitly must exist.  Every buildpack key is optional:
 *   a kind whose image is not configured cannot be built.  limits
 *   default to 1800 s and 1 GiB; allow's booleans default to false.
 *
 * Parent -> builder, IMSG_BUILD_REQUEST, a cancel (no other key):
 *
 *	{"cancel":"t1"}
 *
 * Builder -> parent (the same shapes come from a build child to the
 * builder, which checks and re-encodes them; peerid is the request's):
 *
 *	IMSG_BUILD_LOG		{"task":"t1","stage":"clone","text":"..."}
 *	IMSG_BUILD_CONTEXT	{"task":"t1","commit":"<40 hex>",
 *				 "detected":"node","dockerfile":"<path>"}
 *				 + the read end of the tar stream
 *	IMSG_BUILD_DONE		{"task":"t1","ok":true}
 *				{"task":"t1","ok":false,
 *				 "error":"clone: git fetch failed (exit 128)"}
 *
 * stage is one of request, clone, detect, context; an error always
 * starts with the stage it happened in ("request: " for a refusal before
 * any work, e.g. a bad request, a duplicate task, too many builds).
 * detected is one of dockerfile node python go ruby php static.
 */
#ifndef BERTH_BUILDREQ_H
#define BERTH_BUILDREQ_H

#include <stddef.h>
#include <stdint.h>

#define BUILDREQ_JSON_MAX	(16 * 1024)	/* any build message */
#define BUILD_TASK_LEN		64	/* [A-Za-z0-9_.:-], not empty */
#define BUILD_APP_LEN		64	/* [a-z0-9][a-z0-9_.-]* */
#define BUILD_URL_LEN		512
#define BUILD_COMMIT_LEN	41	/* 40 lower-case hex digits */
#define BUILD_REF_LEN		256
#define BUILD_PATH_LEN		256	/* relative path in the repository */
#define BUILD_IMAGE_LEN		256
#define BUILD_PREFIXES_MAX	16
#define BUILD_TEXT_LEN		1024	/* one log line */
#define BUILD_ERROR_LEN		512

#define BUILD_TIMEOUT_DEFAULT	1800
#define BUILD_TIMEOUT_MAX	86400
#define BUILD_WORKSPACE_DEFAULT	(1ULL << 30)
#define BUILD_WORKSPACE_MIN	(1ULL << 20)
#define BUILD_WORKSPACE_MAX	(1ULL << 40)

/* What a repository is built as (buildpack.c detects it). */
enum build_kind {
	BUILD_KIND_DOCKERFILE = 0,
	BUILD_KIND_NODE,
	BUILD_KIND_PYTHON,
	BUILD_KIND_GO,
	BUILD_KIND_RUBY,
	BUILD_KIND_PHP,
	BUILD_KIND_STATIC,
	BUILD_KIND_MAX
};

enum build_stage {
	BUILD_STAGE_REQUEST = 0,
	BUILD_STAGE_CLONE,
	BUILD_STAGE_DETECT,
	BUILD_STAGE_CONTEXT,
	BUILD_STAGE_MAX
};

/* What the policy lets this build fetch. */
struct build_allow {
	int		 file_urls;
	int		 submodules;
	int		 ssh;
	char		 url_prefixes[BUILD_PREFIXES_MAX][BUILD_URL_LEN];
	size_t		 nurl_prefixes;
};

struct build_request {
	int		 cancel;	/* 1: {"cancel":task}, only task set */
	char		 task[BUILD_TASK_LEN];
	char		 app[BUILD_APP_LEN];
	char		 url[BUILD_URL_LEN];
	char		 commit[BUILD_COMMIT_LEN];
	char		 ref[BUILD_REF_LEN];
	char		 dockerfile[BUILD_PATH_LEN];
	/* Base image per kind; [BUILD_KIND_DOCKERFILE] stays empty. */
	char		 buildpack[BUILD_KIND_MAX][BUILD_IMAGE_LEN];
	uint32_t	 timeout_sec;
	uint64_t	 workspace_bytes;
	struct build_allow allow;
};

struct build_log {
	char		 task[BUILD_TASK_LEN];
	enum build_stage stage;
	char		 text[BUILD_TEXT_LEN];	/* printable, no newline */
};

struct build_context {
	char		 task[BUILD_TASK_LEN];
	char		 commit[BUILD_COMMIT_LEN];
	enum build_kind	 detected;
	char		 dockerfile[BUILD_PATH_LEN];	/* path in the tar */
};

struct build_done {
	char		 task[BUILD_TASK_LEN];
	int		 ok;
	char		 error[BUILD_ERROR_LEN];	/* "" when ok */
};

/*
 * Decoders: len bytes of JSON (no NUL needed) into a zeroed struct.
 * 0, or -1 with a sentence naming the field in err.
 */
int	 buildreq_decode(const char *json, size_t len, struct build_request *,
	    char *err, size_t errlen);
int	 build_log_decode(const char *json, size_t len, struct build_log *,
	    char *err, size_t errlen);
int	 build_context_decode(const char *json, size_t len,
	    struct build_context *, char *err, size_t errlen);
int	 build_done_decode(const char *json, size_t len, struct build_done *,
	    char *err, size_t errlen);

/*
 * Encoders: canonical compact JSON, malloc'd and NUL-terminated, that
 * the matching decoder accepts; NULL if a field would not be accepted
 * (or on ENOMEM).  Log text and error text are cleaned first (control
 * characters become '?', too long is cut), so any string can be logged.
 */
char	*buildreq_encode(const struct build_request *);
char	*build_log_encode(const struct build_log *);
char	*build_context_encode(const struct build_context *);
char	*build_done_encode(const struct build_done *);

/*
 * Is url one this build may fetch?  NULL if so, else what is wrong:
 * scheme (https, git; ssh and file only when allowed), form (no
 * credentials, no query, no "." or ".." segment, no percent escapes in
 * file URLs), and a prefix from allow->url_prefixes.
 */
const char *buildreq_check_url(const char *url, const struct build_allow *);

/* Make a string a valid log or error text in place: see the encoders. */
void	 build_text_clean(char *);

const char *build_kind_name(enum build_kind);
const char *build_stage_name(enum build_stage);

#endif
