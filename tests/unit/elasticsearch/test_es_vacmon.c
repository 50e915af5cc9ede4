/* SPDX-License-Identifier: MIT */
/*
 * test_es_vacmon.c: unit tests for src/elasticsearch/es_vacmon.c (VacMon
 * documents of write_elasticsearch Format "vacmon") and the template plan
 * of es_template.c. Expected documents are written out literally.
 */
#include "elasticsearch/es_template.h"
#include "elasticsearch/es_vacmon.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <json-c/json.h>

/* 2026-11-23T02:15:00.123Z in ns. */
#define T0 (1795400100ull * 1000000000ull + 123456789ull)

#define S(k, x)                                                                \
  { .key = k, .kind = ES_VAL_STRING, .v.s = x }
#define I(k, x)                                                                \
  { .key = k, .kind = ES_VAL_INT, .v.i = x }
#define D(k, x)                                                                \
  { .key = k, .kind = ES_VAL_DOUBLE, .v.d = x }
#define B(k, x)                                                                \
  { .key = k, .kind = ES_VAL_BOOL, .v.b = x }

/* A Vac 1.0 factory_status (VacQuery 0.4): only legacy names for most
 * numbers, as vacquery passes it (ints as signed, floats as double). */
static const es_field_t legacy_factory[] = {
    S("message_type", "factory_status"),
    S("vac_version", "Vac 01.00.00 vacd-factory"),
    S("site", "vac01.tier2.example.ac.uk"),
    I("running_cpus", 12),
    I("total_cpus", 24),
    I("max_cpus", 99),
    I("total_machines", 24),
    D("total_hs06", 240.5),
    I("vac_disk_avail_kb", 1000),
    I("vac_disk_avail_inodes", 2000),
    D("load_average", 3),
    I("time_sent", 1795400098),
    S("source_address", "127.0.0.2"),
};

/* A Vac 3.1 machinetype_status: running_processors arrives as 16.0, a
 * number as a string, vacquery's own vo and source_address meta. */
static const es_field_t machinetype[] = {
    S("message_type", "machinetype_status"),
    S("machinetype", "lhcb-vm"),
    D("running_processors", 16.0),
    I("total_machines", 4),
    S("num_before_fizzle", "2"),
    S("max_wallclock_seconds", "lots"),
    S("fqan", "/lhcb/Role=NULL/Capability=NULL"),
    {.key = "shutdown_time", .kind = ES_VAL_NULL},
    I("bytes_per_processor", 2147483648),
    S("vo", "lhcb"),
    S("source_address", "127.0.0.2"),
};

/* A finished machine: vacquery's outcome meta are not message fields. */
static const es_field_t machine[] = {
    S("message_type", "machine_status"),
    S("machine", "vac101-05.tier2.example.ac.uk"),
    S("state", "Running"),
    I("num_cpus", 8),
    I("cpu_percentage", 0),
    D("cpu_seconds", 3600.75),
    D("started_time", 1795390000.9),
    I("uuid", 42),
    S("fqan", "atlas"),
    B("odd", true),
    S("outcome", "fizzle"),
    D("wall_seconds", 90),
    D("hs06_seconds", 900),
    S("vo", "none"),
    S("time_received", "forged"),
};

#define EV(pl, ty, m)                                                          \
  {                                                                            \
    .id = {"site", pl, "space.factory", ty, ""}, .time_ns = T0, .severity = 4, \
    .message = "msg", .meta = m, .meta_num = sizeof(m) / sizeof(m[0])          \
  }

typedef struct {
  const char *name;
  es_event_t ev;
  bool timestamp;
  es_vm_index_t ix;
  const char *doc;
} doc_case_t;

