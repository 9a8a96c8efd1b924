/*
 * frame.c -- relay frame codec (socket.io Redis adapter / emitter format).
 *
 * Encoding packs the JSON event array straight into msgpack, turning
 * Socket.IO placeholders into bin.  Decoding first walks the raw bytes with
 * a small validator (every length must fit in what is left, nesting is
 * bounded, exactly one object, no trailing bytes), so msgpack-c is never
 * asked to preallocate a container announced by a hostile header; only then
 * is the buffer unpacked and converted to JSON.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "relay/frame.h"

/*
 * Container nesting allowed in a whole frame.  It equals msgpack-c's own
 * unpack stack (MSGPACK_EMBED_STACK_SIZE); the frame itself uses two levels
 * (the outer array and the packet map) above the data array.
 */
#define FRAME_MAX_DEPTH		32
#define DATA_MAX_DEPTH		(FRAME_MAX_DEPTH - 2)

#define EXT_UNDEFINED		0	/* notepack: fixext1 type 0 */

/* ---- encoding ---- */

struct enc {
	msgpack_packer	 pk;
	struct cf_buf	*out;
	int		 nomem;
};

static int
enc_write(void *data, const char *p, size_t n)
{
	struct enc	*e = data;

	if (cf_buf_append(e->out, p, n) == -1) {
		e->nomem = 1;
		return (-1);
	}
	return (0);
}

static void
pack_strn(struct enc *e, const char *s, size_t n)
{
	msgpack_pack_str(&e->pk, n);
	msgpack_pack_str_body(&e->pk, s, n);
}

static void
pack_str(struct enc *e, const char *s)
{
	pack_strn(e, s, strlen(s));
}

/*
 * When v is exactly {"_placeholder":true,"num":N} (integer N), store N in
 * *num and return 1; else 0.
 */
static int
is_placeholder(const json_t *v, json_int_t *num)
{
	json_t	*ph, *n;

	if (!json_is_object(v) || json_object_size(v) != 2)
		return (0);
	ph = json_object_get(v, "_placeholder");
	n = json_object_get(v, "num");
	if (!json_is_true(ph) || !json_is_integer(n))
		return (0);
	*num = json_integer_value(n);
	return (1);
}

/*
 * Pack one JSON value.  Placeholders become bin with their attachment.
 * CF_FRAME_OK or CF_FRAME_EPROTO (nesting, unknown attachment); memory
 * errors are reported through e->nomem.
 */
static int
pack_json(struct enc *e, const json_t *v, const struct cf_sio_att *att,
    int nattach, int depth)
{
	const char	*key;
	json_t		*item;
	json_int_t	 num;
	size_t		 i;
	int		 rc;

	switch (json_typeof(v)) {
	case JSON_NULL:
		msgpack_pack_nil(&e->pk);
		return (CF_FRAME_OK);
	case JSON_TRUE:
		msgpack_pack_true(&e->pk);
		return (CF_FRAME_OK);
	case JSON_FALSE:
		msgpack_pack_false(&e->pk);
		return (CF_FRAME_OK);
	case JSON_INTEGER:
		msgpack_pack_int64(&e->pk, json_integer_value(v));
		return (CF_FRAME_OK);
	case JSON_REAL:
		msgpack_pack_double(&e->pk, json_real_value(v));
		return (CF_FRAME_OK);
	case JSON_STRING:
		pack_strn(e, json_string_value(v), json_string_length(v));
		return (CF_FRAME_OK);
	case JSON_ARRAY:
		if (depth >= DATA_MAX_DEPTH)
			return (CF_FRAME_EPROTO);
		msgpack_pack_array(&e->pk, json_array_size(v));
		json_array_foreach(v, i, item) {
			rc = pack_json(e, item, att, nattach, depth + 1);
			if (rc != CF_FRAME_OK)
				return (rc);
		}
		return (CF_FRAME_OK);
	case JSON_OBJECT:
		if (is_placeholder(v, &num)) {
			if (num < 0 || num >= nattach || att == NULL)
				return (CF_FRAME_EPROTO);
			msgpack_pack_bin(&e->pk, att[num].len);
			msgpack_pack_bin_body(&e->pk, att[num].data,
			    att[num].len);
			return (CF_FRAME_OK);
		}
		if (depth >= DATA_MAX_DEPTH)
			return (CF_FRAME_EPROTO);
		msgpack_pack_map(&e->pk, json_object_size(v));
		json_object_foreach((json_t *)v, key, item) {
			pack_str(e, key);
			rc = pack_json(e, item, att, nattach, depth + 1);
			if (rc != CF_FRAME_OK)
				return (rc);
		}
		return (CF_FRAME_OK);
	}
	return (CF_FRAME_EPROTO);
}

