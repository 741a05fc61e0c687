/* cmd_fleet.c: `carom fleet`, the daemon that shares one host's circuits with the fleet
 * through Redis, and `carom cushions --fleet` (docs/fleet.md). It publishes the states in
 * its host's shared table, reads the other hosts' reports, and marks an endpoint
 * fleet-open in its own table while a quorum of other hosts report it open. It is the
 * only part of carom that talks to Redis: it must never let a peer's bytes reach anything
 * but the strict decoder (tools/fleet_msg.c), never write outside its own table, never
 * send a payload or a URL path (only host:port keys, states, host ids and times), and never
 * make the program wait: the shim only ever sees the mark in shared memory. */
#include "carom_tools.h"
#include "fleet_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 200u    /* how often the table is read and the quorum decided */
#define PEERS_MAX 4096u /* hosts remembered; more are ignored (and counted) */
#define MARKS_MAX 256u  /* endpoints this daemon may claim a new slot for */
#define PASSWORD_MAX 1024u
#define KEY_MAX 192u /* prefix (31) + ":report:" + host id (63), with room */

static const char usage[] =
    "usage: carom fleet [-c FILE]\n"
    "Shares this host's circuits with the other hosts of a fleet through Redis: publishes\n"
    "the state of every circuit in the shared table of FILE, and marks an endpoint open here\n"
    "(fleet-open) while at least [fleet] quorum other hosts report it open. Run one per host\n"
    "and policy file, beside the programs; the programs never talk to Redis. Settings are\n"
    "the [fleet] section of FILE (docs/fleet.md). Runs until SIGTERM or SIGINT, which clear\n"
    "its marks and withdraw its report.\n"
    "  -c FILE      the policy file (its content names the table)\n"
    "  -h, --help   show this help\n"
    "Exit status: 0 stopped by a signal, 1 failure (no [fleet] section, bad config), 2 usage.\n";

static volatile sig_atomic_t stopping;
static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

/* ---- settings --------------------------------------------------------------------------- */

struct fleet {
    carom_table *t;
    const carom_fleet_cfg *cfg;
    const char *file;
    char name[96]; /* the shared table */
    char self[CAROM_FLEET_ID_MAX];
    char rhost[CAROM_HOST_MAX];
    int rport;
    char chan[48], key_prefix[48], own_key[KEY_MAX]; /* prefix is under 32 bytes */
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("carom fleet: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int setup(struct fleet *f, const char *file, const char *who)
{
    memset(f, 0, sizeof *f);
    f->file = file;
    f->t = carom__ctl_config(file, who, f->name, sizeof f->name);
    if (!f->t) return -1;
    f->cfg = carom_policy_fleet(f->t);
    if (!f->cfg->redis[0]) {
        fprintf(stderr, "%s: %s has no [fleet] section (redis = HOST:PORT): nothing to share\n",
                who, file ? file : "the policy file");
        return -1;
    }
    if (f->cfg->host[0]) {
        snprintf(f->self, sizeof f->self, "%s", f->cfg->host);
    } else {
        char hn[256] = "";
        gethostname(hn, sizeof hn - 1);
        char *dot = strchr(hn, '.'); /* short name: ids should not leak the domain */
        if (dot) *dot = 0;
        if (!carom__fleet_id_ok(hn, strlen(hn), sizeof f->self)) {
            fprintf(stderr, "%s: the hostname \"%s\" is not a usable host id: set [fleet] host\n",
                    who, hn);
            return -1;
        }
        snprintf(f->self, sizeof f->self, "%s", hn);
    }
    const char *r = f->cfg->redis, *colon = strrchr(r, ':');
    size_t hl = (size_t)(colon - r);
    if (r[0] == '[') r++, hl -= 2;
    memcpy(f->rhost, r, hl);
    f->rhost[hl] = 0;
    f->rport = atoi(colon + 1);
    snprintf(f->chan, sizeof f->chan, "%s:reports", f->cfg->prefix);
    snprintf(f->key_prefix, sizeof f->key_prefix, "%s:report:", f->cfg->prefix);
    snprintf(f->own_key, sizeof f->own_key, "%s%s", f->key_prefix, f->self);
    return 0;
}

/* The password file: the daemon's own (no access for group or others), one line,
 * "PASSWORD" or "USER PASSWORD" for a Redis ACL user. */
static int read_password(const char *path, char *user, char *pass, char *err, size_t elen)
{
    user[0] = pass[0] = 0;
    if (!path[0]) return 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, elen, "password_file %s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        snprintf(err, elen,
                 "password_file %s: must be a regular file no one else can read (chmod 600)", path);
        close(fd);
        return -1;
    }
    char buf[PASSWORD_MAX];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        snprintf(err, elen, "password_file %s: empty", path);
        return -1;
    }
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    char *sp = strchr(buf, ' ');
    if (sp) {
        *sp = 0;
        snprintf(user, PASSWORD_MAX, "%s", buf);
        snprintf(pass, PASSWORD_MAX, "%s", sp + 1);
    } else {
        snprintf(pass, PASSWORD_MAX, "%s", buf);
    }
    return 0;
}

