/*
 * net.c -- the network values of the configuration: listen addresses, the
 * database (SQLite path or PostgreSQL URL), the Redis URL, CORS origins
 * and metrics-allow prefixes, with the host-name checks they share, and
 * the address checks the workers make against them.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

/* Parse a decimal port 1..65535 that must span all of s. */
static int
conf_port(const char *s, int *port)
{
	unsigned long long	 n;
	const char		*end;

	if (conf_number(s, &n, &end) == -1 || *end != '\0' || n < 1 ||
	    n > 65535)
		return (-1);
	*port = (int)n;
	return (0);
}

/*
 * listen: "PORT" or "*:PORT" (dual-stack ::), "IPv4:PORT",
 * "[IPv6]:PORT" (IPv6 only).
 */
int
conf_parse_listen(struct conf_parse *p, const char *v, struct cf_listen *lp)
{
	struct cf_listen	 l;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&l.addr;
	char			 host[sizeof(l.text)];
	const char		*colon, *portstr;
	size_t			 hlen;
	int			 port;

	memset(&l, 0, sizeof(l));
	if (strlen(v) >= sizeof(l.text))
		return (conf_why(p, CONF_EINVAL, "too long"));
	if (v[0] == '[') {
		if ((colon = strstr(v, "]:")) == NULL)
			return (conf_why(p, CONF_EINVAL,
			    "expected [IPv6 address]:port"));
		hlen = (size_t)(colon - v - 1);
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		portstr = colon + 2;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return (conf_why(p, CONF_EINVAL,
			    "\"%s\" is not an IPv6 address", host));
		l.v6only = 1;
	} else if ((colon = strrchr(v, ':')) != NULL) {
		hlen = (size_t)(colon - v);
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		portstr = colon + 1;
		if (strcmp(host, "*") == 0)
			l.any = 1;
		else if (strchr(host, ':') != NULL)
			return (conf_why(p, CONF_EINVAL,
			    "IPv6 addresses must be in brackets, as in "
			    "[::1]:3001"));
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return (conf_why(p, CONF_EINVAL,
			    "\"%s\" is not an IPv4 address, [IPv6 address] "
			    "or *", host));
	} else {
		portstr = v;
		l.any = 1;
	}
	if (conf_port(portstr, &port) == -1)
		return (conf_why(p, CONF_EINVAL,
		    "port must be a number between 1 and 65535"));
	if (l.any || l.v6only) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		if (l.any)
			sin6->sin6_addr = in6addr_any;
		l.addrlen = sizeof(*sin6);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		l.addrlen = sizeof(*sin);
	}
	snprintf(l.text, sizeof(l.text), "%s", v);
	*lp = l;
	return (CONF_OK);
}

static int
set_listen(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	struct cf_conf		*c = p->conf;
	struct cf_listen	 l;
	int			 i, rc;

	(void)r;
	if ((rc = conf_parse_listen(p, v, &l)) != CONF_OK)
		return (rc);
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].any == l.any &&
		    c->listen[i].addrlen == l.addrlen &&
		    memcmp(&c->listen[i].addr, &l.addr, l.addrlen) == 0)
			return (conf_why(p, CONF_EINVAL,
			    "duplicate of listen \"%s\"", c->listen[i].text));
	if (c->nlisten == CF_CONF_MAX_LISTEN)
		return (conf_why(p, CONF_EINVAL,
		    "too many listen addresses (at most %d)",
		    CF_CONF_MAX_LISTEN));
	c->listen[c->nlisten++] = l;
	return (CONF_OK);
}

/*
 * database: a postgres URL is kept; "sqlite:PATH" or PATH is stored as a
 * path, made absolute against data-dir once the whole file is read.
 */
static int
set_database(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	int	 url;

	url = conf_has_prefix(v, "postgresql://") ||
	    conf_has_prefix(v, "postgres://");
	if (!url && conf_has_prefix(v, "sqlite:"))
		v += strlen("sqlite:");
	if (v[0] == '\0')
		return (conf_why(p, CONF_EINVAL, "empty path"));
	p->db_is_url = url;
	return (conf_store_str(p, r, strdup(v)));
}

/* A host name or IPv4 address: letters, digits, '.', '-', '_'. */
static int
conf_hostname_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 253)
		return (0);
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-' && s[i] != '_')
			return (0);
	return (1);
}

