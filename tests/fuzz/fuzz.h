/* What the fuzz targets share: a failed expectation aborts naming itself
 * (libFuzzer and the corpus replay both report the abort), and the
 * schedule that splits one input into the pieces a streaming parser is
 * fed, so that every split point gets explored. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                            \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
                                __LINE__, #cond);                              \
                        abort();                                               \
                }                                                              \
        } while (0)

typedef struct {
        const uint8_t *sizes; /* piece sizes, used in turn; none: all at once */
        size_t n_sizes;
        size_t next;
        bool last_empty;
} fuzz_chunks;

/* The size of the next piece, at most `left`. An empty piece is allowed,
 * but never twice in a row, so that feeding always moves on. */
static inline size_t fuzz_next_chunk(fuzz_chunks *c, size_t left)
{
        if (!c->n_sizes)
                return left;
        size_t want = c->sizes[c->next++ % c->n_sizes];
        if (want == 0 && c->last_empty)
                want = 1;
        c->last_empty = want == 0;
        return want < left ? want : left;
}
