/* test-rate-limit.c: how often a kind of log message may appear
 *
 * SPDX-License-Identifier: MIT
 */

#include "rabc-rate-limit-private.h"
#include "rabc-test-util.h"

#define SECOND G_USEC_PER_SEC

/* At most @burst in any @interval: a flood gets the first three through,
 * then one each time the oldest of the last three is an interval old. */
static void
test_rate_limit_burst (void)
{
  RabcRateLimit limit;
  guint suppressed = 99;
  guint allowed = 0;

  rabc_rate_limit_init (&limit, 10 * SECOND, 3);
  g_assert_cmpint (rabc_rate_limit_get_next_allowed (&limit), ==, G_MININT64);

  /* 1000 events in the first second: three get through. */
  for (guint i = 0; i < 1000; i++)
    if (rabc_rate_limit_allow (&limit, 1000 * i, &suppressed))
      {
        allowed++;
        g_assert_cmpuint (suppressed, ==, 0);
      }
  g_assert_cmpuint (allowed, ==, 3);
  g_assert_cmpuint (limit.n_suppressed, ==, 997);
  g_assert_cmpint (rabc_rate_limit_get_next_allowed (&limit), ==, 10 * SECOND);

  /* Not before the first of them is 10 s old... */
  g_assert_false (rabc_rate_limit_allow (&limit, 10 * SECOND - 1, &suppressed));

  /* ...and then one, which reports the rest. */
  g_assert_true (rabc_rate_limit_allow (&limit, 10 * SECOND, &suppressed));
  g_assert_cmpuint (suppressed, ==, 998);
  g_assert_cmpuint (limit.n_suppressed, ==, 0);
  g_assert_cmpint (rabc_rate_limit_get_next_allowed (&limit), ==, 10 * SECOND + 1000);
  g_assert_false (rabc_rate_limit_allow (&limit, 10 * SECOND + 999, &suppressed));
  g_assert_true (rabc_rate_limit_allow (&limit, 10 * SECOND + 1000, &suppressed));
  g_assert_cmpuint (suppressed, ==, 1);
}

/* A burst just before a fixed window would end and one just after would
 * make six in a moment; in any 10 s there are at most three. */
static void
test_rate_limit_sliding (void)
{
  RabcRateLimit limit;
  guint suppressed, allowed = 0;

  rabc_rate_limit_init (&limit, 10 * SECOND, 3);
  for (gint64 t = 9 * SECOND; t < 11 * SECOND; t += SECOND / 100)
    allowed += rabc_rate_limit_allow (&limit, t, &suppressed);
  g_assert_cmpuint (allowed, ==, 3);
}

static void
test_rate_limit_summary (void)
{
  RabcRateLimit limit;
  guint suppressed;

  rabc_rate_limit_init (&limit, SECOND, 1);
  g_assert_true (rabc_rate_limit_allow (&limit, 5 * SECOND, &suppressed));
  g_assert_false (rabc_rate_limit_allow (&limit, 5 * SECOND + 1, &suppressed));
  g_assert_false (rabc_rate_limit_allow (&limit, 5 * SECOND + 2, &suppressed));
  g_assert_cmpint (rabc_rate_limit_get_next_allowed (&limit), ==, 6 * SECOND);

  /* A summary takes the count once. */
  g_assert_cmpuint (rabc_rate_limit_take_suppressed (&limit), ==, 2);
  g_assert_cmpuint (rabc_rate_limit_take_suppressed (&limit), ==, 0);
  g_assert_true (rabc_rate_limit_allow (&limit, 7 * SECOND, &suppressed));
  g_assert_cmpuint (suppressed, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/rabc/rate-limit/burst", test_rate_limit_burst);
  g_test_add_func ("/rabc/rate-limit/sliding", test_rate_limit_sliding);
  g_test_add_func ("/rabc/rate-limit/summary", test_rate_limit_summary);

  return g_test_run ();
}
