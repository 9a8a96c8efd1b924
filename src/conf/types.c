/*
 * types.c -- the value types of the configuration: numbers, durations,
 * sizes, booleans, strings, paths, choices, log levels, worker counts, the
 * PEM public key, roles, the rate limit and ICE servers.
 *
 * Each type is a struct conf_ops: set/setv parse the argument(s) of a
 * directive line into the snapshot, render writes the value back as it
 * could be written in the file (for the reload diff and its log lines),
 * same compares two snapshots when the rendered text would not do.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf/conf_int.h"
#include "perm.h"

_Static_assert(sizeof(((struct cf_role *)0)->name) == CONF_ROLE_MAXLEN + 1,
    "CONF_ROLE_MAXLEN does not match struct cf_role");
_Static_assert(CF_PERM_ALL == (1u << CONF_NPERMS) - 1,
    "CONF_NPERMS does not match perm.h");
_Static_assert(1 + CONF_NPERMS < CONF_MAX_TOKENS,
    "a role line with every permission does not fit CONF_MAX_TOKENS");

void *
conf_field(struct conf_parse *p, const struct conf_rule *r)
{
	return ((char *)p->conf + r->d.offset);
}

/* The field of r in a finished snapshot, for render and same. */
const void *
conf_cfield(const struct cf_conf *c, const struct conf_rule *r)
{
	return ((const char *)c + r->d.offset);
}

/*
 * Parse an unsigned decimal number at the start of s into *v and point
 * *end after it.  -1 when s does not start with a digit or on overflow.
 */
int
conf_number(const char *s, unsigned long long *v, const char **end)
{
	unsigned long long	 n = 0;

	if (!isdigit((unsigned char)*s))
		return (-1);
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (ULLONG_MAX - 9) / 10)
			return (-1);
		n = n * 10 + (unsigned)(*s - '0');
	}
	*v = n;
	*end = s;
	return (0);
}

/* Replace the string field of r by a copy of s (or by s itself if owned). */
int
conf_store_str(struct conf_parse *p, const struct conf_rule *r, char *owned)
{
	char	**fp = conf_field(p, r);

	if (owned == NULL)
		return (conf_why(p, CONF_ESYS, "out of memory"));
	free(*fp);
	*fp = owned;
	return (CONF_OK);
}

int
conf_has_prefix(const char *s, const char *prefix)
{
	return (strncmp(s, prefix, strlen(prefix)) == 0);
}

static int
set_u32(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	unsigned long long	 n;
	const char		*end;

	if (conf_number(v, &n, &end) == -1 || *end != '\0')
		return (conf_why(p, CONF_EINVAL, "not a number"));
	if ((long long)n < r->min || (long long)n > r->max || n > UINT32_MAX)
		return (conf_why(p, CONF_EINVAL, "must be between %lld and %lld",
		    r->min, r->max));
	*(uint32_t *)conf_field(p, r) = (uint32_t)n;
	return (CONF_OK);
}

/* Format a millisecond count with the largest exact unit (0 as "0s"). */
static void
conf_fmt_ms(char *buf, size_t len, long long ms)
{
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % CONF_HOUR_MS == 0)
		snprintf(buf, len, "%lldh", ms / CONF_HOUR_MS);
	else if (ms % 60000 == 0)
		snprintf(buf, len, "%lldm", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%llds", ms / 1000);
	else
		snprintf(buf, len, "%lldms", ms);
}

