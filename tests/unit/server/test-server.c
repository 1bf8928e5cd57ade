/* The gRPC server end to end: a real loop, worker pool and server on a unix
 * socket in a temp dir, running in a background thread, with a method table
 * of the test's own; driven by grpc_client (and, for what that client never
 * sends, by a raw nghttp2 session) from the test thread. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server/client.h"
#include "server/grpc.h"
#include "server/loop.h"
#include "server/server.h"
#include "server/workers.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#include "runtime/v1/api.pb-c.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#define MAX_RECV (64 * 1024)
#define MAX_SEND (128 * 1024)
#define WORKERS 4

typedef Runtime__V1__VersionRequest VersionRequest;
typedef Runtime__V1__VersionResponse VersionResponse;

/* Under ASan, catch the client's stream data source pointing into a
 * returned call's stack frame (see test_client_deadline_silent_server). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "detect_stack_use_after_return=1";
}

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
        struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
        nanosleep(&ts, NULL);
}

/* What handlers observed, shared with the test thread. */
typedef struct {
        atomic_int sleep_started;
        atomic_int sleep_saw_cancel;
        atomic_int sleep_finished;
        atomic_int calls;
        atomic_int wrong_context;
} observed;

typedef struct {
        char dir[64];
        char sock[96];
        loop *l;
        workers *w;
        server *srv;
        pthread_t thread;
        int loop_rc;
        observed obs;
        atomic_int shutdown_done;
        atomic_int shutdown_in_flight_at_done;
} fixture;

/* ---- handlers ----------------------------------------------------------- */

static VersionResponse *new_response(const char *version, const char *name)
{
        VersionResponse *r = xcalloc(1, sizeof(*r));
        runtime__v1__version_response__init(r);
        r->version = xstrdup(version);
        r->runtime_name = xstrdup(name);
        r->runtime_version = xstrdup("");
        r->runtime_api_version = xstrdup("");
        return r;
}

static observed *obs_of(rpc_call *call)
{
        fixture *f = rpc_call_context(call);
        return &f->obs;
}

/* Echo the request's version; runtime_api_version tells the deadline the
 * handler saw ("none" without one). */
static int h_echo(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  ocid_error *err)
{
        const VersionRequest *q = (const VersionRequest *)req;
        atomic_fetch_add(&obs_of(call)->calls, 1);
        VersionResponse *r = new_response(q->version, rpc_call_path(call));
        uint64_t left = rpc_call_remaining_ms(call);
        free(r->runtime_api_version);
        if (left == UINT64_MAX)
                r->runtime_api_version = xstrdup("none");
        else if (asprintf(&r->runtime_api_version, "%llu", (unsigned long long)left) < 0)
                abort();
        *resp = &r->base;
        return 0;
}

/* Sleep for the number of ms in the request (at most 3 s) or until the call
 * is cancelled. */
static int h_sleep(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                   ocid_error *err)
{
        const VersionRequest *q = (const VersionRequest *)req;
        observed *o = obs_of(call);
        unsigned ms = (unsigned)strtoul(q->version, NULL, 10);
        if (!ms || ms > 3000)
                ms = 3000;
        atomic_fetch_add(&o->sleep_started, 1);
        uint64_t end = now_ms() + ms;
        while (now_ms() < end) {
                if (rpc_call_cancelled(call)) {
                        atomic_fetch_add(&o->sleep_saw_cancel, 1);
                        atomic_fetch_add(&o->sleep_finished, 1);
                        return ocid_error_set(err, OCID_ERR_CANCELLED, "gave up");
                }
                sleep_ms(5);
        }
        atomic_fetch_add(&o->sleep_finished, 1);
        *resp = &new_response("slept", "sleep")->base;
        return 0;
}

/* Send N messages (N in the request), runtime_version = index. */
static int h_stream(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                    ocid_error *err)
{
        const VersionRequest *q = (const VersionRequest *)req;
        unsigned n = (unsigned)strtoul(q->version, NULL, 10);
        for (unsigned i = 0; i < n; i++) {
                char idx[16];
                snprintf(idx, sizeof(idx), "%u", i);
                VersionResponse r = RUNTIME__V1__VERSION_RESPONSE__INIT;
                r.version = (char *)"stream";
                r.runtime_version = idx;
                if (rpc_call_send(call, &r.base, err) < 0)
                        return -1;
        }
        return 0;
}

/* "<kind>:<message>": fail with that kind and message. "none": fail without
 * setting err. */
static int h_fail(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                  ocid_error *err)
{
        const VersionRequest *q = (const VersionRequest *)req;
        if (STREQ(q->version, "none"))
                return -1;
        char *colon = strchr(q->version, ':');
        if (!colon)
                return ocid_error_set(err, OCID_ERR_INVALID, "bad test request");
        return ocid_error_set(err, (ocid_error_kind)atoi(q->version), "%s", colon + 1);
}

/* A response of the size in the request. */
static int h_big(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                 ocid_error *err)
{
        const VersionRequest *q = (const VersionRequest *)req;
        size_t n = strtoul(q->version, NULL, 10);
        VersionResponse *r = new_response("big", "");
        free(r->runtime_name);
        r->runtime_name = xcalloc(1, n + 1);
        memset(r->runtime_name, 'z', n);
        *resp = &r->base;
        return 0;
}

static int h_context(rpc_call *call, const ProtobufCMessage *req, ProtobufCMessage **resp,
                     ocid_error *err)
{
        fixture *f = rpc_call_context(call);
        if (!f || strncmp(f->dir, "/tmp/", 5) != 0)
                atomic_fetch_add(&f->obs.wrong_context, 1);
        *resp = &new_response("ctx", "")->base;
        return 0;
}

