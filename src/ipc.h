/*
 * ipc.h -- the protocol between the master and the workers of one host,
 * and the workers' inboxes (ipc.c).
 *
 * The master creates one SOCK_SEQPACKET socketpair per worker slot, the
 * slot's inbox; a worker reads its own and writes to the others'.  Every
 * message is an 8-byte header and a payload; each kind's payload starts
 * with the struct named below, and a message shorter than that struct is
 * dropped before any handler sees it (minlen[] in ipc.c), as OpenBSD's
 * imsg checks sizes before dispatch.
 */
#ifndef CF_IPC_H
#define CF_IPC_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct cf_conf;
struct cf_shm;

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


/* The worker's entry point, which the master calls in the forked child. */
typedef int	(*cf_worker_main_fn)(struct cf_worker_init *init);

enum cf_ipc_kind {
	CF_IPC_FD = 1,		/* a connection, SCM_RIGHTS, no payload */
	CF_IPC_RELAY,		/* struct cf_ipc_relay + a relay frame (frame.h),
				   maybe fragmented */
	CF_IPC_FWD_REQ,		/* struct cf_ipc_fwd_req + body: one HTTP
				   polling request for a session we own */
	CF_IPC_FWD_RESP,	/* struct cf_ipc_fwd_resp + body: its response */
	CF_IPC_GONE,		/* from the master: presence keys whose count
				   fell to 0 with a dead worker ('\n'-joined) */
	CF_IPC_CTL,		/* from the master: a control socket connection
				   (SCM_RIGHTS), no payload */
	CF_IPC_REQUEST,		/* a socket.io adapter request (JSON) another
				   worker of this host sends every worker */
	CF_IPC_PIPE,		/* struct cf_ipc_pipe + bytes: a socket held
				   by one worker, recovered by another's
				   session (eio/pipe.c) */
	CF_IPC_NKINDS
};

/* CF_IPC_RELAY: the sender's CLOCK_MONOTONIC microseconds (the relay lag). */
struct cf_ipc_relay {
	uint64_t	 sent_us;
};

/* CF_IPC_FWD_REQ: a polling request that arrived on another worker. */
struct cf_ipc_fwd_req {
	uint32_t	 id;		/* the forwarder's, echoed in the response */
	uint8_t		 method;	/* 0 GET, 1 POST */
	char		 sid[24];	/* NUL-terminated by the receiver */
	char		 origin[256];	/* "" when absent or too long */
};

/* CF_IPC_FWD_RESP: the owner's answer to a forwarded request. */
struct cf_ipc_fwd_resp {
	uint32_t	 id;
	uint16_t	 status;
};

/* CF_IPC_PIPE: op, and the session and socket it is about. */
struct cf_ipc_pipe {
	uint8_t		 op;		/* CF_PIPE_* (eio/pipe.h) */
	uint8_t		 binary;	/* IN, OUT: a binary message */
	uint8_t		 pad[2];
	char		 sid[24];	/* the claimant's session, NUL-terminated */
	char		 pid[64];	/* the socket's private id */
};

_Static_assert(sizeof(struct cf_ipc_relay) == 8, "relay header size");
_Static_assert(sizeof(struct cf_ipc_fwd_req) <= 512, "fwd_req size");

/*
 * Largest payload cf_ipc_post() sends in one message (the worker side
 * fragments longer ones; the master's are always single messages).
 */
#define CF_IPC_CHUNK_MAX	(60 * 1024)
/* From the master (no loop): one message, blocking.  0, or -1 with errno. */
int	 cf_ipc_post(int sock, enum cf_ipc_kind kind, unsigned src,
	    const void *data, size_t len);
/* The same with a descriptor (or -1) passed along; the caller keeps fd. */
int	 cf_ipc_post_fd(int sock, enum cf_ipc_kind kind, unsigned src,
	    const void *data, size_t len, int fd);

/*
 * The worker's inbox.  A handler gets the payload of a whole message
 * (reassembled, at least its kind's payload struct) and its source slot.  The
 * kinds that carry a descriptor (CF_IPC_FD, CF_IPC_CTL) are delivered only
 * with one, which the handler owns; the others always get fd -1.  A
 * message of a kind without a handler is dropped.
 */
typedef void	(*cf_ipc_fn)(unsigned src, const uint8_t *data, size_t len,
		    int fd);
void	 cf_ipc_on(enum cf_ipc_kind kind, cf_ipc_fn fn);
/* Read inbox_rx[slot] on loop; 0, or -1 on ENOMEM. */
int	 cf_ipc_start(uv_loop_t *loop, unsigned slot, unsigned nslots,
	    int rx_fd, const int *tx_fds);
void	 cf_ipc_stop(void);
/* Release ipc memory once the loop has closed its handles. */
void	 cf_ipc_free(void);
/*
 * Send to another slot; queued (bounded) when its inbox is full.  fd (or
 * -1) is passed along and always consumed.  0, or -1 when the slot is
 * ours or out of range, or the queue is over its bound.
 */
int	 cf_ipc_send(unsigned slot, enum cf_ipc_kind kind, const void *data,
	    size_t len, int fd);
/* Send to every other slot. */
void	 cf_ipc_send_all(enum cf_ipc_kind kind, const void *data, size_t len);

#endif
