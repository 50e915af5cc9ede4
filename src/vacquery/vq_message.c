/* SPDX-License-Identifier: MIT */
/*
 * vq_message.c: parse and normalise VacQuery status messages.
 *
 * The rules are tables: for each message type, which keys are read, which
 * legacy keys fill them when the current key is absent, and which strings
 * are required. Unknown keys are ignored. Only the identity fields reject
 * a message for their type; other bad fields are dropped and flagged.
 */
#include "vq_message.h"

#include "common/cm_htab.h"
#include "common/cm_json.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* VacQuery messages are flat objects; unknown keys may hold a little
 * structure, but nothing legitimate needs more than this. */
#define VQ_MAX_DEPTH 16

/* One member of the received object, decoded. */
typedef struct {
  const char *key; /* NUL-terminated */
  size_t key_len;
  cm_json_kind_t kind;
  const char *s; /* a string, decoded, or a number's text; NUL-terminated;
                    NULL for other kinds */
  size_t len;
} vq_member_t;

/* The received object, one block that the message owns (m->root): its
 * members in the order of their first occurrence, a hash index of their
 * keys and the text of keys and values. */
typedef struct {
  size_t num;
  vq_member_t *members;
  uint32_t *slots; /* open addressing: member index + 1, 0 when empty */
  size_t mask;     /* slots - 1, a power of two minus one */
  char *text;
  size_t text_used;
} vq_doc_t;

/* A parser keeps the member list of its last scan, reused from one
 * datagram to the next. */
struct vq_parser {
  cm_json_member_t *raw;
  size_t raw_num, raw_cap;
};

typedef enum { VQ_F_NUM, VQ_F_STR } vq_kind_t;

typedef struct {
  const char *key;
  const char *legacy[2]; /* read in order when key is absent */
  vq_kind_t kind;
  int id;       /* vq_num_id_t or vq_str_id_t */
  int required; /* non-empty string required */
} vq_field_t;

#define NUM(k, id)                                                             \
  { k, {NULL, NULL}, VQ_F_NUM, id, 0 }
#define NUM_L(k, l1, l2, id)                                                   \
  { k, {l1, l2}, VQ_F_NUM, id, 0 }
#define STR(k, id)                                                             \
  { k, {NULL, NULL}, VQ_F_STR, id, 0 }
#define REQ(k, id)                                                             \
  { k, {NULL, NULL}, VQ_F_STR, id, 1 }

/* docs/protocol.md section 3: the envelope, common to all types. */
#define VQ_ENVELOPE                                                            \
  REQ("site", VQ_S_SITE), REQ("space", VQ_S_SPACE),                            \
      REQ("factory", VQ_S_FACTORY), STR("cookie", VQ_S_COOKIE),                \
      {"daemon_version",                                                       \
       {"vac_version", NULL},                                                  \
       VQ_F_STR,                                                               \
       VQ_S_DAEMON_VERSION,                                                    \
       0},                                                                     \
      STR("vacquery_version", VQ_S_VACQUERY_VERSION),                          \
      NUM("time_sent", VQ_N_TIME_SENT)

