/* test-rate-limit.c: how often a kind of log message may appear
 *
 * SPDX-License-Identifier: MIT
 */

#include "rabc-rate-limit-private.h"
#include "rabc-test-util.h"

#define SECOND G_USEC_PER_SEC

static void
test_rate_limit_burst (void)
{
  RabcRateLimit limit;
  guint suppressed = 99;
  guint allowed = 0;

  rabc_rate_limit_init (&limit, 10 * SECOND, 3);

  /* 1000 events in the first second: three get through. */
  for (guint i = 0; i < 1000; i++)
    if (rabc_rate_limit_allow (&limit, 1000 * i, &suppressed))
      {
        allowed++;
        g_assert_cmpuint (suppressed, ==, 0);
      }
  g_assert_cmpuint (allowed, ==, 3);
  g_assert_cmpuint (limit.n_suppressed, ==, 997);
  g_assert_cmpint (rabc_rate_limit_get_window_end (&limit), ==, 10 * SECOND);

  /* Still within the window. */
  g_assert_false (rabc_rate_limit_allow (&limit, 10 * SECOND - 1, &suppressed));

  /* The next window lets the first one through and reports the rest. */
  g_assert_true (rabc_rate_limit_allow (&limit, 10 * SECOND, &suppressed));
  g_assert_cmpuint (suppressed, ==, 998);
  g_assert_cmpuint (limit.n_suppressed, ==, 0);
  g_assert_cmpint (rabc_rate_limit_get_window_end (&limit), ==, 20 * SECOND);
}

static void
test_rate_limit_summary (void)
{
  RabcRateLimit limit;
  guint suppressed;

  rabc_rate_limit_init (&limit, SECOND, 1);
  g_assert_cmpint (rabc_rate_limit_get_window_end (&limit), ==, G_MININT64);
  g_assert_true (rabc_rate_limit_allow (&limit, 5 * SECOND, &suppressed));
  g_assert_false (rabc_rate_limit_allow (&limit, 5 * SECOND + 1, &suppressed));
  g_assert_false (rabc_rate_limit_allow (&limit, 5 * SECOND + 2, &suppressed));

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
  g_test_add_func ("/rabc/rate-limit/summary", test_rate_limit_summary);

  return g_test_run ();
}
