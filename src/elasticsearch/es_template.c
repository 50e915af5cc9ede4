/* SPDX-License-Identifier: MIT */
/*
 * es_template.c: index templates adapted to prefix and mode (see
 * es_template.h).
 */
#include "es_template.h"

#include "es_vacmon.h"

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
  char name[300];
  if (es_template_name(name, sizeof(name), prefix, kind) != 0) {
    snprintf(err, errlen, "IndexPrefix is too long");
    return NULL;
  }
  return es_template_adapt(template_json, name, mode, lc, NULL, err, errlen);
}

char *es_template_adapt(const char *template_json, const char *base,
                        es_mode_t mode, const es_lifecycle_t *lc,
                        const char *component, char *err, size_t errlen) {
  json_object *root = json_tokener_parse(template_json);
  if (root == NULL || !json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    snprintf(err, errlen, "the index template is not a JSON object");
    return NULL;
  }
  char pattern[310];
  if (snprintf(pattern, sizeof(pattern), mode == ES_MODE_DAILY ? "%s-*" : "%s",
               base) >= (int)sizeof(pattern)) {
    json_object_put(root);
    snprintf(err, errlen, "IndexPrefix is too long");
    return NULL;
  }
  json_object *patterns = json_object_new_array();
  json_object_array_add(patterns, json_object_new_string(pattern));
  json_object_object_add(root, "index_patterns", patterns);
  if (mode == ES_MODE_DATASTREAM)
    json_object_object_add(root, "data_stream", json_object_new_object());
  else
    json_object_object_del(root, "data_stream");
  if (component != NULL) {
    json_object *list = json_object_new_array();
    json_object_array_add(list, json_object_new_string(component));
    json_object_object_add(root, "composed_of", list);
  }
  es_apply_lifecycle(root, mode, lc);
  const char *text = json_object_to_json_string_ext(
      root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  char *out = text ? strdup(text) : NULL;
  json_object_put(root);
  if (out == NULL)
    snprintf(err, errlen, "out of memory");
  return out;
}

void es_template_plan_free(es_tpl_plan_t *plan) {
  for (size_t i = 0; i < plan->num; i++)
    free(plan->reqs[i].body);
  free(plan->reqs);
  plan->reqs = NULL;
  plan->num = 0;
}

/* Appends the empty component template name (created only when missing).
 * Returns 0, or -1 with a message in err. */
static int es_plan_component(es_tpl_plan_t *plan, const char *name,
                             const char *what, char *err, size_t errlen) {
  es_tpl_req_t *r = &plan->reqs[plan->num];
  char body[512];
  snprintf(body, sizeof(body),
           "{\"template\":{},\"_meta\":{\"description\":\"Site settings "
           "for the %s indices: created empty by collectd-vacmon when "
           "missing, never overwritten\"}}",
           what);
  snprintf(r->name, sizeof(r->name), "%s", name);
  snprintf(r->path, sizeof(r->path), "/_component_template/%s", name);
  r->if_missing = true;
  r->body = strdup(body);
  if (r->body == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  plan->num++;
  return 0;
}

/* Appends the index template base (from template_json) composing
 * component. Returns 0 or -1 with a message in err. */
static int es_plan_index(es_tpl_plan_t *plan, const char *template_json,
                         const char *base, es_mode_t mode,
                         const es_lifecycle_t *lc, const char *component,
                         char *err, size_t errlen) {
  es_tpl_req_t *r = &plan->reqs[plan->num];
  snprintf(r->name, sizeof(r->name), "%s", base);
  snprintf(r->path, sizeof(r->path), "/_index_template/%s", base);
  r->if_missing = false;
  r->body =
      es_template_adapt(template_json, base, mode, lc, component, err, errlen);
  if (r->body == NULL)
    return -1;
  plan->num++;
  return 0;
}

int es_template_plan(es_tpl_plan_t *plan, es_format_t format, es_mode_t mode,
                     const char *prefix, const es_lifecycle_t *lc, char *err,
                     size_t errlen) {
  plan->num = 0;
  plan->reqs = calloc(ES_VM_COUNT + 2, sizeof(*plan->reqs));
  if (plan->reqs == NULL || prefix == NULL || strlen(prefix) > 200) {
    snprintf(err, errlen,
             plan->reqs ? "IndexPrefix is too long" : "out of memory");
    es_template_plan_free(plan);
    return -1;
  }
  int rc = 0;
  char base[300], comp[320];
  if (format == ES_FORMAT_VACMON) {
    es_vacmon_component_name(comp, sizeof(comp), prefix);
    rc = es_plan_component(plan, comp, "VacMon", err, errlen);
    for (int i = 0; rc == 0 && i < ES_VM_COUNT; i++) {
      es_vm_index_t ix = (es_vm_index_t)i;
      snprintf(base, sizeof(base), "%s%s%s", prefix, prefix[0] ? "-" : "",
               es_vacmon_index_base(ix));
      rc = es_plan_index(plan, es_vacmon_template_json(ix), base, mode, lc,
                         comp, err, errlen);
    }
  } else {
    static const es_kind_t kinds[] = {ES_KIND_METRICS, ES_KIND_EVENTS};
    for (int i = 0; rc == 0 && i < 2; i++) {
      es_template_name(base, sizeof(base), prefix, kinds[i]);
      snprintf(comp, sizeof(comp), "%s@custom", base);
      rc = es_plan_component(plan, comp, kinds[i] ? "events" : "metrics", err,
                             errlen);
    }
    for (int i = 0; rc == 0 && i < 2; i++) {
      es_template_name(base, sizeof(base), prefix, kinds[i]);
      snprintf(comp, sizeof(comp), "%s@custom", base);
      rc = es_plan_index(
          plan, i == 0 ? es_template_metrics_json : es_template_events_json,
          base, mode, lc, comp, err, errlen);
    }
  }
  if (rc != 0) {
    es_template_plan_free(plan);
    return -1;
  }
  return 0;
}
