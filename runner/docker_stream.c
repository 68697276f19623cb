/*
 * docker_stream.c: incremental decoders for the byte streams dockerd
 * sends the runner (log frames, JSON lines, build output, events).  The
 * bytes come from the daemon, which runs untrusted images and builds, so
 * every length is checked before it is used, memory is bounded by caps
 * fixed at init, and a decoder that fails stays failed.  Nothing here
 * does I/O; docker.c feeds these from its stream callbacks.
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "berth.h"
#include "docker_stream.h"

/* A split-frame or split-line buffer larger than this is freed when done. */
#define DSTREAM_KEEP_BUFFER	(64 * 1024)

static int	 grow_buffer(char **, size_t *, size_t, size_t);
static void	 set_error(char *, size_t, const char *, ...)
		    __attribute__((__format__(printf, 3, 4)));

static void
set_error(char *buf, size_t size, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/*
 * Make room for need bytes in *buf, growing geometrically but never past
 * limit, so a split item costs at most its own size.
 */
static int
grow_buffer(char **buf, size_t *size, size_t need, size_t limit)
{
	size_t	 newsize;
	char	*p;

	if (need <= *size)
		return 0;
	if (need > limit)
		return -1;
	newsize = *size < 4096 ? 4096 : *size;
	while (newsize < need)
		newsize = newsize > limit / 2 ? limit : newsize * 2;
	if (newsize > limit)
		newsize = limit;
	if ((p = realloc(*buf, newsize)) == NULL)
		return -1;
	*buf = p;
	*size = newsize;
	return 0;
}

/* --- log frames ------------------------------------------------------ */

static int	 logframe_fail(struct logframe_decoder *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));
static int	 logframe_header(struct logframe_decoder *);
static int	 logframe_deliver(struct logframe_decoder *, const char *,
		    size_t);
static size_t	 logframe_payload(struct logframe_decoder *, const char *,
		    size_t);

void
logframe_init(struct logframe_decoder *d, int raw, size_t max_payload,
    logframe_cb cb, void *arg)
{
	memset(d, 0, sizeof(*d));
	d->raw = raw;
	d->max_payload = max_payload == 0 ? LOGFRAME_PAYLOAD_MAX : max_payload;
	d->cb = cb;
	d->arg = arg;
}

static int
logframe_fail(struct logframe_decoder *d, const char *fmt, ...)
{
	va_list	 ap;

	if (!d->failed) {
		va_start(ap, fmt);
		(void)vsnprintf(d->error, sizeof(d->error), fmt, ap);
		va_end(ap);
	}
	d->failed = 1;
	return -1;
}

/* Check a complete header: known stream, zero padding, bounded length. */
static int
logframe_header(struct logframe_decoder *d)
{
	const unsigned char	*h = d->header;
	size_t			 len;

	if (h[0] > LOGFRAME_STDERR)
		return logframe_fail(d, "log frame: bad stream type %u",
		    (unsigned int)h[0]);
	if (h[1] != 0 || h[2] != 0 || h[3] != 0)
		return logframe_fail(d, "log frame: nonzero header padding");
	len = (size_t)h[4] << 24 | (size_t)h[5] << 16 | (size_t)h[6] << 8 |
	    (size_t)h[7];
	if (len > d->max_payload)
		return logframe_fail(d, "log frame: payload of %zu bytes "
		    "exceeds the limit of %zu", len, d->max_payload);
	d->stream = (enum logframe_stream)h[0];
	d->payload_len = len;
	d->buf_len = 0;
	return 0;
}

static int
logframe_deliver(struct logframe_decoder *d, const char *payload, size_t len)
{
	d->header_len = 0;
	d->buf_len = 0;
	if (d->buf_size > DSTREAM_KEEP_BUFFER) {
		free(d->buf);
		d->buf = NULL;
		d->buf_size = 0;
	}
	if (d->cb(d->arg, d->stream, payload, len) == -1)
		return logframe_fail(d, "log frame: stopped by consumer");
	return 0;
}

