/* test-server.c: the contracts of RabcServer, seen from raw peers
 *
 * SPDX-License-Identifier: MIT
 */

#include <string.h>
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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, rabc_test_fixture_setup, func, rabc_test_fixture_teardown)

  ADD ("/rabc/server/reply-null-is-default", test_reply_null_is_default);
  g_test_add_func ("/rabc/server/socket-path-null-is-default", test_socket_path_null_is_default);

#undef ADD

  return g_test_run ();
}
