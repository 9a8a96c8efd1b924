/*
 * ipc.c -- messages between the master and the workers of one host.
 *
 * The master creates one SOCK_SEQPACKET socketpair per worker slot before
 * forking: the "inbox" of that slot.  A worker reads its own inbox and
 * writes to the others' send ends, which every worker inherited.  SEQPACKET
 * keeps message boundaries and delivers each message whole, so a worker
 * killed mid-send never leaves a half message in a peer's inbox, and the
 * pair outlives any one worker: a respawned worker reads the same inbox.
 *
 * Each message: an 8-byte header {kind, source slot, flags, 0, total length}
 * and a payload of at most CF_IPC_CHUNK bytes.  Longer payloads go as
 * fragments flagged FIRST ... LAST, reassembled per source slot.  A
 * connection travels as SCM_RIGHTS with kind CF_IPC_FD.
 *
 * Sends never block: when a peer's inbox is full the message waits in a
 * per-peer queue (bounded) until the socket is writable again.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "util.h"

#define CF_IPC_CHUNK		CF_IPC_CHUNK_MAX
#define CF_IPC_QUEUE_MAX	(64u * 1024 * 1024)
#define CF_IPC_FIRST		0x01
#define CF_IPC_LAST		0x02
#define CF_IPC_BATCH		128

struct ipc_hdr {
	uint8_t		 kind;
	uint8_t		 src;
	uint8_t		 flags;
	uint8_t		 pad;
	uint32_t	 total;
};

struct ipc_out {
	struct ipc_out	*next;
	int		 fd;		/* passed descriptor, or -1 */
	size_t		 len;
	uint8_t		 data[];	/* header + payload */
};

struct ipc_peer {
	int		 fd;
	uv_poll_t	 poll;
	int		 polling;
	struct ipc_out	*head, *tail;
	size_t		 queued;
};

static struct {
	unsigned	 slot;		/* ours */
	int		 rx;
	uv_poll_t	 rx_poll;
	struct ipc_peer	*peers;
	unsigned	 npeers;
	struct cf_buf	*reasm;		/* per source slot */
	uint8_t		*rbuf;
	unsigned	 dropped;
	cf_ipc_fn	 handlers[CF_IPC_NKINDS];
} ipc = { .rx = -1 };

/* The payload struct each kind starts with (ipc.h). */
static const size_t minlen[CF_IPC_NKINDS] = {
	[CF_IPC_RELAY] = sizeof(struct cf_ipc_relay),
	[CF_IPC_FWD_REQ] = sizeof(struct cf_ipc_fwd_req),
	[CF_IPC_FWD_RESP] = sizeof(struct cf_ipc_fwd_resp),
	[CF_IPC_PIPE] = sizeof(struct cf_ipc_pipe),
};

void
cf_ipc_on(enum cf_ipc_kind kind, cf_ipc_fn fn)
{
	if ((unsigned)kind < CF_IPC_NKINDS)
		ipc.handlers[kind] = fn;
}

static int
send_one(int sock, const uint8_t *data, size_t len, int fd)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr	c;
		char		b[CMSG_SPACE(sizeof(int))];
	} cm;
	struct cmsghdr *c;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)data;
	iov.iov_len = len;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (fd != -1) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	for (;;) {
		if (sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)
			return (0);
		if (errno != EINTR)
			return (-1);
	}
}

static void peer_writable(uv_poll_t *h, int status, int events);

static void
peer_flush(struct ipc_peer *p)
{
	struct ipc_out *o;

	while ((o = p->head) != NULL) {
		if (send_one(p->fd, o->data, o->len, o->fd) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				break;
			cf_log_warn("ipc: sendmsg");
		}
		p->head = o->next;
		if (p->head == NULL)
			p->tail = NULL;
		p->queued -= o->len;
		if (o->fd != -1)
			close(o->fd);
		free(o);
	}
	if (p->head != NULL && !p->polling) {
		uv_poll_start(&p->poll, UV_WRITABLE, peer_writable);
		p->polling = 1;
	} else if (p->head == NULL && p->polling) {
		uv_poll_stop(&p->poll);
		p->polling = 0;
	}
}

static void
peer_writable(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	peer_flush(h->data);
}

