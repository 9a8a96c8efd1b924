/*
 * jwt.c -- JSON Web Token verification on top of libjwt 1.10.2.
 *
 * libjwt is only trusted with the signature.  Everything around it is done
 * here: the shape of the token is checked before libjwt parses anything,
 * the header's "alg" is decoded and pinned to the configured algorithm
 * (exact, case-sensitive match), a key is always passed, the algorithm is
 * checked again after decoding, and the registered claims are read from
 * the JSON of the payload.  Nothing in this file logs the token.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <jwt.h>

#include "auth/jwt.h"
#include "perm.h"

#define WHY_OK		"OK"
#define WHY_INVALID	"Invalid token"
#define WHY_EXPIRED	"Token expired"
#define WHY_NOT_YET	"Token not yet valid"
#define WHY_NO_USER	"Token has no user id"

static const struct {
	const char	*name;
	jwt_alg_t	 alg;
} algs[] = {
	{ "HS256",	JWT_ALG_HS256 },
	{ "HS384",	JWT_ALG_HS384 },
	{ "HS512",	JWT_ALG_HS512 },
	{ "RS256",	JWT_ALG_RS256 },
	{ "RS384",	JWT_ALG_RS384 },
	{ "RS512",	JWT_ALG_RS512 },
	{ "ES256",	JWT_ALG_ES256 },
	{ "ES384",	JWT_ALG_ES384 },
	{ "ES512",	JWT_ALG_ES512 },
};

/*
 * The libjwt algorithm for a configured name (exact match), or
 * JWT_ALG_INVAL.  "none" is not in the table and is never accepted.
 */
static jwt_alg_t
alg_lookup(const char *name)
{
	size_t i;

	if (name == NULL)
		return (JWT_ALG_INVAL);
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return (algs[i].alg);
	return (JWT_ALG_INVAL);
}

/* The value of one base64url digit, or -1. */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

/*
 * Decode n characters of unpadded base64url into a malloc'd buffer stored
 * in *out (the caller frees it), its length in *outlen.  0, or -1 on a bad
 * character, an impossible length or allocation failure.
 */
