/*
 * ack.h -- the context of one client event and the answers to it.
 *
 * The bottom of the application layer (HACKING.md "Layers"): the
 * dispatcher (events.c) fills a struct cf_event_ctx per event, the
 * handlers answer through it.  An ack is answered at most once: after an
 * answer ack_id is -1 and a second one is a no-op.
 */
#ifndef CF_ACK_H
#define CF_ACK_H

#include <stdint.h>

#include <jansson.h>

#include "codec/sio.h"
#include "app/args.h"
#include "eio/session.h"

struct cf_event_ctx {
	struct cf_sess			*s;
	const char			*name;
	json_t				*args;		/* the arguments after the name */
	const struct cf_sio_att		*att;
	int				 nattach;
	int64_t				 ack_id;	/* -1: no ack requested */
	const char			*errev;		/* the spec's error event */
	const char			*err_code;	/* the error answered, if any */
	/* The row's fields, checked: v[i] is field i of the row's list. */
	struct cf_arg_val		 v[CF_ARG_FIELDS_MAX];
};

typedef void (*cf_event_fn)(struct cf_event_ctx *ctx);

/* Answer the ack (args is an array, reference stolen); no-op without ack. */
void	 cf_event_ack(struct cf_event_ctx *ctx, json_t *args);
/* The same with binary attachments (att[0..nattach), borrowed). */
void	 cf_event_ack_att(struct cf_event_ctx *ctx, json_t *args,
	    const struct cf_sio_att *att, int nattach);
/* Answer {ok:false, error:{code, message}}; counted by code in /metrics. */
void	 cf_event_ack_error(struct cf_event_ctx *ctx, const char *code,
	    const char *message);

#endif
