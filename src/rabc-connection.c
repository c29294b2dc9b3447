/* rabc-connection.c: a framed, non-blocking Unix socket
 *
 * SPDX-License-Identifier: MIT
 */

#define _GNU_SOURCE
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rabc-connection-private.h"
#include "rabc-error.h"
#include "rabc-frame-private.h"
#include "rabc-socket-private.h"

/* The most bytes one handle_io() reads. */
#define READ_CHUNK_SIZE RABC_CONNECTION_READ_SIZE
/* A drained output buffer this large is freed rather than kept. */
#define OUTPUT_KEEP_SIZE 4096
/* A message this long with nothing queued before it is written at once
 * rather than copied to the output buffer; shorter ones are batched. */
#define DIRECT_WRITE_SIZE (16 * 1024)

/* Output not yet written: the bytes from @start to @end of @data.  Written
 * bytes are released as they go: the rest moves to the front once the
 * written part is the larger, and the buffer is freed when drained, unless
 * small. */
typedef struct {
  guint8 *data;
  gsize   allocated;
  gsize   start;
  gsize   end;
} Output;

struct _RabcConnection {
  int                        fd;
  guint                      ref_count;
  gboolean                   closed;
  /* The peer finished sending; what is owed to it is still being written. */
  gboolean                   read_closed;
  /* See set_read_policy(). */
  gsize                      read_size;
  gsize                      read_budget;
  gsize                      output_limit;
  /* The owner takes no more messages for now: see set_paused(). */
  gboolean                   paused;
  /* Replies the owner is still to queue: see set_owed(). */
  guint                      owed;
  /* Inside handle_io(), which its callbacks must not re-enter. */
  gboolean                   in_io;
  /* Between wait_begin() and wait_end(): a thread may be blocked in a
   * system call on @fd, so closing only shuts the socket down, which wakes
   * it, and wait_end() closes @fd.  Closing it at once would let the
   * number be reused under the waiting thread. */
  gboolean                   waiting;
  GIOCondition               watched;
  RabcFrameDecoder           decoder;
  Output                     out;
  guint64                    bytes_moved;
  guint64                    bytes_received;
  /* The frame being received came short once into the owner's buffer
   * and is collected in the decoder's (see give_back_held()). */
  gboolean                   frame_spilled;
  /* Reads leave the replies they queued for the owner to write: see
   * rabc_connection_hold_output(). */
  gboolean                   holding_output;
  const RabcConnectionFuncs *funcs;
  gpointer                   user_data;
  /* SO_RCVTIMEO in milliseconds, 0 for none: see set_receive_timeout(). */
  gint64                     receive_timeout_ms;
};

static void update_watch (RabcConnection *conn);

static void
output_clear (Output *out)
{
  g_clear_pointer (&out->data, g_free);
  out->allocated = out->start = out->end = 0;
}

/* Moves the bytes not yet written to the front. */
static void
output_compact (Output *out)
{
  gsize queued = out->end - out->start;

  memmove (out->data, out->data + out->start, queued);
  out->start = 0;
  out->end = queued;
}

/* Returns room for @len more bytes at the end, or NULL when the memory
 * cannot be had.  The buffer at least doubles when it grows, but not
 * beyond @limit (when not 0) unless @len needs it. */
static guint8 *
output_reserve (Output *out,
                gsize   len,
                gsize   limit)
{
  gsize queued = out->end - out->start;

  if (out->allocated - out->end >= len)
    return out->data + out->end;

  if (out->start > 0)
    {
      output_compact (out);
      if (out->allocated - out->end >= len)
        return out->data + out->end;
    }

  if (len > G_MAXSIZE / 2 - queued)
    return NULL;
  {
    /* Doubling keeps appending linear; a limit caps it, past which the
     * owner stops adding anyway. */
    gsize size = MAX (queued + len, limit > 0 ? MIN (2 * out->allocated, limit)
                                              : 2 * out->allocated);
    guint8 *data = g_try_realloc (out->data, size);

    if (data == NULL)
      return NULL;
    out->data = data;
    out->allocated = size;
  }
  return out->data + out->end;
}

static void
output_written (Output *out,
                gsize   len)
{
  gsize queued;

  out->start += len;
  queued = out->end - out->start;

  if (queued == 0)
    {
      if (out->allocated > OUTPUT_KEEP_SIZE)
        output_clear (out);
      out->start = out->end = 0;
    }
  else if (out->start >= queued)
    {
      output_compact (out);

      /* Much larger than what is left: give the rest back, keeping room
       * to grow twice over before it has to grow again. */
      if (out->allocated > OUTPUT_KEEP_SIZE && out->allocated > 4 * queued)
        {
          gsize size = MAX (OUTPUT_KEEP_SIZE, 2 * queued);
          guint8 *data = g_try_realloc (out->data, size);

          if (data != NULL)
            {
              out->data = data;
              out->allocated = size;
            }
        }
    }
}

