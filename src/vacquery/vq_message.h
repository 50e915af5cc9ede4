/* SPDX-License-Identifier: MIT */
/*
 * vq_message.h: one VacQuery status message, parsed and normalised.
 *
 * vq_parse() turns one datagram into a vq_message_t: the message type, the
 * string fields and the numeric fields of docs/protocol.md sections 3-6, with
 * vacmond's fill-if-absent legacy fix-ups applied (docs/protocol.md section 9,
 * plus the safe extras max_cpus and num_cpus) and the VO derived from
 * fqan (section 7). Nothing here knows about collectd.
 */
#ifndef VQ_MESSAGE_H
#define VQ_MESSAGE_H

#include "vq_reason.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
  VQ_MSG_FACTORY = 0, /* factory_status */
  VQ_MSG_MACHINETYPE, /* machinetype_status */
  VQ_MSG_MACHINE,     /* machine_status: always a finished machine */
  VQ_MSG_TYPE_COUNT
} vq_msg_type_t;

/* String fields. A field that is absent or JSON null has ptr == NULL. */
typedef enum {
  VQ_S_SITE = 0,
  VQ_S_SPACE,
  VQ_S_FACTORY,
  VQ_S_MACHINETYPE,
  VQ_S_FQAN,
  VQ_S_COOKIE,
  VQ_S_DAEMON_VERSION,
  VQ_S_VACQUERY_VERSION,
  VQ_S_KERNEL_VERSION,
  VQ_S_OS_ISSUE,
  VQ_S_MACHINE,
  VQ_S_STATE,
  VQ_S_MACHINE_MODEL,
  VQ_S_UUID,
  VQ_S_SHUTDOWN_MESSAGE,
  VQ_S_SHUTDOWN_MACHINE,
  VQ_S_COUNT
} vq_str_id_t;

/* Numeric fields of all three types. Absent, null or NaN is NaN. */
typedef enum {
  /* factory_status and machinetype_status */
  VQ_N_RUNNING_PROCESSORS = 0,
  VQ_N_RUNNING_MACHINES,
  VQ_N_RUNNING_HS06,
  VQ_N_MAX_PROCESSORS,
  /* factory_status */
  VQ_N_MAX_MACHINES,
  VQ_N_MAX_HS06,
  VQ_N_LOAD_AVERAGE,
  VQ_N_MEM_USED_KB,
  VQ_N_MEM_TOTAL_KB,
  VQ_N_SWAP_USED_KB,
  VQ_N_SWAP_FREE_KB,
  VQ_N_ROOT_DISK_AVAIL_KB,
  VQ_N_ROOT_DISK_AVAIL_INODES,
  VQ_N_DAEMON_DISK_AVAIL_KB,
  VQ_N_DAEMON_DISK_AVAIL_INODES,
  VQ_N_BOOT_TIME,
  VQ_N_FACTORY_HEARTBEAT_TIME,
  VQ_N_RESPONDER_HEARTBEAT_TIME,
  VQ_N_MJF_HEARTBEAT_TIME,
  VQ_N_METADATA_HEARTBEAT_TIME,
  /* machinetype_status */
  VQ_N_NUM_MACHINETYPES,
  VQ_N_NUM_BEFORE_FIZZLE,
  VQ_N_MAX_WALLCLOCK_SECONDS,
  VQ_N_BYTES_PER_PROCESSOR,
  /* machine_status */
  VQ_N_NUM_MACHINES,
  VQ_N_NUM_PROCESSORS,
  VQ_N_CREATED_TIME,
  VQ_N_STARTED_TIME,
  VQ_N_HEARTBEAT_TIME,
  VQ_N_CPU_SECONDS,
  VQ_N_CPU_PERCENTAGE,
  VQ_N_HS06,
  /* all */
  VQ_N_SHUTDOWN_TIME,
  VQ_N_TIME_SENT,
  VQ_N_COUNT
} vq_num_id_t;

/* A string slice. Not NUL-terminated in general. */
typedef struct {
  const char *ptr; /* NULL: absent or null */
  size_t len;
} vq_str_t;

