/* The event loop: one epoll instance owning sockets, signals, timers and
 * completions posted by worker threads. Everything but loop_post() must be
 * called on the loop's own thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct loop loop;
typedef struct loop_source loop_source;

typedef void (*loop_io_fn)(loop_source *src, int fd, uint32_t events, void *data);
typedef void (*loop_timer_fn)(loop_source *src, void *data);
typedef void (*loop_post_fn)(void *data);

int loop_new(loop **ret);
/* Frees remaining sources without calling them; closes timer fds it made. */
void loop_free(loop *l);

/* Watch fd (not owned) for epoll events. */
int loop_add_io(loop *l, int fd, uint32_t events, loop_io_fn fn, void *data,
                loop_source **ret);
int loop_source_set_events(loop_source *src, uint32_t events);

/* One-shot timer firing after ms milliseconds. It is removed just before its
 * callback runs: the handle must not be used once the callback returned. */
int loop_add_timer(loop *l, uint64_t ms, loop_timer_fn fn, void *data,
                   loop_source **ret);

/* Stop watching and release the source. Safe inside the source's own
 * callback; the memory is released after the current dispatch round. */
void loop_source_remove(loop_source *src);

/* From any thread: run fn(data) on the loop thread soon, in posting order. */
int loop_post(loop *l, loop_post_fn fn, void *data);

/* Run until loop_quit(); returns the code given to it. */
int loop_run(loop *l);
void loop_quit(loop *l, int code);
