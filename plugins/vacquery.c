/* SPDX-License-Identifier: MIT */
/**
 * collectd-vacmon - plugins/vacquery.c
 *
 * The vacquery input plugin: receives VacQuery status messages (one JSON
 * object per UDP datagram) from Vac and Vcycle factories and dispatches
 * them as collectd values, notifications and counters.
 *
 * <Plugin vacquery>
 *   Listen "::" "8884"            # repeatable; default: all addresses, 8884
 *   ReceiveBufferSize 8388608     # SO_RCVBUF bytes
 *   MaxDatagramSize 65507         # larger datagrams are rejected
 *   QueueLength 65536             # datagrams between receive and worker
 *   QueueBytes 67108864           # and their bytes; >= MaxDatagramSize
 *   ReportInterval 180            # interval of factory/machinetype values
 *   AllowFrom "192.0.2.0/24"      # repeatable; default: every source
 *   SiteCookie "SITE" "secret"    # repeatable
 *   RateLimit 100 1000            # per source: datagrams/s and burst; 0 off
 *   StaleTimeout 600              # seconds of silence before FAILURE
 *   FizzleSeconds 600             # shorter runs without a code: fizzle
 *   FinishedNotifications true    # one notification per finished machine
 *   MessageNotifications false    # one per factory/machinetype message
 *   OutcomeWait 360               # s a Vac machine waits for its code;
 *                                 # default 2 x ReportInterval, 0: no wait
 *   MaxWaitingMachines 10000      # machines waiting for their code
 *   MaxFactories 20000            # more: rejected as fleet_full
 *   MaxMachinetypes 100000        # factory/machinetype pairs, likewise
 *   MaxFinishedSeries 200000      # finished-machine series, likewise
 *   ForgetAfter 604800            # s of silence before a factory is forgotten
 *   Poll false                    # and the other Poll* options, MaxSlots:
 *                                 # plugins/vacquery_poll.c
 * </Plugin>
 *
 * One receive thread (recvmmsg on every socket, then hand off) and one
 * worker thread (parse, check, dispatch) joined by a bounded queue; a read
 * callback dispatches the counters, the finished-machine totals and the
 * stale-factory state once per interval. The VacQuery rules live in src/.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include "common/cm_buf.h"
#include "common/cm_key.h"
#include "common/cm_option.h"
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_join.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_output.h"
#include "vacquery/vq_policy.h"
#include "vacquery/vq_queue.h"
#include "vacquery/vq_sample.h"
#include "vacquery/vq_sources.h"
#include "vacquery/vq_types.h"
#include "vacquery_poll.h"

#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#define VQ_PLUGIN "vacquery"
#define VQ_DEFAULT_PORT "8884"
#define VQ_BATCH 64
#define VQ_MAX_SOCKETS 16
#define VQ_UDP_MAX 65507
/* The default QueueBytes, 64 MiB: the default QueueLength at about 1 KB a
 * datagram (status messages are 250 to 1300 bytes). */
#define VQ_QUEUE_BYTES ((size_t)64 * 1024 * 1024)

_Static_assert(VQ_NAME_MAX == DATA_MAX_NAME_LEN,
               "vq_ident_t slots must match collectd's identifier fields");

typedef struct {
  char *node, *service; /* as configured; node NULL: all addresses */
} vq_listen_t;

/* Everything the configuration sets. Read-only once the threads run. */
typedef struct {
  vq_listen_t *listen;
  size_t listen_num;
  int rcvbuf;
  size_t max_datagram;
  size_t queue_length;
  size_t queue_bytes; /* >= max_datagram */
  cdtime_t report_interval;
  vq_cidr_t *allow;
  size_t allow_num;
  vq_site_cookie_t *cookies;
  size_t cookies_num;
  double rate, burst;
  double stale_timeout;
  double fizzle_seconds;
  bool finished_notifications;
  bool message_notifications;
  double outcome_wait; /* < 0: 2 x report_interval; 0: no join */
  size_t max_waiting;
  size_t max_factories, max_machinetypes, max_finished;
  double forget_after;
} vq_conf_t;

typedef struct {
  int fd;
  atomic_uint_fast64_t kernel_drops; /* last SO_RXQ_OVFL count seen */
} vq_socket_t;

/* Counters, written by the threads and read by the read callback. */
typedef struct {
  atomic_uint_fast64_t received;
  atomic_uint_fast64_t accepted[VQ_MSG_TYPE_COUNT];
  atomic_uint_fast64_t rejected[VQ_REASON_COUNT];
  atomic_uint_fast64_t queue_drops;
  /* values dropped from accepted messages, per field */
  atomic_uint_fast64_t bad_num[VQ_N_COUNT], bad_str[VQ_S_COUNT];
  atomic_uint_fast64_t join_waiting, join_joined, join_timed_out;
} vq_stats_t;

typedef struct vq_recv_ctx vq_recv_ctx_t;

/* One vacquery instance: everything the callbacks and threads share
 * (vq_plugin_t, declared in vacquery_poll.h). */
struct vq_plugin {
  vq_conf_t conf;
  vq_socket_t sockets[VQ_MAX_SOCKETS];
  size_t sockets_num;
  int wake_fd;
  vq_stats_t stats;
  vq_queue_t *queue;
  vq_fleet_t *fleet; /* under fleet_lock */
  pthread_mutex_t fleet_lock;
  pthread_t recv_thread, work_thread;
  bool threads_running;
  atomic_bool stopping;
  cdtime_t log_interval;
  vq_recv_ctx_t *recv_ctx;
  atomic_uint_fast64_t fleet_failures; /* fleet updates lost (no memory) */
  c_complain_t fleet_complaint;        /* under fleet_lock */
  c_complain_t full_complaint;         /* fleet_full; worker thread only */
  /* Set at shutdown: collectd's write threads are gone, so the last
   * values are handed to the write plugins directly. */
  bool write_direct;
  vqp_t *poll; /* the responder poller (vacquery_poll.c) */
};

/*
 * The instance. collectd 5.12 passes user_data to read callbacks only:
 * vq_read gets the instance that way, but the config, init and shutdown
 * callbacks take no argument and reach it through this pointer, as
 * write_graphite's config callback reaches its nodes. Made on first use
 * (not at load time), freed by vq_shutdown. Nothing else reads it: the
 * threads get the instance (or its poller, vq_plugin_t.poll) as their
 * argument, and the poller reaches the instance through its owner.
 */
static vq_plugin_t *vq_instance;

/* Returns the instance, making it with the defaults on first use, or
 * NULL when out of memory. */
static vq_plugin_t *vq_instance_get(void) {
  if (vq_instance != NULL)
    return vq_instance;
  vq_plugin_t *vp = calloc(1, sizeof(*vp));
  if (vp == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory.");
    return NULL;
  }
  vp->conf = (vq_conf_t){
      .rcvbuf = 8 * 1024 * 1024,
      .max_datagram = VQ_UDP_MAX,
      .queue_length = 65536,
      .queue_bytes = VQ_QUEUE_BYTES,
      .rate = 100,
      .burst = 1000,
      .stale_timeout = 600,
      .fizzle_seconds = 600,
      .finished_notifications = true,
      .report_interval = TIME_T_TO_CDTIME_T_STATIC(180),
      .outcome_wait = -1,
      .max_waiting = 10000,
      .max_factories = VQ_FLEET_MAX_FACTORIES,
      .max_machinetypes = VQ_FLEET_MAX_MACHINETYPES,
      .max_finished = VQ_FLEET_MAX_FINISHED,
      .forget_after = 7 * 86400,
  };
  vp->wake_fd = -1;
  vp->poll = vqp_create(vp);
  if (vp->poll == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory.");
    free(vp);
    return NULL;
  }
  pthread_mutex_init(&vp->fleet_lock, NULL);
  C_COMPLAIN_INIT(&vp->fleet_complaint);
  C_COMPLAIN_INIT(&vp->full_complaint);
  vq_instance = vp;
  return vp;
}

