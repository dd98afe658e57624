"""Where SRC, DEST, --manifest, SHARDS and `images stats DIR` enter: a URL is shown with its
secrets masked, a scheme capplan does not read or write is one clear line naming those it does,
and a library's error is one line without a credential."""

from __future__ import annotations

import string
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.errors import InputError
from capplan.images.locations import Location, locate
from capplan.images.storage import describe

from . import images
from .conftest import Run

SUPPORTED = "expected a local path, file://path or s3://bucket/prefix"


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(images.jpeg(images.photo(120, 90, seed=1)))
    return folder


def one_line_error(run: Run, command: str, *args: str | Path) -> str:
    """The error of a refused command: exit code 2 (3: a scheduler out of reach), one line on
    stderr, nothing on stdout."""
    result = run("images", *command.split(), *args)
    assert result.exit_code == (3 if "--scheduler" in args else 2), result.output
    assert result.stdout == ""
    assert result.stderr.startswith(f"capplan images {command}: error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@pytest.mark.parametrize(
    ("command", "args", "shown", "problem"),
    [
        (
            "convert", ("s3://bob:secretKEY@bucket/x", "{tmp}/out9"),
            "SRC s3://***", "takes no user or password in the URL; credentials",
        ),
        (
            "convert", ("{src}", "s3://bucket/x?secret=topSECRET"),
            "DEST s3://bucket/x", "takes no query (?...)",
        ),
        (
            "convert", ("{src}", "gs://bob:topSECRET@bucket/x"),
            "DEST gs://bucket/x", f"unsupported scheme gs://; {SUPPORTED}",
        ),
        (
            "convert", ("{src}", "ftp://bob:topSECRET@127.0.0.1:1/x"),
            "DEST ftp://127.0.0.1:1/x", f"unsupported scheme ftp://; {SUPPORTED}",
        ),
        (
            "convert", ("{src}", "file://bob:topSECRET@/srv/tree"),
            "DEST file:///srv/tree", "takes no user or password",
        ),
        (
            "convert", ("{src}", "{tmp}/out", "--manifest", "s3://bob:topSECRET@bucket/m.jsonl"),
            "--manifest s3://***", "takes no user or password",
        ),
        (
            "convert",
            ("{src}", "{tmp}/out", "--manifest", "s3://bucket/m.jsonl?token=topSECRET",
             "--shard", "0/2"),
            "--manifest s3://bucket/m.jsonl", "takes no query",
        ),
        (
            "convert", ("{src}", "{tmp}/out", "--scheduler", "tcp://bob:topSECRET@127.0.0.1:1"),
            "--scheduler tcp://127.0.0.1:1", "",
        ),
        (
            "stats", ("s3://bucket/tree?X-Amz-Signature=topSECRET",),
            "DIR s3://bucket/tree", "takes no query",
        ),
        (
            "stats", ("https://bob:topSECRET@cdn.example/tree",),
            "DIR https://cdn.example/tree", "not a folder capplan can read",
        ),
        (
            "manifest merge", ("s3://bob:topSECRET@bucket/manifests/", "--manifest", "{tmp}/m"),
            "s3://***", "takes no user or password",
        ),
    ],
)  # fmt: skip
def test_a_secret_in_a_location_never_reaches_the_output(
    run: Run,
    src: Path,
    tmp_path: Path,
    command: str,
    args: tuple[str, ...],
    shown: str,
    problem: str,
) -> None:
    given_args = [arg.format(src=src, tmp=tmp_path) for arg in args]
    error = one_line_error(run, command, *given_args)
    assert "secretKEY" not in error and "topSECRET" not in error
    assert shown in error and problem in error
    assert "Traceback" not in error and "Exception ignored" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # nothing written


