/*
 * load.c -- parse the configuration file into an immutable snapshot.
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

#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_int.h"

static const char *const level_choices[] = {
	"error", "warn", "info", "debug", NULL
};
static const char *const sync_choices[] = {
	"full", "normal", "off", NULL
};
static const char *const scope_choices[] = {
	"all", "channels", "subscribed", NULL
};
static const char *const jwt_alg_choices[] = {
	"HS256", "HS384", "HS512", "RS256", "ES256", NULL
};

#define F(field)	offsetof(struct cf_conf, field)
#define HOUR_MS		CONF_HOUR_MS

/*
 * Every row: { { name, type, field, default, flags, reload, help }, min,
 * max, choices, argmin, argmax }.  reload says when a changed value takes
 * effect (enum cf_conf_reload): the master's reload decision is derived
 * from it (cf_conf_diff_class), so a new directive states it here only.
 */
const struct conf_rule conf_rules[] = {
	{ { "listen", T_LISTEN, F(listen), "*:3001", CF_CONF_MULTI,
	    CF_RELOAD_GENERATION,
	    "address and port to accept connections on" },
	    0, 0, NULL, 1, 1 },
	{ { "workers", T_WORKERS, F(workers), "auto", 0, CF_RELOAD_GENERATION,
	    "number of worker processes, or auto for one per CPU" },
	    1, CONF_MAX_WORKERS, NULL, 1, 1 },
	{ { "data-dir", T_PATH, F(data_dir), "confab-data", 0,
	    CF_RELOAD_GENERATION,
	    "directory for the database and the generated JWT secret" },
	    0, 0, NULL, 1, 1 },
	{ { "database", T_DATABASE, F(database), "confab.db", 0,
	    CF_RELOAD_GENERATION,
	    "SQLite file (relative to data-dir) or postgresql:// URL" },
	    0, 0, NULL, 1, 1 },
	{ { "default-channel", T_STRING, F(default_channel), "general", 0,
	    CF_RELOAD_RESTART,
	    "public channel created on a database without channels, or \"\"" },
	    0, 100, NULL, 1, 1 },
	{ { "sqlite-synchronous", T_CHOICE, F(sqlite_synchronous), "full", 0,
	    CF_RELOAD_RESTART,
	    "full, normal or off: what a SQLite commit waits for on disk" },
	    0, 0, sync_choices, 1, 1 },
	{ { "redis", T_REDIS, F(redis), NULL, 0, CF_RELOAD_GENERATION,
	    "redis://host[:port][/db] relaying events between servers" },
	    0, 0, NULL, 1, 1 },
	{ { "host-id", T_STRING, F(host_id), NULL, 0, CF_RELOAD_GENERATION,
	    "this host's name in the cluster (default: random per run)" },
	    1, 32, NULL, 1, 1 },
	{ { "presence-host-timeout", T_DURATION, F(presence_host_timeout_ms),
	    "15s", 0, CF_RELOAD_HOT,
	    "time after which a silent host's users count as offline" },
	    500, HOUR_MS, NULL, 1, 1 },
	{ { "cors-origin", T_ORIGIN, F(cors_origins), "http://localhost",
	    CF_CONF_MULTI, CF_RELOAD_HOT,
	    "origin allowed to connect from a browser, or *" },
	    0, 0, NULL, 1, 1 },
	{ { "metrics-allow", T_ALLOW, F(metrics_allow), "127.0.0.1 ::1",
	    CF_CONF_MULTI, CF_RELOAD_HOT,
	    "address or prefix allowed to read /metrics, or any" },
	    0, 0, NULL, 1, CONF_MAX_ALLOW_ARGS },
	{ { "log-level", T_LEVEL, F(log_level), "info", 0, CF_RELOAD_HOT,
	    "error, warn, info or debug" }, 0, 0, level_choices, 1, 1 },
	{ { "log-payloads", T_BOOL, F(log_payloads), "no", 0, CF_RELOAD_HOT,
	    "at log-level debug, log event payloads (never a token)" },
	    0, 0, NULL, 1, 1 },
	{ { "log-summary-interval", T_DURATION, F(log_summary_interval_ms),
	    "1m", 0, CF_RELOAD_HOT,
	    "time between two info summary lines of a worker; 0: none" },
	    0, 24 * HOUR_MS, NULL, 1, 1 },
	{ { "pidfile", T_PATH, F(pidfile), NULL, 0, CF_RELOAD_RESTART,
	    "file the master writes its process id to" },
	    0, 0, NULL, 1, 1 },
	{ { "log-file", T_PATH, F(log_file), NULL, 0, CF_RELOAD_RESTART,
	    "file every process appends its log lines to, reopened on SIGUSR1" },
	    0, 0, NULL, 1, 1 },
	/* The default (confabd.sock in data-dir) is set by conf_finish. */
	{ { "control-socket", T_PATH, F(control_socket), NULL, 0,
	    CF_RELOAD_RESTART,
	    "unix socket (mode 0600) confabctl talks to" },
	    0, 0, NULL, 1, 1 },
	{ { "user", T_STRING, F(user), NULL, 0, CF_RELOAD_RESTART,
	    "user the workers run as when the master starts as root" },
	    1, 0, NULL, 1, 1 },
	{ { "ping-interval", T_DURATION, F(ping_interval_ms), "25s",
	    0, CF_RELOAD_HOT, "interval between Engine.IO pings" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "ping-timeout", T_DURATION, F(ping_timeout_ms), "20s",
	    0, CF_RELOAD_HOT, "time a client has to answer a ping" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "connect-timeout", T_DURATION, F(connect_timeout_ms), "45s",
	    0, CF_RELOAD_HOT, "time a client has to join a namespace" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "upgrade-timeout", T_DURATION, F(upgrade_timeout_ms), "10s",
	    0, CF_RELOAD_HOT, "time a transport upgrade may take" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "shutdown-timeout", T_DURATION, F(shutdown_timeout_ms), "10s",
	    0, CF_RELOAD_HOT, "time workers have to close clients on stop" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-payload", T_SIZE, F(max_payload), "1000000", 0, CF_RELOAD_HOT,
	    "largest accepted message or HTTP body, in bytes" },
	    1024, 64LL * 1024 * 1024, NULL, 1, 1 },
	{ { "max-output-buffer", T_SIZE, F(max_output_buffer), "1m",
	    0, CF_RELOAD_HOT, "bytes queued to one client beyond which it is "
	    "disconnected as a slow consumer" },
	    64 * 1024, 1024LL * 1024 * 1024, NULL, 1, 1 },
	{ { "presence-slots", T_U32, F(presence_slots), "65536", 0,
	    CF_RELOAD_GENERATION,
	    "capacity of the shared presence table" },
	    64, 16777216, NULL, 1, 1 },
	{ { "presence-broadcast", T_BOOL, F(presence_broadcast), "yes",
	    0,
	    CF_RELOAD_HOT,
	    "announce every connect and disconnect to all users" },
	    0, 0, NULL, 1, 1 },
	{ { "presence-scope", T_CHOICE, F(presence_scope), "all", 0,
	    CF_RELOAD_HOT,
	    "all, channels or subscribed: who gets a user's presence events" },
	    0, 0, scope_choices, 1, 1 },
	{ { "presence-coalesce", T_DURATION, F(presence_coalesce_ms), "1s", 0,
	    CF_RELOAD_HOT,
	    "window merging a user's presence changes into one event; 0: off" },
	    0, 60 * 1000, NULL, 1, 1 },
	{ { "recovery-window", T_DURATION, F(recovery_window_ms), "2m", 0,
	    CF_RELOAD_HOT,
	    "how long a dropped socket can come back with its state; 0: off" },
	    0, 24 * 3600 * 1000, NULL, 1, 1 },
	{ { "recovery-max-events", T_U32, F(recovery_max_events), "1000", 0,
	    CF_RELOAD_HOT,
	    "events kept for a dropped socket; over it, it is not recovered" },
	    1, 100000, NULL, 1, 1 },
	{ { "debug-events", T_BOOL, F(debug_events), "no", 0, CF_RELOAD_HOT,
	    "enable the diagnostic events used by the test suite" },
	    0, 0, NULL, 1, 1 },
	{ { "jwt-secret", T_STRING, F(jwt_secret), NULL,
	    CF_CONF_SECRET, CF_RELOAD_HOT,
	    "HMAC secret for tokens (default: generated in data-dir)" },
	    32, 0, NULL, 1, 1 },
	{ { "jwt-secret-previous", T_STRING, F(jwt_secret_previous), NULL,
	    CF_CONF_SECRET, CF_RELOAD_HOT,
	    "previous HMAC secret, still accepted while keys rotate" },
	    32, 0, NULL, 1, 1 },
	{ { "jwt-algorithm", T_CHOICE, F(jwt_algorithm), "HS256",
	    0, CF_RELOAD_HOT, "HS256, HS384, HS512, RS256 or ES256" },
	    0, 0, jwt_alg_choices, 1, 1 },
	{ { "jwt-public-key", T_PEMKEY, F(jwt_public_key), NULL, 0,
	    CF_RELOAD_HOT,
	    "PEM public key file verifying RS256 or ES256 tokens" },
	    0, 64 * 1024, NULL, 1, 1 },
	{ { "jwt-issuer", T_STRING, F(jwt_issuer), NULL, 0, CF_RELOAD_HOT,
	    "issuer (iss claim) every token must carry" },
	    1, 0, NULL, 1, 1 },
	{ { "jwt-audience", T_STRING, F(jwt_audience), NULL, 0, CF_RELOAD_HOT,
	    "audience (aud claim) every token must name" },
	    1, 0, NULL, 1, 1 },
	{ { "jwt-leeway", T_DURATION, F(jwt_leeway_ms), "30s", 0, CF_RELOAD_HOT,
	    "clock skew allowed when checking exp and nbf" },
	    0, HOUR_MS, NULL, 1, 1 },
	/* The default roles come from role_defaults[], not from def. */
	{ { "role", T_ROLE, F(roles), NULL, CF_CONF_MULTI, CF_RELOAD_HOT,
	    "a role and its permissions, or none" },
	    0, 0, NULL, 2, 1 + CONF_NPERMS },
	{ { "auth-timeout", T_DURATION, F(auth_timeout_ms), "10s",
	    0, CF_RELOAD_HOT, "time a client has to authenticate" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-unauthenticated", T_U32, F(max_unauthenticated), "2048",
	    0, CF_RELOAD_HOT, "connections not yet authenticated, host-wide" },
	    1, 1000000, NULL, 1, 1 },
	{ { "max-unauthenticated-per-ip", T_U32,
	    F(max_unauthenticated_per_ip), "64", 0, CF_RELOAD_HOT,
	    "connections not yet authenticated from one address, or 0" },
	    0, 1000000, NULL, 1, 1 },
	{ { "attachment-timeout", T_DURATION, F(attachment_timeout_ms), "10s",
	    0,
	    CF_RELOAD_HOT, "time the binary attachments of a packet may take" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "typing-timeout", T_DURATION, F(typing_timeout_ms), "6s",
	    0, CF_RELOAD_HOT, "time a typing indicator lasts without renewal" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "cleanup-interval", T_DURATION, F(cleanup_interval_ms), "5m",
	    0, CF_RELOAD_HOT, "interval between sweeps of expired state" },
	    1000, HOUR_MS, NULL, 1, 1 },
	/*
	 * Every worker purges on its cleanup sweep (app/retention.c): the
	 * deletes are idempotent, so workers and hosts may overlap.
	 */
	{ { "message-retention", T_AGE, F(message_retention_ms), "off",
	    0, CF_RELOAD_HOT,
	    "age after which messages are deleted, or off to keep them" },
	    1, 100LL * 366 * 24 * 3600, NULL, 1, 1 },
	{ { "max-message-length", T_U32, F(max_message_length), "4000",
	    0, CF_RELOAD_HOT, "longest chat message, in characters" },
	    1, 100000, NULL, 1, 1 },
	{ { "rate-limit", T_RATE, F(rate_limit_events), "20 1", 0,
	    CF_RELOAD_HOT,
	    "events a socket may send per number of seconds" },
	    1, 100000, NULL, 2, 2 },
	{ { "max-connections-per-user", T_U32, F(max_connections_per_user),
	    "20", 0, CF_RELOAD_HOT, "simultaneous connections of one user" },
	    1, 10000, NULL, 1, 1 },
	{ { "call-ring-timeout", T_DURATION, F(call_ring_timeout_ms), "45s",
	    0, CF_RELOAD_HOT, "time a call may ring before it is missed" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "call-disconnect-grace", T_DURATION, F(call_disconnect_grace_ms),
	    "10s", 0, CF_RELOAD_HOT,
	    "time a call survives the disconnection of a party" },
	    1, HOUR_MS, NULL, 1, 1 },
	{ { "max-sdp-size", T_SIZE, F(max_sdp_size), "64k", 0, CF_RELOAD_HOT,
	    "largest SDP offer or answer relayed, in bytes" },
	    1024, 1024 * 1024, NULL, 1, 1 },
	{ { "max-ice-candidate-size", T_SIZE, F(max_ice_candidate_size), "4k",
	    0, CF_RELOAD_HOT, "largest ICE candidate relayed, in bytes" },
	    256, 64 * 1024, NULL, 1, 1 },
	{ { "ice-server", T_ICE, F(ice_servers), NULL,
	    CF_CONF_MULTI, CF_RELOAD_HOT,
	    "STUN or TURN server URL handed to calling clients" },
	    0, 255, NULL, 1, 1 },
	{ { "turn-secret", T_STRING, F(turn_secret), NULL,
	    CF_CONF_SECRET, CF_RELOAD_HOT,
	    "secret shared with the TURN server for temporary credentials" },
	    16, 0, NULL, 1, 1 },
	{ { "api-listen", T_API_LISTEN, F(api_listen), NULL, 0,
	    CF_RELOAD_GENERATION,
	    "serve the HTTP API only on this address, and only it there" },
	    0, 0, NULL, 1, 1 },
	{ { "api-key", T_API_KEY, F(api_keys), NULL,
	    CF_CONF_MULTI | CF_CONF_SECRET, CF_RELOAD_HOT,
	    "a named bearer key of the HTTP API (none: the API is off)" },
	    0, 0, NULL, 2, 2 },
	{ { "api-rate-limit", T_RATE, F(api_rate_requests), "1000 1", 0,
	    CF_RELOAD_HOT,
	    "HTTP API requests of one key per number of seconds, per worker" },
	    1, 1000000, NULL, 2, 2 },
	{ { "turn-credential-ttl", T_DURATION, F(turn_credential_ttl_ms), "1h",
	    0, CF_RELOAD_HOT, "lifetime of the TURN credentials handed out" },
	    1000, 24 * HOUR_MS, NULL, 1, 1 },
	/*
	 * Webhooks: all HOT, the workers read them at each event and each
	 * delivery.  The deliveries of an endpoint removed stay in the
	 * outbox (counted in its depth) and go out if its URL comes back.
	 */
	{ { "webhook", T_WEBHOOK, F(webhooks), NULL, CF_CONF_MULTI,
	    CF_RELOAD_HOT,
	    "URL signed event deliveries are POSTed to, then its events "
	    "(none: all)" },
	    0, 2048, NULL, 1, CONF_MAX_TOKENS - 1 },
	{ { "webhook-secret", T_STRING, F(webhook_secret), NULL,
	    CF_CONF_SECRET, CF_RELOAD_HOT,
	    "HMAC-SHA256 key signing webhook deliveries" },
	    32, 0, NULL, 1, 1 },
	{ { "webhook-timeout", T_DURATION, F(webhook_timeout_ms), "10s",
	    0, CF_RELOAD_HOT, "time one webhook request may take" },
	    100, 5 * 60 * 1000, NULL, 1, 1 },
	{ { "webhook-retry-for", T_DURATION, F(webhook_retry_for_ms), "24h",
	    0, CF_RELOAD_HOT,
	    "time a failing delivery is retried before it is dropped" },
	    1000, 7 * 24 * HOUR_MS, NULL, 1, 1 },
	{ { "webhook-concurrency", T_U32, F(webhook_concurrency), "8",
	    0, CF_RELOAD_HOT, "webhook requests in flight per worker" },
	    1, 1000, NULL, 1, 1 },
};

