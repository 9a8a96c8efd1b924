/*
 * ops.c -- the operations shared by the event handlers and the control
 * socket (ops.h).
 */
#include <errno.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/args.h"
#include "app/chat.h"
#include "app/ops.h"
#include "fanout/room.h"
#include "proc.h"

#define CF_NAME_MAX		100
#define CF_DESC_MAX		1000
#define CF_MEMBERS_MAX		1000
#define CF_USER_ID_MAX		64

static const char *const priorities[] = { "high", "normal", "low", NULL };

int
cf_op_channel_create(const struct cf_op_actor *who,
    const struct cf_op_channel *a, json_t **ch, const char **bad)
{
	const char *name, *desc = NULL, **ids = NULL;
	char (*idbuf)[CF_USER_ID_MAX] = NULL;
	size_t i, n = 0;
	int rc, priv = 0;

	*bad = NULL;
	if (cf_arg_text(a->name, CF_NAME_MAX, &name) == -1) {
		*bad = "name";
		return (-EINVAL);
	}
	if (a->description != NULL && !json_is_null(a->description) &&
	    cf_arg_str(a->description, 0, CF_DESC_MAX, &desc) == -1) {
		*bad = "description";
		return (-EINVAL);
	}
	if (a->priv != NULL && !json_is_null(a->priv)) {
		if (!json_is_boolean(a->priv)) {
			*bad = "isPrivate";
			return (-EINVAL);
		}
		priv = json_is_true(a->priv);
	}
	if (a->members != NULL && !json_is_null(a->members)) {
		if (!json_is_array(a->members) ||
		    json_array_size(a->members) > CF_MEMBERS_MAX) {
			*bad = "memberIds";
			return (-EINVAL);
		}
		n = json_array_size(a->members);
	}
	if ((ids = calloc(n + 1, sizeof(*ids))) == NULL ||
	    (idbuf = calloc(n + 1, sizeof(*idbuf))) == NULL) {
		free(ids);
		return (-ENOMEM);
	}
	for (i = 0; i < n; i++) {
		if (cf_arg_user_id(json_array_get(a->members, i), 0, idbuf[i],
		    sizeof(idbuf[i])) == -1) {
			free(ids);
			free(idbuf);
			*bad = "memberIds";
			return (-EINVAL);
		}
		ids[i] = idbuf[i];
	}
	rc = cf_store_channel_create(cf_db(), name, desc, priv, who->user_id,
	    ids, n, (int64_t)cf_wall_ms(), ch);
	free(ids);
	free(idbuf);
	return (rc);
}

int
cf_op_broadcast(const struct cf_op_actor *who, const json_t *message,
    const json_t *priority, int64_t *bid, const char **bad)
{
	const char *text, *prio = "normal";
	char at[32];
	int rc;

	*bad = NULL;
	if (cf_arg_text(message, cf_w->conf->max_message_length, &text) ==
	    -1) {
		*bad = "message";
		return (-EINVAL);
	}
	if (priority != NULL && !json_is_null(priority) &&
	    cf_arg_enum(priority, priorities, &prio) == -1) {
		*bad = "priority";
		return (-EINVAL);
	}
	*bid = 0;
	if ((rc = cf_store_broadcast_add(cf_db(), text, prio, who->user_id,
	    who->name, (int64_t)cf_wall_ms(), bid)) != 0)
		return (rc < 0 ? rc : -EIO);
	cf_chat_now_iso(at, sizeof(at));
	cf_room_emit("authenticated", NULL, "system_broadcast_received",
	    json_pack("{s:s,s:s,s:s,s:s,s:I}", "message", text, "priority",
	    prio, "from", who->name, "broadcastAt", at, "broadcastId",
	    (json_int_t)*bid));
	return (0);
}
