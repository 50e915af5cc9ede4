/* SPDX-License-Identifier: MIT */
/* vq_poll_round.c: when a factory's query round is complete. */
#include "vq_poll_round.h"

#include "common/cm_htab.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct vq_poll_round {
  cm_htab_t *seen; /* machine name -> its own copy (the key) */
  double want;     /* the latest num_machines; -1 before one */
  char site[VQ_NAME_MAX];
};

vq_poll_round_t *vq_poll_round_create(void) {
  vq_poll_round_t *r = calloc(1, sizeof(*r));
  if (r == NULL || (r->seen = cm_htab_create()) == NULL) {
    free(r);
    return NULL;
  }
  r->want = -1;
  return r;
}

void vq_poll_round_destroy(vq_poll_round_t *r) {
  if (r == NULL)
    return;
  cm_htab_destroy(r->seen, free);
  free(r);
}

void vq_poll_round_reset(vq_poll_round_t *r) {
  cm_htab_clear(r->seen, free);
  r->want = -1;
}

int vq_poll_round_add(vq_poll_round_t *r, const vq_message_t *m) {
  vq_str_t mc = m->str[VQ_S_MACHINE];
  if (mc.ptr == NULL)
    return -1;
  if (cm_htab_get(r->seen, mc.ptr, mc.len) != NULL)
    return 0;
  char *key = malloc(mc.len + 1);
  if (key == NULL)
    return -1;
  memcpy(key, mc.ptr, mc.len);
  key[mc.len] = '\0';
  if (cm_htab_put(r->seen, key, mc.len, key) != 0) {
    free(key);
    return -1;
  }
  double n = m->num[VQ_N_NUM_MACHINES];
  if (!isnan(n) && n >= 0)
    r->want = floor(n);
  vq_poll_round_set_site(r, m->str[VQ_S_SITE]);
  return 1;
}

bool vq_poll_round_complete(const vq_poll_round_t *r) {
  return r->want >= 0 && (double)cm_htab_count(r->seen) >= r->want;
}

size_t vq_poll_round_seen(const vq_poll_round_t *r) {
  return cm_htab_count(r->seen);
}

int vq_poll_round_set_site(vq_poll_round_t *r, vq_str_t s) {
  if (s.ptr == NULL || s.len >= sizeof(r->site))
    return -1;
  memcpy(r->site, s.ptr, s.len);
  r->site[s.len] = '\0';
  return 0;
}

const char *vq_poll_round_site(const vq_poll_round_t *r) {
  return r->site;
}
