/* SPDX-License-Identifier: MIT */
/*
 * test_gm_spoof.c: unit tests for src/ganglia/gm_spoof.c: SpoofNetwork parsing,
 * stable synthetic addresses inside the network (never its network or
 * broadcast address), "ip:hostname" strings, collisions resolved to the
 * next free address, metadata windows and host expiry.
 */
#include "ganglia/gm_spoof.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

static void test_net_parse(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int rc;
    uint32_t base;
    unsigned prefix;
    const char *err; /* a substring of the reason */
  } cases[] = {
      {"198.18.0.0/15", 0, 0xc6120000u, 15, NULL},
      {"10.254.0.0/16", 0, 0x0afe0000u, 16, NULL},
      {"10.0.0.0/8", 0, 0x0a000000u, 8, NULL},
      {"192.168.7.4/30", 0, 0xc0a80704u, 30, NULL},
      {"10.0.0.0/7", -1, 0, 0, "8..30"},
      {"10.0.0.0/31", -1, 0, 0, "8..30"},
      {"10.0.0.1/16", -1, 0, 0, "host bits"},
      {"10.0.300.0/16", -1, 0, 0, "above 255"},
      {"10.0.0.0", -1, 0, 0, "a.b.c.d/len"},
      {"10.0.0.0/16x", -1, 0, 0, "a.b.c.d/len"},
      {"", -1, 0, 0, "a.b.c.d/len"},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    gm_net_t net = {0, 0};
    char err[128] = "";
    CHECK_INT(cases[i].s, gm_net_parse(cases[i].s, &net, err, sizeof(err)),
              cases[i].rc);
    if (cases[i].rc == 0) {
      CHECK_INT(cases[i].s, net.base, cases[i].base);
      CHECK_INT(cases[i].s, net.prefix, cases[i].prefix);
    } else if (strstr(err, cases[i].err) == NULL) {
      fail_msg("[%s] reason \"%s\" lacks \"%s\"", cases[i].s, err,
               cases[i].err);
    }
  }
}

static void test_addresses(void **state) {
  (void)state;
  gm_net_t net;
  char err[64];
  assert_int_equal(gm_net_parse("192.168.7.4/30", &net, err, sizeof(err)), 0);
  /* A /30 has two usable addresses: .5 and .6, whatever the probe. */
  for (uint32_t p = 0; p < 10; p++) {
    uint32_t a = gm_net_address(&net, "x", p);
    if (a != 0xc0a80705u && a != 0xc0a80706u)
      fail_msg("probe %u gave %08x", p, a);
    CHECK_INT("probe alternates", gm_net_address(&net, "x", p + 1) != a, 1);
  }
  assert_int_equal(gm_net_parse("10.254.0.0/16", &net, err, sizeof(err)), 0);
  uint32_t a1 = gm_net_address(&net, "sp.factory1", 0);
  CHECK_INT("stable", gm_net_address(&net, "sp.factory1", 0), a1);
  CHECK_INT("in network", a1 >> 16, 0x0afe);
  CHECK_INT("differs by name", gm_net_address(&net, "sp.factory2", 0) != a1, 1);
  char s[64];
  CHECK_INT("spoof", gm_spoof_string(s, sizeof(s), 0x0afe0102u, "f.x"), 14);
  CHECK_CSTR("spoof", s, "10.254.1.2:f.x");
  CHECK_INT("spoof too long", gm_spoof_string(s, 10, 0x0afe0102u, "f.x"), -1);
}

/* Touches name with no known address and no space. Returns the host. */
static const gm_host_t *touch(gm_hosts_t *h, const char *name, size_t route,
                              double now, double interval, double period,
                              int *meta) {
  gm_sighting_t s = {name, 0, NULL, route, interval};
  return gm_hosts_touch(h, &s, now, period, meta);
}

