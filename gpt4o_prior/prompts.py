"""Task prompts for GPT-image restoration, versioned: a prompt's text and version are part of the cache key.

Never edit the text of a published version: add a new version instead (the old priors stay valid under the old
key, and new requests get a new key). :func:`get_prompt` returns the latest version unless one is asked for.

Example:
    >>> p = get_prompt("dehaze")
    >>> p.id, p.version
    ('dehaze', 1)
    >>> sorted(list_prompts())
    ['dehaze', 'derain', 'lowlight', 'restore']
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Prompt", "PROMPTS", "get_prompt", "list_prompts"]


@dataclass(frozen=True)
class Prompt:
    """One version of a task prompt.

    Attributes:
        id: task name (``"dehaze"``, ``"derain"``, ``"lowlight"``, ``"restore"``).
        version: integer, starting at 1; a changed text is a new version.
        text: the prompt sent with the image.
    """

    id: str
    version: int
    text: str


_KEEP = ("Keep the exact same scene, framing, composition, viewpoint and image size. Do not add, remove, move or "
         "restyle any object, person, text or texture; do not crop or zoom. Output a photograph, not an illustration.")

#: task id -> its versions, oldest first. Append; never edit an existing entry.
PROMPTS: dict[str, tuple[Prompt, ...]] = {
    "dehaze": (
        Prompt("dehaze", 1, "Remove the haze and fog from this photograph so it looks as if taken on a clear day: "
                            "restore natural contrast, colour and distant detail. " + _KEEP),
    ),
    "derain": (
        Prompt("derain", 1, "Remove all rain streaks, raindrops and rain mist from this photograph, recovering the "
                            "background they cover. " + _KEEP),
    ),
    "lowlight": (
        Prompt("lowlight", 1, "Brighten this low-light photograph to a natural daylight exposure: lift the shadows, "
                              "correct the colour cast and suppress noise without over-smoothing. " + _KEEP),
    ),
    "restore": (
        Prompt("restore", 1, "Restore this degraded photograph: remove noise, blur, haze, rain, compression "
                             "artefacts and poor exposure, so that it looks like a clean, sharp, well-exposed "
                             "photograph of the same scene. " + _KEEP),
    ),
}


def list_prompts() -> list[str]:
    """Task ids that have a prompt."""
    return list(PROMPTS)


def get_prompt(task: str, version: int | None = None) -> Prompt:
    """Return the prompt of ``task``: the latest version, or the one asked for.

    Args:
        task: task id, one of :func:`list_prompts`.
        version: a version number, or None for the latest.

    Raises:
        KeyError: unknown task or version (the message lists what exists).

    Example:
        >>> get_prompt("derain", 1).version
        1
        >>> get_prompt("deblur")
        Traceback (most recent call last):
        ...
        KeyError: "no prompt for task 'deblur'; known tasks: dehaze, derain, lowlight, restore"
    """
    if task not in PROMPTS:
        raise KeyError(f"no prompt for task {task!r}; known tasks: {', '.join(PROMPTS)}")
    versions = PROMPTS[task]
    if version is None:
        return versions[-1]
    for p in versions:
        if p.version == version:
            return p
    raise KeyError(f"task {task!r} has no prompt version {version}; versions: "
                   f"{', '.join(str(p.version) for p in versions)}")
