/* test-connection.c: the framed connection's bounds, on a socket pair
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rabc-connection-private.h"
#include "rabc-frame-private.h"
#include "rabc-test-util.h"

#define PING_FRAME_SIZE (RABC_FRAME_HEADER_SIZE + 4)

/* When not -1, how many bytes the next sendmsg() of this process may
 * write: a test makes a short write stop where it wants, inside a frame's
 * header for instance, which no real socket can be made to do. */
static gssize sendmsg_limit = -1;

ssize_t
sendmsg (int                  fd,
         const struct msghdr *msg,
         int                  flags)
{
  static ssize_t (*real_sendmsg) (int, const struct msghdr *, int);
  struct iovec iov[8];
  struct msghdr limited = *msg;
  gsize left;

  if (real_sendmsg == NULL)
    real_sendmsg = (ssize_t (*) (int, const struct msghdr *, int)) dlsym (RTLD_NEXT, "sendmsg");
  if (sendmsg_limit < 0)
    return real_sendmsg (fd, msg, flags);

  g_assert_cmpuint (msg->msg_iovlen, <=, G_N_ELEMENTS (iov));
  left = sendmsg_limit;
  sendmsg_limit = -1;
  limited.msg_iov = iov;
  limited.msg_iovlen = 0;
  for (gsize i = 0; i < msg->msg_iovlen && left > 0; i++)
    {
      iov[i].iov_base = msg->msg_iov[i].iov_base;
      iov[i].iov_len = MIN (msg->msg_iov[i].iov_len, left);
      left -= iov[i].iov_len;
      limited.msg_iovlen++;
    }
  return real_sendmsg (fd, &limited, flags);
}

/* One end of a socket pair as a RabcConnection that answers every message
 * with "pong", as a server does; the test holds the other end, raw. */
typedef struct {
  RabcConnection *conn;
  int             peer;
  guint           n_messages;
  gsize           last_len;
  guint32         last_sum;
  GIOCondition    watched;
  GError         *error;
} Pair;

static gboolean
on_message (RabcConnection *conn,
            const char     *text,
            gsize           len,
            gpointer        user_data)
{
  Pair *pair = user_data;

  pair->n_messages++;
  pair->last_len = len;
  pair->last_sum = 0;
  for (gsize i = 0; i < len; i++)
    pair->last_sum = pair->last_sum * 31 + (guint8) text[i];
  return rabc_connection_queue_message (conn, "pong", 4, NULL);
}

static void
on_failed (RabcConnection *conn,
           const GError   *error,
           gpointer        user_data)
{
  Pair *pair = user_data;

  g_clear_error (&pair->error);
  pair->error = g_error_copy (error);
}

static void
on_watch (RabcConnection *conn,
          GIOCondition    events,
          gpointer        user_data)
{
  Pair *pair = user_data;

  pair->watched = events;
}

static const RabcConnectionFuncs funcs = {
  .message = on_message,
  .failed = on_failed,
  .watch = on_watch,
};

static void
pair_init (Pair  *pair,
           gsize  read_size,
           gsize  output_limit)
{
  int fds[2];

  memset (pair, 0, sizeof *pair);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==, 0);
  pair->conn = rabc_connection_new (fds[0], 1024 * 1024, &funcs, pair);
  pair->peer = fds[1];
  pair->watched = G_IO_IN;
  if (read_size > 0)
    rabc_connection_set_read_policy (pair->conn, read_size, 64 * 1024, output_limit);
}

static void
pair_clear (Pair *pair)
{
  rabc_connection_unref (pair->conn);
  close (pair->peer);
  g_clear_error (&pair->error);
}