static int
b64url_decode(const char *src, size_t n, unsigned char **out, size_t *outlen)
{
	unsigned char	*dst;
	uint32_t	 acc = 0;
	size_t		 i, o = 0;
	int		 bits = 0, v;

	*out = NULL;
	*outlen = 0;
	if (n % 4 == 1)
		return (-1);
	if ((dst = malloc(n / 4 * 3 + 3)) == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		if ((v = b64url_val((unsigned char)src[i])) == -1) {
			free(dst);
			return (-1);
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*out = dst;
	*outlen = o;
	return (0);
}

/*
 * Check the compact serialisation: 1..CF_JWT_MAX_TOKEN bytes, exactly two
 * dots, three non-empty segments, base64url characters only.  Stores the
 * length of the header segment in *hlen.  0 or -1.
 */
static int
check_shape(const char *token, size_t *hlen)
{
	size_t	 len, i, seg = 0, dots = 0, first = 0;

	len = strnlen(token, CF_JWT_MAX_TOKEN + 1);
	if (len == 0 || len > CF_JWT_MAX_TOKEN)
		return (-1);
	for (i = 0; i < len; i++) {
		if (token[i] == '.') {
			if (seg == 0)
				return (-1);
			if (dots++ == 0)
				first = i;
			seg = 0;
			continue;
		}
		if (b64url_val((unsigned char)token[i]) == -1)
			return (-1);
		seg++;
	}
	if (dots != 2 || seg == 0)
		return (-1);
	*hlen = first;
	return (0);
}

/*
 * Decode the header segment (hlen bytes at token) and require a JSON
 * object whose "alg" is a string equal to `alg`.  0 or -1.
 */
static int
check_header(const char *token, size_t hlen, const char *alg)
{
	unsigned char	*raw;
	size_t		 rawlen;
	json_t		*hdr, *a;
	int		 rc = -1;

	if (b64url_decode(token, hlen, &raw, &rawlen) == -1)
		return (-1);
	hdr = json_loadb((const char *)raw, rawlen, JSON_REJECT_DUPLICATES,
	    NULL);
	free(raw);
	if (hdr == NULL)
		return (-1);
	if (!json_is_object(hdr))
		goto done;
	a = json_object_get(hdr, "alg");
	if (!json_is_string(a) || strcmp(json_string_value(a), "none") == 0)
		goto done;
	if (strcmp(json_string_value(a), alg) != 0)
		goto done;
	rc = 0;
done:
	json_decref(hdr);
	return (rc);
}

/*
 * jwt_decode() with key, or NULL when key is unusable (never a NULL key:
 * libjwt would skip verification) or the token does not verify.
 */
static jwt_t *
decode_with(const char *token, const uint8_t *key, size_t keylen)
{
	jwt_t	*jwt = NULL;

	if (key == NULL || keylen == 0 || keylen > INT_MAX)
		return (NULL);
	/* On failure libjwt frees what it built and leaves jwt NULL. */
	if (jwt_decode(&jwt, token, key, (int)keylen) != 0)
		return (NULL);
	return (jwt);
}

/* a + b without overflow, for b >= 0. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	if (a > INT64_MAX - b)
		return (INT64_MAX);
	return (a + b);
}

/*
 * Read the NumericDate claim `name` into *out (0 when absent).  A real is
 * rounded down (round_up == 0) or up, towards the stricter reading, and
 * clamped to int64_t.  0, or -1 when present but not a number.
 */
static int
claim_time(json_t *claims, const char *name, int round_up, int64_t *out)
{
	json_t	*v;
	double	 d;

	*out = 0;
	if ((v = json_object_get(claims, name)) == NULL)
		return (0);
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return (0);
	}
	if (!json_is_real(v))
		return (-1);
	d = json_real_value(v);
	if (d >= 9223372036854775807.0)
		*out = INT64_MAX;
	else if (d <= -9223372036854775807.0)
		*out = INT64_MIN;
	else {
		*out = (int64_t)d;	/* truncated towards zero */
		if (!round_up && (double)*out > d)
			(*out)--;
		else if (round_up && (double)*out < d)
			(*out)++;
	}
	return (0);
}

/* iss and aud against the configuration.  0 or -1. */
static int
check_iss_aud(const struct cf_jwt_keys *keys, json_t *claims)
{
	json_t	*v, *e;
	size_t	 i;

	if (keys->issuer != NULL) {
		v = json_object_get(claims, "iss");
		if (!json_is_string(v) ||
		    strcmp(json_string_value(v), keys->issuer) != 0)
			return (-1);
	}
	if (keys->audience == NULL)
		return (0);
	v = json_object_get(claims, "aud");
	if (json_is_string(v))
		return (strcmp(json_string_value(v), keys->audience) == 0 ?
		    0 : -1);
	if (!json_is_array(v))
		return (-1);
	json_array_foreach(v, i, e)
		if (json_is_string(e) &&
		    strcmp(json_string_value(e), keys->audience) == 0)
			return (0);
	return (-1);
}

/* 1 when the n bytes at s hold no ASCII control character. */
static int
printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return (0);
	return (1);
}

/*
 * Fill out->user_id / user_id_numeric from userId, else id, else sub (the
 * first one present decides).  0, or -1 when there is no usable id.
 */
static int
copy_user(json_t *claims, struct cf_claims *out)
{
	static const char *const names[] = { "userId", "id", "sub" };
	json_t		*v = NULL;
	const char	*s;
	size_t		 i, n;
	int		 digits;

	for (i = 0; i < sizeof(names) / sizeof(names[0]) && v == NULL; i++)
		v = json_object_get(claims, names[i]);
	if (json_is_integer(v)) {
		snprintf(out->user_id, sizeof(out->user_id),
		    "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		out->user_id_numeric = 1;
		return (0);
	}
	if (!json_is_string(v))
		return (-1);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n >= sizeof(out->user_id) || strlen(s) != n ||
	    !printable(s, n))
		return (-1);
	digits = n <= 19;
	for (i = 0; i < n && digits; i++)
		if (s[i] < '0' || s[i] > '9')
			digits = 0;
	memcpy(out->user_id, s, n + 1);
	out->user_id_numeric = digits;
	return (0);
}

/*
 * Copy at most size - 1 bytes of the UTF-8 string s into dst without
 * splitting a character, and NUL-terminate it.
 */