static void
pack_rooms(struct enc *e, const char *const *rooms, size_t n)
{
	size_t	 i;

	msgpack_pack_array(&e->pk, n);
	for (i = 0; i < n; i++)
		pack_str(e, rooms[i]);
}

/*
 * Encode [uid, {type, data, nsp}, {rooms, except, flags}] into out.  Also
 * CF_FRAME_EPROTO for an empty data array, more than CF_FRAME_MAX_ROOMS
 * rooms or excepts, or nattach outside 0..CF_SIO_MAX_ATTACHMENTS, so that
 * whatever encodes also decodes.
 */
int
cf_frame_encode(const char *uid, const char *nsp, const json_t *data,
    const struct cf_sio_att *att, int nattach,
    const char *const *rooms, size_t nrooms,
    const char *const *except, size_t nexcept, int flags,
    struct cf_buf *out)
{
	struct enc	 e;
	int		 nflags, rc;

	cf_buf_reset(out);
	if (uid == NULL || !json_is_array(data) ||
	    json_array_size(data) == 0 || nattach < 0 ||
	    nattach > CF_SIO_MAX_ATTACHMENTS ||
	    nrooms > CF_FRAME_MAX_ROOMS || nexcept > CF_FRAME_MAX_ROOMS ||
	    (nrooms > 0 && rooms == NULL) || (nexcept > 0 && except == NULL))
		return (CF_FRAME_EPROTO);
	if (nsp == NULL)
		nsp = "/";

	memset(&e, 0, sizeof(e));
	e.out = out;
	msgpack_packer_init(&e.pk, &e, enc_write);

	msgpack_pack_array(&e.pk, 3);
	pack_str(&e, uid);

	msgpack_pack_map(&e.pk, 3);
	pack_str(&e, "type");
	msgpack_pack_int(&e.pk, 2);
	pack_str(&e, "data");
	rc = pack_json(&e, data, att, nattach, 0);
	if (rc != CF_FRAME_OK) {
		cf_buf_reset(out);
		return (rc);
	}
	pack_str(&e, "nsp");
	pack_str(&e, nsp);

	msgpack_pack_map(&e.pk, 3);
	pack_str(&e, "rooms");
	pack_rooms(&e, rooms, nrooms);
	pack_str(&e, "except");
	pack_rooms(&e, except, nexcept);
	pack_str(&e, "flags");
	nflags = ((flags & CF_FRAME_VOLATILE) != 0) +
	    ((flags & CF_FRAME_LOCAL) != 0);
	msgpack_pack_map(&e.pk, nflags);
	if (flags & CF_FRAME_VOLATILE) {
		pack_str(&e, "volatile");
		msgpack_pack_true(&e.pk);
	}
	if (flags & CF_FRAME_LOCAL) {
		pack_str(&e, "local");
		msgpack_pack_true(&e.pk);
	}

	if (e.nomem) {
		cf_buf_reset(out);
		return (CF_FRAME_ENOMEM);
	}
	return (CF_FRAME_OK);
}

/* ---- raw validation ---- */

static int
rd_be(const uint8_t *p, size_t len, size_t *off, int width, uint64_t *v)
{
	int	 i;

	if (len - *off < (size_t)width)
		return (-1);
	*v = 0;
	for (i = 0; i < width; i++)
		*v = (*v << 8) | p[(*off)++];
	return (0);
}

