/* SPDX-License-Identifier: MIT */
/**
 * collectd-vacmon - plugins/vacquery_poll.c
 *
 * The responder poller of the vacquery plugin (issue 12): every
 * PollInterval it sends each Vac factory a machines_query from its own UDP
 * socket, paced at PollRate, re-sends to factories whose reply is
 * incomplete after PollTimeout (6 send rounds, as Vac's client), checks
 * every reply (source address, cookie, space, message type) and turns the
 * accepted ones into machine-level values and lifecycle notifications
 * through src/vacquery/vq_poll_output.h. One thread; the receive path of
 * pushed messages only calls vqp_learn() and vqp_push_finish().
 *
 *   Poll true                 # default false
 *   PollInterval 60           # s, 5..86400
 *   PollPort 995              # the responders' port
 *   PollTimeout 2             # s per send round, 0.1..60
 *   PollRate 100              # queries per second, 1..100000
 *   PollFactory "host" ["space"]   # repeatable
 *   PollLearn true            # poll the Vac factories heard from
 *   MaxSlots 200000           # slot table bound, 1..100000000
 *   PollSource "192.0.2.1"    # address the query socket binds to
 */

#include "vacquery_poll.h"

#include "collectd/core/utils/common/common.h"

#include "common/cm_htab.h"
#include "common/cm_key.h"
#include "common/cm_option.h"
#include "vacquery/vq_poll.h"
#include "vacquery/vq_poll_output.h"
#include "vacquery/vq_poll_round.h"
#include "vacquery/vq_policy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/random.h>

#define VQP "vacquery plugin: "
#define VQP_SEND_ROUNDS 6        /* Vac's client: up to 6 send rounds */
#define VQP_MAX_FACTORIES 100000 /* factories polled at most */
#define VQP_RECV_MAX 10240       /* Vac's clients read replies this big */

/* The poller's counters (vacquery_poll-<name>), in the contract's order. */
typedef enum {
  VQP_QUERIES,
  VQP_REPLIES,
  VQP_ACCEPTED,
  VQP_BAD_COOKIE,
  VQP_BAD_SPACE,
  VQP_NOT_MACHINE,
  VQP_NO_SLOT,
  VQP_WRONG_SOURCE,
  VQP_NOT_JSON,
  VQP_LATE,
  VQP_TIMEOUT,
  VQP_SLOTS_FULL,
  VQP_COUNTERS
} vqp_counter_t;

static const char *const vqp_counter_names[VQP_COUNTERS] = {
    "queries",   "replies",     "accepted", "bad_cookie",
    "bad_space", "not_machine", "no_slot",  "wrong_source",
    "not_json",  "late",        "timeout",  "slots_full"};

/* A PollFactory line. */
typedef struct {
  char *host, *space; /* space NULL: learnt, or the host's domain */
} vqp_conf_factory_t;

/* One polled factory. Under its poller's lock. */
typedef struct {
  char name[256], space[256];
  bool space_fixed; /* PollFactory with a space: not learnt */
  bool check_name;  /* replies must name this factory */
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint8_t map_key[19]; /* its key in by_addr (vqp_rebuild_addr) */
  size_t map_key_len;
  /* the current round */
  bool active, unanswering, had_round;
  int sends;
  double round_start, next_round, deadline;
  uint64_t round;
  char salt[VQ_POLL_SALT_LEN + 1];
  vq_poll_round_t *progress; /* who answered, num_machines, the site */
  vq_poll_tally_t *tally;
} vqp_factory_t;

/* The poller of one vacquery instance (vqp_create), owned by it. */
struct vqp {
  vq_plugin_t *owner; /* the instance: its dispatching and fleet */
  /* configuration */
  bool enabled, learn;
  double interval, timeout, rate;
  int port;
  size_t max_slots;
  char *source;
  vqp_conf_factory_t *conf_factories;
  size_t conf_factories_num;
  /* state */
  int fds[2]; /* AF_INET, AF_INET6; -1 when not open */
  pthread_t thread;
  atomic_bool running; /* started: the slot table answers vqp_push_finish() */
  bool stopped;        /* the thread has ended (vqp_stop) */
  atomic_bool stopping;
  pthread_mutex_t lock; /* factories, the maps and slots */
  vqp_factory_t **factories;
  size_t factories_num, factories_cap;
  cm_htab_t *by_name, *by_addr; /* name / address key -> factory */
  bool addr_dirty;              /* by_addr needs a rebuild */
  vq_slots_t *slots;
  uint64_t rounds;
  atomic_uint_fast64_t counters[VQP_COUNTERS];
  atomic_uint_fast64_t finished_push, finished_poll;
};