static int
set_duration(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	static const struct {
		const char	*suffix;
		unsigned	 mult;
	} units[] = {
		{ "", 1 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	unsigned long long	 n;
	const char		*end;
	char			 lo[32], hi[32];
	size_t			 i;

	if (conf_number(v, &n, &end) == -1)
		return (conf_why(p, CONF_EINVAL,
		    "expected a number with an optional unit ms, s, m or h"));
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return (conf_why(p, CONF_EINVAL,
		    "unknown unit \"%s\" (use ms, s, m or h)", end));
	if (n > (unsigned long long)r->max ||
	    n * units[i].mult > (unsigned long long)r->max ||
	    (long long)(n * units[i].mult) < r->min) {
		conf_fmt_ms(lo, sizeof(lo), r->min);
		conf_fmt_ms(hi, sizeof(hi), r->max);
		return (conf_why(p, CONF_EINVAL, "must be between %s and %s",
		    lo, hi));
	}
	*(uint32_t *)conf_field(p, r) = (uint32_t)(n * units[i].mult);
	return (CONF_OK);
}

/*
 * An age: "off" (0), or a number with a unit s, m, h or d (no bare
 * number: ages are long and a missing unit is a mistake) of min..max
 * seconds, stored as milliseconds.
 */
static int
set_age(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	static const struct {
		const char	*suffix;
		unsigned	 mult;
	} units[] = {
		{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
	};
	unsigned long long	 n;
	const char		*end;
	size_t			 i;

	if (strcmp(v, "off") == 0) {
		*(uint64_t *)conf_field(p, r) = 0;
		return (CONF_OK);
	}
	if (conf_number(v, &n, &end) == -1)
		return (conf_why(p, CONF_EINVAL,
		    "expected off or a number with a unit s, m, h or d"));
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return (conf_why(p, CONF_EINVAL,
		    "unknown unit \"%s\" (use s, m, h or d)", end));
	if (n > (unsigned long long)r->max ||
	    n * units[i].mult > (unsigned long long)r->max ||
	    (long long)(n * units[i].mult) < r->min)
		return (conf_why(p, CONF_EINVAL,
		    "must be off or between %llds and %llds", r->min, r->max));
	*(uint64_t *)conf_field(p, r) = n * units[i].mult * 1000ULL;
	return (CONF_OK);
}

static int
set_size(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	unsigned long long	 n, mult = 1;
	const char		*end;

	if (conf_number(v, &n, &end) == -1)
		return (conf_why(p, CONF_EINVAL,
		    "expected a number with an optional unit k, m or g"));
	if (end[0] != '\0' && end[1] == '\0') {
		switch (tolower((unsigned char)end[0])) {
		case 'k':
			mult = 1024;
			break;
		case 'm':
			mult = 1024 * 1024;
			break;
		case 'g':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			mult = 0;
			break;
		}
	} else if (end[0] != '\0')
		mult = 0;
	if (mult == 0)
		return (conf_why(p, CONF_EINVAL,
		    "unknown unit \"%s\" (use k, m or g)", end));
	if (n > (unsigned long long)r->max ||
	    n * mult > (unsigned long long)r->max ||
	    (long long)(n * mult) < r->min)
		return (conf_why(p, CONF_EINVAL,
		    "must be between %lld and %lld bytes", r->min, r->max));
	*(size_t *)conf_field(p, r) = (size_t)(n * mult);
	return (CONF_OK);
}

static int
set_bool(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	static const char *const yes[] = { "yes", "on", "true" };
	static const char *const no[] = { "no", "off", "false" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*(int *)conf_field(p, r) = 1;
			return (CONF_OK);
		}
		if (strcasecmp(v, no[i]) == 0) {
			*(int *)conf_field(p, r) = 0;
			return (CONF_OK);
		}
	}
	return (conf_why(p, CONF_EINVAL, "expected yes, no, on, off, true "
	    "or false"));
}

static int
set_string(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	if (r->min == 1 && v[0] == '\0')
		return (conf_why(p, CONF_EINVAL, "empty string"));
	if ((long long)strlen(v) < r->min)
		return (conf_why(p, CONF_EINVAL, "must be at least %lld bytes",
		    r->min));
	if (r->max > 0 && (long long)strlen(v) > r->max)
		return (conf_why(p, CONF_EINVAL, "must be at most %lld bytes",
		    r->max));
	return (conf_store_str(p, r, strdup(v)));
}

static int
set_path(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	char	*abs;

	if (v[0] == '\0')
		return (conf_why(p, CONF_EINVAL, "empty path"));
	if ((abs = conf_abspath_cwd(p, v)) == NULL)
		return (CONF_ESYS);
	return (conf_store_str(p, r, abs));
}

/* Index of v in the NULL-terminated choices, or -1 (why[] set). */
static int
conf_choice(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	char	 list[160];
	size_t	 o = 0;
	int	 i;

	for (i = 0; r->choices[i] != NULL; i++)
		if (strcmp(v, r->choices[i]) == 0)
			return (i);
	list[0] = '\0';
	for (i = 0; r->choices[i] != NULL && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i == 0 ? "" : r->choices[i + 1] == NULL ? " or " : ", ",
		    r->choices[i]);
	conf_why(p, CONF_EINVAL, "expected %s", list);
	return (-1);
}

static int
set_choice(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	int	 i;

	if ((i = conf_choice(p, r, v)) == -1)
		return (CONF_EINVAL);
	return (conf_store_str(p, r, strdup(r->choices[i])));
}

static int
set_level(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	int	 i;

	if ((i = conf_choice(p, r, v)) == -1)
		return (CONF_EINVAL);
	*(int *)conf_field(p, r) = i;
	return (CONF_OK);
}

static int
set_workers(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	unsigned long long	 n;
	const char		*end;
	long			 ncpu;

	if (strcmp(v, "auto") == 0) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (ncpu < r->min)
			ncpu = (long)r->min;
		if (ncpu > r->max)
			ncpu = (long)r->max;
		*(int *)conf_field(p, r) = (int)ncpu;
		return (CONF_OK);
	}
	if (conf_number(v, &n, &end) == -1 || *end != '\0')
		return (conf_why(p, CONF_EINVAL, "expected auto or a number"));
	if ((long long)n < r->min || n > (unsigned long long)r->max)
		return (conf_why(p, CONF_EINVAL, "must be between %lld and %lld",
		    r->min, r->max));
	*(int *)conf_field(p, r) = (int)n;
	return (CONF_OK);
}

/*
 * jwt-public-key: the path (made absolute) of a PEM public key; the file
 * is read now, at most r->max bytes, and must hold a PEM public key block.
 * Stores the path in the field and the contents in jwt_public_key_pem and
 * jwt_public_key_len, replacing nothing (the directive is given once).
 */
static int
set_pemkey(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	static const char *const markers[] = {
		"-----BEGIN PUBLIC KEY-----",
		"-----BEGIN RSA PUBLIC KEY-----",
		"-----BEGIN EC PUBLIC KEY-----",
	};
	struct cf_conf	*c = p->conf;
	char		*abs, *pem;
	size_t		 len, i;

	if (v[0] == '\0')
		return (conf_why(p, CONF_EINVAL, "empty path"));
	if ((abs = conf_abspath_cwd(p, v)) == NULL)
		return (CONF_ESYS);
	if ((pem = conf_read_file(abs, (size_t)r->max, &len)) == NULL) {
		if (errno == EFBIG)
			conf_why(p, CONF_EMSG, "%s \"%s\": larger than %lld "
			    "bytes", r->d.name, abs, r->max);
		else
			conf_why(p, CONF_EMSG, "%s \"%s\": cannot read: %s",
			    r->d.name, abs, strerror(errno));
		free(abs);
		return (CONF_EMSG);
	}
	for (i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
		if (strstr(pem, markers[i]) != NULL)
			break;
	if (memchr(pem, '\0', len) != NULL ||
	    i == sizeof(markers) / sizeof(markers[0])) {
		conf_why(p, CONF_EMSG, "%s \"%s\": not a PEM public key",
		    r->d.name, abs);
		free(pem);
		free(abs);
		return (CONF_EMSG);
	}
	free(c->jwt_public_key_pem);
	c->jwt_public_key_pem = pem;
	c->jwt_public_key_len = len;
	return (conf_store_str(p, r, abs));
}

/* The roles present before the file is read; a role line replaces one. */
static const struct cf_role role_defaults[] = {
	{ "admin", CF_PERM_ALL },
	{ "agent", CF_PERM_ALL & ~(CF_PERM_CREATE_CHANNELS |
	    CF_PERM_MANAGE_CHANNELS | CF_PERM_SEND_BROADCASTS |
	    CF_PERM_MODERATE_MESSAGES) },
	{ "user", CF_PERM_ALL & ~(CF_PERM_CREATE_CHANNELS |
	    CF_PERM_MANAGE_CHANNELS | CF_PERM_SEND_BROADCASTS |
	    CF_PERM_MODERATE_MESSAGES) },
};

static void
init_roles(struct conf_parse *p, const struct conf_rule *r)
{
	struct cf_conf	*c = p->conf;
	size_t		 i;

	(void)r;
	for (i = 0; i < sizeof(role_defaults) / sizeof(role_defaults[0]); i++)
		c->roles[c->nroles++] = role_defaults[i];
}

/* 1 when name is 1..CONF_ROLE_MAXLEN of [a-z0-9_-]. */
static int
conf_role_name_ok(const char *name)
{
	size_t	 i;

	for (i = 0; name[i] != '\0'; i++)
		if (!(name[i] >= 'a' && name[i] <= 'z') &&
		    !(name[i] >= '0' && name[i] <= '9') &&
		    name[i] != '_' && name[i] != '-')
			return (0);
	return (i >= 1 && i <= CONF_ROLE_MAXLEN);
}

/*
 * role NAME PERMISSION... or role NAME none.  A default role is replaced
 * once; a role given by a line cannot be given again.
 */
static int
set_role(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	struct cf_conf	*c = p->conf;
	const char	*name = argv[0];
	uint32_t	 perms = 0, bit;
	int		 i;

	(void)r;
	if (!conf_role_name_ok(name))
		return (conf_why(p, CONF_EMSG, "invalid role name \"%s\": "
		    "expected 1 to %d of a-z, 0-9, _ and -", name,
		    CONF_ROLE_MAXLEN));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "none") == 0) {
			if (argc != 2)
				return (conf_why(p, CONF_EMSG, "\"none\" must "
				    "be the only permission of role \"%s\"",
				    name));
			continue;
		}
		if ((bit = cf_perm_parse(argv[i])) == 0)
			return (conf_why(p, CONF_EMSG, "unknown permission "
			    "\"%s\" for role \"%s\"", argv[i], name));
		if (perms & bit)
			return (conf_why(p, CONF_EMSG, "permission \"%s\" "
			    "given twice for role \"%s\"", argv[i], name));
		perms |= bit;
	}
	for (i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			break;
	if (i < c->nroles && p->role_given[i])
		return (conf_why(p, CONF_EMSG, "role \"%s\" given twice", name));
	if (i == c->nroles) {
		if (c->nroles == CF_CONF_MAX_ROLES)
			return (conf_why(p, CONF_EMSG, "too many roles (at "
			    "most %d)", CF_CONF_MAX_ROLES));
		snprintf(c->roles[i].name, sizeof(c->roles[i].name), "%s",
		    name);
		c->nroles++;
	}
	c->roles[i].perms = perms;
	p->role_given[i] = 1;
	return (CONF_OK);
}

