/*
 * jwt.h -- JSON Web Token verification for confabd.
 *
 * libjwt 1.10.2 picks the verification method from the token's own "alg"
 * and verifies an HS256 token signed with an RSA public key used as the HMAC
 * secret (algorithm confusion); with a NULL key it skips verification.  So:
 * a key is always passed, the algorithm is pinned by configuration and
 * checked after decoding, and exp/nbf/iss/aud are checked here, through the
 * JSON of the claims (libjwt 1.10 has no validation API).
 */
#ifndef CF_JWT_H
#define CF_JWT_H

#include <stddef.h>
#include <stdint.h>

#define CF_JWT_MAX_TOKEN	8192	/* longer tokens are refused unread */

struct cf_jwt_keys {
	const char	*algorithm;	/* "HS256", "HS384", "HS512", "RS256", "ES256" */
	const uint8_t	*key;		/* HMAC secret, or PEM public key */
	size_t		 keylen;
	const uint8_t	*prev_key;	/* optional previous key (rotation), or NULL */
	size_t		 prev_keylen;
	const char	*issuer;	/* required "iss" when non-NULL */
	const char	*audience;	/* required in "aud" when non-NULL */
	int64_t		 leeway_s;
};

struct cf_claims {
	char		 user_id[64];	/* userId, else id, else sub */
	int		 user_id_numeric; /* an integer, or a string of digits */
	char		 display_name[128]; /* displayName, else name, else the id */
	char		 role[32];	/* "user" when absent */
	int		 has_permissions; /* a "permissions" array was present */
	uint32_t	 permissions;	/* CF_PERM_* bits from that array */
	int64_t		 exp;		/* 0 when absent */
	int64_t		 nbf;
	int64_t		 iat;
};

enum cf_jwt_err {
	CF_JWT_OK = 0,
	CF_JWT_INVALID = -1,	/* malformed, bad signature, wrong alg, claims */
	CF_JWT_EXPIRED = -2,
	CF_JWT_NOT_YET_VALID = -3,
	CF_JWT_NO_USER = -4	/* valid, but no usable user id */
};

/*
 * Verify token against keys at time `now` (seconds since the epoch) and
 * fill *out.  Returns CF_JWT_OK or an error; *why (may be NULL) receives a
 * message fit for the client ("Invalid token", "Token expired", ...).
 * Never logs the token.
 */
int	 cf_jwt_verify(const struct cf_jwt_keys *keys, const char *token,
	    int64_t now, struct cf_claims *out, const char **why);

#endif
