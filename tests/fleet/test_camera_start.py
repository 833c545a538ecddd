"""Camera processes start as forks of one fork server that has imported what they need
(``openlfr.fleet.preload``): they share those pages, and the node stays light."""

from __future__ import annotations

import subprocess
import sys

from openlfr.fleet.process import PRELOAD, camera_context


def test_cameras_are_forks_of_a_server_that_imported_the_camera_stack(tmp_path) -> None:
    ctx = camera_context()
    assert ctx.get_start_method() == "forkserver"
    out = tmp_path / "child.txt"
    code = ("import gc, sys\n"
            f"open({str(out)!r}, 'w').write(repr(({PRELOAD!r} in sys.modules, "
            "'openlfr.fleet.camera' in sys.modules, gc.get_freeze_count() > 0)))\n")
    child = ctx.Process(target=exec, args=(code,))  # a builtin: nothing of the test to import
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert out.read_text() == "(True, True, True)"  # loaded before the fork, frozen for the gc


def test_the_preload_opens_no_model_runtime_and_the_node_imports_none_of_it() -> None:
    probe = ("import sys; import openlfr.fleet.node, openlfr.fleet.process; "
             "before = {'cv2', 'onnxruntime', 'openlfr.fleet.camera'} & set(sys.modules); "
             f"import {PRELOAD}; "
             "print(sorted(before), 'onnxruntime' in sys.modules, 'faiss' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.split() == ["[]", "False", "False"]
