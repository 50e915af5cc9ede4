/* SPDX-License-Identifier: MIT */
/**
 * collectd-vacmon - plugins/write_gmond.c
 *
 * A collectd write plugin that sends value lists as Ganglia gmetrics to the
 * gmond UDP channels of a gmond.conf (or of explicit Host/Port channels),
 * through libganglia. Each factory is a spoofed Ganglia host with its own
 * synthetic address and a spoofed heartbeat.
 *
 * <Plugin write_gmond>
 *   GmondConf "/etc/ganglia/gmond.conf" # or: Host "gmond1" ["gmond2"...]
 *   Port 8649                           #     with Host: the UDP port
 *   <Site "UKI-SITE-A" "UKI-SITE-B">    # repeatable: these sites go to
 *     Host "gmond-a.example.org"        # their own gmond (GmondConf or
 *     Port 8649                         # Host/Port); others to the above
 *   </Site>
 *   DMax 86400               # seconds before gmond forgets a metric; 0 never
 *   Group "vacquery"         # Ganglia metric group
 *   SpoofNetwork "198.18.0.0/15"  # synthetic host addresses come from here
 *   Plugin "vacquery"        # repeatable; "*": every plugin
 *   HeartbeatInterval 20     # spoofed heartbeats and own counters
 *   MetadataInterval 60      # metadata resent this often per host; 0 always
 *   HostTimeout 600          # no heartbeat for hosts silent this long
 *   VOTotals true            # per-VO totals on each site's host
 * </Plugin>
 *
 * libganglia calls exit() on a bad gmond.conf, so each file is first tried
 * in a forked child; a bad one disables this plugin (collectd runs on).
 * libganglia's APR pool is not thread-safe: one mutex serialises all use.
 * The mapping rules live in src/ganglia/gm_*.c.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include <ganglia.h>

#include "ganglia/gm_metric.h"
#include "ganglia/gm_route.h"
#include "ganglia/gm_spoof.h"
#include "ganglia/gm_vo.h"

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define WG_PLUGIN "write_gmond"
#define WG_DEFAULT_CONF "/etc/ganglia/gmond.conf"
#define WG_DEFAULT_PORT 8649
#define WG_CHILD_TIMEOUT 30 /* seconds for the child that tries a file */

/* One set of gmond channels: the default one or one <Site> block. */
typedef struct {
  char name[DATA_MAX_NAME_LEN]; /* "default" or the block's first site */
  char *conf_path;              /* GmondConf, or NULL */
  char **hosts;                 /* Host, when no GmondConf */
  size_t hosts_num;
  int port;
  Ganglia_udp_send_channels chan; /* after init */
  uint64_t sent, metadata_sent, heartbeats, failures;
  c_complain_t complaint;
} wg_route_t;

/* The configuration, read-only after init. */
static struct {
  wg_route_t *routes; /* [0] is the default route */
  size_t routes_num;
  gm_routes_t *sites;
  gm_net_t net;
  unsigned dmax;
  char *group;
  char **plugins;
  size_t plugins_num;
  bool all_plugins;
  cdtime_t heartbeat_interval;
  double metadata_interval, host_timeout;
  bool vo_totals;
  bool configured;
} wg_conf;

/* Everything below, except wg_enabled, is guarded by wg_lock. */
static pthread_mutex_t wg_lock = PTHREAD_MUTEX_INITIALIZER;
static Ganglia_pool wg_pool;
static gm_hosts_t *wg_hosts;
static gm_vo_t *wg_vo;         /* NULL unless VOTotals */
static atomic_bool wg_enabled; /* set by init and shutdown, read anywhere */
static uint64_t wg_dropped;    /* values not sent: unmappable or rejected */
static c_complain_t wg_drop_complaint = C_COMPLAIN_INIT_STATIC;

/* ---- configuration ------------------------------------------------------ */

