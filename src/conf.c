/*
 * conf.c -- parse the configuration file into an immutable snapshot.
 *
 * Every directive is one row of conf_rules[]: name, value type, offset
 * of its field in struct cf_conf, default, flags, bounds, number of
 * arguments and help.  The loader tokenizes each line, finds the row by
 * name, checks the argument count and calls the setter of the row's type;
 * no code is specific to one directive except the few setters of
 * structured types (listen, redis, role, ...).  Most types take one
 * argument; a few (role, rate-limit) take several and their setter gets
 * them all.  After the whole file is read, the defaults of the directives
 * that were not given are applied the same way, values that depend on
 * others (database on data-dir) are resolved, and settings that only make
 * sense together (jwt-algorithm and jwt-public-key) are checked.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conf.h"
#include "perm.h"

#define CONF_MAX_DEPTH		8		/* include nesting */
#define CONF_MAX_TOKENS		16		/* kept per line; more are counted */
#define CONF_MAX_FILE		(1024 * 1024)
#define CONF_MAX_LINE		(64 * 1024)
#define CONF_MAX_WORKERS	64
#define CONF_DEFAULT_SOURCE	"(defaults)"
#define CONF_ROLE_MAXLEN	31		/* longest role name */
#define CONF_RATE_MAX_WINDOW	3600		/* rate-limit seconds */

#define CONF_NPERMS		8		/* bits of CF_PERM_ALL */
#define CONF_MAX_ALLOW_ARGS	8		/* metrics-allow values per line */

_Static_assert(sizeof(((struct cf_role *)0)->name) == CONF_ROLE_MAXLEN + 1,
    "CONF_ROLE_MAXLEN does not match struct cf_role");
_Static_assert(CF_PERM_ALL == (1u << CONF_NPERMS) - 1,
    "CONF_NPERMS does not match perm.h");
_Static_assert(1 + CONF_NPERMS < CONF_MAX_TOKENS,
    "a role line with every permission does not fit CONF_MAX_TOKENS");

enum conf_type {
	T_U32,		/* integer within [min, max], uint32_t */
	T_DURATION,	/* number + ms|s|m|h (bare: ms), uint32_t milliseconds */
	T_SIZE,		/* number + k|m|g (powers of 1024), size_t */
	T_BOOL,		/* yes|no|on|off|true|false, int */
	T_STRING,	/* at least min bytes, char * */
	T_PATH,		/* resolved against the current directory, char * */
	T_CHOICE,	/* one of choices[], char * */
	T_LEVEL,	/* one of choices[], int index (enum cf_log_level) */
	T_WORKERS,	/* "auto" or [min, max], int */
	T_LISTEN,	/* listen[]/nlisten */
	T_DATABASE,	/* postgres URL or SQLite path, char * */
	T_REDIS,	/* redis://host[:port][/db], redis + redis_* */
	T_ORIGIN,	/* "*" or scheme://host[:port], cors_origins[] */
	T_ALLOW,	/* ADDRESS[/PREFIX]... or any, metrics_allow[] */
	T_PEMKEY,	/* path of a PEM public key of at most max bytes, read
			 * at load: jwt_public_key + jwt_public_key_pem/_len */
	T_ROLE,		/* NAME PERMISSION... | NAME none, roles[]/nroles */
	T_RATE,		/* EVENTS (within [min, max]) SECONDS, rate_limit_* */
	T_ICE,		/* stun:/stuns:/turn:/turns: URL of at most max
			 * bytes, ice_servers[]/nice_servers */
	T_NTYPES
};

struct conf_rule {
	struct cf_directive	 d;
	long long		 min;
	long long		 max;
	const char *const	*choices;	/* NULL-terminated */
	int			 argmin;	/* arguments after the name; */
	int			 argmax;	/* argmax < CONF_MAX_TOKENS */
};

