"""`banku stack up --tls` against real servers: Kafka listens for clients only on SSL, Redis only
on its tls-port, and every tool of the kit works through them with the stack's CA; each way a
TLS connection can fail is one sentence (`banku.stack.tls`, `banku.diagnostics`).

The stack runs on a block of its own (`tests/ports.py`), started through the command line as a
learner would, and stopped with --wipe afterwards. The certificate for another host and the
expired one are served by a small TLS server of the test's own (Python's `ssl`), since the
stack's certificate is neither.
"""

from __future__ import annotations

import datetime
import json
import socket
import ssl
import stat
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import redis
from cryptography import x509
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from banku import Bank, Projector, Settings
from banku.stack.tls import SERVER_CERT, SERVER_KEY, make_certificates
from tests import ports
from tests.fault.util import HandlerProcess, banku, every_partition_ready
from tests.helpers import ROOT, wait_until

PLAIN = ports.settings_for(ports.TLS)  # what a learner has before reading the TLS settings
KAFKA, REDIS = ports.kafka_port(ports.TLS), ports.redis_port(ports.TLS)
TEST_SERVER = KAFKA + 4  # the test's own TLS server (a spare port of the block)
ROOM = Settings(bootstrap_servers=f"127.0.0.1:{KAFKA + 6}",
                redis_url=f"redis://127.0.0.1:{KAFKA + 8}/0")  # a --tls workshop room