/* Appends the string arguments of ci to *list. Returns 0 or -1. */
static int wg_add_strings(oconfig_item_t *ci, char ***list, size_t *num) {
  if (ci->values_num < 1) {
    ERROR(WG_PLUGIN " plugin: %s needs at least one string", ci->key);
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++) {
    if (ci->values[i].type != OCONFIG_TYPE_STRING) {
      ERROR(WG_PLUGIN " plugin: %s takes strings", ci->key);
      return -1;
    }
    char **n = realloc(*list, (*num + 1) * sizeof(**list));
    if (n == NULL)
      return -1;
    *list = n;
    if ((n[*num] = strdup(ci->values[i].value.string)) == NULL)
      return -1;
    (*num)++;
  }
  return 0;
}

/* Reads GmondConf, Host or Port of a channel set. Returns 1 when ci is none
 * of them, 0 when read, -1 on error. */
static int wg_route_option(oconfig_item_t *ci, wg_route_t *r) {
  if (strcasecmp(ci->key, "GmondConf") == 0) {
    if (r->conf_path != NULL) {
      ERROR(WG_PLUGIN " plugin: GmondConf given twice in one block");
      return -1;
    }
    return cf_util_get_string(ci, &r->conf_path) == 0 ? 0 : -1;
  }
  if (strcasecmp(ci->key, "Host") == 0)
    return wg_add_strings(ci, &r->hosts, &r->hosts_num);
  if (strcasecmp(ci->key, "Port") == 0) {
    r->port = cf_util_get_port_number(ci);
    if (r->port <= 0) {
      ERROR(WG_PLUGIN " plugin: Port must be 1..65535");
      return -1;
    }
    return 0;
  }
  return 1;
}

/* Checks a finished channel set: not both GmondConf and Host. */
static int wg_route_check(wg_route_t *r, bool is_default) {
  if (r->conf_path != NULL && r->hosts_num > 0) {
    ERROR(WG_PLUGIN " plugin: %s: give GmondConf or Host, not both", r->name);
    return -1;
  }
  if (r->conf_path == NULL && r->hosts_num == 0) {
    if (!is_default) {
      ERROR(WG_PLUGIN " plugin: <Site \"%s\">: needs GmondConf or Host",
            r->name);
      return -1;
    }
    if ((r->conf_path = strdup(WG_DEFAULT_CONF)) == NULL)
      return -1;
  }
  return 0;
}

/* Returns a new zeroed route at the end of wg_conf.routes, or NULL. */
static wg_route_t *wg_route_new(const char *name) {
  wg_route_t *n =
      realloc(wg_conf.routes, (wg_conf.routes_num + 1) * sizeof(*n));
  if (n == NULL)
    return NULL;
  wg_conf.routes = n;
  wg_route_t *r = &n[wg_conf.routes_num++];
  memset(r, 0, sizeof(*r));
  sstrncpy(r->name, name, sizeof(r->name));
  r->port = WG_DEFAULT_PORT;
  C_COMPLAIN_INIT(&r->complaint);
  return r;
}

/* Reads one <Site "NAME" ...> block into a new route. */
static int wg_config_site(oconfig_item_t *ci) {
  if (ci->values_num < 1) {
    ERROR(WG_PLUGIN " plugin: <Site> needs at least one site name");
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type != OCONFIG_TYPE_STRING) {
      ERROR(WG_PLUGIN " plugin: <Site> takes site names (strings)");
      return -1;
    }
  size_t idx = wg_conf.routes_num;
  wg_route_t *r = wg_route_new(ci->values[0].value.string);
  if (r == NULL)
    return -1;
  for (int i = 0; i < ci->children_num; i++) {
    int st = wg_route_option(&ci->children[i], r);
    if (st == 1)
      ERROR(WG_PLUGIN " plugin: <Site>: unknown option %s",
            ci->children[i].key);
    if (st != 0)
      return -1;
  }
  if (wg_route_check(r, false) != 0)
    return -1;
  for (int i = 0; i < ci->values_num; i++) {
    char err[256];
    if (gm_routes_add(wg_conf.sites, ci->values[i].value.string, idx, err,
                      sizeof(err)) != 0) {
      ERROR(WG_PLUGIN " plugin: <Site>: %s", err);
      return -1;
    }
  }
  return 0;
}

