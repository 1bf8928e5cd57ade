#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stream/spdy.h"
#include "util/cleanup.h"
#include "util/strbuf.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- helpers ----------------------------------------------------------------- */

#define MAX_FRAMES 64

/* A copy of what the callback saw. */
typedef struct {
        spdy_frame f;
        spdy_header headers[SPDY_MAX_HEADERS];
        spdy_setting settings[SPDY_MAX_SETTINGS];
        strbuf data;
} frame_copy;

typedef struct {
        size_t n;
        frame_copy v[MAX_FRAMES];
        int fail_at;
} frames;

static int collect(const spdy_frame *f, void *userdata)
{
        frames *fs = userdata;
        assert_true(fs->n < MAX_FRAMES);
        frame_copy *c = &fs->v[fs->n++];
        c->f = *f;
        strbuf_init(&c->data);
        strbuf_add(&c->data, f->data, f->data_len);
        for (size_t i = 0; i < f->n_headers; i++) {
                c->headers[i].name = strdup(f->headers[i].name);
                c->headers[i].value = malloc(f->headers[i].value_len + 1);
                memcpy(c->headers[i].value, f->headers[i].value, f->headers[i].value_len + 1);
                c->headers[i].value_len = f->headers[i].value_len;
        }
        if (f->n_settings)
                memcpy(c->settings, f->settings, f->n_settings * sizeof(*f->settings));
        c->f.headers = c->headers;
        c->f.settings = c->settings;
        c->f.data = NULL;
        if (fs->fail_at && (int)fs->n == fs->fail_at)
                return -42;
        return 0;
}

static void frames_release(frames *fs)
{
        for (size_t i = 0; i < fs->n; i++) {
                for (size_t k = 0; k < fs->v[i].f.n_headers; k++) {
                        free(fs->v[i].headers[k].name);
                        free(fs->v[i].headers[k].value);
                }
                strbuf_release(&fs->v[i].data);
        }
        fs->n = 0;
}

static int feed(spdy_reader *r, const strbuf *in, size_t chunk, frames *fs, ocid_error *err)
{
        for (size_t off = 0; off < in->len;) {
                size_t n = in->len - off < chunk ? in->len - off : chunk;
                int q = spdy_reader_feed(r, (const uint8_t *)in->buf + off, n, collect, fs, err);
                if (q < 0)
                        return q;
                off += n;
        }
        return 0;
}

static strbuf hex(const char *h)
{
        strbuf sb = STRBUF_INIT;
        for (size_t i = 0; h[i] && h[i + 1]; i += 2) {
                char b[3] = { h[i], h[i + 1], 0 };
                strbuf_addch(&sb, (char)strtoul(b, NULL, 16));
        }
        return sb;
}

static void add32(strbuf *sb, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
        strbuf_add(sb, b, 4);
}

/* An uncompressed header block, written out by hand so that it can be
 * wrong in every way. */
static void raw_pair(strbuf *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
        add32(b, (uint32_t)nlen);
        strbuf_add(b, name, nlen);
        add32(b, (uint32_t)vlen);
        strbuf_add(b, value, vlen);
}

/* Compress raw as a header block would be: a fresh zlib stream with the
 * SPDY dictionary (or dict), flushed. */
static void compress_block(strbuf *out, const strbuf *raw, const void *dict, size_t dict_len, int flush)
{
        z_stream z = { 0 };
        assert_int_equal(deflateInit(&z, Z_BEST_COMPRESSION), Z_OK);
        assert_int_equal(deflateSetDictionary(&z, dict, (uInt)dict_len), Z_OK);
        size_t bound = deflateBound(&z, raw->len) + 64;
        strbuf_grow(out, bound);
        z.next_in = (Bytef *)raw->buf;
        z.avail_in = (uInt)raw->len;
        z.next_out = (Bytef *)out->buf + out->len;
        z.avail_out = (uInt)bound;
        int rc = deflate(&z, flush);
        assert_true(rc == Z_OK || rc == Z_STREAM_END);
        assert_int_equal(z.avail_in, 0);
        out->len += bound - z.avail_out;
        deflateEnd(&z);
}

static void control_header(strbuf *out, uint16_t version, uint16_t type, uint8_t flags, uint32_t len)
{
        add32(out, 0x80000000u | (uint32_t)version << 16 | type);
        add32(out, (uint32_t)flags << 24 | len);
}

