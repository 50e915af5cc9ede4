/* SPDX-License-Identifier: MIT */
/*
 * test_es_doc.c: unit tests for src/elasticsearch/es_doc.c: documents, _id,
 * index names.
 */
#include "elasticsearch/es_doc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <json-c/json.h>

/* 2026-11-23T02:15:00.123456789Z in ns. */
#define T0 (1795400100ull * 1000000000ull + 123456789ull)

static const es_field_t mt_values[] = {
    {.key = "running_processors", .kind = ES_VAL_DOUBLE, .v.d = 16},
    {.key = "load", .kind = ES_VAL_DOUBLE, .v.d = NAN},
    {.key = "machines", .kind = ES_VAL_INT, .v.i = -3},
    {.key = "bytes", .kind = ES_VAL_UINT, .v.u = UINT64_MAX},
};

static const es_field_t mt_meta[] = {
    {.key = "site", .kind = ES_VAL_STRING, .v.s = "UKI-NORTHGRID-MAN-HEP"},
    {.key = "vo", .kind = ES_VAL_STRING, .v.s = "vo.northgrid.ac.uk"},
    {.key = "host", .kind = ES_VAL_STRING, .v.s = "collides"},
    {.key = "values", .kind = ES_VAL_INT, .v.i = 7},
    {.key = "time_sent", .kind = ES_VAL_INT, .v.i = 1795400099},
    {.key = "ok", .kind = ES_VAL_BOOL, .v.b = true},
    {.key = "ratio", .kind = ES_VAL_DOUBLE, .v.d = 0.125},
    {.key = "nothing", .kind = ES_VAL_NULL},
    {.key = "", .kind = ES_VAL_INT, .v.i = 1},   /* skipped */
    {.key = NULL, .kind = ES_VAL_INT, .v.i = 1}, /* skipped */
    {.key = "quote\"d", .kind = ES_VAL_STRING, .v.s = "Z\xc3\xbcrich \"q\""},
};

static es_metric_t metric(void) {
  es_metric_t m = {
      .id = {"UKI-NORTHGRID-MAN-HEP", "vacquery", "space.factory",
             "vacquery_mt", "lhcb.lhcb-prod"},
      .time_ns = T0,
      .interval = 180,
      .values = mt_values,
      .values_num = COUNT(mt_values),
      .meta = mt_meta,
      .meta_num = COUNT(mt_meta),
  };
  return m;
}

static void test_metric_json_exact(void **state) {
  (void)state;
  es_metric_t m = metric();
  cm_buf_t b = CM_BUF_INIT;
  assert_int_equal(es_metric_json(&b, &m), 0);
  CHECK_CSTR(
      "metric", b.data,
      "{\"@timestamp\":\"2026-11-23T02:15:00.123Z\","
      "\"host\":\"UKI-NORTHGRID-MAN-HEP\",\"plugin\":\"vacquery\","
      "\"plugin_instance\":\"space.factory\",\"type\":\"vacquery_mt\","
      "\"type_instance\":\"lhcb.lhcb-prod\",\"interval\":180,"
      "\"values\":{\"running_processors\":16,\"load\":null,\"machines\":-3,"
      "\"bytes\":18446744073709551615},"
      "\"site\":\"UKI-NORTHGRID-MAN-HEP\",\"vo\":\"vo.northgrid.ac.uk\","
      "\"meta_host\":\"collides\",\"meta_values\":7,"
      "\"time_sent\":1795400099,\"ok\":true,\"ratio\":0.125,"
      "\"nothing\":null,\"quote\\\"d\":\"Z\xc3\xbcrich \\\"q\\\"\"}");
  json_object *o = json_tokener_parse(b.data);
  assert_non_null(o);
  json_object_put(o);
  cm_buf_free(&b);
}

