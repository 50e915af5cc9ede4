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
 *   ReportInterval 180            # interval of factory/machinetype values
 *   AllowFrom "192.0.2.0/24"      # repeatable; default: every source
 *   SiteCookie "SITE" "secret"    # repeatable
 *   RateLimit 100 1000            # per source: datagrams/s and burst; 0 off
 *   StaleTimeout 600              # seconds of silence before FAILURE
 *   FizzleSeconds 600             # shorter runs without a code: fizzle
 *   FinishedNotifications true    # one notification per finished machine
 *   MessageNotifications false    # one per factory/machinetype message
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

#include "common/cm_key.h"
#include "common/cm_option.h"
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_output.h"
#include "vacquery/vq_policy.h"
#include "vacquery/vq_queue.h"
#include "vacquery/vq_sample.h"
#include "vacquery/vq_sources.h"
#include "vacquery/vq_types.h"

#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#define VQ_PLUGIN "vacquery"
#define VQ_DEFAULT_PORT "8884"
#define VQ_BATCH 64
#define VQ_MAX_SOCKETS 16
#define VQ_UDP_MAX 65507

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
} vq_stats_t;

typedef struct vq_recv_ctx vq_recv_ctx_t;

/* One vacquery instance: everything the callbacks and threads share. */
typedef struct {
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
} vq_plugin_t;

/*
 * The instance. collectd 5.12 passes user_data to read callbacks only:
 * vq_read gets the instance that way, but the config, init and shutdown
 * callbacks take no argument and reach it through this pointer, as
 * write_graphite's config callback reaches its nodes. Made on first use
 * (not at load time), freed by vq_shutdown.
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
      .rate = 100,
      .burst = 1000,
      .stale_timeout = 600,
      .fizzle_seconds = 600,
      .finished_notifications = true,
      .report_interval = TIME_T_TO_CDTIME_T_STATIC(180),
  };
  vp->wake_fd = -1;
  pthread_mutex_init(&vp->fleet_lock, NULL);
  C_COMPLAIN_INIT(&vp->fleet_complaint);
  vq_instance = vp;
  return vp;
}

/* ---- configuration ---------------------------------------------------- */

/* Returns the number value of a one-number option in [min, max], or -1
 * (after logging an error naming the option). */
