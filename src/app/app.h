/*
 * app.h -- confabd's chat application as the transport sees it.
 *
 * The top of the application layer: app.c holds the event table and the
 * socket's life across the concerns.  The worker's shell registers
 * cf_confabd_app with the transport (worker.c wire()).
 */
#ifndef CF_APP_H
#define CF_APP_H

#include "eio/session.h"

/* The chat application's callbacks for the transport (session.h). */
extern const struct cf_app cf_confabd_app;
/* Where serverSideEmit requests arrive (cf_room_on_server_emit). */
void	 cf_app_server_emit(struct cf_worker *w, const char *event,
	    const json_t *args);

#endif
