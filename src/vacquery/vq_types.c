/* SPDX-License-Identifier: MIT */
/* vq_types.c: the vacquery data sets. */
#include "vq_types.h"
#include "vq_message.h"

#include <math.h>
#include <stdio.h>

#define G(f, id)                                                               \
  { f, VQ_DS_GAUGE, 0, NAN, id }
#define D(n)                                                                   \
  { n, VQ_DS_DERIVE, 0, NAN, -1 }

/* Every numeric factory_status field that VacMon charts or tables use
 * (time_sent travels as meta instead), in groups of at most four. */
static const vq_ds_t vq_factory_ds[] = {
    G("running_processors", VQ_N_RUNNING_PROCESSORS),
    G("running_machines", VQ_N_RUNNING_MACHINES),
    G("running_hs06", VQ_N_RUNNING_HS06), G("load_average", VQ_N_LOAD_AVERAGE)};
static const vq_ds_t vq_capacity_ds[] = {
    G("max_processors", VQ_N_MAX_PROCESSORS),
    G("max_machines", VQ_N_MAX_MACHINES), G("max_hs06", VQ_N_MAX_HS06),
    G("boot_time", VQ_N_BOOT_TIME)};
static const vq_ds_t vq_memory_ds[] = {
    G("mem_used_kb", VQ_N_MEM_USED_KB), G("mem_total_kb", VQ_N_MEM_TOTAL_KB),
    G("swap_used_kb", VQ_N_SWAP_USED_KB), G("swap_free_kb", VQ_N_SWAP_FREE_KB)};
static const vq_ds_t vq_disk_ds[] = {
    G("root_disk_avail_kb", VQ_N_ROOT_DISK_AVAIL_KB),
    G("root_disk_avail_inodes", VQ_N_ROOT_DISK_AVAIL_INODES),
    G("daemon_disk_avail_kb", VQ_N_DAEMON_DISK_AVAIL_KB),
    G("daemon_disk_avail_inodes", VQ_N_DAEMON_DISK_AVAIL_INODES)};
static const vq_ds_t vq_heartbeat_ds[] = {
    G("factory_heartbeat_time", VQ_N_FACTORY_HEARTBEAT_TIME),
    G("responder_heartbeat_time", VQ_N_RESPONDER_HEARTBEAT_TIME),
    G("mjf_heartbeat_time", VQ_N_MJF_HEARTBEAT_TIME),
    G("metadata_heartbeat_time", VQ_N_METADATA_HEARTBEAT_TIME)};

/* Every numeric machinetype_status field, in groups of at most three. */
static const vq_ds_t vq_mt_ds[] = {
    G("running_processors", VQ_N_RUNNING_PROCESSORS),
    G("running_machines", VQ_N_RUNNING_MACHINES),
    G("running_hs06", VQ_N_RUNNING_HS06)};
static const vq_ds_t vq_mt_limits_ds[] = {
    G("max_processors", VQ_N_MAX_PROCESSORS),
    G("max_wallclock_seconds", VQ_N_MAX_WALLCLOCK_SECONDS),
    G("bytes_per_processor", VQ_N_BYTES_PER_PROCESSOR)};
static const vq_ds_t vq_mt_info_ds[] = {
    G("num_before_fizzle", VQ_N_NUM_BEFORE_FIZZLE),
    G("num_machinetypes", VQ_N_NUM_MACHINETYPES)};

static const vq_ds_t vq_finished_ds[] = {D("machines"), D("cpu_seconds"),
                                         D("wall_seconds"), D("hs06_seconds")};
static const vq_ds_t vq_site_ds[] = {G("factories", -1),
                                     G("stale_factories", -1)};
static const vq_ds_t vq_stats_ds[] = {D("received"), D("accepted"),
                                      D("rejected"), D("kernel_drops"),
                                      D("queue_drops")};
static const vq_ds_t vq_value_ds[] = {D("value")};
static const vq_ds_t vq_queue_ds[] = {G("length", -1)};
static const vq_ds_t vq_queue_bytes_ds[] = {G("bytes", -1)};
static const vq_ds_t vq_join_ds[] = {G("waiting", -1), D("joined"),
                                     D("timed_out")};
/* A polled machine slot (issue 12): its use, then its state and ages. */
static const vq_ds_t vq_machine_ds[] = {
    G("processors", VQ_N_NUM_PROCESSORS),
    G("cpu_percentage", VQ_N_CPU_PERCENTAGE),
    G("cpu_seconds", VQ_N_CPU_SECONDS), G("hs06", VQ_N_HS06)};
static const vq_ds_t vq_machine_state_ds[] = {G("state", -1), G("age", -1),
                                              G("heartbeat_age", -1)};
static const vq_ds_t vq_slots_ds[] = {G("machines", -1)};

#define T(n, a)                                                                \
  { n, sizeof(a) / sizeof((a)[0]), a }

