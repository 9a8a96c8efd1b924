/*
 * eio.c -- Engine.IO v4 packet codec: single text packets, polling payloads
 * joined with 0x1e, "b" + base64 binary messages, and the open packet.
 * Pure: no I/O, no globals.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "codec/eio.h"

static int	 is_type_char(uint8_t);
static int	 append_json_string(struct cf_buf *, const char *);

static int
is_type_char(uint8_t c)
{
	return (c >= '0' && c <= '0' + CF_EIO_NOOP);
}

/*
 * Decode one text packet: the first byte is the type digit, the rest is the
 * data.  A text frame starting with 'b' is not accepted here: EIO v4 never
 * sends base64 over WebSocket and buf is read-only.  data points into buf.
 */
int
cf_eio_decode_text(const uint8_t *buf, size_t len, struct cf_eio_packet *p)
{
	if (buf == NULL || len == 0 || !is_type_char(buf[0]))
		return (CF_EIO_EPROTO);
	p->type = (enum cf_eio_type)(buf[0] - '0');
	p->binary = 0;
	p->data = (uint8_t *)(uintptr_t)(buf + 1);
	p->len = len - 1;
	return (CF_EIO_OK);
}

/*
 * Split buf on 0x1e and decode each item in order.  A "b" item is decoded
 * from base64 into the same bytes (starting at the 'b'), which is safe
 * because the output is shorter than the input and never reaches the next
 * item.  On error *n holds the packets decoded so far and buf may have been
 * partly rewritten.
 */
int
cf_eio_decode_payload(uint8_t *buf, size_t len, struct cf_eio_packet *out,
    size_t max, size_t *n)
{
	size_t	 start, end, ilen;
	uint8_t	*item, *sep;
	long	 blen;

	*n = 0;
	if (buf == NULL || len == 0)
		return (CF_EIO_EPROTO);
	start = 0;
	for (;;) {
		item = buf + start;
		sep = memchr(item, CF_EIO_SEP, len - start);
		end = sep != NULL ? (size_t)(sep - buf) : len;
		ilen = end - start;
		if (ilen == 0)
			return (CF_EIO_EPROTO);
		if (*n == max)
			return (CF_EIO_ETOOMANY);
		if (item[0] == 'b') {
			blen = cf_base64_decode(item, (const char *)item + 1,
			    ilen - 1);
			if (blen == -1)
				return (CF_EIO_EPROTO);
			out[*n].type = CF_EIO_MESSAGE;
			out[*n].binary = 1;
			out[*n].data = item;
			out[*n].len = (size_t)blen;
		} else if (cf_eio_decode_text(item, ilen, &out[*n]) !=
		    CF_EIO_OK)
			return (CF_EIO_EPROTO);
		(*n)++;
		if (sep == NULL)
			break;
		start = end + 1;
	}
	return (CF_EIO_OK);
}

/*
 * Append one packet to the payload in b: the separator when b already holds
 * a packet, then "b<base64>" for a binary message or "<type><data>".  b is
 * left as it was on failure.
 */
int
cf_eio_payload_append(struct cf_buf *b, enum cf_eio_type type, int binary,
    const uint8_t *data, size_t len)
{
	size_t	 need, old;

	old = b->len;
	if (binary) {
		if (len > (SIZE_MAX / 4 - 2) * 3)
			return (CF_EIO_ENOMEM);
		need = 2 + cf_base64_enclen(len);
	} else {
		if (len > SIZE_MAX - 2)
			return (CF_EIO_ENOMEM);
		need = 2 + len;
	}
	if (cf_buf_reserve(b, need) == -1)
		return (CF_EIO_ENOMEM);
	if (old > 0)
		b->data[b->len++] = CF_EIO_SEP;
	if (binary) {
		b->data[b->len++] = 'b';
		b->len += cf_base64_encode((char *)b->data + b->len, data, len);
	} else {
		b->data[b->len++] = (uint8_t)('0' + type);
		if (len > 0)
			memcpy(b->data + b->len, data, len);
		b->len += len;
	}
	return (CF_EIO_OK);
}

/*
 * Append s as a JSON string literal.  The sid is URL-safe in practice; the
 * escaping only guards against a caller passing something else.  0 or -1.
 */
static int
append_json_string(struct cf_buf *b, const char *s)
{
	char	 esc[8];

	if (cf_buf_appendc(b, '"') == -1)
		return (-1);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\') {
			if (cf_buf_appendc(b, '\\') == -1 ||
			    cf_buf_appendc(b, (uint8_t)*s) == -1)
				return (-1);
		} else if ((uint8_t)*s < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)*s);
			if (cf_buf_appends(b, esc) == -1)
				return (-1);
		} else if (cf_buf_appendc(b, (uint8_t)*s) == -1)
			return (-1);
	}
	return (cf_buf_appendc(b, '"'));
}

/*
 * Write the open packet into b (reset first), byte for byte what the
 * reference server sends.  Returns CF_EIO_OK or CF_EIO_ENOMEM.
 */
int
cf_eio_open_packet(struct cf_buf *b, const char *sid, int can_upgrade,
    uint32_t ping_interval_ms, uint32_t ping_timeout_ms, size_t max_payload)
{
	char	 tail[128];
	int	 r;

	cf_buf_reset(b);
	r = snprintf(tail, sizeof(tail),
	    ",\"pingInterval\":%" PRIu32 ",\"pingTimeout\":%" PRIu32
	    ",\"maxPayload\":%zu}", ping_interval_ms, ping_timeout_ms,
	    max_payload);
	if (r < 0 || (size_t)r >= sizeof(tail))
		return (CF_EIO_ENOMEM);
	if (cf_buf_appends(b, "0{\"sid\":") == -1 ||
	    append_json_string(b, sid) == -1 ||
	    cf_buf_appends(b, can_upgrade ? ",\"upgrades\":[\"websocket\"]" :
	    ",\"upgrades\":[]") == -1 ||
	    cf_buf_append(b, tail, (size_t)r) == -1)
		return (CF_EIO_ENOMEM);
	return (CF_EIO_OK);
}
