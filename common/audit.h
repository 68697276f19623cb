/*
 * audit.h: the hash-chained audit log.  Each record is one line
 *
 *	<sha256 hex> SP <json object> LF
 *
 * where the hash is SHA-256 over the previous record's hash (64 hex
 * digits; 64 zeros for the first record) followed by the JSON text.  A
 * changed byte anywhere in a record breaks that record's own hash, so
 * verification names the record that was altered, not its successor.
 * The parent appends (and fsyncs); berthctl verifies the file directly,
 * which works while berthd is down.
 */
#ifndef BERTH_AUDIT_H
#define BERTH_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_HEX		64
#define AUDIT_LINE_MAX		8192

struct audit_record {
	const char	*task;		/* task id, "" for none */
	const char	*operation;	/* e.g. "container.create" */
	const char	*object;	/* container/image id or name */
	const char	*policy_hash;	/* hex, "" when not applicable */
	const char	*request_hash;	/* SHA-256 hex of the request body */
	const char	*result;	/* "ok", "refused: ...", "error: ..." */
};

struct audit_log {
	int		 fd;
	uint64_t	 records;
	char		 head[AUDIT_HASH_HEX + 1];
};

struct audit_verify {
	uint64_t	 records;	/* records that verified */
	uint64_t	 broken_record;	/* 1-based; 0 if the chain is whole */
	char		 reason[128];
	char		 head[AUDIT_HASH_HEX + 1];
};

/*
 * Open (creating 0600) and find the chain head.  A torn last line, left
 * by a crash in the middle of a write, is cut off with a warning.
 * 0 or -1 (logged).
 */
int	 audit_open(struct audit_log *, const char *path);
/* Append one record and fsync it.  0 or -1 (logged). */
int	 audit_append(struct audit_log *, const struct audit_record *);
void	 audit_close(struct audit_log *);
/* Check a whole log read from fd.  0 whole, 1 broken (see result), -1 I/O. */
int	 audit_verify_fd(int fd, struct audit_verify *);
/* SHA-256 of a buffer, as lowercase hex. */
void	 audit_sha256_hex(const void *, size_t, char out[AUDIT_HASH_HEX + 1]);

#endif
