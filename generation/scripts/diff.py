"""A line diff of two versions, as rows a template renders (escaped like any other text)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from itertools import zip_longest


@dataclass(frozen=True, slots=True)
class DiffRow:
    kind: str  # "same", "added", "removed" or "changed"
    left_number: int | None
    left: str
    right_number: int | None
    right: str

    @property
    def inline(self) -> list[tuple[str, str]]:
        """The row as one line: ``(kind, text)`` pieces, kind ``same``, ``deleted`` or
        ``inserted``; a changed line keeps its unchanged words and marks only the words that
        differ."""
        if self.kind == "same":
            return [("same", self.right)]
        if self.kind == "removed":
            return [("deleted", self.left)]
        if self.kind == "added":
            return [("inserted", self.right)]
        return word_changes(self.left, self.right)


def word_changes(old: str, new: str) -> list[tuple[str, str]]:
    """``old`` changed into ``new``, word by word (each word keeps its following spaces)."""
    left, right = re.findall(r"\S+\s*|\s+", old), re.findall(r"\S+\s*|\s+", new)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("same", "".join(left[a1:a2])))
            continue
        if a2 > a1:
            pieces.append(("deleted", "".join(left[a1:a2])))
        if b2 > b1:
            pieces.append(("inserted", "".join(right[b1:b2])))
    return pieces


@dataclass(frozen=True, slots=True)
class Diff:
    rows: list[DiffRow]
    added: int
    removed: int
    changed: int

    @property
    def identical(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_versions(old: str, new: str) -> Diff:
    left, right = old.splitlines(), new.splitlines()
    rows: list[DiffRow] = []
    added = removed = changed = 0
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            rows.extend(
                DiffRow("same", a1 + i + 1, left[a1 + i], b1 + i + 1, right[b1 + i])
                for i in range(a2 - a1)
            )
        elif op == "delete":
            removed += a2 - a1
            rows.extend(DiffRow("removed", i + 1, left[i], None, "") for i in range(a1, a2))
        elif op == "insert":
            added += b2 - b1
            rows.extend(DiffRow("added", None, "", i + 1, right[i]) for i in range(b1, b2))
        else:
            pairs = zip_longest(range(a1, a2), range(b1, b2))
            for i, j in pairs:
                if i is not None and j is not None:
                    changed += 1
                    rows.append(DiffRow("changed", i + 1, left[i], j + 1, right[j]))
                elif i is not None:
                    removed += 1
                    rows.append(DiffRow("removed", i + 1, left[i], None, ""))
                elif j is not None:
                    added += 1
                    rows.append(DiffRow("added", None, "", j + 1, right[j]))
    return Diff(rows, added, removed, changed)
