/* fuzz-frame.c: libFuzzer target for the frame codec
 *
 * SPDX-License-Identifier: MIT
 *
 * The input (see fuzz-common.h) gives the maximum message size, the sizes of
 * the pieces the stream is fed in, and, in the option nibble, after how
 * many messages the callback asks to stop (0: never).  The stream is decoded
 * in one piece, in those pieces, and in those pieces received in place
 * wherever the decoder offers room in its own buffer (as a connection's
 * reads are), ending a round after each piece; all must deliver exactly
 * what the reference decoder of fuzz-common.h finds, and fail the same
 * way.  Every
 * message is then encoded again: that must give back the bytes it was
 * decoded from, and decode to the same messages.
 */

#include <stdint.h>

#include "fuzz-common.h"
#include "rabc-frame-private.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

typedef struct {
  gsize      max_size;
  guint      stop_after;
  GPtrArray *messages;
} Collector;

typedef struct {
  GPtrArray *messages;
  int        error_code;
  gboolean   stopped;
  gboolean   idle;
} Decoded;

static gboolean
collect (const char *text,
         gsize       len,
         gpointer    user_data)
{
  Collector *collector = user_data;

  fuzz_check (collector->stop_after == 0 || collector->messages->len < collector->stop_after,
              "message %u delivered after the callback asked to stop",
              collector->messages->len + 1);
  fuzz_check (len < collector->max_size,
              "a message of %" G_GSIZE_FORMAT " bytes with a maximum of %" G_GSIZE_FORMAT,
              len, collector->max_size);
  fuzz_check (len == 0 || text != NULL, "NULL text of %" G_GSIZE_FORMAT " bytes", len);
  fuzz_check (fuzz_utf8_valid_allowing_nul ((const guint8 *) text, len),
              "a message of %" G_GSIZE_FORMAT " bytes that is not UTF-8", len);

  /* Copying reads every byte, so ASan sees a text that is not all there. */
  g_ptr_array_add (collector->messages, g_bytes_new (text, len));

  return collector->stop_after == 0 || collector->messages->len < collector->stop_after;
}

typedef enum {
  WHOLE,
  PIECES,
  IN_PLACE,
} Mode;

/* Gives @len bytes to the decoder as a connection does: copied into the
 * room it offers in its own buffer, reads of 1 byte to 2 KiB, fed from
 * here where it offers none. */
static gboolean
feed_in_place (RabcFrameDecoder  *decoder,
               const guint8      *data,
               gsize              len,
               Collector         *collector,
               guint             *reads,
               GError           **error)
{
  while (len > 0)
    {
      gsize max = MIN (len, (gsize) 1 << (*reads % 12));
      gsize room = 0;
      guint8 *to = rabc_frame_decoder_get_room (decoder, max, &room);

      (*reads)++;
      if (to == NULL)
        return rabc_frame_decoder_feed (decoder, data, len, collect, collector, error);

      fuzz_check (room >= 1 && room <= max, "room of %" G_GSIZE_FORMAT " bytes for a read of "
                  "%" G_GSIZE_FORMAT, room, max);
      fuzz_check (rabc_frame_decoder_get_allocated (decoder) > 0, "room without a buffer");
      memcpy (to, data, room);
      if (!rabc_frame_decoder_received (decoder, room, collect, collector, error))
        return FALSE;
      data += room;
      len -= room;
      if (collector->stop_after != 0 && collector->messages->len == collector->stop_after)
        break;
    }
  return TRUE;
}

/* Decodes @stream as @mode says, until it ends, fails, or the callback
 * stops it. */
