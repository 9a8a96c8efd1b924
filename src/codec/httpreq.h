/*
 * httpreq.h -- the parts of an HTTP/1.1 request that confabd decides on
 * itself, before or beside libwebsockets: which session a request line
 * names (routing), and whether its body framing is unambiguous.  Pure
 * functions: no I/O, no globals.
 */
#ifndef CF_HTTPREQ_H
#define CF_HTTPREQ_H

#include <stddef.h>
#include <stdint.h>

/* Longest session id copied out of a request line, with its NUL. */
#define CF_HTTPREQ_SID_MAX	32

/*
 * Copies the "sid" query parameter of the request line line[0..len) (no
 * CR/LF needed) into sid (CF_HTTPREQ_SID_MAX bytes, NUL-terminated; a
 * longer value is cut, which no valid id is).  Returns 0 when the line
 * names a session, -1 otherwise.
 */
int	 cf_httpreq_sid(const char *line, size_t len,
	    char sid[CF_HTTPREQ_SID_MAX]);

/*
 * The owner of an Engine.IO session id: byte 0 of the 15 decoded bytes is
 * the worker slot, byte 1 the generation.  Returns 0 and fills *slot and
 * *gen, or -1 when sid is not a 20-character URL-safe base64 id.
 */
int	 cf_httpreq_sid_owner(const char *sid, unsigned *slot, unsigned *gen);

enum cf_httpreq_framing {
	CF_HTTPREQ_OK = 0,
	CF_HTTPREQ_TE = -1,		/* Transfer-Encoding on a request */
	CF_HTTPREQ_CL_DUP = -2,		/* more than one Content-Length */
	CF_HTTPREQ_CL_BAD = -3		/* not 1 to 18 decimal digits */
};

/*
 * The framing verdict of a request from its Content-Length values (cl[0]
 * .. cl[ncl-1], as received, surrounding blanks allowed) and whether it
 * carries a Transfer-Encoding header (te).  Only one Content-Length made
 * of digits is accepted: duplicates are refused even when equal, since
 * libraries disagree on which one wins.  On CF_HTTPREQ_OK *len is the
 * body length (0 without Content-Length).
 */
int	 cf_httpreq_framing(const char *const *cl, size_t ncl, int te,
	    uint64_t *len);

/*
 * 1 when the first bytes of a request body are the head of a request with
 * the given method ("POST"): how libwebsockets 4.1.6 hands over the body
 * of a request it read ahead of the previous response (pipelining), with
 * the head counted as body (a body shorter than "<method> " is tested
 * against as much of it).  An Engine.IO payload never starts that way.
 */
int	 cf_httpreq_replayed_head(const void *body, size_t len,
	    const char *method);

#endif