/* ---- configuration ---------------------------------------------------- */

/* Returns the number value of a one-number option in [min, max], or -1
 * (after logging an error naming the option). */
int vq_config_number(oconfig_item_t *ci, double min, double max, double *out) {
  double v;
  char err[256];
  if (cf_util_get_double(ci, &v) != 0)
    return -1;
  if (cm_option_range(ci->key, v, min, max, err, sizeof(err)) != 0) {
    ERROR(VQ_PLUGIN " plugin: %s", err);
    return -1;
  }
  *out = v;
  return 0;
}

/* Handles `Listen host [port]'. Returns 0 or -1. */
static int vq_config_listen(vq_plugin_t *vp, oconfig_item_t *ci) {
  if (ci->values_num < 1 || ci->values_num > 2 ||
      ci->values[0].type != OCONFIG_TYPE_STRING ||
      (ci->values_num == 2 && ci->values[1].type != OCONFIG_TYPE_STRING &&
       ci->values[1].type != OCONFIG_TYPE_NUMBER)) {
    ERROR(VQ_PLUGIN " plugin: Listen needs a host and an optional port, "
                    "e.g. Listen \"::\" \"8884\".");
    return -1;
  }
  char port[16];
  if (ci->values_num == 2 && ci->values[1].type == OCONFIG_TYPE_NUMBER)
    ssnprintf(port, sizeof(port), "%.0f", ci->values[1].value.number);
  else
    sstrncpy(port,
             ci->values_num == 2 ? ci->values[1].value.string : VQ_DEFAULT_PORT,
             sizeof(port));
  const char *host = ci->values[0].value.string;
  bool any = host[0] == '\0' || strcmp(host, "*") == 0;
  vq_listen_t one = {.node = any ? NULL : strdup(host),
                     .service = strdup(port)};
  /* A failed copy of the host must not turn into "all addresses". */
  size_t cap = vp->conf.listen_num; /* config arrays are exactly full */
  if (!(any || one.node != NULL) || one.service == NULL ||
      cm_vec_reserve((void **)&vp->conf.listen, &cap, vp->conf.listen_num + 1,
                     sizeof(*vp->conf.listen)) != 0) {
    ERROR(VQ_PLUGIN " plugin: Listen \"%s\" \"%s\": out of memory.", host,
          port);
    free(one.node);
    free(one.service);
    return -1;
  }
  vp->conf.listen[vp->conf.listen_num++] = one;
  return 0;
}

/* Handles `AllowFrom cidr [cidr ...]'. Returns 0 or -1. */
static int vq_config_allow(vq_plugin_t *vp, oconfig_item_t *ci) {
  if (ci->values_num < 1) {
    ERROR(VQ_PLUGIN " plugin: AllowFrom needs at least one network.");
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++) {
    vq_cidr_t c;
    if (ci->values[i].type != OCONFIG_TYPE_STRING ||
        vq_cidr_parse(ci->values[i].value.string, &c) != 0) {
      ERROR(
          VQ_PLUGIN " plugin: AllowFrom: \"%s\" is not an address or "
                    "CIDR network (e.g. \"192.0.2.0/24\", \"2001:db8::/32\").",
          ci->values[i].type == OCONFIG_TYPE_STRING ? ci->values[i].value.string
                                                    : "(not a string)");
      return -1;
    }
    size_t cap = vp->conf.allow_num;
    if (cm_vec_reserve((void **)&vp->conf.allow, &cap, vp->conf.allow_num + 1,
                       sizeof(*vp->conf.allow)) != 0) {
      ERROR(VQ_PLUGIN " plugin: AllowFrom: out of memory.");
      return -1;
    }
    vp->conf.allow[vp->conf.allow_num++] = c;
  }
  return 0;
}

/* Handles `SiteCookie "site" "secret"'. Returns 0 or -1. */
static int vq_config_cookie(vq_plugin_t *vp, oconfig_item_t *ci) {
  if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[1].type != OCONFIG_TYPE_STRING ||
      ci->values[1].value.string[0] == '\0') {
    ERROR(VQ_PLUGIN " plugin: SiteCookie needs a site name and a non-empty "
                    "secret, e.g. SiteCookie \"UKI-NORTHGRID-MAN-HEP\" "
                    "\"s3cret\".");
    return -1;
  }
  vq_site_cookie_t one = {.site = strdup(ci->values[0].value.string),
                          .cookie = strdup(ci->values[1].value.string)};
  size_t cap = vp->conf.cookies_num;
  if (one.site == NULL || one.cookie == NULL ||
      cm_vec_reserve((void **)&vp->conf.cookies, &cap, vp->conf.cookies_num + 1,
                     sizeof(*vp->conf.cookies)) != 0) {
    ERROR(VQ_PLUGIN " plugin: SiteCookie \"%s\": out of memory.",
          ci->values[0].value.string);
    free((char *)one.site);
    free((char *)one.cookie);
    return -1;
  }
  vp->conf.cookies[vp->conf.cookies_num++] = one;
  return 0;
}

/* Handles `RateLimit rate [burst]'. Returns 0 or -1. */
static int vq_config_rate(vq_plugin_t *vp, oconfig_item_t *ci) {
  if (ci->values_num < 1 || ci->values_num > 2 ||
      ci->values[0].type != OCONFIG_TYPE_NUMBER ||
      (ci->values_num == 2 && ci->values[1].type != OCONFIG_TYPE_NUMBER) ||
      ci->values[0].value.number < 0 ||
      (ci->values_num == 2 && ci->values[1].value.number < 1)) {
    ERROR(VQ_PLUGIN " plugin: RateLimit needs datagrams per second (0: no "
                    "limit) and an optional burst of at least 1.");
    return -1;
  }
  vp->conf.rate = ci->values[0].value.number;
  vp->conf.burst = ci->values_num == 2
                       ? ci->values[1].value.number
                       : (vp->conf.rate * 10 > 1 ? vp->conf.rate * 10 : 1);
  return 0;
}

static int vq_open_sockets(vq_plugin_t *vp);

