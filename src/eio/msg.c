/*
 * msg.c -- reference-counted outgoing packets and the session queue.
 *
 * A broadcast is encoded once into one cf_msg and referenced from every
 * recipient's queue; the last unref frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "codec/sio.h"
#include "eio/msg.h"

struct cf_msg *
cf_msg_new(const void *data, size_t len, int binary)
{
	struct cf_msg *m;

	if ((m = malloc(sizeof(*m) + LWS_PRE + len + 1)) == NULL)
		return (NULL);
	m->refs = 1;
	m->binary = binary != 0;
	m->len = len;
	if (len > 0)
		memcpy(CF_MSG_DATA(m), data, len);
	CF_MSG_DATA(m)[len] = '\0';
	return (m);
}

struct cf_msg *
cf_msg_new2(char prefix, const void *data, size_t len)
{
	struct cf_msg *m;

	if ((m = malloc(sizeof(*m) + LWS_PRE + len + 2)) == NULL)
		return (NULL);
	m->refs = 1;
	m->binary = 0;
	m->len = len + 1;
	CF_MSG_DATA(m)[0] = (uint8_t)prefix;
	if (len > 0)
		memcpy(CF_MSG_DATA(m) + 1, data, len);
	CF_MSG_DATA(m)[len + 1] = '\0';
	return (m);
}

struct cf_msg *
cf_msg_ref(struct cf_msg *m)
{
	m->refs++;
	return (m);
}

void
cf_msg_unref(struct cf_msg *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}

/*
 * Room an encoding starts with: a chat message and its packet fit, so
 * that the buffer is allocated once rather than grown (64, 128, 256...).
 */
#define ENCODE_START	1024

int
cf_msg_encode(const struct cf_sio_packet *p, struct cf_msg **m)
{
	struct cf_buf b = { 0 };
	int i, n;

	if (cf_buf_reserve(&b, ENCODE_START) == -1 ||
	    cf_sio_encode(p, &b) != CF_SIO_OK) {
		cf_buf_free(&b);
		return (-1);
	}
	m[0] = cf_msg_new2('4', b.data, b.len);
	cf_buf_free(&b);
	if (m[0] == NULL)
		return (-1);
	for (n = 1; n <= p->nattach; n++)
		if ((m[n] = cf_msg_new(p->att[n - 1].data, p->att[n - 1].len,
		    1)) == NULL) {
			for (i = 0; i < n; i++)
				cf_msg_unref(m[i]);
			return (-1);
		}
	return (n);
}

/* --------------------------------------------------------------- queue */

void
cf_outq_push(struct cf_outq *q, struct cf_msg *m)
{
	struct cf_msg **v;
	uint32_t i, ncap;

	if (q->len == q->cap) {
		ncap = q->cap ? q->cap * 2 : 8;
		if ((v = malloc(ncap * sizeof(*v))) == NULL) {
			cf_log_warnx("session queue: out of memory, packet dropped");
			return;
		}
		for (i = 0; i < q->len; i++)
			v[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = v;
		q->head = 0;
		q->cap = ncap;
	}
	q->v[(q->head + q->len) % q->cap] = cf_msg_ref(m);
	q->len++;
	q->bytes += m->len;
}

struct cf_msg *
cf_outq_pop(struct cf_outq *q)
{
	struct cf_msg *m;

	if (q->len == 0)
		return (NULL);
	m = q->v[q->head];
	q->head = (q->head + 1) % q->cap;
	q->len--;
	q->bytes -= m->len;
	return (m);
}

void
cf_outq_clear(struct cf_outq *q)
{
	struct cf_msg *m;

	while ((m = cf_outq_pop(q)) != NULL)
		cf_msg_unref(m);
	free(q->v);
	memset(q, 0, sizeof(*q));
}
