"""Pytest fixtures for ccci's own tests: runs planned against the bundled examples.

Unit tests of planning, gates and the controller actions need real recipe
repositories (git, tags) but nothing deployed; tests of clients of the proxy need a CA
and a certificate it signed. Shared here, used through ``pytest_plugins =
["ccci.testing"]``, so the project's tests and the collection's tests make them the
same way.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ccci import paths
from ccci.examples import materialize_all


@pytest.fixture(scope="session")
def example_recipes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled example recipes as git repositories, made once per session."""
    dest = tmp_path_factory.mktemp("recipes")
    materialize_all(paths.project_root() / "examples" / "recipes", dest)
    return dest


@pytest.fixture
def isolated_run_dirs(example_recipes: Path, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> Path:
    """Recipes found among the examples; runs, leases and registry under ``tmp_path``."""
    monkeypatch.setenv("CCCI_RECIPES_DIR", str(example_recipes))
    monkeypatch.setenv("CCCI_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("CCCI_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


# -- a CA standing in for the proxy's (Python 3.13 verifies strictly: key identifiers
# and usages are set as the proxy role sets them) ------------------------------------


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for ``names``: (ca, cert, key) files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.crt", folder / "server.crt", folder / "server.key"
    paths[0].write_bytes(_pem(ca))
    paths[1].write_bytes(_pem(cert))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths
