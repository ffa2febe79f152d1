"""Deterministic names for the synthetic catalogue: 130 real-sounding genres, made-up artists and titles.

Genres come in families of related styles (a track's second genre is drawn from its main genre's family,
as "allrock" goes with "rock" and "metal" in the real catalogue). Everything else is assembled from word
lists by index, with pyarrow string kernels, so a million names cost a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Families of related genres, most listened family first; inside a family, most listened first.
GENRE_FAMILIES: tuple[tuple[str, ...], ...] = (
    ("pop", "ruspop", "dance", "kpop", "jpop", "disco", "synthpop", "electropop", "indiepop", "dreampop"),
    ("rap", "rusrap", "foreignrap", "trap", "drill", "phonk", "grime", "hiphop", "alternativerap",
     "undergroundrap"),
    ("allrock", "rock", "rusrock", "alternative", "indie", "postrock", "poppunk", "punk", "hardrock",
     "progrock", "rocknroll", "shoegaze", "grunge", "emo", "postpunk"),
    ("electronics", "house", "techno", "trance", "dnb", "dubstep", "edm", "ambient", "idm", "electro",
     "deephouse", "downtempo", "triphop", "chillout", "lofi", "synthwave"),
    ("metal", "rusmetal", "numetal", "metalcore", "deathmetal", "blackmetal", "heavymetal", "doom",
     "industrial", "folkmetal", "alternativemetal"),
    ("rnb", "soul", "funk", "contemporaryrnb", "neosoul", "gospel", "motown"),
    ("estrada", "rusestrada", "shanson", "bard", "romances", "military", "sovietpop"),
    ("soundtrack", "films", "tvseries", "videogame", "anime", "musical"),
    ("jazz", "smoothjazz", "vocaljazz", "bebop", "swing", "fusion", "latinjazz"),
    ("classical", "classicalmasterpieces", "modernclassical", "opera", "baroque", "piano",
     "neoclassical"),
    ("folk", "rusfolk", "country", "americana", "celtic", "folkrock", "singersongwriter",
     "ethnic"),
    ("latin", "reggaeton", "salsa", "bachata", "bossanova", "flamenco"),
    ("reggae", "dub", "ska", "dancehall", "afrobeat", "african"),
    ("blues", "electricblues", "acousticblues", "rhythmblues"),
    ("children", "lullaby", "fairytales", "audiobooks", "podcasts", "spoken", "comedy", "relax",
     "meditation", "naturesounds"),
)
GENRES: tuple[str, ...] = tuple(name for family in GENRE_FAMILIES for name in family)
GENRE_FAMILY: np.ndarray = np.repeat(np.arange(len(GENRE_FAMILIES)), [len(f) for f in GENRE_FAMILIES])

_SYLLABLES = (
    "ka", "ri", "mo", "len", "sa", "vo", "ta", "mi", "zor", "el", "an", "dra", "ko", "lu", "ne", "bi", "ro",
    "shi", "va", "del", "max", "ty", "ly", "ra", "gon", "fe", "lix", "na", "mar", "ven", "jo", "ze", "qui",
    "ash", "ber", "cal", "dor", "ex", "fin", "gal", "hal", "ix", "jun", "kel", "lor", "mun", "nox", "ol",
)
_ARTIST_FORMS = (
    "{}", "{}", "{}", "The {}s", "DJ {}", "MC {}", "{} Band", "Lil {}", "{} & Co", "{} Orchestra",
)
_ADJECTIVES = (
    "Silent", "Golden", "Broken", "Electric", "Midnight", "Endless", "Crimson", "Lonely", "Wild", "Velvet",
    "Neon", "Frozen", "Hidden", "Burning", "Sweet", "Dark", "Bright", "Lost", "Secret", "Paper", "Northern",
    "Silver", "Restless", "Gentle", "Hollow", "Summer", "Winter", "Last", "First", "Little", "Cosmic", "Blue",
)
_NOUNS = (
    "Heart", "Night", "River", "City", "Dream", "Fire", "Road", "Sky", "Rain", "Light", "Shadow", "Ocean",
    "Echo", "Storm", "Garden", "Mirror", "Train", "Window", "Highway", "Moon", "Sun", "Star", "Wave", "Town",
    "Song", "Letter", "Winter", "Summer", "Signal", "Machine", "Desert", "Forest", "Kingdom", "Island",
)
_TRACK_SUFFIXES = ("", "", "", "", "", "", " (Remix)", " (Live)", " (Acoustic)", " (feat. Friends)", " II")


def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int) -> pa.Array:
    return pa.array(words).take(pa.array(rng.integers(0, len(words), n)))


def artist_names(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` artist names such as ``"Karimo"``, ``"DJ Velix"`` or ``"The Zorans"``."""
    words = [_pick(rng, _SYLLABLES, n) for _ in range(3)]
    three = rng.random(n) < 0.4
    stem = pc.if_else(pa.array(three), pc.binary_join_element_wise(*words, ""),
                      pc.binary_join_element_wise(words[0], words[1], ""))
    stem = pc.utf8_capitalize(stem)
    form = rng.integers(0, len(_ARTIST_FORMS), n)
    prefix = pa.array([f.split("{}")[0] for f in _ARTIST_FORMS]).take(pa.array(form))
    suffix = pa.array([f.split("{}")[1] for f in _ARTIST_FORMS]).take(pa.array(form))
    return pc.binary_join_element_wise(prefix, stem, suffix, "")


def title_names(rng: np.random.Generator, n: int, suffixes: bool) -> pa.Array:
    """``n`` album or track titles such as ``"Neon River"`` or ``"Lost Highway (Live)"``."""
    title = pc.binary_join_element_wise(_pick(rng, _ADJECTIVES, n), _pick(rng, _NOUNS, n), " ")
    if suffixes:
        title = pc.binary_join_element_wise(title, _pick(rng, _TRACK_SUFFIXES, n), "")
    return title
