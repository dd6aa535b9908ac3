"""Genre tags → the four styles: parsing tag values and a documented mapping table.

Pure functions, no I/O. ``split_genres`` turns raw tag values (ID3 TCON text, Vorbis/FLAC
GENRE, MP4 ``©gen``) into clean genre names: ID3v1 numeric references ("17", "(17)",
"(17)Rock", "(17)(26)") become names from :data:`ID3V1_GENRES`, and values that carry several
genres ("Rock; Pop", "Rock/Pop", "Rock, Pop") are split, while a name the table knows whole
("Hip-Hop/Rap", "R&B/Soul", "Drum & Bass") is kept whole. ``genre_style`` maps one name to a
style, ``"vague"`` (the tag says nothing about the sound: Other, Soundtrack, Podcast...) or
``None`` (unknown to the table). The table and the reasons behind it are in docs/style.md.
"""

from __future__ import annotations

import re
import unicodedata
from types import MappingProxyType
from typing import Iterable, Mapping

VAGUE = "vague"

# The ID3v1 genre list: 0-79 from the original ID3v1 specification, 80-191 the Winamp
# extensions that every tagger reads. Index = the number stored in the tag.
ID3V1_GENRES: tuple[str, ...] = (
    "Blues", "Classic Rock", "Country", "Dance", "Disco", "Funk", "Grunge", "Hip-Hop",
    "Jazz", "Metal", "New Age", "Oldies", "Other", "Pop", "R&B", "Rap", "Reggae", "Rock",
    "Techno", "Industrial", "Alternative", "Ska", "Death Metal", "Pranks", "Soundtrack",
    "Euro-Techno", "Ambient", "Trip-Hop", "Vocal", "Jazz+Funk", "Fusion", "Trance",
    "Classical", "Instrumental", "Acid", "House", "Game", "Sound Clip", "Gospel", "Noise",
    "Alternative Rock", "Bass", "Soul", "Punk", "Space", "Meditative", "Instrumental Pop",
    "Instrumental Rock", "Ethnic", "Gothic", "Darkwave", "Techno-Industrial", "Electronic",
    "Pop-Folk", "Eurodance", "Dream", "Southern Rock", "Comedy", "Cult", "Gangsta", "Top 40",
    "Christian Rap", "Pop/Funk", "Jungle", "Native American", "Cabaret", "New Wave",
    "Psychedelic", "Rave", "Showtunes", "Trailer", "Lo-Fi", "Tribal", "Acid Punk",
    "Acid Jazz", "Polka", "Retro", "Musical", "Rock & Roll", "Hard Rock",
    # 80- (Winamp extensions)
    "Folk", "Folk-Rock", "National Folk", "Swing", "Fast Fusion", "Bebop", "Latin",
    "Revival", "Celtic", "Bluegrass", "Avantgarde", "Gothic Rock", "Progressive Rock",
    "Psychedelic Rock", "Symphonic Rock", "Slow Rock", "Big Band", "Chorus",
    "Easy Listening", "Acoustic", "Humour", "Speech", "Chanson", "Opera", "Chamber Music",
    "Sonata", "Symphony", "Booty Bass", "Primus", "Porn Groove", "Satire", "Slow Jam",
    "Club", "Tango", "Samba", "Folklore", "Ballad", "Power Ballad", "Rhythmic Soul",
    "Freestyle", "Duet", "Punk Rock", "Drum Solo", "A Cappella", "Euro-House", "Dancehall",
    "Goa", "Drum & Bass", "Club-House", "Hardcore Techno", "Terror", "Indie", "Britpop",
    "Afro-Punk", "Polsk Punk", "Beat", "Christian Gangsta Rap", "Heavy Metal", "Black Metal",
    "Crossover", "Contemporary Christian", "Christian Rock", "Merengue", "Salsa",
    "Thrash Metal", "Anime", "J-Pop", "Synthpop", "Abstract", "Art Rock", "Baroque",
    "Bhangra", "Big Beat", "Breakbeat", "Chillout", "Downtempo", "Dub", "EBM", "Eclectic",
    "Electro", "Electroclash", "Emo", "Experimental", "Garage", "Global", "IDM", "Illbient",
    "Industro-Goth", "Jam Band", "Krautrock", "Leftfield", "Lounge", "Math Rock",
    "New Romantic", "Nu-Breakz", "Post-Punk", "Post-Rock", "Psytrance", "Shoegaze",
    "Space Rock", "Trop Rock", "World Music", "Neoclassical", "Audiobook", "Audio Theatre",
    "Neue Deutsche Welle", "Podcast", "Indie Rock", "G-Funk", "Dubstep", "Garage Rock",
    "Psybient",
)

