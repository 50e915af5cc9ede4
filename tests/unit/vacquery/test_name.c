/* SPDX-License-Identifier: MIT */
/*
 * test_name.c: unit tests for src/vacquery/vq_name.c, the naming contract of
 * docs/protocol.md section 10: each component sanitised to [A-Za-z0-9_-] (every
 * other byte becomes '_'), host = site, plugin_instance = <space>.<factory>,
 * type_instance = <vo>.<machinetype> (placeholder VO "none") or "" for
 * factory-level values; every slot must fit a 128-byte collectd field.
 */
#include "vacquery/vq_message.h"
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

/* A string of n copies of c (static storage, up to 1023 bytes). */
static const char *rep(char c, size_t n) {
  static char bufs[8][1024];
  static int next;
  char *b = bufs[next++ % 8];
  assert_true(n < sizeof(bufs[0]));
  memset(b, c, n);
  b[n] = '\0';
  return b;
}

static vq_str_t sl(const char *s) {
  return (vq_str_t){s, s != NULL ? strlen(s) : 0};
}

/* ---- vq_name_sanitise --------------------------------------------------- */

static void test_sanitise_table(void **state) {
  (void)state;
  static const struct {
    const char *name, *src;
    size_t len;
    const char *expect; /* NULL: -1 */
  } cases[] = {
#define C(n, s, e) {n, s, sizeof(s) - 1, e}
      C("FQDN dots", "vac01.tier2.hep.manchester.ac.uk",
        "vac01_tier2_hep_manchester_ac_uk"),
      C("GOCDB site name kept", "UKI-NORTHGRID-MAN-HEP",
        "UKI-NORTHGRID-MAN-HEP"),
      C("every kept byte class",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
      C("slash semicolon equals", "/lhcb/Role=NULL;x", "_lhcb_Role_NULL_x"),
      C("space and tab", "a b\tc", "a_b_c"),
      C("glob characters", "*?[]{}", "______"),
      C("graphite specials", "a,b:c(d)e%f", "a_b_c_d_e_f"),
      C("quotes and backslash", "'\"\\`", "____"),
      C("newline and CR", "a\nb\rc", "a_b_c"),
      C("UTF-8 u-umlaut is two bytes", "Z\xc3\xbcrich", "Z__rich"),
      C("UTF-8 snowman is three bytes", "\xe2\x98\x83", "___"),
      C("high and control bytes", "\x01\x7f\x80\xff", "____"),
      C("embedded NUL", "a\0b", "a_b"),
      C("single dot", ".", "_"),
      C("plus and tilde", "a+b~c", "a_b_c"),
      C("empty", "", NULL),
#undef C
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char dst[VQ_NAME_MAX];
    memset(dst, 'X', sizeof(dst));
    int r = cm_name_sanitise(dst, sizeof(dst), cases[i].src, cases[i].len, 0);
    if (cases[i].expect == NULL) {
      CHECK_INT(cases[i].name, r, -1);
      continue;
    }
    CHECK_INT(cases[i].name, r, strlen(cases[i].expect));
    CHECK_CSTR(cases[i].name, dst, cases[i].expect);
  }
}

/* Every one of the 256 byte values maps as the contract says. */
static void test_sanitise_every_byte_value(void **state) {
  (void)state;
  for (int c = 0; c < 256; c++) {
    char src = (char)c, dst[4];
    int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               (c >= '0' && c <= '9') || c == '_' || c == '-';
    int r = cm_name_sanitise(dst, sizeof(dst), &src, 1, 0);
    char ctx[32];
    snprintf(ctx, sizeof(ctx), "byte 0x%02x", c);
    CHECK_INT(ctx, r, 1);
    CHECK_INT(ctx, (unsigned char)dst[0], keep ? c : '_');
    CHECK_INT(ctx, dst[1], '\0');
  }
}

/* The result plus its NUL must fit: 127 bytes fit in 128, 128 do not. */
static void test_sanitise_length_limits(void **state) {
  (void)state;
  static const struct {
    const char *name;
    size_t len, size;
    int expect;
  } cases[] = {
      {"127 bytes in 128", 127, 128, 127}, {"128 bytes in 128", 128, 128, -1},
      {"129 bytes in 128", 129, 128, -1},  {"1 byte in 2", 1, 2, 1},
      {"1 byte in 1", 1, 1, -1},           {"1 byte in 0", 1, 0, -1},
      {"500 bytes in 128", 500, 128, -1},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char *dst = malloc(cases[i].size > 0 ? cases[i].size : 1);
    assert_non_null(dst);
    /* exactly-sized destination: ASan flags any write past size */
    int r = cm_name_sanitise(cases[i].size > 0 ? dst : NULL, cases[i].size,
                             rep('a', cases[i].len), cases[i].len, 0);
    CHECK_INT(cases[i].name, r, cases[i].expect);
    if (r >= 0) {
      CHECK_INT(cases[i].name, strlen(dst), cases[i].len);
      assert_memory_equal(dst, rep('a', cases[i].len), cases[i].len);
    } else if (cases[i].size > 0) {
      CHECK_INT(cases[i].name, strnlen(dst, cases[i].size) < cases[i].size,
                1); /* still NUL-terminated */
    }
    free(dst);
  }
}

static void test_sanitise_rejects_null_source(void **state) {
  (void)state;
  char dst[16] = "junk";
  assert_int_equal(cm_name_sanitise(dst, sizeof(dst), NULL, 3, 0), -1);
  assert_string_equal(dst, "");
  assert_int_equal(cm_name_sanitise(dst, sizeof(dst), "abc", 0, 0), -1);
  assert_string_equal(dst, "");
}

/* Only len bytes are read: the rest of the source is not part of it. */
static void test_sanitise_reads_only_len_bytes(void **state) {
  (void)state;
  char dst[16];
  assert_int_equal(cm_name_sanitise(dst, sizeof(dst), "ab.cd", 3, 0), 3);
  assert_string_equal(dst, "ab_");
}

/* ---- vq_name_join ----------------------------------------------------- */

static void test_join_table(void **state) {
  (void)state;
  static const struct {
    const char *name;
    const char *parts[3];
    size_t n;
    const char *expect; /* NULL: -1 */
  } cases[] = {
      {"space and factory",
       {"vac01.tier2.hep.manchester.ac.uk",
        "vac101.tier2.hep.manchester.ac.uk"},
       2,
       "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk"},
      {"vo and machinetype", {"lhcb", "lhcb-prod"}, 2, "lhcb.lhcb-prod"},
      {"dotted vo", {"vo.example.org", "mt"}, 2, "vo_example_org.mt"},
      {"one part", {"UKI-EXAMPLE"}, 1, "UKI-EXAMPLE"},
      {"three parts",
       {"none", "test docker", "fizzle"},
       3,
       "none.test_docker.fizzle"},
      {"empty first part", {"", "mt"}, 2, NULL},
      {"empty last part", {"vo", ""}, 2, NULL},
      {"NULL part", {"vo", NULL}, 2, NULL},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_str_t parts[3];
    for (size_t k = 0; k < cases[i].n; k++)
      parts[k] = sl(cases[i].parts[k]);
    char dst[VQ_NAME_MAX];
    int r = vq_name_join(dst, sizeof(dst), parts, cases[i].n);
    if (cases[i].expect == NULL) {
      CHECK_INT(cases[i].name, r, -1);
      continue;
    }
    CHECK_INT(cases[i].name, r, strlen(cases[i].expect));
    CHECK_CSTR(cases[i].name, dst, cases[i].expect);
  }
}

/* The joined result with its dots must fit in 127 bytes. */
static void test_join_length_limits(void **state) {
  (void)state;
  static const struct {
    const char *name;
    size_t a, b;
    int expect;
  } cases[] = {
      {"63 + 1 + 63 = 127 fits", 63, 63, 127},
      {"63 + 1 + 64 = 128 too long", 63, 64, -1},
      {"126 + 1 + 0: empty part", 126, 0, -1},
      {"125 + 1 + 1 = 127 fits", 125, 1, 127},
      {"126 + 1 + 1 = 128 too long", 126, 1, -1},
      {"127 + dot: no room for the dot", 127, 1, -1},
      {"1 + 1 + 125 = 127 fits", 1, 125, 127},
      {"1 + 1 + 126 = 128 too long", 1, 126, -1},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_str_t parts[2] = {{rep('a', cases[i].a), cases[i].a},
                         {rep('b', cases[i].b), cases[i].b}};
    char *dst = malloc(VQ_NAME_MAX); /* exact size for ASan */
    assert_non_null(dst);
    int r = vq_name_join(dst, VQ_NAME_MAX, parts, 2);
    CHECK_INT(cases[i].name, r, cases[i].expect);
    if (r >= 0) {
      CHECK_INT(cases[i].name, strlen(dst), r);
      CHECK_INT(cases[i].name, dst[cases[i].a], '.');
    }
    free(dst);
  }
}

/* ---- vq_ident_from_message -------------------------------------------- */

/* A message as vq_parse() would leave it: only the fields used here. */
static vq_message_t mk(vq_msg_type_t type, const char *site, const char *space,
                       const char *factory, const char *mt, const char *vo) {
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    m.num[i] = NAN;
  m.type = type;
  m.str[VQ_S_SITE] = sl(site);
  m.str[VQ_S_SPACE] = sl(space);
  m.str[VQ_S_FACTORY] = sl(factory);
  m.str[VQ_S_MACHINETYPE] = sl(mt);
  m.vo = sl(vo);
  return m;
}

static void test_ident_table(void **state) {
  (void)state;
  static const struct {
    const char *name;
    vq_msg_type_t type;
    const char *site, *space, *factory, *mt, *vo;
    vq_reason_t reason;
    const char *host, *pi, *ti;
  } cases[] = {
      {"factory level has an empty type_instance", VQ_MSG_FACTORY,
       "UKI-NORTHGRID-MAN-HEP", "vac01.tier2.hep.manchester.ac.uk",
       "vac101.tier2.hep.manchester.ac.uk", NULL, NULL, VQ_OK,
       "UKI-NORTHGRID-MAN-HEP",
       "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
       ""},
      {"factory ignores a machinetype and vo", VQ_MSG_FACTORY, "s", "sp", "f",
       "mt", "vo", VQ_OK, "s", "sp.f", ""},
      {"machinetype with vo", VQ_MSG_MACHINETYPE, "pp.example.ac.uk",
       "vac01.pp.example.ac.uk", "vachost07.pp.example.ac.uk", "cms-pilot",
       "cms", VQ_OK, "pp_example_ac_uk",
       "vac01_pp_example_ac_uk.vachost07_pp_example_ac_uk", "cms.cms-pilot"},
      {"machinetype without vo uses none", VQ_MSG_MACHINETYPE, "s", "sp", "f",
       "lhcb-prod", NULL, VQ_OK, "s", "sp.f", "none.lhcb-prod"},
      {"machine without vo and machinetype", VQ_MSG_MACHINE, "s", "sp", "f",
       NULL, NULL, VQ_OK, "s", "sp.f", "none.none"},
      {"machine with empty machinetype", VQ_MSG_MACHINE, "s", "sp", "f", "",
       "lhcb", VQ_OK, "s", "sp.f", "lhcb.none"},
      {"dotted vo is one node", VQ_MSG_MACHINE, "s", "sp", "f", "mt",
       "vo.example.org", VQ_OK, "s", "sp.f", "vo_example_org.mt"},
      {"hostile bytes everywhere", VQ_MSG_MACHINETYPE, "a b/c", "x*y?",
       "[f]{g}", "m;t=1", "v\xc3\xa9", VQ_OK, "a_b_c", "x_y_._f__g_",
       "v__.m_t_1"},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m = mk(cases[i].type, cases[i].site, cases[i].space,
                        cases[i].factory, cases[i].mt, cases[i].vo);
    vq_ident_t id;
    memset(&id, 'X', sizeof(id));
    vq_reason_t r = vq_ident_from_message(&m, &id);
    CHECK_INT(cases[i].name, r, cases[i].reason);
    CHECK_CSTR(cases[i].name, id.host, cases[i].host);
    CHECK_CSTR(cases[i].name, id.plugin_instance, cases[i].pi);
    CHECK_CSTR(cases[i].name, id.type_instance, cases[i].ti);
  }
}

/* Each slot holds at most 127 bytes; one more is VQ_REJ_TOO_LONG. Lengths
 * of 0 mean the short default ("s", "sp", "f", no machinetype, no VO). */
static void test_ident_length_limits(void **state) {
  (void)state;
  static const struct {
    const char *name;
    vq_msg_type_t type;
    size_t site, space, factory, vo, mt;
    vq_reason_t reason;
  } cases[] = {
      {"site of 127 bytes fits", VQ_MSG_FACTORY, 127, 0, 0, 0, 0, VQ_OK},
      {"site of 128 bytes is too long", VQ_MSG_FACTORY, 128, 0, 0, 0, 0,
       VQ_REJ_TOO_LONG},
      {"space.factory of 60+1+66 = 127 fits", VQ_MSG_FACTORY, 0, 60, 66, 0, 0,
       VQ_OK},
      {"space.factory of 60+1+67 = 128 is too long", VQ_MSG_FACTORY, 0, 60, 67,
       0, 0, VQ_REJ_TOO_LONG},
      {"space of 127 alone is too long with the factory", VQ_MSG_FACTORY, 0,
       127, 0, 0, 0, VQ_REJ_TOO_LONG},
      {"vo.machinetype of 26+1+100 = 127 fits", VQ_MSG_MACHINETYPE, 0, 0, 0, 26,
       100, VQ_OK},
      {"vo.machinetype of 27+1+100 = 128 is too long", VQ_MSG_MACHINETYPE, 0, 0,
       0, 27, 100, VQ_REJ_TOO_LONG},
      {"none.machinetype of 4+1+122 = 127 fits", VQ_MSG_MACHINE, 0, 0, 0, 0,
       122, VQ_OK},
      {"none.machinetype of 4+1+123 = 128 is too long", VQ_MSG_MACHINE, 0, 0, 0,
       0, 123, VQ_REJ_TOO_LONG},
      {"factory level ignores a long machinetype", VQ_MSG_FACTORY, 0, 0, 0, 200,
       200, VQ_OK},
  };
  static char buf[5][256];
  for (size_t i = 0; i < COUNT(cases); i++) {
    size_t lens[5] = {cases[i].site, cases[i].space, cases[i].factory,
                      cases[i].vo, cases[i].mt};
    const char *dflt[5] = {"s", "sp", "f", NULL, NULL};
    const char *fill = "SPFVM";
    const char *v[5];
    for (int k = 0; k < 5; k++) {
      if (lens[k] == 0) {
        v[k] = dflt[k];
        continue;
      }
      memset(buf[k], fill[k], lens[k]);
      buf[k][lens[k]] = '\0';
      v[k] = buf[k];
    }
    vq_message_t m = mk(cases[i].type, v[0], v[1], v[2], v[4], v[3]);
    vq_ident_t id;
    vq_reason_t r = vq_ident_from_message(&m, &id);
    CHECK_INT(cases[i].name, r, cases[i].reason);
    if (r != VQ_OK)
      continue;
    char want[3][512];
    snprintf(want[0], sizeof(want[0]), "%s", v[0]);
    snprintf(want[1], sizeof(want[1]), "%s.%s", v[1], v[2]);
    if (cases[i].type == VQ_MSG_FACTORY)
      want[2][0] = '\0';
    else
      snprintf(want[2], sizeof(want[2]), "%s.%s", v[3] ? v[3] : "none",
               v[4] ? v[4] : "none");
    CHECK_CSTR(cases[i].name, id.host, want[0]);
    CHECK_CSTR(cases[i].name, id.plugin_instance, want[1]);
    CHECK_CSTR(cases[i].name, id.type_instance, want[2]);
  }
}

/* The same through vq_parse() on real datagrams. */
static void test_ident_from_parsed_messages(void **state) {
  (void)state;
  static const struct {
    const char *name, *json, *host, *pi, *ti;
  } cases[] = {
      {"machinetype_status with fqan",
       "{\"message_type\": \"machinetype_status\", \"site\": "
       "\"UKI-NORTHGRID-MAN-HEP\", \"space\": "
       "\"vac01.tier2.hep.manchester.ac.uk\", \"factory\": "
       "\"vac101.tier2.hep.manchester.ac.uk\", \"machinetype\": "
       "\"lhcb-prod\", \"fqan\": \"/lhcb/Role=NULL/Capability=NULL\"}",
       "UKI-NORTHGRID-MAN-HEP",
       "vac01_tier2_hep_manchester_ac_uk.vac101_tier2_hep_manchester_ac_uk",
       "lhcb.lhcb-prod"},
      {"machinetype_status without fqan uses the placeholder VO",
       "{\"message_type\": \"machinetype_status\", \"site\": \"s.t\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": \"x.y\"}",
       "s_t", "sp.f", "none.x_y"},
      {"machine_status with null machinetype and empty fqan",
       "{\"message_type\": \"machine_status\", \"site\": \"s\", "
       "\"space\": \"sp\", \"factory\": \"f\", \"machinetype\": null, "
       "\"fqan\": \"\"}",
       "s", "sp.f", "none.none"},
      {"factory_status with unicode escapes",
       "{\"message_type\": \"factory_status\", \"site\": \"Z\\u00fcrich\", "
       "\"space\": \"a\\u0000b\", \"factory\": \"f\"}",
       "Z__rich", "a_b.f", ""},
  };
  vq_parser_t *p = vq_parser_create();
  assert_non_null(p);
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_message_t m;
    vq_reason_t r = vq_parse(p, cases[i].json, strlen(cases[i].json), &m);
    CHECK_INT(cases[i].name, r, VQ_OK);
    vq_ident_t id;
    r = vq_ident_from_message(&m, &id);
    vq_message_clear(&m);
    CHECK_INT(cases[i].name, r, VQ_OK);
    CHECK_CSTR(cases[i].name, id.host, cases[i].host);
    CHECK_CSTR(cases[i].name, id.plugin_instance, cases[i].pi);
    CHECK_CSTR(cases[i].name, id.type_instance, cases[i].ti);
  }
  vq_parser_destroy(p);
}

