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
 * </Plugin>
 *
 * One receive thread (recvmmsg on every socket, then hand off) and one
 * worker thread (parse, check, dispatch) joined by a bounded queue; a read
 * callback dispatches the counters, the finished-machine totals and the
 * stale-factory state once per interval. The VacQuery rules live in src/.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include "common/cm_option.h"
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_message.h"
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

static vq_conf_t vq_conf = {
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

static vq_socket_t vq_sockets[VQ_MAX_SOCKETS];
static size_t vq_sockets_num;
static int vq_wake_fd = -1;
static vq_stats_t vq_stats;
static vq_queue_t *vq_queue;
static vq_fleet_t *vq_fleet;
static pthread_mutex_t vq_fleet_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t vq_recv_thread, vq_work_thread;
static bool vq_threads_running;
static atomic_bool vq_stopping;
static cdtime_t vq_log_interval;

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
static int vq_config_listen(oconfig_item_t *ci) {
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
  vq_listen_t *l = realloc(vq_conf.listen,
                           (vq_conf.listen_num + 1) * sizeof(*vq_conf.listen));
  if (l == NULL)
    return -1;
  vq_conf.listen = l;
  const char *host = ci->values[0].value.string;
  l[vq_conf.listen_num].node =
      (host[0] == '\0' || strcmp(host, "*") == 0) ? NULL : strdup(host);
  l[vq_conf.listen_num].service = strdup(port);
  vq_conf.listen_num++;
  return 0;
}

/* Handles `AllowFrom cidr [cidr ...]'. Returns 0 or -1. */
static int vq_config_allow(oconfig_item_t *ci) {
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
    vq_cidr_t *a = realloc(vq_conf.allow,
                           (vq_conf.allow_num + 1) * sizeof(*vq_conf.allow));
    if (a == NULL)
      return -1;
    vq_conf.allow = a;
    a[vq_conf.allow_num++] = c;
  }
  return 0;
}

/* Handles `SiteCookie "site" "secret"'. Returns 0 or -1. */
static int vq_config_cookie(oconfig_item_t *ci) {
  if (ci->values_num != 2 || ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[1].type != OCONFIG_TYPE_STRING ||
      ci->values[1].value.string[0] == '\0') {
    ERROR(VQ_PLUGIN " plugin: SiteCookie needs a site name and a non-empty "
                    "secret, e.g. SiteCookie \"UKI-NORTHGRID-MAN-HEP\" "
                    "\"s3cret\".");
    return -1;
  }
  vq_site_cookie_t *c = realloc(vq_conf.cookies, (vq_conf.cookies_num + 1) *
                                                     sizeof(*vq_conf.cookies));
  if (c == NULL)
    return -1;
  vq_conf.cookies = c;
  c[vq_conf.cookies_num].site = strdup(ci->values[0].value.string);
  c[vq_conf.cookies_num].cookie = strdup(ci->values[1].value.string);
  vq_conf.cookies_num++;
  return 0;
}

/* Handles `RateLimit rate [burst]'. Returns 0 or -1. */
static int vq_config_rate(oconfig_item_t *ci) {
  if (ci->values_num < 1 || ci->values_num > 2 ||
      ci->values[0].type != OCONFIG_TYPE_NUMBER ||
      (ci->values_num == 2 && ci->values[1].type != OCONFIG_TYPE_NUMBER) ||
      ci->values[0].value.number < 0 ||
      (ci->values_num == 2 && ci->values[1].value.number < 1)) {
    ERROR(VQ_PLUGIN " plugin: RateLimit needs datagrams per second (0: no "
                    "limit) and an optional burst of at least 1.");
    return -1;
  }
  vq_conf.rate = ci->values[0].value.number;
  vq_conf.burst = ci->values_num == 2
                      ? ci->values[1].value.number
                      : (vq_conf.rate * 10 > 1 ? vq_conf.rate * 10 : 1);
  return 0;
}

