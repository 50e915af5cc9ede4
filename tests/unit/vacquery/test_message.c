/* SPDX-License-Identifier: MIT */
/*
 * test_message.c: unit tests for src/vacquery/vq_message.c (and the reason
 * names of src/vacquery/vq_reason.c): parsing and normalising VacQuery
 * datagrams.
 *
 * Every datagram is copied into an exactly-sized heap buffer without a
 * terminating NUL before it is parsed, so AddressSanitizer or valgrind
 * catch any read past the length given to vq_parse().
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_reason.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vq_parser_t *parser;

/* ---- helpers ----------------------------------------------------------- */

/* Checks a slice against len bytes at e; e == NULL means "no value". */
static void check_slice(const char *ctx, const char *what, vq_str_t s,
                        const char *e, size_t elen) {
  if (e == NULL) {
    if (s.ptr != NULL)
      fail_msg("[%s] %s = \"%.*s\", expected no value", ctx, what, (int)s.len,
               s.ptr);
    return;
  }
  if (s.ptr == NULL)
    fail_msg("[%s] %s has no value, expected \"%.*s\"", ctx, what, (int)elen,
             e);
  if (s.len != elen || memcmp(s.ptr, e, elen) != 0)
    fail_msg("[%s] %s = \"%.*s\" (%zu bytes), expected \"%.*s\" (%zu bytes)",
             ctx, what, (int)s.len, s.ptr, s.len, (int)elen, e, elen);
}
static size_t slen(const char *s) {
  return s != NULL ? strlen(s) : 0;
}
#define CHECK_STR(ctx, s, e) check_slice((ctx), #s, (s), (e), slen(e))

/* Parses len bytes from an exactly-sized, unterminated heap copy. */
static vq_reason_t parse_bytes(const char *bytes, size_t len, vq_message_t *m) {
  char *buf = malloc(len > 0 ? len : 1);
  assert_non_null(buf);
  if (len > 0)
    memcpy(buf, bytes, len);
  vq_reason_t r = vq_parse(parser, buf, len, m);
  free(buf); /* the message must not point into the datagram */
  return r;
}

static vq_reason_t parse_str(const char *s, vq_message_t *m) {
  return parse_bytes(s, strlen(s), m);
}

/* After a rejection *m holds nothing that needs releasing. */
static void check_cleared(const char *ctx, const vq_message_t *m) {
  if (m->root != NULL)
    fail_msg("[%s] rejected message still owns a JSON tree", ctx);
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    if (!isnan(m->num[i]))
      fail_msg("[%s] rejected message has num[%zu] = %g", ctx, i, m->num[i]);
  for (size_t i = 0; i < VQ_S_COUNT; i++)
    if (m->str[i].ptr != NULL)
      fail_msg("[%s] rejected message has str[%zu] set", ctx, i);
  if (m->vo.ptr != NULL)
    fail_msg("[%s] rejected message has a vo", ctx);
}

/* Reads a whole file into a heap buffer (not NUL-terminated). */
static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    fail_msg("cannot open %s", path);
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 4096;
      buf = realloc(buf, cap);
      assert_non_null(buf);
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0)
      break;
    n += got;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Builds a datagram: the envelope of `type' (site, space, factory, plus a
 * machinetype for machinetype_status) and then the members in `body'. */
static char jbuf[65536];
static const char *build(const char *type, const char *body) {
  int mt = strcmp(type, "machinetype_status") == 0;
  snprintf(jbuf, sizeof(jbuf),
           "{\"message_type\": \"%s\", \"site\": \"S\", \"space\": \"sp\", "
           "\"factory\": \"f\"%s%s%s}",
           type, mt ? ", \"machinetype\": \"mt\"" : "",
           body[0] != '\0' ? ", " : "", body);
  return jbuf;
}

/* The JSON key of every field (docs/protocol.md sections 3-6), written
 * out here rather than taken from vq_num_name()/vq_str_name(). */
static const char *const num_key[VQ_N_COUNT] = {
    [VQ_N_RUNNING_PROCESSORS] = "running_processors",
    [VQ_N_RUNNING_MACHINES] = "running_machines",
    [VQ_N_RUNNING_HS06] = "running_hs06",
    [VQ_N_MAX_PROCESSORS] = "max_processors",
    [VQ_N_MAX_MACHINES] = "max_machines",
    [VQ_N_MAX_HS06] = "max_hs06",
    [VQ_N_LOAD_AVERAGE] = "load_average",
    [VQ_N_MEM_USED_KB] = "mem_used_kb",
    [VQ_N_MEM_TOTAL_KB] = "mem_total_kb",
    [VQ_N_SWAP_USED_KB] = "swap_used_kb",
    [VQ_N_SWAP_FREE_KB] = "swap_free_kb",
    [VQ_N_ROOT_DISK_AVAIL_KB] = "root_disk_avail_kb",
    [VQ_N_ROOT_DISK_AVAIL_INODES] = "root_disk_avail_inodes",
    [VQ_N_DAEMON_DISK_AVAIL_KB] = "daemon_disk_avail_kb",
    [VQ_N_DAEMON_DISK_AVAIL_INODES] = "daemon_disk_avail_inodes",
    [VQ_N_BOOT_TIME] = "boot_time",
    [VQ_N_FACTORY_HEARTBEAT_TIME] = "factory_heartbeat_time",
    [VQ_N_RESPONDER_HEARTBEAT_TIME] = "responder_heartbeat_time",
    [VQ_N_MJF_HEARTBEAT_TIME] = "mjf_heartbeat_time",
    [VQ_N_METADATA_HEARTBEAT_TIME] = "metadata_heartbeat_time",
    [VQ_N_NUM_MACHINETYPES] = "num_machinetypes",
    [VQ_N_NUM_BEFORE_FIZZLE] = "num_before_fizzle",
    [VQ_N_MAX_WALLCLOCK_SECONDS] = "max_wallclock_seconds",
    [VQ_N_BYTES_PER_PROCESSOR] = "bytes_per_processor",
    [VQ_N_NUM_MACHINES] = "num_machines",
    [VQ_N_NUM_PROCESSORS] = "num_processors",
    [VQ_N_CREATED_TIME] = "created_time",
    [VQ_N_STARTED_TIME] = "started_time",
    [VQ_N_HEARTBEAT_TIME] = "heartbeat_time",
    [VQ_N_CPU_SECONDS] = "cpu_seconds",
    [VQ_N_CPU_PERCENTAGE] = "cpu_percentage",
    [VQ_N_HS06] = "hs06",
    [VQ_N_SHUTDOWN_TIME] = "shutdown_time",
    [VQ_N_TIME_SENT] = "time_sent",
};
static const char *const str_key[VQ_S_COUNT] = {
    [VQ_S_SITE] = "site",
    [VQ_S_SPACE] = "space",
    [VQ_S_FACTORY] = "factory",
    [VQ_S_MACHINETYPE] = "machinetype",
    [VQ_S_FQAN] = "fqan",
    [VQ_S_COOKIE] = "cookie",
    [VQ_S_DAEMON_VERSION] = "daemon_version",
    [VQ_S_VACQUERY_VERSION] = "vacquery_version",
    [VQ_S_KERNEL_VERSION] = "kernel_version",
    [VQ_S_OS_ISSUE] = "os_issue",
    [VQ_S_MACHINE] = "machine",
    [VQ_S_STATE] = "state",
    [VQ_S_MACHINE_MODEL] = "machine_model",
    [VQ_S_UUID] = "uuid",
    [VQ_S_SHUTDOWN_MESSAGE] = "shutdown_message",
    [VQ_S_SHUTDOWN_MACHINE] = "shutdown_machine",
};

static const char *const status_types[] = {
    "factory_status", "machinetype_status", "machine_status"};

static int group_setup(void **state) {
  (void)state;
  parser = vq_parser_create();
  return parser != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  vq_parser_destroy(parser);
  parser = NULL;
  return 0;
}

/* ---- the shipped examples ---------------------------------------------- */

typedef struct {
  int set;
  vq_num_id_t id;
  double v;
} num_expect_t;

typedef struct {
  int set;
  vq_str_id_t id;
  const char *v; /* NULL: absent or null */
} str_expect_t;

#define N(i, val)                                                              \
  { 1, i, val }
#define S(i, val)                                                              \
  { 1, i, val }