#define P_VERSION "/runtime.v1.RuntimeService/Version"
#define P_ECHO "/test.v1.Test/Echo"
#define P_SLEEP "/test.v1.Test/Sleep"
#define P_STREAM "/test.v1.Test/Stream"
#define P_STREAM_INLINE "/test.v1.Test/StreamInline"
#define P_FAIL "/test.v1.Test/Fail"
#define P_FAIL_INLINE "/test.v1.Test/FailInline"
#define P_BIG "/test.v1.Test/Big"
#define P_NULL "/test.v1.Test/NotYet"
#define P_CONTEXT "/test.v1.Test/Context"

static const rpc_method methods[] = {
        { P_VERSION, &runtime__v1__version_request__descriptor, h_echo, RPC_INLINE },
        { P_ECHO, &runtime__v1__version_request__descriptor, h_echo, RPC_BLOCKING },
        { P_SLEEP, &runtime__v1__version_request__descriptor, h_sleep, RPC_BLOCKING },
        { P_STREAM, &runtime__v1__version_request__descriptor, h_stream, RPC_STREAM },
        { P_STREAM_INLINE, &runtime__v1__version_request__descriptor, h_stream, RPC_STREAM | RPC_INLINE },
        { P_FAIL, &runtime__v1__version_request__descriptor, h_fail, RPC_BLOCKING },
        { P_FAIL_INLINE, &runtime__v1__version_request__descriptor, h_fail, RPC_INLINE },
        { P_BIG, &runtime__v1__version_request__descriptor, h_big, RPC_BLOCKING },
        { P_NULL, &runtime__v1__version_request__descriptor, NULL, RPC_BLOCKING },
        { P_CONTEXT, &runtime__v1__version_request__descriptor, h_context, RPC_INLINE },
};

/* ---- fixture ------------------------------------------------------------ */

static void *loop_thread(void *p)
{
        fixture *f = p;
        f->loop_rc = loop_run(f->l);
        return NULL;
}

static void quit_on_loop(void *p)
{
        loop_quit(p, 0);
}

static int setup(void **state)
{
        signal(SIGPIPE, SIG_IGN);
        fixture *f = xcalloc(1, sizeof(*f));
        snprintf(f->dir, sizeof(f->dir), "/tmp/ocid-test-server-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->sock, sizeof(f->sock), "%s/ocid.sock", f->dir);

        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 128), 0);

        assert_int_equal(loop_new(&f->l), 0);
        assert_int_equal(workers_new(f->l, WORKERS, &f->w), 0);
        server_options opts = {
                .methods = methods,
                .n_methods = ARRAY_SIZE(methods),
                .context = f,
                .max_recv_message = MAX_RECV,
                .max_send_message = MAX_SEND,
        };
        assert_int_equal(server_new(f->l, f->w, fd, &opts, &f->srv), 0);
        assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        fixture *f = *state;
        assert_int_equal(loop_post(f->l, quit_on_loop, f->l), 0);
        assert_int_equal(pthread_join(f->thread, NULL), 0);
        assert_int_equal(f->loop_rc, 0);
        server_free(f->srv);
        workers_free(f->w);
        loop_free(f->l);
        unlink(f->sock);
        rmdir(f->dir);
        free(f);
        return 0;
}

static grpc_client *connect_client(fixture *f)
{
        grpc_client *c = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (grpc_client_connect(f->sock, 5000, &c, &err) < 0)
                fail_msg("connect: %s", err.message);
        return c;
}

/* A unary call with VersionRequest{version}; returns the client's rc. */
static int call_version(grpc_client *c, const char *path, const char *version, uint64_t timeout_ms,
                        VersionResponse **ret, ocid_error *err)
{
        VersionRequest q = RUNTIME__V1__VERSION_REQUEST__INIT;
        q.version = (char *)version;
        ProtobufCMessage *m = NULL;
        int r = grpc_client_unary(c, path, &q.base, &runtime__v1__version_response__descriptor,
                                  timeout_ms, &m, err);
        if (r == 0) {
                if (ret)
                        *ret = (VersionResponse *)m;
                else
                        protobuf_c_message_free_unpacked(m, NULL);
        }
        return r;
}