static void
copy_utf8(char *dst, size_t size, const char *s)
{
	size_t n;

	n = strlen(s);
	if (n >= size) {
		n = size - 1;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* displayName, else name (non-empty strings), else the user id. */
static void
copy_display(json_t *claims, struct cf_claims *out)
{
	json_t	*v;

	v = json_object_get(claims, "displayName");
	if (!json_is_string(v) || json_string_value(v)[0] == '\0')
		v = json_object_get(claims, "name");
	if (json_is_string(v) && json_string_value(v)[0] != '\0')
		copy_utf8(out->display_name, sizeof(out->display_name),
		    json_string_value(v));
	else
		copy_utf8(out->display_name, sizeof(out->display_name),
		    out->user_id);
}

/*
 * "role": absent -> "user"; else a 1..31 byte string without control
 * characters.  0 or -1.
 */
static int
copy_role(json_t *claims, struct cf_claims *out)
{
	json_t	*v;
	size_t	 n;

	if ((v = json_object_get(claims, "role")) == NULL) {
		memcpy(out->role, "user", sizeof("user"));
		return (0);
	}
	if (!json_is_string(v))
		return (-1);
	n = json_string_length(v);
	if (n == 0 || n >= sizeof(out->role) ||
	    !printable(json_string_value(v), n))
		return (-1);
	memcpy(out->role, json_string_value(v), n + 1);
	return (0);
}

/*
 * "permissions": absent -> nothing; an array of strings -> the OR of the
 * known names (unknown ones ignored); anything else -> -1.
 */
static int
copy_perms(json_t *claims, struct cf_claims *out)
{
	json_t	*v, *e;
	size_t	 i;

	if ((v = json_object_get(claims, "permissions")) == NULL)
		return (0);
	if (!json_is_array(v))
		return (-1);
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return (-1);
		out->permissions |= cf_perm_parse(json_string_value(e));
	}
	out->has_permissions = 1;
	return (0);
}

/*
 * Everything after the signature: the claims of a verified token against
 * keys at `now`, into *out.  Returns a cf_jwt_err.
 */
static int
check_claims(const struct cf_jwt_keys *keys, json_t *claims, int64_t now,
    struct cf_claims *out)
{
	int64_t	 leeway;

	if (!json_is_object(claims))
		return (CF_JWT_INVALID);
	if (claim_time(claims, "exp", 0, &out->exp) == -1 ||
	    claim_time(claims, "nbf", 1, &out->nbf) == -1 ||
	    claim_time(claims, "iat", 0, &out->iat) == -1)
		return (CF_JWT_INVALID);
	if (check_iss_aud(keys, claims) == -1 ||
	    copy_role(claims, out) == -1 ||
	    copy_perms(claims, out) == -1)
		return (CF_JWT_INVALID);
	leeway = keys->leeway_s > 0 ? keys->leeway_s : 0;
	if (json_object_get(claims, "exp") != NULL &&
	    now >= add_sat(out->exp, leeway))
		return (CF_JWT_EXPIRED);
	if (json_object_get(claims, "nbf") != NULL &&
	    out->nbf > add_sat(now, leeway))
		return (CF_JWT_NOT_YET_VALID);
	if (copy_user(claims, out) == -1)
		return (CF_JWT_NO_USER);
	copy_display(claims, out);
	return (CF_JWT_OK);
}

/*
 * See jwt.h.  On any error *out is zeroed.  The token is borrowed; nothing
 * is retained after the call.
 */
int
cf_jwt_verify(const struct cf_jwt_keys *keys, const char *token,
    int64_t now, struct cf_claims *out, const char **why)
{
	struct cf_claims	 c;
	jwt_alg_t		 alg;
	jwt_t			*jwt = NULL;
	json_t			*claims = NULL;
	char			*grants = NULL;
	size_t			 hlen;
	int			 rc = CF_JWT_INVALID;

	memset(&c, 0, sizeof(c));
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (keys == NULL || token == NULL)
		goto done;
	if ((alg = alg_lookup(keys->algorithm)) == JWT_ALG_INVAL)
		goto done;
	if (check_shape(token, &hlen) == -1 ||
	    check_header(token, hlen, keys->algorithm) == -1)
		goto done;
	jwt = decode_with(token, keys->key, keys->keylen);
	if (jwt == NULL && keys->prev_key != NULL)
		jwt = decode_with(token, keys->prev_key, keys->prev_keylen);
	if (jwt == NULL || jwt_get_alg(jwt) != alg)
		goto done;
	if ((grants = jwt_get_grants_json(jwt, NULL)) == NULL)
		goto done;
	if ((claims = json_loads(grants, 0, NULL)) == NULL)
		goto done;
	if ((rc = check_claims(keys, claims, now, &c)) == CF_JWT_OK &&
	    out != NULL)
		*out = c;
done:
	json_decref(claims);
	free(grants);
	jwt_free(jwt);
	if (why != NULL) {
		switch (rc) {
		case CF_JWT_OK:
			*why = WHY_OK;
			break;
		case CF_JWT_EXPIRED:
			*why = WHY_EXPIRED;
			break;
		case CF_JWT_NOT_YET_VALID:
			*why = WHY_NOT_YET;
			break;
		case CF_JWT_NO_USER:
			*why = WHY_NO_USER;
			break;
		default:
			*why = WHY_INVALID;
			break;
		}
	}
	return (rc);
}
