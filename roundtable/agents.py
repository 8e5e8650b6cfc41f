"""The five members of a roundtable, in the order they sit (and are shown, and stream).

``avatar_svg`` is the studio's own line icon for the role: a 24 by 24 viewBox drawn with
``stroke="currentColor"`` (it takes the text colour), hidden from assistive technology (the
agent's name is always written next to it), with no script, link or event attribute, so a
template may mark it safe.
"""

from __future__ import annotations

from dataclasses import dataclass

_SVG_OPEN = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24" '
    'fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" '
    'stroke-linejoin="round" aria-hidden="true" focusable="false">'
)


def _svg(*shapes: str) -> str:
    return _SVG_OPEN + "".join(shapes) + "</svg>"


CLAPPERBOARD_SVG = _svg(
    '<rect x="3" y="10" width="18" height="10" rx="1.5"/>',
    '<path d="M3 10 2.4 6.6 18.9 3.7 19.5 7.1"/>',
    '<path d="M7.2 5.9 9.6 8.6M12.1 5 14.5 7.8"/>',
    '<path d="M3 10h18"/>',
)
CAMERA_SVG = _svg(
    '<rect x="2.5" y="9" width="13" height="10" rx="1.5"/>',
    '<path d="m15.5 12.5 6-3v9l-6-3"/>',
    '<circle cx="6" cy="5.75" r="2.75"/>',
    '<circle cx="12" cy="5.75" r="2.75"/>',
)
TIMELINE_SVG = _svg(
    '<rect x="3" y="6" width="7" height="4" rx="1"/>',
    '<rect x="14" y="6" width="7" height="4" rx="1"/>',
    '<rect x="3" y="14" width="11" height="4" rx="1"/>',
    '<rect x="17" y="14" width="4" height="4" rx="1"/>',
    '<path d="M12 3v18"/>',
)
COLOR_MIX_SVG = _svg(
    '<circle cx="12" cy="8.5" r="5.5"/>',
    '<circle cx="8.5" cy="14.5" r="5.5"/>',
    '<circle cx="15.5" cy="14.5" r="5.5"/>',
)
PHONE_SVG = _svg(
    '<rect x="6.5" y="2.5" width="11" height="19" rx="2"/>',
    '<path d="M11 18.5h2"/>',
    '<path d="M10.5 8.5v5l4-2.5z"/>',
)


@dataclass(frozen=True, slots=True)
class Agent:
    key: str
    name: str
    role: str
    """What the agent is at the table, in a few words ("story and narrative")."""
    focus: str
    """What its analysis covers, as a sentence a prompt can use."""
    avatar_svg: str


AGENTS: tuple[Agent, ...] = (
    Agent(
        key="director",
        name="Director",
        role="story and narrative",
        focus=(
            "the story: the hook, the beats and their order, what each character wants, the "
            "emotional arc and the single idea the viewer should leave with"
        ),
        avatar_svg=CLAPPERBOARD_SVG,
    ),
    Agent(
        key="cinematographer",
        name="Cinematographer",
        role="composition, camera and shot design",
        focus=(
            "the pictures: framing and composition for the aspect ratio, shot sizes, camera "
            "moves, lenses and focal lengths, and the motivated light that shapes each shot"
        ),
        avatar_svg=CAMERA_SVG,
    ),
    Agent(
        key="editor",
        name="Editor",
        role="pacing and transitions",
        focus=(
            "the rhythm: how the running time is spent, shot lengths and cut rhythm, where the "
            "cuts land against sound and music, transitions, and the ending or loop point"
        ),
        avatar_svg=TIMELINE_SVG,
    ),
    Agent(
        key="colorist",
        name="Colorist",
        role="grade and mood",
        focus=(
            "the look: the palette and the grade, how each location's mood becomes colour, skin "
            "tones, contrast for the screens it will be watched on, and continuity across shots"
        ),
        avatar_svg=COLOR_MIX_SVG,
    ),
    Agent(
        key="platform_expert",
        name="Platform Expert",
        role="the platform's norms",
        focus=(
            "the platform: aspect ratio and safe zones, the hook window, captions and on-screen "
            "text, and how the length sits against what works on that platform"
        ),
        avatar_svg=PHONE_SVG,
    ),
)

AGENT_BY_KEY: dict[str, Agent] = {agent.key: agent for agent in AGENTS}
AGENT_KEYS: tuple[str, ...] = tuple(agent.key for agent in AGENTS)
