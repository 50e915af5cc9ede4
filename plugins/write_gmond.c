/* SPDX-License-Identifier: MIT */
/**
 * collectd-vacmon - plugins/write_gmond.c
 *
 * A collectd write plugin that sends value lists as Ganglia gmetrics to the
 * gmond UDP channels of a gmond.conf (or of explicit Host/Port channels),
 * through libganglia. Each factory is a spoofed Ganglia host: its own name,
 * with the address its datagrams come from (vacquery's source_address
 * meta; a synthetic one from SpoofNetwork when that is unknown or taken),
 * and a spoofed heartbeat. Each <Plugin write_gmond> block is an instance
 * of its own (state in user_data, as write_graphite's nodes).
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
 *   VOTotalsType "vacquery_mt"  # the type whose lists feed them
 *   FactoryPlugin "vacquery" # its values get factory hosts, short names
 *   Units "*_kb" "KiB" false # repeatable: DS name pattern, units, integral
 * </Plugin>
 *
 * libganglia calls exit() on a bad gmond.conf, so each file is first tried
 * in a forked child; a bad one disables this plugin (collectd runs on).
 * libganglia's APR pools are not thread-safe: one mutex serialises all use
 * of libganglia by every instance (gm_lock, the only file-scope state).
 * The mapping rules live in src/ganglia/gm_*.c.
 */

#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include <ganglia.h>

#include "common/cm_key.h"
#include "common/cm_option.h"
#include "ganglia/gm_metric.h"
#include "ganglia/gm_route.h"
#include "ganglia/gm_spoof.h"
#include "ganglia/gm_vo.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#define GM_PLUGIN "write_gmond"
#define GM_DEFAULT_CONF "/etc/ganglia/gmond.conf"
#define GM_DEFAULT_PORT 8649
#define GM_CHILD_TIMEOUT 30 /* seconds for the child that tries a file */
#define GM_DEFAULT_SPOOF_NET "198.18.0.0/15"

/* One set of gmond channels: the default one or one <Site> block. */
typedef struct {
  char name[DATA_MAX_NAME_LEN]; /* "default" or the block's first site */
  char *conf_path;              /* GmondConf, or NULL */
  char **hosts;                 /* Host, when no GmondConf */
  size_t hosts_num;
  int port;
  Ganglia_udp_send_channels chan; /* once open */
  uint64_t sent, metadata_sent, heartbeats, failures;
  c_complain_t complaint;
} gm_chan_t;

/* One <Plugin write_gmond> block: its configuration (read-only once
 * open) and, under gm_lock, its libganglia pool, hosts and counters. */
typedef struct {
  char instance[DATA_MAX_NAME_LEN]; /* Instance, "" for the unnamed one */
  char name[DATA_MAX_NAME_LEN];     /* "write_gmond[/<instance>]" */
  gm_chan_t *chans;                 /* [0] is the default route */
  size_t chans_num;
  gm_routes_t *sites;
  gm_net_t net;
  unsigned dmax;
  char *group;
  char **plugins;
  size_t plugins_num;
  bool all_plugins;
  char *factory_plugin; /* values with factory hosts and short names */
  char *vo_type;        /* VOTotalsType */
  gm_units_t units;
  cdtime_t heartbeat_interval;
  double metadata_interval, host_timeout;
  bool vo_totals;
  /* Guarded by gm_lock: */
  Ganglia_pool pool;
  gm_hosts_t *hosts;
  gm_vo_t *vo;      /* NULL unless VOTotals */
  uint64_t dropped; /* values not sent: unmappable or rejected */
  c_complain_t drop_complaint;
} gm_inst_t;

/* libganglia's pools are not thread-safe: every use of it, by any
 * instance, holds this lock. */
static pthread_mutex_t gm_lock = PTHREAD_MUTEX_INITIALIZER;

/* The names registered so far (collectd's registry silently replaces a
 * callback of the same name): written only while collectd reads its
 * configuration, in one thread. */
#define GM_MAX_INSTANCES 32
static char gm_names[GM_MAX_INSTANCES][DATA_MAX_NAME_LEN];
static size_t gm_names_num;

/* ---- configuration ------------------------------------------------------ */

/* Appends the string arguments of ci to *list. Returns 0 or -1 after an
 * error naming the option. */
static int gm_add_strings(oconfig_item_t *ci, char ***list, size_t *num) {
  if (ci->values_num < 1) {
    ERROR(GM_PLUGIN " plugin: %s needs at least one string", ci->key);
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++) {
    if (ci->values[i].type != OCONFIG_TYPE_STRING) {
      ERROR(GM_PLUGIN " plugin: %s takes strings", ci->key);
      return -1;
    }
    size_t cap = *num; /* the list is exactly as long as it is full */
    if (cm_vec_reserve((void **)list, &cap, *num + 1, sizeof(**list)) != 0 ||
        ((*list)[*num] = strdup(ci->values[i].value.string)) == NULL) {
      ERROR(GM_PLUGIN " plugin: %s: out of memory", ci->key);
      return -1;
    }
    (*num)++;
  }
  return 0;
}

