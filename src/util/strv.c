#include "util/strv.h"
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t strv_length(char *const *v)
{
        size_t n = 0;
        while (v && v[n])
                n++;
        return n;
}

char **strv_push_take(char **v, char *s)
{
        if (!s)
                abort();
        size_t n = strv_length(v);
        char **w = realloc(v, (n + 2) * sizeof(char *));
        if (!w)
                abort();
        w[n] = s;
        w[n + 1] = NULL;
        return w;
}

char **strv_push(char **v, const char *s)
{
        return strv_push_take(v, strdup(s));
}

char **strv_pushf(char **v, const char *fmt, ...)
{
        char *s = NULL;
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                abort();
        return strv_push_take(v, s);
}

bool strv_contains(char *const *v, const char *s)
{
        for (size_t i = 0; v && v[i]; i++)
                if (strcmp(v[i], s) == 0)
                        return true;
        return false;
}

char **strv_split(const char *s, const char *sep)
{
        char **v = calloc(1, sizeof(char *));
        if (!v)
                abort();
        while (*s) {
                size_t skip = strspn(s, sep);
                s += skip;
                size_t n = strcspn(s, sep);
                if (n == 0)
                        break;
                v = strv_push_take(v, strndup(s, n));
                s += n;
        }
        return v;
}

char *strv_join(char *const *v, const char *sep)
{
        strbuf sb = STRBUF_INIT;
        for (size_t i = 0; v && v[i]; i++) {
                if (i)
                        strbuf_adds(&sb, sep);
                strbuf_adds(&sb, v[i]);
        }
        return strbuf_detach(&sb, NULL);
}

void strv_free(char **v)
{
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}
