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

/* ---- JSON to protobuf ----------------------------------------------------- */

#include <yaml.h>

static int fail(char **errmsg, const char *path, const char *what)
{
        if (asprintf(errmsg, "%s: %s", *path ? path : "document", what) < 0)
                *errmsg = NULL;
        return -1;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d, const char *key)
{
        for (unsigned i = 0; i < d->n_fields; i++) {
                char camel[128];
                camel_case(d->fields[i].name, camel, sizeof(camel));
                if (STREQ(d->fields[i].name, key) || STREQ(camel, key))
                        return &d->fields[i];
        }
        return NULL;
}

static bool json_to_int(json_object *v, int64_t *ret)
{
        if (json_object_is_type(v, json_type_int)) {
                *ret = json_object_get_int64(v);
                return true;
        }
        if (json_object_is_type(v, json_type_string)) {
                const char *s = json_object_get_string(v);
                char *end;
                errno = 0;
                long long n = strtoll(s, &end, 10);
                if (*s && !*end && !errno) {
                        *ret = n;
                        return true;
                }
        }
        return false;
}

static int set_scalar(const ProtobufCFieldDescriptor *f, void *p, json_object *v, const char *path,
                      char **errmsg);

static int build(json_object *obj, const ProtobufCMessageDescriptor *d, ProtobufCMessage **ret,
                 const char *path, char **errmsg)
{
        if (!json_object_is_type(obj, json_type_object))
                return fail(errmsg, path, "expected an object");
        ProtobufCMessage *msg = calloc(1, d->sizeof_message);
        if (!msg)
                abort();
        d->message_init(msg);
        json_object_object_foreach(obj, key, value) {
                char sub[512];
                snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", key);
                const ProtobufCFieldDescriptor *f = find_field(d, key);
                if (!f) {
                        protobuf_c_message_free_unpacked(msg, NULL);
                        return fail(errmsg, sub, "unknown field");
                }
                if (json_object_is_type(value, json_type_null))
                        continue;
                char *base = (char *)msg;
                if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                        *(uint32_t *)(base + f->quantifier_offset) = f->id;
                if (f->label != PROTOBUF_C_LABEL_REPEATED) {
                        if (set_scalar(f, base + f->offset, value, sub, errmsg) < 0) {
                                protobuf_c_message_free_unpacked(msg, NULL);
                                return -1;
                        }
                        continue;
                }
                bool is_map = f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor);
                size_t n = is_map ? (size_t)json_object_object_length(value)
                                  : json_object_is_type(value, json_type_array) ? json_object_array_length(value) : 0;
                if (is_map ? !json_object_is_type(value, json_type_object)
                           : !json_object_is_type(value, json_type_array)) {
                        protobuf_c_message_free_unpacked(msg, NULL);
                        return fail(errmsg, sub, is_map ? "expected an object" : "expected a list");
                }
                char *items = calloc(n ? n : 1, field_size(f));
                if (!items)
                        abort();
                *(void **)(base + f->offset) = items;
                size_t *count = (size_t *)(base + f->quantifier_offset);
                int r = 0;
                if (is_map) {
                        const ProtobufCMessageDescriptor *ed = f->descriptor;
                        json_object_object_foreach(value, mk, mv) {
                                json_object *entry = json_object_new_object();
                                json_object_object_add(entry, "key", json_object_new_string(mk));
                                json_object_object_add(entry, "value", json_object_get(mv));
                                r = build(entry, ed, &((ProtobufCMessage **)items)[*count], sub, errmsg);
                                json_object_put(entry);
                                if (r < 0)
                                        break;
                                (*count)++;
                        }
                } else {
                        for (size_t i = 0; i < n && r == 0; i++) {
                                char elem[560];
                                snprintf(elem, sizeof(elem), "%s[%zu]", sub, i);
                                r = set_scalar(f, items + i * field_size(f),
                                               json_object_array_get_idx(value, i), elem, errmsg);
                                if (r == 0)
                                        (*count)++;
                        }
                }
                if (r < 0) {
                        protobuf_c_message_free_unpacked(msg, NULL);
                        return -1;
                }
        }
        *ret = msg;
        return 0;
}

static int set_scalar(const ProtobufCFieldDescriptor *f, void *p, json_object *v, const char *path,
                      char **errmsg)
{
        int64_t n;
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
                if (!json_to_int(v, &n) || n < INT32_MIN || n > (int64_t)UINT32_MAX)
                        return fail(errmsg, path, "expected a 32-bit integer");
                *(int32_t *)p = (int32_t)n;
                return 0;
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
                if (!json_to_int(v, &n))
                        return fail(errmsg, path, "expected an integer");
                *(int64_t *)p = n;
                return 0;
        case PROTOBUF_C_TYPE_FLOAT:
        case PROTOBUF_C_TYPE_DOUBLE: {
                errno = 0;
                double d = json_object_is_type(v, json_type_string)
                        ? strtod(json_object_get_string(v), NULL) : json_object_get_double(v);
                if (f->type == PROTOBUF_C_TYPE_FLOAT)
                        *(float *)p = (float)d;
                else
                        *(double *)p = d;
                return 0;
        }
        case PROTOBUF_C_TYPE_BOOL: {
                const char *s = json_object_get_string(v);
                if (json_object_is_type(v, json_type_boolean))
                        *(protobuf_c_boolean *)p = json_object_get_boolean(v);
                else if (STREQ(s, "true") || STREQ(s, "false"))
                        *(protobuf_c_boolean *)p = STREQ(s, "true");
                else
                        return fail(errmsg, path, "expected true or false");
                return 0;
        }
        case PROTOBUF_C_TYPE_ENUM: {
                const ProtobufCEnumValue *ev = NULL;
                if (json_to_int(v, &n))
                        ev = protobuf_c_enum_descriptor_get_value(f->descriptor, (int)n);
                else if (json_object_is_type(v, json_type_string))
                        ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
                                                                          json_object_get_string(v));
                if (!ev)
                        return fail(errmsg, path, "unknown enum value");
                *(int *)p = ev->value;
                return 0;
        }
        case PROTOBUF_C_TYPE_STRING:
                if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array))
                        return fail(errmsg, path, "expected a string");
                *(char **)p = strdup(json_object_get_string(v));
                return 0;
        case PROTOBUF_C_TYPE_BYTES:
                return fail(errmsg, path, "bytes fields are not supported in config files");
        case PROTOBUF_C_TYPE_MESSAGE:
                return build(v, f->descriptor, (ProtobufCMessage **)p, path, errmsg);
        }
        return fail(errmsg, path, "unsupported field type");
}

