/*
 * confabctl.c -- confabctl [-j] [-c file | -s socket] command [argument...]
 *
 * Talks to a running confabd through its control socket (control-socket
 * in the configuration; never the public port): one line of JSON out, one
 * line of JSON back.  The reply is printed for humans, or as it is with -j.
 * Exit status: 0 done, 1 the daemon refused or could not be reached,
 * 2 usage.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "util.h"

#ifndef CF_DEFAULT_CONF
#define CF_DEFAULT_CONF	"/usr/local/etc/confabd.conf"
#endif

#define CTL_REPLY_MAX	(64 * 1024 * 1024)

static void
usage(void)
{
	fprintf(stderr,
	    "usage: confabctl [-j] [-c file | -s socket] command [argument...]\n"
	    "commands:\n"
	    "  token USER [NAME [ROLE]] [-d days]\n"
	    "  channel-create NAME [-p] [-D description] [-m USER,...] "
	    "[-u creator]\n"
	    "  broadcast MESSAGE [high|normal|low]\n"
	    "  online\n"
	    "  stats\n"
	    "  api-key NAME    (prints a new api-key line; needs no daemon)\n");
	exit(2);
}

/*
 * The control socket path from -s, -c, the default file, or else the
 * built-in defaults as confabd resolves them (data-dir against the current
 * directory) when that socket exists here, or else the locator the daemon
 * started last wrote (cf_locator_read), which works from any directory.
 */
static char *
socket_path(const char *sock, const char *conf_path)
{
	char err[CF_CONF_ERRLEN], loc[PATH_MAX], *p;
	struct cf_conf *conf;

	if (sock != NULL)
		return (strdup(sock));
	if (conf_path == NULL && access(CF_DEFAULT_CONF, F_OK) == 0)
		conf_path = CF_DEFAULT_CONF;
	conf = conf_path != NULL ? cf_conf_load(conf_path, err, sizeof(err)) :
	    cf_conf_defaults(err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "confabctl: %s\n", err);
		return (NULL);
	}
	if (conf_path == NULL && access(conf->control_socket, F_OK) == -1 &&
	    cf_locator_read(loc, sizeof(loc)) == 0)
		p = strdup(loc);
	else
		p = strdup(conf->control_socket);
	cf_conf_free(conf);
	return (p);
}

/* Send req (one line) to path and return the parsed reply, or NULL. */
static json_t *
roundtrip(const char *path, const json_t *req)
{
	struct sockaddr_un sun;
	json_error_t jerr;
	json_t *rep = NULL;
	char *line = NULL, *buf = NULL, *nl, *tmp;
	size_t len = 0, cap = 0, off, n = 0;
	ssize_t r;
	int fd = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "confabctl: %s: path too long\n", path);
		return (NULL);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "confabctl: %s: %s (is confabd running? "
		    "Name its control socket with -s PATH, by default "
		    "confabd.sock in its data-dir, or its configuration with "
		    "-c FILE)\n", path, strerror(errno));
		goto done;
	}
	if ((line = json_dumps(req, JSON_COMPACT)) == NULL)
		goto done;
	n = strlen(line);
	line[n++] = '\n';	/* json_dumps's NUL becomes the newline */
	for (off = 0; off < n; off += (size_t)r) {
		if ((r = send(fd, line + off, n - off, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR) {
				r = 0;
				continue;
			}
			fprintf(stderr, "confabctl: send: %s\n", strerror(errno));
			goto done;
		}
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > CTL_REPLY_MAX ||
			    (tmp = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "confabctl: reply too long\n");
				goto done;
			}
			buf = tmp;
		}
		r = read(fd, buf + len, cap - len - 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			fprintf(stderr, "confabctl: read: %s\n", strerror(errno));
			goto done;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (buf == NULL || len == 0 ||
	    (nl = memchr(buf, '\n', len)) == NULL) {
		fprintf(stderr, "confabctl: no reply from confabd\n");
		goto done;
	}
	*nl = '\0';
	if ((rep = json_loads(buf, 0, &jerr)) == NULL || !json_is_object(rep)) {
		fprintf(stderr, "confabctl: bad reply: %s\n", jerr.text);
		json_decref(rep);
		rep = NULL;
	}
 done:
	if (fd != -1)
		close(fd);
	if (line != NULL) {
		explicit_bzero(line, n);	/* it may hold a message */
		free(line);
	}
	free(buf);
	return (rep);
}

