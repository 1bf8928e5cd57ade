/* libFuzzer target for image/reference.c, the parser of every image name a
 * client sends (PullImage, CreateContainer, ImageStatus, RemoveImage).
 * Only LLVMFuzzerTestOneInput is defined, so the same file links into the
 * corpus replay of the normal test run without libFuzzer.
 *
 * Beyond "no crash": an accepted reference is normalised (parsing its
 * string form gives the same reference back, within every bound), and a
 * refused one is INVALID with a bounded message that quotes the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
        if (!ok)
                abort();
}

static bool str_eq(const char *a, const char *b)
{
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static bool ref_eq(const image_ref *a, const image_ref *b)
{
        return str_eq(a->domain, b->domain) && str_eq(a->path, b->path) &&
               str_eq(a->tag, b->tag) && str_eq(a->digest, b->digest);
}

static image_ref *reparse(const char *s)
{
        image_ref *ref = NULL;
        ocid_error err = OCID_ERROR_INIT;
        check(image_ref_parse(s, &ref, &err) == 0);
        check(err.kind == OCID_OK && !err.message && ref);
        return ref;
}

static void check_accepted(const char *text, const image_ref *ref)
{
        check(ref->domain && ref->path && *ref->domain && *ref->path);
        check(ref->tag || ref->digest);
        check(!ref->digest || digest_valid(ref->digest));
        check(!ref->tag || (strlen(ref->tag) >= 1 && strlen(ref->tag) <= 128));
        check(strlen(ref->domain) + 1 + strlen(ref->path) <= IMAGE_REF_NAME_MAX);
        check(!hex64_valid(text));
        check(!ref->library_implied || strncmp(ref->path, "library/", 8) == 0);
        check(!ref->library_implied || strcmp(ref->domain, "docker.io") == 0);
        check(strcmp(ref->domain, "index.docker.io") != 0);
        for (const char *p = ref->path; *p; p++)
                check(!(*p >= 'A' && *p <= 'Z'));

        /* The normalised string is a fixed point. */
        char *s = image_ref_string(ref);
        image_ref *again = reparse(s);
        check(ref_eq(ref, again));
        check(again->had_domain);
        char *s2 = image_ref_string(again);
        check(strcmp(s, s2) == 0);
        free(s2);
        image_ref_free(again);
        free(s);

        char *name = image_ref_name(ref);
        check(strlen(name) <= IMAGE_REF_NAME_MAX);
        free(name);

        char *tagged = image_ref_tagged(ref);
        check((tagged != NULL) == (ref->tag != NULL));
        if (tagged) {
                image_ref *t = reparse(tagged);
                check(str_eq(t->tag, ref->tag) && !t->digest);
                image_ref_free(t);
                free(tagged);
        }
        char *digested = image_ref_digested(ref, NULL);
        check((digested != NULL) == (ref->digest != NULL));
        if (digested) {
                image_ref *d = reparse(digested);
                check(str_eq(d->digest, ref->digest) && !d->tag);
                image_ref_free(d);
                free(digested);
        }

        image_ref *copy = image_ref_copy(ref);
        check(ref_eq(ref, copy) && copy->had_domain == ref->had_domain &&
              copy->library_implied == ref->library_implied);
        image_ref_free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* An exactly sized, NUL-terminated copy: ASan then catches any read
         * past the terminator. */
        char *text = malloc(size + 1);
        if (!text)
                abort();
        if (size)
                memcpy(text, data, size);
        text[size] = '\0';

        image_ref *sentinel = (image_ref *)&text;
        image_ref *ref = sentinel;
        ocid_error err = OCID_ERROR_INIT;
        int r = image_ref_parse(text, &ref, &err);
        if (r == 0) {
                check(err.kind == OCID_OK && !err.message && ref && ref != sentinel);
                check_accepted(text, ref);
                image_ref_free(ref);
        } else {
                check(r == -1 && ref == sentinel);
                check(err.kind == OCID_ERR_INVALID && err.message);
                check(strncmp(err.message, "invalid reference '", 19) == 0);
                /* At most two quotes (the input, and the bad piece of it)
                 * of at most 128 input bytes, each at most 4 characters
                 * once escaped, plus the explanation. */
                check(strlen(err.message) < 1400);
                for (const char *p = err.message; *p; p++)
                        check((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
                ocid_error_clear(&err);
        }
        free(text);
        return 0;
}
