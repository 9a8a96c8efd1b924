/*
 * batch.h -- group commit of chat messages, per loop turn.
 *
 * The first message a loop turn stores opens a batch (one transaction,
 * see cf_store_batch_begin); every message stored in the same turn, from
 * any socket, joins it.  The replies a message produces (its ack, and its
 * broadcast) are queued here instead of being sent; at the end of the turn
 * the batch commits and then the replies go out in the order they were
 * queued.  When the commit fails every queued ack becomes the spec's
 * error (the error event and {ok:false, error:{code:"internal"}}) and
 * nothing is broadcast.  So a message is committed before it is acked or
 * broadcast, as for a single write.
 *
 * A batch is also committed early when it holds BATCH_MAX messages or is
 * older than BATCH_MS, and whenever another write is about to run (store_stmt.c
 * calls the flush hook), so no other reply ever waits behind a batch.
 */
#ifndef CF_BATCH_H
#define CF_BATCH_H

#include <jansson.h>

#include "app/ack.h"
#include "proc.h"

/*
 * The module's state (w->batch): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe), with the
 * replies of a batch never committed (not sent).
 */
int	 cf_batch_init(struct cf_worker *w);
void	 cf_batch_free(struct cf_worker *w);
/* Set up the loop handles and the store hook (after cf_db_open_worker). */
int	 cf_batch_start(struct cf_worker *w);
/* Commit what is open and send its replies; the handles stay until the
 * loop closes them. */
void	 cf_batch_stop(void);
/*
 * Before storing a message: open a batch (committing a full or old one
 * first).  0, or a negative errno: then store nothing and fail the event.
 */
int	 cf_batch_begin(void);
/*
 * Queue the replies of a message stored in the open batch: args, the ack's
 * argument array, for ctx's socket (when it asked for an ack), and
 * [event, payload] for room (payload may be NULL: no broadcast).  args and
 * payload are stolen.  The socket is remembered by its id, never by
 * pointer: one that closes before the commit just gets nothing.
 */
void	 cf_batch_reply(struct cf_event_ctx *ctx, json_t *args,
	    const char *room, const char *event, json_t *payload);
/*
 * Queue [event, payload] for room, sent after the replies queued before
 * it once the batch commits (dropped if it fails); payload stolen.
 */
void	 cf_batch_emit(const char *room, const char *event, json_t *payload);
/*
 * Commit the open batch (if any) and send its replies.  0, or the commit's
 * error (the queued acks were failed).
 */
int	 cf_batch_flush(void);

#endif
