"""NATS over TLS against a real nats-server, with certificates generated for the test.

Server TLS: a service trusting the CA connects, declares its streams, consumes; a client that does not trust the
CA fails certificate verification. Mutual TLS (`verify: true`): a service presenting a certificate signed by the
CA connects; a client without a certificate, or with one from another CA, is refused by the server.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from services.notify.app import build as build_notify
from shared.bus.streams import Namespace, tls_context
from shared.contracts import new_event
from shared.contracts.events import TipReceived
from shared.db import processed_events
from shared.service import Service
from shared.settings import Settings
from shared.testing import NatsProcess, ServerUnavailable, eventually, free_port, running

sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# --- certificates ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate that the server and the services trust
    server: KeyPair  # for 127.0.0.1 and localhost, signed by the CA
    client: KeyPair  # a service's client certificate, signed by the CA
    rogue: KeyPair  # a client certificate signed by another CA


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "antq test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(folder: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> KeyPair:
    pair = KeyPair(folder / f"{stem}.pem", folder / f"{stem}-key.pem")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pair.key.chmod(0o600)
    return pair


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str, *, server: bool
          ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn)).issuer_name(ca_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, key_cert_sign=False,
                                     crl_sign=False, content_commitment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = _ca("antq test CA")
    rogue_ca = _ca("some other CA")
    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    return Pki(ca=ca_path,
               server=_write(folder, "server", *_leaf(ca, "nats", server=True)),
               client=_write(folder, "notify", *_leaf(ca, "notify", server=False)),
               rogue=_write(folder, "rogue", *_leaf(rogue_ca, "notify", server=False)))


# --- servers ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TlsServer:
    url: str
    log: Path


def _start(tmp_path: Path, tls_block: str) -> Iterator[TlsServer]:
    proc = NatsProcess(free_port(), tmp_path / "nats", extra_config=tls_block)
    try:
        proc.start()
    except ServerUnavailable as exc:
        pytest.fail(f"nats-server with TLS did not start: {exc}")
    try:
        yield TlsServer(f"tls://127.0.0.1:{proc.port}", proc.log)
    finally:
        proc.stop()


DEPLOY_TLS = Path(__file__).resolve().parents[2] / "deploy" / "nats" / "tls"


def _deploy_block(name: str, pki: Pki) -> str:
    """The shipped `tls {}` block with its production paths pointed at this run's certificates."""
    text = (DEPLOY_TLS / name).read_text(encoding="utf-8")
    for path, actual in (("/etc/nats/tls/server-key.pem", pki.server.key),
                         ("/etc/nats/tls/server.pem", pki.server.cert), ("/etc/nats/tls/ca.pem", pki.ca)):
        assert path in text or path.endswith("ca.pem"), f"{name} no longer mentions {path}"
        text = text.replace(path, str(actual))
    assert "/etc/nats/tls/" not in text
    return text


@pytest.fixture
def tls_server(pki: Pki, tmp_path: Path) -> Iterator[TlsServer]:
    """The server presents its certificate; clients are not asked for one (`deploy/nats/tls/tls-server.conf`)."""
    yield from _start(tmp_path, _deploy_block("tls-server.conf", pki))


@pytest.fixture
def mtls_server(pki: Pki, tmp_path: Path) -> Iterator[TlsServer]:
    """Every client must present a certificate signed by the CA (`deploy/nats/tls/tls-mutual.conf`)."""
    block = _deploy_block("tls-mutual.conf", pki)
    assert "verify: true" in block
    yield from _start(tmp_path, block)


# --- helpers ---------------------------------------------------------------------------------------------------
def _client_context(ca: Path | None, pair: KeyPair | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca) if ca else None)
    if pair is not None:
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
    return ctx


async def _connect_once(url: str, ctx: ssl.SSLContext) -> nats.NATS:
    """One connection attempt, no reconnects: the error of the handshake (or of the first PING) surfaces."""
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(url, tls=ctx, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2,
                            error_cb=on_error)
    await nc.flush(timeout=2)
    return nc


async def _refused(url: str, ctx: ssl.SSLContext) -> BaseException:
    try:
        nc = await _connect_once(url, ctx)
    except Exception as exc:  # which exception depends on where the handshake was cut
        return exc
    await nc.close()
    raise AssertionError(f"{url} accepted a client it should have refused")


def tip_event() -> TipReceived:
    return TipReceived(tip_id=str(uuid.uuid4()), category="theft", channel="web", area_code="79", anonymous=True,
                       priority="normal", received_at=dt.datetime.now(dt.UTC))


async def _consumed(service: Service, event_id: str) -> bool:
    async with service.db.read() as session:
        row = (await session.execute(select(processed_events.c.event_id).where(
            processed_events.c.consumer == "notify-tips", processed_events.c.event_id == event_id))).first()
    return row is not None


