/*
 * test_store.c -- unit tests for the chat storage (src/db/store_*.c) and its
 * schema migrations (src/db/sqlite.c, src/db/pg.c).  The whole suite runs
 * twice: against real SQLite files in a fresh mkdtemp(3) directory per
 * test, then, when PostgreSQL's server programs are installed
 * (/usr/lib/postgresql/<version>/bin), against a PostgreSQL this program
 * starts for itself (initdb in a temp dir, as user postgres when run as
 * root, listening only on a unix socket in that dir) with a fresh database
 * per test.  The server is stopped when the tests end, and is killed by
 * the kernel should this program die first (PR_SET_PDEATHSIG).
 */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "db/db.h"
#include "db/schema.h"
#include "db/store.h"
#include "log.h"

#define T0	1795723938123LL		/* 2026-11-26T20:12:18.123Z */

struct fx {
	char		 dir[64];
	char		 path[256];	/* SQLite file or PostgreSQL URI */
	char		 dbname[32];	/* PostgreSQL: this test's database */
	struct cf_db	*db;
};

/* The PostgreSQL server of the second run; pid 0 when there is none. */
static struct {
	pid_t	 pid;
	char	 bin[128];	/* the server programs' directory */
	char	 dir[64];	/* data in dir/data, the socket in dir */
	int	 port;
	uid_t	 uid;
	gid_t	 gid;
	int	 ndb;		/* databases created so far */
} pg;

static int	 use_pg;		/* the run in progress is PostgreSQL's */

/* ------------------------------------------------------------------ */
/* A PostgreSQL server for the tests                                  */
/* ------------------------------------------------------------------ */

/* A TCP port nothing listens on now (it only names the socket file). */
static int
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/*
 * In a child: become the server's user, send output to dir/log, and
 * exec argv.  Never returns.
 */
static void
pg_exec(char *const argv[], int pdeath)
{
	char log[96];
	int fd;

	if (getuid() != pg.uid && (setgroups(0, NULL) == -1 ||
	    setgid(pg.gid) == -1 || setuid(pg.uid) == -1))
		_exit(126);
	/* After setuid, which clears it. */
	if (pdeath && prctl(PR_SET_PDEATHSIG, SIGQUIT) == -1)
		_exit(126);
	snprintf(log, sizeof(log), "%s/log", pg.dir);
	/* The build directory may be closed to the server's user. */
	if (chdir(pg.dir) == -1 ||
	    (fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) == -1 ||
	    dup2(fd, 1) == -1 || dup2(fd, 2) == -1)
		_exit(126);
	execv(argv[0], argv);
	_exit(127);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

/* The URI of database name on the test server. */
static void
pg_uri(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "postgresql:///%s?host=%s&port=%d&user=postgres",
	    name, pg.dir, pg.port);
}

static void
pg_stop(void)
{
	int status;

	if (pg.pid > 0) {
		kill(pg.pid, SIGINT);	/* fast shutdown */
		waitpid(pg.pid, &status, 0);
		pg.pid = 0;
	}
	if (pg.dir[0] != '\0') {
		nftw(pg.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		pg.dir[0] = '\0';
	}
}

/*
 * Start the server: 0, or -1 when PostgreSQL is not installed (nothing
 * to clean up).  Anything else that goes wrong fails the run.
 */
static int
pg_start(void)
{
	char initdb[160], server[160], data[96], port[16], uri[256];
	struct passwd *pw;
	glob_t g;
	pid_t pid;
	int i, status;

	if (glob("/usr/lib/postgresql/*/bin/postgres", 0, NULL, &g) != 0)
		return (-1);
	/* The newest version sorts last. */
	snprintf(pg.bin, sizeof(pg.bin), "%s", g.gl_pathv[g.gl_pathc - 1]);
	globfree(&g);
	*strrchr(pg.bin, '/') = '\0';
	pg.uid = getuid();
	pg.gid = getgid();
	if (pg.uid == 0) {
		/* initdb refuses to run as root. */
		if ((pw = getpwnam("postgres")) == NULL)
			return (-1);
		pg.uid = pw->pw_uid;
		pg.gid = pw->pw_gid;
	}
	snprintf(pg.dir, sizeof(pg.dir), "/tmp/test_store_pg.XXXXXX");
	if (mkdtemp(pg.dir) == NULL || chown(pg.dir, pg.uid, pg.gid) == -1) {
		fprintf(stderr, "pg: %s: %s\n", pg.dir, strerror(errno));
		exit(1);
	}
	snprintf(initdb, sizeof(initdb), "%s/initdb", pg.bin);
	snprintf(server, sizeof(server), "%s/postgres", pg.bin);
	snprintf(data, sizeof(data), "%s/data", pg.dir);
	if ((pg.port = free_port()) == -1)
		pg.port = 5432;
	snprintf(port, sizeof(port), "%d", pg.port);
	if ((pid = fork()) == 0) {
		char *const argv[] = { initdb, "-D", data, "-A", "trust", "-U",
		    "postgres", "-E", "UTF8", "--locale=C", "--no-sync", NULL };

		pg_exec(argv, 0);
	}
	if (pid == -1 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "pg: initdb failed, see %s/log\n", pg.dir);
		exit(1);
	}
	if ((pid = fork()) == 0) {
		char *const argv[] = { server, "-D", data, "-k", pg.dir, "-p",
		    port, "-c", "listen_addresses=", "-c", "fsync=off", "-c",
		    "synchronous_commit=off", "-c", "full_page_writes=off",
		    NULL };

		pg_exec(argv, 1);
	}
	if (pid == -1) {
		fprintf(stderr, "pg: fork: %s\n", strerror(errno));
		exit(1);
	}
	pg.pid = pid;
	atexit(pg_stop);
	/* Ready when it answers; give up if it exits. */
	pg_uri(uri, sizeof(uri), "postgres");
	for (i = 0; PQping(uri) != PQPING_OK; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid) {
			pg.pid = 0;
			fprintf(stderr, "pg: the server exited, see %s/log\n",
			    pg.dir);
			exit(1);
		}
		usleep(50000);
	}
	return (0);
}

/* Run sql on the server's "postgres" database (CREATE/DROP DATABASE). */
static int
pg_admin(const char *sql)
{
	PGconn *c;
	PGresult *r;
	char uri[256];
	int ok;

	pg_uri(uri, sizeof(uri), "postgres");
	c = PQconnectdb(uri);
	r = PQexec(c, sql);
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "pg: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return (ok ? 0 : -1);
}

static int
pg_group_setup(void **state)
{
	(void)state;
	use_pg = 1;
	return (0);
}

static int
pg_group_teardown(void **state)
{
	(void)state;
	use_pg = 0;
	return (0);
}

/* ------------------------------------------------------------------ */
/* Fixture and helpers                                                */
/* ------------------------------------------------------------------ */

static int
setup(void **state)
{
	struct fx *fx;
	char sql[64];

	if ((fx = calloc(1, sizeof(*fx))) == NULL)
		return (-1);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return (-1);
	}
	if (use_pg) {
		snprintf(fx->dbname, sizeof(fx->dbname), "t%d", ++pg.ndb);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", fx->dbname);
		if (pg_admin(sql) == -1)
			goto fail;
		pg_uri(fx->path, sizeof(fx->path), fx->dbname);
	} else
		snprintf(fx->path, sizeof(fx->path), "%s/chat.db", fx->dir);
	if ((fx->db = cf_db_open(fx->path)) == NULL)
		goto fail;
	*state = fx;
	return (0);
 fail:
	rmdir(fx->dir);
	free(fx);
	return (-1);
}

static void
unlink_db(const struct fx *fx)
{
	char p[300];

	if (fx->dbname[0] != '\0') {
		snprintf(p, sizeof(p), "DROP DATABASE %s WITH (FORCE)",
		    fx->dbname);
		(void)pg_admin(p);
		return;
	}
	unlink(fx->path);
	snprintf(p, sizeof(p), "%s-wal", fx->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", fx->path);
	unlink(p);
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	/* Every statement of the store was finished, no transaction is open. */
	if (fx->db != NULL)
		assert_true(cf_db_idle(fx->db));
	cf_db_close(fx->db);
	unlink_db(fx);
	rmdir(fx->dir);
	free(fx);
	return (0);
}

/* The first column of a query as an integer (-1 when there is no row). */
static int64_t
q64(struct cf_db *db, const char *sql)
{
	int64_t v = -1;
	int rc;

	if ((rc = cf_db_query_i64(db, sql, &v)) != 0 && rc != -ENOENT)
		fail_msg("%s: %s", sql, strerror(-rc));
	return (v);
}

/* Run a statement, with rows or without. */
static void
xexec(struct cf_db *db, const char *sql)
{
	int rc = cf_db_query_i64(db, sql, NULL);

	if (rc != 0 && rc != -ENOENT)
		fail_msg("%s: %s", sql, strerror(-rc));
}

static json_int_t
iget(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_integer(v))
		fail_msg("\"%s\" is not an integer", k);
	return (json_integer_value(v));
}

static const char *
sget(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	if (!json_is_string(v))
		fail_msg("\"%s\" is not a string", k);
	return (json_string_value(v));
}

static int64_t
mkchan(struct cf_db *db, const char *name, int priv, const char *by,
    const char *const *members, size_t n)
{
	json_t *c;
	int64_t id;

	assert_int_equal(cf_store_channel_create(db, name, NULL, priv, by,
	    members, n, T0, &c), 0);
	id = iget(c, "id");
	json_decref(c);
	return (id);
}

static int64_t
post(struct cf_db *db, int64_t ch, const char *uid, const char *text,
    int64_t now)
{
	json_t *m;
	int64_t id;
	int dup = -1;

	assert_int_equal(cf_store_message_insert(db, ch, uid, "Name", text,
	    "text", 0, NULL, now, &m, &dup), 0);
	assert_int_equal(dup, 0);
	id = iget(m, "id");
	json_decref(m);
	return (id);
}

static int64_t
nmessages(struct cf_db *db)
{
	return (q64(db, "SELECT count(*) FROM messages"));
}

/* ------------------------------------------------------------------ */
/* Conversions                                                         */
/* ------------------------------------------------------------------ */

static void
check_uid(const char *in, int want_int, json_int_t iv)
{
	json_t *j = cf_store_user_id_json(in);

	assert_non_null(j);
	if (want_int) {
		assert_true(json_is_integer(j));
		assert_true(json_integer_value(j) == iv);
	} else {
		assert_true(json_is_string(j));
		assert_string_equal(json_string_value(j), in);
	}
	json_decref(j);
}

static void
test_user_id_json(void **state)
{
	json_t *j;

	(void)state;
	check_uid("42", 1, 42);
	check_uid("0", 1, 0);
	check_uid("123456789012345678", 1, 123456789012345678LL);
	check_uid("9223372036854775807", 1, INT64_MAX);
	check_uid("9223372036854775808", 0, 0);
	check_uid("99999999999999999999999", 0, 0);
	check_uid("007", 0, 0);
	check_uid("-5", 0, 0);
	check_uid("+5", 0, 0);
	check_uid("12a", 0, 0);
	check_uid(" 12", 0, 0);
	check_uid("user-1", 0, 0);
	check_uid("", 0, 0);
	j = cf_store_user_id_json(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
	/* Not UTF-8: no JSON string can hold it. */
	assert_null(cf_store_user_id_json("\xff\xfe"));
}

static void
test_iso8601(void **state)
{
	char buf[32];

	(void)state;
	cf_store_iso8601(T0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-26T20:12:18.123Z");
	assert_int_equal(strlen(buf), 24);
	cf_store_iso8601(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	cf_store_iso8601(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	cf_store_iso8601(951782400500LL, buf, sizeof(buf));
	assert_string_equal(buf, "2000-02-29T00:00:00.500Z");
	cf_store_iso8601(7, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.007Z");
	/* Exactly 25 bytes is enough. */
	cf_store_iso8601(T0, buf, 25);
	assert_string_equal(buf, "2026-11-26T20:12:18.123Z");
	/* Too small: truncated, still terminated. */
	memset(buf, 'x', sizeof(buf));
	cf_store_iso8601(T0, buf, 11);
	assert_string_equal(buf, "2026-11-26");
	/* len 0 writes nothing. */
	memset(buf, 'x', sizeof(buf));
	cf_store_iso8601(T0, buf, 0);
	assert_int_equal(buf[0], 'x');
	cf_store_iso8601(T0, NULL, 10);
	/* Extremes: no crash, a terminated string. */
	cf_store_iso8601(INT64_MAX, buf, sizeof(buf));
	assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
	cf_store_iso8601(INT64_MIN, buf, sizeof(buf));
	assert_true(memchr(buf, '\0', sizeof(buf)) != NULL);
}

/* ------------------------------------------------------------------ */
/* Migrations                                                          */
/* ------------------------------------------------------------------ */

static void
test_migration(void **state)
{
	struct fx *fx = *state;
	static const char *const tables[] = { "meta", "users", "channels",
	    "channel_members", "messages", "message_files", "presence",
	    "broadcasts", "channel_updates", "calls", "revocations" };
	char sql[256], p[160];
	struct cf_db *raw;
	sqlite3 *lite;
	size_t i;

	assert_int_equal(CF_DB_SCHEMA_VERSION, 9);
	assert_int_equal(q64(fx->db, "PRAGMA user_version"), 9);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master"
		    " WHERE type = 'table' AND name = '%s'", tables[i]);
		assert_int_equal(q64(fx->db, sql), 1);
	}
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM sqlite_master"
	    " WHERE type = 'index' AND name IN ('messages_channel',"
	    " 'calls_caller', 'calls_callee', 'calls_live',"
	    " 'channel_members_user')"), 5);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM"
	    " pragma_table_info('calls') WHERE name IN ('caller_sock',"
	    " 'callee_sock') AND type = 'TEXT'"), 2);
	assert_int_equal(q64(fx->db, "PRAGMA foreign_keys"), 1);
	assert_int_equal(mkchan(fx->db, "keep", 0, "1", NULL, 0), 1);

	/* Reopen: still the current version, data kept, nothing re-run. */
	cf_db_close(fx->db);
	assert_non_null(fx->db = cf_db_open(fx->path));
	assert_int_equal(q64(fx->db, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels"), 1);

	/* A version-1 database is brought to the current version, its meta row kept. */
	snprintf(p, sizeof(p), "%s/v1.db", fx->dir);
	assert_int_equal(sqlite3_open(p, &lite), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lite, "CREATE TABLE meta (key TEXT"
	    " PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES"
	    " ('created_at', 'then'); PRAGMA user_version = 1;", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(lite);
	assert_non_null(raw = cf_db_open(p));
	assert_int_equal(q64(raw, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(raw, "SELECT count(*) FROM meta WHERE value ="
	    " 'then'"), 1);
	assert_int_equal(q64(raw, "SELECT count(*) FROM messages"), 0);
	cf_db_close(raw);
	unlink(p);
	snprintf(sql, sizeof(sql), "%s-wal", p);
	unlink(sql);
	snprintf(sql, sizeof(sql), "%s-shm", p);
	unlink(sql);

	/* A newer database is refused. */
	snprintf(p, sizeof(p), "%s/v99.db", fx->dir);
	assert_int_equal(sqlite3_open(p, &lite), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lite, "PRAGMA user_version = 99", NULL,
	    NULL, NULL), SQLITE_OK);
	sqlite3_close(lite);
	assert_null(cf_db_open(p));
	unlink(p);
	snprintf(sql, sizeof(sql), "%s-wal", p);
	unlink(sql);
	snprintf(sql, sizeof(sql), "%s-shm", p);
	unlink(sql);
}

/* ------------------------------------------------------------------ */
/* Users and channels                                                 */
/* ------------------------------------------------------------------ */

/*
 * Durability (sqlite-synchronous): a SQLite connection commits with
 * synchronous FULL (2) unless told otherwise; the worker's connection
 * takes the directive's level.  PostgreSQL ignores it.
 */
static void
test_synchronous(void **state)
{
	struct fx *fx = *state;
	struct cf_conf conf;

	memset(&conf, 0, sizeof(conf));
	conf.database = fx->path;
	if (use_pg) {
		assert_int_equal(cf_db_set_synchronous(fx->db, "normal"), 0);
		conf.sqlite_synchronous = "off";
		assert_int_equal(cf_db_open_worker(&conf), 0);
		cf_db_close_worker();
		return;
	}
	assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 2);
	assert_int_equal(cf_db_set_synchronous(fx->db, "normal"), 0);
	assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 1);
	assert_int_equal(cf_db_set_synchronous(fx->db, "off"), 0);
	assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 0);
	assert_int_equal(cf_db_set_synchronous(fx->db, "full"), 0);
	assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 2);
	assert_int_equal(cf_db_set_synchronous(fx->db, "sometimes"), -1);
	assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 2);

	conf.sqlite_synchronous = "normal";
	assert_int_equal(cf_db_open_worker(&conf), 0);
	assert_int_equal(q64(cf_db(), "PRAGMA synchronous"), 1);
	cf_db_close_worker();
	conf.sqlite_synchronous = "full";
	assert_int_equal(cf_db_open_worker(&conf), 0);
	assert_int_equal(q64(cf_db(), "PRAGMA synchronous"), 2);
	cf_db_close_worker();
}

static void
test_user_upsert(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(cf_store_user_upsert(fx->db, "7", "Ann", "user", T0),
	    0);
	assert_int_equal(cf_store_user_upsert(fx->db, "7", "Ann B", "admin",
	    T0 + 5), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM users"), 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM users WHERE"
	    " id = '7' AND display_name = 'Ann B' AND role = 'admin'"), 1);
	assert_true(q64(fx->db, "SELECT created_at FROM users") == T0);
	assert_true(q64(fx->db, "SELECT updated_at FROM users") == T0 + 5);

	assert_int_equal(cf_store_user_upsert(fx->db, NULL, "x", "user", T0),
	    -EINVAL);
	assert_int_equal(cf_store_user_upsert(fx->db, "", "x", "user", T0),
	    -EINVAL);
	assert_int_equal(cf_store_user_upsert(fx->db, "8", NULL, "user", T0),
	    -EINVAL);
	assert_int_equal(cf_store_user_upsert(fx->db, "8", "x", NULL, T0),
	    -EINVAL);
	assert_int_equal(cf_store_user_upsert(fx->db, "8", "\xc3\x28",
	    "user", T0), -EINVAL);
	assert_int_equal(cf_store_user_upsert(NULL, "8", "x", "user", T0),
	    -EINVAL);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM users"), 1);
}

static void
test_user_name(void **state)
{
	struct fx *fx = *state;
	char buf[16];

	/* 11 bytes with two 2-byte characters; cuts fall inside both. */
	assert_int_equal(cf_store_user_upsert(fx->db, "5",
	    "Zo\xc3\xab \xc3\x98lsen", "user", T0), 0);
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Zo\xc3\xab \xc3\x98lsen");
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, 12), 0);
	assert_string_equal(buf, "Zo\xc3\xab \xc3\x98lsen");
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, 4), 0);
	assert_string_equal(buf, "Zo");
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, 7), 0);
	assert_string_equal(buf, "Zo\xc3\xab ");
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, 1), 0);
	assert_string_equal(buf, "");
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(cf_store_user_name(fx->db, "6", buf, sizeof(buf)),
	    -ENOENT);
	assert_string_equal(buf, "");
	assert_int_equal(cf_store_user_name(fx->db, "5", buf, 0), -EINVAL);
	assert_int_equal(cf_store_user_name(fx->db, "5", NULL, 8), -EINVAL);
	assert_int_equal(cf_store_user_name(fx->db, NULL, buf, 8), -EINVAL);
	assert_int_equal(cf_store_user_name(fx->db, "\xff", buf, 8), -EINVAL);
}

/*
 * The default channel: created once, as channel 1, on a database without
 * channels, by one of several processes starting at once; never again.
 */
static void
test_default_channel(void **state)
{
	struct fx *fx = *state;
	pid_t pids[4];
	json_t *c = NULL;
	int64_t id = -1;
	int i, status;

	/* A connection must not cross fork(). */
	cf_db_close(fx->db);
	fx->db = NULL;
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			struct cf_db *db = cf_db_open(fx->path);

			_exit(db != NULL && cf_store_default_channel(db,
			    "general", T0, NULL) == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++) {
		assert_true(waitpid(pids[i], &status, 0) == pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_non_null(fx->db = cf_db_open(fx->path));
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels"), 1);
	assert_int_equal(cf_store_channel_get(fx->db, 1, &c), 0);
	assert_string_equal(sget(c, "name"), "general");
	assert_true(json_is_false(json_object_get(c, "isPrivate")));
	assert_int_equal(iget(c, "createdBy"), 0);
	json_decref(c);
	/* Deleted, it is not created again. */
	assert_int_equal(cf_store_default_channel(fx->db, "general", T0, &id),
	    0);
	assert_int_equal(id, 0);
	xexec(fx->db, "DELETE FROM channels");
	assert_int_equal(cf_store_default_channel(fx->db, "general", T0, &id),
	    0);
	assert_int_equal(id, 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels"), 0);
	assert_int_equal(cf_store_default_channel(fx->db, "", T0, &id),
	    -EINVAL);
}

static void
test_channel_create(void **state)
{
	struct fx *fx = *state;
	const char *members[] = { "2", "3", "2", "1", "bob" };
	const char *badm[] = { "2", NULL };
	json_t *c = NULL, *g;
	int64_t id;

	assert_int_equal(cf_store_channel_create(fx->db, "General", "Talk",
	    0, "1", members, 5, T0, &c), 0);
	assert_non_null(c);
	id = iget(c, "id");
	assert_true(id > 0);
	assert_string_equal(sget(c, "name"), "General");
	assert_string_equal(sget(c, "description"), "Talk");
	assert_true(json_is_false(json_object_get(c, "isPrivate")));
	assert_true(json_is_integer(json_object_get(c, "createdBy")));
	assert_int_equal(iget(c, "createdBy"), 1);
	assert_string_equal(sget(c, "createdAt"), "2026-11-26T20:12:18.123Z");
	assert_int_equal(json_object_size(c), 6);
	/* Creator plus 2, 3, bob; duplicates ignored. */
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"),
	    4);

	assert_int_equal(cf_store_channel_get(fx->db, id, &g), 0);
	assert_true(json_equal(c, g));
	json_decref(g);
	json_decref(c);

	/* Case-insensitive conflict: nothing stored. */
	c = (json_t *)1;
	assert_int_equal(cf_store_channel_create(fx->db, "gENERAL", NULL, 1,
	    "2", NULL, 0, T0, &c), -EEXIST);
	assert_null(c);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels"), 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"),
	    4);

	/* Private, no description, creator with a string id. */
	assert_int_equal(cf_store_channel_create(fx->db, "Secret", NULL, 5,
	    "alice", NULL, 0, T0, &c), 0);
	assert_true(json_is_true(json_object_get(c, "isPrivate")));
	assert_true(json_is_null(json_object_get(c, "description")));
	assert_string_equal(sget(c, "createdBy"), "alice");
	json_decref(c);

	/* Bad input. */
	assert_int_equal(cf_store_channel_create(fx->db, NULL, NULL, 0, "1",
	    NULL, 0, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "", NULL, 0, "1",
	    NULL, 0, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "x", NULL, 0, NULL,
	    NULL, 0, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "x", NULL, 0, "1",
	    NULL, 3, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "x", NULL, 0, "1",
	    badm, 2, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "\xe2\x82", NULL, 0,
	    "1", NULL, 0, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "x", "\xed\xa0\x80",
	    0, "1", NULL, 0, T0, &c), -EINVAL);
	assert_int_equal(cf_store_channel_create(fx->db, "x", NULL, 0, "1",
	    NULL, 0, T0, NULL), -EINVAL);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels"), 2);

	assert_int_equal(cf_store_channel_get(fx->db, 999, &c), -ENOENT);
	assert_null(c);
	assert_int_equal(cf_store_channel_get(fx->db, -1, &c), -ENOENT);
	assert_int_equal(cf_store_channel_get(fx->db, id, NULL), -EINVAL);
}

