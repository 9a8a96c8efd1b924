/*
 * test_conf.c -- unit tests for the configuration parser (src/conf/).
 *
 * Fixtures live in tests/conf/ under the source tree, found through the
 * environment variable CF_TEST_SRCDIR (default ".").
 */

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "log.h"
#include "perm.h"

static char	 errbuf[CF_CONF_ERRLEN];

/* The default permissions of agent and user. */
#define MEMBER_PERMS	(CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES | \
	    CF_PERM_CALL_AUDIO | CF_PERM_CALL_VIDEO | CF_PERM_CALL_VIEW_HISTORY)

#define WANTLEN	(2 * PATH_MAX + CF_CONF_ERRLEN)

/*
 * Path of a fixture: $CF_TEST_SRCDIR/tests/conf/name.  Static storage,
 * rotating among four buffers so that one call may use two results.
 */
static const char *
fixture(const char *name)
{
	static char	 buf[4][PATH_MAX];
	static int	 next;
	const char	*src = getenv("CF_TEST_SRCDIR");
	char		*b = buf[next++ % 4];

	if (src == NULL || *src == '\0')
		src = ".";
	snprintf(b, PATH_MAX, "%s/tests/conf/%s", src, name);
	return (b);
}

/* Load a string that must parse; fails the test otherwise. */
static struct cf_conf *
load_ok(const char *text)
{
	struct cf_conf	*c;

	errbuf[0] = '\0';
	c = cf_conf_load_string(text, "t.conf", errbuf, sizeof(errbuf));
	if (c == NULL)
		fail_msg("unexpected error for \"%s\": %s", text, errbuf);
	return (c);
}

/* Load a string that must fail with exactly `msg`. */
static void
load_err(const char *text, const char *msg)
{
	struct cf_conf	*c;

	errbuf[0] = '\0';
	c = cf_conf_load_string(text, "t.conf", errbuf, sizeof(errbuf));
	if (c != NULL) {
		cf_conf_free(c);
		fail_msg("\"%s\" was accepted, expected: %s", text, msg);
	}
	assert_string_equal(errbuf, msg);
}

/* Load a fixture that must fail with "<path><suffix>". */
static void
file_err(const char *name, const char *suffix)
{
	struct cf_conf	*c;
	char		 path[PATH_MAX], want[WANTLEN];

	snprintf(path, sizeof(path), "%s", fixture(name));
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	errbuf[0] = '\0';
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	if (c != NULL) {
		cf_conf_free(c);
		fail_msg("%s was accepted", path);
	}
	assert_string_equal(errbuf, want);
}

static char *
cwd_join(const char *rel)
{
	char	 cwd[PATH_MAX];
	char	*s;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_true(asprintf(&s, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd,
	    rel) > 0);
	return (s);
}

static int
listen_port(const struct cf_listen *l)
{
	if (l->addr.ss_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)&l->addr)->sin_port));
	return (ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port));
}

static void
test_defaults(void **state)
{
	struct cf_conf	*c, *e;
	const struct sockaddr_in6 *sin6;
	char		*dd, *db;
	long		 ncpu;

	(void)state;
	c = cf_conf_defaults(errbuf, sizeof(errbuf));
	assert_non_null(c);
	assert_null(c->path);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].text, "*:3001");
	assert_int_equal(c->listen[0].any, 1);
	assert_int_equal(c->listen[0].v6only, 0);
	assert_int_equal(c->listen[0].addr.ss_family, AF_INET6);
	assert_int_equal(c->listen[0].addrlen, sizeof(struct sockaddr_in6));
	sin6 = (const struct sockaddr_in6 *)&c->listen[0].addr;
	assert_memory_equal(&sin6->sin6_addr, &in6addr_any,
	    sizeof(in6addr_any));
	assert_int_equal(listen_port(&c->listen[0]), 3001);

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 64)
		ncpu = 64;
	assert_int_equal(c->workers, ncpu);

	dd = cwd_join("confab-data");
	assert_string_equal(c->data_dir, dd);
	assert_true(asprintf(&db, "%s/confab.db", dd) > 0);
	assert_string_equal(c->database, db);
	free(dd);
	free(db);

	assert_null(c->redis);
	assert_null(c->redis_host);
	assert_int_equal(c->ncors_origins, 1);
	assert_string_equal(c->cors_origins[0], "http://localhost");
	assert_int_equal(c->log_level, CF_LOG_INFO);
	assert_null(c->pidfile);
	assert_int_equal(c->ping_interval_ms, 25000);
	assert_int_equal(c->ping_timeout_ms, 20000);
	assert_int_equal(c->connect_timeout_ms, 45000);
	assert_int_equal(c->upgrade_timeout_ms, 10000);
	assert_int_equal(c->shutdown_timeout_ms, 10000);
	assert_int_equal(c->max_payload, 1000000);
	assert_int_equal(c->max_output_buffer, 1024 * 1024);
	assert_int_equal(c->presence_slots, 65536);
	assert_int_equal(c->presence_broadcast, 1);
	assert_string_equal(c->presence_scope, "all");
	assert_int_equal(c->presence_coalesce_ms, 1000);
	assert_int_equal(c->debug_events, 0);
	assert_null(c->jwt_secret);
	assert_string_equal(c->jwt_algorithm, "HS256");
	assert_string_equal(c->sqlite_synchronous, "full");
	assert_null(c->jwt_public_key);
	assert_null(c->jwt_public_key_pem);
	assert_int_equal(c->jwt_public_key_len, 0);
	assert_null(c->jwt_issuer);
	assert_null(c->jwt_audience);
	assert_int_equal(c->jwt_leeway_ms, 30000);
	assert_int_equal(c->auth_timeout_ms, 10000);
	assert_int_equal(c->max_unauthenticated, 2048);
	assert_int_equal(c->max_unauthenticated_per_ip, 64);
	assert_int_equal(c->attachment_timeout_ms, 10000);
	assert_int_equal(c->typing_timeout_ms, 6000);
	assert_int_equal(c->cleanup_interval_ms, 300000);
	assert_int_equal(c->max_message_length, 4000);
	assert_int_equal(c->rate_limit_events, 20);
	assert_int_equal(c->rate_limit_window_ms, 1000);
	assert_int_equal(c->max_connections_per_user, 20);
	assert_int_equal(c->call_ring_timeout_ms, 45000);
	assert_int_equal(c->call_disconnect_grace_ms, 10000);
	assert_int_equal(c->max_sdp_size, 65536);
	assert_int_equal(c->max_ice_candidate_size, 4096);
	assert_int_equal(c->nice_servers, 0);
	assert_null(c->ice_servers[0]);
	assert_null(c->turn_secret);
	assert_int_equal(c->turn_credential_ttl_ms, 3600000);

	/* The three default roles, in this order, with these exact bits. */
	assert_int_equal(c->nroles, 3);
	assert_string_equal(c->roles[0].name, "admin");
	assert_int_equal(c->roles[0].perms, 0x1ff);
	assert_string_equal(c->roles[1].name, "agent");
	assert_int_equal(c->roles[1].perms, 0xe3);
	assert_string_equal(c->roles[2].name, "user");
	assert_int_equal(c->roles[2].perms, 0xe3);
	assert_int_equal(MEMBER_PERMS, 0xe3);
	assert_int_equal(cf_conf_role_perms(c, "admin"), CF_PERM_ALL);
	assert_int_equal(cf_conf_role_perms(c, "agent"), MEMBER_PERMS);
	assert_int_equal(cf_conf_role_perms(c, "user"), MEMBER_PERMS);
	assert_int_equal(cf_conf_role_perms(c, "User"), 0);
	assert_int_equal(cf_conf_role_perms(c, "guest"), 0);
	assert_int_equal(cf_conf_role_perms(c, ""), 0);
	assert_int_equal(cf_conf_role_perms(c, NULL), 0);
	assert_int_equal(cf_conf_role_perms(NULL, "admin"), 0);

	/* An empty string, blank lines and comments give the same. */
	e = load_ok("\n   \n# nothing\n\t# still nothing\n");
	assert_int_equal(e->nlisten, 1);
	assert_string_equal(e->database, c->database);
	assert_int_equal(e->ping_interval_ms, c->ping_interval_ms);
	cf_conf_free(e);
	cf_conf_free(c);
}

static void
test_good_file(void **state)
{
	struct cf_conf	*c;
	char		 path[PATH_MAX];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	struct in6_addr	 lo6 = IN6ADDR_LOOPBACK_INIT;

	(void)state;
	snprintf(path, sizeof(path), "%s", fixture("good.conf"));
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	if (c == NULL)
		fail_msg("%s", errbuf);
	assert_non_null(c->path);
	assert_true(c->path[0] == '/');
	assert_non_null(strstr(c->path, "tests/conf/good.conf"));

	assert_int_equal(c->nlisten, 3);
	assert_string_equal(c->listen[0].text, "127.0.0.1:3001");
	assert_int_equal(c->listen[0].addr.ss_family, AF_INET);
	assert_int_equal(c->listen[0].addrlen, sizeof(struct sockaddr_in));
	sin = (const struct sockaddr_in *)&c->listen[0].addr;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(listen_port(&c->listen[0]), 3001);
	assert_int_equal(c->listen[0].any, 0);
	assert_int_equal(c->listen[0].v6only, 0);

	assert_string_equal(c->listen[1].text, "[::1]:3002");
	assert_int_equal(c->listen[1].addr.ss_family, AF_INET6);
	sin6 = (const struct sockaddr_in6 *)&c->listen[1].addr;
	assert_memory_equal(&sin6->sin6_addr, &lo6, sizeof(lo6));
	assert_int_equal(listen_port(&c->listen[1]), 3002);
	assert_int_equal(c->listen[1].v6only, 1);
	assert_int_equal(c->listen[1].any, 0);

	assert_string_equal(c->listen[2].text, "*:3003");
	assert_int_equal(c->listen[2].any, 1);

	assert_int_equal(c->workers, 4);
	assert_string_equal(c->data_dir, "/var/lib/confab");
	assert_string_equal(c->database, "/var/lib/confab/chat.db");
	assert_string_equal(c->redis, "redis://[::1]:6380/2");
	assert_string_equal(c->redis_host, "::1");
	assert_int_equal(c->redis_port, 6380);
	assert_int_equal(c->redis_db, 2);

	/* Order: the file, then included.conf, then sub/inner2.conf. */
	assert_int_equal(c->ncors_origins, 3);
	assert_string_equal(c->cors_origins[0], "http://localhost:8080");
	assert_string_equal(c->cors_origins[1], "https://chat.example.com");
	assert_string_equal(c->cors_origins[2], "HTTPS://Example.ORG:8443");

	assert_int_equal(c->log_level, CF_LOG_DEBUG);
	assert_string_equal(c->pidfile, "/run/confabd.pid");
	assert_int_equal(c->ping_interval_ms, 30000);
	assert_int_equal(c->ping_timeout_ms, 1500);
	assert_int_equal(c->connect_timeout_ms, 120000);
	assert_int_equal(c->upgrade_timeout_ms, 250);
	assert_int_equal(c->shutdown_timeout_ms, 3600000);
	assert_int_equal(c->max_payload, 2 * 1024 * 1024);
	assert_int_equal(c->presence_slots, 1024);
	assert_int_equal(c->debug_events, 1);
	assert_string_equal(c->jwt_secret,
	    "a secret with spaces, a # and a \"quote\" \\ ok!");
	assert_string_equal(c->jwt_algorithm, "HS512");
	assert_null(c->jwt_public_key);
	assert_string_equal(c->jwt_issuer, "https://auth.example.com");
	assert_string_equal(c->jwt_audience, "confab chat");
	assert_int_equal(c->jwt_leeway_ms, 0);
	assert_int_equal(c->nroles, 5);
	assert_int_equal(cf_conf_role_perms(c, "admin"), CF_PERM_ALL);
	assert_int_equal(cf_conf_role_perms(c, "agent"),
	    CF_PERM_CHAT_ACCESS | CF_PERM_SEND_MESSAGES |
	    CF_PERM_CREATE_CHANNELS);
	assert_int_equal(cf_conf_role_perms(c, "user"), MEMBER_PERMS);
	assert_string_equal(c->roles[3].name, "guest");
	assert_int_equal(c->roles[3].perms, 0);
	assert_string_equal(c->roles[4].name, "moderator");
	assert_int_equal(c->roles[4].perms,
	    CF_PERM_CHAT_ACCESS | CF_PERM_MANAGE_CHANNELS);
	assert_int_equal(c->auth_timeout_ms, 2000);
	assert_int_equal(c->typing_timeout_ms, 500);
	assert_int_equal(c->cleanup_interval_ms, 60000);
	assert_int_equal(c->max_message_length, 100000);
	assert_int_equal(c->rate_limit_events, 5);
	assert_int_equal(c->rate_limit_window_ms, 10000);
	assert_int_equal(c->max_connections_per_user, 3);
	cf_conf_free(c);
}