RabcConnection *
rabc_connection_new (int                        fd,
                     gsize                      max_message_size,
                     const RabcConnectionFuncs *funcs,
                     gpointer                   user_data)
{
  RabcConnection *conn = g_new0 (RabcConnection, 1);

  conn->fd = fd;
  conn->ref_count = 1;
  conn->watched = G_IO_IN;
  conn->read_size = READ_CHUNK_SIZE;
  conn->read_budget = READ_CHUNK_SIZE;
  conn->funcs = funcs;
  conn->user_data = user_data;
  rabc_frame_decoder_init (&conn->decoder, max_message_size);

  return conn;
}

RabcConnection *
rabc_connection_ref (RabcConnection *conn)
{
  conn->ref_count++;
  return conn;
}

void
rabc_connection_unref (RabcConnection *conn)
{
  if (--conn->ref_count > 0)
    return;

  rabc_connection_close (conn);
  rabc_frame_decoder_clear (&conn->decoder);
  g_free (conn);
}

int
rabc_connection_get_fd (RabcConnection *conn)
{
  return conn->fd;
}

gpointer
rabc_connection_get_user_data (RabcConnection *conn)
{
  return conn->user_data;
}

gboolean
rabc_connection_is_closed (RabcConnection *conn)
{
  return conn->closed;
}

gsize
rabc_connection_get_queued (RabcConnection *conn)
{
  return conn->out.end - conn->out.start;
}

/* The conditions the owner is to watch, as last reported to its watch
 * callback. */
GIOCondition
rabc_connection_get_watched (RabcConnection *conn)
{
  return conn->watched;
}

/* The memory the connection holds for its peer: the frame being received,
 * or the buffer kept for the next long one, and the output not yet
 * written. */
gsize
rabc_connection_get_allocated (RabcConnection *conn)
{
  return rabc_frame_decoder_get_allocated (&conn->decoder) + conn->out.allocated;
}

/*
 * rabc_connection_release_buffers:
 *
 * Gives back at once the buffer kept between frames for the next long
 * message, which a connection otherwise keeps until a round of input
 * takes no message of its size: for an owner over its memory budget.
 *
 * Returns: whether there was one, so that rabc_connection_get_allocated()
 *   is now smaller
 */
gboolean
rabc_connection_release_buffers (RabcConnection *conn)
{
  /* A waiting thread may be receiving into it. */
  if (conn->waiting)
    return FALSE;
  return rabc_frame_decoder_release (&conn->decoder);
}

/* Whether the connection is in the middle of a frame, in either direction:
 * a frame partly received, or output the peer has not taken yet. */
gboolean
rabc_connection_is_mid_frame (RabcConnection *conn)
{
  return !rabc_frame_decoder_is_idle (&conn->decoder) || rabc_connection_get_queued (conn) > 0;
}

/* Whether part of a frame from the peer has been received and the rest
 * not yet. */
gboolean
rabc_connection_is_receiving (RabcConnection *conn)
{
  return !rabc_frame_decoder_is_idle (&conn->decoder);
}

/* Bytes read and written so far: it changes when the connection makes
 * progress. */
guint64
rabc_connection_get_bytes_moved (RabcConnection *conn)
{
  return conn->bytes_moved;
}

/* Bytes read so far. */
guint64
rabc_connection_get_bytes_received (RabcConnection *conn)
{
  return conn->bytes_received;
}

void
rabc_connection_set_max_message_size (RabcConnection *conn,
                                      gsize           max_message_size)
{
  conn->decoder.max_size = max_message_size;
}

/*
 * rabc_connection_set_read_policy:
 * @read_size: how many bytes to ask for per read between frames, from
 *   RABC_FRAME_HEADER_SIZE to RABC_CONNECTION_READ_SIZE
 * @read_budget: the most bytes one handle_io() reads, at least @read_size
 * @output_limit: stop reading while this much output or more is queued,
 *   or 0 to read whatever is queued
 *
 * Bounds what one handle_io() takes from the peer.  A read asks for
 * @read_size bytes, so it holds at most @read_size / 8 + 1 frames; only a
 * frame that is still missing bytes is read further, in the same call,
 * until @read_budget bytes are read in all.  The default reads 64 KiB and
 * never waits.
 *
 * With an @output_limit, a peer that does not take its replies is not read
 * either once that much waits for it, until they are written: what waits
 * for it is then at most @output_limit and the replies to one read, and
 * the output buffer grows no larger than that.  A client must not wait
 * so: its peer may be doing the same.
 */
void
rabc_connection_set_read_policy (RabcConnection *conn,
                                 gsize           read_size,
                                 gsize           read_budget,
                                 gsize           output_limit)
{
  g_return_if_fail (read_size >= RABC_FRAME_HEADER_SIZE && read_size <= read_budget);
  g_return_if_fail (read_size <= READ_CHUNK_SIZE);

  conn->read_size = read_size;
  conn->read_budget = read_budget;
  conn->output_limit = output_limit;
}

