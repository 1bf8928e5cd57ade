/* Helpers shared by the handlers for building replies. */
#pragma once

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Copy map<string,string> entries (labels, annotations) into entries of
 * another message's map type: every such entry is {base, key, value}.
 * Returns the new array (n + 1 slots), *ret_n = n. */
void *cri_copy_map(void **src, size_t n, size_t *ret_n, const ProtobufCMessageDescriptor *entry_desc);
