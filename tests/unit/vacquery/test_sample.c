/* SPDX-License-Identifier: MIT */
/*
 * test_sample.c: unit tests for src/vacquery/vq_sample.c: factory_status and
 * machinetype_status to samples (DS values in the order of vq_type()),
 * shutdown codes, and machine_status to finished-machine records.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_name.h"
#include "vacquery/vq_sample.h"
#include "vacquery/vq_types.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- samples ----------------------------------------------------------- */

/* The DS order the expected values below are written in: the order of the
 * shipped types.db. */
static const char *const factory_ds[] = {"running_processors",
                                         "running_machines",
                                         "running_hs06",
                                         "max_processors",
                                         "max_machines",
                                         "max_hs06",
                                         "load_average",
                                         "mem_used_kb",
                                         "mem_total_kb",
                                         "swap_used_kb",
                                         "swap_free_kb",
                                         "root_disk_avail_kb",
                                         "root_disk_avail_inodes",
                                         "daemon_disk_avail_kb",
                                         "daemon_disk_avail_inodes",
                                         "boot_time",
                                         "factory_heartbeat_time",
                                         "responder_heartbeat_time",
                                         "mjf_heartbeat_time",
                                         "metadata_heartbeat_time"};
static const char *const mt_ds[] = {
    "running_processors",  "running_machines", "running_hs06",
    "num_before_fizzle",   "max_processors",   "max_wallclock_seconds",
    "bytes_per_processor", "num_machinetypes"};

/* Returns the index of name in names[0..n-1], or -1. */
static int ds_index(const char *const *names, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0)
      return (int)i;
  return -1;
}

/* Every field of the lists above appears in exactly one type of its
 * message, so the tables below list each message's values once. */
static void test_sample_ds_cover_the_fields_once(void **state) {
  (void)state;
  static const struct {
    vq_msg_type_t mt;
    const char *const *names;
    size_t n;
  } cases[] = {{VQ_MSG_FACTORY, factory_ds, COUNT(factory_ds)},
               {VQ_MSG_MACHINETYPE, mt_ds, COUNT(mt_ds)}};
  for (size_t c = 0; c < COUNT(cases); c++) {
    int seen[32] = {0};
    size_t n, total = 0;
    const vq_type_id_t *types = vq_message_types(cases[c].mt, &n);
    for (size_t k = 0; k < n; k++) {
      const vq_type_t *t = vq_type(types[k]);
      for (size_t i = 0; i < t->ds_num; i++, total++) {
        int at = ds_index(cases[c].names, cases[c].n, t->ds[i].name);
        if (at < 0)
          fail_msg("%s: unexpected DS %s", t->name, t->ds[i].name);
        seen[at]++;
      }
    }
    CHECK_INT("fields", total, cases[c].n);
    for (size_t i = 0; i < cases[c].n; i++)
      CHECK_INT(cases[c].names[i], seen[i], 1);
  }
}