/* docs/protocol.md section 4 and the factory legacy names of section 9. */
static const vq_field_t vq_factory_fields[] = {
    VQ_ENVELOPE,
    NUM_L("running_processors", "running_cpus", NULL, VQ_N_RUNNING_PROCESSORS),
    NUM("running_machines", VQ_N_RUNNING_MACHINES),
    NUM("running_hs06", VQ_N_RUNNING_HS06),
    NUM_L("max_processors", "total_cpus", "max_cpus", VQ_N_MAX_PROCESSORS),
    NUM_L("max_machines", "total_machines", NULL, VQ_N_MAX_MACHINES),
    NUM_L("max_hs06", "total_hs06", NULL, VQ_N_MAX_HS06),
    NUM("load_average", VQ_N_LOAD_AVERAGE),
    NUM("mem_used_kb", VQ_N_MEM_USED_KB),
    NUM("mem_total_kb", VQ_N_MEM_TOTAL_KB),
    NUM("swap_used_kb", VQ_N_SWAP_USED_KB),
    NUM("swap_free_kb", VQ_N_SWAP_FREE_KB),
    NUM("root_disk_avail_kb", VQ_N_ROOT_DISK_AVAIL_KB),
    NUM("root_disk_avail_inodes", VQ_N_ROOT_DISK_AVAIL_INODES),
    NUM_L("daemon_disk_avail_kb", "vac_disk_avail_kb", NULL,
          VQ_N_DAEMON_DISK_AVAIL_KB),
    NUM_L("daemon_disk_avail_inodes", "vac_disk_avail_inodes", NULL,
          VQ_N_DAEMON_DISK_AVAIL_INODES),
    NUM("boot_time", VQ_N_BOOT_TIME),
    NUM("factory_heartbeat_time", VQ_N_FACTORY_HEARTBEAT_TIME),
    NUM("responder_heartbeat_time", VQ_N_RESPONDER_HEARTBEAT_TIME),
    NUM("mjf_heartbeat_time", VQ_N_MJF_HEARTBEAT_TIME),
    NUM("metadata_heartbeat_time", VQ_N_METADATA_HEARTBEAT_TIME),
    STR("kernel_version", VQ_S_KERNEL_VERSION),
    STR("os_issue", VQ_S_OS_ISSUE),
};

/* docs/protocol.md section 5 and the machinetype legacy names of section 9. */
static const vq_field_t vq_machinetype_fields[] = {
    VQ_ENVELOPE,
    REQ("machinetype", VQ_S_MACHINETYPE),
    STR("fqan", VQ_S_FQAN),
    NUM("num_machinetypes", VQ_N_NUM_MACHINETYPES),
    NUM_L("running_processors", "running_cpus", NULL, VQ_N_RUNNING_PROCESSORS),
    NUM_L("running_machines", "total_machines", NULL, VQ_N_RUNNING_MACHINES),
    NUM_L("running_hs06", "total_hs06", NULL, VQ_N_RUNNING_HS06),
    NUM("num_before_fizzle", VQ_N_NUM_BEFORE_FIZZLE),
    NUM("max_processors", VQ_N_MAX_PROCESSORS),
    NUM("max_wallclock_seconds", VQ_N_MAX_WALLCLOCK_SECONDS),
    NUM("bytes_per_processor", VQ_N_BYTES_PER_PROCESSOR),
    NUM("shutdown_time", VQ_N_SHUTDOWN_TIME),
    STR("shutdown_message", VQ_S_SHUTDOWN_MESSAGE),
    STR("shutdown_machine", VQ_S_SHUTDOWN_MACHINE),
};

/* docs/protocol.md section 6 and the machine legacy names of section 9. */
static const vq_field_t vq_machine_fields[] = {
    VQ_ENVELOPE,
    STR("machinetype", VQ_S_MACHINETYPE),
    STR("fqan", VQ_S_FQAN),
    STR("machine", VQ_S_MACHINE),
    STR("state", VQ_S_STATE),
    STR("machine_model", VQ_S_MACHINE_MODEL),
    STR("uuid", VQ_S_UUID),
    STR("shutdown_message", VQ_S_SHUTDOWN_MESSAGE),
    NUM("num_machines", VQ_N_NUM_MACHINES),
    NUM_L("num_processors", "num_cpus", NULL, VQ_N_NUM_PROCESSORS),
    NUM("created_time", VQ_N_CREATED_TIME),
    NUM("started_time", VQ_N_STARTED_TIME),
    NUM("heartbeat_time", VQ_N_HEARTBEAT_TIME),
    NUM("cpu_seconds", VQ_N_CPU_SECONDS),
    NUM("cpu_percentage", VQ_N_CPU_PERCENTAGE),
    NUM("hs06", VQ_N_HS06),
    NUM("shutdown_time", VQ_N_SHUTDOWN_TIME),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
  const char *name;
  const vq_field_t *fields;
  size_t fields_num;
} vq_msg_types[VQ_MSG_TYPE_COUNT] = {
    [VQ_MSG_FACTORY] = {"factory_status", vq_factory_fields,
                        COUNT(vq_factory_fields)},
    [VQ_MSG_MACHINETYPE] = {"machinetype_status", vq_machinetype_fields,
                            COUNT(vq_machinetype_fields)},
    [VQ_MSG_MACHINE] = {"machine_status", vq_machine_fields,
                        COUNT(vq_machine_fields)},
};

