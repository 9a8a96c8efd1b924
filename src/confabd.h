/*
 * confabd.h -- project-wide limits.  No functions here.
 */
#ifndef CF_CONFABD_H
#define CF_CONFABD_H

#define CF_MAX_WORKERS	64

#endif
