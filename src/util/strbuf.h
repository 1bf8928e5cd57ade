/* A growable string. Invariants: `buf` is never NULL and always
 * NUL-terminated; `len` excludes the terminator. Allocation failure aborts
 * (a daemon that cannot allocate a few bytes cannot report it either). */
#pragma once

#include <stdarg.h>
#include <stddef.h>

typedef struct {
        char *buf;
        size_t len;
        size_t alloc;
} strbuf;

#define STRBUF_INIT { (char *)strbuf_empty_, 0, 0 }
extern const char strbuf_empty_[1];

void strbuf_init(strbuf *sb);
void strbuf_release(strbuf *sb);
void strbuf_reset(strbuf *sb);
void strbuf_grow(strbuf *sb, size_t extra);
void strbuf_add(strbuf *sb, const void *data, size_t len);
void strbuf_adds(strbuf *sb, const char *s);
void strbuf_addch(strbuf *sb, char c);
void strbuf_addf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vaddf(strbuf *sb, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hand the buffer to the caller (always heap-allocated) and reset sb. */
char *strbuf_detach(strbuf *sb, size_t *len);

static inline void strbuf_releasep(strbuf *sb) { strbuf_release(sb); }
#define _cleanup_strbuf_ __attribute__((cleanup(strbuf_releasep)))