/*
 * rabc_connection_set_paused:
 *
 * Stops reading from the peer, or starts again, for an owner that cannot
 * take more messages for now.  A peer that hangs up meanwhile, with
 * nothing left to write to it, fails the connection.
 */
void
rabc_connection_set_paused (RabcConnection *conn,
                            gboolean        paused)
{
  if (conn->paused == paused)
    return;

  conn->paused = paused;
  update_watch (conn);
}

/*
 * rabc_connection_hold_output:
 *
 * While @hold, handling readiness reads but leaves what it queued
 * unwritten, so that an owner reading many connections in a row writes
 * their replies together afterwards: a peer woken by each reply as it
 * comes would take the processor the owner shares with it once per
 * message.  Releasing writes what is queued.
 */
void
rabc_connection_hold_output (RabcConnection *conn,
                             gboolean        hold)
{
  conn->holding_output = hold;
  if (!hold)
    rabc_connection_flush (conn);
}

/*
 * rabc_connection_set_owed:
 *
 * Tells how many replies the owner is still to queue for messages it
 * received.  A peer that finishes sending keeps the connection open until
 * they are queued and written, as it does for output already queued.
 */
void
rabc_connection_set_owed (RabcConnection *conn,
                          guint           owed)
{
  conn->owed = owed;
}

/*
 * rabc_connection_schedule_flush:
 *
 * For output queued outside handle_io(): asks the owner to watch for
 * G_IO_OUT, so that the next handle_io() writes it (inside handle_io(),
 * its end does).  Never calls the failed callback.
 */
void
rabc_connection_schedule_flush (RabcConnection *conn)
{
  update_watch (conn);
}

/*
 * rabc_connection_close:
 *
 * Closes the socket without calling any callback and drops queued output.
 */
void
rabc_connection_close (RabcConnection *conn)
{
  if (conn->closed)
    return;

  conn->closed = TRUE;
  if (conn->waiting)
    shutdown (conn->fd, SHUT_RDWR);
  else if (conn->fd >= 0)
    {
      close (conn->fd);
      conn->fd = -1;
    }
  output_clear (&conn->out);
  /* A waiting thread may be receiving into the decoder's buffer:
   * wait_end() clears it. */
  if (!conn->waiting)
    rabc_frame_decoder_clear (&conn->decoder);
}

static void
connection_fail (RabcConnection *conn,
                 GError         *error)
{
  if (conn->closed)
    {
      g_error_free (error);
      return;
    }

  rabc_connection_ref (conn);
  conn->funcs->failed (conn, error, conn->user_data);
  rabc_connection_close (conn);
  rabc_connection_unref (conn);
  g_error_free (error);
}

static GError *
peer_closed_error (RabcConnection *conn)
{
  if (rabc_frame_decoder_is_idle (&conn->decoder))
    return g_error_new_literal (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                "connection closed by the peer");
  return g_error_new_literal (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                              "connection closed by the peer in the middle of a message");
}

static gboolean
may_read (RabcConnection *conn)
{
  return !conn->read_closed && !conn->paused &&
         !(conn->output_limit > 0 && rabc_connection_get_queued (conn) >= conn->output_limit);
}

static void
update_watch (RabcConnection *conn)
{
  GIOCondition events = 0;

  /* handle_io() updates it once, at its end: output queued and written
   * within it costs the owner no change of its watch. */
  if (conn->closed || conn->in_io)
    return;

  if (may_read (conn))
    events |= G_IO_IN;
  /* Held output is the owner's to write, without a watch. */
  if (rabc_connection_get_queued (conn) > 0 && !conn->holding_output)
    events |= G_IO_OUT;

  if (events != conn->watched)
    {
      conn->watched = events;
      conn->funcs->watch (conn, events, conn->user_data);
    }
}

static void
set_out_of_memory (GError **error,
                   gsize    len)
{
  g_set_error (error, RABC_ERROR, RABC_ERROR_NO_MEMORY,
               "out of memory for %" G_GSIZE_FORMAT " bytes of output", len);
}

/* Fails the connection for want of memory for @len bytes of output.
 *
 * Returns: FALSE */
static gboolean
fail_out_of_memory (RabcConnection *conn,
                    gsize           len)
{
  GError *error = NULL;

  set_out_of_memory (&error, len);
  connection_fail (conn, error);
  return FALSE;
}

/* Writes the frame of @text, whose @header is written, at once, header
 * and payload in one system call, without copying it to the output
 * buffer.  Nothing is queued, so this keeps the order.  A failure writes
 * nothing: the next flush meets it again and fails the connection from
 * there.
 *
 * Returns: how many bytes of the frame were written */
static gsize
write_frame_now (RabcConnection *conn,
                 guint8         *header,
                 const char     *text,
                 gsize           len)
{
  struct iovec iov[2];
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
  gssize n;

  iov[0].iov_base = header;
  iov[0].iov_len = RABC_FRAME_HEADER_SIZE;
  iov[1].iov_base = (char *) text;
  iov[1].iov_len = len;

  do
    n = sendmsg (conn->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);

  if (n <= 0)
    return 0;
  conn->bytes_moved += n;
  return n;
}

