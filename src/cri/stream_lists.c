/* StreamImages, StreamPodSandboxes, StreamContainers: the list calls'
 * answers, sent as a stream of batches so that a node with many objects
 * never needs one huge message. */
#include "cri/cri.h"
#include "cri/handlers.h"

#include "runtime/v1/api.pb-c.h"

#include <stdlib.h>

#define BATCH 256

/* Send items[0..n) in batches, each as a message built by fill(). */
typedef void (*fill_fn)(ProtobufCMessage *batch, void **items, size_t n);

static int send_batches(rpc_call *call, const ProtobufCMessageDescriptor *desc, fill_fn fill, void **items,
                        size_t n, ocid_error *err)
{
        for (size_t i = 0; i < n; i += BATCH) {
                /* The batch borrows the items: freed on its own, not deeply. */
                ProtobufCMessage *batch = calloc(1, desc->sizeof_message);
                if (!batch)
                        return ocid_error_set(err, OCID_ERR_RESOURCE, "out of memory");
                desc->message_init(batch);
                fill(batch, items + i, n - i < BATCH ? n - i : BATCH);
                int r = rpc_call_send(call, batch, err);
                free(batch);
                if (r < 0)
                        return -1;
        }
        return 0;
}

static void fill_images(ProtobufCMessage *m, void **items, size_t n)
{
        Runtime__V1__StreamImagesResponse *r = (Runtime__V1__StreamImagesResponse *)m;
        r->images = (Runtime__V1__Image **)items;
        r->n_images = n;
}

static void fill_pods(ProtobufCMessage *m, void **items, size_t n)
{
        Runtime__V1__StreamPodSandboxesResponse *r = (Runtime__V1__StreamPodSandboxesResponse *)m;
        r->pod_sandboxes = (Runtime__V1__PodSandbox **)items;
        r->n_pod_sandboxes = n;
}

static void fill_containers(ProtobufCMessage *m, void **items, size_t n)
{
        Runtime__V1__StreamContainersResponse *r = (Runtime__V1__StreamContainersResponse *)m;
        r->containers = (Runtime__V1__Container **)items;
        r->n_containers = n;
}

CRI_HANDLER(cri_stream_images)
{
        const Runtime__V1__StreamImagesRequest *in = (const Runtime__V1__StreamImagesRequest *)req;
        Runtime__V1__ListImagesRequest list_req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        list_req.filter = in->filter;
        ProtobufCMessage *out = NULL;
        if (cri_list_images(call, &list_req.base, &out, err) < 0)
                return -1;
        Runtime__V1__ListImagesResponse *list = (Runtime__V1__ListImagesResponse *)out;
        int r = send_batches(call, &runtime__v1__stream_images_response__descriptor, fill_images,
                             (void **)list->images, list->n_images, err);
        protobuf_c_message_free_unpacked(out, NULL);
        return r;
}

CRI_HANDLER(cri_stream_pod_sandboxes)
{
        const Runtime__V1__StreamPodSandboxesRequest *in = (const Runtime__V1__StreamPodSandboxesRequest *)req;
        Runtime__V1__ListPodSandboxRequest list_req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
        list_req.filter = in->filter;
        ProtobufCMessage *out = NULL;
        if (cri_list_pod_sandbox(call, &list_req.base, &out, err) < 0)
                return -1;
        Runtime__V1__ListPodSandboxResponse *list = (Runtime__V1__ListPodSandboxResponse *)out;
        int r = send_batches(call, &runtime__v1__stream_pod_sandboxes_response__descriptor, fill_pods,
                             (void **)list->items, list->n_items, err);
        protobuf_c_message_free_unpacked(out, NULL);
        return r;
}

CRI_HANDLER(cri_stream_containers)
{
        const Runtime__V1__StreamContainersRequest *in = (const Runtime__V1__StreamContainersRequest *)req;
        Runtime__V1__ListContainersRequest list_req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        list_req.filter = in->filter;
        ProtobufCMessage *out = NULL;
        if (cri_list_containers(call, &list_req.base, &out, err) < 0)
                return -1;
        Runtime__V1__ListContainersResponse *list = (Runtime__V1__ListContainersResponse *)out;
        int r = send_batches(call, &runtime__v1__stream_containers_response__descriptor, fill_containers,
                             (void **)list->containers, list->n_containers, err);
        protobuf_c_message_free_unpacked(out, NULL);
        return r;
}