static const char *const vq_num_names[VQ_N_COUNT] = {
    [VQ_N_RUNNING_PROCESSORS] = "running_processors",
    [VQ_N_RUNNING_MACHINES] = "running_machines",
    [VQ_N_RUNNING_HS06] = "running_hs06",
    [VQ_N_MAX_PROCESSORS] = "max_processors",
    [VQ_N_MAX_MACHINES] = "max_machines",
    [VQ_N_MAX_HS06] = "max_hs06",
    [VQ_N_LOAD_AVERAGE] = "load_average",
    [VQ_N_MEM_USED_KB] = "mem_used_kb",
    [VQ_N_MEM_TOTAL_KB] = "mem_total_kb",
    [VQ_N_SWAP_USED_KB] = "swap_used_kb",
    [VQ_N_SWAP_FREE_KB] = "swap_free_kb",
    [VQ_N_ROOT_DISK_AVAIL_KB] = "root_disk_avail_kb",
    [VQ_N_ROOT_DISK_AVAIL_INODES] = "root_disk_avail_inodes",
    [VQ_N_DAEMON_DISK_AVAIL_KB] = "daemon_disk_avail_kb",
    [VQ_N_DAEMON_DISK_AVAIL_INODES] = "daemon_disk_avail_inodes",
    [VQ_N_BOOT_TIME] = "boot_time",
    [VQ_N_FACTORY_HEARTBEAT_TIME] = "factory_heartbeat_time",
    [VQ_N_RESPONDER_HEARTBEAT_TIME] = "responder_heartbeat_time",
    [VQ_N_MJF_HEARTBEAT_TIME] = "mjf_heartbeat_time",
    [VQ_N_METADATA_HEARTBEAT_TIME] = "metadata_heartbeat_time",
    [VQ_N_NUM_MACHINETYPES] = "num_machinetypes",
    [VQ_N_NUM_BEFORE_FIZZLE] = "num_before_fizzle",
    [VQ_N_MAX_WALLCLOCK_SECONDS] = "max_wallclock_seconds",
    [VQ_N_BYTES_PER_PROCESSOR] = "bytes_per_processor",
    [VQ_N_NUM_MACHINES] = "num_machines",
    [VQ_N_NUM_PROCESSORS] = "num_processors",
    [VQ_N_CREATED_TIME] = "created_time",
    [VQ_N_STARTED_TIME] = "started_time",
    [VQ_N_HEARTBEAT_TIME] = "heartbeat_time",
    [VQ_N_CPU_SECONDS] = "cpu_seconds",
    [VQ_N_CPU_PERCENTAGE] = "cpu_percentage",
    [VQ_N_HS06] = "hs06",
    [VQ_N_SHUTDOWN_TIME] = "shutdown_time",
    [VQ_N_TIME_SENT] = "time_sent",
};

static const char *const vq_str_names[VQ_S_COUNT] = {
    [VQ_S_SITE] = "site",
    [VQ_S_SPACE] = "space",
    [VQ_S_FACTORY] = "factory",
    [VQ_S_MACHINETYPE] = "machinetype",
    [VQ_S_FQAN] = "fqan",
    [VQ_S_COOKIE] = "cookie",
    [VQ_S_DAEMON_VERSION] = "daemon_version",
    [VQ_S_VACQUERY_VERSION] = "vacquery_version",
    [VQ_S_KERNEL_VERSION] = "kernel_version",
    [VQ_S_OS_ISSUE] = "os_issue",
    [VQ_S_MACHINE] = "machine",
    [VQ_S_STATE] = "state",
    [VQ_S_MACHINE_MODEL] = "machine_model",
    [VQ_S_UUID] = "uuid",
    [VQ_S_SHUTDOWN_MESSAGE] = "shutdown_message",
    [VQ_S_SHUTDOWN_MACHINE] = "shutdown_machine",
};

