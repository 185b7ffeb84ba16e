"""The environment's private CA, which signs the database hosts' server certificates (the
postgresql role, on the controller) and which every client of those databases verifies them with
(sslmode=verify-full): made by `python -m stacks deploy` when absent, or supplied by the user
(docs/stacks.md, "The database CA")."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

# Long enough to outlive the hosts' certificates (which the role re-issues before they expire);
# a new CA means re-running the playbook and a cold start of the ETL.
CA_VALIDITY = datetime.timedelta(days=3650)
# A CA that expires within this is refused: the hosts' certificates could not outlive it.
CA_MIN_REMAINING = datetime.timedelta(days=90)


class CaError(ValueError):
    """A CA certificate or key is unusable; the message says what is wrong."""


def new_ca(env: str, *, now: datetime.datetime | None = None) -> tuple[str, str]:
    """A new self-signed EC P-256 CA for `env`: (certificate PEM, unencrypted PKCS#8 key PEM)."""
    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "clickstream"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"clickstream {env} database CA"),
    ])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_VALIDITY)
        # Signs server certificates only: no intermediate CAs below it.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def check_ca(cert_pem: str, key_pem: str, *, now: datetime.datetime | None = None) -> x509.Certificate:
    """The CA certificate, once it and its key are known usable: a PEM CA certificate (basic
    constraints CA, may sign certificates) valid for at least CA_MIN_REMAINING more, and the
    unencrypted PEM private key (EC or RSA of 2048 bits or more) of its public key."""
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as exc:
        raise CaError(f"the CA certificate is not a PEM X.509 certificate ({exc})") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError):
        # No detail: the message must say nothing of the key's content.
        raise CaError("the CA key is not an unencrypted PEM private key") from None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise CaError("the CA certificate is not a CA certificate (basicConstraints CA:TRUE is missing)")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and not usage.key_cert_sign:
        raise CaError("the CA certificate may not sign certificates (its keyUsage lacks keyCertSign)")
    if cert.not_valid_after_utc - now < CA_MIN_REMAINING:
        raise CaError(
            f"the CA certificate expires on {cert.not_valid_after_utc:%Y-%m-%d}, less than "
            f"{CA_MIN_REMAINING.days} days from now: supply a new CA (docs/stacks.md)"
        )
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise CaError(f"the CA key is RSA of {key.key_size} bits; at least 2048 are needed")
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise CaError("the CA key is neither an EC nor an RSA key")
    if key.public_key() != cert.public_key():
        raise CaError("the CA key is not the key of the CA certificate")
    return cert
