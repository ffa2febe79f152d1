import httpx
import pytest

from musicrec.services.common.testing import ServiceProcess, free_port

pytestmark = pytest.mark.integration


def test_a_service_that_cannot_start_reports_its_output():
    with pytest.raises(RuntimeError, match="exited with code") as info:
        ServiceProcess("no_such_module_here:app").start()
    assert "no_such_module_here" in str(info.value)


def test_stop_frees_the_port(tmp_path):
    env = {"MUSICREC_EVENTS__SQLITE_PATH": str(tmp_path / "events.sqlite3")}
    svc = ServiceProcess("events_service:app", env=env, port=free_port())
    with svc:
        assert httpx.get(f"{svc.url}/health").json() == {"status": "ok"}
    assert svc.process.returncode is not None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{svc.url}/health", timeout=1)
