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
  guint64 header = len;

  memcpy (out, &header, sizeof header);
  if (len > 0)
    memcpy (out + RABC_FRAME_HEADER_SIZE, text, len);
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

void
rabc_frame_decoder_init (RabcFrameDecoder *self,
                         gsize             max_size)
{
  memset (self, 0, sizeof *self);
  self->max_size = max_size;
}

void
rabc_frame_decoder_clear (RabcFrameDecoder *self)
{
  g_clear_pointer (&self->payload, g_free);
  self->header_len = 0;
  self->in_payload = FALSE;
  self->payload_len = 0;
  self->payload_filled = 0;
  self->payload_allocated = 0;
}

gboolean
rabc_frame_decoder_is_idle (const RabcFrameDecoder *self)
{
  return self->header_len == 0 && !self->in_payload;
}

/* The bytes the decoder holds in memory for a frame split across inputs. */
gsize
rabc_frame_decoder_get_allocated (const RabcFrameDecoder *self)
{
  return self->payload_allocated;
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

/* Makes room for @needed bytes of the payload being collected: the buffer
 * at least doubles each time, so that collecting costs a linear number of
 * copies, but never exceeds the frame.  The size comes from the peer, so a
 * failed allocation is an error of this frame, not an abort. */
static gboolean
reserve_payload (RabcFrameDecoder  *self,
                 gsize              needed,
                 GError           **error)
{
  gsize size;
  char *payload;

  if (needed <= self->payload_allocated)
    return TRUE;

  size = MIN (self->payload_len, MAX (needed, 2 * self->payload_allocated));
  payload = g_try_realloc (self->payload, size);
  if (payload == NULL)
    {
      g_set_error (error, RABC_ERROR, RABC_ERROR_NO_MEMORY,
                   "out of memory for a message of %" G_GSIZE_FORMAT " bytes: "
                   "cannot allocate %" G_GSIZE_FORMAT " bytes",
                   self->payload_len, size);
      return FALSE;
    }

  self->payload = payload;
  self->payload_allocated = size;
  return TRUE;
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
          g_autofree char *payload = NULL;
          gsize payload_len;

          if (take == 0)
            break;
          if (!reserve_payload (self, self->payload_filled + take, error))
            return FALSE;
          memcpy (self->payload + self->payload_filled, p, take);
          self->payload_filled += take;
          p += take;
          if (self->payload_filled < self->payload_len)
            break;

          /* Detach first: @func may re-enter the receiver. */
          payload = g_steal_pointer (&self->payload);
          payload_len = self->payload_len;
          self->in_payload = FALSE;
          self->payload_len = self->payload_filled = self->payload_allocated = 0;
          if (!deliver (payload, payload_len, func, user_data, &keep_going, error))
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
          self->in_payload = TRUE;
          self->payload_len = frame_len;
          self->payload_filled = 0;
        }
    }

  return TRUE;
}