static int vq_open_sockets(void);

/* The complex-config callback. Any error stops collectd at start-up. */
static int vq_config(oconfig_item_t *ci) {
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *c = ci->children + i;
    double d = 0;
    int status;
    if (strcasecmp("Listen", c->key) == 0)
      status = vq_config_listen(c);
    else if (strcasecmp("ReceiveBufferSize", c->key) == 0) {
      status = vq_config_number(c, 0, INT_MAX / 2, &d);
      vq_conf.rcvbuf = (int)d;
    } else if (strcasecmp("MaxDatagramSize", c->key) == 0) {
      status = vq_config_number(c, 512, VQ_UDP_MAX, &d);
      vq_conf.max_datagram = (size_t)d;
    } else if (strcasecmp("QueueLength", c->key) == 0) {
      status = vq_config_number(c, 1, 1 << 24, &d);
      vq_conf.queue_length = (size_t)d;
    } else if (strcasecmp("ReportInterval", c->key) == 0) {
      status = vq_config_number(c, 1, 86400, &d);
      vq_conf.report_interval = DOUBLE_TO_CDTIME_T(d);
    } else if (strcasecmp("AllowFrom", c->key) == 0)
      status = vq_config_allow(c);
    else if (strcasecmp("SiteCookie", c->key) == 0)
      status = vq_config_cookie(c);
    else if (strcasecmp("RateLimit", c->key) == 0)
      status = vq_config_rate(c);
    else if (strcasecmp("StaleTimeout", c->key) == 0)
      status = vq_config_number(c, 1, 30 * 86400, &vq_conf.stale_timeout);
    else if (strcasecmp("FizzleSeconds", c->key) == 0)
      status = vq_config_number(c, 0, 86400, &vq_conf.fizzle_seconds);
    else if (strcasecmp("FinishedNotifications", c->key) == 0)
      status = cf_util_get_boolean(c, &vq_conf.finished_notifications);
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
  return vq_open_sockets();
}

/* ---- sockets ------------------------------------------------------------ */

/* Opens and binds one socket for ai. Returns the fd or -1 (logged). */
static int vq_bind_one(const struct addrinfo *ai, const char *what) {
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
  int want = vq_conf.rcvbuf, got = 0;
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
static int vq_bind_listen(const vq_listen_t *l) {
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
    if (vq_sockets_num >= VQ_MAX_SOCKETS) {
      ERROR(VQ_PLUGIN " plugin: Listen: more than %d sockets.", VQ_MAX_SOCKETS);
      bound = -1;
      break;
    }
    int fd = vq_bind_one(ai, what);
    if (fd < 0) {
      /* With no host given, a missing address family is not an error. */
      if (l->node != NULL || errno == EADDRINUSE || errno == EACCES) {
        bound = -1;
        break;
      }
      continue;
    }
    vq_sockets[vq_sockets_num++].fd = fd;
    bound++;
  }
  freeaddrinfo(res);
  return bound;
}

/* Binds all configured (or the default) Listen addresses once. Returns 0,
 * or -1 when any of them fails or nothing could be bound. */