static void test_registry(void **state) {
  (void)state;
  gm_net_t net;
  char err[64];
  assert_int_equal(gm_net_parse("192.168.7.4/30", &net, err, sizeof(err)), 0);
  gm_hosts_t *h = gm_hosts_create(&net);
  assert_non_null(h);
  int meta = -1;
  const gm_host_t *a = touch(h, "a", 1, 100, 60, 300, &meta);
  assert_non_null(a);
  CHECK_INT("first sight: metadata", meta, 1);
  CHECK_INT("route", a->route, 1);
  uint32_t addr_a = a->addr;
  char want[64];
  gm_spoof_string(want, sizeof(want), addr_a, "a");
  CHECK_CSTR("spoof", a->spoof, want);
  /* Within the window (interval 60 after first sight): metadata again. */
  a = touch(h, "a", 2, 150, 60, 300, &meta);
  CHECK_INT("in window", meta, 1);
  CHECK_INT("route follows", a->route, 2);
  a = touch(h, "a", 2, 200, 60, 300, &meta);
  CHECK_INT("after window", meta, 0);
  a = touch(h, "a", 2, 400, 60, 300, &meta);
  CHECK_INT("period over: window reopens", meta, 1);
  a = touch(h, "a", 2, 461, 60, 300, &meta);
  CHECK_INT("closed again", meta, 0);
  a = touch(h, "a", 2, 462, 60, 0, &meta);
  CHECK_INT("period 0: always", meta, 1);
  /* Collision: the /30 holds two hosts; the second gets the other one. */
  const gm_host_t *b = touch(h, "b", 0, 470, 60, 300, &meta);
  assert_non_null(b);
  CHECK_INT("distinct addresses", b->addr != addr_a, 1);
  CHECK_INT("count", gm_hosts_count(h), 2);
  CHECK_INT("full", touch(h, "c", 0, 470, 60, 300, &meta) == NULL, 1);
  /* Expiry: "a" last seen at 462, "b" at 470. */
  CHECK_INT("nothing expired", gm_hosts_expire(h, 500, 100), 0);
  CHECK_INT("a expired", gm_hosts_expire(h, 565, 100), 1);
  CHECK_INT("count after", gm_hosts_count(h), 1);
  size_t iter = 0;
  const gm_host_t *left = gm_hosts_next(h, &iter);
  assert_non_null(left);
  CHECK_CSTR("survivor", left->name, "b");
  CHECK_INT("end", gm_hosts_next(h, &iter) == NULL, 1);
  /* The freed address goes to a new host. */
  const gm_host_t *c = touch(h, "c", 0, 570, 60, 300, &meta);
  assert_non_null(c);
  CHECK_INT("reused", c->addr, addr_a);
  char big[GM_NAME_MAX + 10];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  gm_hosts_expire(h, 10000, 1);
  CHECK_INT("name too long", touch(h, big, 0, 10000, 60, 300, &meta) == NULL,
            1);
  gm_hosts_destroy(h);
  gm_hosts_destroy(NULL);
}

static void test_many_hosts(void **state) {
  (void)state;
  /* 2000 factories in a /16: collisions happen and all stay distinct. */
  gm_net_t net;
  char err[64];
  assert_int_equal(gm_net_parse("10.254.0.0/16", &net, err, sizeof(err)), 0);
  gm_hosts_t *h = gm_hosts_create(&net);
  assert_non_null(h);
  int meta, collided = 0;
  uint32_t *seen = calloc(65536, sizeof(*seen));
  assert_non_null(seen);
  for (int i = 0; i < 2000; i++) {
    char name[32];
    snprintf(name, sizeof(name), "space%d.factory%d", i % 7, i);
    const gm_host_t *e = touch(h, name, 0, 1, 60, 300, &meta);
    assert_non_null(e);
    CHECK_INT(name, seen[e->addr & 0xffff]++, 0);
    CHECK_INT(name, e->addr >> 16, 0x0afe);
    collided += e->collided;
  }
  CHECK_INT("some collided", collided > 0, 1);
  free(seen);
  gm_hosts_destroy(h);
}

/* Hosts seen with their own address take it; a taken or late address is
 * handled without two hosts sharing one. */