static redisContext *rconnect(const struct fleet *f, char *err, size_t elen)
{
    char user[PASSWORD_MAX], pass[PASSWORD_MAX];
    if (read_password(f->cfg->password_file, user, pass, err, elen) != 0) return NULL;
    redisContext *c = redisConnectWithTimeout(f->rhost, f->rport, (struct timeval){1, 0});
    if (!c || c->err) {
        snprintf(err, elen, "%s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, (struct timeval){2, 0});
    if (pass[0]) {
        redisReply *r =
            user[0] ? redisCommand(c, "AUTH %s %s", user, pass) : redisCommand(c, "AUTH %s", pass);
        bool ok = r && r->type == REDIS_REPLY_STATUS;
        snprintf(err, elen, "AUTH: %s", r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
        if (r) freeReplyObject(r);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    memset(pass, 0, sizeof pass);
    return c;
}

/* ---- what the other hosts say ------------------------------------------------------------- */

struct peer {
    char host[CAROM_FLEET_ID_MAX];
    uint64_t expires_ms; /* mono */
    uint64_t seen_scan;  /* the scan that last saw its key */
    unsigned n;
    carom__fleet_ep *ep;
};
static struct peer *peers;
static unsigned npeers;
static unsigned long ignored; /* reports refused, as the warnings count them */

static void warn_ignored(const char *where, const char *why)
{
    static uint64_t last;
    ignored++;
    uint64_t now = carom__mono_ms();
    /* One line a second at most: a flood of junk must not flood the log too. */
    if (last && now - last < 1000) return;
    last = now;
    logf_("ignored a report (%s: %s); %lu ignored so far", where, why, ignored);
}

/* A command Redis refused (an ACL without it, a read-only replica): said once per change,
 * never per retry. */
static bool refused_said;
static bool refused(const char *what, redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR) return false;
    if (!refused_said) logf_("redis refused %s: %s (see docs/fleet.md for the ACL)", what, r->str);
    refused_said = true;
    return true;
}

static struct peer *peer_find(const char *host, bool add)
{
    for (unsigned i = 0; i < npeers; i++)
        if (strcmp(peers[i].host, host) == 0) return &peers[i];
    if (!add) return NULL;
    if (npeers >= PEERS_MAX) return NULL;
    struct peer *p = &peers[npeers++];
    memset(p, 0, sizeof *p);
    snprintf(p->host, sizeof p->host, "%s", host);
    return p;
}

static void peer_drop(unsigned i)
{
    free(peers[i].ep);
    peers[i] = peers[--npeers];
}

static carom__fleet_report rep; /* the decoder's scratch (too big for the stack) */

/* Takes a report read from key KEY (whose suffix names its host: what a per-host Redis ACL
 * can enforce) that lives pttl more milliseconds. */
static void peer_take(const struct fleet *f, const char *key, const char *val, size_t len,
                      long long pttl, uint64_t scan)
{
    const char *host = key + strlen(f->key_prefix);
    if (!carom__fleet_id_ok(host, strlen(host), CAROM_FLEET_ID_MAX)) {
        warn_ignored("key", "bad host id in the key name");
        return;
    }
    if (strcmp(host, f->self) == 0) return;
    const char *why = carom__fleet_decode(val, len, &rep);
    if (!why && strcmp(rep.host, host) != 0) why = "host id differs from the key's";
    if (why) {
        warn_ignored(key, why);
        return;
    }
    if (pttl <= 0) return; /* no TTL or gone: a report must expire */
    struct peer *p = peer_find(host, true);
    if (!p) {
        warn_ignored(key, "too many hosts");
        return;
    }
    carom__fleet_ep *ep = rep.n ? malloc(rep.n * sizeof *ep) : NULL;
    if (rep.n && !ep) return;
    if (ep) memcpy(ep, rep.ep, rep.n * sizeof *ep);
    free(p->ep);
    p->ep = ep;
    p->n = rep.n;
    p->expires_ms = carom__mono_ms() + (uint64_t)pttl;
    if (scan) p->seen_scan = scan;
}

/* GETRANGE bounds what a hostile value can make us read; PTTL says when it expires. */
static int fetch(redisContext *c, const struct fleet *f, const char *key, uint64_t scan)
{
    if (redisAppendCommand(c, "GETRANGE %s 0 %d", key, CAROM_FLEET_MSG_MAX) != REDIS_OK ||
        redisAppendCommand(c, "PTTL %s", key) != REDIS_OK)
        return -1;
    redisReply *v = NULL, *t = NULL;
    if (redisGetReply(c, (void **)&v) != REDIS_OK || redisGetReply(c, (void **)&t) != REDIS_OK) {
        if (v) freeReplyObject(v);
        return -1;
    }
    if (v->type == REDIS_REPLY_STRING && t->type == REDIS_REPLY_INTEGER && v->len > 0) {
        if (v->len > CAROM_FLEET_MSG_MAX)
            warn_ignored(key, "longer than 64 KiB");
        else
            peer_take(f, key, v->str, v->len, t->integer, scan);
    } else if (v->type == REDIS_REPLY_ERROR && strncmp(v->str, "WRONGTYPE", 9) == 0) {
        warn_ignored(key, "not a string");
    } else if (v->type == REDIS_REPLY_ERROR) {
        refused("GETRANGE", v);
    }
    freeReplyObject(v);
    freeReplyObject(t);
    return 0;
}

/* Every report key: the catch-up after a (re)connect, and how vanished hosts are noticed. */
static int scan_all(redisContext *c, const struct fleet *f)
{
    static uint64_t scan_no;
    uint64_t me = ++scan_no;
    char cursor[32] = "0", pattern[KEY_MAX + 2];
    snprintf(pattern, sizeof pattern, "%s*", f->key_prefix);
    unsigned keys = 0;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 200", cursor, pattern);
        if (!r) return -1;
        if (refused("SCAN", r)) {
            freeReplyObject(r);
            return 0; /* keep what the channel brings */
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *k = r->element[1]->element[i];
            if (k->type != REDIS_REPLY_STRING || k->len >= KEY_MAX || ++keys > PEERS_MAX) continue;
            if (fetch(c, f, k->str, me) != 0) {
                freeReplyObject(r);
                return -1;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    for (unsigned i = npeers; i-- > 0;)
        if (peers[i].seen_scan != me) peer_drop(i); /* its key is gone: expired or withdrawn */
    return 0;
}

/* ---- this host's table --------------------------------------------------------------------- */

static uint8_t local_state(carom_cushion_mode m)
{
    return m == CAROM_CUSHION_OPEN          ? CAROM_FLEET_OPEN
           : m == CAROM_CUSHION_HALF_OPEN   ? CAROM_FLEET_HALF_OPEN
           : m == CAROM_CUSHION_FORCED_OPEN ? CAROM_FLEET_FORCED
           : m == CAROM_CUSHION_FLEET_OPEN  ? CAROM_FLEET_MARKED
                                            : CAROM_FLEET_CLOSED;
}

static int rank(uint8_t s)
{
    return s == CAROM_FLEET_OPEN        ? 0
           : s == CAROM_FLEET_HALF_OPEN ? 1
           : s == CAROM_FLEET_CLOSED    ? 4
                                        : 2;
}

static int cmp_ep(const void *a, const void *b)
{
    const carom__fleet_ep *x = a, *y = b;
    if (rank(x->state) != rank(y->state)) return rank(x->state) - rank(y->state);
    return strcmp(x->ep, y->ep);
}

/* The table's circuits as a report: one line per endpoint (the worst state when two
 * policies key the same endpoint), the ones that matter first. */
static void read_local(const struct fleet *f, struct carom__shm *tb, carom__fleet_report *out)
{
    out->n = 0;
    uint64_t now = carom__mono_ms();
    for (unsigned i = 0; tb->base && i < tb->n; i++) {
        carom_slot *s = &tb->slots[i];
        uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
        const carom_policy *p = carom_policy_at(f->t, s->policy_index);
        if (!p || !p->cushion_on) continue;
        char key[CAROM_SLOT_KEY_MAX];
        memcpy(key, s->key, sizeof key);
        key[sizeof key - 1] = 0;
        if (!carom__fleet_ep_ok(key, strlen(key))) continue;
        carom_cushion_view v;
        carom_cushion_peek(&s->cushion, &p->cushion, now, &v);
        if (atomic_load_explicit(&s->key_hash, memory_order_acquire) != k) continue;
        uint8_t st = local_state(v.mode);
        unsigned j = 0;
        while (j < out->n && strcmp(out->ep[j].ep, key) != 0)
            j++;
        if (j < out->n) {
            if (rank(st) < rank(out->ep[j].state)) out->ep[j].state = st;
            continue;
        }
        if (out->n >= CAROM_FLEET_EPS_MAX) continue;
        memcpy(out->ep[out->n].ep, key, sizeof key);
        out->ep[out->n++].state = st;
    }
    qsort(out->ep, out->n, sizeof out->ep[0], cmp_ep);
}

static int try_map(const struct fleet *f, struct carom__shm *tb, ino_t *ino)
{
    struct stat st;
    if (stat(f->name, &st) != 0) {
        carom__shm_unmap(tb);
        return -1;
    }
    if (tb->base && st.st_ino == *ino) return 0;
    carom__shm_unmap(tb);
    /* Quiet: the caller logs the change once. */
    if (carom__shm_map(f->name, "carom fleet", CAROM__SHM_WRITE | CAROM__SHM_QUIET, tb) != 0)
        return -1;
    *ino = st.st_ino;
    return 0;
}

/* ---- the quorum ------------------------------------------------------------------------------ */

static unsigned live_peers(void)
{
    return npeers;
}

static unsigned needed(const struct fleet *f)
{
    if (!f->cfg->quorum_percent) return f->cfg->quorum;
    unsigned seen = live_peers() + 1; /* this host is one of the hosts seen */
    unsigned n = (f->cfg->quorum * seen + 99) / 100;
    return n ? n : 1;
}

/* Other hosts reporting ep open, and their names (for the event's detail). */
static unsigned open_at(const char *ep, char *names, size_t cap)
{
    unsigned n = 0;
    size_t o = 0;
    if (names && cap) names[0] = 0;
    for (unsigned i = 0; i < npeers; i++)
        for (unsigned j = 0; j < peers[i].n; j++)
            if (carom__fleet_counts(peers[i].ep[j].state) && strcmp(peers[i].ep[j].ep, ep) == 0) {
                if (names && o + 4 < cap) {
                    int w = snprintf(names + o, cap - o, "%s%s", n ? ", " : "", peers[i].host);
                    o = w > 0 && (size_t)w < cap - o ? o + (size_t)w : cap - 1;
                }
                n++;
                break;
            }
    return n;
}

/* Per endpoint, how many other hosts report it open: a hash table rebuilt every tick, so
 * deciding costs one pass over the reports, not one per endpoint. */
#define TALLY_SLOTS 8192u /* at most half used: 4096 distinct endpoints reported open */
struct tally {
    char ep[CAROM_SLOT_KEY_MAX];
    unsigned n;
};
static struct tally *tally;
static unsigned tally_used[TALLY_SLOTS / 2], ntally;

static struct tally *tally_get(const char *ep, bool add)
{
    uint64_t h = carom_fnv1a(CAROM_FNV1A_INIT, ep, strlen(ep));
    for (unsigned i = 0; i < TALLY_SLOTS; i++) {
        struct tally *t = &tally[(h + i) & (TALLY_SLOTS - 1)];
        if (!t->ep[0]) {
            if (!add || ntally >= TALLY_SLOTS / 2) return NULL;
            snprintf(t->ep, sizeof t->ep, "%s", ep);
            tally_used[ntally++] = (unsigned)(t - tally);
            return t;
        }
        if (strcmp(t->ep, ep) == 0) return t;
    }
    return NULL;
}

static void tally_build(void)
{
    for (unsigned i = 0; i < ntally; i++)
        memset(&tally[tally_used[i]], 0, sizeof *tally);
    ntally = 0;
    for (unsigned i = 0; i < npeers; i++)
        for (unsigned j = 0; j < peers[i].n; j++) {
            if (!carom__fleet_counts(peers[i].ep[j].state)) continue;
            struct tally *t = tally_get(peers[i].ep[j].ep, true);
            if (t) t->n++; /* a report names each endpoint once (the decoder sees to it) */
        }
}

static unsigned tally_of(const char *ep)
{
    struct tally *t = tally_get(ep, false);
    return t ? t->n : 0;
}

/* Marks what a quorum reports open and clears what it no longer does. Only this daemon
 * marks this table, so every fleet-open slot in it is its own, also after a restart. */
static void decide(const struct fleet *f, struct carom__shm *tb)
{
    if (!tb->base) return;
    tally_build();
    unsigned need = needed(f), seen = live_peers() + 1;
    uint64_t now = carom__mono_ms();
    char names[512], detail[640];
    for (unsigned i = 0; i < tb->n; i++) {
        carom_slot *s = &tb->slots[i];
        uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
        const carom_policy *p = carom_policy_at(f->t, s->policy_index);
        if (!p) continue;
        carom_cushion_view v;
        carom_cushion_peek(&s->cushion, &p->cushion, now, &v);
        if (v.mode != CAROM_CUSHION_FLEET_OPEN) continue;
        char key[CAROM_SLOT_KEY_MAX];
        memcpy(key, s->key, sizeof key);
        key[sizeof key - 1] = 0;
        if (tally_of(key) >= need) {
            /* Kept: its lease runs on. A daemon that dies lets its marks lapse after
             * report_ttl_ms, as its report does. */
            carom_cushion_fleet_renew(&s->cushion, now + f->cfg->report_ttl_ms);
            continue;
        }
        if (carom_cushion_fleet_clear(&s->cushion, now)) {
            logf_("%s: fleet mark cleared (reports closed or expired); the next call probes", key);
            carom__ctl_announce(f->t, "half_open", p->name, key,
                                "fleet: the reports closed or expired, the next call probes");
        }
    }
    /* Endpoints some peer reports open: the candidates to mark. */
    static unsigned claimed;
    for (unsigned i = 0; i < ntally; i++) {
        const struct tally *e = &tally[tally_used[i]];
        unsigned n = e->n;
        if (n < need) continue;
        const carom_policy *p = carom__ctl_endpoint_policy(f->t, e->ep);
        if (!p || !p->cushion_on) continue;
        carom_slot *s = carom_slots_lookup(tb->slots, tb->n, p->index, e->ep);
        if (!s) {
            /* An endpoint no program here has used yet gets its slot, so the first
             * call fails fast too; bounded, so peers cannot fill the table. */
            if (claimed >= MARKS_MAX) continue;
            s = carom_slots_find(tb->slots, tb->n, p->index, e->ep, now, NULL);
            if (!s) continue;
            claimed++;
        }
        if (carom_cushion_fleet_open(&s->cushion, now + f->cfg->report_ttl_ms)) {
            open_at(e->ep, names, sizeof names);
            snprintf(detail, sizeof detail, "fleet: %u of %u hosts report it open (%s)", n, seen,
                     names);
            logf_("%s: fleet-open: %u of %u hosts report it open (%s; quorum %u)", e->ep, n, seen,
                  names, need);
            carom__ctl_announce(f->t, "open", p->name, e->ep, detail);
        }
    }
}

static void clear_all(const struct fleet *f, struct carom__shm *tb)
{
    uint64_t now = carom__mono_ms();
    for (unsigned i = 0; tb->base && i < tb->n; i++) {
        carom_slot *s = &tb->slots[i];
        uint64_t k = atomic_load_explicit(&s->key_hash, memory_order_acquire);
        if (k == 0 || (k & CAROM_SHM_RESERVED)) continue;
        if (carom_cushion_fleet_clear(&s->cushion, now)) {
            const carom_policy *p = carom_policy_at(f->t, s->policy_index);
            char key[CAROM_SLOT_KEY_MAX];
            memcpy(key, s->key, sizeof key);
            key[sizeof key - 1] = 0;
            carom__ctl_announce(f->t, "half_open", p ? p->name : "?", key,
                                "fleet: carom fleet stopped, the next call probes");
        }
    }
}

/* ---- the daemon ----------------------------------------------------------------------------
 */

static int publish(redisContext *c, const struct fleet *f, const carom__fleet_report *r, char *buf)
{
    int n = carom__fleet_encode(r, buf, CAROM_FLEET_MSG_MAX + 1);
    if (n < 0) return 0; /* cannot happen: read_local keeps to what encodes */
    redisReply *a = redisCommand(c, "SET %s %b PX %u", f->own_key, buf, (size_t)n, r->ttl_ms);
    if (!a) return -1;
    bool no = refused("SET", a);
    freeReplyObject(a);
    redisReply *b = redisCommand(c, "PUBLISH %s %b", f->chan, buf, (size_t)n);
    if (!b) return -1;
    no = refused("PUBLISH", b) || no;
    freeReplyObject(b);
    if (!no) refused_said = false;
    return 0;
}

/* A channel message names the host that just published; its report is read from the key
 * that host owns, so a peer can speak only for the hosts whose keys it may write. */
static int on_message(redisContext *c, const struct fleet *f, redisReply *m)
{
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 ||
        m->element[0]->type != REDIS_REPLY_STRING || strcmp(m->element[0]->str, "message") != 0)
        return 0; /* subscribe confirmations and the like */
    redisReply *pl = m->element[2];
    if (pl->type != REDIS_REPLY_STRING) {
        warn_ignored("channel", "not a string");
        return 0;
    }
    if (pl->len > CAROM_FLEET_MSG_MAX) {
        warn_ignored("channel", "longer than 64 KiB");
        return 0;
    }
    const char *why = carom__fleet_decode(pl->str, pl->len, &rep);
    if (why) {
        warn_ignored("channel", why);
        return 0;
    }
    if (strcmp(rep.host, f->self) == 0) return 0;
    char key[KEY_MAX];
    snprintf(key, sizeof key, "%s%s", f->key_prefix, rep.host);
    return fetch(c, f, key, 0);
}

static void disconnect(redisContext **c, redisContext **sub)
{
    if (*c) redisFree(*c);
    if (*sub) redisFree(*sub);
    *c = *sub = NULL;
}

int carom__cmd_fleet(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    struct fleet f;
    if (setup(&f, file, "carom fleet") != 0) {
        if (f.t) carom_policy_free(f.t);
        return 1;
    }
    peers = calloc(PEERS_MAX, sizeof *peers);
    tally = calloc(TALLY_SLOTS, sizeof *tally);
    static carom__fleet_report local, last;
    static char buf[CAROM_FLEET_MSG_MAX + 1];
    if (!peers || !tally) return 1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stderr, NULL, _IOLBF, 0);
    logf_("host %s, redis %s, quorum %u%s, table %s", f.self, f.cfg->redis, f.cfg->quorum,
          f.cfg->quorum_percent ? "%" : " hosts", f.name);

    struct carom__shm tb = {0};
    ino_t ino = 0;
    int table_state = -2, redis_state = -2; /* what was last logged */
    redisContext *c = NULL, *sub = NULL;
    carom_rng rng;
    carom_rng_seed(&rng, (uint64_t)getpid() ^ carom__mono_ms());
    const carom_bounce_cfg bcfg = {
        .base_ms = 200, .cap_ms = 10000, .jitter = CAROM_JITTER_DECORRELATED};
    carom_bounce bo;
    carom_bounce_init(&bo, &bcfg);
    uint64_t next_try = 0, next_pub = 0, next_scan = 0, next_map = 0, seq = 0;
    char err[512];

    while (!stopping) {
        uint64_t now = carom__mono_ms();
        if (now >= next_map) {
            int ts = try_map(&f, &tb, &ino);
            if (ts != table_state)
                logf_(ts == 0 ? "watching %s"
                              : "no shared table yet (%s): waiting for a program to run",
                      f.name);
            table_state = ts;
            next_map = now + 1000;
        }
        if (!c && now >= next_try) {
            c = rconnect(&f, err, sizeof err);
            sub = c ? rconnect(&f, err, sizeof err) : NULL;
            redisReply *r = sub ? redisCommand(sub, "SUBSCRIBE %s", f.chan) : NULL;
            if (r) freeReplyObject(r);
            if (!r) {
                if (sub && sub->err) snprintf(err, sizeof err, "%s", sub->errstr);
                disconnect(&c, &sub);
                uint32_t d = carom_bounce_next(&bo, &bcfg, &rng);
                next_try = now + d;
                if (redis_state != -1)
                    logf_("redis %s unreachable (%s); retrying with backoff", f.cfg->redis, err);
                redis_state = -1;
            } else {
                carom_bounce_init(&bo, &bcfg);
                if (redis_state != 0) logf_("connected to redis %s", f.cfg->redis);
                redis_state = 0;
                next_pub = next_scan = 0;
            }
        }
        read_local(&f, &tb, &local);
        snprintf(local.host, sizeof local.host, "%s", f.self);
        local.ttl_ms = f.cfg->report_ttl_ms;
        bool changed =
            local.n != last.n || memcmp(local.ep, last.ep, local.n * sizeof local.ep[0]) != 0;
        int bad = 0;
        if (c && (changed || now >= next_pub)) {
            local.seq = ++seq;
            bad = publish(c, &f, &local, buf);
            if (!bad) {
                last.n = local.n;
                memcpy(last.ep, local.ep, local.n * sizeof local.ep[0]);
                next_pub = now + f.cfg->report_ttl_ms / 3;
            }
        }
        if (c && !bad && now >= next_scan) {
            bad = scan_all(c, &f);
            next_scan = now + f.cfg->report_ttl_ms / 2;
        }
        /* Reports expire here too, so an unreachable Redis cannot keep a mark alive. */
        now = carom__mono_ms();
        for (unsigned i = npeers; i-- > 0;)
            if (peers[i].expires_ms <= now) peer_drop(i);
        decide(&f, &tb);

        if (sub && !bad) {
            struct pollfd pfd = {.fd = sub->fd, .events = POLLIN};
            int pr = poll(&pfd, 1, TICK_MS);
            if (pr > 0) {
                if (redisBufferRead(sub) != REDIS_OK) {
                    bad = 1;
                } else {
                    void *m;
                    while (!bad && redisGetReplyFromReader(sub, &m) == REDIS_OK && m) {
                        bad = on_message(c, &f, m) != 0;
                        freeReplyObject(m);
                    }
                    if (sub->err) bad = 1;
                }
            }
        } else if (!stopping) {
            struct timespec ts = {0, TICK_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (bad) {
            snprintf(err, sizeof err, "%s",
                     c && c->err       ? c->errstr
                     : sub && sub->err ? sub->errstr
                                       : "connection lost");
            disconnect(&c, &sub);
            logf_("redis %s lost (%s); retrying with backoff", f.cfg->redis, err);
            redis_state = -1;
            next_try = carom__mono_ms() + carom_bounce_next(&bo, &bcfg, &rng);
        }
    }
    /* Stopping: marks are this daemon's word, so they go with it; the report is withdrawn
     * at once rather than left to expire. */
    clear_all(&f, &tb);
    if (c) {
        redisReply *r = redisCommand(c, "DEL %s", f.own_key);
        if (r) freeReplyObject(r);
    }
    disconnect(&c, &sub);
    logf_("stopped (%lu reports ignored)", ignored);
    carom__shm_unmap(&tb);
    for (unsigned i = 0; i < npeers; i++)
        free(peers[i].ep);
    free(peers);
    free(tally);
    carom_policy_free(f.t);
    return 0;
}

/* ---- carom cushions --fleet
 * ------------------------------------------------------------------ */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) /* ids and endpoints are checked ASCII already: quote what JSON needs */
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else
            putchar(*s);
    putchar('"');
}

int carom__fleet_show(const char *file, int json)
{
    struct fleet f;
    if (setup(&f, file, "carom cushions") != 0) {
        if (f.t) carom_policy_free(f.t);
        return 1;
    }
    peers = calloc(PEERS_MAX, sizeof *peers);
    char err[512];
    redisContext *c = peers ? rconnect(&f, err, sizeof err) : NULL;
    if (!c) {
        fprintf(stderr, "carom cushions: redis %s: %s\n", f.cfg->redis,
                peers ? err : "out of memory");
        free(peers);
        carom_policy_free(f.t);
        return 1;
    }
    /* Our own report is read like anyone's: what the fleet sees of this host. */
    f.self[0] = '\x01';
    f.self[1] = 0;
    int rc = scan_all(c, &f);
    redisFree(c);
    if (rc != 0) {
        fprintf(stderr, "carom cushions: redis %s: the reports could not be read\n", f.cfg->redis);
        free(peers);
        carom_policy_free(f.t);
        return 1;
    }
    /* Every endpoint some host reports open, once, in order. */
    static carom__fleet_ep eps[CAROM_FLEET_EPS_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < npeers; i++)
        for (unsigned j = 0; j < peers[i].n; j++) {
            const carom__fleet_ep *e = &peers[i].ep[j];
            if (!carom__fleet_counts(e->state) && e->state != CAROM_FLEET_FORCED) continue;
            unsigned k = 0;
            while (k < n && strcmp(eps[k].ep, e->ep) != 0)
                k++;
            if (k == n && n < CAROM_FLEET_EPS_MAX) eps[n++] = *e;
        }
    qsort(eps, n, sizeof eps[0], cmp_ep);
    if (json)
        fputs("[", stdout);
    else
        printf("%u host%s reporting; quorum %u%s\n%-40s %s\n", npeers, npeers == 1 ? "" : "s",
               f.cfg->quorum, f.cfg->quorum_percent ? "%" : "", "ENDPOINT", "REPORTED OPEN BY");
    for (unsigned k = 0; k < n; k++) {
        if (json) {
            fputs(k ? ",\n {\"endpoint\":" : "{\"endpoint\":", stdout);
            json_str(eps[k].ep);
            fputs(",\"hosts\":[", stdout);
        } else {
            printf("%-40s ", eps[k].ep);
        }
        unsigned shown = 0;
        for (unsigned i = 0; i < npeers; i++)
            for (unsigned j = 0; j < peers[i].n; j++) {
                const carom__fleet_ep *e = &peers[i].ep[j];
                if (strcmp(e->ep, eps[k].ep) != 0 || e->state == CAROM_FLEET_CLOSED ||
                    e->state == CAROM_FLEET_MARKED)
                    continue;
                if (json) {
                    fputs(shown ? ",{\"host\":" : "{\"host\":", stdout);
                    json_str(peers[i].host);
                    printf(",\"state\":\"%s\"}", carom__fleet_state_name(e->state));
                } else {
                    printf("%s%s (%s)", shown ? ", " : "", peers[i].host,
                           carom__fleet_state_name(e->state));
                }
                shown++;
            }
        fputs(json ? "]}" : "\n", stdout);
    }
    if (json)
        fputs("]\n", stdout);
    else if (!n)
        printf("(no endpoint reported open)\n");
    for (unsigned i = 0; i < npeers; i++)
        free(peers[i].ep);
    free(peers);
    carom_policy_free(f.t);
    return fflush(stdout) == 0 ? 0 : 1;
}
