/*
 * curluv.h -- HTTP requests with libcurl's multi interface on a libuv
 * loop (the socket-action API: curl tells which sockets to watch, through
 * uv_poll_t handles, and when to call it back, through one uv_timer_t),
 * so that nothing blocks the loop.  Used by the webhook deliveries
 * (hook.c); the issue mandates libcurl (HACKING.md).
 *
 * Every request is bounded: its whole time (timeout_ms, connection
 * included), http and https only, no redirect followed, no signal, the
 * response body discarded as it arrives.
 */
#ifndef CF_CURLUV_H
#define CF_CURLUV_H

#include <stddef.h>

#include <uv.h>

struct cf_curluv;

/*
 * The end of a request: status is the HTTP status of the answer, or 0
 * when there was none (connection refused, timeout...; err then says
 * why, curl's text, valid during the call).
 */
typedef void (*cf_curluv_done_fn)(void *arg, long status, const char *err);

/* A client on loop; NULL on failure.  Free with cf_curluv_free. */
struct cf_curluv	*cf_curluv_new(uv_loop_t *loop);
/*
 * POST body (len bytes; taken: freed when the request ends) to url with
 * the headers (a NULL-terminated array of "name: value" lines, copied)
 * and done(arg) called once, from the loop, when it ends (never from
 * inside this call).  0, or -1 (nothing started, body freed, done never
 * called).
 */
int	 cf_curluv_post(struct cf_curluv *c, const char *url,
	    const char *const *headers, char *body, size_t len,
	    long timeout_ms, cf_curluv_done_fn done, void *arg);
/* Requests started and not ended. */
unsigned cf_curluv_inflight(const struct cf_curluv *c);
/*
 * Abandon every request (their done is not called) and close the uv
 * handles; the struct is freed once the loop has run their close
 * callbacks.  NULL-safe.
 */
void	 cf_curluv_free(struct cf_curluv *c);

#endif
