/* rabc-lock-private.h: GMutex and GCond, visible to ThreadSanitizer
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* GLib's mutexes and conditions are built on futexes, which
 * ThreadSanitizer cannot see through: in a -fsanitize=thread build these
 * wrappers tell it that each unlock happens before the next lock, so that
 * what the lock guards is checked, not reported. */
#if defined(__SANITIZE_THREAD__)
# define RABC_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define RABC_TSAN 1
# endif
#endif

#ifdef RABC_TSAN
void __tsan_acquire (void *addr);
void __tsan_release (void *addr);
# define rabc_tsan_acquire(addr) __tsan_acquire (addr)
# define rabc_tsan_release(addr) __tsan_release (addr)
#else
# define rabc_tsan_acquire(addr) ((void) 0)
# define rabc_tsan_release(addr) ((void) 0)
#endif

typedef GMutex RabcMutex;
typedef GCond RabcCond;

#define rabc_mutex_init(mutex) g_mutex_init (mutex)
#define rabc_mutex_clear(mutex) g_mutex_clear (mutex)
#define rabc_cond_init(cond) g_cond_init (cond)
#define rabc_cond_clear(cond) g_cond_clear (cond)

static inline void
rabc_mutex_lock (RabcMutex *mutex)
{
  g_mutex_lock (mutex);
  rabc_tsan_acquire (mutex);
}

static inline void
rabc_mutex_unlock (RabcMutex *mutex)
{
  rabc_tsan_release (mutex);
  g_mutex_unlock (mutex);
}

static inline void
rabc_cond_wait (RabcCond  *cond,
                RabcMutex *mutex)
{
  rabc_tsan_release (mutex);
  g_cond_wait (cond, mutex);
  rabc_tsan_acquire (mutex);
}

static inline gboolean
rabc_cond_wait_until (RabcCond  *cond,
                      RabcMutex *mutex,
                      gint64     end_time)
{
  gboolean signalled;

  rabc_tsan_release (mutex);
  signalled = g_cond_wait_until (cond, mutex, end_time);
  rabc_tsan_acquire (mutex);
  return signalled;
}

static inline void
rabc_cond_broadcast (RabcCond *cond)
{
  g_cond_broadcast (cond);
}

G_END_DECLS