static json_int_t
geti(const json_t *o, const char *key)
{
	return (json_integer_value(json_object_get(o, key)));
}

static const char *
gets_(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return (s != NULL ? s : "");
}

static void
print_human(const char *cmd, const json_t *rep)
{
	const json_t *v, *ch;
	size_t i;

	if (strcmp(cmd, "token") == 0)
		printf("%s\n", gets_(rep, "token"));
	else if (strcmp(cmd, "channel-create") == 0) {
		ch = json_object_get(rep, "channel");
		printf("channel %" JSON_INTEGER_FORMAT " \"%s\" created (%s)\n",
		    geti(ch, "id"), gets_(ch, "name"),
		    json_is_true(json_object_get(ch, "isPrivate")) ? "private" :
		    "public");
	} else if (strcmp(cmd, "broadcast") == 0)
		printf("broadcast %" JSON_INTEGER_FORMAT " sent\n",
		    geti(rep, "broadcastId"));
	else if (strcmp(cmd, "online") == 0) {
		printf("%-20s %-30s %s\n", "USER", "NAME", "CONNECTIONS");
		json_array_foreach(json_object_get(rep, "users"), i, v)
			printf("%-20s %-30s %" JSON_INTEGER_FORMAT "\n",
			    gets_(v, "userId"), gets_(v, "name"),
			    geti(v, "connections"));
		printf("%" JSON_INTEGER_FORMAT " users online\n",
		    geti(rep, "count"));
	} else if (strcmp(cmd, "stats") == 0) {
		printf("connections %" JSON_INTEGER_FORMAT
		    ", users online %" JSON_INTEGER_FORMAT
		    ", events/s %" JSON_INTEGER_FORMAT "\n",
		    geti(rep, "connections"), geti(rep, "usersOnline"),
		    geti(rep, "eventsPerSecond"));
		printf("%-7s %-8s %-4s %-10s %-8s %-9s %-10s %s\n", "WORKER",
		    "PID", "UP", "WEBSOCKET", "POLLING", "EVENTS/S",
		    "DELIVERED", "RESTARTS");
		json_array_foreach(json_object_get(rep, "workers"), i, v)
			printf("%-7" JSON_INTEGER_FORMAT " %-8" JSON_INTEGER_FORMAT
			    " %-4s %-10" JSON_INTEGER_FORMAT " %-8"
			    JSON_INTEGER_FORMAT " %-9" JSON_INTEGER_FORMAT " %-10"
			    JSON_INTEGER_FORMAT " %" JSON_INTEGER_FORMAT "\n",
			    geti(v, "worker"), geti(v, "pid"),
			    json_is_true(json_object_get(v, "up")) ? "yes" : "no",
			    geti(v, "websocket"), geti(v, "polling"),
			    geti(v, "eventsPerSecond"), geti(v, "deliveriesOut"),
			    geti(v, "restarts"));
	}
}

/* A user id argument: an integer claim when all digits. */
static json_t *
user_arg(const char *s)
{
	char *end;
	long long v;

	if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 18) {
		v = strtoll(s, &end, 10);
		if (*end == '\0')
			return (json_integer(v));
	}
	return (json_string(s));
}

