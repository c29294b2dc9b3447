/* rabc-test-util.h: shared helpers of the C tests
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <rabc.h>
#include <sys/types.h>

G_BEGIN_DECLS

char      *rabc_test_make_tmpdir        (void);
void       rabc_test_remove_tmpdir      (const char   *dir);

/* A temporary directory and a socket path in it, for g_test_add(). */
typedef struct {
  char *dir;
  char *path;
} RabcTestFixture;

void       rabc_test_fixture_setup      (RabcTestFixture *fixture,
                                         gconstpointer    data);
void       rabc_test_fixture_teardown   (RabcTestFixture *fixture,
                                         gconstpointer    data);
/* Adds a test of @func (RabcTestFixture *, gconstpointer) at @path, with
 * its temporary directory and socket path. */
#define RABC_TEST_ADD(path, func) \
  g_test_add (path, RabcTestFixture, NULL, rabc_test_fixture_setup, func, \
              rabc_test_fixture_teardown)

/* Iterates the thread-default context until *flag is TRUE; fails the test
 * after @timeout_ms. */
void       rabc_test_wait_for           (const gboolean *flag,
                                         guint           timeout_ms);
/* Iterates the thread-default context for @ms milliseconds. */
void       rabc_test_run_for            (guint           ms);
void       rabc_test_store_result       (GObject        *source,
                                         GAsyncResult   *result,
                                         gpointer        user_data);

/* A RabcServer running in its own thread and main context, for tests whose
 * own thread blocks in synchronous calls. */
typedef struct _RabcTestServerThread RabcTestServerThread;

RabcTestServerThread *rabc_test_server_thread_new  (const char           *socket_path);
/* The same, calling @setup (server, @user_data) in the server's thread
 * before it starts, for example to connect its handlers. */
typedef void (*RabcTestServerSetup) (RabcServer *server, gpointer user_data);
RabcTestServerThread *rabc_test_server_thread_new_full (const char          *socket_path,
                                                        RabcTestServerSetup  setup,
                                                        gpointer             user_data);
void                  rabc_test_server_thread_free (RabcTestServerThread *thread);

/* A raw peer on a listening socket: accepts one connection, hands the
 * blocking descriptor to @func in a thread, closes it when @func returns. */
typedef void (*RabcTestPeerFunc) (int fd, gpointer user_data);
typedef struct _RabcTestPeer RabcTestPeer;

RabcTestPeer *rabc_test_peer_new       (const char       *socket_path,
                                        RabcTestPeerFunc  func,
                                        gpointer          user_data);
void          rabc_test_peer_free      (RabcTestPeer     *peer);
/* A peer that answers every message with itself, byte for byte, until
 * the client hangs up. */
void          rabc_test_echo_peer      (int               fd,
                                        gpointer          user_data);
/* A peer that reads and never answers, until the client hangs up. */
void          rabc_test_silent_peer    (int               fd,
                                        gpointer          user_data);

/* Blocking frame helpers for raw peers. */
int        rabc_test_connect_raw        (const char    *socket_path);
void       rabc_test_write_all          (int            fd,
                                         const void    *data,
                                         gsize          len);
void       rabc_test_write_frame        (int            fd,
                                         const char    *text,
                                         gsize          len);
/* Return NULL at end of stream. */
char      *rabc_test_read_frame         (int            fd);
GBytes    *rabc_test_read_frame_bytes   (int            fd);
/* Reads until end of stream; returns FALSE if that takes over @timeout_ms. */
gboolean   rabc_test_read_until_eof     (int            fd,
                                         guint          timeout_ms);

/* The user @name, created with useradd(8) when it does not exist yet;
 * FALSE when it cannot be (without root). */
gboolean   rabc_test_get_user           (const char    *name,
                                         uid_t         *uid,
                                         gid_t         *gid);

/* /proc/PID/status, for tests that watch memory. */
guint64    rabc_test_read_status_kib    (pid_t          pid,
                                         const char    *field);
gboolean   rabc_test_reset_peak_rss     (pid_t          pid);

G_END_DECLS