/*
 * Skip one msgpack object at *off, checking that every announced length
 * fits in the remaining bytes and that containers nest at most
 * FRAME_MAX_DEPTH deep.  0 or -1.
 */
static int
mp_skip(const uint8_t *p, size_t len, size_t *off, int depth)
{
	uint64_t	 n, items, k;
	uint8_t		 b;
	int		 w;

	if (*off >= len)
		return (-1);
	b = p[(*off)++];
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return (0);
	if (b >= 0xa0 && b <= 0xbf) {
		n = b & 0x1f;
		goto raw;
	}
	if (b >= 0x80 && b <= 0x8f) {
		items = (uint64_t)(b & 0x0f) * 2;
		goto container;
	}
	if (b >= 0x90 && b <= 0x9f) {
		items = b & 0x0f;
		goto container;
	}
	switch (b) {
	case 0xc4: case 0xc5: case 0xc6:	/* bin 8/16/32 */
		w = 1 << (b - 0xc4);
		if (rd_be(p, len, off, w, &n) == -1)
			return (-1);
		goto raw;
	case 0xc7: case 0xc8: case 0xc9:	/* ext 8/16/32 */
		w = 1 << (b - 0xc7);
		if (rd_be(p, len, off, w, &n) == -1)
			return (-1);
		n += 1;				/* the type byte */
		goto raw;
	case 0xca: n = 4; goto raw;		/* float 32 */
	case 0xcb: n = 8; goto raw;		/* float 64 */
	case 0xcc: case 0xd0: n = 1; goto raw;
	case 0xcd: case 0xd1: n = 2; goto raw;
	case 0xce: case 0xd2: n = 4; goto raw;
	case 0xcf: case 0xd3: n = 8; goto raw;
	case 0xd4: n = 2; goto raw;		/* fixext 1 */
	case 0xd5: n = 3; goto raw;
	case 0xd6: n = 5; goto raw;
	case 0xd7: n = 9; goto raw;
	case 0xd8: n = 17; goto raw;
	case 0xd9: case 0xda: case 0xdb:	/* str 8/16/32 */
		w = 1 << (b - 0xd9);
		if (rd_be(p, len, off, w, &n) == -1)
			return (-1);
		goto raw;
	case 0xdc: case 0xdd:			/* array 16/32 */
		if (rd_be(p, len, off, b == 0xdc ? 2 : 4, &items) == -1)
			return (-1);
		goto container;
	case 0xde: case 0xdf:			/* map 16/32 */
		if (rd_be(p, len, off, b == 0xde ? 2 : 4, &items) == -1)
			return (-1);
		items *= 2;
		goto container;
	default:				/* 0xc1: never used */
		return (-1);
	}

raw:
	if (n > len - *off)
		return (-1);
	*off += n;
	return (0);

container:
	if (depth >= FRAME_MAX_DEPTH || items > len - *off)
		return (-1);
	for (k = 0; k < items; k++)
		if (mp_skip(p, len, off, depth + 1) == -1)
			return (-1);
	return (0);
}

/* ---- decoding ---- */

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int
utf8_valid(const uint8_t *s, size_t n)
{
	size_t		 i = 0, k, need;
	uint32_t	 cp, min;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return (0);
		if (n - i - 1 < need)
			return (0);
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (0);
		i += need + 1;
	}
	return (1);
}

static int
is_undefined(const msgpack_object *o)
{
	return (o->type == MSGPACK_OBJECT_EXT &&
	    o->via.ext.type == EXT_UNDEFINED && o->via.ext.size == 1);
}

/* nil or notepack undefined: both mean "absent" for frame fields. */
static int
is_absent(const msgpack_object *o)
{
	return (o == NULL || o->type == MSGPACK_OBJECT_NIL || is_undefined(o));
}

static int
key_is(const msgpack_object *k, const char *s)
{
	size_t	 n = strlen(s);

	return (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	    memcmp(k->via.str.ptr, s, n) == 0);
}

/*
 * Convert one msgpack object to a new JSON reference in *out.  bin values
 * become placeholders numbered in depth-first order, their bytes copied
 * into b->att.  CF_FRAME_OK, CF_FRAME_EPROTO or CF_FRAME_ENOMEM.
 */
