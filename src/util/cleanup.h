/* Scope-bound ownership: a variable declared with one of these attributes is
 * released when it goes out of scope, so functions can return early without
 * goto ladders. Hand ownership on with TAKE_PTR / TAKE_FD. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>
#include <string.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Return the pointer and leave NULL behind, so the cleanup does nothing. */
#define TAKE_PTR(p)                                                            \
        ({                                                                     \
                __typeof__(p) _taken = (p);                                    \
                (p) = NULL;                                                    \
                _taken;                                                        \
        })
#define TAKE_FD(fd)                                                            \
        ({                                                                     \
                int _taken = (fd);                                             \
                (fd) = -1;                                                     \
                _taken;                                                        \
        })

/* Declare `typep(type **)` calling `func(type *)` when the pointer is set. */
#define DEFINE_CLEANUP_FUNC(type, func)                                        \
        static inline void func##p(type **p)                                   \
        {                                                                      \
                if (*p)                                                        \
                        func(*p);                                              \
        }

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STREQ(a, b) (strcmp((a), (b)) == 0)
