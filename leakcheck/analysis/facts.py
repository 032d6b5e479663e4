"""`ModuleFacts`: everything the analysis knows about one module before following any path.

Built in three parts, one module each: the first pass and the questions answered from it
(`collect.py`), what the module's functions do with resources and what it exports (`exports.py`:
the module summary), and the acquisition sites judging follows (`sites.py`). The records they
share (`Export`, `Site`, `Binding`, `FunctionInfo`, `Resolver`) are importable from here.
"""

from __future__ import annotations

import libcst as cst

from leakcheck.analysis.collect import (
    CONTEXT_DECORATORS,
    Binding,
    Export,
    FunctionInfo,
    Resolver,
    Scope,
    Site,
)
from leakcheck.analysis.exports import SummaryFacts
from leakcheck.analysis.sites import SiteFacts
from leakcheck.config.catalogue import Kind

__all__ = [
    "CONTEXT_DECORATORS",
    "Binding",
    "Export",
    "FunctionInfo",
    "ModuleFacts",
    "Resolver",
    "Scope",
    "Site",
]


class ModuleFacts(SiteFacts, SummaryFacts):
    """What the engine knows about one module before following any path: the first pass's facts,
    with the module's function summaries closed (factories, releasers, providers).

    Inputs: the parsed module, the resource kinds, the module's package (for relative imports) and
    a resolver for names imported from other modules of the project (None: a file alone).
    """

    def __init__(
        self,
        module: cst.Module,
        kinds: tuple[Kind, ...],
        package: str = "",
        resolver: Resolver | None = None,
    ) -> None:
        super().__init__(module, kinds, package, resolver)
        self._close_summaries()
