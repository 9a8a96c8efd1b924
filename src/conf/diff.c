/*
 * diff.c -- what changed between two snapshots, and when it takes effect.
 *
 * Each row's type compares the two values (its same op, or the rendered
 * texts) and renders them for the caller; the row's reload class says
 * when a change applies, and the highest class among the changed rows is
 * what a reload must do (enum cf_conf_reload).
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/conf_int.h"

/* Append text to buf (always NUL-terminated; truncated when full). */
void
conf_cat(char *buf, size_t len, const char *text)
{
	size_t	 n = strlen(buf);

	if (n + 1 < len)
		snprintf(buf + n, len - n, "%s", text);
}

/*
 * Call fn (may be NULL) for each directive whose value differs between a
 * and b, in table order.  old and new are the values as text (valid
 * during the call only); for a secret (CF_CONF_SECRET) both are NULL so
 * that no caller can print one.  *np (may be NULL) receives the number of
 * differences.  Returns the highest reload class among them, or
 * CF_RELOAD_NONE when a and b are equal.
 */
enum cf_conf_reload
cf_conf_diff_class(const struct cf_conf *a, const struct cf_conf *b,
    void (*fn)(void *arg, const struct cf_directive *d, const char *old,
    const char *new), void *arg, int *np)
{
	const struct conf_rule	*r;
	const struct conf_ops	*ops;
	enum cf_conf_reload	 most = CF_RELOAD_NONE;
	char			 va[1024], vb[1024];
	size_t			 i;
	int			 n = 0, same;

	for (i = 0; i < conf_nrules; i++) {
		r = &conf_rules[i];
		ops = conf_types[r->d.type];
		ops->render(a, r, va, sizeof(va));
		ops->render(b, r, vb, sizeof(vb));
		if (ops->same != NULL)
			same = ops->same(a, b, r);
		else
			same = strcmp(va, vb) == 0;
		if (same)
			continue;
		n++;
		if (r->d.reload > most)
			most = r->d.reload;
		if (fn == NULL)
			continue;
		if (r->d.flags & CF_CONF_SECRET)
			fn(arg, &r->d, NULL, NULL);
		else
			fn(arg, &r->d, va, vb);
	}
	explicit_bzero(va, sizeof(va));
	explicit_bzero(vb, sizeof(vb));
	if (np != NULL)
		*np = n;
	return (most);
}

/* cf_conf_diff_class, counting: the number of differences. */
int
cf_conf_diff(const struct cf_conf *a, const struct cf_conf *b,
    void (*fn)(void *arg, const struct cf_directive *d, const char *old,
    const char *new), void *arg)
{
	int	 n;

	(void)cf_conf_diff_class(a, b, fn, arg, &n);
	return (n);
}
