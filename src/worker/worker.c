/*
 * worker.c -- a worker process: one libuv loop, one lws context on it.
 *
 * Started by the master after fork() with the listening sockets, the inbox
 * sockets and the shared memory.  Signals are libuv signal handles, so their
 * work runs in the loop:
 *   SIGTERM, SIGINT  graceful stop: stop accepting, close every session so
 *                    clients reconnect elsewhere, exit 0 once they are gone
 *                    or shutdown-timeout has passed;
 *   SIGUSR2          hand over to a new generation of workers (a cold
 *                    reload): drain as for SIGTERM, but announce no
 *                    presence edges -- the clients come back on the new
 *                    workers, and the master reconciles what we held;
 *   SIGQUIT          exit at once;
 *   SIGHUP           re-read the configuration and apply its hot part;
 *   SIGUSR1          reopen the log file (the master reopened it first).
 * The worker also exits when the master dies (PR_SET_PDEATHSIG).  With the
 * `user` directive it switches to that user before anything else.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "secret.h"
#include "shm/shm.h"
#include "user.h"
#include "util.h"
#include "app/admin.h"
#include "app/api.h"
#include "app/batch.h"
#include "app/app.h"
#include "app/handlers.h"
#include "app/indexer.h"
#include "app/hook.h"
#include "app/retention.h"
#include "fanout/cluster.h"
#include "fanout/relay.h"
#include "fanout/room.h"
#include "eio/http.h"
#include "eio/pipe.h"
#include "eio/recover.h"
#include "eio/session.h"
#include "app/events.h"
#include "worker/worker.h"

struct cf_worker *cf_w;

/* The root of all of this worker's state (proc.h); cf_w points here. */
static struct cf_worker	 worker;

static void
lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	cf_log(level == LLL_ERR ? CF_LOG_WARN : CF_LOG_INFO, "lws: %.*s",
	    (int)n, line);
}

/* The store's write hook: the database write latency histogram. */
static void
observe_db_write(uint64_t us)
{
	cf_shm_observe_db_write(cf_shm_stats(worker.shm, worker.slot), us);
}

static void
reap_cb(uv_check_t *h)
{
	cf_sess_reap(h->data);
}

/*
 * Before the loop blocks: what timers (pings, expiries) and other work
 * of this turn queued goes out now (the check handle after the I/O of a
 * turn does the same before reaping).
 */
static void
flush_cb(uv_prepare_t *h)
{
	(void)h;
	cf_sess_flush();
}