/*
 * rate-limit EVENTS SECONDS: EVENTS within [min, max], SECONDS 1..3600,
 * into two uint32_t fields, events then the window in milliseconds.
 */
static int
set_rate(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	unsigned long long	 events, secs;
	const char		*end;
	uint32_t		*rate;

	(void)argc;
	if (conf_number(argv[0], &events, &end) == -1 || *end != '\0' ||
	    conf_number(argv[1], &secs, &end) == -1 || *end != '\0')
		return (conf_why(p, CONF_EINVAL, "expected a number of events "
		    "and a number of seconds"));
	if (events < (unsigned long long)r->min ||
	    events > (unsigned long long)r->max)
		return (conf_why(p, CONF_EINVAL, "events must be between %lld "
		    "and %lld", r->min, r->max));
	if (secs < 1 || secs > CONF_RATE_MAX_WINDOW)
		return (conf_why(p, CONF_EINVAL, "seconds must be between 1 "
		    "and %d", CONF_RATE_MAX_WINDOW));
	rate = conf_field(p, r);
	rate[0] = (uint32_t)events;
	rate[1] = (uint32_t)secs * 1000;
	return (CONF_OK);
}

/*
 * ice-server: a "stun:", "stuns:", "turn:" or "turns:" URL with something
 * after the scheme, at most r->max bytes, no blank or control character.
 */
