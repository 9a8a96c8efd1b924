/*
 * test_jwt.c -- JWT verification: real HS/RS/ES tokens made with libjwt (RSA
 * and EC keys generated with the openssl(1) binary at test time), the known
 * libjwt 1.10 attacks (alg none, algorithm confusion, lowercase alg), claim
 * checks, malformed and oversized tokens, and key rotation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jwt.h>

#include "auth/jwt.h"
#include "perm.h"

#define NOW		INT64_C(1700000000)
#define SECRET		"confabd-test-secret-0123456789abcdef"
#define OLD_SECRET	"confabd-old-secret-fedcba9876543210"
#define OTHER_SECRET	"not-the-secret-at-all-000000000000"

#define MSG_OK		"OK"
#define MSG_INVALID	"Invalid token"
#define MSG_EXPIRED	"Token expired"
#define MSG_NOT_YET	"Token not yet valid"
#define MSG_NO_USER	"Token has no user id"

/* Verify and check both the code and the message, at the caller's line. */
#define VERIFY(k, tok, now, c, rc, msg) do {				\
	const char *w_ = NULL;						\
	assert_int_equal(cf_jwt_verify((k), (tok), (now), (c), &w_),	\
	    (rc));							\
	assert_non_null(w_);						\
	assert_string_equal(w_, (msg));					\
} while (0)

static char	 dir[] = "/tmp/test_jwt.XXXXXX";
static char	*rsa_key, *rsa_pub, *ec_key, *ec_pub;
static size_t	 rsa_key_len, rsa_pub_len, ec_key_len, ec_pub_len;

/* Read a whole file into a NUL-terminated malloc'd buffer, or NULL. */
static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1 ||
	    (buf = malloc((size_t)n + 1)) == NULL) {
		fclose(f);
		return (NULL);
	}
	if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	*lenp = (size_t)n;
	return (buf);
}

/* Run a shell command with the temp dir substituted for every %s. */
static int
run(const char *fmt)
{
	char	cmd[1024];

	snprintf(cmd, sizeof(cmd), fmt, dir, dir, dir, dir);
	return (system(cmd) == 0 ? 0 : -1);
}

static int
group_setup(void **state)
{
	char	path[256];

	(void)state;
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "test_jwt: mkdtemp failed\n");
		return (-1);
	}
	if (run("openssl version >/dev/null 2>&1") == -1) {
		fprintf(stderr, "test_jwt: the openssl binary is required to "
		    "generate RSA/EC test keys\n");
		return (-1);
	}
	if (run("openssl genpkey -algorithm RSA -pkeyopt "
	    "rsa_keygen_bits:2048 -out %s/rsa.key 2>/dev/null && "
	    "openssl pkey -in %s/rsa.key -pubout -out %s/rsa.pub "
	    "2>/dev/null") == -1 ||
	    run("openssl genpkey -algorithm EC -pkeyopt "
	    "ec_paramgen_curve:P-256 -out %s/ec.key 2>/dev/null && "
	    "openssl pkey -in %s/ec.key -pubout -out %s/ec.pub "
	    "2>/dev/null") == -1) {
		fprintf(stderr, "test_jwt: openssl key generation failed\n");
		return (-1);
	}
	snprintf(path, sizeof(path), "%s/rsa.key", dir);
	rsa_key = slurp(path, &rsa_key_len);
	snprintf(path, sizeof(path), "%s/rsa.pub", dir);
	rsa_pub = slurp(path, &rsa_pub_len);
	snprintf(path, sizeof(path), "%s/ec.key", dir);
	ec_key = slurp(path, &ec_key_len);
	snprintf(path, sizeof(path), "%s/ec.pub", dir);
	ec_pub = slurp(path, &ec_pub_len);
	if (rsa_key == NULL || rsa_pub == NULL || ec_key == NULL ||
	    ec_pub == NULL) {
		fprintf(stderr, "test_jwt: cannot read the generated keys\n");
		return (-1);
	}
	return (0);
}

static int
group_teardown(void **state)
{
	static const char *const names[] = {
		"rsa.key", "rsa.pub", "ec.key", "ec.pub", "in", "sig"
	};
	char	path[256];
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	free(rsa_key);
	free(rsa_pub);
	free(ec_key);
	free(ec_pub);
	return (0);
}

/* Unpadded base64url of n bytes, malloc'd. */
static char *
b64url(const void *src, size_t n)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*s = src;
	char			*out, *o;
	uint32_t		 v;
	size_t			 i;

	out = o = malloc(n / 3 * 4 + 5);
	assert_non_null(out);
	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = abc[(v >> 6) & 63];
		*o++ = abc[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)s[i] << 16;
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*o++ = abc[v >> 18];
		*o++ = abc[(v >> 12) & 63];
		*o++ = abc[(v >> 6) & 63];
	}
	*o = '\0';
	return (out);
}

/* "b64(header).b64(payload).sig", malloc'd; nothing is signed. */
static char *
hand_tok(const char *header, const char *payload, const char *sig)
{
	char	*h, *p, *t;
	size_t	 n;

	h = b64url(header, strlen(header));
	p = b64url(payload, strlen(payload));
	n = strlen(h) + strlen(p) + strlen(sig) + 3;
	t = malloc(n);
	assert_non_null(t);
	snprintf(t, n, "%s.%s.%s", h, p, sig);
	free(h);
	free(p);
	return (t);
}

