"""The costs app stands below the providers: prices, the ledger, budgets and keys serve the LLM
chain and the video coordinator alike, so nothing in it imports ``generation.providers`` (not
even inside a function). Providers may import costs."""

from __future__ import annotations

import grimp
import pytest

COSTS = "generation.costs"
PROVIDERS = "generation.providers"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("generation", "aura_site", cache_dir=None)


def package(graph: grimp.ImportGraph, name: str) -> set[str]:
    return {name, *graph.find_descendants(name)}


def test_no_costs_module_imports_a_provider_module(graph):
    providers = package(graph, PROVIDERS)
    direct = {
        (importer, imported)
        for importer in package(graph, COSTS)
        for imported in graph.find_modules_directly_imported_by(importer)
        if imported in providers
    }
    assert direct == set()
    importers = set().union(*(graph.find_modules_that_directly_import(m) for m in providers))
    assert not importers & package(graph, COSTS)


def test_no_chain_leads_from_costs_to_providers(graph):
    assert not graph.chain_exists(importer=COSTS, imported=PROVIDERS, as_packages=True)
    # The graph does see the imports the other way (the transport re-exports mask_secret).
    assert graph.chain_exists(importer=PROVIDERS, imported=COSTS, as_packages=True)
    assert "generation.providers.transport" in graph.find_modules_that_directly_import(
        "generation.costs.crypto"
    )
