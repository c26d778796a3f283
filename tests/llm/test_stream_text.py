"""The in-process backend's streamed text: whole characters only, stop strings cut cleanly."""

from desktop.llm.llamacpp import _StreamText


def test_a_character_split_across_tokens_is_never_garbled():
    text = _StreamText([])
    shown = [text.add(b"Tables "), text.add("表".encode()[:2]), text.add("表".encode()[2:] + b"!")]
    assert shown == ["Tables ", "", "表!"] and "\ufffd" not in text.value


def test_ascii_then_half_a_character_keeps_the_ascii_and_waits():
    text = _StreamText([])
    assert text.add(b"ab" + "中".encode()[:1]) == "ab"
    assert text.add("中".encode()[1:]) == "中"
    assert text.value == "ab中"


def test_a_stop_string_is_held_back_until_decided_and_cut():
    text = _StreamText(["<|im_end|>"])
    assert text.add(b"done <|im") == "done "
    assert text.add(b"_end|> tail") == "" and text.stopped and text.value == "done "


def test_broken_bytes_become_one_replacement_at_the_end():
    text = _StreamText([])
    text.add(b"x\xe4")
    assert text.flush() == "x\ufffd" or text.value.endswith("\ufffd")
