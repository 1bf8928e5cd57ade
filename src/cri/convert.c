#include "cri/convert.h"
#include "util/xalloc.h"

typedef struct {
        ProtobufCMessage base;
        char *key;
        char *value;
} map_entry;

void *cri_copy_map(void **src, size_t n, size_t *ret_n, const ProtobufCMessageDescriptor *entry_desc)
{
        void **dst = xcalloc(n + 1, sizeof(void *));
        for (size_t i = 0; i < n; i++) {
                const map_entry *in = src[i];
                map_entry *e = xcalloc(1, entry_desc->sizeof_message);
                entry_desc->message_init(&e->base);
                e->key = xstrdup(in->key);
                e->value = xstrdup(in->value);
                dst[i] = e;
        }
        *ret_n = n;
        return dst;
}
