/*
 * log.h -- the one logging API of every confabd process.
 *
 * Lines go to stderr while in the foreground, to syslog(3) once daemonised.
 * Each line names the process ("master", "worker 2") so interleaved output
 * from several processes stays readable.  Never log a token or a secret.
 */
#ifndef CF_LOG_H
#define CF_LOG_H

#include <stdarg.h>

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
/* Process tag printed on every line, copied. */
void	 cf_log_set_proc(const char *name);
/* Parse "error|warn|info|debug"; -1 when unknown. */
int	 cf_log_level_parse(const char *s);
const char *cf_log_level_name(enum cf_log_level level);

void	 cf_log(enum cf_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 cf_vlog(enum cf_log_level level, const char *fmt, va_list ap);
/* cf_log_warn/cf_log_err append ": strerror(errno)". */
void	 cf_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	 cf_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log at error level (with strerror for cf_fatal) and exit(1). */
void	 cf_fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	 cf_fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