vqp_t *vqp_create(vq_plugin_t *owner) {
  vqp_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  *p = (vqp_t){.owner = owner,
               .learn = true,
               .interval = 60,
               .timeout = 2,
               .rate = 100,
               .port = 995,
               .max_slots = 200000,
               .fds = {-1, -1}};
  pthread_mutex_init(&p->lock, NULL);
  return p;
}

/* Increments counter c of p. */
static void vqp_count(vqp_t *p, vqp_counter_t c) {
  atomic_fetch_add(&p->counters[c], 1);
}

/* ---- configuration ---------------------------------------------------- */

/* Handles `PollFactory host [space]'. Returns 0 or -1. */
static int vqp_config_factory(vqp_t *p, oconfig_item_t *c) {
  if (c->values_num < 1 || c->values_num > 2 ||
      c->values[0].type != OCONFIG_TYPE_STRING ||
      c->values[0].value.string[0] == '\0' ||
      (c->values_num == 2 && (c->values[1].type != OCONFIG_TYPE_STRING ||
                              c->values[1].value.string[0] == '\0'))) {
    ERROR(VQP "PollFactory needs a host and an optional space, e.g. "
              "PollFactory \"vac101.example.ac.uk\" \"vac01.example.ac.uk\".");
    return -1;
  }
  vqp_conf_factory_t one = {
      .host = strdup(c->values[0].value.string),
      .space = c->values_num == 2 ? strdup(c->values[1].value.string) : NULL};
  size_t cap = p->conf_factories_num;
  if (one.host == NULL || (c->values_num == 2 && one.space == NULL) ||
      cm_vec_reserve((void **)&p->conf_factories, &cap,
                     p->conf_factories_num + 1,
                     sizeof(*p->conf_factories)) != 0) {
    ERROR(VQP "PollFactory: out of memory.");
    free(one.host);
    free(one.space);
    return -1;
  }
  p->conf_factories[p->conf_factories_num++] = one;
  return 0;
}

int vqp_config(vqp_t *p, oconfig_item_t *c) {
  double d = 0;
  int status;
  if (strcasecmp("Poll", c->key) == 0)
    return cf_util_get_boolean(c, &p->enabled) == 0 ? 0 : -1;
  if (strcasecmp("PollLearn", c->key) == 0)
    return cf_util_get_boolean(c, &p->learn) == 0 ? 0 : -1;
  if (strcasecmp("PollInterval", c->key) == 0)
    return vq_config_number(c, 5, 86400, &p->interval);
  if (strcasecmp("PollTimeout", c->key) == 0)
    return vq_config_number(c, 0.1, 60, &p->timeout);
  if (strcasecmp("PollRate", c->key) == 0)
    return vq_config_number(c, 1, 100000, &p->rate);
  if (strcasecmp("PollPort", c->key) == 0) {
    status = vq_config_number(c, 1, 65535, &d);
    p->port = (int)d;
    return status;
  }
  if (strcasecmp("MaxSlots", c->key) == 0) {
    status = vq_config_number(c, 1, 1e8, &d);
    p->max_slots = (size_t)d;
    return status;
  }
  if (strcasecmp("PollFactory", c->key) == 0)
    return vqp_config_factory(p, c);
  if (strcasecmp("PollSource", c->key) == 0) {
    free(p->source);
    p->source = NULL;
    return cf_util_get_string(c, &p->source) == 0 ? 0 : -1;
  }
  return 1;
}

/* ---- factories ------------------------------------------------------------
 */

/* Writes the map key of address sa (family, port, address bytes; an
 * IPv4-mapped IPv6 address as IPv4) into key. Returns its length, or 0
 * for another family. */
static size_t vqp_addr_key(const struct sockaddr *sa, uint8_t key[19]) {
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
      key[0] = AF_INET;
      memcpy(key + 1, &s6->sin6_port, 2);
      memcpy(key + 3, s6->sin6_addr.s6_addr + 12, 4);
      return 7;
    }
    key[0] = AF_INET6;
    memcpy(key + 1, &s6->sin6_port, 2);
    memcpy(key + 3, &s6->sin6_addr, 16);
    return 19;
  }
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    key[0] = AF_INET;
    memcpy(key + 1, &s4->sin_port, 2);
    memcpy(key + 3, &s4->sin_addr, 4);
    return 7;
  }
  return 0;
}