static void assert_echo(grpc_client *c, const char *path, const char *version)
{
        VersionResponse *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (call_version(c, path, version, 0, &r, &err) < 0)
                fail_msg("%s: %s: %s", path, ocid_error_kind_name(err.kind), err.message);
        assert_string_equal(r->version, version);
        assert_string_equal(r->runtime_name, path);
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void assert_call_fails(grpc_client *c, const char *path, const char *version,
                              uint64_t timeout_ms, ocid_error_kind kind, const char *msg_part)
{
        ocid_error err = OCID_ERROR_INIT;
        VersionResponse *r = NULL;
        int rc = call_version(c, path, version, timeout_ms, &r, &err);
        if (rc == 0)
                fail_msg("%s: succeeded", path);
        if (err.kind != kind)
                fail_msg("%s: got %s (%s), want %s", path, ocid_error_kind_name(err.kind),
                         err.message, ocid_error_kind_name(kind));
        if (msg_part && (!err.message || !strstr(err.message, msg_part)))
                fail_msg("%s: message '%s' lacks '%s'", path, err.message, msg_part);
        ocid_error_clear(&err);
}

static bool wait_for(atomic_int *v, int want, unsigned ms)
{
        uint64_t end = now_ms() + ms;
        while (atomic_load(v) < want) {
                if (now_ms() > end)
                        return false;
                sleep_ms(2);
        }
        return true;
}

/* ---- tests -------------------------------------------------------------- */

static void test_unary_ok(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        assert_echo(c, P_VERSION, "0.1.0");
        assert_echo(c, P_ECHO, "hello");
        /* Several calls on one connection, inline and on workers. */
        for (int i = 0; i < 20; i++) {
                char v[16];
                snprintf(v, sizeof(v), "v%d", i);
                assert_echo(c, i % 2 ? P_VERSION : P_ECHO, v);
        }
        /* An empty request (zero-length message) is a valid request. */
        assert_echo(c, P_ECHO, "");
        /* The context pointer reaches handlers. */
        VersionResponse *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(call_version(c, P_CONTEXT, "", 0, &r, &err), 0);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        assert_int_equal(atomic_load(&f->obs.wrong_context), 0);
        grpc_client_free(c);
}

static void test_deadline_visible_to_handler(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        VersionResponse *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(call_version(c, P_ECHO, "x", 0, &r, &err), 0);
        assert_string_equal(r->runtime_api_version, "none");
        protobuf_c_message_free_unpacked(&r->base, NULL);
        assert_int_equal(call_version(c, P_ECHO, "x", 5000, &r, &err), 0);
        unsigned long left = strtoul(r->runtime_api_version, NULL, 10);
        assert_true(left > 3000 && left <= 5000);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        grpc_client_free(c);
}

static void test_error_kinds(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        static const ocid_error_kind kinds[] = {
                OCID_ERR_INTERNAL, OCID_ERR_INVALID, OCID_ERR_NOT_FOUND, OCID_ERR_EXISTS,
                OCID_ERR_PRECONDITION, OCID_ERR_DEADLINE, OCID_ERR_CANCELLED,
                OCID_ERR_UNAVAILABLE, OCID_ERR_PERMISSION, OCID_ERR_RESOURCE,
                OCID_ERR_UNIMPLEMENTED,
        };
        static const char *const texts[] = {
                "container 'abc' not found",
                "100% broken",
                "%41 is not an escape",
                "échec: ☃ 日本語",
                "line one\nline two\ttab",
                "",
        };
        for (size_t p = 0; p < 2; p++) {
                const char *path = p ? P_FAIL_INLINE : P_FAIL;
                for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
                        for (size_t t = 0; t < ARRAY_SIZE(texts); t++) {
                                char req[128];
                                snprintf(req, sizeof(req), "%d:%s", kinds[i], texts[t]);
                                ocid_error err = OCID_ERROR_INIT;
                                assert_true(call_version(c, path, req, 0, NULL, &err) < 0);
                                /* The kind survives the trip through the status code. */
                                assert_int_equal(err.kind, kinds[i]);
                                assert_int_equal(grpc_status_to_error(grpc_status_from_error(kinds[i])),
                                                 kinds[i]);
                                assert_non_null(err.message);
                                if (*texts[t])
                                        assert_string_equal(err.message, texts[t]);
                                else
                                        /* No message: the client names the status. */
                                        assert_string_equal(err.message,
                                                            grpc_status_name(grpc_status_from_error(kinds[i])));
                                ocid_error_clear(&err);
                        }
                }
        }
        /* A handler failing without a reason still yields INTERNAL. */
        assert_call_fails(c, P_FAIL, "none", 0, OCID_ERR_INTERNAL, "without a reason");
        assert_call_fails(c, P_FAIL_INLINE, "none", 0, OCID_ERR_INTERNAL, "without a reason");
        /* The connection still works. */
        assert_echo(c, P_VERSION, "after errors");
        grpc_client_free(c);
}

static void test_unimplemented(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        assert_call_fails(c, P_NULL, "", 0, OCID_ERR_UNIMPLEMENTED, P_NULL);
        assert_call_fails(c, "/runtime.v1.RuntimeService/NoSuchMethod", "", 0,
                          OCID_ERR_UNIMPLEMENTED, "NoSuchMethod");
        assert_call_fails(c, "/", "", 0, OCID_ERR_UNIMPLEMENTED, NULL);
        /* A very long path. */
        char longpath[1024];
        memset(longpath, 'a', sizeof(longpath) - 1);
        longpath[0] = '/';
        longpath[sizeof(longpath) - 1] = '\0';
        assert_call_fails(c, longpath, "", 0, OCID_ERR_UNIMPLEMENTED, "unknown method");
        assert_echo(c, P_VERSION, "still serving");
        grpc_client_free(c);
}

static void test_deadline(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        uint64_t start = now_ms();
        assert_call_fails(c, P_SLEEP, "3000", 200, OCID_ERR_DEADLINE, "deadline");
        uint64_t took = now_ms() - start;
        if (took < 190 || took > 700)
                fail_msg("deadline of 200 ms took %llu ms", (unsigned long long)took);
        /* The handler sees the cancellation and stops early. */
        assert_true(wait_for(&f->obs.sleep_saw_cancel, 1, 1000));
        assert_int_equal(atomic_load(&f->obs.sleep_finished), 1);
        /* A call that fits in its deadline is fine. */
        VersionResponse *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(call_version(c, P_SLEEP, "20", 2000, &r, &err), 0);
        assert_string_equal(r->version, "slept");
        protobuf_c_message_free_unpacked(&r->base, NULL);
        /* Inline calls with a deadline. */
        assert_int_equal(call_version(c, P_VERSION, "x", 1000, &r, &err), 0);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        grpc_client_free(c);
}

typedef struct {
        fixture *f;
        const char *path;
        const char *version;
        uint64_t timeout_ms;
        int rc;
        ocid_error_kind kind;
        uint64_t took;
} bg_call;

static void *bg_call_thread(void *p)
{
        bg_call *b = p;
        grpc_client *c = connect_client(b->f);
        ocid_error err = OCID_ERROR_INIT;
        uint64_t start = now_ms();
        b->rc = call_version(c, b->path, b->version, b->timeout_ms, NULL, &err);
        b->took = now_ms() - start;
        b->kind = err.kind;
        ocid_error_clear(&err);
        grpc_client_free(c);
        return NULL;
}

