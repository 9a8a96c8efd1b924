/*
 * api.c -- the HTTP API's router: the key (Authorization: Bearer), the
 * rate limit per key, the body (JSON object), the route table, the answer
 * and the log line of every call (api.h).
 *
 * Keys are compared in constant time against every configured key (no
 * early exit, the same length compared whatever was sent), and never
 * logged: the log names the key's NAME.  The rate limit is a fixed window
 * per key name and per worker (api-rate-limit): a backend spreading its
 * calls over the workers' connections gets up to workers times as many.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "log.h"
#include "util.h"
#include "app/api.h"
#include "proc.h"

/* A key's window (api-rate-limit), found by name: keys come and go with
 * SIGHUP. */
struct api_bucket {
	char		 name[65];
	uint64_t	 start;		/* ms, monotonic */
	uint32_t	 count;
};

/* The module's state, cf_w->api (proc.h). */
struct cf_api_state {
	struct api_bucket buckets[CF_CONF_MAX_API_KEYS];
};

typedef void (*api_fn)(struct cf_api_call *);

/* A route: method and path pattern; "{}" matches one segment. */
struct route {
	const char	*method;
	const char	*pattern;
	api_fn		 fn;
};

static const struct route routes[] = {
	{ "GET", "/api/v1/channels", cf_api_channels_list },
	{ "POST", "/api/v1/channels", cf_api_channel_create },
	{ "GET", "/api/v1/channels/{}", cf_api_channel_get },
	{ "PATCH", "/api/v1/channels/{}", cf_api_channel_patch },
	{ "DELETE", "/api/v1/channels/{}", cf_api_channel_delete },
	{ "GET", "/api/v1/channels/{}/members", cf_api_members_list },
	{ "PUT", "/api/v1/channels/{}/members/{}", cf_api_member_put },
	{ "DELETE", "/api/v1/channels/{}/members/{}", cf_api_member_delete },
	{ "GET", "/api/v1/channels/{}/messages", cf_api_messages_list },
	{ "POST", "/api/v1/channels/{}/messages", cf_api_message_post },
	{ "POST", "/api/v1/dms", cf_api_dm_open },
	{ "PATCH", "/api/v1/messages/{}", cf_api_message_patch },
	{ "DELETE", "/api/v1/messages/{}", cf_api_message_delete },
	{ "GET", "/api/v1/messages/{}/thread", cf_api_message_thread },
	{ "POST", "/api/v1/messages/{}/reactions", cf_api_message_react },
	{ "PUT", "/api/v1/users/{}", cf_api_user_put },
	{ "GET", "/api/v1/users/{}", cf_api_user_get },
	{ "POST", "/api/v1/users/{}/disconnect", cf_api_user_disconnect },
	{ "POST", "/api/v1/users/{}/revoke", cf_api_user_revoke },
	{ "GET", "/api/v1/presence", cf_api_presence },
	{ "GET", "/api/v1/search", cf_api_search },
	{ "POST", "/api/v1/emit", cf_api_emit },
	{ "POST", "/api/v1/broadcasts", cf_api_broadcast },
	{ "GET", "/api/v1/openapi.json", cf_api_openapi },
};

int
cf_api_init(struct cf_worker *w)
{
	if ((w->api = calloc(1, sizeof(*w->api))) == NULL)
		return (-1);
	return (0);
}

void
cf_api_free(struct cf_worker *w)
{
	free(w->api);
	w->api = NULL;
}

/* ------------------------------------------------------------ answers */

void
cf_api_ok(struct cf_api_call *c, unsigned status, json_t *body)
{
	if (c->answered) {
		json_decref(body);
		return;
	}
	c->answered = 1;
	c->res->status = status;
	if (body == NULL)
		body = json_object();
	c->res->body = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	if (c->res->body == NULL)
		c->res->status = 500;
	json_decref(body);
}

void
cf_api_fail(struct cf_api_call *c, unsigned status, const char *code,
    const char *message)
{
	cf_api_ok(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code,
	    "message", message));
}

void
cf_api_fail_store(struct cf_api_call *c, int rc, const char *what)
{
	char msg[128];

	switch (rc) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "%s not found", what);
		cf_api_fail(c, 404, "not_found", msg);
		break;
	case -EEXIST:
		snprintf(msg, sizeof(msg), "%s already exists", what);
		cf_api_fail(c, 409, "conflict", msg);
		break;
	case -EROFS:
		snprintf(msg, sizeof(msg), "%s is archived", what);
		cf_api_fail(c, 409, "archived", msg);
		break;
	case -EINVAL:
		cf_api_fail(c, 400, "bad_request", "Invalid value");
		break;
	case -EPERM:
		cf_api_fail(c, 403, "forbidden",
		    "Not allowed on a direct channel");
		break;
	default:
		cf_api_fail(c, 503, "unavailable",
		    "The database is not available");
		break;
	}
}