static void
close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Tear everything down and leave the loop.  Once only: a SIGQUIT after
 * SIGTERM (the master's fast stop) or the drain timer must not close the
 * handles a second time.
 */
static void
shutdown_now(struct cf_worker *w)
{
	struct cf_sess *s, *tmp;

	if (w->shut_down)
		return;
	w->shut_down = 1;
	uv_timer_stop(&w->drain_timer);
	cf_batch_stop();	/* the replies it holds, before the sockets go */
	cf_recover_drop_all(w);
	HASH_ITER(hh, w->sessions, s, tmp)
		cf_sess_close(s, "server shutting down", 0);
	cf_sess_reap(w);
	cf_relay_free(w->relay);
	w->relay = NULL;
	cf_call_stop(w);
	cf_retention_stop(w);
	cf_indexer_stop(w);
	cf_hook_stop(w);
	cf_admin_stop();
	cf_ipc_stop();
	if (w->lws != NULL)
		lws_context_destroy(w->lws);
	uv_stop(&w->loop);
}

static void
drain_check(uv_timer_t *t)
{
	struct cf_worker *w = t->data;

	/*
	 * Presence changes sent to the cluster are answered, and the events
	 * they caused handed to Redis, before the worker goes.
	 */
	if ((w->nsessions == 0 && cf_cluster_pending() == 0 &&
	    cf_relay_unsent(w->relay) == 0) ||
	    cf_now_ms() >= w->drain_deadline) {
		if (w->nsessions > 0)
			cf_log_info("shutdown timeout: %zu sessions left",
			    w->nsessions);
		uv_timer_stop(t);
		shutdown_now(w);
		return;
	}
}

static void
start_drain(struct cf_worker *w)
{
	struct cf_sess *s, *tmp;
	struct cf_shm_stats *st;

	if (w->draining)
		return;
	w->draining = 1;
	if ((st = cf_shm_stats(w->shm, w->slot)) != NULL)
		__atomic_store_n(&st->ready, 0, __ATOMIC_RELAXED);
	w->drain_deadline = cf_now_ms() + w->conf->shutdown_timeout_ms;
	cf_log_info("%s: closing %zu sessions", w->handover ?
	    "handing over to new workers" : "stopping", w->nsessions);
	cf_accept_stop(w);
	cf_recover_drop_all(w);
	HASH_ITER(hh, w->sessions, s, tmp)
		cf_sess_close(s, "server shutting down", CF_CLOSE_GRACEFUL);
	uv_timer_start(&w->drain_timer, drain_check, 0, 20);
}

static void
reload(struct cf_worker *w)
{
	char err[CF_CONF_ERRLEN];
	struct cf_conf *nc;

	if (w->conf_path == NULL)
		return;
	if ((nc = cf_conf_load(w->conf_path, err, sizeof(err))) == NULL) {
		cf_log_warnx("reload refused: %s", err);
		return;
	}
	/* Without jwt-secret the generated one in data-dir stays in force. */
	if (cf_secret_ensure(nc) == -1) {
		cf_log_warnx("reload refused: no JWT secret");
		cf_conf_free(nc);
		return;
	}
	cf_conf_free(w->conf);
	w->conf = nc;
	cf_log_set_level(nc->log_level);
	cf_log_info("configuration reloaded");
}

static void
signal_cb(uv_signal_t *h, int signum)
{
	struct cf_worker *w = h->data;

	switch (signum) {
	case SIGTERM:
	case SIGINT:
		start_drain(w);
		break;
	case SIGUSR2:
		if (!w->draining)
			w->handover = 1;
		start_drain(w);
		break;
	case SIGQUIT:
		w->exit_code = 0;
		shutdown_now(w);
		break;
	case SIGHUP:
		reload(w);
		break;
	case SIGUSR1:
		if (cf_log_reopen() == -1)
			cf_log_warn("reopen log file %s", cf_log_file());
		break;
	}
}

static int
lws_start(struct cf_worker *w)
{
	struct lws_context_creation_info info;
	void *loops[1] = { &w->loop };

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV |
	    LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
	    LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.foreign_loops = loops;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = cf_http_protocols;
	info.max_http_header_data = 8192;
	info.pt_serv_buf_size = 16384;
	info.keepalive_timeout = 60;
	info.timeout_secs = 20;
	info.vhost_name = "confabd";
	if ((w->lws = lws_create_context(&info)) == NULL) {
		cf_log_warnx("lws_create_context failed");
		return (-1);
	}
	if ((w->vhost = lws_create_vhost(w->lws, &info)) == NULL) {
		cf_log_warnx("lws_create_vhost failed (is libwebsockets-evlib-uv "
		    "installed?)");
		return (-1);
	}
	return (0);
}

static void
close_unused_fds(struct cf_worker_init *in)
{
	unsigned i;

	for (i = 0; i < in->nslots; i++)
		if (i != in->slot && in->inbox_rx[i] != -1)
			close(in->inbox_rx[i]);
}

/* ------------------------------------------------------------ wiring */

/*
 * The layers below call upward only through what is registered here: the
 * inbox kinds go to the layer that owns them, the transport tells the
 * fan-out of a socket that left, the cluster tells the application of
 * presence edges, and the transport serves the chat application.
 */
static void
on_ipc_fd(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)src;
	(void)data;
	(void)len;
	cf_accept_adopt(&worker, fd);
}

static void
on_ipc_relay(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)src;
	(void)fd;
	cf_relay_ipc(&worker, data, len);
}

static void
on_ipc_fwd_req(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)fd;
	(void)cf_fwd_request(&worker, src, data, len);
}

static void
on_ipc_pipe(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)fd;
	cf_pipe_receive(&worker, "", src, data, len);
}

/* pipe.c's messages for another host, over the relay's Redis. */
static int
pipe_remote(const char *host, unsigned slot, const void *msg, size_t len)
{
	return (cf_relay_pipe(worker.relay, host, slot, msg, len));
}

static void
on_ipc_fwd_resp(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)src;
	(void)fd;
	cf_fwd_response(&worker, data, len);
}

/* Presence keys ('\n'-joined) left with no connection by a dead worker. */
static void
on_ipc_gone(unsigned src, const uint8_t *data, size_t len, int fd)
{
	char key[256];
	size_t i, n;

	(void)src;
	(void)fd;
	if (cf_app->on_gone == NULL)
		return;
	for (i = 0; i < len; i = i + n + 1) {
		for (n = 0; i + n < len && data[i + n] != '\n'; n++)
			;
		if (n == 0 || n >= sizeof(key))
			continue;
		memcpy(key, data + i, n);
		key[n] = '\0';
		cf_app->on_gone(&worker, key);
	}
}

