"""The monitoring examples work when pasted: examples/monitoring/setup.sh prepares a user and its
directories, and each line of examples/monitoring/capplan.cron runs the way Debian's cron runs it
(/bin/sh, an empty environment but cron's PATH and the file's variables, as that user, who is not
root). The README shows these files, not copies of them."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .check_servers import admin_url, postgres_server
from .conftest import EXAMPLES, ROOT

MONITORING = EXAMPLES / "monitoring"
CRON = MONITORING / "capplan.cron"
CAPPLAN = "/opt/capplan/.venv/bin/capplan"
CRON_PATH = "/usr/bin:/bin"  # what Debian's cron gives a job
JOB = re.compile(r"^(?:\S+\s+){5}(?P<user>\S+)\s+(?P<command>.+)$")
VARIABLE = re.compile(r"^(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>.*)$")


def cron_file() -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The cron.d file's variables and its jobs (user, command), as cron reads them."""
    variables: dict[str, str] = {}
    jobs = []
    for line in CRON.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        variable, job = VARIABLE.match(line), JOB.match(line)
        assert variable or job, f"cron would refuse: {line}"
        if variable:
            variables[variable["name"]] = variable["value"]
        elif job:
            jobs.append((job["user"], job["command"]))
    return variables, jobs


def test_the_cron_file_is_a_cron_d_file_with_absolute_paths() -> None:
    variables, jobs = cron_file()
    assert variables["PATH"] == CRON_PATH
    assert Path(variables["PGPASSFILE"]).is_absolute()
    assert jobs and all(user == "capplan" for user, _ in jobs)
    assert all(command.startswith(f"{CAPPLAN} check ") for _, command in jobs)
    assert "." not in CRON.stem  # cron.d ignores file names with a dot: installed as capplan


def test_the_readme_shows_the_shipped_files_as_they_are() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("#### Plugging into Nagios/Icinga and Prometheus", 1)[1]
    section = section.split("\n### ", 1)[0]
    shown, before = {}, 0
    for block in re.finditer(r"^```\w*\n(.*?)^```$", section, re.S | re.M):
        named = re.findall(r"`(examples/monitoring/[^`]+)`", section[before : block.start()])
        if named:  # the paragraph before the block names the file it shows
            shown[named[0]] = block[1]
        before = block.end()
    assert set(shown) == {
        "examples/monitoring/setup.sh",
        "examples/monitoring/capplan.cron",
        "examples/monitoring/capplan-rules.yml",
    }
    for name, text in shown.items():
        assert text == (ROOT / name).read_text(encoding="utf-8"), name


@pytest.fixture
def place() -> Iterator[Path]:
    """A DESTDIR that another user can enter (pytest's own directory is its owner's alone)."""
    path = Path(tempfile.mkdtemp(prefix="capplan-cron-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def as_cron_would(
    command: str, variables: dict[str, str], user: str, home: Path
) -> subprocess.CompletedProcess[str]:
    """One job: /bin/sh -c, with nothing in its environment but what cron puts there."""
    environment = {
        "PATH": CRON_PATH,
        "SHELL": "/bin/sh",
        "HOME": str(home),
        "LOGNAME": user,
        **variables,
    }
    return subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in environment.items()), "/bin/sh", "-c", command],
        capture_output=True,
        text=True,
        user=user,
        group=pwd.getpwnam(user).pw_gid,  # and its groups alone, as cron sets them
        extra_groups=[],
        cwd=home,
        timeout=300,
    )


def capplan_for(user: str, place: Path) -> str:
    """This venv's capplan, or, when the user cannot run this interpreter (a pyenv Python under
    /root), a venv of the system's Python of the same version that reads this venv's packages."""
    try:
        if subprocess.run([sys.executable, "-c", "pass"], user=user).returncode == 0:
            return str(Path(sys.executable).parent / "capplan")
    except PermissionError:
        pass  # the interpreter lies where the user cannot reach it
    system = Path("/usr/bin/python3")
    version = f"import sys; print(sys.version_info[:2] == {tuple(sys.version_info[:2])})"
    same = (
        system.exists()
        and subprocess.run([system, "-c", version], capture_output=True, text=True).stdout.strip()
        == "True"
    )
    if not same:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{user} can run neither {sys.executable} nor a Python of its version")
        pytest.skip(f"{user} cannot run {sys.executable}, and /usr/bin/python3 is another version")
    venv = place / "opt" / "capplan" / ".venv"
    subprocess.run([system, "-m", "venv", "--without-pip", venv], check=True)
    packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv)}))
    (packages / "capplan-test.pth").write_text(
        f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n", encoding="utf-8"
    )
    script = venv / "bin" / "capplan"
    script.write_text(
        f"#!{venv}/bin/python3\nimport sys\nfrom capplan.cli import main\nsys.exit(main())\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return str(script)


@pytest.mark.slow
def test_each_cron_line_runs_as_pasted_for_a_user_who_is_not_root(place: Path) -> None:
    import psycopg

    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("this test runs setup.sh, which needs root (chown), under CI")
        pytest.skip("setup.sh sets owners: it needs root, which this run is not")
    user = "nobody"  # an existing user who is not root, as setup.sh's user would be
    prepared = subprocess.run(
        ["/bin/sh", str(MONITORING / "setup.sh")],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DESTDIR": str(place), "CAPPLAN_USER": user},
        capture_output=True,
        text=True,
    )
    assert prepared.returncode == 0, prepared.stderr
    uploads = place / "srv" / "uploads"
    uploads.mkdir(parents=True)
    capplan = capplan_for(user, place)
    with postgres_server() as port:
        with psycopg.connect(admin_url(port), autocommit=True) as connection:
            connection.execute("CREATE DATABASE shop")
            connection.execute("CREATE ROLE monitor LOGIN PASSWORD 'M0nitor-pw-from-file'")
            connection.execute("GRANT pg_monitor TO monitor")
        pgpass = place / "etc" / "capplan" / "pgpass"
        pgpass.write_text(f"127.0.0.1:{port}:shop:monitor:M0nitor-pw-from-file\n")

        def here(text: str) -> str:
            for given, test in (
                (CAPPLAN, capplan),
                ("/var/lib/", f"{place}/var/lib/"),
                ("/etc/capplan/", f"{place}/etc/capplan/"),
                ("/srv/uploads", str(uploads)),
                ("127.0.0.1:5432/", f"127.0.0.1:{port}/"),
            ):
                text = text.replace(given, test)
            return text

        variables, jobs = cron_file()
        home = place / "var" / "lib" / "capplan"
        done = [
            as_cron_would(here(command), {k: here(v) for k, v in variables.items()}, user, home)
            for _, command in jobs
        ]
    prometheus, nagios = done
    assert prometheus.returncode in (0, 1, 2), prometheus.stderr
    assert prometheus.stdout == "" and prometheus.stderr == ""  # cron mails nothing
    textfile = place / "var" / "lib" / "prometheus" / "node-exporter" / "capplan-eu.prom"
    written = textfile.read_text(encoding="utf-8")
    assert f'capplan_target_up{{target="db",db="postgresql://127.0.0.1:{port}/shop",' in (written)
    assert re.search(r'capplan_target_up\{target="db",[^}]*\} 1$', written, re.M), written
    assert textfile.stat().st_uid == home.stat().st_uid  # written by the user, not root
    report = (home / "check.txt").read_text(encoding="utf-8")
    assert nagios.returncode == 0 and report.startswith("CAPPLAN ")
    # cron mails what the job prints: the report when it is not OK, nothing when it is
    assert nagios.stdout == ("" if report.startswith("CAPPLAN OK") else report)
