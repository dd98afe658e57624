"""tiers.yaml and thresholds.yaml: where they are found, what they must hold, what --set does."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from capplan import config
from capplan.errors import ConfigError

from .conftest import ROOT, Run

Write = Callable[[str, str], Path]


def tiers_text() -> str:
    return (ROOT / "tiers.yaml").read_text(encoding="utf-8")


def thresholds_text() -> str:
    return (ROOT / "thresholds.yaml").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_packaged_defaults_load() -> None:
    tiers = config.load_tiers()
    thresholds = config.load_thresholds()
    assert [t.id for t in tiers.pricing_tiers] == [
        "essential",
        "professional",
        "business",
        "enterprise",
    ]
    assert [t.id for t in tiers.infrastructure_tiers] == [
        "starter",
        "small",
        "medium",
        "large",
        "scale",
        "enterprise",
    ]
    assert thresholds.scaling_triggers["disk_percent"].warning == 70
    assert thresholds.capacity["products_total"].critical == 475_000
    assert len(thresholds.critical_indexes) == 8


def test_lookup_order_option_env_cwd_default(
    write: Write, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cheap = tiers_text().replace("price_eur: 49", "price_eur: 1")
    env = tiers_text().replace("price_eur: 49", "price_eur: 2")
    local = tiers_text().replace("price_eur: 49", "price_eur: 3")
    assert config.load_tiers().pricing_tier("essential").price_eur == 49
    write("tiers.yaml", local)
    assert config.load_tiers().pricing_tier("essential").price_eur == 3
    monkeypatch.setenv(config.TIERS_ENV, str(write("env/tiers.yaml", env)))
    assert config.load_tiers().pricing_tier("essential").price_eur == 2
    option = write("option/tiers.yaml", cheap)
    assert config.load_tiers(option).pricing_tier("essential").price_eur == 1


def test_unknown_key_names_file_key_and_line(write: Write) -> None:
    text = tiers_text().replace("  avg_image_kb: 200", "  avg_image_kb: 200\n  avg_imag_kb: 1")
    path = write("tiers.yaml", text)
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(path)
    error = caught.value
    assert error.key == "assumptions.avg_imag_kb"
    assert error.line == line_of(text, "avg_imag_kb")
    assert "unknown key; did you mean 'avg_image_kb'? expected one of: languages" in error.message
    assert error.message.startswith(f"{path}:{error.line}: assumptions.avg_imag_kb:")


def test_negative_count_is_refused(write: Write) -> None:
    text = tiers_text().replace("    products: 500\n", "    products: -500\n")
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(write("t.yaml", text))
    assert caught.value.key == "pricing_tiers[1].products"
    assert caught.value.line == line_of(text, "products: -500")
    assert caught.value.problem == "expected a number >= 0, got -500"


def test_wrong_type_is_refused(write: Write) -> None:
    text = tiers_text().replace("  languages: 4", "  languages: four")
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(write("t.yaml", text))
    assert caught.value.key == "assumptions.languages"
    assert "'four'" in caught.value.problem


def test_warning_at_or_above_critical_is_refused(write: Write) -> None:
    text = thresholds_text().replace(
        "memory_percent: {warning: 75, critical: 90", "memory_percent: {warning: 95, critical: 90"
    )
    with pytest.raises(ConfigError) as caught:
        config.load_thresholds(write("th.yaml", text))
    assert caught.value.key == "scaling_triggers.memory_percent"
    assert caught.value.line == line_of(text, "memory_percent")
    assert "warning (95) must be below critical (90)" in caught.value.problem


def test_invalid_yaml_names_its_line(write: Write) -> None:
    path = write("bad.yaml", "pricing_tiers:\n  - id: x\n    name: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(path)
    assert "invalid YAML" in caught.value.message
    assert caught.value.line is not None and caught.value.line >= 3


def test_duplicate_key_is_refused(write: Write) -> None:
    text = tiers_text().replace("  languages: 4", "  languages: 4\n  languages: 5")
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(write("t.yaml", text))
    assert caught.value.problem == "duplicate key"
    assert caught.value.line == line_of(text, "languages: 5")


def test_infrastructure_tiers_must_be_ordered(write: Write) -> None:
    text = tiers_text().replace("max_clients: 300", "max_clients: 90")
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(write("t.yaml", text))
    assert "ordered by max_clients" in caught.value.problem


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: file not found"):
        config.load_tiers(Path("nowhere.yaml"))


def test_bands_must_rise(write: Write) -> None:
    text = thresholds_text().replace(
        "{from: 100000, label: Degraded", "{from: 5000, label: Degraded"
    )
    with pytest.raises(ConfigError, match="not above the band before it"):
        config.load_thresholds(write("th.yaml", text))


def test_set_overrides_a_value_by_dotted_path() -> None:
    overrides = [
        config.parse_override("assumptions.avg_image_kb=300"),
        config.parse_override("pricing_tiers.business.price_eur=149"),
        config.parse_override("scaling_triggers.cpu_percent.warning=60"),
    ]
    tiers = config.load_tiers(overrides=overrides)
    assert tiers.assumptions.avg_image_kb == 300
    assert tiers.pricing_tier("business").price_eur == 149
    assert config.load_thresholds(overrides=overrides).scaling_triggers["cpu_percent"].warning == 60


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("assumptions.avg_image_kb=-1", "expected a number >= 0, got -1"),
        ("assumptions.avg_imag_kb=300", "unknown key"),
        ("pricing_tiers.gold.price_eur=1", "no item 'gold'"),
        ("bogus.key=1", "unknown key 'bogus'"),
        ("assumptions.languages=many", "'many'"),
        ("assumptions.avg_image_kb", "expected KEY=VALUE"),
    ],
)
def test_set_refuses_a_wrong_path_or_type(assignment: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config.load_tiers(overrides=[config.parse_override(assignment)])
    assert message in caught.value.message
    assert caught.value.message.startswith(f"--set {assignment}")


def test_parse_rate() -> None:
    assert config.parse_rate("5%") == pytest.approx(0.05)
    assert config.parse_rate("-1.5 %") == pytest.approx(-0.015)
    for bad in ("5", "0.05", "abc", "-100%"):
        with pytest.raises(ValueError):
            config.parse_rate(bad)


# --- the same errors through the CLI: one line on stderr, exit 2, no traceback ----------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("  languages: 4", "  languages: -4"),
            "assumptions.languages: expected a number >= 0, got -4",
        ),
        (("  languages: 4", "  langs: 4"), "langs: unknown key; did you mean 'languages'?"),
        (("  languages: 4", "  languages: [4"), "invalid YAML"),
        (("  languages: 4", "  languages: four"), "assumptions.languages"),
    ],
)
def test_bad_tiers_file_through_the_cli(
    run: Run, write: Write, edit: tuple[str, str], expected: str
) -> None:
    path = write("tiers.yaml", tiers_text().replace(*edit))
    result = run("tiers", "--tiers", path)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"capplan tiers: error: {path}:")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_thresholds_file_through_the_cli(run: Run, write: Write) -> None:
    text = thresholds_text().replace("disk_percent: {warning: 70", "disk_percent: {warning: 90")
    path = write("th.yaml", text)
    result = run("size", "--products", "10", "--thresholds", path)
    assert result.exit_code == 2
    assert (
        f"{path}:{line_of(text, 'disk_percent: {')}: scaling_triggers.disk_percent" in result.stderr
    )
    assert "warning (90) must be below critical (85)" in result.stderr


def test_missing_file_through_the_cli(run: Run) -> None:
    result = run("tiers", "--tiers", "absent.yaml")
    assert result.exit_code == 2
    assert result.stderr == "capplan tiers: error: absent.yaml: file not found\n"


@pytest.mark.parametrize(
    ("command", "text"),
    [
        (("tiers", "--tiers"), "pricing_tiers: []\n# caf\xe9 au lait\n"),
        (("project", "--mix"), "tiers:\n  essential: {clients: 5}  # \xe0 la carte\n"),
        (("project", "--mix"), "tiers:\r  essential: {clients: 5}\r# \xe0 la carte\r"),  # old Mac
    ],
)
def test_a_yaml_file_that_is_not_utf8_names_the_line_and_the_byte(
    run: Run, tmp_path: Path, command: tuple[str, str], text: str
) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(text.encode("latin-1"))
    offset = text.index(next(c for c in text if ord(c) > 127))
    line = len((text[:offset] + "x").splitlines())
    result = run(*command, path)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        f"capplan {command[0]}: error: {path}:{line}: not UTF-8 text: byte "
        f"0x{text[offset].encode('latin-1')[0]:02x} at byte offset {offset}; save it as UTF-8\n"
    )


def test_set_through_the_cli(run: Run) -> None:
    result = run(
        "size",
        "--products",
        "1000",
        "--images-per-product",
        "1",
        "--set",
        "assumptions.avg_image_kb=1000",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert '"image_storage_gb": 3' in result.stdout
    bad = run("size", "--products", "1000", "--set", "assumptions.nope=1")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("capplan size: error: --set assumptions.nope=1: ")


# --- counts are whole numbers below a ceiling, amounts are finite ---------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("{clients: true}", "clients: expected a number, not true"),
        ("{clients: false}", "clients: expected a number, not false"),
        ("{clients: 9007199254740993}", "clients: expected a number <= 1000000000000"),
        ("{clients: 10, products: 1000000000001}", "products: expected a number <= 100000"),
        ("{clients: 10, price_eur: .inf}", "price_eur: expected a finite number"),
        ("{clients: 10, price_eur: .nan}", "price_eur: expected a number >= 0, got nan"),
        ("{clients: 10, price_eur: true}", "price_eur: expected a number, not true"),
        ("{clients: 2.5}", "clients: expected a whole number, got 2.5"),
        ("{clients: 1.0e+30}", "clients: expected a whole number, got 1e+30"),
    ],
)
def test_counts_and_amounts_in_a_mix_are_numbers_within_bounds(
    run: Run, write: Write, row: str, expected: str
) -> None:
    path = write("mix.yaml", f"tiers:\n  essential: {row}\n")
    result = run("project", "--mix", path)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan project: error: {path}:2: tiers.essential.")
    assert expected in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("--products", "1000000000001"),
        ("--products", "10", "--clients", "1000000000001"),
        ("--products", "10", "--orders", "99999999999999999999"),
        ("--products", "10^30"),
        ("--products", "1e9"),
    ],
)
def test_size_refuses_counts_past_the_ceiling(run: Run, args: tuple[str, ...]) -> None:
    result = run("size", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("capplan size: error: Invalid value for '--")
    assert result.stdout == "" and result.stderr.count("\n") == 1


def test_a_boolean_in_tiers_yaml_is_refused(run: Run, write: Write) -> None:
    text = (ROOT / "tiers.yaml").read_text(encoding="utf-8").replace("vcpu: 2\n", "vcpu: true\n")
    result = run("tiers", "--tiers", write("tiers.yaml", text))
    assert result.exit_code == 2
    assert "infrastructure_tiers[0].vcpu: expected a number, not true" in result.stderr


# --- an error found across items names the item; a value from --set names --set -----------


@pytest.mark.parametrize(
    ("old", "new", "marker", "key", "problem"),
    [
        (
            "  - id: medium",
            "  - id: small",
            "  - id: small\n    name: Medium",
            "infrastructure_tiers[2].id",
            "infrastructure tier id 'small' appears twice",
        ),
        (
            "  - id: business",
            "  - id: essential",
            "  - id: essential\n    name: Business",
            "pricing_tiers[2].id",
            "pricing tier id 'essential' appears twice",
        ),
        (
            "max_clients: 300",
            "max_clients: 90",
            "max_clients: 90",
            "infrastructure_tiers[2].max_clients",
            "max_clients 90 is not above the previous tier's 100",
        ),
        (
            "max_clients: 500\n",
            "max_clients: null\n",
            "max_clients: null",
            "infrastructure_tiers[3].max_clients",
            "has unlimited max_clients but is not the last tier",
        ),
    ],
)
def test_an_error_across_items_names_the_offending_item(
    run: Run, write: Write, old: str, new: str, marker: str, key: str, problem: str
) -> None:
    text = (ROOT / "tiers.yaml").read_text(encoding="utf-8")
    assert old in text
    changed = text.replace(old, new, 1)
    path = write("tiers.yaml", changed)
    result = run("tiers", "--tiers", path)
    assert result.exit_code == 2
    line = changed[: changed.index(marker)].count("\n") + 1  # the offending item's own line
    assert result.stderr.startswith(f"capplan tiers: error: {path}:{line}: {key}: "), result.stderr
    assert problem in result.stderr


@pytest.mark.parametrize(
    ("assignment", "key"),
    [
        ("infrastructure_tiers.medium.max_clients=90", "infrastructure_tiers[2].max_clients"),
        ("infrastructure_tiers.2.max_clients=90", "infrastructure_tiers[2].max_clients"),
        ("pricing_tiers.business.id=essential", "pricing_tiers[2].id"),
        # the item that --set changed is the earlier one of the two compared
        ("infrastructure_tiers.medium.max_clients=600", "infrastructure_tiers[3].max_clients"),
        ("infrastructure_tiers.small.id=large", "infrastructure_tiers[3].id"),
        ("scaling_triggers.cpu_percent.warning=90", "scaling_triggers.cpu_percent"),
        ("assumptions.avg_image_kb=-1", "assumptions.avg_image_kb"),
        ("capacity.storage_gb.critical=true", "capacity.storage_gb.critical"),
    ],
)
def test_a_bad_value_given_with_set_names_set(run: Run, assignment: str, key: str) -> None:
    result = run("tiers", "--set", assignment)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan tiers: error: --set {assignment}: {key}: ")
    assert result.stderr.count("\n") == 1


# --- the mix loader at scale ------------------------------------------------------------------


def work_of(action: Callable[[], object]) -> int:
    """The work an action does, counted rather than timed: every line of Python it executes and
    every function it calls, C functions included (a busy machine does not change the count)."""
    count = 0

    def trace(frame: object, event: str, arg: object) -> object:
        nonlocal count
        count += 1
        return trace

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        count += event == "c_call"

    sys.settrace(trace)  # type: ignore[arg-type]
    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
    return count


def big_mix(folder: Path, rows: int) -> tuple[Path, config.TiersConfig]:
    """A mix of `rows` plans, with a tiers config that has a pricing tier for each."""
    data = yaml.safe_load(tiers_text())
    plan = data["pricing_tiers"][0]
    data["pricing_tiers"] += [{**plan, "id": f"plan{n}"} for n in range(rows)]
    tiers = config.TiersConfig.model_validate(data)
    lines = [f"  plan{n}: {{clients: {n % 97}, products: {n % 150}}}" for n in range(rows)]
    path = folder / f"mix-{rows}.yaml"
    path.write_text("tiers:\n" + "\n".join(lines) + "\ngrowth: 2%\n", encoding="utf-8")
    return path, tiers


def test_the_mix_loader_grows_linearly_with_the_rows(tmp_path: Path) -> None:
    small_path, small_tiers = big_mix(tmp_path, 150)
    large_path, large_tiers = big_mix(tmp_path, 1500)
    small = work_of(lambda: config.load_mix(small_path, small_tiers))
    large = work_of(lambda: config.load_mix(large_path, large_tiers))
    assert len(config.load_mix(large_path, large_tiers).tiers) == 1500
    assert large < 15 * small, f"10x the rows cost {large / small:.1f}x the work"


def test_yaml_is_read_by_libyaml_with_its_line_marks(write: Write) -> None:
    from capplan.config import document

    if yaml.__with_libyaml__:
        assert document.SafeLoader.__name__ == "CSafeLoader"
    path = write("mix.yaml", "# a comment\ntiers:\n  essential:\n    clients: 3\n    colour: red\n")
    with pytest.raises(ConfigError) as error:
        config.load_mix(path, config.load_tiers())
    assert (error.value.line, error.value.key) == (5, "tiers.essential.colour")


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("CAPPLAN_TIERS", "nonexist.yaml", "$CAPPLAN_TIERS=nonexist.yaml: file not found"),
        ("CAPPLAN_THRESHOLDS", "gone.yaml", "$CAPPLAN_THRESHOLDS=gone.yaml: file not found"),
        ("CAPPLAN_TIERS", ".", "$CAPPLAN_TIERS=.: is a directory"),
    ],
)
def test_a_file_named_by_the_environment_names_the_variable(
    run: Run, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, said: str
) -> None:
    monkeypatch.setenv(variable, value)
    result = run("tiers")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"capplan tiers: error: {said}")


def test_a_whole_section_set_to_a_value_says_a_mapping_is_expected(run: Run) -> None:
    result = run("tiers", "--set", "assumptions=5")
    assert result.exit_code == 2
    assert result.stderr == (
        "capplan tiers: error: --set assumptions=5: assumptions: expected a mapping of keys, "
        "got 5\n"
    )
