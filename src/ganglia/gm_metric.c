/* SPDX-License-Identifier: MIT */
/*
 * gm_metric.c: a collectd value to the parameters of one Ganglia gmetric.
 */
#include "gm_metric.h"

#include "common/cm_key.h"
#include "common/cm_name.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Returns 1 when name matches rule pattern p (exact, or "*suffix"). */
static int gm_pattern_match(const char *p, const char *name) {
  if (p[0] != '*')
    return strcmp(p, name) == 0;
  size_t pl = strlen(p + 1), nl = strlen(name);
  return nl > pl && strcmp(name + nl - pl, p + 1) == 0;
}

const char *gm_metric_units(const gm_units_t *u, const char *ds_name,
                            int *integral) {
  for (size_t i = 0; u != NULL && i < u->num; i++) {
    if (gm_pattern_match(u->rules[i].pattern, ds_name)) {
      *integral = u->rules[i].integral;
      return u->rules[i].units;
    }
  }
  *integral = 0;
  return "";
}

int gm_units_add(gm_units_t *u, const char *pattern, const char *units,
                 int integral) {
  if (pattern == NULL || pattern[0] == '\0' || units == NULL)
    return -1;
  size_t cap = u->num; /* the table is exactly full */
  if (cm_vec_reserve((void **)&u->rules, &cap, u->num + 1, sizeof(*u->rules)) !=
      0)
    return -1;
  gm_unit_rule_t *r = &u->rules[u->num];
  r->pattern = strdup(pattern);
  r->units = strdup(units);
  r->integral = integral != 0;
  if (r->pattern == NULL || r->units == NULL) {
    free(r->pattern);
    free(r->units);
    return -1;
  }
  u->num++;
  return 0;
}

void gm_units_free(gm_units_t *u) {
  for (size_t i = 0; i < u->num; i++) {
    free(u->rules[i].pattern);
    free(u->rules[i].units);
  }
  free(u->rules);
  u->rules = NULL;
  u->num = 0;
}

int gm_name_clean(char *dst, size_t size, const char *src) {
  return cm_name_sanitise(dst, size, src, strlen(src), CM_NAME_KEEP_DOTS);
}

/* Joins the non-empty parts[0..n-1] with '.' into dst, cleaned. Returns the
 * length, or -1 when it does not fit or the result is empty. */
static int gm_join(char *dst, size_t size, const char *const *parts, size_t n) {
  char raw[GM_NAME_MAX * 3];
  size_t len = 0;
  raw[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (parts[i] == NULL || parts[i][0] == '\0')
      continue;
    int w = snprintf(raw + len, sizeof(raw) - len, "%s%s", len ? "." : "",
                     parts[i]);
    if (w < 0 || (size_t)w >= sizeof(raw) - len)
      return -1;
    len += (size_t)w;
  }
  return gm_name_clean(dst, size, raw);
}

/* Formats v of kind k into out->value/type. integral: the DS counts whole
 * things. Returns GM_OK, GM_SKIP_NAN or GM_BAD_INPUT. */
static gm_status_t gm_format(gm_ds_kind_t k, const gm_value_t *v, int integral,
                             gm_metric_t *out) {
  if (k == GM_DS_DERIVE || k == GM_DS_COUNTER) {
    /* Modulo 2^32: an RRD COUNTER handles the wrap. */
    uint64_t u = k == GM_DS_DERIVE ? (uint64_t)v->derive : v->counter;
    out->type = "uint32";
    out->slope = GM_SLOPE_POSITIVE;
    snprintf(out->value, sizeof(out->value), "%u", (unsigned)(uint32_t)u);
    return GM_OK;
  }
  out->slope = GM_SLOPE_BOTH;
  if (k == GM_DS_ABSOLUTE) {
    out->type = "double";
    snprintf(out->value, sizeof(out->value), "%llu",
             (unsigned long long)v->absolute);
    return GM_OK;
  }
  double g = v->gauge;
  if (isnan(g))
    return GM_SKIP_NAN;
  if (isinf(g))
    return GM_BAD_INPUT;
  if (integral && g >= 0 && g <= 4294967295.0 && g == floor(g)) {
    out->type = "uint32";
    snprintf(out->value, sizeof(out->value), "%.0f", g);
  } else if (fabs(g) < 1e30 && (strcmp(out->units, "HS06") == 0 ||
                                strcmp(out->units, "load") == 0)) {
    /* Benchmark scores and load: float is precise enough. */
    out->type = "float";
    snprintf(out->value, sizeof(out->value), "%.9g", g);
  } else {
    out->type = "double";
    snprintf(out->value, sizeof(out->value), "%.15g", g);
  }
  return GM_OK;
}

/* Returns s, or "" for NULL. */
static const char *gm_or_empty(const char *s) {
  return s != NULL ? s : "";
}

gm_status_t gm_metric_map(const gm_vl_t *vl, const gm_ds_t *ds,
                          const gm_value_t *v, unsigned dmax,
                          const gm_units_t *units, gm_metric_t *out) {
  if (vl->host == NULL || vl->host[0] == '\0' || vl->type == NULL ||
      vl->type[0] == '\0' || ds->name == NULL || ds->name[0] == '\0' ||
      vl->plugin == NULL)
    return GM_BAD_INPUT;
  const char *gh = gm_or_empty(vl->ganglia_host);
  if (gm_name_clean(out->host, sizeof(out->host), gh[0] ? gh : vl->host) < 0)
    return GM_TOO_LONG;
  const char *parts[6] = {gm_or_empty(vl->name_prefix),     vl->plugin,
                          gm_or_empty(vl->plugin_instance), vl->type,
                          gm_or_empty(vl->type_instance),   ds->name};
  if (vl->short_name) /* the prefix, then from the type on */
    parts[1] = parts[2] = "";
  if (gm_join(out->name, sizeof(out->name), parts, 6) < 0)
    return GM_TOO_LONG;
  int integral;
  out->units = gm_metric_units(units, ds->name, &integral);
  gm_status_t st = gm_format(ds->kind, v, integral, out);
  if (st != GM_OK)
    return st;
  double iv = vl->interval > 0 && vl->interval < 4e9 ? ceil(vl->interval) : 1;
  out->tmax = iv < 1 ? 1 : (unsigned)iv;
  out->dmax = dmax;
  return GM_OK;
}

const char *gm_status_name(gm_status_t s) {
  switch (s) {
  case GM_OK:
    return "ok";
  case GM_SKIP_NAN:
    return "nan";
  case GM_TOO_LONG:
    return "name_too_long";
  case GM_BAD_INPUT:
    return "bad_input";
  }
  return "unknown";
}
