/* SPDX-License-Identifier: MIT */
/*
 * test_fields.c: field-level tolerance (issue 9) on real messages. The
 * Manchester factory_status and lhcb-prod machinetype_status examples get
 * one hostile value each; that field is dropped and flagged, every other
 * value of the message is still read (literal values from the example),
 * and only the identity fields reject the message.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_sample.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dgram[8192];

/* Copies the fixture name into dgram with the value of "key" (the text
 * after `"key": ' up to the next ',' or '}') replaced by value. */
static const char *with_value(const char *name, const char *key,
                              const char *value) {
  size_t len;
  char *raw = cm_test_read_fixture(name, &len);
  assert_non_null(raw);
  char pat[128];
  snprintf(pat, sizeof(pat), "\"%s\": ", key);
  char *at = strstr(raw, pat);
  assert_non_null(at);
  at += strlen(pat);
  char *end = at;
  if (*end == '"') {
    end++;
    while (*end != '"')
      end++;
    end++;
  } else {
    while (*end != ',' && *end != '}')
      end++;
  }
  snprintf(dgram, sizeof(dgram), "%.*s%s%s", (int)(at - raw), raw, value, end);
  free(raw);
  return dgram;
}

/* Some values of the factory example that must survive any one bad
 * field, as printed in factory_status-vac-man.json. */
static const struct {
  vq_num_id_t id;
  double v;
} factory_values[] = {
    {VQ_N_RUNNING_PROCESSORS, 28}, {VQ_N_RUNNING_MACHINES, 7},
    {VQ_N_RUNNING_HS06, 294.0},    {VQ_N_MAX_HS06, 336.0},
    {VQ_N_LOAD_AVERAGE, 27.63},    {VQ_N_MEM_TOTAL_KB, 65690748},
    {VQ_N_MEM_USED_KB, 62818132},  {VQ_N_SWAP_USED_KB, 1048},
    {VQ_N_TIME_SENT, 1542931201},  {VQ_N_ROOT_DISK_AVAIL_KB, 38127412},
    {VQ_N_BOOT_TIME, 1539080347},  {VQ_N_DAEMON_DISK_AVAIL_KB, 1523419032},
};

/* Each hostile value in a factory_status: the key, the value text, the
 * field read (NaN: dropped) and whether it is flagged. */
static const struct {
  const char *name, *key, *value;
  vq_num_id_t id;
  double expect;
  int bad;
} hostile[] = {
    {"number as a string", "running_processors", "\"28\"",
     VQ_N_RUNNING_PROCESSORS, 28, 0},
    {"word as a string", "running_machines", "\"seven\"", VQ_N_RUNNING_MACHINES,
     NAN, 1},
    {"bool", "load_average", "true", VQ_N_LOAD_AVERAGE, NAN, 1},
    {"array", "mem_total_kb", "[65690748]", VQ_N_MEM_TOTAL_KB, NAN, 1},
    {"object", "mem_used_kb", "{\"kb\": 1}", VQ_N_MEM_USED_KB, NAN, 1},
    {"2^64", "max_hs06", "18446744073709551616", VQ_N_MAX_HS06,
     18446744073709551616.0, 0},
    {"1e400", "swap_used_kb", "1e400", VQ_N_SWAP_USED_KB, NAN, 1},
    {"-1e400", "running_hs06", "-1e400", VQ_N_RUNNING_HS06, NAN, 1},
    {"garbage time_sent", "time_sent", "\"yesterday, about noon\"",
     VQ_N_TIME_SENT, NAN, 1},
    {"time_sent as an object", "time_sent", "{\"s\": 1542931201}",
     VQ_N_TIME_SENT, NAN, 1},
};