/* ------------------------------------------------------------- inputs */

const struct cf_field cf_api_no_fields[] = { { .type = CF_F_END } };

int
cf_api_fields(struct cf_api_call *c, const struct cf_field *f,
    struct cf_arg_val *v)
{
	int64_t limits[CF_LIM_N] = { 0 };
	const char *key, *err;
	const struct cf_field *g;
	json_t *val, *empty = NULL;
	char msg[160];
	int rc;

	json_object_foreach(c->body, key, val) {
		for (g = f; g->type != CF_F_END; g++)
			if (g->key != NULL && strcmp(g->key, key) == 0)
				break;
		if (g->type == CF_F_END) {
			snprintf(msg, sizeof(msg), "Unknown field \"%.64s\"",
			    key);
			cf_api_fail(c, 400, "bad_request", msg);
			return (-1);
		}
	}
	if (f[0].type == CF_F_END)
		return (0);
	limits[CF_LIM_MESSAGE_LENGTH] = cf_w->conf->max_message_length;
	if (c->body == NULL && (empty = json_object()) == NULL) {
		cf_api_fail(c, 503, "unavailable", "Out of memory");
		return (-1);
	}
	rc = cf_arg_fields(f, CF_ARG_OBJ, NULL, c->body ? c->body : empty,
	    limits, v, &err);
	json_decref(empty);
	if (rc == -1) {
		cf_api_fail(c, 400, "bad_request", err);
		return (-1);
	}
	return (0);
}

const char *
cf_api_query(struct cf_api_call *c, const char *name)
{
	size_t n = strlen(name);
	unsigned i;

	for (i = 0; i < c->req->nargs; i++)
		if (strncmp(c->req->args[i], name, n) == 0 &&
		    c->req->args[i][n] == '=')
			return (c->req->args[i] + n + 1);
	return (NULL);
}

int
cf_api_query_int(struct cf_api_call *c, const char *name, int64_t min,
    int64_t max, int64_t def, int64_t *out)
{
	const char *v = cf_api_query(c, name);
	char msg[128];
	long long n;
	char *end;

	*out = def;
	if (v == NULL || *v == '\0')
		return (0);
	n = strtoll(v, &end, 10);
	if (*end != '\0' || n < min || n > max) {
		snprintf(msg, sizeof(msg), "%s must be an integer from %lld to "
		    "%lld", name, (long long)min, (long long)max);
		cf_api_fail(c, 400, "bad_request", msg);
		return (-1);
	}
	*out = n;
	return (0);
}

int
cf_api_param_id(struct cf_api_call *c, int i, const char *what,
    int64_t *out)
{
	json_t *v = json_string(c->param[i]);
	char msg[128];
	int rc;

	rc = v != NULL ? cf_arg_id(v, out) : -1;
	json_decref(v);
	if (rc == -1) {
		snprintf(msg, sizeof(msg), "%s not found", what);
		cf_api_fail(c, 404, "not_found", msg);
	}
	return (rc);
}

void
cf_api_actor(struct cf_api_call *c, const char *user_id,
    struct cf_op_actor *who)
{
	who->user_id = user_id != NULL ? user_id : "0";
	who->name = user_id != NULL ? user_id : c->key;
}

/* --------------------------------------------------------------- auth */

/*
 * The name of the key the request's "Bearer KEY" matches, or NULL.  Every
 * configured key is compared, each over its whole buffer.
 */
static const char *
authenticate(const char *authorization)
{
	const struct cf_conf *conf = cf_w->conf;
	char given[CF_API_KEY_MAX + 1];
	const char *name = NULL;
	size_t n;
	int i;

	if (strncasecmp(authorization, "Bearer ", 7) != 0)
		return (NULL);
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	if ((n = strlen(authorization)) < CF_API_KEY_MIN ||
	    n > CF_API_KEY_MAX)
		return (NULL);
	memset(given, 0, sizeof(given));
	memcpy(given, authorization, n);
	for (i = 0; i < conf->napi_keys; i++)
		if (CRYPTO_memcmp(given, conf->api_keys[i].key,
		    sizeof(given)) == 0)
			name = conf->api_keys[i].name;
	explicit_bzero(given, sizeof(given));
	return (name);
}

/* 1 when the key may make one more request in its window. */
static int
rate_ok(const char *key)
{
	struct cf_api_state *st = cf_w->api;
	struct api_bucket *b = NULL, *oldest = &st->buckets[0];
	uint64_t now = cf_now_ms();
	size_t i;

	for (i = 0; i < CF_CONF_MAX_API_KEYS; i++) {
		if (strcmp(st->buckets[i].name, key) == 0) {
			b = &st->buckets[i];
			break;
		}
		if (st->buckets[i].start < oldest->start)
			oldest = &st->buckets[i];
	}
	if (b == NULL) {
		b = oldest;
		cf_strlcpy(b->name, key, sizeof(b->name));
		b->start = now;
		b->count = 0;
	}
	if (now - b->start >= cf_w->conf->api_rate_window_ms) {
		b->start = now;
		b->count = 0;
	}
	if (b->count >= cf_w->conf->api_rate_requests)
		return (0);
	b->count++;
	return (1);
}