static int
to_json(struct cf_frame_bcast *b, const msgpack_object *o, int depth,
    json_t **out)
{
	const msgpack_object_kv *kv;
	struct cf_sio_att *a;
	json_t		*v = NULL, *item;
	char		*key;
	uint32_t	 i;
	int		 rc;

	*out = NULL;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		v = json_null();
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		v = json_boolean(o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			v = json_real((double)o->via.u64);
		else
			v = json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		v = json_integer((json_int_t)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON.stringify turns NaN and infinities into null. */
		if (isfinite(o->via.f64))
			v = json_real(o->via.f64);
		else
			v = json_null();
		break;
	case MSGPACK_OBJECT_STR:
		if (!utf8_valid((const uint8_t *)o->via.str.ptr,
		    o->via.str.size))
			return (CF_FRAME_EPROTO);
		v = json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		if (b->nattach >= CF_SIO_MAX_ATTACHMENTS)
			return (CF_FRAME_EPROTO);
		a = &b->att[b->nattach];
		a->data = malloc(o->via.bin.size > 0 ? o->via.bin.size : 1);
		if (a->data == NULL)
			return (CF_FRAME_ENOMEM);
		memcpy(a->data, o->via.bin.ptr, o->via.bin.size);
		a->len = o->via.bin.size;
		v = json_pack("{sbsi}", "_placeholder", 1, "num",
		    b->nattach);
		b->nattach++;
		break;
	case MSGPACK_OBJECT_ARRAY:
		if (depth >= DATA_MAX_DEPTH)
			return (CF_FRAME_EPROTO);
		if ((v = json_array()) == NULL)
			return (CF_FRAME_ENOMEM);
		for (i = 0; i < o->via.array.size; i++) {
			if (is_undefined(&o->via.array.ptr[i]))
				item = json_null();
			else if ((rc = to_json(b, &o->via.array.ptr[i],
			    depth + 1, &item)) != CF_FRAME_OK) {
				json_decref(v);
				return (rc);
			}
			if (json_array_append_new(v, item) == -1) {
				json_decref(v);
				return (CF_FRAME_ENOMEM);
			}
		}
		break;
	case MSGPACK_OBJECT_MAP:
		if (depth >= DATA_MAX_DEPTH)
			return (CF_FRAME_EPROTO);
		if ((v = json_object()) == NULL)
			return (CF_FRAME_ENOMEM);
		for (i = 0; i < o->via.map.size; i++) {
			kv = &o->via.map.ptr[i];
			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    memchr(kv->key.via.str.ptr, '\0',
			    kv->key.via.str.size) != NULL ||
			    !utf8_valid((const uint8_t *)kv->key.via.str.ptr,
			    kv->key.via.str.size)) {
				json_decref(v);
				return (CF_FRAME_EPROTO);
			}
			if (is_undefined(&kv->val))
				continue;
			if ((rc = to_json(b, &kv->val, depth + 1, &item)) !=
			    CF_FRAME_OK) {
				json_decref(v);
				return (rc);
			}
			key = strndup(kv->key.via.str.ptr,
			    kv->key.via.str.size);
			if (key == NULL ||
			    json_object_set_new_nocheck(v, key, item) == -1) {
				if (key == NULL)
					json_decref(item);
				free(key);
				json_decref(v);
				return (CF_FRAME_ENOMEM);
			}
			free(key);
		}
		break;
	default:
		/* Other ext types (Date, ...) and anything unknown. */
		return (CF_FRAME_EPROTO);
	}
	if (v == NULL)
		return (CF_FRAME_ENOMEM);
	*out = v;
	return (CF_FRAME_OK);
}

/*
 * Copy a msgpack str into dst (size n, NUL-terminated).  It must fit and
 * hold no NUL.  0 or -1.
 */
static int
copy_str(char *dst, size_t n, const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n ||
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return (-1);
	memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
	return (0);
}

/*
 * Decode a room list (absent = empty) into owned strings.  CF_FRAME_OK,
 * CF_FRAME_EPROTO or CF_FRAME_ENOMEM; on error what was copied stays in
 * the arrays for cf_frame_bcast_clear.
 */
static int
get_rooms(const msgpack_object *o, char **dst, size_t *n)
{
	const msgpack_object *r;
	uint32_t	 i;

	*n = 0;
	if (is_absent(o))
		return (CF_FRAME_OK);
	if (o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size > CF_FRAME_MAX_ROOMS)
		return (CF_FRAME_EPROTO);
	for (i = 0; i < o->via.array.size; i++) {
		r = &o->via.array.ptr[i];
		if (r->type != MSGPACK_OBJECT_STR ||
		    memchr(r->via.str.ptr, '\0', r->via.str.size) != NULL)
			return (CF_FRAME_EPROTO);
		dst[i] = strndup(r->via.str.ptr, r->via.str.size);
		if (dst[i] == NULL)
			return (CF_FRAME_ENOMEM);
		(*n)++;
	}
	return (CF_FRAME_OK);
}

/*
 * Find the value of a key in a map of str keys (the last one wins on
 * duplicates).  NULL when absent.  Returns -1 via *bad when a key is not a
 * string.
 */
static const msgpack_object *
map_get(const msgpack_object *m, const char *key, int *bad)
{
	const msgpack_object *v = NULL;
	uint32_t	 i;

	for (i = 0; i < m->via.map.size; i++) {
		if (m->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR) {
			*bad = 1;
			return (NULL);
		}
		if (key_is(&m->via.map.ptr[i].key, key))
			v = &m->via.map.ptr[i].val;
	}
	return (v);
}

/* Fill b from the unpacked frame.  b is zeroed; cleared by the caller. */
static int
decode_frame(const msgpack_object *top, struct cf_frame_bcast *b)
{
	const msgpack_object *pkt, *opts, *o;
	int		 bad = 0, rc;

	if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 2 ||
	    top->via.array.size > 3)
		return (CF_FRAME_EPROTO);
	if (copy_str(b->uid, sizeof(b->uid), &top->via.array.ptr[0]) == -1)
		return (CF_FRAME_EPROTO);

	pkt = &top->via.array.ptr[1];
	if (pkt->type != MSGPACK_OBJECT_MAP)
		return (CF_FRAME_EPROTO);
	o = map_get(pkt, "type", &bad);
	if (bad || o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 != 2)
		return (CF_FRAME_EPROTO);
	o = map_get(pkt, "nsp", &bad);
	if (is_absent(o))
		strcpy(b->nsp, "/");
	else if (copy_str(b->nsp, sizeof(b->nsp), o) == -1 ||
	    b->nsp[0] == '\0')
		return (CF_FRAME_EPROTO);
	o = map_get(pkt, "data", &bad);
	if (o == NULL || o->type != MSGPACK_OBJECT_ARRAY ||
	    o->via.array.size == 0)
		return (CF_FRAME_EPROTO);
	if ((rc = to_json(b, o, 0, &b->data)) != CF_FRAME_OK)
		return (rc);

	opts = top->via.array.size == 3 ? &top->via.array.ptr[2] : NULL;
	if (is_absent(opts))
		return (CF_FRAME_OK);
	if (opts->type != MSGPACK_OBJECT_MAP)
		return (CF_FRAME_EPROTO);
	o = map_get(opts, "rooms", &bad);
	if (bad)
		return (CF_FRAME_EPROTO);
	if ((rc = get_rooms(o, b->rooms, &b->nrooms)) != CF_FRAME_OK)
		return (rc);
	o = map_get(opts, "except", &bad);
	if ((rc = get_rooms(o, b->except, &b->nexcept)) != CF_FRAME_OK)
		return (rc);
	o = map_get(opts, "flags", &bad);
	if (is_absent(o))
		return (CF_FRAME_OK);
	if (o->type != MSGPACK_OBJECT_MAP)
		return (CF_FRAME_EPROTO);
	opts = o;
	o = map_get(opts, "volatile", &bad);
	if (o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean)
		b->flags |= CF_FRAME_VOLATILE;
	o = map_get(opts, "local", &bad);
	if (o != NULL && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean)
		b->flags |= CF_FRAME_LOCAL;
	if (bad)
		return (CF_FRAME_EPROTO);
	return (CF_FRAME_OK);
}