/* The complex-config callback. Any error stops collectd at start-up. */
static int vq_config(oconfig_item_t *ci) {
  vq_plugin_t *vp = vq_instance_get();
  if (vp == NULL)
    return -1;
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *c = ci->children + i;
    double d = 0;
    int status;
    if (strcasecmp("Listen", c->key) == 0)
      status = vq_config_listen(vp, c);
    else if (strcasecmp("ReceiveBufferSize", c->key) == 0) {
      status = vq_config_number(c, 0, INT_MAX / 2, &d);
      vp->conf.rcvbuf = (int)d;
    } else if (strcasecmp("MaxDatagramSize", c->key) == 0) {
      status = vq_config_number(c, 512, VQ_UDP_MAX, &d);
      vp->conf.max_datagram = (size_t)d;
    } else if (strcasecmp("QueueLength", c->key) == 0) {
      status = vq_config_number(c, 1, 1 << 24, &d);
      vp->conf.queue_length = (size_t)d;
    } else if (strcasecmp("QueueBytes", c->key) == 0) {
      status = vq_config_number(c, 512, 1099511627776.0, &d);
      vp->conf.queue_bytes = d < (double)SIZE_MAX ? (size_t)d : SIZE_MAX;
    } else if (strcasecmp("ReportInterval", c->key) == 0) {
      status = vq_config_number(c, 1, 86400, &d);
      vp->conf.report_interval = DOUBLE_TO_CDTIME_T(d);
    } else if (strcasecmp("AllowFrom", c->key) == 0)
      status = vq_config_allow(vp, c);
    else if (strcasecmp("SiteCookie", c->key) == 0)
      status = vq_config_cookie(vp, c);
    else if (strcasecmp("RateLimit", c->key) == 0)
      status = vq_config_rate(vp, c);
    else if (strcasecmp("StaleTimeout", c->key) == 0)
      status = vq_config_number(c, 1, 30 * 86400, &vp->conf.stale_timeout);
    else if (strcasecmp("FizzleSeconds", c->key) == 0)
      status = vq_config_number(c, 0, 86400, &vp->conf.fizzle_seconds);
    else if (strcasecmp("FinishedNotifications", c->key) == 0)
      status = cf_util_get_boolean(c, &vp->conf.finished_notifications);
    else if (strcasecmp("MessageNotifications", c->key) == 0)
      status = cf_util_get_boolean(c, &vp->conf.message_notifications);
    else if (strcasecmp("OutcomeWait", c->key) == 0)
      status = vq_config_number(c, 0, 86400, &vp->conf.outcome_wait);
    else if (strcasecmp("ForgetAfter", c->key) == 0)
      status = vq_config_number(c, 1, 3650 * 86400.0, &vp->conf.forget_after);
    else if (strcasecmp("MaxWaitingMachines", c->key) == 0 ||
             strcasecmp("MaxFactories", c->key) == 0 ||
             strcasecmp("MaxMachinetypes", c->key) == 0 ||
             strcasecmp("MaxFinishedSeries", c->key) == 0) {
      status = vq_config_number(c, 1, 1e8, &d);
      size_t *dst =
          strcasecmp("MaxWaitingMachines", c->key) == 0 ? &vp->conf.max_waiting
          : strcasecmp("MaxFactories", c->key) == 0 ? &vp->conf.max_factories
          : strcasecmp("MaxMachinetypes", c->key) == 0
              ? &vp->conf.max_machinetypes
              : &vp->conf.max_finished;
      if (status == 0)
        *dst = (size_t)d;
    } else if ((status = vqp_config(vp->poll, c)) != 1) {
      /* a Poll option: vacquery_poll.c */
    } else {
      ERROR(VQ_PLUGIN " plugin: unknown option \"%s\".", c->key);
      status = -1;
    }
    if (status != 0) {
      ERROR(VQ_PLUGIN " plugin: invalid option \"%s\": collectd will not "
                      "start.",
            c->key);
      return -1;
    }
  }
  /* The largest datagram must fit the queue's bytes on its own. */
  if (vp->conf.queue_bytes < vp->conf.max_datagram) {
    ERROR(VQ_PLUGIN " plugin: QueueBytes %zu is less than MaxDatagramSize "
                    "%zu: a datagram of that size could never be queued. "
                    "collectd will not start.",
          vp->conf.queue_bytes, vp->conf.max_datagram);
    return -1;
  }
  /* Bind now, so that a bad or busy Listen address stops start-up. */
  return vq_open_sockets(vp);
}

/* ---- sockets ------------------------------------------------------------ */

/* Opens and binds one socket for ai. Returns the fd or -1 (logged). */
static int vq_bind_one(const vq_plugin_t *vp, const struct addrinfo *ai,
                       const char *what) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  ai->ai_protocol);
  if (fd < 0) {
    WARNING(VQ_PLUGIN " plugin: Listen %s: socket: %s", what, STRERRNO);
    return -1;
  }
  int one = 1;
  if (ai->ai_family == AF_INET6)
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
    WARNING(VQ_PLUGIN " plugin: SO_RXQ_OVFL: %s: kernel drops will not be "
                      "counted.",
            STRERRNO);
  int want = vp->conf.rcvbuf, got = 0;
  socklen_t len = sizeof(got);
  if (want > 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
  if (want > 0 && got < want)
    WARNING(VQ_PLUGIN " plugin: ReceiveBufferSize %d capped by the kernel to "
                      "%d (raise net.core.rmem_max).",
            want, got / 2);
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
    ERROR(VQ_PLUGIN " plugin: Listen %s: bind: %s", what, STRERRNO);
    close(fd);
    return -1;
  }
  INFO(VQ_PLUGIN " plugin: listening on %s (receive buffer %d bytes).", what,
       got);
  return fd;
}

/* Binds every address of one Listen entry. Returns the number bound, or -1
 * when the address does not resolve or a bind fails. */
static int vq_bind_listen(vq_plugin_t *vp, const vq_listen_t *l) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_DGRAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int status = getaddrinfo(l->node, l->service, &hints, &res);
  if (status != 0) {
    ERROR(VQ_PLUGIN " plugin: Listen \"%s\" \"%s\": %s",
          l->node ? l->node : "*", l->service, gai_strerror(status));
    return -1;
  }
  int bound = 0;
  for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
    char host[NI_MAXHOST], what[NI_MAXHOST + 32];
    getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0,
                NI_NUMERICHOST);
    ssnprintf(what, sizeof(what), "[%s]:%s", host, l->service);
    if (vp->sockets_num >= VQ_MAX_SOCKETS) {
      ERROR(VQ_PLUGIN " plugin: Listen: more than %d sockets.", VQ_MAX_SOCKETS);
      bound = -1;
      break;
    }
    int fd = vq_bind_one(vp, ai, what);
    if (fd < 0) {
      /* With no host given, a missing address family is not an error. */
      if (l->node != NULL || errno == EADDRINUSE || errno == EACCES) {
        bound = -1;
        break;
      }
      continue;
    }
    vp->sockets[vp->sockets_num++].fd = fd;
    bound++;
  }
  freeaddrinfo(res);
  return bound;
}

/* Binds all configured (or the default) Listen addresses once. Returns 0,
 * or -1 when any of them fails or nothing could be bound. */
static int vq_open_sockets(vq_plugin_t *vp) {
  if (vp->sockets_num > 0)
    return 0;
  vq_listen_t def = {NULL, VQ_DEFAULT_PORT};
  const vq_listen_t *list = vp->conf.listen_num > 0 ? vp->conf.listen : &def;
  size_t n = vp->conf.listen_num > 0 ? vp->conf.listen_num : 1;
  for (size_t i = 0; i < n; i++) {
    int bound = vq_bind_listen(vp, &list[i]);
    if (bound <= 0) {
      ERROR(VQ_PLUGIN " plugin: Listen \"%s\" \"%s\": nothing bound.",
            list[i].node ? list[i].node : "*", list[i].service);
      return -1;
    }
  }
  return 0;
}

/* ---- logging of rejections ---------------------------------------------- */

/* Counts a rejection and logs it when the source has not been logged in
 * this interval. sources belongs to the calling thread. */