static void test_event_json_exact(void **state) {
  (void)state;
  static const es_field_t meta[] = {
      {.key = "message", .kind = ES_VAL_STRING, .v.s = "meta message"},
      {.key = "severity", .kind = ES_VAL_INT, .v.i = 1},
      {.key = "interval", .kind = ES_VAL_INT, .v.i = 5}, /* free in events */
      {.key = "outcome", .kind = ES_VAL_STRING, .v.s = "fizzle"},
  };
  static const struct {
    int severity;
    const char *name;
  } sev[] = {{1, "FAILURE"}, {2, "WARNING"}, {4, "OKAY"}, {3, "UNKNOWN"}};
  for (size_t i = 0; i < COUNT(sev); i++) {
    es_event_t e = {
        .id = {"SITE", "vacquery", "pi", "vacquery_finished", "ti"},
        .time_ns = 0,
        .severity = sev[i].severity,
        .message = "Machine m1 finished\n",
        .meta = meta,
        .meta_num = COUNT(meta),
    };
    cm_buf_t b = CM_BUF_INIT;
    assert_int_equal(es_event_json(&b, &e), 0);
    char want[1024];
    snprintf(want, sizeof(want),
             "{\"@timestamp\":\"1970-01-01T00:00:00.000Z\",\"severity\":\"%s\","
             "\"host\":\"SITE\",\"plugin\":\"vacquery\","
             "\"plugin_instance\":\"pi\",\"type\":\"vacquery_finished\","
             "\"type_instance\":\"ti\","
             "\"message\":\"Machine m1 finished\\u000a\","
             "\"meta_message\":\"meta message\",\"meta_severity\":1,"
             "\"interval\":5,\"outcome\":\"fizzle\"}",
             sev[i].name);
    CHECK_CSTR(sev[i].name, b.data, want);
    cm_buf_free(&b);
  }
}

/* A lifecycle notification (type vacquery_machine_state): the machine and
 * its states are top-level fields of the event document, where the events
 * template maps machine as keyword (and the states, strings, as keyword
 * through its strings_as_keyword dynamic template), so a term query on
 * machine finds it. */
static void test_lifecycle_event_json(void **state) {
  (void)state;
  static const es_field_t meta[] = {
      {.key = "event", .kind = ES_VAL_STRING, .v.s = "machine_state"},
      {.key = "site", .kind = ES_VAL_STRING, .v.s = "UKI-NORTHGRID-MAN-HEP"},
      {.key = "factory",
       .kind = ES_VAL_STRING,
       .v.s = "vac101.tier2.hep.manchester.ac.uk"},
      {.key = "machine",
       .kind = ES_VAL_STRING,
       .v.s = "vac101-05.tier2.hep.manchester.ac.uk"},
      {.key = "old_state", .kind = ES_VAL_STRING, .v.s = "Starting"},
      {.key = "new_state", .kind = ES_VAL_STRING, .v.s = "Running"},
      {.key = "started_time", .kind = ES_VAL_INT, .v.i = 1542768954},
  };
  es_event_t e = {
      .id =
          {"UKI-NORTHGRID-MAN-HEP", "vacquery",
           "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
           "vacquery_machine_state",
           "lhcb.lhcb-prod.vac101-05_tier2_hep_manchester_ac_uk"},
      .time_ns = T0,
      .severity = 4,
      .message = "machine vac101-05.tier2.hep.manchester.ac.uk: Starting -> "
                 "Running",
      .meta = meta,
      .meta_num = sizeof(meta) / sizeof(meta[0]),
  };
  cm_buf_t b = CM_BUF_INIT;
  assert_int_equal(es_event_json(&b, &e), 0);
  CHECK_CSTR(
      "lifecycle", b.data,
      "{\"@timestamp\":\"2026-11-23T02:15:00.123Z\",\"severity\":\"OKAY\","
      "\"host\":\"UKI-NORTHGRID-MAN-HEP\",\"plugin\":\"vacquery\","
      "\"plugin_instance\":\"vac01_tier2_hep_manchester_ac_uk.vac101_tier2_"
      "hep_manchester_ac_uk\",\"type\":\"vacquery_machine_state\","
      "\"type_instance\":\"lhcb.lhcb-prod.vac101-05_tier2_hep_manchester_ac_"
      "uk\",\"message\":\"machine vac101-05.tier2.hep.manchester.ac.uk: "
      "Starting -> Running\",\"event\":\"machine_state\",\"site\":\"UKI-"
      "NORTHGRID-MAN-HEP\",\"factory\":\"vac101.tier2.hep.manchester.ac.uk\","
      "\"machine\":\"vac101-05.tier2.hep.manchester.ac.uk\",\"old_state\":"
      "\"Starting\",\"new_state\":\"Running\",\"started_time\":1542768954}");
  cm_buf_free(&b);
}