static void test_slow_does_not_block_fast(void **state)
{
        fixture *f = *state;
        bg_call slow = { f, P_SLEEP, "1000", 0, -99, OCID_OK, 0 };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, bg_call_thread, &slow), 0);
        assert_true(wait_for(&f->obs.sleep_started, 1, 2000));
        grpc_client *c = connect_client(f);
        uint64_t start = now_ms();
        assert_echo(c, P_VERSION, "fast");
        assert_echo(c, P_ECHO, "fast on a worker");
        uint64_t took = now_ms() - start;
        if (took > 300)
                fail_msg("fast calls took %llu ms next to a slow one", (unsigned long long)took);
        assert_int_equal(atomic_load(&f->obs.sleep_finished), 0);
        pthread_join(t, NULL);
        assert_int_equal(slow.rc, 0);
        assert_true(slow.took >= 990);
        grpc_client_free(c);
}

typedef struct {
        unsigned next;
        bool out_of_order;
} stream_seen;

static int on_stream_message(ProtobufCMessage *msg, void *data, ocid_error *err)
{
        stream_seen *s = data;
        VersionResponse *r = (VersionResponse *)msg;
        if (strtoul(r->runtime_version, NULL, 10) != s->next || !STREQ(r->version, "stream"))
                s->out_of_order = true;
        s->next++;
        return 0;
}

static void stream_call(grpc_client *c, const char *path, unsigned n)
{
        char req[16];
        snprintf(req, sizeof(req), "%u", n);
        VersionRequest q = RUNTIME__V1__VERSION_REQUEST__INIT;
        q.version = req;
        stream_seen seen = { 0 };
        ocid_error err = OCID_ERROR_INIT;
        int r = grpc_client_call(c, path, &q.base, &runtime__v1__version_response__descriptor, 0,
                                 on_stream_message, &seen, &err);
        if (r < 0)
                fail_msg("%s(%u): %s", path, n, err.message);
        assert_int_equal(seen.next, n);
        assert_false(seen.out_of_order);
}

static void test_streaming(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        stream_call(c, P_STREAM, 0);
        stream_call(c, P_STREAM, 1);
        stream_call(c, P_STREAM, 5000);
        stream_call(c, P_STREAM_INLINE, 0);
        stream_call(c, P_STREAM_INLINE, 3);
        stream_call(c, P_STREAM_INLINE, 2000);
        /* A unary client gets the one message of a 1-message stream and
         * refuses two. */
        VersionRequest q = RUNTIME__V1__VERSION_REQUEST__INIT;
        q.version = (char *)"2";
        ProtobufCMessage *m = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_true(grpc_client_unary(c, P_STREAM, &q.base, &runtime__v1__version_response__descriptor,
                                      0, &m, &err) < 0);
        assert_non_null(strstr(err.message, "more than one"));
        ocid_error_clear(&err);
        /* The client reset that stream; its connection still works. */
        assert_echo(c, P_VERSION, "after stream");
        stream_call(c, P_STREAM, 10);
        grpc_client_free(c);
}

static void test_max_recv(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        /* The request message is the version string plus 2-4 bytes of tag
         * and length. */
        _cleanup_free_ char *fits = xcalloc(1, MAX_RECV);
        memset(fits, 'a', MAX_RECV - 4);
        assert_echo(c, P_ECHO, fits);
        _cleanup_free_ char *big = xcalloc(1, MAX_RECV + 1);
        memset(big, 'b', MAX_RECV);
        assert_call_fails(c, P_ECHO, big, 0, OCID_ERR_RESOURCE, "exceeds");
        assert_call_fails(c, P_VERSION, big, 0, OCID_ERR_RESOURCE, "exceeds");
        /* Much larger than the limit and than the flow-control windows. */
        _cleanup_free_ char *huge = xcalloc(1, 4 * 1024 * 1024 + 1);
        memset(huge, 'h', 4 * 1024 * 1024);
        assert_call_fails(c, P_ECHO, huge, 0, OCID_ERR_RESOURCE, "exceeds");
        /* The same connection and new ones keep being served. */
        assert_echo(c, P_VERSION, "still here");
        grpc_client_free(c);
        c = connect_client(f);
        assert_echo(c, P_ECHO, "new connection");
        grpc_client_free(c);
        assert_int_equal(atomic_load(&f->obs.calls), 3);
}

static void test_max_send(void **state)
{
        fixture *f = *state;
        grpc_client *c = connect_client(f);
        char n[32];
        snprintf(n, sizeof(n), "%d", MAX_SEND - 64);
        VersionResponse *r = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(call_version(c, P_BIG, n, 0, &r, &err), 0);
        assert_int_equal(strlen(r->runtime_name), MAX_SEND - 64);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        snprintf(n, sizeof(n), "%d", MAX_SEND);
        assert_call_fails(c, P_BIG, n, 0, OCID_ERR_RESOURCE, "exceeds");
        assert_echo(c, P_VERSION, "still here");
        grpc_client_free(c);
}

#define CONCURRENT 50
#define CALLS_EACH 10

typedef struct {
        fixture *f;
        int id;
        int failures;
        char first_error[256];
} client_thread;

