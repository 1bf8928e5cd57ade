/* libFuzzer target for image/manifest.c's image_config_parse() and
 * image_chain_ids(). Only LLVMFuzzerTestOneInput is defined, so the file
 * also links into the corpus replay of the normal test run.
 *
 * Beyond "no crash": a parsed config honours the header's contract (no NULL
 * strings but created, no NULL vectors, bounds, valid diff_ids, raw kept),
 * and its chain IDs are one valid digest per layer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"
#include "util/strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool digest_ok(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
                return false;
        for (size_t i = 7; i < 71; i++)
                if (!strchr("0123456789abcdef", d[i]))
                        return false;
        return true;
}

static void check_list(char **v, size_t max)
{
        if (!v || strv_length(v) > max)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);

        image_config *sentinel = (image_config *)&sentinel;
        image_config *c = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = image_config_parse(text, size, &c, &err);

        if (r != 0) {
                if (r != -1 || c != sentinel || !err.message ||
                    (err.kind != OCID_ERR_INVALID && err.kind != OCID_ERR_RESOURCE))
                        abort();
                ocid_error_clear(&err);
                free(text);
                return 0;
        }
        if (err.kind != OCID_OK || err.message || !c || c == sentinel || !c->raw)
                abort();
        if (!c->user || !c->working_dir || !c->stop_signal || !c->os || !c->architecture)
                abort();
        check_list(c->env, IMAGE_CONFIG_MAX_LIST);
        check_list(c->entrypoint, IMAGE_CONFIG_MAX_LIST);
        check_list(c->cmd, IMAGE_CONFIG_MAX_LIST);
        check_list(c->exposed_ports, IMAGE_CONFIG_MAX_LIST);
        check_list(c->volumes, IMAGE_CONFIG_MAX_LIST);
        check_list(c->labels, IMAGE_CONFIG_MAX_LIST);
        check_list(c->diff_ids, IMAGE_CONFIG_MAX_DIFF_IDS);
        for (size_t i = 0; c->labels[i]; i++)
                if (!strchr(c->labels[i], '='))
                        abort();
        for (size_t i = 0; c->diff_ids[i]; i++)
                if (!digest_ok(c->diff_ids[i]))
                        abort();

        char **chain = image_chain_ids(c->diff_ids);
        if (!chain || strv_length(chain) != strv_length(c->diff_ids))
                abort();
        for (size_t i = 0; chain[i]; i++)
                if (!digest_ok(chain[i]) || (i == 0 && strcmp(chain[0], c->diff_ids[0]) != 0))
                        abort();
        strv_free(chain);

        image_config_free(c);
        free(text);
        return 0;
}
