/* NULL-terminated vectors of owned strings (argv, envp, lists). A NULL strv
 * is the empty vector. Allocation failure aborts. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

size_t strv_length(char *const *v);
/* Append a copy of s; returns the (possibly moved) vector. */
char **strv_push(char **v, const char *s);
/* Append s, taking ownership of it. */
char **strv_push_take(char **v, char *s);
char **strv_pushf(char **v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool strv_contains(char *const *v, const char *s);
/* Split s at each character in sep, dropping empty pieces. */
char **strv_split(const char *s, const char *sep);
char *strv_join(char *const *v, const char *sep);
void strv_free(char **v);

static inline void strv_freep(char ***v) { strv_free(*v); }
#define _cleanup_strv_ __attribute__((cleanup(strv_freep)))
