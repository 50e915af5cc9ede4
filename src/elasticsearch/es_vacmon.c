/* SPDX-License-Identifier: MIT */
/*
 * es_vacmon.c: vacquery notifications as VacMon documents (see
 * es_vacmon.h).
 */
#include "es_vacmon.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const es_vm_bases[ES_VM_COUNT] = {
    "factories", "machinetypes", "machines"};

/* One mapped field of one index. */
typedef struct {
  char *key;
  es_vm_type_t type;
} es_vm_field_t;

struct es_vacmon {
  es_vm_field_t *fields[ES_VM_COUNT];
  size_t num[ES_VM_COUNT];
};

/* vacmond's fill-if-absent fix-ups (legacy name -> modern name) and the
 * two safe extras the project documents (max_cpus, num_cpus). */
typedef struct {
  const char *legacy, *modern;
  unsigned in; /* bit per es_vm_index_t */
} es_vm_fixup_t;

#define ES_VM_F (1u << ES_VM_FACTORIES)
#define ES_VM_T (1u << ES_VM_MACHINETYPES)
#define ES_VM_M (1u << ES_VM_MACHINES)

static const es_vm_fixup_t es_vm_fixups[] = {
    {"vac_version", "daemon_version", ES_VM_F | ES_VM_T | ES_VM_M},
    {"running_cpus", "running_processors", ES_VM_F | ES_VM_T | ES_VM_M},
    {"total_cpus", "max_processors", ES_VM_F},
    {"max_cpus", "max_processors", ES_VM_F},
    {"total_machines", "max_machines", ES_VM_F},
    {"total_hs06", "max_hs06", ES_VM_F},
    {"vac_disk_avail_kb", "daemon_disk_avail_kb", ES_VM_F},
    {"vac_disk_avail_inodes", "daemon_disk_avail_inodes", ES_VM_F},
    {"total_machines", "running_machines", ES_VM_T},
    {"total_hs06", "running_hs06", ES_VM_T},
    {"num_cpus", "num_processors", ES_VM_M},
};
#define ES_VM_NFIXUPS (sizeof(es_vm_fixups) / sizeof(es_vm_fixups[0]))

/* Meta that vacquery adds to its notifications and that are not fields of
 * the message (vo is derived here again, as vacmond did), and the fields
 * this module writes itself. */
static const char *const es_vm_skipped[] = {
    "vo",           "source_address", "outcome",       "wall_seconds",
    "hs06_seconds", "outcome_from",   "finish_source", "time_received",
    "@timestamp",   "cookie"};

const char *es_vacmon_template_json(es_vm_index_t ix) {
  switch (ix) {
  case ES_VM_FACTORIES:
    return es_template_factories_json;
  case ES_VM_MACHINETYPES:
    return es_template_machinetypes_json;
  default:
    return es_template_machines_json;
  }
}

const char *es_vacmon_index_base(es_vm_index_t ix) {
  return es_vm_bases[ix < ES_VM_COUNT ? ix : ES_VM_MACHINES];
}

void es_vacmon_free(es_vacmon_t *vm) {
  if (vm == NULL)
    return;
  for (int i = 0; i < ES_VM_COUNT; i++) {
    for (size_t k = 0; k < vm->num[i]; k++)
      free(vm->fields[i][k].key);
    free(vm->fields[i]);
  }
  free(vm);
}

/* Returns the type a mapping spec names (UNMAPPED for others). */
static es_vm_type_t es_vm_spec_type(json_object *spec) {
  json_object *t;
  if (!json_object_object_get_ex(spec, "type", &t))
    return ES_VM_UNMAPPED;
  const char *s = json_object_get_string(t);
  if (strcmp(s, "keyword") == 0)
    return ES_VM_KEYWORD;
  if (strcmp(s, "long") == 0)
    return ES_VM_LONG;
  if (strcmp(s, "double") == 0)
    return ES_VM_DOUBLE;
  if (strcmp(s, "date") == 0)
    return ES_VM_DATE;
  return ES_VM_UNMAPPED;
}

