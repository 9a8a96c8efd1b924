/*
 * conf.h -- the configuration: an immutable snapshot parsed from a file.
 *
 * The file holds one directive per line, "name value...", '#' comments and
 * "include FILE" (relative to the including file).  Every directive is a row
 * of the declarative table in conf/load.c: name, type, default, flags
 * (repeatable, secret) and reload class.  Errors name "file:line".
 */
#ifndef CF_CONF_H
#define CF_CONF_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define CF_CONF_MAX_LISTEN	16
#define CF_CONF_MAX_ORIGINS	64
#define CF_CONF_ERRLEN		512
#define CF_CONF_MAX_ROLES	32
#define CF_CONF_MAX_ICE		16
#define CF_CONF_MAX_ALLOW	32
#define CF_CONF_MAX_API_KEYS	16
#define CF_API_KEY_MIN		32
#define CF_API_KEY_MAX		256
#define CF_CONF_MAX_WEBHOOKS	16

/*
 * One webhook line: the URL deliveries are POSTed to and the events it
 * takes (CF_CONF_HOOK_ALL when the line names none).  The bit of an event
 * is 1 << its index in cf_conf_hook_events[].
 */
struct cf_webhook {
	char			*url;		/* http:// or https:// */
	uint32_t		 events;
};
#define CF_CONF_HOOK_ALL	0xffffffffu

struct cf_role {
	char			 name[32];
	uint32_t		 perms;		/* CF_PERM_* bits (perm.h) */
};

/* One metrics-allow entry: an address prefix, or any address. */
struct cf_allow {
	int			 family;	/* AF_INET, AF_INET6, AF_UNSPEC: any */
	uint8_t			 addr[16];	/* network order; 4 bytes for IPv4 */
	int			 prefix;	/* bits compared: 0..32 or 0..128 */
};

/* A named bearer key of the HTTP API (api-key NAME KEY). */
struct cf_api_key {
	char			 name[65];
	char			 key[CF_API_KEY_MAX + 1];
};

struct cf_listen {
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 any;		/* "*:port": dual-stack :: (v6only off) */
	int			 v6only;	/* set for an explicit IPv6 address */
	char			 text[80];	/* as written, for logs */
};

struct cf_conf {
	char			*path;		/* absolute path of the main file, or NULL */

	struct cf_listen	 listen[CF_CONF_MAX_LISTEN];
	int			 nlisten;
	int			 workers;	/* resolved: "auto" -> number of CPUs */
	char			*data_dir;	/* absolute */
	char			*database;	/* absolute SQLite path, or a postgresql:// URL */
	char			*default_channel; /* created on first start; "" none */
	char			*sqlite_synchronous; /* "full" (default), "normal", "off" */
	char			*redis;		/* "redis://host:port/db" as written, or NULL */
	char			*redis_host;	/* parsed from redis; NULL when unset */
	int			 redis_port;
	int			 redis_db;
	char			*host_id;	/* cluster name of this host, or NULL: random per run */
	uint32_t		 presence_host_timeout_ms; /* default 15 s */
	char			*cors_origins[CF_CONF_MAX_ORIGINS];
	int			 ncors_origins;	/* "*" may be one of them */
	struct cf_allow		 metrics_allow[CF_CONF_MAX_ALLOW];
	int			 nmetrics_allow; /* default: 127.0.0.1, ::1 */
	int			 log_level;	/* enum cf_log_level */
	int			 log_payloads;	/* bool: payloads in debug event lines */
	uint32_t		 log_summary_interval_ms; /* 0: no summary lines */
	char			*pidfile;	/* absolute, or NULL */
	char			*log_file;	/* absolute, or NULL: stderr/syslog */
	char			*control_socket; /* absolute; default confabd.sock in data_dir */
	char			*user;		/* workers run as this user, or NULL */

