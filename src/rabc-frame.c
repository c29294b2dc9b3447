/* rabc-frame.c: the wire codec, pure and without I/O
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <string.h>

#include "rabc-error.h"
#include "rabc-frame-private.h"
#include "rabc-utf8-private.h"

static gboolean
check_size (guint64   len,
            gsize     max_size,
            GError  **error)
{
  if (len < max_size)
    return TRUE;

  if (len == max_size)
    g_set_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE,
                 "message of %" G_GUINT64_FORMAT " bytes reaches the maximum of "
                 "%" G_GSIZE_FORMAT ": messages must be shorter",
                 len, max_size);
  else
    g_set_error (error, RABC_ERROR, RABC_ERROR_EXCEEDED_IPC_MAX_SIZE,
                 "message of %" G_GUINT64_FORMAT " bytes exceeds the maximum of "
                 "%" G_GSIZE_FORMAT,
                 len, max_size);
  return FALSE;
}

static gboolean
check_text (const char  *text,
            gsize        len,
            GError     **error)
{
  if (rabc_utf8_validate (text, len))
    return TRUE;

  g_set_error (error, RABC_ERROR, RABC_ERROR_INVALID_DATA,
               "message of %" G_GSIZE_FORMAT " bytes is not valid UTF-8", len);
  return FALSE;
}

/*
 * rabc_frame_check:
 *
 * Checks that @text may be sent as one frame: shorter than @max_size and
 * valid UTF-8.
 */
gboolean
rabc_frame_check (const char  *text,
                  gsize        len,
                  gsize        max_size,
                  GError     **error)
{
  return check_size (len, max_size, error) && check_text (text, len, error);
}

/*
 * rabc_frame_write:
 *
 * Writes the frame of @text to @out, which has room for
 * RABC_FRAME_HEADER_SIZE + @len bytes.  The caller has checked @text with
 * rabc_frame_check().
 */
void
rabc_frame_write (guint8     *out,
                  const char *text,
                  gsize       len)
{
  rabc_frame_write_header (out, len);
  if (len > 0)
    memcpy (out + RABC_FRAME_HEADER_SIZE, text, len);
}

/*
 * rabc_frame_write_header:
 *
 * Writes the header of a frame of @len bytes to @out, which has room for
 * RABC_FRAME_HEADER_SIZE bytes: for a sender that writes the payload
 * from where it lies.
 */
void
rabc_frame_write_header (guint8 *out,
                         gsize   len)
{
  guint64 header = len;

  memcpy (out, &header, sizeof header);
}

/*
 * rabc_frame_encode:
 *
 * Appends the frame of @text to @out, as rabc_frame_write() does.
 */
void
rabc_frame_encode (GByteArray *out,
                   const char *text,
                   gsize       len)
{
  guint start = out->len;

  g_byte_array_set_size (out, start + RABC_FRAME_HEADER_SIZE + len);
  rabc_frame_write (out->data + start, text, len);
}

#define DEFAULT_KEEP_MIN_SIZE 4096

void
rabc_frame_decoder_init (RabcFrameDecoder *self,
                         gsize             max_size)
{
  memset (self, 0, sizeof *self);
  self->max_size = max_size;
  self->keep_min_size = DEFAULT_KEEP_MIN_SIZE;
}

static void
buffer_free (RabcFrameDecoder *self)
{
  g_clear_pointer (&self->buffer, g_free);
  self->allocated = 0;
  self->buffer_used = FALSE;
}

void
rabc_frame_decoder_clear (RabcFrameDecoder *self)
{
  buffer_free (self);
  self->header_len = 0;
  self->in_payload = FALSE;
  self->payload_len = 0;
  self->payload_filled = 0;
  self->payload_after_header = FALSE;
}

gboolean
rabc_frame_decoder_is_idle (const RabcFrameDecoder *self)
{
  return self->header_len == 0 && !self->in_payload;
}

/* The bytes the decoder holds in memory: the frame split across inputs
 * that it is collecting, or the buffer it keeps for the next one. */
gsize
rabc_frame_decoder_get_allocated (const RabcFrameDecoder *self)
{
  return self->allocated;
}

/* How many bytes the frame being collected still lacks; 0 between frames
 * and within a header, where the next frame's length is not known. */
