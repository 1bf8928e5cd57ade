/* Allocation that cannot fail: out of memory aborts. For building replies
 * and small structures, where a failure could not be reported anyway. */
#pragma once

#include <stdlib.h>
#include <string.h>

static inline void *xcalloc(size_t n, size_t size)
{
        void *p = calloc(n ? n : 1, size ? size : 1);
        if (!p)
                abort();
        return p;
}

static inline char *xstrdup(const char *s)
{
        char *p = strdup(s);
        if (!p)
                abort();
        return p;
}

static inline char *xstrndup(const char *s, size_t n)
{
        char *p = strndup(s, n);
        if (!p)
                abort();
        return p;
}

/* calloc a protobuf-c message and run its init function. */
#define XNEW_MSG(type, init)                                                   \
        ({                                                                     \
                type *_m = xcalloc(1, sizeof(type));                           \
                init(_m);                                                      \
                _m;                                                            \
        })
