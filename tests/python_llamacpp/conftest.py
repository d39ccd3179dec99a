# The opt-in llama.cpp checks reuse tests/python's fixtures (masque_bin,
# masque_run) and helpers (gguf_fixtures.py).
import importlib.util
import pathlib
import sys

_python_tests = pathlib.Path(__file__).resolve().parents[1] / "python"
sys.path.insert(0, str(_python_tests))
_spec = importlib.util.spec_from_file_location("masque_python_conftest", _python_tests / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)
masque_bin = _conftest.masque_bin
masque_run = _conftest.masque_run
run_masque = _conftest.run_masque
