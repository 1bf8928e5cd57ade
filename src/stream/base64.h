/* Base64 (RFC 4648, standard alphabet, with padding) for the streaming
 * protocols: Sec-WebSocket-Key/Accept and the base64.channel.k8s.io
 * subprotocols. Allocation failure aborts (strbuf). */
#pragma once

#include "util/strbuf.h"

#include <stddef.h>

/* Append the encoding of data to out. */
void base64_encode(strbuf *out, const void *data, size_t len);

/* Append the decoding of text to out. Padding is required (len a multiple
 * of 4), nothing but the alphabet is accepted, and the unused bits of the
 * last group must be zero, so each byte string has exactly one encoding.
 * -EINVAL when malformed; out is then left as it was. */
int base64_decode(strbuf *out, const char *text, size_t len);
