"""`python -m llama_cpp.server`, made safe on AMX machines like the in-process backend.

llama.cpp's AMX matrix multiply crashes with the embedded model on CPUs that report AMX (see
`desktop.llm.llamacpp.without_extra_buffers`); the server loads its model with llama-cpp-python's
own defaults, so this wrapper turns the extra CPU buffer types off for the whole process first
when the CPU has AMX, then runs the server module with the given arguments.
"""

from __future__ import annotations

import contextlib
import runpy

from desktop.llm.llamacpp import cpu_has_amx, without_extra_buffers

if __name__ == "__main__":
    with without_extra_buffers() if cpu_has_amx() else contextlib.nullcontext():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
