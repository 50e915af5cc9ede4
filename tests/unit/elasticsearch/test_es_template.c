/* SPDX-License-Identifier: MIT */
/*
 * test_es_template.c: unit tests for src/elasticsearch/es_template.c and the
 * shipped templates in graphs/elasticsearch/.
 */
#include "elasticsearch/es_template.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <json-c/json.h>

#ifndef ES_TEMPLATE_DIR
#define ES_TEMPLATE_DIR "graphs/elasticsearch"
#endif

/* Reads ES_TEMPLATE_DIR/name; the caller frees. */
static char *read_file(const char *name) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", ES_TEMPLATE_DIR, name);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  char *buf = calloc(1, 1 << 20);
  size_t n = fread(buf, 1, (1 << 20) - 1, f);
  fclose(f);
  buf[n] = '\0';
  return buf;
}

/* Returns the object at the dotted path below o (NULL if absent). */
static json_object *at(json_object *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", path);
  for (char *save, *k = strtok_r(buf, ".", &save); k && o;
       k = strtok_r(NULL, ".", &save))
    if (!json_object_object_get_ex(o, k, &o))
      return NULL;
  return o;
}

static const char *str_at(json_object *o, const char *path) {
  json_object *v = at(o, path);
  return v ? json_object_get_string(v) : "(absent)";
}

static void test_embedded_equals_shipped(void **state) {
  (void)state;
  char *m = read_file("vacmon-metrics.json");
  char *e = read_file("vacmon-events.json");
  CHECK_CSTR("metrics", es_template_metrics_json, m);
  CHECK_CSTR("events", es_template_events_json, e);
  free(m);
  free(e);
}

/* The mapping rules the documents rely on, in both shipped templates. */
static void test_shipped_mappings(void **state) {
  (void)state;
  const char *texts[] = {es_template_metrics_json, es_template_events_json};
  for (size_t i = 0; i < 2; i++) {
    json_object *t = json_tokener_parse(texts[i]);
    assert_non_null(t);
    const char *ctx = i == 0 ? "metrics" : "events";
    CHECK_CSTR(ctx, str_at(t, "template.mappings.properties.@timestamp.type"),
               "date");
    static const char *const kw[] = {
        "host", "plugin", "plugin_instance", "type", "type_instance",
        "site", "space",  "factory",         "vo",   "machinetype"};
    for (size_t k = 0; k < COUNT(kw); k++) {
      char path[128];
      snprintf(path, sizeof(path), "template.mappings.properties.%s.type",
               kw[k]);
      CHECK_CSTR(kw[k], str_at(t, path), "keyword");
    }
    CHECK_CSTR(ctx, str_at(t, "template.mappings.properties.time_sent.format"),
               "epoch_second");
    assert_null(at(t, "data_stream")); /* shipped for daily indices */
    json_object *dyn = at(t, "template.mappings.dynamic_templates");
    assert_non_null(dyn);
    /* Numbers are doubles in both (meta and event fields); the metrics
     * template also maps every values.* field to double. */
    int strings_keyword = 0, values_double = 0, long_double = 0,
        float_double = 0;
    for (size_t k = 0; k < json_object_array_length(dyn); k++) {
      json_object *d = json_object_array_get_idx(dyn, k);
      json_object_object_foreach(d, name, rule) {
        (void)name;
        const char *match = str_at(rule, "match_mapping_type");
        int to_double = strcmp(str_at(rule, "mapping.type"), "double") == 0;
        if (strcmp(match, "string") == 0 &&
            strcmp(str_at(rule, "mapping.type"), "keyword") == 0)
          strings_keyword = 1;
        if (strcmp(str_at(rule, "path_match"), "values.*") == 0 && to_double)
          values_double = 1;
        if (strcmp(match, "long") == 0 && to_double)
          long_double = 1;
        if (strcmp(match, "double") == 0 && to_double)
          float_double = 1;
      }
    }
    CHECK_INT(ctx, strings_keyword, 1);
    CHECK_INT(ctx, long_double, 1);
    CHECK_INT(ctx, float_double, 1);
    if (i == 0)
      CHECK_INT(ctx, values_double, 1);
    json_object_put(t);
  }
}

static void test_adapt_to_prefix_and_mode(void **state) {
  (void)state;
  static const struct {
    es_kind_t kind;
    es_mode_t mode;
    const char *prefix, *pattern;
    int data_stream;
  } rows[] = {
      {ES_KIND_METRICS, ES_MODE_DAILY, "vacmon", "vacmon-metrics-*", 0},
      {ES_KIND_EVENTS, ES_MODE_DAILY, "vacmon", "vacmon-events-*", 0},
      {ES_KIND_METRICS, ES_MODE_DATASTREAM, "grid", "grid-metrics", 1},
      {ES_KIND_EVENTS, ES_MODE_DATASTREAM, "grid", "grid-events", 1},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    char err[128] = "";
    const char *src = rows[i].kind == ES_KIND_METRICS ? es_template_metrics_json
                                                      : es_template_events_json;
    char *body = es_template_body(src, rows[i].kind, rows[i].mode,
                                  rows[i].prefix, err, sizeof(err));
    assert_non_null(body);
    json_object *t = json_tokener_parse(body);
    assert_non_null(t);
    json_object *p = at(t, "index_patterns");
    CHECK_INT(rows[i].pattern, json_object_array_length(p), 1);
    CHECK_CSTR(rows[i].pattern,
               json_object_get_string(json_object_array_get_idx(p, 0)),
               rows[i].pattern);
    CHECK_INT(rows[i].pattern, at(t, "data_stream") != NULL,
              rows[i].data_stream);
    CHECK_CSTR(rows[i].pattern,
               str_at(t, "template.mappings.properties.@timestamp.type"),
               "date");
    CHECK_INT(rows[i].pattern, json_object_get_int(at(t, "priority")), 200);
    json_object_put(t);
    free(body);
  }
  /* Daily mode removes a data_stream a site added to its copy. */
  char err[128];
  char *body =
      es_template_body("{\"data_stream\":{},\"priority\":1}", ES_KIND_METRICS,
                       ES_MODE_DAILY, "v", err, sizeof(err));
  CHECK_CSTR("daily", body,
             "{\"priority\":1,\"index_patterns\":[\"v-metrics-*\"]}");
  free(body);
}