static void vq_reject(vq_plugin_t *vp, vq_sources_t *sources,
                      const struct sockaddr *from, double now, vq_reason_t r,
                      size_t len) {
  atomic_fetch_add(&vp->stats.rejected[r], 1);
  if (sources == NULL ||
      !vq_sources_may_log(sources, from, now,
                          CDTIME_T_TO_DOUBLE(vp->log_interval)))
    return;
  char addr[INET6_ADDRSTRLEN];
  NOTICE(VQ_PLUGIN " plugin: rejected a %zu-byte datagram from %s: %s "
                   "(further rejections from this source are counted but "
                   "not logged for %.0f s).",
         len, vq_addr_format(from, addr, sizeof(addr)), vq_reason_name(r),
         CDTIME_T_TO_DOUBLE(vp->log_interval));
}

/* ---- receive thread ----------------------------------------------------- */

struct vq_recv_ctx {
  vq_plugin_t *vp;
  struct mmsghdr msgs[VQ_BATCH];
  struct iovec iov[VQ_BATCH];
  struct sockaddr_storage from[VQ_BATCH];
  char control[VQ_BATCH][CMSG_SPACE(sizeof(uint32_t))];
  char *buf; /* VQ_BATCH * max_datagram */
  vq_sources_t *sources;
};

/* Reads the SO_RXQ_OVFL count of one received message into s. */
static void vq_note_drops(vq_socket_t *s, struct msghdr *h) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      uint32_t drops;
      memcpy(&drops, CMSG_DATA(c), sizeof(drops));
      if (drops > atomic_load(&s->kernel_drops))
        atomic_store(&s->kernel_drops, drops);
    }
  }
}

/* Drains one socket: receives in batches, applies the cheap checks (size,
 * AllowFrom, RateLimit) and hands the rest to the worker. */
static void vq_drain(vq_recv_ctx_t *ctx, vq_socket_t *s) {
  vq_plugin_t *vp = ctx->vp;
  for (;;) {
    for (int i = 0; i < VQ_BATCH; i++) {
      ctx->iov[i] = (struct iovec){ctx->buf + (size_t)i * vp->conf.max_datagram,
                                   vp->conf.max_datagram};
      ctx->msgs[i].msg_hdr = (struct msghdr){
          .msg_name = &ctx->from[i],
          .msg_namelen = sizeof(ctx->from[i]),
          .msg_iov = &ctx->iov[i],
          .msg_iovlen = 1,
          .msg_control = ctx->control[i],
          .msg_controllen = sizeof(ctx->control[i]),
      };
    }
    int n = recvmmsg(s->fd, ctx->msgs, VQ_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0)
      return;
    cdtime_t now = cdtime();
    double now_d = CDTIME_T_TO_DOUBLE(now);
    vq_datagram_t *ready[VQ_BATCH];
    size_t ready_num = 0;
    atomic_fetch_add(&vp->stats.received, (uint_fast64_t)n);
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &ctx->msgs[i].msg_hdr;
      const struct sockaddr *from = (const struct sockaddr *)&ctx->from[i];
      size_t len = ctx->msgs[i].msg_len;
      vq_note_drops(s, h);
      if (h->msg_flags & MSG_TRUNC) {
        vq_reject(ctx->vp, ctx->sources, from, now_d, VQ_REJ_OVERSIZE, len);
        continue;
      }
      if (!vq_cidr_allowed(vp->conf.allow, vp->conf.allow_num, from)) {
        vq_reject(ctx->vp, ctx->sources, from, now_d, VQ_REJ_ACL, len);
        continue;
      }
      if (!vq_sources_allow(ctx->sources, from, now_d)) {
        vq_reject(ctx->vp, ctx->sources, from, now_d, VQ_REJ_RATE_LIMIT, len);
        continue;
      }
      /* A distinct time per datagram: two messages for one identifier in
       * one batch must not carry the same timestamp. */
      vq_datagram_t *d = vq_datagram_new(ctx->iov[i].iov_base, len, from,
                                         h->msg_namelen, now + (cdtime_t)i);
      if (d == NULL) {
        atomic_fetch_add(&vp->stats.queue_drops, 1);
        continue;
      }
      ready[ready_num++] = d;
    }
    /* What would pass QueueLength or QueueBytes stays in ready[taken..]. */
    size_t taken = vq_queue_push(vp->queue, ready, ready_num);
    for (size_t i = taken; i < ready_num; i++)
      free(ready[i]);
    if (taken < ready_num)
      atomic_fetch_add(&vp->stats.queue_drops, ready_num - taken);
    if (n < VQ_BATCH)
      return;
  }
}

static void *vq_recv_main(void *arg) {
  vq_recv_ctx_t *ctx = arg;
  vq_plugin_t *vp = ctx->vp;
  struct pollfd pfd[VQ_MAX_SOCKETS + 1];
  for (size_t i = 0; i < vp->sockets_num; i++)
    pfd[i] = (struct pollfd){.fd = vp->sockets[i].fd, .events = POLLIN};
  pfd[vp->sockets_num] = (struct pollfd){.fd = vp->wake_fd, .events = POLLIN};
  while (!atomic_load(&vp->stopping)) {
    int n = poll(pfd, vp->sockets_num + 1, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      ERROR(VQ_PLUGIN " plugin: poll: %s", STRERRNO);
      break;
    }
    for (size_t i = 0; i < vp->sockets_num; i++)
      if (pfd[i].revents & POLLIN)
        vq_drain(ctx, &vp->sockets[i]);
  }
  return NULL;
}

/* ---- dispatching -------------------------------------------------------- */

/* Dispatches one value list of type t. values holds one double per DS,
 * converted to gauge or derive as the type says. meta is borrowed. */
void vq_dispatch(const vq_plugin_t *vp, const char *host,
                 const char *plugin_instance, const vq_type_t *type,
                 const char *type_instance, const double *values, cdtime_t time,
                 cdtime_t interval, meta_data_t *meta) {
  value_t v[VQ_MAX_DS];
  for (size_t i = 0; i < type->ds_num; i++) {
    if (type->ds[i].kind == VQ_DS_GAUGE)
      v[i].gauge = values[i];
    else
      v[i].derive = (derive_t)values[i];
  }
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = v;
  vl.values_len = type->ds_num;
  vl.time = time;
  vl.interval = interval;
  vl.meta = meta;
  sstrncpy(vl.host, host, sizeof(vl.host));
  sstrncpy(vl.plugin, VQ_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, plugin_instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type->name, sizeof(vl.type));
  sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  if (vp->write_direct)
    plugin_write(NULL, NULL, &vl); /* at shutdown: see vq_final_totals */
  else
    plugin_dispatch_values(&vl);
}

/* Returns the meta pairs of l as collectd meta data (caller destroys it),
 * or NULL when l is empty or out of memory. */
static meta_data_t *vq_meta_data(const vq_meta_list_t *l) {
  if (l->num == 0)
    return NULL;
  meta_data_t *md = meta_data_create();
  if (md == NULL)
    return NULL;
  for (size_t i = 0; i < l->num; i++) {
    const vq_meta_t *p = &l->items[i];
    switch (p->kind) {
    case VQ_META_STRING:
      meta_data_add_string(md, p->key, p->s);
      break;
    case VQ_META_SIGNED:
      meta_data_add_signed_int(md, p->key, p->i);
      break;
    case VQ_META_DOUBLE:
      meta_data_add_double(md, p->key, p->d);
      break;
    case VQ_META_BOOL:
      meta_data_add_boolean(md, p->key, p->b);
      break;
    }
  }
  return md;
}

