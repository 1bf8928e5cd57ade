/* Handler entry points, one per implemented RPC (see methods.c). */
#pragma once

#include "server/server.h"

#define CRI_HANDLER(name)                                                      \
        int name(rpc_call *call, const ProtobufCMessage *req,                  \
                 ProtobufCMessage **resp, ocid_error *err)

CRI_HANDLER(cri_version);
CRI_HANDLER(cri_status);
CRI_HANDLER(cri_runtime_config);
CRI_HANDLER(cri_update_runtime_config);
CRI_HANDLER(cri_pull_image);
CRI_HANDLER(cri_list_images);
CRI_HANDLER(cri_image_status);
CRI_HANDLER(cri_remove_image);
CRI_HANDLER(cri_image_fs_info);
CRI_HANDLER(cri_run_pod_sandbox);
CRI_HANDLER(cri_stop_pod_sandbox);
CRI_HANDLER(cri_remove_pod_sandbox);
CRI_HANDLER(cri_pod_sandbox_status);
CRI_HANDLER(cri_list_pod_sandbox);
CRI_HANDLER(cri_create_container);
CRI_HANDLER(cri_start_container);
CRI_HANDLER(cri_stop_container);
CRI_HANDLER(cri_remove_container);
CRI_HANDLER(cri_container_status);
CRI_HANDLER(cri_list_containers);
CRI_HANDLER(cri_update_container_resources);
CRI_HANDLER(cri_reopen_container_log);
CRI_HANDLER(cri_exec_sync);
CRI_HANDLER(cri_exec);
CRI_HANDLER(cri_attach);
CRI_HANDLER(cri_port_forward);
CRI_HANDLER(cri_stream_images);
CRI_HANDLER(cri_stream_pod_sandboxes);
CRI_HANDLER(cri_stream_containers);
