"""The base of every section of the configuration model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["MiB", "Section"]

MiB = 1024 * 1024


class Section(BaseModel):
    """A table of the TOML file: unknown keys are errors, values frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)