/* Appends the frame of @text, checked by the caller.  A long message with
 * nothing queued before it is written at once (see write_frame_now()),
 * and only what the socket did not take is queued.
 *
 * Returns: FALSE when the memory cannot be had */
static gboolean
append_frame (RabcConnection *conn,
              const char     *text,
              gsize           len)
{
  gsize frame_size = RABC_FRAME_HEADER_SIZE + len;
  guint8 header[RABC_FRAME_HEADER_SIZE];
  gsize written = 0;
  guint8 *room;

  rabc_frame_write_header (header, len);
  if (len >= DIRECT_WRITE_SIZE && rabc_connection_get_queued (conn) == 0 && conn->fd >= 0)
    {
      written = write_frame_now (conn, header, text, len);
      if (written == frame_size)
        return TRUE;
    }

  room = output_reserve (&conn->out, frame_size - written, conn->output_limit);
  if (room == NULL)
    return FALSE;
  /* What the socket did not take: the rest of the header, if any, then
   * the rest of the payload. */
  if (written < RABC_FRAME_HEADER_SIZE)
    {
      memcpy (room, header + written, RABC_FRAME_HEADER_SIZE - written);
      if (len > 0)
        memcpy (room + RABC_FRAME_HEADER_SIZE - written, text, len);
    }
  else
    memcpy (room, text + (written - RABC_FRAME_HEADER_SIZE), frame_size - written);
  conn->out.end += frame_size - written;
  return TRUE;
}

gboolean
rabc_connection_queue_message (RabcConnection  *conn,
                               const char      *text,
                               gsize            len,
                               GError         **error)
{
  if (conn->closed)
    {
      g_set_error_literal (error, RABC_ERROR, RABC_ERROR_CLOSED,
                           "the connection is closed");
      return FALSE;
    }

  if (!rabc_frame_check (text, len, conn->decoder.max_size, error))
    return FALSE;

  if (!append_frame (conn, text, len))
    {
      set_out_of_memory (error, RABC_FRAME_HEADER_SIZE + len);
      return FALSE;
    }
  return TRUE;
}

/* Appends the frame of @text, which the caller has checked with
 * rabc_frame_check() against the connection's maximum message size.
 * Fails the connection, returning FALSE, when the memory cannot be had. */
gboolean
rabc_connection_queue_checked (RabcConnection *conn,
                               const char     *text,
                               gsize           len)
{
  if (conn->closed)
    return FALSE;

  if (!append_frame (conn, text, len))
    return fail_out_of_memory (conn, RABC_FRAME_HEADER_SIZE + len);
  return TRUE;
}

/* Appends already encoded frames, such as a server's fixed reply.  Fails
 * the connection, returning FALSE, when the memory cannot be had. */
gboolean
rabc_connection_queue_frames (RabcConnection *conn,
                              const guint8   *frames,
                              gsize           len)
{
  guint8 *room;

  if (conn->closed)
    return FALSE;

  room = output_reserve (&conn->out, len, conn->output_limit);
  if (room == NULL)
    return fail_out_of_memory (conn, len);
  memcpy (room, frames, len);
  conn->out.end += len;
  return TRUE;
}

/*
 * rabc_connection_flush:
 *
 * Writes queued output until it is drained or the socket would block; in the
 * second case the owner is asked to watch for G_IO_OUT.
 *
 * Returns: FALSE if the connection failed (the failed callback has run)
 */
gboolean
rabc_connection_flush (RabcConnection *conn)
{
  if (conn->closed)
    return FALSE;

  while (rabc_connection_get_queued (conn) > 0)
    {
      ssize_t n = send (conn->fd, conn->out.data + conn->out.start,
                        rabc_connection_get_queued (conn), MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0)
        {
          int errsv = errno;

          if (errsv == EINTR)
            continue;
          if (errsv == EAGAIN || errsv == EWOULDBLOCK)
            {
              update_watch (conn);
              return TRUE;
            }

          if (errsv == EPIPE || errsv == ECONNRESET)
            connection_fail (conn, peer_closed_error (conn));
          else
            connection_fail (conn, g_error_new (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                                "cannot write to socket: %s",
                                                g_strerror (errsv)));
          return FALSE;
        }

      conn->bytes_moved += n;
      output_written (&conn->out, n);
    }

  /* Everything owed to a peer that finished sending is written. */
  if (conn->read_closed && conn->owed == 0)
    {
      connection_fail (conn, peer_closed_error (conn));
      return FALSE;
    }

  update_watch (conn);
  return TRUE;
}

static gboolean
on_frame (const char *text,
          gsize       len,
          gpointer    user_data)
{
  RabcConnection *conn = user_data;

  if (conn->closed)
    return FALSE;

  return conn->funcs->message (conn, text, len, conn->user_data) && !conn->closed;
}

