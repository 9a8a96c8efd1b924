/*
 * test_log.c -- unit tests for the logging module (src/log.c).
 *
 * stderr is redirected to a temporary file around each call so the lines
 * written can be read back and checked.
 */

#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

struct capture {
	int	 saved;		/* the real stderr */
	int	 fd;		/* the temporary file */
	char	 path[64];
};

static void
capture_start(struct capture *c)
{
	snprintf(c->path, sizeof(c->path), "/tmp/test_log.XXXXXX");
	c->fd = mkstemp(c->path);
	assert_true(c->fd != -1);
	unlink(c->path);
	c->saved = dup(STDERR_FILENO);
	assert_true(c->saved != -1);
	assert_true(dup2(c->fd, STDERR_FILENO) != -1);
}

/* Restore stderr; returns what was written (malloc'd, NUL-terminated). */
static char *
capture_end(struct capture *c, size_t *lenp)
{
	char	*buf;
	off_t	 len;
	ssize_t	 n;

	assert_true(dup2(c->saved, STDERR_FILENO) != -1);
	close(c->saved);
	len = lseek(c->fd, 0, SEEK_END);
	assert_true(len != -1);
	assert_non_null(buf = malloc((size_t)len + 1));
	n = pread(c->fd, buf, (size_t)len, 0);
	assert_int_equal(n, len);
	buf[len] = '\0';
	close(c->fd);
	if (lenp != NULL)
		*lenp = (size_t)len;
	return (buf);
}

/* Check "YYYY-MM-DDTHH:MM:SS.mmmZ " at s. */
static void
assert_timestamp(const char *s)
{
	static const char	 pat[] = "ts=dddd-dd-ddTdd:dd:dd.dddZ ";
	size_t			 i;

	for (i = 0; i < sizeof(pat) - 1; i++) {
		if (pat[i] == 'd')
			assert_true(isdigit((unsigned char)s[i]));
		else
			assert_int_equal(s[i], pat[i]);
	}
}

static int
setup(void **state)
{
	(void)state;
	cf_log_init(0, CF_LOG_INFO);
	cf_log_set_proc("master");
	return (0);
}

static void
test_level_names(void **state)
{
	(void)state;
	assert_int_equal(cf_log_level_parse("error"), CF_LOG_ERROR);
	assert_int_equal(cf_log_level_parse("warn"), CF_LOG_WARN);
	assert_int_equal(cf_log_level_parse("info"), CF_LOG_INFO);
	assert_int_equal(cf_log_level_parse("debug"), CF_LOG_DEBUG);
	assert_int_equal(cf_log_level_parse("warning"), -1);
	assert_int_equal(cf_log_level_parse("INFO"), -1);
	assert_int_equal(cf_log_level_parse(""), -1);
	assert_int_equal(cf_log_level_parse("info "), -1);
	assert_int_equal(cf_log_level_parse(NULL), -1);

	assert_string_equal(cf_log_level_name(CF_LOG_ERROR), "error");
	assert_string_equal(cf_log_level_name(CF_LOG_WARN), "warn");
	assert_string_equal(cf_log_level_name(CF_LOG_INFO), "info");
	assert_string_equal(cf_log_level_name(CF_LOG_DEBUG), "debug");
	assert_string_equal(cf_log_level_name((enum cf_log_level)42),
	    "unknown");
	assert_string_equal(cf_log_level_name((enum cf_log_level)-1),
	    "unknown");

	cf_log_set_level(CF_LOG_WARN);
	assert_int_equal(cf_log_get_level(), CF_LOG_WARN);
	cf_log_set_level((enum cf_log_level)99);
	assert_int_equal(cf_log_get_level(), CF_LOG_DEBUG);
	cf_log_set_level(CF_LOG_INFO);
}

static void
test_format(void **state)
{
	struct capture	 c;
	char		*out;
	size_t		 len;

	(void)state;
	capture_start(&c);
	cf_log(CF_LOG_INFO, "confabd started on %d", 3001);
	out = capture_end(&c, &len);
	assert_timestamp(out);
	assert_string_equal(out + 28, "level=info worker=master event=message "
	    "msg=\"confabd started on 3001\"\n");
	assert_int_equal(len, 28 + strlen("level=info worker=master "
	    "event=message msg=\"confabd started on 3001\"\n"));
	free(out);

	cf_log_set_proc("2");
	capture_start(&c);
	cf_log_warnx("slow client %s", "abc");
	cf_log_info("second");
	out = capture_end(&c, NULL);
	assert_timestamp(out);
	assert_non_null(strstr(out, "Z level=warn worker=2 event=message "
	    "msg=\"slow client abc\"\n"));
	assert_non_null(strstr(out, "Z level=info worker=2 event=message "
	    "msg=second\n"));
	free(out);
	cf_log_set_proc("master");
}

