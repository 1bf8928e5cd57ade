/* libFuzzer target for the registry client's WWW-Authenticate parser
 * (image/registry.c), which reads a header any registry may send. Only
 * LLVMFuzzerTestOneInput is defined, so the same file links into the corpus
 * replay of the normal test run without libFuzzer.
 *
 * Beyond "no crash": a parsed challenge has a lower-case scheme of 1 to 16
 * characters without spaces; a refused one is INVALID with a message and
 * leaves *ret zeroed. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "image/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* A header value is a C string here: curl hands over one line. */
        char *header = strndup((const char *)data, size);
        auth_challenge c = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        if (auth_challenge_parse(header, &c, &err) == 0) {
                CHECK(err.kind == OCID_OK);
                size_t n = strlen(c.scheme);
                CHECK(n >= 1 && n <= 16);
                for (const char *s = c.scheme; *s; s++)
                        CHECK(*s != ' ' && !isupper((unsigned char)*s));
                auth_challenge_release(&c);
        } else {
                CHECK(err.kind == OCID_ERR_INVALID && err.message);
                CHECK(!c.scheme && !c.realm && !c.service && !c.scope);
        }
        ocid_error_clear(&err);
        free(header);
        return 0;
}
