"""Results directories on disk: atomic writes and the manifest."""

from __future__ import annotations

import pandas as pd
import pytest

from parksim.io import atomic_write_bytes, atomic_write_table, read_manifest, sha256_file


def test_atomic_writes_leave_no_temporary_files(tmp_path):
    atomic_write_bytes(tmp_path / "summary.json", b"{}\n")
    frame = pd.DataFrame({"park": ["场口百丈小微企业创新园"], "firms": [12]})
    atomic_write_table(frame, tmp_path / "parks.parquet")
    atomic_write_table(frame, tmp_path / "parks.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parks.csv", "parks.parquet", "summary.json"]
    assert (tmp_path / "parks.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # spreadsheets see UTF-8
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "parks.parquet"), frame)
    assert sha256_file(tmp_path / "summary.json") == (
        "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356")


def test_a_directory_without_a_manifest_is_not_a_results_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        read_manifest(tmp_path)
