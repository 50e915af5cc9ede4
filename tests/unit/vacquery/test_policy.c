/* SPDX-License-Identifier: MIT */
/*
 * test_policy.c: unit tests for src/vacquery/vq_policy.c: AllowFrom networks
 * (parse, match, allowed) and per-site cookies.
 */
#include "vacquery/vq_message.h"
#include "vacquery/vq_name.h"
#include "vacquery/vq_policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vq_test.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* Fills *ss with the IPv4 or IPv6 address text a (port 8884). */
static const struct sockaddr *mk_sa(const char *a,
                                    struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, a, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(8884);
  } else if (inet_pton(AF_INET6, a, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(8884);
  } else {
    fail_msg("test address %s does not parse", a);
  }
  return (const struct sockaddr *)ss;
}

/* ---- vq_cidr_parse ----------------------------------------------------- */

static void test_cidr_parse_valid(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int family;
    unsigned prefix;
    const char *addr; /* the address part, as inet_pton reads it */
  } cases[] = {
      {"192.0.2.0/24", AF_INET, 24, "192.0.2.0"},
      {"10.0.0.0/8", AF_INET, 8, "10.0.0.0"},
      {"192.0.2.7", AF_INET, 32, "192.0.2.7"},
      {"0.0.0.0/0", AF_INET, 0, "0.0.0.0"},
      {"203.0.113.9/32", AF_INET, 32, "203.0.113.9"},
      {"192.0.2.128/25", AF_INET, 25, "192.0.2.128"},
      {"2001:db8::/32", AF_INET6, 32, "2001:db8::"},
      {"::1", AF_INET6, 128, "::1"},
      {"::/0", AF_INET6, 0, "::"},
      {"2001:db8::1/128", AF_INET6, 128, "2001:db8::1"},
      {"fe80::/10", AF_INET6, 10, "fe80::"},
      {"::ffff:192.0.2.0/120", AF_INET6, 120, "::ffff:192.0.2.0"},
      {"2001:db8:1:2:3:4:5:6/127", AF_INET6, 127, "2001:db8:1:2:3:4:5:6"},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_cidr_t c;
    memset(&c, 0xAA, sizeof(c));
    if (vq_cidr_parse(cases[i].s, &c) != 0)
      fail_msg("[%s] rejected", cases[i].s);
    if (c.family != cases[i].family || c.prefix != cases[i].prefix)
      fail_msg("[%s] family %d prefix %u, expected %d and %u", cases[i].s,
               c.family, c.prefix, cases[i].family, cases[i].prefix);
    unsigned char want[16] = {0};
    assert_int_equal(inet_pton(cases[i].family, cases[i].addr, want), 1);
    size_t n = cases[i].family == AF_INET ? 4 : 16;
    if (memcmp(c.addr, want, n) != 0)
      fail_msg("[%s] address bytes differ", cases[i].s);
  }
}

static void test_cidr_parse_invalid(void **state) {
  (void)state;
  static const char *const cases[] = {
      "10.0.0.0/33",
      "2001:db8::/129",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "10.0.0.0/+8",
      "10.0.0.0/ 8",
      "10.0.0.0 /8",
      "10.0.0.0/8x",
      "10.0.0.0/8/8",
      "10.0.0.0/99999999999999999999",
      "/24",
      "",
      "garbage",
      "garbage/8",
      "10.0.0/8",
      "256.0.0.0/8",
      "10.0.0.0.0/8",
      "2001:db8:::/32",
      "2001:db8::g/32",
      " 10.0.0.0/8",
      "10.0.0.0/8 ",
      "localhost",
      "0x0a000000/8",
      "2001:0db8:0000:0000:0000:0000:0000:0000:0000/64", /* too long */
      "1111111111111111111111111111111111111111111111111111111111111111",
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_cidr_t c;
    if (vq_cidr_parse(cases[i], &c) != -1)
      fail_msg("[%s] accepted (family %d prefix %u)", cases[i], c.family,
               c.prefix);
  }
  vq_cidr_t c;
  assert_int_equal(vq_cidr_parse(NULL, &c), -1);
}

/* ---- vq_cidr_match ----------------------------------------------------- */

