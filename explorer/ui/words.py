"""Messages in the app's words: the library's sentences name command-line flags and commands (they serve the
CLI too); inside the app they name the buttons and fields that do the same, and stay Markdown-safe."""
from __future__ import annotations

import re

# (pattern, replacement) in order: the CLI's words -> the app's
_APP_WORDS = [
    (re.compile(r"`python -m explorer download-cifar10[^`]*`( or tick 'download' in the app)?"),
     "the *Download CIFAR-10* button (Overview or Train page; needs internet)"),
    (re.compile(r"tick 'download'( in the app)?"), "press *Download CIFAR-10*"),
    (re.compile(r"\s*\(?[^()]*You can use download=True to download it\.?\)?"), ""),  # torchvision's advice
    (re.compile(r";? ?pass --data\.?"), "; choose its data set in the import panel (Train page)."),
    (re.compile(r"\s*\(--data\)"), " (the field *Data set to evaluate on*, import panel, Train page)"),
    (re.compile(r"`python -m explorer runs[^`]*` lists them"), "the Runs page lists them"),
]


def app_words(text: str) -> str:
    """``text`` with command-line advice replaced by the app's buttons and fields, Markdown-safe."""
    for pattern, repl in _APP_WORDS:
        text = pattern.sub(repl, text)
    return md_safe(text)


def md_safe(text: str) -> str:
    """``text`` shown as written by Streamlit's Markdown: outside `code` spans, * _ < are escaped (a path like
    train/<class>/*.jpg keeps its asterisks and its <class>); our own *emphasis* of button names is kept."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        p = parts[i].replace("\\", "\\\\").replace("<", "&lt;")
        p = re.sub(r"(?<![\w*])\*([A-Z][^*]{1,40})\*(?![\w*])", "\0\\1\0", p)  # *Download CIFAR-10*: emphasis, kept
        p = p.replace("*", "\\*").replace("_", "\\_").replace("\0", "*")
        parts[i] = p
    return "`".join(parts)
