"""Test images, made locally since nothing can be pulled: `FROM scratch` images built by the
Docker engine from random files, and OCI image layouts written by hand (one platform or a
multi-platform index)."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def docker_available():
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True
    ).returncode == 0


def build_image(workdir, sizes=(4096, 70_000)):
    """A `FROM scratch` image with one layer of random bytes per size; returns its name."""
    context = Path(workdir) / f"context-{uuid.uuid4().hex[:8]}"
    context.mkdir(parents=True)
    lines = ["FROM scratch"]
    for index, size in enumerate(sizes):
        (context / f"file{index}").write_bytes(os.urandom(size))
        lines.append(f"COPY file{index} /file{index}")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    name = f"ecr-test-{uuid.uuid4().hex[:10]}:built"
    subprocess.run(["docker", "build", "-q", "-t", name, str(context)], check=True, capture_output=True)
    return name


def remove_images(*names):
    if names:
        subprocess.run(["docker", "rmi", "-f", *names], capture_output=True)


def docker_save(name, path):
    subprocess.run(["docker", "save", "-o", str(path), name], check=True, capture_output=True)
    return path


def _blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _layer(sizes):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for index, size in enumerate(sizes):
            info = tarfile.TarInfo(f"data{index}-{uuid.uuid4().hex[:6]}")
            info.size = size
            tar.addfile(info, io.BytesIO(os.urandom(size)))
    return out.getvalue()


def _image_manifest(layout, architecture, layer_sizes, declare_media_type=True):
    layers = [_blob(layout, _layer([size])) for size in layer_sizes]
    config = {
        "architecture": architecture, "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        "config": {},
    }
    config_blob = _blob(layout, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config_blob},
        "layers": [{"mediaType": OCI_LAYER, **layer} for layer in layers],
    }
    if not declare_media_type:
        del manifest["mediaType"]  # optional in OCI
    return _blob(layout, json.dumps(manifest).encode())


def _attestation(layout, subject):
    """A BuildKit attestation manifest (provenance) for the manifest `subject`, as `docker buildx
    build` adds by default: platform unknown/unknown, `vnd.docker.reference.type:
    attestation-manifest` (docker/buildx#1533, docker/cli#5476's `docker image inspect` output)."""
    statement = _blob(layout, json.dumps({"_type": "https://in-toto.io/Statement/v0.1",
                                          "predicateType": "https://slsa.dev/provenance/v0.2"}).encode())
    config = _blob(layout, json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                                       "rootfs": {"type": "layers", "diff_ids": [statement["digest"]]}}).encode())
    manifest = _blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, **config},
        "layers": [{"mediaType": "application/vnd.in-toto+json", **statement,
                    "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}],
    }).encode())
    return {"mediaType": OCI_MANIFEST, **manifest, "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {"vnd.docker.reference.digest": subject, "vnd.docker.reference.type": "attestation-manifest"}}


def oci_layout(layout, layer_sizes=(3000, 50_000), platforms=None, declare_media_type=True, attestations=False):
    """An OCI image layout directory; with `platforms` (e.g. ["amd64", "arm64"]) a multi-platform
    index, with `attestations` one BuildKit provenance manifest per platform too. Returns (top
    digest, [platform manifest digests])."""
    layout = Path(layout)
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    children = []
    if platforms:
        entries = []
        for architecture in platforms:
            descriptor = _image_manifest(layout, architecture, layer_sizes)
            children.append(descriptor["digest"])
            entries.append({"mediaType": OCI_MANIFEST, **descriptor,
                            "platform": {"architecture": architecture, "os": "linux"}})
        if attestations:
            entries += [_attestation(layout, entry["digest"]) for entry in list(entries)]
        top = _blob(layout, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode())
        top_type = OCI_INDEX
    else:
        top = _image_manifest(layout, "amd64", layer_sizes, declare_media_type)
        top_type = OCI_MANIFEST
    (layout / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"mediaType": top_type, **top}],
    }))
    return top["digest"], children


def tar_directory(directory, path):
    with tarfile.open(path, "w") as tar:
        for item in sorted(Path(directory).rglob("*")):
            tar.add(item, arcname=str(item.relative_to(directory)), recursive=False)
    return path


