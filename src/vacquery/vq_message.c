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

#include "common/cm_utf8.h"

#include <json-c/json.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* VacQuery messages are flat objects; unknown keys may hold a little
 * structure, but nothing legitimate needs more than this. */
#define VQ_MAX_DEPTH 16

struct vq_parser {
  json_tokener *tok;
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

vq_parser_t *vq_parser_create(void) {
  vq_parser_t *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->tok = json_tokener_new_ex(VQ_MAX_DEPTH);
  if (p->tok == NULL) {
    free(p);
    return NULL;
  }
  /* RFC 8259 only: no comments, single quotes, trailing commas, NaN,
   * leading zeros or raw control characters; UTF-8 must be valid. */
  json_tokener_set_flags(p->tok,
                         JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  return p;
}

void vq_parser_destroy(vq_parser_t *p) {
  if (p == NULL)
    return;
  json_tokener_free(p->tok);
  free(p);
}

void vq_message_clear(vq_message_t *m) {
  if (m->root != NULL)
    json_object_put(m->root);
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

/* Looks up key, then each legacy key in order. Returns the value, or NULL
 * when none of them is present (a present JSON null is returned as the
 * found-but-null marker through *present); *found is the key that was
 * present. */
static json_object *vq_lookup(json_object *root, const vq_field_t *f,
                              int *present, const char **found) {
  json_object *v = NULL;
  *found = f->key;
  if (json_object_object_get_ex(root, f->key, &v)) {
    *present = 1;
    return v;
  }
  for (size_t i = 0; i < 2 && f->legacy[i] != NULL; i++) {
    if (json_object_object_get_ex(root, f->legacy[i], &v)) {
      *present = 1;
      *found = f->legacy[i];
      return v;
    }
  }
  *present = 0;
  return NULL;
}

/* Returns the length of the JSON number (RFC 8259 grammar) at the start of
 * the n bytes at s, or 0 when s does not start with one. */
static size_t vq_json_number_len(const char *s, size_t n) {
  size_t i = 0;
  if (i < n && s[i] == '-')
    i++;
  if (i >= n || s[i] < '0' || s[i] > '9')
    return 0;
  if (s[i] == '0')
    i++;
  else
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
  if (i < n && s[i] == '.') {
    size_t d = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return 0;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    size_t d = i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      i++;
    if (i == d)
      return 0;
  }
  return i;
}

/* Reads the n bytes at s, which hold exactly one JSON number, as a double
 * (infinite when it overflows). Returns 0, or -1 when it is not one. */
static int vq_number_text(const char *s, size_t n, double *out) {
  char tmp[64];
  if (n == 0 || n >= sizeof(tmp) || vq_json_number_len(s, n) != n)
    return -1;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  *out = strtod(tmp, NULL);
  return 0;
}

/* Skips JSON whitespace from i; returns the next index. */
static size_t vq_skip_space(const char *b, size_t i, size_t len) {
  while (i < len &&
         (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
    i++;
  return i;
}

/*
 * Finds the number text of key in the top-level object of the valid JSON
 * buf (the last occurrence, as json-c keeps the last of duplicate keys;
 * keys written with escapes are not matched). Used for integers that
 * json-c saturates at 64 bits. Returns 0 and the number as a double, or
 * -1 when it is not found.
 */
static int vq_raw_number(const char *b, size_t len, const char *key,
                         double *out) {
  size_t klen = strlen(key);
  int depth = 0, found = -1;
  for (size_t i = 0; i < len; i++) {
    char c = b[i];
    if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      depth--;
    } else if (c == '"') {
      size_t start = ++i;
      while (i < len && b[i] != '"')
        i += b[i] == '\\' ? 2 : 1;
      if (i >= len)
        return found;
      size_t end = i;
      size_t j = vq_skip_space(b, i + 1, len);
      if (depth != 1 || j >= len || b[j] != ':' || end - start != klen ||
          memcmp(b + start, key, klen) != 0)
        continue;
      j = vq_skip_space(b, j + 1, len);
      size_t n = vq_json_number_len(b + j, len - j);
      if (n > 0 && vq_number_text(b + j, n, out) == 0)
        found = 0;
    }
  }
  return found;
}

/* What became of one field value. */
typedef enum { VQ_READ_OK, VQ_READ_BAD } vq_read_t;

/* Reads a JSON integer as a double, keeping unsigned 64-bit values.
 * json-c saturates integers beyond 64 bits to INT64_MIN or UINT64_MAX:
 * those are read again from the text (raw: the datagram, key: the key
 * found) as a double. Returns VQ_READ_OK, or VQ_READ_BAD when that fails. */
static vq_read_t vq_read_int(json_object *v, const char *raw, size_t raw_len,
                             const char *key, double *out) {
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MIN ||
      (i == INT64_MAX && json_object_get_uint64(v) == UINT64_MAX)) {
    if (raw == NULL || vq_raw_number(raw, raw_len, key, out) != 0)
      return VQ_READ_BAD;
    return isfinite(*out) ? VQ_READ_OK : VQ_READ_BAD;
  }
  if (i == INT64_MAX) /* INT64_MAX itself, or an unsigned value */
    *out = (double)json_object_get_uint64(v);
  else
    *out = (double)i;
  return VQ_READ_OK;
}

/* Reads one numeric field. null means "no value" (NaN). A string holding
 * exactly one JSON number is read as that number. Returns VQ_READ_BAD
 * (and leaves *out NaN) for other types and for non-finite numbers. */
static vq_read_t vq_read_num(json_object *v, const char *raw, size_t raw_len,
                             const char *key, double *out) {
  double d = NAN;
  vq_read_t r = VQ_READ_OK;
  switch (json_object_get_type(v)) {
  case json_type_null:
    break;
  case json_type_int:
    r = vq_read_int(v, raw, raw_len, key, &d);
    break;
  case json_type_double:
    d = json_object_get_double(v);
    break;
  case json_type_string:
    if (vq_number_text(json_object_get_string(v),
                       (size_t)json_object_get_string_len(v), &d) != 0)
      r = VQ_READ_BAD;
    break;
  default:
    r = VQ_READ_BAD;
  }
  if (r == VQ_READ_OK && json_object_get_type(v) != json_type_null &&
      !isfinite(d))
    r = VQ_READ_BAD;
  *out = r == VQ_READ_OK ? d : NAN;
  return r;
}

/* Reads one string field. Returns VQ_OK; VQ_REJ_BAD_TYPE for a
 * non-string identity field; VQ_REJ_MISSING when an identity field is
 * absent, null or empty. Any other non-string is dropped and *bad set. */
static vq_reason_t vq_read_str(json_object *v, const vq_field_t *f,
                               vq_str_t *out, int *bad) {
  *out = (vq_str_t){NULL, 0};
  if (v == NULL || json_object_get_type(v) == json_type_null)
    return f->required ? VQ_REJ_MISSING : VQ_OK;
  if (json_object_get_type(v) != json_type_string) {
    if (f->required)
      return VQ_REJ_BAD_TYPE;
    *bad = 1;
    return VQ_OK;
  }
  int len = json_object_get_string_len(v);
  if (len <= 0 && f->required)
    return VQ_REJ_MISSING;
  *out = (vq_str_t){json_object_get_string(v), (size_t)(len > 0 ? len : 0)};
  return VQ_OK;
}

/* Decides the message type from message_type. Returns VQ_OK and sets *t,
 * or the rejection reason. */
static vq_reason_t vq_read_type(json_object *root, vq_msg_type_t *t) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(root, "message_type", &v) || v == NULL)
    return VQ_REJ_NO_TYPE;
  if (json_object_get_type(v) != json_type_string)
    return VQ_REJ_BAD_TYPE;
  const char *s = json_object_get_string(v);
  size_t len = (size_t)json_object_get_string_len(v);
  for (int i = 0; i < VQ_MSG_TYPE_COUNT; i++) {
    if (strcmp(s, vq_msg_types[i].name) == 0 &&
        len == strlen(vq_msg_types[i].name)) {
      *t = (vq_msg_type_t)i;
      return VQ_OK;
    }
  }
  static const char suffix[] = "_query";
  if (len >= sizeof(suffix) - 1 &&
      memcmp(s + len - (sizeof(suffix) - 1), suffix, sizeof(suffix) - 1) == 0)
    return VQ_REJ_QUERY;
  return VQ_REJ_UNKNOWN_TYPE;
}

/* Fills m from the fields table of its type; raw is the datagram.
 * Returns VQ_OK or a reason (identity fields only). */
static vq_reason_t vq_read_fields(json_object *root, const char *raw,
                                  size_t raw_len, vq_message_t *m) {
  const vq_field_t *fields = vq_msg_types[m->type].fields;
  size_t n = vq_msg_types[m->type].fields_num;
  for (size_t i = 0; i < n; i++) {
    const vq_field_t *f = fields + i;
    int present = 0, bad = 0;
    const char *key;
    json_object *v = vq_lookup(root, f, &present, &key);
    if (f->kind == VQ_F_STR) {
      vq_reason_t r = vq_read_str(v, f, &m->str[f->id], &bad);
      if (r != VQ_OK)
        return r;
      if (bad)
        m->bad_str |= UINT32_C(1) << f->id;
    } else if (present && vq_read_num(v, raw, raw_len, key, &m->num[f->id]) ==
                              VQ_READ_BAD) {
      m->bad_num |= UINT64_C(1) << f->id;
    }
  }
  return VQ_OK;
}

/* Returns 1 if only JSON whitespace follows offset in buf. */
static int vq_only_space(const char *buf, size_t off, size_t len) {
  for (; off < len; off++) {
    char c = buf[off];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      return 0;
  }
  return 1;
}

/* Returns the value of the 4 hex digits at s, or -1. */
static long vq_hex4(const unsigned char *s) {
  long v = 0;
  for (int i = 0; i < 4; i++) {
    int c = s[i], d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (c | 0x20) - 'a' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

/* Returns 1 if the digit at b[i] starts an integer part (not a later
 * digit, a fraction or an exponent). */
static int vq_starts_number(const unsigned char *b, size_t i) {
  if (i == 0)
    return 1;
  unsigned p = b[i - 1];
  if ((p >= '0' && p <= '9') || p == '.' || (p | 0x20) == 'e')
    return 0;
  if ((p == '+' || p == '-') && i >= 2 && (b[i - 2] | 0x20) == 'e')
    return 0;
  return 1;
}

/* Returns 1 if buf passes the checks json-c's strict mode leaves out: raw
 * control characters and strict UTF-8 in strings, paired surrogate
 * escapes, and outside strings no NaN/Infinity, single quotes, leading
 * zeros or "1." numbers. json-c checks the rest. */
static int vq_prescan(const unsigned char *b, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned c = b[i];
    if (c == '"') {
      for (i++;; i++) {
        if (i >= len)
          return 0;
        c = b[i];
        if (c == '"')
          break;
        if (c < 0x20)
          return 0;
        if (c >= 0x80) {
          size_t k = cm_utf8_decode(b + i, len - i, NULL);
          if (k == 0)
            return 0;
          i += k - 1;
        } else if (c == '\\') {
          if (i + 1 >= len)
            return 0;
          if (b[i + 1] != 'u') {
            i++;
            continue;
          }
          long u = i + 5 < len ? vq_hex4(b + i + 2) : -1;
          if (u < 0)
            return 0;
          i += 5;
          if (u >= 0xdc00 && u <= 0xdfff)
            return 0;
          if (u >= 0xd800 && u <= 0xdbff) {
            long l = i + 6 < len && b[i + 1] == '\\' && b[i + 2] == 'u'
                         ? vq_hex4(b + i + 3)
                         : -1;
            if (l < 0xdc00 || l > 0xdfff)
              return 0;
            i += 6;
          }
        }
      }
    } else if (c == 'N' || c == 'I' || c == '\'') {
      return 0;
    } else if (c == '0' && i + 1 < len && b[i + 1] >= '0' && b[i + 1] <= '9' &&
               vq_starts_number(b, i)) {
      return 0;
    } else if (c == '.' && (i + 1 >= len || b[i + 1] < '0' || b[i + 1] > '9')) {
      return 0;
    }
  }
  return 1;
}

vq_reason_t vq_parse(vq_parser_t *p, const char *buf, size_t len,
                     vq_message_t *m) {
  m->root = NULL;
  vq_message_clear(m);
  if (len == 0 || len > (size_t)INT32_MAX ||
      !vq_prescan((const unsigned char *)buf, len))
    return VQ_REJ_NOT_JSON;

  json_tokener_reset(p->tok);
  json_object *root = json_tokener_parse_ex(p->tok, buf, (int)len);
  /* A bare number is complete only at a terminator: feed json-c a NUL so
   * that "123" is seen as a number (then rejected as not an object). */
  size_t end = json_tokener_get_parse_end(p->tok);
  if (root == NULL && json_tokener_get_error(p->tok) == json_tokener_continue) {
    root = json_tokener_parse_ex(p->tok, "", 1);
    end = len; /* the whole buffer was consumed before the NUL */
  }
  /* JSON null parses to a NULL object with success: not an object. */
  if (json_tokener_get_error(p->tok) != json_tokener_success ||
      !vq_only_space(buf, end, len)) {
    json_object_put(root);
    return VQ_REJ_NOT_JSON;
  }
  if (json_object_get_type(root) != json_type_object) {
    json_object_put(root);
    return VQ_REJ_NOT_OBJECT;
  }

  m->root = root;
  vq_reason_t r = vq_read_type(root, &m->type);
  if (r == VQ_OK)
    r = vq_read_fields(root, buf, len, m);
  if (r != VQ_OK) {
    vq_message_clear(m);
    return r;
  }
  m->vo = vq_vo_from_fqan(m->str[VQ_S_FQAN]);
  return VQ_OK;
}

void vq_message_foreach_field(const vq_message_t *m, vq_field_cb cb,
                              void *ctx) {
  if (m->root == NULL)
    return;
  json_object_object_foreach((json_object *)m->root, key, v) {
    switch (json_object_get_type(v)) {
    case json_type_string:
      cb(ctx, key, VQ_V_STRING, json_object_get_string(v), 0);
      break;
    case json_type_int: {
      double d;
      if (vq_read_int(v, NULL, 0, key, &d) == VQ_READ_OK)
        cb(ctx, key, VQ_V_INT, NULL, d);
      break;
    }
    case json_type_double:
      cb(ctx, key, VQ_V_DOUBLE, NULL, json_object_get_double(v));
      break;
    case json_type_boolean:
      cb(ctx, key, VQ_V_BOOL, NULL, json_object_get_boolean(v));
      break;
    default:
      break;
    }
  }
}

int vq_message_take_outcome(vq_message_t *m, const vq_message_t *mt) {
  vq_str_t msg = mt->str[VQ_S_SHUTDOWN_MESSAGE];
  double t = mt->num[VQ_N_SHUTDOWN_TIME];
  if (m->root == NULL)
    return -1;
  json_object *jm = NULL, *jt = NULL;
  if (msg.ptr != NULL)
    jm = json_object_new_string_len(msg.ptr, (int)msg.len);
  if (!isnan(t))
    jt = t == floor(t) && fabs(t) < 9007199254740992.0
             ? json_object_new_int64((int64_t)t)
             : json_object_new_double(t);
  json_object *jf = json_object_new_string("machinetype_status");
  if ((msg.ptr != NULL && jm == NULL) || (!isnan(t) && jt == NULL) ||
      jf == NULL) {
    json_object_put(jm);
    json_object_put(jt);
    json_object_put(jf);
    return -1;
  }
  json_object_object_add(m->root, "shutdown_message", jm);
  json_object_object_add(m->root, "shutdown_time", jt);
  json_object_object_add(m->root, "outcome_from", jf);
  m->str[VQ_S_SHUTDOWN_MESSAGE] =
      jm != NULL ? (vq_str_t){json_object_get_string(jm),
                              (size_t)json_object_get_string_len(jm)}
                 : (vq_str_t){NULL, 0};
  m->num[VQ_N_SHUTDOWN_TIME] = t;
  return 0;
}
