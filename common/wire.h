/*
 * wire.h: one decoder per imsg type.  Each checks the exact payload size,
 * that every string field is NUL-terminated inside its array, and that
 * every enum is in range, before a field is used.  A decoder returns NULL
 * on success or a sentence saying what was wrong, for the log line that
 * precedes the connection being dropped.
 */
#ifndef BERTH_WIRE_H
#define BERTH_WIRE_H

#include "berth.h"
#include "imsg.h"

const char	*wire_decode_empty(const struct imsg *);
const char	*wire_decode_proc_conf(const struct imsg *,
		    struct wire_proc_conf *);
const char	*wire_decode_proc_ready(const struct imsg *,
		    struct wire_proc_ready *);
const char	*wire_decode_ctl_proc(const struct imsg *,
		    struct wire_ctl_proc *);
const char	*wire_decode_ctl_error(const struct imsg *,
		    struct wire_ctl_error *);

const char	*wire_decode_audit(const struct imsg *, struct wire_audit *);
/*
 * A JSON payload (runop request or result): size within cap, no
 * descriptor unless allow_fd, text without NUL.  The JSON itself is then
 * checked field by field by its own decoder (runop.c, runresult.c).
 */
const char	*wire_decode_json(const struct imsg *, size_t cap,
		    int allow_fd);

/* Copy src into a fixed wire field; -1 if it does not fit. */
int		 wire_strset(char *dst, size_t dstsize, const char *src);

#endif
