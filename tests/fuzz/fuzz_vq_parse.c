/* SPDX-License-Identifier: MIT */
/*
 * fuzz_vq_parse.c: libFuzzer target for the datagram path of the worker:
 * parse, map to a sample or a finished-machine record, site cookie check,
 * and the fleet registry. Build with `make fuzz` (clang), run with
 * `tests/fuzz/fuzz_vq_parse -max_total_time=60 tests/fixtures/examples`.
 */
#include "vacquery/vq_fleet.h"
#include "vacquery/vq_message.h"
#include "vacquery/vq_policy.h"
#include "vacquery/vq_sample.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* vq_field_cb that touches every byte of a field, so ASan sees overreads. */
static void fz_field(void *ctx, const char *key, vq_value_kind_t kind,
                     const char *s, double d) {
  size_t *sum = ctx;
  (void)d;
  for (const char *p = key; *p; p++)
    *sum += (unsigned char)*p;
  if (kind == VQ_V_STRING)
    for (const char *p = s; *p; p++)
      *sum += (unsigned char)*p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static vq_parser_t *parser;
  static vq_fleet_t *fleet;
  static size_t calls;
  static const vq_site_cookie_t cookies[] = {{"UKI-NORTHGRID-MAN-HEP", "0"}};
  if (parser == NULL)
    parser = vq_parser_create();
  if (fleet == NULL || ++calls % 10000 == 0) {
    vq_fleet_destroy(fleet); /* keep the registry's memory bounded */
    fleet = vq_fleet_create();
  }
  /* A copy of exactly size bytes: no NUL after it. */
  char *buf = malloc(size > 0 ? size : 1);
  if (size > 0)
    memcpy(buf, data, size);
  vq_message_t m;
  if (vq_parse(parser, buf, size, &m) == VQ_OK) {
    size_t sum = 0;
    vq_message_foreach_field(&m, fz_field, &sum);
    (void)vq_cookie_check(cookies, 1, &m);
    vq_sample_t s;
    vq_finished_t fin;
    vq_reason_t r = m.type == VQ_MSG_MACHINE
                        ? vq_finished_from_message(&m, 600, &s.id, &fin)
                        : vq_sample_from_message(&m, &s);
    if (r == VQ_OK) {
      vq_fleet_seen(fleet, &s.id, &m, (double)calls);
      if (m.type == VQ_MSG_MACHINE)
        vq_fleet_add_finished(fleet, &s.id, &fin);
    }
    vq_message_clear(&m);
  }
  free(buf);
  return 0;
}
