"""What `--tls` changes in the servers' configuration and the clients' settings (no servers)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from banku import Settings
from banku.stack import processes
from banku.stack.kafka_config import server_properties
from banku.stack.plan import RoomKeys, StackPlan
from banku.stack.tls import SERVER_CERT, make_certificates


@pytest.fixture
def plan(tmp_path, monkeypatch) -> StackPlan:
    monkeypatch.setenv("BANKU_HOME", str(tmp_path))
    return StackPlan.from_settings(Settings(bootstrap_servers="127.0.0.1:19092",
                                            redis_url="redis://127.0.0.1:19099/0"))


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_a_plain_stack_has_no_tls_and_keeps_its_settings(plan):
    props = _props(server_properties(plan, 1))
    assert not plan.tls and props["listeners"].startswith("PLAINTEXT://127.0.0.1:19092")
    assert not any(key.startswith("ssl.") for key in props)
    settings = Settings(bootstrap_servers="127.0.0.1:19092")
    assert plan.client_settings(settings) is settings
    assert "--tls-port" not in processes._redis_ports(plan)


def test_a_tls_stack_listens_on_ssl_and_redis_on_its_tls_port_only(plan):
    tls = replace(plan, tls=True)
    props = _props(server_properties(tls, 1))
    assert props["listeners"].startswith("SSL://127.0.0.1:19092,CONTROLLER://")
    assert props["inter.broker.listener.name"] == "SSL"
    assert props["ssl.keystore.type"] == "PEM"
    assert props["ssl.truststore.location"] == str(tls.ca_file)
    args = processes._redis_ports(tls)
    assert args[:4] == ["--port", "0", "--tls-port", "19099"]


def test_a_tls_room_speaks_sasl_ssl_with_its_scram_login_on_that_listener(plan):
    room = replace(plan, tls=True, room=RoomKeys("a", "c", "i"))
    props = _props(server_properties(room, 1))
    assert props["listeners"].startswith("SASL_SSL://")
    assert "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config" in props
    plain_room = replace(plan, room=RoomKeys("a", "c", "i"))
    assert "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config" in _props(
        server_properties(plain_room, 1))


def test_client_settings_of_a_tls_stack(plan, tmp_path):
    tls = replace(plan, tls=True)
    make_certificates(tls.tls_dir, ["127.0.0.1"])
    client = tls.client_settings(Settings(bootstrap_servers="127.0.0.1:19092",
                                          redis_url="redis://:pw@127.0.0.1:19099/0"))
    assert client.kafka_protocol == "SSL" and client.kafka_ssl_cafile == str(tls.ca_file)
    assert client.redis_url == "rediss://:pw@127.0.0.1:19099/0"
    assert client.redis_options() == {"ssl_ca_certs": str(tls.ca_file)}
    login = tls.client_settings(replace(client, kafka_username="u", kafka_password="p"))
    assert login.kafka_options()["security_protocol"] == "SASL_SSL"


def test_the_certificate_names_every_host_it_is_given(tmp_path: Path):
    make_certificates(tmp_path, ["127.0.0.1", "localhost", "::1", "room.example", "10.0.0.5"])
    cert = x509.load_pem_x509_certificate((tmp_path / SERVER_CERT).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "room.example"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.5")]
    assert {p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {0o600}
