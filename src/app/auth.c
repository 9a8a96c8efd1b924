/*
 * auth.c -- authentication: the authenticate event and the token a
 * client sends with its CONNECT (app.c), verified against the
 * configured keys; the permissions answered by name, and the warning for
 * a role the configuration does not know.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"
#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "perm.h"
#include "util.h"
#include "app/chat.h"
#include "app/handlers.h"
#include "fanout/room.h"

static json_t *
perm_names(uint32_t perms)
{
	json_t *a = json_array();
	uint32_t bit;

	for (bit = 1; bit <= CF_PERM_ALL; bit <<= 1)
		if ((perms & bit) && cf_perm_name(bit) != NULL)
			json_array_append_new(a, json_string(cf_perm_name(bit)));
	return (a);
}

/*
 * A token whose role no role line names authenticates with no permission:
 * say so at warn, at most once per CF_ROLE_WARN_MS per worker (a token is
 * the client's input: a flood of them must not flood the log), with the
 * configured roles and the directive that would give it permissions.
 */
#define CF_ROLE_WARN_MS	10000

/* The module's state, cf_w->auth (proc.h): the warning's rate limit. */
struct cf_auth_state {
	uint64_t	 warned_ms;	/* the last warning, 0: none yet */
	unsigned	 suppressed;	/* warnings not written since */
};

int
cf_auth_init(struct cf_worker *w)
{
	if ((w->auth = calloc(1, sizeof(*w->auth))) == NULL)
		return (-1);
	return (0);
}

void
cf_auth_free(struct cf_worker *w)
{
	free(w->auth);
	w->auth = NULL;
}

static void
warn_unknown_role(const struct cf_chat *c)
{
	struct cf_auth_state *as = cf_w->auth;
	char roles[256];
	size_t o = 0;
	uint64_t now = cf_now_ms();
	int i;

	if (as->warned_ms != 0 && now - as->warned_ms < CF_ROLE_WARN_MS) {
		as->suppressed++;
		return;
	}
	roles[0] = '\0';
	for (i = 0; i < cf_w->conf->nroles && o < sizeof(roles); i++)
		o += (size_t)snprintf(roles + o, sizeof(roles) - o, "%s%s",
		    i > 0 ? " " : "", cf_w->conf->roles[i].name);
	cf_log_warnx("user %s authenticated with role \"%s\", which is not "
	    "configured: no permissions (role names are case-sensitive; "
	    "configured: %s; \"role %s PERMISSION...\" in the configuration "
	    "gives it some, see confabd.conf(5)); %u more such tokens since "
	    "the previous line", c->user_id, c->role, roles, c->role,
	    as->suppressed);
	as->warned_ms = now;
	as->suppressed = 0;
}