/*
 * Take payload bytes of the frame in progress; returns how many were
 * used, or (size_t)-1 on error.  A frame that arrives whole in one chunk
 * is delivered from the chunk itself, without a copy.
 */
static size_t
logframe_payload(struct logframe_decoder *d, const char *p, size_t len)
{
	size_t	 need = d->payload_len - d->buf_len;
	size_t	 n = len < need ? len : need;

	if (d->buf_len == 0 && n == need) {
		if (logframe_deliver(d, p, n) == -1)
			return (size_t)-1;
		return n;
	}
	if (grow_buffer(&d->buf, &d->buf_size, d->buf_len + n,
	    d->payload_len) == -1) {
		logframe_fail(d, "log frame: out of memory");
		return (size_t)-1;
	}
	memcpy(d->buf + d->buf_len, p, n);
	d->buf_len += n;
	if (d->buf_len == d->payload_len &&
	    logframe_deliver(d, d->buf, d->buf_len) == -1)
		return (size_t)-1;
	return n;
}

int
logframe_feed(struct logframe_decoder *d, const void *data, size_t len)
{
	const char	*p = data;
	size_t		 n;

	if (d->failed)
		return -1;
	if (d->raw) {
		if (len > 0 && d->cb(d->arg, LOGFRAME_STDOUT, p, len) == -1)
			return logframe_fail(d, "raw log: stopped by consumer");
		return 0;
	}
	while (len > 0) {
		if (d->header_len < LOGFRAME_HEADER_LEN) {
			n = LOGFRAME_HEADER_LEN - d->header_len;
			if (n > len)
				n = len;
			memcpy(d->header + d->header_len, p, n);
			d->header_len += n;
			p += n;
			len -= n;
			if (d->header_len < LOGFRAME_HEADER_LEN)
				break;
			if (logframe_header(d) == -1)
				return -1;
			/* Empty frames carry nothing worth a callback. */
			if (d->payload_len == 0)
				d->header_len = 0;
			continue;
		}
		if ((n = logframe_payload(d, p, len)) == (size_t)-1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* The stream ended: anything but a frame boundary means it was cut. */
int
logframe_finish(struct logframe_decoder *d)
{
	if (d->failed)
		return -1;
	if (!d->raw && d->header_len != 0)
		return logframe_fail(d, "log frame: stream ended inside a "
		    "frame");
	return 0;
}

const char *
logframe_error(const struct logframe_decoder *d)
{
	return d->failed ? d->error : NULL;
}

void
logframe_clear(struct logframe_decoder *d)
{
	free(d->buf);
	d->buf = NULL;
	d->buf_size = d->buf_len = 0;
}

/* --- JSON lines ------------------------------------------------------ */

static int	 jsonlines_fail(struct jsonlines_decoder *, const char *, ...)
		    __attribute__((__format__(printf, 2, 3)));
static int	 jsonlines_line(struct jsonlines_decoder *, const char *,
		    size_t);
static int	 jsonlines_blank(const char *, size_t);

void
jsonlines_init(struct jsonlines_decoder *d, size_t max_line, jsonlines_cb cb,
    void *arg)
{
	memset(d, 0, sizeof(*d));
	d->max_line = max_line == 0 ? JSONLINES_LINE_MAX : max_line;
	d->cb = cb;
	d->arg = arg;
}

static int
jsonlines_fail(struct jsonlines_decoder *d, const char *fmt, ...)
{
	va_list	 ap;

	if (!d->failed) {
		va_start(ap, fmt);
		(void)vsnprintf(d->error, sizeof(d->error), fmt, ap);
		va_end(ap);
	}
	d->failed = 1;
	return -1;
}

static int
jsonlines_blank(const char *p, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
			return 0;
	return 1;
}

/* Parse one complete line (without its '\n') and hand it on. */
static int
jsonlines_line(struct jsonlines_decoder *d, const char *p, size_t len)
{
	json_error_t	 jerr;
	json_t		*obj;
	int		 rc;

	d->lineno++;
	if (jsonlines_blank(p, len))
		return 0;
	if ((obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return jsonlines_fail(d, "JSON line %zu: %s (column %d)",
		    d->lineno, jerr.text, jerr.column);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return jsonlines_fail(d, "JSON line %zu: not an object",
		    d->lineno);
	}
	rc = d->cb(d->arg, obj);
	json_decref(obj);
	if (rc == -1)
		return jsonlines_fail(d, "JSON line %zu: stopped by consumer",
		    d->lineno);
	return 0;
}

int
jsonlines_feed(struct jsonlines_decoder *d, const void *data, size_t len)
{
	const char	*p = data, *nl;
	size_t		 n;

	if (d->failed)
		return -1;
	while (len > 0) {
		nl = memchr(p, '\n', len);
		n = nl == NULL ? len : (size_t)(nl - p);
		if (n > d->max_line - d->buf_len)
			return jsonlines_fail(d, "JSON line %zu: longer than "
			    "%zu bytes", d->lineno + 1, d->max_line);
		if (nl != NULL && d->buf_len == 0) {
			/* Whole line inside this chunk: parse in place. */
			if (jsonlines_line(d, p, n) == -1)
				return -1;
		} else {
			if (grow_buffer(&d->buf, &d->buf_size, d->buf_len + n,
			    d->max_line) == -1)
				return jsonlines_fail(d, "JSON lines: out of "
				    "memory");
			memcpy(d->buf + d->buf_len, p, n);
			d->buf_len += n;
			if (nl == NULL)
				return 0;
			n = d->buf_len;
			d->buf_len = 0;
			if (jsonlines_line(d, d->buf, n) == -1)
				return -1;
			if (d->buf_size > DSTREAM_KEEP_BUFFER) {
				free(d->buf);
				d->buf = NULL;
				d->buf_size = 0;
			}
			n = (size_t)(nl - p);
		}
		p += n + 1;
		len -= n + 1;
	}
	return 0;
}

/* The stream ended: a last line without '\n' still counts. */
int
jsonlines_finish(struct jsonlines_decoder *d)
{
	size_t	 n;

	if (d->failed)
		return -1;
	if (d->buf_len == 0)
		return 0;
	n = d->buf_len;
	d->buf_len = 0;
	return jsonlines_line(d, d->buf, n);
}

const char *
jsonlines_error(const struct jsonlines_decoder *d)
{
	return d->failed ? d->error : NULL;
}

void
jsonlines_clear(struct jsonlines_decoder *d)
{
	free(d->buf);
	d->buf = NULL;
	d->buf_size = d->buf_len = 0;
}

/* --- build output ---------------------------------------------------- */

static int	 build_output_line(void *, json_t *);
static void	 build_output_failure(struct build_output *, json_t *);
static void	 build_output_aux(struct build_output *, json_t *);
static void	 build_output_broken(struct build_output *, const char *);

void
build_output_init(struct build_output *bo, build_log_cb cb, void *arg)
{
	memset(bo, 0, sizeof(*bo));
	jsonlines_init(&bo->lines, JSONLINES_LINE_MAX, build_output_line, bo);
	bo->log_cb = cb;
	bo->arg = arg;
}

/* "sha256:" and 64 lowercase hex digits, as dockerd prints image ids. */
int
docker_image_id_valid(const char *id)
{
	size_t	 i;

	if (strncmp(id, "sha256:", 7) != 0 || strlen(id) != DOCKER_IMAGE_ID_LEN)
		return 0;
	for (i = 7; i < DOCKER_IMAGE_ID_LEN; i++)
		if ((id[i] < '0' || id[i] > '9') &&
		    (id[i] < 'a' || id[i] > 'f'))
			return 0;
	return 1;
}

static void
build_output_broken(struct build_output *bo, const char *why)
{
	if (!bo->broken)
		(void)strlcpy(bo->problem, why, sizeof(bo->problem));
	bo->broken = 1;
}

/*
 * An object with "error" or "errorDetail" means the build failed, though
 * the HTTP status was 200.  Keep the first message: errorDetail.message
 * when there is one, else "error".
 */
static void
build_output_failure(struct build_output *bo, json_t *obj)
{
	json_t		*detail, *msg;
	const char	*text = NULL;

	if (bo->failed)
		return;
	bo->failed = 1;
	detail = json_object_get(obj, "errorDetail");
	if ((msg = json_object_get(detail, "message")) != NULL &&
	    json_is_string(msg))
		text = json_string_value(msg);
	else if ((msg = json_object_get(obj, "error")) != NULL &&
	    json_is_string(msg))
		text = json_string_value(msg);
	if (text == NULL || *text == '\0')
		text = "build failed without a message";
	(void)strlcpy(bo->error, text, sizeof(bo->error));
}

/*
 * {"aux":{"ID":"sha256:..."}} names the image built.  Other aux payloads
 * (BuildKit traces are strings) carry no id and are left alone; an ID
 * that is not a well-formed image id, or a second different one, is a
 * protocol error, never something to pass on.
 */
static void
build_output_aux(struct build_output *bo, json_t *aux)
{
	json_t		*id;
	const char	*s;

	if (!json_is_object(aux) || (id = json_object_get(aux, "ID")) == NULL)
		return;
	if (!json_is_string(id)) {
		build_output_broken(bo, "build output: aux.ID is not a string");
		return;
	}
	s = json_string_value(id);
	if (json_string_length(id) != strlen(s) || !docker_image_id_valid(s)) {
		build_output_broken(bo, "build output: malformed image id");
		return;
	}
	if (bo->have_image_id && strcmp(bo->image_id, s) != 0) {
		build_output_broken(bo, "build output: two different image "
		    "ids");
		return;
	}
	(void)strlcpy(bo->image_id, s, sizeof(bo->image_id));
	bo->have_image_id = 1;
}

static int
build_output_line(void *arg, json_t *obj)
{
	struct build_output	*bo = arg;
	json_t			*v;

	if ((v = json_object_get(obj, "stream")) != NULL) {
		if (!json_is_string(v))
			build_output_broken(bo, "build output: stream is not "
			    "a string");
		else if (bo->log_cb != NULL && json_string_length(v) > 0 &&
		    bo->log_cb(bo->arg, json_string_value(v),
		    json_string_length(v)) == -1)
			build_output_broken(bo, "build output: stopped by "
			    "consumer");
	}
	if (json_object_get(obj, "error") != NULL ||
	    json_object_get(obj, "errorDetail") != NULL)
		build_output_failure(bo, obj);
	if ((v = json_object_get(obj, "aux")) != NULL)
		build_output_aux(bo, v);
	return bo->broken ? -1 : 0;
}

int
build_output_feed(struct build_output *bo, const void *data, size_t len)
{
	if (bo->broken)
		return -1;
	if (jsonlines_feed(&bo->lines, data, len) == -1) {
		build_output_broken(bo, jsonlines_error(&bo->lines));
		return -1;
	}
	return 0;
}

/* The stream ended: decide.  A failure the daemon reported comes first. */
enum build_status
build_output_finish(struct build_output *bo)
{
	if (!bo->broken && jsonlines_finish(&bo->lines) == -1)
		build_output_broken(bo, jsonlines_error(&bo->lines));
	if (bo->failed)
		return BUILD_FAILED;
	if (bo->broken)
		return BUILD_BROKEN;
	if (!bo->have_image_id) {
		build_output_broken(bo, "build output: stream ended without "
		    "an image id");
		return BUILD_BROKEN;
	}
	return BUILD_OK;
}

const char *
build_output_error(const struct build_output *bo)
{
	if (bo->failed)
		return bo->error;
	if (bo->broken)
		return bo->problem;
	return NULL;
}

const char *
build_output_image_id(const struct build_output *bo)
{
	if (bo->failed || bo->broken || !bo->have_image_id)
		return NULL;
	return bo->image_id;
}

void
build_output_clear(struct build_output *bo)
{
	jsonlines_clear(&bo->lines);
}

/* --- events ---------------------------------------------------------- */

static int	 event_string(const json_t *, const char *, char *, size_t,
		    char *, size_t);
static int	 event_attrs(const json_t *, struct docker_event *, char *,
		    size_t);
static int	 event_attr_add(struct docker_event *, const char *, size_t,
		    const char *, size_t);
static int	 events_line(void *, json_t *);

/* Copy a required string member that must fit dst whole. */
static int
event_string(const json_t *obj, const char *name, char *dst, size_t dstsize,
    char *err, size_t errsize)
{
	json_t	*v = json_object_get(obj, name);
	size_t	 len;

	if (v == NULL || !json_is_string(v)) {
		set_error(err, errsize, "event: %s missing or not a string",
		    name);
		return -1;
	}
	len = json_string_length(v);
	if (len >= dstsize || strlen(json_string_value(v)) != len) {
		set_error(err, errsize, "event: %s longer than %zu bytes",
		    name, dstsize - 1);
		return -1;
	}
	memcpy(dst, json_string_value(v), len + 1);
	return 0;
}

static int
event_attr_add(struct docker_event *ev, const char *key, size_t keylen,
    const char *value, size_t valuelen)
{
	size_t	 room = sizeof(ev->attrs) - ev->attrs_used;

	if (ev->nattrs == DOCKER_EVENT_ATTRS_MAX || keylen + 1 > room ||
	    valuelen + 1 > room - keylen - 1)
		return -1;
	ev->attr_key[ev->nattrs] = (uint16_t)ev->attrs_used;
	memcpy(ev->attrs + ev->attrs_used, key, keylen + 1);
	ev->attrs_used += keylen + 1;
	ev->attr_value[ev->nattrs] = (uint16_t)ev->attrs_used;
	memcpy(ev->attrs + ev->attrs_used, value, valuelen + 1);
	ev->attrs_used += valuelen + 1;
	ev->nattrs++;
	return 0;
}

/* Actor.Attributes: optional, an object of strings that must all fit. */
static int
event_attrs(const json_t *actor, struct docker_event *ev, char *err,
    size_t errsize)
{
	json_t		*attrs, *v;
	const char	*key;

	if ((attrs = json_object_get(actor, "Attributes")) == NULL ||
	    json_is_null(attrs))
		return 0;
	if (!json_is_object(attrs)) {
		set_error(err, errsize, "event: Actor.Attributes is not an "
		    "object");
		return -1;
	}
	json_object_foreach(attrs, key, v) {
		if (!json_is_string(v) ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			set_error(err, errsize, "event: attribute is not a "
			    "string");
			return -1;
		}
		if (event_attr_add(ev, key, strlen(key), json_string_value(v),
		    json_string_length(v)) == -1) {
			set_error(err, errsize, "event: attributes exceed %d "
			    "entries or %d bytes", DOCKER_EVENT_ATTRS_MAX,
			    DOCKER_EVENT_ATTRS_SIZE);
			return -1;
		}
	}
	return 0;
}

int
docker_event_decode(const json_t *obj, struct docker_event *ev, char *err,
    size_t errsize)
{
	json_t		*actor, *t, *tn;

	ev->nattrs = 0;
	ev->attrs_used = 0;
	ev->type[0] = ev->action[0] = ev->actor_id[0] = '\0';
	if (!json_is_object(obj)) {
		set_error(err, errsize, "event: not an object");
		return -1;
	}
	if (event_string(obj, "Type", ev->type, sizeof(ev->type), err,
	    errsize) == -1 ||
	    event_string(obj, "Action", ev->action, sizeof(ev->action), err,
	    errsize) == -1)
		return -1;
	if ((actor = json_object_get(obj, "Actor")) == NULL ||
	    !json_is_object(actor)) {
		set_error(err, errsize, "event: Actor missing or not an "
		    "object");
		return -1;
	}
	if (event_string(actor, "ID", ev->actor_id, sizeof(ev->actor_id), err,
	    errsize) == -1 || event_attrs(actor, ev, err, errsize) == -1)
		return -1;
	t = json_object_get(obj, "time");
	if (!json_is_integer(t) || json_integer_value(t) < 0 ||
	    json_integer_value(t) > INT64_MAX / 1000000000) {
		set_error(err, errsize, "event: time missing or out of range");
		return -1;
	}
	ev->time = json_integer_value(t);
	ev->time_nano = ev->time * 1000000000;
	if ((tn = json_object_get(obj, "timeNano")) != NULL) {
		if (!json_is_integer(tn) || json_integer_value(tn) < 0) {
			set_error(err, errsize, "event: bad timeNano");
			return -1;
		}
		ev->time_nano = json_integer_value(tn);
	}
	return 0;
}

const char *
docker_event_attr(const struct docker_event *ev, const char *key)
{
	size_t	 i;

	for (i = 0; i < ev->nattrs; i++)
		if (strcmp(ev->attrs + ev->attr_key[i], key) == 0)
			return ev->attrs + ev->attr_value[i];
	return NULL;
}

/*
 * Whether an undecoded event's Actor.Attributes carry key.  Run before
 * decoding so that objects berth does not own, whose attributes may be
 * of any size, never reach the bounded decoder.
 */
int
docker_event_json_has_attr(const json_t *obj, const char *key)
{
	json_t	*attrs;

	attrs = json_object_get(json_object_get(obj, "Actor"), "Attributes");
	return json_is_object(attrs) && json_object_get(attrs, key) != NULL;
}

int
events_init(struct events_decoder *d, const char *owner_key,
    docker_event_cb cb, void *arg)
{
	memset(d, 0, sizeof(*d));
	jsonlines_init(&d->lines, JSONLINES_LINE_MAX, events_line, d);
	d->cb = cb;
	d->arg = arg;
	if (owner_key != NULL && strlcpy(d->owner_key, owner_key,
	    sizeof(d->owner_key)) >= sizeof(d->owner_key))
		return -1;
	return 0;
}

static int
events_line(void *arg, json_t *obj)
{
	struct events_decoder	*d = arg;

	if (d->owner_key[0] != '\0' &&
	    !docker_event_json_has_attr(obj, d->owner_key)) {
		d->skipped++;
		return 0;
	}
	if (docker_event_decode(obj, &d->event, d->error,
	    sizeof(d->error)) == -1) {
		d->broken = 1;
		return -1;
	}
	if (d->cb(d->arg, &d->event) == -1) {
		(void)strlcpy(d->error, "event: stopped by consumer",
		    sizeof(d->error));
		d->broken = 1;
		return -1;
	}
	return 0;
}

int
events_feed(struct events_decoder *d, const void *data, size_t len)
{
	if (jsonlines_feed(&d->lines, data, len) == -1) {
		if (!d->broken)
			(void)strlcpy(d->error, jsonlines_error(&d->lines),
			    sizeof(d->error));
		d->broken = 1;
		return -1;
	}
	return 0;
}

int
events_finish(struct events_decoder *d)
{
	if (jsonlines_finish(&d->lines) == -1) {
		if (!d->broken)
			(void)strlcpy(d->error, jsonlines_error(&d->lines),
			    sizeof(d->error));
		d->broken = 1;
		return -1;
	}
	return 0;
}

const char *
events_error(const struct events_decoder *d)
{
	return d->broken ? d->error : NULL;
}

void
events_clear(struct events_decoder *d)
{
	jsonlines_clear(&d->lines);
}
