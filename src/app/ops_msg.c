/*
 * ops_msg.c -- the operations on a stored message (ops.h): edit, delete,
 * react; and what an emoji is.  Shared by the socket events (msgact.c)
 * and the HTTP API (api_messages.c).  The callers authorize; these
 * store, then tell the channel's room on every worker and host.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "db/db.h"
#include "db/store.h"
#include "util.h"
#include "app/chat.h"
#include "app/ops.h"
#include "fanout/room.h"

/*
 * The next code point of s (at most n bytes) into *cp; its length, or 0
 * when s does not start with a well-formed UTF-8 sequence.
 */
static size_t
utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (n == 0)
		return (0);
	if (s[0] < 0x80) {
		*cp = s[0];
		return (1);
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return (0);
	if (len > n)
		return (0);
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return (0);
		c = c << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return (0);
	*cp = c;
	return (len);
}

/* What extends the character before it: it may follow a base. */
static int
extender(uint32_t c)
{
	return ((c >= 0x0300 && c <= 0x036f) ||		/* combining marks */
	    c == 0x20e3 ||				/* keycap */
	    (c >= 0xfe00 && c <= 0xfe0f) ||		/* variation sel. */
	    (c >= 0x1f3fb && c <= 0x1f3ff) ||		/* skin tones */
	    (c >= 0xe0020 && c <= 0xe007f));		/* tags (flags) */
}

/* A code point that can stand as a character of its own in an emoji. */
static int
base(uint32_t c)
{
	if (c < 0xa0 || extender(c) || c == 0x200d)
		return (0);
	/* White space, invisible formatting, private use, specials. */
	if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
	    (c >= 0x205f && c <= 0x206f) || c == 0x3000 || c == 0xfeff ||
	    c == 0x00ad || (c >= 0xe000 && c <= 0xf8ff) ||
	    (c >= 0xfff0 && c <= 0xffff) || c >= 0xf0000)
		return (0);
	return (1);
}

static int
regional(uint32_t c)
{
	return (c >= 0x1f1e6 && c <= 0x1f1ff);
}

/*
 * One grapheme as emoji are written: a base character (not ASCII, but a
 * keycap's 0-9 # * followed by U+20E3), then extenders, and more bases
 * each joined by U+200D (ZWJ sequences); a flag is two regional
 * indicators.  At most CF_OP_EMOJI_MAX bytes.
 */
static int
grapheme_ok(const unsigned char *s, size_t n)
{
	uint32_t c;
	size_t i = 0, k;
	int ri = 0, keycap = 0;

	if ((k = utf8_next(s, n, &c)) == 0)
		return (0);
	if (c < 0x80) {
		if (!((c >= '0' && c <= '9') || c == '#' || c == '*'))
			return (0);
		keycap = 1;
	} else if (!base(c))
		return (0);
	ri = regional(c);
	for (i = k; i < n; i += k) {
		if ((k = utf8_next(s + i, n - i, &c)) == 0)
			return (0);
		if (c == 0x20e3)
			keycap = 0;
		if (extender(c))
			continue;
		if (ri == 1 && regional(c)) {
			ri = 2;
			continue;
		}
		if (c != 0x200d || keycap)
			return (0);
		/* ZWJ: a base must follow. */
		i += k;
		if ((k = utf8_next(s + i, n - i, &c)) == 0 || !base(c) ||
		    regional(c))
			return (0);
		ri = 0;
	}
	return (!keycap && ri != 1);
}

/* :short_name: of letters, digits, _ + - (as Slack and Mattermost). */
static int
short_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 3 || s[0] != ':' || s[n - 1] != ':')
		return (0);
	for (i = 1; i < n - 1; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '+' || s[i] == '-'))
			return (0);
	return (1);
}

int
cf_op_emoji_ok(const json_t *v)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return (0);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > CF_OP_EMOJI_MAX || strlen(s) != n)
		return (0);
	if (s[0] == ':')
		return (short_name_ok(s, n));
	return (grapheme_ok((const unsigned char *)s, n));
}

int
cf_op_message_edit(const struct cf_op_actor *who, int64_t id,
    const char *text, json_t **msg)
{
	char room[48];
	json_t *m;
	int rc;

	if ((rc = cf_store_message_edit(cf_db(), id, text, who->user_id,
	    (int64_t)cf_wall_ms(), msg)) != 0)
		return (rc);
	m = *msg;
	cf_chat_channel_room(room, sizeof(room), json_integer_value(
	    json_object_get(m, "channelId")));
	cf_room_emit(room, NULL, "chat:message_updated",
	    json_pack("{s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(m, "id"),
	    "channelId", json_object_get(m, "channelId"),
	    "message", json_object_get(m, "message"),
	    "editedAt", json_object_get(m, "editedAt"),
	    "editedBy", json_object_get(m, "editedBy")));
	return (0);
}

int
cf_op_message_delete(const struct cf_op_actor *who, int64_t id,
    json_t **msg)
{
	char room[48];
	json_t *m;
	int rc;

	if ((rc = cf_store_message_delete(cf_db(), id, who->user_id,
	    (int64_t)cf_wall_ms(), msg)) != 0)
		return (rc);
	m = *msg;
	cf_chat_channel_room(room, sizeof(room), json_integer_value(
	    json_object_get(m, "channelId")));
	cf_room_emit(room, NULL, "chat:message_deleted",
	    json_pack("{s:O,s:O,s:O,s:O}", "id", json_object_get(m, "id"),
	    "channelId", json_object_get(m, "channelId"),
	    "deletedBy", json_object_get(m, "deletedBy"),
	    "deletedAt", json_object_get(m, "deletedAt")));
	return (0);
}

int
cf_op_message_react(const struct cf_op_actor *who, int64_t id,
    const char *emoji, int add, json_t **ev)
{
	char room[48];
	int64_t ch = 0, count = 0;
	int rc, changed = 0;

	*ev = NULL;
	if ((rc = cf_store_reaction_set(cf_db(), id, who->user_id, emoji, add,
	    CF_OP_REACTIONS_MAX, (int64_t)cf_wall_ms(), &ch, &count,
	    &changed)) != 0)
		return (rc);
	if ((*ev = json_pack("{s:I,s:I,s:s,s:o,s:b,s:I}", "messageId",
	    (json_int_t)id, "channelId", (json_int_t)ch, "emoji", emoji,
	    "userId", cf_store_user_id_json(who->user_id), "add", add,
	    "count", (json_int_t)count)) == NULL)
		return (-ENOMEM);
	/* A no-op (a reaction present added, one absent removed) is quiet. */
	if (changed) {
		cf_chat_channel_room(room, sizeof(room), ch);
		cf_room_emit(room, NULL, "chat:reaction_updated",
		    json_incref(*ev));
	}
	return (0);
}
