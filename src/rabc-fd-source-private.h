/* rabc-fd-source-private.h: a GSource watching one file descriptor
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A GSource watching one file descriptor; its callback is a
 * RabcFdSourceFunc. */
typedef gboolean (*RabcFdSourceFunc) (GIOCondition condition,
                                      gpointer     user_data);

GSource        *rabc_fd_source_new              (int                        fd,
                                                 GIOCondition               events);
void            rabc_fd_source_set_events       (GSource                   *source,
                                                 GIOCondition               events);
GIOCondition    rabc_fd_source_get_events       (GSource                   *source);
/* Destroys *@source, if any, drops the reference and sets it to NULL. */
void            rabc_clear_source               (GSource                  **source);

G_END_DECLS
