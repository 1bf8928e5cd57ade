#include "ocic/table.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct table {
        size_t columns;
        char **cells; /* row-major, header first */
};

table *table_new(size_t columns, ...)
{
        table *t = xcalloc(1, sizeof(*t));
        t->columns = columns;
        va_list ap;
        va_start(ap, columns);
        for (size_t i = 0; i < columns; i++)
                t->cells = strv_push(t->cells, va_arg(ap, const char *));
        va_end(ap);
        return t;
}

void table_add(table *t, ...)
{
        va_list ap;
        va_start(ap, t);
        for (size_t i = 0; i < t->columns; i++) {
                const char *s = va_arg(ap, const char *);
                t->cells = strv_push(t->cells, s ? s : "");
        }
        va_end(ap);
}

void table_print(table *t)
{
        size_t n = strv_length(t->cells);
        size_t width[16] = { 0 };
        for (size_t i = 0; i < n; i++) {
                size_t c = i % t->columns, len = strlen(t->cells[i]);
                if (c < 16 && len > width[c])
                        width[c] = len;
        }
        for (size_t i = 0; i < n; i++) {
                size_t c = i % t->columns;
                if (c + 1 == t->columns)
                        printf("%s\n", t->cells[i]);
                else
                        printf("%-*s   ", (int)width[c < 16 ? c : 15], t->cells[i]);
        }
        strv_free(t->cells);
        free(t);
}

void format_size(unsigned long long bytes, char out[32])
{
        static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB" };
        double v = (double)bytes;
        size_t u = 0;
        while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1000;
                u++;
        }
        snprintf(out, 32, "%.4g%s", v, units[u]);
}