static void
test_tokenizer(void **state)
{
	struct cf_conf	*c;

	(void)state;
	/* Comments after values, tabs, CRLF, quotes inside a token. */
	c = load_ok("log-level\twarn# trailing comment\r\n"
	    "  pidfile \"/tmp/a b\"/c   \n"
	    "jwt-algorithm \"HS\"384\n"
	    "data-dir \"/d#not a comment\"\n");
	assert_int_equal(c->log_level, CF_LOG_WARN);
	assert_string_equal(c->pidfile, "/tmp/a b/c");
	assert_string_equal(c->jwt_algorithm, "HS384");
	assert_string_equal(c->data_dir, "/d#not a comment");
	cf_conf_free(c);

	/* A last line without a newline. */
	c = load_ok("workers 3");
	assert_int_equal(c->workers, 3);
	cf_conf_free(c);

	load_err("log-level \"debug\n",
	    "t.conf:1: unterminated quoted string");
	load_err("\n\njwt-secret \"abc\\n\"\n",
	    "t.conf:3: invalid escape in quoted string");
	load_err("log-level \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"log-level\": expected error, warn, info or debug");
	load_err("log-level \"debug#x\"\n", "t.conf:1: invalid value "
	    "\"debug#x\" for \"log-level\": expected error, warn, info or "
	    "debug");
	load_err("log-level\n", "t.conf:1: \"log-level\" takes 1 argument");
	load_err("log-level # debug\n",
	    "t.conf:1: \"log-level\" takes 1 argument");
	load_err("listen 1 2 3 4 5 6 7 8 9 10 11 12\n",
	    "t.conf:1: \"listen\" takes 1 argument");
	load_err("listen 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
	    "t.conf:1: \"listen\" takes 1 argument");
	load_err("jwt-issuer a b\n",
	    "t.conf:1: \"jwt-issuer\" takes 1 argument");
	load_err("max-message-length\n",
	    "t.conf:1: \"max-message-length\" takes 1 argument");
	load_err("\"log level\" info\n",
	    "t.conf:1: unknown directive \"log level\"");
	load_err("Log-Level info\n",
	    "t.conf:1: unknown directive \"Log-Level\"");
	load_err("include\n", "t.conf:1: \"include\" takes 1 argument");
	load_err("include \"\"\n",
	    "t.conf:1: invalid value \"\" for \"include\": empty path");
}

static void
test_bad_files(void **state)
{
	struct cf_conf	*c;
	char		 want[WANTLEN];

	(void)state;
	file_err("bad-unknown.conf", ":4: unknown directive \"foo\"");
	file_err("bad-value.conf", ":2: invalid value \"0\" for \"workers\": "
	    "must be between 1 and 64");
	file_err("bad-args.conf", ":1: \"workers\" takes 1 argument");
	file_err("bad-twice.conf", ":3: \"log-level\" given twice");
	file_err("bad-quote.conf", ":1: unterminated quoted string");
	file_err("bad-listen-dup.conf", ":2: invalid value \"*:3001\" for "
	    "\"listen\": duplicate of listen \"3001\"");

	/* Errors inside an include name the included file. */
	c = cf_conf_load(fixture("bad-nested.conf"), errbuf, sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2: invalid value \"0\" for "
	    "\"workers\": must be between 1 and 64", fixture("bad-value.conf"));
	assert_string_equal(errbuf, want);

	c = cf_conf_load(fixture("bad-include-missing.conf"), errbuf,
	    sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:3: include \"%s\": cannot open: "
	    "No such file or directory", fixture("bad-include-missing.conf"),
	    fixture("does-not-exist.conf"));
	assert_string_equal(errbuf, want);

	file_err("no-such-file.conf", ": cannot open: No such file or "
	    "directory");
	file_err("sub", ": cannot open: Is a directory");

	/* A NULL error buffer is allowed. */
	assert_null(cf_conf_load(fixture("bad-value.conf"), NULL, 0));
	assert_null(cf_conf_load_string("foo", NULL, NULL, 0));
	assert_null(cf_conf_load(NULL, errbuf, sizeof(errbuf)));
}

static void
test_include_loop(void **state)
{
	struct cf_conf	*c;
	char		 want[WANTLEN];

	(void)state;
	c = cf_conf_load(fixture("bad-loop-a.conf"), errbuf, sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2: include loop: \"%s\" is already "
	    "being read", fixture("bad-loop-b.conf"),
	    fixture("bad-loop-a.conf"));
	assert_string_equal(errbuf, want);

	c = cf_conf_load(fixture("bad-self.conf"), errbuf, sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:1: include loop: \"%s\" is already "
	    "being read", fixture("bad-self.conf"), fixture("bad-self.conf"));
	assert_string_equal(errbuf, want);
}

/* A chain of n files in a temporary directory, f0 including f1 ... */
static void
write_chain(const char *dir, int n)
{
	char	 path[PATH_MAX];
	FILE	*f;
	int	 i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%d.conf", dir, i);
		assert_non_null(f = fopen(path, "w"));
		if (i + 1 < n)
			fprintf(f, "include f%d.conf\n", i + 1);
		else
			fprintf(f, "workers 7\n");
		fclose(f);
	}
}

static void
test_include_depth(void **state)
{
	struct cf_conf	*c;
	char		 dir[] = "/tmp/test_conf.XXXXXX";
	char		 path[PATH_MAX], want[WANTLEN];
	int		 i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/f0.conf", dir);

	/* The main file plus 8 levels of include is fine. */
	write_chain(dir, 9);
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	if (c == NULL)
		fail_msg("%s", errbuf);
	assert_int_equal(c->workers, 7);
	cf_conf_free(c);

	/* A 9th level is not. */
	write_chain(dir, 10);
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s/f8.conf:1: include \"f9.conf\": "
	    "nested too deeply (at most 8 levels)", dir);
	assert_string_equal(errbuf, want);

	/* A NUL byte in a file. */
	snprintf(path, sizeof(path), "%s/nul.conf", dir);
	{
		FILE	*f = fopen(path, "w");

		assert_non_null(f);
		fwrite("workers 2\nlog-level in\0fo\n", 1, 26, f);
		fclose(f);
	}
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	assert_null(c);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	assert_string_equal(errbuf, want);
	unlink(path);

	for (i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "%s/f%d.conf", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

static void
test_include_string(void **state)
{
	struct cf_conf	*c;
	char		 text[PATH_MAX + 32];

	(void)state;
	/* From a string, an absolute include works. */
	snprintf(text, sizeof(text), "include \"%s\"\n",
	    fixture("included.conf"));
	if (fixture("included.conf")[0] == '/') {
		c = load_ok(text);
		assert_int_equal(c->ncors_origins, 1);
		assert_string_equal(c->cors_origins[0],
		    "https://chat.example.com");
		cf_conf_free(c);
	}
	load_err("include /nonexistent/x.conf\n", "t.conf:1: include "
	    "\"/nonexistent/x.conf\": cannot open: No such file or directory");
}

static void
test_listen(void **state)
{
	struct cf_conf	*c;
	const struct sockaddr_in *sin;

	(void)state;
	c = load_ok("listen 3001\nlisten 0.0.0.0:80\nlisten [::]:81\n"
	    "listen 10.1.2.3:65535\nlisten [fe80::1]:1\n");
	assert_int_equal(c->nlisten, 5);
	assert_int_equal(c->listen[0].any, 1);
	assert_int_equal(c->listen[0].addr.ss_family, AF_INET6);
	assert_int_equal(listen_port(&c->listen[0]), 3001);
	assert_string_equal(c->listen[0].text, "3001");
	assert_int_equal(c->listen[1].addr.ss_family, AF_INET);
	assert_int_equal(listen_port(&c->listen[1]), 80);
	assert_int_equal(c->listen[2].v6only, 1);
	assert_int_equal(c->listen[2].any, 0);
	sin = (const struct sockaddr_in *)&c->listen[3].addr;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x0a010203);
	assert_int_equal(listen_port(&c->listen[3]), 65535);
	assert_int_equal(listen_port(&c->listen[4]), 1);
	cf_conf_free(c);

	load_err("listen 0\n", "t.conf:1: invalid value \"0\" for \"listen\": "
	    "port must be a number between 1 and 65535");
	load_err("listen *:70000\n", "t.conf:1: invalid value \"*:70000\" for "
	    "\"listen\": port must be a number between 1 and 65535");
	load_err("listen 127.0.0.1:\n", "t.conf:1: invalid value "
	    "\"127.0.0.1:\" for \"listen\": port must be a number between 1 "
	    "and 65535");
	load_err("listen 1.2.3.4:-5\n", "t.conf:1: invalid value "
	    "\"1.2.3.4:-5\" for \"listen\": port must be a number between 1 "
	    "and 65535");
	load_err("listen localhost:80\n", "t.conf:1: invalid value "
	    "\"localhost:80\" for \"listen\": \"localhost\" is not an IPv4 "
	    "address, [IPv6 address] or *");
	load_err("listen 1.2.3.256:80\n", "t.conf:1: invalid value "
	    "\"1.2.3.256:80\" for \"listen\": \"1.2.3.256\" is not an IPv4 "
	    "address, [IPv6 address] or *");
	load_err("listen ::1:80\n", "t.conf:1: invalid value \"::1:80\" for "
	    "\"listen\": IPv6 addresses must be in brackets, as in "
	    "[::1]:3001");
	load_err("listen [::1]80\n", "t.conf:1: invalid value \"[::1]80\" for "
	    "\"listen\": expected [IPv6 address]:port");
	load_err("listen [::g]:80\n", "t.conf:1: invalid value \"[::g]:80\" "
	    "for \"listen\": \"::g\" is not an IPv6 address");
	load_err("listen garbage\n", "t.conf:1: invalid value \"garbage\" for "
	    "\"listen\": port must be a number between 1 and 65535");
	load_err("listen \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"listen\": port must be a number between 1 and 65535");
	load_err("listen [::1]:80\nlisten [::1]:80\n", "t.conf:2: invalid "
	    "value \"[::1]:80\" for \"listen\": duplicate of listen "
	    "\"[::1]:80\"");
	load_err("listen "
	    "1111111111111111111111111111111111111111111111111111111111111111"
	    "111111111111111111\n", "t.conf:1: invalid value \""
	    "1111111111111111111111111111111111111111111111111111111111111111"
	    "111111111111111111\" for \"listen\": too long");
}

static void
test_listen_max(void **state)
{
	char	 text[1024];
	size_t	 o = 0;
	int	 i;

	(void)state;
	for (i = 0; i < CF_CONF_MAX_LISTEN + 1; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "listen %d\n", 4000 + i);
	load_err(text, "t.conf:17: invalid value \"4016\" for \"listen\": "
	    "too many listen addresses (at most 16)");
}

