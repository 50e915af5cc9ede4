/* SPDX-License-Identifier: MIT */
/* vq_poll_output.c: what a polled machine slot becomes (vq_poll_output.h). */
#include "vq_poll_output.h"

#include "common/cm_key.h"
#include "common/cm_name.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double vq_poll_state_code(vq_slot_state_t s) {
  return s >= VQ_SLOT_STARTING && s <= VQ_SLOT_UNKNOWN ? (double)s : NAN;
}

const char *vq_poll_state_key(vq_slot_state_t s) {
  static const char *const keys[VQ_SLOT_STATE_COUNT] = {
      [VQ_SLOT_STARTING] = "starting",   [VQ_SLOT_RUNNING] = "running",
      [VQ_SLOT_SHUT_DOWN] = "shut_down", [VQ_SLOT_PAUSED] = "paused",
      [VQ_SLOT_ZOMBIE] = "zombie",       [VQ_SLOT_UNKNOWN] = "unknown"};
  return (unsigned)s < VQ_SLOT_STATE_COUNT ? keys[s] : NULL;
}

/* Returns the slice of s, or of VQ_NO_VO/VQ_NO_MACHINETYPE ("none") when
 * s is empty. */
static vq_str_t vq_or_none(const char *s) {
  return s[0] != '\0' ? (vq_str_t){s, strlen(s)}
                      : (vq_str_t){VQ_NO_VO, strlen(VQ_NO_VO)};
}

/* Fills host and plugin_instance of id. Returns 0 or -1 (too long). */
static int vq_poll_factory_ident(vq_ident_t *id, const char *site,
                                 const char *space, const char *factory) {
  vq_str_t host = {site, strlen(site)};
  vq_str_t pi[2] = {{space, strlen(space)}, {factory, strlen(factory)}};
  if (vq_name_join(id->host, sizeof(id->host), &host, 1) < 0 ||
      vq_name_join(id->plugin_instance, sizeof(id->plugin_instance), pi, 2) < 0)
    return -1;
  return 0;
}

int vq_poll_ident(vq_ident_t *id, const char *site, const char *space,
                  const vq_slot_t *s) {
  vq_str_t ti[3] = {vq_or_none(s->vo),
                    vq_or_none(s->machinetype),
                    {s->machine, strlen(s->machine)}};
  if (vq_poll_factory_ident(id, site, space, s->factory) != 0 ||
      vq_name_join(id->type_instance, sizeof(id->type_instance), ti, 3) < 0)
    return -1;
  size_t all = strlen(id->host) + strlen(id->plugin_instance) +
               strlen(id->type_instance);
  return all <= VQ_POLL_NAMES_MAX ? 0 : -1;
}

/* Appends the string pair key=s (skipped when s is NULL), made printable
 * and cut to fit. */
static void vq_pm_str(vq_poll_out_t *o, const char *key, const char *s,
                      size_t len) {
  if (s == NULL || o->meta_num_ >= VQ_POLL_META_MAX)
    return;
  char *text = o->text_[o->meta_num_];
  cm_text_printable(text, VQ_OUT_META_STR_MAX, s, len);
  o->meta_[o->meta_num_++] =
      (vq_meta_t){.key = key, .kind = VQ_META_STRING, .s = text};
}

/* Appends a NUL-terminated string pair. */
static void vq_pm_cstr(vq_poll_out_t *o, const char *key, const char *s) {
  vq_pm_str(o, key, s, s != NULL ? strlen(s) : 0);
}

/* Appends the field f of m as a string pair when m has it. */
static void vq_pm_field(vq_poll_out_t *o, const char *key,
                        const vq_message_t *m, vq_str_id_t f) {
  if (m != NULL && m->str[f].ptr != NULL)
    vq_pm_str(o, key, m->str[f].ptr, m->str[f].len);
}

/* Appends a time (whole seconds) unless it is NaN. */
static void vq_pm_time(vq_poll_out_t *o, const char *key, double t) {
  if (isnan(t) || o->meta_num_ >= VQ_POLL_META_MAX)
    return;
  o->meta_[o->meta_num_++] =
      (vq_meta_t){.key = key, .kind = VQ_META_SIGNED, .i = (int64_t)t};
}

