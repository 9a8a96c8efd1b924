/*
 * sio.c -- Socket.IO v5 packet codec for the default text parser, and a
 * JSON writer that prints values the way JavaScript's JSON.stringify does.
 * Pure: no I/O, no globals.
 *
 * The decoder mirrors socket.io-parser's Decoder.decodeString: type digit,
 * attachment count and '-' for types 5/6, an optional namespace up to ',' or
 * the end, an optional ack id, then a JSON payload that is validated per
 * packet type.  Binary attachments are not spliced into the JSON; see sio.h.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/sio.h"

/*
 * Deepest nesting cf_sio_json_dump follows.  jansson's parser stops at 2048
 * levels, so anything decoded from the wire fits; the limit only protects
 * the stack from values built by hand.
 */
#define DUMP_MAX_DEPTH	4096

static int	 is_digit(char);
static int	 payload_valid(enum cf_sio_type, const json_t *);
static int	 scan_placeholders(const json_t *, int, uint32_t *);
static int	 dump_value(const json_t *, struct cf_buf *, int);
static int	 dump_string(const char *, size_t, struct cf_buf *);
static int	 dump_real(double, struct cf_buf *);
static int	 append_digits(struct cf_buf *, const char *, size_t);
static int	 append_zeros(struct cf_buf *, size_t);

static const char *const reserved_events[] = {
	"connect",
	"connect_error",
	"disconnect",
	"disconnecting",
	"newListener",
	"removeListener"
};

static int
is_digit(char c)
{
	return (c >= '0' && c <= '9');
}

int
cf_sio_reserved_event(const char *name)
{
	size_t	 i;

	for (i = 0; i < sizeof(reserved_events) / sizeof(reserved_events[0]);
	    i++)
		if (strcmp(name, reserved_events[i]) == 0)
			return (1);
	return (0);
}

/*
 * Release the JSON reference and every attachment, then reset p to an empty
 * packet on "/" with no ack id.  Safe on a zeroed or already cleared packet.
 */
void
cf_sio_packet_clear(struct cf_sio_packet *p)
{
	int	 i;

	if (p == NULL)
		return;
	if (p->data != NULL) {
		json_decref(p->data);
		p->data = NULL;
	}
	for (i = 0; i < CF_SIO_MAX_ATTACHMENTS; i++) {
		free(p->att[i].data);
		p->att[i].data = NULL;
	}
	memset(p, 0, sizeof(*p));
	p->id = -1;
	p->nsp[0] = '/';
}

/*
 * The one place an outgoing EVENT is assembled, for an emit to one socket
 * and to a room alike; p borrows args and the attachments' bytes.
 */
void
cf_sio_event(struct cf_sio_packet *p, const char *nsp, json_t *args,
    const struct cf_sio_att *att, int nattach)
{
	memset(p, 0, sizeof(*p));
	p->type = CF_SIO_EVENT;
	p->id = -1;
	cf_strlcpy(p->nsp, nsp, sizeof(p->nsp));
	p->data = args;
	if (nattach > 0) {
		p->nattach = nattach;
		memcpy(p->att, att, nattach * sizeof(*att));
	}
}

/*
 * The payload rules of socket.io-parser's isPayloadValid, with one
 * tightening: EVENT, ACK and CONNECT_ERROR must carry a payload (the
 * reference lets an absent one through and then fails later in the server).
 */
static int
payload_valid(enum cf_sio_type type, const json_t *d)
{
	const json_t	*first;
	const char	*name;

	switch (type) {
	case CF_SIO_CONNECT:
		return (d == NULL || json_is_object(d));
	case CF_SIO_DISCONNECT:
		return (d == NULL);
	case CF_SIO_CONNECT_ERROR:
		return (json_is_object(d) || json_is_string(d));
	case CF_SIO_EVENT:
	case CF_SIO_BINARY_EVENT:
		if (!json_is_array(d) || json_array_size(d) == 0)
			return (0);
		first = json_array_get(d, 0);
		if (json_is_number(first))
			return (1);
		if (!json_is_string(first))
			return (0);
		name = json_string_value(first);
		/* A name with an embedded NUL cannot equal a reserved one. */
		if (strlen(name) != json_string_length(first))
			return (1);
		return (!cf_sio_reserved_event(name));
	case CF_SIO_ACK:
	case CF_SIO_BINARY_ACK:
		return (json_is_array(d));
	}
	return (0);
}

