/* fuzz-server.c: libFuzzer target for RabcServer fed arbitrary streams
 *
 * SPDX-License-Identifier: MIT
 *
 * One server listens on a socket in a temporary directory, on the default
 * main context, for the whole run.  For each input (laid out as described in
 * fuzz-common.h) a raw non-blocking client connects, writes the stream in
 * the pieces the input gives, letting the server run between pieces so that
 * it reads them apart, and then half-closes its socket.  The option nibble:
 *
 *   bit 0  no handler for RabcServer::message-received (the path without a
 *          copy); otherwise the handler checks every message it sees
 *   bit 1  the client reads nothing until it has written everything
 *   bit 2  the client closes its socket instead of half-closing it, and
 *          reads nothing at all
 *
 * Then the server must close the connection, having sent nothing but whole
 * `pong` frames: exactly one per message of a stream that keeps to the
 * protocol, at most one per message before the first error of one that
 * does not.  Afterwards it must have no client left and no extra file
 * descriptor open.
 */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "fuzz-common.h"
#include "rabc-server.h"

int LLVMFuzzerInitialize   (int             *argc,
                            char          ***argv);
int LLVMFuzzerTestOneInput (const uint8_t   *data,
                            size_t           size);

#define OPTION_NO_HANDLER   (1 << 0)
#define OPTION_READ_LATE    (1 << 1)
#define OPTION_CLOSE        (1 << 2)

/* How long the server may take to do what it must; far more than it needs. */
#define DEADLINE_MS 2000

static struct {
  char         *dir;
  char         *path;
  RabcServer   *server;
  GMainContext *context;
} fuzz;

typedef struct {
  int          fd;
  GByteArray  *received;
  gboolean     eof;
  gboolean     write_closed;
} Client;

typedef struct {
  const FuzzDecoded *expected;
  guint              n_seen;
} Witness;

static GLogWriterOutput
log_writer (GLogLevelFlags   level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  /* Messages about misbehaving clients are the expected result of most
   * inputs; warnings and criticals are bugs. */
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    {
      g_log_writer_default (level, fields, n_fields, user_data);
      abort ();
    }
  if (g_getenv ("RABC_FUZZ_VERBOSE") != NULL)
    return g_log_writer_default (level, fields, n_fields, user_data);
  return G_LOG_WRITER_HANDLED;
}

static void
cleanup (void)
{
  if (fuzz.server != NULL)
    {
      rabc_server_stop (fuzz.server);
      g_clear_object (&fuzz.server);
    }
  if (fuzz.path != NULL)
    g_unlink (fuzz.path);
  if (fuzz.dir != NULL)
    g_rmdir (fuzz.dir);
  g_clear_pointer (&fuzz.path, g_free);
  g_clear_pointer (&fuzz.dir, g_free);
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  g_autoptr(GError) error = NULL;

  /* GLib 2.74 still has a slice allocator: let ASan see every block. */
  g_setenv ("G_SLICE", "always-malloc", TRUE);
  g_log_set_writer_func (log_writer, NULL, NULL);

  fuzz.dir = g_dir_make_tmp ("rabc-fuzz-server-XXXXXX", &error);
  fuzz_check (fuzz.dir != NULL, "cannot make a temporary directory: %s", error->message);
  fuzz.path = g_build_filename (fuzz.dir, "socket", NULL);
  fuzz.context = g_main_context_default ();

  fuzz.server = rabc_server_new (fuzz.path);
  fuzz_check (rabc_server_start (fuzz.server, &error),
              "cannot start the server: %s", error->message);
  atexit (cleanup);
  return 0;
}

static guint
count_open_fds (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  guint n = 0;

  fuzz_check (dir != NULL, "cannot open /proc/self/fd: %s", g_strerror (errno));
  while ((entry = readdir (dir)) != NULL)
    if (entry->d_name[0] != '.')
      n++;
  closedir (dir);
  return n - 1;   /* the directory's own descriptor */
}