/* A SYN_STREAM around an already compressed block. */
static void syn_stream(strbuf *out, uint32_t id, const strbuf *block)
{
        control_header(out, 3, SPDY_SYN_STREAM, 0, (uint32_t)(10 + block->len));
        add32(out, id);
        add32(out, 0);
        strbuf_add(out, "\x00\x00", 2);
        strbuf_add(out, block->buf, block->len);
}

/* A SYN_STREAM whose block is raw compressed on a fresh stream. */
static strbuf syn_stream_raw(uint32_t id, const strbuf *raw)
{
        strbuf block = STRBUF_INIT, frame = STRBUF_INIT;
        compress_block(&block, raw, spdy_dictionary, sizeof(spdy_dictionary), Z_SYNC_FLUSH);
        syn_stream(&frame, id, &block);
        strbuf_release(&block);
        return frame;
}

/* Expect in to fail a fresh server reader, fed whole and byte by byte. */
static void expect_fail(const strbuf *in, ocid_error_kind kind, const char *want)
{
        static const size_t chunks[] = { 1, SIZE_MAX };
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
                _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 1000);
                frames fs = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                if (feed(r, in, chunks[c], &fs, &err) != -1)
                        fail_msg("accepted; want %s '%s'", ocid_error_kind_name(kind), want);
                if (err.kind != kind || !strstr(err.message, want))
                        fail_msg("got %s '%s', want %s '%s'", ocid_error_kind_name(err.kind), err.message,
                                 ocid_error_kind_name(kind), want);
                assert_int_equal(spdy_reader_goaway_status(r), SPDY_GOAWAY_PROTOCOL_ERROR);
                ocid_error_clear(&err);
                frames_release(&fs);
        }
}

static void expect_fail_hex(const char *h, ocid_error_kind kind, const char *want)
{
        strbuf in = hex(h);
        expect_fail(&in, kind, want);
        strbuf_release(&in);
}