static void
test_durations(void **state)
{
	static const struct {
		const char	*text;
		uint32_t	 ms;
	} ok[] = {
		{ "1", 1 }, { "1ms", 1 }, { "999", 999 }, { "2s", 2000 },
		{ "3m", 180000 }, { "1h", 3600000 }, { "3600s", 3600000 },
		{ "60m", 3600000 }, { "3600000ms", 3600000 },
	};
	static const char *const bad_unit[] = { "1x", "1 s", "1sec", "1S" };
	struct cf_conf	*c;
	char		 text[128], want[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "ping-timeout \"%s\"\n",
		    ok[i].text);
		c = load_ok(text);
		assert_int_equal(c->ping_timeout_ms, ok[i].ms);
		cf_conf_free(c);
	}
	for (i = 0; i < sizeof(bad_unit) / sizeof(bad_unit[0]); i++) {
		snprintf(text, sizeof(text), "upgrade-timeout \"%s\"\n",
		    bad_unit[i]);
		snprintf(want, sizeof(want), "t.conf:1: invalid value \"%s\" "
		    "for \"upgrade-timeout\": unknown unit \"%s\" (use ms, s, "
		    "m or h)", bad_unit[i], bad_unit[i] + 1);
		load_err(text, want);
	}
	load_err("ping-interval 0\n", "t.conf:1: invalid value \"0\" for "
	    "\"ping-interval\": must be between 1ms and 1h");
	load_err("ping-interval 0s\n", "t.conf:1: invalid value \"0s\" for "
	    "\"ping-interval\": must be between 1ms and 1h");
	load_err("ping-interval 61m\n", "t.conf:1: invalid value \"61m\" for "
	    "\"ping-interval\": must be between 1ms and 1h");
	load_err("ping-interval 3600001\n", "t.conf:1: invalid value "
	    "\"3600001\" for \"ping-interval\": must be between 1ms and 1h");
	load_err("connect-timeout 99999999999999999999999h\n", "t.conf:1: "
	    "invalid value \"99999999999999999999999h\" for "
	    "\"connect-timeout\": expected a number with an optional unit ms, "
	    "s, m or h");
	load_err("connect-timeout -1s\n", "t.conf:1: invalid value \"-1s\" "
	    "for \"connect-timeout\": expected a number with an optional unit "
	    "ms, s, m or h");
	load_err("shutdown-timeout s\n", "t.conf:1: invalid value \"s\" for "
	    "\"shutdown-timeout\": expected a number with an optional unit "
	    "ms, s, m or h");
	load_err("shutdown-timeout 5000000000h\n", "t.conf:1: invalid value "
	    "\"5000000000h\" for \"shutdown-timeout\": must be between 1ms "
	    "and 1h");
}

static void
test_sizes(void **state)
{
	static const struct {
		const char	*text;
		size_t		 n;
	} ok[] = {
		{ "1024", 1024 }, { "1k", 1024 }, { "1K", 1024 },
		{ "100k", 102400 }, { "1m", 1048576 }, { "64m", 67108864 },
		{ "67108864", 67108864 },
	};
	struct cf_conf	*c;
	char		 text[128];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "max-payload %s\n", ok[i].text);
		c = load_ok(text);
		assert_int_equal(c->max_payload, ok[i].n);
		cf_conf_free(c);
	}
	load_err("max-payload 1023\n", "t.conf:1: invalid value \"1023\" for "
	    "\"max-payload\": must be between 1024 and 67108864 bytes");
	load_err("max-payload 65m\n", "t.conf:1: invalid value \"65m\" for "
	    "\"max-payload\": must be between 1024 and 67108864 bytes");
	load_err("max-payload 1g\n", "t.conf:1: invalid value \"1g\" for "
	    "\"max-payload\": must be between 1024 and 67108864 bytes");
	load_err("max-payload 10kb\n", "t.conf:1: invalid value \"10kb\" for "
	    "\"max-payload\": unknown unit \"kb\" (use k, m or g)");
	load_err("max-payload 1t\n", "t.conf:1: invalid value \"1t\" for "
	    "\"max-payload\": unknown unit \"t\" (use k, m or g)");
	load_err("max-payload big\n", "t.conf:1: invalid value \"big\" for "
	    "\"max-payload\": expected a number with an optional unit k, m "
	    "or g");
	load_err("max-payload 99999999999999999999999\n", "t.conf:1: invalid "
	    "value \"99999999999999999999999\" for \"max-payload\": expected "
	    "a number with an optional unit k, m or g");

	c = load_ok("max-output-buffer 64k\n");
	assert_int_equal(c->max_output_buffer, 65536);
	cf_conf_free(c);
	c = load_ok("max-output-buffer 1g\n");
	assert_int_equal(c->max_output_buffer, 1073741824);
	cf_conf_free(c);
	load_err("max-output-buffer 65535\n", "t.conf:1: invalid value "
	    "\"65535\" for \"max-output-buffer\": must be between 65536 and "
	    "1073741824 bytes");
	load_err("max-output-buffer 2g\n", "t.conf:1: invalid value \"2g\" "
	    "for \"max-output-buffer\": must be between 65536 and 1073741824 "
	    "bytes");
}

static void
test_scalars(void **state)
{
	struct cf_conf	*c;

	(void)state;
	/* ES256 and RS256 need a key: see test_jwt_public_key. */
	c = load_ok("workers 64\npresence-slots 64\ndebug-events on\n"
	    "jwt-algorithm HS384\n");
	assert_int_equal(c->workers, 64);
	assert_int_equal(c->presence_slots, 64);
	assert_int_equal(c->debug_events, 1);
	assert_string_equal(c->jwt_algorithm, "HS384");
	cf_conf_free(c);

	c = load_ok("workers auto\npresence-slots 16777216\n"
	    "debug-events FALSE\npresence-broadcast no\n");
	assert_int_equal(c->presence_broadcast, 0);
	assert_true(c->workers >= 1 && c->workers <= 64);
	assert_int_equal(c->presence_slots, 16777216);
	assert_int_equal(c->debug_events, 0);
	cf_conf_free(c);

	load_err("workers 65\n", "t.conf:1: invalid value \"65\" for "
	    "\"workers\": must be between 1 and 64");
	load_err("workers many\n", "t.conf:1: invalid value \"many\" for "
	    "\"workers\": expected auto or a number");
	load_err("workers 2x\n", "t.conf:1: invalid value \"2x\" for "
	    "\"workers\": expected auto or a number");
	load_err("presence-slots 63\n", "t.conf:1: invalid value \"63\" for "
	    "\"presence-slots\": must be between 64 and 16777216");
	load_err("presence-slots 99999999999\n", "t.conf:1: invalid value "
	    "\"99999999999\" for \"presence-slots\": must be between 64 and "
	    "16777216");
	load_err("presence-slots 0x100\n", "t.conf:1: invalid value \"0x100\" "
	    "for \"presence-slots\": not a number");
	c = load_ok("presence-scope subscribed\npresence-coalesce 0\n");
	assert_string_equal(c->presence_scope, "subscribed");
	assert_int_equal(c->presence_coalesce_ms, 0);
	cf_conf_free(c);
	c = load_ok("presence-scope channels\npresence-coalesce 250ms\n");
	assert_string_equal(c->presence_scope, "channels");
	assert_int_equal(c->presence_coalesce_ms, 250);
	cf_conf_free(c);
	load_err("presence-scope friends\n", "t.conf:1: invalid value "
	    "\"friends\" for \"presence-scope\": expected all, channels or "
	    "subscribed");
	load_err("presence-coalesce 61s\n", "t.conf:1: invalid value \"61s\" "
	    "for \"presence-coalesce\": must be between 0s and 1m");
	/* Connection state recovery: 2 min and 1000 by default, 0 off. */
	c = load_ok("");
	assert_int_equal(c->recovery_window_ms, 120000);
	assert_int_equal(c->recovery_max_events, 1000);
	cf_conf_free(c);
	c = load_ok("recovery-window 0\nrecovery-max-events 1\n");
	assert_int_equal(c->recovery_window_ms, 0);
	assert_int_equal(c->recovery_max_events, 1);
	cf_conf_free(c);
	c = load_ok("recovery-window 1500ms\n");
	assert_int_equal(c->recovery_window_ms, 1500);
	cf_conf_free(c);
	load_err("recovery-max-events 0\n", "t.conf:1: invalid value \"0\" "
	    "for \"recovery-max-events\": must be between 1 and 100000");
	load_err("recovery-window 25h\n", "t.conf:1: invalid value \"25h\" "
	    "for \"recovery-window\": must be between 0s and 24h");
	load_err("presence-broadcast sometimes\n", "t.conf:1: invalid value "
	    "\"sometimes\" for \"presence-broadcast\": expected yes, no, on, "
	    "off, true or false");
	load_err("debug-events maybe\n", "t.conf:1: invalid value \"maybe\" "
	    "for \"debug-events\": expected yes, no, on, off, true or false");
	load_err("jwt-algorithm none\n", "t.conf:1: invalid value \"none\" "
	    "for \"jwt-algorithm\": expected HS256, HS384, HS512, RS256 or "
	    "ES256");
	load_err("sqlite-synchronous extra\n", "t.conf:1: invalid value "
	    "\"extra\" for \"sqlite-synchronous\": expected full, normal or "
	    "off");
	load_err("jwt-algorithm hs256\n", "t.conf:1: invalid value \"hs256\" "
	    "for \"jwt-algorithm\": expected HS256, HS384, HS512, RS256 or "
	    "ES256");
	load_err("jwt-secret short\n", "t.conf:1: invalid value \"(hidden)\" for "
	    "\"jwt-secret\": must be at least 32 bytes");
	load_err("log-level verbose\n", "t.conf:1: invalid value \"verbose\" "
	    "for \"log-level\": expected error, warn, info or debug");
	load_err("pidfile \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"pidfile\": empty path");

	c = load_ok("jwt-secret 0123456789abcdef0123456789abcdef\n");
	assert_string_equal(c->jwt_secret, "0123456789abcdef0123456789abcdef");
	cf_conf_free(c);
}

static void
test_paths(void **state)
{
	struct cf_conf	*c;
	char		*want;

	(void)state;
	/* database resolves against data-dir even when given first. */
	c = load_ok("database db/x.sqlite\ndata-dir /srv/confab/\n"
	    "pidfile run/./confabd.pid\n");
	assert_string_equal(c->data_dir, "/srv/confab");
	assert_string_equal(c->database, "/srv/confab/db/x.sqlite");
	want = cwd_join("run/confabd.pid");
	assert_string_equal(c->pidfile, want);
	free(want);
	cf_conf_free(c);

	c = load_ok("data-dir ./d/../e\ndatabase sqlite:/abs/x.db\n");
	want = cwd_join("e");
	assert_string_equal(c->data_dir, want);
	free(want);
	assert_string_equal(c->database, "/abs/x.db");
	cf_conf_free(c);

	c = load_ok("database postgresql://u:p@db.example/chat\n");
	assert_string_equal(c->database, "postgresql://u:p@db.example/chat");
	cf_conf_free(c);

	c = load_ok("database postgres://db/chat\n");
	assert_string_equal(c->database, "postgres://db/chat");
	cf_conf_free(c);

	/* A SQLite file that looks like a URL stays a path. */
	c = load_ok("data-dir /d\ndatabase sqlite:postgres:x\n");
	assert_string_equal(c->database, "/d/postgres:x");
	cf_conf_free(c);

	load_err("database sqlite:\n", "t.conf:1: invalid value \"sqlite:\" "
	    "for \"database\": empty path");
	load_err("data-dir \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"data-dir\": empty path");
}

static void
test_redis(void **state)
{
	static const struct {
		const char	*url, *host;
		int		 port, db;
	} ok[] = {
		{ "redis://localhost", "localhost", 6379, 0 },
		{ "redis://127.0.0.1:7000", "127.0.0.1", 7000, 0 },
		{ "redis://cache.example.com/3", "cache.example.com", 6379, 3 },
		{ "redis://[::1]", "::1", 6379, 0 },
		{ "redis://[2001:db8::5]:6380/15", "2001:db8::5", 6380, 15 },
		{ "redis://h:1/", "h", 1, 0 },
	};
	static const struct {
		const char	*url, *why;
	} bad[] = {
		{ "localhost:6379", "expected redis://host[:port][/db]" },
		{ "rediss://h", "expected redis://host[:port][/db]" },
		{ "redis://", "bad host name or address" },
		{ "redis://:6379", "bad host name or address" },
		{ "redis://u:p@h", "port must be a number between 1 and 65535" },
		{ "redis://pw@h", "bad host name or address" },
		{ "redis://[::1", "bad host name or address" },
		{ "redis://[zz]:1", "bad host name or address" },
		{ "redis://h:0", "port must be a number between 1 and 65535" },
		{ "redis://h:65536", "port must be a number between 1 and "
		    "65535" },
		{ "redis://h:", "port must be a number between 1 and 65535" },
		{ "redis://h/x", "database must be a number" },
		{ "redis://h/-1", "database must be a number" },
		{ "redis://h/1/2", "database must be a number" },
		{ "redis://[::1]x", "expected redis://host[:port][/db]" },
	};
	struct cf_conf	*c;
	char		 text[256], want[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text), "redis %s\n", ok[i].url);
		c = load_ok(text);
		assert_string_equal(c->redis, ok[i].url);
		assert_string_equal(c->redis_host, ok[i].host);
		assert_int_equal(c->redis_port, ok[i].port);
		assert_int_equal(c->redis_db, ok[i].db);
		cf_conf_free(c);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "redis \"%s\"\n", bad[i].url);
		snprintf(want, sizeof(want), "t.conf:1: invalid value \"%s\" "
		    "for \"redis\": %s", bad[i].url, bad[i].why);
		load_err(text, want);
	}
}

