"""Peak memory of `ecr-push` from an archive stays under 64 MB whatever the archive says (issue 18):
archives at (or past) each bound the reader has, and documents built to blow up a generic JSON
tree, read with the binary's peak resident set measured by /usr/bin/time (`%M`). The structure is
what the archive controls; blob bytes are streamed (body.rs) and one real push of a 40 MB layer
is measured too."""

import json
import os
import stat
import tarfile
import uuid
from pathlib import Path

import pytest

import images
from emulator.scenario import client_for
from pipe import BINARY, run_binary

LIMIT_KB = 64 * 1024
TIME = "/usr/bin/time"


@pytest.fixture
def measured(scenario, emulator, tmp_path):
    """The scenario, its runs wrapped in /usr/bin/time; `measured.peak_kb()` after each run."""
    if not os.access(TIME, os.X_OK):
        pytest.skip("no /usr/bin/time to measure peak memory")
    rss = tmp_path / "peak-rss-kb"
    wrapper = tmp_path / "measured-pipe"
    wrapper.write_text(f'#!/bin/sh\nexec {TIME} -f %M -o {rss} {Path(BINARY).resolve()} "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    scenario.runner = lambda env, **kwargs: run_binary(env, binary=wrapper, **kwargs)
    scenario.peak_kb = lambda: int(rss.read_text().split()[-1])
    scenario.repository = f"team/bounds-{uuid.uuid4().hex[:8]}"
    client_for(emulator, "ecr", scenario.user(name="ecr-admin")).create_repository(repositoryName=scenario.repository)
    return scenario


def push(scenario, archive, **variables):
    result = scenario.run(ACTION="ecr-push", IMAGE_ARCHIVE=archive, ECR_REPOSITORY=scenario.repository, timeout=300,
                          **variables)
    peak = scenario.peak_kb()
    print(f"{archive}: exit {result.code}, peak {peak} KB")
    return result, peak


def test_documents_built_to_blow_up_a_json_tree(measured):
    """A 4 MiB manifest and a 4 MiB index.json, each nearly all `[0,0,…]` in a field the pipe does
    not read: 2 million JSON values each (as a serde_json::Value tree, 158 MB peak before)."""
    layout = measured.clone_dir / "tree-bomb"
    top, _ = images.oci_layout(layout, layer_sizes=(100,))
    manifest = json.loads((layout / "blobs" / "sha256" / top.split(":", 1)[1]).read_bytes())
    zeros = ",".join(["0"] * 2_000_000)
    padded = json.dumps(manifest)[:-1] + ', "padding": [' + zeros + "]}"
    descriptor = images._blob(layout, padded.encode())
    assert descriptor["size"] < 4 * 1024 * 1024
    index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": images.OCI_MANIFEST, **descriptor}]})
    (layout / "index.json").write_text(index[:-1] + ', "padding": [' + zeros + "]}")
    result, peak = push(measured, "tree-bomb", DRY_RUN="true")
    assert result.code == 0, result
    assert peak < LIMIT_KB, f"peak {peak} KB"


def test_an_index_at_the_bounds(measured):
    """1024 distinct platform manifests (the most an index may list), about 15 KiB each: close to
    the 16 MiB of manifests the pipe holds."""
    layout = measured.clone_dir / "wide"
    top, _ = images.oci_layout(layout, layer_sizes=(100,))
    manifest = json.loads((layout / "blobs" / "sha256" / top.split(":", 1)[1]).read_bytes())
    children = []
    for n in range(1024):
        child = {**manifest, "annotations": {"n": str(n), "pad": "x" * 15_000}}
        children.append({"mediaType": images.OCI_MANIFEST, **images._blob(layout, json.dumps(child).encode()),
                         "platform": {"architecture": f"arch{n}", "os": "linux"}})
    index = images._blob(layout, json.dumps({"schemaVersion": 2, "mediaType": images.OCI_INDEX,
                                              "manifests": children}).encode())
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": images.OCI_INDEX, **index}]}))
    result, peak = push(measured, "wide", DRY_RUN="true")
    assert result.code == 0, result
    assert len(result.outputs_json["platforms"]) == 1024
    assert peak < LIMIT_KB, f"peak {peak} KB"


def test_a_tar_of_names_past_the_bound(measured):
    """120,000 entries of 250-byte names (30 MB of names, past the 8 MiB and the 65,536 entries the
    index keeps)."""
    path = measured.clone_dir / "names.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for n in range(120_000):
            info = tarfile.TarInfo(f"{'d' * 150}/{n:08d}{'f' * 91}")
            tar.addfile(info)
    result, peak = push(measured, "names.tar", DRY_RUN="true")
    assert result.code == 2, result
    assert "bytes of names: not an image archive" in result.final_line, result
    assert peak < LIMIT_KB, f"peak {peak} KB"


def test_a_real_push_of_a_large_layer(measured, ecr_registry):
    images.oci_layout(measured.clone_dir / "large", layer_sizes=(40 * 1024 * 1024,))
    result, peak = push(measured, "large")
    assert result.code == 0, result
    assert peak < LIMIT_KB, f"peak {peak} KB"