static int vq_config_number(oconfig_item_t *ci, double min, double max,
                            double *out) {
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
    else {
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
      vq_datagram_t *d =
          vq_datagram_new(ctx->iov[i].iov_base, len, from, h->msg_namelen,
                          CDTIME_T_TO_DOUBLE(now + (cdtime_t)i));
      if (d == NULL) {
        atomic_fetch_add(&vp->stats.queue_drops, 1);
        continue;
      }
      ready[ready_num++] = d;
    }
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
static void vq_dispatch(const char *host, const char *plugin_instance,
                        const vq_type_t *type, const char *type_instance,
                        const double *values, cdtime_t time, cdtime_t interval,
                        meta_data_t *meta) {
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
static void vq_dispatch_notif(const vq_out_notif_t *on, cdtime_t time) {
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

  pthread_mutex_lock(&vp->fleet_lock);
  int back =
      vq_fleet_seen(vp->fleet, &o->fleet.factory, m, CDTIME_T_TO_DOUBLE(time));
  int added = o->fleet.finished
                  ? vq_fleet_add_finished(vp->fleet, &o->fleet.finished_id,
                                          &o->fleet.fin)
                  : 0;
  vq_fleet_note(vp, o, back < 0, added < 0);
  pthread_mutex_unlock(&vp->fleet_lock);
  if (back == 1)
    vq_dispatch_notif(&o->back, cdtime());

  for (size_t k = 0; k < o->notifs_num; k++)
    vq_dispatch_notif(&o->notifs[k], time);
  /* Lists that share their meta share one meta_data_t. */
  meta_data_t *md = NULL;
  for (size_t k = 0; k < o->lists_num; k++) {
    const vq_out_values_t *l = &o->lists[k];
    if (k == 0 || l->meta.items != o->lists[k - 1].meta.items) {
      meta_data_destroy(md);
      md = vq_meta_data(&l->meta);
    }
    vq_dispatch(l->id.host, l->id.plugin_instance, l->type, l->id.type_instance,
                l->values, time, vp->conf.report_interval, md);
  }
  meta_data_destroy(md);
  return VQ_OK;
}

static void *vq_work_main(void *arg) {
  vq_plugin_t *vp = arg;
  vq_parser_t *parser = vq_parser_create();
  vq_sources_t *sources = vq_sources_create(65536, 0, 1);
  if (parser == NULL || sources == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory starting the worker.");
    vq_parser_destroy(parser);
    vq_sources_destroy(sources);
    return NULL;
  }
  vq_output_t out = VQ_OUTPUT_INIT;
  vq_datagram_t *batch[VQ_BATCH];
  for (;;) {
    size_t n = vq_queue_pop(vp->queue, batch, VQ_BATCH, 1000);
    if (n == 0 && atomic_load(&vp->stopping))
      break;
    for (size_t i = 0; i < n; i++) {
      vq_datagram_t *d = batch[i];
      vq_message_t m;
      vq_reason_t r = vq_parse(parser, d->data, d->len, &m);
      if (r == VQ_OK) {
        r = vq_handle(vp, &out, &m, (const struct sockaddr *)&d->from,
                      DOUBLE_TO_CDTIME_T(d->received));
        if (r == VQ_OK)
          atomic_fetch_add(&vp->stats.accepted[m.type], 1);
        vq_message_clear(&m);
      }
      if (r != VQ_OK)
        vq_reject(vp, sources, (struct sockaddr *)&d->from, d->received, r,
                  d->len);
      free(d);
    }
  }
  vq_output_free(&out);
  vq_parser_destroy(parser);
  vq_sources_destroy(sources);
  return NULL;
}

/* ---- read callback: counters and fleet state ---------------------------- */

/* A factory that just went stale, noted under the fleet lock and announced
 * after it (notifications are synchronous and may do I/O). Registry
 * entries live until shutdown, so the pointer stays valid. */
typedef struct {
  const vq_factory_t *factory;
  double silent;
} vq_stale_note_t;

typedef struct {
  vq_plugin_t *vp;
  cdtime_t now, interval;
  vq_stale_note_t *stale;
  size_t stale_num, stale_cap;
} vq_read_ctx_t;

static void vq_read_stale(void *ctx, const vq_factory_t *f) {
  vq_read_ctx_t *rc = ctx;
  if (cm_vec_reserve((void **)&rc->stale, &rc->stale_cap, rc->stale_num + 1,
                     sizeof(*rc->stale)) != 0)
    return; /* still counted in stale_factories, just not announced */
  rc->stale[rc->stale_num++] =
      (vq_stale_note_t){f, CDTIME_T_TO_DOUBLE(rc->now) - f->last_seen};
}

static void vq_read_site(void *ctx, const char *host, size_t factories,
                         size_t stale) {
  vq_read_ctx_t *rc = ctx;
  double v[2] = {(double)factories, (double)stale};
  vq_dispatch(host, "", vq_type(VQ_TYPE_SITE), "", v, rc->now, rc->interval,
              NULL);
}

static void vq_read_finished(void *ctx, const vq_finished_total_t *t) {
  vq_read_ctx_t *rc = ctx;
  double v[4] = {(double)t->machines, t->cpu_seconds, t->wall_seconds,
                 t->hs06_seconds};
  vq_dispatch(t->host, t->plugin_instance, vq_type(VQ_TYPE_FINISHED),
              t->type_instance, v, rc->now, rc->interval, NULL);
}

/* Dispatches the receiver's own counters under collectd's host name. */
static void vq_read_stats(const vq_read_ctx_t *rc) {
  vq_plugin_t *vp = rc->vp;
  uint64_t accepted = 0, rejected = 0, drops = 0;
  for (int i = 0; i < VQ_MSG_TYPE_COUNT; i++) {
    uint64_t a = atomic_load(&vp->stats.accepted[i]);
    double v = (double)a;
    accepted += a;
    vq_dispatch(hostname_g, "", vq_type(VQ_TYPE_ACCEPTED), vq_msg_type_name(i),
                &v, rc->now, rc->interval, NULL);
  }
  for (int i = 1; i < VQ_REASON_COUNT; i++) {
    uint64_t r = atomic_load(&vp->stats.rejected[i]);
    double v = (double)r;
    rejected += r;
    vq_dispatch(hostname_g, "", vq_type(VQ_TYPE_REJECTED), vq_reason_name(i),
                &v, rc->now, rc->interval, NULL);
  }
  for (size_t i = 0; i < vp->sockets_num; i++)
    drops += atomic_load(&vp->sockets[i].kernel_drops);
  double s[5] = {(double)atomic_load(&vp->stats.received), (double)accepted,
                 (double)rejected, (double)drops,
                 (double)atomic_load(&vp->stats.queue_drops)};
  vq_dispatch(hostname_g, "", vq_type(VQ_TYPE_STATS), "", s, rc->now,
              rc->interval, NULL);
  double q = (double)vq_queue_length(vp->queue);
  vq_dispatch(hostname_g, "", vq_type(VQ_TYPE_QUEUE), "", &q, rc->now,
              rc->interval, NULL);
}

static int vq_read(user_data_t *ud) {
  vq_plugin_t *vp = ud->data;
  if (vp->queue == NULL)
    return -1;
  vq_read_ctx_t rc = {
      .vp = vp, .now = cdtime(), .interval = plugin_get_interval()};
  vq_read_stats(&rc);
  pthread_mutex_lock(&vp->fleet_lock);
  vq_fleet_check_stale(vp->fleet, CDTIME_T_TO_DOUBLE(rc.now),
                       vp->conf.stale_timeout, vq_read_stale, &rc);
  vq_fleet_foreach_site(vp->fleet, vq_read_site, &rc);
  vq_fleet_foreach_finished(vp->fleet, vq_read_finished, &rc);
  pthread_mutex_unlock(&vp->fleet_lock);
  vq_output_t out = VQ_OUTPUT_INIT;
  for (size_t i = 0; i < rc.stale_num; i++) {
    const vq_factory_t *f = rc.stale[i].factory;
    if (vq_output_stale(&out, f->host, f->plugin_instance, f->site, f->space,
                        f->factory, rc.stale[i].silent) == 0)
      vq_dispatch_notif(&out.notifs[0], rc.now);
  }
  vq_output_free(&out);
  free(rc.stale);
  return 0;
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
  vp->queue = vq_queue_create(vp->conf.queue_length);
  vp->fleet = vq_fleet_create();
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
  atomic_store(&vp->stopping, true);
  if (vp->threads_running) {
    uint64_t one = 1;
    if (write(vp->wake_fd, &one, sizeof(one)) < 0)
      WARNING(VQ_PLUGIN " plugin: waking the receive thread: %s", STRERRNO);
    pthread_join(vp->recv_thread, NULL);
    vq_queue_close(vp->queue);
    pthread_join(vp->work_thread, NULL);
    vp->threads_running = false;
  }
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