/* Fills the lifecycle notification of ev on slot s (identifier id). */
static void vq_poll_notif(vq_poll_out_t *o, const vq_slot_t *s,
                          const vq_slot_event_t *ev, const vq_poll_ctx_t *ctx,
                          const vq_ident_t *id) {
  vq_out_notif_t *n = &o->notif;
  const char *old = vq_slot_state_name(ev->old_state);
  const char *new_ = vq_slot_state_name(ev->new_state);
  bool bad =
      ev->new_state == VQ_SLOT_ZOMBIE ||
      (ev->new_state == VQ_SLOT_GONE && ev->old_state != VQ_SLOT_SHUT_DOWN);
  n->severity = bad ? VQ_SEV_WARNING : VQ_SEV_OKAY;
  n->id = *id;
  n->type = VQ_POLL_STATE_TYPE;
  snprintf(n->message, sizeof(n->message), "machine %s: %s -> %s", s->machine,
           old, new_);
  cm_text_printable(n->message, sizeof(n->message), n->message,
                    sizeof(n->message));
  const vq_message_t *m = ctx->m;
  vq_pm_cstr(o, "event", "machine_state");
  vq_pm_cstr(o, "site", ctx->site);
  vq_pm_cstr(o, "space", ctx->space);
  vq_pm_cstr(o, "factory", s->factory);
  vq_pm_cstr(o, "machine", s->machine);
  vq_pm_cstr(o, "machinetype", vq_or_none(s->machinetype).ptr);
  vq_pm_cstr(o, "vo", vq_or_none(s->vo).ptr);
  vq_pm_field(o, "fqan", m, VQ_S_FQAN);
  if (s->uuid[0] != '\0')
    vq_pm_cstr(o, "uuid", s->uuid);
  vq_pm_cstr(o, "old_state", old);
  vq_pm_cstr(o, "new_state", new_);
  vq_pm_time(o, "created_time", s->created_time);
  vq_pm_time(o, "started_time", s->started_time);
  vq_pm_time(o, "heartbeat_time", s->heartbeat_time);
  vq_pm_field(o, "shutdown_message", m, VQ_S_SHUTDOWN_MESSAGE);
  if (m != NULL)
    vq_pm_time(o, "shutdown_time", m->num[VQ_N_SHUTDOWN_TIME]);
  vq_pm_cstr(o, VQ_OUT_SOURCE_KEY, ctx->source);
  n->meta = (vq_meta_list_t){.items = o->meta_, .num = o->meta_num_};
  o->notifs_num = 1;
}

/* Returns now - t, at least 0 (the factory's clock may be ahead), or NaN
 * when t is missing (NaN or 0: Vac's "never"). */
static double vq_age(double now, double t) {
  if (isnan(t) || t <= 0)
    return NAN;
  return now - t > 0 ? now - t : 0;
}

int vq_poll_output(vq_poll_out_t *o, const vq_slot_t *s,
                   const vq_slot_event_t *ev, const vq_poll_ctx_t *ctx,
                   double now) {
  o->lists_num = 0;
  o->notifs_num = 0;
  o->meta_num_ = 0;
  vq_ident_t id;
  memset(&id, 0, sizeof(id));
  if (vq_poll_ident(&id, ctx->site, ctx->space, s) != 0)
    return -1;
  vq_slot_state_t state = ev != NULL ? ev->new_state : s->state;
  if (state != VQ_SLOT_GONE) {
    const double use[4] = {s->processors, s->cpu_percentage, s->cpu_seconds,
                           s->hs06};
    const double st[3] = {vq_poll_state_code(state),
                          vq_age(now, s->created_time),
                          vq_age(now, s->heartbeat_time)};
    const vq_type_id_t types[2] = {VQ_TYPE_MACHINE, VQ_TYPE_MACHINE_STATE};
    const double *values[2] = {use, st};
    for (size_t k = 0; k < 2; k++) {
      vq_out_values_t *l = &o->lists[k];
      memset(l, 0, sizeof(*l));
      l->id = id;
      l->type = vq_type(types[k]);
      l->values_num = l->type->ds_num;
      memcpy(l->values, values[k], l->values_num * sizeof(double));
    }
    o->lists_num = 2;
  }
  if (ev != NULL &&
      !(ev->old_state == VQ_SLOT_NONE && ev->new_state == VQ_SLOT_GONE))
    vq_poll_notif(o, s, ev, ctx, &id);
  return 0;
}

