/* libFuzzer target for util/toml.c, the parser of /etc/ocid/ocid.conf and
 * containers-registries.conf. Only LLVMFuzzerTestOneInput is defined, so the
 * same file links into tests/fuzz/replay.c, which replays the corpus in the
 * normal test run without libFuzzer.
 *
 * Beyond "no crash": the result must honour the toml_parse() contract, and
 * a returned tree must be within the depth bound and free of the parser's
 * bookkeeping. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "util/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Containers below the root; the root itself is depth 0. */
static int tree_depth(struct json_object *o)
{
        int deepest = 0;

        if (json_object_get_userdata(o))
                abort();
        if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, child) {
                        if (!key)
                                abort();
                        int d = tree_depth(child);
                        if (d > deepest)
                                deepest = d;
                }
        } else if (json_object_is_type(o, json_type_array)) {
                size_t n = json_object_array_length(o);
                for (size_t i = 0; i < n; i++) {
                        int d = tree_depth(json_object_array_get_idx(o, i));
                        if (d > deepest)
                                deepest = d;
                }
        } else {
                return 0;
        }
        return deepest + 1;
}

static void check_error(const ocid_error *err, const char *text, size_t size)
{
        size_t lines = 1;
        for (size_t i = 0; i < size; i++)
                lines += text[i] == '\n';

        if (err->kind != OCID_ERR_INVALID || !err->message || strncmp(err->message, "line ", 5) != 0)
                abort();
        char *end;
        unsigned long line = strtoul(err->message + 5, &end, 10);
        if (line < 1 || line > lines || strncmp(end, ": ", 2) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exactly sized copy, so ASan reports any read past len even when
         * a driver passes a NUL-terminated or larger buffer. */
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);

        struct json_object *sentinel = (struct json_object *)&text;
        struct json_object *root = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = toml_parse(text, size, &root, &err);

        if (r == 0) {
                if (err.kind != OCID_OK || err.message || !root || root == sentinel ||
                    !json_object_is_type(root, json_type_object))
                        abort();
                /* The root is 1 here; TOML_MAX_DEPTH counts levels below it. */
                if (tree_depth(root) > TOML_MAX_DEPTH + 1)
                        abort();
                if (!json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN))
                        abort();
                json_object_put(root);
        } else {
                if (r != -1 || root != sentinel)
                        abort();
                check_error(&err, text, size);
                ocid_error_clear(&err);
        }
        free(text);
        return 0;
}
