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
        unsigned nthreads;
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
                while (!w->head && !w->stopping)
                        pthread_cond_wait(&w->cond, &w->lock);
                job *j = w->head;
                if (!j) {
                        pthread_mutex_unlock(&w->lock);
                        return NULL;
                }
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
        /* Handlers are small; 256 KiB stacks keep idle memory low. */
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        for (unsigned i = 0; i < threads; i++) {
                int r = pthread_create(&w->threads[i], &attr, worker_main, w);
                if (r != 0) {
                        pthread_attr_destroy(&attr);
                        w->nthreads = i;
                        workers_free(w);
                        return -r;
                }
        }
        pthread_attr_destroy(&attr);
        w->nthreads = threads;
        *ret = w;
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
        if (w->tail)
                w->tail->next = j;
        else
                w->head = j;
        w->tail = j;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        return 0;
}