static void *many_calls(void *p)
{
        client_thread *t = p;
        grpc_client *c = NULL;
        ocid_error err = OCID_ERROR_INIT;
        if (grpc_client_connect(t->f->sock, 5000, &c, &err) < 0) {
                t->failures = CALLS_EACH;
                snprintf(t->first_error, sizeof(t->first_error), "%s", err.message);
                ocid_error_clear(&err);
                return NULL;
        }
        for (int i = 0; i < CALLS_EACH; i++) {
                char v[32];
                snprintf(v, sizeof(v), "client %d call %d", t->id, i);
                int kind = (i + t->id) % 3;
                const char *path = kind == 0 ? P_VERSION : kind == 1 ? P_ECHO : P_SLEEP;
                VersionResponse *r = NULL;
                int rc = call_version(c, path, kind == 2 ? "5" : v, 5000, &r, &err);
                if (rc < 0 || (kind != 2 && !STREQ(r->version, v))) {
                        if (!t->failures++)
                                snprintf(t->first_error, sizeof(t->first_error), "%s: %s", path,
                                         rc < 0 ? err.message : "wrong echo");
                        ocid_error_clear(&err);
                }
                if (r)
                        protobuf_c_message_free_unpacked(&r->base, NULL);
        }
        grpc_client_free(c);
        return NULL;
}

static void test_concurrent_clients(void **state)
{
        fixture *f = *state;
        pthread_t threads[CONCURRENT];
        client_thread args[CONCURRENT];
        for (int i = 0; i < CONCURRENT; i++) {
                args[i] = (client_thread){ .f = f, .id = i };
                assert_int_equal(pthread_create(&threads[i], NULL, many_calls, &args[i]), 0);
        }
        int failures = 0;
        for (int i = 0; i < CONCURRENT; i++) {
                pthread_join(threads[i], NULL);
                if (args[i].failures)
                        print_error("client %d: %d failures, first: %s\n", i, args[i].failures,
                                    args[i].first_error);
                failures += args[i].failures;
        }
        assert_int_equal(failures, 0);
}

static void shutdown_done(void *p)
{
        fixture *f = p;
        atomic_store(&f->shutdown_in_flight_at_done, (int)server_calls_in_flight(f->srv));
        atomic_fetch_add(&f->shutdown_done, 1);
}

static void shutdown_on_loop(void *p)
{
        fixture *f = p;
        server_shutdown(f->srv, 10000, shutdown_done, f);
}

static void shutdown_grace_on_loop(void *p)
{
        fixture *f = p;
        server_shutdown(f->srv, 100, shutdown_done, f);
}

static void test_shutdown_with_call_in_flight(void **state)
{
        fixture *f = *state;
        /* An idle connection: the shutdown must not wait for it. */
        grpc_client *idle = connect_client(f);
        assert_echo(idle, P_VERSION, "idle");

        bg_call slow = { f, P_SLEEP, "400", 0, -99, OCID_OK, 0 };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, bg_call_thread, &slow), 0);
        assert_true(wait_for(&f->obs.sleep_started, 1, 2000));
        uint64_t start = now_ms();
        assert_int_equal(loop_post(f->l, shutdown_on_loop, f), 0);
        pthread_join(t, NULL);
        /* The call in flight completes normally. */
        assert_int_equal(slow.rc, 0);
        assert_true(wait_for(&f->shutdown_done, 1, 2000));
        uint64_t took = now_ms() - start;
        assert_true(took < 2000); /* well before the 10 s grace period */
        assert_int_equal(atomic_load(&f->obs.sleep_finished), 1);
        assert_int_equal(atomic_load(&f->shutdown_in_flight_at_done), 0);
        /* No new connections once shut down. */
        grpc_client *c = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_true(grpc_client_connect(f->sock, 1000, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_UNAVAILABLE);
        ocid_error_clear(&err);
        /* The idle connection got GOAWAY and was closed. */
        assert_true(call_version(idle, P_VERSION, "late", 1000, NULL, &err) < 0);
        ocid_error_clear(&err);
        grpc_client_free(idle);
        sleep_ms(20);
        assert_int_equal(atomic_load(&f->shutdown_done), 1);
}

static void test_shutdown_idle(void **state)
{
        fixture *f = *state;
        assert_int_equal(loop_post(f->l, shutdown_on_loop, f), 0);
        assert_true(wait_for(&f->shutdown_done, 1, 1000));
}

static void test_shutdown_grace_expires(void **state)
{
        fixture *f = *state;
        bg_call slow = { f, P_SLEEP, "1500", 0, -99, OCID_OK, 0 };
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, bg_call_thread, &slow), 0);
        assert_true(wait_for(&f->obs.sleep_started, 1, 2000));
        assert_int_equal(loop_post(f->l, shutdown_grace_on_loop, f), 0);
        /* done runs at the end of the 100 ms grace, with the call still
         * running. */
        assert_true(wait_for(&f->shutdown_done, 1, 1000));
        assert_int_equal(atomic_load(&f->shutdown_in_flight_at_done), 1);
        assert_int_equal(atomic_load(&f->obs.sleep_finished), 0);
        pthread_join(t, NULL);
        assert_int_equal(slow.rc, 0);
        assert_int_equal(atomic_load(&f->shutdown_done), 1);
}

/* ---- raw HTTP/2: what grpc_client never sends ---------------------------- */

typedef struct {
        int fd;
        nghttp2_session *session;
        int32_t id;
        bool closed;
        uint32_t close_code;
        int http_status;
        int grpc_status;
        const uint8_t *body;
        size_t body_len, body_off;
} raw_call;

static ssize_t raw_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *source, void *user_data)
{
        raw_call *rc = source->ptr;
        size_t n = rc->body_len - rc->body_off;
        if (n > length)
                n = length;
        memcpy(buf, rc->body + rc->body_off, n);
        rc->body_off += n;
        if (rc->body_off == rc->body_len)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t)n;
}

static int raw_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                      size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                      void *user_data)
{
        raw_call *rc = user_data;
        char v[32] = "";
        snprintf(v, sizeof(v), "%.*s", (int)valuelen, (const char *)value);
        if (namelen == 7 && memcmp(name, ":status", 7) == 0)
                rc->http_status = atoi(v);
        else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
                rc->grpc_status = atoi(v);
        return 0;
}