/* Fill *sa with the address text (IPv4 or IPv6); returns sa. */
static const struct sockaddr *
peer(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	else
		fail_msg("bad test address %s", text);
	return ((const struct sockaddr *)ss);
}

static void
test_metrics_allow(void **state)
{
	struct sockaddr_storage	 ss;
	struct cf_conf		*c;
	char			 text[4096];
	size_t			 o = 0;
	int			 i;

	(void)state;
	/* Default: loopback only, IPv4-mapped loopback included. */
	c = load_ok("");
	assert_int_equal(c->nmetrics_allow, 2);
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "127.0.0.1")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "::1")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "::ffff:127.0.0.1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "127.0.0.2")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "10.0.0.1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "::2")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "::ffff:10.0.0.1")));
	cf_conf_free(c);

	/* Given values replace the default. */
	c = load_ok("metrics-allow 10.0.0.0/8\n"
	    "metrics-allow fd00::/8 192.168.1.128/25\n"
	    "metrics-allow ::ffff:172.16.0.0/108\n"
	    "metrics-allow 2001:db8::7\n");
	assert_int_equal(c->nmetrics_allow, 5);
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "10.255.1.2")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "::ffff:10.1.2.3")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "fdab::1")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "192.168.1.200")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "172.31.255.1")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "2001:db8::7")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "192.168.1.127")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "172.32.0.1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "11.0.0.1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "fe00::1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "2001:db8::8")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "127.0.0.1")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "::1")));
	cf_conf_free(c);

	c = load_ok("metrics-allow 0.0.0.0/0\n");
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "203.0.113.9")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "::ffff:1.2.3.4")));
	assert_false(cf_conf_metrics_allowed(c, peer(&ss, "::1")));
	cf_conf_free(c);

	c = load_ok("metrics-allow any\n");
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "203.0.113.9")));
	assert_true(cf_conf_metrics_allowed(c, peer(&ss, "2001:db8::1")));
	ss.ss_family = AF_UNIX;
	assert_false(cf_conf_metrics_allowed(c, (struct sockaddr *)&ss));
	assert_false(cf_conf_metrics_allowed(c, NULL));
	cf_conf_free(c);
	assert_false(cf_conf_metrics_allowed(NULL, peer(&ss, "127.0.0.1")));

	load_err("metrics-allow localhost\n", "t.conf:1: invalid value "
	    "\"localhost\" for \"metrics-allow\": expected an IPv4 or IPv6 "
	    "address[/prefix] or any");
	load_err("metrics-allow 10.0.0.0/33\n", "t.conf:1: invalid value "
	    "\"10.0.0.0/33\" for \"metrics-allow\": prefix length must be "
	    "between 0 and 32");
	load_err("metrics-allow ::/129\n", "t.conf:1: invalid value "
	    "\"::/129\" for \"metrics-allow\": prefix length must be "
	    "between 0 and 128");
	load_err("metrics-allow 10.1.2.3/8\n", "t.conf:1: invalid value "
	    "\"10.1.2.3/8\" for \"metrics-allow\": address bits set after "
	    "the /8 prefix");
	load_err("metrics-allow 10.0.0.0/\n", "t.conf:1: invalid value "
	    "\"10.0.0.0/\" for \"metrics-allow\": prefix length must be "
	    "between 0 and 32");
	load_err("metrics-allow 10.0.0.0/-1\n", "t.conf:1: invalid value "
	    "\"10.0.0.0/-1\" for \"metrics-allow\": prefix length must be "
	    "between 0 and 32");
	load_err("metrics-allow /8\n", "t.conf:1: invalid value "
	    "\"/8\" for \"metrics-allow\": expected an IPv4 or IPv6 "
	    "address[/prefix] or any");
	load_err("metrics-allow 1.2.3\n", "t.conf:1: invalid value "
	    "\"1.2.3\" for \"metrics-allow\": expected an IPv4 or IPv6 "
	    "address[/prefix] or any");
	load_err("metrics-allow [::1]\n", "t.conf:1: invalid value "
	    "\"[::1]\" for \"metrics-allow\": expected an IPv4 or IPv6 "
	    "address[/prefix] or any");
	load_err("metrics-allow ANY\n", "t.conf:1: invalid value "
	    "\"ANY\" for \"metrics-allow\": expected an IPv4 or IPv6 "
	    "address[/prefix] or any");
	load_err("\nmetrics-allow ::1\nmetrics-allow 0:0::1\n", "t.conf:3: "
	    "invalid value \"0:0::1\" for \"metrics-allow\": duplicate "
	    "address \"0:0::1\"");
	load_err("metrics-allow\n", "t.conf:1: \"metrics-allow\" takes 1 "
	    "to 8 arguments");
	load_err("metrics-allow 1 2 3 4 5 6 7 8 9\n", "t.conf:1: "
	    "\"metrics-allow\" takes 1 to 8 arguments");
	load_err("metrics-allow 0000:0000:0000:0000:0000:0000:0000:0000:0000"
	    "/1\n", "t.conf:1: invalid value \"0000:0000:0000:0000:0000:"
	    "0000:0000:0000:0000/1\" for \"metrics-allow\": expected an IPv4 "
	    "or IPv6 address[/prefix] or any");
	o += (size_t)snprintf(text + o, sizeof(text) - o, "metrics-allow "
	    "1111:2222:3333:4444:5555:6666:7777:8888:9999\n");
	load_err(text, "t.conf:1: invalid value \"1111:2222:3333:4444:5555:"
	    "6666:7777:8888:9999\" for \"metrics-allow\": expected an IPv4 "
	    "or IPv6 address[/prefix] or any");
	o = 0;
	for (i = 0; i <= CF_CONF_MAX_ALLOW; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "metrics-allow 10.0.%d.0/24\n", i);
	load_err(text, "t.conf:33: invalid value \"10.0.32.0/24\" for "
	    "\"metrics-allow\": too many addresses (at most 32)");
}

static void
test_origins(void **state)
{
	struct cf_conf	*c;
	char		 text[4096];
	size_t		 o = 0;
	int		 i;

	(void)state;
	c = load_ok("cors-origin http://localhost:8080\n"
	    "cors-origin https://Chat.Example.com\n"
	    "cors-origin http://[::1]:3000\n");
	assert_int_equal(c->ncors_origins, 3);
	assert_true(cf_conf_origin_allowed(c, "http://localhost:8080"));
	assert_true(cf_conf_origin_allowed(c, "HTTP://LOCALHOST:8080"));
	assert_true(cf_conf_origin_allowed(c, "https://chat.example.com"));
	assert_true(cf_conf_origin_allowed(c, "http://[::1]:3000"));
	assert_false(cf_conf_origin_allowed(c, "http://localhost"));
	assert_false(cf_conf_origin_allowed(c, "http://localhost:8081"));
	assert_false(cf_conf_origin_allowed(c, "https://localhost:8080"));
	assert_false(cf_conf_origin_allowed(c, "http://localhost:8080/"));
	assert_false(cf_conf_origin_allowed(c, "https://chat.example.com.evil"));
	assert_false(cf_conf_origin_allowed(c, "null"));
	assert_false(cf_conf_origin_allowed(c, ""));
	assert_false(cf_conf_origin_allowed(c, NULL));
	cf_conf_free(c);

	/* The default only applies when no cors-origin is given. */
	c = load_ok("");
	assert_true(cf_conf_origin_allowed(c, "http://localhost"));
	assert_false(cf_conf_origin_allowed(c, "http://localhost:3000"));
	cf_conf_free(c);

	c = load_ok("cors-origin http://a.example\ncors-origin *\n");
	assert_true(cf_conf_origin_allowed(c, "http://anything.example:1"));
	assert_true(cf_conf_origin_allowed(c, NULL));
	cf_conf_free(c);

	assert_false(cf_conf_origin_allowed(NULL, "http://localhost"));

	load_err("cors-origin localhost\n", "t.conf:1: invalid value "
	    "\"localhost\" for \"cors-origin\": expected * or "
	    "scheme://host[:port]");
	load_err("cors-origin http://localhost/\n", "t.conf:1: invalid value "
	    "\"http://localhost/\" for \"cors-origin\": an origin has no "
	    "path");
	load_err("cors-origin http://h:0\n", "t.conf:1: invalid value "
	    "\"http://h:0\" for \"cors-origin\": port must be a number "
	    "between 1 and 65535");
	load_err("cors-origin http://\n", "t.conf:1: invalid value "
	    "\"http://\" for \"cors-origin\": bad host name or address");
	load_err("cors-origin 1http://h\n", "t.conf:1: invalid value "
	    "\"1http://h\" for \"cors-origin\": expected * or "
	    "scheme://host[:port]");
	load_err("cors-origin http://a\ncors-origin HTTP://A\n", "t.conf:2: "
	    "invalid value \"HTTP://A\" for \"cors-origin\": duplicate "
	    "origin");

	for (i = 0; i < CF_CONF_MAX_ORIGINS + 1; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "cors-origin http://h%d\n", i);
	load_err(text, "t.conf:65: invalid value \"http://h64\" for "
	    "\"cors-origin\": too many origins (at most 64)");
}

static void
test_roles(void **state)
{
	struct cf_conf	*c;
	char		 text[4096];
	size_t		 o = 0;
	int		 i;

	(void)state;
	/* Replace two defaults, add two; the third default stays. */
	c = load_ok("role user chat.access\n"
	    "role support chat.access chat.send_messages call.audio "
	    "call.video call.view_history chat.send_broadcasts "
	    "chat.manage_channels chat.create_channels chat.moderate_messages\n"
	    "role admin none\n"
	    "role bot-2_x \"chat.send_messages\"\n");
	assert_int_equal(c->nroles, 5);
	assert_int_equal(cf_conf_role_perms(c, "user"), CF_PERM_CHAT_ACCESS);
	assert_int_equal(cf_conf_role_perms(c, "support"), CF_PERM_ALL);
	assert_int_equal(cf_conf_role_perms(c, "admin"), 0);
	assert_int_equal(cf_conf_role_perms(c, "agent"), MEMBER_PERMS);
	assert_int_equal(cf_conf_role_perms(c, "bot-2_x"),
	    CF_PERM_SEND_MESSAGES);
	assert_string_equal(c->roles[3].name, "support");
	assert_string_equal(c->roles[4].name, "bot-2_x");
	cf_conf_free(c);

	/* A 31-character name is the longest. */
	c = load_ok("role abcdefghijklmnopqrstuvwxyz01234 call.audio\n");
	assert_int_equal(cf_conf_role_perms(c,
	    "abcdefghijklmnopqrstuvwxyz01234"), CF_PERM_CALL_AUDIO);
	cf_conf_free(c);

	load_err("role\n", "t.conf:1: \"role\" takes 2 to 10 arguments");
	load_err("role admin\n", "t.conf:1: \"role\" takes 2 to 10 arguments");
	load_err("role x chat.access chat.access chat.access chat.access "
	    "chat.access chat.access chat.access chat.access chat.access "
	    "chat.access\n",
	    "t.conf:1: \"role\" takes 2 to 10 arguments");
	load_err("role x a b c d e f g h i j k l m n o p q r s t\n",
	    "t.conf:1: \"role\" takes 2 to 10 arguments");
	load_err("\nrole user chat.access chat.shout\n",
	    "t.conf:2: unknown permission \"chat.shout\" for role \"user\"");
	load_err("role user Chat.Access\n",
	    "t.conf:1: unknown permission \"Chat.Access\" for role \"user\"");
	load_err("role user \"\"\n",
	    "t.conf:1: unknown permission \"\" for role \"user\"");
	load_err("role user NONE\n",
	    "t.conf:1: unknown permission \"NONE\" for role \"user\"");
	load_err("role user none chat.access\n",
	    "t.conf:1: \"none\" must be the only permission of role \"user\"");
	load_err("role user chat.access none\n",
	    "t.conf:1: \"none\" must be the only permission of role \"user\"");
	load_err("role user call.audio call.audio\n", "t.conf:1: permission "
	    "\"call.audio\" given twice for role \"user\"");
	load_err("role Admin none\n", "t.conf:1: invalid role name "
	    "\"Admin\": expected 1 to 31 of a-z, 0-9, _ and -");
	load_err("role \"\" none\n", "t.conf:1: invalid role name \"\": "
	    "expected 1 to 31 of a-z, 0-9, _ and -");
	load_err("role a.b none\n", "t.conf:1: invalid role name \"a.b\": "
	    "expected 1 to 31 of a-z, 0-9, _ and -");
	load_err("role \"a b\" none\n", "t.conf:1: invalid role name "
	    "\"a b\": expected 1 to 31 of a-z, 0-9, _ and -");
	load_err("role abcdefghijklmnopqrstuvwxyz012345 none\n", "t.conf:1: "
	    "invalid role name \"abcdefghijklmnopqrstuvwxyz012345\": "
	    "expected 1 to 31 of a-z, 0-9, _ and -");
	load_err("role chat.access chat.access\n", "t.conf:1: invalid role "
	    "name \"chat.access\": expected 1 to 31 of a-z, 0-9, _ and -");

	/* Twice: a default role, or a new one. */
	load_err("role user none\n# x\nrole user chat.access\n",
	    "t.conf:3: role \"user\" given twice");
	load_err("role ops none\nrole ops none\n",
	    "t.conf:2: role \"ops\" given twice");

	/* 3 defaults + 29 new ones fill the 32 slots. */
	for (i = 0; i < CF_CONF_MAX_ROLES - 3; i++)
		o += (size_t)snprintf(text + o, sizeof(text) - o,
		    "role r%d chat.access\n", i);
	c = load_ok(text);
	assert_int_equal(c->nroles, CF_CONF_MAX_ROLES);
	assert_int_equal(cf_conf_role_perms(c, "r28"), CF_PERM_CHAT_ACCESS);
	cf_conf_free(c);
	/* Redefining a default takes no slot... */
	snprintf(text + o, sizeof(text) - o, "role admin none\n");
	c = load_ok(text);
	assert_int_equal(c->nroles, CF_CONF_MAX_ROLES);
	assert_int_equal(cf_conf_role_perms(c, "admin"), 0);
	cf_conf_free(c);
	/* ... a 33rd role has none. */
	snprintf(text + o, sizeof(text) - o, "role one-too-many none\n");
	load_err(text, "t.conf:30: too many roles (at most 32)");
}