static int vq_open_sockets(void) {
  if (vq_sockets_num > 0)
    return 0;
  vq_listen_t def = {NULL, VQ_DEFAULT_PORT};
  const vq_listen_t *list = vq_conf.listen_num > 0 ? vq_conf.listen : &def;
  size_t n = vq_conf.listen_num > 0 ? vq_conf.listen_num : 1;
  for (size_t i = 0; i < n; i++) {
    int bound = vq_bind_listen(&list[i]);
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
static void vq_reject(vq_sources_t *sources, const struct sockaddr *from,
                      double now, vq_reason_t r, size_t len) {
  atomic_fetch_add(&vq_stats.rejected[r], 1);
  if (sources == NULL ||
      !vq_sources_may_log(sources, from, now,
                          CDTIME_T_TO_DOUBLE(vq_log_interval)))
    return;
  char addr[INET6_ADDRSTRLEN];
  NOTICE(VQ_PLUGIN " plugin: rejected a %zu-byte datagram from %s: %s "
                   "(further rejections from this source are counted but "
                   "not logged for %.0f s).",
         len, vq_addr_format(from, addr, sizeof(addr)), vq_reason_name(r),
         CDTIME_T_TO_DOUBLE(vq_log_interval));
}

/* ---- receive thread ----------------------------------------------------- */

typedef struct {
  struct mmsghdr msgs[VQ_BATCH];
  struct iovec iov[VQ_BATCH];
  struct sockaddr_storage from[VQ_BATCH];
  char control[VQ_BATCH][CMSG_SPACE(sizeof(uint32_t))];
  char *buf; /* VQ_BATCH * max_datagram */
  vq_sources_t *sources;
} vq_recv_ctx_t;

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
  for (;;) {
    for (int i = 0; i < VQ_BATCH; i++) {
      ctx->iov[i] = (struct iovec){ctx->buf + (size_t)i * vq_conf.max_datagram,
                                   vq_conf.max_datagram};
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
    atomic_fetch_add(&vq_stats.received, (uint_fast64_t)n);
    for (int i = 0; i < n; i++) {
      struct msghdr *h = &ctx->msgs[i].msg_hdr;
      const struct sockaddr *from = (const struct sockaddr *)&ctx->from[i];
      size_t len = ctx->msgs[i].msg_len;
      vq_note_drops(s, h);
      if (h->msg_flags & MSG_TRUNC) {
        vq_reject(ctx->sources, from, now_d, VQ_REJ_OVERSIZE, len);
        continue;
      }
      if (!vq_cidr_allowed(vq_conf.allow, vq_conf.allow_num, from)) {
        vq_reject(ctx->sources, from, now_d, VQ_REJ_ACL, len);
        continue;
      }
      if (!vq_sources_allow(ctx->sources, from, now_d)) {
        vq_reject(ctx->sources, from, now_d, VQ_REJ_RATE_LIMIT, len);
        continue;
      }
      /* A distinct time per datagram: two messages for one identifier in
       * one batch must not carry the same timestamp. */
      vq_datagram_t *d =
          vq_datagram_new(ctx->iov[i].iov_base, len, from, h->msg_namelen,
                          CDTIME_T_TO_DOUBLE(now + (cdtime_t)i));
      if (d == NULL) {
        atomic_fetch_add(&vq_stats.queue_drops, 1);
        continue;
      }
      ready[ready_num++] = d;
    }
    size_t taken = vq_queue_push(vq_queue, ready, ready_num);
    for (size_t i = taken; i < ready_num; i++)
      free(ready[i]);
    if (taken < ready_num)
      atomic_fetch_add(&vq_stats.queue_drops, ready_num - taken);
    if (n < VQ_BATCH)
      return;
  }
}

static void *vq_recv_main(void *arg) {
  vq_recv_ctx_t *ctx = arg;
  struct pollfd pfd[VQ_MAX_SOCKETS + 1];
  for (size_t i = 0; i < vq_sockets_num; i++)
    pfd[i] = (struct pollfd){.fd = vq_sockets[i].fd, .events = POLLIN};
  pfd[vq_sockets_num] = (struct pollfd){.fd = vq_wake_fd, .events = POLLIN};
  while (!atomic_load(&vq_stopping)) {
    int n = poll(pfd, vq_sockets_num + 1, -1);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      ERROR(VQ_PLUGIN " plugin: poll: %s", STRERRNO);
      break;
    }
    for (size_t i = 0; i < vq_sockets_num; i++)
      if (pfd[i].revents & POLLIN)
        vq_drain(ctx, &vq_sockets[i]);
  }
  return NULL;
}

/* ---- dispatching -------------------------------------------------------- */

/* Dispatches one value list of type t. values holds one double per DS,
 * converted to gauge or derive as the type says. meta is borrowed. */
static void vq_dispatch(const char *host, const char *plugin_instance,
                        vq_type_id_t t, const char *type_instance,
                        const double *values, cdtime_t time, cdtime_t interval,
                        meta_data_t *meta) {
  const vq_type_t *type = vq_type(t);
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

/* Longest meta string passed on: write_http's JSON formatter refuses
 * longer ones, which would lose the whole value list. */
#define VQ_META_STR_MAX 512

/* Adds the raw string s (if present) to md under key, truncated to
 * VQ_META_STR_MAX and with control bytes replaced. */
static void vq_meta_str(meta_data_t *md, const char *key, vq_str_t s) {
  char buf[VQ_META_STR_MAX];
  if (s.ptr != NULL)
    meta_data_add_string(md, key,
                         cm_text_printable(buf, sizeof(buf), s.ptr, s.len));
}

/* Adds the string s to n's meta like vq_meta_str. */
static void vq_notif_str(notification_t *n, const char *key, const char *s,
                         size_t len) {
  char buf[VQ_META_STR_MAX];
  plugin_notification_meta_add_string(
      n, key, cm_text_printable(buf, sizeof(buf), s, len));
}

/* Replaces control bytes in a notification's message (log forging). */
static void vq_notif_clean(notification_t *n) {
  cm_text_printable(n->message, sizeof(n->message), n->message,
                    sizeof(n->message));
}

/* Returns the meta data for a factory or machinetype value list: the raw
 * names, plus (when full) the strings VacMon's tables show and time_sent.
 * Caller destroys it. */
static meta_data_t *vq_meta_for(const vq_message_t *m, bool full) {
  meta_data_t *md = meta_data_create();
  if (md == NULL)
    return NULL;
  static const vq_str_id_t names[] = {VQ_S_SITE, VQ_S_SPACE, VQ_S_FACTORY};
  static const vq_str_id_t common[] = {VQ_S_DAEMON_VERSION,
                                       VQ_S_VACQUERY_VERSION};
  static const vq_str_id_t factory[] = {VQ_S_OS_ISSUE, VQ_S_KERNEL_VERSION};
  static const vq_str_id_t mt[] = {VQ_S_FQAN, VQ_S_SHUTDOWN_MESSAGE,
                                   VQ_S_SHUTDOWN_MACHINE};
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(names); i++)
    vq_meta_str(md, vq_str_name(names[i]), m->str[names[i]]);
  if (m->type == VQ_MSG_MACHINETYPE) {
    vq_meta_str(md, "vo", vq_message_vo(m));
    vq_meta_str(md, "machinetype", vq_message_machinetype(m));
  }
  if (!full)
    return md;
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(common); i++)
    vq_meta_str(md, vq_str_name(common[i]), m->str[common[i]]);
  const vq_str_id_t *more = m->type == VQ_MSG_FACTORY ? factory : mt;
  size_t more_num = m->type == VQ_MSG_FACTORY ? STATIC_ARRAY_SIZE(factory)
                                              : STATIC_ARRAY_SIZE(mt);
  for (size_t i = 0; i < more_num; i++)
    vq_meta_str(md, vq_str_name(more[i]), m->str[more[i]]);
  if (!isnan(m->num[VQ_N_TIME_SENT]))
    meta_data_add_signed_int(md, "time_sent", (int64_t)m->num[VQ_N_TIME_SENT]);
  return md;
}

