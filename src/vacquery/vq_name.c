/* SPDX-License-Identifier: MIT */
/* vq_name.c: sanitised collectd identifiers for VacQuery messages. */
#include "vq_name.h"

#include "common/cm_name.h"

#include <string.h>

int vq_name_join(char *dst, size_t size, const vq_str_t *parts, size_t n) {
  size_t off = 0;
  if (size == 0)
    return -1;
  dst[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (i > 0) {
      if (off + 1 >= size)
        return -1;
      dst[off++] = '.';
    }
    int w =
        cm_name_sanitise(dst + off, size - off, parts[i].ptr, parts[i].len, 0);
    if (w < 0)
      return -1;
    off += (size_t)w;
  }
  return (int)off;
}

static vq_str_t vq_str_lit(const char *s) {
  return (vq_str_t){s, strlen(s)};
}

vq_str_t vq_message_vo(const vq_message_t *m) {
  return m->vo.ptr != NULL ? m->vo : vq_str_lit(VQ_NO_VO);
}

vq_str_t vq_message_machinetype(const vq_message_t *m) {
  vq_str_t mt = m->str[VQ_S_MACHINETYPE];
  return (mt.ptr != NULL && mt.len > 0) ? mt : vq_str_lit(VQ_NO_MACHINETYPE);
}

vq_reason_t vq_ident_from_message(const vq_message_t *m, vq_ident_t *id) {
  vq_str_t where[2] = {m->str[VQ_S_SPACE], m->str[VQ_S_FACTORY]};
  if (vq_name_join(id->host, sizeof(id->host), &m->str[VQ_S_SITE], 1) < 0 ||
      vq_name_join(id->plugin_instance, sizeof(id->plugin_instance), where, 2) <
          0)
    return VQ_REJ_TOO_LONG;
  id->type_instance[0] = '\0';
  if (m->type == VQ_MSG_FACTORY)
    return VQ_OK;
  vq_str_t what[2] = {vq_message_vo(m), vq_message_machinetype(m)};
  if (vq_name_join(id->type_instance, sizeof(id->type_instance), what, 2) < 0)
    return VQ_REJ_TOO_LONG;
  return VQ_OK;
}
