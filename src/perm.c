/*
 * perm.c -- permission names.
 */
#include <string.h>

#include "perm.h"

static const struct {
	const char	*name;
	uint32_t	 bit;
} perms[] = {
	{ "chat.access",		CF_PERM_CHAT_ACCESS },
	{ "chat.send_messages",		CF_PERM_SEND_MESSAGES },
	{ "chat.create_channels",	CF_PERM_CREATE_CHANNELS },
	{ "chat.manage_channels",	CF_PERM_MANAGE_CHANNELS },
	{ "chat.send_broadcasts",	CF_PERM_SEND_BROADCASTS },
	{ "call.audio",			CF_PERM_CALL_AUDIO },
	{ "call.video",			CF_PERM_CALL_VIDEO },
	{ "call.view_history",		CF_PERM_CALL_VIEW_HISTORY },
	{ "chat.moderate_messages",	CF_PERM_MODERATE_MESSAGES },
};

uint32_t
cf_perm_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (strcmp(perms[i].name, name) == 0)
			return (perms[i].bit);
	return (0);
}

const char *
cf_perm_name(uint32_t bit)
{
	size_t i;

	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		if (perms[i].bit == bit)
			return (perms[i].name);
	return (NULL);
}