static void test_fixed_fields(void **state) {
  (void)state;
  static const struct {
    es_kind_t kind;
    const char *key;
    int fixed;
  } rows[] = {
      {ES_KIND_METRICS, "@timestamp", 1},   {ES_KIND_METRICS, "values", 1},
      {ES_KIND_METRICS, "interval", 1},     {ES_KIND_METRICS, "message", 0},
      {ES_KIND_METRICS, "site", 0},         {ES_KIND_EVENTS, "message", 1},
      {ES_KIND_EVENTS, "severity", 1},      {ES_KIND_EVENTS, "values", 0},
      {ES_KIND_EVENTS, "type_instance", 1}, {ES_KIND_EVENTS, "Host", 0},
  };
  for (size_t i = 0; i < COUNT(rows); i++)
    CHECK_INT(rows[i].key, es_doc_fixed_field(rows[i].kind, rows[i].key),
              rows[i].fixed);
}

static void test_index_names(void **state) {
  (void)state;
  char buf[ES_INDEX_MAX];
  static const struct {
    es_mode_t mode;
    es_kind_t kind;
    uint64_t t;
    const char *want;
  } rows[] = {
      {ES_MODE_DAILY, ES_KIND_METRICS, T0, "vacmon-metrics-2026.11.23"},
      {ES_MODE_DAILY, ES_KIND_EVENTS, T0, "vacmon-events-2026.11.23"},
      /* 23:59:59.999 and midnight UTC fall on different days */
      {ES_MODE_DAILY, ES_KIND_METRICS, 1795478399999000000ull,
       "vacmon-metrics-2026.11.23"},
      {ES_MODE_DAILY, ES_KIND_METRICS, 1795478400000000000ull,
       "vacmon-metrics-2026.11.24"},
      {ES_MODE_DAILY, ES_KIND_EVENTS, 0, "vacmon-events-1970.01.01"},
      {ES_MODE_DATASTREAM, ES_KIND_METRICS, T0, "vacmon-metrics"},
      {ES_MODE_DATASTREAM, ES_KIND_EVENTS, T0, "vacmon-events"},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    assert_int_equal(es_index_name(buf, sizeof(buf), rows[i].mode, "vacmon",
                                   rows[i].kind, rows[i].t),
                     0);
    CHECK_CSTR(rows[i].want, buf, rows[i].want);
  }
  /* Too small a buffer is an error, never a truncated name. */
  assert_int_equal(
      es_index_name(buf, 10, ES_MODE_DAILY, "vacmon", ES_KIND_METRICS, T0), -1);
  assert_int_equal(
      es_index_name(buf, 14, ES_MODE_DATASTREAM, "vacmon", ES_KIND_METRICS, T0),
      -1);
  assert_int_equal(
      es_index_name(buf, 15, ES_MODE_DATASTREAM, "vacmon", ES_KIND_METRICS, T0),
      0);
}

static void test_timestamp(void **state) {
  (void)state;
  char buf[32];
  assert_int_equal(es_timestamp(buf, sizeof(buf), T0), 0);
  CHECK_CSTR("T0", buf, "2026-11-23T02:15:00.123Z");
  assert_int_equal(es_timestamp(buf, sizeof(buf), 999999), 0);
  CHECK_CSTR("sub-ms", buf, "1970-01-01T00:00:00.000Z");
  assert_int_equal(es_timestamp(buf, 25, T0), 0);
  assert_int_equal(es_timestamp(buf, 24, T0), -1);
  /* The largest uint64 ns is in 2554: still 4 digits. */
  assert_int_equal(es_timestamp(buf, sizeof(buf), UINT64_MAX), 0);
  CHECK_CSTR("max", buf, "2554-07-21T23:34:33.709Z");
}