static void test_cidr_match_table(void **state) {
  (void)state;
  static const struct {
    const char *net, *src;
    int expect;
  } cases[] = {
      {"192.0.2.0/24", "192.0.2.77", 1},
      {"192.0.2.0/24", "192.0.2.0", 1},
      {"192.0.2.0/24", "192.0.2.255", 1},
      {"192.0.2.0/24", "192.0.3.1", 0},
      {"192.0.2.0/24", "193.0.2.1", 0},
      {"10.0.0.0/8", "10.255.255.255", 1},
      {"10.0.0.0/8", "11.0.0.0", 0},
      {"192.0.2.128/25", "192.0.2.200", 1},
      {"192.0.2.128/25", "192.0.2.127", 0},
      {"192.0.2.0/31", "192.0.2.1", 1},
      {"192.0.2.0/31", "192.0.2.2", 0},
      {"0.0.0.0/0", "203.0.113.9", 1},
      {"192.0.2.5", "192.0.2.5", 1},
      {"192.0.2.5", "192.0.2.4", 0},
      {"2001:db8::/32", "2001:db8:ffff::1", 1},
      {"2001:db8::/32", "2001:db9::1", 0},
      {"2001:db8::/33", "2001:db8:7fff::1", 1},
      {"2001:db8::/33", "2001:db8:8000::1", 0},
      {"::/0", "::1", 1},
      {"::1", "::1", 1},
      {"::1", "::2", 0},
      /* an IPv4-mapped IPv6 source (dual-stack socket) vs IPv4 networks */
      {"192.0.2.0/24", "::ffff:192.0.2.9", 1},
      {"192.0.2.0/24", "::ffff:192.0.3.9", 0},
      {"192.0.2.5", "::ffff:192.0.2.5", 1},
      {"0.0.0.0/0", "::ffff:8.8.8.8", 1},
      /* not mapped, even though the last 32 bits are 192.0.2.9 */
      {"192.0.2.0/24", "2001:db8::c000:209", 0},
      {"192.0.2.0/24", "::192.0.2.9", 0},
      /* families do not mix otherwise */
      {"2001:db8::/32", "192.0.2.1", 0},
      {"10.0.0.0/8", "2001:db8::1", 0},
      {"::ffff:0:0/96", "::ffff:10.0.0.1", 1},
      {"::ffff:0:0/96", "10.0.0.1", 0},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    vq_cidr_t c;
    if (vq_cidr_parse(cases[i].net, &c) != 0)
      fail_msg("network %s does not parse", cases[i].net);
    struct sockaddr_storage ss;
    int got = vq_cidr_match(&c, mk_sa(cases[i].src, &ss));
    if (got != cases[i].expect)
      fail_msg("[%s vs %s] match = %d, expected %d", cases[i].net, cases[i].src,
               got, cases[i].expect);
  }
}

static void test_cidr_match_other_family_is_no_match(void **state) {
  (void)state;
  vq_cidr_t c;
  assert_int_equal(vq_cidr_parse("0.0.0.0/0", &c), 0);
  struct sockaddr_un un;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  assert_int_equal(vq_cidr_match(&c, (const struct sockaddr *)&un), 0);
  assert_int_equal(vq_cidr_parse("::/0", &c), 0);
  assert_int_equal(vq_cidr_match(&c, (const struct sockaddr *)&un), 0);
}

/* ---- vq_cidr_allowed --------------------------------------------------- */

static void test_cidr_allowed(void **state) {
  (void)state;
  static const char *const nets[] = {"10.0.0.0/8", "2001:db8::/32",
                                     "192.0.2.7"};
  vq_cidr_t list[COUNT(nets)];
  for (size_t i = 0; i < COUNT(nets); i++)
    assert_int_equal(vq_cidr_parse(nets[i], &list[i]), 0);
  static const struct {
    const char *src;
    int with_list, empty_list;
  } cases[] = {
      {"10.1.2.3", 1, 1},        {"2001:db8::1", 1, 1},
      {"192.0.2.7", 1, 1},       {"192.0.2.8", 0, 1},
      {"::ffff:10.9.9.9", 1, 1}, {"2001:db9::1", 0, 1},
      {"127.0.0.1", 0, 1},       {"::1", 0, 1},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    struct sockaddr_storage ss;
    const struct sockaddr *sa = mk_sa(cases[i].src, &ss);
    int got = vq_cidr_allowed(list, COUNT(list), sa);
    if (got != cases[i].with_list)
      fail_msg("[%s] allowed by the list = %d, expected %d", cases[i].src, got,
               cases[i].with_list);
    got = vq_cidr_allowed(NULL, 0, sa);
    if (got != cases[i].empty_list)
      fail_msg("[%s] allowed by an empty list = %d, expected %d", cases[i].src,
               got, cases[i].empty_list);
  }
}

/* ---- cookies ----------------------------------------------------------- */