/*
 * Walk v and record every placeholder object ({"_placeholder":true,"num":N})
 * in the bit set *seen.  A placeholder whose num is not an integer in
 * 0..nattach-1, or that repeats an earlier num, is an error (-1).  The
 * contents of a placeholder object are not walked further.
 */
static int
scan_placeholders(const json_t *v, int nattach, uint32_t *seen)
{
	const json_t	*e, *num;
	const char	*key;
	json_int_t	 n;
	size_t		 i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, e)
			if (scan_placeholders(e, nattach, seen) == -1)
				return (-1);
		return (0);
	}
	if (!json_is_object(v))
		return (0);
	if (json_is_true(json_object_get(v, "_placeholder"))) {
		num = json_object_get(v, "num");
		if (!json_is_integer(num))
			return (-1);
		n = json_integer_value(num);
		if (n < 0 || n >= nattach || (*seen & (1u << n)) != 0)
			return (-1);
		*seen |= 1u << n;
		return (0);
	}
	json_object_foreach((json_t *)(uintptr_t)v, key, e)
		if (scan_placeholders(e, nattach, seen) == -1)
			return (-1);
	return (0);
}

static int
hex4(const char *s, unsigned *v)
{
	unsigned	 d;
	int		 i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = (unsigned)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = (unsigned)(s[i] - 'a' + 10);
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = (unsigned)(s[i] - 'A' + 10);
		else
			return (-1);
		*v = *v << 4 | d;
	}
	return (0);
}

/*
 * Rewrite every lone surrogate escape of the JSON text j[0..len) (a
 * "\uD800"-"\uDFFF" that is not a high one followed by a low one) as
 * "\uFFFD", in place (same length).  JSON has backslashes only inside
 * strings, so no string tracking is needed.  Returns how many were
 * rewritten.
 */