static int
client_connect (void)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  fuzz_check (fd >= 0, "socket: %s", g_strerror (errno));
  g_strlcpy (addr.sun_path, fuzz.path, sizeof addr.sun_path);
  fuzz_check (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0,
              "connect: %s", g_strerror (errno));
  return fd;
}

static void
client_read (Client *client)
{
  guint8 buffer[4096];

  while (!client->eof && client->fd >= 0)
    {
      ssize_t n = recv (client->fd, buffer, sizeof buffer, MSG_DONTWAIT);

      if (n > 0)
        {
          g_byte_array_append (client->received, buffer, n);
          continue;
        }
      if (n == 0 || errno == ECONNRESET)
        {
          client->eof = TRUE;
          break;
        }
      if (errno == EINTR)
        continue;
      fuzz_check (errno == EAGAIN || errno == EWOULDBLOCK, "recv: %s", g_strerror (errno));
      break;
    }
}

/* Lets the server handle everything that is ready now. */
static void
run_server (Client   *client,
            gboolean  read)
{
  for (guint i = 0; i < 64; i++)
    {
      gboolean dispatched = g_main_context_iteration (fuzz.context, FALSE);

      if (read)
        client_read (client);
      if (!dispatched)
        break;
    }
}

static gboolean
on_deadline (gpointer user_data)
{
  gboolean *passed = user_data;

  *passed = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main context until @done says so, for at most DEADLINE_MS. */
static void
run_server_until (gboolean  (*done) (Client *client),
                  Client     *client,
                  gboolean    read,
                  const char *what)
{
  gboolean passed = FALSE;
  GSource *deadline = g_timeout_source_new (DEADLINE_MS);

  g_source_set_callback (deadline, on_deadline, &passed, NULL);
  g_source_attach (deadline, fuzz.context);

  for (;;)
    {
      if (read)
        client_read (client);
      if (done (client))
        break;
      fuzz_check (!passed, "the server did not %s within %d ms", what, DEADLINE_MS);
      g_main_context_iteration (fuzz.context, TRUE);
    }

  g_source_destroy (deadline);
  g_source_unref (deadline);
}

static gboolean
has_one_client (Client *client)
{
  return rabc_server_get_n_clients (fuzz.server) == 1;
}

static gboolean
has_no_client (Client *client)
{
  return rabc_server_get_n_clients (fuzz.server) == 0;
}

static gboolean
saw_eof (Client *client)
{
  return client->eof;
}

/* Writes @len bytes unless the server has closed the connection. */
static void
client_write (Client       *client,
              const guint8 *data,
              gsize         len,
              gboolean      read)
{
  while (len > 0 && !client->write_closed)
    {
      ssize_t n = send (client->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n >= 0)
        {
          data += n;
          len -= n;
        }
      else if (errno == EPIPE || errno == ECONNRESET)
        client->write_closed = TRUE;
      else if (errno == EAGAIN || errno == EWOULDBLOCK)
        run_server (client, read);
      else
        fuzz_check (errno == EINTR, "send: %s", g_strerror (errno));
    }
}

static void
on_message_received (RabcServer *server,
                     const char *message,
                     gpointer    user_data)
{
  Witness *witness = user_data;
  const FuzzDecoded *expected = witness->expected;
  const char *text;
  gsize len;

  fuzz_check (witness->n_seen < expected->messages->len,
              "the server received message %u; the stream has only %u before its end or error",
              witness->n_seen + 1, expected->messages->len);
  text = g_bytes_get_data (expected->messages->pdata[witness->n_seen], &len);
  /* The signal carries the text up to its first NUL. */
  len = len > 0 ? strnlen (text, len) : 0;
  fuzz_check (message != NULL && strlen (message) == len &&
              (len == 0 || memcmp (message, text, len) == 0),
              "message %u differs", witness->n_seen);
  witness->n_seen++;
}

/* Whole `pong` frames, and at most the start of one more when the stream
 * broke the protocol and the server hung up halfway through a reply. */
static void
check_replies (const GByteArray  *received,
               const FuzzDecoded *expected,
               guint              n_seen,
               gboolean           witnessed)
{
  const guint64 pong_len = 4;
  guint8 pong[FUZZ_HEADER_SIZE + 4];
  guint n_pongs = received->len / sizeof pong;
  gsize rest = received->len % sizeof pong;

  memcpy (pong, &pong_len, sizeof pong_len);
  memcpy (pong + FUZZ_HEADER_SIZE, "pong", 4);

  for (guint i = 0; i < n_pongs; i++)
    fuzz_check (memcmp (received->data + i * sizeof pong, pong, sizeof pong) == 0,
                "reply %u is not a pong frame", i);
  fuzz_check (rest == 0 || (expected->error_code != 0 &&
                            memcmp (received->data + n_pongs * sizeof pong, pong, rest) == 0),
              "%" G_GSIZE_FORMAT " bytes after %u replies are not the start of a pong frame",
              rest, n_pongs);

  if (expected->error_code == 0)
    fuzz_check (n_pongs == expected->messages->len,
                "%u replies to a stream of %u messages", n_pongs, expected->messages->len);
  else
    fuzz_check (n_pongs <= expected->messages->len,
                "%u replies to a stream of %u messages before its error %d",
                n_pongs, expected->messages->len, expected->error_code);

  if (witnessed)
    {
      if (expected->error_code == 0)
        fuzz_check (n_seen == expected->messages->len,
                    "the server received %u messages of %u", n_seen, expected->messages->len);
      fuzz_check (n_pongs <= n_seen, "%u replies to %u messages", n_pongs, n_seen);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  FuzzInput input;
  FuzzDecoded expected;
  Client client = { .fd = -1 };
  Witness witness = { .expected = &expected };
  gulong handler = 0;
  gboolean read;
  guint n_fds;
  gsize pos = 0;

  if (!fuzz_input_parse (data, size, &input))
    return 0;

  fuzz_reference_decode (input.stream, input.stream_len, input.max_size, 0, &expected);
  read = !(input.option & (OPTION_READ_LATE | OPTION_CLOSE));

  n_fds = count_open_fds ();
  rabc_server_set_max_message_size (fuzz.server, input.max_size);
  if (!(input.option & OPTION_NO_HANDLER))
    handler = g_signal_connect (fuzz.server, "message-received",
                                G_CALLBACK (on_message_received), &witness);

  client.received = g_byte_array_new ();
  client.fd = client_connect ();
  run_server_until (has_one_client, &client, FALSE, "accept the client");

  for (gsize index = 0; pos < input.stream_len && !client.write_closed; index++)
    {
      gsize piece = MIN (fuzz_input_chunk_size (&input, index), input.stream_len - pos);

      client_write (&client, input.stream + pos, piece, read);
      pos += piece;
      run_server (&client, read);
    }

  if (input.option & OPTION_CLOSE)
    {
      close (client.fd);
      client.fd = -1;
      run_server_until (has_no_client, &client, FALSE, "drop a client that closed its socket");
    }
  else
    {
      shutdown (client.fd, SHUT_WR);
      run_server_until (saw_eof, &client, TRUE, "close the connection after the client's end");
      check_replies (client.received, &expected, witness.n_seen, handler != 0);
      close (client.fd);
      client.fd = -1;
    }

  fuzz_check (rabc_server_get_n_clients (fuzz.server) == 0,
              "%u clients left", rabc_server_get_n_clients (fuzz.server));
  /* Let the server see anything left over before counting descriptors. */
  run_server (&client, FALSE);
  fuzz_check (count_open_fds () == n_fds, "%u descriptors open instead of %u",
              count_open_fds (), n_fds);

  if (handler != 0)
    g_signal_handler_disconnect (fuzz.server, handler);
  g_byte_array_unref (client.received);
  fuzz_decoded_clear (&expected);
  return 0;
}