static const struct {
  const char *file;
  vq_type_id_t type;
  const char *host, *pi, *ti;
  size_t n;
  double v[24]; /* in the order of factory_ds or mt_ds */
} sample_cases[] = {
    {"factory_status-vac-man.json",
     VQ_TYPE_FACTORY,
     "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "",
     20,
     {28,         7,          294.0,      32,         32,
      336.0,      27.63,      62818132,   65690748,   1048,
      16776164,   38127412,   2431180,    1523419032, 97433561,
      1539080347, 1542931109, 1542931187, 1542931160, 1542930876}},
    {"factory_status-vac-nogocdb.json",
     VQ_TYPE_FACTORY,
     "pp_example_ac_uk",
     "vac01_pp_example_ac_uk.vachost07_pp_example_ac_uk",
     "",
     20,
     {14,         5,          14.0,       24,         24,
      24.0,       13.92,      37912344,   49283960,   0,
      8388604,    41881220,   2612004,    812530448,  51930115,
      1537355112, 1542931082, 1542931140, 1542931101, 1542929733}},
    {"factory_status-vac-legacy-0.4.json",
     VQ_TYPE_FACTORY,
     "vac01_tier2_hep_manchester_ac_uk",
     "vac01_tier2_hep_manchester_ac_uk.vac103_tier2_hep_manchester_ac_uk",
     "",
     20,
     {16,         2,          160,        24,         3,
      240,        17.40,      45122840,   49412468,   3212,
      8385392,    40221312,   2601532,    1102745600, 70320012,
      1471502211, 1476000030, 1476000102, 1476000077, 1475999512}},
    {"factory_status-vcycle.json",
     VQ_TYPE_FACTORY,
     "UKI-EXAMPLE-CLOUD",
     "vcycle01_cloud_example_ac_uk.vcycle01_example_ac_uk",
     "",
     20,
     {184,        23,         0.0,     200,        200,
      0.0,        0.41,       3715280, 7990252,    0,
      4194300,    30214876,   2562934, 412997312,  26180012,
      1542211000, 1542931187, NAN,     1542931150, 1542931150}},
    /* Vcycle without processors_limit: no max_*, no HS06, no responder */
    {"factory_status-vcycle-nolimit.json",
     VQ_TYPE_FACTORY,
     "cloud_example_ac_uk",
     "vcycle02_cloud_example_ac_uk.vcycle01_example_ac_uk",
     "",
     20,
     {48,         12,         NAN,     NAN,        NAN,
      NAN,        0.41,       3716012, 7990252,    0,
      4194300,    30214860,   2562931, 412996980,  26180007,
      1542211000, 1542931189, NAN,     1542931150, 1542931150}},
    {"machinetype_status-vac-man-lhcb.json",
     VQ_TYPE_MT,
     "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "lhcb.lhcb-prod",
     8,
     {16, 2, 168, 0, 8, 172800, 2147483648.0, 3}},
    {"machinetype_status-vac-man-atlas.json",
     VQ_TYPE_MT,
     "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "atlas.atlas-prod",
     8,
     {8, 1, 84, 1, 8, 172800, 2147483648.0, 3}},
    {"machinetype_status-vac-man-gridpp.json",
     VQ_TYPE_MT,
     "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "gridpp.gridpp",
     8,
     {4, 4, 42, 1, 1, 86400, 2147483648.0, 3}},
    {"machinetype_status-vac-nogocdb-cms.json",
     VQ_TYPE_MT,
     "pp_example_ac_uk",
     "vac01_pp_example_ac_uk.vachost07_pp_example_ac_uk",
     "cms.cms-pilot",
     8,
     {12, 3, 12, 0, NAN, NAN, NAN, 2}},
    {"machinetype_status-vcycle-lhcb.json",
     VQ_TYPE_MT,
     "UKI-EXAMPLE-CLOUD",
     "vcycle01_cloud_example_ac_uk.vcycle01_example_ac_uk",
     "lhcb.lhcb-prod",
     8,
     {184, 23, 0.0, NAN, 8, 172800, 2147483648.0, 1}},
    {"machinetype_status-vac-legacy-0.3.json",
     VQ_TYPE_MT,
     "vac02_hep_example_ac_uk",
     "vac02_hep_example_ac_uk.vacnode12_hep_example_ac_uk",
     "lhcb.lhcb",
     8,
     {NAN, 4, 40, 0, NAN, NAN, NAN, 2}},
    {"machinetype_status-vac-legacy-0.4.json",
     VQ_TYPE_MT,
     "vac01_tier2_hep_manchester_ac_uk",
     "vac01_tier2_hep_manchester_ac_uk.vac103_tier2_hep_manchester_ac_uk",
     "atlas.atlas",
     8,
     {16, 2, 160, 0, NAN, NAN, NAN, 2}},
};

