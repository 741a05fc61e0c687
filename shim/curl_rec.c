/* curl_rec.c: the libcurl layer's records: what carom knows about each easy handle
 * (struct carom__curl_rec) and each multi handle (struct carom__curl_mrec), found by the
 * handle's address in one small hash table written once for both. It must never hold its
 * lock across a libcurl call or a callback into the program, and never allocate on the
 * look-up path (a handle carom has no record of costs one relaxed load). */
#include "curl_int.h"

#include <stdlib.h>
#include <string.h>

/* One lock for both tables, taken around fork by the shim's atfork list (init.c) so a
 * child never inherits it held. */
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;
void carom__curl_atfork(int phase)
{
    if (phase == CAROM_ATFORK_PREPARE)
        pthread_mutex_lock(&tab_lock);
    else
        pthread_mutex_unlock(&tab_lock);
}

#define BUCKETS 256
/* A table of records keyed by handle address; n lets a process that never made a record
 * skip the lock. */
struct tab {
    struct carom__curl_node *b[BUCKETS];
    _Atomic unsigned n;
};
static struct tab recs, mrecs;
_Atomic unsigned carom__curl_n_canned;

static unsigned bucket(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9e3779b97f4a7c15ull;
    return (unsigned)(x >> 56) & (BUCKETS - 1);
}

static struct carom__curl_node *tab_find(struct tab *t, const void *key)
{
    if (!atomic_load_explicit(&t->n, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct carom__curl_node *x = t->b[bucket(key)];
    while (x && x->key != key)
        x = x->next;
    pthread_mutex_unlock(&tab_lock);
    return x;
}

/* The record for key, made zeroed (size bytes, a node first) when there is none. */
static struct carom__curl_node *tab_get(struct tab *t, void *key, size_t size)
{
    struct carom__curl_node *x = tab_find(t, key);
    if (x) return x;
    x = calloc(1, size);
    if (!x) return NULL;
    x->key = key;
    pthread_mutex_lock(&tab_lock);
    unsigned b = bucket(key);
    x->next = t->b[b];
    t->b[b] = x;
    atomic_fetch_add(&t->n, 1);
    pthread_mutex_unlock(&tab_lock);
    return x;
}

static struct carom__curl_node *tab_take(struct tab *t, const void *key)
{
    if (!atomic_load_explicit(&t->n, memory_order_relaxed)) return NULL;
    pthread_mutex_lock(&tab_lock);
    struct carom__curl_node **pp = &t->b[bucket(key)];
    while (*pp && (*pp)->key != key)
        pp = &(*pp)->next;
    struct carom__curl_node *x = *pp;
    if (x) {
        *pp = x->next;
        atomic_fetch_sub(&t->n, 1);
    }
    pthread_mutex_unlock(&tab_lock);
    return x;
}

/* The node is each record's first member, so a node pointer is the record's. */
struct carom__curl_rec *carom__curl_rec_find(CURL *h)
{
    return (struct carom__curl_rec *)tab_find(&recs, h);
}

struct carom__curl_rec *carom__curl_rec_get(CURL *h)
{
    return (struct carom__curl_rec *)tab_get(&recs, h, sizeof(struct carom__curl_rec));
}

struct carom__curl_rec *carom__curl_rec_take(CURL *h)
{
    return (struct carom__curl_rec *)tab_take(&recs, h);
}

struct carom__curl_mrec *carom__curl_mrec_find(CURLM *m)
{
    return (struct carom__curl_mrec *)tab_find(&mrecs, m);
}

struct carom__curl_mrec *carom__curl_mrec_get(CURLM *m)
{
    return (struct carom__curl_mrec *)tab_get(&mrecs, m, sizeof(struct carom__curl_mrec));
}

struct carom__curl_mrec *carom__curl_mrec_take(CURLM *m)
{
    return (struct carom__curl_mrec *)tab_take(&mrecs, m);
}

struct carom__curl_rec *carom__curl_rec_under(const struct carom__curl_mrec *mr)
{
    pthread_mutex_lock(&tab_lock);
    struct carom__curl_rec *list = NULL;
    for (unsigned b = 0; b < BUCKETS; b++)
        for (struct carom__curl_node *x = recs.b[b]; x; x = x->next) {
            struct carom__curl_rec *r = (struct carom__curl_rec *)x;
            if (r->m == mr) {
                r->snext = list;
                list = r;
            }
        }
    pthread_mutex_unlock(&tab_lock);
    return list;
}

void carom__curl_prog_free(struct carom__curl_prog *p)
{
    free(p->url);
    free(p->custom);
    memset(p, 0, sizeof *p);
}

char *carom__curl_dup_str(const char *s)
{
    return s ? strdup(s) : NULL;
}

void carom__curl_set_canned(struct carom__curl_rec *r, long status)
{
    if (!r->canned_status && status)
        atomic_fetch_add(&carom__curl_n_canned, 1);
    else if (r->canned_status && !status)
        atomic_fetch_sub(&carom__curl_n_canned, 1);
    r->canned_status = status;
}
