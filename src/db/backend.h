/*
 * backend.h -- what a storage backend (sqlite.c, pg.c) provides to db.c
 * and the store (store_*.c, store_int.h); not for the rest of the daemon.
 *
 * The store writes its SQL once, in the dialect both backends accept:
 * parameters are ?1, ?2, ... (pg.c turns them into $1, $2, ...); upserts
 * use ON CONFLICT; new ids come back through RETURNING; booleans are
 * integers compared with <> 0.  A statement is prepared with its
 * parameters bound, then stepped row by row; a backend may run it at
 * prepare time (pg.c does) or at the first step (sqlite.c).
 *
 * Bind formats: 'i' an int64_t, 'd' an int, 't' a string (NULL binds SQL
 * NULL; it must stay valid until the statement is finished).  The store
 * (store_stmt.c) has checked that every string is UTF-8 before a backend
 * sees it.
 */
#ifndef CF_DB_BACKEND_H
#define CF_DB_BACKEND_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct cf_db;
struct json_t;
struct cf_db_stmt;

struct cf_db_ops {
	const char	*name;
	void		 (*close)(struct cf_db *);
	/*
	 * Prepare sql with the variadic arguments bound as fmt says, into
	 * *stp (NULL unless 0 is returned).  0 or a negative errno: a unique
	 * key taken -EEXIST, a missing parent row -ENOENT, a value the schema
	 * refuses -EINVAL, anything else -EIO (logged with func).
	 */
	int		 (*prepare)(struct cf_db *, const char *func,
			    struct cf_db_stmt **stp, const char *sql,
			    const char *fmt, va_list);
	/* 1 a row, 0 done, or a negative errno as above. */
	int		 (*step)(struct cf_db_stmt *, const char *func);
	int		 (*isnull)(struct cf_db_stmt *, int col);
	int64_t		 (*int64)(struct cf_db_stmt *, int col);
	/* A text column (NULL for SQL NULL) and its length in *len. */
	const char	*(*text)(struct cf_db_stmt *, int col, size_t *len);
	/* Rows changed by the statement, once it is done. */
	int64_t		 (*changes)(struct cf_db_stmt *);
	void		 (*finish)(struct cf_db_stmt *);	/* NULL-safe */
	/*
	 * Begin a write transaction.  lock != 0 also serialises every
	 * transaction that takes the same lock, on any host (a PostgreSQL
	 * advisory lock; SQLite serialises every writer anyway).
	 */
	int		 (*begin)(struct cf_db *, const char *func, int64_t lock);
	int		 (*commit)(struct cf_db *, const char *func);
	void		 (*rollback)(struct cf_db *);
	/*
	 * Inside a transaction: mark a savepoint (one level: the store never
	 * nests them), release it keeping its work, or undo the work done
	 * since it and release it (also after a failed statement, which on
	 * PostgreSQL aborts the transaction up to the savepoint).
	 */
	int		 (*savepoint)(struct cf_db *, const char *func);
	/* The most messages (savepoints) a group commit should hold. */
	unsigned	 batch_max;
	int		 (*release)(struct cf_db *, const char *func);
	/*
	 * Take the transaction-level lock `key` in the open transaction
	 * (see begin): waiting for it when wait is set, else only when it is
	 * free.  1 taken, 0 held by another transaction (wait unset), or a
	 * negative errno.  SQLite serialises every writer: always 1.
	 */
	int		 (*lock)(struct cf_db *, const char *func, int64_t key,
			    int wait);
	void		 (*undo)(struct cf_db *);
	/* 1 when no transaction and no statement is open. */
	int		 (*idle)(struct cf_db *);
	/*
	 * A table expression in FROM whose column `value` lists the strings
	 * of the JSON array of strings bound (as text) to parameter ?1, so
	 * that one statement takes a list of any length.
	 */
	const char	*text_list;
	/*
	 * The message search (store_search.c): ?1 the match (see
	 * search_phrases), ?2 the reader's user id (NULL: every channel),
	 * ?3 a channel id or 0, ?4 the bound the ids stay below, ?5 how
	 * many of the newest matches to take.  Rows: id, excerpt, and the
	 * row's place among them by id (1: the newest), best match first.
	 */
	const char	*search_sql;
	/*
	 * NULL, or: search_count_sql (?1 the match, ?2 the id bound, ?3 a
	 * cap) counts the matches up to the cap, and when fewer, the store
	 * runs search_sparse_sql (as search_sql) instead, planned for few.
	 */
	const char	*search_count_sql;
	const char	*search_sparse_sql;
	/*
	 * 1: ?1 is an FTS5 query, which the store makes of the user's words,
	 * each quoted as a phrase; 0: ?1 is the user's text as typed, which
	 * the statement parses itself (plainto_tsquery never fails).
	 */
	int		 search_phrases;
	/*
	 * 1: new messages reach the index after their commit, through
	 * cf_store_search_index (SQLite); 0: in their own transaction.
	 */
	int		 search_async;
	/*
	 * search_async backends: the transaction of an index batch, as
	 * begin and commit (end commits when rc is 0, else or when the
	 * commit fails rolls back; rc or the commit's error).  Its commit
	 * need not reach the disk: the index is derived from the messages,
	 * and a batch a crash loses is lost with its position (the same
	 * transaction), so it is indexed again.
	 */
	int		 (*index_begin)(struct cf_db *, const char *func);
	int		 (*index_end)(struct cf_db *, const char *func, int rc);
};

/*
 * Every backend's handle and statement start with these.  The group
 * commit state belongs to store_stmt.c (the backends calloc their handle, so
 * it starts closed).
 */
struct cf_db {
	const struct cf_db_ops	*ops;
	int			 batch;		/* a group commit is open */
	unsigned		 batch_n;	/* messages stored in it */
	unsigned		 batch_locks;	/* channel locks taken in it */
	/* Commit the open batch for another write (cf_store_batch_hook). */
	int			(*flush)(void *arg);
	void			*flush_arg;
	/* Observe the events of writes (cf_store_event_hook, store.h). */
	int			(*event)(void *arg, struct cf_db *db,
				    const char *event,
				    const struct json_t *data);
	void			*event_arg;
};

struct cf_db_stmt {
	struct cf_db		*db;
	/* store_stmt.c's: when a write outside a transaction began, or 0. */
	uint64_t		 write_t0;
};

/* Open and migrate; NULL with a message logged.  The caller closes. */
struct cf_db	*cf_sqlite_open(const char *path);
struct cf_db	*cf_pg_open(const char *conninfo);
/* PRAGMA synchronous of a SQLite handle: full, normal or off; 0 or -1. */
int		 cf_sqlite_synchronous(struct cf_db *db, const char *level);
/* Fold a SQLite handle's write-ahead log into the file; 0 or -1. */
int		 cf_sqlite_checkpoint(struct cf_db *db);

#endif