static const vq_type_t vq_types[VQ_TYPE_COUNT] = {
    [VQ_TYPE_FACTORY] = T("vacquery_factory", vq_factory_ds),
    [VQ_TYPE_CAPACITY] = T("vacquery_capacity", vq_capacity_ds),
    [VQ_TYPE_MEMORY] = T("vacquery_memory", vq_memory_ds),
    [VQ_TYPE_DISK] = T("vacquery_disk", vq_disk_ds),
    [VQ_TYPE_HEARTBEAT] = T("vacquery_heartbeat", vq_heartbeat_ds),
    [VQ_TYPE_MT] = T("vacquery_mt", vq_mt_ds),
    [VQ_TYPE_MT_LIMITS] = T("vacquery_mt_limits", vq_mt_limits_ds),
    [VQ_TYPE_MT_INFO] = T("vacquery_mt_info", vq_mt_info_ds),
    [VQ_TYPE_FINISHED] = T("vacquery_finished", vq_finished_ds),
    [VQ_TYPE_SITE] = T("vacquery_site", vq_site_ds),
    [VQ_TYPE_STATS] = T("vacquery_stats", vq_stats_ds),
    [VQ_TYPE_ACCEPTED] = T("vacquery_accepted", vq_value_ds),
    [VQ_TYPE_REJECTED] = T("vacquery_rejected", vq_value_ds),
    [VQ_TYPE_QUEUE] = T("vacquery_queue", vq_queue_ds),
    [VQ_TYPE_BAD_FIELD] = T("vacquery_bad_field", vq_value_ds),
    [VQ_TYPE_JOIN] = T("vacquery_join", vq_join_ds),
    [VQ_TYPE_MACHINE] = T("vacquery_machine", vq_machine_ds),
    [VQ_TYPE_MACHINE_STATE] = T("vacquery_machine_state", vq_machine_state_ds),
    [VQ_TYPE_SLOTS] = T("vacquery_slots", vq_slots_ds),
    [VQ_TYPE_POLL] = T("vacquery_poll", vq_value_ds),
    [VQ_TYPE_FINISHED_SOURCE] = T("vacquery_finished_source", vq_value_ds),
    [VQ_TYPE_QUEUE_BYTES] = T("vacquery_queue_bytes", vq_queue_bytes_ds),
};

const vq_type_t *vq_type(vq_type_id_t id) {
  return (unsigned)id < VQ_TYPE_COUNT ? &vq_types[id] : NULL;
}

const vq_type_id_t *vq_message_types(vq_msg_type_t mt, size_t *n) {
  static const vq_type_id_t factory[] = {VQ_TYPE_FACTORY, VQ_TYPE_CAPACITY,
                                         VQ_TYPE_MEMORY, VQ_TYPE_DISK,
                                         VQ_TYPE_HEARTBEAT};
  static const vq_type_id_t machinetype[] = {VQ_TYPE_MT, VQ_TYPE_MT_LIMITS,
                                             VQ_TYPE_MT_INFO};
  if (mt == VQ_MSG_FACTORY) {
    *n = sizeof(factory) / sizeof(factory[0]);
    return factory;
  }
  if (mt == VQ_MSG_MACHINETYPE) {
    *n = sizeof(machinetype) / sizeof(machinetype[0]);
    return machinetype;
  }
  *n = 0;
  return NULL;
}

/* An snprintf-style appender: len counts what was asked for, even past
 * size, so the caller learns the size it needs. */
typedef struct {
  char *buf;
  size_t size, len;
} vq_out_t;

static void vq_out(vq_out_t *o, const char *fmt, const char *s, double d) {
  size_t room = o->len < o->size ? o->size - o->len : 0;
  char *at = room ? o->buf + o->len : NULL;
  int w = s != NULL ? snprintf(at, room, fmt, s) : snprintf(at, room, fmt, d);
  o->len += (size_t)(w > 0 ? w : 0);
}

/* Appends a types.db bound: "U" for NAN, else the integer. */
static void vq_out_bound(vq_out_t *o, double v) {
  if (isnan(v))
    vq_out(o, "%s", "U", 0);
  else
    vq_out(o, "%.0f", NULL, v);
}

size_t vq_types_format_db(char *buf, size_t size) {
  vq_out_t o = {buf, size, 0};
  if (size > 0)
    buf[0] = '\0';
  for (int t = 0; t < VQ_TYPE_COUNT; t++) {
    const vq_type_t *type = &vq_types[t];
    vq_out(&o, "%s\t", type->name, 0);
    for (size_t i = 0; i < type->ds_num; i++) {
      const vq_ds_t *ds = &type->ds[i];
      vq_out(&o, i == 0 ? "%s:" : ", %s:", ds->name, 0);
      vq_out(&o, "%s:", ds->kind == VQ_DS_GAUGE ? "GAUGE" : "DERIVE", 0);
      vq_out_bound(&o, ds->min);
      vq_out(&o, "%s", ":", 0);
      vq_out_bound(&o, ds->max);
    }
    vq_out(&o, "%s", "\n", 0);
  }
  return o.len;
}