int pbjson_to_message(json_object *obj, const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **ret, char **errmsg)
{
        *errmsg = NULL;
        return build(obj, desc, ret, "", errmsg);
}

/* ---- YAML to JSON ---------------------------------------------------------- */

#define YAML_MAX_DEPTH 64

static json_object *yaml_node_to_json(yaml_parser_t *p, yaml_event_t *ev, int depth, char **errmsg);

static json_object *yaml_collection(yaml_parser_t *p, bool mapping, int depth, char **errmsg)
{
        json_object *out = mapping ? json_object_new_object() : json_object_new_array();
        for (;;) {
                yaml_event_t ev;
                if (!yaml_parser_parse(p, &ev))
                        goto bad;
                if (ev.type == (mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
                        yaml_event_delete(&ev);
                        return out;
                }
                if (!mapping) {
                        json_object *v = yaml_node_to_json(p, &ev, depth + 1, errmsg);
                        yaml_event_delete(&ev);
                        if (*errmsg)
                                goto bad;
                        json_object_array_add(out, v);
                        continue;
                }
                if (ev.type != YAML_SCALAR_EVENT) {
                        yaml_event_delete(&ev);
                        if (!*errmsg && asprintf(errmsg, "line %zu: mapping keys must be scalars",
                                                 p->mark.line + 1) < 0)
                                *errmsg = NULL;
                        goto bad;
                }
                char *key = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
                yaml_event_delete(&ev);
                yaml_event_t vev;
                if (!yaml_parser_parse(p, &vev)) {
                        free(key);
                        goto bad;
                }
                json_object *v = yaml_node_to_json(p, &vev, depth + 1, errmsg);
                yaml_event_delete(&vev);
                if (*errmsg) {
                        free(key);
                        goto bad;
                }
                json_object_object_add(out, key, v);
                free(key);
        }
bad:
        json_object_put(out);
        if (!*errmsg && asprintf(errmsg, "line %zu: %s", p->problem_mark.line + 1,
                                 p->problem ? p->problem : "invalid YAML") < 0)
                *errmsg = NULL;
        return NULL;
}

static json_object *yaml_node_to_json(yaml_parser_t *p, yaml_event_t *ev, int depth, char **errmsg)
{
        if (depth > YAML_MAX_DEPTH) {
                if (!*errmsg)
                        *errmsg = strdup("document nested too deeply");
                return NULL;
        }
        switch (ev->type) {
        case YAML_SCALAR_EVENT: {
                const char *s = (const char *)ev->data.scalar.value;
                if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                    (STREQ(s, "null") || STREQ(s, "~") || !*s))
                        return NULL; /* a null value; errors are told by *errmsg */
                return json_object_new_string_len(s, (int)ev->data.scalar.length);
        }
        case YAML_MAPPING_START_EVENT:
                return yaml_collection(p, true, depth, errmsg);
        case YAML_SEQUENCE_START_EVENT:
                return yaml_collection(p, false, depth, errmsg);
        default:
                if (!*errmsg)
                        *errmsg = strdup("aliases and tags are not supported");
                return NULL;
        }
}

int pbjson_parse_document(const char *text, size_t len, json_object **ret, char **errmsg)
{
        *errmsg = NULL;
        /* JSON first: it is what most config files are. */
        json_tokener *tok = json_tokener_new();
        json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
        bool ok = obj && json_tokener_get_error(tok) == json_tokener_success;
        json_tokener_free(tok);
        if (ok) {
                *ret = obj;
                return 0;
        }
        json_object_put(obj);
        yaml_parser_t p;
        yaml_parser_initialize(&p);
        yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
        json_object *doc = NULL;
        yaml_event_t ev;
        /* stream start, document start, the node */
        for (int i = 0; i < 8 && !doc && !*errmsg; i++) {
                if (!yaml_parser_parse(&p, &ev))
                        break;
                if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
                    ev.type == YAML_SCALAR_EVENT)
                        doc = yaml_node_to_json(&p, &ev, 0, errmsg);
                bool end = ev.type == YAML_STREAM_END_EVENT;
                yaml_event_delete(&ev);
                if (end || *errmsg)
                        break;
        }
        if (!doc && !*errmsg && asprintf(errmsg, "line %zu: %s", p.problem_mark.line + 1,
                                         p.problem ? p.problem : "not a JSON or YAML document") < 0)
                *errmsg = NULL;
        yaml_parser_delete(&p);
        if (!doc)
                return -1;
        *ret = doc;
        return 0;
}