static const doc_case_t doc_cases[] = {
    {"legacy factory", EV("vacquery", "vacquery_message", legacy_factory),
     false, ES_VM_FACTORIES,
     "{\"message_type\":\"factory_status\",\"vac_version\":\"Vac 01.00.00 "
     "vacd-factory\",\"site\":\"vac01.tier2.example.ac.uk\",\"running_cpus\":"
     "12,\"total_cpus\":24,\"max_cpus\":99,\"total_machines\":24,"
     "\"total_hs06\":240.5,\"vac_disk_avail_kb\":1000,"
     "\"vac_disk_avail_inodes\":2000,\"load_average\":3,\"time_sent\":"
     "1795400098,\"daemon_version\":\"Vac 01.00.00 vacd-factory\","
     "\"running_processors\":12,\"max_processors\":24,\"max_machines\":24,"
     "\"max_hs06\":240.5,\"daemon_disk_avail_kb\":1000,"
     "\"daemon_disk_avail_inodes\":2000,\"time_received\":1795400100}"},
    {"machinetype", EV("vacquery", "vacquery_message", machinetype), false,
     ES_VM_MACHINETYPES,
     "{\"message_type\":\"machinetype_status\",\"machinetype\":\"lhcb-vm\","
     "\"running_processors\":16,\"total_machines\":4,\"num_before_fizzle\":2,"
     "\"fqan\":\"/lhcb/Role=NULL/Capability=NULL\",\"bytes_per_processor\":"
     "2147483648,\"running_machines\":4,\"vo\":\"lhcb\",\"time_received\":"
     "1795400100}"},
    {"machine, data stream", EV("vacquery", "vacquery_finished", machine), true,
     ES_VM_MACHINES,
     "{\"@timestamp\":\"2026-11-23T02:15:00.123Z\",\"message_type\":"
     "\"machine_status\",\"machine\":\"vac101-05.tier2.example.ac.uk\","
     "\"state\":\"Running\",\"num_cpus\":8,\"cpu_percentage\":0,"
     "\"cpu_seconds\":3600,\"started_time\":1795390000,\"uuid\":\"42\","
     "\"fqan\":\"atlas\",\"odd\":true,\"num_processors\":8,"
     "\"time_received\":1795400100}"},
};

static void test_documents(void **state) {
  (void)state;
  char err[256];
  es_vacmon_t *vm = es_vacmon_new(err, sizeof(err));
  assert_non_null(vm);
  for (size_t i = 0; i < sizeof(doc_cases) / sizeof(doc_cases[0]); i++) {
    const doc_case_t *c = &doc_cases[i];
    es_vm_index_t ix = ES_VM_COUNT;
    CHECK_INT(c->name, es_vacmon_route(&c->ev, &ix), 0);
    CHECK_INT(c->name, ix, c->ix);
    cm_buf_t out = CM_BUF_INIT;
    CHECK_INT(c->name, es_vacmon_json(vm, &out, &c->ev, ix, c->timestamp), 0);
    CHECK_CSTR(c->name, out.data, c->doc);
    cm_buf_free(&out);
  }
  es_vacmon_free(vm);
}

/* What a vacmon node ignores. */
static void test_route_ignores(void **state) {
  (void)state;
  static const es_field_t no_type[] = {S("site", "x")};
  static const es_field_t fs[] = {S("message_type", "factory_status")};
  static const es_field_t ms[] = {S("message_type", "machine_status")};
  const es_event_t evs[] = {
      EV("vacquery", "vacquery_message", no_type),
      EV("vacquery", "vacquery_message", ms),
      EV("vacquery", "vacquery_factory", fs), /* a factory went silent */
      EV("vacquery", "vacquery_machine_state", ms),
      EV("threshold", "vacquery_message", fs),
      EV("vacquery", "vacquery_finished", fs),
  };
  for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
    es_vm_index_t ix;
    char name[32];
    snprintf(name, sizeof(name), "event %zu", i);
    CHECK_INT(name, es_vacmon_route(&evs[i], &ix), -1);
    size_t len = 99;
    bool ignored = false;
    assert_null(
        es_vacmon_pair(NULL, &evs[i], ES_MODE_DAILY, "", &len, &ignored));
    CHECK_INT(name, ignored, 1);
    CHECK_INT(name, (int)len, 0);
  }
}

static void test_index_names(void **state) {
  (void)state;
  static const struct {
    es_mode_t mode;
    const char *prefix;
    es_vm_index_t ix;
    const char *want;
  } rows[] = {
      {ES_MODE_DAILY, NULL, ES_VM_FACTORIES, "factories-2026.11.23"},
      {ES_MODE_DAILY, "", ES_VM_MACHINETYPES, "machinetypes-2026.11.23"},
      {ES_MODE_DAILY, "site1", ES_VM_MACHINES, "site1-machines-2026.11.23"},
      {ES_MODE_DATASTREAM, NULL, ES_VM_FACTORIES, "factories"},
      {ES_MODE_DATASTREAM, "vm", ES_VM_MACHINES, "vm-machines"},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    char buf[64];
    CHECK_INT(rows[i].want,
              es_vacmon_index_name(buf, sizeof(buf), rows[i].mode,
                                   rows[i].prefix, rows[i].ix, T0),
              0);
    CHECK_CSTR(rows[i].want, buf, rows[i].want);
  }
  char small[8];
  CHECK_INT("too small",
            es_vacmon_index_name(small, sizeof(small), ES_MODE_DATASTREAM, "",
                                 ES_VM_MACHINETYPES, T0),
            -1);
  char comp[64];
  es_vacmon_component_name(comp, sizeof(comp), NULL);
  CHECK_CSTR("component", comp, "vacmon@custom");
  es_vacmon_component_name(comp, sizeof(comp), "site1");
  CHECK_CSTR("component", comp, "site1-vacmon@custom");
}

