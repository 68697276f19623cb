/*
 * base64url.c: see base64url.h.  Small enough to write out rather than
 * map OpenSSL's standard-alphabet, padded output character by character.
 */
#include <string.h>

#include "base64url.h"

static const char	 b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
base64url_encode(const uint8_t *in, size_t len, char *out)
{
	uint32_t	 acc = 0;
	size_t		 i;
	int		 bits = 0;

	for (i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			*out++ = b64url_alphabet[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		*out++ = b64url_alphabet[(acc << (6 - bits)) & 0x3f];
	*out = '\0';
}

static int
b64url_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(b64url_alphabet, c)) == NULL)
		return -1;
	return (int)(p - b64url_alphabet);
}

int
base64url_decode(const char *s, uint8_t *out, size_t want)
{
	uint32_t	 acc = 0;
	size_t		 i, n = 0;
	int		 bits = 0, v;

	if (strlen(s) != BASE64URL_LEN(want))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if ((v = b64url_value(s[i])) == -1)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* The leftover bits of the last character must be zero. */
	if (n != want || (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return 0;
}
