/*
 * test_shm.c -- unit tests for the shared-memory segment and its presence
 * table, including a holder killed with the table lock held.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/shm.h"

/* Test-only hook defined in shm.c: take the table lock and keep it. */
extern int	 cf_shm_test_lock(struct cf_shm *);

static void
test_create_bad(void **state)
{
	(void)state;
	errno = 0;
	assert_null(cf_shm_create(0, 16));
	assert_int_equal(errno, EINVAL);
	assert_null(cf_shm_create(CF_SHM_MAX_SLOTS + 1, 16));
	assert_null(cf_shm_create(4, 0));
	cf_shm_destroy(NULL);
}

static void
test_stats(void **state)
{
	struct cf_shm		*shm;
	struct cf_shm_stats	*st;

	(void)state;
	shm = cf_shm_create(4, 16);
	assert_non_null(shm);
	assert_int_equal(cf_shm_nslots(shm), 4);
	assert_null(cf_shm_stats(shm, 4));
	st = cf_shm_stats(shm, 3);
	assert_non_null(st);
	assert_int_equal((uintptr_t)st % 128, 0);
	assert_ptr_not_equal(st, cf_shm_stats(shm, 2));
	st->connections = 7;
	st->pid = 1234;
	assert_int_equal(cf_shm_stats(shm, 3)->connections, 7);
	assert_int_equal(cf_shm_purge_slot(shm, 3), 0);
	assert_int_equal(cf_shm_stats(shm, 3)->connections, 0);
	assert_int_equal(cf_shm_stats(shm, 3)->pid, 0);
	assert_int_equal(cf_shm_purge_slot(shm, 4), -1);
	cf_shm_destroy(shm);
}

static void
test_metrics_counters(void **state)
{
	struct cf_shm		*shm;
	struct cf_shm_stats	*st;
	char			 code[16];
	unsigned		 i;

	(void)state;
	assert_null(cf_shm_stats(NULL, 0));
	shm = cf_shm_create(2, 16);
	assert_non_null(shm);
	st = cf_shm_stats(shm, 1);
	/* NULL-safe for a process without shared memory. */
	cf_shm_observe_db_write(NULL, 5);
	cf_shm_count_error(NULL, "x");

	/* Histogram: one bucket per observation, +Inf beyond the last. */
	cf_shm_observe_db_write(st, 0);
	cf_shm_observe_db_write(st, cf_shm_db_bucket_us[0]);
	cf_shm_observe_db_write(st, cf_shm_db_bucket_us[0] + 1);
	cf_shm_observe_db_write(st, cf_shm_db_bucket_us[CF_SHM_DB_BUCKETS - 1]
	    + 1);
	assert_int_equal(st->db_write_buckets[0], 2);
	assert_int_equal(st->db_write_buckets[1], 1);
	assert_int_equal(st->db_write_count, 4);
	assert_int_equal(st->db_write_sum_us, 2 * cf_shm_db_bucket_us[0] +
	    cf_shm_db_bucket_us[CF_SHM_DB_BUCKETS - 1] + 2);
	for (i = 1; i < CF_SHM_DB_BUCKETS; i++)
		assert_true(cf_shm_db_bucket_us[i] > cf_shm_db_bucket_us[i - 1]);

	/* Error codes: counted by name; past the table, "other". */
	cf_shm_count_error(st, "not_found");
	cf_shm_count_error(st, "not_found");
	cf_shm_count_error(st, "invalid_payload");
	assert_int_equal(st->nerrors, 2);
	assert_string_equal(st->errors[0].code, "not_found");
	assert_int_equal(st->errors[0].count, 2);
	assert_int_equal(st->errors[1].count, 1);
	cf_shm_count_error(st, "a-code-that-is-much-too-long-to-keep-here");
	assert_string_equal(st->errors[2].code, "other");
	for (i = 0; i < 2 * CF_SHM_ERROR_CODES; i++) {
		snprintf(code, sizeof(code), "code%u", i);
		cf_shm_count_error(st, code);
	}
	/* "other" took a place early, so the last one stays free. */
	assert_int_equal(st->nerrors, CF_SHM_ERROR_CODES - 1);
	assert_string_equal(st->errors[2].code, "other");
	assert_true(st->errors[2].count > 1);
	{
		uint64_t total = 0;

		for (i = 0; i < st->nerrors; i++)
			total += st->errors[i].count;
		assert_int_equal(total, 4 + 2 * CF_SHM_ERROR_CODES);
	}

	/* The purge keeps the master's restart count only. */
	st->restarts = 3;
	st->deliveries_out = 9;
	assert_int_equal(cf_shm_purge_slot(shm, 1), 0);
	assert_int_equal(st->restarts, 3);
	assert_int_equal(st->deliveries_out, 0);
	assert_int_equal(st->nerrors, 0);
	assert_int_equal(st->db_write_count, 0);
	cf_shm_destroy(shm);
}