/* Copies name into a notification field, like sstrncpy. */
#define VQ_NSET(field, name) sstrncpy(field, name, sizeof(field))

/* Announces a factory that went silent (FAILURE) or came back (OKAY). */
static void vq_notify_factory(const vq_factory_t *f, int severity,
                              double silent) {
  notification_t n = {.severity = severity, .time = cdtime()};
  VQ_NSET(n.host, f->host);
  VQ_NSET(n.plugin, VQ_PLUGIN);
  VQ_NSET(n.plugin_instance, f->plugin_instance);
  VQ_NSET(n.type, vq_type(VQ_TYPE_FACTORY)->name);
  if (severity == NOTIF_FAILURE)
    ssnprintf(n.message, sizeof(n.message),
              "Factory %s (space %s, site %s) has sent nothing for %.0f s.",
              f->factory, f->space, f->site, silent);
  else
    ssnprintf(n.message, sizeof(n.message),
              "Factory %s (space %s, site %s) is reporting again.", f->factory,
              f->space, f->site);
  vq_notif_clean(&n);
  vq_notif_str(&n, "site", f->site, SIZE_MAX);
  vq_notif_str(&n, "space", f->space, SIZE_MAX);
  vq_notif_str(&n, "factory", f->factory, SIZE_MAX);
  plugin_dispatch_notification(&n);
  plugin_notification_meta_free(n.meta);
}