gsize
rabc_frame_decoder_get_missing (const RabcFrameDecoder *self)
{
  return self->in_payload ? self->payload_len - self->payload_filled : 0;
}

static gboolean
deliver (const char    *text,
         gsize          len,
         RabcFrameFunc  func,
         gpointer       user_data,
         gboolean      *keep_going,
         GError       **error)
{
  if (!check_text (text, len, error))
    return FALSE;

  *keep_going = func (text, len, user_data);
  return TRUE;
}

/* Resizes the buffer to @size bytes.  The size comes from the peer, so a
 * failed allocation is an error of this frame, not an abort. */
static gboolean
resize_buffer (RabcFrameDecoder  *self,
               gsize              size,
               GError           **error)
{
  guint8 *buffer = g_try_realloc (self->buffer, size);

  if (buffer == NULL)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_NO_MEMORY,
                   "out of memory for a message of %" G_GSIZE_FORMAT " bytes: "
                   "cannot allocate %" G_GSIZE_FORMAT " bytes",
                   self->payload_len, size);
      return FALSE;
    }

  self->buffer = buffer;
  self->allocated = size;
  return TRUE;
}

/* Where the payload being collected starts in the buffer. */
static gsize
payload_offset (const RabcFrameDecoder *self)
{
  return self->payload_after_header ? RABC_FRAME_HEADER_SIZE : 0;
}

/* The most a buffer grows to for the frame being collected: the frame as
 * it came, header included, so that, kept, it holds the next one of that
 * size whole. */
static gsize
frame_size (const RabcFrameDecoder *self)
{
  return RABC_FRAME_HEADER_SIZE + self->payload_len;
}

/* Makes room for @needed bytes of the payload being collected: the
 * buffer at least doubles each time, so that collecting costs a linear
 * number of copies, but never exceeds the frame. */
static gboolean
reserve_payload (RabcFrameDecoder  *self,
                 gsize              needed,
                 GError           **error)
{
  needed += payload_offset (self);
  if (needed <= self->allocated)
    return TRUE;

  return resize_buffer (self, MIN (frame_size (self), MAX (needed, 2 * self->allocated)), error);
}

/* Whether a buffer of @allocated bytes is right for a frame of
 * @payload_len bytes: the frame is larger than a quarter of it. */
static gboolean
buffer_fits (gsize allocated,
             gsize payload_len)
{
  return RABC_FRAME_HEADER_SIZE + payload_len > allocated / 4;
}

/* Delivers the payload collected in the buffer. */
static gboolean
deliver_collected (RabcFrameDecoder  *self,
                   RabcFrameFunc      func,
                   gpointer           user_data,
                   gboolean          *keep_going,
                   GError           **error)
{
  /* @func may close the receiver, which clears the decoder: the buffer is
   * detached meanwhile, and kept for the next frame after. */
  guint8 *buffer = g_steal_pointer (&self->buffer);
  gsize allocated = self->allocated;
  gboolean ok;

  self->buffer_used |= buffer_fits (self->allocated, self->payload_len);
  self->in_payload = FALSE;
  self->allocated = 0;
  ok = deliver ((const char *) buffer + payload_offset (self), self->payload_len,
                func, user_data, keep_going, error);
  self->payload_len = self->payload_filled = 0;
  self->payload_after_header = FALSE;

  g_free (self->buffer);
  self->buffer = buffer;
  self->allocated = allocated;
  if (allocated < self->keep_min_size)
    buffer_free (self);
  return ok;
}

/*
 * rabc_frame_decoder_feed:
 *
 * Decodes @len bytes of input, which may hold any part of any number of
 * frames.  Complete frames that lie whole in @data are passed to @func
 * without a copy; only a frame split across inputs is collected, in a
 * buffer that grows as its bytes arrive.
 *
 * Returns: FALSE with @error set when the input breaks the protocol, or
 *   when the memory for a frame cannot be had (RABC_ERROR_NO_MEMORY); the
 *   decoder must then not be fed again.
 */