/* Reads GmondConf, Host or Port of a channel set. Returns 1 when ci is none
 * of them, 0 when read, -1 on error. */
static int gm_chan_option(oconfig_item_t *ci, gm_chan_t *r) {
  if (strcasecmp(ci->key, "GmondConf") == 0) {
    if (r->conf_path != NULL) {
      ERROR(GM_PLUGIN " plugin: GmondConf given twice in one block");
      return -1;
    }
    return cf_util_get_string(ci, &r->conf_path) == 0 ? 0 : -1;
  }
  if (strcasecmp(ci->key, "Host") == 0)
    return gm_add_strings(ci, &r->hosts, &r->hosts_num);
  if (strcasecmp(ci->key, "Port") == 0) {
    r->port = cf_util_get_port_number(ci);
    if (r->port <= 0) {
      ERROR(GM_PLUGIN " plugin: Port must be 1..65535");
      return -1;
    }
    return 0;
  }
  return 1;
}

/* Checks a finished channel set: not both GmondConf and Host. Returns 0 or
 * -1 after logging. */
static int gm_chan_check(gm_chan_t *r, bool is_default) {
  if (r->conf_path != NULL && r->hosts_num > 0) {
    ERROR(GM_PLUGIN " plugin: %s: give GmondConf or Host, not both", r->name);
    return -1;
  }
  if (r->conf_path == NULL && r->hosts_num == 0) {
    if (!is_default) {
      ERROR(GM_PLUGIN " plugin: <Site \"%s\">: needs GmondConf or Host",
            r->name);
      return -1;
    }
    if ((r->conf_path = strdup(GM_DEFAULT_CONF)) == NULL)
      return -1;
  }
  return 0;
}

/* Returns a new zeroed channel set at the end of in->chans, or NULL. */
static gm_chan_t *gm_chan_new(gm_inst_t *in, const char *name) {
  size_t cap = in->chans_num; /* config arrays are exactly full */
  if (cm_vec_reserve((void **)&in->chans, &cap, in->chans_num + 1,
                     sizeof(*in->chans)) != 0)
    return NULL;
  gm_chan_t *r = &in->chans[in->chans_num++];
  memset(r, 0, sizeof(*r));
  sstrncpy(r->name, name, sizeof(r->name));
  r->port = GM_DEFAULT_PORT;
  C_COMPLAIN_INIT(&r->complaint);
  return r;
}

/* Reads one <Site "NAME" ...> block into a new channel set. Returns 0 or
 * -1 after logging. */
static int gm_config_site(gm_inst_t *in, oconfig_item_t *ci) {
  if (ci->values_num < 1) {
    ERROR(GM_PLUGIN " plugin: <Site> needs at least one site name");
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type != OCONFIG_TYPE_STRING) {
      ERROR(GM_PLUGIN " plugin: <Site> takes site names (strings)");
      return -1;
    }
  size_t idx = in->chans_num;
  gm_chan_t *r = gm_chan_new(in, ci->values[0].value.string);
  if (r == NULL)
    return -1;
  for (int i = 0; i < ci->children_num; i++) {
    int st = gm_chan_option(&ci->children[i], r);
    if (st == 1)
      ERROR(GM_PLUGIN " plugin: <Site>: unknown option %s",
            ci->children[i].key);
    if (st != 0)
      return -1;
  }
  if (gm_chan_check(r, false) != 0)
    return -1;
  for (int i = 0; i < ci->values_num; i++) {
    char err[256];
    if (gm_routes_add(in->sites, ci->values[i].value.string, idx, err,
                      sizeof(err)) != 0) {
      ERROR(GM_PLUGIN " plugin: <Site>: %s", err);
      return -1;
    }
  }
  return 0;
}

/* Reads a number of seconds in [min, 1e9] into *out. Returns 0 or -1 after
 * an error naming the option. */
static int gm_get_seconds(oconfig_item_t *ci, double *out, double min) {
  double v;
  char err[256];
  if (cf_util_get_double(ci, &v) != 0)
    return -1;
  if (cm_option_range(ci->key, v, min, 1e9, err, sizeof(err)) != 0) {
    ERROR(GM_PLUGIN " plugin: %s", err);
    return -1;
  }
  *out = v;
  return 0;
}

/* Reads `Units "PATTERN" "UNITS" [INTEGRAL]'. Returns 0 or -1 after
 * logging. */
