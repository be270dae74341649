"""Say what you mean: -word / -"phrase" exclusion, a floor, pages, and text combined with
an image or a stored GIF; through the real model and a real store (and the tiny CLIP)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from gifsearch.cli import main
from ingest.job import IngestOptions, run_ingest
from search_app.embedders.frames import open_image
from search_app.embedders.query_embedder import load_for_settings
from search_app.errors import EmptyQueryError, ImagesUnsupportedError
from search_app.retrieval.engine import SearchEngine
from search_app.retrieval.query import excludes, parse_query, words
from search_app.retrieval.request import SearchRequest
from search_app.settings import Settings
from tests.conftest import SAMPLE_LINES, write_tsv
from tests.frames.conftest import SET_OF_GIFS, gif_route, tiny_clip_settings
from tests.local_http import serve_handlers

ROWS = [
    "https://x.test/dogs.gif\ttwo dogs are playing with a ball in the park .\n",
    "https://x.test/dogs.gif\ta puppy chases another puppy across the grass .\n",
    "https://x.test/frisbee.gif\ta dog catches a red frisbee outside .\n",
    "https://x.test/balls.gif\ta dog runs after red balls in a garden .\n",
    "https://x.test/beach.gif\ta dog runs on the beach .\n",
    "https://x.test/dance.gif\ta woman is dancing on a stage .\n",
]


@pytest.mark.parametrize(
    ("query", "text", "excluded"),
    [
        ("a dog plays outside -ball", "a dog plays outside", [("ball",)]),
        ('a dog -"red ball" -cat', "a dog", [("red", "ball"), ("cat",)]),
        ("-ball a dog runs", "a dog runs", [("ball",)]),
        ("a man in a t-shirt", "a man in a t-shirt", []),
        ("a - b", "a - b", []),
        ("a dog -Ball -ball", "a dog", [("ball",)]),
        ("a cat \u200f-dog", "a cat", [("dog",)]),
        ("a cat -\u200bdog", "a cat", [("dog",)]),
        ("a cat -cafe\u0301", "a cat", [("caf\u00e9",)]),
        ("a cat -\uff44\uff4f\uff47", "a cat", [("dog",)]),
        ("a cat " + " ".join(f"-w{n}" for n in range(10)), "a cat",
         [(f"w{n}",) for n in range(10)]),
    ],
    ids=["word", "phrase-and-word", "leading", "hyphenated", "lone-minus", "repeated",
         "rtl-mark-before", "zero-width-inside", "decomposed-accent", "full-width", "ten"],
)  # fmt: skip
def test_queries_split_into_what_to_find_and_what_to_leave_out(
    query: str, text: str, excluded: list[tuple[str, ...]]
) -> None:
    parsed = parse_query(query)
    assert parsed.text == text and list(parsed.excluded) == excluded


@pytest.mark.parametrize("query", ["-ball", '-"red ball" -cat', '-ball ""'], ids=str)
def test_a_query_of_exclusions_only_is_a_clear_error(query: str) -> None:
    with pytest.raises(EmptyQueryError, match="only leaves things out.*say what should happen"):
        parse_query(query)


@pytest.mark.parametrize("query", ['"', '""', '" "', "\u200b", "\u200f\u200e"], ids=repr)
def test_a_query_of_quotes_or_invisible_marks_is_empty(query: str) -> None:
    with pytest.raises(EmptyQueryError, match="^the query is empty"):
        parse_query(query)


def test_more_than_ten_exclusions_are_refused_not_dropped() -> None:
    from search_app.errors import QueryTooLongError

    with pytest.raises(QueryTooLongError, match="leaves out 11 words or phrases: keep it to 10"):
        parse_query("a dog -a -b -c -d -e -f -g -h -i -jj -dog")


@pytest.mark.parametrize(
    ("description", "term", "left_out"),
    [
        ("two dogs play with a Ball.", ("ball",), True),
        ("a dog runs after red balls", ("ball",), True),
        ("a dog runs after red balls", ("red", "ball"), True),
        ("a ball that is red", ("red", "ball"), False),
        ("a ballerina dances", ("ball",), False),
        ("a dog runs", ("dogs",), True),
        ("a puppy sleeps", ("puppies",), True),
        ("two puppies sleep", ("puppy",), True),
        ("a cat in boxes", ("box",), True),
        ("a cat in a box", ("boxes",), True),
        ("a man with glasses", ("glass",), True),
        ("two dogs run", ("dog", "runs"), True),
        ("a caf\u00e9 at night", ("cafe\u0301",), True),
        ("a cafe\u0301 at night", ("caf\u00e9",), True),
        ("a \u200fdog runs", ("dog",), True),
        ("a do\u200bg runs", ("dog",), True),
        ("a DOG runs", ("\uff44\uff4f\uff47",), True),
        ("an \ufb01sh swims", ("fish",), True),
        ("a cafe at night", ("caf\u00e9",), False),
        ("I run", ("is",), False),
        ("a bus stops", ("bu",), False),
    ],
    ids=["case-and-dot", "plural", "phrase-plural", "phrase-order", "longer-word",
         "singular-of-dogs", "singular-of-puppies", "plural-of-puppy", "plural-of-box",
         "singular-of-boxes", "plural-ending-ss", "phrase-of-plurals", "composed-vs-decomposed",
         "decomposed-vs-composed", "rtl-mark", "zero-width-space", "full-width-term",
         "ligature", "accent-kept", "short-is", "short-bus"],
)  # fmt: skip
def test_exclusion_matches_whole_words_and_plurals(
    description: str, term: tuple[str, ...], left_out: bool
) -> None:
    assert excludes([description], [term]) is left_out


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, cached_loader: Callable) -> SearchEngine:
    root = tmp_path_factory.mktemp("query-language")
    settings = Settings(store_dir=root / "store", cache_dir=root / "cache", model="minilm")
    source = write_tsv(root / "rows.tsv", ROWS + SAMPLE_LINES[:200])
    run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
    return SearchEngine.open(settings, loader=cached_loader)


def texts(hit) -> list[str]:
    return [hit.description, *hit.other_descriptions]


def test_excluded_words_and_phrases_leave_their_gifs_out(engine: SearchEngine) -> None:
    plain = engine.search(SearchRequest("a dog plays with a ball", k=10))
    assert "https://x.test/dogs.gif" in {h.url for h in plain}
    hits = engine.search(SearchRequest("a dog plays with a ball -ball", k=10))
    assert len(hits) == 10 and hits.excluded >= 2
    assert not any(excludes(texts(h), [("ball",)]) for h in hits)
    assert {"https://x.test/dogs.gif", "https://x.test/balls.gif"}.isdisjoint(h.url for h in hits)
    phrase = engine.search(SearchRequest('a dog chases something red -"red balls"', k=10))
    urls = {h.url for h in phrase}
    assert "https://x.test/balls.gif" not in urls and "https://x.test/frisbee.gif" in urls


@pytest.mark.parametrize(
    ("query", "word"),
    [("a dog plays -dogs", "dog"), ("a puppy plays -puppies", "puppy"),
     ("a dog plays \u200f-dog", "dog"), ("a dog plays -\uff44\uff4f\uff47", "dog")],
    ids=["dogs-leaves-out-dog", "puppies-leaves-out-puppy", "rtl-mark", "full-width"],
)  # fmt: skip
def test_exclusion_gaps_are_closed_through_the_engine(
    engine: SearchEngine, query: str, word: str
) -> None:
    """The issue's reproduction: -dogs left 8 of 10 "dog" hits, -puppies 9 of 10."""
    plain = engine.search(SearchRequest(parse_query(query).text, k=10))
    assert any(word in words(" ".join(texts(h))) for h in plain)  # there was one to drop
    hits = engine.search(SearchRequest(query, k=10))
    assert len(hits) == 10 and hits.excluded >= 1
    assert not any(excludes(texts(h), [(word,)]) for h in hits)