static const char *const level_choices[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const sync_choices[] = {
	"full", "normal", "off", NULL
};
static const char *const jwt_alg_choices[] = {
	"HS256", "HS384", "HS512", "RS256", "ES256", NULL
};

#define F(field)	offsetof(struct cf_conf, field)
#define HOUR_MS		(3600LL * 1000)

/* Every row: { { name, type, field, default, flags, help }, min, max,
 * choices, argmin, argmax }. */
static const struct conf_rule conf_rules[] = {
	{ { "listen", T_LISTEN, F(listen), "*:3001", CF_CONF_MULTI,
	    "address and port to accept connections on" },
	    0, 0, NULL, 1, 1 },
	{ { "workers", T_WORKERS, F(workers), "auto", 0,
	    "number of worker processes, or auto for one per CPU" },
	    1, CONF_MAX_WORKERS, NULL, 1, 1 },
	{ { "data-dir", T_PATH, F(data_dir), "confab-data", 0,
	    "directory for the database and the generated JWT secret" },
	    0, 0, NULL, 1, 1 },
	{ { "database", T_DATABASE, F(database), "confab.db", 0,
	    "SQLite file (relative to data-dir) or postgresql:// URL" },
	    0, 0, NULL, 1, 1 },
	{ { "default-channel", T_STRING, F(default_channel), "general", 0,
	    "public channel created on a database without channels, or \"\"" },
	    0, 100, NULL, 1, 1 },
	{ { "sqlite-synchronous", T_CHOICE, F(sqlite_synchronous), "full", 0,
	    "full, normal or off: what a SQLite commit waits for on disk" },
	    0, 0, sync_choices, 1, 1 },
	{ { "redis", T_REDIS, F(redis), NULL, 0,
	    "redis://host[:port][/db] relaying events between servers" },
	    0, 0, NULL, 1, 1 },
	{ { "host-id", T_STRING, F(host_id), NULL, 0,
	    "this host's name in the cluster (default: random per run)" },
	    1, 32, NULL, 1, 1 },
	{ { "presence-host-timeout", T_DURATION, F(presence_host_timeout_ms),
	    "15s", CF_CONF_HOT,
	    "time after which a silent host's users count as offline" },
	    500, HOUR_MS, NULL, 1, 1 },
	{ { "cors-origin", T_ORIGIN, F(cors_origins), "http://localhost",
	    CF_CONF_MULTI | CF_CONF_HOT,
	    "origin allowed to connect from a browser, or *" },
	    0, 0, NULL, 1, 1 },
	{ { "metrics-allow", T_ALLOW, F(metrics_allow), "127.0.0.1 ::1",
	    CF_CONF_MULTI | CF_CONF_HOT,
	    "address or prefix allowed to read /metrics, or any" },
	    0, 0, NULL, 1, CONF_MAX_ALLOW_ARGS },
	{ { "log-level", T_LEVEL, F(log_level), "info", CF_CONF_HOT,
	    "error, warn, info or debug" }, 0, 0, level_choices, 1, 1 },
	{ { "log-payloads", T_BOOL, F(log_payloads), "no", CF_CONF_HOT,
	    "at log-level debug, log event payloads (never a token)" },
	    0, 0, NULL, 1, 1 },
	{ { "log-summary-interval", T_DURATION, F(log_summary_interval_ms),
	    "1m", CF_CONF_HOT,
	    "time between two info summary lines of a worker; 0: none" },
	    0, 24 * HOUR_MS, NULL, 1, 1 },
	{ { "pidfile", T_PATH, F(pidfile), NULL, 0,
	    "file the master writes its process id to" },
	    0, 0, NULL, 1, 1 },
	{ { "log-file", T_PATH, F(log_file), NULL, 0,
	    "file every process appends its log lines to, reopened on SIGUSR1" },
	    0, 0, NULL, 1, 1 },
	/* The default (confabd.sock in data-dir) is set by conf_finish. */
	{ { "control-socket", T_PATH, F(control_socket), NULL, 0,
	    "unix socket (mode 0600) confabctl talks to" },
	    0, 0, NULL, 1, 1 },
	{ { "user", T_STRING, F(user), NULL, 0,
	    "user the workers run as when the master starts as root" },
	    1, 0, NULL, 1, 1 },
	{ { "ping-interval", T_DURATION, F(ping_interval_ms), "25s",
	    CF_CONF_HOT, "interval between Engine.IO pings" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "ping-timeout", T_DURATION, F(ping_timeout_ms), "20s",
	    CF_CONF_HOT, "time a client has to answer a ping" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "connect-timeout", T_DURATION, F(connect_timeout_ms), "45s",
	    CF_CONF_HOT, "time a client has to join a namespace" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "upgrade-timeout", T_DURATION, F(upgrade_timeout_ms), "10s",
	    CF_CONF_HOT, "time a transport upgrade may take" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "shutdown-timeout", T_DURATION, F(shutdown_timeout_ms), "10s",
	    CF_CONF_HOT, "time workers have to close clients on stop" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-payload", T_SIZE, F(max_payload), "1000000", CF_CONF_HOT,
	    "largest accepted message or HTTP body, in bytes" },
	    1024, 64LL * 1024 * 1024, NULL, 1, 1 },
	{ { "max-output-buffer", T_SIZE, F(max_output_buffer), "1m",
	    CF_CONF_HOT, "bytes queued to one client beyond which it is "
	    "disconnected as a slow consumer" },
	    64 * 1024, 1024LL * 1024 * 1024, NULL, 1, 1 },
	{ { "presence-slots", T_U32, F(presence_slots), "65536", 0,
	    "capacity of the shared presence table" },
	    64, 16777216, NULL, 1, 1 },
	{ { "presence-broadcast", T_BOOL, F(presence_broadcast), "yes",
	    CF_CONF_HOT, "announce every connect and disconnect to all users" },
	    0, 0, NULL, 1, 1 },
	{ { "debug-events", T_BOOL, F(debug_events), "no", CF_CONF_HOT,
	    "enable the diagnostic events used by the test suite" },
	    0, 0, NULL, 1, 1 },
	{ { "jwt-secret", T_STRING, F(jwt_secret), NULL,
	    CF_CONF_HOT | CF_CONF_SECRET,
	    "HMAC secret for tokens (default: generated in data-dir)" },
	    32, 0, NULL, 1, 1 },
	{ { "jwt-secret-previous", T_STRING, F(jwt_secret_previous), NULL,
	    CF_CONF_HOT | CF_CONF_SECRET,
	    "previous HMAC secret, still accepted while keys rotate" },
	    32, 0, NULL, 1, 1 },
	{ { "jwt-algorithm", T_CHOICE, F(jwt_algorithm), "HS256",
	    CF_CONF_HOT, "HS256, HS384, HS512, RS256 or ES256" },
	    0, 0, jwt_alg_choices, 1, 1 },
	{ { "jwt-public-key", T_PEMKEY, F(jwt_public_key), NULL, CF_CONF_HOT,
	    "PEM public key file verifying RS256 or ES256 tokens" },
	    0, 64 * 1024, NULL, 1, 1 },
	{ { "jwt-issuer", T_STRING, F(jwt_issuer), NULL, CF_CONF_HOT,
	    "issuer (iss claim) every token must carry" },
	    1, 0, NULL, 1, 1 },
	{ { "jwt-audience", T_STRING, F(jwt_audience), NULL, CF_CONF_HOT,
	    "audience (aud claim) every token must name" },
	    1, 0, NULL, 1, 1 },
	{ { "jwt-leeway", T_DURATION, F(jwt_leeway_ms), "30s", CF_CONF_HOT,
	    "clock skew allowed when checking exp and nbf" },
	    0, HOUR_MS, NULL, 1, 1 },
	/* The default roles come from role_defaults[], not from def. */
	{ { "role", T_ROLE, F(roles), NULL, CF_CONF_MULTI | CF_CONF_HOT,
	    "a role and its permissions, or none" },
	    0, 0, NULL, 2, 1 + CONF_NPERMS },
	{ { "auth-timeout", T_DURATION, F(auth_timeout_ms), "10s",
	    CF_CONF_HOT, "time a client has to authenticate" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-unauthenticated", T_U32, F(max_unauthenticated), "2048",
	    CF_CONF_HOT, "connections not yet authenticated, host-wide" },
	    1, 1000000, NULL, 1, 1 },
	{ { "max-unauthenticated-per-ip", T_U32,
	    F(max_unauthenticated_per_ip), "64", CF_CONF_HOT,
	    "connections not yet authenticated from one address, or 0" },
	    0, 1000000, NULL, 1, 1 },
	{ { "attachment-timeout", T_DURATION, F(attachment_timeout_ms), "10s",
	    CF_CONF_HOT, "time the binary attachments of a packet may take" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "typing-timeout", T_DURATION, F(typing_timeout_ms), "6s",
	    CF_CONF_HOT, "time a typing indicator lasts without renewal" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "cleanup-interval", T_DURATION, F(cleanup_interval_ms), "5m",
	    CF_CONF_HOT, "interval between sweeps of expired state" },
	    1000, HOUR_MS, NULL, 1, 1 },
	{ { "max-message-length", T_U32, F(max_message_length), "4000",
	    CF_CONF_HOT, "longest chat message, in characters" },
	    1, 100000, NULL, 1, 1 },
	{ { "rate-limit", T_RATE, F(rate_limit_events), "20 1", CF_CONF_HOT,
	    "events a socket may send per number of seconds" },
	    1, 100000, NULL, 2, 2 },
	{ { "max-connections-per-user", T_U32, F(max_connections_per_user),
	    "20", CF_CONF_HOT, "simultaneous connections of one user" },
	    1, 10000, NULL, 1, 1 },
	{ { "call-ring-timeout", T_DURATION, F(call_ring_timeout_ms), "45s",
	    CF_CONF_HOT, "time a call may ring before it is missed" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "call-disconnect-grace", T_DURATION, F(call_disconnect_grace_ms),
	    "10s", CF_CONF_HOT,
	    "time a call survives the disconnection of a party" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-sdp-size", T_SIZE, F(max_sdp_size), "64k", CF_CONF_HOT,
	    "largest SDP offer or answer relayed, in bytes" },
	    1024, 1024 * 1024, NULL, 1, 1 },
	{ { "max-ice-candidate-size", T_SIZE, F(max_ice_candidate_size), "4k",
	    CF_CONF_HOT, "largest ICE candidate relayed, in bytes" },
	    256, 64 * 1024, NULL, 1, 1 },
	{ { "ice-server", T_ICE, F(ice_servers), NULL,
	    CF_CONF_MULTI | CF_CONF_HOT,
	    "STUN or TURN server URL handed to calling clients" },
	    0, 255, NULL, 1, 1 },
	{ { "turn-secret", T_STRING, F(turn_secret), NULL,
	    CF_CONF_HOT | CF_CONF_SECRET,
	    "secret shared with the TURN server for temporary credentials" },
	    16, 0, NULL, 1, 1 },
	{ { "turn-credential-ttl", T_DURATION, F(turn_credential_ttl_ms), "1h",
	    CF_CONF_HOT, "lifetime of the TURN credentials handed out" },
	    1000, 24 * HOUR_MS, NULL, 1, 1 },
};

#undef F

#define CONF_NRULES	(sizeof(conf_rules) / sizeof(conf_rules[0]))

/* State of one load: the snapshot under construction and the include stack. */
struct conf_parse {
	struct cf_conf	*conf;
	const char	*name;		/* main file or string name */
	unsigned	 seen[CONF_NRULES];
	char		*stack[CONF_MAX_DEPTH + 1];	/* real paths of open files */
	int		 depth;
	int		 db_is_url;
	unsigned char	 role_given[CF_CONF_MAX_ROLES];	/* by a role line */
	char		*err;
	size_t		 errlen;
	char		 why[CF_CONF_ERRLEN];	/* a setter's explanation */
};

/* Setter results. */
#define CONF_OK		0
#define CONF_EINVAL	(-1)	/* bad value: why[] explains */
#define CONF_ESYS	(-2)	/* system or memory error: why[] explains */
#define CONF_EMSG	(-3)	/* why[] is all the message after "file:line: " */

/*
 * What a type does: set (one argument) or setv (argmin..argmax of them)
 * stores the value(s) in the snapshot, init (may be NULL) installs
 * built-in values before the file is read.
 */
struct conf_ops {
	int	(*set)(struct conf_parse *, const struct conf_rule *,
		    const char *);
	int	(*setv)(struct conf_parse *, const struct conf_rule *,
		    char *const *, int);
	void	(*init)(struct conf_parse *, const struct conf_rule *);
};

static void
conf_err(struct conf_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record the first error only; later ones are consequences. */
static void
conf_err(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->err == NULL || p->errlen == 0 || p->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static int
conf_why(struct conf_parse *p, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Fill why[] and return ret, for setters. */
static int
conf_why(struct conf_parse *p, int ret, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return ret;
}

static void *
conf_field(struct conf_parse *p, const struct conf_rule *r)
{
	return (char *)p->conf + r->d.offset;
}

/*
 * Parse an unsigned decimal number at the start of s into *v and point
 * *end after it.  -1 when s does not start with a digit or on overflow.
 */
static int
conf_number(const char *s, unsigned long long *v, const char **end)
{
	unsigned long long	 n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (ULLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (unsigned)(*s - '0');
	}
	*v = n;
	*end = s;
	return 0;
}

/*
 * Make `path` absolute against `base` (ignored when path is absolute) and
 * normalise it lexically: no "//", "." or ".." components, no trailing
 * slash.  Symbolic links are not resolved and nothing needs to exist.
 * Returns a malloc'd string, or NULL when out of memory.
 */
static char *
conf_abspath(const char *base, const char *path)
{
	char	*joined, *out, *comp, *save;
	size_t	 len, o = 0;

	len = strlen(base) + strlen(path) + 2;
	if ((joined = malloc(len)) == NULL)
		return NULL;
	if (path[0] == '/')
		snprintf(joined, len, "%s", path);
	else
		snprintf(joined, len, "%s/%s", base, path);
	if ((out = malloc(len + 1)) == NULL) {
		free(joined);
		return NULL;
	}
	out[0] = '\0';
	for (comp = strtok_r(joined, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			out[o] = '\0';
			continue;
		}
		out[o++] = '/';
		len = strlen(comp);
		memcpy(out + o, comp, len);
		o += len;
		out[o] = '\0';
	}
	if (o == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
	free(joined);
	return out;
}

/* conf_abspath() against the current directory; why[] set on failure. */
static char *
conf_abspath_cwd(struct conf_parse *p, const char *path)
{
	char	 cwd[PATH_MAX];
	char	*abs;

	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) {
		conf_why(p, CONF_ESYS, "getcwd: %s", strerror(errno));
		return NULL;
	}
	if ((abs = conf_abspath(path[0] == '/' ? "/" : cwd, path)) == NULL)
		conf_why(p, CONF_ESYS, "out of memory");
	return abs;
}

/* Replace the string field of r by a copy of s (or by s itself if owned). */
static int
conf_store_str(struct conf_parse *p, const struct conf_rule *r, char *owned)
{
	char	**fp = conf_field(p, r);

	if (owned == NULL)
		return conf_why(p, CONF_ESYS, "out of memory");
	free(*fp);
	*fp = owned;
	return CONF_OK;
}

static int
set_u32(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	unsigned long long	 n;
	const char		*end;

	if (conf_number(v, &n, &end) == -1 || *end != '\0')
		return conf_why(p, CONF_EINVAL, "not a number");
	if ((long long)n < r->min || (long long)n > r->max || n > UINT32_MAX)
		return conf_why(p, CONF_EINVAL, "must be between %lld and %lld",
		    r->min, r->max);
	*(uint32_t *)conf_field(p, r) = (uint32_t)n;
	return CONF_OK;
}

/* Format a millisecond count with the largest exact unit (0 as "0s"). */
static void
conf_fmt_ms(char *buf, size_t len, long long ms)
{
	if (ms == 0)
		snprintf(buf, len, "0s");
	else if (ms % HOUR_MS == 0)
		snprintf(buf, len, "%lldh", ms / HOUR_MS);
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
		return conf_why(p, CONF_EINVAL,
		    "expected a number with an optional unit ms, s, m or h");
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return conf_why(p, CONF_EINVAL,
		    "unknown unit \"%s\" (use ms, s, m or h)", end);
	if (n > (unsigned long long)r->max ||
	    n * units[i].mult > (unsigned long long)r->max ||
	    (long long)(n * units[i].mult) < r->min) {
		conf_fmt_ms(lo, sizeof(lo), r->min);
		conf_fmt_ms(hi, sizeof(hi), r->max);
		return conf_why(p, CONF_EINVAL, "must be between %s and %s",
		    lo, hi);
	}
	*(uint32_t *)conf_field(p, r) = (uint32_t)(n * units[i].mult);
	return CONF_OK;
}

static int
set_size(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	unsigned long long	 n, mult = 1;
	const char		*end;

	if (conf_number(v, &n, &end) == -1)
		return conf_why(p, CONF_EINVAL,
		    "expected a number with an optional unit k, m or g");
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
		return conf_why(p, CONF_EINVAL,
		    "unknown unit \"%s\" (use k, m or g)", end);
	if (n > (unsigned long long)r->max ||
	    n * mult > (unsigned long long)r->max ||
	    (long long)(n * mult) < r->min)
		return conf_why(p, CONF_EINVAL,
		    "must be between %lld and %lld bytes", r->min, r->max);
	*(size_t *)conf_field(p, r) = (size_t)(n * mult);
	return CONF_OK;
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
			return CONF_OK;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*(int *)conf_field(p, r) = 0;
			return CONF_OK;
		}
	}
	return conf_why(p, CONF_EINVAL, "expected yes, no, on, off, true "
	    "or false");
}

static int
set_string(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	if (r->min == 1 && v[0] == '\0')
		return conf_why(p, CONF_EINVAL, "empty string");
	if ((long long)strlen(v) < r->min)
		return conf_why(p, CONF_EINVAL, "must be at least %lld bytes",
		    r->min);
	if (r->max > 0 && (long long)strlen(v) > r->max)
		return conf_why(p, CONF_EINVAL, "must be at most %lld bytes",
		    r->max);
	return conf_store_str(p, r, strdup(v));
}

static int
set_path(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	char	*abs;

	if (v[0] == '\0')
		return conf_why(p, CONF_EINVAL, "empty path");
	if ((abs = conf_abspath_cwd(p, v)) == NULL)
		return CONF_ESYS;
	return conf_store_str(p, r, abs);
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
			return i;
	list[0] = '\0';
	for (i = 0; r->choices[i] != NULL && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
		    i == 0 ? "" : r->choices[i + 1] == NULL ? " or " : ", ",
		    r->choices[i]);
	conf_why(p, CONF_EINVAL, "expected %s", list);
	return -1;
}

static int
set_choice(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	int	 i;

	if ((i = conf_choice(p, r, v)) == -1)
		return CONF_EINVAL;
	return conf_store_str(p, r, strdup(r->choices[i]));
}

static int
set_level(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	int	 i;

	if ((i = conf_choice(p, r, v)) == -1)
		return CONF_EINVAL;
	*(int *)conf_field(p, r) = i;
	return CONF_OK;
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
		return CONF_OK;
	}
	if (conf_number(v, &n, &end) == -1 || *end != '\0')
		return conf_why(p, CONF_EINVAL, "expected auto or a number");
	if ((long long)n < r->min || n > (unsigned long long)r->max)
		return conf_why(p, CONF_EINVAL, "must be between %lld and %lld",
		    r->min, r->max);
	*(int *)conf_field(p, r) = (int)n;
	return CONF_OK;
}

/* Parse a decimal port 1..65535 that must span all of s. */
static int
conf_port(const char *s, int *port)
{
	unsigned long long	 n;
	const char		*end;

	if (conf_number(s, &n, &end) == -1 || *end != '\0' || n < 1 ||
	    n > 65535)
		return -1;
	*port = (int)n;
	return 0;
}

/*
 * listen: "PORT" or "*:PORT" (dual-stack ::), "IPv4:PORT",
 * "[IPv6]:PORT" (IPv6 only).
 */
static int
set_listen(struct conf_parse *p, const struct conf_rule *r, const char *v)
{
	struct cf_conf		*c = p->conf;
	struct cf_listen	 l;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&l.addr;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&l.addr;
	char			 host[sizeof(l.text)];
	const char		*colon, *portstr;
	size_t			 hlen;
	int			 i, port;

	(void)r;
	memset(&l, 0, sizeof(l));
	if (strlen(v) >= sizeof(l.text))
		return conf_why(p, CONF_EINVAL, "too long");
	if (v[0] == '[') {
		if ((colon = strstr(v, "]:")) == NULL)
			return conf_why(p, CONF_EINVAL,
			    "expected [IPv6 address]:port");
		hlen = (size_t)(colon - v - 1);
		memcpy(host, v + 1, hlen);
		host[hlen] = '\0';
		portstr = colon + 2;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return conf_why(p, CONF_EINVAL,
			    "\"%s\" is not an IPv6 address", host);
		l.v6only = 1;
	} else if ((colon = strrchr(v, ':')) != NULL) {
		hlen = (size_t)(colon - v);
		memcpy(host, v, hlen);
		host[hlen] = '\0';
		portstr = colon + 1;
		if (strcmp(host, "*") == 0)
			l.any = 1;
		else if (strchr(host, ':') != NULL)
			return conf_why(p, CONF_EINVAL,
			    "IPv6 addresses must be in brackets, as in "
			    "[::1]:3001");
		else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return conf_why(p, CONF_EINVAL,
			    "\"%s\" is not an IPv4 address, [IPv6 address] "
			    "or *", host);
	} else {
		portstr = v;
		l.any = 1;
	}
	if (conf_port(portstr, &port) == -1)
		return conf_why(p, CONF_EINVAL,
		    "port must be a number between 1 and 65535");
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
	for (i = 0; i < c->nlisten; i++)
		if (c->listen[i].any == l.any &&
		    c->listen[i].addrlen == l.addrlen &&
		    memcmp(&c->listen[i].addr, &l.addr, l.addrlen) == 0)
			return conf_why(p, CONF_EINVAL,
			    "duplicate of listen \"%s\"", c->listen[i].text);
	if (c->nlisten == CF_CONF_MAX_LISTEN)
		return conf_why(p, CONF_EINVAL,
		    "too many listen addresses (at most %d)",
		    CF_CONF_MAX_LISTEN);
	snprintf(l.text, sizeof(l.text), "%s", v);
	c->listen[c->nlisten++] = l;
	return CONF_OK;
}

static int
conf_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
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
		return conf_why(p, CONF_EINVAL, "empty path");
	p->db_is_url = url;
	return conf_store_str(p, r, strdup(v));
}