/* One recv(2), retried on EINTR. */
static gssize
receive (int     fd,
         guint8 *buffer,
         gsize   len,
         int     flags,
         int    *errsv)
{
  gssize n;

  do
    n = recv (fd, buffer, len, flags);
  while (n < 0 && errno == EINTR);

  *errsv = n < 0 ? errno : 0;
  return n;
}

/* How many bytes the next read asks for: the rest of the frame being
 * received, else a read's worth, within what @budget leaves. */
static gsize
next_read_size (RabcConnection *conn,
                gsize           budget)
{
  gsize missing = rabc_frame_decoder_get_missing (&conn->decoder);

  return MIN (missing > 0 ? missing : conn->read_size, budget);
}

/* The memory one round of reading goes into when not into the decoder's
 * buffer. */
typedef struct {
  guint8   *data;
  gsize     size;
  /* A frame that fits in @data is received there whole, and decoded
   * where it lies, rather than collected in the decoder's buffer: its
   * rest is read only when the budget holds all of it (see next_read()).
   * The owner's buffer, shared by its connections, stays in the
   * processor's cache where a buffer of each connection's own would not. */
  gboolean  whole_frames;
  /* Bytes of an unfinished frame at the start of @data that the next read
   * continues: taken back from the decoder, or left by the last read. */
  gsize     held;
} Chunk;

/* Where the next read goes and how much it asks for (see
 * next_read_size()): after the unfinished frame, moved to the start of
 * @chunk, when the frame fits there whole; else straight into the
 * decoder's buffer when it has room there (the rest of a frame, or a
 * buffer kept from a long one); else into @chunk, to be decoded from
 * there.
 *
 * Returns: (nullable): the address, or NULL when nothing is to be read
 *   now: the rest of a frame that fits in @chunk is more than @budget */
static guint8 *
next_read (RabcConnection *conn,
           Chunk          *chunk,
           gsize           budget,
           gsize          *wanted)
{
  gsize size = next_read_size (conn, budget);
  gsize frame = rabc_frame_decoder_get_frame_size (&conn->decoder);
  guint8 *room;

  chunk->held = 0;
  if (chunk->whole_frames && frame > 0 && frame <= chunk->size && !conn->frame_spilled)
    {
      gsize missing = rabc_frame_decoder_get_missing (&conn->decoder);

      if (missing > budget)
        return NULL;
      chunk->held = rabc_frame_decoder_take_partial (&conn->decoder, chunk->data, chunk->size);
      *wanted = missing;
      return chunk->data + chunk->held;
    }

  room = rabc_frame_decoder_get_room (&conn->decoder, size, wanted);
  if (room != NULL)
    return room;

  /* A partial header goes first, so that the chunk starts at a frame. */
  if (chunk->whole_frames && frame == 0)
    chunk->held = rabc_frame_decoder_take_partial (&conn->decoder, chunk->data, chunk->size);
  *wanted = MIN (size, chunk->size - chunk->held);
  return chunk->data + chunk->held;
}

/* Gives the decoder back the unfinished frame held in @chunk, when the
 * read meant to finish it brought nothing.  A frame whose rest came short
 * once is collected in the decoder's buffer from then on, so that a peer
 * sending slowly cannot have its frame copied back and forth each round. */
static gboolean
give_back_held (RabcConnection  *conn,
                Chunk           *chunk,
                GError         **error)
{
  gsize held = chunk->held;

  chunk->held = 0;
  if (held >= RABC_FRAME_HEADER_SIZE)
    conn->frame_spilled = TRUE;
  return rabc_frame_decoder_feed (&conn->decoder, chunk->data, held, on_frame, conn, error);
}

/* Decodes the @n bytes just received into @chunk after the bytes it held,
 * the read being for @wanted and @budget being what is left to read.
 * Whole frames are delivered where they lie.  When the last frame is
 * unfinished but fits in @chunk, the read was not short and @budget holds
 * its rest, it moves to the start of @chunk and *@more is set to the
 * bytes to receive after it; otherwise it goes to the decoder. */
static gboolean
decode_chunk (RabcConnection  *conn,
              Chunk           *chunk,
              gsize            n,
              gsize            wanted,
              gsize            budget,
              gsize           *more,
              GError         **error)
{
  gsize len = chunk->held + n;
  gboolean continuing = chunk->held >= RABC_FRAME_HEADER_SIZE;
  gsize used, next, rest;

  *more = 0;
  chunk->held = 0;
  if (!chunk->whole_frames || !rabc_frame_decoder_is_idle (&conn->decoder))
    return rabc_frame_decoder_feed (&conn->decoder, chunk->data, len, on_frame, conn, error);

  if (!rabc_frame_decoder_feed_whole (&conn->decoder, chunk->data, len, on_frame, conn,
                                      &used, &next, error))
    return FALSE;

  rest = len - used;
  if (rest == 0 || conn->closed)
    return TRUE;

  if (n == wanted && next > 0 && next <= chunk->size && next - rest <= budget &&
      !conn->frame_spilled)
    {
      memmove (chunk->data, chunk->data + used, rest);
      chunk->held = rest;
      *more = next - rest;
      return TRUE;
    }

  if (continuing && used == 0)
    conn->frame_spilled = TRUE;
  return rabc_frame_decoder_feed (&conn->decoder, chunk->data + used, rest, on_frame, conn, error);
}

