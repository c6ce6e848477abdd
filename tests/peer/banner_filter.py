"""A TCP proxy in front of a Cyrus sync_server that hides banner lines.

Cyrus 3.6's sync_server always announces `* SIEVE-MAILBOX` (there is no
option to turn it off), and sync_client then enables it and replicates each
user's Sieve scripts as the `#sieve` mailbox.  replicad does not offer
SIEVE-MAILBOX (it has no Sieve engine, spec 3.15), so its scripts travel
as APPLY SIEVE.  For a like-for-like reference, the reference Cyrus is
reached through this proxy, which drops the named lines from the banner
(everything up to the `* OK` line) and relays every other byte unchanged,
COMPRESS DEFLATE included.  The IMAP flavour's equivalent is Cyrus's own
`suppress_capabilities: X-SIEVE-MAILBOX`.
"""
import socket
import threading

BANNER_LIMIT = 64 * 1024     # a banner is a few short lines


class BannerFilter:
    def __init__(self, target_host, target_port, hidden_lines, listen_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.hidden = {line.rstrip(b"\r\n") for line in hidden_lines}
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((listen_host, 0))
        self.listener.listen(16)
        self.host, self.port = self.listener.getsockname()[:2]
        self.closing = False
        self.lock = threading.Lock()
        self.sockets = set()
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    def _accept_loop(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                if self.closing:
                    client.close()
                    server.close()
                    return
                self.sockets.update((client, server))
            threading.Thread(target=self._serve, args=(client, server), daemon=True).start()

    def _serve(self, client, server):
        upstream = threading.Thread(target=self._pump, args=(client, server, False), daemon=True)
        upstream.start()
        self._pump(server, client, True)
        upstream.join()
        with self.lock:
            self.sockets.difference_update((client, server))
        for s in (client, server):
            s.close()

    def _filter_banner(self, src, dst):
        """Forwards the banner line by line without the hidden lines; returns
        bytes that arrived after it (to be relayed as they are)."""
        buf = b""
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                if len(buf) > BANNER_LIMIT:
                    dst.sendall(buf)
                    return b""
                data = src.recv(1 << 16)
                if not data:
                    dst.sendall(buf)
                    return None
                buf += data
                continue
            line, buf = buf[:nl + 1], buf[nl + 1:]
            if line.rstrip(b"\r\n") not in self.hidden:
                dst.sendall(line)
            if line[:4].upper() in (b"* OK", b"* BY"):
                return buf

    def _pump(self, src, dst, banner_first):
        try:
            if banner_first:
                rest = self._filter_banner(src, dst)
                if rest is None:
                    return
                if rest:
                    dst.sendall(rest)
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    sock.shutdown(how)
                except OSError:
                    pass

    def close(self):
        with self.lock:
            self.closing = True
            sockets, self.sockets = list(self.sockets), set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes accept()
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(2)
        for s in sockets:
            try:
                s.close()
            except OSError:
                pass
