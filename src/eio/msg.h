/*
 * msg.h -- reference-counted outgoing packets and the per-session queue.
 */
#ifndef CF_MSG_H
#define CF_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

struct cf_sio_packet;

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

/*
 * Encode a Socket.IO packet into its Engine.IO messages, each with one
 * reference for the caller: m[0] the text ("4" + cf_sio_encode), then one
 * binary message per attachment (copied).  m has room for
 * 1 + CF_SIO_MAX_ATTACHMENTS.  Returns how many (1 + p->nattach), or -1 on
 * ENOMEM with none left over.
 */
int		 cf_msg_encode(const struct cf_sio_packet *p, struct cf_msg **m);

/* A FIFO of reference-counted outgoing packets. */
struct cf_outq {
	struct cf_msg		**v;
	uint32_t		 head;
	uint32_t		 len;
	uint32_t		 cap;
	size_t			 bytes;		/* sum of the packets' lengths */
};

void		 cf_outq_push(struct cf_outq *q, struct cf_msg *m);
struct cf_msg	*cf_outq_pop(struct cf_outq *q);	/* caller owns the ref */
void		 cf_outq_clear(struct cf_outq *q);

#endif
