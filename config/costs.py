"""Campaign costs for the funnel report (settings ``reports.costs_path``): a CSV or YAML file of
rows ``campaign, period, cost, currency`` and optionally ``source_type``.

``period`` is a month, ``YYYY-MM``. A row's source type is its ``source_type`` column, else the
model's ``sources`` rules applied to the campaign name alone. Every row must name the same
currency (the report does not convert). A bad file fails at start with file, row, field and why.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from leadstream.config.yaml_source import read_yaml, validate
from leadstream.core.model import ModelSet
from leadstream.core.report import Cost
from leadstream.exceptions import ConfigError

__all__ = ["load_costs", "CostRow"]


class CostRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    campaign: Annotated[str, Field(min_length=1, max_length=200)]
    period: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                                 description="the month the cost was spent in, YYYY-MM")]
    cost: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. EUR")]
    source_type: Literal["spears", "seeds", "nets"] | None = None


class _YamlCosts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    costs: list[CostRow]


def load_costs(path: Path | str, models: ModelSet) -> list[Cost]:
    path = Path(path)
    if path.suffix.lower() == ".csv":
        rows = _read_csv(path)
    else:
        rows = list(validate(_YamlCosts, read_yaml(path, what="campaign costs")).costs)
    currencies = sorted({row.currency for row in rows})
    if len(currencies) > 1:
        raise ConfigError(str(path), "currency",
                          f"every cost must be in one currency, found {', '.join(currencies)}")
    sources = models.primary.sources
    return [Cost(campaign=row.campaign, month=row.period, cost=row.cost, currency=row.currency,
                 source_type=row.source_type or sources.classify({"campaign": row.campaign}))
            for row in rows]


def _read_csv(path: Path) -> list[CostRow]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "(file)", f"cannot read the campaign costs: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    rows = []
    for number, record in enumerate(reader, start=2):  # line 1 is the header
        values = {k.strip(): (v.strip() if isinstance(v, str) else v)
                  for k, v in record.items() if k is not None}
        if not values.get("source_type"):
            values.pop("source_type", None)
        try:
            rows.append(CostRow.model_validate(values))
        except ValidationError as exc:
            error = exc.errors(include_input=False, include_url=False)[0]
            field = ".".join(str(p) for p in error["loc"]) or "(row)"
            raise ConfigError(str(path), field, error["msg"], line=number) from None
    return rows


