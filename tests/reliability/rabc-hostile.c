/* rabc-hostile: what a hostile local user does to rabcd, as a process of
 * its own, so that the tests can run it as another user (setpriv)
 *
 *   rabc-hostile hold PATH MAX           connections until one is refused
 *   rabc-hostile partial PATH N BYTES    N frames of 1 MiB - 1, BYTES sent
 *   rabc-hostile flood PATH SECONDS      connect and hang up, again and again
 *
 * hold and partial print one line saying what they did, then keep their
 * connections open until their standard input ends.  Exit status 0, or 1
 * with a message when something unexpected failed.
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#define HEADER_SIZE 8
#define REPLY_TIMEOUT_MS 10000

static int
connect_to (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  while (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      if (errno == EINTR)
        continue;
      close (fd);
      return -1;
    }
  return fd;
}

static gboolean
send_all (int         fd,
          const void *data,
          gsize       len)
{
  const char *p = data;

  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= n;
    }
  return TRUE;
}

/* Sends a ping; returns TRUE when a pong comes back, FALSE when the
 * daemon closes the connection instead. */
static gboolean
ping (int fd)
{
  guint8 frame[HEADER_SIZE + 4];
  guint64 len = 4;
  gsize got = 0;

  memcpy (frame, &len, HEADER_SIZE);
  memcpy (frame + HEADER_SIZE, "ping", 4);
  if (!send_all (fd, frame, sizeof frame))
    return FALSE;

  while (got < sizeof frame)
    {
      struct pollfd pfd = { .fd = fd, .events = POLLIN };
      ssize_t n;

      if (poll (&pfd, 1, REPLY_TIMEOUT_MS) == 0)
        {
          fprintf (stderr, "rabc-hostile: no reply and no close within %d ms\n", REPLY_TIMEOUT_MS);
          exit (1);
        }
      n = recv (fd, frame + got, sizeof frame - got, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      got += n;
    }
  return memcmp (frame + HEADER_SIZE, "pong", 4) == 0;
}

static void
wait_for_stdin_end (void)
{
  char buffer[64];

  while (read (STDIN_FILENO, buffer, sizeof buffer) > 0)
    ;
}

static int
cmd_hold (const char *path,
          guint       max)
{
  guint held = 0;

  for (; held < max; held++)
    {
      int fd = connect_to (path);

      if (fd < 0 || !ping (fd))
        {
          if (fd >= 0)
            close (fd);
          break;
        }
    }
  printf ("held %u\n", held);
  fflush (stdout);
  wait_for_stdin_end ();
  return 0;
}

static int
cmd_partial (const char *path,
             guint       n,
             gsize       bytes)
{
  g_autofree char *filler = g_malloc (bytes);
  guint64 len = 1024 * 1024 - 1;
  guint closed = 0;

  memset (filler, 'a', bytes);
  for (guint i = 0; i < n; i++)
    {
      int fd = connect_to (path);

      if (fd < 0)
        {
          fprintf (stderr, "rabc-hostile: cannot connect: %s\n", g_strerror (errno));
          return 1;
        }
      if (!send_all (fd, &len, sizeof len) || !send_all (fd, filler, bytes))
        closed++;
    }
  printf ("sent %u, %u closed by the daemon\n", n, closed);
  fflush (stdout);
  wait_for_stdin_end ();
  return 0;
}

static int
cmd_flood (const char *path,
           guint       seconds)
{
  gint64 end = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  guint64 n = 0;

  while (g_get_monotonic_time () < end)
    {
      int fd = connect_to (path);

      if (fd >= 0)
        {
          char byte;

          /* Until the daemon hangs up on us. */
          while (recv (fd, &byte, 1, 0) < 0 && errno == EINTR)
            ;
          close (fd);
          n++;
        }
    }
  printf ("connected %" G_GUINT64_FORMAT " times\n", n);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  signal (SIGPIPE, SIG_IGN);

  if (argc == 4 && g_str_equal (argv[1], "hold"))
    return cmd_hold (argv[2], atoi (argv[3]));
  if (argc == 5 && g_str_equal (argv[1], "partial"))
    return cmd_partial (argv[2], atoi (argv[3]), atoi (argv[4]));
  if (argc == 4 && g_str_equal (argv[1], "flood"))
    return cmd_flood (argv[2], atoi (argv[3]));

  fprintf (stderr, "usage: rabc-hostile hold PATH MAX | partial PATH N BYTES | flood PATH SECONDS\n");
  return 2;
}