/* vq_field_cb: adds one message field to a notification's meta; never
 * the site's secret cookie, nor a key that is not a plain name (a sender
 * could otherwise smuggle control bytes into logs through it). */
static void vq_notif_field(void *ctx, const char *key, vq_value_kind_t kind,
                           const char *s, double d) {
  notification_t *n = ctx;
  char clean[VQ_NAME_MAX];
  size_t len = strlen(key);
  if (strcmp(key, vq_str_name(VQ_S_COOKIE)) == 0 ||
      cm_name_sanitise(clean, sizeof(clean), key, len, 0) < 0 ||
      strcmp(clean, key) != 0)
    return;
  switch (kind) {
  case VQ_V_STRING:
    vq_notif_str(n, key, s, SIZE_MAX);
    break;
  case VQ_V_INT:
    plugin_notification_meta_add_signed_int(n, key, (int64_t)d);
    break;
  case VQ_V_DOUBLE:
    plugin_notification_meta_add_double(n, key, d);
    break;
  case VQ_V_BOOL:
    plugin_notification_meta_add_boolean(n, key, d != 0);
    break;
  }
}

/* One notification per finished machine, with every field as meta. */
static void vq_notify_finished(const vq_message_t *m, const vq_ident_t *id,
                               const vq_finished_t *fin, cdtime_t time) {
  bool good = fin->outcome <= VQ_OUT_300 || fin->outcome == VQ_OUT_NONE;
  notification_t n = {.severity = good ? NOTIF_OKAY : NOTIF_WARNING,
                      .time = time};
  VQ_NSET(n.host, id->host);
  VQ_NSET(n.plugin, VQ_PLUGIN);
  VQ_NSET(n.plugin_instance, id->plugin_instance);
  VQ_NSET(n.type, vq_type(VQ_TYPE_FINISHED)->name);
  VQ_NSET(n.type_instance, id->type_instance);
  vq_str_t vo = vq_message_vo(m), mt = vq_message_machinetype(m);
  vq_str_t machine = m->str[VQ_S_MACHINE];
  ssnprintf(n.message, sizeof(n.message),
            "Machine %.*s (%.*s, VO %.*s) finished after %.0f s: %s.",
            machine.ptr ? (int)machine.len : 1, machine.ptr ? machine.ptr : "?",
            (int)mt.len, mt.ptr, (int)vo.len, vo.ptr, fin->wall_seconds,
            vq_outcome_name(fin->outcome));
  vq_notif_clean(&n);
  vq_message_foreach_field(m, vq_notif_field, &n);
  vq_notif_str(&n, "vo", vo.ptr, vo.len);
  plugin_notification_meta_add_string(&n, "outcome",
                                      vq_outcome_name(fin->outcome));
  plugin_notification_meta_add_double(&n, "wall_seconds", fin->wall_seconds);
  plugin_notification_meta_add_double(&n, "hs06_seconds", fin->hs06_seconds);
  plugin_dispatch_notification(&n);
  plugin_notification_meta_free(n.meta);
}

