#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "server/loop.h"
#include "server/workers.h"
#include "util/cleanup.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static uint64_t now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Every test arms this so that a broken loop fails instead of hanging. */
static void watchdog_fired(loop_source *src, void *data)
{
        fail_msg("watchdog: the loop did not finish in time");
}

static loop *new_loop(void)
{
        loop *l = NULL;
        assert_int_equal(loop_new(&l), 0);
        assert_non_null(l);
        assert_int_equal(loop_add_timer(l, 10000, watchdog_fired, NULL, NULL), 0);
        return l;
}

/* ---- timers ------------------------------------------------------------- */

typedef struct {
        loop *l;
        int order[16];
        uint64_t at[16];
        int n;
        int quit_after;
        uint64_t start;
} timer_log;

typedef struct {
        timer_log *log;
        int id;
} timer_arg;

static void timer_fired(loop_source *src, void *data)
{
        timer_arg *a = data;
        timer_log *t = a->log;
        t->at[t->n] = now_ms() - t->start;
        t->order[t->n++] = a->id;
        if (t->n == t->quit_after)
                loop_quit(t->l, 7);
}

static void test_timers_fire_in_order(void **state)
{
        loop *l = new_loop();
        timer_log t = { .l = l, .quit_after = 5, .start = now_ms() };
        static const uint64_t delays[] = { 120, 40, 80, 0, 160 };
        timer_arg args[ARRAY_SIZE(delays)];
        for (size_t i = 0; i < ARRAY_SIZE(delays); i++) {
                args[i] = (timer_arg){ &t, (int)i };
                loop_source *s = NULL;
                assert_int_equal(loop_add_timer(l, delays[i], timer_fired, &args[i], &s), 0);
                assert_non_null(s);
        }
        assert_int_equal(loop_run(l), 7);
        static const int want[] = { 3, 1, 2, 0, 4 };
        assert_int_equal(t.n, 5);
        for (int i = 0; i < 5; i++) {
                assert_int_equal(t.order[i], want[i]);
                /* Never early. */
                assert_true(t.at[i] + 1 >= delays[want[i]]);
        }
        loop_free(l);
}

static void test_timer_removed_before_firing(void **state)
{
        loop *l = new_loop();
        timer_log t = { .l = l, .quit_after = 1, .start = now_ms() };
        timer_arg never = { &t, 1 }, last = { &t, 2 };
        loop_source *s = NULL;
        assert_int_equal(loop_add_timer(l, 20, timer_fired, &never, &s), 0);
        assert_int_equal(loop_add_timer(l, 60, timer_fired, &last, NULL), 0);
        loop_source_remove(s);
        loop_source_remove(NULL);
        assert_int_equal(loop_run(l), 7);
        assert_int_equal(t.n, 1);
        assert_int_equal(t.order[0], 2);
        loop_free(l);
}

/* ---- posting from other threads ----------------------------------------- */

#define POSTERS 8
#define POSTS_EACH 500

typedef struct {
        loop *l;
        pthread_t loop_thread;
        int next_seq[POSTERS];
        int total;
        bool wrong_thread;
        bool out_of_order;
} post_state;

typedef struct {
        post_state *ps;
        int thread;
        int seq;
} post_item;

static void on_posted(void *data)
{
        post_item *it = data;
        post_state *ps = it->ps;
        if (!pthread_equal(pthread_self(), ps->loop_thread))
                ps->wrong_thread = true;
        if (it->seq != ps->next_seq[it->thread])
                ps->out_of_order = true;
        ps->next_seq[it->thread] = it->seq + 1;
        if (++ps->total == POSTERS * POSTS_EACH)
                loop_quit(ps->l, 0);
        free(it);
}

typedef struct {
        post_state *ps;
        int thread;
} poster_arg;

static void *poster(void *p)
{
        poster_arg *a = p;
        for (int i = 0; i < POSTS_EACH; i++) {
                post_item *it = malloc(sizeof(*it));
                *it = (post_item){ a->ps, a->thread, i };
                if (loop_post(a->ps->l, on_posted, it) < 0)
                        abort();
                if (i % 64 == 0)
                        sched_yield();
        }
        return NULL;
}

static void test_post_from_threads(void **state)
{
        loop *l = new_loop();
        post_state ps = { .l = l, .loop_thread = pthread_self() };
        pthread_t threads[POSTERS];
        poster_arg args[POSTERS];
        for (int i = 0; i < POSTERS; i++) {
                args[i] = (poster_arg){ &ps, i };
                assert_int_equal(pthread_create(&threads[i], NULL, poster, &args[i]), 0);
        }
        assert_int_equal(loop_run(l), 0);
        for (int i = 0; i < POSTERS; i++)
                pthread_join(threads[i], NULL);
        assert_int_equal(ps.total, POSTERS * POSTS_EACH);
        assert_false(ps.wrong_thread);
        assert_false(ps.out_of_order);
        for (int i = 0; i < POSTERS; i++)
                assert_int_equal(ps.next_seq[i], POSTS_EACH);
        loop_free(l);
}