/* Queue (or send at once) one message; takes ownership of fd. */
static int
peer_send(struct ipc_peer *p, const uint8_t *data, size_t len, int fd)
{
	struct ipc_out *o;

	if (p->head == NULL) {
		if (send_one(p->fd, data, len, fd) == 0) {
			if (fd != -1)
				close(fd);
			return (0);
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			cf_log_warn("ipc: sendmsg");
			if (fd != -1)
				close(fd);
			return (-1);
		}
	}
	if (p->queued + len > CF_IPC_QUEUE_MAX ||
	    (o = malloc(sizeof(*o) + len)) == NULL) {
		if (ipc.dropped++ % 1000 == 0)
			cf_log_warnx("ipc: peer inbox full, message dropped");
		if (fd != -1)
			close(fd);
		return (-1);
	}
	o->next = NULL;
	o->fd = fd;
	o->len = len;
	memcpy(o->data, data, len);
	if (p->tail != NULL)
		p->tail->next = o;
	else
		p->head = o;
	p->tail = o;
	p->queued += len;
	peer_flush(p);
	return (0);
}

int
cf_ipc_send(unsigned slot, enum cf_ipc_kind kind, const void *data,
    size_t len, int fd)
{
	uint8_t chunk[sizeof(struct ipc_hdr) + CF_IPC_CHUNK];
	struct ipc_hdr h;
	struct ipc_peer *p;
	size_t off = 0, n;

	if (slot >= ipc.npeers || slot == ipc.slot) {
		if (fd != -1)
			close(fd);
		return (-1);
	}
	p = &ipc.peers[slot];
	memset(&h, 0, sizeof(h));
	h.kind = (uint8_t)kind;
	h.src = (uint8_t)ipc.slot;
	h.total = (uint32_t)len;
	do {
		n = len - off > CF_IPC_CHUNK ? CF_IPC_CHUNK : len - off;
		h.flags = (off == 0 ? CF_IPC_FIRST : 0) |
		    (off + n == len ? CF_IPC_LAST : 0);
		memcpy(chunk, &h, sizeof(h));
		if (n > 0)
			memcpy(chunk + sizeof(h), (const uint8_t *)data + off, n);
		if (peer_send(p, chunk, sizeof(h) + n, off == 0 ? fd : -1) == -1)
			return (-1);
		off += n;
	} while (off < len);
	return (0);
}

int
cf_ipc_post(int sock, enum cf_ipc_kind kind, unsigned src, const void *data,
    size_t len)
{
	return (cf_ipc_post_fd(sock, kind, src, data, len, -1));
}

int
cf_ipc_post_fd(int sock, enum cf_ipc_kind kind, unsigned src,
    const void *data, size_t len, int fd)
{
	uint8_t chunk[sizeof(struct ipc_hdr) + CF_IPC_CHUNK];
	struct ipc_hdr h;

	if (len > CF_IPC_CHUNK) {
		errno = EMSGSIZE;
		return (-1);
	}
	memset(&h, 0, sizeof(h));
	h.kind = (uint8_t)kind;
	h.src = (uint8_t)src;
	h.flags = CF_IPC_FIRST | CF_IPC_LAST;
	h.total = (uint32_t)len;
	memcpy(chunk, &h, sizeof(h));
	if (len > 0)
		memcpy(chunk + sizeof(h), data, len);
	return (send_one(sock, chunk, sizeof(h) + len, fd));
}

void
cf_ipc_send_all(enum cf_ipc_kind kind, const void *data, size_t len)
{
	unsigned i;

	for (i = 0; i < ipc.npeers; i++)
		if (i != ipc.slot)
			(void)cf_ipc_send(i, kind, data, len, -1);
}

/*
 * Hand a whole message to its kind's handler.  Only the kinds that carry a
 * descriptor get it (and own it); a stray one is closed here.
 */
static void
deliver(const struct ipc_hdr *h, const uint8_t *data, size_t len, int fd)
{
	cf_ipc_fn fn = NULL;
	int carries = h->kind == CF_IPC_FD || h->kind == CF_IPC_CTL;

	if (h->kind < CF_IPC_NKINDS && len >= minlen[h->kind])
		fn = ipc.handlers[h->kind];
	if (fd != -1 && (fn == NULL || !carries)) {
		close(fd);
		fd = -1;
	}
	if (fn != NULL && (fd != -1 || !carries))
		fn(h->src, data, len, fd);
}