@pytest.fixture(scope="module")
def tls_stack():
    """(the output of `banku stack up --tls`, the settings `stack status --json` gives)."""
    up = banku(PLAIN, "stack", "up", "--tls", timeout=240)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        status = banku(PLAIN, "stack", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        env = json.loads(status.stdout)["env"]
        yield up.stdout, Settings.from_env(env)
    finally:
        down = banku(PLAIN, "stack", "down", "--wipe", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture
def settings(tls_stack, request):
    name = "tls-" + request.node.name.replace("_", "-")[-30:].strip("-")
    return tls_stack[1].with_namespace(name)


def test_up_prints_the_env_a_client_needs_and_status_reports_it(tls_stack):
    output, tls = tls_stack
    ca = tls.kafka_ssl_cafile
    assert "KAFKA_SECURITY_PROTOCOL=SSL" in output
    assert f"KAFKA_SSL_CAFILE={ca}" in output and f"REDIS_SSL_CA_CERTS={ca}" in output
    assert f"REDIS_URL=rediss://127.0.0.1:{REDIS}/0" in output
    assert tls.kafka_protocol == "SSL" and tls.redis_url.startswith("rediss://")
    # Remembered: `stack status` without --tls (and plain settings) speaks TLS to both.
    status = banku(PLAIN, "stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"OK    Redis at rediss://127.0.0.1:{REDIS}/0" in status.stdout


def test_the_certificates_are_private_and_name_this_machine(tls_stack):
    folder = Path(tls_stack[1].kafka_ssl_cafile).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = list(folder.iterdir())
    assert len(files) == 4
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    cert = x509.load_pem_x509_certificate((folder / SERVER_CERT).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def test_commands_projector_replay_and_cli_balances_over_tls(settings):
    with Bank(settings) as bank:
        alice = bank.create_account("Alice")
        bob = bank.create_account("Bob")
        bank.deposit(alice, 500)
        bank.transfer(alice, bob, 120)
    with Projector(settings) as projector:
        projector.run_until_caught_up()
    expected = {alice: 380, bob: 120}
    listed = banku(settings, "balances", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {a["Id"]: a["Balance"] for a in json.loads(listed.stdout)} == expected
    replay = banku(settings, "replay")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    again = banku(settings, "balances", "--json")
    assert {a["Id"]: a["Balance"] for a in json.loads(again.stdout)} == expected
    doctor = banku(settings, "doctor")
    assert f"OK    Kafka answers: 127.0.0.1:{KAFKA}" in doctor.stdout, doctor.stdout


def test_the_handler_decides_commands_over_tls(settings, tmp_path):
    topic_mode = replace(settings, commands="topic")
    handler = HandlerProcess(topic_mode, tmp_path, "handler-tls")
    try:
        wait_until(lambda: every_partition_ready([handler]), 120, "the handler to be ready")
        with Bank(topic_mode) as bank:
            account = bank.create_account("Carol")
            bank.deposit(account, 700)
            bank.withdraw(account, 200)
        with Projector(topic_mode) as projector:
            projector.run_until_caught_up()
        listed = banku(topic_mode, "balances", "--json")
        assert {a["Id"]: a["Balance"] for a in json.loads(listed.stdout)} == {account: 500}
    finally:
        assert handler.terminate() == 0, handler.log
    assert "Traceback" not in handler.log, handler.log


# --- plaintext clients at the TLS ports -----------------------------------------------------
def test_a_plaintext_kafka_client_does_not_get_in(tls_stack):
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=[f"127.0.0.1:{KAFKA}"], bootstrap_timeout_ms=5000,
                         request_timeout_ms=5000)
    result = banku(PLAIN.with_namespace("tls-plain"), "create", "Mallory")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"banku: Kafka at 127.0.0.1:{KAFKA} speaks TLS only, and this client spoke plaintext:"
        " set KAFKA_SECURITY_PROTOCOL=SSL and KAFKA_SSL_CAFILE to its CA file (`banku stack"
        " status --json` names both)."]


def test_a_plaintext_redis_client_does_not_get_in(tls_stack):
    client = redis.Redis(port=REDIS, socket_timeout=5, socket_connect_timeout=5)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()
    result = banku(PLAIN, "balances")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"banku: Redis at 127.0.0.1:{REDIS} speaks TLS only, and this client spoke plaintext:"
        " use REDIS_URL=rediss://... and REDIS_SSL_CA_CERTS=its CA file (`banku stack status"
        " --json` names both)."]


def test_a_tls_client_at_a_plaintext_port_is_one_sentence(tls_stack):
    plain_port = ports.kafka_port(ports.SESSION)  # the session's stack, without TLS
    client = Settings(bootstrap_servers=f"127.0.0.1:{plain_port}", redis_url=PLAIN.redis_url,
                      kafka_security_protocol="SSL",
                      kafka_ssl_cafile=tls_stack[1].kafka_ssl_cafile)
    result = banku(client, "stack", "status", "--json")
    assert json.loads(result.stdout)["kafka"]["problem"] == (
        f"Kafka at 127.0.0.1:{plain_port} does not speak TLS (the handshake failed): it is a"
        " plaintext port; use the settings of that stack (no TLS there), or the port of its TLS"
        " listener.")


# --- certificates a client does not trust --------------------------------------------------------
@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    return make_certificates(tmp_path_factory.mktemp("other-ca"), ["127.0.0.1"])


def _one_line(result) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_wrong_ca_is_one_sentence_for_kafka_and_for_redis(settings, other_ca):
    kafka = _one_line(banku(settings, "create", "Eve", KAFKA_SSL_CAFILE=str(other_ca)))
    assert kafka == (f"banku: Kafka at 127.0.0.1:{KAFKA} presents a certificate that"
                     f" KAFKA_SSL_CAFILE={other_ca} did not sign: give the CA file of that stack"
                     " (`banku stack status --json` names it).")
    view = _one_line(banku(settings, "balances", REDIS_SSL_CA_CERTS=str(other_ca)))
    assert view.startswith(f"banku: Redis at 127.0.0.1:{REDIS} presents a certificate that"
                           f" REDIS_SSL_CA_CERTS={other_ca} did not sign")


def test_a_missing_ca_is_one_sentence_for_kafka_and_for_redis(settings):
    kafka = _one_line(banku(settings, "create", "Eve", KAFKA_SSL_CAFILE=""))
    assert kafka == (f"banku: Kafka at 127.0.0.1:{KAFKA} presents a certificate the system's CAs"
                     " do not vouch for: set KAFKA_SSL_CAFILE to the CA file of that stack"
                     " (`banku stack status --json` names it).")
    view = _one_line(banku(settings, "balances", REDIS_SSL_CA_CERTS=""))
    assert view.startswith(f"banku: Redis at 127.0.0.1:{REDIS} presents a certificate the"
                           " system's CAs do not vouch for: set REDIS_SSL_CA_CERTS")


class _TlsServer(threading.Thread):
    """Completes (or fails) a TLS handshake with each client, then closes: enough for a client
    to judge the certificate."""

    def __init__(self, folder: Path) -> None:
        super().__init__(daemon=True)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(folder / SERVER_CERT, folder / SERVER_KEY)
        self.sock = socket.create_server(("127.0.0.1", TEST_SERVER))
        self.sock.settimeout(0.5)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                with self.context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                pass  # the client refused our certificate: that is the point
            finally:
                conn.close()

    def __enter__(self) -> _TlsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()
        self.sock.close()


def _against_test_server(folder: Path, ca: Path) -> str:
    client = Settings(bootstrap_servers=f"127.0.0.1:{TEST_SERVER}", redis_url=PLAIN.redis_url,
                      kafka_security_protocol="SSL", kafka_ssl_cafile=str(ca))
    with _TlsServer(folder):
        # `stack status` through the real client: its Kafka line carries the sentence.
        result = banku(client, "stack", "status", "--json")
    return json.loads(result.stdout)["kafka"]["problem"]


def test_a_certificate_for_another_host_is_one_sentence(tmp_path):
    ca = make_certificates(tmp_path, ["banku.example"])
    assert _against_test_server(tmp_path, ca) == (
        f"Kafka at 127.0.0.1:{TEST_SERVER} presents a certificate that is not for '127.0.0.1':"
        " connect with a name or address the certificate holds (the one in your learner file,"
        " or 127.0.0.1 on the stack's machine).")


def test_an_expired_certificate_is_one_sentence(tmp_path):
    long_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=30)
    ca = make_certificates(tmp_path, ["127.0.0.1"], days=2, not_before=long_ago)
    assert _against_test_server(tmp_path, ca).startswith(
        f"Kafka at 127.0.0.1:{TEST_SERVER} presents an expired certificate")


# --- a workshop room with --tls ------------------------------------------------------------
@pytest.fixture(scope="module")
def tls_room(tmp_path_factory):
    """(the room's folder of env files, the output of `banku workshop up --tls`)."""
    out = tmp_path_factory.mktemp("tls-room") / "room"
    try:
        up = banku(ROOM, "workshop", "up", "--tls", "--learners", "2", "--out", str(out),
                   timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        yield out, up.stdout
    finally:
        down = banku(ROOM, "workshop", "down", "--wipe", timeout=120)
        assert down.returncode == 0, down.stdout + down.stderr
    assert not (out / "room-ca.pem").exists()


def test_a_tls_room_learner_file_alone_is_enough_and_plaintext_is_refused(tls_room):
    out, printed = tls_room
    assert "PASSWORD" not in printed and "@" not in printed  # no password printed
    env = (out / "learner-01.env").read_text()
    assert "KAFKA_SECURITY_PROTOCOL=SASL_SSL" in env
    assert f"KAFKA_SSL_CAFILE={out / 'room-ca.pem'}" in env and "REDIS_URL=rediss://" in env
    assert stat.S_IMODE((out / "room-ca.pem").stat().st_mode) == 0o600
    # A learner with nothing but their file (the kit's own settings emptied).
    bare = {"KAFKA_BOOTSTRAP_SERVERS": "", "REDIS_URL": "", "BANKU_NAMESPACE": ""}
    mine = ["--env-file", str(out / "learner-01.env")]
    created = banku(ROOM, *mine, "create", "Zoe", **bare)
    assert created.returncode == 0, created.stderr
    assert banku(ROOM, *mine, "project", "--until-caught-up", **bare).returncode == 0
    listed = banku(ROOM, *mine, "balances", "--json", **bare)
    assert json.loads(listed.stdout) == [
        {"Id": created.stdout.strip(), "Name": "Zoe", "Balance": 0}]
    # A wrong password over SASL_SSL: the login check runs inside TLS too.
    (out / "bad.env").write_text(env.replace("KAFKA_SASL_PASSWORD=", "KAFKA_SASL_PASSWORD=x"))
    refused = _one_line(banku(ROOM, "--env-file", str(out / "bad.env"), "create", "Zed",
                              **bare))
    assert "refused the SASL/SCRAM-SHA-256 login of user 'learner-01'" in refused
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=[ROOM.bootstrap_servers],
                         bootstrap_timeout_ms=5000, request_timeout_ms=5000)
    plain = redis.Redis(port=KAFKA + 8, socket_timeout=5, socket_connect_timeout=5)
    with pytest.raises(redis.ConnectionError):
        plain.ping()
    plain.close()
    status = banku(ROOM, "workshop", "status")
    assert status.returncode == 0, status.stdout + status.stderr


# The notebooks whose raw clients (producers, consumers, admin, the Redis of the Lua step and of
# the name keys) must take the CA and the login from the settings, as the kit's own do.
OVER_TLS = ("00", "02", "07", "10")


def test_the_notebooks_run_from_a_tls_room_learner_file_alone(tls_room, tmp_path):
    """A learner of a --tls room runs the notebooks with nothing but their env file: every cell
    of these runs; notebook 05, which needs three brokers of its own, says so in one sentence."""
    import os
    import shutil

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    out, _ = tls_room
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    kit_own = ("KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "BANKU_NAMESPACE", "BANKU_TOPIC")
    env = {k: v for k, v in os.environ.items() if k not in kit_own}
    env["BANKU_ENV_FILE"] = str(out / "learner-01.env")

    def run(prefix: str):
        path = next(folder.glob(f"{prefix}_*.ipynb"))
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute(env=env)
        return path.name, [c for c in nb.cells if c.cell_type == "code"]

    for prefix in OVER_TLS:
        name, code = run(prefix)
        assert all(c.execution_count for c in code), f"{name}: a cell did not run"
        failed = [c.source for c in code for o in c.outputs if o.output_type == "error"]
        assert not failed, f"{name}: cells failed over TLS: {failed}"
    nb = nbformat.read(next(folder.glob("05_*.ipynb")), as_version=4)
    for cell in (c for c in nb.cells if c.cell_type == "code"):  # forget the stored run
        cell.execution_count, cell.outputs = None, []
    with pytest.raises(CellExecutionError):  # the run stops there, as JupyterLab's Run All does
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(folder)}}).execute(env=env)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = next(c for c in code if "start_cluster" in c.source)
    said = "".join(o.get("text", "") for o in first.outputs if o.output_type == "stream")
    assert not any(c.execution_count for c in code[code.index(first) + 1:])
    assert "NoClusterHere: Notebook 05 starts a three-broker cluster of its own" in said, said
    assert "Traceback" not in said and said.count("\n") == 1, said