static void expect_block_fail(const strbuf *raw, ocid_error_kind kind, const char *want)
{
        strbuf frame = syn_stream_raw(1, raw);
        expect_fail(&frame, kind, want);
        strbuf_release(&frame);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_dictionary(void **state)
{
        assert_int_equal(sizeof(spdy_dictionary), 1423);
        assert_int_equal(adler32(1, spdy_dictionary, sizeof(spdy_dictionary)), 0xe3c6a7c2);
        assert_memory_equal(spdy_dictionary, "\x00\x00\x00\x07options", 11);
        assert_memory_equal(spdy_dictionary + 1423 - 7, ",enq=0.", 7);
}

/* Frames written by an independent implementation (node-spdy's test
 * vectors), each starting its own zlib stream. */
static void test_known_vectors(void **state)
{
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
        frames fs = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        strbuf in = hex("800300010000002c0000000100000000000078f9e3c6a7c202e50e507ab442a45a77d7105006"
                        "b32a4804974d8cfa00000000ffff");
        assert_int_equal(feed(r, &in, SIZE_MAX, &fs, &err), 0);
        assert_int_equal(fs.n, 1);
        const spdy_frame *f = &fs.v[0].f;
        assert_int_equal(f->type, SPDY_SYN_STREAM);
        assert_int_equal(f->stream_id, 1);
        assert_int_equal(f->flags, 0);
        assert_int_equal(f->n_headers, 2);
        assert_string_equal(spdy_frame_header(f, ":method"), "GET");
        assert_string_equal(spdy_frame_header(f, ":path"), "/");
        assert_null(spdy_frame_header(f, ":host"));
        assert_int_equal(spdy_reader_last_stream_id(r), 1);
        frames_release(&fs);
        strbuf_release(&in);

        _cleanup_(spdy_reader_freep) spdy_reader *c = spdy_reader_new(SPDY_ROLE_CLIENT, 0);
        in = hex("80030002000000140000000178f9e3c6a7c202a6230600000000ffff");
        assert_int_equal(feed(c, &in, 1, &fs, &err), 0);
        assert_int_equal(fs.n, 1);
        assert_int_equal(fs.v[0].f.type, SPDY_SYN_REPLY);
        assert_int_equal(fs.v[0].f.stream_id, 1);
        assert_int_equal(fs.v[0].f.n_headers, 0);
        frames_release(&fs);
        strbuf_release(&in);
}

/* What a kubectl exec session looks like, written by our writer and read
 * back: header blocks share one zlib stream in each direction. */
static void test_round_trip(void **state)
{
        _cleanup_(spdy_writer_freep) spdy_writer *w = spdy_writer_new();
        assert_non_null(w);
        strbuf out = STRBUF_INIT;
        ocid_error err = OCID_ERROR_INIT;

        static const char *types[] = { "error", "stdin", "stdout", "stderr", "resize" };
        for (uint32_t i = 0; i < ARRAY_SIZE(types); i++) {
                spdy_header h[] = {
                        { "streamtype", (char *)types[i], strlen(types[i]) },
                        { "x-multi", "a\0b", 3 },
                };
                assert_int_equal(spdy_writer_syn_stream(w, &out, 1 + 2 * i, 0, (uint8_t)i, i == 4 ? SPDY_FLAG_FIN : 0,
                                                        h, ARRAY_SIZE(h), &err), 0);
        }
        spdy_header reply[] = { { ":status", "200", 3 } };
        assert_int_equal(spdy_writer_syn_reply(w, &out, 1, 0, reply, 1, &err), 0);
        assert_int_equal(spdy_writer_headers(w, &out, 3, SPDY_FLAG_FIN, NULL, 0, &err), 0);
        spdy_encode_data(&out, 3, 0, "ls\n", 3);
        spdy_encode_data(&out, 3, SPDY_FLAG_FIN, NULL, 0);
        spdy_setting set[] = { { 0, SPDY_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
                               { 1, SPDY_SETTINGS_MAX_CONCURRENT_STREAMS, 100 } };
        spdy_encode_settings(&out, SPDY_FLAG_CLEAR_SETTINGS, set, 2);
        spdy_encode_ping(&out, 7);
        spdy_encode_window_update(&out, 0, 1000);
        spdy_encode_window_update(&out, 5, 0x7fffffff);
        spdy_encode_rst_stream(&out, 9, SPDY_CANCEL);
        spdy_encode_goaway(&out, 9, SPDY_GOAWAY_OK);

        static const size_t chunks[] = { 1, 3, 100, SIZE_MAX };
        for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
                _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
                frames fs = { 0 };
                assert_int_equal(feed(r, &out, chunks[c], &fs, &err), 0);
                assert_true(spdy_reader_idle(r));
                assert_int_equal(fs.n, 15);
                for (uint32_t i = 0; i < ARRAY_SIZE(types); i++) {
                        const spdy_frame *f = &fs.v[i].f;
                        assert_int_equal(f->type, SPDY_SYN_STREAM);
                        assert_int_equal(f->stream_id, 1 + 2 * i);
                        assert_int_equal(f->priority, i);
                        assert_int_equal(f->flags, i == 4 ? SPDY_FLAG_FIN : 0);
                        assert_int_equal(f->n_headers, 2);
                        assert_string_equal(spdy_frame_header(f, "streamtype"), types[i]);
                        assert_int_equal(f->headers[1].value_len, 3);
                        assert_memory_equal(f->headers[1].value, "a\0b", 3);
                }
                const spdy_frame *f = &fs.v[5].f;
                assert_int_equal(f->type, SPDY_SYN_REPLY);
                assert_string_equal(spdy_frame_header(f, ":status"), "200");
                f = &fs.v[6].f;
                assert_int_equal(f->type, SPDY_HEADERS);
                assert_int_equal(f->stream_id, 3);
                assert_int_equal(f->flags, SPDY_FLAG_FIN);
                assert_int_equal(f->n_headers, 0);
                assert_int_equal(fs.v[7].f.type, SPDY_DATA);
                assert_int_equal(fs.v[7].f.stream_id, 3);
                assert_int_equal(fs.v[7].f.data_len, 3);
                assert_string_equal(fs.v[7].data.buf, "ls\n");
                assert_int_equal(fs.v[8].f.data_len, 0);
                assert_int_equal(fs.v[8].f.flags, SPDY_FLAG_FIN);
                f = &fs.v[9].f;
                assert_int_equal(f->type, SPDY_SETTINGS);
                assert_int_equal(f->flags, SPDY_FLAG_CLEAR_SETTINGS);
                assert_int_equal(f->n_settings, 2);
                assert_int_equal(f->settings[0].id, SPDY_SETTINGS_INITIAL_WINDOW_SIZE);
                assert_int_equal(f->settings[0].value, 1 << 20);
                assert_int_equal(f->settings[1].flags, 1);
                assert_int_equal(f->settings[1].value, 100);
                assert_int_equal(fs.v[10].f.type, SPDY_PING);
                assert_int_equal(fs.v[10].f.ping_id, 7);
                assert_int_equal(fs.v[11].f.type, SPDY_WINDOW_UPDATE);
                assert_int_equal(fs.v[11].f.stream_id, 0);
                assert_int_equal(fs.v[11].f.delta_window, 1000);
                assert_int_equal(fs.v[12].f.delta_window, 0x7fffffff);
                assert_int_equal(fs.v[13].f.type, SPDY_RST_STREAM);
                assert_int_equal(fs.v[13].f.stream_id, 9);
                assert_int_equal(fs.v[13].f.status, SPDY_CANCEL);
                assert_int_equal(fs.v[14].f.type, SPDY_GOAWAY);
                assert_int_equal(fs.v[14].f.stream_id, 9);
                assert_int_equal(fs.v[14].f.status, SPDY_GOAWAY_OK);
                assert_int_equal(spdy_reader_last_stream_id(r), 9);
                frames_release(&fs);
        }
        strbuf_release(&out);
}

/* The "Bad input" list: a reused stream id. */
static void test_stream_ids(void **state)
{
        _cleanup_(spdy_writer_freep) spdy_writer *w = spdy_writer_new();
        ocid_error err = OCID_ERROR_INIT;
        spdy_header h[] = { { "streamtype", "stdout", 6 } };
        static const struct {
                uint32_t ids[3];
                const char *want;
        } cases[] = {
                { { 1, 3, 3 }, "SYN_STREAM reuses stream id 3 (last opened 3)" },
                { { 1, 5, 3 }, "SYN_STREAM reuses stream id 3 (last opened 5)" },
                { { 1, 3, 1 }, "SYN_STREAM reuses stream id 1 (last opened 3)" },
                { { 1, 2, 0 }, "SYN_STREAM with even stream id 2 from the client" },
                { { 0, 0, 0 }, "SYN_STREAM for stream 0" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_(spdy_writer_freep) spdy_writer *cw = spdy_writer_new();
                strbuf out = STRBUF_INIT;
                for (size_t k = 0; k < 3; k++)
                        assert_int_equal(spdy_writer_syn_stream(cw, &out, cases[i].ids[k], 0, 0, 0, h, 1, &err), 0);
                expect_fail(&out, OCID_ERR_INVALID, cases[i].want);
                strbuf_release(&out);
        }

        /* A client reader wants even ids from the server. */
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_CLIENT, 0);
        strbuf out = STRBUF_INIT;
        assert_int_equal(spdy_writer_syn_stream(w, &out, 2, 0, 0, 0, h, 1, &err), 0);
        assert_int_equal(spdy_writer_syn_stream(w, &out, 3, 0, 0, 0, h, 1, &err), 0);
        frames fs = { 0 };
        assert_int_equal(feed(r, &out, SIZE_MAX, &fs, &err), -1);
        assert_string_equal(err.message, "SYN_STREAM with odd stream id 3 from the server");
        assert_int_equal(fs.n, 1);
        ocid_error_clear(&err);
        frames_release(&fs);
        strbuf_release(&out);
}

/* The "Bad input" list: a zlib bomb in a header block, a few KB that
 * inflate to many MB, stops at the bound. */
static void test_zlib_bomb(void **state)
{
        const size_t big = 16u * 1024 * 1024;
        strbuf raw = STRBUF_INIT;
        add32(&raw, 1);
        add32(&raw, 1);
        strbuf_addch(&raw, 'x');
        add32(&raw, (uint32_t)big);
        strbuf_grow(&raw, big);
        memset(raw.buf + raw.len, 'a', big);
        raw.len += big;
        raw.buf[raw.len] = '\0';
        strbuf frame = syn_stream_raw(1, &raw);
        assert_true(frame.len < 32 * 1024); /* fits a control frame */
        assert_true(raw.len / frame.len > 500);
        expect_fail(&frame, OCID_ERR_RESOURCE, "spdy header block inflates past 65536 bytes");
        strbuf_release(&frame);

        /* A block of exactly the bound passes; one byte more does not. */
        strbuf_reset(&raw);
        add32(&raw, 1);
        add32(&raw, 1);
        strbuf_addch(&raw, 'x');
        size_t vlen = SPDY_MAX_HEADER_BLOCK - raw.len - 4;
        add32(&raw, (uint32_t)vlen);
        for (size_t i = 0; i < vlen; i++)
                strbuf_addch(&raw, 'a');
        assert_int_equal(raw.len, SPDY_MAX_HEADER_BLOCK);
        frame = syn_stream_raw(1, &raw);
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
        frames fs = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(feed(r, &frame, SIZE_MAX, &fs, &err), 0);
        assert_int_equal(fs.v[0].headers[0].value_len, vlen);
        frames_release(&fs);
        strbuf_release(&frame);
        raw.buf[7] = 2; /* name length 2: the block now claims one byte more */
        strbuf_addch(&raw, 'a');
        frame = syn_stream_raw(1, &raw);
        expect_fail(&frame, OCID_ERR_RESOURCE, "inflates past 65536 bytes");
        strbuf_release(&frame);
        strbuf_release(&raw);
}

/* After a SYN_STREAM whose header block is bad, the last stream opened
 * (what the GOAWAY names) is still the one before it. */
static void test_bad_header_block_not_opened(void **state)
{
        strbuf good = STRBUF_INIT, bad = STRBUF_INIT;
        add32(&good, 1);
        raw_pair(&good, "a", 1, "v", 1);
        add32(&bad, 1);
        raw_pair(&bad, "Host", 4, "h", 1);
        strbuf in = syn_stream_raw(1, &good);
        strbuf second = syn_stream_raw(3, &bad);
        strbuf_add(&in, second.buf, second.len);
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
        frames fs = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(feed(r, &in, SIZE_MAX, &fs, &err), -1);
        assert_int_equal(spdy_reader_last_stream_id(r), 1);
        ocid_error_clear(&err);
        frames_release(&fs);
        strbuf_release(&second);
        strbuf_release(&in);
        strbuf_release(&bad);
        strbuf_release(&good);
}

static void test_bad_header_blocks(void **state)
{
        strbuf raw = STRBUF_INIT;
        add32(&raw, SPDY_MAX_HEADERS + 1);
        for (int i = 0; i <= SPDY_MAX_HEADERS; i++) {
                char name[16];
                snprintf(name, sizeof(name), "h%d", i);
                raw_pair(&raw, name, strlen(name), "v", 1);
        }
        expect_block_fail(&raw, OCID_ERR_RESOURCE, "spdy header block with 101 headers (at most 100)");

        strbuf_reset(&raw);
        add32(&raw, 1);
        raw_pair(&raw, "Host", 4, "h", 1);
        expect_block_fail(&raw, OCID_ERR_INVALID, "spdy header name with byte 0x48 (names are lower case)");

        strbuf_reset(&raw);
        add32(&raw, 2);
        raw_pair(&raw, "streamtype", 10, "a", 1);
        raw_pair(&raw, "streamtype", 10, "b", 1);
        expect_block_fail(&raw, OCID_ERR_INVALID, "duplicate spdy header 'streamtype'");

        strbuf_reset(&raw);
        add32(&raw, 1);
        raw_pair(&raw, "", 0, "v", 1);
        expect_block_fail(&raw, OCID_ERR_INVALID, "spdy header with an empty name");

        strbuf_reset(&raw);
        add32(&raw, 1);
        raw_pair(&raw, "a\0b", 3, "v", 1);
        expect_block_fail(&raw, OCID_ERR_INVALID, "byte 0x00");

        strbuf_reset(&raw);
        add32(&raw, 2);
        raw_pair(&raw, "a", 1, "v", 1);
        expect_block_fail(&raw, OCID_ERR_INVALID, "truncated spdy header block");

        strbuf_reset(&raw);
        add32(&raw, 1);
        add32(&raw, 1);
        strbuf_addch(&raw, 'a');
        add32(&raw, 100); /* value longer than the block */
        strbuf_adds(&raw, "short");
        expect_block_fail(&raw, OCID_ERR_INVALID, "truncated spdy header block");

        strbuf_reset(&raw);
        add32(&raw, 1);
        raw_pair(&raw, "a", 1, "v", 1);
        strbuf_adds(&raw, "junk");
        expect_block_fail(&raw, OCID_ERR_INVALID, "4 bytes after the spdy header block's 1 headers");

        strbuf_reset(&raw);
        strbuf_add(&raw, "\x00\x00", 2);
        expect_block_fail(&raw, OCID_ERR_INVALID, "truncated spdy header block");

        /* Compressed with another dictionary, not compressed, ended. */
        strbuf_reset(&raw);
        add32(&raw, 1);
        raw_pair(&raw, "a", 1, "v", 1);
        strbuf block = STRBUF_INIT, frame = STRBUF_INIT;
        compress_block(&block, &raw, "not the spdy dictionary", 23, Z_SYNC_FLUSH);
        syn_stream(&frame, 1, &block);
        expect_fail(&frame, OCID_ERR_INVALID, "spdy header block compressed with another dictionary");
        strbuf_reset(&frame);
        syn_stream(&frame, 1, &raw);
        expect_fail(&frame, OCID_ERR_INVALID, "corrupt spdy header block");
        strbuf_reset(&frame);
        strbuf_reset(&block);
        compress_block(&block, &raw, spdy_dictionary, sizeof(spdy_dictionary), Z_FINISH);
        syn_stream(&frame, 1, &block);
        expect_fail(&frame, OCID_ERR_INVALID, "spdy header compression stream ended");
        /* Truncated compressed data: the block is incomplete. */
        strbuf_reset(&frame);
        strbuf_reset(&block);
        compress_block(&block, &raw, spdy_dictionary, sizeof(spdy_dictionary), Z_SYNC_FLUSH);
        block.len /= 2;
        syn_stream(&frame, 1, &block);
        expect_fail(&frame, OCID_ERR_INVALID, "truncated spdy header block");
        strbuf_release(&frame);
        strbuf_release(&block);
        strbuf_release(&raw);
}

/* The "Bad input" list: oversized and malformed frames. */
static void test_bad_frames(void **state)
{
        /* Refused from the 8-byte header alone, before any payload. */
        expect_fail_hex("800300010001040100000000", OCID_ERR_RESOURCE,
                        "SYN_STREAM control frame (type 1) of 66561 bytes (at most 66560)");
        expect_fail_hex("0000000100ffffff", OCID_ERR_RESOURCE, "DATA frame of 16777215 bytes on stream 1 (at most 1000)");
        expect_fail_hex("00000001000003e9", OCID_ERR_RESOURCE, "DATA frame of 1001 bytes");
        expect_fail_hex("0000000000000001aa", OCID_ERR_INVALID, "DATA frame for stream 0");
        expect_fail_hex("80000000000000080000000100000000", OCID_ERR_INVALID, "unsupported SPDY version 0");
        expect_fail_hex("80020001000000080000000100000000", OCID_ERR_INVALID, "unsupported SPDY version 2");
        expect_fail_hex("8003000100000004" "00000001", OCID_ERR_INVALID, "SYN_STREAM of 4 bytes (at least 10)");
        expect_fail_hex("8003000200000002" "0000", OCID_ERR_INVALID, "SYN_REPLY of 2 bytes (at least 4)");
        expect_fail_hex("8003000800000000", OCID_ERR_INVALID, "HEADERS of 0 bytes (at least 4)");
        expect_fail_hex("80030008000000040000000078", OCID_ERR_INVALID, "HEADERS for stream 0");
        expect_fail_hex("8003000300000007" "00000001000000", OCID_ERR_INVALID, "RST_STREAM of 7 bytes (want 8)");
        expect_fail_hex("8003000300000008" "0000000000000001", OCID_ERR_INVALID, "RST_STREAM for stream 0");
        expect_fail_hex("8003000300000008" "0000000100000000", OCID_ERR_INVALID, "RST_STREAM with status 0");
        expect_fail_hex("8003000600000005" "0000000100", OCID_ERR_INVALID, "PING of 5 bytes (want 4)");
        expect_fail_hex("8003000700000004" "00000001", OCID_ERR_INVALID, "GOAWAY of 4 bytes (want 8)");
        expect_fail_hex("800300090000000c" "000000010000000100000000", OCID_ERR_INVALID, "WINDOW_UPDATE of 12 bytes");
        expect_fail_hex("8003000900000008" "0000000180000000", OCID_ERR_INVALID, "WINDOW_UPDATE with delta 0");
        expect_fail_hex("8003000400000002" "0000", OCID_ERR_INVALID, "SETTINGS of 2 bytes (at least 4)");
        expect_fail_hex("800300040000000c" "00000002" "0000000700010000", OCID_ERR_INVALID,
                        "SETTINGS of 12 bytes for 2 entries");
        expect_fail_hex("8003000400000004" "00000041", OCID_ERR_RESOURCE, "SETTINGS with 65 entries (at most 64)");
}

static void test_unknown_control_skipped(void **state)
{
        /* CREDENTIAL (10) and NOOP (5) are skipped; the PING after them
         * is read. */
        strbuf in = hex("8003000a00000005" "0102030405" "8003000500000000" "8003000600000004" "0000002a");
        for (size_t chunk = 1; chunk <= in.len; chunk++) {
                _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
                frames fs = { 0 };
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(feed(r, &in, chunk, &fs, &err), 0);
                assert_int_equal(fs.n, 1);
                assert_int_equal(fs.v[0].f.type, SPDY_PING);
                assert_int_equal(fs.v[0].f.ping_id, 42);
                frames_release(&fs);
        }
        strbuf_release(&in);
}

static void test_callback_failure(void **state)
{
        strbuf in = STRBUF_INIT;
        spdy_encode_ping(&in, 1);
        spdy_encode_ping(&in, 3);
        spdy_encode_ping(&in, 5);
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_SERVER, 0);
        frames fs = { .fail_at = 2 };
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(spdy_reader_feed(r, (const uint8_t *)in.buf, in.len, collect, &fs, &err), -42);
        assert_int_equal(fs.n, 2);
        assert_int_equal(err.kind, OCID_OK);
        frames_release(&fs);
        strbuf_release(&in);
}

