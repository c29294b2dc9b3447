/* rabc.h: the librabc umbrella header
 *
 * SPDX-License-Identifier: MIT
 */

#pragma once

#define __RABC_INSIDE__

#include "rabc-version.h"
#include "rabc-version-macros.h"
#include "rabc-defaults.h"
#include "rabc-error.h"
#include "rabc-client.h"
#include "rabc-peer.h"
#include "rabc-request.h"
#include "rabc-server.h"

#undef __RABC_INSIDE__
