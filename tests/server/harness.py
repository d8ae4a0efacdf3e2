"""Starting pyagent-server on a loopback port and talking to it, for the server tests.

Server(binary, model, *flags) starts it with --port 0, reads the URL it prints, and stop()
sends SIGTERM and returns its exit status (0 expected: a clean shutdown, and under ASan no
leak). Only the Python standard library is used.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

API_KEY = "test-key-0123456789"


class Server:
    def __init__(self, binary, model, *flags, key=API_KEY, env=None, start_timeout=60):
        self.key = key
        self.log = tempfile.TemporaryFile()
        args = [binary, "-m", model, "--port", "0", "-t", "1"]
        if key:
            args += ["--api-key", key]
        args += [str(f) for f in flags]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                     env=dict(os.environ, **(env or {})))
        deadline = time.time() + start_timeout
        line = b""
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line or b"listening on" in line:
                break
        m = re.search(rb"http://([0-9.]+):(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"the server did not start: {line!r}\n{self.stderr()}")
        self.host, self.port = m.group(1).decode(), int(m.group(2))
        self.url = f"http://{self.host}:{self.port}/"
        self.banner = line.decode()

    def stderr(self):
        if self.log.closed:
            return self.log_text
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def headers(self, key=None, extra=None):
        h = {"Content-Type": "application/json"}
        key = self.key if key is None else key
        if key:
            h["Authorization"] = f"Bearer {key}"
        h.update(extra or {})
        return h

    def request(self, method, path, body=None, key=None, headers=None, timeout=120):
        """(status, headers, body bytes). body: dict/list (sent as JSON), str or bytes."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=self.headers(key, headers))
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        except OSError as e:  # a hang or a reset: what the server logged says why
            raise OSError(f"{method} {path}: {e!r}\nserver log (tail):\n{self.stderr()[-4000:]}") from e
        finally:
            conn.close()

    def json(self, method, path, body=None, key=None, **kw):
        status, headers, data = self.request(method, path, body, key, **kw)
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            raise AssertionError(f"{method} {path}: {status}, not JSON: {data[:300]!r}")

    def open_stream(self, path, body, key=None, timeout=120):
        """An open streaming response: (connection, response)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.request("POST", path, body=json.dumps(body).encode(), headers=self.headers(key))
        return conn, conn.getresponse()

    def stream(self, path, body, key=None, timeout=120):
        """(status, [data strings of the SSE events], [comment lines])."""
        conn, r = self.open_stream(path, body, key, timeout)
        try:
            if r.status != 200:
                return r.status, [r.read().decode()], []
            assert r.getheader("Content-Type", "").startswith("text/event-stream"), r.getheaders()
            events, comments = read_sse(r)
            return r.status, events, comments
        finally:
            conn.close()

    def metrics(self):
        status, _, data = self.request("GET", "/metrics")
        assert status == 200, data
        return parse_metrics(data.decode())

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def raw(self, data, read=True, timeout=10):
        """Sends raw bytes on a new connection; returns what comes back (until close)."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        try:
            s.sendall(data)
            if not read:
                return b""
            chunks = []
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            s.close()

    def stop(self, timeout=60):
        """SIGTERM; the exit status (or raises if it does not stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server did not stop within {timeout} s\n{self.stderr()}")
        finally:
            self.proc.stdout.close()
            self.log_text = self.stderr()
            self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()


def read_sse(response):
    """Reads SSE until the stream ends: ([data payloads], [comment lines])."""
    events, comments = [], []
    while True:
        line = response.readline()
        if not line:
            break
        line = line.decode("utf-8").rstrip("\n")
        if line.startswith("data: "):
            events.append(line[6:])
        elif line.startswith(":"):
            comments.append(line)
    return events, comments


def parse_metrics(text):
    """Prometheus text -> {'name{labels}': value}; also checks every sample has HELP and TYPE."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
        elif line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            base = name_labels.split("{")[0]
            family = re.sub(r"_(bucket|sum|count)$", "", base)
            assert base in typed or family in typed, f"no TYPE for {line}"
            samples[name_labels] = float(value)
    return samples
