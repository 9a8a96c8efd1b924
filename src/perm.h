/*
 * perm.h -- the permissions of the chat spec as a bitmask, and roles.
 */
#ifndef CF_PERM_H
#define CF_PERM_H

#include <stdint.h>

#define CF_PERM_CHAT_ACCESS		0x0001u
#define CF_PERM_SEND_MESSAGES		0x0002u
#define CF_PERM_CREATE_CHANNELS		0x0004u
#define CF_PERM_MANAGE_CHANNELS		0x0008u
#define CF_PERM_SEND_BROADCASTS		0x0010u
#define CF_PERM_CALL_AUDIO		0x0020u
#define CF_PERM_CALL_VIDEO		0x0040u
#define CF_PERM_CALL_VIEW_HISTORY	0x0080u
#define CF_PERM_MODERATE_MESSAGES	0x0100u
#define CF_PERM_ALL			0x01ffu

/* "chat.access" -> CF_PERM_CHAT_ACCESS; 0 when unknown. */
uint32_t	 cf_perm_parse(const char *name);
/* The name of one bit, or NULL. */
const char	*cf_perm_name(uint32_t bit);

#endif