static void test_sample_from_examples(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(sample_cases); i++) {
    const char *ctx = sample_cases[i].file;
    vq_message_t m;
    vq_test_parse_fixture(ctx, &m);
    vq_sample_t s;
    memset(&s, 0, sizeof(s));
    vq_reason_t r = vq_sample_from_message(&m, &s);
    vq_message_clear(&m); /* the sample must not point into the message */
    CHECK_INT(ctx, r, VQ_OK);
    CHECK_CSTR(ctx, s.id.host, sample_cases[i].host);
    CHECK_CSTR(ctx, s.id.plugin_instance, sample_cases[i].pi);
    CHECK_CSTR(ctx, s.id.type_instance, sample_cases[i].ti);
    size_t n;
    const vq_type_id_t *types = vq_message_types(
        sample_cases[i].type == VQ_TYPE_FACTORY ? VQ_MSG_FACTORY
                                                : VQ_MSG_MACHINETYPE,
        &n);
    CHECK_INT(ctx, s.lists_num, n);
    CHECK_INT(ctx, s.lists[0].type, sample_cases[i].type);
    const char *const *names =
        sample_cases[i].type == VQ_TYPE_FACTORY ? factory_ds : mt_ds;
    size_t names_num = sample_cases[i].type == VQ_TYPE_FACTORY
                           ? COUNT(factory_ds)
                           : COUNT(mt_ds);
    size_t values = 0;
    for (size_t l = 0; l < s.lists_num; l++) {
      const vq_type_t *t = vq_type(s.lists[l].type);
      CHECK_INT(ctx, s.lists[l].type, types[l]);
      CHECK_INT(ctx, s.lists[l].values_num, t->ds_num);
      for (size_t k = 0; k < s.lists[l].values_num; k++, values++) {
        char what[200];
        snprintf(what, sizeof(what), "%s %s", ctx, t->ds[k].name);
        int at = ds_index(names, names_num, t->ds[k].name);
        assert_true(at >= 0);
        CHECK_NUM(what, s.lists[l].values[k], sample_cases[i].v[at]);
      }
    }
    CHECK_INT(ctx, values, sample_cases[i].n);
  }
}

static void test_sample_rejects_machine_status(void **state) {
  (void)state;
  vq_message_t m;
  vq_test_parse_fixture("machine_status-vac-man-success.json", &m);
  vq_sample_t s;
  vq_reason_t r = vq_sample_from_message(&m, &s);
  vq_message_clear(&m);
  assert_int_equal(r, VQ_REJ_UNKNOWN_TYPE);
}

static void test_sample_rejects_names_too_long(void **state) {
  (void)state;
  char json[1024];
  snprintf(json, sizeof(json),
           "{\"message_type\": \"machinetype_status\", \"site\": \"s\", "
           "\"space\": \"sp\", \"factory\": \"f\", \"fqan\": \"/%0100d\", "
           "\"machinetype\": \"%030d\"}",
           0, 0); /* "000...0.000...0": 100 + 1 + 30 bytes */
  vq_message_t m;
  assert_int_equal(vq_parse(vq_test_parser, json, strlen(json), &m), VQ_OK);
  vq_sample_t s;
  vq_reason_t r = vq_sample_from_message(&m, &s);
  vq_message_clear(&m);
  assert_int_equal(r, VQ_REJ_TOO_LONG);
}

/* ---- shutdown codes ---------------------------------------------------- */

