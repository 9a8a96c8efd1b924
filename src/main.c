/*
 * main.c -- confabd [-ft] [-c file]
 *
 * Parse the configuration, check it (-t), prepare the data directory and
 * the development secret, daemonise unless -f, write the pidfile and hand
 * over to the master.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "master/master.h"
#include "secret.h"
#include "user.h"
#include "worker/worker.h"

#ifndef CF_DEFAULT_CONF
#define CF_DEFAULT_CONF	"/usr/local/etc/confabd.conf"
#endif

/*
 * The spec's "Basic Chat Connection" example with the URL and the token
 * filled in (%1$s, %2$s), plus what makes it a program: displayMessage,
 * and each line typed sent to channel 1.
 */
static const char chat_snippet[] =
    "import io from 'socket.io-client';\n"
    "const displayMessage = (m) => console.log(`${m.userDisplayName}: "
    "${m.message}`);\n"
    "\n"
    "const socket = io('%1$s');\n"
    "\n"
    "// Authenticate\n"
    "socket.emit('authenticate', '%2$s');\n"
    "\n"
    "socket.on('authenticated', (user) => {\n"
    "  console.log('Connected as:', user.displayName);\n"
    "  \n"
    "  // Join a channel\n"
    "  socket.emit('join_channel', 1);\n"
    "});\n"
    "\n"
    "// Listen for new messages\n"
    "socket.on('chat:new_message', (message) => {\n"
    "  displayMessage(message);\n"
    "});\n"
    "\n"
    "// Send a message\n"
    "const sendMessage = (channelId, text) => {\n"
    "  socket.emit('chat:send_message', {\n"
    "    channelId,\n"
    "    message: text,\n"
    "    messageType: 'text'\n"
    "  });\n"
    "};\n"
    "\n"
    "process.stdin.on('data', (line) => sendMessage(1, "
    "String(line).trim()));\n";

/*
 * Next to the development token: a second user's token and a program
 * that chats as that user, so that two people can talk at once.
 */
static void
print_second_user(const struct cf_conf *conf)
{
	const struct sockaddr_storage *ss = &conf->listen[0].addr;
	char url[64], *tok;
	int port = 3001;

	if ((tok = cf_secret_token(conf, "2", "Guest", "user", 30, NULL)) ==
	    NULL)
		return;
	if (conf->nlisten > 0 && ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (conf->nlisten > 0 && ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	snprintf(url, sizeof(url), "http://localhost:%d", port);
	printf("Second user (user 2, Guest, user; 30 days):\n%s\n", tok);
	printf("To chat as user 2 in channel 1 (\"general\"): save the lines "
	    "between the markers\nas chat.mjs where `npm install "
	    "socket.io-client` was run, then `node chat.mjs`\nand type "
	    "messages.\n----- chat.mjs -----\n");
	printf(chat_snippet, url, tok);
	printf("----- end of chat.mjs -----\n");
	explicit_bzero(tok, strlen(tok));
	free(tok);
}

static void
usage(void)
{
	fprintf(stderr, "usage: confabd [-ft] [-c file]\n");
	exit(1);
}

static int
mkdir_p(const char *path)
{
	char buf[4096], *p;

	if (strlen(path) >= sizeof(buf))
		return (-1);
	strcpy(buf, path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0750) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(buf, 0750) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

static int
daemonize(void)
{
	pid_t pid;
	int fd;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid != 0)
		_exit(0);
	if (setsid() == -1)
		return (-1);
	if ((pid = fork()) == -1)
		return (-1);
	if (pid != 0)
		_exit(0);
	umask(027);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return (0);
}

static int
write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644))
	    == -1) {
		cf_log_warn("pidfile %s", path);
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, n) != n) {
		cf_log_warn("pidfile %s: write", path);
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/*
 * Every connection is a descriptor, and lws sizes its tables from the
 * limit the workers inherit: raise the soft RLIMIT_NOFILE to the hard one
 * (often 1024 of 524288 outside systemd).  A failure only logs.  The
 * figure is logged: running out of descriptors makes the workers pause
 * accepting (accept.c), and the limit is the first thing to check.
 */
static void
raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		cf_log_warn("getrlimit RLIMIT_NOFILE");
		return;
	}
	was = rl.rlim_cur;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			cf_log_warn("setrlimit RLIMIT_NOFILE");
			rl.rlim_cur = was;
		}
	}
	cf_log_ev(CF_LOG_INFO, "fd_limit", "nofile=%llu hard=%llu was=%llu",
	    (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
	    (unsigned long long)was);
}

int
main(int argc, char *argv[])
{
	char err[CF_CONF_ERRLEN], *tok;
	const char *path = NULL;
	struct cf_conf *conf;
	int ch, foreground = 0, test = 0, builtin = 0, rc;

	while ((ch = getopt(argc, argv, "c:fth")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	cf_log_init(0, CF_LOG_INFO);
	cf_log_set_proc("master");

	if (path == NULL && access(CF_DEFAULT_CONF, F_OK) == 0)
		path = CF_DEFAULT_CONF;
	if (path != NULL)
		conf = cf_conf_load(path, err, sizeof(err));
	else {
		builtin = 1;
		conf = cf_conf_defaults(err, sizeof(err));
	}
	if (conf == NULL) {
		fprintf(stderr, "confabd: %s\n", err);
		if (test)
			fprintf(stderr, "confabd: configuration test failed\n");
		return (1);
	}
	if (test) {
		printf("confabd: the configuration %s is ok\n",
		    builtin ? "(built-in defaults)" : path);
		cf_conf_free(conf);
		return (0);
	}
	cf_log_set_level(conf->log_level);
	if (conf->log_file != NULL && cf_log_set_file(conf->log_file) == -1) {
		cf_log_warn("log-file %s", conf->log_file);
		cf_conf_free(conf);
		return (1);
	}
	if (cf_user_setup(conf) == -1) {
		cf_conf_free(conf);
		return (1);
	}
	if (builtin)
		cf_log_info("no configuration file: using built-in defaults");

	if (mkdir_p(conf->data_dir) == -1) {
		cf_log_warn("data-dir %s", conf->data_dir);
		cf_conf_free(conf);
		return (1);
	}
	if (cf_secret_ensure(conf) == -1) {
		cf_conf_free(conf);
		return (1);
	}
	if (builtin && foreground &&
	    (tok = cf_secret_devtoken(conf, 30)) != NULL) {
		printf("Development token (user 1, Developer, admin; 30 days):\n"
		    "%s\n", tok);
		free(tok);
		print_second_user(conf);
		fflush(stdout);
	}
	if (!foreground) {
		if (daemonize() == -1) {
			cf_log_warn("daemonize");
			return (1);
		}
		cf_log_init(1, conf->log_level);
		cf_log_set_proc("master");
	}
	raise_fd_limit();
	if (conf->pidfile != NULL && write_pidfile(conf->pidfile) == -1) {
		cf_conf_free(conf);
		return (1);
	}
	{
		char *pidfile = conf->pidfile ? strdup(conf->pidfile) : NULL;

		rc = cf_master_run(conf, path, foreground, cf_worker_main);
		if (pidfile != NULL) {
			(void)unlink(pidfile);
			free(pidfile);
		}
	}
	return (rc);
}
