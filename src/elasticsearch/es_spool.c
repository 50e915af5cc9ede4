/* SPDX-License-Identifier: MIT */
/*
 * es_spool.c: append-only segment spool (see es_spool.h).
 */
#include "es_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  uint64_t seq;
  uint64_t bytes;
} es_seg_t;

struct es_spool {
  char *dir;
  uint64_t max_bytes, segment_bytes, total;
  es_seg_t *segs; /* oldest first */
  size_t nsegs, cap;
  int fd;            /* the newest segment, open for appends, or -1 */
  uint64_t next_seq; /* sequence number of the next new segment */
};

/* Writes the path of segment seq into buf. */
static void es_seg_path(const es_spool_t *sp, uint64_t seq, char *buf,
                        size_t size) {
  snprintf(buf, size, "%s/%020" PRIu64 ".ndjson", sp->dir, seq);
}

/* Returns 1 and sets *seq when name is a segment file name. */
static int es_seg_name(const char *name, uint64_t *seq) {
  if (strlen(name) != 27 || strcmp(name + 20, ".ndjson") != 0)
    return 0;
  uint64_t v = 0;
  for (int i = 0; i < 20; i++) {
    if (name[i] < '0' || name[i] > '9')
      return 0;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *seq = v;
  return 1;
}

/* fsyncs the directory so creations and deletions are durable. */
static void es_sync_dir(const es_spool_t *sp) {
  int fd = open(sp->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* Creates dir and its missing parents. Returns 0 or -errno. */
static int es_mkdirs(const char *dir) {
  char *p = strdup(dir);
  if (p == NULL)
    return -ENOMEM;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/')
      continue;
    *s = '\0';
    if (mkdir(p, 0750) != 0 && errno != EEXIST) {
      int e = errno;
      free(p);
      return -e;
    }
    *s = '/';
  }
  int rc = (mkdir(p, 0750) != 0 && errno != EEXIST) ? -errno : 0;
  free(p);
  return rc;
}

static int es_seg_cmp(const void *a, const void *b) {
  uint64_t x = ((const es_seg_t *)a)->seq, y = ((const es_seg_t *)b)->seq;
  return x < y ? -1 : x > y;
}

/* Adds a segment record at the end. Returns 0 or -ENOMEM. */
static int es_seg_push(es_spool_t *sp, uint64_t seq, uint64_t bytes) {
  if (sp->nsegs == sp->cap) {
    size_t cap = sp->cap ? 2 * sp->cap : 16;
    es_seg_t *s = realloc(sp->segs, cap * sizeof(*s));
    if (s == NULL)
      return -ENOMEM;
    sp->segs = s;
    sp->cap = cap;
  }
  sp->segs[sp->nsegs].seq = seq;
  sp->segs[sp->nsegs].bytes = bytes;
  sp->nsegs++;
  sp->total += bytes;
  return 0;
}

/* Finds the existing segments. Returns 0 or -errno. */
static int es_spool_scan(es_spool_t *sp) {
  DIR *d = opendir(sp->dir);
  if (d == NULL)
    return -errno;
  struct dirent *de;
  int rc = 0;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    uint64_t seq;
    struct stat st;
    char path[4096];
    if (!es_seg_name(de->d_name, &seq))
      continue;
    es_seg_path(sp, seq, path, sizeof(path));
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
      continue;
    rc = es_seg_push(sp, seq, (uint64_t)st.st_size);
    if (seq >= sp->next_seq)
      sp->next_seq = seq + 1;
  }
  closedir(d);
  if (sp->nsegs > 1)
    qsort(sp->segs, sp->nsegs, sizeof(*sp->segs), es_seg_cmp);
  return rc;
}

/* Checks that a file can be created in the directory. Returns 0/-errno. */
static int es_probe(const es_spool_t *sp) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/.probe-%ld", sp->dir, (long)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0)
    return -errno;
  int rc = write(fd, "x", 1) == 1 ? 0 : -EIO;
  close(fd);
  unlink(path);
  return rc;
}

es_spool_t *es_spool_open(const char *dir, uint64_t max_bytes,
                          uint64_t segment_bytes, char *err, size_t errlen) {
  if (dir == NULL || dir[0] == '\0' || max_bytes == 0) {
    snprintf(err, errlen, "empty spool directory or zero size");
    return NULL;
  }
  es_spool_t *sp = calloc(1, sizeof(*sp));
  if (sp == NULL || (sp->dir = strdup(dir)) == NULL) {
    free(sp);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  sp->fd = -1;
  sp->max_bytes = max_bytes;
  sp->segment_bytes = segment_bytes ? segment_bytes : 1;
  int rc = es_mkdirs(dir);
  const char *what = "cannot create";
  if (rc == 0) {
    what = "cannot write into";
    rc = es_probe(sp);
  }
  if (rc == 0) {
    what = "cannot read";
    rc = es_spool_scan(sp);
  }
  if (rc != 0) {
    snprintf(err, errlen, "%s spool directory \"%s\": %s", what, dir,
             strerror(-rc));
    es_spool_close(sp);
    return NULL;
  }
  return sp;
}

/* Counts the complete documents (line pairs) in segment seq. */
static uint64_t es_seg_docs(const es_spool_t *sp, uint64_t seq) {
  char path[4096], buf[65536];
  es_seg_path(sp, seq, path, sizeof(path));
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  uint64_t lines = 0;
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0)
    for (ssize_t i = 0; i < n; i++)
      lines += buf[i] == '\n';
  close(fd);
  return lines / 2;
}