/* Copies a string into a collectd identifier field, like sstrncpy. */
#define VQ_NSET(field, name) sstrncpy(field, name, sizeof(field))

/* Dispatches the notification on at time. */
void vq_dispatch_notif(const vq_out_notif_t *on, cdtime_t time) {
  notification_t n = {.severity = (int)on->severity, .time = time};
  VQ_NSET(n.host, on->id.host);
  VQ_NSET(n.plugin, VQ_OUT_PLUGIN);
  VQ_NSET(n.plugin_instance, on->id.plugin_instance);
  VQ_NSET(n.type, on->type);
  VQ_NSET(n.type_instance, on->id.type_instance);
  VQ_NSET(n.message, on->message);
  for (size_t i = 0; i < on->meta.num; i++) {
    const vq_meta_t *p = &on->meta.items[i];
    switch (p->kind) {
    case VQ_META_STRING:
      plugin_notification_meta_add_string(&n, p->key, p->s);
      break;
    case VQ_META_SIGNED:
      plugin_notification_meta_add_signed_int(&n, p->key, p->i);
      break;
    case VQ_META_DOUBLE:
      plugin_notification_meta_add_double(&n, p->key, p->d);
      break;
    case VQ_META_BOOL:
      plugin_notification_meta_add_boolean(&n, p->key, p->b);
      break;
    }
  }
  plugin_dispatch_notification(&n);
  plugin_notification_meta_free(n.meta);
}

/* ---- worker thread ------------------------------------------------------ */

/* Counts and reports (once, until updates succeed again) a fleet update
 * lost for want of memory: a factory not tracked for staleness
 * (seen_failed) or a finished machine missing from the totals
 * (add_failed). Called under the fleet lock. */
static void vq_fleet_note(vq_plugin_t *vp, const vq_output_t *o,
                          bool seen_failed, bool add_failed) {
  if (!seen_failed && !add_failed) {
    c_release(LOG_INFO, &vp->fleet_complaint,
              VQ_PLUGIN " plugin: fleet updates succeed again.");
    return;
  }
  uint64_t n = atomic_fetch_add(&vp->fleet_failures, 1) + 1;
  c_complain(LOG_ERR, &vp->fleet_complaint,
             VQ_PLUGIN " plugin: out of memory updating the fleet (%s of "
                       "%s/%s): %" PRIu64 " updates lost so far.",
             seen_failed ? "factory seen" : "finished machine",
             o->fleet.factory.host, o->fleet.factory.plugin_instance, n);
}

/* Turns one accepted message into values, totals and notifications: one
 * call into the core says what it becomes, the rest is dispatching.
 * Returns VQ_OK or the reason it was rejected after all. */
static vq_reason_t vq_handle(vq_plugin_t *vp, vq_output_t *o,
                             const vq_message_t *m, const struct sockaddr *from,
                             cdtime_t time) {
  vq_output_conf_t conf = {
      .cookies = vp->conf.cookies,
      .cookies_num = vp->conf.cookies_num,
      .fizzle_seconds = vp->conf.fizzle_seconds,
      .finished_notifications = vp->conf.finished_notifications,
      .message_notifications = vp->conf.message_notifications};
  vq_reason_t r;
  if (vq_output_build(o, &conf, m, from, &r) != 0) {
    ERROR(VQ_PLUGIN " plugin: out of memory handling a message.");
    return VQ_OK;
  }
  if (r != VQ_OK)
    return r;

  /* A finished machine that the poller counted already is not counted
   * again (vacquery_poll.c). */
  bool push = !o->fleet.finished || vqp_push_finish(vp->poll, m);
  pthread_mutex_lock(&vp->fleet_lock);
  /* A machinetype_status is registered under its machinetype's slots. */
  vq_ident_t fid = o->fleet.factory;
  if (m->type == VQ_MSG_MACHINETYPE && o->lists_num > 0)
    sstrncpy(fid.type_instance, o->lists[0].id.type_instance,
             sizeof(fid.type_instance));
  int back = vq_fleet_seen(vp->fleet, &fid, m, CDTIME_T_TO_DOUBLE(time));
  int added = back != VQ_FLEET_FULL && o->fleet.finished && push
                  ? vq_fleet_add_finished(vp->fleet, &o->fleet.finished_id,
                                          &o->fleet.fin)
                  : 0;
  if (added == VQ_FLEET_FULL)
    back = VQ_FLEET_FULL;
  vq_fleet_note(vp, o, back == -1, added == -1);
  size_t factories = vq_fleet_factories(vp->fleet);
  pthread_mutex_unlock(&vp->fleet_lock);
  if (back == VQ_FLEET_FULL) {
    c_complain(LOG_WARNING, &vp->full_complaint,
               VQ_PLUGIN " plugin: the fleet is full (%zu factories; limits "
                         "MaxFactories %zu, MaxMachinetypes %zu, "
                         "MaxFinishedSeries %zu): messages that would add "
                         "more are rejected as fleet_full.",
               factories, vp->conf.max_factories, vp->conf.max_machinetypes,
               vp->conf.max_finished);
    return VQ_REJ_FLEET_FULL;
  }
  if (back == 1)
    vq_dispatch_notif(&o->back, cdtime());
  vqp_learn(vp->poll, m, from);

  for (size_t k = 0; k < o->notifs_num && push; k++)
    vqp_dispatch_finished(vp->poll, &o->notifs[k],
                          o->fleet.finished ? "push" : NULL, time);
  /* Lists that share their meta share one meta_data_t. */
  meta_data_t *md = NULL;
  for (size_t k = 0; k < o->lists_num; k++) {
    const vq_out_values_t *l = &o->lists[k];
    if (k == 0 || l->meta.items != o->lists[k - 1].meta.items) {
      meta_data_destroy(md);
      md = vq_meta_data(&l->meta);
    }
    vq_dispatch(vp, l->id.host, l->id.plugin_instance, l->type,
                l->id.type_instance, l->values, time, vp->conf.report_interval,
                md);
  }
  meta_data_destroy(md);
  return VQ_OK;
}

/* Counts a finished machine that the poller decided (see vacquery_poll.h):
 * no SiteCookie check, its cookie is the poll's. */
void vq_finished_polled(vq_plugin_t *vp, const vq_message_t *m,
                        const struct sockaddr *from, cdtime_t time) {
  vq_output_conf_t conf = {.fizzle_seconds = vp->conf.fizzle_seconds,
                           .finished_notifications =
                               vp->conf.finished_notifications};
  vq_output_t o = VQ_OUTPUT_INIT;
  vq_reason_t r;
  if (vq_output_build(&o, &conf, m, from, &r) == 0 && r == VQ_OK) {
    pthread_mutex_lock(&vp->fleet_lock);
    int added =
        vq_fleet_add_finished(vp->fleet, &o.fleet.finished_id, &o.fleet.fin);
    vq_fleet_note(vp, &o, false, added == -1);
    pthread_mutex_unlock(&vp->fleet_lock);
    for (size_t k = 0; k < o.notifs_num && added != VQ_FLEET_FULL; k++)
      vqp_dispatch_finished(vp->poll, &o.notifs[k], "poll", time);
  }
  vq_output_free(&o);
}