/*
 * Split "host[:port]..." at s: a bracketed IPv6 literal or a host name.
 * On success *hostp and *hlenp delimit the host (brackets excluded when
 * strip is set), *rest points after the host.  -1 when malformed.
 */
static int
conf_split_host(const char *s, int strip, const char **hostp, size_t *hlenp,
    const char **rest)
{
	struct in6_addr	 a6;
	char		 buf[INET6_ADDRSTRLEN + 1];
	const char	*e;
	size_t		 len;

	if (s[0] == '[') {
		if ((e = strchr(s, ']')) == NULL)
			return (-1);
		len = (size_t)(e - s - 1);
		if (len == 0 || len >= sizeof(buf))
			return (-1);
		memcpy(buf, s + 1, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return (-1);
		*hostp = strip ? s + 1 : s;
		*hlenp = strip ? len : len + 2;
		*rest = e + 1;
		return (0);
	}
	len = strcspn(s, ":/");
	if (!conf_hostname_ok(s, len))
		return (-1);
	*hostp = s;
	*hlenp = len;
	*rest = s + len;
	return (0);
}

/* redis: "redis://HOST[:PORT][/DB]", HOST a name, IPv4 or [IPv6]. */
static int
set_redis(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	struct cf_conf		*c = p->conf;
	const char		*s, *host, *rest, *end;
	unsigned long long	 db = 0;
	size_t			 hlen, plen;
	int			 port = 6379;
	char			*url, *h, pbuf[8];

	(void)r;
	if (!conf_has_prefix(v, "redis://"))
		return (conf_why(p, CONF_EINVAL,
		    "expected redis://host[:port][/db]"));
	s = v + strlen("redis://");
	if (conf_split_host(s, 1, &host, &hlen, &rest) == -1)
		return (conf_why(p, CONF_EINVAL, "bad host name or address"));
	if (rest[0] == ':') {
		plen = strcspn(rest + 1, "/");
		if (plen == 0 || plen >= sizeof(pbuf))
			return (conf_why(p, CONF_EINVAL,
			    "port must be a number between 1 and 65535"));
		memcpy(pbuf, rest + 1, plen);
		pbuf[plen] = '\0';
		if (conf_port(pbuf, &port) == -1)
			return (conf_why(p, CONF_EINVAL,
			    "port must be a number between 1 and 65535"));
		rest += 1 + plen;
	}
	if (rest[0] == '/' && rest[1] != '\0') {
		if (conf_number(rest + 1, &db, &end) == -1 || *end != '\0' ||
		    db > INT_MAX)
			return (conf_why(p, CONF_EINVAL,
			    "database must be a number"));
	} else if (rest[0] != '\0' && strcmp(rest, "/") != 0)
		return (conf_why(p, CONF_EINVAL,
		    "expected redis://host[:port][/db]"));

	if ((url = strdup(v)) == NULL)
		return (conf_why(p, CONF_ESYS, "out of memory"));
	if ((h = strndup(host, hlen)) == NULL) {
		free(url);
		return (conf_why(p, CONF_ESYS, "out of memory"));
	}
	free(c->redis);
	free(c->redis_host);
	c->redis = url;
	c->redis_host = h;
	c->redis_port = port;
	c->redis_db = (int)db;
	return (CONF_OK);
}

/* cors-origin: "*" or "scheme://host[:port]" without a path. */
static int
set_origin(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	struct cf_conf	*c = p->conf;
	const char	*s, *host, *rest;
	size_t		 hlen;
	int		 i, port;
	char		*dup;

	(void)r;
	if (strcmp(v, "*") != 0) {
		s = v;
		if (!isalpha((unsigned char)*s))
			return (conf_why(p, CONF_EINVAL,
			    "expected * or scheme://host[:port]"));
		while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' ||
		    *s == '.')
			s++;
		if (!conf_has_prefix(s, "://"))
			return (conf_why(p, CONF_EINVAL,
			    "expected * or scheme://host[:port]"));
		if (conf_split_host(s + 3, 0, &host, &hlen, &rest) == -1)
			return (conf_why(p, CONF_EINVAL,
			    "bad host name or address"));
		if (rest[0] == ':') {
			if (conf_port(rest + 1, &port) == -1)
				return (conf_why(p, CONF_EINVAL,
				    "port must be a number between 1 and "
				    "65535"));
		} else if (rest[0] != '\0')
			return (conf_why(p, CONF_EINVAL,
			    "an origin has no path"));
	}
	for (i = 0; i < c->ncors_origins; i++)
		if (strcasecmp(c->cors_origins[i], v) == 0)
			return (conf_why(p, CONF_EINVAL, "duplicate origin"));
	if (c->ncors_origins == CF_CONF_MAX_ORIGINS)
		return (conf_why(p, CONF_EINVAL,
		    "too many origins (at most %d)", CF_CONF_MAX_ORIGINS));
	if ((dup = strdup(v)) == NULL)
		return (conf_why(p, CONF_ESYS, "out of memory"));
	c->cors_origins[c->ncors_origins++] = dup;
	return (CONF_OK);
}