/* Reads a number of seconds > 0 (or >= 0 with allow_zero) into *out. */
static int wg_get_seconds(oconfig_item_t *ci, double *out, bool allow_zero) {
  double v;
  if (cf_util_get_double(ci, &v) != 0 || !(v >= 0) || v > 1e9 ||
      (v == 0 && !allow_zero)) {
    ERROR(WG_PLUGIN " plugin: %s must be a number of seconds%s", ci->key,
          allow_zero ? " (0 or more)" : " above 0");
    return -1;
  }
  *out = v;
  return 0;
}

/* Reads one top-level option. */
static int wg_config_option(oconfig_item_t *c) {
  double v;
  if (strcasecmp(c->key, "Site") == 0)
    return wg_config_site(c);
  if (strcasecmp(c->key, "DMax") == 0) {
    if (wg_get_seconds(c, &v, true) != 0)
      return -1;
    wg_conf.dmax = (unsigned)v;
    return 0;
  }
  if (strcasecmp(c->key, "Group") == 0) {
    sfree(wg_conf.group);
    if (cf_util_get_string(c, &wg_conf.group) != 0)
      return -1;
    if (wg_conf.group[0] == '\0' || strchr(wg_conf.group, '"') != NULL) {
      ERROR(WG_PLUGIN " plugin: Group must be non-empty, without '\"'");
      return -1;
    }
    return 0;
  }
  if (strcasecmp(c->key, "SpoofNetwork") == 0) {
    char buf[64], err[128];
    if (cf_util_get_string_buffer(c, buf, sizeof(buf)) != 0)
      return -1;
    if (gm_net_parse(buf, &wg_conf.net, err, sizeof(err)) != 0) {
      ERROR(WG_PLUGIN " plugin: SpoofNetwork %s", err);
      return -1;
    }
    return 0;
  }
  if (strcasecmp(c->key, "Plugin") == 0)
    return wg_add_strings(c, &wg_conf.plugins, &wg_conf.plugins_num);
  if (strcasecmp(c->key, "HeartbeatInterval") == 0) {
    if (wg_get_seconds(c, &v, false) != 0)
      return -1;
    wg_conf.heartbeat_interval = DOUBLE_TO_CDTIME_T(v);
    return 0;
  }
  if (strcasecmp(c->key, "MetadataInterval") == 0)
    return wg_get_seconds(c, &wg_conf.metadata_interval, true);
  if (strcasecmp(c->key, "HostTimeout") == 0)
    return wg_get_seconds(c, &wg_conf.host_timeout, false);
  if (strcasecmp(c->key, "VOTotals") == 0)
    return cf_util_get_boolean(c, &wg_conf.vo_totals) == 0 ? 0 : -1;
  int st = wg_route_option(c, &wg_conf.routes[0]);
  if (st == 1)
    ERROR(WG_PLUGIN " plugin: unknown option %s", c->key);
  return st == 0 ? 0 : -1;
}

static int wg_config(oconfig_item_t *ci) {
  if (wg_conf.configured) {
    ERROR(WG_PLUGIN " plugin: only one <Plugin write_gmond> block");
    return -1;
  }
  wg_conf.configured = true;
  if ((wg_conf.sites = gm_routes_create()) == NULL ||
      wg_route_new("default") == NULL)
    return -1;
  for (int i = 0; i < ci->children_num; i++)
    if (wg_config_option(&ci->children[i]) != 0)
      return -1;
  if (wg_route_check(&wg_conf.routes[0], true) != 0)
    return -1;
  for (size_t i = 0; i < wg_conf.plugins_num; i++)
    if (strcmp(wg_conf.plugins[i], "*") == 0)
      wg_conf.all_plugins = true;
  if (wg_conf.plugins_num == 0 &&
      wg_add_strings(
          &(oconfig_item_t){
              .key = "Plugin",
              .values = &(oconfig_value_t){.value.string = GM_VACQUERY_PLUGIN,
                                           .type = OCONFIG_TYPE_STRING},
              .values_num = 1},
          &wg_conf.plugins, &wg_conf.plugins_num) != 0)
    return -1;
  return 0;
}