static void test_writer_checks(void **state)
{
        _cleanup_(spdy_writer_freep) spdy_writer *w = spdy_writer_new();
        strbuf out = STRBUF_INIT;
        ocid_error err = OCID_ERROR_INIT;
        spdy_header upper[] = { { "StreamType", "x", 1 } };
        assert_int_equal(spdy_writer_syn_reply(w, &out, 1, 0, upper, 1, &err), -1);
        assert_string_equal(err.message, "spdy header name 'StreamType' is not lower case");
        ocid_error_clear(&err);
        spdy_header dup[] = { { "a", "x", 1 }, { "a", "y", 1 } };
        assert_int_equal(spdy_writer_syn_reply(w, &out, 1, 0, dup, 2, &err), -1);
        ocid_error_clear(&err);
        spdy_header empty[] = { { "", "x", 1 } };
        assert_int_equal(spdy_writer_syn_reply(w, &out, 1, 0, empty, 1, &err), -1);
        ocid_error_clear(&err);
        spdy_header many[SPDY_MAX_HEADERS + 1];
        for (size_t i = 0; i < ARRAY_SIZE(many); i++)
                many[i] = (spdy_header){ "a", "", 0 };
        assert_int_equal(spdy_writer_headers(w, &out, 1, 0, many, ARRAY_SIZE(many), &err), -1);
        ocid_error_clear(&err);
        char *huge = calloc(1, SPDY_MAX_HEADER_BLOCK);
        spdy_header big[] = { { "a", huge, SPDY_MAX_HEADER_BLOCK } };
        assert_int_equal(spdy_writer_headers(w, &out, 1, 0, big, 1, &err), -1);
        assert_string_equal(err.message, "spdy header block over 65536 bytes");
        ocid_error_clear(&err);
        free(huge);
        assert_int_equal(out.len, 0);

        /* Still usable. */
        spdy_header ok[] = { { "streamtype", "error", 5 } };
        assert_int_equal(spdy_writer_syn_reply(w, &out, 1, 0, ok, 1, &err), 0);
        _cleanup_(spdy_reader_freep) spdy_reader *r = spdy_reader_new(SPDY_ROLE_CLIENT, 0);
        frames fs = { 0 };
        assert_int_equal(feed(r, &out, SIZE_MAX, &fs, &err), 0);
        assert_string_equal(spdy_frame_header(&fs.v[0].f, "streamtype"), "error");
        frames_release(&fs);
        strbuf_reset(&out);

        /* The largest block, incompressible: what the writer produces the
         * reader takes. */
        _cleanup_(spdy_writer_freep) spdy_writer *w2 = spdy_writer_new();
        size_t vlen = SPDY_MAX_HEADER_BLOCK - 4 - 8 - 1;
        char *noise = malloc(vlen);
        uint32_t x = 2463534242u;
        for (size_t i = 0; i < vlen; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                noise[i] = (char)x;
        }
        spdy_header loud[] = { { "n", noise, vlen } };
        assert_int_equal(spdy_writer_headers(w2, &out, 1, 0, loud, 1, &err), 0);
        assert_true(out.len - SPDY_FRAME_HEADER > SPDY_MAX_HEADER_BLOCK);
        _cleanup_(spdy_reader_freep) spdy_reader *r2 = spdy_reader_new(SPDY_ROLE_CLIENT, 0);
        assert_int_equal(feed(r2, &out, SIZE_MAX, &fs, &err), 0);
        assert_int_equal(fs.v[0].headers[0].value_len, vlen);
        assert_memory_equal(fs.v[0].headers[0].value, noise, vlen);
        frames_release(&fs);
        free(noise);
        strbuf_release(&out);
}