/* 1 when the first `bits` bits of a and b are equal. */
static int
conf_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int	 full = bits / 8, rest = bits % 8;
	uint8_t	 mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return (0);
	if (rest == 0)
		return (1);
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[full] & mask) == (b[full] & mask));
}

/*
 * Parse one metrics-allow value: "any", or an IPv4 or IPv6 address with
 * an optional "/PREFIX" (no bit may be set after the prefix).  An
 * IPv4-mapped IPv6 prefix of at least 96 bits is stored as IPv4.
 */
static int
conf_allow_parse(struct conf_parse *p, const char *v, struct cf_allow *a)
{
	char			 host[INET6_ADDRSTRLEN];
	const char		*slash, *end;
	unsigned long long	 n;
	size_t			 hlen;
	int			 i, max;

	memset(a, 0, sizeof(*a));
	if (strcmp(v, "any") == 0) {
		a->family = AF_UNSPEC;
		return (CONF_OK);
	}
	slash = strchr(v, '/');
	hlen = slash != NULL ? (size_t)(slash - v) : strlen(v);
	if (hlen == 0 || hlen >= sizeof(host))
		return (conf_why(p, CONF_EINVAL,
		    "expected an IPv4 or IPv6 address[/prefix] or any"));
	memcpy(host, v, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, a->addr) == 1) {
		a->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, a->addr) == 1) {
		a->family = AF_INET6;
		max = 128;
	} else
		return (conf_why(p, CONF_EINVAL,
		    "expected an IPv4 or IPv6 address[/prefix] or any"));
	a->prefix = max;
	if (slash != NULL) {
		if (conf_number(slash + 1, &n, &end) == -1 || *end != '\0' ||
		    n > (unsigned long long)max)
			return (conf_why(p, CONF_EINVAL,
			    "prefix length must be between 0 and %d", max));
		a->prefix = (int)n;
		for (i = a->prefix; i < max; i++)
			if (a->addr[i / 8] & (0x80 >> (i % 8)))
				return (conf_why(p, CONF_EINVAL,
				    "address bits set after the /%d prefix",
				    a->prefix));
	}
	if (a->family == AF_INET6 && a->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(void *)a->addr)) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
		a->prefix -= 96;
	}
	return (CONF_OK);
}

/*
 * metrics-allow ADDRESS...: each value is parsed by conf_allow_parse and
 * appended to metrics_allow[]; a duplicate or the 33rd entry is an error.
 */
static int
set_allow(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	struct cf_conf	*c = p->conf;
	struct cf_allow	 a;
	int		 i, j, ret;

	(void)r;
	for (i = 0; i < argc; i++) {
		if ((ret = conf_allow_parse(p, argv[i], &a)) != CONF_OK)
			return (ret);
		for (j = 0; j < c->nmetrics_allow; j++)
			if (memcmp(&c->metrics_allow[j], &a, sizeof(a)) == 0)
				return (conf_why(p, CONF_EINVAL,
				    "duplicate address \"%s\"", argv[i]));
		if (c->nmetrics_allow == CF_CONF_MAX_ALLOW)
			return (conf_why(p, CONF_EINVAL,
			    "too many addresses (at most %d)",
			    CF_CONF_MAX_ALLOW));
		c->metrics_allow[c->nmetrics_allow++] = a;
	}
	return (CONF_OK);
}

/*
 * 1 when `origin` is allowed: some cors-origin is "*", or one equals it
 * ignoring case (no normalisation: "http://h:80" does not match
 * "http://h").  A NULL or empty origin is allowed only by "*".
 */