/* Sets f's address to sa with the poll port (an IPv4-mapped address as
 * IPv4). Returns 0, or -1 for another family. */
static int vqp_set_addr(vqp_t *p, vqp_factory_t *f, const struct sockaddr *sa) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  socklen_t len;
  const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
  if (sa->sa_family == AF_INET ||
      (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))) {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    s4->sin_family = AF_INET;
    if (sa->sa_family == AF_INET)
      s4->sin_addr = ((const struct sockaddr_in *)sa)->sin_addr;
    else
      memcpy(&s4->sin_addr, s6->sin6_addr.s6_addr + 12, 4);
    s4->sin_port = htons((uint16_t)p->port);
    len = sizeof(*s4);
  } else if (sa->sa_family == AF_INET6) {
    struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&ss;
    *d6 = *s6;
    d6->sin6_port = htons((uint16_t)p->port);
    len = sizeof(*d6);
  } else {
    return -1;
  }
  if (len != f->addrlen || memcmp(&ss, &f->addr, len) != 0) {
    f->addr = ss;
    f->addrlen = len;
    p->addr_dirty = true;
  }
  return 0;
}

/* Frees one factory. */
static void vqp_factory_free(void *p) {
  vqp_factory_t *f = p;
  if (f == NULL)
    return;
  vq_poll_round_destroy(f->progress);
  vq_poll_tally_destroy(f->tally);
  free(f);
}

/* Returns the factory named name, adding it (without an address) when new
 * and room is left, or NULL. Under the lock. */
static vqp_factory_t *vqp_factory_get(vqp_t *p, const char *name) {
  size_t len = strlen(name);
  vqp_factory_t *f = cm_htab_get(p->by_name, name, len);
  if (f != NULL || len >= sizeof(f->name) ||
      p->factories_num >= VQP_MAX_FACTORIES)
    return f;
  f = calloc(1, sizeof(*f));
  if (f == NULL || (f->progress = vq_poll_round_create()) == NULL ||
      (f->tally = vq_poll_tally_create()) == NULL ||
      cm_vec_reserve((void **)&p->factories, &p->factories_cap,
                     p->factories_num + 1, sizeof(*p->factories)) != 0) {
    vqp_factory_free(f);
    return NULL;
  }
  memcpy(f->name, name, len + 1);
  f->check_name = true;
  /* Spread the first rounds over one interval (no burst at start). */
  f->next_round = CDTIME_T_TO_DOUBLE(cdtime()) +
                  p->interval * (double)(p->factories_num % 97) / 97.0 / 10;
  if (cm_htab_put(p->by_name, f->name, len, f) != 0) {
    vqp_factory_free(f);
    return NULL;
  }
  p->factories[p->factories_num++] = f;
  return f;
}

/* Rebuilds the address map (cm_htab has no delete) from every factory's
 * address, each keyed by its own map_key. Under the lock. */
static void vqp_rebuild_addr(vqp_t *p) {
  if (!p->addr_dirty)
    return;
  cm_htab_t *h = cm_htab_create();
  if (h == NULL)
    return; /* tried again at the next tick */
  for (size_t i = 0; i < p->factories_num; i++) {
    vqp_factory_t *f = p->factories[i];
    f->map_key_len = f->addrlen > 0
                         ? vqp_addr_key((struct sockaddr *)&f->addr, f->map_key)
                         : 0;
    if (f->map_key_len > 0)
      cm_htab_put(h, f->map_key, f->map_key_len, f);
  }
  cm_htab_destroy(p->by_addr, NULL);
  p->by_addr = h;
  p->addr_dirty = false;
}

