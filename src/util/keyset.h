/* A set of string keys with waiting: serialises operations per object
 * (a pod, a container) while different objects proceed in parallel, and
 * reserves names while the object that will own them is being made. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

typedef struct {
        pthread_mutex_t lock;
        pthread_cond_t changed;
        char **keys;
} keyset;

void keyset_init(keyset *ks);
void keyset_release(keyset *ks);

/* Wait until key is absent, then add it. */
void keyset_enter(keyset *ks, const char *key);
/* Add key unless present; false when it was. */
bool keyset_try_enter(keyset *ks, const char *key);
void keyset_leave(keyset *ks, const char *key);
