/* The ImageService: PullImage, ListImages, ImageStatus, RemoveImage,
 * ImageFsInfo. */
#include "cri/cri.h"
#include "cri/handlers.h"
#include "image/manifest.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strv.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <fnmatch.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *spec_image(const Runtime__V1__ImageSpec *spec)
{
        return spec && spec->image ? spec->image : "";
}

static char **copy_strv(char **v, size_t *ret_n)
{
        size_t n = strv_length(v);
        char **out = xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
                out[i] = xstrdup(v[i]);
        *ret_n = n;
        return out;
}

static bool is_pinned(const cri_state *st, const image_record *rec)
{
        for (size_t i = 0; st->pinned_images && st->pinned_images[i]; i++) {
                const char *pattern = st->pinned_images[i];
                if (STREQ(pattern, rec->id))
                        return true;
                for (size_t j = 0; rec->repo_tags[j]; j++)
                        if (fnmatch(pattern, rec->repo_tags[j], 0) == 0)
                                return true;
                for (size_t j = 0; rec->repo_digests[j]; j++)
                        if (fnmatch(pattern, rec->repo_digests[j], 0) == 0)
                                return true;
        }
        return false;
}

/* The image config's User is "user", "uid", "user:group" or "uid:gid": a
 * numeric user becomes uid, anything else username. */
static void set_user(Runtime__V1__Image *img, const char *config_json)
{
        image_config *cfg = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (image_config_parse(config_json, strlen(config_json), &cfg, &err) < 0) {
                ocid_error_clear(&err);
                return;
        }
        _cleanup_free_ char *user = xstrdup(cfg->user);
        user[strcspn(user, ":")] = '\0';
        char *end;
        long long uid = strtoll(user, &end, 10);
        if (*user && !*end && uid >= 0) {
                img->uid = XNEW_MSG(Runtime__V1__Int64Value, runtime__v1__int64_value__init);
                img->uid->value = uid;
        } else if (*user) {
                img->username = xstrdup(user);
        }
        image_config_free(cfg);
}

static Runtime__V1__Image *image_message(const cri_state *st, const image_record *rec)
{
        Runtime__V1__Image *img = XNEW_MSG(Runtime__V1__Image, runtime__v1__image__init);
        img->id = xstrdup(rec->id);
        img->repo_tags = copy_strv(rec->repo_tags, &img->n_repo_tags);
        img->repo_digests = copy_strv(rec->repo_digests, &img->n_repo_digests);
        img->size = rec->size;
        img->spec = XNEW_MSG(Runtime__V1__ImageSpec, runtime__v1__image_spec__init);
        img->spec->image = xstrdup(rec->id);
        img->pinned = is_pinned(st, rec);
        set_user(img, rec->config_json);
        return img;
}

CRI_HANDLER(cri_pull_image)
{
        const Runtime__V1__PullImageRequest *in = (const Runtime__V1__PullImageRequest *)req;
        cri_state *st = rpc_call_context(call);
        const char *name = spec_image(in->image);
        if (!*name)
                return ocid_error_set(err, OCID_ERR_INVALID, "no image given");
        registry_auth auth = { 0 };
        if (in->auth) {
                auth.username = in->auth->username;
                auth.password = in->auth->password;
                auth.auth = in->auth->auth;
                auth.identity_token = in->auth->identity_token;
                auth.registry_token = in->auth->registry_token;
        }
        _cleanup_free_ char *id = NULL;
        if (image_pull(st->puller, name, in->auth ? &auth : NULL, rpc_call_cancelled_flag(call), &id,
                       err) < 0)
                return ocid_error_wrap(err, "pull '%s'", name);
        log_info("pulled %s as %s", name, id);
        Runtime__V1__PullImageResponse *r =
                XNEW_MSG(Runtime__V1__PullImageResponse, runtime__v1__pull_image_response__init);
        r->image_ref = TAKE_PTR(id);
        *resp = &r->base;
        return 0;
}

CRI_HANDLER(cri_list_images)
{
        const Runtime__V1__ListImagesRequest *in = (const Runtime__V1__ListImagesRequest *)req;
        cri_state *st = rpc_call_context(call);
        const char *filter = in->filter ? spec_image(in->filter->image) : "";
        image_record **list = NULL;
        size_t n = 0;
        if (*filter) {
                image_record *one = NULL;
                if (image_lookup(st->puller, filter, &one, err) < 0) {
                        if (err->kind != OCID_ERR_NOT_FOUND)
                                return -1;
                        ocid_error_clear(err);
                } else {
                        list = xcalloc(1, sizeof(*list));
                        list[n++] = one;
                }
        } else if (store_image_list(st->store, &list, &n, err) < 0) {
                return -1;
        }
        Runtime__V1__ListImagesResponse *r =
                XNEW_MSG(Runtime__V1__ListImagesResponse, runtime__v1__list_images_response__init);
        r->images = xcalloc(n, sizeof(*r->images));
        for (size_t i = 0; i < n; i++)
                r->images[r->n_images++] = image_message(st, list[i]);
        image_records_free(list, n);
        *resp = &r->base;
        return 0;
}