const char *vq_msg_type_name(vq_msg_type_t t) {
  return (unsigned)t < VQ_MSG_TYPE_COUNT ? vq_msg_types[t].name : "unknown";
}

const char *vq_num_name(vq_num_id_t id) {
  return (unsigned)id < VQ_N_COUNT ? vq_num_names[id] : "unknown";
}

const char *vq_str_name(vq_str_id_t id) {
  return (unsigned)id < VQ_S_COUNT ? vq_str_names[id] : "unknown";
}

/* Grows the parser's member list by one; returns the new slot or NULL. */
static cm_json_member_t *vq_raw_push(vq_parser_t *p) {
  if (p->raw_num == p->raw_cap) {
    size_t cap = p->raw_cap ? 2 * p->raw_cap : 64;
    cm_json_member_t *r = realloc(p->raw, cap * sizeof(*r));
    if (r == NULL)
      return NULL;
    p->raw = r;
    p->raw_cap = cap;
  }
  return &p->raw[p->raw_num++];
}

/* cm_json_member_cb: keeps one top-level member in the parser. */
static int vq_collect(void *ctx, const cm_json_member_t *m) {
  cm_json_member_t *slot = vq_raw_push(ctx);
  if (slot == NULL)
    return -1;
  *slot = *m;
  return 0;
}

vq_parser_t *vq_parser_create(void) {
  return calloc(1, sizeof(vq_parser_t));
}

void vq_parser_destroy(vq_parser_t *p) {
  if (p == NULL)
    return;
  free(p->raw);
  free(p);
}

void vq_message_clear(vq_message_t *m) {
  free(m->root);
  memset(m, 0, sizeof(*m));
  m->root = NULL;
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    m->num[i] = NAN;
}

vq_str_t vq_vo_from_fqan(vq_str_t fqan) {
  vq_str_t none = {NULL, 0};
  if (fqan.ptr == NULL || fqan.len < 2 || fqan.ptr[0] != '/')
    return none;
  const char *start = fqan.ptr + 1;
  const char *end = memchr(start, '/', fqan.len - 1);
  size_t len = end ? (size_t)(end - start) : fqan.len - 1;
  if (len == 0)
    return none;
  return (vq_str_t){start, len};
}

/* ---- the received object ------------------------------------------------ */

/* Returns the member stored under the key of len bytes, or NULL. */
static const vq_member_t *vq_doc_get(const vq_doc_t *d, const char *key,
                                     size_t len) {
  for (size_t h = (size_t)cm_hash(key, len) & d->mask;; h = (h + 1) & d->mask) {
    uint32_t k = d->slots[h];
    if (k == 0)
      return NULL;
    const vq_member_t *m = &d->members[k - 1];
    if (m->key_len == len && memcmp(m->key, key, len) == 0)
      return m;
  }
}

/* Stores m in d: a key already present takes m's value where it stands
 * (the last of duplicate keys wins, in the place of the first), a new key
 * is appended. d has room for it. */
static void vq_doc_put(vq_doc_t *d, const vq_member_t *m) {
  size_t h = (size_t)cm_hash(m->key, m->key_len) & d->mask;
  for (;; h = (h + 1) & d->mask) {
    uint32_t k = d->slots[h];
    if (k == 0)
      break;
    vq_member_t *old = &d->members[k - 1];
    if (old->key_len == m->key_len &&
        memcmp(old->key, m->key, m->key_len) == 0) {
      old->kind = m->kind;
      old->s = m->s;
      old->len = m->len;
      return;
    }
  }
  d->members[d->num] = *m;
  d->slots[h] = (uint32_t)++d->num;
}