static int raw_close(nghttp2_session *session, int32_t id, uint32_t code, void *user_data)
{
        raw_call *rc = user_data;
        if (id == rc->id) {
                rc->closed = true;
                rc->close_code = code;
        }
        return 0;
}

static void raw_open(fixture *f, raw_call *rc)
{
        *rc = (raw_call){ .grpc_status = -1 };
        rc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
        assert_int_equal(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        nghttp2_session_callbacks *cb;
        assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
        nghttp2_session_callbacks_set_on_header_callback(cb, raw_header);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, raw_close);
        assert_int_equal(nghttp2_session_client_new(&rc->session, cb, rc), 0);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(rc->session, NGHTTP2_FLAG_NONE, NULL, 0);
}

static void raw_release(raw_call *rc)
{
        nghttp2_session_del(rc->session);
        close(rc->fd);
}

/* Move bytes until the stream closes, the server hangs up, or ms pass;
 * at least once. */
static void raw_pump(raw_call *rc, unsigned ms)
{
        uint64_t end = now_ms() + ms;
        for (bool first = true; first || (!rc->closed && now_ms() < end); first = false) {
                const uint8_t *out;
                ssize_t n;
                while ((n = nghttp2_session_mem_send(rc->session, &out)) > 0)
                        if (send(rc->fd, out, (size_t)n, MSG_NOSIGNAL) != n)
                                return;
                struct pollfd pfd = { .fd = rc->fd, .events = POLLIN };
                if (poll(&pfd, 1, 20) <= 0)
                        continue;
                uint8_t buf[16384];
                ssize_t r = recv(rc->fd, buf, sizeof(buf), 0);
                if (r <= 0)
                        return;
                if (nghttp2_session_mem_recv(rc->session, buf, (size_t)r) < 0)
                        return;
        }
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

static void raw_request(fixture *f, const nghttp2_nv *nv, size_t n, const void *body, size_t len,
                        bool with_body, int *ret_http, int *ret_grpc)
{
        raw_call rc;
        raw_open(f, &rc);
        rc.body = body;
        rc.body_len = len;
        nghttp2_data_provider provider = { .source.ptr = &rc, .read_callback = raw_read };
        rc.id = nghttp2_submit_request(rc.session, NULL, nv, n, with_body ? &provider : NULL, &rc);
        assert_true(rc.id > 0);
        raw_pump(&rc, 3000);
        assert_true(rc.closed);
        *ret_http = rc.http_status;
        *ret_grpc = rc.grpc_status;
        raw_release(&rc);
}

static void test_raw_http(void **state)
{
        fixture *f = *state;
        int http, grpc;
        uint8_t one[] = { 0, 0, 0, 0, 0 };

        const nghttp2_nv get[] = {
                NV(":method", "GET"), NV(":scheme", "http"), NV(":path", P_VERSION),
                NV(":authority", "localhost"), NV("content-type", "application/grpc"),
        };
        raw_request(f, get, ARRAY_SIZE(get), NULL, 0, false, &http, &grpc);
        assert_int_equal(http, 405);

        const nghttp2_nv json[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_VERSION),
                NV(":authority", "localhost"), NV("content-type", "application/json"),
        };
        raw_request(f, json, ARRAY_SIZE(json), one, sizeof(one), true, &http, &grpc);
        assert_int_equal(http, 415);

        const nghttp2_nv nopath[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":authority", "localhost"),
                NV("content-type", "application/grpc"),
        };
        raw_request(f, nopath, ARRAY_SIZE(nopath), one, sizeof(one), true, &http, &grpc);
        assert_int_equal(http, 200);
        assert_int_equal(grpc, GRPC_UNIMPLEMENTED);

        /* grpc-go's :authority is the socket path; content-type with a
         * suffix. */
        const nghttp2_nv ok[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_VERSION),
                NV(":authority", "/run/ocid/ocid.sock"), NV("content-type", "application/grpc+proto"),
                NV("te", "trailers"),
        };
        raw_request(f, ok, ARRAY_SIZE(ok), one, sizeof(one), true, &http, &grpc);
        assert_int_equal(http, 200);
        assert_int_equal(grpc, GRPC_OK);

        /* No message at all. */
        raw_request(f, ok, ARRAY_SIZE(ok), NULL, 0, false, &http, &grpc);
        assert_int_equal(grpc, GRPC_INTERNAL);
        /* A truncated message. */
        uint8_t trunc[] = { 0, 0, 0, 0, 9, 1, 2 };
        raw_request(f, ok, ARRAY_SIZE(ok), trunc, sizeof(trunc), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_INTERNAL);
        /* Two messages for a unary call. */
        uint8_t two[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        raw_request(f, ok, ARRAY_SIZE(ok), two, sizeof(two), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_INTERNAL);
        /* A compressed message. */
        uint8_t comp[] = { 1, 0, 0, 0, 1, 0 };
        raw_request(f, ok, ARRAY_SIZE(ok), comp, sizeof(comp), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_UNIMPLEMENTED);
        /* Not a VersionRequest: field 1 as a varint of the wrong wire type,
         * truncated. */
        uint8_t junk[] = { 0, 0, 0, 0, 2, 0x0a, 0x05 };
        raw_request(f, ok, ARRAY_SIZE(ok), junk, sizeof(junk), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_INVALID_ARGUMENT);

        /* grpc-timeout of zero: DEADLINE_EXCEEDED at once; malformed: ignored. */
        const nghttp2_nv zero[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_VERSION),
                NV(":authority", "x"), NV("content-type", "application/grpc"), NV("grpc-timeout", "0m"),
        };
        raw_request(f, zero, ARRAY_SIZE(zero), one, sizeof(one), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_DEADLINE_EXCEEDED);
        const nghttp2_nv badto[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_VERSION),
                NV(":authority", "x"), NV("content-type", "application/grpc"), NV("grpc-timeout", "soon"),
        };
        raw_request(f, badto, ARRAY_SIZE(badto), one, sizeof(one), true, &http, &grpc);
        assert_int_equal(grpc, GRPC_OK);

        grpc_client *c = connect_client(f);
        assert_echo(c, P_VERSION, "after raw");
        grpc_client_free(c);
}