static int wg_read(user_data_t *ud);

/* ---- init: try each gmond.conf in a child, then open its channels ------- */

/* Reads the child's output from fd into buf (size bytes) until EOF or the
 * deadline; kills the child when it does not finish in time. */
static void wg_read_child(int fd, pid_t pid, char *buf, size_t size) {
  size_t len = 0;
  cdtime_t deadline = cdtime() + TIME_T_TO_CDTIME_T(WG_CHILD_TIMEOUT);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cdtime_t now = cdtime();
    if (now >= deadline) {
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(&p, 1, (int)CDTIME_T_TO_MS(deadline - now));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      continue; /* the deadline check above ends it */
    char tmp[256];
    ssize_t r = read(fd, tmp, sizeof(tmp));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    size_t take = (size_t)r < size - 1 - len ? (size_t)r : size - 1 - len;
    memcpy(buf + len, tmp, take);
    len += take;
  }
  buf[len] = '\0';
}

/* In the child, registered last so it runs first when libganglia calls
 * exit(1): ends the child before the handlers collectd and its plugins
 * registered in the parent can run. */
static void wg_child_atexit(void) {
  fflush(NULL);
  _exit(1); /* libganglia's only exit code */
}

/* Runs in the child: libganglia reads path as the daemon would, exiting
 * (through its own exit(1)) on any error. Never returns. */