static void test_flow_control(void **state)
{
        spdy_window w;
        ocid_error err = OCID_ERROR_INIT;
        spdy_window_init(&w, SPDY_INITIAL_WINDOW, SPDY_INITIAL_WINDOW);
        assert_int_equal(spdy_window_sendable(&w, 100000), 65536);
        spdy_window_sent(&w, 60000);
        assert_int_equal(spdy_window_sendable(&w, 100000), 5536);
        assert_int_equal(spdy_window_sendable(&w, 10), 10);
        spdy_window_sent(&w, 5536);
        assert_int_equal(spdy_window_sendable(&w, 1), 0);
        assert_int_equal(spdy_window_update(&w, 1000, &err), 0);
        assert_int_equal(spdy_window_sendable(&w, 5000), 1000);
        assert_int_equal(spdy_window_update(&w, 0, &err), -1);
        ocid_error_clear(&err);
        assert_int_equal(spdy_window_update(&w, SPDY_MAX_WINDOW, &err), -1);
        assert_string_equal(err.message, "WINDOW_UPDATE of 2147483647 grows the window past 2^31-1");
        ocid_error_clear(&err);
        /* The peer shrinks the initial window: the window goes negative
         * and nothing may be sent until updates bring it back. */
        assert_int_equal(spdy_window_initial_changed(&w, SPDY_INITIAL_WINDOW, 0, &err), 0);
        assert_int_equal(w.send, 1000 - 65536);
        assert_int_equal(spdy_window_sendable(&w, 1), 0);
        assert_int_equal(spdy_window_update(&w, 64536, &err), 0);
        assert_int_equal(spdy_window_sendable(&w, 1), 0);
        assert_int_equal(spdy_window_update(&w, 1, &err), 0);
        assert_int_equal(spdy_window_sendable(&w, 10), 1);

        /* Receiving: over the window is an error; consuming half of it
         * sends an update. */
        assert_int_equal(spdy_window_received(&w, 30000, &err), 0);
        assert_int_equal(spdy_window_consumed(&w, 30000), 0);
        assert_int_equal(spdy_window_received(&w, 35536, &err), 0);
        assert_int_equal(spdy_window_received(&w, 1, &err), -1);
        assert_string_equal(err.message, "peer sent 1 bytes over a receive window of 0");
        ocid_error_clear(&err);
        assert_int_equal(spdy_window_consumed(&w, 2768), 32768);
        assert_int_equal(w.recv, 32768);
        assert_int_equal(spdy_window_consumed(&w, 35536), 32768);
        assert_int_equal(w.recv, 65536);
        /* Never more than the initial window. */
        assert_int_equal(spdy_window_consumed(&w, 40000), 0);
        assert_int_equal(w.recv, 65536);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_dictionary),
                cmocka_unit_test(test_known_vectors),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_stream_ids),
                cmocka_unit_test(test_zlib_bomb),
                cmocka_unit_test(test_bad_header_blocks),
                cmocka_unit_test(test_bad_header_block_not_opened),
                cmocka_unit_test(test_bad_frames),
                cmocka_unit_test(test_unknown_control_skipped),
                cmocka_unit_test(test_callback_failure),
                cmocka_unit_test(test_writer_checks),
                cmocka_unit_test(test_flow_control),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