static void test_shutdown_code_table(void **state) {
  (void)state;
  static const struct {
    const char *name, *s;
    size_t len; /* (size_t)-1: strlen */
    int code;
  } cases[] = {
      {"200 Success", "200 Success", (size_t)-1, 200},
      {"bare 700", "700", (size_t)-1, 700},
      {"100 with text", "100 No time left for slot", (size_t)-1, 100},
      {"leading zero 042", "042 odd", (size_t)-1, 42},
      {"900 (outside the classes)", "900 x", (size_t)-1, 900},
      {"000", "000", (size_t)-1, 0},
      {"code then a letter", "300Nothing", (size_t)-1, 300},
      {"code then a newline", "700\nmore", (size_t)-1, 700},
      {"four digits", "2000 x", (size_t)-1, -1},
      {"two digits", "20 x", (size_t)-1, -1},
      {"two digits only", "20", (size_t)-1, -1},
      {"letters", "abc", (size_t)-1, -1},
      {"digit letter digit", "2a0 x", (size_t)-1, -1},
      {"leading space", " 200 x", (size_t)-1, -1},
      {"negative", "-20 x", (size_t)-1, -1},
      {"plus sign", "+20 x", (size_t)-1, -1},
      {"empty", "", (size_t)-1, -1},
      {"NULL", NULL, 0, -1},
      {"slice ends after three digits", "2001", 3, 200},
      {"slice ends inside the code", "200 Success", 2, -1},
      {"slice ends before a fourth digit", "7009", 3, 700},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len = cases[i].len == (size_t)-1 ? strlen(cases[i].s) : cases[i].len;
    char *copy = NULL;
    if (cases[i].s != NULL) { /* exactly sized, unterminated */
      copy = malloc(len > 0 ? len : 1);
      assert_non_null(copy);
      memcpy(copy, cases[i].s, len);
    }
    int code = vq_shutdown_code((vq_str_t){copy, len});
    free(copy);
    CHECK_INT(cases[i].name, code, cases[i].code);
  }
}

static void test_outcome_names(void **state) {
  (void)state;
  static const char *const names[VQ_OUT_COUNT] = {
      [VQ_OUT_100] = "100",   [VQ_OUT_200] = "200",
      [VQ_OUT_300] = "300",   [VQ_OUT_400] = "400",
      [VQ_OUT_500] = "500",   [VQ_OUT_600] = "600",
      [VQ_OUT_700] = "700",   [VQ_OUT_OTHER] = "other",
      [VQ_OUT_NONE] = "none", [VQ_OUT_FIZZLE] = "fizzle"};
  for (int o = 0; o < VQ_OUT_COUNT; o++)
    assert_string_equal(vq_outcome_name((vq_outcome_t)o), names[o]);
  assert_string_equal(vq_outcome_name(VQ_OUT_COUNT), "unknown");
}

/* ---- finished machines ------------------------------------------------- */

static vq_str_t sl(const char *s) {
  return (vq_str_t){s, s != NULL ? strlen(s) : 0};
}

/* A machine_status as vq_parse() would leave it. */
static vq_message_t mk_machine(const char *vo, const char *mt, const char *msg,
                               double started, double heartbeat,
                               double shutdown, double cpu, double hs06) {
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    m.num[i] = NAN;
  m.type = VQ_MSG_MACHINE;
  m.str[VQ_S_SITE] = sl("UKI-EXAMPLE");
  m.str[VQ_S_SPACE] = sl("vac01.example.ac.uk");
  m.str[VQ_S_FACTORY] = sl("vac101.example.ac.uk");
  m.str[VQ_S_MACHINETYPE] = sl(mt);
  m.str[VQ_S_SHUTDOWN_MESSAGE] = sl(msg);
  m.vo = sl(vo);
  m.num[VQ_N_STARTED_TIME] = started;
  m.num[VQ_N_HEARTBEAT_TIME] = heartbeat;
  m.num[VQ_N_SHUTDOWN_TIME] = shutdown;
  m.num[VQ_N_CPU_SECONDS] = cpu;
  m.num[VQ_N_HS06] = hs06;
  return m;
}

#define T0 1542000000.0