static const struct {
  const char *file;
  vq_reason_t reason;
  vq_msg_type_t type;
  const char *site, *space, *factory, *machinetype, *vo;
  num_expect_t nums[24];
  str_expect_t strs[10];
} examples[] = {
    {.file = "factory_query-vac.json", .reason = VQ_REJ_QUERY},
    {.file = "machinetypes_query-vac.json", .reason = VQ_REJ_QUERY},
    {.file = "factory_status-vac-legacy-0.4.json",
     .reason = VQ_OK,
     .type = VQ_MSG_FACTORY,
     .site = "vac01.tier2.hep.manchester.ac.uk",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac103.tier2.hep.manchester.ac.uk",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 16), /* from running_cpus */
              N(VQ_N_RUNNING_MACHINES, 2),
              N(VQ_N_RUNNING_HS06, 160),
              N(VQ_N_MAX_PROCESSORS, 24), /* from total_cpus */
              N(VQ_N_MAX_MACHINES, 3),
              N(VQ_N_MAX_HS06, 240),
              N(VQ_N_DAEMON_DISK_AVAIL_KB, 1102745600),   /* vac_disk_* */
              N(VQ_N_DAEMON_DISK_AVAIL_INODES, 70320012), /* vac_disk_* */
              N(VQ_N_ROOT_DISK_AVAIL_KB, 40221312),
              N(VQ_N_ROOT_DISK_AVAIL_INODES, 2601532),
              N(VQ_N_LOAD_AVERAGE, 17.40),
              N(VQ_N_BOOT_TIME, 1471502211),
              N(VQ_N_FACTORY_HEARTBEAT_TIME, 1476000030),
              N(VQ_N_RESPONDER_HEARTBEAT_TIME, 1476000102),
              N(VQ_N_MJF_HEARTBEAT_TIME, 1476000077),
              N(VQ_N_METADATA_HEARTBEAT_TIME, 1475999512),
              N(VQ_N_SWAP_USED_KB, 3212),
              N(VQ_N_SWAP_FREE_KB, 8385392),
              N(VQ_N_MEM_USED_KB, 45122840),
              N(VQ_N_MEM_TOTAL_KB, 49412468),
              N(VQ_N_TIME_SENT, 1476000121),
              N(VQ_N_SHUTDOWN_TIME, NAN)},
     .strs = {S(VQ_S_DAEMON_VERSION, "Vac 01.00.01 vacd-factory"),
              S(VQ_S_VACQUERY_VERSION, "VacQuery 0.4"), S(VQ_S_COOKIE, "0"),
              S(VQ_S_KERNEL_VERSION, "2.6.32-642.6.2.el6.x86_64"),
              S(VQ_S_OS_ISSUE, "Scientific Linux release 6.8 (Carbon)"),
              S(VQ_S_FQAN, NULL)}},
    {.file = "factory_status-vac-man.json",
     .reason = VQ_OK,
     .type = VQ_MSG_FACTORY,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 28),
              N(VQ_N_RUNNING_MACHINES, 7),
              N(VQ_N_RUNNING_HS06, 294.0),
              N(VQ_N_MAX_PROCESSORS, 32),
              N(VQ_N_MAX_MACHINES, 32),
              N(VQ_N_MAX_HS06, 336.0),
              N(VQ_N_LOAD_AVERAGE, 27.63),
              N(VQ_N_MEM_USED_KB, 62818132),
              N(VQ_N_MEM_TOTAL_KB, 65690748),
              N(VQ_N_SWAP_USED_KB, 1048),
              N(VQ_N_SWAP_FREE_KB, 16776164),
              N(VQ_N_ROOT_DISK_AVAIL_KB, 38127412),
              N(VQ_N_ROOT_DISK_AVAIL_INODES, 2431180),
              N(VQ_N_DAEMON_DISK_AVAIL_KB, 1523419032),
              N(VQ_N_DAEMON_DISK_AVAIL_INODES, 97433561),
              N(VQ_N_BOOT_TIME, 1539080347),
              N(VQ_N_FACTORY_HEARTBEAT_TIME, 1542931109),
              N(VQ_N_RESPONDER_HEARTBEAT_TIME, 1542931187),
              N(VQ_N_MJF_HEARTBEAT_TIME, 1542931160),
              N(VQ_N_METADATA_HEARTBEAT_TIME, 1542930876),
              N(VQ_N_TIME_SENT, 1542931201)},
     .strs = {S(VQ_S_DAEMON_VERSION, "Vac 03.01.00 vacd-factory"),
              S(VQ_S_VACQUERY_VERSION, "VacQuery 01.03"), S(VQ_S_COOKIE, "0"),
              S(VQ_S_KERNEL_VERSION, "3.10.0-862.14.4.el7.x86_64"),
              S(VQ_S_OS_ISSUE, "CentOS Linux release 7.5.1804 (Core)")}},
    {.file = "factory_status-vac-nogocdb.json",
     .reason = VQ_OK,
     .type = VQ_MSG_FACTORY,
     .site = "pp.example.ac.uk",
     .space = "vac01.pp.example.ac.uk",
     .factory = "vachost07.pp.example.ac.uk",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 14), N(VQ_N_RUNNING_MACHINES, 5),
              N(VQ_N_RUNNING_HS06, 14.0), N(VQ_N_MAX_PROCESSORS, 24),
              N(VQ_N_MAX_MACHINES, 24), N(VQ_N_MAX_HS06, 24.0),
              N(VQ_N_LOAD_AVERAGE, 13.92), N(VQ_N_SWAP_USED_KB, 0),
              N(VQ_N_MEM_TOTAL_KB, 49283960),
              N(VQ_N_METADATA_HEARTBEAT_TIME, 1542929733),
              N(VQ_N_TIME_SENT, 1542931159)},
     .strs = {S(VQ_S_DAEMON_VERSION, "Vac 03.00.01 vacd-factory")}},
    {.file = "factory_status-vcycle-nolimit.json",
     .reason = VQ_OK,
     .type = VQ_MSG_FACTORY,
     .site = "cloud.example.ac.uk",
     .space = "vcycle02.cloud.example.ac.uk",
     .factory = "vcycle01.example.ac.uk",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 48), N(VQ_N_RUNNING_MACHINES, 12),
              N(VQ_N_MAX_PROCESSORS, NAN), /* null: processors_limit unset */
              N(VQ_N_MAX_MACHINES, NAN), N(VQ_N_RUNNING_HS06, NAN),
              N(VQ_N_MAX_HS06, NAN), N(VQ_N_RESPONDER_HEARTBEAT_TIME, NAN),
              N(VQ_N_LOAD_AVERAGE, 0.41), N(VQ_N_MEM_USED_KB, 3716012),
              N(VQ_N_DAEMON_DISK_AVAIL_KB, 412996980),
              N(VQ_N_FACTORY_HEARTBEAT_TIME, 1542931189),
              N(VQ_N_TIME_SENT, 1542931189)},
     .strs = {S(VQ_S_DAEMON_VERSION, "Vcycle 03.00+pre06 vcycled"),
              S(VQ_S_VACQUERY_VERSION, "VacQuery 01.02"),
              S(VQ_S_OS_ISSUE, "\\S")}},
    {.file = "factory_status-vcycle.json",
     .reason = VQ_OK,
     .type = VQ_MSG_FACTORY,
     .site = "UKI-EXAMPLE-CLOUD",
     .space = "vcycle01.cloud.example.ac.uk",
     .factory = "vcycle01.example.ac.uk",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 184), N(VQ_N_RUNNING_MACHINES, 23),
              N(VQ_N_MAX_PROCESSORS, 200), N(VQ_N_MAX_MACHINES, 200),
              N(VQ_N_RUNNING_HS06, 0.0), N(VQ_N_MAX_HS06, 0.0),
              N(VQ_N_RESPONDER_HEARTBEAT_TIME, NAN),
              N(VQ_N_DAEMON_DISK_AVAIL_INODES, 26180012),
              N(VQ_N_TIME_SENT, 1542931187)},
     .strs = {S(VQ_S_DAEMON_VERSION, "Vcycle 03.00+pre06 vcycled")}},
    {.file = "machine_status-vac-man-fizzle.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "gridpp",
     .vo = "gridpp",
     .nums = {N(VQ_N_NUM_MACHINES, 32), N(VQ_N_NUM_PROCESSORS, 1),
              N(VQ_N_CREATED_TIME, 1542929000),
              N(VQ_N_STARTED_TIME, 1542929012),
              N(VQ_N_HEARTBEAT_TIME, 1542929194), N(VQ_N_CPU_SECONDS, 41),
              N(VQ_N_CPU_PERCENTAGE, 9.8), N(VQ_N_HS06, 10.5),
              N(VQ_N_SHUTDOWN_TIME, NAN), N(VQ_N_TIME_SENT, 1542929262)},
     .strs = {S(VQ_S_MACHINE, "vac101-14.tier2.hep.manchester.ac.uk"),
              S(VQ_S_STATE, "Running"), S(VQ_S_MACHINE_MODEL, "cernvm3"),
              S(VQ_S_UUID, "c41e9d07-58a2-4b3f-9e16-70d2a5b8c3e1"),
              S(VQ_S_SHUTDOWN_MESSAGE, NULL),
              S(VQ_S_FQAN, "/gridpp/Role=NULL/Capability=NULL")}},
    {.file = "machine_status-vac-man-success.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = "lhcb",
     .nums = {N(VQ_N_NUM_PROCESSORS, 8), N(VQ_N_CPU_SECONDS, 1159337),
              N(VQ_N_CPU_PERCENTAGE, 14.6), N(VQ_N_HS06, 84.0),
              N(VQ_N_CREATED_TIME, 1542768930),
              N(VQ_N_STARTED_TIME, 1542768954),
              N(VQ_N_HEARTBEAT_TIME, 1542927335), N(VQ_N_SHUTDOWN_TIME, NAN),
              N(VQ_N_TIME_SENT, 1542927453)},
     .strs = {S(VQ_S_MACHINE, "vac101-05.tier2.hep.manchester.ac.uk"),
              S(VQ_S_UUID, "5f0c7a2e-9b1d-4e63-8a47-2c9d1e6b3f80"),
              S(VQ_S_SHUTDOWN_MESSAGE, NULL)}},
    {.file = "machine_status-vac-nofqan.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "pp.example.ac.uk",
     .space = "vac01.pp.example.ac.uk",
     .factory = "vachost07.pp.example.ac.uk",
     .machinetype = "test-docker",
     .vo = NULL,
     .nums = {N(VQ_N_NUM_MACHINES, 24), N(VQ_N_NUM_PROCESSORS, 1),
              N(VQ_N_CPU_SECONDS, 4711), N(VQ_N_CPU_PERCENTAGE, 97.9),
              N(VQ_N_HS06, 1.0), N(VQ_N_STARTED_TIME, 1542926006),
              N(VQ_N_HEARTBEAT_TIME, 1542930914)},
     .strs = {S(VQ_S_FQAN, NULL), S(VQ_S_MACHINE_MODEL, "docker"),
              S(VQ_S_UUID, "3f9a1c5e7b2d4f608a1e9c3b5d7f2a4c6e8b0d1f3a5c7e9b2"
                           "d4f6a8c0e1b3d5f")}},
    {.file = "machine_status-vac-responder-shutdown.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = "lhcb",
     .nums = {N(VQ_N_SHUTDOWN_TIME, 1542927380),
              N(VQ_N_HEARTBEAT_TIME, 1542927335), N(VQ_N_NUM_PROCESSORS, 8),
              N(VQ_N_TIME_SENT, 1542927530)},
     .strs = {S(VQ_S_STATE, "Shut down"),
              S(VQ_S_SHUTDOWN_MESSAGE, "200 Success"),
              S(VQ_S_DAEMON_VERSION, "Vac 03.01.00 vacd-responder"),
              S(VQ_S_COOKIE, "c23bc3de99b959e908495ac40cdaacef14a5c91434c2e0e"
                             "6ddd34e6540d0818a")}},
    {.file = "machine_status-vcycle-failure.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "UKI-EXAMPLE-CLOUD",
     .space = "vcycle01.cloud.example.ac.uk",
     .factory = "vcycle01.example.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = NULL, /* Vcycle never sends fqan */
     .nums = {N(VQ_N_NUM_MACHINES, 1), N(VQ_N_NUM_PROCESSORS, 8),
              N(VQ_N_CPU_SECONDS, 38991), N(VQ_N_CPU_PERCENTAGE, 100.0),
              N(VQ_N_HS06, 89.6), N(VQ_N_CREATED_TIME, 1542870602),
              N(VQ_N_STARTED_TIME, 1542870731),
              N(VQ_N_HEARTBEAT_TIME, 1542906014),
              N(VQ_N_SHUTDOWN_TIME, 1542909718)},
     .strs = {S(VQ_S_STATE, "Deleting"),
              S(VQ_S_SHUTDOWN_MESSAGE, "700 Heartbeat file not updated"),
              S(VQ_S_MACHINE, "vcycle-lhcb-prod-3qz8v1m0kd"),
              S(VQ_S_MACHINE_MODEL, NULL), S(VQ_S_FQAN, NULL)}},
    {.file = "machine_status-vcycle-success.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINE,
     .site = "UKI-EXAMPLE-CLOUD",
     .space = "vcycle01.cloud.example.ac.uk",
     .factory = "vcycle01.example.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = NULL,
     .nums = {N(VQ_N_STARTED_TIME, 1542758530),
              N(VQ_N_HEARTBEAT_TIME, 1542919877),
              N(VQ_N_SHUTDOWN_TIME, 1542919893), N(VQ_N_CPU_SECONDS, 161371),
              N(VQ_N_HS06, 89.6)},
     .strs = {S(VQ_S_MACHINE, "vcycle-lhcb-prod-x7k2m9q4ta"),
              S(VQ_S_SHUTDOWN_MESSAGE, "200 Success"),
              S(VQ_S_UUID, "0b6c2f8e-3a51-4d7e-9c0a-6e2b5d8f1a94")}},
    {.file = "machinetype_status-vac-legacy-0.3.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "vac02.hep.example.ac.uk",
     .space = "vac02.hep.example.ac.uk",
     .factory = "vacnode12.hep.example.ac.uk",
     .machinetype = "lhcb",
     .vo = "lhcb",
     .nums = {N(VQ_N_NUM_MACHINETYPES, 2),
              N(VQ_N_RUNNING_HS06, 40.0),  /* from total_hs06 */
              N(VQ_N_RUNNING_MACHINES, 4), /* from total_machines */
              N(VQ_N_MAX_MACHINES, NAN),   /* factory-only fix-up */
              N(VQ_N_MAX_HS06, NAN),       /* factory-only fix-up */
              N(VQ_N_RUNNING_PROCESSORS, NAN), N(VQ_N_MAX_PROCESSORS, NAN),
              N(VQ_N_NUM_BEFORE_FIZZLE, 0), N(VQ_N_SHUTDOWN_TIME, 1501231288),
              N(VQ_N_TIME_SENT, 1501234567)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, "200 Success"),
              S(VQ_S_SHUTDOWN_MACHINE, "vacnode12-03.hep.example.ac.uk"),
              S(VQ_S_DAEMON_VERSION, "Vac 00.21.05 vacd-factory"),
              S(VQ_S_VACQUERY_VERSION, "VacQuery 0.3")}},
    {.file = "machinetype_status-vac-legacy-0.4.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "vac01.tier2.hep.manchester.ac.uk",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac103.tier2.hep.manchester.ac.uk",
     .machinetype = "atlas",
     .vo = "atlas",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 16.0), /* from running_cpus */
              N(VQ_N_RUNNING_MACHINES, 2), N(VQ_N_RUNNING_HS06, 160.0),
              N(VQ_N_MAX_MACHINES, NAN), N(VQ_N_NUM_MACHINETYPES, 2),
              N(VQ_N_SHUTDOWN_TIME, 1475991230)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE,
                "300 No more work available from task queue"),
              S(VQ_S_FQAN, "/atlas/Role=production/Capability=NULL")}},
    {.file = "machinetype_status-vac-man-atlas.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "atlas-prod",
     .vo = "atlas",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 8.0), N(VQ_N_RUNNING_MACHINES, 1),
              N(VQ_N_RUNNING_HS06, 84.0), N(VQ_N_NUM_BEFORE_FIZZLE, 1),
              N(VQ_N_MAX_PROCESSORS, 8), N(VQ_N_MAX_WALLCLOCK_SECONDS, 172800),
              N(VQ_N_BYTES_PER_PROCESSOR, 2147483648.0),
              N(VQ_N_NUM_MACHINETYPES, 3), N(VQ_N_SHUTDOWN_TIME, 1542922871),
              N(VQ_N_TIME_SENT, 1542931200)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, "700 Heartbeat file not updated"),
              S(VQ_S_SHUTDOWN_MACHINE,
                "vac101-11.tier2.hep.manchester.ac.uk")}},
    {.file = "machinetype_status-vac-man-gridpp.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "gridpp",
     .vo = "gridpp",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 4.0), N(VQ_N_RUNNING_MACHINES, 4),
              N(VQ_N_RUNNING_HS06, 42.0), N(VQ_N_NUM_BEFORE_FIZZLE, 1),
              N(VQ_N_MAX_PROCESSORS, 1), N(VQ_N_MAX_WALLCLOCK_SECONDS, 86400),
              N(VQ_N_SHUTDOWN_TIME, 1542929190)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, "300 Nothing to do")}},
    {.file = "machinetype_status-vac-man-lhcb.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "UKI-NORTHGRID-MAN-HEP",
     .space = "vac01.tier2.hep.manchester.ac.uk",
     .factory = "vac101.tier2.hep.manchester.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = "lhcb",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 16.0), N(VQ_N_RUNNING_MACHINES, 2),
              N(VQ_N_RUNNING_HS06, 168.0), N(VQ_N_NUM_BEFORE_FIZZLE, 0),
              N(VQ_N_MAX_PROCESSORS, 8), N(VQ_N_MAX_WALLCLOCK_SECONDS, 172800),
              N(VQ_N_BYTES_PER_PROCESSOR, 2147483648.0),
              N(VQ_N_SHUTDOWN_TIME, 1542927380)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, "200 Success"),
              S(VQ_S_SHUTDOWN_MACHINE,
                "vac101-05.tier2.hep.manchester.ac.uk")}},
    {.file = "machinetype_status-vac-nogocdb-cms.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "pp.example.ac.uk",
     .space = "vac01.pp.example.ac.uk",
     .factory = "vachost07.pp.example.ac.uk",
     .machinetype = "cms-pilot",
     .vo = "cms",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 12.0), N(VQ_N_RUNNING_MACHINES, 3),
              N(VQ_N_RUNNING_HS06, 12.0), N(VQ_N_NUM_BEFORE_FIZZLE, 0),
              N(VQ_N_NUM_MACHINETYPES, 2), N(VQ_N_SHUTDOWN_TIME, NAN),
              N(VQ_N_MAX_PROCESSORS, NAN), N(VQ_N_MAX_WALLCLOCK_SECONDS, NAN),
              N(VQ_N_BYTES_PER_PROCESSOR, NAN)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, NULL), S(VQ_S_SHUTDOWN_MACHINE, NULL)}},
    {.file = "machinetype_status-vcycle-lhcb.json",
     .reason = VQ_OK,
     .type = VQ_MSG_MACHINETYPE,
     .site = "UKI-EXAMPLE-CLOUD",
     .space = "vcycle01.cloud.example.ac.uk",
     .factory = "vcycle01.example.ac.uk",
     .machinetype = "lhcb-prod",
     .vo = "lhcb",
     .nums = {N(VQ_N_RUNNING_PROCESSORS, 184), N(VQ_N_RUNNING_MACHINES, 23),
              N(VQ_N_RUNNING_HS06, 0.0), N(VQ_N_NUM_BEFORE_FIZZLE, NAN),
              N(VQ_N_MAX_PROCESSORS, 8), N(VQ_N_MAX_WALLCLOCK_SECONDS, 172800),
              N(VQ_N_BYTES_PER_PROCESSOR, 2147483648.0),
              N(VQ_N_NUM_MACHINETYPES, 1)},
     .strs = {S(VQ_S_SHUTDOWN_MESSAGE, NULL)}},
};

