/*
 * log.c: the logging every berth process uses.  Lines go to syslog, or to
 * stderr when running in the foreground; each starts with the process
 * name so a reader of a mixed log knows which process spoke.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_foreground = 1;
static int	 log_verbose;
static const char *log_procname = "parent";

void
log_init(int foreground, int verbose, int facility)
{
	log_foreground = foreground;
	log_verbose = verbose;
	if (!log_foreground)
		openlog("berthd", LOG_PID | LOG_NDELAY, facility);
	tzset();
}

void
log_procinit(const char *procname)
{
	if (procname != NULL)
		log_procname = procname;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

int
log_getforeground(void)
{
	return log_foreground;
}

static void
log_emit(int priority, const char *line)
{
	if (log_foreground)
		dprintf(STDERR_FILENO, "%s: %s\n", log_procname, line);
	else
		syslog(priority, "%s: %s", log_procname, line);
}

void
vlog(int priority, const char *fmt, va_list ap)
{
	char	 line[2048];
	int	 saved_errno = errno;

	(void)vsnprintf(line, sizeof(line), fmt, ap);
	log_emit(priority, line);
	errno = saved_errno;
}

static void	 vlog_errno(int, const char *, va_list)
		    __attribute__((__format__(printf, 2, 0)));

/* Log fmt followed by ": strerror(errno)", as warn(3) does. */
static void
vlog_errno(int priority, const char *fmt, va_list ap)
{
	char	 head[1536], line[2048];
	int	 saved_errno = errno;

	if (fmt == NULL)
		(void)snprintf(line, sizeof(line), "%s", strerror(saved_errno));
	else {
		(void)vsnprintf(head, sizeof(head), fmt, ap);
		(void)snprintf(line, sizeof(line), "%s: %s", head,
		    strerror(saved_errno));
	}
	log_emit(priority, line);
	errno = saved_errno;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < LOG_LEVEL_INFO)
		return;
	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_verbose < LOG_LEVEL_DEBUG)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