static void
test_edges(void **state)
{
	struct cf_shm	*shm;
	uint32_t	 t = 99;

	(void)state;
	shm = cf_shm_create(2, 8);
	assert_non_null(shm);
	assert_int_equal(cf_shm_presence_get(shm, "alice"), 0);

	/* -1 on an unknown user is ignored. */
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", -1, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cf_shm_presence_get(shm, "alice"), 0);

	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", 1, &t), 0);
	assert_int_equal(t, 1);				/* 0 -> 1 */
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", 1, &t), 0);
	assert_int_equal(t, 2);
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", -1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", -1, &t), 0);
	assert_int_equal(t, 0);				/* 1 -> 0 */
	assert_int_equal(cf_shm_presence_get(shm, "alice"), 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", -1, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "alice", 1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_get(shm, "alice"), 1);
	cf_shm_destroy(shm);
}

static void
test_several_slots(void **state)
{
	struct cf_shm	*shm;
	uint32_t	 t;

	(void)state;
	shm = cf_shm_create(3, 8);
	assert_non_null(shm);
	assert_int_equal(cf_shm_presence_add(shm, 0, "bob", 1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_add(shm, 1, "bob", 1, &t), 0);
	assert_int_equal(t, 2);
	assert_int_equal(cf_shm_presence_add(shm, 2, "bob", 1, &t), 0);
	assert_int_equal(t, 3);
	/* A -1 on a slot whose count is zero does not steal another's. */
	assert_int_equal(cf_shm_presence_add(shm, 1, "bob", -1, &t), 0);
	assert_int_equal(t, 2);
	assert_int_equal(cf_shm_presence_add(shm, 1, "bob", -1, &t), 0);
	assert_int_equal(t, 2);
	assert_int_equal(cf_shm_presence_add(shm, 0, "bob", -1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_get(shm, "bob"), 1);
	assert_int_equal(cf_shm_presence_add(shm, 2, "bob", -1, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cf_shm_presence_get(shm, "bob"), 0);
	/* NULL total is allowed. */
	assert_int_equal(cf_shm_presence_add(shm, 2, "bob", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_get(shm, "bob"), 1);
	cf_shm_destroy(shm);
}

static void
test_bad_args(void **state)
{
	struct cf_shm	*shm;
	char		 lng[CF_SHM_USER_MAX + 8];
	uint32_t	 t;

	(void)state;
	shm = cf_shm_create(2, 8);
	assert_non_null(shm);
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	errno = 0;
	assert_int_equal(cf_shm_presence_add(shm, 0, lng, 1, &t), -1);
	assert_int_equal(errno, EINVAL);
	/* Exactly CF_SHM_USER_MAX bytes without the NUL: too long. */
	lng[CF_SHM_USER_MAX] = '\0';
	errno = 0;
	assert_int_equal(cf_shm_presence_add(shm, 0, lng, 1, &t), -1);
	assert_int_equal(errno, EINVAL);
	/* CF_SHM_USER_MAX - 1 bytes fit. */
	lng[CF_SHM_USER_MAX - 1] = '\0';
	assert_int_equal(cf_shm_presence_add(shm, 0, lng, 1, &t), 0);
	assert_int_equal(cf_shm_presence_get(shm, lng), 1);
	errno = 0;
	assert_int_equal(cf_shm_presence_add(shm, 2, "u", 1, &t), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cf_shm_presence_add(shm, 0, "", 1, &t), -1);
	assert_int_equal(cf_shm_presence_add(shm, 0, NULL, 1, &t), -1);
	assert_int_equal(cf_shm_presence_add(shm, 0, "u", 5, &t), -1);
	assert_int_equal(cf_shm_presence_get(shm, "u"), 0);
	cf_shm_destroy(shm);
}

static void
test_full(void **state)
{
	struct cf_shm	*shm;
	char		 name[32];
	uint32_t	 t;
	int		 i;

	(void)state;
	shm = cf_shm_create(2, 7);	/* rounded up to 8 */
	assert_non_null(shm);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_int_equal(cf_shm_presence_add(shm, 1, name, 1, &t), 0);
		assert_int_equal(t, 1);
	}
	errno = 0;
	assert_int_equal(cf_shm_presence_add(shm, 0, "onemore", 1, &t), -1);
	assert_int_equal(errno, ENOSPC);
	/* Existing users still update while full. */
	assert_int_equal(cf_shm_presence_add(shm, 0, "user3", 1, &t), 0);
	assert_int_equal(t, 2);
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		assert_int_equal(cf_shm_presence_get(shm, name),
		    i == 3 ? 2 : 1);
	}
	/* Free one and the newcomer fits. */
	assert_int_equal(cf_shm_presence_add(shm, 1, "user5", -1, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "onemore", 1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_get(shm, "onemore"), 1);
	cf_shm_destroy(shm);
}

/* Many inserts and deletes exercise tombstones and compaction. */
static void
test_churn(void **state)
{
	struct cf_shm	*shm;
	char		 name[32];
	uint32_t	 t, expect[200];
	int		 i, round;

	(void)state;
	shm = cf_shm_create(2, 64);
	assert_non_null(shm);
	memset(expect, 0, sizeof(expect));
	srand(42);
	for (round = 0; round < 20000; round++) {
		i = rand() % 200;
		snprintf(name, sizeof(name), "churn-%d", i);
		if (expect[i] > 0 && (rand() & 1)) {
			assert_int_equal(cf_shm_presence_add(shm, i & 1,
			    name, -1, &t), 0);
			/* Only slot i&1 was ever used for user i. */
			expect[i]--;
			assert_int_equal(t, expect[i]);
		} else {
			if (cf_shm_presence_add(shm, i & 1, name, 1,
			    &t) == -1) {
				assert_int_equal(errno, ENOSPC);
				continue;
			}
			expect[i]++;
			assert_int_equal(t, expect[i]);
		}
	}
	for (i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "churn-%d", i);
		assert_int_equal(cf_shm_presence_get(shm, name), expect[i]);
	}
	cf_shm_destroy(shm);
}

struct each_ctx {
	int	 calls;
	int	 stop_after;
	uint32_t sum;
	int	 saw_carol;
};

static int
each_cb(void *arg, const char *user, uint32_t total)
{
	struct each_ctx *c = arg;

	c->calls++;
	c->sum += total;
	if (strcmp(user, "carol") == 0) {
		assert_int_equal(total, 3);
		c->saw_carol = 1;
	}
	return (c->stop_after != 0 && c->calls >= c->stop_after);
}

static void
test_each(void **state)
{
	struct cf_shm	*shm;
	struct each_ctx	 c;

	(void)state;
	shm = cf_shm_create(2, 16);
	assert_non_null(shm);
	memset(&c, 0, sizeof(c));
	assert_int_equal(cf_shm_presence_each(shm, each_cb, &c), 0);
	assert_int_equal(c.calls, 0);

	assert_int_equal(cf_shm_presence_add(shm, 0, "carol", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 1, "carol", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 1, "carol", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "dave", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "erin", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "erin", -1, NULL), 0);

	memset(&c, 0, sizeof(c));
	assert_int_equal(cf_shm_presence_each(shm, each_cb, &c), 2);
	assert_int_equal(c.calls, 2);
	assert_int_equal(c.sum, 4);
	assert_true(c.saw_carol);

	memset(&c, 0, sizeof(c));
	c.stop_after = 1;
	assert_int_equal(cf_shm_presence_each(shm, each_cb, &c), 1);
	assert_int_equal(c.calls, 1);
	cf_shm_destroy(shm);
}

static void
test_purge(void **state)
{
	struct cf_shm	*shm;
	struct each_ctx	 c;
	uint32_t	 t;

	(void)state;
	shm = cf_shm_create(3, 16);
	assert_non_null(shm);
	assert_int_equal(cf_shm_presence_add(shm, 1, "frank", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 1, "frank", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 2, "frank", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 1, "gina", 1, NULL), 0);
	assert_int_equal(cf_shm_presence_add(shm, 0, "hank", 1, NULL), 0);
	cf_shm_stats(shm, 1)->events_in = 55;
	cf_shm_stats(shm, 0)->events_in = 11;

	assert_int_equal(cf_shm_purge_slot(shm, 1), 0);
	assert_int_equal(cf_shm_presence_get(shm, "frank"), 1);
	assert_int_equal(cf_shm_presence_get(shm, "gina"), 0);
	assert_int_equal(cf_shm_presence_get(shm, "hank"), 1);
	assert_int_equal(cf_shm_stats(shm, 1)->events_in, 0);
	assert_int_equal(cf_shm_stats(shm, 0)->events_in, 11);
	memset(&c, 0, sizeof(c));
	assert_int_equal(cf_shm_presence_each(shm, each_cb, &c), 2);

	/* The slot's worker starts again from zero. */
	assert_int_equal(cf_shm_presence_add(shm, 1, "frank", -1, &t), 0);
	assert_int_equal(t, 1);
	assert_int_equal(cf_shm_presence_add(shm, 1, "gina", 1, &t), 0);
	assert_int_equal(t, 1);
	cf_shm_destroy(shm);
}

/*
 * A child takes the table lock and is SIGKILLed holding it.  The parent's
 * next operation gets EOWNERDEAD internally, repairs and succeeds.
 */
static void
test_crash_holding_lock(void **state)
{
	struct cf_shm	*shm;
	uint32_t	 t;
	pid_t		 pid;
	int		 pfd[2], status;
	char		 c;

	(void)state;
	shm = cf_shm_create(2, 16);
	assert_non_null(shm);
	assert_int_equal(cf_shm_presence_add(shm, 0, "ivan", 1, NULL), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		close(pfd[0]);
		if (cf_shm_presence_add(shm, 1, "ivan", 1, NULL) == -1 ||
		    cf_shm_presence_add(shm, 1, "judy", 1, NULL) == -1 ||
		    cf_shm_test_lock(shm) == -1)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	/* Lock-free reads work while the lock is orphaned. */
	assert_int_equal(cf_shm_presence_get(shm, "ivan"), 2);

	assert_int_equal(cf_shm_presence_add(shm, 0, "ivan", 1, &t), 0);
	assert_int_equal(t, 3);
	assert_int_equal(cf_shm_presence_get(shm, "judy"), 1);
	/* And the lock works normally afterwards. */
	assert_int_equal(cf_shm_presence_add(shm, 0, "kim", 1, &t), 0);
	assert_int_equal(t, 1);

	assert_int_equal(cf_shm_purge_slot(shm, 1), 0);
	assert_int_equal(cf_shm_presence_get(shm, "ivan"), 2);
	assert_int_equal(cf_shm_presence_get(shm, "judy"), 0);
	assert_int_equal(cf_shm_presence_get(shm, "kim"), 1);
	cf_shm_destroy(shm);
}

/*
 * The purge itself repairs an orphaned lock (the master purges a dead
 * worker's slot first thing).
 */
static void
test_crash_then_purge(void **state)
{
	struct cf_shm	*shm;
	pid_t		 pid;
	int		 pfd[2], status;
	char		 c;

	(void)state;
	shm = cf_shm_create(2, 16);
	assert_non_null(shm);
	assert_int_equal(cf_shm_presence_add(shm, 0, "lena", 1, NULL), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		close(pfd[0]);
		if (cf_shm_presence_add(shm, 1, "lena", 1, NULL) == -1 ||
		    cf_shm_presence_add(shm, 1, "mike", 1, NULL) == -1 ||
		    cf_shm_test_lock(shm) == -1)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(cf_shm_purge_slot(shm, 1), 0);
	assert_int_equal(cf_shm_presence_get(shm, "lena"), 1);
	assert_int_equal(cf_shm_presence_get(shm, "mike"), 0);
	cf_shm_destroy(shm);
}

static void
sleep_us(long us)
{
	struct timespec	 ts;

	ts.tv_sec = us / 1000000;
	ts.tv_nsec = (us % 1000000) * 1000;
	nanosleep(&ts, NULL);
}

/*
 * A child hammers the table from slot 1 (inserts, deletes, compactions)
 * and is SIGKILLed at random moments, many times.  Each time the parent
 * must still operate, its own slot-0 counts must be exact, and after the
 * purge of slot 1 nothing of the child remains.
 */
static void
test_crash_random(void **state)
{
	struct cf_shm	*shm;
	char		 name[32];
	uint32_t	 t;
	pid_t		 pid;
	int		 round, i, status, child_left;

	(void)state;
	shm = cf_shm_create(2, 64);
	assert_non_null(shm);
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "keep-%d", i);
		assert_int_equal(cf_shm_presence_add(shm, 0, name, 1, NULL),
		    0);
	}
	srand(7);
	for (round = 0; round < 60; round++) {
		pid = fork();
		assert_int_not_equal(pid, -1);
		if (pid == 0) {
			unsigned s = (unsigned)getpid();

			for (;;) {
				s = s * 1103515245u + 12345u;
				snprintf(name, sizeof(name), "%s-%u",
				    (s >> 8) & 1 ? "keep" : "tmp",
				    (s >> 9) % 40);
				cf_shm_presence_add(shm, 1, name,
				    (s >> 16) & 1 ? 1 : -1, NULL);
			}
		}
		sleep_us(200 + rand() % 3000);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);

		/* The parent keeps working with its own column. */
		assert_int_equal(cf_shm_presence_add(shm, 0, "keep-3", 1,
		    &t), 0);
		assert_true(t >= 2);
		assert_int_equal(cf_shm_presence_add(shm, 0, "keep-3", -1,
		    &t), 0);
		assert_true(t >= 1);

		if (round % 2 == 0) {
			/* Sometimes the child's column survives a round. */
			continue;
		}
		assert_int_equal(cf_shm_purge_slot(shm, 1), 0);
		for (i = 0; i < 10; i++) {
			snprintf(name, sizeof(name), "keep-%d", i);
			assert_int_equal(cf_shm_presence_get(shm, name), 1);
		}
		child_left = 0;
		for (i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "tmp-%d", i);
			child_left += cf_shm_presence_get(shm, name);
		}
		assert_int_equal(child_left, 0);
		assert_int_equal(cf_shm_presence_each(shm, each_cb,
		    &(struct each_ctx){ 0 }), 10);
	}
	cf_shm_destroy(shm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_bad),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_metrics_counters),
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_several_slots),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_churn),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_purge),
		cmocka_unit_test(test_crash_holding_lock),
		cmocka_unit_test(test_crash_then_purge),
		cmocka_unit_test(test_crash_random),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