def test_three_brokers_replicate_to_each_other_over_tls():
    """`banku stack up --tls --brokers 3`: the brokers speak TLS among themselves too (the
    client listener is the inter-broker one), so every replica stays in sync, and the kit's
    writes, projector and CLI work against the cluster with its CA."""
    from banku.lab.brokers import partition_states

    plain = ports.settings_for(ports.TLS_CLUSTER, brokers=3)
    try:
        up = banku(plain, "stack", "up", "--tls", "--brokers", "3", timeout=300)
        assert up.returncode == 0, up.stdout + up.stderr
        status = banku(plain, "stack", "status", "--json")
        assert status.returncode == 0, status.stdout + status.stderr
        settings = Settings.from_env(json.loads(status.stdout)["env"]).with_namespace("tls-three")
        assert settings.kafka_protocol == "SSL" and len(settings.bootstrap_list) == 3
        with Bank(settings) as bank:
            ada = bank.create_account("Ada")
            bank.deposit(ada, 700)
        states = partition_states(settings)
        assert states and all(len(s.in_sync) == 3 for s in states), states
        with Projector(settings) as projector:
            projector.run_until_caught_up()
        listed = banku(settings, "balances", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [(a["Id"], a["Balance"]) for a in json.loads(listed.stdout)] == [(ada, 700)]
    finally:
        down = banku(plain, "stack", "down", "--wipe", timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
