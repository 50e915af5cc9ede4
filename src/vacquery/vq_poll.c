/* SPDX-License-Identifier: MIT */
/* vq_poll.c: responder queries, reply checks and machine slots. */
#include "vq_poll.h"

#include "common/cm_buf.h"
#include "common/cm_htab.h"
#include "common/cm_key.h"
#include "common/cm_sha256.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vq_poll_salt(const uint8_t rnd[32], char salt[VQ_POLL_SALT_LEN + 1]) {
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  for (size_t i = 0; i < 32; i += 3) {
    uint32_t v = (uint32_t)rnd[i] << 16;
    if (i + 1 < 32)
      v |= (uint32_t)rnd[i + 1] << 8;
    if (i + 2 < 32)
      v |= rnd[i + 2];
    salt[o++] = b64[(v >> 18) & 63];
    salt[o++] = b64[(v >> 12) & 63];
    salt[o++] = i + 1 < 32 ? b64[(v >> 6) & 63] : '=';
    salt[o++] = i + 2 < 32 ? b64[v & 63] : '=';
  }
  salt[o] = '\0';
}

void vq_poll_cookie(const char *salt, const char *factory, size_t factory_len,
                    char cookie[VQ_POLL_COOKIE_LEN + 1]) {
  cm_sha256_hex2(salt, strlen(salt), factory, factory_len, cookie);
}

long vq_poll_query(char *buf, size_t size, const char *space,
                   const char *cookie) {
  cm_buf_t b = CM_BUF_INIT;
  cm_buf_adds(&b, "{\"message_type\": \"machines_query\", \"method\": "
                  "\"machines\", \"vacquery_version\": \"VacQuery 01.03\", "
                  "\"space\": ");
  cm_buf_json_str(&b, space);
  cm_buf_adds(&b, ", \"cookie\": ");
  cm_buf_json_str(&b, cookie);
  cm_buf_adds(&b, "}");
  long n = -1;
  if (cm_buf_ok(&b) && b.len < size) {
    memcpy(buf, b.data, b.len + 1);
    n = (long)b.len;
  }
  cm_buf_free(&b);
  return n;
}

const char *vq_poll_verdict_name(vq_poll_verdict_t v) {
  static const char *const names[VQ_POLL_VERDICT_COUNT] = {
      "ok", "not_machine", "no_slot", "bad_space", "bad_cookie"};
  return (unsigned)v < VQ_POLL_VERDICT_COUNT ? names[v] : "unknown";
}

/* Returns 1 when slice s holds exactly the NUL-terminated text t. */
static int vq_str_is(vq_str_t s, const char *t) {
  return s.ptr != NULL && s.len == strlen(t) && memcmp(s.ptr, t, s.len) == 0;
}

vq_poll_verdict_t vq_poll_check(const vq_message_t *m, const char *salt,
                                const char *space) {
  if (m->type != VQ_MSG_MACHINE)
    return VQ_POLL_NOT_MACHINE;
  vq_str_t f = m->str[VQ_S_FACTORY], mc = m->str[VQ_S_MACHINE];
  if (f.ptr == NULL || f.len == 0 || mc.ptr == NULL || mc.len == 0)
    return VQ_POLL_NO_SLOT;
  if (!vq_str_is(m->str[VQ_S_SPACE], space))
    return VQ_POLL_BAD_SPACE;
  char want[VQ_POLL_COOKIE_LEN + 1];
  vq_poll_cookie(salt, f.ptr, f.len, want);
  if (!vq_str_is(m->str[VQ_S_COOKIE], want))
    return VQ_POLL_BAD_COOKIE;
  return VQ_POLL_OK;
}

/* ---- slot states ----------------------------------------------------------
 */

static const char *const vq_slot_names[VQ_SLOT_STATE_COUNT] = {
    "none",   "Starting", "Running", "Shut down",
    "Paused", "Zombie",   "Unknown", "gone"};

