/* SPDX-License-Identifier: MIT */
/* vq_output.c: what one VacQuery message becomes (see vq_output.h). */
#include "vq_output.h"

#include "common/cm_key.h"
#include "common/cm_name.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Returns the slice of the NUL-terminated s. */
static vq_str_t vq_cstr(const char *s) {
  return (vq_str_t){s, strlen(s)};
}

/* Copies the len bytes at s and a NUL into o's text. Returns the offset
 * of the copy (meaningless once o->oom_ is set). */
static size_t vq_text(vq_output_t *o, const char *s, size_t len) {
  size_t off = o->text_.len;
  if (cm_buf_add(&o->text_, s, len) != 0 || cm_buf_add(&o->text_, "", 1) != 0)
    o->oom_ = true;
  return off;
}

/* Appends a meta pair with the given key to o. Returns it (valid until the
 * next append), or NULL when out of memory (o->oom_ set). */
static vq_meta_t *vq_meta_new(vq_output_t *o, const char *key,
                              vq_meta_kind_t kind) {
  if (cm_vec_reserve((void **)&o->meta_, &o->meta_cap_, o->meta_num_ + 1,
                     sizeof(*o->meta_)) != 0) {
    o->oom_ = true;
    return NULL;
  }
  vq_meta_t *md = &o->meta_[o->meta_num_++];
  *md = (vq_meta_t){.kind = kind};
  md->key_off_ = vq_text(o, key, strlen(key));
  return md;
}

/* Adds the string s (skipped when absent) under key, control bytes
 * replaced and truncated to VQ_OUT_META_STR_MAX - 1 bytes. */
static void vq_meta_str(vq_output_t *o, const char *key, vq_str_t s) {
  if (s.ptr == NULL)
    return;
  char buf[VQ_OUT_META_STR_MAX];
  cm_text_printable(buf, sizeof(buf), s.ptr, s.len);
  vq_meta_t *md = vq_meta_new(o, key, VQ_META_STRING);
  if (md != NULL)
    md->s_off_ = vq_text(o, buf, strlen(buf));
}

/* Adds a number under key: a signed integer, a double or a boolean. */
static void vq_meta_num(vq_output_t *o, const char *key, vq_meta_kind_t kind,
                        double d) {
  vq_meta_t *md = vq_meta_new(o, key, kind);
  if (md == NULL)
    return;
  if (kind == VQ_META_SIGNED)
    md->i = (int64_t)d;
  else if (kind == VQ_META_BOOL)
    md->b = d != 0;
  else
    md->d = d;
}

/* Adds source_address when the source is known (source not NULL). */
static void vq_meta_source(vq_output_t *o, const char *source) {
  if (source != NULL)
    vq_meta_str(o, VQ_OUT_SOURCE_KEY, vq_cstr(source));
}

/* Starts and ends the meta run of one list or notification. */
static void vq_meta_begin(vq_output_t *o, vq_meta_list_t *l) {
  l->first_ = o->meta_num_;
}
static void vq_meta_end(vq_output_t *o, vq_meta_list_t *l) {
  l->num = o->meta_num_ - l->first_;
}

/* vq_field_cb: adds one message field; never the site's secret cookie, nor
 * a key that is not a plain name (a sender could otherwise smuggle control
 * bytes into logs through it). */
static void vq_meta_field(void *ctx, const char *key, vq_value_kind_t kind,
                          const char *s, double d) {
  vq_output_t *o = ctx;
  char clean[VQ_NAME_MAX];
  if (strcmp(key, vq_str_name(VQ_S_COOKIE)) == 0 ||
      cm_name_sanitise(clean, sizeof(clean), key, strlen(key), 0) < 0 ||
      strcmp(clean, key) != 0)
    return;
  switch (kind) {
  case VQ_V_STRING:
    vq_meta_str(o, key, vq_cstr(s));
    break;
  case VQ_V_INT:
    vq_meta_num(o, key, VQ_META_SIGNED, d);
    break;
  case VQ_V_DOUBLE:
    vq_meta_num(o, key, VQ_META_DOUBLE, d);
    break;
  case VQ_V_BOOL:
    vq_meta_num(o, key, VQ_META_BOOL, d);
    break;
  }
}

/* Adds the meta of a factory or machinetype value list: the raw names,
 * and the source address, plus (when full) the strings VacMon's tables
 * show and time_sent. */