/* A host name or IPv4 address: letters, digits, '.', '-', '_'. */
static int
conf_hostname_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '-' && s[i] != '_')
			return 0;
	return 1;
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
			return -1;
		len = (size_t)(e - s - 1);
		if (len == 0 || len >= sizeof(buf))
			return -1;
		memcpy(buf, s + 1, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return -1;
		*hostp = strip ? s + 1 : s;
		*hlenp = strip ? len : len + 2;
		*rest = e + 1;
		return 0;
	}
	len = strcspn(s, ":/");
	if (!conf_hostname_ok(s, len))
		return -1;
	*hostp = s;
	*hlenp = len;
	*rest = s + len;
	return 0;
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
		return conf_why(p, CONF_EINVAL,
		    "expected redis://host[:port][/db]");
	s = v + strlen("redis://");
	if (conf_split_host(s, 1, &host, &hlen, &rest) == -1)
		return conf_why(p, CONF_EINVAL, "bad host name or address");
	if (rest[0] == ':') {
		plen = strcspn(rest + 1, "/");
		if (plen == 0 || plen >= sizeof(pbuf))
			return conf_why(p, CONF_EINVAL,
			    "port must be a number between 1 and 65535");
		memcpy(pbuf, rest + 1, plen);
		pbuf[plen] = '\0';
		if (conf_port(pbuf, &port) == -1)
			return conf_why(p, CONF_EINVAL,
			    "port must be a number between 1 and 65535");
		rest += 1 + plen;
	}
	if (rest[0] == '/' && rest[1] != '\0') {
		if (conf_number(rest + 1, &db, &end) == -1 || *end != '\0' ||
		    db > INT_MAX)
			return conf_why(p, CONF_EINVAL,
			    "database must be a number");
	} else if (rest[0] != '\0' && strcmp(rest, "/") != 0)
		return conf_why(p, CONF_EINVAL,
		    "expected redis://host[:port][/db]");

	if ((url = strdup(v)) == NULL)
		return conf_why(p, CONF_ESYS, "out of memory");
	if ((h = strndup(host, hlen)) == NULL) {
		free(url);
		return conf_why(p, CONF_ESYS, "out of memory");
	}
	free(c->redis);
	free(c->redis_host);
	c->redis = url;
	c->redis_host = h;
	c->redis_port = port;
	c->redis_db = (int)db;
	return CONF_OK;
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
			return conf_why(p, CONF_EINVAL,
			    "expected * or scheme://host[:port]");
		while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' ||
		    *s == '.')
			s++;
		if (!conf_has_prefix(s, "://"))
			return conf_why(p, CONF_EINVAL,
			    "expected * or scheme://host[:port]");
		if (conf_split_host(s + 3, 0, &host, &hlen, &rest) == -1)
			return conf_why(p, CONF_EINVAL,
			    "bad host name or address");
		if (rest[0] == ':') {
			if (conf_port(rest + 1, &port) == -1)
				return conf_why(p, CONF_EINVAL,
				    "port must be a number between 1 and "
				    "65535");
		} else if (rest[0] != '\0')
			return conf_why(p, CONF_EINVAL,
			    "an origin has no path");
	}
	for (i = 0; i < c->ncors_origins; i++)
		if (strcasecmp(c->cors_origins[i], v) == 0)
			return conf_why(p, CONF_EINVAL, "duplicate origin");
	if (c->ncors_origins == CF_CONF_MAX_ORIGINS)
		return conf_why(p, CONF_EINVAL,
		    "too many origins (at most %d)", CF_CONF_MAX_ORIGINS);
	if ((dup = strdup(v)) == NULL)
		return conf_why(p, CONF_ESYS, "out of memory");
	c->cors_origins[c->ncors_origins++] = dup;
	return CONF_OK;
}

