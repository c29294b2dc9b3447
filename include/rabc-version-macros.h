/* rabc-version-macros.h: symbol visibility and availability
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#if !defined(__RABC_INSIDE__) && !defined(RABC_COMPILATION)
#error "Only <rabc.h> can be included directly."
#endif

#include <glib.h>

#if defined(RABC_COMPILATION)
# define _RABC_EXTERN __attribute__((visibility ("default"))) extern
#else
# define _RABC_EXTERN extern
#endif

/* Every public prototype carries one of these; the library is built with
 * hidden visibility, so only symbols marked here are exported. */
#define RABC_AVAILABLE_IN_ALL _RABC_EXTERN
#define RABC_AVAILABLE_IN_1_0 _RABC_EXTERN