static const struct {
  const char *name, *msg;
  double started, heartbeat, shutdown, cpu, hs06;
  vq_outcome_t outcome;
  int code;
  double wall, cpu_out, hs06_s;
  const char *suffix;
} finished_cases[] = {
    {"100 class", "100 No time left for slot", T0, T0 + 4000, NAN, 3000, 10,
     VQ_OUT_100, 100, 4000, 3000, 40000, "100"},
    {"200 class", "200 Success", T0, T0 + 4000, NAN, 3000, 10, VQ_OUT_200, 200,
     4000, 3000, 40000, "200"},
    {"300 class", "300 Nothing to do", T0, T0 + 4000, NAN, 3000, 10, VQ_OUT_300,
     300, 4000, 3000, 40000, "300"},
    {"400 class", "400 Banned", T0, T0 + 4000, NAN, 3000, 10, VQ_OUT_400, 400,
     4000, 3000, 40000, "400"},
    {"500 class", "500 Certificate/proxy not acceptable", T0, T0 + 4000, NAN,
     3000, 10, VQ_OUT_500, 500, 4000, 3000, 40000, "500"},
    {"600 class", "600 Matcher Failed", T0, T0 + 4000, NAN, 3000, 10,
     VQ_OUT_600, 600, 4000, 3000, 40000, "600"},
    {"700 class", "700 Heartbeat file not updated", T0, T0 + 4000, NAN, 3000,
     10, VQ_OUT_700, 700, 4000, 3000, 40000, "700"},
    {"199 is in the 100 class", "199 x", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_100,
     199, 4000, 0, 0, "100"},
    {"799 is in the 700 class", "799 x", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_700,
     799, 4000, 0, 0, "700"},
    {"code 042 is other", "042 x", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_OTHER, 42,
     4000, 0, 0, "other"},
    {"code 099 is other", "099", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_OTHER, 99,
     4000, 0, 0, "other"},
    {"code 000 is other", "000 zero", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_OTHER, 0,
     4000, 0, 0, "other"},
    {"code 800 is other", "800 x", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_OTHER, 800,
     4000, 0, 0, "other"},
    {"code 900 is other", "900 x", T0, T0 + 4000, NAN, 0, 0, VQ_OUT_OTHER, 900,
     4000, 0, 0, "other"},
    {"coded message beats a short run", "300 Nothing to do", T0, T0 + 10, NAN,
     5, 10, VQ_OUT_300, 300, 10, 5, 100, "300"},
    {"no message, short run is a fizzle", NULL, T0, T0 + 100, NAN, 50, 10,
     VQ_OUT_FIZZLE, -1, 100, 50, 1000, "fizzle"},
    {"no message, 599 s is a fizzle", NULL, T0, T0 + 599, NAN, 50, 1,
     VQ_OUT_FIZZLE, -1, 599, 50, 599, "fizzle"},
    {"no message, exactly 600 s is none", NULL, T0, T0 + 600, NAN, 50, 1,
     VQ_OUT_NONE, -1, 600, 50, 600, "none"},
    {"no message, long run is none", NULL, T0, T0 + 4000, NAN, 50, 2,
     VQ_OUT_NONE, -1, 4000, 50, 8000, "none"},
    {"uncoded message, short run is a fizzle", "Success", T0, T0 + 100, NAN, 0,
     0, VQ_OUT_FIZZLE, -1, 100, 0, 0, "fizzle"},
    {"four-digit code is no code", "2000 x", T0, T0 + 4000, NAN, 0, 0,
     VQ_OUT_NONE, -1, 4000, 0, 0, "none"},
    {"null heartbeat falls back to shutdown_time", NULL, T0, NAN, T0 + 100, 0,
     4, VQ_OUT_FIZZLE, -1, 100, 0, 400, "fizzle"},
    {"null heartbeat, long run by shutdown_time", "200 Success", T0, NAN,
     T0 + 5000, 0, 4, VQ_OUT_200, 200, 5000, 0, 20000, "200"},
    {"heartbeat wins over shutdown_time", "200 Success", T0, T0 + 4000,
     T0 + 4100, 0, 1, VQ_OUT_200, 200, 4000, 0, 4000, "200"},
    {"no heartbeat and no shutdown: wall 0, none", NULL, T0, NAN, NAN, 7, 10,
     VQ_OUT_NONE, -1, 0, 7, 0, "none"},
    {"null started: wall 0, none", NULL, NAN, T0 + 100, T0 + 200, 7, 10,
     VQ_OUT_NONE, -1, 0, 7, 0, "none"},
    {"null started with a code", "700 Failed to start", NAN, NAN, T0, 0, 10,
     VQ_OUT_700, 700, 0, 0, 0, "700"},
    {"null cpu_seconds and hs06 count as 0", "200 Success", T0, T0 + 4000, NAN,
     NAN, NAN, VQ_OUT_200, 200, 4000, 0, 0, "200"},
};

