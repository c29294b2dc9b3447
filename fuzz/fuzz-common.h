/* fuzz-common.h: input layout and reference decoder shared by the fuzzers
 *
 * SPDX-License-Identifier: MIT
 *
 * Every fuzz input is laid out the same way, so that one seed corpus
 * generator (make-corpus.py) serves both targets:
 *
 *   byte 0        the maximum message size, see fuzz_max_size()
 *   byte 1        low nibble: N, the number of chunk-size bytes that follow;
 *                 high nibble: a target-specific option
 *   N bytes       chunk sizes, used in turn and cycled: the stream is fed or
 *                 written in pieces of these sizes (0: an empty piece; when
 *                 all are 0 or N is 0, the stream is one piece)
 *   the rest      the byte stream, frames as they travel on the socket
 *
 * The reference decoder below is written from the protocol description in
 * DESIGN.md, independently of rabc-frame.c, so that the fuzzers check what
 * the library decodes and not merely that it does not crash.
 */

#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "rabc-error.h"

#define FUZZ_HEADER_SIZE 8
#define FUZZ_DEFAULT_MAX_SIZE ((gsize) 1048576)

/* Like g_assert(), but never compiled out and always fatal, with the
 * input's own words. */
#define fuzz_check(expr, ...)                                            \
  G_STMT_START {                                                         \
    if (G_UNLIKELY (!(expr)))                                            \
      {                                                                  \
        fprintf (stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, \
                 #expr);                                                 \
        fprintf (stderr, __VA_ARGS__);                                   \
        fputc ('\n', stderr);                                            \
        abort ();                                                        \
      }                                                                  \
  } G_STMT_END

typedef struct {
  gsize         max_size;
  guint         option;        /* the high nibble of byte 1 */
  const guint8 *chunk_sizes;
  gsize         n_chunk_sizes;
  const guint8 *stream;
  gsize         stream_len;
} FuzzInput;

/* 0x00-0x7f: small maximums (1-128 bytes), where every frame can exceed it;
 * 0x80-0xef: the default of 1 MiB;
 * 0xf0-0xff: 1 MiB - 8 ... 1 MiB + 7, around the default's boundary. */
static inline gsize
fuzz_max_size (guint8 selector)
{
  if (selector < 0x80)
    return (gsize) selector + 1;
  if (selector < 0xf0)
    return FUZZ_DEFAULT_MAX_SIZE;
  return FUZZ_DEFAULT_MAX_SIZE - 8 + (selector - 0xf0);
}

static inline gboolean
fuzz_input_parse (const guint8 *data,
                  gsize         size,
                  FuzzInput    *input)
{
  gsize n;

  if (size < 2)
    return FALSE;

  n = data[1] & 0x0f;
  if (size < 2 + n)
    return FALSE;

  input->max_size = fuzz_max_size (data[0]);
  input->option = data[1] >> 4;
  input->chunk_sizes = data + 2;
  input->n_chunk_sizes = n;
  /* Sizes that are all 0 would never get anywhere: one piece, then. */
  while (n > 0 && input->chunk_sizes[n - 1] == 0)
    n--;
  if (n == 0)
    input->n_chunk_sizes = 0;
  input->stream = data + 2 + n;
  input->stream_len = size - 2 - n;
  return TRUE;
}

/* The size of piece number @index, to be capped at what is left; without
 * chunk sizes, the whole stream is one piece. */
static inline gsize
fuzz_input_chunk_size (const FuzzInput *input,
                       gsize            index)
{
  if (input->n_chunk_sizes == 0)
    return G_MAXSIZE;
  return input->chunk_sizes[index % input->n_chunk_sizes];
}

/* UTF-8 in which U+0000 is allowed: every NUL-free run must be valid. */
static inline gboolean
fuzz_utf8_valid_allowing_nul (const guint8 *text,
                              gsize         len)
{
  while (len > 0)
    {
      const guint8 *nul = memchr (text, '\0', len);
      gsize run = nul != NULL ? (gsize) (nul - text) : len;

      if (!g_utf8_validate_len ((const char *) text, run, NULL))
        return FALSE;
      if (nul == NULL)
        break;
      text += run + 1;
      len -= run + 1;
    }
  return TRUE;
}

typedef struct {
  /* GBytes of every message delivered, in order. */
  GPtrArray *messages;
  /* 0, or the RABC_ERROR code the stream must fail with. */
  int        error_code;
  /* Bytes up to the end of the last message delivered. */
  gsize      consumed;
  /* No partial frame is left over at the end (and no error). */
  gboolean   complete;
} FuzzDecoded;

static inline void
fuzz_decoded_clear (FuzzDecoded *decoded)
{
  g_clear_pointer (&decoded->messages, g_ptr_array_unref);
}

/* Decodes @stream as a whole, as DESIGN.md specifies: frames whose length
 * is >= @max_size are refused as soon as their header is complete, and
 * payloads that are not UTF-8 once they are complete.  Stops after
 * @stop_after messages, when that is not 0. */
static inline void
fuzz_reference_decode (const guint8 *stream,
                       gsize         len,
                       gsize         max_size,
                       guint         stop_after,
                       FuzzDecoded  *out)
{
  gsize pos = 0;

  out->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  out->error_code = 0;
  out->consumed = 0;
  out->complete = FALSE;

  for (;;)
    {
      guint64 frame_len;

      if (stop_after != 0 && out->messages->len == stop_after)
        return;
      if (len - pos < FUZZ_HEADER_SIZE)
        break;

      memcpy (&frame_len, stream + pos, sizeof frame_len);
      if (frame_len >= max_size)
        {
          out->error_code = RABC_ERROR_EXCEEDED_IPC_MAX_SIZE;
          return;
        }
      if (len - pos - FUZZ_HEADER_SIZE < frame_len)
        break;
      if (!fuzz_utf8_valid_allowing_nul (stream + pos + FUZZ_HEADER_SIZE, frame_len))
        {
          out->error_code = RABC_ERROR_INVALID_DATA;
          return;
        }

      g_ptr_array_add (out->messages,
                       g_bytes_new (stream + pos + FUZZ_HEADER_SIZE, frame_len));
      pos += FUZZ_HEADER_SIZE + frame_len;
      out->consumed = pos;
    }

  out->complete = pos == len;
}