/* Writes what the socket takes of @len bytes of pings, from the peer. */
static gsize
peer_send_pings (Pair  *pair,
                 gsize  n_pings)
{
  g_autofree guint8 *pings = g_malloc (n_pings * PING_FRAME_SIZE);
  gsize sent = 0;

  for (gsize i = 0; i < n_pings; i++)
    rabc_frame_write (pings + i * PING_FRAME_SIZE, "ping", 4);
  while (sent < n_pings * PING_FRAME_SIZE)
    {
      ssize_t n = send (pair->peer, pings + sent, n_pings * PING_FRAME_SIZE - sent, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        break;
      sent += n;
    }
  return sent;
}

/* Reads up to @max bytes the connection wrote, without waiting. */
static gsize
peer_drain (Pair  *pair,
            gsize  max)
{
  guint8 buffer[64 * 1024];
  gsize total = 0;

  while (total < max)
    {
      ssize_t n = recv (pair->peer, buffer, MIN (sizeof buffer, max - total), MSG_DONTWAIT);

      if (n <= 0)
        break;
      total += n;
    }
  return total;
}

static gsize
unread_by_connection (Pair *pair)
{
  int queued = 0;

  g_assert_cmpint (ioctl (rabc_connection_get_fd (pair->conn), FIONREAD, &queued), ==, 0);
  return queued;
}

static gsize
unread_by_peer (Pair *pair)
{
  int queued = 0;

  g_assert_cmpint (ioctl (pair->peer, FIONREAD, &queued), ==, 0);
  return queued;
}

/* Held output: reads queue their replies and write none, nor ask the
 * owner to watch for writing; releasing writes them all, and a connection
 * not held writes its replies as it reads. */
static void
test_connection_hold_output (void)
{
  Pair pair;

  pair_init (&pair, 64 * 1024, 1024 * 1024);
  g_assert_cmpuint (peer_send_pings (&pair, 10), ==, 10 * PING_FRAME_SIZE);

  rabc_connection_hold_output (pair.conn, TRUE);
  rabc_connection_handle_io (pair.conn, G_IO_IN | G_IO_OUT);
  g_assert_no_error (pair.error);
  g_assert_cmpuint (pair.n_messages, ==, 10);
  g_assert_cmpuint (unread_by_peer (&pair), ==, 0);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, 10 * PING_FRAME_SIZE);
  g_assert_true (pair.watched == G_IO_IN);

  rabc_connection_hold_output (pair.conn, FALSE);
  g_assert_cmpuint (unread_by_peer (&pair), ==, 10 * PING_FRAME_SIZE);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, 0);

  g_assert_cmpuint (peer_send_pings (&pair, 3), ==, 3 * PING_FRAME_SIZE);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (unread_by_peer (&pair), ==, 13 * PING_FRAME_SIZE);
  pair_clear (&pair);
}

/* A server's read share: one call takes at most one read of read_size
 * bytes between frames, so a client pipelining thousands of requests gets
 * a bounded number answered per round, and the others their turn. */
static void
test_connection_read_share (void)
{
  const guint n_pings = 64 * 1024 / PING_FRAME_SIZE;
  guint rounds = 0;
  Pair pair;

  pair_init (&pair, 1024, 1024 * 1024);
  g_assert_cmpuint (peer_send_pings (&pair, n_pings), ==, n_pings * PING_FRAME_SIZE);

  while (pair.n_messages < n_pings)
    {
      guint before = pair.n_messages;

      rabc_connection_handle_io (pair.conn, G_IO_IN);
      g_assert_no_error (pair.error);
      g_assert_cmpuint (pair.n_messages - before, >, 0);
      g_assert_cmpuint (pair.n_messages - before, <=, 1024 / RABC_FRAME_HEADER_SIZE + 1);
      peer_drain (&pair, G_MAXSIZE);
      rounds++;
    }
  g_test_message ("%u pings in one write, answered in %u rounds", n_pings, rounds);
  g_assert_cmpuint (rounds, >=, n_pings * PING_FRAME_SIZE / 1024);

  /* Without a policy, as a client reads: 64 KiB at once. */
  pair_clear (&pair);
  pair_init (&pair, 0, 0);
  peer_send_pings (&pair, n_pings);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (pair.n_messages, ==, n_pings);
  pair_clear (&pair);
}

/* A frame longer than the read share is still read whole in one call: the
 * share bounds the messages per round, not the bytes of one message. */