static vq_message_t mk_msg(const char *site, size_t site_len,
                           const char *cookie, size_t cookie_len) {
  vq_message_t m;
  memset(&m, 0, sizeof(m));
  for (size_t i = 0; i < VQ_N_COUNT; i++)
    m.num[i] = NAN;
  m.type = VQ_MSG_FACTORY;
  m.str[VQ_S_SITE] = (vq_str_t){site, site_len};
  m.str[VQ_S_SPACE] = (vq_str_t){"sp", 2};
  m.str[VQ_S_FACTORY] = (vq_str_t){"f", 1};
  m.str[VQ_S_COOKIE] = (vq_str_t){cookie, cookie_len};
  return m;
}

static void test_cookie_check_table(void **state) {
  (void)state;
  static const vq_site_cookie_t list[] = {
      {"UKI-EXAMPLE", "s3cret-cookie"},
      {"other.example.ac.uk", "x"},
  };
  static const struct {
    const char *name, *site;
    size_t site_len;
    const char *cookie; /* NULL: absent */
    size_t cookie_len;
    vq_reason_t expect;
  } cases[] = {
#define L(s) s, sizeof(s) - 1
      {"site without a cookie, no cookie sent", L("UKI-FREE"), NULL, 0, VQ_OK},
      {"site without a cookie, some cookie sent", L("UKI-FREE"), L("0"), VQ_OK},
      {"right cookie", L("UKI-EXAMPLE"), L("s3cret-cookie"), VQ_OK},
      {"wrong cookie of the same length", L("UKI-EXAMPLE"), L("s3cret-cookiE"),
       VQ_REJ_COOKIE},
      {"Vac's default cookie 0", L("UKI-EXAMPLE"), L("0"), VQ_REJ_COOKIE},
      {"absent cookie", L("UKI-EXAMPLE"), NULL, 0, VQ_REJ_COOKIE},
      {"empty cookie", L("UKI-EXAMPLE"), L(""), VQ_REJ_COOKIE},
      {"prefix of the right cookie", L("UKI-EXAMPLE"), L("s3cret-cooki"),
       VQ_REJ_COOKIE},
      {"one-byte prefix of the right cookie", L("UKI-EXAMPLE"), L("s"),
       VQ_REJ_COOKIE},
      {"right cookie plus a byte", L("UKI-EXAMPLE"), L("s3cret-cookie!"),
       VQ_REJ_COOKIE},
      {"right cookie plus an escaped NUL", L("UKI-EXAMPLE"),
       L("s3cret-cookie\0"), VQ_REJ_COOKIE},
      {"case differs", L("UKI-EXAMPLE"), L("S3CRET-COOKIE"), VQ_REJ_COOKIE},
      {"second site, right cookie", L("other.example.ac.uk"), L("x"), VQ_OK},
      {"second site, first site's cookie", L("other.example.ac.uk"),
       L("s3cret-cookie"), VQ_REJ_COOKIE},
      {"site name is a prefix of a configured one", L("UKI-EXAMPL"), NULL, 0,
       VQ_OK},
      {"site name extends a configured one", L("UKI-EXAMPLE2"), NULL, 0, VQ_OK},
      {"site name differs in case (exact match only)", L("uki-example"), NULL,
       0, VQ_OK},
#undef L
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    /* exactly-sized, unterminated copies: only len bytes may be read */
    char *site = malloc(cases[i].site_len);
    char *cookie = cases[i].cookie
                       ? malloc(cases[i].cookie_len ? cases[i].cookie_len : 1)
                       : NULL;
    assert_non_null(site);
    memcpy(site, cases[i].site, cases[i].site_len);
    if (cookie != NULL)
      memcpy(cookie, cases[i].cookie, cases[i].cookie_len);
    vq_message_t m =
        mk_msg(site, cases[i].site_len, cookie, cases[i].cookie_len);
    vq_reason_t got = vq_cookie_check(list, COUNT(list), &m);
    free(site);
    free(cookie);
    if (got != cases[i].expect)
      fail_msg("[%s] %s, expected %s", cases[i].name, vq_reason_name(got),
               vq_reason_name(cases[i].expect));
  }
}

/* Only the slice is the cookie: bytes after its length do not count. */
static void test_cookie_check_respects_slice_length(void **state) {
  (void)state;
  static const vq_site_cookie_t list[] = {{"S", "abc"}};
  vq_message_t m = mk_msg("S", 1, "abcdef", 3);
  assert_int_equal(vq_cookie_check(list, 1, &m), VQ_OK);
  m = mk_msg("S", 1, "abcdef", 2);
  assert_int_equal(vq_cookie_check(list, 1, &m), VQ_REJ_COOKIE);
  m = mk_msg("SITE", 1, "abc", 3); /* site slice "S" */
  assert_int_equal(vq_cookie_check(list, 1, &m), VQ_OK);
  m = mk_msg("SITE", 1, "abd", 3);
  assert_int_equal(vq_cookie_check(list, 1, &m), VQ_REJ_COOKIE);
}

