/* SPDX-License-Identifier: MIT */
/*
 * vq_output.h: everything one VacQuery message becomes, in one call.
 *
 * vq_output_build() applies the VacQuery rules to one parsed message: the
 * site's cookie, the value lists (identifiers, DS values, meta), the
 * notifications (severity, message text, meta) and the updates the fleet
 * registry needs. The plugin only copies the result into collectd's structs
 * and dispatches it. Every text in the output is already cleaned: meta
 * strings and messages have no control bytes and fit collectd's limits.
 * Nothing here knows about collectd; nothing is shared between threads
 * (each worker keeps its own vq_output_t and reuses it).
 */
#ifndef VQ_OUTPUT_H
#define VQ_OUTPUT_H

#include "common/cm_buf.h"
#include "vq_message.h"
#include "vq_name.h"
#include "vq_policy.h"
#include "vq_sample.h"
#include "vq_types.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* The plugin name of every value list and notification. */
#define VQ_OUT_PLUGIN "vacquery"
/* Type of the per-message notifications (MessageNotifications). */
#define VQ_OUT_MESSAGE_TYPE "vacquery_message"
/* Meta key of the datagram's source address. */
#define VQ_OUT_SOURCE_KEY "source_address"
/* Size of the longest meta string plus its NUL: write_http's JSON
 * formatter refuses longer ones, which would lose the whole value list. */
#define VQ_OUT_META_STR_MAX 512
/* Size of a notification message (collectd's NOTIF_MAX_MSG_LEN). */
#define VQ_OUT_MSG_MAX 256

typedef enum {
  VQ_META_STRING,
  VQ_META_SIGNED,
  VQ_META_DOUBLE,
  VQ_META_BOOL
} vq_meta_kind_t;

/* One meta key/value pair. key and s are owned by the vq_output_t. */
typedef struct {
  const char *key;
  vq_meta_kind_t kind;
  const char *s; /* VQ_META_STRING: printable, < VQ_OUT_META_STR_MAX bytes */
  int64_t i;     /* VQ_META_SIGNED */
  double d;      /* VQ_META_DOUBLE */
  bool b;        /* VQ_META_BOOL */
  size_t key_off_, s_off_; /* private: offsets while being built */
} vq_meta_t;

/* A run of meta pairs, in the order they are to be added. */
typedef struct {
  const vq_meta_t *items;
  size_t num;
  size_t first_; /* private: index while the output is being built */
} vq_meta_list_t;

/* One value list: plugin VQ_OUT_PLUGIN, type type->name. */
typedef struct {
  vq_ident_t id;            /* host, plugin_instance, type_instance */
  const vq_type_t *type;    /* static: name, and each DS's kind */
  size_t values_num;        /* type->ds_num */
  double values[VQ_MAX_DS]; /* NaN where the message had no value */
  vq_meta_list_t meta;      /* lists may share one run (same items) */
} vq_out_values_t;

/* Severities, with collectd's NOTIF_* values. */
typedef enum {
  VQ_SEV_FAILURE = 1,
  VQ_SEV_WARNING = 2,
  VQ_SEV_OKAY = 4
} vq_severity_t;

/* One notification: plugin VQ_OUT_PLUGIN. */
typedef struct {
  vq_severity_t severity;
  vq_ident_t id;
  const char *type;             /* static */
  char message[VQ_OUT_MSG_MAX]; /* printable */
  vq_meta_list_t meta;
} vq_out_notif_t;

/* What the fleet registry is told about the message. */
typedef struct {
  vq_ident_t factory; /* host and plugin_instance of the factory seen */
  bool finished;      /* a finished machine: add fin to series finished_id */
  vq_ident_t finished_id;
  vq_finished_t fin;
} vq_fleet_update_t;

/* How the rules are configured (the <Plugin vacquery> options). */
typedef struct {
  const vq_site_cookie_t *cookies; /* SiteCookie */
  size_t cookies_num;
  double fizzle_seconds;       /* FizzleSeconds */
  bool finished_notifications; /* FinishedNotifications */
  bool message_notifications;  /* MessageNotifications */
} vq_output_conf_t;

#define VQ_OUT_NOTIFS_MAX 1

/*
 * What one message becomes. Dispatch lists[0 .. lists_num - 1] and
 * notifs[0 .. notifs_num - 1]; apply fleet; dispatch back only when the
 * fleet says the factory had been stale. Everything it points to is owned
 * by it and valid until the next vq_output_build() or vq_output_free().
 */
typedef struct {
  size_t lists_num;
  vq_out_values_t lists[VQ_MAX_MSG_TYPES];
  size_t notifs_num;
  vq_out_notif_t notifs[VQ_OUT_NOTIFS_MAX];
  vq_out_notif_t back; /* "reporting again" (OKAY) */
  vq_fleet_update_t fleet;
  /* private: storage reused from message to message */
  cm_buf_t text_;
  vq_meta_t *meta_;
  size_t meta_num_, meta_cap_;
  bool oom_;
} vq_output_t;

#define VQ_OUTPUT_INIT                                                         \
  { .lists_num = 0 }

/*
 * Applies the rules to the accepted message m, received from the address
 * source (NULL: unknown, then no source_address meta), filling *o (which
 * must be VQ_OUTPUT_INIT or a used output). Returns 0 and sets *reason to
 * VQ_OK, or to why the message is rejected after all (VQ_REJ_COOKIE,
 * VQ_REJ_TOO_LONG; o then holds nothing to dispatch); returns -1 when out
 * of memory (o holds nothing to dispatch). o stays the caller's and needs
 * vq_output_free() at the end.
 */
int vq_output_build(vq_output_t *o, const vq_output_conf_t *conf,
                    const vq_message_t *m, const struct sockaddr *source,
                    vq_reason_t *reason);

/*
 * Fills *o with only notifs[0]: factory (raw name, of raw space and site,
 * whose values have the slots host and plugin_instance) has sent nothing
 * for silent seconds (FAILURE). Returns 0, or -1 when out of memory (o
 * holds nothing).
 */
int vq_output_stale(vq_output_t *o, const char *host,
                    const char *plugin_instance, const char *site,
                    const char *space, const char *factory, double silent);

/* Frees what o holds; o is VQ_OUTPUT_INIT again. */
void vq_output_free(vq_output_t *o);

#endif
