/* test-server.c: the contracts of RabcServer, seen from raw peers
 *
 * SPDX-License-Identifier: MIT
 */

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "rabc-test-util.h"

typedef RabcTestFixture Fixture;

/* --- helpers ------------------------------------------------------------ */

static gboolean
on_readable (int          fd,
             GIOCondition condition,
             gpointer     user_data)
{
  gboolean *readable = user_data;

  *readable = TRUE;
  return G_SOURCE_REMOVE;
}

/* Sends @message on a raw connection to @path and returns the reply,
 * iterating the thread-default context, where the server runs, until the
 * reply is there. */
static char *
raw_round_trip (const char *path,
                const char *message)
{
  int fd = rabc_test_connect_raw (path);
  gboolean readable = FALSE;
  char *reply;

  rabc_test_write_frame (fd, message, strlen (message));
  g_unix_fd_add (fd, G_IO_IN, on_readable, &readable);
  rabc_test_wait_for (&readable, 5000);
  reply = rabc_test_read_frame (fd);
  close (fd);
  return reply;
}

static void
count_notify (GObject    *object,
              GParamSpec *pspec,
              gpointer    user_data)
{
  guint *count = user_data;

  (*count)++;
}

static int
unix_socket_at (const char *path,
                int         type,
                gboolean    do_listen)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, type, 0);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpuint (strlen (path), <, sizeof addr.sun_path);
  strcpy (addr.sun_path, path);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  if (do_listen)
    g_assert_cmpint (listen (fd, 8), ==, 0);
  return fd;
}

/* A listening Unix stream socket as a service manager hands it over:
 * blocking, and inherited across exec. */
static int
listening_socket (const char *path)
{
  int fd = unix_socket_at (path, SOCK_STREAM, TRUE);

  g_assert_cmpint (fcntl (fd, F_GETFL) & O_NONBLOCK, ==, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD) & FD_CLOEXEC, ==, 0);
  return fd;
}

/* Starts @server on @fd, which must fail with @code and leave @fd open,
 * the same file with the same flags, and the server as it was. */
static void
assert_start_fails_leaving_fd (RabcServer *server,
                               int         fd,
                               int         code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = g_strdup (rabc_server_get_socket_path (server));
  gboolean listening = rabc_server_get_listening (server);
  int status_flags = fcntl (fd, F_GETFL);
  int fd_flags = fcntl (fd, F_GETFD);
  struct stat before, after;

  g_assert_cmpint (status_flags, !=, -1);
  g_assert_cmpint (fd_flags, !=, -1);
  g_assert_cmpint (fstat (fd, &before), ==, 0);

  g_assert_false (rabc_server_start_with_socket_fd (server, fd, &error));
  g_assert_error (error, RABC_ERROR, code);

  g_assert_cmpint (fcntl (fd, F_GETFD), !=, -1);
  g_assert_cmpint (fstat (fd, &after), ==, 0);
  g_assert_cmpuint (after.st_dev, ==, before.st_dev);
  g_assert_cmpuint (after.st_ino, ==, before.st_ino);
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, fd_flags);
  g_assert_cmpint (fcntl (fd, F_GETFL), ==, status_flags);
  g_assert_cmpstr (rabc_server_get_socket_path (server), ==, path);
  g_assert_cmpint (rabc_server_get_listening (server), ==, listening);
}

/* Takes every free descriptor of the process, below a soft limit lowered
 * to keep them few; give them back with release_descriptors(). */
typedef struct {
  struct rlimit saved;
  GArray       *fds;
} Exhaustion;

static void
exhaust_descriptors (Exhaustion *exhaustion)
{
  struct rlimit lowered;

  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &exhaustion->saved), ==, 0);
  lowered = exhaustion->saved;
  lowered.rlim_cur = MIN (lowered.rlim_cur, 256);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &lowered), ==, 0);

  exhaustion->fds = g_array_new (FALSE, FALSE, sizeof (int));
  for (;;)
    {
      int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);

      if (fd < 0)
        {
          g_assert_cmpint (errno, ==, EMFILE);
          break;
        }
      g_array_append_val (exhaustion->fds, fd);
    }
  g_assert_cmpuint (exhaustion->fds->len, >, 0);
}