static size_t
lone_surrogates_replace(char *j, size_t len)
{
	size_t		 i, n = 0;
	unsigned	 u, lo;

	for (i = 0; i + 1 < len; i++) {
		if (j[i] != '\\')
			continue;
		if (j[i + 1] != 'u' || len - i < 6 || hex4(j + i + 2, &u) == -1) {
			i++;		/* another escape: skip its letter */
			continue;
		}
		if (u >= 0xD800 && u <= 0xDBFF && len - i >= 12 &&
		    j[i + 6] == '\\' && j[i + 7] == 'u' &&
		    hex4(j + i + 8, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
			i += 11;	/* a pair */
			continue;
		}
		if (u >= 0xD800 && u <= 0xDFFF) {
			memcpy(j + i + 2, "FFFD", 4);
			n++;
		}
		i += 5;
	}
	return (n);
}

/*
 * jansson refused the payload j[0..len): when lone surrogate escapes are
 * the reason, parse it again with them read as U+FFFD.  Returns the
 * value (p->lossy set) or NULL (*rc: CF_SIO_EPROTO or CF_SIO_ENOMEM).
 */
static json_t *
load_lossy(const char *j, size_t len, struct cf_sio_packet *p, int *rc)
{
	json_error_t	 jerr;
	json_t		*v = NULL;
	char		*copy;

	*rc = CF_SIO_EPROTO;
	if (memchr(j, '\\', len) == NULL)
		return (NULL);
	if ((copy = malloc(len)) == NULL) {
		*rc = CF_SIO_ENOMEM;
		return (NULL);
	}
	memcpy(copy, j, len);
	if (lone_surrogates_replace(copy, len) > 0) {
		v = json_loadb(copy, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		    &jerr);
		if (v == NULL && json_error_code(&jerr) ==
		    json_error_out_of_memory)
			*rc = CF_SIO_ENOMEM;
		if (v != NULL)
			p->lossy = 1;
	}
	free(copy);
	return (v);
}

/*
 * Decode the text packet buf[0..len) into p.  p must be zeroed or cleared;
 * on success it holds a new reference to the JSON payload (released by
 * cf_sio_packet_clear) and, for types 5/6, waits for nattach attachments.
 * On error p is cleared.  buf need not be NUL-terminated.
 *
 * The payload is parsed with JSON_DECODE_ANY (a CONNECT_ERROR may be a bare
 * string) and JSON_ALLOW_NUL (JSON.parse accepts "\u0000" in strings);
 * jansson's end-of-input check rejects trailing garbage as JSON.parse does.
 */
int
cf_sio_decode(const char *buf, size_t len, struct cf_sio_packet *p)
{
	json_error_t	 jerr;
	size_t		 i, start, nlen;
	int64_t		 id;
	uint32_t	 seen;
	int		 n, d, rc;

	cf_sio_packet_clear(p);
	rc = CF_SIO_EPROTO;
	if (buf == NULL || len == 0 || buf[0] < '0' ||
	    buf[0] > '0' + CF_SIO_BINARY_ACK)
		goto fail;
	p->type = (enum cf_sio_type)(buf[0] - '0');
	i = 1;

	if (p->type == CF_SIO_BINARY_EVENT || p->type == CF_SIO_BINARY_ACK) {
		start = i;
		n = 0;
		while (i < len && is_digit(buf[i])) {
			n = n * 10 + (buf[i] - '0');
			if (n > CF_SIO_MAX_ATTACHMENTS)
				goto fail;
			i++;
		}
		if (i == start || i == len || buf[i] != '-')
			goto fail;
		i++;
		p->nattach = n;
	}

	if (i < len && buf[i] == '/') {
		start = i;
		while (i < len && buf[i] != ',')
			i++;
		nlen = i - start;
		if (nlen >= CF_SIO_MAX_NSP ||
		    memchr(buf + start, '\0', nlen) != NULL)
			goto fail;
		memcpy(p->nsp, buf + start, nlen);
		p->nsp[nlen] = '\0';
		if (i < len)
			i++;		/* the ',' */
	}

	if (i < len && is_digit(buf[i])) {
		id = 0;
		while (i < len && is_digit(buf[i])) {
			d = buf[i] - '0';
			if (id > (INT64_MAX - d) / 10)
				goto fail;
			id = id * 10 + d;
			i++;
		}
		p->id = id;
	}

	if (i < len) {
		p->data = json_loadb(buf + i, len - i,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (p->data == NULL) {
			if (json_error_code(&jerr) == json_error_out_of_memory) {
				rc = CF_SIO_ENOMEM;
				goto fail;
			}
			if ((p->data = load_lossy(buf + i, len - i, p,
			    &rc)) == NULL)
				goto fail;
		}
	}
	if (!payload_valid(p->type, p->data))
		goto fail;

	if (p->type == CF_SIO_BINARY_EVENT || p->type == CF_SIO_BINARY_ACK) {
		seen = 0;
		if (scan_placeholders(p->data, p->nattach, &seen) == -1)
			goto fail;
		if (seen != (1u << p->nattach) - 1)
			goto fail;
	}
	return (CF_SIO_OK);

fail:
	cf_sio_packet_clear(p);
	return (rc);
}

/*
 * Store a copy of the next attachment in p->att[p->ngot].  Returns 1 when
 * that was the last one announced, 0 when more are expected, CF_SIO_EPROTO
 * when the packet expects none (any more), or CF_SIO_ENOMEM.
 */
int
cf_sio_add_attachment(struct cf_sio_packet *p, const uint8_t *data,
    size_t len)
{
	uint8_t	*copy;

	if (p->ngot < 0 || p->ngot >= p->nattach ||
	    p->ngot >= CF_SIO_MAX_ATTACHMENTS)
		return (CF_SIO_EPROTO);
	if ((copy = malloc(len > 0 ? len : 1)) == NULL)
		return (CF_SIO_ENOMEM);
	if (len > 0)
		memcpy(copy, data, len);
	p->att[p->ngot].data = copy;
	p->att[p->ngot].len = len;
	p->ngot++;
	return (p->ngot == p->nattach ? 1 : 0);
}

int
cf_sio_incomplete(const struct cf_sio_packet *p)
{
	return (p->ngot < p->nattach);
}

/*
 * Append v in decimal, as printf's %lld would: integers are in every
 * message (ids, counts), and printf's machinery costs several times the
 * digits.
 */
static int
append_int(struct cf_buf *b, int64_t v)
{
	char d[24], *p = d + sizeof(d);
	/* The magnitude as unsigned: -INT64_MIN does not fit an int64_t. */
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return (cf_buf_append(b, p, (size_t)(d + sizeof(d) - p)));
}

/*
 * Encode p the way socket.io-parser's Encoder does: the type (EVENT/ACK
 * become 5/6 with "N-" when attachments are present, and a BINARY_* packet
 * without attachments is written as plain EVENT/ACK), the namespace and a
 * ',' unless it is "/", the ack id when >= 0, then the JSON payload.  b is
 * reset first.  Returns CF_SIO_OK, CF_SIO_ENOMEM, or CF_SIO_EPROTO when the
 * payload is nested deeper than the writer follows.
 */
int
cf_sio_encode(const struct cf_sio_packet *p, struct cf_buf *b)
{
	enum cf_sio_type type;
	char		 num[32];
	int		 nattach;

	cf_buf_reset(b);
	type = p->type;
	nattach = p->nattach > 0 ? p->nattach : 0;
	if (type == CF_SIO_EVENT || type == CF_SIO_BINARY_EVENT)
		type = nattach > 0 ? CF_SIO_BINARY_EVENT : CF_SIO_EVENT;
	else if (type == CF_SIO_ACK || type == CF_SIO_BINARY_ACK)
		type = nattach > 0 ? CF_SIO_BINARY_ACK : CF_SIO_ACK;

	if (cf_buf_appendc(b, (uint8_t)('0' + type)) == -1)
		return (CF_SIO_ENOMEM);
	if (type == CF_SIO_BINARY_EVENT || type == CF_SIO_BINARY_ACK) {
		snprintf(num, sizeof(num), "%d-", nattach);
		if (cf_buf_appends(b, num) == -1)
			return (CF_SIO_ENOMEM);
	}
	if (p->nsp[0] != '\0' && strcmp(p->nsp, "/") != 0) {
		if (cf_buf_appends(b, p->nsp) == -1 ||
		    cf_buf_appendc(b, ',') == -1)
			return (CF_SIO_ENOMEM);
	}
	if (p->id >= 0 && append_int(b, p->id) == -1)
		return (CF_SIO_ENOMEM);
	if (p->data != NULL)
		return (cf_sio_json_dump(p->data, b));
	return (CF_SIO_OK);
}

/*
 * Append n bytes of s as a JSON string literal, escaping like
 * JSON.stringify: '"', '\\', the short escapes \b \f \n \r \t, other control
 * characters as \u00xx; '/' and non-ASCII UTF-8 are written raw.
 */
static int
dump_string(const char *s, size_t n, struct cf_buf *b)
{
	static const char hex[] = "0123456789abcdef";
	char		 esc[6];
	size_t		 i, run;
	uint8_t		 c;

	if (cf_buf_appendc(b, '"') == -1)
		return (-1);
	run = 0;
	for (i = 0; i < n; i++) {
		c = (uint8_t)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if (cf_buf_append(b, s + run, i - run) == -1)
			return (-1);
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			if (cf_buf_append(b, esc, 6) == -1)
				return (-1);
			continue;
		}
		if (cf_buf_append(b, esc, 2) == -1)
			return (-1);
	}
	if (cf_buf_append(b, s + run, n - run) == -1)
		return (-1);
	return (cf_buf_appendc(b, '"'));
}

static int
append_digits(struct cf_buf *b, const char *d, size_t n)
{
	return (cf_buf_append(b, d, n));
}

static int
append_zeros(struct cf_buf *b, size_t n)
{
	while (n-- > 0)
		if (cf_buf_appendc(b, '0') == -1)
			return (-1);
	return (0);
}

/*
 * Append a double as ECMAScript's Number::toString does: non-finite values
 * become null (as in JSON.stringify), -0 prints as 0, and otherwise the
 * shortest digit string that reads back to the same double (found by
 * trying %.*e with increasing precision; glibc rounds correctly, so for a
 * given length this is the nearest candidate) is laid out in plain notation
 * for decimal exponents -7 < e < 21 and as d.ddde+X / d.ddde-X otherwise.
 */
static int
dump_real(double x, struct cf_buf *b)
{
	char	 tmp[40], digs[20], exp[8];
	char	*p;
	size_t	 k;
	int	 prec, e, nexp, r;

	if (!isfinite(x))
		return (cf_buf_appends(b, "null"));
	if (x == 0)
		return (cf_buf_appendc(b, '0'));
	if (x > -9007199254740992.0 && x < 9007199254740992.0 &&
	    x == (double)(int64_t)x) {
		r = snprintf(tmp, sizeof(tmp), "%" PRId64, (int64_t)x);
		return (cf_buf_append(b, tmp, (size_t)r));
	}
	/* 17 significant digits (prec 16) always round-trip. */
	for (prec = 0;; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, x);
		if (prec >= 16 || strtod(tmp, NULL) == x)
			break;
	}

	/* tmp is [-]d[.ddd]e(+|-)dd: collect the digits and the exponent. */
	p = tmp;
	if (*p == '-') {
		if (cf_buf_appendc(b, '-') == -1)
			return (-1);
		p++;
	}
	k = 0;
	for (; *p != 'e'; p++)
		if (*p != '.' && k < sizeof(digs))
			digs[k++] = *p;
	while (k > 1 && digs[k - 1] == '0')
		k--;
	e = (int)strtol(p + 1, NULL, 10);
	nexp = e + 1;			/* position of the decimal point */

	if ((int)k <= nexp && nexp <= 21) {
		if (append_digits(b, digs, k) == -1 ||
		    append_zeros(b, (size_t)nexp - k) == -1)
			return (-1);
	} else if (0 < nexp && nexp <= 21) {
		if (append_digits(b, digs, (size_t)nexp) == -1 ||
		    cf_buf_appendc(b, '.') == -1 ||
		    append_digits(b, digs + nexp, k - (size_t)nexp) == -1)
			return (-1);
	} else if (-6 < nexp && nexp <= 0) {
		if (cf_buf_appends(b, "0.") == -1 ||
		    append_zeros(b, (size_t)-nexp) == -1 ||
		    append_digits(b, digs, k) == -1)
			return (-1);
	} else {
		if (append_digits(b, digs, 1) == -1)
			return (-1);
		if (k > 1 && (cf_buf_appendc(b, '.') == -1 ||
		    append_digits(b, digs + 1, k - 1) == -1))
			return (-1);
		r = snprintf(exp, sizeof(exp), "e%c%d", e < 0 ? '-' : '+',
		    e < 0 ? -e : e);
		if (cf_buf_append(b, exp, (size_t)r) == -1)
			return (-1);
	}
	return (0);
}