static void
test_connection_large_frame (void)
{
  const gsize len = 60 * 1024;
  g_autofree guint8 *frame = g_malloc (RABC_FRAME_HEADER_SIZE + len);
  Pair pair;

  memset (frame + RABC_FRAME_HEADER_SIZE, 'a', len);
  rabc_frame_write (frame, (const char *) frame + RABC_FRAME_HEADER_SIZE, len);
  pair_init (&pair, 1024, 1024 * 1024);
  g_assert_cmpint (send (pair.peer, frame, RABC_FRAME_HEADER_SIZE + len, 0), ==,
                   RABC_FRAME_HEADER_SIZE + len);

  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_no_error (pair.error);
  g_assert_cmpuint (pair.n_messages, ==, 1);
  g_assert_cmpuint (pair.last_len, ==, len);
  g_assert_false (rabc_connection_is_mid_frame (pair.conn));
  pair_clear (&pair);
}

/* Sends @len bytes from the peer, waiting for room as needed. */
static void
peer_send_all (Pair         *pair,
               const guint8 *data,
               gsize         len)
{
  while (len > 0)
    {
      ssize_t n = send (pair->peer, data, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (n, >, 0);
      data += n;
      len -= n;
    }
}

/* Reads a frame of @len bytes under a read policy of @read_size and
 * @budget: each call takes at most @budget bytes, and the frame takes as
 * few calls as that allows. */
static void
check_read_budget (gsize read_size,
                   gsize budget,
                   gsize len)
{
  g_autofree guint8 *frame = g_malloc (RABC_FRAME_HEADER_SIZE + len);
  int sndbuf = 4 * len;
  guint calls = 0;
  int fds[2];
  Pair pair;

  memset (frame + RABC_FRAME_HEADER_SIZE, 'a', len);
  rabc_frame_write (frame, (const char *) frame + RABC_FRAME_HEADER_SIZE, len);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), ==, 0);
  memset (&pair, 0, sizeof pair);
  pair.conn = rabc_connection_new (fds[0], 1024 * 1024, &funcs, &pair);
  pair.peer = fds[1];
  /* Room for the whole frame in the socket. */
  g_assert_cmpint (setsockopt (pair.peer, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), ==, 0);
  rabc_connection_set_read_policy (pair.conn, read_size, budget, 1024 * 1024);
  peer_send_all (&pair, frame, RABC_FRAME_HEADER_SIZE + len);

  while (pair.n_messages == 0)
    {
      guint64 before = rabc_connection_get_bytes_moved (pair.conn);

      rabc_connection_handle_io (pair.conn, G_IO_IN);
      g_assert_no_error (pair.error);
      g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn) - before, <=, budget);
      calls++;
    }
  g_assert_cmpuint (pair.last_len, ==, len);
  g_assert_cmpuint (calls, ==, (RABC_FRAME_HEADER_SIZE + len + budget - 1) / budget);
  pair_clear (&pair);
}

/* With a smaller budget, as when many clients are ready at once, a long
 * frame is read a budget per call: the others' turn comes sooner.  A
 * budget may exceed a read between frames: a frame of 64 KiB, header
 * included, then comes in one call. */
static void
test_connection_read_budget (void)
{
  check_read_budget (1024, 10 * 1024, 60 * 1024);
  check_read_budget (RABC_CONNECTION_READ_SIZE, 128 * 1024, 64 * 1024);
  check_read_budget (RABC_CONNECTION_READ_SIZE, 128 * 1024, 150 * 1024);
}

/* A peer that always leaves some 600 KB of replies unread and otherwise
 * reads as fast as it sends: the output written is released as it goes,
 * so the buffer stays near what is queued instead of growing with what
 * was ever sent. */
