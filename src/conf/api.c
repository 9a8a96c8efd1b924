/*
 * api.c -- the values of the HTTP API's directives: api-listen (one
 * address, apart from the listen lines) and api-key NAME KEY (a named
 * bearer key, kept in the snapshot, never rendered).
 */
#include <string.h>

#include "conf/conf_int.h"

/* api-listen: an address as for listen, stored in api_listen. */
static int
set_api_listen(struct conf_parse *p, const struct conf_rule *r,
    const char *v)
{
	struct cf_conf	*c = p->conf;
	int		 rc;

	(void)r;
	if ((rc = conf_parse_listen(p, v, &c->api_listen)) != CONF_OK)
		return (rc);
	c->has_api_listen = 1;
	return (CONF_OK);
}

static void
render_api_listen(const struct cf_conf *c, const struct conf_rule *r,
    char *buf, size_t len)
{
	(void)r;
	buf[0] = '\0';
	conf_cat(buf, len, c->has_api_listen ? c->api_listen.text : "(unset)");
}

static int
same_api_listen(const struct cf_conf *a, const struct cf_conf *b,
    const struct conf_rule *r)
{
	(void)r;
	return (a->has_api_listen == b->has_api_listen &&
	    (!a->has_api_listen ||
	    conf_same_address(&a->api_listen, &b->api_listen)));
}

/* A key's name: what the logs show, [A-Za-z0-9_.-], 1..64 bytes. */
static int
name_ok(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-");

	return (n > 0 && s[n] == '\0' &&
	    n < sizeof(((struct cf_api_key *)0)->name));
}

/* api-key NAME KEY: KEY of CF_API_KEY_MIN..CF_API_KEY_MAX printable bytes. */
static int
set_api_key(struct conf_parse *p, const struct conf_rule *r,
    char *const *argv, int argc)
{
	struct cf_conf	*c = p->conf;
	struct cf_api_key *k;
	size_t		 len = strlen(argv[1]), i;
	int		 j;

	(void)r;
	(void)argc;
	if (!name_ok(argv[0]))
		return (conf_why(p, CONF_EMSG, "invalid api-key name \"%.64s\":"
		    " letters, digits, '_', '.' and '-', at most 64", argv[0]));
	if (len < CF_API_KEY_MIN || len > CF_API_KEY_MAX)
		return (conf_why(p, CONF_EMSG, "api-key %s: the key must be %d "
		    "to %d bytes (confabctl api-key %s prints a new one)",
		    argv[0], CF_API_KEY_MIN, CF_API_KEY_MAX, argv[0]));
	for (i = 0; i < len; i++)
		if ((unsigned char)argv[1][i] <= ' ' ||
		    (unsigned char)argv[1][i] >= 0x7f)
			return (conf_why(p, CONF_EMSG, "api-key %s: the key "
			    "must be printable ASCII", argv[0]));
	for (j = 0; j < c->napi_keys; j++) {
		if (strcmp(c->api_keys[j].name, argv[0]) == 0)
			return (conf_why(p, CONF_EMSG, "api-key %s given twice",
			    argv[0]));
		if (strcmp(c->api_keys[j].key, argv[1]) == 0)
			return (conf_why(p, CONF_EMSG, "api-key %s: the same "
			    "key as api-key %s", argv[0], c->api_keys[j].name));
	}
	if (c->napi_keys == CF_CONF_MAX_API_KEYS)
		return (conf_why(p, CONF_EMSG, "too many api keys (at most %d)",
		    CF_CONF_MAX_API_KEYS));
	k = &c->api_keys[c->napi_keys++];
	memcpy(k->name, argv[0], strlen(argv[0]) + 1);
	memcpy(k->key, argv[1], len + 1);
	return (CONF_OK);
}

/* The names only: a key is never shown. */
static void
render_api_key(const struct cf_conf *c, const struct conf_rule *r,
    char *buf, size_t len)
{
	int	 i;

	(void)r;
	buf[0] = '\0';
	for (i = 0; i < c->napi_keys; i++) {
		if (i > 0)
			conf_cat(buf, len, " ");
		conf_cat(buf, len, c->api_keys[i].name);
	}
	if (c->napi_keys == 0)
		conf_cat(buf, len, "(unset)");
}

static int
same_api_key(const struct cf_conf *a, const struct cf_conf *b,
    const struct conf_rule *r)
{
	(void)r;
	return (a->napi_keys == b->napi_keys &&
	    memcmp(a->api_keys, b->api_keys,
	    (size_t)a->napi_keys * sizeof(a->api_keys[0])) == 0);
}

const struct conf_ops conf_ops_api_listen = {
	.set = set_api_listen, .render = render_api_listen,
	.same = same_api_listen
};
const struct conf_ops conf_ops_api_key = {
	.setv = set_api_key, .render = render_api_key, .same = same_api_key
};
