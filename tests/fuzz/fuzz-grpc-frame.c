/* libFuzzer target for server/grpc.c: the gRPC message reassembly every
 * request body goes through, grpc-timeout parsing and grpc-message
 * decoding. Only LLVMFuzzerTestOneInput is defined, so the same file links
 * into tests/fuzz/replay.c, which replays the corpus in the normal test run
 * without libFuzzer.
 *
 * Input layout:
 *   byte 0      message limit selector and callback-failure selector
 *   byte 1      n, the number of chunk sizes that follow (n % 32)
 *   n bytes     chunk sizes, used in turn (0: an empty feed)
 *   the rest    the byte stream (DATA frame payloads)
 *
 * Beyond "no crash", the oracle is differential: the stream fed in one
 * piece and fed in the given chunks must produce the same messages and the
 * same outcome, no message may exceed the limit, and an oversized one must
 * be refused before its body is buffered. grpc-timeout values are checked
 * against the grammar written out again here; grpc-message encoding must
 * round-trip. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server/grpc.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one run of the reader produced. */
typedef struct {
        size_t limit;
        unsigned fail_at; /* fail on this message (1-based); 0: never */
        unsigned count;
        uint64_t hash;  /* over every message's length and bytes, in order */
        size_t total;
} outcome;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
        const uint8_t *b = p;
        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 0x100000001b3ull;
        return h;
}

static int on_message(const uint8_t *msg, size_t len, void *data)
{
        outcome *o = data;
        CHECK(msg != NULL);
        CHECK(len <= o->limit);
        o->count++;
        o->hash = fnv(o->hash, &len, sizeof(len));
        o->hash = fnv(o->hash, msg, len);
        o->total += len;
        if (o->fail_at && o->count == o->fail_at)
                return -7;
        return 0;
}

typedef struct {
        int rc;
        ocid_error_kind kind;
        bool idle;
} result;

static result run(const uint8_t *stream, size_t len, const uint8_t *sizes, size_t n_sizes,
                  outcome *o)
{
        grpc_frame_reader r;
        grpc_frame_reader_init(&r, o->limit);
        ocid_error err = OCID_ERROR_INIT;
        result res = { 0 };
        fuzz_chunks chunks = { .sizes = sizes, .n_sizes = n_sizes };
        size_t off = 0;
        while (off < len) {
                size_t n = fuzz_next_chunk(&chunks, len - off);
                res.rc = grpc_frame_reader_feed(&r, stream + off, n, on_message, o, &err);
                /* Never more buffered than the largest allowed message (the
                 * buffer grows by doubling from 64): an oversized message
                 * is refused from its header, not after its body. */
                CHECK(r.body.alloc <= 2 * o->limit + 64);
                if (res.rc < 0)
                        break;
                off += n;
        }
        res.kind = err.kind;
        if (res.rc == -7)
                CHECK(err.kind == OCID_OK); /* the callback's failure, untouched */
        else if (res.rc < 0)
                CHECK(err.kind == OCID_ERR_RESOURCE || err.kind == OCID_ERR_UNIMPLEMENTED ||
                      err.kind == OCID_ERR_INTERNAL);
        else
                CHECK(res.rc == 0 && err.kind == OCID_OK);
        CHECK((err.kind == OCID_OK) == (err.message == NULL));
        res.idle = grpc_frame_reader_idle(&r);
        ocid_error_clear(&err);
        grpc_frame_reader_release(&r);
        return res;
}

