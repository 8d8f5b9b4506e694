"""The bundled sample is found and started by its place beside the plugin, whatever the user's layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest_wsservice
from pytest_wsservice.service.bundled import bundled_sample_dir, sample_command


def test_bundled_sample_is_the_one_beside_the_plugin() -> None:
    directory = bundled_sample_dir()
    assert directory is not None
    assert directory == Path(pytest_wsservice.__file__).resolve().parent.parent / "sample_service"
    assert (directory / "static_config.yaml").is_file()


def test_launcher_ignores_a_sample_service_package_in_the_current_directory(tmp_path: Path, scaled) -> None:
    impostor = tmp_path / "sample_service"
    impostor.mkdir()
    (impostor / "__init__.py").write_text("")
    (impostor / "__main__.py").write_text("print('the user project package')\n")
    argv = sample_command("unused.yaml")
    argv[-2:] = ["--help"]  # the bundled sample's own help, then exit 0
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=scaled(30), check=False)
    assert done.returncode == 0, done.stderr
    assert "usage: python -m sample_service" in done.stdout
    assert "the user project package" not in done.stdout