# Genre name → style. Spellings are folded by ``genre_key`` (case, accents, spaces and
# punctuation; "&", "n" and "and" alike), so "Hip Hop", "hip-hop" and "HipHop" are one entry.
# Why each group sits where it does: docs/style.md, "Genre tags".
STYLE_GENRES: dict[str, tuple[str, ...]] = {
    "heavy": (
        "Rock", "Hard Rock", "Classic Rock", "Rock & Roll", "Rock and Roll", "Southern Rock",
        "Garage Rock", "Grunge", "Alternative", "Alternative Rock", "Alt Rock", "AlternRock",
        "Alt-Rock", "Christian Rock", "Instrumental Rock", "Stoner Rock", "Arena Rock",
        "Glam Rock", "Glam", "Power Ballad", "Metal", "Heavy Metal", "Death Metal", "Black Metal",
        "Thrash Metal", "Speed Metal", "Doom Metal", "Power Metal", "Progressive Metal",
        "Symphonic Metal", "Gothic Metal", "Folk Metal", "Viking Metal", "Industrial Metal",
        "Alternative Metal", "Nu Metal", "Nu-Metal", "Rap Metal", "Groove Metal", "Sludge",
        "Djent", "Metalcore", "Deathcore", "Mathcore", "Grindcore", "Hardcore", "Hardcore Punk",
        "Post-Hardcore", "Screamo", "Punk", "Punk Rock", "Pop Punk", "Skate Punk", "Acid Punk",
        "Afro-Punk", "Polsk Punk", "Crossover", "Emo", "Alternative & Punk", "Industrial",
        "Industrial Rock", "Techno-Industrial", "Industro-Goth", "Hardcore Techno", "Gabber",
        "Terror", "Dubstep", "Brostep", "Riddim", "Primus", "Drum Solo",
    ),
    "indie_synth": (
        "Indie", "Indie Rock", "Indie Pop", "Indietronica", "Britpop", "Art Rock",
        "Progressive Rock", "Prog", "Prog Rock", "Psychedelic", "Psychedelic Rock", "Space Rock",
        "Krautrock", "Math Rock", "Post-Punk", "New Wave", "New Romantic", "Neue Deutsche Welle",
        "Shoegaze", "Dream Pop", "Gothic", "Gothic Rock", "Darkwave", "Coldwave", "Synthpop",
        "Synth-Pop", "Synthwave", "Retrowave", "Outrun", "Electropop", "Electro", "Electroclash",
        "Electronic", "Electronica", "EDM", "Techno", "Euro-Techno", "House", "Deep House",
        "Tech House", "Progressive House", "Electro House", "Euro-House", "Club-House", "Club",
        "Trance", "Psytrance", "Goa", "Uplifting Trance", "Eurodance", "Dance", "Dance-Pop",
        "Disco", "Nu-Disco", "Italo Disco", "Hi-NRG", "Rave", "Acid", "Acid House", "Big Beat",
        "Breakbeat", "Breaks", "Nu-Breakz", "Jungle", "Drum & Bass", "Drum and Bass",
        "Drum n Bass", "DnB", "D&B", "D'n'B", "Liquid Drum & Bass", "UK Garage", "Garage",
        "2-Step", "IDM", "EBM", "Chiptune", "Chipmusic", "8-bit", "Bitpop", "Pop", "Top 40",
        "J-Pop", "K-Pop", "Anime", "Instrumental Pop", "Power Pop", "Beat", "Freestyle",
        "Hyperpop", "Leftfield", "Electro Swing",
    ),
    "hiphop": (
        "Hip-Hop", "Hip Hop", "HipHop", "Rap", "Hip-Hop/Rap", "Rap/Hip-Hop", "Trap", "Drill",
        "Grime", "Gangsta", "Gangsta Rap", "G-Funk", "Crunk", "Boom Bap", "Conscious Hip Hop",
        "Alternative Hip Hop", "East Coast Hip Hop", "West Coast Hip Hop", "Southern Hip Hop",
        "Christian Rap", "Christian Gangsta Rap", "Rap Rock", "Rapcore", "Phonk", "Cloud Rap",
        "Horrorcore", "Booty Bass", "Miami Bass", "R&B", "RnB", "R'n'B", "R&B/Soul",
        "Rhythm and Blues", "Contemporary R&B", "Neo Soul", "Soul", "Rhythmic Soul", "Funk",
        "Jazz+Funk", "Pop/Funk", "Slow Jam", "New Jack Swing", "Reggae", "Dancehall", "Reggaeton",
        "Ragga", "Afrobeats", "Afrobeat", "Baile Funk", "Moombahton",
    ),
    "atmospheric": (
        "Ambient", "Dark Ambient", "Drone", "Psybient", "Illbient", "Space", "Meditative",
        "New Age", "Chillout", "Chill", "Chillwave", "Downtempo", "Trip-Hop", "Lounge",
        "Easy Listening", "Lo-Fi", "Lofi", "Dub", "Post-Rock", "Dream", "Classical",
        "Modern Classical", "Contemporary Classical", "Neoclassical", "Baroque", "Romantic",
        "Orchestral", "Symphony", "Symphonic Rock", "Sonata", "Chamber Music", "Opera", "Choral",
        "Chorus", "A Cappella", "Piano", "Minimal", "Minimalism", "Jazz", "Smooth Jazz",
        "Acid Jazz", "Bebop", "Swing", "Big Band", "Cool Jazz", "Fusion", "Fast Fusion", "Blues",
        "Delta Blues", "Country", "Country Rock", "Alt-Country", "Americana", "Bluegrass", "Folk",
        "Folk-Rock", "Folk Pop", "Indie Folk", "National Folk", "Pop-Folk", "Folklore",
        "Singer-Songwriter", "Acoustic", "Celtic", "Gospel", "Ballad", "Slow Rock", "Soft Rock",
        "Yacht Rock", "Adult Contemporary", "Chanson", "Spoken Word", "Speech", "Audiobook",
        "Audio Theatre", "Comedy", "Humour", "Satire",
    ),
    VAGUE: (
        "Other", "Misc", "Miscellaneous", "Unknown", "Various", "Various Artists", "None", "Genre",
        "Soundtrack", "Original Soundtrack", "OST", "Score", "Film Score", "Video Game",
        "Video Game Music", "Game", "Games", "VGM", "Trailer", "Musical", "Showtunes", "Cabaret",
        "Vocal", "Instrumental", "Podcast", "Sound Clip", "Pranks", "Cult", "Oldies", "Retro",
        "Revival", "Duet", "World", "World Music", "Global", "Ethnic", "Tribal", "Native American",
        "Latin", "Tango", "Samba", "Salsa", "Merengue", "Polka", "Bhangra", "Trop Rock",
        "Christian", "Contemporary Christian", "Religious", "Holiday", "Christmas", "Children's",
        "Kids", "Noise", "Porn Groove", "Experimental", "Avantgarde", "Avant-Garde", "Abstract",
        "Eclectic", "Jam Band", "Bass", "Ska", "Singles", "Compilation", "Remix", "Cover", "Live",
        "Karaoke",
    ),
}