/* Decodes @n bytes received at @target for a read of @wanted (or handles
 * the error or end of stream that recv(2) returned instead), then reads
 * on without waiting while a frame is still missing bytes, within the
 * bounds of set_read_policy().  @target is in @chunk, after the bytes it
 * holds, or what next_read() chose in the decoder's buffer. */
static void
handle_received (RabcConnection *conn,
                 Chunk          *chunk,
                 guint8         *target,
                 gsize           wanted,
                 gssize          n,
                 int             errsv)
{
  gsize budget = conn->read_budget;

  for (;;)
    {
      GError *error = NULL;
      gboolean into_chunk = target == chunk->data + chunk->held;
      gsize more = 0;

      if (n <= 0 && chunk->held > 0 && !give_back_held (conn, chunk, &error))
        {
          connection_fail (conn, error);
          return;
        }

      if (n < 0)
        {
          if (errsv == EAGAIN || errsv == EWOULDBLOCK || errsv == EINTR)
            return;
          /* A peer that closes with our data unread resets the connection. */
          if (errsv == ECONNRESET)
            connection_fail (conn, peer_closed_error (conn));
          else
            connection_fail (conn, g_error_new (RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                                                "cannot read from socket: %s",
                                                g_strerror (errsv)));
          return;
        }

      if (n == 0)
        {
          /* A peer that shut down only its sending side still gets what it
           * is owed: stop reading, and close once the output is written. */
          if (rabc_frame_decoder_is_idle (&conn->decoder) &&
              (rabc_connection_get_queued (conn) > 0 || conn->owed > 0))
            {
              conn->read_closed = TRUE;
              update_watch (conn);
            }
          else
            connection_fail (conn, peer_closed_error (conn));
          return;
        }

      conn->bytes_moved += n;
      conn->bytes_received += n;
      budget -= n;
      if (into_chunk ? !decode_chunk (conn, chunk, n, wanted, budget, &more, &error)
                     : !rabc_frame_decoder_received (&conn->decoder, n, on_frame, conn, &error))
        {
          /* Replies to the messages before the bad one are owed all the same. */
          rabc_connection_flush (conn);
          connection_fail (conn, error);
          return;
        }
      if (rabc_frame_decoder_get_frame_size (&conn->decoder) == 0)
        conn->frame_spilled = FALSE;

      if (conn->closed)
        return;
      if (more > 0)
        {
          target = chunk->data + chunk->held;
          wanted = more;
        }
      else
        {
          if ((gsize) n < wanted || budget == 0 ||
              rabc_frame_decoder_get_missing (&conn->decoder) == 0)
            return;
          target = next_read (conn, chunk, budget, &wanted);
          if (target == NULL)
            return;
        }
      n = receive (conn->fd, target, wanted, MSG_DONTWAIT, &errsv);
    }
}

/* Reads, into @chunk or the decoder's buffer, and decodes what came,
 * without waiting, within the bounds of set_read_policy().  That is a
 * round for the decoder. */
static void
read_available (RabcConnection *conn,
                Chunk          *chunk)
{
  gsize wanted;
  guint8 *target = next_read (conn, chunk, conn->read_budget, &wanted);

  if (target != NULL)
    {
      int errsv;
      gssize n = receive (conn->fd, target, wanted, MSG_DONTWAIT, &errsv);

      handle_received (conn, chunk, target, wanted, n, errsv);
    }
  rabc_frame_decoder_end_round (&conn->decoder);
}

/* rabc_connection_handle_io(), reading into @chunk. */
static void
handle_io (RabcConnection *conn,
           GIOCondition    condition,
           Chunk          *chunk)
{
  /* Called again from one of its own callbacks, for example by an owner
   * that drains every connection when it stops: the outer call is still
   * decoding and finishes the work. */
  if (conn->closed || conn->in_io)
    return;

  rabc_connection_ref (conn);
  conn->in_io = TRUE;

  /* A thread waiting in rabc_connection_wait() reads for itself. */
  if (!conn->waiting && may_read (conn) && (condition & (G_IO_IN | G_IO_HUP | G_IO_ERR)))
    read_available (conn, chunk);

  if (!conn->closed && !conn->holding_output &&
      (condition & (G_IO_OUT | G_IO_IN | G_IO_HUP | G_IO_ERR)))
    rabc_connection_flush (conn);

  /* A peer that hung up while it is not read, with nothing to write to
   * it: it can take nothing more, and would be reported again and again. */
  if (!conn->closed && !conn->waiting && (condition & (G_IO_HUP | G_IO_ERR)) &&
      !may_read (conn) && rabc_connection_get_queued (conn) == 0)
    connection_fail (conn, peer_closed_error (conn));

  if (!conn->closed && (condition & G_IO_NVAL))
    connection_fail (conn, g_error_new_literal (RABC_ERROR, RABC_ERROR_BUG,
                                                "socket descriptor is no longer valid"));

  conn->in_io = FALSE;
  update_watch (conn);
  rabc_connection_unref (conn);
}