static void
test_membership(void **state)
{
	struct fx *fx = *state;
	int64_t ch, joined;

	ch = mkchan(fx->db, "room", 0, "1", NULL, 0);
	assert_int_equal(cf_store_is_member(fx->db, ch, "1"), 1);
	assert_int_equal(cf_store_is_member(fx->db, ch, "2"), 0);
	assert_int_equal(cf_store_is_member(fx->db, ch + 100, "1"), -ENOENT);
	assert_int_equal(cf_store_is_member(fx->db, ch, NULL), -EINVAL);
	assert_int_equal(cf_store_is_member(fx->db, ch, ""), -EINVAL);

	assert_int_equal(cf_store_member_add(fx->db, ch, "2", T0 + 1), 0);
	assert_int_equal(cf_store_is_member(fx->db, ch, "2"), 1);
	joined = q64(fx->db, "SELECT joined_at FROM channel_members WHERE"
	    " user_id = '2'");
	assert_true(joined == T0 + 1);
	/* Again: a no-op, the join time kept. */
	assert_int_equal(cf_store_member_add(fx->db, ch, "2", T0 + 9), 0);
	assert_true(q64(fx->db, "SELECT joined_at FROM channel_members WHERE"
	    " user_id = '2'") == T0 + 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"),
	    2);
	assert_int_equal(cf_store_member_add(fx->db, ch + 100, "2", T0),
	    -ENOENT);
	assert_int_equal(cf_store_member_add(fx->db, ch, "", T0), -EINVAL);
	assert_int_equal(cf_store_member_add(fx->db, ch, "\x80", T0), -EINVAL);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"),
	    2);
}

/* The entry of channel id in a channel:list result, or NULL. */
static json_t *
find_chan(json_t *list, int64_t id)
{
	json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (iget(c, "id") == id)
			return (c);
	return (NULL);
}

static void
test_channel_list(void **state)
{
	struct fx *fx = *state;
	const char *withb[] = { "2" };
	char sql[320];
	json_t *l, *c;
	int64_t p1, q, p2, last, pos;
	size_t i;

	p1 = mkchan(fx->db, "p1", 0, "1", NULL, 0);
	q = mkchan(fx->db, "q", 1, "1", withb, 1);
	p2 = mkchan(fx->db, "p2", 0, "2", NULL, 0);
	mkchan(fx->db, "hidden", 1, "1", NULL, 0);

	post(fx->db, p1, "1", "a", T0);
	post(fx->db, p1, "1", "b", T0);
	post(fx->db, p1, "1", "c", T0);
	post(fx->db, p1, "3", "d", T0);
	last = post(fx->db, p1, "3", "e", T0);
	post(fx->db, q, "2", "f", T0);

	/* User 3: public channels only, not a member of any. */
	assert_int_equal(cf_store_channel_list(fx->db, "3", &l), 0);
	assert_int_equal(json_array_size(l), 2);
	assert_int_equal(iget(json_array_get(l, 0), "id"), p1);
	assert_int_equal(iget(json_array_get(l, 1), "id"), p2);
	c = find_chan(l, p1);
	assert_true(json_is_false(json_object_get(c, "isMember")));
	assert_true(json_is_null(json_object_get(c, "lastReadMessageId")));
	assert_int_equal(iget(c, "unreadCount"), 3);	/* not its own 2 */
	/* The channel's 7, isMember, lastRead, unread, mentionCount. */
	assert_int_equal(json_object_size(c), 11);
	json_decref(l);

	/* User 2: p1, q (private member), p2; ordered by id. */
	assert_int_equal(cf_store_channel_list(fx->db, "2", &l), 0);
	assert_int_equal(json_array_size(l), 3);
	for (i = 1; i < json_array_size(l); i++)
		assert_true(iget(json_array_get(l, i - 1), "id") <
		    iget(json_array_get(l, i), "id"));
	c = find_chan(l, q);
	assert_non_null(c);
	assert_true(json_is_true(json_object_get(c, "isMember")));
	assert_true(json_is_true(json_object_get(c, "isPrivate")));
	assert_int_equal(iget(c, "unreadCount"), 0);	/* only its own */
	assert_true(json_is_true(json_object_get(find_chan(l, p2),
	    "isMember")));
	assert_int_equal(iget(find_chan(l, p1), "unreadCount"), 5);
	json_decref(l);

	/* User 1: all four; p1 unread = 3's two messages. */
	assert_int_equal(cf_store_channel_list(fx->db, "1", &l), 0);
	assert_int_equal(json_array_size(l), 4);
	c = find_chan(l, p1);
	assert_true(json_is_true(json_object_get(c, "isMember")));
	assert_int_equal(iget(c, "unreadCount"), 2);
	assert_true(json_is_null(json_object_get(c, "lastReadMessageId")));
	assert_int_equal(iget(find_chan(l, q), "unreadCount"), 1);
	json_decref(l);

	/* Read everything, then one more from someone else. */
	assert_int_equal(cf_store_read_set(fx->db, p1, "1", 0, T0, &pos), 0);
	assert_true(pos == last);
	assert_int_equal(cf_store_channel_list(fx->db, "1", &l), 0);
	c = find_chan(l, p1);
	assert_int_equal(iget(c, "unreadCount"), 0);
	assert_int_equal(iget(c, "lastReadMessageId"), last);
	json_decref(l);
	post(fx->db, p1, "3", "g", T0);
	post(fx->db, p1, "1", "h", T0);
	assert_int_equal(cf_store_channel_list(fx->db, "1", &l), 0);
	assert_int_equal(iget(find_chan(l, p1), "unreadCount"), 1);
	json_decref(l);

	/* A backlog counts up to CF_STORE_UNREAD_MAX. */
	snprintf(sql, sizeof(sql), "WITH RECURSIVE r(x) AS (SELECT 1 UNION"
	    " ALL SELECT x + 1 FROM r WHERE x < %d) INSERT INTO messages"
	    "(channel_id, user_id, user_display_name, body, message_type,"
	    " created_at) SELECT %lld, '9', 'N', 'b', 'text', 0 FROM r",
	    CF_STORE_UNREAD_MAX + 5, (long long)p2);
	xexec(fx->db, sql);
	assert_int_equal(cf_store_channel_list(fx->db, "3", &l), 0);
	assert_int_equal(iget(find_chan(l, p2), "unreadCount"),
	    CF_STORE_UNREAD_MAX);
	assert_int_equal(iget(find_chan(l, p1), "unreadCount"), 4);
	json_decref(l);

	/* No channels visible; bad input. */
	assert_int_equal(cf_store_channel_list(fx->db, "zz", &l), 0);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	assert_int_equal(cf_store_channel_list(fx->db, NULL, &l), -EINVAL);
	assert_null(l);
	assert_int_equal(cf_store_channel_list(fx->db, "1", NULL), -EINVAL);
	assert_int_equal(cf_store_channel_list(fx->db, "\xff", &l), -EINVAL);
}

static void
test_channel_update(void **state)
{
	struct fx *fx = *state;
	json_t *ch, *c = NULL;
	int64_t a, b;

	a = mkchan(fx->db, "alpha", 0, "1", NULL, 0);
	b = mkchan(fx->db, "beta", 0, "1", NULL, 0);

	ch = json_pack("{s:s, s:s, s:b}", "name", "Alpha2", "description",
	    "new", "isPrivate", 1);
	assert_int_equal(cf_store_channel_update(fx->db, a, ch, "9", T0 + 1,
	    &c), 0);
	assert_string_equal(sget(c, "name"), "Alpha2");
	assert_string_equal(sget(c, "description"), "new");
	assert_true(json_is_true(json_object_get(c, "isPrivate")));
	assert_int_equal(iget(c, "id"), a);
	json_decref(c);
	json_decref(ch);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_updates"
	    " WHERE updated_by = '9' AND changes = '{\"description\":\"new\","
	    "\"isPrivate\":true,\"name\":\"Alpha2\"}'"), 1);
	assert_true(q64(fx->db, "SELECT updated_at FROM channel_updates") ==
	    T0 + 1);

	/* Only the description, to null; the rest kept. */
	ch = json_pack("{s:n}", "description");
	assert_int_equal(cf_store_channel_update(fx->db, a, ch, "9", T0, &c),
	    0);
	assert_true(json_is_null(json_object_get(c, "description")));
	assert_string_equal(sget(c, "name"), "Alpha2");
	assert_true(json_is_true(json_object_get(c, "isPrivate")));
	json_decref(c);
	json_decref(ch);

	/* Taking another's name, in any case: conflict, no audit row. */
	ch = json_pack("{s:s}", "name", "BETA");
	assert_int_equal(cf_store_channel_update(fx->db, a, ch, "9", T0, &c),
	    -EEXIST);
	assert_null(c);
	json_decref(ch);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_updates"),
	    2);
	/* Its own name in another case is fine. */
	ch = json_pack("{s:s}", "name", "bEtA");
	assert_int_equal(cf_store_channel_update(fx->db, b, ch, "9", T0, &c),
	    0);
	assert_string_equal(sget(c, "name"), "bEtA");
	json_decref(c);
	json_decref(ch);

	/* Empty changes: still audited. */
	ch = json_object();
	assert_int_equal(cf_store_channel_update(fx->db, b, ch, "9", T0, &c),
	    0);
	json_decref(c);
	json_decref(ch);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_updates"),
	    4);

	/* Unknown channel. */
	ch = json_pack("{s:b}", "isPrivate", 0);
	assert_int_equal(cf_store_channel_update(fx->db, 999, ch, "9", T0,
	    &c), -ENOENT);
	assert_null(c);
	json_decref(ch);

	/* Wrong types and keys. */
#define BAD(...) do {							\
	ch = json_pack(__VA_ARGS__);					\
	assert_non_null(ch);						\
	assert_int_equal(cf_store_channel_update(fx->db, a, ch, "9", T0, \
	    &c), -EINVAL);						\
	json_decref(ch);						\
} while (0)
	BAD("{s:i}", "name", 5);
	BAD("{s:s}", "name", "");
	BAD("{s:n}", "name");
	BAD("{s:i}", "description", 1);
	BAD("{s:s}", "isPrivate", "yes");
	BAD("{s:i}", "isPrivate", 1);
	BAD("{s:s}", "topic", "x");
	BAD("{s:s, s:s}", "name", "ok", "extra", "x");
	BAD("[]");
	BAD("s", "name");
	BAD("{s:s%}", "name", "a\0b", (size_t)3);
#undef BAD
	assert_int_equal(cf_store_channel_update(fx->db, a, NULL, "9", T0,
	    &c), -EINVAL);
	ch = json_object();
	assert_int_equal(cf_store_channel_update(fx->db, a, ch, NULL, T0,
	    &c), -EINVAL);
	json_decref(ch);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_updates"),
	    4);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channels WHERE"
	    " name = 'Alpha2'"), 1);
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

static void
test_message_insert(void **state)
{
	struct fx *fx = *state;
	json_t *m = NULL, *r;
	int64_t a, b, first, other;
	int dup;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "42", "Ann",
	    "hello", "text", 0, NULL, T0, &m, &dup), 0);
	assert_int_equal(dup, 0);
	first = iget(m, "id");
	assert_int_equal(iget(m, "channelId"), a);
	assert_int_equal(iget(m, "userId"), 42);
	assert_string_equal(sget(m, "userDisplayName"), "Ann");
	assert_string_equal(sget(m, "message"), "hello");
	assert_string_equal(sget(m, "messageType"), "text");
	assert_true(json_is_null(json_object_get(m, "replyToId")));
	assert_string_equal(sget(m, "timestamp"), "2026-11-26T20:12:18.123Z");
	assert_null(json_object_get(m, "clientMsgId"));
	assert_null(json_object_get(m, "file"));
	/* The 8 of the spec, and editedAt, deleted, replyCount, lastReplyAt,
	 * reactions (schema 6). */
	assert_int_equal(json_object_size(m), 13);
	assert_int_equal(cf_store_message_get(fx->db, first, &r), 0);
	assert_true(json_equal(m, r));
	json_decref(r);
	json_decref(m);

	/* A reply in the same channel; UTF-8 body; duplicate may be NULL. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "u", "U",
	    "r\xc3\xa9ponse \xf0\x9f\x98\x80", "gif", first, NULL, T0, &m,
	    NULL), 0);
	assert_int_equal(iget(m, "replyToId"), first);
	assert_string_equal(sget(m, "userId"), "u");
	assert_string_equal(sget(m, "message"), "r\xc3\xa9ponse "
	    "\xf0\x9f\x98\x80");
	json_decref(m);

	/* A reply to a message of another channel, or to none. */
	other = post(fx->db, b, "1", "elsewhere", T0);
	assert_int_equal(nmessages(fx->db), 3);
	m = (json_t *)1;
	dup = 7;
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "text", other, NULL, T0, &m, &dup), -ENOENT);
	assert_null(m);
	assert_int_equal(dup, 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "text", 12345, NULL, T0, &m, &dup), -ENOENT);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "text", -1, NULL, T0, &m, &dup), -ENOENT);
	/* No such channel. */
	assert_int_equal(cf_store_message_insert(fx->db, 999, "1", "A", "x",
	    "text", 0, NULL, T0, &m, &dup), -ENOENT);
	/* Values the schema refuses. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "video", 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", NULL,
	    "text", 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", NULL, "x",
	    "text", 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "", "A", "x",
	    "text", 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    NULL, 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A",
	    "bad \xc0\xaf", "text", 0, NULL, T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "text", 0, "\xf5\x80\x80\x80", T0, &m, &dup), -EINVAL);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "x",
	    "text", 0, NULL, T0, NULL, &dup), -EINVAL);
	assert_null(m);
	assert_int_equal(nmessages(fx->db), 3);

	assert_int_equal(cf_store_message_get(fx->db, 999, &m), -ENOENT);
	assert_null(m);
	assert_int_equal(cf_store_message_get(fx->db, 1, NULL), -EINVAL);
}

static void
test_client_msg_id(void **state)
{
	struct fx *fx = *state;
	json_t *m, *d;
	int64_t a, b;
	int dup;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A",
	    "original", "text", 0, "c-1", T0, &m, &dup), 0);
	assert_int_equal(dup, 0);
	assert_string_equal(sget(m, "clientMsgId"), "c-1");
	assert_int_equal(nmessages(fx->db), 1);

	/* Resent (even to another channel, with other text): the original. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A",
	    "original", "text", 0, "c-1", T0 + 50, &d, &dup), 0);
	assert_int_equal(dup, 1);
	assert_true(json_equal(m, d));
	json_decref(d);
	assert_int_equal(cf_store_message_insert(fx->db, b, "1", "A",
	    "changed", "image", 0, "c-1", T0 + 60, &d, &dup), 0);
	assert_int_equal(dup, 1);
	assert_int_equal(iget(d, "id"), iget(m, "id"));
	assert_string_equal(sget(d, "message"), "original");
	assert_int_equal(iget(d, "channelId"), a);
	json_decref(d);
	assert_int_equal(nmessages(fx->db), 1);

	/* Another user may use the same value; so may NULL, many times. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "2", "B", "mine",
	    "text", 0, "c-1", T0, &d, &dup), 0);
	assert_int_equal(dup, 0);
	assert_true(iget(d, "id") != iget(m, "id"));
	json_decref(d);
	post(fx->db, a, "1", "n1", T0);
	post(fx->db, a, "1", "n2", T0);
	assert_int_equal(nmessages(fx->db), 4);
	json_decref(m);

	/* Resent without the channel existing any more: ENOENT first. */
	assert_int_equal(cf_store_message_insert(fx->db, 999, "1", "A", "x",
	    "text", 0, "c-1", T0, &d, &dup), -ENOENT);
	assert_int_equal(dup, 0);
}

static void
test_latest(void **state)
{
	struct fx *fx = *state;
	int64_t a, b, id, last;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	id = -1;
	assert_int_equal(cf_store_message_latest(fx->db, a, &id), 0);
	assert_true(id == 0);
	post(fx->db, a, "1", "x", T0);
	last = post(fx->db, a, "1", "y", T0);
	post(fx->db, b, "1", "z", T0);
	assert_int_equal(cf_store_message_latest(fx->db, a, &id), 0);
	assert_true(id == last);
	assert_int_equal(cf_store_message_latest(fx->db, 999, &id),
	    -ENOENT);
	assert_int_equal(cf_store_message_latest(fx->db, a, NULL), -EINVAL);
}

/* Check a page: n messages with ids ids[from], ids[from+step], ... */
static void
check_page(struct cf_db *db, int64_t ch, int64_t before, int64_t after,
    int limit, const int64_t *ids, int from, int step, int n, int more)
{
	json_t *l, *m;
	size_t i;
	int hm = -1;

	assert_int_equal(cf_store_messages_page(db, ch, before, after, limit,
	    &l, &hm), 0);
	assert_int_equal(json_array_size(l), n);
	assert_int_equal(hm, more);
	json_array_foreach(l, i, m) {
		assert_int_equal(iget(m, "id"), ids[from + step * (int)i]);
		assert_int_equal(iget(m, "channelId"), ch);
	}
	json_decref(l);
}

static void
test_paging(void **state)
{
	struct fx *fx = *state;
	int64_t ids[250], a, b, e;
	json_t *l;
	char text[32];
	int i, hm;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	e = mkchan(fx->db, "empty", 0, "1", NULL, 0);
	for (i = 0; i < 250; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		ids[i] = post(fx->db, a, "1", text, T0 + i);
		if (i % 7 == 0)
			post(fx->db, b, "1", "noise", T0);
	}
	/* Neither: the newest, newest first. */
	check_page(fx->db, a, 0, 0, 100, ids, 249, -1, 100, 1);
	check_page(fx->db, a, 0, 0, 250, ids, 249, -1, 100, 1);
	check_page(fx->db, a, -5, -5, 100, ids, 249, -1, 100, 1);
	/* Backwards, 100 at a time. */
	check_page(fx->db, a, ids[150], 0, 100, ids, 149, -1, 100, 1);
	check_page(fx->db, a, ids[50], 0, 100, ids, 49, -1, 50, 0);
	check_page(fx->db, a, ids[0], 0, 100, ids, 0, -1, 0, 0);
	/* Exactly the rest: no more. */
	check_page(fx->db, a, ids[100], 0, 100, ids, 99, -1, 100, 0);
	check_page(fx->db, a, ids[101], 0, 100, ids, 100, -1, 100, 1);
	/* Forwards ("before" wins when both are given). */
	check_page(fx->db, a, 0, ids[0], 100, ids, 1, 1, 100, 1);
	check_page(fx->db, a, 0, ids[100], 100, ids, 101, 1, 100, 1);
	check_page(fx->db, a, 0, ids[200], 100, ids, 201, 1, 49, 0);
	check_page(fx->db, a, 0, ids[149], 100, ids, 150, 1, 100, 0);
	check_page(fx->db, a, 0, ids[148], 100, ids, 149, 1, 100, 1);
	check_page(fx->db, a, 0, ids[249], 100, ids, 0, 1, 0, 0);
	check_page(fx->db, a, 0, ids[0], 3, ids, 1, 1, 3, 1);
	check_page(fx->db, a, ids[10], ids[200], 5, ids, 9, -1, 5, 1);
	/* Limits clamped. */
	check_page(fx->db, a, 0, 0, 0, ids, 249, -1, 1, 1);
	check_page(fx->db, a, 0, 0, -9, ids, 249, -1, 1, 1);
	check_page(fx->db, a, 0, 0, 1000000, ids, 249, -1, 100, 1);
	/* Messages carry their text, in order. */
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 2, &l, &hm),
	    0);
	assert_string_equal(sget(json_array_get(l, 0), "message"), "m249");
	assert_string_equal(sget(json_array_get(l, 1), "message"), "m248");
	json_decref(l);
	/* Empty and unknown channels. */
	assert_int_equal(cf_store_messages_page(fx->db, e, 0, 0, 50, &l, &hm),
	    0);
	assert_int_equal(json_array_size(l), 0);
	assert_int_equal(hm, 0);
	json_decref(l);
	l = (json_t *)1;
	assert_int_equal(cf_store_messages_page(fx->db, 999, 0, 0, 50, &l,
	    &hm), -ENOENT);
	assert_null(l);
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 50, NULL,
	    &hm), -EINVAL);
	/* has_more may be NULL. */
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 50, &l,
	    NULL), 0);
	assert_int_equal(json_array_size(l), 50);
	json_decref(l);
}

static void
test_file_add(void **state)
{
	struct fx *fx = *state;
	json_t *m, *f, *l;
	int64_t a, id, plain;
	int hm;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A",
	    "report.pdf", "file", 0, NULL, T0, &m, NULL), 0);
	id = iget(m, "id");
	json_decref(m);
	plain = post(fx->db, a, "1", "plain", T0);

	assert_int_equal(cf_store_file_add(fx->db, id, "report.pdf", 12345,
	    "application/pdf", "1", T0), 0);
	assert_int_equal(cf_store_message_get(fx->db, id, &m), 0);
	f = json_object_get(m, "file");
	assert_true(json_is_object(f));
	assert_string_equal(sget(f, "fileName"), "report.pdf");
	assert_int_equal(iget(f, "fileSize"), 12345);
	assert_string_equal(sget(f, "fileType"), "application/pdf");
	assert_int_equal(json_object_size(f), 3);
	assert_string_equal(sget(m, "messageType"), "file");
	json_decref(m);

	/* Attached again: replaced, still one row. */
	assert_int_equal(cf_store_file_add(fx->db, id, "r2.pdf", 0,
	    "application/pdf", "1", T0), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_files"),
	    1);
	assert_int_equal(cf_store_message_get(fx->db, id, &m), 0);
	assert_string_equal(sget(json_object_get(m, "file"), "fileName"),
	    "r2.pdf");
	json_decref(m);

	/* In a page too; plain messages have none. */
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 10, &l, &hm),
	    0);
	assert_int_equal(json_array_size(l), 2);
	assert_int_equal(iget(json_array_get(l, 0), "id"), plain);
	assert_null(json_object_get(json_array_get(l, 0), "file"));
	assert_non_null(json_object_get(json_array_get(l, 1), "file"));
	json_decref(l);

	assert_int_equal(cf_store_file_add(fx->db, 999, "x", 1, "t", "1", T0),
	    -ENOENT);
	assert_int_equal(cf_store_file_add(fx->db, id, "x", -1, "t", "1", T0),
	    -EINVAL);
	assert_int_equal(cf_store_file_add(fx->db, id, NULL, 1, "t", "1", T0),
	    -EINVAL);
	assert_int_equal(cf_store_file_add(fx->db, id, "x", 1, NULL, "1", T0),
	    -EINVAL);
	assert_int_equal(cf_store_file_add(fx->db, id, "x", 1, "t", NULL, T0),
	    -EINVAL);
	assert_int_equal(cf_store_file_add(fx->db, id, "\xff", 1, "t", "1",
	    T0), -EINVAL);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_files"),
	    1);
}

