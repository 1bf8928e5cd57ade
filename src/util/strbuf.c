#include "util/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char strbuf_empty_[1];

static void *xrealloc(void *p, size_t n)
{
        void *q = realloc(p, n);
        if (!q)
                abort();
        return q;
}

void strbuf_init(strbuf *sb)
{
        *sb = (strbuf)STRBUF_INIT;
}

void strbuf_release(strbuf *sb)
{
        if (sb->alloc)
                free(sb->buf);
        strbuf_init(sb);
}

void strbuf_reset(strbuf *sb)
{
        sb->len = 0;
        if (sb->alloc)
                sb->buf[0] = '\0';
}

void strbuf_grow(strbuf *sb, size_t extra)
{
        if (extra > SIZE_MAX / 2 - sb->len)
                abort();
        size_t need = sb->len + extra + 1;
        if (need <= sb->alloc)
                return;
        size_t alloc = sb->alloc ? sb->alloc : 64;
        while (alloc < need)
                alloc *= 2;
        char *old = sb->alloc ? sb->buf : NULL;
        sb->buf = xrealloc(old, alloc);
        if (!old)
                sb->buf[0] = '\0';
        sb->alloc = alloc;
}

void strbuf_add(strbuf *sb, const void *data, size_t len)
{
        if (len == 0)
                return; /* data may be NULL then, which memcpy must not see */
        strbuf_grow(sb, len);
        memcpy(sb->buf + sb->len, data, len);
        sb->len += len;
        sb->buf[sb->len] = '\0';
}

void strbuf_adds(strbuf *sb, const char *s)
{
        strbuf_add(sb, s, strlen(s));
}

void strbuf_addch(strbuf *sb, char c)
{
        strbuf_add(sb, &c, 1);
}

void strbuf_vaddf(strbuf *sb, const char *fmt, va_list ap)
{
        /* Format into the spare room first; only a result that does not fit
         * costs a second pass. (This also avoids vsnprintf(NULL, 0, ...),
         * which GCC 12 under -fsanitize=undefined flags as a null format.) */
        strbuf_grow(sb, 64);
        va_list cp;
        va_copy(cp, ap);
        int n = vsnprintf(sb->buf + sb->len, sb->alloc - sb->len, fmt, cp);
        va_end(cp);
        if (n < 0) {
                sb->buf[sb->len] = '\0';
                return;
        }
        if ((size_t)n >= sb->alloc - sb->len) {
                strbuf_grow(sb, (size_t)n);
                vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
        }
        sb->len += (size_t)n;
}

void strbuf_addf(strbuf *sb, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        strbuf_vaddf(sb, fmt, ap);
        va_end(ap);
}

char *strbuf_detach(strbuf *sb, size_t *len)
{
        strbuf_grow(sb, 0);
        char *s = sb->buf;
        if (len)
                *len = sb->len;
        strbuf_init(sb);
        return s;
}
