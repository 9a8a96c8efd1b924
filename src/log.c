/*
 * log.c -- the one logging API of every confabd process.
 *
 * Each message becomes one logfmt line (key=value pairs; a value with a
 * space, '"', '=' or '\\', or an empty one, is double-quoted with '"' and
 * '\\' escaped):
 *
 *	ts=2026-11-26T20:12:18.123Z level=info worker=master event=started workers=2
 *	ts=2026-11-26T20:12:18.125Z level=warn worker=1 event=message msg="slow client"
 *
 * cf_log_ev() names the event and formats its own key=value pairs; every
 * other call is event=message with the text in msg.  The line is built in a
 * stack buffer and written with a single write(2), so lines from the master
 * and its workers, which share stderr or the log file (O_APPEND), do not
 * interleave (a write of at most PIPE_BUF bytes to a pipe is atomic).
 * Destinations: stderr, a log file (log-file, reopened by cf_log_reopen()
 * on SIGUSR1), or syslog(3) once daemonised without a log file; syslog
 * adds its own time and level, so those lines start at worker=.
 */

#include <errno.h>
#include <fcntl.h>
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
static int		 log_fd = STDERR_FILENO;
static char		*log_path;	/* the log file, or NULL */
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
	if (log_path != NULL)
		to_syslog = 0;	/* the log file wins */
	if (to_syslog && !log_to_syslog)
		openlog("confabd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!to_syslog && log_to_syslog)
		closelog();
	log_to_syslog = to_syslog ? 1 : 0;
	cf_log_set_level(level);
}

/*
 * Open (create, mode 0640, O_APPEND) path as the destination of every
 * later line, instead of stderr or syslog; path is copied.  NULL goes back
 * to stderr.  0, or -1 with errno set and the destination unchanged.
 */
int
cf_log_set_file(const char *path)
{
	char	*copy = NULL;
	int	 fd = STDERR_FILENO;

	if (path != NULL) {
		if ((copy = strdup(path)) == NULL)
			return (-1);
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		    0640);
		if (fd == -1) {
			free(copy);
			return (-1);
		}
	}
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	free(log_path);
	log_fd = fd;
	log_path = copy;
	if (log_path != NULL && log_to_syslog) {
		closelog();
		log_to_syslog = 0;
	}
	return (0);
}

/*
 * Open the log file anew (after it was renamed by log rotation).  A no-op
 * returning 0 without a log file; -1 (errno set) when the new file cannot be
 * opened, in which case the old descriptor stays in use.
 */
int
cf_log_reopen(void)
{
	char	*path;
	int	 rc;

	if (log_path == NULL)
		return (0);
	if ((path = strdup(log_path)) == NULL)
		return (-1);
	rc = cf_log_set_file(path);
	free(path);
	return (rc);
}

/* The log file path (static storage), or NULL when there is none. */
const char *
cf_log_file(void)
{
	return (log_path);
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
	return (log_level);
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
		return (-1);
	for (i = 0; i < LOG_NLEVELS; i++)
		if (strcmp(s, log_names[i]) == 0)
			return (i);
	return (-1);
}

/* The name of a level, or "unknown" when out of range.  Static storage. */
const char *
cf_log_level_name(enum cf_log_level level)
{
	if ((int)level < 0 || (int)level >= LOG_NLEVELS)
		return ("unknown");
	return (log_names[level]);
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
		n = write(log_fd, buf, len);
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
 * Append s to buf at *len as a logfmt value: bare when it has no space,
 * '"', '=' or '\\' and is not empty, else quoted with '"' and '\\'
 * escaped.  Truncates at cap - 1 bytes (room for the newline).
 */
static void
log_value(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t	 o = *len, lim;
	int	 quote = s[0] == '\0' || strpbrk(s, " \"=\\") != NULL;

	/* Keep room for the closing quote and the newline. */
	lim = cap - 1 - (quote ? 1 : 0);
	if (quote && o < lim)
		buf[o++] = '"';
	for (; *s != '\0' && o < lim; s++) {
		if (quote && (*s == '"' || *s == '\\')) {
			if (o + 2 > lim)
				break;
			buf[o++] = '\\';
		}
		buf[o++] = *s;
	}
	if (quote && o < cap - 1)
		buf[o++] = '"';
	*len = o;
}

void
cf_log_value(char *buf, size_t cap, const char *s)
{
	size_t	 len = 0;

	if (cap < 4) {
		if (cap > 0)
			buf[0] = '\0';
		return;
	}
	log_value(buf, cap, &len, s);
	buf[len] = '\0';
}

/* Append the literal text s (already logfmt) to buf at *len, truncating. */
static void
log_raw(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t	 n = strlen(s);

	if (*len >= cap - 1)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
}

/*
 * Format and emit one line.  event names the event; with kv set, fmt/ap
 * format its key=value pairs verbatim, else they format the free text of
 * msg.  err is an errno value to append to msg as ": strerror(err)", or -1
 * for none.  errno is preserved.
 */
static void
log_line(enum cf_log_level level, const char *event, int kv, int err,
    const char *fmt, va_list ap)
{
	char		 buf[LOG_LINEMAX];
	char		 msg[LOG_LINEMAX];
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 len = 0, mlen, start;
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
	msg[mlen] = '\0';

	if (!log_to_syslog) {
		if (clock_gettime(CLOCK_REALTIME, &ts) == -1) {
			ts.tv_sec = 0;
			ts.tv_nsec = 0;
		}
		if (gmtime_r(&ts.tv_sec, &tm) == NULL)
			memset(&tm, 0, sizeof(tm));
		len = strftime(buf, sizeof(buf), "ts=%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(buf + len, sizeof(buf) - len, ".%03ldZ level=%s ",
		    (long)(ts.tv_nsec / 1000000), log_names[level]);
		len += n > 0 ? (size_t)n : 0;
	}
	start = len;
	log_raw(buf, sizeof(buf), &len, "worker=");
	log_value(buf, sizeof(buf), &len, log_proc);
	log_raw(buf, sizeof(buf), &len, " event=");
	log_value(buf, sizeof(buf), &len, event);
	if (kv) {
		if (msg[0] != '\0') {
			log_raw(buf, sizeof(buf), &len, " ");
			log_raw(buf, sizeof(buf), &len, msg);
		}
	} else {
		log_raw(buf, sizeof(buf), &len, " msg=");
		log_value(buf, sizeof(buf), &len, msg);
	}
	if (log_to_syslog) {
		buf[len] = '\0';
		syslog(log_prio[level], "%s", buf + start);
		errno = saved;
		return;
	}
	buf[len++] = '\n';
	log_write(buf, len);
	errno = saved;
}

static void
log_emit(enum cf_log_level level, int err, const char *fmt, va_list ap)
{
	log_line(level, "message", 0, err, fmt, ap);
}

void
cf_log_ev(enum cf_log_level level, const char *event, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_line(level, event, 1, -1, fmt, ap);
	va_end(ap);
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