static void
test_read_set(void **state)
{
	struct fx *fx = *state;
	int64_t a, b, e, m1, m2, m3, other, pos;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	e = mkchan(fx->db, "empty", 0, "1", NULL, 0);
	m1 = post(fx->db, a, "2", "1", T0);
	m2 = post(fx->db, a, "2", "2", T0);
	m3 = post(fx->db, a, "2", "3", T0);
	other = post(fx->db, b, "2", "x", T0);

	assert_int_equal(cf_store_read_set(fx->db, a, "1", m2, T0, &pos), 0);
	assert_true(pos == m2);
	/* Never backwards. */
	assert_int_equal(cf_store_read_set(fx->db, a, "1", m1, T0, &pos), 0);
	assert_true(pos == m2);
	assert_true(q64(fx->db, "SELECT last_read_message_id FROM"
	    " channel_members WHERE user_id = '1' AND channel_id = 1") == m2);
	/* 0 = the latest. */
	assert_int_equal(cf_store_read_set(fx->db, a, "1", 0, T0 + 3, &pos),
	    0);
	assert_true(pos == m3);
	assert_true(q64(fx->db, "SELECT last_read_at FROM channel_members"
	    " WHERE user_id = '1' AND channel_id = 1") == T0 + 3);
	assert_int_equal(cf_store_read_set(fx->db, a, "1", m1, T0, NULL), 0);
	/* Not a message of this channel, or none at all. */
	pos = -7;
	assert_int_equal(cf_store_read_set(fx->db, a, "1", other, T0, &pos),
	    -ENOENT);
	assert_true(pos == -7);
	assert_int_equal(cf_store_read_set(fx->db, a, "1", 9999, T0, &pos),
	    -ENOENT);
	assert_int_equal(cf_store_read_set(fx->db, a, "1", -3, T0, &pos),
	    -ENOENT);
	assert_int_equal(cf_store_read_set(fx->db, 999, "1", 0, T0, &pos),
	    -ENOENT);
	assert_true(q64(fx->db, "SELECT last_read_message_id FROM"
	    " channel_members WHERE user_id = '1' AND channel_id = 1") == m3);
	/* Empty channel: 0 stays 0. */
	assert_int_equal(cf_store_read_set(fx->db, e, "1", 0, T0, &pos), 0);
	assert_true(pos == 0);
	/* A non-member becomes one. */
	assert_int_equal(cf_store_is_member(fx->db, b, "5"), 0);
	assert_int_equal(cf_store_read_set(fx->db, b, "5", other, T0, &pos),
	    0);
	assert_true(pos == other);
	assert_int_equal(cf_store_is_member(fx->db, b, "5"), 1);
	assert_int_equal(cf_store_read_set(fx->db, b, NULL, 0, T0, &pos),
	    -EINVAL);
	assert_int_equal(cf_store_read_set(fx->db, b, "\xc1\xbf", 0, T0,
	    &pos), -EINVAL);
	/* Nothing left open: a plain write still works. */
	assert_int_equal(cf_db_idle(fx->db), 1);
}

/* ------------------------------------------------------------------ */
/* Presence and broadcasts                                            */
/* ------------------------------------------------------------------ */

/*
 * The statuses of many users in one statement (presence:get_online_users):
 * only those with a stored row, whatever the length of the list.
 */
static void
test_presence_statuses(void **state)
{
	struct fx *fx = *state;
	json_t *ids, *st = NULL;
	char id[32];
	int i;

	assert_int_equal(cf_store_presence_set(fx->db, "7", "away", NULL, NULL,
	    T0), 0);
	assert_int_equal(cf_store_presence_set(fx->db, "u'\"x", "busy", "m",
	    NULL, T0), 0);
	assert_int_equal(cf_store_presence_set(fx->db, "9", "online", NULL,
	    NULL, T0), 0);
	assert_int_equal(cf_store_presence_set(fx->db, "elsewhere", "busy",
	    NULL, NULL, T0), 0);
	assert_non_null(ids = json_array());
	assert_int_equal(cf_store_presence_statuses(fx->db, ids, &st), 0);
	assert_int_equal(json_object_size(st), 0);
	json_decref(st);
	for (i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "%d", i);
		json_array_append_new(ids, json_string(id));
	}
	json_array_append_new(ids, json_string("u'\"x"));
	assert_int_equal(cf_store_presence_statuses(fx->db, ids, &st), 0);
	assert_int_equal(json_object_size(st), 3);
	assert_string_equal(json_string_value(json_object_get(st, "7")),
	    "away");
	assert_string_equal(json_string_value(json_object_get(st, "u'\"x")),
	    "busy");
	assert_string_equal(json_string_value(json_object_get(st, "9")),
	    "online");
	assert_null(json_object_get(st, "elsewhere"));
	json_decref(st);
	assert_int_equal(cf_store_presence_statuses(fx->db, NULL, &st),
	    -EINVAL);
	assert_null(st);
	json_decref(ids);
}

static void
test_presence(void **state)
{
	struct fx *fx = *state;
	json_t *p;

	assert_int_equal(cf_store_presence_get(fx->db, "1", &p), 0);
	assert_string_equal(sget(p, "status"), "online");
	assert_true(json_is_null(json_object_get(p, "statusMessage")));
	assert_true(json_is_null(json_object_get(p, "customStatus")));
	assert_int_equal(json_object_size(p), 3);
	json_decref(p);

	assert_int_equal(cf_store_presence_set(fx->db, "1", "away", "lunch",
	    NULL, T0), 0);
	assert_int_equal(cf_store_presence_set(fx->db, "2", "busy", NULL,
	    "\xf0\x9f\x8e\xa7", T0), 0);
	/* Restored after a reopen (the next connect). */
	cf_db_close(fx->db);
	assert_non_null(fx->db = cf_db_open(fx->path));
	assert_int_equal(cf_store_presence_get(fx->db, "1", &p), 0);
	assert_string_equal(sget(p, "status"), "away");
	assert_string_equal(sget(p, "statusMessage"), "lunch");
	assert_true(json_is_null(json_object_get(p, "customStatus")));
	json_decref(p);
	assert_int_equal(cf_store_presence_get(fx->db, "2", &p), 0);
	assert_string_equal(sget(p, "status"), "busy");
	assert_string_equal(sget(p, "customStatus"), "\xf0\x9f\x8e\xa7");
	json_decref(p);
	/* Replaced entirely. */
	assert_int_equal(cf_store_presence_set(fx->db, "1", "offline", NULL,
	    NULL, T0 + 1), 0);
	assert_int_equal(cf_store_presence_get(fx->db, "1", &p), 0);
	assert_string_equal(sget(p, "status"), "offline");
	assert_true(json_is_null(json_object_get(p, "statusMessage")));
	json_decref(p);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM presence"), 2);

	assert_int_equal(cf_store_presence_set(fx->db, "1", "sleeping", NULL,
	    NULL, T0), -EINVAL);
	assert_int_equal(cf_store_presence_set(fx->db, "1", NULL, NULL, NULL,
	    T0), -EINVAL);
	assert_int_equal(cf_store_presence_set(fx->db, NULL, "away", NULL,
	    NULL, T0), -EINVAL);
	assert_int_equal(cf_store_presence_set(fx->db, "1", "away", "\xfe",
	    NULL, T0), -EINVAL);
	assert_int_equal(cf_store_presence_get(fx->db, "1", &p), 0);
	assert_string_equal(sget(p, "status"), "offline");
	json_decref(p);
	assert_int_equal(cf_store_presence_get(fx->db, "", &p), -EINVAL);
	assert_null(p);
	assert_int_equal(cf_store_presence_get(fx->db, "1", NULL), -EINVAL);
}

static void
test_broadcast(void **state)
{
	struct fx *fx = *state;
	int64_t id1 = 0, id2 = 0, id3 = 0;

	assert_int_equal(cf_store_broadcast_add(fx->db, "Maintenance", "high",
	    "1", "Admin", T0, &id1), 0);
	assert_int_equal(cf_store_broadcast_add(fx->db, "Hi", "normal", "1",
	    "Admin", T0, &id2), 0);
	assert_int_equal(cf_store_broadcast_add(fx->db, "Bye", "low", "u",
	    "Admin", T0, NULL), 0);
	assert_int_equal(cf_store_broadcast_add(fx->db, "Again", "low", "u",
	    "Admin", T0, &id3), 0);
	assert_true(id1 > 0);
	assert_true(id2 > id1);
	assert_true(id3 > id2 + 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM broadcasts WHERE"
	    " message = 'Maintenance' AND priority = 'high' AND from_user ="
	    " '1' AND from_name = 'Admin'"), 1);

	assert_int_equal(cf_store_broadcast_add(fx->db, "x", "urgent", "1",
	    "A", T0, &id1), -EINVAL);
	assert_int_equal(cf_store_broadcast_add(fx->db, NULL, "low", "1",
	    "A", T0, &id1), -EINVAL);
	assert_int_equal(cf_store_broadcast_add(fx->db, "x", NULL, "1", "A",
	    T0, &id1), -EINVAL);
	assert_int_equal(cf_store_broadcast_add(fx->db, "x", "low", "", "A",
	    T0, &id1), -EINVAL);
	assert_int_equal(cf_store_broadcast_add(fx->db, "x", "low", "1", NULL,
	    T0, &id1), -EINVAL);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM broadcasts"), 4);
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

/* A call that must be created with the given busy outcome; its id. */
static int64_t
mkcall(struct cf_db *db, const char *caller, const char *callee, int64_t now,
    int want_busy)
{
	struct cf_call c;
	int busy = -1;

	assert_int_equal(cf_store_call_create(db, caller, callee, "audio",
	    "sockA", now, 0, 0, &c, &busy), 0);
	assert_int_equal(busy, want_busy);
	assert_true(c.id > 0);
	assert_string_equal(c.status, want_busy ? "busy" : "ringing");
	return (c.id);
}

/* The status of call id, as stored. */
static const char *
call_status(struct cf_db *db, int64_t id)
{
	static struct cf_call c;

	assert_int_equal(cf_store_call_get(db, id, &c), 0);
	return (c.status);
}

static void
test_call_create(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	char big[80];
	int64_t ab;
	int busy;

	busy = -1;
	assert_int_equal(cf_store_call_create(fx->db, "1", "2", "video",
	    "sock-1", T0, 0, 0, &c, &busy), 0);
	assert_int_equal(busy, 0);
	ab = c.id;
	assert_true(ab > 0);
	assert_string_equal(c.caller, "1");
	assert_string_equal(c.callee, "2");
	assert_string_equal(c.type, "video");
	assert_string_equal(c.status, "ringing");
	assert_string_equal(c.caller_sock, "sock-1");
	assert_string_equal(c.callee_sock, "");
	assert_true(c.started_at == T0);
	assert_true(c.answered_at == 0);
	assert_true(c.ended_at == 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status = 'ringing' AND ended_at IS NULL AND answered_at IS NULL"
	    " AND duration_ms IS NULL AND callee_sock IS NULL AND"
	    " caller_sock = 'sock-1'"), 1);

	/* The callee of a ringing call is busy for a new caller. */
	busy = -1;
	assert_int_equal(cf_store_call_create(fx->db, "3", "2", "audio",
	    "sock-3", T0 + 1, 0, 0, &c, &busy), 0);
	assert_int_equal(busy, 1);
	assert_true(c.id > ab);
	assert_string_equal(c.status, "busy");
	assert_string_equal(c.caller, "3");
	assert_true(c.started_at == T0 + 1);
	assert_true(c.ended_at == T0 + 1);
	assert_true(c.answered_at == 0);
	/* So is the caller of a ringing call, for anyone. */
	mkcall(fx->db, "4", "1", T0 + 2, 1);
	mkcall(fx->db, "1", "4", T0 + 2, 1);
	/* And its callee, placing a call itself. */
	mkcall(fx->db, "2", "5", T0 + 2, 1);
	/* Busy rows do not make anyone busy: 3, 4 and 5 are free. */
	mkcall(fx->db, "3", "4", T0 + 3, 0);
	mkcall(fx->db, "5", "6", T0 + 3, 0);
	/* An active call keeps both busy. */
	assert_int_equal(cf_store_call_transition(fx->db, ab, "ringing",
	    "active", "sock-2", T0 + 4, NULL), 0);
	mkcall(fx->db, "7", "2", T0 + 5, 1);
	mkcall(fx->db, "1", "7", T0 + 5, 1);
	/* Once it ended, both are free again. */
	assert_int_equal(cf_store_call_transition(fx->db, ab, "active",
	    "ended", NULL, T0 + 6, NULL), 0);
	mkcall(fx->db, "7", "1", T0 + 7, 0);
	mkcall(fx->db, "2", "8", T0 + 7, 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls"), 11);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status = 'busy' AND ended_at = started_at"), 6);

	/* busy may be NULL; a NULL socket is stored as NULL, read as "". */
	assert_int_equal(cf_store_call_create(fx->db, "9", "10", "audio",
	    NULL, T0, 0, 0, &c, NULL), 0);
	assert_string_equal(c.caller_sock, "");
	assert_string_equal(c.status, "ringing");

	/* Bad arguments change nothing and zero the outputs. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	busy = 7;
	memset(&c, 0xff, sizeof(c));
	assert_int_equal(cf_store_call_create(fx->db, "11", "11", "audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(busy, 0);
	assert_true(c.id == 0);
	assert_string_equal(c.status, "");
	assert_int_equal(cf_store_call_create(fx->db, "", "12", "audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "11", NULL, "audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", "screen",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", "Audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", NULL,
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, big, "12", "audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	big[64] = '\0';
	assert_int_equal(cf_store_call_create(fx->db, "11", big, "audio",
	    "s", T0, 0, 0, &c, &busy), -EINVAL);
	big[32] = '\0';
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", "audio",
	    big, T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "\xff\xfe", "12",
	    "audio", "s", T0, 0, 0, &c, &busy), -EINVAL);
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", "audio",
	    "s", T0, 0, 0, NULL, &busy), -EINVAL);
	assert_int_equal(cf_db_idle(fx->db), 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls"), 12);
	/* The longest ids that fit are kept whole. */
	big[31] = '\0';
	assert_int_equal(cf_store_call_create(fx->db, "11", "12", "audio",
	    big, T0, 0, 0, &c, &busy), 0);
	assert_string_equal(c.caller_sock, big);
	memset(big, 'y', 63);
	big[63] = '\0';
	assert_int_equal(cf_store_call_create(fx->db, big, "13", "audio",
	    NULL, T0, 0, 0, &c, &busy), 0);
	assert_string_equal(c.caller, big);
	assert_int_equal(busy, 0);
}

/* Busy calls are recorded only within the caller's limit. */
static void
test_call_busy_limit(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	int busy, i;

	/* 2 rings 3: 3 is busy for 1 from now on. */
	assert_int_equal(cf_store_call_create(fx->db, "2", "3", "audio", "s2",
	    T0, T0 - 60000, 3, &c, &busy), 0);
	assert_int_equal(busy, 0);
	for (i = 0; i < 3; i++) {
		busy = -1;
		assert_int_equal(cf_store_call_create(fx->db, "1", "3",
		    "audio", "s1", T0 + i, T0 + i - 60000, 3, &c, &busy), 0);
		assert_int_equal(busy, 1);
		assert_string_equal(c.status, "busy");
	}
	busy = -1;
	assert_int_equal(cf_store_call_create(fx->db, "1", "3", "audio", "s1",
	    T0 + 5, T0 + 5 - 60000, 3, &c, &busy), -EAGAIN);
	assert_int_equal(busy, 1);
	assert_true(c.id == 0);
	assert_true(cf_db_idle(fx->db));
	/* Without a limit, or out of the window: recorded. */
	assert_int_equal(cf_store_call_create(fx->db, "1", "3", "audio", "s1",
	    T0 + 6, 0, 0, &c, &busy), 0);
	assert_int_equal(busy, 1);
	assert_int_equal(cf_store_call_create(fx->db, "1", "3", "audio", "s1",
	    T0 + 60010, T0 + 10, 3, &c, &busy), 0);
	assert_int_equal(busy, 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " callee_id = '3' AND status = 'busy'"), 5);
	/* The limit never refuses a call that rings. */
	assert_int_equal(cf_store_call_create(fx->db, "1", "4", "audio", "s1",
	    T0 + 60011, T0 + 11, 1, &c, &busy), 0);
	assert_int_equal(busy, 0);
	assert_string_equal(c.status, "ringing");
}

static void
test_call_missed(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;

	assert_int_equal(cf_store_call_missed(fx->db, "1", "2", "video", T0,
	    &c), 0);
	assert_true(c.id > 0);
	assert_string_equal(c.status, "missed");
	assert_string_equal(c.type, "video");
	assert_string_equal(c.caller, "1");
	assert_string_equal(c.callee, "2");
	assert_string_equal(c.caller_sock, "");
	assert_true(c.started_at == T0);
	assert_true(c.ended_at == T0);
	assert_true(c.answered_at == 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status = 'missed' AND duration_ms IS NULL AND answered_at IS"
	    " NULL AND ended_at = started_at"), 1);
	/* A missed call does not make anyone busy. */
	mkcall(fx->db, "1", "2", T0 + 1, 0);
	/* Even while the two are in a call, a missed call is recorded. */
	assert_int_equal(cf_store_call_missed(fx->db, "2", "1", "audio",
	    T0 + 2, &c), 0);
	assert_string_equal(c.status, "missed");

	assert_int_equal(cf_store_call_missed(NULL, "1", "2", "audio", T0,
	    &c), -EINVAL);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "2", "audio", T0,
	    NULL), -EINVAL);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "1", "audio", T0,
	    &c), -EINVAL);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "", "audio", T0,
	    &c), -EINVAL);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "2", "", T0,
	    &c), -EINVAL);
	assert_true(c.id == 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls"), 3);
}

static void
test_call_missed_known(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	int i;

	assert_int_equal(cf_store_user_upsert(fx->db, "2", "Bob", "user", T0),
	    0);
	/* An unknown callee gets nothing. */
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "nobody",
	    "audio", T0, T0 - 60000, 3, &c), -ENOENT);
	assert_true(c.id == 0);
	/* A known one: max calls within the window, then nothing. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(cf_store_call_missed_known(fx->db, "1", "2",
		    "video", T0 + i, T0 + i - 60000, 3, &c), 0);
		assert_string_equal(c.status, "missed");
		assert_string_equal(c.callee, "2");
		assert_true(c.started_at == T0 + i && c.ended_at == T0 + i);
	}
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "2", "video",
	    T0 + 10, T0 + 10 - 60000, 3, &c), -ENOENT);
	/* Another caller has its own allowance. */
	assert_int_equal(cf_store_call_missed_known(fx->db, "3", "2", "audio",
	    T0 + 10, T0 + 10 - 60000, 3, &c), 0);
	/* Once the oldest of the three is out of the window: one more. */
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "2", "audio",
	    T0 + 60000, T0, 3, &c), -ENOENT);
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "2", "audio",
	    T0 + 60001, T0 + 1, 3, &c), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " callee_id = '2' AND status = 'missed'"), 5);
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "2", "audio",
	    T0, T0, 0, &c), -EINVAL);
	assert_int_equal(cf_store_call_missed_known(fx->db, "1", "1", "audio",
	    T0, T0, 3, &c), -EINVAL);
}

static void
test_call_get(void **state)
{
	struct fx *fx = *state;
	struct cf_call c, d;
	int64_t id;

	id = mkcall(fx->db, "1", "2", T0, 0);
	assert_int_equal(cf_store_call_get(fx->db, id, &c), 0);
	assert_true(c.id == id);
	assert_string_equal(c.caller, "1");
	assert_string_equal(c.callee, "2");
	assert_string_equal(c.type, "audio");
	assert_string_equal(c.status, "ringing");
	assert_string_equal(c.caller_sock, "sockA");
	memset(&d, 0x55, sizeof(d));
	assert_int_equal(cf_store_call_get(fx->db, id + 1, &d), -ENOENT);
	assert_true(d.id == 0);
	assert_string_equal(d.caller, "");
	assert_int_equal(cf_store_call_get(fx->db, 0, &d), -ENOENT);
	assert_int_equal(cf_store_call_get(fx->db, -1, &d), -ENOENT);
	assert_int_equal(cf_store_call_get(fx->db, id, NULL), -EINVAL);
	assert_int_equal(cf_store_call_get(NULL, id, &d), -EINVAL);
}

/* Where a row of the transition table starts from (trans_call()). */
enum trans_start {
	T_NONE,		/* an id no call has */
	T_RINGING,	/* a new call */
	T_ACTIVE,	/* accepted by "tab-2" at T0 + 1500 */
	T_ENDED,	/* that, ended at T0 + 61500 */
	T_BUSY		/* refused as busy by a ringing call to the callee */
};

/* Who moves the call. */
enum trans_actor {
	A_SAME,		/* the fixture's connection */
	A_OTHER,	/* a second connection to the same database */
	A_NODB		/* a NULL handle */
};

#define NUL	(-1)	/* an SQL NULL in the expected columns */
#define SOCK31	"sssssssssssssssssssssssssssssss"	/* fits */
#define SOCK32	SOCK31 "s"				/* does not */

/*
 * One cf_store_call_transition on a call of its own: from `start`, the
 * move from -> to with sock at T0 + at, the row returned (out) or not,
 * answers rc; the stored call is then in `status` with callee_sock,
 * answered_at and ended_at (ms after T0) and duration_ms as given (NUL:
 * NULL), so a refused move changed nothing.
 */