/* 1 when the first `bits` bits of a and b are equal. */
static int
conf_prefix_eq(const uint8_t *a, const uint8_t *b, int bits)
{
	int	 full = bits / 8, rest = bits % 8;
	uint8_t	 mask;

	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
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
		return CONF_OK;
	}
	slash = strchr(v, '/');
	hlen = slash != NULL ? (size_t)(slash - v) : strlen(v);
	if (hlen == 0 || hlen >= sizeof(host))
		return conf_why(p, CONF_EINVAL,
		    "expected an IPv4 or IPv6 address[/prefix] or any");
	memcpy(host, v, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, a->addr) == 1) {
		a->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, a->addr) == 1) {
		a->family = AF_INET6;
		max = 128;
	} else
		return conf_why(p, CONF_EINVAL,
		    "expected an IPv4 or IPv6 address[/prefix] or any");
	a->prefix = max;
	if (slash != NULL) {
		if (conf_number(slash + 1, &n, &end) == -1 || *end != '\0' ||
		    n > (unsigned long long)max)
			return conf_why(p, CONF_EINVAL,
			    "prefix length must be between 0 and %d", max);
		a->prefix = (int)n;
		for (i = a->prefix; i < max; i++)
			if (a->addr[i / 8] & (0x80 >> (i % 8)))
				return conf_why(p, CONF_EINVAL,
				    "address bits set after the /%d prefix",
				    a->prefix);
	}
	if (a->family == AF_INET6 && a->prefix >= 96 &&
	    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(void *)a->addr)) {
		memmove(a->addr, a->addr + 12, 4);
		memset(a->addr + 4, 0, 12);
		a->family = AF_INET;
		a->prefix -= 96;
	}
	return CONF_OK;
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
			return ret;
		for (j = 0; j < c->nmetrics_allow; j++)
			if (memcmp(&c->metrics_allow[j], &a, sizeof(a)) == 0)
				return conf_why(p, CONF_EINVAL,
				    "duplicate address \"%s\"", argv[i]);
		if (c->nmetrics_allow == CF_CONF_MAX_ALLOW)
			return conf_why(p, CONF_EINVAL,
			    "too many addresses (at most %d)",
			    CF_CONF_MAX_ALLOW);
		c->metrics_allow[c->nmetrics_allow++] = a;
	}
	return CONF_OK;
}

