/*
 * audit.c: appending to and verifying the hash-chained audit log (format
 * in audit.h).  Records are written with one write(2) on an O_APPEND
 * descriptor and fsynced before audit_append returns, so a record the
 * caller was told about survives a crash.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "berth.h"
#include "log.h"

static const char	 audit_genesis[AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void
audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HASH_HEX + 1])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 digest[32];
	unsigned int		 digest_len = 0, i;

	if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1
	    || digest_len != sizeof(digest))
		fatalx("%s: SHA-256 failed", __func__);
	for (i = 0; i < sizeof(digest); i++) {
		out[i * 2] = hex[digest[i] >> 4];
		out[i * 2 + 1] = hex[digest[i] & 0xf];
	}
	out[AUDIT_HASH_HEX] = '\0';
}

/* The hash of a record: SHA-256(previous hash hex || json text). */
static void
audit_chain_hash(const char *prev, const char *json, size_t json_len,
    char out[AUDIT_HASH_HEX + 1])
{
	char	*buf;

	if ((buf = malloc(AUDIT_HASH_HEX + json_len)) == NULL)
		fatal("%s", __func__);
	memcpy(buf, prev, AUDIT_HASH_HEX);
	memcpy(buf + AUDIT_HASH_HEX, json, json_len);
	audit_sha256_hex(buf, AUDIT_HASH_HEX + json_len, out);
	free(buf);
}