/* Counts the fields that vq_parse() dropped from an accepted message. */
static void vq_count_bad_fields(vq_plugin_t *vp, const vq_message_t *m) {
  for (int i = 0; m->bad_num != 0 && i < VQ_N_COUNT; i++)
    if (m->bad_num & (UINT64_C(1) << i))
      atomic_fetch_add(&vp->stats.bad_num[i], 1);
  for (int i = 0; m->bad_str != 0 && i < VQ_S_COUNT; i++)
    if (m->bad_str & (UINT32_C(1) << i))
      atomic_fetch_add(&vp->stats.bad_str[i], 1);
}

/* Returns the OutcomeWait in force, in seconds. */
static double vq_outcome_wait(const vq_plugin_t *vp) {
  return vp->conf.outcome_wait >= 0
             ? vp->conf.outcome_wait
             : 2 * CDTIME_T_TO_DOUBLE(vp->conf.report_interval);
}

/* The worker's own state. */
typedef struct {
  vq_plugin_t *vp;
  vq_parser_t *parser;
  vq_output_t out;
  vq_join_t *join; /* Vac machines waiting for their code */
} vq_worker_t;

/*
 * Counts a finished machine that waited: parses its datagram again, gives
 * it the outcome of mt (the machinetype_status that names it) or, with mt
 * NULL, counts it as it is (none or fizzle), and handles it as if it had
 * just arrived at its receive time (its source address is not kept while
 * it waits). Frees p.
 */
static void vq_join_finish(vq_worker_t *w, vq_pending_t *p,
                           const vq_message_t *mt) {
  vq_plugin_t *vp = w->vp;
  vq_message_t m;
  vq_reason_t r = vq_parse(w->parser, p->data, p->len, &m);
  if (r == VQ_OK) {
    if (mt != NULL && vq_message_take_outcome(&m, mt) != 0)
      ERROR(VQ_PLUGIN " plugin: out of memory joining an outcome.");
    r = vq_handle(vp, &w->out, &m, NULL, (cdtime_t)p->time);
    vq_message_clear(&m);
  }
  /* It was counted as accepted on arrival; a later refusal (fleet_full)
   * is counted as well. */
  if (r != VQ_OK)
    atomic_fetch_add(&vp->stats.rejected[r], 1);
  atomic_fetch_add(
      mt != NULL ? &vp->stats.join_joined : &vp->stats.join_timed_out, 1);
  atomic_store(&vp->stats.join_waiting, vq_join_count(w->join));
  free(p);
}

/* Counts every waiting machine whose OutcomeWait is over at now. */
static void vq_join_expire(vq_worker_t *w, double now) {
  vq_pending_t *p;
  while ((p = vq_join_expired(w->join, now)) != NULL)
    vq_join_finish(w, p, NULL);
}

/*
 * Puts a Vac machine_status without a code in the waiting table, after
 * the checks its handling would apply (cookie, name lengths). Returns
 * VQ_OK when it waits; another reason to reject it; or VQ_REASON_COUNT
 * when it is to be handled at once (table full or out of memory).
 */
static vq_reason_t vq_join_wait(vq_worker_t *w, const vq_message_t *m,
                                const vq_datagram_t *d) {
  vq_plugin_t *vp = w->vp;
  vq_reason_t r = vq_cookie_check(vp->conf.cookies, vp->conf.cookies_num, m);
  if (r != VQ_OK)
    return r;
  vq_ident_t id;
  vq_finished_t fin;
  r = vq_finished_from_message(m, vp->conf.fizzle_seconds, &id, &fin);
  if (r != VQ_OK)
    return r;
  double deadline = CDTIME_T_TO_DOUBLE(d->received) + vq_outcome_wait(vp);
  if (vq_join_add(w->join, m, d->data, d->len, d->received, deadline) != 0)
    return VQ_REASON_COUNT;
  atomic_store(&vp->stats.join_waiting, vq_join_count(w->join));
  return VQ_OK;
}

/* Parses and handles one datagram. Returns VQ_OK or why it was rejected;
 * sets *type to the message type when it was parsed. */
static vq_reason_t vq_work_one(vq_worker_t *w, const vq_datagram_t *d,
                               vq_msg_type_t *type) {
  vq_message_t m;
  vq_reason_t r = vq_parse(w->parser, d->data, d->len, &m);
  if (r != VQ_OK)
    return r;
  *type = m.type;
  vq_count_bad_fields(w->vp, &m);
  r = VQ_REASON_COUNT;
  if (vq_outcome_wait(w->vp) > 0 && vq_join_needs_wait(&m))
    r = vq_join_wait(w, &m, d);
  if (r == VQ_REASON_COUNT)
    r = vq_handle(w->vp, &w->out, &m, (const struct sockaddr *)&d->from,
                  (cdtime_t)d->received);
  if (r == VQ_OK && m.type == VQ_MSG_MACHINETYPE) {
    vq_pending_t *p = vq_join_take(w->join, &m);
    if (p != NULL)
      vq_join_finish(w, p, &m);
  }
  vq_message_clear(&m);
  return r;
}

static void *vq_work_main(void *arg) {
  vq_plugin_t *vp = arg;
  vq_worker_t w = {.vp = vp,
                   .parser = vq_parser_create(),
                   .out = VQ_OUTPUT_INIT,
                   .join = vq_join_create(vp->conf.max_waiting)};
  vq_sources_t *sources = vq_sources_create(65536, 0, 1);
  if (w.parser == NULL || sources == NULL || w.join == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory starting the worker.");
    vq_parser_destroy(w.parser);
    vq_sources_destroy(sources);
    vq_join_destroy(w.join);
    return NULL;
  }
  vq_datagram_t *batch[VQ_BATCH];
  for (;;) {
    size_t n = vq_queue_pop(vp->queue, batch, VQ_BATCH, 1000);
    if (n == 0 && atomic_load(&vp->stopping))
      break;
    for (size_t i = 0; i < n; i++) {
      vq_datagram_t *d = batch[i];
      vq_msg_type_t type = VQ_MSG_TYPE_COUNT;
      vq_reason_t r = vq_work_one(&w, d, &type);
      if (r == VQ_OK)
        atomic_fetch_add(&vp->stats.accepted[type], 1);
      else
        vq_reject(vp, sources, (struct sockaddr *)&d->from,
                  CDTIME_T_TO_DOUBLE(d->received), r, d->len);
      free(d);
    }
    vq_join_expire(&w, CDTIME_T_TO_DOUBLE(cdtime()));
  }
  /* At shutdown no code will come: every waiting machine counts now. */
  vq_join_expire(&w, INFINITY);
  vq_output_free(&w.out);
  vq_parser_destroy(w.parser);
  vq_join_destroy(w.join);
  vq_sources_destroy(sources);
  return NULL;
}

/* ---- read callback: counters and fleet state ---------------------------- */

/*
 * What the read callback dispatches from the fleet, copied under the fleet
 * lock and dispatched after it (dispatching may block on I/O, and the
 * registry may forget what it pointed to). Each item has up to five
 * strings (offsets into text) and four numbers.
 */
typedef struct {
  size_t str[5];
  double v[4];
} vq_snap_item_t;

typedef struct {
  cm_buf_t text;
  vq_snap_item_t *items;
  size_t num, cap;
  bool failed;
} vq_snap_t;

/* Appends an item with the n strings strs and the numbers v[4]; on
 * allocation failure marks the snapshot failed (the item is lost). */