/* An error found before the request ended: the server answers at once and
 * resets the stream, so the client stops sending. */
static void test_early_error_stops_upload(void **state)
{
        fixture *f = *state;
        const size_t len = 8 * 1024 * 1024;
        uint8_t *body = xcalloc(1, len);
        grpc_frame_header(body, (uint32_t)len); /* a message above MAX_RECV */
        raw_call rc;
        raw_open(f, &rc);
        rc.body = body;
        rc.body_len = len;
        const nghttp2_nv nv[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_ECHO),
                NV(":authority", "x"), NV("content-type", "application/grpc"),
        };
        nghttp2_data_provider provider = { .source.ptr = &rc, .read_callback = raw_read };
        rc.id = nghttp2_submit_request(rc.session, NULL, nv, ARRAY_SIZE(nv), &provider, &rc);
        raw_pump(&rc, 5000);
        assert_true(rc.closed);
        assert_int_equal(rc.grpc_status, GRPC_RESOURCE_EXHAUSTED);
        assert_int_equal(rc.close_code, NGHTTP2_NO_ERROR);
        /* Stopped well short of the whole body. */
        assert_true(rc.body_off < len / 2);
        raw_release(&rc);
        free(body);

        grpc_client *c = connect_client(f);
        assert_echo(c, P_VERSION, "after early errors");
        grpc_client_free(c);
}

/* The client hangs up mid-call: the handler sees the cancellation. */
static void test_client_goes_away(void **state)
{
        fixture *f = *state;
        raw_call rc;
        raw_open(f, &rc);
        uint8_t req[] = { 0, 0, 0, 0, 6, 0x0a, 0x04, '3', '0', '0', '0' };
        rc.body = req;
        rc.body_len = sizeof(req);
        const nghttp2_nv nv[] = {
                NV(":method", "POST"), NV(":scheme", "http"), NV(":path", P_SLEEP),
                NV(":authority", "x"), NV("content-type", "application/grpc"),
        };
        nghttp2_data_provider provider = { .source.ptr = &rc, .read_callback = raw_read };
        rc.id = nghttp2_submit_request(rc.session, NULL, nv, ARRAY_SIZE(nv), &provider, &rc);
        assert_true(rc.id > 0);
        raw_pump(&rc, 0);
        assert_true(wait_for(&f->obs.sleep_started, 1, 2000));
        uint64_t start = now_ms();
        raw_release(&rc);
        assert_true(wait_for(&f->obs.sleep_saw_cancel, 1, 1000));
        assert_true(now_ms() - start < 1000);

        /* Same with a stream reset instead of a hang-up. */
        raw_open(f, &rc);
        rc.body = req;
        rc.body_len = sizeof(req);
        rc.id = nghttp2_submit_request(rc.session, NULL, nv, ARRAY_SIZE(nv), &provider, &rc);
        raw_pump(&rc, 0);
        assert_true(wait_for(&f->obs.sleep_started, 2, 2000));
        nghttp2_submit_rst_stream(rc.session, NGHTTP2_FLAG_NONE, rc.id, NGHTTP2_CANCEL);
        raw_pump(&rc, 100);
        assert_true(wait_for(&f->obs.sleep_saw_cancel, 2, 1000));
        raw_release(&rc);

        /* Garbage instead of the HTTP/2 preface. */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->sock);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_int_equal(send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(junk) - 1);
        char buf[256];
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&pfd, 1, 2000), 1);
        /* The server closes it (after an optional GOAWAY). */
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
                ;
        assert_int_equal(n, 0);
        close(fd);

        grpc_client *c = connect_client(f);
        assert_echo(c, P_VERSION, "after hang-ups");
        grpc_client_free(c);
}

/* A server that accepts but never answers: the client gives up on its own
 * about a second after the deadline, and the client stays usable (the
 * abandoned stream, whose request could not all be sent, must not be
 * touched again). */
/* A unix socket listening at dir/s.sock in a new temp dir (dir is a
 * mkdtemp template); path receives the socket's path. */
static int listen_in_temp_dir(char *dir, char *path, size_t path_size)
{
        assert_non_null(mkdtemp(dir));
        snprintf(path, path_size, "%s/s.sock", dir);
        int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 4), 0);
        return lfd;
}