static int gm_config_units(gm_inst_t *in, oconfig_item_t *ci) {
  if (ci->values_num < 2 || ci->values_num > 3 ||
      ci->values[0].type != OCONFIG_TYPE_STRING ||
      ci->values[1].type != OCONFIG_TYPE_STRING ||
      (ci->values_num == 3 && ci->values[2].type != OCONFIG_TYPE_BOOLEAN)) {
    ERROR(GM_PLUGIN " plugin: Units takes a DS name pattern, the units and "
                    "optionally true (whole numbers)");
    return -1;
  }
  if (gm_units_add(&in->units, ci->values[0].value.string,
                   ci->values[1].value.string,
                   ci->values_num == 3 && ci->values[2].value.boolean) != 0) {
    ERROR(GM_PLUGIN " plugin: Units \"%s\": empty pattern or out of memory",
          ci->values[0].value.string);
    return -1;
  }
  return 0;
}

/* Replaces *dst with the string option ci. Returns 0 or -1. */
static int gm_get_string(oconfig_item_t *ci, char **dst) {
  char *v = NULL;
  if (cf_util_get_string(ci, &v) != 0)
    return -1;
  free(*dst);
  *dst = v;
  return 0;
}

/* Reads one top-level option. Returns 0 or -1 after logging. */
static int gm_config_option(gm_inst_t *in, oconfig_item_t *c) {
  double v;
  if (strcasecmp(c->key, "Site") == 0)
    return gm_config_site(in, c);
  if (strcasecmp(c->key, "Instance") == 0)
    return cf_util_get_string_buffer(c, in->instance, sizeof(in->instance));
  if (strcasecmp(c->key, "DMax") == 0) {
    if (gm_get_seconds(c, &v, 0) != 0)
      return -1;
    in->dmax = (unsigned)v;
    return 0;
  }
  if (strcasecmp(c->key, "Group") == 0) {
    if (gm_get_string(c, &in->group) != 0)
      return -1;
    if (in->group[0] == '\0' || strchr(in->group, '"') != NULL) {
      ERROR(GM_PLUGIN " plugin: Group must be non-empty, without '\"'");
      return -1;
    }
    return 0;
  }
  if (strcasecmp(c->key, "SpoofNetwork") == 0) {
    char buf[64], err[128];
    if (cf_util_get_string_buffer(c, buf, sizeof(buf)) != 0)
      return -1;
    if (gm_net_parse(buf, &in->net, err, sizeof(err)) != 0) {
      ERROR(GM_PLUGIN " plugin: SpoofNetwork %s", err);
      return -1;
    }
    return 0;
  }
  if (strcasecmp(c->key, "Plugin") == 0)
    return gm_add_strings(c, &in->plugins, &in->plugins_num);
  if (strcasecmp(c->key, "FactoryPlugin") == 0)
    return gm_get_string(c, &in->factory_plugin);
  if (strcasecmp(c->key, "VOTotalsType") == 0)
    return gm_get_string(c, &in->vo_type);
  if (strcasecmp(c->key, "Units") == 0)
    return gm_config_units(in, c);
  if (strcasecmp(c->key, "HeartbeatInterval") == 0) {
    if (gm_get_seconds(c, &v, 0.001) != 0)
      return -1;
    in->heartbeat_interval = DOUBLE_TO_CDTIME_T(v);
    return 0;
  }
  if (strcasecmp(c->key, "MetadataInterval") == 0)
    return gm_get_seconds(c, &in->metadata_interval, 0);
  if (strcasecmp(c->key, "HostTimeout") == 0)
    return gm_get_seconds(c, &in->host_timeout, 0.001);
  if (strcasecmp(c->key, "VOTotals") == 0)
    return cf_util_get_boolean(c, &in->vo_totals) == 0 ? 0 : -1;
  int st = gm_chan_option(c, &in->chans[0]);
  if (st == 1)
    ERROR(GM_PLUGIN " plugin: unknown option %s", c->key);
  return st == 0 ? 0 : -1;
}

/* Frees an instance and everything it holds (user_data free_func; also on
 * a failed configuration). Takes gm_lock for the libganglia pool. */
static void gm_inst_free(void *arg) {
  gm_inst_t *in = arg;
  if (in == NULL)
    return;
  pthread_mutex_lock(&gm_lock);
  if (in->pool != NULL)
    Ganglia_pool_destroy(in->pool); /* closes the channels' sockets */
  pthread_mutex_unlock(&gm_lock);
  gm_hosts_destroy(in->hosts);
  gm_vo_destroy(in->vo);
  for (size_t i = 0; i < in->chans_num; i++) {
    gm_chan_t *r = &in->chans[i];
    free(r->conf_path);
    for (size_t k = 0; k < r->hosts_num; k++)
      free(r->hosts[k]);
    free(r->hosts);
  }
  free(in->chans);
  for (size_t k = 0; k < in->plugins_num; k++)
    free(in->plugins[k]);
  free(in->plugins);
  free(in->group);
  free(in->factory_plugin);
  free(in->vo_type);
  gm_units_free(&in->units);
  gm_routes_destroy(in->sites);
  free(in);
}

