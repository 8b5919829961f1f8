"""The attack suite shares the integration tests' fixtures (a private berthd per module, the docker CLI
pointed at it, the runtime hosts): they are loaded from tests/integration/conftest.py under another name,
so that the two suites can run in one pytest session or apart."""
import importlib.util
import os

_path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration", "conftest.py")
_spec = importlib.util.spec_from_file_location("berth_integration_conftest", _path)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("__")})