int
cf_frame_decode(const uint8_t *buf, size_t len, struct cf_frame_bcast *out)
{
	msgpack_unpacked up;
	size_t		 off = 0;
	int		 rc;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len == 0 || mp_skip(buf, len, &off, 0) == -1 ||
	    off != len)
		return (CF_FRAME_EPROTO);

	off = 0;
	msgpack_unpacked_init(&up);
	switch (msgpack_unpack_next(&up, (const char *)buf, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		if (off != len) {
			rc = CF_FRAME_EPROTO;
			goto done;
		}
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		rc = CF_FRAME_ENOMEM;
		goto done;
	default:
		rc = CF_FRAME_EPROTO;
		goto done;
	}
	rc = decode_frame(&up.data, out);

done:
	msgpack_unpacked_destroy(&up);
	if (rc != CF_FRAME_OK)
		cf_frame_bcast_clear(out);
	return (rc);
}

int
cf_frame_peek_uid(const uint8_t *buf, size_t len, const char **uid,
    size_t *n)
{
	size_t	 off, hdr, slen;

	if (buf == NULL || len == 0 || uid == NULL || n == NULL)
		return (CF_FRAME_EPROTO);
	/* fixarray, array 16, array 32: at least one element. */
	if (buf[0] >= 0x91 && buf[0] <= 0x9f)
		off = 1;
	else if (buf[0] == 0xdc && len >= 3 && (buf[1] | buf[2]) != 0)
		off = 3;
	else if (buf[0] == 0xdd && len >= 5 &&
	    (buf[1] | buf[2] | buf[3] | buf[4]) != 0)
		off = 5;
	else
		return (CF_FRAME_EPROTO);
	if (off >= len)
		return (CF_FRAME_EPROTO);
	/* fixstr, str 8, str 16, str 32. */
	if ((buf[off] & 0xe0) == 0xa0) {
		hdr = 1;
		slen = buf[off] & 0x1f;
	} else if (buf[off] == 0xd9 && len - off >= 2) {
		hdr = 2;
		slen = buf[off + 1];
	} else if (buf[off] == 0xda && len - off >= 3) {
		hdr = 3;
		slen = (size_t)buf[off + 1] << 8 | buf[off + 2];
	} else if (buf[off] == 0xdb && len - off >= 5) {
		hdr = 5;
		slen = (size_t)buf[off + 1] << 24 | (size_t)buf[off + 2] << 16 |
		    (size_t)buf[off + 3] << 8 | buf[off + 4];
	} else
		return (CF_FRAME_EPROTO);
	if (slen > len - off - hdr)
		return (CF_FRAME_EPROTO);
	*uid = (const char *)buf + off + hdr;
	*n = slen;
	return (CF_FRAME_OK);
}

void
cf_frame_bcast_clear(struct cf_frame_bcast *b)
{
	size_t	 i;

	if (b == NULL)
		return;
	json_decref(b->data);
	for (i = 0; i < CF_SIO_MAX_ATTACHMENTS; i++)
		free(b->att[i].data);
	for (i = 0; i < b->nrooms; i++)
		free(b->rooms[i]);
	for (i = 0; i < b->nexcept; i++)
		free(b->except[i]);
	memset(b, 0, sizeof(*b));
}

int
cf_frame_channel(char *dst, size_t n, const char *prefix, const char *nsp,
    const char *room)
{
	int	 len;

	if (dst == NULL || n == 0 || prefix == NULL)
		return (-1);
	if (nsp == NULL)
		nsp = "/";
	if (room != NULL)
		len = snprintf(dst, n, "%s#%s#%s#", prefix, nsp, room);
	else
		len = snprintf(dst, n, "%s#%s#", prefix, nsp);
	if (len < 0 || (size_t)len >= n) {
		dst[0] = '\0';
		return (-1);
	}
	return (len);
}