def test_a_floor_holds_back_weaker_results_and_counts_them(engine: SearchEngine) -> None:
    hits = engine.search(SearchRequest("a dog runs on the beach", k=10))
    floor = (hits[0].score + hits[-1].score) / 2
    floored = engine.search(SearchRequest("a dog runs on the beach", k=10, min_score=floor))
    assert 0 < len(floored) < 10 and floored.held_back == 10 - len(floored)
    assert all(h.score >= floor for h in floored)
    assert [h.gif_id for h in floored] == [h.gif_id for h in hits][: len(floored)]


def test_pages_continue_each_other(engine: SearchEngine) -> None:
    whole = engine.search(SearchRequest("a person", k=20))
    first = engine.search(SearchRequest("a person", k=10))
    second = engine.search(SearchRequest("a person", k=10, offset=10))
    assert [h.gif_id for h in first + second] == [h.gif_id for h in whole]
    assert first.has_more and second.has_more
    excluded_pages = [
        engine.search(SearchRequest("a dog -ball", k=5, offset=offset)) for offset in (0, 5)
    ]
    ids = [h.gif_id for page in excluded_pages for h in page]
    assert len(ids) == len(set(ids)) == 10  # filtering doesn't shift pages


def test_text_like_a_stored_gif_leaves_that_gif_out(engine: SearchEngine) -> None:
    dogs = engine.search(SearchRequest("two dogs are playing with a ball", k=1))[0]
    hits = engine.search(SearchRequest("on the beach", k=5, like=dogs.gif_id))
    assert dogs.gif_id not in {h.gif_id for h in hits} and len(hits) == 5
    beach = next(h for h in engine.search(SearchRequest("a dog runs on the beach", k=3)))
    assert beach.gif_id in {h.gif_id for h in hits}  # the text still counts


def test_image_queries_on_a_text_only_collection_are_refused(engine: SearchEngine) -> None:
    with pytest.raises(ImagesUnsupportedError, match="can't embed images"):
        engine.search(SearchRequest("in the snow", k=5, image=Image.new("RGB", (8, 8))))