gboolean
rabc_frame_decoder_feed (RabcFrameDecoder  *self,
                         const guint8      *data,
                         gsize              len,
                         RabcFrameFunc      func,
                         gpointer           user_data,
                         GError           **error)
{
  const guint8 *p = data;
  const guint8 *end = data + len;
  gboolean keep_going = TRUE;

  while (keep_going)
    {
      guint64 frame_len;

      if (self->in_payload)
        {
          gsize take = MIN (self->payload_len - self->payload_filled, (gsize) (end - p));

          if (take == 0)
            break;
          if (!reserve_payload (self, self->payload_filled + take, error))
            return FALSE;
          memcpy (self->buffer + payload_offset (self) + self->payload_filled, p, take);
          self->payload_filled += take;
          p += take;
          if (self->payload_filled < self->payload_len)
            break;

          if (!deliver_collected (self, func, user_data, &keep_going, error))
            return FALSE;
          continue;
        }

      if (self->header_len == 0 && (gsize) (end - p) >= RABC_FRAME_HEADER_SIZE)
        {
          memcpy (&frame_len, p, sizeof frame_len);
          p += RABC_FRAME_HEADER_SIZE;
        }
      else
        {
          gsize take = MIN (RABC_FRAME_HEADER_SIZE - self->header_len, (gsize) (end - p));

          if (take == 0)
            break;
          memcpy (self->header + self->header_len, p, take);
          self->header_len += take;
          p += take;
          if (self->header_len < RABC_FRAME_HEADER_SIZE)
            break;
          memcpy (&frame_len, self->header, sizeof frame_len);
          self->header_len = 0;
        }

      if (!check_size (frame_len, self->max_size, error))
        return FALSE;

      if ((guint64) (end - p) >= frame_len)
        {
          const char *text = (const char *) p;

          p += frame_len;
          if (!deliver (text, frame_len, func, user_data, &keep_going, error))
            return FALSE;
        }
      else
        {
          /* A kept buffer much larger than this frame is given back. */
          if (self->buffer != NULL && !buffer_fits (self->allocated, frame_len))
            buffer_free (self);
          self->in_payload = TRUE;
          self->payload_len = frame_len;
          self->payload_filled = 0;
          self->payload_after_header = FALSE;
        }
    }

  return TRUE;
}

/* The size, header included, of the frame being collected once its
 * header is decoded; 0 between frames and within a header. */
gsize
rabc_frame_decoder_get_frame_size (const RabcFrameDecoder *self)
{
  return self->in_payload ? frame_size (self) : 0;
}

/*
 * rabc_frame_decoder_feed_whole:
 * @used: (out): how many bytes of @data were decoded
 * @next_size: (out): the size, header included, of the frame that starts
 *   at @used when its header is whole there, else 0
 *
 * Decodes the complete frames at the start of @data, as
 * rabc_frame_decoder_feed() does, and stops before an incomplete one,
 * which stays the caller's: it may receive the rest of it after it and
 * call again, or feed it.  The decoder must be idle (see
 * rabc_frame_decoder_take_partial()).  A header announcing a frame over
 * the limit is an error at once, as in rabc_frame_decoder_feed().  When
 * @func stops the decoding, the rest of @data counts as used.
 *
 * Returns: FALSE with @error set when the input breaks the protocol
 */
gboolean
rabc_frame_decoder_feed_whole (RabcFrameDecoder  *self,
                               const guint8      *data,
                               gsize              len,
                               RabcFrameFunc      func,
                               gpointer           user_data,
                               gsize             *used,
                               gsize             *next_size,
                               GError           **error)
{
  gsize p = 0;
  gboolean keep_going = TRUE;

  g_return_val_if_fail (rabc_frame_decoder_is_idle (self), FALSE);

  *next_size = 0;
  while (len - p >= RABC_FRAME_HEADER_SIZE)
    {
      guint64 frame_len;

      memcpy (&frame_len, data + p, sizeof frame_len);
      if (!check_size (frame_len, self->max_size, error))
        return FALSE;
      if (len - p - RABC_FRAME_HEADER_SIZE < frame_len)
        {
          *next_size = RABC_FRAME_HEADER_SIZE + frame_len;
          break;
        }

      if (!deliver ((const char *) data + p + RABC_FRAME_HEADER_SIZE, frame_len,
                    func, user_data, &keep_going, error))
        return FALSE;
      p += RABC_FRAME_HEADER_SIZE + frame_len;
      if (!keep_going)
        {
          p = len;
          break;
        }
    }

  *used = p;
  return TRUE;
}

