"""Every citation lands on the right page: one unique fact per page, each found on its page."""

from __future__ import annotations

import pytest

from desktop.knowledge.embedder import Embedder
from desktop.knowledge.library import Library

from .knowledge_docs import FILLER, make_pdf

FACTS = [
    ("The harbour crane lifts containers of forty tonnes.", "harbour crane lifting capacity"),
    ("Saffron is harvested by hand from crocus flowers at dawn.", "how saffron is harvested"),
    ("The observatory dome rotates on twelve steel wheels.", "observatory dome wheels"),
    ("Beekeepers calm a hive with cool smoke from pine needles.", "calming bees with smoke"),
    ("The night train to the coast stops at Verlaine junction.", "where the night train stops"),
    (
        "Glassblowers reheat the piece in a furnace called the glory hole.",
        "glassblowing furnace name",
    ),
    ("The chess club meets on Thursdays in the library basement.", "when the chess club meets"),
    ("Avalanche dogs can smell a person under four metres of snow.", "avalanche rescue dogs"),
    ("The bakery's sourdough starter is ninety years old.", "age of the sourdough starter"),
    ("Tidal turbines spin slowly to protect passing seals.", "tidal turbines and seals"),
    ("The violin maker seasons spruce for ten years before carving.", "seasoning wood for violins"),
    ("Lichens on the north wall grow one millimetre a year.", "lichen growth rate"),
    ("The ferry's foghorn sounds a low B flat.", "pitch of the foghorn"),
    ("Monks in the valley brew a bitter herbal liqueur.", "liqueur brewed by monks"),
    ("The satellite's solar panels unfold like a paper fan.", "satellite solar panel deployment"),
    ("Rice terraces are flooded before the planting season.", "flooding the rice terraces"),
    ("The museum's oldest clock loses a minute every week.", "inaccurate old clock"),
    ("Desert tortoises store water in their bladders.", "how tortoises store water"),
    ("The bridge expands thirty centimetres on hot afternoons.", "bridge thermal expansion"),
    ("Cartographers mark swamps with small blue tufts.", "map symbol for swamps"),
    ("The choir rehearses the requiem in the cold crypt.", "where the choir rehearses"),
    ("Copper roofs turn green as they oxidise over decades.", "why copper roofs turn green"),
    ("The marathon route climbs past the old windmill.", "marathon route windmill"),
    ("Falconers feed the birds quail before a hunt.", "what falcons are fed"),
    ("The lighthouse lens was ground in Paris in 1870.", "origin of the lighthouse lens"),
    ("Potters fire stoneware at about 1280 degrees.", "stoneware firing temperature"),
    ("The archive keeps its maps in nitrogen-filled drawers.", "how maps are preserved"),
    ("Salmon return upstream to the river where they hatched.", "salmon migration"),
    ("The tram depot repaints one carriage every winter.", "tram carriage repainting"),
    ("Sherpas acclimatise at base camp for two weeks.", "acclimatisation at base camp"),
]


@pytest.fixture(scope="module")
def paged_library(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Library:
    root = tmp_path_factory.mktemp("pages")
    pages = [f"{FILLER * 4}\n\n{fact}\n\n{FILLER * 4}" for fact, _ in FACTS]
    pdf = make_pdf(root / "facts.pdf", pages)
    library = Library(root / "data", embedder=embedder)
    (status,) = library.add([pdf])
    assert status.status == "indexed" and status.pages == len(FACTS)
    assert status.chunks > len(FACTS)  # several chunks per page
    return library


@pytest.mark.parametrize("hybrid", [True, False], ids=["hybrid", "vector"])
def test_each_fact_is_found_on_its_own_page(paged_library: Library, hybrid: bool) -> None:
    retriever = paged_library.retriever(hybrid=hybrid)
    wrong = []
    for page, (fact, question) in enumerate(FACTS, start=1):
        top = retriever.search(question, 1)[0]
        if top.page != page or fact not in top.text:
            wrong.append((question, page, top.page))
    assert wrong == []


def test_a_fact_quoted_exactly_lands_on_its_page(paged_library: Library) -> None:
    retriever = paged_library.retriever()
    for page, (fact, _question) in enumerate(FACTS, start=1):
        assert retriever.search(fact, 1)[0].page == page