static int is_json_name(const char *name) {
  size_t n = strlen(name);
  return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Every *.json in the fixture directory has an expectation, and every
 * expectation has a file. */
static void test_every_example_file_has_an_expectation(void **state) {
  (void)state;
  DIR *d = opendir(CM_FIXTURES);
  if (d == NULL)
    fail_msg("cannot open fixture directory %s", CM_FIXTURES);
  int seen[COUNT(examples)] = {0};
  size_t files = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_json_name(de->d_name))
      continue;
    files++;
    size_t i;
    for (i = 0; i < COUNT(examples); i++)
      if (strcmp(examples[i].file, de->d_name) == 0)
        break;
    if (i == COUNT(examples)) {
      closedir(d);
      fail_msg("fixture %s has no entry in examples[]", de->d_name);
    }
    seen[i]++;
  }
  closedir(d);
  for (size_t i = 0; i < COUNT(examples); i++)
    if (seen[i] != 1)
      fail_msg("examples[] entry %s has no fixture file", examples[i].file);
  assert_int_equal(files, COUNT(examples));
}

/* Parses each example file found in the directory and checks the result
 * against its table entry. */
static void test_every_example_parses_to_its_expected_values(void **state) {
  (void)state;
  DIR *d = opendir(CM_FIXTURES);
  if (d == NULL)
    fail_msg("cannot open fixture directory %s", CM_FIXTURES);
  size_t checked = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (!is_json_name(de->d_name))
      continue;
    size_t i;
    for (i = 0; i < COUNT(examples); i++)
      if (strcmp(examples[i].file, de->d_name) == 0)
        break;
    if (i == COUNT(examples))
      continue; /* reported by the test above */
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", CM_FIXTURES, de->d_name);
    size_t len;
    char *data = read_file(path, &len);
    vq_message_t m;
    vq_reason_t r = parse_bytes(data, len, &m);
    free(data);
    const char *ctx = examples[i].file;
    CHECK_REASON(ctx, r, examples[i].reason);
    checked++;
    if (r != VQ_OK) {
      check_cleared(ctx, &m);
      continue;
    }
    CHECK_INT(ctx, m.type, examples[i].type);
    assert_non_null(m.root);
    CHECK_STR(ctx, m.str[VQ_S_SITE], examples[i].site);
    CHECK_STR(ctx, m.str[VQ_S_SPACE], examples[i].space);
    CHECK_STR(ctx, m.str[VQ_S_FACTORY], examples[i].factory);
    CHECK_STR(ctx, m.str[VQ_S_MACHINETYPE], examples[i].machinetype);
    CHECK_STR(ctx, m.vo, examples[i].vo);
    for (size_t k = 0; k < COUNT(examples[i].nums); k++) {
      const num_expect_t *e = &examples[i].nums[k];
      if (!e->set)
        continue;
      char what[160];
      snprintf(what, sizeof(what), "%s %s", ctx, num_key[e->id]);
      CHECK_NUM(what, m.num[e->id], e->v);
    }
    for (size_t k = 0; k < COUNT(examples[i].strs); k++) {
      const str_expect_t *e = &examples[i].strs[k];
      if (!e->set)
        continue;
      char what[160];
      snprintf(what, sizeof(what), "%s %s", ctx, str_key[e->id]);
      CHECK_STR(what, m.str[e->id], e->v);
    }
    vq_message_clear(&m);
  }
  closedir(d);
  assert_int_equal(checked, COUNT(examples));
}

/* Every prefix of every example (a truncated datagram) is not JSON, and
 * the parser stays usable for the complete datagram afterwards. */
static void test_every_prefix_of_every_example_is_rejected(void **state) {
  (void)state;
  size_t tried = 0;
  for (size_t i = 0; i < COUNT(examples); i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", CM_FIXTURES, examples[i].file);
    size_t len;
    char *data = read_file(path, &len);
    for (size_t n = 0; n < len; n++) {
      vq_message_t m;
      vq_reason_t r = parse_bytes(data, n, &m);
      if (r != VQ_REJ_NOT_JSON)
        fail_msg("[%s] prefix of %zu/%zu bytes: %s, expected not_json",
                 examples[i].file, n, len, vq_reason_name(r));
      check_cleared(examples[i].file, &m);
      tried++;
    }
    vq_message_t m;
    CHECK_REASON(examples[i].file, parse_bytes(data, len, &m),
                 examples[i].reason);
    vq_message_clear(&m);
    free(data);
  }
  assert_true(tried > 10000);
}

/* ---- legacy fix-ups (docs/protocol.md section 9, max_cpus, num_cpus) --- */

