/*
 * proc.h -- the state of a worker process that every layer reads.
 *
 * A worker is built in layers (HACKING.md "Layers"): the process shell
 * (src/worker), the chat application (src/app), the fan-out (src/fanout)
 * and the transport (src/eio).  This header sits below all of them: the
 * worker's identity, loop, configuration and shared memory, and the
 * anchors of what each layer owns (opaque to the others).  The shell fills
 * it at start; everything here runs on the loop thread, nothing is locked.
 */
#ifndef CF_PROC_H
#define CF_PROC_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>
#include <uv.h>

#include "conf.h"

struct cf_shm;
struct cf_relay;
struct cf_sess;
struct cf_room;

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
	uint64_t		 bcast_seq;	/* dedupes multi-room deliveries */
};

extern struct cf_worker *cf_w;	/* the worker of this process */

#endif