static void test_cookie_check_without_configured_cookies(void **state) {
  (void)state;
  vq_message_t m = mk_msg("UKI-EXAMPLE", 11, NULL, 0);
  assert_int_equal(vq_cookie_check(NULL, 0, &m), VQ_OK);
}

/* The cookie as parsed from a real datagram. */
static void test_cookie_check_parsed_message(void **state) {
  (void)state;
  static const char json[] =
      "{\"message_type\": \"factory_status\", \"site\": \"UKI-EXAMPLE\", "
      "\"space\": \"sp\", \"factory\": \"f\", \"cookie\": \"s3cret\"}";
  static const vq_site_cookie_t right[] = {{"UKI-EXAMPLE", "s3cret"}};
  static const vq_site_cookie_t wrong[] = {{"UKI-EXAMPLE", "s3cret2"}};
  vq_parser_t *p = vq_parser_create();
  vq_message_t m;
  assert_int_equal(vq_parse(p, json, sizeof(json) - 1, &m), VQ_OK);
  vq_reason_t r1 = vq_cookie_check(right, 1, &m);
  vq_reason_t r2 = vq_cookie_check(wrong, 1, &m);
  vq_message_clear(&m);
  vq_parser_destroy(p);
  assert_int_equal(r1, VQ_OK);
  assert_int_equal(r2, VQ_REJ_COOKIE);
}

/*
 * SiteCookie protects the host a site's values are stored under: a sender
 * without the cookie cannot write into the series of "pp.example.ac.uk"
 * (host pp_example_ac_uk) by claiming a name that sanitises to the same
 * host ("pp_example_ac_uk", "pp/example/ac/uk", "pp\0example.ac.uk", ...).
 */
static void test_cookie_protects_the_sanitised_host(void **state) {
  (void)state;
  static const vq_site_cookie_t list[] = {{"pp.example.ac.uk", "s3cret"}};
  static const struct {
    const char *site;
    size_t len;
  } spoofs[] = {
#define L(s) {s, sizeof(s) - 1}
      L("pp.example.ac.uk"), /* the configured name itself: rejected today */
      L("pp_example_ac_uk"),  L("pp/example/ac/uk"), L("pp example ac uk"),
      L("pp\0example.ac.uk"), L("pp.example.ac;uk"),
#undef L
  };
  for (size_t i = 0; i < COUNT(spoofs); i++) {
    vq_message_t m = mk_msg(spoofs[i].site, spoofs[i].len, NULL, 0);
    vq_ident_t id;
    assert_int_equal(vq_ident_from_message(&m, &id), VQ_OK);
    /* precondition: the message would land on the protected host */
    assert_string_equal(id.host, "pp_example_ac_uk");
    vq_reason_t got = vq_cookie_check(list, COUNT(list), &m);
    if (got != VQ_REJ_COOKIE)
      fail_msg("site \"%.*s\" without the cookie writes to host %s: %s",
               (int)spoofs[i].len, spoofs[i].site, id.host,
               vq_reason_name(got));
  }
}

/* ---- vq_addr_format ---------------------------------------------------- */

static void test_addr_format(void **state) {
  (void)state;
  static const char *const addrs[] = {"192.0.2.1", "2001:db8::1",
                                      "::ffff:192.0.2.1", "::"};
  for (size_t i = 0; i < COUNT(addrs); i++) {
    struct sockaddr_storage ss;
    char buf[64];
    assert_ptr_equal(vq_addr_format(mk_sa(addrs[i], &ss), buf, sizeof(buf)),
                     buf);
    assert_string_equal(buf, addrs[i]);
  }
  struct sockaddr_un un;
  memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  char buf[64];
  assert_string_equal(vq_addr_format((struct sockaddr *)&un, buf, sizeof(buf)),
                      "(unknown)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cidr_parse_valid),
      cmocka_unit_test(test_cidr_parse_invalid),
      cmocka_unit_test(test_cidr_match_table),
      cmocka_unit_test(test_cidr_match_other_family_is_no_match),
      cmocka_unit_test(test_cidr_allowed),
      cmocka_unit_test(test_cookie_check_table),
      cmocka_unit_test(test_cookie_check_respects_slice_length),
      cmocka_unit_test(test_cookie_check_without_configured_cookies),
      cmocka_unit_test(test_cookie_check_parsed_message),
      cmocka_unit_test(test_cookie_protects_the_sanitised_host),
      cmocka_unit_test(test_addr_format),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
