/*
 * fuzz_codec.c -- libFuzzer target for the Engine.IO and Socket.IO codecs.
 * The first input byte selects the decoder, the rest is its input:
 *
 *   0: cf_eio_decode_text
 *   1: cf_eio_decode_payload (on a private copy, since it decodes in place)
 *   2: cf_sio_decode, then cf_sio_encode and attachments when accepted
 *
 * Build: clang -fsanitize=fuzzer,address -Isrc tests/fuzz/fuzz_codec.c \
 *     src/util.c src/codec/eio.c src/codec/sio.c -ljansson
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/eio.h"
#include "codec/sio.h"

#define FUZZ_MAX_PACKETS	64

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_eio_text(const uint8_t *data, size_t size)
{
	struct cf_eio_packet	 p;

	if (cf_eio_decode_text(data, size, &p) == CF_EIO_OK &&
	    (p.data != data + 1 || p.len != size - 1))
		abort();
}

static void
fuzz_eio_payload(const uint8_t *data, size_t size)
{
	struct cf_eio_packet	 out[FUZZ_MAX_PACKETS];
	struct cf_buf		 b = { 0 };
	uint8_t			*copy;
	size_t			 n, i;

	if ((copy = malloc(size > 0 ? size : 1)) == NULL)
		return;
	if (size > 0)
		memcpy(copy, data, size);
	(void)cf_eio_decode_payload(copy, size, out, FUZZ_MAX_PACKETS, &n);
	if (n > FUZZ_MAX_PACKETS)
		abort();
	/* Whatever decoded must encode again. */
	for (i = 0; i < n; i++) {
		if (out[i].data < copy || out[i].data + out[i].len >
		    copy + size)
			abort();
		if (cf_eio_payload_append(&b, out[i].type, out[i].binary,
		    out[i].data, out[i].len) != CF_EIO_OK)
			break;
	}
	cf_buf_free(&b);
	free(copy);
}

static void
fuzz_sio(const uint8_t *data, size_t size)
{
	struct cf_sio_packet	 p;
	struct cf_buf		 b = { 0 };
	int			 r;

	memset(&p, 0, sizeof(p));
	r = cf_sio_decode((const char *)data, size, &p);
	if (r == CF_SIO_OK) {
		(void)cf_sio_encode(&p, &b);
		while (cf_sio_incomplete(&p))
			if (cf_sio_add_attachment(&p, data, size) < 0)
				break;
	} else if (p.data != NULL)
		abort();
	cf_sio_packet_clear(&p);
	cf_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return (0);
	switch (data[0] % 3) {
	case 0:
		fuzz_eio_text(data + 1, size - 1);
		break;
	case 1:
		fuzz_eio_payload(data + 1, size - 1);
		break;
	default:
		fuzz_sio(data + 1, size - 1);
		break;
	}
	return (0);
}