#undef F
#undef HOUR_MS

#define CONF_NRULES	(sizeof(conf_rules) / sizeof(conf_rules[0]))

const size_t conf_nrules = CONF_NRULES;
/* T_RATE writes the window right after the count. */
_Static_assert(offsetof(struct cf_conf, rate_limit_window_ms) ==
    offsetof(struct cf_conf, rate_limit_events) + sizeof(uint32_t) &&
    offsetof(struct cf_conf, api_rate_window_ms) ==
    offsetof(struct cf_conf, api_rate_requests) + sizeof(uint32_t),
    "a rate's window must follow its count");
_Static_assert(CONF_NRULES <= CONF_NRULES_MAX,
    "conf_parse.seen[] is too small for the directive table");

const struct conf_ops *const conf_types[T_NTYPES] = {
	[T_U32] = &conf_ops_u32,
	[T_DURATION] = &conf_ops_duration,
	[T_SIZE] = &conf_ops_size,
	[T_BOOL] = &conf_ops_bool,
	[T_STRING] = &conf_ops_string,
	[T_PATH] = &conf_ops_path,
	[T_CHOICE] = &conf_ops_choice,
	[T_LEVEL] = &conf_ops_level,
	[T_WORKERS] = &conf_ops_workers,
	[T_LISTEN] = &conf_ops_listen,
	[T_DATABASE] = &conf_ops_database,
	[T_REDIS] = &conf_ops_redis,
	[T_ORIGIN] = &conf_ops_origin,
	[T_ALLOW] = &conf_ops_allow,
	[T_PEMKEY] = &conf_ops_pemkey,
	[T_ROLE] = &conf_ops_role,
	[T_RATE] = &conf_ops_rate,
	[T_ICE] = &conf_ops_ice,
	[T_API_LISTEN] = &conf_ops_api_listen,
	[T_API_KEY] = &conf_ops_api_key,
	[T_WEBHOOK] = &conf_ops_webhook,
	[T_AGE] = &conf_ops_age,
};

