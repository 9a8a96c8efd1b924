/*
 * frame.h -- relay frame codec: the wire format of the socket.io Redis
 * adapter and emitter (msgpack), used by confabd for every broadcast that
 * crosses a worker or a host, over the local relay and over Redis alike.
 * Pure functions.
 *
 *   [ uid, { "type": 2, "data": [event, ...args], "nsp": "/" },
 *          { "rooms": [...], "except": [...], "flags": {...} } ]
 *
 * Binary arguments are msgpack bin inside "data"; in memory they are
 * Socket.IO placeholders plus an attachment array (see sio.h).
 */
#ifndef CF_FRAME_H
#define CF_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "codec/sio.h"
#include "util.h"

#define CF_FRAME_MAX_ROOMS	64

enum cf_frame_err {
	CF_FRAME_OK = 0,
	CF_FRAME_EPROTO = -1,
	CF_FRAME_ENOMEM = -2
};

/* flags.volatile, flags.local */
#define CF_FRAME_VOLATILE	0x01
#define CF_FRAME_LOCAL		0x02

struct cf_frame_bcast {
	char		 uid[64];
	char		 nsp[CF_SIO_MAX_NSP];
	json_t		*data;		/* owned; the event array, placeholders for binary */
	int		 nattach;
	struct cf_sio_att att[CF_SIO_MAX_ATTACHMENTS];	/* owned copies */
	size_t		 nrooms;
	char		*rooms[CF_FRAME_MAX_ROOMS];	/* owned */
	size_t		 nexcept;
	char		*except[CF_FRAME_MAX_ROOMS];	/* owned */
	int		 flags;
};

/*
 * Encode a broadcast into out (reset first).  data is the event array with
 * placeholders numbered into att (nattach of them); they become msgpack bin.
 * Returns CF_FRAME_OK or CF_FRAME_ENOMEM (CF_FRAME_EPROTO when data is not
 * an array or a placeholder has no attachment).
 */
int	 cf_frame_encode(const char *uid, const char *nsp, const json_t *data,
	    const struct cf_sio_att *att, int nattach,
	    const char *const *rooms, size_t nrooms,
	    const char *const *except, size_t nexcept, int flags,
	    struct cf_buf *out);

/*
 * Decode a broadcast.  Accepts what @socket.io/redis-emitter and the
 * redis-adapter publish: keys in any order, unknown keys ignored, a missing
 * nsp meaning "/", notepack's undefined (fixext1 type 0) as absent, bin
 * values turned into placeholders + attachments (at most 10, else EPROTO).
 * Trailing bytes are an error.  On success the caller owns *out and releases
 * it with cf_frame_bcast_clear.  Returns CF_FRAME_OK, CF_FRAME_EPROTO or
 * CF_FRAME_ENOMEM.
 */
int	 cf_frame_decode(const uint8_t *buf, size_t len,
	    struct cf_frame_bcast *out);

/*
 * The uid of a frame without decoding the rest: the first element of the
 * top-level array when it is a string.  *uid points into buf (not
 * NUL-terminated), *n is its length.  Returns CF_FRAME_OK, or
 * CF_FRAME_EPROTO when buf does not start that way (the frame may still
 * be malformed elsewhere: cf_frame_decode checks all of it).
 */
int	 cf_frame_peek_uid(const uint8_t *buf, size_t len, const char **uid,
	    size_t *n);

/* Release what *b owns and zero it.  NULL-safe. */
void	 cf_frame_bcast_clear(struct cf_frame_bcast *b);

/*
 * The adapter's channel for a broadcast: "<prefix>#<nsp>#" when the frame
 * targets zero or several rooms, "<prefix>#<nsp>#<room>#" for exactly one.
 * Returns the length written (NUL-terminated), or -1 when it does not fit.
 */
int	 cf_frame_channel(char *dst, size_t n, const char *prefix,
	    const char *nsp, const char *room);

#endif
