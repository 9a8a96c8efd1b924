/*
 * lexer.c -- reading configuration text: whole files (bounded, include
 * loops detected by real path, at most CONF_MAX_DEPTH levels), lines,
 * tokens (blanks, '#' comments, double quotes with \" and \\ escapes), and one
 * directive line applied through its row's type.  Also the lexical path
 * resolution values and includes use.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf_int.h"

/* Record the first error only; later ones are consequences. */
void
conf_err(struct conf_parse *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->err == NULL || p->errlen == 0 || p->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

/* Fill why[] and return ret, for setters. */
int
conf_why(struct conf_parse *p, int ret, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return (ret);
}

/*
 * Make `path` absolute against `base` (ignored when path is absolute) and
 * normalise it lexically: no "//", "." or ".." components, no trailing
 * slash.  Symbolic links are not resolved and nothing needs to exist.
 * Returns a malloc'd string, or NULL when out of memory.
 */
char *
conf_abspath(const char *base, const char *path)
{
	char	*joined, *out, *comp, *save;
	size_t	 len, o = 0;

	len = strlen(base) + strlen(path) + 2;
	if ((joined = malloc(len)) == NULL)
		return (NULL);
	if (path[0] == '/')
		snprintf(joined, len, "%s", path);
	else
		snprintf(joined, len, "%s/%s", base, path);
	if ((out = malloc(len + 1)) == NULL) {
		free(joined);
		return (NULL);
	}
	out[0] = '\0';
	for (comp = strtok_r(joined, "/", &save); comp != NULL;
	    comp = strtok_r(NULL, "/", &save)) {
		if (strcmp(comp, ".") == 0)
			continue;
		if (strcmp(comp, "..") == 0) {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			out[o] = '\0';
			continue;
		}
		out[o++] = '/';
		len = strlen(comp);
		memcpy(out + o, comp, len);
		o += len;
		out[o] = '\0';
	}
	if (o == 0) {
		out[0] = '/';
		out[1] = '\0';
	}
	free(joined);
	return (out);
}

/* conf_abspath() against the current directory; why[] set on failure. */
char *
conf_abspath_cwd(struct conf_parse *p, const char *path)
{
	char	 cwd[PATH_MAX];
	char	*abs;

	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL) {
		conf_why(p, CONF_ESYS, "getcwd: %s", strerror(errno));
		return (NULL);
	}
	if ((abs = conf_abspath(path[0] == '/' ? "/" : cwd, path)) == NULL)
		conf_why(p, CONF_ESYS, "out of memory");
	return (abs);
}

/* Call the setter of r's type on argc (argmin..argmax) arguments. */
int
conf_apply(struct conf_parse *p, const struct conf_rule *r, char *const *argv,
    int argc)
{
	const struct conf_ops	*ops = conf_types[r->d.type];

	p->why[0] = '\0';
	if (ops->setv != NULL)
		return (ops->setv(p, r, argv, argc));
	return (ops->set(p, r, argv[0]));
}

/* Join argv with single spaces into buf, for messages; truncates. */
static const char *
conf_join(char *buf, size_t len, char *const *argv, int argc)
{
	size_t	 o = 0;
	int	 i;

	buf[0] = '\0';
	for (i = 0; i < argc && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    i == 0 ? "" : " ", argv[i]);
	return (buf);
}

static const struct conf_rule *
conf_rule_find(const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_nrules; i++)
		if (strcmp(conf_rules[i].d.name, name) == 0)
			return (&conf_rules[i]);
	return (NULL);
}

/*
 * Split line (modified in place) into at most CONF_MAX_TOKENS tokens.
 * Tokens are separated by blanks; '#' outside quotes ends the line;
 * double quotes group blanks and '#', with \" and \\ as escapes.  Returns
 * the number of tokens found (which may exceed CONF_MAX_TOKENS, only the
 * first ones are stored), or -1 with an error recorded.
 */
