"""Every badge of the studio's stylesheets at WCAG AA contrast: the colour pairs are read from
static/css/*.css (custom properties resolved) and the contrast ratio computed as WCAG 2.x
defines it. Badges are small text, so the bar is 4.5:1."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS_DIR = Path(__file__).resolve().parents[2] / "static" / "css"
AA_SMALL_TEXT = 4.5
# A badge's look: the base .badge and each variant that sets its own colours.
BADGE_SELECTOR = re.compile(r"^\.(badge(-[\w-]+)?|role-[\w-]+)$")
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _rules(text: str) -> list[tuple[list[str], dict[str, str]]]:
    """Top-level rules (media blocks left out: a badge's colours do not change with width)."""
    text = COMMENT.sub("", text)
    depth, flat, i = 0, [], 0
    while i < len(text):
        if text.startswith("@media", i) or text.startswith("@supports", i):
            start = text.index("{", i)
            depth, j = 1, start + 1
            while depth:
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            i = j
            continue
        flat.append(text[i])
        i += 1
    rules = []
    for selectors, body in RULE.findall("".join(flat)):
        declarations = {}
        for declaration in body.split(";"):
            if ":" in declaration:
                name, value = declaration.split(":", 1)
                declarations[name.strip()] = value.strip()
        rules.append(([s.strip() for s in selectors.split(",")], declarations))
    return rules


def _stylesheets() -> list[tuple[list[str], dict[str, str]]]:
    return [rule for path in sorted(CSS_DIR.glob("*.css")) for rule in _rules(path.read_text())]


def _variables(rules: list[tuple[list[str], dict[str, str]]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for selectors, declarations in rules:
        if ":root" in selectors:
            found.update({k: v for k, v in declarations.items() if k.startswith("--")})
    return found


def _resolve(value: str, variables: dict[str, str]) -> str:
    for _ in range(10):
        match = re.search(r"var\((--[\w-]+)(?:,\s*([^)]+))?\)", value)
        if not match:
            return value
        replacement = variables.get(match.group(1), match.group(2) or "")
        value = value[: match.start()] + replacement + value[match.end() :]
    return value


def _rgb(value: str) -> tuple[float, float, float]:
    hex_match = re.fullmatch(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", value.strip())
    assert hex_match, f"not a plain colour: {value!r}"
    digits = hex_match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    lighter, darker = sorted((_luminance(_rgb(foreground)), _luminance(_rgb(background))))[::-1]
    return (lighter + 0.05) / (darker + 0.05)


def badge_pairs() -> dict[str, tuple[str, str]]:
    """Each badge class with its (text colour, background colour), the base .badge's where a
    variant does not set its own."""
    rules = _stylesheets()
    variables = _variables(rules)
    looks: dict[str, dict[str, str]] = {}
    for selectors, declarations in rules:
        for selector in selectors:
            if BADGE_SELECTOR.match(selector):
                look = looks.setdefault(selector, {})
                for name in ("color", "background", "background-color"):
                    if name in declarations:
                        look["background" if name != "color" else "color"] = _resolve(
                            declarations[name], variables
                        )
    base = looks.get(".badge", {})
    return {
        selector: (look.get("color", base["color"]), look.get("background", base["background"]))
        for selector, look in looks.items()
        if "color" in look or "background" in look
    }


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_the_stylesheets_define_the_badges_the_templates_use() -> None:
    pairs = badge_pairs()
    for selector in (".badge", ".badge-ok", ".badge-warn", ".badge-bad", ".badge-muted"):
        assert selector in pairs, sorted(pairs)
    assert ".role-owner" in pairs and ".role-viewer" in pairs


@pytest.mark.parametrize("selector", sorted(badge_pairs()))
def test_every_badge_reaches_aa_contrast(selector: str) -> None:
    foreground, background = badge_pairs()[selector]
    ratio = contrast(foreground, background)
    assert ratio >= AA_SMALL_TEXT, f"{selector}: {foreground} on {background} is {ratio:.2f}:1"