static void
test_filtering(void **state)
{
	struct capture	 c;
	char		*out;
	size_t		 len;

	(void)state;
	/* At info, debug is dropped. */
	capture_start(&c);
	cf_log_debug("hidden %d", 1);
	cf_log(CF_LOG_DEBUG, "hidden %d", 2);
	out = capture_end(&c, &len);
	assert_int_equal(len, 0);
	free(out);

	/* At warn, info is dropped but warn and error pass. */
	cf_log_set_level(CF_LOG_WARN);
	capture_start(&c);
	cf_log_info("hidden");
	cf_log(CF_LOG_WARN, "shown warn");
	cf_log(CF_LOG_ERROR, "shown error");
	out = capture_end(&c, NULL);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "level=warn worker=master event=message "
	    "msg=\"shown warn\"\n"));
	assert_non_null(strstr(out, "level=error worker=master event=message "
	    "msg=\"shown error\"\n"));
	free(out);

	/* At error, only errors. */
	cf_log_set_level(CF_LOG_ERROR);
	capture_start(&c);
	cf_log_warnx("hidden");
	cf_log(CF_LOG_ERROR, "only");
	out = capture_end(&c, NULL);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, " level=error worker=master event=message "
	    "msg=only\n"));
	free(out);

	/* At debug, everything. */
	cf_log_set_level(CF_LOG_DEBUG);
	capture_start(&c);
	cf_log_debug("dbg %s", "x");
	out = capture_end(&c, NULL);
	assert_non_null(strstr(out, " level=debug worker=master event=message "
	    "msg=\"dbg x\"\n"));
	free(out);
	cf_log_set_level(CF_LOG_INFO);
}

static void
test_errno(void **state)
{
	struct capture	 c;
	char		*out;

	(void)state;
	capture_start(&c);
	errno = ENOENT;
	cf_log_warn("open %s", "/nope");
	/* Logging leaves errno alone. */
	assert_int_equal(errno, ENOENT);
	errno = EACCES;
	cf_log_warnx("no errno here");
	out = capture_end(&c, NULL);
	assert_non_null(strstr(out, "level=warn worker=master event=message "
	    "msg=\"open /nope: No such file or directory\"\n"));
	assert_non_null(strstr(out, "level=warn worker=master event=message "
	    "msg=\"no errno here\"\n"));
	assert_null(strstr(out, "Permission denied"));
	free(out);
}

static void
test_long_and_control(void **state)
{
	struct capture	 c;
	char		*out, *big;
	size_t		 len;

	(void)state;
	assert_non_null(big = malloc(10000));
	memset(big, 'a', 9999);
	big[9999] = '\0';
	capture_start(&c);
	cf_log_info("%s", big);
	cf_log_info("line\nforged 0000-00-00T00:00:00.000Z error master: x\r");
	out = capture_end(&c, &len);
	/* The long message became one line of at most 4096 bytes. */
	assert_true(strchr(out, '\n') != NULL);
	assert_true((size_t)(strchr(out, '\n') - out) + 1 <= 4096);
	assert_true((size_t)(strchr(out, '\n') - out) + 1 >= 4000);
	/* The newline inside a message does not start a new line. */
	assert_non_null(strstr(out, "level=info worker=master event=message "
	    "msg=\"line?forged 0000"));
	assert_non_null(strstr(out, "error master: x?\"\n"));
	assert_int_equal(out[len - 1], '\n');
	{
		size_t	 i, lines = 0;

		for (i = 0; i < len; i++)
			lines += out[i] == '\n';
		assert_int_equal(lines, 2);
	}
	free(out);
	free(big);
}

/* Errors pass whatever the level. */
static void
test_error_level(void **state)
{
	struct capture	 c;
	char		*out;

	(void)state;
	cf_log_set_level(CF_LOG_ERROR);
	capture_start(&c);
	cf_log_info("hidden");
	cf_log(CF_LOG_ERROR, "bad config");
	out = capture_end(&c, NULL);
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "level=error worker=master event=message "
	    "msg=\"bad config\"\n"));
	free(out);
	cf_log_set_level(CF_LOG_INFO);
}

