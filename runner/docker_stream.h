/*
 * docker_stream.h: incremental decoders for what dockerd streams back to
 * the runner: multiplexed log frames, JSON lines, and two interpreters
 * built on JSON lines (build output, events).  Each decoder is fed byte
 * chunks split anywhere, keeps a bounded amount of memory, and once it
 * has failed stays failed: every later feed returns -1.
 *
 * Callbacks return 0 to go on or -1 to stop the decoder; a decoder
 * stopped by its consumer reports "stopped by consumer".
 */
#ifndef BERTH_DOCKER_STREAM_H
#define BERTH_DOCKER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define DSTREAM_ERROR_LEN	192

/*
 * Log frames (containers without a TTY): an 8-byte header, byte 0 the
 * stream (0 stdin, 1 stdout, 2 stderr), bytes 1-3 zero, bytes 4-7 the
 * payload length big-endian, then the payload.  Each frame is delivered
 * whole, in one callback; a frame longer than max_payload is an error
 * rather than a large allocation.  dockerd's json-file driver splits log
 * lines at 16 KiB, so whole frames stay small in practice, and whole
 * frames keep a timestamps=1 prefix at the start of each payload.
 * Zero-length frames are skipped.  In raw mode (TTY containers: no
 * framing, stdout and stderr merged) every chunk is passed through at
 * once as LOGFRAME_STDOUT.
 */
#define LOGFRAME_HEADER_LEN	8
#define LOGFRAME_PAYLOAD_MAX	(1024 * 1024)

enum logframe_stream {
	LOGFRAME_STDIN = 0,
	LOGFRAME_STDOUT = 1,
	LOGFRAME_STDERR = 2
};

typedef int	(*logframe_cb)(void *arg, enum logframe_stream,
		    const char *payload, size_t len);

struct logframe_decoder {
	logframe_cb	 cb;
	void		*arg;
	int		 raw;
	size_t		 max_payload;
	unsigned char	 header[LOGFRAME_HEADER_LEN];
	size_t		 header_len;	/* header bytes held */
	enum logframe_stream stream;	/* of the frame in progress */
	size_t		 payload_len;	/* declared by its header */
	char		*buf;		/* payload bytes of a split frame */
	size_t		 buf_len;
	size_t		 buf_size;
	int		 failed;
	char		 error[DSTREAM_ERROR_LEN];
};

void		 logframe_init(struct logframe_decoder *, int raw,
		    size_t max_payload, logframe_cb, void *);
int		 logframe_feed(struct logframe_decoder *, const void *, size_t);
int		 logframe_finish(struct logframe_decoder *);
const char	*logframe_error(const struct logframe_decoder *);
void		 logframe_clear(struct logframe_decoder *);

/*
 * JSON lines (build output, events, pull progress, stats): split on
 * '\n', parse each line with JSON_REJECT_DUPLICATES and hand the object
 * to the callback, which borrows it.  A line longer than max_line, a
 * malformed line or a line that is not an object is an error.  Blank
 * lines are skipped; a last line without '\n' is parsed by finish.
 */
#define JSONLINES_LINE_MAX	(256 * 1024)

typedef int	(*jsonlines_cb)(void *arg, json_t *obj);

struct jsonlines_decoder {
	jsonlines_cb	 cb;
	void		*arg;
	size_t		 max_line;
	char		*buf;		/* a line split across chunks */
	size_t		 buf_len;
	size_t		 buf_size;
	size_t		 lineno;
	int		 failed;
	char		 error[DSTREAM_ERROR_LEN];
};

void		 jsonlines_init(struct jsonlines_decoder *, size_t max_line,
		    jsonlines_cb, void *);
int		 jsonlines_feed(struct jsonlines_decoder *, const void *,
		    size_t);
int		 jsonlines_finish(struct jsonlines_decoder *);
const char	*jsonlines_error(const struct jsonlines_decoder *);
void		 jsonlines_clear(struct jsonlines_decoder *);

