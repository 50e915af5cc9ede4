/* SPDX-License-Identifier: MIT */
/*
 * test_types.c: unit tests for src/vacquery/vq_types.c: the vacquery data sets,
 * and that the shipped etc/collectd.d/vacquery_types.db is exactly what
 * vq_types_format_db() writes (after its three '#' comment lines).
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_types.h"
#include "vacquery/vq_name.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef VQ_TYPES_DB
#define VQ_TYPES_DB "etc/collectd.d/vacquery_types.db"
#endif

/* Returns the whole text of vq_types_format_db() (caller frees). */
static char *format_all(size_t *len) {
  size_t need = vq_types_format_db(NULL, 0);
  char *buf = malloc(need + 1);
  assert_non_null(buf);
  assert_int_equal(vq_types_format_db(buf, need + 1), need);
  assert_int_equal(strlen(buf), need);
  *len = need;
  return buf;
}

static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void test_shipped_types_db_matches_format_db(void **state) {
  (void)state;
  char *file = read_text(VQ_TYPES_DB);
  /* the header: exactly three '#' lines, then no more comments */
  const char *p = file;
  int comments = 0;
  while (*p == '#') {
    comments++;
    const char *nl = strchr(p, '\n');
    assert_non_null(nl);
    p = nl + 1;
  }
  assert_int_equal(comments, 3);
  assert_null(strstr(p, "\n#"));
  size_t len;
  char *text = format_all(&len);
  if (strcmp(p, text) != 0) {
    size_t i = 0;
    while (p[i] != '\0' && p[i] == text[i])
      i++;
    fail_msg("%s differs from vq_types_format_db() at byte %zu:\n"
             "file:   \"%.60s\"\nformat: \"%.60s\"",
             VQ_TYPES_DB, i, p + i, text + i);
  }
  free(text);
  free(file);
}

/* snprintf-style contract: the length needed is returned whatever the
 * size; the buffer (exactly `size' bytes here) gets a NUL-terminated
 * prefix of the text and nothing past its end. */
static void test_format_db_size_probing(void **state) {
  (void)state;
  size_t len;
  char *full = format_all(&len);
  assert_true(len > 100);
  assert_int_equal(full[len - 1], '\n');

  /* size 0: nothing is written, the needed length is returned */
  char canary = 'C';
  assert_int_equal(vq_types_format_db(&canary, 0), len);
  assert_int_equal(canary, 'C');
  assert_int_equal(vq_types_format_db(NULL, 0), len);

  const size_t sizes[] = {1, 2, 10, 17, 100, len - 1, len, len + 1, len + 100};
  for (size_t i = 0; i < COUNT(sizes); i++) {
    size_t size = sizes[i];
    char *buf = malloc(size); /* exactly sized: ASan catches overruns */
    assert_non_null(buf);
    memset(buf, 'X', size);
    size_t got = vq_types_format_db(buf, size);
    if (got != len)
      fail_msg("size %zu: returned %zu, expected %zu", size, got, len);
    size_t kept = size - 1 < len ? size - 1 : len;
    if (strlen(buf) != kept || memcmp(buf, full, kept) != 0)
      fail_msg("size %zu: buffer holds %zu bytes, expected a prefix of %zu",
               size, strlen(buf), kept);
    free(buf);
  }
  /* every possible size, quickly */
  for (size_t size = 1; size <= len + 1; size++) {
    char *buf = malloc(size);
    assert_non_null(buf);
    size_t kept = size - 1 < len ? size - 1 : len;
    if (vq_types_format_db(buf, size) != len || memcmp(buf, full, kept) != 0 ||
        buf[kept] != '\0')
      fail_msg("size %zu: wrong text or length", size);
    free(buf);
  }
  free(full);
}

/* Every type and DS, written out by hand: type, DS name, kind, and the
 * message field (vq_num_id_t, or -1) the value comes from. The DS names
 * are the VacQuery field names (docs/protocol.md section 10). */
typedef struct {
  const char *name;
  vq_ds_kind_t kind;
  int field;
} ds_expect_t;

