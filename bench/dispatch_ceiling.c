/* SPDX-License-Identifier: MIT */
/*
 * dispatch_ceiling.c: a collectd plugin for bench/run-bench.py that only
 * dispatches value lists, as fast as collectd takes them, to measure
 * collectd's own dispatch ceiling on this machine.
 *
 * <Plugin dispatch_ceiling>
 *   Seconds 10          # how long to dispatch
 *   Identifiers 5000    # distinct identifiers, cycled (cache entries)
 *   Meta 0              # string meta entries on every list (vacquery's
 *                       # lists carry 5 to 8: collectd clones them on
 *                       # every dispatch and frees them in a write thread)
 * </Plugin>
 *
 * One thread dispatches "load" value lists (3 gauges) for Seconds, then one
 * marker list; the plugin's own write callback notes when the marker comes
 * out of collectd's write queue. The log line "dispatch_ceiling: N value
 * lists taken in S s" is then N / S end to end: dispatch, write queue,
 * write thread, value cache and write callback.
 */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <stdatomic.h>

static double dc_seconds = 10;
static int dc_idents = 5000;
static int dc_meta;
static pthread_t dc_thread;
static bool dc_running;
static atomic_bool dc_stop;
static cdtime_t dc_start;
static atomic_ullong dc_sent;

/* The config callback: Seconds and Identifiers. Returns 0 or -1. */
static int dc_config(const char *key, const char *value) {
  if (strcasecmp(key, "Seconds") == 0)
    dc_seconds = atof(value);
  else if (strcasecmp(key, "Identifiers") == 0)
    dc_idents = atoi(value);
  else if (strcasecmp(key, "Meta") == 0)
    dc_meta = atoi(value);
  else
    return -1;
  return 0;
}

/* Dispatches for dc_seconds, then the marker. Returns NULL. */
static void *dc_main(void *arg) {
  (void)arg;
  sleep(1);
  value_t v[3] = {{.gauge = 1}, {.gauge = 2}, {.gauge = 3}};
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = v;
  vl.values_len = 3;
  vl.interval = TIME_T_TO_CDTIME_T(60);
  sstrncpy(vl.plugin, "dispatch_ceiling", sizeof(vl.plugin));
  sstrncpy(vl.type, "load", sizeof(vl.type));
  /* Meta like vacquery's: short keys, values of a few tens of bytes. */
  meta_data_t *md = dc_meta > 0 ? meta_data_create() : NULL;
  for (int i = 0; md != NULL && i < dc_meta; i++) {
    char key[32];
    ssnprintf(key, sizeof(key), "vacquery_field%d", i);
    meta_data_add_string(md, key, "vac01.site.example.ac.uk/atlas");
  }
  vl.meta = md;
  dc_start = cdtime();
  cdtime_t end = dc_start + DOUBLE_TO_CDTIME_T(dc_seconds);
  unsigned long long n = 0;
  while (!atomic_load(&dc_stop)) {
    if ((n & 1023) == 0 && cdtime() > end)
      break;
    ssnprintf(vl.host, sizeof(vl.host), "h%d", (int)(n % dc_idents) / 100);
    ssnprintf(vl.plugin_instance, sizeof(vl.plugin_instance), "p%d",
              (int)(n % dc_idents));
    vl.time = cdtime();
    v[0].gauge = (double)n;
    plugin_dispatch_values(&vl);
    n++;
  }
  atomic_store(&dc_sent, n);
  sstrncpy(vl.host, "marker", sizeof(vl.host));
  vl.time = cdtime();
  plugin_dispatch_values(&vl);
  meta_data_destroy(md);
  return NULL;
}

/* The write callback: notes when the marker comes out. Returns 0. */
static int dc_write(const data_set_t *ds, const value_list_t *vl,
                    user_data_t *ud) {
  (void)ds;
  (void)ud;
  if (strcmp(vl->host, "marker") == 0 &&
      strcmp(vl->plugin, "dispatch_ceiling") == 0) {
    double s = CDTIME_T_TO_DOUBLE(cdtime() - dc_start);
    unsigned long long n = atomic_load(&dc_sent);
    INFO("dispatch_ceiling: %llu value lists taken in %.3f s (%.0f per s)", n,
         s, (double)n / s);
  }
  return 0;
}

static int dc_init(void) {
  if (dc_running)
    return 0;
  if (plugin_thread_create(&dc_thread, dc_main, NULL, "dispatch_ceiling") != 0)
    return -1;
  dc_running = true;
  return 0;
}

static int dc_shutdown(void) {
  atomic_store(&dc_stop, true);
  if (dc_running)
    pthread_join(dc_thread, NULL);
  dc_running = false;
  return 0;
}

void module_register(void) {
  static const char *keys[] = {"Seconds", "Identifiers", "Meta"};
  plugin_register_config("dispatch_ceiling", dc_config, keys, 3);
  plugin_register_init("dispatch_ceiling", dc_init);
  plugin_register_write("dispatch_ceiling", dc_write, NULL);
  plugin_register_shutdown("dispatch_ceiling", dc_shutdown);
}