static Runtime__V1__ImageStatusResponse__InfoEntry *info_entry(const char *key, char *value)
{
        Runtime__V1__ImageStatusResponse__InfoEntry *e = XNEW_MSG(
                Runtime__V1__ImageStatusResponse__InfoEntry, runtime__v1__image_status_response__info_entry__init);
        e->key = xstrdup(key);
        e->value = value;
        return e;
}

CRI_HANDLER(cri_image_status)
{
        const Runtime__V1__ImageStatusRequest *in = (const Runtime__V1__ImageStatusRequest *)req;
        cri_state *st = rpc_call_context(call);
        const char *name = spec_image(in->image);
        if (!*name)
                return ocid_error_set(err, OCID_ERR_INVALID, "no image given");
        Runtime__V1__ImageStatusResponse *r =
                XNEW_MSG(Runtime__V1__ImageStatusResponse, runtime__v1__image_status_response__init);
        *resp = &r->base;
        image_record *rec = NULL;
        if (image_lookup(st->puller, name, &rec, err) < 0) {
                /* The CRI: a missing image is a response without an image. */
                if (err->kind == OCID_ERR_NOT_FOUND) {
                        ocid_error_clear(err);
                        return 0;
                }
                return -1;
        }
        r->image = image_message(st, rec);
        if (in->verbose) {
                json_object *info = json_object_new_object();
                json_object_object_add(info, "id", json_object_new_string(rec->id));
                json_object_object_add(info, "manifestDigest",
                                       json_object_new_string(rec->manifest_digest));
                json_object *layers = json_object_new_array();
                for (size_t i = 0; rec->layers[i]; i++)
                        json_object_array_add(layers, json_object_new_string(rec->layers[i]));
                json_object_object_add(info, "chainIDs", layers);
                json_object *config = json_tokener_parse(rec->config_json);
                json_object_object_add(info, "imageConfig", config);
                r->info = xcalloc(1, sizeof(*r->info));
                r->info[r->n_info++] = info_entry(
                        "info", xstrdup(json_object_to_json_string_ext(
                                        info, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
                json_object_put(info);
        }
        image_record_free(rec);
        return 0;
}

CRI_HANDLER(cri_remove_image)
{
        const Runtime__V1__RemoveImageRequest *in = (const Runtime__V1__RemoveImageRequest *)req;
        cri_state *st = rpc_call_context(call);
        const char *name = spec_image(in->image);
        if (!*name)
                return ocid_error_set(err, OCID_ERR_INVALID, "no image given");
        image_record *rec = NULL;
        int r = image_lookup(st->puller, name, &rec, err);
        if (r == 0) {
                r = store_image_remove(st->store, rec->id, err);
                if (r == 0)
                        log_info("removed image %s (%s)", rec->id, name);
                image_record_free(rec);
        }
        /* Removing an image that is already gone succeeds, per the CRI. */
        if (r < 0 && err->kind == OCID_ERR_NOT_FOUND) {
                ocid_error_clear(err);
                r = 0;
        }
        if (r < 0)
                return ocid_error_wrap(err, "remove image '%s'", name);
        *resp = (ProtobufCMessage *)XNEW_MSG(Runtime__V1__RemoveImageResponse,
                                             runtime__v1__remove_image_response__init);
        return 0;
}

static Runtime__V1__FilesystemUsage *fs_usage_message(const char *mountpoint, uint64_t bytes,
                                                      uint64_t inodes)
{
        Runtime__V1__FilesystemUsage *u =
                XNEW_MSG(Runtime__V1__FilesystemUsage, runtime__v1__filesystem_usage__init);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        u->timestamp = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
        u->fs_id = XNEW_MSG(Runtime__V1__FilesystemIdentifier, runtime__v1__filesystem_identifier__init);
        u->fs_id->mountpoint = xstrdup(mountpoint);
        u->used_bytes = XNEW_MSG(Runtime__V1__UInt64Value, runtime__v1__uint64_value__init);
        u->used_bytes->value = bytes;
        u->inodes_used = XNEW_MSG(Runtime__V1__UInt64Value, runtime__v1__uint64_value__init);
        u->inodes_used->value = inodes;
        return u;
}

CRI_HANDLER(cri_image_fs_info)
{
        cri_state *st = rpc_call_context(call);
        uint64_t bytes = 0, inodes = 0, cbytes = 0, cinodes = 0;
        if (store_usage(st->store, &bytes, &inodes, err) < 0)
                return -1;
        int q = fs_usage(st->containers_dir, &cbytes, &cinodes);
        if (q < 0 && q != -ENOENT)
                return ocid_error_set_errno(err, OCID_ERR_INTERNAL, q, "usage of %s", st->containers_dir);
        Runtime__V1__ImageFsInfoResponse *r =
                XNEW_MSG(Runtime__V1__ImageFsInfoResponse, runtime__v1__image_fs_info_response__init);
        r->image_filesystems = xcalloc(1, sizeof(*r->image_filesystems));
        r->image_filesystems[r->n_image_filesystems++] =
                fs_usage_message(store_layers_dir(st->store), bytes, inodes);
        r->container_filesystems = xcalloc(1, sizeof(*r->container_filesystems));
        r->container_filesystems[r->n_container_filesystems++] =
                fs_usage_message(st->containers_dir, cbytes, cinodes);
        *resp = &r->base;
        return 0;
}