typedef struct {
  vq_msg_type_t type;
  vq_str_t str[VQ_S_COUNT];
  double num[VQ_N_COUNT];
  vq_str_t vo; /* from fqan; ptr NULL when there is no VO */
  void *root;  /* the received object, owned; str[] and vo point into it */
  /* Fields present with a value of the wrong JSON type, or a number that
   * is not finite: dropped (NaN or absent) and flagged here, one bit per
   * vq_num_id_t / vq_str_id_t, so that the caller can count them. */
  uint64_t bad_num;
  uint32_t bad_str;
} vq_message_t;

_Static_assert(VQ_N_COUNT <= 64, "bad_num has one bit per numeric field");
_Static_assert(VQ_S_COUNT <= 32, "bad_str has one bit per string field");

/* One parser per thread: it keeps the member list of the last datagram,
 * so that parsing allocates once per message (the message's own block). */
typedef struct vq_parser vq_parser_t;

/* Returns a new parser, or NULL on allocation failure. The caller owns it
 * and frees it with vq_parser_destroy(). */
vq_parser_t *vq_parser_create(void);

/* Frees a parser; NULL is allowed. */
void vq_parser_destroy(vq_parser_t *p);

/*
 * Parses and normalises one datagram of len bytes (need not be
 * NUL-terminated). Only the identity fields (message_type, site, space,
 * factory, and the machinetype of a machinetype_status) reject a message
 * for their JSON type; any other known field of the wrong type, or a
 * number that is not finite, is dropped and flagged in bad_num/bad_str.
 * A string holding a plain JSON number ("28") is read as that number, and
 * an integer beyond 64 bits as the nearest double. The datagram must be
 * RFC 8259 JSON (cm_json.h), nesting at most 16 deep. Returns VQ_OK and
 * fills *m, which then owns one block holding the received object's
 * decoded members, which the caller must release with vq_message_clear();
 * or returns the rejection reason and leaves *m cleared (nothing to
 * release). Of duplicate keys the last value counts.
 */
vq_reason_t vq_parse(vq_parser_t *p, const char *buf, size_t len,
                     vq_message_t *m);

/* Releases what vq_parse() put in *m and clears it. Safe to call twice. */
void vq_message_clear(vq_message_t *m);

/* Returns the JSON name of a message type ("factory_status", ...). */
const char *vq_msg_type_name(vq_msg_type_t t);

/* Returns the JSON key of a numeric or string field ("running_processors"). */
const char *vq_num_name(vq_num_id_t id);
const char *vq_str_name(vq_str_id_t id);

/* Kinds of field value passed to a vq_field_cb. */
typedef enum { VQ_V_STRING, VQ_V_INT, VQ_V_DOUBLE, VQ_V_BOOL } vq_value_kind_t;

/* Called for one field: key and s are NUL-terminated and borrowed. */
typedef void (*vq_field_cb)(void *ctx, const char *key, vq_value_kind_t kind,
                            const char *s, double d);

/*
 * Calls cb for every key of the message as received (known or not) with
 * a scalar value: strings, numbers and booleans; nulls, arrays and objects
 * are skipped. Used to attach every field of a finished machine as meta.
 */
void vq_message_foreach_field(const vq_message_t *m, vq_field_cb cb, void *ctx);

/*
 * Gives the finished machine m (a machine_status) the outcome that the
 * machinetype_status mt reports for it: copies mt's shutdown_message and
 * shutdown_time into m (its slots and its received object, so that the fields
 * passed on as meta carry them) and adds "outcome_from":
 * "machinetype_status". The caller has checked that mt's shutdown_machine
 * names m's machine. Returns 0, or -1 on allocation failure (m unchanged).
 */
int vq_message_take_outcome(vq_message_t *m, const vq_message_t *mt);

/*
 * Derives the VO from an fqan as vacmond does (docs/protocol.md section 7): the
 * text between the first and second '/' when fqan starts with '/'. Returns a
 * slice of fqan, or {NULL, 0} when there is no VO (fqan NULL, empty, not
 * starting with '/', or an empty first element).
 */
vq_str_t vq_vo_from_fqan(vq_str_t fqan);

#endif
