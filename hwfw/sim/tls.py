"""A throw-away CA and one server certificate per simulated BMC address (SAN).

ECDSA P-256 keeps generation fast. Files live next to the fleet state: `ca.pem` (give
it to clients as their CA bundle), `certs/<address>.pem` and the shared `server.key`.
They are reused while the address set is unchanged, so clients keep trusting the same
CA across restarts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hwfw.sim.state import write_atomic


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hwfw simulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate(directory: Path, addresses: list[str]) -> tuple[Path, dict[str, Path], Path]:
    """Write (or reuse) ca.pem, one certificate per BMC address (certs/<address>.pem,
    like real BMCs, each naming only its own address) and the shared server.key."""
    ca_path, key_path, cert_dir = directory / "ca.pem", directory / "server.key", directory / "certs"
    stamp = directory / "tls-addresses.json"
    wanted = sorted(set(addresses))
    certs = {a: cert_dir / f"{a}.pem" for a in wanted}
    if all(p.is_file() for p in (ca_path, key_path, stamp, *certs.values())):
        try:
            if json.loads(stamp.read_text()) == wanted:
                return ca_path, certs, key_path
        except ValueError:
            pass
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    later = now + dt.timedelta(days=3650)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("hwfw simulator CA")
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now).not_valid_after(later)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    # One key for every simulated BMC (generating 1,000 keys buys a simulator nothing),
    # but one small certificate each: a client pays for the certificate it is shown.
    key = ec.generate_private_key(ec.SECP256R1())
    cert_dir.mkdir(parents=True, exist_ok=True)
    for address, path in certs.items():
        cert = (x509.CertificateBuilder().subject_name(_name(f"hwfw simulated BMC {address}"))
                .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(later)
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                               critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        write_atomic(path, cert.public_bytes(serialization.Encoding.PEM))
    write_atomic(key_path, _pem_key(key))
    key_path.chmod(0o600)
    write_atomic(ca_path, ca_cert.public_bytes(serialization.Encoding.PEM))
    write_atomic(stamp, json.dumps(wanted).encode())
    return ca_path, certs, key_path


def server_contexts(certs: dict[str, Path], key_path: Path) -> dict[str, ssl.SSLContext]:
    """One server SSLContext per BMC address."""
    out = {}
    for address, cert_path in certs.items():
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_path, key_path)
        out[address] = ctx
    return out
