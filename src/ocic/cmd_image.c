/* pull, images, inspecti, rmi, imagefsinfo */
#include "ocic/ocic.h"
#include "ocic/pbjson.h"
#include "ocic/table.h"
#include "util/cleanup.h"
#include "util/strv.h"

#include "runtime/v1/api.pb-c.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cmd_pull(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "creds", required_argument, NULL, 'c' },
                { "auth", required_argument, NULL, 'a' },
                { "username", required_argument, NULL, 'u' },
                { 0 },
        };
        static const char usage[] = "pull [--creds USER[:PASSWORD] | --auth BASE64] IMAGE";
        Runtime__V1__AuthConfig auth = RUNTIME__V1__AUTH_CONFIG__INIT;
        bool have_auth = false;
        _cleanup_free_ char *creds = NULL;
        int c;
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case 'c': {
                        free(creds);
                        creds = strdup(optarg);
                        char *colon = strchr(creds, ':');
                        if (colon)
                                *colon = '\0';
                        auth.username = creds;
                        auth.password = colon ? colon + 1 : "";
                        have_auth = true;
                        break;
                }
                case 'a': auth.auth = optarg; have_auth = true; break;
                case 'u': auth.username = optarg; have_auth = true; break;
                default: return ocic_usage_error(usage);
                }
        }
        if (optind + 1 != argc)
                return ocic_usage_error(usage);
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = argv[optind];
        Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
        req.image = &spec;
        if (have_auth)
                req.auth = &auth;
        Runtime__V1__PullImageResponse *resp;
        /* Pulls take long: no default deadline unless -t was given. */
        uint64_t saved = ctx->timeout_ms;
        if (!ctx->timeout_set)
                ctx->timeout_ms = 0;
        int r = ocic_call(ctx, IMAGE_SERVICE, "PullImage", &req.base,
                          &runtime__v1__pull_image_response__descriptor, (ProtobufCMessage **)&resp);
        ctx->timeout_ms = saved;
        if (r < 0)
                return 1;
        printf("Image is up to date for %s\n", resp->image_ref);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

static int list_images(ocic_ctx *ctx, const char *filter, Runtime__V1__ListImagesResponse **ret)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageFilter f = RUNTIME__V1__IMAGE_FILTER__INIT;
        Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;
        if (filter) {
                spec.image = (char *)filter;
                f.image = &spec;
                req.filter = &f;
        }
        return ocic_call(ctx, IMAGE_SERVICE, "ListImages", &req.base,
                         &runtime__v1__list_images_response__descriptor, (ProtobufCMessage **)ret);
}

static const char *short_id(const char *id, char out[14])
{
        const char *hex = strncmp(id, "sha256:", 7) == 0 ? id + 7 : id;
        snprintf(out, 14, "%s", hex);
        return out;
}

/* "docker.io/library/busybox:1.36" → repository and tag. */
static void split_tag(const char *name, char **repo, const char **tag)
{
        const char *slash = strrchr(name, '/');
        const char *colon = strrchr(slash ? slash : name, ':');
        *repo = colon ? strndup(name, (size_t)(colon - name)) : strdup(name);
        *tag = colon ? colon + 1 : "<none>";
}

int cmd_images(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "quiet", no_argument, NULL, 'q' },
                { "digests", no_argument, NULL, 'd' },
                { "no-trunc", no_argument, NULL, 'n' },
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        static const char usage[] = "images [-q] [--digests] [--no-trunc] [-o json|yaml|table] [IMAGE]";
        bool quiet = false, digests = false, no_trunc = false;
        ocic_output out = OUTPUT_TABLE;
        int c;
        while ((c = getopt_long(argc, argv, "qo:", opts, NULL)) != -1) {
                switch (c) {
                case 'q': quiet = true; break;
                case 'd': digests = true; break;
                case 'n': no_trunc = true; break;
                case 'o':
                        if (ocic_parse_output(optarg, &out) < 0)
                                return 2;
                        break;
                default: return ocic_usage_error(usage);
                }
        }
        if (argc - optind > 1)
                return ocic_usage_error(usage);
        Runtime__V1__ListImagesResponse *resp;
        if (list_images(ctx, optind < argc ? argv[optind] : NULL, &resp) < 0)
                return 1;
        if (out != OUTPUT_TABLE) {
                ocic_print(pbjson_from_message(&resp->base), out);
        } else if (quiet) {
                for (size_t i = 0; i < resp->n_images; i++)
                        puts(resp->images[i]->id);
        } else {
                table *t = digests ? table_new(5, "IMAGE", "TAG", "DIGEST", "IMAGE ID", "SIZE")
                                   : table_new(4, "IMAGE", "TAG", "IMAGE ID", "SIZE");
                for (size_t i = 0; i < resp->n_images; i++) {
                        Runtime__V1__Image *img = resp->images[i];
                        char id[14], size[32], digest[14] = "<none>";
                        format_size(img->size, size);
                        const char *shown_id = no_trunc ? img->id : short_id(img->id, id);
                        if (img->n_repo_digests) {
                                const char *at = strchr(img->repo_digests[0], '@');
                                if (at)
                                        short_id(at + 1, digest);
                        }
                        size_t rows = img->n_repo_tags ? img->n_repo_tags : 1;
                        for (size_t j = 0; j < rows; j++) {
                                _cleanup_free_ char *repo = NULL;
                                const char *tag = "<none>";
                                if (img->n_repo_tags)
                                        split_tag(img->repo_tags[j], &repo, &tag);
                                else if (img->n_repo_digests)
                                        repo = strndup(img->repo_digests[0],
                                                       strcspn(img->repo_digests[0], "@"));
                                else
                                        repo = strdup("<none>");
                                if (digests)
                                        table_add(t, repo, tag, digest, shown_id, size);
                                else
                                        table_add(t, repo, tag, shown_id, size);
                        }
                }
                table_print(t);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}

