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

#include <locale.h>
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
  Ping ping = { .remaining = 5, .status = EXIT_SUCCESS };
  char *end = NULL;

  /* So that g_print() writes "µs" in the terminal's encoding, not "?s". */
  setlocale (LC_ALL, "");

  if (argc > 1 && (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")))
    {
      g_print ("Usage: rabc-ping [SOCKET] [COUNT]\n"
               "Connects to the rabc daemon on SOCKET (default: $RABC_SOCKET_PATH, else\n"
               "/tmp/librabc) and prints the replies of COUNT automatic pings (default: 5).\n");
      return EXIT_SUCCESS;
    }
  if (argc > 3)
    {
      g_printerr ("rabc-ping: too many arguments; see rabc-ping --help\n");
      return 2;
    }
  if (argc > 2)
    {
      guint64 count = g_ascii_strtoull (argv[2], &end, 10);

      if (*argv[2] == '\0' || *end != '\0' || count == 0 || count > G_MAXUINT)
        {
          g_printerr ("rabc-ping: COUNT must be a positive number, not \"%s\"\n", argv[2]);
          return 2;
        }
      ping.remaining = (guint) count;
    }

  ping.loop = g_main_loop_new (NULL, FALSE);
  rabc_client_new_async (socket_path, NULL, on_connected, &ping);
  g_main_loop_run (ping.loop);

  g_clear_object (&ping.client);
  g_main_loop_unref (ping.loop);

  return ping.status;
}
