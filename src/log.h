/*
 * log.h -- the one logging API of every confabd process.
 *
 * Lines are logfmt ("ts=... level=info worker=2 event=ready pid=123"; see
 * log.c).  They go to stderr while in the foreground, to syslog(3) once
 * daemonised, or to the log-file when one is set.  Each line names the
 * process (worker=master, worker=2) so interleaved output from several
 * processes stays readable.  Never log a token or a secret.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum cf_log_level {
	CF_LOG_ERROR = 0,
	CF_LOG_WARN,
	CF_LOG_INFO,
	CF_LOG_DEBUG
};

/* to_syslog: 0 = stderr, 1 = syslog (ident "confabd", facility daemon). */
void	 cf_log_init(int to_syslog, enum cf_log_level level);
void	 cf_log_set_level(enum cf_log_level level);
enum cf_log_level cf_log_get_level(void);
/* Log to this file (copied) from now on; NULL: back to stderr.  0 or -1. */
int	 cf_log_set_file(const char *path);
/* Reopen the log file (SIGUSR1, log rotation); 0 without one.  0 or -1. */
int	 cf_log_reopen(void);
/* The log file's path, or NULL. */
const char *cf_log_file(void);
/* Value of the worker= key of every line ("master", "2"), copied. */
void	 cf_log_set_proc(const char *name);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int	 cf_log_level_parse(const char *s);
const char *cf_log_level_name(enum cf_log_level level);

void	 cf_log(enum cf_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/*
 * An event line: "event=<event>" then fmt, which formats the event's own
 * key=value pairs, emitted verbatim: only for values that need no quoting
 * (numbers, identifiers).
 */
void	 cf_log_ev(enum cf_log_level level, const char *event,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/*
 * s as a logfmt value for cf_log_ev (quoted and escaped when it needs it),
 * NUL-terminated in buf, truncated to fit cap bytes.
 */
void	 cf_log_value(char *buf, size_t cap, const char *s);
/* cf_log_warn appends ": strerror(errno)"; cf_log_warnx does not. */
void	 cf_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