static char	*conf_read_file(const char *, size_t, size_t *);

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
		return conf_why(p, CONF_EINVAL, "empty path");
	if ((abs = conf_abspath_cwd(p, v)) == NULL)
		return CONF_ESYS;
	if ((pem = conf_read_file(abs, (size_t)r->max, &len)) == NULL) {
		if (errno == EFBIG)
			conf_why(p, CONF_EMSG, "%s \"%s\": larger than %lld "
			    "bytes", r->d.name, abs, r->max);
		else
			conf_why(p, CONF_EMSG, "%s \"%s\": cannot read: %s",
			    r->d.name, abs, strerror(errno));
		free(abs);
		return CONF_EMSG;
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
		return CONF_EMSG;
	}
	free(c->jwt_public_key_pem);
	c->jwt_public_key_pem = pem;
	c->jwt_public_key_len = len;
	return conf_store_str(p, r, abs);
}

/* The roles present before the file is read; a role line replaces one. */
static const struct cf_role role_defaults[] = {
	{ "admin", CF_PERM_ALL },
	{ "agent", CF_PERM_ALL & ~(CF_PERM_CREATE_CHANNELS |
	    CF_PERM_MANAGE_CHANNELS | CF_PERM_SEND_BROADCASTS) },
	{ "user", CF_PERM_ALL & ~(CF_PERM_CREATE_CHANNELS |
	    CF_PERM_MANAGE_CHANNELS | CF_PERM_SEND_BROADCASTS) },
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
			return 0;
	return i >= 1 && i <= CONF_ROLE_MAXLEN;
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
		return conf_why(p, CONF_EMSG, "invalid role name \"%s\": "
		    "expected 1 to %d of a-z, 0-9, _ and -", name,
		    CONF_ROLE_MAXLEN);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "none") == 0) {
			if (argc != 2)
				return conf_why(p, CONF_EMSG, "\"none\" must "
				    "be the only permission of role \"%s\"",
				    name);
			continue;
		}
		if ((bit = cf_perm_parse(argv[i])) == 0)
			return conf_why(p, CONF_EMSG, "unknown permission "
			    "\"%s\" for role \"%s\"", argv[i], name);
		if (perms & bit)
			return conf_why(p, CONF_EMSG, "permission \"%s\" "
			    "given twice for role \"%s\"", argv[i], name);
		perms |= bit;
	}
	for (i = 0; i < c->nroles; i++)
		if (strcmp(c->roles[i].name, name) == 0)
			break;
	if (i < c->nroles && p->role_given[i])
		return conf_why(p, CONF_EMSG, "role \"%s\" given twice", name);
	if (i == c->nroles) {
		if (c->nroles == CF_CONF_MAX_ROLES)
			return conf_why(p, CONF_EMSG, "too many roles (at "
			    "most %d)", CF_CONF_MAX_ROLES);
		snprintf(c->roles[i].name, sizeof(c->roles[i].name), "%s",
		    name);
		c->nroles++;
	}
	c->roles[i].perms = perms;
	p->role_given[i] = 1;
	return CONF_OK;
}

/* rate-limit EVENTS SECONDS: EVENTS within [min, max], SECONDS 1..3600. */
static int
set_rate(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	unsigned long long	 events, secs;
	const char		*end;

	(void)argc;
	if (conf_number(argv[0], &events, &end) == -1 || *end != '\0' ||
	    conf_number(argv[1], &secs, &end) == -1 || *end != '\0')
		return conf_why(p, CONF_EINVAL, "expected a number of events "
		    "and a number of seconds");
	if (events < (unsigned long long)r->min ||
	    events > (unsigned long long)r->max)
		return conf_why(p, CONF_EINVAL, "events must be between %lld "
		    "and %lld", r->min, r->max);
	if (secs < 1 || secs > CONF_RATE_MAX_WINDOW)
		return conf_why(p, CONF_EINVAL, "seconds must be between 1 "
		    "and %d", CONF_RATE_MAX_WINDOW);
	p->conf->rate_limit_events = (uint32_t)events;
	p->conf->rate_limit_window_ms = (uint32_t)secs * 1000;
	return CONF_OK;
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
		return conf_why(p, CONF_EINVAL,
		    "must be a stun:, stuns:, turn: or turns: URL");
	if (v[strlen(schemes[i])] == '\0')
		return conf_why(p, CONF_EINVAL, "no host after \"%s\"",
		    schemes[i]);
	if ((long long)strlen(v) > r->max)
		return conf_why(p, CONF_EINVAL, "longer than %lld bytes",
		    r->max);
	for (s = v; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return conf_why(p, CONF_EINVAL,
			    "blank or control character in URL");
	for (j = 0; j < c->nice_servers; j++)
		if (strcasecmp(c->ice_servers[j], v) == 0)
			return conf_why(p, CONF_EINVAL, "duplicate ice-server");
	if (c->nice_servers == CF_CONF_MAX_ICE)
		return conf_why(p, CONF_EINVAL,
		    "too many ice servers (at most %d)", CF_CONF_MAX_ICE);
	if ((dup = strdup(v)) == NULL)
		return conf_why(p, CONF_ESYS, "out of memory");
	c->ice_servers[c->nice_servers++] = dup;
	return CONF_OK;
}

static const struct conf_ops conf_types[T_NTYPES] = {
	[T_U32] = { set_u32, NULL, NULL },
	[T_DURATION] = { set_duration, NULL, NULL },
	[T_SIZE] = { set_size, NULL, NULL },
	[T_BOOL] = { set_bool, NULL, NULL },
	[T_STRING] = { set_string, NULL, NULL },
	[T_PATH] = { set_path, NULL, NULL },
	[T_CHOICE] = { set_choice, NULL, NULL },
	[T_LEVEL] = { set_level, NULL, NULL },
	[T_WORKERS] = { set_workers, NULL, NULL },
	[T_LISTEN] = { set_listen, NULL, NULL },
	[T_DATABASE] = { set_database, NULL, NULL },
	[T_REDIS] = { set_redis, NULL, NULL },
	[T_ORIGIN] = { set_origin, NULL, NULL },
	[T_ALLOW] = { NULL, set_allow, NULL },
	[T_PEMKEY] = { set_pemkey, NULL, NULL },
	[T_ROLE] = { NULL, set_role, init_roles },
	[T_RATE] = { NULL, set_rate, NULL },
	[T_ICE] = { set_ice, NULL, NULL },
};

/* Call the setter of r's type on argc (argmin..argmax) arguments. */
static int
conf_apply(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	const struct conf_ops	*ops = &conf_types[r->d.type];

	p->why[0] = '\0';
	if (ops->setv != NULL)
		return ops->setv(p, r, argv, argc);
	return ops->set(p, r, argv[0]);
}

/* Join argv with single spaces into buf, for messages; truncates. */
static const char *
conf_join(char *buf, size_t len, char *const *argv, int argc)
{
	size_t	 o = 0;
	int	 i;

	buf[0] = '\0';
	for (i = 0; i < argc && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : " ", argv[i]);
	return buf;
}

static const struct conf_rule *
conf_rule_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < CONF_NRULES; i++)
		if (strcmp(conf_rules[i].d.name, name) == 0)
			return &conf_rules[i];
	return NULL;
}

