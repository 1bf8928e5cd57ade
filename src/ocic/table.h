/* Column-aligned text tables, as crictl prints them. */
#pragma once

#include <stddef.h>

typedef struct table table;

table *table_new(size_t columns, ...); /* the header cells */
void table_add(table *t, ...);         /* one cell per column; copied */
void table_print(table *t);            /* prints and frees */

/* Decimal sizes like crictl: "4.26MB", "512B". */
void format_size(unsigned long long bytes, char out[32]);