static int
is_lower_hex(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

/*
 * Check one line (without its LF) against the previous hash.  NULL if it
 * holds, else why not.  On success *hash is the record's hash.
 */
static const char *
audit_check_line(const char *line, size_t len, const char *prev,
    uint64_t expect_seq, char hash[AUDIT_HASH_HEX + 1])
{
	json_t		*record, *seq;
	json_error_t	 error;
	const char	*json = line + AUDIT_HASH_HEX + 1;
	size_t		 json_len;

	if (len < AUDIT_HASH_HEX + 3 || line[AUDIT_HASH_HEX] != ' ' ||
	    !is_lower_hex(line, AUDIT_HASH_HEX))
		return "not a hash followed by a record";
	json_len = len - AUDIT_HASH_HEX - 1;
	audit_chain_hash(prev, json, json_len, hash);
	if (memcmp(hash, line, AUDIT_HASH_HEX) != 0)
		return "hash does not match the record and its predecessor";
	if ((record = json_loadb(json, json_len, JSON_REJECT_DUPLICATES,
	    &error)) == NULL)
		return "record is not valid JSON";
	seq = json_object_get(record, "seq");
	if (!json_is_integer(seq) ||
	    (uint64_t)json_integer_value(seq) != expect_seq) {
		json_decref(record);
		return "sequence number out of order";
	}
	json_decref(record);
	return NULL;
}

int
audit_verify_fd(int fd, struct audit_verify *result)
{
	char		 prev[AUDIT_HASH_HEX + 1], hash[AUDIT_HASH_HEX + 1];
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 len;
	const char	*why;
	FILE		*fp;
	int		 dupfd;

	memset(result, 0, sizeof(*result));
	memcpy(prev, audit_genesis, sizeof(prev));
	if ((dupfd = dup(fd)) == -1 || (fp = fdopen(dupfd, "r")) == NULL)
		return -1;
	while ((len = getline(&line, &cap, fp)) != -1) {
		if (len == 0 || line[len - 1] != '\n') {
			why = "record is not terminated (torn write)";
			goto broken;
		}
		line[--len] = '\0';
		if (len > AUDIT_LINE_MAX) {
			why = "record longer than the limit";
			goto broken;
		}
		if ((why = audit_check_line(line, len, prev,
		    result->records + 1, hash)) != NULL)
			goto broken;
		memcpy(prev, hash, sizeof(prev));
		result->records++;
	}
	free(line);
	fclose(fp);
	memcpy(result->head, prev, sizeof(result->head));
	return 0;
broken:
	result->broken_record = result->records + 1;
	(void)strlcpy(result->reason, why, sizeof(result->reason));
	memcpy(result->head, prev, sizeof(result->head));
	free(line);
	fclose(fp);
	return 1;
}

/* Cut a torn last line left by a crash mid-write. */
static int
audit_repair_tail(struct audit_log *log, const char *path)
{
	struct stat	 sb;
	off_t		 end;
	char		 c;

	if (fstat(log->fd, &sb) == -1)
		return -1;
	for (end = sb.st_size; end > 0; end--) {
		if (pread(log->fd, &c, 1, end - 1) != 1)
			return -1;
		if (c == '\n')
			break;
	}
	if (end == sb.st_size)
		return 0;
	log_warnx("%s: cutting a torn last record (%lld bytes) left by a "
	    "crash", path, (long long)(sb.st_size - end));
	return ftruncate(log->fd, end);
}

int
audit_open(struct audit_log *log, const char *path)
{
	struct audit_verify	 check;

	memset(log, 0, sizeof(*log));
	if ((log->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		log_warn("%s: open", path);
		return -1;
	}
	if (audit_repair_tail(log, path) == -1) {
		log_warn("%s: repair", path);
		goto fail;
	}
	if (lseek(log->fd, 0, SEEK_SET) == -1 ||
	    audit_verify_fd(log->fd, &check) == -1) {
		log_warn("%s: read", path);
		goto fail;
	}
	/*
	 * A broken chain stays broken for every later verify, which is the
	 * point; new records chain on from the last good one so the damage
	 * is not hidden by a restart.
	 */
	if (check.broken_record != 0)
		log_warnx("%s: audit chain broken at record %llu: %s", path,
		    (unsigned long long)check.broken_record, check.reason);
	log->records = check.records;
	memcpy(log->head, check.head, sizeof(log->head));
	return 0;
fail:
	close(log->fd);
	log->fd = -1;
	return -1;
}

static char *
audit_format(const struct audit_log *log, const struct audit_record *rec)
{
	char		 when[32];
	struct timespec	 now;
	struct tm	 tm;
	json_t		*obj;
	char		*json;

	(void)clock_gettime(CLOCK_REALTIME, &now);
	(void)gmtime_r(&now.tv_sec, &tm);
	(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	obj = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "seq", (json_int_t)(log->records + 1), "time", when,
	    "task", rec->task, "op", rec->operation, "object", rec->object,
	    "policy", rec->policy_hash, "request", rec->request_hash,
	    "result", rec->result);
	if (obj == NULL)
		return NULL;
	json = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII);
	json_decref(obj);
	return json;
}

int
audit_append(struct audit_log *log, const struct audit_record *rec)
{
	char	 hash[AUDIT_HASH_HEX + 1], *json, *line;
	size_t	 json_len, line_len;
	ssize_t	 written;
	off_t	 end;

	if ((json = audit_format(log, rec)) == NULL) {
		log_warnx("%s: cannot format record for %s", __func__,
		    rec->operation);
		return -1;
	}
	json_len = strlen(json);
	if (json_len + AUDIT_HASH_HEX + 1 > AUDIT_LINE_MAX) {
		log_warnx("%s: record for %s too long", __func__,
		    rec->operation);
		free(json);
		return -1;
	}
	audit_chain_hash(log->head, json, json_len, hash);
	line_len = AUDIT_HASH_HEX + 1 + json_len + 1;
	if ((line = malloc(line_len)) == NULL)
		fatal("%s", __func__);
	memcpy(line, hash, AUDIT_HASH_HEX);
	line[AUDIT_HASH_HEX] = ' ';
	memcpy(line + AUDIT_HASH_HEX + 1, json, json_len);
	line[line_len - 1] = '\n';
	free(json);
	if ((end = lseek(log->fd, 0, SEEK_END)) == -1) {
		free(line);
		log_warn("%s: lseek", __func__);
		return -1;
	}
	written = write(log->fd, line, line_len);
	free(line);
	if (written != (ssize_t)line_len || fsync(log->fd) == -1) {
		log_warn("%s: write", __func__);
		/* A full disk must not leave half a record before the next. */
		if (written > 0 && ftruncate(log->fd, end) == -1)
			log_warn("%s: ftruncate", __func__);
		return -1;
	}
	memcpy(log->head, hash, sizeof(log->head));
	log->records++;
	return 0;
}

void
audit_close(struct audit_log *log)
{
	if (log->fd != -1)
		close(log->fd);
	log->fd = -1;
}