/* Write len bytes of s to a new file under dir; returns its path. */
static char *
write_file(const char *dir, const char *name, const char *s, size_t len)
{
	char	*path;
	FILE	*f;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(s, 1, len, f), len);
	fclose(f);
	return (path);
}

static void
test_jwt_public_key(void **state)
{
	static const char	 ec[] = "-----BEGIN EC PUBLIC KEY-----\n"
	    "AAAA\n-----END EC PUBLIC KEY-----\n";
	static const char	 rsa[] = "junk before\n"
	    "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n"
	    "-----END RSA PUBLIC KEY-----\n";
	static const char	 priv[] = "-----BEGIN PRIVATE KEY-----\n"
	    "AAAA\n-----END PRIVATE KEY-----\n";
	struct cf_conf	*c;
	char		 dir[] = "/tmp/test_conf_key.XXXXXX";
	char		 key[PATH_MAX], text[3 * PATH_MAX], want[WANTLEN];
	char		*abs, *p, *big;
	size_t		 biglen = 64 * 1024;

	(void)state;
	snprintf(key, sizeof(key), "%s", fixture("test-rsa-pub.pem"));
	/*
	 * The loader normalises paths ("a/../b" -> "b"), and out-of-tree
	 * builds name the fixture through "..": compare canonical paths.
	 */
	abs = realpath(key, NULL);
	assert_non_null(abs);

	snprintf(text, sizeof(text), "jwt-algorithm RS256\n"
	    "jwt-public-key \"%s\"\n", key);
	c = load_ok(text);
	assert_string_equal(c->jwt_algorithm, "RS256");
	assert_string_equal(c->jwt_public_key, abs);
	assert_non_null(c->jwt_public_key_pem);
	assert_int_equal(c->jwt_public_key_len, 451);
	assert_int_equal(strlen(c->jwt_public_key_pem), 451);
	assert_memory_equal(c->jwt_public_key_pem,
	    "-----BEGIN PUBLIC KEY-----\n", 27);
	assert_non_null(strstr(c->jwt_public_key_pem,
	    "-----END PUBLIC KEY-----\n"));
	cf_conf_free(c);

	/* The order of the two lines does not matter; ES256 too. */
	snprintf(text, sizeof(text), "jwt-public-key \"%s\"\n"
	    "jwt-algorithm ES256\n", key);
	c = load_ok(text);
	assert_string_equal(c->jwt_algorithm, "ES256");
	cf_conf_free(c);

	/* Cross-checks name the main file, without a line. */
	load_err("jwt-algorithm RS256\n",
	    "t.conf: jwt-algorithm RS256 needs jwt-public-key");
	load_err("jwt-secret 0123456789abcdef0123456789abcdef\n"
	    "jwt-algorithm ES256\n",
	    "t.conf: jwt-algorithm ES256 needs jwt-public-key");
	snprintf(text, sizeof(text), "jwt-public-key \"%s\"\n", key);
	load_err(text, "t.conf: jwt-algorithm HS256 cannot use "
	    "jwt-public-key (an HMAC algorithm verifies with jwt-secret)");
	snprintf(text, sizeof(text), "jwt-algorithm HS384\n"
	    "jwt-public-key \"%s\"\n", key);
	load_err(text, "t.conf: jwt-algorithm HS384 cannot use "
	    "jwt-public-key (an HMAC algorithm verifies with jwt-secret)");

	snprintf(text, sizeof(text), "jwt-algorithm RS256\n"
	    "jwt-public-key \"%s\"\njwt-public-key \"%s\"\n", key, key);
	load_err(text, "t.conf:3: \"jwt-public-key\" given twice");

	load_err("jwt-algorithm RS256\njwt-public-key /nonexistent/k.pem\n",
	    "t.conf:2: jwt-public-key \"/nonexistent/k.pem\": cannot read: "
	    "No such file or directory");
	load_err("jwt-public-key /tmp\n", "t.conf:1: jwt-public-key "
	    "\"/tmp\": cannot read: Is a directory");
	load_err("jwt-public-key \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"jwt-public-key\": empty path");
	load_err("jwt-public-key\n",
	    "t.conf:1: \"jwt-public-key\" takes 1 argument");

	/* A relative path resolves against the current directory. */
	p = cwd_join("no-such-key.pem");
	snprintf(want, sizeof(want), "t.conf:1: jwt-public-key \"%s\": "
	    "cannot read: No such file or directory", p);
	load_err("jwt-public-key ./no-such-key.pem\n", want);
	free(p);

	/* A file that is not a PEM public key. */
	snprintf(text, sizeof(text), "jwt-public-key \"%s\"\n",
	    fixture("good.conf"));
	c = cf_conf_load_string(text, "t.conf", errbuf, sizeof(errbuf));
	assert_null(c);
	assert_non_null(strstr(errbuf, "good.conf\": not a PEM public key"));
	assert_memory_equal(errbuf, "t.conf:1: jwt-public-key \"", 26);

	assert_non_null(mkdtemp(dir));

	/* Other accepted markers; a private key is refused. */
	p = write_file(dir, "ec.pem", ec, sizeof(ec) - 1);
	snprintf(text, sizeof(text), "jwt-algorithm ES256\n"
	    "jwt-public-key %s\n", p);
	c = load_ok(text);
	assert_int_equal(c->jwt_public_key_len, sizeof(ec) - 1);
	assert_string_equal(c->jwt_public_key_pem, ec);
	cf_conf_free(c);
	unlink(p);
	free(p);

	p = write_file(dir, "rsa.pem", rsa, sizeof(rsa) - 1);
	snprintf(text, sizeof(text), "jwt-algorithm RS256\n"
	    "jwt-public-key %s\n", p);
	c = load_ok(text);
	assert_int_equal(c->jwt_public_key_len, sizeof(rsa) - 1);
	cf_conf_free(c);
	unlink(p);
	free(p);

	p = write_file(dir, "priv.pem", priv, sizeof(priv) - 1);
	snprintf(text, sizeof(text), "jwt-algorithm RS256\n"
	    "jwt-public-key %s\n", p);
	snprintf(want, sizeof(want), "t.conf:2: jwt-public-key \"%s\": not a "
	    "PEM public key", p);
	load_err(text, want);
	unlink(p);
	free(p);

	/* An empty file, and a NUL byte after a valid marker. */
	p = write_file(dir, "empty.pem", "", 0);
	snprintf(text, sizeof(text), "jwt-public-key %s\n", p);
	snprintf(want, sizeof(want), "t.conf:1: jwt-public-key \"%s\": not a "
	    "PEM public key", p);
	load_err(text, want);
	unlink(p);
	free(p);
	p = write_file(dir, "nul.pem", ec, sizeof(ec));
	snprintf(text, sizeof(text), "jwt-public-key %s\n", p);
	snprintf(want, sizeof(want), "t.conf:1: jwt-public-key \"%s\": not a "
	    "PEM public key", p);
	load_err(text, want);
	unlink(p);
	free(p);

	/* Exactly 64 KiB is accepted, one byte more is not. */
	assert_non_null(big = malloc(biglen + 1));
	memset(big, '\n', biglen + 1);
	memcpy(big, ec, sizeof(ec) - 1);
	p = write_file(dir, "big.pem", big, biglen);
	snprintf(text, sizeof(text), "jwt-algorithm ES256\n"
	    "jwt-public-key %s\n", p);
	c = load_ok(text);
	assert_int_equal(c->jwt_public_key_len, biglen);
	cf_conf_free(c);
	unlink(p);
	free(p);
	p = write_file(dir, "big.pem", big, biglen + 1);
	snprintf(text, sizeof(text), "jwt-algorithm ES256\n"
	    "jwt-public-key %s\n", p);
	snprintf(want, sizeof(want), "t.conf:2: jwt-public-key \"%s\": "
	    "larger than 65536 bytes", p);
	load_err(text, want);
	unlink(p);
	free(p);
	free(big);

	rmdir(dir);
	free(abs);
}

static void
test_jwt_claims(void **state)
{
	struct cf_conf	*c;

	(void)state;
	c = load_ok("jwt-issuer \"https://id.example.com/\"\n"
	    "jwt-audience confab\njwt-leeway 1h\n");
	assert_string_equal(c->jwt_issuer, "https://id.example.com/");
	assert_string_equal(c->jwt_audience, "confab");
	assert_int_equal(c->jwt_leeway_ms, 3600000);
	cf_conf_free(c);

	c = load_ok("jwt-leeway 0s\n");
	assert_int_equal(c->jwt_leeway_ms, 0);
	cf_conf_free(c);
	c = load_ok("jwt-leeway 0\n");
	assert_int_equal(c->jwt_leeway_ms, 0);
	cf_conf_free(c);
	c = load_ok("jwt-leeway 1500ms\n");
	assert_int_equal(c->jwt_leeway_ms, 1500);
	cf_conf_free(c);

	load_err("jwt-leeway 61m\n", "t.conf:1: invalid value \"61m\" for "
	    "\"jwt-leeway\": must be between 0s and 1h");
	load_err("jwt-leeway 3600001ms\n", "t.conf:1: invalid value "
	    "\"3600001ms\" for \"jwt-leeway\": must be between 0s and 1h");
	load_err("jwt-leeway -1\n", "t.conf:1: invalid value \"-1\" for "
	    "\"jwt-leeway\": expected a number with an optional unit ms, s, "
	    "m or h");
	load_err("jwt-issuer \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"jwt-issuer\": empty string");
	load_err("jwt-audience \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"jwt-audience\": empty string");
	load_err("jwt-issuer a\njwt-issuer b\n",
	    "t.conf:2: \"jwt-issuer\" given twice");
	load_err("jwt-audience a\n\njwt-audience a\n",
	    "t.conf:3: \"jwt-audience\" given twice");
}