static void wg_child(const char *path, int out_fd) {
  dup2(out_fd, STDERR_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  atexit(wg_child_atexit);
  Ganglia_pool p = Ganglia_pool_create(NULL);
  if (p == NULL)
    _exit(GM_CONF_CHILD_NO_POOL);
  Ganglia_gmond_config c = Ganglia_gmond_config_create((char *)path, 0);
  Ganglia_udp_send_channels ch = Ganglia_udp_send_channels_create(p, c);
  if (ch == NULL)
    _exit(GM_CONF_CHILD_NO_CHANNEL);
  fputs(GM_CONF_CHILD_MARK, stdout);
  fflush(NULL);
  _exit(GM_CONF_CHILD_OK);
}

/* Tries path in a child process. Returns 0 when libganglia can use it, or
 * -1 after logging why not. */
static int wg_try_conf(const char *path) {
  char msg[1024];
  if (gm_conf_check_path(path, msg, sizeof(msg)) != 0) {
    ERROR(WG_PLUGIN " plugin: %s", msg);
    return -1;
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    ERROR(WG_PLUGIN " plugin: pipe: %s", STRERRNO);
    return -1;
  }
  /* collectd ignores SIGCHLD (children are reaped at once): restore the
   * default for the child's lifetime so that waitpid sees its status. */
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
  sigaction(SIGCHLD, &dfl, &old);
  fflush(NULL); /* the child must not write our buffered output again */
  pid_t pid = fork();
  if (pid < 0) {
    ERROR(WG_PLUGIN " plugin: fork: %s", STRERRNO);
    sigaction(SIGCHLD, &old, NULL);
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0)
    wg_child(path, pfd[1]);
  close(pfd[1]);
  char out[512];
  wg_read_child(pfd[0], pid, out, sizeof(out));
  close(pfd[0]);
  int status = 0, waited;
  while ((waited = waitpid(pid, &status, 0) == pid) == 0 && errno == EINTR)
    ;
  sigaction(SIGCHLD, &old, NULL);
  status = gm_conf_child_status(waited, status, out);
  int rc = gm_conf_child_message(msg, sizeof(msg), path, status, out);
  if (rc != 0)
    ERROR(WG_PLUGIN " plugin: %s", msg);
  return rc;
}

/* Writes the explicit channels of r into a temporary gmond.conf, whose
 * path goes to path (size bytes). Returns 0 or -1 after logging. */
static int wg_write_channels_conf(const wg_route_t *r, char *path,
                                  size_t size) {
  char text[8192], err[256];
  int len =
      gm_conf_channels_text(text, sizeof(text), (const char *const *)r->hosts,
                            r->hosts_num, r->port, err, sizeof(err));
  if (len < 0) {
    ERROR(WG_PLUGIN " plugin: %s: %s", r->name, err);
    return -1;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(path, size, "%s/write_gmond.XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    ERROR(WG_PLUGIN " plugin: mkstemp %s: %s", path, STRERRNO);
    return -1;
  }
  ssize_t w = write(fd, text, (size_t)len);
  close(fd);
  if (w != len) {
    ERROR(WG_PLUGIN " plugin: writing %s failed", path);
    unlink(path);
    return -1;
  }
  return 0;
}

/* Opens the channels of route r (a pool must exist). Returns 0 or -1. */
static int wg_route_open(wg_route_t *r) {
  char tmp[PATH_MAX];
  const char *path = r->conf_path;
  if (path == NULL) {
    if (wg_write_channels_conf(r, tmp, sizeof(tmp)) != 0)
      return -1;
    path = tmp;
  }
  int rc = wg_try_conf(path);
  if (rc == 0) {
    Ganglia_gmond_config c = Ganglia_gmond_config_create((char *)path, 0);
    r->chan = Ganglia_udp_send_channels_create(wg_pool, c);
    rc = r->chan != NULL ? 0 : -1;
  }
  if (path == tmp)
    unlink(tmp);
  if (rc == 0)
    INFO(WG_PLUGIN " plugin: %s: sending to %s %s", r->name,
         r->conf_path ? "the udp_send_channels of" : "Host",
         r->conf_path ? r->conf_path : r->hosts[0]);
  return rc;
}

static int wg_init(void) {
  if (!wg_conf.configured && wg_config(&(oconfig_item_t){.key = "Plugin"}))
    return -1;
  pthread_mutex_lock(&wg_lock);
  int rc = 0;
  wg_pool = Ganglia_pool_create(NULL);
  wg_hosts = gm_hosts_create(&wg_conf.net);
  wg_vo = wg_conf.vo_totals ? gm_vo_create() : NULL;
  if (wg_pool == NULL || wg_hosts == NULL ||
      (wg_conf.vo_totals && wg_vo == NULL)) {
    ERROR(WG_PLUGIN " plugin: cannot create the APR pool or host table");
    rc = -1;
  }
  for (size_t i = 0; rc == 0 && i < wg_conf.routes_num; i++)
    rc = wg_route_open(&wg_conf.routes[i]);
  wg_enabled = rc == 0;
  pthread_mutex_unlock(&wg_lock);
  if (rc != 0) {
    ERROR(WG_PLUGIN " plugin: disabled: nothing goes to Ganglia; collectd's "
                    "other plugins keep running");
    return rc;
  }
  return plugin_register_complex_read(NULL, WG_PLUGIN, wg_read,
                                      wg_conf.heartbeat_interval, NULL);
}

/* ---- sending ------------------------------------------------------------ */

/* Sends metric m of spoofed host spoof on route r, with its metadata when
 * meta (or always for a heartbeat). Counts. Caller holds wg_lock. */
static void wg_send(wg_route_t *r, const char *spoof, const gm_metric_t *m,
                    bool meta, bool heartbeat) {
  Ganglia_metric g = Ganglia_metric_create(wg_pool);
  if (g == NULL) {
    wg_dropped++;
    return;
  }
  int st =
      Ganglia_metric_set(g, (char *)m->name, (char *)m->value, (char *)m->type,
                         (char *)m->units, m->slope, m->tmax, m->dmax);
  if (st != 0) {
    wg_dropped++;
    c_complain(LOG_WARNING, &wg_drop_complaint,
               WG_PLUGIN " plugin: libganglia refused %s = %s (%s): error %d",
               m->name, m->value, m->type, st);
    Ganglia_metric_destroy(g);
    return;
  }
  Ganglia_metadata_add(g, SPOOF_HOST, (char *)spoof);
  if (heartbeat)
    Ganglia_metadata_add(g, SPOOF_HEARTBEAT, "yes");
  else
    Ganglia_metadata_add(g, "GROUP", wg_conf.group);
  int failed = 0;
  if (meta || heartbeat) {
    failed += Ganglia_metadata_send(g, r->chan);
    r->metadata_sent++;
  }
  failed += Ganglia_value_send(g, r->chan);
  Ganglia_metric_destroy(g);
  if (heartbeat)
    r->heartbeats++;
  else
    r->sent++;
  r->failures += (uint64_t)failed;
  if (failed > 0)
    c_complain(LOG_ERR, &r->complaint,
               WG_PLUGIN " plugin: %s: %d send(s) to gmond failed (%s)",
               r->name, failed, m->name);
  else
    c_release(LOG_INFO, &r->complaint,
              WG_PLUGIN " plugin: %s: sending to gmond works again", r->name);
}

/* Returns true when values of plugin p are to be sent. */
static bool wg_wanted(const char *p) {
  if (wg_conf.all_plugins)
    return true;
  for (size_t i = 0; i < wg_conf.plugins_num; i++)
    if (strcmp(wg_conf.plugins[i], p) == 0)
      return true;
  return false;
}

/* Maps value v of DS d of value list g and sends it on route. *host and
 * *meta hold the value list's Ganglia host once known (start with NULL).
 * Counts and logs what cannot be sent. Caller holds wg_lock. */
static void wg_emit(const gm_vl_t *g, const gm_ds_t *d, const gm_value_t *v,
                    size_t route, double now, const gm_host_t **host,
                    int *meta) {
  gm_metric_t m;
  gm_status_t st = gm_metric_map(g, d, v, wg_conf.dmax, &m);
  if (st == GM_SKIP_NAN)
    return;
  bool full = false;
  if (st == GM_OK && *host == NULL) {
    *host = gm_hosts_touch(wg_hosts, m.host, route, now, g->interval,
                           wg_conf.metadata_interval, meta);
    full = *host == NULL;
  }
  if (st != GM_OK || full) {
    wg_dropped++;
    c_complain(
        LOG_WARNING, &wg_drop_complaint,
        WG_PLUGIN " plugin: not sent: %s/%s-%s/%s-%s %s: %s", g->host,
        g->plugin, g->plugin_instance, g->type, g->type_instance, d->name,
        full ? "SpoofNetwork full or host name too long" : gm_status_name(st));
    return;
  }
  wg_send(&wg_conf.routes[route], (*host)->spoof, &m, *meta != 0, false);
}

/* Returns the index of the DS called name in ds, or -1. */
static int wg_ds_index(const data_set_t *ds, const char *name) {
  for (size_t i = 0; i < ds->ds_num; i++)
    if (strcmp(ds->ds[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* Records a vacquery_mt value list for the per-VO totals. Caller holds
 * wg_lock. */
static void wg_vo_record(const data_set_t *ds, const value_list_t *vl,
                         size_t route, double now) {
  int rp = wg_ds_index(ds, "running_processors");
  int rm = wg_ds_index(ds, "running_machines");
  if (rp < 0 || rm < 0 || (size_t)rp >= vl->values_len ||
      (size_t)rm >= vl->values_len)
    return;
  if (gm_vo_update(wg_vo, vl->host, route, vl->plugin_instance,
                   vl->type_instance, vl->values[rp].gauge,
                   vl->values[rm].gauge, now) != 0) {
    wg_dropped++;
    c_complain(LOG_WARNING, &wg_drop_complaint,
               WG_PLUGIN " plugin: VO totals: cannot record %s/%s/%s", vl->host,
               vl->plugin_instance, vl->type_instance);
  }
}

static int wg_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud) {
  (void)ud;
  if (!wg_enabled || !wg_wanted(vl->plugin))
    return 0;
  gm_vl_t g = {vl->host, vl->plugin,        vl->plugin_instance,
               vl->type, vl->type_instance, CDTIME_T_TO_DOUBLE(vl->interval)};
  size_t route = gm_routes_lookup(wg_conf.sites, vl->host);
  double now = CDTIME_T_TO_DOUBLE(cdtime());
  const gm_host_t *host = NULL;
  int meta = 0;
  pthread_mutex_lock(&wg_lock);
  for (size_t i = 0; i < ds->ds_num && i < vl->values_len; i++) {
    gm_ds_t d = {ds->ds[i].name,
                 ds->ds[i].type == DS_TYPE_DERIVE     ? GM_DS_DERIVE
                 : ds->ds[i].type == DS_TYPE_COUNTER  ? GM_DS_COUNTER
                 : ds->ds[i].type == DS_TYPE_ABSOLUTE ? GM_DS_ABSOLUTE
                                                      : GM_DS_GAUGE};
    wg_emit(&g, &d, (const gm_value_t *)&vl->values[i], route, now, &host,
            &meta);
  }
  if (wg_vo != NULL && strcmp(vl->plugin, GM_VACQUERY_PLUGIN) == 0 &&
      strcmp(vl->type, "vacquery_mt") == 0)
    wg_vo_record(ds, vl, route, now);
  pthread_mutex_unlock(&wg_lock);
  return 0;
}

/* gm_vo_totals callback: sends one (site, VO) total to the site's host as
 * vacquery_vo.<vo>.running_processors / running_machines. arg: the time
 * (double seconds). Caller holds wg_lock. */
static void wg_send_vo_total(const gm_vo_total_t *t, void *arg) {
  double now = *(const double *)arg;
  gm_vl_t g = {t->site, GM_VACQUERY_PLUGIN,
               "",      "vacquery_vo",
               t->vo,   CDTIME_T_TO_DOUBLE(wg_conf.heartbeat_interval)};
  gm_ds_t d[2] = {{"running_processors", GM_DS_GAUGE},
                  {"running_machines", GM_DS_GAUGE}};
  gm_value_t v[2] = {{.gauge = t->running_processors},
                     {.gauge = t->running_machines}};
  const gm_host_t *host = NULL;
  int meta = 0;
  for (size_t i = 0; i < 2; i++)
    wg_emit(&g, &d[i], &v[i], t->route, now, &host, &meta);
}

/* ---- heartbeats and own counters ---------------------------------------- */

/* Dispatches one derive value of this plugin. */
static void wg_dispatch(const char *instance, const char *what, uint64_t v,
                        cdtime_t now) {
  value_list_t vl = VALUE_LIST_INIT;
  value_t val = {.derive = (derive_t)v};
  vl.values = &val;
  vl.values_len = 1;
  vl.time = now;
  vl.interval = wg_conf.heartbeat_interval;
  sstrncpy(vl.host, hostname_g, sizeof(vl.host));
  sstrncpy(vl.plugin, WG_PLUGIN, sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, instance, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, "derive", sizeof(vl.type));
  sstrncpy(vl.type_instance, what, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static int wg_read(user_data_t *ud) {
  (void)ud;
  if (!wg_enabled)
    return 0;
  cdtime_t t = cdtime();
  double now = CDTIME_T_TO_DOUBLE(t);
  /* The counters are copied under the lock, dispatched after it. */
  uint64_t c[wg_conf.routes_num][4], dropped;
  pthread_mutex_lock(&wg_lock);
  size_t expired = gm_hosts_expire(wg_hosts, now, wg_conf.host_timeout);
  gm_metric_t hb = {.name = "heartbeat",
                    .value = "0",
                    .type = "uint32",
                    .units = "",
                    .slope = GM_SLOPE_ZERO};
  size_t iter = 0;
  const gm_host_t *h;
  while ((h = gm_hosts_next(wg_hosts, &iter)) != NULL)
    wg_send(&wg_conf.routes[h->route], h->spoof, &hb, true, true);
  if (wg_vo != NULL && gm_vo_totals(wg_vo, now, wg_conf.host_timeout,
                                    wg_send_vo_total, &now) < 0)
    ERROR(WG_PLUGIN " plugin: VO totals: out of memory");
  for (size_t i = 0; i < wg_conf.routes_num; i++) {
    wg_route_t *r = &wg_conf.routes[i];
    c[i][0] = r->sent;
    c[i][1] = r->metadata_sent;
    c[i][2] = r->heartbeats;
    c[i][3] = r->failures;
  }
  dropped = wg_dropped;
  pthread_mutex_unlock(&wg_lock);
  if (expired > 0)
    INFO(WG_PLUGIN " plugin: %zu host(s) silent for %.0f s: no more "
                   "heartbeats for them",
         expired, wg_conf.host_timeout);
  for (size_t i = 0; i < wg_conf.routes_num; i++) {
    const char *n = wg_conf.routes[i].name;
    wg_dispatch(n, "sent", c[i][0], t);
    wg_dispatch(n, "metadata_sent", c[i][1], t);
    wg_dispatch(n, "heartbeats", c[i][2], t);
    wg_dispatch(n, "send_failures", c[i][3], t);
  }
  wg_dispatch("", "dropped", dropped, t);
  return 0;
}

static int wg_shutdown(void) {
  pthread_mutex_lock(&wg_lock);
  wg_enabled = false;
  if (wg_pool != NULL)
    Ganglia_pool_destroy(wg_pool); /* closes the channels' sockets */
  wg_pool = NULL;
  gm_hosts_destroy(wg_hosts);
  wg_hosts = NULL;
  gm_vo_destroy(wg_vo);
  wg_vo = NULL;
  pthread_mutex_unlock(&wg_lock);
  for (size_t i = 0; i < wg_conf.routes_num; i++) {
    wg_route_t *r = &wg_conf.routes[i];
    sfree(r->conf_path);
    for (size_t k = 0; k < r->hosts_num; k++)
      sfree(r->hosts[k]);
    sfree(r->hosts);
  }
  sfree(wg_conf.routes);
  wg_conf.routes_num = 0;
  for (size_t k = 0; k < wg_conf.plugins_num; k++)
    sfree(wg_conf.plugins[k]);
  sfree(wg_conf.plugins);
  wg_conf.plugins_num = 0;
  sfree(wg_conf.group);
  gm_routes_destroy(wg_conf.sites);
  wg_conf.sites = NULL;
  return 0;
}

void module_register(void) {
  char err[64];
  gm_net_parse("198.18.0.0/15", &wg_conf.net, err, sizeof(err));
  wg_conf.dmax = 86400;
  wg_conf.group = strdup("vacquery");
  wg_conf.heartbeat_interval = TIME_T_TO_CDTIME_T(20);
  wg_conf.metadata_interval = 60;
  wg_conf.host_timeout = 600;
  wg_conf.vo_totals = true;
  plugin_register_complex_config(WG_PLUGIN, wg_config);
  plugin_register_init(WG_PLUGIN, wg_init);
  plugin_register_write(WG_PLUGIN, wg_write, NULL);
  plugin_register_shutdown(WG_PLUGIN, wg_shutdown);
}