/* Apply the default of rule r, written like a value in the file. */
static int
conf_default(struct conf_parse *p, const struct conf_rule *r)
{
	char	*copy, *tok[CONF_MAX_TOKENS];
	int	 ntok, ret;

	if ((copy = strdup(r->d.def)) == NULL) {
		conf_err(p, "out of memory");
		return (-1);
	}
	ntok = conf_tokenize(p, CONF_DEFAULT_SOURCE, 0, copy, tok);
	if (ntok < r->argmin || ntok > r->argmax) {
		conf_err(p, "%s: \"%s\": bad default \"%s\"",
		    CONF_DEFAULT_SOURCE, r->d.name, r->d.def);
		free(copy);
		return (-1);
	}
	ret = conf_apply(p, r, tok, ntok);
	free(copy);
	if (ret != CONF_OK) {
		conf_err(p, "%s: \"%s\": %s", CONF_DEFAULT_SOURCE, r->d.name,
		    p->why);
		return (-1);
	}
	return (0);
}

/*
 * Settings that are valid alone but not together, checked once the
 * whole file is read.  Errors name the main file.
 */
static int
conf_check(struct conf_parse *p)
{
	struct cf_conf	*c = p->conf;
	int		 hmac, i;

	if (c->user != NULL && getpwnam(c->user) == NULL) {
		conf_err(p, "%s: user %s: no such user", p->name, c->user);
		return (-1);
	}
	hmac = strncmp(c->jwt_algorithm, "HS", 2) == 0;
	if (!hmac && c->jwt_public_key == NULL) {
		conf_err(p, "%s: jwt-algorithm %s needs jwt-public-key",
		    p->name, c->jwt_algorithm);
		return (-1);
	}
	/* The workers tell the API listener by its port (eio/api.c). */
	for (i = 0; c->has_api_listen && i < c->nlisten; i++)
		if (cf_conf_listen_port(&c->listen[i]) ==
		    cf_conf_listen_port(&c->api_listen)) {
			conf_err(p, "%s: api-listen %s: port also used by "
			    "listen %s", p->name, c->api_listen.text,
			    c->listen[i].text);
			return (-1);
		}
	if (hmac && c->jwt_public_key != NULL) {
		conf_err(p, "%s: jwt-algorithm %s cannot use jwt-public-key "
		    "(an HMAC algorithm verifies with jwt-secret)", p->name,
		    c->jwt_algorithm);
		return (-1);
	}
	if (c->nwebhooks > 0 && c->webhook_secret == NULL) {
		conf_err(p, "%s: webhook needs webhook-secret", p->name);
		return (-1);
	}
	return (0);
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
			return (-1);
	}
	if (!p->db_is_url && c->database[0] != '/') {
		if ((abs = conf_abspath(c->data_dir, c->database)) == NULL) {
			conf_err(p, "out of memory");
			return (-1);
		}
		free(c->database);
		c->database = abs;
	}
	if (c->control_socket == NULL &&
	    (c->control_socket = conf_abspath(c->data_dir, "confabd.sock")) ==
	    NULL) {
		conf_err(p, "out of memory");
		return (-1);
	}
	/* sockaddr_un.sun_path holds 108 bytes, NUL included. */
	if (strlen(c->control_socket) >= 108) {
		conf_err(p, "%s: control-socket %s: longer than 107 bytes",
		    p->name, c->control_socket);
		return (-1);
	}
	return (conf_check(p));
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
		return (NULL);
	}
	for (i = 0; i < CONF_NRULES; i++)
		if (conf_types[conf_rules[i].d.type]->init != NULL)
			conf_types[conf_rules[i].d.type]->init(&p,
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
	return (p.conf);
fail:
	cf_conf_free(p.conf);
	return (NULL);
}

struct cf_conf *
cf_conf_load(const char *path, char *err, size_t errlen)
{
	if (path == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "no configuration file given");
		return (NULL);
	}
	return (conf_load(path, NULL, NULL, err, errlen));
}

struct cf_conf *
cf_conf_load_string(const char *text, const char *name, char *err,
    size_t errlen)
{
	return (conf_load(NULL, text != NULL ? text : "",
	    name != NULL ? name : "(string)", err, errlen));
}

struct cf_conf *
cf_conf_defaults(char *err, size_t errlen)
{
	return (cf_conf_load_string("", CONF_DEFAULT_SOURCE, err, errlen));
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
	free(conf->presence_scope);
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
	for (i = 0; i < conf->nwebhooks; i++)
		free(conf->webhooks[i].url);
	if (conf->webhook_secret != NULL)
		explicit_bzero(conf->webhook_secret,
		    strlen(conf->webhook_secret));
	free(conf->webhook_secret);
	free(conf);
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
	return (table);
}
