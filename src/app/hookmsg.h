/*
 * hookmsg.h -- what a webhook delivery is made of, as pure functions (no
 * worker state, unit-tested in tests/unit/test_hookmsg.c): the request
 * body, the signature header and the retry schedule.
 */
#ifndef CF_HOOKMSG_H
#define CF_HOOKMSG_H

#include <stddef.h>
#include <stdint.h>

/* The first retry waits about this long; each next one twice as long... */
#define CF_HOOK_BACKOFF_BASE_MS		1000
/* ... up to this. */
#define CF_HOOK_BACKOFF_MAX_MS		(10 * 60 * 1000)

/*
 * The body of a delivery: {"id":ID,"event":EVENT,"createdAt":ISO,
 * "data":PAYLOAD}, PAYLOAD being the JSON text stored in the outbox, put
 * in as it is (so a retry sends the same bytes).  A new string the
 * caller frees, or NULL (out of memory, or an event name that would need
 * escaping).
 */
char	*cf_hookmsg_body(int64_t id, const char *event, int64_t created_ms,
	    const char *payload);
/*
 * "v1=" and the lowercase hex HMAC-SHA256, under secret, of
 * "<timestamp>.<body>", into out (CF_HOOKMSG_SIG_LEN bytes with the
 * NUL).  0, or -1 when the HMAC failed.
 */
#define CF_HOOKMSG_SIG_LEN	(3 + 64 + 1)
int	 cf_hookmsg_sign(const char *secret, int64_t timestamp,
	    const char *body, size_t len, char *out);
/*
 * The wait before attempt number `attempt` + 1, after `attempt` failed
 * ones (>= 1): base * 2^(attempt - 1), capped at CF_HOOK_BACKOFF_MAX_MS,
 * then "equal jitter": a uniform draw in [half, whole] of it, from
 * rnd (any 32 random bits), so that endpoints failing together do not
 * retry in step.
 */
uint64_t cf_hookmsg_backoff_ms(unsigned attempt, uint32_t rnd);

#endif
