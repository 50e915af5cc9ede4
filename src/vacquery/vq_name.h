/* SPDX-License-Identifier: MIT */
/*
 * vq_name.h: the naming rules of docs/protocol.md section 10.
 *
 * Each component (site, space, factory, VO, machinetype) is sanitised to
 * [A-Za-z0-9_-], every other byte becoming '_', so that an FQDN is one
 * Graphite path node; components are joined with '.' inside a slot.
 */
#ifndef VQ_NAME_H
#define VQ_NAME_H

#include "common/cm_name.h"
#include "vq_message.h"

#include <stddef.h>

/* Size of a collectd identifier field (DATA_MAX_NAME_LEN). */
#define VQ_NAME_MAX 128

/* The VO used for machinetypes and machines whose fqan gives none. */
#define VQ_NO_VO "none"
/* The machinetype used for a machine_status without one. */
#define VQ_NO_MACHINETYPE "none"

/* The dynamic slots of a collectd value list, already sanitised. */
typedef struct {
  char host[VQ_NAME_MAX];            /* site */
  char plugin_instance[VQ_NAME_MAX]; /* <space>.<factory> */
  char type_instance[VQ_NAME_MAX];   /* "" or <vo>.<machinetype>[.<x>] */
} vq_ident_t;

/*
 * Writes the sanitised components parts[0..n-1] joined with '.' into dst.
 * Returns the length, or -1 when the result does not fit in size bytes or a
 * component is empty.
 */
int vq_name_join(char *dst, size_t size, const vq_str_t *parts, size_t n);

/*
 * Fills id->host and id->plugin_instance from m, and id->type_instance with
 * "<vo>.<machinetype>" for machinetype and machine messages (the
 * placeholders above when absent) or "" for factory messages. Returns VQ_OK
 * or VQ_REJ_TOO_LONG.
 */
vq_reason_t vq_ident_from_message(const vq_message_t *m, vq_ident_t *id);

/* Returns the VO of m as a slice: the derived VO, or VQ_NO_VO. */
vq_str_t vq_message_vo(const vq_message_t *m);

/* Returns the machinetype of m as a slice, or VQ_NO_MACHINETYPE. */
vq_str_t vq_message_machinetype(const vq_message_t *m);

#endif