static void test_doc_id(void **state) {
  (void)state;
  es_ident_t a = {"h", "p", "pi", "t", "ti"};
  char id1[ES_ID_LEN + 1], id2[ES_ID_LEN + 1];
  es_doc_id(id1, &a, T0, NULL);
  assert_int_equal(strlen(id1), ES_ID_LEN);
  for (size_t i = 0; i < ES_ID_LEN; i++)
    assert_true((id1[i] >= '0' && id1[i] <= '9') ||
                (id1[i] >= 'a' && id1[i] <= 'f'));
  es_doc_id(id2, &a, T0, NULL);
  CHECK_CSTR("same input, same _id", id1, id2);
  /* Every input changes it, and field boundaries count. */
  static const es_ident_t others[] = {
      {"h", "p", "pi", "t", "tj"},  {"hp", "", "pi", "t", "ti"},
      {"h", "p", "p", "it", "ti"},  {"h", "p", "pi", "t", ""},
      {NULL, "p", "pi", "t", "ti"},
  };
  for (size_t i = 0; i < COUNT(others); i++) {
    es_doc_id(id2, &others[i], T0, NULL);
    if (strcmp(id1, id2) == 0)
      fail_msg("row %zu: same _id for a different identifier", i);
  }
  es_doc_id(id2, &a, T0 + 1, NULL);
  assert_string_not_equal(id1, id2);
  es_doc_id(id2, &a, T0, "");
  assert_string_not_equal(id1, id2);
  char id3[ES_ID_LEN + 1];
  es_doc_id(id3, &a, T0, "other message");
  assert_string_not_equal(id2, id3);
  /* A vector computed independently (Python, FNV-1a 128) pins the
   * algorithm (a change would re-store
   * everything a spool replays after an upgrade as duplicates). */
  es_ident_t empty = {"", "", "", "", ""};
  es_doc_id(id1, &empty, 0, NULL);
  CHECK_CSTR("vector", id1, "4d7b456f30591aa6338f6fc1a92b852f");
}

static void test_pairs(void **state) {
  (void)state;
  es_metric_t m = metric();
  size_t len = 0;
  char *p = es_metric_pair(&m, ES_MODE_DAILY, "vacmon", &len);
  assert_non_null(p);
  assert_int_equal(strlen(p), len);
  char id[ES_ID_LEN + 1];
  es_doc_id(id, &m.id, m.time_ns, NULL);
  char want[200];
  snprintf(want, sizeof(want),
           "{\"create\":{\"_index\":\"vacmon-metrics-2026.11.23\",\"_id\":"
           "\"%s\"}}\n{\"@timestamp\":",
           id);
  assert_memory_equal(p, want, strlen(want));
  assert_int_equal(p[len - 1], '\n');
  assert_null(memchr(p + strlen(want), '\n', len - strlen(want) - 1));
  free(p);

  es_event_t e = {.id = m.id, .time_ns = T0, .severity = 2, .message = NULL};
  p = es_event_pair(&e, ES_MODE_DATASTREAM, "x", &len);
  assert_non_null(p);
  es_doc_id(id, &e.id, T0, "");
  snprintf(want, sizeof(want),
           "{\"create\":{\"_index\":\"x-events\",\"_id\":\"%s\"}}\n", id);
  assert_memory_equal(p, want, strlen(want));
  assert_non_null(strstr(p, "\"message\":\"\""));
  free(p);

  /* An index name that does not fit fails instead of truncating. */
  char prefix[400];
  memset(prefix, 'a', sizeof(prefix) - 1);
  prefix[sizeof(prefix) - 1] = '\0';
  assert_null(es_metric_pair(&m, ES_MODE_DAILY, prefix, &len));
  assert_null(es_event_pair(&e, ES_MODE_DAILY, prefix, &len));
}

static void test_mode_and_severity(void **state) {
  (void)state;
  es_mode_t mode = ES_MODE_DATASTREAM;
  assert_int_equal(es_mode_parse("Daily", &mode), 0);
  assert_int_equal(mode, ES_MODE_DAILY);
  assert_int_equal(es_mode_parse("DATASTREAM", &mode), 0);
  assert_int_equal(mode, ES_MODE_DATASTREAM);
  assert_int_equal(es_mode_parse("weekly", &mode), -1);
  assert_int_equal(es_mode_parse(NULL, &mode), -1);
  assert_int_equal(mode, ES_MODE_DATASTREAM);
  CHECK_CSTR("sev", es_severity_name(0), "UNKNOWN");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metric_json_exact),
      cmocka_unit_test(test_event_json_exact),
      cmocka_unit_test(test_lifecycle_event_json),
      cmocka_unit_test(test_fixed_fields),
      cmocka_unit_test(test_index_names),
      cmocka_unit_test(test_timestamp),
      cmocka_unit_test(test_doc_id),
      cmocka_unit_test(test_pairs),
      cmocka_unit_test(test_mode_and_severity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
