/*
 * secret.h -- the JWT signing secret of a development install, generated on
 * first run and kept in data-dir, and the development token minted with it.
 */
#ifndef CF_SECRET_H
#define CF_SECRET_H

#include <stddef.h>

#include "conf.h"

/*
 * When conf->jwt_secret is unset, load it from data-dir/jwt-secret,
 * creating that file (mode 0600, 32 random bytes in hex) on first run.
 * 0, or -1 with a message logged.
 */
int	 cf_secret_ensure(struct cf_conf *conf);

/*
 * Mint an HS256 token for user 1 ("Developer", role admin) valid for
 * `days` days.  Returns a malloc'd string the caller frees, or NULL.
 */
char	*cf_secret_devtoken(const struct cf_conf *conf, int days);

/* 1 when cf_secret_token puts `user` in the token as an integer. */
int	 cf_secret_id_is_int(const char *user);

/*
 * Mint a token for `user` (an integer claim when cf_secret_id_is_int) with the
 * given display name and role, valid for `days` days, signed with the
 * configured HMAC algorithm and secret, with iss/aud when configured.
 * Returns a malloc'd string, or NULL with *why (may be NULL) explaining.
 */
char	*cf_secret_token(const struct cf_conf *conf, const char *user,
	    const char *name, const char *role, int days, const char **why);

#endif