/*
 * Split line (modified in place) into at most CONF_MAX_TOKENS tokens.
 * Tokens are separated by blanks; '#' outside quotes ends the line;
 * double quotes group blanks and '#', with \" and \\ as escapes.  Returns
 * the number of tokens found (which may exceed CONF_MAX_TOKENS, only the
 * first ones are stored), or -1 with an error recorded.
 */
static int
conf_tokenize(struct conf_parse *p, const char *file, int lineno, char *line,
    char **tok)
{
	char	*r = line, *w = line, *start;
	int	 n = 0, quoted;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0' || *r == '#')
			break;
		start = w;
		quoted = 0;
		while (*r != '\0') {
			if (quoted) {
				if (*r == '"') {
					quoted = 0;
					r++;
				} else if (*r == '\\') {
					if (r[1] != '"' && r[1] != '\\') {
						conf_err(p, "%s:%d: invalid "
						    "escape in quoted string",
						    file, lineno);
						return -1;
					}
					*w++ = r[1];
					r += 2;
				} else
					*w++ = *r++;
			} else if (*r == '"') {
				quoted = 1;
				r++;
			} else if (*r == ' ' || *r == '\t' || *r == '#')
				break;
			else
				*w++ = *r++;
		}
		if (quoted) {
			conf_err(p, "%s:%d: unterminated quoted string", file,
			    lineno);
			return -1;
		}
		/* A token ends at a blank or '#', so r > w here or at NUL. */
		if (*r == ' ' || *r == '\t')
			r++;
		else if (*r == '#')
			*r = '\0';
		*w++ = '\0';
		if (n < CONF_MAX_TOKENS)
			tok[n] = start;
		n++;
	}
	return n;
}

static int	conf_parse_file(struct conf_parse *, const char *, const char *,
		    int);

/*
 * Handle "include FILE" found at file:lineno; FILE is relative to the
 * directory of `file` (or to the current directory for a string).
 */
static int
conf_include(struct conf_parse *p, const char *file, int lineno, int isfile,
    const char *arg)
{
	const char	*slash;
	char		*path;
	size_t		 len;
	int		 ret;

	if (arg[0] == '\0') {
		conf_err(p, "%s:%d: invalid value \"\" for \"include\": "
		    "empty path", file, lineno);
		return -1;
	}
	slash = isfile ? strrchr(file, '/') : NULL;
	if (arg[0] == '/' || slash == NULL)
		path = strdup(arg);
	else {
		len = (size_t)(slash - file) + strlen(arg) + 2;
		if ((path = malloc(len)) != NULL)
			snprintf(path, len, "%.*s/%s", (int)(slash - file),
			    file, arg);
	}
	if (path == NULL) {
		conf_err(p, "%s:%d: out of memory", file, lineno);
		return -1;
	}
	if (p->depth > CONF_MAX_DEPTH) {
		conf_err(p, "%s:%d: include \"%s\": nested too deeply "
		    "(at most %d levels)", file, lineno, arg, CONF_MAX_DEPTH);
		free(path);
		return -1;
	}
	ret = conf_parse_file(p, path, file, lineno);
	free(path);
	return ret;
}

/* Record "file:line: "name" takes N arguments" for rule r. */
static void
conf_err_nargs(struct conf_parse *p, const char *file, int lineno,
    const struct conf_rule *r)
{
	if (r->argmin == r->argmax)
		conf_err(p, "%s:%d: \"%s\" takes %d argument%s", file, lineno,
		    r->d.name, r->argmin, r->argmin == 1 ? "" : "s");
	else
		conf_err(p, "%s:%d: \"%s\" takes %d to %d arguments", file,
		    lineno, r->d.name, r->argmin, r->argmax);
}

/* Apply one directive line already split into tokens. */
static int
conf_directive(struct conf_parse *p, const char *file, int lineno,
    int isfile, char **tok, int ntok)
{
	const struct conf_rule	*r;
	char			 value[256];
	size_t			 idx;
	int			 ret;

	if (strcmp(tok[0], "include") == 0) {
		if (ntok != 2) {
			conf_err(p, "%s:%d: \"include\" takes 1 argument",
			    file, lineno);
			return -1;
		}
		return conf_include(p, file, lineno, isfile, tok[1]);
	}
	if ((r = conf_rule_find(tok[0])) == NULL) {
		conf_err(p, "%s:%d: unknown directive \"%s\"", file, lineno,
		    tok[0]);
		return -1;
	}
	/* argmax < CONF_MAX_TOKENS, so every accepted token was stored. */
	if (ntok - 1 < r->argmin || ntok - 1 > r->argmax) {
		conf_err_nargs(p, file, lineno, r);
		return -1;
	}
	idx = (size_t)(r - conf_rules);
	if (p->seen[idx] > 0 && !(r->d.flags & CF_CONF_MULTI)) {
		conf_err(p, "%s:%d: \"%s\" given twice", file, lineno,
		    r->d.name);
		return -1;
	}
	ret = conf_apply(p, r, tok + 1, ntok - 1);
	if (ret == CONF_EINVAL) {
		/* A secret's value is never echoed: errors reach the logs. */
		conf_err(p, "%s:%d: invalid value \"%s\" for \"%s\": %s",
		    file, lineno, strstr(r->d.name, "secret") != NULL ?
		    "(hidden)" : conf_join(value, sizeof(value), tok + 1,
		    ntok - 1), r->d.name, p->why);
		return -1;
	}
	if (ret == CONF_ESYS) {
		conf_err(p, "%s:%d: \"%s\": %s", file, lineno, r->d.name,
		    p->why);
		return -1;
	}
	if (ret == CONF_EMSG) {
		conf_err(p, "%s:%d: %s", file, lineno, p->why);
		return -1;
	}
	p->seen[idx]++;
	return 0;
}

/*
 * Parse text[0..len) (modified in place) as the contents of `file`.
 * isfile is 0 for a string, whose includes resolve against the current
 * directory.
 */