static void
decode (const FuzzInput *input,
        const guint8    *stream,
        gsize            len,
        guint            stop_after,
        Mode             mode,
        Decoded         *out)
{
  static const guint8 nothing[1];
  RabcFrameDecoder decoder;
  Collector collector = {
    .max_size = input->max_size,
    .stop_after = stop_after,
    .messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
  };
  gsize pos = 0;
  gboolean first = TRUE;
  guint reads = 0;

  /* An empty GByteArray has no data at all. */
  if (stream == NULL)
    stream = nothing;

  rabc_frame_decoder_init (&decoder, input->max_size);
  /* Inputs are short: keep buffers of any size, to reach that path. */
  if (mode == IN_PLACE)
    decoder.keep_min_size = 0;
  out->error_code = 0;
  out->stopped = FALSE;

  for (gsize index = 0; first || pos < len; index++)
    {
      g_autoptr(GError) error = NULL;
      gsize piece;

      /* Start with an empty input once: it must be harmless. */
      if (first)
        piece = 0;
      else if (mode != WHOLE)
        piece = MIN (fuzz_input_chunk_size (input, index - 1), len - pos);
      else
        piece = len - pos;
      first = FALSE;

      if (mode == IN_PLACE
          ? !feed_in_place (&decoder, stream + pos, piece, &collector, &reads, &error)
          : !rabc_frame_decoder_feed (&decoder, stream + pos, piece, collect, &collector, &error))
        {
          fuzz_check (error != NULL, "failed without an error");
          fuzz_check (error->domain == RABC_ERROR, "error in domain %s: %s",
                      g_quark_to_string (error->domain), error->message);
          fuzz_check (error->code == RABC_ERROR_EXCEEDED_IPC_MAX_SIZE ||
                      error->code == RABC_ERROR_INVALID_DATA,
                      "unexpected error code %d: %s", error->code, error->message);
          out->error_code = error->code;
          break;
        }
      fuzz_check (error == NULL, "succeeded with an error: %s", error->message);
      pos += piece;
      if (mode == IN_PLACE)
        rabc_frame_decoder_end_round (&decoder);

      if (stop_after != 0 && collector.messages->len == stop_after)
        {
          out->stopped = TRUE;
          break;
        }
    }

  out->idle = rabc_frame_decoder_is_idle (&decoder);
  out->messages = collector.messages;

  /* Two rounds without input give back a buffer kept between frames. */
  if (out->error_code == 0 && !decoder.in_payload)
    {
      rabc_frame_decoder_end_round (&decoder);
      rabc_frame_decoder_end_round (&decoder);
      fuzz_check (decoder.in_payload || rabc_frame_decoder_get_allocated (&decoder) == 0,
                  "%" G_GSIZE_FORMAT " bytes kept between frames after two idle rounds",
                  rabc_frame_decoder_get_allocated (&decoder));
    }
  rabc_frame_decoder_clear (&decoder);
  fuzz_check (rabc_frame_decoder_is_idle (&decoder), "not idle after clear");
}

static void
check_same_messages (GPtrArray  *got,
                     GPtrArray  *expected,
                     const char *what)
{
  fuzz_check (got->len == expected->len, "%s: %u messages instead of %u",
              what, got->len, expected->len);
  for (guint i = 0; i < got->len; i++)
    fuzz_check (g_bytes_equal (got->pdata[i], expected->pdata[i]),
                "%s: message %u differs (%" G_GSIZE_FORMAT " bytes instead of %" G_GSIZE_FORMAT ")",
                what, i, g_bytes_get_size (got->pdata[i]), g_bytes_get_size (expected->pdata[i]));
}

static void
check_decoded (const Decoded     *got,
               const FuzzDecoded *expected,
               const char        *what)
{
  check_same_messages (got->messages, expected->messages, what);
  fuzz_check (got->error_code == expected->error_code, "%s: error %d instead of %d",
              what, got->error_code, expected->error_code);
  if (expected->error_code == 0 && !got->stopped)
    fuzz_check (got->idle == expected->complete, "%s: idle is %d at the end, expected %d",
                what, got->idle, expected->complete);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  FuzzInput input;
  FuzzDecoded expected;
  Decoded whole, pieces, in_place, again;
  g_autoptr(GByteArray) wire = NULL;

  if (!fuzz_input_parse (data, size, &input))
    return 0;

  fuzz_reference_decode (input.stream, input.stream_len, input.max_size, input.option, &expected);

  decode (&input, input.stream, input.stream_len, input.option, WHOLE, &whole);
  check_decoded (&whole, &expected, "in one piece");
  decode (&input, input.stream, input.stream_len, input.option, PIECES, &pieces);
  check_decoded (&pieces, &expected, "in pieces");
  decode (&input, input.stream, input.stream_len, input.option, IN_PLACE, &in_place);
  check_decoded (&in_place, &expected, "received in place");

  /* Encoding what was decoded gives back the bytes it came from. */
  wire = g_byte_array_new ();
  for (guint i = 0; i < expected.messages->len; i++)
    {
      g_autoptr(GError) error = NULL;
      gsize len;
      const char *text = g_bytes_get_data (expected.messages->pdata[i], &len);

      fuzz_check (rabc_frame_check (text, len, input.max_size, &error),
                  "message %u was received but cannot be sent: %s", i, error->message);
      rabc_frame_encode (wire, text, len);
    }
  fuzz_check (wire->len == expected.consumed &&
              (wire->len == 0 || memcmp (wire->data, input.stream, wire->len) == 0),
              "re-encoding %u messages gives %u bytes, not the %" G_GSIZE_FORMAT " received",
              expected.messages->len, wire->len, expected.consumed);

  /* ... which decode to the same messages, completely. */
  decode (&input, wire->data, wire->len, 0, IN_PLACE, &again);
  check_same_messages (again.messages, expected.messages, "round trip");
  fuzz_check (again.error_code == 0, "round trip: error %d", again.error_code);
  fuzz_check (again.idle, "round trip: not idle at the end");

  g_ptr_array_unref (whole.messages);
  g_ptr_array_unref (pieces.messages);
  g_ptr_array_unref (in_place.messages);
  g_ptr_array_unref (again.messages);
  fuzz_decoded_clear (&expected);
  return 0;
}
