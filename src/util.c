/*
 * util.c -- growable byte buffers, base64 (standard and URL-safe), random
 * bytes and clocks, the control socket locator.  Everything here is pure
 * except cf_random_bytes, the clock readers and cf_locator_read.
 */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define BUF_MIN_CAP	64

static int	 b64_decode(uint8_t *, const char *, size_t, const int8_t *,
		    int, long *);
static size_t	 b64_encode(char *, const uint8_t *, size_t, const char *,
		    int);

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/*
 * Reverse tables: the value of each character, or -1 when the character is
 * not part of the alphabet.  They are spelled out rather than built at run
 * time so that the decoders need no initialisation and stay pure.
 */
#define R_ -1
static const int8_t b64_std_rev[256] = {
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, 62, R_, R_, R_, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, R_, R_, R_, R_, R_, R_,
	R_,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, R_, R_, R_, R_, R_,
	R_, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_
};
static const int8_t b64_url_rev[256] = {
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, 62, R_, R_,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, R_, R_, R_, R_, R_, R_,
	R_,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, R_, R_, R_, R_, 63,
	R_, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
	R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_
};
#undef R_

/*
 * Make room for `extra` more bytes after b->len.  The capacity doubles so
 * that appending byte by byte stays linear.  0, or -1 with errno ENOMEM when
 * the allocation fails or the size would overflow; b is unchanged then.
 */
int
cf_buf_reserve(struct cf_buf *b, size_t extra)
{
	size_t	 need, ncap;
	uint8_t	*p;

	if (extra > SIZE_MAX - b->len) {
		errno = ENOMEM;
		return (-1);
	}
	need = b->len + extra;
	if (need <= b->cap)
		return (0);
	ncap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2) {
			ncap = need;
			break;
		}
		ncap *= 2;
	}
	if ((p = realloc(b->data, ncap)) == NULL)
		return (-1);
	b->data = p;
	b->cap = ncap;
	return (0);
}

/* Append n bytes from p.  0 or -1 (ENOMEM); b is unchanged on failure. */
int
cf_buf_append(struct cf_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return (0);
	if (cf_buf_reserve(b, n) == -1)
		return (-1);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return (0);
}

/* Append a NUL-terminated string without its NUL.  0 or -1. */
int
cf_buf_appends(struct cf_buf *b, const char *s)
{
	return (cf_buf_append(b, s, strlen(s)));
}

/* Append one byte.  0 or -1. */
int
cf_buf_appendc(struct cf_buf *b, uint8_t c)
{
	if (cf_buf_reserve(b, 1) == -1)
		return (-1);
	b->data[b->len++] = c;
	return (0);
}

void
cf_buf_reset(struct cf_buf *b)
{
	b->len = 0;
}

void
cf_buf_free(struct cf_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

size_t
cf_base64_enclen(size_t n)
{
	return ((n + 2) / 3 * 4);
}

/*
 * Encode n bytes of src with alphabet `al` into dst, padded with '=' to a
 * multiple of four when `pad` is set.  Returns the number of characters.
 */
static size_t
b64_encode(char *dst, const uint8_t *src, size_t n, const char *al, int pad)
{
	size_t	 i, o;
	uint32_t v;

	o = 0;
	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 |
		    src[i + 2];
		dst[o++] = al[v >> 18 & 0x3f];
		dst[o++] = al[v >> 12 & 0x3f];
		dst[o++] = al[v >> 6 & 0x3f];
		dst[o++] = al[v & 0x3f];
	}
	if (n - i == 1) {
		v = (uint32_t)src[i] << 16;
		dst[o++] = al[v >> 18 & 0x3f];
		dst[o++] = al[v >> 12 & 0x3f];
		if (pad) {
			dst[o++] = '=';
			dst[o++] = '=';
		}
	} else if (n - i == 2) {
		v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
		dst[o++] = al[v >> 18 & 0x3f];
		dst[o++] = al[v >> 12 & 0x3f];
		dst[o++] = al[v >> 6 & 0x3f];
		if (pad)
			dst[o++] = '=';
	}
	return (o);
}

/* Standard alphabet, padded: writes cf_base64_enclen(n) characters. */
size_t
cf_base64_encode(char *dst, const uint8_t *src, size_t n)
{
	return (b64_encode(dst, src, n, b64_std, 1));
}

/* URL-safe alphabet, no padding: writes ceil(4n/3) characters. */
size_t
cf_base64url_encode(char *dst, const uint8_t *src, size_t n)
{
	return (b64_encode(dst, src, n, b64_url, 0));
}

/*
 * Decode n characters of src using the reverse table `rev`.  When
 * `allow_pad` is set, up to two trailing '=' are accepted, and only when
 * they complete the input to a multiple of four.  A remainder of one
 * character after the last full quartet is impossible and rejected.  The
 * four characters of a group are read before its bytes are written, so dst
 * may equal src (or lie before it).  Stores the decoded length in *out and
 * returns 0, or returns -1.
 */
