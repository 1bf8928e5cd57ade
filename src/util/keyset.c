#include "util/keyset.h"
#include "util/strv.h"

#include <stdlib.h>
#include <string.h>

void keyset_init(keyset *ks)
{
        pthread_mutex_init(&ks->lock, NULL);
        pthread_cond_init(&ks->changed, NULL);
        ks->keys = NULL;
}

void keyset_release(keyset *ks)
{
        strv_free(ks->keys);
        ks->keys = NULL;
        pthread_mutex_destroy(&ks->lock);
        pthread_cond_destroy(&ks->changed);
}

void keyset_enter(keyset *ks, const char *key)
{
        pthread_mutex_lock(&ks->lock);
        while (strv_contains(ks->keys, key))
                pthread_cond_wait(&ks->changed, &ks->lock);
        ks->keys = strv_push(ks->keys, key);
        pthread_mutex_unlock(&ks->lock);
}

bool keyset_try_enter(keyset *ks, const char *key)
{
        pthread_mutex_lock(&ks->lock);
        bool free_key = !strv_contains(ks->keys, key);
        if (free_key)
                ks->keys = strv_push(ks->keys, key);
        pthread_mutex_unlock(&ks->lock);
        return free_key;
}

void keyset_leave(keyset *ks, const char *key)
{
        pthread_mutex_lock(&ks->lock);
        size_t n = strv_length(ks->keys);
        for (size_t i = 0; i < n; i++)
                if (strcmp(ks->keys[i], key) == 0) {
                        free(ks->keys[i]);
                        memmove(&ks->keys[i], &ks->keys[i + 1], (n - i) * sizeof(char *));
                        break;
                }
        pthread_cond_broadcast(&ks->changed);
        pthread_mutex_unlock(&ks->lock);
}