/* Returns a new empty object with room for members members and text
 * bytes of keys and values (one block: the caller frees it), or NULL. */
static vq_doc_t *vq_doc_new(size_t members, size_t text) {
  size_t cap = 8;
  while (cap < 2 * members)
    cap *= 2;
  size_t size = sizeof(vq_doc_t) + members * sizeof(vq_member_t) +
                cap * sizeof(uint32_t) + text;
  vq_doc_t *d = malloc(size);
  if (d == NULL)
    return NULL;
  d->num = 0;
  d->members = (vq_member_t *)(d + 1);
  d->slots = (uint32_t *)(d->members + members);
  d->mask = cap - 1;
  memset(d->slots, 0, cap * sizeof(uint32_t));
  d->text = (char *)(d->slots + cap);
  d->text_used = 0;
  return d;
}

/* Copies the len bytes at s into d's text, decoding JSON escapes when
 * escaped, and NUL-terminates them. Returns the copy and sets *out_len. */
static const char *vq_doc_text(vq_doc_t *d, const char *s, size_t len,
                               int escaped, size_t *out_len) {
  char *t = d->text + d->text_used;
  size_t n = len;
  if (escaped)
    n = cm_json_unescape(s, len, t);
  else
    memcpy(t, s, len);
  t[n] = '\0';
  d->text_used += n + 1;
  *out_len = n;
  return t;
}

/* Builds the object from the members the parser collected. Returns it
 * (the caller owns it) or NULL for want of memory. */
static vq_doc_t *vq_doc_build(const vq_parser_t *p) {
  size_t text = 0;
  for (size_t i = 0; i < p->raw_num; i++)
    text += p->raw[i].key_len + p->raw[i].value_len + 2;
  vq_doc_t *d = vq_doc_new(p->raw_num, text);
  if (d == NULL)
    return NULL;
  for (size_t i = 0; i < p->raw_num; i++) {
    const cm_json_member_t *r = &p->raw[i];
    vq_member_t m = {.kind = r->kind};
    /* Escapes are rare: decode only a slice that has a backslash. */
    m.key =
        vq_doc_text(d, r->key, r->key_len,
                    r->escaped && memchr(r->key, '\\', r->key_len), &m.key_len);
    if (r->kind == CM_JSON_STRING || r->kind == CM_JSON_NUMBER)
      m.s = vq_doc_text(d, r->value, r->value_len,
                        r->escaped && r->kind == CM_JSON_STRING &&
                            memchr(r->value, '\\', r->value_len),
                        &m.len);
    vq_doc_put(d, &m);
  }
  return d;
}

/* ---- reading the fields ------------------------------------------------- */

/* Looks up key, then each legacy key in order. Returns the member, or
 * NULL when none of them is present. */
static const vq_member_t *vq_lookup(const vq_doc_t *d, const vq_field_t *f) {
  const vq_member_t *v = vq_doc_get(d, f->key, strlen(f->key));
  for (size_t i = 0; v == NULL && i < 2 && f->legacy[i] != NULL; i++)
    v = vq_doc_get(d, f->legacy[i], strlen(f->legacy[i]));
  return v;
}

/* What became of one field value. */
typedef enum { VQ_READ_OK, VQ_READ_BAD } vq_read_t;

/* Reads one numeric field. null means "no value" (NaN). A string holding
 * exactly one JSON number is read as that number; integers beyond 64 bits
 * as the nearest double. Returns VQ_READ_BAD (and leaves *out NaN) for
 * other types and for non-finite numbers. */
