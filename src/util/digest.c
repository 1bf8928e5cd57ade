#include "util/digest.h"

#include <sha2.h>
#include <string.h>

void digest_sha256_format(const uint8_t raw[DIGEST_SHA256_SIZE], char out[DIGEST_SHA256_STRSIZE])
{
        static const char hex[] = "0123456789abcdef";
        memcpy(out, "sha256:", 7);
        for (size_t i = 0; i < DIGEST_SHA256_SIZE; i++) {
                out[7 + 2 * i] = hex[raw[i] >> 4];
                out[7 + 2 * i + 1] = hex[raw[i] & 0xf];
        }
        out[DIGEST_SHA256_STRSIZE - 1] = '\0';
}

void digest_sha256(const void *data, size_t len, char out[DIGEST_SHA256_STRSIZE])
{
        uint8_t raw[DIGEST_SHA256_SIZE];
        SHA2_CTX ctx;
        SHA256Init(&ctx);
        SHA256Update(&ctx, data, len);
        SHA256Final(raw, &ctx);
        digest_sha256_format(raw, out);
}