def png(data: bytes) -> Image.Image:
    buffer = io.BytesIO()
    open_image(data).convert("RGB").save(buffer, "PNG")
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, tiny_clip_dir: Path) -> SearchEngine:
    """Three GIFs with frames: 'both' matches the text and the image, 'text' only the text
    (same description, other frames), 'image' only the image (same frames, other text)."""
    root = tmp_path_factory.mktemp("combine")
    settings = tiny_clip_settings(root, tiny_clip_dir)
    routes = {
        "/both.gif": gif_route(SET_OF_GIFS["red-circle.gif"]),
        "/text.gif": gif_route(SET_OF_GIFS["blue-square.gif"]),
        "/image.gif": gif_route(SET_OF_GIFS["red-circle.gif"]),
        "/other.gif": gif_route(SET_OF_GIFS["green-triangle.gif"]),
    }
    with serve_handlers(routes) as (base, _):
        lines = [
            f"{base}/both.gif\ttwo dogs are playing with a ball\n",
            f"{base}/text.gif\ttwo dogs are playing with a ball\n",
            f"{base}/image.gif\ta woman is sleeping in the car\n",
            f"{base}/other.gif\ta cat is eating on the stage\n",
        ]
        source = write_tsv(root / "gifs.tsv", lines)
        run_ingest(IngestOptions(source=str(source), frames=True), settings)
    return SearchEngine.open(replace(settings, model="auto"), load_for_settings)


def test_text_with_an_image_ranks_the_gif_matching_both_first(clip: SearchEngine) -> None:
    image = png(SET_OF_GIFS["red-circle.gif"])
    hits = clip.search(SearchRequest("two dogs are playing with a ball", k=4, image=image))
    names = [Path(h.url).name for h in hits]
    assert names[0] == "both.gif"
    assert names.index("both.gif") < names.index("text.gif")
    assert names.index("both.gif") < names.index("image.gif")


def test_the_cli_combines_text_with_an_image(
    clip: SearchEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / "red.png"
    png(SET_OF_GIFS["red-circle.gif"]).save(picture)
    store = clip.store.settings
    where = ["--store", str(store.store_dir), "--collection", store.collection]
    argv = ["search", "two dogs are playing with a ball", "--image", str(picture), "-k", "3"]
    argv += [*where, "--json"]
    assert main(argv) == 0
    hits = json.loads(capsys.readouterr().out)
    assert Path(hits[0]["url"]).name == "both.gif"


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--min-score", "0.99"], "result(s) under --min-score 0.99 held back"),
        (["-k", "5"], ""),
    ],
    ids=["floor", "no-floor"],
)
def test_the_cli_says_what_it_held_back(
    engine: SearchEngine, capsys: pytest.CaptureFixture[str], flags: list[str], says: str
) -> None:
    store = engine.store.settings
    capsys.readouterr()
    argv = ["search", "a dog runs -ball", "--store", str(store.store_dir), *flags]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert says in err and "mentioning what the query leaves out dropped" in err
    assert "Traceback" not in err


def test_words_ignore_case_and_punctuation() -> None:
    assert words("Two DOGS, playing!") == ("two", "dogs", "playing")


def mark_dead(engine: SearchEngine, url: str) -> str:
    """Record, as the link checker does, that a GIF's link is dead; return its id."""
    from search_app.records import LinkState, LinkStatus

    store = engine.store
    gif = next(g for g in store.read_gif_links() if g.url == url)
    state = LinkState(LinkStatus.DEAD, 1_700_000_000, "http_error")
    store.write_link_states([(row_id, state) for row_id in gif.description_ids])
    return gif.gif_id


@pytest.fixture
def dead_engine(tmp_path: Path, cached_loader: Callable) -> SearchEngine:
    settings = Settings(store_dir=tmp_path / "store", cache_dir=tmp_path / "c", model="minilm")
    source = write_tsv(tmp_path / "rows.tsv", ROWS)
    run_ingest(IngestOptions(source=str(source)), settings, loader=cached_loader)
    return SearchEngine.open(settings, loader=cached_loader)


@pytest.mark.parametrize("warm", [False, True], ids=["first-query", "with-catalog"])
def test_gifs_known_dead_are_hidden_unless_asked_for(
    dead_engine: SearchEngine, tmp_path: Path, cached_loader: Callable, warm: bool
) -> None:
    dead_id = mark_dead(dead_engine, "https://x.test/dogs.gif")
    # a new description of the dead GIF carries no mark until the next check
    grown = write_tsv(tmp_path / "grown.tsv", ["https://x.test/dogs.gif\ttwo dogs play ball .\n"])
    run_ingest(IngestOptions(source=str(grown)), dead_engine.store.settings, loader=cached_loader)
    engine = SearchEngine.open(dead_engine.store.settings, loader=cached_loader)
    if warm:
        engine.stats()  # builds the catalog: GIFs' rows are then read by id
    hits = engine.search(SearchRequest("two dogs play ball", k=5))
    assert dead_id not in {h.gif_id for h in hits} and hits.hidden_dead == 1
    shown = engine.search(SearchRequest("two dogs play ball", k=5, include_dead=True))
    assert shown[0].gif_id == dead_id and shown[0].dead and shown.hidden_dead == 0
    assert not any(h.dead for h in shown[1:])