static int
conf_parse_text(struct conf_parse *p, const char *file, int isfile,
    char *text, size_t len)
{
	char	*line, *nl, *tok[CONF_MAX_TOKENS];
	size_t	 llen;
	int	 lineno = 0, ntok;

	for (line = text; line < text + len; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)(text + len - line))) ==
		    NULL)
			nl = text + len;
		llen = (size_t)(nl - line);
		if (llen > CONF_MAX_LINE) {
			conf_err(p, "%s:%d: line too long", file, lineno);
			return -1;
		}
		if (memchr(line, '\0', llen) != NULL) {
			conf_err(p, "%s:%d: NUL byte in line", file, lineno);
			return -1;
		}
		*nl = '\0';
		if (llen > 0 && line[llen - 1] == '\r')
			line[llen - 1] = '\0';
		if ((ntok = conf_tokenize(p, file, lineno, line, tok)) == -1)
			return -1;
		if (ntok == 0)
			continue;
		if (conf_directive(p, file, lineno, isfile, tok, ntok) == -1)
			return -1;
	}
	return 0;
}

/*
 * Read all of `path` into a NUL-terminated malloc'd buffer (*lenp bytes
 * before the NUL) that the caller frees.  NULL with errno set on failure
 * (EFBIG: more than max bytes).
 */
