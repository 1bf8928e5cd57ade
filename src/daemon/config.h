/* The daemon's configuration: built-in defaults, then the TOML file
 * (/etc/ocid/ocid.conf), then drop-ins (the .conf files of ocid.conf.d, in name order),
 * then command-line flags. Every key has a flag; one table in config.c
 * drives loading, flags, `ocid config` and the documentation check. */
#pragma once

#include "util/error.h"
#include "util/strbuf.h"

#include <stdbool.h>
#include <stdint.h>

/* One runtime handler: [ocid.runtime.runtimes.NAME] in the files, or
 * --runtimes NAME:PATH[:ROOT] on the command line. */
typedef struct {
        char *name;
        char *path;             /* runtime_path */
        char *root;             /* runtime_root; "" = RUNROOT/NAME */
        char *type;             /* runtime_type: "oci" */
} config_runtime;

typedef struct {
        char *config_file;      /* --config */
        char *config_dir;       /* --config-dir */
        char *root;
        char *runroot;
        char *listen;
        uint64_t grpc_max_recv_msg_size;
        uint64_t grpc_max_send_msg_size;
        char *stream_address;
        char *stream_port;
        char *stream_tls_cert;
        char *stream_tls_key;
        uint64_t stream_idle_timeout;   /* seconds */
        uint64_t stream_token_timeout;  /* seconds */
        uint64_t stream_max_sessions;
        char *default_runtime;
        char *conmon;
        char *pause_binary;
        char *cgroup_manager;
        char *log_level;
        bool log_to_journald;
        uint64_t shutdown_timeout; /* seconds */
        uint64_t worker_threads;
        char *registries_conf;
        char *registries_conf_dir;
        char *certs_dir;
        char **pinned_images;
        uint64_t max_parallel_downloads;
        uint64_t pull_progress_timeout; /* seconds */
        char *network_dir;
        char **plugin_dirs;
        uint64_t cni_timeout;     /* seconds */
        /* Runtime handlers; none configured: crun and runc wherever PATH
         * has them. */
        config_runtime *runtimes;
        size_t n_runtimes;
} ocid_config;

/* Defaults, then files, then flags from argv (getopt-style, starting at
 * argv[first]). Unknown keys and flags, wrong types and unreadable files
 * are errors naming the file and key. */
int config_load(ocid_config *cfg, int argc, char **argv, int first, ocid_error *err);
void config_release(ocid_config *cfg);

/* The effective configuration as TOML. */
void config_format_toml(const ocid_config *cfg, strbuf *out);

/* A usage text listing every flag. */
void config_format_usage(strbuf *out);

/* For docs and tests: the i-th key as "section.key" and its flag; false
 * past the end. */
bool config_key_at(size_t i, const char **ret_key, const char **ret_flag);
