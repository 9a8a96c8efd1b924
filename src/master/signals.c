/*
 * signals.c -- the master's signals.  A handler only sets a flag and
 * writes one byte to a self-pipe; the loop (master.c) polls the pipe,
 * takes the flags and does the work.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "master/master_int.h"

static volatile sig_atomic_t got_chld, got_hup, got_term, got_quit, got_usr1;
static int selfpipe[2] = { -1, -1 };

static void
on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGCHLD:
		got_chld = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGTERM:
	case SIGINT:
		got_term = 1;
		break;
	case SIGQUIT:
		got_quit = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	}
	(void)write(selfpipe[1], "", 1);
	errno = saved;
}

static const int handled[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGQUIT,
    SIGUSR1 };


int
master_signals_setup(void)
{
	struct sigaction sa;
	size_t i;

	if (pipe2(selfpipe, O_NONBLOCK | O_CLOEXEC) == -1)
		return (-1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		if (sigaction(handled[i], &sa, NULL) == -1)
			return (-1);
	signal(SIGPIPE, SIG_IGN);
	return (0);
}

/* In a new worker: default dispositions, nothing blocked. */
void
master_signals_child(void)
{
	sigset_t all;
	size_t i;

	for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		signal(handled[i], SIG_DFL);
	close(selfpipe[0]);
	close(selfpipe[1]);
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* The signals received since the last call, as MASTER_SIG_* bits. */
unsigned
master_signals_take(void)
{
	unsigned got = 0;

	if (got_chld) {
		got_chld = 0;
		got |= MASTER_SIG_CHLD;
	}
	if (got_hup) {
		got_hup = 0;
		got |= MASTER_SIG_HUP;
	}
	if (got_term) {
		got_term = 0;
		got |= MASTER_SIG_TERM;
	}
	if (got_quit) {
		got_quit = 0;
		got |= MASTER_SIG_QUIT;
	}
	if (got_usr1) {
		got_usr1 = 0;
		got |= MASTER_SIG_USR1;
	}
	return (got);
}

int
master_signals_fd(void)
{
	return (selfpipe[0]);
}

/* Empty the self-pipe (non-blocking): the flags say what happened. */
void
master_signals_drain(void)
{
	char drain[64];

	while (read(selfpipe[0], drain, sizeof(drain)) > 0)
		;
}