/* Returns a new instance with every default set, or NULL (out of memory,
 * logged). */
static gm_inst_t *gm_inst_new(void) {
  gm_inst_t *in = calloc(1, sizeof(*in));
  char err[64];
  if (in == NULL)
    goto oom;
  gm_net_parse(GM_DEFAULT_SPOOF_NET, &in->net, err, sizeof(err));
  in->dmax = 86400;
  in->heartbeat_interval = TIME_T_TO_CDTIME_T(20);
  in->metadata_interval = 60;
  in->host_timeout = 600;
  in->vo_totals = true;
  C_COMPLAIN_INIT(&in->drop_complaint);
  in->group = strdup("vacquery");
  in->factory_plugin = strdup("vacquery");
  in->vo_type = strdup("vacquery_mt");
  in->sites = gm_routes_create();
  if (in->group == NULL || in->factory_plugin == NULL || in->vo_type == NULL ||
      in->sites == NULL || gm_chan_new(in, "default") == NULL)
    goto oom;
  return in;
oom:
  ERROR(GM_PLUGIN " plugin: out of memory");
  gm_inst_free(in);
  return NULL;
}

static int gm_read(user_data_t *ud);
static int gm_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud);
static int gm_inst_open(gm_inst_t *in);

/* Reads one <Plugin write_gmond> block into a new instance, opens its
 * channels and registers its write and read callbacks. Returns 0, or -1
 * after logging (a bad block stops collectd's start-up, as collectd does
 * for any failed configuration). */
static int gm_config(oconfig_item_t *ci) {
  gm_inst_t *in = gm_inst_new();
  if (in == NULL)
    return -1;
  for (int i = 0; i < ci->children_num; i++)
    if (gm_config_option(in, &ci->children[i]) != 0) {
      gm_inst_free(in);
      return -1;
    }
  if (gm_chan_check(&in->chans[0], true) != 0) {
    gm_inst_free(in);
    return -1;
  }
  for (size_t i = 0; i < in->plugins_num; i++)
    if (strcmp(in->plugins[i], "*") == 0)
      in->all_plugins = true;
  if (in->plugins_num == 0 &&
      gm_add_strings(
          &(oconfig_item_t){
              .key = "Plugin",
              .values = &(oconfig_value_t){.value.string = in->factory_plugin,
                                           .type = OCONFIG_TYPE_STRING},
              .values_num = 1},
          &in->plugins, &in->plugins_num) != 0) {
    gm_inst_free(in);
    return -1;
  }
  if (in->instance[0] != '\0')
    ssnprintf(in->name, sizeof(in->name), GM_PLUGIN "/%s", in->instance);
  else
    sstrncpy(in->name, GM_PLUGIN, sizeof(in->name));
  if (gm_inst_open(in) != 0) {
    ERROR(GM_PLUGIN " plugin: disabled: nothing goes to Ganglia from %s; "
                    "collectd's other plugins keep running",
          in->name);
    gm_inst_free(in);
    return 0; /* a bad gmond.conf disables only this plugin */
  }
  for (size_t i = 0; i < gm_names_num; i++)
    if (strcmp(gm_names[i], in->name) == 0) {
      ERROR(GM_PLUGIN " plugin: two <Plugin write_gmond> blocks named \"%s\": "
                      "give each an Instance of its own",
            in->instance);
      gm_inst_free(in);
      return -1;
    }
  if (gm_names_num == GM_MAX_INSTANCES) {
    ERROR(GM_PLUGIN " plugin: more than %d <Plugin write_gmond> blocks",
          GM_MAX_INSTANCES);
    gm_inst_free(in);
    return -1;
  }
  sstrncpy(gm_names[gm_names_num++], in->name, sizeof(gm_names[0]));
  /* The write callback owns the instance; the read callback borrows it
   * (collectd stops reads before it frees writers at shutdown). */
  if (plugin_register_write(
          in->name, gm_write,
          &(user_data_t){.data = in, .free_func = gm_inst_free}) != 0) {
    ERROR(GM_PLUGIN " plugin: cannot register %s", in->name);
    gm_inst_free(in);
    return -1;
  }
  return plugin_register_complex_read(NULL, in->name, gm_read,
                                      in->heartbeat_interval,
                                      &(user_data_t){.data = in});
}

/* ---- init: try each gmond.conf in a child, then open its channels ------- */

/* Reads the child's output from fd into buf (size bytes) until EOF or the
 * deadline; kills the child when it does not finish in time. */
