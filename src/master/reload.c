/*
 * reload.c -- SIGHUP: parse the file anew; a bad file changes nothing and
 * the errors are logged with file:line.  Each changed directive is logged
 * (a secret only as "changed") with when it takes effect, the reload
 * class of its row in the directive table (enum cf_conf_reload).  The
 * highest class among the changes decides: GENERATION (listen, workers,
 * presence-slots, data-dir, database, redis, host-id) starts a new
 * generation (gen.c); otherwise the serving workers re-read the file.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/db.h"
#include "db/store.h"
#include "log.h"
#include "master/master_int.h"
#include "secret.h"
#include "util.h"

static void
log_change(void *arg, const struct cf_directive *d, const char *old,
    const char *new)
{
	const char *later = "";

	(void)arg;
	if (d->reload == CF_RELOAD_GENERATION)
		later = " (new workers)";
	else if (d->reload == CF_RELOAD_RESTART)
		later = " (takes effect at the next restart)";
	if (old == NULL)
		cf_log_info("reload: %s changed%s", d->name, later);
	else
		cf_log_info("reload: %s %s -> %s%s", d->name, old, new, later);
}

/*
 * Create conf's default-channel in db when it has no channel and never
 * had one created this way (cf_store_default_channel).  0, or -1 logged.
 */
int
master_default_channel(struct cf_db *db, const struct cf_conf *conf)
{
	int64_t id = 0;

	if (conf->default_channel[0] == '\0')
		return (0);
	if (cf_store_default_channel(db, conf->default_channel, cf_wall_ms(),
	    &id) != 0) {
		cf_log_warnx("database: cannot create the default channel %s",
		    conf->default_channel);
		return (-1);
	}
	if (id != 0)
		cf_log_info("database: created the public channel \"%s\" "
		    "(id %lld); \"default-channel \"\"\" disables this",
		    conf->default_channel, (long long)id);
	return (0);
}

static void
reload_failed(const char *why, struct cf_conf *nc)
{
	cf_log_warnx("reload failed, keeping the running configuration: %s",
	    why);
	cf_conf_free(nc);
	master_notify("READY=1\nSTATUS=reload failed, old configuration kept");
}

/*
 * Start a generation for nc (owned from now on).  The serving one keeps
 * serving until every new worker is ready (switch_over).
 */
static void
reload_cold(struct cf_conf *nc)
{
	struct gen *g;
	unsigned i;

	{
		struct cf_db *db = cf_db_open(nc->database);

		if (db == NULL || master_default_channel(db, nc) == -1) {
			cf_db_close(db);
			reload_failed("the database cannot be opened or prepared", nc);
			return;
		}
		cf_db_close(db);
	}
	if ((g = master_gen_new(nc)) == NULL) {
		master_notify("READY=1\nSTATUS=reload failed, old configuration kept");
		cf_log_warnx("reload failed, keeping the running configuration");
		return;
	}
	cf_m.next = g;
	g->deadline = cf_now_ms() + CF_START_TIMEOUT_MS;
	cf_log_info("reload: starting generation %u with %u workers; "
	    "generation %u serves until they are ready", g->id, g->nslots,
	    cf_m.cur->id);
	for (i = 0; i < g->nslots; i++)
		if (master_spawn(g, i) == -1) {
			master_gen_abandon("could not fork its workers");
			return;
		}
}

void
master_reload(void)
{
	char err[CF_CONF_ERRLEN];
	struct cf_conf *nc;
	int n;

	if (cf_m.conf_path == NULL) {
		cf_log_info("reload: running on built-in defaults, nothing to "
		    "re-read");
		return;
	}
	if (cf_m.next != NULL) {
		cf_log_warnx("reload refused: generation %u is still starting",
		    cf_m.next->id);
		return;
	}
	master_notify("RELOADING=1");
	if ((nc = cf_conf_load(cf_m.conf_path, err, sizeof(err))) == NULL) {
		reload_failed(err, NULL);
		return;
	}
	if (cf_secret_ensure(nc) == -1) {
		reload_failed("no JWT secret", nc);
		return;
	}
	/* The changes are logged at the more verbose of the two levels. */
	if (nc->log_level > cf_m.cur->conf->log_level)
		cf_log_set_level(nc->log_level);
	if (cf_conf_diff_class(cf_m.cur->conf, nc, log_change, NULL, &n) ==
	    CF_RELOAD_GENERATION) {
		reload_cold(nc);
		cf_log_set_level(cf_m.cur->conf->log_level);	/* until it serves */
		return;
	}
	cf_conf_free(cf_m.cur->conf);
	cf_m.cur->conf = nc;
	cf_log_set_level(nc->log_level);
	cf_log_info("configuration reloaded from %s (%d change%s)", cf_m.conf_path,
	    n, n == 1 ? "" : "s");
	master_gen_signal(cf_m.cur, SIGHUP);
	master_notify("READY=1\nSTATUS=configuration reloaded");
}