static void test_one_bad_field_keeps_the_rest(void **state) {
  (void)state;
  vq_parser_t *p = vq_parser_create();
  assert_non_null(p);
  for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
    const char *d = with_value("factory_status-vac-man.json", hostile[i].key,
                               hostile[i].value);
    vq_message_t m;
    CHECK_REASON(hostile[i].name, vq_parse(p, d, strlen(d), &m), VQ_OK);
    CHECK_NUM(hostile[i].name, m.num[hostile[i].id], hostile[i].expect);
    CHECK_INT(hostile[i].name, m.bad_num,
              hostile[i].bad ? UINT64_C(1) << hostile[i].id : 0);
    CHECK_INT(hostile[i].name, m.bad_str, 0);
    for (size_t k = 0; k < sizeof(factory_values) / sizeof(factory_values[0]);
         k++)
      if (factory_values[k].id != hostile[i].id)
        CHECK_NUM(hostile[i].name, m.num[factory_values[k].id],
                  factory_values[k].v);
    /* And the message still becomes its value lists. */
    vq_sample_t s;
    CHECK_REASON(hostile[i].name, vq_sample_from_message(&m, &s), VQ_OK);
    assert_string_equal(s.id.host, "UKI-NORTHGRID-MAN-HEP");
    vq_message_clear(&m);
  }
  vq_parser_destroy(p);
}

/* A non-string string field is dropped and flagged: kernel_version of the
 * factory; fqan of the machinetype (then there is no VO, as with no
 * fqan), while running_machines (2) and the machinetype stay. */
static void test_non_string_fields(void **state) {
  (void)state;
  vq_parser_t *p = vq_parser_create();
  vq_message_t m;
  const char *d =
      with_value("factory_status-vac-man.json", "kernel_version", "5");
  CHECK_REASON("kernel_version 5", vq_parse(p, d, strlen(d), &m), VQ_OK);
  CHECK_INT("kernel_version 5", m.bad_str, UINT32_C(1) << VQ_S_KERNEL_VERSION);
  CHECK_INT("kernel_version 5", m.str[VQ_S_KERNEL_VERSION].ptr == NULL, 1);
  CHECK_NUM("kernel_version 5", m.num[VQ_N_RUNNING_MACHINES], 7);
  vq_message_clear(&m);
  static const char *fqans[] = {"5", "[\"/lhcb\"]", "{\"vo\": \"lhcb\"}",
                                "false"};
  for (size_t i = 0; i < 4; i++) {
    d = with_value("machinetype_status-vac-man-lhcb.json", "fqan", fqans[i]);
    CHECK_REASON(fqans[i], vq_parse(p, d, strlen(d), &m), VQ_OK);
    CHECK_INT(fqans[i], m.bad_str, UINT32_C(1) << VQ_S_FQAN);
    CHECK_INT(fqans[i], m.vo.ptr == NULL, 1);
    CHECK_NUM(fqans[i], m.num[VQ_N_RUNNING_MACHINES], 2);
    CHECK_NUM(fqans[i], m.num[VQ_N_MAX_WALLCLOCK_SECONDS], 172800);
    vq_str_t mt = m.str[VQ_S_MACHINETYPE];
    CHECK_INT(fqans[i], mt.len == 9 && memcmp(mt.ptr, "lhcb-prod", 9) == 0, 1);
    vq_message_clear(&m);
  }
  vq_parser_destroy(p);
}

/* The identity fields still reject the message for their type. */
static void test_identity_fields_reject(void **state) {
  (void)state;
  static const struct {
    const char *file, *key, *value;
  } cases[] = {
      {"factory_status-vac-man.json", "site", "5"},
      {"factory_status-vac-man.json", "space", "true"},
      {"factory_status-vac-man.json", "factory", "{\"f\": 1}"},
      {"factory_status-vac-man.json", "message_type", "[\"factory_status\"]"},
      {"machinetype_status-vac-man-lhcb.json", "machinetype", "7"},
      {"machinetype_status-vac-man-lhcb.json", "site", "[]"},
      {"machine_status-vac-man-success.json", "factory", "false"},
  };
  vq_parser_t *p = vq_parser_create();
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const char *d = with_value(cases[i].file, cases[i].key, cases[i].value);
    vq_message_t m;
    CHECK_REASON(cases[i].key, vq_parse(p, d, strlen(d), &m), VQ_REJ_BAD_TYPE);
    CHECK_INT(cases[i].key, m.root == NULL, 1);
    vq_message_clear(&m);
  }
  vq_parser_destroy(p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_bad_field_keeps_the_rest),
      cmocka_unit_test(test_non_string_fields),
      cmocka_unit_test(test_identity_fields_reject),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