int
conf_tokenize(struct conf_parse *p, const char *file, int lineno, char *line,
    char **tok)
{
	char	*r = line, *w = line, *start;
	int	 n = 0, quoted;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0' || *r == '#')
			break;
		start = w;
		quoted = 0;
		while (*r != '\0') {
			if (quoted) {
				if (*r == '"') {
					quoted = 0;
					r++;
				} else if (*r == '\\') {
					if (r[1] != '"' && r[1] != '\\') {
						conf_err(p, "%s:%d: invalid "
						    "escape in quoted string",
						    file, lineno);
						return (-1);
					}
					*w++ = r[1];
					r += 2;
				} else
					*w++ = *r++;
			} else if (*r == '"') {
				quoted = 1;
				r++;
			} else if (*r == ' ' || *r == '\t' || *r == '#')
				break;
			else
				*w++ = *r++;
		}
		if (quoted) {
			conf_err(p, "%s:%d: unterminated quoted string", file,
			    lineno);
			return (-1);
		}
		/* A token ends at a blank or '#', so r > w here or at NUL. */
		if (*r == ' ' || *r == '\t')
			r++;
		else if (*r == '#')
			*r = '\0';
		*w++ = '\0';
		if (n < CONF_MAX_TOKENS)
			tok[n] = start;
		n++;
	}
	return (n);
}

/*
 * Handle "include FILE" found at file:lineno; FILE is relative to the
 * directory of `file` (or to the current directory for a string).
 */
static int
conf_include(struct conf_parse *p, const char *file, int lineno, int isfile,
    const char *arg)
{
	const char	*slash;
	char		*path;
	size_t		 len;
	int		 ret;

	if (arg[0] == '\0') {
		conf_err(p, "%s:%d: invalid value \"\" for \"include\": "
		    "empty path", file, lineno);
		return (-1);
	}
	slash = isfile ? strrchr(file, '/') : NULL;
	if (arg[0] == '/' || slash == NULL)
		path = strdup(arg);
	else {
		len = (size_t)(slash - file) + strlen(arg) + 2;
		if ((path = malloc(len)) != NULL)
			snprintf(path, len, "%.*s/%s", (int)(slash - file),
			    file, arg);
	}
	if (path == NULL) {
		conf_err(p, "%s:%d: out of memory", file, lineno);
		return (-1);
	}
	if (p->depth > CONF_MAX_DEPTH) {
		conf_err(p, "%s:%d: include \"%s\": nested too deeply "
		    "(at most %d levels)", file, lineno, arg, CONF_MAX_DEPTH);
		free(path);
		return (-1);
	}
	ret = conf_parse_file(p, path, file, lineno);
	free(path);
	return (ret);
}

/* Record "file:line: "name" takes N arguments" for rule r. */
static void
conf_err_nargs(struct conf_parse *p, const char *file, int lineno,
    const struct conf_rule *r)
{
	if (r->argmin == r->argmax)
		conf_err(p, "%s:%d: \"%s\" takes %d argument%s", file, lineno,
		    r->d.name, r->argmin, r->argmin == 1 ? "" : "s");
	else
		conf_err(p, "%s:%d: \"%s\" takes %d to %d arguments", file,
		    lineno, r->d.name, r->argmin, r->argmax);
}

/* Apply one directive line already split into tokens. */
static int
conf_directive(struct conf_parse *p, const char *file, int lineno,
    int isfile, char **tok, int ntok)
{
	const struct conf_rule	*r;
	char			 value[256];
	size_t			 idx;
	int			 ret;

	if (strcmp(tok[0], "include") == 0) {
		if (ntok != 2) {
			conf_err(p, "%s:%d: \"include\" takes 1 argument",
			    file, lineno);
			return (-1);
		}
		return (conf_include(p, file, lineno, isfile, tok[1]));
	}
	if ((r = conf_rule_find(tok[0])) == NULL) {
		conf_err(p, "%s:%d: unknown directive \"%s\"", file, lineno,
		    tok[0]);
		return (-1);
	}
	/* argmax < CONF_MAX_TOKENS, so every accepted token was stored. */
	if (ntok - 1 < r->argmin || ntok - 1 > r->argmax) {
		conf_err_nargs(p, file, lineno, r);
		return (-1);
	}
	idx = (size_t)(r - conf_rules);
	if (p->seen[idx] > 0 && !(r->d.flags & CF_CONF_MULTI)) {
		conf_err(p, "%s:%d: \"%s\" given twice", file, lineno,
		    r->d.name);
		return (-1);
	}
	ret = conf_apply(p, r, tok + 1, ntok - 1);
	if (ret == CONF_EINVAL) {
		/* A secret's value is never echoed: errors reach the logs. */
		conf_err(p, "%s:%d: invalid value \"%s\" for \"%s\": %s",
		    file, lineno, strstr(r->d.name, "secret") != NULL ?
		    "(hidden)" : conf_join(value, sizeof(value), tok + 1,
		    ntok - 1), r->d.name, p->why);
		return (-1);
	}
	if (ret == CONF_ESYS) {
		conf_err(p, "%s:%d: \"%s\": %s", file, lineno, r->d.name,
		    p->why);
		return (-1);
	}
	if (ret == CONF_EMSG) {
		conf_err(p, "%s:%d: %s", file, lineno, p->why);
		return (-1);
	}
	p->seen[idx]++;
	return (0);
}