	uint32_t		 ping_interval_ms;
	uint32_t		 ping_timeout_ms;
	uint32_t		 connect_timeout_ms;
	uint32_t		 upgrade_timeout_ms;
	uint32_t		 shutdown_timeout_ms;
	size_t			 max_payload;
	size_t			 max_output_buffer; /* per session, queued + unsent */
	uint32_t		 presence_slots;
	int			 presence_broadcast; /* bool: connect/disconnect events to all */
	char			*presence_scope; /* "all" (default), "channels", "subscribed" */
	uint32_t		 presence_coalesce_ms; /* default 1 s; 0: off */
	uint32_t		 recovery_window_ms; /* default 2 min; 0: off */
	uint32_t		 recovery_max_events; /* default 1000 */
	int			 debug_events;	/* bool: enable the diagnostic events */
	char			*jwt_secret;	/* NULL: generated in data_dir/jwt-secret */
	char			*jwt_algorithm;	/* "HS256" by default */
	char			*jwt_secret_previous; /* also accepted (key rotation) */
	char			*jwt_public_key; /* absolute path of a PEM file, or NULL */
	char			*jwt_public_key_pem; /* its contents, read at load */
	size_t			 jwt_public_key_len;
	char			*jwt_issuer;	/* required "iss" when set */
	char			*jwt_audience;	/* required in "aud" when set */
	uint32_t		 jwt_leeway_ms;	/* exp/nbf leeway, default 30 s */

	/* Roles: the defaults (admin, agent, user), replaced or extended
	 * by "role NAME PERMISSION..." lines. */
	struct cf_role		 roles[CF_CONF_MAX_ROLES];
	int			 nroles;

	uint32_t		 auth_timeout_ms;	/* default 10 s */
	uint32_t		 max_unauthenticated;	/* host-wide, default 2048 */
	uint32_t		 max_unauthenticated_per_ip; /* 0: no cap; 64 */
	uint32_t		 attachment_timeout_ms;	/* default 10 s */
	uint32_t		 max_message_length;	/* characters, default 4000 */
	uint32_t		 rate_limit_events;	/* default 20 ... */
	uint32_t		 rate_limit_window_ms;	/* ... per 1 s */
	uint32_t		 max_connections_per_user; /* default 20 */
	uint32_t		 cleanup_interval_ms;	/* default 5 min */
	uint64_t		 message_retention_ms;	/* 0: off (default) */
	uint32_t		 typing_timeout_ms;	/* default 6 s */

	/* Calls. */
	uint32_t		 call_ring_timeout_ms;	/* default 45 s */
	uint32_t		 call_disconnect_grace_ms; /* default 10 s */
	size_t			 max_sdp_size;		/* default 64 KiB */
	size_t			 max_ice_candidate_size; /* default 4 KiB */
	char			*ice_servers[CF_CONF_MAX_ICE];	/* URLs */
	int			 nice_servers;
	char			*turn_secret;		/* NULL: no TURN credentials */
	uint32_t		 turn_credential_ttl_ms; /* default 1 h */

	/* The HTTP API (off while no key exists). */
	struct cf_listen	 api_listen;	/* valid when has_api_listen */
	int			 has_api_listen;
	struct cf_api_key	 api_keys[CF_CONF_MAX_API_KEYS];
	int			 napi_keys;
	uint32_t		 api_rate_requests;	/* default 1000 ... */
	uint32_t		 api_rate_window_ms;	/* ... per 1 s */

	/* Webhooks (app/hook.c). */
	struct cf_webhook	 webhooks[CF_CONF_MAX_WEBHOOKS];
	int			 nwebhooks;
	char			*webhook_secret;	/* >= 32 bytes; needed by webhook */
	uint32_t		 webhook_timeout_ms;	/* per request, default 10 s */
	uint32_t		 webhook_retry_for_ms;	/* default 24 h */
	uint32_t		 webhook_concurrency;	/* in flight per worker, 8 */
};

/* The port of a listen value, in host order. */
int		 cf_conf_listen_port(const struct cf_listen *l);

/*
 * The webhook event names, NULL-terminated, in bit order (struct
 * cf_webhook): a new event is one more name here.
 */
