/* SPDX-License-Identifier: MIT */
/*
 * es_doc.c: value lists and notifications as Elasticsearch documents (see
 * es_doc.h).
 */
#include "es_doc.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A 128-bit unsigned number as two halves (portable C11, no __int128). */
typedef struct {
  uint64_t hi, lo;
} es_u128_t;

static const char *const es_kind_names[] = {"metrics", "events"};

/* Fixed top-level fields per kind, which meta keys must not overwrite. */
static const char *const es_metric_fields[] = {
    "@timestamp", "host",          "plugin",   "plugin_instance",
    "type",       "type_instance", "interval", "values"};
static const char *const es_event_fields[] = {
    "@timestamp",      "severity", "host",          "plugin",
    "plugin_instance", "type",     "type_instance", "message"};

#define ES_NFIXED (sizeof(es_metric_fields) / sizeof(es_metric_fields[0]))

const char *es_severity_name(int severity) {
  switch (severity) {
  case 1:
    return "FAILURE";
  case 2:
    return "WARNING";
  case 4:
    return "OKAY";
  default:
    return "UNKNOWN";
  }
}

int es_choice_parse(const char *s, const char *first, const char *second) {
  if (s != NULL && strcasecmp(s, first) == 0)
    return 0;
  if (s != NULL && strcasecmp(s, second) == 0)
    return 1;
  return -1;
}

int es_format_parse(const char *s, es_format_t *format) {
  int k = es_choice_parse(s, "collectd", "vacmon");
  if (k >= 0)
    *format = k == 1 ? ES_FORMAT_VACMON : ES_FORMAT_COLLECTD;
  return k >= 0 ? 0 : -1;
}

int es_mode_parse(const char *s, es_mode_t *mode) {
  int k = es_choice_parse(s, "daily", "datastream");
  if (k >= 0)
    *mode = k == 1 ? ES_MODE_DATASTREAM : ES_MODE_DAILY;
  return k >= 0 ? 0 : -1;
}

/* Splits time_ns into a UTC calendar time and milliseconds. Returns 0, or
 * -1 when gmtime_r fails. */
static int es_split_time(uint64_t time_ns, struct tm *tm, unsigned *ms) {
  time_t secs = (time_t)(time_ns / 1000000000u);
  *ms = (unsigned)((time_ns / 1000000u) % 1000u);
  if (gmtime_r(&secs, tm) == NULL)
    return -1;
  return 0;
}