static void
test_connection_output_released (void)
{
  const gsize unread = 600 * 1000;
  const gsize total = 64 * 1024 * 1024;
  gsize queued_bytes = 0, read_bytes = 0, max_allocated = 0;
  Pair pair;

  pair_init (&pair, 0, 0);
  while (queued_bytes < total)
    {
      for (guint i = 0; i < 4096; i++)
        g_assert_true (rabc_connection_queue_message (pair.conn, "pong", 4, NULL));
      queued_bytes += 4096 * PING_FRAME_SIZE;
      rabc_connection_flush (pair.conn);
      g_assert_no_error (pair.error);

      if (queued_bytes - read_bytes > unread)
        read_bytes += peer_drain (&pair, queued_bytes - read_bytes - unread);
      rabc_connection_flush (pair.conn);
      max_allocated = MAX (max_allocated, rabc_connection_get_allocated (pair.conn));
      g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <=,
                        2 * rabc_connection_get_queued (pair.conn) + 2 * 4096 * PING_FRAME_SIZE);
    }
  g_test_message ("64 MiB of replies with 600 KB left unread: at most %" G_GSIZE_FORMAT
                  " bytes allocated", max_allocated);
  g_assert_cmpuint (max_allocated, <, 4 * 1024 * 1024);

  /* Drained, the buffer goes, unless small. */
  while (rabc_connection_get_queued (pair.conn) > 0)
    {
      peer_drain (&pair, G_MAXSIZE);
      rabc_connection_flush (pair.conn);
    }
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <=, 4096);
  g_assert_cmpuint (pair.watched & G_IO_OUT, ==, 0);
  pair_clear (&pair);
}

/* A peer that takes a large backlog slowly: the buffer gives back what it
 * no longer needs as it goes, not only once drained. */
static void
test_connection_output_shrinks (void)
{
  gsize initial, smallest;
  Pair pair;

  pair_init (&pair, 0, 0);
  for (guint i = 0; i < 64 * 1024; i++)
    g_assert_true (rabc_connection_queue_message (pair.conn, "pong", 4, NULL));
  rabc_connection_flush (pair.conn);
  initial = smallest = rabc_connection_get_allocated (pair.conn);
  g_assert_cmpuint (initial, >=, 512 * 1024);

  while (rabc_connection_get_queued (pair.conn) > 0)
    {
      smallest = MIN (smallest, rabc_connection_get_allocated (pair.conn));
      peer_drain (&pair, 4096);
      rabc_connection_flush (pair.conn);
    }
  g_test_message ("%" G_GSIZE_FORMAT " bytes allocated at first, %" G_GSIZE_FORMAT
                  " at the least while output was left", initial, smallest);
  g_assert_cmpuint (smallest, <=, initial / 4);
  pair_clear (&pair);
}

/* With an output limit, a peer that does not read its replies is not read
 * either once the limit is reached: its requests stay in the socket, and
 * the connection stops watching for input until the replies are taken. */
static void
test_connection_waits_for_output (void)
{
  const gsize limit = 16 * 1024;
  guint64 moved;
  Pair pair;

  pair_init (&pair, 1024, limit);
  peer_send_pings (&pair, 64 * 1024);   /* as much as the socket takes */

  for (guint i = 0; i < 100000 && rabc_connection_get_queued (pair.conn) < limit; i++)
    rabc_connection_handle_io (pair.conn, G_IO_IN | G_IO_OUT);
  g_assert_no_error (pair.error);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), >=, limit);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), <, limit + 129 * PING_FRAME_SIZE);
  /* The buffer grew no larger than that either: doubling stops at the
   * limit. */
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <=, limit + 129 * PING_FRAME_SIZE);
  g_assert_cmpuint (pair.watched, ==, G_IO_OUT);

  /* Called again, it reads nothing: the requests wait in the socket. */
  moved = rabc_connection_get_bytes_moved (pair.conn);
  g_assert_cmpuint (unread_by_connection (&pair), >, 0);
  rabc_connection_handle_io (pair.conn, G_IO_IN | G_IO_OUT);
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, moved);
  g_assert_true (rabc_connection_is_mid_frame (pair.conn));

  /* Once the peer reads, the connection reads again. */
  peer_drain (&pair, G_MAXSIZE);
  rabc_connection_handle_io (pair.conn, G_IO_OUT);
  g_assert_cmpuint (pair.watched & G_IO_IN, ==, G_IO_IN);
  moved = rabc_connection_get_bytes_moved (pair.conn);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), >, moved);
  pair_clear (&pair);
}

/* What the owner's timeouts and budget see: a header alone is the middle
 * of a frame but costs no memory; every byte moved counts as progress. */
