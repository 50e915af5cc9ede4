/* SPDX-License-Identifier: MIT */
/*
 * test_gm_metric.c: unit tests for src/ganglia/gm_metric.c, the collectd value
 * to gmetric mapping: Ganglia host and metric names (vacquery factory host from
 * the plugin instance, the site for site-level values, other plugins
 * unchanged), Ganglia types and units per DS, slopes, tmax and dmax, and
 * every reason not to send.
 */
#include "ganglia/gm_metric.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#define PI "vac01_example_ac_uk.vac01_example_ac_uk"

#ifndef GM_DROPIN
#define GM_DROPIN "etc/collectd.d/write_gmond.conf"
#endif

/* The units table of the shipped drop-in, read by units_setup. */
static gm_units_t units = GM_UNITS_INIT;

/* Reads every `Units "PATTERN" "UNITS" true|false' line of the shipped
 * write_gmond.conf into units: the table a site gets. Returns 0, or -1
 * when the file has none. */
static int units_setup(void **state) {
  (void)state;
  FILE *f = fopen(GM_DROPIN, "r");
  if (f == NULL)
    return -1;
  char line[512], pat[128], un[128], integral[8];
  while (fgets(line, sizeof(line), f) != NULL)
    if (sscanf(line, " Units \"%127[^\"]\" \"%127[^\"]\" %7s", pat, un,
               integral) == 3 &&
        gm_units_add(&units, pat, un, strcmp(integral, "true") == 0) != 0)
      break;
  fclose(f);
  return units.num > 0 ? 0 : -1;
}

/* Frees the table. Returns 0. */
static int units_teardown(void **state) {
  (void)state;
  gm_units_free(&units);
  return 0;
}

typedef struct {
  const char *ctx;
  gm_vl_t vl;
  gm_ds_t ds;
  gm_value_t v;
  gm_status_t status;
  const char *host, *name, *value, *type, *units;
  gm_slope_t slope;
  unsigned tmax;
} map_case_t;