static const struct trans_case {
	enum trans_start start;
	enum trans_actor actor;
	const char	*from, *to, *sock;
	int64_t		 at;
	int		 out, rc;
	const char	*status, *callee_sock;
	int64_t		 answered, ended, duration;
} trans_cases[] = {
	/* Accept: answered_at and the callee's socket. */
	{ T_RINGING, A_SAME, "ringing", "active", "tab-2", 1500, 1, 0,
	    "active", "tab-2", 1500, NUL, NUL },
	/* A second accept, or a reject, from another connection loses. */
	{ T_ACTIVE, A_OTHER, "ringing", "active", "tab-3", 1600, 1, -EALREADY,
	    "active", "tab-2", 1500, NUL, NUL },
	{ T_ACTIVE, A_OTHER, "ringing", "rejected", NULL, 1600, 0, -EALREADY,
	    "active", "tab-2", 1500, NUL, NUL },
	/* End: ended_at and the duration since the answer. */
	{ T_ACTIVE, A_SAME, "active", "ended", "ignored", 61500, 1, 0,
	    "ended", "tab-2", 1500, 61500, 60000 },
	{ T_ENDED, A_SAME, "active", "ended", NULL, 70000, 1, -EALREADY,
	    "ended", "tab-2", 1500, 61500, 60000 },
	/* A clock that went back gives a zero duration, not a negative. */
	{ T_ACTIVE, A_SAME, "active", "ended", NULL, 40, 1, 0,
	    "ended", "tab-2", 1500, 40, 0 },
	/* Unknown call. */
	{ T_NONE, A_SAME, "ringing", "active", "x", 0, 1, -ENOENT,
	    NULL, NULL, NUL, NUL, NUL },
	{ T_NONE, A_SAME, "active", "ended", NULL, 0, 0, -ENOENT,
	    NULL, NULL, NUL, NUL, NUL },
	/* Reject, cancel (missed) and end while ringing: no duration. */
	{ T_RINGING, A_SAME, "ringing", "rejected", NULL, 10, 1, 0,
	    "rejected", "", NUL, 10, NUL },
	{ T_RINGING, A_SAME, "ringing", "missed", NULL, 20, 1, 0,
	    "missed", "", NUL, 20, NUL },
	{ T_RINGING, A_SAME, "ringing", "ended", NULL, 30, 1, 0,
	    "ended", "", NUL, 30, NUL },
	/* An end of an active call, on a ringing one: moved on already. */
	{ T_RINGING, A_SAME, "active", "ended", NULL, 5, 1, -EALREADY,
	    "ringing", "", NUL, NUL, NUL },
	/* Moves that are not allowed, whatever the call's state. */
	{ T_RINGING, A_SAME, "ringing", "ringing", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", "busy", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "active", "active", "s", 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "active", "missed", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "active", "rejected", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "active", "ringing", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ended", "active", "s", 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "missed", "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "busy", "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "rejected", "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", "over", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "Ringing", "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, NULL, "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", NULL, NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_NODB, "ringing", "ended", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	/* Accepting needs a socket id that fits (and is UTF-8). */
	{ T_RINGING, A_SAME, "ringing", "active", NULL, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", "active", SOCK32, 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", "active", "\xc0\x80", 0, 1, -EINVAL,
	    "ringing", "", NUL, NUL, NUL },
	{ T_RINGING, A_SAME, "ringing", "active", SOCK31, 100, 1, 0,
	    "active", SOCK31, 100, NUL, NUL },
	/* A busy call cannot be moved at all. */
	{ T_BUSY, A_SAME, "ringing", "active", "s", 0, 1, -EALREADY,
	    "busy", "", NUL, 0, NUL },
};

/*
 * The call a row of trans_cases starts from, between users of its own (so
 * that no row's call is busy because of another row's): its id, or an id
 * no call has for T_NONE.  *blocker: for T_BUSY the ringing call that
 * made it busy, else 0.
 */
static int64_t
trans_call(struct cf_db *db, enum trans_start start, size_t row,
    int64_t *blocker)
{
	char caller[16], callee[16], other[16];
	int64_t id;

	*blocker = 0;
	snprintf(caller, sizeof(caller), "a%zu", row);
	snprintf(callee, sizeof(callee), "b%zu", row);
	snprintf(other, sizeof(other), "c%zu", row);
	if (start == T_NONE)
		return (q64(db,
		    "SELECT coalesce(max(id), 0) + 100 FROM calls"));
	if (start == T_BUSY) {
		*blocker = mkcall(db, other, callee, T0, 0);
		return (mkcall(db, caller, callee, T0, 1));
	}
	id = mkcall(db, caller, callee, T0, 0);
	if (start == T_ACTIVE || start == T_ENDED)
		assert_int_equal(cf_store_call_transition(db, id, "ringing",
		    "active", "tab-2", T0 + 1500, NULL), 0);
	if (start == T_ENDED)
		assert_int_equal(cf_store_call_transition(db, id, "active",
		    "ended", NULL, T0 + 61500, NULL), 0);
	return (id);
}

/* A time column of struct cf_call as a trans_cases value. */
static int64_t
trans_ms(int64_t v)
{
	return (v == 0 ? NUL : v - T0);
}

#define TRANS_EXPECT(cond) do {						\
	if (!(cond))							\
		fail_msg("trans_cases[%zu]: %s", i, #cond);		\
} while (0)

static void
test_call_transition(void **state)
{
	struct fx *fx = *state;
	const struct trans_case *tc;
	struct cf_call c, s;
	struct cf_db *db;
	char sql[96];
	int64_t id, blocker;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(trans_cases) / sizeof(trans_cases[0]); i++) {
		tc = &trans_cases[i];
		id = trans_call(fx->db, tc->start, i, &blocker);
		db = tc->actor == A_SAME ? fx->db : NULL;
		if (tc->actor == A_OTHER)
			assert_non_null(db = cf_db_open(fx->path));
		memset(&c, 0x55, sizeof(c));
		rc = cf_store_call_transition(db, id, tc->from, tc->to,
		    tc->sock, T0 + tc->at, tc->out ? &c : NULL);
		if (rc != tc->rc)
			fail_msg("trans_cases[%zu]: %d, not %d", i, rc, tc->rc);
		if (tc->actor == A_OTHER) {
			TRANS_EXPECT(cf_db_idle(db) == 1);
			cf_db_close(db);
		}
		TRANS_EXPECT(cf_db_idle(fx->db) == 1);
		/* A refused move returns a zeroed row. */
		if (tc->out && rc != 0)
			TRANS_EXPECT(c.id == 0 && c.caller[0] == '\0' &&
			    c.status[0] == '\0');
		if (tc->start == T_NONE) {
			TRANS_EXPECT(cf_store_call_get(fx->db, id, &s) ==
			    -ENOENT);
			continue;
		}
		/* The call as stored, and as returned. */
		TRANS_EXPECT(cf_store_call_get(fx->db, id, &s) == 0);
		TRANS_EXPECT(strcmp(s.status, tc->status) == 0);
		TRANS_EXPECT(strcmp(s.callee_sock, tc->callee_sock) == 0);
		TRANS_EXPECT(strcmp(s.caller_sock, "sockA") == 0);
		TRANS_EXPECT(trans_ms(s.answered_at) == tc->answered);
		TRANS_EXPECT(trans_ms(s.ended_at) == tc->ended);
		snprintf(sql, sizeof(sql), "SELECT coalesce(duration_ms, %d)"
		    " FROM calls WHERE id = %lld", NUL, (long long)id);
		TRANS_EXPECT(q64(fx->db, sql) == tc->duration);
		if (tc->out && rc == 0)
			TRANS_EXPECT(c.id == id &&
			    strcmp(c.status, s.status) == 0 &&
			    strcmp(c.callee_sock, s.callee_sock) == 0 &&
			    strcmp(c.caller_sock, s.caller_sock) == 0 &&
			    c.answered_at == s.answered_at &&
			    c.ended_at == s.ended_at);
		/* The busy call's refusal left the call it met alone. */
		if (blocker != 0)
			TRANS_EXPECT(strcmp(call_status(fx->db, blocker),
			    "ringing") == 0);
	}
}

#undef TRANS_EXPECT

static void
test_call_between(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	int64_t id, newer;

	memset(&c, 0x55, sizeof(c));
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", &c), -ENOENT);
	assert_true(c.id == 0);
	id = mkcall(fx->db, "1", "2", T0, 0);
	mkcall(fx->db, "3", "4", T0, 0);
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", &c), 0);
	assert_true(c.id == id);
	assert_string_equal(c.caller, "1");
	assert_int_equal(cf_store_call_between(fx->db, "2", "1", &c), 0);
	assert_true(c.id == id);
	assert_string_equal(c.caller, "1");
	assert_int_equal(cf_store_call_between(fx->db, "1", "3", &c), -ENOENT);
	assert_int_equal(cf_store_call_between(fx->db, "2", "4", &c), -ENOENT);
	assert_int_equal(cf_store_call_between(fx->db, "1", "1", &c), -ENOENT);
	/* Active counts; busy, missed and ended do not. */
	assert_int_equal(cf_store_call_transition(fx->db, id, "ringing",
	    "active", "t", T0 + 1, NULL), 0);
	mkcall(fx->db, "2", "1", T0 + 2, 1);
	assert_int_equal(cf_store_call_between(fx->db, "2", "1", &c), 0);
	assert_true(c.id == id);
	assert_string_equal(c.status, "active");
	assert_int_equal(cf_store_call_transition(fx->db, id, "active",
	    "ended", NULL, T0 + 3, NULL), 0);
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", &c), -ENOENT);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "2", "audio", T0,
	    &c), 0);
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", &c), -ENOENT);
	/* Several live (only possible behind the busy rule's back): newest. */
	xexec(fx->db, "INSERT INTO calls(caller_id,"
	    " callee_id, call_type, status, started_at) VALUES ('2', '1',"
	    " 'video', 'ringing', 5), ('1', '2', 'audio', 'active', 6)");
	newer = q64(fx->db, "SELECT max(id) FROM calls");
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", &c), 0);
	assert_true(c.id == newer);
	assert_string_equal(c.status, "active");

	assert_int_equal(cf_store_call_between(fx->db, "1", "", &c), -EINVAL);
	assert_int_equal(cf_store_call_between(fx->db, NULL, "2", &c),
	    -EINVAL);
	assert_int_equal(cf_store_call_between(fx->db, "1", "2", NULL),
	    -EINVAL);
	assert_int_equal(cf_store_call_between(NULL, "1", "2", &c), -EINVAL);
	assert_int_equal(cf_store_call_between(fx->db, "1", "\xff", &c),
	    -EINVAL);
}

/* The ids of a history page, checked newest first; their count. */
static size_t
history_ids(struct cf_db *db, const char *uid, int64_t before, int limit,
    int64_t *ids, size_t max)
{
	json_t *arr, *c;
	size_t i;

	assert_int_equal(cf_store_call_history(db, uid, before, limit, &arr),
	    0);
	assert_true(json_is_array(arr));
	assert_true(json_array_size(arr) <= max);
	json_array_foreach(arr, i, c) {
		ids[i] = iget(c, "id");
		if (i > 0)
			assert_true(ids[i] < ids[i - 1]);
	}
	i = json_array_size(arr);
	json_decref(arr);
	return (i);
}

static void
test_call_history(void **state)
{
	struct fx *fx = *state;
	static const char *const keys[] = { "id", "callerId", "calleeId",
	    "callType", "status", "startedAt", "answeredAt", "endedAt",
	    "durationMs" };
	struct cf_call c;
	json_t *arr, *o;
	int64_t a, b, ids[128];
	size_t i, n;

	/* Shape: an answered and ended call, then one still ringing. */
	assert_int_equal(cf_store_call_create(fx->db, "1", "alice", "video",
	    "s1", T0, 0, 0, &c, NULL), 0);
	a = c.id;
	assert_int_equal(cf_store_call_transition(fx->db, a, "ringing",
	    "active", "s2", T0 + 1000, NULL), 0);
	assert_int_equal(cf_store_call_transition(fx->db, a, "active",
	    "ended", NULL, T0 + 3500, NULL), 0);
	b = mkcall(fx->db, "2", "1", T0 + 5000, 0);
	assert_int_equal(cf_store_call_history(fx->db, "1", 0, 50, &arr), 0);
	assert_int_equal(json_array_size(arr), 2);
	o = json_array_get(arr, 1);
	assert_int_equal(json_object_size(o), 9);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_non_null(json_object_get(o, keys[i]));
	assert_true(iget(o, "id") == a);
	assert_int_equal(iget(o, "callerId"), 1);
	assert_string_equal(sget(o, "calleeId"), "alice");
	assert_string_equal(sget(o, "callType"), "video");
	assert_string_equal(sget(o, "status"), "ended");
	assert_string_equal(sget(o, "startedAt"), "2026-11-26T20:12:18.123Z");
	assert_string_equal(sget(o, "answeredAt"),
	    "2026-11-26T20:12:19.123Z");
	assert_string_equal(sget(o, "endedAt"), "2026-11-26T20:12:21.623Z");
	assert_int_equal(iget(o, "durationMs"), 2500);
	o = json_array_get(arr, 0);
	assert_int_equal(json_object_size(o), 9);
	assert_true(iget(o, "id") == b);
	assert_int_equal(iget(o, "callerId"), 2);
	assert_int_equal(iget(o, "calleeId"), 1);
	assert_string_equal(sget(o, "callType"), "audio");
	assert_string_equal(sget(o, "status"), "ringing");
	assert_string_equal(sget(o, "startedAt"), "2026-11-26T20:12:23.123Z");
	assert_true(json_is_null(json_object_get(o, "answeredAt")));
	assert_true(json_is_null(json_object_get(o, "endedAt")));
	assert_true(json_is_null(json_object_get(o, "durationMs")));
	json_decref(arr);
	/* The other party sees the first call only; strangers nothing. */
	assert_int_equal(history_ids(fx->db, "alice", 0, 50, ids, 128), 1);
	assert_true(ids[0] == a);
	assert_int_equal(history_ids(fx->db, "nobody", 0, 50, ids, 128), 0);
	/* A busy call is in both users' history, ended without duration. */
	assert_int_equal(cf_store_call_create(fx->db, "alice", "2", "audio",
	    "s3", T0 + 6000, 0, 0, &c, NULL), 0);
	assert_string_equal(c.status, "busy");
	assert_int_equal(cf_store_call_history(fx->db, "alice", 0, 1, &arr),
	    0);
	assert_int_equal(json_array_size(arr), 1);
	o = json_array_get(arr, 0);
	assert_string_equal(sget(o, "status"), "busy");
	assert_string_equal(sget(o, "endedAt"), sget(o, "startedAt"));
	assert_true(json_is_null(json_object_get(o, "answeredAt")));
	assert_true(json_is_null(json_object_get(o, "durationMs")));
	json_decref(arr);

	/* Paging and limits over 120 more calls of user 9. */
	for (i = 0; i < 120; i++)
		assert_int_equal(cf_store_call_missed(fx->db, i % 2 ? "9" : "8",
		    i % 2 ? "8" : "9", "audio", T0 + (int64_t)i, &c), 0);
	n = history_ids(fx->db, "9", 0, 1000, ids, 128);
	assert_int_equal(n, 100);
	assert_true(ids[0] == c.id);
	assert_true(ids[99] == c.id - 99);
	assert_int_equal(history_ids(fx->db, "9", 0, 0, ids, 128), 1);
	assert_true(ids[0] == c.id);
	assert_int_equal(history_ids(fx->db, "9", 0, -5, ids, 128), 1);
	assert_int_equal(history_ids(fx->db, "9", -3, 10, ids, 128), 10);
	assert_true(ids[0] == c.id);
	n = history_ids(fx->db, "9", c.id - 99, 100, ids, 128);
	assert_int_equal(n, 20);
	assert_true(ids[0] == c.id - 100);
	assert_true(ids[19] == c.id - 119);
	assert_int_equal(history_ids(fx->db, "9", c.id - 119, 100, ids, 128),
	    0);
	assert_int_equal(history_ids(fx->db, "9", c.id - 10, 3, ids, 128), 3);
	assert_true(ids[0] == c.id - 11);
	assert_true(ids[2] == c.id - 13);
	/* Before an id beyond the newest is the same as from the newest. */
	assert_int_equal(history_ids(fx->db, "9", INT64_MAX, 2, ids, 128), 2);
	assert_true(ids[0] == c.id);

	arr = (json_t *)1;
	assert_int_equal(cf_store_call_history(fx->db, "", 0, 10, &arr),
	    -EINVAL);
	assert_null(arr);
	assert_int_equal(cf_store_call_history(fx->db, NULL, 0, 10, &arr),
	    -EINVAL);
	assert_int_equal(cf_store_call_history(fx->db, "\xff", 0, 10, &arr),
	    -EINVAL);
	assert_null(arr);
	assert_int_equal(cf_store_call_history(fx->db, "1", 0, 10, NULL),
	    -EINVAL);
	assert_int_equal(cf_store_call_history(NULL, "1", 0, 10, &arr),
	    -EINVAL);
}

struct seen {
	struct cf_call	 calls[16];
	int		 n;
	struct cf_db	*db;		/* when set, end each call seen */
};

static void
record_call(void *arg, const struct cf_call *c)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->calls[s->n++] = *c;
	if (s->db != NULL)
		assert_int_equal(cf_store_call_transition(s->db, c->id,
		    c->status, "ended", NULL, T0 + 99, NULL), 0);
}

static void
test_call_sweep(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	struct seen s;
	char sql[160];
	int64_t old1, old2, fresh, act;

	old1 = mkcall(fx->db, "1", "2", T0, 0);
	old2 = mkcall(fx->db, "3", "4", T0 + 10, 0);
	fresh = mkcall(fx->db, "5", "6", T0 + 20, 0);
	act = mkcall(fx->db, "7", "8", T0, 0);
	assert_int_equal(cf_store_call_transition(fx->db, act, "ringing",
	    "active", "s", T0 + 1, NULL), 0);
	mkcall(fx->db, "9", "1", T0, 1);
	assert_int_equal(cf_store_call_missed(fx->db, "9", "10", "audio", T0,
	    &c), 0);

	/* Nothing started before T0. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(cf_store_call_sweep_ringing(fx->db, T0, T0 + 45000,
	    record_call, &s), 0);
	assert_int_equal(s.n, 0);
	/* started_at < deadline: old1 and old2, not fresh (== deadline). */
	assert_int_equal(cf_store_call_sweep_ringing(fx->db, T0 + 20,
	    T0 + 45000, record_call, &s), 2);
	assert_int_equal(s.n, 2);
	assert_true(s.calls[0].id == old1);
	assert_true(s.calls[1].id == old2);
	assert_string_equal(s.calls[0].status, "missed");
	assert_true(s.calls[0].ended_at == T0 + 45000);
	assert_true(s.calls[0].started_at == T0);
	assert_true(s.calls[0].answered_at == 0);
	assert_string_equal(s.calls[1].caller, "3");
	assert_string_equal(s.calls[1].callee, "4");
	assert_string_equal(s.calls[1].caller_sock, "sockA");
	assert_string_equal(call_status(fx->db, old1), "missed");
	assert_string_equal(call_status(fx->db, old2), "missed");
	assert_string_equal(call_status(fx->db, fresh), "ringing");
	assert_string_equal(call_status(fx->db, act), "active");
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM calls WHERE status ="
	    " 'missed' AND ended_at = %lld AND duration_ms IS NULL",
	    T0 + 45000);
	assert_int_equal(q64(fx->db, sql), 2);
	/* A second sweep finds nothing new; fn may be NULL. */
	assert_int_equal(cf_store_call_sweep_ringing(fx->db, T0 + 20,
	    T0 + 46000, NULL, NULL), 0);
	assert_int_equal(cf_store_call_sweep_ringing(fx->db, T0 + 21,
	    T0 + 46000, NULL, NULL), 1);
	assert_string_equal(call_status(fx->db, fresh), "missed");
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status = 'ringing'"), 0);
	assert_string_equal(call_status(fx->db, act), "active");
	/* The swept callees are free again. */
	mkcall(fx->db, "2", "1", T0 + 50000, 0);
	assert_int_equal(cf_store_call_sweep_ringing(NULL, T0, T0, NULL,
	    NULL), -EINVAL);
}