static const struct {
  const char *name, *type, *body;
  vq_num_id_t id;
  double expect;
} legacy_num_cases[] = {
    /* factory_status */
    {"factory total_cpus fills max_processors", "factory_status",
     "\"total_cpus\": 24", VQ_N_MAX_PROCESSORS, 24},
    {"factory max_cpus fills max_processors (safe extra)", "factory_status",
     "\"max_cpus\": 20", VQ_N_MAX_PROCESSORS, 20},
    {"factory total_cpus is preferred to max_cpus", "factory_status",
     "\"max_cpus\": 20, \"total_cpus\": 24", VQ_N_MAX_PROCESSORS, 24},
    {"factory max_processors wins over total_cpus (modern key first)",
     "factory_status", "\"max_processors\": 32, \"total_cpus\": 24",
     VQ_N_MAX_PROCESSORS, 32},
    {"factory max_processors wins over total_cpus (legacy key first)",
     "factory_status", "\"total_cpus\": 24, \"max_processors\": 32",
     VQ_N_MAX_PROCESSORS, 32},
    {"factory max_processors wins over max_cpus", "factory_status",
     "\"max_cpus\": 20, \"max_processors\": 32", VQ_N_MAX_PROCESSORS, 32},
    {"factory null max_processors is not filled from total_cpus",
     "factory_status", "\"max_processors\": null, \"total_cpus\": 24",
     VQ_N_MAX_PROCESSORS, NAN},
    {"factory null max_processors is not filled from max_cpus",
     "factory_status", "\"max_cpus\": 24, \"max_processors\": null",
     VQ_N_MAX_PROCESSORS, NAN},
    {"factory null total_cpus gives no value", "factory_status",
     "\"total_cpus\": null", VQ_N_MAX_PROCESSORS, NAN},
    {"factory running_cpus fills running_processors", "factory_status",
     "\"running_cpus\": 16", VQ_N_RUNNING_PROCESSORS, 16},
    {"factory running_processors wins over running_cpus", "factory_status",
     "\"running_cpus\": 16, \"running_processors\": 28",
     VQ_N_RUNNING_PROCESSORS, 28},
    {"factory null running_processors is not filled", "factory_status",
     "\"running_processors\": null, \"running_cpus\": 16",
     VQ_N_RUNNING_PROCESSORS, NAN},
    {"factory total_machines fills max_machines", "factory_status",
     "\"total_machines\": 3", VQ_N_MAX_MACHINES, 3},
    {"factory total_machines does not fill running_machines", "factory_status",
     "\"total_machines\": 3", VQ_N_RUNNING_MACHINES, NAN},
    {"factory max_machines wins over total_machines", "factory_status",
     "\"total_machines\": 3, \"max_machines\": 5", VQ_N_MAX_MACHINES, 5},
    {"factory null max_machines is not filled", "factory_status",
     "\"max_machines\": null, \"total_machines\": 3", VQ_N_MAX_MACHINES, NAN},
    {"factory total_hs06 fills max_hs06", "factory_status",
     "\"total_hs06\": 240.5", VQ_N_MAX_HS06, 240.5},
    {"factory total_hs06 does not fill running_hs06", "factory_status",
     "\"total_hs06\": 240.5", VQ_N_RUNNING_HS06, NAN},
    {"factory max_hs06 wins over total_hs06", "factory_status",
     "\"total_hs06\": 240.5, \"max_hs06\": 100.25", VQ_N_MAX_HS06, 100.25},
    {"factory vac_disk_avail_kb fills daemon_disk_avail_kb", "factory_status",
     "\"vac_disk_avail_kb\": 1102745600", VQ_N_DAEMON_DISK_AVAIL_KB,
     1102745600},
    {"factory daemon_disk_avail_kb wins over vac_disk_avail_kb",
     "factory_status", "\"vac_disk_avail_kb\": 1, \"daemon_disk_avail_kb\": 2",
     VQ_N_DAEMON_DISK_AVAIL_KB, 2},
    {"factory vac_disk_avail_inodes fills daemon_disk_avail_inodes",
     "factory_status", "\"vac_disk_avail_inodes\": 70320012",
     VQ_N_DAEMON_DISK_AVAIL_INODES, 70320012},
    {"factory null daemon_disk_avail_inodes is not filled", "factory_status",
     "\"daemon_disk_avail_inodes\": null, \"vac_disk_avail_inodes\": 7",
     VQ_N_DAEMON_DISK_AVAIL_INODES, NAN},
    /* machinetype_status */
    {"machinetype total_machines fills running_machines", "machinetype_status",
     "\"total_machines\": 4", VQ_N_RUNNING_MACHINES, 4},
    {"machinetype total_machines does not fill max_machines",
     "machinetype_status", "\"total_machines\": 4", VQ_N_MAX_MACHINES, NAN},
    {"machinetype total_hs06 fills running_hs06", "machinetype_status",
     "\"total_hs06\": 40.0", VQ_N_RUNNING_HS06, 40},
    {"machinetype total_hs06 does not fill max_hs06", "machinetype_status",
     "\"total_hs06\": 40.0", VQ_N_MAX_HS06, NAN},
    {"machinetype running_cpus fills running_processors", "machinetype_status",
     "\"running_cpus\": 16.0", VQ_N_RUNNING_PROCESSORS, 16},
    {"machinetype running_machines wins over total_machines (legacy first)",
     "machinetype_status", "\"total_machines\": 4, \"running_machines\": 2",
     VQ_N_RUNNING_MACHINES, 2},
    {"machinetype running_machines wins over total_machines (modern first)",
     "machinetype_status", "\"running_machines\": 2, \"total_machines\": 4",
     VQ_N_RUNNING_MACHINES, 2},
    {"machinetype running_hs06 wins over total_hs06", "machinetype_status",
     "\"total_hs06\": 40.0, \"running_hs06\": 12.5", VQ_N_RUNNING_HS06, 12.5},
    {"machinetype null running_machines is not filled", "machinetype_status",
     "\"running_machines\": null, \"total_machines\": 4", VQ_N_RUNNING_MACHINES,
     NAN},
    {"machinetype null running_hs06 is not filled", "machinetype_status",
     "\"total_hs06\": 40.0, \"running_hs06\": null", VQ_N_RUNNING_HS06, NAN},
    {"machinetype null running_processors is not filled", "machinetype_status",
     "\"running_processors\": null, \"running_cpus\": 8",
     VQ_N_RUNNING_PROCESSORS, NAN},
    {"machinetype total_cpus is a factory-only fix-up", "machinetype_status",
     "\"total_cpus\": 24", VQ_N_MAX_PROCESSORS, NAN},
    {"machinetype max_cpus is a factory-only fix-up", "machinetype_status",
     "\"max_cpus\": 24", VQ_N_MAX_PROCESSORS, NAN},
    /* machine_status */
    {"machine num_cpus fills num_processors", "machine_status",
     "\"num_cpus\": 8", VQ_N_NUM_PROCESSORS, 8},
    {"machine num_processors wins over num_cpus", "machine_status",
     "\"num_cpus\": 8, \"num_processors\": 4", VQ_N_NUM_PROCESSORS, 4},
    {"machine null num_processors is not filled", "machine_status",
     "\"num_processors\": null, \"num_cpus\": 8", VQ_N_NUM_PROCESSORS, NAN},
};

static void test_legacy_numeric_fixups(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(legacy_num_cases); i++) {
    vq_message_t m;
    const char *ctx = legacy_num_cases[i].name;
    CHECK_REASON(
        ctx,
        parse_str(build(legacy_num_cases[i].type, legacy_num_cases[i].body),
                  &m),
        VQ_OK);
    CHECK_NUM(ctx, m.num[legacy_num_cases[i].id], legacy_num_cases[i].expect);
    vq_message_clear(&m);
  }
}

static const struct {
  const char *name, *type, *body;
  vq_str_id_t id;
  const char *expect;
} legacy_str_cases[] = {
    {"factory vac_version fills daemon_version", "factory_status",
     "\"vac_version\": \"Vac 1\"", VQ_S_DAEMON_VERSION, "Vac 1"},
    {"machinetype vac_version fills daemon_version", "machinetype_status",
     "\"vac_version\": \"Vac 1\"", VQ_S_DAEMON_VERSION, "Vac 1"},
    {"machine vac_version fills daemon_version", "machine_status",
     "\"vac_version\": \"Vac 1\"", VQ_S_DAEMON_VERSION, "Vac 1"},
    {"daemon_version wins over vac_version (legacy first)", "factory_status",
     "\"vac_version\": \"Vac 1\", \"daemon_version\": \"Vac 2\"",
     VQ_S_DAEMON_VERSION, "Vac 2"},
    {"daemon_version wins over vac_version (modern first)", "machine_status",
     "\"daemon_version\": \"Vac 2\", \"vac_version\": \"Vac 1\"",
     VQ_S_DAEMON_VERSION, "Vac 2"},
    {"null daemon_version is not filled from vac_version", "factory_status",
     "\"daemon_version\": null, \"vac_version\": \"Vac 1\"",
     VQ_S_DAEMON_VERSION, NULL},
    {"no version at all", "factory_status", "", VQ_S_DAEMON_VERSION, NULL},
};

static void test_legacy_string_fixups(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(legacy_str_cases); i++) {
    vq_message_t m;
    const char *ctx = legacy_str_cases[i].name;
    CHECK_REASON(
        ctx,
        parse_str(build(legacy_str_cases[i].type, legacy_str_cases[i].body),
                  &m),
        VQ_OK);
    CHECK_STR(ctx, m.str[legacy_str_cases[i].id], legacy_str_cases[i].expect);
    vq_message_clear(&m);
  }
}

/* Which numeric fields each message type reads (docs/protocol.md sections 3-6):
 * a member named num_key[id] lands in num[id] for exactly these. */
static int type_reads(int type, vq_num_id_t id) {
  switch (id) {
  case VQ_N_RUNNING_PROCESSORS:
  case VQ_N_RUNNING_MACHINES:
  case VQ_N_RUNNING_HS06:
  case VQ_N_MAX_PROCESSORS:
    return type == VQ_MSG_FACTORY || type == VQ_MSG_MACHINETYPE;
  case VQ_N_MAX_MACHINES:
  case VQ_N_MAX_HS06:
  case VQ_N_LOAD_AVERAGE:
  case VQ_N_MEM_USED_KB:
  case VQ_N_MEM_TOTAL_KB:
  case VQ_N_SWAP_USED_KB:
  case VQ_N_SWAP_FREE_KB:
  case VQ_N_ROOT_DISK_AVAIL_KB:
  case VQ_N_ROOT_DISK_AVAIL_INODES:
  case VQ_N_DAEMON_DISK_AVAIL_KB:
  case VQ_N_DAEMON_DISK_AVAIL_INODES:
  case VQ_N_BOOT_TIME:
  case VQ_N_FACTORY_HEARTBEAT_TIME:
  case VQ_N_RESPONDER_HEARTBEAT_TIME:
  case VQ_N_MJF_HEARTBEAT_TIME:
  case VQ_N_METADATA_HEARTBEAT_TIME:
    return type == VQ_MSG_FACTORY;
  case VQ_N_NUM_MACHINETYPES:
  case VQ_N_NUM_BEFORE_FIZZLE:
  case VQ_N_MAX_WALLCLOCK_SECONDS:
  case VQ_N_BYTES_PER_PROCESSOR:
    return type == VQ_MSG_MACHINETYPE;
  case VQ_N_NUM_MACHINES:
  case VQ_N_NUM_PROCESSORS:
  case VQ_N_CREATED_TIME:
  case VQ_N_STARTED_TIME:
  case VQ_N_HEARTBEAT_TIME:
  case VQ_N_CPU_SECONDS:
  case VQ_N_CPU_PERCENTAGE:
  case VQ_N_HS06:
    return type == VQ_MSG_MACHINE;
  case VQ_N_SHUTDOWN_TIME: /* machinetype (5) and machine (6) */
    return type == VQ_MSG_MACHINETYPE || type == VQ_MSG_MACHINE ? 1 : -1;
  case VQ_N_TIME_SENT:
    return 1;
  default:
    return 0;
  }
}