static void test_errors(void **state) {
  (void)state;
  char err[128];
  static const char *const bad[] = {"", "[1]", "{\"a\":", "not json", "5"};
  for (size_t i = 0; i < COUNT(bad); i++) {
    err[0] = '\0';
    assert_null(es_template_body(bad[i], ES_KIND_METRICS, ES_MODE_DAILY, "v",
                                 err, sizeof(err)));
    CHECK_CSTR(bad[i], err, "the index template is not a JSON object");
  }
  char prefix[400];
  memset(prefix, 'p', sizeof(prefix) - 1);
  prefix[sizeof(prefix) - 1] = '\0';
  assert_null(es_template_body("{}", ES_KIND_EVENTS, ES_MODE_DAILY, prefix, err,
                               sizeof(err)));
  CHECK_CSTR("long", err, "IndexPrefix is too long");
  char name[32];
  assert_int_equal(es_template_name(name, sizeof(name), "x", ES_KIND_EVENTS),
                   0);
  CHECK_CSTR("name", name, "x-events");
  assert_int_equal(es_template_name(name, 8, "x", ES_KIND_EVENTS), -1);
}

/* LifecyclePolicy, Flavour and DataRetention in the template body. */
static void test_lifecycle(void **state) {
  (void)state;
  static const struct {
    es_mode_t mode;
    es_lifecycle_t lc;
    const char *ilm, *ism, *retention; /* expected, "(absent)" if none */
  } rows[] = {
      {ES_MODE_DAILY,
       {"vacmon-30d", false, NULL},
       "vacmon-30d",
       "(absent)",
       "(absent)"},
      {ES_MODE_DAILY,
       {"keep-90d", true, NULL},
       "(absent)",
       "keep-90d",
       "(absent)"},
      {ES_MODE_DATASTREAM, {NULL, false, "30d"}, "(absent)", "(absent)", "30d"},
      {ES_MODE_DAILY, {NULL, false, "30d"}, "(absent)", "(absent)", "(absent)"},
      {ES_MODE_DATASTREAM, {"p", false, "7d"}, "p", "(absent)", "7d"},
  };
  for (size_t i = 0; i < COUNT(rows); i++) {
    for (int k = 0; k < 2; k++) {
      char err[128] = "", ctx[64];
      snprintf(ctx, sizeof(ctx), "row %zu kind %d", i, k);
      char *body = es_template_body_lc(
          k == 0 ? es_template_metrics_json : es_template_events_json,
          (es_kind_t)k, rows[i].mode, "vacmon", &rows[i].lc, err, sizeof(err));
      assert_non_null(body);
      json_object *t = json_tokener_parse(body);
      assert_non_null(t);
      json_object *settings = at(t, "template.settings");
      json_object *v;
      const char *ilm = settings && json_object_object_get_ex(
                                        settings, "index.lifecycle.name", &v)
                            ? json_object_get_string(v)
                            : "(absent)";
      const char *ism =
          settings &&
                  json_object_object_get_ex(
                      settings, "plugins.index_state_management.policy_id", &v)
              ? json_object_get_string(v)
              : "(absent)";
      CHECK_CSTR(ctx, ilm, rows[i].ilm);
      CHECK_CSTR(ctx, ism, rows[i].ism);
      CHECK_CSTR(ctx, str_at(t, "template.lifecycle.data_retention"),
                 rows[i].retention);
      /* The mappings are kept. */
      CHECK_CSTR(ctx, str_at(t, "template.mappings.properties.@timestamp.type"),
                 "date");
      json_object_put(t);
      free(body);
    }
  }
  /* Without lifecycle settings the body is what es_template_body makes. */
  char err[128];
  char *a = es_template_body(es_template_metrics_json, ES_KIND_METRICS,
                             ES_MODE_DAILY, "v", err, sizeof(err));
  char *b = es_template_body_lc(es_template_metrics_json, ES_KIND_METRICS,
                                ES_MODE_DAILY, "v", NULL, err, sizeof(err));
  CHECK_CSTR("no lifecycle", a, b);
  assert_null(strstr(a, "lifecycle"));
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifecycle),
      cmocka_unit_test(test_embedded_equals_shipped),
      cmocka_unit_test(test_shipped_mappings),
      cmocka_unit_test(test_adapt_to_prefix_and_mode),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