/*
 * rabc_connection_handle_io:
 *
 * Handles readiness reported by the owner's watch: reads within the read
 * policy and delivers every complete message, then writes queued output.
 * Not re-entrant: called from one of the connection's own callbacks, it
 * does nothing.
 */
void
rabc_connection_handle_io (RabcConnection *conn,
                           GIOCondition    condition)
{
  /* Whole frames are decoded straight from this buffer, so it lives on
   * the stack and idle connections cost nothing. */
  guint8 buffer[READ_CHUNK_SIZE];
  Chunk chunk = { buffer, sizeof buffer, FALSE, 0 };

  handle_io (conn, condition, &chunk);
}

/*
 * rabc_connection_handle_io_into:
 * @buffer: memory of the owner's, shared by its connections
 * @size: its size, at least RABC_CONNECTION_READ_SIZE
 *
 * As rabc_connection_handle_io(), reading into @buffer, where a frame of
 * up to @size bytes, header included, is received whole and delivered
 * where it lies: the rest of such a frame is read only once the read
 * budget holds all of it, and otherwise waits for a later call.  An
 * owner that serves many connections from one thread reads them all
 * through the same memory, which stays in the processor's cache, and
 * their frames cost it no memory of their own.  A frame whose rest comes
 * short once is collected in the connection's own buffer, as by
 * rabc_connection_handle_io().
 */
void
rabc_connection_handle_io_into (RabcConnection *conn,
                                GIOCondition    condition,
                                guint8         *buffer,
                                gsize           size)
{
  Chunk chunk = { buffer, size, TRUE, 0 };

  g_return_if_fail (size >= READ_CHUNK_SIZE);

  handle_io (conn, condition, &chunk);
}

static gboolean
set_timed_out (GError **error)
{
  g_set_error_literal (error, RABC_ERROR, RABC_ERROR_TIMED_OUT,
                       "timed out waiting for a reply");
  return FALSE;
}

/* Makes a blocking recv(2) return by @deadline.  Changing SO_RCVTIMEO costs
 * a system call, so a timeout that ends no later than the deadline, and not
 * much sooner, is kept: a caller with the same timeout every time pays once. */