static void gm_read_child(int fd, pid_t pid, char *buf, size_t size) {
  size_t len = 0;
  cdtime_t deadline = cdtime() + TIME_T_TO_CDTIME_T(GM_CHILD_TIMEOUT);
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
static void gm_child_atexit(void) {
  fflush(NULL);
  _exit(1); /* libganglia's only exit code */
}

/* Runs in the child: libganglia reads path as the daemon would, exiting
 * (through its own exit(1)) on any error. Never returns. */
static void gm_child(const char *path, int out_fd) {
  dup2(out_fd, STDERR_FILENO);
  dup2(out_fd, STDOUT_FILENO);
  atexit(gm_child_atexit);
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
static int gm_try_conf(const char *path) {
  char msg[1024];
  if (gm_conf_check_path(path, msg, sizeof(msg)) != 0) {
    ERROR(GM_PLUGIN " plugin: %s", msg);
    return -1;
  }
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) != 0) {
    ERROR(GM_PLUGIN " plugin: pipe: %s", STRERRNO);
    return -1;
  }
  /* collectd ignores SIGCHLD (children are reaped at once): restore the
   * default for the child's lifetime so that waitpid sees its status. */
  struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
  sigaction(SIGCHLD, &dfl, &old);
  fflush(NULL); /* the child must not write our buffered output again */
  pid_t pid = fork();
  if (pid < 0) {
    ERROR(GM_PLUGIN " plugin: fork: %s", STRERRNO);
    sigaction(SIGCHLD, &old, NULL);
    close(pfd[0]);
    close(pfd[1]);
    return -1;
  }
  if (pid == 0)
    gm_child(path, pfd[1]);
  close(pfd[1]);
  char out[512];
  gm_read_child(pfd[0], pid, out, sizeof(out));
  close(pfd[0]);
  int status = 0, waited;
  while ((waited = waitpid(pid, &status, 0) == pid) == 0 && errno == EINTR)
    ;
  sigaction(SIGCHLD, &old, NULL);
  status = gm_conf_child_status(waited, status, out);
  int rc = gm_conf_child_message(msg, sizeof(msg), path, status, out);
  if (rc != 0)
    ERROR(GM_PLUGIN " plugin: %s", msg);
  return rc;
}

/* Writes the explicit channels of r into a temporary gmond.conf, whose
 * path goes to path (size bytes). Returns 0 or -1 after logging. */
static int gm_write_channels_conf(const gm_chan_t *r, char *path, size_t size) {
  char text[8192], err[256];
  int len =
      gm_conf_channels_text(text, sizeof(text), (const char *const *)r->hosts,
                            r->hosts_num, r->port, err, sizeof(err));
  if (len < 0) {
    ERROR(GM_PLUGIN " plugin: %s: %s", r->name, err);
    return -1;
  }
  const char *tmp = getenv("TMPDIR");
  snprintf(path, size, "%s/write_gmond.XXXXXX",
           tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
  int fd = mkstemp(path);
  if (fd < 0) {
    ERROR(GM_PLUGIN " plugin: mkstemp %s: %s", path, STRERRNO);
    return -1;
  }
  ssize_t w = write(fd, text, (size_t)len);
  close(fd);
  if (w != len) {
    ERROR(GM_PLUGIN " plugin: writing %s failed", path);
    unlink(path);
    return -1;
  }
  return 0;
}

/* Opens the channels of r with the pool of in (caller holds gm_lock).
 * Returns 0 or -1 after logging. */
static int gm_chan_open(gm_inst_t *in, gm_chan_t *r) {
  char tmp[PATH_MAX];
  const char *path = r->conf_path;
  if (path == NULL) {
    if (gm_write_channels_conf(r, tmp, sizeof(tmp)) != 0)
      return -1;
    path = tmp;
  }
  int rc = gm_try_conf(path);
  if (rc == 0) {
    Ganglia_gmond_config c = Ganglia_gmond_config_create((char *)path, 0);
    r->chan = Ganglia_udp_send_channels_create(in->pool, c);
    rc = r->chan != NULL ? 0 : -1;
  }
  if (path == tmp)
    unlink(tmp);
  if (rc == 0)
    INFO(GM_PLUGIN " plugin: %s: sending to %s %s", r->name,
         r->conf_path ? "the udp_send_channels of" : "Host",
         r->conf_path ? r->conf_path : r->hosts[0]);
  return rc;
}

/* Creates the pool, host registry and VO table of in and opens every
 * channel set. Returns 0 or -1 after logging. */
static int gm_inst_open(gm_inst_t *in) {
  pthread_mutex_lock(&gm_lock);
  int rc = 0;
  in->pool = Ganglia_pool_create(NULL);
  in->hosts = gm_hosts_create(&in->net);
  in->vo = in->vo_totals ? gm_vo_create() : NULL;
  if (in->pool == NULL || in->hosts == NULL ||
      (in->vo_totals && in->vo == NULL)) {
    ERROR(GM_PLUGIN " plugin: cannot create the APR pool or host table");
    rc = -1;
  }
  for (size_t i = 0; rc == 0 && i < in->chans_num; i++)
    rc = gm_chan_open(in, &in->chans[i]);
  pthread_mutex_unlock(&gm_lock);
  return rc;
}

/* ---- sending ------------------------------------------------------------ */

/* Sends metric m of spoofed host spoof on channel set r of in, with its
 * metadata when meta (or always for a heartbeat). Counts. Caller holds
 * gm_lock. */
static void gm_send(gm_inst_t *in, gm_chan_t *r, const char *spoof,
                    const gm_metric_t *m, bool meta, bool heartbeat) {
  Ganglia_metric g = Ganglia_metric_create(in->pool);
  if (g == NULL) {
    in->dropped++;
    return;
  }
  int st =
      Ganglia_metric_set(g, (char *)m->name, (char *)m->value, (char *)m->type,
                         (char *)m->units, m->slope, m->tmax, m->dmax);
  if (st != 0) {
    in->dropped++;
    c_complain(LOG_WARNING, &in->drop_complaint,
               GM_PLUGIN " plugin: libganglia refused %s = %s (%s): error %d",
               m->name, m->value, m->type, st);
    Ganglia_metric_destroy(g);
    return;
  }
  Ganglia_metadata_add(g, SPOOF_HOST, (char *)spoof);
  if (heartbeat)
    Ganglia_metadata_add(g, SPOOF_HEARTBEAT, "yes");
  else
    Ganglia_metadata_add(g, "GROUP", in->group);
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
               GM_PLUGIN " plugin: %s: %d send(s) to gmond failed (%s)",
               r->name, failed, m->name);
  else
    c_release(LOG_INFO, &r->complaint,
              GM_PLUGIN " plugin: %s: sending to gmond works again", r->name);
}