static void
test_chat_limits(void **state)
{
	struct cf_conf	*c;

	(void)state;
	c = load_ok("auth-timeout 1ms\ntyping-timeout 1h\n"
	    "cleanup-interval 1s\nmax-message-length 1\n"
	    "rate-limit 100000 3600\nmax-connections-per-user 10000\n");
	assert_int_equal(c->auth_timeout_ms, 1);
	assert_int_equal(c->typing_timeout_ms, 3600000);
	assert_int_equal(c->cleanup_interval_ms, 1000);
	assert_int_equal(c->max_message_length, 1);
	assert_int_equal(c->rate_limit_events, 100000);
	assert_int_equal(c->rate_limit_window_ms, 3600000);
	assert_int_equal(c->max_connections_per_user, 10000);
	cf_conf_free(c);

	c = load_ok("cleanup-interval 1h\nrate-limit 1 1\n"
	    "max-connections-per-user 1\n");
	assert_int_equal(c->cleanup_interval_ms, 3600000);
	assert_int_equal(c->rate_limit_events, 1);
	assert_int_equal(c->rate_limit_window_ms, 1000);
	assert_int_equal(c->max_connections_per_user, 1);
	cf_conf_free(c);

	load_err("auth-timeout 0\n", "t.conf:1: invalid value \"0\" for "
	    "\"auth-timeout\": must be between 1ms and 1h");
	load_err("typing-timeout 2h\n", "t.conf:1: invalid value \"2h\" for "
	    "\"typing-timeout\": must be between 1ms and 1h");
	load_err("cleanup-interval 999ms\n", "t.conf:1: invalid value "
	    "\"999ms\" for \"cleanup-interval\": must be between 1s and 1h");
	load_err("cleanup-interval 61m\n", "t.conf:1: invalid value \"61m\" "
	    "for \"cleanup-interval\": must be between 1s and 1h");

	/* message-retention: off by default, s to d, HOT. */
	c = load_ok("");
	assert_true(c->message_retention_ms == 0);
	cf_conf_free(c);
	c = load_ok("message-retention 1s\n");
	assert_true(c->message_retention_ms == 1000);
	cf_conf_free(c);
	c = load_ok("message-retention 400d\n");
	assert_true(c->message_retention_ms == 400ULL * 86400 * 1000);
	cf_conf_free(c);
	c = load_ok("message-retention 90m\n");
	assert_true(c->message_retention_ms == 90ULL * 60 * 1000);
	cf_conf_free(c);
	c = load_ok("message-retention off\n");
	assert_true(c->message_retention_ms == 0);
	cf_conf_free(c);
	load_err("message-retention 0s\n", "t.conf:1: invalid value \"0s\" "
	    "for \"message-retention\": must be off or between 1s and "
	    "3162240000s");
	load_err("message-retention 36601d\n", "t.conf:1: invalid value "
	    "\"36601d\" for \"message-retention\": must be off or between "
	    "1s and 3162240000s");
	load_err("message-retention 10\n", "t.conf:1: invalid value \"10\" "
	    "for \"message-retention\": unknown unit \"\" (use s, m, h or d)");
	load_err("message-retention 5ms\n", "t.conf:1: invalid value "
	    "\"5ms\" for \"message-retention\": unknown unit \"ms\" (use s, "
	    "m, h or d)");
	load_err("message-retention never\n", "t.conf:1: invalid value "
	    "\"never\" for \"message-retention\": expected off or a number "
	    "with a unit s, m, h or d");
	load_err("max-message-length 0\n", "t.conf:1: invalid value \"0\" "
	    "for \"max-message-length\": must be between 1 and 100000");
	load_err("max-message-length 100001\n", "t.conf:1: invalid value "
	    "\"100001\" for \"max-message-length\": must be between 1 and "
	    "100000");
	load_err("max-message-length 4k\n", "t.conf:1: invalid value \"4k\" "
	    "for \"max-message-length\": not a number");
	load_err("max-connections-per-user 0\n", "t.conf:1: invalid value "
	    "\"0\" for \"max-connections-per-user\": must be between 1 and "
	    "10000");
	load_err("max-connections-per-user 10001\n", "t.conf:1: invalid "
	    "value \"10001\" for \"max-connections-per-user\": must be "
	    "between 1 and 10000");

	/* Connections not authenticated yet; per address 0: no cap. */
	c = load_ok("max-unauthenticated 1\nmax-unauthenticated-per-ip 0\n"
	    "attachment-timeout 1ms\n");
	assert_int_equal(c->max_unauthenticated, 1);
	assert_int_equal(c->max_unauthenticated_per_ip, 0);
	assert_int_equal(c->attachment_timeout_ms, 1);
	cf_conf_free(c);
	c = load_ok("max-unauthenticated 1000000\n"
	    "max-unauthenticated-per-ip 1000000\nattachment-timeout 1h\n");
	assert_int_equal(c->max_unauthenticated, 1000000);
	assert_int_equal(c->max_unauthenticated_per_ip, 1000000);
	assert_int_equal(c->attachment_timeout_ms, 3600000);
	cf_conf_free(c);
	load_err("max-unauthenticated 0\n", "t.conf:1: invalid value \"0\" "
	    "for \"max-unauthenticated\": must be between 1 and 1000000");
	load_err("max-unauthenticated-per-ip 1000001\n", "t.conf:1: invalid "
	    "value \"1000001\" for \"max-unauthenticated-per-ip\": must be "
	    "between 0 and 1000000");
	load_err("attachment-timeout 0\n", "t.conf:1: invalid value \"0\" "
	    "for \"attachment-timeout\": must be between 1ms and 1h");

	/* rate-limit takes exactly two arguments. */
	load_err("rate-limit 20\n",
	    "t.conf:1: \"rate-limit\" takes 2 arguments");
	load_err("rate-limit \"20 1\"\n",
	    "t.conf:1: \"rate-limit\" takes 2 arguments");
	load_err("\n\nrate-limit 20 1 1\n",
	    "t.conf:3: \"rate-limit\" takes 2 arguments");
	load_err("rate-limit\n", "t.conf:1: \"rate-limit\" takes 2 arguments");
	load_err("rate-limit 0 1\n", "t.conf:1: invalid value \"0 1\" for "
	    "\"rate-limit\": events must be between 1 and 100000");
	load_err("rate-limit 100001 1\n", "t.conf:1: invalid value "
	    "\"100001 1\" for \"rate-limit\": events must be between 1 and "
	    "100000");
	load_err("rate-limit 99999999999999999999999 1\n", "t.conf:1: "
	    "invalid value \"99999999999999999999999 1\" for \"rate-limit\": "
	    "expected a number of events and a number of seconds");
	load_err("rate-limit 20 0\n", "t.conf:1: invalid value \"20 0\" for "
	    "\"rate-limit\": seconds must be between 1 and 3600");
	load_err("rate-limit 20 3601\n", "t.conf:1: invalid value \"20 3601\" "
	    "for \"rate-limit\": seconds must be between 1 and 3600");
	load_err("rate-limit 20 1s\n", "t.conf:1: invalid value \"20 1s\" for "
	    "\"rate-limit\": expected a number of events and a number of "
	    "seconds");
	load_err("rate-limit -5 1\n", "t.conf:1: invalid value \"-5 1\" for "
	    "\"rate-limit\": expected a number of events and a number of "
	    "seconds");
	load_err("rate-limit 5 1\nrate-limit 5 1\n",
	    "t.conf:2: \"rate-limit\" given twice");
}

static void
test_calls(void **state)
{
	struct cf_conf	*c;
	char		 text[2048], want[256];
	int		 i;

	(void)state;
	c = load_ok("call-ring-timeout 1ms\ncall-disconnect-grace 1h\n"
	    "max-sdp-size 1k\nmax-ice-candidate-size 256\n"
	    "ice-server stun:stun.example.com:3478\n"
	    "ice-server \"turn:turn.example.com:3478?transport=udp\"\n"
	    "ice-server stuns:a.example.com\nice-server turns:b.example.com\n"
	    "turn-secret 0123456789abcdef\nturn-credential-ttl 1s\n");
	assert_int_equal(c->call_ring_timeout_ms, 1);
	assert_int_equal(c->call_disconnect_grace_ms, 3600000);
	assert_int_equal(c->max_sdp_size, 1024);
	assert_int_equal(c->max_ice_candidate_size, 256);
	assert_int_equal(c->nice_servers, 4);
	assert_string_equal(c->ice_servers[0], "stun:stun.example.com:3478");
	assert_string_equal(c->ice_servers[1],
	    "turn:turn.example.com:3478?transport=udp");
	assert_string_equal(c->ice_servers[2], "stuns:a.example.com");
	assert_string_equal(c->ice_servers[3], "turns:b.example.com");
	assert_string_equal(c->turn_secret, "0123456789abcdef");
	assert_int_equal(c->turn_credential_ttl_ms, 1000);
	cf_conf_free(c);

	c = load_ok("call-ring-timeout 1h\ncall-disconnect-grace 1ms\n"
	    "max-sdp-size 1m\nmax-ice-candidate-size 64k\n"
	    "turn-credential-ttl 24h\n");
	assert_int_equal(c->call_ring_timeout_ms, 3600000);
	assert_int_equal(c->call_disconnect_grace_ms, 1);
	assert_int_equal(c->max_sdp_size, 1048576);
	assert_int_equal(c->max_ice_candidate_size, 65536);
	assert_int_equal(c->nice_servers, 0);
	assert_null(c->turn_secret);
	assert_int_equal(c->turn_credential_ttl_ms, 86400000);
	cf_conf_free(c);

	/* Exactly CF_CONF_MAX_ICE servers load; one more does not. */
	text[0] = '\0';
	for (i = 0; i < CF_CONF_MAX_ICE; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "ice-server stun:s%d.example.com\n", i);
	c = load_ok(text);
	assert_int_equal(c->nice_servers, CF_CONF_MAX_ICE);
	assert_string_equal(c->ice_servers[CF_CONF_MAX_ICE - 1],
	    "stun:s15.example.com");
	cf_conf_free(c);
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "ice-server turn:x.example.com\n");
	snprintf(want, sizeof(want), "t.conf:%d: invalid value "
	    "\"turn:x.example.com\" for \"ice-server\": too many ice servers "
	    "(at most %d)", CF_CONF_MAX_ICE + 1, CF_CONF_MAX_ICE);
	load_err(text, want);

	load_err("call-ring-timeout 0\n", "t.conf:1: invalid value \"0\" for "
	    "\"call-ring-timeout\": must be between 1ms and 1h");
	load_err("call-ring-timeout 61m\n", "t.conf:1: invalid value \"61m\" "
	    "for \"call-ring-timeout\": must be between 1ms and 1h");
	load_err("call-ring-timeout 45 s\n",
	    "t.conf:1: \"call-ring-timeout\" takes 1 argument");
	load_err("call-ring-timeout 45x\n", "t.conf:1: invalid value \"45x\" "
	    "for \"call-ring-timeout\": unknown unit \"x\" (use ms, s, m or h)");
	load_err("call-ring-timeout 1s\ncall-ring-timeout 2s\n",
	    "t.conf:2: \"call-ring-timeout\" given twice");
	load_err("call-disconnect-grace 0s\n", "t.conf:1: invalid value "
	    "\"0s\" for \"call-disconnect-grace\": must be between 1ms and 1h");
	load_err("call-disconnect-grace 2h\n", "t.conf:1: invalid value "
	    "\"2h\" for \"call-disconnect-grace\": must be between 1ms and 1h");
	load_err("max-sdp-size 1023\n", "t.conf:1: invalid value \"1023\" for "
	    "\"max-sdp-size\": must be between 1024 and 1048576 bytes");
	load_err("max-sdp-size 1025k\n", "t.conf:1: invalid value \"1025k\" "
	    "for \"max-sdp-size\": must be between 1024 and 1048576 bytes");
	load_err("max-sdp-size 64kb\n", "t.conf:1: invalid value \"64kb\" for "
	    "\"max-sdp-size\": unknown unit \"kb\" (use k, m or g)");
	load_err("max-sdp-size 99999999999999999999999\n", "t.conf:1: invalid "
	    "value \"99999999999999999999999\" for \"max-sdp-size\": expected "
	    "a number with an optional unit k, m or g");
	load_err("max-ice-candidate-size 255\n", "t.conf:1: invalid value "
	    "\"255\" for \"max-ice-candidate-size\": must be between 256 and "
	    "65536 bytes");
	load_err("max-ice-candidate-size 65537\n", "t.conf:1: invalid value "
	    "\"65537\" for \"max-ice-candidate-size\": must be between 256 "
	    "and 65536 bytes");
	load_err("max-ice-candidate-size 1g\n", "t.conf:1: invalid value "
	    "\"1g\" for \"max-ice-candidate-size\": must be between 256 and "
	    "65536 bytes");
	load_err("ice-server http://stun.example.com\n", "t.conf:1: invalid "
	    "value \"http://stun.example.com\" for \"ice-server\": must be a "
	    "stun:, stuns:, turn: or turns: URL");
	load_err("\nice-server STUN:stun.example.com\n", "t.conf:2: invalid "
	    "value \"STUN:stun.example.com\" for \"ice-server\": must be a "
	    "stun:, stuns:, turn: or turns: URL");
	load_err("ice-server \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"ice-server\": must be a stun:, stuns:, turn: or turns: URL");
	load_err("ice-server stun\n", "t.conf:1: invalid value \"stun\" for "
	    "\"ice-server\": must be a stun:, stuns:, turn: or turns: URL");
	load_err("ice-server turns:\n", "t.conf:1: invalid value \"turns:\" "
	    "for \"ice-server\": no host after \"turns:\"");
	load_err("ice-server \"stun:a b\"\n", "t.conf:1: invalid value "
	    "\"stun:a b\" for \"ice-server\": blank or control character in "
	    "URL");
	load_err("ice-server stun:a.example.com\nice-server stun:b.example.com\n"
	    "ice-server stun:A.example.com\n", "t.conf:3: invalid value "
	    "\"stun:A.example.com\" for \"ice-server\": duplicate ice-server");
	load_err("ice-server stun:a turn:b\n",
	    "t.conf:1: \"ice-server\" takes 1 argument");
	load_err("ice-server\n", "t.conf:1: \"ice-server\" takes 1 argument");
	/* 255 bytes load, 256 do not. */
	memcpy(text, "ice-server stun:", 16);
	memset(text + 16, 'a', 250);
	strcpy(text + 16 + 250, "\n");
	c = load_ok(text);
	assert_int_equal(strlen(c->ice_servers[0]), 255);
	cf_conf_free(c);
	strcpy(text + 16 + 250, "a\n");
	errbuf[0] = '\0';
	assert_null(cf_conf_load_string(text, "t.conf", errbuf,
	    sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "for \"ice-server\": longer than 255 "
	    "bytes"));
	assert_int_equal(strncmp(errbuf, "t.conf:1: invalid value \"stun:aaa",
	    32), 0);
	load_err("turn-secret 0123456789abcde\n", "t.conf:1: invalid value "
	    "\"(hidden)\" for \"turn-secret\": must be at least 16 "
	    "bytes");
	load_err("turn-secret \"\"\n", "t.conf:1: invalid value \"(hidden)\" for "
	    "\"turn-secret\": must be at least 16 bytes");
	load_err("turn-secret 0123456789abcdef\nturn-secret 0123456789abcdef\n",
	    "t.conf:2: \"turn-secret\" given twice");
	load_err("turn-credential-ttl 999ms\n", "t.conf:1: invalid value "
	    "\"999ms\" for \"turn-credential-ttl\": must be between 1s and "
	    "24h");
	load_err("turn-credential-ttl 25h\n", "t.conf:1: invalid value \"25h\" "
	    "for \"turn-credential-ttl\": must be between 1s and 24h");
	load_err("turn-credential-ttl 86400001\n", "t.conf:1: invalid value "
	    "\"86400001\" for \"turn-credential-ttl\": must be between 1s and "
	    "24h");
	load_err("turn-credential-ttl 1d\n", "t.conf:1: invalid value \"1d\" "
	    "for \"turn-credential-ttl\": unknown unit \"d\" (use ms, s, m or "
	    "h)");
}