int
cf_conf_origin_allowed(const struct cf_conf *conf, const char *origin)
{
	int	 i;

	if (conf == NULL)
		return (0);
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcmp(conf->cors_origins[i], "*") == 0)
			return (1);
	if (origin == NULL || origin[0] == '\0')
		return (0);
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcasecmp(conf->cors_origins[i], origin) == 0)
			return (1);
	return (0);
}

/*
 * 1 when sa matches a metrics-allow entry: "any", or an entry of the same
 * family whose first prefix bits equal the address's.  An IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) is matched as the IPv4 address a.b.c.d.
 * 0 for a NULL conf or sa, or another address family.
 */
int
cf_conf_metrics_allowed(const struct cf_conf *conf, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const uint8_t			*addr;
	int				 family, i;

	if (conf == NULL || sa == NULL)
		return (0);
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		addr = (const uint8_t *)&sin->sin_addr;
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		addr = sin6->sin6_addr.s6_addr;
		family = AF_INET6;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			addr += 12;
			family = AF_INET;
		}
	} else
		return (0);
	for (i = 0; i < conf->nmetrics_allow; i++) {
		if (conf->metrics_allow[i].family == AF_UNSPEC)
			return (1);
		if (conf->metrics_allow[i].family == family &&
		    conf_prefix_eq(conf->metrics_allow[i].addr, addr,
		    conf->metrics_allow[i].prefix))
			return (1);
	}
	return (0);
}

/* ------------------------------------------------- render and compare */

static void
render_listen(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	int	 i;

	(void)r;
	buf[0] = '\0';
	for (i = 0; i < c->nlisten; i++) {
		if (i > 0)
			conf_cat(buf, len, " ");
		conf_cat(buf, len, c->listen[i].text);
	}
}

/*
 * The same addresses in the same order: "3001" and "*:3001" are one
 * address, so rewriting a listen line does not start a new generation.
 */
int
cf_conf_listen_port(const struct cf_listen *l)
{
	if (l->addr.ss_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)&l->addr)->sin_port));
	return (ntohs(((const struct sockaddr_in6 *)&l->addr)->sin6_port));
}

int
conf_same_address(const struct cf_listen *la, const struct cf_listen *lb)
{
	return (la->addrlen == lb->addrlen && la->any == lb->any &&
	    la->v6only == lb->v6only &&
	    memcmp(&la->addr, &lb->addr, la->addrlen) == 0);
}

static int
same_listen(const struct cf_conf *a, const struct cf_conf *b,
    const struct conf_rule *r)
{
	int			 i;

	(void)r;
	if (a->nlisten != b->nlisten)
		return (0);
	for (i = 0; i < a->nlisten; i++)
		if (!conf_same_address(&a->listen[i], &b->listen[i]))
			return (0);
	return (1);
}

static void
render_origin(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	(void)r;
	conf_render_list(buf, len, c->cors_origins, c->ncors_origins);
}

static void
render_allow(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	const struct cf_allow	*a;
	char			 tmp[INET6_ADDRSTRLEN + 8];
	int			 i;

	(void)r;
	buf[0] = '\0';
	for (i = 0; i < c->nmetrics_allow; i++) {
		a = &c->metrics_allow[i];
		if (i > 0)
			conf_cat(buf, len, " ");
		if (a->family == AF_UNSPEC) {
			conf_cat(buf, len, "any");
			continue;
		}
		if (inet_ntop(a->family, a->addr, tmp, sizeof(tmp)) == NULL)
			snprintf(tmp, sizeof(tmp), "?");
		conf_cat(buf, len, tmp);
		snprintf(tmp, sizeof(tmp), "/%d", a->prefix);
		conf_cat(buf, len, tmp);
	}
}

/* ------------------------------------------------------------ webhooks */

const char *const cf_conf_hook_events[] = {
	"message.created", "channel.created", "channel.updated",
	"channel.archived", "member.added", "member.removed", "call.missed",
	"user.online", "user.offline", "message.updated", "message.deleted",
	NULL
};

uint32_t
cf_conf_hook_event(const char *name)
{
	int	 i;

	for (i = 0; cf_conf_hook_events[i] != NULL; i++)
		if (strcmp(cf_conf_hook_events[i], name) == 0)
			return (1u << i);
	return (0);
}

