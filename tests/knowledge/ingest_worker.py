"""A child process for the kill-and-resume test: ingest files, print each committed step.

Usage: python -m tests.knowledge.ingest_worker DATA_DIR BATCH_SIZE FILE...
Prints "ready" once the model is loaded, then "page P chunks C" after each committed page.
"""

from __future__ import annotations

import sys
from pathlib import Path

from desktop.knowledge.embedder import default_embedder
from desktop.knowledge.ingest import IngestProgress
from desktop.knowledge.library import Library


def main(argv: list[str]) -> int:
    data_dir, batch_size, *files = argv
    embedder = default_embedder()
    embedder.load()
    library = Library(Path(data_dir), embedder=embedder, batch_size=int(batch_size))
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    def report(progress: IngestProgress) -> None:
        sys.stdout.write(f"page {progress.page} chunks {progress.chunks}\n")
        sys.stdout.flush()

    library.add([Path(f) for f in files], progress=report)
    library.close()
    sys.stdout.write("finished\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