# A name missing from the table falls back to the first of these words it contains, on the
# folded form ("Melodic Death Metal" -> metal -> heavy). Order: the more telling word first.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("soundtrack", VAGUE), ("score", VAGUE), ("game", VAGUE), ("hiphop", "hiphop"),
    ("rap", "hiphop"), ("trap", "hiphop"), ("metal", "heavy"), ("core", "heavy"),
    ("punk", "heavy"), ("grunge", "heavy"), ("ambient", "atmospheric"),
    ("classical", "atmospheric"), ("orchestra", "atmospheric"), ("jazz", "atmospheric"),
    ("blues", "atmospheric"), ("country", "atmospheric"), ("folk", "atmospheric"),
    ("synth", "indie_synth"), ("wave", "indie_synth"), ("techno", "indie_synth"),
    ("house", "indie_synth"), ("trance", "indie_synth"), ("electro", "indie_synth"),
    ("disco", "indie_synth"), ("indie", "indie_synth"), ("pop", "indie_synth"), ("soul", "hiphop"),
    ("funk", "hiphop"), ("reggae", "hiphop"), ("rock", "heavy"),
)


def genre_key(name: str) -> str:
    """Folded form of a genre name: lower case, no accents, letters and digits only, with
    "&", "+", "'n'" and " n " between words all written "and" ("R&B" = "R'n'B" = "r and b")."""
    s = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"\s*&\s*|\s*\+\s*|\s+'?n'?\s+|'n'", " and ", s)
    return re.sub(r"[^a-z0-9]+", "", s)