static const struct {
  vq_type_id_t id;
  const char *name;
  size_t ds_num;
  ds_expect_t ds[VQ_MAX_DS];
} type_table[] = {
    {VQ_TYPE_FACTORY,
     "vacquery_factory",
     4,
     {{"running_processors", VQ_DS_GAUGE, VQ_N_RUNNING_PROCESSORS},
      {"running_machines", VQ_DS_GAUGE, VQ_N_RUNNING_MACHINES},
      {"running_hs06", VQ_DS_GAUGE, VQ_N_RUNNING_HS06},
      {"load_average", VQ_DS_GAUGE, VQ_N_LOAD_AVERAGE}}},
    {VQ_TYPE_CAPACITY,
     "vacquery_capacity",
     4,
     {{"max_processors", VQ_DS_GAUGE, VQ_N_MAX_PROCESSORS},
      {"max_machines", VQ_DS_GAUGE, VQ_N_MAX_MACHINES},
      {"max_hs06", VQ_DS_GAUGE, VQ_N_MAX_HS06},
      {"boot_time", VQ_DS_GAUGE, VQ_N_BOOT_TIME}}},
    {VQ_TYPE_MEMORY,
     "vacquery_memory",
     4,
     {{"mem_used_kb", VQ_DS_GAUGE, VQ_N_MEM_USED_KB},
      {"mem_total_kb", VQ_DS_GAUGE, VQ_N_MEM_TOTAL_KB},
      {"swap_used_kb", VQ_DS_GAUGE, VQ_N_SWAP_USED_KB},
      {"swap_free_kb", VQ_DS_GAUGE, VQ_N_SWAP_FREE_KB}}},
    {VQ_TYPE_DISK,
     "vacquery_disk",
     4,
     {{"root_disk_avail_kb", VQ_DS_GAUGE, VQ_N_ROOT_DISK_AVAIL_KB},
      {"root_disk_avail_inodes", VQ_DS_GAUGE, VQ_N_ROOT_DISK_AVAIL_INODES},
      {"daemon_disk_avail_kb", VQ_DS_GAUGE, VQ_N_DAEMON_DISK_AVAIL_KB},
      {"daemon_disk_avail_inodes", VQ_DS_GAUGE,
       VQ_N_DAEMON_DISK_AVAIL_INODES}}},
    {VQ_TYPE_HEARTBEAT,
     "vacquery_heartbeat",
     4,
     {{"factory_heartbeat_time", VQ_DS_GAUGE, VQ_N_FACTORY_HEARTBEAT_TIME},
      {"responder_heartbeat_time", VQ_DS_GAUGE, VQ_N_RESPONDER_HEARTBEAT_TIME},
      {"mjf_heartbeat_time", VQ_DS_GAUGE, VQ_N_MJF_HEARTBEAT_TIME},
      {"metadata_heartbeat_time", VQ_DS_GAUGE, VQ_N_METADATA_HEARTBEAT_TIME}}},
    {VQ_TYPE_MT,
     "vacquery_mt",
     3,
     {{"running_processors", VQ_DS_GAUGE, VQ_N_RUNNING_PROCESSORS},
      {"running_machines", VQ_DS_GAUGE, VQ_N_RUNNING_MACHINES},
      {"running_hs06", VQ_DS_GAUGE, VQ_N_RUNNING_HS06}}},
    {VQ_TYPE_MT_LIMITS,
     "vacquery_mt_limits",
     3,
     {{"max_processors", VQ_DS_GAUGE, VQ_N_MAX_PROCESSORS},
      {"max_wallclock_seconds", VQ_DS_GAUGE, VQ_N_MAX_WALLCLOCK_SECONDS},
      {"bytes_per_processor", VQ_DS_GAUGE, VQ_N_BYTES_PER_PROCESSOR}}},
    {VQ_TYPE_MT_INFO,
     "vacquery_mt_info",
     2,
     {{"num_before_fizzle", VQ_DS_GAUGE, VQ_N_NUM_BEFORE_FIZZLE},
      {"num_machinetypes", VQ_DS_GAUGE, VQ_N_NUM_MACHINETYPES}}},
    {VQ_TYPE_FINISHED,
     "vacquery_finished",
     4,
     {{"machines", VQ_DS_DERIVE, -1},
      {"cpu_seconds", VQ_DS_DERIVE, -1},
      {"wall_seconds", VQ_DS_DERIVE, -1},
      {"hs06_seconds", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_SITE,
     "vacquery_site",
     2,
     {{"factories", VQ_DS_GAUGE, -1}, {"stale_factories", VQ_DS_GAUGE, -1}}},
    {VQ_TYPE_STATS,
     "vacquery_stats",
     5,
     {{"received", VQ_DS_DERIVE, -1},
      {"accepted", VQ_DS_DERIVE, -1},
      {"rejected", VQ_DS_DERIVE, -1},
      {"kernel_drops", VQ_DS_DERIVE, -1},
      {"queue_drops", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_ACCEPTED, "vacquery_accepted", 1, {{"value", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_REJECTED, "vacquery_rejected", 1, {{"value", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_QUEUE, "vacquery_queue", 1, {{"length", VQ_DS_GAUGE, -1}}},
    {VQ_TYPE_BAD_FIELD, "vacquery_bad_field", 1, {{"value", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_JOIN,
     "vacquery_join",
     3,
     {{"waiting", VQ_DS_GAUGE, -1},
      {"joined", VQ_DS_DERIVE, -1},
      {"timed_out", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_MACHINE,
     "vacquery_machine",
     4,
     {{"processors", VQ_DS_GAUGE, VQ_N_NUM_PROCESSORS},
      {"cpu_percentage", VQ_DS_GAUGE, VQ_N_CPU_PERCENTAGE},
      {"cpu_seconds", VQ_DS_GAUGE, VQ_N_CPU_SECONDS},
      {"hs06", VQ_DS_GAUGE, VQ_N_HS06}}},
    {VQ_TYPE_MACHINE_STATE,
     "vacquery_machine_state",
     3,
     {{"state", VQ_DS_GAUGE, -1},
      {"age", VQ_DS_GAUGE, -1},
      {"heartbeat_age", VQ_DS_GAUGE, -1}}},
    {VQ_TYPE_SLOTS, "vacquery_slots", 1, {{"machines", VQ_DS_GAUGE, -1}}},
    {VQ_TYPE_POLL, "vacquery_poll", 1, {{"value", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_FINISHED_SOURCE,
     "vacquery_finished_source",
     1,
     {{"value", VQ_DS_DERIVE, -1}}},
    {VQ_TYPE_QUEUE_BYTES,
     "vacquery_queue_bytes",
     1,
     {{"bytes", VQ_DS_GAUGE, -1}}},
};

/* Every type is the one in the table: name, DS names, kinds, the field
 * each value comes from, bounds 0..U. */
static void test_types_as_written(void **state) {
  (void)state;
  assert_int_equal(COUNT(type_table), VQ_TYPE_COUNT);
  for (size_t t = 0; t < COUNT(type_table); t++) {
    const vq_type_t *type = vq_type(type_table[t].id);
    assert_non_null(type);
    const char *ctx = type_table[t].name;
    CHECK_CSTR(ctx, type->name, type_table[t].name);
    CHECK_INT(ctx, type->ds_num, type_table[t].ds_num);
    for (size_t i = 0; i < type_table[t].ds_num; i++) {
      const ds_expect_t *e = &type_table[t].ds[i];
      char what[128];
      snprintf(what, sizeof(what), "%s DS %zu %s", ctx, i, e->name);
      CHECK_CSTR(what, type->ds[i].name, e->name);
      CHECK_INT(what, type->ds[i].kind, e->kind);
      CHECK_INT(what, type->ds[i].field, e->field);
      CHECK_NUM(what, type->ds[i].min, 0);
      CHECK_NUM(what, type->ds[i].max, NAN);
    }
  }
  assert_null(vq_type(VQ_TYPE_COUNT));
}

/* The types.db text is one line per type, in id order, written here from
 * the table: "name<TAB>ds:KIND:0:U, ...". */
static void test_format_db_text(void **state) {
  (void)state;
  char want[4096] = "";
  for (size_t t = 0; t < COUNT(type_table); t++) {
    size_t off = strlen(want);
    snprintf(want + off, sizeof(want) - off, "%s\t", type_table[t].name);
    for (size_t i = 0; i < type_table[t].ds_num; i++) {
      off = strlen(want);
      snprintf(want + off, sizeof(want) - off, "%s%s:%s:0:U", i > 0 ? ", " : "",
               type_table[t].ds[i].name,
               type_table[t].ds[i].kind == VQ_DS_GAUGE ? "GAUGE" : "DERIVE");
    }
    off = strlen(want);
    snprintf(want + off, sizeof(want) - off, "\n");
  }
  size_t len;
  char *text = format_all(&len);
  CHECK_CSTR("types.db", text, want);
  free(text);
}

/* Which types each message type becomes, in order; every factory- and
 * machinetype-level type belongs to exactly one message type. */
static void test_message_types(void **state) {
  (void)state;
  static const struct {
    vq_msg_type_t mt;
    size_t n;
    vq_type_id_t types[VQ_MAX_MSG_TYPES];
  } cases[] = {
      {VQ_MSG_FACTORY,
       5,
       {VQ_TYPE_FACTORY, VQ_TYPE_CAPACITY, VQ_TYPE_MEMORY, VQ_TYPE_DISK,
        VQ_TYPE_HEARTBEAT}},
      {VQ_MSG_MACHINETYPE, 3, {VQ_TYPE_MT, VQ_TYPE_MT_LIMITS, VQ_TYPE_MT_INFO}},
      {VQ_MSG_MACHINE, 0, {0}},
      {VQ_MSG_TYPE_COUNT, 0, {0}},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t n = 99;
    const vq_type_id_t *t = vq_message_types(cases[i].mt, &n);
    CHECK_INT("message type", n, cases[i].n);
    if (cases[i].n == 0)
      assert_null(t);
    for (size_t k = 0; k < n; k++)
      CHECK_INT(vq_type(cases[i].types[k])->name, t[k], cases[i].types[k]);
  }
}

/* Bytes write_graphite (collectd 5.12, format_graphite) writes for one DS
 * of a value list: "<prefix><host>.vacquery.<pi>.<type>[.<ti>].<ds> <value>
 * <time>\r\n", with every name slot at its 127-byte maximum and the
 * longest value "%.15g" prints. */
static size_t graphite_line_max(const vq_type_t *t, size_t ds, int has_ti) {
  const size_t slot = VQ_NAME_MAX - 1, value = 22, time = 10;
  size_t len = strlen("vac.") + slot + strlen(".vacquery.") + slot + 1 +
               strlen(t->name) + 1 + strlen(t->ds[ds].name) + 1 + value + 1 +
               time + 2;
  return len + (has_ti ? slot + 1 : 0);
}

/* write_graphite formats a whole value list into one 1428-byte buffer and
 * drops the list when it does not fit: every factory- and machinetype-level
 * type must fit with the longest names collectd allows. */
static void test_types_fit_write_graphite(void **state) {
  (void)state;
  const size_t wg_send_buf_size = 1428;
  for (int mt = 0; mt < VQ_MSG_TYPE_COUNT; mt++) {
    size_t n;
    const vq_type_id_t *types = vq_message_types((vq_msg_type_t)mt, &n);
    for (size_t k = 0; k < n; k++) {
      const vq_type_t *t = vq_type(types[k]);
      size_t total = 0;
      for (size_t i = 0; i < t->ds_num; i++)
        total += graphite_line_max(t, i, mt == VQ_MSG_MACHINETYPE);
      if (total >= wg_send_buf_size)
        fail_msg("%s: up to %zu bytes in write_graphite, buffer %zu", t->name,
                 total, wg_send_buf_size);
    }
  }
}

/* The polled machine-level types (issue 12) carry a type instance too
 * (<vo>.<machinetype>.<machine>): the plugin dispatches them only when
 * host, plugin instance and type instance add up to at most 256 bytes
 * (VQ_POLL_NAMES_MAX), and then each list's lines must fit write_graphite's
 * 1428-byte buffer, the prefix being "vac.". */
static void test_machine_types_fit_write_graphite(void **state) {
  (void)state;
  static const vq_type_id_t ids[] = {VQ_TYPE_MACHINE, VQ_TYPE_MACHINE_STATE,
                                     VQ_TYPE_SLOTS};
  const size_t names = 256, value = 22, time = 10;
  for (size_t k = 0; k < COUNT(ids); k++) {
    const vq_type_t *t = vq_type(ids[k]);
    size_t total = 0;
    for (size_t i = 0; i < t->ds_num; i++)
      total += strlen("vac.") + names + strlen(".vacquery.") + 1 +
               strlen(t->name) + 1 + 1 + strlen(t->ds[i].name) + 1 + value + 1 +
               time + 2;
    if (total >= 1428)
      fail_msg("%s: up to %zu bytes in write_graphite", t->name, total);
  }
}

static int valid_name(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

static void test_names_unique_and_well_formed(void **state) {
  (void)state;
  for (int t = 0; t < VQ_TYPE_COUNT; t++) {
    const vq_type_t *type = vq_type((vq_type_id_t)t);
    assert_non_null(type);
    if (!valid_name(type->name) || strncmp(type->name, "vacquery_", 9) != 0)
      fail_msg("bad type name %s", type->name);
    for (int u = t + 1; u < VQ_TYPE_COUNT; u++)
      assert_string_not_equal(type->name, vq_type((vq_type_id_t)u)->name);
    assert_true(type->ds_num >= 1 && type->ds_num <= VQ_MAX_DS);
    for (size_t i = 0; i < type->ds_num; i++) {
      const vq_ds_t *ds = &type->ds[i];
      if (!valid_name(ds->name) || strlen(ds->name) >= 64)
        fail_msg("%s: bad DS name %s", type->name, ds->name);
      for (size_t j = i + 1; j < type->ds_num; j++)
        if (strcmp(ds->name, type->ds[j].name) == 0)
          fail_msg("%s: DS name %s used twice", type->name, ds->name);
      /* counters are DERIVE from 0, gauges non-negative too */
      assert_true(ds->kind == VQ_DS_GAUGE || ds->kind == VQ_DS_DERIVE);
      assert_true(ds->min == 0);
      assert_true(isnan(ds->max));
    }
  }
  assert_null(vq_type(VQ_TYPE_COUNT));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shipped_types_db_matches_format_db),
      cmocka_unit_test(test_format_db_size_probing),
      cmocka_unit_test(test_types_as_written),
      cmocka_unit_test(test_format_db_text),
      cmocka_unit_test(test_names_unique_and_well_formed),
      cmocka_unit_test(test_message_types),
      cmocka_unit_test(test_types_fit_write_graphite),
      cmocka_unit_test(test_machine_types_fit_write_graphite),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