static void
test_connection_accounting (void)
{
  guint64 header = 1024 * 1024 - 1;
  Pair pair;

  pair_init (&pair, 1024, 1024 * 1024);
  g_assert_false (rabc_connection_is_mid_frame (pair.conn));
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, 0);

  g_assert_cmpint (send (pair.peer, &header, 5, 0), ==, 5);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_true (rabc_connection_is_mid_frame (pair.conn));
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, 5);
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), ==, 0);

  g_assert_cmpint (send (pair.peer, (guint8 *) &header + 5, 3, 0), ==, 3);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_true (rabc_connection_is_mid_frame (pair.conn));
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), ==, 0);

  g_assert_cmpint (send (pair.peer, "abcd", 4, 0), ==, 4);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, 12);
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), >=, 4);
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <, 8);
  pair_clear (&pair);
}

static GByteArray *
frame_of (const char *text,
          gsize       len)
{
  GByteArray *wire = g_byte_array_new ();

  rabc_frame_encode (wire, text, len);
  return wire;
}

/* Reads everything the connection writes into @into, flushing it meanwhile,
 * until @total bytes came. */
static void
peer_collect (Pair       *pair,
              GByteArray *into,
              gsize       total)
{
  guint8 buffer[16 * 1024];

  while (into->len < total)
    {
      ssize_t n = recv (pair->peer, buffer, sizeof buffer, MSG_DONTWAIT);

      if (n > 0)
        g_byte_array_append (into, buffer, n);
      else
        {
          g_assert_true (n < 0 && (errno == EAGAIN || errno == EINTR));
          g_assert_true (rabc_connection_flush (pair->conn));
          g_assert_cmpuint (rabc_connection_get_queued (pair->conn) > 0 ||
                            into->len + unread_by_peer (pair) >= total, ==, TRUE);
        }
    }
  g_assert_cmpuint (into->len, ==, total);
}

/* A long message with nothing queued goes out at once, header and payload
 * in one call, and only what a small send buffer did not take is queued,
 * in order before anything queued after it; short ones are queued. */
static void
test_connection_writev_partial (void)
{
  const gsize len = 200 * 1024;
  g_autofree char *text = g_malloc (len);
  g_autofree char *second = g_malloc (20 * 1024);
  g_autoptr(GByteArray) expected = NULL;
  g_autoptr(GByteArray) second_wire = NULL;
  g_autoptr(GByteArray) got = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  int sndbuf = 4096;
  guint64 moved;
  Pair pair;

  for (gsize i = 0; i < len; i++)
    text[i] = 'a' + i % 26;
  memset (second, 'z', 20 * 1024);
  expected = frame_of (text, len);
  second_wire = frame_of (second, 20 * 1024);

  pair_init (&pair, 0, 0);
  g_assert_cmpint (setsockopt (rabc_connection_get_fd (pair.conn), SOL_SOCKET, SO_SNDBUF,
                               &sndbuf, sizeof sndbuf), ==, 0);

  /* A short message is queued, not written. */
  g_assert_true (rabc_connection_queue_message (pair.conn, "pong", 4, &error));
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, 0);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, PING_FRAME_SIZE);
  g_assert_true (rabc_connection_flush (pair.conn));
  peer_collect (&pair, got, PING_FRAME_SIZE);
  g_byte_array_set_size (got, 0);
  moved = rabc_connection_get_bytes_moved (pair.conn);

  /* The long one: partly written at once, the rest queued. */
  g_assert_true (rabc_connection_queue_message (pair.conn, text, len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), >, moved);
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn) - moved +
                    rabc_connection_get_queued (pair.conn), ==, expected->len);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), >, 0);

  /* Queued behind it, not written at once, though long. */
  moved = rabc_connection_get_bytes_moved (pair.conn);
  g_assert_true (rabc_connection_queue_message (pair.conn, second, 20 * 1024, &error));
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, moved);

  g_byte_array_append (expected, second_wire->data, second_wire->len);
  peer_collect (&pair, got, expected->len);
  g_assert_cmpmem (got->data, got->len, expected->data, expected->len);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, 0);
  pair_clear (&pair);
}

/* A long message's sendmsg() that stops anywhere, inside the header too,
 * leaves just the rest queued, and the peer gets the frame whole. */
