/* rabc-lock-private.h: GMutex and GCond, visible to ThreadSanitizer
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* GLib builds its mutexes and conditions on futexes, which ThreadSanitizer
 * cannot see through.  In a -fsanitize=thread build these wrappers
 * describe each lock and unlock to it, so that it checks what a lock
 * guards (and the order locks are taken in) instead of reporting every
 * access; without TSan they are the plain GLib calls. */
#if defined(__SANITIZE_THREAD__)
# define RABC_TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define RABC_TSAN 1
# endif
#endif

#ifdef RABC_TSAN
# include <sanitizer/tsan_interface.h>
# define rabc_tsan(call) call
#else
# define rabc_tsan(call) ((void) 0)
#endif

typedef struct {
  GMutex mutex;
} RabcMutex;

static inline void
rabc_mutex_init (RabcMutex *mutex)
{
  g_mutex_init (&mutex->mutex);
  rabc_tsan (__tsan_mutex_create (mutex, 0));
}

static inline void
rabc_mutex_clear (RabcMutex *mutex)
{
  rabc_tsan (__tsan_mutex_destroy (mutex, 0));
  g_mutex_clear (&mutex->mutex);
}

static inline void
rabc_mutex_lock (RabcMutex *mutex)
{
  rabc_tsan (__tsan_mutex_pre_lock (mutex, 0));
  g_mutex_lock (&mutex->mutex);
  rabc_tsan (__tsan_mutex_post_lock (mutex, 0, 0));
}

static inline void
rabc_mutex_unlock (RabcMutex *mutex)
{
  rabc_tsan (__tsan_mutex_pre_unlock (mutex, 0));
  g_mutex_unlock (&mutex->mutex);
  rabc_tsan (__tsan_mutex_post_unlock (mutex, 0));
}

typedef GCond RabcCond;

#define rabc_cond_init(cond) g_cond_init (cond)
#define rabc_cond_clear(cond) g_cond_clear (cond)
#define rabc_cond_broadcast(cond) g_cond_broadcast (cond)

/* A wait unlocks and locks again inside GLib. */
static inline void
rabc_cond_wait (RabcCond  *cond,
                RabcMutex *mutex)
{
  rabc_tsan ((__tsan_mutex_pre_unlock (mutex, 0), __tsan_mutex_post_unlock (mutex, 0)));
  g_cond_wait (cond, &mutex->mutex);
  rabc_tsan ((__tsan_mutex_pre_lock (mutex, 0), __tsan_mutex_post_lock (mutex, 0, 0)));
}

static inline gboolean
rabc_cond_wait_until (RabcCond  *cond,
                      RabcMutex *mutex,
                      gint64     end_time)
{
  gboolean signalled;

  rabc_tsan ((__tsan_mutex_pre_unlock (mutex, 0), __tsan_mutex_post_unlock (mutex, 0)));
  signalled = g_cond_wait_until (cond, &mutex->mutex, end_time);
  rabc_tsan ((__tsan_mutex_pre_lock (mutex, 0), __tsan_mutex_post_lock (mutex, 0, 0)));
  return signalled;
}

/* A hand-over from one thread to another through GLib (a source attached
 * to another thread's context, a GTask), whose futex TSan cannot see: the
 * sender publishes @object after its last write, and the receiver takes
 * it before its first read. */
#define rabc_tsan_publish(object) rabc_tsan (__tsan_release (object))
#define rabc_tsan_receive(object) rabc_tsan (__tsan_acquire (object))

G_END_DECLS