static void test_each_numeric_field_is_read_from_its_key_only(void **state) {
  (void)state;
  for (int t = 0; t < VQ_MSG_TYPE_COUNT; t++) {
    for (int id = 0; id < VQ_N_COUNT; id++) {
      int reads = type_reads(t, (vq_num_id_t)id);
      if (reads < 0)
        continue; /* not in the protocol: shutdown_time in factory_status */
      char body[256], ctx[256];
      snprintf(body, sizeof(body), "\"%s\": 7.25", num_key[id]);
      snprintf(ctx, sizeof(ctx), "%s %s", status_types[t], num_key[id]);
      vq_message_t m;
      CHECK_REASON(ctx, parse_str(build(status_types[t], body), &m), VQ_OK);
      CHECK_INT(ctx, m.type, t);
      for (int other = 0; other < VQ_N_COUNT; other++) {
        double want = other == id && reads ? 7.25 : NAN;
        char what[300];
        snprintf(what, sizeof(what), "%s: num[%s]", ctx, num_key[other]);
        CHECK_NUM(what, m.num[other], want);
      }
      vq_message_clear(&m);
    }
  }
}

/* ---- VO from fqan (docs/protocol.md section 7) --------------------------- */

static const struct {
  const char *name, *member;
  const char *vo;
  size_t vo_len;
} vo_cases[] = {
    {"fqan absent", "", NULL, 0},
    {"fqan null", "\"fqan\": null", NULL, 0},
    {"fqan empty string", "\"fqan\": \"\"", NULL, 0},
    {"fqan without a leading slash", "\"fqan\": \"lhcb\"", NULL, 0},
    {"fqan a single slash", "\"fqan\": \"/\"", NULL, 0},
    {"fqan with an empty first element", "\"fqan\": \"//x\"", NULL, 0},
    {"fqan with a leading space", "\"fqan\": \" /lhcb/Role=NULL\"", NULL, 0},
    {"fqan with sub-group", "\"fqan\": \"/vo.example.org/sub/Role=x\"",
     "vo.example.org", 14},
    {"fqan of one element", "\"fqan\": \"/lhcb\"", "lhcb", 4},
    {"fqan with trailing slash", "\"fqan\": \"/cms/\"", "cms", 3},
    {"fqan lhcb", "\"fqan\": \"/lhcb/Role=NULL/Capability=NULL\"", "lhcb", 4},
    {"fqan atlas production",
     "\"fqan\": \"/atlas/Role=production/Capability=NULL\"", "atlas", 5},
    {"fqan with an escaped NUL in the VO", "\"fqan\": \"/a\\u0000b/Role=x\"",
     "a\0b", 3},
    {"fqan with escaped slash", "\"fqan\": \"\\/dune\\/Role=x\"", "dune", 4},
};

static void test_vo_is_derived_from_fqan(void **state) {
  (void)state;
  static const char *const types[] = {"machinetype_status", "machine_status"};
  for (size_t t = 0; t < COUNT(types); t++) {
    for (size_t i = 0; i < COUNT(vo_cases); i++) {
      char ctx[200];
      snprintf(ctx, sizeof(ctx), "%s: %s", types[t], vo_cases[i].name);
      vq_message_t m;
      CHECK_REASON(ctx, parse_str(build(types[t], vo_cases[i].member), &m),
                   VQ_OK);
      check_slice(ctx, "vo", m.vo, vo_cases[i].vo, vo_cases[i].vo_len);
      vq_message_clear(&m);
    }
  }
}

static void test_factory_status_never_has_a_vo(void **state) {
  (void)state;
  vq_message_t m;
  CHECK_REASON(
      "factory with fqan",
      parse_str(build("factory_status", "\"fqan\": \"/lhcb/Role=NULL\""), &m),
      VQ_OK);
  CHECK_STR("factory with fqan", m.vo, NULL);
  vq_message_clear(&m);
}

static void test_vo_from_fqan_respects_slice_length(void **state) {
  (void)state;
  static const struct {
    const char *name, *s;
    size_t len;
    const char *vo;
  } cases[] = {
      {"whole string", "/lhcb/Role=NULL", 15, "lhcb"},
      {"slice ends inside the VO", "/lhcb/Role=NULL", 3, "lh"},
      {"slice ends at the second slash", "/lhcb/Role=NULL", 5, "lhcb"},
      {"slice of just the slash", "/lhcb", 1, NULL},
      {"empty slice", "/lhcb", 0, NULL},
      {"NULL pointer", NULL, 5, NULL},
      {"no leading slash", "lhcb/x", 6, NULL},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_str_t vo = vq_vo_from_fqan((vq_str_t){cases[i].s, cases[i].len});
    CHECK_STR(cases[i].name, vo, cases[i].vo);
    if (cases[i].vo == NULL)
      CHECK_INT(cases[i].name, vo.len, 0);
  }
}

/* ---- numbers ----------------------------------------------------------- */

/* bad: the field is dropped (NaN) and flagged in bad_num, the message
 * still accepted (issue 9: no valid field lost for one bad one). */
static const struct {
  const char *name, *value;
  vq_reason_t reason;
  double expect;
  int bad;
} num_cases[] = {
    {"integer", "16", VQ_OK, 16, 0},
    {"float with one decimal (Vac running_processors)", "16.0", VQ_OK, 16, 0},
    {"float with %.2f formatting", "336.00", VQ_OK, 336, 0},
    {"float shortest repr", "27.63", VQ_OK, 27.63, 0},
    {"zero", "0", VQ_OK, 0, 0},
    {"negative integer", "-5", VQ_OK, -5, 0},
    {"beyond 32 bits", "2147483648", VQ_OK, 2147483648.0, 0},
    {"large 64-bit integer", "1099511627776000", VQ_OK, 1099511627776000.0, 0},
    {"exponent", "1.5e3", VQ_OK, 1500, 0},
    {"negative exponent", "25E-1", VQ_OK, 2.5, 0},
    {"null means no value", "null", VQ_OK, NAN, 0},
    {"NaN literal is not JSON", "NaN", VQ_REJ_NOT_JSON, 0, 0},
    {"overflowing float 1e999", "1e999", VQ_OK, NAN, 1},
    {"overflowing float 1e400", "1e400", VQ_OK, NAN, 1},
    {"negative overflowing float", "-1e999", VQ_OK, NAN, 1},
    {"2^64 is read as a double", "18446744073709551616", VQ_OK,
     18446744073709551616.0, 0},
    {"-2^63-1 is read as a double", "-9223372036854775809", VQ_OK,
     -9223372036854775808.0, 0},
    {"Infinity literal", "Infinity", VQ_REJ_NOT_JSON, 0, 0},
    {"-Infinity literal", "-Infinity", VQ_REJ_NOT_JSON, 0, 0},
    {"number in a string", "\"16\"", VQ_OK, 16, 0},
    {"float in a string", "\"27.63\"", VQ_OK, 27.63, 0},
    {"exponent in a string", "\"-1.5e3\"", VQ_OK, -1500, 0},
    {"empty string", "\"\"", VQ_OK, NAN, 1},
    {"word in a string", "\"lots\"", VQ_OK, NAN, 1},
    {"number and junk in a string", "\"16 cores\"", VQ_OK, NAN, 1},
    {"padded number in a string", "\" 16\"", VQ_OK, NAN, 1},
    {"hex in a string", "\"0x10\"", VQ_OK, NAN, 1},
    {"leading zero in a string", "\"016\"", VQ_OK, NAN, 1},
    {"NaN in a string", "\"NaN\"", VQ_OK, NAN, 1},
    {"Infinity in a string", "\"Infinity\"", VQ_OK, NAN, 1},
    {"overflow in a string", "\"1e400\"", VQ_OK, NAN, 1},
    {"true", "true", VQ_OK, NAN, 1},
    {"false", "false", VQ_OK, NAN, 1},
    {"array", "[16]", VQ_OK, NAN, 1},
    {"object", "{\"v\": 16}", VQ_OK, NAN, 1},
};

/* One numeric field of each message type (including a legacy key, whose
 * value is read the same way when it fills the modern one). */
static const struct {
  const char *type, *key;
  vq_num_id_t id;
} num_slots[] = {
    {"factory_status", "running_processors", VQ_N_RUNNING_PROCESSORS},
    {"factory_status", "time_sent", VQ_N_TIME_SENT},
    {"factory_status", "total_cpus", VQ_N_MAX_PROCESSORS},
    {"machinetype_status", "max_wallclock_seconds", VQ_N_MAX_WALLCLOCK_SECONDS},
    {"machinetype_status", "running_cpus", VQ_N_RUNNING_PROCESSORS},
    {"machine_status", "cpu_seconds", VQ_N_CPU_SECONDS},
    {"machine_status", "num_cpus", VQ_N_NUM_PROCESSORS},
};

static void test_numeric_values_and_types(void **state) {
  (void)state;
  for (size_t s = 0; s < COUNT(num_slots); s++) {
    for (size_t i = 0; i < COUNT(num_cases); i++) {
      char body[200], ctx[200];
      snprintf(body, sizeof(body), "\"%s\": %s", num_slots[s].key,
               num_cases[i].value);
      snprintf(ctx, sizeof(ctx), "%s %s: %s", num_slots[s].type,
               num_slots[s].key, num_cases[i].name);
      vq_message_t m;
      vq_reason_t r = parse_str(build(num_slots[s].type, body), &m);
      CHECK_REASON(ctx, r, num_cases[i].reason);
      if (r == VQ_OK) {
        CHECK_NUM(ctx, m.num[num_slots[s].id], num_cases[i].expect);
        CHECK_INT(ctx, m.bad_num,
                  num_cases[i].bad ? UINT64_C(1) << num_slots[s].id : 0);
        CHECK_INT(ctx, m.bad_str, 0);
      } else
        check_cleared(ctx, &m);
      vq_message_clear(&m);
    }
  }
}

/* A present modern key wins even when the legacy key's value would be
 * rejected; an absent modern key makes the legacy value count. */
static void test_legacy_value_type_matters_only_when_used(void **state) {
  (void)state;
  vq_message_t m;
  CHECK_REASON("bad running_cpus with running_processors",
               parse_str(build("factory_status", "\"running_cpus\": \"x\", "
                                                 "\"running_processors\": 5"),
                         &m),
               VQ_OK);
  CHECK_NUM("bad running_cpus with running_processors",
            m.num[VQ_N_RUNNING_PROCESSORS], 5);
  vq_message_clear(&m);
  CHECK_REASON(
      "bad running_cpus alone",
      parse_str(build("factory_status", "\"running_cpus\": \"x\""), &m), VQ_OK);
  CHECK_NUM("bad running_cpus alone", m.num[VQ_N_RUNNING_PROCESSORS], NAN);
  CHECK_INT("bad running_cpus alone: flagged under its current name", m.bad_num,
            UINT64_C(1) << VQ_N_RUNNING_PROCESSORS);
  vq_message_clear(&m);
}