/* Gives @n of the descriptors back. */
static void
free_descriptors (Exhaustion *exhaustion,
                  guint       n)
{
  g_assert_cmpuint (exhaustion->fds->len, >=, n);
  for (guint i = 0; i < n; i++)
    {
      guint last = exhaustion->fds->len - 1;

      close (g_array_index (exhaustion->fds, int, last));
      g_array_set_size (exhaustion->fds, last);
    }
}

/* How many descriptors can still be opened; they are taken too. */
static guint
count_free_descriptors (Exhaustion *exhaustion)
{
  guint n = 0;

  for (;;)
    {
      int fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);

      if (fd < 0)
        return n;
      g_array_append_val (exhaustion->fds, fd);
      n++;
    }
}

static void
release_descriptors (Exhaustion *exhaustion)
{
  free_descriptors (exhaustion, exhaustion->fds->len);
  g_clear_pointer (&exhaustion->fds, g_array_unref);
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &exhaustion->saved), ==, 0);
}

/* --- reply and socket-path: NULL is the default ------------------------- */

static void
test_reply_null_is_default (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *reply = NULL;
  g_autofree char *answer = NULL;
  guint n_notify = 0;

  server = g_object_new (RABC_TYPE_SERVER,
                         "socket-path", fixture->path,
                         "reply", NULL,
                         NULL);
  g_object_get (server, "reply", &reply, NULL);
  g_assert_cmpstr (reply, ==, "pong");
  g_assert_cmpstr (rabc_server_get_reply (server), ==, "pong");

  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "pong");
  g_clear_pointer (&answer, g_free);

  g_signal_connect (server, "notify::reply", G_CALLBACK (count_notify), &n_notify);

  /* NULL when the reply is already the default changes nothing. */
  g_object_set (server, "reply", NULL, NULL);
  g_assert_cmpuint (n_notify, ==, 0);

  rabc_server_set_reply (server, "custom");
  g_assert_cmpuint (n_notify, ==, 1);
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "custom");
  g_clear_pointer (&answer, g_free);

  g_object_set (server, "reply", NULL, NULL);
  g_assert_cmpuint (n_notify, ==, 2);
  g_clear_pointer (&reply, g_free);
  g_object_get (server, "reply", &reply, NULL);
  g_assert_cmpstr (reply, ==, "pong");
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "pong");
  g_clear_pointer (&answer, g_free);

  rabc_server_set_reply (server, "custom");
  rabc_server_set_reply (server, NULL);
  g_assert_cmpuint (n_notify, ==, 4);
  g_assert_cmpstr (rabc_server_get_reply (server), ==, "pong");
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "pong");

  rabc_server_stop (server);
}

static void
test_socket_path_null_is_default (void)
{
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(RabcServer) from_new = rabc_server_new (NULL);
  g_autofree char *path = NULL;

  server = g_object_new (RABC_TYPE_SERVER, "socket-path", NULL, NULL);
  g_object_get (server, "socket-path", &path, NULL);
  g_assert_cmpstr (path, ==, rabc_get_default_socket_path ());
  g_assert_cmpstr (rabc_server_get_socket_path (from_new), ==, rabc_get_default_socket_path ());
}

/* --- start_with_socket_fd: on failure the caller keeps @fd --------------- */

static void
test_fd_failure_not_a_socket (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  g_autofree char *file_path = g_build_filename (fixture->dir, "regular", NULL);
  int pipe_fds[2];
  int file_fd;

  g_assert_cmpint (pipe (pipe_fds), ==, 0);
  assert_start_fails_leaving_fd (server, pipe_fds[0], RABC_ERROR_INVALID_ARGUMENT);
  assert_start_fails_leaving_fd (server, pipe_fds[1], RABC_ERROR_INVALID_ARGUMENT);
  close (pipe_fds[0]);
  close (pipe_fds[1]);

  file_fd = open (file_path, O_RDWR | O_CREAT, 0600);
  g_assert_cmpint (file_fd, >=, 0);
  assert_start_fails_leaving_fd (server, file_fd, RABC_ERROR_INVALID_ARGUMENT);
  close (file_fd);
}

