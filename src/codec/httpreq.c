/*
 * httpreq.c -- request-line routing and body framing checks (httpreq.h).
 */
#include <string.h>

#include "codec/httpreq.h"
#include "util.h"

int
cf_httpreq_sid(const char *line, size_t len, char sid[CF_HTTPREQ_SID_MAX])
{
	const char *p, *q, *end = line + len;
	size_t n;

	/* The target is the second token; its query starts at '?'. */
	if ((p = memchr(line, ' ', len)) == NULL)
		return (-1);
	p++;
	if ((q = memchr(p, ' ', end - p)) != NULL)
		end = q;
	if ((q = memchr(p, '?', end - p)) == NULL)
		return (-1);
	for (p = q + 1; p < end;) {
		if ((size_t)(end - p) >= 4 && memcmp(p, "sid=", 4) == 0) {
			p += 4;
			for (n = 0; p < end && *p != '&' &&
			    n < CF_HTTPREQ_SID_MAX - 1; n++)
				sid[n] = *p++;
			sid[n] = '\0';
			return (0);
		}
		while (p < end && *p != '&')
			p++;
		if (p < end)
			p++;
	}
	return (-1);
}

int
cf_httpreq_sid_owner(const char *sid, unsigned *slot, unsigned *gen)
{
	uint8_t raw[3];

	if (sid == NULL || strlen(sid) != 20)
		return (-1);
	if (cf_base64url_decode(raw, sid, 4) != 3)
		return (-1);
	*slot = raw[0];
	*gen = raw[1];
	return (0);
}

static int
is_blank(char c)
{
	return (c == ' ' || c == '\t');
}

int
cf_httpreq_framing(const char *const *cl, size_t ncl, int te, uint64_t *len)
{
	const char *p;
	uint64_t v = 0;
	size_t digits = 0;

	*len = 0;
	if (te)
		return (CF_HTTPREQ_TE);
	if (ncl == 0)
		return (CF_HTTPREQ_OK);
	if (ncl > 1)
		return (CF_HTTPREQ_CL_DUP);
	for (p = cl[0]; is_blank(*p); p++)
		;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 18)
			return (CF_HTTPREQ_CL_BAD);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	while (is_blank(*p))
		p++;
	if (digits == 0 || *p != '\0')
		return (CF_HTTPREQ_CL_BAD);
	*len = v;
	return (CF_HTTPREQ_OK);
}

int
cf_httpreq_replayed_head(const void *body, size_t len, const char *method)
{
	size_t m = strlen(method);
	const char *b = body;

	/* A short body holds only the start of "<method> ". */
	if (len == 0)
		return (0);
	if (len <= m)
		return (memcmp(b, method, len) == 0);
	return (memcmp(b, method, m) == 0 && b[m] == ' ');
}