/*
 * Unsigned 64-bit integers keep their value, up to UINT64_MAX itself;
 * larger integers are read as the nearest double.
 */
static void test_uint64_integer_keeps_its_value(void **state) {
  (void)state;
  vq_message_t m;
  vq_reason_t r = parse_str(
      build("factory_status", "\"mem_total_kb\": 18446744073709551614"), &m);
  double got = m.num[VQ_N_MEM_TOTAL_KB];
  vq_message_clear(&m); /* before asserting: a failure must not leak */
  CHECK_REASON("UINT64_MAX - 1", r, VQ_OK);
  CHECK_NUM("UINT64_MAX - 1", got, 18446744073709551614.0);
  CHECK_REASON("UINT64_MAX",
               parse_str(build("factory_status",
                               "\"mem_total_kb\": 18446744073709551615"),
                         &m),
               VQ_OK);
  CHECK_NUM("UINT64_MAX", m.num[VQ_N_MEM_TOTAL_KB], 18446744073709551615.0);
  CHECK_INT("UINT64_MAX", m.bad_num, 0);
  vq_message_clear(&m);
  CHECK_REASON(
      "INT64_MAX",
      parse_str(
          build("factory_status", "\"mem_total_kb\": 9223372036854775807"), &m),
      VQ_OK);
  CHECK_NUM("INT64_MAX", m.num[VQ_N_MEM_TOTAL_KB], 9223372036854775807.0);
  vq_message_clear(&m);
}

/*
 * An integer too large for 64 bits (99999999999999999999) keeps its value
 * as a double (issue 9); it never becomes a clamped, different number.
 */
static void test_huge_integer_is_not_silently_clamped(void **state) {
  (void)state;
  static const struct {
    const char *name, *value;
    double expect;
  } cases[] = {
      {"huge positive integer", "99999999999999999999", 1e20},
      {"huge negative integer", "-99999999999999999999", -1e20},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char body[100];
    snprintf(body, sizeof(body), "\"running_processors\": %s", cases[i].value);
    vq_message_t m;
    vq_reason_t r = parse_str(build("factory_status", body), &m);
    double got = m.num[VQ_N_RUNNING_PROCESSORS];
    vq_message_clear(&m); /* before asserting: a failure must not leak */
    CHECK_REASON(cases[i].name, r, VQ_OK);
    CHECK_NUM(cases[i].name, got, cases[i].expect);
  }
}

/* ---- strings ----------------------------------------------------------- */

/* A non-identity string field of another JSON type is dropped (absent)
 * and flagged in bad_str; the message is accepted. bad is the field, or
 * -1 for none. */
static const struct {
  const char *name, *type, *body;
  vq_reason_t reason;
  int bad;
} str_type_cases[] = {
    {"cookie as a number", "factory_status", "\"cookie\": 0", VQ_OK,
     VQ_S_COOKIE},
    {"daemon_version as true", "factory_status", "\"daemon_version\": true",
     VQ_OK, VQ_S_DAEMON_VERSION},
    {"vac_version (legacy) as a number", "factory_status", "\"vac_version\": 3",
     VQ_OK, VQ_S_DAEMON_VERSION},
    {"os_issue as an array", "factory_status", "\"os_issue\": [\"x\"]", VQ_OK,
     VQ_S_OS_ISSUE},
    {"fqan as a number", "machinetype_status", "\"fqan\": 5", VQ_OK, VQ_S_FQAN},
    {"fqan as an object", "machinetype_status", "\"fqan\": {\"vo\": \"lhcb\"}",
     VQ_OK, VQ_S_FQAN},
    {"shutdown_message as a number", "machine_status",
     "\"shutdown_message\": 200", VQ_OK, VQ_S_SHUTDOWN_MESSAGE},
    {"uuid as an object", "machine_status", "\"uuid\": {}", VQ_OK, VQ_S_UUID},
    {"machinetype of a machine as a number", "machine_status",
     "\"machinetype\": 5", VQ_OK, VQ_S_MACHINETYPE},
    {"null optional strings", "machine_status",
     "\"uuid\": null, \"shutdown_message\": null, \"cookie\": null", VQ_OK, -1},
    {"empty optional string", "machine_status", "\"state\": \"\"", VQ_OK, -1},
};

static void test_string_fields_must_be_strings(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(str_type_cases); i++) {
    vq_message_t m;
    vq_reason_t r =
        parse_str(build(str_type_cases[i].type, str_type_cases[i].body), &m);
    CHECK_REASON(str_type_cases[i].name, r, str_type_cases[i].reason);
    int bad = str_type_cases[i].bad;
    CHECK_INT(str_type_cases[i].name, m.bad_str,
              bad < 0 ? 0 : UINT32_C(1) << bad);
    if (bad >= 0)
      CHECK_INT(str_type_cases[i].name, m.str[bad].ptr == NULL, 1);
    CHECK_INT(str_type_cases[i].name, m.bad_num, 0);
    vq_message_clear(&m);
  }
}

/* Builds an envelope where site, space and factory are given as JSON value
 * text, or NULL for an absent key. */
static const char *build_env(const char *type, const char *site,
                             const char *space, const char *factory) {
  char *p = jbuf;
  size_t room = sizeof(jbuf);
  int w = snprintf(p, room, "{\"message_type\": \"%s\"", type);
  p += w, room -= (size_t)w;
  if (strcmp(type, "machinetype_status") == 0) {
    w = snprintf(p, room, ", \"machinetype\": \"mt\"");
    p += w, room -= (size_t)w;
  }
  const char *keys[3] = {"site", "space", "factory"};
  const char *vals[3] = {site, space, factory};
  for (int i = 0; i < 3; i++) {
    if (vals[i] == NULL)
      continue;
    w = snprintf(p, room, ", \"%s\": %s", keys[i], vals[i]);
    p += w, room -= (size_t)w;
  }
  snprintf(p, room, "}");
  return jbuf;
}

static void test_site_space_factory_are_required_strings(void **state) {
  (void)state;
  static const struct {
    const char *name, *value; /* value NULL: key absent */
    vq_reason_t reason;
  } variants[] = {
      {"absent", NULL, VQ_REJ_MISSING},
      {"null", "null", VQ_REJ_MISSING},
      {"empty", "\"\"", VQ_REJ_MISSING},
      {"a number", "5", VQ_REJ_BAD_TYPE},
      {"true", "true", VQ_REJ_BAD_TYPE},
      {"an array", "[\"S\"]", VQ_REJ_BAD_TYPE},
      {"an object", "{\"name\": \"S\"}", VQ_REJ_BAD_TYPE},
      {"a single space", "\" \"", VQ_OK},
  };
  static const char *const fields[] = {"site", "space", "factory"};
  for (size_t t = 0; t < COUNT(status_types); t++) {
    for (size_t f = 0; f < COUNT(fields); f++) {
      for (size_t v = 0; v < COUNT(variants); v++) {
        const char *vals[3] = {"\"S\"", "\"sp\"", "\"f\""};
        vals[f] = variants[v].value;
        char ctx[200];
        snprintf(ctx, sizeof(ctx), "%s with %s %s", status_types[t], fields[f],
                 variants[v].name);
        vq_message_t m;
        vq_reason_t r = parse_str(
            build_env(status_types[t], vals[0], vals[1], vals[2]), &m);
        CHECK_REASON(ctx, r, variants[v].reason);
        if (r != VQ_OK)
          check_cleared(ctx, &m);
        vq_message_clear(&m);
      }
    }
  }
}

static void test_machinetype_requirement_per_type(void **state) {
  (void)state;
  static const struct {
    const char *name, *json;
    vq_reason_t reason;
    const char *mt;
  } cases[] = {
      {"machinetype_status without machinetype",
       "{\"message_type\": \"machinetype_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\"}",
       VQ_REJ_MISSING, NULL},
      {"machinetype_status with null machinetype",
       "{\"message_type\": \"machinetype_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": null}",
       VQ_REJ_MISSING, NULL},
      {"machinetype_status with empty machinetype",
       "{\"message_type\": \"machinetype_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": \"\"}",
       VQ_REJ_MISSING, NULL},
      {"machinetype_status with numeric machinetype",
       "{\"message_type\": \"machinetype_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": 1}",
       VQ_REJ_BAD_TYPE, NULL},
      {"machinetype_status with machinetype",
       "{\"message_type\": \"machinetype_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": \"lhcb\"}",
       VQ_OK, "lhcb"},
      {"machine_status with null machinetype",
       "{\"message_type\": \"machine_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": null}",
       VQ_OK, NULL},
      {"machine_status without machinetype",
       "{\"message_type\": \"machine_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\"}",
       VQ_OK, NULL},
      {"factory_status without machinetype",
       "{\"message_type\": \"factory_status\", \"site\": \"S\", "
       "\"space\": \"sp\", \"factory\": \"f\"}",
       VQ_OK, NULL},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m;
    vq_reason_t r = parse_str(cases[i].json, &m);
    CHECK_REASON(cases[i].name, r, cases[i].reason);
    if (r == VQ_OK)
      CHECK_STR(cases[i].name, m.str[VQ_S_MACHINETYPE], cases[i].mt);
    else
      check_cleared(cases[i].name, &m);
    vq_message_clear(&m);
  }
}

/* Names are kept byte for byte: raw UTF-8, \u escapes (decoded to UTF-8)
 * and an escaped NUL inside the name. */
static void test_non_ascii_and_nul_in_names_are_kept(void **state) {
  (void)state;
  static const struct {
    const char *name, *json_value, *bytes;
    size_t len;
  } cases[] = {
      {"raw UTF-8", "\"Z\xc3\xbcrich\"", "Z\xc3\xbcrich", 7},
      {"escaped Latin-1 letter", "\"Z\\u00fcrich\"", "Z\xc3\xbcrich", 7},
      {"escaped BMP symbol", "\"snow\\u2603\"", "snow\xe2\x98\x83", 7},
      {"escaped surrogate pair", "\"x\\ud83d\\ude00\"", "x\xf0\x9f\x98\x80", 5},
      {"embedded escaped NUL", "\"a\\u0000b\"", "a\0b", 3},
      {"only an escaped NUL", "\"\\u0000\"", "\0", 1},
      {"escaped quote and backslash", "\"a\\\"b\\\\c\"", "a\"b\\c", 5},
  };
  static const char *const keys[] = {"site", "space", "factory", "machinetype"};
  static const vq_str_id_t ids[] = {VQ_S_SITE, VQ_S_SPACE, VQ_S_FACTORY,
                                    VQ_S_MACHINETYPE};
  for (size_t k = 0; k < COUNT(keys); k++) {
    for (size_t i = 0; i < COUNT(cases); i++) {
      const char *vals[4] = {"\"S\"", "\"sp\"", "\"f\"", "\"mt\""};
      vals[k] = cases[i].json_value;
      snprintf(jbuf, sizeof(jbuf),
               "{\"message_type\": \"machinetype_status\", \"site\": %s, "
               "\"space\": %s, \"factory\": %s, \"machinetype\": %s}",
               vals[0], vals[1], vals[2], vals[3]);
      char ctx[200];
      snprintf(ctx, sizeof(ctx), "%s: %s", keys[k], cases[i].name);
      vq_message_t m;
      CHECK_REASON(ctx, parse_str(jbuf, &m), VQ_OK);
      check_slice(ctx, keys[k], m.str[ids[k]], cases[i].bytes, cases[i].len);
      vq_message_clear(&m);
    }
  }
}