/*
 * Build output (POST /build, legacy builder).  A failed build is HTTP 200
 * with an object carrying "error" and/or "errorDetail" in the stream, so
 * success is decided here: the stream ended, no error object was seen,
 * and {"aux":{"ID":"sha256:<64 hex>"}} was seen.  "stream" text goes to
 * the log callback as it arrives.  A malformed line or a malformed image
 * id is a protocol error (feed returns -1); a build the daemon reports
 * as failed is not, feed goes on so that the rest of the log is kept.
 */
#define DOCKER_IMAGE_ID_LEN	71	/* "sha256:" + 64 hex */
#define BUILD_ERROR_LEN		512

enum build_status {
	BUILD_OK = 0,		/* finished, image id known */
	BUILD_FAILED,		/* the daemon reported an error */
	BUILD_BROKEN		/* malformed stream, no image id, or stopped */
};

typedef int	(*build_log_cb)(void *arg, const char *text, size_t len);

struct build_output {
	struct jsonlines_decoder lines;
	build_log_cb	 log_cb;
	void		*arg;
	int		 failed;	/* the daemon sent an error object */
	int		 broken;	/* protocol error, see problem */
	int		 have_image_id;
	char		 image_id[DOCKER_IMAGE_ID_LEN + 1];
	char		 error[BUILD_ERROR_LEN];	/* dockerd's message */
	char		 problem[DSTREAM_ERROR_LEN];
};

void		 build_output_init(struct build_output *, build_log_cb,
		    void *);
int		 build_output_feed(struct build_output *, const void *, size_t);
enum build_status build_output_finish(struct build_output *);
const char	*build_output_error(const struct build_output *);
const char	*build_output_image_id(const struct build_output *);
void		 build_output_clear(struct build_output *);
int		 docker_image_id_valid(const char *);

/*
 * Events (GET /events).  Each object is decoded into a struct docker_event
 * whose strings are bounded; an event that does not fit, or lacks Type,
 * Action, Actor.ID or time, is an error, so a decoder that sees foreign
 * objects must filter first: with owner_key set, events whose
 * Actor.Attributes lack that key (container labels are copied there)
 * are skipped before they are decoded.
 */
#define DOCKER_EVENT_TYPE_LEN		32
#define DOCKER_EVENT_ACTION_LEN		256
#define DOCKER_EVENT_ID_LEN		256
#define DOCKER_EVENT_ATTRS_MAX		64
#define DOCKER_EVENT_ATTRS_SIZE		8192	/* keys and values, NUL-ended */
#define DOCKER_EVENT_KEY_LEN		128

struct docker_event {
	char		 type[DOCKER_EVENT_TYPE_LEN];
	char		 action[DOCKER_EVENT_ACTION_LEN];
	char		 actor_id[DOCKER_EVENT_ID_LEN];
	int64_t		 time;		/* unix seconds */
	int64_t		 time_nano;	/* unix nanoseconds */
	size_t		 nattrs;
	uint16_t	 attr_key[DOCKER_EVENT_ATTRS_MAX];	/* into attrs */
	uint16_t	 attr_value[DOCKER_EVENT_ATTRS_MAX];
	size_t		 attrs_used;
	char		 attrs[DOCKER_EVENT_ATTRS_SIZE];
};

typedef int	(*docker_event_cb)(void *arg, const struct docker_event *);

struct events_decoder {
	struct jsonlines_decoder lines;
	docker_event_cb	 cb;
	void		*arg;
	char		 owner_key[DOCKER_EVENT_KEY_LEN]; /* "": keep all */
	uint64_t	 skipped;	/* events without owner_key */
	int		 broken;
	char		 error[DSTREAM_ERROR_LEN];
	struct docker_event event;	/* scratch, too big for the stack */
};

int		 docker_event_decode(const json_t *, struct docker_event *,
		    char *, size_t);
const char	*docker_event_attr(const struct docker_event *, const char *);
int		 docker_event_json_has_attr(const json_t *, const char *);

int		 events_init(struct events_decoder *, const char *owner_key,
		    docker_event_cb, void *);
int		 events_feed(struct events_decoder *, const void *, size_t);
int		 events_finish(struct events_decoder *);
const char	*events_error(const struct events_decoder *);
void		 events_clear(struct events_decoder *);

#endif /* BERTH_DOCKER_STREAM_H */
