/* libFuzzer target for stream/spdy.c: the frame reader every SPDY
 * connection's bytes go through, header-block inflation included, and the
 * writer. Only LLVMFuzzerTestOneInput is defined, so the file also links
 * into replay.c.
 *
 * Input layout:
 *   byte 0      bit 0: role (0 server: the peer opens odd streams, 1
 *               client); bits 1-3: DATA bound selector; bits 4-6:
 *               callback failure selector (fail on that frame, 0: never)
 *   byte 1      n, the number of chunk sizes that follow (n % 32)
 *   n bytes     chunk sizes, used in turn (0: an empty feed)
 *   the rest    the bytes of the connection
 *
 * Oracles beyond "no crash": fed whole and in chunks, the reader delivers
 * the same frames and ends the same way; frames respect the bounds (DATA
 * size, header and settings counts, lower-case unique names); every frame
 * read, written again by our writer (one deflate stream, as a connection
 * has) and read by a fresh reader, comes out the same. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "stream/spdy.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
        size_t max_data;
        unsigned fail_at;
        unsigned count;
        uint64_t hash;
        spdy_writer *w; /* NULL: do not re-encode */
        strbuf echo;
} outcome;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

#define H(x) (o->hash = fnv(o->hash, &(x), sizeof(x)))

/* The fields that survive re-encoding (the fixed frames are written with
 * flags 0, and SYN_STREAM without its slot). */
static void hash_frame(outcome *o, const spdy_frame *f)
{
        H(f->type);
        H(f->stream_id);
        switch (f->type) {
        case SPDY_DATA:
                H(f->flags);
                H(f->data_len);
                o->hash = fnv(o->hash, f->data, f->data_len);
                break;
        case SPDY_SYN_STREAM:
                H(f->assoc_stream_id);
                H(f->priority);
                /* fall through */
        case SPDY_SYN_REPLY:
        case SPDY_HEADERS:
                H(f->flags);
                H(f->n_headers);
                for (size_t i = 0; i < f->n_headers; i++) {
                        o->hash = fnv(o->hash, f->headers[i].name, strlen(f->headers[i].name) + 1);
                        H(f->headers[i].value_len);
                        o->hash = fnv(o->hash, f->headers[i].value, f->headers[i].value_len);
                }
                break;
        case SPDY_RST_STREAM:
        case SPDY_GOAWAY:
                H(f->status);
                break;
        case SPDY_SETTINGS:
                H(f->flags);
                H(f->n_settings);
                for (size_t i = 0; i < f->n_settings; i++) {
                        H(f->settings[i].flags);
                        H(f->settings[i].id);
                        H(f->settings[i].value);
                }
                break;
        case SPDY_PING:
                H(f->ping_id);
                break;
        case SPDY_WINDOW_UPDATE:
                H(f->delta_window);
                break;
        }
}

static void echo_frame(outcome *o, const spdy_frame *f)
{
        ocid_error err = OCID_ERROR_INIT;
        switch (f->type) {
        case SPDY_DATA:
                spdy_encode_data(&o->echo, f->stream_id, f->flags, f->data, f->data_len);
                break;
        case SPDY_SYN_STREAM:
                CHECK(spdy_writer_syn_stream(o->w, &o->echo, f->stream_id, f->assoc_stream_id, f->priority,
                                             f->flags, f->headers, f->n_headers, &err) == 0);
                break;
        case SPDY_SYN_REPLY:
                CHECK(spdy_writer_syn_reply(o->w, &o->echo, f->stream_id, f->flags, f->headers,
                                            f->n_headers, &err) == 0);
                break;
        case SPDY_HEADERS:
                CHECK(spdy_writer_headers(o->w, &o->echo, f->stream_id, f->flags, f->headers,
                                          f->n_headers, &err) == 0);
                break;
        case SPDY_RST_STREAM:
                spdy_encode_rst_stream(&o->echo, f->stream_id, f->status);
                break;
        case SPDY_SETTINGS:
                spdy_encode_settings(&o->echo, f->flags, f->settings, f->n_settings);
                break;
        case SPDY_PING:
                spdy_encode_ping(&o->echo, f->ping_id);
                break;
        case SPDY_GOAWAY:
                spdy_encode_goaway(&o->echo, f->stream_id, f->status);
                break;
        case SPDY_WINDOW_UPDATE:
                spdy_encode_window_update(&o->echo, f->stream_id, f->delta_window);
                break;
        }
        CHECK(err.kind == OCID_OK);
}