static int
set_ice(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	static const char *const schemes[] = {
		"stun:", "stuns:", "turn:", "turns:"
	};
	struct cf_conf	*c = p->conf;
	const char	*s;
	size_t		 i;
	int		 j;
	char		*dup;

	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		if (conf_has_prefix(v, schemes[i]))
			break;
	if (i == sizeof(schemes) / sizeof(schemes[0]))
		return (conf_why(p, CONF_EINVAL,
		    "must be a stun:, stuns:, turn: or turns: URL"));
	if (v[strlen(schemes[i])] == '\0')
		return (conf_why(p, CONF_EINVAL, "no host after \"%s\"",
		    schemes[i]));
	if ((long long)strlen(v) > r->max)
		return (conf_why(p, CONF_EINVAL, "longer than %lld bytes",
		    r->max));
	for (s = v; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return (conf_why(p, CONF_EINVAL,
			    "blank or control character in URL"));
	for (j = 0; j < c->nice_servers; j++)
		if (strcasecmp(c->ice_servers[j], v) == 0)
			return (conf_why(p, CONF_EINVAL, "duplicate ice-server"));
	if (c->nice_servers == CF_CONF_MAX_ICE)
		return (conf_why(p, CONF_EINVAL,
		    "too many ice servers (at most %d)", CF_CONF_MAX_ICE));
	if ((dup = strdup(v)) == NULL)
		return (conf_why(p, CONF_ESYS, "out of memory"));
	c->ice_servers[c->nice_servers++] = dup;
	return (CONF_OK);
}

/*
 * The role named name in conf, or NULL: the one lookup behind
 * cf_conf_role_perms and cf_conf_role_known.
 */
static const struct cf_role *
conf_role_find(const struct cf_conf *conf, const char *name)
{
	int	 i;

	if (conf == NULL || name == NULL)
		return (NULL);
	for (i = 0; i < conf->nroles; i++)
		if (strcmp(conf->roles[i].name, name) == 0)
			return (&conf->roles[i]);
	return (NULL);
}

/*
 * The permission bits of `role`, or 0 when conf or role is NULL or the
 * role is unknown (as for a role defined with "none").
 */
uint32_t
cf_conf_role_perms(const struct cf_conf *conf, const char *role)
{
	const struct cf_role	*r;

	if ((r = conf_role_find(conf, role)) == NULL)
		return (0);
	return (r->perms);
}

/* 1 when `role` is a built-in or configured role (even one with "none"). */
int
cf_conf_role_known(const struct cf_conf *conf, const char *role)
{
	return (conf_role_find(conf, role) != NULL);
}

/* ------------------------------------------------- render and compare */

static void
render_u32(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	snprintf(buf, len, "%u", *(const uint32_t *)conf_cfield(c, r));
}

static void
render_duration(const struct cf_conf *c, const struct conf_rule *r,
    char *buf, size_t len)
{
	conf_fmt_ms(buf, len, *(const uint32_t *)conf_cfield(c, r));
}

/* The largest exact unit, as set_age reads it. */
static void
render_age(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	unsigned long long s = *(const uint64_t *)conf_cfield(c, r) / 1000;

	if (s == 0)
		snprintf(buf, len, "off");
	else if (s % 86400 == 0)
		snprintf(buf, len, "%llud", s / 86400);
	else if (s % 3600 == 0)
		snprintf(buf, len, "%lluh", s / 3600);
	else if (s % 60 == 0)
		snprintf(buf, len, "%llum", s / 60);
	else
		snprintf(buf, len, "%llus", s);
}

static void
render_size(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	snprintf(buf, len, "%zu", *(const size_t *)conf_cfield(c, r));
}

static void
render_bool(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s", *(const int *)conf_cfield(c, r) ? "yes" :
	    "no");
}