/* ---- message_type ------------------------------------------------------ */

static void test_message_type_dispatch(void **state) {
  (void)state;
  static const struct {
    const char *name, *member; /* member NULL: no message_type key */
    vq_reason_t reason;
    vq_msg_type_t type;
  } cases[] = {
      {"factory_status", "\"factory_status\"", VQ_OK, VQ_MSG_FACTORY},
      {"machinetype_status", "\"machinetype_status\"", VQ_OK,
       VQ_MSG_MACHINETYPE},
      {"machine_status", "\"machine_status\"", VQ_OK, VQ_MSG_MACHINE},
      {"absent (VacQuery 0.1/0.2)", NULL, VQ_REJ_NO_TYPE, 0},
      {"null", "null", VQ_REJ_NO_TYPE, 0},
      {"a number", "3", VQ_REJ_BAD_TYPE, 0},
      {"true", "true", VQ_REJ_BAD_TYPE, 0},
      {"an array", "[\"factory_status\"]", VQ_REJ_BAD_TYPE, 0},
      {"an object", "{}", VQ_REJ_BAD_TYPE, 0},
      {"factory_query", "\"factory_query\"", VQ_REJ_QUERY, 0},
      {"machinetypes_query", "\"machinetypes_query\"", VQ_REJ_QUERY, 0},
      {"machines_query", "\"machines_query\"", VQ_REJ_QUERY, 0},
      {"unknown", "\"factory_report\"", VQ_REJ_UNKNOWN_TYPE, 0},
      {"empty", "\"\"", VQ_REJ_UNKNOWN_TYPE, 0},
      {"wrong case", "\"Factory_Status\"", VQ_REJ_UNKNOWN_TYPE, 0},
      {"trailing space", "\"factory_status \"", VQ_REJ_UNKNOWN_TYPE, 0},
      {"trailing escaped NUL", "\"factory_status\\u0000\"", VQ_REJ_UNKNOWN_TYPE,
       0},
      {"prefix of a type", "\"factory\"", VQ_REJ_UNKNOWN_TYPE, 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    if (cases[i].member == NULL)
      snprintf(jbuf, sizeof(jbuf),
               "{\"method\": \"factory\", \"site\": \"S\", \"space\": \"sp\", "
               "\"factory\": \"f\", \"machinetype\": \"mt\"}");
    else
      snprintf(jbuf, sizeof(jbuf),
               "{\"site\": \"S\", \"space\": \"sp\", \"factory\": \"f\", "
               "\"machinetype\": \"mt\", \"message_type\": %s}",
               cases[i].member);
    vq_message_t m;
    vq_reason_t r = parse_str(jbuf, &m);
    CHECK_REASON(cases[i].name, r, cases[i].reason);
    if (r == VQ_OK)
      CHECK_INT(cases[i].name, m.type, cases[i].type);
    else
      check_cleared(cases[i].name, &m);
    vq_message_clear(&m);
  }
}

/* ---- hostile datagrams ------------------------------------------------- */

#define VALID                                                                  \
  "{\"message_type\": \"factory_status\", \"site\": \"S\", \"space\": "        \
  "\"sp\", \"factory\": \"f\", \"running_processors\": 3}"

static const struct {
  const char *name, *bytes;
  size_t len;
  vq_reason_t reason;
} hostile_cases[] = {
#define CASE(n, s, r)                                                          \
  { n, s, sizeof(s) - 1, r }
    CASE("empty datagram", "", VQ_REJ_NOT_JSON),
    CASE("whitespace only", " \t\r\n", VQ_REJ_NOT_JSON),
    CASE("lone open brace", "{", VQ_REJ_NOT_JSON),
    CASE("lone close brace", "}", VQ_REJ_NOT_JSON),
    CASE("unterminated key", "{\"message_type", VQ_REJ_NOT_JSON),
    CASE("unterminated string", "\"abc", VQ_REJ_NOT_JSON),
    CASE("truncated literal", "nul", VQ_REJ_NOT_JSON),
    CASE("truncated true", "tru", VQ_REJ_NOT_JSON),
    CASE("lone open bracket", "[", VQ_REJ_NOT_JSON),
    CASE("binary junk", "\xff\xfe\x00\x01", VQ_REJ_NOT_JSON),
    CASE("NUL byte only", "\0", VQ_REJ_NOT_JSON),
    CASE("object then garbage", VALID "x", VQ_REJ_NOT_JSON),
    CASE("object then a second object", VALID "{}", VQ_REJ_NOT_JSON),
    CASE("object then a close brace", VALID "}", VQ_REJ_NOT_JSON),
    CASE("object then a NUL byte", VALID "\0", VQ_REJ_NOT_JSON),
    CASE("object then space and garbage", VALID "  1", VQ_REJ_NOT_JSON),
    CASE("object then trailing space", VALID " ", VQ_OK),
    CASE("object then trailing newline", VALID "\n", VQ_OK),
    CASE("object then trailing CRLF and tab", VALID "\r\n\t", VQ_OK),
    CASE("leading whitespace", " \n\t" VALID, VQ_OK),
    CASE("empty array", "[]", VQ_REJ_NOT_OBJECT),
    CASE("array", "[1, 2]", VQ_REJ_NOT_OBJECT),
    CASE("array of the object", "[" VALID "]", VQ_REJ_NOT_OBJECT),
    CASE("string", "\"factory_status\"", VQ_REJ_NOT_OBJECT),
    CASE("integer", "42", VQ_REJ_NOT_OBJECT),
    CASE("integer then space", "42 ", VQ_REJ_NOT_OBJECT),
    CASE("float", "-1.5", VQ_REJ_NOT_OBJECT),
    CASE("true", "true", VQ_REJ_NOT_OBJECT),
    CASE("false", "false", VQ_REJ_NOT_OBJECT),
    CASE("empty object", "{}", VQ_REJ_NO_TYPE),
#undef CASE
};

static void test_hostile_datagrams(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(hostile_cases); i++) {
    vq_message_t m;
    vq_reason_t r =
        parse_bytes(hostile_cases[i].bytes, hostile_cases[i].len, &m);
    CHECK_REASON(hostile_cases[i].name, r, hostile_cases[i].reason);
    if (r != VQ_OK)
      check_cleared(hostile_cases[i].name, &m);
    else
      CHECK_NUM(hostile_cases[i].name, m.num[VQ_N_RUNNING_PROCESSORS], 3);
    vq_message_clear(&m);
  }
}

/*
 * "null" is valid JSON that is not an object: counted as VQ_REJ_NOT_OBJECT
 * like "true" or "42".
 */
static void test_null_literal_is_not_an_object(void **state) {
  (void)state;
  static const char *const cases[] = {"null", "null ", " null\n"};
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m;
    CHECK_REASON(cases[i], parse_str(cases[i], &m), VQ_REJ_NOT_OBJECT);
    check_cleared(cases[i], &m);
  }
}

static char *repeat(const char *open, size_t n, const char *mid,
                    const char *close, size_t *len) {
  size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
  *len = n * lo + lm + n * lc;
  char *s = malloc(*len + 1);
  assert_non_null(s);
  char *p = s;
  for (size_t i = 0; i < n; i++, p += lo)
    memcpy(p, open, lo);
  memcpy(p, mid, lm);
  p += lm;
  for (size_t i = 0; i < n; i++, p += lc)
    memcpy(p, close, lc);
  *p = '\0';
  return s;
}

static void test_deep_nesting_is_rejected(void **state) {
  (void)state;
  static const struct {
    const char *name, *open, *mid, *close;
    size_t n;
  } cases[] = {
      {"1000 open brackets", "[", "", "", 1000},
      {"1000 balanced brackets", "[", "", "]", 1000},
      {"1000 nested objects", "{\"a\": ", "1", "}", 1000},
      {"100000 open brackets", "[", "", "", 100000},
      {"deep unknown value inside a status message",
       "{\"message_type\": \"factory_status\", \"site\": \"S\", \"space\": "
       "\"sp\", \"factory\": \"f\", \"x\": [",
       "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
       "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
       "]}", 1},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t len;
    char *s =
        repeat(cases[i].open, cases[i].n, cases[i].mid, cases[i].close, &len);
    vq_message_t m;
    CHECK_REASON(cases[i].name, parse_bytes(s, len, &m), VQ_REJ_NOT_JSON);
    check_cleared(cases[i].name, &m);
    free(s);
  }
}

/* Unknown keys are ignored whatever they hold, including a little nested
 * structure. */
static void test_unknown_keys_are_ignored(void **state) {
  (void)state;
  const char *json =
      "{\"zz_first\": {\"a\": [1, {\"b\": null}], \"c\": \"d\"}, "
      "\"message_type\": \"machinetype_status\", \"list\": [1, 2, 3], "
      "\"flag\": true, \"method\": \"machinetype\", \"x\": \"y\", "
      "\"nested\": [[[[[[{\"k\": [[[]]]}]]]]]], \"site\": \"S\", "
      "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": \"mt\", "
      "\"running_processors\": 4, \"min_wallclock_seconds\": \"text\", "
      "\"vo\": 17, \"time_received\": [], \"\": 1}";
  vq_message_t m;
  CHECK_REASON("unknown keys", parse_str(json, &m), VQ_OK);
  CHECK_INT("unknown keys", m.type, VQ_MSG_MACHINETYPE);
  CHECK_STR("unknown keys", m.str[VQ_S_SITE], "S");
  CHECK_STR("unknown keys", m.str[VQ_S_MACHINETYPE], "mt");
  CHECK_NUM("unknown keys", m.num[VQ_N_RUNNING_PROCESSORS], 4);
  CHECK_STR("unknown keys", m.vo, NULL); /* a sent "vo" key is not ours */
  vq_message_clear(&m);
}

/* vq_parse() must stop at len: bytes after it are not part of the
 * datagram (here they would make it invalid if read). */
static void test_parse_stops_at_len(void **state) {
  (void)state;
  static const struct {
    const char *name, *bytes;
    size_t len;
    vq_reason_t reason;
  } cases[] = {
      {"object followed by junk", VALID "xyz", sizeof(VALID) - 1, VQ_OK},
      {"object cut before its brace", VALID, sizeof(VALID) - 2,
       VQ_REJ_NOT_JSON},
      {"number followed by a brace", "42}", 2, VQ_REJ_NOT_OBJECT},
      {"number followed by digits", "4299", 2, VQ_REJ_NOT_OBJECT},
      {"true followed by junk", "truex", 4, VQ_REJ_NOT_OBJECT},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m;
    CHECK_REASON(cases[i].name, parse_bytes(cases[i].bytes, cases[i].len, &m),
                 cases[i].reason);
    vq_message_clear(&m);
  }
}

/* Each example in an exactly-sized buffer (no NUL after it): accepted
 * and nothing is read past the end (ASan / valgrind watch). */