/*
 * A token with an arbitrary header, HMAC-SHA256 signed with secret by
 * openssl dgst (libjwt always rewrites "alg" itself, so it cannot make a
 * correctly signed token with, say, "alg":"hs256").
 */
static char *
hmac_tok(const char *header, const char *payload, const char *secret)
{
	char	 path[256], cmd[512], *in, *sig, *s64, *t;
	size_t	 n, siglen;
	FILE	*f;

	in = hand_tok(header, payload, "");
	in[strlen(in) - 1] = '\0';		/* drop the last '.' */
	snprintf(path, sizeof(path), "%s/in", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(in, 1, strlen(in), f), strlen(in));
	assert_int_equal(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -hmac '%s' -binary "
	    "-out %s/sig %s/in", secret, dir, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof(path), "%s/sig", dir);
	sig = slurp(path, &siglen);
	assert_non_null(sig);
	assert_int_equal(siglen, 32);
	s64 = b64url(sig, siglen);
	n = strlen(in) + strlen(s64) + 2;
	t = malloc(n);
	assert_non_null(t);
	snprintf(t, n, "%s.%s", in, s64);
	free(in);
	free(sig);
	free(s64);
	return (t);
}

/* A libjwt-signed token carrying the claims in json.  free() it. */
static char *
make_tok(jwt_alg_t alg, const void *key, size_t keylen, const char *json)
{
	jwt_t	*j = NULL;
	char	*t;

	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grants_json(j, json), 0);
	assert_int_equal(jwt_set_alg(j, alg, key, (int)keylen), 0);
	t = jwt_encode_str(j);
	assert_non_null(t);
	jwt_free(j);
	return (t);
}

static char *
hs256(const char *json)
{
	return (make_tok(JWT_ALG_HS256, SECRET, strlen(SECRET), json));
}

static struct cf_jwt_keys
hs_keys(const char *alg)
{
	struct cf_jwt_keys k;

	memset(&k, 0, sizeof(k));
	k.algorithm = alg;
	k.key = (const uint8_t *)SECRET;
	k.keylen = strlen(SECRET);
	return (k);
}

static struct cf_jwt_keys
pem_keys(const char *alg, const char *pem, size_t len)
{
	struct cf_jwt_keys k;

	memset(&k, 0, sizeof(k));
	k.algorithm = alg;
	k.key = (const uint8_t *)pem;
	k.keylen = len;
	return (k);
}

/* The message cf_jwt_verify gives with a code. */
static const char *
msg_of(int rc)
{
	switch (rc) {
	case CF_JWT_OK:
		return (MSG_OK);
	case CF_JWT_EXPIRED:
		return (MSG_EXPIRED);
	case CF_JWT_NOT_YET_VALID:
		return (MSG_NOT_YET);
	case CF_JWT_NO_USER:
		return (MSG_NO_USER);
	default:
		return (MSG_INVALID);
	}
}

/* Verify a token; a code other than rc fails, naming the row. */
static void
verify_row(const struct cf_jwt_keys *k, const char *tok, int64_t now,
    struct cf_claims *c, int rc, const char *what)
{
	const char	*why = NULL;
	int		 got;

	got = cf_jwt_verify(k, tok, now, c, &why);
	if (got != rc)
		fail_msg("%s: code %d, expected %d", what, got, rc);
	assert_non_null(why);
	assert_string_equal(why, msg_of(rc));
}

/*
 * A row of claims: the JSON of an HS256 token, the code it verifies to at
 * NOW, and what the claims then hold (NULL or -1: not checked).
 */
struct claims_row {
	const char	*json;
	int		 rc;
	const char	*user_id;
	int		 numeric;	/* user_id_numeric */
	const char	*display_name;
	const char	*role;
};
#define ROW(json, rc)		{ (json), (rc), NULL, -1, NULL, NULL }

/* Sign every row's claims with SECRET and verify them with k. */
static void
check_claims(const struct cf_jwt_keys *k, const struct claims_row *rows,
    size_t n)
{
	const struct claims_row	*r;
	struct cf_claims	 c;
	char			*t;
	size_t			 i;

	for (i = 0; i < n; i++) {
		r = &rows[i];
		t = hs256(r->json);
		verify_row(k, t, NOW, &c, r->rc, r->json);
		if (r->user_id != NULL && strcmp(c.user_id, r->user_id) != 0)
			fail_msg("%s: user_id \"%s\"", r->json, c.user_id);
		if (r->numeric != -1 && c.user_id_numeric != r->numeric)
			fail_msg("%s: user_id_numeric %d", r->json,
			    c.user_id_numeric);
		if (r->display_name != NULL &&
		    strcmp(c.display_name, r->display_name) != 0)
			fail_msg("%s: display_name \"%s\"", r->json,
			    c.display_name);
		if (r->role != NULL && strcmp(c.role, r->role) != 0)
			fail_msg("%s: role \"%s\"", r->json, c.role);
		free(t);
	}
}