static void
test_connection_writev_short (void)
{
  const gsize len = 32 * 1024;
  g_autofree char *text = g_malloc (len);
  g_autoptr(GByteArray) expected = NULL;

  for (gsize i = 0; i < len; i++)
    text[i] = 'a' + i % 26;
  expected = frame_of (text, len);

  for (gssize limit = 1; limit <= RABC_FRAME_HEADER_SIZE + 2; limit++)
    {
      g_autoptr(GByteArray) got = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      Pair pair;

      pair_init (&pair, 0, 0);
      sendmsg_limit = limit;
      g_assert_true (rabc_connection_queue_message (pair.conn, text, len, &error));
      g_assert_no_error (error);
      g_assert_cmpint (sendmsg_limit, ==, -1);
      g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, limit);
      g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, expected->len - limit);

      peer_collect (&pair, got, expected->len);
      g_assert_cmpmem (got->data, got->len, expected->data, expected->len);
      pair_clear (&pair);
    }
}

/* With the send buffer full, a long message is all queued, intact. */
static void
test_connection_writev_full (void)
{
  const gsize len = 64 * 1024;
  g_autofree char *text = g_malloc (len);
  g_autoptr(GByteArray) expected = NULL;
  g_autoptr(GByteArray) got = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint8 junk[1024];
  gsize n_junk = 0;
  guint64 moved;
  Pair pair;

  memset (text, 'q', len);
  memset (junk, 'j', sizeof junk);
  expected = frame_of (text, len);
  pair_init (&pair, 0, 0);
  while (send (rabc_connection_get_fd (pair.conn), junk, sizeof junk, MSG_DONTWAIT) > 0)
    n_junk += sizeof junk;
  g_assert_cmpint (errno, ==, EAGAIN);

  moved = rabc_connection_get_bytes_moved (pair.conn);
  g_assert_true (rabc_connection_queue_message (pair.conn, text, len, &error));
  g_assert_cmpuint (rabc_connection_get_bytes_moved (pair.conn), ==, moved);
  g_assert_cmpuint (rabc_connection_get_queued (pair.conn), ==, expected->len);

  peer_collect (&pair, got, n_junk + expected->len);
  g_assert_cmpmem (got->data + n_junk, got->len - n_junk, expected->data, expected->len);
  pair_clear (&pair);
}

/* The buffer of a long message is kept while long messages go on, counted
 * in what the connection holds, and given back after a round of short
 * ones, or when the owner asks. */
static void
test_connection_buffer_kept (void)
{
  const gsize len = 64 * 1024;
  g_autofree char *text = g_malloc (len);
  g_autoptr(GByteArray) wire = NULL;
  g_autoptr(GByteArray) ping = frame_of ("ping", 4);
  Pair pair;

  memset (text, 'k', len);
  wire = frame_of (text, len);
  pair_init (&pair, 16 * 1024, 1024 * 1024);

  for (guint i = 1; i <= 3; i++)
    {
      peer_send_all (&pair, wire->data, wire->len);
      while (pair.n_messages < i)
        {
          rabc_connection_handle_io (pair.conn, G_IO_IN);
          g_assert_no_error (pair.error);
        }
      g_assert_cmpuint (pair.last_len, ==, len);
      g_assert_false (rabc_connection_is_mid_frame (pair.conn));
      g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), >=, len);
      peer_drain (&pair, G_MAXSIZE);
    }

  /* A round of a short message gives it back. */
  peer_send_all (&pair, ping->data, ping->len);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (pair.n_messages, ==, 4);
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <, 8 * 1024);
  g_assert_false (rabc_connection_release_buffers (pair.conn));

  /* Or the owner, between messages. */
  peer_send_all (&pair, wire->data, wire->len);
  while (pair.n_messages < 5)
    rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), >=, len);
  g_assert_true (rabc_connection_release_buffers (pair.conn));
  g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), <, 8 * 1024);

  /* Not in the middle of one. */
  peer_send_all (&pair, wire->data, wire->len / 2);
  rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_true (rabc_connection_is_mid_frame (pair.conn));
  g_assert_false (rabc_connection_release_buffers (pair.conn));
  peer_send_all (&pair, wire->data + wire->len / 2, wire->len - wire->len / 2);
  while (pair.n_messages < 6)
    rabc_connection_handle_io (pair.conn, G_IO_IN);
  g_assert_cmpuint (pair.last_len, ==, len);
  pair_clear (&pair);
}


