/*
 * events.h -- the dispatcher of client events and the rows of its table.
 *
 * Each client-to-server event is one row: its name, flags, an argument
 * specification checked before the handler runs, the handler, the
 * permission it needs and the shape of its argument (a field list,
 * args.h).  A payload that fails validation never reaches the handler:
 * the client gets an error ack ({ok:false, error:{code:"invalid_payload",
 * ...}}) when it asked for one.
 */
#ifndef CF_EVENTS_H
#define CF_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "codec/sio.h"
#include "app/ack.h"
#include "app/args.h"
#include "eio/session.h"

#define CF_EV_DEBUG	0x01	/* served only with debug-events on */
#define CF_EV_NOAUTH	0x02	/* allowed before authentication */

/*
 * argspec: one character per positional argument --
 *   s  non-empty string (at most 256 bytes)    S  any string
 *   i  integer    n  number    b  boolean    o  object    a  array
 *   .  anything
 * then optionally '*' (any number of further arguments of any type).
 * Without '*', extra arguments are an error.
 *
 * Then, in this order, each before the handler runs:
 *   perm    every permission bit (perm.h) the event needs, or 0: else
 *           forbidden "Permission denied";
 *   shape   CF_ARG_OBJ: the fields are members of argument 0, an object
 *           (CF_ARG_OBJ_OPT: or absent, or null), else invalid_payload
 *           with objerr (NULL: the first field's message); 0: the one
 *           field (key NULL) is argument 0 itself;
 *   fields  the field list (args.h: key, type, CF_F_OPT, limits, the
 *           exact error message), checked in order, the first bad one
 *           answered invalid_payload with its message; NULL: none.
 * The handler reads the checked values from ctx->v[] by its field's
 * index (the named indices in handlers.h), and keeps the checks a list
 * cannot state (several fields together, membership, the database).
 */
struct cf_event_def {
	const char		*name;
	unsigned		 flags;
	const char		*argspec;
	cf_event_fn		 fn;
	const char		*errev;	/* "chat:error", "call:error", ... */
	uint32_t		 perm;
	unsigned		 shape;
	const char		*objerr;
	const struct cf_field	*fields;
};

/*
 * Dispatch a complete EVENT / BINARY_EVENT packet (data = [name, ...]) to
 * the row of rows[0..nrows) its name selects (the application's table,
 * app.c; the row's index is its counter in /metrics).
 */
void	 cf_event_dispatch(struct cf_sess *s, struct cf_sio_packet *p,
	    const struct cf_event_def *rows, size_t nrows);
struct cf_worker;
/*
 * The module's state (w->events): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_event_init(struct cf_worker *w);
void	 cf_event_free(struct cf_worker *w);
/* Start the periodic info summary line (log-summary-interval). */
void	 cf_event_summary_start(struct cf_worker *w);


#endif
