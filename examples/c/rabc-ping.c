/* rabc-ping.c: connect to rabcd on a GMainLoop and print the replies of
 * automatic pings.
 *
 *   rabc-ping [SOCKET] [COUNT]
 *
 * Build against an installed librabc with:
 *   cc rabc-ping.c $(pkg-config --cflags --libs rabc-1) -o rabc-ping
 *
 * SPDX-License-Identifier: MIT
 */

#include <stdlib.h>

#include <rabc.h>

typedef struct {
  GMainLoop  *loop;
  RabcClient *client;
  guint       remaining;
  int         status;
} Ping;

static void
on_reply (RabcClient *client,
          const char *reply,
          Ping       *ping)
{
  g_print ("%s (%" G_GINT64_FORMAT " µs)\n", reply, rabc_client_get_round_trip_time (client));

  if (--ping->remaining == 0)
    g_main_loop_quit (ping->loop);
}

static void
on_closed (RabcClient   *client,
           const GError *error,
           Ping         *ping)
{
  g_printerr ("rabc-ping: %s\n", error != NULL ? error->message : "closed");
  ping->status = EXIT_FAILURE;
  g_main_loop_quit (ping->loop);
}

static void
on_connected (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Ping *ping = user_data;
  g_autoptr(GError) error = NULL;
  RabcClient *client = rabc_client_new_finish (result, &error);

  ping->client = client;
  if (client == NULL)
    {
      g_printerr ("rabc-ping: %s\n", error->message);
      ping->status = EXIT_FAILURE;
      g_main_loop_quit (ping->loop);
      return;
    }

  g_print ("connected to %s\n", rabc_client_get_socket_path (client));
  g_signal_connect (client, "reply", G_CALLBACK (on_reply), ping);
  g_signal_connect (client, "closed", G_CALLBACK (on_closed), ping);
  rabc_client_set_ping_interval (client, 200);
}

int
main (int   argc,
      char *argv[])
{
  const char *socket_path = argc > 1 ? argv[1] : NULL;
  Ping ping = { .remaining = argc > 2 ? (guint) atoi (argv[2]) : 5, .status = EXIT_SUCCESS };

  if (ping.remaining == 0)
    {
      g_printerr ("rabc-ping: COUNT must be a positive number\n");
      return EXIT_FAILURE;
    }

  ping.loop = g_main_loop_new (NULL, FALSE);
  rabc_client_new_async (socket_path, NULL, on_connected, &ping);
  g_main_loop_run (ping.loop);

  g_clear_object (&ping.client);
  g_main_loop_unref (ping.loop);

  return ping.status;
}
