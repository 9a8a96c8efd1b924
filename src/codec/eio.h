/*
 * eio.h -- Engine.IO v4 packet codec.  Pure functions: no I/O, no globals.
 *
 * A text packet is "<type digit><data>".  Over WebSocket one packet fills one
 * frame and a binary message is a binary frame with no prefix.  Over HTTP
 * long-polling packets are joined with the record separator 0x1e and a binary
 * message is written "b" + base64.
 */
#ifndef CF_EIO_H
#define CF_EIO_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

enum cf_eio_type {
	CF_EIO_OPEN = 0,
	CF_EIO_CLOSE,
	CF_EIO_PING,
	CF_EIO_PONG,
	CF_EIO_MESSAGE,
	CF_EIO_UPGRADE,
	CF_EIO_NOOP
};

enum cf_eio_err {
	CF_EIO_OK = 0,
	CF_EIO_EPROTO = -1,	/* malformed packet or payload */
	CF_EIO_ETOOMANY = -2,	/* more packets than the caller's array holds */
	CF_EIO_ENOMEM = -3
};

#define CF_EIO_SEP	0x1e

/* A decoded packet.  data points into the caller's buffer (never owned). */
struct cf_eio_packet {
	enum cf_eio_type type;
	int		 binary;	/* a binary message (type is MESSAGE) */
	uint8_t		*data;
	size_t		 len;
};

/*
 * Decode one text packet (a WebSocket text frame).  buf is not modified.
 * Returns CF_EIO_OK or CF_EIO_EPROTO (empty, or an unknown type).
 */
int	 cf_eio_decode_text(const uint8_t *buf, size_t len,
	    struct cf_eio_packet *p);

/*
 * Decode a polling payload (a POST body) in place: "b" + base64 items are
 * decoded into the same buffer, and every packet's data points into buf.
 * At most max packets are stored; *n receives how many.  Returns CF_EIO_OK,
 * CF_EIO_EPROTO (empty payload, empty item, unknown type, bad base64) or
 * CF_EIO_ETOOMANY.
 */
int	 cf_eio_decode_payload(uint8_t *buf, size_t len,
	    struct cf_eio_packet *out, size_t max, size_t *n);

/*
 * Append one packet to a polling payload being built in b: a separator
 * first when b is not empty, then "<type><data>" or "b<base64>".
 * Returns CF_EIO_OK or CF_EIO_ENOMEM.
 */
int	 cf_eio_payload_append(struct cf_buf *b, enum cf_eio_type type,
	    int binary, const uint8_t *data, size_t len);

/*
 * The open packet's JSON, exactly the five keys the reference sends:
 * 0{"sid":..,"upgrades":["websocket"]|[],"pingInterval":..,
 * "pingTimeout":..,"maxPayload":..}.  Written to b (reset first), with the
 * leading '0'.  Returns CF_EIO_OK or CF_EIO_ENOMEM.
 */
int	 cf_eio_open_packet(struct cf_buf *b, const char *sid, int can_upgrade,
	    uint32_t ping_interval_ms, uint32_t ping_timeout_ms,
	    size_t max_payload);

#endif