static void
api_off(struct cf_api_call *c)
{
	cf_api_fail(c, 404, "not_found", "The HTTP API is off: no api-key is "
	    "configured (confabctl api-key NAME prints one)");
}

/* 401, logged with the path (a logfmt value) but never the key. */
static void
unauthorized(struct cf_api_call *c, const char *path)
{
	cf_api_fail(c, 401, "unauthorized",
	    "Missing or unknown API key (Authorization: Bearer KEY)");
	cf_log_ev(CF_LOG_INFO, "api", "status=401 method=%s path=%s peer=%s",
	    c->req->method, path, c->req->peer);
}

/* ------------------------------------------------------------- router */

/*
 * 1 when path matches pattern, its "{}" segments copied into c->param
 * (a segment too long for a parameter does not match).
 */
static int
match(const char *pattern, const char *path, struct cf_api_call *c)
{
	int np = 0;
	size_t n;

	while (*pattern != '\0') {
		if (strncmp(pattern, "{}", 2) == 0) {
			n = strcspn(path, "/");
			if (n == 0 || n >= CF_API_PARAM_MAX || np == 2)
				return (0);
			memcpy(c->param[np], path, n);
			c->param[np++][n] = '\0';
			pattern += 2;
			path += n;
			continue;
		}
		if (*pattern++ != *path++)
			return (0);
	}
	return (*path == '\0' || strcmp(path, "/") == 0);
}

/* The body as an object, when there is one; 0, or -1 answered. */
static int
read_body(struct cf_api_call *c)
{
	const struct cf_api_req *req = c->req;
	json_error_t jerr;

	if (req->len == 0)
		return (0);
	if (strncasecmp(req->content_type, "application/json", 16) != 0 ||
	    (req->content_type[16] != '\0' && req->content_type[16] != ';' &&
	    req->content_type[16] != ' ')) {
		cf_api_fail(c, 415, "unsupported_media_type",
		    "The body must be application/json");
		return (-1);
	}
	c->body = json_loadb(req->body, req->len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (c->body == NULL) {
		cf_api_fail(c, 400, "bad_request",
		    "The body is not valid JSON");
		return (-1);
	}
	if (!json_is_object(c->body)) {
		cf_api_fail(c, 400, "bad_request",
		    "The body must be a JSON object");
		return (-1);
	}
	return (0);
}

static void
route(struct cf_api_call *c)
{
	const struct cf_api_req *req = c->req;
	const struct route *r;
	int path_known = 0;
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		r = &routes[i];
		if (!match(r->pattern, req->path, c))
			continue;
		path_known = 1;
		if (strcmp(r->method, req->method) != 0)
			continue;
		if (read_body(c) == 0)
			r->fn(c);
		return;
	}
	if (path_known)
		cf_api_fail(c, 405, "method_not_allowed",
		    "Method not allowed on this path");
	else
		cf_api_fail(c, 404, "not_found", "No such endpoint");
}

/*
 * The head of a request: the API off (404) or no valid key (401) is
 * answered before any byte of a body is read.
 */
int
cf_api_head(const struct cf_api_req *req, struct cf_api_res *res)
{
	struct cf_api_call c;
	char path[300];

	memset(&c, 0, sizeof(c));
	c.req = req;
	c.res = res;
	if (cf_w->conf->napi_keys == 0)
		api_off(&c);
	else if (authenticate(req->authorization) == NULL) {
		cf_log_value(path, sizeof(path), req->path);
		unauthorized(&c, path);
	}
	return (c.answered);
}

void
cf_api_serve(const struct cf_api_req *req, struct cf_api_res *res)
{
	struct cf_api_call c;
	uint64_t t0 = cf_now_us();
	char path[300];

	memset(&c, 0, sizeof(c));
	c.req = req;
	c.res = res;
	cf_log_value(path, sizeof(path), req->path);
	if (cf_w->conf->napi_keys == 0) {
		api_off(&c);
		return;
	}
	if ((c.key = authenticate(req->authorization)) == NULL) {
		unauthorized(&c, path);
		return;
	}
	if (!rate_ok(c.key))
		cf_api_fail(&c, 429, "rate_limited",
		    "Too many requests for this key (api-rate-limit)");
	else
		route(&c);
	if (!c.answered)
		cf_api_fail(&c, 500, "internal", "Internal error");
	json_decref(c.body);
	cf_log_ev(CF_LOG_INFO, "api", "key=%s status=%u method=%s path=%s "
	    "peer=%s us=%llu", c.key, res->status, req->method, path, req->peer,
	    (unsigned long long)(cf_now_us() - t0));
}