static void
test_fd_failure_not_listening (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  int unbound = socket (AF_UNIX, SOCK_STREAM, 0);
  int bound = unix_socket_at (fixture->path, SOCK_STREAM, FALSE);
  int pair[2];

  g_assert_cmpint (unbound, >=, 0);
  assert_start_fails_leaving_fd (server, unbound, RABC_ERROR_INVALID_ARGUMENT);
  assert_start_fails_leaving_fd (server, bound, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM, 0, pair), ==, 0);
  assert_start_fails_leaving_fd (server, pair[0], RABC_ERROR_INVALID_ARGUMENT);

  close (unbound);
  close (bound);
  close (pair[0]);
  close (pair[1]);
}

static void
test_fd_failure_not_unix_stream (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  g_autofree char *dgram_path = g_build_filename (fixture->dir, "dgram.sock", NULL);
  g_autofree char *seqpacket_path = g_build_filename (fixture->dir, "seqpacket.sock", NULL);
  struct sockaddr_in loopback = {
    .sin_family = AF_INET,
    .sin_addr.s_addr = htonl (INADDR_LOOPBACK),
  };
  int udp = socket (AF_INET, SOCK_DGRAM, 0);
  int tcp = socket (AF_INET, SOCK_STREAM, 0);
  int dgram = unix_socket_at (dgram_path, SOCK_DGRAM, FALSE);
  int seqpacket = unix_socket_at (seqpacket_path, SOCK_SEQPACKET, TRUE);

  g_assert_cmpint (udp, >=, 0);
  assert_start_fails_leaving_fd (server, udp, RABC_ERROR_INVALID_ARGUMENT);

  /* Listening, but TCP. */
  g_assert_cmpint (tcp, >=, 0);
  g_assert_cmpint (bind (tcp, (struct sockaddr *) &loopback, sizeof loopback), ==, 0);
  g_assert_cmpint (listen (tcp, 8), ==, 0);
  assert_start_fails_leaving_fd (server, tcp, RABC_ERROR_INVALID_ARGUMENT);

  assert_start_fails_leaving_fd (server, dgram, RABC_ERROR_INVALID_ARGUMENT);
  assert_start_fails_leaving_fd (server, seqpacket, RABC_ERROR_INVALID_ARGUMENT);

  close (udp);
  close (tcp);
  close (dgram);
  close (seqpacket);
}

static void
test_fd_failure_already_started (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autoptr(RabcServer) activated = rabc_server_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *other_path = g_build_filename (fixture->dir, "other.sock", NULL);
  g_autofree char *third_path = g_build_filename (fixture->dir, "third.sock", NULL);
  g_autofree char *answer = NULL;
  int other = listening_socket (other_path);
  int activated_fd = listening_socket (third_path);

  /* Started with rabc_server_start(). */
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  assert_start_fails_leaving_fd (server, other, RABC_ERROR_INVALID_ARGUMENT);
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "pong");
  g_clear_pointer (&answer, g_free);

  /* Started with a descriptor: the second one stays the caller's, the
   * first one the server's. */
  g_assert_true (rabc_server_start_with_socket_fd (activated, activated_fd, &error));
  g_assert_no_error (error);
  assert_start_fails_leaving_fd (activated, other, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_cmpstr (rabc_server_get_socket_path (activated), ==, third_path);
  answer = raw_round_trip (third_path, "ping");
  g_assert_cmpstr (answer, ==, "pong");

  close (other);
  rabc_server_stop (server);
  rabc_server_stop (activated);
}

static void
test_fd_failure_reply_too_long (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autoptr(RabcServer) server = NULL;
  g_autoptr(GError) error = NULL;
  int fd = listening_socket (fixture->path);

  /* "pong" is not shorter than 4 bytes. */
  server = g_object_new (RABC_TYPE_SERVER, "max-message-size", 4, NULL);
  assert_start_fails_leaving_fd (server, fd, RABC_ERROR_INVALID_ARGUMENT);

  rabc_server_set_max_message_size (server, 5);
  g_assert_true (rabc_server_start_with_socket_fd (server, fd, &error));
  g_assert_no_error (error);
  rabc_server_stop (server);
}

