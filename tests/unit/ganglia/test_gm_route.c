/* SPDX-License-Identifier: MIT */
/*
 * test_gm_route.c: unit tests for src/ganglia/gm_route.c: the site-to-channel
 * routing table (sanitised names, default route 0, duplicates), the
 * GmondConf path check, the generated gmond.conf for explicit Host/Port
 * channels, and the messages for the validation child's exit status.
 */
#include "ganglia/gm_route.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/cm_test.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fails unless s contains sub. */
#define CHECK_HAS(ctx, s, sub)                                                 \
  do {                                                                         \
    if (strstr((s), (sub)) == NULL)                                            \
      fail_msg("[%s] \"%s\" lacks \"%s\"", (ctx), (s), (sub));                 \
  } while (0)

static void test_routes(void **state) {
  (void)state;
  gm_routes_t *r = gm_routes_create();
  assert_non_null(r);
  char err[256];
  CHECK_INT("add", gm_routes_add(r, "UKI-SIM-SITE-1", 1, err, sizeof(err)), 0);
  CHECK_INT("add fqdn",
            gm_routes_add(r, "sim2.example.ac.uk", 2, err, sizeof(err)), 0);
  CHECK_INT("add sanitised", gm_routes_add(r, "S3", 1, err, sizeof(err)), 0);
  static const struct {
    const char *host;
    size_t route;
  } lookups[] = {
      {"UKI-SIM-SITE-1", 1},
      {"sim2_example_ac_uk", 2},
      {"S3", 1},
      {"sim2.example.ac.uk", 0}, /* a value list's host is sanitised */
      {"uki-sim-site-1", 0},
      {"other", 0},
      {"", 0},
  };
  for (size_t i = 0; i < COUNT(lookups); i++)
    CHECK_INT(lookups[i].host, gm_routes_lookup(r, lookups[i].host),
              lookups[i].route);
  CHECK_INT("twice",
            gm_routes_add(r, "sim2_example_ac_uk", 3, err, sizeof(err)), -1);
  CHECK_HAS("twice", err, "routed twice");
  CHECK_INT("empty", gm_routes_add(r, "", 3, err, sizeof(err)), -1);
  CHECK_HAS("empty", err, "empty or too long");
  char big[200];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  CHECK_INT("too long", gm_routes_add(r, big, 3, err, sizeof(err)), -1);
  gm_routes_destroy(r);
  gm_routes_destroy(NULL);
}

