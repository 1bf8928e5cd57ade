#include "ocic/pbjson.h"
#include "util/cleanup.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

static void camel_case(const char *name, char *out, size_t size)
{
        size_t n = 0;
        bool upper = false;
        for (const char *p = name; *p && n + 1 < size; p++) {
                if (*p == '_') {
                        upper = true;
                        continue;
                }
                out[n++] = upper && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
                upper = false;
        }
        out[n] = '\0';
}

static json_object *scalar(const ProtobufCFieldDescriptor *f, const void *p)
{
        char buf[32];
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
                return json_object_new_int(*(const int32_t *)p);
        case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
                return json_object_new_int64(*(const uint32_t *)p);
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
                snprintf(buf, sizeof(buf), "%" PRId64, *(const int64_t *)p);
                return json_object_new_string(buf);
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
                snprintf(buf, sizeof(buf), "%" PRIu64, *(const uint64_t *)p);
                return json_object_new_string(buf);
        case PROTOBUF_C_TYPE_FLOAT:
                return json_object_new_double(*(const float *)p);
        case PROTOBUF_C_TYPE_DOUBLE:
                return json_object_new_double(*(const double *)p);
        case PROTOBUF_C_TYPE_BOOL:
                return json_object_new_boolean(*(const protobuf_c_boolean *)p);
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *v =
                        protobuf_c_enum_descriptor_get_value(f->descriptor, *(const int *)p);
                if (v)
                        return json_object_new_string(v->name);
                return json_object_new_int(*(const int *)p);
        }
        case PROTOBUF_C_TYPE_STRING: {
                const char *s = *(char *const *)p;
                return json_object_new_string(s ? s : "");
        }
        case PROTOBUF_C_TYPE_BYTES: {
                /* Base64, as the proto3 JSON mapping says. */
                static const char b64[] =
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                const ProtobufCBinaryData *d = p;
                strbuf sb = STRBUF_INIT;
                for (size_t i = 0; i < d->len; i += 3) {
                        uint32_t v = (uint32_t)d->data[i] << 16;
                        if (i + 1 < d->len)
                                v |= (uint32_t)d->data[i + 1] << 8;
                        if (i + 2 < d->len)
                                v |= d->data[i + 2];
                        strbuf_addch(&sb, b64[v >> 18 & 63]);
                        strbuf_addch(&sb, b64[v >> 12 & 63]);
                        strbuf_addch(&sb, i + 1 < d->len ? b64[v >> 6 & 63] : '=');
                        strbuf_addch(&sb, i + 2 < d->len ? b64[v & 63] : '=');
                }
                json_object *o = json_object_new_string(sb.buf);
                strbuf_release(&sb);
                return o;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
                return m ? pbjson_from_message(m) : NULL;
        }
        }
        return NULL;
}

static size_t field_size(const ProtobufCFieldDescriptor *f)
{
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
                return 8;
        case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
        case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
        case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
        default: return 4;
        }
}

/* protoc-c turns map<K,V> into a repeated XEntry message with key/value. */
static bool is_map_entry(const ProtobufCMessageDescriptor *d)
{
        size_t n = strlen(d->name);
        return d->n_fields == 2 && n > 5 && STREQ(d->name + n - 5, "Entry") &&
               STREQ(d->fields[0].name, "key") && STREQ(d->fields[1].name, "value");
}

json_object *pbjson_from_message(const ProtobufCMessage *msg)
{
        json_object *obj = json_object_new_object();
        const ProtobufCMessageDescriptor *d = msg->descriptor;
        for (unsigned i = 0; i < d->n_fields; i++) {
                const ProtobufCFieldDescriptor *f = &d->fields[i];
                const char *base = (const char *)msg;
                char name[128];
                camel_case(f->name, name, sizeof(name));
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                        if (*(const uint32_t *)(base + f->quantifier_offset) != f->id)
                                continue;
                }
                if (f->label != PROTOBUF_C_LABEL_REPEATED) {
                        json_object *v = scalar(f, base + f->offset);
                        json_object_object_add(obj, name, v);
                        continue;
                }
                size_t n = *(const size_t *)(base + f->quantifier_offset);
                const char *items = *(char *const *)(base + f->offset);
                if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
                        json_object *map = json_object_new_object();
                        for (size_t j = 0; j < n; j++) {
                                const ProtobufCMessage *e = ((ProtobufCMessage *const *)items)[j];
                                const ProtobufCFieldDescriptor *kf = &e->descriptor->fields[0];
                                const ProtobufCFieldDescriptor *vf = &e->descriptor->fields[1];
                                json_object *k = scalar(kf, (const char *)e + kf->offset);
                                json_object_object_add(map, json_object_get_string(k),
                                                       scalar(vf, (const char *)e + vf->offset));
                                json_object_put(k);
                        }
                        json_object_object_add(obj, name, map);
                        continue;
                }
                json_object *arr = json_object_new_array();
                for (size_t j = 0; j < n; j++)
                        json_object_array_add(arr, scalar(f, items + j * field_size(f)));
                json_object_object_add(obj, name, arr);
        }
        return obj;
}

static void yaml_scalar(json_object *v, strbuf *out)
{
        if (!v) {
                strbuf_adds(out, "null");
                return;
        }
        if (json_object_is_type(v, json_type_string)) {
                /* Always quote: JSON string syntax is valid YAML. */
                strbuf_adds(out, json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE));
                return;
        }
        strbuf_adds(out, json_object_to_json_string(v));
}

static bool is_container(json_object *v)
{
        return (json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0) ||
               (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0);
}

/* inline_first: the first line continues one already started ("- "). */
static void yaml_node(json_object *v, int indent, bool inline_first, strbuf *out)
{
        if (!is_container(v)) {
                if (json_object_is_type(v, json_type_object))
                        strbuf_adds(out, "{}");
                else if (json_object_is_type(v, json_type_array))
                        strbuf_adds(out, "[]");
                else
                        yaml_scalar(v, out);
                strbuf_addch(out, '\n');
                return;
        }
        bool first = true;
        if (json_object_is_type(v, json_type_object)) {
                json_object_object_foreach(v, key, val) {
                        if (!(first && inline_first))
                                strbuf_addf(out, "%*s", indent, "");
                        first = false;
                        json_object *k = json_object_new_string(key);
                        yaml_scalar(k, out);
                        json_object_put(k);
                        strbuf_addch(out, ':');
                        if (is_container(val)) {
                                strbuf_addch(out, '\n');
                                yaml_node(val, indent + 2, false, out);
                        } else {
                                strbuf_addch(out, ' ');
                                yaml_node(val, indent, false, out);
                        }
                }
                return;
        }
        for (size_t i = 0; i < json_object_array_length(v); i++) {
                json_object *e = json_object_array_get_idx(v, i);
                if (!(first && inline_first))
                        strbuf_addf(out, "%*s", indent, "");
                first = false;
                strbuf_adds(out, "- ");
                if (is_container(e) && json_object_is_type(e, json_type_object)) {
                        yaml_node(e, indent + 2, true, out);
                } else if (is_container(e)) {
                        strbuf_addch(out, '\n');
                        yaml_node(e, indent + 2, false, out);
                } else {
                        yaml_node(e, indent, false, out);
                }
        }
}

void pbjson_to_yaml(json_object *obj, strbuf *out)
{
        yaml_node(obj, 0, false, out);
}
