/* SPDX-License-Identifier: MIT */
/* vq_sample.c: messages to samples and finished-machine records. */
#include "vq_sample.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const vq_outcome_names[VQ_OUT_COUNT] = {
    "100", "200", "300", "400", "500", "600", "700", "other", "none", "fizzle"};

const char *vq_outcome_name(vq_outcome_t o) {
  return (unsigned)o < VQ_OUT_COUNT ? vq_outcome_names[o] : "unknown";
}

vq_reason_t vq_sample_from_message(const vq_message_t *m, vq_sample_t *s) {
  size_t n;
  const vq_type_id_t *types = vq_message_types(m->type, &n);
  if (types == NULL)
    return VQ_REJ_UNKNOWN_TYPE;
  vq_reason_t r = vq_ident_from_message(m, &s->id);
  if (r != VQ_OK)
    return r;
  s->lists_num = n;
  for (size_t k = 0; k < n; k++) {
    const vq_type_t *t = vq_type(types[k]);
    vq_values_t *l = &s->lists[k];
    l->type = types[k];
    l->values_num = t->ds_num;
    for (size_t i = 0; i < t->ds_num; i++)
      l->values[i] = m->num[t->ds[i].field];
  }
  return VQ_OK;
}

int vq_shutdown_code(vq_str_t msg) {
  if (msg.ptr == NULL || msg.len < 3)
    return -1;
  int code = 0;
  for (size_t i = 0; i < 3; i++) {
    if (msg.ptr[i] < '0' || msg.ptr[i] > '9')
      return -1;
    code = code * 10 + (msg.ptr[i] - '0');
  }
  if (msg.len > 3 && msg.ptr[3] >= '0' && msg.ptr[3] <= '9')
    return -1;
  return code;
}

/* Returns b - a when both are known, non-zero times and b >= a, else NaN. */
static double vq_span(double a, double b) {
  if (!isfinite(a) || !isfinite(b) || a <= 0 || b < a)
    return NAN;
  return b - a;
}

/* Returns v when it is a finite, non-negative number, else 0. */
static double vq_or_zero(double v) {
  return isfinite(v) && v > 0 ? v : 0;
}

vq_reason_t vq_finished_from_message(const vq_message_t *m,
                                     double fizzle_seconds, vq_ident_t *id,
                                     vq_finished_t *f) {
  double started = m->num[VQ_N_STARTED_TIME];
  double wall = vq_span(started, m->num[VQ_N_HEARTBEAT_TIME]);
  if (isnan(wall))
    wall = vq_span(started, m->num[VQ_N_SHUTDOWN_TIME]);

  f->code = vq_shutdown_code(m->str[VQ_S_SHUTDOWN_MESSAGE]);
  if (f->code >= 100 && f->code < 800)
    f->outcome = (vq_outcome_t)(VQ_OUT_100 + f->code / 100 - 1);
  else if (f->code >= 0)
    f->outcome = VQ_OUT_OTHER;
  else if (!isnan(wall) && wall < fizzle_seconds)
    f->outcome = VQ_OUT_FIZZLE;
  else
    f->outcome = VQ_OUT_NONE;

  f->cpu_seconds = vq_or_zero(m->num[VQ_N_CPU_SECONDS]);
  f->wall_seconds = vq_or_zero(wall);
  f->hs06_seconds = vq_or_zero(m->num[VQ_N_HS06]) * f->wall_seconds;

  vq_reason_t r = vq_ident_from_message(m, id);
  if (r != VQ_OK)
    return r;
  size_t len = strlen(id->type_instance);
  int w = snprintf(id->type_instance + len, sizeof(id->type_instance) - len,
                   ".%s", vq_outcome_name(f->outcome));
  if (w < 0 || (size_t)w >= sizeof(id->type_instance) - len)
    return VQ_REJ_TOO_LONG;
  return VQ_OK;
}