static const map_case_t map_cases[] = {
    {"factory processors",
     {"UKI-SITE", "vacquery", PI, "vacquery_factory", "", 180, PI, NULL, 1},
     {"running_processors", GM_DS_GAUGE},
     {.gauge = 32},
     GM_OK,
     PI,
     "vacquery_factory.running_processors",
     "32",
     "uint32",
     "processors",
     GM_SLOPE_BOTH,
     180},
    {"factory under its own FQDN",
     {"UKI-SITE", "vacquery", PI, "vacquery_factory", "", 180,
      "vac101.tier2.hep.manchester.ac.uk", NULL, 1},
     {"running_machines", GM_DS_GAUGE},
     {.gauge = 7},
     GM_OK,
     "vac101.tier2.hep.manchester.ac.uk",
     "vacquery_factory.running_machines",
     "7",
     "uint32",
     "machines",
     GM_SLOPE_BOTH,
     180},
    {"a second space of one factory in the name",
     {"UKI-SITE", "vacquery", "cloud_b.vcycle01", "vacquery_mt", "lhcb.mt", 180,
      "vcycle01.example.ac.uk", "cloud_b", 1},
     {"running_hs06", GM_DS_GAUGE},
     {.gauge = 2.5},
     GM_OK,
     "vcycle01.example.ac.uk",
     "cloud_b.vacquery_mt.lhcb.mt.running_hs06",
     "2.5",
     "float",
     "HS06",
     GM_SLOPE_BOTH,
     180},
    {"long names keep plugin and instance",
     {"h", "cpu", "0", "cpu", "idle", 10, NULL, "pre", 0},
     {"value", GM_DS_GAUGE},
     {.gauge = 3},
     GM_OK,
     "h",
     "pre.cpu.0.cpu.idle.value",
     "3",
     "double",
     "",
     GM_SLOPE_BOTH,
     10},
    {"machinetype machines",
     {"UKI-SITE", "vacquery", PI, "vacquery_mt", "atlas.vac-atlas", 60.2, PI,
      NULL, 1},
     {"running_machines", GM_DS_GAUGE},
     {.gauge = 4},
     GM_OK,
     PI,
     "vacquery_mt.atlas.vac-atlas.running_machines",
     "4",
     "uint32",
     "machines",
     GM_SLOPE_BOTH,
     61},
    {"hs06 float",
     {"S", "vacquery", "sp.f", "vacquery_factory", NULL, 180, "sp.f", NULL, 1},
     {"running_hs06", GM_DS_GAUGE},
     {.gauge = 123.25},
     GM_OK,
     "sp.f",
     "vacquery_factory.running_hs06",
     "123.25",
     "float",
     "HS06",
     GM_SLOPE_BOTH,
     180},
    {"load float",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"load_average", GM_DS_GAUGE},
     {.gauge = 1.5},
     GM_OK,
     "sp.f",
     "vacquery_factory.load_average",
     "1.5",
     "float",
     "load",
     GM_SLOPE_BOTH,
     180},
    {"KiB double",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"mem_total_kb", GM_DS_GAUGE},
     {.gauge = 16777216000.0},
     GM_OK,
     "sp.f",
     "vacquery_factory.mem_total_kb",
     "16777216000",
     "double",
     "KiB",
     GM_SLOPE_BOTH,
     180},
    {"inodes double",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"root_disk_avail_inodes", GM_DS_GAUGE},
     {.gauge = 1000},
     GM_OK,
     "sp.f",
     "vacquery_factory.root_disk_avail_inodes",
     "1000",
     "double",
     "inodes",
     GM_SLOPE_BOTH,
     180},
    {"unix time uint32",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"boot_time", GM_DS_GAUGE},
     {.gauge = 1795400000},
     GM_OK,
     "sp.f",
     "vacquery_factory.boot_time",
     "1795400000",
     "uint32",
     "s",
     GM_SLOPE_BOTH,
     180},
    {"fractional processors become double",
     {"S", "vacquery", "sp.f", "vacquery_mt", "lhcb.mt", 180, "sp.f", NULL, 1},
     {"max_processors", GM_DS_GAUGE},
     {.gauge = 2.5},
     GM_OK,
     "sp.f",
     "vacquery_mt.lhcb.mt.max_processors",
     "2.5",
     "double",
     "processors",
     GM_SLOPE_BOTH,
     180},
    {"above uint32 range",
     {"S", "vacquery", "sp.f", "vacquery_mt", "lhcb.mt", 180, "sp.f", NULL, 1},
     {"bytes_per_processor", GM_DS_GAUGE},
     {.gauge = 8589934592.0},
     GM_OK,
     "sp.f",
     "vacquery_mt.lhcb.mt.bytes_per_processor",
     "8589934592",
     "double",
     "bytes",
     GM_SLOPE_BOTH,
     180},
    {"negative integral gauge",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"running_machines", GM_DS_GAUGE},
     {.gauge = -1},
     GM_OK,
     "sp.f",
     "vacquery_factory.running_machines",
     "-1",
     "double",
     "machines",
     GM_SLOPE_BOTH,
     180},
    {"derive counter positive",
     {"S", "vacquery", "sp.f", "vacquery_finished", "cms.mt.none", 10, "sp.f",
      NULL, 1},
     {"cpu_seconds", GM_DS_DERIVE},
     {.derive = 5000},
     GM_OK,
     "sp.f",
     "vacquery_finished.cms.mt.none.cpu_seconds",
     "5000",
     "uint32",
     "s",
     GM_SLOPE_POSITIVE,
     10},
    {"derive wraps modulo 2^32",
     {"S", "vacquery", "sp.f", "vacquery_finished", "cms.mt.none", 10, "sp.f",
      NULL, 1},
     {"hs06_seconds", GM_DS_DERIVE},
     {.derive = 4294967296LL + 7},
     GM_OK,
     "sp.f",
     "vacquery_finished.cms.mt.none.hs06_seconds",
     "7",
     "uint32",
     "HS06 s",
     GM_SLOPE_POSITIVE,
     10},
    {"counter kind",
     {"h", "cpu", "0", "cpu", "idle", 10, NULL, NULL, 0},
     {"value", GM_DS_COUNTER},
     {.counter = 12},
     GM_OK,
     "h",
     "cpu.0.cpu.idle.value",
     "12",
     "uint32",
     "",
     GM_SLOPE_POSITIVE,
     10},
    {"absolute kind",
     {"h", "p", "", "t", "", 10, NULL, NULL, 0},
     {"value", GM_DS_ABSOLUTE},
     {.absolute = 99},
     GM_OK,
     "h",
     "p.t.value",
     "99",
     "double",
     "",
     GM_SLOPE_BOTH,
     10},
    {"site-level value: host is the site",
     {"UKI-SITE", "vacquery", "", "vacquery_site", "", 10, NULL, NULL, 1},
     {"stale_factories", GM_DS_GAUGE},
     {.gauge = 1},
     GM_OK,
     "UKI-SITE",
     "vacquery_site.stale_factories",
     "1",
     "uint32",
     "factories",
     GM_SLOPE_BOTH,
     10},
    {"receiver counters",
     {"collector", "vacquery", "", "vacquery_stats", "", 10, NULL, NULL, 1},
     {"received", GM_DS_DERIVE},
     {.derive = 3},
     GM_OK,
     "collector",
     "vacquery_stats.received",
     "3",
     "uint32",
     "datagrams",
     GM_SLOPE_POSITIVE,
     10},
    {"unknown gauge: double, no units",
     {"h", "load", "", "load", "", 10, NULL, NULL, 0},
     {"shortterm", GM_DS_GAUGE},
     {.gauge = 0.25},
     GM_OK,
     "h",
     "load.load.shortterm",
     "0.25",
     "double",
     "",
     GM_SLOPE_BOTH,
     10},
    {"odd bytes cleaned",
     {"h\"x", "p q", "", "t/y", "", 0, NULL, NULL, 0},
     {"v\xc3\xa9", GM_DS_GAUGE},
     {.gauge = 1},
     GM_OK,
     "h_x",
     "p_q.t_y.v__",
     "1",
     "double",
     "",
     GM_SLOPE_BOTH,
     1},
    {"NaN skipped",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"running_hs06", GM_DS_GAUGE},
     {.gauge = NAN},
     GM_SKIP_NAN,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
    {"infinity rejected",
     {"S", "vacquery", "sp.f", "vacquery_factory", "", 180, "sp.f", NULL, 1},
     {"running_hs06", GM_DS_GAUGE},
     {.gauge = INFINITY},
     GM_BAD_INPUT,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
    {"empty host",
     {"", "cpu", "", "cpu", "", 10, NULL, NULL, 0},
     {"value", GM_DS_GAUGE},
     {.gauge = 1},
     GM_BAD_INPUT,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
    {"empty type",
     {"h", "cpu", "", "", "", 10, NULL, NULL, 0},
     {"value", GM_DS_GAUGE},
     {.gauge = 1},
     GM_BAD_INPUT,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
    {"empty DS",
     {"h", "cpu", "", "cpu", "", 10, NULL, NULL, 0},
     {"", GM_DS_GAUGE},
     {.gauge = 1},
     GM_BAD_INPUT,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
    {"NULL plugin",
     {"h", NULL, "", "cpu", "", 10, NULL, NULL, 0},
     {"value", GM_DS_GAUGE},
     {.gauge = 1},
     GM_BAD_INPUT,
     NULL,
     NULL,
     NULL,
     NULL,
     NULL,
     GM_SLOPE_ZERO,
     0},
};

static void test_map_table(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(map_cases); i++) {
    const map_case_t *c = &map_cases[i];
    gm_metric_t m;
    memset(&m, 0, sizeof(m));
    gm_status_t st = gm_metric_map(&c->vl, &c->ds, &c->v, 86400, &units, &m);
    CHECK_CSTR(c->ctx, gm_status_name(st), gm_status_name(c->status));
    if (c->status != GM_OK)
      continue;
    CHECK_CSTR(c->ctx, m.host, c->host);
    CHECK_CSTR(c->ctx, m.name, c->name);
    CHECK_CSTR(c->ctx, m.value, c->value);
    CHECK_CSTR(c->ctx, m.type, c->type);
    CHECK_CSTR(c->ctx, m.units, c->units);
    CHECK_INT(c->ctx, m.slope, c->slope);
    CHECK_INT(c->ctx, m.tmax, c->tmax);
    CHECK_INT(c->ctx, m.dmax, 86400);
  }
}

/* A string of n copies of c (static storage, up to 1023 bytes). */
static const char *rep(char c, size_t n) {
  static char buf[4][1024];
  static int k;
  char *b = buf[k++ & 3];
  memset(b, c, n);
  b[n] = '\0';
  return b;
}

static void test_too_long(void **state) {
  (void)state;
  gm_value_t v = {.gauge = 1};
  gm_ds_t ds = {"value", GM_DS_GAUGE};
  gm_metric_t m;
  /* Four 70-byte parts: 285 bytes of name, more than GM_NAME_MAX. */
  gm_vl_t long_name = {
      "h", "p", rep('a', 70), rep('b', 70), rep('c', 70), 10, NULL, NULL, 0};
  gm_ds_t long_ds = {rep('d', 70), GM_DS_GAUGE};
  CHECK_CSTR(
      "long metric",
      gm_status_name(gm_metric_map(&long_name, &long_ds, &v, 0, NULL, &m)),
      "name_too_long");
  gm_vl_t long_host = {rep('h', 300), "p", "", "t", "", 10, NULL, NULL, 0};
  CHECK_CSTR("long host",
             gm_status_name(gm_metric_map(&long_host, &ds, &v, 0, NULL, &m)),
             "name_too_long");
  /* The largest name that fits: 255 bytes. */
  gm_vl_t fits = {"h", "vacquery", "pi", rep('t', 249), "", 10, "pi", NULL, 1};
  gm_ds_t ds5 = {"abcde", GM_DS_GAUGE};
  CHECK_CSTR("255 bytes",
             gm_status_name(gm_metric_map(&fits, &ds5, &v, 0, NULL, &m)), "ok");
  CHECK_INT("255 bytes", strlen(m.name), 255);
  fits.type = rep('t', 250);
  CHECK_CSTR("256 bytes",
             gm_status_name(gm_metric_map(&fits, &ds5, &v, 0, NULL, &m)),
             "name_too_long");
}

static void test_tmax(void **state) {
  (void)state;
  static const struct {
    double interval;
    unsigned tmax;
  } cases[] = {{0, 1}, {-5, 1}, {0.2, 1}, {10, 10}, {179.5, 180}, {1e12, 1}};
  gm_value_t v = {.gauge = 1};
  gm_ds_t ds = {"value", GM_DS_GAUGE};
  for (size_t i = 0; i < COUNT(cases); i++) {
    gm_vl_t vl = {"h", "p", "", "t", "", cases[i].interval, NULL, NULL, 0};
    gm_metric_t m;
    char ctx[32];
    snprintf(ctx, sizeof(ctx), "interval %g", cases[i].interval);
    CHECK_INT(ctx, gm_metric_map(&vl, &ds, &v, 5, NULL, &m), GM_OK);
    CHECK_INT(ctx, m.tmax, cases[i].tmax);
    CHECK_INT(ctx, m.dmax, 5);
  }
}

static void test_units(void **state) {
  (void)state;
  static const struct {
    const char *ds, *units;
    int integral;
  } cases[] = {
      {"running_processors", "processors", 1},
      {"max_machines", "machines", 1},
      {"max_hs06", "HS06", 0},
      {"swap_free_kb", "KiB", 0},
      {"daemon_disk_avail_inodes", "inodes", 0},
      {"mjf_heartbeat_time", "s", 1},
      {"wall_seconds", "s", 1},
      {"num_machinetypes", "machinetypes", 1},
      {"factories", "factories", 1},
      {"_kb", "", 0}, /* a suffix needs a prefix */
      {"value", "", 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    int integral = -1;
    CHECK_CSTR(cases[i].ds, gm_metric_units(&units, cases[i].ds, &integral),
               cases[i].units);
    CHECK_INT(cases[i].ds, integral, cases[i].integral);
  }
}

static void test_names(void **state) {
  (void)state;
  char b[8];
  CHECK_INT("empty", gm_name_clean(b, sizeof(b), ""), -1);
  CHECK_INT("fits", gm_name_clean(b, sizeof(b), "a.b-c_7"), 7);
  CHECK_CSTR("fits", b, "a.b-c_7");
  CHECK_INT("too long", gm_name_clean(b, sizeof(b), "abcdefgh"), -1);
  CHECK_CSTR("status", gm_status_name((gm_status_t)42), "unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_map_table), cmocka_unit_test(test_too_long),
      cmocka_unit_test(test_tmax),      cmocka_unit_test(test_units),
      cmocka_unit_test(test_names),
  };
  return cmocka_run_group_tests(tests, units_setup, units_teardown);
}