/* Deletes the record at index i (and its file when unlink_it). */
static void es_seg_drop(es_spool_t *sp, size_t i, int unlink_it) {
  if (i == sp->nsegs - 1 && sp->fd >= 0) {
    close(sp->fd);
    sp->fd = -1;
  }
  if (unlink_it) {
    char path[4096];
    es_seg_path(sp, sp->segs[i].seq, path, sizeof(path));
    unlink(path);
  }
  sp->total -= sp->segs[i].bytes;
  memmove(&sp->segs[i], &sp->segs[i + 1],
          (sp->nsegs - i - 1) * sizeof(*sp->segs));
  sp->nsegs--;
}

/* Opens a new newest segment for appends. Returns 0 or -errno. */
static int es_seg_new(es_spool_t *sp) {
  char path[4096];
  uint64_t seq = sp->next_seq;
  es_seg_path(sp, seq, path, sizeof(path));
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0)
    return -errno;
  int rc = es_seg_push(sp, seq, 0);
  if (rc != 0) {
    close(fd);
    unlink(path);
    return rc;
  }
  sp->next_seq = seq + 1;
  sp->fd = fd;
  es_sync_dir(sp);
  return 0;
}

int es_spool_append(es_spool_t *sp, const char *data, size_t len, size_t ndocs,
                    uint64_t *dropped) {
  if (len == 0)
    return 0;
  if (len > sp->max_bytes) {
    *dropped += ndocs;
    return 0;
  }
  int removed = 0;
  while (sp->nsegs > 0 && sp->total + len > sp->max_bytes) {
    *dropped += es_seg_docs(sp, sp->segs[0].seq);
    es_seg_drop(sp, 0, 1);
    removed = 1;
  }
  if (removed)
    es_sync_dir(sp);
  if (sp->fd < 0 || sp->segs[sp->nsegs - 1].bytes >= sp->segment_bytes) {
    if (sp->fd >= 0) {
      close(sp->fd);
      sp->fd = -1;
    }
    int rc = es_seg_new(sp);
    if (rc != 0)
      return rc;
  }
  es_seg_t *seg = &sp->segs[sp->nsegs - 1];
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(sp->fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      /* Leave no partial chunk behind. */
      if (ftruncate(sp->fd, (off_t)seg->bytes) != 0) {
        close(sp->fd);
        sp->fd = -1;
      }
      return -e;
    }
    done += (size_t)n;
  }
  if (fdatasync(sp->fd) != 0) {
    int e = errno;
    if (ftruncate(sp->fd, (off_t)seg->bytes) != 0) {
      close(sp->fd);
      sp->fd = -1;
    }
    return -e;
  }
  seg->bytes += len;
  sp->total += len;
  return 0;
}

int es_spool_oldest(es_spool_t *sp, char **data, size_t *len, uint64_t *seq) {
  while (sp->nsegs > 0) {
    if (sp->nsegs == 1 && sp->fd >= 0) {
      close(sp->fd); /* appends go to a new segment from now on */
      sp->fd = -1;
    }
    char path[4096];
    es_seg_path(sp, sp->segs[0].seq, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
      es_seg_drop(sp, 0, 0); /* deleted behind our back */
      continue;
    }
    if (fd < 0)
      return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
      int e = errno;
      close(fd);
      return -e;
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = malloc(size + 1);
    if (buf == NULL) {
      close(fd);
      return -ENOMEM;
    }
    while (got < size) {
      ssize_t n = read(fd, buf + got, size - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      got += (size_t)n;
    }
    close(fd);
    while (got > 0 && buf[got - 1] != '\n')
      got--; /* a torn last line */
    buf[got] = '\0';
    *data = buf;
    *len = got;
    *seq = sp->segs[0].seq;
    return 1;
  }
  return 0;
}

int es_spool_remove(es_spool_t *sp, uint64_t seq) {
  for (size_t i = 0; i < sp->nsegs; i++) {
    if (sp->segs[i].seq != seq)
      continue;
    char path[4096];
    es_seg_path(sp, seq, path, sizeof(path));
    int rc = (unlink(path) != 0 && errno != ENOENT) ? -errno : 0;
    /* Forget it even when unlink failed: replaying it again and again
     * would only resend documents already stored. */
    es_seg_drop(sp, i, 0);
    es_sync_dir(sp);
    return rc;
  }
  return 0;
}

uint64_t es_spool_bytes(const es_spool_t *sp) {
  return sp->total;
}

void es_spool_close(es_spool_t *sp) {
  if (sp == NULL)
    return;
  if (sp->fd >= 0)
    close(sp->fd);
  free(sp->segs);
  free(sp->dir);
  free(sp);
}