static void
render_level(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s", r->choices[*(const int *)conf_cfield(c, r)]);
}

static void
render_int(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	snprintf(buf, len, "%d", *(const int *)conf_cfield(c, r));
}

/* A char * field: its text, or "(unset)" for NULL. */
void
conf_render_str(const struct cf_conf *c, const struct conf_rule *r,
    char *buf, size_t len)
{
	const char	*s = *(char *const *)conf_cfield(c, r);

	snprintf(buf, len, "%s", s != NULL ? s : "(unset)");
}

/*
 * A char * field compared as a value: NULL (unset) differs from every
 * string, even one that renders as "(unset)".
 */
int
conf_same_str(const struct cf_conf *a, const struct cf_conf *b,
    const struct conf_rule *r)
{
	const char	*sa = *(char *const *)conf_cfield(a, r);
	const char	*sb = *(char *const *)conf_cfield(b, r);

	if (sa == NULL || sb == NULL)
		return (sa == sb);
	return (strcmp(sa, sb) == 0);
}

/* The n strings of v joined with spaces. */
void
conf_render_list(char *buf, size_t len, char *const *v, int n)
{
	int	 i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			conf_cat(buf, len, " ");
		conf_cat(buf, len, v[i]);
	}
}

static uint32_t
conf_fnv(const char *s, size_t len)
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return (h);
}