const char *vq_slot_state_name(vq_slot_state_t s) {
  return (unsigned)s < VQ_SLOT_STATE_COUNT ? vq_slot_names[s] : "Unknown";
}

vq_slot_state_t vq_slot_state_parse(const char *s, size_t len) {
  for (int i = VQ_SLOT_STARTING; i <= VQ_SLOT_UNKNOWN; i++)
    if (s != NULL && strlen(vq_slot_names[i]) == len &&
        memcmp(vq_slot_names[i], s, len) == 0)
      return (vq_slot_state_t)i;
  return VQ_SLOT_UNKNOWN;
}

/* A slot in the table: the public part, then its key inline. */
typedef struct {
  vq_slot_t s;
  size_t key_len;
  char key[]; /* factory \0 machine */
} vq_slot_entry_t;

struct vq_slots {
  cm_htab_t *by_key; /* factory \0 machine -> vq_slot_entry_t */
  size_t max;
};

vq_slots_t *vq_slots_create(size_t max_slots) {
  vq_slots_t *t = calloc(1, sizeof(*t));
  if (t == NULL || (t->by_key = cm_htab_create()) == NULL) {
    free(t);
    return NULL;
  }
  t->max = max_slots;
  return t;
}

void vq_slots_destroy(vq_slots_t *t) {
  if (t == NULL)
    return;
  cm_htab_destroy(t->by_key, free);
  free(t);
}

size_t vq_slots_count(const vq_slots_t *t) {
  return cm_htab_count(t->by_key);
}

/* Copies slice s into dst (size bytes), truncated, NUL-terminated; "" when
 * absent. */
static void vq_copy(char *dst, size_t size, vq_str_t s) {
  size_t n = s.ptr == NULL ? 0 : s.len < size - 1 ? s.len : size - 1;
  if (n > 0)
    memcpy(dst, s.ptr, n);
  dst[n] = '\0';
}

/* Returns the entry of m's slot, adding it (state NONE) when new and room
 * is left, or NULL. */
static vq_slot_entry_t *vq_slot_get(vq_slots_t *t, const vq_message_t *m,
                                    double now) {
  char key[2 * 256];
  const char *parts[2] = {m->str[VQ_S_FACTORY].ptr, m->str[VQ_S_MACHINE].ptr};
  const size_t lens[2] = {m->str[VQ_S_FACTORY].len, m->str[VQ_S_MACHINE].len};
  if (parts[0] == NULL || parts[1] == NULL)
    return NULL;
  long kl = cm_key_join(key, sizeof(key), parts, lens, 2, '\0');
  if (kl < 0)
    return NULL;
  vq_slot_entry_t *e = cm_htab_get(t->by_key, key, (size_t)kl);
  if (e != NULL)
    return e;
  if (cm_htab_count(t->by_key) >= t->max)
    return NULL;
  e = cm_key_entry_new(sizeof(*e), key, (size_t)kl, NULL, NULL, 0, NULL);
  if (e == NULL)
    return NULL;
  e->key_len = (size_t)kl;
  e->s.factory = e->key;
  e->s.machine = e->key + lens[0] + 1;
  e->s.first_seen = now;
  if (cm_htab_put(t->by_key, e->key, e->key_len, e) != 0) {
    free(e);
    return NULL;
  }
  return e;
}

/* Returns 1 when m describes another machine than the one slot e last
 * held (a new uuid, or a new created_time when there is no uuid). */
static int vq_slot_new_life(const vq_slot_entry_t *e, const vq_message_t *m) {
  if (m->str[VQ_S_UUID].ptr != NULL && m->str[VQ_S_UUID].len > 0) {
    char u[sizeof(e->s.uuid)];
    vq_copy(u, sizeof(u), m->str[VQ_S_UUID]);
    return e->s.uuid[0] != '\0' && strcmp(u, e->s.uuid) != 0;
  }
  double c = m->num[VQ_N_CREATED_TIME];
  return !isnan(c) && !isnan(e->s.created_time) && e->s.created_time != 0 &&
         c != e->s.created_time;
}