static void
test_syslog_mode(void **state)
{
	struct capture	 c;
	char		*out;
	size_t		 len;

	(void)state;
	/* In syslog mode nothing goes to stderr. */
	cf_log_init(1, CF_LOG_ERROR);
	capture_start(&c);
	cf_log_info("filtered out before syslog");
	out = capture_end(&c, &len);
	assert_int_equal(len, 0);
	free(out);
	cf_log_init(0, CF_LOG_INFO);
	assert_int_equal(cf_log_get_level(), CF_LOG_INFO);

	/* Proc names are truncated, not overflowed; NULL resets. */
	cf_log_set_proc("a-very-long-process-name-that-goes-on-and-on-and-on-"
	    "and-on-past-sixty-four-bytes");
	capture_start(&c);
	cf_log_info("x");
	out = capture_end(&c, NULL);
	assert_non_null(strstr(out, " level=info worker=a-very-long-process-"
	    "name-that-goes-on-and-on-and-on-and-on-past event=message msg=x\n"));
	free(out);
	cf_log_set_proc(NULL);
	capture_start(&c);
	cf_log_info("y");
	out = capture_end(&c, NULL);
	assert_non_null(strstr(out, " level=info worker=confabd event=message "
	    "msg=y\n"));
	free(out);
	cf_log_set_proc("master");
}

static void
test_events_and_quoting(void **state)
{
	struct capture	 c;
	char		*out;

	(void)state;
	capture_start(&c);
	cf_log_ev(CF_LOG_INFO, "ready", "pid=%d", 42);
	cf_log_ev(CF_LOG_WARN, "stopped", "%s", "");
	cf_log_info("a \"quoted\" back\\slash a=b");
	cf_log_info("%s", "");
	out = capture_end(&c, NULL);
	assert_non_null(strstr(out, " level=info worker=master event=ready "
	    "pid=42\n"));
	assert_non_null(strstr(out, " level=warn worker=master "
	    "event=stopped\n"));
	assert_non_null(strstr(out, " msg=\"a \\\"quoted\\\" "
	    "back\\\\slash a=b\"\n"));
	assert_non_null(strstr(out, " event=message msg=\"\"\n"));
	free(out);
}

/* cf_log_value: a value for cf_log_ev, quoted when it needs it. */
static void
test_log_value(void **state)
{
	char	 b[16];

	(void)state;
	cf_log_value(b, sizeof(b), "user-42");
	assert_string_equal(b, "user-42");
	cf_log_value(b, sizeof(b), "a b=\"c\"");
	assert_string_equal(b, "\"a b=\\\"c\\\"\"");
	cf_log_value(b, sizeof(b), "");
	assert_string_equal(b, "\"\"");
	/* Truncated, still one closed value within the buffer. */
	cf_log_value(b, sizeof(b), "0123456789 0123456789");
	assert_true(strlen(b) < sizeof(b));
	assert_int_equal(b[0], '"');
	assert_int_equal(b[strlen(b) - 1], '"');
}

static void
test_log_file_reopen(void **state)
{
	char	 dir[] = "/tmp/cf-test-log-XXXXXX", path[64], moved[64];
	char	 buf[1024];
	ssize_t	 n;
	int	 fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/confabd.log", dir);
	snprintf(moved, sizeof(moved), "%s/confabd.log.1", dir);
	/* Reopening without a log file is a no-op. */
	assert_null(cf_log_file());
	assert_int_equal(cf_log_reopen(), 0);
	/* A file that cannot be created changes nothing. */
	assert_int_equal(cf_log_set_file("/nonexistent/dir/x.log"), -1);
	assert_null(cf_log_file());
	assert_int_equal(cf_log_set_file(path), 0);
	assert_string_equal(cf_log_file(), path);
	cf_log_info("before rotation");
	assert_int_equal(rename(path, moved), 0);
	cf_log_info("still the old file");
	assert_int_equal(cf_log_reopen(), 0);
	cf_log_info("after rotation");
	assert_int_equal(cf_log_set_file(NULL), 0);
	assert_null(cf_log_file());

	assert_true((fd = open(moved, O_RDONLY)) != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "msg=\"before rotation\"\n"));
	assert_non_null(strstr(buf, "msg=\"still the old file\"\n"));
	assert_null(strstr(buf, "after rotation"));
	assert_true((fd = open(path, O_RDONLY)) != -1);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf + 28, "level=info worker=master event=message "
	    "msg=\"after rotation\"\n");
	unlink(path);
	unlink(moved);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_level_names, setup),
		cmocka_unit_test_setup(test_format, setup),
		cmocka_unit_test_setup(test_filtering, setup),
		cmocka_unit_test_setup(test_errno, setup),
		cmocka_unit_test_setup(test_long_and_control, setup),
		cmocka_unit_test_setup(test_error_level, setup),
		cmocka_unit_test_setup(test_syslog_mode, setup),
		cmocka_unit_test_setup(test_events_and_quoting, setup),
		cmocka_unit_test_setup(test_log_value, setup),
		cmocka_unit_test_setup(test_log_file_reopen, setup),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