static void
test_call_live(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	struct seen s;
	int64_t r, a;

	memset(&s, 0, sizeof(s));
	assert_int_equal(cf_store_call_live(fx->db, record_call, &s), 0);
	assert_int_equal(s.n, 0);
	r = mkcall(fx->db, "1", "2", T0, 0);
	a = mkcall(fx->db, "3", "4", T0, 0);
	assert_int_equal(cf_store_call_transition(fx->db, a, "ringing",
	    "active", "t4", T0 + 1, NULL), 0);
	mkcall(fx->db, "5", "1", T0, 1);
	assert_int_equal(cf_store_call_missed(fx->db, "5", "6", "video", T0,
	    &c), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cf_store_call_live(fx->db, record_call, &s), 0);
	assert_int_equal(s.n, 2);
	assert_true(s.calls[0].id == r);
	assert_string_equal(s.calls[0].status, "ringing");
	assert_true(s.calls[1].id == a);
	assert_string_equal(s.calls[1].status, "active");
	assert_string_equal(s.calls[1].callee_sock, "t4");
	assert_true(s.calls[1].answered_at == T0 + 1);
	/* fn may end each call through the same connection. */
	memset(&s, 0, sizeof(s));
	s.db = fx->db;
	assert_int_equal(cf_store_call_live(fx->db, record_call, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(call_status(fx->db, r), "ended");
	assert_string_equal(call_status(fx->db, a), "ended");
	assert_int_equal(q64(fx->db, "SELECT duration_ms FROM calls WHERE"
	    " callee_sock = 't4'"), 98);
	memset(&s, 0, sizeof(s));
	assert_int_equal(cf_store_call_live(fx->db, record_call, &s), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(cf_store_call_live(fx->db, NULL, NULL), -EINVAL);
	assert_int_equal(cf_store_call_live(NULL, record_call, &s), -EINVAL);
}

/*
 * A version-2 database with calls and a channel is brought to 4, its rows
 * kept: the calls get their socket columns (3), the channel is not
 * archived (4).
 */
static void
test_call_migration(void **state)
{
	struct fx *fx = *state;
	struct cf_call c;
	char p[160], q[176];
	json_t *arr;
	struct cf_db *raw;
	sqlite3 *lite;

	snprintf(p, sizeof(p), "%s/v2.db", fx->dir);
	assert_int_equal(sqlite3_open(p, &lite), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lite,
	    "CREATE TABLE calls ("
	    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	    "  caller_id TEXT NOT NULL, callee_id TEXT NOT NULL,"
	    "  call_type TEXT NOT NULL, status TEXT NOT NULL,"
	    "  started_at INTEGER NOT NULL, answered_at INTEGER,"
	    "  ended_at INTEGER, duration_ms INTEGER) STRICT;"
	    "CREATE INDEX calls_caller ON calls(caller_id, id);"
	    "CREATE INDEX calls_callee ON calls(callee_id, id);"
	    "INSERT INTO calls VALUES (1, '1', '2', 'audio', 'ended', 100,"
	    "  200, 1200, 1000), (2, '2', '1', 'video', 'ringing', 300,"
	    "  NULL, NULL, NULL), (7, '3', '1', 'audio', 'missed', 400, NULL,"
	    "  400, NULL);"
	    "CREATE TABLE channels (id INTEGER PRIMARY KEY, name TEXT) STRICT;"
	    "INSERT INTO channels VALUES (5, 'old');"
	    "CREATE TABLE channel_members (channel_id INTEGER NOT NULL,"
	    "  user_id TEXT NOT NULL, PRIMARY KEY (channel_id, user_id))"
	    "  STRICT;"
	    "CREATE TABLE messages (id INTEGER PRIMARY KEY, reply_to_id"
	    "  INTEGER, created_at INTEGER, body TEXT) STRICT;"
	    "PRAGMA user_version = 2;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lite);
	assert_non_null(raw = cf_db_open(p));
	assert_int_equal(q64(raw, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(raw, "SELECT count(*) FROM channels WHERE id = 5"
	    " AND name = 'old' AND archived_at IS NULL"), 1);
	assert_int_equal(q64(raw, "SELECT count(*) FROM calls"), 3);
	assert_int_equal(q64(raw, "SELECT count(*) FROM calls WHERE"
	    " caller_sock IS NULL AND callee_sock IS NULL"), 3);
	assert_int_equal(q64(raw, "SELECT count(*) FROM sqlite_master WHERE"
	    " type = 'index' AND name IN ('calls_caller', 'calls_callee',"
	    " 'calls_live')"), 3);
	assert_int_equal(cf_store_call_get(raw, 1, &c), 0);
	assert_string_equal(c.status, "ended");
	assert_string_equal(c.caller_sock, "");
	assert_true(c.answered_at == 200 && c.ended_at == 1200);
	assert_int_equal(cf_store_call_history(raw, "1", 0, 10, &arr), 0);
	assert_int_equal(json_array_size(arr), 3);
	assert_int_equal(iget(json_array_get(arr, 0), "id"), 7);
	assert_int_equal(iget(json_array_get(arr, 2), "durationMs"), 1000);
	json_decref(arr);
	/* The old ringing call still counts; new ids follow the old ones. */
	assert_int_equal(cf_store_call_between(raw, "1", "2", &c), 0);
	assert_true(c.id == 2);
	assert_int_equal(cf_store_call_create(raw, "3", "1", "audio", "s",
	    T0, 0, 0, &c, NULL), 0);
	assert_string_equal(c.status, "busy");
	assert_true(c.id == 8);
	assert_int_equal(cf_store_call_transition(raw, 2, "ringing",
	    "active", "s2", T0, &c), 0);
	assert_string_equal(c.callee_sock, "s2");
	assert_true(cf_db_idle(raw));
	cf_db_close(raw);
	/* Reopening runs nothing again. */
	assert_non_null(raw = cf_db_open(p));
	assert_int_equal(q64(raw, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(raw, "SELECT count(*) FROM calls"), 4);
	cf_db_close(raw);
	unlink(p);
	snprintf(q, sizeof(q), "%s-wal", p);
	unlink(q);
	snprintf(q, sizeof(q), "%s-shm", p);
	unlink(q);
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

static void
eio_fn(void *arg, const struct cf_call *c)
{
	(void)arg;
	(void)c;
	fail_msg("called back on an error");
}

/* A database whose tables are gone: the server's errors become -EIO. */
static void
test_eio(void **state)
{
	struct fx *fx = *state;
	struct cf_db *raw = fx->db;
	json_t *j = (json_t *)1;
	struct cf_call call;
	char buf[8];
	int64_t id;
	int dup;

	xexec(raw, "DROP TABLE message_files");
	xexec(raw, "DROP TABLE message_mentions");
	xexec(raw, "DROP TABLE channel_members");
	xexec(raw, "DROP TABLE channel_updates");
	xexec(raw, "DROP TABLE message_reactions");
	xexec(raw, "DROP TABLE messages");
	xexec(raw, "DROP TABLE channels");
	xexec(raw, "DROP TABLE presence");
	xexec(raw, "DROP TABLE users");
	xexec(raw, "DROP TABLE broadcasts");
	xexec(raw, "DROP TABLE calls");
	assert_int_equal(cf_store_channel_get(raw, 1, &j), -EIO);
	assert_null(j);
	assert_int_equal(cf_store_channel_create(raw, "x", NULL, 0, "1",
	    NULL, 0, T0, &j), -EIO);
	assert_int_equal(cf_store_message_insert(raw, 1, "1", "A", "x",
	    "text", 0, "c", T0, &j, &dup), -EIO);
	assert_int_equal(cf_store_channel_list(raw, "1", &j), -EIO);
	assert_int_equal(cf_store_messages_page(raw, 1, 0, 0, 10, &j, &dup),
	    -EIO);
	assert_int_equal(cf_store_read_set(raw, 1, "1", 0, T0, &id), -EIO);
	assert_int_equal(cf_store_presence_get(raw, "1", &j), -EIO);
	assert_int_equal(cf_store_user_name(raw, "1", buf, sizeof(buf)), -EIO);
	assert_int_equal(cf_store_broadcast_add(raw, "m", "low", "1", "A", T0,
	    &id), -EIO);
	assert_int_equal(cf_store_call_create(raw, "1", "2", "audio", "s", T0,
	    0, 0, &call, &dup), -EIO);
	assert_int_equal(cf_store_call_missed(raw, "1", "2", "audio", T0,
	    &call), -EIO);
	assert_int_equal(cf_store_call_get(raw, 1, &call), -EIO);
	assert_int_equal(cf_store_call_transition(raw, 1, "ringing", "ended",
	    NULL, T0, &call), -EIO);
	assert_int_equal(cf_store_call_between(raw, "1", "2", &call), -EIO);
	assert_int_equal(cf_store_call_history(raw, "1", 0, 10, &j), -EIO);
	assert_null(j);
	assert_int_equal(cf_store_call_sweep_ringing(raw, T0, T0, NULL, NULL),
	    -EIO);
	assert_int_equal(cf_store_call_live(raw, eio_fn, NULL), -EIO);
	/* No transaction left open. */
	assert_int_equal(cf_db_idle(raw), 1);
}

static void
test_null_db(void **state)
{
	struct cf_call call;
	char buf[8];
	json_t *j;
	int64_t id;

	(void)state;
	assert_int_equal(cf_store_user_upsert(NULL, "1", "a", "b", 0),
	    -EINVAL);
	assert_int_equal(cf_store_user_name(NULL, "1", buf, sizeof(buf)),
	    -EINVAL);
	assert_int_equal(cf_store_channel_create(NULL, "x", NULL, 0, "1",
	    NULL, 0, 0, &j), -EINVAL);
	assert_int_equal(cf_store_channel_get(NULL, 1, &j), -EINVAL);
	assert_int_equal(cf_store_is_member(NULL, 1, "1"), -EINVAL);
	assert_int_equal(cf_store_member_add(NULL, 1, "1", 0), -EINVAL);
	assert_int_equal(cf_store_channel_list(NULL, "1", &j), -EINVAL);
	assert_int_equal(cf_store_message_insert(NULL, 1, "1", "a", "b",
	    "text", 0, NULL, 0, &j, NULL), -EINVAL);
	assert_int_equal(cf_store_message_get(NULL, 1, &j), -EINVAL);
	assert_int_equal(cf_store_message_latest(NULL, 1, &id), -EINVAL);
	assert_int_equal(cf_store_messages_page(NULL, 1, 0, 0, 1, &j, NULL),
	    -EINVAL);
	assert_int_equal(cf_store_file_add(NULL, 1, "a", 1, "b", "1", 0),
	    -EINVAL);
	assert_int_equal(cf_store_read_set(NULL, 1, "1", 0, 0, &id), -EINVAL);
	assert_int_equal(cf_store_presence_set(NULL, "1", "away", NULL, NULL,
	    0), -EINVAL);
	assert_int_equal(cf_store_presence_get(NULL, "1", &j), -EINVAL);
	assert_int_equal(cf_store_broadcast_add(NULL, "m", "low", "1", "a", 0,
	    &id), -EINVAL);
	assert_int_equal(cf_store_call_create(NULL, "1", "2", "audio", "s", 0,
	    0, 0, &call, NULL), -EINVAL);
	assert_int_equal(cf_store_call_missed(NULL, "1", "2", "audio", 0,
	    &call), -EINVAL);
	assert_int_equal(cf_store_call_get(NULL, 1, &call), -EINVAL);
	assert_int_equal(cf_store_call_transition(NULL, 1, "ringing", "ended",
	    NULL, 0, NULL), -EINVAL);
	assert_int_equal(cf_store_call_between(NULL, "1", "2", &call),
	    -EINVAL);
	assert_int_equal(cf_store_call_history(NULL, "1", 0, 1, &j), -EINVAL);
	assert_int_equal(cf_store_call_sweep_ringing(NULL, 0, 0, NULL, NULL),
	    -EINVAL);
	assert_int_equal(cf_store_call_live(NULL, eio_fn, NULL), -EINVAL);
}

/* ------------------------------------------------------------------ */
/* Concurrent writers                                                 */
/* ------------------------------------------------------------------ */

#define WRITERS		4
#define PER_WRITER	500
#define PAGE		100	/* the store's largest page (PAGE_MAX) */

/* A child: its own connection, PER_WRITER messages.  Exit 0 when all ok. */
static void
writer(const char *path, int64_t ch, int n)
{
	char uid[16], cmid[32], text[64];
	struct cf_db *db;
	json_t *m;
	int i, dup, bad = 0;

	if ((db = cf_db_open(path)) == NULL)
		_exit(2);
	snprintf(uid, sizeof(uid), "%d", 100 + n);
	for (i = 0; i < PER_WRITER; i++) {
		snprintf(cmid, sizeof(cmid), "w%d-%d", n, i);
		snprintf(text, sizeof(text), "writer %d message %d", n, i);
		if (cf_store_message_insert(db, ch, uid, "W", text, "text", 0,
		    cmid, T0 + i, &m, &dup) != 0 || dup != 0)
			bad++;
		json_decref(m);
	}
	cf_db_close(db);
	_exit(bad == 0 ? 0 : 1);
}

/*
 * A child: follow the channel as a client catching up does, a page after
 * the newest id seen (starting after cursor), until the writers are done
 * (EOF on done) and a last page is empty.  Writes the number of messages it saw to res; exits 1
 * when a page went backwards.
 */
static void
reader(const char *path, int64_t ch, int64_t cursor, int done, int res)
{
	struct cf_db *db;
	json_t *arr, *m;
	int64_t id, seen = 0;
	int more, finished = 0;
	size_t i;
	char c;

	if ((db = cf_db_open(path)) == NULL)
		_exit(2);
	for (;;) {
		if (cf_store_messages_page(db, ch, 0, cursor, PAGE, &arr,
		    &more) != 0)
			_exit(3);
		json_array_foreach(arr, i, m) {
			id = json_integer_value(json_object_get(m, "id"));
			if (id <= cursor)
				_exit(1);
			cursor = id;
			seen++;
		}
		json_decref(arr);
		if (i > 0)
			continue;
		if (finished)
			break;
		/* Writers done: one more page picks up the last commits. */
		finished = read(done, &c, 1) == 0;
	}
	cf_db_close(db);
	_exit(write(res, &seen, sizeof(seen)) == sizeof(seen) ? 0 : 4);
}

/*
 * WRITERS processes write one channel at once while a reader follows it:
 * every message is stored once, in each writer's order, and the reader,
 * paging after the newest id it has seen, misses none (ids commit in
 * order).
 */
static void
test_concurrent_writers(void **state)
{
	struct fx *fx = *state;
	struct timespec t0, t1;
	pid_t pids[WRITERS], rpid;
	int done[2], res[2];
	double secs;
	int64_t ch, first, seen;
	int i, status;

	ch = mkchan(fx->db, "busy", 0, "1", NULL, 0);
	first = post(fx->db, ch, "1", "first", T0);
	/* A connection must not cross fork(). */
	cf_db_close(fx->db);
	fx->db = NULL;
	assert_int_equal(pipe(done), 0);
	assert_int_equal(pipe(res), 0);
	rpid = fork();
	assert_true(rpid != -1);
	if (rpid == 0) {
		close(done[1]);
		close(res[0]);
		reader(fx->path, ch, first, done[0], res[1]);
	}
	close(done[0]);
	close(res[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0)
			writer(fx->path, ch, i);
	}
	for (i = 0; i < WRITERS; i++) {
		assert_true(waitpid(pids[i], &status, 0) == pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(done[1]);
	assert_true(waitpid(rpid, &status, 0) == rpid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(res[0], &seen, sizeof(seen)), sizeof(seen));
	close(res[0]);
	assert_int_equal(seen, WRITERS * PER_WRITER);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "concurrent writers: %d messages in %.3f s, %.0f "
	    "messages/s\n", WRITERS * PER_WRITER, secs,
	    (double)(WRITERS * PER_WRITER) / secs);

	assert_non_null(fx->db = cf_db_open(fx->path));
	assert_int_equal(nmessages(fx->db), WRITERS * PER_WRITER + 1);
	assert_int_equal(q64(fx->db, "SELECT count(DISTINCT id) FROM"
	    " messages"), WRITERS * PER_WRITER + 1);
	assert_int_equal(q64(fx->db, "SELECT count(DISTINCT client_msg_id)"
	    " FROM messages"), WRITERS * PER_WRITER);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM (SELECT user_id"
	    " FROM messages GROUP BY user_id HAVING count(*) = 500) AS w"),
	    WRITERS);
	/* Each writer's messages are in its own order. */
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM messages a JOIN"
	    " messages b ON a.user_id = b.user_id AND a.id < b.id AND"
	    " a.created_at > b.created_at"), 0);
	if (!use_pg)
		assert_int_equal(q64(fx->db, "SELECT count(*) FROM"
		    " pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
}

/* ------------------------------------------------------------------ */
/* Message actions: edits, deletes, reactions, threads (schema 6)     */
/* ------------------------------------------------------------------ */

static int64_t
reply(struct cf_db *db, int64_t ch, const char *uid, int64_t to,
    int64_t now)
{
	json_t *m;
	int64_t id;

	assert_int_equal(cf_store_message_insert(db, ch, uid, "Name", "re",
	    "text", to, NULL, now, &m, NULL), 0);
	id = iget(m, "id");
	json_decref(m);
	return (id);
}

static void
test_message_edit_delete(void **state)
{
	struct fx *fx = *state;
	json_t *m, *l;
	int64_t a, id, other;
	int hm;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	id = post(fx->db, a, "2", "first words", T0);
	other = post(fx->db, a, "2", "keep", T0);

	/* A new message: not edited, not deleted, no replies. */
	assert_int_equal(cf_store_message_get(fx->db, id, &m), 0);
	assert_true(json_is_null(json_object_get(m, "editedAt")));
	assert_null(json_object_get(m, "editedBy"));
	assert_true(json_is_false(json_object_get(m, "deleted")));
	assert_int_equal(iget(m, "replyCount"), 0);
	assert_true(json_is_null(json_object_get(m, "lastReplyAt")));
	assert_int_equal(json_array_size(json_object_get(m, "reactions")), 0);
	json_decref(m);

	/* Edit: the text and who, when. */
	assert_int_equal(cf_store_message_edit(fx->db, id, "second words",
	    "1", T0 + 1000, &m), 0);
	assert_string_equal(sget(m, "message"), "second words");
	assert_string_equal(sget(m, "editedAt"), "2026-11-26T20:12:19.123Z");
	assert_int_equal(iget(m, "editedBy"), 1);
	assert_int_equal(iget(m, "userId"), 2);
	json_decref(m);
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 10, &l, &hm),
	    0);
	assert_string_equal(sget(json_array_get(l, 1), "message"),
	    "second words");
	json_decref(l);

	/* Unknown ids, bad values. */
	assert_int_equal(cf_store_message_edit(fx->db, 999999, "x", "1", T0,
	    &m), -ENOENT);
	assert_null(m);
	assert_int_equal(cf_store_message_edit(fx->db, id, NULL, "1", T0, &m),
	    -EINVAL);
	assert_int_equal(cf_store_message_delete(fx->db, 999999, "1", T0,
	    &m), -ENOENT);

	/* Delete: a tombstone, the text gone from the row. */
	assert_int_equal(cf_store_file_add(fx->db, id, "f.txt", 3,
	    "text/plain", "2", T0), 0);
	assert_int_equal(cf_store_message_delete(fx->db, id, "3", T0 + 2000,
	    &m), 0);
	assert_true(json_is_true(json_object_get(m, "deleted")));
	assert_string_equal(sget(m, "message"), "");
	assert_null(json_object_get(m, "file"));
	assert_int_equal(iget(m, "deletedBy"), 3);
	assert_string_equal(sget(m, "deletedAt"), "2026-11-26T20:12:20.123Z");
	json_decref(m);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM messages WHERE"
	    " body LIKE '%words%'"), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_files"), 0);
	/* Kept in history, in place. */
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 10, &l, &hm),
	    0);
	assert_int_equal(json_array_size(l), 2);
	assert_int_equal(iget(json_array_get(l, 1), "id"), id);
	assert_true(json_is_true(json_object_get(json_array_get(l, 1),
	    "deleted")));
	assert_true(json_is_false(json_object_get(json_array_get(l, 0),
	    "deleted")));
	json_decref(l);

	/* A tombstone takes no edit, delete or file. */
	assert_int_equal(cf_store_message_edit(fx->db, id, "again", "2", T0,
	    &m), -EIDRM);
	assert_int_equal(cf_store_message_delete(fx->db, id, "2", T0, &m),
	    -EIDRM);
	assert_int_equal(cf_store_file_add(fx->db, id, "f.txt", 3,
	    "text/plain", "2", T0), -ENOENT);

	/* An archived channel takes none. */
	assert_int_equal(cf_store_channel_archive(fx->db, a, T0, &m, &hm),
	    0);
	json_decref(m);
	assert_int_equal(cf_store_message_edit(fx->db, other, "x", "2", T0,
	    &m), -EROFS);
	assert_int_equal(cf_store_message_delete(fx->db, other, "2", T0, &m),
	    -EROFS);
	assert_int_equal(cf_store_message_get(fx->db, other, &m), 0);
	assert_string_equal(sget(m, "message"), "keep");
	json_decref(m);
}

/* The reactions of message id as a reader sees them. */
static json_t *
reactions_of(struct cf_db *db, int64_t id, const char *viewer)
{
	json_t *m, *arr, *r;

	assert_int_equal(cf_store_message_get(db, id, &m), 0);
	arr = json_pack("[o]", m);
	assert_int_equal(cf_store_reactions_fill(db, viewer, arr), 0);
	r = json_incref(json_object_get(json_array_get(arr, 0), "reactions"));
	json_decref(arr);
	return (r);
}

static void
test_reactions(void **state)
{
	struct fx *fx = *state;
	json_t *r, *l;
	int64_t a, b, id, id2, ch, n;
	char emoji[16];
	int changed, hm, i;
	uint64_t stmts = 0;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	id = post(fx->db, a, "1", "react to me", T0);
	(void)post(fx->db, b, "1", "elsewhere", T0);
	id2 = post(fx->db, a, "1", "me too", T0);

	assert_int_equal(cf_store_reaction_set(fx->db, id, "2", "\xf0\x9f\x91\x8d",
	    1, 3, T0, &ch, &n, &changed), 0);
	assert_int_equal(ch, a);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 1);
	/* Twice: a no-op, the same count. */
	assert_int_equal(cf_store_reaction_set(fx->db, id, "2", "\xf0\x9f\x91\x8d",
	    1, 3, T0, &ch, &n, &changed), 0);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 0);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "3", "\xf0\x9f\x91\x8d",
	    1, 3, T0 + 1, &ch, &n, &changed), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "3", ":tada:", 1, 3,
	    T0 + 2, &ch, &n, &changed), 0);
	assert_int_equal(n, 1);

	/* By first reaction; "me" for the reader. */
	r = reactions_of(fx->db, id, "2");
	assert_int_equal(json_array_size(r), 2);
	assert_string_equal(sget(json_array_get(r, 0), "emoji"),
	    "\xf0\x9f\x91\x8d");
	assert_int_equal(iget(json_array_get(r, 0), "count"), 2);
	assert_true(json_is_true(json_object_get(json_array_get(r, 0), "me")));
	assert_string_equal(sget(json_array_get(r, 1), "emoji"), ":tada:");
	assert_true(json_is_false(json_object_get(json_array_get(r, 1),
	    "me")));
	json_decref(r);
	r = reactions_of(fx->db, id, NULL);
	assert_true(json_is_false(json_object_get(json_array_get(r, 0), "me")));
	json_decref(r);

	/* The bound on distinct emoji: a new one refused, a known one not. */
	assert_int_equal(cf_store_reaction_set(fx->db, id, "2", ":a:", 1, 3,
	    T0, &ch, &n, &changed), 0);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "2", ":b:", 1, 3,
	    T0, &ch, &n, &changed), -ENOSPC);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "4", ":a:", 1, 3,
	    T0, &ch, &n, &changed), 0);
	assert_int_equal(n, 2);
	assert_int_equal(q64(fx->db, "SELECT count(DISTINCT emoji) FROM"
	    " message_reactions"), 3);

	/* Removal; a missing one is a no-op. */
	assert_int_equal(cf_store_reaction_set(fx->db, id, "4", ":a:", 0, 3,
	    T0, &ch, &n, &changed), 0);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 1);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "4", ":a:", 0, 3,
	    T0, &ch, &n, &changed), 0);
	assert_int_equal(n, 1);
	assert_int_equal(changed, 0);
	assert_int_equal(cf_store_reaction_set(fx->db, 999999, "4", ":a:", 1,
	    3, T0, &ch, &n, &changed), -ENOENT);

	/* A page: two statements, whatever the reactions. */
	for (i = 0; i < 5; i++) {
		snprintf(emoji, sizeof(emoji), ":e%d:", i);
		assert_int_equal(cf_store_reaction_set(fx->db, id2, "2", emoji,
		    1, 50, T0, &ch, &n, &changed), 0);
	}
	cf_store_set_statement_counter(&stmts);
	assert_int_equal(cf_store_messages_page(fx->db, a, 0, 0, 10, &l, &hm),
	    0);
	assert_int_equal(cf_store_reactions_fill(fx->db, "2", l), 0);
	cf_store_set_statement_counter(NULL);
	assert_int_equal(stmts, 2);
	assert_int_equal(json_array_size(l), 2);
	assert_int_equal(json_array_size(json_object_get(json_array_get(l, 0),
	    "reactions")), 5);
	assert_int_equal(json_array_size(json_object_get(json_array_get(l, 1),
	    "reactions")), 3);
	json_decref(l);

	/* A deleted message loses its reactions and takes no more. */
	r = NULL;
	assert_int_equal(cf_store_message_delete(fx->db, id, "1", T0, &r), 0);
	json_decref(r);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_reactions"
	    " WHERE message_id IN (SELECT id FROM messages WHERE deleted_at"
	    " IS NOT NULL)"), 0);
	assert_int_equal(cf_store_reaction_set(fx->db, id, "2", ":a:", 1, 3,
	    T0, &ch, &n, &changed), -EIDRM);
}

