/*
 * api.h -- the HTTP API (/api/v1/, doc/api.md): the router and its
 * helpers (api.c) and the resources' handlers (api_channels.c,
 * api_messages.c, api_users.c), peers of the socket event handlers: both run the
 * operations of ops.h.
 *
 * A handler gets the call with the key checked, the path's parameters
 * and the body parsed, and answers exactly once, with cf_api_ok() or one
 * of the failures.  Errors are {error: {code, message}} with the HTTP
 * status: 400 bad_request, 401 unauthorized, 404 not_found, 405, 409
 * conflict, 413, 415, 429 rate_limited, 503 unavailable.  Nothing is
 * stored or emitted by a request that fails.
 */
#ifndef CF_API_H
#define CF_API_H

#include <stdint.h>

#include <jansson.h>

#include "app/args.h"
#include "app/ops.h"
#include "eio/session.h"

#define CF_API_PARAM_MAX	128

struct cf_api_call {
	const struct cf_api_req	*req;
	struct cf_api_res	*res;
	const char		*key;		/* the key's name */
	json_t			*body;		/* an object; NULL: no body */
	char			 param[2][CF_API_PARAM_MAX]; /* {id}, {userId} */
	int			 answered;
};

/*
 * The module's state (w->api: the rate limit's windows): allocated before
 * the shell wires anything, 0/-1; released once the loop is closed.
 */
int	 cf_api_init(struct cf_worker *w);
void	 cf_api_free(struct cf_worker *w);
/* The application's entries (cf_app->api_head, cf_app->api). */
int	 cf_api_head(const struct cf_api_req *req, struct cf_api_res *res);
void	 cf_api_serve(const struct cf_api_req *req, struct cf_api_res *res);

/* Answer status with body (stolen; NULL: {}). */
void	 cf_api_ok(struct cf_api_call *c, unsigned status, json_t *body);
void	 cf_api_fail(struct cf_api_call *c, unsigned status, const char *code,
	    const char *message);
/* A store error: -ENOENT 404 "<what> not found", -EEXIST 409, -EROFS
 * 409 "<what> is archived", -EINVAL 400, else 503. */
void	 cf_api_fail_store(struct cf_api_call *c, int rc, const char *what);
/*
 * Check the body against fields (args.h; their keys are every member the
 * body may have: any other is a 400 naming it).  No body counts as {}.
 * 0, or -1 answered.
 */
int	 cf_api_fields(struct cf_api_call *c, const struct cf_field *f,
	    struct cf_arg_val *v);
/* A body without members (or none): cf_api_fields(c, cf_api_no_fields,
 * NULL). */
extern const struct cf_field cf_api_no_fields[];
/*
 * A query argument name (without '=') as an integer within min..max into
 * *out, def when absent.  0, or -1 answered (400).
 */
int	 cf_api_query_int(struct cf_api_call *c, const char *name, int64_t min,
	    int64_t max, int64_t def, int64_t *out);
/* A query argument's raw value, or NULL. */
const char *cf_api_query(struct cf_api_call *c, const char *name);
/* Path parameter i as a positive id; 0, or -1 answered (404). */
int	 cf_api_param_id(struct cf_api_call *c, int i, const char *what,
	    int64_t *out);
/* The actor of a request: user_id as given (NULL: the key, as "0"). */
void	 cf_api_actor(struct cf_api_call *c, const char *user_id,
	    struct cf_op_actor *who);

/* api_messages.c */
void	 cf_api_message_patch(struct cf_api_call *c);
void	 cf_api_message_delete(struct cf_api_call *c);
void	 cf_api_message_thread(struct cf_api_call *c);
void	 cf_api_message_react(struct cf_api_call *c);

/* api_channels.c */
void	 cf_api_channels_list(struct cf_api_call *c);
void	 cf_api_channel_create(struct cf_api_call *c);
void	 cf_api_channel_get(struct cf_api_call *c);
void	 cf_api_channel_patch(struct cf_api_call *c);
void	 cf_api_channel_delete(struct cf_api_call *c);
void	 cf_api_members_list(struct cf_api_call *c);
void	 cf_api_member_put(struct cf_api_call *c);
void	 cf_api_member_delete(struct cf_api_call *c);
void	 cf_api_messages_list(struct cf_api_call *c);
void	 cf_api_message_post(struct cf_api_call *c);
void	 cf_api_dm_open(struct cf_api_call *c);

/* api_search.c */
void	 cf_api_search(struct cf_api_call *c);

/* api_users.c */
void	 cf_api_user_put(struct cf_api_call *c);
void	 cf_api_user_get(struct cf_api_call *c);
void	 cf_api_presence(struct cf_api_call *c);
void	 cf_api_user_disconnect(struct cf_api_call *c);
void	 cf_api_user_revoke(struct cf_api_call *c);
void	 cf_api_emit(struct cf_api_call *c);
void	 cf_api_broadcast(struct cf_api_call *c);
void	 cf_api_openapi(struct cf_api_call *c);

#endif