def legacy_docker_save(path, layer_sizes=(2000, 30_000), wrong_diff_id=False):
    """A `docker save` tarball as Docker before 25 writes it (manifest.json, <id>/layer.tar,
    <config>.json; no index.json), without a daemon. With `wrong_diff_id`, the configuration
    names a digest that is not the first layer's. Returns the config's diff ids."""
    members = {}
    layer_names, diff_ids = [], []
    for index, size in enumerate(layer_sizes):
        data = _layer([size])
        layer_id = hashlib.sha256(f"{index}{uuid.uuid4()}".encode()).hexdigest()
        members[f"{layer_id}/layer.tar"] = data
        layer_names.append(f"{layer_id}/layer.tar")
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
    if wrong_diff_id:
        diff_ids[0] = "sha256:" + "0" * 64
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    members[config_name] = config
    members["manifest.json"] = json.dumps([{"Config": config_name, "RepoTags": ["legacy:1"],
                                            "Layers": layer_names}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return diff_ids


def containerd_save(path, platforms=("amd64", "arm64"), present=("amd64",), lacking="manifest",
                    name="docker.io/library/app:1"):
    """A `docker save` tarball as Docker 25+ writes it from the containerd image store for a
    multi-platform image pulled or built for some platforms only: `index.json` names the whole
    image index (its digest preserved), whose platform manifests are listed but whose blobs are
    only those of the `present` platforms (moby#44833, moby#49473, kind#3795). `lacking`: the
    absent platforms' "manifest" blobs are missing, or only their "layers". Written without a
    daemon: the engine here (20.10, no containerd store) writes legacy archives. Returns the
    index digest."""
    layout = Path(path).with_suffix(".layout")
    layout.mkdir()
    entries, kept = [], set()
    for architecture in platforms:
        before = {p.name for p in (layout / "blobs" / "sha256").glob("*")} if (layout / "blobs").exists() else set()
        descriptor = _image_manifest(layout, architecture, (2000,))
        entries.append({"mediaType": OCI_MANIFEST, **descriptor,
                        "platform": {"architecture": architecture, "os": "linux"}})
        added = {p.name for p in (layout / "blobs" / "sha256").glob("*")} - before
        manifest_hex = descriptor["digest"].split(":", 1)[1]
        if architecture in present:
            kept |= added
        elif lacking == "layers":
            kept.add(manifest_hex)
    top = _blob(layout, json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode())
    kept.add(top["digest"].split(":", 1)[1])
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_INDEX, **top,
         "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}},
    ]}))
    with tarfile.open(path, "w") as tar:
        for item in sorted(layout.rglob("*")):
            if item.is_file() and (item.parent.name != "sha256" or item.name in kept):
                tar.add(item, arcname=str(item.relative_to(layout)), recursive=False)
    shutil.rmtree(layout)
    return top["digest"]


def docker25_save(path, layer_sizes=(2000, 30_000), name="docker.io/library/app:1"):
    """A `docker save` tarball as Docker 25+ writes it with the classic image store: an OCI layout
    (`oci-layout`, `index.json` naming the image manifest, `blobs/sha256/…` with uncompressed
    layers) and, beside it, the legacy `manifest.json` whose `Config` and `Layers` are blob paths
    (moby#47294, a 25.0 fix to what save puts in index.json; wagoodman/dive#500, "Fix compatibility
    with Docker 25+", for tools that read only the pre-25 shape). Returns the manifest digest."""
    layout = Path(path).with_suffix(".layout")
    descriptor = _image_manifest(layout, "amd64", layer_sizes)
    manifest = json.loads((layout / "blobs" / "sha256" / descriptor["digest"].split(":", 1)[1]).read_bytes())
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, **descriptor,
         "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}},
    ]}))
    blob = lambda digest: "blobs/sha256/" + digest.split(":", 1)[1]
    (layout / "manifest.json").write_text(json.dumps([{
        "Config": blob(manifest["config"]["digest"]), "RepoTags": [name.split("/")[-1]],
        "Layers": [blob(layer["digest"]) for layer in manifest["layers"]],
    }]))
    tar_directory(layout, path)
    shutil.rmtree(layout)
    return descriptor["digest"]


def legacy_save_with_linked_layer(path):
    """A Docker (before 25) `docker save` of an image with the same layer twice: the second
    `<id>/layer.tar` is a symbolic link `../<first id>/layer.tar`, as Docker writes it. Returns the
    config's diff ids."""
    data = _layer([3000])
    diff_id = "sha256:" + hashlib.sha256(data).hexdigest()
    first, second = (hashlib.sha256(f"{n}{uuid.uuid4()}".encode()).hexdigest() for n in range(2))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [diff_id, diff_id]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    with tarfile.open(path, "w") as tar:
        for name, payload in ((f"{first}/layer.tar", data), (config_name, config)):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        link = tarfile.TarInfo(f"{second}/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = f"../{first}/layer.tar"
        tar.addfile(link)
        manifest = json.dumps([{"Config": config_name, "RepoTags": ["linked:1"],
                                "Layers": [f"{first}/layer.tar", f"{second}/layer.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))
    return [diff_id, diff_id]
