/*
 * worker.h -- the process shell of a worker.
 *
 * A worker runs one libuv loop with one libwebsockets context on it (a
 * foreign loop).  It accepts connections from the listening sockets the
 * master bound, and owns the Engine.IO sessions it created: their id names
 * the owning worker slot, and a request for a session that another worker
 * owns is handed to that worker (the connection itself, passed with
 * SCM_RIGHTS, or for a reused keep-alive connection the single request).
 *
 * The shell is the top layer: worker.c starts and wires the layers below
 * it (HACKING.md "Layers"), accept.c routes new connections.  Everything
 * here runs on the loop thread; nothing is locked.
 */
#ifndef CF_WORKER_H
#define CF_WORKER_H

#include "ipc.h"
#include "proc.h"

/* worker.c: the entry point the master runs in a forked child. */
int	 cf_worker_main(struct cf_worker_init *init);

/* accept.c: accept, peek the request line, route to the owning worker. */
int	 cf_accept_start(struct cf_worker *w, const int *fds, int n);
void	 cf_accept_stop(struct cf_worker *w);
/* Adopt a connection (accepted here or passed by another worker) into lws. */
void	 cf_accept_adopt(struct cf_worker *w, int fd);

#endif
