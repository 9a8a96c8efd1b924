/*
 * api.c -- the transport's side of the HTTP API: a request under /api/ is
 * read whole (headers copied, the body bounded by max-payload) and handed
 * to the application (cf_app->api), whose answer is written back as JSON.
 *
 * With api-listen set, /api/ is served on that listener only and every
 * other listener answers it 404; the API listener serves /api/ and
 * /healthz only.  A listener is told apart by the local address of the
 * connection (getsockname), so the master binds it as one more listener
 * and nothing else needs to know.
 *
 * lws 4.1.6 reads a body for POST, and for PUT and PATCH only when they
 * announce one (Content-Length > 0): a PUT or PATCH without one is
 * dispatched at once, in LWS_CALLBACK_HTTP, or it would hang until lws'
 * timeout.  A body on any other method is refused (the connection would
 * otherwise read it as the next request).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "eio/session.h"
#include "eio/http_int.h"

/* Longest header value copied (Authorization, Content-Type, the key). */
#define API_HDR_MAX	512

static const char *
method_of(struct lws *wsi, int *body)
{
	*body = 0;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
		return ("GET");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0)
		return ("DELETE");
	*body = 1;
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
		return ("POST");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0)
		return ("PUT");
	if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0)
		return ("PATCH");
	return (NULL);
}

/* The announced body length: 0 when none, -1 when unparsable. */
static long long
content_length(struct lws *wsi)
{
	char buf[24], *end;
	long long n;

	if (lws_hdr_copy(wsi, buf, sizeof(buf),
	    WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return (0);
	n = strtoll(buf, &end, 10);
	if (end == buf || *end != '\0' || n < 0)
		return (-1);
	return (n);
}

/* A JSON error answer {error: {code, message}}. */
static int
respond_error(struct lws *wsi, unsigned status, const char *code,
    const char *message)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
	return (cf_http_respond(wsi, "", status, "application/json", body,
	    (size_t)n, status == 413 || status == 400));
}

/*
 * 1 when the connection came in on the api-listen address: the port tells
 * the listeners apart (the configuration refuses an api-listen port that
 * a listen line uses too).
 */
static int
on_api_listener(struct lws *wsi)
{
	struct cf_listen local;
	socklen_t sl = sizeof(local.addr);
	int fd = lws_get_socket_fd(wsi);

	memset(&local, 0, sizeof(local));
	if (fd == -1 ||
	    getsockname(fd, (struct sockaddr *)&local.addr, &sl) == -1 ||
	    (local.addr.ss_family != AF_INET &&
	    local.addr.ss_family != AF_INET6))
		return (0);
	return (cf_conf_listen_port(&local) ==
	    cf_conf_listen_port(&cf_w->conf->api_listen));
}

/*
 * 1 when a header the API reads is longer than it keeps (API_HDR_MAX):
 * refused, rather than read as absent (an Idempotency-Key ignored).
 */
static int
header_too_long(struct lws *wsi)
{
	return (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) >=
	    API_HDR_MAX ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) >=
	    API_HDR_MAX ||
	    lws_hdr_custom_length(wsi, "idempotency-key:", 16) >= API_HDR_MAX);
}

int
cf_api_route(struct lws *wsi, const char *path, int *handled)
{
	int api = strncmp(path, "/api/", 5) == 0 || strcmp(path, "/api") == 0;
	int body;
	long long cl;
	const char *m;

	*handled = 0;
	if (cf_w->conf->has_api_listen) {
		if (on_api_listener(wsi)) {
			if (!api && strcmp(path, "/healthz") != 0) {
				*handled = 1;
				return (respond_error(wsi, 404, "not_found",
				    "Only /api/ is served here"));
			}
		} else if (api) {
			*handled = 1;
			return (cf_http_respond(wsi, "", 404, "text/plain",
			    "Not Found", 9, 0));
		}
	}
	if (!api)
		return (0);
	*handled = 1;
	if (cf_app->api == NULL)
		return (cf_http_respond(wsi, "", 404, "text/plain",
		    "Not Found", 9, 0));
	if ((m = method_of(wsi, &body)) == NULL)
		return (respond_error(wsi, 405, "method_not_allowed",
		    "Method not allowed"));
	if ((cl = content_length(wsi)) == -1)
		return (respond_error(wsi, 400, "bad_request",
		    "Bad Content-Length"));
	if (!body && cl > 0)
		return (respond_error(wsi, 400, "bad_request",
		    "This method takes no body"));
	if (header_too_long(wsi))
		return (respond_error(wsi, 400, "bad_request",
		    "A header is too long (Authorization, Content-Type, "
		    "Idempotency-Key: 511 bytes at most)"));
	if ((size_t)cl > cf_w->conf->max_payload)
		return (respond_error(wsi, 413, "payload_too_large",
		    "The body is larger than max-payload"));
	return (-2);	/* the caller binds the request (cf_api_begin) */
}