/* Append v at nesting level depth.  0, -1 (ENOMEM) or -2 (too deep). */
static int
dump_value(const json_t *v, struct cf_buf *b, int depth)
{
	const char	*key;
	json_t		*obj, *e;
	void		*it;
	size_t		 i, n;
	int		 first, r;

	if (depth > DUMP_MAX_DEPTH)
		return (-2);
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (cf_buf_appendc(b, '{') == -1)
			return (-1);
		obj = (json_t *)(uintptr_t)v;
		first = 1;
		for (it = json_object_iter(obj); it != NULL;
		    it = json_object_iter_next(obj, it)) {
			if (!first && cf_buf_appendc(b, ',') == -1)
				return (-1);
			first = 0;
			key = json_object_iter_key(it);
			if (dump_string(key, json_object_iter_key_len(it),
			    b) == -1 || cf_buf_appendc(b, ':') == -1)
				return (-1);
			if ((r = dump_value(json_object_iter_value(it), b,
			    depth + 1)) != 0)
				return (r);
		}
		return (cf_buf_appendc(b, '}'));
	case JSON_ARRAY:
		if (cf_buf_appendc(b, '[') == -1)
			return (-1);
		n = json_array_size(v);
		for (i = 0; i < n; i++) {
			if (i > 0 && cf_buf_appendc(b, ',') == -1)
				return (-1);
			e = json_array_get(v, i);
			if ((r = dump_value(e, b, depth + 1)) != 0)
				return (r);
		}
		return (cf_buf_appendc(b, ']'));
	case JSON_STRING:
		return (dump_string(json_string_value(v), json_string_length(v),
		    b));
	case JSON_INTEGER:
		return (append_int(b, (int64_t)json_integer_value(v)));
	case JSON_REAL:
		return (dump_real(json_real_value(v), b));
	case JSON_TRUE:
		return (cf_buf_appends(b, "true"));
	case JSON_FALSE:
		return (cf_buf_appends(b, "false"));
	case JSON_NULL:
		return (cf_buf_appends(b, "null"));
	}
	return (-1);
}

/*
 * Append v to b as JSON.stringify would print it.  Returns CF_SIO_OK,
 * CF_SIO_ENOMEM (b may then hold a partial value), or CF_SIO_EPROTO for a
 * NULL value or one nested deeper than DUMP_MAX_DEPTH.
 */
int
cf_sio_json_dump(const json_t *v, struct cf_buf *b)
{
	int	 r;

	if (v == NULL)
		return (CF_SIO_EPROTO);
	r = dump_value(v, b, 0);
	if (r == -1)
		return (CF_SIO_ENOMEM);
	if (r == -2)
		return (CF_SIO_EPROTO);
	return (CF_SIO_OK);
}