/* The frame of @len bytes of 'a' to 'z', header included. */
static guint8 *
make_frame (gsize len)
{
  guint8 *frame = g_malloc (RABC_FRAME_HEADER_SIZE + len);

  for (gsize i = 0; i < len; i++)
    frame[RABC_FRAME_HEADER_SIZE + i] = 'a' + i % 26;
  rabc_frame_write (frame, (const char *) frame + RABC_FRAME_HEADER_SIZE, len);
  return frame;
}

#define SHARED_SIZE (RABC_FRAME_HEADER_SIZE + 128 * 1024)

static void
shared_pair_init (Pair  *pair,
                  gsize  budget)
{
  int sndbuf = 1024 * 1024;

  pair_init (pair, 1024, 1024 * 1024);
  rabc_connection_set_read_policy (pair->conn, 1024, budget, 1024 * 1024);
  /* Room in the socket for the frames of these tests (as root). */
  setsockopt (pair->peer, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf);
}

/* Two connections read through one buffer, frames of up to its size
 * received whole there: the messages are right, and a connection holds
 * no more than a read between frames for them, where it would hold a
 * buffer the size of its frame without the shared one. */
static void
test_connection_whole_frames_shared (void)
{
  const gsize lens[] = { 100, 60 * 1024, 64 * 1024, 128 * 1024, 200 * 1024 };
  g_autofree guint8 *shared = g_malloc (SHARED_SIZE);
  Pair pairs[2];

  for (guint p = 0; p < 2; p++)
    shared_pair_init (&pairs[p], 1024 + 128 * 1024);

  for (guint i = 0; i < G_N_ELEMENTS (lens); i++)
    {
      g_autofree guint8 *frame = make_frame (lens[i]);
      gsize most = 0;
      guint32 sum = 0;

      for (gsize j = 0; j < lens[i]; j++)
        sum = sum * 31 + frame[RABC_FRAME_HEADER_SIZE + j];
      for (guint p = 0; p < 2; p++)
        peer_send_all (&pairs[p], frame, RABC_FRAME_HEADER_SIZE + lens[i]);
      while (pairs[0].n_messages <= i || pairs[1].n_messages <= i)
        for (guint p = 0; p < 2; p++)
          {
            rabc_connection_handle_io_into (pairs[p].conn, G_IO_IN, shared, SHARED_SIZE);
            g_assert_no_error (pairs[p].error);
            most = MAX (most, rabc_connection_get_allocated (pairs[p].conn));
            peer_drain (&pairs[p], G_MAXSIZE);
          }
      for (guint p = 0; p < 2; p++)
        {
          g_assert_cmpuint (pairs[p].last_len, ==, lens[i]);
          g_assert_cmpuint (pairs[p].last_sum, ==, sum);
          g_assert_false (rabc_connection_is_receiving (pairs[p].conn));
        }
      g_test_message ("%" G_GSIZE_FORMAT " bytes: at most %" G_GSIZE_FORMAT " held",
                      lens[i], most);
      /* The output buffer kept (4 KiB) and a read between frames. */
      if (RABC_FRAME_HEADER_SIZE + lens[i] <= SHARED_SIZE)
        g_assert_cmpuint (most, <=, 4096 + 2048);
      else
        g_assert_cmpuint (most, >, 128 * 1024);
    }

  for (guint p = 0; p < 2; p++)
    pair_clear (&pairs[p]);
}

/* The rest of a frame that fits in the shared buffer is read whole or not
 * at all: under a smaller budget it waits, and comes in one call once the
 * budget holds it. */