static void
on_ipc_ctl(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)src;
	(void)data;
	(void)len;
	cf_admin_adopt(&worker, fd);	/* takes the descriptor */
}

static void
on_ipc_request(unsigned src, const uint8_t *data, size_t len, int fd)
{
	(void)src;
	(void)fd;
	cf_relay_ipc_request(&worker, data, len);
}

static void
on_sock_left(struct cf_sess *s)
{
	cf_room_leave_all(&worker, s);
}

static void
wire(void)
{
	if (cf_app == NULL)
		cf_app = &cf_confabd_app;
	cf_ipc_on(CF_IPC_FD, on_ipc_fd);
	cf_ipc_on(CF_IPC_RELAY, on_ipc_relay);
	cf_ipc_on(CF_IPC_FWD_REQ, on_ipc_fwd_req);
	cf_ipc_on(CF_IPC_FWD_RESP, on_ipc_fwd_resp);
	cf_ipc_on(CF_IPC_GONE, on_ipc_gone);
	cf_ipc_on(CF_IPC_CTL, on_ipc_ctl);
	cf_ipc_on(CF_IPC_REQUEST, on_ipc_request);
	cf_ipc_on(CF_IPC_PIPE, on_ipc_pipe);
	cf_pipe_on_remote(pipe_remote);
	cf_sock_on_left(on_sock_left);
	cf_sock_on_moved(cf_room_moved);
	cf_cluster_on_edge(cf_presence_edge, cf_presence_heal);
	cf_room_on_server_emit(&worker, cf_app_server_emit);
}

/*
 * Each module's state (proc.h), before wire() registers anything in it.
 * 0, or -1 when out of memory (the worker exits).
 */
static int
state_init(struct cf_worker *w)
{
	if (cf_sess_init(w) == -1 || cf_http_init(w) == -1 ||
	    cf_cluster_init(w) == -1 || cf_batch_init(w) == -1 ||
	    cf_call_init(w) == -1 || cf_event_init(w) == -1 ||
	    cf_presence_init(w) == -1 || cf_admin_init(w) == -1 ||
	    cf_auth_init(w) == -1 || cf_api_init(w) == -1 ||
	    cf_hook_init(w) == -1 || cf_indexer_init(w) == -1 ||
	    cf_retention_init(w) == -1)
		return (-1);
	return (0);
}

/*
 * Once the loop is closed: the modules' uv handles live in their state,
 * so it goes only when libuv has run every close callback.
 */
static void
state_free(struct cf_worker *w)
{
	cf_hook_free(w);
	cf_indexer_free(w);
	cf_retention_free(w);
	cf_admin_free(w);
	cf_presence_free(w);
	cf_auth_free(w);
	cf_api_free(w);
	cf_event_free(w);
	cf_call_free(w);
	cf_batch_free(w);
	cf_cluster_free(w);
	cf_http_free(w);
	cf_sess_free(w);
}