/* Returns true when values of plugin p are to be sent by in. */
static bool gm_wanted(const gm_inst_t *in, const char *p) {
  if (in->all_plugins)
    return true;
  for (size_t i = 0; i < in->plugins_num; i++)
    if (strcmp(in->plugins[i], p) == 0)
      return true;
  return false;
}

/* Counts a value that is not sent and complains (rate-limited). Caller
 * holds gm_lock. */
static void gm_drop(gm_inst_t *in, const gm_vl_t *g, const char *ds,
                    const char *why) {
  in->dropped++;
  c_complain(LOG_WARNING, &in->drop_complaint,
             GM_PLUGIN " plugin: not sent: %s/%s-%s/%s-%s %s: %s", g->host,
             g->plugin, g->plugin_instance, g->type, g->type_instance, ds, why);
}

/* Maps value v of DS d of value list g and sends it to host (already
 * touched) on its route. Caller holds gm_lock. */
static void gm_emit(gm_inst_t *in, const gm_vl_t *g, const gm_ds_t *d,
                    const gm_value_t *v, const gm_host_t *host, int meta) {
  gm_metric_t m;
  gm_status_t st = gm_metric_map(g, d, v, in->dmax, &in->units, &m);
  if (st == GM_SKIP_NAN)
    return;
  if (st != GM_OK) {
    gm_drop(in, g, d->name, gm_status_name(st));
    return;
  }
  gm_send(in, &in->chans[host->route], host->spoof, &m, meta != 0, false);
}

/* Touches the Ganglia host of g (its ganglia_host, else its host) with the
 * real address addr (0: unknown) and space. Returns the host, or NULL after
 * counting a drop. Caller holds gm_lock. */
static const gm_host_t *gm_touch(gm_inst_t *in, const gm_vl_t *g, uint32_t addr,
                                 const char *space, size_t route, double now,
                                 int *meta) {
  char name[GM_NAME_MAX];
  const char *raw = g->ganglia_host != NULL && g->ganglia_host[0] != '\0'
                        ? g->ganglia_host
                        : g->host;
  const gm_host_t *h = NULL;
  if (gm_name_clean(name, sizeof(name), raw) >= 0) {
    gm_sighting_t s = {name, addr, space, route, g->interval};
    h = gm_hosts_touch(in->hosts, &s, now, in->metadata_interval, meta);
  }
  if (h == NULL)
    gm_drop(in, g, "*", "SpoofNetwork full or host name too long");
  return h;
}

/* Returns the index of the DS called name in ds, or -1. */
static int gm_ds_index(const data_set_t *ds, const char *name) {
  for (size_t i = 0; i < ds->ds_num; i++)
    if (strcmp(ds->ds[i].name, name) == 0)
      return (int)i;
  return -1;
}

