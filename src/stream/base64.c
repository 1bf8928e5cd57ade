#include "stream/base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void base64_encode(strbuf *out, const void *data, size_t len)
{
        const uint8_t *p = data;
        strbuf_grow(out, (len + 2) / 3 * 4);
        char *o = out->buf + out->len;
        size_t i = 0;
        for (; i + 3 <= len; i += 3) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = alphabet[(v >> 6) & 63];
                *o++ = alphabet[v & 63];
        }
        if (len - i == 1) {
                uint32_t v = (uint32_t)p[i] << 16;
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = '=';
                *o++ = '=';
        } else if (len - i == 2) {
                uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
                *o++ = alphabet[v >> 18];
                *o++ = alphabet[(v >> 12) & 63];
                *o++ = alphabet[(v >> 6) & 63];
                *o++ = '=';
        }
        out->len = (size_t)(o - out->buf);
        out->buf[out->len] = '\0';
}

static int value_of(char c)
{
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == '+')
                return 62;
        if (c == '/')
                return 63;
        return -1;
}

int base64_decode(strbuf *out, const char *text, size_t len)
{
        if (len % 4 != 0)
                return -EINVAL;
        size_t start = out->len;
        strbuf_grow(out, len / 4 * 3);
        uint8_t *o = (uint8_t *)out->buf + out->len;
        for (size_t i = 0; i < len; i += 4) {
                bool last = i + 4 == len;
                int v[4];
                int pad = 0;
                for (int k = 0; k < 4; k++) {
                        char c = text[i + k];
                        if (c == '=' && last && k >= 2) {
                                v[k] = 0;
                                pad++;
                                continue;
                        }
                        /* Nothing may follow padding. */
                        if (pad)
                                goto fail;
                        v[k] = value_of(c);
                        if (v[k] < 0)
                                goto fail;
                }
                uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                             (uint32_t)v[3];
                if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
                        goto fail;
                *o++ = (uint8_t)(x >> 16);
                if (pad < 2)
                        *o++ = (uint8_t)(x >> 8);
                if (pad < 1)
                        *o++ = (uint8_t)x;
        }
        out->len = (size_t)((char *)o - out->buf);
        out->buf[out->len] = '\0';
        return 0;
fail:
        /* An untouched strbuf points at a shared read-only "". */
        out->len = start;
        if (out->alloc)
                out->buf[out->len] = '\0';
        return -EINVAL;
}