/* ---- worker thread ------------------------------------------------------ */

/* Turns one accepted message into values, totals and notifications.
 * Returns VQ_OK or the reason it was rejected after all. */
static vq_reason_t vq_handle(const vq_message_t *m, cdtime_t time) {
  vq_reason_t r = vq_cookie_check(vq_conf.cookies, vq_conf.cookies_num, m);
  if (r != VQ_OK)
    return r;
  vq_sample_t s;
  vq_finished_t fin;
  if (m->type == VQ_MSG_MACHINE)
    r = vq_finished_from_message(m, vq_conf.fizzle_seconds, &s.id, &fin);
  else
    r = vq_sample_from_message(m, &s);
  if (r != VQ_OK)
    return r;

  pthread_mutex_lock(&vq_fleet_lock);
  int back = vq_fleet_seen(vq_fleet, &s.id, m, CDTIME_T_TO_DOUBLE(time));
  if (m->type == VQ_MSG_MACHINE)
    vq_fleet_add_finished(vq_fleet, &s.id, &fin);
  pthread_mutex_unlock(&vq_fleet_lock);
  if (back == 1) {
    vq_factory_t f = {.host = s.id.host,
                      .plugin_instance = s.id.plugin_instance,
                      .site = m->str[VQ_S_SITE].ptr,
                      .space = m->str[VQ_S_SPACE].ptr,
                      .factory = m->str[VQ_S_FACTORY].ptr};
    vq_notify_factory(&f, NOTIF_OKAY, 0);
  }

  if (m->type == VQ_MSG_MACHINE) {
    if (vq_conf.finished_notifications)
      vq_notify_finished(m, &s.id, &fin, time);
    return VQ_OK;
  }
  /* The first value list carries every string of the message, the others
   * only the names: collectd's cache keeps a copy of each list's meta. */
  meta_data_t *md = vq_meta_for(m, true);
  for (size_t k = 0; k < s.lists_num; k++) {
    if (k == 1) {
      meta_data_destroy(md);
      md = vq_meta_for(m, false);
    }
    vq_dispatch(s.id.host, s.id.plugin_instance, s.lists[k].type,
                s.id.type_instance, s.lists[k].values, time,
                vq_conf.report_interval, md);
  }
  meta_data_destroy(md);
  return VQ_OK;
}

static void *vq_work_main(void *arg) {
  (void)arg;
  vq_parser_t *parser = vq_parser_create();
  vq_sources_t *sources = vq_sources_create(65536, 0, 1);
  if (parser == NULL || sources == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory starting the worker.");
    vq_parser_destroy(parser);
    vq_sources_destroy(sources);
    return NULL;
  }
  vq_datagram_t *batch[VQ_BATCH];
  for (;;) {
    size_t n = vq_queue_pop(vq_queue, batch, VQ_BATCH, 1000);
    if (n == 0 && atomic_load(&vq_stopping))
      break;
    for (size_t i = 0; i < n; i++) {
      vq_datagram_t *d = batch[i];
      vq_message_t m;
      vq_reason_t r = vq_parse(parser, d->data, d->len, &m);
      if (r == VQ_OK) {
        r = vq_handle(&m, DOUBLE_TO_CDTIME_T(d->received));
        if (r == VQ_OK)
          atomic_fetch_add(&vq_stats.accepted[m.type], 1);
        vq_message_clear(&m);
      }
      if (r != VQ_OK)
        vq_reject(sources, (struct sockaddr *)&d->from, d->received, r, d->len);
      free(d);
    }
  }
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
  cdtime_t now, interval;
  vq_stale_note_t *stale;
  size_t stale_num, stale_cap;
} vq_read_ctx_t;

