/*
 * hookmsg.c -- a webhook delivery's body, signature and retry schedule
 * (hookmsg.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "app/hookmsg.h"
#include "db/store.h"

char *
cf_hookmsg_body(int64_t id, const char *event, int64_t created_ms,
    const char *payload)
{
	char at[32], *out;
	const char *s;
	size_t len;

	/* Event names are ours (conf.h), plain ASCII: no escaping needed. */
	for (s = event; *s != '\0'; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return (NULL);
	cf_store_iso8601(created_ms, at, sizeof(at));
	len = strlen(event) + strlen(payload) + 128;
	if ((out = malloc(len)) == NULL)
		return (NULL);
	snprintf(out, len, "{\"id\":%lld,\"event\":\"%s\",\"createdAt\":\"%s\","
	    "\"data\":%s}", (long long)id, event, at, payload);
	return (out);
}

int
cf_hookmsg_sign(const char *secret, int64_t timestamp, const char *body,
    size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, i;
	unsigned char *msg;
	int n;

	/* "<timestamp>." then the body: one buffer for the one-shot HMAC. */
	if ((msg = malloc(len + 24)) == NULL)
		return (-1);
	n = snprintf((char *)msg, 24, "%lld.", (long long)timestamp);
	memcpy(msg + n, body, len);
	if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg,
	    (size_t)n + len, mac, &maclen) == NULL || maclen != 32) {
		free(msg);
		return (-1);
	}
	free(msg);
	memcpy(out, "v1=", 3);
	for (i = 0; i < maclen; i++) {
		out[3 + 2 * i] = hex[mac[i] >> 4];
		out[3 + 2 * i + 1] = hex[mac[i] & 0xf];
	}
	out[3 + 2 * maclen] = '\0';
	return (0);
}

uint64_t
cf_hookmsg_backoff_ms(unsigned attempt, uint32_t rnd)
{
	uint64_t d = CF_HOOK_BACKOFF_BASE_MS;
	unsigned i;

	for (i = 1; i < attempt && d < CF_HOOK_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > CF_HOOK_BACKOFF_MAX_MS)
		d = CF_HOOK_BACKOFF_MAX_MS;
	return (d / 2 + (uint64_t)rnd % (d / 2 + 1));
}