static void test_finished_outcome_table(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(finished_cases); i++) {
    const char *ctx = finished_cases[i].name;
    vq_message_t m = mk_machine(
        "lhcb", "lhcb-prod", finished_cases[i].msg, finished_cases[i].started,
        finished_cases[i].heartbeat, finished_cases[i].shutdown,
        finished_cases[i].cpu, finished_cases[i].hs06);
    vq_ident_t id;
    vq_finished_t f;
    CHECK_INT(ctx, vq_finished_from_message(&m, 600, &id, &f), VQ_OK);
    if (f.outcome != finished_cases[i].outcome)
      fail_msg("[%s] outcome %s, expected %s", ctx, vq_outcome_name(f.outcome),
               vq_outcome_name(finished_cases[i].outcome));
    CHECK_INT(ctx, f.code, finished_cases[i].code);
    CHECK_NUM(ctx, f.wall_seconds, finished_cases[i].wall);
    CHECK_NUM(ctx, f.cpu_seconds, finished_cases[i].cpu_out);
    CHECK_NUM(ctx, f.hs06_seconds, finished_cases[i].hs06_s);
    char ti[VQ_NAME_MAX];
    snprintf(ti, sizeof(ti), "lhcb.lhcb-prod.%s", finished_cases[i].suffix);
    CHECK_CSTR(ctx, id.type_instance, ti);
    CHECK_CSTR(ctx, id.host, "UKI-EXAMPLE");
    CHECK_CSTR(ctx, id.plugin_instance,
               "vac01_example_ac_uk.vac101_example_ac_uk");
  }
}

/* FizzleSeconds is a parameter, not a constant. */
static void test_finished_fizzle_threshold_is_a_parameter(void **state) {
  (void)state;
  static const struct {
    double fizzle, wall;
    vq_outcome_t outcome;
  } cases[] = {
      {600, 300, VQ_OUT_FIZZLE},   {300, 300, VQ_OUT_NONE},
      {301, 300, VQ_OUT_FIZZLE},   {0, 1, VQ_OUT_NONE},
      {3600, 3599, VQ_OUT_FIZZLE},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m =
        mk_machine(NULL, "mt", NULL, T0, T0 + cases[i].wall, NAN, 0, 0);
    vq_ident_t id;
    vq_finished_t f;
    char ctx[64];
    snprintf(ctx, sizeof(ctx), "fizzle %g, wall %g", cases[i].fizzle,
             cases[i].wall);
    CHECK_INT(ctx, vq_finished_from_message(&m, cases[i].fizzle, &id, &f),
              VQ_OK);
    CHECK_INT(ctx, f.outcome, cases[i].outcome);
  }
}

