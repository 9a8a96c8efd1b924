/*
 * proc.h -- the state of a worker process that every layer reads.
 *
 * A worker is built in layers (HACKING.md "Layers"): the process shell
 * (src/worker), the chat application (src/app), the fan-out (src/fanout)
 * and the transport (src/eio).  This header sits below all of them: the
 * worker's identity, loop, configuration and shared memory, and the
 * anchors of what each layer owns (opaque to the others).  The shell fills
 * it at start; everything here runs on the loop thread, nothing is locked.
 *
 * struct cf_worker is the one root of a worker's state (as Redis's
 * `server`): the four layers keep no mutable state at file scope, but for
 * two process settings fixed before the fork (cf_app, cf_http_engine_echo).
 * The shell's own (worker.c, accept.c) is in members here.  Each module of
 * the layers below keeps its state in one struct private to it (defined in
 * its .c, or in its private header when it spans files), reached through
 * a pointer member below whose type is incomplete here.  Its
 * cf_<module>_init(w) allocates it before the shell wires anything (the
 * callbacks registered with a module are part of its state); its NULL-safe
 * cf_<module>_free(w) releases it after the loop has closed, since the
 * module's uv handles live in that struct and must outlive their close
 * callbacks.  In between the pointers are never NULL.  (The libraries
 * below the layers, such as log.c, ipc.c and db/, keep their own.)
 */
#ifndef CF_PROC_H
#define CF_PROC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "conf.h"

struct cf_shm;
struct cf_relay;
struct cf_sess;
struct cf_room;
struct cf_listener;
struct cf_session_state;
struct cf_http_state;
struct cf_cluster_state;
struct cf_batch_state;
struct cf_call_state;
struct cf_event_state;
struct cf_presence_state;
struct cf_auth_state;
struct cf_admin_state;
struct cf_hook_state;
struct cf_indexer_state;
struct cf_retention_state;

struct cf_worker {
	unsigned		 slot;
	unsigned		 nslots;
	unsigned		 generation;	/* byte 1 of our session ids */
	struct cf_conf		*conf;
	const char		*conf_path;
	uv_loop_t		 loop;
	struct lws_context	*lws;
	struct lws_vhost	*vhost;
	struct cf_shm		*shm;
	struct cf_relay		*relay;
	char			 host[40];	/* host-id, or the shm run id */
	char			 uid[64];	/* "<host>/<slot>/<random>": relay and
						   presence identity, unique per worker run */

	int			 draining;	/* SIGTERM seen: stop accepting, close all */
	int			 handover;	/* draining for a new generation
						   (SIGUSR2): announce no presence
						   edges, the master reconciles */
	uint64_t		 drain_deadline;

	struct cf_sess		*sessions;	/* uthash by sid */
	size_t			 nsessions;
	struct cf_room		*rooms;		/* uthash by name */
	/* cf_room_on_server_emit: the application's, or NULL. */
	void			(*server_emit)(struct cf_worker *w,
				    const char *event, const json_t *args);
	uint64_t		 bcast_seq;	/* dedupes multi-room deliveries */

	/* The shell's own: worker.c */
	uv_signal_t		 sig_term, sig_int, sig_quit, sig_hup,
				 sig_usr1, sig_usr2;
	uv_check_t		 reaper;
	uv_prepare_t		 flusher;
	uv_timer_t		 drain_timer;
	int			 exit_code;	/* cf_worker_main's */
	int			 shut_down;	/* shutdown_now() ran */
	/* accept.c */
	struct cf_listener	*listeners;
	int			 nlisteners;
	uv_timer_t		 backoff_timer;
	int			 backoff_init;
	uint64_t		 backoff_logged;	/* ms; 0: never */
	unsigned long		 backoff_count;	/* pauses not yet logged */

	/* Each module's own (see above). */
	struct cf_session_state	*sess;		/* eio/session.c, socket.c */
	struct cf_http_state	*http;		/* eio/http.c, fwd.c */
	struct cf_cluster_state	*cluster;	/* fanout/cluster.c */
	struct cf_batch_state	*batch;		/* app/batch.c */
	struct cf_call_state	*call;		/* app/call.c */
	struct cf_event_state	*events;	/* app/events.c */
	struct cf_presence_state *presence;	/* app/presence.c */
	struct cf_auth_state	*auth;		/* app/auth.c */
	struct cf_admin_state	*admin;		/* app/admin.c */
	struct cf_api_state	*api;		/* app/api.c */
	struct cf_hook_state	*hook;		/* app/hook.c */
	struct cf_indexer_state	*indexer;	/* app/indexer.c */
	struct cf_retention_state *retention;	/* app/retention.c */
};

extern struct cf_worker *cf_w;	/* the worker of this process */

#endif