static void test_check_path(void **state) {
  (void)state;
  char dir[] = "/tmp/test_gm_route.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char file[256], unreadable[256], err[256];
  snprintf(file, sizeof(file), "%s/gmond.conf", dir);
  snprintf(unreadable, sizeof(unreadable), "%s/secret.conf", dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fclose(f);
  f = fopen(unreadable, "w");
  assert_non_null(f);
  fclose(f);
  chmod(unreadable, 0);
  CHECK_INT("file", gm_conf_check_path(file, err, sizeof(err)), 0);
  CHECK_INT("missing",
            gm_conf_check_path("/nonexistent/g.conf", err, sizeof(err)), -1);
  CHECK_HAS("missing", err, "GmondConf \"/nonexistent/g.conf\"");
  CHECK_HAS("missing", err, "No such file");
  CHECK_INT("dir", gm_conf_check_path(dir, err, sizeof(err)), -1);
  CHECK_HAS("dir", err, "not a regular file");
  CHECK_INT("empty", gm_conf_check_path("", err, sizeof(err)), -1);
  CHECK_INT("NULL", gm_conf_check_path(NULL, err, sizeof(err)), -1);
  /* Root reads anything: as root the check runs in a child that has
   * dropped to nobody (CI runs as root), so it never silently passes. */
  chmod(dir, 0755);
  if (geteuid() != 0) {
    CHECK_INT("unreadable", gm_conf_check_path(unreadable, err, sizeof(err)),
              -1);
    CHECK_HAS("unreadable", err, "Permission denied");
  } else {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      int ok = setgid(65534) == 0 && setuid(65534) == 0 &&
               gm_conf_check_path(unreadable, err, sizeof(err)) == -1 &&
               strstr(err, "Permission denied") != NULL;
      _exit(ok ? 0 : 1);
    }
    int status = -1;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    CHECK_INT("unreadable, as nobody",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
  }
  unlink(file);
  unlink(unreadable);
  rmdir(dir);
}

static void test_channels_text(void **state) {
  (void)state;
  char buf[512], err[128];
  const char *two[] = {"127.0.0.1", "gmond.example.org"};
  int n =
      gm_conf_channels_text(buf, sizeof(buf), two, 2, 8649, err, sizeof(err));
  CHECK_INT("two", n, (int)strlen(buf));
  CHECK_CSTR("two", buf,
             "udp_send_channel {\n  host = \"127.0.0.1\"\n  port = 8649\n}\n"
             "udp_send_channel {\n  host = \"gmond.example.org\"\n"
             "  port = 8649\n}\n");
  static const struct {
    const char *ctx, *host;
    int port;
    size_t size;
    const char *err;
  } bad[] = {
      {"quote", "a\"b", 8649, 512, "not a host name"},
      {"space", "a b", 8649, 512, "not a host name"},
      {"brace", "a}", 8649, 512, "not a host name"},
      {"empty", "", 8649, 512, "not a host name"},
      {"port 0", "h", 0, 512, "not in 1..65535"},
      {"port high", "h", 65536, 512, "not in 1..65535"},
      {"small buffer", "h", 8649, 20, "too many or too long"},
  };
  for (size_t i = 0; i < COUNT(bad); i++) {
    const char *hosts[] = {bad[i].host};
    err[0] = '\0';
    CHECK_INT(bad[i].ctx,
              gm_conf_channels_text(buf, bad[i].size, hosts, 1, bad[i].port,
                                    err, sizeof(err)),
              -1);
    CHECK_HAS(bad[i].ctx, err, bad[i].err);
  }
  CHECK_INT(
      "none",
      gm_conf_channels_text(buf, sizeof(buf), two, 0, 8649, err, sizeof(err)),
      -1);
  CHECK_HAS("none", err, "no host");
}

/* Returns the wait status of a child that exits with code (or dies of
 * signal sig when sig > 0). */
static int status_of(int code, int sig) {
  pid_t pid = fork();
  if (pid == 0) {
    if (sig > 0)
      raise(sig);
    _exit(code);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

static void test_child_message(void **state) {
  (void)state;
  static const struct {
    const char *ctx;
    int code, sig;
    const char *output;
    int rc;
    const char *has[2];
  } cases[] = {
      {"ok", GM_CONF_CHILD_OK, 0, "", 0, {"usable", "\"/g.conf\""}},
      {"parse error",
       1,
       0,
       "Parse error for '/g.conf'\n",
       -1,
       {"rejected by libganglia", ": Parse error for '/g.conf'"}},
      {"no channel",
       GM_CONF_CHILD_NO_CHANNEL,
       0,
       NULL,
       -1,
       {"no udp_send_channel", "GmondConf"}},
      {"pool", GM_CONF_CHILD_NO_POOL, 0, NULL, -1, {"APR pool", "GmondConf"}},
      {"other", 7, 0, "x\ny\n", -1, {"could not be tried", ": x y"}},
      {"crash", 0, SIGKILL, "\x01oops", -1, {"died (signal 9)", "?oops"}},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char msg[256];
    int st = status_of(cases[i].code, cases[i].sig);
    CHECK_INT(
        cases[i].ctx,
        gm_conf_child_message(msg, sizeof(msg), "/g.conf", st, cases[i].output),
        cases[i].rc);
    for (int k = 0; k < 2; k++)
      CHECK_HAS(cases[i].ctx, msg, cases[i].has[k]);
    if (msg[strlen(msg) - 1] == ' ')
      fail_msg("[%s] trailing space in \"%s\"", cases[i].ctx, msg);
  }
}

static void test_child_status(void **state) {
  (void)state;
  static const struct {
    const char *ctx;
    int waited, wstatus;
    const char *output, *left;
    int code; /* expected exit code, or -1: signalled */
  } cases[] = {
      {"waited ok", 1, 0, GM_CONF_CHILD_MARK, "", 0},
      {"waited exit 1", 1, 1 << 8, "Parse error\n", "Parse error\n", 1},
      {"waited signal", 1, 9, "x", "x", -1},
      {"not waited, mark", 0, 0, "noise\n" GM_CONF_CHILD_MARK, "noise\n", 0},
      {"not waited, no mark", 0, 0, "Parse error for 'x'\n",
       "Parse error for 'x'\n", 1},
      {"not waited, empty", 0, 0, "", "", 1},
  };
  for (size_t i = 0; i < COUNT(cases); i++) {
    char out[128];
    snprintf(out, sizeof(out), "%s", cases[i].output);
    int st = gm_conf_child_status(cases[i].waited, cases[i].wstatus, out);
    CHECK_CSTR(cases[i].ctx, out, cases[i].left);
    if (cases[i].code < 0)
      CHECK_INT(cases[i].ctx, WIFSIGNALED(st), 1);
    else {
      CHECK_INT(cases[i].ctx, WIFEXITED(st), 1);
      CHECK_INT(cases[i].ctx, WEXITSTATUS(st), cases[i].code);
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_routes),
      cmocka_unit_test(test_check_path),
      cmocka_unit_test(test_channels_text),
      cmocka_unit_test(test_child_message),
      cmocka_unit_test(test_child_status),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
