"""tiers.yaml, thresholds.yaml and mix.yaml: their models, where they are found, how they load.

Every file is validated by a pydantic model that forbids unknown keys; a problem is one
ConfigError naming the file, the key path, the line of the key and what was expected.
"""

from capplan.config.files import (
    THRESHOLDS_ENV,
    TIERS_ENV,
    load_mix,
    load_thresholds,
    load_tiers,
    packaged_default,
    resolve,
)
from capplan.config.mix import Mix, MixRow, parse_rate
from capplan.config.models import (
    PLAN_FIGURES,
    Assumptions,
    Band,
    BandwidthProvider,
    CriticalIndex,
    InfraTier,
    Level,
    PricingTier,
    Threshold,
    ThresholdsConfig,
    TiersConfig,
)
from capplan.config.overrides import Override, parse_override

__all__ = [
    "PLAN_FIGURES",
    "THRESHOLDS_ENV",
    "TIERS_ENV",
    "Assumptions",
    "Band",
    "BandwidthProvider",
    "CriticalIndex",
    "InfraTier",
    "Level",
    "Mix",
    "MixRow",
    "Override",
    "PricingTier",
    "Threshold",
    "ThresholdsConfig",
    "TiersConfig",
    "load_mix",
    "load_thresholds",
    "load_tiers",
    "packaged_default",
    "parse_override",
    "parse_rate",
    "resolve",
]
