/* rabc-utf8.c: UTF-8 validation for the wire codec
 *
 * The protocol's text is UTF-8 in which U+0000 is valid, as the original
 * implementation has it; g_utf8_validate_len() stops at a NUL byte, and
 * calling it again after each one costs a call per NUL.  This validator
 * takes the whole text in one pass, ASCII 64 bytes at a time (with SSE2
 * where the compiler targets it, as every x86-64 does) or 32, and
 * accepts exactly what g_utf8_validate_len() accepts between NULs:
 * shortest forms only, no surrogates, nothing above U+10FFFF.
 *
 * SPDX-License-Identifier: MIT
 */

#include "config.h"

#include <string.h>

#if defined(__SSE2__)
# include <emmintrin.h>
#endif

#include "rabc-utf8-private.h"

#define HIGH_BITS G_GUINT64_CONSTANT (0x8080808080808080)

/* Skips the ASCII at @p in blocks of 64 bytes (32 without SSE2), up to
 * the first block that holds another byte or is shorter. */
static inline const guchar *
skip_ascii_blocks (const guchar *p,
                   const guchar *end)
{
#if defined(__SSE2__)
  while (end - p >= 64)
    {
      __m128i a = _mm_loadu_si128 ((const __m128i *) p);
      __m128i b = _mm_loadu_si128 ((const __m128i *) (p + 16));
      __m128i c = _mm_loadu_si128 ((const __m128i *) (p + 32));
      __m128i d = _mm_loadu_si128 ((const __m128i *) (p + 48));

      /* The high bit of each byte. */
      if (_mm_movemask_epi8 (_mm_or_si128 (_mm_or_si128 (a, b), _mm_or_si128 (c, d))) != 0)
        break;
      p += 64;
    }
#endif
  while (end - p >= 32)
    {
      guint64 words[4];

      memcpy (words, p, sizeof words);
      if ((words[0] | words[1] | words[2] | words[3]) & HIGH_BITS)
        break;
      p += 32;
    }
  return p;
}

static inline gboolean
is_continuation (guchar c)
{
  return (c & 0xc0) == 0x80;
}

gboolean
rabc_utf8_validate (const char *text,
                    gsize       len)
{
  const guchar *p = (const guchar *) text;
  const guchar *end;

  /* An empty text may come as NULL, and NULL + 0 is undefined. */
  if (len == 0)
    return TRUE;
  end = p + len;

  while (p < end)
    {
      guchar c;

      /* ASCII, in blocks, then a word, then a byte at a time. */
      p = skip_ascii_blocks (p, end);
      while (end - p >= 8)
        {
          guint64 word;

          memcpy (&word, p, sizeof word);
          if (word & HIGH_BITS)
            break;
          p += 8;
        }
      while (p < end && *p < 0x80)
        p++;
      if (p == end)
        break;

      c = *p;

      /* 0x80 to 0xc1: a continuation byte, or an overlong two-byte form. */
      if (c < 0xc2)
        return FALSE;

      if (c < 0xe0)
        {
          if (end - p < 2 || !is_continuation (p[1]))
            return FALSE;
          p += 2;
          continue;
        }

      if (c < 0xf0)
        {
          if (end - p < 3)
            return FALSE;
          /* After 0xe0, below 0xa0 is overlong; after 0xed, 0xa0 and up
           * are surrogates. */
          if ((c == 0xe0 && (p[1] < 0xa0 || p[1] > 0xbf)) ||
              (c == 0xed && (p[1] < 0x80 || p[1] > 0x9f)) ||
              !is_continuation (p[1]) || !is_continuation (p[2]))
            return FALSE;
          p += 3;
          continue;
        }

      if (c < 0xf5)
        {
          if (end - p < 4)
            return FALSE;
          /* After 0xf0, below 0x90 is overlong; after 0xf4, 0x90 and up
           * are above U+10FFFF. */
          if ((c == 0xf0 && (p[1] < 0x90 || p[1] > 0xbf)) ||
              (c == 0xf4 && (p[1] < 0x80 || p[1] > 0x8f)) ||
              !is_continuation (p[1]) || !is_continuation (p[2]) || !is_continuation (p[3]))
            return FALSE;
          p += 4;
          continue;
        }

      /* 0xf5 to 0xff never start a valid sequence. */
      return FALSE;
    }

  return TRUE;
}