/*
 * A row of the time checks: claims, the leeway and the time of the check,
 * the code, and exp / nbf then (ANY: not checked).
 */
#define ANY	INT64_MIN
struct time_row {
	const char	*json;
	int64_t		 leeway;
	int64_t		 now;
	int		 rc;
	int64_t		 exp, nbf;
};

static void
check_times(const struct time_row *rows, size_t n)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t, what[160];
	size_t			 i;

	for (i = 0; i < n; i++) {
		t = hs256(rows[i].json);
		k.leeway_s = rows[i].leeway;
		snprintf(what, sizeof(what), "%s, leeway %lld, now %+lld",
		    rows[i].json, (long long)rows[i].leeway,
		    (long long)(rows[i].now - NOW));
		verify_row(&k, t, rows[i].now, &c, rows[i].rc, what);
		if (rows[i].exp != ANY && c.exp != rows[i].exp)
			fail_msg("%s: exp %lld", what, (long long)c.exp);
		if (rows[i].nbf != ANY && c.nbf != rows[i].nbf)
			fail_msg("%s: nbf %lld", what, (long long)c.nbf);
		free(t);
	}
}

/* {header, payload}: HMAC-signed with SECRET by hmac_tok, then refused. */
struct hand_row {
	const char	*header;
	const char	*payload;
};

static void
refuse_hmac(const struct cf_jwt_keys *k, const struct hand_row *rows,
    size_t n)
{
	struct cf_claims	 c;
	char			*t;
	size_t			 i;

	for (i = 0; i < n; i++) {
		t = hmac_tok(rows[i].header, rows[i].payload, SECRET);
		verify_row(k, t, NOW, &c, CF_JWT_INVALID, rows[i].header);
		free(t);
	}
}

static void
test_hs256_numeric_user(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	jwt_t			*j = NULL;
	char			*t;

	(void)state;
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grant_int(j, "userId", 42), 0);
	assert_int_equal(jwt_add_grant(j, "displayName", "Alice"), 0);
	assert_int_equal(jwt_add_grant(j, "role", "admin"), 0);
	assert_int_equal(jwt_add_grant_int(j, "exp", (long)NOW + 60), 0);
	assert_int_equal(jwt_add_grant_int(j, "nbf", (long)NOW - 10), 0);
	assert_int_equal(jwt_add_grant_int(j, "iat", (long)NOW - 10), 0);
	assert_int_equal(jwt_set_alg(j, JWT_ALG_HS256,
	    (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
	t = jwt_encode_str(j);
	assert_non_null(t);
	jwt_free(j);

	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "42");
	assert_int_equal(c.user_id_numeric, 1);
	assert_string_equal(c.display_name, "Alice");
	assert_string_equal(c.role, "admin");
	assert_int_equal(c.has_permissions, 0);
	assert_int_equal(c.permissions, 0);
	assert_int_equal(c.exp, NOW + 60);
	assert_int_equal(c.nbf, NOW - 10);
	assert_int_equal(c.iat, NOW - 10);
	/* out and why may be NULL. */
	assert_int_equal(cf_jwt_verify(&k, t, NOW, NULL, NULL), CF_JWT_OK);
	free(t);
}

static void
test_hs256_string_sub(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t;

	(void)state;
	t = hs256("{\"sub\":\"alice\"}");
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "alice");
	assert_int_equal(c.user_id_numeric, 0);
	assert_string_equal(c.display_name, "alice");
	assert_string_equal(c.role, "user");
	assert_int_equal(c.exp, 0);
	assert_int_equal(c.nbf, 0);
	free(t);
}

