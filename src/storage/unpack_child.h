/* Unpacking a layer in the ocid-fetch helper process rather than in the
 * daemon (see util/helper.h for why): the same contract as layer_unpack()
 * in unpack.h, with the blob read from its start and the layer extracted
 * into the empty directory `dir`. Cancelling kills the helper. */
#pragma once

#include "storage/unpack.h"

int layer_unpack_child(int blob_fd, const char *dir, const atomic_bool *cancelled, unpack_result *ret,
                       ocid_error *err);
