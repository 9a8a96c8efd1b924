/*
 * worker.h -- types shared by the modules of a worker process.
 *
 * A worker runs one libuv loop with one libwebsockets context on it (a
 * foreign loop).  It accepts connections from the listening sockets the
 * master bound, and owns the Engine.IO sessions it created: their id names
 * the owning worker slot, and a request for a session that another worker
 * owns is handed to that worker (the connection itself, passed with
 * SCM_RIGHTS, or for a reused keep-alive connection the single request).
 *
 * Everything here runs on the loop thread; nothing is locked.
 */
#ifndef CF_WORKER_H
#define CF_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <uv.h>

#include "codec/sio.h"
#include "conf.h"
#include "util.h"

struct cf_shm;
struct cf_relay;
struct cf_sess;
struct cf_room;

/* What the master hands a worker at fork time. */
struct cf_worker_init {
	unsigned		 slot;		/* 0 .. nslots-1 */
	unsigned		 nslots;
	unsigned		 generation;	/* 1, 2, ...: one per cold reload */
	struct cf_conf		*conf;		/* owned by the worker from now on */
	const char		*conf_path;	/* re-read on SIGHUP, or NULL */
	int			*listen_fds;
	int			 nlisten;
	int			*inbox_rx;	/* [nslots]: inbox_rx[slot] is ours to read */
	int			*inbox_tx;	/* [nslots]: send ends of every inbox */
	int			 master_fd;	/* EOF means the master is gone */
	struct cf_shm		*shm;
};

/*
 * An outgoing Engine.IO packet, reference counted so that a broadcast is
 * encoded once and queued on every recipient.  Text packets hold the whole
 * Engine.IO packet ("4" + Socket.IO packet); binary ones hold raw bytes.
 * LWS_PRE bytes of headroom precede the data, as lws_write() needs.
 */
struct cf_msg {
	uint32_t		 refs;
	uint8_t			 binary;
	size_t			 len;
	uint8_t			 buf[];		/* LWS_PRE headroom, then data */
};
#define CF_MSG_DATA(m)	((m)->buf + LWS_PRE)

/* Copy data into a new message with one reference.  NULL on ENOMEM. */
struct cf_msg	*cf_msg_new(const void *data, size_t len, int binary);
/* A text message "<prefix><data>" without an intermediate copy. */
struct cf_msg	*cf_msg_new2(char prefix, const void *data, size_t len);
struct cf_msg	*cf_msg_ref(struct cf_msg *m);
void		 cf_msg_unref(struct cf_msg *m);	/* NULL-safe */

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

/* worker.c */
int	 cf_worker_main(struct cf_worker_init *init);

/* accept.c: accept, peek the request line, route to the owning worker. */
int	 cf_accept_start(struct cf_worker *w, const int *fds, int n);
void	 cf_accept_stop(struct cf_worker *w);
/* Adopt a connection (accepted here or passed by another worker) into lws. */
void	 cf_accept_adopt(struct cf_worker *w, int fd);
/* The worker slot named by a session id of our generation, or -1. */
int	 cf_sid_slot(const char *sid);
/*
 * 1 when a worker process runs in that slot of our generation (its stats
 * block names a pid; the master clears it when the worker dies, and a
 * slot stopped for crash-looping stays clear): only then is its inbox
 * read, so only then is a connection or request passed to it.
 */
int	 cf_worker_slot_running(struct cf_worker *w, unsigned slot);

/* ipc.c: messages between the workers of one host. */
enum cf_ipc_kind {
	CF_IPC_FD = 1,		/* a connection, SCM_RIGHTS, no payload */
	CF_IPC_RELAY,		/* a relay frame (frame.h), maybe fragmented */
	CF_IPC_FWD_REQ,		/* one HTTP polling request for a session we own */
	CF_IPC_FWD_RESP,	/* its response */
	CF_IPC_GONE,		/* from the master: presence keys whose count
				   fell to 0 with a dead worker ('\n'-joined) */
	CF_IPC_CTL		/* from the master: a control socket connection
				   (SCM_RIGHTS), served by admin.c */
};
int	 cf_ipc_start(struct cf_worker *w, int rx_fd, const int *tx_fds);
void	 cf_ipc_stop(struct cf_worker *w);
/* Release ipc memory once the loop has closed its handles. */
void	 cf_ipc_free(void);
/* Send to another slot; queued when the peer is slow.  fd (or -1) is
 * passed along and closed here once sent.  0 or -1. */
int	 cf_ipc_send(struct cf_worker *w, unsigned slot, enum cf_ipc_kind kind,
	    const void *data, size_t len, int fd);
/*
 * For the master: one whole message (at most CF_IPC_CHUNK_MAX bytes) into
 * an inbox send end, in the inbox format, without queueing.  0 or -1.
 */
#define CF_IPC_CHUNK_MAX	(60 * 1024)
int	 cf_ipc_post(int sock, enum cf_ipc_kind kind, unsigned src,
	    const void *data, size_t len);
/* The same with a descriptor (or -1) passed along; the caller keeps fd. */
int	 cf_ipc_post_fd(int sock, enum cf_ipc_kind kind, unsigned src,
	    const void *data, size_t len, int fd);
/* Send to every other slot. */
void	 cf_ipc_send_all(struct cf_worker *w, enum cf_ipc_kind kind,
	    const void *data, size_t len);

/* http.c: the lws protocol (HTTP polling + WebSocket). */
extern const struct lws_protocols cf_http_protocols[];
extern int cf_http_engine_echo;
int	 cf_http_fwd_request(struct cf_worker *w, unsigned src,
	    const uint8_t *data, size_t len);
void	 cf_http_fwd_response(struct cf_worker *w, const uint8_t *data,
	    size_t len);

#endif
