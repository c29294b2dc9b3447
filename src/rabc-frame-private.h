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
   * across inputs.  Its buffer grows as the bytes arrive, never to more
   * than the frame's length: a header alone costs nothing. */
  gboolean in_payload;
  char    *payload;
  gsize    payload_len;
  gsize    payload_filled;
  gsize    payload_allocated;
} RabcFrameDecoder;

gboolean rabc_frame_check            (const char        *text,
                                      gsize              len,
                                      gsize              max_size,
                                      GError           **error);
void     rabc_frame_write            (guint8            *out,
                                      const char        *text,
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

G_END_DECLS