typedef struct {
        loop *l;
        int seen[8];
        int n;
} chain_state;

static void chained_second(void *data)
{
        chain_state *c = data;
        c->seen[c->n++] = 2;
        loop_quit(c->l, 3);
}

static void chained_first(void *data)
{
        chain_state *c = data;
        c->seen[c->n++] = 1;
        /* Posting from the loop thread, inside a posted callback. */
        assert_int_equal(loop_post(c->l, chained_second, c), 0);
}

static void test_post_from_loop_thread(void **state)
{
        loop *l = new_loop();
        chain_state c = { .l = l };
        assert_int_equal(loop_post(l, chained_first, &c), 0);
        assert_int_equal(loop_run(l), 3);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.seen[0], 1);
        assert_int_equal(c.seen[1], 2);
        loop_free(l);
}

static void never_called(void *data)
{
        fail_msg("a posted callback ran after loop_free");
}

static void test_free_with_pending_posts(void **state)
{
        /* Posts never run are dropped (not called) by loop_free. */
        loop *l = new_loop();
        assert_int_equal(loop_post(l, never_called, NULL), 0);
        assert_int_equal(loop_post(l, never_called, NULL), 0);
        loop_free(l);
}

/* ---- removing sources during dispatch ----------------------------------- */

typedef struct {
        loop *l;
        int fds[2][2]; /* two pipes */
        loop_source *src[2];
        int calls[2];
        int rounds;
} remove_state;

/* Whichever source runs first removes both itself and the other one; the
 * other, already reported ready in the same epoll round, must not run. */
static void remove_both(loop_source *src, int fd, uint32_t events, void *data)
{
        remove_state *rs = data;
        int me = src == rs->src[0] ? 0 : 1;
        assert_ptr_equal(src, rs->src[me]);
        assert_int_equal(fd, rs->fds[me][0]);
        assert_true(events & EPOLLIN);
        rs->calls[me]++;
        loop_source_remove(rs->src[me]);
        loop_source_remove(rs->src[!me]);
        /* Removing again is a no-op. */
        loop_source_remove(rs->src[me]);
}

static void quit_soon(loop_source *src, void *data)
{
        loop_quit(data, 0);
}

static void test_remove_in_callback(void **state)
{
        loop *l = new_loop();
        remove_state rs = { .l = l };
        for (int i = 0; i < 2; i++) {
                assert_int_equal(pipe2(rs.fds[i], O_CLOEXEC | O_NONBLOCK), 0);
                assert_int_equal(write(rs.fds[i][1], "x", 1), 1);
        }
        for (int i = 0; i < 2; i++)
                assert_int_equal(loop_add_io(l, rs.fds[i][0], EPOLLIN, remove_both, &rs, &rs.src[i]), 0);
        /* Both pipes stay readable: had either source survived, it would
         * fire again before the timer. */
        assert_int_equal(loop_add_timer(l, 50, quit_soon, l, NULL), 0);
        assert_int_equal(loop_run(l), 0);
        assert_int_equal(rs.calls[0] + rs.calls[1], 1);
        for (int i = 0; i < 2; i++) {
                close(rs.fds[i][0]);
                close(rs.fds[i][1]);
        }
        loop_free(l);
}

typedef struct {
        loop *l;
        loop_source *victim;
        int wfd;
        int timer_calls;
        int io_calls;
} timer_remove_state;

static void timer_removes_io(loop_source *src, void *data)
{
        timer_remove_state *t = data;
        t->timer_calls++;
        loop_source_remove(t->victim);
        t->victim = NULL;
}

static void timer_writes(loop_source *src, void *data)
{
        timer_remove_state *t = data;
        assert_int_equal(write(t->wfd, "x", 1), 1);
}

static void io_counts(loop_source *src, int fd, uint32_t events, void *data)
{
        timer_remove_state *t = data;
        t->io_calls++;
        char c;
        (void)!read(fd, &c, 1);
}

static void test_timer_removes_io_source(void **state)
{
        loop *l = new_loop();
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        timer_remove_state t = { .l = l, .wfd = p[1] };
        assert_int_equal(loop_add_io(l, p[0], EPOLLIN, io_counts, &t, &t.victim), 0);
        assert_int_equal(loop_add_timer(l, 10, timer_removes_io, &t, NULL), 0);
        /* Data arrives after the source is gone: nothing may run. */
        assert_int_equal(loop_add_timer(l, 30, timer_writes, &t, NULL), 0);
        assert_int_equal(loop_add_timer(l, 80, quit_soon, l, NULL), 0);
        assert_int_equal(loop_run(l), 0);
        assert_int_equal(t.timer_calls, 1);
        assert_null(t.victim);
        assert_int_equal(t.io_calls, 0);
        close(p[0]);
        close(p[1]);
        loop_free(l);
}

