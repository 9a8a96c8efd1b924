/*
 * conf_int.h -- what the pieces of the configuration loader share; not
 * for the rest of the daemon, which includes conf.h only.
 *
 *   load.c    the directive table (conf_rules[]), the loaders, defaults,
 *             cross-checks and cf_conf_free
 *   lexer.c   reading files, the include stack, the tokenizer, applying
 *             one directive line, path resolution
 *   types.c   the value types (numbers, durations, sizes, strings, paths,
 *             choices, roles, rate, ICE servers): parse, render, compare
 *   net.c     the network values (listen, database, redis, cors-origin,
 *             metrics-allow) and the address checks built on them
 *   diff.c    cf_conf_diff and the reload class of a change
 *   api.c     the HTTP API's values (api-listen, api-key)
 *
 * Names shared between these files start with conf_ (the module's private
 * prefix); everything else in them is static.
 */
#ifndef CF_CONF_INT_H
#define CF_CONF_INT_H

#include <stddef.h>

#include "conf.h"

#define CONF_MAX_DEPTH		8		/* include nesting */
#define CONF_MAX_TOKENS		16		/* kept per line; more are counted */
#define CONF_MAX_FILE		(1024 * 1024)
#define CONF_MAX_LINE		(64 * 1024)
#define CONF_MAX_WORKERS	64
#define CONF_DEFAULT_SOURCE	"(defaults)"
#define CONF_ROLE_MAXLEN	31		/* longest role name */
#define CONF_RATE_MAX_WINDOW	3600		/* rate-limit seconds */

#define CONF_NPERMS		9		/* bits of CF_PERM_ALL */
#define CONF_MAX_ALLOW_ARGS	8		/* metrics-allow values per line */

#define CONF_HOUR_MS		(3600LL * 1000)

/* The value types; conf_types[] maps each to its ops. */
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
	T_API_LISTEN,	/* an address as for listen, api_listen */
	T_API_KEY,	/* NAME KEY, api_keys[]/napi_keys */
	T_WEBHOOK,	/* http(s) URL of at most max bytes, then event
			 * names: webhooks[]/nwebhooks */
	T_AGE,		/* "off" (0) or number + s|m|h|d within [min, max]
			 * seconds, uint64_t milliseconds */
	T_NTYPES
};

/* One directive: its public row plus what the loader checks. */
struct conf_rule {
	struct cf_directive	 d;
	long long		 min;
	long long		 max;
	const char *const	*choices;	/* NULL-terminated */
	int			 argmin;	/* arguments after the name; */
	int			 argmax;	/* argmax < CONF_MAX_TOKENS */
};

/* The directive table (load.c) and its length. */
extern const struct conf_rule	 conf_rules[];
extern const size_t		 conf_nrules;
#define CONF_NRULES_MAX		96	/* bound of conf_parse.seen[] */

/* State of one load: the snapshot under construction and the include stack. */
struct conf_parse {
	struct cf_conf	*conf;
	const char	*name;		/* main file or string name */
	unsigned	 seen[CONF_NRULES_MAX];
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
 * What a type does.  set (one argument) or setv (argmin..argmax of them)
 * stores the value(s) in the snapshot; init (may be NULL) installs
 * built-in values before the file is read.  render writes the value as it
 * could be written in the file (lists joined with spaces), "(unset)" for
 * a missing one, always NUL-terminated and truncated to len.  same is 1
 * when the value is equal in a and b; NULL compares the rendered texts.
 */
struct conf_ops {
	int	(*set)(struct conf_parse *, const struct conf_rule *,
		    const char *);
	int	(*setv)(struct conf_parse *, const struct conf_rule *,
		    char *const *, int);
	void	(*init)(struct conf_parse *, const struct conf_rule *);
	void	(*render)(const struct cf_conf *, const struct conf_rule *,
		    char *, size_t);
	int	(*same)(const struct cf_conf *, const struct cf_conf *,
		    const struct conf_rule *);
};

/* The ops of each type (types.c and net.c), indexed by enum conf_type. */
extern const struct conf_ops	 conf_ops_u32, conf_ops_duration,
				 conf_ops_size, conf_ops_bool,
				 conf_ops_string, conf_ops_path,
				 conf_ops_choice, conf_ops_level,
				 conf_ops_workers, conf_ops_pemkey,
				 conf_ops_role, conf_ops_rate, conf_ops_ice,
				 conf_ops_age;
extern const struct conf_ops	 conf_ops_listen, conf_ops_database,
				 conf_ops_redis, conf_ops_origin,
				 conf_ops_allow, conf_ops_api_listen,
				 conf_ops_api_key, conf_ops_webhook;
extern const struct conf_ops *const conf_types[T_NTYPES];

/* lexer.c: errors, files, lines. */
void	 conf_err(struct conf_parse *p, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
int	 conf_why(struct conf_parse *p, int ret, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	 conf_tokenize(struct conf_parse *p, const char *file, int lineno,
	    char *line, char **tok);
int	 conf_apply(struct conf_parse *p, const struct conf_rule *r,
	    char *const *argv, int argc);
int	 conf_parse_text(struct conf_parse *p, const char *file, int isfile,
	    char *text, size_t len);
int	 conf_parse_file(struct conf_parse *p, const char *path,
	    const char *from, int fromline);
char	*conf_read_file(const char *path, size_t max, size_t *lenp);
char	*conf_abspath(const char *base, const char *path);
char	*conf_abspath_cwd(struct conf_parse *p, const char *path);

/* types.c: helpers the network values use too. */
void	*conf_field(struct conf_parse *p, const struct conf_rule *r);
const void *conf_cfield(const struct cf_conf *c, const struct conf_rule *r);
int	 conf_number(const char *s, unsigned long long *v, const char **end);
int	 conf_store_str(struct conf_parse *p, const struct conf_rule *r,
	    char *owned);
int	 conf_has_prefix(const char *s, const char *prefix);
void	 conf_render_str(const struct cf_conf *c, const struct conf_rule *r,
	    char *buf, size_t len);
int	 conf_same_str(const struct cf_conf *a, const struct cf_conf *b,
	    const struct conf_rule *r);
void	 conf_render_list(char *buf, size_t len, char *const *v, int n);

/* net.c: a listen address into *l (CONF_OK or a setter's error). */
int	 conf_parse_listen(struct conf_parse *p, const char *v,
	    struct cf_listen *l);
/* net.c: 1 when two listen values are the same address. */
int	 conf_same_address(const struct cf_listen *a,
	    const struct cf_listen *b);

/* diff.c: append text to buf (NUL-terminated; truncated when full). */
void	 conf_cat(char *buf, size_t len, const char *text);

#endif
