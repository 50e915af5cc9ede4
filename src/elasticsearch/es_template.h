/* SPDX-License-Identifier: MIT */
/*
 * es_template.h: the composable index templates the writer installs
 * (PUT _index_template/<prefix>-<metrics|events>).
 *
 * The shipped files graphs/elasticsearch/vacmon-{metrics,events}.json are
 * the templates for IndexPrefix "vacmon" and IndexMode daily; the build
 * embeds them (es_template_metrics_json, es_template_events_json) and
 * es_template_body adapts one to the configured prefix and mode.
 */
#ifndef ES_TEMPLATE_H
#define ES_TEMPLATE_H

#include "es_doc.h"

#include <stdbool.h>
#include <stddef.h>

/* The shipped template files, embedded at build time (es_templates.c). */
extern const char es_template_metrics_json[];
extern const char es_template_events_json[];

/* Writes the template name "<prefix>-<metrics|events>" into buf. Returns 0,
 * or -1 when it does not fit. */
int es_template_name(char *buf, size_t size, const char *prefix,
                     es_kind_t kind);

/* Returns the request body for template_json (a template as shipped)
 * adapted to prefix and mode: index_patterns becomes
 * ["<prefix>-<kind>-*"] (daily) or ["<prefix>-<kind>"] with
 * "data_stream":{} (datastream; removed in daily mode). The caller frees
 * the result. Returns NULL, with a message in err, when template_json is
 * not a JSON object or memory runs out. */
char *es_template_body(const char *template_json, es_kind_t kind,
                       es_mode_t mode, const char *prefix, char *err,
                       size_t errlen);

/* Index lifecycle settings a node adds to its templates. */
typedef struct {
  const char *policy;    /* LifecyclePolicy, NULL: none */
  bool opensearch;       /* Flavour "opensearch": ISM instead of ILM */
  const char *retention; /* DataRetention ("30d"), data streams; NULL */
} es_lifecycle_t;

/* As es_template_body, and with lc (NULL: none) applied: the policy goes
 * to template.settings as "index.lifecycle.name" (Elasticsearch ILM) or
 * "plugins.index_state_management.policy_id" (OpenSearch ISM); in
 * datastream mode a retention goes to template.lifecycle.data_retention
 * (Elasticsearch 8.14+). */
char *es_template_body_lc(const char *template_json, es_kind_t kind,
                          es_mode_t mode, const char *prefix,
                          const es_lifecycle_t *lc, char *err, size_t errlen);

/* As es_template_body_lc for any template: index_patterns becomes
 * ["<base>-*"] (daily) or ["<base>"] with "data_stream":{} (datastream),
 * lc is applied, and component (NULL: none) is listed in composed_of. */
char *es_template_adapt(const char *template_json, const char *base,
                        es_mode_t mode, const es_lifecycle_t *lc,
                        const char *component, char *err, size_t errlen);

/* One request of the template installation. */
typedef struct {
  char name[320];  /* the template's name */
  char path[360];  /* "/_component_template/<name>", "/_index_template/.." */
  bool if_missing; /* a site's component template: GET it first and PUT
                      only when the answer is 404, never overwrite it */
  char *body;      /* the PUT body (owned) */
} es_tpl_req_t;

/* The requests that install a node's templates, in order. */
typedef struct {
  es_tpl_req_t *reqs;
  size_t num;
} es_tpl_plan_t;

/* Fills plan with the requests for format, mode, prefix and lc: first the
 * empty component template(s) a site fills with its own settings
 * (collectd: "<prefix>-metrics@custom", "<prefix>-events@custom"; vacmon:
 * "[<prefix>-]vacmon@custom"), created only when missing, then the index
 * templates that list them in composed_of (collectd: "<prefix>-metrics",
 * "<prefix>-events"; vacmon: "[<prefix>-]factories", "-machinetypes",
 * "-machines"). Returns 0, or -1 with a message in err (plan empty). Free
 * with es_template_plan_free. */
int es_template_plan(es_tpl_plan_t *plan, es_format_t format, es_mode_t mode,
                     const char *prefix, const es_lifecycle_t *lc, char *err,
                     size_t errlen);

/* Frees the requests of plan and empties it. */
void es_template_plan_free(es_tpl_plan_t *plan);

#endif