/* The mapping types come from the shipped templates. */
static void test_types(void **state) {
  (void)state;
  char err[256];
  es_vacmon_t *vm = es_vacmon_new(err, sizeof(err));
  assert_non_null(vm);
  static const struct {
    es_vm_index_t ix;
    const char *key;
    es_vm_type_t want;
  } rows[] = {
      {ES_VM_FACTORIES, "running_processors", ES_VM_LONG},
      {ES_VM_FACTORIES, "load_average", ES_VM_DOUBLE},
      {ES_VM_FACTORIES, "site", ES_VM_KEYWORD},
      {ES_VM_FACTORIES, "boot_time", ES_VM_DATE},
      {ES_VM_FACTORIES, "time_received", ES_VM_DATE},
      {ES_VM_FACTORIES, "running_cpus", ES_VM_UNMAPPED},
      {ES_VM_FACTORIES, "vo", ES_VM_UNMAPPED},
      {ES_VM_MACHINETYPES, "vo", ES_VM_KEYWORD},
      {ES_VM_MACHINETYPES, "running_hs06", ES_VM_DOUBLE},
      {ES_VM_MACHINETYPES, "shutdown_time", ES_VM_DATE},
      {ES_VM_MACHINES, "cpu_seconds", ES_VM_LONG},
      {ES_VM_MACHINES, "hs06", ES_VM_DOUBLE},
      {ES_VM_MACHINES, "machine", ES_VM_KEYWORD},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
    CHECK_INT(rows[i].key, es_vacmon_type(vm, rows[i].ix, rows[i].key),
              rows[i].want);
  es_vacmon_free(vm);
}

/* The bulk pair: a create into the daily index with the event's _id. */
static void test_pair(void **state) {
  (void)state;
  char err[256];
  es_vacmon_t *vm = es_vacmon_new(err, sizeof(err));
  static const es_field_t f[] = {S("message_type", "factory_status"),
                                 S("site", "s"), I("running_processors", 3)};
  es_event_t e = EV("vacquery", "vacquery_message", f);
  size_t len = 0;
  bool ignored = true;
  char *pair = es_vacmon_pair(vm, &e, ES_MODE_DAILY, "p", &len, &ignored);
  assert_non_null(pair);
  CHECK_INT("ignored", ignored, 0);
  char id[ES_ID_LEN + 1], want[512];
  es_doc_id(id, &e.id, T0,
            "{\"message_type\":\"factory_status\",\"site\":\"s\","
            "\"running_processors\":3,\"time_received\":1795400100}");
  snprintf(want, sizeof(want),
           "{\"create\":{\"_index\":\"p-factories-2026.11.23\",\"_id\":\"%s\"}}"
           "\n{\"message_type\":\"factory_status\",\"site\":\"s\","
           "\"running_processors\":3,\"time_received\":1795400100}\n",
           id);
  CHECK_CSTR("pair", pair, want);
  CHECK_INT("len", (int)len, (int)strlen(want));
  free(pair);
  es_vacmon_free(vm);
}

/* Two messages of one factory received at the same instant (same
 * identifier, time and message text) are two documents: their _ids differ;
 * the same message twice is one. */
static void test_pair_ids(void **state) {
  (void)state;
  char err[256];
  es_vacmon_t *vm = es_vacmon_new(err, sizeof(err));
  static const es_field_t f1[] = {S("message_type", "factory_status"),
                                  I("time_sent", 1700000000)};
  static const es_field_t f2[] = {S("message_type", "factory_status"),
                                  I("time_sent", 1700000001)};
  es_event_t e1 = EV("vacquery", "vacquery_message", f1);
  es_event_t e2 = EV("vacquery", "vacquery_message", f2);
  size_t l1, l2, l3;
  bool ig;
  char *p1 = es_vacmon_pair(vm, &e1, ES_MODE_DAILY, "", &l1, &ig);
  char *p2 = es_vacmon_pair(vm, &e2, ES_MODE_DAILY, "", &l2, &ig);
  char *p3 = es_vacmon_pair(vm, &e1, ES_MODE_DAILY, "", &l3, &ig);
  assert_non_null(p1);
  assert_non_null(p2);
  assert_non_null(p3);
  /* {"create":{"_index":"factories-2026.11.23","_id":"<32 hex>"}} */
  const size_t at = strlen("{\"create\":{\"_index\":\"factories-2026.11.23\","
                           "\"_id\":\"");
  CHECK_INT("two messages, two _ids", memcmp(p1 + at, p2 + at, ES_ID_LEN) != 0,
            1);
  CHECK_INT("one message twice, one _id", memcmp(p1 + at, p3 + at, ES_ID_LEN),
            0);
  free(p1);
  free(p2);
  free(p3);
  es_vacmon_free(vm);
}

static void test_format_parse(void **state) {
  (void)state;
  es_format_t f = ES_FORMAT_VACMON;
  CHECK_INT("collectd", es_format_parse("Collectd", &f), 0);
  CHECK_INT("collectd", f, ES_FORMAT_COLLECTD);
  CHECK_INT("vacmon", es_format_parse("VACMON", &f), 0);
  CHECK_INT("vacmon", f, ES_FORMAT_VACMON);
  CHECK_INT("bad", es_format_parse("kibana", &f), -1);
  CHECK_INT("null", es_format_parse(NULL, &f), -1);
}

/* The template plan: components first, created only when missing, then
 * the index templates composing them. */
static void test_plan(void **state) {
  (void)state;
  static const struct {
    es_format_t format;
    es_mode_t mode;
    const char *prefix;
    const char *paths[4];
    bool if_missing[4];
    const char *composed[4];
  } rows[] = {
      {ES_FORMAT_COLLECTD,
       ES_MODE_DAILY,
       "vacmon",
       {"/_component_template/vacmon-metrics@custom",
        "/_component_template/vacmon-events@custom",
        "/_index_template/vacmon-metrics", "/_index_template/vacmon-events"},
       {true, true, false, false},
       {NULL, NULL, "[\"vacmon-metrics@custom\"]",
        "[\"vacmon-events@custom\"]"}},
      {ES_FORMAT_VACMON,
       ES_MODE_DAILY,
       "",
       {"/_component_template/vacmon@custom", "/_index_template/factories",
        "/_index_template/machinetypes", "/_index_template/machines"},
       {true, false, false, false},
       {NULL, "[\"vacmon@custom\"]", "[\"vacmon@custom\"]",
        "[\"vacmon@custom\"]"}},
      {ES_FORMAT_VACMON,
       ES_MODE_DATASTREAM,
       "s1",
       {"/_component_template/s1-vacmon@custom",
        "/_index_template/s1-factories", "/_index_template/s1-machinetypes",
        "/_index_template/s1-machines"},
       {true, false, false, false},
       {NULL, "[\"s1-vacmon@custom\"]", "[\"s1-vacmon@custom\"]",
        "[\"s1-vacmon@custom\"]"}},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    es_tpl_plan_t plan;
    char err[256];
    es_lifecycle_t lc = {.policy = "keep30"};
    CHECK_INT("plan",
              es_template_plan(&plan, rows[i].format, rows[i].mode,
                               rows[i].prefix, &lc, err, sizeof(err)),
              0);
    CHECK_INT("num", (int)plan.num, 4);
    for (size_t k = 0; k < 4 && k < plan.num; k++) {
      es_tpl_req_t *r = &plan.reqs[k];
      CHECK_CSTR("path", r->path, rows[i].paths[k]);
      CHECK_INT(r->path, r->if_missing, rows[i].if_missing[k]);
      json_object *root = json_tokener_parse(r->body);
      assert_non_null(root);
      json_object *v = NULL;
      if (rows[i].if_missing[k]) {
        /* Empty: the site's settings go there. */
        json_object_object_get_ex(root, "template", &v);
        CHECK_CSTR(r->path, json_object_to_json_string(v), "{ }");
      } else {
        json_object_object_get_ex(root, "composed_of", &v);
        CHECK_CSTR(r->path,
                   json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                   rows[i].composed[k]);
        json_object *t, *st, *p;
        json_object_object_get_ex(root, "template", &t);
        json_object_object_get_ex(t, "settings", &st);
        assert_non_null(st);
        CHECK_INT(r->path,
                  json_object_object_get_ex(st, "index.lifecycle.name", &p), 1);
        CHECK_CSTR(r->path, json_object_get_string(p), "keep30");
        CHECK_INT(r->path, json_object_object_get_ex(root, "data_stream", &p),
                  rows[i].mode == ES_MODE_DATASTREAM);
        CHECK_INT(r->path,
                  json_object_object_get_ex(
                      root, "ignore_missing_component_templates", &p),
                  0);
      }
      json_object_put(root);
    }
    es_template_plan_free(&plan);
    CHECK_INT("freed", (int)plan.num, 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documents),   cmocka_unit_test(test_route_ignores),
      cmocka_unit_test(test_index_names), cmocka_unit_test(test_types),
      cmocka_unit_test(test_pair),        cmocka_unit_test(test_format_parse),
      cmocka_unit_test(test_plan),        cmocka_unit_test(test_pair_ids),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