/* Records a VOTotalsType value list for the per-VO totals. Caller holds
 * gm_lock. */
static void gm_vo_record(gm_inst_t *in, const data_set_t *ds,
                         const value_list_t *vl, size_t route, double now) {
  int rp = gm_ds_index(ds, "running_processors");
  int rm = gm_ds_index(ds, "running_machines");
  if (rp < 0 || rm < 0 || (size_t)rp >= vl->values_len ||
      (size_t)rm >= vl->values_len)
    return;
  if (gm_vo_update(in->vo, vl->host, route, vl->plugin_instance,
                   vl->type_instance, vl->values[rp].gauge,
                   vl->values[rm].gauge, now) != 0) {
    in->dropped++;
    c_complain(LOG_WARNING, &in->drop_complaint,
               GM_PLUGIN " plugin: VO totals: cannot record %s/%s/%s", vl->host,
               vl->plugin_instance, vl->type_instance);
  }
}

/* Returns the string meta entry key of vl as a malloc'd string the caller
 * frees, or NULL when absent. */
static char *gm_meta(const value_list_t *vl, const char *key) {
  char *v = NULL;
  if (vl->meta == NULL || meta_data_get_string(vl->meta, key, &v) != 0)
    return NULL;
  return v;
}

static int gm_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud) {
  gm_inst_t *in = ud->data;
  if (!gm_wanted(in, vl->plugin))
    return 0;
  bool factory_plugin = strcmp(vl->plugin, in->factory_plugin) == 0;
  /* A factory's values (a plugin instance and the raw name in meta) go to
   * the factory's own host, at the address its datagrams came from. */
  char *factory = NULL, *space = NULL, *source = NULL;
  if (factory_plugin && vl->plugin_instance[0] != '\0') {
    factory = gm_meta(vl, "factory");
    space = gm_meta(vl, "space");
    source = gm_meta(vl, "source_address");
  }
  gm_vl_t g = {vl->host,
               vl->plugin,
               vl->plugin_instance,
               vl->type,
               vl->type_instance,
               CDTIME_T_TO_DOUBLE(vl->interval),
               factory != NULL  ? factory
               : factory_plugin ? vl->plugin_instance
                                : NULL,
               NULL,
               factory_plugin};
  size_t route = gm_routes_lookup(in->sites, vl->host);
  double now = CDTIME_T_TO_DOUBLE(cdtime());
  char prefix[GM_NAME_MAX] = "";
  int meta = 0;
  pthread_mutex_lock(&gm_lock);
  /* Lists without the raw names (the finished-machine series) go to the
   * host their plugin instance was last seen with. */
  char known[GM_NAME_MAX];
  const char *alias = NULL;
  if (factory_plugin && factory == NULL && vl->plugin_instance[0] != '\0' &&
      (alias = gm_hosts_lookup_alias(in->hosts, vl->plugin_instance)) != NULL) {
    sstrncpy(known, alias, sizeof(known));
    g.ganglia_host = known;
  }
  const gm_host_t *host =
      gm_touch(in, &g, gm_addr_parse(source), space, route, now, &meta);
  if (host != NULL && factory != NULL &&
      gm_hosts_alias(in->hosts, vl->plugin_instance, host->name) != 0)
    gm_drop(in, &g, "*", "out of memory for the host alias");
  /* A factory that serves several spaces (Vcycle) keeps one host; the
   * values of every space but its first carry the space in their names. */
  if (host != NULL && space != NULL && host->space[0] != '\0' &&
      strcmp(host->space, space) != 0 &&
      gm_name_clean(prefix, sizeof(prefix), space) > 0)
    g.name_prefix = prefix;
  for (size_t i = 0; host != NULL && i < ds->ds_num && i < vl->values_len;
       i++) {
    gm_ds_t d = {ds->ds[i].name,
                 ds->ds[i].type == DS_TYPE_DERIVE     ? GM_DS_DERIVE
                 : ds->ds[i].type == DS_TYPE_COUNTER  ? GM_DS_COUNTER
                 : ds->ds[i].type == DS_TYPE_ABSOLUTE ? GM_DS_ABSOLUTE
                                                      : GM_DS_GAUGE};
    gm_emit(in, &g, &d, (const gm_value_t *)&vl->values[i], host, meta);
  }
  if (in->vo != NULL && factory_plugin && strcmp(vl->type, in->vo_type) == 0)
    gm_vo_record(in, ds, vl, route, now);
  pthread_mutex_unlock(&gm_lock);
  free(factory);
  free(space);
  free(source);
  return 0;
}

/* The argument of gm_send_vo_total. */
typedef struct {
  gm_inst_t *in;
  double now;
} gm_vo_arg_t;

/* gm_vo_totals callback: sends one (site, VO) total to the site's host as
 * <FactoryPlugin>_vo.<vo>.running_processors / running_machines. Caller
 * holds gm_lock. */