static void
test_id_fallback(void **state)
{
	static const struct claims_row rows[] = {
		{ "{\"id\":7,\"sub\":\"ignored\"}", CF_JWT_OK, "7", 1,
		    NULL, NULL },
		{ "{\"id\":\"u-1\",\"sub\":\"ignored\"}", CF_JWT_OK, "u-1", 0,
		    NULL, NULL },
		/* userId wins over id and sub. */
		{ "{\"userId\":\"99\",\"id\":7,\"sub\":\"s\"}", CF_JWT_OK, "99",
		    1, NULL, NULL },
		/* The first present claim decides: a bad userId is not
		 * skipped. */
		ROW("{\"userId\":true,\"id\":7}", CF_JWT_NO_USER),
		/* Large integers print in full. */
		{ "{\"userId\":9007199254740993}", CF_JWT_OK,
		    "9007199254740993", -1, NULL, NULL },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");

	(void)state;
	check_claims(&k, rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_display_name(void **state)
{
	static const struct claims_row rows[] = {
		{ "{\"userId\":1,\"name\":\"Bob\"}", CF_JWT_OK, NULL, -1,
		    "Bob", NULL },
		{ "{\"userId\":1,\"name\":\"Bob\",\"displayName\":\"Robert\"}",
		    CF_JWT_OK, NULL, -1, "Robert", NULL },
		/* A non-string or empty displayName falls back. */
		{ "{\"userId\":1,\"name\":\"Bob\",\"displayName\":5}",
		    CF_JWT_OK, NULL, -1, "Bob", NULL },
		{ "{\"userId\":1,\"name\":\"\",\"displayName\":\"\"}",
		    CF_JWT_OK, NULL, -1, "1", NULL },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			 json[512], *t;
	size_t			 i, o;

	(void)state;
	check_claims(&k, rows, sizeof(rows) / sizeof(rows[0]));

	/* 100 two-byte characters: cut to 63 of them (126 bytes). */
	o = (size_t)snprintf(json, sizeof(json), "{\"userId\":1,\"name\":\"");
	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, "\xc3\xa9");
	snprintf(json + o, sizeof(json) - o, "\"}");
	t = hs256(json);
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_int_equal(strlen(c.display_name), 126);
	assert_memory_equal(c.display_name, "\xc3\xa9\xc3\xa9", 4);
	assert_memory_equal(c.display_name + 124, "\xc3\xa9", 3);
	free(t);

	/* One ASCII byte first: 1 + 63 * 2 = 127 bytes fit exactly. */
	o = (size_t)snprintf(json, sizeof(json), "{\"userId\":1,\"name\":\"a");
	for (i = 0; i < 100; i++)
		o += (size_t)snprintf(json + o, sizeof(json) - o, "\xc3\xa9");
	snprintf(json + o, sizeof(json) - o, "\"}");
	t = hs256(json);
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_int_equal(strlen(c.display_name), 127);
	assert_int_equal((unsigned char)c.display_name[126], 0xa9);
	free(t);
}

static void
test_role(void **state)
{
	static const struct claims_row rows[] = {
		{ "{\"userId\":1}", CF_JWT_OK, NULL, -1, NULL, "user" },
		{ "{\"userId\":1,\"role\":\"abcdefghijklmnopqrstuvwxyz01234\"}",
		    CF_JWT_OK, NULL, -1, NULL,
		    "abcdefghijklmnopqrstuvwxyz01234" },
		/* 32 bytes, a number, an empty string: invalid. */
		{ "{\"userId\":1,\"role\":\"abcdefghijklmnopqrstuvwxyz012345\"}",
		    CF_JWT_INVALID, "", -1, NULL, "" },
		ROW("{\"userId\":1,\"role\":3}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"role\":\"\"}", CF_JWT_INVALID),
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");

	(void)state;
	check_claims(&k, rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_permissions(void **state)
{
	static const struct {
		const char	*json;
		int		 rc;
		int		 has;		/* -1: not checked */
		uint32_t	 perms;
	} rows[] = {
		{ "{\"userId\":1,\"permissions\":[\"chat.access\","
		    "\"call.video\",\"no.such.perm\",\"chat.send_messages\"]}",
		    CF_JWT_OK, 1, CF_PERM_CHAT_ACCESS | CF_PERM_CALL_VIDEO |
		    CF_PERM_SEND_MESSAGES },
		{ "{\"userId\":1,\"permissions\":[]}", CF_JWT_OK, 1, 0 },
		{ "{\"userId\":1,\"permissions\":\"chat.access\"}",
		    CF_JWT_INVALID, 0, 0 },
		{ "{\"userId\":1,\"permissions\":[\"chat.access\",1]}",
		    CF_JWT_INVALID, -1, 0 },
		{ "{\"userId\":1,\"permissions\":{\"chat.access\":true}}",
		    CF_JWT_INVALID, -1, 0 },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t = hs256(rows[i].json);
		verify_row(&k, t, NOW, &c, rows[i].rc, rows[i].json);
		if (rows[i].has != -1)
			assert_int_equal(c.has_permissions, rows[i].has);
		if (rows[i].rc == CF_JWT_OK)
			assert_int_equal(c.permissions, rows[i].perms);
		free(t);
	}
}

static void
test_hs384_hs512(void **state)
{
	struct cf_jwt_keys	 k384 = hs_keys("HS384");
	struct cf_jwt_keys	 k512 = hs_keys("HS512");
	struct cf_claims	 c;
	char			*t;

	(void)state;
	t = make_tok(JWT_ALG_HS384, SECRET, strlen(SECRET), "{\"sub\":\"x\"}");
	VERIFY(&k384, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "x");
	VERIFY(&k512, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
	t = make_tok(JWT_ALG_HS512, SECRET, strlen(SECRET), "{\"sub\":\"y\"}");
	VERIFY(&k512, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "y");
	VERIFY(&k384, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
}

static void
test_rs256_es256(void **state)
{
	struct cf_jwt_keys	 rk = pem_keys("RS256", rsa_pub, rsa_pub_len);
	struct cf_jwt_keys	 ek = pem_keys("ES256", ec_pub, ec_pub_len);
	struct cf_claims	 c;
	char			*t;

	(void)state;
	t = make_tok(JWT_ALG_RS256, rsa_key, rsa_key_len,
	    "{\"userId\":5,\"exp\":1700000100}");
	VERIFY(&rk, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "5");
	assert_int_equal(c.exp, NOW + 100);
	/* Wrong configured algorithm, or the wrong public key. */
	VERIFY(&ek, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	rk.key = (const uint8_t *)ec_pub;
	rk.keylen = ec_pub_len;
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	t = make_tok(JWT_ALG_ES256, ec_key, ec_key_len,
	    "{\"sub\":\"ec-user\"}");
	VERIFY(&ek, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "ec-user");
	rk = pem_keys("RS256", rsa_pub, rsa_pub_len);
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
}

static void
test_alg_none(void **state)
{
	static const char *const algs[] = { "none", "NONE", NULL };
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_jwt_keys	 rk = pem_keys("RS256", rsa_pub, rsa_pub_len);
	struct cf_claims	 c;
	char			*p, t[256];
	size_t			 i;

	(void)state;
	p = b64url("{\"userId\":1}", strlen("{\"userId\":1}"));
	snprintf(t, sizeof(t), "eyJhbGciOiJub25lIn0.%s.", p);
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	snprintf(t, sizeof(t), "eyJhbGciOiJub25lIn0.%s.c2lnbmF0dXJl", p);
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	/* "none" as the configured algorithm is refused too. */
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		k.algorithm = algs[i];
		verify_row(&k, t, NOW, &c, CF_JWT_INVALID,
		    algs[i] != NULL ? algs[i] : "(no algorithm)");
	}
	free(p);
}

static void
test_alg_confusion(void **state)
{
	struct cf_jwt_keys	 rk = pem_keys("RS256", rsa_pub, rsa_pub_len);
	struct cf_claims	 c;
	jwt_t			*j = NULL;
	char			*t;

	(void)state;
	/* HS256 with the RSA public key PEM as the HMAC secret. */
	t = make_tok(JWT_ALG_HS256, rsa_pub, rsa_pub_len, "{\"userId\":1}");
	/* libjwt alone falls for it ... */
	assert_int_equal(jwt_decode(&j, t, (const unsigned char *)rsa_pub,
	    (int)rsa_pub_len), 0);
	assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
	jwt_free(j);
	/* ... the pinned algorithm does not. */
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	assert_string_equal(c.user_id, "");
	free(t);
}

static void
test_alg_lowercase(void **state)
{
	static const struct hand_row rows[] = {
		/* Duplicate "alg" members are refused outright. */
		{ "{\"alg\":\"none\",\"alg\":\"HS256\"}", "{\"userId\":3}" },
		/* alg not a string, or missing. */
		{ "{\"alg\":256}", "{\"userId\":3}" },
		{ "{\"typ\":\"JWT\"}", "{\"userId\":3}" },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	jwt_t			*j = NULL;
	char			*t;

	(void)state;
	/* The helper itself makes good tokens. */
	t = hmac_tok("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"userId\":3}",
	    SECRET);
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "3");
	free(t);

	t = hmac_tok("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", "{\"userId\":3}",
	    SECRET);
	assert_int_equal(jwt_decode(&j, t, (const unsigned char *)SECRET,
	    (int)strlen(SECRET)), 0);	/* libjwt 1.10.2 accepts it */
	jwt_free(j);
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	refuse_hmac(&k, rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_alg_mismatch(void **state)
{
	/* Configured algorithms an HS256 token does not match. */
	static const char *const algs[] = {
		"HS384",
		"hs256",		/* configured names are exact too */
		"PS256",
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_jwt_keys	 rk = pem_keys("RS256", rsa_pub, rsa_pub_len);
	struct cf_claims	 c;
	char			*t;
	size_t			 i;

	(void)state;
	t = make_tok(JWT_ALG_HS512, SECRET, strlen(SECRET), "{\"userId\":1}");
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
	t = hs256("{\"userId\":1}");
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		k.algorithm = algs[i];
		verify_row(&k, t, NOW, &c, CF_JWT_INVALID, algs[i]);
	}
	VERIFY(&rk, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
}

static void
test_bad_signature(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t, *sig, *dot;

	(void)state;
	t = hs256("{\"userId\":1}");
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	sig = strrchr(t, '.') + 1;
	sig[5] = sig[5] == 'A' ? 'B' : 'A';
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	/* A changed payload byte. */
	t = hs256("{\"userId\":1}");
	dot = strchr(t, '.') + 1;
	dot[2] = dot[2] == 'A' ? 'B' : 'A';
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	/* The signature cut off, or emptied. */
	t = hs256("{\"userId\":1}");
	sig = strrchr(t, '.') + 1;
	sig[10] = '\0';
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	sig[0] = '\0';
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	/* RS256: one flipped signature character. */
	t = make_tok(JWT_ALG_RS256, rsa_key, rsa_key_len, "{\"userId\":1}");
	k = pem_keys("RS256", rsa_pub, rsa_pub_len);
	sig = strrchr(t, '.') + 1;
	sig[20] = sig[20] == 'A' ? 'B' : 'A';
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);
}

static void
test_wrong_secret(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t;

	(void)state;
	t = make_tok(JWT_ALG_HS256, OTHER_SECRET, strlen(OTHER_SECRET),
	    "{\"userId\":1}");
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	/* No key at all is never "skip verification". */
	k.key = NULL;
	k.keylen = 0;
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	k.key = (const uint8_t *)OTHER_SECRET;
	k.keylen = 0;
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	k.keylen = strlen(OTHER_SECRET);
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	free(t);
}

static void
test_expiry(void **state)
{
	static const struct time_row rows[] = {
		/* *out zeroed on error; within leeway 30 s. */
		{ "{\"userId\":1,\"exp\":1699999999}", 0, NOW,
		    CF_JWT_EXPIRED, 0, ANY },
		{ "{\"userId\":1,\"exp\":1699999999}", 30, NOW,
		    CF_JWT_OK, NOW - 1, ANY },
		{ "{\"userId\":1,\"exp\":1699999999}", 30, NOW + 29,
		    CF_JWT_EXPIRED, ANY, ANY },
		{ "{\"userId\":1,\"exp\":1699999999}", 30, NOW + 28,
		    CF_JWT_OK, ANY, ANY },
		/* A negative leeway is 0. */
		{ "{\"userId\":1,\"exp\":1699999999}", -100, NOW,
		    CF_JWT_EXPIRED, ANY, ANY },
		/* exp == now is expired; exp == now + 1 is not. */
		{ "{\"userId\":1,\"exp\":1700000000}", 0, NOW,
		    CF_JWT_EXPIRED, ANY, ANY },
		{ "{\"userId\":1,\"exp\":1700000000}", 0, NOW - 1,
		    CF_JWT_OK, ANY, ANY },
		/* A real exp counts, rounded down. */
		{ "{\"userId\":1,\"exp\":1700000000.5}", 0, NOW,
		    CF_JWT_EXPIRED, ANY, ANY },
		{ "{\"userId\":1,\"exp\":1700000000.5}", 0, NOW - 1,
		    CF_JWT_OK, NOW, ANY },
		{ "{\"userId\":1,\"exp\":1.8e9}", 0, NOW,
		    CF_JWT_OK, INT64_C(1800000000), ANY },
		/* Huge values saturate instead of overflowing. */
		{ "{\"userId\":1,\"exp\":9223372036854775807,"
		    "\"nbf\":9223372036854775807}", INT64_MAX, NOW,
		    CF_JWT_OK, ANY, ANY },
		{ "{\"userId\":1,\"exp\":1e300}", 0, NOW,
		    CF_JWT_OK, INT64_MAX, ANY },
		{ "{\"userId\":1,\"exp\":-1e300}", 0, NOW,
		    CF_JWT_EXPIRED, ANY, ANY },
		/* Expiry is checked before the user id. */
		{ "{\"exp\":1}", 0, NOW, CF_JWT_EXPIRED, ANY, ANY },
	};

	(void)state;
	check_times(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_not_before(void **state)
{
	static const struct time_row rows[] = {
		{ "{\"userId\":1,\"nbf\":1700000010}", 0, NOW,
		    CF_JWT_NOT_YET_VALID, ANY, ANY },
		{ "{\"userId\":1,\"nbf\":1700000010}", 0, NOW + 10,
		    CF_JWT_OK, ANY, NOW + 10 },
		/* Within leeway. */
		{ "{\"userId\":1,\"nbf\":1700000010}", 10, NOW,
		    CF_JWT_OK, ANY, ANY },
		{ "{\"userId\":1,\"nbf\":1700000010}", 9, NOW,
		    CF_JWT_NOT_YET_VALID, ANY, ANY },
		/* A real nbf is rounded up. */
		{ "{\"userId\":1,\"nbf\":1699999999.5}", 0, NOW,
		    CF_JWT_OK, ANY, NOW },
		{ "{\"userId\":1,\"nbf\":1699999999.5}", 0, NOW - 1,
		    CF_JWT_NOT_YET_VALID, ANY, ANY },
	};

	(void)state;
	check_times(rows, sizeof(rows) / sizeof(rows[0]));
}

static void
test_time_types(void **state)
{
	static const char *const bad[] = {
		"{\"userId\":1,\"exp\":\"1800000000\"}",
		"{\"userId\":1,\"nbf\":\"1600000000\"}",
		"{\"userId\":1,\"exp\":true}",
		"{\"userId\":1,\"exp\":null}",
		"{\"userId\":1,\"exp\":[1800000000]}",
		"{\"userId\":1,\"nbf\":{}}",
		"{\"userId\":1,\"iat\":\"now\"}",
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	jwt_t			*j = NULL;
	char			*t;
	size_t			 i;

	(void)state;
	/* exp as a string, added with jwt_add_grant. */
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grant_int(j, "userId", 1), 0);
	assert_int_equal(jwt_add_grant(j, "exp", "1800000000"), 0);
	assert_int_equal(jwt_set_alg(j, JWT_ALG_HS256,
	    (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
	t = jwt_encode_str(j);
	assert_non_null(t);
	jwt_free(j);
	VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(t);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		t = hs256(bad[i]);
		verify_row(&k, t, NOW, &c, CF_JWT_INVALID, bad[i]);
		free(t);
	}
}

static void
test_issuer_audience(void **state)
{
	static const struct claims_row configured[] = {
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\","
		    "\"aud\":\"confab\"}", CF_JWT_OK),
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\","
		    "\"aud\":[\"other\",7,\"confab\"]}", CF_JWT_OK),
		/* Mismatches. */
		ROW("{\"userId\":1,\"iss\":\"https://evil.example\","
		    "\"aud\":\"confab\"}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"aud\":\"confab\"}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\","
		    "\"aud\":\"Confab\"}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\","
		    "\"aud\":[\"other\",\"confab2\"]}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\"}",
		    CF_JWT_INVALID),
		ROW("{\"userId\":1,\"iss\":\"https://auth.example\","
		    "\"aud\":1}", CF_JWT_INVALID),
		ROW("{\"userId\":1,\"iss\":[\"https://auth.example\"],"
		    "\"aud\":\"confab\"}", CF_JWT_INVALID),
	};
	/* Not configured: not checked. */
	static const struct claims_row unconfigured[] = {
		ROW("{\"userId\":1,\"iss\":\"https://evil.example\","
		    "\"aud\":\"x\"}", CF_JWT_OK),
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");

	(void)state;
	k.issuer = "https://auth.example";
	k.audience = "confab";
	check_claims(&k, configured, sizeof(configured) /
	    sizeof(configured[0]));
	k.issuer = NULL;
	k.audience = NULL;
	check_claims(&k, unconfigured, sizeof(unconfigured) /
	    sizeof(unconfigured[0]));
}

static void
test_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		".",
		"..",
		"a..b",
		".a.b",
		"a.b.",
		"eyJhbGciOiJIUzI1NiJ9",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.c2ln.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.c2ln.",
		"eyJhbGciOiJIUzI1NiJ9=.eyJ1c2VySWQiOjF9.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9+.c2ln",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.c2/n",
		"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.c2ln!",
		"eyJhbGciOiJIUzI1NiJ9 .eyJ1c2VySWQiOjF9.c2ln",
		"eyJhbGciOiJIUzI1NiJ9x.eyJ1c2VySWQiOjF9.c2ln",
		"Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOjF9.c2ln",
	};
	static const struct hand_row hand[] = {
		/* Header not JSON / a JSON array / truncated JSON. */
		{ "not json", "{\"userId\":1}" },
		{ "[\"HS256\"]", "{\"userId\":1}" },
		{ "{\"alg\":\"HS256\"", "{\"userId\":1}" },
		/* Payload not JSON / a JSON array / a string, correctly
		 * signed. */
		{ "{\"alg\":\"HS256\"}", "userId=1" },
		{ "{\"alg\":\"HS256\"}", "[{\"userId\":1}]" },
		{ "{\"alg\":\"HS256\"}", "\"x\"" },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t, *u, *p, *h, buf[512];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		verify_row(&k, bad[i], NOW, &c, CF_JWT_INVALID, bad[i]);
	VERIFY(&k, NULL, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	VERIFY(NULL, "a.b.c", NOW, &c, CF_JWT_INVALID, MSG_INVALID);

	refuse_hmac(&k, hand, sizeof(hand) / sizeof(hand[0]));

	/* Bad base64 in the header: impossible length, bad alphabet. */
	t = hs256("{\"userId\":1}");
	p = strchr(t, '.');
	snprintf(buf, sizeof(buf), "eyJhb%s", p);
	VERIFY(&k, buf, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	snprintf(buf, sizeof(buf), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9%%%s",
	    p);
	VERIFY(&k, buf, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	/* A header in standard base64 with padding. */
	h = b64url("{\"alg\":\"HS256\"}", strlen("{\"alg\":\"HS256\"}"));
	snprintf(buf, sizeof(buf), "%s==%s", h, p);
	VERIFY(&k, buf, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(h);

	/* Every proper prefix of a valid token is refused. */
	u = strdup(t);
	assert_non_null(u);
	for (i = strlen(t); i-- > 0;) {
		u[i] = '\0';
		VERIFY(&k, u, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	}
	free(u);
	free(t);
}

static void
test_mutations(void **state)
{
	static const char subst[] = "AQaz09-_.=+/ \x01\xff";
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*t, *u;
	size_t			 i, j, len;
	int			 rc;

	(void)state;
	t = hs256("{\"userId\":1,\"name\":\"N\","
	    "\"permissions\":[\"chat.access\"]}");
	len = strlen(t);
	u = strdup(t);
	assert_non_null(u);
	for (i = 0; i < len; i++) {
		for (j = 0; j < sizeof(subst) - 1; j++) {
			if (t[i] == subst[j])
				continue;
			u[i] = subst[j];
			rc = cf_jwt_verify(&k, u, NOW, &c, NULL);
			assert_int_equal(rc, CF_JWT_INVALID);
		}
		u[i] = t[i];
	}
	VERIFY(&k, u, NOW, &c, CF_JWT_OK, MSG_OK);
	free(u);
	free(t);
}

static void
test_oversized(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*big, *json, *t;
	size_t			 n;

	(void)state;
	big = malloc(9001);
	assert_non_null(big);
	memset(big, 'A', 9000);
	big[9000] = '\0';
	big[100] = '.';
	big[200] = '.';
	VERIFY(&k, big, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	free(big);

	/* Valid tokens either side of CF_JWT_MAX_TOKEN. */
	json = malloc(8192);
	assert_non_null(json);
	for (n = 5900; n < 6200; n++) {
		snprintf(json, 8192, "{\"userId\":1,\"pad\":\"%0*d\"}",
		    (int)n, 0);
		t = hs256(json);
		if (strlen(t) <= CF_JWT_MAX_TOKEN)
			VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
		else
			VERIFY(&k, t, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
		if (n == 5900)
			assert_true(strlen(t) <= CF_JWT_MAX_TOKEN);
		if (n == 6199)
			assert_true(strlen(t) > CF_JWT_MAX_TOKEN);
		free(t);
	}
	free(json);
}

static void
test_user_id(void **state)
{
	static const struct claims_row rows[] = {
		{ "{\"name\":\"nobody\"}", CF_JWT_NO_USER, NULL, -1, "",
		    NULL },
		ROW("{\"userId\":true}", CF_JWT_NO_USER),
		ROW("{\"userId\":\"\"}", CF_JWT_NO_USER),
		ROW("{\"userId\":null}", CF_JWT_NO_USER),
		ROW("{\"userId\":42.5}", CF_JWT_NO_USER),
		ROW("{\"userId\":42.0}", CF_JWT_NO_USER),
		ROW("{\"userId\":[1]}", CF_JWT_NO_USER),
		ROW("{\"userId\":{\"id\":1}}", CF_JWT_NO_USER),
		ROW("{\"userId\":\"a\\tb\"}", CF_JWT_NO_USER),
	};
	/* Digit strings: 1..19 digits are numeric, kept verbatim. */
	static const struct claims_row digits[] = {
		{ "{\"userId\":\"00123\"}", CF_JWT_OK, "00123", 1, "00123",
		    NULL },
		{ "{\"userId\":\"1234567890123456789\"}", CF_JWT_OK, NULL, 1,
		    NULL, NULL },
		{ "{\"userId\":\"12345678901234567890\"}", CF_JWT_OK, NULL, 0,
		    NULL, NULL },
		{ "{\"userId\":\"abc-123\"}", CF_JWT_OK, "abc-123", 0, NULL,
		    NULL },
		{ "{\"userId\":\"+123\"}", CF_JWT_OK, NULL, 0, NULL, NULL },
		{ "{\"userId\":\"-5\"}", CF_JWT_OK, NULL, 0, NULL, NULL },
		{ "{\"userId\":0}", CF_JWT_OK, "0", 1, NULL, NULL },
	};
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			 json[256], *t;

	(void)state;
	check_claims(&k, rows, sizeof(rows) / sizeof(rows[0]));

	/* 70 characters: too long; 63: the longest that fits. */
	snprintf(json, sizeof(json), "{\"userId\":\"%070d\"}", 0);
	json[11] = 'x';
	t = hs256(json);
	VERIFY(&k, t, NOW, &c, CF_JWT_NO_USER, MSG_NO_USER);
	free(t);
	snprintf(json, sizeof(json), "{\"userId\":\"x%062d\"}", 0);
	t = hs256(json);
	VERIFY(&k, t, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_int_equal(strlen(c.user_id), 63);
	assert_int_equal(c.user_id_numeric, 0);
	free(t);
	snprintf(json, sizeof(json), "{\"userId\":\"x%063d\"}", 0);
	t = hs256(json);
	VERIFY(&k, t, NOW, &c, CF_JWT_NO_USER, MSG_NO_USER);
	free(t);

	check_claims(&k, digits, sizeof(digits) / sizeof(digits[0]));
}

static void
test_key_rotation(void **state)
{
	struct cf_jwt_keys	 k = hs_keys("HS256");
	struct cf_claims	 c;
	char			*old, *cur, *other;

	(void)state;
	old = make_tok(JWT_ALG_HS256, OLD_SECRET, strlen(OLD_SECRET),
	    "{\"userId\":11}");
	cur = hs256("{\"userId\":12}");
	other = make_tok(JWT_ALG_HS256, OTHER_SECRET, strlen(OTHER_SECRET),
	    "{\"userId\":13}");

	VERIFY(&k, old, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	k.prev_key = (const uint8_t *)OLD_SECRET;
	k.prev_keylen = strlen(OLD_SECRET);
	VERIFY(&k, old, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "11");
	VERIFY(&k, cur, NOW, &c, CF_JWT_OK, MSG_OK);
	assert_string_equal(c.user_id, "12");
	VERIFY(&k, other, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	/* An empty previous key is not a NULL-key bypass. */
	k.prev_keylen = 0;
	VERIFY(&k, old, NOW, &c, CF_JWT_INVALID, MSG_INVALID);
	k.prev_key = NULL;
	VERIFY(&k, old, NOW, &c, CF_JWT_INVALID, MSG_INVALID);

	free(old);
	free(cur);
	free(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs256_numeric_user),
		cmocka_unit_test(test_hs256_string_sub),
		cmocka_unit_test(test_id_fallback),
		cmocka_unit_test(test_display_name),
		cmocka_unit_test(test_role),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_hs384_hs512),
		cmocka_unit_test(test_rs256_es256),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_confusion),
		cmocka_unit_test(test_alg_lowercase),
		cmocka_unit_test(test_alg_mismatch),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_wrong_secret),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_not_before),
		cmocka_unit_test(test_time_types),
		cmocka_unit_test(test_issuer_audience),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_user_id),
		cmocka_unit_test(test_key_rotation),
	};

	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