/* Reads the properties of one template into vm. Returns 0 or -1. */
static int es_vm_load(es_vacmon_t *vm, es_vm_index_t ix, char *err,
                      size_t errlen) {
  json_object *root = json_tokener_parse(es_vacmon_template_json(ix));
  json_object *tpl, *mappings, *props;
  if (root == NULL || !json_object_object_get_ex(root, "template", &tpl) ||
      !json_object_object_get_ex(tpl, "mappings", &mappings) ||
      !json_object_object_get_ex(mappings, "properties", &props) ||
      !json_object_is_type(props, json_type_object)) {
    json_object_put(root);
    snprintf(err, errlen, "the %s template has no mappings.properties",
             es_vm_bases[ix]);
    return -1;
  }
  size_t n = (size_t)json_object_object_length(props);
  vm->fields[ix] = calloc(n + 1, sizeof(es_vm_field_t));
  int rc = vm->fields[ix] == NULL ? -1 : 0;
  json_object_object_foreach(props, key, spec) {
    if (rc != 0)
      break;
    es_vm_field_t *f = &vm->fields[ix][vm->num[ix]];
    f->type = es_vm_spec_type(spec);
    f->key = strdup(key);
    if (f->key == NULL)
      rc = -1;
    else
      vm->num[ix]++;
  }
  json_object_put(root);
  if (rc != 0)
    snprintf(err, errlen, "out of memory");
  return rc;
}

