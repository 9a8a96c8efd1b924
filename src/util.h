/*
 * util.h -- small helpers shared by every process: growable byte buffers,
 * base64, random bytes, clocks.  Pure functions unless stated otherwise.
 */
#ifndef CF_UTIL_H
#define CF_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growable byte buffer.  Zero-initialise it ({0}) before first use. */
struct cf_buf {
	uint8_t	*data;
	size_t	 len;
	size_t	 cap;
};

/* Ensure room for `extra` more bytes.  0, or -1 on allocation failure. */
int	 cf_buf_reserve(struct cf_buf *b, size_t extra);
/* Append bytes / a NUL-terminated string / one byte.  0 or -1 (ENOMEM). */
int	 cf_buf_append(struct cf_buf *b, const void *p, size_t n);
int	 cf_buf_appends(struct cf_buf *b, const char *s);
int	 cf_buf_appendc(struct cf_buf *b, uint8_t c);
/* Forget the contents but keep the allocation. */
void	 cf_buf_reset(struct cf_buf *b);
/* Free the allocation; the buffer is zeroed and may be reused. */
void	 cf_buf_free(struct cf_buf *b);

/* Length of the standard (RFC 4648, padded) base64 encoding of n bytes. */
size_t	 cf_base64_enclen(size_t n);
/* Encode n bytes into dst (cf_base64_enclen(n) bytes, no NUL).  Returns it. */
size_t	 cf_base64_encode(char *dst, const uint8_t *src, size_t n);
/*
 * Decode standard base64 (padding optional).  dst may equal src (in-place
 * decoding is safe because the output is never longer than the input).
 * Returns the decoded length, or -1 on an invalid character or length.
 */
long	 cf_base64_decode(uint8_t *dst, const char *src, size_t n);
/* Same with the URL-safe alphabet ('-', '_'), no padding. */
size_t	 cf_base64url_encode(char *dst, const uint8_t *src, size_t n);
long	 cf_base64url_decode(uint8_t *dst, const char *src, size_t n);

/* Fill buf with n cryptographically random bytes (getrandom).  0 or -1. */
int	 cf_random_bytes(void *buf, size_t n);

/* strlcpy(3): glibc 2.36 has none.  Returns strlen(src). */
static inline size_t
cf_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	while (src[n] != '\0')
		n++;
	if (size > 0) {
		size_t c = n < size - 1 ? n : size - 1;
		size_t i;

		for (i = 0; i < c; i++)
			dst[i] = src[i];
		dst[c] = '\0';
	}
	return (n);
}

/*
 * Monotonic clock in milliseconds and in microseconds (one clock for every
 * process of the host); wall clock in milliseconds since epoch.
 */
uint64_t cf_now_ms(void);
uint64_t cf_now_us(void);
uint64_t cf_wall_ms(void);

/*
 * The control socket locator: a file holding the absolute path of the
 * control socket of the daemon this user started last, so that confabctl
 * finds it from any directory.  It is $XDG_RUNTIME_DIR/confabd.control
 * when XDG_RUNTIME_DIR is an absolute path, else /tmp/confabd-UID.control.
 * path: into buf; 0, or -1 when it does not fit.  read: the socket path
 * into buf from a regular file of this user that nobody else may write
 * (anything else is ignored); 0, or -1.
 */
int	 cf_locator_path(char *buf, size_t len);
int	 cf_locator_read(char *buf, size_t len);

#endif