static const struct {
  const char *file, *host, *pi, *ti;
  vq_outcome_t outcome;
  int code;
  double cpu, wall, hs06_s;
} finished_examples[] = {
    {"machine_status-vac-man-fizzle.json", "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "gridpp.gridpp.fizzle", VQ_OUT_FIZZLE, -1, 41, 182, 10.5 * 182},
    {"machine_status-vac-man-success.json", "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "lhcb.lhcb-prod.none", VQ_OUT_NONE, -1, 1159337, 158381, 84.0 * 158381},
    {"machine_status-vac-responder-shutdown.json", "UKI-NORTHGRID-MAN-HEP",
     "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
     "lhcb.lhcb-prod.200", VQ_OUT_200, 200, 1159337, 158381, 84.0 * 158381},
    {"machine_status-vac-nofqan.json", "pp_example_ac_uk",
     "vac01_pp_example_ac_uk.vachost07_pp_example_ac_uk",
     "none.test-docker.none", VQ_OUT_NONE, -1, 4711, 4908, 4908},
    {"machine_status-vcycle-failure.json", "UKI-EXAMPLE-CLOUD",
     "vcycle01_cloud_example_ac_uk.vcycle01_example_ac_uk",
     "none.lhcb-prod.700", VQ_OUT_700, 700, 38991, 35283, 89.6 * 35283},
    {"machine_status-vcycle-success.json", "UKI-EXAMPLE-CLOUD",
     "vcycle01_cloud_example_ac_uk.vcycle01_example_ac_uk",
     "none.lhcb-prod.200", VQ_OUT_200, 200, 161371, 161347, 89.6 * 161347},
};

static void test_finished_from_examples(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(finished_examples); i++) {
    const char *ctx = finished_examples[i].file;
    vq_message_t m;
    vq_test_parse_fixture(ctx, &m);
    vq_ident_t id;
    vq_finished_t f;
    vq_reason_t r = vq_finished_from_message(&m, 600, &id, &f);
    vq_message_clear(&m);
    CHECK_INT(ctx, r, VQ_OK);
    CHECK_CSTR(ctx, id.host, finished_examples[i].host);
    CHECK_CSTR(ctx, id.plugin_instance, finished_examples[i].pi);
    CHECK_CSTR(ctx, id.type_instance, finished_examples[i].ti);
    CHECK_INT(ctx, f.outcome, finished_examples[i].outcome);
    CHECK_INT(ctx, f.code, finished_examples[i].code);
    CHECK_NUM(ctx, f.cpu_seconds, finished_examples[i].cpu);
    CHECK_NUM(ctx, f.wall_seconds, finished_examples[i].wall);
    CHECK_NUM(ctx, f.hs06_seconds, finished_examples[i].hs06_s);
  }
}

/* "<vo>.<machinetype>.<outcome>" must fit in 127 bytes. */
static void test_finished_type_instance_length_limit(void **state) {
  (void)state;
  static const struct {
    const char *name;
    size_t vo, mt;
    const char *msg; /* NULL + short run: fizzle */
    vq_reason_t reason;
  } cases[] = {
      {"60.59.fizzle = 127 fits", 60, 59, NULL, VQ_OK},
      {"60.60.fizzle = 128 is too long", 60, 60, NULL, VQ_REJ_TOO_LONG},
      {"60.60.none = 126 fits", 60, 60, "", VQ_OK},
      {"60.62.200 = 127 fits", 60, 62, "200 ok", VQ_OK},
      {"60.63.200 = 128 is too long", 60, 63, "200 ok", VQ_REJ_TOO_LONG},
      {"vo.mt alone too long", 80, 80, "200 ok", VQ_REJ_TOO_LONG},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char vo[256], mt[256];
    memset(vo, 'v', cases[i].vo);
    vo[cases[i].vo] = '\0';
    memset(mt, 'm', cases[i].mt);
    mt[cases[i].mt] = '\0';
    /* "" as message with a long run gives "none" */
    int none = cases[i].msg != NULL && cases[i].msg[0] == '\0';
    vq_message_t m = mk_machine(vo, mt, none ? NULL : cases[i].msg, T0,
                                T0 + (none ? 4000 : 10), NAN, 0, 0);
    vq_ident_t id;
    vq_finished_t f;
    vq_reason_t r = vq_finished_from_message(&m, 600, &id, &f);
    CHECK_INT(cases[i].name, r, cases[i].reason);
    if (r == VQ_OK)
      CHECK_INT(cases[i].name, strlen(id.type_instance),
                cases[i].vo + 1 + cases[i].mt + 1 +
                    strlen(vq_outcome_name(f.outcome)));
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_ds_cover_the_fields_once),
      cmocka_unit_test(test_sample_from_examples),
      cmocka_unit_test(test_sample_rejects_machine_status),
      cmocka_unit_test(test_sample_rejects_names_too_long),
      cmocka_unit_test(test_shutdown_code_table),
      cmocka_unit_test(test_outcome_names),
      cmocka_unit_test(test_finished_outcome_table),
      cmocka_unit_test(test_finished_fizzle_threshold_is_a_parameter),
      cmocka_unit_test(test_finished_from_examples),
      cmocka_unit_test(test_finished_type_instance_length_limit),
  };
  return cmocka_run_group_tests(tests, vq_test_setup, vq_test_teardown);
}
