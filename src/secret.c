/*
 * secret.c -- development secret and token.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jwt.h>

#include "log.h"
#include "secret.h"
#include "util.h"

#define CF_SECRET_FILE	"jwt-secret"

static int
read_secret(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		buf[--n] = '\0';
	return (n >= 32 ? 0 : -1);
}

int
cf_secret_ensure(struct cf_conf *conf)
{
	char path[4096], buf[256];
	uint8_t raw[32];
	size_t i;
	int fd;

	if (conf->jwt_secret != NULL)
		return (0);
	snprintf(path, sizeof(path), "%s/%s", conf->data_dir, CF_SECRET_FILE);
	if (read_secret(path, buf, sizeof(buf)) == -1) {
		if (errno != ENOENT && access(path, F_OK) == 0) {
			cf_log_warnx("%s: unreadable or shorter than 32 bytes",
			    path);
			return (-1);
		}
		if (cf_random_bytes(raw, sizeof(raw)) == -1)
			return (-1);
		for (i = 0; i < sizeof(raw); i++)
			snprintf(buf + 2 * i, 3, "%02x", raw[i]);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd == -1) {
			cf_log_warn("%s", path);
			return (-1);
		}
		if (write(fd, buf, 64) != 64 || write(fd, "\n", 1) != 1) {
			cf_log_warn("%s: write", path);
			close(fd);
			return (-1);
		}
		close(fd);
		cf_log_info("generated a JWT secret in %s", path);
	}
	if ((conf->jwt_secret = strdup(buf)) == NULL)
		return (-1);
	explicit_bzero(buf, sizeof(buf));
	return (0);
}

char *
cf_secret_devtoken(const struct cf_conf *conf, int days)
{
	return (cf_secret_token(conf, "1", "Developer", "admin", days, NULL));
}

/*
 * 1 when s is 1 to 18 digits without a leading zero (or "0"): the token
 * carries it as an integer, which reads back as the same string.
 */
int
cf_secret_id_is_int(const char *s)
{
	size_t i;

	if (s[0] == '0' && s[1] != '\0')
		return (0);
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			return (0);
	return (i > 0 && i <= 18);
}

char *
cf_secret_token(const struct cf_conf *conf, const char *user,
    const char *name, const char *role, int days, const char **why)
{
	jwt_t *jwt = NULL;
	jwt_alg_t alg;
	char *tok = NULL;
	time_t now = time(NULL);
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = "internal error";
	if (strcmp(conf->jwt_algorithm, "HS256") == 0)
		alg = JWT_ALG_HS256;
	else if (strcmp(conf->jwt_algorithm, "HS384") == 0)
		alg = JWT_ALG_HS384;
	else if (strcmp(conf->jwt_algorithm, "HS512") == 0)
		alg = JWT_ALG_HS512;
	else {
		*why = "jwt-algorithm is not an HMAC one: tokens come from the "
		    "holder of the private key";
		return (NULL);
	}
	if (conf->jwt_secret == NULL || jwt_new(&jwt) != 0)
		return (NULL);
	if ((cf_secret_id_is_int(user) ?
	    jwt_add_grant_int(jwt, "userId", strtoll(user, NULL, 10)) :
	    jwt_add_grant(jwt, "userId", user)) ||
	    jwt_add_grant(jwt, "displayName", name) ||
	    jwt_add_grant(jwt, "role", role) ||
	    jwt_add_grant_int(jwt, "iat", now) ||
	    jwt_add_grant_int(jwt, "exp", now + (time_t)days * 86400) ||
	    (conf->jwt_issuer != NULL &&
	    jwt_add_grant(jwt, "iss", conf->jwt_issuer)) ||
	    (conf->jwt_audience != NULL &&
	    jwt_add_grant(jwt, "aud", conf->jwt_audience)) ||
	    jwt_set_alg(jwt, alg, (const unsigned char *)conf->jwt_secret,
	    (int)strlen(conf->jwt_secret)))
		goto done;
	tok = jwt_encode_str(jwt);
 done:
	jwt_free(jwt);
	return (tok);
}