static void test_client_deadline_silent_server(void **state)
{
        char dir[] = "/tmp/ocid-test-silent-XXXXXX";
        char path[sizeof(dir) + 16];
        int lfd = listen_in_temp_dir(dir, path, sizeof(path));

        grpc_client *c = NULL;
        ocid_error err = OCID_ERROR_INIT;
        assert_int_equal(grpc_client_connect(path, 0, &c, &err), 0);
        /* Larger than the default 64 KiB window a silent peer never opens. */
        _cleanup_free_ char *big = xcalloc(1, 200 * 1024);
        memset(big, 'q', 200 * 1024 - 1);
        int afd = -1;
        for (int i = 0; i < 2; i++) {
                uint64_t start = now_ms();
                assert_true(call_version(c, P_VERSION, big, 100, NULL, &err) < 0);
                assert_int_equal(err.kind, OCID_ERR_DEADLINE);
                ocid_error_clear(&err);
                uint64_t took = now_ms() - start;
                assert_true(took >= 100 && took < 3000);
                if (i == 0) {
                        /* Now the "server" wakes up and opens the windows of
                         * the connection and of the first, abandoned stream:
                         * the client must not resume sending that stream's
                         * body from the finished call's stack frame. */
                        static const uint8_t wake[] = {
                                0, 0, 0, 4, 0, 0, 0, 0, 0,                      /* SETTINGS */
                                0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0x10, 0, 0,       /* WINDOW_UPDATE 0 */
                                0, 0, 4, 8, 0, 0, 0, 0, 1, 0, 0x10, 0, 0,       /* WINDOW_UPDATE 1 */
                        };
                        afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                        assert_true(afd >= 0);
                        assert_int_equal(write(afd, wake, sizeof(wake)), (ssize_t)sizeof(wake));
                }
        }
        grpc_client_free(c);
        close(afd);
        close(lfd);
        unlink(path);
        rmdir(dir);

        /* Bad endpoints. */
        assert_true(grpc_client_connect("tcp://127.0.0.1:1", 0, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        ocid_error_clear(&err);
        assert_true(grpc_client_connect("unix://", 0, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_INVALID);
        ocid_error_clear(&err);
        assert_true(grpc_client_connect("unix:///nonexistent/ocid.sock", 0, &c, &err) < 0);
        assert_int_equal(err.kind, OCID_ERR_UNAVAILABLE);
        assert_non_null(strstr(err.message, "no such file"));
        ocid_error_clear(&err);
}

/* A server that answers every call with an empty message (a valid
 * VersionResponse) and trailers whose grpc-status is `status` (one nghttp2
 * server session on one connection, in a thread). */
typedef struct {
        int fd;
        const char *status;
} odd_server;

static ssize_t odd_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *p)
{
        odd_server *o = p;
        ssize_t n = send(o->fd, data, len, MSG_NOSIGNAL);
        return n < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : n;
}

static ssize_t odd_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *p)
{
        odd_server *o = p;
        memset(buf, 0, 5); /* not compressed, 0 bytes long */
        *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        nghttp2_nv trailer[] = {
                { (uint8_t *)"grpc-status", (uint8_t *)o->status, 11, strlen(o->status), 0 },
        };
        nghttp2_submit_trailer(s, id, trailer, 1);
        return 5;
}

static int odd_frame(nghttp2_session *s, const nghttp2_frame *f, void *p)
{
        if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
            (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
                return 0;
        nghttp2_nv head[] = {
                { (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
                { (uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, 0 },
        };
        nghttp2_data_provider body = { .read_callback = odd_body };
        nghttp2_submit_response(s, f->hd.stream_id, head, 2, &body);
        return 0;
}

static void *odd_server_main(void *p)
{
        odd_server *o = p;
        nghttp2_session_callbacks *cb;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_send_callback(cb, odd_send);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, odd_frame);
        nghttp2_session *s;
        nghttp2_session_server_new(&s, cb, o);
        nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, NULL, 0);
        uint8_t buf[16384];
        ssize_t n;
        while (nghttp2_session_send(s) == 0 && (n = recv(o->fd, buf, sizeof(buf), 0)) > 0)
                if (nghttp2_session_mem_recv(s, buf, (size_t)n) < 0)
                        break;
        nghttp2_session_del(s);
        nghttp2_session_callbacks_del(cb);
        return NULL;
}

/* A grpc-status that is not a status code is UNKNOWN to the client, as
 * gRPC says, never OK. */
static void test_client_odd_grpc_status(void **state)
{
        /* "0" first: the same answer with a real OK status succeeds. */
        static const char *const odd[] = { "0", "abc", "", "0x", "17", "123", "-1" };
        for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
                char dir[] = "/tmp/ocid-test-odd-XXXXXX";
                char path[sizeof(dir) + 16];
                int lfd = listen_in_temp_dir(dir, path, sizeof(path));
                grpc_client *c = NULL;
                ocid_error err = OCID_ERROR_INIT;
                assert_int_equal(grpc_client_connect(path, 0, &c, &err), 0);
                odd_server o = { .fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), .status = odd[i] };
                assert_true(o.fd >= 0);
                pthread_t t;
                assert_int_equal(pthread_create(&t, NULL, odd_server_main, &o), 0);
                int r = call_version(c, P_VERSION, "x", 5000, NULL, &err);
                if (i == 0) {
                        assert_int_equal(r, 0);
                } else {
                        assert_true(r < 0);
                        assert_int_not_equal(err.kind, OCID_ERR_DEADLINE);
                        assert_non_null(err.message);
                }
                ocid_error_clear(&err);
                grpc_client_free(c);
                shutdown(o.fd, SHUT_RDWR);
                pthread_join(t, NULL);
                close(o.fd);
                close(lfd);
                unlink(path);
                rmdir(dir);
        }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(test_unary_ok),
                T(test_deadline_visible_to_handler),
                T(test_error_kinds),
                T(test_unimplemented),
                T(test_deadline),
                T(test_slow_does_not_block_fast),
                T(test_streaming),
                T(test_max_recv),
                T(test_max_send),
                T(test_concurrent_clients),
                T(test_shutdown_with_call_in_flight),
                T(test_shutdown_idle),
                T(test_shutdown_grace_expires),
                T(test_raw_http),
                T(test_early_error_stops_upload),
                T(test_client_goes_away),
                cmocka_unit_test(test_client_deadline_silent_server),
                cmocka_unit_test(test_client_odd_grpc_status),
        };
        /* OCID_TEST_FILTER=test_deadline runs one test (cmocka's glob). */
        if (getenv("OCID_TEST_FILTER"))
                cmocka_set_test_filter(getenv("OCID_TEST_FILTER"));
        return cmocka_run_group_tests(tests, NULL, NULL);
}