int es_index_name(char *buf, size_t size, es_mode_t mode, const char *prefix,
                  es_kind_t kind, uint64_t time_ns) {
  int n;
  if (mode == ES_MODE_DATASTREAM) {
    n = snprintf(buf, size, "%s-%s", prefix, es_kind_names[kind]);
  } else {
    struct tm tm;
    unsigned ms;
    if (es_split_time(time_ns, &tm, &ms) != 0)
      return -1;
    n = snprintf(buf, size, "%s-%s-%04d.%02d.%02d", prefix, es_kind_names[kind],
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
  }
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int es_timestamp(char *buf, size_t size, uint64_t time_ns) {
  struct tm tm;
  unsigned ms;
  if (size < 25 || es_split_time(time_ns, &tm, &ms) != 0 ||
      tm.tm_year + 1900 > 9999)
    return -1;
  snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return 0;
}

/* Returns h times the FNV-128 prime 2^88 + 0x13B, modulo 2^128: h * 0x13B
 * (the low half's product carried into the high half) plus h << 88. */
static es_u128_t es_fnv_mul(es_u128_t h) {
  const uint64_t p = 0x13B;
  uint64_t a = (h.lo & 0xffffffffu) * p, b = (h.lo >> 32) * p;
  uint64_t mid = (a >> 32) + (b & 0xffffffffu);
  es_u128_t r;
  r.lo = (a & 0xffffffffu) | (mid << 32);
  r.hi = h.hi * p + (b >> 32) + (mid >> 32) + (h.lo << 24);
  return r;
}

/* Feeds n bytes into the FNV-1a 128 state h and returns the new state. */
static es_u128_t es_fnv(es_u128_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) {
    h.lo ^= s[i];
    h = es_fnv_mul(h);
  }
  return h;
}

/* Feeds the string s (NULL as "") and its terminating 0 byte. */
static es_u128_t es_fnv_str(es_u128_t h, const char *s) {
  if (s == NULL)
    s = "";
  return es_fnv(h, s, strlen(s) + 1);
}

void es_doc_id(char out[ES_ID_LEN + 1], const es_ident_t *id, uint64_t time_ns,
               const char *message) {
  es_u128_t h = {0x6c62272e07bb0142u, 0x62b821756295c58du};
  h = es_fnv_str(h, id->host);
  h = es_fnv_str(h, id->plugin);
  h = es_fnv_str(h, id->plugin_instance);
  h = es_fnv_str(h, id->type);
  h = es_fnv_str(h, id->type_instance);
  unsigned char t[8];
  for (int i = 0; i < 8; i++)
    t[i] = (unsigned char)(time_ns >> (8 * i));
  h = es_fnv(h, t, sizeof(t));
  if (message != NULL)
    h = es_fnv_str(h, message);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < ES_ID_LEN; i++) {
    int shift = 4 * (ES_ID_LEN - 1 - i);
    uint64_t half = shift >= 64 ? h.hi >> (shift - 64) : h.lo >> shift;
    out[i] = hex[half & 0xF];
  }
  out[ES_ID_LEN] = '\0';
}

int es_doc_fixed_field(es_kind_t kind, const char *key) {
  const char *const *names =
      kind == ES_KIND_METRICS ? es_metric_fields : es_event_fields;
  for (size_t i = 0; i < ES_NFIXED; i++)
    if (strcmp(names[i], key) == 0)
      return 1;
  return 0;
}

void es_field_json(cm_buf_t *out, const es_field_t *f) {
  switch (f->kind) {
  case ES_VAL_STRING:
    cm_buf_json_str(out, f->v.s);
    break;
  case ES_VAL_INT:
    cm_buf_json_int(out, f->v.i);
    break;
  case ES_VAL_UINT:
    cm_buf_json_uint(out, f->v.u);
    break;
  case ES_VAL_DOUBLE:
    cm_buf_json_double(out, f->v.d);
    break;
  case ES_VAL_BOOL:
    cm_buf_adds(out, f->v.b ? "true" : "false");
    break;
  default:
    cm_buf_adds(out, "null");
  }
}

/* Appends ,"key":value. */
static void es_json_member(cm_buf_t *out, const char *key,
                           const es_field_t *f) {
  cm_buf_add(out, ",", 1);
  cm_buf_json_str(out, key);
  cm_buf_add(out, ":", 1);
  es_field_json(out, f);
}

/* Appends ,"key":"s". */
static void es_json_str_member(cm_buf_t *out, const char *key, const char *s) {
  es_field_t f = {.key = key, .kind = ES_VAL_STRING, .v.s = s};
  es_json_member(out, key, &f);
}

/* Appends {"@timestamp":..., the identifier fields (no closing brace).
 * Returns 0 or -1 when the time cannot be written. */
static int es_json_head(cm_buf_t *out, uint64_t time_ns, const es_ident_t *id,
                        const char *severity) {
  char ts[32];
  if (es_timestamp(ts, sizeof(ts), time_ns) != 0)
    return -1;
  cm_buf_adds(out, "{\"@timestamp\":");
  cm_buf_json_str(out, ts);
  if (severity != NULL)
    es_json_str_member(out, "severity", severity);
  es_json_str_member(out, "host", id->host);
  es_json_str_member(out, "plugin", id->plugin);
  es_json_str_member(out, "plugin_instance", id->plugin_instance);
  es_json_str_member(out, "type", id->type);
  es_json_str_member(out, "type_instance", id->type_instance);
  return 0;
}

