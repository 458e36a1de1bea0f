"""The hub of a room (`banku.lab.room_hub`) without servers: its refusal without root, the
passwords it keeps (hashes only), the config it writes (no secret in it), the hub's URL."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from banku import Settings
from banku.errors import StackError
from banku.lab import room_hub
from banku.lab.room import RoomFile
from banku.lab.room_access import Login


def _hub(tmp_path: Path, tls: bool = True) -> room_hub.Hub:
    return room_hub.Hub(tmp_path / "hub", 27140, 27500, "127.0.0.1", "127.0.0.1", tls,
                        tmp_path / "tls")


def test_without_root_hub_refuses_in_one_sentence(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(StackError) as refused:
        room_hub.require_root()
    sentence = str(refused.value)
    assert sentence.startswith("--hub needs root:") and "\n" not in sentence
    assert "useradd" in sentence and "sudo banku workshop up" in sentence


def test_workshop_up_with_hub_refuses_before_starting_anything(monkeypatch, tmp_path):
    from banku.lab import room

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("BANKU_HOME", str(tmp_path / "home"))
    started = []
    monkeypatch.setattr("banku.stack.up", lambda *a, **k: started.append(a))
    settings = Settings(bootstrap_servers="127.0.0.1:29990", redis_url="redis://127.0.0.1:29999/0")
    with pytest.raises(StackError, match="--hub needs root"):
        room.up(settings, 2, tmp_path / "out", log=lambda line: None, hub=True)
    assert not started and not (tmp_path / "out").exists()
    assert not (tmp_path / "home").exists()  # no room.json, no certificates


def test_the_hub_keeps_hashes_and_checks_each_learners_own_password(tmp_path):
    hub = _hub(tmp_path)
    room_hub.write_passwords(hub, {"learner-01": "first-secret", "learner-02": "second-secret"})
    text = hub.passwords_file.read_text()
    assert "first-secret" not in text and "second-secret" not in text
    assert stat.S_IMODE(hub.passwords_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(hub.directory.stat().st_mode) == 0o700
    assert room_hub.check_login(hub.passwords_file, "learner-01", "first-secret")
    assert not room_hub.check_login(hub.passwords_file, "learner-01", "second-secret")
    assert not room_hub.check_login(hub.passwords_file, "learner-03", "first-secret")
    assert not room_hub.check_login(hub.passwords_file, "learner-01", "")
    # Written again with the same passwords, the hashes stay; a new learner's is added.
    before = json.loads(text)
    room_hub.write_passwords(hub, {"learner-01": "first-secret", "learner-02": "second-secret",
                                   "learner-03": "third"})
    after = json.loads(hub.passwords_file.read_text())
    assert after["learner-01"] == before["learner-01"] and "learner-03" in after


def test_the_config_serves_https_on_loopback_and_holds_no_secret(tmp_path):
    hub = _hub(tmp_path)
    text = room_hub.config_text(hub, Path("/proxy/bin/configurable-http-proxy"),
                                Path("/opt/env/bin"))
    assert "c.JupyterHub.bind_url = 'https://127.0.0.1:27500/'" in text
    assert "c.JupyterHub.hub_port = 27501" not in text  # the proxy's API is +1, the hub's +2
    assert "http://127.0.0.1:27501" in text and "c.JupyterHub.hub_port = 27502" in text
    assert "ssl_cert" in text and "server.key" in text
    assert "c.RoomSpawner.user_prefix = 'banku-27140-'" in text
    assert "/opt/env/bin/jupyterhub-singleuser" in text
    assert "token" not in text.lower() and "password =" not in text.lower()
    plain = room_hub.config_text(_hub(tmp_path, tls=False), Path("/p"), Path("/b"))
    assert "http://127.0.0.1:27500/" in plain and "ssl_cert" not in plain


def test_each_learner_is_a_system_user_of_their_own_per_room(tmp_path):
    hub = _hub(tmp_path)
    assert hub.system_user("learner-07") == "banku-27140-learner-07"
    assert hub.home("learner-07") == Path("/home/banku-27140-learner-07")
    assert len(hub.system_user("learner-100")) <= 32  # useradd's limit


def test_the_hub_url_follows_tls_and_the_rooms_host():
    tls = Settings(kafka_security_protocol="SASL_SSL")
    assert room_hub.hub_url(tls, "", 8000) == "https://127.0.0.1:8000/"
    assert room_hub.hub_url(Settings(), "10.0.0.5", 8000) == "http://10.0.0.5:8000/"


def test_a_room_file_keeps_its_hub_and_reads_rooms_made_before_it(tmp_path, monkeypatch):
    from banku.stack.plan import StackPlan

    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    plan = StackPlan.from_settings(Settings(bootstrap_servers="127.0.0.1:29990"))
    room = RoomFile.new()
    room.learners["learner-01"] = Login.new()
    room.hub_port = 27500
    room.save(plan)
    again = RoomFile.load(plan)
    assert again is not None and again.hub_port == 27500
    assert again.learners["learner-01"].hub == room.learners["learner-01"].hub != ""
    data = json.loads(plan.room_file.read_text())
    del data["hub_port"]
    for login in data["learners"].values():
        del login["hub"]
    plan.room_file.write_text(json.dumps(data))
    old = RoomFile.load(plan)
    assert old is not None and old.hub_port == 0 and old.learners["learner-01"].hub == ""


@pytest.mark.parametrize("port", [80, 65534, 70000])
def test_a_hub_port_without_room_for_its_two_neighbours_is_refused_first(monkeypatch, tmp_path,
                                                                         port):
    from banku.lab import room

    monkeypatch.setenv("BANKU_HOME", str(tmp_path / "home"))
    started = []
    monkeypatch.setattr("banku.stack.up", lambda *a, **k: started.append(a))
    settings = Settings(bootstrap_servers="127.0.0.1:29990", redis_url="redis://127.0.0.1:29999/0")
    with pytest.raises(StackError, match=f"--hub-port {port} is not a port"):
        room.up(settings, 2, tmp_path / "out", log=lambda line: None, hub=True, hub_port=port)
    assert not started and not (tmp_path / "home").exists()