/* Takes the values of m into slot e. */
static void vq_slot_take(vq_slot_entry_t *e, const vq_message_t *m) {
  vq_slot_t *s = &e->s;
  vq_copy(s->machinetype, sizeof(s->machinetype), m->str[VQ_S_MACHINETYPE]);
  vq_copy(s->vo, sizeof(s->vo), m->vo);
  vq_copy(s->uuid, sizeof(s->uuid), m->str[VQ_S_UUID]);
  s->processors = m->num[VQ_N_NUM_PROCESSORS];
  s->cpu_percentage = m->num[VQ_N_CPU_PERCENTAGE];
  s->cpu_seconds = m->num[VQ_N_CPU_SECONDS];
  s->hs06 = m->num[VQ_N_HS06];
  s->created_time = m->num[VQ_N_CREATED_TIME];
  s->started_time = m->num[VQ_N_STARTED_TIME];
  s->heartbeat_time = m->num[VQ_N_HEARTBEAT_TIME];
}

int vq_slots_observe(vq_slots_t *t, const vq_message_t *m, uint64_t round,
                     double now, vq_slot_event_t *ev) {
  vq_slot_entry_t *e = vq_slot_get(t, m, now);
  if (e == NULL)
    return -1;
  vq_str_t st = m->str[VQ_S_STATE];
  vq_slot_state_t state = vq_slot_state_parse(st.ptr, st.len);
  vq_slot_state_t old = e->s.state;
  if (vq_slot_new_life(e, m)) {
    old = VQ_SLOT_NONE; /* the slot holds a new machine */
    e->s.finish_counted = 0;
    e->s.first_seen = now;
  }
  vq_slot_take(e, m);
  e->s.state = state;
  e->s.last_seen = now;
  e->s.round = round;
  ev->slot = &e->s;
  ev->old_state = old;
  ev->new_state = state;
  if (old == state)
    return 0;
  ev->old_state = old;
  ev->new_state = state;
  return 1;
}

size_t vq_slots_end_round(vq_slots_t *t, const char *factory, uint64_t round,
                          void (*fn)(const vq_slot_event_t *, void *),
                          void *arg) {
  size_t iter = 0, gone = 0;
  vq_slot_entry_t *e;
  while ((e = cm_htab_next(t->by_key, &iter)) != NULL)
    gone += strcmp(e->s.factory, factory) == 0 && e->s.round != round;
  if (gone == 0)
    return 0;
  /* cm_htab has no delete: rebuild the table from the slots that stay. */
  cm_htab_t *keep = cm_htab_create();
  if (keep == NULL)
    return 0; /* try again at the next round */
  iter = 0;
  while ((e = cm_htab_next(t->by_key, &iter)) != NULL) {
    if (strcmp(e->s.factory, factory) == 0 && e->s.round != round) {
      vq_slot_event_t ev = {&e->s, e->s.state, VQ_SLOT_GONE};
      e->s.state = VQ_SLOT_GONE;
      if (fn != NULL)
        fn(&ev, arg);
      free(e);
    } else if (cm_htab_put(keep, e->key, e->key_len, e) != 0) {
      free(e); /* out of memory: the slot is forgotten, seen anew later */
    }
  }
  cm_htab_destroy(t->by_key, NULL);
  t->by_key = keep;
  return gone;
}

int vq_slots_count_finish(vq_slots_t *t, const vq_message_t *m, double now) {
  vq_slot_entry_t *e = vq_slot_get(t, m, now);
  if (e == NULL)
    return -1;
  if (vq_slot_new_life(e, m)) {
    e->s.finish_counted = 0; /* a new machine in the slot */
    vq_slot_take(e, m);
  } else if (e->s.state == VQ_SLOT_NONE) {
    vq_slot_take(e, m); /* known from the pushed message only */
  }
  if (e->s.finish_counted)
    return 0;
  e->s.finish_counted = 1;
  if (e->s.state == VQ_SLOT_NONE)
    e->s.last_seen = now;
  return 1;
}
