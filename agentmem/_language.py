"""Which language a short text is written in: a stopword and script heuristic.

Good enough to keep a small chat model in the user's language and to score replies;
not a general language identifier. Knows English, Portuguese, Spanish, French, German
and Italian by their commonest words, and flags texts mostly written in a non-Latin
script (CJK, Cyrillic, Arabic, ...) by the script alone.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["LANGUAGE_NAMES", "STOPWORDS", "detect_language", "non_latin_share", "same_language"]

LANGUAGE_NAMES = {
    "en": "English",
    "pt": "Portuguese",
    "es": "Spanish",
    "fr": "French",
    "de": "German",
    "it": "Italian",
}

_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the and is are was were you your i my me to of in it that this what where who how "
        "do does did have has with for on at be not but can will would about from they "
        "he she we our his her its an a am".split()
    ),
    "pt": frozenset(
        "o os as um uma e é são eu meu minha você seu sua de do da dos das em no na nos "
        "nas que não com para por como onde qual quem está estou muito mas ao à também "
        "isso hoje vou tem foi".split()
    ),
    "es": frozenset(
        "el la los las un una y es son yo mi mis tu tú su de del en que no con para por "
        "como cómo dónde donde cuál quién está estoy muy pero al también hoy se llama "
        "tengo tiene fue me".split()
    ),
    "fr": frozenset(
        "le la les un une et est sont je mon ma mes tu ton ta vous votre de du des en "
        "que ne pas avec pour par comme où quel quelle qui suis très mais au aussi "
        "aujourd'hui c'est j'ai".split()
    ),
    "de": frozenset(
        "der die das ein eine und ist sind ich mein meine du dein sie ihr von zu in im "
        "dass nicht mit für wie wo wer was bin sehr aber auch heute hat habe auf den dem "
        "es".split()
    ),
    "it": frozenset(
        "il lo la gli le un una e è sono io mio mia tu tuo tua di del della in che non "
        "con per come dove quale chi sto molto ma anche oggi ho ha si chiama".split()
    ),
}

STOPWORDS = frozenset().union(*_STOPWORDS.values())
"""The commonest words of every language known here (they say little about a topic)."""

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def non_latin_share(text: str) -> float:
    """The share of letters in ``text`` that are not Latin script (0 when no letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    other = sum(1 for c in letters if not unicodedata.name(c, "").startswith("LATIN"))
    return other / len(letters)


def detect_language(text: str) -> str | None:
    """The language code of ``text``: ``en``, ``pt``, ``es``, ``fr``, ``de`` or ``it``.

    ``other`` for a text mostly in a non-Latin script, ``None`` when it cannot tell (too
    few words, or a tie).
    """
    if non_latin_share(text) > 0.3:
        return "other"
    words = [w.lower() for w in _WORD.findall(text)]
    scores = {lang: sum(w in stop for w in words) for lang, stop in _STOPWORDS.items()}
    # Accented letters typical of one language break ties between close relatives.
    lowered = text.lower()
    scores["pt"] += 2 * sum(lowered.count(c) for c in "ãõç")
    scores["es"] += 2 * sum(lowered.count(c) for c in "ñ¿¡")
    scores["de"] += 2 * sum(lowered.count(c) for c in "äöüß")
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top == 0 or top == second:
        return None
    return best


def same_language(reply: str, language: str) -> bool:
    """Whether ``reply`` reads as written in ``language``.

    An undetermined short reply, such as a bare name, counts as the same language; a
    non-Latin script never does for a Latin-script language.
    """
    if non_latin_share(reply) > 0.1 and language != "other":
        return False
    found = detect_language(reply)
    return found is None or found == language