static void test_unterminated_example_datagrams(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(examples); i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", CM_FIXTURES, examples[i].file);
    size_t len;
    char *data = read_file(path, &len);
    char *exact = malloc(len);
    assert_non_null(exact);
    memcpy(exact, data, len);
    free(data);
    vq_message_t m;
    vq_reason_t r = vq_parse(parser, exact, len, &m);
    free(exact);
    CHECK_REASON(examples[i].file, r, examples[i].reason);
    if (r == VQ_OK) /* the strings must not point into the freed datagram */
      CHECK_STR(examples[i].file, m.str[VQ_S_SITE], examples[i].site);
    vq_message_clear(&m);
  }
}

/* A rejected parse leaves the reusable parser ready for the next one. */
static void test_parser_is_reusable_after_each_rejection(void **state) {
  (void)state;
  for (size_t i = 0; i < COUNT(hostile_cases); i++) {
    vq_message_t m;
    parse_bytes(hostile_cases[i].bytes, hostile_cases[i].len, &m);
    vq_message_clear(&m);
    CHECK_REASON(hostile_cases[i].name, parse_str(VALID, &m), VQ_OK);
    CHECK_NUM(hostile_cases[i].name, m.num[VQ_N_RUNNING_PROCESSORS], 3);
    vq_message_clear(&m);
  }
}

/* ---- clearing ---------------------------------------------------------- */

static void test_message_clear_twice_is_safe(void **state) {
  (void)state;
  vq_message_t m;
  CHECK_REASON("valid", parse_str(VALID, &m), VQ_OK);
  assert_non_null(m.root);
  vq_message_clear(&m);
  check_cleared("after one clear", &m);
  vq_message_clear(&m);
  check_cleared("after two clears", &m);

  vq_message_t z;
  memset(&z, 0, sizeof(z));
  vq_message_clear(&z);
  check_cleared("zeroed message", &z);
}

/* A message reused for a second parse releases the first tree only
 * through vq_message_clear(); parse fills a fresh *m every time. */
static void test_parse_overwrites_previous_message(void **state) {
  (void)state;
  vq_message_t m;
  CHECK_REASON(
      "first",
      parse_str(build("machine_status", "\"fqan\": \"/lhcb\", \"hs06\": 8"),
                &m),
      VQ_OK);
  vq_message_clear(&m);
  CHECK_REASON("second", parse_str(build("factory_status", ""), &m), VQ_OK);
  CHECK_STR("second", m.vo, NULL);
  CHECK_NUM("second", m.num[VQ_N_HS06], NAN);
  CHECK_STR("second", m.str[VQ_S_FQAN], NULL);
  vq_message_clear(&m);
}

/* ---- foreach_field ----------------------------------------------------- */

typedef struct {
  int strings, ints, doubles, bools;
  int saw_site, saw_bool_true, saw_double, saw_unknown;
} field_count_t;

static void count_field(void *ctx, const char *key, vq_value_kind_t kind,
                        const char *s, double d) {
  field_count_t *c = ctx;
  switch (kind) {
  case VQ_V_STRING:
    c->strings++;
    if (strcmp(key, "site") == 0 && strcmp(s, "S") == 0)
      c->saw_site = 1;
    if (strcmp(key, "extra") == 0 && strcmp(s, "kept") == 0)
      c->saw_unknown = 1;
    break;
  case VQ_V_INT:
    c->ints++;
    break;
  case VQ_V_DOUBLE:
    c->doubles++;
    if (strcmp(key, "hs06") == 0 && d == 84.5)
      c->saw_double = 1;
    break;
  case VQ_V_BOOL:
    c->bools++;
    if (strcmp(key, "flag") == 0 && d == 1)
      c->saw_bool_true = 1;
    break;
  }
}

static void test_foreach_field_reports_scalar_members(void **state) {
  (void)state;
  vq_message_t m;
  CHECK_REASON("fields",
               parse_str(build("machine_status",
                               "\"hs06\": 84.5, \"num_processors\": 8, "
                               "\"flag\": true, \"extra\": \"kept\", "
                               "\"shutdown_message\": null, \"arr\": [1], "
                               "\"obj\": {\"a\": 1}"),
                         &m),
               VQ_OK);
  field_count_t c = {0};
  vq_message_foreach_field(&m, count_field, &c);
  assert_int_equal(c.strings, 5); /* message_type site space factory extra */
  assert_int_equal(c.ints, 1);
  assert_int_equal(c.doubles, 1);
  assert_int_equal(c.bools, 1);
  assert_true(c.saw_site && c.saw_bool_true && c.saw_double && c.saw_unknown);
  vq_message_clear(&m);

  field_count_t none = {0};
  vq_message_foreach_field(&m, count_field, &none); /* cleared: no calls */
  assert_int_equal(none.strings + none.ints + none.doubles + none.bools, 0);
}

/* ---- names ------------------------------------------------------------- */

static void test_type_and_reason_names(void **state) {
  (void)state;
  assert_string_equal(vq_msg_type_name(VQ_MSG_FACTORY), "factory_status");
  assert_string_equal(vq_msg_type_name(VQ_MSG_MACHINETYPE),
                      "machinetype_status");
  assert_string_equal(vq_msg_type_name(VQ_MSG_MACHINE), "machine_status");
  assert_string_equal(vq_msg_type_name(VQ_MSG_TYPE_COUNT), "unknown");

  /* reason names are type instances of vacquery_rejected: pinned */
  static const char *const reasons[VQ_REASON_COUNT] = {
      [VQ_OK] = "accepted",
      [VQ_REJ_OVERSIZE] = "oversize",
      [VQ_REJ_ACL] = "acl",
      [VQ_REJ_RATE_LIMIT] = "rate_limit",
      [VQ_REJ_NOT_JSON] = "not_json",
      [VQ_REJ_NOT_OBJECT] = "not_object",
      [VQ_REJ_NO_TYPE] = "no_message_type",
      [VQ_REJ_QUERY] = "query",
      [VQ_REJ_UNKNOWN_TYPE] = "unknown_message_type",
      [VQ_REJ_MISSING] = "missing_field",
      [VQ_REJ_BAD_TYPE] = "bad_type",
      [VQ_REJ_TOO_LONG] = "name_too_long",
      [VQ_REJ_COOKIE] = "cookie",
      [VQ_REJ_FLEET_FULL] = "fleet_full",
  };
  for (int r = 0; r < VQ_REASON_COUNT; r++)
    assert_string_equal(vq_reason_name((vq_reason_t)r), reasons[r]);
  assert_string_equal(vq_reason_name(VQ_REASON_COUNT), "unknown");
  assert_string_equal(vq_reason_name((vq_reason_t)-1), "unknown");
}

/* vq_num_name() and vq_str_name() give the protocol's keys, and
 * num_key/str_key above name every field, each once. */
static void test_field_names_are_the_json_keys(void **state) {
  (void)state;
  for (int i = 0; i < VQ_N_COUNT; i++) {
    assert_non_null(num_key[i]);
    CHECK_CSTR(num_key[i], vq_num_name((vq_num_id_t)i), num_key[i]);
    for (int j = i + 1; j < VQ_N_COUNT; j++)
      assert_string_not_equal(num_key[i], num_key[j]);
  }
  for (int i = 0; i < VQ_S_COUNT; i++) {
    assert_non_null(str_key[i]);
    CHECK_CSTR(str_key[i], vq_str_name((vq_str_id_t)i), str_key[i]);
    for (int j = i + 1; j < VQ_S_COUNT; j++)
      assert_string_not_equal(str_key[i], str_key[j]);
  }
  assert_string_equal(vq_num_name(VQ_N_COUNT), "unknown");
  assert_string_equal(vq_str_name(VQ_S_COUNT), "unknown");
}

/* Every string field is read from its key (str_key). */
static void test_each_string_field_is_read_from_its_key(void **state) {
  (void)state;
  static const struct {
    vq_str_id_t id;
    const char *type;
  } cases[] = {
      {VQ_S_COOKIE, "factory_status"},
      {VQ_S_DAEMON_VERSION, "factory_status"},
      {VQ_S_VACQUERY_VERSION, "machine_status"},
      {VQ_S_KERNEL_VERSION, "factory_status"},
      {VQ_S_OS_ISSUE, "factory_status"},
      {VQ_S_FQAN, "machinetype_status"},
      {VQ_S_FQAN, "machine_status"},
      {VQ_S_MACHINE, "machine_status"},
      {VQ_S_STATE, "machine_status"},
      {VQ_S_MACHINE_MODEL, "machine_status"},
      {VQ_S_UUID, "machine_status"},
      {VQ_S_SHUTDOWN_MESSAGE, "machine_status"},
      {VQ_S_SHUTDOWN_MESSAGE, "machinetype_status"},
      {VQ_S_SHUTDOWN_MACHINE, "machinetype_status"},
      {VQ_S_MACHINETYPE, "machine_status"},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char body[200], ctx[200];
    snprintf(body, sizeof(body), "\"%s\": \"value-%zu\"", str_key[cases[i].id],
             i);
    snprintf(ctx, sizeof(ctx), "%s %s", cases[i].type, str_key[cases[i].id]);
    char want[32];
    snprintf(want, sizeof(want), "value-%zu", i);
    vq_message_t m;
    CHECK_REASON(ctx, parse_str(build(cases[i].type, body), &m), VQ_OK);
    CHECK_STR(ctx, m.str[cases[i].id], want);
    vq_message_clear(&m);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_example_file_has_an_expectation),
      cmocka_unit_test(test_every_example_parses_to_its_expected_values),
      cmocka_unit_test(test_every_prefix_of_every_example_is_rejected),
      cmocka_unit_test(test_unterminated_example_datagrams),
      cmocka_unit_test(test_legacy_numeric_fixups),
      cmocka_unit_test(test_legacy_string_fixups),
      cmocka_unit_test(test_each_numeric_field_is_read_from_its_key_only),
      cmocka_unit_test(test_each_string_field_is_read_from_its_key),
      cmocka_unit_test(test_vo_is_derived_from_fqan),
      cmocka_unit_test(test_factory_status_never_has_a_vo),
      cmocka_unit_test(test_vo_from_fqan_respects_slice_length),
      cmocka_unit_test(test_numeric_values_and_types),
      cmocka_unit_test(test_legacy_value_type_matters_only_when_used),
      cmocka_unit_test(test_uint64_integer_keeps_its_value),
      cmocka_unit_test(test_huge_integer_is_not_silently_clamped),
      cmocka_unit_test(test_string_fields_must_be_strings),
      cmocka_unit_test(test_site_space_factory_are_required_strings),
      cmocka_unit_test(test_machinetype_requirement_per_type),
      cmocka_unit_test(test_non_ascii_and_nul_in_names_are_kept),
      cmocka_unit_test(test_message_type_dispatch),
      cmocka_unit_test(test_hostile_datagrams),
      cmocka_unit_test(test_null_literal_is_not_an_object),
      cmocka_unit_test(test_deep_nesting_is_rejected),
      cmocka_unit_test(test_unknown_keys_are_ignored),
      cmocka_unit_test(test_parse_stops_at_len),
      cmocka_unit_test(test_parser_is_reusable_after_each_rejection),
      cmocka_unit_test(test_message_clear_twice_is_safe),
      cmocka_unit_test(test_parse_overwrites_previous_message),
      cmocka_unit_test(test_foreach_field_reports_scalar_members),
      cmocka_unit_test(test_type_and_reason_names),
      cmocka_unit_test(test_field_names_are_the_json_keys),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
