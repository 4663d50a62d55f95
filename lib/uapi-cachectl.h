/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The proposed fcachectl(2) syscall (kernel-patches/). Carried here because
 * no released kernel header has it; the number is out of upstream's range
 * and PROBE's magic answer proves the syscall is really ours.
 */
#ifndef CACHECTL_UAPI_CACHECTL_H
#define CACHECTL_UAPI_CACHECTL_H

#include <stdint.h>

#ifndef __NR_fcachectl
#define __NR_fcachectl 1000
#endif

#define CACHECTL_OP_PROBE_NR	0
#define CACHECTL_PROBE_MAGIC	0x63630001

#endif