static void vq_snap_add(vq_snap_t *sn, const char *const *strs, size_t n,
                        const double *v) {
  if (cm_vec_reserve((void **)&sn->items, &sn->cap, sn->num + 1,
                     sizeof(*sn->items)) != 0) {
    sn->failed = true;
    return;
  }
  vq_snap_item_t *it = &sn->items[sn->num];
  for (size_t i = 0; i < 5; i++) {
    it->str[i] = sn->text.len;
    const char *x = i < n && strs[i] != NULL ? strs[i] : "";
    if (cm_buf_add(&sn->text, x, strlen(x) + 1) != 0) {
      sn->failed = true;
      return;
    }
  }
  memcpy(it->v, v, sizeof(it->v));
  sn->num++;
}

/* Returns string i of item k (owned by the snapshot). */
static const char *vq_snap_str(const vq_snap_t *sn, size_t k, size_t i) {
  return sn->text.data + sn->items[k].str[i];
}

/* Frees the snapshot's memory; it is empty again. */
static void vq_snap_free(vq_snap_t *sn) {
  cm_buf_free(&sn->text);
  free(sn->items);
  memset(sn, 0, sizeof(*sn));
}

typedef struct {
  vq_plugin_t *vp;
  cdtime_t now, interval;
  vq_snap_t stale, sites, finished;
} vq_read_ctx_t;

static void vq_read_stale(void *ctx, const vq_factory_t *f) {
  vq_read_ctx_t *rc = ctx;
  const char *strs[5] = {f->host, f->plugin_instance, f->site, f->space,
                         f->factory};
  double v[4] = {CDTIME_T_TO_DOUBLE(rc->now) - f->last_seen, 0, 0, 0};
  vq_snap_add(&rc->stale, strs, 5, v);
}

static void vq_read_site(void *ctx, const char *host, size_t factories,
                         size_t stale) {
  vq_read_ctx_t *rc = ctx;
  double v[4] = {(double)factories, (double)stale, 0, 0};
  vq_snap_add(&rc->sites, &host, 1, v);
}

static void vq_read_finished(void *ctx, const vq_finished_total_t *t) {
  vq_read_ctx_t *rc = ctx;
  const char *strs[3] = {t->host, t->plugin_instance, t->type_instance};
  double v[4] = {(double)t->machines, t->cpu_seconds, t->wall_seconds,
                 t->hs06_seconds};
  vq_snap_add(&rc->finished, strs, 3, v);
}

/* Dispatches the finished-machine totals of a snapshot. */
static void vq_dispatch_finished(const vq_read_ctx_t *rc) {
  for (size_t k = 0; k < rc->finished.num; k++)
    vq_dispatch(rc->vp, vq_snap_str(&rc->finished, k, 0),
                vq_snap_str(&rc->finished, k, 1), vq_type(VQ_TYPE_FINISHED),
                vq_snap_str(&rc->finished, k, 2), rc->finished.items[k].v,
                rc->now, rc->interval, NULL);
}

/* Dispatches the per-field counts of values dropped from accepted
 * messages (vacquery_bad_field-<field>), only for fields seen bad, and the
 * outcome join's counters. */
static void vq_read_bad_fields(const vq_read_ctx_t *rc) {
  vq_plugin_t *vp = rc->vp;
  for (int i = 0; i < VQ_N_COUNT + VQ_S_COUNT; i++) {
    uint64_t n = i < VQ_N_COUNT
                     ? atomic_load(&vp->stats.bad_num[i])
                     : atomic_load(&vp->stats.bad_str[i - VQ_N_COUNT]);
    if (n == 0)
      continue;
    double v = (double)n;
    const char *name = i < VQ_N_COUNT
                           ? vq_num_name((vq_num_id_t)i)
                           : vq_str_name((vq_str_id_t)(i - VQ_N_COUNT));
    vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_BAD_FIELD), name, &v,
                rc->now, rc->interval, NULL);
  }
  double j[3] = {(double)atomic_load(&vp->stats.join_waiting),
                 (double)atomic_load(&vp->stats.join_joined),
                 (double)atomic_load(&vp->stats.join_timed_out)};
  vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_JOIN), "", j, rc->now,
              rc->interval, NULL);
}

/* Dispatches the receiver's own counters under collectd's host name. */
static void vq_read_stats(const vq_read_ctx_t *rc) {
  vq_plugin_t *vp = rc->vp;
  uint64_t accepted = 0, rejected = 0, drops = 0;
  for (int i = 0; i < VQ_MSG_TYPE_COUNT; i++) {
    uint64_t a = atomic_load(&vp->stats.accepted[i]);
    double v = (double)a;
    accepted += a;
    vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_ACCEPTED),
                vq_msg_type_name(i), &v, rc->now, rc->interval, NULL);
  }
  for (int i = 1; i < VQ_REASON_COUNT; i++) {
    uint64_t r = atomic_load(&vp->stats.rejected[i]);
    double v = (double)r;
    rejected += r;
    vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_REJECTED),
                vq_reason_name(i), &v, rc->now, rc->interval, NULL);
  }
  for (size_t i = 0; i < vp->sockets_num; i++)
    drops += atomic_load(&vp->sockets[i].kernel_drops);
  double s[5] = {(double)atomic_load(&vp->stats.received), (double)accepted,
                 (double)rejected, (double)drops,
                 (double)atomic_load(&vp->stats.queue_drops)};
  vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_STATS), "", s, rc->now,
              rc->interval, NULL);
  double q = (double)vq_queue_length(vp->queue);
  vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_QUEUE), "", &q, rc->now,
              rc->interval, NULL);
  double qb = (double)vq_queue_bytes(vp->queue);
  vq_dispatch(vp, hostname_g, "", vq_type(VQ_TYPE_QUEUE_BYTES), "", &qb,
              rc->now, rc->interval, NULL);
}

static int vq_read(user_data_t *ud) {
  vq_plugin_t *vp = ud->data;
  if (vp->queue == NULL)
    return -1;
  vq_read_ctx_t rc = {
      .vp = vp, .now = cdtime(), .interval = plugin_get_interval()};
  vq_read_stats(&rc);
  vq_read_bad_fields(&rc);
  vqp_read(vp->poll, rc.now, rc.interval);
  double now = CDTIME_T_TO_DOUBLE(rc.now);
  pthread_mutex_lock(&vp->fleet_lock);
  size_t forgotten = vq_fleet_forget(vp->fleet, now, vp->conf.forget_after);
  vq_fleet_check_stale(vp->fleet, now, vp->conf.stale_timeout, vq_read_stale,
                       &rc);
  vq_fleet_foreach_site(vp->fleet, vq_read_site, &rc);
  vq_fleet_foreach_finished(vp->fleet, vq_read_finished, &rc);
  pthread_mutex_unlock(&vp->fleet_lock);
  if (forgotten == (size_t)-1)
    WARNING(VQ_PLUGIN " plugin: out of memory forgetting silent factories.");
  else if (forgotten > 0)
    INFO(VQ_PLUGIN " plugin: forgot %zu factories silent for more than "
                   "ForgetAfter (%.0f s).",
         forgotten, vp->conf.forget_after);
  if (rc.stale.failed || rc.sites.failed || rc.finished.failed)
    WARNING(VQ_PLUGIN " plugin: out of memory: some fleet values are not "
                      "dispatched this interval.");
  for (size_t k = 0; k < rc.sites.num; k++)
    vq_dispatch(vp, vq_snap_str(&rc.sites, k, 0), "", vq_type(VQ_TYPE_SITE), "",
                rc.sites.items[k].v, rc.now, rc.interval, NULL);
  vq_dispatch_finished(&rc);
  vq_output_t out = VQ_OUTPUT_INIT;
  for (size_t k = 0; k < rc.stale.num; k++) {
    if (vq_output_stale(
            &out, vq_snap_str(&rc.stale, k, 0), vq_snap_str(&rc.stale, k, 1),
            vq_snap_str(&rc.stale, k, 2), vq_snap_str(&rc.stale, k, 3),
            vq_snap_str(&rc.stale, k, 4), rc.stale.items[k].v[0]) == 0)
      vq_dispatch_notif(&out.notifs[0], rc.now);
  }
  vq_output_free(&out);
  vq_snap_free(&rc.stale);
  vq_snap_free(&rc.sites);
  vq_snap_free(&rc.finished);
  return 0;
}