async def _service_works_over(server: TlsServer, settings: Settings, trusted: ssl.SSLContext) -> None:
    """The service becomes ready, has declared its streams, and consumes an event published by another client."""
    ns = Namespace(settings.namespace)
    service = build_notify(settings)
    async with running(service) as http:
        assert (await http.get("/readyz")).status_code == 200
        nc = await _connect_once(server.url, trusted)
        try:
            js = nc.jetstream()
            info = await js.stream_info(ns.stream("TIPS"))
            assert info.config.subjects == [ns.subject("antq.tips.>")]
            env = new_event(tip_event(), source="antq/tips")
            await js.publish(ns.subject(env.type), env.to_bytes(), headers={"Nats-Msg-Id": env.id}, timeout=5)

            async def consumed() -> bool:
                return await _consumed(service, env.id)

            await eventually(consumed, timeout=10, what="the event consumed over TLS")
        finally:
            await nc.close()


# --- tests -----------------------------------------------------------------------------------------------------
@sqlite_only
async def test_server_tls_service_trusting_the_ca_connects_and_consumes(
        pki: Pki, tls_server: TlsServer, settings_factory: Callable[..., Settings],
        database_url: Callable[[str], str]) -> None:
    settings = settings_factory(nats_url=tls_server.url, nats_tls_ca=pki.ca,
                                notify_database_url=database_url("notify"))
    # The service presents no certificate: server TLS only authenticates the server.
    assert settings.nats_tls_cert is None
    await _service_works_over(tls_server, settings, _client_context(pki.ca))


async def test_server_tls_client_without_the_ca_fails_verification(
        pki: Pki, tls_server: TlsServer) -> None:
    # The system trust store does not know the private CA.
    exc = await _refused(tls_server.url, _client_context(None))
    assert isinstance(exc, ssl.SSLCertVerificationError), repr(exc)
    assert "certificate verify failed" in str(exc)
    # A plaintext client is refused too: the server requires TLS.
    with pytest.raises(Exception):  # noqa: B017 — nats-py reports it as an error of its own or a closed socket
        nc = await nats.connect(tls_server.url.replace("tls://", "nats://"), allow_reconnect=False,
                                max_reconnect_attempts=0, connect_timeout=2)
        await nc.close()


@sqlite_only
async def test_mutual_tls_service_with_a_ca_signed_certificate_connects(
        pki: Pki, mtls_server: TlsServer, settings_factory: Callable[..., Settings],
        database_url: Callable[[str], str]) -> None:
    settings = settings_factory(nats_url=mtls_server.url, nats_tls_ca=pki.ca, nats_tls_cert=pki.client.cert,
                                nats_tls_key=pki.client.key, notify_database_url=database_url("notify"))
    await _service_works_over(mtls_server, settings, _client_context(pki.ca, pki.client))


async def test_mutual_tls_refuses_clients_without_a_certificate_or_with_a_foreign_one(
        pki: Pki, mtls_server: TlsServer) -> None:
    # Under TLS 1.3 the client learns of the refusal after its side of the handshake: an alert or a reset.
    no_cert = await _refused(mtls_server.url, _client_context(pki.ca))
    assert isinstance(no_cert, ssl.SSLError | ConnectionError), repr(no_cert)
    rogue = await _refused(mtls_server.url, _client_context(pki.ca, pki.rogue))
    assert isinstance(rogue, ssl.SSLError | ConnectionError), repr(rogue)

    async def logged() -> bool:
        text = mtls_server.log.read_text(errors="replace")
        return "client didn't provide a certificate" in text and "certificate signed by unknown authority" in text

    # The server says why: TLS handshake errors are logged with the client's address.
    await eventually(logged, timeout=5, what="both handshake failures in the server log")


@sqlite_only
async def test_mutual_tls_service_without_its_certificate_is_not_ready_and_says_why(
        pki: Pki, mtls_server: TlsServer, settings_factory: Callable[..., Settings],
        database_url: Callable[[str], str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="shared.bus.streams")
    settings = settings_factory(nats_url=mtls_server.url, nats_tls_ca=pki.ca,
                                notify_database_url=database_url("notify"))
    service = build_notify(settings)
    await service.start()
    try:
        async def refused_by_the_server() -> bool:
            return "client didn't provide a certificate" in mtls_server.log.read_text(errors="replace")

        await eventually(refused_by_the_server, timeout=10, what="the service's handshake refused by the server")
        ok, checks = await service.readiness()
        assert not ok
        assert checks["nats"].startswith("not connected"), checks

        async def warned() -> bool:
            return any("NATS connection error" in r.getMessage() for r in caplog.records)

        # The operator sees why in the service's log, not only a /readyz that never turns green.
        await eventually(warned, timeout=10, what="a connection error in the service's log")
    finally:
        await service.stop()


async def test_mutual_tls_client_certificate_and_key_in_one_file(
        pki: Pki, mtls_server: TlsServer, settings_factory: Callable[..., Settings], tmp_path: Path) -> None:
    combined = tmp_path / "notify-combined.pem"
    combined.write_bytes(pki.client.cert.read_bytes() + pki.client.key.read_bytes())
    combined.chmod(0o600)
    settings = settings_factory(nats_url=mtls_server.url, nats_tls_ca=pki.ca, nats_tls_cert=combined)
    ctx = tls_context(settings)
    assert ctx is not None
    nc = await _connect_once(mtls_server.url, ctx)
    await nc.close()