static void
test_thread(void **state)
{
	struct fx *fx = *state;
	json_t *root, *rs, *m;
	int64_t a, b, top, r1, r2, r3, nested, lone;
	int more;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	top = post(fx->db, a, "1", "top", T0);
	lone = post(fx->db, a, "1", "lone", T0);
	r1 = reply(fx->db, a, "2", top, T0 + 1000);
	(void)post(fx->db, b, "1", "other channel", T0);
	r2 = reply(fx->db, a, "3", top, T0 + 2000);
	nested = reply(fx->db, a, "3", r1, T0 + 2500);
	r3 = reply(fx->db, a, "2", top, T0 + 3000);

	assert_int_equal(cf_store_thread_page(fx->db, top, 0, 2, &root, &rs,
	    &more), 0);
	assert_int_equal(iget(root, "id"), top);
	assert_int_equal(iget(root, "replyCount"), 3);
	assert_string_equal(sget(root, "lastReplyAt"),
	    "2026-11-26T20:12:21.123Z");
	assert_int_equal(json_array_size(rs), 2);
	assert_int_equal(iget(json_array_get(rs, 0), "id"), r1);
	assert_int_equal(iget(json_array_get(rs, 0), "replyCount"), 1);
	assert_int_equal(iget(json_array_get(rs, 1), "id"), r2);
	assert_int_equal(more, 1);
	json_decref(root);
	json_decref(rs);
	/* The next page. */
	assert_int_equal(cf_store_thread_page(fx->db, top, r2, 2, &root, &rs,
	    &more), 0);
	assert_int_equal(json_array_size(rs), 1);
	assert_int_equal(iget(json_array_get(rs, 0), "id"), r3);
	assert_int_equal(more, 0);
	json_decref(root);
	json_decref(rs);
	/* A reply's own thread; a message without replies. */
	assert_int_equal(cf_store_thread_page(fx->db, r1, 0, 50, &root, &rs,
	    &more), 0);
	assert_int_equal(json_array_size(rs), 1);
	assert_int_equal(iget(json_array_get(rs, 0), "id"), nested);
	json_decref(root);
	json_decref(rs);
	assert_int_equal(cf_store_thread_page(fx->db, lone, 0, 50, &root, &rs,
	    &more), 0);
	assert_int_equal(json_array_size(rs), 0);
	assert_int_equal(iget(root, "replyCount"), 0);
	json_decref(root);
	json_decref(rs);
	assert_int_equal(cf_store_thread_page(fx->db, 999999, 0, 50, &root,
	    &rs, &more), -ENOENT);
	assert_null(root);
	assert_null(rs);

	/* A deleted reply stays in its thread, counted. */
	assert_int_equal(cf_store_message_delete(fx->db, r2, "3", T0, &m), 0);
	json_decref(m);
	assert_int_equal(cf_store_thread_page(fx->db, top, 0, 50, &root, &rs,
	    &more), 0);
	assert_int_equal(iget(root, "replyCount"), 3);
	assert_int_equal(json_array_size(rs), 3);
	assert_true(json_is_true(json_object_get(json_array_get(rs, 1),
	    "deleted")));
	json_decref(root);
	json_decref(rs);
}

/*
 * A database at schema 5, made by the release before message actions
 * (its migrations, schema.h), with messages, a reply, a file and a
 * member, is brought to 6 with all of it: the thread counters filled.
 */
#define V5_CHANNEL \
	"INSERT INTO channels(id, name, name_key, is_private, created_by," \
	"  created_at) VALUES (3, 'Old', 'old', 0, '1', 1000);"
#define V5_MEMBER \
	"INSERT INTO channel_members(channel_id, user_id, joined_at)" \
	"  VALUES (3, '2', 1000);"
#define V5_MESSAGES \
	"INSERT INTO messages(id, channel_id, user_id, user_display_name," \
	"  body, message_type, reply_to_id, client_msg_id, created_at) VALUES" \
	"  (10, 3, '1', 'One', 'root', 'text', NULL, 'c1', 2000)," \
	"  (11, 3, '2', 'Two', 'first reply', 'text', 10, NULL, 3000)," \
	"  (12, 3, '2', 'Two', 'doc.pdf', 'file', 10, NULL, 4000)," \
	"  (13, 3, '1', 'One', 'alone', 'text', NULL, NULL, 5000);"
#define V5_FILE \
	"INSERT INTO message_files VALUES (12, 'doc.pdf', 7, 'application/pdf'," \
	"  '2', 4000);"
#define V5_DATA	V5_CHANNEL V5_MEMBER V5_MESSAGES V5_FILE

/* The upgraded database of V5_DATA, on either backend. */
static void
check_v5_upgraded(struct cf_db *db)
{
	json_t *l, *m, *root, *rs;
	int hm;

	assert_int_equal(q64(db, "SELECT count(*) FROM messages"), 4);
	assert_int_equal(cf_store_messages_page(db, 3, 0, 0, 10, &l, &hm), 0);
	assert_int_equal(json_array_size(l), 4);
	m = json_array_get(l, 3);
	assert_int_equal(iget(m, "id"), 10);
	assert_string_equal(sget(m, "message"), "root");
	assert_string_equal(sget(m, "clientMsgId"), "c1");
	assert_int_equal(iget(m, "replyCount"), 2);
	assert_string_equal(sget(m, "lastReplyAt"), "1970-01-01T00:00:04.000Z");
	assert_true(json_is_null(json_object_get(m, "editedAt")));
	assert_true(json_is_false(json_object_get(m, "deleted")));
	assert_int_equal(iget(json_array_get(l, 0), "replyCount"), 0);
	assert_true(json_is_null(json_object_get(json_array_get(l, 0),
	    "lastReplyAt")));
	assert_string_equal(sget(json_object_get(json_array_get(l, 1), "file"),
	    "fileName"), "doc.pdf");
	json_decref(l);
	assert_int_equal(cf_store_is_member(db, 3, "2"), 1);
	assert_int_equal(cf_store_thread_page(db, 10, 0, 10, &root, &rs, &hm),
	    0);
	assert_int_equal(json_array_size(rs), 2);
	json_decref(root);
	json_decref(rs);
	/* And it works on: a new reply counts, a reaction, an edit. */
	assert_int_equal(cf_store_message_insert(db, 3, "1", "One", "more",
	    "text", 10, NULL, 6000, &m, NULL), 0);
	assert_true(iget(m, "id") > 13);
	json_decref(m);
	assert_int_equal(cf_store_message_get(db, 10, &m), 0);
	assert_int_equal(iget(m, "replyCount"), 3);
	json_decref(m);
	assert_int_equal(cf_store_message_edit(db, 11, "edited", "2", 7000,
	    &m), 0);
	json_decref(m);
}

static void
test_v5_upgrade(void **state)
{
	struct fx *fx = *state;
	char p[160], q[176];
	struct cf_db *raw;
	sqlite3 *lite;

	snprintf(p, sizeof(p), "%s/v5.db", fx->dir);
	assert_int_equal(sqlite3_open(p, &lite), SQLITE_OK);
	assert_int_equal(sqlite3_exec(lite, "PRAGMA foreign_keys=ON;"
	    CF_SCHEMA_1("'then'")
	    CF_SCHEMA_2("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER",
	    " STRICT", " STRICT, WITHOUT ROWID")
	    CF_SCHEMA_3
	    CF_SCHEMA_4("INTEGER", " STRICT, WITHOUT ROWID")
	    CF_SCHEMA_5("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER",
	    " STRICT", " STRICT, WITHOUT ROWID")
	    V5_DATA
	    "PRAGMA user_version = 5;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lite);
	assert_non_null(raw = cf_db_open(p));
	assert_int_equal(q64(raw, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	check_v5_upgraded(raw);
	cf_db_close(raw);
	unlink(p);
	snprintf(q, sizeof(q), "%s-wal", p);
	unlink(q);
	snprintf(q, sizeof(q), "%s-shm", p);
	unlink(q);
}

/* 1 when the file at path holds the bytes of s. */
static int
file_has(const char *path, const char *s)
{
	char buf[4096];
	size_t n, i, len = strlen(s);
	int found = 0;
	FILE *f;

	assert_non_null(f = fopen(path, "rb"));
	/* Buffers overlap by len, so that no occurrence straddles two. */
	while (!found && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		for (i = 0; i + len <= n; i++)
			if (memcmp(buf + i, s, len) == 0)
				found = 1;
		if (n == sizeof(buf))
			assert_int_equal(fseek(f, -(long)len, SEEK_CUR), 0);
	}
	fclose(f);
	return (found);
}

/*
 * A deleted message's text is gone from the file, not only from the
 * row (secure_delete), once the log is checkpointed.
 */
static void
test_delete_scrubs(void **state)
{
	struct fx *fx = *state;
	static const char secret[] = "zq-secret-text-to-scrub-7731";
	json_t *m;
	int64_t a, id;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	id = post(fx->db, a, "1", secret, T0);
	(void)post(fx->db, a, "1", "after it", T0);
	xexec(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_true(file_has(fx->path, secret));
	assert_int_equal(cf_store_message_delete(fx->db, id, "1", T0, &m), 0);
	json_decref(m);
	xexec(fx->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_false(file_has(fx->path, secret));
}

/* ------------------------------------------------------------------ */
/* PostgreSQL's own                                                   */
/* ------------------------------------------------------------------ */

static void
test_pg_migration(void **state)
{
	struct fx *fx = *state;
	static const char *const tables[] = { "meta", "users", "channels",
	    "channel_members", "messages", "message_files", "presence",
	    "broadcasts", "channel_updates", "calls", "revocations" };
	struct cf_db *again;
	char sql[256];
	size_t i;

	assert_string_equal(cf_db_backend(fx->db), "postgresql");
	assert_int_equal(q64(fx->db, "SELECT version FROM schema_version"), 9);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM pg_indexes"
	    " WHERE indexname = 'channel_members_user'"), 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM schema_version"),
	    1);
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM"
		    " information_schema.tables WHERE table_name = '%s'",
		    tables[i]);
		assert_int_equal(q64(fx->db, sql), 1);
	}
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM pg_indexes WHERE"
	    " indexname IN ('messages_channel', 'calls_caller',"
	    " 'calls_callee', 'calls_live')"), 4);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM"
	    " information_schema.columns WHERE table_name = 'calls' AND"
	    " column_name IN ('caller_sock', 'callee_sock')"), 2);
	/* Ids are 64-bit. */
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM"
	    " information_schema.columns WHERE column_name = 'id' AND"
	    " data_type = 'bigint'"), 6);
	assert_int_equal(mkchan(fx->db, "keep", 0, "1", NULL, 0), 1);

	/* A second connection (another host) runs nothing again. */
	assert_non_null(again = cf_db_open(fx->path));
	assert_int_equal(q64(again, "SELECT version FROM schema_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(again, "SELECT count(*) FROM channels"), 1);
	cf_db_close(again);

	/*
	 * A version-1 database is brought to the current version, its meta
	 * row kept.
	 */
	xexec(fx->db, "DROP TABLE message_files, message_mentions,"
	    " channel_members, channel_updates, messages, channels, presence, users,"
	    " broadcasts, calls, revocations,"
	    " webhook_outbox, webhook_lease, message_reactions");
	xexec(fx->db, "UPDATE meta SET value = 'then'");
	xexec(fx->db, "UPDATE schema_version SET version = 1");
	assert_non_null(again = cf_db_open(fx->path));
	assert_int_equal(q64(again, "SELECT version FROM schema_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(again, "SELECT count(*) FROM meta WHERE value ="
	    " 'then'"), 1);
	assert_int_equal(q64(again, "SELECT count(*) FROM messages"), 0);
	cf_db_close(again);

	/* A newer database is refused. */
	xexec(fx->db, "UPDATE schema_version SET version = 99");
	assert_null(cf_db_open(fx->path));
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    CF_DB_SCHEMA_VERSION);
	xexec(fx->db, sql);

	/* A server that is not there. */
	assert_null(cf_db_open("postgresql:///nosuchdb?host=/nonexistent"));
}

/*
 * Take a current PostgreSQL database back to schema version 5: the
 * additions of migrations 6 (direct messages, mentions), 7 (message
 * actions) and 8 (search) dropped.
 */
static void
pg_back_to_v5(struct cf_db *db)
{
	xexec(db, "DROP INDEX channel_members_user");
	xexec(db, "DROP INDEX messages_search");
	xexec(db, "ALTER TABLE messages DROP COLUMN body_tsv");
	xexec(db, "DROP TABLE message_mentions, message_reactions");
	xexec(db, "DROP INDEX channels_dm");
	xexec(db, "ALTER TABLE channels DROP COLUMN kind,"
	    " DROP COLUMN dm_a, DROP COLUMN dm_b");
	xexec(db, "ALTER TABLE messages DROP COLUMN edited_at,"
	    " DROP COLUMN edited_by, DROP COLUMN deleted_at,"
	    " DROP COLUMN deleted_by, DROP COLUMN reply_count,"
	    " DROP COLUMN last_reply_at");
	xexec(db, "UPDATE schema_version SET version = 5");
}

/* The same upgrade from 5 on PostgreSQL: migrations 6 to 9 undone, data put. */
static void
test_pg_v5_upgrade(void **state)
{
	struct fx *fx = *state;
	struct cf_db *again;

	pg_back_to_v5(fx->db);
	xexec(fx->db, "DELETE FROM channels");
	xexec(fx->db, V5_CHANNEL);
	xexec(fx->db, V5_MEMBER);
	xexec(fx->db, V5_MESSAGES);
	xexec(fx->db, V5_FILE);
	xexec(fx->db, "SELECT setval('messages_id_seq', 13)");
	assert_non_null(again = cf_db_open(fx->path));
	assert_int_equal(q64(again, "SELECT version FROM schema_version"), CF_DB_SCHEMA_VERSION);
	check_v5_upgraded(again);
	cf_db_close(again);
}

/*
 * The server ends the connection (a restart, an administrator): the call
 * that finds it gets -EIO, the next one reconnects and works.
 */
static void
test_pg_reconnect(void **state)
{
	struct fx *fx = *state;
	struct cf_db *admin;
	char sql[96];
	int64_t pid, ch, id;
	json_t *j;
	int dup;

	ch = mkchan(fx->db, "r", 0, "1", NULL, 0);
	assert_non_null(admin = cf_db_open(fx->path));
	assert_int_equal(cf_db_query_i64(fx->db, "SELECT pg_backend_pid()",
	    &pid), 0);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	assert_int_equal(q64(admin, sql), 1);
	/* A write in a transaction, then a plain read. */
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "x",
	    "text", 0, "c1", T0, &j, &dup), -EIO);
	assert_null(j);
	assert_true(cf_db_idle(fx->db));
	id = post(fx->db, ch, "1", "after", T0 + 1);
	assert_true(id > 0);
	assert_int_equal(nmessages(fx->db), 1);

	assert_int_equal(cf_db_query_i64(fx->db, "SELECT pg_backend_pid()",
	    &pid), 0);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	assert_int_equal(q64(admin, sql), 1);
	assert_int_equal(cf_store_channel_get(fx->db, ch, &j), -EIO);
	assert_int_equal(cf_store_channel_get(fx->db, ch, &j), 0);
	json_decref(j);
	cf_db_close(admin);
}

#define RACERS		8
#define RACE_CALLS	100

/*
 * A child on its own connection: for each round, try to create a call
 * between users "a" and "b" (only one ringing call between them can
 * exist), then try to accept call `round` of the shared list.  Writes
 * the number of calls it created and of accepts it won to fd.
 */
static void
racer(const char *path, int n, int fd)
{
	struct cf_db *db;
	struct cf_call c;
	char sock[16];
	int64_t live;
	int i, busy, won[2] = { 0, 0 };

	if ((db = cf_db_open(path)) == NULL)
		_exit(2);
	snprintf(sock, sizeof(sock), "s%d", n);
	for (i = 0; i < RACE_CALLS; i++) {
		if (cf_store_call_create(db, "a", "b", "audio", sock,
		    T0 + i, 0, 0, &c, &busy) != 0)
			_exit(3);
		if (!busy)
			won[0]++;
		/* Never two calls live between the same users. */
		if (cf_db_query_i64(db, "SELECT count(*) FROM calls WHERE"
		    " status IN ('ringing', 'active')", &live) != 0 || live > 1)
			_exit(7);
		/* Accept the newest live call; only one tab wins it. */
		if (cf_store_call_between(db, "a", "b", &c) == 0) {
			switch (cf_store_call_transition(db, c.id, "ringing",
			    "active", sock, T0 + i, NULL)) {
			case 0:
				won[1]++;
				/* Hang up so the next round can ring. */
				if (cf_store_call_transition(db, c.id,
				    "active", "ended", NULL, T0 + i, NULL) != 0)
					_exit(4);
				break;
			case -EALREADY:
				break;
			default:
				_exit(5);
			}
		}
	}
	cf_db_close(db);
	_exit(write(fd, won, sizeof(won)) == sizeof(won) ? 0 : 6);
}

/*
 * Racing hosts on one database: new calls between the same two users are
 * never both "ringing", and each call is accepted by exactly one tab.
 */
static void
test_pg_racing_calls(void **state)
{
	struct fx *fx = *state;
	pid_t pids[RACERS];
	int i, status, fds[2], won[2], created = 0, accepted = 0;

	assert_int_equal(pipe(fds), 0);
	for (i = 0; i < RACERS; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			close(fds[0]);
			racer(fx->path, i, fds[1]);
		}
	}
	close(fds[1]);
	for (i = 0; i < RACERS; i++) {
		assert_true(waitpid(pids[i], &status, 0) == pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(read(fds[0], won, sizeof(won)), sizeof(won));
		created += won[0];
		accepted += won[1];
	}
	close(fds[0]);
	/* Every call that rang was created once and answered at most once. */
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status <> 'busy'"), created);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " answered_at IS NOT NULL"), accepted);
	/*
	 * A creator accepts right after creating, and while its call is live
	 * no other can ring: so every call that rang was answered.  Two
	 * ringing at once would leave the older one unanswered.
	 */
	assert_true(created >= 1);
	assert_int_equal(accepted, created);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls WHERE"
	    " status IN ('ringing', 'active')"), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM calls"),
	    RACERS * RACE_CALLS);
}

static unsigned	 hook_calls;

static void
count_write(uint64_t us)
{
	(void)us;
	hook_calls++;
}

/* Committed writes reach the write hook once each; reads never do. */
static void
test_write_hook(void **state)
{
	struct fx *fx = *state;
	json_t *c = NULL, *l = NULL;
	int64_t bid = 0;

	hook_calls = 0;
	cf_store_set_write_hook(count_write);
	/* A transaction: one observation however many statements. */
	assert_int_equal(cf_store_channel_create(fx->db, "Hooked", NULL, 0,
	    "1", NULL, 0, T0, &c), 0);
	assert_int_equal(hook_calls, 1);
	/* A single autocommit statement. */
	assert_int_equal(cf_store_broadcast_add(fx->db, "hi", "normal", "1",
	    "One", T0, &bid), 0);
	assert_int_equal(hook_calls, 2);
	assert_int_equal(cf_store_channel_list(fx->db, "1", &l), 0);
	assert_int_equal(hook_calls, 2);
	/* A refused write (a taken name) is not a committed one. */
	json_decref(c);
	c = NULL;
	assert_int_equal(cf_store_channel_create(fx->db, "hooked", NULL, 0,
	    "1", NULL, 0, T0, &c), -EEXIST);
	assert_int_equal(hook_calls, 2);
	cf_store_set_write_hook(NULL);
	assert_int_equal(cf_store_broadcast_add(fx->db, "again", "low", "1",
	    "One", T0, &bid), 0);
	assert_int_equal(hook_calls, 2);
	json_decref(c);
	json_decref(l);
}

/* ------------------------------------------------------------------ */
/* Group commit                                                        */
/* ------------------------------------------------------------------ */

/*
 * A batch: the messages of many users are one transaction, invisible to
 * another connection until the commit, and all there after it.
 */
static void
test_batch_commit(void **state)
{
	struct fx *fx = *state;
	struct cf_db *other;
	char uid[8], text[16];
	json_t *m;
	int64_t ch, ids[40];
	int i, dup;

	ch = mkchan(fx->db, "g", 0, "1", NULL, 0);
	assert_non_null(other = cf_db_open(fx->path));
	/* Nothing open: committing is a no-op, and nothing is counted. */
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(cf_store_batch_open(fx->db), 0);
	assert_int_equal(cf_store_batch_size(fx->db), 0);

	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	assert_int_equal(cf_store_batch_open(fx->db), 1);
	/* A second begin joins the open batch. */
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	for (i = 0; i < 40; i++) {
		snprintf(uid, sizeof(uid), "%d", i % 4 + 1);
		snprintf(text, sizeof(text), "m%d", i);
		assert_int_equal(cf_store_message_insert(fx->db, ch, uid, "N",
		    text, "text", i > 0 ? ids[i - 1] : 0, NULL, T0 + i, &m,
		    &dup), 0);
		assert_int_equal(dup, 0);
		ids[i] = iget(m, "id");
		assert_string_equal(sget(m, "message"), text);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
		json_decref(m);
	}
	assert_int_equal(cf_store_batch_size(fx->db), 40);
	/* The batch reads its own messages; the other connection does not. */
	assert_int_equal(nmessages(fx->db), 40);
	assert_int_equal(nmessages(other), 0);
	assert_false(cf_db_idle(fx->db));
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(cf_store_batch_open(fx->db), 0);
	assert_int_equal(cf_store_batch_size(fx->db), 0);
	assert_true(cf_db_idle(fx->db));
	assert_int_equal(nmessages(other), 40);
	assert_int_equal(q64(other, "SELECT count(*) FROM messages m JOIN"
	    " messages p ON p.id = m.reply_to_id AND p.id < m.id"), 39);
	/* Outside a batch an insert commits by itself, as before. */
	post(fx->db, ch, "1", "alone", T0 + 99);
	assert_int_equal(nmessages(other), 41);
	cf_db_close(other);
}

/*
 * A message that fails inside a batch is undone alone: a reply to an
 * unknown message, a missing channel, and a value the schema refuses (a
 * failed statement, which aborts a PostgreSQL transaction up to the
 * savepoint) leave the messages before and after it to commit.
 */
static void
test_batch_savepoint(void **state)
{
	struct fx *fx = *state;
	json_t *m;
	int64_t ch, a, b;
	int dup;

	ch = mkchan(fx->db, "s", 0, "1", NULL, 0);
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "one",
	    "text", 0, "k1", T0, &m, &dup), 0);
	a = iget(m, "id");
	json_decref(m);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "r",
	    "text", a + 1000, "k2", T0, &m, &dup), -ENOENT);
	assert_null(m);
	assert_int_equal(cf_store_message_insert(fx->db, ch + 1000, "1", "A",
	    "r", "text", 0, "k3", T0, &m, &dup), -ENOENT);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "bad",
	    "no-such-type", 0, "k4", T0, &m, &dup), -EINVAL);
	assert_null(m);
	assert_int_equal(dup, 0);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "two",
	    "text", a, "k2", T0 + 1, &m, &dup), 0);
	b = iget(m, "id");
	assert_int_equal(iget(m, "replyToId"), a);
	json_decref(m);
	assert_int_equal(cf_store_batch_size(fx->db), 2);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(nmessages(fx->db), 2);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM messages WHERE"
	    " client_msg_id IN ('k3', 'k4')"), 0);
	assert_true(b > a);
	/* The failed clientMsgIds were not taken: k4 is new now. */
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "bad",
	    "text", 0, "k4", T0, &m, &dup), 0);
	assert_int_equal(dup, 0);
	json_decref(m);
}

