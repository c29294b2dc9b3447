/* rabcd-probe.h: a real rabcd, started and watched from outside
 *
 * The reliability tests talk to rabcd as a separate process, through raw
 * sockets or other processes, and check from the outside that it still
 * answers a well-behaved client, that its open descriptors (/proc/PID/fd)
 * are back to their baseline, and that its resident memory
 * (/proc/PID/status) did not grow.
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <gio/gio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/un.h>

G_BEGIN_DECLS

#define HEADER_SIZE 8
#define MAX_MESSAGE_SIZE ((guint64) 1048576)
/* The daemon closes asynchronously: how long its descriptors may take to
 * come back to the baseline. */
#define SETTLE_TIMEOUT_MS 5000
/* Deadlines that only exist so that a broken daemon fails the test instead
 * of hanging it. */
#define CLOSE_TIMEOUT_MS 5000
#define IO_TIMEOUT_S 10

/* Resident memory a repeated scenario may gain after its warm-up.  A page
 * or two of noise is normal; the bounds are chosen per scenario so that
 * leaking one small structure per connection exceeds them. */
#define RSS_NOISE_KIB 128

/* A user of this machine other than root, for the tests. */
typedef struct {
  const char *name;
  uid_t       uid;
  gid_t       gid;
} TestUser;

const TestUser *test_user_get        (const char *name);
void            test_process_setup   (void);

typedef struct {
  GSubprocess *process;
  char        *socket_path;
  char        *log_path;
  pid_t        pid;
  guint        fd_baseline;
} Daemon;

typedef struct {
  /* The socket's name in the directory of daemon_set_directory(). */
  const char         *name;
  /* Limits of the daemon's process, or 0 to inherit the test's. */
  rlim_t              nofile;
  rlim_t              address_space;
  /* More rabcd options, NULL-terminated, or NULL. */
  const char * const *args;
  /* The user to run it as, or NULL for the test's. */
  const TestUser     *user;
} DaemonOptions;

void      daemon_set_directory       (const char          *dir);
Daemon   *daemon_start               (const char          *name,
                                      rlim_t               nofile);
Daemon   *daemon_start_full          (const DaemonOptions *options);
void      daemon_stop                (Daemon              *daemon);
void      daemon_free                (Daemon              *daemon);
char     *daemon_read_log            (Daemon              *daemon);
void      assert_log_clean           (const char          *log);

guint     count_fds                  (pid_t                pid);
guint64   read_rss_kib               (pid_t                pid);
guint64   read_cpu_ticks             (pid_t                pid,
                                      char                *state);
void      assert_running             (Daemon              *daemon);
guint     wait_for_fd_count          (Daemon              *daemon,
                                      guint                expected);
guint     wait_for_stable_fd_count   (Daemon              *daemon);
void      assert_daemon_answers      (Daemon              *daemon);

/* One scenario: before and after. */
typedef struct {
  const char *name;
  guint       fds_before;
  guint64     rss_before;
} Measure;

void      measure_begin              (Daemon              *daemon,
                                      Measure             *measure,
                                      const char          *name);
void      measure_end                (Daemon              *daemon,
                                      Measure             *measure,
                                      guint64              rss_bound_kib);
gboolean  measure_end_within         (Daemon              *daemon,
                                      Measure             *measure,
                                      guint64              rss_bound_kib);

/* Raw sockets. */
void      fill_address               (struct sockaddr_un  *addr,
                                      const char          *path);
int       connect_raw                (Daemon              *daemon);
void      write_header               (int                  fd,
                                      guint64              len);
void      write_partial_header       (int                  fd,
                                      guint64              len,
                                      gsize                n);
void      encode_short_frame         (guint8              *out,
                                      const char          *text);
void      assert_pong                (int                  fd);
gsize     read_until_closed          (int                  fd);
void      assert_closed_without_reply (int                 fd);

G_END_DECLS