/*
 * rabc_frame_decoder_take_partial:
 * @out: where the bytes go
 * @max: the room at @out
 *
 * Hands the unfinished frame back, for a caller that will receive the
 * rest of it after the bytes and decode it whole with
 * rabc_frame_decoder_feed_whole(): a partial header, or a frame of at
 * most @max bytes, header included.  The decoder is idle afterwards; a
 * buffer of at least the size it keeps stays for the next long frame.
 *
 * Returns: how many bytes were written to @out, 0 when the decoder was
 *   idle or the frame is larger than @max
 */
gsize
rabc_frame_decoder_take_partial (RabcFrameDecoder *self,
                                 guint8           *out,
                                 gsize             max)
{
  gsize len;

  if (!self->in_payload)
    {
      len = self->header_len;
      if (len > max)
        return 0;
      memcpy (out, self->header, len);
      self->header_len = 0;
      return len;
    }

  if (frame_size (self) > max)
    return 0;

  rabc_frame_write_header (out, self->payload_len);
  if (self->payload_filled > 0)
    memcpy (out + RABC_FRAME_HEADER_SIZE, self->buffer + payload_offset (self),
            self->payload_filled);
  len = RABC_FRAME_HEADER_SIZE + self->payload_filled;

  self->in_payload = FALSE;
  self->payload_len = self->payload_filled = 0;
  self->payload_after_header = FALSE;
  if (self->allocated < self->keep_min_size)
    buffer_free (self);
  return len;
}

/*
 * rabc_frame_decoder_get_room:
 * @max: the most bytes the caller means to receive
 * @room: (out): how many bytes may be received at the returned address,
 *   from 1 to @max
 *
 * Where the caller may receive its next input straight into the decoder's
 * buffer, without a copy: the rest of the frame being collected, once
 * some of its payload has arrived (the buffer grows to at most twice
 * that, never more than the frame), or, between frames, a buffer kept
 * from a long frame when it has room for all of @max.  The caller then passes the count received
 * to rabc_frame_decoder_received() before any other call on the decoder,
 * or receives nothing.
 *
 * Returns: (nullable): the address, or NULL when the caller is to receive
 *   into memory of its own and feed it with rabc_frame_decoder_feed()
 *   (also when growing the buffer fails: feeding then reports it)
 */
guint8 *
rabc_frame_decoder_get_room (RabcFrameDecoder *self,
                             gsize             max,
                             gsize            *room)
{
  if (max == 0)
    return NULL;

  if (self->in_payload)
    {
      gsize offset = payload_offset (self) + self->payload_filled;
      gsize missing = self->payload_len - self->payload_filled;

      /* Before any of the payload, the size to start with is not known:
       * a header alone costs nothing. */
      if (missing == 0 || self->buffer == NULL)
        return NULL;
      if (offset >= self->allocated &&
          !resize_buffer (self, MIN (frame_size (self), 2 * self->allocated), NULL))
        return NULL;

      *room = MIN (MIN (max, missing), self->allocated - offset);
      return self->buffer + offset;
    }

  if (self->buffer != NULL && self->allocated >= self->header_len + max)
    {
      /* The partial header goes first, as if it were part of the input. */
      memcpy (self->buffer, self->header, self->header_len);
      *room = max;
      return self->buffer + self->header_len;
    }

  return NULL;
}

/* Decodes the @len bytes at the start of the detached *@buffer, of
 * *@allocated bytes, between frames.  Complete frames are delivered where
 * they lie; the last one, if incomplete, moves to the front, or to a
 * smaller buffer that replaces *@buffer. */
