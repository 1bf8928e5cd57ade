#include "server/grpc.h"
#include "util/cleanup.h"

#include <string.h>

grpc_status grpc_status_from_error(ocid_error_kind kind)
{
        switch (kind) {
        case OCID_OK: return GRPC_OK;
        case OCID_ERR_INVALID: return GRPC_INVALID_ARGUMENT;
        case OCID_ERR_NOT_FOUND: return GRPC_NOT_FOUND;
        case OCID_ERR_EXISTS: return GRPC_ALREADY_EXISTS;
        case OCID_ERR_PRECONDITION: return GRPC_FAILED_PRECONDITION;
        case OCID_ERR_DEADLINE: return GRPC_DEADLINE_EXCEEDED;
        case OCID_ERR_CANCELLED: return GRPC_CANCELLED;
        case OCID_ERR_UNAVAILABLE: return GRPC_UNAVAILABLE;
        case OCID_ERR_PERMISSION: return GRPC_PERMISSION_DENIED;
        case OCID_ERR_RESOURCE: return GRPC_RESOURCE_EXHAUSTED;
        case OCID_ERR_UNIMPLEMENTED: return GRPC_UNIMPLEMENTED;
        case OCID_ERR_INTERNAL: break;
        }
        return GRPC_INTERNAL;
}

ocid_error_kind grpc_status_to_error(grpc_status status)
{
        switch (status) {
        case GRPC_OK: return OCID_OK;
        case GRPC_INVALID_ARGUMENT: case GRPC_OUT_OF_RANGE: return OCID_ERR_INVALID;
        case GRPC_NOT_FOUND: return OCID_ERR_NOT_FOUND;
        case GRPC_ALREADY_EXISTS: return OCID_ERR_EXISTS;
        case GRPC_FAILED_PRECONDITION: return OCID_ERR_PRECONDITION;
        case GRPC_DEADLINE_EXCEEDED: return OCID_ERR_DEADLINE;
        case GRPC_CANCELLED: return OCID_ERR_CANCELLED;
        case GRPC_UNAVAILABLE: return OCID_ERR_UNAVAILABLE;
        case GRPC_PERMISSION_DENIED: case GRPC_UNAUTHENTICATED: return OCID_ERR_PERMISSION;
        case GRPC_RESOURCE_EXHAUSTED: return OCID_ERR_RESOURCE;
        case GRPC_UNIMPLEMENTED: return OCID_ERR_UNIMPLEMENTED;
        default: return OCID_ERR_INTERNAL;
        }
}

const char *grpc_status_name(grpc_status status)
{
        static const char *const names[] = {
                "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
                "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        };
        if ((unsigned)status >= ARRAY_SIZE(names))
                return "UNKNOWN";
        return names[status];
}

void grpc_frame_reader_init(grpc_frame_reader *r, size_t max_message)
{
        *r = (grpc_frame_reader){ .max_message = max_message, .body = STRBUF_INIT };
}

void grpc_frame_reader_release(grpc_frame_reader *r)
{
        strbuf_release(&r->body);
}

bool grpc_frame_reader_idle(const grpc_frame_reader *r)
{
        return r->header_len == 0 && !r->in_body;
}

int grpc_frame_reader_feed(grpc_frame_reader *r, const uint8_t *data, size_t len,
                           grpc_message_fn on_message, void *fn_data, ocid_error *err)
{
        while (len > 0) {
                if (!r->in_body) {
                        size_t n = GRPC_FRAME_HEADER - r->header_len;
                        if (n > len)
                                n = len;
                        memcpy(r->header + r->header_len, data, n);
                        r->header_len += n;
                        data += n;
                        len -= n;
                        if (r->header_len < GRPC_FRAME_HEADER)
                                return 0;
                        if (r->header[0] & 1)
                                return ocid_error_set(err, OCID_ERR_UNIMPLEMENTED,
                                                      "compressed messages are not supported");
                        if (r->header[0] != 0)
                                return ocid_error_set(err, OCID_ERR_INTERNAL,
                                                      "invalid message flags 0x%02x", r->header[0]);
                        r->want = (size_t)r->header[1] << 24 | (size_t)r->header[2] << 16 |
                                  (size_t)r->header[3] << 8 | r->header[4];
                        if (r->want > r->max_message)
                                return ocid_error_set(err, OCID_ERR_RESOURCE,
                                                      "message of %zu bytes exceeds the limit of %zu bytes",
                                                      r->want, r->max_message);
                        r->in_body = true;
                        strbuf_reset(&r->body);
                }
                size_t n = r->want - r->body.len;
                if (n > len)
                        n = len;
                strbuf_add(&r->body, data, n);
                data += n;
                len -= n;
                if (r->body.len < r->want)
                        return 0;
                r->in_body = false;
                r->header_len = 0;
                int q = on_message((const uint8_t *)r->body.buf, r->body.len, fn_data);
                if (q < 0)
                        return q;
        }
        return 0;
}

void grpc_frame_header(uint8_t out[GRPC_FRAME_HEADER], uint32_t len)
{
        out[0] = 0;
        out[1] = (uint8_t)(len >> 24);
        out[2] = (uint8_t)(len >> 16);
        out[3] = (uint8_t)(len >> 8);
        out[4] = (uint8_t)len;
}

int grpc_timeout_parse(const char *value, size_t len, uint64_t *ret_ms)
{
        if (len < 2 || len > 9)
                return -EINVAL;
        uint64_t n = 0;
        for (size_t i = 0; i + 1 < len; i++) {
                if (value[i] < '0' || value[i] > '9')
                        return -EINVAL;
                n = n * 10 + (uint64_t)(value[i] - '0');
        }
        switch (value[len - 1]) {
        case 'H': *ret_ms = n * 3600 * 1000; break;
        case 'M': *ret_ms = n * 60 * 1000; break;
        case 'S': *ret_ms = n * 1000; break;
        case 'm': *ret_ms = n; break;
        case 'u': *ret_ms = (n + 999) / 1000; break;
        case 'n': *ret_ms = (n + 999999) / 1000000; break;
        default: return -EINVAL;
        }
        return 0;
}

void grpc_timeout_format(uint64_t ms, char out[16])
{
        /* The value has at most 8 digits: pick the finest unit that fits,
         * rounding up so that a coarser unit never shortens the deadline. */
        static const struct {
                uint64_t ms;
                char unit;
        } units[] = { { 1, 'm' }, { 1000, 'S' }, { 60000, 'M' }, { 3600000, 'H' } };
        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                uint64_t n = ms / units[i].ms + (ms % units[i].ms != 0);
                if (n <= 99999999) {
                        snprintf(out, 16, "%llu%c", (unsigned long long)n, units[i].unit);
                        return;
                }
        }
        snprintf(out, 16, "99999999H");
}

void grpc_message_encode(strbuf *out, const char *msg)
{
        static const char hex[] = "0123456789ABCDEF";
        for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
                if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
                        strbuf_addch(out, (char)*p);
                } else {
                        char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
                        strbuf_add(out, esc, 3);
                }
        }
}

static int hexval(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

void grpc_message_decode(strbuf *out, const char *msg, size_t len)
{
        for (size_t i = 0; i < len; i++) {
                int hi, lo;
                if (msg[i] == '%' && i + 2 < len && (hi = hexval(msg[i + 1])) >= 0 &&
                    (lo = hexval(msg[i + 2])) >= 0) {
                        strbuf_addch(out, (char)(hi << 4 | lo));
                        i += 2;
                } else {
                        strbuf_addch(out, msg[i]);
                }
        }
}