int
cf_worker_main(struct cf_worker_init *in)
{
	struct cf_worker *w = &worker;
	char name[32], tag[12];
	uint8_t rnd[6];

	/*
	 * glibc gives the top of the heap back to the kernel as soon as 128
	 * KiB are free there, and a worker storing messages frees and takes
	 * back about that much per event: the page faults and brk calls cost
	 * about 1 ms of CPU per durable send (bench/durable-sends.mjs: ten
	 * times what the rest costs).  Keep up to 4 MiB.
	 */
	(void)mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
	cf_w = w;
	if (state_init(w) == -1)
		return (1);
	wire();
	w->slot = in->slot;
	w->nslots = in->nslots;
	w->generation = in->generation;
	w->conf = in->conf;
	w->conf_path = in->conf_path;
	w->shm = in->shm;
	snprintf(name, sizeof(name), "%u", in->slot);
	cf_log_set_proc(name);
	/* The master's log reopen may arrive before the libuv handler. */
	signal(SIGUSR1, SIG_IGN);
	/* Before PR_SET_PDEATHSIG: a change of credentials clears it. */
	if (cf_user_drop() == -1)
		return (2);	/* fatal: never serve as root by mistake */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		return (1);	/* the master died before we got here */
	close_unused_fds(in);
	cf_strlcpy(w->host, w->conf->host_id != NULL ? w->conf->host_id :
	    cf_shm_run_id(w->shm), sizeof(w->host));
	(void)cf_random_bytes(rnd, sizeof(rnd));
	cf_base64url_encode(tag, rnd, sizeof(rnd));
	tag[8] = '\0';
	snprintf(w->uid, sizeof(w->uid), "%.40s/%u/%.8s", w->host, w->slot,
	    tag);
	if (cf_shm_stats(w->shm, w->slot) != NULL) {
		struct cf_shm_stats *st = cf_shm_stats(w->shm, w->slot);

		st->pid = getpid();
		st->started_ms = cf_wall_ms();
	}

	if (uv_loop_init(&w->loop) != 0)
		return (1);
	lws_set_log_level(getenv("CF_LWS_DEBUG") ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : LLL_ERR,
	    lws_log_emit);
	cf_store_set_write_hook(observe_db_write);
	if (cf_shm_stats(w->shm, w->slot) != NULL)
		cf_store_set_statement_counter(&cf_shm_stats(w->shm,
		    w->slot)->db_statements);
	if (cf_db_open_worker(w->conf) == -1 || cf_batch_start(w) == -1)
		return (1);
	if (lws_start(w) == -1)
		return (1);
	if (cf_ipc_start(&w->loop, w->slot, w->nslots, in->inbox_rx[in->slot],
	    in->inbox_tx) == -1)
		return (1);
	/* A respawned slot holds no socket: sessions piped to it end. */
	cf_pipe_start();
	if ((w->relay = cf_relay_new(w, &cf_room_sink)) == NULL)
		return (1);
	if (cf_accept_start(w, in->listen_fds, in->nlisten) == -1)
		return (1);
	cf_call_start(w);
	cf_retention_start(w);
	cf_indexer_start(w);
	if (cf_hook_start(w) == -1)
		return (1);
	cf_event_summary_start(w);

	uv_signal_init(&w->loop, &w->sig_term);
	uv_signal_init(&w->loop, &w->sig_int);
	uv_signal_init(&w->loop, &w->sig_quit);
	uv_signal_init(&w->loop, &w->sig_hup);
	uv_signal_init(&w->loop, &w->sig_usr1);
	uv_signal_init(&w->loop, &w->sig_usr2);
	w->sig_term.data = w->sig_int.data = w->sig_quit.data = w;
	w->sig_hup.data = w->sig_usr1.data = w->sig_usr2.data = w;
	uv_signal_start(&w->sig_usr1, signal_cb, SIGUSR1);
	uv_signal_start(&w->sig_term, signal_cb, SIGTERM);
	uv_signal_start(&w->sig_int, signal_cb, SIGINT);
	uv_signal_start(&w->sig_quit, signal_cb, SIGQUIT);
	uv_signal_start(&w->sig_hup, signal_cb, SIGHUP);
	uv_signal_start(&w->sig_usr2, signal_cb, SIGUSR2);
	uv_check_init(&w->loop, &w->reaper);
	w->reaper.data = w;
	uv_check_start(&w->reaper, reap_cb);
	uv_prepare_init(&w->loop, &w->flusher);
	uv_prepare_start(&w->flusher, flush_cb);
	uv_timer_init(&w->loop, &w->drain_timer);
	w->drain_timer.data = w;

	/* The master waits for this before the old generation drains. */
	if (cf_shm_stats(w->shm, w->slot) != NULL)
		__atomic_store_n(&cf_shm_stats(w->shm, w->slot)->ready, 1,
		    __ATOMIC_RELEASE);
	cf_log_ev(CF_LOG_INFO, "ready", "pid=%d", (int)getpid());
	uv_run(&w->loop, UV_RUN_DEFAULT);

	/*
	 * lws with a foreign loop needs a second destroy once the loop has
	 * run the first one's closes; then close what is left and drain.
	 */
	uv_run(&w->loop, UV_RUN_NOWAIT);
	if (w->lws != NULL) {
		lws_context_destroy(w->lws);
		w->lws = NULL;
	}
	uv_walk(&w->loop, close_walk, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&w->loop);
	state_free(w);
	cf_ipc_free();
	cf_db_close_worker();
	cf_conf_free(w->conf);
	cf_log_ev(CF_LOG_INFO, "exited", "status=%d", w->exit_code);
	return (w->exit_code);
}
