/* libFuzzer target for image/manifest.c's manifest_parse() and
 * manifest_select(). Only LLVMFuzzerTestOneInput is defined, so the file
 * also links into the corpus replay of the normal test run.
 *
 * Every input is parsed as each kind of Content-Type a registry may send
 * (none, generic, each supported type, schema 1). Beyond "no crash": the
 * result must honour the manifest_parse() contract (validated digests and
 * sizes, bounds, ownership), and an index must select for this host and a
 * few other platforms without breaking the manifest_select() contract. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_digest(const char *d)
{
        if (!d || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
                abort();
        for (size_t i = 7; i < 71; i++)
                if (!strchr("0123456789abcdef", d[i]))
                        abort();
}

static void check_descriptor(const descriptor *d, bool index_entry)
{
        if (!d->media_type || d->size < 0)
                abort();
        check_digest(d->digest);
        if (!index_entry && (d->os || d->architecture || d->variant))
                abort();
        if (!d->os != !d->architecture || (d->variant && !d->os))
                abort();
}

static void check_select(const manifest *m, const char *os, const char *arch, const char *variant)
{
        platform want = { os, arch, variant };
        const descriptor *sentinel = (const descriptor *)&want;
        const descriptor *d = sentinel;
        ocid_error err = OCID_ERROR_INIT;

        if (manifest_select(m, &want, &d, &err) == 0) {
                if (err.kind != OCID_OK || d < m->entries || d >= m->entries + m->n_entries ||
                    !d->os || !d->architecture)
                        abort();
                return;
        }
        if (d != sentinel || err.kind != OCID_ERR_NOT_FOUND || !err.message ||
            strncmp(err.message, "no image for ", 13) != 0 || strlen(err.message) > 64 * 1024)
                abort();
        ocid_error_clear(&err);
}

static void check_one(const char *content_type, const char *text, size_t size)
{
        manifest *sentinel = (manifest *)&sentinel;
        manifest *m = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = manifest_parse(content_type, text, size, &m, &err);

        if (r != 0) {
                if (r != -1 || m != sentinel || !err.message ||
                    (err.kind != OCID_ERR_INVALID && err.kind != OCID_ERR_RESOURCE))
                        abort();
                ocid_error_clear(&err);
                return;
        }
        if (err.kind != OCID_OK || err.message || !m || m == sentinel || !m->media_type)
                abort();
        if (m->kind == MANIFEST_IMAGE) {
                if (m->n_layers > MANIFEST_MAX_LAYERS || m->n_entries || m->entries ||
                    (m->n_layers && !m->layers))
                        abort();
                if (strcmp(m->media_type, MEDIA_DOCKER_MANIFEST) != 0 &&
                    strcmp(m->media_type, MEDIA_OCI_MANIFEST) != 0)
                        abort();
                check_descriptor(&m->config, false);
                for (size_t i = 0; i < m->n_layers; i++)
                        check_descriptor(&m->layers[i], false);
        } else if (m->kind == MANIFEST_INDEX) {
                if (m->n_entries > INDEX_MAX_ENTRIES || m->n_layers || m->layers ||
                    m->config.digest || (m->n_entries && !m->entries))
                        abort();
                if (strcmp(m->media_type, MEDIA_DOCKER_LIST) != 0 &&
                    strcmp(m->media_type, MEDIA_OCI_INDEX) != 0)
                        abort();
                for (size_t i = 0; i < m->n_entries; i++)
                        check_descriptor(&m->entries[i], true);

                platform host = platform_host();
                check_select(m, host.os, host.architecture, host.variant);
                check_select(m, "linux", "arm", "v7");
                check_select(m, "linux", "arm64", NULL);
                check_select(m, "linux", "amd64", "v3");
                check_select(m, "linux", "riscv64", NULL);
        } else {
                abort();
        }
        manifest_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const content_types[] = {
                NULL,
                "application/json",
                MEDIA_DOCKER_MANIFEST,
                MEDIA_DOCKER_LIST,
                MEDIA_OCI_MANIFEST,
                MEDIA_OCI_INDEX "; charset=utf-8",
                MEDIA_DOCKER_V1_SIGNED,
        };

        /* An exactly sized copy, so ASan reports any read past size. */
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);
        for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++)
                check_one(content_types[i], text, size);
        free(text);
        return 0;
}