static vq_read_t vq_read_num(const vq_member_t *v, double *out) {
  double d = NAN;
  switch (v->kind) {
  case CM_JSON_NULL:
    *out = NAN;
    return VQ_READ_OK;
  case CM_JSON_NUMBER:
    cm_json_number(v->s, v->len, &d);
    break;
  case CM_JSON_STRING:
    if (v->len > 0 && cm_json_number_len(v->s, v->len) == v->len)
      cm_json_number(v->s, v->len, &d);
    break;
  default:
    break;
  }
  *out = isfinite(d) ? d : NAN;
  return isfinite(d) ? VQ_READ_OK : VQ_READ_BAD;
}

/* Reads one string field. Returns VQ_OK; VQ_REJ_BAD_TYPE for a
 * non-string identity field; VQ_REJ_MISSING when an identity field is
 * absent, null or empty. Any other non-string is dropped and *bad set. */
static vq_reason_t vq_read_str(const vq_member_t *v, const vq_field_t *f,
                               vq_str_t *out, int *bad) {
  *out = (vq_str_t){NULL, 0};
  if (v == NULL || v->kind == CM_JSON_NULL)
    return f->required ? VQ_REJ_MISSING : VQ_OK;
  if (v->kind != CM_JSON_STRING) {
    if (f->required)
      return VQ_REJ_BAD_TYPE;
    *bad = 1;
    return VQ_OK;
  }
  if (v->len == 0 && f->required)
    return VQ_REJ_MISSING;
  *out = (vq_str_t){v->s, v->len};
  return VQ_OK;
}

/* Decides the message type from message_type. Returns VQ_OK and sets *t,
 * or the rejection reason. */
static vq_reason_t vq_read_type(const vq_doc_t *d, vq_msg_type_t *t) {
  static const char key[] = "message_type";
  const vq_member_t *v = vq_doc_get(d, key, sizeof(key) - 1);
  if (v == NULL || v->kind == CM_JSON_NULL)
    return VQ_REJ_NO_TYPE;
  if (v->kind != CM_JSON_STRING)
    return VQ_REJ_BAD_TYPE;
  for (int i = 0; i < VQ_MSG_TYPE_COUNT; i++) {
    if (v->len == strlen(vq_msg_types[i].name) &&
        memcmp(v->s, vq_msg_types[i].name, v->len) == 0) {
      *t = (vq_msg_type_t)i;
      return VQ_OK;
    }
  }
  static const char suffix[] = "_query";
  size_t n = sizeof(suffix) - 1;
  if (v->len >= n && memcmp(v->s + v->len - n, suffix, n) == 0)
    return VQ_REJ_QUERY;
  return VQ_REJ_UNKNOWN_TYPE;
}

/* Fills m's type, fields and VO from its object m->root. Returns VQ_OK or
 * a reason (identity fields only). */
static vq_reason_t vq_read_fields(vq_message_t *m) {
  const vq_doc_t *d = m->root;
  vq_reason_t r = vq_read_type(d, &m->type);
  if (r != VQ_OK)
    return r;
  const vq_field_t *fields = vq_msg_types[m->type].fields;
  size_t n = vq_msg_types[m->type].fields_num;
  for (size_t i = 0; i < n; i++) {
    const vq_field_t *f = fields + i;
    int bad = 0;
    const vq_member_t *v = vq_lookup(d, f);
    if (f->kind == VQ_F_STR) {
      r = vq_read_str(v, f, &m->str[f->id], &bad);
      if (r != VQ_OK)
        return r;
      if (bad)
        m->bad_str |= UINT32_C(1) << f->id;
    } else if (v != NULL && vq_read_num(v, &m->num[f->id]) == VQ_READ_BAD) {
      m->bad_num |= UINT64_C(1) << f->id;
    }
  }
  m->vo = vq_vo_from_fqan(m->str[VQ_S_FQAN]);
  return VQ_OK;
}