static void vq_meta_values(vq_output_t *o, const vq_message_t *m, bool full,
                           const char *from) {
  static const vq_str_id_t names[] = {VQ_S_SITE, VQ_S_SPACE, VQ_S_FACTORY};
  static const vq_str_id_t common[] = {VQ_S_DAEMON_VERSION,
                                       VQ_S_VACQUERY_VERSION};
  static const vq_str_id_t factory[] = {VQ_S_OS_ISSUE, VQ_S_KERNEL_VERSION};
  static const vq_str_id_t mt[] = {VQ_S_FQAN, VQ_S_SHUTDOWN_MESSAGE,
                                   VQ_S_SHUTDOWN_MACHINE};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    vq_meta_str(o, vq_str_name(names[i]), m->str[names[i]]);
  if (m->type == VQ_MSG_MACHINETYPE) {
    vq_meta_str(o, "vo", vq_message_vo(m));
    vq_meta_str(o, "machinetype", vq_message_machinetype(m));
  }
  /* Every list: a writer may see the lists of one message in any order
   * (collectd's write threads), and write_gmond places the factory's host
   * at this address from whichever list comes first. */
  vq_meta_source(o, from);
  if (!full)
    return;
  for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
    vq_meta_str(o, vq_str_name(common[i]), m->str[common[i]]);
  const vq_str_id_t *more = m->type == VQ_MSG_FACTORY ? factory : mt;
  size_t more_num = m->type == VQ_MSG_FACTORY
                        ? sizeof(factory) / sizeof(factory[0])
                        : sizeof(mt) / sizeof(mt[0]);
  for (size_t i = 0; i < more_num; i++)
    vq_meta_str(o, vq_str_name(more[i]), m->str[more[i]]);
  if (!isnan(m->num[VQ_N_TIME_SENT]))
    vq_meta_num(o, "time_sent", VQ_META_SIGNED, m->num[VQ_N_TIME_SENT]);
}

/* Fills the head of a notification; its message text is cleaned of
 * control bytes (log forging). */
static void vq_notif_head(vq_out_notif_t *n, vq_severity_t severity,
                          const vq_ident_t *id, const char *type) {
  n->severity = severity;
  n->id = *id;
  n->type = type;
}
static void vq_notif_clean(vq_out_notif_t *n) {
  cm_text_printable(n->message, sizeof(n->message), n->message,
                    sizeof(n->message));
}

/* Writes the n slices parts[] one after the other into dst (size bytes,
 * NUL-terminated, cut short when they do not fit): snprintf's "%.*s" for
 * the every-message path, without its cost. */
static void vq_join(char *dst, size_t size, const vq_str_t *parts, size_t n) {
  size_t off = 0;
  for (size_t i = 0; i < n && off + 1 < size; i++) {
    size_t len = parts[i].len < size - 1 - off ? parts[i].len : size - 1 - off;
    if (len > 0)
      memcpy(dst + off, parts[i].ptr, len);
    off += len;
  }
  dst[off] = '\0';
}

/* Fills n: the factory went silent (FAILURE, silent seconds) or is
 * reporting again (OKAY), with the raw names as meta. */
static void vq_notif_factory(vq_output_t *o, vq_out_notif_t *n,
                             const vq_ident_t *id, vq_str_t site,
                             vq_str_t space, vq_str_t factory,
                             vq_severity_t severity, double silent,
                             const char *from) {
  vq_ident_t fid = *id;
  fid.type_instance[0] = '\0';
  vq_notif_head(n, severity, &fid, vq_type(VQ_TYPE_FACTORY)->name);
  char tail[64] = " is reporting again.";
  if (severity == VQ_SEV_FAILURE)
    snprintf(tail, sizeof(tail), " has sent nothing for %.0f s.", silent);
  const vq_str_t parts[] = {
      vq_cstr("Factory "), factory, vq_cstr(" (space "), space,
      vq_cstr(", site "),  site,    vq_cstr(")"),        vq_cstr(tail)};
  vq_join(n->message, sizeof(n->message), parts,
          sizeof(parts) / sizeof(parts[0]));
  vq_notif_clean(n);
  vq_meta_begin(o, &n->meta);
  vq_meta_str(o, "site", site);
  vq_meta_str(o, "space", space);
  vq_meta_str(o, "factory", factory);
  vq_meta_source(o, from);
  vq_meta_end(o, &n->meta);
}