int
cf_auth_verify(struct cf_event_ctx *ctx, const char *token)
{
	const struct cf_conf *conf = cf_w->conf;
	struct cf_sess *s = ctx->s;
	struct cf_chat *c = cf_chat_of(s);
	struct cf_jwt_keys keys;
	struct cf_claims cl;
	const char *why = "Invalid token";
	int64_t revoked;
	char room[96];
	json_t *user;
	int rc, first;

	memset(&keys, 0, sizeof(keys));
	keys.algorithm = conf->jwt_algorithm;
	if (strncmp(conf->jwt_algorithm, "HS", 2) == 0) {
		keys.key = (const uint8_t *)conf->jwt_secret;
		keys.keylen = conf->jwt_secret ? strlen(conf->jwt_secret) : 0;
		if (conf->jwt_secret_previous != NULL) {
			keys.prev_key = (const uint8_t *)conf->jwt_secret_previous;
			keys.prev_keylen = strlen(conf->jwt_secret_previous);
		}
	} else {
		keys.key = (const uint8_t *)conf->jwt_public_key_pem;
		keys.keylen = conf->jwt_public_key_len;
	}
	keys.issuer = conf->jwt_issuer;
	keys.audience = conf->jwt_audience;
	keys.leeway_s = conf->jwt_leeway_ms / 1000;
	if (keys.key == NULL || keys.keylen == 0) {
		cf_chat_fail(ctx, "not_authenticated", "Authentication unavailable");
		return (-1);
	}
	rc = cf_jwt_verify(&keys, token, (int64_t)(cf_wall_ms() / 1000), &cl,
	    &why);
	if (rc != CF_JWT_OK) {
		/* A token without a usable user id is just an invalid one. */
		cf_chat_fail(ctx, "not_authenticated",
		    rc == CF_JWT_NO_USER ? "Invalid token" : why);
		return (-1);
	}
	if ((rc = cf_store_revoked_before(cf_db(), cl.user_id, &revoked)) !=
	    0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return (-1);
	}
	if (revoked != 0 && cl.iat * 1000 < revoked) {
		cf_chat_fail(ctx, "not_authenticated", "Token revoked");
		return (-1);
	}
	if (c->authed) {
		if (strcmp(c->user_id, cl.user_id) != 0) {
			cf_chat_fail(ctx, "forbidden",
			    "Already authenticated as another user");
			return (-1);
		}
	} else {
		if (cf_presence_count(cl.user_id) >=
		    conf->max_connections_per_user) {
			cf_chat_fail(ctx, "too_many_connections",
			    "Too many connections");
			cf_sock_disconnect(s, 0);
			return (-1);
		}
	}
	cf_strlcpy(c->user_id, cl.user_id, sizeof(c->user_id));
	cf_strlcpy(c->name, cl.display_name, sizeof(c->name));
	cf_strlcpy(c->role, cl.role, sizeof(c->role));
	c->perms = cl.has_permissions ? cl.permissions : 0;
	c->perms_from_role = !cl.has_permissions;
	c->exp = cl.exp;
	c->iat = cl.iat;
	if (cf_store_user_upsert(cf_db(), c->user_id, c->name, c->role,
	    (int64_t)cf_wall_ms()) != 0) {
		cf_chat_fail(ctx, "internal", "Internal error");
		return (-1);
	}
	first = !c->authed;
	if (first) {
		c->authed = 1;
		cf_sess_authenticated(s);
		cf_room_join(cf_w, s, "authenticated");
		snprintf(room, sizeof(room), "user:%s", c->user_id);
		cf_room_join(cf_w, s, room);
		cf_presence_up(s);
	}
	cf_chat_timer_update(s);
	user = json_pack("{s:o,s:s,s:s,s:o}", "userId", cf_chat_user_json(c),
	    "displayName", c->name, "role", c->role, "permissions",
	    perm_names(cf_chat_perms(c)));
	if (c->perms_from_role && !cf_conf_role_known(cf_w->conf, c->role)) {
		warn_unknown_role(c);
		json_object_set_new(user, "roleWarning", json_string("Role "
		    "not configured on the server: no permissions"));
	}
	cf_chat_emit(s, "authenticated", json_incref(user));
	cf_chat_ack_ok(ctx, json_pack("{s:o}", "user", user));
	if (first)
		cf_presence_snapshot(s);
	return (0);
}

void
cf_ev_authenticate(struct cf_event_ctx *ctx)
{
	const json_t *v = json_array_get(ctx->args, 0);

	/* The spec sends the bare token; {token} is accepted too. */
	if (json_is_object(v))
		v = json_object_get(v, "token");
	if (!json_is_string(v) || json_string_length(v) == 0) {
		cf_chat_fail(ctx, "not_authenticated", "Invalid token");
		return;
	}
	(void)cf_auth_verify(ctx, json_string_value(v));
}

static void
revoked_one(struct cf_sess *s, void *arg)
{
	int64_t before = *(const int64_t *)arg;

	if (cf_chat_of(s)->iat * 1000 >= before)
		return;
	cf_chat_emit(s, "auth:error", json_string("Token revoked"));
	cf_sock_disconnect(s, 0);
}

void
cf_auth_revoked(const json_t *args)
{
	int64_t before = json_integer_value(json_object_get(args, "before"));
	const char *user = json_string_value(json_object_get(args, "userId"));

	if (user != NULL && before > 0)
		cf_chat_each_of_user(user, revoked_one, &before);
}
