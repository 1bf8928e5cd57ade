/* protobuf-c messages as JSON (the proto3 JSON mapping crictl prints:
 * lowerCamelCase names, defaults included, 64-bit integers as strings,
 * enums by name, maps as objects) and JSON trees as YAML. */
#pragma once

#include "util/strbuf.h"

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object for msg; the caller owns it. */
json_object *pbjson_from_message(const ProtobufCMessage *msg);

/* Append obj as block-style YAML. */
void pbjson_to_yaml(json_object *obj, strbuf *out);

/* Build a message of type desc from JSON (what crictl's config files hold:
 * field names in snake_case or lowerCamelCase, enums by name or number,
 * numbers as numbers or strings, maps as objects). Unknown fields are
 * errors. On failure returns -1 with *errmsg (owned) saying which field. */
int pbjson_to_message(json_object *obj, const ProtobufCMessageDescriptor *desc,
                      ProtobufCMessage **ret, char **errmsg);

/* Read a JSON or YAML document (YAML is a superset; scalars come back as
 * strings, which pbjson_to_message converts per field). */
int pbjson_parse_document(const char *text, size_t len, json_object **ret, char **errmsg);
