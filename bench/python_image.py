"""A stand-in for a Python pipe's image (Atlassian's aws-ecs-deploy pipe is ~68.5 MB compressed),
built here FROM scratch because this machine has no internet: this machine's CPython 3.11 (the
interpreter, libpython, the standard library without its tests, IDLE, tkinter and the static
library), boto3 with botocore, and the AWS CLI v1 from the benchmark's virtualenv, the shared
libraries they link (found with ldd) and the CA bundle. Paths are kept as on this machine, so the
interpreter finds its prefix. It runs the boto3 deploy script (bench/alternatives) the way a
Python pipe runs its own code; no Debian userland (shell, apt) is in it, which a real
python:*-slim base would add.

    build(tag, full=True) -> tag

Every build carries a file of its own (`/.bench-build`), so its layer is new to the daemon and a
pull of it transfers everything (a layer the daemon already has is not pulled again).
`full=False` (the smoke run) leaves out the AWS CLI and the byte code: quicker to build, slower to
start, not the figure to quote.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
CLI_PACKAGES = ("awscli", "docutils", "yaml", "rsa", "pyasn1", "colorama")
LEFT_OUT = {"test", "idlelib", "tkinter", "ensurepip", "lib2to3", "turtledemo", "site-packages",
            f"config-{sys.version_info.major}.{sys.version_info.minor}-x86_64-linux-gnu"}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def _copy(source, root):
    """Copy `source` (a file, following links) to the same absolute path under `root`."""
    target = root / str(source).lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(source), target)


def _not_shipped(folder, names):
    """Left out as python:*-slim images leave them out: optimised byte code (-O, -OO) and Tk; and
    the AWS CLI's help examples, which a pipe never shows."""
    return [name for name in names if ".opt-" in name or name.startswith("_tkinter")
            or (name == "examples" and folder.endswith("awscli"))]


def _smoke_not_shipped(folder, names):
    return _not_shipped(folder, names) + [name for name in names if name == "__pycache__"]


def _libraries(elf):
    """Absolute paths of the shared libraries `elf` needs (ldd), the loader included."""
    done = subprocess.run(["ldd", str(elf)], capture_output=True, text=True)
    found = []
    for line in done.stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
            found.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            found.append(parts[0])
    return found


def _context(root, packages, ignore):
    """Fill `root` with the image's file system; returns the interpreter's path inside."""
    real = Path(os.path.realpath(sys.executable))
    prefix = real.parent.parent
    stdlib = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    elves = [real]
    _copy(real, root)
    for library in prefix.glob("lib/libpython*.so*"):
        _copy(library, root)
    for path in stdlib.iterdir():
        if path.name in LEFT_OUT:
            continue
        target = root / str(path).lstrip("/")
        if path.is_dir():
            shutil.copytree(path, target, symlinks=False, ignore=ignore)
        else:
            _copy(path, root)
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    image_site = root / str(stdlib).lstrip("/") / "site-packages"
    image_site.mkdir(parents=True, exist_ok=True)
    for name in packages:
        path = site / name
        if path.is_dir():
            shutil.copytree(path, image_site / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, image_site / name)
    elves += [p for p in root.rglob("*.so*") if p.is_file()]
    needed = set()
    for elf in elves:
        needed.update(_libraries(elf))
    for library in sorted(needed):
        if not (root / library.lstrip("/")).exists():
            _copy(library, root)
    _copy(CA_BUNDLE, root)
    (root / "tmp").mkdir(exist_ok=True)
    (root / ".bench-build").write_text(uuid.uuid4().hex)
    return str(real)


def build(tag="bench-python-pipe:latest", full=True):
    """Build the stand-in image as `tag`."""
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as work:
        root = Path(work) / "rootfs"
        root.mkdir()
        interpreter = _context(root, PACKAGES + (CLI_PACKAGES if full else ()),
                               _not_shipped if full else _smoke_not_shipped)
        (Path(work) / "Dockerfile").write_text(
            "FROM scratch\nCOPY rootfs/ /\n"
            f'ENV SSL_CERT_FILE={CA_BUNDLE} PYTHONDONTWRITEBYTECODE=1\n'
            f'ENTRYPOINT ["{interpreter}"]\n'
        )
        subprocess.run(["docker", "build", "--quiet", "--tag", tag, work], check=True, capture_output=True)
    return tag


if __name__ == "__main__":
    print(build(*sys.argv[1:]))
