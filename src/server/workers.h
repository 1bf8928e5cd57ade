/* A pool of threads for blocking work (registry pulls, runtime and CNI
 * invocations), so that the event loop never blocks. Threads are started
 * as work needs them, up to the pool's size. */
#pragma once

#include "server/loop.h"

typedef struct workers workers;

typedef void (*work_fn)(void *data);
typedef void (*work_done_fn)(void *data);

int workers_new(loop *l, unsigned threads, workers **ret);
/* Finishes queued work, joins the threads, then frees. Call from the loop
 * thread after the loop stopped; pending done callbacks are dropped. */
void workers_free(workers *w);

/* Run work(data) on a pool thread, then done(data) on the loop thread. */
int workers_submit(workers *w, work_fn work, work_done_fn done, void *data);
