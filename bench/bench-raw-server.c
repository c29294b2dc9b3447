/* bench-raw-server.c: the physical baseline of a server
 *
 * A single-threaded, level-triggered epoll server with no library at all:
 * per readiness event it makes one read(2) of up to 64 KiB, counts the
 * complete frames in it and answers them all with one write(2). It checks
 * frame lengths like rabcd does, but not UTF-8: it is the floor, not a
 * second implementation.  A frame may arrive in any number of reads; what
 * the socket does not take of a reply is queued and written when it can.
 *
 * With @echo it answers every frame with the frame itself, gathered whole
 * first, as rabcd --echo does.
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "bench-raw-server.h"
#include "bench-util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK_SIZE      (64 * 1024)
#define MAX_EVENTS           256
#define MAX_ACCEPTS_PER_WAKE 64

typedef struct {
  guint8   header[BENCH_FRAME_HEADER_SIZE];
  guint    header_len;
  guint64  payload_left;
  /* With echo: the frame being gathered, header included. */
  guint8  *frame;
  gsize    frame_have;
  gsize    frame_size;
  /* Replies the socket would not take yet. */
  guint8  *out;
  gsize    out_len;
  gsize    out_allocated;
  gboolean want_write;
} RawConn;

static volatile sig_atomic_t quit_requested;

static void
on_quit_signal (int signum)
{
  quit_requested = 1;
}

/* Takes what @end leaves of the next frame's header from *@p, which it
 * moves past it; the header may come in pieces.
 * Returns: whether the header is whole, its length then in @frame_len */
static gboolean
take_header (RawConn       *c,
             const guint8 **p,
             const guint8  *end,
             guint64       *frame_len)
{
  gsize k = MIN ((gsize) (BENCH_FRAME_HEADER_SIZE - c->header_len), (gsize) (end - *p));

  memcpy (c->header + c->header_len, *p, k);
  c->header_len += k;
  *p += k;
  if (c->header_len < BENCH_FRAME_HEADER_SIZE)
    return FALSE;

  c->header_len = 0;
  memcpy (frame_len, c->header, sizeof *frame_len);
  return TRUE;
}

/* Returns the number of complete frames in @data, or -1 for a frame that
 * is too long. */
static long
count_frames (RawConn      *c,
              const guint8 *data,
              gsize         len)
{
  const guint8 *p = data, *end = data + len;
  long frames = 0;

  while (p < end)
    {
      if (c->payload_left > 0)
        {
          gsize k = MIN (c->payload_left, (guint64) (end - p));

          p += k;
          c->payload_left -= k;
          if (c->payload_left == 0)
            frames++;
          continue;
        }

      {
        guint64 frame_len;

        if (!take_header (c, &p, end, &frame_len))
          break;
        if (frame_len >= BENCH_MAX_MESSAGE_SIZE)
          return -1;
        if (frame_len == 0)
          frames++;
        else
          c->payload_left = frame_len;
      }
    }

  return frames;
}

static void
conn_close (int      epoll_fd,
            RawConn *conns,
            int      fd)
{
  epoll_ctl (epoll_fd, EPOLL_CTL_DEL, fd, NULL);
  close (fd);
  g_free (conns[fd].frame);
  g_free (conns[fd].out);
  memset (&conns[fd], 0, sizeof conns[fd]);
}

static void
set_want_write (int      epoll_fd,
                RawConn *c,
                int      fd,
                gboolean want)
{
  struct epoll_event event = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = fd };

  if (c->want_write == want)
    return;
  c->want_write = want;
  epoll_ctl (epoll_fd, EPOLL_CTL_MOD, fd, &event);
}

/* Writes @data after whatever is queued; queues what the socket does not
 * take.  Returns FALSE when the connection is broken. */
