/* SPDX-License-Identifier: MIT */
/*
 * es_template.c: index templates adapted to prefix and mode (see
 * es_template.h).
 */
#include "es_template.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int es_template_name(char *buf, size_t size, const char *prefix,
                     es_kind_t kind) {
  int n = snprintf(buf, size, "%s-%s", prefix,
                   kind == ES_KIND_METRICS ? "metrics" : "events");
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

char *es_template_body(const char *template_json, es_kind_t kind,
                       es_mode_t mode, const char *prefix, char *err,
                       size_t errlen) {
  return es_template_body_lc(template_json, kind, mode, prefix, NULL, err,
                             errlen);
}

/* Returns the object member key of o, added empty when missing or not an
 * object (owned by o). */
static json_object *es_member(json_object *o, const char *key) {
  json_object *m;
  if (!json_object_object_get_ex(o, key, &m) ||
      !json_object_is_type(m, json_type_object)) {
    m = json_object_new_object();
    json_object_object_add(o, key, m);
  }
  return m;
}

/* Applies lc to the template root (see es_template_body_lc). */
static void es_apply_lifecycle(json_object *root, es_mode_t mode,
                               const es_lifecycle_t *lc) {
  if (lc == NULL)
    return;
  json_object *tpl = es_member(root, "template");
  if (lc->policy != NULL)
    json_object_object_add(es_member(tpl, "settings"),
                           lc->opensearch
                               ? "plugins.index_state_management.policy_id"
                               : "index.lifecycle.name",
                           json_object_new_string(lc->policy));
  if (lc->retention != NULL && mode == ES_MODE_DATASTREAM)
    json_object_object_add(es_member(tpl, "lifecycle"), "data_retention",
                           json_object_new_string(lc->retention));
}

char *es_template_body_lc(const char *template_json, es_kind_t kind,
                          es_mode_t mode, const char *prefix,
                          const es_lifecycle_t *lc, char *err, size_t errlen) {
  json_object *root = json_tokener_parse(template_json);
  if (root == NULL || !json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    snprintf(err, errlen, "the index template is not a JSON object");
    return NULL;
  }
  char name[300], pattern[310];
  if (es_template_name(name, sizeof(name), prefix, kind) != 0) {
    json_object_put(root);
    snprintf(err, errlen, "IndexPrefix is too long");
    return NULL;
  }
  snprintf(pattern, sizeof(pattern), mode == ES_MODE_DAILY ? "%s-*" : "%s",
           name);
  json_object *patterns = json_object_new_array();
  json_object_array_add(patterns, json_object_new_string(pattern));
  json_object_object_add(root, "index_patterns", patterns);
  if (mode == ES_MODE_DATASTREAM)
    json_object_object_add(root, "data_stream", json_object_new_object());
  else
    json_object_object_del(root, "data_stream");
  es_apply_lifecycle(root, mode, lc);
  const char *text = json_object_to_json_string_ext(
      root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *out = text ? strdup(text) : NULL;
  json_object_put(root);
  if (out == NULL)
    snprintf(err, errlen, "out of memory");
  return out;
}