/* Build the request of argv (the command and its arguments), or usage. */
static json_t *
request(int argc, char *argv[])
{
	const char *cmd = argv[0];
	json_t *req = json_pack("{s:s}", "cmd", cmd), *mem;
	char *p, *tok, *save;
	long days;
	int ch;

	optind = 0;	/* glibc: a full restart of getopt on the new argv */
	if (strcmp(cmd, "token") == 0) {
		while ((ch = getopt(argc, argv, "d:")) != -1) {
			if (ch != 'd' || (days = strtol(optarg, &p, 10)) < 1 ||
			    *p != '\0')
				usage();
			json_object_set_new(req, "days", json_integer(days));
		}
		argc -= optind;
		argv += optind;
		if (argc < 1 || argc > 3)
			usage();
		json_object_set_new(req, "user", user_arg(argv[0]));
		if (argc > 1)
			json_object_set_new(req, "name", json_string(argv[1]));
		if (argc > 2)
			json_object_set_new(req, "role", json_string(argv[2]));
	} else if (strcmp(cmd, "channel-create") == 0) {
		while ((ch = getopt(argc, argv, "pD:m:u:")) != -1) {
			switch (ch) {
			case 'p':
				json_object_set_new(req, "private",
				    json_true());
				break;
			case 'D':
				json_object_set_new(req, "description",
				    json_string(optarg));
				break;
			case 'm':
				mem = json_array();
				for (tok = strtok_r(optarg, ",", &save);
				    tok != NULL; tok = strtok_r(NULL, ",", &save))
					json_array_append_new(mem,
					    user_arg(tok));
				json_object_set_new(req, "members", mem);
				break;
			case 'u':
				json_object_set_new(req, "createdBy",
				    user_arg(optarg));
				break;
			default:
				usage();
			}
		}
		argc -= optind;
		argv += optind;
		if (argc != 1)
			usage();
		json_object_set_new(req, "name", json_string(argv[0]));
	} else if (strcmp(cmd, "broadcast") == 0) {
		if (argc < 2 || argc > 3)
			usage();
		json_object_set_new(req, "message", json_string(argv[1]));
		if (argc > 2)
			json_object_set_new(req, "priority",
			    json_string(argv[2]));
	} else if (strcmp(cmd, "online") == 0 || strcmp(cmd, "stats") == 0) {
		if (argc != 1)
			usage();
	} else {
		fprintf(stderr, "confabctl: unknown command %s\n", cmd);
		usage();
	}
	return (req);
}

/*
 * api-key NAME: print a configuration line with a new random key (32
 * bytes, base64url: 43 characters) for the HTTP API.  The daemon is not
 * asked: the line goes into its configuration, then SIGHUP.
 */
static int
api_key(int argc, char *argv[])
{
	uint8_t raw[32];
	char key[64];
	size_t n;

	if (argc != 2 || argv[1][0] == '\0' || strlen(argv[1]) > 64 ||
	    strspn(argv[1], "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(argv[1])) {
		fprintf(stderr, "confabctl: api-key NAME: a name of letters, "
		    "digits, '_', '.' and '-', at most 64\n");
		return (2);
	}
	if (cf_random_bytes(raw, sizeof(raw)) == -1) {
		fprintf(stderr, "confabctl: no random bytes\n");
		return (1);
	}
	n = cf_base64url_encode(key, raw, sizeof(raw));
	key[n] = '\0';
	explicit_bzero(raw, sizeof(raw));
	printf("api-key %s %s\n", argv[1], key);
	explicit_bzero(key, sizeof(key));
	return (0);
}

int
main(int argc, char *argv[])
{
	const char *sock = NULL, *conf_path = NULL, *cmd;
	json_t *req, *rep, *err;
	char *path, *s;
	int ch, raw = 0, rc = 1;

	/* '+': options stop at the command, which has its own. */
	while ((ch = getopt(argc, argv, "+c:s:jh")) != -1) {
		switch (ch) {
		case 'c':
			conf_path = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'j':
			raw = 1;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (sock != NULL && conf_path != NULL))
		usage();
	cmd = argv[0];
	if (strcmp(cmd, "api-key") == 0)
		return (api_key(argc, argv));
	if ((req = request(argc, argv)) == NULL)
		return (1);
	if ((path = socket_path(sock, conf_path)) == NULL) {
		json_decref(req);
		return (1);
	}
	rep = roundtrip(path, req);
	json_decref(req);
	free(path);
	if (rep == NULL)
		return (1);
	if (json_is_true(json_object_get(rep, "ok")))
		rc = 0;
	if (raw) {
		if ((s = json_dumps(rep, JSON_COMPACT)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
	} else if (rc == 0)
		print_human(cmd, rep);
	if (rc != 0 && !raw) {
		err = json_object_get(rep, "error");
		fprintf(stderr, "confabctl: %s: %s\n", gets_(err, "code"),
		    gets_(err, "message"));
	}
	json_decref(rep);
	return (rc);
}