extern const char *const cf_conf_hook_events[];
/* The bit of a webhook event name, or 0 when it is not one. */
uint32_t	 cf_conf_hook_event(const char *name);

/* The permissions of a role, or 0 when the role is unknown. */
uint32_t	 cf_conf_role_perms(const struct cf_conf *conf, const char *role);
/*
 * 1 when the role exists (built-in or given by a role line, even with no
 * permission), else 0; NULL conf or role: 0.
 */
int		 cf_conf_role_known(const struct cf_conf *conf, const char *role);

/* Directive flags. */
#define CF_CONF_MULTI	0x01	/* may appear more than once */
#define CF_CONF_SECRET	0x04	/* never logged: a change says "changed" */

/*
 * When a changed directive takes effect: every row has one of HOT,
 * RESTART or GENERATION.  Ordered by what a reload does about a change:
 * a diff reports the highest class among the changed directives, and the
 * master starts a new generation for GENERATION, else signals the serving
 * workers (a RESTART change is logged and waits for the next start; a new
 * generation re-reads every HOT directive as well).
 */
enum cf_conf_reload {
	CF_RELOAD_NONE = 0,	/* a diff only: nothing changed */
	CF_RELOAD_HOT,		/* SIGHUP: the running workers re-read it */
	CF_RELOAD_RESTART,	/* takes effect at the next restart only */
	CF_RELOAD_GENERATION	/* a new generation of workers applies it */
};

struct cf_directive {
	const char	*name;
	int		 type;		/* enum conf_type (conf/conf_int.h) */
	size_t		 offset;	/* offsetof(struct cf_conf, ...) */
	const char	*def;		/* default value as it would be written, or NULL */
	int		 flags;
	enum cf_conf_reload reload;	/* never CF_RELOAD_NONE */
	const char	*help;		/* one line, for -t output and docs */
};

/*
 * Call fn (may be NULL) for each directive whose value differs between a
 * and b, in table order, with both values as text (valid during the
 * call); both are NULL for a CF_CONF_SECRET directive, so that no caller
 * can print a secret.  *n (may be NULL) receives the number of directives
 * that differ.  Returns the highest reload class among them
 * (CF_RELOAD_NONE: a and b are equal).
 */
enum cf_conf_reload cf_conf_diff_class(const struct cf_conf *a,
		    const struct cf_conf *b, void (*fn)(void *arg,
		    const struct cf_directive *d, const char *old,
		    const char *new), void *arg, int *n);
/* The same, returning the number of directives that differ. */
int		 cf_conf_diff(const struct cf_conf *a, const struct cf_conf *b,
		    void (*fn)(void *arg, const struct cf_directive *d,
		    const char *old, const char *new), void *arg);

/* The directive table, for docs and tests.  *n receives its length. */
const struct cf_directive *cf_conf_directives(size_t *n);

/*
 * Parse `path` into a new snapshot.  Relative paths in values resolve
 * against the current directory (data-dir) or data-dir (database).
 * Returns the snapshot (free with cf_conf_free), or NULL with a message in
 * err ("file:line: what is wrong") -- err also reports I/O errors.
 */
struct cf_conf	*cf_conf_load(const char *path, char *err, size_t errlen);
/* Same from a string; `name` stands in for the file name in messages. */
struct cf_conf	*cf_conf_load_string(const char *text, const char *name,
		    char *err, size_t errlen);
/* The built-in defaults, as if from an empty file. */
struct cf_conf	*cf_conf_defaults(char *err, size_t errlen);
/* NULL-safe. */
void		 cf_conf_free(struct cf_conf *conf);
/* 1 when origin (e.g. "http://localhost:8080") is allowed by cors-origin. */
int		 cf_conf_origin_allowed(const struct cf_conf *conf, const char *origin);
/*
 * 1 when the peer address sa (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address counts as IPv4) may read /metrics under metrics-allow, else 0.
 */
int		 cf_conf_metrics_allowed(const struct cf_conf *conf,
		    const struct sockaddr *sa);

#endif
