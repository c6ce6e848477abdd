"""Certificates for the TLS peer tests, made at test time with `openssl req`.

    pki = TestPki(os.path.join(root, "pki"))
    pki.server_cert, pki.server_key      # replicad's certificate (CN replica.test)
    pki.ca_cert                          # the CA that signed the client certificates
    pki.client("sync-master")            # (cert, key) with that CN, signed by the CA

Keys are unencrypted EC P-256 (fast to make) and readable by the `cyrus`
user, because sync_client switches to it before it loads its client
certificate.  Only ever for loopback tests.
"""
import os
import pwd
import subprocess


def _openssl(*args, cwd):
    result = subprocess.run(["openssl"] + list(args), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], result.stderr.decode(errors="replace")[-500:]))


class TestPki:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.ca_cert, self.ca_key = self._path("ca.pem"), self._path("ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.ca_key, "-out", self.ca_cert, "-days", "30",
                 "-subj", "/CN=replicad peer test CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        # sync_client never verifies the server (spec 1.3.3): self-signed will do.
        self.server_cert, self.server_key = self._path("replica.pem"), self._path("replica.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", self.server_key, "-out", self.server_cert, "-days", "30",
                 "-subj", "/CN=replica.test", "-addext", "subjectAltName=DNS:replica.test,IP:127.0.0.1",
                 cwd=self.dir)
        self._clients = {}
        self._share()

    def _path(self, name):
        return os.path.join(self.dir, name)

    def client(self, cn):
        """A client certificate with this CN, signed by the CA: (cert, key)."""
        if cn not in self._clients:
            cert, key, csr = self._path(cn + ".pem"), self._path(cn + ".key"), self._path(cn + ".csr")
            _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=self.dir)
            _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key,
                     "-CAcreateserial", "-out", cert, "-days", "30", cwd=self.dir)
            os.unlink(csr)
            self._clients[cn] = (cert, key)
            self._share()
        return self._clients[cn]

    def _share(self):
        try:
            cyrus = pwd.getpwnam("cyrus")
        except KeyError:
            cyrus = None
        for name in os.listdir(self.dir):
            path = self._path(name)
            os.chmod(path, 0o640 if name.endswith(".key") else 0o644)
            if cyrus is not None:
                os.chown(path, cyrus.pw_uid, cyrus.pw_gid)