/*
 * Parse text[0..len) (modified in place) as the contents of `file`.
 * isfile is 0 for a string, whose includes resolve against the current
 * directory.
 */
int
conf_parse_text(struct conf_parse *p, const char *file, int isfile,
    char *text, size_t len)
{
	char	*line, *nl, *tok[CONF_MAX_TOKENS];
	size_t	 llen;
	int	 lineno = 0, ntok;

	for (line = text; line < text + len; line = nl + 1) {
		lineno++;
		if ((nl = memchr(line, '\n', (size_t)(text + len - line))) ==
		    NULL)
			nl = text + len;
		llen = (size_t)(nl - line);
		if (llen > CONF_MAX_LINE) {
			conf_err(p, "%s:%d: line too long", file, lineno);
			return (-1);
		}
		if (memchr(line, '\0', llen) != NULL) {
			conf_err(p, "%s:%d: NUL byte in line", file, lineno);
			return (-1);
		}
		*nl = '\0';
		if (llen > 0 && line[llen - 1] == '\r')
			line[llen - 1] = '\0';
		if ((ntok = conf_tokenize(p, file, lineno, line, tok)) == -1)
			return (-1);
		if (ntok == 0)
			continue;
		if (conf_directive(p, file, lineno, isfile, tok, ntok) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Read all of `path` into a NUL-terminated malloc'd buffer (*lenp bytes
 * before the NUL) that the caller frees.  NULL with errno set on failure
 * (EFBIG: more than max bytes).
 */
char *
conf_read_file(const char *path, size_t max, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL, *nbuf;
	size_t		 len = 0, cap = 0;
	ssize_t		 n;
	int		 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	if (fstat(fd, &st) == -1)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	for (;;) {
		if (len == cap) {
			/* Room for max + 1 bytes tells a file that is too big. */
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > max + 1)
				cap = max + 1;
			if ((nbuf = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return (buf);
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return (NULL);
}

/*
 * Parse the file `path`.  from/fromline name the include directive that
 * led here (from is NULL for the main file).  Detects include loops by
 * the real path of each open file.
 */
int
conf_parse_file(struct conf_parse *p, const char *path, const char *from,
    int fromline)
{
	char	*text, *real;
	size_t	 len;
	int	 i, ret;

	if ((text = conf_read_file(path, CONF_MAX_FILE, &len)) == NULL) {
		if (from == NULL)
			conf_err(p, "%s: cannot open: %s", path,
			    strerror(errno));
		else
			conf_err(p, "%s:%d: include \"%s\": cannot open: %s",
			    from, fromline, path, strerror(errno));
		return (-1);
	}
	if ((real = realpath(path, NULL)) == NULL) {
		conf_err(p, "%s: cannot resolve path: %s", path,
		    strerror(errno));
		free(text);
		return (-1);
	}
	for (i = 0; i < p->depth; i++) {
		if (strcmp(p->stack[i], real) == 0) {
			conf_err(p, "%s:%d: include loop: \"%s\" is already "
			    "being read", from, fromline, path);
			free(real);
			free(text);
			return (-1);
		}
	}
	p->stack[p->depth++] = real;
	ret = conf_parse_text(p, path, 1, text, len);
	p->stack[--p->depth] = NULL;
	free(real);
	explicit_bzero(text, len);	/* it may hold secrets */
	free(text);
	return (ret);
}
