"""The draft view: streamed write actions, citation links, and in-place streaming."""

from __future__ import annotations

from PySide6.QtCore import QUrl

from desktop.core.evidence import EvidenceRegistry, Passage
from desktop.core.outline import Outline
from desktop.core.report import build_report
from desktop.core.support import reference_numbers
from desktop.gui.draft import (
    DraftColors,
    DraftRenderer,
    DraftView,
    stream_preview,
)


def test_stream_preview_numbers_citations_and_hides_partial_ones():
    numbers = {"textid1": 1, "textid2": 2}
    text = "Fact \\cite{textid2, textid1}. New \\cite{textid9}. Partial \\cit"
    assert stream_preview(text, numbers) == "Fact [2, 1]. New [•]. Partial "


def report_and_registry():
    registry, _ = EvidenceRegistry().with_passages(
        [
            Passage("Heat pumps move heat.", "/docs/hp.pdf", 2),
            Passage("Boilers burn gas.", "/docs/b.pdf", 1),
        ]
    )
    outline = Outline.initial("Heating", [("Pumps", "p"), ("Boilers", "b")])
    outline = outline.with_content(
        "s1", "Pumps are **efficient** \\cite{textid2}.\n\nMore \\cite{textid1}."
    )
    report = build_report(
        outline,
        registry,
        question="Q?",
        created="2025-01-01",
        model="m",
        finished=False,
        language="en",
    )
    return report, registry


def test_renderer_links_citations_and_lists_references(qtbot):
    report, registry = report_and_registry()
    colors = DraftColors("#eeeeff", "#777777", "#0000ff")
    html = DraftRenderer().html(report, colors, cursor_id="s2", phase="search", plans={"s2": "b"})
    assert '<a href="cite:1">1</a>' in html and '<a href="cite:2">2</a>' in html
    assert "<strong>efficient</strong>" in html
    assert "References" in html and "b.pdf, p. 1" in html
    assert "Searching the documents" in html
    assert reference_numbers(report, registry) == {"textid2": 1, "textid1": 2}


def test_streaming_patches_only_the_cursor_section(qtbot):
    report, _ = report_and_registry()
    view = DraftView()
    qtbot.addWidget(view)
    view.show_report(report, cursor_id="s2", phase="write")
    assert "Writing…" in view.plain_text()
    document = view.browser.document()
    revision = document.revision()
    view.set_stream("Condensing boilers")
    view.set_stream("Condensing boilers reach 92%\nof efficiency [1].")
    assert view.streamed_text == "Condensing boilers reach 92%\nof efficiency [1]."
    assert "Pumps are efficient" in view.plain_text()  # the rest was not re-rendered
    assert document.revision() > revision
    view.show_report(report, cursor_id="s2", phase="write")  # a re-render keeps the stream
    assert view.streamed_text.startswith("Condensing boilers reach")
    clicked = []
    view.citationClicked.connect(clicked.append)
    view.browser.anchorClicked.emit(QUrl("cite:2"))
    assert clicked == [2]


def test_remote_images_in_a_report_are_never_fetched(qtbot, tmp_path):
    """A model can write Markdown that names a remote image; the draft must not load it."""
    import http.server
    import threading

    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        remote = f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
        local = tmp_path / "local.txt"
        local.write_text("local data")
        view = DraftView()
        qtbot.addWidget(view)
        view.show()
        html = DraftRenderer().body_html(f"Look: ![tracker]({remote}) and text.")
        assert remote in html  # Markdown made an <img>; the browser must refuse it
        view.browser.setHtml(html)
        qtbot.wait(300)
        assert view.browser.loadResource(2, QUrl(remote)) is None
        assert view.browser.loadResource(2, QUrl.fromLocalFile(str(local))) is not None
        assert hits == []
    finally:
        server.shutdown()
        server.server_close()
