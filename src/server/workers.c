#include "server/workers.h"
#include "util/cleanup.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct job {
        workers *owner;
        work_fn work;
        work_done_fn done;
        void *data;
        struct job *next;
        struct job *prev; /* in the posted list, once its work is done */
} job;

struct workers {
        loop *loop;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        job *head, *tail;
        /* Jobs whose done callback is queued on the loop: if the loop stops
         * first, workers_free releases them. */
        job *posted;
        bool stopping;
        /* Threads start as work arrives, up to max_threads, and then stay:
         * an idle daemon holds no stacks it has never needed. */
        unsigned max_threads, nthreads;
        unsigned idle;   /* threads waiting for work */
        unsigned queued; /* jobs no thread has taken yet */
        pthread_t *threads;
};

static void posted_unlink(workers *w, job *j)
{
        if (j->prev)
                j->prev->next = j->next;
        else
                w->posted = j->next;
        if (j->next)
                j->next->prev = j->prev;
}

static void job_done(void *p)
{
        job *j = p;
        workers *w = j->owner;
        pthread_mutex_lock(&w->lock);
        posted_unlink(w, j);
        pthread_mutex_unlock(&w->lock);
        if (j->done)
                j->done(j->data);
        free(j);
}

static void *worker_main(void *p)
{
        workers *w = p;
        for (;;) {
                pthread_mutex_lock(&w->lock);
                w->idle++;
                while (!w->head && !w->stopping)
                        pthread_cond_wait(&w->cond, &w->lock);
                w->idle--;
                job *j = w->head;
                if (!j) {
                        pthread_mutex_unlock(&w->lock);
                        return NULL;
                }
                w->queued--;
                w->head = j->next;
                if (!w->head)
                        w->tail = NULL;
                pthread_mutex_unlock(&w->lock);

                j->work(j->data);
                pthread_mutex_lock(&w->lock);
                j->prev = NULL;
                j->next = w->posted;
                if (w->posted)
                        w->posted->prev = j;
                w->posted = j;
                pthread_mutex_unlock(&w->lock);
                if (loop_post(w->loop, job_done, j) < 0) {
                        /* Out of memory: the completion is lost. */
                        pthread_mutex_lock(&w->lock);
                        posted_unlink(w, j);
                        pthread_mutex_unlock(&w->lock);
                        free(j);
                }
        }
}

int workers_new(loop *l, unsigned threads, workers **ret)
{
        workers *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->loop = l;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->threads = calloc(threads, sizeof(pthread_t));
        if (!w->threads) {
                free(w);
                return -ENOMEM;
        }
        w->max_threads = threads;
        *ret = w;
        return 0;
}

/* With the lock held: one more thread, when the queued work outnumbers the
 * threads free to take it. */
static int grow_locked(workers *w)
{
        if (w->queued <= w->idle || w->nthreads == w->max_threads)
                return 0;
        /* Handlers are small; 256 KiB stacks keep memory low. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int r = pthread_create(&w->threads[w->nthreads], &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (r != 0)
                return -r;
        w->nthreads++;
        return 0;
}

void workers_free(workers *w)
{
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->nthreads; i++)
                pthread_join(w->threads[i], NULL);
        /* Their done callbacks were dropped with the stopped loop. */
        while (w->posted) {
                job *j = w->posted;
                w->posted = j->next;
                free(j);
        }
        free(w->threads);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
}

int workers_submit(workers *w, work_fn work, work_done_fn done, void *data)
{
        job *j = malloc(sizeof(*j));
        if (!j)
                return -ENOMEM;
        *j = (job){ .owner = w, .work = work, .done = done, .data = data };
        pthread_mutex_lock(&w->lock);
        w->queued++;
        int r = grow_locked(w);
        if (r < 0 && w->nthreads == 0) {
                /* No thread would ever run it. */
                w->queued--;
                pthread_mutex_unlock(&w->lock);
                free(j);
                return r;
        }
        if (w->tail)
                w->tail->next = j;
        else
                w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}
