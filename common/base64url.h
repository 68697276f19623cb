/*
 * base64url.h: base64url without padding (RFC 4648 section 5), the one
 * encoding of binary data in the native protocol (PROTOCOL.md 2.3).  The
 * decoder refuses padding, the standard alphabet, whitespace and
 * non-zero trailing bits, so each byte string has exactly one encoding.
 */
#ifndef BERTH_BASE64URL_H
#define BERTH_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

/* Characters needed to encode len bytes, without the NUL. */
#define BASE64URL_LEN(len)	(((len) * 4 + 2) / 3)

/* Encode; out must hold BASE64URL_LEN(len) + 1 bytes. */
void	 base64url_encode(const uint8_t *in, size_t len, char *out);
/* Decode exactly want bytes; 0, or -1 if s is not their one encoding. */
int	 base64url_decode(const char *s, uint8_t *out, size_t want);

#endif
