"""Helpers of the TLS tests: certificates and keys made with the openssl
command line (`openssl ca -selfsign`, so that any validity dates and
digest can be chosen), fingerprints, and the certificate a TLS server
presents."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

CA_CNF = """\
[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
"""


def openssl() -> str:
    o = shutil.which("openssl")
    assert o, "the openssl command line is needed by the TLS tests"
    return o


def run(*args, cwd: Path) -> str:
    p = subprocess.run([openssl(), *args], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout


def make_key(d: Path, kind: str, name: str = "key.pem") -> Path:
    """kind: rsa:BITS, rsa3:BITS (three primes), ec:CURVE, ed25519."""
    d.mkdir(parents=True, exist_ok=True)
    out = d / name
    algo, _, arg = kind.partition(":")
    if algo == "rsa":
        run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{arg}", "-out", str(out), cwd=d)
    elif algo == "rsa3":
        run("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{arg}",
            "-pkeyopt", "rsa_keygen_primes:3", "-out", str(out), cwd=d)
    elif algo == "ec":
        run("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{arg}", "-out", str(out), cwd=d)
    elif algo == "ed25519":
        run("genpkey", "-algorithm", "ED25519", "-out", str(out), cwd=d)
    else:
        raise ValueError(kind)
    return out


def stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def make_cert(d: Path, key: Path, name: str = "cert.pem", *, start: dt.datetime | None = None,
              end: dt.datetime | None = None, md: str = "sha256", cn: str = "operator.example",
              san: str = "IP:127.0.0.1,DNS:localhost") -> Path:
    """A certificate for `key`, self-signed by it, valid over [start, end]
    (default: from a day ago for a year), signed with digest `md`."""
    now = dt.datetime.now(dt.timezone.utc)
    start = start or now - dt.timedelta(days=1)
    end = end or now + dt.timedelta(days=365)
    work = d / (name + ".ca")
    work.mkdir(parents=True, exist_ok=True)
    (work / "ca.cnf").write_text(CA_CNF.format(cn=cn))
    (work / "index.txt").write_text("")
    (work / "serial").write_text("%032x\n" % int.from_bytes(os.urandom(15), "big"))
    run("req", "-new", "-key", str(key), "-config", "ca.cnf", "-addext", f"subjectAltName={san}",
        "-out", "r.csr", cwd=work)
    out = d / name
    run("ca", "-batch", "-selfsign", "-notext", "-config", "ca.cnf", "-keyfile", str(key), "-in", "r.csr",
        "-startdate", stamp(start), "-enddate", stamp(end), "-md", md, "-out", str(out), cwd=work)
    return out


def fingerprint(der: bytes) -> str:
    """openssl's form: upper-case hex pairs joined by colons."""
    return ":".join("%02X" % b for b in hashlib.sha256(der).digest())


def pem_der(pem: str) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem)


def unverified() -> ssl.SSLContext:
    return ssl._create_unverified_context()


def peer_cert(port: int) -> bytes:
    """The DER of the certificate a new TLS connection to `port` gets."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with unverified().wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return s.getpeercert(binary_form=True)