int cmd_inspecti(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        ocic_output out = OUTPUT_JSON;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (c != 'o' || ocic_parse_output(optarg, &out) < 0)
                        return ocic_usage_error("inspecti [-o json|yaml] IMAGE...");
        }
        if (optind >= argc)
                return ocic_usage_error("inspecti [-o json|yaml] IMAGE...");
        int status = 0;
        for (int i = optind; i < argc; i++) {
                Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
                spec.image = argv[i];
                Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
                req.image = &spec;
                req.verbose = true;
                Runtime__V1__ImageStatusResponse *resp;
                if (ocic_call(ctx, IMAGE_SERVICE, "ImageStatus", &req.base,
                              &runtime__v1__image_status_response__descriptor,
                              (ProtobufCMessage **)&resp) < 0)
                        return 1;
                if (!resp->image) {
                        fprintf(stderr, "ocic: no such image '%s'\n", argv[i]);
                        status = 1;
                } else {
                        json_object *obj = json_object_new_object();
                        json_object_object_add(obj, "status", pbjson_from_message(&resp->image->base));
                        for (size_t j = 0; j < resp->n_info; j++) {
                                json_object *v = json_tokener_parse(resp->info[j]->value);
                                json_object_object_add(obj, resp->info[j]->key,
                                                       v ? v : json_object_new_string(resp->info[j]->value));
                        }
                        ocic_print(obj, out == OUTPUT_TABLE ? OUTPUT_JSON : out);
                }
                protobuf_c_message_free_unpacked(&resp->base, NULL);
        }
        return status;
}

static int remove_image(ocic_ctx *ctx, const char *name)
{
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        spec.image = (char *)name;
        Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
        req.image = &spec;
        ProtobufCMessage *resp;
        if (ocic_call(ctx, IMAGE_SERVICE, "RemoveImage", &req.base,
                      &runtime__v1__remove_image_response__descriptor, &resp) < 0)
                return -1;
        protobuf_c_message_free_unpacked(resp, NULL);
        printf("Deleted: %s\n", name);
        return 0;
}

/* Images that some container uses, by image ID and by name. */
static char **images_in_use(ocic_ctx *ctx)
{
        Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
        Runtime__V1__ListContainersResponse *resp;
        char **used = calloc(1, sizeof(char *));
        if (ocic_call_quiet(ctx, RUNTIME_SERVICE, "ListContainers", &req.base,
                            &runtime__v1__list_containers_response__descriptor,
                            (ProtobufCMessage **)&resp) < 0)
                return used; /* a runtime without containers uses no image */
        for (size_t i = 0; i < resp->n_containers; i++) {
                Runtime__V1__Container *ctr = resp->containers[i];
                if (ctr->image_ref && *ctr->image_ref)
                        used = strv_push(used, ctr->image_ref);
                if (ctr->image && ctr->image->image && *ctr->image->image)
                        used = strv_push(used, ctr->image->image);
        }
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return used;
}

int cmd_rmi(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "all", no_argument, NULL, 'a' },
                { "prune", no_argument, NULL, 'p' },
                { 0 },
        };
        static const char usage[] = "rmi [-a | --prune | IMAGE...]";
        bool all = false, prune = false;
        int c;
        while ((c = getopt_long(argc, argv, "aq", opts, NULL)) != -1) {
                switch (c) {
                case 'a': all = true; break;
                case 'p': prune = true; break;
                case 'q': break;
                default: return ocic_usage_error(usage);
                }
        }
        if ((all || prune) == (optind < argc))
                return ocic_usage_error(usage);
        int status = 0;
        if (all || prune) {
                Runtime__V1__ListImagesResponse *resp;
                if (list_images(ctx, NULL, &resp) < 0)
                        return 1;
                _cleanup_strv_ char **used = prune ? images_in_use(ctx) : NULL;
                for (size_t i = 0; i < resp->n_images; i++) {
                        Runtime__V1__Image *img = resp->images[i];
                        bool in_use = strv_contains(used, img->id);
                        for (size_t j = 0; !in_use && j < img->n_repo_tags; j++)
                                in_use = strv_contains(used, img->repo_tags[j]);
                        if (!in_use && remove_image(ctx, img->id) < 0)
                                status = 1;
                }
                protobuf_c_message_free_unpacked(&resp->base, NULL);
                return status;
        }
        for (int i = optind; i < argc; i++)
                if (remove_image(ctx, argv[i]) < 0)
                        status = 1;
        return status;
}

int cmd_imagefsinfo(ocic_ctx *ctx, int argc, char **argv)
{
        static const struct option opts[] = {
                { "output", required_argument, NULL, 'o' },
                { 0 },
        };
        ocic_output out = OUTPUT_JSON;
        int c;
        while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
                if (c != 'o' || ocic_parse_output(optarg, &out) < 0)
                        return ocic_usage_error("imagefsinfo [-o json|yaml]");
        }
        Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;
        Runtime__V1__ImageFsInfoResponse *resp;
        if (ocic_call(ctx, IMAGE_SERVICE, "ImageFsInfo", &req.base,
                      &runtime__v1__image_fs_info_response__descriptor, (ProtobufCMessage **)&resp) < 0)
                return 1;
        ocic_print(pbjson_from_message(&resp->base), out == OUTPUT_TABLE ? OUTPUT_JSON : out);
        protobuf_c_message_free_unpacked(&resp->base, NULL);
        return 0;
}
