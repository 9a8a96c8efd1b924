/*
 * ops.h -- the operations that both a client's event (channels.c,
 * broadcast.c) and the control socket (admin.c) run: one implementation
 * each, which checks the values (lengths in characters, args.h), stores
 * and emits.  The callers read their own JSON field names and word their
 * own errors.
 */
#ifndef CF_OPS_H
#define CF_OPS_H

#include <stdint.h>

#include <jansson.h>

/* Who acts: a user, or the operator ("0", "System"). */
struct cf_op_actor {
	const char	*user_id;
	const char	*name;
};

/* The values as received (NULL: absent). */
struct cf_op_channel {
	const json_t	*name;		/* 1..100 characters, not blank */
	const json_t	*description;	/* optional, <= 1000 characters */
	const json_t	*priv;		/* optional boolean */
	const json_t	*members;	/* optional array of <= 1000 user ids */
};

/*
 * Create a channel: 0 with *ch (the caller owns it); -EINVAL with *bad
 * naming the value at fault ("name", "description", "isPrivate",
 * "memberIds"); else the store's negative errno (*bad NULL).
 */
int	 cf_op_channel_create(const struct cf_op_actor *who,
	    const struct cf_op_channel *a, json_t **ch, const char **bad);
/*
 * A system broadcast to every authenticated socket: message (1 to
 * max-message-length characters, not blank), priority (optional: high,
 * normal, low).  Stored, then emitted.  0 with *bid; -EINVAL with *bad
 * ("message", "priority"); else a negative errno.
 */
int	 cf_op_broadcast(const struct cf_op_actor *who, const json_t *message,
	    const json_t *priority, int64_t *bid, const char **bad);

#endif
