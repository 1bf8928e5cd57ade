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