static void
inbox_readable(uv_poll_t *hp, int status, int events)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr	c;
		char		b[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	struct cmsghdr *c;
	struct ipc_hdr h;
	struct cf_buf *rb;
	ssize_t n;
	int i, fd, nfds;

	(void)hp;
	(void)status;
	(void)events;
	for (i = 0; i < CF_IPC_BATCH; i++) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = ipc.rbuf;
		iov.iov_len = sizeof(h) + CF_IPC_CHUNK;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.b;
		mh.msg_controllen = sizeof(cm.b);
		n = recvmsg(ipc.rx, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cf_log_warn("ipc: recvmsg");
			return;
		}
		fd = -1;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			while (nfds-- > 0) {
				int x;

				memcpy(&x, CMSG_DATA(c) + nfds * sizeof(int),
				    sizeof(int));
				if (fd == -1)
					fd = x;
				else
					close(x);
			}
		}
		if ((size_t)n < sizeof(h) || (mh.msg_flags & MSG_TRUNC)) {
			if (fd != -1)
				close(fd);
			continue;
		}
		memcpy(&h, ipc.rbuf, sizeof(h));
		if (h.src >= ipc.npeers) {
			if (fd != -1)
				close(fd);
			continue;
		}
		if ((h.flags & (CF_IPC_FIRST | CF_IPC_LAST)) ==
		    (CF_IPC_FIRST | CF_IPC_LAST)) {
			deliver(&h, ipc.rbuf + sizeof(h), n - sizeof(h), fd);
			continue;
		}
		rb = &ipc.reasm[h.src];
		if (h.flags & CF_IPC_FIRST)
			cf_buf_reset(rb);
		else if (rb->len == 0) {
			/* A middle fragment without its start: drop it. */
			if (fd != -1)
				close(fd);
			continue;
		}
		if (cf_buf_append(rb, ipc.rbuf + sizeof(h), n - sizeof(h)) == -1 ||
		    rb->len > h.total) {
			cf_buf_reset(rb);
			if (fd != -1)
				close(fd);
			continue;
		}
		if (h.flags & CF_IPC_LAST) {
			if (rb->len == h.total)
				deliver(&h, rb->data, rb->len, fd);
			else if (fd != -1)
				close(fd);
			cf_buf_reset(rb);
		} else if (fd != -1)
			close(fd);
	}
}

int
cf_ipc_start(uv_loop_t *loop, unsigned slot, unsigned nslots, int rx_fd,
    const int *tx_fds)
{
	unsigned i;

	ipc.slot = slot;
	ipc.rx = rx_fd;
	ipc.npeers = nslots;
	ipc.peers = calloc(nslots, sizeof(*ipc.peers));
	ipc.reasm = calloc(nslots, sizeof(*ipc.reasm));
	ipc.rbuf = malloc(sizeof(struct ipc_hdr) + CF_IPC_CHUNK);
	if (ipc.peers == NULL || ipc.reasm == NULL || ipc.rbuf == NULL)
		return (-1);
	for (i = 0; i < nslots; i++) {
		ipc.peers[i].fd = tx_fds[i];
		if (i == slot)
			continue;
		uv_poll_init(loop, &ipc.peers[i].poll, tx_fds[i]);
		ipc.peers[i].poll.data = &ipc.peers[i];
	}
	uv_poll_init(loop, &ipc.rx_poll, rx_fd);
	uv_poll_start(&ipc.rx_poll, UV_READABLE, inbox_readable);
	return (0);
}

void
cf_ipc_stop(void)
{
	unsigned i;
	struct ipc_out *o;

	if (ipc.peers == NULL)
		return;
	uv_close((uv_handle_t *)&ipc.rx_poll, NULL);
	for (i = 0; i < ipc.npeers; i++) {
		if (i == ipc.slot)
			continue;
		while ((o = ipc.peers[i].head) != NULL) {
			ipc.peers[i].head = o->next;
			if (o->fd != -1)
				close(o->fd);
			free(o);
		}
		uv_close((uv_handle_t *)&ipc.peers[i].poll, NULL);
	}
}

void
cf_ipc_free(void)
{
	unsigned i;

	if (ipc.reasm != NULL)
		for (i = 0; i < ipc.npeers; i++)
			cf_buf_free(&ipc.reasm[i]);
	free(ipc.reasm);
	free(ipc.peers);
	free(ipc.rbuf);
	ipc.reasm = NULL;
	ipc.peers = NULL;
	ipc.rbuf = NULL;
}