static void test_set_events(void **state)
{
        loop *l = new_loop();
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        timer_remove_state t = { .l = l };
        loop_source *s = NULL;
        /* Watch the write end for nothing, then for writability. */
        assert_int_equal(loop_add_io(l, p[1], 0, io_counts, &t, &s), 0);
        assert_int_equal(loop_source_set_events(s, EPOLLOUT), 0);
        assert_int_equal(loop_add_timer(l, 30, quit_soon, l, NULL), 0);
        assert_int_equal(loop_run(l), 0);
        assert_true(t.io_calls > 0);
        loop_source_remove(s);
        close(p[0]);
        close(p[1]);
        loop_free(l);
}

static void test_free_with_live_sources(void **state)
{
        /* Sources never removed are released by loop_free (ASan checks the
         * memory; the fd count checks timer fds). */
        int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(before >= 0);
        close(before);
        loop *l = new_loop();
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        assert_int_equal(loop_add_io(l, p[0], EPOLLIN, io_counts, NULL, NULL), 0);
        assert_int_equal(loop_add_timer(l, 100000, timer_removes_io, NULL, NULL), 0);
        assert_int_equal(loop_add_timer(l, 200000, timer_removes_io, NULL, NULL), 0);
        loop_free(l);
        loop_free(NULL);
        close(p[0]);
        close(p[1]);
        int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_int_equal(after, before);
        close(after);
}

/* ---- workers ------------------------------------------------------------ */

#define JOBS 200

typedef struct {
        loop *l;
        pthread_t loop_thread;
        atomic_int worked;
        int done;
        bool work_on_loop_thread;
        bool done_off_loop_thread;
        bool done_before_work;
} pool_state;

typedef struct {
        pool_state *ps;
        atomic_bool worked;
        pthread_t worker;
} job_arg;

static void job_work(void *data)
{
        job_arg *j = data;
        if (pthread_equal(pthread_self(), j->ps->loop_thread))
                j->ps->work_on_loop_thread = true;
        j->worker = pthread_self();
        struct timespec ts = { 0, 200 * 1000 };
        nanosleep(&ts, NULL);
        atomic_store(&j->worked, true);
        atomic_fetch_add(&j->ps->worked, 1);
}

static void job_done(void *data)
{
        job_arg *j = data;
        pool_state *ps = j->ps;
        if (!pthread_equal(pthread_self(), ps->loop_thread))
                ps->done_off_loop_thread = true;
        if (!atomic_load(&j->worked))
                ps->done_before_work = true;
        if (++ps->done == JOBS)
                loop_quit(ps->l, 0);
}

static void test_workers(void **state)
{
        loop *l = new_loop();
        workers *w = NULL;
        assert_int_equal(workers_new(l, 4, &w), 0);
        pool_state ps = { .l = l, .loop_thread = pthread_self() };
        job_arg *jobs = calloc(JOBS, sizeof(*jobs));
        for (int i = 0; i < JOBS; i++) {
                jobs[i].ps = &ps;
                assert_int_equal(workers_submit(w, job_work, job_done, &jobs[i]), 0);
        }
        assert_int_equal(loop_run(l), 0);
        assert_int_equal(ps.done, JOBS);
        assert_int_equal(atomic_load(&ps.worked), JOBS);
        assert_false(ps.work_on_loop_thread);
        assert_false(ps.done_off_loop_thread);
        assert_false(ps.done_before_work);
        /* More than one thread took work. */
        bool several = false;
        for (int i = 1; i < JOBS; i++)
                if (!pthread_equal(jobs[i].worker, jobs[0].worker))
                        several = true;
        assert_true(several);
        workers_free(w);
        loop_free(l);
        free(jobs);
}

static void count_work(void *data)
{
        atomic_fetch_add((atomic_int *)data, 1);
}

static void test_workers_free_finishes_queued_work(void **state)
{
        loop *l = new_loop();
        workers *w = NULL;
        assert_int_equal(workers_new(l, 2, &w), 0);
        atomic_int n = 0;
        for (int i = 0; i < 100; i++)
                assert_int_equal(workers_submit(w, count_work, NULL, &n), 0);
        workers_free(w);
        assert_int_equal(atomic_load(&n), 100);
        /* The done posts are dropped with the loop. */
        loop_free(l);
        workers_free(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_timers_fire_in_order),
                cmocka_unit_test(test_timer_removed_before_firing),
                cmocka_unit_test(test_post_from_threads),
                cmocka_unit_test(test_post_from_loop_thread),
                cmocka_unit_test(test_free_with_pending_posts),
                cmocka_unit_test(test_remove_in_callback),
                cmocka_unit_test(test_timer_removes_io_source),
                cmocka_unit_test(test_set_events),
                cmocka_unit_test(test_free_with_live_sources),
                cmocka_unit_test(test_workers),
                cmocka_unit_test(test_workers_free_finishes_queued_work),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
