/* A TOML 1.0 parser producing a json-c tree, so the rest of ocid navigates
 * configuration (/etc/ocid/ocid.conf, containers-registries.conf v2) with
 * the json-c API it already uses for image manifests and CNI results.
 *
 * Ownership: toml_parse() only reads `text`. On success the caller owns the
 * returned tree and releases it with json_object_put(). On failure nothing is
 * allocated and *ret is left as it was.
 *
 * Mapping: tables -> objects, arrays (static and [[array of tables]]) ->
 * arrays, strings -> strings (may contain NUL written as \u0000, use
 * json_object_get_string_len), integers -> int64, floats -> double (inf and
 * nan included), booleans -> boolean, offset/local date-times, dates and
 * times -> their text, exactly as written, as strings.
 *
 * Errors: every failure sets `err` to OCID_ERR_INVALID with a message
 * "line N: what is wrong". The input must be UTF-8; containers (tables and
 * arrays) may nest at most TOML_MAX_DEPTH levels below the root. */
#pragma once

#include <stddef.h>

#include "util/error.h"

struct json_object;

#define TOML_MAX_DEPTH 64

/* Parse TOML text (len bytes, need not be NUL-terminated) into a json-c object tree:
   tables -> objects, arrays -> arrays, strings -> strings, integers -> int64, floats -> double,
   booleans -> boolean, date-times -> their text as strings. On failure returns -1, sets err
   (kind OCID_ERR_INVALID) with a message "line N: what is wrong", and *ret is untouched. */
int toml_parse(const char *text, size_t len, struct json_object **ret, ocid_error *err);
