/*
 * statefile.h: how the parent writes what must survive a crash in its
 * state directory: write a temporary file, fsync it, rename it over the
 * old one, fsync the directory.  A reader sees the old file or the new
 * one, never a torn mix, and once the call returns the change is on disk.
 */
#ifndef BERTH_STATEFILE_H
#define BERTH_STATEFILE_H

#include <stddef.h>

/* dir/name gets buf, mode 0600.  0 or -1 (logged). */
int	 statefile_write(const char *dir, const char *name, const void *buf,
	    size_t len);
/* fsync a directory, so that a create, rename or unlink in it sticks. */
int	 statefile_sync_dir(const char *dir);
/* Read at most max bytes of path into a NUL-terminated buffer; 0 or -1. */
int	 statefile_read(const char *path, size_t max, char **buf,
	    size_t *len);
/* mkdir 0700 if missing; -1 if it is not a directory (logged). */
int	 statefile_mkdir(const char *path);

#endif