static void gm_send_vo_total(const gm_vo_total_t *t, void *arg) {
  gm_vo_arg_t *a = arg;
  char type[DATA_MAX_NAME_LEN];
  snprintf(type, sizeof(type), "%s_vo", a->in->factory_plugin);
  gm_vl_t g = {t->site, a->in->factory_plugin,
               "",      type,
               t->vo,   CDTIME_T_TO_DOUBLE(a->in->heartbeat_interval),
               NULL,    NULL,
               1};
  gm_ds_t d[2] = {{"running_processors", GM_DS_GAUGE},
                  {"running_machines", GM_DS_GAUGE}};
  gm_value_t v[2] = {{.gauge = t->running_processors},
                     {.gauge = t->running_machines}};
  int meta = 0;
  const gm_host_t *host = gm_touch(a->in, &g, 0, NULL, t->route, a->now, &meta);
  for (size_t i = 0; host != NULL && i < 2; i++)
    gm_emit(a->in, &g, &d[i], &v[i], host, meta);
}

/* ---- heartbeats and own counters ---------------------------------------- */

/* Dispatches one value of in's own: type "derive" or "gauge". */
static void gm_dispatch(const gm_inst_t *in, const char *chan, const char *type,
                        const char *what, double v, cdtime_t now) {
  value_list_t vl = VALUE_LIST_INIT;
  value_t val;
  if (strcmp(type, "gauge") == 0)
    val.gauge = v;
  else
    val.derive = (derive_t)v;
  vl.values = &val;
  vl.values_len = 1;
  vl.time = now;
  vl.interval = in->heartbeat_interval;
  sstrncpy(vl.host, hostname_g, sizeof(vl.host));
  sstrncpy(vl.plugin, GM_PLUGIN, sizeof(vl.plugin));
  if (in->instance[0] != '\0' && chan[0] != '\0')
    ssnprintf(vl.plugin_instance, sizeof(vl.plugin_instance), "%s-%s",
              in->instance, chan);
  else
    sstrncpy(vl.plugin_instance, chan[0] ? chan : in->instance,
             sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  sstrncpy(vl.type_instance, what, sizeof(vl.type_instance));
  plugin_dispatch_values(&vl);
}

static int gm_read(user_data_t *ud) {
  gm_inst_t *in = ud->data;
  cdtime_t t = cdtime();
  double now = CDTIME_T_TO_DOUBLE(t);
  /* The counters are copied under the lock, dispatched after it. */
  uint64_t c[in->chans_num][4], dropped;
  size_t hosts;
  pthread_mutex_lock(&gm_lock);
  size_t expired = gm_hosts_expire(in->hosts, now, in->host_timeout);
  gm_metric_t hb = {.name = "heartbeat",
                    .value = "0",
                    .type = "uint32",
                    .units = "",
                    .slope = GM_SLOPE_ZERO};
  size_t iter = 0;
  const gm_host_t *h;
  while ((h = gm_hosts_next(in->hosts, &iter)) != NULL)
    gm_send(in, &in->chans[h->route], h->spoof, &hb, true, true);
  gm_vo_arg_t arg = {in, now};
  if (in->vo != NULL &&
      gm_vo_totals(in->vo, now, in->host_timeout, gm_send_vo_total, &arg) < 0)
    ERROR(GM_PLUGIN " plugin: VO totals: out of memory");
  for (size_t i = 0; i < in->chans_num; i++) {
    gm_chan_t *r = &in->chans[i];
    c[i][0] = r->sent;
    c[i][1] = r->metadata_sent;
    c[i][2] = r->heartbeats;
    c[i][3] = r->failures;
  }
  dropped = in->dropped;
  hosts = gm_hosts_count(in->hosts);
  pthread_mutex_unlock(&gm_lock);
  if (expired > 0)
    INFO(GM_PLUGIN " plugin: %s: %zu host(s) silent for %.0f s: no more "
                   "heartbeats for them",
         in->name, expired, in->host_timeout);
  for (size_t i = 0; i < in->chans_num; i++) {
    const char *n = in->chans[i].name;
    gm_dispatch(in, n, "derive", "sent", (double)c[i][0], t);
    gm_dispatch(in, n, "derive", "metadata_sent", (double)c[i][1], t);
    gm_dispatch(in, n, "derive", "heartbeats", (double)c[i][2], t);
    gm_dispatch(in, n, "derive", "send_failures", (double)c[i][3], t);
  }
  gm_dispatch(in, "", "derive", "dropped", (double)dropped, t);
  gm_dispatch(in, "", "gauge", "hosts", (double)hosts, t);
  return 0;
}

void module_register(void) {
  plugin_register_complex_config(GM_PLUGIN, gm_config);
}