static void test_placeholder_accessors(void **state) {
  (void)state;
  vq_message_t m = mk(VQ_MSG_MACHINE, "s", "sp", "f", NULL, NULL);
  vq_str_t vo = vq_message_vo(&m), mt = vq_message_machinetype(&m);
  assert_int_equal(vo.len, 4);
  assert_memory_equal(vo.ptr, VQ_NO_VO, 4);
  assert_string_equal(VQ_NO_VO, "none");
  assert_int_equal(mt.len, 4);
  assert_memory_equal(mt.ptr, "none", 4);

  m = mk(VQ_MSG_MACHINE, "s", "sp", "f", "lhcb-prod", "lhcb");
  vo = vq_message_vo(&m);
  mt = vq_message_machinetype(&m);
  assert_int_equal(vo.len, 4);
  assert_memory_equal(vo.ptr, "lhcb", 4);
  assert_int_equal(mt.len, 9);
  assert_memory_equal(mt.ptr, "lhcb-prod", 9);
}

/* ---- cm_text_printable: log and meta text ------------------------------ */

static void test_printable_table(void **state) {
  (void)state;
  static const struct {
    const char *name, *src;
    size_t len, size;
    const char *expect;
  } cases[] = {
#define P(n, s, size, e) {n, s, sizeof(s) - 1, size, e}
      P("plain text kept", "vac01 lhcb.example", 64, "vac01 lhcb.example"),
      P("newline forging a log line", "a\nfactory b is down", 64,
        "a?factory b is down"),
      P("carriage return and tab", "a\r\tb", 64, "a??b"),
      P("escape sequence", "\x1b[31mred", 64, "?[31mred"),
      P("DEL", "a\x7f", 64, "a?"),
      P("UTF-8 kept", "caf\xc3\xa9", 64, "caf\xc3\xa9"),
      P("truncated to size", "abcdef", 4, "abc"),
      P("embedded NUL ends text", "ab\0cd", 64, "ab"),
      P("empty", "", 64, ""),
#undef P
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char buf[64];
    memset(buf, 'x', sizeof(buf));
    CHECK_CSTR(
        cases[i].name,
        cm_text_printable(buf, cases[i].size, cases[i].src, cases[i].len),
        cases[i].expect);
  }
}

