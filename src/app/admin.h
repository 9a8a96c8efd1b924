/*
 * admin.h -- the confabctl requests a worker serves (admin.c), handed over
 * by the master from the control socket.
 */
#ifndef CF_ADMIN_H
#define CF_ADMIN_H

struct cf_worker;

/*
 * The module's state (w->admin): allocated before the shell wires
 * anything, 0/-1; released once the loop is closed (NULL-safe).
 */
int	 cf_admin_init(struct cf_worker *w);
void	 cf_admin_free(struct cf_worker *w);

/*
 * Serve one control connection: read a JSON line, answer one, close.  fd
 * is owned from now on (closed on every path).
 */
void	 cf_admin_adopt(struct cf_worker *w, int fd);
/* Close every control connection still open (worker shutdown). */
void	 cf_admin_stop(void);

#endif
