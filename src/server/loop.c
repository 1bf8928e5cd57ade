#include "server/loop.h"
#include "util/cleanup.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

struct loop_source {
        loop *owner;
        int fd;
        bool owns_fd; /* timers own their timerfd */
        bool removed;
        loop_io_fn io;
        loop_timer_fn timer;
        void *data;
        loop_source *prev, *next; /* live sources, for loop_free */
        loop_source *next_dead;
};

typedef struct posted {
        loop_post_fn fn;
        void *data;
        struct posted *next;
} posted;

struct loop {
        int epfd;
        int wakefd;
        bool quit;
        int exit_code;
        loop_source *sources; /* live sources */
        loop_source *dead; /* removed sources, freed after the dispatch round */
        pthread_mutex_t lock;
        posted *queue_head, *queue_tail;
};

int loop_new(loop **ret)
{
        loop *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        pthread_mutex_init(&l->lock, NULL);
        if (l->epfd < 0 || l->wakefd < 0) {
                int r = -errno;
                loop_free(l);
                return r;
        }
        /* The wake fd's event carries a NULL pointer: it is not a source. */
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev) < 0) {
                int r = -errno;
                loop_free(l);
                return r;
        }
        *ret = l;
        return 0;
}

static void free_dead(loop *l)
{
        while (l->dead) {
                loop_source *s = l->dead;
                l->dead = s->next_dead;
                free(s);
        }
}

void loop_free(loop *l)
{
        if (!l)
                return;
        while (l->sources)
                loop_source_remove(l->sources);
        free_dead(l);
        for (posted *p = l->queue_head; p;) {
                posted *next = p->next;
                free(p);
                p = next;
        }
        if (l->epfd >= 0)
                close(l->epfd);
        if (l->wakefd >= 0)
                close(l->wakefd);
        pthread_mutex_destroy(&l->lock);
        free(l);
}

static int add_source(loop *l, int fd, uint32_t events, loop_source *s)
{
        s->owner = l;
        s->fd = fd;
        struct epoll_event ev = { .events = events, .data.ptr = s };
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        s->next = l->sources;
        if (l->sources)
                l->sources->prev = s;
        l->sources = s;
        return 0;
}

int loop_add_io(loop *l, int fd, uint32_t events, loop_io_fn fn, void *data,
                loop_source **ret)
{
        loop_source *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->io = fn;
        s->data = data;
        int r = add_source(l, fd, events, s);
        if (r < 0) {
                free(s);
                return r;
        }
        if (ret)
                *ret = s;
        return 0;
}

int loop_source_set_events(loop_source *src, uint32_t events)
{
        struct epoll_event ev = { .events = events, .data.ptr = src };
        return epoll_ctl(src->owner->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0 ? -errno : 0;
}

int loop_add_timer(loop *l, uint64_t ms, loop_timer_fn fn, void *data,
                   loop_source **ret)
{
        _cleanup_close_ int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        struct itimerspec its = {
                .it_value = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000 },
        };
        if (ms == 0)
                its.it_value.tv_nsec = 1; /* zero would disarm */
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return -errno;
        loop_source *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->timer = fn;
        s->data = data;
        s->owns_fd = true;
        int r = add_source(l, fd, EPOLLIN, s);
        if (r < 0) {
                free(s);
                return r;
        }
        TAKE_FD(fd);
        if (ret)
                *ret = s;
        return 0;
}

void loop_source_remove(loop_source *src)
{
        if (!src || src->removed)
                return;
        loop *l = src->owner;
        src->removed = true;
        if (src->prev)
                src->prev->next = src->next;
        else
                l->sources = src->next;
        if (src->next)
                src->next->prev = src->prev;
        src->prev = src->next = NULL;
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        if (src->owns_fd)
                close(src->fd);
        src->fd = -1;
        src->next_dead = l->dead;
        l->dead = src;
}

int loop_post(loop *l, loop_post_fn fn, void *data)
{
        posted *p = malloc(sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (posted){ .fn = fn, .data = data };
        pthread_mutex_lock(&l->lock);
        if (l->queue_tail)
                l->queue_tail->next = p;
        else
                l->queue_head = p;
        l->queue_tail = p;
        pthread_mutex_unlock(&l->lock);
        uint64_t one = 1;
        if (write(l->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

static void run_posted(loop *l)
{
        uint64_t n;
        if (read(l->wakefd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                return;
        pthread_mutex_lock(&l->lock);
        posted *p = l->queue_head;
        l->queue_head = l->queue_tail = NULL;
        pthread_mutex_unlock(&l->lock);
        while (p) {
                posted *next = p->next;
                p->fn(p->data);
                free(p);
                p = next;
        }
}

static void dispatch(loop_source *s, uint32_t events)
{
        if (s->removed)
                return;
        if (s->timer) {
                uint64_t expirations;
                if (read(s->fd, &expirations, sizeof(expirations)) < 0)
                        return;
                loop_timer_fn fn = s->timer;
                void *data = s->data;
                /* One-shot: the callback may not remove it twice. */
                loop_source_remove(s);
                fn(s, data);
                return;
        }
        s->io(s, s->fd, events, s->data);
}

int loop_run(loop *l)
{
        struct epoll_event events[64];
        while (!l->quit) {
                int n = epoll_wait(l->epfd, events, (int)ARRAY_SIZE(events), -1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < n; i++) {
                        if (!events[i].data.ptr)
                                run_posted(l);
                        else
                                dispatch(events[i].data.ptr, events[i].events);
                }
                free_dead(l);
        }
        return l->exit_code;
}

void loop_quit(loop *l, int code)
{
        l->quit = true;
        l->exit_code = code;
}
