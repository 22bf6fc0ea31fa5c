"""`keyturn mds update --file` and `keyturn mds status`, run as an operator runs them: a blob
that verifies against the configured root is stored for every process; one that does not, or
is not newer, changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Keyturn
from tests.support.mds import MetadataService, entry

AAGUID = "2fc0579f-8113-47ea-b116-bb5a8db9202a"


@pytest.fixture(scope="module")
def service() -> MetadataService:
    return MetadataService()


@pytest.fixture
def keyturn(clean_database: str, tmp_path: Path, service: MetadataService) -> Keyturn:
    cli = Keyturn(tmp_path, clean_database)
    root = tmp_path / "mds-root.pem"
    root.write_bytes(service.root_pem)
    cli.env["KEYTURN_MDS_ROOT_CERTIFICATE_FILE"] = str(root)
    return cli


def blob_file(tmp_path: Path, service: MetadataService, *, serial: int, name: str = "blob.jwt") -> Path:
    path = tmp_path / name
    entries = [entry(description="Test Key", roots_pem=[service.root_pem], aaguid=AAGUID)]
    path.write_text(service.blob(entries, serial=serial) + "\n")
    return path


def stored(keyturn: Keyturn) -> dict[str, object]:
    result: dict[str, object] = keyturn.json("mds", "status", "--json")
    return result


def test_update_stores_a_verified_blob_and_status_shows_it(
    keyturn: Keyturn, tmp_path: Path, service: MetadataService
) -> None:
    assert "no MDS blob stored" in keyturn.ok("mds", "status")

    out = keyturn.ok("mds", "update", "--file", str(blob_file(tmp_path, service, serial=7)))

    assert "stored MDS blob serial 7: 1 entries, next update 2026-12-31" in out
    status = stored(keyturn)
    assert (status["stored"], status["serial"], status["entries"], status["next_update"]) == (
        True,
        7,
        1,
        "2026-12-31",
    )
    text = keyturn.ok("mds", "status")
    assert "serial: 7" in text and "next update: 2026-12-31" in text and "entries: 1" in text


def test_a_blob_signed_under_another_root_is_refused_and_nothing_stored(
    keyturn: Keyturn, tmp_path: Path
) -> None:
    code, _, err = keyturn("mds", "update", "--file", str(blob_file(tmp_path, MetadataService(), serial=1)))

    assert code == 1
    assert "The FIDO Metadata Service blob could not be verified." in err
    assert stored(keyturn) == {"stored": False}


def test_an_older_or_same_blob_does_not_replace_the_stored_one(
    keyturn: Keyturn, tmp_path: Path, service: MetadataService
) -> None:
    keyturn.ok("mds", "update", "--file", str(blob_file(tmp_path, service, serial=7)))

    code, _, err = keyturn(
        "mds", "update", "--file", str(blob_file(tmp_path, service, serial=6, name="old.jwt"))
    )

    assert code == 1 and "is not newer than the stored one (serial 7)" in err
    assert stored(keyturn)["serial"] == 7


def test_a_missing_file_is_a_clear_error(keyturn: Keyturn, tmp_path: Path) -> None:
    code, _, err = keyturn("mds", "update", "--file", str(tmp_path / "nope.jwt"))
    assert code == 1 and "cannot read" in err