es_vacmon_t *es_vacmon_new(char *err, size_t errlen) {
  es_vacmon_t *vm = calloc(1, sizeof(*vm));
  if (vm == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (int i = 0; i < ES_VM_COUNT; i++)
    if (es_vm_load(vm, (es_vm_index_t)i, err, errlen) != 0) {
      es_vacmon_free(vm);
      return NULL;
    }
  return vm;
}

es_vm_type_t es_vacmon_type(const es_vacmon_t *vm, es_vm_index_t ix,
                            const char *key) {
  for (size_t k = 0; k < vm->num[ix]; k++)
    if (strcmp(vm->fields[ix][k].key, key) == 0)
      return vm->fields[ix][k].type;
  return ES_VM_UNMAPPED;
}

/* Returns the meta field named key with a value, or NULL. */
static const es_field_t *es_vm_meta(const es_event_t *e, const char *key) {
  for (size_t i = 0; i < e->meta_num; i++)
    if (e->meta[i].key != NULL && e->meta[i].kind != ES_VAL_NULL &&
        strcmp(e->meta[i].key, key) == 0)
      return &e->meta[i];
  return NULL;
}

/* Returns 1 when s equals the string value of f. */
static int es_vm_is(const es_field_t *f, const char *s) {
  return f != NULL && f->kind == ES_VAL_STRING && f->v.s != NULL &&
         strcmp(f->v.s, s) == 0;
}

int es_vacmon_route(const es_event_t *e, es_vm_index_t *ix) {
  if (e->id.plugin == NULL || strcmp(e->id.plugin, "vacquery") != 0 ||
      e->id.type == NULL)
    return -1;
  const es_field_t *mt = es_vm_meta(e, "message_type");
  if (strcmp(e->id.type, "vacquery_message") == 0) {
    if (es_vm_is(mt, "factory_status"))
      *ix = ES_VM_FACTORIES;
    else if (es_vm_is(mt, "machinetype_status"))
      *ix = ES_VM_MACHINETYPES;
    else
      return -1;
    return 0;
  }
  if (strcmp(e->id.type, "vacquery_finished") == 0 &&
      (mt == NULL || es_vm_is(mt, "machine_status"))) {
    *ix = ES_VM_MACHINES;
    return 0;
  }
  return -1;
}

int es_vacmon_index_name(char *buf, size_t size, es_mode_t mode,
                         const char *prefix, es_vm_index_t ix,
                         uint64_t time_ns) {
  char day[16] = "";
  if (mode == ES_MODE_DAILY) {
    char ts[32];
    if (es_timestamp(ts, sizeof(ts), time_ns) != 0)
      return -1;
    /* "YYYY-MM-DD..." -> "-YYYY.MM.DD" */
    snprintf(day, sizeof(day), "-%.4s.%.2s.%.2s", ts, ts + 5, ts + 8);
  }
  bool pre = prefix != NULL && prefix[0] != '\0';
  int n = snprintf(buf, size, "%s%s%s%s", pre ? prefix : "", pre ? "-" : "",
                   es_vacmon_index_base(ix), day);
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

int es_vacmon_component_name(char *buf, size_t size, const char *prefix) {
  bool pre = prefix != NULL && prefix[0] != '\0';
  int n = snprintf(buf, size, "%s%svacmon@custom", pre ? prefix : "",
                   pre ? "-" : "");
  return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

/* Sets *d to the number f holds (a number, or a string that is one number
 * and nothing else). Returns 1, or 0 when f is no finite number. */
static int es_vm_number(const es_field_t *f, double *d) {
  switch (f->kind) {
  case ES_VAL_INT:
    *d = (double)f->v.i;
    return 1;
  case ES_VAL_UINT:
    *d = (double)f->v.u;
    return 1;
  case ES_VAL_DOUBLE:
    *d = f->v.d;
    return isfinite(*d);
  case ES_VAL_STRING: {
    char *end;
    if (f->v.s == NULL || f->v.s[0] == '\0')
      return 0;
    *d = strtod(f->v.s, &end);
    while (*end == ' ')
      end++;
    return *end == '\0' && isfinite(*d);
  }
  default:
    return 0;
  }
}

/* Appends ,"key":<f as type t>, or nothing when f cannot be that type
 * (Elasticsearch would refuse the whole document). A long or a date is
 * truncated towards zero, as Elasticsearch coerces 16.0 into a long. */
static void es_vm_member(cm_buf_t *out, const char *key, es_vm_type_t t,
                         const es_field_t *f) {
  double d = 0;
  cm_buf_t val = CM_BUF_INIT;
  switch (t) {
  case ES_VM_KEYWORD:
    if (f->kind == ES_VAL_STRING) {
      cm_buf_json_str(&val, f->v.s);
    } else if (f->kind != ES_VAL_NULL) {
      cm_buf_t txt = CM_BUF_INIT;
      es_field_json(&txt, f);
      cm_buf_add(&txt, "", 1);
      if (cm_buf_ok(&txt) && strcmp(txt.data, "null") != 0)
        cm_buf_json_str(&val, txt.data);
      cm_buf_free(&txt);
    }
    break;
  case ES_VM_LONG:
  case ES_VM_DATE:
    if (f->kind == ES_VAL_INT)
      cm_buf_json_int(&val, f->v.i);
    else if (f->kind == ES_VAL_UINT && f->v.u <= (uint64_t)INT64_MAX)
      cm_buf_json_uint(&val, f->v.u);
    else if (f->kind != ES_VAL_UINT && es_vm_number(f, &d) && fabs(d) < 9.2e18)
      cm_buf_json_int(&val, (int64_t)trunc(d));
    break;
  case ES_VM_DOUBLE:
    if (f->kind == ES_VAL_INT || f->kind == ES_VAL_UINT)
      es_field_json(&val, f);
    else if (es_vm_number(f, &d))
      cm_buf_json_double(&val, d);
    break;
  default:
    if (f->kind != ES_VAL_NULL)
      es_field_json(&val, f);
  }
  if (val.len > 0) {
    cm_buf_add(out, ",", 1);
    cm_buf_json_str(out, key);
    cm_buf_add(out, ":", 1);
    cm_buf_add(out, val.data, val.len);
  } else if (!cm_buf_ok(&val)) {
    out->failed = true;
  }
  cm_buf_free(&val);
}

/* Returns 1 when key is not a field of the message (see es_vm_skipped). */
static int es_vm_skip(const char *key) {
  for (size_t i = 0; i < sizeof(es_vm_skipped) / sizeof(es_vm_skipped[0]); i++)
    if (strcmp(key, es_vm_skipped[i]) == 0)
      return 1;
  return 0;
}

/* Writes the VO of fqan into vo (vacmond's rule: the text between the
 * first and second '/' of an fqan that starts with '/'). Returns 1, or 0
 * when there is none. */
static int es_vm_vo(const es_field_t *fqan, char *vo, size_t size) {
  if (fqan == NULL || fqan->kind != ES_VAL_STRING || fqan->v.s == NULL ||
      fqan->v.s[0] != '/')
    return 0;
  const char *s = fqan->v.s + 1;
  size_t n = strcspn(s, "/");
  if (n == 0 || n >= size)
    return 0;
  memcpy(vo, s, n);
  vo[n] = '\0';
  return 1;
}

int es_vacmon_json(const es_vacmon_t *vm, cm_buf_t *out, const es_event_t *e,
                   es_vm_index_t ix, bool timestamp) {
  /* The opening brace and a placeholder member keep every later member a
   * ",key:value"; the placeholder is @timestamp or dropped. */
  cm_buf_add(out, "{", 1);
  size_t start = out->len;
  if (timestamp) {
    char ts[32];
    if (es_timestamp(ts, sizeof(ts), e->time_ns) != 0)
      return -1;
    cm_buf_adds(out, ",\"@timestamp\":");
    cm_buf_json_str(out, ts);
  }
  for (size_t i = 0; i < e->meta_num; i++) {
    const es_field_t *f = &e->meta[i];
    if (f->key == NULL || f->key[0] == '\0' || es_vm_skip(f->key))
      continue;
    es_vm_member(out, f->key, es_vacmon_type(vm, ix, f->key), f);
  }
  unsigned bit = 1u << ix;
  for (size_t k = 0; k < ES_VM_NFIXUPS; k++) {
    const es_vm_fixup_t *fx = &es_vm_fixups[k];
    const es_field_t *legacy = es_vm_meta(e, fx->legacy);
    if ((fx->in & bit) == 0 || legacy == NULL ||
        es_vm_meta(e, fx->modern) != NULL)
      continue;
    /* An earlier fix-up may have filled it (total_cpus before max_cpus). */
    int done = 0;
    for (size_t j = 0; j < k; j++)
      done |= (es_vm_fixups[j].in & bit) &&
              strcmp(es_vm_fixups[j].modern, fx->modern) == 0 &&
              es_vm_meta(e, es_vm_fixups[j].legacy) != NULL;
    if (!done)
      es_vm_member(out, fx->modern, es_vacmon_type(vm, ix, fx->modern), legacy);
  }
  char vo[256];
  if (ix != ES_VM_FACTORIES &&
      es_vm_vo(es_vm_meta(e, "fqan"), vo, sizeof(vo))) {
    cm_buf_adds(out, ",\"vo\":");
    cm_buf_json_str(out, vo);
  }
  cm_buf_adds(out, ",\"time_received\":");
  cm_buf_json_int(out, (int64_t)(e->time_ns / 1000000000u));
  cm_buf_add(out, "}", 1);
  if (!cm_buf_ok(out))
    return -1;
  /* Drop the comma after the opening brace. */
  memmove(out->data + start, out->data + start + 1, out->len - start - 1);
  out->len--;
  out->data[out->len] = '\0';
  return 0;
}

char *es_vacmon_pair(const es_vacmon_t *vm, const es_event_t *e, es_mode_t mode,
                     const char *prefix, size_t *len, bool *ignored) {
  es_vm_index_t ix;
  *len = 0;
  *ignored = es_vacmon_route(e, &ix) != 0;
  if (*ignored)
    return NULL;
  char index[ES_INDEX_MAX], id[ES_ID_LEN + 1];
  cm_buf_t src = CM_BUF_INIT, out = CM_BUF_INIT;
  if (es_vacmon_json(vm, &src, e, ix, mode == ES_MODE_DATASTREAM) == 0 &&
      es_vacmon_index_name(index, sizeof(index), mode, prefix, ix,
                           e->time_ns) == 0) {
    /* The document itself in the _id: two messages of one factory received
     * at the same instant stay two documents; a resend stays one. */
    es_doc_id(id, &e->id, e->time_ns, src.data);
    es_bulk_pair(&out, index, id, src.data, src.len);
  } else
    out.failed = true;
  cm_buf_free(&src);
  return cm_buf_steal(&out, len);
}