static gboolean
decode_buffer (RabcFrameDecoder  *self,
               guint8           **buffer,
               gsize             *allocated,
               gsize              len,
               RabcFrameFunc      func,
               gpointer           user_data,
               GError           **error)
{
  guint8 *data = *buffer;
  gsize p = 0;
  gboolean keep_going = TRUE;

  while (keep_going && p < len)
    {
      guint64 frame_len;
      gsize avail = len - p;
      gsize partial;

      if (avail < RABC_FRAME_HEADER_SIZE)
        {
          memcpy (self->header, data + p, avail);
          self->header_len = avail;
          break;
        }

      memcpy (&frame_len, data + p, sizeof frame_len);
      if (!check_size (frame_len, self->max_size, error))
        return FALSE;
      avail -= RABC_FRAME_HEADER_SIZE;

      if (avail >= frame_len)
        {
          if (buffer_fits (*allocated, frame_len))
            self->buffer_used = TRUE;
          if (!deliver ((const char *) data + p + RABC_FRAME_HEADER_SIZE, frame_len,
                        func, user_data, &keep_going, error))
            return FALSE;
          p += RABC_FRAME_HEADER_SIZE + frame_len;
          continue;
        }

      self->in_payload = TRUE;
      self->payload_len = frame_len;
      self->payload_filled = avail;
      self->payload_after_header = TRUE;
      partial = RABC_FRAME_HEADER_SIZE + avail;
      if (!buffer_fits (*allocated, frame_len))
        {
          /* Much larger than this frame: collect it in a buffer of its
           * own, which grows as its bytes arrive. */
          guint8 *smaller = avail > 0 ? g_try_malloc (avail) : NULL;

          if (smaller != NULL || avail == 0)
            {
              if (avail > 0)
                memcpy (smaller, data + p + RABC_FRAME_HEADER_SIZE, avail);
              g_free (data);
              *buffer = smaller;
              *allocated = avail;
              self->payload_after_header = FALSE;
              self->buffer_used = FALSE;
              break;
            }
        }
      else
        self->buffer_used = TRUE;

      if (p > 0)
        memmove (data, data + p, partial);
      break;
    }

  return TRUE;
}

/*
 * rabc_frame_decoder_received:
 * @len: how many bytes were received at the address that
 *   rabc_frame_decoder_get_room() returned, at most the room it gave
 *
 * Decodes bytes received into the decoder's own buffer, as
 * rabc_frame_decoder_feed() does: complete frames are passed to @func
 * where they lie.
 *
 * Returns: FALSE with @error set when the input breaks the protocol; the
 *   decoder must then not be fed again.
 */
gboolean
rabc_frame_decoder_received (RabcFrameDecoder  *self,
                             gsize              len,
                             RabcFrameFunc      func,
                             gpointer           user_data,
                             GError           **error)
{
  guint8 *buffer;
  gsize allocated;
  gboolean ok;

  g_return_val_if_fail (self->buffer != NULL, FALSE);

  if (self->in_payload)
    {
      gboolean keep_going;

      g_return_val_if_fail (len <= self->payload_len - self->payload_filled, FALSE);

      self->payload_filled += len;
      if (self->payload_filled < self->payload_len)
        return TRUE;
      return deliver_collected (self, func, user_data, &keep_going, error);
    }

  g_return_val_if_fail (self->header_len + len <= self->allocated, FALSE);

  /* As in deliver_collected(), @func may clear the decoder. */
  buffer = g_steal_pointer (&self->buffer);
  allocated = self->allocated;
  self->allocated = 0;
  len += self->header_len;
  self->header_len = 0;

  ok = decode_buffer (self, &buffer, &allocated, len, func, user_data, error);

  g_free (self->buffer);
  self->buffer = buffer;
  self->allocated = allocated;
  return ok;
}

/*
 * rabc_frame_decoder_end_round:
 *
 * Tells the decoder that its owner has finished a round of input.  A
 * buffer kept between frames that took no frame of its size in the round
 * is given back: a connection that goes on with short messages, or goes
 * quiet, holds none.
 */
void
rabc_frame_decoder_end_round (RabcFrameDecoder *self)
{
  if (!self->in_payload && !self->buffer_used)
    buffer_free (self);
  self->buffer_used = FALSE;
}

/*
 * rabc_frame_decoder_release:
 *
 * Gives back a buffer kept between frames at once.
 *
 * Returns: whether there was one
 */
gboolean
rabc_frame_decoder_release (RabcFrameDecoder *self)
{
  if (self->in_payload || self->buffer == NULL)
    return FALSE;

  buffer_free (self);
  return TRUE;
}