/* host-id and presence-host-timeout (cluster across hosts), default-channel. */
static void
test_cluster(void **state)
{
	struct cf_conf	*c;

	(void)state;
	c = load_ok("");
	assert_null(c->host_id);
	assert_int_equal(c->presence_host_timeout_ms, 15000);
	cf_conf_free(c);
	c = load_ok("host-id web-1\npresence-host-timeout 2s\n");
	assert_string_equal(c->host_id, "web-1");
	assert_int_equal(c->presence_host_timeout_ms, 2000);
	cf_conf_free(c);
	load_err("host-id \"\"\n", "t.conf:1: invalid value \"\" for "
	    "\"host-id\": empty string");
	load_err("host-id 0123456789012345678901234567890123\n", "t.conf:1: "
	    "invalid value \"0123456789012345678901234567890123\" for "
	    "\"host-id\": must be at most 32 bytes");
	c = load_ok("");
	assert_string_equal(c->default_channel, "general");
	cf_conf_free(c);
	c = load_ok("default-channel \"\"\n");
	assert_string_equal(c->default_channel, "");
	cf_conf_free(c);
	load_err("default-channel "
	    "01234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890\n",
	    "t.conf:1: invalid value \""
	    "01234567890123456789012345678901234567890123456789"
	    "012345678901234567890123456789012345678901234567890\" for "
	    "\"default-channel\": must be at most 100 bytes");
	load_err("presence-host-timeout 499ms\n", "t.conf:1: invalid value "
	    "\"499ms\" for \"presence-host-timeout\": must be between 500ms "
	    "and 1h");
}

#define K32	"0123456789abcdef0123456789ABCDEF"

static void
test_api(void **state)
{
	static char	 text[(CF_CONF_MAX_API_KEYS + 1) * 64];
	struct cf_conf	*c, *d;
	char		 line[64], err[CF_CONF_ERRLEN];
	int		 i;

	(void)state;
	c = load_ok("");
	assert_int_equal(c->napi_keys, 0);
	assert_int_equal(c->has_api_listen, 0);
	assert_int_equal(c->api_rate_requests, 1000);
	assert_int_equal(c->api_rate_window_ms, 1000);
	cf_conf_free(c);
	c = load_ok("api-key backend " K32 "\napi-key ops.2_a-b " K32 "x\n"
	    "api-listen 127.0.0.1:3002\napi-rate-limit 50 10\n");
	assert_int_equal(c->napi_keys, 2);
	assert_string_equal(c->api_keys[0].name, "backend");
	assert_string_equal(c->api_keys[0].key, K32);
	assert_string_equal(c->api_keys[1].name, "ops.2_a-b");
	assert_true(c->has_api_listen);
	assert_int_equal(cf_conf_listen_port(&c->api_listen), 3002);
	assert_int_equal(c->api_rate_requests, 50);
	assert_int_equal(c->api_rate_window_ms, 10000);
	/* A key changed is hot, and its value never shown. */
	d = load_ok("api-key backend " K32 "y\napi-key ops.2_a-b " K32 "x\n"
	    "api-listen 127.0.0.1:3002\napi-rate-limit 50 10\n");
	assert_int_equal(cf_conf_diff_class(c, d, NULL, NULL, NULL),
	    CF_RELOAD_HOT);
	cf_conf_free(d);
	d = load_ok("api-key backend " K32 "\napi-key ops.2_a-b " K32 "x\n"
	    "api-listen 127.0.0.1:3003\napi-rate-limit 50 10\n");
	assert_int_equal(cf_conf_diff_class(c, d, NULL, NULL, NULL),
	    CF_RELOAD_GENERATION);
	cf_conf_free(d);
	cf_conf_free(c);

	load_err("api-key backend " K32 "\napi-key backend " K32 "z\n",
	    "t.conf:2: api-key backend given twice");
	load_err("api-key a " K32 "\napi-key b " K32 "\n",
	    "t.conf:2: api-key b: the same key as api-key a");
	load_err("api-key backend 0123456789abcdef0123456789ABCDE\n",
	    "t.conf:1: api-key backend: the key must be 32 to 256 bytes "
	    "(confabctl api-key backend prints a new one)");
	load_err("api-key \"a b\" " K32 "\n", "t.conf:1: invalid api-key "
	    "name \"a b\": letters, digits, '_', '.' and '-', at most 64");
	load_err("api-key backend \"" K32 " \"\n", "t.conf:1: api-key "
	    "backend: the key must be printable ASCII");
	load_err("api-key backend\n",
	    "t.conf:1: \"api-key\" takes 2 arguments");
	load_err("listen 127.0.0.1:3001\napi-listen 127.0.0.2:3001\n",
	    "t.conf: api-listen 127.0.0.2:3001: port also used by listen "
	    "127.0.0.1:3001");
	load_err("api-listen nowhere\n", "t.conf:1: invalid value "
	    "\"nowhere\" for \"api-listen\": port must be a number "
	    "between 1 and 65535");
	load_err("api-rate-limit 0 1\n", "t.conf:1: invalid value \"0 1\" "
	    "for \"api-rate-limit\": events must be between 1 and 1000000");
	/* At most CF_CONF_MAX_API_KEYS. */
	text[0] = '\0';
	for (i = 0; i <= CF_CONF_MAX_API_KEYS; i++) {
		snprintf(line, sizeof(line), "api-key k%d %s%02d\n", i, K32, i);
		strcat(text, line);
	}
	assert_null(cf_conf_load_string(text, "t.conf", err, sizeof(err)));
	assert_string_equal(err, "t.conf:17: too many api keys (at most 16)");
}

static void
test_directive_table(void **state)
{
	const struct cf_directive	*d;
	size_t				 n, i, j;
	int				 found = 0;

	(void)state;
	d = cf_conf_directives(&n);
	assert_non_null(d);
	assert_int_equal(n, 65);
	for (i = 0; i < n; i++) {
		assert_non_null(d[i].name);
		assert_non_null(d[i].help);
		assert_true(strlen(d[i].help) > 10);
		for (j = i + 1; j < n; j++)
			assert_string_not_equal(d[i].name, d[j].name);
		if (strcmp(d[i].name, "listen") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_MULTI);
			assert_int_equal(d[i].reload, CF_RELOAD_GENERATION);
			assert_string_equal(d[i].def, "*:3001");
			found++;
		} else if (strcmp(d[i].name, "cors-origin") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_MULTI);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			found++;
		} else if (strcmp(d[i].name, "workers") == 0) {
			assert_int_equal(d[i].flags, 0);
			assert_int_equal(d[i].reload, CF_RELOAD_GENERATION);
			assert_int_equal(d[i].offset,
			    offsetof(struct cf_conf, workers));
			found++;
		} else if (strcmp(d[i].name, "jwt-secret") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_SECRET);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_null(d[i].def);
			found++;
		} else if (strcmp(d[i].name, "role") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_MULTI);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_int_equal(d[i].offset,
			    offsetof(struct cf_conf, roles));
			found++;
		} else if (strcmp(d[i].name, "rate-limit") == 0) {
			assert_int_equal(d[i].flags, 0);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_string_equal(d[i].def, "20 1");
			found++;
		} else if (strcmp(d[i].name, "ice-server") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_MULTI);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_null(d[i].def);
			assert_int_equal(d[i].offset,
			    offsetof(struct cf_conf, ice_servers));
			found++;
		} else if (strcmp(d[i].name, "turn-secret") == 0) {
			assert_int_equal(d[i].flags, CF_CONF_SECRET);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_null(d[i].def);
			found++;
		} else if (strncmp(d[i].name, "call-", 5) == 0 ||
		    strcmp(d[i].name, "turn-credential-ttl") == 0) {
			/* The call directives are all reloadable. */
			assert_int_equal(d[i].flags, 0);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
			assert_non_null(d[i].def);
			found++;
		} else if (strncmp(d[i].name, "jwt-", 4) == 0 ||
		    strstr(d[i].name, "-timeout") != NULL ||
		    strncmp(d[i].name, "max-", 4) == 0 ||
		    strcmp(d[i].name, "cleanup-interval") == 0 ||
		    strcmp(d[i].name, "message-retention") == 0) {
			/* The chat-layer directives are all reloadable. */
			assert_int_equal(d[i].flags & ~CF_CONF_SECRET, 0);
			assert_int_equal(d[i].reload, CF_RELOAD_HOT);
		}
	}
	assert_int_equal(found, 11);
	/* A second call returns the same table; n may be NULL. */
	assert_ptr_equal(cf_conf_directives(NULL), d);
	cf_conf_free(NULL);
}

#define HOOK_SECRET	"webhook-secret 0123456789abcdef0123456789abcdef\n"

