/* For each _Py_DebugOffsets field the profiler uses, print
 *   dbg.<field>  <byte position inside _Py_DebugOffsets>  <value CPython stores there>
 * The stored value is computed here with the same offsetof/sizeof expression
 * as CPython's initializer (pycore_runtime_init.h / pycore_debug_offsets.h),
 * so live_check.py can compare it with the bytes at the start of _PyRuntime.
 * The positions are the DebugOffsetPositions arrangements of
 * tachyon-user/src/python/layout.rs. */
#include "pyinc.h"

#define D(field, value) printf("dbg.%-40s %4zu %zu\n", #field, \
                               offsetof(_Py_DebugOffsets, field), (size_t)(value))

int main(void)
{
    printf("dbg.%-40s %4zu %zu\n", "sizeof", (size_t)0, sizeof(_Py_DebugOffsets));
    D(cookie, 0x7970756265626478ULL);   /* "xdebugpy" read as a little-endian u64 */
    D(version, PY_VERSION_HEX);
#ifdef Py_GIL_DISABLED
    D(free_threaded, 1);
#else
    D(free_threaded, 0);
#endif
    D(runtime_state.size, sizeof(_PyRuntimeState));
    D(runtime_state.interpreters_head, offsetof(_PyRuntimeState, interpreters.head));
    D(interpreter_state.size, sizeof(PyInterpreterState));
    D(interpreter_state.next, offsetof(PyInterpreterState, next));
    D(interpreter_state.threads_head, offsetof(PyInterpreterState, threads.head));
    D(interpreter_state.gc, offsetof(PyInterpreterState, gc));
    D(interpreter_state.ceval_gil, offsetof(PyInterpreterState, ceval.gil));
    D(interpreter_state.gil_runtime_state, offsetof(PyInterpreterState, _gil));
    D(interpreter_state.gil_runtime_state_locked, offsetof(PyInterpreterState, _gil.locked));
    D(interpreter_state.gil_runtime_state_holder, offsetof(PyInterpreterState, _gil.last_holder));
#if PY_VERSION_HEX >= 0x030E0000
    D(interpreter_state.code_object_generation, offsetof(PyInterpreterState, _code_object_generation));
#endif
    D(thread_state.size, sizeof(PyThreadState));
    D(thread_state.next, offsetof(PyThreadState, next));
    D(thread_state.interp, offsetof(PyThreadState, interp));
    D(thread_state.current_frame, offsetof(PyThreadState, current_frame));
    D(thread_state.thread_id, offsetof(PyThreadState, thread_id));
    D(thread_state.native_thread_id, offsetof(PyThreadState, native_thread_id));
    D(thread_state.status, offsetof(PyThreadState, _status));
#if PY_VERSION_HEX >= 0x030F0000
    D(thread_state.base_frame, offsetof(PyThreadState, base_frame));
    D(thread_state.holds_gil, offsetof(PyThreadState, holds_gil));
#endif
    D(interpreter_frame.size, sizeof(_PyInterpreterFrame));
    D(interpreter_frame.previous, offsetof(_PyInterpreterFrame, previous));
    D(interpreter_frame.executable, offsetof(_PyInterpreterFrame, f_executable));
    D(interpreter_frame.instr_ptr, offsetof(_PyInterpreterFrame, instr_ptr));
    D(interpreter_frame.owner, offsetof(_PyInterpreterFrame, owner));
#if PY_VERSION_HEX >= 0x030E0000
    D(interpreter_frame.stackpointer, offsetof(_PyInterpreterFrame, stackpointer));
#endif
    D(code_object.size, sizeof(PyCodeObject));
    D(code_object.filename, offsetof(PyCodeObject, co_filename));
    D(code_object.name, offsetof(PyCodeObject, co_name));
    D(code_object.qualname, offsetof(PyCodeObject, co_qualname));
    D(code_object.linetable, offsetof(PyCodeObject, co_linetable));
    D(code_object.firstlineno, offsetof(PyCodeObject, co_firstlineno));
    D(code_object.co_code_adaptive, offsetof(PyCodeObject, co_code_adaptive));
    D(pyobject.size, sizeof(PyObject));
    D(pyobject.ob_type, offsetof(PyObject, ob_type));
    D(bytes_object.ob_size, offsetof(PyBytesObject, ob_base.ob_size));
    D(bytes_object.ob_sval, offsetof(PyBytesObject, ob_sval));
    D(unicode_object.state, offsetof(PyASCIIObject, state));
    D(unicode_object.length, offsetof(PyASCIIObject, length));
    D(unicode_object.asciiobject_size, sizeof(PyASCIIObject));
    D(gc.collecting, offsetof(struct _gc_runtime_state, collecting));
    return 0;
}
