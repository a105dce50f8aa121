/* Common includes for the offset programs.  Build with
 *   gcc -DPy_BUILD_CORE -I<inc>/python3.X -I<inc>/python3.X/internal [-I<inc>]
 * (the extra -I<inc> is for Debian's multiarch pyconfig.h wrapper).
 * Supports CPython 3.13, 3.14 and 3.15 headers. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "Python.h"
#if PY_VERSION_HEX < 0x030D0000
#  error "only CPython >= 3.13 headers are supported"
#endif
#include "pycore_runtime.h"   /* _PyRuntimeState, _Py_DebugOffsets */
#include "pycore_interp.h"    /* PyInterpreterState */
#include "pycore_tstate.h"    /* _PyThreadStateImpl */
#include "pycore_frame.h"     /* _PyInterpreterFrame, FRAME_OWNED_BY_* */
#include "pycore_code.h"
#include "pycore_stackref.h"  /* Py_TAG_BITS (3.14+) */

/* "key value" lines, one per number: easy to diff and to parse. */
#define P(key, val) printf("%-44s %zu\n", key, (size_t)(val))
#define OFF(type, field) P(#type "." #field, offsetof(type, field))
#define SIZE(type) P("sizeof(" #type ")", sizeof(type))