static void test_printable_in_place_and_edges(void **state) {
  (void)state;
  char buf[16] = "a\nb\x01"
                 "c";
  CHECK_CSTR("in place", cm_text_printable(buf, sizeof(buf), buf, sizeof(buf)),
             "a?b?c");
  char one[1] = {'x'};
  CHECK_CSTR("size 1", cm_text_printable(one, 1, "abc", 3), "");
  char z[4] = "zzz";
  assert_ptr_equal(cm_text_printable(z, 0, "abc", 3), z);
  CHECK_CSTR("size 0 leaves dst", z, "zzz");
  CHECK_CSTR("NULL source", cm_text_printable(z, sizeof(z), NULL, 3), "");
  CHECK_CSTR("len bounds the read", cm_text_printable(z, sizeof(z), "abc", 2),
             "ab");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sanitise_table),
      cmocka_unit_test(test_sanitise_every_byte_value),
      cmocka_unit_test(test_sanitise_length_limits),
      cmocka_unit_test(test_sanitise_rejects_null_source),
      cmocka_unit_test(test_sanitise_reads_only_len_bytes),
      cmocka_unit_test(test_join_table),
      cmocka_unit_test(test_join_length_limits),
      cmocka_unit_test(test_ident_table),
      cmocka_unit_test(test_ident_length_limits),
      cmocka_unit_test(test_ident_from_parsed_messages),
      cmocka_unit_test(test_placeholder_accessors),
      cmocka_unit_test(test_printable_table),
      cmocka_unit_test(test_printable_in_place_and_edges),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