static gboolean
conn_send (int           epoll_fd,
           RawConn      *c,
           int           fd,
           const guint8 *data,
           gsize         len)
{
  if (c->out_len == 0 && len > 0)
    {
      ssize_t n = send (fd, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return FALSE;
      if (n > 0)
        {
          data += n;
          len -= n;
        }
    }

  if (len > 0)
    {
      if (c->out_len + len > c->out_allocated)
        {
          c->out_allocated = MAX (c->out_len + len, 2 * c->out_allocated);
          c->out = g_realloc (c->out, c->out_allocated);
        }
      memcpy (c->out + c->out_len, data, len);
      c->out_len += len;
      set_want_write (epoll_fd, c, fd, TRUE);
    }
  return TRUE;
}

static gboolean
conn_flush (int      epoll_fd,
            RawConn *c,
            int      fd)
{
  while (c->out_len > 0)
    {
      ssize_t n = send (fd, c->out, c->out_len, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            return TRUE;
          return FALSE;
        }
      memmove (c->out, c->out + n, c->out_len - n);
      c->out_len -= n;
    }
  set_want_write (epoll_fd, c, fd, FALSE);
  return TRUE;
}

/* Echo: gathers the frames of @data and answers each with itself.
 * Returns FALSE for a frame that is too long or a broken connection. */
static gboolean
echo_frames (int           epoll_fd,
             RawConn      *c,
             int           fd,
             const guint8 *data,
             gsize         len)
{
  const guint8 *p = data, *end = data + len;

  while (p < end)
    {
      if (c->frame == NULL)
        {
          guint64 frame_len;

          if (!take_header (c, &p, end, &frame_len))
            break;
          if (frame_len >= BENCH_MAX_MESSAGE_SIZE)
            return FALSE;
          c->frame_size = BENCH_FRAME_HEADER_SIZE + frame_len;
          c->frame = g_malloc (c->frame_size);
          memcpy (c->frame, c->header, BENCH_FRAME_HEADER_SIZE);
          c->frame_have = BENCH_FRAME_HEADER_SIZE;
        }

      {
        gsize k = MIN (c->frame_size - c->frame_have, (gsize) (end - p));

        memcpy (c->frame + c->frame_have, p, k);
        c->frame_have += k;
        p += k;
      }

      if (c->frame_have == c->frame_size)
        {
          gboolean sent = conn_send (epoll_fd, c, fd, c->frame, c->frame_size);

          g_clear_pointer (&c->frame, g_free);
          if (!sent)
            return FALSE;
        }
    }
  return TRUE;
}

int
bench_raw_server_main (const char *path,
                       gboolean    echo)
{
  static guint8 buffer[READ_CHUNK_SIZE];
  static guint8 replies[READ_CHUNK_SIZE / BENCH_FRAME_HEADER_SIZE * BENCH_PING_FRAME_SIZE];
  struct epoll_event events[MAX_EVENTS];
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct sigaction action = { .sa_handler = on_quit_signal };
  struct rlimit limit;
  RawConn *conns;
  int listen_fd, epoll_fd;

  bench_frames_init ();
  bench_raise_nofile (NULL);
  getrlimit (RLIMIT_NOFILE, &limit);
  conns = g_new0 (RawConn, limit.rlim_cur);

  for (gsize i = 0; i < G_N_ELEMENTS (replies) / BENCH_PING_FRAME_SIZE; i++)
    memcpy (replies + i * BENCH_PING_FRAME_SIZE, bench_pong_frame, BENCH_PING_FRAME_SIZE);

  /* No SA_RESTART: a signal interrupts epoll_wait(). */
  sigaction (SIGTERM, &action, NULL);
  sigaction (SIGINT, &action, NULL);
  signal (SIGPIPE, SIG_IGN);

  if (strlen (path) >= sizeof addr.sun_path)
    {
      fprintf (stderr, "raw server: socket path too long: %s\n", path);
      return 1;
    }
  strcpy (addr.sun_path, path);

  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0 ||
      bind (listen_fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      listen (listen_fd, SOMAXCONN) < 0)
    {
      fprintf (stderr, "raw server: cannot listen on %s: %s\n", path, strerror (errno));
      return 1;
    }

  epoll_fd = epoll_create1 (EPOLL_CLOEXEC);
  {
    struct epoll_event event = { .events = EPOLLIN, .data.fd = listen_fd };
    epoll_ctl (epoll_fd, EPOLL_CTL_ADD, listen_fd, &event);
  }

  while (!quit_requested)
    {
      int n = epoll_wait (epoll_fd, events, MAX_EVENTS, -1);

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          fprintf (stderr, "raw server: epoll_wait: %s\n", strerror (errno));
          break;
        }

      for (int i = 0; i < n; i++)
        {
          int fd = events[i].data.fd;
          RawConn *c = &conns[fd];

          if (fd == listen_fd)
            {
              for (int k = 0; k < MAX_ACCEPTS_PER_WAKE; k++)
                {
                  int client = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                  struct epoll_event event = { .events = EPOLLIN };

                  if (client < 0)
                    {
                      if (errno == EMFILE || errno == ENFILE)
                        fprintf (stderr, "raw server: cannot accept: %s\n", strerror (errno));
                      break;
                    }
                  if ((rlim_t) client >= limit.rlim_cur)
                    {
                      close (client);
                      continue;
                    }
                  event.data.fd = client;
                  epoll_ctl (epoll_fd, EPOLL_CTL_ADD, client, &event);
                }
              continue;
            }

          if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            {
              ssize_t got = read (fd, buffer, sizeof buffer);
              long frames;

              if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
              if (got <= 0)
                {
                  conn_close (epoll_fd, conns, fd);
                  continue;
                }

              if (echo)
                {
                  if (!echo_frames (epoll_fd, c, fd, buffer, got))
                    {
                      conn_close (epoll_fd, conns, fd);
                      continue;
                    }
                  frames = 0;
                }
              else
                frames = count_frames (c, buffer, got);
              if (frames < 0 ||
                  !conn_send (epoll_fd, c, fd, replies, (gsize) frames * BENCH_PING_FRAME_SIZE))
                {
                  conn_close (epoll_fd, conns, fd);
                  continue;
                }
            }

          if ((events[i].events & EPOLLOUT) && !conn_flush (epoll_fd, c, fd))
            conn_close (epoll_fd, conns, fd);
        }
    }

  unlink (path);
  return 0;
}
