/*
 * sio.h -- Socket.IO v5 packet codec (the default text parser).  Pure.
 *
 *   <type>[<#attachments>-][<nsp>,][<ack id>][<JSON payload>]
 *
 * Binary attachments travel as separate Engine.IO binary messages after the
 * text packet.  In a decoded packet they stay separate: the JSON keeps the
 * {"_placeholder":true,"num":N} objects and att[N] holds the bytes.  This
 * lets a broadcast pass through untouched, and the relay frame codec turns
 * placeholders into msgpack bin and back.
 */
#ifndef CF_SIO_H
#define CF_SIO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

enum cf_sio_type {
	CF_SIO_CONNECT = 0,
	CF_SIO_DISCONNECT,
	CF_SIO_EVENT,
	CF_SIO_ACK,
	CF_SIO_CONNECT_ERROR,
	CF_SIO_BINARY_EVENT,
	CF_SIO_BINARY_ACK
};

enum cf_sio_err {
	CF_SIO_OK = 0,
	CF_SIO_EPROTO = -1,	/* malformed: the connection must be closed */
	CF_SIO_ENOMEM = -2
};

#define CF_SIO_MAX_ATTACHMENTS	10
#define CF_SIO_MAX_NSP		256

struct cf_sio_att {
	uint8_t		*data;		/* owned (malloc) */
	size_t		 len;
};

struct cf_sio_packet {
	enum cf_sio_type type;
	char		 nsp[CF_SIO_MAX_NSP];	/* "/" when absent */
	int64_t		 id;		/* ack id, -1 when absent */
	json_t		*data;		/* owned reference, NULL when absent */
	int		 nattach;	/* attachments announced (types 5 and 6) */
	int		 ngot;		/* attachments received so far */
	/* 1 when the payload had lone UTF-16 surrogate escapes ("\ud800",
	 * which JSON.stringify produces and jansson refuses): they were read
	 * as U+FFFD.  The receiver refuses such an event. */
	int		 lossy;
	struct cf_sio_att att[CF_SIO_MAX_ATTACHMENTS];
};

/*
 * Decode a text packet (an Engine.IO message payload) into p, which the
 * caller zeroes or has released with cf_sio_packet_clear.  Validates as the
 * reference parser does: type 0-6; attachment count 0..10 for types 5/6;
 * namespace up to ',' or the end; ack id digits (at most int64); payload
 * CONNECT object or absent, DISCONNECT absent, CONNECT_ERROR object or
 * string, EVENT a non-empty array whose first element is a string (not a
 * reserved name) or a number, ACK an array.  Types 5/6 must carry exactly
 * `nattach` well-formed placeholders (num 0..nattach-1).  A payload that
 * is valid JSON except for lone surrogate escapes in strings is decoded
 * with each of them read as U+FFFD and p->lossy set.
 * Returns CF_SIO_OK, CF_SIO_EPROTO or CF_SIO_ENOMEM; on error p is cleared.
 */
int	 cf_sio_decode(const char *buf, size_t len, struct cf_sio_packet *p);

/*
 * Add the next binary attachment to a packet waiting for them (copied).
 * Returns 1 when the packet is now complete, 0 when more are expected,
 * CF_SIO_EPROTO when none was expected, CF_SIO_ENOMEM.
 */
int	 cf_sio_add_attachment(struct cf_sio_packet *p, const uint8_t *data,
	    size_t len);

/* 1 when the packet still waits for attachments. */
int	 cf_sio_incomplete(const struct cf_sio_packet *p);

/*
 * Encode p as text into b (reset first).  EVENT/ACK with nattach > 0 are
 * written as BINARY_EVENT/BINARY_ACK "5N-"/"6N-" (the caller then sends
 * att[0..nattach-1] as binary messages).  Returns CF_SIO_OK or CF_SIO_ENOMEM.
 */
int	 cf_sio_encode(const struct cf_sio_packet *p, struct cf_buf *b);

/*
 * Fill p as an EVENT on nsp (truncated to CF_SIO_MAX_NSP - 1 bytes) with
 * no ack id, carrying args and att[0..nattach-1] (nattach at most
 * CF_SIO_MAX_ATTACHMENTS).  p borrows args and the attachments' bytes: the
 * caller keeps them and must not cf_sio_packet_clear p.
 */
void	 cf_sio_event(struct cf_sio_packet *p, const char *nsp, json_t *args,
	    const struct cf_sio_att *att, int nattach);

/* Release data and attachments; p is zeroed (id = -1, nsp = "/"). */
void	 cf_sio_packet_clear(struct cf_sio_packet *p);

/* 1 for the event names a client may not emit (connect, disconnect, ...). */
int	 cf_sio_reserved_event(const char *name);

/*
 * Serialise a JSON value the way JavaScript's JSON.stringify does for the
 * values the parser produces: compact, integral reals within 2^53 printed
 * as integers, other reals in the shortest form that round-trips.
 * Appends to b.  Returns CF_SIO_OK or CF_SIO_ENOMEM.
 */
int	 cf_sio_json_dump(const json_t *v, struct cf_buf *b);

#endif
