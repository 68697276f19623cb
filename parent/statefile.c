/*
 * statefile.c: crash-safe writes in the parent's state directory (see
 * statefile.h).  Used for the node identity, the task journal and the
 * event spool's compaction.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "statefile.h"

static int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
statefile_sync_dir(const char *dir)
{
	int	 fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("%s: open %s", __func__, dir);
		return -1;
	}
	if ((rc = fsync(fd)) == -1)
		log_warn("%s: fsync %s", __func__, dir);
	close(fd);
	return rc;
}

int
statefile_write(const char *dir, const char *name, const void *buf,
    size_t len)
{
	char	 tmp[512], path[512];
	int	 fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >=
	    sizeof(tmp) || (size_t)snprintf(path, sizeof(path), "%s/%s", dir,
	    name) >= sizeof(path)) {
		log_warnx("%s: path too long: %s/%s", __func__, dir, name);
		return -1;
	}
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		log_warn("%s: %s", __func__, tmp);
		return -1;
	}
	if (write_all(fd, buf, len) == -1 || fsync(fd) == -1) {
		log_warn("%s: %s", __func__, tmp);
		close(fd);
		(void)unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		log_warn("%s: rename to %s", __func__, path);
		(void)unlink(tmp);
		return -1;
	}
	return statefile_sync_dir(dir);
}

int
statefile_read(const char *path, size_t max, char **buf, size_t *len)
{
	struct stat	 sb;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	*buf = NULL;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	if ((*buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return -1;
	}
	while (got < (size_t)sb.st_size) {
		if ((n = read(fd, *buf + got, (size_t)sb.st_size - got)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	(*buf)[got] = '\0';
	*len = got;
	return 0;
}

int
statefile_mkdir(const char *path)
{
	struct stat	 sb;

	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", path);
		return -1;
	}
	if (lstat(path, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		log_warnx("%s is not a directory", path);
		return -1;
	}
	return 0;
}