/* Hands the finished-machine totals to the write plugins once more at
 * shutdown (after the worker counted every waiting machine): collectd's
 * write threads have stopped by then, so they are written directly. */
static void vq_final_totals(vq_plugin_t *vp) {
  if (vp->fleet == NULL)
    return;
  vq_read_ctx_t rc = {
      .vp = vp, .now = cdtime(), .interval = plugin_get_interval()};
  pthread_mutex_lock(&vp->fleet_lock);
  vq_fleet_foreach_finished(vp->fleet, vq_read_finished, &rc);
  pthread_mutex_unlock(&vp->fleet_lock);
  vp->write_direct = true;
  vq_dispatch_finished(&rc);
  vp->write_direct = false;
  vq_snap_free(&rc.finished);
}

/* ---- life cycle --------------------------------------------------------- */

static void vq_recv_ctx_free(vq_recv_ctx_t *ctx) {
  if (ctx == NULL)
    return;
  free(ctx->buf);
  vq_sources_destroy(ctx->sources);
  free(ctx);
}

static int vq_init(void) {
  vq_plugin_t *vp = vq_instance_get();
  if (vp == NULL)
    return -1;
  if (vp->threads_running)
    return 0;
  vp->log_interval = plugin_get_interval();
  if (vq_open_sockets(vp) != 0)
    return -1;
  vp->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  vp->queue = vq_queue_create(vp->conf.queue_length, vp->conf.queue_bytes);
  vp->fleet = vq_fleet_create();
  if (vp->fleet != NULL)
    vq_fleet_set_limits(vp->fleet, vp->conf.max_factories,
                        vp->conf.max_machinetypes, vp->conf.max_finished);
  vp->recv_ctx = calloc(1, sizeof(*vp->recv_ctx));
  if (vp->recv_ctx != NULL) {
    vp->recv_ctx->vp = vp;
    vp->recv_ctx->buf = malloc(VQ_BATCH * vp->conf.max_datagram);
    vp->recv_ctx->sources =
        vq_sources_create(65536, vp->conf.rate, vp->conf.burst);
  }
  if (vp->wake_fd < 0 || vp->queue == NULL || vp->fleet == NULL ||
      vp->recv_ctx == NULL || vp->recv_ctx->buf == NULL ||
      vp->recv_ctx->sources == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory or file descriptors at start.");
    return -1;
  }
  if (vqp_init(vp->poll) != 0) /* the poller, before the threads that ask it */
    return -1;
  if (plugin_thread_create(&vp->work_thread, vq_work_main, vp,
                           "vacquery work") != 0) {
    ERROR(VQ_PLUGIN " plugin: cannot start the worker thread: %s", STRERRNO);
    return -1;
  }
  if (plugin_thread_create(&vp->recv_thread, vq_recv_main, vp->recv_ctx,
                           "vacquery recv") != 0) {
    ERROR(VQ_PLUGIN " plugin: cannot start the receive thread: %s", STRERRNO);
    atomic_store(&vp->stopping, true);
    vq_queue_close(vp->queue);
    pthread_join(vp->work_thread, NULL);
    return -1;
  }
  vp->threads_running = true;
  /* The read callback gets the instance as its user_data (not freed by
   * collectd: vq_shutdown frees the instance). */
  user_data_t ud = {.data = vp, .free_func = NULL};
  return plugin_register_complex_read(NULL, VQ_PLUGIN, vq_read, 0, &ud);
}

static int vq_shutdown(void) {
  vq_plugin_t *vp = vq_instance;
  if (vp == NULL)
    return 0;
  vqp_stop(vp->poll); /* first: the poller counts into the fleet */
  atomic_store(&vp->stopping, true);
  if (vp->threads_running) {
    uint64_t one = 1;
    if (write(vp->wake_fd, &one, sizeof(one)) < 0)
      WARNING(VQ_PLUGIN " plugin: waking the receive thread: %s", STRERRNO);
    pthread_join(vp->recv_thread, NULL);
    vq_queue_close(vp->queue);
    pthread_join(vp->work_thread, NULL);
    vp->threads_running = false;
    vq_final_totals(vp);
  }
  vqp_destroy(vp->poll); /* after the worker: it asks the poller's slots */
  for (size_t i = 0; i < vp->sockets_num; i++)
    close(vp->sockets[i].fd);
  vp->sockets_num = 0;
  if (vp->wake_fd >= 0)
    close(vp->wake_fd);
  vp->wake_fd = -1;
  vq_queue_destroy(vp->queue);
  vp->queue = NULL;
  vq_fleet_destroy(vp->fleet);
  vp->fleet = NULL;
  vq_recv_ctx_free(vp->recv_ctx);
  vp->recv_ctx = NULL;
  for (size_t i = 0; i < vp->conf.listen_num; i++) {
    free(vp->conf.listen[i].node);
    free(vp->conf.listen[i].service);
  }
  free(vp->conf.listen);
  vp->conf.listen = NULL;
  vp->conf.listen_num = 0;
  for (size_t i = 0; i < vp->conf.cookies_num; i++) {
    free((char *)vp->conf.cookies[i].site);
    free((char *)vp->conf.cookies[i].cookie);
  }
  free(vp->conf.cookies);
  vp->conf.cookies = NULL;
  vp->conf.cookies_num = 0;
  free(vp->conf.allow);
  pthread_mutex_destroy(&vp->fleet_lock);
  free(vp);
  vq_instance = NULL;
  return 0;
}

/* Registers the vacquery data sets, so no TypesDB line is needed. */
static void vq_register_types(void) {
  for (int t = 0; t < VQ_TYPE_COUNT; t++) {
    const vq_type_t *type = vq_type(t);
    data_source_t ds[VQ_MAX_DS];
    data_set_t set = {.ds_num = type->ds_num, .ds = ds};
    sstrncpy(set.type, type->name, sizeof(set.type));
    for (size_t i = 0; i < type->ds_num; i++) {
      sstrncpy(ds[i].name, type->ds[i].name, sizeof(ds[i].name));
      ds[i].type =
          type->ds[i].kind == VQ_DS_GAUGE ? DS_TYPE_GAUGE : DS_TYPE_DERIVE;
      ds[i].min = type->ds[i].min;
      ds[i].max = type->ds[i].max;
    }
    plugin_register_data_set(&set);
  }
}

void module_register(void) {
  vq_register_types();
  plugin_register_complex_config(VQ_PLUGIN, vq_config);
  plugin_register_init(VQ_PLUGIN, vq_init);
  plugin_register_shutdown(VQ_PLUGIN, vq_shutdown);
}
