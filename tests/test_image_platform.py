"""`images convert` past one machine, with real components on 127.0.0.1: an S3 endpoint served
by moto's standalone server, and a Dask scheduler with two workers, each started by these tests
as separate processes. The same sources give the same keys and bytes locally, on Dask into S3,
and in three shards into S3; a Dask worker killed mid-run still ends in a complete tree."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from capplan.errors import InputError
from capplan.images.shards import Shard, parse

from . import images
from .conftest import ROOT, Run

KEY_ID, SECRET = "capplan-test-key-id", "capplan-test-secret-do-not-print"
BUCKET = "platform"


def _needs(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is missing under CI (pip install -e '.[test]')")
        pytest.skip(f"{what} is not installed (pip install -e '.[test]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """moto's standalone S3 server, as s3fs's own tests use it."""
    _needs("moto", "moto[server]")
    _needs("s3fs", "s3fs")
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server, "moto_server")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty bucket, and the credentials in the AWS_* variables (as a user would set them)."""
    import s3fs

    for name, value in {
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(use_listings_cache=False, skip_instance_cache=True)
    fs.mkdir(BUCKET)
    yield fs
    fs.rm(BUCKET, recursive=True)


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


class Cluster:
    """A Dask scheduler and two workers, each its own process."""

    def __init__(self, environment: dict[str, str]) -> None:
        dask = str(Path(sys.executable).with_name("dask"))
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.scheduler = subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        wait_for_port(port, self.scheduler, "dask scheduler")
        worker = [dask, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
        self.workers = [
            subprocess.Popen(
                [*worker, "--name", f"w{n}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=environment,
            )
            for n in range(2)
        ]
        self._wait_for_workers(2)

    def _wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(count, timeout=60)

    def close(self) -> None:
        for process in [*self.workers, self.scheduler]:  # the workers before their scheduler
            stop(process)


@pytest.fixture
def cluster(endpoint: str) -> Iterator[Cluster]:
    _needs("distributed", "dask[distributed]")
    started = Cluster(s3_environment(endpoint))
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    images.write_sources(folder, photos=4)
    (folder / "sub").mkdir()
    (folder / "sub" / "copy.jpg").write_bytes((folder / "photo0.jpg").read_bytes())
    (folder / "sub" / "wide.png").write_bytes(images.png(images.photo(900, 300, seed=11)))
    return folder


def convert(run: Run, *args: str | Path) -> tuple[int, dict[str, Any], str]:
    result = run("images", "convert", *args, "--format", "json")
    assert result.stdout, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, summary, result.stdout + result.stderr


def local_tree(dest: Path) -> dict[str, str]:
    return {
        str(path.relative_to(dest)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in dest.rglob("*")
        if path.is_file()
    }


def bucket_tree(fs: Any, prefix: str) -> dict[str, str]:
    root = f"{BUCKET}/{prefix}"
    return {
        name[len(root) + 1 :]: hashlib.sha256(fs.cat_file(name)).hexdigest()
        for name in fs.find(root)
    }


def test_local_dask_and_shards_make_the_same_tree_in_s3(
    run: Run, src: Path, tmp_path: Path, s3: Any, cluster: Cluster
) -> None:
    seen = ""
    code, local, text = convert(run, src, tmp_path / "local")
    seen += text
    expected = local_tree(tmp_path / "local")
    assert code == 1 and local["converted"] == 11 and local["duplicates"] == 1
    assert len(expected) == 3 * 11

    code, on_dask, text = convert(
        run, src, f"s3://{BUCKET}/dask", "--scheduler", cluster.address, "--manifest",
        tmp_path / "dask.jsonl",
    )  # fmt: skip
    seen += text + (tmp_path / "dask.jsonl").read_text(encoding="utf-8")
    assert code == 1
    assert {k: on_dask[k] for k in ("converted", "duplicates", "failed", "ignored")} == {
        k: local[k] for k in ("converted", "duplicates", "failed", "ignored")
    }
    assert bucket_tree(s3, "dask") == expected

    shards = f"s3://{BUCKET}/manifests/"  # the shards' manifests in the bucket too
    converted = failed = 0
    for index in range(3):
        code, part, text = convert(
            run, src, f"s3://{BUCKET}/shards", "--shard", f"{index}/3", "--manifest", shards
        )
        seen += text
        converted += part["converted"]
        failed += part["failed"]
    assert (converted, failed) == (11, 5)
    assert bucket_tree(s3, "shards") == expected
    merged = run(
        "images", "manifest", "merge", shards, "--manifest", tmp_path / "all.jsonl",
        "--format", "json",
    )  # fmt: skip
    assert merged.exit_code == 0, merged.stderr
    statuses = json.loads(merged.stdout)["statuses"]
    assert {k: statuses[k] for k in ("converted", "failed")} == {"converted": 11, "failed": 5}
    assert statuses["duplicate"] + statuses["skipped"] == 1
    assert sorted(s3.ls(f"{BUCKET}/manifests")) == [
        f"{BUCKET}/manifests/manifest-{k}-of-3.jsonl" for k in range(3)
    ]
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    sources = [json.loads(line)["source"] for line in lines]
    assert sorted(sources) == sorted(str(p) for p in src.rglob("*") if p.is_file())
    seen += "".join(line + "\n" for line in lines)

    code, again, text = convert(run, src, f"s3://{BUCKET}/dask", "--scheduler", cluster.address)
    seen += text
    assert (again["converted"], again["skipped"], again["duplicates"]) == (0, 11, 1)
    stats = run("images", "stats", f"s3://{BUCKET}/dask", "--format", "json")
    assert json.loads(stats.stdout)["variants"]["800"]["files"] == 11
    seen += stats.stdout + stats.stderr
    assert SECRET not in seen and KEY_ID not in seen


@pytest.mark.slow
def test_a_dask_worker_killed_mid_run_still_ends_in_a_complete_tree(
    tmp_path: Path, cluster: Cluster, endpoint: str
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for n in range(16):
        (src / f"p{n:02}.jpg").write_bytes(images.jpeg(images.photo(1600, 1200, seed=n)))
    dest = tmp_path / "dest"
    command = [sys.executable, "-m", "capplan", "images", "convert", str(src), str(dest)]
    command += ["--scheduler", cluster.address, "--format", "json"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env=s3_environment(endpoint),
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(dest.rglob("*_original.webp"))) < 2:
        time.sleep(0.05)
    victim = cluster.workers[0]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    summary = json.loads(out)
    # a task that Dask ran again finds what the killed worker had finished: skipped
    assert (summary["converted"] + summary["skipped"], summary["failed"]) == (16, 0)
    assert len(list(dest.rglob("*.webp"))) == 48
    for path in dest.rglob("*.webp"):
        with Image.open(path) as image:
            image.load()  # whole, valid
    rerun = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert rerun.returncode == 0 and json.loads(rerun.stdout)["skipped"] == 16
    assert not [p for p in dest.rglob("*") if p.name.startswith(".")]  # what it left: removed


@given(
    st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=50, unique=True),
    st.integers(1, 12),
)
def test_shards_are_disjoint_and_cover_src(paths: list[str], count: int) -> None:
    for path in paths:
        holders = [k for k in range(count) if Shard(k, count).holds(path)]
        assert len(holders) == 1


@pytest.mark.parametrize(
    ("spec", "environment", "expected"),
    [
        ("2/5", {}, Shard(2, 5)),
        ("auto/4", {"JOB_COMPLETION_INDEX": "3"}, Shard(3, 4)),
        ("auto", {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "3"}, Shard(1, 3)),
        (
            "auto",
            {
                "SLURM_ARRAY_TASK_ID": "8",
                "SLURM_ARRAY_TASK_MIN": "5",
                "SLURM_ARRAY_TASK_COUNT": "6",
            },
            Shard(3, 6),
        ),
    ],
)
def test_shard_from_the_command_line_and_the_scheduler(
    spec: str, environment: dict[str, str], expected: Shard
) -> None:
    assert parse(spec, environment) == expected


@pytest.mark.parametrize(
    ("spec", "environment", "problem"),
    [
        ("3/3", {}, "K must be from 0 to 2"),
        ("1/0", {}, "N must be at least 1"),
        ("x/2", {}, "K must be a whole number"),
        ("2", {}, "expected K/N"),
        ("auto", {}, "found neither JOB_COMPLETION_INDEX"),
        ("auto", {"JOB_COMPLETION_INDEX": "0"}, "write auto/N"),
        ("auto/3", {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4"}, "says 4"),
    ],
)
def test_bad_shards_are_refused(spec: str, environment: dict[str, str], problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        parse(spec, environment)


def test_shard_runs_split_src_and_their_manifests_merge(
    run: Run, src: Path, tmp_path: Path
) -> None:
    manifests = tmp_path / "m"
    manifests.mkdir()
    dest = tmp_path / "dest"
    parts = []
    for index in range(4):
        convert(run, src, dest, "--shard", f"{index}/4", "--manifest", manifests / "run.jsonl")
        lines = (manifests / f"run-{index}-of-4.jsonl").read_text(encoding="utf-8").splitlines()
        parts.append({json.loads(line)["source"] for line in lines})
    assert sum(len(part) for part in parts) == len(set().union(*parts))  # disjoint
    assert set().union(*parts) == {str(p) for p in src.rglob("*") if p.is_file()}  # cover
    (manifests / "run-3-of-4.jsonl").unlink()
    missing = run("images", "manifest", "merge", manifests, "--manifest", tmp_path / "all.jsonl")
    assert missing.exit_code == 2 and "missing shard(s) 3-of-4" in missing.stderr
    assert not (tmp_path / "all.jsonl").exists()


@pytest.mark.parametrize(
    ("dest", "args", "problem"),
    [
        ("{tmp}/dest", ("--scheduler", "tcp://127.0.0.1:1"), "cannot reach the Dask scheduler"),
        ("s3://platform/x", ("--storage-option", f"secret={SECRET}"), "Partial credentials"),
        ("s3://no-such-bucket/x", ("--storage-option", f"secret={SECRET}", "--storage-option",
         f"key={KEY_ID}"), "bucket no-such-bucket does not exist"),
        ("s3://platform/x", ("--storage-option", "anon"), "--storage-option anon: expected"),
        ("{tmp}/dest", ("--manifest", "s3://no-such-bucket/m.jsonl"), "--manifest s3://no-such"),
        (f"s3://{KEY_ID}:{SECRET}@platform/x", (), "DEST s3://***: s3:// takes no user"),
        (f"s3://{KEY_ID}:{SECRET}/with/slashes@platform/x", (), "takes no user or password"),
        (f"s3://platform/x?secret={SECRET}", (), "DEST s3://platform/x: s3:// takes no"),
        ("{tmp}/dest", ("--manifest", f"s3://platform/m.jsonl?X-Amz-Signature={SECRET}"),
         "--manifest s3://platform/m.jsonl: s3:// takes no query"),
    ],
)  # fmt: skip
def test_unreachable_or_misconfigured_platforms_are_one_line_without_secrets(
    run: Run, src: Path, tmp_path: Path, s3: Any, dest: str, args: tuple[str, ...], problem: str
) -> None:
    _needs("distributed", "dask[distributed]")
    result = run("images", "convert", src, dest.format(tmp=tmp_path), *args)
    # 3: a place the run cannot reach with the access it has; 2: a value that cannot be used
    access = problem in ("cannot reach the Dask scheduler", "Partial credentials")
    assert result.exit_code == (3 if access else 2), result.output
    assert result.stderr.startswith("capplan images convert: error: ")
    assert problem in result.stderr
    assert result.stderr.count("\n") == 1 and SECRET not in result.stderr
    assert s3.find(BUCKET) == []  # nothing written


EXAMPLES = ROOT / "examples" / "cluster"


def merged_sources(run: Run, manifests: Path, tmp_path: Path) -> list[str]:
    result = run("images", "manifest", "merge", manifests, "--manifest", tmp_path / "all.jsonl")
    assert result.exit_code == 0, result.stderr
    lines = (tmp_path / "all.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted(json.loads(line)["source"] for line in lines)


@pytest.mark.slow
def test_the_slurm_array_script_converts_src_in_its_shards(
    run: Run, src: Path, tmp_path: Path
) -> None:
    script = EXAMPLES / "convert-array.sbatch"
    array = next(line for line in script.read_text().splitlines() if "--array=" in line)
    first, last = (int(n) for n in array.split("=")[1].split("-"))
    work = tmp_path / "work"
    work.mkdir()
    for task in range(first, last + 1):
        environment = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "SRC": str(src),
            "DEST": str(tmp_path / "dest"),
            "SLURM_ARRAY_TASK_ID": str(task),
            "SLURM_ARRAY_TASK_MIN": str(first),
            "SLURM_ARRAY_TASK_COUNT": str(last - first + 1),
            "SLURM_CPUS_PER_TASK": "1",
        }
        done = subprocess.run(["bash", str(script)], cwd=work, env=environment, check=False,
                              capture_output=True, text=True)  # fmt: skip
        assert done.returncode in (0, 1), done.stderr  # 1: a shard holding a bad source
    assert merged_sources(run, work / "manifests", tmp_path) == sorted(
        str(p) for p in src.rglob("*") if p.is_file()
    )
    assert len(list((tmp_path / "dest").rglob("*.webp"))) == 3 * 11


def test_the_kubernetes_indexed_job_converts_src_in_its_shards(
    run: Run, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    job = yaml.safe_load((EXAMPLES / "convert-job.yaml").read_text(encoding="utf-8"))
    assert job["spec"]["completionMode"] == "Indexed"
    completions = job["spec"]["completions"]
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:3] == ["capplan", "images", "convert"]
    assert command[command.index("--shard") + 1] == f"auto/{completions}"
    args = command[3:]
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    local = {args[0]: str(src), args[1]: str(tmp_path / "dest"), "s3://shop-images/manifests/":
             f"{manifests}{os.sep}"}  # fmt: skip
    for index in range(completions):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        result = run("images", "convert", *[local.get(arg, arg) for arg in args])
        assert result.exit_code in (0, 1), result.stderr
    assert merged_sources(run, manifests, tmp_path) == sorted(
        str(p) for p in src.rglob("*") if p.is_file()
    )


def credential_free_environment(endpoint: str, home: Path) -> dict[str, str]:
    """The S3 endpoint, and no credentials anywhere a worker would look for them."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {
        **environment,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-credentials"),
        "AWS_CONFIG_FILE": str(home / "no-config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "HOME": str(home),
    }


def test_workers_without_credentials_stop_the_run_in_one_line_before_any_conversion(
    run: Run, src: Path, tmp_path: Path, s3: Any, endpoint: str
) -> None:
    _needs("distributed", "dask[distributed]")
    home = tmp_path / "home"
    home.mkdir()
    cluster = Cluster(credential_free_environment(endpoint, home))
    try:
        result = run(
            "images", "convert", src, f"s3://{BUCKET}/out", "--scheduler", cluster.address,
            "--manifest", tmp_path / "m.jsonl",
        )  # fmt: skip
    finally:
        cluster.close()
    assert result.exit_code == 3, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    line = result.stderr
    assert line.startswith(
        f"capplan images convert: error: --scheduler {cluster.address}: worker w"
    )
    assert "cannot write DEST s3://platform/out: NoCredentialsError" in line
    assert "(and 1 more workers)" in line and "AWS_* variables" in line  # the hint
    assert SECRET not in line and KEY_ID not in line
    assert s3.find(BUCKET) == [] and not (tmp_path / "m.jsonl").exists()  # nothing converted


def test_workers_that_can_write_leave_no_probe_behind(
    run: Run, src: Path, tmp_path: Path, s3: Any, cluster: Cluster
) -> None:
    result = run(
        "images", "convert", src, f"s3://{BUCKET}/out", "--scheduler", cluster.address,
        "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # the dry run predicts the broken sources
    assert s3.find(BUCKET) == []  # a dry run writes nothing, not even a probe
    code, summary, _ = convert(run, src, f"s3://{BUCKET}/out", "--scheduler", cluster.address)
    assert code == 1 and summary["converted"] == 11
    assert not [key for key in s3.find(BUCKET) if ".capplan-probe" in key]


@pytest.mark.parametrize(
    ("address", "shown", "problem"),
    [
        ("http://127.0.0.1:1", None, "unsupported scheme http://; expected tcp://HOST:PORT"),
        ("not a url", None, "expected tcp://HOST:PORT, tls://HOST:PORT or HOST:PORT"),
        ("tcp://127.0.0.1", None, "expected tcp://HOST:PORT"),
        # shown from its parts: a port out of range leaves none that can be trusted, a query
        # is never shown
        ("tcp://127.0.0.1:99999", "tcp://***", "expected tcp://HOST:PORT"),
        ("tcp://127.0.0.1:8786/path?x=1", "tcp://127.0.0.1:8786/path", "expected tcp://HOST:PORT"),
        ("inproc://x", None, "unsupported scheme inproc://"),
        ("127.0.0.1:1", None, "cannot reach the Dask scheduler: Connection refused"),
    ],
)
def test_a_malformed_or_silent_scheduler_is_one_line_at_once(
    run: Run, src: Path, tmp_path: Path, address: str, shown: str | None, problem: str
) -> None:
    _needs("distributed", "dask[distributed]")
    started = time.monotonic()
    result = run("images", "convert", src, tmp_path / "dest", "--scheduler", address)
    assert time.monotonic() - started < 15  # not Dask's own time-out (tens of seconds)
    assert result.exit_code == 3, result.output
    assert result.stderr == (
        f"capplan images convert: error: --scheduler {shown or address}: {problem}"
        + result.stderr.split(problem, 1)[1]
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "dest" / "products").exists()


@given(st.lists(st.integers(0, 20_000_000), max_size=400))
def test_batches_hold_about_a_second_of_work_and_large_sources_alone(sizes: list[int]) -> None:
    from capplan.images import cluster
    from capplan.images.convert import Settings
    from capplan.images.locations import locate
    from capplan.images.storage import Entry

    src, dest = locate("src"), locate("dest")
    calls = [(Entry(f"src/{n}", str(n), size), src, dest, Settings(), False) for n, size in
             enumerate(sizes)]  # fmt: skip
    batches = list(cluster.batches(iter(calls)))
    sent = [call[0].relative for batch in batches for call in batch]
    assert sorted(sent, key=int) == [call[0].relative for call in calls]  # each of them once

    def cost(call: Any) -> float:
        return float(cluster.SOURCE_SECONDS + call[0].size / cluster.BYTES_PER_SECOND)

    for batch in batches:
        assert 1 <= len(batch) <= cluster.BATCH_MOST
        if any(cost(call) >= cluster.BATCH_SECONDS for call in batch):
            assert len(batch) == 1  # a large source alone
        else:  # closed as soon as it reached a second of work: without its last, under it
            assert sum(cost(call) for call in batch[:-1]) < cluster.BATCH_SECONDS
