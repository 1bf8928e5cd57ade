/* libFuzzer target for image/registries.c: the input is parsed as a
 * containers-registries.conf document, and a parsed configuration is used
 * to resolve and expand a few fixed references — plus one the input picks:
 * when the document starts with "# ", the rest of that line (a TOML
 * comment) is one more reference, so the fuzzer explores matching as well
 * as parsing. Only LLVMFuzzerTestOneInput is defined, so the same file links
 * into the corpus replay of the normal test run without libFuzzer.
 *
 * Beyond "no crash": parse failures are INVALID with a message naming the
 * document; resolution yields at least one well-formed source or a
 * PRECONDITION; expansion yields fully qualified candidates or INVALID. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/reference.h"
#include "image/registries.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fixed_refs[] = {
        "busybox",
        "library/busybox:1.36",
        "pause:3.9",
        "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "example.com/foo/bar:1",
        "a.example.com:5000/x/y",
        "localhost:5000/app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "quay.io/ns/app",
        "registry.k8s.io/pause:3.9",
};

static void check(bool ok)
{
        if (!ok)
                abort();
}

static void check_sources(const pull_source *src, size_t n)
{
        check(n >= 1);
        for (size_t i = 0; i < n; i++) {
                check(src[i].host && *src[i].host && src[i].repository && *src[i].repository);
                check(src[i].tag || src[i].digest);
                check(!src[i].digest || digest_valid(src[i].digest));
                check(strlen(src[i].host) + 1 + strlen(src[i].repository) <= IMAGE_REF_NAME_MAX);
                /* Mirrors come first, the registry itself last. */
                check(src[i].is_mirror == (i + 1 < n));
        }
}

static void exercise(const registries_conf *conf, const image_ref *ref)
{
        ocid_error err = OCID_ERROR_INIT;

        pull_source *src = NULL;
        size_t n = 0;
        if (registries_resolve(conf, ref, &src, &n, &err) == 0) {
                check(err.kind == OCID_OK);
                check_sources(src, n);
                pull_sources_free(src, n);
        } else {
                check(err.kind == OCID_ERR_PRECONDITION && err.message);
                ocid_error_clear(&err);
        }

        image_ref **cands = NULL;
        n = 0;
        if (registries_expand_short_name(conf, ref, &cands, &n, &err) == 0) {
                check(err.kind == OCID_OK && n >= 1);
                for (size_t i = 0; i < n; i++) {
                        check(cands[i]->had_domain);
                        check((cands[i]->tag == NULL) == (ref->tag == NULL));
                        check((cands[i]->digest == NULL) == (ref->digest == NULL));
                        /* Every candidate resolves or is refused, never crashes. */
                        pull_source *s2 = NULL;
                        size_t n2 = 0;
                        if (registries_resolve(conf, cands[i], &s2, &n2, &err) == 0) {
                                check_sources(s2, n2);
                                pull_sources_free(s2, n2);
                        } else {
                                check(err.kind == OCID_ERR_PRECONDITION);
                                ocid_error_clear(&err);
                        }
                }
                image_refs_free(cands, n);
        } else {
                check(err.kind == OCID_ERR_INVALID && err.message);
                ocid_error_clear(&err);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exactly sized copy: ASan reports any read past len. */
        char *text = malloc(size ? size : 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);

        registries_conf *sentinel = (registries_conf *)&text;
        registries_conf *conf = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = registries_conf_parse(text, size, "fuzz.conf", &conf, &err);
        if (r < 0) {
                check(r == -1 && conf == sentinel);
                check(err.kind == OCID_ERR_INVALID && err.message);
                check(strncmp(err.message, "fuzz.conf: ", 11) == 0);
                ocid_error_clear(&err);
                free(text);
                return 0;
        }
        check(err.kind == OCID_OK && conf && conf != sentinel);

        for (char *const *s = registries_search_list(conf); *s; s++)
                check(**s != '\0');

        for (size_t i = 0; i < sizeof(fixed_refs) / sizeof(fixed_refs[0]); i++) {
                image_ref *ref = NULL;
                check(image_ref_parse(fixed_refs[i], &ref, &err) == 0);
                exercise(conf, ref);
                image_ref_free(ref);
        }

        if (size > 2 && text[0] == '#' && text[1] == ' ') {
                size_t end = 2;
                while (end < size && text[end] != '\n' && text[end] != '\r')
                        end++;
                char *line = strndup(text + 2, end - 2);
                if (!line)
                        abort();
                image_ref *ref = NULL;
                if (image_ref_parse(line, &ref, &err) == 0) {
                        exercise(conf, ref);
                        image_ref_free(ref);
                } else {
                        ocid_error_clear(&err);
                }
                free(line);
        }

        registries_conf_free(conf);
        free(text);
        return 0;
}