PASSWORD = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$'()*+,;=:@?#%", min_size=6
)
QUERY_VALUE = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$'()*+,;:@?/%", min_size=6
)
SECRET_PARAMETERS = ("secret", "token", "password", "X-Amz-Signature", "api_key", "access_token")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scheme=st.sampled_from(["s3", "s3a", "file", "gs", "ftp", "http", "https", "abfs", "memory"]),
    secret=st.one_of(
        PASSWORD.map(lambda p: ("userinfo", p)),
        st.tuples(st.sampled_from(SECRET_PARAMETERS), QUERY_VALUE),
    ),
    where=st.sampled_from(["src", "dest", "manifest", "stats"]),
)
def test_no_secret_of_any_location_url_is_ever_printed(
    run: Run, src: Path, tmp_path: Path, scheme: str, secret: tuple[str, str], where: str
) -> None:
    parameter, value = secret
    value = f"Zq9{value}"  # a marker: no message holds it by chance
    if parameter == "userinfo":
        url = f"{scheme}://bob:{value}@bucket/prefix"
    else:
        url = f"{scheme}://bucket/prefix?page=2&{parameter}={value}"
    arguments: dict[str, tuple[str | Path, ...]] = {
        "src": ("convert", url, tmp_path / "out"),
        "dest": ("convert", src, url),
        "manifest": ("convert", src, tmp_path / "out", "--manifest", url),
        "stats": ("stats", url),
    }
    result = run("images", *arguments[where])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    for form in {value, urllib.parse.unquote(value), urllib.parse.quote(value, safe="")}:
        assert form not in result.output
    assert "bob" not in result.output and "page=" not in result.output  # shown from its parts
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        (
            "http://x/y",
            "DEST http://x/y: an http:// URL is not somewhere capplan writes; "
            f"{SUPPORTED} (an S3-compatible server at http://x: s3://BUCKET/PREFIX with the "
            "storage option endpoint_url=http://x)",
        ),
        (
            "https://ops:Sw0rdf1sh@minio.internal:9000/images",
            "DEST https://minio.internal:9000/images: an https:// URL is not somewhere "
            f"capplan writes; {SUPPORTED} (an S3-compatible server at "
            "https://minio.internal:9000: s3://BUCKET/PREFIX with the storage option "
            "endpoint_url=https://minio.internal:9000)",
        ),
    ],
)
def test_an_http_destination_is_not_written_to(
    run: Run, src: Path, dest: str, expected: str
) -> None:
    error = one_line_error(run, "convert", src, dest)
    assert error == f"capplan images convert: error: {expected}\n"


def test_an_http_source_is_not_a_folder_capplan_reads(run: Run, tmp_path: Path) -> None:
    error = one_line_error(run, "convert", "https://shop.example/uploads", tmp_path / "out")
    assert error == (
        "capplan images convert: error: SRC https://shop.example/uploads: an https:// URL is "
        f"not a folder capplan can read; {SUPPORTED}\n"
    )


@pytest.mark.parametrize("scheme", ["gs", "ftp", "sftp", "abfs", "memory", "hdfs", "GS"])
def test_an_unsupported_scheme_names_what_is_supported(
    run: Run, src: Path, tmp_path: Path, scheme: str
) -> None:
    error = one_line_error(run, "convert", src, f"{scheme}://bucket/tree")
    assert error == (
        f"capplan images convert: error: DEST {scheme.lower()}://bucket/tree: unsupported scheme "
        f"{scheme.lower()}://; {SUPPORTED}\n"
    )


def test_file_and_s3_urls_are_located_as_before() -> None:
    assert locate("file:///srv/tree") == Location("/srv/tree", None, "/srv/tree")
    assert locate("S3://bucket/tree/", (("anon", True),)) == Location(
        "s3://bucket/tree/", "s3", "bucket/tree", (("anon", True),)
    )
    assert locate("uploads/a@b:c?d") == Location("uploads/a@b:c?d", None, "uploads/a@b:c?d")
    assert locate("s3://bucket/a@b/c:d").root == "bucket/a@b/c:d"  # an @ in a key is no user
    with pytest.raises(InputError) as refused:
        locate("s3://key:s3cr3tvalue@bucket/x", subject="dest", writes=True)
    assert refused.value.subject == "dest" and "s3cr3tvalue" not in str(refused.value)


def test_a_library_error_is_one_line_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://minio:Endp0intPass@127.0.0.1:9000")
    location = locate("s3://bucket/x", (("secret", "option-secret"), ("endpoint_url", "http://e")))
    error = ValueError(
        "Parameter validation failed:\nInvalid key env-secret-value and option-secret\n"
        "Could not connect to http://minio:Endp0intPass@127.0.0.1:9000\n"
    )
    message = describe(error, location)
    assert message == "ValueError: Parameter validation failed: Invalid key *** and ***"
    assert describe(OSError("no route to host\n  at line 2"), location) == (
        "OSError: no route to host"
    )
    assert describe(ConnectionError(), location) == "ConnectionError"
    endpoint = describe(OSError("Could not connect to http://minio:Endp0intPass@127.0.0.1:9000"))
    assert "Endp0intPass" not in endpoint and "http://minio:***@127.0.0.1:9000" in endpoint