/* Out of descriptors, the server cannot make its epoll descriptor: it
 * leaves @fd as it was, and a later start on the same @fd works. */
static void
test_fd_failure_epoll (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *answer = NULL;
  Exhaustion exhaustion;
  int fd = listening_socket (fixture->path);

  exhaust_descriptors (&exhaustion);
  assert_start_fails_leaving_fd (server, fd, RABC_ERROR_IPC_CONNECTION);
  release_descriptors (&exhaustion);

  /* Still blocking and inherited: the server changes neither until it
   * serves. */
  g_assert_cmpint (fcntl (fd, F_GETFL) & O_NONBLOCK, ==, 0);
  g_assert_cmpint (fcntl (fd, F_GETFD) & FD_CLOEXEC, ==, 0);

  g_assert_true (rabc_server_start_with_socket_fd (server, fd, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (rabc_server_get_socket_path (server), ==, fixture->path);
  answer = raw_round_trip (fixture->path, "ping");
  g_assert_cmpstr (answer, ==, "pong");

  /* On success the server owns @fd, and closes it when it stops. */
  rabc_server_stop (server);
  g_assert_cmpint (fcntl (fd, F_GETFD), ==, -1);
  g_assert_cmpint (errno, ==, EBADF);
}

static void
test_fd_failure_bad_descriptor (void)
{
  g_autoptr(RabcServer) server = rabc_server_new (NULL);
  g_autoptr(GError) error = NULL;
  int closed = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  g_assert_cmpint (closed, >=, 0);
  close (closed);

  g_assert_false (rabc_server_start_with_socket_fd (server, -1, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (rabc_server_start_with_socket_fd (server, closed, &error));
  g_assert_error (error, RABC_ERROR, RABC_ERROR_INVALID_ARGUMENT);
  g_assert_false (rabc_server_get_listening (server));
}

/* rabc_server_start() owns the socket it makes: when it cannot watch it,
 * it closes it and removes the socket file and the lock file. */
static void
test_start_epoll_failure_releases_everything (Fixture       *fixture,
                                              gconstpointer  data)
{
  g_autoptr(RabcServer) server = rabc_server_new (fixture->path);
  g_autoptr(GError) error = NULL;
  g_autofree char *lock_path = g_strconcat (fixture->path, ".lock", NULL);
  Exhaustion exhaustion;

  exhaust_descriptors (&exhaustion);
  /* Room for the lock file and the socket, none for epoll. */
  free_descriptors (&exhaustion, 2);
  g_assert_false (rabc_server_start (server, &error));
  g_assert_cmpuint (count_free_descriptors (&exhaustion), ==, 2);
  release_descriptors (&exhaustion);

  g_assert_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION);
  g_assert_false (rabc_server_get_listening (server));
  g_assert_false (g_file_test (fixture->path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (lock_path, G_FILE_TEST_EXISTS));

  g_clear_error (&error);
  g_assert_true (rabc_server_start (server, &error));
  g_assert_no_error (error);
  rabc_server_stop (server);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  RABC_TEST_ADD ("/rabc/server/reply-null-is-default", test_reply_null_is_default);
  g_test_add_func ("/rabc/server/socket-path-null-is-default", test_socket_path_null_is_default);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/not-a-socket",
                 test_fd_failure_not_a_socket);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/not-listening",
                 test_fd_failure_not_listening);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/not-unix-stream",
                 test_fd_failure_not_unix_stream);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/already-started",
                 test_fd_failure_already_started);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/reply-too-long",
                 test_fd_failure_reply_too_long);
  RABC_TEST_ADD ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/epoll",
                 test_fd_failure_epoll);
  g_test_add_func ("/rabc/server/start-with-socket-fd-failure-leaves-fd-open/bad-descriptor",
                   test_fd_failure_bad_descriptor);
  RABC_TEST_ADD ("/rabc/server/start-epoll-failure-releases-everything",
       test_start_epoll_failure_releases_everything);

#undef ADD

  return g_test_run ();
}