/*
 * webhook URL [EVENT...]: an http:// or https:// URL with a host, at most
 * r->max bytes, no blank or control character, each URL once (it names
 * the endpoint's queue in the outbox); the events known names, none
 * meaning all of them.
 */
static int
set_webhook(struct conf_parse *p, const struct conf_rule *r,
    char *const *argv, int argc)
{
	struct cf_conf	*c = p->conf;
	const char	*v = argv[0], *s, *host;
	uint32_t	 events = 0, bit;
	int		 i;
	char		*dup;

	if (conf_has_prefix(v, "http://"))
		host = v + 7;
	else if (conf_has_prefix(v, "https://"))
		host = v + 8;
	else
		return (conf_why(p, CONF_EINVAL,
		    "must be an http:// or https:// URL"));
	if (*host == '\0' || *host == '/')
		return (conf_why(p, CONF_EINVAL, "no host in URL"));
	if ((long long)strlen(v) > r->max)
		return (conf_why(p, CONF_EINVAL, "longer than %lld bytes",
		    r->max));
	for (s = v; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return (conf_why(p, CONF_EINVAL,
			    "blank or control character in URL"));
	for (i = 1; i < argc; i++) {
		if ((bit = cf_conf_hook_event(argv[i])) == 0)
			return (conf_why(p, CONF_EINVAL,
			    "unknown event \"%s\"", argv[i]));
		events |= bit;
	}
	for (i = 0; i < c->nwebhooks; i++)
		if (strcmp(c->webhooks[i].url, v) == 0)
			return (conf_why(p, CONF_EINVAL, "duplicate webhook"));
	if (c->nwebhooks == CF_CONF_MAX_WEBHOOKS)
		return (conf_why(p, CONF_EINVAL,
		    "too many webhooks (at most %d)", CF_CONF_MAX_WEBHOOKS));
	if ((dup = strdup(v)) == NULL)
		return (conf_why(p, CONF_ESYS, "out of memory"));
	c->webhooks[c->nwebhooks].url = dup;
	c->webhooks[c->nwebhooks++].events =
	    events == 0 ? CF_CONF_HOOK_ALL : events;
	return (CONF_OK);
}

static void
render_webhook(const struct cf_conf *c, const struct conf_rule *r,
    char *buf, size_t len)
{
	int	 i, j;

	(void)r;
	buf[0] = '\0';
	if (c->nwebhooks == 0)
		conf_cat(buf, len, "(unset)");
	for (i = 0; i < c->nwebhooks; i++) {
		if (i > 0)
			conf_cat(buf, len, ", ");
		conf_cat(buf, len, c->webhooks[i].url);
		if (c->webhooks[i].events == CF_CONF_HOOK_ALL)
			continue;
		for (j = 0; cf_conf_hook_events[j] != NULL; j++)
			if (c->webhooks[i].events & (1u << j)) {
				conf_cat(buf, len, " ");
				conf_cat(buf, len, cf_conf_hook_events[j]);
			}
	}
}

static int
same_webhook(const struct cf_conf *a, const struct cf_conf *b,
    const struct conf_rule *r)
{
	int	 i;

	(void)r;
	if (a->nwebhooks != b->nwebhooks)
		return (0);
	for (i = 0; i < a->nwebhooks; i++)
		if (strcmp(a->webhooks[i].url, b->webhooks[i].url) != 0 ||
		    a->webhooks[i].events != b->webhooks[i].events)
			return (0);
	return (1);
}

/* ----------------------------------------------------------- the ops */

const struct conf_ops conf_ops_listen = {
	.set = set_listen, .render = render_listen, .same = same_listen
};
const struct conf_ops conf_ops_database = {
	.set = set_database, .render = conf_render_str, .same = conf_same_str
};
const struct conf_ops conf_ops_redis = {
	.set = set_redis, .render = conf_render_str, .same = conf_same_str
};
const struct conf_ops conf_ops_origin = {
	.set = set_origin, .render = render_origin
};
const struct conf_ops conf_ops_allow = {
	.setv = set_allow, .render = render_allow
};
const struct conf_ops conf_ops_webhook = {
	.setv = set_webhook, .render = render_webhook, .same = same_webhook
};
