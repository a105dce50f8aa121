/* Print the struct layout facts the profiler's offset table needs.
 * Every number comes from offsetof/sizeof over the interpreter's own headers. */
#include "pyinc.h"

/* Bit position of a bitfield: set it in a zeroed struct and look for the bit. */
#define BITPOS(type, member, bit) do {                                   \
        type s_; memset(&s_, 0, sizeof s_); s_.member.bit = 1;            \
        const unsigned char *b_ = (const unsigned char *)&s_;            \
        for (size_t i_ = 0; i_ < sizeof s_ * 8; i_++)                     \
            if (b_[i_ / 8] & (1u << (i_ % 8))) {                          \
                printf("%-44s byte %zu bit %zu (u32 mask at +%zu: 0x%x)\n", \
                       #type "." #member "." #bit, i_ / 8, i_ % 8,        \
                       offsetof(type, member),                            \
                       1u << (i_ - offsetof(type, member) * 8));          \
                break; }                                                  \
    } while (0)

int main(void)
{
    printf("%-44s %s\n", "PY_VERSION", PY_VERSION);
    printf("%-44s 0x%08x\n", "PY_VERSION_HEX", (unsigned)PY_VERSION_HEX);
#ifdef Py_GIL_DISABLED
    P("Py_GIL_DISABLED", 1);
#else
    P("Py_GIL_DISABLED", 0);
#endif

    /* _PyRuntimeState */
    OFF(_PyRuntimeState, debug_offsets);
    OFF(_PyRuntimeState, interpreters.head);
#if PY_VERSION_HEX < 0x030F0000           /* removed in 3.15 */
    OFF(_PyRuntimeState, autoTSSkey);
    P("_PyRuntimeState.autoTSSkey._key", offsetof(_PyRuntimeState, autoTSSkey) + offsetof(Py_tss_t, _key));
#endif
    OFF(_PyRuntimeState, gilstate.autoInterpreterState);
    SIZE(_PyRuntimeState);
    SIZE(_Py_DebugOffsets);

    /* PyInterpreterState */
    OFF(PyInterpreterState, next);
    OFF(PyInterpreterState, threads.head);
    OFF(PyInterpreterState, threads.main);
    OFF(PyInterpreterState, ceval.gil);
    OFF(PyInterpreterState, _gil);
    OFF(PyInterpreterState, _gil.locked);
    OFF(PyInterpreterState, _gil.last_holder);
#if PY_VERSION_HEX >= 0x030E0000
    OFF(PyInterpreterState, _code_object_generation);
#endif
    SIZE(PyInterpreterState);

    /* PyThreadState */
    OFF(PyThreadState, prev);
    OFF(PyThreadState, next);
    OFF(PyThreadState, interp);
    OFF(PyThreadState, _status);
    OFF(PyThreadState, state);
    OFF(PyThreadState, current_frame);
    OFF(PyThreadState, thread_id);
    OFF(PyThreadState, native_thread_id);
    OFF(PyThreadState, datastack_chunk);
#if PY_VERSION_HEX >= 0x030E0000
    OFF(PyThreadState, holds_gil);         /* an int from 3.14 on */
#else
    BITPOS(PyThreadState, _status, holds_gil);  /* a bitfield in 3.13 */
#endif
    BITPOS(PyThreadState, _status, bound_gilstate);
#if PY_VERSION_HEX >= 0x030F0000
    OFF(PyThreadState, base_frame);
    OFF(PyThreadState, last_profiled_frame);
    OFF(_PyThreadStateImpl, base_frame);
#endif
    SIZE(PyThreadState);
    SIZE(_PyThreadStateImpl);

    /* _PyInterpreterFrame */
    OFF(_PyInterpreterFrame, f_executable);
    OFF(_PyInterpreterFrame, previous);
    OFF(_PyInterpreterFrame, f_funcobj);
    OFF(_PyInterpreterFrame, instr_ptr);
#if PY_VERSION_HEX >= 0x030E0000
    OFF(_PyInterpreterFrame, stackpointer);
#else
    OFF(_PyInterpreterFrame, stacktop);    /* int, not a pointer, in 3.13 */
#endif
    OFF(_PyInterpreterFrame, owner);
    OFF(_PyInterpreterFrame, localsplus);
    SIZE(_PyInterpreterFrame);

    /* owner enum and stackref tagging */
    P("FRAME_OWNED_BY_THREAD", FRAME_OWNED_BY_THREAD);
    P("FRAME_OWNED_BY_GENERATOR", FRAME_OWNED_BY_GENERATOR);
    P("FRAME_OWNED_BY_FRAME_OBJECT", FRAME_OWNED_BY_FRAME_OBJECT);
#if PY_VERSION_HEX >= 0x030E0000
    P("FRAME_OWNED_BY_INTERPRETER", FRAME_OWNED_BY_INTERPRETER);
#endif
#if PY_VERSION_HEX < 0x030F0000            /* CSTACK is gone in 3.15 */
    P("FRAME_OWNED_BY_CSTACK", FRAME_OWNED_BY_CSTACK);
#endif
#ifdef Py_TAG_BITS
    P("Py_TAG_BITS", Py_TAG_BITS);
#else
    printf("%-44s %s\n", "Py_TAG_BITS", "undefined");
#endif

    /* PyCodeObject */
    OFF(PyCodeObject, co_flags);
    OFF(PyCodeObject, co_argcount);
    OFF(PyCodeObject, co_firstlineno);
    OFF(PyCodeObject, co_nlocalsplus);
    OFF(PyCodeObject, co_version);
    OFF(PyCodeObject, co_filename);
    OFF(PyCodeObject, co_name);
    OFF(PyCodeObject, co_qualname);
    OFF(PyCodeObject, co_linetable);
    OFF(PyCodeObject, _co_firsttraceable);
    OFF(PyCodeObject, co_code_adaptive);
    SIZE(PyCodeObject);

    /* strings */
    OFF(PyASCIIObject, length);
    OFF(PyASCIIObject, state);
    SIZE(PyASCIIObject);
    SIZE(PyCompactUnicodeObject);
    return 0;
}