static void check_frames(const uint8_t *data, size_t size)
{
        if (size < 2)
                return;
        static const size_t limits[] = { 0, 1, 4, 16, 100, 1000, 65536, GRPC_MAX_MESSAGE };
        size_t limit = limits[data[0] & 7];
        unsigned fail_at = (data[0] >> 3) & 7;
        size_t n_sizes = data[1] % 32;
        data += 2;
        size -= 2;
        if (n_sizes > size)
                n_sizes = size;
        const uint8_t *sizes = data;
        const uint8_t *stream = data + n_sizes;
        size_t len = size - n_sizes;

        outcome whole = { .limit = limit, .fail_at = fail_at, .hash = 14695981039346656037ull };
        outcome chunked = whole;
        result a = run(stream, len, NULL, 0, &whole);
        result b = run(stream, len, sizes, n_sizes, &chunked);
        CHECK(a.rc == b.rc);
        CHECK(a.kind == b.kind);
        CHECK(whole.count == chunked.count);
        CHECK(whole.hash == chunked.hash);
        CHECK(whole.total == chunked.total);
        if (a.rc == 0)
                CHECK(a.idle == b.idle);
        /* Every message costs at least its 5-byte header. */
        CHECK(whole.total + 5 * (size_t)whole.count <= len);
}

static void check_timeout(const uint8_t *data, size_t size)
{
        size_t len = size < 12 ? size : 12;
        const char *s = (const char *)data;
        uint64_t ms = 0xdeadbeef;
        int r = grpc_timeout_parse(s, len, &ms);
        /* The grammar, independently: 1 to 8 digits and a unit. */
        bool valid = len >= 2 && len <= 9;
        uint64_t n = 0;
        for (size_t i = 0; valid && i + 1 < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        valid = false;
                else
                        n = n * 10 + (uint64_t)(s[i] - '0');
        }
        uint64_t want = 0;
        if (valid) {
                switch (s[len - 1]) {
                case 'H': want = n * 3600000; break;
                case 'M': want = n * 60000; break;
                case 'S': want = n * 1000; break;
                case 'm': want = n; break;
                case 'u': want = n / 1000 + (n % 1000 != 0); break;
                case 'n': want = n / 1000000 + (n % 1000000 != 0); break;
                default: valid = false;
                }
        }
        if (!valid) {
                CHECK(r == -EINVAL);
                CHECK(ms == 0xdeadbeef);
                return;
        }
        CHECK(r == 0);
        CHECK(ms == want);

        /* Formatting round-trips, never shortening a deadline. */
        uint64_t v = 0;
        memcpy(&v, data, size < sizeof(v) ? size : sizeof(v));
        for (int shift = 0; shift < 64; shift += 21) {
                uint64_t x = v >> shift;
                char out[16];
                grpc_timeout_format(x, out);
                size_t olen = strnlen(out, sizeof(out));
                CHECK(olen < sizeof(out));
                uint64_t back;
                CHECK(grpc_timeout_parse(out, olen, &back) == 0);
                if (x <= 99999999)
                        CHECK(back == x);
                else if (x <= 99999999ull * 3600000)
                        CHECK(back >= x);
        }
}

static void check_message(const uint8_t *data, size_t size)
{
        /* Decoding anything: never longer than the input. */
        strbuf d = STRBUF_INIT;
        grpc_message_decode(&d, (const char *)data, size);
        CHECK(d.len <= size);
        CHECK(d.buf[d.len] == '\0');

        /* Encoding gives printable ASCII that decodes back exactly. */
        size_t clen = strnlen((const char *)data, size);
        char *s = malloc(clen + 1);
        CHECK(s != NULL);
        memcpy(s, data, clen);
        s[clen] = '\0';
        strbuf e = STRBUF_INIT;
        grpc_message_encode(&e, s);
        for (size_t i = 0; i < e.len; i++)
                CHECK(e.buf[i] >= 0x20 && e.buf[i] <= 0x7e);
        strbuf back = STRBUF_INIT;
        grpc_message_decode(&back, e.buf, e.len);
        CHECK(back.len == clen);
        CHECK(memcmp(back.buf, s, clen) == 0);
        strbuf_release(&back);
        strbuf_release(&e);
        strbuf_release(&d);
        free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        check_frames(data, size);
        check_timeout(data, size);
        /* Also on the stream part alone, where a header-shaped prefix sits. */
        if (size > 2)
                check_timeout(data + 2, size - 2);
        check_message(data, size);
        return 0;
}