static void vq_read_stale(void *ctx, const vq_factory_t *f) {
  vq_read_ctx_t *rc = ctx;
  if (rc->stale_num == rc->stale_cap) {
    size_t cap = rc->stale_cap ? 2 * rc->stale_cap : 16;
    vq_stale_note_t *n = realloc(rc->stale, cap * sizeof(*n));
    if (n == NULL)
      return; /* still counted in stale_factories, just not announced */
    rc->stale = n;
    rc->stale_cap = cap;
  }
  rc->stale[rc->stale_num++] =
      (vq_stale_note_t){f, CDTIME_T_TO_DOUBLE(rc->now) - f->last_seen};
}

static void vq_read_site(void *ctx, const char *host, size_t factories,
                         size_t stale) {
  vq_read_ctx_t *rc = ctx;
  double v[2] = {(double)factories, (double)stale};
  vq_dispatch(host, "", VQ_TYPE_SITE, "", v, rc->now, rc->interval, NULL);
}

static void vq_read_finished(void *ctx, const vq_finished_total_t *t) {
  vq_read_ctx_t *rc = ctx;
  double v[4] = {(double)t->machines, t->cpu_seconds, t->wall_seconds,
                 t->hs06_seconds};
  vq_dispatch(t->host, t->plugin_instance, VQ_TYPE_FINISHED, t->type_instance,
              v, rc->now, rc->interval, NULL);
}

/* Dispatches the receiver's own counters under collectd's host name. */
static void vq_read_stats(const vq_read_ctx_t *rc) {
  uint64_t accepted = 0, rejected = 0, drops = 0;
  for (int i = 0; i < VQ_MSG_TYPE_COUNT; i++) {
    uint64_t a = atomic_load(&vq_stats.accepted[i]);
    double v = (double)a;
    accepted += a;
    vq_dispatch(hostname_g, "", VQ_TYPE_ACCEPTED, vq_msg_type_name(i), &v,
                rc->now, rc->interval, NULL);
  }
  for (int i = 1; i < VQ_REASON_COUNT; i++) {
    uint64_t r = atomic_load(&vq_stats.rejected[i]);
    double v = (double)r;
    rejected += r;
    vq_dispatch(hostname_g, "", VQ_TYPE_REJECTED, vq_reason_name(i), &v,
                rc->now, rc->interval, NULL);
  }
  for (size_t i = 0; i < vq_sockets_num; i++)
    drops += atomic_load(&vq_sockets[i].kernel_drops);
  double s[5] = {(double)atomic_load(&vq_stats.received), (double)accepted,
                 (double)rejected, (double)drops,
                 (double)atomic_load(&vq_stats.queue_drops)};
  vq_dispatch(hostname_g, "", VQ_TYPE_STATS, "", s, rc->now, rc->interval,
              NULL);
  double q = (double)vq_queue_length(vq_queue);
  vq_dispatch(hostname_g, "", VQ_TYPE_QUEUE, "", &q, rc->now, rc->interval,
              NULL);
}

static int vq_read(void) {
  if (vq_queue == NULL)
    return -1;
  vq_read_ctx_t rc = {.now = cdtime(), .interval = plugin_get_interval()};
  vq_read_stats(&rc);
  pthread_mutex_lock(&vq_fleet_lock);
  vq_fleet_check_stale(vq_fleet, CDTIME_T_TO_DOUBLE(rc.now),
                       vq_conf.stale_timeout, vq_read_stale, &rc);
  vq_fleet_foreach_site(vq_fleet, vq_read_site, &rc);
  vq_fleet_foreach_finished(vq_fleet, vq_read_finished, &rc);
  pthread_mutex_unlock(&vq_fleet_lock);
  for (size_t i = 0; i < rc.stale_num; i++)
    vq_notify_factory(rc.stale[i].factory, NOTIF_FAILURE, rc.stale[i].silent);
  free(rc.stale);
  return 0;
}

/* ---- life cycle --------------------------------------------------------- */