static void test_real_addresses(void **state) {
  (void)state;
  gm_net_t net;
  char err[64];
  assert_int_equal(gm_net_parse("198.18.0.0/15", &net, err, sizeof(err)), 0);
  gm_hosts_t *h = gm_hosts_create(&net);
  assert_non_null(h);
  int meta;
  uint32_t real = gm_addr_parse("192.0.2.10");
  CHECK_INT("parse", real, 0xc000020au);
  gm_sighting_t s = {"vac101.example.ac.uk", real, "vac01.example.ac.uk", 0,
                     60};
  const gm_host_t *a = gm_hosts_touch(h, &s, 1, 300, &meta);
  assert_non_null(a);
  CHECK_INT("own address", a->addr, 0xc000020au);
  CHECK_INT("real", a->real, 1);
  CHECK_CSTR("spoof", a->spoof, "192.0.2.10:vac101.example.ac.uk");
  CHECK_CSTR("first space", a->space, "vac01.example.ac.uk");
  /* Another space of the same factory: same host, first space kept. */
  s.space = "cloud_b";
  CHECK_INT("one host", gm_hosts_touch(h, &s, 2, 300, &meta) == a, 1);
  CHECK_CSTR("space kept", a->space, "vac01.example.ac.uk");
  CHECK_INT("count", gm_hosts_count(h), 1);
  /* A second name from the same address gets a synthetic one. */
  gm_sighting_t t = {"vac102.example.ac.uk", real, NULL, 0, 60};
  const gm_host_t *b = gm_hosts_touch(h, &t, 3, 300, &meta);
  assert_non_null(b);
  CHECK_INT("synthetic", b->real, 0);
  CHECK_INT("in SpoofNetwork", b->addr >> 17, 0xc612u >> 1);
  /* A host first seen without an address moves once one is known. */
  gm_sighting_t u = {"vac103.example.ac.uk", 0, NULL, 0, 60};
  const gm_host_t *c = gm_hosts_touch(h, &u, 4, 300, &meta);
  assert_non_null(c);
  CHECK_INT("synthetic first", c->real, 0);
  u.addr = gm_addr_parse("192.0.2.11");
  c = gm_hosts_touch(h, &u, 5, 300, &meta);
  CHECK_INT("moved", c->addr, 0xc000020bu);
  CHECK_CSTR("moved spoof", c->spoof, "192.0.2.11:vac103.example.ac.uk");
  CHECK_INT("metadata again at once", meta, 1);
  /* Bad addresses read as unknown. */
  static const char *const bad[] = {"",        "192.0.2",    "192.0.2.256",
                                    "::1",     "192.0.2.1x", "1.2.3.4.5",
                                    "a.b.c.d", NULL};
  for (size_t i = 0; i < COUNT(bad); i++)
    CHECK_INT(bad[i] ? bad[i] : "NULL", gm_addr_parse(bad[i]), 0);
  /* Aliases: a plugin instance remembered for its host. */
  CHECK_INT("alias", gm_hosts_alias(h, "sp_a.vac101", "vac101.example.ac.uk"),
            0);
  CHECK_CSTR("alias", gm_hosts_lookup_alias(h, "sp_a.vac101"),
             "vac101.example.ac.uk");
  CHECK_INT("unknown alias", gm_hosts_lookup_alias(h, "sp_a.x") == NULL, 1);
  CHECK_INT("alias moves",
            gm_hosts_alias(h, "sp_a.vac101", "vac102.example.ac.uk"), 0);
  CHECK_CSTR("alias moved", gm_hosts_lookup_alias(h, "sp_a.vac101"),
             "vac102.example.ac.uk");
  CHECK_INT("empty alias", gm_hosts_alias(h, "", "x"), -1);
  /* After expiry and rebuild every host keeps its own address. */
  CHECK_INT("nothing expired", gm_hosts_expire(h, 6, 100), 0);
  CHECK_CSTR("alias kept", gm_hosts_lookup_alias(h, "sp_a.vac101"),
             "vac102.example.ac.uk");
  CHECK_INT("expire all", gm_hosts_expire(h, 1000, 100), 3);
  CHECK_INT("alias gone with its host",
            gm_hosts_lookup_alias(h, "sp_a.vac101") == NULL, 1);
  gm_hosts_destroy(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_net_parse),      cmocka_unit_test(test_addresses),
      cmocka_unit_test(test_registry),       cmocka_unit_test(test_many_hosts),
      cmocka_unit_test(test_real_addresses),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
