/*
 * fuzz_http.c -- libFuzzer target for the HTTP request checks confabd makes
 * itself (src/codec/httpreq.c): the routing peek and the body framing.
 * The input is split at '\n' into lines:
 *
 *   line 1: a request line: cf_httpreq_sid, then cf_httpreq_sid_owner;
 *   each further line: a Content-Length value, or when it starts with 'T'
 *     the presence of Transfer-Encoding (cf_httpreq_framing over all);
 *   the whole input as a body: cf_httpreq_replayed_head.
 *
 * Build: clang -fsanitize=fuzzer,address -Isrc tests/fuzz/fuzz_http.c \
 *     src/util.c src/codec/httpreq.c $(pkg-config --cflags --libs jansson)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/httpreq.h"

#define FUZZ_MAX_VALUES	8

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char sid[CF_HTTPREQ_SID_MAX], *copy, *p, *nl;
	const char *cl[FUZZ_MAX_VALUES];
	unsigned slot, gen;
	uint64_t len;
	size_t ncl = 0, first;
	int te = 0, rc;

	/* Exactly the input's bytes, so ASan sees any read past them. */
	nl = memchr(data, '\n', size);
	first = nl ? (size_t)(nl - (const char *)data) : size;
	if ((copy = malloc(first ? first : 1)) == NULL)
		return (0);
	memcpy(copy, data, first);
	if (cf_httpreq_sid(copy, first, sid) == 0) {
		if (strlen(sid) >= CF_HTTPREQ_SID_MAX)
			abort();
		if (cf_httpreq_sid_owner(sid, &slot, &gen) == 0 &&
		    (slot > 255 || gen > 255))
			abort();
	}
	free(copy);

	if ((copy = malloc(size + 1)) == NULL)
		return (0);
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (p = nl ? copy + first + 1 : NULL; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if (p[0] == 'T')
			te = 1;
		else if (ncl < FUZZ_MAX_VALUES)
			cl[ncl++] = p;
	}
	rc = cf_httpreq_framing(cl, ncl, te, &len);
	if (rc == CF_HTTPREQ_OK && (te || ncl > 1 || (ncl == 0 && len != 0)))
		abort();
	if (rc != CF_HTTPREQ_OK && len != 0)
		abort();
	free(copy);

	(void)cf_httpreq_replayed_head(data, size, "POST");
	return (0);
}
