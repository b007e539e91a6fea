"""Throwaway TLS material for a test redis-server: a CA and a server certificate for 127.0.0.1."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from authchaos.servers.binaries import BinaryMissing


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.check_hostname = False  # the certificate names 127.0.0.1 by IP; the CA pin is what matters here
        return ctx


def make_certs(folder: Path) -> TlsFiles:
    """A CA and a server certificate (P-256, two days), made with the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise BinaryMissing("openssl not found: TLS test servers need it (apt-get install openssl)")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr, ext = (
        folder / n for n in ("ca.crt", "ca.key", "redis.crt", "redis.key", "redis.csr", "san.ext")
    )
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [
            openssl,
            "req",
            "-x509",
            *ec,
            "-keyout",
            str(ca_key),
            "-out",
            str(ca),
            "-days",
            "2",
            "-subj",
            "/CN=authchaos test CA",
        ],
        [openssl, "req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"],
        [
            openssl,
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca),
            "-CAkey",
            str(ca_key),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "2",
            "-extfile",
            str(ext),
        ],
    ]
    for argv in steps:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"openssl failed making test certificates: {done.stderr.strip()[:200]}")
    key.chmod(0o600)
    return TlsFiles(ca, cert, key)