void vqp_learn(vqp_t *p, const vq_message_t *m, const struct sockaddr *from) {
  if (!atomic_load(&p->running) || !p->learn || from == NULL ||
      m->type != VQ_MSG_FACTORY)
    return;
  vq_str_t dv = m->str[VQ_S_DAEMON_VERSION], fac = m->str[VQ_S_FACTORY];
  vq_str_t space = m->str[VQ_S_SPACE], site = m->str[VQ_S_SITE];
  if (dv.ptr == NULL || dv.len < 4 || memcmp(dv.ptr, "Vac ", 4) != 0 ||
      fac.ptr == NULL || fac.len == 0 || fac.len >= 256 || space.ptr == NULL ||
      space.len >= 256 || memchr(fac.ptr, '\0', fac.len) != NULL)
    return;
  char name[256];
  memcpy(name, fac.ptr, fac.len);
  name[fac.len] = '\0';
  pthread_mutex_lock(&p->lock);
  vqp_factory_t *f = vqp_factory_get(p, name);
  if (f != NULL) {
    vqp_set_addr(p, f, from);
    if (!f->space_fixed) {
      memcpy(f->space, space.ptr, space.len);
      f->space[space.len] = '\0';
    }
    vq_poll_round_set_site(f->progress, site);
  }
  pthread_mutex_unlock(&p->lock);
}

int vqp_push_finish(vqp_t *p, const vq_message_t *m) {
  if (!atomic_load(&p->running))
    return 1;
  vq_str_t fac = m->str[VQ_S_FACTORY];
  int r = 1;
  pthread_mutex_lock(&p->lock);
  /* Only machines of polled factories can be counted twice; the others
   * are not kept in the slot table. */
  if (fac.ptr != NULL && cm_htab_get(p->by_name, fac.ptr, fac.len) != NULL)
    r = vq_slots_count_finish(p->slots, m, CDTIME_T_TO_DOUBLE(cdtime())) != 0;
  pthread_mutex_unlock(&p->lock);
  if (r)
    atomic_fetch_add(&p->finished_push, 1);
  return r;
}

void vqp_dispatch_finished(vqp_t *p, const vq_out_notif_t *n,
                           const char *source, cdtime_t t) {
  if (!atomic_load(&p->running) || source == NULL) {
    vq_dispatch_notif(n, t);
    return;
  }
  vq_meta_t meta[256];
  vq_out_notif_t copy = *n;
  copy.meta.items = meta;
  copy.meta.num = vq_poll_meta_with(&n->meta, "finish_source", source, meta,
                                    sizeof(meta) / sizeof(meta[0]));
  vq_dispatch_notif(&copy, t);
}

/* ---- sockets and rounds ----------------------------------------------------
 */

/* Fills rnd with 32 random bytes: getrandom(), else /dev/urandom. Returns
 * 0 or -1. */
static int vqp_random(uint8_t rnd[32]) {
  if (getrandom(rnd, 32, 0) == 32)
    return 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, rnd, 32);
  close(fd);
  return n == 32 ? 0 : -1;
}

/* Starts a new round of f at now: a new salt, nothing seen yet. */
static void vqp_round_start(vqp_t *p, vqp_factory_t *f, double now) {
  uint8_t rnd[32];
  if (vqp_random(rnd) != 0) {
    ERROR(VQP "no random bytes for a poll salt: %s", STRERRNO);
    f->next_round = now + p->interval;
    return;
  }
  vq_poll_salt(rnd, f->salt);
  f->active = true;
  f->had_round = true;
  f->sends = 0;
  f->round = ++p->rounds;
  f->round_start = now;
  f->deadline = 0;
  vq_poll_round_reset(f->progress);
  vq_poll_tally_reset(f->tally);
}

/* Ends f's round: the next one is one interval after this one started. */
static void vqp_round_end(const vqp_t *p, vqp_factory_t *f, double now) {
  f->active = false;
  f->next_round = f->round_start + p->interval;
  if (f->next_round <= now)
    f->next_round = now + p->interval;
}

/* Sends f its machines_query. Returns 0, or -1 when it could not be sent
 * (retried at the next send round). */
static int vqp_send(vqp_t *p, vqp_factory_t *f, double now) {
  int fd = p->fds[f->addr.ss_family == AF_INET6 ? 1 : 0];
  char cookie[VQ_POLL_COOKIE_LEN + 1], buf[1024];
  vq_poll_cookie(f->salt, f->name, strlen(f->name), cookie);
  long n = vq_poll_query(buf, sizeof(buf), f->space, cookie);
  f->sends++;
  f->deadline = now + p->timeout;
  if (fd < 0 || n < 0)
    return -1;
  if (sendto(fd, buf, (size_t)n, MSG_DONTWAIT, (struct sockaddr *)&f->addr,
             f->addrlen) < 0)
    return -1;
  vqp_count(p, VQP_QUERIES);
  return 0;
}

/* Opens the query socket of family fam bound to sa (NULL: any address,
 * ephemeral port). Returns the fd or -1. */