static char *
conf_read_file(const char *path, size_t max, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	for (;;) {
		if (len == cap) {
			/* Room for max + 1 bytes tells a file that is too big. */
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			if ((nbuf = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

/*
 * Parse the file `path`.  from/fromline name the include directive that
 * led here (from is NULL for the main file).  Detects include loops by
 * the real path of each open file.
 */
static int
conf_parse_file(struct conf_parse *p, const char *path, const char *from,
    int fromline)
{
	char	*text, *real;
	size_t	 len;
	int	 i, ret;

	if ((text = conf_read_file(path, CONF_MAX_FILE, &len)) == NULL) {
		if (from == NULL)
			conf_err(p, "%s: cannot open: %s", path,
			    strerror(errno));
		else
			conf_err(p, "%s:%d: include \"%s\": cannot open: %s",
			    from, fromline, path, strerror(errno));
		return -1;
	}
	if ((real = realpath(path, NULL)) == NULL) {
		conf_err(p, "%s: cannot resolve path: %s", path,
		    strerror(errno));
		free(text);
		return -1;
	}
	for (i = 0; i < p->depth; i++) {
		if (strcmp(p->stack[i], real) == 0) {
			conf_err(p, "%s:%d: include loop: \"%s\" is already "
			    "being read", from, fromline, path);
			free(real);
			free(text);
			return -1;
		}
	}
	p->stack[p->depth++] = real;
	ret = conf_parse_text(p, path, 1, text, len);
	p->stack[--p->depth] = NULL;
	free(real);
	explicit_bzero(text, len);	/* it may hold secrets */
	free(text);
	return ret;
}

/* Apply the default of rule r, written like a value in the file. */
static int
conf_default(struct conf_parse *p, const struct conf_rule *r)
{
	char	*copy, *tok[CONF_MAX_TOKENS];
	int	 ntok, ret;

	if ((copy = strdup(r->d.def)) == NULL) {
		conf_err(p, "out of memory");
		return -1;
	}
	ntok = conf_tokenize(p, CONF_DEFAULT_SOURCE, 0, copy, tok);
	if (ntok < r->argmin || ntok > r->argmax) {
		conf_err(p, "%s: \"%s\": bad default \"%s\"",
		    CONF_DEFAULT_SOURCE, r->d.name, r->d.def);
		free(copy);
		return -1;
	}
	ret = conf_apply(p, r, tok, ntok);
	free(copy);
	if (ret != CONF_OK) {
		conf_err(p, "%s: \"%s\": %s", CONF_DEFAULT_SOURCE, r->d.name,
		    p->why);
		return -1;
	}
	return 0;
}

/*
 * Settings that are valid alone but not together, checked once the
 * whole file is read.  Errors name the main file.
 */
static int
conf_check(struct conf_parse *p)
{
	struct cf_conf	*c = p->conf;
	int		 hmac;

	if (c->user != NULL && getpwnam(c->user) == NULL) {
		conf_err(p, "%s: user %s: no such user", p->name, c->user);
		return -1;
	}
	hmac = strncmp(c->jwt_algorithm, "HS", 2) == 0;
	if (!hmac && c->jwt_public_key == NULL) {
		conf_err(p, "%s: jwt-algorithm %s needs jwt-public-key",
		    p->name, c->jwt_algorithm);
		return -1;
	}
	if (hmac && c->jwt_public_key != NULL) {
		conf_err(p, "%s: jwt-algorithm %s cannot use jwt-public-key "
		    "(an HMAC algorithm verifies with jwt-secret)", p->name,
		    c->jwt_algorithm);
		return -1;
	}
	return 0;
}

/*
 * Complete a parsed snapshot: defaults for every directive not given,
 * then the database path against data-dir, then the cross-checks.
 */
static int
conf_finish(struct conf_parse *p)
{
	struct cf_conf	*c = p->conf;
	char		*abs;
	size_t		 i;

	for (i = 0; i < CONF_NRULES; i++) {
		if (p->seen[i] > 0 || conf_rules[i].d.def == NULL)
			continue;
		if (conf_default(p, &conf_rules[i]) == -1)
			return -1;
	}
	if (!p->db_is_url && c->database[0] != '/') {
		if ((abs = conf_abspath(c->data_dir, c->database)) == NULL) {
			conf_err(p, "out of memory");
			return -1;
		}
		free(c->database);
		c->database = abs;
	}
	if (c->control_socket == NULL &&
	    (c->control_socket = conf_abspath(c->data_dir, "confabd.sock")) ==
	    NULL) {
		conf_err(p, "out of memory");
		return -1;
	}
	/* sockaddr_un.sun_path holds 108 bytes, NUL included. */
	if (strlen(c->control_socket) >= 108) {
		conf_err(p, "%s: control-socket %s: longer than 107 bytes",
		    p->name, c->control_socket);
		return -1;
	}
	return conf_check(p);
}

/*
 * Common body of the loaders: path is the main file, or NULL for text
 * (named `name`).  Returns the snapshot or NULL with err filled.
 */
static struct cf_conf *
conf_load(const char *path, const char *text, const char *name, char *err,
    size_t errlen)
{
	struct conf_parse	 p;
	char			*copy;
	size_t			 i, len;
	int			 ret;

	memset(&p, 0, sizeof(p));
	p.name = path != NULL ? path : name;
	p.err = err;
	p.errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((p.conf = calloc(1, sizeof(*p.conf))) == NULL) {
		conf_err(&p, "out of memory");
		return NULL;
	}
	for (i = 0; i < CONF_NRULES; i++)
		if (conf_types[conf_rules[i].d.type].init != NULL)
			conf_types[conf_rules[i].d.type].init(&p,
			    &conf_rules[i]);
	if (path != NULL) {
		if ((p.conf->path = conf_abspath_cwd(&p, path)) == NULL) {
			conf_err(&p, "%s: %s", path, p.why);
			goto fail;
		}
		ret = conf_parse_file(&p, path, NULL, 0);
	} else {
		len = strlen(text);
		if ((copy = strdup(text)) == NULL) {
			conf_err(&p, "out of memory");
			goto fail;
		}
		ret = conf_parse_text(&p, name, 0, copy, len);
		explicit_bzero(copy, len);	/* it may hold secrets */
		free(copy);
	}
	if (ret == -1 || conf_finish(&p) == -1)
		goto fail;
	return p.conf;
fail:
	cf_conf_free(p.conf);
	return NULL;
}

struct cf_conf *
cf_conf_load(const char *path, char *err, size_t errlen)
{
	if (path == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no configuration file given");
		return NULL;
	}
	return conf_load(path, NULL, NULL, err, errlen);
}

struct cf_conf *
cf_conf_load_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	return conf_load(NULL, text != NULL ? text : "",
	    name != NULL ? name : "(string)", err, errlen);
}

struct cf_conf *
cf_conf_defaults(char *err, size_t errlen)
{
	return cf_conf_load_string("", CONF_DEFAULT_SOURCE, err, errlen);
}

void
cf_conf_free(struct cf_conf *conf)
{
	int	 i;

	if (conf == NULL)
		return;
	free(conf->path);
	free(conf->data_dir);
	free(conf->database);
	free(conf->sqlite_synchronous);
	free(conf->redis);
	free(conf->redis_host);
	free(conf->host_id);
	free(conf->default_channel);
	for (i = 0; i < conf->ncors_origins; i++)
		free(conf->cors_origins[i]);
	free(conf->pidfile);
	free(conf->log_file);
	free(conf->control_socket);
	free(conf->user);
	if (conf->jwt_secret != NULL)
		explicit_bzero(conf->jwt_secret, strlen(conf->jwt_secret));
	free(conf->jwt_secret);
	if (conf->jwt_secret_previous != NULL)
		explicit_bzero(conf->jwt_secret_previous,
		    strlen(conf->jwt_secret_previous));
	free(conf->jwt_secret_previous);
	free(conf->jwt_algorithm);
	free(conf->jwt_public_key);
	free(conf->jwt_public_key_pem);
	free(conf->jwt_issuer);
	free(conf->jwt_audience);
	for (i = 0; i < conf->nice_servers; i++)
		free(conf->ice_servers[i]);
	if (conf->turn_secret != NULL)
		explicit_bzero(conf->turn_secret, strlen(conf->turn_secret));
	free(conf->turn_secret);
	free(conf);
}

/*
 * The permission bits of `role`, or 0 when conf or role is NULL or the
 * role is unknown (as for a role defined with "none").
 */
uint32_t
cf_conf_role_perms(const struct cf_conf *conf, const char *role)
{
	int	 i;

	if (conf == NULL || role == NULL)
		return 0;
	for (i = 0; i < conf->nroles; i++)
		if (strcmp(conf->roles[i].name, role) == 0)
			return conf->roles[i].perms;
	return 0;
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
		return 0;
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcmp(conf->cors_origins[i], "*") == 0)
			return 1;
	if (origin == NULL || origin[0] == '\0')
		return 0;
	for (i = 0; i < conf->ncors_origins; i++)
		if (strcasecmp(conf->cors_origins[i], origin) == 0)
			return 1;
	return 0;
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
		return 0;
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
		return 0;
	for (i = 0; i < conf->nmetrics_allow; i++) {
		if (conf->metrics_allow[i].family == AF_UNSPEC)
			return 1;
		if (conf->metrics_allow[i].family == family &&
		    conf_prefix_eq(conf->metrics_allow[i].addr, addr,
		    conf->metrics_allow[i].prefix))
			return 1;
	}
	return 0;
}

/*
 * The public view of conf_rules[] (struct cf_directive rows), built on
 * first use.  Static storage; *n (if not NULL) receives the count.
 */
const struct cf_directive *
cf_conf_directives(size_t *n)
{
	static struct cf_directive	 table[CONF_NRULES];
	static int			 built;
	size_t				 i;

	if (!built) {
		for (i = 0; i < CONF_NRULES; i++)
			table[i] = conf_rules[i].d;
		built = 1;
	}
	if (n != NULL)
		*n = CONF_NRULES;
	return table;
}

/* ----------------------------------------------------------- diff */

/* Append text to buf (always NUL-terminated; truncated when full). */
static void
conf_cat(char *buf, size_t len, const char *text)
{
	size_t	 n = strlen(buf);

	if (n + 1 < len)
		snprintf(buf + n, len - n, "%s", text);
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
	return h;
}

/*
 * The value of row r in c as text, as it could be written in the file
 * (lists joined with spaces or commas); "(unset)" for a missing value.
 */
static void
conf_render(const struct cf_conf *c, const struct conf_rule *r, char *buf,
    size_t len)
{
	const void	*f = (const char *)c + r->d.offset;
	char		 tmp[INET6_ADDRSTRLEN + 8];
	const char	*s;
	uint32_t	 bit;
	int		 i;

	buf[0] = '\0';
	switch (r->d.type) {
	case T_U32:
		snprintf(buf, len, "%u", *(const uint32_t *)f);
		break;
	case T_DURATION:
		conf_fmt_ms(buf, len, *(const uint32_t *)f);
		break;
	case T_SIZE:
		snprintf(buf, len, "%zu", *(const size_t *)f);
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", *(const int *)f ? "yes" : "no");
		break;
	case T_LEVEL:
		snprintf(buf, len, "%s", level_choices[*(const int *)f]);
		break;
	case T_WORKERS:
		snprintf(buf, len, "%d", *(const int *)f);
		break;
	case T_STRING:
	case T_PATH:
	case T_CHOICE:
	case T_DATABASE:
	case T_REDIS:
		s = *(char *const *)f;
		snprintf(buf, len, "%s", s != NULL ? s : "(unset)");
		break;
	case T_PEMKEY:
		/* The same path may hold another key: name its contents. */
		if (c->jwt_public_key == NULL)
			snprintf(buf, len, "(unset)");
		else
			snprintf(buf, len, "%s (contents %08x)",
			    c->jwt_public_key, conf_fnv(c->jwt_public_key_pem,
			    c->jwt_public_key_len));
		break;
	case T_LISTEN:
		for (i = 0; i < c->nlisten; i++) {
			if (i > 0)
				conf_cat(buf, len, " ");
			conf_cat(buf, len, c->listen[i].text);
		}
		break;
	case T_ORIGIN:
		for (i = 0; i < c->ncors_origins; i++) {
			if (i > 0)
				conf_cat(buf, len, " ");
			conf_cat(buf, len, c->cors_origins[i]);
		}
		break;
	case T_ICE:
		for (i = 0; i < c->nice_servers; i++) {
			if (i > 0)
				conf_cat(buf, len, " ");
			conf_cat(buf, len, c->ice_servers[i]);
		}
		if (c->nice_servers == 0)
			conf_cat(buf, len, "(unset)");
		break;
	case T_ALLOW:
		for (i = 0; i < c->nmetrics_allow; i++) {
			const struct cf_allow *a = &c->metrics_allow[i];

			if (i > 0)
				conf_cat(buf, len, " ");
			if (a->family == AF_UNSPEC) {
				conf_cat(buf, len, "any");
				continue;
			}
			if (inet_ntop(a->family, a->addr, tmp, sizeof(tmp)) ==
			    NULL)
				snprintf(tmp, sizeof(tmp), "?");
			conf_cat(buf, len, tmp);
			snprintf(tmp, sizeof(tmp), "/%d", a->prefix);
			conf_cat(buf, len, tmp);
		}
		break;
	case T_ROLE:
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
		break;
	case T_RATE:
		snprintf(buf, len, "%u %u", c->rate_limit_events,
		    c->rate_limit_window_ms / 1000);
		break;
	default:
		break;
	}
}

/*
 * Call fn for each directive whose value differs between a and b, in table
 * order.  old and new are the values as text (valid during the call only);
 * for a secret (CF_CONF_SECRET) both are NULL so that no caller can print
 * one.  Returns the number of differences.
 */
int
cf_conf_diff(const struct cf_conf *a, const struct cf_conf *b,
    void (*fn)(void *arg, const struct cf_directive *d, const char *old,
    const char *new), void *arg)
{
	char	 va[1024], vb[1024];
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < CONF_NRULES; i++) {
		conf_render(a, &conf_rules[i], va, sizeof(va));
		conf_render(b, &conf_rules[i], vb, sizeof(vb));
		if (strcmp(va, vb) == 0)
			continue;
		n++;
		if (conf_rules[i].d.flags & CF_CONF_SECRET)
			fn(arg, &conf_rules[i].d, NULL, NULL);
		else
			fn(arg, &conf_rules[i].d, va, vb);
	}
	explicit_bzero(va, sizeof(va));
	explicit_bzero(vb, sizeof(vb));
	return n;
}
