"""Bibliography labels that match the author-year citations.

sphinxcontrib-bibtex cites author-year (``bibtex_reference_style: author_year``), but its
default labels in the list of references are alphabetic keys (``[HVD15]``, and
``[XGDollar+17]`` where an accent in a name is spelled in LaTeX). This style labels each
entry as the text cites it, ``[Hinton et al., 2015]``, from the names as pybtex decodes them
(``Doll{\\'a}r`` is ``Dollár``), and sorts the list by author, year and title.
"""
from __future__ import annotations

from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

STYLE = "kdlib_author_year"


def _last(person) -> str:
    """A person's last name as plain text, LaTeX accents decoded."""
    return Text(*person.rich_prelast_names, " " if person.prelast_names else "",
                *person.rich_last_names).render_as("text").strip()


def author_year_label(entry) -> str:
    """``Last, 2015``; ``Last and Other, 2015``; ``Last et al., 2015`` (three or more)."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last(p) for p in people]
    if not names:
        who = entry.fields.get("title", entry.key).split(":")[0]
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabels(BaseLabelStyle):
    """Author-year labels; two entries that would share one get a, b, ... after the year."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        counts = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if counts[label] > 1:
                suffix = "abcdefghijklmnopqrstuvwxyz"[seen[label]]
                seen[label] += 1
                yield label + suffix
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entries, labelled author-year and sorted by author, year, title."""

    default_label_style = STYLE
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", STYLE, AuthorYearLabels)
register_plugin("pybtex.style.formatting", STYLE, AuthorYearStyle)
