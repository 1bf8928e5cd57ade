/* SHA-256 digests in the "sha256:<64 hex digits>" form of OCI digests,
 * diff IDs and chain IDs.
 *
 * The daemon hashes a few hundred bytes at a time (chain IDs) and does it
 * with libmd, which costs it almost no resident memory. The ocid-fetch
 * helper hashes whole layers as they stream and uses nettle there, several
 * times faster (it uses the CPU's SHA instructions) but some 200 KiB more
 * resident, which is why the daemon does not link it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define DIGEST_SHA256_SIZE 32
/* "sha256:", 64 hex digits and the NUL */
#define DIGEST_SHA256_STRSIZE (7 + 2 * DIGEST_SHA256_SIZE + 1)

void digest_sha256_format(const uint8_t raw[DIGEST_SHA256_SIZE], char out[DIGEST_SHA256_STRSIZE]);
void digest_sha256(const void *data, size_t len, char out[DIGEST_SHA256_STRSIZE]);
