"""A PEP 517 build backend for the pure-Python `pyagent` package, standard library only.

pip runs it from the source folder (pyproject.toml: backend-path) with no build requirements, so
`pip install bindings/python` needs no network and no setuptools. It writes a py3-none-any wheel
of the pyagent/ folder; the version is the one of the headers the bindings were generated from.
"""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "pyagent"
SUMMARY = "Python bindings (ctypes) of libpyagent, embeddable multi-agent LLM inference"


def _version():
    with open(os.path.join(HERE, NAME, "_ffi.py"), encoding="utf-8") as f:
        text = f.read()
    parts = [re.search(r"^PYAGENT_VERSION_%s = (\d+)$" % p, text, re.M).group(1)
             for p in ("MAJOR", "MINOR", "PATCH")]
    return ".".join(parts)


def _metadata():
    readme = os.path.join(HERE, "README.md")
    body = open(readme, encoding="utf-8").read() if os.path.exists(readme) else ""
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: MIT\n"
            "Requires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n%s"
            % (NAME, _version(), SUMMARY, body))


def _package_files():
    for folder, dirs, files in os.walk(os.path.join(HERE, NAME)):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py") or name == "py.typed":
                path = os.path.join(folder, name)
                yield os.path.relpath(path, HERE).replace(os.sep, "/"), path


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    path = os.path.join(metadata_directory, _dist_info())
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return _dist_info()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = "%s-%s-py3-none-any.whl" % (NAME, _version())
    info = _dist_info()
    entries = [(arc, open(path, "rb").read()) for arc, path in _package_files()]
    entries.append((info + "/METADATA", _metadata().encode()))
    entries.append((info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: pyagent_build\n"
                                     b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [_record_line(arc, data) for arc, data in entries] + [info + "/RECORD,,"]
    entries.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in entries:
            z.writestr(zipfile.ZipInfo(arc, date_time=(2020, 1, 1, 0, 0, 0)), data,
                       zipfile.ZIP_DEFLATED)
    return name


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    files = [("pyproject.toml", os.path.join(HERE, "pyproject.toml")),
             ("_build/pyagent_build.py", os.path.abspath(__file__))]
    if os.path.exists(os.path.join(HERE, "README.md")):
        files.append(("README.md", os.path.join(HERE, "README.md")))
    files += list(_package_files())
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for arc, path in files:
            tar.add(path, arcname=base + "/" + arc)
        pkg_info = _metadata().encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        tar.addfile(ti, io.BytesIO(pkg_info))
    return name