vq_reason_t vq_parse(vq_parser_t *p, const char *buf, size_t len,
                     vq_message_t *m) {
  m->root = NULL;
  vq_message_clear(m);
  p->raw_num = 0;
  int s = cm_json_object_scan(buf, len, VQ_MAX_DEPTH, vq_collect, p);
  if (s == CM_JSON_NOT_OBJECT)
    return VQ_REJ_NOT_OBJECT;
  if (s != CM_JSON_OK) /* STOPPED: no memory for the member list */
    return VQ_REJ_NOT_JSON;
  m->root = vq_doc_build(p);
  if (m->root == NULL)
    return VQ_REJ_NOT_JSON;
  vq_reason_t r = vq_read_fields(m);
  if (r != VQ_OK)
    vq_message_clear(m);
  return r;
}

void vq_message_foreach_field(const vq_message_t *m, vq_field_cb cb,
                              void *ctx) {
  const vq_doc_t *d = m->root;
  if (d == NULL)
    return;
  for (size_t i = 0; i < d->num; i++) {
    const vq_member_t *v = &d->members[i];
    double n;
    switch (v->kind) {
    case CM_JSON_STRING:
      cb(ctx, v->key, VQ_V_STRING, v->s, 0);
      break;
    case CM_JSON_NUMBER: {
      int integer = cm_json_number(v->s, v->len, &n);
      if (!isfinite(n))
        break;
      /* Integers are passed as such while they fit a signed 64 bits. */
      if (integer && n >= -9223372036854775808.0 && n < 9223372036854775808.0)
        cb(ctx, v->key, VQ_V_INT, NULL, n);
      else
        cb(ctx, v->key, VQ_V_DOUBLE, NULL, n);
      break;
    }
    case CM_JSON_TRUE:
    case CM_JSON_FALSE:
      cb(ctx, v->key, VQ_V_BOOL, NULL, v->kind == CM_JSON_TRUE);
      break;
    default:
      break;
    }
  }
}

int vq_message_take_outcome(vq_message_t *m, const vq_message_t *mt) {
  vq_str_t msg = mt->str[VQ_S_SHUTDOWN_MESSAGE];
  double t = mt->num[VQ_N_SHUTDOWN_TIME];
  const vq_doc_t *old = m->root;
  if (old == NULL)
    return -1;
  /* The number as JSON text: an integer exactly, else round-trip digits. */
  char num[32];
  if (!isnan(t))
    snprintf(num, sizeof(num),
             t == floor(t) && fabs(t) < 9007199254740992.0 ? "%.0f" : "%.17g",
             t);
  static const char from[] = "machinetype_status";
  const vq_member_t add[] = {
      {"shutdown_message", 16, msg.ptr ? CM_JSON_STRING : CM_JSON_NULL, msg.ptr,
       msg.len},
      {"shutdown_time", 13, isnan(t) ? CM_JSON_NULL : CM_JSON_NUMBER,
       isnan(t) ? NULL : num, isnan(t) ? 0 : strlen(num)},
      {"outcome_from", 12, CM_JSON_STRING, from, sizeof(from) - 1},
  };
  /* A new object: the members as they are, then the three above. */
  size_t text = 0;
  for (size_t i = 0; i < old->num; i++)
    text += old->members[i].key_len + old->members[i].len + 2;
  for (size_t i = 0; i < COUNT(add); i++)
    text += add[i].key_len + add[i].len + 2;
  vq_doc_t *d = vq_doc_new(old->num + COUNT(add), text);
  if (d == NULL)
    return -1;
  for (size_t i = 0; i < old->num + COUNT(add); i++) {
    const vq_member_t *o = i < old->num ? &old->members[i] : &add[i - old->num];
    vq_member_t c = {.kind = o->kind};
    c.key = vq_doc_text(d, o->key, o->key_len, 0, &c.key_len);
    if (o->s != NULL)
      c.s = vq_doc_text(d, o->s, o->len, 0, &c.len);
    vq_doc_put(d, &c);
  }
  vq_message_t n = {.root = NULL};
  vq_message_clear(&n);
  n.root = d;
  if (vq_read_fields(&n) != VQ_OK) { /* cannot happen: same identity */
    vq_message_clear(&n);
    return -1;
  }
  vq_message_clear(m);
  *m = n;
  return 0;
}