/* The webhook event hook of the tests: one outbox row per event. */
static int
outbox_hook(void *arg, struct cf_db *db, const char *event,
    const json_t *data)
{
	const json_t *m = json_object_get(data, "message");
	char *text;
	int rc;

	(void)arg;
	if (m != NULL && strcmp(json_string_value(json_object_get(m,
	    "message")), "refused") == 0)
		return (-EIO);
	if ((text = json_dumps(data, JSON_COMPACT)) == NULL)
		return (-ENOMEM);
	rc = cf_store_hook_add(db, "http://e/1", event, text, T0, NULL);
	free(text);
	return (rc);
}

/*
 * The outbox: an event row exists exactly when its write committed (a
 * message's joins its savepoint), and the lease goes to one owner.
 */
static void
test_hook_outbox(void **state)
{
	struct fx *fx = *state;
	struct cf_hook_row row;
	struct cf_call c;
	json_t *m, *ch_json, *chg;
	int64_t ch, depth, oldest;
	int dup;

	ch = mkchan(fx->db, "h", 0, "1", NULL, 0);
	cf_store_event_hook(fx->db, outbox_hook, NULL);
	assert_int_equal(cf_store_hook_head(fx->db, "http://e/1", &row),
	    -ENOENT);

	/* In a batch: the refused message and its event are undone alone. */
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "one",
	    "text", 0, "k1", T0, &m, &dup), 0);
	json_decref(m);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A",
	    "refused", "text", 0, "k2", T0, &m, &dup), -EIO);
	assert_null(m);
	/* A duplicate reports nothing. */
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "one",
	    "text", 0, "k1", T0, &m, &dup), 0);
	assert_int_equal(dup, 1);
	json_decref(m);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(nmessages(fx->db), 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM webhook_outbox"),
	    1);
	/* Outside a batch too. */
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A",
	    "refused", "text", 0, NULL, T0, &m, NULL), -EIO);
	assert_int_equal(nmessages(fx->db), 1);

	/* Channels and missed calls report theirs. */
	assert_int_equal(cf_store_channel_create(fx->db, "h2", NULL, 0, "1",
	    NULL, 0, T0, &ch_json), 0);
	json_decref(ch_json);
	assert_non_null(chg = json_pack("{s:s}", "name", "h3"));
	assert_int_equal(cf_store_channel_update(fx->db, ch, chg, "2", T0,
	    &ch_json), 0);
	json_decref(chg);
	json_decref(ch_json);
	assert_int_equal(cf_store_call_missed(fx->db, "1", "2", "audio", T0,
	    &c), 0);
	assert_int_equal(cf_store_call_create(fx->db, "1", "3", "video", "s",
	    T0, 0, 0, &c, NULL), 0);
	assert_int_equal(cf_store_call_sweep_ringing(fx->db, T0 + 1, T0 + 2,
	    NULL, NULL), 1);
	assert_non_null(chg = json_pack("{s:s}", "userId", "7"));
	assert_int_equal(cf_store_event(fx->db, "user.online", chg), 0);
	json_decref(chg);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM webhook_outbox"),
	    6);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM webhook_outbox"
	    " WHERE event = 'call.missed'"), 2);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM webhook_outbox"
	    " WHERE event = 'channel.updated' AND payload LIKE"
	    " '%\"updatedBy\":2%'"), 1);

	/* The head is the oldest; a retry keeps it the head. */
	assert_int_equal(cf_store_hook_head(fx->db, "http://e/1", &row), 0);
	assert_string_equal(row.event, "message.created");
	assert_non_null(strstr(row.payload, "\"message\":\"one\""));
	assert_true(row.attempts == 0 && row.first_try_at == 0);
	assert_int_equal(cf_store_hook_retry(fx->db, row.id, 1, T0, T0 + 1000),
	    0);
	free(row.payload);
	assert_int_equal(cf_store_hook_head(fx->db, "http://e/1", &row), 0);
	assert_true(row.attempts == 1 && row.first_try_at == T0 &&
	    row.next_at == T0 + 1000);
	assert_string_equal(row.event, "message.created");
	assert_int_equal(cf_store_hook_stats(fx->db, &depth, &oldest), 0);
	assert_true(depth == 6 && oldest == T0);
	assert_int_equal(cf_store_hook_done(fx->db, row.id), 0);
	free(row.payload);
	assert_int_equal(cf_store_hook_head(fx->db, "http://e/1", &row), 0);
	assert_string_equal(row.event, "channel.created");
	free(row.payload);
	assert_int_equal(cf_store_hook_head(fx->db, "http://e/2", &row),
	    -ENOENT);

	/* Leases: one owner at a time, until it expires or is released. */
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "a", T0,
	    T0 + 100), 1);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "b", T0 + 50,
	    T0 + 150), 0);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "a", T0 + 60,
	    T0 + 160), 1);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "b",
	    T0 + 160, T0 + 260), 1);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "a",
	    T0 + 170, T0 + 270), 0);
	assert_int_equal(cf_store_hook_release(fx->db, "http://e/1", "a"), 0);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "a",
	    T0 + 170, T0 + 270), 0);
	assert_int_equal(cf_store_hook_release(fx->db, "http://e/1", "b"), 0);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/1", "a",
	    T0 + 170, T0 + 270), 1);
	assert_int_equal(cf_store_hook_lease(fx->db, "http://e/2", "b",
	    T0 + 170, T0 + 270), 1);
	assert_true(cf_db_idle(fx->db));
	cf_store_event_hook(fx->db, NULL, NULL);
}

/*
 * Dedupe inside one batch: the same clientMsgId twice (even to another
 * channel) stores one row; the second gets the original, flagged.
 */
static void
test_batch_dedupe(void **state)
{
	struct fx *fx = *state;
	json_t *m, *d;
	int64_t a, b;
	int dup;

	a = mkchan(fx->db, "a", 0, "1", NULL, 0);
	b = mkchan(fx->db, "b", 0, "1", NULL, 0);
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "first",
	    "text", 0, "same", T0, &m, &dup), 0);
	assert_int_equal(dup, 0);
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "first",
	    "text", 0, "same", T0 + 5, &d, &dup), 0);
	assert_int_equal(dup, 1);
	assert_true(json_equal(m, d));
	json_decref(d);
	assert_int_equal(cf_store_message_insert(fx->db, b, "1", "A", "other",
	    "text", 0, "same", T0 + 6, &d, &dup), 0);
	assert_int_equal(dup, 1);
	assert_int_equal(iget(d, "id"), iget(m, "id"));
	json_decref(d);
	/* Another user's "same" is its own message. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "2", "B", "mine",
	    "text", 0, "same", T0, &d, &dup), 0);
	assert_int_equal(dup, 0);
	json_decref(d);
	assert_int_equal(cf_store_batch_size(fx->db), 2);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(nmessages(fx->db), 2);
	/* After the commit the original is still found. */
	assert_int_equal(cf_store_message_insert(fx->db, a, "1", "A", "again",
	    "text", 0, "same", T0 + 9, &d, &dup), 0);
	assert_int_equal(dup, 1);
	assert_true(json_equal(m, d));
	json_decref(d);
	json_decref(m);
}

static int flush_calls;

static int
count_hook(void *arg)
{
	flush_calls++;
	return (cf_store_batch_commit(arg));
}

/*
 * Any other write commits the open batch first: through the hook when
 * one is set, else directly.  Reads do not.
 */
static void
test_batch_other_write(void **state)
{
	struct fx *fx = *state;
	struct cf_db *other;
	int64_t ch, pos;
	json_t *c;

	ch = mkchan(fx->db, "w", 0, "1", NULL, 0);
	assert_non_null(other = cf_db_open(fx->path));
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, ch, "1", "x", T0);
	assert_int_equal(cf_store_channel_get(fx->db, ch, &c), 0);
	json_decref(c);
	assert_int_equal(cf_store_batch_open(fx->db), 1);
	assert_int_equal(nmessages(other), 0);
	assert_int_equal(cf_store_read_set(fx->db, ch, "2", 0, T0, &pos), 0);
	assert_int_equal(cf_store_batch_open(fx->db), 0);
	assert_int_equal(nmessages(other), 1);
	assert_true(pos > 0);

	flush_calls = 0;
	cf_store_batch_hook(fx->db, count_hook, fx->db);
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, ch, "1", "y", T0);
	assert_int_equal(flush_calls, 0);
	assert_int_equal(cf_store_presence_set(fx->db, "1", "away", NULL, NULL,
	    T0), 0);
	assert_int_equal(flush_calls, 1);
	assert_int_equal(nmessages(other), 2);
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, ch, "1", "z", T0);
	assert_int_equal(cf_store_channel_create(fx->db, "w2", NULL, 0, "1",
	    NULL, 0, T0, &c), 0);
	json_decref(c);
	assert_int_equal(flush_calls, 2);
	assert_int_equal(nmessages(other), 3);
	/* Nothing open: the hook is not called. */
	assert_int_equal(cf_store_presence_set(fx->db, "1", "online", NULL,
	    NULL, T0), 0);
	assert_int_equal(flush_calls, 2);
	cf_store_batch_hook(fx->db, NULL, NULL);
	cf_db_close(other);
}

/*
 * The connection is lost before the commit: the commit fails and every
 * message of the batch is gone, including a duplicate's original.
 */
static void
test_pg_batch_lost(void **state)
{
	struct fx *fx = *state;
	struct cf_db *admin;
	char sql[96];
	int64_t pid, ch;
	json_t *m;
	int dup;

	ch = mkchan(fx->db, "l", 0, "1", NULL, 0);
	assert_non_null(admin = cf_db_open(fx->path));
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, ch, "1", "a", T0);
	post(fx->db, ch, "2", "b", T0);
	assert_int_equal(cf_db_query_i64(fx->db, "SELECT pg_backend_pid()",
	    &pid), 0);
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)",
	    (long long)pid);
	assert_int_equal(q64(admin, sql), 1);
	/* The next message fails alone; the commit then fails. */
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A", "c",
	    "text", 0, NULL, T0, &m, &dup), -EIO);
	assert_null(m);
	assert_int_equal(cf_store_batch_commit(fx->db), -EIO);
	assert_int_equal(cf_store_batch_open(fx->db), 0);
	assert_true(cf_db_idle(fx->db));
	assert_int_equal(nmessages(admin), 0);
	/* The connection comes back for the next batch. */
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, ch, "1", "d", T0);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_int_equal(nmessages(admin), 1);
	cf_db_close(admin);
}

/*
 * Two batches (two hosts) and two channels: a batch that holds one
 * channel's lock does not wait for another's (that could deadlock): the
 * insert is -EAGAIN, stores nothing, and its own batch stays usable; a new
 * batch after the commit waits for the lock as a single insert does.
 */
static void
test_pg_batch_lock(void **state)
{
	struct fx *fx = *state;
	struct cf_db *other;
	json_t *m = NULL;
	int64_t a, b;
	int dup;

	a = mkchan(fx->db, "la", 0, "1", NULL, 0);
	b = mkchan(fx->db, "lb", 0, "1", NULL, 0);
	assert_non_null(other = cf_db_open(fx->path));
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	post(fx->db, a, "1", "a1", T0);
	assert_int_equal(cf_store_batch_begin(other), 0);
	post(other, b, "2", "b1", T0);
	/* other holds b and finds a held by fx: no wait. */
	assert_int_equal(cf_store_message_insert(other, a, "2", "N", "a2",
	    "text", 0, "k", T0, &m, &dup), -EAGAIN);
	assert_null(m);
	assert_int_equal(cf_store_batch_size(other), 1);
	/* Its own channel still takes messages. */
	post(other, b, "2", "b2", T0);
	assert_int_equal(cf_store_batch_commit(other), 0);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	/* Fresh batches: each takes the lock it needs. */
	assert_int_equal(cf_store_batch_begin(other), 0);
	post(other, a, "2", "a2", T0);
	assert_int_equal(cf_store_batch_commit(other), 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM messages WHERE"
	    " client_msg_id = 'k'"), 0);
	assert_int_equal(nmessages(fx->db), 4);
	cf_db_close(other);
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9);
}

#define RATE_ONE	1000
#define RATE_BATCHED	10000

/*
 * Every message inserted one transaction each, then in batches of the
 * backend's cap, is stored once; the rates are printed (not asserted: the
 * machine may be busy), as test_concurrent_writers does.
 */
static void
test_batch_rate(void **state)
{
	struct fx *fx = *state;
	struct timespec t0;
	char cmid[16];
	json_t *m;
	int64_t ch;
	double one, batched;
	int i, dup;

	ch = mkchan(fx->db, "rate", 0, "1", NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < RATE_ONE; i++) {
		snprintf(cmid, sizeof(cmid), "o%d", i);
		assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A",
		    "x", "text", 0, cmid, T0, &m, &dup), 0);
		json_decref(m);
	}
	one = elapsed(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < RATE_BATCHED; i++) {
		if (cf_store_batch_size(fx->db) >= cf_store_batch_max(fx->db))
			assert_int_equal(cf_store_batch_commit(fx->db), 0);
		assert_int_equal(cf_store_batch_begin(fx->db), 0);
		snprintf(cmid, sizeof(cmid), "b%d", i);
		assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "A",
		    "x", "text", 0, cmid, T0, &m, &dup), 0);
		json_decref(m);
	}
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	batched = elapsed(&t0);
	assert_int_equal(nmessages(fx->db), RATE_ONE + RATE_BATCHED);
	fprintf(stderr, "%s: %.0f messages/s one commit each, %.0f messages/s"
	    " in batches of %u\n", cf_db_backend(fx->db), RATE_ONE / one,
	    RATE_BATCHED / batched, cf_store_batch_max(fx->db));
}

/* ------------------------------------------------------------------ */
/* Direct channels, mentions, archived lists (migration 6)             */
/* ------------------------------------------------------------------ */

/* The channel of id in user's list (borrowed from *l), or NULL. */
static json_t *
in_list(struct cf_db *db, const char *user, unsigned flags, int64_t id,
    json_t **l)
{
	json_t *c;
	size_t i;

	assert_int_equal(cf_store_channel_list_ex(db, user, flags, l), 0);
	json_array_foreach(*l, i, c)
		if (iget(c, "id") == id)
			return (c);
	return (NULL);
}

static void
test_dm_open(void **state)
{
	struct fx *fx = *state;
	json_t *ch, *again, *l, *c;
	int64_t id;
	int created = -1;

	assert_int_equal(cf_store_user_upsert(fx->db, "1", "Ann", "user", T0),
	    0);
	assert_int_equal(cf_store_user_upsert(fx->db, "20", "Bo", "user", T0),
	    0);
	/* A channel whose name mimics a direct one takes nothing from it. */
	mkchan(fx->db, "DM:1:1|20", 0, "1", NULL, 0);
	assert_int_equal(cf_store_dm_open(fx->db, "20", "1", T0, &ch,
	    &created), 0);
	assert_int_equal(created, 1);
	id = iget(ch, "id");
	assert_string_equal(sget(ch, "kind"), "direct");
	assert_true(json_is_true(json_object_get(ch, "isPrivate")));
	json_decref(ch);
	/* Either order, the same channel, created once. */
	assert_int_equal(cf_store_dm_open(fx->db, "1", "20", T0, &again,
	    &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(iget(again, "id"), id);
	json_decref(again);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"
	    " WHERE channel_id = (SELECT max(id) FROM channels)"), 2);
	assert_int_equal(cf_store_is_member(fx->db, id, "1"), 1);
	assert_int_equal(cf_store_is_member(fx->db, id, "20"), 1);
	/* Listed with kind and the other user, for each of them. */
	assert_non_null(c = in_list(fx->db, "1", 0, id, &l));
	assert_string_equal(sget(c, "kind"), "direct");
	assert_int_equal(iget(c, "otherUserId"), 20);
	assert_string_equal(sget(c, "otherUserName"), "Bo");
	assert_int_equal(iget(c, "mentionCount"), 0);
	json_decref(l);
	assert_non_null(c = in_list(fx->db, "20", 0, id, &l));
	assert_int_equal(iget(c, "otherUserId"), 1);
	assert_string_equal(sget(c, "otherUserName"), "Ann");
	json_decref(l);
	assert_null(in_list(fx->db, "3", 0, id, &l));
	json_decref(l);
	/* A user's own, and an unknown user's name falls back to the id. */
	assert_int_equal(cf_store_dm_open(fx->db, "1", "1", T0, &ch,
	    &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM channel_members"
	    " WHERE channel_id = (SELECT max(id) FROM channels)"), 1);
	assert_non_null(c = in_list(fx->db, "1", 0, iget(ch, "id"), &l));
	assert_int_equal(iget(c, "otherUserId"), 1);
	json_decref(l);
	json_decref(ch);
	assert_int_equal(cf_store_dm_open(fx->db, "1", "ghost", T0, &ch,
	    NULL), 0);
	assert_non_null(c = in_list(fx->db, "1", 0, iget(ch, "id"), &l));
	assert_string_equal(sget(c, "otherUserName"), "ghost");
	json_decref(l);
	json_decref(ch);
	/* Other channels: kind "channel" in lists, no kind elsewhere. */
	assert_int_equal(cf_store_channel_get(fx->db, 1, &ch), 0);
	assert_null(json_object_get(ch, "kind"));
	json_decref(ch);
	assert_non_null(c = in_list(fx->db, "1", 0, 1, &l));
	assert_string_equal(sget(c, "kind"), "channel");
	assert_null(json_object_get(c, "otherUserId"));
	json_decref(l);
	assert_int_equal(cf_store_dm_open(fx->db, "1", "", T0, &ch, NULL),
	    -EINVAL);
	assert_int_equal(cf_store_dm_open(fx->db, NULL, "1", T0, &ch, NULL),
	    -EINVAL);
	assert_int_equal(cf_store_dm_open(fx->db, "1", "2", T0, NULL, NULL),
	    -EINVAL);
}

static void
test_mentions(void **state)
{
	struct fx *fx = *state;
	const char *members[] = { "2", "3" };
	json_t *m, *ids, *l, *c;
	int64_t ch, before, pos;
	int dup;

	ch = mkchan(fx->db, "m", 1, "1", members, 2);
	assert_non_null(ids = json_pack("[s,s]", "2", "3"));
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "hi", "text", 0, "k1", ids, T0, &m, &dup), 0);
	assert_int_equal(dup, 0);
	assert_int_equal(json_array_size(json_object_get(m, "mentions")), 2);
	assert_int_equal(json_integer_value(json_array_get(
	    json_object_get(m, "mentions"), 0)), 2);
	json_decref(m);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_mentions"),
	    2);
	/* A duplicate stores nothing more. */
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "hi", "text", 0, "k1", ids, T0, &m, &dup), 0);
	assert_int_equal(dup, 1);
	json_decref(m);
	json_decref(ids);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_mentions"),
	    2);
	assert_non_null(c = in_list(fx->db, "2", 0, ch, &l));
	assert_int_equal(iget(c, "mentionCount"), 1);
	json_decref(l);
	/* A non-member: refused, neither the message nor a mention stored. */
	before = nmessages(fx->db);
	assert_non_null(ids = json_pack("[s,s]", "2", "9"));
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "no", "text", 0, NULL, ids, T0, &m, &dup), -EPERM);
	assert_null(m);
	json_decref(ids);
	assert_int_equal(nmessages(fx->db), before);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_mentions"),
	    2);
	/* Read past it: no unread mention. */
	assert_int_equal(cf_store_read_set(fx->db, ch, "2", 0, T0, &pos), 0);
	assert_non_null(c = in_list(fx->db, "2", 0, ch, &l));
	assert_int_equal(iget(c, "mentionCount"), 0);
	json_decref(l);
	/* Inside a batch too; NULL and [] are none. */
	assert_int_equal(cf_store_batch_begin(fx->db), 0);
	assert_non_null(ids = json_pack("[s]", "3"));
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "b", "text", 0, NULL, ids, T0, &m, &dup), 0);
	json_decref(m);
	json_decref(ids);
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "c", "text", 0, NULL, NULL, T0, &m, &dup), 0);
	assert_null(json_object_get(m, "mentions"));
	json_decref(m);
	assert_int_equal(cf_store_batch_commit(fx->db), 0);
	assert_non_null(c = in_list(fx->db, "3", 0, ch, &l));
	assert_int_equal(iget(c, "mentionCount"), 2);
	json_decref(l);
	/* Bad lists. */
	assert_non_null(ids = json_pack("[i]", 2));
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "x", "text", 0, NULL, ids, T0, &m, &dup), -EINVAL);
	json_decref(ids);
	assert_non_null(ids = json_array());
	for (pos = 0; pos <= CF_STORE_MENTIONS_MAX; pos++)
		json_array_append_new(ids, json_string("2"));
	assert_int_equal(cf_store_message_insert_mentions(fx->db, ch, "1", "A",
	    "x", "text", 0, NULL, ids, T0, &m, &dup), -EINVAL);
	json_decref(ids);
	/* Messages deleted: their mentions go with them. */
	xexec(fx->db, "DELETE FROM messages");
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_mentions"),
	    0);
}

static void
test_list_archived(void **state)
{
	struct fx *fx = *state;
	json_t *l, *ch, *ids;
	int64_t id, known;
	int was;

	id = mkchan(fx->db, "old", 0, "1", NULL, 0);
	assert_int_equal(cf_store_channel_archive(fx->db, id, T0, &ch, &was),
	    0);
	json_decref(ch);
	assert_null(in_list(fx->db, "1", 0, id, &l));
	json_decref(l);
	assert_non_null(ch = in_list(fx->db, "1", CF_STORE_LIST_ARCHIVED, id,
	    &l));
	assert_non_null(json_object_get(ch, "archivedAt"));
	json_decref(l);
	/* Known users. */
	assert_int_equal(cf_store_user_upsert(fx->db, "1", "A", "user", T0),
	    0);
	assert_int_equal(cf_store_user_upsert(fx->db, "x", "X", "user", T0),
	    0);
	assert_non_null(ids = json_pack("[s,s,s]", "1", "x", "nobody"));
	assert_int_equal(cf_store_users_known(fx->db, ids, &known), 0);
	assert_int_equal(known, 2);
	json_decref(ids);
	assert_non_null(ids = json_array());
	assert_int_equal(cf_store_users_known(fx->db, ids, &known), 0);
	assert_int_equal(known, 0);
	json_decref(ids);
	assert_int_equal(cf_store_users_known(fx->db, NULL, &known), -EINVAL);
}

/*
 * Upgrade: a database made by the previous release's migrations (1 to
 * 5, from schema.h as sqlite.c runs them), with channels, members,
 * messages, a file and a read position, keeps them all when opened by
 * this build, and its channels become kind "channel".
 */