static gboolean
set_receive_timeout (RabcConnection  *conn,
                     gint64           deadline,
                     GError         **error)
{
  gint64 timeout_ms = 0;
  struct timeval tv;

  if (deadline >= 0)
    {
      gint64 remaining = deadline - g_get_monotonic_time ();

      if (remaining <= 0)
        return set_timed_out (error);
      timeout_ms = (remaining + 999) / 1000;
    }

  if (timeout_ms == conn->receive_timeout_ms ||
      (timeout_ms > 0 && conn->receive_timeout_ms > 0 &&
       conn->receive_timeout_ms < timeout_ms &&
       conn->receive_timeout_ms >= timeout_ms / 2))
    return TRUE;

  tv.tv_sec = timeout_ms / 1000;
  tv.tv_usec = (timeout_ms % 1000) * 1000;
  if (setsockopt (conn->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
    {
      int errsv = errno;
      g_set_error (error, RABC_ERROR, RABC_ERROR_IPC_CONNECTION,
                   "cannot set a receive timeout: %s", g_strerror (errsv));
      return FALSE;
    }
  conn->receive_timeout_ms = timeout_ms;
  return TRUE;
}

/* What a blocking wait reads into: its own buffer, from which a frame
 * that does not lie whole in it is collected in the decoder's. */
static Chunk
wait_chunk (RabcConnectionWait *wait)
{
  return (Chunk) { wait->buffer, sizeof wait->buffer, FALSE, 0 };
}

/*
 * rabc_connection_wait_begin:
 * @wait: (out caller-allocates): the wait
 * @deadline: when to give up, in monotonic time, or -1 for never
 * @cancellable: (nullable): ends the wait when cancelled
 * @cancel_fd: (nullable): @cancellable's descriptor, from
 *   g_cancellable_make_pollfd(), which the caller makes and releases
 *   without holding its lock (a cancellable's handlers may take it)
 *
 * Prepares a blocking wait for the socket, for synchronous calls, which
 * must work without a running main loop; the socket must be in blocking
 * mode (rabc_socket_connect() leaves it so).  Then rabc_connection_wait()
 * blocks, touching nothing but @wait and the descriptor, and
 * rabc_connection_wait_end() handles what came.  Between begin and end,
 * the connection may be used as usual, by another thread under the
 * owner's lock, with one exception: rabc_connection_close() shuts the
 * socket down, which ends the wait, and the descriptor is closed in
 * rabc_connection_wait_end().  Only one wait at a time.
 *
 * With nothing to write and no @cancellable, the wait is a blocking
 * recv(2), a system call fewer than poll(2) first; a receive timeout
 * (SO_RCVTIMEO) ends it at @deadline.
 *
 * Returns: FALSE with @error set when the connection is closed or
 *   @deadline has passed; then there is nothing to end
 */
gboolean
rabc_connection_wait_begin (RabcConnection      *conn,
                            RabcConnectionWait  *wait,
                            gint64               deadline,
                            GCancellable        *cancellable,
                            const GPollFD       *cancel_fd,
                            GError             **error)
{
  g_return_val_if_fail (!conn->waiting, FALSE);

  if (conn->closed)
    {
      g_set_error_literal (error, RABC_ERROR, RABC_ERROR_CLOSED,
                           "the connection is closed");
      return FALSE;
    }

  wait->conn = rabc_connection_ref (conn);
  wait->cancellable = cancellable;
  wait->polling = cancellable != NULL || conn->watched != G_IO_IN;
  wait->fds[0].fd = conn->fd;
  wait->n_fds = 1;
  wait->result = 0;
  wait->errsv = 0;

  if (!wait->polling)
    {
      Chunk chunk = wait_chunk (wait);

      if (!set_receive_timeout (conn, deadline, error))
        {
          rabc_connection_unref (conn);
          return FALSE;
        }
      wait->target = next_read (conn, &chunk, conn->read_budget, &wait->wanted);
    }
  else
    {
      wait->fds[0].events = ((conn->watched & G_IO_IN) ? POLLIN : 0) |
                            ((conn->watched & G_IO_OUT) ? POLLOUT : 0);
      wait->fds[0].revents = 0;
      if (cancel_fd != NULL)
        {
          wait->fds[1].fd = cancel_fd->fd;
          wait->fds[1].events = cancel_fd->events;
          wait->fds[1].revents = 0;
          wait->n_fds = 2;
        }

      wait->timeout_ms = -1;
      if (deadline >= 0)
        {
          gint64 remaining = deadline - g_get_monotonic_time ();

          wait->timeout_ms = remaining > 0 ? (int) MIN ((remaining + 999) / 1000, G_MAXINT) : 0;
        }
    }

  conn->waiting = TRUE;
  return TRUE;
}

/*
 * rabc_connection_wait:
 *
 * Blocks in the system call that rabc_connection_wait_begin() chose.  It
 * reads no state of the connection, so the owner need not hold its lock.
 */
void
rabc_connection_wait (RabcConnectionWait *wait)
{
  /* A signal ends the wait early, with EINTR: the caller waits again
   * with what is left of its timeout. */
  if (!wait->polling)
    wait->result = recv (wait->fds[0].fd, wait->target, wait->wanted, 0);
  else
    wait->result = poll (wait->fds, wait->n_fds, wait->timeout_ms);
  wait->errsv = wait->result < 0 ? errno : 0;
}

/*
 * rabc_connection_wait_end:
 *
 * Handles what the wait found, as rabc_connection_handle_io() does: reads
 * and delivers every complete message, writes queued output.  If the
 * connection was closed during the wait, closes its descriptor and does
 * nothing else.
 *
 * Returns: FALSE with @error set on timeout or cancellation; the
 *   connection itself may have failed either way (its failed callback
 *   says so)
 */
gboolean
rabc_connection_wait_end (RabcConnectionWait  *wait,
                          GError             **error)
{
  g_autoptr(RabcConnection) conn = g_steal_pointer (&wait->conn);
  gboolean ok = TRUE;

  conn->waiting = FALSE;

  if (conn->closed)
    {
      if (conn->fd >= 0)
        close (conn->fd);
      conn->fd = -1;
      rabc_frame_decoder_clear (&conn->decoder);
    }
  else if (!wait->polling)
    {
      /* A receive timeout ends the wait with EAGAIN: the caller finds its
       * deadline passed on the next wait_begin(). */
      Chunk chunk = wait_chunk (wait);

      conn->in_io = TRUE;
      handle_received (conn, &chunk, wait->target, wait->wanted, wait->result,
                       wait->errsv);
      rabc_frame_decoder_end_round (&conn->decoder);
      if (!conn->closed)
        rabc_connection_flush (conn);
      conn->in_io = FALSE;
    }
  else if (g_cancellable_set_error_if_cancelled (wait->cancellable, error))
    ok = FALSE;
  else if (wait->result == 0)
    ok = set_timed_out (error);
  else if (wait->result > 0 && wait->fds[0].revents != 0)
    {
      Chunk chunk = wait_chunk (wait);

      handle_io (conn, rabc_socket_condition_from_poll (wait->fds[0].revents), &chunk);
    }

  return ok;
}