bool vq_poll_finish_ready(const vq_message_t *m) {
  vq_str_t st = m->str[VQ_S_STATE], msg = m->str[VQ_S_SHUTDOWN_MESSAGE];
  if (vq_slot_state_parse(st.ptr, st.len) != VQ_SLOT_SHUT_DOWN ||
      msg.ptr == NULL || msg.len < 3)
    return false;
  for (size_t i = 0; i < 3; i++)
    if (msg.ptr[i] < '0' || msg.ptr[i] > '9')
      return false;
  return msg.len == 3 || msg.ptr[3] == ' ';
}

size_t vq_poll_meta_with(const vq_meta_list_t *in, const char *key,
                         const char *value, vq_meta_t *out, size_t cap) {
  size_t n = in->num < cap ? in->num : cap;
  if (n > 0)
    memcpy(out, in->items, n * sizeof(*out));
  if (n < cap)
    out[n++] = (vq_meta_t){.key = key, .kind = VQ_META_STRING, .s = value};
  return n;
}

/* ---- per-factory tally of slots ------------------------------------------
 */

typedef struct {
  char vo[VQ_NAME_MAX], machinetype[VQ_NAME_MAX];
  double n[VQ_SLOT_STATE_COUNT];
} vq_tally_row_t;

struct vq_poll_tally {
  vq_tally_row_t *rows;
  size_t num, cap;
};

vq_poll_tally_t *vq_poll_tally_create(void) {
  return calloc(1, sizeof(vq_poll_tally_t));
}

void vq_poll_tally_destroy(vq_poll_tally_t *t) {
  if (t == NULL)
    return;
  free(t->rows);
  free(t);
}

void vq_poll_tally_reset(vq_poll_tally_t *t) {
  t->num = 0;
}

int vq_poll_tally_add(vq_poll_tally_t *t, const vq_slot_t *s) {
  if (vq_poll_state_key(s->state) == NULL)
    return 0;
  const char *vo = vq_or_none(s->vo).ptr;
  const char *mt = vq_or_none(s->machinetype).ptr;
  size_t i = 0;
  while (i < t->num && (strcmp(t->rows[i].vo, vo) != 0 ||
                        strcmp(t->rows[i].machinetype, mt) != 0))
    i++;
  if (i == t->num) {
    if (cm_vec_reserve((void **)&t->rows, &t->cap, t->num + 1,
                       sizeof(*t->rows)) != 0)
      return -1;
    vq_tally_row_t *r = &t->rows[t->num++];
    memset(r, 0, sizeof(*r));
    snprintf(r->vo, sizeof(r->vo), "%s", vo);
    snprintf(r->machinetype, sizeof(r->machinetype), "%s", mt);
  }
  t->rows[i].n[s->state]++;
  return 0;
}

vq_out_values_t *vq_poll_tally_lists(const vq_poll_tally_t *t, const char *site,
                                     const char *space, const char *factory,
                                     size_t *n) {
  *n = 0;
  const size_t per = VQ_SLOT_UNKNOWN - VQ_SLOT_STARTING + 1;
  if (t->num == 0)
    return NULL;
  vq_out_values_t *lists = calloc(t->num * per, sizeof(*lists));
  vq_ident_t id;
  memset(&id, 0, sizeof(id));
  if (lists == NULL || vq_poll_factory_ident(&id, site, space, factory) != 0) {
    free(lists);
    return NULL;
  }
  size_t k = 0;
  for (size_t i = 0; i < t->num; i++) {
    const vq_tally_row_t *r = &t->rows[i];
    for (int s = VQ_SLOT_STARTING; s <= VQ_SLOT_UNKNOWN; s++) {
      vq_str_t parts[3] = {
          {r->vo, strlen(r->vo)},
          {r->machinetype, strlen(r->machinetype)},
          {vq_poll_state_key(s), strlen(vq_poll_state_key(s))}};
      vq_out_values_t *l = &lists[k];
      l->id = id;
      if (vq_name_join(l->id.type_instance, sizeof(l->id.type_instance), parts,
                       3) < 0)
        continue; /* too long: this row is not dispatched */
      l->type = vq_type(VQ_TYPE_SLOTS);
      l->values_num = 1;
      l->values[0] = r->n[s];
      k++;
    }
  }
  *n = k;
  if (k == 0) {
    free(lists);
    return NULL;
  }
  return lists;
}