static const char *const v5[] = {
	CF_SCHEMA_1("strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"),
	CF_SCHEMA_2("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", " STRICT",
	    " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_3,
	CF_SCHEMA_4("INTEGER", " STRICT, WITHOUT ROWID"),
	CF_SCHEMA_5("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", " STRICT",
	    " STRICT, WITHOUT ROWID"),
};

static void
test_dm_upgrade(void **state)
{
	struct fx *fx = *state;
	char p[160], q[176];
	struct cf_db *raw;
	sqlite3 *lite;
	json_t *l, *c, *msgs, *ch;
	size_t i;
	int more;

	snprintf(p, sizeof(p), "%s/v5.db", fx->dir);
	assert_int_equal(sqlite3_open(p, &lite), SQLITE_OK);
	for (i = 0; i < sizeof(v5) / sizeof(v5[0]); i++)
		assert_int_equal(sqlite3_exec(lite, v5[i], NULL, NULL, NULL),
		    SQLITE_OK);
	assert_int_equal(sqlite3_exec(lite,
	    "INSERT INTO users VALUES ('1', 'Ann', 'user', 1, 1);"
	    "INSERT INTO channels(id, name, name_key, is_private, created_by,"
	    "  created_at) VALUES (3, 'General', 'general', 0, '1', 5),"
	    "  (4, 'Secret', 'secret', 1, '1', 6);"
	    "UPDATE channels SET archived_at = 9 WHERE id = 4;"
	    "INSERT INTO channel_members VALUES (3, '1', 5, 11, 7),"
	    "  (4, '1', 6, NULL, NULL);"
	    "INSERT INTO messages(id, channel_id, user_id, user_display_name,"
	    "  body, message_type, created_at) VALUES"
	    "  (10, 3, '1', 'Ann', 'hello', 'text', 7),"
	    "  (11, 3, '2', 'Bo', 'file', 'file', 8);"
	    "INSERT INTO message_files VALUES (11, 'a.txt', 3, 'text/plain',"
	    "  '2', 8);"
	    "PRAGMA user_version = 5;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(lite);
	assert_non_null(raw = cf_db_open(p));
	assert_int_equal(q64(raw, "PRAGMA user_version"), CF_DB_SCHEMA_VERSION);
	assert_int_equal(q64(raw, "SELECT count(*) FROM channels WHERE"
	    " kind = 'channel' AND dm_a IS NULL"), 2);
	assert_non_null(c = in_list(raw, "1", CF_STORE_LIST_ARCHIVED, 3, &l));
	assert_string_equal(sget(c, "name"), "General");
	assert_string_equal(sget(c, "kind"), "channel");
	assert_int_equal(iget(c, "lastReadMessageId"), 11);
	assert_int_equal(iget(c, "mentionCount"), 0);
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
	assert_null(in_list(raw, "1", 0, 4, &l));
	json_decref(l);
	assert_int_equal(cf_store_messages_page(raw, 3, 0, 0, 10, &msgs,
	    &more), 0);
	assert_int_equal(json_array_size(msgs), 2);
	assert_string_equal(sget(json_object_get(json_array_get(msgs, 0),
	    "file"), "fileName"), "a.txt");
	json_decref(msgs);
	/* New features on the old data. */
	assert_int_equal(cf_store_dm_open(raw, "1", "2", T0, &ch, NULL), 0);
	assert_true(iget(ch, "id") > 4);
	json_decref(ch);
	assert_true(cf_db_idle(raw));
	cf_db_close(raw);
	unlink(p);
	snprintf(q, sizeof(q), "%s-wal", p);
	unlink(q);
	snprintf(q, sizeof(q), "%s-shm", p);
	unlink(q);
}

/*
 * PostgreSQL upgrade: a database at version 5 (this schema with
 * migrations 6 to 9 taken back) holding channels, members, a read position and
 * messages keeps them when a host of this build opens it.
 */
static void
test_pg_dm_upgrade(void **state)
{
	struct fx *fx = *state;
	const char *members[] = { "2" };
	struct cf_db *again;
	json_t *l, *c, *msgs, *ch;
	int64_t id, pos;
	int more;

	id = mkchan(fx->db, "kept", 1, "1", members, 1);
	post(fx->db, id, "1", "one", T0);
	pos = post(fx->db, id, "2", "two", T0);
	assert_int_equal(cf_store_read_set(fx->db, id, "1", pos, T0, &pos), 0);
	pg_back_to_v5(fx->db);
	assert_non_null(again = cf_db_open(fx->path));
	assert_int_equal(q64(again, "SELECT version FROM schema_version"),
	    CF_DB_SCHEMA_VERSION);
	assert_non_null(c = in_list(again, "1", 0, id, &l));
	assert_string_equal(sget(c, "name"), "kept");
	assert_string_equal(sget(c, "kind"), "channel");
	assert_int_equal(iget(c, "lastReadMessageId"), pos);
	json_decref(l);
	assert_non_null(c = in_list(again, "2", 0, id, &l));
	assert_int_equal(iget(c, "unreadCount"), 1);
	json_decref(l);
	assert_int_equal(cf_store_messages_page(again, id, 0, 0, 10, &msgs,
	    &more), 0);
	assert_int_equal(json_array_size(msgs), 2);
	json_decref(msgs);
	assert_int_equal(cf_store_dm_open(again, "1", "2", T0, &ch, NULL), 0);
	assert_int_equal(cf_store_is_member(again, iget(ch, "id"), "2"), 1);
	json_decref(ch);
	cf_db_close(again);
}

/* ------------------------------------------------------------------ */
/* Search and retention                                               */
/* ------------------------------------------------------------------ */

/* Search as uid (NULL: everything); the array (owned) and *more. */
static json_t *
find(struct cf_db *db, const char *uid, const char *text, int64_t ch,
    int64_t before, int limit, int *more)
{
	json_t *l = NULL;
	int hm = -1;

	assert_int_equal(cf_store_search_index(db, 1000000, NULL), 0);
	assert_int_equal(cf_store_message_search(db, uid, text, ch, before,
	    limit, &l, &hm), 0);
	assert_non_null(l);
	assert_true(hm == 0 || hm == 1);
	if (more != NULL)
		*more = hm;
	return (l);
}

static size_t
nfound(struct cf_db *db, const char *uid, const char *text)
{
	json_t *l = find(db, uid, text, 0, 0, 100, NULL);
	size_t n = json_array_size(l);

	json_decref(l);
	return (n);
}

/*
 * Matches every word, case and diacritics aside, best first, with an
 * excerpt; only what the reader may read; pages by before; any text is
 * plain words (never a syntax error); edits and deletes reach the index.
 */
static void
test_search(void **state)
{
	struct fx *fx = *state;
	static const char *const nasty[] = { "\"", "\"\"\"", "a\"b",
	    "AND", "OR", "NOT", "a OR b", "NEAR(a b)", "NEAR", "*", "a*",
	    "^a", "-a", "a -b", "(", ")", "{x}", "x:y", "body:x", "'", "\\",
	    "%", "_", "%%%", "\xf0\x9f\x98\x80", "caf\xc3\xa9 \xf0\x9f\x92\xa9",
	    "!@#$%^&*()", "&", "|", "!", "<->", "a <-> b", ":*", "a:*",
	    "\t", "x\ny", "NULL", "'; DROP TABLE messages; --", NULL };
	const char *members[] = { "1", "2" };
	int64_t pub, priv, other, ids[30], id;
	char text[64], big[CF_STORE_SEARCH_MAX + 2], many[200];
	json_t *l, *m;
	const char *ex;
	size_t i;
	int more, was;

	pub = mkchan(fx->db, "pub", 0, "1", NULL, 0);
	priv = mkchan(fx->db, "priv", 1, "1", members, 2);
	other = mkchan(fx->db, "other", 0, "1", NULL, 0);
	post(fx->db, pub, "1", "the quick brown fox", T0);
	id = post(fx->db, pub, "1", "Fox fox FOX, all foxes and a fox", T0 + 1);
	post(fx->db, pub, "1", "nothing to see", T0 + 2);
	post(fx->db, priv, "1", "secret fox plans", T0 + 3);
	post(fx->db, other, "2", "Caf\xc3\xa9 au lait", T0 + 4);

	/* Best match first, an excerpt with the match marked. */
	l = find(fx->db, "1", "fox", 0, 0, 10, &more);
	assert_int_equal(json_array_size(l), 3);
	assert_int_equal(more, 0);
	assert_int_equal(iget(json_array_get(l, 0), "id"), id);
	ex = sget(json_array_get(l, 0), "excerpt");
	assert_non_null(strstr(ex, "\xc2\xab" "Fox" "\xc2\xbb"));
	assert_string_equal(sget(json_array_get(l, 0), "message"),
	    "Fox fox FOX, all foxes and a fox");
	json_decref(l);
	/* Every word must match; case and diacritics aside. */
	assert_int_equal(nfound(fx->db, "1", "QUICK fox"), 1);
	assert_int_equal(nfound(fx->db, "1", "quick see"), 0);
	/*
	 * SQLite folds every letter and diacritics; PostgreSQL's 'simple'
	 * folds as the database's locale does (ASCII in the tests' C locale).
	 */
	assert_int_equal(nfound(fx->db, "1", "CAF\xc3\xa9"), 1);
	assert_int_equal(nfound(fx->db, "1", "CAF\xc3\x89"), use_pg ? 0 : 1);
	assert_int_equal(nfound(fx->db, "1", "cafe"), use_pg ? 0 : 1);
	/* The private channel: its members only; everything with NULL. */
	assert_int_equal(nfound(fx->db, "1", "secret"), 1);
	assert_int_equal(nfound(fx->db, "2", "secret"), 1);
	assert_int_equal(nfound(fx->db, "3", "secret"), 0);
	assert_int_equal(nfound(fx->db, "3", "fox"), 2);
	assert_int_equal(nfound(fx->db, NULL, "fox"), 3);
	/* One channel. */
	l = find(fx->db, "1", "fox", priv, 0, 10, NULL);
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	l = find(fx->db, "1", "fox", other, 0, 10, NULL);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	/* Archived channels stay searchable. */
	assert_int_equal(cf_store_channel_archive(fx->db, other, T0 + 5, &m,
	    &was), 0);
	json_decref(m);
	assert_int_equal(nfound(fx->db, "3", "lait"), 1);

	/* Paging: the newest matches below before, then older ones. */
	for (i = 0; i < 30; i++) {
		snprintf(text, sizeof(text), "page word%zu", i);
		ids[i] = post(fx->db, pub, "1", text, T0 + 10 + (int64_t)i);
	}
	l = find(fx->db, "1", "page", 0, 0, 10, &more);
	assert_int_equal(json_array_size(l), 10);
	assert_int_equal(more, 1);
	for (i = 0; i < 10; i++) {
		m = json_array_get(l, i);
		assert_true(iget(m, "id") >= ids[20]);
	}
	json_decref(l);
	l = find(fx->db, "1", "page", 0, ids[20], 10, &more);
	assert_int_equal(json_array_size(l), 10);
	assert_int_equal(more, 1);
	for (i = 0; i < 10; i++) {
		m = json_array_get(l, i);
		assert_true(iget(m, "id") >= ids[10] && iget(m, "id") < ids[20]);
	}
	json_decref(l);
	l = find(fx->db, "1", "page", 0, ids[10], 10, &more);
	assert_int_equal(json_array_size(l), 10);
	assert_int_equal(more, 0);
	json_decref(l);
	l = find(fx->db, "1", "page", 0, ids[0], 10, &more);
	assert_int_equal(json_array_size(l), 0);
	assert_int_equal(more, 0);
	json_decref(l);

	/* Hostile text: plain words, never an error. */
	for (i = 0; nasty[i] != NULL; i++) {
		if (strspn(nasty[i], " \t\n") == strlen(nasty[i])) {
			assert_int_equal(cf_store_message_search(fx->db, "1",
			    nasty[i], 0, 0, 10, &l, NULL), -EINVAL);
			continue;
		}
		l = find(fx->db, "1", nasty[i], 0, 0, 10, NULL);
		json_decref(l);
	}
	assert_int_equal(nfound(fx->db, "1", "\"fox\""), 3);
	assert_int_equal(nfound(fx->db, "1", "fox OR nothing"), 0);
	assert_int_equal(nfound(fx->db, "1", "fox AND"), 1);
	assert_int_equal(nfound(fx->db, "1", "fox NEAR"), 0);
	assert_int_equal(nfound(fx->db, "1", "fox -quick"), 1);
	assert_int_equal(nfound(fx->db, "1", "fox*"), 3);
	/* No word, too many words, too long: -EINVAL. */
	assert_int_equal(cf_store_message_search(fx->db, "1", "", 0, 0, 10,
	    &l, NULL), -EINVAL);
	assert_null(l);
	assert_int_equal(cf_store_message_search(fx->db, "1", "  \t ", 0, 0,
	    10, &l, NULL), -EINVAL);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(cf_store_message_search(fx->db, "1", big, 0, 0, 10,
	    &l, NULL), -EINVAL);
	big[CF_STORE_SEARCH_MAX] = '\0';
	json_decref(find(fx->db, "1", big, 0, 0, 10, NULL));
	many[0] = '\0';
	for (i = 0; i <= CF_STORE_SEARCH_WORDS; i++)
		strcat(many, "w ");
	assert_int_equal(cf_store_message_search(fx->db, "1", many, 0, 0, 10,
	    &l, NULL), -EINVAL);
	many[2 * CF_STORE_SEARCH_WORDS] = '\0';
	json_decref(find(fx->db, "1", many, 0, 0, 10, NULL));
	assert_int_equal(cf_store_message_search(fx->db, "", "x", 0, 0, 10,
	    &l, NULL), -EINVAL);
	assert_int_equal(cf_store_message_search(NULL, "1", "x", 0, 0, 10,
	    &l, NULL), -EINVAL);

	/* Edits and deletes reach the index (the database keeps it). */
	assert_int_equal(cf_db_query_i64(fx->db, "UPDATE messages SET"
	    " body = 'renamed badger' WHERE body = 'nothing to see'", NULL),
	    -ENOENT);
	assert_int_equal(nfound(fx->db, "1", "badger"), 1);
	assert_int_equal(nfound(fx->db, "1", "nothing"), 0);
	assert_int_equal(cf_db_query_i64(fx->db, "DELETE FROM messages"
	    " WHERE body = 'renamed badger'", NULL), -ENOENT);
	assert_int_equal(nfound(fx->db, "1", "badger"), 0);
}

/*
 * Retention: the oldest messages before the bound go, at most max per
 * call, with their files and index entries; replies to them stay.
 */
static void
test_purge(void **state)
{
	struct fx *fx = *state;
	int64_t ch, old[5], young, reply, n;
	json_t *m;
	int i;

	ch = mkchan(fx->db, "c", 0, "1", NULL, 0);
	for (i = 0; i < 5; i++)
		old[i] = post(fx->db, ch, "1", "ancient history", T0 + i);
	assert_int_equal(cf_store_file_add(fx->db, old[0], "f.txt", 3,
	    "text/plain", "1", T0), 0);
	assert_int_equal(cf_store_message_insert(fx->db, ch, "1", "N",
	    "a reply", "text", old[1], NULL, T0 + 100, &m, NULL), 0);
	reply = iget(m, "id");
	json_decref(m);
	young = post(fx->db, ch, "1", "ancient but young", T0 + 101);

	assert_int_equal(cf_store_message_purge(fx->db, T0 + 50, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM message_files"), 0);
	assert_int_equal(cf_store_message_purge(fx->db, T0 + 50, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(cf_store_message_purge(fx->db, T0 + 50, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(cf_store_message_purge(fx->db, T0 + 50, 2, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(q64(fx->db, "SELECT count(*) FROM messages"), 2);
	assert_int_equal(cf_store_message_get(fx->db, reply, &m), 0);
	assert_true(json_is_null(json_object_get(m, "replyToId")));
	json_decref(m);
	assert_int_equal(nfound(fx->db, "1", "ancient"), 1);
	m = find(fx->db, "1", "ancient", 0, 0, 10, NULL);
	assert_int_equal(iget(json_array_get(m, 0), "id"), young);
	json_decref(m);
	assert_int_equal(cf_store_message_purge(fx->db, T0, 0, &n), -EINVAL);
	assert_int_equal(cf_store_message_purge(NULL, T0, 1, &n), -EINVAL);
}

/*
 * The search schema on a database that already holds messages: SQLite
 * fills the index from them ('rebuild'), PostgreSQL builds its GIN
 * index over them.  Made by undoing the step and reopening.
 */
static void
test_search_migration(void **state)
{
	struct fx *fx = *state;
	static const char *const sqlite_undo[] = {
	    "DROP TRIGGER messages_fts_delete", "DROP TRIGGER messages_fts_update",
	    "DROP TABLE messages_fts", "DROP TABLE messages_fts_pos",
	    "PRAGMA user_version = 7", NULL };
	static const char *const pg_undo[] = {
	    "DROP INDEX messages_search",
	    "ALTER TABLE messages DROP COLUMN body_tsv",
	    "UPDATE schema_version SET version = 7", NULL };
	const char *const *undo = use_pg ? pg_undo : sqlite_undo;
	int64_t ch, id;
	json_t *l;
	size_t i;

	ch = mkchan(fx->db, "c", 0, "1", NULL, 0);
	for (i = 0; undo[i] != NULL; i++)
		assert_int_equal(cf_db_query_i64(fx->db, undo[i], NULL),
		    -ENOENT);
	id = post(fx->db, ch, "1", "written before the index", T0);
	post(fx->db, ch, "1", "another one", T0);
	cf_db_close(fx->db);
	assert_non_null(fx->db = cf_db_open(fx->path));
	if (use_pg)
		assert_int_equal(q64(fx->db, "SELECT count(*) FROM pg_indexes"
		    " WHERE indexname = 'messages_search'"), 1);
	else
		assert_int_equal(q64(fx->db, "PRAGMA user_version"),
		    CF_DB_SCHEMA_VERSION);
	l = find(fx->db, "1", "before index", 0, 0, 10, NULL);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(iget(json_array_get(l, 0), "id"), id);
	json_decref(l);
	/* And the index follows new rows. */
	post(fx->db, ch, "1", "after the index", T0);
	assert_int_equal(nfound(fx->db, "1", "index"), 2);
}

/*
 * Indexing after the commit (SQLite; PostgreSQL indexes in the
 * message's transaction and cf_store_search_index does nothing): in
 * batches of at most max, oldest first; a message edited or deleted
 * before it is indexed is indexed as it then is, or not at all.
 */
static void
test_search_index(void **state)
{
	struct fx *fx = *state;
	int64_t ch, a, b, n;
	json_t *l;
	int i;

	ch = mkchan(fx->db, "c", 0, "1", NULL, 0);
	assert_int_equal(cf_store_search_index(fx->db, 10, &n), 0);
	assert_int_equal(n, 0);
	for (i = 0; i < 5; i++)
		post(fx->db, ch, "1", "lynx", T0);
	a = post(fx->db, ch, "1", "first draft", T0);
	b = post(fx->db, ch, "1", "doomed words", T0);
	assert_int_equal(cf_db_query_i64(fx->db, "UPDATE messages SET"
	    " body = 'second draft' WHERE body = 'first draft'", NULL),
	    -ENOENT);
	assert_int_equal(cf_db_query_i64(fx->db, "DELETE FROM messages"
	    " WHERE body = 'doomed words'", NULL), -ENOENT);
	if (use_pg) {
		assert_int_equal(cf_store_search_index(fx->db, 3, &n), 0);
		assert_int_equal(n, 0);
	} else {
		/* Not indexed yet: not found. */
		assert_int_equal(cf_store_message_search(fx->db, "1", "lynx",
		    0, 0, 10, &l, NULL), 0);
		assert_int_equal(json_array_size(l), 0);
		json_decref(l);
		assert_int_equal(cf_store_search_index(fx->db, 3, &n), 0);
		assert_int_equal(n, 3);
		/* Its commit alone was not synced: FULL again after it. */
		assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 2);
		assert_int_equal(cf_store_message_search(fx->db, "1", "lynx",
		    0, 0, 10, &l, NULL), 0);
		assert_int_equal(json_array_size(l), 3);
		json_decref(l);
		/* The rest: the deleted one is no row to index. */
		assert_int_equal(cf_store_search_index(fx->db, 10, &n), 0);
		assert_int_equal(n, 3);
		assert_int_equal(cf_store_search_index(fx->db, 10, &n), 0);
		assert_int_equal(n, 0);
		assert_int_equal(q64(fx->db, "SELECT pos FROM"
		    " messages_fts_pos"), a);
		assert_true(b > a);
		/* The index holds exactly the rows (FTS5's own check). */
		assert_int_equal(cf_db_query_i64(fx->db, "INSERT INTO"
		    " messages_fts(messages_fts, rank)"
		    " VALUES ('integrity-check', 1)", NULL), -ENOENT);
		/* A level the operator lowered stays as set. */
		assert_int_equal(cf_db_set_synchronous(fx->db, "normal"), 0);
		post(fx->db, ch, "1", "lynx", T0);
		assert_int_equal(cf_store_search_index(fx->db, 10, &n), 0);
		assert_int_equal(n, 1);
		assert_int_equal(q64(fx->db, "PRAGMA synchronous"), 1);
		assert_int_equal(cf_db_set_synchronous(fx->db, "full"), 0);
	}
	assert_int_equal(nfound(fx->db, "1", "lynx"), use_pg ? 5 : 6);
	assert_int_equal(nfound(fx->db, "1", "first"), 0);
	assert_int_equal(nfound(fx->db, "1", "doomed"), 0);
	l = find(fx->db, "1", "draft", 0, 0, 10, NULL);
	assert_int_equal(json_array_size(l), 1);
	assert_int_equal(iget(json_array_get(l, 0), "id"), a);
	json_decref(l);
	assert_int_equal(cf_store_search_index(fx->db, 0, &n), -EINVAL);
	assert_int_equal(cf_store_search_index(NULL, 1, &n), -EINVAL);
}

int
main(void)
{
	/* Both backends. */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_id_json),
		cmocka_unit_test(test_iso8601),
		cmocka_unit_test(test_null_db),
		cmocka_unit_test_setup_teardown(test_eio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synchronous, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_user_upsert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_user_name, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_channel_create, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_default_channel, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_membership, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_channel_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_channel_update, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_insert, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_client_msg_id, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_add, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_set, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_presence, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_presence_statuses, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_broadcast, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_hook, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_create, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_busy_limit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_missed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_missed_known, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_transition, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_between, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_history, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_sweep, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_live, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_savepoint, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_dedupe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_other_write, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_rate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hook_outbox, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dm_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mentions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list_archived, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_edit_delete,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_reactions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_migration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_search_index, setup,
		    teardown),
	};
	/* SQLite's own. */
	const struct CMUnitTest sqlite_tests[] = {
		cmocka_unit_test_setup_teardown(test_migration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_call_migration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dm_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_v5_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_scrubs, setup,
		    teardown),
	};
	/* PostgreSQL's own. */
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test_setup_teardown(test_pg_migration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_v5_upgrade, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_reconnect, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_racing_calls, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_batch_lost, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_batch_lock, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pg_dm_upgrade, setup,
		    teardown),
	};
	int failed;

	cf_log_set_proc("test_store");
	failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
	failed += cmocka_run_group_tests_name("sqlite only", sqlite_tests,
	    NULL, NULL);
	if (pg_start() == -1) {
		fprintf(stderr, "PostgreSQL is not installed: only SQLite "
		    "was tested\n");
		return (failed);
	}
	failed += cmocka_run_group_tests_name("postgresql", tests,
	    pg_group_setup, pg_group_teardown);
	failed += cmocka_run_group_tests_name("postgresql only", pg_tests,
	    pg_group_setup, pg_group_teardown);
	pg_stop();
	return (failed);
}