/* The same path may hold another key: the text names its contents too. */
static void
render_pemkey(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	(void)r;
	if (c->jwt_public_key == NULL)
		snprintf(buf, len, "(unset)");
	else
		snprintf(buf, len, "%s (contents %08x)", c->jwt_public_key,
		    conf_fnv(c->jwt_public_key_pem, c->jwt_public_key_len));
}

/* "NAME PERMISSION...; NAME none; ..." in table order. */
static void
render_role(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	uint32_t	 bit;
	int		 i;

	(void)r;
	buf[0] = '\0';
	for (i = 0; i < c->nroles; i++) {
		if (i > 0)
			conf_cat(buf, len, "; ");
		conf_cat(buf, len, c->roles[i].name);
		if (c->roles[i].perms == 0)
			conf_cat(buf, len, " none");
		for (bit = 1; bit <= CF_PERM_ALL; bit <<= 1)
			if ((c->roles[i].perms & bit) &&
			    cf_perm_name(bit) != NULL) {
				conf_cat(buf, len, " ");
				conf_cat(buf, len, cf_perm_name(bit));
			}
	}
}

static void
render_rate(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	const uint32_t *rate = conf_cfield(c, r);

	snprintf(buf, len, "%u %u", rate[0], rate[1] / 1000);
}

static void
render_ice(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	(void)r;
	if (c->nice_servers == 0)
		snprintf(buf, len, "(unset)");
	else
		conf_render_list(buf, len, c->ice_servers, c->nice_servers);
}

/* ----------------------------------------------------------- the ops */

const struct conf_ops conf_ops_u32 = {
	.set = set_u32, .render = render_u32
};
const struct conf_ops conf_ops_duration = {
	.set = set_duration, .render = render_duration
};
const struct conf_ops conf_ops_size = {
	.set = set_size, .render = render_size
};
const struct conf_ops conf_ops_bool = {
	.set = set_bool, .render = render_bool
};
const struct conf_ops conf_ops_string = {
	.set = set_string, .render = conf_render_str, .same = conf_same_str
};
const struct conf_ops conf_ops_path = {
	.set = set_path, .render = conf_render_str, .same = conf_same_str
};
const struct conf_ops conf_ops_choice = {
	.set = set_choice, .render = conf_render_str, .same = conf_same_str
};
const struct conf_ops conf_ops_level = {
	.set = set_level, .render = render_level
};
const struct conf_ops conf_ops_workers = {
	.set = set_workers, .render = render_int
};
const struct conf_ops conf_ops_pemkey = {
	.set = set_pemkey, .render = render_pemkey
};
const struct conf_ops conf_ops_role = {
	.setv = set_role, .init = init_roles, .render = render_role
};
const struct conf_ops conf_ops_rate = {
	.setv = set_rate, .render = render_rate
};
const struct conf_ops conf_ops_ice = {
	.set = set_ice, .render = render_ice
};
const struct conf_ops conf_ops_age = {
	.set = set_age, .render = render_age
};