int
cf_api_body(struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	if (pss->rx.len + len > cf_w->conf->max_payload) {
		cf_api_unbind(pss);
		return (respond_error(wsi, 413, "payload_too_large",
		    "The body is larger than max-payload"));
	}
	if (len > 0 && cf_buf_append(&pss->rx, in, len) == -1)
		return (-1);
	return (0);
}

/* Copy a header into buf (API_HDR_MAX); "" when absent. */
static const char *
header(struct lws *wsi, enum lws_token_indexes t, const char *custom,
    char *buf)
{
	int n;

	buf[0] = '\0';
	if (custom != NULL)
		n = lws_hdr_custom_copy(wsi, buf, API_HDR_MAX, custom,
		    (int)strlen(custom));
	else
		n = lws_hdr_copy(wsi, buf, API_HDR_MAX, t);
	if (n < 0)
		buf[0] = '\0';
	return (buf);
}


static void
peer_of(struct lws *wsi, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = lws_get_socket_fd(wsi);
	const void *a;

	cf_strlcpy(buf, "-", len);
	if (fd == -1 || getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	a = ss.ss_family == AF_INET ?
	    (const void *)&((struct sockaddr_in *)&ss)->sin_addr :
	    (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	if (inet_ntop(ss.ss_family, a, buf, (socklen_t)len) == NULL)
		cf_strlcpy(buf, "-", len);
}

/* What a request carries besides its body, copied out of lws. */
struct head {
	char		 auth[API_HDR_MAX], ctype[API_HDR_MAX];
	char		 key[API_HDR_MAX];
	char		 args[CF_API_MAX_ARGS][512], peer[64];
};

static void
read_head(struct lws *wsi, struct pss *pss, struct head *h,
    struct cf_api_req *req)
{
	int n;

	memset(req, 0, sizeof(*req));
	req->method = pss->api_method;
	req->path = pss->api_path;
	for (n = 0; n < CF_API_MAX_ARGS; n++) {
		if (lws_hdr_copy_fragment(wsi, h->args[n], sizeof(h->args[n]),
		    WSI_TOKEN_HTTP_URI_ARGS, n) < 0)
			break;
		req->args[req->nargs++] = h->args[n];
	}
	req->authorization = header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, NULL,
	    h->auth);
	req->content_type = header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, NULL,
	    h->ctype);
	req->idempotency_key = header(wsi, 0, "idempotency-key:", h->key);
	peer_of(wsi, h->peer, sizeof(h->peer));
	req->peer = h->peer;
}

/* Write the application's answer and finish; the callback's return. */
static int
answer(struct lws *wsi, struct cf_api_res *res, int close)
{
	int rc;

	rc = cf_http_respond(wsi, "", res->status, res->body != NULL ?
	    "application/json" : NULL, res->body, res->body != NULL ?
	    strlen(res->body) : 0, close);
	free(res->body);
	return (rc);
}

int
cf_api_body_done(struct lws *wsi, struct pss *pss)
{
	struct head h;
	struct cf_api_req req;
	struct cf_api_res res = { 500, NULL };
	int close;

	read_head(wsi, pss, &h, &req);
	if (cf_buf_appendc(&pss->rx, '\0') == -1) {
		cf_api_unbind(pss);
		return (-1);
	}
	req.body = (const char *)pss->rx.data;
	req.len = pss->rx.len - 1;
	close = pss->api_close;
	cf_app->api(&req, &res);
	cf_api_unbind(pss);
	return (answer(wsi, &res, close));
}

int
cf_api_begin(struct lws *wsi, struct pss *pss, const char *path)
{
	struct head h;
	struct cf_api_req req;
	struct cf_api_res res = { 500, NULL };
	const char *m;
	int body;

	m = method_of(wsi, &body);
	if ((pss->api_path = strdup(path)) == NULL)
		return (-1);
	pss->kind = K_API;
	pss->api_method = m;
	if (cf_app->api_head != NULL) {
		read_head(wsi, pss, &h, &req);
		if (cf_app->api_head(&req, &res) != 0) {
			cf_api_unbind(pss);
			return (answer(wsi, &res, 1));
		}
	}
	/*
	 * A POST without Content-Length (curl -X POST) would have lws wait
	 * for a body of its default size: it is answered as an empty one at
	 * once, and the connection closed after, whatever follows on it.
	 */
	if (strcmp(m, "POST") == 0 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
		pss->api_close = 1;
		return (cf_api_body_done(wsi, pss));
	}
	/* A body is read for POST, or when announced (cl > 0). */
	if (strcmp(m, "POST") == 0 || content_length(wsi) > 0)
		return (0);
	return (cf_api_body_done(wsi, pss));
}

void
cf_api_unbind(struct pss *pss)
{
	free(pss->api_path);
	pss->api_path = NULL;
	pss->api_method = NULL;
	pss->api_close = 0;
	cf_buf_free(&pss->rx);
	pss->kind = K_NONE;
}