/* Fills n for one finished machine, with every field as meta. */
static void vq_notif_finished(vq_output_t *o, vq_out_notif_t *n,
                              const vq_message_t *m, const vq_ident_t *id,
                              const vq_finished_t *fin, const char *from) {
  bool good = fin->outcome <= VQ_OUT_300 || fin->outcome == VQ_OUT_NONE;
  vq_notif_head(n, good ? VQ_SEV_OKAY : VQ_SEV_WARNING, id,
                vq_type(VQ_TYPE_FINISHED)->name);
  vq_str_t vo = vq_message_vo(m), mt = vq_message_machinetype(m);
  vq_str_t machine = m->str[VQ_S_MACHINE];
  snprintf(n->message, sizeof(n->message),
           "Machine %.*s (%.*s, VO %.*s) finished after %.0f s: %s.",
           machine.ptr ? (int)machine.len : 1, machine.ptr ? machine.ptr : "?",
           (int)mt.len, mt.ptr, (int)vo.len, vo.ptr, fin->wall_seconds,
           vq_outcome_name(fin->outcome));
  vq_notif_clean(n);
  vq_meta_begin(o, &n->meta);
  vq_message_foreach_field(m, vq_meta_field, o);
  vq_meta_str(o, "vo", vo);
  vq_meta_str(o, "outcome", vq_cstr(vq_outcome_name(fin->outcome)));
  vq_meta_num(o, "wall_seconds", VQ_META_DOUBLE, fin->wall_seconds);
  vq_meta_num(o, "hs06_seconds", VQ_META_DOUBLE, fin->hs06_seconds);
  vq_meta_source(o, from);
  vq_meta_end(o, &n->meta);
}

/* Fills n for one factory_status or machinetype_status (OKAY, type
 * instance the message type), with every field as meta. */
static void vq_notif_message(vq_output_t *o, vq_out_notif_t *n,
                             const vq_message_t *m, const vq_ident_t *id,
                             const char *from) {
  vq_ident_t mid = *id;
  snprintf(mid.type_instance, sizeof(mid.type_instance), "%s",
           vq_msg_type_name(m->type));
  vq_notif_head(n, VQ_SEV_OKAY, &mid, VQ_OUT_MESSAGE_TYPE);
  const vq_str_t *s = m->str;
  vq_str_t vo = vq_message_vo(m), mt = vq_message_machinetype(m);
  if (m->type == VQ_MSG_MACHINETYPE)
    snprintf(n->message, sizeof(n->message),
             "machinetype_status of %.*s (VO %.*s) from factory %.*s (space "
             "%.*s, site %.*s).",
             (int)mt.len, mt.ptr, (int)vo.len, vo.ptr, (int)s[VQ_S_FACTORY].len,
             s[VQ_S_FACTORY].ptr, (int)s[VQ_S_SPACE].len, s[VQ_S_SPACE].ptr,
             (int)s[VQ_S_SITE].len, s[VQ_S_SITE].ptr);
  else
    snprintf(n->message, sizeof(n->message),
             "factory_status from factory %.*s (space %.*s, site %.*s).",
             (int)s[VQ_S_FACTORY].len, s[VQ_S_FACTORY].ptr,
             (int)s[VQ_S_SPACE].len, s[VQ_S_SPACE].ptr, (int)s[VQ_S_SITE].len,
             s[VQ_S_SITE].ptr);
  vq_notif_clean(n);
  vq_meta_begin(o, &n->meta);
  vq_message_foreach_field(m, vq_meta_field, o);
  if (m->type == VQ_MSG_MACHINETYPE)
    vq_meta_str(o, "vo", vo);
  vq_meta_source(o, from);
  vq_meta_end(o, &n->meta);
}

/* Empties o, keeping its storage. */
static void vq_output_reset(vq_output_t *o) {
  o->lists_num = 0;
  o->notifs_num = 0;
  o->back = (vq_out_notif_t){0};
  o->fleet = (vq_fleet_update_t){0};
  cm_buf_reset(&o->text_);
  o->meta_num_ = 0;
  o->oom_ = false;
}

/* Points the meta runs of l at o's storage, now that it has stopped
 * moving. */
static void vq_meta_fix(vq_output_t *o, vq_meta_list_t *l) {
  l->items = l->num > 0 ? o->meta_ + l->first_ : NULL;
}

