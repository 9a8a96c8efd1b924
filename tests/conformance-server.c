/*
 * conformance-server.c -- the server the official Engine.IO v4 and
 * Socket.IO v5 test suites expect, built from confabd's own protocol code:
 *
 *   /engine.io/  Engine.IO echo: every message goes back unchanged;
 *   /socket.io/  namespaces "/" and "/custom"; on connect the socket gets
 *                "auth" with its CONNECT payload; "message" is answered with
 *                "message-back" and the same arguments; "message-with-ack"
 *                acks with its arguments;
 *   pingInterval 300 ms, pingTimeout 200 ms, connectTimeout 1000 ms,
 *   maxPayload 1000000, CORS for any origin.
 *
 * usage: conformance-server [-p port] [-w workers]   (default 3000, 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "master/master.h"
#include "eio/http.h"
#include "eio/session.h"
#include "worker/worker.h"

static int
nsp_allowed(const char *nsp)
{
	return (strcmp(nsp, "/custom") == 0);
}

/*
 * Emits "auth" with the CONNECT payload.  The main namespace's session keeps
 * no empty payload (s->auth is NULL then), and the suite expects {} for it.
 */
static void
emit_auth(struct cf_sess *s, const char *nsp, json_t *auth)
{
	json_t *ev = auth != NULL ? json_pack("[sO]", "auth", auth) :
	    json_pack("[s{}]", "auth");

	if (ev == NULL)
		return;
	if (strcmp(nsp, "/") == 0)
		(void)cf_sock_emit(s, ev, NULL, 0, NULL, NULL);
	else
		(void)cf_sock_emit_nsp(s, nsp, ev);
	json_decref(ev);
}

static int
on_connect(struct cf_sess *s, const char *nsp, json_t *auth, const char **why)
{
	(void)why;
	if (strcmp(nsp, "/") != 0)
		emit_auth(s, nsp, auth);
	return (0);
}

static void
on_event(struct cf_sess *s, struct cf_sio_packet *p)
{
	struct cf_sio_packet r;
	const char *name;
	json_t *args;

	if (p == NULL) {
		emit_auth(s, "/", s->auth);
		return;
	}
	name = json_string_value(json_array_get(p->data, 0));
	if (name == NULL)
		return;
	memset(&r, 0, sizeof(r));
	r.id = -1;
	cf_strlcpy(r.nsp, p->nsp, sizeof(r.nsp));
	r.nattach = p->nattach;
	memcpy(r.att, p->att, sizeof(r.att));
	if (strcmp(name, "message") == 0) {
		args = json_copy(p->data);
		json_array_set_new(args, 0, json_string("message-back"));
		r.type = CF_SIO_EVENT;
		r.data = args;
		(void)cf_sock_send_packet(s, &r);
		json_decref(args);
	} else if (strcmp(name, "message-with-ack") == 0 && p->id >= 0) {
		args = json_copy(p->data);
		json_array_remove(args, 0);
		r.type = CF_SIO_ACK;
		r.id = p->id;
		r.data = args;
		(void)cf_sock_send_packet(s, &r);
		json_decref(args);
	}
}

static const struct cf_app conformance_app = {
	.nsp_allowed = nsp_allowed,
	.on_connect = on_connect,
	.on_event = on_event,
};

int
main(int argc, char *argv[])
{
	char text[1024], err[CF_CONF_ERRLEN], dir[] = "/tmp/cf-conformance-XXXXXX";
	struct cf_conf *conf;
	int ch, port = 3000, workers = 1;

	while ((ch = getopt(argc, argv, "p:w:")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'w':
			workers = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: conformance-server [-p port] "
			    "[-w workers]\n");
			return (1);
		}
	}
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	/* The reference test server runs without connection state
	 * recovery: no pid in CONNECT, no offsets. */
	snprintf(text, sizeof(text),
	    "listen *:%d\nworkers %d\ndata-dir %s\nping-interval 300\n"
	    "recovery-window 0\n"
	    "ping-timeout 200\nconnect-timeout 1000\nmax-payload 1000000\n"
	    "cors-origin *\njwt-secret conformance-server-secret-0123456789abcdef\n"
	    "log-level warn\n", port, workers, dir);
	cf_log_init(0, CF_LOG_WARN);
	if ((conf = cf_conf_load_string(text, "conformance", err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return (1);
	}
	cf_app = &conformance_app;
	cf_http_engine_echo = 1;
	return (cf_master_run(conf, NULL, 1, cf_worker_main));
}