static vq_recv_ctx_t *vq_recv_ctx;

static void vq_recv_ctx_free(vq_recv_ctx_t *ctx) {
  if (ctx == NULL)
    return;
  free(ctx->buf);
  vq_sources_destroy(ctx->sources);
  free(ctx);
}

static int vq_init(void) {
  if (vq_threads_running)
    return 0;
  vq_log_interval = plugin_get_interval();
  if (vq_open_sockets() != 0)
    return -1;
  vq_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  vq_queue = vq_queue_create(vq_conf.queue_length);
  vq_fleet = vq_fleet_create();
  vq_recv_ctx = calloc(1, sizeof(*vq_recv_ctx));
  if (vq_recv_ctx != NULL) {
    vq_recv_ctx->buf = malloc(VQ_BATCH * vq_conf.max_datagram);
    vq_recv_ctx->sources =
        vq_sources_create(65536, vq_conf.rate, vq_conf.burst);
  }
  if (vq_wake_fd < 0 || vq_queue == NULL || vq_fleet == NULL ||
      vq_recv_ctx == NULL || vq_recv_ctx->buf == NULL ||
      vq_recv_ctx->sources == NULL) {
    ERROR(VQ_PLUGIN " plugin: out of memory or file descriptors at start.");
    return -1;
  }
  if (plugin_thread_create(&vq_work_thread, vq_work_main, NULL,
                           "vacquery work") != 0) {
    ERROR(VQ_PLUGIN " plugin: cannot start the worker thread: %s", STRERRNO);
    return -1;
  }
  if (plugin_thread_create(&vq_recv_thread, vq_recv_main, vq_recv_ctx,
                           "vacquery recv") != 0) {
    ERROR(VQ_PLUGIN " plugin: cannot start the receive thread: %s", STRERRNO);
    atomic_store(&vq_stopping, true);
    vq_queue_close(vq_queue);
    pthread_join(vq_work_thread, NULL);
    return -1;
  }
  vq_threads_running = true;
  return 0;
}

static int vq_shutdown(void) {
  atomic_store(&vq_stopping, true);
  if (vq_threads_running) {
    uint64_t one = 1;
    if (write(vq_wake_fd, &one, sizeof(one)) < 0)
      WARNING(VQ_PLUGIN " plugin: waking the receive thread: %s", STRERRNO);
    pthread_join(vq_recv_thread, NULL);
    vq_queue_close(vq_queue);
    pthread_join(vq_work_thread, NULL);
    vq_threads_running = false;
  }
  for (size_t i = 0; i < vq_sockets_num; i++)
    close(vq_sockets[i].fd);
  vq_sockets_num = 0;
  if (vq_wake_fd >= 0)
    close(vq_wake_fd);
  vq_wake_fd = -1;
  vq_queue_destroy(vq_queue);
  vq_queue = NULL;
  vq_fleet_destroy(vq_fleet);
  vq_fleet = NULL;
  vq_recv_ctx_free(vq_recv_ctx);
  vq_recv_ctx = NULL;
  for (size_t i = 0; i < vq_conf.listen_num; i++) {
    free(vq_conf.listen[i].node);
    free(vq_conf.listen[i].service);
  }
  free(vq_conf.listen);
  vq_conf.listen = NULL;
  vq_conf.listen_num = 0;
  for (size_t i = 0; i < vq_conf.cookies_num; i++) {
    free((char *)vq_conf.cookies[i].site);
    free((char *)vq_conf.cookies[i].cookie);
  }
  free(vq_conf.cookies);
  vq_conf.cookies = NULL;
  vq_conf.cookies_num = 0;
  free(vq_conf.allow);
  vq_conf.allow = NULL;
  vq_conf.allow_num = 0;
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
  plugin_register_read(VQ_PLUGIN, vq_read);
  plugin_register_shutdown(VQ_PLUGIN, vq_shutdown);
}