static int
b64_decode(uint8_t *dst, const char *src, size_t n, const int8_t *rev,
    int allow_pad, long *out)
{
	size_t	 i, o, npad, rem;
	int	 c0, c1, c2, c3;
	uint32_t v;

	if (n > LONG_MAX)
		return (-1);
	npad = 0;
	while (n > 0 && src[n - 1] == '=' && npad < 3) {
		n--;
		npad++;
	}
	if (npad > 0 && (!allow_pad || npad > 2 || (n + npad) % 4 != 0))
		return (-1);
	rem = n % 4;
	if (rem == 1)
		return (-1);
	if (npad > 0 && npad != 4 - rem)
		return (-1);

	o = 0;
	for (i = 0; i + 4 <= n; i += 4) {
		c0 = rev[(uint8_t)src[i]];
		c1 = rev[(uint8_t)src[i + 1]];
		c2 = rev[(uint8_t)src[i + 2]];
		c3 = rev[(uint8_t)src[i + 3]];
		if (c0 < 0 || c1 < 0 || c2 < 0 || c3 < 0)
			return (-1);
		v = (uint32_t)c0 << 18 | (uint32_t)c1 << 12 |
		    (uint32_t)c2 << 6 | (uint32_t)c3;
		dst[o++] = v >> 16 & 0xff;
		dst[o++] = v >> 8 & 0xff;
		dst[o++] = v & 0xff;
	}
	if (rem == 2) {
		c0 = rev[(uint8_t)src[i]];
		c1 = rev[(uint8_t)src[i + 1]];
		if (c0 < 0 || c1 < 0)
			return (-1);
		v = (uint32_t)c0 << 18 | (uint32_t)c1 << 12;
		dst[o++] = v >> 16 & 0xff;
	} else if (rem == 3) {
		c0 = rev[(uint8_t)src[i]];
		c1 = rev[(uint8_t)src[i + 1]];
		c2 = rev[(uint8_t)src[i + 2]];
		if (c0 < 0 || c1 < 0 || c2 < 0)
			return (-1);
		v = (uint32_t)c0 << 18 | (uint32_t)c1 << 12 |
		    (uint32_t)c2 << 6;
		dst[o++] = v >> 16 & 0xff;
		dst[o++] = v >> 8 & 0xff;
	}
	*out = (long)o;
	return (0);
}

/*
 * Decode standard base64 with optional padding.  Returns the decoded length
 * or -1 on an invalid character, misplaced padding or impossible length.
 */
long
cf_base64_decode(uint8_t *dst, const char *src, size_t n)
{
	long	 len;

	if (b64_decode(dst, src, n, b64_std_rev, 1, &len) == -1)
		return (-1);
	return (len);
}

/* Decode URL-safe base64 without padding ('=' is rejected).  As above. */
long
cf_base64url_decode(uint8_t *dst, const char *src, size_t n)
{
	long	 len;

	if (b64_decode(dst, src, n, b64_url_rev, 0, &len) == -1)
		return (-1);
	return (len);
}

/*
 * Fill buf with n bytes from the kernel's CSPRNG.  getrandom(2) may return
 * short counts for large requests or be interrupted by a signal before the
 * pool is ready; both are retried.  0, or -1 with errno set.
 */
int
cf_random_bytes(void *buf, size_t n)
{
	uint8_t	*p = buf;
	ssize_t	 r;

	while (n > 0) {
		r = getrandom(p, n, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += r;
		n -= (size_t)r;
	}
	return (0);
}

/* Clock clk in units of `unit` nanoseconds; 0 when it cannot be read. */
static uint64_t
clock_read(clockid_t clk, uint64_t unit)
{
	struct timespec	 ts;

	if (clock_gettime(clk, &ts) == -1)
		return (0);
	return ((uint64_t)ts.tv_sec * (1000000000 / unit) +
	    (uint64_t)ts.tv_nsec / unit);
}

uint64_t
cf_now_ms(void)
{
	return (clock_read(CLOCK_MONOTONIC, 1000000));
}

uint64_t
cf_now_us(void)
{
	return (clock_read(CLOCK_MONOTONIC, 1000));
}

uint64_t
cf_wall_ms(void)
{
	return (clock_read(CLOCK_REALTIME, 1000000));
}

int
cf_locator_path(char *buf, size_t len)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int n;

	if (rt != NULL && rt[0] == '/')
		n = snprintf(buf, len, "%s/confabd.control", rt);
	else
		n = snprintf(buf, len, "/tmp/confabd-%lu.control",
		    (unsigned long)geteuid());
	return (n < 0 || (size_t)n >= len ? -1 : 0);
}

int
cf_locator_read(char *buf, size_t len)
{
	char path[PATH_MAX];
	struct stat sb;
	ssize_t n;
	int fd;

	if (len < 2 || cf_locator_path(path, sizeof(path)) == -1)
		return (-1);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || (sb.st_mode & 022) != 0 ||
	    (n = read(fd, buf, len - 1)) <= 0) {
		close(fd);
		return (-1);
	}
	close(fd);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return (buf[0] == '/' ? 0 : -1);
}
