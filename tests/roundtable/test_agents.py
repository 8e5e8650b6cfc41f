"""The five agents and their icons."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from roundtable.agents import AGENT_BY_KEY, AGENT_KEYS, AGENTS, Agent

SVG = "{http://www.w3.org/2000/svg}"


def test_the_five_agents_in_order() -> None:
    assert AGENT_KEYS == ("director", "cinematographer", "editor", "colorist", "platform_expert")
    assert [agent.name for agent in AGENTS] == [
        "Director",
        "Cinematographer",
        "Editor",
        "Colorist",
        "Platform Expert",
    ]
    assert all(AGENT_BY_KEY[agent.key] is agent for agent in AGENTS)
    assert len({agent.avatar_svg for agent in AGENTS}) == 5


@pytest.mark.parametrize("agent", AGENTS, ids=lambda agent: agent.key)
def test_each_avatar_is_a_safe_inline_icon(agent: Agent) -> None:
    root = ET.fromstring(agent.avatar_svg)  # noqa: S314 (our own constant markup)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 24 24"
    assert root.get("stroke") == "currentColor"
    assert root.get("fill") == "none"
    assert root.get("aria-hidden") == "true"
    allowed = {f"{SVG}{name}" for name in ("svg", "path", "rect", "circle", "line")}
    for element in root.iter():
        assert element.tag in allowed
        for name in element.attrib:
            assert not name.lower().startswith("on")
            assert "href" not in name.lower()
    markup = agent.avatar_svg.lower()
    assert "<script" not in markup
    assert "href" not in markup
    assert not re.search(r"\son\w+\s*=", markup)
    assert "url(" not in markup
    assert len(list(root)) >= 2