/* Appends the meta fields and the closing brace. A key that names a fixed
 * field becomes meta_<key>; NULL or empty keys are skipped. */
static int es_json_tail(cm_buf_t *out, es_kind_t kind, const es_field_t *meta,
                        size_t meta_num) {
  for (size_t i = 0; i < meta_num; i++) {
    const char *key = meta[i].key;
    if (key == NULL || key[0] == '\0')
      continue;
    if (es_doc_fixed_field(kind, key)) {
      char renamed[300];
      snprintf(renamed, sizeof(renamed), "meta_%s", key);
      es_json_member(out, renamed, &meta[i]);
    } else {
      es_json_member(out, key, &meta[i]);
    }
  }
  cm_buf_add(out, "}", 1);
  return cm_buf_ok(out) ? 0 : -1;
}

int es_metric_json(cm_buf_t *out, const es_metric_t *m) {
  if (es_json_head(out, m->time_ns, &m->id, NULL) != 0)
    return -1;
  cm_buf_adds(out, ",\"interval\":");
  cm_buf_json_double(out, m->interval);
  cm_buf_adds(out, ",\"values\":{");
  for (size_t i = 0; i < m->values_num; i++) {
    if (i > 0)
      cm_buf_add(out, ",", 1);
    cm_buf_json_str(out, m->values[i].key);
    cm_buf_add(out, ":", 1);
    es_field_json(out, &m->values[i]);
  }
  cm_buf_add(out, "}", 1);
  return es_json_tail(out, ES_KIND_METRICS, m->meta, m->meta_num);
}

int es_event_json(cm_buf_t *out, const es_event_t *e) {
  if (es_json_head(out, e->time_ns, &e->id, es_severity_name(e->severity)) != 0)
    return -1;
  es_json_str_member(out, "message", e->message);
  return es_json_tail(out, ES_KIND_EVENTS, e->meta, e->meta_num);
}

int es_bulk_pair(cm_buf_t *out, const char *index, const char *id,
                 const char *source, size_t source_len) {
  cm_buf_adds(out, "{\"create\":{\"_index\":");
  cm_buf_json_str(out, index);
  cm_buf_adds(out, ",\"_id\":");
  cm_buf_json_str(out, id);
  cm_buf_adds(out, "}}\n");
  cm_buf_add(out, source, source_len);
  return cm_buf_add(out, "\n", 1);
}

/* Wraps the source in src as a bulk pair for kind; frees src's memory. */
static char *es_pair(cm_buf_t *src, int rendered, es_kind_t kind,
                     es_mode_t mode, const char *prefix, uint64_t time_ns,
                     const char *id, size_t *len) {
  char index[ES_INDEX_MAX];
  cm_buf_t out = CM_BUF_INIT;
  if (rendered == 0 &&
      es_index_name(index, sizeof(index), mode, prefix, kind, time_ns) == 0)
    es_bulk_pair(&out, index, id, src->data, src->len);
  else
    out.failed = true;
  cm_buf_free(src);
  return cm_buf_steal(&out, len);
}

char *es_metric_pair(const es_metric_t *m, es_mode_t mode, const char *prefix,
                     size_t *len) {
  char id[ES_ID_LEN + 1];
  es_doc_id(id, &m->id, m->time_ns, NULL);
  cm_buf_t src = CM_BUF_INIT;
  int rc = es_metric_json(&src, m);
  return es_pair(&src, rc, ES_KIND_METRICS, mode, prefix, m->time_ns, id, len);
}

char *es_event_pair(const es_event_t *e, es_mode_t mode, const char *prefix,
                    size_t *len) {
  char id[ES_ID_LEN + 1];
  es_doc_id(id, &e->id, e->time_ns, e->message ? e->message : "");
  cm_buf_t src = CM_BUF_INIT;
  int rc = es_event_json(&src, e);
  return es_pair(&src, rc, ES_KIND_EVENTS, mode, prefix, e->time_ns, id, len);
}