static int vqp_open(int fam, const struct sockaddr *sa, socklen_t len) {
  int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return -1;
  int one = 1;
  if (fam == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  struct sockaddr_storage any;
  memset(&any, 0, sizeof(any));
  any.ss_family = (sa_family_t)fam;
  if (sa == NULL) {
    sa = (struct sockaddr *)&any;
    len = fam == AF_INET6 ? sizeof(struct sockaddr_in6)
                          : sizeof(struct sockaddr_in);
  }
  if (bind(fd, sa, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Opens the query socket(s): on PollSource, else one per address family.
 * Returns 0 or -1 (logged). */
static int vqp_open_sockets(vqp_t *p) {
  if (p->source == NULL) {
    p->fds[0] = vqp_open(AF_INET, NULL, 0);
    p->fds[1] = vqp_open(AF_INET6, NULL, 0);
    if (p->fds[0] < 0 && p->fds[1] < 0) {
      ERROR(VQP "Poll: cannot open a query socket: %s", STRERRNO);
      return -1;
    }
    return 0;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int s = getaddrinfo(p->source, NULL, &hints, &res);
  if (s != 0) {
    ERROR(VQP "PollSource \"%s\": %s", p->source, gai_strerror(s));
    return -1;
  }
  int fam = res->ai_family;
  int fd = vqp_open(fam, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (fd < 0) {
    ERROR(VQP "PollSource \"%s\": bind: %s", p->source, STRERRNO);
    return -1;
  }
  p->fds[fam == AF_INET6 ? 1 : 0] = fd;
  return 0;
}

/* Adds the PollFactory lines: resolves each host. Returns 0 or -1. */
static int vqp_add_conf_factories(vqp_t *p) {
  for (size_t i = 0; i < p->conf_factories_num; i++) {
    const vqp_conf_factory_t *c = &p->conf_factories[i];
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    int s = getaddrinfo(c->host, NULL, &hints, &res);
    if (s != 0) {
      ERROR(VQP "PollFactory \"%s\": %s", c->host, gai_strerror(s));
      return -1;
    }
    const struct addrinfo *ai = res;
    while (ai != NULL && p->fds[ai->ai_family == AF_INET6 ? 1 : 0] < 0)
      ai = ai->ai_next;
    if (ai == NULL) {
      freeaddrinfo(res);
      ERROR(VQP "PollFactory \"%s\": no address of a family the query "
                "socket has (PollSource).",
            c->host);
      return -1;
    }
    vqp_factory_t *f = vqp_factory_get(p, c->host);
    if (f == NULL) {
      freeaddrinfo(res);
      ERROR(VQP "PollFactory \"%s\": name too long or out of memory.", c->host);
      return -1;
    }
    vqp_set_addr(p, f, ai->ai_addr);
    freeaddrinfo(res);
    /* A numeric address is no factory name: any name is taken then. */
    struct in6_addr tmp;
    f->check_name = inet_pton(AF_INET, c->host, &tmp) != 1 &&
                    inet_pton(AF_INET6, c->host, &tmp) != 1;
    const char *dot = strchr(c->host, '.');
    const char *space = c->space != NULL ? c->space : dot ? dot + 1 : c->host;
    sstrncpy(f->space, space, sizeof(f->space));
    f->space_fixed = c->space != NULL;
  }
  return 0;
}

/* ---- replies ----------------------------------------------------------------
 */

/* What one accepted reply became, dispatched after the lock. */
typedef struct {
  vq_poll_out_t out;
  bool has_out;
  bool finished; /* the poller decides this machine's finish */
  vq_poll_out_t *gone;
  size_t gone_num, gone_cap;
  vq_out_values_t *slots;
  size_t slots_num;
} vqp_result_t;

typedef struct {
  vqp_result_t *res;
  const vqp_factory_t *f;
} vqp_gone_ctx_t;

/* vq_slots_end_round() callback: the output of one slot gone. */
static void vqp_on_gone(const vq_slot_event_t *ev, void *arg) {
  vqp_gone_ctx_t *g = arg;
  vqp_result_t *r = g->res;
  if (cm_vec_reserve((void **)&r->gone, &r->gone_cap, r->gone_num + 1,
                     sizeof(*r->gone)) != 0)
    return;
  vq_poll_ctx_t ctx = {.site = vq_poll_round_site(g->f->progress),
                       .space = g->f->space};
  if (vq_poll_output(&r->gone[r->gone_num], ev->slot, ev, &ctx,
                     CDTIME_T_TO_DOUBLE(cdtime())) == 0 &&
      r->gone[r->gone_num].notifs_num > 0)
    r->gone_num++;
}

/* Records the accepted reply m of f (under the lock) into *res. */
static void vqp_accept(vqp_t *p, vqp_factory_t *f, const vq_message_t *m,
                       const char *source, double now, vqp_result_t *res) {
  vqp_count(p, VQP_ACCEPTED);
  if (vq_poll_round_add(f->progress, m) != 1)
    return; /* an answer to an earlier send of this round, or no memory */
  const char *site = vq_poll_round_site(f->progress);
  vq_slot_event_t ev;
  int changed = vq_slots_observe(p->slots, m, f->round, now, &ev);
  if (changed < 0) {
    vqp_count(p, VQP_SLOTS_FULL);
  } else {
    vq_poll_ctx_t ctx = {
        .site = site, .space = f->space, .source = source, .m = m};
    res->has_out = vq_poll_output(&res->out, ev.slot, changed ? &ev : NULL,
                                  &ctx, now) == 0;
    vq_poll_tally_add(f->tally, ev.slot);
    if (vq_poll_finish_ready(m) && vq_slots_count_finish(p->slots, m, now) == 1)
      res->finished = true;
  }
  if (vq_poll_round_complete(f->progress)) {
    /* Complete: every slot of the factory answered. */
    vqp_gone_ctx_t g = {res, f};
    vq_slots_end_round(p->slots, f->name, f->round, vqp_on_gone, &g);
    res->slots =
        vq_poll_tally_lists(f->tally, site, f->space, f->name, &res->slots_num);
    f->unanswering = false;
    vqp_round_end(p, f, now);
  }
}

/* Dispatches the n value lists at l (no meta data) at time t. */
static void vqp_dispatch_lists(const vqp_t *p, const vq_out_values_t *l,
                               size_t n, cdtime_t t, cdtime_t interval) {
  for (size_t k = 0; k < n; k++)
    vq_dispatch(p->owner, l[k].id.host, l[k].id.plugin_instance, l[k].type,
                l[k].id.type_instance, l[k].values, t, interval, NULL);
}

/* Dispatches one slot output. */
static void vqp_dispatch_out(const vqp_t *p, const vq_poll_out_t *o, cdtime_t t,
                             cdtime_t interval) {
  vqp_dispatch_lists(p, o->lists, o->lists_num, t, interval);
  if (o->notifs_num > 0)
    vq_dispatch_notif(&o->notif, t);
}

/* Dispatches everything in res and frees what it holds. */
static void vqp_result_dispatch(vqp_t *p, vqp_result_t *res,
                                const vq_message_t *m,
                                const struct sockaddr *from, cdtime_t t) {
  cdtime_t interval = DOUBLE_TO_CDTIME_T(p->interval);
  for (size_t i = 0; i < res->gone_num; i++)
    vqp_dispatch_out(p, &res->gone[i], t, interval);
  if (res->has_out)
    vqp_dispatch_out(p, &res->out, t, interval);
  if (res->finished) {
    atomic_fetch_add(&p->finished_poll, 1);
    vq_finished_polled(p->owner, m, from, t);
  }
  vqp_dispatch_lists(p, res->slots, res->slots_num, t, interval);
  free(res->gone);
  free(res->slots);
}

/* Checks and handles one datagram of len bytes from sa. */
static void vqp_reply(vqp_t *p, vq_parser_t *parser, vqp_result_t *res,
                      const char *buf, size_t len, const struct sockaddr *sa) {
  vqp_count(p, VQP_REPLIES);
  uint8_t key[19];
  size_t kl = vqp_addr_key(sa, key);
  pthread_mutex_lock(&p->lock);
  vqp_factory_t *f =
      kl > 0 && p->by_addr != NULL ? cm_htab_get(p->by_addr, key, kl) : NULL;
  if (f == NULL || !f->had_round) {
    pthread_mutex_unlock(&p->lock);
    vqp_count(p, VQP_WRONG_SOURCE);
    return;
  }
  /* Copy what the check needs: f may change once the lock is let go. */
  char salt[VQ_POLL_SALT_LEN + 1], space[256], name[256];
  sstrncpy(salt, f->salt, sizeof(salt));
  sstrncpy(space, f->space, sizeof(space));
  sstrncpy(name, f->check_name ? f->name : "", sizeof(name));
  pthread_mutex_unlock(&p->lock);

  vq_message_t m;
  if (vq_parse(parser, buf, len, &m) != VQ_OK) {
    vqp_count(p, VQP_NOT_JSON);
    return;
  }
  vq_poll_verdict_t v = vq_poll_check(&m, salt, space);
  static const vqp_counter_t of[VQ_POLL_VERDICT_COUNT] = {
      [VQ_POLL_NOT_MACHINE] = VQP_NOT_MACHINE,
      [VQ_POLL_NO_SLOT] = VQP_NO_SLOT,
      [VQ_POLL_BAD_SPACE] = VQP_BAD_SPACE,
      [VQ_POLL_BAD_COOKIE] = VQP_BAD_COOKIE};
  vq_str_t fac = m.str[VQ_S_FACTORY];
  if (v == VQ_POLL_OK && name[0] != '\0' &&
      (fac.len != strlen(name) || memcmp(fac.ptr, name, fac.len) != 0)) {
    vqp_count(p, VQP_WRONG_SOURCE); /* another factory's name at this address */
  } else if (v != VQ_POLL_OK) {
    vqp_count(p, of[v]);
  } else {
    char addr[64];
    vq_addr_format(sa, addr, sizeof(addr));
    cdtime_t t = cdtime();
    pthread_mutex_lock(&p->lock);
    if (!f->active || strcmp(f->salt, salt) != 0)
      vqp_count(p, VQP_LATE); /* its round is over */
    else
      vqp_accept(p, f, &m, addr, CDTIME_T_TO_DOUBLE(t), res);
    pthread_mutex_unlock(&p->lock);
    vqp_result_dispatch(p, res, &m, sa, t);
  }
  vq_message_clear(&m);
}

/* Receives every datagram waiting on fd (at most 1024 at a time). */
static void vqp_drain(vqp_t *p, int fd, vq_parser_t *parser, char *buf) {
  for (int i = 0; i < 1024; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    ssize_t n = recvfrom(fd, buf, VQP_RECV_MAX, MSG_DONTWAIT | MSG_TRUNC,
                         (struct sockaddr *)&ss, &sl);
    if (n < 0)
      return;
    vqp_result_t res;
    memset(&res, 0, sizeof(res));
    if (n > VQP_RECV_MAX) {
      vqp_count(p, VQP_REPLIES);
      vqp_count(p, VQP_NOT_JSON);
      continue;
    }
    vqp_reply(p, parser, &res, buf, (size_t)n, (struct sockaddr *)&ss);
  }
}

/* One pass over the factories at now: starts due rounds, ends timed-out
 * ones, sends due queries while tokens last. Returns the seconds until
 * something is due (at most 0.1). */
static double vqp_tick(vqp_t *p, double now, double *tokens, size_t *next) {
  double wait = 0.1;
  pthread_mutex_lock(&p->lock);
  vqp_rebuild_addr(p);
  size_t n = p->factories_num;
  for (size_t k = 0; k < n; k++) {
    size_t i = (*next + k) % n;
    vqp_factory_t *f = p->factories[i];
    if (f->addrlen == 0)
      continue;
    if (!f->active) {
      if (now < f->next_round) {
        if (f->next_round - now < wait)
          wait = f->next_round - now;
        continue;
      }
      vqp_round_start(p, f, now);
      if (!f->active)
        continue;
    }
    if (f->sends > 0 && now < f->deadline) {
      if (f->deadline - now < wait)
        wait = f->deadline - now;
      continue;
    }
    if (f->sends >= VQP_SEND_ROUNDS) {
      vqp_count(p, VQP_TIMEOUT);
      if (!f->unanswering)
        INFO(VQP "factory %s (%s) did not answer %d queries: polled again "
                 "in %.0f s.",
             f->name, f->space, VQP_SEND_ROUNDS, p->interval);
      f->unanswering = true;
      vqp_round_end(p, f, now);
      continue;
    }
    if (*tokens < 1) {
      *next = i; /* this one goes first next time */
      wait = 1 / p->rate;
      break;
    }
    *tokens -= 1;
    vqp_send(p, f, now);
  }
  pthread_mutex_unlock(&p->lock);
  return wait > 0.001 ? wait : 0.001;
}

/* The poll thread of the poller arg: paces queries and reads replies
 * until vqp_stop(). Returns NULL. */
static void *vqp_main(void *arg) {
  vqp_t *p = arg;
  vq_parser_t *parser = vq_parser_create();
  char *buf = malloc(VQP_RECV_MAX + 1);
  if (parser == NULL || buf == NULL) {
    ERROR(VQP "out of memory starting the poller.");
    vq_parser_destroy(parser);
    free(buf);
    return NULL;
  }
  struct pollfd pfd[2];
  nfds_t nfd = 0;
  for (int i = 0; i < 2; i++)
    if (p->fds[i] >= 0)
      pfd[nfd++] = (struct pollfd){.fd = p->fds[i], .events = POLLIN};
  double tokens = 1, last = CDTIME_T_TO_DOUBLE(cdtime());
  const double cap = p->rate / 10 > 1 ? p->rate / 10 : 1;
  size_t next = 0;
  while (!atomic_load(&p->stopping)) {
    double now = CDTIME_T_TO_DOUBLE(cdtime());
    tokens += (now - last) * p->rate;
    if (tokens > cap)
      tokens = cap;
    last = now;
    double wait = vqp_tick(p, now, &tokens, &next);
    if (poll(pfd, nfd, (int)(wait * 1000) + 1) > 0)
      for (nfds_t i = 0; i < nfd; i++)
        if (pfd[i].revents & POLLIN)
          vqp_drain(p, pfd[i].fd, parser, buf);
  }
  vq_parser_destroy(parser);
  free(buf);
  return NULL;
}

/* ---- life cycle
 * -------------------------------------------------------------- */

int vqp_init(vqp_t *p) {
  if (!p->enabled || atomic_load(&p->running))
    return 0;
  p->by_name = cm_htab_create();
  p->slots = vq_slots_create(p->max_slots);
  if (p->by_name == NULL || p->slots == NULL) {
    ERROR(VQP "Poll: out of memory.");
    return -1;
  }
  if (vqp_open_sockets(p) != 0 || vqp_add_conf_factories(p) != 0)
    return -1;
  p->addr_dirty = true;
  vqp_rebuild_addr(p);
  atomic_store(&p->stopping, false);
  if (plugin_thread_create(&p->thread, vqp_main, p, "vacquery poll") != 0) {
    ERROR(VQP "cannot start the poll thread: %s", STRERRNO);
    return -1;
  }
  atomic_store(&p->running, true);
  INFO(VQP "polling %zu configured factories%s every %.0f s on port %d.",
       p->factories_num, p->learn ? " and those heard from" : "", p->interval,
       p->port);
  return 0;
}

void vqp_stop(vqp_t *p) {
  if (atomic_load(&p->running) && !p->stopped) {
    atomic_store(&p->stopping, true);
    pthread_join(p->thread, NULL);
    p->stopped = true;
  }
}

void vqp_destroy(vqp_t *p) {
  if (p == NULL)
    return;
  vqp_stop(p); /* no other thread uses p from here on */
  for (int i = 0; i < 2; i++)
    if (p->fds[i] >= 0)
      close(p->fds[i]);
  for (size_t i = 0; i < p->factories_num; i++)
    vqp_factory_free(p->factories[i]);
  free(p->factories);
  cm_htab_destroy(p->by_name, NULL);
  cm_htab_destroy(p->by_addr, NULL);
  vq_slots_destroy(p->slots);
  for (size_t i = 0; i < p->conf_factories_num; i++) {
    free(p->conf_factories[i].host);
    free(p->conf_factories[i].space);
  }
  free(p->conf_factories);
  free(p->source);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

void vqp_read(vqp_t *p, cdtime_t now, cdtime_t interval) {
  if (!atomic_load(&p->running))
    return;
  for (int i = 0; i < VQP_COUNTERS; i++) {
    double v = (double)atomic_load(&p->counters[i]);
    vq_dispatch(p->owner, hostname_g, "", vq_type(VQ_TYPE_POLL),
                vqp_counter_names[i], &v, now, interval, NULL);
  }
  double push = (double)atomic_load(&p->finished_push);
  double poll_ = (double)atomic_load(&p->finished_poll);
  vq_dispatch(p->owner, hostname_g, "", vq_type(VQ_TYPE_FINISHED_SOURCE),
              "push", &push, now, interval, NULL);
  vq_dispatch(p->owner, hostname_g, "", vq_type(VQ_TYPE_FINISHED_SOURCE),
              "poll", &poll_, now, interval, NULL);
}