static int on_frame(const spdy_frame *f, void *userdata)
{
        outcome *o = userdata;
        if (f->type == SPDY_DATA) {
                CHECK(f->stream_id != 0);
                CHECK(f->data_len <= o->max_data);
                CHECK(f->data || f->data_len == 0);
        }
        CHECK(f->n_headers <= SPDY_MAX_HEADERS);
        CHECK(f->n_settings <= SPDY_MAX_SETTINGS);
        for (size_t i = 0; i < f->n_headers; i++) {
                const char *n = f->headers[i].name;
                CHECK(n[0]);
                for (const char *c = n; *c; c++)
                        CHECK(*c > 0x20 && *c < 0x7f && !(*c >= 'A' && *c <= 'Z'));
                CHECK(f->headers[i].value[f->headers[i].value_len] == '\0');
                for (size_t k = 0; k < i; k++)
                        CHECK(strcmp(f->headers[k].name, n) != 0);
        }
        CHECK(spdy_frame_header(f, "") == NULL);
        o->count++;
        hash_frame(o, f);
        if (o->w)
                echo_frame(o, f);
        if (o->fail_at && o->count == o->fail_at)
                return -7;
        return 0;
}

typedef struct {
        int rc;
        ocid_error_kind kind;
        uint32_t goaway;
        uint32_t last_id;
} result;

static result run(spdy_role role, const uint8_t *stream, size_t len, const uint8_t *sizes, size_t n_sizes,
                  outcome *o)
{
        spdy_reader *r = spdy_reader_new(role, o->max_data);
        CHECK(r);
        ocid_error err = OCID_ERROR_INIT;
        result res = { 0 };
        fuzz_chunks chunks = { .sizes = sizes, .n_sizes = n_sizes };
        size_t off = 0;
        while (off < len) {
                size_t n = fuzz_next_chunk(&chunks, len - off);
                res.rc = spdy_reader_feed(r, stream + off, n, on_frame, o, &err);
                if (res.rc < 0)
                        break;
                off += n;
        }
        res.kind = err.kind;
        if (res.rc == -7) {
                CHECK(err.kind == OCID_OK);
        } else if (res.rc < 0) {
                CHECK(res.rc == -1);
                CHECK(err.kind == OCID_ERR_INVALID || err.kind == OCID_ERR_RESOURCE);
                CHECK(spdy_reader_goaway_status(r) == SPDY_GOAWAY_PROTOCOL_ERROR);
                res.goaway = spdy_reader_goaway_status(r);
        } else {
                CHECK(res.rc == 0 && err.kind == OCID_OK);
        }
        CHECK((err.kind == OCID_OK) == (err.message == NULL));
        res.last_id = spdy_reader_last_stream_id(r);
        ocid_error_clear(&err);
        spdy_reader_free(r);
        return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size < 2)
                return 0;
        static const size_t limits[] = { 1, 16, 100, 1000, 4096, 65536, 1 << 20, SPDY_DEFAULT_MAX_DATA };
        spdy_role role = (data[0] & 1) ? SPDY_ROLE_CLIENT : SPDY_ROLE_SERVER;
        outcome whole = {
                .max_data = limits[(data[0] >> 1) & 7],
                .fail_at = (data[0] >> 4) & 7,
                .hash = 14695981039346656037ull,
        };
        outcome chunked = whole;
        whole.w = spdy_writer_new();
        CHECK(whole.w);
        strbuf_init(&whole.echo);
        strbuf_init(&chunked.echo);
        size_t n_sizes = data[1] % 32;
        const uint8_t *rest = data + 2;
        size_t rest_len = size - 2;
        if (n_sizes > rest_len)
                n_sizes = rest_len;
        const uint8_t *stream = rest + n_sizes;
        size_t len = rest_len - n_sizes;

        result a = run(role, stream, len, NULL, 0, &whole);
        result b = run(role, stream, len, rest, n_sizes, &chunked);
        CHECK(a.rc == b.rc);
        CHECK(a.kind == b.kind);
        CHECK(a.last_id == b.last_id);
        CHECK(whole.count == chunked.count);
        CHECK(whole.hash == chunked.hash);

        outcome again = { .max_data = whole.max_data, .hash = 14695981039346656037ull };
        result c = run(role, (const uint8_t *)whole.echo.buf, whole.echo.len, NULL, 0, &again);
        CHECK(c.rc == 0);
        CHECK(again.count == whole.count);
        CHECK(again.hash == whole.hash);

        spdy_writer_free(whole.w);
        strbuf_release(&whole.echo);
        strbuf_release(&chunked.echo);
        return 0;
}
