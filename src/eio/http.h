/*
 * http.h -- the lws protocol of the transport: HTTP long-polling, the
 * WebSocket, /metrics, and polling requests forwarded between workers
 * (http.c, poll.c, ws.c, metrics.c, fwd.c; their shared parts are in
 * http_int.h).  What the process shell wires: the protocol table and the
 * two inbox kinds.
 */
#ifndef CF_HTTP_H
#define CF_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "proc.h"

extern const struct lws_protocols cf_http_protocols[];
/* Serve /engine.io/ as a bare Engine.IO echo (the conformance server). */
extern int cf_http_engine_echo;
/*
 * The protocol's state (w->http, http_int.h): allocated before the shell
 * wires anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_http_init(struct cf_worker *w);
void	 cf_http_free(struct cf_worker *w);
/*
 * CF_IPC_FWD_REQ from slot src: serve it for a session we own.  0/-1.
 * data is the payload as the inbox delivers it: at least a struct
 * cf_ipc_fwd_req (ipc.c checks its size before dispatch), then the
 * body.
 */
int	 cf_fwd_request(struct cf_worker *w, unsigned src,
	    const uint8_t *data, size_t len);
/* CF_IPC_FWD_RESP: the owner answered a request we forwarded (at least a
 * struct cf_ipc_fwd_resp, then the body, as ipc.c guarantees). */
void	 cf_fwd_response(struct cf_worker *w, const uint8_t *data,
	    size_t len);

#endif