/* webhook, webhook-secret and the delivery bounds. */
static void
test_webhooks(void **state)
{
	struct cf_conf	*c, *d;
	char		 text[4096];
	int		 i;

	(void)state;
	c = load_ok("");
	assert_int_equal(c->nwebhooks, 0);
	assert_null(c->webhook_secret);
	assert_int_equal(c->webhook_timeout_ms, 10000);
	assert_int_equal(c->webhook_retry_for_ms, 24 * 3600 * 1000);
	assert_int_equal(c->webhook_concurrency, 8);
	cf_conf_free(c);

	c = load_ok(HOOK_SECRET "webhook http://127.0.0.1:9/a\n"
	    "webhook https://h.example.com/b message.created user.offline\n"
	    "webhook-timeout 2s\nwebhook-retry-for 1h\n"
	    "webhook-concurrency 1\n");
	assert_int_equal(c->nwebhooks, 2);
	assert_string_equal(c->webhooks[0].url, "http://127.0.0.1:9/a");
	assert_int_equal(c->webhooks[0].events, CF_CONF_HOOK_ALL);
	assert_string_equal(c->webhooks[1].url, "https://h.example.com/b");
	assert_int_equal(c->webhooks[1].events,
	    cf_conf_hook_event("message.created") |
	    cf_conf_hook_event("user.offline"));
	assert_int_equal(cf_conf_hook_event("message.created"), 1);
	assert_int_equal(cf_conf_hook_event("nope"), 0);
	assert_string_equal(c->webhook_secret,
	    "0123456789abcdef0123456789abcdef");
	assert_int_equal(c->webhook_timeout_ms, 2000);
	assert_int_equal(c->webhook_retry_for_ms, 3600000);
	assert_int_equal(c->webhook_concurrency, 1);

	/* A changed event list is a change; the secret is never shown. */
	d = load_ok(HOOK_SECRET "webhook http://127.0.0.1:9/a\n"
	    "webhook https://h.example.com/b message.created\n"
	    "webhook-timeout 2s\nwebhook-retry-for 1h\n"
	    "webhook-concurrency 1\n");
	assert_int_equal(cf_conf_diff_class(c, d, NULL, NULL, NULL),
	    CF_RELOAD_HOT);
	cf_conf_free(d);
	cf_conf_free(c);

	/* Exactly CF_CONF_MAX_WEBHOOKS load. */
	snprintf(text, sizeof(text), "%s", HOOK_SECRET);
	for (i = 0; i < CF_CONF_MAX_WEBHOOKS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "webhook http://h%d.example.com/\n", i);
	c = load_ok(text);
	assert_int_equal(c->nwebhooks, CF_CONF_MAX_WEBHOOKS);
	cf_conf_free(c);
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "webhook http://x.example.com/\n");
	assert_null(cf_conf_load_string(text, "t.conf", errbuf,
	    sizeof(errbuf)));
	assert_non_null(strstr(errbuf, "too many webhooks (at most 16)"));

	load_err("webhook http://h/\n",
	    "t.conf: webhook needs webhook-secret");
	load_err("webhook-secret short\n", "t.conf:1: invalid value "
	    "\"(hidden)\" for \"webhook-secret\": must be at least 32 bytes");
	load_err(HOOK_SECRET "webhook ftp://h/\n", "t.conf:2: invalid value "
	    "\"ftp://h/\" for \"webhook\": must be an http:// or https:// URL");
	load_err(HOOK_SECRET "webhook http:///x\n", "t.conf:2: invalid value "
	    "\"http:///x\" for \"webhook\": no host in URL");
	load_err(HOOK_SECRET "webhook http://h/ message.exploded\n",
	    "t.conf:2: invalid value \"http://h/ message.exploded\" for "
	    "\"webhook\": unknown event \"message.exploded\"");
	load_err(HOOK_SECRET "webhook http://h/\nwebhook http://h/ "
	    "user.online\n", "t.conf:3: invalid value \"http://h/ user.online\" "
	    "for \"webhook\": duplicate webhook");
	load_err("webhook-timeout 50ms\n", "t.conf:1: invalid value \"50ms\" "
	    "for \"webhook-timeout\": must be between 100ms and 5m");
	load_err("webhook-concurrency 0\n", "t.conf:1: invalid value \"0\" "
	    "for \"webhook-concurrency\": must be between 1 and 1000");
}

/* Read $CF_TEST_SRCDIR/rel into a malloc'd string. */
static char *
slurp(const char *rel)
{
	char		 path[PATH_MAX];
	const char	*src = getenv("CF_TEST_SRCDIR");
	FILE		*f;
	char		*buf;
	long		 len;

	if (src == NULL || *src == '\0')
		src = ".";
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((len = ftell(f)) > 0);
	rewind(f);
	assert_non_null(buf = malloc((size_t)len + 1));
	assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
	buf[len] = '\0';
	fclose(f);
	return (buf);
}

/*
 * The sample config and the man page list every directive, and the
 * sample, all commented out, loads.
 */
static void
test_docs_match_table(void **state)
{
	const struct cf_directive	*d;
	struct cf_conf			*c;
	char				*sample, *man, needle[64];
	char				 path[PATH_MAX];
	const char			*src = getenv("CF_TEST_SRCDIR");
	size_t				 n, i;

	(void)state;
	sample = slurp("etc/confabd.conf");
	man = slurp("man/confabd.conf.5");
	d = cf_conf_directives(&n);
	for (i = 0; i < n; i++) {
		snprintf(needle, sizeof(needle), "\n#%s ", d[i].name);
		if (strstr(sample, needle) == NULL)
			fail_msg("%s missing from etc/confabd.conf", d[i].name);
		snprintf(needle, sizeof(needle), "\n.It Ic %s ", d[i].name);
		if (strstr(man, needle) == NULL)
			fail_msg("%s missing from man/confabd.conf.5",
			    d[i].name);
	}
	assert_non_null(strstr(man, "\n.It Ic include "));
	free(sample);
	free(man);

	if (src == NULL || *src == '\0')
		src = ".";
	snprintf(path, sizeof(path), "%s/etc/confabd.conf", src);
	c = cf_conf_load(path, errbuf, sizeof(errbuf));
	if (c == NULL)
		fail_msg("%s", errbuf);
	assert_int_equal(c->nlisten, 1);
	cf_conf_free(c);
}

/* What cf_conf_diff reported: "name old -> new" lines, or "name changed". */
static void
diff_collect(void *arg, const struct cf_directive *d, const char *old,
    const char *new)
{
	char	*out = arg;
	size_t	 n = strlen(out);

	if (old == NULL) {
		assert_null(new);
		snprintf(out + n, 4096 - n, "%s changed\n", d->name);
	} else
		snprintf(out + n, 4096 - n, "%s %s -> %s\n", d->name, old,
		    new);
}

static void
test_diff(void **state)
{
	static const char base[] =
	    "listen 127.0.0.1:3001\n"
	    "log-level info\n"
	    "jwt-secret aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	    "role agent chat.access chat.send_messages\n";
	struct cf_conf	*a, *b;
	char		 out[4096];

	(void)state;
	a = load_ok(base);
	b = load_ok(base);
	out[0] = '\0';
	assert_int_equal(cf_conf_diff(a, b, diff_collect, out), 0);
	assert_string_equal(out, "");
	cf_conf_free(b);
	b = load_ok("listen 127.0.0.1:3001\n"
	    "listen 127.0.0.1:3002\n"
	    "log-level debug\n"
	    "jwt-secret bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
	    "jwt-secret-previous aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	    "role agent chat.access\n"
	    "rate-limit 30 2\n");
	assert_int_equal(cf_conf_diff(a, b, diff_collect, out), 6);
	assert_string_equal(out,
	    "listen 127.0.0.1:3001 -> 127.0.0.1:3001 127.0.0.1:3002\n"
	    "log-level info -> debug\n"
	    "jwt-secret changed\n"
	    "jwt-secret-previous changed\n"
	    "role admin chat.access chat.send_messages chat.create_channels "
	    "chat.manage_channels chat.send_broadcasts call.audio call.video "
	    "call.view_history chat.moderate_messages; agent chat.access "
	    "chat.send_messages; user "
	    "chat.access chat.send_messages call.audio call.video "
	    "call.view_history -> admin chat.access chat.send_messages "
	    "chat.create_channels chat.manage_channels chat.send_broadcasts "
	    "call.audio call.video call.view_history chat.moderate_messages; "
	    "agent chat.access; user "
	    "chat.access chat.send_messages call.audio call.video "
	    "call.view_history\n"
	    "rate-limit 20 1 -> 30 2\n");
	/* No secret's value anywhere. */
	assert_null(strstr(out, "aaaa"));
	assert_null(strstr(out, "bbbb"));
	cf_conf_free(a);
	cf_conf_free(b);
}

/* The reload class of a change: the highest among the changed rows. */
static void
test_reload_class(void **state)
{
	static const char base[] =
	    "listen 127.0.0.1:3001\n"
	    "workers 2\n"
	    "jwt-secret aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n";
	static const char *const gen[] = {
		"listen 127.0.0.1:3002\n",
		"workers 3\n",
		"presence-slots 128\n",
		"data-dir /tmp/confab-other\n",
		"database other.db\n",
		"redis redis://127.0.0.1:6379\n",
		"host-id h2\n",
	};
	struct cf_conf	*a, *b;
	char		 text[512], out[4096];
	size_t		 i;
	int		 n;

	(void)state;
	a = load_ok(base);
	b = load_ok(base);
	assert_int_equal(cf_conf_diff_class(a, b, NULL, NULL, &n),
	    CF_RELOAD_NONE);
	assert_int_equal(n, 0);
	cf_conf_free(b);
	/* The same address written otherwise is no change. */
	b = load_ok("listen 127.0.0.1:3001\nworkers 2\n"
	    "jwt-secret aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	assert_int_equal(cf_conf_diff_class(a, b, NULL, NULL, &n),
	    CF_RELOAD_NONE);
	cf_conf_free(b);
	snprintf(text, sizeof(text), "%slog-level debug\n", base);
	b = load_ok(text);
	assert_int_equal(cf_conf_diff_class(a, b, NULL, NULL, &n),
	    CF_RELOAD_HOT);
	assert_int_equal(n, 1);
	cf_conf_free(b);
	snprintf(text, sizeof(text), "%spidfile /tmp/x.pid\n", base);
	b = load_ok(text);
	assert_int_equal(cf_conf_diff_class(a, b, NULL, NULL, &n),
	    CF_RELOAD_RESTART);
	cf_conf_free(b);
	/* A secret renders as changed, without its value. */
	b = load_ok("listen 127.0.0.1:3001\nworkers 2\n"
	    "jwt-secret bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n");
	out[0] = '\0';
	assert_int_equal(cf_conf_diff_class(a, b, diff_collect, out, &n),
	    CF_RELOAD_HOT);
	assert_string_equal(out, "jwt-secret changed\n");
	cf_conf_free(b);
	for (i = 0; i < sizeof(gen) / sizeof(gen[0]); i++) {
		if (strncmp(gen[i], "listen", 6) == 0 ||
		    strncmp(gen[i], "workers", 7) == 0)
			snprintf(text, sizeof(text), "%s%s%s",
			    strncmp(gen[i], "listen", 6) == 0 ? "workers 2\n" :
			    "listen 127.0.0.1:3001\n", gen[i],
			    "jwt-secret aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
			    "log-level debug\npidfile /tmp/x.pid\n");
		else
			snprintf(text, sizeof(text), "%s%slog-level debug\n"
			    "pidfile /tmp/x.pid\n", base, gen[i]);
		b = load_ok(text);
		if (cf_conf_diff_class(a, b, NULL, NULL, NULL) !=
		    CF_RELOAD_GENERATION)
			fail_msg("%s is not a generation change", gen[i]);
		cf_conf_free(b);
	}
	cf_conf_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_tokenizer),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_include_loop),
		cmocka_unit_test(test_include_depth),
		cmocka_unit_test(test_include_string),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_listen_max),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_redis),
		cmocka_unit_test(test_origins),
		cmocka_unit_test(test_metrics_allow),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_jwt_public_key),
		cmocka_unit_test(test_jwt_claims),
		cmocka_unit_test(test_chat_limits),
		cmocka_unit_test(test_calls),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_webhooks),
		cmocka_unit_test(test_directive_table),
		cmocka_unit_test(test_docs_match_table),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_reload_class),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
