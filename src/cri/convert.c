#include "cri/convert.h"
#include "runtime/namespaces.h"
#include "util/xalloc.h"

#include <string.h>

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

bool cri_labels_match(void **labels, size_t n_labels, void **selector, size_t n_selector)
{
        for (size_t i = 0; i < n_selector; i++) {
                const map_entry *want = selector[i];
                bool found = false;
                for (size_t j = 0; j < n_labels && !found; j++) {
                        const map_entry *have = labels[j];
                        found = strcmp(have->key, want->key) == 0 && strcmp(have->value, want->value) == 0;
                }
                if (!found)
                        return false;
        }
        return true;
}

static oci_namespace pod_namespace(const sandbox *sb, unsigned kind, bool host, char **path)
{
        if (host)
                return (oci_namespace){ .mode = NS_MODE_HOST };
        *path = ns_path(sb->dir, kind);
        return (oci_namespace){ .mode = NS_MODE_JOIN, .path = *path };
}

void cri_join_pod_namespaces(const sandbox *sb, container_spec *spec, char *paths[3])
{
        paths[0] = paths[1] = paths[2] = NULL;
        spec->net = pod_namespace(sb, NS_NET, sb->host_network, &paths[0]);
        spec->ipc = pod_namespace(sb, NS_IPC, sb->host_ipc, &paths[1]);
        spec->uts = pod_namespace(sb, NS_UTS, sb->host_network, &paths[2]);
}