def _lookup() -> Mapping[str, str]:
    out: dict[str, str] = {}
    for style, names in STYLE_GENRES.items():
        for n in names:
            out.setdefault(genre_key(n), style)
    return MappingProxyType(out)


_LOOKUP = _lookup()  # folded name -> style, built once from the table above (read-only)


def genre_style(name: str) -> str | None:
    """The style a genre name implies: a STYLES entry, ``"vague"``, or None when unknown."""
    k = genre_key(name)
    if not k:
        return None
    hit = _LOOKUP.get(k)
    if hit is not None:
        return hit
    for word, style in _KEYWORDS:
        if word in k:
            return style
    return None


_NUM_REF = re.compile(r"\((\d{1,3})\)")
_SPLIT = re.compile(r"\s*(?:;|\||,|\x00|\s/\s|/)\s*")


def _id3v1(n: str) -> str | None:
    i = int(n)
    return ID3V1_GENRES[i] if 0 <= i < len(ID3V1_GENRES) else None


def _expand(value: str) -> list[str]:
    """One raw value → genre names: ID3v1 references resolved, separators split."""
    v = value.strip().strip("\x00").strip()
    if not v:
        return []
    if v.isdigit():  # "17"
        g = _id3v1(v)
        return [g] if g else []
    if v.startswith("("):  # "(17)", "(17)Rock", "(17)(26)", "((literal" (escaped paren)
        if v.startswith("(("):
            return [v[1:]]
        names: list[str] = []
        pos = 0
        for m in _NUM_REF.finditer(v):
            if m.start() != pos:
                break
            g = _id3v1(m.group(1))
            if g:
                names.append(g)
            pos = m.end()
        rest = v[pos:].strip()
        if rest:  # "(17)Rock": the text refines the number; keep it, drop its twin
            names = _expand(rest) + [n for n in names if genre_key(n) != genre_key(rest)]
        return names
    if genre_key(v) in _LOOKUP:  # a known whole ("Hip-Hop/Rap", "Drum & Bass")
        return [v]
    parts = [p for p in _SPLIT.split(v) if p]
    if len(parts) == 1:
        return [v]
    return [g for p in parts for g in _expand(p)]


def split_genres(values: Iterable[str]) -> list[str]:
    """Genre names from raw tag values, in tag order, duplicates (by folded name) dropped."""
    out: list[str] = []
    seen: set[str] = set()
    for raw in values:
        for g in _expand(str(raw)):
            k = genre_key(g)
            if k and k not in seen:
                seen.add(k)
                out.append(g)
    return out


def tag_styles(genres: Iterable[str]) -> list[str]:
    """The specific styles the genre names imply, in tag order, without repeats; empty when
    every name is vague or unknown (then the audio model decides)."""
    out: list[str] = []
    for g in genres:
        s = genre_style(g)
        if s is not None and s != VAGUE and s not in out:
            out.append(s)
    return out
