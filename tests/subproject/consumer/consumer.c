/* consumer.c: a RabcServer and a RabcClient on one main loop, one request
 * and its reply, through a librabc built as a meson subproject.
 *
 * SPDX-License-Identifier: MIT
 */

#include <stdlib.h>

#include <glib/gstdio.h>
#include <rabc.h>

typedef struct {
  GMainLoop  *loop;
  RabcClient *client;
  char       *reply;
  GError     *error;
  guint       watchdog;
} Consumer;

static void
on_reply (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Consumer *consumer = user_data;

  consumer->reply = rabc_client_send_finish (RABC_CLIENT (source), result, &consumer->error);
  g_main_loop_quit (consumer->loop);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Consumer *consumer = user_data;

  consumer->client = rabc_client_new_finish (result, &consumer->error);
  if (consumer->client == NULL)
    {
      g_main_loop_quit (consumer->loop);
      return;
    }
  rabc_client_send_async (consumer->client, "ping", NULL, on_reply, consumer);
}

static gboolean
on_watchdog (gpointer user_data)
{
  Consumer *consumer = user_data;

  consumer->watchdog = 0;
  g_set_error_literal (&consumer->error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       "no reply within 10 s");
  g_main_loop_quit (consumer->loop);
  return G_SOURCE_REMOVE;
}

int
main (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;
  g_autoptr(RabcServer) server = NULL;
  Consumer consumer = { 0 };
  int status = EXIT_SUCCESS;

  g_print ("librabc %s\n", RABC_VERSION_S);

  dir = g_dir_make_tmp ("rabc-consumer-XXXXXX", &error);
  if (dir == NULL)
    {
      g_printerr ("consumer: %s\n", error->message);
      return EXIT_FAILURE;
    }
  path = g_build_filename (dir, "rabc.sock", NULL);

  server = rabc_server_new (path);
  if (!rabc_server_start (server, &error))
    {
      g_printerr ("consumer: %s\n", error->message);
      g_rmdir (dir);
      return EXIT_FAILURE;
    }

  consumer.loop = g_main_loop_new (NULL, FALSE);
  consumer.watchdog = g_timeout_add_seconds (10, on_watchdog, &consumer);
  rabc_client_new_async (path, NULL, on_connected, &consumer);
  g_main_loop_run (consumer.loop);
  if (consumer.watchdog != 0)
    g_source_remove (consumer.watchdog);

  if (consumer.error != NULL)
    {
      g_printerr ("consumer: %s\n", consumer.error->message);
      status = EXIT_FAILURE;
    }
  else if (g_strcmp0 (consumer.reply, "pong") != 0)
    {
      g_printerr ("consumer: reply \"%s\", expected \"pong\"\n", consumer.reply);
      status = EXIT_FAILURE;
    }
  else
    g_print ("reply: %s\n", consumer.reply);

  if (consumer.client != NULL)
    rabc_client_close (consumer.client);
  g_clear_object (&consumer.client);
  rabc_server_stop (server);
  g_clear_object (&server);
  g_unlink (path);
  g_rmdir (dir);

  g_free (consumer.reply);
  g_clear_error (&consumer.error);
  g_main_loop_unref (consumer.loop);
  return status;
}
