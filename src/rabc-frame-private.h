/* rabc-frame-private.h: the wire codec, pure and without I/O
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A frame is an unsigned 64-bit length in host byte order, then that many
 * bytes of UTF-8 text. */
#define RABC_FRAME_HEADER_SIZE 8

/* Called once per complete message.  @text is not NUL-terminated and is only
 * valid during the call.  Return FALSE to stop decoding: the rest of the
 * input is dropped, as when the receiver is closing. */
typedef gboolean (*RabcFrameFunc) (const char *text,
                                   gsize       len,
                                   gpointer    user_data);

typedef struct {
  gsize    max_size;
  guint8   header[RABC_FRAME_HEADER_SIZE];
  guint    header_len;
  /* A frame whose header is decoded and whose payload is being collected
   * across inputs, in @buffer: from its start, or after the header when
   * both were received into a buffer kept from an earlier frame. */
  guint    in_payload : 1;
  guint    payload_after_header : 1;
  /* @buffer took a frame of its size since the last end of a round. */
  guint    buffer_used : 1;
  gsize    payload_len;
  gsize    payload_filled;
  /* The memory for frames split across inputs.  It grows as the bytes
   * arrive, at most doubling what has arrived, never to more than the
   * frame: a header alone costs nothing.  It is kept after its frame for
   * the next long one, and given back at the end of a round that took no
   * frame of its size (see rabc_frame_decoder_end_round()). */
  guint8  *buffer;
  gsize    allocated;
  /* A buffer smaller than this is not kept after its frame: the
   * allocator has small blocks at hand anyway.  4 KiB unless changed. */
  guint32  keep_min_size;
} RabcFrameDecoder;

gboolean rabc_frame_check            (const char        *text,
                                      gsize              len,
                                      gsize              max_size,
                                      GError           **error);
void     rabc_frame_write            (guint8            *out,
                                      const char        *text,
                                      gsize              len);
void     rabc_frame_write_header     (guint8            *out,
                                      gsize              len);
void     rabc_frame_encode           (GByteArray        *out,
                                      const char        *text,
                                      gsize              len);

void     rabc_frame_decoder_init     (RabcFrameDecoder  *self,
                                      gsize              max_size);
void     rabc_frame_decoder_clear    (RabcFrameDecoder  *self);
gboolean rabc_frame_decoder_feed     (RabcFrameDecoder  *self,
                                      const guint8      *data,
                                      gsize              len,
                                      RabcFrameFunc      func,
                                      gpointer           user_data,
                                      GError           **error);
gboolean rabc_frame_decoder_is_idle  (const RabcFrameDecoder *self);
gsize    rabc_frame_decoder_get_allocated (const RabcFrameDecoder *self);
gsize    rabc_frame_decoder_get_missing   (const RabcFrameDecoder *self);
gsize    rabc_frame_decoder_get_frame_size (const RabcFrameDecoder *self);
gboolean rabc_frame_decoder_feed_whole    (RabcFrameDecoder  *self,
                                           const guint8      *data,
                                           gsize              len,
                                           RabcFrameFunc      func,
                                           gpointer           user_data,
                                           gsize             *used,
                                           gsize             *next_size,
                                           GError           **error);
gsize    rabc_frame_decoder_take_partial  (RabcFrameDecoder  *self,
                                           guint8            *out,
                                           gsize              max);
guint8  *rabc_frame_decoder_get_room      (RabcFrameDecoder  *self,
                                           gsize              max,
                                           gsize             *room);
gboolean rabc_frame_decoder_received      (RabcFrameDecoder  *self,
                                           gsize              len,
                                           RabcFrameFunc      func,
                                           gpointer           user_data,
                                           GError           **error);
void     rabc_frame_decoder_end_round     (RabcFrameDecoder  *self);
gboolean rabc_frame_decoder_release       (RabcFrameDecoder  *self);

G_END_DECLS
