/*
 * ack.c -- answering a client's event: the ack, with its arguments or an
 * error.  The bottom of the application layer: every handler, the group
 * commit (batch.c) and the dispatcher answer through these.
 */
#include <string.h>

#include <jansson.h>

#include "proc.h"
#include "shm/shm.h"
#include "app/ack.h"
#include "eio/session.h"

void
cf_event_ack_att(struct cf_event_ctx *ctx, json_t *args, const struct cf_sio_att *att,
    int nattach)
{
	struct cf_sio_packet p;

	if (ctx->ack_id < 0) {
		json_decref(args);
		return;
	}
	memset(&p, 0, sizeof(p));
	p.type = CF_SIO_ACK;
	p.id = ctx->ack_id;
	strcpy(p.nsp, "/");
	p.data = args;
	p.nattach = nattach;
	if (nattach > 0)
		memcpy(p.att, att, nattach * sizeof(*att));
	(void)cf_sock_send_packet(ctx->s, &p);
	json_decref(args);
	ctx->ack_id = -1;	/* an ack is answered once */
}

void
cf_event_ack(struct cf_event_ctx *ctx, json_t *args)
{
	cf_event_ack_att(ctx, args, NULL, 0);
}

void
cf_event_ack_error(struct cf_event_ctx *ctx, const char *code,
    const char *message)
{
	/* Every error code sent, acked or not, passes here (/metrics). */
	cf_shm_count_error(cf_shm_stats(cf_w->shm, cf_w->slot), code);
	ctx->err_code = code;
	cf_event_ack(ctx, json_pack("[{s:b,s:{s:s,s:s}}]", "ok", 0, "error",
	    "code", code, "message", message));
}