/* Ends the build: resolves every offset into a pointer. Returns 0, or -1
 * (and empties o) when anything ran out of memory. */
static int vq_output_finish(vq_output_t *o) {
  if (o->oom_ || !cm_buf_ok(&o->text_)) {
    vq_output_reset(o);
    return -1;
  }
  for (size_t i = 0; i < o->meta_num_; i++) {
    vq_meta_t *md = &o->meta_[i];
    md->key = o->text_.data + md->key_off_;
    md->s = md->kind == VQ_META_STRING ? o->text_.data + md->s_off_ : NULL;
  }
  for (size_t k = 0; k < o->lists_num; k++)
    vq_meta_fix(o, &o->lists[k].meta);
  for (size_t k = 0; k < o->notifs_num; k++)
    vq_meta_fix(o, &o->notifs[k].meta);
  vq_meta_fix(o, &o->back.meta);
  return 0;
}

/* Fills the value lists of a factory or machinetype message from s. The
 * first carries every string, the others only the names: collectd's cache
 * keeps a copy of each list's meta. */
static void vq_output_lists(vq_output_t *o, const vq_message_t *m,
                            const vq_sample_t *s, const char *from) {
  vq_meta_list_t full = {0}, names = {0};
  vq_meta_begin(o, &full);
  vq_meta_values(o, m, true, from);
  vq_meta_end(o, &full);
  vq_meta_begin(o, &names);
  vq_meta_values(o, m, false, from);
  vq_meta_end(o, &names);
  o->lists_num = s->lists_num;
  for (size_t k = 0; k < s->lists_num; k++) {
    vq_out_values_t *l = &o->lists[k];
    l->id = s->id;
    l->type = vq_type(s->lists[k].type);
    l->values_num = s->lists[k].values_num;
    memcpy(l->values, s->lists[k].values, sizeof(l->values));
    l->meta = k == 0 ? full : names;
  }
}

int vq_output_build(vq_output_t *o, const vq_output_conf_t *conf,
                    const vq_message_t *m, const struct sockaddr *source,
                    vq_reason_t *reason) {
  vq_output_reset(o);
  char addr[64];
  const char *from =
      source != NULL ? vq_addr_format(source, addr, sizeof(addr)) : NULL;
  *reason = vq_cookie_check(conf->cookies, conf->cookies_num, m);
  if (*reason != VQ_OK)
    return 0;
  vq_sample_t s;
  vq_finished_t fin;
  if (m->type == VQ_MSG_MACHINE)
    *reason = vq_finished_from_message(m, conf->fizzle_seconds, &s.id, &fin);
  else
    *reason = vq_sample_from_message(m, &s);
  if (*reason != VQ_OK)
    return 0;

  o->fleet.factory = s.id;
  if (m->type == VQ_MSG_MACHINE) {
    o->fleet.finished = true;
    o->fleet.finished_id = s.id;
    o->fleet.fin = fin;
    if (conf->finished_notifications)
      vq_notif_finished(o, &o->notifs[o->notifs_num++], m, &s.id, &fin, from);
  } else {
    vq_output_lists(o, m, &s, from);
    if (conf->message_notifications)
      vq_notif_message(o, &o->notifs[o->notifs_num++], m, &s.id, from);
  }
  vq_notif_factory(o, &o->back, &s.id, m->str[VQ_S_SITE], m->str[VQ_S_SPACE],
                   m->str[VQ_S_FACTORY], VQ_SEV_OKAY, 0, from);
  return vq_output_finish(o);
}

int vq_output_stale(vq_output_t *o, const char *host,
                    const char *plugin_instance, const char *site,
                    const char *space, const char *factory, double silent) {
  vq_output_reset(o);
  vq_ident_t id;
  memset(&id, 0, sizeof(id));
  snprintf(id.host, sizeof(id.host), "%s", host);
  snprintf(id.plugin_instance, sizeof(id.plugin_instance), "%s",
           plugin_instance);
  vq_notif_factory(o, &o->notifs[0], &id, vq_cstr(site), vq_cstr(space),
                   vq_cstr(factory), VQ_SEV_FAILURE, silent, NULL);
  o->notifs_num = 1;
  return vq_output_finish(o);
}

void vq_output_free(vq_output_t *o) {
  cm_buf_free(&o->text_);
  free(o->meta_);
  *o = (vq_output_t)VQ_OUTPUT_INIT;
}
