/*
 * log.c -- the one logging API of every confabd process.
 *
 * In the foreground each message becomes one line on stderr:
 *
 *	2026-11-26T20:12:18.123Z info master: confabd started
 *
 * The line is built in a stack buffer and written with a single write(2),
 * so lines from the master and its workers, which share stderr, do not
 * interleave (a write of at most PIPE_BUF bytes to a pipe is atomic).
 * Once daemonised, messages go to syslog(3) instead.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINEMAX	4096	/* one line, newline included; == PIPE_BUF */
#define LOG_PROCMAX	64

static int		 log_to_syslog;
static enum cf_log_level log_level = CF_LOG_INFO;
static char		 log_proc[LOG_PROCMAX] = "confabd";

static const char *const log_names[] = {
	[CF_LOG_ERROR] = "error",
	[CF_LOG_WARN] = "warn",
	[CF_LOG_INFO] = "info",
	[CF_LOG_DEBUG] = "debug",
};

static const int log_prio[] = {
	[CF_LOG_ERROR] = LOG_ERR,
	[CF_LOG_WARN] = LOG_WARNING,
	[CF_LOG_INFO] = LOG_INFO,
	[CF_LOG_DEBUG] = LOG_DEBUG,
};

#define LOG_NLEVELS	((int)(sizeof(log_names) / sizeof(log_names[0])))

/*
 * Select the destination and the level.  Switching to syslog opens the
 * connection now (LOG_NDELAY) so that it survives a later chroot or fd
 * cleanup; switching back closes it.
 */
void
cf_log_init(int to_syslog, enum cf_log_level level)
{
	if (to_syslog && !log_to_syslog)
		openlog("confabd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!to_syslog && log_to_syslog)
		closelog();
	log_to_syslog = to_syslog ? 1 : 0;
	cf_log_set_level(level);
}

/* Messages with a level above `level` are dropped. Out of range is clamped. */
void
cf_log_set_level(enum cf_log_level level)
{
	if ((int)level < CF_LOG_ERROR)
		level = CF_LOG_ERROR;
	if ((int)level > CF_LOG_DEBUG)
		level = CF_LOG_DEBUG;
	log_level = level;
}

enum cf_log_level
cf_log_get_level(void)
{
	return log_level;
}

/* Copy `name` (truncated to 63 bytes) as the tag of every line; NULL resets. */
void
cf_log_set_proc(const char *name)
{
	if (name == NULL)
		name = "confabd";
	snprintf(log_proc, sizeof(log_proc), "%s", name);
}

/* "error", "warn", "info" or "debug" (exact, lower case) -> level, else -1. */
int
cf_log_level_parse(const char *s)
{
	int	 i;

	if (s == NULL)
		return -1;
	for (i = 0; i < LOG_NLEVELS; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

/* The name of a level, or "unknown" when out of range.  Static storage. */
const char *
cf_log_level_name(enum cf_log_level level)
{
	if ((int)level < 0 || (int)level >= LOG_NLEVELS)
		return "unknown";
	return log_names[level];
}

/*
 * Replace control characters in s[0..len) by '?', so that a message
 * carrying client data cannot forge extra log lines.
 */
static void
log_sanitize(char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = s[i] == '\t' ? ' ' : '?';
}

/* Write all of buf to stderr, retrying on EINTR; errors are ignored. */
static void
log_write(const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(STDERR_FILENO, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * Format and emit one message.  err is an errno value to append as
 * ": strerror(err)", or -1 for none.  errno is preserved.
 */
static void
log_emit(enum cf_log_level level, int err, const char *fmt, va_list ap)
{
	char		 buf[LOG_LINEMAX];
	char		 msg[LOG_LINEMAX];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len, mlen;
	int		 n, saved = errno;

	if ((int)level > (int)log_level)
		return;
	if ((int)level < 0)
		level = CF_LOG_ERROR;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = snprintf(msg, sizeof(msg), "(bad log format)");
	mlen = (size_t)n >= sizeof(msg) ? sizeof(msg) - 1 : (size_t)n;
	if (err != -1 && mlen < sizeof(msg) - 1) {
		n = snprintf(msg + mlen, sizeof(msg) - mlen, ": %s",
		    strerror(err));
		if (n > 0)
			mlen += (size_t)n;
		if (mlen >= sizeof(msg))
			mlen = sizeof(msg) - 1;
	}
	log_sanitize(msg, mlen);

	if (log_to_syslog) {
		syslog(log_prio[level], "%s: %s", log_proc, msg);
		errno = saved;
		return;
	}

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
		ts.tv_sec = 0;
		ts.tv_nsec = 0;
	}
	if (gmtime_r(&ts.tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	len = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(buf + len, sizeof(buf) - len, ".%03ldZ %s %s: %s",
	    (long)(ts.tv_nsec / 1000000), log_names[level], log_proc, msg);
	if (n < 0)
		n = 0;
	len += (size_t)n;
	/* Truncate to leave room for the newline. */
	if (len > sizeof(buf) - 1)
		len = sizeof(buf) - 1;
	buf[len++] = '\n';
	log_write(buf, len);
	errno = saved;
}

void
cf_vlog(enum cf_log_level level, const char *fmt, va_list ap)
{
	log_emit(level, -1, fmt, ap);
}

void
cf_log(enum cf_log_level level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(level, -1, fmt, ap);
	va_end(ap);
}

/* Warn level, with ": strerror(errno)" appended. */
void
cf_log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 err = errno;

	va_start(ap, fmt);
	log_emit(CF_LOG_WARN, err, fmt, ap);
	va_end(ap);
}

void
cf_log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(CF_LOG_WARN, -1, fmt, ap);
	va_end(ap);
}

void
cf_log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(CF_LOG_INFO, -1, fmt, ap);
	va_end(ap);
}

void
cf_log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < CF_LOG_DEBUG)
		return;
	va_start(ap, fmt);
	log_emit(CF_LOG_DEBUG, -1, fmt, ap);
	va_end(ap);
}

/* Error level with ": strerror(errno)", then exit(1). */
void
cf_fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 err = errno;

	va_start(ap, fmt);
	log_emit(CF_LOG_ERROR, err, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Error level, then exit(1). */
void
cf_fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(CF_LOG_ERROR, -1, fmt, ap);
	va_end(ap);
	exit(1);
}
