"""Names that look like other names: Unicode's confusable skeleton (UTS #39).

Two strings are confusable when their skeletons are equal: each is decomposed (NFD), every
character replaced by the prototype Unicode's confusables.txt gives it, and the result decomposed
again. `ѕystem:masters` (with a Cyrillic ѕ) and `system:masters` have one skeleton; so do `rn`
and `m`, which many fonts draw alike. Kubernetes compares names byte for byte, so a look-alike
is another name to it, with none of its power, but not to a person reading a listing or an audit
log.

The table (confusables.json) keeps only the characters whose prototype is ASCII, which is all
that comparing with Kubernetes' own ASCII names needs; it is generated at development time by
dev/make_confusables.py from Unicode's file, so the runtime depends on nothing.
"""

import functools
import json
import pkgutil
import unicodedata

TABLE = "confusables.json"


@functools.lru_cache(maxsize=None)
def _prototypes():
    return json.loads(pkgutil.get_data(__package__, TABLE).decode("ascii"))["prototypes"]


def skeleton(text):
    """UTS #39's skeleton(text), for the characters that imitate ASCII (others stand for themselves)."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFD", "".join(prototypes.get(ch, ch) for ch in decomposed))


def confusable(one, other):
    return skeleton(one) == skeleton(other)


def looks_prefixed(name, prefix):
    """Whether `name` reads as starting with `prefix` (`ѕystem:x` does with `system:`)."""
    return skeleton(name).startswith(skeleton(prefix))


def imitations(name):
    """The characters of `name` that imitate ASCII ones, for a message: `U+0455 CYRILLIC SMALL
    LETTER DZE for "s"`; for an ASCII look-alike (`rn` for `m`), what the skeleton reads."""
    prototypes = _prototypes()
    found = []
    for ch in dict.fromkeys(unicodedata.normalize("NFD", name)):
        if not ch.isascii() and ch in prototypes:
            found.append(f'U+{ord(ch):04X} {unicodedata.name(ch, "?")} for "{prototypes[ch]}"')
    return ", ".join(found) or "letters that many fonts draw alike, such as rn and m"