static void
test_connection_whole_frame_waits_for_budget (void)
{
  const gsize len = 60 * 1024;
  g_autofree guint8 *frame = make_frame (len);
  g_autofree guint8 *shared = g_malloc (SHARED_SIZE);
  guint64 received;
  Pair pair;

  shared_pair_init (&pair, 10 * 1024);
  peer_send_all (&pair, frame, RABC_FRAME_HEADER_SIZE + len);

  rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
  received = rabc_connection_get_bytes_received (pair.conn);
  g_assert_cmpuint (received, ==, 1024);
  for (guint i = 0; i < 3; i++)
    {
      rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
      g_assert_cmpuint (rabc_connection_get_bytes_received (pair.conn), ==, received);
      g_assert_true (rabc_connection_is_receiving (pair.conn));
    }

  rabc_connection_set_read_policy (pair.conn, 1024, 1024 + 128 * 1024, 1024 * 1024);
  rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
  g_assert_no_error (pair.error);
  g_assert_cmpuint (pair.n_messages, ==, 1);
  g_assert_cmpuint (pair.last_len, ==, len);
  g_assert_cmpuint (rabc_connection_get_bytes_received (pair.conn), ==,
                    RABC_FRAME_HEADER_SIZE + len);
  pair_clear (&pair);
}

/* A frame that arrives a piece at a time: once its rest came short, it is
 * collected in the connection's own buffer, so that a slow sender cannot
 * have it copied in and out each call; and a peer that closes in the
 * middle of it fails the connection, the bytes held included. */
static void
test_connection_whole_frame_arriving_slowly (void)
{
  const gsize len = 64 * 1024;
  g_autofree guint8 *frame = make_frame (len);
  g_autofree guint8 *shared = g_malloc (SHARED_SIZE);
  gsize sent = 0;
  Pair pair;

  shared_pair_init (&pair, 1024 + 128 * 1024);
  while (sent < RABC_FRAME_HEADER_SIZE + len)
    {
      gsize piece = MIN (5000, RABC_FRAME_HEADER_SIZE + len - sent);

      peer_send_all (&pair, frame + sent, piece);
      sent += piece;
      rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
      g_assert_no_error (pair.error);
      if (sent >= 10000 && sent < RABC_FRAME_HEADER_SIZE + len)
        g_assert_cmpuint (rabc_connection_get_allocated (pair.conn), >=,
                          sent - RABC_FRAME_HEADER_SIZE);
    }
  g_assert_cmpuint (pair.n_messages, ==, 1);
  g_assert_cmpuint (pair.last_len, ==, len);

  /* Part of a frame, held in the shared buffer when the peer closes. */
  peer_send_all (&pair, frame, 1000);
  rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
  g_assert_true (rabc_connection_is_receiving (pair.conn));
  shutdown (pair.peer, SHUT_WR);
  rabc_connection_handle_io_into (pair.conn, G_IO_IN, shared, SHARED_SIZE);
  g_assert_nonnull (pair.error);
  g_assert_true (rabc_connection_is_closed (pair.conn));
  pair_clear (&pair);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/connection/read-share", test_connection_read_share);
  g_test_add_func ("/rabc/connection/large-frame", test_connection_large_frame);
  g_test_add_func ("/rabc/connection/read-budget", test_connection_read_budget);
  g_test_add_func ("/rabc/connection/output-released", test_connection_output_released);
  g_test_add_func ("/rabc/connection/output-shrinks", test_connection_output_shrinks);
  g_test_add_func ("/rabc/connection/waits-for-output", test_connection_waits_for_output);
  g_test_add_func ("/rabc/connection/accounting", test_connection_accounting);
  g_test_add_func ("/rabc/connection/writev-partial", test_connection_writev_partial);
  g_test_add_func ("/rabc/connection/writev-short", test_connection_writev_short);
  g_test_add_func ("/rabc/connection/writev-full", test_connection_writev_full);
  g_test_add_func ("/rabc/connection/buffer-kept", test_connection_buffer_kept);
  g_test_add_func ("/rabc/connection/whole-frames-in-a-shared-buffer",
                   test_connection_whole_frames_shared);
  g_test_add_func ("/rabc/connection/whole-frame-waits-for-budget",
                   test_connection_whole_frame_waits_for_budget);
  g_test_add_func ("/rabc/connection/hold-output", test_connection_hold_output);
  g_test_add_func ("/rabc/connection/whole-frame-arriving-slowly",
                   test_connection_whole_frame_arriving_slowly);

  return g_test_run ();
}
